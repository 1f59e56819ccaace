//! Between hyper's HTTP types and the plugin types, and the header hygiene
//! a proxy owes HTTP: hop-by-hop fields stay on their hop.

use http::header::{CONNECTION, CONTENT_LENGTH, HeaderMap, HeaderName, HeaderValue, TRANSFER_ENCODING};
use http::{StatusCode, Uri};
use warden::HttpResponse;

/// Fields that describe one connection, never forwarded (RFC 9110 §7.6.1),
/// plus the obsolete `proxy-connection` that some clients still send.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes hop-by-hop fields, including any named in `Connection`.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Plugin header pairs (at most `max`) as a header map; framing fields
/// (`content-length`, `transfer-encoding`) and hop-by-hop fields are
/// dropped because the gateway sets framing itself.
pub(crate) fn pairs_to_headers(pairs: &[(String, String)], max: usize) -> Result<HeaderMap, String> {
    if pairs.len() > max {
        return Err(format!("{} headers, over the limit of {max} ([server] max-headers)", pairs.len()));
    }
    let too_many = |_| format!("{} headers, more than a header map holds", pairs.len());
    let mut map = HeaderMap::try_with_capacity(pairs.len()).map_err(too_many)?;
    for (k, v) in pairs {
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| format!("invalid header name {k:?}"))?;
        let value = HeaderValue::from_str(v).map_err(|_| format!("invalid value for header {k:?}"))?;
        map.try_append(name, value).map_err(too_many)?;
    }
    strip_hop_by_hop(&mut map);
    map.remove(CONTENT_LENGTH);
    map.remove(TRANSFER_ENCODING);
    Ok(map)
}

/// Checks the target a plugin left a request with: a path in normal
/// form (see [`crate::path`]), as a client's must be.
pub(crate) fn check_target(uri: &Uri) -> Result<(), String> {
    if uri.scheme().is_some() || !uri.path().starts_with('/') {
        return Err(format!("request target {uri} must be a path starting with '/'"));
    }
    match crate::path::normalize(uri.path()) {
        Ok(normal) if normal == uri.path() => Ok(()),
        Ok(normal) => Err(format!("request target {uri} is not in normal form (write {normal:?})")),
        Err(e) => Err(format!("request target {uri}: {e}")),
    }
}

/// A plugin's response as status and headers (at most `max_headers`; the
/// body is taken as is).
pub(crate) fn from_plugin_response(
    response: &HttpResponse,
    max_headers: usize,
) -> Result<(StatusCode, HeaderMap), String> {
    let status = StatusCode::from_u16(response.status)
        .ok()
        .filter(|s| (200..=599).contains(&s.as_u16()))
        .ok_or_else(|| format!("invalid response status {}", response.status))?;
    Ok((status, pairs_to_headers(&response.headers, max_headers)?))
}

