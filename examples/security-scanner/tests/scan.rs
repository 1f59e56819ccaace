//! The scanner host with its real plugins (built from source by
//! `warden-fixtures`), loaded from plugin folders written to temp dirs:
//! what each grant lets a plugin do, what is refused and audited, and which
//! manifests fail to load.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use security_scanner::system::NEVER_GRANTED;
use security_scanner::{Artifact, Keyring, SEALING_KEY_ID, ScanReport, Severity};
use serde_json::Value;
use tempfile::TempDir;
use warden::{AuditSink, PluginManager, Runtime};

const PASSWORD: &[u8] = b"hunter2";
const AWS_KEY: &[u8] = b"AKIAIOSFODNN7EXAMPLE";
const PRIVATE_KEY: &[u8] = b"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----";

/// A file with one secret of each kind, on lines 3, 4 and 5.
fn artifact() -> Artifact {
    let mut content = b"# app config\nuser = admin\npassword = \"hunter2\"\naws_access_key_id = ".to_vec();
    content.extend_from_slice(AWS_KEY);
    content.push(b'\n');
    content.extend_from_slice(PRIVATE_KEY);
    content.extend_from_slice(b"\nport = 8080\n");
    Artifact { name: "config.env".to_owned(), content }
}

/// The host's keys; the tests open sealed secrets with them.
fn keys() -> &'static Arc<Keyring> {
    static KEYS: OnceLock<Arc<Keyring>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys = Keyring::new();
        keys.insert(SEALING_KEY_ID, [0x5a; 32]);
        Arc::new(keys)
    })
}

/// One runtime per test process, with a compile cache so each plugin
/// compiles once.
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<(Runtime, TempDir)> = OnceLock::new();
    &RUNTIME
        .get_or_init(|| {
            let cache = TempDir::new().unwrap();
            let runtime = security_scanner::runtime_builder(Arc::clone(keys()))
                .cache_dir(cache.path().join("cache"))
                .build()
                .unwrap();
            (runtime, cache)
        })
        .0
}

/// A plugin folder in a temp dir: the plugin's real `plugin.toml` with its
/// component pointing at the fixture build and its `[permissions]` table
/// replaced by `permissions`. Returns the folder and the manifest text.
fn plugin_dir(plugin: &str, wasm: &str, permissions: &str) -> (TempDir, String) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins").join(plugin).join("plugin.toml");
    let original = std::fs::read_to_string(&source).unwrap();
    let mut text = String::new();
    let mut in_permissions = false;
    for line in original.lines() {
        if line.starts_with('[') {
            in_permissions = line == "[permissions]";
            if in_permissions {
                text.push_str(&format!("[permissions]\n{permissions}\n"));
                continue;
            }
        }
        if in_permissions {
            continue;
        }
        if line.starts_with("component = ") {
            text.push_str(&format!("component = {wasm:?}\n"));
        } else {
            text.push_str(line);
            text.push('\n');
        }
    }
    assert!(text.contains(&format!("[permissions]\n{permissions}\n")), "{source:?} has a [permissions] table");
    let dir = TempDir::new().unwrap();
    std::fs::write(dir.path().join("plugin.toml"), &text).unwrap();
    (dir, text)
}

/// The 1-based line of `text` that starts with `prefix`.
fn line_of(text: &str, prefix: &str) -> usize {
    text.lines().position(|l| l.starts_with(prefix)).expect("line in manifest") + 1
}

/// A manager of the test runtime writing its audit log to a temp file.
struct Host {
    manager: PluginManager,
    audit: PathBuf,
    _dir: TempDir,
}

impl Host {
    fn new() -> Host {
        let dir = TempDir::new().unwrap();
        let audit = dir.path().join("audit.jsonl");
        let manager = PluginManager::builder(runtime().clone()).audit(AuditSink::File(audit.clone())).build().unwrap();
        Host { manager, audit, _dir: dir }
    }

    /// Loads the plugin folder and returns the plugin's name.
    fn load(&self, dir: &TempDir) -> String {
        self.manager.load(dir.path()).unwrap_or_else(|e| panic!("load failed: {e}"))
    }

