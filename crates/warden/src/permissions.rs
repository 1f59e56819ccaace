//! Capability grants: what a plugin may touch outside its sandbox.
//!
//! Everything is denied by default. A [`Permissions`] value lists the host
//! folders a plugin sees ([`FileGrant`]), the host environment variables it may
//! read, the outbound hosts it may reach ([`HostPattern`]) and whether it may
//! replace requests and responses. Permissions usually come from the
//! `[permissions]` table of `plugin.toml` (see `docs/MANIFEST.md`), or from the
//! builder methods below.
//!
//! ```
//! use warden::{Access, HostPattern, Permissions};
//!
//! let api: HostPattern = "https://*.example.com".parse()?;
//! let perms = Permissions::default()
//!     .file("plugins/cache", "/cache", Access::ReadWrite)
//!     .env("API_TOKEN")
//!     .network(api);
//! assert!(perms.network[0].matches("https", "api.example.com", None));
//! assert!(!perms.network[0].matches("https", "evil-example.com", None));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::str::FromStr;

use crate::messaging::bus::TopicPattern;

/// Everything a plugin may do beyond pure computation. The default denies all.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Permissions {
    /// Host folders mounted into the guest file system.
    pub files: Vec<FileGrant>,
    /// Names of host environment variables the plugin may read.
    pub env: Vec<String>,
    /// Outbound hosts the plugin may connect to.
    pub network: Vec<HostPattern>,
    /// Whether the plugin may replace the request it is given.
    pub modify_request: bool,
    /// Whether the plugin may replace the response it is given.
    pub modify_response: bool,
    /// Topics the plugin may publish messages to.
    pub publish: Vec<TopicPattern>,
    /// Topics whose messages the plugin receives (it must export
    /// `warden:plugin/subscriber`).
    pub subscribe: Vec<TopicPattern>,
    /// Whether the plugin may use the key-value store (its own namespace).
    pub key_value: bool,
    /// The grants of the host's own capabilities: every other key of
    /// `[permissions]`, with its value, for the capability that claims the
    /// key to check when the plugin loads (see
    /// [`Capability::permissions`](crate::capability::Capability::permissions)).
    pub host: BTreeMap<String, toml::Value>,
}

impl Permissions {
    /// Mounts the host folder `host` at the absolute guest path `guest`.
    ///
    /// Unlike the manifest, the builder does not check `guest`; pass an
    /// absolute path without `..`.
    pub fn file(mut self, host: impl Into<PathBuf>, guest: impl Into<String>, access: Access) -> Self {
        self.files.push(FileGrant { host: host.into(), guest: guest.into(), access });
        self
    }

    /// Lets the plugin read the host environment variable `name`.
    pub fn env(mut self, name: impl Into<String>) -> Self {
        self.env.push(name.into());
        self
    }

    /// Lets the plugin connect to hosts matching `pattern`.
    pub fn network(mut self, pattern: HostPattern) -> Self {
        self.network.push(pattern);
        self
    }

    /// Sets whether the plugin may replace the request.
    pub fn modify_request(mut self, allow: bool) -> Self {
        self.modify_request = allow;
        self
    }

    /// Sets whether the plugin may replace the response.
    pub fn modify_response(mut self, allow: bool) -> Self {
        self.modify_response = allow;
        self
    }

    /// Lets the plugin publish to topics matching `pattern`.
    pub fn publish(mut self, pattern: TopicPattern) -> Self {
        self.publish.push(pattern);
        self
    }

    /// Sets whether the plugin may use the key-value store.
    pub fn key_value(mut self, allow: bool) -> Self {
        self.key_value = allow;
        self
    }

    /// Sets `[permissions] key = value` for a host capability.
    pub fn grant(mut self, key: impl Into<String>, value: impl Into<toml::Value>) -> Self {
        self.host.insert(key.into(), value.into());
        self
    }

    /// Subscribes the plugin to topics matching `pattern`.
    pub fn subscribe(mut self, pattern: TopicPattern) -> Self {
        self.subscribe.push(pattern);
        self
    }
}

/// A host folder made visible inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileGrant {
    /// The folder on the host, as written in the manifest: a relative path is
    /// relative to the plugin folder (`Manifest::dir`).
    pub host: PathBuf,
    /// Where the guest sees it: an absolute path such as `/data`.
    pub guest: String,
    /// Read-only or read-write.
    pub access: Access,
}

/// How a plugin may use a mounted folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Access {
    /// Read files and list folders only (manifest: `"ro"`).
    #[default]
    ReadOnly,
    /// Also create, write and delete (manifest: `"rw"`).
    ReadWrite,
}

