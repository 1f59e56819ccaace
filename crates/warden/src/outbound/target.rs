//! Where a request goes: absolute `http`/`https` URLs parsed into scheme,
//! host, port and path, and redirect locations resolved against them.

use std::net::{IpAddr, Ipv6Addr};

use crate::permissions::{HostPattern, Scheme};

/// A parsed absolute URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub scheme: Scheme,
    /// Lowercase host as written, IPv6 addresses in canonical bracketed form.
    pub host: String,
    /// The port, the scheme's default if the URL names none.
    pub port: u16,
    /// Path and query, starting with `/` (the fragment is dropped).
    pub path: String,
}

impl Target {
    /// Parses an absolute `http://` or `https://` URL without user info.
    pub(crate) fn parse(url: &str) -> Result<Target, String> {
        // Fragments are never sent.
        let url = url.split_once('#').map_or(url, |(before, _)| before);
        let bad = |why: &str| format!("\"{url}\" is not a valid URL: {why}");
        let uri: http::Uri = url.parse().map_err(|e| bad(&format!("{e}")))?;
        let scheme = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("http") => Scheme::Http,
            Some(s) if s.eq_ignore_ascii_case("https") => Scheme::Https,
            Some(s) => return Err(bad(&format!("scheme \"{s}\" is not allowed; use http or https"))),
            None => return Err(bad("it must be absolute, e.g. https://api.example.com/path")),
        };
        let authority = uri.authority().ok_or_else(|| bad("it has no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("user info (\"user@\") is not allowed; send credentials in a header"));
        }
        let host = canonical_host(authority.host()).ok_or_else(|| bad("the host is not a DNS name or IP address"))?;
        // Read the port from the text: `http::Authority::port` quietly
        // ignores one that is out of range, which would mean the default port.
        let written = authority.as_str().get(authority.host().len()..).unwrap_or_default();
        let port = match written.strip_prefix(':') {
            None if written.is_empty() => scheme.default_port(),
            Some("") => return Err(bad("the port is empty")),
            Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => match p.parse::<u16>() {
                Ok(0) => return Err(bad("port 0 is not allowed")),
                Ok(port) => port,
                Err(_) => return Err(bad(&format!("port {p} is not a number from 1 to 65535"))),
            },
            _ => return Err(bad(&format!("\"{written}\" after the host is not a port"))),
        };
        let path = match uri.path_and_query().map(|p| p.as_str()) {
            None | Some("") => "/".to_owned(),
            Some(p) if p.starts_with('?') => format!("/{p}"),
            Some(p) => p.to_owned(),
        };
        Ok(Target { scheme, host, port, path })
    }

    /// The host as an IP address, if it is an IP literal.
    pub(crate) fn ip(&self) -> Option<IpAddr> {
        let bare = self.host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(&self.host);
        bare.parse().ok()
    }

    /// `host` or `host:port` when the port is not the scheme's default (the
    /// `Host` header).
    pub(crate) fn authority(&self) -> String {
        if self.port == self.scheme.default_port() { self.host.clone() } else { format!("{}:{}", self.host, self.port) }
    }

    /// `scheme://host:port`, the port always written: what the permission
    /// check and its messages are about.
    pub(crate) fn origin(&self) -> String {
        format!("{}://{}:{}", self.scheme.as_str(), self.host, self.port)
    }

    /// The `[permissions] network` entry that would allow this target.
    pub(crate) fn pattern(&self) -> String {
        let host = self.host.strip_suffix('.').unwrap_or(&self.host);
        if self.port == self.scheme.default_port() {
            format!("{}://{host}", self.scheme.as_str())
        } else {
            format!("{}://{host}:{}", self.scheme.as_str(), self.port)
        }
    }

    /// Whether one of `patterns` allows this target.
    pub(crate) fn allowed_by(&self, patterns: &[HostPattern]) -> bool {
        patterns.iter().any(|p| p.matches(self.scheme.as_str(), &self.host, Some(self.port)))
    }

    /// Whether `other` has the same scheme, host and port.
    pub(crate) fn same_origin(&self, other: &Target) -> bool {
        self.scheme == other.scheme && self.host == other.host && self.port == other.port
    }

    /// The absolute URI to send.
    pub(crate) fn uri(&self) -> Result<http::Uri, String> {
        format!("{}://{}{}", self.scheme.as_str(), self.authority(), self.path)
            .parse()
            .map_err(|e| format!("cannot build the request URI: {e}"))
    }

    /// Resolves a redirect's `Location` against this URL (RFC 3986,
    /// section 5.2).
    pub(crate) fn join(&self, location: &str) -> Result<Target, String> {
        let location = location.split_once('#').map_or(location, |(before, _)| before);
        if has_scheme(location) {
            return Target::parse(location);
        }
        if location.starts_with("//") {
            return Target::parse(&format!("{}:{location}", self.scheme.as_str()));
        }
        let base_path = self.path.split_once('?').map_or(self.path.as_str(), |(p, _)| p);
        let joined = if location.is_empty() {
            self.path.clone()
        } else if location.starts_with('?') {
            format!("{base_path}{location}")
        } else if location.starts_with('/') {
            location.to_owned()
        } else {
            let dir = base_path.rsplit_once('/').map_or("", |(dir, _)| dir);
            format!("{dir}/{location}")
        };
        let (path, query) = match joined.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (joined.as_str(), None),
        };
        let mut path = remove_dot_segments(path);
        if let Some(q) = query {
            path.push('?');
            path.push_str(q);
        }
        Target::parse(&format!("{}://{}{path}", self.scheme.as_str(), self.authority()))
    }
}

