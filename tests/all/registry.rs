//! Plugins through a real OCI registry: Debian's `docker-registry`, started
//! by the test on 127.0.0.1 with a configuration the test writes. The whole
//! path through the real `warden` binary (keygen, sign, push, versions,
//! install, install --locked, offline from the cache, update, rollback,
//! downgrade protection), every tamper case refused with nothing installed,
//! and two `warden serve` processes sharing a real Redis that follow the
//! same registry source: both converge on a new signed version without a
//! failed request, and both refuse a version signed by an untrusted key and
//! roll back one that fails to start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;
use warden_fixtures::registry::OciRegistry;
use warden_fixtures::{ECHO, GATEWAY_GUEST};

use crate::gateway::request;
use crate::kv::RedisServer;
use crate::serve::Served;

/// A real registry (`warden_fixtures::registry`), with the raw API calls
/// the tamper cases make.
struct Registry(OciRegistry);

impl Registry {
    fn start() -> Registry {
        Registry(OciRegistry::start())
    }

    fn repo(&self, name: &str) -> String {
        format!("{}/plugins/{name}", self.0.addr())
    }

    /// A manifest, raw, with its digest.
    fn manifest(&self, repo: &str, reference: &str) -> (Vec<u8>, String) {
        let accept = [("accept", "application/vnd.oci.image.manifest.v1+json")];
        let reply = request(self.0.addr(), "GET", &format!("/v2/plugins/{repo}/manifests/{reference}"), &accept, b"");
        assert_eq!(reply.status, 200, "{repo}:{reference}");
        let digest = warden_dist::sha256_digest(&reply.body);
        (reply.body, digest)
    }

    /// Stores `manifest` as `repo:tag`, mounting the blobs it names from
    /// `from` first (as a registry operator, or an attacker holding push
    /// rights, can).
    fn put_manifest(&self, repo: &str, tag: &str, manifest: &[u8], from: &str) {
        let doc: Value = serde_json::from_slice(manifest).unwrap();
        let mut digests = vec![doc["config"]["digest"].as_str().unwrap().to_owned()];
        digests.extend(doc["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().to_owned()));
        for d in digests {
            let path = format!("/v2/plugins/{repo}/blobs/uploads/?mount={d}&from=plugins/{from}");
            let reply = request(self.0.addr(), "POST", &path, &[], b"");
            assert!(reply.status == 201 || reply.status == 202, "mount {d}: {}", reply.status);
        }
        let ct = [("content-type", "application/vnd.oci.image.manifest.v1+json")];
        let reply = request(self.0.addr(), "PUT", &format!("/v2/plugins/{repo}/manifests/{tag}"), &ct, manifest);
        assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));
    }
}

/// Runs `warden` in `dir`, with the registry cache in `dir/cache`.
fn warden(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(args)
        .current_dir(dir)
        .env("WARDEN_CACHE_DIR", dir.join("cache"))
        .env_remove("RUST_BACKTRACE")
        .env_remove("WARDEN_REGISTRY_USERNAME")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = warden(dir, args);
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    text(&out)
}

fn refused(dir: &Path, args: &[&str], code: i32, message: &str) {
    let out = warden(dir, args);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {}", text(&out));
    assert!(text(&out).contains(message), "{args:?}: expected {message:?} in {}", text(&out));
}

/// A plugin folder `dir/<folder>` of `wasm` as plugin `name` at `version`.
fn plugin(dir: &Path, folder: &str, name: &str, wasm: &str, version: &str, extra: &str) -> PathBuf {
    let path = dir.join(folder);
    std::fs::create_dir_all(&path).unwrap();
    std::fs::copy(wasm, path.join("plugin.wasm")).unwrap();
    let toml = format!("[plugin]\nname = \"{name}\"\nversion = \"{version}\"\ncomponent = \"plugin.wasm\"\n{extra}");
    std::fs::write(path.join("plugin.toml"), toml).unwrap();
    path
}

fn keys(dir: &Path) {
    ok(dir, &["keygen", "--name", "release"]);
    ok(dir, &["keygen", "--name", "mallory"]);
}