impl Access {
    /// The manifest spelling: `"ro"` or `"rw"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::ReadOnly => "ro",
            Access::ReadWrite => "rw",
        }
    }
}

/// URL scheme of an outbound connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// Plain `http`, default port 80.
    Http,
    /// `https`, default port 443.
    Https,
}

impl Scheme {
    /// The scheme as written in a URL: `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// The port used when a URL names none: 80 or 443.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    /// Parses `"http"` or `"https"`, ignoring case.
    fn parse(s: &str) -> Option<Scheme> {
        if s.eq_ignore_ascii_case("http") {
            Some(Scheme::Http)
        } else if s.eq_ignore_ascii_case("https") {
            Some(Scheme::Https)
        } else {
            None
        }
    }
}

/// The host part of a [`HostPattern`], lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HostMatch {
    /// Exactly this host: a DNS name, an IPv4 address, or an IPv6 address in
    /// canonical form with brackets (`[::1]`).
    Exact(String),
    /// Any subdomain of this domain, at any depth, but not the domain itself:
    /// `Subdomains("example.com")` is written `*.example.com`.
    Subdomains(String),
}

/// An allowed outbound destination: `scheme://host[:port]`.
///
/// The host is a DNS name, an IPv4 address, a bracketed IPv6 address, or
/// `*.` followed by a DNS name to allow every subdomain. Without a port only
/// the scheme's default port (80 or 443) is allowed.
///
/// ```
/// use warden::HostPattern;
///
/// let p: HostPattern = "http://*.example.com:8080".parse()?;
/// assert!(p.matches("http", "a.b.example.com", Some(8080)));
/// assert!(!p.matches("http", "example.com", Some(8080)));
/// assert!(!p.matches("http", "a.example.com", None));
/// assert_eq!(p.to_string(), "http://*.example.com:8080");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPattern {
    scheme: Scheme,
    host: HostMatch,
    port: Option<u16>,
}

impl HostPattern {
    /// The scheme connections must use.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host or domain allowed.
    pub fn host(&self) -> &HostMatch {
        &self.host
    }

    /// The port written in the pattern; `None` means the scheme's default.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Whether a connection to `scheme://host[:port]` is allowed.
    ///
    /// `port: None` means the default port of `scheme`. The host is compared
    /// ignoring ASCII case and one trailing dot; IPv6 addresses may be given
    /// with or without brackets.
    pub fn matches(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let Some(scheme) = Scheme::parse(scheme) else {
            return false;
        };
        let want_port = self.port.unwrap_or(self.scheme.default_port());
        if scheme != self.scheme || port.unwrap_or(scheme.default_port()) != want_port {
            return false;
        }
        let host = normalize_candidate(host);
        match &self.host {
            HostMatch::Exact(exact) => *exact == host,
            HostMatch::Subdomains(domain) => host
                .strip_suffix(domain.as_str())
                .and_then(|sub| sub.strip_suffix('.'))
                .is_some_and(|sub| !sub.is_empty() && !sub.ends_with('.')),
        }
    }
}

/// Lowercases, drops one trailing dot, and puts IPv6 addresses in the
/// canonical bracketed form used by [`HostMatch::Exact`].
fn normalize_candidate(host: &str) -> String {
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let inner = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(&host);
    match inner.parse::<Ipv6Addr>() {
        Ok(ip) => format!("[{ip}]"),
        Err(_) => host,
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme.as_str())?;
        match &self.host {
            HostMatch::Exact(host) => f.write_str(host)?,
            HostMatch::Subdomains(domain) => write!(f, "*.{domain}")?,
        }
        match self.port {
            Some(port) => write!(f, ":{port}"),
            None => Ok(()),
        }
    }
}

/// Why a string is not a valid [`HostPattern`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pattern:?} is not a valid host pattern: {reason}")]
pub struct HostPatternError {
    pattern: String,
    reason: String,
}

impl FromStr for HostPattern {
    type Err = HostPatternError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_pattern(s).map_err(|reason| HostPatternError { pattern: s.to_owned(), reason })
    }
}

