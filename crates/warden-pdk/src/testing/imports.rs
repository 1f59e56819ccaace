//! The mock host's state, one per thread, and the host imports it answers.
//!
//! The submodules have the paths and signatures of the wit-bindgen imports
//! in `crate::bindings::warden::plugin`, so the wrappers (`crate::kv`,
//! `crate::log`, ...) call `crate::imports::*` the same way on both targets.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use super::{DEFAULT_KV_QUOTA, LogRecord, MAX_RECORDS, PluginCall, Published};
use crate::{HttpResponse, OutgoingRequest, PluginError};

thread_local! {
    static HOST: RefCell<State> = RefCell::default();
}

/// Runs `f` on this thread's mock host. Never called re-entrantly: stubs
/// (test code) run outside it.
pub(super) fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    HOST.with_borrow_mut(f)
}

/// Runs `f` on this thread's mock host, or returns `None` while the thread
/// is being torn down (a plugin's `Drop` may still log then).
fn try_state<R>(f: impl FnOnce(&mut State) -> R) -> Option<R> {
    HOST.try_with(|host| f(&mut host.borrow_mut())).ok()
}

/// What the mock host answers with and what it recorded.
#[derive(Default)]
pub(super) struct State {
    pub(super) config: Vec<(String, String)>,
    pub(super) kv: Kv,
    pub(super) publish: Vec<TopicPattern>,
    pub(super) fetch: Vec<FetchStub>,
    pub(super) calls: Vec<CallStub>,
    pub(super) records: Records,
}

/// The key-value store and its grant.
pub(super) struct Kv {
    pub(super) granted: bool,
    pub(super) quota: u64,
    pub(super) error: Option<PluginError>,
    pub(super) entries: BTreeMap<String, Vec<u8>>,
}

impl Default for Kv {
    fn default() -> Self {
        Kv { granted: false, quota: DEFAULT_KV_QUOTA, error: None, entries: BTreeMap::new() }
    }
}

/// What the plugin did, each list capped at [`MAX_RECORDS`].
#[derive(Default)]
pub(super) struct Records {
    pub(super) logs: Vec<LogRecord>,
    pub(super) requests: Vec<OutgoingRequest>,
    pub(super) published: Vec<Published>,
    pub(super) calls: Vec<PluginCall>,
}

/// Appends `record` unless `list` is full.
fn keep<T>(list: &mut Vec<T>, record: T) {
    if list.len() < MAX_RECORDS {
        list.push(record);
    }
}

/// How an outbound request is answered.
type FetchFn = dyn Fn(&OutgoingRequest) -> Result<HttpResponse, PluginError>;

/// How a call to another plugin is answered: `(action, payload)`.
type CallFn = dyn Fn(&str, &[u8]) -> Result<Vec<u8>, PluginError>;

/// A canned answer for the URLs a pattern matches.
pub(super) struct FetchStub {
    pub(super) pattern: UrlPattern,
    pub(super) answer: Rc<FetchFn>,
}

/// A canned answer for one plugin (and one action, or every action).
pub(super) struct CallStub {
    pub(super) plugin: String,
    pub(super) action: Option<String>,
    pub(super) answer: Rc<CallFn>,
}

fn error(code: &str, message: impl Into<String>) -> PluginError {
    PluginError::new(code, message)
}

/// A whole-URL pattern where `*` stands for any run of characters.
pub(super) struct UrlPattern {
    parts: Vec<String>,
}

impl UrlPattern {
    pub(super) fn new(pattern: &str) -> UrlPattern {
        UrlPattern { parts: pattern.split('*').map(str::to_owned).collect() }
    }

    /// Whether `url` matches: the first part is a prefix, the last a
    /// suffix, the ones between appear in order (leftmost match is enough
    /// for `*`-only wildcards).
    pub(super) fn matches(&self, url: &str) -> bool {
        let [first, middle @ .., last] = self.parts.as_slice() else {
            // One part: no `*`.
            return self.parts.first().is_some_and(|exact| exact == url);
        };
        let Some(mut rest) = url.strip_prefix(first.as_str()) else {
            return false;
        };
        for part in middle {
            match rest.find(part.as_str()) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
        rest.ends_with(last.as_str())
    }
}

/// A `[permissions] publish` pattern, with the host's rules.
pub(super) struct TopicPattern {
    /// The topic, or the prefix before `.*` (empty for `*`).
    prefix: String,
    wildcard: bool,
}

impl TopicPattern {
    pub(super) fn parse(pattern: &str) -> Option<TopicPattern> {
        if pattern == "*" {
            return Some(TopicPattern { prefix: String::new(), wildcard: true });
        }
        let (prefix, wildcard) = match pattern.strip_suffix(".*") {
            Some(prefix) => (prefix, true),
            None => (pattern, false),
        };
        valid_topic(prefix).then(|| TopicPattern { prefix: prefix.to_owned(), wildcard })
    }

