//! The simulated host of `warden test`: the real runtime, with a key-value
//! store in a temporary folder, outbound HTTP answered by the case's stubs
//! (through [`warden::OutboundHttp::simulate`], so the manifest's network
//! grant still applies), and the plugin's log records captured.

use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, Result, bail};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use warden::{KeyValueStore, Manifest, OutboundHttp, Runtime, http};

use super::case::{Case, Stub};
use super::imports::HostImports;
use super::wit::ComponentWit;
use crate::Cli;

/// Most log lines kept per case; later ones are counted, not kept.
const MAX_LOG_LINES: usize = 1000;
/// Most keys one listing of the store returns.
const MAX_KEYS: u32 = 1000;

/// The runtime and the parts of the host a case sets up and reads back.
pub struct Host {
    pub runtime: Runtime,
    /// The component's WIT: its exports and host imports.
    pub wit: ComponentWit,
    store: KeyValueStore,
    network: Arc<Mutex<Network>>,
    /// The host's own imports, if the plugin has any.
    imports: Option<HostImports>,
    _dir: tempfile::TempDir,
}

/// The current case's stubs and the requests the plugin made.
#[derive(Default)]
struct Network {
    stubs: Vec<Stub>,
    fetched: Vec<String>,
}

impl Host {
    /// The host for the plugin `manifest` describes (whose component is
    /// read for the host's own imports, which it simulates).
    pub fn new(cli: &Cli, manifest: &Manifest) -> Result<Host> {
        let dir = tempfile::tempdir().context("cannot create a temporary folder for the test key-value store")?;
        let store = KeyValueStore::open(dir.path().join("kv.redb"))?;
        let network = Arc::new(Mutex::new(Network::default()));
        let answer = {
            let network = network.clone();
            move |request: &http::Request<Vec<u8>>| answer(&network, request)
        };
        let wit = ComponentWit::read(&manifest.component)?;
        let mut builder = cli
            .runtime_builder()
            .world::<warden::WardenWorld>()
            .key_value(store.clone())
            .outbound_http(OutboundHttp::new().simulate(answer));
        // A plugin of Warden's hooks loads as a gateway loads it (a hook
        // interface that does not match is an error); any other plugin is
        // of its host's own world, whose functions cases call by name.
        if !wit.warden_hooks {
            builder = builder.world::<super::export::AnyWorld>();
        }
        let imports = HostImports::of(manifest, &wit);
        if let Some(imports) = &imports {
            builder = builder.capability(imports.clone());
        }
        Ok(Host { runtime: builder.build()?, wit, store, network, imports, _dir: dir })
    }

    /// Empties the plugin's key-value namespace and writes the case's
    /// entries, sets its answers (HTTP and the host's imports), forgets
    /// earlier requests, calls and log lines.
    pub fn prepare(&self, namespace: &str, case: &Case) -> Result<()> {
        // A listing is capped (at `MAX_KEYS`): delete until none is left.
        loop {
            let keys = self.store.list_keys(namespace, "", MAX_KEYS)?;
            if keys.is_empty() {
                break;
            }
            for key in keys {
                self.store.delete(namespace, &key)?;
            }
        }
        for (key, value) in &case.kv {
            self.store
                .set(namespace, key, value.as_bytes(), u64::MAX)
                .with_context(|| format!("cannot write key-value entry {key:?} before the call"))?;
        }
        let mut network = self.network.lock().unwrap_or_else(PoisonError::into_inner);
        network.stubs = case.http.clone();
        network.fetched.clear();
        drop(network);
        if let Some(imports) = &self.imports {
            imports.prepare(&case.import)?;
        } else if let Some(stub) = case.import.first() {
            bail!("`import` answers `{}`, but the plugin imports nothing of its host's own", stub.func);
        }
        take_logs();
        Ok(())
    }

