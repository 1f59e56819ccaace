//! The gateway configuration file (`warden serve --config gateway.toml`),
//! parsed and checked into [`GatewayConfig`].
//!
//! Every mistake is reported as a [`ConfigError`] with the file, the line and
//! column, the dotted key and what to write instead. The format is described
//! in `docs/GATEWAY.md`.
//!
//! ```
//! use warden_gateway::GatewayConfig;
//!
//! let config = GatewayConfig::parse(
//!     r#"
//! [server]
//! listen = "127.0.0.1:8080"
//!
//! [[route]]
//! name = "api"
//! path = "/api"
//! mode = "respond"
//! on-request = ["validator", { plugin = "enricher", on-error = "fail-open" }]
//! "#,
//!     "gateway.toml".as_ref(),
//! )?;
//! assert_eq!(config.routes[0].on_request.len(), 2);
//! # Ok::<(), warden_gateway::ConfigError>(())
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::Method;
use serde::Deserialize;
use serde_spanned::Spanned;

use crate::route::{HostRule, Pattern};

/// A checked gateway configuration. Relative paths are already resolved
/// against the configuration file's folder.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GatewayConfig {
    /// The file it came from.
    pub file: PathBuf,
    /// Listener and process-wide settings.
    pub server: ServerConfig,
    /// The admin API; `None` when `[admin]` has `enabled = false`.
    pub admin: Option<AdminConfig>,
    /// Address ranges plugins' outbound HTTP may reach although they are
    /// loopback, private, link-local or metadata addresses.
    pub outbound_allow: Vec<warden::AddressRange>,
    /// Routes in match order.
    pub routes: Vec<RouteConfig>,
    /// Rules in the order written.
    pub rules: Vec<RuleConfig>,
    /// The trust policy every plugin load goes through (`[trust]`); `None`
    /// when the file has no `[trust]` table: plugins load as their
    /// manifests ask, signed or not.
    pub trust: Option<warden_dist::TrustPolicy>,
    /// Registry repositories the gateway follows (`[[source]]`).
    pub sources: Vec<SourceConfig>,
}

/// A `[[source]]`: a plugin repository in an OCI registry the gateway
/// follows, installing and hot-reloading each new signed version the
/// requirement accepts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SourceConfig {
    /// `registry/repository`, e.g. `127.0.0.1:5000/plugins/auth`.
    pub repository: String,
    /// The versions accepted (default `*`: the highest).
    pub version: semver::VersionReq,
    /// How often the registry is asked.
    pub interval: Duration,
}

/// The `[server]` table.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Where the gateway listens.
    pub listen: SocketAddr,
    /// The plugin folder: each subfolder with a `plugin.toml` is a plugin.
    pub plugins: PathBuf,
    /// Where the gateway keeps its state: key-value store, admin token,
    /// compile cache.
    pub data_dir: PathBuf,
    /// Largest request body read into memory: for a plugin that asks for
    /// it (bigger: 413), or for rules, on-capture and respond routes
    /// (bigger: 413 before any plugin runs). A body nothing reads streams
    /// to the upstream whatever its size.
    pub max_body: u64,
    /// Largest upstream response body read into memory, for an
    /// `on-response` plugin that asks for it (bigger: 502) or for
    /// `on-capture` (captured without its body).
    pub max_response_body: u64,
    /// Request bodies with a declared length up to this are read before
    /// the plugins run (within `body-read-timeout`), so that a slow client
    /// never holds a plugin instance; bigger ones, and those without a
    /// length, stay on the wire until a plugin reads them (the wait then
    /// counts against that plugin's timeout). 0 turns it off.
    pub body_prefetch: u64,
    /// Whether plugin folders are watched and reloaded on change.
    pub watch: bool,
    /// One log line per request, at info level.
    pub access_log: bool,
    /// Log format.
    pub log_format: LogFormat,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub drain_timeout: Duration,
    /// Plugins run once per accepted connection.
    pub on_connect: Vec<Stage>,
    /// Key-value backend: `"redb"` (a file in `data_dir`) or a `redis://` URL.
    pub kv: String,
    /// Most `on-capture` and `on-rule-match` deliveries waiting at once;
    /// more are dropped and counted.
    pub max_background: usize,
    /// Audit log file (JSON lines); `None` sends audit events to the log.
    pub audit_log: Option<PathBuf>,
    /// Whether the engine meters fuel (default on). Off makes every plugin
    /// call cheaper; plugins that set `[limits] fuel` then fail to load.
    pub fuel: bool,
    /// Most client connections open at once; further clients wait in the
    /// listen backlog until one closes. Lowered at start when the process's
    /// open-file limit could not hold them.
    pub max_connections: usize,
    /// Time allowed for a request head: from the moment the connection
    /// opens, or from the first byte of a request on a kept-alive one.
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Time allowed for a whole request body once its head has arrived.
    pub body_read_timeout: Duration,
    /// How long writing to a client may stall (the client not reading)
    /// before the connection is closed.
    pub write_timeout: Duration,
    /// Most header fields in a request, in a request or response a plugin
    /// returns, and in an upstream response.
    pub max_headers: usize,
    /// Messages each subscriber plugin can have waiting.
    pub message_queue: usize,
    /// Bytes each subscriber plugin can have waiting.
    pub message_queue_bytes: u64,
    /// Largest component file a plugin may have.
    pub max_component_size: u64,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The `[admin]` table.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AdminConfig {
    /// Where the admin API listens (loopback by default).
    pub listen: SocketAddr,
    /// The bearer token every admin request must carry.
    pub token: AdminToken,
    /// Most admin connections open at once.
    pub max_connections: usize,
}

/// Where the admin bearer token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdminToken {
    /// Read from this environment variable at start.
    Env(String),
    /// Read from this file at start (first line).
    File(PathBuf),
    /// Generated at start and written to `<data-dir>/admin-token` (mode 0600).
    Generated,
}

