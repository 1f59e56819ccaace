//! The outbound HTTP capability (host import `warden:plugin/outbound-http`).
//!
//! A `fetch` goes through, in order: the runtime's [`OutboundHttp`] config
//! (none: `unavailable`), URL and header checks (`invalid-request`), the
//! plugin's `[permissions] network` patterns (`capability-denied`, before
//! any DNS), the per-call budget `[limits] max-outbound-requests`
//! (`budget-exceeded`), then the address policy on the resolved addresses
//! (`capability-denied`), which are the only ones connected to. Redirects
//! repeat every step for the new target. Waiting for the network counts
//! against the plugin call's deadline: past it the call traps and the host
//! reports [`Error::Timeout`](crate::Error::Timeout).
//!
//! Files: [`address`] (ranges and the address policy), [`target`] (URLs and
//! redirect locations), [`config`] (the operator's settings), [`client`]
//! (runtime, pooled client and the checking resolver).

mod address;
mod client;
mod config;
mod target;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request};
use http_body_util::Full;
use wasmtime::Trap;

pub use self::address::{AddressRange, AddressRangeError};
pub(crate) use self::client::Client;
pub use self::config::OutboundHttp;

use self::client::SendError;
use self::target::Target;
use crate::bindings::{outbound_http, types};
use crate::capability::{Capability, GrantContext, Has, HostView, Linker, view};
use crate::permissions::HostPattern;

/// What one plugin may do with outbound HTTP.
pub(crate) struct Grant {
    /// The runtime's client; `None` when the runtime has no outbound HTTP.
    pub client: Option<Arc<Client>>,
    /// The manifest's `[permissions] network`.
    pub network: Vec<HostPattern>,
    /// `[limits] max-outbound-requests`: per call, redirects included.
    pub max_requests: u32,
    /// `[limits] max-outbound-response`: bytes of one response body.
    pub max_response_bytes: u64,
}

/// Request headers a plugin cannot set: hop-by-hop fields, and the ones the
/// host derives from the URL and body (`host`, `content-length`).
const DROPPED_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// Headers dropped when a redirect leaves the origin.
const CREDENTIAL_HEADERS: &[HeaderName] = &[header::AUTHORIZATION, header::COOKIE];

/// Headers describing a body, dropped when a redirect turns the request into a GET.
const BODY_HEADERS: &[HeaderName] =
    &[header::CONTENT_TYPE, header::CONTENT_ENCODING, header::CONTENT_LANGUAGE, header::CONTENT_LOCATION];

/// Whether `status` is a redirect Warden follows.
pub(crate) fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// How a fetch failed.
enum Failure {
    /// Answer the plugin with this error.
    Refused(types::PluginError),
    /// The call's deadline passed: trap, so the call fails with a timeout.
    Deadline,
}

fn refused(code: &str, message: String) -> Failure {
    Failure::Refused(types::PluginError { code: code.to_owned(), message })
}

/// The built-in outbound HTTP capability, over the runtime's client (if any).
pub(crate) struct Outbound {
    pub(crate) client: Option<Arc<Client>>,
}

/// Per instance: the grant, and the requests sent in the current call.
pub(crate) struct OutboundState {
    grant: Arc<Grant>,
    /// The call `used` counts for (see `HostView::call_id`).
    call: u64,
    used: u32,
}

impl Capability for Outbound {
    type Grant = Grant;
    type State = OutboundState;

    fn name(&self) -> &str {
        "outbound-http"
    }

    fn interfaces(&self) -> &[&str] {
        &["warden:plugin/outbound-http"]
    }

    fn permissions(&self) -> &[&str] {
        &["network"]
    }

    fn add_to_linker(&self, linker: &mut Linker) -> wasmtime::Result<()> {
        outbound_http::add_to_linker::<_, Has<OutboundState>>(linker, view)
    }

    fn grant(&self, cx: &GrantContext<'_>) -> Result<Grant, crate::Error> {
        let manifest = cx.manifest();
        Ok(Grant {
            client: self.client.clone(),
            network: manifest.permissions.network.clone(),
            max_requests: manifest.limits.max_outbound_requests,
            max_response_bytes: manifest.limits.max_outbound_response_bytes,
        })
    }

    fn instantiate(&self, grant: &Arc<Grant>) -> wasmtime::Result<OutboundState> {
        Ok(OutboundState { grant: Arc::clone(grant), call: 0, used: 0 })
    }
}

impl outbound_http::Host for HostView<'_, OutboundState> {
    fn fetch(
        &mut self,
        request: outbound_http::OutgoingRequest,
    ) -> wasmtime::Result<Result<types::HttpResponse, types::PluginError>> {
        let (state, core) = self.parts();
        if state.call != core.call_id {
            (state.call, state.used) = (core.call_id, 0);
        }
        match fetch(&core.shared.name, &state.grant, request, core.deadline.at, &mut state.used) {
            Ok(response) => Ok(Ok(response)),
            // Audited if it is a refused grant or a limit.
            Err(Failure::Refused(e)) => Ok(Err(core.refused("outbound-http.fetch", e))),
            Err(Failure::Deadline) => Err(Trap::Interrupt.into()),
        }
    }
}