    /// The value of `key` in the namespace (as lossy UTF-8), if any.
    pub fn entry(&self, namespace: &str, key: &str) -> Result<Option<String>> {
        Ok(self.store.get(namespace, key)?.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// The outbound requests made since [`Host::prepare`], as `METHOD URL`.
    pub fn fetched(&self) -> Vec<String> {
        self.network.lock().unwrap_or_else(PoisonError::into_inner).fetched.clone()
    }

    /// The host's own imports the plugin called, in order.
    pub fn imported(&self) -> Vec<String> {
        self.imports.as_ref().map(HostImports::made).unwrap_or_default()
    }
}

/// The first stub that matches answers; no match is a failed connection
/// that says which stub to add.
fn answer(network: &Mutex<Network>, request: &http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, String> {
    let mut network = network.lock().unwrap_or_else(PoisonError::into_inner);
    let (method, url) = (request.method().as_str(), request.uri().to_string());
    network.fetched.push(format!("{method} {url}"));
    let Some(stub) = network.stubs.iter().find(|s| s.matches(method, &url)) else {
        return Err(format!("no [[case.http]] stub matches {method} {url}; add one with url = \"{url}\""));
    };
    if let Some(why) = &stub.refuse {
        return Err(why.clone());
    }
    let body = match (&stub.body, &stub.json) {
        (_, Some(json)) => serde_json::to_vec(json).map_err(|e| e.to_string())?,
        (Some(body), None) => body.clone().into_bytes(),
        (None, None) => Vec::new(),
    };
    let mut response = http::Response::builder().status(stub.status);
    for (name, value) in &stub.headers {
        response = response.header(name, value);
    }
    response.body(body).map_err(|e| format!("stub for {url} is not a valid response: {e}"))
}

/// The plugin's log lines, captured by [`Capture`].
static LOGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Takes the log lines captured so far.
pub fn take_logs() -> Vec<String> {
    std::mem::take(&mut *LOGS.lock().unwrap_or_else(PoisonError::into_inner))
}

/// Keeps plugin log records (target `warden::plugin`) as `LEVEL message`
/// for the cases' expectations and failure reports.
struct Capture;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        // Target `warden::plugin` carries the plugin's records (from the log
        // capability, module `warden::log`), what it wrote to stderr (a
        // `stderr` field), and the host's own notes about it, which are
        // not the plugin's output.
        let meta = event.metadata();
        if meta.target() != "warden::plugin" {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let line = match (meta.module_path(), fields.stderr) {
            (_, Some(stderr)) => format!("STDERR {stderr}"),
            (Some("warden::log"), None) => format!("{} {}", meta.level(), fields.message),
            _ => return,
        };
        let mut logs = LOGS.lock().unwrap_or_else(PoisonError::into_inner);
        match logs.len() {
            n if n < MAX_LOG_LINES => logs.push(line),
            MAX_LOG_LINES => logs.push(format!("... (more than {MAX_LOG_LINES} log lines; the rest are not kept)")),
            _ => {}
        }
    }
}

/// The `message` and `stderr` fields of an event.
#[derive(Default)]
struct Fields {
    message: String,
    stderr: Option<String>,
}

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "stderr" => self.stderr = Some(format!("{value:?}")),
            _ => {}
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_owned(),
            "stderr" => self.stderr = Some(value.to_owned()),
            _ => {}
        }
    }
}

/// Logging for `warden test`: warnings and the host's own messages on
/// stderr as usual, plugin records captured instead of printed.
pub fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WARDEN_LOG")
        .unwrap_or_else(|_| format!("{filter},warden::plugin=off").into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi).with_target(false);
    let capture = tracing_subscriber::Layer::with_filter(
        Capture,
        tracing_subscriber::filter::Targets::new().with_target("warden::plugin", tracing::Level::TRACE),
    );
    tracing_subscriber::registry().with(tracing_subscriber::Layer::with_filter(fmt, filter)).with(capture).init();
}
