//! Hook calls, results, permissions, instance policy, lifecycle.

use std::sync::Arc;

use warden::http::{HeaderValue, Method, StatusCode};
use warden::{CallContext, Error, Hook, Interface, Request, RequestAction, Response, ResponseAction};
use warden_fixtures::{ECHO, MALICIOUS};

use crate::common::{assert_still_serves, load, plugin_dir, runtime};

fn ctx() -> CallContext {
    CallContext::new("test-1")
}

fn get(uri: &str) -> Request {
    Request::new(Method::GET, uri.parse().unwrap())
}

#[test]
fn exports_are_discovered() {
    let (_d, echo) = load(ECHO, "");
    let (_d, mal) = load(MALICIOUS, "");
    assert_eq!(
        echo.exports(),
        [Interface::Lifecycle, Interface::HttpFilter, Interface::Handler, Interface::Subscriber]
    );
    // Imports only what it uses: the PDK's unused imports are not in the component.
    assert!(!mal.imports().iter().any(|i| i.contains("messaging") || i.contains("plugins")), "{:?}", mal.imports());
    assert!(echo.has_hook(Hook::OnRequest) && echo.has_hook(Hook::Handle));
    assert!(!echo.has_hook(Hook::OnConnect));
    assert_eq!(mal.exports(), [Interface::Lifecycle, Interface::Handler]);
    assert!(echo.imports().iter().any(|i| i.starts_with("warden:plugin/log")), "{:?}", echo.imports());
    assert!(echo.imports().iter().all(|i| i.starts_with("warden:plugin/") || i.starts_with("wasi:")));
}

#[test]
fn calling_an_unexported_hook_is_a_clear_error() {
    let (_d, plugin) = load(MALICIOUS, "");
    let err = plugin.on_request(&ctx(), &mut get("/")).unwrap_err();
    assert!(matches!(err, Error::HookNotExported { hook: Hook::OnRequest, .. }), "{err:?}");
    assert!(
        err.to_string().contains("does not export on-request; it exports: init, shutdown, health, handle"),
        "{err}"
    );
    let conn = warden::ConnectionInfo {
        client_addr: "127.0.0.1:1".into(),
        server_addr: "127.0.0.1:2".into(),
        tls: false,
        server_name: None,
    };
    assert!(matches!(plugin.on_connect(&conn), Err(Error::HookNotExported { .. })));
    assert_still_serves(&plugin);
}

#[test]
fn request_actions_continue_respond_reject() {
    let (_d, echo) = load(ECHO, "");
    assert!(matches!(echo.on_request(&ctx(), &mut get("/anything")).unwrap(), RequestAction::Continue));
    match echo.on_request(&ctx(), &mut get("/respond")).unwrap() {
        RequestAction::Respond(resp) => {
            assert_eq!(resp.status, 200);
            assert_eq!(resp.body, b"hi");
            assert_eq!(resp.header("Content-Type"), Some("text/plain"));
        }
        other => panic!("{other:?}"),
    }
    match echo.on_request(&ctx(), &mut get("/reject")).unwrap() {
        RequestAction::Reject(r) => assert_eq!((r.status, r.reason.as_str()), (403, "nope")),
        other => panic!("{other:?}"),
    }
    let err = echo.on_request(&ctx(), &mut get("/error")).unwrap_err();
    assert!(
        matches!(&err, Error::Plugin { code, message, .. } if code == "boom" && message == "on-request failed"),
        "{err:?}"
    );
}

#[test]
fn modifying_without_permission_is_denied_at_the_change() {
    let (_d, echo) = load(ECHO, "");
    let mut request = get("/modify");
    let err = echo.on_request(&ctx(), &mut request).unwrap_err();
    assert!(
        matches!(&err, Error::CapabilityDenied { permission, action, .. }
            if permission == "modify-request = true" && action.contains("append-header")),
        "{err:?}"
    );
    assert!(request.headers.is_empty(), "the request is untouched");
    let mut resp = Response::new(StatusCode::OK, "ok");
    let err = echo.on_response(&ctx(), &Arc::new(get("/modify")), &mut resp).unwrap_err();
    assert!(matches!(&err, Error::CapabilityDenied { permission, .. } if permission == "modify-response = true"));
    assert!(resp.headers.is_empty());

    // A plugin may also handle the refusal itself: it learns the code.
    let (_d, gw) = load(warden_fixtures::GATEWAY_GUEST, "");
    let mut request = get("/");
    request.headers.insert("x-test", HeaderValue::from_static("try-modify"));
    match gw.on_request(&ctx(), &mut request).unwrap() {
        RequestAction::Respond(r) => assert_eq!(r.body, b"capability-denied"),
        other => panic!("{other:?}"),
    }
    assert!(!request.headers.contains_key("x-tried"));
}

