//! The mock host, import by import, and a plugin's hook run end to end.

use super::*;
use crate::prelude::*;
use crate::{call_plugin, fetch, kv, publish};

#[test]
fn logs_are_recorded_in_order_and_cut_like_the_host() {
    let host = MockHost::new();
    info!("one {}", 1);
    crate::error!("two");
    crate::log::log(Level::Trace, &"é".repeat(10_000));
    let logs = host.logs();
    assert_eq!(
        logs[..2],
        [
            LogRecord { level: Level::Info, message: "one 1".into() },
            LogRecord { level: Level::Error, message: "two".into() }
        ]
    );
    assert_eq!(logs[2].level, Level::Trace);
    assert!(logs[2].message.ends_with("...[truncated]") && logs[2].message.len() <= (16 << 10) + 14);
}

#[test]
fn records_are_bounded() {
    let host = MockHost::new();
    for i in 0..MAX_RECORDS + 5 {
        debug!("{i}");
    }
    let logs = host.logs();
    assert_eq!((logs.len(), logs.last().unwrap().message.as_str()), (MAX_RECORDS, "9999"));
}

#[test]
fn config_comes_from_the_mock_host() {
    assert!(Config::from_host().is_empty(), "a thread with no MockHost has no config");
    let _host = MockHost::new().config("level", "debug").config("prefix", "x");
    let config = Config::from_host();
    assert_eq!(config.iter().collect::<Vec<_>>(), [("level", "debug"), ("prefix", "x")]);
    // A new mock host starts afresh.
    let _host = MockHost::new();
    assert!(Config::from_host().is_empty());
}

#[test]
fn key_value_is_denied_until_granted() {
    let host = MockHost::new();
    let err = kv::get("a").unwrap_err();
    assert_eq!(err.code, "capability-denied");
    assert!(err.message.contains("MockHost::allow_kv"), "{}", err.message);
    assert_eq!(kv::set("a", b"1").unwrap_err().code, "capability-denied");
    assert!(host.kv_entries().is_empty());

    let host = MockHost::new().allow_kv();
    kv::set("a", b"1").unwrap();
    assert_eq!(host.kv_get("a").as_deref(), Some(&b"1"[..]));
}

#[test]
fn key_value_follows_the_host_rules() {
    let host = MockHost::new().kv_entry("user:2", b"b").kv_entry("user:1", b"a").kv_entry("visits", b"1");
    assert_eq!(kv::get("user:1").unwrap().as_deref(), Some(&b"a"[..]));
    assert_eq!(kv::get("nope").unwrap(), None);
    assert_eq!(kv::list_keys("user:", 100).unwrap(), ["user:1", "user:2"]);
    assert_eq!(kv::list_keys("", 2).unwrap(), ["user:1", "user:2"]);
    assert_eq!(kv::list_keys("user:", 0).unwrap(), Vec::<String>::new());
    assert!(kv::delete("user:1").unwrap());
    assert!(!kv::delete("user:1").unwrap());
    assert_eq!(host.kv_entries(), [("user:2".to_owned(), b"b".to_vec()), ("visits".to_owned(), b"1".to_vec())]);

    for bad in [String::new(), "k".repeat(513), "a\0b".to_owned()] {
        assert_eq!(kv::get(&bad).unwrap_err().code, "invalid-key", "{bad:?}");
        assert_eq!(kv::set(&bad, b"").unwrap_err().code, "invalid-key", "{bad:?}");
    }
    assert!(kv::get(&"k".repeat(512)).is_ok());
    assert_eq!(kv::list_keys("a\0", 1).unwrap_err().code, "invalid-key");
}

#[test]
fn list_keys_returns_at_most_1000() {
    let _host = MockHost::new().kv_quota(u64::MAX);
    for i in 0..1005 {
        kv::set(&format!("k{i:04}"), b"").unwrap();
    }
    assert_eq!(kv::list_keys("k", u32::MAX).unwrap().len(), 1000);
}

