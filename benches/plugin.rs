//! Warden benchmarks, each with a baseline measured in the same run:
//!
//! - `load`: compile vs load from the compile cache (both include the eager
//!   instantiate + `init` that `Runtime::load` does).
//! - `instantiate`: raw wasmtime `InstancePre::instantiate`; the work of a
//!   fresh-policy call done in raw wasmtime (store, WASI context, instance,
//!   `init`, call); and a Warden call on a `fresh`-policy plugin.
//! - `on-request-1k`: the same check on a 1 KB JSON body in native Rust, as
//!   a raw wasmtime `bindgen!` call of the same guest (without and with
//!   epoch interruption and fuel), and through Warden (with and without
//!   fuel metering).
//!
//! Run: `env -u RUST_BACKTRACE cargo bench -p warden-cli --bench plugin`.

#![allow(missing_docs, reason = "criterion_group! generates undocumented functions")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tempfile::TempDir;
use warden::{CallContext, HttpRequest, RequestAction, Runtime};
use warden_fixtures::{ECHO, bench_check};

mod raw {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "plugin",
    });
}

use raw::exports::warden::plugin::{handler, http_filter, lifecycle};
use raw::warden::plugin::{config, keyvalue, log, messaging, outbound_http, plugins, types};

/// Host state for the raw-wasmtime baseline: the minimum the guest needs.
struct RawState {
    wasi: wasmtime_wasi::WasiCtx,
    table: wasmtime::component::ResourceTable,
}

impl wasmtime_wasi::WasiView for RawState {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl types::Host for RawState {}

impl log::Host for RawState {
    fn log(&mut self, _: log::Level, _: String) {}
}

impl config::Host for RawState {
    fn get(&mut self, _: String) -> Option<String> {
        None
    }

    fn get_all(&mut self) -> Vec<(String, String)> {
        Vec::new()
    }
}

impl plugins::Host for RawState {
    fn call(&mut self, _: String, _: String, _: Vec<u8>) -> Result<Vec<u8>, types::PluginError> {
        Err(types::PluginError { code: "unavailable".into(), message: "not in the baseline".into() })
    }
}

impl messaging::Host for RawState {
    fn publish(&mut self, _: String, _: Vec<u8>) -> Result<(), types::PluginError> {
        Ok(())
    }
}

fn not_in_baseline<T>() -> Result<T, types::PluginError> {
    Err(types::PluginError { code: "unavailable".into(), message: "not in the baseline".into() })
}

impl outbound_http::Host for RawState {
    fn fetch(&mut self, _: outbound_http::OutgoingRequest) -> Result<types::HttpResponse, types::PluginError> {
        not_in_baseline()
    }
}

impl keyvalue::Host for RawState {
    fn get(&mut self, _: String) -> Result<Option<Vec<u8>>, types::PluginError> {
        not_in_baseline()
    }

    fn set(&mut self, _: String, _: Vec<u8>) -> Result<(), types::PluginError> {
        not_in_baseline()
    }

    fn delete(&mut self, _: String) -> Result<bool, types::PluginError> {
        not_in_baseline()
    }

