//! Pipelines: an ordered list of plugins for one hook, run through a
//! [`PluginManager`]. Each plugin continues (maybe with a changed message),
//! answers, or refuses; a plugin that fails is skipped (`fail-open`) or stops
//! the request (`fail-closed`). Synchronous: the server runs a whole
//! pipeline in one blocking task, and benches and embedders call it
//! directly.
//!
//! ```no_run
//! use warden::{CallContext, PluginManager, Request, Runtime};
//! use warden_gateway::{OnError, Pipeline, RequestOutcome, Stage};
//!
//! # fn main() -> Result<(), warden::Error> {
//! let manager = PluginManager::new(Runtime::new()?);
//! manager.load_dir("plugins")?;
//! let pipeline = Pipeline::new(
//!     manager,
//!     vec![Stage::new("validator"), Stage::new("enricher").on_error(OnError::FailOpen)],
//! );
//! let mut request = Request::new(warden::http::Method::POST, "/api/orders".parse().unwrap());
//! request.body = warden::Body::from(r#"{"user_id":"42"}"#);
//! match pipeline.on_request(&CallContext::new("req-1"), &mut request) {
//!     RequestOutcome::Continue => println!("forward {} {}", request.method, request.uri),
//!     RequestOutcome::Respond(response) => println!("answered {}", response.status),
//!     RequestOutcome::Reject(r) => println!("refused {}: {}", r.status, r.reason),
//!     RequestOutcome::Failed(f) => println!("{f}"),
//!     _ => {} // the enum is #[non_exhaustive]
//! }
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;

use warden::{
    CallContext, ConnectAction, ConnectionInfo, ErrorKind, HttpResponse, PluginManager, Rejection, Request,
    RequestAction, Response, ResponseAction,
};

use crate::config::{OnError, Stage};

/// An ordered list of plugins for one hook. Cheap to clone.
#[derive(Clone)]
pub struct Pipeline {
    manager: PluginManager,
    stages: Arc<[Stage]>,
}

/// What an `on-request` pipeline decided.
#[derive(Debug)]
#[non_exhaustive]
pub enum RequestOutcome {
    /// Every plugin continued; the request is as the last one left it.
    Continue,
    /// A plugin answered; later plugins did not run.
    Respond(HttpResponse),
    /// A plugin refused the request.
    Reject(Rejection),
    /// A fail-closed plugin failed.
    Failed(Failure),
}

/// What an `on-response` pipeline decided.
#[derive(Debug)]
#[non_exhaustive]
pub enum ResponseOutcome {
    /// Every plugin continued; the response is as the last one left it.
    Continue,
    /// A plugin replaced the response and stopped the chain.
    Respond(HttpResponse),
    /// A plugin replaced the response with a refusal.
    Reject(Rejection),
    /// A fail-closed plugin failed.
    Failed(Failure),
}

/// What an `on-connect` pipeline decided.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectOutcome {
    /// Accept the connection.
    Allow,
    /// Close it; the plugin and its reason, for the log.
    Deny {
        /// The plugin that refused.
        plugin: String,
        /// Its reason.
        reason: String,
    },
    /// A fail-closed plugin failed.
    Failed(Failure),
}

/// A fail-closed plugin that failed. Its details are for logs only; clients
/// get a generic answer.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Failure {
    /// The plugin.
    pub plugin: String,
    /// The host's error kind (`None` for a malformed rejection).
    pub kind: Option<ErrorKind>,
    /// What went wrong.
    pub message: String,
}

impl Failure {
    /// The status a client gets: 503 when the plugin is busy, unavailable
    /// or not loaded, or a host-side service it needs did not answer (worth
    /// retrying later), else 500.
    pub fn status(&self) -> u16 {
        match self.kind {
            Some(
                ErrorKind::Busy | ErrorKind::Unavailable | ErrorKind::UnknownPlugin | ErrorKind::ServiceUnavailable,
            ) => 503,
            _ => 500,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Some(kind) => write!(f, "plugin '{}' failed ({kind}): {}", self.plugin, self.message),
            None => write!(f, "plugin '{}' failed: {}", self.plugin, self.message),
        }
    }
}

