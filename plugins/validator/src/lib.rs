//! Example plugin: checks JSON request bodies and refuses the bad ones.
//!
//! Config keys (all optional):
//! - `required = "user_id, action"`: top-level fields that must be present and
//!   not `null` (at most 64);
//! - `methods = "POST, PUT, PATCH"` (the default): the methods whose requests are
//!   checked; any other method passes untouched;
//! - `max-depth = "32"` (the default; 1 to 100): how deeply objects and arrays
//!   may nest, the body itself being depth 1;
//! - `max-body = "65536"`: the largest body in bytes (no limit by default).
//!
//! On a checked method the body must be a JSON object sent with a JSON
//! content type (`application/json` or `application/<something>+json`):
//!
//! | status | when | reason |
//! | --- | --- | --- |
//! | 415 | a body with another or no content type | `content-type must be application/json` |
//! | 413 | a body over `max-body` | `request body larger than N bytes` |
//! | 400 | an empty body, or one that is not a JSON object | `request body must be a JSON object` |
//! | 400 | malformed JSON | `invalid JSON body at line L column C` |
//! | 400 | nesting deeper than `max-depth` | `JSON body nested deeper than N levels` |
//! | 422 | required fields missing or `null` | `missing required field: user_id` |
//!
//! Accepted requests continue unchanged. The body is checked in one pass by
//! [`warden_pdk::json::fields`], without building a tree; only the top-level
//! names are compared. The plugin reads the body only for a checked method,
//! and not when the body's length, known up front, already decides a 415 or
//! 413; other bodies are streamed by the host.

use std::fmt;

use warden_pdk::json::{self, JsonErrorKind};
use warden_pdk::prelude::*;

pub use warden_pdk::json::is_json;

/// Default for `max-depth`.
pub const DEFAULT_MAX_DEPTH: u32 = 32;
/// Largest `max-depth`.
pub const MAX_DEPTH_LIMIT: u32 = 100;
/// Most required fields (they are tracked in a `u64` bit set).
pub const MAX_REQUIRED: usize = 64;

/// Validated settings, built once from the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Top-level fields that must be present and not null, in config order.
    pub required: Vec<String>,
    /// Checked methods, uppercase.
    pub methods: Vec<String>,
    /// Deepest allowed nesting; the body object is depth 1.
    pub max_depth: u32,
    /// Largest body in bytes, if limited.
    pub max_body: Option<usize>,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            required: Vec::new(),
            methods: ["POST", "PUT", "PATCH"].map(String::from).to_vec(),
            max_depth: DEFAULT_MAX_DEPTH,
            max_body: None,
        }
    }
}

fn bad_config(key: &str, why: impl fmt::Display) -> PluginError {
    PluginError::new("bad-config", format!("config key `{key}`: {why}"))
}

fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn number(key: &str, value: &str, min: u64, max: u64) -> Result<u64, PluginError> {
    match value.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(bad_config(key, format!("`{value}` is not a whole number from {min} to {max}"))),
    }
}

impl Rules {
    /// Reads the config; unknown keys and bad values are `bad-config` errors.
    pub fn from_config(config: &Config) -> Result<Rules, PluginError> {
        let mut rules = Rules::default();
        for (key, value) in config.iter() {
            match key {
                "required" => {
                    rules.required = list(value).map(str::to_owned).collect();
                    if rules.required.len() > MAX_REQUIRED {
                        return Err(bad_config(key, format!("at most {MAX_REQUIRED} fields")));
                    }
                }
                "methods" => {
                    rules.methods = list(value).map(str::to_ascii_uppercase).collect();
                    if let Some(m) = rules.methods.iter().find(|m| !m.bytes().all(is_token_byte)) {
                        return Err(bad_config(key, format!("`{m}` is not an HTTP method")));
                    }
                }
                "max-depth" => rules.max_depth = number(key, value, 1, MAX_DEPTH_LIMIT.into())? as u32,
                "max-body" => rules.max_body = Some(number(key, value, 1, u32::MAX.into())? as usize),
                _ => return Err(bad_config(key, "unknown key; allowed keys: required, methods, max-depth, max-body")),
            }
        }
        Ok(rules)
    }

