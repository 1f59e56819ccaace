//! The admin web page: plain HTML, CSS and JavaScript compiled into the
//! binary, no build step, nothing loaded from elsewhere.
//!
//! The page itself is public (it holds no data); every call it makes to
//! the JSON API carries the bearer token, which the user pastes into the
//! page or passes in the URL fragment (`/ui#token=...`: a fragment never
//! reaches the server or its logs). The page keeps the token in the tab's
//! `sessionStorage` and drops it from the address bar.

use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue, LOCATION};
use http::{Response, StatusCode};

use crate::server::Body;

const INDEX: &str = include_str!("ui/index.html");
const SCRIPT: &str = include_str!("ui/app.js");
const STYLE: &str = include_str!("ui/app.css");

/// Only this origin's script, style and API; no inline code, frames, forms
/// posting elsewhere or external resources of any kind.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; \
                      base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The answer to `GET path` if it is one of the page's files (`/` sends
/// the browser to `/ui`).
pub(super) fn page(path: &str) -> Option<Response<Body>> {
    let (content_type, text) = match path {
        "/" => {
            let mut r = Response::new(crate::server::full_body(""));
            *r.status_mut() = StatusCode::SEE_OTHER;
            r.headers_mut().insert(LOCATION, HeaderValue::from_static("/ui"));
            return Some(r);
        }
        "/ui" | "/ui/" => ("text/html; charset=utf-8", INDEX),
        "/ui/app.js" => ("text/javascript; charset=utf-8", SCRIPT),
        "/ui/app.css" => ("text/css; charset=utf-8", STYLE),
        _ => return None,
    };
    let mut r = Response::new(crate::server::full_body(text));
    let headers = r.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(HeaderName::from_static("content-security-policy"), HeaderValue::from_static(POLICY));
    headers.insert(HeaderName::from_static("x-content-type-options"), HeaderValue::from_static("nosniff"));
    headers.insert(HeaderName::from_static("referrer-policy"), HeaderValue::from_static("no-referrer"));
    headers.insert(HeaderName::from_static("x-frame-options"), HeaderValue::from_static("DENY"));
    Some(r)
}