/// The plugin folders in `plugins` (hidden ones too: nothing may be left
/// half-installed), but for the installers' lock file.
fn entries(plugins: &Path) -> Vec<String> {
    let Ok(read) = std::fs::read_dir(plugins) else { return Vec::new() };
    let mut names: Vec<String> = read
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".warden-install.lock")
        .collect();
    names.sort();
    names
}

fn installed_version(folder: &Path) -> String {
    warden::Manifest::from_dir(folder).unwrap().version.to_string()
}

#[test]
fn the_whole_path_push_install_locked_offline_update_rollback_downgrade() {
    let root = TempDir::new().unwrap();
    let dir = root.path();
    let mut registry = Registry::start();
    keys(dir);
    let repo = registry.repo("echo");
    for (v, extra) in [("1.0.0", ""), ("1.1.0", ""), ("1.2.0", "[config]\nfail-init = \"true\"\n")] {
        plugin(dir, &format!("src/{v}"), "echo", ECHO, v, extra);
    }
    ok(dir, &["sign", "src/1.0.0", "--key", "release.key"]);
    ok(dir, &["verify", "src/1.0.0", "--key", "release.pub"]);
    refused(dir, &["push", "src/1.0.0", &format!("{repo}:9.9.9"), "--key", "release.key"], 1, "tag is 9.9.9");
    let out = ok(dir, &["push", "src/1.0.0", &format!("{repo}:1.0.0"), "--key", "release.key", "--json"]);
    let pushed: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    let digest = pushed["digest"].as_str().unwrap().to_owned();
    assert!(digest.starts_with("sha256:"), "{out}");
    assert!(ok(dir, &["verify", &format!("{repo}:1.0.0"), "--key", "release.pub"]).contains(&digest));
    assert_eq!(ok(dir, &["versions", &repo]).trim(), "1.0.0");

    // Install, then reproduce the directory from its lock elsewhere.
    let out = ok(dir, &["install", &format!("{repo}:1.0.0"), "--dir", "plugins", "--key", "release.pub", "--json"]);
    let report: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(report["installed"][0]["digest"], digest.as_str(), "{out}");
    let lock = std::fs::read_to_string(dir.join("plugins/warden.lock")).unwrap();
    assert!(lock.contains(&digest) && lock.contains(&format!("{repo}:1.0.0")), "{lock}");
    ok(dir, &["verify", "plugins/echo", "--key", "release.pub"]);
    assert_eq!(entries(&dir.join("plugins")), ["echo", "warden.lock"]);
    std::fs::create_dir(dir.join("copy")).unwrap();
    std::fs::copy(dir.join("plugins/warden.lock"), dir.join("copy/warden.lock")).unwrap();
    ok(dir, &["install", "--locked", "--dir", "copy", "--key", "release.pub"]);
    for file in ["plugin.toml", "plugin.wasm", "plugin.sig"] {
        let (a, b) = (dir.join("plugins/echo").join(file), dir.join("copy/echo").join(file));
        assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap(), "{file} differs");
    }
    // A lock pinning a digest the registry does not have installs nothing.
    std::fs::create_dir(dir.join("wrong")).unwrap();
    let bad = lock.replace(&digest, &format!("sha256:{}", "0".repeat(64)));
    std::fs::write(dir.join("wrong/warden.lock"), bad).unwrap();
    refused(dir, &["install", "--locked", "--dir", "wrong", "--key", "release.pub"], 56, "no such repository or tag");
    assert_eq!(entries(&dir.join("wrong")), ["warden.lock"]);

    // A folder of that name from another repository, or put there by
    // hand, is not taken over by whoever can sign a plugin of that name.
    let fork = registry.repo("echo-fork");
    ok(dir, &["push", "src/1.0.0", &format!("{fork}:1.0.0"), "--key", "release.key"]);
    refused(
        dir,
        &["install", &format!("{fork}:1.0.0"), "--dir", "plugins", "--key", "release.pub"],
        58,
        &format!("was installed from {repo}"),
    );
    plugin(dir, "hand/echo", "echo", ECHO, "0.0.1", "");
    refused(
        dir,
        &["install", &format!("{repo}:1.0.0"), "--dir", "hand", "--key", "release.pub"],
        58,
        "was not installed from a registry",
    );
    assert_eq!(installed_version(&dir.join("hand/echo")), "0.0.1");

    // Update to the newest compatible version; a version that fails to
    // start is rolled back and the lock keeps the working one.
    ok(dir, &["push", "src/1.1.0", &format!("{repo}:1.1.0"), "--key", "release.key"]);
    let out = ok(dir, &["update", "--dir", "plugins", "--key", "release.pub"]);
    assert!(out.contains("updated echo 1.0.0 -> 1.1.0"), "{out}");
    assert_eq!(installed_version(&dir.join("plugins/echo")), "1.1.0");
    ok(dir, &["push", "src/1.2.0", &format!("{repo}:1.2.0"), "--key", "release.key"]);
    refused(dir, &["update", "echo", "--dir", "plugins", "--key", "release.pub"], 59, "rolled back to 1.1.0");
    assert_eq!(installed_version(&dir.join("plugins/echo")), "1.1.0");
    assert!(std::fs::read_to_string(dir.join("plugins/warden.lock")).unwrap().contains("version = \"1.1.0\""));
    assert_eq!(entries(&dir.join("plugins")), ["echo", "warden.lock"], "the failed version is gone");

    // A signed older version does not replace a newer one unless asked.
    refused(
        dir,
        &["install", &format!("{repo}:1.0.0"), "--dir", "plugins", "--key", "release.pub"],
        57,
        "older than the installed 1.1.0",
    );
    assert_eq!(installed_version(&dir.join("plugins/echo")), "1.1.0");
    let args = ["install", &format!("{repo}:1.0.0"), "--dir", "plugins", "--key", "release.pub", "--allow-downgrade"];
    ok(dir, &args);
    assert_eq!(installed_version(&dir.join("plugins/echo")), "1.0.0");

    // Offline: the registry is gone; what was fetched installs from the cache.
    registry.0.stop();
    std::fs::create_dir(dir.join("offline")).unwrap();
    std::fs::copy(dir.join("copy/warden.lock"), dir.join("offline/warden.lock")).unwrap();
    ok(dir, &["install", "--locked", "--dir", "offline", "--key", "release.pub"]);
    assert_eq!(installed_version(&dir.join("offline/echo")), "1.0.0");
    let out = ok(dir, &["install", &format!("{repo}:1.1.0"), "--dir", "offline", "--key", "release.pub"]);
    assert!(out.contains("from the cache"), "{out}");
    refused(
        dir,
        &["install", &format!("{repo}:3.0.0"), "--dir", "offline", "--key", "release.pub"],
        56,
        "cannot be reached",
    );
}