/// A plugin failed: `Ok` to go on (fail-open, logged), `Err` to stop.
fn failed(stage: &Stage, kind: Option<ErrorKind>, message: String) -> Result<(), Failure> {
    let failure = Failure { plugin: stage.plugin.clone(), kind, message };
    match stage.on_error {
        OnError::FailOpen => {
            tracing::warn!(plugin = %stage.plugin, "skipped (fail-open): {failure}");
            Ok(())
        }
        _ => Err(failure),
    }
}

fn error(stage: &Stage, e: &warden::Error) -> Result<(), Failure> {
    failed(stage, Some(e.kind()), e.to_string())
}

/// A rejection must carry a 4xx or 5xx status; anything else is the
/// plugin's mistake.
fn check_rejection(stage: &Stage, r: Rejection) -> Result<Option<Rejection>, Failure> {
    if (400..=599).contains(&r.status) {
        return Ok(Some(r));
    }
    failed(stage, None, format!("rejected with status {}, which is not 4xx or 5xx", r.status)).map(|()| None)
}

impl Pipeline {
    /// A pipeline running `stages` in order through `manager`.
    pub fn new(manager: PluginManager, stages: Vec<Stage>) -> Pipeline {
        Pipeline { manager, stages: stages.into() }
    }

    /// The stages in order.
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// Whether there are no stages.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Runs `on-request` through every stage, each changing `request` in
    /// place (a stage that fails leaves it as it found it).
    pub fn on_request(&self, ctx: &CallContext, request: &mut Request) -> RequestOutcome {
        for stage in self.stages.iter() {
            match self.manager.call(&stage.plugin, |p| p.on_request(ctx, request)) {
                Ok(RequestAction::Continue) => {}
                Ok(RequestAction::Respond(response)) => return RequestOutcome::Respond(response),
                Ok(RequestAction::Reject(r)) => match check_rejection(stage, r) {
                    Ok(Some(r)) => return RequestOutcome::Reject(r),
                    Ok(None) => {}
                    Err(f) => return RequestOutcome::Failed(f),
                },
                Err(e) => {
                    if let Err(f) = error(stage, &e) {
                        return RequestOutcome::Failed(f);
                    }
                }
            }
        }
        RequestOutcome::Continue
    }

    /// Runs `on-response` through every stage, each changing `response`
    /// in place; `request` (its head) is read-only.
    pub fn on_response(&self, ctx: &CallContext, request: &Arc<Request>, response: &mut Response) -> ResponseOutcome {
        for stage in self.stages.iter() {
            match self.manager.call(&stage.plugin, |p| p.on_response(ctx, request, response)) {
                Ok(ResponseAction::Continue) => {}
                Ok(ResponseAction::Respond(response)) => return ResponseOutcome::Respond(response),
                Ok(ResponseAction::Reject(r)) => match check_rejection(stage, r) {
                    Ok(Some(r)) => return ResponseOutcome::Reject(r),
                    Ok(None) => {}
                    Err(f) => return ResponseOutcome::Failed(f),
                },
                Err(e) => {
                    if let Err(f) = error(stage, &e) {
                        return ResponseOutcome::Failed(f);
                    }
                }
            }
        }
        ResponseOutcome::Continue
    }

    /// Runs `on-connect` through every stage.
    pub fn on_connect(&self, connection: &ConnectionInfo) -> ConnectOutcome {
        for stage in self.stages.iter() {
            match self.manager.call(&stage.plugin, |p| p.on_connect(connection)) {
                Ok(ConnectAction::Allow) => {}
                Ok(ConnectAction::Deny(reason)) => {
                    return ConnectOutcome::Deny { plugin: stage.plugin.clone(), reason };
                }
                Err(e) => {
                    if let Err(f) = error(stage, &e) {
                        return ConnectOutcome::Failed(f);
                    }
                }
            }
        }
        ConnectOutcome::Allow
    }
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline").field("stages", &self.stages).finish_non_exhaustive()
    }
}
