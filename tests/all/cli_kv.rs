//! Key-value data from the command line: `warden run` gives a plugin its
//! store, `warden kv` reads and changes it (redb file, gateway
//! configuration, a real `redis-server`); `warden inspect` shows the
//! key-value and messaging grants; `warden build` makes lean Rust
//! components. Every case runs the real `warden` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tempfile::TempDir;
use warden::KeyValueStore;
use warden_fixtures::{ECHO, ENRICHER, PLUGINS_DIR};

use crate::common::plugin_dir;
use crate::kv::RedisServer;

/// The `warden` binary with its own compile cache and data folder.
struct Warden {
    cache: TempDir,
    data: TempDir,
}

impl Warden {
    fn new() -> Warden {
        Warden { cache: TempDir::new().unwrap(), data: TempDir::new().unwrap() }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_warden"));
        cmd.args(args)
            .env("WARDEN_CACHE_DIR", self.cache.path())
            .env("WARDEN_DATA_DIR", self.data.path().join("warden"))
            .env_remove("WARDEN_LOG")
            .env_remove("RUST_BACKTRACE");
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs and checks success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    }

    /// Runs and checks the exit code; returns stderr.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}{}", stdout(&out), stderr(&out));
        stderr(&out)
    }

    /// The default store's file.
    fn default_store(&self) -> PathBuf {
        self.data.path().join("warden").join("kv.redb")
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The echo fixture (plugin `test-plugin`) with the key-value store and a
/// 64-byte quota.
fn kv_plugin() -> TempDir {
    plugin_dir(ECHO, "[permissions]\nkey-value = true\n[limits]\nkey-value-quota = \"64 B\"")
}

/// `warden run ... --call handle --action <action> --payload <payload>`, extra args after.
fn handle(w: &Warden, plugin: &Path, action: &str, payload: &str, extra: &[&str]) -> Output {
    let file = plugin.join("payload.txt");
    std::fs::write(&file, payload).unwrap();
    let mut args = vec!["run", path(plugin), "--call", "handle", "--action", action, "--payload", path(&file)];
    args.extend_from_slice(extra);
    w.run(&args)
}

fn output_of(out: &Output) -> String {
    assert!(out.status.success(), "{}", stderr(out));
    let json: serde_json::Value = serde_json::from_str(&stdout(out)).unwrap();
    json["output"].as_str().unwrap_or_else(|| panic!("no text output: {json}")).to_owned()
}

#[test]
fn run_keeps_a_plugins_data_in_the_default_store_that_kv_reads() {
    let w = Warden::new();
    let plugin = kv_plugin();
    assert!(handle(&w, plugin.path(), "kv-set", "greeting=hello", &[]).status.success());
    assert!(w.default_store().is_file(), "kv.redb in $WARDEN_DATA_DIR");
    let mode = std::fs::metadata(w.default_store().parent().unwrap()).unwrap().permissions();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o700, "a private data folder");
    assert_eq!(w.ok(&["kv", "get", "test-plugin", "greeting"]), "hello\n");
    assert_eq!(w.ok(&["kv", "list", "test-plugin"]), "greeting\n");

    // A value set from the command line is what the plugin reads next.
    let out = w.ok(&["kv", "set", "test-plugin", "greeting", "bonjour"]);
    assert!(out.starts_with("ok: set \"greeting\" for plugin 'test-plugin' (7 bytes"), "{out}");
    assert_eq!(output_of(&handle(&w, plugin.path(), "kv-get", "greeting", &[])), "bonjour");

    // The quota is the manifest's, as in the gateway: for the plugin...
    let out = handle(&w, plugin.path(), "kv-set", &format!("big={}", "x".repeat(64)), &[]);
    assert_eq!(out.status.code(), Some(28), "{}", stderr(&out));
    assert!(stderr(&out).contains("quota-exceeded"), "{}", stderr(&out));
    // ... and for `warden kv set` given the plugin's folder.
    let err = w.fails(&["kv", "set", path(plugin.path()), "big", &"x".repeat(64)], 35);
    assert!(err.starts_with("error[key-value]: ") && err.contains("quota of 64 bytes"), "{err}");

    let out = w.ok(&["kv", "delete", "test-plugin", "greeting"]);
    assert_eq!(out, "ok: deleted \"greeting\" of plugin 'test-plugin'\n");
    assert_eq!(output_of(&handle(&w, plugin.path(), "kv-get", "greeting", &[])), "<none>");
}