#[test]
fn modifying_with_permission_changes_the_message_in_place() {
    let (_d, echo) = load(ECHO, "[permissions]\nmodify-request = true\nmodify-response = true");
    let mut request = get("/modify");
    assert!(matches!(echo.on_request(&ctx(), &mut request).unwrap(), RequestAction::Continue));
    assert_eq!(request.header("x-modified"), Some("1"));
    let mut resp = Response::new(StatusCode::OK, "ok");
    assert!(matches!(
        echo.on_response(&ctx(), &Arc::new(get("/modify")), &mut resp).unwrap(),
        ResponseAction::Continue
    ));
    assert_eq!(resp.header("x-modified"), Some("1"));
}

/// A request for the gateway fixture, steered by `x-test`.
fn steered(test: &'static str) -> Request {
    let mut request = get("/path?q=1");
    request.headers.insert("x-test", HeaderValue::from_static(test));
    request
}

#[test]
fn in_on_response_the_request_is_read_only_and_its_body_withheld() {
    let (_d, gw) = load(warden_fixtures::GATEWAY_GUEST, "[permissions]\nmodify-request = true\nmodify-response = true");
    let mut request = steered("touch-request");
    request.body = warden::Body::from("not for on-response");
    let head = Arc::new(request.head());
    let mut resp = Response::new(StatusCode::OK, "ok");
    assert!(matches!(gw.on_response(&ctx(), &head, &mut resp).unwrap(), ResponseAction::Continue));
    assert_eq!(resp.header("x-set-request-header"), Some("read-only"));
    assert_eq!(resp.header("x-request-body"), Some("body-unavailable"));
    assert!(!head.headers.contains_key("x-late"));
}

#[test]
fn the_changes_of_a_failed_call_are_undone() {
    let (_d, gw) = load(warden_fixtures::GATEWAY_GUEST, "[permissions]\nmodify-request = true");
    let mut request = steered("modify-then-fail");
    request.body = warden::Body::from("original");
    request.headers.insert("content-length", HeaderValue::from_static("8"));
    let err = gw.on_request(&ctx(), &mut request).unwrap_err();
    assert!(matches!(&err, Error::Plugin { code, .. } if code == "half-done"), "{err:?}");
    assert!(!request.headers.contains_key("x-half"), "{:?}", request.headers);
    assert_eq!(request.header("x-test"), Some("modify-then-fail"));
    // The body, and the length that followed it before the head was saved.
    assert_eq!(request.body.bytes().map(|b| b.as_ref()), Some(&b"original"[..]));
    assert_eq!(request.header("content-length"), Some("8"));

    // A change made by a call that succeeds stays, body included.
    let mut request = steered("modify");
    request.body = warden::Body::from("abc");
    request.headers.insert("content-length", HeaderValue::from_static("3"));
    gw.on_request(&ctx(), &mut request).unwrap();
    assert_eq!(request.body.bytes().map(|b| b.as_ref()), Some(&b"ABC"[..]));
    assert_eq!(request.header("x-modified"), Some("gw"));
}

