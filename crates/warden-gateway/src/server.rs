//! The HTTP side of the gateway: connections, routing, the request flow
//! through the hooks, proxying, and graceful draining.
//!
//! Per request: route -> 413 check -> rules (`on-rule-match`, in the
//! background) -> `on-request` pipeline -> upstream (proxy) or the pipeline's
//! answer (respond) -> `on-response` pipeline -> response sent ->
//! `on-capture` (in the background, plugins in parallel).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderValue};
use http::request::Parts;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use warden::{CallContext, ConnectionInfo, Exchange, HttpRequest, HttpResponse, PluginManager, RuleEvent, TraceScope};

use crate::config::{GatewayConfig, Mode, RouteConfig, RuleConfig, Stage};
use crate::convert;
use crate::metrics::{Metrics, Phase};
use crate::pipeline::{ConnectOutcome, Pipeline, RequestOutcome, ResponseOutcome};
use crate::tee::Tee;
use crate::trace::{self, TraceContext};

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
    access_log: bool,
}

struct Route {
    config: RouteConfig,
    on_request: Pipeline,
    on_response: Pipeline,
    on_capture: Vec<Stage>,
}

/// Counts a request as in flight while alive.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(n: &'a AtomicUsize) -> InFlight<'a> {
        n.fetch_add(1, Ordering::Relaxed);
        InFlight(n)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What one request carries through the flow.
