//! The request path rule: routing and forwarding see one and the same
//! path, so no upstream can read it as the path of another route.
//!
//! A request path is first normalized as RFC 3986 (section 6.2.2) allows
//! without changing its meaning: percent-encoded unreserved characters
//! (`A-Z a-z 0-9 - . _ ~`) are decoded, and the hex digits of every other
//! percent-encoding are made uppercase. The normalized path is then
//! refused (400) if it holds:
//!
//! - a `.` or `..` segment (`/a/../b`, `/a/%2e%2e/b`): an upstream that
//!   resolves it would serve another path than the one routed;
//! - an empty segment (`/a//b`): many servers merge the slashes;
//! - an encoded slash or backslash (`%2F`, `%5C`) or a raw backslash:
//!   servers that decode them see other segments;
//! - a `;` (path parameters): Java servers (Tomcat, Jetty, Spring) drop
//!   `;...` from each segment, so `/admin;x` and `/public/..;/admin` would
//!   be `/admin` to them but not to the route matcher (`%3B` is allowed);
//! - an encoded NUL (`%00`), or a broken percent-encoding (`%zz`, `%4`).
//!
//! Everything after (route and rule matching, plugins, the upstream
//! request) uses the normalized path. A request target a plugin returns
//! must pass the same rule.

use std::borrow::Cow;

/// Why a request path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathError {
    /// Not an absolute path (`*`, or no leading `/`).
    NotAbsolute,
    /// A `.` or `..` segment.
    DotSegment,
    /// `//` inside the path.
    EmptySegment,
    /// `%2F`, `%5C` or `\`.
    EncodedSeparator,
    /// A raw `;` (path parameters).
    Parameter,
    /// `%00`.
    EncodedNul,
    /// `%` not followed by two hex digits.
    BadEncoding,
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "the request path must start with '/'",
            PathError::DotSegment => "the request path has a '.' or '..' segment",
            PathError::EmptySegment => "the request path has an empty segment ('//')",
            PathError::EncodedSeparator => "the request path has an encoded or backslash separator (%2F, %5C or '\\')",
            PathError::Parameter => "the request path has a ';' (path parameters; write it as %3B if it is data)",
            PathError::EncodedNul => "the request path has an encoded NUL (%00)",
            PathError::BadEncoding => "the request path has a malformed percent-encoding",
        })
    }
}

/// `path` in normal form, or why it is refused (see the module docs).
/// Borrows when the path is already normal.
pub(crate) fn normalize(path: &str) -> Result<Cow<'_, str>, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let normal: Cow<'_, str> =
        if path.contains('%') { Cow::Owned(decode_unreserved(path)?) } else { Cow::Borrowed(path) };
    check_segments(&normal)?;
    Ok(normal)
}

/// Decodes percent-encoded unreserved characters and uppercases the hex
/// digits of the others.
fn decode_unreserved(path: &str) -> Result<String, PathError> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            // `path` is a str and '%' is ASCII, so runs between escapes
            // are whole characters.
            let end = bytes[i..].iter().position(|&b| b == b'%').map_or(bytes.len(), |n| i + n);
            out.push_str(&path[i..end]);
            i = end;
            continue;
        }
        let (Some(hi), Some(lo)) = (bytes.get(i + 1).and_then(hex), bytes.get(i + 2).and_then(hex)) else {
            return Err(PathError::BadEncoding);
        };
        let byte = hi << 4 | lo;
        match byte {
            0 => return Err(PathError::EncodedNul),
            b'/' | b'\\' => return Err(PathError::EncodedSeparator),
            b if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') => out.push(char::from(b)),
            b => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 15)]));
            }
        }
        i += 3;
    }
    Ok(out)
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex(b: &u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The segment rules on an already decoded path.
fn check_segments(path: &str) -> Result<(), PathError> {
    if path.contains('\\') {
        return Err(PathError::EncodedSeparator);
    }
    if path.contains(';') {
        return Err(PathError::Parameter);
    }
    let mut segments = path[1..].split('/').peekable();
    while let Some(segment) = segments.next() {
        match segment {
            "." | ".." => return Err(PathError::DotSegment),
            // A trailing slash leaves one empty last segment: allowed.
            "" if segments.peek().is_some() => return Err(PathError::EmptySegment),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_paths_pass_unchanged() {
        for p in ["/", "/api", "/api/", "/api/users/42", "/a.b/c..d/.e", "/%20x", "/caf%C3%A9", "/a:b@c"] {
            let n = normalize(p).unwrap();
            assert_eq!(n, p);
            assert!(matches!(n, Cow::Borrowed(_)) || p.contains('%'), "{p}");
        }
    }

    #[test]
    fn unreserved_escapes_are_decoded_and_others_uppercased() {
        assert_eq!(normalize("/%61dmin").unwrap(), "/admin");
        assert_eq!(normalize("/a%2Db%7e").unwrap(), "/a-b~");
        assert_eq!(normalize("/caf%c3%a9").unwrap(), "/caf%C3%A9");
        assert_eq!(normalize("/x%3a%3F").unwrap(), "/x%3A%3F");
        assert_eq!(normalize("/a%3bb").unwrap(), "/a%3Bb");
    }

    #[test]
    fn confusing_paths_are_refused() {
        for (p, e) in [
            ("/slow/../admin", PathError::DotSegment),
            ("/slow/%2e%2e/admin", PathError::DotSegment),
            ("/slow/.%2E/admin", PathError::DotSegment),
            ("/slow/./admin", PathError::DotSegment),
            ("/slow/..", PathError::DotSegment),
            ("/..", PathError::DotSegment),
            ("/slow/..%2fadmin", PathError::EncodedSeparator),
            ("/slow%2F..%2Fadmin", PathError::EncodedSeparator),
            ("/slow/..%5cadmin", PathError::EncodedSeparator),
            ("/slow\\..\\admin", PathError::EncodedSeparator),
            ("//admin", PathError::EmptySegment),
            ("/slow//admin", PathError::EmptySegment),
            ("/admin;x", PathError::Parameter),
            ("/public/..;/admin", PathError::Parameter),
            ("/a%00b", PathError::EncodedNul),
            ("/a%zz", PathError::BadEncoding),
            ("/a%4", PathError::BadEncoding),
            ("/a%", PathError::BadEncoding),
            ("*", PathError::NotAbsolute),
            ("", PathError::NotAbsolute),
        ] {
            assert_eq!(normalize(p), Err(e), "{p}");
        }
    }

    proptest::proptest! {
        /// Whatever a client sends: no panic, and what passes is in the one
        /// normal form (normalizing again changes nothing) with none of the
        /// refused shapes left.
        #[test]
        fn fuzz_normalize(path in "/?([a-zA-Z0-9./~;\\\\-]|%[0-9a-fA-F]{2}|%2[eEfF]|%5[cC]|%){0,24}") {
            if let Ok(normal) = normalize(&path) {
                let again = normalize(&normal);
                proptest::prop_assert_eq!(again.as_deref(), Ok(&*normal));
                proptest::prop_assert!(normal.starts_with('/'));
                proptest::prop_assert!(!normal[1..].split('/').any(|s| s == "." || s == ".."));
                proptest::prop_assert!(!normal.contains("//") && !normal.contains('\\') && !normal.contains(';'));
                let upper = normal.to_ascii_uppercase();
                for refused in ["%2F", "%5C", "%00", "%2E"] {
                    proptest::prop_assert!(!upper.contains(refused), "{} in {}", refused, normal);
                }
            }
        }

        #[test]
        fn fuzz_normalize_any_text(path in warden_fixtures::fuzz::text()) {
            let _ = normalize(&path);
        }
    }
}
