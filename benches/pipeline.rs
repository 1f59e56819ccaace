//! The demo pipeline in process (no HTTP): validator -> enricher ->
//! transformer on a 1 KB JSON body, against the same three steps in native
//! Rust with serde_json and against a raw wasmtime host running the same
//! three components, all measured in the same run.
//!
//! Two requests: `browser` carries the 16 header fields of a browser's JSON
//! POST (`gateway/browser-headers.txt`), `short` only `host` and
//! `content-type`. For each:
//!
//! - `native-{1,2}t`: parse, check `user_id` and `action`, add `source`
//!   and the `user:42` profile from a map, rename `user_id`, drop
//!   `password`, serialize; on one thread, and on two at once.
//! - `raw-{1,2}t`, `raw-no-fuel-{1,2}t`: the three components through a
//!   raw `bindgen!` host (`raw.rs`) with Warden's sandbox settings (epoch
//!   deadline, fuel on or off); each thread has its own three instances.
//! - `warden-{1,2}t`, `warden-no-fuel-{1,2}t`: the three plugins through
//!   `warden_gateway::Pipeline` and a `PluginManager`.
//!
//! Time per pipeline; for two threads, total pipelines over wall time.
//!
//! Run: `env -u RUST_BACKTRACE cargo bench -p warden-cli --bench pipeline`.

#![allow(missing_docs, reason = "criterion_group! generates undocumented functions")]

#[path = "raw.rs"]
mod raw;
#[path = "support.rs"]
mod support;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use tempfile::TempDir;
use warden::{Body, CallContext, KeyValueStore, Manifest, PluginManager, Request, Runtime};
use warden_gateway::{Pipeline, RequestOutcome, Stage};

const BODY: &[u8] = include_bytes!("gateway/body.json");
const PLUGINS: [(&str, &str); 3] = [
    ("validator", warden_fixtures::VALIDATOR),
    ("enricher", warden_fixtures::ENRICHER),
    ("transformer", warden_fixtures::TRANSFORMER),
];

/// The shipped manifests with components built from source.
fn plugins(dir: &Path) {
    for (name, wasm) in PLUGINS {
        let shipped = Path::new(warden_fixtures::PLUGINS_DIR).join(name);
        let manifest = Manifest::from_dir(&shipped).unwrap();
        let folder = dir.join(name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::copy(shipped.join("plugin.toml"), folder.join("plugin.toml")).unwrap();
        std::fs::copy(wasm, folder.join(manifest.component.file_name().unwrap())).unwrap();
    }
}

fn short_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("example.com"));
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h
}

fn browser_headers() -> HeaderMap {
    let mut h = support::headers(16);
    h.insert("content-length", HeaderValue::from(BODY.len()));
    h
}

/// The three steps in native Rust, for the baseline.
fn native(body: &[u8], profiles: &HashMap<String, Value>) -> Vec<u8> {
    let mut v: serde_json::Map<String, Value> = serde_json::from_slice(body).unwrap();
    assert!(["user_id", "action"].iter().all(|f| v.get(*f).is_some_and(|x| !x.is_null())));
    v.insert("source".into(), json!("warden-gateway"));
    if let Some(id) = v.get("user_id").and_then(Value::as_str)
        && let Some(p) = profiles.get(&format!("user:{id}"))
    {
        v.insert("profile".into(), p.clone());
    }
    if let Some(id) = v.remove("user_id") {
        v.insert("userId".into(), id);
    }
    v.remove("password");
    serde_json::to_vec(&v).unwrap()
}

/// The three plugins loaded into a fresh manager.
fn load(dir: &Path, fuel: bool) -> Pipeline {
    let kv = KeyValueStore::open(dir.join(format!("kv-{fuel}.redb"))).unwrap();
    let runtime = Runtime::builder().fuel(fuel).key_value(kv).build().unwrap();
    let manager = PluginManager::new(runtime);
    let report = manager.load_dir(dir.join("plugins")).unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    Pipeline::new(manager, vec![Stage::new("validator"), Stage::new("enricher"), Stage::new("transformer")])
}

/// A request as a gateway hands it over; the body is shared, not copied.
fn request(headers: &HeaderMap) -> Request {
    let mut req = Request::new(http::Method::POST, "/orders".parse().unwrap());
    req.headers = headers.clone();
    req.body = Body::from(Bytes::from_static(BODY));
    req
}

/// Runs the pipeline on `req` (reset first) and checks the outcome.
fn run(pipeline: &Pipeline, ctx: &CallContext, req: &mut Request, headers: &HeaderMap, len: usize) {
    req.headers.clone_from(headers);
    req.body = Body::from(Bytes::from_static(BODY));
    match pipeline.on_request(ctx, req) {
        RequestOutcome::Continue if req.body.len() == Some(len as u64) => {}
        other => panic!("unexpected outcome: {other:?}, {:?}", req.body),
    }
}

