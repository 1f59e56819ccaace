//! The data types hooks take and return, generated from `wit/plugin.wit`,
//! with a few constructors for host code.

pub use crate::bindings::types::{
    CallContext, ConnectAction, ConnectionInfo, Exchange, HealthStatus, HttpRequest, HttpResponse, PluginError,
    Rejection, RequestAction, RequestHead, ResponseAction, RuleEvent,
};

impl CallContext {
    /// A context with just a request id.
    pub fn new(request_id: impl Into<String>) -> CallContext {
        CallContext { request_id: request_id.into(), traceparent: None, route: None, connection: None }
    }
}

impl HttpRequest {
    /// A request with no headers and an empty body.
    pub fn new(method: impl Into<String>, uri: impl Into<String>) -> HttpRequest {
        HttpRequest { method: method.into(), uri: uri.into(), headers: Vec::new(), body: Vec::new() }
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The request line and headers, without the body.
    pub fn head(&self) -> RequestHead {
        RequestHead { method: self.method.clone(), uri: self.uri.clone(), headers: self.headers.clone() }
    }
}

impl HttpResponse {
    /// A response with no headers.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> HttpResponse {
        HttpResponse { status, headers: Vec::new(), body: body.into() }
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}
