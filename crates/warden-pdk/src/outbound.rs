//! Outbound HTTP to the hosts listed in the manifest's `[permissions] network`.

use crate::{Headers, HttpResponse, PluginError};

pub use crate::bindings::warden::plugin::outbound_http::OutgoingRequest;

/// Sends `request` and returns the whole response. The host follows
/// redirects (5 by default), checking each target against `[permissions]
/// network`. The wait counts against the call's timeout; a call that runs
/// out of time is stopped (no error value comes back).
///
/// Errors carry a code: `capability-denied` (host not allowed, or an address
/// in a private range), `budget-exceeded`, `response-too-large`,
/// `too-many-redirects`, `invalid-request`, `connect-failed`,
/// `protocol-error`, `unavailable`.
///
/// ```no_run
/// # fn f() -> Result<(), warden_pdk::PluginError> {
/// use warden_pdk::{HeadersExt, OutgoingRequest, fetch};
///
/// let response = fetch(&OutgoingRequest::get("https://api.example.com/users/42").with_header("accept", "application/json"))?;
/// assert_eq!(response.status, 200);
/// # Ok(()) }
/// ```
pub fn fetch(request: &OutgoingRequest) -> Result<HttpResponse, PluginError> {
    crate::imports::outbound_http::fetch(request)
}

impl OutgoingRequest {
    /// A request with `method` to `url`, no headers and an empty body. Add
    /// headers with [`HeadersExt`](crate::HeadersExt) (`with_header`,
    /// `add_header`) and a body with [`with_body`](Self::with_body).
    ///
    /// ```
    /// use warden_pdk::{HeadersExt, OutgoingRequest};
    ///
    /// let req = OutgoingRequest::new("POST", "https://api.example.com/orders")
    ///     .with_header("content-type", "application/json")
    ///     .with_body(r#"{"id":7}"#);
    /// assert_eq!((req.method.as_str(), req.header("Content-Type")), ("POST", Some("application/json")));
    /// assert_eq!(req.body, br#"{"id":7}"#);
    /// ```
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        OutgoingRequest { method: method.into(), url: url.into(), headers: Headers::new(), body: Vec::new() }
    }

    /// A `GET` request to `url`.
    pub fn get(url: impl Into<String>) -> Self {
        OutgoingRequest::new("GET", url)
    }

    /// With `body` (builder form).
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}
