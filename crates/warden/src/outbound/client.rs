//! The HTTP client behind the capability: a small tokio runtime owned by
//! the capability, a pooled hyper client, and a DNS resolver that passes on
//! only the addresses the [`AddressPolicy`] allows, so the connector
//! connects to exactly the addresses that were checked.

use std::error::Error as StdError;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, mpsc};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::address::AddressPolicy;
use super::config::{OutboundHttp, SimulatedNetwork};

type Connector = HttpsConnector<HttpConnector<Resolver>>;

/// The outbound HTTP capability of one [`Runtime`](crate::Runtime).
pub(crate) struct Client {
    /// `Some` until dropped; shut down without blocking.
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    hyper: HyperClient<Connector, Full<Bytes>>,
    pub(crate) policy: Arc<AddressPolicy>,
    pub(crate) max_redirects: u32,
    pub(crate) max_request_headers: usize,
    /// Answers in place of the network, if the operator set one.
    simulated: Option<SimulatedNetwork>,
}

/// A response as far as the fetch loop needs it.
pub(crate) struct Exchange {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The `Location` header, if any and valid UTF-8.
    pub location: Option<String>,
    /// Empty for redirects that will be followed (the body is not read).
    pub body: Vec<u8>,
}

/// Why an exchange did not produce a response.
pub(crate) enum SendError {
    /// The plugin call's deadline passed.
    Deadline,
    /// A plugin-error code and what happened.
    Failed(&'static str, String),
}

impl Client {
    /// Starts the client's runtime (two worker threads named
    /// `warden-outbound`) and builds the pooled client.
    pub(crate) fn new(cfg: &OutboundHttp) -> Result<Client, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(8)
            .thread_name("warden-outbound")
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| format!("cannot start the outbound HTTP runtime: {e}"))?;
        let _entered = runtime.enter();
        let policy = Arc::new(AddressPolicy::new(cfg.allowed.clone()));
        let mut http = HttpConnector::new_with_resolver(Resolver { policy: policy.clone() });
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(cfg.connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(cfg)?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let hyper = HyperClient::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(cfg.pool_idle_timeout)
            .pool_max_idle_per_host(cfg.pool_max_idle_per_host)
            .build(connector);
        let handle = runtime.handle().clone();
        Ok(Client {
            runtime: Some(runtime),
            handle,
            hyper,
            policy,
            max_redirects: cfg.max_redirects,
            max_request_headers: cfg.max_request_headers,
            simulated: cfg.simulated.clone(),
        })
    }

    /// Sends `request` and reads the response body, at most `max_body`
    /// bytes, waiting no later than `deadline`. With `skip_redirect_body`,
    /// a redirect with a `Location` comes back without its body.
    pub(crate) fn send(
        &self,
        request: http::Request<Full<Bytes>>,
        max_body: u64,
        skip_redirect_body: bool,
        deadline: Instant,
    ) -> Result<Exchange, SendError> {
        if let Some(simulated) = &self.simulated {
            return simulate(simulated, request, max_body, skip_redirect_body);
        }
        let hyper = self.hyper.clone();
        let exchange = async move {
            let response = hyper.request(request).await.map_err(request_error)?;
            let (parts, mut body) = response.into_parts();
            let (status, headers, location) = head(&parts);
            if skip_redirect_body && super::is_redirect(status) && location.is_some() {
                return Ok(Exchange { status, headers, location, body: Vec::new() });
            }
            let declared = parts.headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok());
            if declared.is_some_and(|n: u64| n > max_body) {
                return Err(too_large(max_body));
            }
            let mut data = Vec::new();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| SendError::Failed("protocol-error", chain(&e)))?;
                if let Ok(chunk) = frame.into_data() {
                    if (data.len() + chunk.len()) as u64 > max_body {
                        return Err(too_large(max_body));
                    }
                    data.extend_from_slice(&chunk);
                }
            }
            Ok(Exchange { status, headers, location, body: data })
        };
        self.run(deadline, exchange)?
    }

    /// Runs `f` on the client's runtime and waits for it on this (plugin)
    /// thread until `deadline`; past it, `f` is cancelled. Never blocks
    /// inside a runtime, so it is safe on any thread.
    fn run<T: Send + 'static>(
        &self,
        deadline: Instant,
        f: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, SendError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let task = self.handle.spawn(async move {
            // The receiver is gone only if the waiter gave up.
            let _ = tx.send(f.await);
        });
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(value) => Ok(value),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                task.abort();
                Err(SendError::Deadline)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(SendError::Failed("unavailable", "the outbound HTTP client stopped".to_owned()))
            }
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // `Runtime`'s own drop blocks and panics inside an async context;
        // this one does neither.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The status, headers (values as lossy UTF-8) and `Location` (if valid
