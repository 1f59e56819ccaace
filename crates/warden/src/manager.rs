//! The plugin manager: a set of plugins loaded from a directory, called by
//! name, reloaded without dropping a call, and isolated when they misbehave.
//!
//! Calls never take a lock: the table of plugins and each plugin's current
//! version sit behind [`ArcSwap`]s, which a reload, enable or unload replaces
//! whole. A call that started on a version finishes on it; the next call
//! sees the new one.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use serde_json::{Value, json};

use crate::admission::Admission;
use crate::audit::{Audit, AuditSink};
use crate::cache;
use crate::component::ComponentFile;
use crate::error::{Error, ErrorKind, Result};
use crate::host::Links;
use crate::manifest::{MANIFEST_FILE, Manifest, ManifestError};
use crate::messaging::bus::{Mailbox, Message};
use crate::plugin::Plugin;
use crate::runtime::Runtime;
use crate::stats::{Stats, StatsSnapshot};
use crate::types::{HealthStatus, PluginError};

/// What a managed plugin is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PluginState {
    /// Loaded, initialised and serving calls.
    Running,
    /// Could not be loaded (bad manifest, bad component, failing `init`...).
    /// [`PluginInfo::last_error`] says why; fix it and reload.
    Failed,
    /// Turned off with [`PluginManager::disable`]; calls are refused.
    Disabled,
    /// Trapped too often; calls fail fast until the back-off ends, then the
    /// plugin restarts from fresh instances.
    BackingOff,
    /// Registered by a lazy manager ([`ManagerBuilder::lazy`]) and not used
    /// yet: it compiles, instantiates and runs `init` on its first call.
    Idle,
}

impl PluginState {
    /// Lowercase name, e.g. `"backing-off"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginState::Running => "running",
            PluginState::Failed => "failed",
            PluginState::Disabled => "disabled",
            PluginState::BackingOff => "backing-off",
            PluginState::Idle => "idle",
        }
    }
}

impl std::fmt::Display for PluginState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Everything the manager knows about one plugin.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PluginInfo {
    /// Name from the manifest.
    pub name: String,
    /// The plugin's folder.
    pub dir: PathBuf,
    /// Current state.
    pub state: PluginState,
    /// Version serving calls (`None` if no version ever loaded).
    pub version: Option<semver::Version>,
    /// sha256 of the serving component.
    pub sha256: Option<String>,
    /// Time left in back-off.
    pub backoff_remaining: Option<Duration>,
    /// Result of the last health check, if one ran.
    pub health: Option<HealthStatus>,
    /// Why the plugin failed (state `Failed`) or the latest error otherwise.
    pub last_error: Option<String>,
    /// Call statistics.
    pub stats: StatsSnapshot,
    /// Messages waiting in the plugin's mailbox (subscribers only).
    pub queued_messages: usize,
    /// Bytes (topics and payloads) of those messages.
    pub queued_message_bytes: u64,
}

/// The outcome of [`PluginManager::load_dir`]: broken plugins do not stop
/// the others.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct LoadReport {
    /// Names of the plugins now running.
    pub loaded: Vec<String>,
    /// Folders that failed, with why.
    pub failed: Vec<(PathBuf, Error)>,
}

/// Settings for a [`PluginManager`].
#[derive(Debug, Clone)]
pub struct ManagerBuilder {
    runtime: Runtime,
    trap_threshold: u32,
    trap_window: Duration,
    backoff: Duration,
    drain_timeout: Duration,
    health_interval: Option<Duration>,
    audit: AuditSink,
    message_queue: usize,
    message_queue_bytes: u64,
    lazy: bool,
    admission: Option<AdmissionHook>,
}

/// The [`Admission`] a manager asks, shared by its clones.
#[derive(Clone)]
struct AdmissionHook(Arc<dyn Admission>);

impl std::fmt::Debug for AdmissionHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Admission")
    }
}

impl ManagerBuilder {
    /// Loads plugins lazily (default off): [`load`](PluginManager::load) and
    /// [`load_dir`](PluginManager::load_dir) read and check each manifest
    /// and register the plugin as [`PluginState::Idle`]; the component is
    /// read, compiled (or taken from the compile cache), instantiated and
    /// initialised on the plugin's first call, which waits for it. A host
    /// with many plugins, most of them rarely called, starts at once and
    /// never pays for the ones it does not call; a plugin that fails to
    /// build then fails its first call (and every later one, as `Failed`,
    /// until reloaded) instead of the load.
    ///
    /// Plugins that cannot wait stay eager: those with `[dependencies]`
    /// (their dependencies load with them) and subscribers (a message
    /// published before their first call must not be lost).
    pub fn lazy(mut self, lazy: bool) -> Self {
        self.lazy = lazy;
        self
    }

    /// Messages each subscriber can have waiting (default 1024). When a
    /// subscriber falls further behind, its oldest message is dropped and
    /// counted in its stats (`messages_dropped`).
    pub fn message_queue(mut self, capacity: usize) -> Self {
        self.message_queue = capacity.max(1);
        self
    }

    /// Bytes (topics and payloads) each subscriber can have waiting
    /// (default 16 MiB); past it, its oldest messages are dropped as for
    /// [`message_queue`](Self::message_queue). A message bigger than this
    /// is refused at `publish` with `output-too-large`. With `n`
    /// subscribers, queued messages hold at most `n` times this much.
    pub fn message_queue_bytes(mut self, bytes: u64) -> Self {
        self.message_queue_bytes = bytes.max(1);
        self
    }

    /// Asks `admission` on every load and reload whether the plugin may
    /// run, and with what (default: every valid plugin is admitted as its
    /// manifest asks). See [`Admission`].
    pub fn admission(mut self, admission: impl Admission) -> Self {
        self.admission = Some(AdmissionHook(Arc::new(admission)));
        self
    }

    /// Where audit events go (default: the `tracing` subscriber, target
    /// `warden::audit`). See [`AuditSink`].
    pub fn audit(mut self, sink: AuditSink) -> Self {
        self.audit = sink;
        self
    }

    /// A plugin that traps (or hits a limit) this many times within the
    /// trap window is put into back-off (default 5).
    pub fn trap_threshold(mut self, n: u32) -> Self {
        self.trap_threshold = n.max(1);
        self
    }

    /// The window in which traps are counted (default 10 s).
    pub fn trap_window(mut self, window: Duration) -> Self {
        self.trap_window = window;
        self
    }

    /// How long a plugin stays in back-off (default 5 s).
    pub fn backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    /// How long an old version may take to finish its calls after a reload
    /// or unload before it is shut down anyway (default 30 s).
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Calls every running plugin's `health` hook this often, in a
    /// background thread (default: never; call
    /// [`PluginManager::check_health`] yourself).
    pub fn health_interval(mut self, interval: Duration) -> Self {
        self.health_interval = Some(interval.max(Duration::from_millis(10)));
        self
    }

