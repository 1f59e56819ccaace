//! Support code for the expansion of [`export!`](crate::export). Not a public API.

use std::cell::RefCell;
use std::thread::LocalKey;

use crate::{
    CallContext, Capture, Config, Connect, Exchange, Handler, HealthStatus, HttpFilter, Plugin, PluginError, Request,
    Response, RuleEvent, RuleMatch, Subscriber,
};

pub use crate::bindings::warden::plugin::{config, log, types};
pub use wit_bindgen;

/// Where the exported plugin value lives: one per instance (wasm is single-threaded).
pub type State<P> = LocalKey<RefCell<Option<P>>>;

/// `lifecycle.init`: builds the plugin, replacing any previous value.
pub fn init<P: Plugin>(state: &'static State<P>, config: Vec<(String, String)>) -> Result<(), PluginError> {
    let plugin = P::init(&Config::new(config))?;
    state.with_borrow_mut(|slot| *slot = Some(plugin));
    Ok(())
}

/// `lifecycle.shutdown`: shuts the plugin down and drops it, if it was built.
pub fn shutdown<P: Plugin>(state: &'static State<P>) {
    if let Some(mut plugin) = state.with_borrow_mut(Option::take) {
        plugin.shutdown();
    }
}

/// `lifecycle.health`: the plugin's health; unhealthy if it cannot be built.
pub fn health<P: Plugin>(state: &'static State<P>) -> HealthStatus {
    with(state, |p| Ok(p.health())).unwrap_or_else(|e| HealthStatus::Unhealthy(format!("{}: {}", e.code, e.message)))
}

/// Runs `f` on the plugin, building it from the host's configuration first if
/// the host skipped `init`.
pub fn with<P: Plugin, R>(
    state: &'static State<P>,
    f: impl FnOnce(&mut P) -> Result<R, PluginError>,
) -> Result<R, PluginError> {
    state.with_borrow_mut(|slot| {
        let plugin = match slot {
            Some(plugin) => plugin,
            None => slot.insert(P::init(&Config::from_host())?),
        };
        f(plugin)
    })
}

/// `http-filter.on-request`.
pub fn on_request<P: HttpFilter>(
    state: &'static State<P>,
    ctx: &types::CallContext,
    request: &types::Request,
) -> Result<types::RequestAction, PluginError> {
    with(state, |p| p.on_request(&CallContext::host(ctx), &Request::host(request)))
}

/// `http-filter.on-response`.
pub fn on_response<P: HttpFilter>(
    state: &'static State<P>,
    ctx: &types::CallContext,
    request: &types::Request,
    response: &types::Response,
) -> Result<types::ResponseAction, PluginError> {
    with(state, |p| p.on_response(&CallContext::host(ctx), &Request::host(request), &Response::host(response)))
}

/// `connect.on-connect`.
pub fn on_connect<P: Connect>(
    state: &'static State<P>,
    connection: types::ConnectionInfo,
) -> Result<types::ConnectAction, PluginError> {
    with(state, |p| p.on_connect(&connection))
}

/// `capture.on-capture`.
pub fn on_capture<P: Capture>(
    state: &'static State<P>,
    ctx: &types::CallContext,
    request: &types::Request,
    response: &types::Response,
    duration_us: u64,
) -> Result<(), PluginError> {
    let exchange = Exchange {
        context: CallContext::host(ctx),
        request: Request::host(request),
        response: Response::host(response),
        duration_us,
    };
    with(state, |p| p.on_capture(&exchange))
}

/// `rule-match.on-rule-match`.
pub fn on_rule_match<P: RuleMatch>(
    state: &'static State<P>,
    ctx: &types::CallContext,
    rule: String,
    request: &types::Request,
    details: Vec<(String, String)>,
) -> Result<(), PluginError> {
    let event = RuleEvent { context: CallContext::host(ctx), rule, request: Request::host(request), details };
    with(state, |p| p.on_rule_match(&event))
}

/// `subscriber.on-message`.
pub fn on_message<P: Subscriber>(state: &'static State<P>, topic: String, payload: Vec<u8>) -> Result<(), PluginError> {
    with(state, |p| p.on_message(&topic, payload))
}

/// `handler.handle`.
pub fn handle<P: Handler>(state: &'static State<P>, action: String, payload: Vec<u8>) -> Result<Vec<u8>, PluginError> {
    with(state, |p| p.handle(&action, payload))
}

/// Reads header `name` through a raw request handle kept from an earlier
/// call: what a plugin that keeps a handle does. The host's tests use it
/// to check that this traps instead of reaching another call's request.
#[allow(unsafe_code, reason = "rebuilds a resource from its raw handle on purpose, for the host's tests")]
pub fn stale_request_header(handle: u32, name: &str) -> Option<String> {
    // SAFETY: wit-bindgen's contract is that `handle` is a live handle of
    // this instance; breaking it is the point, and the host (not this
    // plugin's memory) is what checks it: the call traps.
    let request = unsafe { types::Request::from_handle(handle) };
    let value = request.header(name);
    std::mem::forget(request);
    value
}
