//! The data types hooks take and return, generated from `wit/plugin.wit`,
//! with a few constructors for host code. The messages a hook works on
//! are in [`crate::message`].

pub use crate::bindings::types::{
    ConnectAction, ConnectionInfo, HealthStatus, HttpResponse, PluginError, Rejection, RequestAction, ResponseAction,
};

impl HttpResponse {
    /// A response with no headers.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> HttpResponse {
        HttpResponse { status, headers: Vec::new(), body: body.into() }
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

// The constructors `warden_pdk` has for the same types, so that host and
// plugin tests read alike.

impl PluginError {
    /// An error with a machine-readable `code` and a `message` for people.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> PluginError {
        PluginError { code: code.into(), message: message.into() }
    }
}

impl Rejection {
    /// A refusal with HTTP `status` and `reason` as the response body.
    pub fn new(status: u16, reason: impl Into<String>) -> Rejection {
        Rejection { status, reason: reason.into() }
    }
}

impl RequestAction {
    /// Refuse the request with `status` and `reason`.
    ///
    /// ```
    /// use warden::{Rejection, RequestAction};
    ///
    /// let action = RequestAction::reject(403, "no");
    /// assert!(matches!(action, RequestAction::Reject(Rejection { status: 403, .. })));
    /// ```
    pub fn reject(status: u16, reason: impl Into<String>) -> RequestAction {
        RequestAction::Reject(Rejection::new(status, reason))
    }
}

impl ResponseAction {
    /// Replace the response with a refusal with `status` and `reason`.
    pub fn reject(status: u16, reason: impl Into<String>) -> ResponseAction {
        ResponseAction::Reject(Rejection::new(status, reason))
    }
}
