//! Outbound HTTP to the hosts listed in the manifest's `[permissions] network`.

use crate::bindings::warden::plugin::outbound_http;
use crate::{HttpResponse, PluginError};

pub use outbound_http::OutgoingRequest;

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
/// use warden_pdk::{OutgoingRequest, fetch};
///
/// let response = fetch(&OutgoingRequest {
///     method: "GET".into(),
///     url: "https://api.example.com/users/42".into(),
///     headers: vec![("accept".into(), "application/json".into())],
///     body: Vec::new(),
/// })?;
/// assert_eq!(response.status, 200);
/// # Ok(()) }
/// ```
pub fn fetch(request: &OutgoingRequest) -> Result<HttpResponse, PluginError> {
    outbound_http::fetch(request)
}
