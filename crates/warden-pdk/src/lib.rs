//! Write [Warden](https://example.invalid/warden) plugins in Rust.
//!
//! A plugin is a type implementing [`Plugin`] (how to build it from its
//! configuration) plus one trait per hook it offers ([`HttpFilter`], [`Connect`],
//! [`Capture`], [`RuleMatch`], [`Handler`]). One [`export!`] line turns it into a
//! WebAssembly component that exports `warden:plugin/lifecycle` and exactly the
//! hooks it lists; the host discovers the hooks from those exports.
//!
//! ```no_run
//! use warden_pdk::prelude::*;
//!
//! struct Logger {
//!     prefix: String,
//! }
//!
//! impl Plugin for Logger {
//!     fn init(config: &Config) -> Result<Self, PluginError> {
//!         Ok(Logger { prefix: config.get("prefix").unwrap_or_default() })
//!     }
//! }
//!
//! impl HttpFilter for Logger {
//!     fn on_request(&mut self, _ctx: &CallContext, req: &Request) -> Result<RequestAction, PluginError> {
//!         info!("{}{} {}", self.prefix, req.method(), req.uri());
//!         if !req.has_header("authorization") {
//!             return Ok(RequestAction::reject(401, "missing credentials"));
//!         }
//!         req.set_header("x-logged", "1")?; // needs `modify-request = true`
//!         Ok(RequestAction::Continue)
//!     }
//! }
//!
//! warden_pdk::export!(Logger: http_filter);
//! # fn main() {}
//! ```
//!
//! Build it as a `cdylib` with `cargo build --target wasm32-wasip2`; the output
//! `.wasm` file is already a component. The hook names accepted by
//! [`export!`] are `http_filter`, `connect`, `capture`, `rule_match`, `handler` and `subscriber`.
//!
//! The plugin value lives in a thread-local slot of the plugin crate, one per
//! instance. `init` builds it; if the host calls a hook first, it is built
//! lazily from the host's configuration. Errors returned by [`Plugin::init`] go
//! back to the host.
//!
//! Hooks get the request and response as [`Request`] and [`Response`]:
//! handles to messages the host keeps, lent for the call. Each method is a
//! host call that copies only what it returns; a plugin that never calls
//! `body()` never makes the host read the body.
//!
//! # Testing natively
//!
//! The crate compiles natively too, so a plugin's own `cargo test` can call
//! its hooks directly. [`Request::new`], [`Response::new`] and
//! [`CallContext::new`] make in-memory messages to call them with, and every
//! host import (logging, [`Config::from_host`], [`kv`], [`fetch`],
//! [`publish`], [`call_plugin`]) goes to an in-memory mock host, one per
//! test thread, that [`testing::MockHost`] sets up and reads back:
//!
//! ```
//! use warden_pdk::prelude::*;
//! use warden_pdk::testing::MockHost;
//! use warden_pdk::{OutgoingRequest, fetch, kv};
//!
//! /// Counts requests per user in the key-value store and asks a service
//! /// whether the user may go on.
//! struct Gate {
//!     service: String,
//! }
//!
//! impl Plugin for Gate {
//!     fn init(config: &Config) -> Result<Self, PluginError> {
//!         let service = config.get("service").ok_or_else(|| PluginError::new("bad-config", "set `service`"))?;
//!         Ok(Gate { service })
//!     }
//! }
//!
//! impl HttpFilter for Gate {
//!     fn on_request(&mut self, ctx: &CallContext, req: &Request) -> Result<RequestAction, PluginError> {
//!         let user = req.header("x-user").unwrap_or_default();
//!         let key = format!("count:{user}");
//!         let count = kv::get(&key)?.map_or(0, |v| String::from_utf8_lossy(&v).parse().unwrap_or(0)) + 1;
//!         kv::set(&key, count.to_string().as_bytes())?;
//!         let answer = fetch(&OutgoingRequest::get(format!("{}/allow/{user}", self.service)))?;
//!         info!("{} {user} #{count}: {}", ctx.request_id(), answer.status);
//!         Ok(match answer.status {
//!             200 => RequestAction::Continue,
//!             _ => RequestAction::reject(403, "not allowed"),
//!         })
//!     }
//! }
//!
//! // In a #[test]:
//! let host = MockHost::new()
//!     .config("service", "https://auth.example.com")
//!     .kv_entry("count:ann", b"41")
//!     .stub_fetch("https://auth.example.com/allow/ann", HttpResponse::new(200, ""))
//!     .stub_fetch("https://auth.example.com/allow/*", HttpResponse::new(404, ""));
//!
//! let mut gate = Gate::init(&Config::from_host())?;
//! let req = Request::new("GET", "/orders").with_header("x-user", "ann");
//! assert_eq!(gate.on_request(&CallContext::new("req-1"), &req)?, RequestAction::Continue);
//! assert_eq!(host.kv_get("count:ann").as_deref(), Some(&b"42"[..]));
//! assert_eq!(host.logs()[0].message, "req-1 ann #42: 200");
//!
//! let req = Request::new("GET", "/orders").with_header("x-user", "bob");
//! assert_eq!(gate.on_request(&CallContext::new("req-2"), &req)?, RequestAction::reject(403, "not allowed"));
//! assert_eq!(host.requests().len(), 2);
//! # Ok::<(), PluginError>(())
//! ```
//!
//! A call the mock host was not set up for fails as it would on a host
//! whose manifest lacks the permission (code `capability-denied`, with a
//! message naming the `MockHost` method to call), never with a panic. See
//! [`testing`] for everything it does.

#[allow(
    missing_docs,
    unsafe_code,
    unused_qualifications,
    reason = "generated by wit-bindgen from wit/plugin.wit, which carries the docs"
)]
mod bindings;
mod config;
mod error;
mod http;
pub mod json;
pub mod kv;
pub mod log;
mod message;
mod outbound;
mod plugin;
mod plugins;
pub mod prelude;
#[doc(hidden)]
pub mod rt;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

/// The host imports the wrappers call: the host's in a component, the
/// in-memory mock host natively.
#[cfg(target_arch = "wasm32")]
use bindings::warden::plugin as imports;
#[cfg(not(target_arch = "wasm32"))]
use testing::imports;

pub use bindings::warden::plugin::types::{
    ConnectAction, ConnectionInfo, Headers, HealthStatus, HttpResponse, PluginError, Rejection, RequestAction,
    ResponseAction,
};
pub use config::Config;
pub use http::HeadersExt;
pub use message::{CallContext, Exchange, Request, Response, RuleEvent};
pub use outbound::{OutgoingRequest, fetch};
pub use plugin::{Capture, Connect, Handler, HttpFilter, Plugin, RuleMatch, Subscriber};
pub use plugins::{call_plugin, publish};
/// Exports a [`Plugin`] type and the hooks it implements; see the [crate docs](crate).
///
/// `export!(MyPlugin: http_filter, handler);` — the type must implement
/// [`Plugin`] and the trait for each listed hook.
pub use warden_pdk_macros::export;
