//! `warden dev` as a plugin author runs it: a real process serving a small
//! C plugin from a temporary folder. An edit rebuilds it and hot-reloads it
//! while requests keep being answered; a broken edit prints clang's errors
//! while the last good build keeps answering; fixing it recovers; SIGTERM
//! drains and exits. Every wait is bounded; none is timed.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::gateway::request;

/// The longest any wait lasts: a build on a busy machine included.
const PATIENCE: Duration = Duration::from_secs(180);

const MANIFEST: &str = r#"[plugin]
name = "hello"
version = "0.1.0"
component = "hello.wasm"

[build]
language = "c"
source = "plugin.c"
exports = ["http-filter"]
"#;

/// A plugin answering every request with `text`.
fn source(text: &str) -> String {
    format!(
        r#"#include "warden.h"

bool warden_init(const warden_config_t *config, warden_error_t *err) {{
    (void)config;
    (void)err;
    return true;
}}

bool warden_on_request(warden_ctx_t ctx, warden_request_t req, warden_request_action_t *ret, warden_error_t *err) {{
    (void)ctx;
    (void)req;
    (void)err;
    static const char body[] = "{text}";
    return warden_respond(ret, 200, "text/plain", body, sizeof body - 1);
}}
"#
    )
}

/// A `warden dev` child process; killed if still running when dropped.
struct Dev {
    child: Child,
    addr: SocketAddr,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Dev {
    /// Starts `warden dev` on the plugin in `dir` and waits for its banner.
    fn start(dir: &Path) -> Dev {
        Dev::start_with_path(dir, &std::env::var_os("PATH").unwrap_or_default())
    }

    /// [`Dev::start`] with `path` as PATH.
    fn start_with_path(dir: &Path, path: &std::ffi::OsStr) -> Dev {
        let mut child = Command::new(env!("CARGO_BIN_EXE_warden"))
            .arg("dev")
            .arg(dir)
            .args(["--listen", "127.0.0.1:0"])
            .env_remove("WARDEN_LOG")
            .env("PATH", path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        let mut dev = Dev { child, addr: SocketAddr::from(([127, 0, 0, 1], 0)), stdout, stderr };
        dev.wait_for("the banner", |out, _| out.contains("stop with"));
        let out = dev.stdout();
        dev.addr = warden_fixtures::process::listening_addr(&out).unwrap_or_else(|| panic!("no address in: {out}"));
        dev
    }

    fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until `done(stdout, stderr)` holds; panics with the output if
    /// the process exits or [`PATIENCE`] runs out first.
    fn wait_for(&mut self, what: &str, done: impl Fn(&str, &str) -> bool) {
        let start = Instant::now();
        while !done(&self.stdout(), &self.stderr()) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("warden dev exited ({status}) waiting for {what}:\n{}\n{}", self.stdout(), self.stderr());
            }
            if start.elapsed() > PATIENCE {
                panic!("no {what} from warden dev:\n{}\n{}", self.stdout(), self.stderr());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `GET /`: its status and body.
    fn get(&self) -> (u16, String) {
        let reply = request(self.addr, "GET", "/", &[], b"");
        (reply.status, reply.text())
    }

    /// Asks until `GET /` answers 200 with `body`.
    fn wait_for_body(&mut self, body: &str) {
        let addr = self.addr;
        let answers = |_: &str, _: &str| {
            let reply = request(addr, "GET", "/", &[], b"");
            reply.status == 200 && reply.text() == body
        };
        self.wait_for(&format!("answer {body:?}"), answers);
    }

    /// Sends SIGTERM and waits for the exit code.
    fn terminate(&mut self) -> Option<i32> {
        let status = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success(), "kill -TERM");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(start.elapsed() < PATIENCE, "warden dev did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `pipe` to the end on a thread, so the child never blocks on it.
fn collect(pipe: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let all = Arc::new(Mutex::new(String::new()));
    let sink = all.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let mut all = sink.lock().unwrap();
            all.push_str(&line);
            all.push('\n');
        }
    });
    all
}

/// Clients asking `GET /` in a loop until stopped; every answer must be a
/// 200 from one of `bodies`: a reload drops no request.
fn callers(addr: SocketAddr, bodies: &'static [&'static str]) -> (Arc<AtomicBool>, std::thread::JoinHandle<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        let mut calls = 0;
        while !flag.load(Ordering::Relaxed) {
            let reply = request(addr, "GET", "/", &[], b"");
            assert_eq!(reply.status, 200, "a request failed during a reload: {}", reply.text());
            assert!(bodies.contains(&reply.text().as_str()), "unexpected answer {:?}", reply.text());
            calls += 1;
        }
        calls
    });
    (stop, thread)
}

