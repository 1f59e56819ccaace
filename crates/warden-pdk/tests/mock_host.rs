//! A plugin crate's own native test, as its author writes it: the plugin
//! is exported with `export!`, and its hook runs against the PDK's mock
//! host. docs/PLUGIN_DEVELOPMENT.md shows this test.

use warden_pdk::prelude::*;
use warden_pdk::testing::MockHost;
use warden_pdk::{OutgoingRequest, call_plugin, fetch, kv, publish};

/// Tags each request with its user's tag: from the key-value store, else
/// from a tag service (then stored); announces the user and logs a score
/// from another plugin.
pub struct Tagger {
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
        let key = format!("tag:{user}");
        let tag = match kv::get(&key)? {
            Some(tag) => String::from_utf8_lossy(&tag).into_owned(),
            None => {
                let answer = fetch(&OutgoingRequest::get(format!("{}/tags/{user}", self.service)))?;
                let tag = answer.body_str().unwrap_or("none").to_owned();
                kv::set(&key, tag.as_bytes())?;
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

warden_pdk::export!(Tagger: http_filter);

#[test]
fn tags_known_users() {
    let host = MockHost::new()
        .config("service", "https://tags.example.com") // the manifest's [config]
        .kv_entry("tag:ann", b"gold") // seeds the store (and grants it)
        .allow_publish("users.*") // [permissions] publish
        .stub_fetch("https://tags.example.com/tags/*", HttpResponse::new(200, "silver"))
        .stub_call("scorer", "score", Ok(b"9".to_vec())); // a [dependencies] plugin

    let mut plugin = Tagger::init(&Config::from_host()).unwrap();
    let req = Request::new("GET", "/orders").with_header("x-user", "ann");
    assert_eq!(plugin.on_request(&CallContext::new("req-1"), &req).unwrap(), RequestAction::Continue);

    assert_eq!(req.header("x-tag").as_deref(), Some("gold"));
    assert!(host.requests().is_empty()); // served from the store
    assert_eq!(host.logs()[0].message, "req-1 ann tagged gold, score 9");
    assert_eq!(host.published()[0].topic, "users.seen");
}

#[test]
fn fetches_and_stores_new_users() {
    let host = MockHost::new()
        .config("service", "https://tags.example.com")
        .allow_kv()
        .allow_publish("users.*")
        .stub_fetch("https://tags.example.com/tags/*", HttpResponse::new(200, "silver"))
        .stub_call("scorer", "score", Ok(b"5".to_vec()));
    let mut plugin = Tagger::init(&Config::from_host()).unwrap();

    let req = Request::new("GET", "/orders").with_header("x-user", "bob");
    plugin.on_request(&CallContext::new("req-2"), &req).unwrap();
    assert_eq!(req.header("x-tag").as_deref(), Some("silver"));
    assert_eq!(host.requests()[0].url, "https://tags.example.com/tags/bob");
    assert_eq!(host.kv_get("tag:bob").as_deref(), Some(&b"silver"[..]));
    assert_eq!(host.plugin_calls()[0].payload, b"silver");
}

#[test]
fn what_the_host_refuses_comes_back_as_errors() {
    // Nothing granted, nothing stubbed: the first host call is refused as
    // on a host whose manifest lacks `key-value = true`.
    let _host = MockHost::new().config("service", "https://tags.example.com");
    let mut plugin = Tagger::init(&Config::from_host()).unwrap();
    let req = Request::new("GET", "/orders").with_header("x-user", "ann");
    let err = plugin.on_request(&CallContext::new("req-3"), &req).unwrap_err();
    assert_eq!(err.code, "capability-denied");

    // The tag service is down.
    let _host = MockHost::new()
        .allow_kv()
        .refuse_fetch("https://tags.example.com/*", PluginError::new("connect-failed", "connection refused"));
    let err = plugin.on_request(&CallContext::new("req-4"), &req).unwrap_err();
    assert_eq!((err.code.as_str(), err.message.as_str()), ("connect-failed", "connection refused"));

    // No user: refused before any host call.
    assert_eq!(
        plugin.on_request(&CallContext::new("req-5"), &Request::new("GET", "/")).unwrap(),
        RequestAction::reject(401, "who are you?")
    );
    let _host = MockHost::new().config("nothing", "useful");
    assert_eq!(Tagger::init(&Config::from_host()).err().unwrap().code, "bad-config");
}
