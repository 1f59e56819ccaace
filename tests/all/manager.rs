//! The plugin manager: loading a directory with broken plugins in it, calls
//! by name, state changes, reload under load, back-off, stats, async calls.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use tempfile::TempDir;
use warden::{Error, ErrorKind, HealthStatus, PluginManager, PluginState};
use warden_fixtures::{ECHO, FETCHER, MALICIOUS, OBSERVER};

use crate::common::{ConfigCallers, runtime};

/// Writes a plugin folder `dir/<folder>` named `name` with `extra` TOML.
fn add_plugin(dir: &Path, folder: &str, name: &str, wasm: &str, extra: &str) {
    let path = dir.join(folder);
    std::fs::create_dir_all(&path).unwrap();
    std::fs::copy(wasm, path.join("plugin.wasm")).unwrap();
    write_manifest(&path, name, "1.0.0", "plugin.wasm", extra);
}

fn write_manifest(dir: &Path, name: &str, version: &str, component: &str, extra: &str) {
    let text = format!("[plugin]\nname = \"{name}\"\nversion = \"{version}\"\ncomponent = \"{component}\"\n{extra}\n");
    std::fs::write(dir.join("plugin.toml"), text).unwrap();
}

fn manager() -> PluginManager {
    PluginManager::new(runtime().clone())
}

/// A manager writing its audit log to `log`.
fn audited(log: &Path) -> PluginManager {
    PluginManager::builder(runtime().clone()).audit(warden::AuditSink::File(log.to_owned())).build().unwrap()
}

/// The audit log's lines, parsed.
fn audit_lines(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_directory_with_broken_plugins_loads_the_good_ones() {
    let dir = TempDir::new().unwrap();
    add_plugin(dir.path(), "a-echo", "echo", ECHO, "");
    add_plugin(dir.path(), "b-malicious", "malicious", MALICIOUS, "");
    add_plugin(dir.path(), "c-init", "bad-init", ECHO, "[config]\nfail-init = \"true\"");
    add_plugin(dir.path(), "d-hash", "bad-hash", ECHO, &format!("sha256 = \"{}\"", "0".repeat(64)));
    add_plugin(dir.path(), "e-manifest", "bad-manifest", ECHO, "[limits]\nmemroy = 1");
    std::fs::create_dir(dir.path().join("f-not-a-plugin")).unwrap();
    let m = manager();
    let report = m.load_dir(dir.path()).unwrap();
    assert_eq!(report.loaded, ["echo", "malicious"]);
    let failed: Vec<(String, ErrorKind)> =
        report.failed.iter().map(|(d, e)| (d.file_name().unwrap().to_string_lossy().into_owned(), e.kind())).collect();
    assert_eq!(
        failed,
        [
            ("c-init".to_owned(), ErrorKind::InitFailed),
            ("d-hash".to_owned(), ErrorKind::HashMismatch),
            ("e-manifest".to_owned(), ErrorKind::Manifest)
        ]
    );

    // Plugins whose manifest could be read are listed, failed ones with why.
    let list = m.list();
    let states: Vec<(&str, PluginState)> = list.iter().map(|i| (i.name.as_str(), i.state)).collect();
    assert_eq!(
        states,
        [
            ("bad-hash", PluginState::Failed),
            ("bad-init", PluginState::Failed),
            ("echo", PluginState::Running),
            ("malicious", PluginState::Running)
        ]
    );
    let bad = m.info("bad-init").unwrap();
    assert!(bad.last_error.as_deref().unwrap_or("").contains("fail-init requested"), "{bad:?}");
    assert_eq!(bad.version, None);
    let echo = m.info("echo").unwrap();
    assert_eq!(echo.version, Some(semver::Version::new(1, 0, 0)));
    assert_eq!(echo.sha256.as_deref().map(str::len), Some(64));

    assert_eq!(m.handle("echo", "echo", b"hi").unwrap(), b"hi");
    let err = m.handle("bad-init", "echo", b"hi").unwrap_err();
    assert!(matches!(err, Error::Unavailable { state: PluginState::Failed, .. }), "{err:?}");
    assert!(err.to_string().contains("fix it and reload"), "{err}");
    let err = m.handle("nope", "echo", b"").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnknownPlugin);
    assert!(err.to_string().contains("loaded plugins: bad-hash, bad-init, echo, malicious"), "{err}");

    // Fixing a failed plugin and reloading brings it up.
    write_manifest(&dir.path().join("c-init"), "bad-init", "1.0.1", "plugin.wasm", "");
    m.reload("bad-init").unwrap();
    assert_eq!(m.info("bad-init").unwrap().state, PluginState::Running);
    assert_eq!(m.handle("bad-init", "echo", b"ok").unwrap(), b"ok");
}