#[test]
fn a_handle_kept_for_a_later_call_traps_and_never_reads_that_call_s_request() {
    let (_d, gw) = load(warden_fixtures::GATEWAY_GUEST, "");
    let mut first = steered("stash");
    first.headers.insert("x-secret", HeaderValue::from_static("first request's secret"));
    assert!(matches!(gw.on_request(&ctx(), &mut first).unwrap(), RequestAction::Continue));

    // Outside a request call the old handle names nothing: a trap.
    let err = gw.handle("stale", b"").unwrap_err();
    assert_eq!(err.kind(), warden::ErrorKind::Trap, "{err}");
    assert!(!err.to_string().contains("secret"), "{err}");

    // In a later request call, the handle number may name that call's own
    // request (the instance's handle table reuses slots): never the first.
    assert!(matches!(gw.on_request(&ctx(), &mut first).unwrap(), RequestAction::Continue));
    let mut second = steered("stale");
    second.headers.insert("x-secret", HeaderValue::from_static("second"));
    match gw.on_request(&ctx(), &mut second) {
        Ok(RequestAction::Respond(r)) => assert_eq!(r.body, b"second"),
        Err(e) => assert_eq!(e.kind(), warden::ErrorKind::Trap, "{e}"),
        Ok(other) => panic!("{other:?}"),
    }
    // The plugin serves on.
    assert!(matches!(gw.on_request(&ctx(), &mut get("/")).unwrap(), RequestAction::Continue));
}

#[test]
fn reads_copy_only_what_is_asked_and_the_context_is_fetched_on_demand() {
    let (_d, gw) = load(warden_fixtures::GATEWAY_GUEST, "");
    let ctx = ctx().with_route("api").with_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    match gw.on_request(&ctx, &mut steered("context")).unwrap() {
        RequestAction::Respond(r) => {
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(v["request_id"], "test-1");
            assert_eq!(v["route"], "api");
            assert_eq!(v["client"], serde_json::Value::Null);
        }
        other => panic!("{other:?}"),
    }
    let mut request = steered("body-length");
    request.headers.insert("content-length", HeaderValue::from_static("12"));
    request.body = warden::Body::stream(Counting::default(), Some(12), 1 << 20);
    match gw.on_request(&ctx, &mut request).unwrap() {
        RequestAction::Respond(r) => assert_eq!(r.body, b"12"),
        other => panic!("{other:?}"),
    }
    let source = request.body.take_stream::<Counting>().expect("the body stays unread");
    assert_eq!(source.reads, 0);
}

/// A streamed body of 12 bytes that counts how often it is read.
#[derive(Default)]
struct Counting {
    reads: u32,
}

impl warden::BodySource for Counting {
    fn read_all(&mut self, limit: u64, _deadline: std::time::Instant) -> Result<bytes::Bytes, warden::BodyError> {
        self.reads += 1;
        if limit < 12 {
            return Err(warden::BodyError::TooLarge { limit });
        }
        Ok(bytes::Bytes::from_static(b"hello, world"))
    }
}

#[test]
fn a_streamed_body_is_read_once_when_a_plugin_asks_and_its_limit_holds() {
    let (_d, gw) = load(warden_fixtures::GATEWAY_GUEST, "");
    let mut request = steered("read-body");
    request.body = warden::Body::stream(Counting::default(), None, 1 << 20);
    gw.on_request(&ctx(), &mut request).unwrap();
    gw.on_request(&ctx(), &mut request).unwrap();
    assert_eq!(request.body.bytes().map(|b| b.as_ref()), Some(&b"hello, world"[..]), "read once, then kept");

    let mut request = steered("read-body");
    request.body = warden::Body::stream(Counting::default(), None, 5);
    let err = gw.on_request(&ctx(), &mut request).unwrap_err();
    assert!(matches!(&err, Error::Plugin { code, .. } if code == "body-too-large"), "{err:?}");
    assert_eq!(request.body.error(), Some(&warden::BodyError::TooLarge { limit: 5 }), "the host learns why");
}

#[test]
fn handle_echo_and_config() {
    let (_d, echo) = load(ECHO, "[config]\ngreeting = \"hello\"\nother = \"x\"");
    assert_eq!(echo.handle("echo", b"\x00\xffbytes").unwrap(), b"\x00\xffbytes");
    let config: serde_json::Value = serde_json::from_slice(&echo.handle("config", b"").unwrap()).unwrap();
    assert_eq!(config, serde_json::json!({"greeting": "hello", "other": "x"}));
    let err = echo.handle("nope", b"").unwrap_err();
    assert!(matches!(&err, Error::Plugin { code, .. } if code == "unknown-action"), "{err:?}");
}

