//! The shared backend: a Redis server, reached with the `redis` crate's
//! sync client through a small connection pool.
//!
//! Layout, per namespace `ns` (percent-encoded so it holds no `:`, `{` or
//! `}`; the braces also make it a Redis Cluster hash tag, keeping a
//! namespace's keys in one slot as the scripts need):
//!
//! - `warden:kv:{ns}:<key>`: a string, the value;
//! - `warden:kv-index:{ns}`: a sorted set of the keys, all with score 0,
//!   so `ZRANGEBYLEX` lists them in byte order from a prefix;
//! - `warden:kv-usage:{ns}`: an integer, the bytes used.
//!
//! `set` and `delete` are Lua scripts, so the quota check, the value, the
//! index and the usage counter change together, atomically, whatever the
//! number of hosts writing.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use redis::{Client, Connection, ConnectionLike, RedisError, Script};

use super::{Backend, KeyValueError, redact_url};
use crate::deadline;

/// Connect, read and write timeout of every Redis operation; within a
/// plugin call, what is left of the call's deadline if that is less.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// Idle connections kept for reuse; more are opened when callers overlap.
const MAX_IDLE: usize = 8;

/// Stores a value unless it takes the namespace over its quota; mirrors
/// `super::charge`. KEYS: value, index, usage. ARGV: key, value, quota.
/// Returns `{stored (1/0), usage before, usage after or needed}`.
const SET_SCRIPT: &str = r"
local key_len = string.len(ARGV[1])
local new_cost = key_len + string.len(ARGV[2])
local old_cost = 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  old_cost = key_len + redis.call('STRLEN', KEYS[1])
end
local usage = tonumber(redis.call('GET', KEYS[3]) or '0')
local base = usage - old_cost
if base < 0 then base = 0 end
local next_usage = base + new_cost
if new_cost > old_cost and next_usage > tonumber(ARGV[3]) then
  return {0, usage, next_usage}
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
redis.call('INCRBY', KEYS[3], next_usage - usage)
return {1, usage, next_usage}
";

/// Removes a key and gives its bytes back. KEYS: value, index, usage.
/// ARGV: key. Returns 1 if the key existed.
const DELETE_SCRIPT: &str = r"
local len = redis.call('STRLEN', KEYS[1])
if redis.call('DEL', KEYS[1]) == 0 then
  return 0
end
redis.call('ZREM', KEYS[2], ARGV[1])
local left = redis.call('DECRBY', KEYS[3], string.len(ARGV[1]) + len)
if left <= 0 then
  redis.call('DEL', KEYS[3])
end
return 1
";

pub(super) struct Redis {
    /// The URL without its password, for messages.
    url: String,
    client: Client,
    idle: Mutex<Vec<Connection>>,
    set: Script,
    delete: Script,
}

impl Redis {
    pub(super) fn connect(url: &str) -> Result<Redis, KeyValueError> {
        let shown = redact_url(url);
        let refused = |e: RedisError| KeyValueError::Connect { url: shown.clone(), message: e.to_string() };
        let client = Client::open(url).map_err(refused)?;
        let redis = Redis {
            url: shown.clone(),
            client,
            idle: Mutex::new(Vec::new()),
            set: Script::new(SET_SCRIPT),
            delete: Script::new(DELETE_SCRIPT),
        };
        let mut conn = redis.open().map_err(refused)?;
        redis::cmd("PING").query::<String>(&mut conn).map_err(refused)?;
        redis.idle.lock().unwrap_or_else(PoisonError::into_inner).push(conn);
        Ok(redis)
    }

    fn open(&self) -> Result<Connection, RedisError> {
        self.client.get_connection_with_timeout(deadline::bound(IO_TIMEOUT))
    }

    /// Runs `op` on a pooled connection. A connection that broke (server
    /// restarted, idle connection closed) is dropped with every other idle
    /// one, and `op` is retried once on a new connection. Every operation
    /// is safe to repeat: `set` stores the same value with the same charge,
    /// and a repeated `delete` only reports `false` if the first removed it.
    fn run<T>(&self, op: impl Fn(&mut Connection) -> Result<T, RedisError>) -> Result<T, KeyValueError> {
        let mut retried = false;
        loop {
            let pooled = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let mut conn = match pooled {
                Some(conn) => conn,
                None => self.open().map_err(|e| self.unavailable(&e))?,
            };
            // Set per operation: a plugin call waits no longer than its deadline.
            let timeout = Some(deadline::bound(IO_TIMEOUT));
            let timed = conn.set_read_timeout(timeout).and_then(|()| conn.set_write_timeout(timeout));
            match timed.and_then(|()| op(&mut conn)) {
                Ok(out) => {
                    self.put_back(conn);
                    return Ok(out);
                }
                Err(e) if broken(&e) => {
                    self.idle.lock().unwrap_or_else(PoisonError::into_inner).clear();
                    if retried || e.is_timeout() {
                        return Err(self.unavailable(&e));
                    }
                    tracing::debug!(target: "warden::kv", url = %self.url, "reconnecting to Redis: {e}");
                    retried = true;
                }
                Err(e) => {
                    self.put_back(conn);
                    return Err(KeyValueError::Backend { message: format!("Redis at {}: {e}", self.url) });
                }
            }
        }
    }