struct Req {
    ctx: CallContext,
    route: usize,
    client_ip: String,
    start: Instant,
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
        let client = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(60)).build(connector);
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
            access_log: config.server.access_log,
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
    /// stops accepting, lets in-flight requests finish (up to `drain`), and
    /// returns. Returns `false` if requests were still running at the end of
    /// `drain`.
    pub async fn serve(&self, listener: TcpListener, shutdown: impl Future<Output = ()>, drain: Duration) -> bool {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
        tokio::pin!(shutdown);
        while let Some((stream, peer)) = accept(&listener, shutdown.as_mut(), "accept failed").await {
            let _ = stream.set_nodelay(true);
            let local = stream.local_addr().unwrap_or(peer);
            let shared = self.shared.clone();
            let mut stop = stop_rx.clone();
            let alive = alive_tx.clone();
            tokio::spawn(async move {
                let _alive = alive;
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
                let service = hyper::service::service_fn(move |req| {
                    let shared = shared.clone();
                    let info = info.clone();
                    async move { Ok::<_, Infallible>(shared.handle(req, info, peer).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service);
                tokio::pin!(conn);
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(e) = result { tracing::debug!(error = %e, client = %peer, "connection ended with an error") }
                        return;
                    }
                    _ = stop.changed() => conn.as_mut().graceful_shutdown(),
                }
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, client = %peer, "connection ended with an error while draining");
                }
            });
        }
        drop(listener);
        let _ = stop_tx.send(true);
        drop(alive_tx);
        let drained = tokio::time::timeout(drain, alive_rx.recv()).await.is_ok();
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

    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        conn: Arc<ConnectionInfo>,
        peer: SocketAddr,
    ) -> Response<Body> {
        let start = Instant::now();
        let _in_flight = InFlight::enter(&self.in_flight);
        let (parts, body) = req.into_parts();
        let (request_id, trace, route) = {
            let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
            let host = header(HOST.as_str()).or(parts.uri.host());
            (
                trace::request_id(header("x-request-id")),
                TraceContext::from_header(header("traceparent")),
                self.routes.iter().position(|r| r.config.matches(&parts.method, host, parts.uri.path())),
            )
        };
        let (method, path) = (parts.method.clone(), parts.uri.path().to_owned());
        let mut response = match route {
            None => plain(404, "no route matches this request"),
            Some(i) => {
                let ctx = CallContext {
                    request_id: request_id.clone(),
                    traceparent: Some(trace.traceparent()),
                    route: Some(self.routes[i].config.name.clone()),
                    connection: Some((*conn).clone()),
                };
                let req = Req { ctx, route: i, client_ip: peer.ip().to_string(), start };
                self.route(req, parts, body).await
            }
        };
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("x-request-id", v);
        }
        let took = start.elapsed();
        let status = response.status().as_u16();
        self.metrics.request(route, status, took);
        if self.access_log {
            let route = route.map_or("-", |i| self.routes[i].config.name.as_str());
            tracing::info!(
                target: "warden::access",
                %method, %path, status, route, duration_us = took.as_micros() as u64,
                request_id = %request_id, trace_id = %trace.trace_id(),
                "request"
            );
        }
        response
    }

    async fn route(self: &Arc<Self>, req: Req, parts: Parts, body: Incoming) -> Response<Body> {
        let route = &self.routes[req.route];
        let declared =
            parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body) {
            return plain(413, "request body too large");
        }
        let matched = self.matching_rules(&parts);
        let respond_mode = route.config.mode == Mode::Respond;
        let needs_body =
            !route.on_request.is_empty() || respond_mode || !matched.is_empty() || !route.on_capture.is_empty();

        // The body: read whole (capped) when a plugin needs it, else streamed.
        let (mut outgoing, mut streamed) = if needs_body {
            match read_capped(body, usize::try_from(self.max_body).unwrap_or(usize::MAX)).await {
                Ok(bytes) => (convert::to_plugin_request(&parts.method, &parts.uri, &parts.headers, bytes), None),
                Err(ReadError::TooLarge) => return plain(413, "request body too large"),
                Err(ReadError::Failed(_)) => return plain(400, "could not read the request body"),
            }
        } else {
            let limited = Limited::new(body, usize::try_from(self.max_body).unwrap_or(usize::MAX)).boxed();
            (HttpRequest::new(parts.method.as_str(), parts.uri.to_string()), Some(limited))
        };
        for (rule, details) in matched {
            self.rule_matched(&req.ctx, rule, &outgoing, details);
        }
        let captured_request = (!route.on_capture.is_empty()).then(|| outgoing.clone());

        let mut headers = parts.headers;
        let (mut method, mut target) = (parts.method, parts.uri);
        let mut response = 'answer: {
            if !route.on_request.is_empty() {
                let pipeline = route.on_request.clone();
                let ctx = req.ctx.clone();
                let t = Instant::now();
                let outcome = tokio::task::spawn_blocking(move || {
                    let _trace = TraceScope::enter(ctx.traceparent.as_deref());
                    pipeline.on_request(&ctx, outgoing)
                })
                .await;
                self.metrics.pipeline(req.route, Phase::OnRequest, t.elapsed());
                match outcome {
                    Ok(RequestOutcome::Continue { request, modified }) => {
                        if modified {
                            match convert::from_plugin_request(&request) {
                                Ok((m, t, h)) => (method, target, headers) = (m, t, h),
                                Err(e) => {
                                    tracing::warn!(request_id = %req.ctx.request_id, route = %route.config.name, "a plugin returned an invalid request: {e}");
                                    break 'answer internal(500);
                                }
                            }
                        }
                        outgoing = request;
                    }
                    Ok(RequestOutcome::Respond(r)) => break 'answer self.plugin_response(&req, r),
                    Ok(RequestOutcome::Reject(r)) => break 'answer plain(r.status, &r.reason),
                    Ok(RequestOutcome::Failed(f)) => {
                        tracing::warn!(request_id = %req.ctx.request_id, route = %route.config.name, "{f}");
                        break 'answer internal(f.status());
                    }
                    Err(_) => break 'answer internal(500),
                }
            }
            // The request head as on-response plugins see it; taken now because
            // the headers move into the upstream request.
            let head = (!route.on_response.is_empty()).then(|| warden::RequestHead {
                method: method.to_string(),
                uri: target.path_and_query().map_or("/", |pq| pq.as_str()).to_owned(),
                headers: convert::headers_to_pairs(&headers),
            });
            let upstream = match &route.config.mode {
                Mode::Respond => {
                    let mut r = Response::new(full_body(std::mem::take(&mut outgoing.body)));
                    if let Some(ct) = headers.get(CONTENT_TYPE) {
                        r.headers_mut().insert(CONTENT_TYPE, ct.clone());
                    }
                    r
                }
                Mode::Proxy { upstream, timeout, strip_prefix } => {
                    let strip = strip_prefix.then_some(route.config.path.as_str());
                    let body = match streamed.take() {
                        Some(b) => b,
                        None => full_body(std::mem::take(&mut outgoing.body)),
                    };
                    match self.forward(&req, method, &target, headers, body, upstream, *timeout, strip).await {
                        Ok(r) => r,
                        Err(r) => break 'answer r,
                    }
                }
            };
            match head {
                Some(head) => self.after_response(&req, head, upstream).await,
                None => upstream,
            }
        };
        if let Some(request) = captured_request {
            response = self.capture(&req, request, response);
        }
        response
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
    fn plugin_response(&self, req: &Req, r: HttpResponse) -> Response<Body> {
        match convert::from_plugin_response(&r) {
            Ok((status, headers)) => {
                let mut response = Response::new(full_body(r.body));
                *response.status_mut() = status;
                *response.headers_mut() = headers;
                response
            }
            Err(e) => {
                tracing::warn!(request_id = %req.ctx.request_id, "a plugin returned an invalid response: {e}");
                internal(500)
            }
        }
    }

    /// Sends the request upstream; `Err` is the answer to give instead.
    #[allow(clippy::too_many_arguments, reason = "one call site; the parts of a request in flight")]
    async fn forward(
        &self,
        req: &Req,
        method: http::Method,
        target: &http::Uri,
        mut headers: HeaderMap,
        body: Body,
        upstream: &http::Uri,
        timeout: Duration,
        strip: Option<&str>,
    ) -> Result<Response<Body>, Response<Body>> {
        let uri = convert::upstream_uri(upstream, target, strip).map_err(|e| {
            tracing::warn!(request_id = %req.ctx.request_id, "{e}");
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
            ("x-request-id", req.ctx.request_id.as_str()),
            ("traceparent", req.ctx.traceparent.as_deref().unwrap_or_default()),
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
                let too_large = std::error::Error::source(&e).is_some_and(|s| {
                    s.is::<http_body_util::LengthLimitError>()
                        || s.source().is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                });
                if too_large {
                    return Err(plain(413, "request body too large"));
                }
                tracing::warn!(request_id = %req.ctx.request_id, error = %e, "upstream request failed");
                Err(plain(502, "upstream unavailable"))
            }
            Err(_) => {
                tracing::warn!(request_id = %req.ctx.request_id, ?timeout, "upstream timed out");
                Err(plain(504, "upstream timed out"))
            }
        }
    }

    /// Runs the `on-response` pipeline over a response (read whole, capped).
    async fn after_response(&self, req: &Req, head: warden::RequestHead, response: Response<Body>) -> Response<Body> {
        let route = &self.routes[req.route];
        let (parts, body) = response.into_parts();
        let cap = usize::try_from(self.max_response_body).unwrap_or(usize::MAX);
        let bytes = match read_capped(body, cap).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(request_id = %req.ctx.request_id, error = %e, "upstream response unreadable or over max-response-body");
                return plain(502, "bad upstream response");
            }
        };
        let plugin_response = HttpResponse {
            status: parts.status.as_u16(),
            headers: convert::headers_to_pairs(&parts.headers),
            body: bytes.to_vec(),
        };
        let pipeline = route.on_response.clone();
        let ctx = req.ctx.clone();
        let t = Instant::now();
        let outcome = tokio::task::spawn_blocking(move || {
            let _trace = TraceScope::enter(ctx.traceparent.as_deref());
            pipeline.on_response(&ctx, &head, plugin_response)
        })
        .await;
        self.metrics.pipeline(req.route, Phase::OnResponse, t.elapsed());
        match outcome {
            Ok(ResponseOutcome::Continue { modified: false, .. }) => Response::from_parts(parts, full_body(bytes)),
            Ok(ResponseOutcome::Continue { response, .. } | ResponseOutcome::Respond(response)) => {
                self.plugin_response(req, response)
            }
            Ok(ResponseOutcome::Reject(r)) => plain(r.status, &r.reason),
            Ok(ResponseOutcome::Failed(f)) => {
                tracing::warn!(request_id = %req.ctx.request_id, route = %route.config.name, "{f}");
                internal(f.status())
            }
            Err(_) => internal(500),
        }
    }

    /// Wraps the response body so that, once it is sent, the exchange goes
    /// to the route's `on-capture` plugins (each in its own task).
    fn capture(self: &Arc<Self>, req: &Req, request: HttpRequest, response: Response<Body>) -> Response<Body> {
        let (parts, body) = response.into_parts();
        let shared = self.clone();
        let context = req.ctx.clone();
        let start = req.start;
        let status = parts.status.as_u16();
        let headers = convert::headers_to_pairs(&parts.headers);
        let route = req.route;
        let cap = usize::try_from(self.max_response_body).unwrap_or(usize::MAX);
        let done = Box::new(move |body: Vec<u8>, truncated: bool| {
            let mut headers = headers;
            if truncated {
                headers.push(("x-warden-capture".into(), "truncated".into()));
            }
            let exchange = Arc::new(Exchange {
                context,
                request,
                response: HttpResponse { status, headers, body },
                duration_us: u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX),
            });
            for stage in &shared.routes[route].on_capture {
                let exchange = exchange.clone();
                let plugin = stage.plugin.clone();
                shared.background(move |manager| {
                    let _trace = TraceScope::enter(exchange.context.traceparent.as_deref());
                    if let Err(e) = manager.call(&plugin, |p| p.on_capture(&exchange)) {
                        tracing::warn!(%plugin, request_id = %exchange.context.request_id, "on-capture failed: {e}");
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
        request: &HttpRequest,
        details: Vec<(String, String)>,
    ) {
        let event =
            Arc::new(RuleEvent { context: ctx.clone(), rule: rule.name.clone(), request: request.clone(), details });
        for plugin in &rule.plugins {
            let event = event.clone();
            let plugin = plugin.clone();
            self.background(move |manager| {
                let _trace = TraceScope::enter(event.context.traceparent.as_deref());
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

/// The next connection on `listener`, or `None` once `shutdown` completes.
/// Accept errors (out of file descriptors and the like) are logged as
/// `message` and retried after a short pause: the listener keeps serving.
pub(crate) async fn accept<F: Future<Output = ()>>(
    listener: &TcpListener,
    mut shutdown: Pin<&mut F>,
    message: &'static str,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            _ = &mut shutdown => return None,
            accepted = listener.accept() => match accepted {
                Ok(a) => return Some(a),
                Err(e) => {
                    tracing::warn!(error = %e, "{message}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
        }
    }
}

/// Why a body could not be read whole.
#[derive(Debug)]
enum ReadError {
    /// Longer than the cap.
    TooLarge,
    /// The stream failed.
    Failed(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::TooLarge => f.write_str("body over the size limit"),
            ReadError::Failed(e) => f.write_str(e),
        }
    }
}

/// Reads a whole body, failing as soon as it passes `cap` bytes.
async fn read_capped<B>(mut body: B, cap: usize) -> Result<Bytes, ReadError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ReadError::Failed(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > cap {
                return Err(ReadError::TooLarge);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}
