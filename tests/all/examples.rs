//! The example plugins in `plugins/`, loaded with their own manifests.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};
use tempfile::TempDir;
use warden::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use warden::{Body, CallContext, Error, Hook, Plugin, Request, RequestAction, Response, ResponseAction};
use warden_fixtures::{ENRICHER, HEADER_MODIFIER, LOGGER, PLUGINS_DIR, TRANSFORMER, VALIDATOR};

use crate::common::runtime;

/// A request with `headers` (appended in order) and `body`.
fn request(method: &str, uri: &str, headers: &[(&str, &str)], body: impl Into<Body>) -> Request {
    let mut req = Request::new(Method::from_bytes(method.as_bytes()).unwrap(), uri.parse().unwrap());
    for &(name, value) in headers {
        req.headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
    }
    req.body = body.into();
    req
}

/// The body of `req`, which must be in memory.
fn body(req: &Request) -> &[u8] {
    req.body.bytes().expect("the body is in memory")
}

/// Everything a plugin can change in a request, to compare before and after a call.
fn snapshot(req: &Request) -> (Method, Uri, HeaderMap, Vec<u8>) {
    (req.method.clone(), req.uri.clone(), req.headers.clone(), body(req).to_vec())
}

/// Copies `plugins/<name>/plugin.toml` next to the built component.
fn load_example(name: &str, wasm: &str, config: &str) -> (TempDir, Plugin) {
    let dir = TempDir::new().unwrap();
    let manifest = std::fs::read_to_string(Path::new(PLUGINS_DIR).join(name).join("plugin.toml")).unwrap();
    let component = Path::new(wasm).file_name().unwrap();
    std::fs::copy(wasm, dir.path().join(component)).unwrap();
    std::fs::write(dir.path().join("plugin.toml"), format!("{manifest}\n{config}")).unwrap();
    let plugin = runtime().load(dir.path()).unwrap();
    (dir, plugin)
}

#[test]
fn logger_continues_unchanged() {
    let (_d, logger) = load_example("logger", LOGGER, "");
    assert_unchanged(&logger, request("GET", "/hello", &[("accept", "*/*")], "hi"), "GET /hello");
    let req = Arc::new(request("GET", "/hello", &[], ""));
    let mut resp = Response::new(StatusCode::NOT_FOUND, "not here");
    resp.headers.insert("content-type", HeaderValue::from_static("text/plain"));
    let headers = resp.headers.clone();
    let action = logger.on_response(&CallContext::new("1"), &req, &mut resp).unwrap();
    assert!(matches!(action, ResponseAction::Continue), "{action:?}");
    assert_eq!((resp.status, &resp.headers), (StatusCode::NOT_FOUND, &headers), "the response is unchanged");
    assert_eq!(resp.body.bytes().map(|b| b.as_ref()), Some(&b"not here"[..]));
}

#[test]
fn header_modifier_applies_its_config() {
    let (_d, plugin) = load_example("header-modifier", HEADER_MODIFIER, "");
    let manifest = plugin.manifest();
    let mut req = request("GET", "/", &[("x-remove-me", "1"), ("user-agent", "curl")], "");
    // The headers the shipped config removes, if it names any.
    if let Some(removed) = manifest.config.get("request.remove") {
        for name in removed.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            req.headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_static("1"));
        }
    }
    let before = snapshot(&req);
    let action = on_request(&plugin, &mut req);
    assert!(matches!(action, RequestAction::Continue), "{action:?}");
    assert_ne!(snapshot(&req), before, "expected the plugin to change the request");
    for (key, value) in &manifest.config {
        if let Some(name) = key.strip_prefix("request.add.").or_else(|| key.strip_prefix("request.set.")) {
            assert_eq!(req.header(name), Some(value.as_str()), "{key}");
        }
    }
    if let Some(removed) = manifest.config.get("request.remove") {
        for name in removed.split(',') {
            assert_eq!(req.header(name.trim()), None, "{name} not removed");
        }
    }
    assert_eq!(req.header("user-agent"), Some("curl"), "other headers are kept");
}

// validator, enricher and transformer: the gateway demo's on-request pipeline.

/// Loads example `name` with its shipped `plugin.toml`, whose `[config]`
/// table (the last one) is replaced by `config` when given.
fn load_variant(name: &str, wasm: &str, config: Option<&str>) -> (TempDir, Result<Plugin, Error>) {
    let dir = TempDir::new().unwrap();
    let mut manifest = std::fs::read_to_string(Path::new(PLUGINS_DIR).join(name).join("plugin.toml")).unwrap();
    if let Some(config) = config {
        let start = manifest.find("\n[config]\n").expect("the shipped manifest ends with [config]");
        manifest.truncate(start);
        manifest.push_str(&format!("\n[config]\n{config}\n"));
    }
    std::fs::copy(wasm, dir.path().join(Path::new(wasm).file_name().unwrap())).unwrap();
    std::fs::write(dir.path().join("plugin.toml"), manifest).unwrap();
    let plugin = runtime().load(dir.path());
    (dir, plugin)
}

