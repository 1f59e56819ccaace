//! The per-store host state: what every capability of an instance shares
//! (the plugin, the call in progress, the audit of refusals) and the state
//! of each capability.

use std::any::Any;
use std::sync::Arc;
use std::time::Instant;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtxView, WasiView};

use crate::bindings::types;
use crate::capture::Capture;
use crate::deadline::Deadline;
use crate::messaging::bus::Message;
use crate::stats::{MemoryInUse, Stats};

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
    /// Its `max-output`: the largest message it may publish, and what the
    /// changes of one call to a lent message may add.
    pub max_output_bytes: u64,
    /// Most header fields a lent message may grow to.
    pub max_headers: usize,
    /// The way to other plugins; set by the plugin manager.
    pub links: Option<Arc<dyn Links>>,
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

/// The data of every plugin instance's wasmtime `Store`: what the call in
/// progress needs ([`Core`]), the state of each capability, and the
/// messages lent to the call. Opaque: host functions see it through
/// [`HostView`](crate::capability::HostView).
pub struct HostState {
    pub(crate) core: Core,
    /// One state per capability of the runtime, in its order.
    pub(crate) caps: Vec<Box<dyn Any + Send>>,
    /// The messages lent to the current call.
    pub(crate) lent: crate::handles::Lent,
}

/// The per-instance data every capability shares: the plugin, the call in
/// progress, the resource table.
pub(crate) struct Core {
    pub shared: Arc<Shared>,
    pub table: ResourceTable,
    /// Set when the limiter refused a memory growth during the current call.
    pub memory_denied: bool,
    /// The instance's linear memory, in bytes, as last grown.
    pub memory_bytes: u64,
    /// Every linear memory of the instance, counted in the plugin's memory
    /// in use while the instance lives.
    pub memory_in_use: MemoryInUse,
    /// When the current call must end; bounds blocking host calls (see
    /// [`crate::wasi`]) and the calls it makes into other plugins.
    pub deadline: Deadline,
    /// Changes with every call (see `HostView::call_id`).
    pub call_id: u64,
    /// Whether the current call already had an import refusal audited.
    pub refusal_audited: bool,
    /// The host-side service (e.g. the key-value store) a blocking import
    /// was waiting for when the call's deadline passed: the call then fails
    /// with [`Error::ServiceUnavailable`](crate::Error::ServiceUnavailable),
    /// not as the plugin's timeout.
    pub stalled_on: Option<String>,
}

impl HostState {
    /// What the plugin wrote to stderr (kept by the WASI capability).
    pub(crate) fn stderr(&self) -> Option<&Capture> {
        self.caps.iter().find_map(|s| s.downcast_ref::<crate::wasi::WasiState>()).map(|w| &w.stderr)
    }
}

impl Core {
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
        let HostState { caps, core, .. } = self;
        let wasi = caps
            .iter_mut()
            .find_map(|s| s.downcast_mut::<crate::wasi::WasiState>())
            .expect("the WASI capability is built in");
        WasiCtxView { ctx: &mut wasi.ctx, table: &mut core.table }
    }
}

impl ResourceLimiter for HostState {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let core = &mut self.core;
        if desired as u64 > core.shared.memory_limit {
            core.memory_denied = true;
            return Ok(false);
        }
        core.shared.stats.memory(desired as u64);
        core.memory_in_use.grew(current as u64, desired as u64);
        core.memory_bytes = core.memory_bytes.max(desired as u64);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Tables hold function references; 100k entries is far beyond any real plugin.
        Ok(desired <= 100_000)
    }
}

impl types::Host for HostState {}
