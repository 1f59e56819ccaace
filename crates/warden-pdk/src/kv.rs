//! The key-value store: this plugin's own namespace, when its manifest sets
//! `[permissions] key-value = true`.
//!
//! Keys are non-empty UTF-8 strings of at most 512 bytes without NUL. What a
//! plugin stores (keys plus values) is capped by `[limits] key-value-quota`.
//! Errors carry a code: `capability-denied`, `invalid-key`, `quota-exceeded`,
//! `unavailable` or `backend-error`.
//!
//! ```no_run
//! # fn f() -> Result<(), warden_pdk::PluginError> {
//! use warden_pdk::kv;
//!
//! kv::set("visits", b"1")?;
//! assert_eq!(kv::get("visits")?.as_deref(), Some(&b"1"[..]));
//! let users = kv::list_keys("user:", 100)?;
//! kv::delete("visits")?;
//! # Ok(()) }
//! ```

use crate::PluginError;
use crate::imports::keyvalue;

/// The value stored under `key`, if any.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, PluginError> {
    keyvalue::get(key)
}

/// Stores `value` under `key`, replacing any previous value.
pub fn set(key: &str, value: &[u8]) -> Result<(), PluginError> {
    keyvalue::set(key, value)
}

/// Removes `key`; returns whether it existed.
pub fn delete(key: &str) -> Result<bool, PluginError> {
    keyvalue::delete(key)
}

/// The keys starting with `prefix`, in byte order, at most `limit` of them.
pub fn list_keys(prefix: &str, limit: u32) -> Result<Vec<String>, PluginError> {
    keyvalue::list_keys(prefix, limit)
}
