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
