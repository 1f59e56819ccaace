//! The key-value capability: [`KeyValueStore`] and the host import
//! `warden:plugin/keyvalue`.
//!
//! Every plugin gets its own namespace (its name) in one store shared by
//! the host. Two backends sit behind the small [`Backend`] trait:
//!
//! - [`redb`](self::redb): an embedded file, for a single host process;
//! - [`redis`](self::redis): a Redis server, shared by several hosts.
//!
//! Both enforce the same rules, checked here before a backend is asked:
//! keys are non-empty UTF-8 of at most [`MAX_KEY_BYTES`] bytes without NUL,
//! and a namespace's usage (the sum over its keys of key length plus value
//! length) never exceeds the plugin's quota. The check and the write happen
//! atomically in the backend (one redb write transaction; one Lua script in
//! Redis), so concurrent writers cannot overshoot.

mod redb;
mod redis;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::bindings::{keyvalue, types};
use crate::capability::{Capability, GrantContext, Has, HostView, Linker, view};
use crate::limits::Limits;
use crate::permissions::Permissions;

/// Longest key, in bytes.
pub(crate) const MAX_KEY_BYTES: usize = 512;

/// Most keys one `list-keys` call returns, whatever limit it asks for.
pub(crate) const MAX_LIST_KEYS: u32 = 1000;

/// A key-value store shared by the plugins of a host, one namespace per
/// plugin. Cheap to clone (clones share the backend); `Send + Sync`.
///
/// Give it to a runtime with
/// [`RuntimeBuilder::key_value`](crate::RuntimeBuilder::key_value); plugins
/// whose manifest sets `[permissions] key-value = true` then reach their own
/// namespace through the `warden:plugin/keyvalue` import. The host can also
/// read and write any namespace directly, e.g. to seed or inspect a
/// plugin's data.
///
/// ```no_run
/// use warden::{KeyValueStore, Runtime};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = KeyValueStore::open("/var/lib/myapp/kv.redb")?;
/// // or: KeyValueStore::connect_redis("redis://127.0.0.1:6379/0")?
/// store.set("rate-limiter", "limit", b"100", 1 << 20)?;
/// let runtime = Runtime::builder().key_value(store.clone()).build()?;
/// let plugin = runtime.load("plugins/rate-limiter")?;
/// assert_eq!(store.get("rate-limiter", "limit")?.as_deref(), Some(&b"100"[..]));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct KeyValueStore {
    backend: Arc<dyn Backend>,
}

/// What every backend does. Keys, prefixes and limits are already checked;
/// `set` must check the quota and write in one atomic step.
trait Backend: Send + Sync {
    /// The value of `key` in `namespace`.
    fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, KeyValueError>;
    /// Stores `value` unless [`charge`] refuses it.
    fn set(&self, namespace: &str, key: &str, value: &[u8], quota: u64) -> Result<(), KeyValueError>;
    /// Removes `key`; whether it existed.
    fn delete(&self, namespace: &str, key: &str) -> Result<bool, KeyValueError>;
    /// Up to `limit` keys starting with `prefix`, in byte order.
    fn list_keys(&self, namespace: &str, prefix: &str, limit: usize) -> Result<Vec<String>, KeyValueError>;
    /// Bytes used by `namespace`.
    fn usage(&self, namespace: &str) -> Result<u64, KeyValueError>;
    /// Makes every write so far durable.
    fn flush(&self) -> Result<(), KeyValueError>;
    /// For `Debug` and errors: the backend and its file or (redacted) URL.
    fn describe(&self) -> String;
}

