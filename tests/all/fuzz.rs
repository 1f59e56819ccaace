//! Fuzzing where plugin data becomes host data, end to end through real
//! plugins: arbitrary responses and rewritten requests through a real
//! gateway, and arbitrary arguments to the outbound HTTP, key-value and
//! messaging imports. The host must answer every case with a response or
//! a typed error: never a panic (which the runtime would contain as
//! `Error::Runtime`), never a dropped connection.
//!
//! Cases: 48 per test, or `PROPTEST_CASES` (`.ci/run` runs more).

use proptest::prelude::*;
use serde_json::json;
use warden::{Error, ErrorKind, OutboundHttp, Runtime};
use warden_fixtures::fuzz::text;
use warden_fixtures::http::TestServer;
use warden_fixtures::{ECHO, FETCHER};

use crate::common;
use crate::gateway::{GW, Harness, gw_plugin, send_raw};

/// 48 cases, or `PROPTEST_CASES`. Failures are not saved to a file: a case
/// can carry megabytes of headers; proptest prints the shrunk case.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// Header lists: arbitrary ones, and floods of one header (tens of
/// thousands of entries once overflowed the host's header maps).
fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    prop_oneof![
        4 => prop::collection::vec((text(), text()), 0..120),
        1 => (0usize..40_000, text()).prop_map(|(n, name)| vec![(name, String::new()); n]),
    ]
}

/// A host failure that must never come out of a plugin call: a contained
/// host panic is `Error::Runtime`.
fn no_host_failure(result: &Result<Vec<u8>, Error>) -> Result<(), TestCaseError> {
    if let Err(e) = result {
        prop_assert!(e.kind() != ErrorKind::Runtime, "the host failed: {}", e);
    }
    Ok(())
}

/// Arbitrary responses and rewritten requests from an on-request plugin:
/// every case gets a whole HTTP response from the gateway.
#[test]
fn fuzz_plugin_output_through_the_gateway() {
    let up = TestServer::start();
    let h = Harness::start(
        |p| gw_plugin(p, "gw", GW),
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nwatch = false\naccess-log = false\nmax-body = \"16 MiB\"\n\
             [[route]]\nname = \"api\"\npath = \"/\"\nupstream = \"http://{}/echo\"\non-request = [\"gw\"]\n",
            up.addr()
        ),
    );
    let send = |mode: &str, spec: serde_json::Value| {
        let body = spec.to_string();
        let raw = format!(
            "POST /x HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx-test: {mode}\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        send_raw(h.addr, raw.as_bytes())
    };
    proptest!(config(), |(status in any::<u16>(), headers in headers(), body in text(), method in text(), uri in text())| {
        let reply = send("respond-spec", json!({ "status": status, "headers": headers, "body": body }));
        let reply = reply.map_err(|e| TestCaseError::fail(format!("no response to a plugin's answer: {e}")))?;
        prop_assert!((200..=599).contains(&reply.status), "status {}", reply.status);
        let reply = send("continue-spec", json!({ "method": method, "uri": uri, "headers": headers, "body": body }));
        let reply = reply.map_err(|e| TestCaseError::fail(format!("no response to a rewritten request: {e}")))?;
        prop_assert!((200..=599).contains(&reply.status), "status {}", reply.status);
    });
}

/// Arbitrary `fetch` arguments from a plugin allowed to reach a loopback
/// server: a response or a plugin error code, never a host failure.
#[test]
fn fuzz_outbound_fetch_arguments() {
    let server = TestServer::start();
    let cache = tempfile::TempDir::new().unwrap();
    let runtime = Runtime::builder()
        .cache_dir(cache.path().join("cache"))
        .outbound_http(OutboundHttp::new().allow_addresses("127.0.0.0/8".parse().unwrap()))
        .build()
        .unwrap();
    let (_dir, plugin) = {
        let dir = common::plugin_dir(FETCHER, &format!("[permissions]\nnetwork = [\"{}\"]\n", server.url("")));
        let plugin = runtime.load(dir.path()).unwrap();
        (dir, plugin)
    };
    let addr = server.addr();
    let url = prop_oneof![text(), text().prop_map(move |path| format!("http://{addr}/{path}"))];
    proptest!(config(), |(url in url, method in text(), headers in headers(), body in text())| {
        let request = json!({ "url": url, "method": method, "headers": headers, "body": body });
        no_host_failure(&plugin.handle("fetch", request.to_string().as_bytes()))?;
    });
}

/// Arbitrary keys, values, topics, log lines and plugin calls through the
/// key-value, messaging, log and plugin-call imports.
#[test]
fn fuzz_key_value_messaging_log_and_call_arguments() {
    let dir = tempfile::TempDir::new().unwrap();
    let store = warden::KeyValueStore::open(dir.path().join("kv.redb")).unwrap();
    let runtime = Runtime::builder().cache_dir(dir.path().join("cache")).key_value(store).build().unwrap();
    let manager = warden::PluginManager::new(runtime);
    let plugins = dir.path().join("plugins");
    for name in ["writer", "reader"] {
        let folder = plugins.join(name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::copy(ECHO, folder.join("plugin.wasm")).unwrap();
        let depends = if name == "writer" { "[dependencies]\nreader = \"*\"\n" } else { "" };
        let manifest = format!(
            "[plugin]\nname = \"{name}\"\nversion = \"1.0.0\"\ncomponent = \"plugin.wasm\"\n\
             [permissions]\nkey-value = true\npublish = [\"*\"]\nsubscribe = [\"*\"]\n[limits]\nkey-value-quota = \"64 KiB\"\n{depends}"
        );
        std::fs::write(folder.join("plugin.toml"), manifest).unwrap();
    }
    assert!(manager.load_dir(&plugins).unwrap().failed.is_empty());
    proptest!(config(), |(key in text(), value in text(), topic in text(), limit in any::<u32>())| {
        for (action, payload) in [
            ("kv-set", format!("{key}={value}")),
            ("kv-get", key.clone()),
            ("kv-list", format!("{key} {limit}")),
            ("kv-delete", key.clone()),
            ("publish", format!("{topic} {value}")),
            ("log", value.clone()),
            ("call", format!("reader {key} {value}")),
            ("call", format!("{topic} {key} {value}")),
        ] {
            no_host_failure(&manager.handle("writer", action, payload.as_bytes()))?;
        }
    });
    assert_eq!(manager.handle("reader", "echo", b"alive").unwrap(), b"alive");
}