fn load_shipped(name: &str, wasm: &str) -> (TempDir, Plugin) {
    let (dir, plugin) = load_variant(name, wasm, None);
    (dir, plugin.unwrap_or_else(|e| panic!("{name} loads with its shipped plugin.toml: {e}")))
}

fn load_config(name: &str, wasm: &str, config: &str) -> (TempDir, Plugin) {
    let (dir, plugin) = load_variant(name, wasm, Some(config));
    (dir, plugin.unwrap_or_else(|e| panic!("{name} loads with config {config:?}: {e}")))
}

/// The load error for `config`; checks it is `init` refusing it as `bad-config`,
/// naming the plugin and `key`.
fn assert_bad_config(name: &str, wasm: &str, config: &str, key: &str) {
    let (_d, result) = load_variant(name, wasm, Some(config));
    let err = result.err().unwrap_or_else(|| panic!("{name} loaded with bad config {config:?}"));
    match &err {
        Error::InitFailed { plugin, code, message } => {
            assert_eq!((plugin.as_str(), code.as_str()), (name, "bad-config"), "{err}");
            assert!(message.contains(key), "message names `{key}`: {message}");
        }
        other => panic!("expected InitFailed, got {other:?}"),
    }
    assert!(err.to_string().contains(&format!("plugin '{name}'")), "{err}");
}

fn json_request(method: &str, body: &str) -> Request {
    request(method, "/orders", &[("content-type", "application/json")], body.to_owned())
}

/// Runs `plugin`'s on-request hook on `req`, which it may change in place.
fn on_request(plugin: &Plugin, req: &mut Request) -> RequestAction {
    plugin.on_request(&CallContext::new("1"), req).unwrap_or_else(|e| panic!("on_request failed: {e}"))
}

/// Runs on-request on `req`, expecting the plugin to continue with a changed
/// request; returns the request as the plugin left it, and its body parsed.
#[track_caller]
fn modified_json(plugin: &Plugin, mut req: Request) -> (Request, Value) {
    let before = snapshot(&req);
    let action = on_request(plugin, &mut req);
    assert!(matches!(action, RequestAction::Continue), "expected the request to continue, got {action:?}");
    assert_ne!(snapshot(&req), before, "expected the plugin to change the request");
    let value = serde_json::from_slice(body(&req)).expect("the new body is JSON");
    (req, value)
}

