//! The admin debug view: the admin API's per-plugin details (instances,
//! memory, fuel, recent errors with the plugin's stderr), its read-only
//! key-value endpoints, `warden plugins info --admin`, and the web page,
//! driven in a real headless Chromium through chromedriver (Debian packages
//! `chromium` and `chromium-driver`).

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::gateway::{GW, Harness, gw_plugin, read_response, request};

/// Two plugins, each on its own route.
fn two_plugins(plugins: &Path) {
    gw_plugin(plugins, "gw", GW);
    gw_plugin(plugins, "second", GW);
}

const ROUTES: &str = "[[route]]\nname = \"api\"\npath = \"/api\"\non-request = [\"gw\"]\n\
                      [[route]]\nname = \"b\"\npath = \"/b\"\non-request = [\"second\"]\n";

/// The gateway's key-value store, as its plugins see it.
fn store(h: &Harness) -> warden::KeyValueStore {
    h.manager().runtime().key_value().expect("the gateway has a key-value store").clone()
}

#[test]
fn plugin_details_show_instances_memory_fuel_and_errors_with_stderr() {
    let h = Harness::start(two_plugins, ROUTES);
    h.request("GET", "/api", &[("x-test", "panic")], b"");
    assert_eq!(h.request("GET", "/api", &[], b"").status, 200);

    let gw = h.admin("GET", "/plugins/gw").json();
    let s = &gw["stats"];
    assert_eq!(s["calls"], 2);
    // One instance (max-instances = 1), back in the pool after its call.
    assert_eq!(
        (s["instances"].as_u64(), s["instances-busy"].as_u64(), s["instances-idle"].as_u64()),
        (Some(1), Some(0), Some(1)),
        "{s}"
    );
    let (now, peak) = (s["memory-in-use"].as_u64().unwrap(), s["peak-memory"].as_u64().unwrap());
    assert!(now > 0 && peak > 0, "{s}");
    assert!(s["latency-us"]["sum"].as_u64().unwrap() > 0, "{s}");
    let fuel = &s["fuel-per-call"];
    assert_eq!(fuel["calls"], 2, "fuel metering is on by default: {s}");
    assert!(fuel["p50"].as_u64().unwrap() > 0 && fuel["max"].as_u64() >= fuel["p99"].as_u64(), "{fuel}");

    let errors = gw["recent-errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{gw}");
    assert_eq!(errors[0]["kind"], "trap");
    assert!(errors[0]["at-ms"].as_u64().unwrap() > 1_600_000_000_000);
    let stderr = errors[0]["stderr"].as_str().unwrap();
    assert!(stderr.contains("fixture panic"), "the panic message the guest printed: {stderr:?}");
    assert_eq!(gw["last-error"], errors[0]["message"]);

    // An idle plugin: nothing measured yet.
    let second = h.admin("GET", "/plugins/second").json();
    assert_eq!(second["stats"]["fuel-per-call"], Value::Null);
    assert_eq!(second["recent-errors"], json!([]));
    // The listing carries the same details.
    let list = h.admin("GET", "/plugins").json();
    assert_eq!(list["plugins"][0]["recent-errors"][0]["kind"], "trap");
}