/// UTF-8) of a response.
fn head(parts: &http::response::Parts) -> (u16, Vec<(String, String)>, Option<String>) {
    let headers = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let location = parts.headers.get(http::header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    (parts.status.as_u16(), headers, location)
}

/// A response body over the plugin's limit.
fn too_large(max_body: u64) -> SendError {
    SendError::Failed(
        "response-too-large",
        format!("the response body is over the {max_body}-byte limit; raise [limits] max-outbound-response"),
    )
}

/// [`Client::send`] against a simulated network: the same response checks,
/// no I/O.
fn simulate(
    simulated: &SimulatedNetwork,
    request: http::Request<Full<Bytes>>,
    max_body: u64,
    skip_redirect_body: bool,
) -> Result<Exchange, SendError> {
    let (parts, body) = request.into_parts();
    // A `Full` body is ready at once: one poll collects it.
    let mut collect = std::pin::pin!(body.collect());
    let body = match collect.as_mut().poll(&mut Context::from_waker(std::task::Waker::noop())) {
        Poll::Ready(Ok(collected)) => collected.to_bytes().to_vec(),
        Poll::Ready(Err(never)) => match never {},
        Poll::Pending => unreachable!("a Full body is always ready"),
    };
    let response = (simulated.0)(&http::Request::from_parts(parts, body))
        .map_err(|why| SendError::Failed("connect-failed", format!("(simulated network) {why}")))?;
    let (parts, body) = response.into_parts();
    let (status, headers, location) = head(&parts);
    if skip_redirect_body && super::is_redirect(status) && location.is_some() {
        return Ok(Exchange { status, headers, location, body: Vec::new() });
    }
    if body.len() as u64 > max_body {
        return Err(too_large(max_body));
    }
    Ok(Exchange { status, headers, location, body })
}

/// Trusted roots: Mozilla's (unless turned off) plus the operator's.
fn tls_config(cfg: &OutboundHttp) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    if cfg.webpki_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for (i, der) in cfg.root_certificates.iter().enumerate() {
        roots
            .add(rustls::pki_types::CertificateDer::from(der.clone()))
            .map_err(|e| format!("outbound HTTP root certificate #{} is not a usable DER certificate: {e}", i + 1))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Maps a client error to a plugin-error code: a refused address is
/// `capability-denied`, other connection failures `connect-failed`, the
/// rest `protocol-error`.
fn request_error(e: hyper_util::client::legacy::Error) -> SendError {
    let mut source: Option<&(dyn StdError + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(denied) = s.downcast_ref::<AddressDenied>() {
            return SendError::Failed("capability-denied", denied.to_string());
        }
        source = s.source();
    }
    let code = if e.is_connect() { "connect-failed" } else { "protocol-error" };
    SendError::Failed(code, chain(&e))
}

/// An error and its sources, `: `-separated.
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// A host name whose every address the policy refuses.
#[derive(Debug, thiserror::Error)]
#[error(
    "{host} resolves only to addresses outbound HTTP may not reach: {refused}; an operator can allow a range with OutboundHttp::allow_addresses"
)]
struct AddressDenied {
    host: String,
    refused: String,
}

/// DNS resolution with the address policy applied: resolves once and
/// passes on only allowed addresses, which are the ones the connector uses.
/// (IP-literal hosts never reach a resolver; the fetch loop checks them.)
#[derive(Clone)]
struct Resolver {
    policy: Arc<AddressPolicy>,
}

type BoxError = Box<dyn StdError + Send + Sync>;

impl tower_service::Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str();
            let resolved = tokio::net::lookup_host((host, 0)).await?;
            let (mut allowed, mut refused) = (Vec::new(), Vec::new());
            for addr in resolved {
                match policy.check(addr.ip()) {
                    Ok(()) if !allowed.contains(&addr) => allowed.push(addr),
                    Ok(()) => {}
                    Err(why) => refused.push(format!("{} is {why}", addr.ip())),
                }
            }
            if allowed.is_empty() {
                if refused.is_empty() {
                    return Err(format!("{host} has no address").into());
                }
                refused.dedup();
                return Err(Box::new(AddressDenied { host: host.to_owned(), refused: refused.join(", ") }) as BoxError);
            }
            tracing::trace!(target: "warden::outbound", host, addresses = ?allowed, "resolved");
            Ok(allowed.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(
        answer: impl Fn(&http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, String> + Send + Sync + 'static,
    ) -> SimulatedNetwork {
        SimulatedNetwork(Arc::new(answer))
    }

    fn post(body: &'static str) -> http::Request<Full<Bytes>> {
        http::Request::post("https://api.example.com/x").body(Full::new(Bytes::from(body))).unwrap()
    }

    #[test]
    fn a_simulated_answer_sees_the_request_and_comes_back_whole() {
        let echo = network(|req| {
            let text = format!("{} {} {}", req.method(), req.uri(), String::from_utf8_lossy(req.body()));
            Ok(http::Response::builder().status(202).header("x-a", "1").body(text.into_bytes()).unwrap())
        });
        let Ok(exchange) = simulate(&echo, post("hi"), 1024, true) else { panic!("no answer") };
        assert_eq!((exchange.status, exchange.location), (202, None));
        assert_eq!(exchange.headers, [("x-a".to_owned(), "1".to_owned())]);
        assert_eq!(exchange.body, b"POST https://api.example.com/x hi");
    }

    #[test]
    fn a_refusal_is_a_failed_connection_and_the_body_limit_holds() {
        let refuse = network(|_| Err("down for the test".to_owned()));
        match simulate(&refuse, post(""), 1024, true) {
            Err(SendError::Failed(code, message)) => {
                assert_eq!(code, "connect-failed");
                assert!(message.contains("down for the test"), "{message}");
            }
            _ => panic!("expected a failed connection"),
        }
        let big = network(|_| Ok(http::Response::new(vec![b'x'; 11])));
        assert!(matches!(simulate(&big, post(""), 10, true), Err(SendError::Failed("response-too-large", _))));
        assert!(simulate(&big, post(""), 11, true).is_ok());
    }

    #[test]
    fn a_followed_redirect_comes_back_without_its_body() {
        let moved = network(|_| {
            Ok(http::Response::builder().status(302).header("location", "/new").body(b"gone".to_vec()).unwrap())
        });
        let Ok(exchange) = simulate(&moved, post(""), 1024, true) else { panic!("no answer") };
        assert_eq!((exchange.status, exchange.location.as_deref(), exchange.body.len()), (302, Some("/new"), 0));
        let Ok(exchange) = simulate(&moved, post(""), 1024, false) else { panic!("no answer") };
        assert_eq!(exchange.body, b"gone");
    }
}
