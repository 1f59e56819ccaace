//! The runtime: one wasmtime engine per process, the linker, the epoch
//! ticker and the compile cache. Everything built once and shared by every
//! plugin.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::cache::Cache;
use crate::capability::{Capabilities, Capability};
use crate::component::ComponentFile;
use crate::error::{Error, Result};
use crate::host::HostState;
use crate::kv::KeyValueStore;
use crate::manifest::Manifest;
use crate::outbound::{self, OutboundHttp};
use crate::plugin::Plugin;
use crate::world::{self, WardenWorld, World};

/// Default of [`RuntimeBuilder::max_headers`].
pub const DEFAULT_MAX_HEADERS: usize = 100;

/// Shared handle to the engine, linker and cache. Cheap to clone.
///
/// Create one per process and load every plugin through it.
///
/// ```no_run
/// # fn main() -> Result<(), warden::Error> {
/// let runtime = warden::Runtime::builder()
///     .cache_dir("/var/cache/myapp/warden")
///     .build()?;
/// let plugin = runtime.load("plugins/logger")?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<HostState>,
    pub(crate) settings: RuntimeBuilder,
    /// Every capability, built-in ones first: each instance holds a state
    /// of each, in this order.
    pub(crate) capabilities: Capabilities,
    /// The worlds plugins may be of.
    pub(crate) worlds: Vec<world::Entry>,
    cache: Option<Cache>,
    /// Dropping this stops the epoch ticker thread.
    _ticker: mpsc::Sender<()>,
}

/// Settings for a [`Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeBuilder {
    cache_dir: Option<PathBuf>,
    pub(crate) epoch_tick: Duration,
    pub(crate) max_memory_bytes: u64,
    pub(crate) max_stack_bytes: usize,
    pub(crate) fuel: bool,
    max_instances_total: u32,
    pub(crate) key_value: Option<KeyValueStore>,
    outbound_http: Option<OutboundHttp>,
    pub(crate) max_component_bytes: u64,
    pub(crate) max_headers: usize,
    capabilities: Capabilities,
    worlds: Vec<world::Entry>,
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        RuntimeBuilder {
            cache_dir: None,
            epoch_tick: Duration::from_millis(5),
            max_memory_bytes: 1 << 30,
            max_stack_bytes: crate::limits::DEFAULT_STACK_BYTES,
            fuel: true,
            max_instances_total: 1000,
            key_value: None,
            outbound_http: None,
            max_component_bytes: crate::component::DEFAULT_MAX_COMPONENT_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            capabilities: Capabilities::default(),
            worlds: Vec::new(),
        }
    }
}

impl RuntimeBuilder {
    /// Caches compiled components in `dir` (created with mode 0700 if
    /// missing). Without it every load compiles.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// How often the deadline clock ticks (default 5 ms). A call that runs
    /// past its timeout is stopped within one tick.
    pub fn epoch_tick(mut self, tick: Duration) -> Self {
        self.epoch_tick = tick.max(Duration::from_micros(100));
        self
    }

    /// Largest memory any plugin may ask for (default 1 GiB).
    pub fn max_memory(mut self, bytes: u64) -> Self {
        self.max_memory_bytes = bytes;
        self
    }

    /// The wasm stack limit for every plugin (default 512 KiB). A plugin
    /// whose manifest asks for more is refused at load.
    pub fn max_wasm_stack(mut self, bytes: usize) -> Self {
        self.max_stack_bytes = bytes;
        self
    }

    /// Whether fuel metering is compiled in (default on). Off saves a few
    /// percent per call; plugins that set `[limits] fuel` are then refused.
    pub fn fuel(mut self, enabled: bool) -> Self {
        self.fuel = enabled;
        self
    }

    /// Largest component file a plugin may have (default 128 MiB). A bigger
    /// file is refused with [`Error::InvalidComponent`] from its size alone,
    /// before any of it is read.
    pub fn max_component_size(mut self, bytes: u64) -> Self {
        self.max_component_bytes = bytes;
        self
    }

    /// Most header fields a plugin may grow a lent request or response to
    /// (default 100); more fail with code `too-many-headers`.
    pub fn max_headers(mut self, n: usize) -> Self {
        self.max_headers = n;
        self
    }