/// A component pre-instantiated on the raw host, with its `[config]`.
type RawPlugin = (wasmtime::component::InstancePre<raw::RawState>, Vec<(String, String)>);

/// The three components on a raw host, one instance each.
struct RawPipeline {
    filters: Vec<raw::RawFilter>,
}

impl RawPipeline {
    fn new(pres: &[RawPlugin], fuel: bool) -> Self {
        RawPipeline {
            filters: pres.iter().map(|(pre, config)| raw::RawFilter::new(pre, config.clone(), true, fuel)).collect(),
        }
    }

    /// The request moves from one store to the next, as a raw host would pass it on.
    fn run(&mut self, headers: &HeaderMap, len: usize) {
        let mut req = raw::RawRequest {
            method: http::Method::POST,
            uri: "/orders".parse().unwrap(),
            headers: headers.clone(),
            body: Bytes::from_static(BODY),
        };
        for filter in &mut self.filters {
            filter.store.data_mut().request = std::mem::take(&mut req);
            let action = filter.on_request().unwrap();
            assert!(matches!(action, raw::RequestAction::Continue));
            req = std::mem::take(&mut filter.store.data_mut().request);
        }
        assert_eq!(req.body.len(), len);
    }
}

fn raw_pres(fuel: bool) -> Vec<RawPlugin> {
    let engine = raw::engine(true, fuel);
    let ticker = engine.clone();
    // Warden's epoch ticker, so the deadline check sees a moving epoch.
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(5));
            ticker.increment_epoch();
        }
    });
    PLUGINS
        .iter()
        .map(|(name, wasm)| {
            let manifest = Manifest::from_dir(Path::new(warden_fixtures::PLUGINS_DIR).join(name)).unwrap();
            let mut config: Vec<(String, String)> = manifest.config.into_iter().collect();
            config.sort();
            (raw::pre(&engine, wasm), config)
        })
        .collect()
}

fn pipeline(c: &mut Criterion) {
    let dir = TempDir::new().unwrap();
    plugins(&dir.path().join("plugins"));
    let (warden, warden_no_fuel) = (load(dir.path(), true), load(dir.path(), false));
    let (raw, raw_no_fuel) = (raw_pres(true), raw_pres(false));
    let ctx = CallContext::new("bench");
    let profiles = HashMap::from([("user:42".to_owned(), json!({"name": "Ann", "tier": "gold"}))]);
    let native_out = native(BODY, &profiles);
    let len = native_out.len();
    // Every path gives the same body as the native one (same length; the
    // field order may differ).
    let mut check = request(&short_headers());
    assert!(matches!(warden.on_request(&ctx, &mut check), RequestOutcome::Continue));
    let out: Value = serde_json::from_slice(check.body.bytes().unwrap()).unwrap();
    assert_eq!(out, serde_json::from_slice::<Value>(&native_out).unwrap());
    RawPipeline::new(&raw, true).run(&short_headers(), len);

    for (label, headers) in [("browser", browser_headers as fn() -> HeaderMap), ("short", short_headers)] {
        let mut g = c.benchmark_group(format!("pipeline-1k-{label}"));
        g.throughput(Throughput::Elements(1));
        g.measurement_time(Duration::from_secs(8));
        for threads in [1, 2] {
            g.bench_function(format!("native-{threads}t"), |b| {
                b.iter_custom(|iters| {
                    support::parallel(threads, iters, || drop(native(std::hint::black_box(BODY), &profiles)))
                })
            });
            for (name, pres, fuel) in [("raw", &raw, true), ("raw-no-fuel", &raw_no_fuel, false)] {
                g.bench_function(format!("{name}-{threads}t"), |b| {
                    b.iter_custom(|iters| {
                        // Each thread has its own header fields to start from,
                        // as requests do: clones of one map would share
                        // reference counts across the threads.
                        support::parallel_with(
                            threads,
                            iters,
                            || (RawPipeline::new(pres, fuel), headers()),
                            |(p, headers)| p.run(headers, len),
                        )
                    })
                });
            }
            for (name, pipeline) in [("warden", &warden), ("warden-no-fuel", &warden_no_fuel)] {
                g.bench_function(format!("{name}-{threads}t"), |b| {
                    b.iter_custom(|iters| {
                        // Each request has its own context, as in the gateway.
                        support::parallel_with(
                            threads,
                            iters,
                            || (CallContext::new("bench"), request(&headers()), headers()),
                            |(ctx, req, headers)| run(pipeline, ctx, req, headers, len),
                        )
                    })
                });
            }
        }
        g.finish();
    }
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
