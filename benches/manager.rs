//! Plugin manager benchmarks, each against the core's direct call measured
//! in the same run:
//!
//! - `manager-1k/{direct,manager}-{1,2}t`: the 1 KB `on-request` hook
//!   called directly on a `Plugin` vs by name through a `PluginManager`, on
//!   one thread and on two threads at once. Time per call; calls per
//!   second is its inverse (two threads: total calls over wall time).
//! - `reload-latency`: per-call latency quantiles (from the manager's own
//!   stats) in steady state vs while the plugin is reloaded continuously,
//!   printed after the criterion output.
//!
//! Run: `env -u RUST_BACKTRACE cargo bench -p warden-cli --bench manager`.

#![allow(missing_docs, reason = "criterion_group! generates undocumented functions")]

#[path = "support.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tempfile::TempDir;
use warden::{Body, CallContext, Plugin, PluginManager, Request, RequestAction, Runtime};
use warden_fixtures::ECHO;

fn plugin_dir(dir: &std::path::Path) {
    let folder = dir.join("echo");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(ECHO, folder.join("echo.wasm")).unwrap();
    std::fs::write(
        folder.join("plugin.toml"),
        "[plugin]\nname = \"echo\"\nversion = \"0.1.0\"\ncomponent = \"echo.wasm\"\n[limits]\nmax-instances = 4\n",
    )
    .unwrap();
}

fn request_1k() -> Request {
    let mut body = br#"{"user_id":"u-123","items":["#.to_vec();
    while body.len() < 1000 {
        body.extend_from_slice(br#""abcdefghij","#);
    }
    body.extend_from_slice(br#""end"]}"#);
    let mut req = Request::new(http::Method::POST, "/bench".parse().unwrap());
    req.headers = support::headers(2);
    req.body = Body::from(body);
    req
}

fn check(action: RequestAction) {
    assert!(matches!(action, RequestAction::Continue));
}

fn throughput(c: &mut Criterion) {
    let dir = TempDir::new().unwrap();
    plugin_dir(dir.path());
    let runtime = Runtime::new().unwrap();
    let manager = PluginManager::new(runtime.clone());
    manager.load_dir(dir.path()).unwrap();
    let direct: Plugin = runtime.load(dir.path().join("echo")).unwrap();
    let mut g = c.benchmark_group("manager-1k");
    // Two-thread runs are noisy on small machines; measure longer.
    g.measurement_time(Duration::from_secs(15));
    for threads in [1, 2] {
        g.bench_function(format!("direct-{threads}t"), |b| {
            b.iter_custom(|iters| {
                support::parallel_with(
                    threads,
                    iters,
                    || (CallContext::new("bench"), request_1k()),
                    |(ctx, req)| check(direct.on_request(ctx, req).unwrap()),
                )
            })
        });
        g.bench_function(format!("manager-{threads}t"), |b| {
            b.iter_custom(|iters| {
                support::parallel_with(
                    threads,
                    iters,
                    || (CallContext::new("bench"), request_1k()),
                    |(ctx, req)| check(manager.call("echo", |p| p.on_request(ctx, req)).unwrap()),
                )
            })
        });
    }
    g.finish();
}

/// Latency quantiles of `calls` calls on two threads, with or without a
/// thread reloading the plugin as fast as it can meanwhile.
fn latency(reloading: bool, calls: u64) -> (warden::Latency, u64) {
    let dir = TempDir::new().unwrap();
    plugin_dir(dir.path());
    let cache = TempDir::new().unwrap();
    let runtime = Runtime::builder().cache_dir(cache.path()).build().unwrap();
    let manager = PluginManager::new(runtime);
    manager.load_dir(dir.path()).unwrap();
    let ctx = CallContext::new("bench");
    let stop = Arc::new(AtomicBool::new(false));
    let reloader = reloading.then(|| {
        let (m, stop) = (manager.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                m.reload("echo").unwrap();
                n += 1;
            }
            n
        })
    });
    support::parallel_with(2, calls, request_1k, |req| {
        check(manager.call("echo", |p| p.on_request(&ctx, req)).unwrap())
    });
    stop.store(true, Ordering::Relaxed);
    let reloads = reloader.map_or(0, |r| r.join().unwrap());
    (manager.info("echo").unwrap().stats.latency, reloads)
}

fn reload_latency(_: &mut Criterion) {
    // `cargo test --benches` (CI) only checks that this runs: keep it short.
    let calls = if std::env::args().any(|a| a == "--bench") { 200_000 } else { 2_000 };
    latency(false, calls / 10); // warm-up
    let (steady, _) = latency(false, calls);
    let (storm, reloads) = latency(true, calls);
    println!("reload-latency ({calls} calls on 2 threads; quantiles at ~12% resolution)");
    println!("  steady state:     p50 {:>9.2?}  p99 {:>9.2?}  max {:>9.2?}", steady.p50, steady.p99, steady.max);
    println!(
        "  during reloads:   p50 {:>9.2?}  p99 {:>9.2?}  max {:>9.2?}  ({reloads} reloads)",
        storm.p50, storm.p99, storm.max
    );
    println!("  p99 ratio (reloading / steady): {:.2}", storm.p99.as_secs_f64() / steady.p99.as_secs_f64());
}

criterion_group!(benches, throughput, reload_latency);
criterion_main!(benches);
