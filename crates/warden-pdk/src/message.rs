//! The request, response and call context a hook is lent. The host owns
//! them: each method is a host call that copies only what it returns, and
//! a change is made in the host at once (refused there without the
//! manifest's `modify-request` / `modify-response`).
//!
//! For native unit tests, [`Request::new`], [`Response::new`] and
//! [`CallContext::new`] make in-memory values with the same methods
//! (changes are never refused there), built like the host's types of the
//! same names.

use std::cell::RefCell;

use crate::bindings::warden::plugin::types;
use crate::{ConnectionInfo, Headers, PluginError};

/// Where a message lives: in the host (a handle lent for the call) or in
/// memory (tests).
enum Src<'a, H, L> {
    Host(&'a H),
    Local(RefCell<L>),
}

#[derive(Clone, Default)]
struct LocalRequest {
    method: String,
    uri: String,
    headers: Headers,
    body: Vec<u8>,
}

#[derive(Clone, Default)]
struct LocalResponse {
    status: u16,
    headers: Headers,
    body: Vec<u8>,
}

fn first(headers: &Headers, name: &str) -> Option<String> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
}

fn all(headers: &Headers, name: &str) -> Vec<String> {
    headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()).collect()
}

fn set(headers: &mut Headers, name: &str, value: &str) {
    headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    headers.push((name.to_ascii_lowercase(), value.to_owned()));
}

fn remove(headers: &mut Headers, name: &str) -> bool {
    let before = headers.len();
    headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    headers.len() != before
}

fn set_body(headers: &mut Headers, body: &mut Vec<u8>, new: Vec<u8>) {
    if first(headers, "content-length").is_some() {
        set(headers, "content-length", &new.len().to_string());
    }
    *body = new;
}

/// The methods [`Request`] and [`Response`] share; changes need `$permission`.
macro_rules! shared_methods {
    ($permission:literal) => {
        /// The first value of header `name` (case-insensitive), if present.
        pub fn header(&self, name: &str) -> Option<String> {
            match &self.src {
                Src::Host(h) => h.header(name),
                Src::Local(l) => first(&l.borrow().headers, name),
            }
        }

        /// Every value of header `name`, in order.
        pub fn header_values(&self, name: &str) -> Vec<String> {
            match &self.src {
                Src::Host(h) => h.header_values(name),
                Src::Local(l) => all(&l.borrow().headers, name),
            }
        }

        /// Whether header `name` is present.
        pub fn has_header(&self, name: &str) -> bool {
            self.header(name).is_some()
        }

        /// Every header field, in order (copies them all: prefer
        /// `header` for the ones you need).
        pub fn headers(&self) -> Headers {
            match &self.src {
                Src::Host(h) => h.headers(),
                Src::Local(l) => l.borrow().headers.clone(),
            }
        }

        /// The body's length, if known without reading it.
        pub fn body_length(&self) -> Option<u64> {
            match &self.src {
                Src::Host(h) => h.body_length(),
                Src::Local(l) => Some(l.borrow().body.len() as u64),
            }
        }

        /// The whole body, copied from the host at each call: keep the
        /// result. Only a plugin that calls this makes the host read the
        /// body; errors (code `body-too-large`, `body-timeout`,
        /// `body-unavailable`) say why there is none.
        pub fn body(&self) -> Result<Vec<u8>, PluginError> {
            match &self.src {
                Src::Host(h) => h.body(),
                Src::Local(l) => Ok(l.borrow().body.clone()),
            }
        }

        #[doc = concat!("Sets header `name` to `value`, replacing every field of that name (needs `", $permission, "`).")]
        pub fn set_header(&self, name: &str, value: &str) -> Result<(), PluginError> {
            match &self.src {
                Src::Host(h) => h.set_header(name, value),
                Src::Local(l) => {
                    set(&mut l.borrow_mut().headers, name, value);
                    Ok(())
                }
            }
        }

        #[doc = concat!("Adds a field `name: value`, keeping the others of that name (needs `", $permission, "`).")]
        pub fn append_header(&self, name: &str, value: &str) -> Result<(), PluginError> {
            match &self.src {
                Src::Host(h) => h.append_header(name, value),
                Src::Local(l) => {
                    l.borrow_mut().headers.push((name.to_owned(), value.to_owned()));
                    Ok(())
                }
            }
        }

        #[doc = concat!("Removes every field named `name`; returns whether there was one (needs `", $permission, "`).")]
        pub fn remove_header(&self, name: &str) -> Result<bool, PluginError> {
            match &self.src {
                Src::Host(h) => h.remove_header(name),
                Src::Local(l) => Ok(remove(&mut l.borrow_mut().headers, name)),
            }
        }

        #[doc = concat!("Replaces the body; a `content-length` field follows it (needs `", $permission, "`).")]
        pub fn set_body(&self, body: impl Into<Vec<u8>>) -> Result<(), PluginError> {
            match &self.src {
                Src::Host(h) => h.set_body(&body.into()),
                Src::Local(l) => {
                    let l = &mut *l.borrow_mut();
                    set_body(&mut l.headers, &mut l.body, body.into());
                    Ok(())
                }
            }
        }
    };
}