#[test]
fn reuse_policy_keeps_state_fresh_policy_does_not() {
    let (_d, reuse) = load(ECHO, "");
    let counts: Vec<_> = (0..3).map(|_| reuse.handle("count", b"").unwrap()).collect();
    assert_eq!(counts, [b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]);

    let (_d, fresh) = load(ECHO, "instance-policy = \"fresh\"");
    let counts: Vec<_> = (0..3).map(|_| fresh.handle("count", b"").unwrap()).collect();
    assert_eq!(counts, [b"1".to_vec(), b"1".to_vec(), b"1".to_vec()]);
    assert_eq!(fresh.live_instances(), 0);
}

#[test]
fn a_trap_discards_the_instance_and_state() {
    let (_d, plugin) = load(MALICIOUS, "");
    assert_eq!(plugin.handle("count", b"").unwrap(), b"1");
    assert_eq!(plugin.handle("count", b"").unwrap(), b"2");
    assert!(plugin.handle("panic", b"x").is_err());
    // A fresh instance serves the next call: its state starts over.
    assert_eq!(plugin.handle("count", b"").unwrap(), b"1");
}

#[test]
fn failing_init_fails_the_load_with_the_plugins_message() {
    let dir = plugin_dir(ECHO, "[config]\nfail-init = \"true\"");
    let err = runtime().load(dir.path()).unwrap_err();
    match &err {
        Error::InitFailed { plugin, code, message } => {
            assert_eq!(plugin, "test-plugin");
            assert_eq!(code, "bad-config");
            assert_eq!(message, "fail-init requested");
        }
        other => panic!("expected InitFailed, got {other:?}"),
    }
}

#[test]
fn health_and_shutdown() {
    let (_d, echo) = load(ECHO, "");
    assert!(matches!(echo.health().unwrap(), warden::HealthStatus::Healthy));
    echo.shutdown();
    // After shutdown the plugin can still be called: a new instance is made.
    assert_eq!(echo.handle("echo", b"x").unwrap(), b"x");
}

fn connection(client: &str) -> warden::ConnectionInfo {
    warden::ConnectionInfo {
        client_addr: client.into(),
        server_addr: "127.0.0.1:8080".into(),
        tls: false,
        server_name: None,
    }
}

#[test]
fn connect_capture_and_rule_match_hooks() {
    use std::time::Duration;
    use warden::{ConnectAction, Exchange, HealthStatus, RuleEvent};
    let (_d, observer) = load(warden_fixtures::OBSERVER, "");
    assert_eq!(
        observer.exports(),
        [Interface::Lifecycle, Interface::Connect, Interface::Capture, Interface::RuleMatch]
    );
    assert!(matches!(observer.on_connect(&connection("127.0.0.1:5000")).unwrap(), ConnectAction::Allow));
    match observer.on_connect(&connection("10.1.2.3:5000")).unwrap() {
        ConnectAction::Deny(reason) => assert_eq!(reason, "private clients not served"),
        other => panic!("{other:?}"),
    }

    assert!(matches!(observer.health().unwrap(), HealthStatus::Healthy));
    let exchange =
        Exchange::new(ctx(), get("/captured"), Response::new(StatusCode::CREATED, "made"), Duration::from_micros(42));
    observer.on_capture(&exchange).unwrap();
    match observer.health().unwrap() {
        HealthStatus::Degraded(reason) => assert_eq!(reason, "last capture: /captured"),
        other => panic!("{other:?}"),
    }

    let event = |rule: &str| {
        let request = Request::new(Method::POST, "/admin".parse().unwrap());
        RuleEvent::new(ctx(), rule, request, vec![("path".into(), "/admin".into())])
    };
    observer.on_rule_match(&event("audit")).unwrap();
    let err = observer.on_rule_match(&event("fail")).unwrap_err();
    assert!(
        matches!(&err, Error::Plugin { hook: Hook::OnRuleMatch, code, message, .. }
        if code == "rule-failed" && message == "rule fail on /admin"),
        "{err:?}"
    );
    assert!(matches!(observer.handle("x", b""), Err(Error::HookNotExported { .. })));
}