/// Why a key-value store could not be opened or an operation failed.
///
/// [`code`](Self::code) is the error code a plugin sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyValueError {
    /// The redb file could not be created or opened.
    #[error("cannot open the key-value store `{}`: {message}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// What went wrong and what to do.
        message: String,
    },

    /// The Redis server could not be reached or refused the connection.
    #[error(
        "cannot connect to the key-value store at {url}: {message}; check that Redis runs there and that the URL (redis://[user:password@]host:port[/db]) is right"
    )]
    Connect {
        /// The URL, password removed.
        url: String,
        /// What the client said.
        message: String,
    },

    /// The store specification is neither `redb` nor a `redis://` URL.
    #[error(
        "unknown key-value store {spec:?}: use \"redb\" (a file in the data directory) or a redis://host:port[/db] URL"
    )]
    InvalidSpec {
        /// The specification given (password removed).
        spec: String,
    },

    /// A key or prefix breaks the key rules.
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey {
        /// The key (cut to 64 bytes).
        key: String,
        /// Which rule it breaks.
        reason: &'static str,
    },

    /// The write would take the namespace over its quota; nothing changed.
    #[error(
        "key-value namespace '{namespace}' would use {needed} bytes, over its quota of {quota} bytes (now {usage}); delete keys, store less or raise [limits] key-value-quota"
    )]
    QuotaExceeded {
        /// The namespace (plugin name).
        namespace: String,
        /// The quota in bytes.
        quota: u64,
        /// Bytes used before the write.
        usage: u64,
        /// Bytes the write would have left in use.
        needed: u64,
    },

    /// No store is configured, or the backend cannot be reached.
    #[error("the key-value store is unavailable: {message}")]
    Unavailable {
        /// What is wrong and what to do.
        message: String,
    },

    /// The backend failed (I/O error, corrupt file, unexpected reply).
    #[error("the key-value store failed: {message}")]
    Backend {
        /// What the backend said.
        message: String,
    },
}

impl KeyValueError {
    /// The error code a plugin sees: `invalid-key`, `quota-exceeded`,
    /// `unavailable` or `backend-error`.
    pub fn code(&self) -> &'static str {
        match self {
            KeyValueError::InvalidKey { .. } => "invalid-key",
            KeyValueError::QuotaExceeded { .. } => "quota-exceeded",
            KeyValueError::Open { .. } | KeyValueError::Connect { .. } | KeyValueError::Unavailable { .. } => {
                "unavailable"
            }
            KeyValueError::InvalidSpec { .. } | KeyValueError::Backend { .. } => "backend-error",
        }
    }
}

impl KeyValueStore {
    /// Opens the redb database file at `path`, creating it (mode 0600) and
    /// its parent folders if missing. One process may hold a file open at a
    /// time: open it once and clone the store.
    ///
    /// Writes are committed at once but made durable in the background
    /// (every 500 ms, and when the last clone is dropped): a crash or power
    /// loss can lose the last half second of writes, never corrupt the file.
    /// Call [`flush`](Self::flush) for a write that must survive.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), warden::KeyValueError> {
    /// let store = warden::KeyValueStore::open("data/kv.redb")?;
    /// # Ok(()) }
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<KeyValueStore, KeyValueError> {
        Ok(KeyValueStore { backend: Arc::new(redb::Redb::open(path.as_ref())?) })
    }

    /// Connects to the Redis server at `url` (`redis://host:port[/db]`,
    /// optionally with `user:password@`). Checks the connection once now;
    /// later, connections are pooled and re-opened after a failure, and an
    /// unreachable server makes operations fail with code `unavailable`.
    ///
    /// Several hosts may share one server: keys live under
    /// `warden:kv:{<plugin>}:<key>` and quotas are enforced server-side.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), warden::KeyValueError> {
    /// let store = warden::KeyValueStore::connect_redis("redis://127.0.0.1:6379/0")?;
    /// # Ok(()) }
    /// ```
    pub fn connect_redis(url: &str) -> Result<KeyValueStore, KeyValueError> {
        Ok(KeyValueStore { backend: Arc::new(redis::Redis::connect(url)?) })
    }

    /// Opens a store from a configuration value: `"redb"` opens
    /// `<data_dir>/kv.redb`, a `redis://` URL connects to Redis. Anything
    /// else is [`KeyValueError::InvalidSpec`].
    ///
    /// ```no_run
    /// # fn main() -> Result<(), warden::KeyValueError> {
    /// let local = warden::KeyValueStore::from_spec("redb", "/var/lib/gateway")?;
    /// let shared = warden::KeyValueStore::from_spec("redis://10.0.0.5:6379/2", "/var/lib/gateway")?;
    /// # Ok(()) }
    /// ```
    pub fn from_spec(spec: &str, data_dir: impl AsRef<Path>) -> Result<KeyValueStore, KeyValueError> {
        let spec = spec.trim();
        if spec == "redb" {
            KeyValueStore::open(data_dir.as_ref().join("kv.redb"))
        } else if spec.starts_with("redis://") {
            KeyValueStore::connect_redis(spec)
        } else {
            Err(KeyValueError::InvalidSpec { spec: redact_url(spec) })
        }
    }

    /// The value of `key` in `namespace`, if any.
    pub fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, KeyValueError> {
        check_key(key)?;
        self.backend.get(namespace, key)
    }

