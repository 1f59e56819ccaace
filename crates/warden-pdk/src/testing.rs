//! An in-memory host for a plugin's native unit tests (`cargo test` on
//! your machine, not in WebAssembly).
//!
//! Natively, every host import the PDK wraps goes to a mock host kept per
//! thread instead of the real one: logging, [`Config::from_host`](crate::Config::from_host),
//! [`kv`](crate::kv), [`fetch`](crate::fetch), [`publish`](crate::publish)
//! and [`call_plugin`](crate::call_plugin). [`MockHost`] sets it up (the
//! configuration, what the host grants, canned answers) and reads back what
//! the plugin did (log records, key-value entries, outbound requests,
//! published messages, calls to other plugins). In a component built for
//! `wasm32`, the real host answers and this module does not exist.
//!
//! Like a real host, the mock denies by default: without a grant or a stub,
//! a call fails with the same error code the host gives a plugin whose
//! `plugin.toml` lacks the permission (`capability-denied`), and the message
//! says which `MockHost` method to call. It never panics or aborts the test
//! binary.
//!
//! ```
//! use warden_pdk::prelude::*;
//! use warden_pdk::testing::MockHost;
//! use warden_pdk::{OutgoingRequest, fetch, kv};
//!
//! let host = MockHost::new()
//!     .config("greeting", "hello")
//!     .kv_entry("visits", b"1")
//!     .stub_fetch("https://api.example.com/users/*", HttpResponse::new(200, r#"{"name":"Ann"}"#));
//!
//! assert_eq!(Config::from_host().get("greeting").as_deref(), Some("hello"));
//! kv::set("visits", b"2")?;
//! let user = fetch(&OutgoingRequest::get("https://api.example.com/users/42"))?;
//! info!("user {}", user.body_str().unwrap_or_default());
//!
//! assert_eq!(host.kv_get("visits").as_deref(), Some(&b"2"[..]));
//! assert_eq!(host.requests()[0].url, "https://api.example.com/users/42");
//! assert_eq!(host.logs()[0].message, r#"user {"name":"Ann"}"#);
//!
//! // No stub for this URL: refused as a host refuses a host not in [permissions] network.
//! let err = fetch(&OutgoingRequest::get("https://other.example.com/")).unwrap_err();
//! assert_eq!(err.code, "capability-denied");
//! # Ok::<(), PluginError>(())
//! ```
//!
//! The state is per thread: `cargo test` runs each test on its own thread,
//! so parallel tests never see each other's configuration, store or records.
//! [`MockHost::new`] starts the current thread afresh. Code running on a
//! thread the test spawned sees that thread's own (fresh) mock host.

pub(crate) mod imports;

use std::marker::PhantomData;
use std::rc::Rc;

use crate::log::Level;
use crate::{HttpResponse, OutgoingRequest, PluginError};
use imports::{CallStub, FetchStub, State, TopicPattern, UrlPattern, with_state};

/// Most records of each kind (log records, outbound requests, published
/// messages, calls to other plugins) the mock host keeps; later ones are
/// dropped, so a plugin stuck in a loop cannot exhaust the test's memory.
pub const MAX_RECORDS: usize = 10_000;

/// The key-value quota of a grant with no [`MockHost::kv_quota`]: the host's
/// default `[limits] key-value-quota`, 1 MiB.
pub const DEFAULT_KV_QUOTA: u64 = 1 << 20;

/// A handle to the current thread's mock host: set it up with the builder
/// methods, run the plugin code, then read back what it did.
///
/// Setup methods take and return the handle (`MockHost::new().config(..).allow_kv()`);
/// reading methods borrow it. Every handle on a thread shares that thread's
/// one mock host; the handle cannot move to another thread.
///
/// What a fresh mock host does for each import:
///
/// | Import | Without setup | Setup |
/// |---|---|---|
/// | log | records it (and echoes it to stderr, which `cargo test` shows for failing tests) | — |
/// | config | no entries | [`config`](Self::config) |
/// | key-value | `capability-denied` | [`allow_kv`](Self::allow_kv), [`kv_entry`](Self::kv_entry), [`kv_quota`](Self::kv_quota), [`kv_error`](Self::kv_error) |
/// | outbound HTTP | `capability-denied` | [`stub_fetch`](Self::stub_fetch), [`refuse_fetch`](Self::refuse_fetch), [`stub_fetch_with`](Self::stub_fetch_with) |
/// | publish | `capability-denied` | [`allow_publish`](Self::allow_publish) |
/// | plugins.call | `capability-denied` | [`stub_call`](Self::stub_call), [`stub_call_with`](Self::stub_call_with) |
#[derive(Debug)]
pub struct MockHost {
    /// Not `Send`: the handle reaches its own thread's state.
    _thread: PhantomData<Rc<()>>,
}