/// Sends `request` for the plugin, following redirects. `used` counts the
/// requests of the current call.
fn fetch(
    name: &str,
    grant: &Grant,
    request: outbound_http::OutgoingRequest,
    deadline: Instant,
    used: &mut u32,
) -> Result<types::HttpResponse, Failure> {
    let Some(client) = &grant.client else {
        return Err(refused(
            "unavailable",
            format!(
                "plugin '{name}': this host offers no outbound HTTP (the operator enables it with RuntimeBuilder::outbound_http)"
            ),
        ));
    };
    let invalid = |message: String| refused("invalid-request", format!("plugin '{name}': {message}"));
    let mut target = Target::parse(&request.url).map_err(invalid)?;
    // The grant first (and for every redirect's target below): a plugin
    // without it makes the host do no more work.
    check_target(name, client, &grant.network, &target)?;
    let mut method = parse_method(&request.method).map_err(invalid)?;
    let mut headers = request_headers(&request.headers, client.max_request_headers).map_err(invalid)?;
    let mut body = Bytes::from(request.body);
    let mut redirects = 0;
    loop {
        if *used >= grant.max_requests {
            return Err(refused(
                "budget-exceeded",
                format!(
                    "plugin '{name}': sending to {} would exceed its {} outbound requests per call (redirects count); raise [limits] max-outbound-requests",
                    target.origin(),
                    grant.max_requests
                ),
            ));
        }
        *used += 1;
        let http_request = build_request(&method, &target, &headers, body.clone()).map_err(invalid)?;
        let following = client.max_redirects > 0;
        let exchange = match client.send(http_request, grant.max_response_bytes, following, deadline) {
            Ok(exchange) => exchange,
            Err(SendError::Deadline) => return Err(Failure::Deadline),
            Err(SendError::Failed(code, detail)) => {
                return Err(refused(code, format!("plugin '{name}': {}: {detail}", target.origin())));
            }
        };
        let location = match exchange.location {
            Some(location) if following && is_redirect(exchange.status) => location,
            _ => {
                return Ok(types::HttpResponse {
                    status: exchange.status,
                    headers: exchange.headers,
                    body: exchange.body,
                });
            }
        };
        if redirects == client.max_redirects {
            return Err(refused(
                "too-many-redirects",
                format!(
                    "plugin '{name}': {} redirected again after {redirects} redirects, the most this host follows",
                    target.origin()
                ),
            ));
        }
        let next = target.join(&location).map_err(|e| {
            refused("protocol-error", format!("plugin '{name}': {} redirected to a bad location: {e}", target.origin()))
        })?;
        check_target(name, client, &grant.network, &next)?;
        if matches!(exchange.status, 301..=303) && method != Method::HEAD {
            method = Method::GET;
            body = Bytes::new();
            for h in BODY_HEADERS {
                headers.remove(h);
            }
        }
        if !target.same_origin(&next) {
            for h in CREDENTIAL_HEADERS {
                headers.remove(h);
            }
        }
        tracing::trace!(target: "warden::outbound", plugin = name, from = %target.origin(), to = %next.origin(), "redirect");
        target = next;
        redirects += 1;
    }
}

/// The checks before any network traffic: the manifest's patterns, then,
/// for an IP-literal host (which never goes through the resolver), the
/// address policy.
fn check_target(name: &str, client: &Client, network: &[HostPattern], target: &Target) -> Result<(), Failure> {
    if !target.allowed_by(network) {
        let listed = if network.is_empty() {
            "it lists none".to_owned()
        } else {
            format!("it lists {}", network.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join(", "))
        };
        return Err(refused(
            "capability-denied",
            format!(
                "plugin '{name}' may not reach {} ({listed}); add \"{}\" to [permissions] network in its plugin.toml if it should",
                target.origin(),
                target.pattern()
            ),
        ));
    }
    if let Some(ip) = target.ip()
        && let Err(why) = client.policy.check(ip)
    {
        return Err(refused(
            "capability-denied",
            format!(
                "plugin '{name}' may not reach {}: {ip} is {why}, which this host does not allow outbound HTTP to; an operator can allow a range with OutboundHttp::allow_addresses",
                target.origin()
            ),
        ));
    }
    Ok(())
}

/// A request method: an HTTP token, not `CONNECT` (no tunnels).
fn parse_method(method: &str) -> Result<Method, String> {
    let parsed =
        Method::from_bytes(method.as_bytes()).map_err(|_| format!("\"{method}\" is not a valid HTTP method"))?;
    if parsed == Method::CONNECT {
        return Err("CONNECT is not allowed".to_owned());
    }
    Ok(parsed)
}

