//! Outbound HTTP (`warden:plugin/outbound-http`) end to end: the `fetcher`
//! fixture calls `fetch` against real servers on loopback.
//!
//! Two runtimes: `open()` allows the loopback ranges (as an operator would
//! for local services) and trusts a test CA; `strict()` allows no special
//! range, so loopback is refused even where the manifest lists it. Every
//! server is on 127.0.0.1 or ::1 and every wait is bounded.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;
use warden::{Error, OutboundHttp, Plugin, Runtime};
use warden_fixtures::FETCHER;
use warden_fixtures::http::TestServer;

use crate::common;

/// A test CA and a leaf certificate for 127.0.0.1 signed by it (DER).
struct TestPki {
    ca: Vec<u8>,
    leaf: Vec<u8>,
    key: Vec<u8>,
}

fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| {
        use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name = DistinguishedName::new();
        ca_params.distinguished_name.push(DnType::CommonName, "Warden test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        TestPki { ca: ca.der().to_vec(), leaf: leaf.der().to_vec(), key: key.serialize_der() }
    })
}

fn build(config: OutboundHttp) -> (Runtime, TempDir) {
    let cache = TempDir::new().unwrap();
    let rt = Runtime::builder().cache_dir(cache.path().join("cache")).outbound_http(config).build().unwrap();
    (rt, cache)
}

/// Loopback allowed, the test CA trusted, Mozilla's roots off.
fn open() -> &'static Runtime {
    static RT: OnceLock<(Runtime, TempDir)> = OnceLock::new();
    &RT.get_or_init(|| {
        build(
            OutboundHttp::new()
                .allow_addresses("127.0.0.0/8".parse().unwrap())
                .allow_addresses("::1/128".parse().unwrap())
                .add_root_certificate(pki().ca.clone())
                .webpki_roots(false)
                .connect_timeout(Duration::from_secs(2)),
        )
    })
    .0
}

/// The defaults: no special-purpose range allowed.
fn strict() -> &'static Runtime {
    static RT: OnceLock<(Runtime, TempDir)> = OnceLock::new();
    &RT.get_or_init(|| build(OutboundHttp::new().connect_timeout(Duration::from_secs(2)))).0
}

/// Loads the fetcher on `rt` with `[permissions] network = patterns` and
/// extra manifest TOML.
fn fetcher(rt: &Runtime, patterns: &[String], extra: &str) -> (TempDir, Plugin) {
    let list: Vec<String> = patterns.iter().map(|p| format!("{p:?}")).collect();
    let toml = format!("[permissions]\nnetwork = [{}]\n{extra}", list.join(", "));
    let dir = common::plugin_dir(FETCHER, &toml);
    let plugin = rt.load(dir.path()).unwrap_or_else(|e| panic!("load failed: {e}"));
    (dir, plugin)
}

fn origin(server: &TestServer) -> String {
    server.url("")
}

/// Runs the fetcher's `fetch` action with `request` (JSON).
fn fetch(plugin: &Plugin, request: Value) -> Result<Value, Error> {
    let out = plugin.handle("fetch", request.to_string().as_bytes())?;
    Ok(serde_json::from_slice(&out).unwrap())
}

fn get(plugin: &Plugin, url: &str) -> Result<Value, Error> {
    fetch(plugin, json!({ "url": url }))
}

/// The plugin-error code and message of a failed fetch.
fn refusal(result: Result<Value, Error>) -> (String, String) {
    match result {
        Err(Error::Plugin { code, message, .. }) => (code, message),
        Err(e) => panic!("expected a plugin error, got {e}"),
        Ok(v) => panic!("expected a refusal, got {v}"),
    }
}

fn assert_code(result: Result<Value, Error>, code: &str) -> String {
    let (got, message) = refusal(result);
    assert_eq!(got, code, "{message}");
    message
}

fn header<'a>(echo: &'a Value, name: &str) -> Vec<&'a str> {
    echo["headers"].as_array().unwrap().iter().filter(|h| h[0] == name).map(|h| h[1].as_str().unwrap()).collect()
}

/// The `/echo` answer inside a fetch result.
fn echoed(result: &Value) -> Value {
    assert_eq!(result["status"], 200, "{result}");
    serde_json::from_str(result["body"].as_str().unwrap()).unwrap()
}

