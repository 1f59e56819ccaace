//! Warden benchmarks, each with a baseline measured in the same run:
//!
//! - `load`: compile vs load from the compile cache (both include the eager
//!   instantiate + `init` that `Runtime::load` does).
//! - `instantiate`: raw wasmtime `InstancePre::instantiate`; the work of a
//!   fresh-policy call done in raw wasmtime (store, WASI context, instance,
//!   `init`, call); and a Warden call on a `fresh`-policy plugin.
//! - `on-request-1k`: the same check on a 1 KB JSON body (a header read,
//!   the body read and scanned) in native Rust, as a raw wasmtime
//!   `bindgen!` call of the same guest (`raw.rs`; without and with epoch
//!   interruption and fuel), and through Warden (with and without fuel
//!   metering).
//! - `noop-stage`: a stage that reads one header and continues, on a
//!   request with 1, 16 and 64 header fields, through Warden and the raw
//!   sandboxed host: what a stage costs as requests grow.
//!
//! Run: `env -u RUST_BACKTRACE cargo bench -p warden-cli --bench plugin`.

#![allow(missing_docs, reason = "criterion_group! generates undocumented functions")]

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use tempfile::TempDir;
use warden::{Body, CallContext, Request, RequestAction, Runtime};
use warden_fixtures::{ECHO, bench_check};

#[path = "raw.rs"]
mod raw;
#[path = "support.rs"]
mod support;

fn plugin_dir(extra: &str) -> TempDir {
    let dir = TempDir::new().unwrap();
    std::fs::copy(ECHO, dir.path().join("echo.wasm")).unwrap();
    std::fs::write(
        dir.path().join("plugin.toml"),
        format!("[plugin]\nname = \"echo\"\nversion = \"0.1.0\"\ncomponent = \"echo.wasm\"\n{extra}"),
    )
    .unwrap();
    dir
}

fn body_1k() -> Vec<u8> {
    let mut body = br#"{"user_id":"u-123","items":["#.to_vec();
    while body.len() < 1000 {
        body.extend_from_slice(br#""abcdefghij","#);
    }
    body.extend_from_slice(br#""end"]}"#);
    body
}

fn request(uri: &str, headers: http::HeaderMap, body: Bytes) -> Request {
    let mut req = Request::new(http::Method::POST, uri.parse().unwrap());
    req.headers = headers;
    req.body = Body::from(body);
    req
}

fn raw_request(uri: &str, headers: http::HeaderMap, body: Bytes) -> raw::RawRequest {
    raw::RawRequest { method: http::Method::POST, uri: uri.parse().unwrap(), headers, body }
}

fn load(c: &mut Criterion) {
    let dir = plugin_dir("");
    let cache = TempDir::new().unwrap();
    let uncached = Runtime::builder().build().unwrap();
    let cached = Runtime::builder().cache_dir(cache.path()).build().unwrap();
    cached.load(dir.path()).unwrap();
    let mut g = c.benchmark_group("load");
    g.sample_size(20).measurement_time(Duration::from_secs(8));
    g.bench_function("compile", |b| b.iter(|| uncached.load(dir.path()).unwrap()));
    g.bench_function("cached", |b| {
        b.iter(|| {
            let p = cached.load(dir.path()).unwrap();
            assert!(p.from_cache());
            p
        })
    });
    g.finish();
}

fn instantiate(c: &mut Criterion) {
    let mut g = c.benchmark_group("instantiate");
    let pre = raw::pre(&raw::engine(false, false), ECHO);
    g.bench_function("raw-wasmtime", |b| {
        b.iter(|| {
            let mut store = wasmtime::Store::new(pre.engine(), raw::RawState::new(Vec::new()));
            pre.instantiate(&mut store).unwrap()
        })
    });
    // What a fresh-policy call has to do, in raw wasmtime: store, WASI
    // context, instance, `init`, one `on-request` call.
    let pre = raw::pre(&raw::engine(true, true), ECHO);
    g.bench_function("raw-wasmtime-fresh-call", |b| {
        b.iter(|| {
            let mut filter = raw::RawFilter::new(&pre, Vec::new(), true, true);
            filter.store.data_mut().request = raw_request("/x", http::HeaderMap::new(), Bytes::new());
            filter.on_request().unwrap()
        })
    });
    let dir = plugin_dir("instance-policy = \"fresh\"");
    let runtime = Runtime::new().unwrap();
    let plugin = runtime.load(dir.path()).unwrap();
    let ctx = CallContext::new("bench");
    let mut req = request("/x", http::HeaderMap::new(), Bytes::new());
    g.bench_function("warden-fresh-call", |b| b.iter(|| plugin.on_request(&ctx, &mut req).unwrap()));
    g.finish();
}

/// A raw host's filter and a Warden plugin of the echo guest, calling
/// `on-request` on `uri` with `headers` and `body`, each checked once.
fn stage(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    label: &str,
    uri: &str,
    headers: &http::HeaderMap,
    body: &Bytes,
) {
    // `raw-wasmtime`: no way to stop the guest. `raw-wasmtime-sandboxed`:
    // epoch deadline and fuel reset before every call, as in Warden.
    for (name, sandboxed) in [("raw-wasmtime", false), ("raw-wasmtime-sandboxed", true)] {
        let pre = raw::pre(&raw::engine(sandboxed, true), ECHO);
        let mut filter = raw::RawFilter::new(&pre, Vec::new(), sandboxed, true);
        filter.store.data_mut().request = raw_request(uri, headers.clone(), body.clone());
        g.bench_function(format!("{label}raw-wasmtime{}", &name["raw-wasmtime".len()..]), |b| {
            b.iter(|| assert!(matches!(filter.on_request().unwrap(), raw::RequestAction::Continue)))
        });
    }
    let ctx = CallContext::new("bench");
    for (name, fuel) in [("warden", true), ("warden-no-fuel", false)] {
        let runtime = Runtime::builder().fuel(fuel).build().unwrap();
        let dir = plugin_dir("");
        let plugin = runtime.load(dir.path()).unwrap();
        let mut req = request(uri, headers.clone(), body.clone());
        g.bench_function(format!("{label}{name}"), |b| {
            b.iter(|| assert!(matches!(plugin.on_request(&ctx, &mut req).unwrap(), RequestAction::Continue)))
        });
    }
}

fn on_request(c: &mut Criterion) {
    let body = Bytes::from(body_1k());
    let headers = support::headers(2);
    let mut g = c.benchmark_group("on-request-1k");
    g.bench_function("native", |b| {
        b.iter(|| black_box(&headers).contains_key("content-type") && bench_check(black_box(&body)))
    });
    stage(&mut g, "", "/bench", &headers, &body);
    g.finish();
}

fn noop_stage(c: &mut Criterion) {
    let mut g = c.benchmark_group("noop-stage");
    for n in [1, 16, 64] {
        stage(&mut g, &format!("{n}-headers/"), "/noop", &support::headers(n), &Bytes::new());
    }
    g.finish();
}

criterion_group!(benches, load, instantiate, on_request, noop_stage);
criterion_main!(benches);
