//! The one seam to the key-value store: the host's store in the plugin, an
//! in-memory map in native unit tests.

use warden_pdk::{PluginError, kv};

/// The key-value operations the enricher uses.
pub trait Store {
    /// The value under `key`, if any.
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, PluginError>;
    /// Stores `value` under `key`.
    fn set(&mut self, key: &str, value: &[u8]) -> Result<(), PluginError>;
}

/// The host's key-value store (`warden_pdk::kv`); needs
/// `[permissions] key-value = true`.
pub struct HostStore;

impl Store for HostStore {
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, PluginError> {
        kv::get(key)
    }

    fn set(&mut self, key: &str, value: &[u8]) -> Result<(), PluginError> {
        kv::set(key, value)
    }
}
