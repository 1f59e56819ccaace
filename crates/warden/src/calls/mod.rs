//! The plugin-calls capability: `warden:plugin/plugins.call`, a call into
//! `handle(action, payload)` of a plugin named in the caller's
//! `[dependencies]`, through the [`PluginManager`](crate::PluginManager),
//! under the callee's own limits and no later than the caller's deadline.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::bindings::{plugins as wit, types};
use crate::capability::{Capability, GrantContext, Has, HostView, Linker, view};
use crate::error::Error;

/// The built-in plugin-calls capability.
pub(crate) struct Calls;

/// A plugin's grant: the manifest's `[dependencies]`, the only plugins it
/// may call, with the versions it accepts.
pub(crate) struct Grant(BTreeMap<String, semver::VersionReq>);

/// Per instance: the grant.
pub(crate) struct CallsState(Arc<Grant>);

impl Capability for Calls {
    type Grant = Grant;
    type State = CallsState;

    fn name(&self) -> &str {
        "plugins"
    }

    fn interfaces(&self) -> &[&str] {
        &["warden:plugin/plugins"]
    }

    fn add_to_linker(&self, linker: &mut Linker) -> wasmtime::Result<()> {
        wit::add_to_linker::<_, Has<CallsState>>(linker, view)
    }

    fn grant(&self, cx: &GrantContext<'_>) -> Result<Grant, Error> {
        Ok(Grant(cx.manifest().dependencies.clone()))
    }

    fn instantiate(&self, grant: &Arc<Grant>) -> wasmtime::Result<CallsState> {
        Ok(CallsState(Arc::clone(grant)))
    }
}

impl wit::Host for HostView<'_, CallsState> {
    fn call(
        &mut self,
        plugin: String,
        action: String,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<Vec<u8>, types::PluginError>> {
        let (CallsState(grant), core) = self.parts();
        let me = Arc::clone(&core.shared);
        let refuse = |code: &str, message: String| Ok(Err(types::PluginError { code: code.to_owned(), message }));
        let Some(req) = grant.0.get(&plugin) else {
            let allowed: Vec<&str> = grant.0.keys().map(String::as_str).collect();
            let allowed = if allowed.is_empty() { "none".to_owned() } else { allowed.join(", ") };
            let message = format!(
                "plugin '{}' may only call the plugins in its [dependencies] ({allowed}); add '{plugin}' there",
                me.name
            );
            // Audited here only: the callee's own errors come back with
            // codes such as `capability-denied` too, and are the callee's.
            let error = types::PluginError { code: "capability-denied".to_owned(), message };
            return Ok(Err(core.refused("plugins.call", error)));
        };
        let Some(links) = &me.links else {
            let msg =
                format!("plugin '{}' was loaded on its own; calls to other plugins need a PluginManager", me.name);
            return refuse("unavailable", msg);
        };
        // The callee ends no later than this call (see `crate::deadline`).
        let result = links.call(&me.name, &plugin, req, &action, &payload);
        core.or_deadline(result)
    }
}
