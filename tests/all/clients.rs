//! Clients that are slow, idle, many or confusing, against a real gateway
//! on loopback with raw sockets: the header-read, idle, body-read and write
//! timeouts, the connection limit, the request path rule and the header
//! limits.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use warden_fixtures::http::TestServer;

use crate::gateway::{GW, Harness, gw_plugin, request, send_raw};

/// `[server]` for these tests: loopback, no watcher, no access log, plus `extra`.
fn server(extra: &str) -> String {
    format!("[server]\nlisten = \"127.0.0.1:0\"\nwatch = false\naccess-log = false\n{extra}\n")
}

const RESPOND: &str = "[[route]]\nname = \"api\"\npath = \"/api\"\non-request = [\"gw\"]\n";

/// Waits (up to `limit`) until the server closes `stream`; returns how long
/// that took, or `None` if it stayed open. Whatever the server sent first
/// is read and dropped.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    stream.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut buf = [0u8; 64 << 10];
    while start.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Some(start.elapsed()), // reset
        }
    }
    None
}

/// A gateway metric's value from the admin API.
fn metric(h: &Harness, name: &str) -> f64 {
    let text = h.admin("GET", "/metrics").text();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

/// One keep-alive request on `stream`; returns the status line.
fn keep_alive_request(stream: &mut TcpStream, addr: SocketAddr) -> String {
    write!(stream, "GET /api HTTP/1.1\r\nhost: {addr}\r\ncontent-length: 0\r\n\r\n").unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // The gateway fixture answers an empty body with content-length: 0.
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).expect("a response");
        assert!(n > 0, "closed instead of answering: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).lines().next().unwrap_or_default().to_owned()
}

/// A client trickling its request head one byte at a time is cut at the
/// header-read timeout, however steadily it sends; a kept-alive connection
/// waiting for its next request is closed at the idle timeout.
#[test]
fn slow_heads_and_idle_connections_are_closed() {
    let h = Harness::start(
        |p| gw_plugin(p, "gw", GW),
        &format!("{}{RESPOND}", server("header-read-timeout = \"600ms\"\nidle-timeout = \"400ms\"")),
    );
    let mut slow = TcpStream::connect(h.addr).unwrap();
    let head = b"GET /api HTTP/1.1\r\nhost: x\r\nx-slow: ";
    let start = Instant::now();
    let mut cut = false;
    for byte in head.iter().chain(b"abcdefghijklmnopqrstuvwxyz".iter().cycle()).take(200) {
        if slow.write_all(&[*byte]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        if start.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    assert!(cut || closed_within(&mut slow, Duration::from_secs(2)).is_some(), "a trickled head was never cut");
    assert!(start.elapsed() < Duration::from_secs(5), "cut after {:?}", start.elapsed());

    // Kept alive: a second request within the idle time is served; then the
    // connection closes by itself.
    let mut conn = TcpStream::connect(h.addr).unwrap();
    assert!(keep_alive_request(&mut conn, h.addr).starts_with("HTTP/1.1 200"));
    std::thread::sleep(Duration::from_millis(150));
    assert!(keep_alive_request(&mut conn, h.addr).starts_with("HTTP/1.1 200"));
    let closed = closed_within(&mut conn, Duration::from_secs(5));
    assert!(closed.is_some(), "an idle keep-alive connection stayed open");
    // A connection that never sends anything gets the header-read timeout.
    let mut silent = TcpStream::connect(h.addr).unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(5)).is_some());
    assert_eq!(h.request("GET", "/api", &[], b"").status, 200, "normal clients are served throughout");
}

/// A request body that does not arrive in time gets 408, whether a plugin
/// needs it whole or it streams to an upstream.
#[test]
fn slow_bodies_get_408() {
    let up = TestServer::start();
    let h = Harness::start(
        |p| gw_plugin(p, "gw", GW),
        &format!(
            "{}{RESPOND}[[route]]\nname = \"up\"\npath = \"/up\"\nstrip-prefix = true\nupstream = \"http://{}\"\n",
            server("body-read-timeout = \"300ms\""),
            up.addr()
        ),
    );
    for path in ["/api", "/up/echo"] {
        let mut conn = TcpStream::connect(h.addr).unwrap();
        write!(conn, "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nonly ten..").unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut answer = String::new();
        let _ = conn.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer:?}");
        assert!(answer.contains("request body not received in time"), "{answer}");
    }
    assert_eq!(h.manager().info("gw").unwrap().stats.calls, 0, "no plugin saw a partial body");
}

