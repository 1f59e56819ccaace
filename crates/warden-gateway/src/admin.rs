//! The admin API: a separate listener (loopback by default) where every
//! request must carry `Authorization: Bearer <token>`, and a web page that
//! shows it.
//!
//! | Method and path | What it does |
//! |---|---|
//! | `GET /plugins` | every plugin with state and stats (JSON) |
//! | `GET /plugins/{name}` | one plugin |
//! | `GET /plugins/{name}/kv?prefix=&limit=` | the plugin's key-value keys (read only; `limit` 1 to 500, default 100) |
//! | `GET /plugins/{name}/kv/{key}` | one value (the key percent-encoded): UTF-8 text, else base64 |
//! | `POST /plugins/reload` | reload every plugin from its folder |
//! | `POST /plugins/{name}/reload` | reload one plugin |
//! | `POST /plugins/{name}/enable`, `/disable` | take it in or out of service |
//! | `GET /health` | plugin health; 200 if every plugin is running and healthy, else 503 |
//! | `GET /metrics` | Prometheus text format |
//! | `GET /ui` (and `/` redirects there) | the web page; the only paths that need no token: the page holds no data and sends the token with each call it makes |
//!
//! Errors are JSON `{"error": "..."}`: 400 for bad input, 401 without the
//! token, 404 for an unknown plugin, key or path, 405 for a wrong method.

mod kv;
mod ui;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::UNIX_EPOCH;

use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use warden::{ErrorKind, HealthStatus, LastError, PluginInfo, PluginState};

use crate::conn::{self, Cycle};
use crate::server::{Body, Gateway, Shared};

/// The JSON form of a plugin's state and stats, as the admin API and
/// `warden plugins list --json` print it. Byte counts are bytes, times are
/// microseconds (`-us`) or milliseconds (`-ms`; `at-ms` is Unix time).
pub fn plugin_json(p: &PluginInfo) -> Value {
    let s = &p.stats;
    let health_reason = match &p.health {
        Some(HealthStatus::Degraded(r) | HealthStatus::Unhealthy(r)) => Some(r.as_str()),
        _ => None,
    };
    let us = |d: std::time::Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    let fuel =
        s.fuel_per_call.map(|f| json!({ "calls": f.calls, "p50": f.p50, "p90": f.p90, "p99": f.p99, "max": f.max }));
    json!({
        "name": p.name,
        "dir": p.dir.display().to_string(),
        "state": p.state.as_str(),
        "version": p.version.as_ref().map(ToString::to_string),
        "sha256": p.sha256,
        "health": health_name(p.health.as_ref()),
        "health-reason": health_reason,
        "backoff-remaining-ms": p.backoff_remaining.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        "last-error": p.last_error,
        "recent-errors": s.recent_errors.iter().map(error_json).collect::<Vec<_>>(),
        "stats": {
            "calls": s.calls,
            "errors": s.errors_total,
            "errors-by-kind": s.errors.iter().map(|(k, n)| (k.as_str().to_owned(), json!(n))).collect::<serde_json::Map<_, _>>(),
            "traps": s.traps,
            "timeouts": s.timeouts,
            "latency-us": {
                "p50": us(s.latency.p50),
                "p90": us(s.latency.p90),
                "p99": us(s.latency.p99),
                "max": us(s.latency.max),
                "sum": us(s.latency.sum),
            },
            "fuel-consumed": s.fuel_consumed,
            "fuel-per-call": fuel,
            "peak-memory": s.peak_memory_bytes,
            "memory-in-use": s.memory_in_use_bytes,
            "instances": s.instances,
            "instances-busy": s.instances - s.idle_instances,
            "instances-idle": s.idle_instances,
            "reloads": s.reloads,
            "reload-failures": s.reload_failures,
            "messages-dropped": s.messages_dropped,
            "instances-retired": s.instances_retired,
            "queued-messages": p.queued_messages,
            "queued-message-bytes": p.queued_message_bytes,
        },
    })
}

/// One of a plugin's recent errors: when (`at-ms`, Unix milliseconds),
/// its kind, message and what the plugin wrote to stderr during the call.
fn error_json(e: &LastError) -> Value {
    let at = e.at.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    json!({ "at-ms": at, "kind": e.kind.as_str(), "message": e.message, "stderr": e.stderr })
}

