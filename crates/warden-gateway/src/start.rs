//! Starting a gateway from its configuration: data folder, runtime, plugin
//! manager, plugins, hot reload, listeners, admin token; and stopping it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use warden::{AuditSink, DirWatcher, KeyValueStore, OutboundHttp, PluginManager, Runtime, RuntimeBuilder};

use crate::config::{AdminToken, GatewayConfig};
use crate::error::GatewayError;
use crate::server::Gateway;

/// A gateway that is serving. Dropping it without [`Running::shutdown`]
/// stops accepting at once.
pub struct Running {
    gateway: Gateway,
    addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    admin_token: Option<String>,
    stop: watch::Sender<bool>,
    server: JoinHandle<bool>,
    admin: Option<JoinHandle<()>>,
    follower: Option<JoinHandle<()>>,
    drain: Duration,
    _watcher: Option<DirWatcher>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("addr", &self.addr)
            .field("admin_addr", &self.admin_addr)
            .finish_non_exhaustive()
    }
}

/// The runtime settings that decide how the gateway compiles plugins and
/// where it caches them (`<data-dir>/cache`), without any service: what
/// `warden build --gateway` needs to fill the gateway's compile cache
/// ahead of its start (see [`Runtime::precompile`]).
pub fn compile_settings(config: &GatewayConfig) -> RuntimeBuilder {
    Runtime::builder()
        .fuel(config.server.fuel)
        .cache_dir(config.server.data_dir.join("cache"))
        .max_component_size(config.server.max_component_size)
        .max_headers(config.server.max_headers)
}

/// Starts the gateway described by `config`: creates the data folder, loads
/// every plugin in the plugin folder (any failure stops the start, naming
/// the folder), checks the routes against them, starts hot reload if
/// configured, and opens the listeners. Must run inside a multi-thread
/// tokio runtime.
pub async fn start(config: GatewayConfig) -> Result<Running, GatewayError> {
    let data = config.server.data_dir.clone();
    create_private_dir(&data)?;
    let kv = KeyValueStore::from_spec(&config.server.kv, &data)?;
    let outbound = config.outbound_allow.iter().fold(OutboundHttp::new(), |o, range| o.allow_addresses(*range));
    let runtime = compile_settings(&config).key_value(kv).outbound_http(outbound).build()?;
    let audit = match &config.server.audit_log {
        Some(path) => AuditSink::File(path.clone()),
        None => AuditSink::Tracing,
    };
    let mut builder = PluginManager::builder(runtime)
        .audit(audit)
        .message_queue(config.server.message_queue)
        .message_queue_bytes(config.server.message_queue_bytes);
    if let Some(policy) = &config.trust {
        builder = builder.admission(policy.clone());
    }
    let manager = builder.build()?;
    let plugins = config.server.plugins.clone();
    let loader = manager.clone();
    // Loading compiles and runs `init`: blocking work, off the async threads.
    let report = tokio::task::spawn_blocking(move || loader.load_dir(&plugins))
        .await
        .map_err(|e| GatewayError::AdminToken(format!("plugin loading task failed: {e}")))??;
    if !report.failed.is_empty() {
        return Err(GatewayError::Plugins { dir: config.server.plugins.clone(), failures: report.failed });
    }
    let gateway = Gateway::new(&config, manager.clone())?;
    let watcher = if config.server.watch {
        Some(manager.watch(&config.server.plugins, Duration::from_millis(200))?)
    } else {
        None
    };

    let listener = TcpListener::bind(config.server.listen).await.map_err(|source| GatewayError::Listen {
        what: "gateway",
        key: "server.listen",
        addr: config.server.listen,
        source,
    })?;
    let addr = listener.local_addr().unwrap_or(config.server.listen);
    let (stop, stopped) = watch::channel(false);
    let drain = config.server.drain_timeout;
    let until_stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    let (mut admin_addr, mut admin_token, mut admin) = (None, None, None);
    if let Some(cfg) = &config.admin {
        let token = admin_token_for(&cfg.token, &data)?;
        let listener = TcpListener::bind(cfg.listen).await.map_err(|source| GatewayError::Listen {
            what: "admin API",
            key: "admin.listen",
            addr: cfg.listen,
            source,
        })?;
        admin_addr = Some(listener.local_addr().unwrap_or(cfg.listen));
        let g = gateway.clone();
        let stop_rx = stopped.clone();
        let t = token.clone();
        admin = Some(tokio::spawn(async move { g.serve_admin(listener, t, until_stopped(stop_rx)).await }));
        admin_token = Some(token);
    }
    let follower = (!config.sources.is_empty()).then(|| {
        let keys = config.trust.as_ref().map(warden_dist::TrustPolicy::keys).unwrap_or_default();
        let cache = data.join("registry");
        let (sources, plugins) = (config.sources.clone(), config.server.plugins.clone());
        tokio::spawn(crate::source::follow(sources, keys, plugins, cache, manager.clone(), stopped.clone()))
    });
    let g = gateway.clone();
    let server = tokio::spawn(async move { g.serve(listener, until_stopped(stopped), drain).await });
    Ok(Running { gateway, addr, admin_addr, admin_token, stop, server, admin, follower, drain, _watcher: watcher })
}