#[test]
fn key_value_quota_counts_keys_and_values() {
    let host = MockHost::new().kv_quota(10);
    kv::set("key", b"1234567").unwrap(); // 3 + 7 = 10
    let err = kv::set("x", b"").unwrap_err();
    assert_eq!(err.code, "quota-exceeded");
    assert!(err.message.contains("key-value-quota"), "{}", err.message);
    // Overwriting with a value no larger always passes.
    kv::set("key", b"12").unwrap();
    kv::set("x", b"1234").unwrap(); // 3 + 2 + 1 + 4 = 10
    assert_eq!(kv::set("key", b"123").unwrap_err().code, "quota-exceeded");
    assert_eq!(host.kv_get("key").as_deref(), Some(&b"12"[..]), "a refused write changes nothing");
}

#[test]
fn key_value_errors_can_be_injected() {
    let _host = MockHost::new().kv_entry("a", b"1").kv_error(PluginError::new("unavailable", "down"));
    for err in [kv::get("a").unwrap_err(), kv::set("a", b"2").unwrap_err(), kv::list_keys("", 1).unwrap_err()] {
        assert_eq!((err.code.as_str(), err.message.as_str()), ("unavailable", "down"));
    }
}

#[test]
#[should_panic(expected = "MockHost::kv_entry: invalid key")]
fn seeding_a_bad_key_is_a_test_mistake() {
    let _host = MockHost::new().kv_entry("", b"1");
}

#[test]
fn fetch_answers_from_stubs_in_order() {
    let host = MockHost::new()
        .stub_fetch("https://api.example.com/users/42", HttpResponse::new(200, "ann"))
        .stub_fetch("https://api.example.com/users/*", HttpResponse::new(404, ""))
        .refuse_fetch("http://down.example.com*", PluginError::new("connect-failed", "connection refused"))
        .stub_fetch_with("https://echo.example.com/*", |req| {
            info!("echoing {}", req.url);
            Ok(HttpResponse::new(201, req.body.clone()).with_header("x-method", req.method.clone()))
        });

    assert_eq!(fetch(&OutgoingRequest::get("https://api.example.com/users/42")).unwrap().body, b"ann");
    assert_eq!(fetch(&OutgoingRequest::get("https://api.example.com/users/7")).unwrap().status, 404);
    let err = fetch(&OutgoingRequest::get("http://down.example.com:8080/x")).unwrap_err();
    assert_eq!(err.code, "connect-failed");
    let req = OutgoingRequest::new("POST", "https://echo.example.com/a").with_header("x-a", "1").with_body("hi");
    let echo = fetch(&req).unwrap();
    assert_eq!((echo.status, echo.header("x-method"), echo.body_str()), (201, Some("POST"), Some("hi")));

    let err = fetch(&OutgoingRequest::get("https://other.example.com/")).unwrap_err();
    assert_eq!(err.code, "capability-denied");
    assert!(err.message.contains("GET https://other.example.com/") && err.message.contains("stub_fetch"));

    let urls: Vec<_> = host.requests().into_iter().map(|r| r.url).collect();
    assert_eq!(urls.len(), 5, "refused requests are recorded too: {urls:?}");
    assert_eq!(host.requests()[3], req);
    assert_eq!(host.logs()[0].message, "echoing https://echo.example.com/a");
}

#[test]
fn fetch_checks_the_request_like_the_host() {
    let _host = MockHost::new().stub_fetch("*", HttpResponse::new(200, ""));
    for url in ["/relative", "ftp://example.com/", "https:///path", "example.com"] {
        assert_eq!(fetch(&OutgoingRequest::get(url)).unwrap_err().code, "invalid-request", "{url}");
    }
    assert_eq!(fetch(&OutgoingRequest::new("", "https://example.com/")).unwrap_err().code, "invalid-request");
    assert_eq!(fetch(&OutgoingRequest::new("G T", "https://example.com/")).unwrap_err().code, "invalid-request");
    assert!(fetch(&OutgoingRequest::get("HTTPS://Example.com")).is_ok());
}