fn parse_pattern(s: &str) -> Result<HostPattern, String> {
    let example = "write it as scheme://host[:port], e.g. \"https://api.example.com\"";
    let (scheme, rest) = s.split_once("://").ok_or_else(|| format!("missing scheme; {example}"))?;
    let scheme =
        Scheme::parse(scheme).ok_or_else(|| format!("scheme \"{scheme}\" is not allowed; use http or https"))?;
    if let Some(i) = rest.find(['/', '?', '#']) {
        let junk = rest.get(i..).unwrap_or_default();
        return Err(format!("remove \"{junk}\"; only scheme://host[:port] is allowed, no path, query or fragment"));
    }
    if rest.contains('@') {
        return Err("user info (\"user@\") is not allowed".to_owned());
    }
    let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
        let (inner, after) = bracketed.split_once(']').ok_or("missing ']' after the IPv6 address")?;
        let ip: Ipv6Addr = inner.parse().map_err(|_| format!("\"{inner}\" is not an IPv6 address"))?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or_else(|| format!("unexpected \"{after}\" after the IPv6 address"))?),
        };
        (HostMatch::Exact(format!("[{ip}]")), port)
    } else {
        let (host, port) = match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        };
        if port.is_some_and(|p| p.contains(':')) {
            return Err("IPv6 addresses must be in brackets, e.g. \"https://[::1]\"".to_owned());
        }
        (parse_host(&host.to_ascii_lowercase())?, port)
    };
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|&n| n != 0 && p.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| format!("port \"{p}\" is not a number from 1 to 65535"))?,
        ),
    };
    Ok(HostPattern { scheme, host, port })
}

/// Parses a lowercase host without brackets or port.
fn parse_host(host: &str) -> Result<HostMatch, String> {
    if let Some(domain) = host.strip_prefix("*.") {
        if domain.contains('*') {
            return Err("a wildcard is only allowed once, as the whole first label, e.g. \"*.example.com\"".to_owned());
        }
        if numeric_last_label(domain) {
            return Err("a wildcard needs a domain name after \"*.\", not an IP address".to_owned());
        }
        check_dns_name(domain)?;
        return Ok(HostMatch::Subdomains(domain.to_owned()));
    }
    if host.contains('*') {
        return Err("a wildcard is only allowed as the whole first label, e.g. \"*.example.com\"".to_owned());
    }
    if numeric_last_label(host) {
        let ip: Ipv4Addr = host.parse().map_err(|_| format!("\"{host}\" is not a valid IPv4 address"))?;
        return Ok(HostMatch::Exact(ip.to_string()));
    }
    check_dns_name(host)?;
    Ok(HostMatch::Exact(host.to_owned()))
}

/// A name whose last label is numeric can only be an IPv4 address.
fn numeric_last_label(host: &str) -> bool {
    let last = host.rsplit('.').next().unwrap_or_default();
    !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit())
}