/// `"healthy"`, `"degraded"`, `"unhealthy"`, or `"-"` when not checked
/// (yet): the health column of `warden plugins` and the admin API.
pub fn health_name(h: Option<&HealthStatus>) -> &'static str {
    match h {
        None => "-",
        Some(HealthStatus::Healthy) => "healthy",
        Some(HealthStatus::Degraded(_)) => "degraded",
        Some(HealthStatus::Unhealthy(_)) => "unhealthy",
    }
}

impl Gateway {
    /// Serves the admin API on `listener` until `shutdown` completes.
    /// Requests without `Authorization: Bearer <token>` get 401. Connections
    /// have the gateway's timeouts and `[admin] max-connections`. Every
    /// request is logged (target `warden::admin`); requests that change
    /// something and refused ones are also audited (event `admin`).
    pub async fn serve_admin(&self, listener: TcpListener, token: String, shutdown: impl Future<Output = ()>) {
        let token: Arc<str> = token.into();
        let limit = Arc::new(Semaphore::new(conn::connection_limit(
            self.shared.admin_max_connections,
            "[admin] max-connections",
        )));
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::pin!(shutdown);
        while let Some((stream, peer, permit)) =
            conn::accept(&listener, &limit, shutdown.as_mut(), "admin accept failed").await
        {
            let shared = self.shared.clone();
            let token = token.clone();
            let stop = stop_rx.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let (cycle, max_headers) = (Cycle::new(shared.timeouts), shared.max_headers);
                let handle = move |req| {
                    let (shared, token) = (shared.clone(), token.clone());
                    async move { (audited(shared, &token, req, peer).await, None) }
                };
                conn::serve(stream, peer, cycle, max_headers, stop, handle).await;
            });
        }
        let _ = stop_tx.send(true);
    }
}

/// Refused admin requests audited per second at most: anyone who reaches
/// the admin port can send refused requests, and must not fill the audit
/// log with them (every request is still logged).
const AUDITED_REFUSALS_PER_SECOND: u32 = 10;

/// Whether one more refused request may be audited this second.
fn may_audit_refusal(shared: &Shared) -> bool {
    let mut window = shared.admin_refusals.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if window.0.elapsed() >= std::time::Duration::from_secs(1) {
        *window = (std::time::Instant::now(), 0);
    }
    window.1 += 1;
    window.1 <= AUDITED_REFUSALS_PER_SECOND
}

/// Answers one admin request, then logs it, and audits it when it changed
/// something (POST) or was refused (at most ten refusals a second).
async fn audited(shared: Arc<Shared>, token: &str, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let plugin = match path.split('/').collect::<Vec<_>>()[..] {
        ["", "plugins", name, ..] if name != "reload" => Some(name.to_owned()),
        _ => None,
    };
    let response = admin(shared.clone(), token, req).await;
    let status = response.status().as_u16();
    let authorized = status != StatusCode::UNAUTHORIZED.as_u16();
    let client = peer.to_string();
    tracing::info!(target: "warden::admin", %method, %path, status, %client, authorized, "admin request");
    let refused = status >= 400;
    if (method != Method::GET || refused) && (!refused || may_audit_refusal(&shared)) {
        let fields = json!({ "method": method.as_str(), "path": path, "status": status, "client": client, "authorized": authorized });
        let manager = shared.manager.clone();
        tokio::task::spawn_blocking(move || manager.audit("admin", plugin.as_deref(), fields)).await.ok();
    }
    response
}

