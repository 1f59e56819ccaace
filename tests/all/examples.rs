//! The example plugins in `plugins/`, loaded with their own manifests.

use std::path::Path;

use serde_json::{Value, json};
use tempfile::TempDir;
use warden::{CallContext, Error, Hook, HttpRequest, HttpResponse, Plugin, RequestAction, ResponseAction};
use warden_fixtures::{ENRICHER, HEADER_MODIFIER, LOGGER, PLUGINS_DIR, TRANSFORMER, VALIDATOR};

use crate::common::runtime;

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
    let req = HttpRequest::new("GET", "/hello");
    assert!(matches!(logger.on_request(&CallContext::new("1"), &req).unwrap(), RequestAction::Continue(None)));
    let resp = HttpResponse::new(404, "");
    assert!(matches!(
        logger.on_response(&CallContext::new("1"), &req.head(), &resp).unwrap(),
        ResponseAction::Continue(None)
    ));
}

#[test]
fn header_modifier_applies_its_config() {
    let (_d, plugin) = load_example("header-modifier", HEADER_MODIFIER, "");
    let manifest = plugin.manifest();
    let mut req = HttpRequest::new("GET", "/");
    req.headers.push(("x-remove-me".into(), "1".into()));
    req.headers.push(("user-agent".into(), "curl".into()));
    match plugin.on_request(&CallContext::new("1"), &req).unwrap() {
        RequestAction::Continue(Some(changed)) => {
            for (key, value) in &manifest.config {
                if let Some(name) = key.strip_prefix("request.add.").or_else(|| key.strip_prefix("request.set.")) {
                    assert_eq!(changed.header(name), Some(value.as_str()), "{key}");
                }
            }
            if let Some(removed) = manifest.config.get("request.remove") {
                for name in removed.split(',') {
                    assert_eq!(changed.header(name.trim()), None, "{name} not removed");
                }
            }
        }
        other => panic!("expected a modified request, got {other:?}"),
    }
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

fn json_request(method: &str, body: &str) -> HttpRequest {
    let mut req = HttpRequest::new(method, "/orders");
    req.headers.push(("content-type".into(), "application/json".into()));
    req.body = body.into();
    req
}

fn on_request(plugin: &Plugin, req: &HttpRequest) -> RequestAction {
    plugin.on_request(&CallContext::new("1"), req).unwrap_or_else(|e| panic!("on_request failed: {e}"))
}

/// The body of a modified request, parsed.
fn modified_json(action: RequestAction) -> (HttpRequest, Value) {
    match action {
        RequestAction::Continue(Some(req)) => {
            let body = serde_json::from_slice(&req.body).expect("the new body is JSON");
            (req, body)
        }
        other => panic!("expected a modified request, got {other:?}"),
    }
}

fn rejection(action: RequestAction) -> (u16, String) {
    match action {
        RequestAction::Reject(r) => (r.status, r.reason),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn is_unchanged(action: &RequestAction) -> bool {
    matches!(action, RequestAction::Continue(None))
}

/// `plugins/<name>/request.json`, read the way `warden run` reads on-request input.
fn sample_request(name: &str) -> HttpRequest {
    let text = std::fs::read_to_string(Path::new(PLUGINS_DIR).join(name).join("request.json")).unwrap();
    let Value::Object(sample) = serde_json::from_str::<Value>(&text).unwrap() else { panic!("not an object") };
    for key in sample.keys() {
        assert!(["method", "uri", "headers", "body"].contains(&key.as_str()), "{name}: unknown key {key}");
    }
    let mut req = HttpRequest::new(sample["method"].as_str().unwrap(), sample["uri"].as_str().unwrap());
    for pair in sample["headers"].as_array().unwrap() {
        req.headers.push((pair[0].as_str().unwrap().into(), pair[1].as_str().unwrap().into()));
    }
    req.body = sample["body"].as_str().unwrap().into();
    req
}

#[test]
fn validator_accepts_valid_bodies_unchanged() {
    let (_d, validator) = load_shipped("validator", VALIDATOR);
    for body in [r#"{"user_id":42,"action":"buy"}"#, r#"{"action":"x","user_id":"u","deep":{"a":[1,{"b":2}]}}"#] {
        assert!(is_unchanged(&on_request(&validator, &json_request("POST", body))), "{body}");
    }
    // Methods that are not checked pass whatever they carry.
    let mut get = HttpRequest::new("GET", "/orders");
    get.body = b"not json".to_vec();
    assert!(is_unchanged(&on_request(&validator, &get)));
}

#[test]
fn validator_rejects_with_status_and_reason() {
    let (_d, validator) = load_shipped("validator", VALIDATOR);
    let check = |method: &str, body: &str| rejection(on_request(&validator, &json_request(method, body)));
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

    let mut form = HttpRequest::new("POST", "/orders");
    form.headers.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
    form.body = b"user_id=1&action=buy".to_vec();
    assert_eq!(rejection(on_request(&validator, &form)), (415, "content-type must be application/json".into()));
}

#[test]
fn validator_checks_only_configured_methods() {
    let (_d, validator) = load_config("validator", VALIDATOR, "required = \"id\"\nmethods = \"put\"");
    assert!(is_unchanged(&on_request(&validator, &json_request("POST", "{"))));
    assert_eq!(
        rejection(on_request(&validator, &json_request("PUT", "{}"))),
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
    let mut req = json_request("POST", r#"{"user_id":42,"version":1,"items":[{"sku":"a","qty":1.50}]}"#);
    req.headers.push(("content-length".into(), req.body.len().to_string()));
    let (out, body) = modified_json(on_request(&enricher, &req));
    assert_eq!(body, json!({"user_id":42,"version":2,"items":[{"sku":"a","qty":1.5}],"source":"warden-gateway"}));
    assert_eq!(out.header("content-length"), Some(out.body.len().to_string().as_str()), "content-length in step");
    assert_eq!(out.header("content-type"), Some("application/json"));
    // Already enriched, not JSON, or no body: unchanged.
    let done = json_request("POST", r#"{"version":2,"source":"warden-gateway"}"#);
    assert!(is_unchanged(&on_request(&enricher, &done)));
    let mut text = HttpRequest::new("POST", "/orders");
    text.body = br#"{"version":1}"#.to_vec();
    assert!(is_unchanged(&on_request(&enricher, &text)), "no JSON content type");
    assert!(is_unchanged(&on_request(&enricher, &json_request("POST", "[1]"))));
}

#[test]
fn enricher_shipped_config_enriches_bodies_without_a_lookup_field() {
    // Loads although seeding hits the store (every key-value call fails
    // `unavailable` until the capability lands); with no `user_id` there is
    // no lookup, so no key-value call and no error.
    let (_d, enricher) = load_shipped("enricher", ENRICHER);
    let (_, body) = modified_json(on_request(&enricher, &json_request("POST", r#"{"action":"buy"}"#)));
    assert_eq!(body, json!({"action":"buy","source":"warden-gateway"}));
}

#[test]
fn enricher_lookup_returns_key_value_errors() {
    // Every key-value call fails `unavailable` on this host: the error must
    // come back from on_request (for the gateway's failure policy), not be
    // dropped or panic. Once the store lands, `user:42` holds the seed.
    let (_d, enricher) = load_shipped("enricher", ENRICHER);
    let err = enricher.on_request(&CallContext::new("1"), &json_request("POST", r#"{"user_id":42}"#)).unwrap_err();
    match &err {
        Error::Plugin { plugin, hook, code, .. } => {
            assert_eq!((plugin.as_str(), *hook, code.as_str()), ("enricher", Hook::OnRequest, "unavailable"), "{err}")
        }
        other => panic!("expected the plugin's key-value error, got {other:?}"),
    }
    // The instance keeps serving.
    assert!(is_unchanged(&on_request(
        &enricher,
        &json_request("POST", r#"{"action":"buy","source":"warden-gateway"}"#)
    )));
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
    let (_, body) = modified_json(on_request(&transformer, &req));
    assert_eq!(body, json!({"userId":42,"action":"buy","meta":{"password":"kept","user_id":1}}));
}

#[test]
fn transformer_leaves_other_requests_unchanged() {
    let (_d, transformer) = load_shipped("transformer", TRANSFORMER);
    assert!(is_unchanged(&on_request(&transformer, &json_request("POST", r#"{"userId":42,"action":"buy"}"#))));
    assert!(is_unchanged(&on_request(&transformer, &json_request("POST", r#"{"user_id":"#))));
    let mut text = HttpRequest::new("POST", "/orders");
    text.body = br#"{"user_id":42}"#.to_vec();
    assert!(is_unchanged(&on_request(&transformer, &text)), "no JSON content type");
    assert!(is_unchanged(&on_request(&transformer, &HttpRequest::new("GET", "/"))));
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
    let run = |mut req: HttpRequest| -> RequestAction {
        for plugin in [&validator, &enricher, &transformer] {
            match on_request(plugin, &req) {
                RequestAction::Continue(None) => {}
                RequestAction::Continue(Some(next)) => req = next,
                stop => return stop,
            }
        }
        RequestAction::Continue(Some(req))
    };
    let (_, body) = modified_json(run(json_request("POST", r#"{"user_id":7,"action":"buy","password":"pw"}"#)));
    assert_eq!(body, json!({"userId":7,"action":"buy","source":"warden-gateway"}));
    assert_eq!(rejection(run(json_request("POST", r#"{"action":"buy"}"#))).0, 422);
}

#[test]
fn sample_requests_do_what_the_docs_say() {
    let (_v, validator) = load_shipped("validator", VALIDATOR);
    let (status, reason) = rejection(on_request(&validator, &sample_request("validator")));
    assert_eq!((status, reason.as_str()), (422, "missing required field: user_id"));

    let (_t, transformer) = load_shipped("transformer", TRANSFORMER);
    let (_, body) = modified_json(on_request(&transformer, &sample_request("transformer")));
    assert_eq!(body, json!({"userId":42,"action":"buy"}));

    // The enricher's sample looks up `user:42` (seeded by its config).
    let sample = sample_request("enricher");
    let body: Value = serde_json::from_slice(&sample.body).unwrap();
    assert_eq!(body["user_id"], 42);
}