/// One `[[route]]`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RouteConfig {
    /// Route name, used in metrics and logs.
    pub name: String,
    /// Path prefix, matched on whole segments (`/api` matches `/api` and
    /// `/api/x`, not `/apix`).
    pub path: String,
    /// Methods; empty means any.
    pub methods: Vec<Method>,
    /// Host (the `Host` header without port); `None` means any.
    pub host: Option<HostRule>,
    /// Proxy to an upstream, or answer from the pipeline.
    pub mode: Mode,
    /// `on-request` plugins in order.
    pub on_request: Vec<Stage>,
    /// `on-response` plugins in order.
    pub on_response: Vec<Stage>,
    /// `on-capture` plugins (run in parallel after the response).
    pub on_capture: Vec<Stage>,
    /// A sample JSON body, only for the `curl` hint `warden serve` prints.
    pub example_body: Option<String>,
}

/// How a route produces its response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Forward to `upstream` (scheme, host, port and an optional base path).
    Proxy {
        /// Upstream base URL, `http://host:port[/base]`.
        upstream: http::Uri,
        /// Time allowed until the upstream's response headers arrive.
        timeout: Duration,
        /// Remove the route's path prefix before forwarding.
        strip_prefix: bool,
    },
    /// No upstream: a plugin's `respond` is the answer; if every plugin
    /// continues, the answer is `200` with the processed request's body and
    /// content type.
    Respond,
}

/// One plugin in a pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stage {
    /// The plugin's name.
    pub plugin: String,
    /// What a failure of this plugin does to the request.
    pub on_error: OnError,
}

impl Stage {
    /// A fail-closed stage for `plugin`.
    pub fn new(plugin: impl Into<String>) -> Stage {
        Stage { plugin: plugin.into(), on_error: OnError::FailClosed }
    }

    /// Sets the failure policy.
    pub fn on_error(mut self, on_error: OnError) -> Stage {
        self.on_error = on_error;
        self
    }
}

/// What happens when a plugin fails (trap, timeout, its own error, not
/// loaded, backing off...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnError {
    /// Skip the plugin and go on as if it had continued unchanged.
    FailOpen,
    /// Stop and answer 500 (503 when the plugin is busy or unavailable).
    #[default]
    FailClosed,
}

/// One `[[rule]]`: requests matching every given pattern are handed to the
/// rule's plugins through `on-rule-match`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RuleConfig {
    /// Rule name, given to plugins.
    pub name: String,
    /// Methods; empty means any.
    pub methods: Vec<Method>,
    /// Path glob (`*` matches any run of characters), if any.
    pub path: Option<Pattern>,
    /// Header name (lowercase) and value glob, if any.
    pub header: Option<(String, Pattern)>,
    /// Plugins told about each match.
    pub plugins: Vec<String>,
}

/// A configuration mistake: where it is and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct ConfigError {
    /// The configuration file.
    pub file: PathBuf,
    /// 1-based line, if the error points into the file.
    pub line: Option<usize>,
    /// 1-based column (characters).
    pub column: Option<usize>,
    /// Dotted key, e.g. `route[0].upstream`.
    pub key: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        warden::write_location(f, &self.file, self.line, self.column, self.key.as_deref(), &self.message)
    }
}