#[test]
fn warden_dev_rebuilds_and_reloads_on_change_and_survives_a_broken_build() {
    let dir = TempDir::new().unwrap();
    let plugin = dir.path().join("hello");
    std::fs::create_dir(&plugin).unwrap();
    std::fs::write(plugin.join("plugin.toml"), MANIFEST).unwrap();
    std::fs::write(plugin.join("plugin.c"), source("version one")).unwrap();

    let mut dev = Dev::start(&plugin);
    let banner = dev.stdout();
    assert!(banner.contains("built hello"), "{banner}");
    assert!(banner.contains(&format!("curl -i -X GET http://{}/", dev.addr)), "{banner}");
    assert_eq!(dev.get(), (200, "version one".to_owned()));

    // An edit: rebuilt and swapped in while clients keep asking.
    let (stop, thread) = callers(dev.addr, &["version one", "version two"]);
    std::fs::write(plugin.join("plugin.c"), source("version two")).unwrap();
    dev.wait_for_body("version two");
    dev.wait_for("the reload message", |out, _| out.contains("reloaded 'hello'"));
    stop.store(true, Ordering::Relaxed);
    assert!(thread.join().expect("no request failed during the reload") > 0);

    // A broken edit: clang's error is printed, the last good build answers.
    let failures = |err: &str| err.matches("the previous build keeps serving").count();
    let before = failures(&dev.stderr());
    std::fs::write(plugin.join("plugin.c"), source("version three").replace("return true;", "return true")).unwrap();
    dev.wait_for("the build failure", |_, err| failures(err) > before);
    let err = dev.stderr();
    assert!(err.contains("plugin.c:") && err.contains("error:"), "clang's messages are shown:\n{err}");
    assert_eq!(dev.get(), (200, "version two".to_owned()));
    assert!(dev.child.try_wait().unwrap().is_none(), "warden dev keeps running");

    // Fixed: the next build serves again.
    std::fs::write(plugin.join("plugin.c"), source("version three")).unwrap();
    dev.wait_for_body("version three");

    assert_eq!(dev.terminate(), Some(0), "SIGTERM drains and exits 0:\n{}", dev.stderr());
}

/// A build still running when `warden dev` stops is stopped with it: the
/// compiler (here a `clang` on PATH that hangs while a marker file exists)
/// does not outlive it.
#[test]
fn stopping_warden_dev_stops_a_running_build() {
    let dir = TempDir::new().unwrap();
    let plugin = dir.path().join("hello");
    std::fs::create_dir(&plugin).unwrap();
    std::fs::write(plugin.join("plugin.toml"), MANIFEST).unwrap();
    std::fs::write(plugin.join("plugin.c"), source("version one")).unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let marker = dir.path().join("hang");
    let real = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join("clang"))
        .find(|p| p.is_file())
        .expect("clang on PATH");
    let wrapper = bin.join("clang");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nif [ -e '{m}' ]; then echo $$ > '{m}.pid'; exec sleep 600; fi\nexec '{}' \"$@\"\n",
            real.display(),
            m = marker.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = std::env::join_paths(
        std::iter::once(bin.clone()).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();

    let mut dev = Dev::start_with_path(&plugin, &path);
    assert_eq!(dev.get(), (200, "version one".to_owned()));
    std::fs::write(&marker, "").unwrap();
    std::fs::write(plugin.join("plugin.c"), source("version two")).unwrap();
    let pid_file = marker.with_extension("pid");
    dev.wait_for("the hanging build", |_, _| std::fs::read_to_string(&pid_file).is_ok_and(|p| p.ends_with('\n')));
    let pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_owned();
    let proc = Path::new("/proc").join(&pid);
    assert!(proc.exists(), "the build is running");

    assert_eq!(dev.terminate(), Some(0), "SIGTERM drains and exits 0:\n{}", dev.stderr());
    let start = Instant::now();
    while proc.exists() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let outlived = proc.exists();
    if outlived {
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
    }
    assert!(!outlived, "the build outlived warden dev:\n{}", dev.stderr());
}

#[test]
fn warden_dev_with_a_config_refuses_a_plugin_outside_its_plugin_folder() {
    let dir = TempDir::new().unwrap();
    let plugin = dir.path().join("hello");
    std::fs::create_dir_all(&plugin).unwrap();
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    std::fs::write(plugin.join("plugin.toml"), MANIFEST).unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, "[server]\nlisten = \"127.0.0.1:0\"\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_warden"))
        .arg("dev")
        .arg(&plugin)
        .arg("--config")
        .arg(&config)
        .env_remove("WARDEN_LOG")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(err.contains("is not one of the plugins of") && err.contains("ln -s"), "{err}");
}