#[test]
fn url_patterns() {
    let cases = [
        ("https://a/x", "https://a/x", true),
        ("https://a/x", "https://a/xy", false),
        ("https://a/*", "https://a/", true),
        ("https://a/*", "https://b/", false),
        ("https://*.example.com/*", "https://api.example.com/v1", true),
        ("https://*.example.com/*", "https://example.com/v1", false),
        ("*/users/*/orders", "https://a/users/42/orders", true),
        ("*/users/*/orders", "https://a/users/42/orders/1", false),
        ("*a*a", "xaa", true),
        ("*", "", true),
    ];
    for (pattern, url, expected) in cases {
        assert_eq!(UrlPattern::new(pattern).matches(url), expected, "{pattern} ~ {url}");
    }
}

#[test]
fn publish_needs_an_allowed_topic() {
    let host = MockHost::new();
    let err = publish("orders.created", b"{}").unwrap_err();
    assert_eq!(err.code, "capability-denied");
    assert!(err.message.contains("allow_publish"), "{}", err.message);

    let host2 = MockHost::new().allow_publish("orders.*").allow_publish("audit");
    publish("orders.created", b"1").unwrap();
    publish("orders.eu.created", b"2").unwrap();
    publish("audit", b"3").unwrap();
    assert_eq!(publish("orders", b"").unwrap_err().code, "capability-denied");
    assert_eq!(publish("Orders.Created", b"").unwrap_err().code, "invalid-topic");
    assert_eq!(publish("orders..x", b"").unwrap_err().code, "invalid-topic");
    let published = host.published();
    assert_eq!(published, host2.published(), "handles share the thread's mock host");
    assert_eq!(published[0], Published { topic: "orders.created".into(), payload: b"1".to_vec() });
    assert_eq!(
        published.iter().map(|p| p.topic.as_str()).collect::<Vec<_>>(),
        ["orders.created", "orders.eu.created", "audit"]
    );

    let _host = MockHost::new().allow_publish("*");
    publish("anything.at.all", b"").unwrap();
}

#[test]
#[should_panic(expected = "is not a valid topic pattern")]
fn a_bad_publish_pattern_is_a_test_mistake() {
    let _host = MockHost::new().allow_publish("Orders.*");
}

#[test]
fn plugin_calls_answer_from_stubs() {
    let host = MockHost::new()
        .stub_call("geoip", "lookup", Ok(b"NZ".to_vec()))
        .stub_call("geoip", "fail", Err(PluginError::new("timeout", "too slow")))
        .stub_call_with("echo", |action, payload| Ok([action.as_bytes(), b":", payload].concat()));

    assert_eq!(call_plugin("geoip", "lookup", b"203.0.113.7").unwrap(), b"NZ");
    assert_eq!(call_plugin("geoip", "fail", b"").unwrap_err().code, "timeout");
    assert_eq!(call_plugin("geoip", "other", b"").unwrap_err().code, "plugin-error");
    assert_eq!(call_plugin("echo", "say", b"hi").unwrap(), b"say:hi");
    let err = call_plugin("billing", "charge", b"").unwrap_err();
    assert_eq!(err.code, "capability-denied");
    assert!(err.message.contains("[dependencies]") && err.message.contains("stub_call"), "{}", err.message);

    let calls = host.plugin_calls();
    assert_eq!(calls.len(), 5);
    assert_eq!(
        calls[0],
        PluginCall { plugin: "geoip".into(), action: "lookup".into(), payload: b"203.0.113.7".to_vec() }
    );
}

#[test]
fn each_thread_has_its_own_mock_host() {
    let _host = MockHost::new().config("who", "main").allow_kv();
    kv::set("k", b"main").unwrap();
    std::thread::spawn(|| {
        assert!(Config::from_host().is_empty());
        assert_eq!(kv::get("k").unwrap_err().code, "capability-denied");
    })
    .join()
    .unwrap();
    assert_eq!(Config::from_host().get("who").as_deref(), Some("main"));
}