/// The HTTP request a hook is lent.
///
/// ```
/// use warden_pdk::Request;
///
/// let req = Request::new("POST", "/orders?id=7").with_header("Content-Type", "application/json");
/// assert_eq!((req.path(), req.query().as_deref()), ("/orders".to_owned(), Some("id=7")));
/// assert_eq!(req.header("content-type").as_deref(), Some("application/json"));
/// req.set_header("x-seen", "1")?;
/// assert!(req.has_header("X-Seen"));
/// # Ok::<(), warden_pdk::PluginError>(())
/// ```
pub struct Request<'a> {
    src: Src<'a, types::Request, LocalRequest>,
}

impl<'a> Request<'a> {
    pub(crate) fn host(handle: &'a types::Request) -> Self {
        Request { src: Src::Host(handle) }
    }
}

impl Request<'static> {
    /// An in-memory request with no headers and an empty body, for tests:
    /// `Request::new("GET", "/users?id=1")`.
    pub fn new(method: &str, uri: &str) -> Self {
        let local = LocalRequest { method: method.to_owned(), uri: uri.to_owned(), ..LocalRequest::default() };
        Request { src: Src::Local(RefCell::new(local)) }
    }

    /// The same as [`Request::new`].
    pub fn local(method: &str, uri: &str) -> Self {
        Request::new(method, uri)
    }

    /// With a header field added (builder form, for tests).
    pub fn with_header(self, name: &str, value: &str) -> Self {
        if let Src::Local(l) = &self.src {
            l.borrow_mut().headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    /// With `body` (builder form, for tests).
    pub fn with_body(self, body: impl Into<Vec<u8>>) -> Self {
        if let Src::Local(l) = &self.src {
            l.borrow_mut().body = body.into();
        }
        self
    }
}

impl Request<'_> {
    /// Method, e.g. "GET".
    pub fn method(&self) -> String {
        match &self.src {
            Src::Host(h) => h.method(),
            Src::Local(l) => l.borrow().method.clone(),
        }
    }

    /// The target: path and query, e.g. "/users?id=1".
    pub fn uri(&self) -> String {
        match &self.src {
            Src::Host(h) => h.uri(),
            Src::Local(l) => l.borrow().uri.clone(),
        }
    }

    /// The path of the target, without the query.
    pub fn path(&self) -> String {
        match &self.src {
            Src::Host(h) => h.path(),
            Src::Local(l) => l.borrow().uri.split(['?', '#']).next().unwrap_or_default().to_owned(),
        }
    }

    /// The query of the target (after `?`), if any.
    pub fn query(&self) -> Option<String> {
        match &self.src {
            Src::Host(h) => h.query(),
            Src::Local(l) => l.borrow().uri.split_once('?').map(|(_, q)| q.to_owned()),
        }
    }

    shared_methods!("modify-request");

    /// The raw handle number, or 0 for a local request. Only the host's
    /// own tests need it (a handle is valid for one call).
    #[doc(hidden)]
    pub fn raw_handle(&self) -> u32 {
        match &self.src {
            Src::Host(h) => h.handle(),
            Src::Local(_) => 0,
        }
    }

    /// Replaces the method (needs `modify-request`).
    pub fn set_method(&self, method: &str) -> Result<(), PluginError> {
        match &self.src {
            Src::Host(h) => h.set_method(method),
            Src::Local(l) => {
                l.borrow_mut().method = method.to_owned();
                Ok(())
            }
        }
    }

    /// Replaces the target, a path with an optional query (needs `modify-request`).
    pub fn set_uri(&self, uri: &str) -> Result<(), PluginError> {
        match &self.src {
            Src::Host(h) => h.set_uri(uri),
            Src::Local(l) => {
                l.borrow_mut().uri = uri.to_owned();
                Ok(())
            }
        }
    }
}

/// The HTTP response a hook is lent.
pub struct Response<'a> {
    src: Src<'a, types::Response, LocalResponse>,
}