    fn scan(&self, name: &str, artifact: &Artifact) -> ScanReport {
        self.manager.call(name, |p| security_scanner::scan(p, artifact)).unwrap_or_else(|e| panic!("scan failed: {e}"))
    }

    /// The audit events named `event`.
    fn events(&self, event: &str) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.audit).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).filter(|e| e["event"] == event).collect()
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Fails if any secret of [`artifact`] is in `report` in clear.
fn assert_no_plaintext(report: &ScanReport) {
    let text = format!("{report:?}");
    for secret in [PASSWORD, AWS_KEY, b"MIIEvQIBADANBgkqhkiG9w0BAQEFAASC".as_slice()] {
        assert!(!text.contains(std::str::from_utf8(secret).unwrap()), "{secret:?} is in the report: {text}");
        for f in &report.findings {
            if let Some(sealed) = &f.sealed {
                assert!(!contains(&sealed.sealed, secret), "{secret:?} is in the sealed bytes");
            }
        }
    }
}

#[test]
fn sealer_with_encrypt_grant_seals_secrets_the_host_opens() {
    let host = Host::new();
    let (dir, _) = plugin_dir("secret-sealer", warden_fixtures::SECRET_SEALER, r#"crypto = ["encrypt"]"#);
    let name = host.load(&dir);
    assert_eq!(name, "secret-sealer");

    let report = host.scan(&name, &artifact());
    let found: Vec<(&str, Severity, u32)> =
        report.findings.iter().map(|f| (f.rule.as_str(), f.severity, f.line)).collect();
    assert_eq!(
        found,
        [
            ("password-assignment", Severity::High, 3),
            ("aws-access-key-id", Severity::Critical, 4),
            ("private-key", Severity::Critical, 5),
        ]
    );
    for (finding, secret) in report.findings.iter().zip([PASSWORD, AWS_KEY, PRIVATE_KEY]) {
        assert_eq!(finding.refusal, None, "{}", finding.rule);
        let sealed = finding.sealed.as_ref().unwrap_or_else(|| panic!("{} is sealed", finding.rule));
        assert_eq!(sealed.key_id, SEALING_KEY_ID);
        assert_eq!(sealed.sealed.len(), secret.len() + security_scanner::crypto::OVERHEAD);
        assert_eq!(keys().decrypt(&sealed.key_id, &sealed.sealed).unwrap(), secret, "{}", finding.rule);
    }
    assert_no_plaintext(&report);

    // Sealed twice, the same secret gives other bytes (a fresh nonce).
    let again = host.scan(&name, &artifact());
    assert_ne!(again.findings[0].sealed, report.findings[0].sealed);
    assert!(host.events("capability-denied").is_empty());
    let loaded = host.events("loaded");
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0]["grants"], serde_json::json!(["crypto: [\"encrypt\"]"]));
}

#[test]
fn sealer_without_grant_reports_capability_denied_audited_once_per_call() {
    let host = Host::new();
    let (dir, _) = plugin_dir("secret-sealer", warden_fixtures::SECRET_SEALER, "");
    let name = host.load(&dir);

    // The plugin carries on: each finding is reported, not sealed, with
    // the host's refusal, and the secret is nowhere in the report.
    for call in 1..=2 {
        let report = host.scan(&name, &artifact());
        assert_eq!(report.findings.len(), 3);
        for finding in &report.findings {
            assert_eq!(finding.sealed, None, "{}", finding.rule);
            let refusal = finding.refusal.as_ref().unwrap_or_else(|| panic!("{} has a refusal", finding.rule));
            assert_eq!(refusal.code, "capability-denied");
            assert_eq!(
                refusal.message,
                "plugin 'secret-sealer' may not call crypto.encrypt; grant it in its plugin.toml: [permissions] crypto = [\"encrypt\"]"
            );
            assert!(finding.message.ends_with("not sealed: capability-denied"), "{}", finding.message);
        }
        assert_no_plaintext(&report);

        // Three refusals in the call, one audit line.
        let denied = host.events("capability-denied");
        assert_eq!(denied.len(), call, "{denied:?}");
        let last = &denied[call - 1];
        assert_eq!(last["plugin"], "secret-sealer");
        assert_eq!(last["version"], "0.1.0");
        assert_eq!(last["import"], "crypto.encrypt");
        assert_eq!(last["kind"], "capability-denied");
    }
}

