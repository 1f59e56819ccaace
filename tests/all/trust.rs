//! The trust policy as a manager's admission: on every load and reload,
//! a plugin signed by a trusted key runs as its manifest asks, one signed
//! at the `untrusted` level gets tighter limits and no network whatever its
//! manifest asks (and its calls out are really refused), unknown keys,
//! unsigned folders and folders changed after signing are refused with the
//! old version serving on, and every decision is in the audit log.

use std::path::Path;

use serde_json::Value;
use warden::{ErrorKind, PluginManager};
use warden_dist::{SecretKey, TrustPolicy, Unsigned};
use warden_fixtures::FETCHER;

use crate::common::runtime;

fn folder(plugins: &Path, name: &str, extra: &str) {
    let dir = plugins.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(FETCHER, dir.join("plugin.wasm")).unwrap();
    let toml = format!(
        "[plugin]\nname = \"{name}\"\nversion = \"1.0.0\"\ncomponent = \"plugin.wasm\"\n[permissions]\nnetwork = [\"http://127.0.0.1:9\"]\n{extra}"
    );
    std::fs::write(dir.join("plugin.toml"), toml).unwrap();
}

fn audit(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn trust_levels_limit_refuse_and_audit_every_load() {
    let root = tempfile::tempdir().unwrap();
    let plugins = root.path().join("plugins");
    let (release, community, stranger) = (SecretKey::generate(), SecretKey::generate(), SecretKey::generate());
    folder(&plugins, "official", "[limits]\nmemory = \"128MiB\"\n");
    folder(&plugins, "community", "[limits]\nmemory = \"128MiB\"\n");
    folder(&plugins, "stranger", "");
    folder(&plugins, "unsigned", "");
    warden_dist::sign_dir(&plugins.join("official"), &release, None).unwrap();
    warden_dist::sign_dir(&plugins.join("community"), &community, None).unwrap();
    warden_dist::sign_dir(&plugins.join("stranger"), &stranger, None).unwrap();

    let policy =
        TrustPolicy::new().trust(release.public(), "trusted").unwrap().trust(community.public(), "untrusted").unwrap();
    let log = root.path().join("audit.log");
    // A host that offers outbound HTTP: the level, not the host, withdraws it.
    let host = warden::Runtime::builder().outbound_http(warden::OutboundHttp::new()).build().unwrap();
    let manager =
        PluginManager::builder(host).audit(warden::AuditSink::File(log.clone())).admission(policy).build().unwrap();
    let report = manager.load_dir(&plugins).unwrap();
    assert_eq!(report.loaded, ["community", "official"]);
    let failed: Vec<(String, String)> = report
        .failed
        .iter()
        .map(|(dir, e)| {
            assert_eq!(e.kind(), ErrorKind::NotAdmitted, "{e}");
            (dir.file_name().unwrap().to_string_lossy().into_owned(), e.to_string())
        })
        .collect();
    assert!(failed[0].0 == "stranger" && failed[0].1.contains("which is not trusted"), "{failed:?}");
    assert!(failed[1].0 == "unsigned" && failed[1].1.contains("is not signed"), "{failed:?}");

    let official = manager.plugin("official").unwrap();
    assert_eq!(official.limits().memory_bytes, 128 << 20, "a trusted plugin gets what it asks");
    assert_eq!(official.manifest().permissions.network.len(), 1);
    let community_plugin = manager.plugin("community").unwrap();
    assert_eq!(community_plugin.limits().memory_bytes, 32 << 20, "capped by its level");
    assert!(community_plugin.manifest().permissions.network.is_empty());
    // The withdrawn permission is really gone: its calls out are refused.
    let out = community_plugin.handle("fetch", br#"{"url":"http://127.0.0.1:9/"}"#);
    match out {
        Err(warden::Error::Plugin { code, message, .. }) => assert_eq!(code, "capability-denied", "{message}"),
        other => panic!("expected a capability-denied refusal, got {other:?}"),
    }

    // Changed after signing: the reload is refused, the signed version serves on.
    let toml = plugins.join("official/plugin.toml");
    std::fs::write(&toml, std::fs::read_to_string(&toml).unwrap() + "[config]\nx = \"1\"\n").unwrap();
    let e = manager.reload("official").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotAdmitted);
    assert!(e.to_string().contains("plugin.toml is not what was signed"), "{e}");
    assert!(manager.plugin("official").is_ok(), "the signed version keeps serving");

    // An unchanged folder is not admitted again; a new signature is a
    // change: signed again by the release key, the plugin gets its limits.
    let admitted_before = audit(&log).iter().filter(|e| e["event"] == "admitted").count();
    assert_eq!(manager.sync_folder(plugins.join("community")).unwrap(), warden::SyncAction::Unchanged);
    assert_eq!(audit(&log).iter().filter(|e| e["event"] == "admitted").count(), admitted_before);
    warden_dist::sign_dir(&plugins.join("community"), &release, None).unwrap();
    assert!(matches!(manager.sync_folder(plugins.join("community")).unwrap(), warden::SyncAction::Reloaded(_)));
    assert_eq!(manager.plugin("community").unwrap().limits().memory_bytes, 128 << 20, "now at the trusted level");

    // A folder renamed to another plugin is a new load: admitted or not.
    let renamed = plugins.join("community/plugin.toml");
    let text = std::fs::read_to_string(&renamed).unwrap().replace("name = \"community\"", "name = \"sneaky\"");
    std::fs::write(&renamed, text).unwrap();
    let e = manager.sync_folder(plugins.join("community")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotAdmitted, "{e}");
    assert!(manager.plugin("sneaky").is_err() && manager.plugin("community").is_ok());

    // A lenient policy loads unsigned folders at a level.
    let lenient = TrustPolicy::new().unsigned(Unsigned::Level("untrusted".into())).unwrap();
    let other = PluginManager::builder(runtime().clone()).admission(lenient).build().unwrap();
    other.load(plugins.join("unsigned")).unwrap();
    assert_eq!(other.plugin("unsigned").unwrap().limits().memory_bytes, 32 << 20);

    let events = audit(&log);
    let admitted: Vec<&Value> = events.iter().filter(|e| e["event"] == "admitted").collect();
    let community_event = admitted.iter().find(|e| e["plugin"] == "community").unwrap(); // the first
    assert_eq!(community_event["level"], "untrusted");
    assert_eq!(community_event["key"], community.public().id());
    assert_eq!(community_event["tightened"]["withdrawn"], serde_json::json!(["network"]));
    let refused: Vec<&str> =
        events.iter().filter(|e| e["event"] == "refused").map(|e| e["plugin"].as_str().unwrap()).collect();
    assert_eq!(refused, ["stranger", "unsigned", "official", "sneaky"]);
}