/// A small plugin using every import, as a plugin author would write it.
struct Tagger {
    service: String,
}

impl Plugin for Tagger {
    fn init(config: &Config) -> Result<Self, PluginError> {
        let service = config.get("service").ok_or_else(|| PluginError::new("bad-config", "set `service`"))?;
        Ok(Tagger { service })
    }
}

impl HttpFilter for Tagger {
    fn on_request(&mut self, ctx: &CallContext, req: &Request) -> Result<RequestAction, PluginError> {
        let Some(user) = req.header("x-user") else {
            return Ok(RequestAction::reject(401, "who are you?"));
        };
        let tag = match kv::get(&format!("tag:{user}"))? {
            Some(tag) => String::from_utf8_lossy(&tag).into_owned(),
            None => {
                let answer = fetch(&OutgoingRequest::get(format!("{}/tags/{user}", self.service)))?;
                let tag = answer.body_str().unwrap_or("none").to_owned();
                kv::set(&format!("tag:{user}"), tag.as_bytes())?;
                tag
            }
        };
        req.set_header("x-tag", &tag)?;
        publish("users.seen", user.as_bytes())?;
        let score = call_plugin("scorer", "score", tag.as_bytes())?;
        info!("{} {user} tagged {tag}, score {}", ctx.request_id(), String::from_utf8_lossy(&score));
        Ok(RequestAction::Continue)
    }
}

#[test]
fn a_plugin_hook_runs_natively_end_to_end() {
    let host = MockHost::new()
        .config("service", "https://tags.example.com")
        .allow_kv()
        .allow_publish("users.*")
        .stub_fetch("https://tags.example.com/tags/*", HttpResponse::new(200, "gold"))
        .stub_call("scorer", "score", Ok(b"9".to_vec()));
    let mut plugin = Tagger::init(&Config::from_host()).unwrap();

    for id in ["r1", "r2"] {
        let req = Request::new("GET", "/orders").with_header("x-user", "ann");
        assert_eq!(plugin.on_request(&CallContext::new(id), &req).unwrap(), RequestAction::Continue);
        assert_eq!(req.header("x-tag").as_deref(), Some("gold"));
    }
    assert_eq!(host.requests().len(), 1, "the second request is served from the store");
    assert_eq!(host.kv_get("tag:ann").as_deref(), Some(&b"gold"[..]));
    assert_eq!(host.published().len(), 2);
    assert_eq!(host.plugin_calls().len(), 2);
    let messages: Vec<_> = host.logs().into_iter().map(|l| l.message).collect();
    assert_eq!(messages, ["r1 ann tagged gold, score 9", "r2 ann tagged gold, score 9"]);

    let anonymous = Request::new("GET", "/orders");
    assert_eq!(
        plugin.on_request(&CallContext::new("r3"), &anonymous).unwrap(),
        RequestAction::reject(401, "who are you?")
    );

    // The same plugin on a host that did not grant the store: the hook's
    // error comes back as the host's would.
    let _host = MockHost::new().config("service", "https://tags.example.com");
    let req = Request::new("GET", "/orders").with_header("x-user", "bob");
    assert_eq!(plugin.on_request(&CallContext::new("r4"), &req).unwrap_err().code, "capability-denied");
}

#[test]
fn the_export_glue_builds_a_plugin_from_the_mock_config() {
    // What `export!` does when the host calls a hook before `init`.
    std::thread_local! {
        static STATE: std::cell::RefCell<Option<Tagger>> = const { std::cell::RefCell::new(None) };
    }
    let _host = MockHost::new();
    let err = crate::rt::with(&STATE, |_| Ok(())).unwrap_err();
    assert_eq!(err.code, "bad-config");
    let _host = MockHost::new().config("service", "https://s");
    let service = crate::rt::with(&STATE, |p| Ok(p.service.clone())).unwrap();
    assert_eq!(service, "https://s");
}
