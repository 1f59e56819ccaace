//! Example plugin: renames and removes top-level fields of JSON request bodies.
//!
//! Config keys (all optional):
//! - `rename.<from> = "<to>"`: the field `from` is renamed `to`, keeping its
//!   place and value. If the body also has a field `to`, the renamed one
//!   replaces it. Renames apply to the names as sent, so `a -> b` with
//!   `b -> c` moves both;
//! - `remove = "password, debug"`: these fields are dropped.
//!
//! A field may not be both renamed and removed, and two fields may not be
//! renamed to the same name (`bad-config`).
//!
//! Only bodies that are a JSON object with a JSON content type are touched
//! (the body is read only then); anything else, and any body without a listed
//! field, continues unchanged: the body is set on the lent request only when it
//! changes. Names that are not renamed and nested values are copied byte for
//! byte ([`warden_pdk::json`] reads and writes the body). The plugin never
//! refuses a request; when it rewrites the body the host keeps
//! `content-length` in step.

use warden_pdk::json::{self, ObjectWriter};
use warden_pdk::prelude::*;

pub use warden_pdk::json::is_json;

/// Validated settings, built once from the config.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rules {
    /// `(from, to)` pairs, in config order.
    pub rename: Vec<(String, String)>,
    /// Fields to drop.
    pub remove: Vec<String>,
}

impl Rules {
    /// Reads the config; unknown keys and conflicting rules are `bad-config` errors.
    pub fn from_config(config: &Config) -> Result<Rules, PluginError> {
        let mut rules = Rules::default();
        for (key, value) in config.iter() {
            let bad = |why: &str| PluginError::new("bad-config", format!("config key `{key}`: {why}"));
            if key == "remove" {
                rules.remove.extend(value.split(',').map(str::trim).filter(|f| !f.is_empty()).map(str::to_owned));
            } else if let Some(from) = key.strip_prefix("rename.") {
                let to = value.trim();
                if from.is_empty() || to.is_empty() {
                    return Err(bad("write `rename.<from> = \"<to>\"` with both names non-empty"));
                }
                if from == to {
                    return Err(bad("renames the field to itself"));
                }
                if rules.rename.iter().any(|(_, t)| t == to) {
                    return Err(bad(&format!("another field is already renamed to `{to}`")));
                }
                if rules.rename.iter().any(|(f, _)| f == from) {
                    return Err(bad("the field is renamed twice"));
                }
                rules.rename.push((from.to_owned(), to.to_owned()));
            } else {
                return Err(bad("unknown key; allowed keys: `rename.<field>` and `remove`"));
            }
        }
        if let Some(field) = rules.remove.iter().find(|f| rules.rename.iter().any(|(from, _)| from == *f)) {
            return Err(PluginError::new(
                "bad-config",
                format!("field `{field}` is both renamed and removed; keep one of the two"),
            ));
        }
        Ok(rules)
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.rename.is_empty() && self.remove.is_empty()
    }

    fn renamed(&self, name: &str) -> Option<&str> {
        self.rename.iter().find(|(from, _)| from == name).map(|(_, to)| to.as_str())
    }

    fn removed(&self, name: &str) -> bool {
        self.remove.iter().any(|f| f == name)
    }

    /// The rewritten body, or `None` if `body` is not a JSON object or has
    /// none of the listed fields.
    pub fn apply(&self, body: &[u8]) -> Option<Vec<u8>> {
        if self.is_empty() {
            return None;
        }
        // No depth limit: nested values are only copied.
        let fields = json::fields(body, u32::MAX).ok()?;
        if !fields.iter().any(|f| self.removed(&f.name) || self.renamed(&f.name).is_some()) {
            return None;
        }
        // (name, name as written if not renamed, value)
        let out: Vec<(&str, Option<&str>, &str)> = fields
            .iter()
            .filter(|f| !self.removed(&f.name))
            .map(|f| match self.renamed(&f.name) {
                Some(to) => (to, None, f.value),
                None => (f.name.as_ref(), Some(f.raw_name), f.value),
            })
            .collect();
        // A renamed field replaces a field that already had its new name.
        let replaced = |name: &str| out.iter().any(|&(n, raw, _)| raw.is_none() && n == name);
        let mut writer = ObjectWriter::with_capacity(body.len());
        for &(name, raw, value) in &out {
            match raw {
                // New names are escaped; names from the body are copied as sent.
                None => writer.field(name, value),
                Some(raw) if !replaced(name) => writer.raw_field(raw, value),
                Some(_) => {}
            }
        }
        Some(writer.finish())
    }
}

/// Renames and removes top-level fields of JSON request bodies.
pub struct Transformer {
    rules: Rules,
}

impl Plugin for Transformer {
    fn init(config: &Config) -> Result<Self, PluginError> {
        Ok(Transformer { rules: Rules::from_config(config)? })
    }
}

impl HttpFilter for Transformer {
    fn on_request(&mut self, _ctx: &CallContext, req: &Request) -> Result<RequestAction, PluginError> {
        // Without rules or a JSON content type the body is not even read.
        if self.rules.is_empty() || !req.header("content-type").is_some_and(|ct| is_json(&ct)) {
            return Ok(RequestAction::Continue);
        }
        if let Some(body) = self.rules.apply(&req.body()?) {
            req.set_body(body)?;
        }
        Ok(RequestAction::Continue)
    }
}