    fn matches(&self, topic: &str) -> bool {
        if !self.wildcard {
            return topic == self.prefix;
        }
        self.prefix.is_empty()
            || topic.strip_prefix(&self.prefix).is_some_and(|rest| rest.starts_with('.') && rest.len() > 1)
    }
}

/// Longest topic, in bytes (as in the host).
const MAX_TOPIC: usize = 128;

/// Dot-separated non-empty segments of `a-z 0-9 _ -`, at most 128 bytes.
fn valid_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= MAX_TOPIC
        && topic.split('.').all(|seg| {
            !seg.is_empty()
                && seg.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        })
}

/// Longest key, in bytes (as in the host).
const MAX_KEY_BYTES: usize = 512;

/// Most keys one `list-keys` call returns (as in the host).
const MAX_LIST_KEYS: u32 = 1000;

/// The host's key rules: non-empty, at most 512 bytes, no NUL.
pub(super) fn check_key(key: &str) -> Result<(), PluginError> {
    let reason = if key.is_empty() {
        "keys must not be empty"
    } else if key.len() > MAX_KEY_BYTES {
        "keys must be at most 512 bytes"
    } else if key.contains('\0') {
        "keys must not contain NUL"
    } else {
        return Ok(());
    };
    let shown: String = key.chars().take(64).collect();
    Err(error("invalid-key", format!("invalid key {shown:?}: {reason}")))
}

/// The answer while the thread is being torn down.
fn gone() -> PluginError {
    error("unavailable", "the mock host of this thread is gone (the thread is exiting)")
}

/// `warden:plugin/log`.
pub(crate) mod log {
    use super::{LogRecord, keep, try_state};
    use crate::log::Level;

    /// Longest log record, as the host cuts it.
    const MAX_LOG_RECORD: usize = 16 << 10;

    pub(crate) fn log(level: Level, message: &str) {
        let mut message = message.to_owned();
        if message.len() > MAX_LOG_RECORD {
            let mut cut = MAX_LOG_RECORD;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str("...[truncated]");
        }
        let name = match level {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        };
        // `cargo test` captures this and shows it for failing tests.
        eprintln!("[plugin {name}] {message}");
        try_state(|state| keep(&mut state.records.logs, LogRecord { level, message }));
    }
}

/// `warden:plugin/config`.
pub(crate) mod config {
    use super::try_state;

    pub(crate) fn get_all() -> Vec<(String, String)> {
        try_state(|state| state.config.clone()).unwrap_or_default()
    }
}

/// `warden:plugin/keyvalue`.
pub(crate) mod keyvalue {
    use super::{Kv, MAX_LIST_KEYS, check_key, error, gone, try_state};
    use crate::PluginError;

    /// Runs `op` on the store if it is granted and up.
    fn with_kv<T>(op: impl FnOnce(&mut Kv) -> Result<T, PluginError>) -> Result<T, PluginError> {
        try_state(|state| {
            let kv = &mut state.kv;
            if let Some(e) = &kv.error {
                return Err(e.clone());
            }
            if !kv.granted {
                return Err(error(
                    "capability-denied",
                    "the mock host denies the key-value store, as a host does without `key-value = true` in \
                     [permissions]; grant it with MockHost::allow_kv() or MockHost::kv_entry(..)",
                ));
            }
            op(kv)
        })
        .unwrap_or_else(|| Err(gone()))
    }

    pub(crate) fn get(key: &str) -> Result<Option<Vec<u8>>, PluginError> {
        check_key(key)?;
        with_kv(|kv| Ok(kv.entries.get(key).cloned()))
    }

    pub(crate) fn set(key: &str, value: &[u8]) -> Result<(), PluginError> {
        check_key(key)?;
        with_kv(|kv| {
            // The host's rule: a write that grows the store must fit the
            // quota; one that does not grow it always passes.
            let usage: u64 = kv.entries.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum();
            let new_cost = (key.len() + value.len()) as u64;
            let old_cost = kv.entries.get(key).map_or(0, |old| (key.len() + old.len()) as u64);
            let next = usage - old_cost + new_cost;
            if new_cost > old_cost && next > kv.quota {
                return Err(error(
                    "quota-exceeded",
                    format!(
                        "the key-value store would use {next} bytes, over its quota of {} bytes (now {usage}); \
                         delete keys, store less or raise [limits] key-value-quota (MockHost::kv_quota)",
                        kv.quota
                    ),
                ));
            }
            kv.entries.insert(key.to_owned(), value.to_owned());
            Ok(())
        })
    }

