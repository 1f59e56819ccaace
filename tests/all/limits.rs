//! Every sandbox limit, proven with a malicious guest; after each hit the
//! same plugin answers a good call.

use std::time::{Duration, Instant};

use warden::{Error, ErrorKind, Hook};
use warden_fixtures::MALICIOUS;

use crate::common::{assert_still_serves, handle_err, load};

#[test]
fn infinite_loop_is_stopped_at_the_deadline() {
    let (_dir, plugin) = load(MALICIOUS, "[limits]\ntimeout = \"200ms\"");
    let start = Instant::now();
    let err = handle_err(&plugin, "loop", b"");
    let elapsed = start.elapsed();
    match &err {
        Error::Timeout { plugin, hook, timeout, by_caller: false } => {
            assert_eq!(plugin, "test-plugin");
            assert_eq!(*hook, Hook::Handle);
            assert_eq!(*timeout, Duration::from_millis(200));
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(err.to_string().contains("exceeded its 200 ms timeout"), "{err}");
    // Stopped no earlier than the timeout, and within it plus a tick (5 ms)
    // and generous scheduling slack for a loaded 2-core machine.
    assert!(elapsed >= Duration::from_millis(200), "stopped early: {elapsed:?}");
    assert!(elapsed < Duration::from_millis(200 + 5 + 800), "stopped late: {elapsed:?}");
    assert_still_serves(&plugin);
}

#[test]
fn fuel_runs_out() {
    let (_dir, plugin) = load(MALICIOUS, "[limits]\nfuel = 5000000\ntimeout = \"10s\"");
    let err = handle_err(&plugin, "loop", b"");
    assert!(matches!(err, Error::OutOfFuel { fuel: 5_000_000, .. }), "{err:?}");
    assert_still_serves(&plugin);
    // Fuel is refilled every call: a good call after many good calls works.
    for _ in 0..50 {
        assert_still_serves(&plugin);
    }
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    let (_dir, plugin) = load(MALICIOUS, "[limits]\nmemory = \"32 MiB\"");
    let err = handle_err(&plugin, "memory-bomb", b"");
    assert!(matches!(err, Error::MemoryLimit { limit, .. } if limit == 32 << 20), "{err:?}");
    assert!(err.to_string().contains("memory limit"), "{err}");
    assert_still_serves(&plugin);
}

#[test]
fn stack_overflow_is_a_typed_error() {
    let (_dir, plugin) = load(MALICIOUS, "");
    let err = handle_err(&plugin, "stack-overflow", b"");
    assert_eq!(err.kind(), ErrorKind::StackOverflow, "{err:?}");
    assert_still_serves(&plugin);
    // A Rust guest's shadow stack lives in linear memory: overflowing it is
    // an out-of-bounds trap, reported with a hint.
    let err = handle_err(&plugin, "shadow-stack-overflow", b"");
    assert!(matches!(&err, Error::Trap { message, .. } if message.contains("stack overflow")), "{err:?}");
    assert_still_serves(&plugin);
}

#[test]
fn panic_message_is_surfaced() {
    let (_dir, plugin) = load(MALICIOUS, "");
    let err = handle_err(&plugin, "panic", b"boo");
    match &err {
        Error::Trap { message, .. } => assert!(message.contains("malicious panic: boo"), "{message}"),
        other => panic!("expected Trap, got {other:?}"),
    }
    assert_still_serves(&plugin);
}

#[test]
fn oversized_output_is_refused() {
    let (_dir, plugin) = load(MALICIOUS, "[limits]\nmax-output = \"1 MiB\"");
    let err = handle_err(&plugin, "big-output", b"2000000");
    assert!(matches!(err, Error::OutputTooLarge { size: 2_000_000, limit, .. } if limit == 1 << 20), "{err:?}");
    assert_eq!(plugin.handle("big-output", b"1000").unwrap().len(), 1000);
    assert_still_serves(&plugin);
}

#[test]
fn a_trapping_plugin_does_not_disturb_another() {
    let (_d1, bad) = load(MALICIOUS, "[limits]\ntimeout = \"100ms\"");
    let (_d2, good) = load(MALICIOUS, "");
    let worker = std::thread::spawn({
        let good = good.clone();
        move || (0..200).all(|_| good.handle("ping", b"").unwrap() == b"pong")
    });
    for action in ["panic", "loop", "stack-overflow"] {
        assert!(bad.handle(action, b"x").is_err());
    }
    assert!(worker.join().unwrap());
    assert_still_serves(&bad);
}

#[test]
fn concurrent_calls_stay_within_max_instances() {
    let (_dir, plugin) = load(MALICIOUS, "[limits]\nmax-instances = 2\ntimeout = \"5s\"");
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let p = plugin.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    assert_eq!(p.handle("ping", b"").unwrap(), b"pong");
                    assert!(p.live_instances() <= 2);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(plugin.live_instances() <= 2);
}

#[test]
fn sleeping_in_a_host_call_is_stopped_at_the_deadline() {
    // Epoch checks only run in wasm code; a plugin blocked in WASI's poll
    // (here `std::thread::sleep`) must still be stopped at its deadline.
    let (_dir, plugin) = load(MALICIOUS, "[limits]\ntimeout = \"200ms\"");
    assert_eq!(plugin.handle("sleep", b"10").unwrap(), b"slept", "a short sleep within the deadline works");
    let start = Instant::now();
    let err = handle_err(&plugin, "sleep", b"60000");
    let elapsed = start.elapsed();
    assert!(matches!(err, Error::Timeout { hook: Hook::Handle, .. }), "{err:?}");
    assert!(elapsed >= Duration::from_millis(200), "stopped early: {elapsed:?}");
    assert!(elapsed < Duration::from_millis(200 + 800), "stopped late: {elapsed:?}");
    assert_still_serves(&plugin);
}

#[test]
fn busy_when_every_instance_stays_in_use() {
    let (_dir, plugin) = load(MALICIOUS, "[limits]\nmax-instances = 1\nmax-wait = \"50ms\"\ntimeout = \"10s\"");
    let (started, wait_started) = std::sync::mpsc::channel();
    let holder = {
        let p = plugin.clone();
        std::thread::spawn(move || {
            started.send(()).unwrap();
            p.handle("sleep", b"3000")
        })
    };
    wait_started.recv().unwrap();
    // Give the holder time to check the only instance out; it keeps it for 3 s.
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    let err = handle_err(&plugin, "ping", b"");
    match &err {
        Error::Busy { plugin, max_instances, waited } => {
            assert_eq!(plugin, "test-plugin");
            assert_eq!(*max_instances, 1);
            assert!(*waited >= Duration::from_millis(50), "{waited:?}");
        }
        other => panic!("expected Busy, got {other:?}"),
    }
    assert_eq!(err.kind(), ErrorKind::Busy);
    assert!(start.elapsed() < Duration::from_millis(50 + 800), "waited too long: {:?}", start.elapsed());
    assert!(err.to_string().contains("max-wait"), "{err}");
    // The holder's call is unaffected, and afterwards the instance is free.
    assert_eq!(holder.join().unwrap().unwrap(), b"slept");
    assert_still_serves(&plugin);
    assert_eq!(plugin.live_instances(), 1);
}