warden_pdk::export!(Transformer: http_filter);

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(pairs: &[(&str, &str)]) -> Rules {
        Rules::from_config(&pairs.iter().copied().collect()).unwrap()
    }

    fn demo() -> Rules {
        rules(&[("rename.user_id", "userId"), ("remove", "password, debug")])
    }

    fn json(bytes: &[u8]) -> serde_json::Value {
        serde_json::from_slice(bytes).unwrap()
    }

    /// The rewritten body as text, for checks of field order.
    fn apply(rules: &Rules, body: &str) -> Option<String> {
        rules.apply(body.as_bytes()).map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn reads_config() {
        let r = demo();
        assert_eq!(r.rename, [("user_id".to_owned(), "userId".to_owned())]);
        assert_eq!(r.remove, ["password", "debug"]);
        assert!(rules(&[]).is_empty() && !r.is_empty());
    }

    #[test]
    fn refuses_bad_config() {
        let cases: &[&[(&str, &str)]] = &[
            &[("rename.", "x")],
            &[("rename.a", " ")],
            &[("rename.a", "a")],
            &[("rename.a", "x"), ("rename.b", "x")],
            &[("rename.a", "x"), ("remove", "b, a")],
            &[("drop", "a")],
        ];
        for case in cases {
            let err = Transformer::init(&case.iter().copied().collect()).err().expect("bad config");
            assert_eq!(err.code, "bad-config", "{case:?}");
        }
    }

    #[test]
    fn renames_in_place_and_removes() {
        let body = r#"{"a":1,"user_id":42,"password":"pw","nested":{"user_id":1,"password":2},"debug":true}"#;
        assert_eq!(apply(&demo(), body).unwrap(), r#"{"a":1,"userId":42,"nested":{"user_id":1,"password":2}}"#);
    }

    #[test]
    fn renamed_field_replaces_an_existing_one() {
        let out = apply(&demo(), r#"{"userId":"old","user_id":"new"}"#).unwrap();
        assert_eq!(out, r#"{"userId":"new"}"#);
        // ...but only when the source is there.
        assert_eq!(apply(&demo(), r#"{"userId":"old"}"#), None);
    }

    #[test]
    fn renames_apply_to_the_names_as_sent() {
        let swap = rules(&[("rename.a", "b"), ("rename.b", "a")]);
        assert_eq!(apply(&swap, r#"{"a":1,"b":2}"#).unwrap(), r#"{"b":1,"a":2}"#);
        let chain = rules(&[("rename.a", "b"), ("rename.b", "c")]);
        assert_eq!(json(chain.apply(br#"{"a":1,"b":2}"#).unwrap().as_slice()), serde_json::json!({"b":1,"c":2}));
    }

    #[test]
    fn unchanged_bodies_give_none() {
        let r = demo();
        for body in [r#"{"a":1,"nested":{"password":1}}"#, "{}", "[1]", "not json", "", r#"{"user_id":1"#] {
            assert_eq!(apply(&r, body), None, "{body}");
        }
        assert_eq!(apply(&rules(&[]), r#"{"password":1}"#), None);
    }

    #[test]
    fn keeps_values_exact_and_escapes_names() {
        let r = rules(&[("rename.n", "quote\"d")]);
        let out = apply(&r, r#"{"n":1.50e3,"big":123456789012345678901234567890}"#).unwrap();
        assert_eq!(out, r#"{"quote\"d":1.50e3,"big":123456789012345678901234567890}"#);
        // Escaped names in the body match by value.
        assert_eq!(apply(&demo(), r#"{"pass\u0077ord":1}"#).unwrap(), "{}");
    }

    #[test]
    fn copies_kept_names_as_sent() {
        assert_eq!(apply(&demo(), r#"{"a\u0021" : 1,"password":2}"#).unwrap(), r#"{"a\u0021":1}"#);
    }

    #[test]
    fn on_request_needs_a_json_content_type_and_fixes_content_length() {
        let mut plugin = Transformer { rules: demo() };
        let ctx = CallContext::local("1");
        let body = r#"{"user_id":1,"password":"pw"}"#;
        let req = || Request::local("POST", "/").with_body(body).with_header("content-length", "29");
        let plain = req();
        assert_eq!(plugin.on_request(&ctx, &plain).unwrap(), RequestAction::Continue);
        assert_eq!((plain.body().unwrap(), plain.header("content-length")), (body.into(), Some("29".into())));
        let json = req().with_header("Content-Type", "application/json");
        assert_eq!(plugin.on_request(&ctx, &json).unwrap(), RequestAction::Continue);
        assert_eq!(json.body().unwrap(), br#"{"userId":1}"#);
        assert_eq!(json.header("content-length").as_deref(), Some("12"));
    }

    #[test]
    fn on_request_leaves_bodies_without_listed_fields_alone() {
        let ctx = CallContext::local("1");
        for (rules, body) in [(demo(), r#"{"a":1}"#), (demo(), "[1]"), (rules(&[]), r#"{"password":1}"#)] {
            // A stale content-length would follow any body set, even an equal one.
            let req = Request::local("POST", "/")
                .with_header("content-type", "application/json")
                .with_header("content-length", "0")
                .with_body(body);
            assert_eq!(Transformer { rules }.on_request(&ctx, &req).unwrap(), RequestAction::Continue);
            assert_eq!(req.body().unwrap(), body.as_bytes(), "{body}");
            assert_eq!(req.header("content-length").as_deref(), Some("0"), "no body set for {body}");
        }
    }
}