#[test]
fn registry_tampering_is_refused_and_nothing_is_installed() {
    let root = TempDir::new().unwrap();
    let dir = root.path();
    let registry = Registry::start();
    keys(dir);
    let (a, b) = (registry.repo("alpha"), registry.repo("beta"));
    plugin(dir, "src/a1", "alpha", ECHO, "1.0.0", "");
    plugin(dir, "src/a2", "alpha", ECHO, "1.1.0", "");
    plugin(dir, "src/b1", "beta", GATEWAY_GUEST, "1.0.0", "");
    ok(dir, &["push", "src/a1", &format!("{a}:1.0.0"), "--key", "release.key"]);
    ok(dir, &["push", "src/a2", &format!("{a}:1.1.0"), "--key", "release.key"]);
    ok(dir, &["push", "src/b1", &format!("{b}:1.0.0"), "--key", "release.key"]);
    let (a1, a1_digest) = registry.manifest("alpha", "1.0.0");
    let (b1, b1_digest) = registry.manifest("beta", "1.0.0");

    // Each case installs into a fresh directory with a fresh cache.
    let mut case = 0;
    let mut install = |reference: &str, code: i32, message: &str| {
        case += 1;
        let (plugins, cache) = (dir.join(format!("p{case}")), dir.join(format!("p{case}-cache")));
        let out = Command::new(env!("CARGO_BIN_EXE_warden"))
            .args(["install", reference, "--dir"])
            .arg(&plugins)
            .args(["--key", "release.pub"])
            .current_dir(dir)
            .env("WARDEN_CACHE_DIR", &cache)
            .env_remove("RUST_BACKTRACE")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{reference}: {}", text(&out));
        assert!(text(&out).contains(message), "{reference}: expected {message:?} in {}", text(&out));
        let left: Vec<String> = entries(&plugins).into_iter().filter(|e| e != "warden.lock").collect();
        assert!(left.is_empty(), "{reference}: something was installed: {left:?}");
    };

    // Signed by a key that is not trusted.
    plugin(dir, "src/m", "mallory", ECHO, "1.0.0", "");
    ok(dir, &["push", "src/m", &format!("{}:1.0.0", registry.repo("mallory")), "--key", "mallory.key"]);
    install(&format!("{}:1.0.0", registry.repo("mallory")), 53, "not trusted");

    // A tag moved to an unsigned digest.
    plugin(dir, "src/a3", "alpha", ECHO, "1.2.0", "[config]\nx = \"unsigned\"\n");
    ok(dir, &["push", "src/a3", &format!("{a}:1.2.0"), "--unsigned"]);
    install(&format!("{a}:1.2.0"), 51, "is not signed");

    // plugin.toml changed after signing (a permission added in the
    // manifest's annotation), the signature copied along.
    let mut doc: Value = serde_json::from_slice(&a1).unwrap();
    let toml = doc["annotations"]["dev.warden.plugin.toml"].as_str().unwrap().to_owned();
    doc["annotations"]["dev.warden.plugin.toml"] = Value::String(format!("{toml}[permissions]\nkey-value = true\n"));
    let changed = serde_json::to_vec(&doc).unwrap();
    registry.put_manifest("alpha", "1.3.0", &changed, "alpha");
    let (sig, _) = registry.manifest("alpha", &warden_dist::signature_tag(&a1_digest));
    let changed_digest = warden_dist::sha256_digest(&changed);
    registry.put_manifest("alpha", &warden_dist::signature_tag(&changed_digest), &sig, "alpha");
    install(&format!("{a}:1.3.0"), 54, "the manifest is not what was signed");

    // A manifest swapped between two signed plugins: beta's, signed as
    // beta, served as alpha.
    registry.put_manifest("alpha", "2.0.0", &b1, "beta");
    let (b_sig, _) = registry.manifest("beta", &warden_dist::signature_tag(&b1_digest));
    registry.put_manifest("alpha", &warden_dist::signature_tag(&b1_digest), &b_sig, "beta");
    install(&format!("{a}:2.0.0"), 54, "the name it was signed under");

    // A replayed older signed version: 1.1.0 moved to 1.0.0's manifest.
    registry.put_manifest("alpha", "1.1.0", &a1, "alpha");
    install(&format!("{a}:1.1.0"), 54, "signed under");

    // One flipped byte in the layer, as stored by the registry.
    let layer = serde_json::from_slice::<Value>(&b1).unwrap()["layers"][0]["digest"].as_str().unwrap().to_owned();
    let file = registry.0.blob_file(&layer);
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    install(&format!("{b}:1.0.0"), 54, "the registry served a component of digest");

    // A registry serving other bytes than the digest asked for: alpha
    // 1.0.0's manifest blob holds beta's manifest now.
    std::fs::write(registry.0.blob_file(&a1_digest), &b1).unwrap();
    install(&format!("{a}@{a1_digest}"), 54, "the registry served a manifest of digest");
}

