//! Matching requests to routes and rules: path prefixes on segment
//! boundaries, methods, hosts, and `*` globs for rules.

use http::Method;

use crate::config::{RouteConfig, RuleConfig};

/// A route's host condition: one host, or every subdomain of a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostRule {
    /// Exactly this host (lowercase, without port).
    Exact(String),
    /// Any subdomain of this domain, not the domain itself (`*.example.com`).
    Subdomains(String),
}

impl HostRule {
    /// Parses `example.com` or `*.example.com`.
    pub fn parse(s: &str) -> Result<HostRule, String> {
        let s = s.trim().to_ascii_lowercase();
        let valid = |h: &str| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if let Some(domain) = s.strip_prefix("*.") {
            if valid(domain) {
                return Ok(HostRule::Subdomains(domain.to_owned()));
            }
        } else if valid(&s) {
            return Ok(HostRule::Exact(s));
        }
        Err(format!("{s:?} is not a host; write \"example.com\" or \"*.example.com\" (no port, no scheme)"))
    }

    /// Whether `host` (from the `Host` header, port already removed) matches.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host);
        match self {
            HostRule::Exact(h) => host.eq_ignore_ascii_case(h),
            HostRule::Subdomains(domain) => {
                host.len() > domain.len() + 1 && {
                    let (sub, tail) = host.split_at(host.len() - domain.len());
                    tail.eq_ignore_ascii_case(domain) && sub.ends_with('.') && sub.len() > 1
                }
            }
        }
    }
}

/// A glob where `*` matches any run of characters (including none) and
/// everything else matches itself, ignoring ASCII case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    parts: Vec<String>,
}

impl Pattern {
    /// Compiles `glob`.
    pub fn new(glob: &str) -> Pattern {
        Pattern { parts: glob.to_ascii_lowercase().split('*').map(str::to_owned).collect() }
    }

    /// Whether `text` matches the whole pattern.
    pub fn matches(&self, text: &str) -> bool {
        let text = text.to_ascii_lowercase();
        let (first, rest) = self.parts.split_first().expect("split yields one part at least");
        let Some(mut left) = text.strip_prefix(first.as_str()) else {
            return false;
        };
        let Some((last, middle)) = rest.split_last() else {
            return left.is_empty();
        };
        for part in middle {
            match left.find(part.as_str()) {
                Some(i) => left = &left[i + part.len()..],
                None => return false,
            }
        }
        left.ends_with(last.as_str())
    }
}

/// Whether `path` is `prefix` or below it on a segment boundary.
pub(crate) fn path_matches(prefix: &str, path: &str) -> bool {
    prefix == "/" || path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The host of a `Host` header value, without port or brackets.
pub(crate) fn host_only(host: &str) -> &str {
    if let Some(v6) = host.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    host.rsplit_once(':').map_or(host, |(h, port)| if port.bytes().all(|b| b.is_ascii_digit()) { h } else { host })
}

impl RouteConfig {
    /// Whether a request with this method, host and path takes this route.
    pub fn matches(&self, method: &Method, host: Option<&str>, path: &str) -> bool {
        (self.methods.is_empty() || self.methods.contains(method))
            && path_matches(&self.path, path)
            && self.host.as_ref().is_none_or(|rule| host.is_some_and(|h| rule.matches(host_only(h))))
    }
}

impl RuleConfig {
    /// What matched, as `(item, value)` pairs, or `None` if the rule does not
    /// match. `header` looks a header value up by lowercase name.
    pub fn check<'a>(
        &self,
        method: &Method,
        path: &str,
        header: impl Fn(&str) -> Option<&'a str>,
    ) -> Option<Vec<(String, String)>> {
        let mut details = Vec::new();
        if !self.methods.is_empty() {
            if !self.methods.contains(method) {
                return None;
            }
            details.push(("method".to_owned(), method.to_string()));
        }
        if let Some(p) = &self.path {
            if !p.matches(path) {
                return None;
            }
            details.push(("path".to_owned(), path.to_owned()));
        }
        if let Some((name, p)) = &self.header {
            let value = header(name).filter(|v| p.matches(v))?;
            details.push((format!("header:{name}"), value.to_owned()));
        }
        Some(details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(path_matches("/api", "/api"));
        assert!(path_matches("/api", "/api/users"));
        assert!(!path_matches("/api", "/apix"));
        assert!(!path_matches("/api", "/"));
        assert!(path_matches("/", "/anything"));
    }

    #[test]
    fn hosts() {
        let exact = HostRule::parse("Example.com").unwrap();
        assert!(exact.matches("example.COM"));
        assert!(!exact.matches("a.example.com"));
        let sub = HostRule::parse("*.example.com").unwrap();
        assert!(sub.matches("a.example.com"));
        assert!(sub.matches("a.b.example.com."));
        assert!(!sub.matches("example.com"));
        assert!(!sub.matches("evil-example.com"));
        assert!(!sub.matches(".example.com"));
        assert!(HostRule::parse("http://x").is_err());
        assert_eq!(host_only("example.com:8080"), "example.com");
        assert_eq!(host_only("[::1]:80"), "::1");
        assert_eq!(host_only("example.com"), "example.com");
    }

    #[test]
    fn globs() {
        let p = Pattern::new("*sqlmap*");
        assert!(p.matches("sqlmap/1.0"));
        assert!(p.matches("Mozilla SQLMap"));
        assert!(!p.matches("curl"));
        let p = Pattern::new("/admin*");
        assert!(p.matches("/admin"));
        assert!(p.matches("/admin/x"));
        assert!(!p.matches("/x/admin"));
        let p = Pattern::new("/a*b*c");
        assert!(p.matches("/abc"));
        assert!(p.matches("/a-b-c"));
        assert!(!p.matches("/a-b-cd"));
        assert!(Pattern::new("exact").matches("EXACT"));
        assert!(!Pattern::new("exact").matches("exactly"));
        assert!(Pattern::new("*").matches(""));
    }
}
