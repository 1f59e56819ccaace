//! The HTTP side of the gateway: connections, routing, the request flow
//! through the hooks, proxying, and graceful draining.
//!
//! Per request: route -> 413 check -> rules (`on-rule-match`, in the
//! background) -> `on-request` pipeline -> upstream (proxy) or the pipeline's
//! answer (respond) -> `on-response` pipeline -> response sent ->
//! `on-capture` (in the background, plugins in parallel).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderValue};
use http::request::Parts;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use warden::{BodyError, CallContext, ConnectionInfo, Exchange, PluginManager, RuleEvent, TraceScope};

use crate::config::{GatewayConfig, Mode, RouteConfig, RuleConfig, Stage};
use crate::conn::{self, Cycle, Deadline, OnDone, Timeouts};
use crate::convert;
use crate::metrics::{Metrics, Phase};
use crate::path;
use crate::pipeline::{ConnectOutcome, Pipeline, RequestOutcome, ResponseOutcome};
use crate::stream::{self, Wire};
use crate::tee::Tee;
use crate::trace::{self, TraceContext};

/// Idle connections kept per upstream (more are closed after use), so
/// that idle upstream sockets stay within the open-file reserve.
const MAX_IDLE_UPSTREAM: usize = 32;

/// Boxed error of a body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body type of every response the gateway sends.
pub type Body = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// The gateway's request handling, built from a [`GatewayConfig`] and a
/// [`PluginManager`] holding the plugins it names. Cheap to clone.
///
/// Most hosts start it through [`crate::start`]; embedders with their own
/// listener call [`Gateway::serve`].
#[derive(Clone)]
pub struct Gateway {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) manager: PluginManager,
    routes: Vec<Route>,
    rules: Vec<RuleConfig>,
    on_connect: Pipeline,
    client: Client<HttpConnector, Body>,
    pub(crate) metrics: Metrics,
    background: Arc<Semaphore>,
    /// Permits of `background`: all free means nothing is waiting.
    background_capacity: u32,
    pub(crate) in_flight: AtomicUsize,
    max_body: u64,
    max_response_body: u64,
    body_prefetch: u64,
    access_log: bool,
    /// Set when the gateway stops: every response then closes its connection.
    stopping: AtomicBool,
    pub(crate) timeouts: Timeouts,
    max_connections: usize,
    pub(crate) admin_max_connections: usize,
    pub(crate) max_headers: usize,
    /// Refused admin requests audited in the current one-second window.
    pub(crate) admin_refusals: std::sync::Mutex<(Instant, u32)>,
}

struct Route {
    config: RouteConfig,
    on_request: Pipeline,
    on_response: Pipeline,
    on_capture: Vec<Stage>,
}

/// What one request carries through the flow.
struct Req {
    ctx: CallContext,
    route: usize,
    client_ip: String,
    start: Instant,
    /// For log lines about this request.
    trace_id: String,
}

/// One request from its head until its response is sent: counted in
/// flight meanwhile, then written to the access log and the metrics. A
/// request that ends before its response is sent whole (the connection
/// was lost, or the drain timeout cut it at shutdown) gets its line too,
/// with `cut` saying why, and status 0 if no response head was made.
struct AccessLog {
    shared: Arc<Shared>,
    method: Method,
    path: String,
    request_id: String,
    trace_id: String,
    route: Option<usize>,
    start: Instant,
    status: u16,
    sent: bool,
}

impl AccessLog {
    fn new(shared: Arc<Shared>, method: Method, path: String, request_id: String, trace_id: String) -> AccessLog {
        shared.in_flight.fetch_add(1, Ordering::Relaxed);
        AccessLog {
            shared,
            method,
            path,
            request_id,
            trace_id,
            route: None,
            start: Instant::now(),
            status: 0,
            sent: false,
        }
    }

