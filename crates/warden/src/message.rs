//! The HTTP messages and call context a host lends to hooks. They stay in
//! the host: a plugin reads and changes them through `warden:plugin/types`
//! handles, and copies only what it asks for.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri};

use crate::types::ConnectionInfo;

/// An HTTP request as the host holds it for hooks.
///
/// ```
/// use warden::Request;
///
/// let mut request = Request::new(warden::http::Method::POST, "/orders".parse().unwrap());
/// request.headers.insert("content-type", warden::http::HeaderValue::from_static("application/json"));
/// request.body = warden::Body::from(r#"{"id":1}"#);
/// assert_eq!(request.body.len(), Some(8));
/// ```
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Request {
    /// Method.
    pub method: Method,
    /// Target: a path and query (origin form) for requests a server received.
    pub uri: Uri,
    /// Header fields.
    pub headers: HeaderMap,
    /// The body: bytes, or a stream read only if a plugin asks for it.
    pub body: Body,
}

impl Request {
    /// A request with no headers and an empty body.
    pub fn new(method: Method, uri: Uri) -> Request {
        Request { method, uri, headers: HeaderMap::new(), body: Body::empty() }
    }

    /// The first value of header `name` as text, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A copy of the method, target and headers; its body is withheld (a
    /// plugin that asks for it gets `body-unavailable`).
    pub fn head(&self) -> Request {
        let mut head = Request::new(self.method.clone(), self.uri.clone());
        head.headers = self.headers.clone();
        head.body = Body { state: State::Withheld };
        head
    }
}

/// An HTTP response as the host holds it for hooks.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Response {
    /// Status.
    pub status: StatusCode,
    /// Header fields.
    pub headers: HeaderMap,
    /// The body: bytes, or a stream read only if a plugin asks for it.
    pub body: Body,
}

impl Response {
    /// A response with `status`, no headers and `body`.
    pub fn new(status: StatusCode, body: impl Into<Body>) -> Response {
        Response { status, headers: HeaderMap::new(), body: body.into() }
    }

    /// The first value of header `name` as text, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A message body: bytes in memory, or a stream that is read (once, up to
/// a limit) only when a plugin asks for the body. A host that finds the
/// stream unread after its hooks ran forwards it without buffering it; see
/// [`Body::take_stream`].
#[derive(Default)]
pub struct Body {
    state: State,
}

#[derive(Default)]
enum State {
    #[default]
    Empty,
    Bytes(Bytes),
    Stream(Stream),
    /// Reading the stream failed; what the host should answer.
    Failed(BodyError),
    /// Not kept for this message (e.g. a request's head).
    Withheld,
}

struct Stream {
    source: Box<dyn BodySource>,
    /// The declared length, if any.
    length: Option<u64>,
    /// The most a plugin may make the host read.
    limit: u64,
}

/// Where a streamed [`Body`] comes from, e.g. a server's connection.
pub trait BodySource: std::any::Any + Send + Sync {
    /// Reads the rest of the body, failing with [`BodyError::TooLarge`] as
    /// soon as it passes `limit` bytes, or [`BodyError::TimedOut`] at
    /// `deadline` (the calling plugin's). It blocks: hosts call hooks on
    /// threads that may block.
    fn read_all(&mut self, limit: u64, deadline: Instant) -> Result<Bytes, BodyError>;
}

/// Why a streamed body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// It is longer than the limit.
    #[error("the body is over the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// It did not arrive in time.
    #[error("the body was not received in time")]
    TimedOut,
    /// The stream failed.
    #[error("the body could not be read: {0}")]
    Failed(String),
}

impl Body {
    /// No bytes.
    pub fn empty() -> Body {
        Body::default()
    }

    /// A body read from `source` only when a plugin asks for it, at most
    /// `limit` bytes; `length` is its declared length, if known.
    pub fn stream(source: impl BodySource, length: Option<u64>, limit: u64) -> Body {
        Body { state: State::Stream(Stream { source: Box::new(source), length, limit }) }
    }

    /// The bytes, if the body is in memory (empty included).
    pub fn bytes(&self) -> Option<&Bytes> {
        static EMPTY: Bytes = Bytes::new();
        match &self.state {
            State::Empty => Some(&EMPTY),
            State::Bytes(b) => Some(b),
            State::Stream(_) | State::Failed(_) | State::Withheld => None,
        }
    }