#[test]
fn duplicate_names_are_refused() {
    let dir = TempDir::new().unwrap();
    add_plugin(dir.path(), "one", "same", ECHO, "");
    add_plugin(dir.path(), "two", "same", ECHO, "");
    let report = manager().load_dir(dir.path()).unwrap();
    assert_eq!(report.loaded, ["same"]);
    let (folder, err) = &report.failed[0];
    assert!(folder.ends_with("two"));
    // A mistake in the second manifest, named as one (not a runtime failure).
    assert_eq!(err.kind(), ErrorKind::Manifest, "{err}");
    let text = err.to_string();
    assert!(text.contains("two/plugin.toml: plugin.name: the name 'same' is already used by the plugin in"), "{text}");
    assert!(text.ends_with("one; plugin names must be unique: rename one of them"), "{text}");
}

#[test]
fn disable_enable_and_unload() {
    let dir = TempDir::new().unwrap();
    add_plugin(dir.path(), "echo", "echo", ECHO, "");
    let m = manager();
    m.load_dir(dir.path()).unwrap();
    m.disable("echo").unwrap();
    assert_eq!(m.info("echo").unwrap().state, PluginState::Disabled);
    let err = m.handle("echo", "echo", b"x").unwrap_err();
    assert!(matches!(err, Error::Unavailable { state: PluginState::Disabled, .. }), "{err:?}");
    m.enable("echo").unwrap();
    assert_eq!(m.handle("echo", "echo", b"x").unwrap(), b"x");

    let plugin = m.plugin("echo").unwrap();
    m.unload("echo").unwrap();
    assert_eq!(m.handle("echo", "echo", b"x").unwrap_err().kind(), ErrorKind::UnknownPlugin);
    assert!(m.names().is_empty());
    // The unloaded version is shut down once drained; a holder of it can
    // still call it (a new instance is made and not pooled).
    assert!(plugin.drain(Duration::from_secs(5)));
    for _ in 0..100 {
        if plugin.live_instances() == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(plugin.live_instances(), 0, "the retired version's instances are shut down");
    assert_eq!(plugin.handle("echo", b"late").unwrap(), b"late");
    assert_eq!(plugin.live_instances(), 0, "instances of a shut-down version are not pooled");
}

#[test]
fn reload_failure_keeps_the_old_version() {
    let dir = TempDir::new().unwrap();
    add_plugin(dir.path(), "echo", "echo", ECHO, "[config]\nv = \"1\"");
    let m = manager();
    m.load_dir(dir.path()).unwrap();
    let folder = dir.path().join("echo");
    std::fs::write(folder.join("broken.wasm"), b"\0asm garbage").unwrap();
    for (component, extra, kind) in [
        ("broken.wasm", "", ErrorKind::InvalidComponent),
        ("plugin.wasm", "[config]\nfail-init = \"true\"", ErrorKind::InitFailed),
        ("missing.wasm", "", ErrorKind::Io),
        ("plugin.wasm", "[limits]\nmemory = \"lots\"", ErrorKind::Manifest),
    ] {
        write_manifest(&folder, "echo", "2.0.0", component, extra);
        let err = m.reload("echo").unwrap_err();
        assert_eq!(err.kind(), kind, "{err}");
        assert_eq!(m.handle("echo", "config", b"").unwrap(), br#"{"v":"1"}"#, "old version serves");
        let info = m.info("echo").unwrap();
        assert_eq!((info.state, info.version), (PluginState::Running, Some(semver::Version::new(1, 0, 0))));
    }
    write_manifest(&folder, "renamed", "2.0.0", "plugin.wasm", "");
    assert!(m.reload("echo").unwrap_err().to_string().contains("cannot rename"));

    write_manifest(&folder, "echo", "2.0.0", "plugin.wasm", "[config]\nv = \"2\"");
    m.reload("echo").unwrap();
    assert_eq!(m.handle("echo", "config", b"").unwrap(), br#"{"v":"2"}"#);
    let info = m.info("echo").unwrap();
    assert_eq!(info.version, Some(semver::Version::new(2, 0, 0)));
    assert_eq!((info.stats.reloads, info.stats.reload_failures), (1, 5));
}

#[test]
fn reload_storm_drops_no_call() {
    let dir = TempDir::new().unwrap();
    add_plugin(dir.path(), "echo", "echo", ECHO, "[config]\nversion = \"0\"\ncheck = \"0\"");
    let folder = dir.path().join("echo");
    std::fs::write(folder.join("broken.wasm"), b"not wasm").unwrap();
    let m = manager();
    m.load_dir(dir.path()).unwrap();

    let callers = ConfigCallers::start(&m, 3);

    let mut good = 0;
    for i in 1..=100u64 {
        let broken = i % 10 == 0;
        match i % 20 {
            0 => write_manifest(&folder, "echo", "1.0.0", "broken.wasm", "[config]\nversion = \"broken\""),
            10 => write_manifest(&folder, "echo", "1.0.0", "plugin.wasm", "[config]\nfail-init = \"true\""),
            _ => write_manifest(
                &folder,
                "echo",
                &format!("1.0.{i}"),
                "plugin.wasm",
                &format!("[config]\nversion = \"{i}\"\ncheck = \"{i}\""),
            ),
        }
        assert_eq!(m.reload("echo").is_err(), broken, "reload {i}");
        good += u64::from(!broken);
    }
    let calls = callers.finish();
    assert!(calls > 100, "callers made progress: {calls}");
    let stats = m.info("echo").unwrap().stats;
    assert_eq!((stats.reloads, stats.reload_failures), (good, 10));
    assert_eq!(m.handle("echo", "config", b"").unwrap(), br#"{"check":"99","version":"99"}"#);
}

/// A folder rewritten to hold a plugin of another name whose component is
/// broken: the new plugin never goes live and the old one keeps serving, as
/// after any failed reload; once fixed, the new one replaces it.
#[test]
fn a_folder_renamed_to_a_broken_plugin_keeps_the_old_one_serving() {
    let dir = TempDir::new().unwrap();
    add_plugin(dir.path(), "p", "old-name", ECHO, "");
    let log = dir.path().join("audit.jsonl");
    let m = audited(&log);
    m.load_dir(dir.path()).unwrap();
    let folder = dir.path().join("p");
    std::fs::write(folder.join("broken.wasm"), b"\0asm\x0d\x00\x01\x00 not a component").unwrap();
    write_manifest(&folder, "new-name", "2.0.0", "broken.wasm", "");

    let err = m.sync_folder(&folder).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidComponent, "{err}");
    assert_eq!(m.names(), ["old-name"]);
    assert_eq!(m.handle("old-name", "echo", b"still").unwrap(), b"still");
    assert_eq!(m.info("old-name").unwrap().stats.reload_failures, 1);
    // The same for a new name that is already taken.
    add_plugin(dir.path(), "other", "taken", ECHO, "");
    m.load(dir.path().join("other")).unwrap();
    write_manifest(&folder, "taken", "2.0.0", "plugin.wasm", "");
    assert_eq!(m.sync_folder(&folder).unwrap_err().kind(), ErrorKind::Manifest);
    assert_eq!(m.handle("old-name", "echo", b"still").unwrap(), b"still");

    write_manifest(&folder, "new-name", "2.0.0", "plugin.wasm", "");
    assert_eq!(m.sync_folder(&folder).unwrap(), warden::SyncAction::Loaded("new-name".into()));
    assert_eq!(m.names(), ["new-name", "taken"]);
    assert_eq!(m.handle("new-name", "echo", b"new").unwrap(), b"new");

    let lines = audit_lines(&log);
    let failed = lines.iter().find(|l| l["event"] == "reload-failed").expect("the failed rename is audited");
    assert_eq!((&failed["plugin"], &failed["renamed-to"]), (&"old-name".into(), &"new-name".into()));
    assert_eq!(failed["serving"], "1.0.0");
    let tail: Vec<(&str, &str)> = lines[lines.len() - 2..]
        .iter()
        .map(|l| (l["event"].as_str().unwrap(), l["plugin"].as_str().unwrap()))
        .collect();
    assert_eq!(tail, [("loaded", "new-name"), ("unloaded", "old-name")]);
}

/// A reload that changes only the manifest's grants keeps version and hash;
/// the audit line says what was granted and withdrawn, and which limits
/// changed.
#[test]
fn reloads_audit_granted_and_withdrawn_permissions() {
    let dir = TempDir::new().unwrap();
    add_plugin(dir.path(), "echo", "echo", ECHO, "[permissions]\nenv = [\"HOME\"]\npublish = [\"a.*\"]");
    let log = dir.path().join("audit.jsonl");
    let m = audited(&log);
    m.load_dir(dir.path()).unwrap();
    write_manifest(
        &dir.path().join("echo"),
        "echo",
        "1.0.0",
        "plugin.wasm",
        "[permissions]\npublish = [\"a.*\"]\nkey-value = true\nnetwork = [\"https://api.example.com\"]\n[limits]\ntimeout = \"250ms\"",
    );
    m.reload("echo").unwrap();
    let lines = audit_lines(&log);
    let (loaded, reloaded) = (&lines[0], &lines[1]);
    assert_eq!(loaded["event"], "loaded");
    assert_eq!(loaded["grants"], serde_json::json!(["env: HOME", "publish: a.*"]));
    assert_eq!(reloaded["event"], "reloaded");
    assert_eq!((&reloaded["version"], &reloaded["previous"]), (&"1.0.0".into(), &"1.0.0".into()));
    assert_eq!(reloaded["sha256"], reloaded["previous_sha256"]);
    assert_eq!(reloaded["granted"], serde_json::json!(["key-value", "network: https://api.example.com"]));
    assert_eq!(reloaded["withdrawn"], serde_json::json!(["env: HOME"]));
    assert_eq!(reloaded["limits"], serde_json::json!({ "timeout": { "from": "1s", "to": "250ms" } }));
}

#[test]
fn repeated_traps_back_off_then_recover() {
    let dir = TempDir::new().unwrap();
    add_plugin(dir.path(), "bad", "bad", MALICIOUS, "");
    add_plugin(dir.path(), "good", "good", ECHO, "");
    let m = PluginManager::builder(runtime().clone())
        .trap_threshold(3)
        .trap_window(Duration::from_secs(60))
        .backoff(Duration::from_millis(300))
        .build()
        .unwrap();
    m.load_dir(dir.path()).unwrap();
    for _ in 0..3 {
        assert_eq!(m.handle("bad", "panic", b"x").unwrap_err().kind(), ErrorKind::Trap);
    }
    let info = m.info("bad").unwrap();
    assert_eq!(info.state, PluginState::BackingOff);
    assert!(info.backoff_remaining.is_some_and(|d| d <= Duration::from_millis(300)));
    let err = m.handle("bad", "ping", b"").unwrap_err();
    assert!(matches!(err, Error::Unavailable { state: PluginState::BackingOff, .. }), "{err:?}");
    assert!(err.to_string().contains("backing off"), "{err}");
    // Other plugins are not affected.
    assert_eq!(m.handle("good", "echo", b"fine").unwrap(), b"fine");

    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(m.handle("bad", "ping", b"").unwrap(), b"pong");
    assert_eq!(m.info("bad").unwrap().state, PluginState::Running);
    // Back from fresh instances: state from before the back-off is gone.
    assert_eq!(m.handle("bad", "count", b"").unwrap(), b"1");
    // Plugin errors (not traps) never trigger a back-off.
    for _ in 0..5 {
        assert_eq!(m.handle("bad", "no-such-action", b"").unwrap_err().kind(), ErrorKind::Plugin);
    }
    assert_eq!(m.info("bad").unwrap().state, PluginState::Running);
}

#[test]
fn stats_count_calls_errors_fuel_and_memory() {
    let dir = TempDir::new().unwrap();
    add_plugin(dir.path(), "m", "m", MALICIOUS, "[limits]\nfuel = 100000000\ntimeout = \"10s\"");
    let m = manager();
    m.load_dir(dir.path()).unwrap();
    for _ in 0..10 {
        m.handle("m", "ping", b"").unwrap();
    }
    m.handle("m", "loop", b"").unwrap_err();
    m.handle("m", "nope", b"").unwrap_err();
    let s = m.info("m").unwrap().stats;
    assert_eq!(s.calls, 12);
    assert_eq!(s.errors, [(ErrorKind::OutOfFuel, 1), (ErrorKind::Plugin, 1)]);
    assert_eq!((s.errors_total, s.traps, s.timeouts), (2, 1, 0));
    assert!(s.fuel_consumed >= 100_000_000, "{}", s.fuel_consumed);
    assert!(s.peak_memory_bytes >= 64 << 10, "{}", s.peak_memory_bytes);
    assert!(s.latency.p50 > Duration::ZERO && s.latency.p50 <= s.latency.p99 && s.latency.p99 <= s.latency.max);
    assert_eq!(s.instances, 1);
    assert_eq!(s.last_error.unwrap().kind, ErrorKind::Plugin);
}

#[test]
fn health_checks_record_the_answer() {
    let dir = TempDir::new().unwrap();
    add_plugin(dir.path(), "o", "observer", OBSERVER, "");
    add_plugin(dir.path(), "e", "echo", ECHO, "");
    let m = manager();
    m.load_dir(dir.path()).unwrap();
    assert!(m.info("observer").unwrap().health.is_none());
    let results = m.check_health();
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|(_, r)| matches!(r, Ok(HealthStatus::Healthy))), "{results:?}");
    assert!(matches!(m.info("observer").unwrap().health, Some(HealthStatus::Healthy)));
}

#[test]
fn periodic_health_checks_run_in_the_background() {
    let dir = TempDir::new().unwrap();
    add_plugin(dir.path(), "e", "echo", ECHO, "");
    let m = PluginManager::builder(runtime().clone()).health_interval(Duration::from_millis(20)).build().unwrap();
    m.load_dir(dir.path()).unwrap();
    for _ in 0..250 {
        if m.info("echo").unwrap().health.is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no health check ran within 5 s");
}

#[test]
fn async_calls_from_tokio_runtimes() {
    let dir = TempDir::new().unwrap();
    add_plugin(dir.path(), "m", "malicious", MALICIOUS, "");
    let m = manager();
    m.load_dir(dir.path()).unwrap();
    // A panicking guest writes to stderr through WASI's blocking streams;
    // through the async API that must work on both runtime flavours.
    for mut builder in [tokio::runtime::Builder::new_current_thread(), tokio::runtime::Builder::new_multi_thread()] {
        let rt = builder.enable_all().build().unwrap();
        rt.block_on(async {
            assert_eq!(m.handle_async("malicious", "ping", Vec::new()).await.unwrap(), b"pong");
            let err = m.handle_async("malicious", "panic", b"async".to_vec()).await.unwrap_err();
            assert!(err.to_string().contains("malicious panic: async"), "{err}");
            let many = (0..8).map(|_| {
                let m = m.clone();
                async move { m.handle_async("malicious", "ping", Vec::new()).await }
            });
            for r in futures_join(many).await {
                assert_eq!(r.unwrap(), b"pong");
            }
            let out = m.call_async("malicious", |p| p.handle("count", b"")).await.unwrap();
            assert!(!out.is_empty());
        });
    }
}

/// Awaits every future concurrently (spawned on the current runtime).
async fn futures_join<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[test]
fn audit_log_records_security_events_as_json_lines() {
    let dir = TempDir::new().unwrap();
    add_plugin(dir.path(), "echo", "echo", ECHO, "");
    add_plugin(dir.path(), "bad", "bad", MALICIOUS, "[limits]\ntimeout = \"50ms\"");
    add_plugin(dir.path(), "broken", "broken", ECHO, "[config]\nfail-init = \"true\"");
    let log = dir.path().join("audit.jsonl");
    let m = PluginManager::builder(runtime().clone())
        .audit(warden::AuditSink::File(log.clone()))
        .trap_threshold(2)
        .build()
        .unwrap();
    m.load_dir(dir.path()).unwrap();
    let mut req = warden::Request::new(http::Method::GET, "/modify".parse().unwrap());
    let denied = m.call("echo", |p| p.on_request(&warden::CallContext::new("1"), &mut req)).unwrap_err();
    assert_eq!(denied.kind(), ErrorKind::CapabilityDenied);
    assert!(req.headers.is_empty(), "the refused change is not made: {:?}", req.headers);
    m.handle("bad", "loop", b"").unwrap_err();
    m.handle("bad", "loop", b"").unwrap_err();
    write_manifest(&dir.path().join("echo"), "echo", "1.1.0", "plugin.wasm", "");
    m.reload("echo").unwrap();
    write_manifest(&dir.path().join("echo"), "echo", "1.2.0", "missing.wasm", "");
    m.reload("echo").unwrap_err();
    m.disable("echo").unwrap();
    m.unload("echo").unwrap();

    let lines = audit_lines(&log);
    let events: Vec<(&str, &str)> =
        lines.iter().map(|l| (l["event"].as_str().unwrap(), l["plugin"].as_str().unwrap())).collect();
    assert_eq!(
        events,
        [
            ("loaded", "bad"),
            ("load-failed", "broken"),
            ("loaded", "echo"),
            ("capability-denied", "echo"),
            ("limit-hit", "bad"),
            ("limit-hit", "bad"),
            ("backoff", "bad"),
            ("reloaded", "echo"),
            ("reload-failed", "echo"),
            ("disabled", "echo"),
            ("unloaded", "echo"),
        ]
    );
    assert!(lines.iter().all(|l| l["ts"].as_str().is_some_and(|t| t.len() == 24 && t.ends_with('Z'))));
    assert_eq!(lines[0]["version"], "1.0.0");
    assert_eq!(lines[0]["sha256"].as_str().map(str::len), Some(64));
    assert_eq!((&lines[1]["kind"], &lines[1]["version"]), (&"init-failed".into(), &"1.0.0".into()));
    assert!(lines.iter().all(|l| l["version"].is_string()), "every line names the version");
    assert_eq!(lines[4]["kind"], "timeout");
    assert_eq!((&lines[7]["version"], &lines[7]["previous"]), (&"1.1.0".into(), &"1.0.0".into()));
    assert_eq!((&lines[8]["kind"], &lines[8]["serving"]), (&"io".into(), &"1.1.0".into()));
}

/// Refusals by host imports (grants and per-plugin limits) are values the
/// plugin may swallow, so the host audits them where they happen: the first
/// of each call, with the import that refused.
#[test]
fn import_refusals_are_audited_once_per_call() {
    let dir = TempDir::new().unwrap();
    let store = warden::KeyValueStore::open(dir.path().join("kv.redb")).unwrap();
    let runtime = warden::Runtime::builder()
        .cache_dir(dir.path().join("cache"))
        .key_value(store)
        .outbound_http(warden::OutboundHttp::new())
        .build()
        .unwrap();
    let plugins = dir.path().join("plugins");
    add_plugin(&plugins, "nosy", "nosy", ECHO, "");
    add_plugin(&plugins, "tight", "tight", ECHO, "[permissions]\nkey-value = true\n[limits]\nkey-value-quota = \"8B\"");
    add_plugin(&plugins, "fetcher", "fetcher", FETCHER, "[permissions]\nnetwork = [\"https://api.example.com\"]");
    let log = dir.path().join("audit.jsonl");
    let m = PluginManager::builder(runtime).audit(warden::AuditSink::File(log.clone())).build().unwrap();
    let report = m.load_dir(&plugins).unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);

    let code = |r: Result<Vec<u8>, Error>| match r {
        Err(Error::Plugin { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(code(m.handle("nosy", "kv-get", b"k")), "capability-denied");
    // A plugin that swallows refusals in a loop gets one line per call.
    assert_eq!(m.handle("nosy", "kv-retry", b"50").unwrap(), b"50");
    assert_eq!(code(m.handle("nosy", "publish", b"orders.created hi")), "capability-denied");
    assert_eq!(code(m.handle("nosy", "call", b"tight ping")), "capability-denied");
    assert_eq!(code(m.handle("tight", "kv-set", b"key=123456789")), "quota-exceeded");
    let fetch = serde_json::json!({ "url": "https://evil-example.com/" }).to_string();
    assert_eq!(code(m.handle("fetcher", "fetch", fetch.as_bytes())), "capability-denied");
    // Not audited: the plugin's own mistake, and a call that was allowed.
    assert_eq!(code(m.handle("tight", "kv-get", b"")), "invalid-key");
    m.handle("tight", "kv-set", b"a=1").unwrap();

    let lines = audit_lines(&log);
    let refusals: Vec<(&str, &str, &str, &str)> = lines
        .iter()
        .filter(|l| l["import"].is_string())
        .map(|l| {
            let s = |k: &str| l[k].as_str().unwrap();
            (s("event"), s("plugin"), s("import"), s("kind"))
        })
        .collect();
    assert_eq!(
        refusals,
        [
            ("capability-denied", "nosy", "keyvalue.get", "capability-denied"),
            ("capability-denied", "nosy", "keyvalue.get", "capability-denied"),
            ("capability-denied", "nosy", "messaging.publish", "capability-denied"),
            ("capability-denied", "nosy", "plugins.call", "capability-denied"),
            ("limit-hit", "tight", "keyvalue.set", "quota-exceeded"),
            ("capability-denied", "fetcher", "outbound-http.fetch", "capability-denied"),
        ]
    );
    let first = lines.iter().find(|l| l["import"].is_string()).unwrap();
    assert_eq!(first["version"], "1.0.0");
    assert!(first["error"].as_str().unwrap().contains("add `key-value = true` to [permissions]"), "{first}");
    assert_eq!(lines.len(), 3 + refusals.len(), "three `loaded` lines and the refusals only:\n{lines:#?}");
}

/// Adds a plugin folder with `[dependencies]`.
fn add_dependent(dir: &Path, name: &str, version: &str, wasm: &str, deps: &str, extra: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(&path).unwrap();
    std::fs::copy(wasm, path.join("plugin.wasm")).unwrap();
    write_manifest(&path, name, version, "plugin.wasm", &format!("{extra}\n[dependencies]\n{deps}"));
}

#[test]
fn plugins_call_their_dependencies_only() {
    let dir = TempDir::new().unwrap();
    // Folder names sort the dependent first: load order must follow the dependencies.
    add_dependent(dir.path(), "a-caller", "1.0.0", ECHO, "z-callee = \"^1.2\"", "");
    add_dependent(dir.path(), "z-callee", "1.4.0", MALICIOUS, "", "[limits]\ntimeout = \"50ms\"");
    let m = manager();
    let report = m.load_dir(dir.path()).unwrap();
    assert_eq!(report.loaded, ["z-callee", "a-caller"], "{:?}", report.failed);

    assert_eq!(m.handle("a-caller", "call", b"z-callee ping").unwrap(), b"pong");
    assert_eq!(m.handle("a-caller", "call", b"z-callee count").unwrap(), b"1");
    assert_eq!(m.info("z-callee").unwrap().stats.calls, 2, "the callee's own stats count the calls");

    // The callee's limits apply, and its error comes back typed.
    let err = m.handle("a-caller", "call", b"z-callee loop").unwrap_err();
    match &err {
        Error::Plugin { plugin, code, message, .. } => {
            assert_eq!((plugin.as_str(), code.as_str()), ("a-caller", "timeout"));
            assert!(message.contains("plugin 'z-callee' exceeded its 50 ms timeout"), "{message}");
        }
        other => panic!("expected the caller's plugin error, got {other:?}"),
    }
    assert_eq!(m.info("z-callee").unwrap().stats.timeouts, 1);

    // Only declared dependencies can be called.
    let err = m.handle("a-caller", "call", b"a-caller ping").unwrap_err();
    assert!(matches!(&err, Error::Plugin { code, .. } if code == "capability-denied"), "{err:?}");
    assert!(err.to_string().contains("may only call the plugins in its [dependencies] (z-callee)"), "{err}");

    // A plugin loaded on its own (no manager) cannot call anyone.
    let alone = runtime().load(dir.path().join("a-caller")).unwrap();
    let err = alone.handle("call", b"z-callee ping").unwrap_err();
    assert!(matches!(&err, Error::Plugin { code, .. } if code == "unavailable"), "{err:?}");
}

#[test]
fn a_dependency_call_ends_at_its_callers_deadline() {
    let dir = TempDir::new().unwrap();
    add_dependent(dir.path(), "a-caller", "1.0.0", ECHO, "z-callee = \"^1\"", "[limits]\ntimeout = \"300ms\"");
    add_dependent(dir.path(), "z-callee", "1.0.0", MALICIOUS, "", "[limits]\ntimeout = \"30s\"");
    // Two traps put a plugin into back-off: both calls below trap twice.
    let m = PluginManager::builder(runtime().clone()).trap_threshold(2).build().unwrap();
    let report = m.load_dir(dir.path()).unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);

    // The callee spins, and sleeps, no longer than the caller may run.
    for action in ["z-callee loop", "z-callee sleep 20000"] {
        let start = std::time::Instant::now();
        let err = m.handle("a-caller", "call", action.as_bytes()).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(5), "{action}: took {:?}", start.elapsed());
        match &err {
            Error::Timeout { plugin, timeout, by_caller: false, .. } => {
                assert_eq!((plugin.as_str(), *timeout), ("a-caller", Duration::from_millis(300)), "{action}");
            }
            other => panic!("{action}: expected the caller's timeout, got {other:?}"),
        }
    }
    // The caller ran out of time, not the callee: only the caller backs off.
    assert_eq!(m.info("a-caller").unwrap().state, PluginState::BackingOff);
    assert_eq!(m.info("z-callee").unwrap().state, PluginState::Running);
    assert_eq!(m.handle("z-callee", "ping", b"").unwrap(), b"pong");
}

#[test]
fn missing_incompatible_and_cyclic_dependencies_are_refused() {
    let dir = TempDir::new().unwrap();
    add_dependent(dir.path(), "base", "1.0.0", MALICIOUS, "", "");
    add_dependent(dir.path(), "needs-ghost", "1.0.0", ECHO, "ghost = \"^1\"", "");
    add_dependent(dir.path(), "needs-base-2", "1.0.0", ECHO, "base = \"^2\"", "");
    add_dependent(dir.path(), "cycle-a", "1.0.0", ECHO, "cycle-b = \"*\"", "");
    add_dependent(dir.path(), "cycle-b", "1.0.0", ECHO, "cycle-a = \"*\"", "");
    add_dependent(dir.path(), "on-cycle", "1.0.0", ECHO, "cycle-a = \"*\"", "");
    let m = manager();
    let report = m.load_dir(dir.path()).unwrap();
    assert_eq!(report.loaded, ["base"]);
    let errors: BTreeMap<String, String> = report
        .failed
        .iter()
        .map(|(d, e)| {
            assert_eq!(e.kind(), ErrorKind::Dependency, "{e}");
            (d.file_name().unwrap().to_string_lossy().into_owned(), e.to_string())
        })
        .collect();
    assert_eq!(
        errors["needs-ghost"],
        "plugin 'needs-ghost' depends on 'ghost' ^1, but no plugin of that name is loaded; add its folder or remove the dependency"
    );
    assert_eq!(
        errors["needs-base-2"],
        "plugin 'needs-base-2' depends on 'base' ^2, but the loaded version is 1.0.0; change the requirement or the plugin"
    );
    assert!(errors["cycle-a"].contains("cycle (cycle-a -> cycle-b -> cycle-a)"), "{}", errors["cycle-a"]);
    assert!(errors["cycle-b"].contains("cycle (cycle-b -> cycle-a -> cycle-b)"), "{}", errors["cycle-b"]);
    assert!(errors["on-cycle"].contains("cycle (cycle-a -> cycle-b -> cycle-a)"), "{}", errors["on-cycle"]);
    assert_eq!(m.info("cycle-a").unwrap().state, PluginState::Failed);
}

#[test]
fn a_reload_that_breaks_a_dependent_is_refused() {
    let dir = TempDir::new().unwrap();
    add_dependent(dir.path(), "lib", "1.0.0", MALICIOUS, "", "");
    add_dependent(dir.path(), "app", "1.0.0", ECHO, "lib = \"^1\"", "");
    let m = manager();
    assert_eq!(m.load_dir(dir.path()).unwrap().loaded, ["lib", "app"]);
    write_manifest(&dir.path().join("lib"), "lib", "2.0.0", "plugin.wasm", "");
    let err = m.reload("lib").unwrap_err();
    assert_eq!(
        err.to_string(),
        "plugin 'app' depends on 'lib' ^1, but the new version is 2.0.0; keep a compatible version or update 'app' first"
    );
    assert_eq!(m.info("lib").unwrap().version, Some(semver::Version::new(1, 0, 0)));
    assert_eq!(m.handle("app", "call", b"lib ping").unwrap(), b"pong");
    write_manifest(&dir.path().join("lib"), "lib", "1.1.0", "plugin.wasm", "");
    m.reload("lib").unwrap();
    assert_eq!(m.handle("app", "call", b"lib ping").unwrap(), b"pong");
}

#[test]
fn reentrant_calls_are_refused_not_deadlocked() {
    let dir = TempDir::new().unwrap();
    add_dependent(dir.path(), "b", "1.0.0", ECHO, "", "[limits]\nmax-instances = 1");
    add_dependent(dir.path(), "a", "1.0.0", ECHO, "b = \"^1\"", "[limits]\nmax-instances = 1");
    let m = manager();
    assert_eq!(m.load_dir(dir.path()).unwrap().loaded, ["b", "a"]);
    // Reloading b with a dependency back on a (a is running) closes a loop
    // at run time: a -> b -> a.
    write_manifest(
        &dir.path().join("b"),
        "b",
        "1.0.1",
        "plugin.wasm",
        "[limits]\nmax-instances = 1\n[dependencies]\na = \"^1\"",
    );
    m.reload("b").unwrap();
    let err = m.handle("a", "call", b"b call a echo hi").unwrap_err();
    let text = err.to_string();
    assert!(text.contains("reentrant-call") && text.contains("already in this call chain"), "{text}");
    // Both still serve.
    assert_eq!(m.handle("a", "call", b"b echo ok").unwrap(), b"ok");
}

#[test]
fn a_lazy_manager_builds_each_plugin_on_its_first_call() {
    let dir = TempDir::new().unwrap();
    add_plugin(dir.path(), "echo", "echo", ECHO, "");
    add_plugin(dir.path(), "bad-init", "bad-init", ECHO, "[config]\nfail-init = \"true\"");
    // Not a component at all: a lazy load does not read it.
    let broken = dir.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("plugin.wasm"), b"not wasm").unwrap();
    write_manifest(&broken, "broken", "1.0.0", "plugin.wasm", "");
    // With a dependency: loads at once, and wakes its dependency.
    add_dependent(dir.path(), "caller", "1.0.0", ECHO, "callee = \"*\"", "");
    add_dependent(dir.path(), "callee", "1.0.0", MALICIOUS, "", "");
    let log = TempDir::new().unwrap();
    let log = log.path().join("audit.jsonl");
    let m = PluginManager::builder(runtime().clone())
        .lazy(true)
        .audit(warden::AuditSink::File(log.clone()))
        .build()
        .unwrap();
    let report = m.load_dir(dir.path()).unwrap();
    assert!(report.failed.is_empty(), "nothing is built yet: {:?}", report.failed);
    let state = |name: &str| m.info(name).unwrap().state;
    assert_eq!(state("caller"), PluginState::Running, "a plugin with dependencies loads eagerly");
    assert_eq!(state("callee"), PluginState::Running, "and its dependency with it");
    for name in ["echo", "bad-init", "broken"] {
        assert_eq!(state(name), PluginState::Idle, "{name}");
        assert_eq!(m.info(name).unwrap().version, None, "{name} is not built");
    }

    // The first call builds the plugin; later calls find it running.
    assert_eq!(m.handle("echo", "echo", b"hi").unwrap(), b"hi");
    assert_eq!((state("echo"), m.info("echo").unwrap().stats.calls), (PluginState::Running, 1));
    assert_eq!(m.handle("echo", "echo", b"again").unwrap(), b"again");

    // A plugin that cannot build fails its first call, typed, and stays failed.
    let err = m.handle("bad-init", "echo", b"x").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InitFailed, "{err}");
    assert_eq!(state("bad-init"), PluginState::Failed);
    let err = m.handle("bad-init", "echo", b"x").unwrap_err();
    assert!(err.to_string().contains("failed to load (") && err.to_string().contains("fail-init requested"), "{err}");
    assert_eq!(m.handle("broken", "echo", b"x").unwrap_err().kind(), ErrorKind::InvalidComponent);

    // Disabled while idle, it comes back idle and builds on its next call.
    add_plugin(dir.path(), "later", "later", ECHO, "");
    m.load(dir.path().join("later")).unwrap();
    m.disable("later").unwrap();
    assert_eq!(m.handle("later", "echo", b"x").unwrap_err().kind(), ErrorKind::Unavailable);
    m.enable("later").unwrap();
    assert_eq!(state("later"), PluginState::Idle);
    assert_eq!(m.handle("later", "echo", b"x").unwrap(), b"x");

    let events: Vec<(String, String)> = audit_lines(&log)
        .iter()
        .filter(|l| l["plugin"] == "echo")
        .map(|l| (l["event"].as_str().unwrap().to_owned(), l["lazy"].to_string()))
        .collect();
    assert_eq!(events, [("registered".into(), "true".into()), ("loaded".into(), "null".into())], "{events:?}");
}