impl<'a> Response<'a> {
    pub(crate) fn host(handle: &'a types::Response) -> Self {
        Response { src: Src::Host(handle) }
    }
}

impl Response<'static> {
    /// An in-memory response with `status`, no headers and `body`, for tests.
    ///
    /// ```
    /// use warden_pdk::Response;
    ///
    /// let resp = Response::new(200, "hi").with_header("content-type", "text/plain");
    /// assert_eq!((resp.status(), resp.body()?), (200, b"hi".to_vec()));
    /// # Ok::<(), warden_pdk::PluginError>(())
    /// ```
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        let local = LocalResponse { status, headers: Headers::new(), body: body.into() };
        Response { src: Src::Local(RefCell::new(local)) }
    }

    /// The same as [`Response::new`].
    pub fn local(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Response::new(status, body)
    }

    /// With a header field added (builder form, for tests).
    pub fn with_header(self, name: &str, value: &str) -> Self {
        if let Src::Local(l) = &self.src {
            l.borrow_mut().headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    /// With `body` (builder form, for tests).
    pub fn with_body(self, body: impl Into<Vec<u8>>) -> Self {
        if let Src::Local(l) = &self.src {
            l.borrow_mut().body = body.into();
        }
        self
    }
}

impl Response<'_> {
    /// Status code, e.g. 200.
    pub fn status(&self) -> u16 {
        match &self.src {
            Src::Host(h) => h.status(),
            Src::Local(l) => l.borrow().status,
        }
    }

    shared_methods!("modify-response");

    /// Replaces the status, 200-599 (needs `modify-response`).
    pub fn set_status(&self, status: u16) -> Result<(), PluginError> {
        match &self.src {
            Src::Host(h) => h.set_status(status),
            Src::Local(l) => {
                l.borrow_mut().status = status;
                Ok(())
            }
        }
    }
}

#[derive(Clone, Default)]
struct LocalContext {
    request_id: String,
    traceparent: Option<String>,
    route: Option<String>,
    connection: Option<ConnectionInfo>,
}

/// What the host tells a hook about the call; each value is fetched only
/// when asked for.
pub struct CallContext<'a> {
    src: Src<'a, types::CallContext, LocalContext>,
}

impl<'a> CallContext<'a> {
    pub(crate) fn host(handle: &'a types::CallContext) -> Self {
        CallContext { src: Src::Host(handle) }
    }
}

impl CallContext<'static> {
    /// An in-memory context with request id `id`, for tests.
    ///
    /// ```
    /// use warden_pdk::CallContext;
    ///
    /// let ctx = CallContext::new("req-1").with_route("api");
    /// assert_eq!((ctx.request_id(), ctx.route()), ("req-1".to_owned(), Some("api".to_owned())));
    /// ```
    pub fn new(id: &str) -> Self {
        CallContext { src: Src::Local(RefCell::new(LocalContext { request_id: id.to_owned(), ..Default::default() })) }
    }

    /// The same as [`CallContext::new`].
    pub fn local(id: &str) -> Self {
        CallContext::new(id)
    }

    /// With a W3C `traceparent` (builder form, for tests).
    pub fn with_traceparent(self, traceparent: &str) -> Self {
        if let Src::Local(l) = &self.src {
            l.borrow_mut().traceparent = Some(traceparent.to_owned());
        }
        self
    }

    /// With a route name (builder form, for tests).
    pub fn with_route(self, route: &str) -> Self {
        if let Src::Local(l) = &self.src {
            l.borrow_mut().route = Some(route.to_owned());
        }
        self
    }

    /// With a connection (builder form, for tests).
    pub fn with_connection(self, connection: ConnectionInfo) -> Self {
        if let Src::Local(l) = &self.src {
            l.borrow_mut().connection = Some(connection);
        }
        self
    }
}

impl CallContext<'_> {
    /// Host-assigned id of the request or event.
    pub fn request_id(&self) -> String {
        match &self.src {
            Src::Host(h) => h.request_id(),
            Src::Local(l) => l.borrow().request_id.clone(),
        }
    }

    /// W3C `traceparent` of the request, if tracing is on.
    pub fn traceparent(&self) -> Option<String> {
        match &self.src {
            Src::Host(h) => h.traceparent(),
            Src::Local(l) => l.borrow().traceparent.clone(),
        }
    }

    /// Name of the host route or pipeline, if any.
    pub fn route(&self) -> Option<String> {
        match &self.src {
            Src::Host(h) => h.route(),
            Src::Local(l) => l.borrow().route.clone(),
        }
    }

    /// The connection, if the call is tied to one.
    pub fn connection(&self) -> Option<ConnectionInfo> {
        match &self.src {
            Src::Host(h) => h.connection(),
            Src::Local(l) => l.borrow().connection.clone(),
        }
    }
}

