//! The per-store host state and the host imports every plugin gets:
//! `log`, `config`, and the WASI context built by [`crate::sandbox`].

use std::sync::Arc;
use std::time::Instant;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::{config, log, plugins, types};
use crate::bus::{Message, TopicPattern};
use crate::capture::Capture;
use crate::deadline::Deadline;
use crate::stats::Stats;

/// Longest log record a plugin can write; longer ones are cut.
const MAX_LOG_RECORD: usize = 16 << 10;

/// What every instance of one plugin shares.
pub(crate) struct Shared {
    /// Plugin name, for logs and errors.
    pub name: String,
    /// Its version, for the audit log.
    pub version: semver::Version,
    /// The `[config]` table, sorted by key.
    pub config: Vec<(String, String)>,
    /// Memory cap in bytes.
    pub memory_limit: u64,
    /// Call statistics, shared by every version of the plugin.
    pub stats: Arc<Stats>,
    /// The manifest's `[dependencies]`: the only plugins it may call.
    pub dependencies: std::collections::BTreeMap<String, semver::VersionReq>,
    /// Topics it may publish to.
    pub publish: Vec<TopicPattern>,
    /// Its `max-output`: the largest message it may publish, and what the
    /// changes of one call to a lent message may add.
    pub max_output_bytes: u64,
    /// Most header fields a lent message may grow to.
    pub max_headers: usize,
    /// The way to other plugins; set by the plugin manager.
    pub links: Option<Arc<dyn Links>>,
    /// Its access to the key-value store.
    pub key_value: crate::kv::Grant,
    /// Outbound HTTP: the runtime's client, the manifest's grants and limits.
    pub outbound: crate::outbound::Grant,
}

/// What a plugin reaches through the plugin manager: other plugins and the
/// message bus.
pub(crate) trait Links: Send + Sync {
    /// Calls `handle(action, payload)` on `callee` for `caller`, which
    /// accepts the callee's versions `required`. Errors carry the host's
    /// error kind as their code, or `reentrant-call`.
    fn call(
        &self,
        caller: &str,
        callee: &str,
        required: &semver::VersionReq,
        action: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, types::PluginError>;

    /// Queues `message` for every subscriber of its topic; refuses a
    /// message bigger than a subscriber's mailbox (`output-too-large`).
    fn publish(&self, publisher: Option<&str>, message: Message) -> Result<(), types::PluginError>;

    /// Records in the audit log that host import `import` refused `plugin`
    /// with `error`, whose code is one of [`AUDITED_REFUSALS`].
    fn refused(&self, plugin: &str, version: &semver::Version, import: &str, error: &types::PluginError);
}

/// Import refusals worth an audit line: a grant the manifest does not give
/// (`capability-denied`, audited as that event) or a per-plugin limit
/// (audited as `limit-hit`). Other codes are the plugin's own mistakes or
/// outside failures (`invalid-key`, `connect-failed`, ...).
pub(crate) const AUDITED_REFUSALS: &[&str] =
    &["capability-denied", "quota-exceeded", "budget-exceeded", "response-too-large", "output-too-large"];

/// Data stored in each wasmtime `Store`.
pub(crate) struct HostState {
    pub shared: Arc<Shared>,
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub stderr: Capture,
    /// Set when the limiter refused a memory growth during the current call.
    pub memory_denied: bool,
    /// When the current call must end; bounds blocking host calls (see
    /// [`crate::poll`]) and the calls it makes into other plugins.
    pub deadline: Deadline,
    /// Outbound HTTP requests sent in the current call (redirects included).
    pub outbound_requests: u32,
    /// Whether the current call already had an import refusal audited.
    pub refusal_audited: bool,
    /// The host-side service (e.g. the key-value store) a blocking import
    /// was waiting for when the call's deadline passed: the call then fails
    /// with [`Error::ServiceUnavailable`](crate::Error::ServiceUnavailable),
    /// not as the plugin's timeout.
    pub stalled_on: Option<String>,
    /// The messages lent to the current call.
    pub lent: crate::handles::Lent,
}

impl HostState {
    /// A failed blocking import's answer: the error value, or, if the call's
    /// deadline passed while it waited (the wait gave up for that reason), a
    /// trap that fails the call with a timeout, as a loop would.
    pub(crate) fn or_deadline<T>(
        &self,
        result: Result<T, types::PluginError>,
    ) -> wasmtime::Result<Result<T, types::PluginError>> {
        match result {
            Err(_) if Instant::now() >= self.deadline.at => Err(wasmtime::Trap::Interrupt.into()),
            result => Ok(result),
        }
    }