    /// Builds the (empty) manager. Fails only if the audit log file cannot
    /// be opened.
    pub fn build(self) -> Result<PluginManager> {
        let interval = self.health_interval;
        let audit = Audit::open(&self.audit)?;
        let manager = PluginManager {
            inner: Arc::new(Inner { settings: self, audit, plugins: ArcSwap::default(), table_lock: Mutex::new(()) }),
        };
        if let Some(interval) = interval {
            let weak = Arc::downgrade(&manager.inner);
            let spawned =
                std::thread::Builder::new().name("warden-health".into()).spawn(move || health_loop(weak, interval));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start the health-check thread; health is checked on demand only");
            }
        }
        Ok(manager)
    }
}

/// A managed set of plugins. Cheap to clone; `Send + Sync`; call it from
/// any thread, or from async code through the `_async` methods.
///
/// ```no_run
/// use warden::{PluginManager, Runtime};
///
/// # fn main() -> Result<(), warden::Error> {
/// let manager = PluginManager::new(Runtime::new()?);
/// let report = manager.load_dir("plugins")?;
/// for (dir, error) in &report.failed {
///     eprintln!("{}: {error}", dir.display());
/// }
/// let out = manager.handle("validator", "check", br#"{"user_id":"u1"}"#)?;
/// manager.reload("validator")?; // in-flight calls finish on the old version
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PluginManager {
    inner: Arc<Inner>,
}

struct Inner {
    settings: ManagerBuilder,
    audit: Audit,
    /// Name -> entry. Replaced whole on load and unload (rare); read per call.
    plugins: ArcSwap<HashMap<String, Arc<Entry>>>,
    /// Serialises changes to the table.
    table_lock: Mutex<()>,
}

/// One plugin name and every version of it over time.
struct Entry {
    /// Unique in the process; identifies the entry in call chains.
    id: u64,
    name: String,
    dir: PathBuf,
    stats: Arc<Stats>,
    /// What calls see: replaced whole on every state change.
    slot: ArcSwap<Slot>,
    /// Serialises reloads and state changes of this plugin.
    change: Mutex<()>,
    /// Recent traps, for the back-off decision.
    traps: Mutex<VecDeque<Instant>>,
    health: Mutex<Option<HealthStatus>>,
    /// Messages waiting for this plugin; started on the first message.
    mailbox: OnceLock<Arc<Mailbox>>,
    /// The manifest of an idle (lazy, not yet called) plugin, with its text.
    pending: Mutex<Option<(Manifest, String)>>,
}

struct Slot {
    plugin: Option<Plugin>,
    state: State,
    /// What `plugin` was built from (see `PluginManager::built_from`);
    /// with the component's sha256 it tells whether a folder change
    /// changed anything.
    manifest_text: Option<Arc<str>>,
}

impl Slot {
    fn with_state(&self, state: State) -> Slot {
        Slot { plugin: self.plugin.clone(), state, manifest_text: self.manifest_text.clone() }
    }
}

/// What [`PluginManager::sync_folder`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncAction {
    /// A new plugin was loaded; its name.
    Loaded(String),
    /// A changed plugin was reloaded.
    Reloaded(String),
    /// A plugin whose folder is gone was unloaded.
    Unloaded(String),
    /// Nothing changed.
    Unchanged,
}

#[derive(Clone, Copy)]
enum State {
    Running,
    Failed,
    Disabled,
    BackingOff {
        until: Instant,
    },
    /// Lazy and not called yet; [`Entry::pending`] holds its manifest.
    Idle,
}

impl State {
    fn public(self) -> PluginState {
        match self {
            State::Running => PluginState::Running,
            State::Failed => PluginState::Failed,
            State::Disabled => PluginState::Disabled,
            State::BackingOff { .. } => PluginState::BackingOff,
            State::Idle => PluginState::Idle,
        }
    }
}

impl PluginManager {
    /// A manager with default settings (audit events go to `tracing`).
    pub fn new(runtime: Runtime) -> PluginManager {
        PluginManager::builder(runtime).build().expect("the default audit sink (tracing) opens no file")
    }

    /// Starts configuring a manager that loads plugins through `runtime`.
    pub fn builder(runtime: Runtime) -> ManagerBuilder {
        ManagerBuilder {
            runtime,
            trap_threshold: 5,
            trap_window: Duration::from_secs(10),
            backoff: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(30),
            health_interval: None,
            audit: AuditSink::Tracing,
            message_queue: DEFAULT_MESSAGE_QUEUE,
            message_queue_bytes: DEFAULT_MESSAGE_QUEUE_BYTES,
            lazy: false,
            admission: None,
        }
    }

    /// The runtime plugins are loaded through.
    pub fn runtime(&self) -> &Runtime {
        &self.inner.settings.runtime
    }

    /// Loads every plugin folder (a folder holding `plugin.toml`) directly
    /// under `dir`, in name order. A folder that fails is reported in the
    /// result and, if its manifest names it, listed as `Failed`; the others
    /// load regardless. Fails only if `dir` cannot be read.
    pub fn load_dir(&self, dir: impl AsRef<Path>) -> Result<LoadReport> {
        let mut report = LoadReport::default();
        let (order, mut cycles) = dependency_order(plugin_folders(dir.as_ref())?);
        for folder in order {
            let cycle = cycles.iter().position(|(f, _)| *f == folder).map(|i| cycles.swap_remove(i).1);
            match self.load_checked(&folder, cycle) {
                Ok(name) => report.loaded.push(name),
                Err(e) => {
                    tracing::warn!(dir = %folder.display(), error = %e, "plugin failed to load");
                    report.failed.push((folder, e));
                }
            }
        }
        Ok(report)
    }

    /// Loads the plugin in `dir` and returns its name. If the manifest can
    /// be read but the plugin fails (bad component, failing `init`...), it
    /// is still registered as `Failed`, so it shows up in [`list`](Self::list)
    /// and a later [`reload`](Self::reload) can bring it up.
    pub fn load(&self, dir: impl AsRef<Path>) -> Result<String> {
        self.load_checked(dir.as_ref(), None)
    }

