//! One case against the plugin: set up the host, load the plugin with the
//! case's configuration, call the hook, and record what came out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use warden::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use warden::{Body, CallContext, Error, HealthStatus, Manifest, Request, RequestAction, Response, ResponseAction};

use super::case::{Case, Message};
use super::export;
use super::host::{self, Host};

/// What came out of one call.
#[derive(Debug, Default)]
pub struct Outcome {
    pub action: Option<&'static str>,
    pub status: Option<u16>,
    pub reason: Option<String>,
    /// Kind, plugin error code (if a plugin error), message.
    pub error: Option<(String, Option<String>, String)>,
    pub request: Option<Seen>,
    pub response: Option<Seen>,
    pub output: Option<Seen>,
    pub health: Option<String>,
    pub logs: Vec<String>,
    pub kv: BTreeMap<String, String>,
    pub fetched: Vec<String>,
    /// The host's own imports the plugin called.
    pub imported: Vec<String>,
    /// What a `call` returned (null for nothing), as JSON.
    pub result: Option<serde_json::Value>,
    /// The case's `expect.result`, read by the function's result type.
    pub expected_result: Option<serde_json::Value>,
}

/// A request, response or output as the checks see it.
#[derive(Debug, Default)]
pub struct Seen {
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Runs `case` (from the file in `case_dir`) against the plugin `base`
/// describes. An `Err` is a case that could not be set up.
pub fn run(host: &Host, base: &Manifest, case: &Case, case_dir: &Path) -> Result<Outcome> {
    let mut manifest = base.clone();
    if case.replace_config {
        manifest.config.clear();
    }
    manifest.config.extend(case.config.iter().map(|(k, v)| (k.clone(), v.clone())));
    for (guest, folder) in &case.dirs {
        let grant = manifest.permissions.files.iter_mut().find(|g| g.guest == *guest).with_context(|| {
            format!("`dirs` maps {guest:?}, which plugin.toml does not grant; add it to [permissions] files")
        })?;
        grant.host = case_dir.join(folder);
    }
    for (name, value) in &case.env {
        if !manifest.permissions.env.contains(name) {
            bail!("`env` sets {name:?}, which plugin.toml does not grant; add it to [permissions] env");
        }
        if name.is_empty() || name.contains(['=', '\0']) || value.contains('\0') {
            bail!("`env` {name:?}: a variable's name must be non-empty without `=` or NUL, its value without NUL");
        }
    }
    if case.call.is_none() && !case.args.is_empty() {
        bail!("`args` are for a `call` (a function of the plugin's own world); a hook takes its own input");
    }
    host.prepare(&manifest.name, case)?;
    let env = Env::set(&case.env);
    let mut outcome = Outcome::default();
    match host.runtime.load_manifest(manifest.clone()) {
        Ok(plugin) => {
            let called = match &case.call {
                Some(function) => export::check_case(case)
                    .and_then(|()| export::call(&plugin, &host.wit, function, case, &mut outcome)),
                None => call(&plugin, case, &mut outcome),
            };
            plugin.shutdown();
            called?;
        }
        Err(e) => outcome.error = Some(error(&e)),
    }
    drop(env);
    outcome.logs = host::take_logs();
    for key in case.expect.kv.keys().chain(&case.expect.kv_absent) {
        if let Some(value) = host.entry(&manifest.name, key)? {
            outcome.kv.insert(key.clone(), value);
        }
    }
    outcome.fetched = host.fetched();
    outcome.imported = host.imported();
    Ok(outcome)
}

fn call(plugin: &warden::Plugin, case: &Case, outcome: &mut Outcome) -> Result<()> {
    let ctx = CallContext::new(format!("case-{}", case.name));
    let request = || -> Result<Request> { build_request(case.request.as_ref().unwrap_or(&Message::default())) };
    let result: Result<(), Error> = match case.hook.as_str() {
        "on-request" => {
            let mut req = request()?;
            let result = plugin.on_request(&ctx, &mut req);
            outcome.request = Some(seen_request(&req));
            result.map(|action| match action {
                RequestAction::Continue => outcome.action = Some("continue"),
                RequestAction::Reject(r) => {
                    (outcome.action, outcome.status, outcome.reason) = (Some("reject"), Some(r.status), Some(r.reason));
                }
                RequestAction::Respond(r) => {
                    (outcome.action, outcome.status) = (Some("respond"), Some(r.status));
                    outcome.response = Some(Seen { status: Some(r.status), headers: r.headers, body: r.body });
                }
            })
        }
        "on-response" => {
            let spec = case.response.as_ref().context("an on-response case needs a `response`")?;
            let status =
                StatusCode::from_u16(spec.status.unwrap_or(200)).context("`response.status` is not an HTTP status")?;
            let mut resp = Response::new(status, spec.body_bytes().context("`response`")?);
            fill(&mut resp.headers, &spec.headers)?;
            let lent = Arc::new(request()?);
            let result = plugin.on_response(&ctx, &lent, &mut resp);
            outcome.request = Some(seen_request(&lent));
            outcome.response = Some(Seen {
                status: Some(resp.status.as_u16()),
                headers: pairs(&resp.headers),
                body: body_bytes(&resp.body),
            });
            result.map(|action| match action {
                ResponseAction::Continue => outcome.action = Some("continue"),
                ResponseAction::Reject(r) => {
                    (outcome.action, outcome.status, outcome.reason) = (Some("reject"), Some(r.status), Some(r.reason));
                }
                ResponseAction::Respond(r) => {
                    (outcome.action, outcome.status) = (Some("respond"), Some(r.status));
                    outcome.response = Some(Seen { status: Some(r.status), headers: r.headers, body: r.body });
                }
            })
        }
        "handle" => {
            let spec =
                case.handle.as_ref().context("a handle case needs `handle = { action = ..., payload = ... }`")?;
            let action = spec.action.as_deref().context("`handle` needs an `action`")?;
            plugin.handle(action, spec.payload.as_bytes()).map(|body| {
                outcome.output = Some(Seen { body, ..Seen::default() });
            })
        }
        "on-message" => {
            let spec =
                case.message.as_ref().context("an on-message case needs `message = { topic = ..., payload = ... }`")?;
            let topic = spec.topic.as_deref().context("`message` needs a `topic`")?;
            plugin.on_message(topic, spec.payload.as_bytes())
        }
        "health" => plugin.health().map(|h| {
            outcome.health = Some(
                match h {
                    HealthStatus::Healthy => "healthy",
                    HealthStatus::Degraded(_) => "degraded",
                    HealthStatus::Unhealthy(_) => "unhealthy",
                }
                .to_owned(),
            );
        }),
        other => {
            bail!("unknown hook {other:?}; warden test calls on-request, on-response, handle, on-message or health")
        }
    };
    if let Err(e) = result {
        outcome.error = Some(error(&e));
    }
    Ok(())
}

/// Kind, plugin error code and message of a failed load or call.
pub fn error(e: &Error) -> (String, Option<String>, String) {
    match e {
        Error::Plugin { code, message, .. } | Error::InitFailed { code, message, .. } => {
            (e.kind().as_str().to_owned(), Some(code.clone()), message.clone())
        }
        _ => (e.kind().as_str().to_owned(), None, e.to_string()),
    }
}

fn build_request(spec: &Message) -> Result<Request> {
    let method = Method::from_bytes(spec.method.as_deref().unwrap_or("GET").as_bytes()).context("`request.method`")?;
    let uri = spec.uri.as_deref().unwrap_or("/").parse().context("`request.uri` is not a valid URI")?;
    let mut req = Request::new(method, uri);
    fill(&mut req.headers, &spec.headers)?;
    req.body = Body::from(spec.body_bytes().context("`request`")?);
    Ok(req)
}

fn fill(map: &mut HeaderMap, headers: &[(String, String)]) -> Result<()> {
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes()).with_context(|| format!("{name:?} is not a header name"))?;
        let value = HeaderValue::from_str(value).with_context(|| format!("{value:?} is not a header value"))?;
        map.append(name, value);
    }
    Ok(())
}

