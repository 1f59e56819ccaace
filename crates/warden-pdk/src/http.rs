//! Helpers on the HTTP types: header access, constructors and hook results.

use crate::{Headers, HttpResponse, OutgoingRequest, Rejection, RequestAction, ResponseAction};

/// Header access for anything carrying [`Headers`]: header names compare
/// ASCII case-insensitively; order and repeated names are preserved.
///
/// Implemented for [`HttpResponse`] (what a hook answers with, or what
/// [`fetch`](crate::fetch) returns), [`OutgoingRequest`] and [`Headers`] itself; it is in the
/// [prelude](crate::prelude). The messages a hook is lent,
/// [`Request`](crate::Request) and [`Response`](crate::Response), have
/// methods of the same names that work through the host.
pub trait HeadersExt {
    /// The header fields, in order.
    fn headers(&self) -> &[(String, String)];

    /// The header fields, mutably.
    fn headers_mut(&mut self) -> &mut Headers;

    /// The first value of header `name`, if present.
    fn header(&self, name: &str) -> Option<&str> {
        self.headers().iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`, in order.
    fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers().iter().filter(move |(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Whether header `name` is present.
    fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    /// Sets header `name` to `value`: replaces the first field with that name and
    /// removes the others, or appends a field if there was none.
    fn set_header(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let (name, value) = (name.into(), value.into());
        let headers = self.headers_mut();
        match headers.iter().position(|(k, _)| k.eq_ignore_ascii_case(&name)) {
            Some(first) => {
                let mut i = 0;
                headers.retain(|(k, _)| {
                    i += 1;
                    i - 1 <= first || !k.eq_ignore_ascii_case(&name)
                });
                headers[first] = (name, value);
            }
            None => headers.push((name, value)),
        }
    }

    /// Appends a field `name: value`, keeping existing fields with that name.
    fn add_header(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.headers_mut().push((name.into(), value.into()));
    }

    /// Removes every field named `name`; returns whether any was removed.
    fn remove_header(&mut self, name: &str) -> bool {
        let headers = self.headers_mut();
        let before = headers.len();
        headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        headers.len() != before
    }

    /// Builder form of [`set_header`](HeadersExt::set_header).
    fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self
    where
        Self: Sized,
    {
        self.set_header(name, value);
        self
    }
}

impl HeadersExt for Headers {
    fn headers(&self) -> &[(String, String)] {
        self
    }
    fn headers_mut(&mut self) -> &mut Headers {
        self
    }
}

macro_rules! impl_headers_ext {
    ($($ty:ty),*) => {$(
        impl HeadersExt for $ty {
            fn headers(&self) -> &[(String, String)] {
                &self.headers
            }
            fn headers_mut(&mut self) -> &mut Headers {
                &mut self.headers
            }
        }
    )*};
}
impl_headers_ext!(HttpResponse, OutgoingRequest);

impl HttpResponse {
    /// A response with `status`, no headers and `body`.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        HttpResponse { status, headers: Headers::new(), body: body.into() }
    }

    /// Replaces the body and keeps a `content-length` header, if the
    /// response has one, in step with it.
    pub fn set_body(&mut self, body: impl Into<Vec<u8>>) {
        self.body = body.into();
        keep_content_length(self, self.body.len());
    }

    /// The body as UTF-8 text, if it is valid UTF-8.
    pub fn body_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }
}

/// Sets an existing `content-length` header to `len`.
fn keep_content_length(message: &mut impl HeadersExt, len: usize) {
    if message.has_header("content-length") {
        message.set_header("content-length", len.to_string());
    }
}

impl Rejection {
    /// A refusal with HTTP `status` (4xx or 5xx) and `reason` as the response body.
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        Rejection { status, reason: reason.into() }
    }
}

impl RequestAction {
    /// Stop the chain and refuse the request with `status` and `reason`.
    pub fn reject(status: u16, reason: impl Into<String>) -> Self {
        RequestAction::Reject(Rejection::new(status, reason))
    }
}

impl ResponseAction {
    /// Replace the response with a refusal with `status` and `reason`.
    pub fn reject(status: u16, reason: impl Into<String>) -> Self {
        ResponseAction::Reject(Rejection::new(status, reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(headers: &[(String, String)]) -> Vec<(&str, &str)> {
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    #[test]
    fn header_lookup_is_case_insensitive() {
        let mut resp = HttpResponse::new(200, "");
        resp.add_header("Accept", "text/html");
        resp.add_header("accept", "*/*");
        assert_eq!(resp.header("ACCEPT"), Some("text/html"));
        assert_eq!(resp.header_values("accept").collect::<Vec<_>>(), ["text/html", "*/*"]);
        assert!(resp.has_header("Accept") && !resp.has_header("host"));
    }

    #[test]
    fn set_replaces_first_and_drops_rest() {
        let mut headers: Headers =
            vec![("X-A".into(), "1".into()), ("b".into(), "2".into()), ("x-a".into(), "3".into())];
        headers.set_header("x-a", "9");
        assert_eq!(pairs(&headers), [("x-a", "9"), ("b", "2")]);
        headers.set_header("c", "4");
        assert_eq!(pairs(&headers), [("x-a", "9"), ("b", "2"), ("c", "4")]);
    }

    #[test]
    fn remove_and_builders() {
        let mut resp = HttpResponse::new(200, "hi").with_header("content-type", "text/plain").with_header("x-a", "1");
        assert!(resp.remove_header("X-A"));
        assert!(!resp.remove_header("x-a"));
        assert_eq!(pairs(&resp.headers), [("content-type", "text/plain")]);
        assert_eq!(resp.body_str(), Some("hi"));
        assert_eq!(
            RequestAction::reject(403, "nope"),
            RequestAction::Reject(Rejection { status: 403, reason: "nope".into() })
        );
        let mut resp = HttpResponse::new(200, "b");
        resp.set_body("longer");
        assert!(!resp.has_header("content-length"), "not added when absent");
        resp.add_header("Content-Length", "1");
        resp.set_body("longer");
        assert_eq!((resp.body.as_slice(), resp.header("content-length")), (&b"longer"[..], Some("6")));
    }
}
