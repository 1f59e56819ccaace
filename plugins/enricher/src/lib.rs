//! Example plugin: adds fields to JSON object request bodies, from its config
//! and from the key-value store.
//!
//! Config keys (all optional):
//! - `add.<field> = "text"`: sets top-level `field` to the JSON string `"text"`;
//! - `add-json.<field> = "<json>"`: sets `field` to a JSON value, e.g.
//!   `add-json.version = "2"` or `add-json.tags = '["a"]'`;
//! - `lookup = "user:{user_id}"`: a key template; each `{field}` is replaced by
//!   that top-level field of the body (a string, unquoted, or a number). If
//!   the key holds JSON, the value is set under `lookup-into`. A body without
//!   the field, or whose key is not a valid key, is not looked up; a missing
//!   key leaves the body alone;
//! - `lookup-into = "profile"` (the default): the field the looked-up value goes
//!   to. It replaces whatever the client sent there;
//! - `seed.<key> = "<json>"`: written to the store in `init` if `key` is not
//!   there yet, so a demo works on an empty store.
//!
//! The lookup runs on the body as sent; `add` and `add-json` fields are set
//! after it (and win over `lookup-into`). Fields keep their place; new ones go
//! at the end; names and nested values from the body are copied byte for byte
//! ([`warden_pdk::json`] reads and writes the body; no serde per request).
//!
//! Errors: a key-value error in a lookup is returned as is (its code, e.g.
//! `unavailable`), as is a stored value that is not JSON (`bad-value`); the
//! host's failure policy decides what happens to the request. While seeding,
//! `unavailable` and `backend-error` are only logged, so the plugin still
//! loads, and any other error (`capability-denied`, `quota-exceeded`, ...)
//! fails `init`. Bad config is `bad-config`.
//!
//! Requests without a JSON content type (their body is not read) or whose
//! body is not a JSON object, and bodies that already hold every value,
//! continue unchanged: the body is set on the lent request only when it
//! changes. The plugin never refuses a request; when it rewrites the body the
//! host keeps `content-length` in step.

mod store;
mod template;

use serde_json::value::RawValue;
use warden_pdk::json::{self, ObjectWriter};
use warden_pdk::prelude::*;

pub use store::{HostStore, Store};
pub use template::{Template, is_valid_key};
pub use warden_pdk::json::is_json;
/// Key-value error codes that do not fail `init` while seeding.
pub const TRANSIENT: &[&str] = &["unavailable", "backend-error"];

/// Where looked-up values come from and go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// The key template, e.g. `user:{user_id}`.
    pub template: Template,
    /// The body field the value is set under.
    pub into: String,
}

/// Adds fields to JSON object request bodies.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Enricher {
    /// `(field, JSON text)` pairs from `add.` and `add-json.`, in config order.
    pub set: Vec<(String, String)>,
    /// The key-value lookup, if configured.
    pub lookup: Option<Lookup>,
    /// `(key, JSON text)` pairs to seed the store with.
    pub seeds: Vec<(String, String)>,
}

/// Parses `text` as one JSON value; the value's text without surrounding
/// whitespace. For config only: bodies and stored values go through
/// `warden_pdk::json`, which needs no serde.
fn json_text(text: &str) -> Result<&str, serde_json::Error> {
    serde_json::from_str::<&RawValue>(text).map(RawValue::get)
}