    pub(crate) fn delete(key: &str) -> Result<bool, PluginError> {
        check_key(key)?;
        with_kv(|kv| Ok(kv.entries.remove(key).is_some()))
    }

    pub(crate) fn list_keys(prefix: &str, limit: u32) -> Result<Vec<String>, PluginError> {
        if !prefix.is_empty() {
            check_key(prefix)?;
        }
        with_kv(|kv| {
            let limit = limit.min(MAX_LIST_KEYS) as usize;
            let keys = kv.entries.range(prefix.to_owned()..).map(|(k, _)| k);
            Ok(keys.take_while(|k| k.starts_with(prefix)).take(limit).cloned().collect())
        })
    }
}

/// `warden:plugin/outbound-http`.
pub(crate) mod outbound_http {
    use super::{error, gone, keep, try_state};
    use crate::{HttpResponse, OutgoingRequest, PluginError};

    pub(crate) fn fetch(request: &OutgoingRequest) -> Result<HttpResponse, PluginError> {
        let answer = try_state(|state| {
            keep(&mut state.records.requests, request.clone());
            state.fetch.iter().find(|stub| stub.pattern.matches(&request.url)).map(|stub| stub.answer.clone())
        })
        .ok_or_else(gone)?;
        let url = request.url.to_ascii_lowercase();
        let has_host = |rest: &str| rest.split(['/', '?', '#']).next().is_some_and(|host| !host.is_empty());
        let absolute = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")).is_some_and(has_host);
        if !absolute {
            let msg = format!("bad URL {:?}: use an absolute http:// or https:// URL", request.url);
            return Err(error("invalid-request", msg));
        }
        if request.method.is_empty()
            || !request.method.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(error("invalid-request", format!("bad method {:?}", request.method)));
        }
        match answer {
            // Called outside the state: the stub may log or use the store.
            Some(answer) => answer(request),
            None => Err(error(
                "capability-denied",
                format!(
                    "the mock host has no stub for {} {}, so it refuses it as a host refuses a host not in \
                     [permissions] network; add one with MockHost::stub_fetch",
                    request.method, request.url
                ),
            )),
        }
    }
}

/// `warden:plugin/plugins`.
pub(crate) mod plugins {
    use super::{PluginCall, error, gone, keep, try_state};
    use crate::PluginError;

    pub(crate) fn call(plugin: &str, action: &str, payload: &[u8]) -> Result<Vec<u8>, PluginError> {
        let (answer, known) = try_state(|state| {
            let call = PluginCall { plugin: plugin.to_owned(), action: action.to_owned(), payload: payload.to_owned() };
            keep(&mut state.records.calls, call);
            let mut stubs = state.calls.iter().filter(|stub| stub.plugin == plugin).peekable();
            let known = stubs.peek().is_some();
            let answer = stubs.find(|stub| stub.action.as_deref().is_none_or(|a| a == action));
            (answer.map(|stub| stub.answer.clone()), known)
        })
        .ok_or_else(gone)?;
        match (answer, known) {
            (Some(answer), _) => answer(action, payload),
            (None, true) => Err(error(
                "plugin-error",
                format!(
                    "the mock host has no stub for action '{action}' of plugin '{plugin}'; add one with MockHost::stub_call"
                ),
            )),
            (None, false) => Err(error(
                "capability-denied",
                format!(
                    "the mock host has no stub for plugin '{plugin}', so it refuses the call as a host refuses a \
                     plugin not in [dependencies]; add one with MockHost::stub_call"
                ),
            )),
        }
    }
}

/// `warden:plugin/messaging`.
pub(crate) mod messaging {
    use super::{Published, error, gone, keep, try_state, valid_topic};
    use crate::PluginError;

    pub(crate) fn publish(topic: &str, payload: &[u8]) -> Result<(), PluginError> {
        if !valid_topic(topic) {
            return Err(error(
                "invalid-topic",
                format!(
                    "{topic:?} is not a valid topic; use dot-separated segments of a-z, 0-9, '_' and '-' (e.g. \
                     \"orders.created\")"
                ),
            ));
        }
        try_state(|state| {
            if !state.publish.iter().any(|p| p.matches(topic)) {
                return Err(error(
                    "capability-denied",
                    format!(
                        "the mock host refuses to publish to '{topic}', as a host does without a matching pattern \
                         in [permissions] publish; allow it with MockHost::allow_publish"
                    ),
                ));
            }
            keep(&mut state.records.published, Published { topic: topic.to_owned(), payload: payload.to_owned() });
            Ok(())
        })
        .unwrap_or_else(|| Err(gone()))
    }
}