/// The upstream URI for a request: upstream base path + request path
/// (minus the route prefix when `strip` is set) + query.
pub(crate) fn upstream_uri(base: &Uri, target: &Uri, strip: Option<&str>) -> Result<Uri, String> {
    let mut path = target.path();
    if let Some(prefix) = strip.filter(|p| *p != "/") {
        path = path.strip_prefix(prefix).unwrap_or(path);
    }
    let base_path = base.path().trim_end_matches('/');
    let mut pq = String::with_capacity(base_path.len() + path.len() + 16);
    pq.push_str(base_path);
    if !path.starts_with('/') {
        pq.push('/');
    }
    pq.push_str(path);
    if let Some(q) = target.query() {
        pq.push('?');
        pq.push_str(q);
    }
    let authority = base.authority().map(|a| a.as_str()).unwrap_or_default();
    Uri::builder()
        .scheme(base.scheme_str().unwrap_or("http"))
        .authority(authority)
        .path_and_query(pq)
        .build()
        .map_err(|e| format!("cannot build the upstream URL: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_fields_are_removed() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("keep-alive, x-secret"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        h.insert("upgrade", HeaderValue::from_static("websocket"));
        h.insert("proxy-authorization", HeaderValue::from_static("Basic x"));
        h.insert("proxy-connection", HeaderValue::from_static("keep-alive"));
        h.insert("x-kept", HeaderValue::from_static("yes"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn upstream_uris() {
        let base: Uri = "http://127.0.0.1:9000/base/".parse().unwrap();
        let t: Uri = "/api/users?id=1".parse().unwrap();
        assert_eq!(upstream_uri(&base, &t, None).unwrap(), "http://127.0.0.1:9000/base/api/users?id=1");
        assert_eq!(upstream_uri(&base, &t, Some("/api")).unwrap(), "http://127.0.0.1:9000/base/users?id=1");
        let bare: Uri = "http://up:80".parse().unwrap();
        let root: Uri = "/api".parse().unwrap();
        assert_eq!(upstream_uri(&bare, &root, Some("/api")).unwrap(), "http://up:80/");
    }

    #[test]
    fn plugin_messages_are_checked() {
        let target = |t: &str| check_target(&t.parse().unwrap());
        assert!(target("/x?a=1").is_ok());
        assert!(target("http://evil/").is_err());
        // The path rule holds for targets plugins write too.
        assert!(target("/a/../admin").unwrap_err().contains("'.' or '..' segment"));
        assert!(target("/%61dmin").unwrap_err().contains("write \"/admin\""));
        let mut r = HttpResponse::new(200, "");
        r.headers.push(("content-length".into(), "999".into()));
        r.headers.push(("x-a".into(), "1".into()));
        let (_, h) = from_plugin_response(&r, 100).unwrap();
        assert!(!h.contains_key("content-length"), "framing is the gateway's job");
        r.headers.push(("x".into(), "a\nb".into()));
        assert!(from_plugin_response(&r, 100).is_err());
        assert!(from_plugin_response(&HttpResponse::new(99, ""), 100).is_err());
        assert!(from_plugin_response(&HttpResponse::new(204, ""), 100).is_ok());
    }

    #[test]
    fn header_counts_are_bounded_without_panicking() {
        // 30,000 headers overflowed HeaderMap::with_capacity (a host panic).
        let mut r = HttpResponse::new(200, "");
        r.headers = vec![("x-a".to_owned(), String::new()); 30_000];
        let e = from_plugin_response(&r, 100).unwrap_err();
        assert!(e.contains("30000 headers, over the limit of 100 ([server] max-headers)"), "{e}");
        assert!(from_plugin_response(&r, usize::MAX).unwrap_err().contains("more than a header map holds"));
        r.headers.truncate(100);
        assert_eq!(from_plugin_response(&r, 100).unwrap().1.len(), 100);
    }

    proptest::proptest! {
        /// Whatever a plugin answers with: a typed error or a response
        /// within the header limit, never a panic.
        #[test]
        fn fuzz_plugin_messages(
            status in proptest::prelude::any::<u16>(),
            headers in proptest::collection::vec((warden_fixtures::fuzz::text(), warden_fixtures::fuzz::text()), 0..150),
            max in 0usize..200,
        ) {
            let mut response = HttpResponse::new(status, "");
            response.headers = headers;
            if let Ok((status, h)) = from_plugin_response(&response, max) {
                proptest::prop_assert!(h.len() <= max && (200..=599).contains(&status.as_u16()));
            }
        }

        #[test]
        fn fuzz_upstream_uris(
            base in warden_fixtures::fuzz::text(),
            target in warden_fixtures::fuzz::text(),
            strip in proptest::option::of(warden_fixtures::fuzz::text()),
        ) {
            if let (Ok(base), Ok(target)) = (base.parse::<Uri>(), target.parse::<Uri>()) {
                let _ = upstream_uri(&base, &target, strip.as_deref());
            }
        }
    }
}