impl Enricher {
    /// Reads the config; unknown keys and bad values are `bad-config` errors.
    pub fn from_config(config: &Config) -> Result<Enricher, PluginError> {
        let mut enricher = Enricher::default();
        let mut into = None;
        for (key, value) in config.iter() {
            let bad = |why: &str| PluginError::new("bad-config", format!("config key `{key}`: {why}"));
            let field = key.strip_prefix("add.").map(|f| (f, false));
            if let Some((field, raw)) = field.or_else(|| key.strip_prefix("add-json.").map(|f| (f, true))) {
                if field.is_empty() {
                    return Err(bad("name a field, e.g. `add.source`"));
                }
                if enricher.set.iter().any(|(f, _)| f == field) {
                    return Err(bad("the field is set twice"));
                }
                let json = match raw {
                    true => json_text(value).map_err(|e| bad(&format!("not a JSON value ({e})")))?.to_owned(),
                    false => serde_json::to_string(value).expect("a string serializes"),
                };
                enricher.set.push((field.to_owned(), json));
            } else if let Some(seed) = key.strip_prefix("seed.") {
                if !is_valid_key(seed) {
                    return Err(bad("the key must be 1 to 512 bytes without NUL"));
                }
                let json = json_text(value).map_err(|e| bad(&format!("not a JSON value ({e})")))?;
                enricher.seeds.push((seed.to_owned(), json.to_owned()));
            } else if key == "lookup" {
                let template = Template::parse(value).map_err(|e| bad(&e))?;
                enricher.lookup = Some(Lookup { template, into: String::new() });
            } else if key == "lookup-into" {
                if value.trim().is_empty() {
                    return Err(bad("name a field, e.g. \"profile\""));
                }
                into = Some(value.trim().to_owned());
            } else {
                return Err(bad(
                    "unknown key; allowed keys: `add.<field>`, `add-json.<field>`, `lookup`, `lookup-into`, `seed.<key>`",
                ));
            }
        }
        match (&mut enricher.lookup, into) {
            (Some(lookup), into) => lookup.into = into.unwrap_or_else(|| "profile".to_owned()),
            (None, Some(_)) => {
                return Err(PluginError::new("bad-config", "config key `lookup-into` needs `lookup`"));
            }
            (None, None) => {}
        }
        Ok(enricher)
    }

    /// Whether no request is ever changed.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.lookup.is_none()
    }

    /// Writes each seed whose key is not in `store` yet. Returns the seeds
    /// skipped on a [`TRANSIENT`] error; any other error is returned.
    pub fn seed(&self, store: &mut impl Store) -> Result<Vec<(String, PluginError)>, PluginError> {
        let mut skipped = Vec::new();
        for (key, value) in &self.seeds {
            let result = match store.get(key) {
                Ok(Some(_)) => Ok(()),
                Ok(None) => store.set(key, value.as_bytes()),
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {}
                Err(e) if TRANSIENT.contains(&e.code.as_str()) => skipped.push((key.clone(), e)),
                Err(e) => {
                    return Err(PluginError::new(
                        e.code,
                        format!(
                            "seeding key `{key}`: {}; check [permissions] key-value and [limits] key-value-quota",
                            e.message
                        ),
                    ));
                }
            }
        }
        Ok(skipped)
    }

    /// The enriched body, or `None` if `body` is not a JSON object or already
    /// holds every value. Looks up at most one key in `store`.
    pub fn enrich(&self, body: &[u8], store: &mut impl Store) -> Result<Option<Vec<u8>>, PluginError> {
        if self.is_empty() {
            return Ok(None);
        }
        // No depth limit: like the host, the plugin only copies nested values.
        let Ok(fields) = json::fields(body, u32::MAX) else {
            return Ok(None);
        };
        let stored = match self.lookup.as_ref().and_then(|l| l.template.expand(&fields)) {
            Some(key) => store.get(&key)?.map(|value| (key, value)),
            None => None,
        };
        let mut sets: Vec<(&str, &str)> = Vec::with_capacity(self.set.len() + 1);
        if let (Some(lookup), Some((key, value))) = (&self.lookup, &stored) {
            let value = json::value(value, u32::MAX).map_err(|_| {
                PluginError::new("bad-value", format!("key `{key}` does not hold JSON; store a JSON value there"))
            })?;
            sets.push((&lookup.into, value));
        }
        sets.extend(self.set.iter().map(|(field, json)| (field.as_str(), json.as_str())));

        // (name, name as written if it comes from the body, value)
        let mut out: Vec<(&str, Option<&str>, &str)> =
            fields.iter().map(|f| (f.name.as_ref(), Some(f.raw_name), f.value)).collect();
        let mut changed = false;
        for (name, value) in sets {
            match out.iter().position(|&(n, _, _)| n == name) {
                Some(first) => {
                    if out[first].2 != value {
                        out[first].2 = value;
                        changed = true;
                    }
                    // One field per name: later repeats go.
                    let (before, mut i) = (out.len(), 0);
                    out.retain(|&(n, _, _)| {
                        i += 1;
                        i - 1 <= first || n != name
                    });
                    changed |= out.len() != before;
                }
                None => {
                    out.push((name, None, value));
                    changed = true;
                }
            }
        }
        if !changed {
            return Ok(None);
        }
        let capacity = out.iter().map(|(n, raw, v)| raw.map_or(n.len() + 2, str::len) + v.len() + 2).sum::<usize>() + 2;
        let mut writer = ObjectWriter::with_capacity(capacity);
        for (name, raw, value) in out {
            match raw {
                // Names from the body are copied as sent, escapes and all.
                Some(raw) => writer.raw_field(raw, value),
                None => writer.field(name, value),
            }
        }
        Ok(Some(writer.finish()))
    }
}

