//! Everything a plugin usually needs: `use warden_pdk::prelude::*;`.

pub use crate::{
    CallContext, Capture, Config, Connect, ConnectAction, ConnectionInfo, Exchange, Handler, Headers, HeadersExt,
    HealthStatus, HttpFilter, HttpRequest, HttpResponse, Plugin, PluginError, Rejection, RequestAction, RequestHead,
    ResponseAction, RuleEvent, RuleMatch, Subscriber, debug, error, info, trace, warn,
};
