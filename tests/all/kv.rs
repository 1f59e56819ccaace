//! The key-value capability, end to end through the echo fixture's `kv-*`
//! actions. Every case in `both_backends!` runs once against redb and once
//! against a real `redis-server` that the test starts on 127.0.0.1 (a free
//! port, no persistence) and kills when done.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use warden::{Error, KeyValueError, KeyValueStore, Plugin, Runtime};
use warden_fixtures::ECHO;

use crate::common::handle_err;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Redb,
    Redis,
}

/// A `redis-server` on 127.0.0.1 for one test; killed on drop.
pub struct RedisServer {
    child: Child,
    pub port: u16,
    dir: TempDir,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        let dir = TempDir::new().unwrap();
        for _ in 0..5 {
            let port = free_port();
            if let Some(child) = spawn_redis(dir.path(), port) {
                return RedisServer { child, port, dir };
            }
        }
        panic!("redis-server did not start on 127.0.0.1 (5 ports tried)");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills the server (its data is gone: no persistence).
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts a fresh server on the same port.
    fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(child) = spawn_redis(self.dir.path(), self.port) {
                self.child = child;
                return;
            }
            assert!(Instant::now() < deadline, "redis-server did not restart on port {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn redis_server_binary() -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")])
        .map(|dir| dir.join("redis-server"))
        .find(|path| path.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "redis-server not found: the Redis key-value tests need it; install it with `apt-get install redis-server`"
        )
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts redis-server on `port` and waits (up to 10 s) until it answers
/// PING; `None` if it exits first (e.g. the port was taken meanwhile).
fn spawn_redis(dir: &Path, port: u16) -> Option<Child> {
    let mut child = Command::new(redis_server_binary())
        .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
        .args(["--protected-mode", "yes", "--dir"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run redis-server ({e}); install it with `apt-get install redis-server`"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return None;
        }
        if pong(port) {
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn pong(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut buf = [0; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// A compile cache shared by this module's runtimes, so the echo fixture
/// compiles once. Filled before any test uses it (the cache key file is
/// created by the first runtime).
fn cache_dir() -> &'static Path {
    static CACHE: OnceLock<TempDir> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            let dir = TempDir::new().unwrap();
            let rt = runtime_with(dir.path(), None);
            load_into(&rt, dir.path(), "warm-up", "");
            dir
        })
        .path()
}

fn runtime_with(cache: &Path, store: Option<KeyValueStore>) -> Runtime {
    let mut builder = Runtime::builder().cache_dir(cache.join("cache")).max_instances_total(64);
    if let Some(store) = store {
        builder = builder.key_value(store);
    }
    builder.build().unwrap()
}

/// Loads the echo fixture as plugin `name` with `extra` manifest TOML,
/// from a folder under `dir`.
fn load_into(runtime: &Runtime, dir: &Path, name: &str, extra: &str) -> Plugin {
    let folder = dir.join(format!("plugin-{name}-{}", rand_suffix()));
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(ECHO, folder.join("plugin.wasm")).unwrap();
    let manifest = format!("[plugin]\nname = \"{name}\"\nversion = \"1.0.0\"\ncomponent = \"plugin.wasm\"\n{extra}\n");
    std::fs::write(folder.join("plugin.toml"), manifest).unwrap();
    runtime.load(&folder).unwrap_or_else(|e| panic!("load {name}: {e}"))
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Manifest TOML granting the key-value store with a quota.
fn granted(quota: &str) -> String {
    format!("[permissions]\nkey-value = true\n[limits]\nkey-value-quota = \"{quota}\"\nmax-instances = 8\n")
}

/// One test's store, runtime and (for Redis) server.
struct Env {
    store: KeyValueStore,
    runtime: Runtime,
    dir: TempDir,
    server: Option<RedisServer>,
}

impl Env {
    fn new(backend: Backend) -> Env {
        let dir = TempDir::new().unwrap();
        let (store, server) = match backend {
            Backend::Redb => (KeyValueStore::open(dir.path().join("data/kv.redb")).unwrap(), None),
            Backend::Redis => {
                let server = RedisServer::start();
                (KeyValueStore::connect_redis(&server.url()).unwrap(), Some(server))
            }
        };
        let runtime = runtime_with(cache_dir(), Some(store.clone()));
        Env { store, runtime, dir, server }
    }

    /// Plugin `name` with `[permissions] key-value = true` and `quota`.
    fn plugin(&self, name: &str, quota: &str) -> Plugin {
        load_into(&self.runtime, self.dir.path(), name, &granted(quota))
    }

    /// Another host on the same Redis server: its own store handle and runtime.
    fn second_host(&self) -> (KeyValueStore, Runtime) {
        let server = self.server.as_ref().expect("a Redis test");
        let store = KeyValueStore::connect_redis(&server.url()).unwrap();
        let runtime = runtime_with(cache_dir(), Some(store.clone()));
        (store, runtime)
    }
}

fn call(plugin: &Plugin, action: &str, payload: &str) -> String {
    let out = plugin.handle(action, payload.as_bytes()).unwrap_or_else(|e| panic!("{action} {payload:?}: {e}"));
    String::from_utf8(out).unwrap()
}

fn get(plugin: &Plugin, key: &str) -> String {
    call(plugin, "kv-get", key)
}

fn set(plugin: &Plugin, key: &str, value: &str) {
    assert_eq!(call(plugin, "kv-set", &format!("{key}={value}")), "");
}

fn delete(plugin: &Plugin, key: &str) -> bool {
    match call(plugin, "kv-delete", key).as_str() {
        "true" => true,
        "false" => false,
        other => panic!("kv-delete answered {other:?}"),
    }
}

fn list(plugin: &Plugin, prefix: &str, limit: u32) -> Vec<String> {
    let out = call(plugin, "kv-list", &format!("{prefix} {limit}"));
    if out.is_empty() { Vec::new() } else { out.split('\n').map(str::to_owned).collect() }
}

/// The plugin error code of a failed call, and its message.
fn code(plugin: &Plugin, action: &str, payload: &str) -> (String, String) {
    match handle_err(plugin, action, payload.as_bytes()) {
        Error::Plugin { code, message, .. } => (code, message),
        e => panic!("{action} {payload:?}: expected a plugin error, got {e}"),
    }
}

// ---------------------------------------------------------------------------
// Cases run against both backends.

fn round_trip(b: Backend) {
    let env = Env::new(b);
    let p = env.plugin("gateway", "1 MiB");
    assert_eq!(get(&p, "greeting"), "<none>");
    set(&p, "greeting", "hello");
    assert_eq!(get(&p, "greeting"), "hello");
    set(&p, "eq", "a=b=c");
    assert_eq!(get(&p, "eq"), "a=b=c");
    set(&p, "empty", "");
    assert_eq!(get(&p, "empty"), "", "an empty value is stored, not missing");
    set(&p, "ключ 🔑", "värde");
    assert_eq!(get(&p, "ключ 🔑"), "värde");
    // The host sees what the plugin stored, in the plugin's namespace.
    assert_eq!(env.store.get("gateway", "greeting").unwrap().as_deref(), Some(&b"hello"[..]));
    assert_eq!(env.store.get("other", "greeting").unwrap(), None);
}

fn overwrite(b: Backend) {
    let env = Env::new(b);
    let p = env.plugin("gateway", "1 MiB");
    set(&p, "k", "first value");
    set(&p, "k", "v2");
    assert_eq!(get(&p, "k"), "v2");
    assert_eq!(env.store.usage("gateway").unwrap(), 3, "usage counts the current value only");
    assert_eq!(list(&p, "", 10), ["k"]);
}

fn delete_reports_whether_the_key_existed(b: Backend) {
    let env = Env::new(b);
    let p = env.plugin("gateway", "1 MiB");
    set(&p, "gone", "soon");
    set(&p, "kept", "x");
    assert!(delete(&p, "gone"));
    assert_eq!(get(&p, "gone"), "<none>");
    assert!(!delete(&p, "gone"));
    assert!(!delete(&p, "never-set"));
    assert_eq!(get(&p, "kept"), "x");
    assert_eq!(list(&p, "", 10), ["kept"]);
    assert_eq!(env.store.usage("gateway").unwrap(), 5);
    assert!(delete(&p, "kept"));
    assert_eq!(env.store.usage("gateway").unwrap(), 0);
}

fn list_by_prefix_in_byte_order_with_limit(b: Backend) {
    let env = Env::new(b);
    let p = env.plugin("gateway", "1 MiB");
    for key in ["user:2", "user:10", "user:1", "users", "admin", "éclair", "zeta", "user"] {
        set(&p, key, "v");
    }
    assert_eq!(list(&p, "user:", 10), ["user:1", "user:10", "user:2"]);
    assert_eq!(list(&p, "user:", 2), ["user:1", "user:10"]);
    assert_eq!(list(&p, "user", 10), ["user", "user:1", "user:10", "user:2", "users"]);
    // Byte order: "zeta" (0x7a) sorts before "éclair" (0xc3 0xa9).
    assert_eq!(list(&p, "", 100), ["admin", "user", "user:1", "user:10", "user:2", "users", "zeta", "éclair"]);
    assert_eq!(list(&p, "é", 100), ["éclair"]);
    assert!(list(&p, "nobody", 10).is_empty());
    assert!(list(&p, "user", 0).is_empty());

    // The limit is capped at 1000.
    for i in 0..1005 {
        env.store.set("gateway", &format!("n{i:04}"), b"", 1 << 20).unwrap();
    }
    let many = list(&p, "n", u32::MAX);
    assert_eq!(many.len(), 1000);
    assert_eq!((many[0].as_str(), many[999].as_str()), ("n0000", "n0999"));
}

fn namespaces_are_isolated(b: Backend) {
    let env = Env::new(b);
    let alpha = env.plugin("alpha", "1 MiB");
    let beta = env.plugin("beta", "1 MiB");
    set(&alpha, "shared", "from alpha");
    set(&beta, "shared", "from beta");
    set(&beta, "only-beta", "secret");
    assert_eq!(get(&alpha, "shared"), "from alpha");
    assert_eq!(get(&beta, "shared"), "from beta");

    // Crafted keys resolve inside alpha's own namespace, never beta's.
    let crafted = [
        "only-beta",
        "../beta/only-beta",
        "beta:only-beta",
        ":only-beta",
        "}:only-beta",
        "{beta}:only-beta",
        "warden:kv:{beta}:only-beta",
        "beta/only-beta",
    ];
    for key in crafted {
        assert_eq!(get(&alpha, key), "<none>", "{key}");
        assert!(!delete(&alpha, key), "{key}");
    }
    for key in ["beta\0only-beta", "\0only-beta"] {
        assert_eq!(code(&alpha, "kv-get", key).0, "invalid-key", "{key:?}");
    }
    for prefix in ["", "only", "../", "beta", "beta:", "{beta}", ":"] {
        assert!(list(&alpha, prefix, 100).iter().all(|k| k == "shared"), "{prefix:?}");
    }
    // What alpha writes under crafted keys stays alpha's.
    for key in crafted {
        set(&alpha, key, "from alpha");
    }
    assert_eq!(get(&beta, "only-beta"), "secret");
    assert_eq!(list(&beta, "", 100), ["only-beta", "shared"]);
    assert!(delete(&alpha, "shared"));
    assert_eq!(get(&beta, "shared"), "from beta", "alpha's delete removed alpha's key only");
    assert_eq!(env.store.get("beta", "only-beta").unwrap().as_deref(), Some(&b"secret"[..]));
}

fn quota_exceeded_and_freed(b: Backend) {
    let env = Env::new(b);
    let p = env.plugin("gateway", "64 B");
    set(&p, "a", &"x".repeat(60)); // 61 bytes
    let (c, message) = code(&p, "kv-set", "b=xyz"); // 4 more: 65 > 64
    assert_eq!(c, "quota-exceeded");
    assert!(message.contains("key-value-quota") && message.contains("64"), "{message}");
    assert_eq!(get(&p, "b"), "<none>", "a refused set stores nothing");
    assert_eq!(get(&p, "a"), "x".repeat(60), "and changes nothing");
    assert_eq!(env.store.usage("gateway").unwrap(), 61);
    // Growing an existing key past the quota is refused too.
    assert_eq!(code(&p, "kv-set", &format!("a={}", "y".repeat(64))).0, "quota-exceeded");
    assert_eq!(get(&p, "a"), "x".repeat(60));
    // A value larger than the whole quota.
    assert_eq!(code(&p, "kv-set", &format!("c={}", "z".repeat(100))).0, "quota-exceeded");

    // Shrinking frees space.
    set(&p, "a", &"x".repeat(50)); // 51
    set(&p, "b", "xyz"); // 55
    assert_eq!(env.store.usage("gateway").unwrap(), 55);
    // Exactly full is allowed; one more byte is not.
    set(&p, "c", "12345678"); // 64
    assert_eq!(code(&p, "kv-set", "d=").0, "quota-exceeded");
    // Deleting frees space.
    assert!(delete(&p, "a"));
    set(&p, "d", &"w".repeat(40));
    assert_eq!(env.store.usage("gateway").unwrap(), 13 + 41);
}

fn quota_is_per_plugin(b: Backend) {
    let env = Env::new(b);
    let alpha = env.plugin("alpha", "64 B");
    let beta = env.plugin("beta", "64 B");
    set(&alpha, "a", &"x".repeat(63));
    assert_eq!(code(&alpha, "kv-set", "b=1").0, "quota-exceeded");
    set(&beta, "a", &"x".repeat(63));
    assert_eq!(env.store.usage("alpha").unwrap(), 64);
    assert_eq!(env.store.usage("beta").unwrap(), 64);
}

fn capability_denied_without_permission(b: Backend) {
    let env = Env::new(b);
    env.store.set("denied", "k", b"v", 1 << 20).unwrap();
    for extra in ["", "[permissions]\nkey-value = false\n"] {
        let p = load_into(&env.runtime, env.dir.path(), "denied", extra);
        for (action, payload) in [("kv-get", "k"), ("kv-set", "k=x"), ("kv-delete", "k"), ("kv-list", " 10")] {
            let (c, message) = code(&p, action, payload);
            assert_eq!(c, "capability-denied", "{action}");
            assert!(message.contains("key-value = true") && message.contains("[permissions]"), "{message}");
        }
    }
    assert_eq!(env.store.get("denied", "k").unwrap().as_deref(), Some(&b"v"[..]), "nothing changed");
}

fn invalid_keys(b: Backend) {
    let env = Env::new(b);
    let p = env.plugin("gateway", "1 MiB");
    let long = "k".repeat(513);
    for key in ["", long.as_str(), "a\0b", "\0"] {
        for action in ["kv-get", "kv-delete"] {
            assert_eq!(code(&p, action, key).0, "invalid-key", "{action} {:?}", &key[..key.len().min(8)]);
        }
        let (c, message) = code(&p, "kv-set", &format!("{key}=v"));
        assert_eq!(c, "invalid-key");
        assert!(message.contains("invalid key"), "{message}");
    }
    assert_eq!(code(&p, "kv-list", "a\0 10").0, "invalid-key");
    assert_eq!(code(&p, "kv-list", &format!("{long} 10")).0, "invalid-key");
    // The limits themselves are fine.
    let longest = "é".repeat(256); // 512 bytes
    set(&p, &longest, "v");
    assert_eq!(get(&p, &longest), "v");
    assert_eq!(list(&p, "", 10), [longest]);
}

fn concurrent_writers_never_exceed_the_quota(b: Backend) {
    const QUOTA: u64 = 1000;
    let env = Env::new(b);
    let mut plugins = vec![env.plugin("busy", "1000 B")];
    // On Redis, a second host writes to the same namespace too.
    let _second = (b == Backend::Redis).then(|| {
        let (store, runtime) = env.second_host();
        plugins.push(load_into(&runtime, env.dir.path(), "busy", &granted("1000 B")));
        (store, runtime)
    });
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let p = plugins[t % plugins.len()].clone();
            std::thread::spawn(move || {
                let (mut stored, mut refused) = (0, 0);
                for i in 0..200 {
                    // 6 + 10 = 16 bytes per key; a few overwrites of earlier keys too.
                    let key = if i % 7 == 6 { format!("t{t}-{:03}", i - 6) } else { format!("t{t}-{i:03}") };
                    match p.handle("kv-set", format!("{key}=0123456789").as_bytes()) {
                        Ok(_) => stored += 1,
                        Err(Error::Plugin { code, .. }) if code == "quota-exceeded" => refused += 1,
                        Err(e) => panic!("thread {t}: {e}"),
                    }
                }
                (stored, refused)
            })
        })
        .collect();
    let results: Vec<(u32, u32)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(results.iter().all(|&(_, refused)| refused > 0), "every thread hit the quota: {results:?}");

    let usage = env.store.usage("busy").unwrap();
    assert!(usage <= QUOTA, "usage {usage} is over the quota");
    assert!(usage > QUOTA - 16, "the namespace was filled: {usage}");
    // The counter matches what is stored.
    let keys = env.store.list_keys("busy", "", 1000).unwrap();
    let stored: u64 = keys
        .iter()
        .map(|k| (k.len() + env.store.get("busy", k).unwrap().expect("listed keys exist").len()) as u64)
        .sum();
    assert_eq!(stored, usage, "usage counter matches the stored keys");
    assert_eq!(keys.len() as u64, usage / 16);
}

macro_rules! both_backends {
    ($($case:ident),* $(,)?) => {
        mod redb_backend {
            $( #[test] fn $case() { super::$case(super::Backend::Redb) } )*
        }
        mod redis_backend {
            $( #[test] fn $case() { super::$case(super::Backend::Redis) } )*
        }
    };
}

both_backends!(
    round_trip,
    overwrite,
    delete_reports_whether_the_key_existed,
    list_by_prefix_in_byte_order_with_limit,
    namespaces_are_isolated,
    quota_exceeded_and_freed,
    quota_is_per_plugin,
    capability_denied_without_permission,
    invalid_keys,
    concurrent_writers_never_exceed_the_quota,
);

// ---------------------------------------------------------------------------
// Backend-specific cases.

#[test]
fn unavailable_without_a_store() {
    let dir = TempDir::new().unwrap();
    let runtime = runtime_with(cache_dir(), None);
    let p = load_into(&runtime, dir.path(), "lonely", &granted("1 MiB"));
    for (action, payload) in [("kv-get", "k"), ("kv-set", "k=x"), ("kv-delete", "k"), ("kv-list", " 10")] {
        let (c, message) = code(&p, action, payload);
        assert_eq!(c, "unavailable", "{action}");
        assert!(message.contains("no key-value store"), "{message}");
    }
    // Without the permission, the refusal is the permission's.
    let p = load_into(&runtime, dir.path(), "lonely", "");
    assert_eq!(code(&p, "kv-get", "k").0, "capability-denied");
}

#[test]
fn redb_persists_across_reopening() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("data/kv.redb");
    {
        let store = KeyValueStore::open(&path).unwrap();
        let runtime = runtime_with(cache_dir(), Some(store.clone()));
        let p = load_into(&runtime, dir.path(), "keeper", &granted("64 B"));
        set(&p, "kept", "across restarts");
        set(&p, "gone", "deleted before closing");
        assert!(delete(&p, "gone"));
        // Still open here: a second open of the same file is a typed error.
        let e = KeyValueStore::open(&path).unwrap_err();
        assert!(matches!(&e, KeyValueError::Open { path: p, .. } if *p == path), "{e}");
    }
    let store = KeyValueStore::open(&path).unwrap();
    let runtime = runtime_with(cache_dir(), Some(store.clone()));
    let p = load_into(&runtime, dir.path(), "keeper", &granted("64 B"));
    assert_eq!(get(&p, "kept"), "across restarts");
    assert_eq!(get(&p, "gone"), "<none>");
    assert_eq!(list(&p, "", 10), ["kept"]);
    // The usage counter persisted too: 4 + 15 = 19 used, 45 left.
    assert_eq!(store.usage("keeper").unwrap(), 19);
    assert_eq!(code(&p, "kv-set", &format!("x={}", "y".repeat(45))).0, "quota-exceeded");
    set(&p, "x", &"y".repeat(44));
}

#[test]
fn redis_is_shared_by_two_store_handles() {
    let env = Env::new(Backend::Redis);
    let (other_store, other_runtime) = env.second_host();
    let here = env.plugin("gateway", "64 B");
    let there = load_into(&other_runtime, env.dir.path(), "gateway", &granted("64 B"));
    set(&here, "session", "abc");
    assert_eq!(get(&there, "session"), "abc");
    set(&there, "session", "def");
    assert_eq!(get(&here, "session"), "def");
    assert_eq!(list(&there, "", 10), ["session"]);
    // One quota across hosts: 10 bytes used, 54 left.
    assert_eq!(code(&here, "kv-set", &format!("big={}", "x".repeat(52))).0, "quota-exceeded");
    set(&there, "big", &"x".repeat(51));
    assert_eq!(other_store.usage("gateway").unwrap(), 64);
    assert_eq!(env.store.usage("gateway").unwrap(), 64);
    assert!(delete(&here, "session"));
    assert_eq!(get(&there, "session"), "<none>");
    assert!(!delete(&there, "session"));
}

#[test]
fn redis_outage_is_unavailable_and_reconnects() {
    let mut env = Env::new(Backend::Redis);
    let p = env.plugin("gateway", "1 MiB");
    set(&p, "before", "1");
    // A restart between two calls: the pooled connection is stale, and the
    // next call reconnects and succeeds (the data is gone: no persistence).
    env.server.as_mut().unwrap().restart();
    assert_eq!(get(&p, "before"), "<none>");
    set(&p, "before", "1");
    // While the server is down: `unavailable`, quickly.
    env.server.as_mut().unwrap().stop();
    let started = Instant::now();
    let (c, message) = code(&p, "kv-get", "before");
    assert_eq!(c, "unavailable");
    assert!(message.contains("127.0.0.1") && message.contains("Redis"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(10), "fails fast: {:?}", started.elapsed());
    // Back up: calls work again.
    env.server.as_mut().unwrap().restart();
    assert_eq!(get(&p, "before"), "<none>");
    set(&p, "after", "2");
    assert_eq!(get(&p, "after"), "2");
    assert_eq!(env.store.usage("gateway").unwrap(), 6);
}

#[test]
fn a_stalled_redis_never_holds_a_plugin_past_its_deadline() {
    let server = RedisServer::start();
    let store = KeyValueStore::connect_redis(&server.url()).unwrap();
    let dir = TempDir::new().unwrap();
    let runtime = runtime_with(cache_dir(), Some(store));
    let plugin = load_into(&runtime, dir.path(), "patient", &format!("{}timeout = \"300ms\"\n", granted("1KiB")));
    set(&plugin, "k", "v");
    // The server stops answering every client for 3 s.
    pause(&server, 3000);

    let start = Instant::now();
    let err = handle_err(&plugin, "kv-get", b"k");
    let took = start.elapsed();
    // Redis waits are bounded by the call's deadline, not by the store's
    // own 2 s: the wait ends at 300 ms and the call fails, naming Redis.
    assert!(
        matches!(&err, Error::ServiceUnavailable { timeout, service, .. }
            if *timeout == Duration::from_millis(300) && service.contains(&server.url())),
        "{err:?}"
    );
    assert!(took < Duration::from_millis(1500), "the call took {took:?}");
}

/// Sends `CLIENT PAUSE <ms> ALL`: the server stops answering every client.
fn pause(server: &RedisServer, ms: u64) {
    let mut admin = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    admin.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    admin.write_all(format!("CLIENT PAUSE {ms} ALL\r\n").as_bytes()).unwrap();
    let mut ok = [0; 5];
    admin.read_exact(&mut ok).unwrap();
    assert_eq!(&ok, b"+OK\r\n");
}

/// A stalled Redis is the store's fault, not the plugin's: the calls it
/// holds up fail naming Redis (no timeout of the plugin), the plugin is
/// not backed off, and it serves again as soon as Redis answers.
#[test]
fn a_redis_stall_is_not_blamed_on_the_plugin() {
    let server = RedisServer::start();
    let store = KeyValueStore::connect_redis(&server.url()).unwrap();
    let dir = TempDir::new().unwrap();
    let folder = dir.path().join("patient");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(ECHO, folder.join("plugin.wasm")).unwrap();
    let manifest = format!(
        "[plugin]\nname = \"patient\"\nversion = \"1.0.0\"\ncomponent = \"plugin.wasm\"\n{}timeout = \"100ms\"\n",
        granted("1KiB")
    );
    std::fs::write(folder.join("plugin.toml"), manifest).unwrap();
    let m = warden::PluginManager::builder(runtime_with(cache_dir(), Some(store)))
        .trap_threshold(2)
        .backoff(Duration::from_secs(60))
        .build()
        .unwrap();
    m.load(&folder).unwrap();
    m.handle("patient", "kv-set", b"k=v").unwrap();

    pause(&server, 1500);
    let paused = Instant::now();
    for _ in 0..4 {
        let err = m.handle("patient", "kv-get", b"k").unwrap_err();
        assert_eq!(err.kind(), warden::ErrorKind::ServiceUnavailable, "{err}");
        let text = err.to_string();
        assert!(text.contains(&format!("the key-value store (redis {})", server.url())), "{text}");
        assert!(text.contains("did not answer within the call's 100 ms"), "{text}");
    }
    // A plugin that spent most of its own time first is timed out as usual:
    // the store had too little of the call to be blamed.
    let err = m.handle("patient", "kv-get-after", b"70 k").unwrap_err();
    assert_eq!(err.kind(), warden::ErrorKind::Timeout, "{err}");
    assert!(paused.elapsed() < Duration::from_millis(1500), "the calls ended during the stall");
    while !pong(server.port) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Four stalls and a timeout against a threshold of two, yet no back-off.
    assert_eq!(m.handle("patient", "kv-get", b"k").unwrap(), b"v");
    let info = m.info("patient").unwrap();
    assert_eq!(info.state, warden::PluginState::Running);
    assert_eq!((info.stats.traps, info.stats.timeouts), (1, 1), "only the plugin's own timeout counts");
    assert_eq!(info.stats.errors, [(warden::ErrorKind::Timeout, 1), (warden::ErrorKind::ServiceUnavailable, 4)]);
}

#[test]
fn store_specs() {
    let dir = TempDir::new().unwrap();
    let redb = KeyValueStore::from_spec("redb", dir.path().join("gateway")).unwrap();
    redb.set("p", "k", b"v", 10).unwrap();
    assert!(dir.path().join("gateway/kv.redb").is_file());
    assert!(format!("{redb:?}").contains("kv.redb"));

    let server = RedisServer::start();
    let redis = KeyValueStore::from_spec(&server.url(), dir.path()).unwrap();
    redis.set("p", "k", b"v", 10).unwrap();
    assert_eq!(redis.get("p", "k").unwrap().as_deref(), Some(&b"v"[..]));
    assert!(format!("{redis:?}").contains(&server.url()));

    for bad in ["", "sqlite", "memory", "http://127.0.0.1:6379", "Redb"] {
        let e = KeyValueStore::from_spec(bad, dir.path()).unwrap_err();
        assert!(matches!(e, KeyValueError::InvalidSpec { .. }), "{bad}: {e:?}");
    }
    // Nothing listens on a port we just freed.
    let url = format!("redis://127.0.0.1:{}", free_port());
    let e = KeyValueStore::connect_redis(&url).unwrap_err();
    assert!(matches!(&e, KeyValueError::Connect { url: u, .. } if *u == url), "{e:?}");
    assert!(e.to_string().contains("check that Redis runs there"), "{e}");
}
