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
