//! Hook calls, results, permissions, instance policy, lifecycle.

use warden::{CallContext, Error, Hook, HttpRequest, HttpResponse, Interface, RequestAction, ResponseAction};
use warden_fixtures::{ECHO, MALICIOUS};

use crate::common::{assert_still_serves, load, plugin_dir, runtime};

fn ctx() -> CallContext {
    CallContext::new("test-1")
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
    let err = plugin.on_request(&ctx(), &HttpRequest::new("GET", "/")).unwrap_err();
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
    let req = |uri: &str| HttpRequest::new("GET", uri);
    assert!(matches!(echo.on_request(&ctx(), &req("/anything")).unwrap(), RequestAction::Continue(None)));
    match echo.on_request(&ctx(), &req("/respond")).unwrap() {
        RequestAction::Respond(resp) => {
            assert_eq!(resp.status, 200);
            assert_eq!(resp.body, b"hi");
            assert_eq!(resp.header("Content-Type"), Some("text/plain"));
        }
        other => panic!("{other:?}"),
    }
    match echo.on_request(&ctx(), &req("/reject")).unwrap() {
        RequestAction::Reject(r) => assert_eq!((r.status, r.reason.as_str()), (403, "nope")),
        other => panic!("{other:?}"),
    }
    let err = echo.on_request(&ctx(), &req("/error")).unwrap_err();
    assert!(
        matches!(&err, Error::Plugin { code, message, .. } if code == "boom" && message == "on-request failed"),
        "{err:?}"
    );
}

#[test]
fn modifying_without_permission_is_denied() {
    let (_d, echo) = load(ECHO, "");
    let original = HttpRequest::new("GET", "/modify");
    let err = echo.on_request(&ctx(), &original).unwrap_err();
    assert!(
        matches!(&err, Error::CapabilityDenied { permission, .. } if permission.contains("modify-request")),
        "{err:?}"
    );
    // The caller still holds the original, untouched.
    assert!(original.headers.is_empty());
    let resp = HttpResponse::new(200, "ok");
    let err = echo.on_response(&ctx(), &original.head(), &resp).unwrap_err();
    assert!(matches!(err, Error::CapabilityDenied { .. }), "{err:?}");
}

#[test]
fn modifying_with_permission_is_allowed() {
    let (_d, echo) = load(ECHO, "[permissions]\nmodify-request = true\nmodify-response = true");
    match echo.on_request(&ctx(), &HttpRequest::new("GET", "/modify")).unwrap() {
        RequestAction::Continue(Some(req)) => assert_eq!(req.header("x-modified"), Some("1")),
        other => panic!("{other:?}"),
    }
    let resp = HttpResponse::new(200, "ok");
    match echo.on_response(&ctx(), &HttpRequest::new("GET", "/modify").head(), &resp).unwrap() {
        ResponseAction::Continue(Some(r)) => assert_eq!(r.header("x-modified"), Some("1")),
        other => panic!("{other:?}"),
    }
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
    let exchange = Exchange {
        context: ctx(),
        request: HttpRequest::new("GET", "/captured"),
        response: HttpResponse::new(201, "made"),
        duration_us: 42,
    };
    observer.on_capture(&exchange).unwrap();
    match observer.health().unwrap() {
        HealthStatus::Degraded(reason) => assert_eq!(reason, "last capture: /captured"),
        other => panic!("{other:?}"),
    }

    let event = |rule: &str| RuleEvent {
        context: ctx(),
        rule: rule.into(),
        request: HttpRequest::new("POST", "/admin"),
        details: vec![("path".into(), "/admin".into())],
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
