//! The demo pipeline in process (no HTTP): validator -> enricher ->
//! transformer on a 1 KB JSON body, through `warden_gateway::Pipeline` and a
//! `PluginManager`, against the same three steps written in native Rust with
//! serde_json, measured in the same run.
//!
//! - `pipeline-1k/native`: parse, check `user_id` and `action`, add
//!   `source` and the `user:42` profile from a map, rename `user_id`, drop
//!   `password`, serialize.
//! - `pipeline-1k/native-2t`: the same on two threads at once, to show how
//!   this machine's two cores scale.
//! - `pipeline-1k/warden-{1,2}t`: the three plugins, on one thread and on
//!   two threads at once (time per pipeline; pipelines per second is its
//!   inverse, for two threads total pipelines over wall time).
//! - `pipeline-1k/warden-2t-no-fuel`: two threads on a runtime built with
//!   `fuel(false)` (`[server] fuel = false` in the gateway), which none of
//!   the three plugins needs.
//!
//! Run: `env -u RUST_BACKTRACE cargo bench -p warden-cli --bench pipeline`.

#![allow(missing_docs, reason = "criterion_group! generates undocumented functions")]

#[path = "support.rs"]
mod support;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use tempfile::TempDir;
use warden::{CallContext, HttpRequest, KeyValueStore, Manifest, PluginManager, Runtime};
use warden_gateway::{Pipeline, RequestOutcome, Stage};

const BODY: &[u8] = include_bytes!("gateway/body.json");

/// The shipped manifests with components built from source.
fn plugins(dir: &Path) {
    for (name, wasm) in [
        ("validator", warden_fixtures::VALIDATOR),
        ("enricher", warden_fixtures::ENRICHER),
        ("transformer", warden_fixtures::TRANSFORMER),
    ] {
        let shipped = Path::new(warden_fixtures::PLUGINS_DIR).join(name);
        let manifest = Manifest::from_dir(&shipped).unwrap();
        let folder = dir.join(name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::copy(shipped.join("plugin.toml"), folder.join("plugin.toml")).unwrap();
        std::fs::copy(wasm, folder.join(manifest.component.file_name().unwrap())).unwrap();
    }
}

fn request() -> HttpRequest {
    let mut req = HttpRequest::new("POST", "/orders");
    req.headers = vec![("host".into(), "example.com".into()), ("content-type".into(), "application/json".into())];
    req.body = BODY.to_vec();
    req
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

/// Checks the first outcome in full; returns the body length every later
/// outcome must have (a cheap check, so the loop measures the pipeline).
fn first(outcome: RequestOutcome) -> usize {
    match outcome {
        RequestOutcome::Continue { request, modified: true } => {
            assert!(request.body.windows(7).any(|w| w == b"\"Ann\",\""), "profile merged");
            request.body.len()
        }
        other => panic!("unexpected outcome: {other:?}"),
    }
}

fn check(outcome: RequestOutcome, len: usize) {
    match outcome {
        RequestOutcome::Continue { request, modified: true } if request.body.len() == len => {}
        other => panic!("unexpected outcome: {other:?}"),
    }
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

fn pipeline(c: &mut Criterion) {
    let dir = TempDir::new().unwrap();
    plugins(&dir.path().join("plugins"));
    let (pipeline, no_fuel) = (load(dir.path(), true), load(dir.path(), false));
    let (req, ctx) = (request(), CallContext::new("bench"));
    let profiles = HashMap::from([("user:42".to_owned(), json!({"name": "Ann", "tier": "gold"}))]);
    let len = first(pipeline.on_request(&ctx, req.clone()));
    assert_eq!(first(no_fuel.on_request(&ctx, req.clone())), len);
    let native_out: Value = serde_json::from_slice(&native(BODY, &profiles)).unwrap();
    assert_eq!(native_out["profile"]["name"], "Ann");

    let mut g = c.benchmark_group("pipeline-1k");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("native", |b| b.iter(|| native(std::hint::black_box(BODY), &profiles)));
    g.bench_function("native-2t", |b| {
        b.iter_custom(|iters| support::parallel(2, iters, || drop(native(std::hint::black_box(BODY), &profiles))))
    });
    for (name, threads, pipeline) in
        [("warden-1t", 1, &pipeline), ("warden-2t", 2, &pipeline), ("warden-2t-no-fuel", 2, &no_fuel)]
    {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                support::parallel(threads, iters, || check(pipeline.on_request(&ctx, req.clone()), len))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
