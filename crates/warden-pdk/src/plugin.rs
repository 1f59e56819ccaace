//! The traits a plugin implements: [`Plugin`] always, plus one per hook it exports.

use crate::{
    CallContext, Config, ConnectAction, ConnectionInfo, Exchange, HealthStatus, PluginError, Request, RequestAction,
    Response, ResponseAction, RuleEvent,
};

/// A plugin: built once per instance from its configuration, then called through its hooks.
///
/// [`export!`](crate::export) wires it to the `warden:plugin/lifecycle` export:
/// `init` calls [`Plugin::init`] and keeps the value for the hooks. If the host
/// calls a hook before `init`, the plugin is built first from the host's
/// configuration (`config.get-all`).
pub trait Plugin: Sized + 'static {
    /// Builds the plugin from its configuration. An error is returned to the host
    /// and the plugin stays uninitialised.
    fn init(config: &Config) -> Result<Self, PluginError>;

    /// Called before the host drops the plugin; the value is dropped afterwards.
    fn shutdown(&mut self) {}

    /// Reports the plugin's health; [`HealthStatus::Healthy`] by default.
    fn health(&mut self) -> HealthStatus {
        HealthStatus::Healthy
    }
}

/// HTTP filter hooks (`warden:plugin/http-filter`; export with `http_filter`).
pub trait HttpFilter: Plugin {
    /// Called for each request, lent for the call. Changes through the
    /// request's `set_*` methods need the `modify-request` permission.
    /// Continues unchanged by default.
    fn on_request(&mut self, ctx: &CallContext, request: &Request) -> Result<RequestAction, PluginError> {
        let _ = (ctx, request);
        Ok(RequestAction::Continue)
    }

    /// Called for each response, lent for the call; the request (head
    /// only) is read-only. Changes and `Respond` need the
    /// `modify-response` permission. Continues unchanged by default.
    fn on_response(
        &mut self,
        ctx: &CallContext,
        request: &Request,
        response: &Response,
    ) -> Result<ResponseAction, PluginError> {
        let _ = (ctx, request, response);
        Ok(ResponseAction::Continue)
    }
}

/// Connection hook (`warden:plugin/connect`; export with `connect`).
pub trait Connect: Plugin {
    /// Called once per accepted connection: allow or deny it.
    fn on_connect(&mut self, connection: &ConnectionInfo) -> Result<ConnectAction, PluginError>;
}

/// Capture hook (`warden:plugin/capture`; export with `capture`).
pub trait Capture: Plugin {
    /// Called after a response was sent, with the whole exchange.
    fn on_capture(&mut self, exchange: &Exchange) -> Result<(), PluginError>;
}

/// Rule-match hook (`warden:plugin/rule-match`; export with `rule_match`).
pub trait RuleMatch: Plugin {
    /// Called for a request that matched a host rule the plugin subscribed to.
    fn on_rule_match(&mut self, event: &RuleEvent) -> Result<(), PluginError>;
}

/// Message subscriber (`warden:plugin/subscriber`; export with `subscriber`).
/// Receives the topics listed in `[permissions] subscribe`, in publish order.
pub trait Subscriber: Plugin {
    /// Called for each message published on a subscribed topic.
    fn on_message(&mut self, topic: &str, payload: Vec<u8>) -> Result<(), PluginError>;
}

/// Generic entry point (`warden:plugin/handler`; export with `handler`).
pub trait Handler: Plugin {
    /// Runs `action` on `payload` and returns the result bytes.
    fn handle(&mut self, action: &str, payload: Vec<u8>) -> Result<Vec<u8>, PluginError>;
}