    /// [`load`](Self::load), failing with `refused` (a dependency cycle
    /// found by `load_dir`) instead of compiling when it is set.
    fn load_checked(&self, dir: &Path, refused: Option<Error>) -> Result<String> {
        let (manifest, text) = self.admit(dir).inspect_err(|e| {
            let folder =
                dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned());
            self.inner.audit.error("load-failed", &folder, None, e, json!({ "dir": dir.display().to_string() }));
        })?;
        let name = manifest.name.clone();
        let folder = manifest.dir.clone();
        let version = manifest.version.clone();
        let _table = self.inner.table_lock.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = self.inner.plugins.load().get(&name) {
            return Err(duplicate_name(&manifest, &existing.dir));
        }
        let stats = Arc::new(Stats::default());
        let waits = manifest.dependencies.is_empty() && manifest.permissions.subscribe.is_empty();
        if self.inner.settings.lazy && waits && refused.is_none() {
            let slot = Slot { plugin: None, state: State::Idle, manifest_text: None };
            let entry = new_entry(name.clone(), folder, stats, slot);
            *entry.pending.lock().unwrap_or_else(PoisonError::into_inner) = Some((manifest, text));
            let mut table = HashMap::clone(&self.inner.plugins.load());
            table.insert(name.clone(), entry);
            self.inner.plugins.store(Arc::new(table));
            self.inner.audit.event("registered", &name, Some(&version), json!({ "lazy": true }));
            return Ok(name);
        }
        let loaded = match refused {
            Some(e) => Err(e),
            None => self.build(manifest, &stats),
        };
        let (slot, result) = match loaded {
            Ok(plugin) => {
                self.audit_loaded("loaded", &plugin, None);
                let manifest_text = Some(self.built_from(plugin.manifest(), &text));
                (Slot { plugin: Some(plugin), state: State::Running, manifest_text }, Ok(name.clone()))
            }
            Err(e) => {
                stats.error(&e);
                let dir = json!({ "dir": folder.display().to_string() });
                self.inner.audit.error("load-failed", &name, Some(&version), &e, dir);
                (Slot { plugin: None, state: State::Failed, manifest_text: None }, Err(e))
            }
        };
        let mut table = HashMap::clone(&self.inner.plugins.load());
        table.insert(name.clone(), new_entry(name, folder, stats, slot));
        self.inner.plugins.store(Arc::new(table));
        result
    }

    /// Checks the dependencies of `manifest`, reads its component and
    /// builds the plugin (compile, instantiate, `init`), without
    /// registering it.
    fn build(&self, manifest: Manifest, stats: &Arc<Stats>) -> Result<Plugin> {
        self.check_dependencies(&manifest)?;
        let file = self.runtime().read_component(&manifest)?;
        self.compile(manifest, &file, stats)
    }

    /// Builds an idle plugin (see [`ManagerBuilder::lazy`]) on its first use:
    /// afterwards it is running, or failed with the error in its stats.
    /// Concurrent first calls wait for the one build; the call that built
    /// it gets the build's error, the others find the plugin failed.
    fn wake(&self, entry: &Entry) -> Result<()> {
        let _change = entry.change.lock().unwrap_or_else(PoisonError::into_inner);
        if !matches!(entry.slot.load().state, State::Idle) {
            return Ok(());
        }
        let Some((manifest, text)) = entry.pending.lock().unwrap_or_else(PoisonError::into_inner).take() else {
            return Ok(());
        };
        let version = manifest.version.clone();
        let (slot, result) = match self.build(manifest, &entry.stats) {
            Ok(plugin) => {
                self.audit_loaded("loaded", &plugin, None);
                let manifest_text = Some(self.built_from(plugin.manifest(), &text));
                (Slot { plugin: Some(plugin), state: State::Running, manifest_text }, Ok(()))
            }
            Err(e) => {
                entry.stats.error(&e);
                let dir = json!({ "dir": entry.dir.display().to_string() });
                self.inner.audit.error("load-failed", &entry.name, Some(&version), &e, dir);
                (Slot { plugin: None, state: State::Failed, manifest_text: None }, Err(e))
            }
        };
        entry.slot.store(Arc::new(slot));
        result
    }

    /// Audits a version going live: `loaded` lists what it is granted;
    /// `reloaded` lists what changed against the `previous` version
    /// (`granted`, `withdrawn`, `limits`), so a permission change is
    /// visible even when version and hash stay.
    fn audit_loaded(&self, event: &str, plugin: &Plugin, previous: Option<&Plugin>) {
        let mut f = serde_json::Map::new();
        f.insert("sha256".into(), json!(plugin.sha256()));
        f.insert("from_cache".into(), json!(plugin.from_cache()));
        let grants = plugin.manifest().grants();
        match previous {
            None => {
                f.insert("grants".into(), json!(grants));
            }
            Some(p) => {
                let before = p.manifest().grants();
                let granted: Vec<&String> = grants.iter().filter(|g| !before.contains(g)).collect();
                let withdrawn: Vec<&String> = before.iter().filter(|g| !grants.contains(g)).collect();
                f.insert("previous".into(), Value::String(p.version().to_string()));
                f.insert("previous_sha256".into(), Value::String(p.sha256().to_owned()));
                f.insert("granted".into(), json!(granted));
                f.insert("withdrawn".into(), json!(withdrawn));
                f.insert("limits".into(), limit_changes(p.limits(), plugin.limits()));
            }
        }
        self.inner.audit.event(event, plugin.name(), Some(plugin.version()), Value::Object(f));
    }

    /// Reads the manifest in `dir` and asks the [`Admission`], if any,
    /// auditing its decision.
    fn admit(&self, dir: &Path) -> Result<(Manifest, String)> {
        let (manifest, text) = read_manifest(dir)?;
        self.admit_read(dir, manifest, text)
    }

    /// What a plugin was built from, to tell whether a folder change
    /// changed anything (with the component's hash): the manifest text and
    /// the admission's fingerprint.
    fn built_from(&self, manifest: &Manifest, text: &str) -> Arc<str> {
        let fingerprint = match &self.inner.settings.admission {
            Some(AdmissionHook(admission)) => admission.fingerprint(manifest),
            None => Vec::new(),
        };
        match fingerprint.is_empty() {
            true => text.into(),
            false => format!("{text}\0{}", cache::hex(&fingerprint)).into(),
        }
    }

    /// Asks the [`Admission`], if any, about the manifest read from `dir`,
    /// auditing its decision.
    fn admit_read(&self, dir: &Path, mut manifest: Manifest, text: String) -> Result<(Manifest, String)> {
        let Some(AdmissionHook(admission)) = &self.inner.settings.admission else {
            return Ok((manifest, text));
        };
        let (name, version) = (manifest.name.clone(), manifest.version.clone());
        match admission.admit(&mut manifest, &text) {
            Ok(mut fields) => {
                if let Value::Object(f) = &mut fields {
                    f.insert("dir".into(), json!(dir.display().to_string()));
                }
                self.inner.audit.event("admitted", &name, Some(&version), fields);
                Ok((manifest, text))
            }
            Err(reason) => {
                let e = Error::NotAdmitted { plugin: name.clone(), reason };
                self.inner.audit.error(
                    "refused",
                    &name,
                    Some(&version),
                    &e,
                    json!({ "dir": dir.display().to_string() }),
                );
                Err(e)
            }
        }
    }

    /// Writes an event of the host's own to the audit log (the sink chosen
    /// with [`ManagerBuilder::audit`]), e.g. the gateway's admin API
    /// requests. The line gets `ts`, `event`, `plugin` (when given), the
    /// current trace id, and `fields` (a JSON object).
    pub fn audit(&self, event: &str, plugin: Option<&str>, fields: Value) {
        self.inner.audit.record(event, plugin, None, fields);
    }

    /// Builds the plugin (compile, instantiate, `init`), linked to this
    /// manager.
    fn compile(&self, manifest: Manifest, file: &ComponentFile, stats: &Arc<Stats>) -> Result<Plugin> {
        Plugin::new(self.inner.settings.runtime.clone(), manifest, file, stats.clone(), Some(self.links()))
    }

    /// Publishes a message from the host itself (no permission check):
    /// every plugin subscribed to `topic` receives it, asynchronously.
    /// Returns how many subscribers it was queued for.
    pub fn publish(&self, topic: &str, payload: &[u8]) -> Result<usize> {
        if !crate::messaging::bus::valid_topic(topic) {
            return Err(Error::Runtime(crate::messaging::bus::TopicError(topic.to_owned()).to_string()));
        }
        self.deliver(None, Message { topic: topic.into(), payload: payload.into() })
            .map_err(|e| Error::Runtime(e.message))
    }

    /// Queues `message` in the mailbox of every subscriber of its topic;
    /// returns how many. A message that cannot fit in a mailbox is refused.
    fn deliver(&self, publisher: Option<&str>, message: Message) -> std::result::Result<usize, PluginError> {
        let max = self.inner.settings.message_queue_bytes;
        if message.size() > max {
            return Err(PluginError {
                code: "output-too-large".to_owned(),
                message: format!(
                    "a message of {} bytes (topic and payload) to '{}' is bigger than a subscriber's queue ({max} bytes, set by the host: ManagerBuilder::message_queue_bytes, `warden serve`: [server] message-queue-bytes); publish less",
                    message.size(),
                    message.topic
                ),
            });
        }
        let table = self.inner.plugins.load();
        let mut queued = 0;
        for entry in table.values() {
            let slot = entry.slot.load();
            let Some(plugin) = slot.plugin.as_ref() else { continue };
            if !plugin.manifest().permissions.subscribe.iter().any(|p| p.matches(&message.topic)) {
                continue;
            }
            let dropped = self.mailbox(entry).push(message.clone());
            if dropped > 0 {
                entry.stats.messages_dropped(dropped);
                tracing::debug!(plugin = %entry.name, topic = %message.topic, ?publisher, dropped, "mailbox full; oldest messages dropped");
            }
            queued += 1;
        }
        Ok(queued)
    }

    /// The entry's mailbox, started (with its worker thread) on first use.
    fn mailbox(&self, entry: &Arc<Entry>) -> Arc<Mailbox> {
        entry
            .mailbox
            .get_or_init(|| {
                let settings = &self.inner.settings;
                let mailbox = Arc::new(Mailbox::new(settings.message_queue, settings.message_queue_bytes));
                let (manager, name, worker_box) = (Arc::downgrade(&self.inner), entry.name.clone(), mailbox.clone());
                let spawned = std::thread::Builder::new()
                    .name(format!("warden-msg-{name}"))
                    .spawn(move || deliver_loop(&manager, &name, &worker_box));
                if let Err(e) = spawned {
                    tracing::error!(plugin = %entry.name, error = %e, "cannot start the message delivery thread; messages to it are dropped");
                    mailbox.close();
                }
                mailbox
            })
            .clone()
    }

    fn links(&self) -> Arc<dyn Links> {
        Arc::new(ManagerLinks(Arc::downgrade(&self.inner)))
    }

    /// Checks that every dependency of `manifest` is running with an
    /// accepted version, and that no running plugin's requirement on
    /// `manifest` would break if it became this version.
    fn check_dependencies(&self, manifest: &Manifest) -> Result<()> {
        let table = self.inner.plugins.load();
        let dependency = |dependency: &str, required: &semver::VersionReq, problem: String| Error::Dependency {
            plugin: manifest.name.clone(),
            dependency: dependency.to_owned(),
            required: required.to_string(),
            problem,
        };
        for (name, required) in &manifest.dependencies {
            if *name == manifest.name {
                return Err(dependency(name, required, "a plugin cannot depend on itself; remove it".into()));
            }
            let Some(entry) = table.get(name) else {
                let problem = "no plugin of that name is loaded; add its folder or remove the dependency".to_owned();
                return Err(dependency(name, required, problem));
            };
            if matches!(entry.slot.load().state, State::Idle) {
                // A failure is the dependency's own, reported below as such.
                let _ = self.wake(entry);
            }
            let slot = entry.slot.load();
            let Some(plugin) = slot.plugin.as_ref() else {
                return Err(dependency(name, required, "it failed to load; fix it first".into()));
            };
            if !required.matches(plugin.version()) {
                let problem =
                    format!("the loaded version is {}; change the requirement or the plugin", plugin.version());
                return Err(dependency(name, required, problem));
            }
        }
        for entry in table.values().filter(|e| e.name != manifest.name) {
            let slot = entry.slot.load();
            let Some(dependent) = slot.plugin.as_ref() else { continue };
            if let Some(required) = dependent.manifest().dependencies.get(&manifest.name)
                && !required.matches(&manifest.version)
            {
                return Err(Error::Dependency {
                    plugin: entry.name.clone(),
                    dependency: manifest.name.clone(),
                    required: required.to_string(),
                    problem: format!(
                        "the new version is {}; keep a compatible version or update '{}' first",
                        manifest.version, entry.name
                    ),
                });
            }
        }
        Ok(())
    }

    /// Re-reads the plugin's folder and swaps the new version in: the new
    /// version is compiled and initialised first, off the call path; calls
    /// already running finish on the old version, which is shut down once
    /// drained. If any step fails the old version keeps serving and the
    /// error is returned (and counted in the stats).
    pub fn reload(&self, name: &str) -> Result<()> {
        let entry = self.entry(name)?;
        self.reload_entry(&entry, false).map(|_| ())
    }

    /// Reloads `entry` from its folder; with `if_changed`, does nothing
    /// (and returns `false`) when neither the manifest nor the component
    /// changed since the serving version was loaded.
    fn reload_entry(&self, entry: &Entry, if_changed: bool) -> Result<bool> {
        let name = entry.name.as_str();
        let _change = entry.change.lock().unwrap_or_else(PoisonError::into_inner);
        let result = read_manifest(&entry.dir).and_then(|(manifest, text)| {
            if manifest.name != entry.name {
                return Err(Error::Runtime(format!(
                    "plugin '{}' in {} now calls itself '{}'; a reload cannot rename a plugin: unload it and load the folder again",
                    entry.name,
                    entry.dir.display(),
                    manifest.name
                )));
            }
            let file = self.runtime().read_component(&manifest)?;
            let built_from = self.built_from(&manifest, &text);
            if if_changed {
                let slot = entry.slot.load();
                let same = slot.manifest_text.as_deref() == Some(&*built_from);
                if same && slot.plugin.as_ref().is_some_and(|p| p.sha256() == cache::hex(&file.sha256)) {
                    return Ok(None);
                }
            }
            // Admitted only when something changed (an admission may pin
            // the hash: the bytes read above are then checked against it).
            let (manifest, _) = self.admit_read(&entry.dir, manifest, text)?;
            self.check_dependencies(&manifest)?;
            self.compile(manifest, &file, &entry.stats).map(|plugin| Some((plugin, built_from)))
        });
        let (new, text) = match result {
            Ok(Some(built)) => built,
            Ok(None) => return Ok(false),
            Err(e) => {
                self.reload_failed(entry, &e, Value::Null);
                return Err(e);
            }
        };
        tracing::info!(plugin = %name, version = %new.version(), sha256 = %new.sha256(), "plugin reloaded");
        let state = match entry.slot.load().state {
            State::Disabled => State::Disabled,
            _ => State::Running,
        };
        self.audit_loaded("reloaded", &new, entry.slot.load().plugin.as_ref());
        entry.pending.lock().unwrap_or_else(PoisonError::into_inner).take();
        let old = entry.slot.swap(Arc::new(Slot { plugin: Some(new), state, manifest_text: Some(text) }));
        entry.traps.lock().unwrap_or_else(PoisonError::into_inner).clear();
        entry.stats.reloaded(true);
        if let Some(old) = old.plugin.clone() {
            self.retire(old);
        }
        Ok(true)
    }

    /// Records a refused reload of `entry` (stats, audit, log); the version
    /// serving, if any, keeps serving.
    fn reload_failed(&self, entry: &Entry, e: &Error, extra: Value) {
        let name = entry.name.as_str();
        entry.stats.error(e);
        entry.stats.reloaded(false);
        let serving = entry.slot.load().plugin.as_ref().map(|p| p.version().clone());
        let mut fields = json!({ "serving": serving.as_ref().map(ToString::to_string) });
        if let (Value::Object(f), Value::Object(x)) = (&mut fields, extra) {
            f.extend(x);
        }
        self.inner.audit.error("reload-failed", name, serving.as_ref(), e, fields);
        if serving.is_some() {
            tracing::warn!(plugin = %name, error = %e, "reload failed; the previous version keeps serving");
        } else {
            tracing::warn!(plugin = %name, error = %e, "reload failed; the plugin stays failed");
        }
    }

    /// Brings the manager in line with one plugin folder, as the directory
    /// watcher does on every change: loads the plugin if the folder is new,
    /// reloads it if its manifest or component changed, unloads it if the
    /// folder (or its `plugin.toml`) is gone, and swaps plugins if the
    /// folder now holds a plugin of another name. Returns what it did.
    pub fn sync_folder(&self, folder: impl AsRef<Path>) -> Result<SyncAction> {
        let folder = folder.as_ref();
        let current = self.inner.plugins.load().values().find(|e| same_folder(&e.dir, folder)).cloned();
        let present = folder.join(MANIFEST_FILE).is_file();
        match current {
            None if !present => Ok(SyncAction::Unchanged),
            None => self.load(folder).map(SyncAction::Loaded),
            Some(entry) if !present => self.unload(&entry.name).map(|()| SyncAction::Unloaded(entry.name.clone())),
            Some(entry) => {
                // A new name in the folder: the new plugin replaces the old
                // one once it is built; until then the old one serves.
                if let Ok((manifest, _)) = read_manifest(folder)
                    && manifest.name != entry.name
                {
                    // Admitted like any load: a renamed folder is a new plugin.
                    let (manifest, text) =
                        self.admit(folder).inspect_err(|e| self.reload_failed(&entry, e, Value::Null))?;
                    return self.rename(&entry, manifest, text).map(SyncAction::Loaded);
                }
                match self.reload_entry(&entry, true)? {
                    true => Ok(SyncAction::Reloaded(entry.name.clone())),
                    false => Ok(SyncAction::Unchanged),
                }
            }
        }
    }

    /// Replaces the plugin of `entry` by the plugin `manifest` describes (the
    /// folder now holds a plugin of another name). The new plugin is built
    /// first; if that fails, the old one keeps serving, as after any failed
    /// reload. Returns the new name.
    fn rename(&self, entry: &Arc<Entry>, manifest: Manifest, text: String) -> Result<String> {
        let new_name = manifest.name.clone();
        let refused = |e: Error| {
            self.reload_failed(entry, &e, json!({ "renamed-to": new_name }));
            Err(e)
        };
        // Built with no lock held: its `init` may call other plugins.
        let stats = Arc::new(Stats::default());
        let built = match self.inner.plugins.load().get(&new_name) {
            Some(other) => Err(duplicate_name(&manifest, &other.dir)),
            None => self.build(manifest, &stats),
        };
        let plugin = match built {
            Ok(plugin) => plugin,
            Err(e) => return refused(e),
        };
        let replaced = {
            let _table = self.inner.table_lock.lock().unwrap_or_else(PoisonError::into_inner);
            let mut table = HashMap::clone(&self.inner.plugins.load());
            if let Some(other) = table.get(&new_name) {
                let e = duplicate_name(plugin.manifest(), &other.dir);
                self.retire(plugin);
                return refused(e);
            }
            // Unless it was unloaded meanwhile (then whoever did retired it).
            let replaced = table.get(&entry.name).is_some_and(|e| Arc::ptr_eq(e, entry));
            if replaced {
                table.remove(&entry.name);
            }
            self.audit_loaded("loaded", &plugin, None);
            let manifest_text = Some(self.built_from(plugin.manifest(), &text));
            let slot = Slot { plugin: Some(plugin), state: State::Running, manifest_text };
            table.insert(new_name.clone(), new_entry(new_name.clone(), entry.dir.clone(), stats, slot));
            self.inner.plugins.store(Arc::new(table));
            replaced
        };
        if replaced {
            let _change = entry.change.lock().unwrap_or_else(PoisonError::into_inner);
            self.retire_entry(entry);
        }
        tracing::info!(plugin = %entry.name, renamed_to = %new_name, "the folder now holds another plugin; the old one is unloaded");
        Ok(new_name)
    }

    /// [`sync_folder`](Self::sync_folder) for every plugin folder under
    /// `dir`, plus every loaded plugin whose folder sits under `dir`.
    pub fn sync_dir(&self, dir: impl AsRef<Path>) -> Result<Vec<(PathBuf, Result<SyncAction>)>> {
        let dir = dir.as_ref();
        let mut folders = plugin_folders(dir)?;
        for entry in self.inner.plugins.load().values() {
            if entry.dir.parent().is_some_and(|p| same_folder(p, dir)) && !folders.contains(&entry.dir) {
                folders.push(entry.dir.clone());
            }
        }
        Ok(folders.into_iter().map(|f| (f.clone(), self.sync_folder(&f))).collect())
    }

    /// Reloads every plugin; returns each name with its result.
    pub fn reload_all(&self) -> Vec<(String, Result<()>)> {
        self.names().into_iter().map(|name| (name.clone(), self.reload(&name))).collect()
    }

    /// Removes a plugin. Calls in progress finish; the plugin is then shut
    /// down (in the background).
    pub fn unload(&self, name: &str) -> Result<()> {
        let entry = {
            let _table = self.inner.table_lock.lock().unwrap_or_else(PoisonError::into_inner);
            let mut table = HashMap::clone(&self.inner.plugins.load());
            let entry = table.remove(name).ok_or_else(|| self.unknown(name))?;
            self.inner.plugins.store(Arc::new(table));
            entry
        };
        let _change = entry.change.lock().unwrap_or_else(PoisonError::into_inner);
        self.retire_entry(&entry);
        tracing::info!(plugin = %name, "plugin unloaded");
        Ok(())
    }

    /// Ends an entry that left the table: closes its mailbox, audits
    /// `unloaded` and retires its plugin. The caller holds its change lock.
    fn retire_entry(&self, entry: &Entry) {
        let old = entry.slot.load().plugin.clone();
        if let Some(mailbox) = entry.mailbox.get() {
            entry.stats.messages_dropped(mailbox.close());
        }
        self.inner.audit.event("unloaded", &entry.name, old.as_ref().map(Plugin::version), Value::Null);
        if let Some(old) = old {
            self.retire(old);
        }
    }

    /// Drains `old` and shuts it down, in a background thread.
    fn retire(&self, old: Plugin) {
        let timeout = self.inner.settings.drain_timeout;
        let run = move || {
            if !old.drain(timeout) {
                tracing::warn!(plugin = %old.name(), ?timeout, "old version still busy after the drain timeout; shutting it down anyway");
            }
            old.shutdown();
        };
        if let Err(e) = std::thread::Builder::new().name("warden-retire".into()).spawn(run) {
            tracing::error!(error = %e, "cannot start a thread to shut the old version down; its instances are dropped without shutdown");
        }
    }

    /// Turns a plugin off: calls fail with [`Error::Unavailable`] until it
    /// is enabled again. Calls in progress finish.
    pub fn disable(&self, name: &str) -> Result<()> {
        self.set_state(name, "disabled", |_| State::Disabled)
    }

    /// Turns a disabled plugin back on (a failed plugin stays failed: reload
    /// it). Also ends a back-off early.
    pub fn enable(&self, name: &str) -> Result<()> {
        let idle = self.entry(name)?.pending.lock().unwrap_or_else(PoisonError::into_inner).is_some();
        self.set_state(name, "enabled", |slot| match (&slot.plugin, idle) {
            (Some(_), _) => State::Running,
            (None, true) => State::Idle,
            (None, false) => State::Failed,
        })
    }

    fn set_state(&self, name: &str, event: &str, state: impl FnOnce(&Slot) -> State) -> Result<()> {
        let entry = self.entry(name)?;
        let _change = entry.change.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = entry.slot.load();
        let state = state(&slot);
        entry.slot.store(Arc::new(slot.with_state(state)));
        self.inner.audit.event(event, name, slot.plugin.as_ref().map(Plugin::version), Value::Null);
        Ok(())
    }

    /// Names of every plugin, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.inner.plugins.load().keys().cloned().collect();
        names.sort();
        names
    }

    /// Every plugin with its state and stats, sorted by name.
    pub fn list(&self) -> Vec<PluginInfo> {
        let table = self.inner.plugins.load();
        let sorted: BTreeMap<&String, &Arc<Entry>> = table.iter().collect();
        sorted.values().map(|e| self.describe(e)).collect()
    }

    /// One plugin's state and stats.
    pub fn info(&self, name: &str) -> Result<PluginInfo> {
        let entry = self.entry(name)?;
        Ok(self.describe(&entry))
    }

    fn describe(&self, entry: &Entry) -> PluginInfo {
        let slot = entry.slot.load();
        let plugin = slot.plugin.as_ref();
        let (live, idle) = plugin.map_or((0, 0), Plugin::instance_counts);
        let stats = entry.stats.snapshot(live, idle);
        let backoff_remaining = match slot.state {
            State::BackingOff { until } => Some(until.saturating_duration_since(Instant::now())),
            _ => None,
        };
        let (queued_messages, queued_message_bytes) = entry.mailbox.get().map_or((0, 0), |m| m.queued());
        PluginInfo {
            name: entry.name.clone(),
            dir: entry.dir.clone(),
            state: slot.state.public(),
            version: plugin.map(|p| p.version().clone()),
            sha256: plugin.map(|p| p.sha256().to_owned()),
            backoff_remaining,
            health: entry.health.lock().unwrap_or_else(PoisonError::into_inner).clone(),
            last_error: stats.last_error.as_ref().map(|e| e.message.clone()),
            stats,
            queued_messages,
            queued_message_bytes,
        }
    }

    /// The version of `name` serving calls now, for hosts that want to call
    /// it directly. Prefer [`call`](Self::call): it also applies the
    /// plugin's state and counts traps for the back-off.
    pub fn plugin(&self, name: &str) -> Result<Plugin> {
        let entry = self.entry(name)?;
        let slot = self.available(&entry)?;
        Ok(slot.plugin.clone().expect("available slots hold a plugin"))
    }

    /// Runs `f` on the current version of `name`. Fails fast with
    /// [`Error::Unavailable`] if the plugin is disabled, failed or backing
    /// off, and with [`Error::UnknownPlugin`] if there is no such plugin.
    ///
    /// Blocks the calling thread for the length of the call: from async
    /// code use [`call_async`](Self::call_async).
    pub fn call<T>(&self, name: &str, f: impl FnOnce(&Plugin) -> Result<T>) -> Result<T> {
        let table = self.inner.plugins.load();
        let entry = table.get(name).ok_or_else(|| self.unknown(name))?;
        let slot = self.available(entry).inspect_err(|e| entry.stats.refused(e.kind()))?;
        let plugin = slot.plugin.as_ref().expect("available slots hold a plugin");
        let result = {
            let _in_chain = ChainGuard::enter(entry.id);
            f(plugin)
        };
        if let Err(e) = &result {
            let kind = e.kind();
            // A dependency call cut short by its caller's deadline is the
            // caller's limit hit (audited when the caller stops), not this
            // plugin's: no line, and no step toward its back-off.
            let by_caller = matches!(e, Error::Timeout { by_caller: true, .. });
            // Refused capabilities are audited where they are refused (see
            // `HostState::refused`), once per call.
            if (kind.is_trap() || kind == ErrorKind::OutputTooLarge) && !by_caller {
                self.inner.audit.error("limit-hit", name, Some(plugin.version()), e, Value::Null);
            }
            if kind.is_trap() && !by_caller {
                self.trapped(entry);
            }
        }
        result
    }

    /// [`call`](Self::call) for async code: runs on tokio's blocking pool so
    /// the async runtime's threads never block on a plugin. Must be called
    /// within a tokio runtime.
    pub async fn call_async<T, F>(&self, name: &str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Plugin) -> Result<T> + Send + 'static,
    {
        let manager = self.clone();
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || manager.call(&name, f))
            .await
            .map_err(|e| Error::Runtime(format!("a plugin call task failed: {e}")))?
    }

    /// Calls `handle(action, payload)` on `name`.
    pub fn handle(&self, name: &str, action: &str, payload: &[u8]) -> Result<Vec<u8>> {
        self.call(name, |p| p.handle(action, payload))
    }

    /// [`handle`](Self::handle) for async code.
    pub async fn handle_async(&self, name: &str, action: &str, payload: Vec<u8>) -> Result<Vec<u8>> {
        let action = action.to_owned();
        self.call_async(name, move |p| p.handle(&action, &payload)).await
    }

    /// Calls `health` on every running plugin and records the answers (see
    /// [`PluginInfo::health`]); unhealthy plugins are logged.
    pub fn check_health(&self) -> Vec<(String, Result<HealthStatus>)> {
        let table = self.inner.plugins.load();
        let mut results = Vec::new();
        for entry in table.values() {
            let slot = entry.slot.load();
            let (State::Running, Some(plugin)) = (slot.state, slot.plugin.as_ref()) else { continue };
            let result = plugin.health();
            let status = match &result {
                Ok(status) => status.clone(),
                Err(e) => HealthStatus::Unhealthy(format!("the health check failed: {e}")),
            };
            if !matches!(status, HealthStatus::Healthy) {
                tracing::warn!(plugin = %entry.name, ?status, "plugin is not healthy");
            }
            *entry.health.lock().unwrap_or_else(PoisonError::into_inner) = Some(status);
            results.push((entry.name.clone(), result));
        }
        results.sort_by(|a, b| a.0.cmp(&b.0));
        results
    }

    fn entry(&self, name: &str) -> Result<Arc<Entry>> {
        self.inner.plugins.load().get(name).cloned().ok_or_else(|| self.unknown(name))
    }

    fn unknown(&self, name: &str) -> Error {
        Error::UnknownPlugin { plugin: name.to_owned(), known: self.names() }
    }

    /// The entry's slot if it may take calls; ends an expired back-off.
    fn available(&self, entry: &Entry) -> Result<arc_swap::Guard<Arc<Slot>>> {
        if matches!(entry.slot.load().state, State::Idle) {
            self.wake(entry)?;
        }
        let slot = entry.slot.load();
        let reason = match slot.state {
            State::Running => return Ok(slot),
            State::BackingOff { until } if Instant::now() >= until => {
                drop(slot);
                self.recover(entry);
                return Ok(entry.slot.load());
            }
            State::BackingOff { until } => format!(
                "it trapped {} times within {:?} and is backing off for another {} ms",
                self.inner.settings.trap_threshold,
                self.inner.settings.trap_window,
                until.saturating_duration_since(Instant::now()).as_millis()
            ),
            State::Disabled => "it is disabled; enable it to take calls again".to_owned(),
            State::Failed => {
                let why = entry.stats.snapshot(0, 0).last_error.map(|e| e.message).unwrap_or_default();
                format!("it failed to load ({why}); fix it and reload")
            }
            // Only while another thread swaps the slot in `wake`.
            State::Idle => "it is still loading; try again".to_owned(),
        };
        Err(Error::Unavailable { plugin: entry.name.clone(), state: slot.state.public(), reason })
    }

    /// Ends a back-off: drops the idle instances so calls start fresh.
    fn recover(&self, entry: &Entry) {
        let _change = entry.change.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = entry.slot.load();
        if let State::BackingOff { .. } = slot.state {
            if let Some(plugin) = &slot.plugin {
                plugin.reset();
            }
            entry.traps.lock().unwrap_or_else(PoisonError::into_inner).clear();
            entry.slot.store(Arc::new(slot.with_state(State::Running)));
            tracing::info!(plugin = %entry.name, "back-off over; plugin serving again from fresh instances");
        }
    }

    /// Counts a trap; enough of them within the window start a back-off.
    fn trapped(&self, entry: &Entry) {
        let settings = &self.inner.settings;
        let now = Instant::now();
        let mut traps = entry.traps.lock().unwrap_or_else(PoisonError::into_inner);
        traps.push_back(now);
        while traps.front().is_some_and(|t| now.duration_since(*t) > settings.trap_window) {
            traps.pop_front();
        }
        if traps.len() < settings.trap_threshold as usize {
            return;
        }
        traps.clear();
        drop(traps);
        let _change = entry.change.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = entry.slot.load();
        if let State::Running = slot.state {
            let until = now + settings.backoff;
            entry.slot.store(Arc::new(slot.with_state(State::BackingOff { until })));
            let version = slot.plugin.as_ref().map(Plugin::version);
            let ms = u64::try_from(settings.backoff.as_millis()).unwrap_or(u64::MAX);
            self.inner.audit.event("backoff", &entry.name, version, json!({ "until_ms": ms }));
            tracing::warn!(plugin = %entry.name, backoff = ?settings.backoff, "plugin trapped {} times within {:?}; backing off", settings.trap_threshold, settings.trap_window);
        }
    }
}

