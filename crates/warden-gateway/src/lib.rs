//! The Warden HTTP gateway: HTTP requests flow through pipelines of
//! sandboxed plugins (`warden serve`).
//!
//! A [`GatewayConfig`] (from `gateway.toml`) lists routes; each maps a path
//! prefix, methods and host to pipelines of plugins for `on-request`,
//! `on-response` and `on-capture`, and either proxies to an upstream or
//! answers from the pipeline. Rules hand matching requests to
//! `on-rule-match` plugins; `on-connect` plugins see each connection. An
//! admin API (bearer token, loopback by default) lists, reloads, enables and
//! disables plugins and serves Prometheus metrics.
//!
//! ```no_run
//! # async fn demo() -> Result<(), warden_gateway::GatewayError> {
//! let config = warden_gateway::GatewayConfig::from_file("examples/gateway.toml")?;
//! let running = warden_gateway::start(config).await?;
//! println!("listening on http://{}", running.addr());
//! tokio::signal::ctrl_c().await.ok();
//! running.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The configuration format and the request flow are described in
//! `docs/GATEWAY.md`.

mod admin;
mod config;
mod conn;
mod convert;
mod error;
mod metrics;
mod path;
mod pipeline;
mod route;
mod server;
mod source;
mod start;
mod stream;
mod tee;
mod trace;

pub use admin::{health_name, plugin_json};
pub use config::{
    AdminConfig, AdminToken, ConfigError, GatewayConfig, LogFormat, Mode, OnError, RouteConfig, RuleConfig,
    ServerConfig, SourceConfig, Stage,
};
pub use conn::raise_open_file_limit;
pub use error::GatewayError;
pub use pipeline::{ConnectOutcome, Failure, Pipeline, RequestOutcome, ResponseOutcome};
pub use route::{HostRule, Pattern};
pub use server::{Body, BoxError, Gateway};
pub use start::{Running, compile_settings, start, token_path};
pub use trace::TraceContext;