// The file as written. Every field keeps its span for error messages.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    server: Option<Spanned<RawServer>>,
    #[serde(default)]
    admin: Option<Spanned<RawAdmin>>,
    #[serde(default)]
    outbound: Option<RawOutbound>,
    #[serde(default)]
    route: Vec<Spanned<RawRoute>>,
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
    #[serde(default)]
    trust: Option<Spanned<RawTrust>>,
    #[serde(default)]
    source: Vec<Spanned<RawSource>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawTrust {
    unsigned: Option<S<String>>,
    #[serde(default)]
    key: Vec<RawTrustKey>,
    #[serde(default)]
    level: std::collections::BTreeMap<String, Spanned<RawLevel>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawTrustKey {
    file: S<String>,
    level: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawLevel {
    memory: Option<S<String>>,
    timeout: Option<S<String>>,
    fuel: Option<u64>,
    max_instances: Option<u32>,
    max_output: Option<S<String>>,
    #[serde(default)]
    deny: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawSource {
    repository: S<String>,
    version: Option<S<String>>,
    interval: Option<S<String>>,
}

type S<T> = Spanned<T>;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawServer {
    listen: Option<S<String>>,
    plugins: Option<S<String>>,
    data_dir: Option<S<String>>,
    max_body: Option<S<String>>,
    max_response_body: Option<S<String>>,
    body_prefetch: Option<S<String>>,
    watch: Option<bool>,
    access_log: Option<bool>,
    log_format: Option<S<String>>,
    drain_timeout: Option<S<String>>,
    #[serde(default)]
    on_connect: Vec<S<RawStage>>,
    kv: Option<S<String>>,
    max_background: Option<S<u64>>,
    audit_log: Option<String>,
    fuel: Option<bool>,
    max_connections: Option<S<u64>>,
    header_read_timeout: Option<S<String>>,
    idle_timeout: Option<S<String>>,
    body_read_timeout: Option<S<String>>,
    write_timeout: Option<S<String>>,
    max_headers: Option<S<u64>>,
    message_queue: Option<S<u64>>,
    message_queue_bytes: Option<S<String>>,
    max_component_size: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawAdmin {
    enabled: Option<bool>,
    listen: Option<S<String>>,
    token_env: Option<S<String>>,
    token_file: Option<S<String>>,
    max_connections: Option<S<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawOutbound {
    #[serde(default)]
    allow_addresses: Vec<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRoute {
    name: Option<S<String>>,
    path: Option<S<String>>,
    #[serde(default)]
    methods: Vec<S<String>>,
    host: Option<S<String>>,
    mode: Option<S<String>>,
    upstream: Option<S<String>>,
    upstream_timeout: Option<S<String>>,
    strip_prefix: Option<bool>,
    #[serde(default)]
    on_request: Vec<S<RawStage>>,
    #[serde(default)]
    on_response: Vec<S<RawStage>>,
    #[serde(default)]
    on_capture: Vec<S<RawStage>>,
    example_body: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRule {
    name: Option<S<String>>,
    #[serde(default)]
    methods: Vec<S<String>>,
    path: Option<S<String>>,
    header: Option<S<String>>,
    #[serde(default)]
    plugins: Vec<S<String>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawStage {
    Name(String),
    Table(RawStageTable),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawStageTable {
    plugin: String,
    on_error: Option<String>,
}

/// Default listen address of the gateway.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default listen address of the admin API.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9090";
/// Default request body cap: 1 MiB.
pub const DEFAULT_MAX_BODY: u64 = 1 << 20;
/// Default cap on response bodies given to plugins: 8 MiB.
pub const DEFAULT_MAX_RESPONSE_BODY: u64 = 8 << 20;

/// Default of `[server] body-prefetch`: 64 KiB.
pub const DEFAULT_BODY_PREFETCH: u64 = 64 << 10;
/// Default upstream timeout: 30 s.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
/// Default drain time after SIGTERM: 30 s.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Default most client connections: 1024.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default most admin API connections: 16.
pub const DEFAULT_ADMIN_MAX_CONNECTIONS: usize = 16;
/// Default time for a request head: 10 s.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default keep-alive idle time: 60 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default time for a request body: 30 s.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default write stall before a connection is closed: 30 s.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default most header fields: 100.
pub const DEFAULT_MAX_HEADERS: usize = 100;
/// The longest duration any key takes: 24 hours.
const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

impl GatewayConfig {
    /// Reads and checks a configuration file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<GatewayConfig, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_owned(),
            line: None,
            column: None,
            key: None,
            message: format!("cannot read the configuration: {e}"),
        })?;
        GatewayConfig::parse(&text, path)
    }

    /// Checks configuration text; `file` names it in errors and relative
    /// paths are taken from its folder.
    pub fn parse(text: &str, file: &Path) -> Result<GatewayConfig, ConfigError> {
        let cx = Cx { file, text };
        let raw: RawFile = toml::from_str(text).map_err(|e| cx.toml_error(&e))?;
        let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let server = cx.server(raw.server.map(Spanned::into_inner).unwrap_or_default(), &base)?;
        let admin = match raw.admin {
            None => Some(AdminConfig {
                listen: parse_addr(DEFAULT_ADMIN_LISTEN),
                token: AdminToken::Generated,
                max_connections: DEFAULT_ADMIN_MAX_CONNECTIONS,
            }),
            Some(admin) => cx.admin(admin.into_inner(), &base)?,
        };
        let mut outbound_allow = Vec::new();
        for (i, range) in raw.outbound.map(|o| o.allow_addresses).unwrap_or_default().iter().enumerate() {
            let parsed = range.get_ref().parse::<warden::AddressRange>().map_err(|e| {
                cx.err(
                    range.span(),
                    &format!("outbound.allow-addresses[{i}]"),
                    format!("{e}; write e.g. \"127.0.0.0/8\""),
                )
            })?;
            outbound_allow.push(parsed);
        }
        let mut routes: Vec<RouteConfig> = Vec::new();
        for (i, route) in raw.route.into_iter().enumerate() {
            let span = route.span();
            let route = cx.route(route.into_inner(), i, span.clone())?;
            if routes.iter().any(|r| r.name == route.name) {
                let msg = format!("route name {:?} is used twice; give each route its own name", route.name);
                return Err(cx.err(span, &format!("route[{i}].name"), msg));
            }
            routes.push(route);
        }
        let mut rules: Vec<RuleConfig> = Vec::new();
        for (i, rule) in raw.rule.into_iter().enumerate() {
            let span = rule.span();
            rules.push(cx.rule(rule.into_inner(), i, span)?);
        }
        let trust = raw.trust.map(|t| cx.trust(t, &base)).transpose()?;
        let mut sources = Vec::new();
        for (i, source) in raw.source.into_iter().enumerate() {
            let span = source.span();
            if trust.as_ref().is_none_or(|t| t.keys().is_empty()) {
                let msg = "a [[source]] installs only plugins signed by a trusted key: add [[trust.key]] with the signers' public keys";
                return Err(cx.err(span, &format!("source[{i}]"), msg));
            }
            sources.push(cx.source(source.into_inner(), i)?);
        }
        Ok(GatewayConfig { file: file.to_owned(), server, admin, outbound_allow, routes, rules, trust, sources })
    }

    /// Every plugin named anywhere in the configuration, with the hook it
    /// is used for and the dotted key naming it.
    pub fn plugin_uses(&self) -> Vec<(String, warden::Hook, String)> {
        let mut uses = Vec::new();
        let mut add = |stages: &[Stage], hook, key: String| {
            for (i, s) in stages.iter().enumerate() {
                uses.push((s.plugin.clone(), hook, format!("{key}[{i}]")));
            }
        };
        add(&self.server.on_connect, warden::Hook::OnConnect, "server.on-connect".into());
        for (r, route) in self.routes.iter().enumerate() {
            add(&route.on_request, warden::Hook::OnRequest, format!("route[{r}].on-request"));
            add(&route.on_response, warden::Hook::OnResponse, format!("route[{r}].on-response"));
            add(&route.on_capture, warden::Hook::OnCapture, format!("route[{r}].on-capture"));
        }
        for (r, rule) in self.rules.iter().enumerate() {
            for (i, p) in rule.plugins.iter().enumerate() {
                uses.push((p.clone(), warden::Hook::OnRuleMatch, format!("rule[{r}].plugins[{i}]")));
            }
        }
        uses
    }

    /// An error about `key` without a position (for problems found after
    /// parsing, e.g. a plugin that does not export a hook).
    pub fn error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let line = locate(&std::fs::read_to_string(&self.file).unwrap_or_default(), key);
        ConfigError { file: self.file.clone(), line, column: None, key: Some(key.to_owned()), message: message.into() }
    }
}

/// Best-effort line of a dotted key like `route[1].on-request[0]`: the
/// `n`-th `[[route]]` header, then the first line below it that sets the key.
fn locate(text: &str, key: &str) -> Option<usize> {
    let (table, rest) = key.split_once('.')?;
    let (name, index) = match table.split_once('[') {
        Some((name, i)) => (name, i.trim_end_matches(']').parse::<usize>().ok()?),
        None => (table, 0),
    };
    let field = rest.split(['[', '.']).next()?;
    let header = if table.contains('[') { format!("[[{name}]]") } else { format!("[{name}]") };
    let mut seen = 0;
    let mut inside = false;
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t == header && {
                seen += 1;
                seen == index + 1
            };
            continue;
        }
        if inside && t.split('=').next().is_some_and(|k| k.trim().trim_matches('"') == field) {
            return Some(n + 1);
        }
    }
    None
}

fn parse_addr(s: &str) -> SocketAddr {
    s.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
}

struct Cx<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Cx<'_> {
    fn err(&self, span: Range<usize>, key: &str, message: impl Into<String>) -> ConfigError {
        let (line, column) = warden::text_position(self.text, span.start);
        ConfigError {
            file: self.file.to_owned(),
            line: Some(line),
            column: Some(column),
            key: (!key.is_empty()).then(|| key.to_owned()),
            message: message.into(),
        }
    }

    /// A syntax or shape error from the TOML parser, with the key guessed
    /// from the text at its position.
    fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let message = e.message().trim().to_owned();
        match e.span() {
            Some(span) => {
                let mut err = self.err(span.clone(), "", message);
                err.key = self.key_at(span.start);
                err
            }
            None => ConfigError { file: self.file.to_owned(), line: None, column: None, key: None, message },
        }
    }

    /// `table.key` for the line containing byte `at`.
    fn key_at(&self, at: usize) -> Option<String> {
        let at = at.min(self.text.len());
        let line_start = self.text[..at].rfind('\n').map_or(0, |i| i + 1);
        let line = self.text[line_start..].lines().next().unwrap_or_default();
        let key = line.split_once('=').map(|(k, _)| k.trim().trim_matches('"').to_owned());
        let table = self.text[..line_start]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('['))
            .map(|l| l.trim_matches(|c| c == '[' || c == ']').to_owned());
        match (table, key) {
            (Some(t), Some(k)) if !k.is_empty() => Some(format!("{t}.{k}")),
            (t, k) => k.filter(|k| !k.is_empty()).or(t),
        }
    }

    fn size(&self, v: &S<String>, key: &str) -> Result<u64, ConfigError> {
        warden::parse_size(v.get_ref()).ok_or_else(|| {
            let msg = format!("{:?} is not a size; write e.g. \"1 MiB\", \"512 KiB\" or \"4096\"", v.get_ref());
            self.err(v.span(), key, msg)
        })
    }

    fn duration(&self, v: &S<String>, key: &str) -> Result<Duration, ConfigError> {
        let d = warden::parse_duration(v.get_ref()).filter(|d| !d.is_zero()).ok_or_else(|| {
            let msg = format!("{:?} is not a duration; write e.g. \"250ms\", \"10s\" or \"1m\"", v.get_ref());
            self.err(v.span(), key, msg)
        })?;
        if d > MAX_DURATION {
            return Err(self.err(
                v.span(),
                key,
                format!("{:?} is longer than the most allowed, 24 hours", v.get_ref()),
            ));
        }
        Ok(d)
    }

    fn addr(&self, v: &S<String>, key: &str) -> Result<SocketAddr, ConfigError> {
        v.get_ref().parse().map_err(|_| {
            let msg = format!(
                "{:?} is not an address; write ip:port, e.g. \"127.0.0.1:8080\" or \"[::1]:8080\"",
                v.get_ref()
            );
            self.err(v.span(), key, msg)
        })
    }

    fn server(&self, raw: RawServer, base: &Path) -> Result<ServerConfig, ConfigError> {
        let listen = match &raw.listen {
            Some(v) => self.addr(v, "server.listen")?,
            None => parse_addr(DEFAULT_LISTEN),
        };
        let path = |v: &Option<S<String>>, default: &str| base.join(v.as_ref().map_or(default, |v| v.get_ref()));
        let timeout = |v: &Option<S<String>>, key: &str, default| {
            v.as_ref().map(|v| self.duration(v, key)).transpose().map(|d| d.unwrap_or(default))
        };
        let size = |v: &Option<S<String>>, key: &str, default| {
            v.as_ref().map(|v| self.size(v, key)).transpose().map(|d| d.unwrap_or(default))
        };
        let max_body = size(&raw.max_body, "server.max-body", DEFAULT_MAX_BODY)?;
        let max_response_body = size(&raw.max_response_body, "server.max-response-body", DEFAULT_MAX_RESPONSE_BODY)?;
        let body_prefetch = size(&raw.body_prefetch, "server.body-prefetch", DEFAULT_BODY_PREFETCH)?;
        let drain_timeout = timeout(&raw.drain_timeout, "server.drain-timeout", DEFAULT_DRAIN_TIMEOUT)?;
        let log_format = match raw.log_format.as_ref() {
            None => LogFormat::Text,
            Some(v) => match v.get_ref().as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => {
                    let msg = format!("{other:?} is not a log format; use \"text\" or \"json\"");
                    return Err(self.err(v.span(), "server.log-format", msg));
                }
            },
        };
        let kv = match raw.kv {
            None => "redb".to_owned(),
            Some(v) => {
                let s = v.get_ref();
                if s != "redb" && !s.starts_with("redis://") {
                    let msg = format!("{s:?} is not a key-value backend; use \"redb\" or \"redis://host:port\"");
                    return Err(self.err(v.span(), "server.kv", msg));
                }
                s.clone()
            }
        };
        let max_background = self.count(&raw.max_background, "server.max-background", 1..=1 << 20, 1024)?;
        Ok(ServerConfig {
            listen,
            plugins: path(&raw.plugins, "plugins"),
            data_dir: path(&raw.data_dir, ".warden"),
            max_body,
            max_response_body,
            body_prefetch,
            watch: raw.watch.unwrap_or(true),
            access_log: raw.access_log.unwrap_or(true),
            log_format,
            drain_timeout,
            on_connect: self.stages(raw.on_connect, "server.on-connect")?,
            kv,
            max_background,
            audit_log: raw.audit_log.map(|p| base.join(p)),
            fuel: raw.fuel.unwrap_or(true),
            max_connections: self.count(
                &raw.max_connections,
                "server.max-connections",
                1..=1_000_000,
                DEFAULT_MAX_CONNECTIONS,
            )?,
            header_read_timeout: timeout(
                &raw.header_read_timeout,
                "server.header-read-timeout",
                DEFAULT_HEADER_READ_TIMEOUT,
            )?,
            idle_timeout: timeout(&raw.idle_timeout, "server.idle-timeout", DEFAULT_IDLE_TIMEOUT)?,
            body_read_timeout: timeout(&raw.body_read_timeout, "server.body-read-timeout", DEFAULT_BODY_READ_TIMEOUT)?,
            write_timeout: timeout(&raw.write_timeout, "server.write-timeout", DEFAULT_WRITE_TIMEOUT)?,
            max_headers: self.count(&raw.max_headers, "server.max-headers", 1..=1000, DEFAULT_MAX_HEADERS)?,
            message_queue: self.count(
                &raw.message_queue,
                "server.message-queue",
                1..=1 << 20,
                warden::DEFAULT_MESSAGE_QUEUE,
            )?,
            message_queue_bytes: size(
                &raw.message_queue_bytes,
                "server.message-queue-bytes",
                warden::DEFAULT_MESSAGE_QUEUE_BYTES,
            )?,
            max_component_size: size(
                &raw.max_component_size,
                "server.max-component-size",
                warden::DEFAULT_MAX_COMPONENT_BYTES,
            )?,
        })
    }

    /// A count from `range`, or `default` when the key is absent.
    fn count(
        &self,
        v: &Option<S<u64>>,
        key: &str,
        range: std::ops::RangeInclusive<u64>,
        default: usize,
    ) -> Result<usize, ConfigError> {
        match v {
            None => Ok(default),
            Some(v) if range.contains(v.get_ref()) => Ok(usize::try_from(*v.get_ref()).unwrap_or(usize::MAX)),
            Some(v) => {
                let msg = format!("{} is out of range; use {} to {}", v.get_ref(), range.start(), range.end());
                Err(self.err(v.span(), key, msg))
            }
        }
    }

    fn admin(&self, raw: RawAdmin, base: &Path) -> Result<Option<AdminConfig>, ConfigError> {
        if raw.enabled == Some(false) {
            return Ok(None);
        }
        let listen = match &raw.listen {
            Some(v) => self.addr(v, "admin.listen")?,
            None => parse_addr(DEFAULT_ADMIN_LISTEN),
        };
        let token = match (raw.token_env, raw.token_file) {
            (Some(env), Some(_)) => {
                let msg = "set either token-env or token-file, not both";
                return Err(self.err(env.span(), "admin.token-env", msg));
            }
            (Some(env), None) => AdminToken::Env(env.into_inner()),
            (None, Some(file)) => AdminToken::File(base.join(file.into_inner())),
            (None, None) => AdminToken::Generated,
        };
        let max_connections =
            self.count(&raw.max_connections, "admin.max-connections", 1..=1000, DEFAULT_ADMIN_MAX_CONNECTIONS)?;
        Ok(Some(AdminConfig { listen, token, max_connections }))
    }

    fn stages(&self, raw: Vec<S<RawStage>>, key: &str) -> Result<Vec<Stage>, ConfigError> {
        raw.into_iter()
            .enumerate()
            .map(|(i, s)| {
                let span = s.span();
                let key = format!("{key}[{i}]");
                let (plugin, on_error) = match s.into_inner() {
                    RawStage::Name(name) => (name, None),
                    RawStage::Table(t) => (t.plugin, t.on_error),
                };
                if plugin.is_empty() {
                    return Err(self.err(span, &key, "plugin name is empty"));
                }
                let on_error = match on_error.as_deref() {
                    None | Some("fail-closed") => OnError::FailClosed,
                    Some("fail-open") => OnError::FailOpen,
                    Some(other) => {
                        let msg = format!("on-error {other:?} is not a policy; use \"fail-open\" or \"fail-closed\"");
                        return Err(self.err(span, &format!("{key}.on-error"), msg));
                    }
                };
                Ok(Stage { plugin, on_error })
            })
            .collect()
    }

    fn methods(&self, raw: &[S<String>], key: &str) -> Result<Vec<Method>, ConfigError> {
        raw.iter()
            .enumerate()
            .map(|(i, m)| {
                let upper = m.get_ref().to_ascii_uppercase();
                Method::from_bytes(upper.as_bytes()).map_err(|_| {
                    self.err(m.span(), &format!("{key}[{i}]"), format!("{:?} is not an HTTP method", m.get_ref()))
                })
            })
            .collect()
    }

    fn route(&self, raw: RawRoute, i: usize, span: Range<usize>) -> Result<RouteConfig, ConfigError> {
        let k = |f: &str| format!("route[{i}].{f}");
        let name = raw.name.as_ref().map(|n| n.get_ref().clone()).unwrap_or_else(|| format!("route-{i}"));
        let path = match &raw.path {
            None => "/".to_owned(),
            Some(p) if p.get_ref().starts_with('/') => p.get_ref().trim_end_matches('/').to_owned(),
            Some(p) => {
                let msg = format!("{:?} must start with '/', e.g. \"/api\"", p.get_ref());
                return Err(self.err(p.span(), &k("path"), msg));
            }
        };
        let path = if path.is_empty() { "/".to_owned() } else { path };
        // Requests are matched in normal form, so a route must be written in it.
        let abnormal = match crate::path::normalize(&path) {
            Ok(normal) if normal == path => None,
            Ok(normal) => Some(format!("{path:?} is matched against normalized request paths; write {normal:?}")),
            Err(e) => Some(format!("{path:?} can never match: {e}")),
        };
        if let Some(msg) = abnormal {
            return Err(self.err(raw.path.as_ref().map_or(span.clone(), Spanned::span), &k("path"), msg));
        }
        let host = match &raw.host {
            None => None,
            Some(h) => Some(HostRule::parse(h.get_ref()).map_err(|m| self.err(h.span(), &k("host"), m))?),
        };
        let mode = match raw.mode.as_ref().map(|m| (m.get_ref().as_str(), m.span())) {
            None | Some(("respond", _)) if raw.upstream.is_none() => Mode::Respond,
            Some(("respond", s)) => {
                return Err(self.err(
                    s,
                    &k("mode"),
                    "a respond route has no upstream; remove `upstream` or use mode = \"proxy\"",
                ));
            }
            None | Some(("proxy", _)) => {
                let Some(up) = &raw.upstream else {
                    return Err(self.err(span, &k("upstream"), "a proxy route needs upstream = \"http://host:port\""));
                };
                let upstream = parse_upstream(up.get_ref()).map_err(|m| self.err(up.span(), &k("upstream"), m))?;
                let timeout = match &raw.upstream_timeout {
                    Some(t) => self.duration(t, &k("upstream-timeout"))?,
                    None => DEFAULT_UPSTREAM_TIMEOUT,
                };
                Mode::Proxy { upstream, timeout, strip_prefix: raw.strip_prefix.unwrap_or(false) }
            }
            Some((other, s)) => {
                let msg = format!("{other:?} is not a mode; use \"proxy\" (with upstream) or \"respond\"");
                return Err(self.err(s, &k("mode"), msg));
            }
        };
        Ok(RouteConfig {
            name,
            path,
            methods: self.methods(&raw.methods, &k("methods"))?,
            host,
            mode,
            on_request: self.stages(raw.on_request, &k("on-request"))?,
            on_response: self.stages(raw.on_response, &k("on-response"))?,
            on_capture: self.stages(raw.on_capture, &k("on-capture"))?,
            example_body: raw.example_body,
        })
    }

    fn trust(&self, raw: Spanned<RawTrust>, base: &Path) -> Result<warden_dist::TrustPolicy, ConfigError> {
        use warden_dist::{TrustLevel, TrustPolicy, Unsigned};
        let span = raw.span();
        let raw = raw.into_inner();
        let policy_error =
            |span: Range<usize>, key: &str, e: warden_dist::DistError| self.err(span, key, e.to_string());
        let mut policy = TrustPolicy::new();
        for (name, level) in raw.level {
            let (span, level) = (level.span(), level.into_inner());
            let key = |k: &str| format!("trust.level.{name}.{k}");
            let mut defined = TrustLevel::default();
            defined.memory_bytes = level.memory.as_ref().map(|v| self.size(v, &key("memory"))).transpose()?;
            defined.timeout = level.timeout.as_ref().map(|v| self.duration(v, &key("timeout"))).transpose()?;
            defined.fuel = level.fuel;
            defined.max_instances = level.max_instances;
            defined.max_output_bytes =
                level.max_output.as_ref().map(|v| self.size(v, &key("max-output"))).transpose()?;
            defined.deny = level.deny;
            policy = policy.level(&name, defined).map_err(|e| policy_error(span.clone(), &key("deny"), e))?;
        }
        for (i, k) in raw.key.iter().enumerate() {
            let path = base.join(k.file.get_ref());
            let key = warden_dist::PublicKey::read(&path)
                .map_err(|e| self.err(k.file.span(), &format!("trust.key[{i}].file"), e.to_string()))?;
            let level = k.level.as_ref().map_or("trusted", |l| l.get_ref().as_str());
            let span = k.level.as_ref().map_or(k.file.span(), Spanned::span);
            policy = policy.trust(key, level).map_err(|e| policy_error(span, &format!("trust.key[{i}].level"), e))?;
        }
        let unsigned = match raw.unsigned.as_ref().map(|u| u.get_ref().as_str()) {
            None | Some("refuse") => Unsigned::Refuse,
            Some(level) => Unsigned::Level(level.to_owned()),
        };
        let unsigned_span = raw.unsigned.as_ref().map_or(span, Spanned::span);
        policy.unsigned(unsigned).map_err(|e| policy_error(unsigned_span, "trust.unsigned", e))
    }

    fn source(&self, raw: RawSource, i: usize) -> Result<SourceConfig, ConfigError> {
        let key = |k: &str| format!("source[{i}].{k}");
        let repository = raw.repository.get_ref().clone();
        let image = warden_dist::parse_reference(&repository)
            .map_err(|e| self.err(raw.repository.span(), &key("repository"), e.to_string()))?;
        if image.digest().is_some() || repository.ends_with(&format!(":{}", image.tag().unwrap_or_default())) {
            let msg = "a source follows a repository: write registry/repository, and the versions in `version`";
            return Err(self.err(raw.repository.span(), &key("repository"), msg));
        }
        let version = match &raw.version {
            None => semver::VersionReq::STAR,
            Some(v) => semver::VersionReq::parse(v.get_ref()).map_err(|e| {
                self.err(
                    v.span(),
                    &key("version"),
                    format!("{:?} is not a version requirement ({e}); write e.g. \"^1.2\"", v.get_ref()),
                )
            })?,
        };
        let interval = match &raw.interval {
            None => Duration::from_secs(60),
            Some(v) => self.duration(v, &key("interval"))?,
        };
        Ok(SourceConfig { repository, version, interval })
    }

    fn rule(&self, raw: RawRule, i: usize, span: Range<usize>) -> Result<RuleConfig, ConfigError> {
        let k = |f: &str| format!("rule[{i}].{f}");
        let Some(name) = raw.name else {
            return Err(self.err(span, &k("name"), "missing; add name = \"my-rule\""));
        };
        if raw.plugins.is_empty() {
            return Err(self.err(
                span,
                &k("plugins"),
                "missing; list the plugins to tell, e.g. plugins = [\"alerts\"]",
            ));
        }
        let header = match &raw.header {
            None => None,
            Some(h) => {
                let (n, v) = h.get_ref().split_once(':').ok_or_else(|| {
                    self.err(h.span(), &k("header"), "write \"name: value-pattern\", e.g. \"user-agent: *sqlmap*\"")
                })?;
                Some((n.trim().to_ascii_lowercase(), Pattern::new(v.trim())))
            }
        };
        if raw.methods.is_empty() && raw.path.is_none() && header.is_none() {
            let msg = "a rule needs at least one of methods, path or header";
            return Err(self.err(span, &k("name"), msg));
        }
        Ok(RuleConfig {
            name: name.into_inner(),
            methods: self.methods(&raw.methods, &k("methods"))?,
            path: raw.path.map(|p| Pattern::new(p.get_ref())),
            header,
            plugins: raw.plugins.into_iter().map(Spanned::into_inner).collect(),
        })
    }
}