    /// Stores `value` under `key` in `namespace`, unless that would take the
    /// namespace's usage over `quota` bytes (then
    /// [`KeyValueError::QuotaExceeded`], and nothing changes). Overwriting
    /// with a value no larger than the old one always succeeds.
    pub fn set(&self, namespace: &str, key: &str, value: &[u8], quota: u64) -> Result<(), KeyValueError> {
        check_key(key)?;
        let cost = (key.len() + value.len()) as u64;
        if cost > quota {
            // Cannot fit even in an empty namespace: refuse without a round trip.
            let usage = self.backend.usage(namespace)?;
            return Err(KeyValueError::QuotaExceeded { namespace: namespace.to_owned(), quota, usage, needed: cost });
        }
        self.backend.set(namespace, key, value, quota)
    }

    /// Removes `key` from `namespace`; returns whether it existed.
    pub fn delete(&self, namespace: &str, key: &str) -> Result<bool, KeyValueError> {
        check_key(key)?;
        self.backend.delete(namespace, key)
    }

    /// The keys of `namespace` starting with `prefix`, in byte order; at
    /// most `limit` of them, and never more than 1000. An empty
    /// prefix lists every key.
    pub fn list_keys(&self, namespace: &str, prefix: &str, limit: u32) -> Result<Vec<String>, KeyValueError> {
        if !prefix.is_empty() {
            check_key(prefix)?;
        }
        let limit = limit.min(MAX_LIST_KEYS) as usize;
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.backend.list_keys(namespace, prefix, limit)
    }

    /// Bytes `namespace` uses: the sum over its keys of key length plus
    /// value length.
    pub fn usage(&self, namespace: &str) -> Result<u64, KeyValueError> {
        self.backend.usage(namespace)
    }

    /// Makes every write so far durable (redb: commits to disk now; Redis:
    /// nothing to do, durability is the server's configuration).
    pub fn flush(&self) -> Result<(), KeyValueError> {
        self.backend.flush()
    }
}

impl fmt::Debug for KeyValueStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("KeyValueStore").field(&format_args!("{}", self.backend.describe())).finish()
    }
}

/// Checks the key rules: non-empty, at most [`MAX_KEY_BYTES`] bytes, no NUL.
/// (UTF-8 is guaranteed by `&str`.)
fn check_key(key: &str) -> Result<(), KeyValueError> {
    let reason = if key.is_empty() {
        "keys must not be empty"
    } else if key.len() > MAX_KEY_BYTES {
        "keys must be at most 512 bytes"
    } else if key.contains('\0') {
        "keys must not contain NUL"
    } else {
        return Ok(());
    };
    let mut shown = key.to_owned();
    if shown.len() > 64 {
        let mut cut = 64;
        while !shown.is_char_boundary(cut) {
            cut -= 1;
        }
        shown.truncate(cut);
        shown.push_str("...");
    }
    Err(KeyValueError::InvalidKey { key: shown, reason })
}

/// The quota rule, shared by both backends (the Redis script mirrors it):
/// a namespace using `usage` bytes stores a value of `new_len` bytes under
/// `key`, whose current value (if any) has `old_len` bytes. Returns the new
/// usage, or `QuotaExceeded` if the write grows the namespace past `quota`.
/// Writes that do not grow it (same size or smaller) always pass, so a
/// plugin over a lowered quota can still shrink its data.
fn charge(
    namespace: &str,
    usage: u64,
    key: &str,
    old_len: Option<u64>,
    new_len: u64,
    quota: u64,
) -> Result<u64, KeyValueError> {
    let key_len = key.len() as u64;
    let new_cost = key_len.saturating_add(new_len);
    let old_cost = old_len.map_or(0, |len| key_len.saturating_add(len));
    let next = usage.saturating_sub(old_cost).saturating_add(new_cost);
    if new_cost > old_cost && next > quota {
        return Err(KeyValueError::QuotaExceeded { namespace: namespace.to_owned(), quota, usage, needed: next });
    }
    Ok(next)
}

/// `url` with any password replaced by `***`, for messages.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{}", &rest[at + 1..])
        }
        None => url.to_owned(),
    }
}

/// What one plugin may do with the store: computed once per plugin from
/// its manifest and the runtime's store.
#[derive(Clone)]
pub(crate) enum Grant {
    /// The manifest does not set `[permissions] key-value = true`.
    Denied,
    /// Permitted, but the runtime has no store.
    NoStore,
    /// Permitted, with this store and quota.
    Granted {
        /// The runtime's store.
        store: KeyValueStore,
        /// `[limits] key-value-quota`.
        quota: u64,
    },
}

