//! The host's own imports, simulated: a plugin of a host's world may import
//! interfaces of that host (`example:clock/clock`), which `warden test`
//! does not have. It links each function of those interfaces to an answer
//! the case gives (`[[case.import]]`), records the calls, and claims the
//! manifest's `[permissions]` keys that Warden does not know (the host's).

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, Result};
use warden::capability::{Capability, GrantContext, Linker};
use warden::wasmtime::component::Val;
use warden::{Manifest, wasmtime};
use wit_bindgen_core::wit_parser::WorldItem;
use wit_component::DecodedWasm;

use super::case::ImportStub;
use super::value;

/// The packages whose imports Warden's own capabilities provide.
const WARDEN_PACKAGES: &[&str] = &["warden:", "wasi:"];

/// The current case's answers and the calls made.
#[derive(Default)]
struct Calls {
    stubs: Vec<ImportStub>,
    made: Vec<String>,
}

/// The host's imports of one plugin, answered from the case.
#[derive(Clone)]
pub struct HostImports {
    /// `(interface, functions)`, the interface with its version as the
    /// component imports it.
    interfaces: Vec<(String, Vec<String>)>,
    /// The interfaces without version, for [`Capability::interfaces`].
    names: &'static [&'static str],
    /// The manifest's `[permissions]` keys Warden does not know (the
    /// host's own capabilities' grants).
    keys: &'static [&'static str],
    calls: Arc<Mutex<Calls>>,
}

/// The simulated host imports' state: none (answers live in the case).
pub struct Stubbed;

impl HostImports {
    /// The imports of the component `manifest` names that are neither
    /// Warden's nor WASI's, and the manifest's host permission keys; `None`
    /// if there are neither.
    pub fn of(manifest: &Manifest) -> Result<Option<HostImports>> {
        let interfaces = host_interfaces(&manifest.component)?;
        if interfaces.is_empty() && manifest.permissions.host.is_empty() {
            return Ok(None);
        }
        let leak = |s: &str| -> &'static str { Box::leak(s.into()) };
        let names: Vec<&'static str> = interfaces.iter().map(|(i, _)| leak(i.split('@').next().unwrap_or(i))).collect();
        let keys: Vec<&'static str> = manifest.permissions.host.keys().map(|k| leak(k)).collect();
        Ok(Some(HostImports {
            interfaces,
            names: Box::leak(names.into_boxed_slice()),
            keys: Box::leak(keys.into_boxed_slice()),
            calls: Arc::default(),
        }))
    }

    /// Sets the case's answers and forgets earlier calls.
    pub fn prepare(&self, stubs: &[ImportStub]) {
        let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        calls.stubs = stubs.to_vec();
        calls.made.clear();
    }

    /// The functions called since [`prepare`](Self::prepare), in order.
    pub fn made(&self) -> Vec<String> {
        self.calls.lock().unwrap_or_else(PoisonError::into_inner).made.clone()
    }
}

/// Most calls recorded per case; later ones are answered, not recorded.
const MAX_RECORDED: usize = 1000;

impl Capability for HostImports {
    type Grant = ();
    type State = Stubbed;

    fn name(&self) -> &str {
        "the host's imports (simulated by warden test)"
    }

    fn interfaces(&self) -> &[&str] {
        self.names
    }

    fn permissions(&self) -> &[&str] {
        self.keys
    }

    fn add_to_linker(&self, linker: &mut Linker) -> wasmtime::Result<()> {
        for (interface, functions) in &self.interfaces {
            let mut instance = linker.instance(interface)?;
            for function in functions {
                let name = format!("{}#{function}", interface.split('@').next().unwrap_or(interface));
                let calls = self.calls.clone();
                instance.func_new(function, move |_, ty, _params: &[Val], results: &mut [Val]| {
                    let mut calls = calls.lock().unwrap_or_else(PoisonError::into_inner);
                    if calls.made.len() < MAX_RECORDED {
                        calls.made.push(name.clone());
                    }
                    let Some(stub) = calls.stubs.iter().find(|s| matches(&s.func, &name)) else {
                        return Err(wasmtime::Error::msg(format!(
                            "the plugin called `{name}`, which the case does not answer: add \
                             [[case.import]] func = \"{name}\" with a `result` (or `trap`)"
                        )));
                    };
                    if let Some(message) = &stub.trap {
                        return Err(wasmtime::Error::msg(format!("`{name}` failed as the case says: {message}")));
                    }
                    let result_ty = ty.results().next();
                    match (&stub.result, result_ty, results.first_mut()) {
                        (Some(value), Some(ty), Some(slot)) => {
                            *slot = value::from_toml(value, &ty, &format!("import {name} result"))
                                .map_err(wasmtime::Error::msg)?;
                        }
                        (None, None, _) => {}
                        (None, Some(_), _) => {
                            return Err(wasmtime::Error::msg(format!(
                                "the case's answer to `{name}` needs a `result`"
                            )));
                        }
                        _ => {
                            return Err(wasmtime::Error::msg(format!("`{name}` returns nothing: drop the `result`")));
                        }
                    }
                    Ok(())
                })?;
            }
        }
        Ok(())
    }

    fn grant(&self, _: &GrantContext<'_>) -> Result<(), warden::Error> {
        Ok(())
    }

    fn instantiate(&self, _: &Arc<()>) -> wasmtime::Result<Stubbed> {
        Ok(Stubbed)
    }
}

/// Whether a stub's `func` (with or without the interface's version)
/// names `name` (`interface#function`, without version).
fn matches(func: &str, name: &str) -> bool {
    match (func.split_once('#'), name.split_once('#')) {
        (Some((i, f)), Some((ni, nf))) => f == nf && i.split('@').next() == Some(ni),
        _ => false,
    }
}

/// The interfaces a component imports from packages other than Warden's
/// and WASI's, each with the names of its functions.
fn host_interfaces(component: &Path) -> Result<Vec<(String, Vec<String>)>> {
    let bytes = std::fs::read(component).with_context(|| format!("cannot read `{}`", component.display()))?;
    let DecodedWasm::Component(resolve, world) =
        wit_component::decode(&bytes).with_context(|| format!("`{}` is not a component", component.display()))?
    else {
        anyhow::bail!("`{}` is a WIT package, not a component", component.display());
    };
    let mut interfaces = Vec::new();
    for (key, item) in &resolve.worlds[world].imports {
        let name = resolve.name_world_key(key);
        if let WorldItem::Interface { id, .. } = item
            && !WARDEN_PACKAGES.iter().any(|p| name.starts_with(p))
        {
            let functions = resolve.interfaces[*id].functions.keys().cloned().collect();
            interfaces.push((name, functions));
        }
    }
    Ok(interfaces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_names_its_function_with_or_without_the_version() {
        let name = "example:clock/clock#now-ms";
        assert!(matches("example:clock/clock#now-ms", name));
        assert!(matches("example:clock/clock@0.1.0#now-ms", name));
        assert!(!matches("example:clock/clock#now", name));
        assert!(!matches("example:clock/other@0.1.0#now-ms", name));
        assert!(!matches("now-ms", name));
    }
}
