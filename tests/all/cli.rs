//! The `warden` binary, run for real.

use std::path::Path;
use std::process::{Command, Output};

use warden_fixtures::{ECHO, LOGGER, MALICIOUS, PLUGINS_DIR};

use crate::common::plugin_dir;

struct Warden {
    cache: tempfile::TempDir,
}

impl Warden {
    fn new() -> Warden {
        Warden { cache: tempfile::TempDir::new().unwrap() }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_warden"))
            .args(args)
            .env("WARDEN_CACHE_DIR", self.cache.path())
            .env_remove("WARDEN_LOG")
            .output()
            .unwrap()
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

#[test]
fn run_on_request_prints_json() {
    let w = Warden::new();
    let dir = plugin_dir(ECHO, "");
    let input = dir.path().join("req.json");
    std::fs::write(&input, r#"{"method":"GET","uri":"/respond","headers":[["host","example.com"]],"body":"text"}"#)
        .unwrap();
    let out = w.run(&["run", path(dir.path()), "--hook", "on-request", "--input", path(&input)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["action"], "respond");
    assert_eq!(json["response"]["status"], 200);
    assert_eq!(json["response"]["body"], "hi");
}

#[test]
fn run_handle_with_payload() {
    let w = Warden::new();
    let dir = plugin_dir(ECHO, "");
    let payload = dir.path().join("payload.bin");
    std::fs::write(&payload, "hello").unwrap();
    let out = w.run(&["run", path(dir.path()), "--call", "handle", "--action", "echo", "--payload", path(&payload)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json, serde_json::json!({"output": "hello"}));
}

#[test]
fn failures_print_one_line_with_kind_and_exit_code() {
    let w = Warden::new();
    let dir = plugin_dir(MALICIOUS, "[limits]\ntimeout = \"100ms\"");
    let out = w.run(&["run", path(dir.path()), "--call", "handle", "--action", "loop"]);
    assert_eq!(out.status.code(), Some(20));
    let err = stderr(&out);
    assert!(err.starts_with("error[timeout]: plugin 'test-plugin' exceeded its 100 ms timeout"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    let out = w.run(&["run", path(dir.path()), "--call", "handle", "--action", "panic"]);
    assert_eq!(out.status.code(), Some(25));
    assert!(stderr(&out).starts_with("error[trap]:"), "{}", stderr(&out));

    let input = dir.path().join("req.json");
    std::fs::write(&input, r#"{"method":"GET","uri":"/"}"#).unwrap();
    let out = w.run(&["run", path(dir.path()), "--hook", "on-request", "--input", path(&input)]);
    assert_eq!(out.status.code(), Some(26));
    assert!(stderr(&out).starts_with("error[hook-not-exported]:"), "{}", stderr(&out));

    let bad = plugin_dir(ECHO, "[limits]\nbogus = 1");
    let out = w.run(&["validate", path(bad.path())]);
    assert_eq!(out.status.code(), Some(10));
    assert!(stderr(&out).starts_with("error[manifest]:") && stderr(&out).contains("bogus"), "{}", stderr(&out));

    std::fs::write(&input, "not json").unwrap();
    let echo = plugin_dir(ECHO, "");
    let out = w.run(&["run", path(echo.path()), "--hook", "on-request", "--input", path(&input)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("error: "), "{}", stderr(&out));
}

#[test]
fn inspect_and_validate() {
    let w = Warden::new();
    let dir = plugin_dir(ECHO, "[permissions]\nenv = [\"HOME\"]\n[limits]\ntimeout = \"250ms\"");
    let out = w.run(&["inspect", path(dir.path()), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["name"], "test-plugin");
    assert_eq!(json["version"], "1.2.3");
    assert_eq!(
        json["hooks"],
        serde_json::json!(["init", "shutdown", "health", "on-request", "on-response", "handle", "on-message"])
    );
    assert_eq!(json["permissions"]["env"], serde_json::json!(["HOME"]));
    assert_eq!(json["limits"]["timeout-ms"], 250);
    assert_eq!(json["sha256"].as_str().unwrap().len(), 64);

    let out = w.run(&["inspect", ECHO]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("hooks:       init, shutdown, health, on-request, on-response, handle"));

    let out = w.run(&["validate", path(dir.path())]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("ok: plugin 'test-plugin' 1.2.3"));
}

#[test]
fn run_example_plugin_with_its_sample_request() {
    let w = Warden::new();
    let dir = tempfile::TempDir::new().unwrap();
    let src = Path::new(PLUGINS_DIR).join("logger");
    std::fs::copy(src.join("plugin.toml"), dir.path().join("plugin.toml")).unwrap();
    std::fs::copy(LOGGER, dir.path().join(Path::new(LOGGER).file_name().unwrap())).unwrap();
    let out = w.run(&["run", path(dir.path()), "--input", path(&src.join("request.json"))]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("\"action\": \"continue\""), "{}", stdout(&out));
    assert!(stderr(&out).contains("GET /hello"), "plugin log goes to stderr: {}", stderr(&out));
}

#[test]
fn help_documents_exit_codes() {
    let out = Warden::new().run(&["--help"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("20  timeout"), "{}", stdout(&out));
}

#[test]
fn plugin_log_records_are_capped() {
    let w = Warden::new();
    let dir = plugin_dir(ECHO, "");
    let payload = dir.path().join("payload.txt");
    std::fs::write(&payload, "z".repeat(100_000)).unwrap();
    let out = w.run(&["run", path(dir.path()), "--call", "handle", "--action", "log", "--payload", path(&payload)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("...[truncated]"), "{err}");
    let longest = err.lines().map(|l| l.matches('z').count()).max().unwrap_or(0);
    assert_eq!(longest, 16 << 10, "one record keeps exactly 16 KiB of the message");
}

#[test]
fn plugins_list_info_and_reload_a_directory() {
    let w = Warden::new();
    let dir = tempfile::TempDir::new().unwrap();
    for (folder, wasm, extra) in [("echo", ECHO, ""), ("broken", ECHO, "[config]\nfail-init = \"true\"")] {
        let d = dir.path().join(folder);
        std::fs::create_dir(&d).unwrap();
        crate::common::write_plugin(&d, wasm, extra);
        let text = std::fs::read_to_string(d.join("plugin.toml")).unwrap().replace("test-plugin", folder);
        std::fs::write(d.join("plugin.toml"), text).unwrap();
    }
    std::fs::create_dir(dir.path().join("garbled")).unwrap();
    std::fs::write(dir.path().join("garbled/plugin.toml"), "[plugin\n").unwrap();

    let out = w.run(&["plugins", "list", path(dir.path())]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let row = |name: &str| text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name}: {text}"));
    assert!(row("echo").contains("running") && row("echo").contains("1.2.3"), "{text}");
    assert!(row("broken").contains("failed") && row("broken").contains("fail-init requested"), "{text}");
    assert!(row("garbled").contains("unreadable") && row("garbled").contains("invalid TOML"), "{text}");

    let out = w.run(&["plugins", "list", path(dir.path()), "--json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["plugins"][1]["name"], "echo");
    assert_eq!(json["plugins"][1]["state"], "running");
    assert_eq!(json["plugins"][1]["health"], "healthy");
    assert_eq!(json["unreadable"][0]["kind"], "manifest");

    let out = w.run(&["plugins", "info", path(dir.path()), "echo", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["version"], "1.2.3");
    assert_eq!(json["sha256"].as_str().map(str::len), Some(64));

    let out = w.run(&["plugins", "reload", path(dir.path()), "echo"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("reloaded echo 1.2.3"), "{}", stdout(&out));
    let out = w.run(&["plugins", "reload", path(dir.path())]);
    assert_eq!(out.status.code(), Some(15), "a failed reload exits with its kind's code");
    assert!(stdout(&out).contains("failed   broken"), "{}", stdout(&out));

    let out = w.run(&["plugins", "info", path(dir.path()), "nope"]);
    assert_eq!(out.status.code(), Some(31));
    assert!(stderr(&out).contains("error[unknown-plugin]: no plugin named 'nope'"), "{}", stderr(&out));
}

#[test]
fn run_on_message() {
    let w = Warden::new();
    let dir = plugin_dir(ECHO, "[permissions]\nsubscribe = [\"t.*\"]");
    let payload = dir.path().join("payload.txt");
    std::fs::write(&payload, "hello").unwrap();
    let out = w.run(&["run", path(dir.path()), "--hook", "on-message", "--topic", "t.x", "--payload", path(&payload)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&stdout(&out)).unwrap(), serde_json::json!({"ok": true}));
    let out = w.run(&["run", path(dir.path()), "--hook", "on-message"]);
    assert!(stderr(&out).contains("on-message needs --topic"), "{}", stderr(&out));
}