#[test]
fn get_round_trip_with_headers() {
    let server = TestServer::start();
    let (_dir, plugin) = fetcher(open(), &[origin(&server)], "");
    let result = fetch(
        &plugin,
        json!({
            "url": server.url("/echo?q=1#frag"),
            "headers": [["X-Test", "one"], ["x-test", "two"], ["Host", "evil.example"],
                        ["Connection", "close, x-drop"], ["x-drop", "1"], ["Transfer-Encoding", "chunked"],
                        ["Upgrade", "h2c"], ["Proxy-Authorization", "secret"], ["TE", "trailers"]],
        }),
    )
    .unwrap();
    let echo = echoed(&result);
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["path"], "/echo?q=1");
    assert_eq!(header(&echo, "x-test"), ["one", "two"]);
    assert_eq!(header(&echo, "host"), [format!("127.0.0.1:{}", server.port())]);
    for dropped in ["x-drop", "transfer-encoding", "upgrade", "proxy-authorization", "te"] {
        assert!(header(&echo, dropped).is_empty(), "{dropped} was forwarded: {echo}");
    }
    assert!(!header(&echo, "connection").contains(&"close, x-drop"));
    let content_type: Vec<&Value> =
        result["headers"].as_array().unwrap().iter().filter(|h| h[0] == "content-type").collect();
    assert_eq!(content_type[0][1], "application/json", "response headers come back");
}

#[test]
fn post_round_trip_with_body() {
    let server = TestServer::start();
    let (_dir, plugin) = fetcher(open(), &[origin(&server)], "");
    let result = fetch(
        &plugin,
        json!({
            "method": "POST",
            "url": server.url("/echo"),
            "headers": [["content-type", "text/plain"], ["content-length", "999"]],
            "body": "hello, server",
        }),
    )
    .unwrap();
    let echo = echoed(&result);
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["body"], "hello, server");
    assert_eq!(header(&echo, "content-length"), ["13"], "the host sets content-length from the body");
    assert_eq!(header(&echo, "content-type"), ["text/plain"]);
}

#[test]
fn https_with_an_operator_root_certificate() {
    let pki = pki();
    let server = TestServer::start_tls(vec![pki.leaf.clone()], pki.key.clone());
    let (_dir, plugin) = fetcher(open(), &[origin(&server)], "");
    assert!(server.url("/").starts_with("https://127.0.0.1:"));
    let echo = echoed(&fetch(&plugin, json!({ "url": server.url("/echo"), "method": "PUT", "body": "tls" })).unwrap());
    assert_eq!((echo["method"].as_str(), echo["body"].as_str()), (Some("PUT"), Some("tls")));

    // A certificate from a CA the runtime does not trust fails the handshake.
    let other_key = rcgen::KeyPair::generate().unwrap();
    let self_signed =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap().self_signed(&other_key).unwrap();
    let untrusted = TestServer::start_tls(vec![self_signed.der().to_vec()], other_key.serialize_der());
    let (_dir, plugin) = fetcher(open(), &[origin(&untrusted)], "");
    let message = assert_code(get(&plugin, &untrusted.url("/hello")), "connect-failed");
    assert!(message.contains("certificate"), "{message}");
}

#[test]
fn ipv6_loopback_when_allowed() {
    let Some(server) = TestServer::start_v6() else {
        eprintln!("no IPv6 loopback on this machine; skipped");
        return;
    };
    let (_dir, plugin) = fetcher(open(), &[origin(&server)], "");
    let result = get(&plugin, &server.url("/hello")).unwrap();
    assert_eq!((result["status"].as_u64(), result["body"].as_str()), (Some(200), Some("hello")));
}

#[test]
fn connections_are_reused_within_and_across_calls() {
    let server = TestServer::start();
    let (_dir, plugin) = fetcher(open(), &[origin(&server)], "");
    fetch(&plugin, json!({ "url": server.url("/hello"), "repeat": 10 })).unwrap();
    for _ in 0..5 {
        get(&plugin, &server.url("/hello")).unwrap();
    }
    assert_eq!(server.requests(), 15);
    // The pool takes a connection back on a task of its own, so under load
    // a request now and then opens a new one; without reuse it would be 15.
    assert!(server.connections() <= 3, "keep-alive: {} connections for 15 requests", server.connections());
}

#[test]
fn no_network_permission_is_denied_with_what_to_add() {
    let server = TestServer::start();
    let (_dir, plugin) = fetcher(open(), &[], "");
    let message = assert_code(get(&plugin, &server.url("/hello")), "capability-denied");
    let port = server.port();
    assert!(message.contains("plugin 'test-plugin'"), "{message}");
    assert!(message.contains(&format!("http://127.0.0.1:{port}")), "{message}");
    assert!(message.contains(&format!("add \"http://127.0.0.1:{port}\" to [permissions] network")), "{message}");
    assert_eq!(server.connections(), 0, "a denied request never reaches the server");
}

