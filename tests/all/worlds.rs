//! Host-defined worlds and host capabilities: the tests' own world
//! `test:probe/probe` (tests/fixtures/wit/probe.wit) with its `sleep`
//! capability, loaded and called through every part of Warden's machinery.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use warden::capability::{Capability, GrantContext, Has, HostView, Linker, view};
use warden::{Error, ErrorKind, Plugin, PluginManager, Runtime};
use warden_fixtures::{ECHO, PROBE, STRANGER};

use crate::common::write_plugin;

mod bindings {
    wasmtime::component::bindgen!({
        path: ["../../wit", "../../tests/fixtures/wit"],
        world: "test:probe/probe",
        // The sleep traps when the call's deadline passes.
        imports: { "test:probe/sleep": trappable },
        with: { "warden:plugin": ::warden::wit },
    });
}

use bindings::Probe;
use bindings::test::probe::sleep;

warden::world!(Probe, bindings::ProbeIndices, "test:probe/probe");

/// The tests' host capability: `[permissions] sleep = true` lets a plugin
/// block in the host, up to the call's deadline.
struct Sleep {
    /// The length of each sleep that ran to its end, across plugins.
    finished: Finished,
}

type Finished = Arc<Mutex<Vec<u32>>>;

struct SleepState {
    granted: bool,
    finished: Finished,
}

impl Capability for Sleep {
    type Grant = bool;
    type State = SleepState;

    fn name(&self) -> &str {
        "sleep"
    }

    fn interfaces(&self) -> &[&str] {
        &["test:probe/sleep"]
    }

    fn permissions(&self) -> &[&str] {
        &["sleep"]
    }

    fn add_to_linker(&self, linker: &mut Linker) -> wasmtime::Result<()> {
        sleep::add_to_linker::<_, Has<SleepState>>(linker, view)
    }

    fn grant(&self, cx: &GrantContext<'_>) -> Result<bool, Error> {
        match cx.permission("sleep") {
            None => Ok(false),
            Some(warden::toml::Value::Boolean(on)) => Ok(*on),
            Some(other) => Err(cx.invalid("sleep", format!("expected true or false, found {other}"))),
        }
    }

    fn instantiate(&self, grant: &Arc<bool>) -> wasmtime::Result<SleepState> {
        Ok(SleepState { granted: **grant, finished: Arc::clone(&self.finished) })
    }
}

impl sleep::Host for HostView<'_, SleepState> {
    fn sleep(&mut self, ms: u32) -> wasmtime::Result<Result<(), String>> {
        if !self.state().granted {
            return Ok(Err(self.deny("sleep.sleep", "sleep = true").to_string()));
        }
        let wanted = Duration::from_millis(ms.into());
        // Blocking work gives up at the call's deadline.
        self.wait("the test sleeper", |left| {
            thread::sleep(wanted.min(left));
            (wanted <= left).then_some(())
        })?;
        self.state().finished.lock().unwrap().push(ms);
        Ok(Ok(()))
    }
}

/// One runtime for the probe world (with the `sleep` capability), for the
/// whole test process.
fn runtime() -> &'static (Runtime, Finished, TempDir) {
    static RUNTIME: OnceLock<(Runtime, Finished, TempDir)> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let finished = Finished::default();
        let cache = TempDir::new().unwrap();
        let rt = Runtime::builder()
            .cache_dir(cache.path())
            .world::<Probe>()
            .capability(Sleep { finished: Arc::clone(&finished) })
            .build()
            .unwrap();
        (rt, finished, cache)
    })
}

fn load(wasm: &str, extra: &str) -> (TempDir, Result<Plugin, Error>) {
    let dir = TempDir::new().unwrap();
    write_plugin(dir.path(), wasm, extra);
    let plugin = runtime().0.load(dir.path());
    (dir, plugin)
}

fn run(plugin: &Plugin, action: &str) -> Result<Result<String, String>, Error> {
    plugin.call::<Probe, _>("run", |probe, store| probe.call_run(store, action))
}

