//! Host-side bindings generated from `wit/plugin.wit`.
//!
//! Only types and per-interface export handles are used: a plugin exports
//! any subset of the interfaces, so instantiation never goes through the
//! world-level `Plugin` type (which would demand every export).

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "plugin",
    // These trap when the call's deadline passes while they wait.
    imports: {
        "warden:plugin/outbound-http.fetch": trappable,
        "warden:plugin/plugins.call": trappable,
        "warden:plugin/keyvalue": trappable,
        // Handles of another call trap; reading a body waits.
        "warden:plugin/types": trappable,
    },
    with: {
        "warden:plugin/types.call-context": crate::handles::ContextHandle,
        "warden:plugin/types.request": crate::handles::RequestHandle,
        "warden:plugin/types.response": crate::handles::ResponseHandle,
    },
});

pub(crate) use self::exports::warden::plugin::{
    capture, connect, handler, http_filter, lifecycle, rule_match, subscriber,
};
pub(crate) use self::warden::plugin::{config, keyvalue, log, messaging, outbound_http, plugins, types};