    /// Whether requests with `method` are checked.
    pub fn checks(&self, method: &str) -> bool {
        self.methods.iter().any(|m| m.eq_ignore_ascii_case(method))
    }

    /// Checks one request; `Some((status, reason))` if it must be refused.
    pub fn check(&self, method: &str, content_type: Option<&str>, body: &[u8]) -> Option<(u16, String)> {
        if !self.checks(method) {
            return None;
        }
        self.check_body(content_type, body)
    }

    /// The checks that need only the body's length, for a request of a
    /// checked method: `Some((status, reason))` if it must be refused. The
    /// hook runs them before reading the body, when the length is known.
    pub fn check_length(&self, content_type: Option<&str>, length: u64) -> Option<(u16, String)> {
        if length > 0 && !content_type.is_some_and(is_json) {
            return Some((415, "content-type must be application/json".into()));
        }
        if let Some(max) = self.max_body
            && length > max as u64
        {
            return Some((413, format!("request body larger than {max} bytes")));
        }
        None
    }

    /// Checks the body of a request of a checked method; `Some((status,
    /// reason))` if it must be refused.
    pub fn check_body(&self, content_type: Option<&str>, body: &[u8]) -> Option<(u16, String)> {
        if let Some(refusal) = self.check_length(content_type, body.len() as u64) {
            return Some(refusal);
        }
        // Anything but `{` first is not an object (or not JSON at all).
        if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Some((400, "request body must be a JSON object".into()));
        }
        let fields = match json::fields(body, self.max_depth) {
            Ok(fields) => fields,
            Err(e) if e.kind() == JsonErrorKind::TooDeep => {
                return Some((400, format!("JSON body nested deeper than {} levels", self.max_depth)));
            }
            // Past the check above, "not an object" can only be a form feed
            // before the `{`: a syntax error too.
            Err(e) => return Some((400, format!("invalid JSON body at line {} column {}", e.line(), e.column()))),
        };
        // Bit `i` for `required[i]`: present and not null.
        let mut found = 0u64;
        for field in &fields {
            if let Some(i) = self.required.iter().position(|r| *r == field.name) {
                // Like a parsed map, the last occurrence of a repeated key wins.
                if field.value == "null" {
                    found &= !(1 << i);
                } else {
                    found |= 1 << i;
                }
            }
        }
        let missing: Vec<&str> =
            self.required.iter().enumerate().filter(|(i, _)| found & (1 << i) == 0).map(|(_, f)| f.as_str()).collect();
        match missing.as_slice() {
            [] => None,
            [one] => Some((422, format!("missing required field: {one}"))),
            many => Some((422, format!("missing required fields: {}", many.join(", ")))),
        }
    }
}

/// Whether `b` may appear in an HTTP method (an RFC 9110 token).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Refuses requests whose JSON body is malformed or lacks required fields.
pub struct Validator {
    rules: Rules,
}

impl Plugin for Validator {
    fn init(config: &Config) -> Result<Self, PluginError> {
        Ok(Validator { rules: Rules::from_config(config)? })
    }
}

impl HttpFilter for Validator {
    fn on_request(&mut self, _ctx: &CallContext, req: &Request) -> Result<RequestAction, PluginError> {
        // Only a checked method's body is read: the others stream through.
        if !self.rules.checks(&req.method()) {
            return Ok(RequestAction::Continue);
        }
        let content_type = req.header("content-type");
        let content_type = content_type.as_deref();
        // A length known up front can settle 415 and 413 without reading.
        let refusal = match req.body_length().and_then(|len| self.rules.check_length(content_type, len)) {
            Some(refusal) => Some(refusal),
            None => self.rules.check_body(content_type, &req.body()?),
        };
        Ok(match refusal {
            Some((status, reason)) => RequestAction::reject(status, reason),
            None => RequestAction::Continue,
        })
    }
}