/// `http://host[:port][/base]`; no query, fragment or user info.
fn parse_upstream(s: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = s.parse().map_err(|_| format!("{s:?} is not a URL; write e.g. \"http://127.0.0.1:9000\""))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(
                "https upstreams are not supported yet; terminate TLS in front of the upstream or use http".into()
            );
        }
        _ => return Err(format!("{s:?} needs the http:// scheme")),
    }
    let Some(authority) = uri.authority() else {
        return Err(format!("{s:?} has no host"));
    };
    if authority.as_str().contains('@') {
        return Err("user info is not allowed in the upstream URL".into());
    }
    if uri.query().is_some() {
        return Err("remove the query from the upstream URL".into());
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<GatewayConfig, ConfigError> {
        GatewayConfig::parse(text, Path::new("/etc/warden/gateway.toml"))
    }

    fn err(text: &str) -> ConfigError {
        match parse(text) {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(e) => e,
        }
    }

    #[test]
    fn defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.server.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.server.plugins, Path::new("/etc/warden/plugins"));
        assert_eq!(c.server.max_body, DEFAULT_MAX_BODY);
        assert_eq!(c.server.kv, "redb");
        let admin = c.admin.unwrap();
        assert!(admin.listen.ip().is_loopback());
        assert_eq!(admin.token, AdminToken::Generated);
        assert!(c.routes.is_empty());
    }

    #[test]
    fn full_route() {
        let c = parse(
            r#"
[server]
max-body = "2 KiB"
on-connect = [{ plugin = "ipfilter", on-error = "fail-open" }]
[admin]
token-env = "TOKEN"
[[route]]
name = "api"
path = "/api/"
methods = ["post", "GET"]
host = "*.example.com"
upstream = "http://127.0.0.1:9000/base"
upstream-timeout = "2s"
on-request = ["a", { plugin = "b", on-error = "fail-open" }]
on-response = ["c"]
on-capture = ["d"]
[[rule]]
name = "scan"
header = "User-Agent: *sqlmap*"
plugins = ["alerts"]
"#,
        )
        .unwrap();
        assert_eq!(c.server.max_body, 2048);
        assert_eq!(c.server.on_connect, [Stage::new("ipfilter").on_error(OnError::FailOpen)]);
        let r = &c.routes[0];
        assert_eq!(r.path, "/api");
        assert_eq!(r.methods, [Method::POST, Method::GET]);
        assert!(matches!(&r.mode, Mode::Proxy { timeout, .. } if *timeout == Duration::from_secs(2)));
        assert_eq!(r.on_request[1], Stage::new("b").on_error(OnError::FailOpen));
        assert_eq!(c.rules[0].header.as_ref().unwrap().0, "user-agent");
        let uses = c.plugin_uses();
        assert_eq!(uses.len(), 6);
        assert_eq!(uses[2].2, "route[0].on-request[1]");
    }

    #[test]
    fn errors_name_line_and_key() {
        let e = err("[server]\nlisten = \"nope\"\n");
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("server.listen")));
        assert!(e.message.contains("ip:port"), "{e}");
        assert!(e.to_string().starts_with("/etc/warden/gateway.toml:2:10: server.listen: "), "{e}");

        let e = err("[server]\nmax-body = \"huge\"\n");
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("server.max-body")));

        let e = err("[server]\nlisen = \"127.0.0.1:1\"\n");
        assert_eq!(e.line, Some(2));
        assert_eq!(e.key.as_deref(), Some("server.lisen"));
        assert!(e.message.contains("unknown field"), "{e}");

        let e = err("[[route]]\nname = \"a\"\nmode = \"proxy\"\n");
        assert_eq!(e.key.as_deref(), Some("route[0].upstream"));
        let e = err("[[route]]\npath = \"/\"\nupstream = \"ftp://x\"\n");
        assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("route[0].upstream")));
        let e = err("[[route]]\nupstream = \"https://x\"\n");
        assert!(e.message.contains("not supported"), "{e}");
        let e = err("[[route]]\non-request = [{ plugin = \"a\", on-error = \"maybe\" }]\n");
        assert_eq!(e.key.as_deref(), Some("route[0].on-request[0].on-error"));
        let e = err("[[route]]\nname = \"x\"\n[[route]]\nname = \"x\"\n");
        assert!(e.message.contains("twice"), "{e}");
        let e = err("[[route]]\npath = \"api\"\n");
        assert_eq!(e.key.as_deref(), Some("route[0].path"));
        let e = err("[[route]]\npath = \"/%7euser\"\n");
        assert!(e.message.contains("write \"/~user\""), "{e}");
        let e = err("[[route]]\npath = \"/a/../b\"\n");
        assert!(e.message.contains("can never match"), "{e}");
        let e = err("[server]\nmax-headers = 100000\n");
        assert!(e.message.contains("out of range; use 1 to 1000"), "{e}");
        let e = err("[server]\nidle-timeout = \"48h\"\n");
        assert!(e.message.contains("longer than the most allowed"), "{e}");
        let e = err("[[route]]\nmethods = [\"GE T\"]\n");
        assert_eq!(e.key.as_deref(), Some("route[0].methods[0]"));
        let e = err("[[rule]]\nname = \"r\"\nplugins = [\"p\"]\n");
        assert!(e.message.contains("at least one"), "{e}");
        let e = err("[outbound]\nallow-addresses = [\"127.0.0.0/8\", \"10.0.0.0/99\"]\n");
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("outbound.allow-addresses[1]")));
        let c = parse("[outbound]\nallow-addresses = [\"127.0.0.0/8\", \"::1/128\"]\n").unwrap();
        assert_eq!(c.outbound_allow.len(), 2);
        let e = err("[server]\nkv = \"memcached://x\"\n");
        assert_eq!(e.key.as_deref(), Some("server.kv"));
        let e = err("[server\n");
        assert_eq!(e.line, Some(1));
    }

    #[test]
    fn locate_finds_keys_after_parsing() {
        let text = "[[route]]\nname = \"a\"\n[[route]]\nname = \"b\"\non-request = [\"x\"]\n";
        assert_eq!(locate(text, "route[1].on-request[0]"), Some(5));
        assert_eq!(locate(text, "route[0].on-request[0]"), None);
        assert_eq!(locate("[server]\non-connect = [\"p\"]\n", "server.on-connect[0]"), Some(2));
    }

    proptest::proptest! {
        /// Mutated configurations: a configuration or an error pointing
        /// into the text, never a panic.
        #[test]
        fn fuzz_gateway_config(text in warden_fixtures::fuzz::mutated("gateway")) {
            if let Err(e) = parse(&text) {
                proptest::prop_assert!(!e.message.is_empty());
                if let Some(line) = e.line {
                    proptest::prop_assert!(line >= 1 && line <= text.lines().count() + 1, "line {} of {}", line, text);
                }
            }
        }
    }
}