/// Lowercases a host and checks it is a DNS name (letters, digits, `-`,
/// `.`) or an IP address; IPv6 comes back in canonical bracketed form.
fn canonical_host(host: &str) -> Option<String> {
    if let Some(inner) = host.strip_prefix('[') {
        let ip: Ipv6Addr = inner.strip_suffix(']')?.parse().ok()?;
        return Some(format!("[{ip}]"));
    }
    let ok = !host.is_empty()
        && host.len() <= 253
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !host.starts_with('.')
        && !host.contains("..");
    ok.then(|| host.to_ascii_lowercase())
}

/// Whether a URI reference starts with `scheme:`.
fn has_scheme(reference: &str) -> bool {
    let Some((scheme, _)) = reference.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Removes `.` and `..` segments from an absolute path.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in path.split('/').skip(1) {
        trailing_slash = false;
        match segment {
            "." => trailing_slash = true,
            ".." => {
                out.pop();
                trailing_slash = true;
            }
            s => out.push(s),
        }
    }
    let mut result = format!("/{}", out.join("/"));
    if trailing_slash && !result.ends_with('/') {
        result.push('/');
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        Target::parse(url).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parses_absolute_urls() {
        let t = target("HTTPS://Api.Example.COM/v1/users?id=1#top");
        assert_eq!(
            t,
            Target { scheme: Scheme::Https, host: "api.example.com".into(), port: 443, path: "/v1/users?id=1".into() }
        );
        assert_eq!(t.origin(), "https://api.example.com:443");
        assert_eq!(t.pattern(), "https://api.example.com");
        assert_eq!(t.authority(), "api.example.com");
        assert_eq!(t.uri().unwrap().to_string(), "https://api.example.com/v1/users?id=1");

        let t = target("http://127.0.0.1:8080");
        assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("127.0.0.1", 8080, "/"));
        assert_eq!(t.ip(), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(t.pattern(), "http://127.0.0.1:8080");
        assert_eq!(target("http://h?q=1").path, "/?q=1");

        let t = target("http://[0:0:0:0:0:FFFF:7F00:1]:81/x");
        assert_eq!(t.host, "[::ffff:127.0.0.1]");
        assert_eq!(t.ip(), Some("::ffff:127.0.0.1".parse().unwrap()));
        assert_eq!(t.authority(), "[::ffff:127.0.0.1]:81");
        assert_eq!(target("http://example.com./").ip(), None);
        assert_eq!(target("http://example.com./").pattern(), "http://example.com");
    }

    #[test]
    fn refuses_what_is_not_an_absolute_http_url() {
        for (url, needle) in [
            ("/relative", "must be absolute"),
            ("example.com/x", "not a valid URL"),
            ("ftp://example.com/", "scheme \"ftp\""),
            ("file:///etc/passwd", "not a valid URL"),
            ("http://user:pw@example.com/", "user info"),
            ("http://user@example.com/", "user info"),
            ("http://example.com:0/", "port 0"),
            ("http://example.com:99999/", "port 99999 is not a number from 1 to 65535"),
            ("http://example.com:65536/", "port 65536"),
            ("http://example.com:+80/", "not a valid URL"),
            ("http://example.com:/", "port is empty"),
            ("http://exa mple.com/", "not a valid URL"),
            ("http://exa%6dple.com/", "not a valid URL"),
            ("http://exa_mple.com/", "not a DNS name"),
            ("http://example.com\r\nx: y/", "not a valid URL"),
            ("http://[::1/", "not a valid URL"),
            ("http:///path", "not a valid URL"),
            ("http://a..b/", "not a DNS name"),
            ("", "not a valid URL"),
        ] {
            let e = Target::parse(url).expect_err(url);
            assert!(e.contains(needle), "{url:?}: {e}");
        }
    }

    #[test]
    fn patterns_decide_on_scheme_host_and_port() {
        let patterns: Vec<HostPattern> =
            vec!["https://*.example.com".parse().unwrap(), "http://127.0.0.1:8080".parse().unwrap()];
        assert!(target("https://api.example.com/x").allowed_by(&patterns));
        assert!(target("https://api.example.com:443/x").allowed_by(&patterns));
        assert!(!target("https://evil-example.com/").allowed_by(&patterns));
        assert!(!target("https://example.com/").allowed_by(&patterns));
        assert!(!target("http://api.example.com/").allowed_by(&patterns));
        assert!(!target("https://api.example.com:8443/").allowed_by(&patterns));
        assert!(target("http://127.0.0.1:8080/").allowed_by(&patterns));
        assert!(!target("http://127.0.0.1/").allowed_by(&patterns));
        assert!(!target("http://127.1:8080/").allowed_by(&patterns));
    }

    #[test]
    fn joins_redirect_locations() {
        let base = target("http://a.example:8080/b/c/d?q=1");
        for (location, expected) in [
            ("https://other.example/x", "https://other.example:443/x"),
            ("//other.example/y", "http://other.example:80/y"),
            ("/abs?z=2", "http://a.example:8080/abs?z=2"),
            ("e", "http://a.example:8080/b/c/e"),
            ("./e/", "http://a.example:8080/b/c/e/"),
            ("../e", "http://a.example:8080/b/e"),
            ("../../../../e", "http://a.example:8080/e"),
            ("..", "http://a.example:8080/b/"),
            ("?y=2", "http://a.example:8080/b/c/d?y=2"),
            ("", "http://a.example:8080/b/c/d?q=1"),
            ("e#frag", "http://a.example:8080/b/c/e"),
        ] {
            let t = base.join(location).unwrap_or_else(|e| panic!("{location}: {e}"));
            assert_eq!(format!("{}{}", t.origin(), t.path), expected, "{location}");
        }
        assert!(base.join("ftp://x/").is_err());
        assert!(base.join("http://u@x/").is_err());
        assert!(base.join("/a b").is_err());
        assert!(base.same_origin(&base.join("/x").unwrap()));
        assert!(!base.same_origin(&base.join("https://a.example:8080/").unwrap()));
        assert!(!base.same_origin(&base.join("http://a.example:8081/").unwrap()));
    }
}
