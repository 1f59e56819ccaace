//! Example plugin: edits request and response headers from its configuration.
//!
//! Config keys, under `request.` or `response.`:
//! - `add.<Header-Name> = "value"`: append a header;
//! - `set.<Header-Name> = "value"`: replace the header (or append it);
//! - `remove = "a, b"`: drop these headers.
//!
//! Removals apply first, then sets, then adds. The edits go to the lent
//! request or response, and only the ones that change something are made: a
//! header to remove that is absent is left alone, a header to set that
//! already has exactly that one value is not set again.

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

    /// Applies the rules to `target`, calling its changing methods only for
    /// edits that change something; returns whether anything changed.
    pub fn apply(&self, target: &impl HeaderTarget) -> Result<bool, PluginError> {
        let mut changed = false;
        for name in &self.remove {
            if !target.values(name).is_empty() {
                changed |= target.remove(name)?;
            }
        }
        for (name, value) in &self.set {
            if !matches!(target.values(name).as_slice(), [only] if only == value) {
                target.set(name, value)?;
                changed = true;
            }
        }
        for (name, value) in &self.add {
            target.append(name, value)?;
            changed = true;
        }
        Ok(changed)
    }
}

/// Headers the rules edit: the lent [`Request`] and [`Response`]. Changes
/// need `[permissions] modify-request` or `modify-response`.
pub trait HeaderTarget {
    /// Every value of header `name`, in order.
    fn values(&self, name: &str) -> Vec<String>;
    /// Sets header `name` to `value`, replacing every field of that name.
    fn set(&self, name: &str, value: &str) -> Result<(), PluginError>;
    /// Adds a field `name: value`.
    fn append(&self, name: &str, value: &str) -> Result<(), PluginError>;
    /// Removes every field named `name`; returns whether there was one.
    fn remove(&self, name: &str) -> Result<bool, PluginError>;
}

macro_rules! header_target {
    ($($ty:ident),*) => {$(
        impl HeaderTarget for $ty<'_> {
            fn values(&self, name: &str) -> Vec<String> {
                self.header_values(name)
            }
            fn set(&self, name: &str, value: &str) -> Result<(), PluginError> {
                self.set_header(name, value)
            }
            fn append(&self, name: &str, value: &str) -> Result<(), PluginError> {
                self.append_header(name, value)
            }
            fn remove(&self, name: &str) -> Result<bool, PluginError> {
                self.remove_header(name)
            }
        }
    )*};
}
header_target!(Request, Response);

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
    fn on_request(&mut self, _ctx: &CallContext, req: &Request) -> Result<RequestAction, PluginError> {
        self.request.apply(req)?;
        Ok(RequestAction::Continue)
    }

    fn on_response(
        &mut self,
        _ctx: &CallContext,
        _req: &Request,
        resp: &Response,
    ) -> Result<ResponseAction, PluginError> {
        self.response.apply(resp)?;
        Ok(ResponseAction::Continue)
    }
}

warden_pdk::export!(HeaderModifier: http_filter);

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

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

    /// Headers in memory that log every change made through them.
    #[derive(Default)]
    struct Recorder {
        headers: RefCell<Headers>,
        calls: RefCell<Vec<String>>,
    }

    impl Recorder {
        fn new(pairs: &[(&str, &str)]) -> Recorder {
            Recorder { headers: RefCell::new(headers(pairs)), calls: RefCell::default() }
        }

        fn call(&self, call: String) {
            self.calls.borrow_mut().push(call);
        }
    }

    impl HeaderTarget for Recorder {
        fn values(&self, name: &str) -> Vec<String> {
            self.headers.borrow().header_values(name).map(str::to_owned).collect()
        }
        fn set(&self, name: &str, value: &str) -> Result<(), PluginError> {
            self.call(format!("set {name}: {value}"));
            self.headers.borrow_mut().set_header(name, value);
            Ok(())
        }
        fn append(&self, name: &str, value: &str) -> Result<(), PluginError> {
            self.call(format!("append {name}: {value}"));
            self.headers.borrow_mut().add_header(name, value);
            Ok(())
        }
        fn remove(&self, name: &str) -> Result<bool, PluginError> {
            self.call(format!("remove {name}"));
            Ok(self.headers.borrow_mut().remove_header(name))
        }
    }

    #[test]
    fn applies_remove_set_add_in_order() {
        let rules = Rules::from_config(
            &config(&[("request.remove", "x-debug"), ("request.set.host", "new"), ("request.add.x-a", "1")]),
            "request",
        )
        .unwrap();
        let h = Recorder::new(&[("Host", "old"), ("X-Debug", "1"), ("accept", "*/*")]);
        assert!(rules.apply(&h).unwrap());
        assert_eq!(*h.calls.borrow(), ["remove x-debug", "set host: new", "append x-a: 1"]);
        assert_eq!(*h.headers.borrow(), headers(&[("host", "new"), ("accept", "*/*"), ("x-a", "1")]));
    }

    #[test]
    fn changes_nothing_when_nothing_changes() {
        let rules = Rules::from_config(
            &config(&[("request.set.host", "same"), ("request.remove", "x-gone, x-gone")]),
            "request",
        )
        .unwrap();
        let h = Recorder::new(&[("host", "same")]);
        assert!(!rules.apply(&h).unwrap());
        assert!(!Rules::default().apply(&h).unwrap());
        assert!(h.calls.borrow().is_empty(), "{:?}", h.calls.borrow());
        assert_eq!(*h.headers.borrow(), headers(&[("host", "same")]));
        // Repeated or differing values are set to the one configured.
        for pairs in [&[("host", "same"), ("Host", "same")][..], &[("host", "other")]] {
            let h = Recorder::new(pairs);
            assert!(rules.apply(&h).unwrap());
            assert_eq!(*h.calls.borrow(), ["set host: same"]);
        }
    }

    #[test]
    fn on_request_edits_the_lent_request() {
        let mut plugin = HeaderModifier::init(&config(&[
            ("request.add.x-a", "1"),
            ("request.remove", "x-debug"),
            ("response.set.server", "w"),
        ]))
        .unwrap();
        let ctx = CallContext::local("1");
        let req = Request::local("GET", "/").with_header("X-Debug", "1").with_header("accept", "*/*");
        assert_eq!(plugin.on_request(&ctx, &req).unwrap(), RequestAction::Continue);
        assert_eq!(req.header("X-A").as_deref(), Some("1"));
        assert!(!req.has_header("x-debug"));
        assert_eq!(req.header("server"), None, "response rules stay on responses");

        let mut noop = HeaderModifier::init(&Config::default()).unwrap();
        let req = Request::local("GET", "/").with_header("accept", "*/*");
        assert_eq!(noop.on_request(&ctx, &req).unwrap(), RequestAction::Continue);
        assert_eq!(req.headers(), headers(&[("accept", "*/*")]));
    }

    #[test]
    fn on_response_edits_the_lent_response() {
        let mut plugin =
            HeaderModifier::init(&config(&[("response.set.Server", "warden"), ("response.remove", "x-powered-by")]))
                .unwrap();
        let (ctx, req) = (CallContext::local("1"), Request::local("GET", "/"));
        let resp = Response::local(200, "hi").with_header("Server", "nginx").with_header("X-Powered-By", "php");
        assert_eq!(plugin.on_response(&ctx, &req, &resp).unwrap(), ResponseAction::Continue);
        assert_eq!(resp.headers(), headers(&[("server", "warden")]));
        assert_eq!((resp.status(), resp.body().unwrap()), (200, b"hi".to_vec()));
        assert!(req.headers().is_empty(), "the request is only read");
    }
}