fn pairs(map: &HeaderMap) -> Vec<(String, String)> {
    map.iter().map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect()
}

fn body_bytes(body: &Body) -> Vec<u8> {
    body.bytes().map(|b| b.to_vec()).unwrap_or_default()
}

fn seen_request(req: &Request) -> Seen {
    Seen { status: None, headers: pairs(&req.headers), body: body_bytes(&req.body) }
}

/// The case's environment variables, set for the length of the case and
/// put back afterwards.
struct Env(Vec<(String, Option<std::ffi::OsString>)>);

impl Env {
    fn set(vars: &BTreeMap<String, String>) -> Env {
        let mut saved = Vec::new();
        for (name, value) in vars {
            saved.push((name.clone(), std::env::var_os(name)));
            // SAFETY: `warden test` runs cases one at a time on the main
            // thread, and none of its other threads (the simulated
            // network's runtime, the epoch ticker, the store's) reads the
            // environment; names and values were checked for `=` and NUL.
            #[allow(unsafe_code, reason = "a granted variable's value for one case; see above")]
            unsafe {
                std::env::set_var(name, value)
            };
        }
        Env(saved)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for (name, value) in self.0.drain(..) {
            // SAFETY: as in `Env::set`.
            #[allow(unsafe_code, reason = "restoring the variable `Env::set` changed")]
            unsafe {
                match value {
                    Some(value) => std::env::set_var(&name, value),
                    None => std::env::remove_var(&name),
                }
            }
        }
    }
}

/// The case files to run: those given, folders expanded to their `*.toml`
/// files, or `<plugin>/tests/*.toml`.
pub fn case_files(plugin_dir: &Path, given: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let given = match given {
        [] => vec![plugin_dir.join("tests")],
        paths => paths.to_vec(),
    };
    let mut files = Vec::new();
    for path in given {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(&path)
                .with_context(|| format!("cannot read `{}`", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect();
            found.sort();
            files.extend(found);
        } else if path.is_file() {
            files.push(path);
        } else {
            bail!("`{}` does not exist; write cases in `<plugin>/tests/*.toml` (see docs/TESTING.md)", path.display());
        }
    }
    if files.is_empty() {
        bail!(
            "no case files in `{}`; write cases in `<plugin>/tests/*.toml` (see docs/TESTING.md)",
            plugin_dir.join("tests").display()
        );
    }
    Ok(files)
}
