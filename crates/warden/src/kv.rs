//! The key-value capability (host import `warden:plugin/keyvalue`).
//!
//! Not implemented yet: every operation fails with `unavailable`.

use crate::bindings::{keyvalue, types};
use crate::host::HostState;

impl HostState {
    fn no_store<T>(&self) -> Result<T, types::PluginError> {
        Err(types::PluginError {
            code: "unavailable".to_owned(),
            message: format!("plugin '{}': this host has no key-value store", self.shared.name),
        })
    }
}

impl keyvalue::Host for HostState {
    fn get(&mut self, _key: String) -> Result<Option<Vec<u8>>, types::PluginError> {
        self.no_store()
    }

    fn set(&mut self, _key: String, _value: Vec<u8>) -> Result<(), types::PluginError> {
        self.no_store()
    }

    fn delete(&mut self, _key: String) -> Result<bool, types::PluginError> {
        self.no_store()
    }

    fn list_keys(&mut self, _prefix: String, _limit: u32) -> Result<Vec<String>, types::PluginError> {
        self.no_store()
    }
}