impl std::fmt::Debug for PluginManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginManager").field("plugins", &self.names()).finish_non_exhaustive()
    }
}

thread_local! {
    /// Plugins with a call in progress on this thread, outermost first.
    static CALL_CHAIN: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Default bound of one subscriber's mailbox, in messages: 1024.
pub const DEFAULT_MESSAGE_QUEUE: usize = 1024;
/// Default bound of one subscriber's mailbox, in bytes: 16 MiB.
pub const DEFAULT_MESSAGE_QUEUE_BYTES: u64 = 16 << 20;

/// Source of [`Entry::id`]s.
static NEXT_ENTRY_ID: AtomicU64 = AtomicU64::new(1);

/// Whether the entry `id` has a call in progress on this thread.
fn in_call_chain(id: u64) -> bool {
    CALL_CHAIN.with(|chain| chain.borrow().contains(&id))
}

/// Keeps a plugin in the call chain for its call (popped even on unwind).
struct ChainGuard;

impl ChainGuard {
    fn enter(id: u64) -> ChainGuard {
        CALL_CHAIN.with(|chain| chain.borrow_mut().push(id));
        ChainGuard
    }
}

impl Drop for ChainGuard {
    fn drop(&mut self) {
        CALL_CHAIN.with(|chain| chain.borrow_mut().pop());
    }
}

/// The limits that differ between two versions, as
/// `{"timeout": {"from": "1s", "to": "250ms"}, ...}`.
fn limit_changes(old: &crate::Limits, new: &crate::Limits) -> Value {
    let describe = |l: &crate::Limits| -> Vec<(&'static str, String)> {
        vec![
            ("memory", l.memory_bytes.to_string()),
            ("timeout", format!("{:?}", l.timeout)),
            ("fuel", l.fuel.map_or_else(|| "none".to_owned(), |f| f.to_string())),
            ("stack", l.stack_bytes.to_string()),
            ("max-instances", l.max_instances.to_string()),
            ("max-wait", format!("{:?}", l.max_wait)),
            ("max-output", l.max_output_bytes.to_string()),
            ("instance-policy", format!("{:?}", l.instance_policy)),
            ("max-outbound-requests", l.max_outbound_requests.to_string()),
            ("max-outbound-response", l.max_outbound_response_bytes.to_string()),
            ("key-value-quota", l.key_value_quota_bytes.to_string()),
        ]
    };
    let changes: serde_json::Map<String, Value> = describe(old)
        .into_iter()
        .zip(describe(new))
        .filter(|((_, a), (_, b))| a != b)
        .map(|((key, from), (_, to))| (key.to_owned(), json!({ "from": from, "to": to })))
        .collect();
    Value::Object(changes)
}

/// A new table entry for plugin `name` in `dir`.
fn new_entry(name: String, dir: PathBuf, stats: Arc<Stats>, slot: Slot) -> Arc<Entry> {
    Arc::new(Entry {
        id: NEXT_ENTRY_ID.fetch_add(1, Ordering::Relaxed),
        name,
        dir,
        stats,
        slot: ArcSwap::from_pointee(slot),
        change: Mutex::new(()),
        traps: Mutex::new(VecDeque::new()),
        health: Mutex::new(None),
        mailbox: OnceLock::new(),
        pending: Mutex::new(None),
    })
}

/// The error for a manifest whose name another loaded plugin (in
/// `existing`) already has: a mistake in the manifest, reported as one.
fn duplicate_name(manifest: &Manifest, existing: &Path) -> Error {
    Error::Manifest(ManifestError {
        file: manifest.file.clone(),
        line: None,
        column: None,
        key: Some("plugin.name".into()),
        message: format!(
            "the name '{}' is already used by the plugin in {}; plugin names must be unique: rename one of them",
            manifest.name,
            existing.display()
        ),
    })
}

/// Orders plugin folders so that dependencies load before their
/// dependents (by name; ties in folder order). Folders whose manifest
/// cannot be read, and plugins caught in a cycle, keep their place at the
/// end: loading them reports the problem.
fn dependency_order(folders: Vec<PathBuf>) -> (Vec<PathBuf>, Vec<(PathBuf, Error)>) {
    let manifests: Vec<(PathBuf, Option<Manifest>)> =
        folders.into_iter().map(|f| (f.clone(), read_manifest(&f).ok().map(|(m, _)| m))).collect();
    let names: BTreeSet<&str> = manifests.iter().filter_map(|(_, m)| m.as_ref().map(|m| m.name.as_str())).collect();
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    let mut order = Vec::new();
    loop {
        let before = order.len();
        for (folder, manifest) in &manifests {
            let Some(m) = manifest else { continue };
            if placed.contains(m.name.as_str()) {
                continue;
            }
            let ready = m.dependencies.keys().all(|d| placed.contains(d.as_str()) || !names.contains(d.as_str()));
            if ready {
                placed.insert(&m.name);
                order.push(folder.clone());
            }
        }
        if order.len() == before {
            break;
        }
    }
    // What is left either is in a cycle or waits on one: name the cycle.
    let waiting: BTreeMap<&str, &Manifest> = manifests
        .iter()
        .filter_map(|(_, m)| m.as_ref())
        .filter(|m| !placed.contains(m.name.as_str()))
        .map(|m| (m.name.as_str(), m))
        .collect();
    let mut cycles = Vec::new();
    for (folder, manifest) in &manifests {
        if !order.contains(folder) {
            order.push(folder.clone());
        }
        let Some(m) = manifest.as_ref().filter(|m| waiting.contains_key(m.name.as_str())) else { continue };
        // Follow waiting dependencies from `m` until a name repeats.
        let mut path = vec![m.name.as_str()];
        let mut at = m;
        let cycle = loop {
            let Some(next) = at.dependencies.keys().find_map(|d| waiting.get(d.as_str())) else { break None };
            if let Some(start) = path.iter().position(|p| *p == next.name) {
                let mut cycle = path[start..].to_vec();
                cycle.push(&next.name);
                break Some(cycle.join(" -> "));
            }
            path.push(&next.name);
            at = next;
        };
        let Some(cycle) = cycle else { continue };
        let (dependency, required) = m
            .dependencies
            .iter()
            .find(|(d, _)| waiting.contains_key(d.as_str()))
            .map(|(d, r)| (d.clone(), r.to_string()))
            .unwrap_or_default();
        let problem = format!("the dependencies form a cycle ({cycle}); remove one of them");
        cycles.push((folder.clone(), Error::Dependency { plugin: m.name.clone(), dependency, required, problem }));
    }
    (order, cycles)
}

/// Folders directly under `dir` that hold a `plugin.toml`, sorted.
fn plugin_folders(dir: &Path) -> Result<Vec<PathBuf>> {
    let read = std::fs::read_dir(dir).map_err(|e| Error::io("cannot read the plugin directory", dir, e))?;
    let mut folders = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| Error::io("cannot read the plugin directory", dir, e))?;
        let path = entry.path();
        // Hidden folders (`.name`, e.g. an install being staged) are not plugins.
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden && path.join(MANIFEST_FILE).is_file() {
            folders.push(path);
        }
    }
    folders.sort();
    Ok(folders)
}