/// A plugin's headers are only looked at once its grant allows the URL, and
/// then only up to the operator's count: 30,000 headers once made the host
/// import panic building its header map, even for a plugin without any
/// network permission.
#[test]
fn header_floods_are_refused_without_a_host_panic() {
    let server = TestServer::start();
    let headers: Vec<[&str; 2]> = vec![["x-a", ""]; 30_000];
    let request = json!({ "url": server.url("/echo"), "headers": headers });

    let (_dir, denied) = fetcher(open(), &[], "");
    assert_code(fetch(&denied, request.clone()), "capability-denied");
    assert_eq!(denied.live_instances(), 1, "no instance was lost to a panic");

    let (_dir, allowed) = fetcher(open(), &[origin(&server)], "");
    let message = assert_code(fetch(&allowed, request), "invalid-request");
    assert!(message.contains("30000 headers, more than the 100 this host allows"), "{message}");
    let ok = fetch(&allowed, json!({ "url": server.url("/echo"), "headers": vec![["x-a", "1"]; 90] })).unwrap();
    assert_eq!(header(&echoed(&ok), "x-a").len(), 90);
    assert_eq!(server.requests(), 1, "refused requests never reached the server");
}

#[test]
fn hosts_outside_the_list_are_denied_before_any_lookup() {
    let (_dir, plugin) = fetcher(
        open(),
        &["https://*.example.com".into(), "http://example.org".into(), "http://api.example.net".into()],
        "",
    );
    for url in [
        "https://evil-example.com/",      // suffix trick: not a subdomain
        "https://example.com.evil.test/", // the allowed domain as a prefix
        "https://example.com/",           // the wildcard is for subdomains only
        "http://api.example.org/",        // exact pattern: no subdomains
        "http://example.net/",            // nor the parent
        "http://other.test/",             // not listed at all
        "http://a.example.com/",          // wrong scheme
        "https://a.example.com:8443/",    // wrong port
        "https://a.example.com.:8443/",   // trailing dot, wrong port
    ] {
        let started = Instant::now();
        let message = assert_code(get(&plugin, url), "capability-denied");
        assert!(message.contains("[permissions] network"), "{url}: {message}");
        assert!(started.elapsed() < Duration::from_millis(500), "{url}: refused without DNS");
    }
}

#[test]
fn wrong_port_or_scheme_is_denied() {
    let server = TestServer::start();
    let (_dir, plugin) = fetcher(open(), &[origin(&server)], "");
    let port = server.port();
    let other = if port == u16::MAX { port - 1 } else { port + 1 };
    assert_code(get(&plugin, &format!("http://127.0.0.1:{other}/hello")), "capability-denied");
    assert_code(get(&plugin, &format!("https://127.0.0.1:{port}/hello")), "capability-denied");
    assert_code(get(&plugin, &format!("http://localhost:{port}/hello")), "capability-denied");
    assert_eq!(server.connections(), 0);
}

#[test]
fn loopback_literals_are_refused_unless_the_operator_allows_them() {
    let server = TestServer::start();
    let port = server.port();
    let urls = [
        format!("http://127.0.0.1:{port}"),
        format!("http://[::1]:{port}"),
        format!("http://[::ffff:127.0.0.1]:{port}"),
    ];
    let (_dir, plugin) = fetcher(strict(), &urls, "");
    for url in &urls {
        let message = assert_code(get(&plugin, &format!("{url}/hello")), "capability-denied");
        assert!(message.contains("loopback"), "{message}");
        assert!(message.contains("allow_addresses"), "{message}");
    }
    assert_eq!(server.connections(), 0, "refused before connecting");

    // The same manifest on the runtime that allows loopback connects.
    let (_dir, plugin) = fetcher(open(), &urls, "");
    assert_eq!(get(&plugin, &format!("{}/hello", urls[0])).unwrap()["body"], "hello");
    assert_eq!(get(&plugin, &format!("{}/hello", urls[2])).unwrap()["body"], "hello", "IPv4-mapped ::ffff:127.0.0.1");
}

#[test]
fn names_resolving_to_loopback_are_refused_unless_allowed() {
    let server = TestServer::start();
    let url = format!("http://localhost:{}", server.port());
    let (_dir, plugin) = fetcher(strict(), std::slice::from_ref(&url), "");
    let message = assert_code(get(&plugin, &format!("{url}/hello")), "capability-denied");
    assert!(message.contains("localhost resolves only to addresses"), "{message}");
    assert!(message.contains("loopback"), "{message}");
    assert_eq!(server.connections(), 0, "resolved, refused, never connected");

    let (_dir, plugin) = fetcher(open(), std::slice::from_ref(&url), "");
    assert_eq!(get(&plugin, &format!("{url}/hello")).unwrap()["body"], "hello");
}

