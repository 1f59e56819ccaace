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

impl Table {
    /// The value of `key`, if set.
    fn get(&self, key: &str) -> Option<&str> {
        let i = self.0.binary_search_by(|(k, _)| k.as_str().cmp(key)).ok()?;
        Some(&self.0[i].1)
    }
}

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
        self.state().0.get(&key).map(str::to_owned)
    }

    fn get_all(&mut self) -> Vec<(String, String)> {
        self.state().0.0.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grant_is_the_manifests_config_sorted() {
        let mut manifest = crate::Manifest::new("p", "/p.wasm");
        manifest.config.insert("b".into(), "2".into());
        manifest.config.insert("a".into(), "1".into());
        let table = Config.grant(&GrantContext::new(&manifest)).unwrap();
        assert_eq!(table.0, [("a".to_owned(), "1".to_owned()), ("b".to_owned(), "2".to_owned())]);
        assert_eq!((table.get("a"), table.get("b"), table.get("c")), (Some("1"), Some("2"), None));
    }
}