    /// The response body is done: `whole` if it was sent to the end. A
    /// response that carries no body (to `HEAD`, 1xx, 204, 304) is sent
    /// with its head, whatever happens to the body hyper never reads.
    fn done(mut self, whole: bool) {
        let no_body = self.method == Method::HEAD || matches!(self.status, 100..=199 | 204 | 304);
        self.sent = whole || no_body;
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        let shared = &self.shared;
        shared.in_flight.fetch_sub(1, Ordering::Relaxed);
        let took = self.start.elapsed();
        let cut = match self.sent {
            true => None,
            false if shared.stopping.load(Ordering::Relaxed) => Some("shutdown"),
            false => Some("connection-lost"),
        };
        match cut {
            None => shared.metrics.request(self.route, self.status, took),
            Some(_) => shared.metrics.cut(),
        }
        if !shared.access_log {
            return;
        }
        let route = self.route.map_or("-", |i| shared.routes[i].config.name.as_str());
        let (method, path, request_id, trace_id) = (&self.method, &self.path, &self.request_id, &self.trace_id);
        let (status, duration_us) = (self.status, u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
        match cut {
            None => tracing::info!(
                target: "warden::access",
                %method, %path, status, route, duration_us, %request_id, %trace_id,
                "request"
            ),
            Some(cut) => tracing::warn!(
                target: "warden::access",
                %method, %path, status, route, duration_us, %request_id, %trace_id, cut,
                "request cut before its response was sent"
            ),
        }
    }
}

impl Gateway {
    /// Checks that every plugin the configuration names is loaded in
    /// `manager` and exports the hook it is used for, and builds the
    /// routes. Errors point at the configuration key.
    pub fn new(config: &GatewayConfig, manager: PluginManager) -> Result<Gateway, crate::ConfigError> {
        for (name, hook, key) in config.plugin_uses() {
            match manager.plugin(&name) {
                Ok(p) if p.has_hook(hook) => {}
                Ok(p) => {
                    let exports: Vec<String> = p.hooks().iter().map(ToString::to_string).collect();
                    let msg = format!(
                        "plugin '{name}' does not export {hook} (it has: {}); use it under a hook it offers",
                        exports.join(", ")
                    );
                    return Err(config.error(&key, msg));
                }
                Err(e) => {
                    let loaded = manager.names().join(", ");
                    let msg = format!(
                        "plugin '{name}' is not available ({e}); loaded from {}: {}",
                        config.server.plugins.display(),
                        if loaded.is_empty() { "none".to_owned() } else { loaded }
                    );
                    return Err(config.error(&key, msg));
                }
            }
        }
        let routes: Vec<Route> = config
            .routes
            .iter()
            .map(|r| Route {
                config: r.clone(),
                on_request: Pipeline::new(manager.clone(), r.on_request.clone()),
                on_response: Pipeline::new(manager.clone(), r.on_response.clone()),
                on_capture: r.on_capture.clone(),
            })
            .collect();
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(MAX_IDLE_UPSTREAM)
            .http1_max_headers(config.server.max_headers)
            .build(connector);
        let shared = Shared {
            metrics: Metrics::new(routes.iter().map(|r| r.config.name.clone())),
            on_connect: Pipeline::new(manager.clone(), config.server.on_connect.clone()),
            manager,
            routes,
            rules: config.rules.clone(),
            client,
            background: Arc::new(Semaphore::new(config.server.max_background)),
            background_capacity: u32::try_from(config.server.max_background).unwrap_or(u32::MAX),
            in_flight: AtomicUsize::new(0),
            max_body: config.server.max_body,
            max_response_body: config.server.max_response_body,
            body_prefetch: config.server.body_prefetch,
            access_log: config.server.access_log,
            stopping: AtomicBool::new(false),
            timeouts: Timeouts {
                header_read: config.server.header_read_timeout,
                idle: config.server.idle_timeout,
                body_read: config.server.body_read_timeout,
                write: config.server.write_timeout,
            },
            max_connections: config.server.max_connections,
            admin_max_connections: config.admin.as_ref().map_or(1, |a| a.max_connections),
            max_headers: config.server.max_headers,
            admin_refusals: std::sync::Mutex::new((Instant::now(), 0)),
        };
        Ok(Gateway { shared: Arc::new(shared) })
    }

    /// The routes, in match order.
    pub fn routes(&self) -> Vec<&RouteConfig> {
        self.shared.routes.iter().map(|r| &r.config).collect()
    }

