//! The HTTP gateway end to end: a real `warden_gateway` on loopback, real
//! plugins (the `gateway-guest` fixture under several names), a real
//! upstream HTTP server on loopback, and a plain TCP client.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;
use warden_fixtures::http::TestServer;
use warden_gateway::{GatewayConfig, Running};

/// A gateway started in-process on a free loopback port.
pub struct Harness {
    rt: tokio::runtime::Runtime,
    running: Option<Running>,
    pub dir: TempDir,
    pub addr: SocketAddr,
    pub admin: Option<SocketAddr>,
    pub token: String,
}

/// Writes a plugin folder `name` holding the gateway fixture with
/// `extra` manifest TOML (its `[config] name` is the folder name).
pub fn gw_plugin(plugins: &Path, name: &str, extra: &str) {
    write_plugin(plugins, name, warden_fixtures::GATEWAY_GUEST, extra);
}

pub fn write_plugin(plugins: &Path, name: &str, wasm: &str, extra: &str) {
    let dir = plugins.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(wasm, dir.join("plugin.wasm")).unwrap();
    let config = if extra.contains("[config]") { String::new() } else { format!("[config]\nname = \"{name}\"\n") };
    let manifest =
        format!("[plugin]\nname = \"{name}\"\nversion = \"1.0.0\"\ncomponent = \"plugin.wasm\"\n{extra}\n{config}");
    std::fs::write(dir.join("plugin.toml"), manifest).unwrap();
}

/// Standard test manifest bits: one instance (so captures land in one
/// place), a short timeout, request/response changes allowed.
pub const GW: &str = "[permissions]\nmodify-request = true\nmodify-response = true\n[limits]\nmax-instances = 1\ntimeout = \"200ms\"\nmax-wait = \"2s\"\n";

impl Harness {
    /// Starts a gateway whose config is `[server]` basics plus `config`;
    /// `plugins` writes the plugin folders first.
    pub fn start(plugins: impl FnOnce(&Path), config: &str) -> Harness {
        match Harness::try_start(plugins, config) {
            Ok(h) => h,
            Err(e) => panic!("gateway did not start: {e}"),
        }
    }

    pub fn try_start(plugins: impl FnOnce(&Path), config: &str) -> Result<Harness, warden_gateway::GatewayError> {
        let dir = TempDir::new().unwrap();
        let plugin_dir = dir.path().join("plugins");
        std::fs::create_dir_all(&plugin_dir).unwrap();
        plugins(&plugin_dir);
        std::fs::write(dir.path().join("token"), "test-token-0123456789abcdef\n").unwrap();
        let server = if config.contains("[server]") {
            String::new()
        } else {
            "[server]\nlisten = \"127.0.0.1:0\"\nwatch = false\naccess-log = false\n".to_owned()
        };
        let admin = if config.contains("[admin]") {
            String::new()
        } else {
            "[admin]\nlisten = \"127.0.0.1:0\"\ntoken-file = \"token\"\n".to_owned()
        };
        let text = format!("{server}{config}\n{admin}");
        let file = dir.path().join("gateway.toml");
        std::fs::write(&file, &text).unwrap();
        let config = GatewayConfig::from_file(&file)?;
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let running = rt.block_on(warden_gateway::start(config))?;
        Ok(Harness {
            addr: running.addr(),
            admin: running.admin_addr(),
            token: running.admin_token().unwrap_or_default().to_owned(),
            running: Some(running),
            rt,
            dir,
        })
    }

    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        request(self.addr, method, path, headers, body)
    }

    /// An admin API call with the right token.
    pub fn admin(&self, method: &str, path: &str) -> Reply {
        let auth = format!("Bearer {}", self.token);
        request(self.admin.expect("admin enabled"), method, path, &[("authorization", &auth)], b"")
    }

    /// The gateway's plugin manager.
    pub fn manager(&self) -> warden::PluginManager {
        self.running.as_ref().unwrap().gateway().manager().clone()
    }

    /// Calls handler `action` of plugin `name` until `pred` holds on its
    /// lines (or 5 s pass); returns the lines.
    pub fn wait_for(&self, name: &str, action: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let out = self.manager().handle(name, action, b"").unwrap();
            let lines: Vec<Value> = String::from_utf8(out)
                .unwrap()
                .lines()
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            if pred(&lines) || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the gateway; returns whether every request drained in time.
    pub fn shutdown(mut self) -> bool {
        let running = self.running.take().unwrap();
        self.rt.block_on(running.shutdown())
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            self.rt.block_on(running.shutdown());
        }
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// One request on a fresh connection (`Connection: close`).
pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding")) {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body);
    send_raw(addr, &raw).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// Writes `raw` and reads the response until the server closes.
pub fn send_raw(addr: SocketAddr, raw: &[u8]) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(raw)?;
    let mut reader = BufReader::new(stream);
    read_response(&mut reader)
}

