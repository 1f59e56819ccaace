//! Hot reload through the directory watcher, for real: files are written,
//! renamed over and removed while other threads call the plugin.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use warden::{ErrorKind, PluginManager, PluginState};
use warden_fixtures::{ECHO, MALICIOUS};

use crate::common::{ConfigCallers, runtime};

const DEBOUNCE: Duration = Duration::from_millis(40);

/// Writes `bytes` to `path` the way editors do: a temp file renamed over it.
fn replace(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn manifest(version: &str, component: &str, config: &str) -> String {
    format!("[plugin]\nname = \"echo\"\nversion = \"{version}\"\ncomponent = \"{component}\"\n[config]\n{config}\n")
}

/// Polls `cond` every 10 ms for up to 20 s.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn watched_storm_of_100_replacements_drops_no_call() {
    let dir = TempDir::new().unwrap();
    let folder = dir.path().join("echo");
    std::fs::create_dir(&folder).unwrap();
    let wasm = std::fs::read(ECHO).unwrap();
    std::fs::write(folder.join("plugin.wasm"), &wasm).unwrap();
    std::fs::write(folder.join("plugin.toml"), manifest("1.0.0", "plugin.wasm", "version = \"0\"\ncheck = \"0\""))
        .unwrap();
    let m = PluginManager::new(runtime().clone());
    m.load_dir(dir.path()).unwrap();
    let _watcher = m.watch(dir.path(), DEBOUNCE).unwrap();

    let callers = ConfigCallers::start(&m, 3);

    let failures = || m.info("echo").unwrap().stats.reload_failures;
    let mut broken = 0;
    for i in 1..=100u64 {
        let version = format!("1.0.{i}");
        let config = format!("version = \"{i}\"\ncheck = \"{i}\"");
        match i % 10 {
            // Broken: not wasm at all. Must never go live.
            0 => {
                let before = failures();
                std::fs::write(folder.join("broken.wasm"), b"\0asm\x01\0\0\0 then garbage").unwrap();
                replace(
                    &folder.join("plugin.toml"),
                    manifest(&version, "broken.wasm", "version = \"broken\"").as_bytes(),
                );
                wait_for("the broken version to be refused", || failures() > before);
                broken += 1;
            }
            // Broken: init fails.
            5 => {
                let before = failures();
                let config = "fail-init = \"true\"\nversion = \"broken\"";
                replace(&folder.join("plugin.toml"), manifest(&version, "plugin.wasm", config).as_bytes());
                wait_for("the failing init to be refused", || failures() > before);
                broken += 1;
            }
            // A component rewritten in place, half first: the half-written
            // file fails to compile, the complete one goes live.
            3 => {
                replace(&folder.join("plugin.toml"), manifest(&version, "next.wasm", &config).as_bytes());
                let mut file = std::fs::File::create(folder.join("next.wasm")).unwrap();
                file.write_all(&wasm[..wasm.len() / 2]).unwrap();
                file.flush().unwrap();
                std::thread::sleep(DEBOUNCE * 3);
                file.write_all(&wasm[wasm.len() / 2..]).unwrap();
                drop(file);
            }
            _ => replace(&folder.join("plugin.toml"), manifest(&version, "plugin.wasm", &config).as_bytes()),
        }
        if i % 5 != 0 {
            let want = semver::Version::parse(&version).unwrap();
            wait_for(&format!("version {version} to go live"), || {
                m.info("echo").unwrap().version == Some(want.clone())
            });
        }
    }
    let calls = callers.finish();
    let info = m.info("echo").unwrap();
    assert_eq!(info.state, PluginState::Running);
    assert_eq!(info.version, Some(semver::Version::new(1, 0, 99)));
    assert!(info.stats.reloads >= 80, "{:?}", info.stats);
    assert!(info.stats.reload_failures >= broken, "{:?}", info.stats);
    assert!(calls > 100, "callers made progress: {calls}");
    assert_eq!(m.handle("echo", "config", b"").unwrap(), br#"{"check":"99","version":"99"}"#);
}

#[test]
fn watched_folders_appear_and_disappear() {
    let dir = TempDir::new().unwrap();
    let m = PluginManager::new(runtime().clone());
    m.load_dir(dir.path()).unwrap();
    let watcher = m.watch(dir.path(), DEBOUNCE).unwrap();
    assert!(m.names().is_empty());

    // A new folder, copied in file by file, loads once complete.
    let folder = dir.path().join("new-one");
    std::fs::create_dir(&folder).unwrap();
    std::fs::copy(MALICIOUS, folder.join("plugin.wasm")).unwrap();
    let text = "[plugin]\nname = \"late\"\nversion = \"0.1.0\"\ncomponent = \"plugin.wasm\"\n";
    std::fs::write(folder.join("plugin.toml"), text).unwrap();
    wait_for("the new plugin to load", || m.handle("late", "ping", b"").is_ok());

    // Removing the folder unloads it.
    std::fs::remove_dir_all(&folder).unwrap();
    wait_for("the plugin to unload", || m.names().is_empty());
    assert_eq!(m.handle("late", "ping", b"").unwrap_err().kind(), ErrorKind::UnknownPlugin);

    // After the watcher is dropped, changes are no longer applied.
    drop(watcher);
    let folder = dir.path().join("after");
    std::fs::create_dir(&folder).unwrap();
    std::fs::copy(MALICIOUS, folder.join("plugin.wasm")).unwrap();
    std::fs::write(folder.join("plugin.toml"), text).unwrap();
    std::thread::sleep(DEBOUNCE * 5);
    assert!(m.names().is_empty());
}