warden_pdk::export!(Validator: http_filter);

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: Option<&str> = Some("application/json");

    fn rules(pairs: &[(&str, &str)]) -> Rules {
        Rules::from_config(&pairs.iter().copied().collect()).unwrap()
    }

    fn demo() -> Rules {
        rules(&[("required", "user_id, action")])
    }

    fn status(rules: &Rules, method: &str, content_type: Option<&str>, body: &str) -> Option<u16> {
        rules.check(method, content_type, body.as_bytes()).map(|(status, _)| status)
    }

    #[test]
    fn reads_config() {
        let r = rules(&[("required", " user_id, ,action "), ("methods", "post, Put, m-search"), ("max-depth", "4")]);
        assert_eq!(r.required, ["user_id", "action"]);
        assert_eq!(r.methods, ["POST", "PUT", "M-SEARCH"]);
        assert_eq!((r.max_depth, r.max_body), (4, None));
        assert_eq!(rules(&[("max-body", "10")]).max_body, Some(10));
        assert_eq!(rules(&[]), Rules::default());
        assert_eq!(Rules::default().methods, ["POST", "PUT", "PATCH"]);
    }

    #[test]
    fn refuses_bad_config() {
        let many = (0..65).map(|i| format!("f{i}")).collect::<Vec<_>>().join(",");
        for (key, value) in [
            ("requried", "a"),
            ("max-depth", "0"),
            ("max-depth", "101"),
            ("max-depth", "deep"),
            ("max-body", "-1"),
            ("methods", "GET, PO ST"),
            ("methods", "GET, P/T"),
            ("required", many.as_str()),
        ] {
            let err = Validator::init(&[(key, value)].into_iter().collect()).err().expect(key);
            assert_eq!(err.code, "bad-config", "{key}");
            assert!(err.message.contains(key), "{}", err.message);
        }
    }

    #[test]
    fn accepts_valid_objects() {
        let r = demo();
        assert_eq!(status(&r, "POST", JSON, r#"{"user_id":42,"action":"buy","extra":{"a":[1,2]}}"#), None);
        assert_eq!(
            status(&r, "patch", Some("Application/JSON; charset=utf-8"), r#" {"action":0,"user_id":""} "#),
            None
        );
        assert_eq!(status(&r, "PUT", Some("application/vnd.api+json"), r#"{"user_id":false,"action":[]}"#), None);
        // Any number the grammar allows, even beyond f64; paired surrogate escapes.
        assert_eq!(status(&r, "POST", JSON, r#"{"user_id":1e400,"action":"\ud83d\ude00"}"#), None);
    }

    #[test]
    fn other_methods_pass() {
        let r = demo();
        assert_eq!(status(&r, "GET", None, ""), None);
        assert_eq!(status(&r, "DELETE", Some("text/plain"), "not json"), None);
        let only_put = rules(&[("methods", "PUT")]);
        assert_eq!(status(&only_put, "POST", None, "x"), None);
        assert_eq!(status(&only_put, "PUT", None, "x"), Some(415));
    }

    #[test]
    fn content_type_must_be_json() {
        let r = demo();
        let body = r#"{"user_id":1,"action":"a"}"#;
        for ct in [None, Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("application/jsonp")] {
            assert_eq!(status(&r, "POST", ct, body), Some(415), "{ct:?}");
        }
        assert!(!is_json("application/+json") && !is_json("json") && !is_json("text/json"));
        assert!(is_json("application/problem+json;charset=utf-8"));
    }

    #[test]
    fn malformed_json_is_400_without_echo() {
        let r = demo();
        for body in
            [r#"{"user_id": secret}"#, r#"{"user_id":1"#, r#"{"a":1} {"b":2}"#, "{\"a\":\"\\q\"}", r#"{"a":"\ud800"}"#]
        {
            let (status, reason) = r.check("POST", JSON, body.as_bytes()).unwrap();
            assert_eq!(status, 400, "{body}");
            assert!(reason.starts_with("invalid JSON body at line 1 column "), "{reason}");
            assert!(!reason.contains("secret"), "{reason}");
        }
    }

    #[test]
    fn body_must_be_an_object() {
        let r = rules(&[]);
        for body in ["", "  ", "[1]", "42", "\"s\"", "null"] {
            assert_eq!(
                r.check("POST", JSON, body.as_bytes()),
                Some((400, "request body must be a JSON object".into())),
                "{body:?}"
            );
        }
        assert_eq!(status(&r, "POST", JSON, "{}"), None);
    }

    #[test]
    fn missing_or_null_fields_are_named() {
        let r = demo();
        let check = |body: &str| r.check("POST", JSON, body.as_bytes());
        assert_eq!(check(r#"{"action":"a"}"#), Some((422, "missing required field: user_id".into())));
        assert_eq!(check(r#"{"user_id":null,"action":"a"}"#), Some((422, "missing required field: user_id".into())));
        assert_eq!(check(r#"{"x":{"user_id":1}}"#), Some((422, "missing required fields: user_id, action".into())));
        // Escaped keys compare by their value; the last of a repeated key wins.
        assert_eq!(check(r#"{"user\u005fid":1,"action":"a"}"#), None);
        assert_eq!(check(r#"{"user_id":1,"action":"a","user_id":null}"#).unwrap().0, 422);
    }

    #[test]
    fn nesting_is_limited() {
        let r = rules(&[("max-depth", "3")]);
        assert_eq!(status(&r, "POST", JSON, r#"{"a":{"b":[1]}}"#), None);
        let (code, reason) = r.check("POST", JSON, br#"{"a":{"b":[[1]]}}"#).unwrap();
        assert_eq!((code, reason.as_str()), (400, "JSON body nested deeper than 3 levels"));
        assert_eq!(status(&r, "POST", JSON, r#"{"a":[{"b":{}}]}"#), Some(400));
        // Deeper than serde_json's own limit: still our answer, not a crash.
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(5000), "]".repeat(5000));
        for r in [Rules::default(), rules(&[("max-depth", "100")])] {
            let (code, reason) = r.check("POST", JSON, deep.as_bytes()).unwrap();
            assert_eq!((code, reason), (400, format!("JSON body nested deeper than {} levels", r.max_depth)));
        }
    }

    #[test]
    fn body_size_is_limited() {
        let r = rules(&[("max-body", "16")]);
        assert_eq!(status(&r, "POST", JSON, r#"{"a":"123456789"}"#), Some(413));
        assert_eq!(status(&r, "POST", JSON, r#"{"a":"12345678"}"#), None);
    }

    #[test]
    fn length_alone_settles_415_and_413() {
        let r = rules(&[("max-body", "16")]);
        assert_eq!(r.check_length(Some("text/plain"), 1), Some((415, "content-type must be application/json".into())));
        assert_eq!(r.check_length(JSON, 17), Some((413, "request body larger than 16 bytes".into())));
        // Not decided by the length: the body is read.
        assert_eq!(r.check_length(None, 0), None);
        assert_eq!(r.check_length(JSON, 16), None);
    }

    fn on_request(validator: &mut Validator, req: &Request) -> Option<(u16, String)> {
        match validator.on_request(&CallContext::local("1"), req).unwrap() {
            RequestAction::Continue => None,
            RequestAction::Reject(r) => Some((r.status, r.reason)),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn on_request_rejects_or_continues_unchanged() {
        let mut v = Validator { rules: rules(&[("required", "user_id, action"), ("max-body", "64")]) };
        let post = |body: &str| {
            Request::local("POST", "/orders").with_header("Content-Type", "application/json").with_body(body)
        };
        let ok = post(r#"{"user_id":1,"action":"buy"}"#);
        assert_eq!(on_request(&mut v, &ok), None);
        assert_eq!(ok.headers(), [("Content-Type".to_owned(), "application/json".to_owned())], "unchanged");
        assert_eq!(ok.body().unwrap(), br#"{"user_id":1,"action":"buy"}"#);
        assert_eq!(
            on_request(&mut v, &post(r#"{"action":"buy"}"#)),
            Some((422, "missing required field: user_id".into()))
        );
        assert_eq!(on_request(&mut v, &post("")), Some((400, "request body must be a JSON object".into())));
        assert_eq!(on_request(&mut v, &post(&"x".repeat(65))).unwrap().0, 413);
        let form = Request::local("PUT", "/orders").with_body("user_id=1");
        assert_eq!(on_request(&mut v, &form), Some((415, "content-type must be application/json".into())));
        // Methods that are not checked pass whatever they carry.
        assert_eq!(on_request(&mut v, &Request::local("GET", "/orders").with_body("not json")), None);
    }
}
