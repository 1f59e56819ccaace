//! Warden: a secure, fast WebAssembly plugin runtime.
//!
//! A host application loads third-party plugins — WebAssembly components
//! built against the `warden:plugin` WIT package — and calls their hooks
//! (`on-request`, `on-response`, `on-connect`, `on-capture`,
//! `on-rule-match`, `handle`). Each plugin runs in its own sandbox: bounded
//! memory, a wall-clock deadline per call, optional fuel, a stack cap, a cap
//! on output size, and only the files and environment variables its
//! manifest grants. A plugin that traps or exceeds a limit gets a typed
//! [`Error`]; the host and the other plugins carry on, and the plugin itself
//! serves the next call from a fresh instance.
//!
//! ```no_run
//! use warden::{CallContext, Request, RequestAction, Runtime};
//!
//! # fn main() -> Result<(), warden::Error> {
//! let runtime = Runtime::new()?; // one per process
//! let plugin = runtime.load("plugins/header-modifier")?; // plugin.toml + component
//! let mut request = Request::new(warden::http::Method::GET, "/hello".parse().unwrap());
//! request.headers.insert("host", warden::http::HeaderValue::from_static("example.com"));
//! // The plugin reads and changes the request in place, through handles.
//! if let RequestAction::Continue = plugin.on_request(&CallContext::new("1"), &mut request)? {
//!     println!("{} {} {:?}", request.method, request.uri, request.headers);
//! }
//! # Ok(()) }
//! ```
//!
//! See `docs/PLUGIN_DEVELOPMENT.md` for writing plugins and
//! `docs/MANIFEST.md` for `plugin.toml`.

mod audit;
#[allow(missing_docs, reason = "generated: the WIT docs cover the public types")]
mod bindings;
mod bus;
mod cache;
mod capture;
mod component;
mod deadline;
mod error;
mod handles;
mod hooks;
mod host;
mod instance;
mod kv;
mod limits;
mod manager;
mod manifest;
mod message;
mod outbound;
mod output;
mod permissions;
mod plugin;
mod poll;
mod position;
mod runtime;
mod sandbox;
mod stats;
mod trace;
mod types;
mod units;
mod watch;

pub use audit::AuditSink;
pub use bus::{TopicError, TopicPattern};
pub use component::DEFAULT_MAX_COMPONENT_BYTES;
pub use error::{Error, ErrorKind, Result};
pub use hooks::{Hook, Interface};
/// The `http` crate, whose types [`Request`] and [`Response`] hold.
pub use http;
pub use kv::{KeyValueError, KeyValueStore};
pub use limits::{InstancePolicy, Limits};
pub use manager::{
    DEFAULT_MESSAGE_QUEUE, DEFAULT_MESSAGE_QUEUE_BYTES, LoadReport, ManagerBuilder, PluginInfo, PluginManager,
    PluginState, SyncAction,
};
pub use manifest::{Manifest, ManifestError};
pub use message::{Body, BodyError, BodySource, CallContext, Exchange, Request, Response, RuleEvent};
pub use outbound::{AddressRange, AddressRangeError, OutboundHttp};
pub use permissions::{Access, FileGrant, HostMatch, HostPattern, HostPatternError, Permissions, Scheme};
pub use plugin::Plugin;
pub use position::{text_position, write_location};
pub use runtime::{DEFAULT_MAX_HEADERS, Runtime, RuntimeBuilder};
pub use stats::{LATENCY_BUCKETS, LastError, Latency, StatsSnapshot};
pub use trace::TraceScope;
pub use types::{
    ConnectAction, ConnectionInfo, HealthStatus, HttpResponse, PluginError, Rejection, RequestAction, ResponseAction,
};
pub use units::{parse_duration, parse_size};
pub use watch::DirWatcher;

/// The README's Rust examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
