//! How many bytes a hook result carries, for the `max-output` limit.
//!
//! Each header counts its name and value plus [`HEADER_OVERHEAD`] bytes,
//! so a result cannot make the host build an unbounded number of entries
//! out of empty headers.

use crate::types::{ConnectAction, HealthStatus, HttpResponse, RequestAction, ResponseAction};

/// Bytes a value returned by a plugin occupies (strings, headers, bodies).
pub(crate) trait OutputSize {
    fn output_size(&self) -> u64;
}

/// What one header costs on top of its name and value, as HTTP/2 counts a
/// header field's size (RFC 7541, section 4.1).
pub(crate) const HEADER_OVERHEAD: u64 = 32;

fn headers(h: &[(String, String)]) -> u64 {
    h.iter().map(|(k, v)| (k.len() + v.len()) as u64 + HEADER_OVERHEAD).sum()
}

impl OutputSize for HttpResponse {
    fn output_size(&self) -> u64 {
        self.body.len() as u64 + headers(&self.headers)
    }
}

impl OutputSize for RequestAction {
    fn output_size(&self) -> u64 {
        match self {
            RequestAction::Continue => 0,
            RequestAction::Respond(r) => r.output_size(),
            RequestAction::Reject(r) => r.reason.len() as u64,
        }
    }
}

impl OutputSize for ResponseAction {
    fn output_size(&self) -> u64 {
        match self {
            ResponseAction::Continue => 0,
            ResponseAction::Respond(r) => r.output_size(),
            ResponseAction::Reject(r) => r.reason.len() as u64,
        }
    }
}

impl OutputSize for ConnectAction {
    fn output_size(&self) -> u64 {
        match self {
            ConnectAction::Allow => 0,
            ConnectAction::Deny(reason) => reason.len() as u64,
        }
    }
}

impl OutputSize for HealthStatus {
    fn output_size(&self) -> u64 {
        match self {
            HealthStatus::Healthy => 0,
            HealthStatus::Degraded(s) | HealthStatus::Unhealthy(s) => s.len() as u64,
        }
    }
}

impl OutputSize for Vec<u8> {
    fn output_size(&self) -> u64 {
        self.len() as u64
    }
}

impl OutputSize for () {
    fn output_size(&self) -> u64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_headers_still_count() {
        let mut r = HttpResponse::new(200, "");
        r.headers = vec![(String::new(), String::new()); 1000];
        assert_eq!(r.output_size(), 32_000);
        r.headers = vec![("a".into(), "bc".into())];
        assert_eq!(r.output_size(), 35);
    }
}