#[test]
fn a_plugin_of_the_hosts_world_is_called_typed_with_warden_imports() {
    let (_dir, plugin) = load(PROBE, "[config]\ntag = \"v1\"");
    let plugin = plugin.unwrap();
    assert_eq!(plugin.worlds(), ["test:probe/probe"]);
    assert!(plugin.exports_world::<Probe>() && !plugin.exports_world::<warden::WardenWorld>());
    assert!(plugin.hooks().is_empty(), "no Warden hooks: {:?}", plugin.hooks());
    // Config and log come from warden-pdk in a plugin of another world.
    assert_eq!(run(&plugin, "hello").unwrap(), Ok("hello from v1".to_owned()));
    assert_eq!(run(&plugin, "log").unwrap(), Ok("logged".to_owned()));
    // The instance is pooled: its state carries over.
    assert_eq!(run(&plugin, "count").unwrap(), Ok("1".to_owned()));
    assert_eq!(run(&plugin, "count").unwrap(), Ok("2".to_owned()));
    let stats = plugin.stats();
    assert_eq!((stats.calls, stats.errors.len()), (4, 0), "{stats:?}");
    // Warden's own hooks are not there.
    let e = plugin.handle("echo", b"x").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::HookNotExported);
}

#[test]
fn a_trap_is_contained_and_the_next_call_gets_a_fresh_instance() {
    let (_dir, plugin) = load(PROBE, "");
    let plugin = plugin.unwrap();
    assert_eq!(run(&plugin, "count").unwrap(), Ok("1".to_owned()));
    match run(&plugin, "trap") {
        Err(Error::Trap { hook, message, .. }) => {
            assert_eq!(hook, warden::Hook::Export("run"));
            assert!(message.contains("probe was asked to trap"), "{message}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_eq!(plugin.live_instances(), 0, "the trapped instance is discarded");
    assert_eq!(run(&plugin, "count").unwrap(), Ok("1".to_owned()), "a fresh instance");
}

#[test]
fn limits_hold_for_host_world_calls() {
    let (_dir, plugin) = load(PROBE, "[limits]\ntimeout = \"50ms\"\nfuel = 10000000\nmax-output = \"1 KiB\"");
    let plugin = plugin.unwrap();
    let e = run(&plugin, "spin").unwrap_err();
    assert!(matches!(e, Error::OutOfFuel { .. } | Error::Timeout { .. }), "{e:?}");
    let e = run(&plugin, "big:4096").unwrap_err();
    assert!(matches!(e, Error::OutputTooLarge { size: 4096, limit: 1024, .. }), "{e:?}");
    assert_eq!(run(&plugin, "big:10").unwrap(), Ok("x".repeat(10)));
}

#[test]
fn a_capability_is_refused_without_its_grant() {
    let (_dir, plugin) = load(PROBE, "");
    let answer = run(&plugin.unwrap(), "sleep:1").unwrap();
    let refusal = answer.unwrap_err();
    assert!(refusal.starts_with("capability-denied: plugin 'test-plugin' may not call sleep.sleep"), "{refusal}");
    assert!(refusal.contains("[permissions] sleep = true"), "{refusal}");

    let (_dir, plugin) = load(PROBE, "[permissions]\nsleep = true");
    assert_eq!(run(&plugin.unwrap(), "sleep:1").unwrap(), Ok("slept".to_owned()));
}

#[test]
fn a_refusal_is_audited_once_per_call() {
    let dir = TempDir::new().unwrap();
    let folder = dir.path().join("p");
    std::fs::create_dir(&folder).unwrap();
    write_plugin(&folder, PROBE, "");
    let log = dir.path().join("audit.jsonl");
    let m = PluginManager::builder(runtime().0.clone()).audit(warden::AuditSink::File(log.clone())).build().unwrap();
    m.load(&folder).unwrap();
    for _ in 0..2 {
        let answer = m.call("test-plugin", |p| run(p, "sleep:1")).unwrap();
        assert!(answer.unwrap_err().starts_with("capability-denied"));
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let denied: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["event"] == "capability-denied")
        .collect();
    assert_eq!(denied.len(), 2, "one line per call: {text}");
    assert_eq!(denied[0]["import"], "sleep.sleep", "{}", denied[0]);
}

#[test]
fn a_bad_grant_is_a_manifest_error_with_its_line() {
    let (_dir, plugin) = load(PROBE, "[permissions]\nsleep = \"yes\"");
    let e = plugin.unwrap_err();
    let Error::Manifest(m) = &e else { panic!("expected a manifest error, got {e:?}") };
    assert_eq!((m.key.as_deref(), m.line, m.column), (Some("permissions.sleep"), Some(6), Some(9)), "{e}");
    assert!(m.message.contains("expected true or false, found \"yes\""), "{e}");

    let (_dir, plugin) = load(PROBE, "[permissions]\nteleport = true");
    let e = plugin.unwrap_err();
    let Error::Manifest(m) = &e else { panic!("expected a manifest error, got {e:?}") };
    assert_eq!((m.key.as_deref(), m.line), (Some("permissions.teleport"), Some(6)), "{e}");
    assert!(m.message.contains("unknown key in [permissions]; allowed keys: files, env"), "{e}");
    assert!(m.message.ends_with(", sleep"), "the host's keys are listed: {e}");
}

#[test]
fn a_capability_call_is_cut_at_the_calls_deadline() {
    let (_dir, plugin) = load(PROBE, "[permissions]\nsleep = true\n[limits]\ntimeout = \"100ms\"");
    let plugin = plugin.unwrap();
    let start = Instant::now();
    let e = run(&plugin, "sleep:4999").unwrap_err();
    let took = start.elapsed();
    match &e {
        Error::ServiceUnavailable { service, .. } => assert_eq!(service, "the test sleeper"),
        other => panic!("expected the wait to be cut at the deadline, got {other:?}"),
    }
    assert!(took < Duration::from_secs(2), "cut at the deadline, not after the 5 s sleep: {took:?}");
    assert!(!runtime().1.lock().unwrap().contains(&4999), "the sleep did not run to its end");
    assert_eq!(run(&plugin, "count").unwrap(), Ok("1".to_owned()), "a fresh instance serves the next call");
}

#[test]
fn an_import_no_capability_provides_fails_the_load_naming_it() {
    let (_dir, plugin) = load(STRANGER, "");
    let e = plugin.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    let text = e.to_string();
    assert!(
        text.contains("it imports `test:probe/missing@0.1.0`, which no capability of this host provides"),
        "{text}"
    );
    assert!(text.contains("test:probe/sleep"), "the provided interfaces are listed: {text}");
}

#[test]
fn a_plugin_built_for_another_world_is_refused() {
    // Warden's own HTTP world, in a host that only loads the probe world.
    let (_dir, plugin) = load(ECHO, "");
    let text = plugin.unwrap_err().to_string();
    assert!(
        text.contains("it is not built for this host: it exports none of the host's worlds: test:probe/probe"),
        "{text}"
    );
    // And the other way round: the probe in a runtime of Warden's world.
    let dir = TempDir::new().unwrap();
    write_plugin(dir.path(), PROBE, "");
    let text = crate::common::runtime().load(dir.path()).unwrap_err().to_string();
    assert!(text.contains("it imports `test:probe/sleep@0.1.0`, which no capability of this host provides"), "{text}");
}

#[test]
fn hot_reload_under_calls_drops_no_call() {
    let dir = TempDir::new().unwrap();
    let folder = dir.path().join("probe");
    std::fs::create_dir(&folder).unwrap();
    write_plugin(&folder, PROBE, "[config]\ntag = \"v1\"");
    let m = PluginManager::new(runtime().0.clone());
    m.load(&folder).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (m, stop) = (m.clone(), Arc::clone(&stop));
            thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let answer = m.call("test-plugin", |p| run(p, "hello")).expect("no call fails during reloads");
                    let answer = answer.expect("the plugin answers");
                    if seen.last() != Some(&answer) {
                        seen.push(answer);
                    }
                }
                seen
            })
        })
        .collect();
    for version in 2..=6 {
        thread::sleep(Duration::from_millis(30));
        write_plugin(&folder, PROBE, &format!("[config]\ntag = \"v{version}\""));
        m.reload("test-plugin").unwrap();
    }
    thread::sleep(Duration::from_millis(30));
    stop.store(true, Ordering::Relaxed);
    for caller in callers {
        let seen = caller.join().unwrap();
        // Each caller sees versions in order, never an older one again.
        let tags: Vec<u32> = seen.iter().map(|s| s.trim_start_matches("hello from v").parse().unwrap()).collect();
        assert!(tags.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
        assert_eq!(tags.last(), Some(&6), "{seen:?}");
    }
    assert_eq!(m.call("test-plugin", |p| run(p, "hello")).unwrap(), Ok("hello from v6".to_owned()));
}

#[test]
fn a_host_world_plugin_that_keeps_trapping_backs_off() {
    let dir = TempDir::new().unwrap();
    let folder = dir.path().join("probe");
    std::fs::create_dir(&folder).unwrap();
    write_plugin(&folder, PROBE, "");
    let m = PluginManager::builder(runtime().0.clone())
        .trap_threshold(2)
        .trap_window(Duration::from_secs(60))
        .backoff(Duration::from_secs(60))
        .build()
        .unwrap();
    m.load(&folder).unwrap();
    for _ in 0..2 {
        assert_eq!(m.call("test-plugin", |p| run(p, "trap")).unwrap_err().kind(), ErrorKind::Trap);
    }
    assert_eq!(m.info("test-plugin").unwrap().state, warden::PluginState::BackingOff);
    let e = m.call("test-plugin", |p| run(p, "hello")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
}
