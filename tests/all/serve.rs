//! `warden serve` as an operator runs it: a real process, real signals
//! (SIGTERM drains, SIGHUP reloads), the drain timeout, a low open-file
//! limit, JSON logs and exit codes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::gateway::{GW, gw_plugin, request};

/// A `warden serve` child process; killed if still running when dropped.
pub(crate) struct Served {
    child: Child,
    pub(crate) addr: SocketAddr,
    /// What `warden serve` printed on stdout before serving.
    banner: String,
    stderr: Arc<Mutex<String>>,
    dir: TempDir,
}

impl Served {
    /// Writes `config` (plus plugin folders by `plugins`) and starts
    /// `warden serve` on it, under `ulimit -n files` if given; waits for
    /// the banner.
    pub(crate) fn start(plugins: impl FnOnce(&Path), config: &str, files: Option<u32>) -> Served {
        let dir = TempDir::new().unwrap();
        std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
        plugins(&dir.path().join("plugins"));
        let file = dir.path().join("gateway.toml");
        std::fs::write(&file, format!("[admin]\nenabled = false\n{config}")).unwrap();
        let warden = env!("CARGO_BIN_EXE_warden");
        let mut command = match files {
            // `ulimit -n` sets the soft and the hard limit: warden cannot raise it.
            Some(n) => {
                let mut c = Command::new("sh");
                c.arg("-c").arg(format!("ulimit -n {n} && exec \"$0\" serve --config \"$1\"")).arg(warden).arg(&file);
                c
            }
            None => {
                let mut c = Command::new(warden);
                c.arg("serve").arg("--config").arg(&file);
                c
            }
        };
        let mut child = command.env_remove("WARDEN_LOG").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        // Drain stderr all along, so that logging never blocks the server.
        let stderr = Arc::new(Mutex::new(String::new()));
        let (sink, pipe) = (stderr.clone(), child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut all = sink.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut banner = String::new();
        while !banner.contains("stop with") {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap() == 0 {
                let _ = child.wait();
                panic!("warden serve exited early: {banner}\n{}", stderr.lock().unwrap());
            }
            banner.push_str(&line);
        }
        let addr =
            warden_fixtures::process::listening_addr(&banner).unwrap_or_else(|| panic!("no address in: {banner}"));
        Served { child, addr, banner, stderr, dir }
    }

    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success(), "kill -{name}");
    }

    /// Waits for the process to exit (up to 20 s); its exit code.
    fn wait(&mut self) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(start.elapsed() < Duration::from_secs(20), "warden serve did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The JSON log lines, checking that every line is one.
    fn json_lines(&self) -> Vec<Value> {
        let text = self.stderr();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}\n{text}")))
            .collect()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SERVER: &str = "[server]\nlisten = \"127.0.0.1:0\"\nwatch = false\n";

/// Reads one response from a kept-alive connection: its head, and a body
/// of `content-length` bytes.
fn read_response(reader: &mut BufReader<TcpStream>) -> std::io::Result<(String, Vec<(String, String)>)> {
    let mut status = String::new();
    if reader.read_line(&mut status)? == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed without an answer"));
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line.trim_end().is_empty() {
            break;
        }
        if let Some((k, v)) = line.trim_end().split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let len = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    Ok((status.trim_end().to_owned(), headers))
}

/// SIGTERM with requests just written on kept-alive connections (before
/// the signal, and right after it): every one is answered, then the
/// connection is closed, and the process exits 0.
#[test]
fn sigterm_answers_requests_already_sent_on_kept_alive_connections() {
    let mut served = Served::start(
        |p| gw_plugin(p, "gw", GW),
        &format!("{SERVER}access-log = false\n[[route]]\nname = \"api\"\npath = \"/api\"\non-request = [\"gw\"]\n"),
        None,
    );
    let addr = served.addr;
    let mut conns: Vec<BufReader<TcpStream>> = (0..60)
        .map(|_| {
            let conn = TcpStream::connect(addr).unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            BufReader::new(conn)
        })
        .collect();
    let ask = |conn: &mut BufReader<TcpStream>| {
        conn.get_mut().write_all(b"GET /api HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n").unwrap();
    };
    for conn in &mut conns {
        ask(conn);
        assert!(read_response(conn).unwrap().0.ends_with("200 OK"));
    }
    // Now idle and kept alive. Half send a request, the signal goes out,
    // the other half send theirs.
    let (before, after) = conns.split_at_mut(30);
    before.iter_mut().for_each(ask);
    served.signal("TERM");
    after.iter_mut().for_each(ask);
    for (i, conn) in conns.iter_mut().enumerate() {
        let (status, _) = read_response(conn).unwrap_or_else(|e| panic!("connection {i}: {e}"));
        assert!(status.ends_with("200 OK"), "connection {i}: {status}");
    }
    for (i, conn) in conns.iter_mut().enumerate() {
        let mut rest = Vec::new();
        assert_eq!(conn.read_to_end(&mut rest).map(|_| rest.len()).ok(), Some(0), "connection {i} closed cleanly");
    }
    assert_eq!(served.wait(), Some(0), "{}", served.stderr());
}

/// Requests still running when the drain timeout ends are cut, whether a
/// plugin is still working on one or its response is still being sent:
/// their access-log lines say so, and the exit code is 42, not 0.
#[test]
fn the_drain_timeout_cuts_what_is_left_and_says_so() {
    let up = warden_fixtures::http::TestServer::start();
    let limits = "[permissions]\nmodify-request = true\n[limits]\ntimeout = \"10s\"\n";
    let mut served = Served::start(
        |p| gw_plugin(p, "gw", limits),
        &format!(
            "{SERVER}log-format = \"json\"\ndrain-timeout = \"300ms\"\n\
             [[route]]\nname = \"api\"\npath = \"/api\"\non-request = [\"gw\"]\n\
             [[route]]\nname = \"download\"\npath = \"/big\"\nupstream = \"http://{}\"\n",
            up.addr()
        ),
        None,
    );
    // A download its client does not read: the response is still being sent.
    let mut download = TcpStream::connect(served.addr).unwrap();
    write!(download, "GET /big/{} HTTP/1.1\r\nhost: x\r\n\r\n", 32 << 20).unwrap();
    download.read_exact(&mut [0; 1024]).unwrap();
    let addr = served.addr;
    // A failing plugin first: its warning carries the request's trace.
    let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    assert_eq!(request(addr, "GET", "/api", &[("x-test", "error"), ("traceparent", tp)], b"").status, 500);
    let waiting = std::thread::spawn(move || {
        crate::gateway::send_raw(addr, b"GET /api HTTP/1.1\r\nhost: x\r\nx-test: wait\r\nx-ms: 5000\r\n\r\n")
    });
    let start = Instant::now();
    while !served.stderr().contains("gw saw GET /api") {
        assert!(start.elapsed() < Duration::from_secs(10), "{}", served.stderr());
        std::thread::sleep(Duration::from_millis(10));
    }
    served.signal("TERM");
    assert_eq!(served.wait(), Some(42), "{}", served.stderr());
    assert!(waiting.join().unwrap().is_err(), "the cut request got no answer");
    let lines = served.json_lines();
    let failed = lines
        .iter()
        .find(|l| l["fields"]["message"].as_str().is_some_and(|m| m.starts_with("plugin 'gw' failed")))
        .unwrap_or_else(|| panic!("no failure warning:\n{}", served.stderr()));
    assert_eq!(failed["fields"]["trace_id"], "0af7651916cd43dd8448eb211c80319c");
    let cut: Vec<&Value> =
        lines.iter().filter(|l| l["target"] == "warden::access" && l["fields"]["cut"].is_string()).collect();
    let line = |route: &str| {
        *cut.iter().find(|l| l["fields"]["route"] == route).unwrap_or_else(|| panic!("no cut {route}:\n{cut:?}"))
    };
    // No response head yet for the plugin's request: status 0.
    let api = line("api");
    assert_eq!((&api["fields"]["cut"], &api["fields"]["status"]), (&"shutdown".into(), &0.into()));
    assert!(api["fields"]["trace_id"].as_str().is_some_and(|t| t.len() == 32));
    // The download had its head sent: its status, and cut all the same.
    let download_line = line("download");
    assert_eq!(
        (&download_line["fields"]["cut"], &download_line["fields"]["status"]),
        (&"shutdown".into(), &200.into())
    );
    drop(download);
    assert!(lines.iter().any(|l| l["fields"]["message"].as_str().is_some_and(|m| m.contains("they were cut"))));
}

/// SIGHUP reloads every plugin from its folder (watching is off here) and
/// serving goes on.
#[test]
fn sighup_reloads_plugins() {
    let served = Served::start(
        |p| gw_plugin(p, "gw", GW),
        &format!("{SERVER}[[route]]\nname = \"api\"\npath = \"/api\"\non-request = [\"gw\"]\n"),
        None,
    );
    let answer = || request(served.addr, "GET", "/api", &[("x-test", "respond")], b"").text();
    assert_eq!(answer(), "from gw");
    let manifest = served.dir().join("plugins/gw/plugin.toml");
    let text =
        std::fs::read_to_string(&manifest).unwrap().replace("[config]\nname = \"gw\"", "[config]\nname = \"v2\"");
    std::fs::write(&manifest, text).unwrap();
    assert_eq!(answer(), "from gw", "no watcher: nothing changes by itself");
    served.signal("HUP");
    let start = Instant::now();
    while answer() != "from v2" {
        assert!(start.elapsed() < Duration::from_secs(10), "SIGHUP did not reload:\n{}", served.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(served.stderr().contains("SIGHUP"), "{}", served.stderr());
}

/// 300 clients that never finish a request head, against a gateway that
/// may open only 256 files: connections stay below the file limit, the
/// silent ones are cut at the header-read timeout, and normal clients are
/// all served (without the limits, the file table filled up and the
/// gateway answered none).
#[test]
fn slow_clients_cannot_exhaust_file_descriptors() {
    let served = Served::start(
        |_| {},
        &format!(
            "{SERVER}access-log = false\nheader-read-timeout = \"1s\"\n\
             [[route]]\nname = \"echo\"\npath = \"/\"\nmode = \"respond\"\n"
        ),
        Some(256),
    );
    let addr = served.addr;
    let slow: Vec<TcpStream> = (0..300)
        .filter_map(|_| {
            let mut s = TcpStream::connect(addr).ok()?;
            s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n").ok()?;
            Some(s)
        })
        .collect();
    assert!(slow.len() >= 250, "only {} slow clients connected", slow.len());
    let normal: Vec<_> = (0..10)
        .map(|i| {
            std::thread::spawn(move || {
                let body = format!("client {i}");
                let r = request(addr, "POST", "/", &[], body.as_bytes());
                (r.status, r.text() == body)
            })
        })
        .collect();
    for t in normal {
        assert_eq!(t.join().unwrap(), (200, true));
    }
    let log = served.stderr();
    assert!(log.contains("[server] max-connections lowered from 1024 to 64"), "{log}");
    assert!(!log.contains("Too many open files"), "{log}");
    drop(slow);
}

/// Two plugins with one name are a mistake in a manifest: `error[manifest]`,
/// exit code 10, naming the file and key.
#[test]
fn duplicate_plugin_names_are_a_manifest_error() {
    let dir = TempDir::new().unwrap();
    let plugins = dir.path().join("plugins");
    gw_plugin(&plugins, "one", GW);
    gw_plugin(&plugins, "two", GW);
    std::fs::copy(plugins.join("one/plugin.toml"), plugins.join("two/plugin.toml")).unwrap();
    let (code, err) = serve_once(dir.path(), "text");
    assert_eq!(code, Some(10), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("error[manifest]: "), "{err}");
    assert!(last.contains("two/plugin.toml: plugin.name: the name 'one' is already used by the plugin in"), "{err}");
}

/// In JSON log mode every stderr line is one JSON object, the fatal error
/// at the end included.
#[test]
fn in_json_mode_every_line_is_json_even_the_fatal_error() {
    let dir = TempDir::new().unwrap();
    let plugins = dir.path().join("plugins");
    gw_plugin(&plugins, "broken", GW);
    std::fs::write(plugins.join("broken/plugin.wasm"), b"\0asm\x0d\x00\x01\x00 broken\n\n\nmore").unwrap();
    let (code, err) = serve_once(dir.path(), "json");
    assert_eq!(code, Some(12), "{err}");
    for line in err.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}\n{err}"));
        assert!(v["level"].is_string(), "{line}");
    }
    let last: Value = serde_json::from_str(err.lines().last().unwrap_or_default()).unwrap();
    assert_eq!((&last["level"], &last["fields"]["kind"]), (&"ERROR".into(), &"invalid-component".into()));
    assert_eq!(last["fields"]["exit_code"], 12);
}

/// Runs `warden serve` on the plugins in `dir` until it exits; its exit
/// code and stderr.
fn serve_once(dir: &Path, log_format: &str) -> (Option<i32>, String) {
    let file = dir.join("gateway.toml");
    std::fs::write(&file, format!("{SERVER}log-format = \"{log_format}\"\n[admin]\nenabled = false\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_warden")).arg("serve").arg("--config").arg(&file).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The banner names the address and a `curl` for the example body; JSON
/// logs carry the trace; SIGTERM lets the request in flight finish and
/// the process exits 0.
#[test]
fn warden_serve_prints_a_curl_logs_json_and_drains_on_sigterm() {
    let up = warden_fixtures::http::TestServer::start();
    let mut served = Served::start(
        |p| gw_plugin(p, "gw", GW),
        &format!(
            "{SERVER}log-format = \"json\"\n\
             [[route]]\nname = \"api\"\npath = \"/api\"\nmethods = [\"POST\"]\non-request = [\"gw\"]\nexample-body = '{{\"a\":1}}'\n\
             [[route]]\nname = \"slow\"\npath = \"/slow\"\nupstream = \"http://{}\"\n",
            up.addr()
        ),
        None,
    );
    let addr = served.addr;
    let curl = format!("curl -i -X POST http://{addr}/api -H 'content-type: application/json' -d '{{\"a\":1}}'");
    assert!(served.banner.contains(&curl), "{}", served.banner);

    let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    assert_eq!(request(addr, "POST", "/api", &[("traceparent", tp)], b"{}").status, 200);
    let slow = std::thread::spawn(move || request(addr, "GET", "/slow/1500", &[], b""));
    while up.requests() == 0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    served.signal("TERM");
    let r = slow.join().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "slow"), "SIGTERM let the in-flight request finish");
    assert_eq!(served.wait(), Some(0), "{}", served.stderr());

    let lines = served.json_lines();
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let plugin_log = lines.iter().find(|l| l["fields"]["plugin"] == "gw").unwrap_or_else(|| panic!("{lines:?}"));
    assert_eq!(plugin_log["fields"]["trace_id"], trace, "plugin log lines carry the trace");
    let access = lines.iter().find(|l| l["target"] == "warden::access").unwrap_or_else(|| panic!("{lines:?}"));
    assert_eq!(access["fields"]["trace_id"], trace);
    assert_eq!(access["fields"]["status"], 200);
}

