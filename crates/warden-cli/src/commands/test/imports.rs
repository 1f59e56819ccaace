//! The host's own imports, simulated: a plugin of a host's world may import
//! interfaces of that host (`example:clock/clock`), which `warden test`
//! does not have. It links each function of those interfaces to an answer
//! the case gives (`[[case.import]]`), records the calls, and claims the
//! manifest's `[permissions]` keys that Warden does not know (the host's).

use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Result;
use warden::capability::{Capability, GrantContext, Linker};
use warden::wasmtime::component::Val;
use warden::{Manifest, wasmtime};

use super::case::ImportStub;
use super::value;
use super::wit::{ComponentWit, same_function, unversioned};

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
    /// The host imports `wit` lists, answered from the cases, and the
    /// manifest's host permission keys; `None` if the plugin imports
    /// nothing of its host (its unknown keys then stay errors).
    pub fn of(manifest: &Manifest, wit: &ComponentWit) -> Option<HostImports> {
        let interfaces = wit.host_imports.clone();
        if interfaces.is_empty() {
            return None;
        }
        let leak = |s: &str| -> &'static str { Box::leak(s.into()) };
        let names: Vec<&'static str> = interfaces.iter().map(|(i, _)| leak(i.split('@').next().unwrap_or(i))).collect();
        let keys: Vec<&'static str> = manifest.permissions.host.keys().map(|k| leak(k)).collect();
        Some(HostImports {
            interfaces,
            names: Box::leak(names.into_boxed_slice()),
            keys: Box::leak(keys.into_boxed_slice()),
            calls: Arc::default(),
        })
    }

    /// Sets the case's answers and forgets earlier calls; an answer for a
    /// function the plugin does not import is an error.
    pub fn prepare(&self, stubs: &[ImportStub]) -> Result<()> {
        for stub in stubs {
            let known = self.interfaces.iter().flat_map(|(i, fs)| fs.iter().map(move |f| format!("{i}#{f}")));
            let known: Vec<String> = known.collect();
            if !known.iter().any(|k| same_function(&stub.func, k)) {
                anyhow::bail!(
                    "`import` answers `{}`, which the plugin does not import; it imports {}",
                    stub.func,
                    known.iter().map(|k| format!("`{}`", unversioned(k))).collect::<Vec<_>>().join(", ")
                );
            }
        }
        let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        calls.stubs = stubs.to_vec();
        calls.made.clear();
        Ok(())
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
                    let Some(stub) = calls.stubs.iter().find(|s| same_function(&s.func, &name)) else {
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
