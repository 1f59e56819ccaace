//! Outbound HTTP: what a plugin's `fetch` costs over calling hyper directly.
//! One loopback server (`warden_fixtures::http::TestServer`, `GET /hello`,
//! keep-alive) and three ways to send the same request:
//!
//! - `direct-hyper`: a hyper-util client from Rust, `block_on` on a
//!   current-thread tokio runtime: the floor.
//! - `direct-hyper-spawned`: a hyper-util client on a 2-worker runtime, the
//!   caller waiting on a std channel, which is how Warden runs requests (the
//!   plugin thread is never inside the runtime).
//! - `plugin-fetch`: the `fetcher` fixture's `fetch` action through
//!   `Plugin::handle`: JSON in, `warden_pdk::fetch`, the host's checks and
//!   pooled client, JSON out.
//! - `plugin-refused`: the same call for a URL the manifest does not allow:
//!   the plugin path (call, JSON, import, checks) without any network.
//!
//! In a real run (`--bench`) it also prints the overhead per call, from
//! interleaved rounds of each.
//!
//! Run: `env -u RUST_BACKTRACE cargo bench -p warden-cli --bench outbound`.

#![allow(missing_docs, reason = "criterion_group! generates undocumented functions")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tempfile::TempDir;
use warden::{OutboundHttp, Plugin, Runtime};
use warden_fixtures::FETCHER;
use warden_fixtures::http::TestServer;

type Direct = Client<HttpConnector, Empty<Bytes>>;

/// One GET on `client`, body read.
async fn get(client: Direct, uri: http::Uri) -> Bytes {
    let response = client.get(uri).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap().to_bytes()
}

struct Setup {
    server: TestServer,
    uri: http::Uri,
    current: tokio::runtime::Runtime,
    multi: tokio::runtime::Runtime,
    /// One client per runtime: a pooled connection is driven by a task on
    /// the runtime that opened it.
    client: Direct,
    multi_client: Direct,
    _dir: TempDir,
    plugin: Plugin,
    payload: Vec<u8>,
    /// A request the manifest does not allow: the plugin path without network.
    refused: Vec<u8>,
}

impl Setup {
    fn new() -> Setup {
        let server = TestServer::start();
        let uri: http::Uri = server.url("/hello").parse().unwrap();
        let current = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let multi = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let client = Client::builder(TokioExecutor::new()).build_http();
        let multi_client = Client::builder(TokioExecutor::new()).build_http();

        let runtime = Runtime::builder()
            .outbound_http(OutboundHttp::new().allow_addresses("127.0.0.0/8".parse().unwrap()))
            .build()
            .unwrap();
        let dir = TempDir::new().unwrap();
        std::fs::copy(FETCHER, dir.path().join("fetcher.wasm")).unwrap();
        let manifest = format!(
            "[plugin]\nname = \"fetcher\"\nversion = \"0.1.0\"\ncomponent = \"fetcher.wasm\"\n\
             [permissions]\nnetwork = [\"{}\"]\n",
            server.url("")
        );
        std::fs::write(dir.path().join("plugin.toml"), manifest).unwrap();
        let plugin = runtime.load(dir.path()).unwrap();
        let payload = serde_json::json!({ "url": server.url("/hello") }).to_string().into_bytes();
        let refused = serde_json::json!({ "url": "http://not-allowed.example/hello" }).to_string().into_bytes();
        Setup { server, uri, current, multi, client, multi_client, _dir: dir, plugin, payload, refused }
    }

    fn direct(&self) -> Bytes {
        self.current.block_on(get(self.client.clone(), self.uri.clone()))
    }

    fn direct_spawned(&self) -> Bytes {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let (client, uri) = (self.multi_client.clone(), self.uri.clone());
        self.multi.spawn(async move {
            let _ = tx.send(get(client, uri).await);
        });
        rx.recv().unwrap()
    }

    fn plugin_fetch(&self) -> Vec<u8> {
        self.plugin.handle("fetch", &self.payload).unwrap()
    }

    fn plugin_refused(&self) -> warden::Error {
        self.plugin.handle("fetch", &self.refused).unwrap_err()
    }
}

fn outbound(c: &mut Criterion) {
    let s = Setup::new();
    assert_eq!(s.direct(), "hello");
    assert_eq!(s.direct_spawned(), "hello");
    let out: serde_json::Value = serde_json::from_slice(&s.plugin_fetch()).unwrap();
    assert_eq!(out["body"], "hello");

    let mut g = c.benchmark_group("outbound-get");
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("direct-hyper", |b| b.iter(|| black_box(s.direct())));
    g.bench_function("direct-hyper-spawned", |b| b.iter(|| black_box(s.direct_spawned())));
    g.bench_function("plugin-fetch", |b| b.iter(|| black_box(s.plugin_fetch())));
    g.bench_function("plugin-refused", |b| b.iter(|| black_box(s.plugin_refused())));
    g.finish();

    if std::env::args().any(|a| a == "--bench") {
        overhead(&s);
    }
}

/// Median per-call time of each way over interleaved rounds, and the
/// plugin's overhead over each direct way.
fn overhead(s: &Setup) {
    const ROUNDS: usize = 15;
    const PER_ROUND: u32 = 300;
    let mut times: [Vec<f64>; 3] = Default::default();
    for _ in 0..ROUNDS {
        for (i, slot) in times.iter_mut().enumerate() {
            let start = Instant::now();
            for _ in 0..PER_ROUND {
                match i {
                    0 => drop(black_box(s.direct())),
                    1 => drop(black_box(s.direct_spawned())),
                    _ => drop(black_box(s.plugin_fetch())),
                }
            }
            slot.push(start.elapsed().as_secs_f64() * 1e6 / f64::from(PER_ROUND));
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let [mut direct, mut spawned, mut plugin] = times;
    let (direct, spawned, plugin) = (median(&mut direct), median(&mut spawned), median(&mut plugin));
    println!("\noutbound GET /hello on loopback, median of {ROUNDS} rounds x {PER_ROUND} calls:");
    println!("  direct-hyper          {direct:8.1} us/call");
    println!("  direct-hyper-spawned  {spawned:8.1} us/call");
    println!("  plugin-fetch          {plugin:8.1} us/call");
    println!(
        "  plugin overhead: {:+.1} us over direct-hyper, {:+.1} us over direct-hyper-spawned",
        plugin - direct,
        plugin - spawned
    );
    println!("  server: {} requests on {} connections", s.server.requests(), s.server.connections());
}

criterion_group!(benches, outbound);
criterion_main!(benches);
