//! Reaching other plugins: calling the ones named in `[dependencies]`, and
//! publishing messages to the topics `[permissions] publish` allows.

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
    crate::imports::plugins::call(plugin, action, payload)
}

/// Publishes `payload` on `topic` to every plugin subscribed to it, and
/// returns without waiting for delivery. The topic must match a pattern in
/// this plugin's `[permissions] publish`; errors have the code
/// `capability-denied`, `invalid-topic`, `output-too-large` (bigger than
/// `[limits] max-output`) or `unavailable` (no plugin manager).
///
/// ```no_run
/// # fn f() -> Result<(), warden_pdk::PluginError> {
/// warden_pdk::publish("orders.created", br#"{"id":42}"#)?;
/// # Ok(()) }
/// ```
pub fn publish(topic: &str, payload: &[u8]) -> Result<(), PluginError> {
    crate::imports::messaging::publish(topic, payload)
}
