//! Shared helpers: one runtime per test process, plugin folders in temp dirs.

use std::path::Path;
use std::sync::OnceLock;

use tempfile::TempDir;
use warden::{Plugin, Runtime};

/// The process-wide runtime (one engine per process), with a compile cache
/// so each fixture compiles once per test run.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<(Runtime, TempDir)> = OnceLock::new();
    &RUNTIME
        .get_or_init(|| {
            let cache = TempDir::new().unwrap();
            let rt = Runtime::builder().cache_dir(cache.path().join("cache")).build().unwrap();
            (rt, cache)
        })
        .0
}

/// A plugin folder holding a copy of `wasm` and a manifest made of the
/// `[plugin]` header plus `extra` TOML.
pub fn plugin_dir(wasm: &str, extra: &str) -> TempDir {
    let dir = TempDir::new().unwrap();
    write_plugin(dir.path(), wasm, extra);
    dir
}

pub fn write_plugin(dir: &Path, wasm: &str, extra: &str) {
    std::fs::copy(wasm, dir.join("plugin.wasm")).unwrap();
    let manifest =
        format!("[plugin]\nname = \"test-plugin\"\nversion = \"1.2.3\"\ncomponent = \"plugin.wasm\"\n{extra}\n");
    std::fs::write(dir.join("plugin.toml"), manifest).unwrap();
}

/// Loads `wasm` with `extra` manifest TOML; keep the TempDir alive while the
/// plugin needs its files.
pub fn load(wasm: &str, extra: &str) -> (TempDir, Plugin) {
    let dir = plugin_dir(wasm, extra);
    let plugin = runtime().load(dir.path()).unwrap_or_else(|e| panic!("load failed: {e}"));
    (dir, plugin)
}

/// Calls `malicious`'s `ping` and checks the answer: proves the plugin
/// still serves after whatever happened before.
pub fn assert_still_serves(plugin: &Plugin) {
    assert_eq!(plugin.handle("ping", b"").expect("plugin serves after the failure"), b"pong");
}

pub fn handle_err(plugin: &Plugin, action: &str, payload: &[u8]) -> warden::Error {
    match plugin.handle(action, payload) {
        Ok(out) => panic!("`{action}` should fail, returned {} bytes", out.len()),
        Err(e) => e,
    }
}

/// Threads calling the echo fixture's `config` action on plugin `echo`
/// until stopped, checking every answer: no call fails, each answer comes
/// from one complete version (`version` equals `check`), never from a
/// broken version (whose `version` is not a number), and versions only move
/// forward.
pub struct ConfigCallers {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<u64>>,
}

impl ConfigCallers {
    pub fn start(manager: &warden::PluginManager, threads: usize) -> ConfigCallers {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads = (0..threads)
            .map(|_| {
                let (m, stop) = (manager.clone(), stop.clone());
                std::thread::spawn(move || {
                    let (mut calls, mut last) = (0, 0u64);
                    while !stop.load(Ordering::Relaxed) {
                        let out = m.handle("echo", "config", b"").expect("no call fails during reloads");
                        let config: serde_json::Value = serde_json::from_slice(&out).unwrap();
                        let version = config["version"].as_str().unwrap();
                        assert_eq!(Some(version), config["check"].as_str(), "answer from a complete version");
                        let version: u64 = version.parse().expect("a broken version went live");
                        assert!(version >= last, "versions only move forward: {version} after {last}");
                        last = version;
                        calls += 1;
                    }
                    calls
                })
            })
            .collect();
        ConfigCallers { stop, threads }
    }

    /// Stops the threads (re-raising their assertion failures) and returns
    /// how many calls they made.
    pub fn finish(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.threads.into_iter().map(|t| t.join().unwrap()).sum()
    }
}