/// Validates the plugin's headers (at most `max` of them) and drops the
/// ones it cannot set: the [`DROPPED_HEADERS`] and any named in its
/// `connection` header.
fn request_headers(list: &[(String, String)], max: usize) -> Result<HeaderMap, String> {
    if list.len() > max {
        return Err(format!(
            "the request has {} headers, more than the {max} this host allows (OutboundHttp::max_request_headers)",
            list.len()
        ));
    }
    let mut named_by_connection = Vec::new();
    let mut parsed = Vec::with_capacity(list.len());
    for (name, value) in list {
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("\"{name}\" is not a valid header name"))?;
        let value = HeaderValue::from_bytes(value.as_bytes())
            .map_err(|_| format!("the value of header \"{name}\" is not valid (control characters?)"))?;
        if name == header::CONNECTION {
            let listed = String::from_utf8_lossy(value.as_bytes()).to_ascii_lowercase();
            named_by_connection.extend(listed.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()));
        }
        parsed.push((name, value));
    }
    let too_many = |_| "too many headers".to_owned();
    let mut headers = HeaderMap::try_with_capacity(parsed.len()).map_err(too_many)?;
    for (name, value) in parsed {
        let n = name.as_str();
        if !DROPPED_HEADERS.contains(&n) && !named_by_connection.iter().any(|c| c == n) {
            headers.try_append(name, value).map_err(too_many)?;
        }
    }
    Ok(headers)
}

fn build_request(
    method: &Method,
    target: &Target,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Request<Full<Bytes>>, String> {
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = method.clone();
    *request.uri_mut() = target.uri()?;
    *request.headers_mut() = headers.clone();
    let host = HeaderValue::from_str(&target.authority()).map_err(|e| format!("bad host: {e}"))?;
    request.headers_mut().insert(header::HOST, host);
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(list: &[(&str, &str)]) -> Result<HeaderMap, String> {
        let list: Vec<(String, String)> = list.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
        request_headers(&list, 100)
    }

    #[test]
    fn header_count_is_bounded_before_any_map_is_built() {
        let many = vec![("x-a".to_owned(), String::new()); 30_000];
        let e = request_headers(&many, 100).unwrap_err();
        assert!(e.contains("30000 headers, more than the 100"), "{e}");
        // Past the header map's own limit, a clear error, never a panic.
        assert_eq!(request_headers(&many, usize::MAX).unwrap_err(), "too many headers");
        assert_eq!(request_headers(&many[..100], 100).unwrap().len(), 100);
    }

    #[test]
    fn hop_by_hop_and_derived_headers_are_dropped() {
        let h = headers(&[
            ("Accept", "text/plain"),
            ("Connection", "keep-alive, X-Secret"),
            ("keep-alive", "timeout=5"),
            ("proxy-authorization", "Basic eA=="),
            ("Proxy-Connection", "close"),
            ("TE", "trailers"),
            ("trailer", "x"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("host", "evil.example"),
            ("content-length", "999"),
            ("x-secret", "1"),
            ("x-kept", "a"),
            ("x-kept", "b"),
        ])
        .unwrap();
        let names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["accept", "x-kept"]);
        assert_eq!(h.get_all("x-kept").iter().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn bad_names_values_and_methods_are_invalid() {
        assert!(headers(&[("bad name", "x")]).unwrap_err().contains("not a valid header name"));
        assert!(headers(&[("", "x")]).is_err());
        assert!(headers(&[("x", "a\r\nInjected: 1")]).unwrap_err().contains("not valid"));
        assert!(headers(&[("x", "a\nb")]).is_err());
        assert!(headers(&[("x", "caf\u{e9}")]).is_ok(), "obs-text is allowed");
        assert_eq!(parse_method("PATCH").unwrap(), Method::PATCH);
        assert!(parse_method("GET /").is_err());
        assert!(parse_method("").is_err());
        assert_eq!(parse_method("CONNECT").unwrap_err(), "CONNECT is not allowed");
    }

    #[test]
    fn requests_carry_host_from_the_url() {
        let target = Target::parse("http://api.example.com:8080/x?y=1").unwrap();
        let h = headers(&[("x-a", "1")]).unwrap();
        let r = build_request(&Method::POST, &target, &h, Bytes::from_static(b"hi")).unwrap();
        assert_eq!(r.headers()["host"], "api.example.com:8080");
        assert_eq!(r.uri().to_string(), "http://api.example.com:8080/x?y=1");
        assert_eq!(r.method(), Method::POST);
    }

    #[test]
    fn redirect_statuses() {
        for s in [301, 302, 303, 307, 308] {
            assert!(is_redirect(s));
        }
        for s in [200, 300, 304, 305, 306, 400] {
            assert!(!is_redirect(s));
        }
    }

    proptest::proptest! {
        /// A plugin's `fetch` arguments, whatever they are: a typed refusal
        /// or a request within the header limit, never a panic.
        #[test]
        fn fuzz_request_parts(
            url in warden_fixtures::fuzz::text(),
            method in warden_fixtures::fuzz::text(),
            headers in proptest::collection::vec((warden_fixtures::fuzz::text(), warden_fixtures::fuzz::text()), 0..150),
        ) {
            let target = Target::parse(&url);
            let method = parse_method(&method);
            let headers = request_headers(&headers, 100);
            if let Ok(h) = &headers {
                proptest::prop_assert!(h.len() <= 100);
            }
            if let (Ok(target), Ok(method), Ok(headers)) = (target, method, headers) {
                let _ = target.join(&url);
                let _ = build_request(&method, &target, &headers, Bytes::new());
            }
        }
    }
}