pub fn read_response(reader: &mut impl BufRead) -> std::io::Result<Reply> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed without a response"));
    }
    let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let find = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v): &(String, String)| v.clone());
    let mut body = Vec::new();
    if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            if size == 0 {
                break;
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(n) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(n, 0);
        reader.read_exact(&mut body)?;
    } else {
        reader.read_to_end(&mut body)?;
    }
    Ok(Reply { status, headers, body })
}

fn header_of<'a>(echo: &'a Value, name: &str) -> Option<&'a str> {
    echo["headers"].as_array()?.iter().find(|h| h[0] == name).and_then(|h| h[1].as_str())
}

fn one_plugin(plugins: &Path) {
    gw_plugin(plugins, "gw", GW);
}

const RESPOND: &str = "[[route]]\nname = \"api\"\npath = \"/api\"\non-request = [\"gw\"]\n";

#[test]
fn respond_mode_answers_with_the_processed_request() {
    let h = Harness::start(one_plugin, RESPOND);
    let r = h.request("POST", "/api/orders", &[("content-type", "application/json")], br#"{"a":1}"#);
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), r#"{"a":1}"#);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-request-id").map(str::len), Some(24));

    let r = h.request("POST", "/api/orders", &[("x-test", "modify"), ("x-request-id", "my-id-1")], b"hello");
    assert_eq!((r.status, r.text().as_str()), (200, "HELLO"));
    assert_eq!(r.header("x-request-id"), Some("my-id-1"), "the client's request id is kept");
}

#[test]
fn plugins_reject_respond_and_short_circuit() {
    let h = Harness::start(
        |p| {
            gw_plugin(p, "first", GW);
            gw_plugin(p, "second", GW);
        },
        "[[route]]\nname = \"api\"\npath = \"/\"\non-request = [\"first\", \"second\"]\n",
    );
    let r = h.request("GET", "/x", &[("x-test", "reject")], b"");
    assert_eq!((r.status, r.text().as_str()), (403, "nope\n"));
    let r = h.request("GET", "/x", &[("x-test", "respond")], b"");
    assert_eq!((r.status, r.text().as_str()), (200, "from first"), "the first plugin answers; the second never runs");
    assert_eq!(h.manager().info("second").unwrap().stats.calls, 0);
    let r = h.request("GET", "/x", &[("x-test", "modify")], b"abc");
    assert_eq!(r.text(), "ABC", "both plugins ran in order (uppercasing twice changes nothing)");
    assert_eq!(h.manager().info("second").unwrap().stats.calls, 1);
}

#[test]
fn failures_follow_the_per_plugin_policy_and_never_leak_details() {
    let h = Harness::start(
        |p| {
            gw_plugin(p, "closed", GW);
            gw_plugin(p, "open", GW);
        },
        "[[route]]\nname = \"closed\"\npath = \"/closed\"\non-request = [\"closed\"]\n\
         [[route]]\nname = \"open\"\npath = \"/open\"\non-request = [{ plugin = \"open\", on-error = \"fail-open\" }]\n",
    );
    for test in ["error", "panic", "sleep", "bad-reject"] {
        let r = h.request("POST", "/closed", &[("x-test", test)], b"body");
        assert_eq!(r.status, 500, "{test}: {}", r.text());
        assert_eq!(r.text(), "internal error\n", "{test}: no internals in the answer");
        let r = h.request("POST", "/open", &[("x-test", test)], b"body");
        assert_eq!((r.status, r.text().as_str()), (200, "body"), "{test}: fail-open skips the plugin");
    }
    // The plugin still serves after its traps.
    let r = h.request("POST", "/closed", &[("x-test", "respond")], b"");
    assert_eq!(r.text(), "from closed");
}

#[test]
fn fuel_metering_can_be_turned_off() {
    let server = "[server]\nlisten = \"127.0.0.1:0\"\nwatch = false\naccess-log = false\nfuel = false\n";
    let h = Harness::start(one_plugin, &format!("{server}{RESPOND}"));
    let r = h.request("POST", "/api/orders", &[("x-test", "modify")], b"hello");
    assert_eq!((r.status, r.text().as_str()), (200, "HELLO"));
    assert_eq!(h.manager().info("gw").unwrap().stats.fuel_consumed, 0, "nothing metered");
    drop(h);

    // A plugin with a fuel limit needs metering: refused without it, naming the fix.
    let metered = |p: &Path| gw_plugin(p, "gw", &format!("{GW}fuel = 100000000\n"));
    let err = Harness::try_start(metered, &format!("{server}{RESPOND}")).err().expect("the start fails");
    let text = err.to_string();
    assert!(text.contains("gw") && text.contains("[server] fuel = true"), "{text}");
    // Metering is on by default.
    let h = Harness::start(metered, RESPOND);
    assert_eq!(h.request("POST", "/api", &[], b"x").status, 200);
    assert!(h.manager().info("gw").unwrap().stats.fuel_consumed > 0);
}