    /// Most plugin instances alive at once across the process (default 1000).
    pub fn max_instances_total(mut self, n: u32) -> Self {
        self.max_instances_total = n.max(1);
        self
    }

    /// The key-value store plugins use (default: none, and the `keyvalue`
    /// import answers `unavailable`). Each plugin whose manifest sets
    /// `[permissions] key-value = true` gets its own namespace (its name),
    /// capped by its `[limits] key-value-quota`.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = warden::KeyValueStore::from_spec("redb", "/var/lib/myapp")?;
    /// let runtime = warden::Runtime::builder().key_value(store).build()?;
    /// # Ok(()) }
    /// ```
    pub fn key_value(mut self, store: KeyValueStore) -> Self {
        self.key_value = Some(store);
        self
    }

    /// Offers outbound HTTP (`warden:plugin/outbound-http`) to plugins, each
    /// limited to the hosts its `[permissions] network` lists. Without it
    /// every `fetch` fails with code `unavailable`.
    ///
    /// ```
    /// # fn main() -> Result<(), warden::Error> {
    /// let runtime = warden::Runtime::builder().outbound_http(warden::OutboundHttp::new()).build()?;
    /// # drop(runtime);
    /// # Ok(()) }
    /// ```
    pub fn outbound_http(mut self, config: OutboundHttp) -> Self {
        self.outbound_http = Some(config);
        self
    }

    /// Adds a host capability: its WIT host functions, the `[permissions]`
    /// keys that grant it and its per-instance state (see
    /// [`capability`](crate::capability)). Names and permission keys must
    /// be unique, also against the built-in capabilities (`files`, `env`,
    /// `network`, `publish`, `subscribe`, `key-value`, `modify-request`,
    /// `modify-response`).
    pub fn capability<C: Capability>(mut self, capability: C) -> Self {
        self.capabilities.0.push(Arc::new(capability));
        self
    }

    /// Loads plugins of world `W` (see [`world`](crate::world)). Without
    /// any call to `world`, a runtime loads plugins of Warden's own world
    /// ([`WardenWorld`]); with some, only of those given (add
    /// `.world::<WardenWorld>()` for both). A plugin that exports none of
    /// the runtime's worlds fails to load, naming them.
    pub fn world<W: World>(mut self) -> Self {
        let entry = world::Entry::of::<W>();
        if !self.worlds.iter().any(|w| w.type_id == entry.type_id) {
            self.worlds.push(entry);
        }
        self
    }

    /// Builds the runtime: creates the engine, links the host imports and
    /// starts the epoch ticker.
    pub fn build(self) -> Result<Runtime> {
        let outbound = match &self.outbound_http {
            Some(config) => Some(Arc::new(outbound::Client::new(config).map_err(Error::Runtime)?)),
            None => None,
        };
        let mut capabilities = builtins(outbound, self.key_value.clone());
        capabilities.0.extend(self.capabilities.0.iter().cloned());
        capabilities.check()?;
        let mut worlds = self.worlds.clone();
        if worlds.is_empty() {
            worlds.push(world::Entry::of::<WardenWorld>());
        }
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .consume_fuel(self.fuel)
            .max_wasm_stack(self.max_stack_bytes)
            .memory_init_cow(true);
        let mut pool = PoolingAllocationConfig::new();
        let n = self.max_instances_total;
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(8))
            .total_memories(n.saturating_mul(2))
            .total_tables(n.saturating_mul(8))
            .max_memory_size(usize::try_from(self.max_memory_bytes).unwrap_or(usize::MAX));
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| Error::Runtime(format!("cannot create the wasm engine: {e}")))?;

        let mut linker = Linker::new(&engine);
        // The lent request, response and context of Warden's hooks.
        crate::bindings::types::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| Error::Runtime(format!("cannot link warden:plugin/types: {e}")))?;
        for capability in &capabilities.0 {
            capability.add_to_linker(&mut linker).map_err(|e| {
                Error::Runtime(format!("cannot link the host functions of capability '{}': {e:#}", capability.name()))
            })?;
        }

        let cache = self.cache_dir.as_deref().map(|dir| Cache::open(dir, &engine)).transpose()?;

        let (stop, ticks) = mpsc::channel::<()>();
        let ticker_engine = engine.clone();
        let tick = self.epoch_tick;
        std::thread::Builder::new()
            .name("warden-epoch".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = ticks.recv_timeout(tick) {
                    ticker_engine.increment_epoch();
                }
            })
            .map_err(|e| Error::Runtime(format!("cannot start the epoch thread: {e}")))?;

        Ok(Runtime {
            inner: Arc::new(Inner { engine, linker, settings: self, capabilities, worlds, cache, _ticker: stop }),
        })
    }
}