#[test]
fn decrypt_only_grant_refuses_encrypt() {
    let host = Host::new();
    let (dir, _) = plugin_dir("secret-sealer", warden_fixtures::SECRET_SEALER, r#"crypto = ["decrypt"]"#);
    let name = host.load(&dir);
    let report = host.scan(&name, &artifact());
    assert_eq!(report.findings.len(), 3);
    for finding in &report.findings {
        assert_eq!(finding.sealed, None);
        let refusal = finding.refusal.as_ref().expect("refused");
        assert_eq!(refusal.code, "capability-denied");
        // The hint keeps what is granted and adds what is missing.
        assert!(refusal.message.ends_with("[permissions] crypto = [\"encrypt\", \"decrypt\"]"), "{}", refusal.message);
    }
    let denied = host.events("capability-denied");
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0]["import"], "crypto.encrypt");
}

/// The child processes of this process, where Linux shows them (`None`
/// elsewhere).
fn child_processes() -> Option<Vec<String>> {
    let mut children = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let text = std::fs::read_to_string(task.ok()?.path().join("children")).ok()?;
        children.extend(text.split_whitespace().map(str::to_owned));
    }
    Some(children)
}

#[test]
fn shell_out_is_refused_and_no_process_is_spawned() {
    let host = Host::new();
    let (dir, _) = plugin_dir("shell-out", warden_fixtures::SHELL_OUT, "");
    let name = host.load(&dir);

    let before = child_processes();
    let report = host.scan(&name, &artifact());
    assert_eq!(child_processes(), before, "no process was started");

    assert_eq!(report.findings.len(), 1);
    let finding = &report.findings[0];
    assert_eq!(finding.rule, "shell-out-refused");
    assert_eq!(finding.severity, Severity::Info);
    let refusal = finding.refusal.as_ref().expect("refused");
    assert_eq!(refusal.code, "capability-denied");
    assert_eq!(
        refusal.message,
        "plugin 'shell-out' may not run `sh`: this host never runs commands for plugins, and no [permissions] entry grants it"
    );
    // `id` never ran: its output is nowhere.
    assert!(!format!("{report:?}").contains("uid="), "{report:?}");

    let denied = host.events("capability-denied");
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0]["plugin"], "shell-out");
    assert_eq!(denied[0]["import"], "system.execute");
}

/// Loads `dir` expecting a manifest error; returns it with the manifest
/// text.
fn manifest_error(host: &Host, dir: &TempDir) -> warden::ManifestError {
    match host.manager.load(dir.path()) {
        Err(warden::Error::Manifest(e)) => e,
        Err(other) => panic!("expected a manifest error, got: {other}"),
        Ok(name) => panic!("{name} loaded"),
    }
}