/// A configuration mistake: `error[config]`, exit code 40, file, line and key.
#[test]
fn warden_serve_reports_config_errors_with_file_key_and_line() {
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("gateway.toml");
    std::fs::write(&file, "[server]\nlisten = \"127.0.0.1:0\"\n\n[[route]]\nmax-body = 3\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_warden")).arg("serve").arg("--config").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(40));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error[config]: "), "{err}");
    assert!(err.contains("gateway.toml:5:1: route.max-body: unknown field `max-body`"), "{err}");
}

/// 100 MB up and 100 MB down through a proxy route whose plugins only
/// look at headers: both bodies stream, whatever `max-body` says, and the
/// gateway's peak memory hardly moves. A gateway that buffered either
/// body would grow by 100 MB and fail this test.
#[test]
fn bodies_no_plugin_reads_stream_through_with_flat_memory() {
    use warden_fixtures::http::{FNV_OFFSET, fnv1a};
    const SIZE: usize = 100 << 20;
    let up = warden_fixtures::http::TestServer::start();
    let served = Served::start(
        |p| ["a", "b", "c"].into_iter().for_each(|name| gw_plugin(p, name, GW)),
        &format!(
            "{SERVER}access-log = false\nmax-body = \"1MiB\"\nmax-response-body = \"1MiB\"\n\
             [[route]]\nname = \"up\"\npath = \"/sink\"\nupstream = \"http://{0}\"\non-request = [\"a\", \"b\", \"c\"]\n\
             [[route]]\nname = \"down\"\npath = \"/big\"\nupstream = \"http://{0}\"\non-request = [\"a\"]\non-response = [\"b\", \"c\"]\n",
            up.addr()
        ),
        None,
    );
    let pid = served.child.id();
    // Warm up: every plugin instantiated, every path taken once.
    assert_eq!(
        request(served.addr, "POST", "/sink", &[], b"hello").text(),
        format!("5 {:016x}", fnv1a(FNV_OFFSET, b"hello"))
    );
    assert_eq!(request(served.addr, "GET", "/big/1000", &[], b"").body.len(), 1000);
    let before = warden_fixtures::process::peak_rss(pid).unwrap();

    // Upload: written as it is made, in 64 KiB pieces.
    let mut conn = TcpStream::connect(served.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(conn, "POST /sink HTTP/1.1\r\nhost: x\r\nx-test: pass\r\ncontent-length: {SIZE}\r\n\r\n").unwrap();
    let piece: Vec<u8> = (0..64 << 10).map(|i| (i % 251) as u8).collect();
    let mut sum = FNV_OFFSET;
    for _ in 0..SIZE / piece.len() {
        conn.write_all(&piece).unwrap();
        sum = fnv1a(sum, &piece);
    }
    let reply = crate::gateway::read_response(&mut BufReader::new(conn)).unwrap();
    assert_eq!((reply.status, reply.text()), (200, format!("{SIZE} {sum:016x}")), "the upstream got every byte");

    // Download: read as it comes, counted, never kept.
    let mut conn = TcpStream::connect(served.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(conn, "GET /big/{SIZE} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
    let (mut total, mut buf) = (0usize, vec![0; 64 << 10]);
    loop {
        match conn.read(&mut buf).unwrap() {
            0 => break,
            n => total += n,
        }
    }
    assert!(total > SIZE && total < SIZE + 1024, "the whole body and a head: {total}");
    let grown = warden_fixtures::process::peak_rss(pid).unwrap().saturating_sub(before);
    assert!(grown < 32 << 20, "peak memory grew by {} MiB while 2 x 100 MiB streamed", grown >> 20);
}
