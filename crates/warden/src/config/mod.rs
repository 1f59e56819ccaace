//! The config capability: `warden:plugin/config`, the manifest's `[config]`
//! table, read-only. Every plugin has it (its own table only); the same
//! table is passed to `lifecycle.init`.

use std::sync::Arc;

use crate::bindings::config as wit;
use crate::capability::{Capability, GrantContext, Has, HostView, Linker, view};
use crate::error::Error;

/// The built-in config capability.
pub(crate) struct Config;

/// A plugin's `[config]`, sorted by key.
pub(crate) struct Table(Vec<(String, String)>);

/// Per instance: the table.
pub(crate) struct ConfigState(Arc<Table>);

impl Capability for Config {
    type Grant = Table;
    type State = ConfigState;

    fn name(&self) -> &str {
        "config"
    }

    fn interfaces(&self) -> &[&str] {
        &["warden:plugin/config"]
    }

    fn add_to_linker(&self, linker: &mut Linker) -> wasmtime::Result<()> {
        wit::add_to_linker::<_, Has<ConfigState>>(linker, view)
    }

    fn grant(&self, cx: &GrantContext<'_>) -> Result<Table, Error> {
        // A BTreeMap iterates sorted by key.
        Ok(Table(cx.manifest().config.iter().map(|(k, v)| (k.clone(), v.clone())).collect()))
    }

    fn instantiate(&self, grant: &Arc<Table>) -> wasmtime::Result<ConfigState> {
        Ok(ConfigState(Arc::clone(grant)))
    }
}

impl wit::Host for HostView<'_, ConfigState> {
    fn get(&mut self, key: String) -> Option<String> {
        let config = &self.state().0.0;
        config.binary_search_by(|(k, _)| k.as_str().cmp(&key)).ok().map(|i| config[i].1.clone())
    }

    fn get_all(&mut self) -> Vec<(String, String)> {
        self.state().0.0.clone()
    }
}