#[cfg(test)]
mod trust_tests {
    use super::*;

    fn parse_in(dir: &Path, text: &str) -> Result<GatewayConfig, ConfigError> {
        GatewayConfig::parse(text, &dir.join("gateway.toml"))
    }

    #[test]
    fn trust_and_sources_parse_and_every_mistake_names_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = warden_dist::SecretKey::generate();
        key.public().write(&dir.path().join("release.pub")).unwrap();
        let ok = parse_in(
            dir.path(),
            "[trust]\nunsigned = \"untrusted\"\n[[trust.key]]\nfile = \"release.pub\"\n\
             [trust.level.sandboxed]\nmemory = \"8 MiB\"\ndeny = [\"network\"]\n\
             [[source]]\nrepository = \"127.0.0.1:5000/plugins/auth\"\nversion = \"^1.2\"\ninterval = \"5s\"\n",
        )
        .unwrap();
        assert_eq!(ok.trust.as_ref().unwrap().level_of(key.public().id()), Some("trusted"));
        assert_eq!(ok.sources[0].interval, Duration::from_secs(5));
        assert!(ok.sources[0].version.matches(&semver::Version::new(1, 3, 0)));
        assert!(parse_in(dir.path(), "").unwrap().trust.is_none(), "no [trust]: plugins load as they ask");

