//! Registry transfers on loopback, against a real `docker-registry` the
//! bench starts on 127.0.0.1: for a 50 KB component (the logger example)
//! and a 15 MB one (the same component with a 15 MB custom section, a
//! stand-in for a JavaScript or Python plugin), each signed:
//!
//! - `push/<size>`: `Registry::push` of the artifact and its signature to
//!   a repository the registry has never seen (every byte is uploaded);
//! - `pull/<size>`: `Registry::fetch` with an empty cache: manifest,
//!   signature, config and component downloaded, digests and signature
//!   checked (`warden pull` without the writing);
//! - `install/<size>`: the same, then `install` into an empty plugins
//!   directory (staging folder, files, atomic rename);
//! - `install-cached/<size>`: `install` of a digest reference already in
//!   the cache: no transfer, the checks and the writing only.
//!
//! Run: `env -u RUST_BACKTRACE cargo bench -p warden-cli --bench registry`.

#![allow(missing_docs, reason = "criterion_group! generates undocumented functions")]

use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use tempfile::TempDir;
use warden_dist::{Artifact, Cache, Registry, SecretKey};
use warden_fixtures::LOGGER;
use warden_fixtures::registry::OciRegistry;

/// A plugin folder `dir/<name>` of the logger, with `padding` bytes of
/// custom section appended to the component.
fn plugin(dir: &Path, name: &str, padding: usize) -> Artifact {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    let mut wasm = std::fs::read(LOGGER).unwrap();
    if padding > 0 {
        // A custom section: id 0, size, name, payload.
        let section_name = b"bench-padding";
        let mut body = leb128(section_name.len() as u64);
        body.extend_from_slice(section_name);
        body.resize(body.len() + padding, 0x5a);
        wasm.push(0);
        wasm.extend(leb128(body.len() as u64));
        wasm.extend(body);
    }
    std::fs::write(folder.join("plugin.wasm"), &wasm).unwrap();
    let toml = format!("[plugin]\nname = \"{name}\"\nversion = \"1.0.0\"\ncomponent = \"plugin.wasm\"\n");
    std::fs::write(folder.join("plugin.toml"), toml).unwrap();
    Artifact::from_dir(&folder).unwrap()
}

fn leb128(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

fn bench(c: &mut Criterion) {
    let Some(server) = OciRegistry::try_start() else {
        eprintln!("registry: left out: docker-registry is not installed or did not start");
        return;
    };
    let addr = server.addr();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = TempDir::new().unwrap();
    let key = SecretKey::generate();
    let trusted = [key.public()];
    // A client with an empty cache, and the folder that holds it (removed
    // when dropped, after the iteration).
    let fresh = || {
        let cache = TempDir::new().unwrap();
        (Registry::new(Cache::new(cache.path())), cache)
    };
    let pushes = AtomicU64::new(0);

    let mut group = c.benchmark_group("registry");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    for (size, padding) in [("50KB", 0), ("15MB", 15 << 20)] {
        let artifact = plugin(dir.path(), &format!("p{}", size.to_lowercase()), padding);
        eprintln!("registry/{size}: component of {} KiB", artifact.component.len() / 1024);
        let (registry, _cache) = fresh();
        group.bench_function(format!("push/{size}"), |b| {
            b.iter(|| {
                let n = pushes.fetch_add(1, Ordering::Relaxed);
                let reference = format!("{addr}/bench/push{n}:1.0.0");
                black_box(rt.block_on(registry.push(&reference, &artifact, Some(&key))).unwrap())
            })
        });
        let reference = format!("{addr}/bench/{}:1.0.0", size.to_lowercase());
        rt.block_on(registry.push(&reference, &artifact, Some(&key))).unwrap();
        group.bench_function(format!("pull/{size}"), |b| {
            b.iter_batched(
                fresh,
                |(r, _cache)| black_box(rt.block_on(r.fetch(&reference, &trusted)).unwrap()),
                BatchSize::PerIteration,
            )
        });
        group.bench_function(format!("install/{size}"), |b| {
            b.iter_batched(
                || (fresh(), TempDir::new().unwrap()),
                |((r, _cache), plugins)| {
                    let fetched = rt.block_on(r.fetch(&reference, &trusted)).unwrap();
                    black_box(warden_dist::install(&fetched, plugins.path(), false).unwrap())
                },
                BatchSize::PerIteration,
            )
        });
        let (cached, _kept) = fresh();
        let pinned = format!("{addr}/bench/{}@{}", size.to_lowercase(), artifact.digest());
        rt.block_on(cached.fetch(&pinned, &trusted)).unwrap();
        group.bench_function(format!("install-cached/{size}"), |b| {
            b.iter_batched(
                || TempDir::new().unwrap(),
                |plugins| {
                    let fetched = rt.block_on(cached.fetch(&pinned, &trusted)).unwrap();
                    black_box(warden_dist::install(&fetched, plugins.path(), false).unwrap())
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
    drop(server);
}

criterion_group!(benches, bench);
criterion_main!(benches);