/// Checks a lowercase DNS name: dot-separated labels of `a-z`, `0-9` and `-`.
fn check_dns_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("missing host name".to_owned());
    }
    if name.ends_with('.') {
        return Err(format!("remove the trailing dot from \"{name}\""));
    }
    if name.len() > 253 {
        return Err("host name is longer than 253 characters".to_owned());
    }
    if let Some(c) = name.chars().find(|c| !c.is_ascii()) {
        return Err(format!("'{c}' is not allowed; write international names in punycode (xn--...)"));
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("\"{name}\" has an empty or too long (over 63 characters) label"));
        }
        if let Some(c) = label.chars().find(|&c| !(c.is_ascii_alphanumeric() || c == '-')) {
            return Err(format!("'{c}' is not allowed in a host name"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label \"{label}\" must not start or end with '-'"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(s: &str) -> HostPattern {
        match s.parse() {
            Ok(p) => p,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn default_denies_everything() {
        let p = Permissions::default();
        assert!(p.files.is_empty() && p.env.is_empty() && p.network.is_empty());
        assert!(!p.modify_request && !p.modify_response);
    }

    #[test]
    fn builder_collects_grants() {
        let p = Permissions::default()
            .file("data", "/data", Access::ReadOnly)
            .env("HOME")
            .network(pat("https://example.com"))
            .modify_request(true)
            .modify_response(true);
        assert_eq!(p.files[0].guest, "/data");
        assert_eq!(p.files[0].access.as_str(), "ro");
        assert_eq!(p.env, ["HOME"]);
        assert_eq!(p.network.len(), 1);
        assert!(p.modify_request && p.modify_response);
    }

    #[test]
    fn parses_and_round_trips() {
        for (input, shown) in [
            ("https://example.com", "https://example.com"),
            ("HTTPS://API.Example.COM", "https://api.example.com"),
            ("http://*.example.com:8080", "http://*.example.com:8080"),
            ("https://127.0.0.1:8443", "https://127.0.0.1:8443"),
            ("http://[::1]", "http://[::1]"),
            ("http://[0:0:0:0:0:0:0:1]:9000", "http://[::1]:9000"),
            ("https://[2001:DB8::1]", "https://[2001:db8::1]"),
            ("https://localhost", "https://localhost"),
            ("https://xn--bcher-kva.example", "https://xn--bcher-kva.example"),
        ] {
            let p = pat(input);
            assert_eq!(p.to_string(), shown, "{input}");
            assert_eq!(pat(&p.to_string()), p, "{input}");
        }
        let p = pat("http://*.example.com:8080");
        assert_eq!(p.scheme(), Scheme::Http);
        assert_eq!(p.host(), &HostMatch::Subdomains("example.com".into()));
        assert_eq!(p.port(), Some(8080));
    }

    #[test]
    fn rejects_bad_patterns() {
        for (input, reason) in [
            ("https://example.com/path", "no path"),
            ("https://example.com/", "no path"),
            ("https://example.com?q=1", "no path"),
            ("https://example.com#top", "no path"),
            ("ftp://x", "use http or https"),
            ("example.com", "missing scheme"),
            ("https://*.*.x.com", "wildcard"),
            ("https://ex*.com", "wildcard"),
            ("https://*", "wildcard"),
            ("https://*.", "missing host"),
            ("https://*.10.0.0.1", "not an IP"),
            ("https://*.1.2", "not an IP"),
            ("https://", "missing host"),
            ("https://user@example.com", "user info"),
            ("https://example.com:", "port \"\""),
            ("https://example.com:0", "port"),
            ("https://example.com:65536", "port"),
            ("https://example.com:+80", "port"),
            ("https://example.com:80x", "port"),
            ("https://::1", "brackets"),
            ("https://[::1", "missing ']'"),
            ("https://[::1]x", "unexpected"),
            ("https://[nope]", "not an IPv6"),
            ("https://999.1.1.1", "IPv4"),
            ("https://1.2.3", "IPv4"),
            ("https://example.com.", "trailing dot"),
            ("https://a..b", "empty"),
            ("https://-a.com", "'-'"),
            ("https://a_b.com", "'_'"),
            ("https://bücher.de", "punycode"),
            ("https://exa mple.com", "' '"),
        ] {
            match input.parse::<HostPattern>() {
                Ok(p) => panic!("{input} parsed as {p}"),
                Err(e) => assert!(e.to_string().contains(reason), "{input}: {e}"),
            }
        }
    }

    #[test]
    fn subdomain_wildcard_is_not_a_suffix_match() {
        let p = pat("https://*.example.com");
        assert!(p.matches("https", "a.example.com", None));
        assert!(p.matches("https", "a.b.example.com", None));
        assert!(p.matches("HTTPS", "A.Example.COM.", Some(443)));
        assert!(!p.matches("https", "example.com", None));
        assert!(!p.matches("https", "evil-example.com", None));
        assert!(!p.matches("https", "a.evil-example.com", None));
        assert!(!p.matches("https", ".example.com", None));
        assert!(!p.matches("https", "a..example.com", None));
        assert!(!p.matches("https", "example.com.evil.org", None));
    }

    #[test]
    fn exact_host_matches_only_itself() {
        let p = pat("https://example.com");
        assert!(p.matches("https", "example.com", None));
        assert!(p.matches("https", "EXAMPLE.com.", None));
        assert!(!p.matches("https", "evil-example.com", None));
        assert!(!p.matches("https", "a.example.com", None));
        assert!(!p.matches("https", "example.com.evil.org", None));
        assert!(!p.matches("https", "", None));
    }

    #[test]
    fn ports_and_schemes() {
        let https = pat("https://example.com");
        assert!(https.matches("https", "example.com", Some(443)));
        assert!(!https.matches("https", "example.com", Some(8443)));
        assert!(!https.matches("http", "example.com", None));
        assert!(!https.matches("http", "example.com", Some(443)));
        assert!(!https.matches("ftp", "example.com", None));
        let custom = pat("http://example.com:8080");
        assert!(custom.matches("http", "example.com", Some(8080)));
        assert!(!custom.matches("http", "example.com", None));
        assert!(!custom.matches("http", "example.com", Some(80)));
        let explicit_default = pat("http://example.com:80");
        assert!(explicit_default.matches("http", "example.com", None));
    }

    #[test]
    fn ip_literals() {
        let v6 = pat("http://[::1]:8080");
        assert!(v6.matches("http", "[::1]", Some(8080)));
        assert!(v6.matches("http", "::1", Some(8080)));
        assert!(v6.matches("http", "[0:0::1]", Some(8080)));
        assert!(!v6.matches("http", "[::2]", Some(8080)));
        assert!(!v6.matches("http", "[::1]", None));
        let v4 = pat("https://10.0.0.1");
        assert!(v4.matches("https", "10.0.0.1", None));
        assert!(!v4.matches("https", "10.0.0.10", None));
        assert!(!v4.matches("https", "110.0.0.1", None));
    }
}