    /// The plugin manager serving the pipelines.
    pub fn manager(&self) -> &PluginManager {
        &self.shared.manager
    }

    /// Accepts connections on `listener` until `shutdown` completes, then
    /// stops accepting and lets in-flight requests finish (up to `drain`):
    /// from then on every response closes its connection, and connections
    /// waiting for a request close after a short linger (a request their
    /// client already sent is still answered). Requests still running at
    /// the end of `drain` are cut (their access-log line says so). Returns
    /// `false` if any request was cut.
    pub async fn serve(&self, listener: TcpListener, shutdown: impl Future<Output = ()>, drain: Duration) -> bool {
        self.shared.stopping.store(false, Ordering::Relaxed);
        let (stop_tx, stop_rx) = watch::channel(false);
        let limit =
            Arc::new(Semaphore::new(conn::connection_limit(self.shared.max_connections, "[server] max-connections")));
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        while let Some((stream, peer, permit)) =
            conn::accept(&listener, &limit, shutdown.as_mut(), "accept failed").await
        {
            while tasks.try_join_next().is_some() {}
            let _ = stream.set_nodelay(true);
            let local = stream.local_addr().unwrap_or(peer);
            let shared = self.shared.clone();
            let stop = stop_rx.clone();
            tasks.spawn(async move {
                let _permit = permit;
                let _open = shared.metrics.open_connection();
                // The head-read clock starts at accept, on-connect plugins included.
                let cycle = Cycle::new(shared.timeouts);
                let info = ConnectionInfo {
                    client_addr: peer.to_string(),
                    server_addr: local.to_string(),
                    tls: false,
                    server_name: None,
                };
                if !shared.connection_allowed(&info).await {
                    return;
                }
                let info = Arc::new(info);
                let (max_headers, gateway) = (shared.max_headers, shared.clone());
                let handle = move |req| {
                    let (shared, info) = (gateway.clone(), info.clone());
                    async move {
                        let (response, log) = shared.handle(req, info, peer).await;
                        let done: OnDone = Box::new(move |whole| log.done(whole));
                        (response, Some(done))
                    }
                };
                conn::serve(stream, peer, cycle, max_headers, stop, handle).await;
            });
        }
        drop(listener);
        self.shared.stopping.store(true, Ordering::Relaxed);
        let _ = stop_tx.send(true);
        let all_closed = async { while tasks.join_next().await.is_some() {} };
        let mut drained = tokio::time::timeout(drain, all_closed).await.is_ok();
        if !drained {
            let cut = self.shared.in_flight.load(Ordering::Relaxed);
            tracing::warn!(cut, ?drain, "drain-timeout passed: cutting the requests still running");
            drained = cut == 0;
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        // Give waiting background deliveries the drain time too.
        let all = self.shared.background.acquire_many(self.shared.background_capacity);
        let _ = tokio::time::timeout(drain, all).await;
        drained
    }
}

pub(crate) fn full_body(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

/// A short text answer.
fn plain(status: u16, text: &str) -> Response<Body> {
    let mut r = Response::new(full_body(format!("{text}\n")));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// The answer to a request body that could not be read.
fn unread(e: &BodyError) -> Response<Body> {
    match e {
        BodyError::TooLarge { .. } => plain(413, "request body too large"),
        BodyError::TimedOut => plain(408, "request body not received in time"),
        _ => plain(400, "could not read the request body"),
    }
}

/// The answer to a failure inside the gateway: generic for the client,
/// details in the log.
fn internal(status: u16) -> Response<Body> {
    plain(status, if status == 503 { "service unavailable" } else { "internal error" })
}

impl Shared {
    async fn connection_allowed(self: &Arc<Self>, info: &ConnectionInfo) -> bool {
        if self.on_connect.is_empty() {
            self.metrics.connection(false);
            return true;
        }
        let pipeline = self.on_connect.clone();
        let info2 = info.clone();
        let outcome = tokio::task::spawn_blocking(move || pipeline.on_connect(&info2)).await;
        let allowed = match outcome {
            Ok(ConnectOutcome::Allow) => true,
            Ok(ConnectOutcome::Deny { plugin, reason }) => {
                tracing::info!(client = %info.client_addr, %plugin, %reason, "connection denied");
                false
            }
            Ok(ConnectOutcome::Failed(f)) => {
                tracing::warn!(client = %info.client_addr, "connection closed: {f}");
                false
            }
            Err(e) => {
                tracing::error!(error = %e, "on-connect task failed");
                false
            }
        };
        self.metrics.connection(!allowed);
        allowed
    }

    /// Answers one request; the access log entry goes on with the response
    /// body, to be written once it is sent.
    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        conn: Arc<ConnectionInfo>,
        peer: SocketAddr,
    ) -> (Response<Body>, AccessLog) {
        let (mut parts, body) = req.into_parts();
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let request_id = trace::request_id(header("x-request-id"));
        let trace = TraceContext::from_header(header("traceparent"));
        let trace_id = trace.trace_id().to_string();
        let path = parts.uri.path().to_owned();
        let mut log = AccessLog::new(self.clone(), parts.method.clone(), path, request_id, trace_id);
        let mut response = match normal_target(&parts.uri) {
            Err(e) => {
                tracing::debug!(request_id = %log.request_id, path = %log.path, "refused: {e}");
                plain(400, &format!("bad request: {e}"))
            }
            Ok(uri) => {
                parts.uri = uri;
                log.path = parts.uri.path().to_owned();
                let host = parts.headers.get(HOST).and_then(|v| v.to_str().ok()).or(parts.uri.host());
                log.route = self.routes.iter().position(|r| r.config.matches(&parts.method, host, parts.uri.path()));
                match log.route {
                    None => plain(404, "no route matches this request"),
                    Some(i) => {
                        let ctx = CallContext::new(log.request_id.clone())
                            .with_traceparent(trace.traceparent())
                            .with_route(self.routes[i].config.name.clone())
                            .with_connection((*conn).clone());
                        let (client_ip, start, trace_id) = (peer.ip().to_string(), log.start, log.trace_id.clone());
                        let req = Req { ctx, route: i, client_ip, start, trace_id };
                        self.route(req, parts, body).await
                    }
                }
            }
        };
        if let Ok(v) = HeaderValue::from_str(&log.request_id) {
            response.headers_mut().insert("x-request-id", v);
        }
        if self.stopping.load(Ordering::Relaxed) {
            response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
        }
        log.status = response.status().as_u16();
        (response, log)
    }

    async fn route(self: &Arc<Self>, req: Req, parts: Parts, body: Incoming) -> Response<Body> {
        let route = &self.routes[req.route];
        let matched = self.matching_rules(&parts);
        let respond_mode = route.config.mode == Mode::Respond;
        let declared =
            parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        // Rules, captures and respond routes need the body in memory, and
        // small bodies are read before plugins run (a slow client then
        // holds no plugin instance); for plugins, any other body stays on
        // the wire until one reads it (see `stream`).
        let needed = respond_mode || !matched.is_empty() || !route.on_capture.is_empty();
        if needed && declared.is_some_and(|n| n > self.max_body) {
            return plain(413, "request body too large");
        }
        let small = declared.is_some_and(|n| n <= self.body_prefetch.min(self.max_body));
        let buffer = needed || (small && !route.on_request.is_empty());
        let body = Deadline::new(body, req.start, self.timeouts.body_read);
        let body = if buffer {
            match read_capped(body, self.max_body).await {
                Ok(bytes) => warden::Body::from(bytes),
                Err(e) => return unread(&e),
            }
        } else {
            let body = body.map_err(Into::into).boxed();
            Wire::body(body, &parts.headers, self.max_body, tokio::runtime::Handle::current())
        };
        let mut request = warden::Request::new(parts.method, parts.uri);
        request.headers = parts.headers;
        request.body = body;
        if !matched.is_empty() {
            let seen = Arc::new(copy(&request));
            for (rule, details) in matched {
                self.rule_matched(&req.ctx, rule, &seen, details);
            }
        }

        'answer: {
            if !route.on_request.is_empty() {
                let pipeline = route.on_request.clone();
                let ctx = req.ctx.clone();
                let t = Instant::now();
                let outcome = tokio::task::spawn_blocking(move || {
                    let _trace = TraceScope::enter(ctx.traceparent());
                    let outcome = pipeline.on_request(&ctx, &mut request);
                    (outcome, request)
                })
                .await;
                self.metrics.pipeline(req.route, Phase::OnRequest, t.elapsed());
                let Ok((outcome, changed)) = outcome else { break 'answer internal(500) };
                request = changed;
                // A body a plugin could not read is the client's doing,
                // whatever the plugin made of it.
                if matches!(outcome, RequestOutcome::Continue | RequestOutcome::Failed(_))
                    && let Some(e) = request.body.error()
                {
                    break 'answer unread(e);
                }
                match outcome {
                    RequestOutcome::Continue => {}
                    RequestOutcome::Respond(r) => break 'answer self.plugin_response(&req, r),
                    RequestOutcome::Reject(r) => break 'answer plain(r.status, &r.reason),
                    RequestOutcome::Failed(f) => {
                        tracing::warn!(request_id = %req.ctx.request_id(), trace_id = %req.trace_id, route = %route.config.name, "{f}");
                        break 'answer internal(f.status());
                    }
                }
                if let Err(e) = convert::check_target(&request.uri) {
                    tracing::warn!(request_id = %req.ctx.request_id(), trace_id = %req.trace_id, route = %route.config.name, "a plugin returned an invalid request: {e}");
                    break 'answer internal(500);
                }
            }
            let captured = (!route.on_capture.is_empty()).then(|| copy(&request));
            // The request head as on-response plugins see it; taken now because
            // the headers move into the upstream request.
            let head = (!route.on_response.is_empty()).then(|| Arc::new(request.head()));
            let upstream = match &route.config.mode {
                Mode::Respond => {
                    let mut r = Response::new(full_body(request.body.bytes().cloned().unwrap_or_default()));
                    if let Some(ct) = request.headers.get(CONTENT_TYPE) {
                        r.headers_mut().insert(CONTENT_TYPE, ct.clone());
                    }
                    r
                }
                Mode::Proxy { upstream, timeout, strip_prefix } => {
                    let strip = strip_prefix.then_some(route.config.path.as_str());
                    let (method, target) = (request.method, request.uri);
                    let mut headers = request.headers;
                    let body = stream::outgoing(&mut request.body, &mut headers);
                    match self.forward(&req, method, &target, headers, body, upstream, *timeout, strip).await {
                        Ok(r) => r,
                        Err(r) => break 'answer r,
                    }
                }
            };
            let response = match head {
                Some(head) => self.after_response(&req, head, upstream).await,
                None => upstream,
            };
            match captured {
                Some(request) => self.capture(&req, request, response),
                None => response,
            }
        }
    }

    /// The rules `parts` matches, with what matched.
    fn matching_rules(&self, parts: &Parts) -> Vec<(&RuleConfig, Vec<(String, String)>)> {
        self.rules
            .iter()
            .filter_map(|rule| {
                let lookup = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
                rule.check(&parts.method, parts.uri.path(), lookup).map(|d| (rule, d))
            })
            .collect()
    }

    /// A plugin's own response (from `respond`), checked.
    fn plugin_response(&self, req: &Req, r: warden::HttpResponse) -> Response<Body> {
        match convert::from_plugin_response(&r, self.max_headers) {
            Ok((status, headers)) => {
                let mut response = Response::new(full_body(r.body));
                *response.status_mut() = status;
                *response.headers_mut() = headers;
                response
            }
            Err(e) => {
                tracing::warn!(request_id = %req.ctx.request_id(), trace_id = %req.trace_id, "a plugin returned an invalid response: {e}");
                internal(500)
            }
        }
    }

    /// Sends the request upstream; `Err` is the answer to give instead.
    #[allow(clippy::too_many_arguments, reason = "one call site; the parts of a request in flight")]
    async fn forward(
        &self,
        req: &Req,
        method: Method,
        target: &Uri,
        mut headers: HeaderMap,
        body: Body,
        upstream: &Uri,
        timeout: Duration,
        strip: Option<&str>,
    ) -> Result<Response<Body>, Response<Body>> {
        let uri = convert::upstream_uri(upstream, target, strip).map_err(|e| {
            tracing::warn!(request_id = %req.ctx.request_id(), trace_id = %req.trace_id, "{e}");
            plain(400, "bad request target")
        })?;
        convert::strip_hop_by_hop(&mut headers);
        if let Some(host) = headers.remove(HOST) {
            headers.insert("x-forwarded-host", host);
        }
        let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(prev) => format!("{prev}, {}", req.client_ip),
            None => req.client_ip.clone(),
        };
        for (name, value) in [
            ("x-forwarded-for", forwarded_for.as_str()),
            ("x-forwarded-proto", "http"),
            ("x-request-id", req.ctx.request_id()),
            ("traceparent", req.ctx.traceparent().unwrap_or_default()),
        ] {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        }
        let mut request = Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        match tokio::time::timeout(timeout, self.client.request(request)).await {
            Ok(Ok(response)) => {
                let (mut parts, body) = response.into_parts();
                convert::strip_hop_by_hop(&mut parts.headers);
                Ok(Response::from_parts(parts, body.map_err(|e| Box::new(e) as BoxError).boxed()))
            }
            Ok(Err(e)) => {
                // A streamed body is not bounded in size; its deadline holds.
                if conn::is_body_timeout(&e) {
                    return Err(unread(&BodyError::TimedOut));
                }
                tracing::warn!(request_id = %req.ctx.request_id(), trace_id = %req.trace_id, error = %e, "upstream request failed");
                Err(plain(502, "upstream unavailable"))
            }
            Err(_) => {
                tracing::warn!(request_id = %req.ctx.request_id(), trace_id = %req.trace_id, ?timeout, "upstream timed out");
                Err(plain(504, "upstream timed out"))
            }
        }
    }

    /// Runs the `on-response` pipeline over a response; its body stays on
    /// the wire unless a plugin reads it (up to `max-response-body`).
    async fn after_response(&self, req: &Req, head: Arc<warden::Request>, response: Response<Body>) -> Response<Body> {
        let route = &self.routes[req.route];
        let (parts, body) = response.into_parts();
        let runtime = tokio::runtime::Handle::current();
        let mut lent =
            warden::Response::new(parts.status, Wire::body(body, &parts.headers, self.max_response_body, runtime));
        lent.headers = parts.headers;
        let pipeline = route.on_response.clone();
        let ctx = req.ctx.clone();
        let t = Instant::now();
        let outcome = tokio::task::spawn_blocking(move || {
            let _trace = TraceScope::enter(ctx.traceparent());
            let outcome = pipeline.on_response(&ctx, &head, &mut lent);
            (outcome, lent)
        })
        .await;
        self.metrics.pipeline(req.route, Phase::OnResponse, t.elapsed());
        let Ok((outcome, mut lent)) = outcome else { return internal(500) };
        if matches!(outcome, ResponseOutcome::Continue | ResponseOutcome::Failed(_))
            && let Some(e) = lent.body.error()
        {
            tracing::warn!(request_id = %req.ctx.request_id(), trace_id = %req.trace_id, error = %e, "upstream response unreadable or over max-response-body");
            return plain(502, "bad upstream response");
        }
        match outcome {
            ResponseOutcome::Continue => {}
            ResponseOutcome::Respond(response) => return self.plugin_response(req, response),
            ResponseOutcome::Reject(r) => return plain(r.status, &r.reason),
            ResponseOutcome::Failed(f) => {
                tracing::warn!(request_id = %req.ctx.request_id(), trace_id = %req.trace_id, route = %route.config.name, "{f}");
                return internal(f.status());
            }
        }
        convert::strip_hop_by_hop(&mut lent.headers);
        let body = stream::outgoing(&mut lent.body, &mut lent.headers);
        let mut response = Response::new(body);
        *response.status_mut() = lent.status;
        *response.headers_mut() = lent.headers;
        response
    }

    /// Wraps the response body so that, once it is sent, the exchange goes
    /// to the route's `on-capture` plugins (each in its own task).
    fn capture(self: &Arc<Self>, req: &Req, request: warden::Request, response: Response<Body>) -> Response<Body> {
        let (parts, body) = response.into_parts();
        let shared = self.clone();
        let context = req.ctx.clone();
        let start = req.start;
        let (status, headers) = (parts.status, parts.headers.clone());
        let route = req.route;
        let cap = usize::try_from(self.max_response_body).unwrap_or(usize::MAX);
        let done = Box::new(move |body: Vec<u8>, truncated: bool| {
            let mut response = warden::Response::new(status, body);
            response.headers = headers;
            if truncated {
                response.headers.insert("x-warden-capture", HeaderValue::from_static("truncated"));
            }
            let exchange = Arc::new(Exchange::new(context, request, response, start.elapsed()));
            for stage in &shared.routes[route].on_capture {
                let exchange = exchange.clone();
                let plugin = stage.plugin.clone();
                shared.background(move |manager| {
                    let _trace = TraceScope::enter(exchange.context.traceparent());
                    if let Err(e) = manager.call(&plugin, |p| p.on_capture(&exchange)) {
                        tracing::warn!(%plugin, request_id = %exchange.context.request_id(), "on-capture failed: {e}");
                    }
                });
            }
        });
        Response::from_parts(parts, Tee::new(body, cap, done).boxed())
    }

    /// Hands a rule match to the rule's plugins, in the background.
    fn rule_matched(
        &self,
        ctx: &CallContext,
        rule: &RuleConfig,
        request: &Arc<warden::Request>,
        details: Vec<(String, String)>,
    ) {
        let event = Arc::new(RuleEvent::new(ctx.clone(), rule.name.clone(), request.clone(), details));
        for plugin in &rule.plugins {
            let event = event.clone();
            let plugin = plugin.clone();
            self.background(move |manager| {
                let _trace = TraceScope::enter(event.context.traceparent());
                if let Err(e) = manager.call(&plugin, |p| p.on_rule_match(&event)) {
                    tracing::warn!(%plugin, rule = %event.rule, "on-rule-match failed: {e}");
                }
            });
        }
    }

    /// Runs `f` on the blocking pool if fewer than `max-background`
    /// deliveries are waiting; drops and counts it otherwise.
    fn background(&self, f: impl FnOnce(&PluginManager) + Send + 'static) {
        let Ok(permit) = self.background.clone().try_acquire_owned() else {
            self.metrics.background_dropped();
            tracing::warn!("background delivery dropped: max-background deliveries are already waiting");
            return;
        };
        let manager = self.manager.clone();
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        handle.spawn_blocking(move || {
            let _permit = permit;
            f(&manager);
        });
    }
}

/// The request target with its path in normal form (see [`path`]).
fn normal_target(uri: &Uri) -> Result<Uri, path::PathError> {
    let normal = path::normalize(uri.path())?;
    if normal == uri.path() {
        return Ok(uri.clone());
    }
    let pq = match uri.query() {
        Some(q) => format!("{normal}?{q}"),
        None => normal.into_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(pq.parse().map_err(|_| path::PathError::BadEncoding)?);
    Uri::from_parts(parts).map_err(|_| path::PathError::BadEncoding)
}

/// A copy of a request whose body is in memory (or not needed: a stream
/// is left out), for plugins that see it after it was sent.
fn copy(request: &warden::Request) -> warden::Request {
    let mut copy = request.head();
    copy.body = request.body.bytes().cloned().map(warden::Body::from).unwrap_or_default();
    copy
}

/// Reads a whole body, failing as soon as it passes `limit` bytes.
pub(crate) async fn read_capped<B>(mut body: B, limit: u64) -> Result<Bytes, BodyError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            let e: BoxError = e.into();
            if conn::is_body_timeout(&*e) { BodyError::TimedOut } else { BodyError::Failed(e.to_string()) }
        })?;
        if let Ok(data) = frame.into_data() {
            if (buf.len() + data.len()) as u64 > limit {
                return Err(BodyError::TooLarge { limit });
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}