#[test]
fn metadata_and_private_addresses_are_refused() {
    let urls =
        ["http://169.254.169.254", "http://[fd00:ec2::254]", "http://10.0.0.1", "http://[::ffff:169.254.169.254]"];
    let patterns: Vec<String> = urls.iter().map(|u| (*u).to_owned()).collect();
    // Even the runtime that allows loopback allows only loopback.
    for rt in [strict(), open()] {
        let (_dir, plugin) = fetcher(rt, &patterns, "");
        for url in urls {
            let started = Instant::now();
            let message = assert_code(get(&plugin, &format!("{url}/latest/meta-data/")), "capability-denied");
            assert!(message.contains("which this host does not allow"), "{message}");
            assert!(started.elapsed() < Duration::from_millis(500), "refused without connecting");
        }
    }
}

#[test]
fn redirects_are_followed_and_rechecked() {
    let a = TestServer::start();
    let b = TestServer::start();
    let (_dir, plugin) = fetcher(open(), &[origin(&a), origin(&b)], "");

    // 302 to another allowed origin: followed as a GET.
    let to_b = a.url(&format!("/redirect/302?to={}", b.url("/echo")));
    let echo = echoed(&fetch(&plugin, json!({ "url": to_b, "method": "POST", "body": "x" })).unwrap());
    assert_eq!((echo["method"].as_str(), echo["body"].as_str()), (Some("GET"), Some("")));

    // 307 and 308 keep the method and body.
    for code in [307, 308] {
        let url = a.url(&format!("/redirect/{code}?to=/echo"));
        let request =
            json!({ "url": url, "method": "POST", "body": "payload", "headers": [["content-type", "text/plain"]] });
        let echo = echoed(&fetch(&plugin, request).unwrap());
        assert_eq!((echo["method"].as_str(), echo["body"].as_str()), (Some("POST"), Some("payload")), "{code}");
        assert_eq!(header(&echo, "content-type"), ["text/plain"]);
    }

    // 303 turns the request into a body-less GET.
    let url = a.url("/redirect/303?to=/echo");
    let request =
        json!({ "url": url, "method": "POST", "body": "payload", "headers": [["content-type", "text/plain"]] });
    let echo = echoed(&fetch(&plugin, request).unwrap());
    assert_eq!((echo["method"].as_str(), echo["body"].as_str()), (Some("GET"), Some("")));
    assert!(header(&echo, "content-type").is_empty());

    // Credentials stay on the same origin and are dropped when it changes.
    let secrets = json!([["authorization", "Bearer s3cret"], ["cookie", "id=1"], ["x-other", "kept"]]);
    let same = echoed(&fetch(&plugin, json!({ "url": a.url("/redirect/302?to=/echo"), "headers": secrets })).unwrap());
    assert_eq!(header(&same, "authorization"), ["Bearer s3cret"]);
    assert_eq!(header(&same, "cookie"), ["id=1"]);
    let cross = echoed(&fetch(&plugin, json!({ "url": to_b, "headers": secrets })).unwrap());
    assert!(header(&cross, "authorization").is_empty() && header(&cross, "cookie").is_empty(), "{cross}");
    assert_eq!(header(&cross, "x-other"), ["kept"]);
    assert_eq!(header(&cross, "host"), [format!("127.0.0.1:{}", b.port())]);
}

#[test]
fn redirects_to_disallowed_targets_are_refused() {
    let a = TestServer::start();
    let b = TestServer::start();
    let (_dir, plugin) = fetcher(open(), &[origin(&a)], "");
    let message =
        assert_code(get(&plugin, &a.url(&format!("/redirect/302?to={}", b.url("/echo")))), "capability-denied");
    assert!(message.contains(&format!("127.0.0.1:{}", b.port())), "{message}");
    assert_eq!(b.connections(), 0, "the disallowed target was never contacted");

    // Allowed by the manifest but on a refused address (no operator range on this runtime).
    let metadata = "http://169.254.169.254/latest/meta-data/";
    let (_dir, plugin) = fetcher(open(), &[origin(&a), "http://169.254.169.254".into()], "");
    let message = assert_code(get(&plugin, &a.url(&format!("/redirect/307?to={metadata}"))), "capability-denied");
    assert!(message.contains("169.254.169.254 is link-local"), "{message}");

    // Scheme changes are checked too.
    let https = format!("https://127.0.0.1:{}/echo", a.port());
    assert_code(get(&plugin, &a.url(&format!("/redirect/301?to={https}"))), "capability-denied");

    // A bad location is a protocol error.
    assert_code(get(&plugin, &a.url("/redirect/302?to=ftp://x/")), "protocol-error");
}