/// One log record a plugin wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Its level.
    pub level: Level,
    /// The text, cut to 16 KiB as the host cuts it.
    pub message: String,
}

/// One message a plugin published (and the mock host accepted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The topic, e.g. `orders.created`.
    pub topic: String,
    /// The payload bytes.
    pub payload: Vec<u8>,
}

/// One call a plugin made to another plugin's `handle`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginCall {
    /// The plugin called.
    pub plugin: String,
    /// The action asked for.
    pub action: String,
    /// The payload sent.
    pub payload: Vec<u8>,
}

impl Default for MockHost {
    fn default() -> Self {
        MockHost::new()
    }
}

impl MockHost {
    /// Resets the current thread's mock host to a fresh one (no
    /// configuration, nothing granted, no stubs, no records) and returns a
    /// handle to it.
    pub fn new() -> MockHost {
        with_state(|state| *state = State::default());
        MockHost { _thread: PhantomData }
    }

    /// Sets configuration entry `key = value`, as the manifest's `[config]`
    /// table would: one value per key (the last one set wins), and
    /// [`Config::from_host`](crate::Config::from_host) returns the entries
    /// sorted by key, as a host passes them.
    pub fn config(self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (key, value) = (key.into(), value.into());
        with_state(|state| {
            state.config.retain(|(k, _)| *k != key);
            state.config.push((key, value));
            state.config.sort();
        });
        self
    }

    /// Grants the key-value store (`[permissions] key-value = true`): an
    /// empty store with a quota of [`DEFAULT_KV_QUOTA`] unless
    /// [`kv_quota`](Self::kv_quota) sets another. The host's rules apply:
    /// keys are 1 to 512 bytes without NUL (`invalid-key` otherwise), the
    /// bytes stored (keys plus values) stay within the quota
    /// (`quota-exceeded`), and `list_keys` returns at most 1000 keys.
    pub fn allow_kv(self) -> Self {
        with_state(|state| state.kv.granted = true);
        self
    }

    /// Stores `value` under `key` before the test runs, and grants the
    /// store as [`allow_kv`](Self::allow_kv) does. Seeding is not held to
    /// the quota (an operator can fill a store past a lowered quota).
    ///
    /// # Panics
    ///
    /// If `key` breaks the key rules: that is a mistake in the test.
    pub fn kv_entry(self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        let key = key.into();
        if let Err(e) = imports::check_key(&key) {
            panic!("MockHost::kv_entry: {}", e.message);
        }
        with_state(|state| {
            state.kv.granted = true;
            state.kv.entries.insert(key, value.into());
        });
        self
    }

    /// Sets the key-value quota in bytes (`[limits] key-value-quota`), and
    /// grants the store as [`allow_kv`](Self::allow_kv) does.
    pub fn kv_quota(self, bytes: u64) -> Self {
        with_state(|state| {
            state.kv.granted = true;
            state.kv.quota = bytes;
        });
        self
    }

    /// Makes every key-value call fail with `error`, e.g.
    /// `PluginError::new("unavailable", "the store is down")`, to test how
    /// the plugin copes with a store that is down.
    pub fn kv_error(self, error: PluginError) -> Self {
        with_state(|state| state.kv.error = Some(error));
        self
    }

    /// Allows publishing to the topics `pattern` matches, as a
    /// `[permissions] publish` entry does: an exact topic
    /// (`orders.created`), a prefix with a wildcard segment (`orders.*`, every
    /// topic below `orders`) or `*` (every topic). Messages published are
    /// recorded, never delivered; read them with [`published`](Self::published).
    ///
    /// # Panics
    ///
    /// If `pattern` is not a valid topic pattern: that is a mistake in the test.
    pub fn allow_publish(self, pattern: &str) -> Self {
        let pattern = TopicPattern::parse(pattern).unwrap_or_else(|| {
            panic!(
                "MockHost::allow_publish: {pattern:?} is not a valid topic pattern; use dot-separated segments \
                 of a-z, 0-9, '_' and '-', optionally ending in \".*\", or \"*\""
            )
        });
        with_state(|state| state.publish.push(pattern));
        self
    }