#[test]
fn unavailable_plugins_give_503_when_fail_closed() {
    let h = Harness::start(one_plugin, RESPOND);
    h.manager().disable("gw").unwrap();
    let r = h.request("GET", "/api", &[], b"");
    assert_eq!((r.status, r.text().as_str()), (503, "service unavailable\n"));
    h.manager().enable("gw").unwrap();
    assert_eq!(h.request("GET", "/api", &[], b"").status, 200);
}

/// A chunked POST to `path` (with `headers`, each ending in CRLF) of
/// `chunks` chunks of `size` bytes, with no length given up front.
fn chunked_post(path: &str, headers: &str, chunks: usize, size: usize) -> Vec<u8> {
    let head =
        format!("POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{headers}transfer-encoding: chunked\r\n\r\n");
    let mut raw = head.into_bytes();
    for _ in 0..chunks {
        raw.extend_from_slice(format!("{size:x}\r\n").as_bytes());
        raw.extend(std::iter::repeat_n(b'b', size));
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    raw
}

#[test]
fn bodies_over_max_body_get_413_before_any_plugin() {
    let h = Harness::start(
        one_plugin,
        &format!("[server]\nlisten = \"127.0.0.1:0\"\nwatch = false\nmax-body = \"1 KiB\"\n{RESPOND}"),
    );
    let big = vec![b'a'; 2000];
    let r = h.request("POST", "/api", &[], &big);
    assert_eq!((r.status, r.text().as_str()), (413, "request body too large\n"));
    // Chunked, with no length given up front.
    assert_eq!(send_raw(h.addr, &chunked_post("/api", "", 4, 600)).unwrap().status, 413);
    assert_eq!(h.manager().info("gw").unwrap().stats.calls, 0, "no plugin saw an oversized body");
    let ok = h.request("POST", "/api", &[], &vec![b'a'; 1024]);
    assert_eq!(ok.status, 200, "exactly max-body is fine");
}

#[test]
fn routes_match_on_prefix_segments_methods_and_hosts() {
    let h = Harness::start(
        one_plugin,
        "[[route]]\nname = \"posts\"\npath = \"/api\"\nmethods = [\"POST\"]\non-request = [\"gw\"]\n\
         [[route]]\nname = \"host\"\npath = \"/\"\nhost = \"*.example.com\"\non-request = [\"gw\"]\n",
    );
    assert_eq!(h.request("POST", "/api/x", &[("x-test", "respond")], b"").status, 200);
    assert_eq!(h.request("GET", "/api/x", &[], b"").status, 404, "method not in the route");
    assert_eq!(h.request("POST", "/apix", &[], b"").status, 404, "prefix on a segment boundary only");
    let raw = b"GET /any HTTP/1.1\r\nhost: a.example.com:8080\r\nconnection: close\r\nx-test: context\r\n\r\n";
    let r = send_raw(h.addr, raw).unwrap();
    assert_eq!(r.json()["route"], "host");
    let raw = b"GET /any HTTP/1.1\r\nhost: evil-example.com\r\nconnection: close\r\n\r\n";
    assert_eq!(send_raw(h.addr, raw).unwrap().status, 404);
}

#[test]
fn proxy_forwards_with_clean_headers_and_trace_context() {
    let up = TestServer::start();
    let h = Harness::start(
        one_plugin,
        &format!(
            "[[route]]\nname = \"proxy\"\npath = \"/svc\"\nupstream = \"http://{}/echo-hop\"\nstrip-prefix = true\n\
             on-request = [\"gw\"]\non-response = [\"gw\"]\n",
            up.addr()
        ),
    );
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let r = h.request(
        "POST",
        "/svc/users?id=7",
        &[("traceparent", tp), ("connection", "close, x-secret"), ("x-secret", "1"), ("x-test", "modify-response")],
        b"payload",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let echo = r.json();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/echo-hop/users?id=7", "prefix stripped, base path and query kept");
    assert_eq!(echo["body"], "payload");
    let sent_tp = header_of(&echo, "traceparent").unwrap();
    assert!(sent_tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "same trace: {sent_tp}");
    assert!(!sent_tp.contains("00f067aa0ba902b7"), "the gateway's own span is the parent");
    assert_eq!(header_of(&echo, "x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(header_of(&echo, "x-forwarded-host"), Some(h.addr.to_string().as_str()));
    assert!(header_of(&echo, "x-secret").is_none(), "fields named in Connection are hop-by-hop");
    assert_eq!(header_of(&echo, "x-request-id"), r.header("x-request-id"));
    assert_eq!(r.header("x-upstream"), Some("yes"));
    assert!(r.header("x-hop").is_none(), "the upstream's hop-by-hop fields stay on its hop");
    assert_eq!(r.header("x-seen-by"), Some("gw"), "on-response ran");
}

#[test]
fn proxy_streams_bodies_and_reports_upstream_failures() {
    let up = TestServer::start();
    let dead = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap(); // closed again: refuses
    let h = Harness::start(
        |_| {},
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nwatch = false\nmax-body = \"512 KiB\"\n\
             [[route]]\nname = \"up\"\npath = \"/up\"\nstrip-prefix = true\nupstream = \"http://{}\"\nupstream-timeout = \"500ms\"\n\
             [[route]]\nname = \"dead\"\npath = \"/dead\"\nupstream = \"http://{dead}\"\n",
            up.addr()
        ),
    );
    let body = vec![b'z'; 200_000];
    let r = h.request("PUT", "/up/echo", &[], &body);
    assert_eq!(r.json()["body"].as_str().map(str::len), Some(200_000), "no plugins: streamed through");
    assert_eq!(h.request("GET", "/up/big/300000", &[], b"").body.len(), 300_000);
    let r = h.request("GET", "/up/slow/1500", &[], b"");
    assert_eq!((r.status, r.text().as_str()), (504, "upstream timed out\n"));
    let r = h.request("GET", "/dead", &[], b"");
    assert_eq!((r.status, r.text().as_str()), (502, "upstream unavailable\n"));
    // max-body bounds only bodies read into memory; nothing reads this one.
    let r = h.request("PUT", "/up/echo", &[], &vec![b'z'; 600 * 1024]);
    assert_eq!(r.json()["body"].as_str().map(str::len), Some(600 * 1024));
}

/// Plugins that only look at headers let a body of any size stream to the
/// upstream; once one reads the body, `max-body` bounds it (413), and a
/// body read once is what the next plugins and the upstream get.
#[test]
fn max_body_bounds_only_bodies_a_plugin_reads() {
    let up = TestServer::start();
    let h = Harness::start(
        |p| ["a", "b"].into_iter().for_each(|name| gw_plugin(p, name, GW)),
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nwatch = false\nmax-body = \"1 KiB\"\n\
             [[route]]\nname = \"up\"\npath = \"/echo\"\nupstream = \"http://{}\"\non-request = [\"a\", \"b\"]\n",
            up.addr()
        ),
    );
    let big = vec![b'q'; 64 * 1024];
    let r = h.request("POST", "/echo", &[("x-test", "pass")], &big);
    assert_eq!((r.status, r.json()["body"].as_str().map(str::len)), (200, Some(64 * 1024)), "streamed past max-body");
    let r = h.request("POST", "/echo", &[("x-test", "read-body")], &big);
    assert_eq!((r.status, r.text().as_str()), (413, "request body too large\n"));
    let r = h.request("POST", "/echo", &[("x-test", "read-body")], b"small");
    assert_eq!(r.json()["body"], "small", "read by both plugins, then forwarded");
    // Without a length up front, the limit holds while reading.
    let raw = chunked_post("/echo", "x-test: read-body\r\n", 4, 600);
    assert_eq!(send_raw(h.addr, &raw).unwrap().status, 413);
    // A plugin that asks only for the length gets the declared one, unread.
    let r = h.request("POST", "/echo", &[("x-test", "body-length")], &big);
    assert_eq!(r.text(), "65536");
}

/// Sends a 10 KB body in two halves 400 ms apart to a route whose plugin
/// (timeout 200 ms) reads it.
fn slow_upload(addr: SocketAddr) -> Reply {
    let mut conn = TcpStream::connect(addr).unwrap();
    let body = vec![b's'; 10_000];
    write!(
        conn,
        "POST /echo HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx-test: read-body\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    conn.write_all(&body[..5_000]).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    conn.write_all(&body[5_000..]).unwrap();
    read_response(&mut BufReader::new(conn)).unwrap()
}

/// Small bodies are read before the plugins run, so a slow client holds
/// no plugin instance and is not held to a plugin's timeout; with
/// `body-prefetch = 0` the plugin's wait counts against its timeout, and
/// the client (not the plugin) is blamed: 408.
#[test]
fn small_bodies_are_read_before_plugins_so_slow_clients_hold_no_instance() {
    let up = TestServer::start();
    let config = |prefetch: &str| {
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nwatch = false\nbody-prefetch = \"{prefetch}\"\n\
             [[route]]\nname = \"up\"\npath = \"/echo\"\nupstream = \"http://{}\"\non-request = [\"gw\"]\n",
            up.addr()
        )
    };
    let h = Harness::start(one_plugin, &config("64 KiB"));
    let r = slow_upload(h.addr);
    assert_eq!((r.status, r.json()["body"].as_str().map(str::len)), (200, Some(10_000)));

    let h = Harness::start(one_plugin, &config("0"));
    let r = slow_upload(h.addr);
    assert_eq!((r.status, r.text().as_str()), (408, "request body not received in time\n"));
    let stats = h.manager().info("gw").unwrap().stats;
    assert_eq!(
        stats.last_error.map(|e| e.kind),
        Some(warden::ErrorKind::ServiceUnavailable),
        "not the plugin's timeout"
    );
}

#[test]
fn on_connect_plugins_can_refuse_connections() {
    let h = Harness::start(
        |p| gw_plugin(p, "door", &format!("{GW}[config]\nname = \"door\"\ndeny = \"127.0.0.1\"\n")),
        "[server]\nlisten = \"127.0.0.1:0\"\nwatch = false\non-connect = [\"door\"]\n[[route]]\npath = \"/\"\n",
    );
    let err = send_raw(h.addr, b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    assert!(err.is_err(), "connection closed without an answer: {err:?}");
    let metrics = h.admin("GET", "/metrics").text();
    assert!(metrics.contains("warden_connections_denied_total 1"), "{metrics}");
}

#[test]
fn captures_and_rule_matches_arrive_after_the_response() {
    let h = Harness::start(
        one_plugin,
        "[[route]]\nname = \"api\"\npath = \"/api\"\non-capture = [\"gw\"]\n\
         [[rule]]\nname = \"scanner\"\nheader = \"user-agent: *sqlmap*\"\nplugins = [\"gw\"]\n\
         [[rule]]\nname = \"deletes\"\nmethods = [\"DELETE\"]\npath = \"/api/*\"\nplugins = [\"gw\"]\n",
    );
    let r = h.request("POST", "/api/a", &[("user-agent", "sqlmap/1.7")], b"ping");
    assert_eq!(r.status, 200);
    let captures = h.wait_for("gw", "captures", |c| !c.is_empty());
    assert_eq!(captures.len(), 1, "{captures:?}");
    let c = &captures[0];
    assert_eq!(
        (c["method"].as_str(), c["uri"].as_str(), c["status"].as_u64()),
        (Some("POST"), Some("/api/a"), Some(200))
    );
    assert_eq!((c["request_body"].as_str(), c["response_body"].as_str()), (Some("ping"), Some("ping")));
    assert_eq!(c["context"]["request_id"].as_str(), r.header("x-request-id"));
    assert_eq!(c["context"]["route"], "api");

    let rules = h.wait_for("gw", "rules", |r| !r.is_empty());
    assert_eq!(rules.len(), 1, "only the header rule matched: {rules:?}");
    assert_eq!(rules[0]["rule"], "scanner");
    assert_eq!(rules[0]["details"]["header:user-agent"], "sqlmap/1.7");

    h.request("DELETE", "/api/x", &[], b"");
    let rules = h.wait_for("gw", "rules", |r| r.len() == 2);
    assert_eq!(rules[1]["rule"], "deletes");
    assert_eq!(rules[1]["details"]["method"], "DELETE");
}

#[test]
fn plugins_see_the_trace_and_audit_events_carry_it() {
    let h = Harness::start(
        |p| {
            gw_plugin(p, "gw", GW);
            // No modify-request permission: changing the request is a denied capability.
            gw_plugin(p, "strict", "[limits]\nmax-instances = 1\n");
        },
        "[server]\nlisten = \"127.0.0.1:0\"\nwatch = false\naudit-log = \"audit.jsonl\"\n\
         [[route]]\nname = \"api\"\npath = \"/api\"\non-request = [\"gw\"]\n\
         [[route]]\nname = \"strict\"\npath = \"/strict\"\non-request = [\"strict\"]\n",
    );
    let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let r = h.request("GET", "/api", &[("traceparent", tp), ("x-test", "context")], b"");
    let ctx = r.json();
    let seen = ctx["traceparent"].as_str().unwrap();
    assert!(seen.starts_with("00-0af7651916cd43dd8448eb211c80319c-"), "{seen}");
    assert_eq!(ctx["route"], "api");
    assert!(ctx["client"].as_str().unwrap().starts_with("127.0.0.1:"));
    // Without a traceparent the gateway starts a trace.
    let fresh = h.request("GET", "/api", &[("x-test", "context")], b"").json();
    assert!(fresh["traceparent"].as_str().unwrap().len() == 55);

    let r = h.request("GET", "/strict", &[("traceparent", tp), ("x-test", "modify")], b"");
    assert_eq!(r.status, 500);
    let audit = std::fs::read_to_string(h.dir.path().join("audit.jsonl")).unwrap();
    let denied: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event"] == "capability-denied")
        .collect();
    assert_eq!(denied.len(), 1, "{audit}");
    assert_eq!(denied[0]["plugin"], "strict");
    assert_eq!(denied[0]["trace_id"], "0af7651916cd43dd8448eb211c80319c");
}

#[test]
fn admin_api_needs_the_token_and_manages_plugins() {
    let h = Harness::start(one_plugin, RESPOND);
    let admin = h.admin.unwrap();
    assert!(admin.ip().is_loopback());
    assert_eq!(request(admin, "GET", "/plugins", &[], b"").status, 401);
    assert_eq!(
        request(admin, "GET", "/plugins", &[("authorization", "Bearer wrong-token-0123456789")], b"").status,
        401
    );
    assert_eq!(request(admin, "GET", "/metrics", &[], b"").status, 401, "metrics need the token too");

    h.request("GET", "/api", &[], b"");
    let list = h.admin("GET", "/plugins").json();
    let gw = &list["plugins"][0];
    assert_eq!((gw["name"].as_str(), gw["state"].as_str()), (Some("gw"), Some("running")));
    assert_eq!(gw["stats"]["calls"], 1);
    assert_eq!(h.admin("GET", "/plugins/nope").status, 404);

    let r = h.admin("POST", "/plugins/gw/disable");
    assert_eq!((r.status, r.json()["state"].as_str()), (200, Some("disabled")));
    assert_eq!(h.request("GET", "/api", &[], b"").status, 503);
    assert_eq!(h.admin("GET", "/health").status, 503);
    assert_eq!(h.admin("POST", "/plugins/gw/enable").status, 200);
    assert_eq!(h.request("GET", "/api", &[], b"").status, 200);
    assert_eq!(h.admin("POST", "/plugins/gw/reload").status, 200);
    let all = h.admin("POST", "/plugins/reload");
    assert_eq!((all.status, all.json()["plugins"][0]["reloaded"].as_bool()), (200, Some(true)));
    let health = h.admin("GET", "/health");
    assert_eq!((health.status, health.json()["status"].as_str()), (200, Some("ok")));
    assert_eq!(h.admin("DELETE", "/plugins").status, 405);

    let metrics = h.admin("GET", "/metrics");
    assert_eq!(metrics.header("content-type"), Some("text/plain; version=0.0.4"));
    let text = metrics.text();
    for needle in [
        "warden_requests_total{route=\"api\",status=\"200\"} 2",
        "warden_requests_total{route=\"api\",status=\"503\"} 1",
        "warden_pipeline_duration_seconds_count{route=\"api\",hook=\"on-request\"} 3",
        "warden_plugin_calls_total{plugin=\"gw\"}",
        "warden_plugin_up{plugin=\"gw\",state=\"running\"} 1",
        "# TYPE warden_plugin_latency_seconds histogram",
        "warden_plugin_latency_seconds_bucket{plugin=\"gw\",le=\"+Inf\"}",
        "warden_plugin_latency_seconds_sum{plugin=\"gw\"}",
        "warden_plugin_instances{plugin=\"gw\"}",
        "warden_plugin_timeouts_total{plugin=\"gw\"} 0",
        // The call refused while the plugin was disabled is counted.
        "warden_plugin_errors_by_kind_total{plugin=\"gw\",kind=\"unavailable\"} 1",
        "warden_plugin_reloads_total{plugin=\"gw\"} 2",
        "warden_plugin_reload_failures_total{plugin=\"gw\"} 0",
        "warden_connections_open ",
    ] {
        assert!(text.contains(needle), "missing {needle}:\n{text}");
    }
}

/// Admin requests are logged; those that change something, and refused
/// ones, are audited with the client's address.
#[test]
fn admin_requests_are_audited() {
    let h = Harness::start(
        one_plugin,
        &format!("[server]\nlisten = \"127.0.0.1:0\"\nwatch = false\naudit-log = \"audit.jsonl\"\n{RESPOND}"),
    );
    let admin = h.admin.unwrap();
    assert_eq!(request(admin, "POST", "/plugins/gw/disable", &[], b"").status, 401);
    assert_eq!(h.admin("GET", "/plugins").status, 200);
    assert_eq!(h.admin("POST", "/plugins/gw/disable").status, 200);
    assert_eq!(h.admin("DELETE", "/plugins").status, 405);
    let log = std::fs::read_to_string(h.dir.path().join("audit.jsonl")).unwrap();
    let admin: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["event"] == "admin" || l["event"] == "disabled")
        .collect();
    let seen: Vec<(&str, &str, u64, bool)> = admin
        .iter()
        .filter(|l| l["event"] == "admin")
        .map(|l| {
            let f = |k: &str| l[k].as_str().unwrap_or_default();
            (f("method"), f("path"), l["status"].as_u64().unwrap(), l["authorized"].as_bool().unwrap())
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("POST", "/plugins/gw/disable", 401, false),
            ("POST", "/plugins/gw/disable", 200, true),
            ("DELETE", "/plugins", 405, true)
        ],
        "{log}"
    );
    assert!(
        admin
            .iter()
            .filter(|l| l["event"] == "admin")
            .all(|l| l["client"].as_str().is_some_and(|c| c.starts_with("127.0.0.1:")))
    );
    assert_eq!(admin[0]["plugin"], "gw", "the plugin an admin request is about");
    assert!(admin.iter().any(|l| l["event"] == "disabled"));
}

#[test]
fn config_mistakes_name_the_key_and_line() {
    let err = |plugins: fn(&Path), config: &str| match Harness::try_start(plugins, config) {
        Ok(_) => panic!("should not start"),
        Err(e) => e.to_string(),
    };
    let e = err(one_plugin, "[[route]]\nname = \"a\"\npath = \"/\"\non-request = [\"gw\", \"missing\"]\n");
    assert!(e.contains("gateway.toml:8: route[0].on-request[1]: plugin 'missing' is not available"), "{e}");
    assert!(e.contains("loaded from") && e.contains(": gw"), "{e}");
    let e = err(
        |p| write_plugin(p, "logger", warden_fixtures::LOGGER, ""),
        "[[route]]\npath = \"/\"\non-capture = [\"logger\"]\n",
    );
    assert!(e.contains("route[0].on-capture[0]: plugin 'logger' does not export on-capture"), "{e}");
    let e = err(one_plugin, "[[route]]\npath = \"/\"\nupstream = \"http://127.0.0.1:1\"\nmode = \"bogus\"\n");
    assert!(e.contains("gateway.toml:8:8: route[0].mode"), "{e}");
    // A broken plugin folder stops the start and is named.
    let e = err(
        |p| {
            std::fs::create_dir_all(p.join("broken")).unwrap();
            std::fs::write(p.join("broken/plugin.toml"), "[plugin]\nname = 3\n").unwrap();
        },
        "",
    );
    assert!(e.contains("failed to load") && e.contains("broken"), "{e}");
}

#[test]
fn hot_reload_stays_on_while_serving() {
    let h = Harness::start(
        |p| gw_plugin(p, "gw", &format!("{GW}[config]\nname = \"v1\"\n")),
        &format!("[server]\nlisten = \"127.0.0.1:0\"\nwatch = true\n{RESPOND}"),
    );
    assert_eq!(h.request("GET", "/api", &[("x-test", "respond")], b"").text(), "from v1");
    gw_plugin(&h.dir.path().join("plugins"), "gw", &format!("{GW}[config]\nname = \"v2\"\n"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = h.request("GET", "/api", &[("x-test", "respond")], b"");
        assert_eq!(r.status, 200, "no request fails during the reload");
        if r.text() == "from v2" {
            break;
        }
        assert!(Instant::now() < deadline, "the new version never went live");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn shutdown_drains_in_flight_requests() {
    let up = TestServer::start();
    let h = Harness::start(
        |_| {},
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nwatch = false\n[[route]]\npath = \"/\"\nupstream = \"http://{}\"\n",
            up.addr()
        ),
    );
    let addr = h.addr;
    let slow = std::thread::spawn(move || request(addr, "GET", "/slow/1500", &[], b""));
    while up.requests() == 0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(h.shutdown(), "drained within drain-timeout");
    let r = slow.join().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "slow"), "the in-flight request finished");
    assert!(TcpStream::connect(addr).is_err(), "no longer accepting");
}

/// The plugins folder of the demo: each shipped example plugin's manifest
/// with its component built from source.
pub(crate) fn demo_plugins(plugins: &Path) {
    for (name, wasm) in [
        ("logger", warden_fixtures::LOGGER),
        ("validator", warden_fixtures::VALIDATOR),
        ("enricher", warden_fixtures::ENRICHER),
        ("transformer", warden_fixtures::TRANSFORMER),
        ("header-modifier", warden_fixtures::HEADER_MODIFIER),
    ] {
        let shipped = Path::new(warden_fixtures::PLUGINS_DIR).join(name);
        let manifest = warden::Manifest::from_dir(&shipped).unwrap();
        let dir = plugins.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(shipped.join("plugin.toml"), dir.join("plugin.toml")).unwrap();
        std::fs::copy(wasm, dir.join(manifest.component.file_name().unwrap())).unwrap();
    }
}

/// The shipped demo configuration, moved to a free port and a temp folder.
fn demo_config(kv: &str) -> String {
    let text =
        std::fs::read_to_string(Path::new(warden_fixtures::PLUGINS_DIR).join("../examples/gateway.toml")).unwrap();
    text.replace("listen = \"127.0.0.1:8080\"", &format!("listen = \"127.0.0.1:0\"\nkv = \"{kv}\""))
        .replace("listen = \"127.0.0.1:9090\"", "listen = \"127.0.0.1:0\"")
        .replace("plugins = \"../plugins\"", "plugins = \"plugins\"")
        .replace("data-dir = \"../target/warden-demo\"", "data-dir = \"data\"")
        .replace("watch = true", "watch = false")
}

/// The demo's `/orders` route, through the plugins `plugins` puts in place.
pub(crate) fn demo_pipeline_end_to_end(kv: &str, plugins: impl FnOnce(&Path)) {
    let h = Harness::start(plugins, &demo_config(kv));
    let ct = [("content-type", "application/json")];
    let r = h.request("POST", "/orders", &ct, br#"{"user_id":"42","action":"buy","item":"book","password":"hunter2"}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("server"), Some("warden"), "header-modifier ran on the response");
    let body = r.json();
    assert_eq!(body["userId"], "42", "transformer renamed user_id: {body}");
    assert!(body.get("user_id").is_none() && body.get("password").is_none(), "{body}");
    assert_eq!(body["source"], "warden-gateway", "enricher added its config field: {body}");
    assert_eq!(body["profile"], serde_json::json!({"name":"Ann","tier":"gold"}), "enricher looked up user:42: {body}");
    assert_eq!(body["item"], "book");

    let r = h.request("POST", "/orders", &ct, br#"{"action":"buy"}"#);
    assert_eq!((r.status, r.text().as_str()), (422, "missing required field: user_id\n"));
    let r = h.request("POST", "/orders", &[("content-type", "text/plain")], b"hello");
    assert_eq!(r.status, 415);
    let r = h.request("POST", "/orders", &ct, br#"{"user_id":"7","action":"x""#);
    assert_eq!(r.status, 400);
    assert!(!r.text().contains("user_id"), "the body is not echoed in errors: {}", r.text());
    // A user without a profile passes without one.
    let body = h.request("POST", "/orders", &ct, br#"{"user_id":"7","action":"buy"}"#).json();
    assert!(body.get("profile").is_none(), "{body}");
}

#[test]
fn demo_pipeline_with_the_embedded_key_value_store() {
    demo_pipeline_end_to_end("redb", demo_plugins);
}

#[test]
fn demo_pipeline_with_redis() {
    let redis = crate::kv::RedisServer::start();
    demo_pipeline_end_to_end(&format!("redis://127.0.0.1:{}", redis.port), demo_plugins);
}

#[test]
fn outbound_http_follows_the_gateway_address_policy() {
    let up = TestServer::start();
    let plugin = |p: &Path| {
        write_plugin(
            p,
            "fetcher",
            warden_fixtures::FETCHER,
            &format!("[permissions]\nnetwork = [\"http://127.0.0.1:{}\"]\n", up.port()),
        )
    };
    let fetch = |h: &Harness| {
        let payload = format!(r#"{{"url":"http://127.0.0.1:{}/hello"}}"#, up.port());
        h.manager().handle("fetcher", "fetch", payload.as_bytes())
    };
    // Loopback is refused unless the operator allows it...
    let h = Harness::start(plugin, "[[route]]\npath = \"/\"\n");
    match fetch(&h) {
        Err(warden::Error::Plugin { code, .. }) => assert_eq!(code, "capability-denied"),
        other => panic!("expected capability-denied, got {other:?}"),
    }
    assert_eq!(up.requests(), 0, "nothing reached the server");
    drop(h);
    // ...in [outbound] allow-addresses.
    let h = Harness::start(plugin, "[outbound]\nallow-addresses = [\"127.0.0.0/8\"]\n[[route]]\npath = \"/\"\n");
    let out: Value = serde_json::from_slice(&fetch(&h).unwrap()).unwrap();
    assert_eq!(out["status"], 200);
    assert_eq!(up.requests(), 1);
}