fn respond(status: StatusCode, body: Value) -> Response<Body> {
    let mut text = serde_json::to_string_pretty(&body).unwrap_or_default();
    text.push('\n');
    let mut r = Response::new(crate::server::full_body(text));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error(status: StatusCode, message: impl Into<String>) -> Response<Body> {
    respond(status, json!({ "error": message.into() }))
}

fn error_status(e: &warden::Error) -> StatusCode {
    match e.kind() {
        ErrorKind::UnknownPlugin => StatusCode::NOT_FOUND,
        ErrorKind::Dependency => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// Constant-time comparison, so response timing does not leak the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn admin(shared: Arc<Shared>, token: &str, req: Request<Incoming>) -> Response<Body> {
    if req.method() == Method::GET
        && let Some(page) = ui::page(req.uri().path())
    {
        return page;
    }
    let presented =
        req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if !presented.is_some_and(|p| same(p.trim().as_bytes(), token.as_bytes())) {
        let mut r = error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
        r.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    let raw_path = req.uri().path();
    let query = req.uri().query().map(str::to_owned);
    let path = raw_path.trim_end_matches('/');
    let segments: Vec<String> = path.split('/').skip(1).map(str::to_owned).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let manager = shared.manager.clone();
    let blocking = |f: Box<dyn FnOnce() -> Response<Body> + Send>| async move {
        tokio::task::spawn_blocking(f).await.unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "task failed"))
    };
    match (req.method(), segments.as_slice()) {
        (&Method::GET, ["metrics"]) => {
            let text = shared.metrics.render(&manager.list(), shared.in_flight.load(Ordering::Relaxed));
            let mut r = Response::new(crate::server::full_body(text));
            r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
            r
        }
        (&Method::GET, ["plugins"]) => {
            let list: Vec<Value> = manager.list().iter().map(plugin_json).collect();
            respond(StatusCode::OK, json!({ "plugins": list }))
        }
        (&Method::GET, ["plugins", name]) => match manager.info(name) {
            Ok(info) => respond(StatusCode::OK, plugin_json(&info)),
            Err(e) => error(error_status(&e), e.to_string()),
        },
        (&Method::GET, ["plugins", name, "kv"]) => {
            let name = (*name).to_owned();
            blocking(Box::new(move || kv::list(&manager, &name, query.as_deref()))).await
        }
        (&Method::GET, ["plugins", name, "kv", _, ..]) => {
            // The key is the rest of the path as sent, trailing slashes included.
            let raw_key = raw_path[format!("/plugins/{name}/kv/").len()..].to_owned();
            let name = (*name).to_owned();
            blocking(Box::new(move || kv::get(&manager, &name, &raw_key))).await
        }
        (&Method::GET, ["health"]) => {
            blocking(Box::new(move || {
                let checks = manager.check_health();
                let list = manager.list();
                let mut ok = true;
                let plugins: Vec<Value> = list
                    .iter()
                    .map(|p| {
                        let health = checks.iter().find(|(n, _)| *n == p.name).map(|(_, r)| r);
                        let (status, reason) = match health {
                            Some(Ok(h)) => (health_name(Some(h)), plugin_json(p)["health-reason"].clone()),
                            Some(Err(e)) => ("unhealthy", json!(e.to_string())),
                            None => (health_name(None), Value::Null),
                        };
                        ok &= p.state == PluginState::Running && status == "healthy";
                        json!({ "name": p.name, "state": p.state.as_str(), "health": status, "reason": reason })
                    })
                    .collect();
                let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
                respond(status, json!({ "status": if ok { "ok" } else { "degraded" }, "plugins": plugins }))
            }))
            .await
        }
        (&Method::POST, ["plugins", "reload"]) => {
            blocking(Box::new(move || {
                let results: Vec<Value> = manager
                    .reload_all()
                    .into_iter()
                    .map(|(name, r)| match r {
                        Ok(()) => json!({ "name": name, "reloaded": true }),
                        Err(e) => json!({ "name": name, "reloaded": false, "error": e.to_string() }),
                    })
                    .collect();
                let all_ok = results.iter().all(|r| r["reloaded"] == true);
                let status = if all_ok { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
                respond(status, json!({ "plugins": results }))
            }))
            .await
        }
        (&Method::POST, ["plugins", name, action @ ("reload" | "enable" | "disable")]) => {
            let (name, action) = ((*name).to_owned(), (*action).to_owned());
            blocking(Box::new(move || {
                let result = match action.as_str() {
                    "reload" => manager.reload(&name),
                    "enable" => manager.enable(&name),
                    _ => manager.disable(&name),
                };
                match result.and_then(|()| manager.info(&name)) {
                    Ok(info) => respond(StatusCode::OK, plugin_json(&info)),
                    Err(e) => error(error_status(&e), e.to_string()),
                }
            }))
            .await
        }
        (_, ["metrics" | "health" | "plugins", ..]) => error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
        _ => error(StatusCode::NOT_FOUND, "no such admin endpoint; see docs/GATEWAY.md"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
        assert!(!same(b"", b"a"));
    }
}
