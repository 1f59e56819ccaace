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
//! A host with its own WIT world and its own host functions registers them
//! with [`RuntimeBuilder::world`] and [`RuntimeBuilder::capability`] and
//! calls its plugins typed with [`Plugin::call`]: see [`world`],
//! [`capability`] and `docs/EMBEDDING.md`.
//!
//! See `docs/PLUGIN_DEVELOPMENT.md` for writing plugins and
//! `docs/MANIFEST.md` for `plugin.toml`.

mod admission;
mod audit;
#[allow(missing_docs, reason = "generated: the WIT docs cover the public types")]
mod bindings;
mod build;
mod cache;
mod calls;
pub mod capability;
mod capture;
mod component;
mod config;
mod deadline;
mod error;
mod handles;
mod hooks;
mod host;
mod instance;
mod kv;
mod limits;
mod log;
mod manager;
mod manifest;
mod message;
mod messaging;
mod outbound;
mod output;
mod permissions;
mod plugin;
mod position;
mod runtime;
mod stats;
mod trace;
mod types;
mod units;
mod wasi;
mod watch;
pub mod world;

pub use admission::Admission;
pub use audit::{AuditSink, rfc3339};
pub use bindings::warden::plugin as wit;
pub use build::{BuildSpec, Language};
pub use capability::Capability;
pub use component::DEFAULT_MAX_COMPONENT_BYTES;
pub use error::{Error, ErrorKind, Result};
pub use hooks::{Hook, Interface};
pub use host::HostState;
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
pub use messaging::bus::{TopicError, TopicPattern};
pub use outbound::{AddressRange, AddressRangeError, OutboundHttp};
pub use output::OutputSize;
pub use permissions::{Access, FileGrant, HostMatch, HostPattern, HostPatternError, Permissions, Scheme};
pub use plugin::Plugin;
pub use position::{text_position, write_location};
pub use runtime::{DEFAULT_MAX_HEADERS, Runtime, RuntimeBuilder};
pub use stats::{ERROR_TEXT_BYTES, FuelPerCall, LATENCY_BUCKETS, LastError, Latency, RECENT_ERRORS, StatsSnapshot};
/// The `toml` crate, whose values carry host capabilities' grants.
pub use toml;
pub use trace::TraceScope;
pub use types::{
    ConnectAction, ConnectionInfo, HealthStatus, HttpResponse, PluginError, Rejection, RequestAction, ResponseAction,
};
pub use units::{parse_duration, parse_size};
/// The `wasmtime` crate Warden runs on: a host's `bindgen!` must use this
/// version (depend on the same one, or pass `wasmtime_crate:
/// warden::wasmtime`).
pub use wasmtime;
pub use watch::DirWatcher;
pub use world::{WardenWorld, World};

/// The README's Rust examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// docs/EMBEDDING.md's host example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/EMBEDDING.md")]
pub struct EmbeddingDoctests;