/// Warden's own capabilities, in the order their states sit in a store.
fn builtins(outbound: Option<Arc<outbound::Client>>, store: Option<KeyValueStore>) -> Capabilities {
    Capabilities(vec![
        Arc::new(crate::wasi::Wasi),
        Arc::new(crate::log::Log),
        Arc::new(crate::config::Config),
        Arc::new(crate::calls::Calls),
        Arc::new(crate::messaging::Messaging),
        Arc::new(outbound::Outbound { client: outbound }),
        Arc::new(crate::kv::KeyValue { store }),
    ])
}

impl Runtime {
    /// A runtime with default settings and no disk cache.
    pub fn new() -> Result<Runtime> {
        RuntimeBuilder::default().build()
    }

    /// Starts configuring a runtime.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// Loads the plugin in `dir` (its `plugin.toml` and component).
    pub fn load(&self, dir: impl AsRef<Path>) -> Result<Plugin> {
        self.load_manifest(Manifest::from_dir(dir)?)
    }

    /// Loads a plugin from an already parsed (or programmatically built) manifest.
    pub fn load_manifest(&self, manifest: Manifest) -> Result<Plugin> {
        let file = self.read_component(&manifest)?;
        Plugin::new(self.clone(), manifest, &file, Default::default(), None)
    }

    /// Compiles the component `manifest` names into the compile cache
    /// without loading the plugin, so that a later load (a gateway start, a
    /// reload, a first call) does not wait for the compiler: a 20 MB
    /// JavaScript or Python component takes seconds to compile and
    /// milliseconds to load from the cache. Returns whether the cache
    /// already held it. Without a cache directory the component is compiled
    /// and dropped, which still proves it is valid.
    ///
    /// The cache entry is only used by runtimes whose engine settings
    /// (wasmtime version, fuel, limits that shape the code) match this one's.
    pub fn precompile(&self, manifest: &Manifest) -> Result<bool> {
        let file = self.read_component(manifest)?;
        let (_, cached) = self.compile(&manifest.name, &manifest.component, &file.bytes, &file.sha256)?;
        Ok(cached)
    }

    /// Compiles wasm bytes whose sha256 is `hash`, through the cache when
    /// there is one. Returns the component and whether it came from the cache.
    pub(crate) fn compile(
        &self,
        plugin: &str,
        file: &Path,
        bytes: &[u8],
        hash: &[u8; 32],
    ) -> Result<(Component, bool)> {
        if let Some(cache) = &self.inner.cache
            && let Some(component) = cache.get(&self.inner.engine, hash)
        {
            return Ok((component, true));
        }
        let component = Component::new(&self.inner.engine, bytes).map_err(|e| Error::InvalidComponent {
            plugin: plugin.to_owned(),
            file: file.to_owned(),
            message: format!("{e:#}"),
        })?;
        if let Some(cache) = &self.inner.cache {
            cache.put(hash, &component);
        }
        Ok((component, false))
    }

    /// Reads the component a manifest names, within this runtime's size cap.
    pub(crate) fn read_component(&self, manifest: &Manifest) -> Result<ComponentFile> {
        crate::component::read(manifest, self.inner.settings.max_component_bytes)
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// The underlying wasmtime engine, for hosts that need it.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The key-value store given with [`RuntimeBuilder::key_value`], if
    /// any: the one plugins of this runtime reach, e.g. for a host's admin
    /// view of their data.
    pub fn key_value(&self) -> Option<&KeyValueStore> {
        self.inner.settings.key_value.as_ref()
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("settings", &self.inner.settings).finish_non_exhaustive()
    }
}
