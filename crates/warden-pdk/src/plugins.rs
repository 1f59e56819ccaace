//! Calling other plugins: the ones named in this plugin's `[dependencies]`.

use crate::PluginError;

/// Calls `handle(action, payload)` on another plugin, which must be listed
/// in this plugin's `[dependencies]` (in `plugin.toml`). The callee runs
/// under its own limits. Errors from the host or the callee come back as a
/// [`PluginError`] whose code is the host's error kind: `capability-denied`
/// (not a dependency), `reentrant-call` (the callee is already in this call
/// chain), `unavailable`, `timeout`, `plugin-error`, ...
///
/// ```no_run
/// # fn f() -> Result<(), warden_pdk::PluginError> {
/// let answer = warden_pdk::call_plugin("geoip", "lookup", b"203.0.113.7")?;
/// # Ok(()) }
/// ```
pub fn call_plugin(plugin: &str, action: &str, payload: &[u8]) -> Result<Vec<u8>, PluginError> {
    crate::bindings::warden::plugin::plugins::call(plugin, action, payload)
}
