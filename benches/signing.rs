//! What verifying a plugin's signature costs per load: the validator in
//! Rust (~128 KiB) and, if built, in TypeScript (~13 MB, an interpreter
//! inside), each signed in a temporary folder, measured in one run:
//!
//! - printed once: the time `sign_dir` takes;
//! - criterion: `load/<lang>` (load from the compile cache: read, hash,
//!   deserialize, instantiate, `init`), `verify/<lang>` (`verify_dir`:
//!   read and hash the component and plugin.toml, check the documents and
//!   the ed25519 signature), `verify-then-load/<lang>`, the two in a row,
//!   and `admit-then-load/<lang>`: a `TrustPolicy`'s decision (verify, pin
//!   the hash, apply the level), then the load, as a manager with the
//!   policy as its admission loads a plugin.
//!
//! Run: `env -u RUST_BACKTRACE cargo bench -p warden-cli --bench signing`
//! (build the TypeScript validator first for its row:
//! `cargo run -p warden-cli -- build plugins/validator/js`).

#![allow(missing_docs, reason = "criterion_group! generates undocumented functions")]

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use tempfile::TempDir;
use warden::{Manifest, Runtime};
use warden_dist::{SecretKey, TrustPolicy, sign_dir, verify_dir};
use warden_fixtures::{PLUGINS_DIR, VALIDATOR};

/// A signed copy of a validator in `dir/<lang>`: its manifest.
fn signed(dir: &Path, lang: &str, manifest_dir: &Path, component: &Path, key: &SecretKey) -> Manifest {
    let folder = dir.join(lang);
    std::fs::create_dir(&folder).unwrap();
    std::fs::copy(manifest_dir.join("plugin.toml"), folder.join("plugin.toml")).unwrap();
    let manifest = Manifest::from_dir(&folder).unwrap();
    std::fs::copy(component, &manifest.component).unwrap();
    let started = Instant::now();
    sign_dir(&folder, key, None).unwrap();
    let size = std::fs::metadata(component).unwrap().len();
    eprintln!("signing/{lang}: {} KiB signed in {:.1} ms", size / 1024, started.elapsed().as_secs_f64() * 1000.0);
    manifest
}

fn bench(c: &mut Criterion) {
    let dir = TempDir::new().unwrap();
    let key = SecretKey::generate();
    let validator = Path::new(PLUGINS_DIR).join("validator");
    let mut plugins = vec![("rust", signed(dir.path(), "rust", &validator, Path::new(VALIDATOR), &key))];
    let js = Manifest::from_dir(validator.join("js")).unwrap();
    match js.component.is_file() {
        true => plugins.push(("js", signed(dir.path(), "js", &validator.join("js"), &js.component, &key))),
        false => eprintln!("signing: js left out: build it with `warden build {}`", validator.join("js").display()),
    }
    let cache = TempDir::new().unwrap();
    let runtime = Runtime::builder().cache_dir(cache.path()).build().unwrap();
    let trusted = [key.public()];
    let policy = TrustPolicy::new().trust(key.public(), "trusted").unwrap();
    for (_, manifest) in &plugins {
        runtime.precompile(manifest).unwrap();
    }

    let mut group = c.benchmark_group("signing");
    for (lang, manifest) in &plugins {
        group.bench_function(format!("load/{lang}"), |b| {
            b.iter(|| black_box(runtime.load_manifest(manifest.clone()).unwrap()))
        });
        group.bench_function(format!("verify/{lang}"), |b| {
            b.iter(|| black_box(verify_dir(&manifest.dir, &trusted).unwrap()))
        });
        // What a host with a trust policy pays per load: the policy
        // verifies the folder and pins the hash it checked, which the load's
        // own hash then checks.
        let text = std::fs::read_to_string(&manifest.file).unwrap();
        group.bench_function(format!("admit-then-load/{lang}"), |b| {
            b.iter(|| {
                let mut admitted = manifest.clone();
                policy.decide(&mut admitted, &text).unwrap();
                black_box(runtime.load_manifest(admitted).unwrap())
            })
        });
        group.bench_function(format!("verify-then-load/{lang}"), |b| {
            b.iter(|| {
                verify_dir(&manifest.dir, &trusted).unwrap();
                black_box(runtime.load_manifest(manifest.clone()).unwrap())
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