/// Reads and parses `dir/plugin.toml`, returning the text too.
fn read_manifest(dir: &Path) -> Result<(Manifest, String)> {
    let file = dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&file).map_err(|e| Error::io("cannot read the plugin manifest", &file, e))?;
    let manifest = Manifest::parse(&text, &file)?;
    Ok((manifest, text))
}

/// Whether two paths name the same folder (compared canonically when both exist).
fn same_folder(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

/// What plugins of a manager reach through it: each other (dependency
/// calls) and the message bus. Holds the manager weakly: plugins live
/// inside it.
struct ManagerLinks(Weak<Inner>);

impl ManagerLinks {
    fn manager(&self) -> Result<PluginManager> {
        let inner = self.0.upgrade().ok_or_else(|| Error::Runtime("the plugin manager is shutting down".into()))?;
        Ok(PluginManager { inner })
    }
}

impl Links for ManagerLinks {
    fn call(
        &self,
        caller: &str,
        callee: &str,
        required: &semver::VersionReq,
        action: &str,
        payload: &[u8],
    ) -> std::result::Result<Vec<u8>, PluginError> {
        let refuse = |code: &str, message: String| PluginError { code: code.to_owned(), message };
        let manager = self.manager().map_err(|e| refuse(e.kind().as_str(), e.to_string()))?;
        if let Ok(entry) = manager.entry(callee)
            && in_call_chain(entry.id)
        {
            let msg = format!("plugin '{caller}' cannot call '{callee}': it is already in this call chain");
            return Err(refuse("reentrant-call", msg));
        }
        let result = manager.call(callee, |p| {
            if !required.matches(p.version()) {
                return Err(Error::Dependency {
                    plugin: caller.to_owned(),
                    dependency: callee.to_owned(),
                    required: required.to_string(),
                    problem: format!("the version serving now is {}", p.version()),
                });
            }
            p.handle(action, payload)
        });
        let kind = result.as_ref().err().map(|e| e.kind().as_str());
        let fields = json!({ "callee": callee, "action": action, "ok": result.is_ok(), "kind": kind });
        let caller_version =
            manager.entry(caller).ok().and_then(|e| e.slot.load().plugin.as_ref().map(|p| p.version().clone()));
        manager.inner.audit.event("dependency-call", caller, caller_version.as_ref(), fields);
        result.map_err(|e| refuse(e.kind().as_str(), e.to_string()))
    }

    fn publish(&self, publisher: Option<&str>, message: Message) -> std::result::Result<(), PluginError> {
        match self.manager() {
            Ok(manager) => manager.deliver(publisher, message).map(|_| ()),
            Err(_) => Ok(()),
        }
    }

    fn refused(&self, plugin: &str, version: &semver::Version, import: &str, error: &PluginError) {
        let Ok(manager) = self.manager() else { return };
        let event = if error.code == "capability-denied" { "capability-denied" } else { "limit-hit" };
        let fields = json!({ "kind": error.code, "error": error.message, "import": import });
        manager.inner.audit.event(event, plugin, Some(version), fields);
    }
}

/// A subscriber's worker: delivers its messages one by one, in order.
fn deliver_loop(manager: &Weak<Inner>, name: &str, mailbox: &Mailbox) {
    while let Some(message) = mailbox.pop() {
        let Some(inner) = manager.upgrade() else { return };
        let manager = PluginManager { inner };
        let result = manager.call(name, |p| p.on_message(&message.topic, &message.payload));
        if let Err(e) = result {
            if e.kind() == ErrorKind::Unavailable
                && let Ok(entry) = manager.entry(name)
            {
                // Never reached the plugin (disabled, failed, backing off).
                entry.stats.messages_dropped(1);
            }
            tracing::debug!(plugin = %name, topic = %message.topic, error = %e, "message not delivered");
        }
    }
}

fn health_loop(manager: Weak<Inner>, interval: Duration) {
    loop {
        std::thread::sleep(interval);
        let Some(inner) = manager.upgrade() else { return };
        PluginManager { inner }.check_health();
    }
}