    /// Answers outbound requests whose URL matches `url_pattern` with
    /// `response`. The pattern is the whole URL, where `*` stands for any
    /// run of characters (`https://api.example.com/users/*`); without `*` it
    /// must equal the URL. Stubs are tried in the order added; the first
    /// that matches answers. Redirects in a stubbed response are not
    /// followed.
    pub fn stub_fetch(self, url_pattern: &str, response: HttpResponse) -> Self {
        self.stub_fetch_with(url_pattern, move |_| Ok(response.clone()))
    }

    /// Refuses outbound requests whose URL matches `url_pattern` with
    /// `error`, e.g. `PluginError::new("connect-failed", "connection
    /// refused")`. Patterns work as in [`stub_fetch`](Self::stub_fetch).
    pub fn refuse_fetch(self, url_pattern: &str, error: PluginError) -> Self {
        self.stub_fetch_with(url_pattern, move |_| Err(error.clone()))
    }

    /// Answers outbound requests whose URL matches `url_pattern` with what
    /// `answer` returns for the request. Patterns work as in
    /// [`stub_fetch`](Self::stub_fetch).
    pub fn stub_fetch_with(
        self,
        url_pattern: &str,
        answer: impl Fn(&OutgoingRequest) -> Result<HttpResponse, PluginError> + 'static,
    ) -> Self {
        let stub = FetchStub { pattern: UrlPattern::new(url_pattern), answer: Rc::new(answer) };
        with_state(|state| state.fetch.push(stub));
        self
    }

    /// Answers calls to `action` of plugin `plugin` (a `[dependencies]`
    /// entry) with `answer`: the bytes the callee returns, or its error.
    /// A call to a stubbed plugin with an action that has no stub fails with
    /// code `plugin-error`, as a callee that does not know the action would.
    pub fn stub_call(
        self,
        plugin: impl Into<String>,
        action: impl Into<String>,
        answer: Result<Vec<u8>, PluginError>,
    ) -> Self {
        let stub = CallStub {
            plugin: plugin.into(),
            action: Some(action.into()),
            answer: Rc::new(move |_: &str, _: &[u8]| answer.clone()),
        };
        with_state(|state| state.calls.push(stub));
        self
    }

    /// Answers every call to plugin `plugin` with what `answer` returns for
    /// the action and payload.
    pub fn stub_call_with(
        self,
        plugin: impl Into<String>,
        answer: impl Fn(&str, &[u8]) -> Result<Vec<u8>, PluginError> + 'static,
    ) -> Self {
        let stub = CallStub { plugin: plugin.into(), action: None, answer: Rc::new(answer) };
        with_state(|state| state.calls.push(stub));
        self
    }

    /// The log records written so far, in order.
    pub fn logs(&self) -> Vec<LogRecord> {
        with_state(|state| state.records.logs.clone())
    }

    /// Every outbound request the plugin asked for, in order, including the
    /// ones that were refused.
    pub fn requests(&self) -> Vec<OutgoingRequest> {
        with_state(|state| state.records.requests.clone())
    }

    /// The messages published, in order (refused ones are not included).
    pub fn published(&self) -> Vec<Published> {
        with_state(|state| state.records.published.clone())
    }

    /// Every call to another plugin, in order, including refused ones.
    pub fn plugin_calls(&self) -> Vec<PluginCall> {
        with_state(|state| state.records.calls.clone())
    }

    /// The value stored under `key`, if any (whatever the grant).
    pub fn kv_get(&self, key: &str) -> Option<Vec<u8>> {
        with_state(|state| state.kv.entries.get(key).cloned())
    }

    /// Every key-value entry, in key byte order.
    pub fn kv_entries(&self) -> Vec<(String, Vec<u8>)> {
        with_state(|state| state.kv.entries.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }
}

#[cfg(test)]
mod tests;