fn rejection(action: RequestAction) -> (u16, String) {
    match action {
        RequestAction::Reject(r) => (r.status, r.reason),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// Runs on-request on `req`, expecting the plugin to continue and leave the
/// request as it was (method, target, headers and body).
#[track_caller]
fn assert_unchanged(plugin: &Plugin, mut req: Request, what: &str) {
    let before = snapshot(&req);
    let action = on_request(plugin, &mut req);
    assert!(matches!(action, RequestAction::Continue), "{what}: expected the request to continue, got {action:?}");
    assert_eq!(snapshot(&req), before, "{what}: expected the request unchanged");
}

/// `plugins/<name>/request.json`, read the way `warden run` reads on-request input.
fn sample_request(name: &str) -> Request {
    let text = std::fs::read_to_string(Path::new(PLUGINS_DIR).join(name).join("request.json")).unwrap();
    let Value::Object(sample) = serde_json::from_str::<Value>(&text).unwrap() else { panic!("not an object") };
    for key in sample.keys() {
        assert!(["method", "uri", "headers", "body"].contains(&key.as_str()), "{name}: unknown key {key}");
    }
    let headers: Vec<(&str, &str)> = sample["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap(), p[1].as_str().unwrap()))
        .collect();
    let body = sample["body"].as_str().unwrap().to_owned();
    request(sample["method"].as_str().unwrap(), sample["uri"].as_str().unwrap(), &headers, body)
}

#[test]
fn validator_accepts_valid_bodies_unchanged() {
    let (_d, validator) = load_shipped("validator", VALIDATOR);
    for body in [r#"{"user_id":42,"action":"buy"}"#, r#"{"action":"x","user_id":"u","deep":{"a":[1,{"b":2}]}}"#] {
        assert_unchanged(&validator, json_request("POST", body), body);
    }
    // Methods that are not checked pass whatever they carry.
    assert_unchanged(&validator, request("GET", "/orders", &[], "not json"), "GET");
}

#[test]
fn validator_rejects_with_status_and_reason() {
    let (_d, validator) = load_shipped("validator", VALIDATOR);
    let check = |method: &str, body: &str| rejection(on_request(&validator, &mut json_request(method, body)));
    assert_eq!(check("POST", r#"{"action":"buy"}"#), (422, "missing required field: user_id".into()));
    assert_eq!(check("PUT", r#"{"user_id":null,"action":"buy"}"#), (422, "missing required field: user_id".into()));
    assert_eq!(check("PUT", r#"{"user_id":0}"#), (422, "missing required field: action".into()));
    assert_eq!(check("PATCH", r#"{"x":1}"#), (422, "missing required fields: user_id, action".into()));
    assert_eq!(check("POST", "[1,2]"), (400, "request body must be a JSON object".into()));
    assert_eq!(check("POST", ""), (400, "request body must be a JSON object".into()));
    let (status, reason) = check("POST", r#"{"user_id": s3cret-token, "action":"buy"}"#);
    assert_eq!(status, 400);
    assert!(reason.starts_with("invalid JSON body at line 1 column"), "{reason}");
    assert!(!reason.contains("s3cret"), "the reason must not echo the body: {reason}");
    let deep = format!(r#"{{"user_id":1,"action":{}1{}}}"#, "[".repeat(40), "]".repeat(40));
    assert_eq!(check("POST", &deep), (400, "JSON body nested deeper than 32 levels".into()));
    let big = format!(r#"{{"user_id":1,"action":"{}"}}"#, "a".repeat(65536));
    assert_eq!(check("POST", &big), (413, "request body larger than 65536 bytes".into()));

    let mut form =
        request("POST", "/orders", &[("content-type", "application/x-www-form-urlencoded")], "user_id=1&action=buy");
    assert_eq!(rejection(on_request(&validator, &mut form)), (415, "content-type must be application/json".into()));
}

#[test]
fn validator_checks_only_configured_methods() {
    let (_d, validator) = load_config("validator", VALIDATOR, "required = \"id\"\nmethods = \"put\"");
    assert_unchanged(&validator, json_request("POST", "{"), "POST is not checked");
    assert_eq!(
        rejection(on_request(&validator, &mut json_request("PUT", "{}"))),
        (422, "missing required field: id".into())
    );
}

#[test]
fn validator_bad_config_fails_load() {
    assert_bad_config("validator", VALIDATOR, "max-depth = \"0\"", "max-depth");
    assert_bad_config("validator", VALIDATOR, "requierd = \"user_id\"", "requierd");
}

#[test]
fn enricher_adds_config_fields() {
    let config = "\"add.source\" = \"warden-gateway\"\n\"add-json.version\" = \"2\"";
    let (_d, enricher) = load_config("enricher", ENRICHER, config);
    let sent = r#"{"user_id":42,"version":1,"items":[{"sku":"a","qty":1.50}]}"#;
    let length = sent.len().to_string();
    let req =
        request("POST", "/orders", &[("content-type", "application/json"), ("content-length", length.as_str())], sent);
    let (out, json) = modified_json(&enricher, req);
    assert_eq!(json, json!({"user_id":42,"version":2,"items":[{"sku":"a","qty":1.5}],"source":"warden-gateway"}));
    assert_eq!(out.header("content-length"), Some(body(&out).len().to_string().as_str()), "content-length in step");
    assert_eq!(out.header("content-type"), Some("application/json"));
    // Already enriched, not JSON, or no body: unchanged.
    let done = json_request("POST", r#"{"version":2,"source":"warden-gateway"}"#);
    assert_unchanged(&enricher, done, "already enriched");
    assert_unchanged(&enricher, request("POST", "/orders", &[], r#"{"version":1}"#), "no JSON content type");
    assert_unchanged(&enricher, json_request("POST", "[1]"), "not an object");
}

#[test]
fn enricher_shipped_config_enriches_bodies_without_a_lookup_field() {
    // Loads although seeding hits the store (every key-value call fails
    // `unavailable` until the capability lands); with no `user_id` there is
    // no lookup, so no key-value call and no error.
    let (_d, enricher) = load_shipped("enricher", ENRICHER);
    let (_, body) = modified_json(&enricher, json_request("POST", r#"{"action":"buy"}"#));
    assert_eq!(body, json!({"action":"buy","source":"warden-gateway"}));
}

#[test]
fn enricher_lookup_returns_key_value_errors() {
    // Every key-value call fails `unavailable` on this host: the error must
    // come back from on_request (for the gateway's failure policy), not be
    // dropped or panic. Once the store lands, `user:42` holds the seed.
    let (_d, enricher) = load_shipped("enricher", ENRICHER);
    let mut req = json_request("POST", r#"{"user_id":42}"#);
    let before = snapshot(&req);
    let err = enricher.on_request(&CallContext::new("1"), &mut req).unwrap_err();
    assert_eq!(snapshot(&req), before, "a failed call leaves the request as it was");
    match &err {
        Error::Plugin { plugin, hook, code, .. } => {
            assert_eq!((plugin.as_str(), *hook, code.as_str()), ("enricher", Hook::OnRequest, "unavailable"), "{err}")
        }
        other => panic!("expected the plugin's key-value error, got {other:?}"),
    }
    // The instance keeps serving.
    assert_unchanged(&enricher, json_request("POST", r#"{"action":"buy","source":"warden-gateway"}"#), "enriched");
}

#[test]
fn enricher_bad_config_fails_load() {
    assert_bad_config("enricher", ENRICHER, "lookup = \"user:{user_id\"", "lookup");
    assert_bad_config("enricher", ENRICHER, "\"seed.user:1\" = \"{not json\"", "seed.user:1");
}

#[test]
fn transformer_renames_and_removes_fields() {
    let (_d, transformer) = load_shipped("transformer", TRANSFORMER);
    let req = json_request(
        "POST",
        r#"{"user_id":42,"action":"buy","password":"hunter2","debug":true,"meta":{"password":"kept","user_id":1}}"#,
    );
    let (_, body) = modified_json(&transformer, req);
    assert_eq!(body, json!({"userId":42,"action":"buy","meta":{"password":"kept","user_id":1}}));
}

#[test]
fn transformer_leaves_other_requests_unchanged() {
    let (_d, transformer) = load_shipped("transformer", TRANSFORMER);
    assert_unchanged(&transformer, json_request("POST", r#"{"userId":42,"action":"buy"}"#), "no listed field");
    assert_unchanged(&transformer, json_request("POST", r#"{"user_id":"#), "not JSON");
    assert_unchanged(&transformer, request("POST", "/orders", &[], r#"{"user_id":42}"#), "no JSON content type");
    assert_unchanged(&transformer, request("GET", "/", &[], ""), "no body");
}

#[test]
fn transformer_bad_config_fails_load() {
    assert_bad_config("transformer", TRANSFORMER, "\"rename.a\" = \"b\"\nremove = \"a\"", "`a`");
    assert_bad_config("transformer", TRANSFORMER, "\"rename.a\" = \"\"", "rename.a");
}

#[test]
fn pipeline_validates_enriches_and_transforms() {
    // The gateway's order, with the enricher on config only (no key-value store here).
    let (_v, validator) = load_shipped("validator", VALIDATOR);
    let (_e, enricher) = load_config("enricher", ENRICHER, "\"add.source\" = \"warden-gateway\"");
    let (_t, transformer) = load_shipped("transformer", TRANSFORMER);
    // Each plugin gets the request as the previous one left it.
    let run = |mut req: Request| -> (RequestAction, Request) {
        for plugin in [&validator, &enricher, &transformer] {
            match on_request(plugin, &mut req) {
                RequestAction::Continue => {}
                stop => return (stop, req),
            }
        }
        (RequestAction::Continue, req)
    };
    let (action, req) = run(json_request("POST", r#"{"user_id":7,"action":"buy","password":"pw"}"#));
    assert!(matches!(action, RequestAction::Continue), "{action:?}");
    let json: Value = serde_json::from_slice(body(&req)).expect("the new body is JSON");
    assert_eq!(json, json!({"userId":7,"action":"buy","source":"warden-gateway"}));
    assert_eq!(rejection(run(json_request("POST", r#"{"action":"buy"}"#)).0).0, 422);
}

#[test]
fn sample_requests_do_what_the_docs_say() {
    let (_v, validator) = load_shipped("validator", VALIDATOR);
    let (status, reason) = rejection(on_request(&validator, &mut sample_request("validator")));
    assert_eq!((status, reason.as_str()), (422, "missing required field: user_id"));

    let (_t, transformer) = load_shipped("transformer", TRANSFORMER);
    let (_, json) = modified_json(&transformer, sample_request("transformer"));
    assert_eq!(json, json!({"userId":42,"action":"buy"}));

    // The enricher's sample looks up `user:42` (seeded by its config).
    let sample = sample_request("enricher");
    let json: Value = serde_json::from_slice(body(&sample)).unwrap();
    assert_eq!(json["user_id"], 42);
}