    /// The length: of the bytes, or the stream's declared length.
    pub fn len(&self) -> Option<u64> {
        match &self.state {
            State::Empty => Some(0),
            State::Bytes(b) => Some(b.len() as u64),
            State::Stream(s) => s.length,
            State::Failed(_) | State::Withheld => None,
        }
    }

    /// Whether the body is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// Whether the body is an unread stream.
    pub fn is_stream(&self) -> bool {
        matches!(self.state, State::Stream(_))
    }

    /// Why reading the stream failed, if it did: a host then answers the
    /// client instead of forwarding (413 for [`BodyError::TooLarge`]).
    pub fn error(&self) -> Option<&BodyError> {
        match &self.state {
            State::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// Takes the unread stream's source back (leaving the body empty), for
    /// the host to forward it: `None` if the body is not an unread stream
    /// of type `S`.
    pub fn take_stream<S: BodySource>(&mut self) -> Option<S> {
        if !matches!(&self.state, State::Stream(s) if (&*s.source as &dyn std::any::Any).is::<S>()) {
            return None;
        }
        let State::Stream(stream) = std::mem::take(&mut self.state) else { unreachable!("checked above") };
        let any: Box<dyn std::any::Any> = stream.source;
        any.downcast::<S>().ok().map(|s| *s)
    }

    /// The bytes, reading the stream first (once; later calls get the same
    /// bytes) with `deadline` as the wait's end.
    pub(crate) fn read(&mut self, deadline: Instant) -> Result<Bytes, BodyError> {
        let result = match &mut self.state {
            State::Empty => return Ok(Bytes::new()),
            State::Bytes(b) => return Ok(b.clone()),
            State::Failed(e) => return Err(e.clone()),
            State::Withheld => return Err(BodyError::Failed("the body is not kept for this message".into())),
            State::Stream(s) if s.length.is_some_and(|n| n > s.limit) => Err(BodyError::TooLarge { limit: s.limit }),
            State::Stream(s) => s.source.read_all(s.limit, deadline),
        };
        self.state = match &result {
            Ok(b) => State::Bytes(b.clone()),
            // The plugin's deadline passed: the stream may be half read,
            // so it cannot be forwarded either.
            Err(e) => State::Failed(e.clone()),
        };
        result
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Body {
        Body { state: if bytes.is_empty() { State::Empty } else { State::Bytes(bytes) } }
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Body {
        Body::from(Bytes::from(bytes))
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Body {
        Body::from(Bytes::from_static(text.as_bytes()))
    }
}

impl From<String> for Body {
    fn from(text: String) -> Body {
        Body::from(Bytes::from(text))
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            State::Empty => f.write_str("Body::Empty"),
            State::Bytes(b) => write!(f, "Body::Bytes({} bytes)", b.len()),
            State::Stream(s) => write!(f, "Body::Stream(length: {:?}, limit: {})", s.length, s.limit),
            State::Failed(e) => write!(f, "Body::Failed({e})"),
            State::Withheld => f.write_str("Body::Withheld"),
        }
    }
}

/// What the host tells a hook about the call, fetched by the plugin only
/// when it asks. Cheap to clone.
///
/// ```
/// let ctx = warden::CallContext::new("req-1").with_route("api");
/// assert_eq!((ctx.request_id(), ctx.route()), ("req-1", Some("api")));
/// ```
#[derive(Debug, Clone)]
pub struct CallContext {
    inner: Arc<ContextData>,
}

#[derive(Debug, Clone)]
struct ContextData {
    request_id: String,
    traceparent: Option<String>,
    route: Option<String>,
    connection: Option<ConnectionInfo>,
}

impl CallContext {
    /// A context with just a request id.
    pub fn new(request_id: impl Into<String>) -> CallContext {
        let data = ContextData { request_id: request_id.into(), traceparent: None, route: None, connection: None };
        CallContext { inner: Arc::new(data) }
    }

    /// With a W3C `traceparent`.
    pub fn with_traceparent(mut self, traceparent: impl Into<String>) -> CallContext {
        Arc::make_mut(&mut self.inner).traceparent = Some(traceparent.into());
        self
    }

    /// With the name of the host route or pipeline.
    pub fn with_route(mut self, route: impl Into<String>) -> CallContext {
        Arc::make_mut(&mut self.inner).route = Some(route.into());
        self
    }

    /// With the connection the request arrived on.
    pub fn with_connection(mut self, connection: ConnectionInfo) -> CallContext {
        Arc::make_mut(&mut self.inner).connection = Some(connection);
        self
    }

    /// The host-assigned request or event id.
    pub fn request_id(&self) -> &str {
        &self.inner.request_id
    }

    /// The W3C `traceparent`, if any.
    pub fn traceparent(&self) -> Option<&str> {
        self.inner.traceparent.as_deref()
    }

    /// The route or pipeline name, if any.
    pub fn route(&self) -> Option<&str> {
        self.inner.route.as_deref()
    }

    /// The connection, if the call is tied to one.
    pub fn connection(&self) -> Option<&ConnectionInfo> {
        self.inner.connection.as_ref()
    }
}

/// A finished exchange, for `on-capture`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Exchange {
    /// The context of the original request.
    pub context: CallContext,
    /// The request as it was sent upstream.
    pub request: Arc<Request>,
    /// The response as it was sent to the client.
    pub response: Arc<Response>,
    /// From request received to response sent.
    pub duration: Duration,
}

impl Exchange {
    /// An exchange of `request` and `response` that took `duration`.
    pub fn new(
        context: CallContext,
        request: impl Into<Arc<Request>>,
        response: impl Into<Arc<Response>>,
        duration: Duration,
    ) -> Exchange {
        Exchange { context, request: request.into(), response: response.into(), duration }
    }
}

/// A host rule that matched a request, for `on-rule-match`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RuleEvent {
    /// The context of the request.
    pub context: CallContext,
    /// The rule's name.
    pub rule: String,
    /// The request that matched.
    pub request: Arc<Request>,
    /// What matched.
    pub details: Vec<(String, String)>,
}

impl RuleEvent {
    /// Rule `rule` matched `request`, with `details`.
    pub fn new(
        context: CallContext,
        rule: impl Into<String>,
        request: impl Into<Arc<Request>>,
        details: Vec<(String, String)>,
    ) -> Self {
        RuleEvent { context, rule: rule.into(), request: request.into(), details }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Chunks(Vec<&'static [u8]>, u32);

    impl BodySource for Chunks {
        fn read_all(&mut self, limit: u64, _deadline: Instant) -> Result<Bytes, BodyError> {
            self.1 += 1;
            let all: Vec<u8> = self.0.concat();
            if all.len() as u64 > limit {
                return Err(BodyError::TooLarge { limit });
            }
            Ok(all.into())
        }
    }

    #[test]
    fn a_stream_is_read_once_and_only_when_asked() {
        let mut body = Body::stream(Chunks(vec![b"ab", b"cd"], 0), Some(4), 10);
        assert!(body.is_stream() && body.bytes().is_none());
        assert_eq!(body.len(), Some(4));
        assert_eq!(body.read(Instant::now()).unwrap(), "abcd");
        assert_eq!(body.read(Instant::now()).unwrap(), "abcd");
        assert_eq!(body.bytes().map(|b| b.as_ref()), Some(&b"abcd"[..]));
        assert!(body.take_stream::<Chunks>().is_none(), "read: nothing to forward as a stream");

        let mut unread = Body::stream(Chunks(vec![b"x"], 0), None, 10);
        let source = unread.take_stream::<Chunks>().expect("the unread stream comes back");
        assert_eq!(source.1, 0, "never read");
        assert!(unread.is_empty());
    }

    #[test]
    fn a_failed_read_is_kept_for_the_host() {
        let mut body = Body::stream(Chunks(vec![b"abcdef"], 0), None, 3);
        assert_eq!(body.read(Instant::now()), Err(BodyError::TooLarge { limit: 3 }));
        assert_eq!(body.error(), Some(&BodyError::TooLarge { limit: 3 }));
        assert_eq!(body.read(Instant::now()), Err(BodyError::TooLarge { limit: 3 }), "not read again");
    }
}
