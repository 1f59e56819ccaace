//! The message bus: publish permissions, subscriptions, order, drop-oldest
//! for slow subscribers, failing subscribers isolated.

use std::path::Path;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use warden::{Error, ErrorKind, PluginManager};
use warden_fixtures::ECHO;

use crate::common::runtime;

fn add(dir: &Path, name: &str, permissions: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(&path).unwrap();
    std::fs::copy(ECHO, path.join("plugin.wasm")).unwrap();
    let text = format!(
        "[plugin]\nname = \"{name}\"\nversion = \"1.0.0\"\ncomponent = \"plugin.wasm\"\n[limits]\nmax-instances = 1\n[permissions]\n{permissions}\n"
    );
    std::fs::write(path.join("plugin.toml"), text).unwrap();
}

fn messages(m: &PluginManager, name: &str) -> Vec<String> {
    let out = m.handle(name, "messages", b"").unwrap();
    String::from_utf8(out).unwrap().lines().map(str::to_owned).collect()
}

/// Polls until `name` has received `n` messages (up to 20 s).
fn wait_for(m: &PluginManager, name: &str, n: usize) -> Vec<String> {
    let start = Instant::now();
    loop {
        let got = messages(m, name);
        if got.len() >= n {
            return got;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{name} got {} of {n} messages", got.len());
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn publish(m: &PluginManager, publisher: &str, topic: &str, payload: &str) -> Result<Vec<u8>, Error> {
    m.handle(publisher, "publish", format!("{topic} {payload}").as_bytes())
}

#[test]
fn subscribers_receive_their_topics_in_order() {
    let dir = TempDir::new().unwrap();
    add(dir.path(), "shop", "publish = [\"orders.*\"]");
    add(dir.path(), "all-orders", "subscribe = [\"orders.*\"]");
    add(dir.path(), "created-only", "subscribe = [\"orders.created\"]");
    add(dir.path(), "unrelated", "subscribe = [\"billing\"]");
    let m = PluginManager::new(runtime().clone());
    assert_eq!(m.load_dir(dir.path()).unwrap().failed.len(), 0);

    for i in 0..100 {
        let topic = if i % 2 == 0 { "orders.created" } else { "orders.eu.paid" };
        publish(&m, "shop", topic, &i.to_string()).unwrap();
    }
    let all = wait_for(&m, "all-orders", 100);
    let expected: Vec<String> =
        (0..100).map(|i| format!("{} {i}", if i % 2 == 0 { "orders.created" } else { "orders.eu.paid" })).collect();
    assert_eq!(all, expected, "every message, in publish order");
    let created = wait_for(&m, "created-only", 50);
    assert_eq!(created, expected.iter().step_by(2).cloned().collect::<Vec<_>>());
    assert!(messages(&m, "unrelated").is_empty());

    // The host can publish too.
    assert_eq!(m.publish("billing", b"host").unwrap(), 1);
    assert_eq!(wait_for(&m, "unrelated", 1), ["billing host"]);
    assert!(m.publish("Bad Topic", b"").is_err());
}

#[test]
fn publishing_needs_a_matching_permission() {
    let dir = TempDir::new().unwrap();
    add(dir.path(), "shop", "publish = [\"orders.created\"]");
    add(dir.path(), "quiet", "");
    add(dir.path(), "listener", "subscribe = [\"*\"]");
    let m = PluginManager::new(runtime().clone());
    m.load_dir(dir.path()).unwrap();
    for (publisher, topic, code) in [
        ("shop", "orders.paid", "capability-denied"),
        ("quiet", "orders.created", "capability-denied"),
        ("shop", "Orders", "invalid-topic"),
    ] {
        let err = publish(&m, publisher, topic, "x").unwrap_err();
        assert!(matches!(&err, Error::Plugin { code: c, .. } if c == code), "{publisher} {topic}: {err:?}");
    }
    let err = publish(&m, "quiet", "orders.created", "x").unwrap_err();
    assert!(err.to_string().contains("add a matching pattern to [permissions] publish"), "{err}");
    publish(&m, "shop", "orders.created", "ok").unwrap();
    assert_eq!(wait_for(&m, "listener", 1), ["orders.created ok"]);
}

#[test]
fn a_slow_subscriber_drops_its_oldest_and_delays_nobody() {
    let dir = TempDir::new().unwrap();
    add(dir.path(), "shop", "publish = [\"jobs\"]");
    add(dir.path(), "slow", "subscribe = [\"jobs\"]\n[config]\nslow = \"true\"");
    add(dir.path(), "fast", "subscribe = [\"jobs\"]");
    let m = PluginManager::builder(runtime().clone()).message_queue(5).build().unwrap();
    m.load_dir(dir.path()).unwrap();
    for i in 0..200 {
        publish(&m, "shop", "jobs", &i.to_string()).unwrap();
    }
    // `slow` takes 20 ms per message: when all 200 publishes have returned
    // it has handled only a few. Publishing never waits for subscribers.
    assert!(messages(&m, "slow").len() < 50, "publishers were held up by the slow subscriber");
    let numbers = |name: &str| -> Vec<u32> {
        messages(&m, name).iter().map(|l| l.strip_prefix("jobs ").unwrap().parse().unwrap()).collect()
    };
    for name in ["slow", "fast"] {
        // Everything kept arrives, in order, the newest last; the rest is
        // counted as dropped.
        let start = Instant::now();
        while numbers(name).last() != Some(&199) {
            assert!(start.elapsed() < Duration::from_secs(20), "{name} never got the last message");
            std::thread::sleep(Duration::from_millis(10));
        }
        let got = numbers(name);
        assert!(got.windows(2).all(|w| w[0] < w[1]), "{name} out of order: {got:?}");
        let dropped = m.info(name).unwrap().stats.messages_dropped;
        assert_eq!(got.len() as u64 + dropped, 200, "{name}: every message delivered or counted as dropped");
    }
    assert!(m.info("slow").unwrap().stats.messages_dropped > 100, "the full mailbox dropped its oldest");
}

/// A publisher may publish up to its own `max-output` per message, but what
/// waits in a subscriber's mailbox is bounded in bytes by the host.
#[test]
fn mailboxes_are_bounded_in_bytes_by_the_host() {
    let dir = TempDir::new().unwrap();
    add(dir.path(), "shop", "publish = [\"jobs\"]");
    add(dir.path(), "slow", "subscribe = [\"jobs\"]\n[config]\nslow = \"true\"");
    let m = PluginManager::builder(runtime().clone()).message_queue_bytes(1 << 20).build().unwrap();
    m.load_dir(dir.path()).unwrap();
    let payload = "x".repeat(256 << 10);
    let queued = || {
        let info = m.info("slow").unwrap();
        assert!(info.queued_message_bytes <= 1 << 20, "{} bytes queued", info.queued_message_bytes);
        info.queued_messages
    };
    // Plugins publishing 256 KiB messages, and a burst from the host.
    for _ in 0..10 {
        publish(&m, "shop", "jobs", &payload).unwrap();
        assert!(queued() <= 3, "at most three such messages fit in 1 MiB");
    }
    for _ in 0..40 {
        m.publish("jobs", payload.as_bytes()).unwrap();
        assert!(queued() <= 3);
    }
    assert!(m.info("slow").unwrap().stats.messages_dropped >= 30, "the oldest were dropped to stay in bounds");

    // A message that could never fit is refused to the publisher.
    let err = publish(&m, "shop", "jobs", &"x".repeat(2 << 20)).unwrap_err();
    assert!(matches!(&err, Error::Plugin { code, .. } if code == "output-too-large"), "{err:?}");
    assert!(err.to_string().contains("bigger than a subscriber's queue (1048576 bytes"), "{err}");
    assert!(m.publish("jobs", &vec![0; 2 << 20]).is_err(), "the host too");
}

#[test]
fn failing_subscribers_do_not_affect_others() {
    let dir = TempDir::new().unwrap();
    add(dir.path(), "shop", "publish = [\"t\"]");
    add(dir.path(), "a-fails", "subscribe = [\"t\"]\n[config]\nflaky = \"true\"");
    add(dir.path(), "b-ok", "subscribe = [\"t\"]");
    let m = PluginManager::new(runtime().clone());
    m.load_dir(dir.path()).unwrap();
    for payload in ["1", "fail", "panic", "2"] {
        publish(&m, "shop", "t", payload).unwrap();
    }
    assert_eq!(wait_for(&m, "b-ok", 4), ["t 1", "t fail", "t panic", "t 2"]);
    let start = Instant::now();
    while m.info("a-fails").unwrap().stats.errors_total < 2 || messages(&m, "a-fails") != ["t 2"] {
        assert!(start.elapsed() < Duration::from_secs(20), "{:?}", m.info("a-fails").unwrap().stats);
        std::thread::sleep(Duration::from_millis(10));
    }
    // The panic discarded the instance (and the "t 1" it had recorded); the
    // next message went to a fresh one.
    let stats = m.info("a-fails").unwrap().stats;
    assert_eq!(stats.errors, [(ErrorKind::Trap, 1), (ErrorKind::Plugin, 1)]);
}

#[test]
fn subscribing_without_the_export_is_refused() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("p");
    std::fs::create_dir(&path).unwrap();
    std::fs::copy(warden_fixtures::MALICIOUS, path.join("plugin.wasm")).unwrap();
    std::fs::write(
        path.join("plugin.toml"),
        "[plugin]\nname = \"p\"\nversion = \"1.0.0\"\ncomponent = \"plugin.wasm\"\n[permissions]\nsubscribe = [\"t\"]\n",
    )
    .unwrap();
    let err = runtime().load(&path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(err.to_string().contains("does not export warden:plugin/subscriber"), "{err}");
}