#[test]
fn key_value_endpoints_read_the_gateway_store() {
    let h = Harness::start(two_plugins, ROUTES);
    let kv = store(&h);
    kv.set("gw", "greeting", b"hello", 1 << 20).unwrap();
    kv.set("gw", "dir/a b", "é".as_bytes(), 1 << 20).unwrap();
    kv.set("gw", "bin", &[0xff, 0x00], 1 << 20).unwrap();
    kv.set("second", "other", b"x", 1 << 20).unwrap();

    let all = h.admin("GET", "/plugins/gw/kv").json();
    assert_eq!(all["keys"], json!(["bin", "dir/a b", "greeting"]), "only gw's namespace, in byte order");
    assert_eq!(all["truncated"], false);
    assert_eq!(all["usage-bytes"], 3 + 2 + 7 + 2 + 8 + 5);
    assert_eq!(h.admin("GET", "/plugins/gw/kv?prefix=dir%2F").json()["keys"], json!(["dir/a b"]));
    assert_eq!(h.admin("GET", "/plugins/gw/kv?prefix=dir/a+b").json()["keys"], json!(["dir/a b"]));
    let cut = h.admin("GET", "/plugins/gw/kv?limit=2").json();
    assert_eq!((cut["keys"].as_array().unwrap().len(), &cut["truncated"]), (2, &json!(true)));

    let v = h.admin("GET", "/plugins/gw/kv/greeting").json();
    assert_eq!(
        v,
        json!({"plugin": "gw", "key": "greeting", "size": 5, "encoding": "utf-8", "value": "hello", "truncated": false})
    );
    let v = h.admin("GET", "/plugins/gw/kv/dir%2Fa%20b").json();
    assert_eq!((v["value"].as_str(), v["size"].as_u64()), (Some("é"), Some(2)));
    let v = h.admin("GET", "/plugins/gw/kv/dir/a%20b").json();
    assert_eq!(v["key"], "dir/a b", "a slash may also stay unencoded");
    let v = h.admin("GET", "/plugins/gw/kv/bin").json();
    assert_eq!((v["encoding"].as_str(), v["value"].as_str()), (Some("base64"), Some("/wA=")));

    for (path, status) in [
        ("/plugins/gw/kv/missing", 404),
        ("/plugins/gw/kv/other", 404),
        ("/plugins/nope/kv", 404),
        ("/plugins/nope/kv/x", 404),
        ("/plugins/gw/kv?limit=0", 400),
        ("/plugins/gw/kv?limit=501", 400),
        ("/plugins/gw/kv?limit=ten", 400),
        ("/plugins/gw/kv?colour=red", 400),
        ("/plugins/gw/kv?prefix=%zz", 400),
        ("/plugins/gw/kv/%FF", 400),
    ] {
        let r = h.admin("GET", path);
        assert_eq!(r.status, status, "{path}: {}", r.text());
        assert!(r.json()["error"].as_str().is_some_and(|e| !e.is_empty()), "{path}");
    }
    assert_eq!(h.admin("POST", "/plugins/gw/kv/greeting").status, 405, "read only");
    assert_eq!(h.admin("DELETE", "/plugins/gw/kv/greeting").status, 405, "read only");
    assert_eq!(request(h.admin.unwrap(), "GET", "/plugins/gw/kv/greeting", &[], b"").status, 401);
    assert_eq!(kv.get("gw", "greeting").unwrap().as_deref(), Some(&b"hello"[..]), "nothing changed");
}

#[test]
fn page_needs_no_token_but_loads_nothing_from_elsewhere() {
    let h = Harness::start(two_plugins, ROUTES);
    let admin = h.admin.unwrap();
    let page = request(admin, "GET", "/ui", &[], b"");
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    let policy = page.header("content-security-policy").unwrap_or_default();
    assert!(policy.contains("default-src 'none'") && policy.contains("connect-src 'self'"), "{policy}");
    assert!(!policy.contains("unsafe"), "{policy}");
    let html = page.text();
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<script>"), "{html}");
    for (path, kind) in [("/ui/app.js", "text/javascript"), ("/ui/app.css", "text/css")] {
        let r = request(admin, "GET", path, &[], b"");
        assert_eq!(r.status, 200, "{path}");
        assert!(r.header("content-type").is_some_and(|t| t.starts_with(kind)), "{path}");
        assert!(r.header("content-security-policy").is_some(), "{path}");
    }
    let root = request(admin, "GET", "/", &[], b"");
    assert_eq!((root.status, root.header("location")), (303, Some("/ui")));
    assert_eq!(request(admin, "GET", "/plugins", &[], b"").status, 401, "the data still needs the token");
    assert_eq!(request(admin, "GET", "/ui/other.js", &[], b"").status, 401);
}