#[test]
fn execute_grant_fails_to_load() {
    let host = Host::new();
    let (dir, text) = plugin_dir("shell-out", warden_fixtures::SHELL_OUT, "execute = true");
    let e = manifest_error(&host, &dir);
    let line = line_of(&text, "execute = ");
    assert_eq!(e.key.as_deref(), Some("permissions.execute"));
    assert_eq!((e.line, e.column), (Some(line), Some("execute = ".len() + 1)));
    assert_eq!(e.file, dir.path().join("plugin.toml"));
    assert_eq!(e.message, NEVER_GRANTED);
    let shown = warden::Error::Manifest(e).to_string();
    assert!(shown.contains(&format!("plugin.toml:{line}:11")), "{shown}");
    assert!(shown.contains("permissions.execute: this host never grants execute"), "{shown}");

    let failed = host.events("load-failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["plugin"], "shell-out");
    assert_eq!(failed[0]["kind"], "manifest");

    // Any value: a list of commands is refused alike. (A fresh manager: the
    // failed plugin stays registered under its name.)
    let (dir, _) = plugin_dir("shell-out", warden_fixtures::SHELL_OUT, r#"execute = ["id"]"#);
    assert_eq!(manifest_error(&Host::new(), &dir).message, NEVER_GRANTED);
}

#[test]
fn unknown_crypto_operation_fails_to_load() {
    let host = Host::new();
    let (dir, text) = plugin_dir("secret-sealer", warden_fixtures::SECRET_SEALER, r#"crypto = ["encrypt", "sign"]"#);
    let e = manifest_error(&host, &dir);
    assert_eq!(e.key.as_deref(), Some("permissions.crypto"));
    assert_eq!(e.line, Some(line_of(&text, "crypto = ")));
    assert_eq!(
        e.message,
        r#"entry 1, "sign", is not a crypto operation; the operations are "encrypt" and "decrypt", e.g. crypto = ["encrypt"]"#
    );

    // Fresh managers: the failed plugin stays registered under its name.
    let (dir, _) = plugin_dir("secret-sealer", warden_fixtures::SECRET_SEALER, r#"crypto = ["encrypt", "encrypt"]"#);
    let e = manifest_error(&Host::new(), &dir);
    assert_eq!(e.message, r#"entry 1, "encrypt", is listed twice; list each operation once"#);
    let (dir, _) = plugin_dir("secret-sealer", warden_fixtures::SECRET_SEALER, "crypto = true");
    let e = manifest_error(&Host::new(), &dir);
    assert!(e.message.starts_with("expected a list of operations, found boolean true"), "{}", e.message);
}

#[test]
fn unclaimed_permission_fails_to_load() {
    let host = Host::new();
    let (dir, text) = plugin_dir("secret-sealer", warden_fixtures::SECRET_SEALER, "teleport = true");
    let e = manifest_error(&host, &dir);
    assert_eq!(e.key.as_deref(), Some("permissions.teleport"));
    assert_eq!(e.line, Some(line_of(&text, "teleport = ")));
    assert!(e.message.starts_with("unknown key in [permissions]; allowed keys: "), "{}", e.message);
    // The host's own keys are offered.
    assert!(e.message.contains("crypto") && e.message.contains("execute"), "{}", e.message);
}

#[test]
fn clean_artifacts_have_no_findings() {
    let host = Host::new();
    let (dir, _) = plugin_dir("secret-sealer", warden_fixtures::SECRET_SEALER, r#"crypto = ["encrypt"]"#);
    let name = host.load(&dir);
    let clean = Artifact {
        name: "main.rs".to_owned(),
        // Near misses: no value, a longer word, a key id too short, bytes
        // that are not UTF-8.
        content: b"password =\nmypassword=x\nAKIA123\n\xff\xfe\n".to_vec(),
    };
    assert_eq!(host.scan(&name, &clean).findings, []);
}

#[test]
fn unknown_key_is_refused_without_an_audit_line() {
    // A host without the sealer's key (a second runtime: its keyring is
    // fixed when it is built).
    let mut keys = Keyring::new();
    keys.insert("other", [1; 32]);
    let runtime = security_scanner::runtime(Arc::new(keys)).unwrap();
    let dir = TempDir::new().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let manager = PluginManager::builder(runtime).audit(AuditSink::File(audit.clone())).build().unwrap();
    let (plugin, _) = plugin_dir("secret-sealer", warden_fixtures::SECRET_SEALER, r#"crypto = ["encrypt"]"#);
    let name = manager.load(plugin.path()).unwrap();

    let report = manager.call(&name, |p| security_scanner::scan(p, &artifact())).unwrap();
    assert_eq!(report.findings.len(), 3);
    for finding in &report.findings {
        assert_eq!(finding.sealed, None);
        let refusal = finding.refusal.as_ref().expect("refused");
        assert_eq!(refusal.code, "unknown-key");
        assert_eq!(
            refusal.message,
            "plugin 'secret-sealer': crypto.encrypt failed: no host key has id 'scanner'; this host holds: other"
        );
    }
    assert_no_plaintext(&report);
    // The plugin's own mistake, not a missing grant: not audited.
    let text = std::fs::read_to_string(&audit).unwrap();
    assert!(!text.contains("capability-denied") && !text.contains("limit-hit"), "{text}");
}