/// A client that stops reading its response is cut at the write timeout,
/// and its connection slot is freed.
#[test]
fn clients_that_stop_reading_are_cut() {
    let up = TestServer::start();
    let h = Harness::start(
        |_| {},
        &format!(
            "{}[[route]]\nname = \"up\"\npath = \"/\"\nupstream = \"http://{}\"\n",
            server("write-timeout = \"300ms\""),
            up.addr()
        ),
    );
    let mut conn = TcpStream::connect(h.addr).unwrap();
    write!(conn, "GET /big/{} HTTP/1.1\r\nhost: x\r\n\r\n", 32 << 20).unwrap();
    // Never read: the socket buffers fill, writes stall, the timeout cuts.
    let start = Instant::now();
    while metric(&h, "warden_connections_open") > 0.0 {
        assert!(start.elapsed() < Duration::from_secs(20), "the stalled connection was never cut");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(h.request("GET", "/hello", &[], b"").status, 200);
    drop(conn);
}

/// Past `max-connections` the gateway stops accepting; waiting clients are
/// served as soon as slots free up (here, when silent clients time out).
#[test]
fn connections_beyond_the_limit_wait_and_are_served() {
    let h = Harness::start(
        |p| gw_plugin(p, "gw", GW),
        &format!("{}{RESPOND}", server("max-connections = 4\nheader-read-timeout = \"500ms\"")),
    );
    let silent: Vec<TcpStream> = (0..12).map(|_| TcpStream::connect(h.addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(100));
    assert!(metric(&h, "warden_connections_open") <= 4.0, "more connections accepted than the limit");
    let addr = h.addr;
    let served: Vec<u16> = (0..3)
        .map(|_| std::thread::spawn(move || request(addr, "GET", "/api", &[], b"").status))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert_eq!(served, [200, 200, 200]);
    drop(silent);
}

/// The path rule: a path that an upstream could resolve to another route's
/// path is refused before routing; encoded unreserved characters are
/// decoded first, so routing sees what the upstream will.
#[test]
fn confusing_paths_are_refused_and_routing_sees_the_normal_form() {
    let up = TestServer::start();
    let h = Harness::start(
        |p| gw_plugin(p, "gw", GW),
        &format!(
            "[[route]]\nname = \"admin\"\npath = \"/admin\"\nupstream = \"http://{0}/echo\"\non-request = [\"gw\"]\n\
             [[route]]\nname = \"slow\"\npath = \"/slow\"\nupstream = \"http://{0}/echo\"\n\
             [[route]]\nname = \"open\"\npath = \"/open\"\nupstream = \"http://{0}/echo\"\non-request = [\"gw\"]\n",
            up.addr()
        ),
    );
    for path in [
        "/slow/../admin",
        "/slow/%2e%2e/admin",
        "/slow/%2E./admin",
        "/slow/..%2fadmin",
        "/slow%2F..%2Fadmin",
        "/slow/..%5cadmin",
        "//admin",
        "/slow//admin",
        "/slow/./admin",
        "/admin;x",
        "/slow/..;/admin",
        "/slow/%00",
        "/slow/%zz",
    ] {
        let r = h.request("POST", path, &[], b"");
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        assert!(r.text().starts_with("bad request: the request path"), "{path}: {}", r.text());
    }
    assert_eq!(up.requests(), 0, "no confusing path reached the upstream");

    // `/%61dmin` is `/admin`: it takes the admin route, whose plugin runs.
    let r = h.request("GET", "/%61dmin", &[("x-test", "respond")], b"");
    assert_eq!((r.status, r.text().as_str()), (200, "from gw"));
    // Forwarded in the normal form, query untouched.
    let r = h.request("GET", "/slow/a%3a%7e?q=%2e%2e", &[], b"");
    assert_eq!(r.json()["path"], "/echo/slow/a%3A~?q=%2e%2e");
    // A plugin's rewritten target obeys the same rule.
    let r = h.request("GET", "/open/x", &[("x-test", "rewrite"), ("x-target", "/open/../admin")], b"");
    assert_eq!(r.status, 500);
    let r = h.request("GET", "/open/x", &[("x-test", "rewrite"), ("x-target", "/open/y")], b"");
    assert_eq!(r.json()["path"], "/echo/open/y");
    assert_eq!(up.requests(), 2);
}

/// `max-headers` bounds the headers of a request, and of what plugins
/// return; a plugin's header flood is a 500 for the client, never a
/// dropped connection.
#[test]
fn header_counts_are_bounded_for_clients_and_plugins() {
    let h = Harness::start(|p| gw_plugin(p, "gw", GW), &format!("{}{RESPOND}", server("max-headers = 20")));
    let many: Vec<(String, String)> = (0..20).map(|i| (format!("x-h{i}"), "1".to_owned())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // The helper adds host, connection and content-length.
    assert_eq!(h.request("GET", "/api", &many[..17], b"").status, 200);
    assert_eq!(h.request("GET", "/api", &many, b"").status, 431);

    for (count, status) in [("20", 200), ("21", 500), ("30000", 500)] {
        let r = h.request("GET", "/api", &[("x-test", "many-headers"), ("x-count", count)], b"");
        assert_eq!(r.status, status, "a response with {count} headers");
    }
    // A changed request keeps its four headers and gets `count` more.
    for (count, status) in [("16", 200), ("17", 500), ("30000", 500)] {
        let raw = format!(
            "GET /api HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx-test: many-request-headers\r\nx-count: {count}\r\n\r\n"
        );
        assert_eq!(send_raw(h.addr, raw.as_bytes()).unwrap().status, status, "a request with {count} more headers");
    }
}