#[test]
fn plugins_info_asks_a_running_gateway() {
    let h = Harness::start(two_plugins, ROUTES);
    h.request("GET", "/api", &[("x-test", "panic")], b"");
    h.request("GET", "/api", &[], b"");
    let url = format!("http://{}", h.admin.unwrap());
    let token_file = h.dir.path().join("token");
    let warden = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_warden")).args(args).env_remove("WARDEN_ADMIN_TOKEN").output().unwrap()
    };
    let token = token_file.to_str().unwrap();
    let out = warden(&["plugins", "info", "--admin", &url, "--token-file", token, "gw"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for needle in [
        "state:           running",
        "instances:       1 live: 0 busy, 1 idle",
        "in use now",
        "fuel per call:   p50 ",
        "kind trap",
        "plugin stderr:",
        "fixture panic",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }

    let out = warden(&["plugins", "info", "--admin", &url, "--token-file", token, "gw", "--json"]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["stats"]["calls"], 2);

    let out = warden(&["plugins", "list", "--admin", &url, "--token", h.token.as_str()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l.starts_with("second") && l.contains("running")), "{text}");

    let out = warden(&["plugins", "info", "--admin", &url, "--token-file", token, "nope"]);
    assert_eq!(out.status.code(), Some(31), "unknown-plugin, as for a directory");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no plugin named 'nope'") && err.contains("gw, second"), "{err}");

    let out = warden(&["plugins", "info", "--admin", &url, "--token", "wrong-token-0123456789", "gw"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused the token"), "{out:?}");
    let out = warden(&["plugins", "info", "--admin", &url, "gw"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs its token"), "{out:?}");
    let out = warden(&["plugins", "info", "--admin", &url, "--token", "x", "some-dir", "gw"]);
    assert_eq!(out.status.code(), Some(2), "with --admin only the name: {out:?}");
}

/// The page in a real browser: lists the plugins with their states, charts
/// their calls, shows an error with the plugin's stderr, browses the
/// key-value store, and its disable button disables a plugin.
#[test]
fn admin_page_in_headless_chromium() {
    let h = Harness::start(two_plugins, ROUTES);
    store(&h).set("gw", "greeting", b"hello from kv", 1 << 20).unwrap();
    let browser = Browser::start();
    let admin = h.admin.unwrap();
    browser.goto(&format!("http://{admin}/ui#token={}", h.token));

    let rows = browser.wait_for("the plugin table", || {
        let rows = browser.script(
            "return Array.from(document.querySelectorAll('#plugins tbody tr[data-plugin]'))
                .map(tr => [tr.dataset.plugin, tr.querySelector('[data-col=state]').textContent]);",
        );
        (rows.as_array()?.len() == 2).then_some(rows)
    });
    assert_eq!(rows, json!([["gw", "running"], ["second", "running"]]));
    assert_eq!(browser.script("return location.hash;"), "", "the token left the address bar");
    assert_eq!(browser.script("return sessionStorage.getItem('warden-admin-token');"), h.token.as_str());

    // Calls made while the page polls show up in both charts.
    h.request("GET", "/api", &[("x-test", "panic")], b"");
    browser.wait_for("calls in the charts", || {
        for _ in 0..5 {
            assert_eq!(h.request("GET", "/api", &[], b"").status, 200);
        }
        let seen = browser.script(
            "const peak = id => Number((document.querySelector(`#${id} polyline[data-plugin=gw]`) || {dataset: {}}).dataset.peak || 0);
             return peak('chart-rate') > 0 && peak('chart-latency') > 0;",
        );
        seen.as_bool().filter(|s| *s)
    });
    let error = browser.wait_for("the error list", || {
        let e = browser.script(
            "const li = document.querySelector('#errors li[data-plugin=gw]');
             return li ? [li.querySelector('.kind').textContent, li.querySelector('pre.stderr').textContent] : null;",
        );
        (!e.is_null()).then_some(e)
    });
    assert_eq!(error[0], "trap");
    assert!(error[1].as_str().unwrap().contains("fixture panic"), "{error}");

    // The key-value panel lists gw's keys and shows a value.
    browser.script("document.getElementById('kv-plugin').value = 'gw';");
    browser.click("#kv-form button[type=submit]");
    browser.wait_for("the key list", || {
        let n = browser.script("return document.querySelectorAll('#kv-keys button').length;");
        (n == 1).then_some(())
    });
    browser.click("#kv-keys button");
    let value = browser.wait_for("the value", || {
        let v = browser
            .script("const pre = document.getElementById('kv-value'); return pre.hidden ? null : pre.textContent;");
        v.as_str().map(str::to_owned)
    });
    assert_eq!(value, "hello from kv");

    // A real click on gw's disable button.
    browser.click("button[data-plugin=gw][data-action=disable]");
    browser.wait_for("gw disabled in the admin API", || {
        (h.admin("GET", "/plugins/gw").json()["state"] == "disabled").then_some(())
    });
    assert_eq!(h.request("GET", "/api", &[], b"").status, 503);
    assert_eq!(h.admin("GET", "/plugins/second").json()["state"], "running");
    browser.wait_for("gw disabled on the page", || {
        let state = browser.script("return document.querySelector('tr[data-plugin=gw] [data-col=state]').textContent;");
        (state == "disabled").then_some(())
    });
}

/// How long any one thing in the browser may take.
const BROWSER_WAIT: Duration = Duration::from_secs(60);

/// A headless Chromium driven by chromedriver over WebDriver (plain JSON
/// over HTTP on loopback). Dropping it ends the session and kills
/// chromedriver's process group, the browser included.
struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    _profile: TempDir,
}

/// Finds `name` on `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}

impl Browser {
    fn start() -> Browser {
        let missing = |what: &str| {
            panic!(
                "{what} is not installed: this test drives the admin page in a real browser. \
                 Install Debian's packages: apt-get install -y chromium chromium-driver"
            )
        };
        let chromium = which("chromium").unwrap_or_else(|| missing("chromium"));
        let chromedriver = which("chromedriver").unwrap_or_else(|| missing("chromedriver (package chromium-driver)"));
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut command = Command::new(chromedriver);
        command.arg(format!("--port={port}")).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let driver = command.spawn().expect("chromedriver starts");
        let profile = TempDir::new().unwrap();
        let mut browser = Browser {
            driver,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            session: String::new(),
            _profile: profile,
        };
        browser.wait_for("chromedriver to listen", || {
            let status = browser.call("GET", "/status", None).ok()?;
            (status["value"]["ready"] == true).then_some(())
        });
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-first-run".to_owned(),
            format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let session = browser.call("POST", "/session", Some(capabilities)).expect("chromedriver answers");
        browser.session = session["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver could not start chromium: {session}"))
            .to_owned();
        browser
    }

    /// One WebDriver command; `Err` when chromedriver cannot be reached.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> std::io::Result<Value> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(BROWSER_WAIT))?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        stream.write_all(head.as_bytes())?;
        stream.write_all(body.as_bytes())?;
        let reply = read_response(&mut BufReader::new(stream))?;
        Ok(serde_json::from_slice(&reply.body).unwrap_or(Value::Null))
    }

    /// A command of this session; its `value`, which must not be an error.
    fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let body = if method == "GET" { None } else { Some(body) };
        let reply = self.call(method, &path, body).unwrap_or_else(|e| panic!("chromedriver: {e}"));
        let value = reply["value"].clone();
        if value.get("error").is_some() {
            panic!("WebDriver {method} {path} failed: {value}");
        }
        value
    }

    fn goto(&self, url: &str) {
        self.command("POST", "/url", json!({ "url": url }));
    }

    /// Runs `script` (a function body) in the page; returns what it returns.
    fn script(&self, script: &str) -> Value {
        self.command("POST", "/execute/sync", json!({ "script": script, "args": [] }))
    }

    /// Clicks the first element matching the CSS `selector`, as a user would.
    fn click(&self, selector: &str) {
        let found = self.command("POST", "/element", json!({ "using": "css selector", "value": selector }));
        let id = found["element-6066-11e4-a52e-4f735466cecf"].as_str().unwrap_or_else(|| panic!("{selector}: {found}"));
        self.command("POST", &format!("/element/{id}/click"), json!({}));
    }

    /// Polls `check` until it gives a value, for at most [`BROWSER_WAIT`].
    fn wait_for<T>(&self, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + BROWSER_WAIT;
        loop {
            if let Some(v) = check() {
                return v;
            }
            assert!(Instant::now() < deadline, "gave up waiting for {what} after {BROWSER_WAIT:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &format!("/session/{}", self.session), None);
        }
        // chromedriver leads its own process group, which holds the browser.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