#[test]
fn too_many_redirects() {
    let server = TestServer::start();
    let (_dir, plugin) = fetcher(open(), &[origin(&server)], "");
    let done = get(&plugin, &server.url("/chain/5")).unwrap();
    assert_eq!(done["body"], "done", "five redirects are followed");
    let message = assert_code(get(&plugin, &server.url("/chain/6")), "too-many-redirects");
    assert!(message.contains("after 5 redirects"), "{message}");
}

#[test]
fn request_budget_counts_redirects_and_resets_per_call() {
    let server = TestServer::start();
    let (_dir, plugin) = fetcher(open(), &[origin(&server)], "[limits]\nmax-outbound-requests = 3\n");
    for _ in 0..2 {
        fetch(&plugin, json!({ "url": server.url("/hello"), "repeat": 3 })).expect("3 requests fit, in every call");
    }
    let message = assert_code(fetch(&plugin, json!({ "url": server.url("/hello"), "repeat": 4 })), "budget-exceeded");
    assert!(message.contains("max-outbound-requests"), "{message}");
    assert_eq!(get(&plugin, &server.url("/chain/2")).unwrap()["body"], "done");
    assert_code(get(&plugin, &server.url("/chain/3")), "budget-exceeded");
    assert_eq!(server.requests(), 6 + 3 + 3 + 3, "the request over budget was not sent");
}

#[test]
fn response_body_is_capped() {
    let server = TestServer::start();
    let (_dir, plugin) = fetcher(open(), &[origin(&server)], "[limits]\nmax-outbound-response = 1000\n");
    assert_eq!(get(&plugin, &server.url("/big/1000")).unwrap()["body_len"], 1000);
    let message = assert_code(get(&plugin, &server.url("/big/1001")), "response-too-large");
    assert!(message.contains("1000-byte limit"), "{message}");
    // Without content-length, the cap applies while reading.
    assert_code(get(&plugin, &server.url("/big-chunked/1001")), "response-too-large");
    assert_code(get(&plugin, &server.url("/big-chunked/5000000")), "response-too-large");
    assert_eq!(get(&plugin, &server.url("/big-chunked/999")).unwrap()["body_len"], 999);
}

#[test]
fn slow_server_times_the_call_out() {
    let server = TestServer::start();
    let (_dir, plugin) = fetcher(open(), &[origin(&server)], "[limits]\ntimeout = \"300ms\"\n");
    let started = Instant::now();
    match get(&plugin, &server.url("/slow/5000")) {
        Err(Error::Timeout { timeout, .. }) => assert_eq!(timeout, Duration::from_millis(300)),
        other => panic!("expected a timeout, got {other:?}"),
    }
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(2), "took {took:?}");
    // The trapped instance was discarded; the plugin serves the next call.
    assert_eq!(get(&plugin, &server.url("/hello")).unwrap()["body"], "hello");
}

#[test]
fn invalid_requests() {
    let server = TestServer::start();
    let (_dir, plugin) = fetcher(open(), &[origin(&server)], "");
    let url = server.url("/echo");
    for request in [
        json!({ "url": "/relative" }),
        json!({ "url": "ftp://127.0.0.1/" }),
        json!({ "url": format!("http://user:pw@127.0.0.1:{}/", server.port()) }),
        json!({ "url": url, "method": "GET /x" }),
        json!({ "url": url, "method": "CONNECT" }),
        json!({ "url": url, "headers": [["bad name", "x"]] }),
        json!({ "url": url, "headers": [["x", "a\r\nx-injected: 1"]] }),
    ] {
        assert_code(fetch(&plugin, request), "invalid-request");
    }
    assert_eq!(server.connections(), 0);
}

#[test]
fn unavailable_without_outbound_config() {
    let server = TestServer::start();
    let dir = common::plugin_dir(FETCHER, &format!("[permissions]\nnetwork = [{:?}]\n", origin(&server)));
    let plugin = common::runtime().load(dir.path()).unwrap();
    let message = assert_code(get(&plugin, &server.url("/hello")), "unavailable");
    assert!(message.contains("RuntimeBuilder::outbound_http"), "{message}");
    assert_eq!(server.connections(), 0);
}

#[test]
fn bad_root_certificate_fails_the_build() {
    let err =
        Runtime::builder().outbound_http(OutboundHttp::new().add_root_certificate(b"not a cert".to_vec())).build();
    match err {
        Err(Error::Runtime(message)) => assert!(message.contains("root certificate #1"), "{message}"),
        other => panic!("expected a runtime error, got {other:?}"),
    }
}
