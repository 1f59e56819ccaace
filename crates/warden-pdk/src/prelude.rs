//! Everything a plugin usually needs: `use warden_pdk::prelude::*;`.

pub use crate::{
    CallContext, Capture, Config, Connect, ConnectAction, ConnectionInfo, Exchange, Handler, Headers, HeadersExt,
    HealthStatus, HttpFilter, HttpResponse, Plugin, PluginError, Rejection, Request, RequestAction, Response,
    ResponseAction, RuleEvent, RuleMatch, Subscriber, debug, error, info, trace, warn,
};