impl Grant {
    pub(crate) fn new(permissions: &Permissions, limits: &Limits, store: Option<&KeyValueStore>) -> Grant {
        match (permissions.key_value, store) {
            (false, _) => Grant::Denied,
            (true, None) => Grant::NoStore,
            (true, Some(store)) => Grant::Granted { store: store.clone(), quota: limits.key_value_quota_bytes },
        }
    }
}

/// The built-in key-value capability, over the runtime's store (if any).
pub(crate) struct KeyValue {
    pub(crate) store: Option<KeyValueStore>,
}

/// Per instance: the grant.
pub(crate) struct KeyValueState(Arc<Grant>);

impl Capability for KeyValue {
    type Grant = Grant;
    type State = KeyValueState;

    fn name(&self) -> &str {
        "key-value"
    }

    fn interfaces(&self) -> &[&str] {
        &["warden:plugin/keyvalue"]
    }

    fn permissions(&self) -> &[&str] {
        &["key-value"]
    }

    fn add_to_linker(&self, linker: &mut Linker) -> wasmtime::Result<()> {
        keyvalue::add_to_linker::<_, Has<KeyValueState>>(linker, view)
    }

    fn grant(&self, cx: &GrantContext<'_>) -> Result<Grant, crate::Error> {
        let manifest = cx.manifest();
        Ok(Grant::new(&manifest.permissions, &manifest.limits, self.store.as_ref()))
    }

    fn instantiate(&self, grant: &Arc<Grant>) -> wasmtime::Result<KeyValueState> {
        Ok(KeyValueState(Arc::clone(grant)))
    }
}

impl HostView<'_, KeyValueState> {
    /// Runs one key-value import, `op` on this plugin's store with its
    /// namespace and quota, and makes its answer: refusals (no permission,
    /// quota) are audited, and a wait for Redis that the call's deadline
    /// cut short fails the call naming the store (`stalled_on`) when the
    /// store had at least half of the call's time: a stalled store is not
    /// the plugin's fault.
    fn key_value<T>(
        &mut self,
        import: &str,
        op: impl FnOnce(&KeyValueStore, &str, u64) -> Result<T, KeyValueError>,
    ) -> wasmtime::Result<Result<T, types::PluginError>> {
        let (KeyValueState(grant), core) = self.parts();
        let name = &core.shared.name;
        let started = Instant::now();
        let result = match &**grant {
            Grant::Granted { store, quota } => op(store, name, *quota).map_err(to_plugin),
            Grant::Denied => Err(types::PluginError {
                code: "capability-denied".to_owned(),
                message: format!(
                    "plugin '{name}' may not use the key-value store; add `key-value = true` to [permissions] in its plugin.toml"
                ),
            }),
            Grant::NoStore => Err(types::PluginError {
                code: "unavailable".to_owned(),
                message: format!(
                    "plugin '{name}': this host has no key-value store (the host sets one with RuntimeBuilder::key_value)"
                ),
            }),
        };
        let answer = core.or_deadline(result);
        let deadline = core.deadline;
        // The wait outlasted the call, and the plugin had left the store at
        // least half of its time: the store's fault. (A plugin that spent
        // its time itself and calls the store at the last moment is timed
        // out as usual.)
        if answer.is_err()
            && deadline.at.saturating_duration_since(started) >= deadline.timeout / 2
            && let Grant::Granted { store, .. } = &**grant
        {
            core.stalled_on = Some(format!("the key-value store ({})", store.backend.describe()));
        }
        Ok(answer?.map_err(|e| core.refused(import, e)))
    }
}

/// A store error as the plugin sees it.
fn to_plugin(e: KeyValueError) -> types::PluginError {
    types::PluginError { code: e.code().to_owned(), message: e.to_string() }
}