impl Running {
    /// The address the gateway listens on (the real port when the
    /// configuration asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin API's address, if enabled.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// The admin bearer token, if the admin API is enabled.
    pub fn admin_token(&self) -> Option<&str> {
        self.admin_token.as_deref()
    }

    /// The request handling (routes, manager).
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// Stops accepting, waits for in-flight requests (up to the
    /// configured `drain-timeout`), then shuts every plugin down. Returns
    /// whether every request finished in time.
    pub async fn shutdown(self) -> bool {
        let _ = self.stop.send(true);
        let drained = self.server.await.unwrap_or(false);
        if let Some(admin) = self.admin {
            admin.abort();
        }
        if let Some(follower) = self.follower {
            follower.abort();
        }
        let manager = self.gateway.manager().clone();
        let names = manager.names();
        let drain = self.drain;
        let unloaded = tokio::task::spawn_blocking(move || {
            for name in names {
                if let Err(e) = manager.unload(&name) {
                    tracing::warn!(plugin = %name, error = %e, "unload at shutdown failed");
                }
            }
        });
        let _ = unloaded.await;
        tracing::debug!(?drain, drained, "gateway stopped");
        drained
    }
}

/// Creates `dir` (and parents), mode 0700 for the last level when new.
fn create_private_dir(dir: &Path) -> Result<(), GatewayError> {
    let io = |source| GatewayError::Io { what: "cannot create the data folder".into(), path: dir.to_owned(), source };
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io)
}

/// Reads or creates the admin token.
fn admin_token_for(source: &AdminToken, data: &Path) -> Result<String, GatewayError> {
    let check = |t: String, from: &str| {
        let t = t.trim().to_owned();
        if t.len() < 16 {
            return Err(GatewayError::AdminToken(format!(
                "the token from {from} is shorter than 16 characters; use a long random value"
            )));
        }
        Ok(t)
    };
    match source {
        AdminToken::Env(var) => match std::env::var(var) {
            Ok(t) => check(t, &format!("${var}")),
            Err(_) => Err(GatewayError::AdminToken(format!(
                "admin.token-env names ${var}, which is not set; export it or use token-file"
            ))),
        },
        AdminToken::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| GatewayError::Io {
                what: "cannot read admin.token-file".into(),
                path: path.clone(),
                source,
            })?;
            check(text.lines().next().unwrap_or_default().to_owned(), &path.display().to_string())
        }
        AdminToken::Generated => {
            let path = token_path(data);
            if let Ok(existing) = std::fs::read_to_string(&path)
                && existing.trim().len() >= 16
            {
                return Ok(existing.trim().to_owned());
            }
            let mut bytes = [0u8; 24];
            getrandom::fill(&mut bytes)
                .map_err(|e| GatewayError::AdminToken(format!("no randomness for a token: {e}")))?;
            let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            write_private(&path, &token).map_err(|source| GatewayError::Io {
                what: "cannot write the admin token".into(),
                path: path.clone(),
                source,
            })?;
            Ok(token)
        }
    }
}

/// Where a generated admin token is kept.
pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin-token")
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    writeln!(file, "{text}")
}
