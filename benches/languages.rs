//! The validator in four languages (plugins/validator: Rust, and the
//! js/ (TypeScript), python/ and c/ versions built by `warden build`),
//! measured side by side in one run:
//!
//! - printed once per language: component size, cold compile (no cache),
//!   and after the calls the peak linear memory of an instance;
//! - criterion: `cached-load/<lang>` (load from the compile cache:
//!   deserialize, instantiate, `init`), `instantiate/<lang>` (a fresh
//!   instance and `init` for one call, `instance-policy = "fresh"`) and
//!   `on-request/<lang>` (one pooled call checking a valid 200-byte JSON
//!   body).
//!
//! The components must be built first (the test suite builds them), e.g.
//! `cargo run -p warden-cli -- build plugins/validator/js plugins/validator/python plugins/validator/c`.
//! Run: `env -u RUST_BACKTRACE cargo bench -p warden-cli --bench languages`.

#![allow(missing_docs, reason = "criterion_group! generates undocumented functions")]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use tempfile::TempDir;
use warden::http::{HeaderValue, Method};
use warden::{CallContext, InstancePolicy, Manifest, Plugin, Request, RequestAction, Runtime};
use warden_fixtures::{PLUGINS_DIR, VALIDATOR};

const BODY: &str = r#"{"user_id":"42","action":"buy","item":"book","quantity":3,"tags":["gift","express"],"address":{"street":"1 Main St","city":"Springfield","zip":"12345"},"note":"leave at the door"}"#;

/// Each language's validator manifest, component resolved; the languages
/// whose component is not built are left out, with a note.
fn validators() -> Vec<(&'static str, Manifest)> {
    let dir = Path::new(PLUGINS_DIR).join("validator");
    let mut rust = Manifest::from_dir(&dir).unwrap();
    rust.component = PathBuf::from(VALIDATOR);
    let mut all = vec![("rust", rust)];
    for lang in ["js", "python", "c"] {
        let manifest = Manifest::from_dir(dir.join(lang)).unwrap();
        if manifest.component.is_file() {
            all.push((lang, manifest));
        } else {
            eprintln!("languages: {lang} left out: build it with `warden build {}`", dir.join(lang).display());
        }
    }
    all
}

fn request() -> Request {
    let mut req = Request::new(Method::POST, "/orders".parse().unwrap());
    req.headers.insert("content-type", HeaderValue::from_static("application/json"));
    req.body = BODY.into();
    req
}

fn call(plugin: &Plugin) {
    let action = plugin.on_request(&CallContext::new("1"), &mut request()).unwrap();
    assert!(matches!(action, RequestAction::Continue), "{action:?}");
}

fn bench(c: &mut Criterion) {
    // Criterion runs benches with `--bench`; `cargo test --benches` without.
    let measuring = std::env::args().any(|a| a == "--bench");
    let cache = TempDir::new().unwrap();
    let cached = Runtime::builder().cache_dir(cache.path()).build().unwrap();
    let uncached = Runtime::builder().build().unwrap();
    let validators = validators();
    for (lang, manifest) in &validators {
        let size = std::fs::metadata(&manifest.component).unwrap().len();
        let started = Instant::now();
        if measuring {
            uncached.precompile(manifest).unwrap();
        }
        let cold = started.elapsed();
        assert!(!cached.precompile(manifest).unwrap(), "a fresh cache");
        eprintln!("languages: {lang}: component {} KiB, cold compile {:.2?}", size.div_ceil(1024), cold);
    }

    let mut group = c.benchmark_group("cached-load");
    for (lang, manifest) in &validators {
        group.bench_function(*lang, |b| b.iter(|| black_box(cached.load_manifest(manifest.clone()).unwrap())));
    }
    group.finish();

    let mut group = c.benchmark_group("instantiate");
    for (lang, manifest) in &validators {
        let mut manifest = manifest.clone();
        manifest.limits = manifest.limits.clone().instance_policy(InstancePolicy::Fresh);
        let plugin = cached.load_manifest(manifest).unwrap();
        group.bench_function(*lang, |b| b.iter(|| call(&plugin)));
    }
    group.finish();

    let mut group = c.benchmark_group("on-request");
    for (lang, manifest) in &validators {
        let plugin = cached.load_manifest(manifest.clone()).unwrap();
        group.bench_function(*lang, |b| b.iter(|| call(&plugin)));
        let stats = plugin.stats();
        eprintln!(
            "languages: {lang}: peak linear memory of an instance {} KiB over {} calls",
            stats.peak_memory_bytes.div_ceil(1024),
            stats.calls
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