impl Plugin for Enricher {
    fn init(config: &Config) -> Result<Self, PluginError> {
        let enricher = Enricher::from_config(config)?;
        for (key, err) in enricher.seed(&mut HostStore)? {
            warn!("not seeding key `{key}` ({}): {}", err.code, err.message);
        }
        Ok(enricher)
    }
}

impl HttpFilter for Enricher {
    fn on_request(&mut self, _ctx: &CallContext, req: &Request) -> Result<RequestAction, PluginError> {
        self.enrich_request(req, &mut HostStore)?;
        Ok(RequestAction::Continue)
    }
}

impl Enricher {
    /// Enriches the body of `req` in place; returns whether it changed. The
    /// body is read only with a JSON content type (and something to do), and
    /// set only when it changes.
    pub fn enrich_request(&self, req: &Request, store: &mut impl Store) -> Result<bool, PluginError> {
        if self.is_empty() || !req.header("content-type").is_some_and(|ct| is_json(&ct)) {
            return Ok(false);
        }
        let Some(body) = self.enrich(&req.body()?, store)? else {
            return Ok(false);
        };
        req.set_body(body)?;
        Ok(true)
    }
}

warden_pdk::export!(Enricher: http_filter);

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{Value, json};

    use super::*;

    /// An in-memory store that counts calls and can fail every call.
    #[derive(Default)]
    struct Memory {
        map: BTreeMap<String, Vec<u8>>,
        fail: Option<&'static str>,
        calls: usize,
    }

    impl Memory {
        fn with(pairs: &[(&str, &str)]) -> Memory {
            Memory { map: pairs.iter().map(|&(k, v)| (k.to_owned(), v.into())).collect(), ..Memory::default() }
        }

        fn failing(code: &'static str) -> Memory {
            Memory { fail: Some(code), ..Memory::default() }
        }

        fn check(&mut self) -> Result<(), PluginError> {
            self.calls += 1;
            self.fail.map_or(Ok(()), |code| Err(PluginError::new(code, "store says no")))
        }
    }

    impl Store for Memory {
        fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, PluginError> {
            self.check()?;
            Ok(self.map.get(key).cloned())
        }

        fn set(&mut self, key: &str, value: &[u8]) -> Result<(), PluginError> {
            self.check()?;
            self.map.insert(key.to_owned(), value.to_owned());
            Ok(())
        }
    }

    fn enricher(pairs: &[(&str, &str)]) -> Enricher {
        Enricher::from_config(&pairs.iter().copied().collect()).unwrap()
    }

    fn demo() -> Enricher {
        enricher(&[("add.source", "warden-gateway"), ("lookup", "user:{user_id}")])
    }

    fn enrich(e: &Enricher, body: &str, store: &mut Memory) -> Option<Value> {
        e.enrich(body.as_bytes(), store).unwrap().map(|b| serde_json::from_slice(&b).unwrap())
    }

    #[test]
    fn reads_config() {
        let e = enricher(&[
            ("add.source", "warden \"gw\""),
            ("add-json.tags", r#" ["a", 1] "#),
            ("lookup", "user:{user_id}"),
            ("seed.user:42", r#" {"tier":"gold"} "#),
        ]);
        assert_eq!(
            e.set,
            [("source".to_owned(), r#""warden \"gw\"""#.to_owned()), ("tags".to_owned(), r#"["a", 1]"#.to_owned())]
        );
        let lookup = e.lookup.unwrap();
        assert_eq!((lookup.template, lookup.into.as_str()), (Template::parse("user:{user_id}").unwrap(), "profile"));
        assert_eq!(e.seeds, [("user:42".to_owned(), r#"{"tier":"gold"}"#.to_owned())]);
        let into = enricher(&[("lookup", "k"), ("lookup-into", " account ")]);
        assert_eq!(into.lookup.unwrap().into, "account");
        assert!(enricher(&[]).is_empty() && enricher(&[("seed.k", "1")]).is_empty());
    }

    #[test]
    fn refuses_bad_config() {
        let long = format!("seed.{}", "k".repeat(513));
        let cases: &[&[(&str, &str)]] = &[
            &[("add.", "x")],
            &[("add-json.n", "{not json")],
            &[("add-json.n", "1 2")],
            &[("add.n", "x"), ("add-json.n", "1")],
            &[("lookup", "user:{")],
            &[("lookup", "")],
            &[("lookup-into", "profile")],
            &[("lookup", "k"), ("lookup-into", " ")],
            &[("seed.k", "not json")],
            &[("seed.", "1")],
            &[(long.as_str(), "1")],
            &[("enrich", "x")],
        ];
        for case in cases {
            let err = Enricher::from_config(&case.iter().copied().collect()).expect_err("bad config");
            assert_eq!(err.code, "bad-config", "{case:?}");
            assert!(err.message.contains("config key"), "{}", err.message);
        }
    }

    #[test]
    fn adds_config_fields_in_place_or_at_the_end() {
        let e = enricher(&[("add.source", "gw"), ("add-json.version", "2")]);
        let out = e.enrich(br#"{"version":1,"a":{"b" : 1.50}}"#, &mut Memory::default()).unwrap().unwrap();
        assert_eq!(std::str::from_utf8(&out).unwrap(), r#"{"version":2,"a":{"b" : 1.50},"source":"gw"}"#);
    }

    #[test]
    fn copies_names_as_sent_and_escapes_new_ones() {
        let e = enricher(&[("add.say \"hi\"", "x")]);
        let out = e.enrich(br#"{"a\u0021" : 1}"#, &mut Memory::default()).unwrap().unwrap();
        assert_eq!(std::str::from_utf8(&out).unwrap(), r#"{"a\u0021":1,"say \"hi\"":"x"}"#);
    }

    #[test]
    fn unchanged_bodies_give_none() {
        let e = enricher(&[("add.source", "gw"), ("add-json.n", "[1, 2]")]);
        let mut store = Memory::default();
        for body in [r#"{"source":"gw","n":[1, 2]}"#, "[1]", "not json", "", r#"{"a":1"#] {
            assert_eq!(enrich(&e, body, &mut store), None, "{body}");
        }
        // Repeated fields collapse to one, which is a change.
        assert_eq!(
            enrich(&e, r#"{"source":"gw","n":[1, 2],"n":3}"#, &mut store),
            Some(json!({"source":"gw","n":[1,2]}))
        );
        assert_eq!(enricher(&[]).enrich(b"{}", &mut store).unwrap(), None);
        assert_eq!(store.calls, 0, "no lookup configured, no store calls");
    }

    #[test]
    fn merges_the_looked_up_value() {
        let mut store = Memory::with(&[("user:42", r#" {"name":"Ann","tier":"gold"} "#)]);
        let out = enrich(&demo(), r#"{"user_id":42,"profile":"spoofed"}"#, &mut store).unwrap();
        assert_eq!(out, json!({"user_id":42,"profile":{"name":"Ann","tier":"gold"},"source":"warden-gateway"}));
        assert_eq!(store.calls, 1);
    }

    #[test]
    fn missing_key_or_field_leaves_the_body_to_config_fields() {
        let mut store = Memory::with(&[("user:42", "{}")]);
        let out = enrich(&demo(), r#"{"user_id":7}"#, &mut store).unwrap();
        assert_eq!(out, json!({"user_id":7,"source":"warden-gateway"}));
        assert_eq!(store.calls, 1);
        // No field to fill the template: no lookup at all.
        let out = enrich(&demo(), r#"{"user_id":null}"#, &mut store).unwrap();
        assert_eq!(out, json!({"user_id":null,"source":"warden-gateway"}));
        assert_eq!(store.calls, 1);
        // Lookup only, key missing: unchanged.
        assert_eq!(enrich(&enricher(&[("lookup", "user:{user_id}")]), r#"{"user_id":7}"#, &mut store), None);
    }

    #[test]
    fn config_fields_win_over_lookup_into() {
        let e = enricher(&[("lookup", "k"), ("lookup-into", "who"), ("add.who", "config")]);
        let out = enrich(&e, "{}", &mut Memory::with(&[("k", r#""store""#)])).unwrap();
        assert_eq!(out, json!({"who":"config"}));
    }

    #[test]
    fn store_errors_and_bad_values_are_errors() {
        let err = demo().enrich(br#"{"user_id":42}"#, &mut Memory::failing("unavailable")).unwrap_err();
        assert_eq!(err.code, "unavailable");
        let err = demo().enrich(br#"{"user_id":42}"#, &mut Memory::with(&[("user:42", "not json")])).unwrap_err();
        assert_eq!(err.code, "bad-value");
        assert!(err.message.contains("user:42"), "{}", err.message);
        // Not a JSON object: no lookup, no error.
        assert_eq!(demo().enrich(b"user_id=42", &mut Memory::failing("unavailable")).unwrap(), None);
    }

    #[test]
    fn seeds_only_missing_keys() {
        let e = enricher(&[("seed.user:42", r#"{"tier":"gold"}"#), ("seed.user:7", r#"{"tier":"new"}"#)]);
        let mut store = Memory::with(&[("user:7", "kept")]);
        assert!(e.seed(&mut store).unwrap().is_empty());
        assert_eq!(store.map["user:42"], br#"{"tier":"gold"}"#);
        assert_eq!(store.map["user:7"], b"kept");
    }

    #[test]
    fn seeding_tolerates_only_transient_errors() {
        let e = enricher(&[("seed.a", "1"), ("seed.b", "2")]);
        for code in TRANSIENT {
            let skipped = e.seed(&mut Memory::failing(code)).unwrap();
            assert_eq!(
                skipped.iter().map(|(k, e)| (k.as_str(), e.code.as_str())).collect::<Vec<_>>(),
                [("a", *code), ("b", *code)]
            );
        }
        let err = e.seed(&mut Memory::failing("capability-denied")).unwrap_err();
        assert_eq!(err.code, "capability-denied");
        assert!(
            err.message.starts_with("seeding key `a`: store says no; check [permissions] key-value"),
            "{}",
            err.message
        );
    }

    #[test]
    fn enrich_request_sets_the_body_only_when_it_changes() {
        let e = demo();
        let mut store = Memory::with(&[("user:42", r#"{"tier":"gold"}"#)]);
        let json = |body: &str, content_length: &str| {
            Request::local("POST", "/orders")
                .with_header("content-type", "application/json")
                .with_header("content-length", content_length)
                .with_body(body)
        };
        let req = json(r#"{"user_id":42}"#, "14");
        assert!(e.enrich_request(&req, &mut store).unwrap());
        let body = req.body().unwrap();
        assert_eq!(body, br#"{"user_id":42,"profile":{"tier":"gold"},"source":"warden-gateway"}"#);
        assert_eq!(req.header("content-length"), Some(body.len().to_string()), "content-length in step");
        assert_eq!(store.calls, 1);

        // Already enriched, not a JSON object, or not JSON content: untouched (a
        // stale content-length would follow any body set).
        let done = json(r#"{"source":"warden-gateway"}"#, "0");
        let text = Request::local("POST", "/orders").with_header("content-length", "0").with_body(r#"{"user_id":42}"#);
        for req in [done, json("[1]", "0"), text] {
            let before = req.body().unwrap();
            assert!(!e.enrich_request(&req, &mut store).unwrap());
            assert_eq!((req.body().unwrap(), req.header("content-length")), (before, Some("0".to_owned())));
        }
        assert_eq!(store.calls, 1, "no lookup without the template's field or a JSON content type");

        // Store errors come back from the hook.
        let err = e.enrich_request(&json(r#"{"user_id":42}"#, "14"), &mut Memory::failing("unavailable")).unwrap_err();
        assert_eq!(err.code, "unavailable");
    }

    /// The plugin as the host runs it (`init`, then `on_request` through the
    /// host's store), natively against the PDK's mock host.
    #[test]
    fn init_seeds_the_host_store_and_the_hook_reads_it() {
        use warden_pdk::testing::MockHost;

        let host = MockHost::new()
            .config("add.source", "warden-gateway")
            .config("lookup", "user:{user_id}")
            .config("seed.user:42", r#"{"tier":"gold"}"#)
            .config("seed.user:7", r#"{"tier":"new"}"#)
            .kv_entry("user:7", r#"{"tier":"kept"}"#);
        let mut plugin = Enricher::init(&Config::from_host()).unwrap();
        assert_eq!(host.kv_get("user:42").as_deref(), Some(&br#"{"tier":"gold"}"#[..]));
        assert_eq!(host.kv_get("user:7").as_deref(), Some(&br#"{"tier":"kept"}"#[..]), "seeds never overwrite");

        for (user, tier) in [("42", "gold"), ("7", "kept")] {
            let req = Request::new("POST", "/orders")
                .with_header("content-type", "application/json")
                .with_body(format!(r#"{{"user_id":{user}}}"#));
            assert_eq!(plugin.on_request(&CallContext::new("req-1"), &req).unwrap(), RequestAction::Continue);
            let body: Value = serde_json::from_slice(&req.body().unwrap()).unwrap();
            assert_eq!(
                body,
                json!({"user_id": user.parse::<u32>().unwrap(), "profile": {"tier": tier}, "source": "warden-gateway"})
            );
        }
    }

    #[test]
    fn init_on_a_host_without_the_store() {
        use warden_pdk::testing::MockHost;

        // Not granted (`key-value = true` missing): seeding fails init.
        let _host = MockHost::new().config("seed.user:42", "{}");
        let err = Enricher::init(&Config::from_host()).err().unwrap();
        assert_eq!(err.code, "capability-denied");
        assert!(err.message.starts_with("seeding key `user:42`"), "{}", err.message);

        // Store down: seeding is skipped with a warning, and lookups fail the hook.
        let host = MockHost::new()
            .config("seed.user:42", "{}")
            .config("lookup", "user:{user_id}")
            .kv_error(PluginError::new("unavailable", "the store is down"));
        let mut plugin = Enricher::init(&Config::from_host()).unwrap();
        let logs = host.logs();
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].level, warden_pdk::log::Level::Warn);
        assert_eq!(logs[0].message, "not seeding key `user:42` (unavailable): the store is down");
        let req = Request::new("POST", "/orders")
            .with_header("content-type", "application/json")
            .with_body(r#"{"user_id":42}"#);
        assert_eq!(plugin.on_request(&CallContext::new("req-1"), &req).unwrap_err().code, "unavailable");
    }
}