/// A gateway's log without the lines of each request.
fn logs(served: &Served) -> String {
    let all = served.stderr();
    all.lines().filter(|l| !l.contains(" saw GET ") && !l.contains(" request method=")).collect::<Vec<_>>().join("\n")
}

#[test]
fn two_gateways_follow_a_source_converge_and_refuse_what_they_must() {
    let root = TempDir::new().unwrap();
    let dir = root.path();
    let registry = Registry::start();
    let redis = RedisServer::start();
    keys(dir);
    let repo = registry.repo("edge");
    let gw = "[permissions]\nmodify-request = true\n";
    for (folder, version, config) in [
        ("v1", "1.0.0", "name = \"v1\""),
        ("v2", "1.1.0", "name = \"v2\""),
        ("v3", "1.2.0", "name = \"v3\""),
        ("v4", "1.3.0", "name = \"v4\"\nfail-init = \"true\""),
    ] {
        plugin(dir, &format!("src/{folder}"), "edge", GATEWAY_GUEST, version, &format!("{gw}[config]\n{config}\n"));
    }
    ok(dir, &["push", "src/v1", &format!("{repo}:1.0.0"), "--key", "release.key"]);

    let pubkey = dir.join("release.pub");
    let start = |n: usize| {
        let audit = dir.join(format!("audit{n}.log"));
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nwatch = false\nkv = \"{}\"\naudit-log = \"{}\"\n\
             [trust]\n[[trust.key]]\nfile = \"{}\"\n\
             [[source]]\nrepository = \"{repo}\"\nversion = \"^1\"\ninterval = \"200ms\"\n\
             [[route]]\nname = \"api\"\npath = \"/api\"\nmode = \"respond\"\non-request = [\"edge\"]\n",
            redis.url(),
            audit.display(),
            pubkey.display()
        );
        let repo = format!("{repo}:1.0.0");
        let served = Served::start(
            |plugins| {
                let plugins = plugins.to_str().unwrap();
                ok(dir, &["install", &repo, "--dir", plugins, "--key", "release.pub"]);
            },
            &config,
            None,
        );
        (served, audit)
    };
    let (one, audit1) = start(1);
    let (two, audit2) = start(2);
    let gateways = [one.addr, two.addr];
    let serving = |addr: SocketAddr| {
        let reply = request(addr, "GET", "/api", &[("x-test", "respond")], b"");
        (reply.status, String::from_utf8_lossy(&reply.body).into_owned())
    };
    for addr in gateways {
        assert_eq!(serving(addr), (200, "from v1".to_owned()));
    }

    // Clients call both gateways all along.
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let clients: Vec<_> = gateways
        .into_iter()
        .map(|addr| {
            let (stop, sent, failed) = (stop.clone(), sent.clone(), failed.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let reply = request(addr, "GET", "/api", &[("x-test", "respond")], b"");
                    sent.fetch_add(1, Ordering::Relaxed);
                    if reply.status != 200 {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let converge = |want: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while gateways.iter().any(|a| serving(*a).1 != want) {
            assert!(
                Instant::now() < deadline,
                "the gateways did not converge on {want}:\n{}\n{}",
                one.stderr(),
                two.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let audited = |event: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        for audit in [&audit1, &audit2] {
            while !std::fs::read_to_string(audit).unwrap_or_default().contains(event) {
                let log = std::fs::read_to_string(audit).unwrap_or_default();
                assert!(
                    Instant::now() < deadline,
                    "no {event} in {}:\n{log}\n{}\n{}",
                    audit.display(),
                    logs(&one),
                    logs(&two)
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    };

    ok(dir, &["push", "src/v2", &format!("{repo}:1.1.0"), "--key", "release.key"]);
    converge("from v2");
    audited("\"rollout\"");

    // Signed by a key the gateways do not trust: refused by both.
    ok(dir, &["push", "src/v3", &format!("{repo}:1.2.0"), "--key", "mallory.key"]);
    audited("rollout-refused");
    assert!(std::fs::read_to_string(&audit1).unwrap().contains("untrusted-key"));
    converge("from v2");

    // Signed by a trusted key, but fails to start: rolled back by both.
    ok(dir, &["push", "src/v4", &format!("{repo}:1.3.0"), "--key", "release.key"]);
    audited("rollout-failed");
    converge("from v2");
    for served in [&one, &two] {
        let folder = served.dir().join("plugins/edge");
        assert_eq!(installed_version(&folder), "1.1.0");
        let lock = std::fs::read_to_string(served.dir().join("plugins/warden.lock")).unwrap();
        assert!(lock.contains("version = \"1.1.0\""), "{lock}");
    }

    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    assert!(sent.load(Ordering::Relaxed) > 0);
    assert_eq!(failed.load(Ordering::Relaxed), 0, "requests failed during the rollout");
    // Every load decision is in the audit log, with the key and level.
    let audit = std::fs::read_to_string(&audit1).unwrap();
    assert!(audit.contains("\"admitted\"") && audit.contains("\"level\":\"trusted\""), "{audit}");
}