    /// Passes an import's refusal back to the plugin, auditing it first if
    /// its code is in [`AUDITED_REFUSALS`]. Only the first such refusal of a
    /// call is audited (the rest go to the debug log), so a plugin that
    /// retries in a loop cannot flood the audit log. Without a manager
    /// there is no audit log: the refusal is a `tracing` warning instead.
    pub(crate) fn refused(&mut self, import: &str, error: types::PluginError) -> types::PluginError {
        let me = &self.shared;
        let (plugin, code) = (me.name.as_str(), error.code.as_str());
        if !AUDITED_REFUSALS.contains(&code) || self.refusal_audited {
            tracing::debug!(target: "warden::plugin", plugin, import, code, "import refused: {}", error.message);
            return error;
        }
        self.refusal_audited = true;
        match &me.links {
            Some(links) => links.refused(plugin, &me.version, import, &error),
            None => tracing::warn!(target: "warden::plugin", plugin, import, code, "import refused: {}", error.message),
        }
        error
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl ResourceLimiter for HostState {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired as u64 > self.shared.memory_limit {
            self.memory_denied = true;
            return Ok(false);
        }
        self.shared.stats.memory(desired as u64);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Tables hold function references; 100k entries is far beyond any real plugin.
        Ok(desired <= 100_000)
    }
}

impl types::Host for HostState {}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, mut message: String) {
        truncate_record(&mut message);
        let plugin = self.shared.name.as_str();
        crate::trace::with_current(|trace_id| match level {
            log::Level::Trace => tracing::trace!(target: "warden::plugin", plugin, trace_id, "{message}"),
            log::Level::Debug => tracing::debug!(target: "warden::plugin", plugin, trace_id, "{message}"),
            log::Level::Info => tracing::info!(target: "warden::plugin", plugin, trace_id, "{message}"),
            log::Level::Warn => tracing::warn!(target: "warden::plugin", plugin, trace_id, "{message}"),
            log::Level::Error => tracing::error!(target: "warden::plugin", plugin, trace_id, "{message}"),
        });
    }
}

/// Cuts a log record to [`MAX_LOG_RECORD`] bytes (on a character boundary)
/// and marks the cut.
fn truncate_record(message: &mut String) {
    if message.len() > MAX_LOG_RECORD {
        let mut cut = MAX_LOG_RECORD;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push_str("...[truncated]");
    }
}

impl plugins::Host for HostState {
    fn call(
        &mut self,
        plugin: String,
        action: String,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<u8>, types::PluginError>> {
        let me = &self.shared;
        let refuse = |code: &str, message: String| Ok(Err(types::PluginError { code: code.to_owned(), message }));
        let Some(req) = me.dependencies.get(&plugin) else {
            let allowed: Vec<&str> = me.dependencies.keys().map(String::as_str).collect();
            let allowed = if allowed.is_empty() { "none".to_owned() } else { allowed.join(", ") };
            let message = format!(
                "plugin '{}' may only call the plugins in its [dependencies] ({allowed}); add '{plugin}' there",
                me.name
            );
            // Audited here only: the callee's own errors come back with
            // codes such as `capability-denied` too, and are the callee's.
            let error = types::PluginError { code: "capability-denied".to_owned(), message };
            return Ok(Err(self.refused("plugins.call", error)));
        };
        let Some(links) = &me.links else {
            let msg =
                format!("plugin '{}' was loaded on its own; calls to other plugins need a PluginManager", me.name);
            return refuse("unavailable", msg);
        };
        // The callee ends no later than this call (see `crate::deadline`).
        let result = links.call(&me.name, &plugin, req, &action, &payload);
        self.or_deadline(result)
    }
}

impl config::Host for HostState {
    fn get(&mut self, key: String) -> Option<String> {
        let config = &self.shared.config;
        config.binary_search_by(|(k, _)| k.as_str().cmp(&key)).ok().map(|i| config[i].1.clone())
    }

    fn get_all(&mut self) -> Vec<(String, String)> {
        self.shared.config.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_log_records_are_cut_on_a_char_boundary() {
        let mut short = "hello".to_owned();
        truncate_record(&mut short);
        assert_eq!(short, "hello");

        // 'é' is two bytes: a cut at MAX_LOG_RECORD would split one.
        let mut long = format!("a{}", "é".repeat(MAX_LOG_RECORD));
        truncate_record(&mut long);
        assert!(long.ends_with("...[truncated]"));
        let kept = long.len() - "...[truncated]".len();
        assert_eq!(kept, MAX_LOG_RECORD - 1, "cut before the 'é' that straddles the limit");
    }
}