    fn list_keys(&mut self, _: String, _: u32) -> Result<Vec<String>, types::PluginError> {
        not_in_baseline()
    }
}

fn raw_state() -> RawState {
    RawState { wasi: wasmtime_wasi::WasiCtxBuilder::new().build(), table: wasmtime::component::ResourceTable::new() }
}

/// A raw wasmtime `InstancePre` of the echo guest. `sandboxed` turns on the
/// same run-time limits Warden uses (epoch interruption and fuel), so the
/// comparison with Warden is like for like.
fn raw_pre(sandboxed: bool) -> wasmtime::component::InstancePre<RawState> {
    use wasmtime::component::{Component, HasSelf, Linker};
    let mut config = wasmtime::Config::new();
    config.epoch_interruption(sandboxed).consume_fuel(sandboxed);
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_component_instances(100).total_core_instances(800).total_memories(200).total_tables(800);
    config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    let engine = wasmtime::Engine::new(&config).unwrap();
    let component = Component::from_file(&engine, ECHO).unwrap();
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
    log::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
    config::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
    types::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
    plugins::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
    messaging::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
    outbound_http::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
    keyvalue::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
    linker.instantiate_pre(&component).unwrap()
}

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

fn request_1k() -> HttpRequest {
    let mut req = HttpRequest::new("POST", "/bench");
    req.headers = vec![("host".into(), "example.com".into()), ("content-type".into(), "application/json".into())];
    req.body = body_1k();
    req
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

/// Budget a raw sandboxed store gets before each call, as Warden does.
fn raw_begin(store: &mut wasmtime::Store<RawState>, sandboxed: bool) {
    if sandboxed {
        store.set_fuel(u64::MAX).unwrap();
        store.set_epoch_deadline(1_000);
    }
}

fn instantiate(c: &mut Criterion) {
    let mut g = c.benchmark_group("instantiate");
    let pre = raw_pre(false);
    g.bench_function("raw-wasmtime", |b| {
        b.iter(|| {
            let mut store = wasmtime::Store::new(pre.engine(), raw_state());
            pre.instantiate(&mut store).unwrap()
        })
    });
    // What a fresh-policy call has to do, in raw wasmtime: store, WASI
    // context, instance, `init`, one `handle` call.
    let pre = raw_pre(true);
    let life = lifecycle::GuestIndices::new(&pre).unwrap();
    let handler_ix = handler::GuestIndices::new(&pre).unwrap();
    g.bench_function("raw-wasmtime-fresh-call", |b| {
        b.iter(|| {
            let mut store = wasmtime::Store::new(pre.engine(), raw_state());
            raw_begin(&mut store, true);
            let instance = pre.instantiate(&mut store).unwrap();
            life.load(&mut store, &instance).unwrap().call_init(&mut store, &[]).unwrap().unwrap();
            let out = handler_ix.load(&mut store, &instance).unwrap().call_handle(&mut store, "echo", b"x");
            out.unwrap().unwrap()
        })
    });
    let dir = plugin_dir("instance-policy = \"fresh\"");
    let runtime = Runtime::new().unwrap();
    let plugin = runtime.load(dir.path()).unwrap();
    g.bench_function("warden-fresh-call", |b| b.iter(|| plugin.handle("echo", b"x").unwrap()));
    g.finish();
}

fn on_request(c: &mut Criterion) {
    let req = request_1k();
    let ctx = CallContext::new("bench");
    let mut g = c.benchmark_group("on-request-1k");

    g.bench_function("native", |b| b.iter(|| bench_check(black_box(&req.headers), black_box(&req.body))));

    let raw_ctx = types::CallContext { request_id: "bench".into(), traceparent: None, route: None, connection: None };
    let raw_req = types::HttpRequest {
        method: req.method.clone(),
        uri: req.uri.clone(),
        headers: req.headers.clone(),
        body: req.body.clone(),
    };
    // `raw-wasmtime`: no way to stop the guest. `raw-wasmtime-sandboxed`:
    // epoch deadline and fuel reset before every call, as in Warden.
    for (name, sandboxed) in [("raw-wasmtime", false), ("raw-wasmtime-sandboxed", true)] {
        let pre = raw_pre(sandboxed);
        let mut store = wasmtime::Store::new(pre.engine(), raw_state());
        raw_begin(&mut store, sandboxed);
        let instance = pre.instantiate(&mut store).unwrap();
        let life = lifecycle::GuestIndices::new(&pre).unwrap().load(&mut store, &instance).unwrap();
        life.call_init(&mut store, &[]).unwrap().unwrap();
        let filter = http_filter::GuestIndices::new(&pre).unwrap().load(&mut store, &instance).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| {
                raw_begin(&mut store, sandboxed);
                let action = filter.call_on_request(&mut store, &raw_ctx, &raw_req).unwrap().unwrap();
                assert!(matches!(action, types::RequestAction::Continue(None)));
            })
        });
    }

    for (name, fuel) in [("warden", true), ("warden-no-fuel", false)] {
        let runtime = Runtime::builder().fuel(fuel).build().unwrap();
        let dir = plugin_dir("");
        let plugin = runtime.load(dir.path()).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| {
                let action = plugin.on_request(&ctx, &req).unwrap();
                assert!(matches!(action, RequestAction::Continue(None)));
            })
        });
    }
    g.finish();
}

criterion_group!(benches, load, instantiate, on_request);
criterion_main!(benches);