#[test]
fn run_opens_no_store_for_a_plugin_without_the_permission() {
    let w = Warden::new();
    let plugin = plugin_dir(ECHO, "");
    let out = handle(&w, plugin.path(), "echo", "hi", &["--kv", "redis://127.0.0.1:1/0"]);
    assert_eq!(output_of(&out), "hi");
    assert!(!w.data.path().join("warden").exists(), "no data folder made");
    // With the permission, the refused store fails the run before the plugin loads.
    let err = stderr(&handle(&w, kv_plugin().path(), "kv-get", "k", &["--kv", "redis://127.0.0.1:1/0"]));
    assert!(
        err.starts_with("error[key-value]: cannot connect to the key-value store at redis://127.0.0.1:1/0"),
        "{err}"
    );
}

#[test]
fn the_enricher_example_seeds_the_store_and_enriches_from_it() {
    let w = Warden::new();
    let dir = TempDir::new().unwrap();
    let src = Path::new(PLUGINS_DIR).join("enricher");
    std::fs::copy(src.join("plugin.toml"), dir.path().join("plugin.toml")).unwrap();
    std::fs::copy(ENRICHER, dir.path().join("enricher.wasm")).unwrap();
    let out = w.ok(&["run", path(dir.path()), "--input", path(&src.join("request.json"))]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let body: serde_json::Value = serde_json::from_str(json["request"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["profile"], serde_json::json!({"name": "Ann", "tier": "gold"}), "{out}");
    assert_eq!(w.ok(&["kv", "get", "enricher", "user:42"]), "{\"name\":\"Ann\",\"tier\":\"gold\"}\n");
}

#[test]
fn kv_prints_any_value_safely() {
    let w = Warden::new();
    let dir = TempDir::new().unwrap();
    let bin = dir.path().join("value.bin");
    std::fs::write(&bin, [0xff, 0x00, b'a']).unwrap();
    w.ok(&["kv", "set", "p", "bin", "--file", path(&bin)]);

    let out = w.run(&["kv", "get", "p", "bin"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "/wBh\n", "not UTF-8: base64");
    assert!(stderr(&out).contains("not UTF-8 (3 bytes), printed as base64"), "{}", stderr(&out));
    assert_eq!(w.run(&["kv", "get", "p", "bin", "--raw"]).stdout, [0xff, 0x00, b'a']);
    let json: serde_json::Value = serde_json::from_str(&w.ok(&["kv", "get", "p", "bin", "--json"])).unwrap();
    assert_eq!(json, serde_json::json!({"plugin": "p", "key": "bin", "bytes": 3, "value_base64": "/wBh"}));

    w.ok(&["kv", "set", "p", "text", "héllo"]);
    assert_eq!(w.ok(&["kv", "get", "p", "text", "--base64"]), "aMOpbGxv\n");
    let json: serde_json::Value = serde_json::from_str(&w.ok(&["kv", "get", "p", "text", "--json"])).unwrap();
    assert_eq!(json["value"], "héllo");

    // A value from stdin.
    let mut child = w
        .command(&["kv", "set", "p", "piped", "--file", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"from stdin").unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    assert_eq!(w.ok(&["kv", "get", "p", "piped"]), "from stdin\n");

    // A key with a line break or a terminal escape stays on one line.
    w.ok(&["kv", "set", "p", "two\nlines\u{1b}[2J", "v"]);
    assert_eq!(w.ok(&["kv", "list", "p", "--prefix", "two"]), "two\\nlines\\u{1b}[2J\n");
    let json: serde_json::Value = serde_json::from_str(&w.ok(&["kv", "list", "p", "--json"])).unwrap();
    assert_eq!(json["keys"], serde_json::json!(["bin", "piped", "text", "two\nlines\u{1b}[2J"]));
    assert_eq!(json["more"], false);
}

#[test]
fn kv_list_is_bounded() {
    let w = Warden::new();
    let store = KeyValueStore::open(w.default_store()).unwrap();
    for i in 0..150 {
        store.set("many", &format!("k{i:03}"), b"v", 1 << 20).unwrap();
    }
    drop(store);
    let out = w.run(&["kv", "list", "many"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 100, "default --limit");
    assert!(stderr(&out).contains("more keys than the 100 shown"), "{}", stderr(&out));
    assert_eq!(w.ok(&["kv", "list", "many", "--limit", "3"]), "k000\nk001\nk002\n");
    let out = w.run(&["kv", "list", "many", "--limit", "150"]);
    assert_eq!(stdout(&out).lines().count(), 150);
    assert!(stderr(&out).is_empty(), "all shown: {}", stderr(&out));
    let json: serde_json::Value =
        serde_json::from_str(&w.ok(&["kv", "list", "many", "--prefix", "k14", "--json"])).unwrap();
    assert_eq!(json["keys"].as_array().unwrap().len(), 10);
    assert_eq!(json["usage"], 150 * 5);
    assert!(w.fails(&["kv", "list", "many", "--limit", "1001"], 2).contains("1001"));
}

#[test]
fn kv_names_what_is_missing_with_exit_codes() {
    let w = Warden::new();
    w.ok(&["kv", "set", "p", "k", "v"]);
    let err = w.fails(&["kv", "get", "p", "nope"], 34);
    assert!(err.starts_with("error[not-found]: plugin 'p' has no key \"nope\""), "{err}");
    assert!(err.contains("`warden kv list p` shows its keys"), "{err}");
    let err = w.fails(&["kv", "get", "other", "k"], 34);
    assert!(err.starts_with("error[not-found]: plugin 'other' has no data in the key-value store"), "{err}");
    assert!(err.contains(path(&w.default_store())), "names the store: {err}");
    w.fails(&["kv", "list", "other"], 34);
    assert!(w.fails(&["kv", "delete", "p", "nope"], 34).contains("nothing deleted"));
    assert_eq!(w.ok(&["kv", "list", "p", "--prefix", "x"]), "", "a prefix that matches nothing is no error");

    let err = w.fails(&["kv", "list", "p", "--kv", "memcached"], 35);
    assert!(err.contains("\"memcached\" is not a key-value store"), "{err}");
    let err = w.fails(&["kv", "set", "p", "", "v"], 35);
    assert!(err.contains("keys must not be empty"), "{err}");
    let err = w.fails(&["kv", "set", "p", "k"], 2);
    assert!(err.contains("--file"), "{err}");

    // The redb file is held by another process (here: this one).
    let held = KeyValueStore::open(w.default_store()).unwrap();
    let err = w.fails(&["kv", "get", "p", "k"], 35);
    assert!(err.contains("is in use by another process"), "{err}");
    drop(held);
    let help = w.ok(&["--help"]);
    assert!(help.contains("34  not-found") && help.contains("35  key-value"), "{help}");
}

#[test]
fn kv_uses_a_gateway_configurations_store_and_plugin_quotas() {
    let w = Warden::new();
    let dir = TempDir::new().unwrap();
    let plugins = dir.path().join("plugins");
    let folder = plugins.join("echo");
    std::fs::create_dir_all(&folder).unwrap();
    crate::common::write_plugin(&folder, ECHO, "[permissions]\nkey-value = true\n[limits]\nkey-value-quota = \"20 B\"");
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, "[server]\nplugins = \"plugins\"\ndata-dir = \"state\"\n").unwrap();

    w.ok(&["kv", "set", "test-plugin", "k", "v", "--config", path(&config)]);
    let err = w.fails(&["kv", "set", "test-plugin", "big", &"x".repeat(20), "--config", path(&config)], 35);
    assert!(err.contains("quota of 20 bytes"), "the plugin's quota, found by name: {err}");
    w.ok(&["kv", "set", "test-plugin", "big", &"x".repeat(20), "--config", path(&config), "--quota", "1 KiB"]);
    assert!(!w.default_store().exists(), "not the default store");
    let store = KeyValueStore::open(dir.path().join("state").join("kv.redb")).unwrap();
    assert_eq!(store.get("test-plugin", "k").unwrap().as_deref(), Some(&b"v"[..]));
    drop(store);

    // `warden run --config` uses that store too.
    assert_eq!(output_of(&handle(&w, &folder, "kv-get", "k", &["--config", path(&config)])), "v");

    std::fs::write(&config, "[server]\nkv = \"memcached://x\"\n").unwrap();
    let err = w.fails(&["kv", "list", "test-plugin", "--config", path(&config)], 40);
    assert!(err.starts_with("error[config]: ") && err.contains("server.kv"), "{err}");
    let err = w.fails(&["kv", "list", "p", "--config", path(&config), "--kv", "redb"], 2);
    assert!(err.contains("cannot be used with"), "{err}");
}

#[test]
fn run_and_kv_share_a_redis_store() {
    let server = RedisServer::start();
    let url = format!("redis://127.0.0.1:{}/0", server.port);
    let w = Warden::new();
    let plugin = kv_plugin();
    assert!(handle(&w, plugin.path(), "kv-set", "a=1", &["--kv", &url]).status.success());
    assert_eq!(w.ok(&["kv", "get", "test-plugin", "a", "--kv", &url]), "1\n");
    w.ok(&["kv", "set", "test-plugin", "b", "2", "--kv", &url]);
    assert_eq!(w.ok(&["kv", "list", "test-plugin", "--kv", &url]), "a\nb\n");
    assert_eq!(output_of(&handle(&w, plugin.path(), "kv-list", " 10", &["--kv", &url])), "a\nb");
    assert!(!w.default_store().exists(), "the default store was not used");
    w.fails(&["kv", "get", "test-plugin", "a"], 34);
}

#[test]
fn inspect_shows_key_value_and_messaging_grants_and_limits() {
    let w = Warden::new();
    let dir = plugin_dir(
        ECHO,
        "[permissions]\nkey-value = true\npublish = [\"orders.*\"]\nsubscribe = [\"billing.paid\", \"audit.*\"]\n\
         [limits]\nkey-value-quota = \"64 KiB\"\nmax-outbound-requests = 3",
    );
    let json: serde_json::Value = serde_json::from_str(&w.ok(&["inspect", path(dir.path()), "--json"])).unwrap();
    let p = &json["permissions"];
    assert_eq!(p["key-value"], true);
    assert_eq!(p["publish"], serde_json::json!(["orders.*"]));
    assert_eq!(p["subscribe"], serde_json::json!(["billing.paid", "audit.*"]));
    assert_eq!(json["limits"]["key-value-quota"], 65536);
    assert_eq!(json["limits"]["max-outbound-requests"], 3);
    assert_eq!(json["limits"]["max-outbound-response"], 1 << 20);

    let text = w.ok(&["inspect", path(dir.path())]);
    for line in [
        "  key-value:       true",
        "  publish:         orders.*",
        "  subscribe:       billing.paid, audit.*",
        "  key-value-quota: 65536 bytes",
        "  max-outbound-requests: 3",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
    let json: serde_json::Value = serde_json::from_str(&w.ok(&["inspect", ECHO, "--json"])).unwrap();
    assert_eq!(json["permissions"]["key-value"], false, "a bare component is granted nothing");
    assert_eq!(json["permissions"]["publish"], serde_json::json!([]));
}

/// `warden build` makes a lean component from a Rust crate whose release
/// profile keeps debug info (as this workspace's does), outside any
/// workspace: no DWARF sections, a fraction of the size.
#[test]
fn rust_builds_leave_debug_info_out() {
    let root = Path::new(PLUGINS_DIR).parent().unwrap();
    let dir = TempDir::new().unwrap();
    let src = Path::new(PLUGINS_DIR).join("validator");
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::copy(src.join("src/lib.rs"), dir.path().join("src/lib.rs")).unwrap();
    std::fs::copy(src.join("plugin.toml"), dir.path().join("plugin.toml")).unwrap();
    std::fs::copy(root.join("Cargo.lock"), dir.path().join("Cargo.lock")).unwrap();
    let pdk = root.join("crates/warden-pdk");
    std::fs::write(
        dir.path().join("Cargo.toml"),
        format!(
            "[package]\nname = \"validator\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n\
             [dependencies]\nwarden-pdk = {{ path = {:?} }}\n\n[profile.release]\ndebug = \"line-tables-only\"\n\n[workspace]\n",
            path(&pdk)
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["--no-cache", "build", path(dir.path())])
        // Kept between runs, so only the first one builds the dependencies.
        .env("CARGO_TARGET_DIR", root.join("target").join("cli-kv-lean-build"))
        .env("CARGO_NET_OFFLINE", "true")
        .env_remove("CARGO_PROFILE_RELEASE_DEBUG")
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let wasm = std::fs::read(dir.path().join("validator.wasm")).unwrap();
    assert!(!wasm.windows(7).any(|w| w == b".debug_"), "no DWARF custom sections");
    assert!(wasm.len() < 512 << 10, "{} bytes", wasm.len());
}