        let cases = [
            ("[trust]\n[[trust.key]]\nfile = \"missing.pub\"\n", "trust.key[0].file", "missing.pub"),
            (
                "[trust]\n[[trust.key]]\nfile = \"release.pub\"\nlevel = \"gold\"\n",
                "trust.key[0].level",
                "no trust level 'gold'",
            ),
            ("[trust]\nunsigned = \"gold\"\n", "trust.unsigned", "no trust level 'gold'"),
            ("[trust.level.x]\ndeny = [\"internet\"]\n", "trust.level.x.deny", "not a permission"),
            ("[trust.level.x]\nmemory = \"lots\"\n", "trust.level.x.memory", "not a size"),
            ("[[source]]\nrepository = \"127.0.0.1:5000/p/a\"\n", "source[0]", "add [[trust.key]]"),
        ];
        for (text, key, message) in cases {
            let e = parse_in(dir.path(), text).unwrap_err();
            assert_eq!(e.key.as_deref(), Some(key), "{text}: {e}");
            assert!(e.to_string().contains(message), "{text}: {e}");
        }
        let with_key = "[trust]\n[[trust.key]]\nfile = \"release.pub\"\n";
        let sources = [
            ("[[source]]\nrepository = \"127.0.0.1:5000/p/a:1.0.0\"\n", "source[0].repository", "follows a repository"),
            (
                "[[source]]\nrepository = \"127.0.0.1:5000/p/a\"\nversion = \"one\"\n",
                "source[0].version",
                "not a version requirement",
            ),
            (
                "[[source]]\nrepository = \"127.0.0.1:5000/p/a\"\ninterval = \"0s\"\n",
                "source[0].interval",
                "not a duration",
            ),
        ];
        for (text, key, message) in sources {
            let e = parse_in(dir.path(), &format!("{with_key}{text}")).unwrap_err();
            assert_eq!(e.key.as_deref(), Some(key), "{text}: {e}");
            assert!(e.to_string().contains(message), "{text}: {e}");
        }
    }
}