/// A finished exchange, given to [`Capture`](crate::Capture) plugins
/// (read-only).
pub struct Exchange<'a> {
    /// The context of the original request.
    pub context: CallContext<'a>,
    /// The request as it was sent upstream.
    pub request: Request<'a>,
    /// The response as it was sent to the client.
    pub response: Response<'a>,
    /// From request received to response sent, in microseconds.
    pub duration_us: u64,
}

impl<'a> Exchange<'a> {
    /// An exchange of `request` and `response` that took `duration_us`
    /// microseconds (for tests; the host makes them for `on_capture`).
    pub fn new(context: CallContext<'a>, request: Request<'a>, response: Response<'a>, duration_us: u64) -> Self {
        Exchange { context, request, response, duration_us }
    }
}

/// A host rule that matched a request, given to
/// [`RuleMatch`](crate::RuleMatch) plugins (the request is read-only).
pub struct RuleEvent<'a> {
    /// The context of the request.
    pub context: CallContext<'a>,
    /// The rule's name in the host configuration.
    pub rule: String,
    /// The request that matched.
    pub request: Request<'a>,
    /// What matched.
    pub details: Vec<(String, String)>,
}

impl<'a> RuleEvent<'a> {
    /// Rule `rule` matched `request`, with `details` (for tests; the host
    /// makes them for `on_rule_match`).
    pub fn new(
        context: CallContext<'a>,
        rule: impl Into<String>,
        request: Request<'a>,
        details: Vec<(String, String)>,
    ) -> Self {
        RuleEvent { context, rule: rule.into(), request, details }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_messages_behave_like_the_host() {
        let req = Request::local("GET", "/a?b=1").with_header("Accept", "text/html").with_header("accept", "*/*");
        assert_eq!(req.header("ACCEPT").as_deref(), Some("text/html"));
        assert_eq!(req.header_values("accept"), ["text/html", "*/*"]);
        assert_eq!((req.path(), req.query()), ("/a".to_owned(), Some("b=1".to_owned())));
        req.set_header("accept", "x").unwrap();
        assert_eq!(req.header_values("Accept"), ["x"]);
        assert!(req.remove_header("ACCEPT").unwrap());
        assert!(!req.remove_header("accept").unwrap());
        req.append_header("content-length", "1").unwrap();
        req.set_body("longer").unwrap();
        assert_eq!((req.body().unwrap(), req.header("content-length")), (b"longer".to_vec(), Some("6".to_owned())));

        let resp = Response::local(200, "hi").with_header("x-a", "1");
        resp.set_status(201).unwrap();
        assert_eq!((resp.status(), resp.body_length()), (201, Some(2)));
        let ctx = CallContext::local("r1").with_route("api");
        assert_eq!((ctx.request_id(), ctx.route()), ("r1".to_owned(), Some("api".to_owned())));
    }

    #[test]
    fn constructors_match_the_host_types() {
        let ctx = CallContext::new("req-1").with_traceparent("00-abc-def-01").with_route("api");
        assert_eq!(
            (ctx.request_id(), ctx.traceparent(), ctx.route()),
            ("req-1".to_owned(), Some("00-abc-def-01".to_owned()), Some("api".to_owned()))
        );
        assert_eq!(CallContext::new("r").traceparent(), None);
        let req = Request::new("PUT", "/a").with_header("x-a", "1").with_body("b");
        assert_eq!((req.method(), req.uri(), req.body().unwrap()), ("PUT".to_owned(), "/a".to_owned(), b"b".to_vec()));
        let resp = Response::new(404, "").with_body("gone").with_header("x-b", "2");
        assert_eq!(
            (resp.status(), resp.body().unwrap(), resp.header("X-B")),
            (404, b"gone".to_vec(), Some("2".into()))
        );

        let exchange = Exchange::new(CallContext::new("r2"), req, resp, 1500);
        assert_eq!((exchange.context.request_id(), exchange.duration_us), ("r2".to_owned(), 1500));
        let event = RuleEvent::new(
            CallContext::new("r3"),
            "sqli",
            Request::new("GET", "/?q='"),
            vec![("q".into(), "'".into())],
        );
        assert_eq!((event.rule.as_str(), event.request.query()), ("sqli", Some("q='".to_owned())));
    }
}