    fn put_back(&self, conn: Connection) {
        if conn.is_open() {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
    }

    fn unavailable(&self, e: &RedisError) -> KeyValueError {
        KeyValueError::Unavailable {
            message: format!("cannot reach Redis at {}: {e}; check that the server is up", self.url),
        }
    }
}

/// Whether the connection is no longer usable.
fn broken(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_unrecoverable_error()
}

/// `ns` with every byte outside `a-z 0-9 _ -` written as `%XX`: readable
/// for plugin names, injective for anything else.
fn encode_namespace(ns: &str) -> String {
    let mut out = String::with_capacity(ns.len());
    for b in ns.bytes() {
        if b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The Redis keys of one namespace.
struct Keys {
    ns: String,
}

impl Keys {
    fn new(namespace: &str) -> Keys {
        Keys { ns: encode_namespace(namespace) }
    }

    fn value(&self, key: &str) -> Vec<u8> {
        format!("warden:kv:{{{}}}:{key}", self.ns).into_bytes()
    }

    fn index(&self) -> String {
        format!("warden:kv-index:{{{}}}", self.ns)
    }

    fn usage(&self) -> String {
        format!("warden:kv-usage:{{{}}}", self.ns)
    }
}

impl Backend for Redis {
    fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, KeyValueError> {
        let value = Keys::new(namespace).value(key);
        self.run(|conn| redis::cmd("GET").arg(&value).query(conn))
    }

    fn set(&self, namespace: &str, key: &str, value: &[u8], quota: u64) -> Result<(), KeyValueError> {
        let keys = Keys::new(namespace);
        let (value_key, index, usage) = (keys.value(key), keys.index(), keys.usage());
        let reply: Vec<i64> = self.run(|conn| {
            self.set.key(&value_key).key(&index).key(&usage).arg(key).arg(value).arg(quota.to_string()).invoke(conn)
        })?;
        match reply[..] {
            [1, _, _] => Ok(()),
            [0, before, needed] => Err(KeyValueError::QuotaExceeded {
                namespace: namespace.to_owned(),
                quota,
                usage: u64::try_from(before).unwrap_or(0),
                needed: u64::try_from(needed).unwrap_or(0),
            }),
            _ => Err(KeyValueError::Backend { message: format!("Redis at {}: unexpected reply {reply:?}", self.url) }),
        }
    }

    fn delete(&self, namespace: &str, key: &str) -> Result<bool, KeyValueError> {
        let keys = Keys::new(namespace);
        let (value_key, index, usage) = (keys.value(key), keys.index(), keys.usage());
        let existed: i64 =
            self.run(|conn| self.delete.key(&value_key).key(&index).key(&usage).arg(key).invoke(conn))?;
        Ok(existed == 1)
    }

    fn list_keys(&self, namespace: &str, prefix: &str, limit: usize) -> Result<Vec<String>, KeyValueError> {
        let index = Keys::new(namespace).index();
        // Keys are UTF-8, which never holds the byte 0xff: `(prefix\xff`
        // bounds every key starting with `prefix`.
        let (min, max) = if prefix.is_empty() {
            (b"-".to_vec(), b"+".to_vec())
        } else {
            ([b"[", prefix.as_bytes()].concat(), [b"(", prefix.as_bytes(), b"\xff"].concat())
        };
        let raw: Vec<Vec<u8>> = self.run(|conn| {
            redis::cmd("ZRANGEBYLEX").arg(&index).arg(&min).arg(&max).arg("LIMIT").arg(0).arg(limit).query(conn)
        })?;
        Ok(raw
            .into_iter()
            .filter_map(|k| String::from_utf8(k).ok())
            .filter(|k| k.starts_with(prefix))
            .take(limit)
            .collect())
    }

    fn usage(&self, namespace: &str) -> Result<u64, KeyValueError> {
        let usage = Keys::new(namespace).usage();
        let n: Option<i64> = self.run(|conn| redis::cmd("GET").arg(&usage).query(conn))?;
        Ok(n.and_then(|n| u64::try_from(n).ok()).unwrap_or(0))
    }

    fn flush(&self) -> Result<(), KeyValueError> {
        Ok(())
    }

    fn describe(&self) -> String {
        format!("redis {}", self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_encode_injectively_and_without_separators() {
        assert_eq!(encode_namespace("rate-limiter_2"), "rate-limiter_2");
        assert_eq!(encode_namespace("a:b"), "a%3Ab");
        assert_eq!(encode_namespace("a}{"), "a%7D%7B");
        assert_eq!(encode_namespace("%"), "%25");
        assert_ne!(encode_namespace("a%3Ab"), encode_namespace("a:b"));
        let keys = Keys::new("p");
        assert_eq!(keys.value("x:y"), b"warden:kv:{p}:x:y");
        assert_eq!(keys.index(), "warden:kv-index:{p}");
        assert_eq!(keys.usage(), "warden:kv-usage:{p}");
    }

    #[test]
    fn an_unreachable_server_is_a_typed_error_naming_the_url() {
        // Port 1 on loopback: nothing listens there.
        let e = Redis::connect("redis://:hunter2@127.0.0.1:1/3").err().expect("nothing listens on port 1");
        let KeyValueError::Connect { url, .. } = &e else { panic!("{e:?}") };
        assert_eq!(url, "redis://:***@127.0.0.1:1/3");
        assert!(!e.to_string().contains("hunter2"));
        assert_eq!(e.code(), "unavailable");
        let e = Redis::connect("redis://127.0.0.1:notaport").err().expect("bad URL");
        assert!(matches!(e, KeyValueError::Connect { .. }), "{e:?}");
    }
}