impl keyvalue::Host for HostView<'_, KeyValueState> {
    fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, types::PluginError>> {
        self.key_value("keyvalue.get", |store, namespace, _| store.get(namespace, &key))
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), types::PluginError>> {
        self.key_value("keyvalue.set", |store, namespace, quota| store.set(namespace, &key, &value, quota))
    }

    fn delete(&mut self, key: String) -> wasmtime::Result<Result<bool, types::PluginError>> {
        self.key_value("keyvalue.delete", |store, namespace, _| store.delete(namespace, &key))
    }

    fn list_keys(&mut self, prefix: String, limit: u32) -> wasmtime::Result<Result<Vec<String>, types::PluginError>> {
        self.key_value("keyvalue.list-keys", |store, namespace, _| store.list_keys(namespace, &prefix, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_rules() {
        assert!(check_key("a").is_ok());
        assert!(check_key("user:42/../x").is_ok());
        assert!(check_key("ключ").is_ok());
        assert!(check_key(&"k".repeat(MAX_KEY_BYTES)).is_ok());
        for (bad, why) in [
            ("".to_owned(), "empty"),
            ("k".repeat(MAX_KEY_BYTES + 1), "512"),
            ("a\0b".to_owned(), "NUL"),
            ("é".repeat(257), "512"), // 514 bytes, 257 characters
        ] {
            let e = check_key(&bad).unwrap_err();
            assert_eq!(e.code(), "invalid-key");
            assert!(e.to_string().contains(why), "{e}");
        }
        // Long keys are cut in the message, on a character boundary.
        let e = check_key(&"é".repeat(300)).unwrap_err();
        let KeyValueError::InvalidKey { key, .. } = e else { panic!("{e:?}") };
        assert!(key.len() <= 67 && key.ends_with("..."), "{key}");
    }

    #[test]
    fn quota_accounting() {
        // New key: usage grows by key + value.
        assert_eq!(charge("p", 0, "key", None, 7, 10), Ok(10));
        // One byte more does not fit.
        let e = charge("p", 0, "key", None, 8, 10).unwrap_err();
        assert_eq!(e, KeyValueError::QuotaExceeded { namespace: "p".into(), quota: 10, usage: 0, needed: 11 });
        assert_eq!(e.code(), "quota-exceeded");
        // Overwrite: only the difference counts.
        assert_eq!(charge("p", 10, "key", Some(7), 5, 10), Ok(8));
        assert_eq!(charge("p", 8, "key", Some(5), 7, 10), Ok(10));
        assert!(charge("p", 8, "key", Some(5), 8, 10).is_err());
        // Over a lowered quota, same-size and shrinking writes still pass.
        assert_eq!(charge("p", 100, "key", Some(7), 7, 10), Ok(100));
        assert_eq!(charge("p", 100, "key", Some(7), 0, 10), Ok(93));
        assert!(charge("p", 100, "other", None, 0, 10).is_err());
        // No overflow at the extremes.
        assert!(charge("p", u64::MAX, "k", None, u64::MAX, u64::MAX).is_ok());
        assert!(charge("p", u64::MAX - 1, "k", None, 1, u64::MAX - 1).is_err());
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact_url("redis://:secret@h:6379/1"), "redis://:***@h:6379/1");
        assert_eq!(redact_url("redis://user:secret@h/0"), "redis://user:***@h/0");
        assert_eq!(redact_url("redis://h:6379/2"), "redis://h:6379/2");
        assert_eq!(redact_url("nonsense"), "nonsense");
        let e = KeyValueStore::from_spec("memcached://u:pw@h", "/tmp").unwrap_err();
        assert!(matches!(&e, KeyValueError::InvalidSpec { spec } if spec == "memcached://u:***@h"), "{e:?}");
        assert!(e.to_string().contains("use \"redb\""));
    }

    #[test]
    fn grants_deny_by_default() {
        let (perms, limits) = (Permissions::default(), Limits::default().key_value_quota(5));
        assert!(matches!(Grant::new(&perms, &limits, None), Grant::Denied));
        let perms = perms.key_value(true);
        assert!(matches!(Grant::new(&perms, &limits, None), Grant::NoStore));
        let dir = tempfile::TempDir::new().unwrap();
        let store = KeyValueStore::open(dir.path().join("kv.redb")).unwrap();
        assert!(matches!(Grant::new(&perms, &limits, Some(&store)), Grant::Granted { quota: 5, .. }));
        assert!(matches!(Grant::new(&Permissions::default(), &limits, Some(&store)), Grant::Denied));
    }

    proptest::proptest! {
        /// Keys from a plugin: accepted exactly when they follow the rules.
        #[test]
        fn fuzz_keys(key in warden_fixtures::fuzz::text()) {
            let ok = !key.is_empty() && key.len() <= MAX_KEY_BYTES && !key.contains('\0');
            proptest::prop_assert_eq!(check_key(&key).is_ok(), ok);
        }
    }
}
