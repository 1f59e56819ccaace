//! Example plugin: edits request and response headers from its configuration.
//!
//! Config keys, under `request.` or `response.`:
//! - `add.<Header-Name> = "value"`: append a header;
//! - `set.<Header-Name> = "value"`: replace the header (or append it);
//! - `remove = "a, b"`: drop these headers.
//!
//! Removals apply first, then sets, then adds. A message is returned as
//! modified only if its headers actually changed.

use warden_pdk::prelude::*;

/// Header edits for one direction (request or response).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Headers to append, in config order.
    pub add: Vec<(String, String)>,
    /// Headers to set, in config order.
    pub set: Vec<(String, String)>,
    /// Header names to remove.
    pub remove: Vec<String>,
}

impl Rules {
    /// Reads the rules under `prefix` (`"request"` or `"response"`); unknown keys
    /// under the prefix and empty header names are `bad-config` errors.
    pub fn from_config(config: &Config, prefix: &str) -> Result<Rules, PluginError> {
        let mut rules = Rules::default();
        for (key, value) in config.iter() {
            let Some(rest) = key.strip_prefix(prefix).and_then(|k| k.strip_prefix('.')) else {
                continue;
            };
            let bad = |why: &str| PluginError::new("bad-config", format!("config key `{key}`: {why}"));
            match rest.split_once('.') {
                None if rest == "remove" => {
                    rules.remove.extend(value.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned))
                }
                Some((op @ ("add" | "set"), name)) => {
                    if name.is_empty() || name.contains(|c: char| c == ':' || c.is_whitespace()) {
                        return Err(bad("invalid header name"));
                    }
                    let list = if op == "add" { &mut rules.add } else { &mut rules.set };
                    list.push((name.to_owned(), value.to_owned()));
                }
                _ => return Err(bad("expected `add.<name>`, `set.<name>` or `remove`")),
            }
        }
        Ok(rules)
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.set.is_empty() && self.remove.is_empty()
    }

    /// Applies the rules to `headers`; returns whether they changed.
    pub fn apply(&self, headers: &mut Headers) -> bool {
        if self.is_empty() {
            return false;
        }
        let before = headers.clone();
        for name in &self.remove {
            headers.remove_header(name);
        }
        for (name, value) in &self.set {
            headers.set_header(name, value);
        }
        for (name, value) in &self.add {
            headers.add_header(name, value);
        }
        *headers != before
    }
}

/// Applies configured header edits to requests and responses.
pub struct HeaderModifier {
    request: Rules,
    response: Rules,
}

impl Plugin for HeaderModifier {
    fn init(config: &Config) -> Result<Self, PluginError> {
        if let Some((key, _)) = config.iter().find(|(k, _)| !k.starts_with("request.") && !k.starts_with("response.")) {
            return Err(PluginError::new(
                "bad-config",
                format!("config key `{key}` must start with `request.` or `response.`"),
            ));
        }
        Ok(HeaderModifier {
            request: Rules::from_config(config, "request")?,
            response: Rules::from_config(config, "response")?,
        })
    }
}

impl HttpFilter for HeaderModifier {
    fn on_request(&mut self, _ctx: &CallContext, mut req: HttpRequest) -> Result<RequestAction, PluginError> {
        let changed = self.request.apply(&mut req.headers);
        Ok(RequestAction::Continue(changed.then_some(req)))
    }

    fn on_response(
        &mut self,
        _ctx: &CallContext,
        _req: &RequestHead,
        mut resp: HttpResponse,
    ) -> Result<ResponseAction, PluginError> {
        let changed = self.response.apply(&mut resp.headers);
        Ok(ResponseAction::Continue(changed.then_some(resp)))
    }
}

warden_pdk::export!(HeaderModifier: http_filter);

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        pairs.iter().copied().collect()
    }

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        pairs.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect()
    }

    #[test]
    fn parses_rules_per_direction() {
        let cfg = config(&[
            ("request.add.X-A", "1"),
            ("request.set.Host", "h"),
            ("request.remove", "x-debug, , Cookie"),
            ("response.set.Server", "warden"),
        ]);
        let req = Rules::from_config(&cfg, "request").unwrap();
        assert_eq!(req.add, headers(&[("X-A", "1")]));
        assert_eq!(req.set, headers(&[("Host", "h")]));
        assert_eq!(req.remove, ["x-debug", "Cookie"]);
        let resp = Rules::from_config(&cfg, "response").unwrap();
        assert_eq!(resp.set, headers(&[("Server", "warden")]));
        assert!(resp.add.is_empty() && resp.remove.is_empty());
    }

    #[test]
    fn rejects_bad_keys() {
        for key in ["request.add.", "request.append.X", "request.set.a b", "request.remove.x", "request"] {
            let cfg = config(&[(key, "v")]);
            assert!(HeaderModifier::init(&cfg).is_err(), "{key}");
        }
        assert!(HeaderModifier::init(&config(&[("other", "v")])).is_err());
        assert!(HeaderModifier::init(&Config::default()).is_ok());
    }

    #[test]
    fn applies_remove_set_add_in_order() {
        let rules = Rules::from_config(
            &config(&[("request.remove", "x-debug"), ("request.set.host", "new"), ("request.add.x-a", "1")]),
            "request",
        )
        .unwrap();
        let mut h = headers(&[("Host", "old"), ("X-Debug", "1"), ("accept", "*/*")]);
        assert!(rules.apply(&mut h));
        assert_eq!(h, headers(&[("host", "new"), ("accept", "*/*"), ("x-a", "1")]));
    }

    #[test]
    fn reports_no_change() {
        let rules =
            Rules::from_config(&config(&[("request.set.host", "same"), ("request.remove", "x-gone")]), "request")
                .unwrap();
        let mut h = headers(&[("host", "same")]);
        assert!(!rules.apply(&mut h));
        assert!(!Rules::default().apply(&mut h));
    }

    #[test]
    fn on_request_returns_modified_only_when_changed() {
        let mut plugin = HeaderModifier::init(&config(&[("request.add.x-a", "1")])).unwrap();
        let ctx = CallContext { request_id: "1".into(), traceparent: None, route: None, connection: None };
        let action = plugin.on_request(&ctx, HttpRequest::new("GET", "/")).unwrap();
        let RequestAction::Continue(Some(req)) = action else { panic!("expected a modified request") };
        assert_eq!(req.header("X-A"), Some("1"));

        let mut noop = HeaderModifier::init(&Config::default()).unwrap();
        let action = noop.on_request(&ctx, HttpRequest::new("GET", "/")).unwrap();
        assert_eq!(action, RequestAction::Continue(None));
    }
}
