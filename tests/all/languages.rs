//! The example plugins in every language: each `plugins/<plugin>/<lang>/`
//! folder is built by the real `warden build` (esbuild + componentize-js,
//! componentize-py, clang + wit-component), then the plugin's shared cases
//! (`plugins/<plugin>/cases.toml`) run against the Rust version and every
//! other one, so that the versions cannot drift apart. The same JavaScript
//! and Python plugins then serve in a real gateway.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use serde::Deserialize;
use warden::http::{self, HeaderName, HeaderValue, Method, StatusCode};
use warden::{Body, CallContext, Error, Manifest, Plugin, Request, RequestAction, Response, ResponseAction, Runtime};
use warden_fixtures::{HEADER_MODIFIER, PLUGINS_DIR, VALIDATOR};

/// The languages besides Rust, by folder name.
const LANGUAGES: [&str; 3] = ["js", "python", "c"];

/// The example plugins written in every language.
const PLUGINS: [(&str, &str); 2] = [("validator", VALIDATOR), ("header-modifier", HEADER_MODIFIER)];

/// Where `warden build` and the tests' runtime keep compiled components:
/// the second load of a 15 MB interpreter component takes milliseconds.
fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("languages-cache")
}

/// A runtime with the settings of the `warden` command, so that it finds
/// what `warden build` compiled into the cache.
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::builder().cache_dir(cache_dir()).build().unwrap())
}

/// Builds every non-Rust example with `warden build`, once per test run.
fn build_all() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dirs =
            PLUGINS.iter().flat_map(|(plugin, _)| LANGUAGES.map(|lang| Path::new(PLUGINS_DIR).join(plugin).join(lang)));
        let output = Command::new(env!("CARGO_BIN_EXE_warden"))
            .arg("--cache-dir")
            .arg(cache_dir())
            .arg("build")
            .args(dirs)
            .env_remove("RUST_BACKTRACE")
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "warden build failed:\n{text}");
    });
}

/// One implementation: its language and manifest (component resolved).
fn implementations(plugin: &str, rust_wasm: &str) -> Vec<(&'static str, Manifest)> {
    build_all();
    let dir = Path::new(PLUGINS_DIR).join(plugin);
    let mut rust = Manifest::from_dir(&dir).unwrap();
    rust.component = PathBuf::from(rust_wasm);
    let mut all = vec![("rust", rust)];
    for lang in LANGUAGES {
        all.push((lang, Manifest::from_dir(dir.join(lang)).unwrap()));
    }
    all
}

/// `plugins/<plugin>/cases.toml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Cases {
    case: Vec<Case>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Case {
    name: String,
    #[serde(default = "on_request")]
    hook: String,
    config: Option<BTreeMap<String, String>>,
    request: Option<Message>,
    response: Option<Message>,
    action: Option<String>,
    status: Option<u16>,
    reason: Option<String>,
    error: Option<ExpectedError>,
    request_headers: Option<Vec<(String, String)>>,
    request_body: Option<String>,
    response_status: Option<u16>,
    response_headers: Option<Vec<(String, String)>>,
    response_body: Option<String>,
}

fn on_request() -> String {
    "on-request".into()
}

/// A request (method, uri) or response (status) with headers and body.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Message {
    method: Option<String>,
    uri: Option<String>,
    status: Option<u16>,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: String,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct ExpectedError {
    code: String,
    message: Option<String>,
}

fn read_cases(plugin: &str) -> Vec<Case> {
    let path = Path::new(PLUGINS_DIR).join(plugin).join("cases.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let cases: Cases = warden::toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(!cases.case.is_empty());
    cases.case
}

fn headers(map: &http::HeaderMap) -> Vec<(String, String)> {
    map.iter().map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect()
}

fn fill(map: &mut http::HeaderMap, pairs: &[(String, String)]) {
    for (name, value) in pairs {
        map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
    }
}

fn text(body: &Body) -> String {
    String::from_utf8_lossy(body.bytes().expect("the body is in memory")).into_owned()
}

/// What came out of a call, comparable across implementations.
#[derive(Debug, Default, PartialEq)]
struct Outcome {
    action: Option<String>,
    status: Option<u16>,
    reason: Option<String>,
    error: Option<(String, String)>,
    request_headers: Vec<(String, String)>,
    request_body: String,
    response_status: Option<u16>,
    response_headers: Vec<(String, String)>,
    response_body: String,
}

/// Runs `case` against the plugin `manifest` describes (with the case's
/// config, if it has one).
fn run(manifest: &Manifest, case: &Case) -> Outcome {
    let mut manifest = manifest.clone();
    if let Some(config) = &case.config {
        manifest.config = config.clone();
    }
    let plugin: Plugin = match runtime().load_manifest(manifest) {
        Ok(plugin) => plugin,
        Err(Error::InitFailed { code, message, .. }) => {
            return Outcome { error: Some((code, message)), ..Outcome::default() };
        }
        Err(e) => panic!("load failed: {e}"),
    };
    let spec = case.request.as_ref().expect("every hook case has a request");
    let mut req = Request::new(
        Method::from_bytes(spec.method.as_deref().unwrap_or("GET").as_bytes()).unwrap(),
        spec.uri.as_deref().unwrap_or("/").parse().unwrap(),
    );
    fill(&mut req.headers, &spec.headers);
    req.body = spec.body.clone().into_bytes().into();
    let ctx = CallContext::new("case");
    let mut outcome = Outcome::default();
    let result = match case.hook.as_str() {
        "on-request" => plugin.on_request(&ctx, &mut req).map(|action| match action {
            RequestAction::Continue => ("continue", None, None),
            RequestAction::Reject(r) => ("reject", Some(r.status), Some(r.reason)),
            RequestAction::Respond(r) => {
                ("respond", Some(r.status), Some(String::from_utf8_lossy(&r.body).into_owned()))
            }
        }),
        "on-response" => {
            let spec = case.response.as_ref().expect("an on-response case has a response");
            let mut resp = Response::new(StatusCode::from_u16(spec.status.unwrap_or(200)).unwrap(), spec.body.clone());
            fill(&mut resp.headers, &spec.headers);
            let lent = Arc::new(std::mem::replace(&mut req, Request::new(Method::GET, "/".parse().unwrap())));
            let result = plugin.on_response(&ctx, &lent, &mut resp);
            req = Arc::try_unwrap(lent).expect("the plugin keeps no reference");
            outcome.response_status = Some(resp.status.as_u16());
            outcome.response_headers = headers(&resp.headers);
            outcome.response_body = text(&resp.body);
            result.map(|action| match action {
                ResponseAction::Continue => ("continue", None, None),
                ResponseAction::Reject(r) => ("reject", Some(r.status), Some(r.reason)),
                ResponseAction::Respond(r) => {
                    ("respond", Some(r.status), Some(String::from_utf8_lossy(&r.body).into_owned()))
                }
            })
        }
        other => panic!("case {:?}: unknown hook {other}", case.name),
    };
    match result {
        Ok((action, status, reason)) => {
            outcome.action = Some(action.to_owned());
            outcome.status = status;
            outcome.reason = reason;
        }
        Err(Error::Plugin { code, message, .. }) => outcome.error = Some((code, message)),
        Err(e) => panic!("case {:?}: the call failed: {e}", case.name),
    }
    outcome.request_headers = headers(&req.headers);
    outcome.request_body = text(&req.body);
    outcome
}

/// Where `outcome` differs from what `case` expects, one line each.
fn check(case: &Case, outcome: &Outcome) -> Vec<String> {
    let mut wrong = Vec::new();
    let mut expect = |what: &str, expected: String, actual: String| {
        if expected != actual {
            wrong.push(format!("{what}: expected {expected}, got {actual}"));
        }
    };
    match &case.error {
        Some(error) => {
            let actual = outcome.error.clone().unwrap_or_default();
            expect("error code", format!("{:?}", error.code), format!("{:?}", actual.0));
            if let Some(message) = &error.message {
                expect("error message", format!("{message:?}"), format!("{:?}", actual.1));
            }
        }
        None => {
            expect("error", "None".into(), format!("{:?}", outcome.error));
            expect("action", format!("{:?}", case.action), format!("{:?}", outcome.action));
            expect("status", format!("{:?}", case.status), format!("{:?}", outcome.status));
            expect("reason", format!("{:?}", case.reason), format!("{:?}", outcome.reason));
        }
    }
    let optional = [
        (
            "request headers",
            case.request_headers.as_ref().map(|h| format!("{h:?}")),
            format!("{:?}", outcome.request_headers),
        ),
        ("request body", case.request_body.as_ref().map(|b| format!("{b:?}")), format!("{:?}", outcome.request_body)),
        (
            "response status",
            case.response_status.map(|s| s.to_string()),
            format!("{}", outcome.response_status.unwrap_or(0)),
        ),
        (
            "response headers",
            case.response_headers.as_ref().map(|h| format!("{h:?}")),
            format!("{:?}", outcome.response_headers),
        ),
        (
            "response body",
            case.response_body.as_ref().map(|b| format!("{b:?}")),
            format!("{:?}", outcome.response_body),
        ),
    ];
    for (what, expected, actual) in optional {
        if let Some(expected) = expected {
            expect(what, expected, actual);
        }
    }
    wrong
}

/// Runs every case of `plugin` against every implementation; fails listing
/// each case an implementation got wrong, as expected against actual.
fn run_cases(plugin: &str, rust_wasm: &str) {
    let cases = read_cases(plugin);
    let implementations = implementations(plugin, rust_wasm);
    let rust = &implementations[0].1;
    let mut report = String::new();
    for (lang, manifest) in &implementations {
        // The cases hold for the configuration, limits and permissions in
        // the Rust version's plugin.toml: every version must declare them.
        assert_eq!(manifest.name, rust.name, "{lang}: [plugin] name");
        assert_eq!(manifest.config, rust.config, "{lang}: [config] must equal the Rust version's");
        assert_eq!(
            (manifest.permissions.modify_request, manifest.permissions.modify_response),
            (rust.permissions.modify_request, rust.permissions.modify_response),
            "{lang}: [permissions]"
        );
        let mut passed = 0;
        for case in &cases {
            let wrong = check(case, &run(manifest, case));
            if wrong.is_empty() {
                passed += 1;
            } else {
                writeln!(report, "{plugin}/{lang}: case {:?} FAILED\n    {}", case.name, wrong.join("\n    ")).unwrap();
            }
        }
        println!("{plugin}/{lang}: {passed} of {} cases passed", cases.len());
    }
    assert!(report.is_empty(), "\n{report}");
}

#[test]
fn every_validator_passes_the_shared_cases() {
    run_cases("validator", VALIDATOR);
}

#[test]
fn every_header_modifier_passes_the_shared_cases() {
    run_cases("header-modifier", HEADER_MODIFIER);
}

/// The demo gateway's `/orders` route with the TypeScript validator and
/// the Python header-modifier in place of the Rust ones: same answers.
#[test]
fn the_demo_pipeline_serves_through_typescript_and_python_plugins() {
    build_all();
    crate::gateway::demo_pipeline_end_to_end("redb", |plugins| {
        crate::gateway::demo_plugins(plugins);
        for (name, lang) in [("validator", "js"), ("header-modifier", "python")] {
            let source = Path::new(PLUGINS_DIR).join(name).join(lang);
            let manifest = Manifest::from_dir(&source).unwrap();
            let dir = plugins.join(name);
            std::fs::remove_dir_all(&dir).unwrap();
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::copy(source.join("plugin.toml"), dir.join("plugin.toml")).unwrap();
            std::fs::copy(&manifest.component, dir.join(manifest.component.file_name().unwrap())).unwrap();
        }
    });
}

/// `examples/polyglot.toml`, which the README's first command serves, links
/// the JavaScript and Python versions into its plugin folder.
#[test]
fn the_polyglot_demo_uses_the_javascript_and_python_plugins() {
    let examples = Path::new(PLUGINS_DIR).join("../examples");
    let config = warden_gateway::GatewayConfig::from_file(examples.join("polyglot.toml")).unwrap();
    let plugins = &config.server.plugins;
    let language = |name: &str| Manifest::from_dir(plugins.join(name)).unwrap().build.language;
    assert_eq!(language("validator"), Some(warden::Language::JavaScript));
    assert_eq!(language("header-modifier"), Some(warden::Language::Python));
    for name in ["logger", "enricher", "transformer"] {
        assert!(plugins.join(name).join("Cargo.toml").is_file(), "{name} is the Rust example");
    }
}

/// The interpreters inside the JavaScript and Python components obey the
/// same limits as any plugin: a memory cap below what the interpreter
/// needs fails typed, never the host, and `max-instances` bounds how many
/// interpreters run at once.
#[test]
fn interpreted_plugins_obey_memory_and_instance_limits() {
    build_all();
    for lang in ["js", "python"] {
        let mut manifest = Manifest::from_dir(Path::new(PLUGINS_DIR).join("validator").join(lang)).unwrap();
        let mut small = manifest.clone();
        small.limits = small.limits.clone().memory(2 << 20);
        let err = match runtime().load_manifest(small) {
            Ok(plugin) => plugin.on_request(&CallContext::new("1"), &mut valid_request()).unwrap_err(),
            Err(e) => e,
        };
        assert_eq!(err.kind(), warden::ErrorKind::MemoryLimit, "{lang}: {err}");

        manifest.limits = manifest.limits.clone().max_instances(1).max_wait(std::time::Duration::from_secs(30));
        let plugin = runtime().load_manifest(manifest).unwrap();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..5 {
                        let action = plugin.on_request(&CallContext::new("1"), &mut valid_request()).unwrap();
                        assert!(matches!(action, RequestAction::Continue), "{lang}: {action:?}");
                    }
                });
            }
        });
        let stats = plugin.stats();
        assert_eq!((stats.calls, stats.instances), (20, 1), "{lang}: one interpreter served every call");
        assert!(stats.peak_memory_bytes > 1 << 20, "{lang}: {} bytes", stats.peak_memory_bytes);
    }
}

fn valid_request() -> Request {
    let mut req = Request::new(Method::POST, "/orders".parse().unwrap());
    req.headers.insert("content-type", HeaderValue::from_static("application/json"));
    req.body = Body::from(br#"{"user_id":1,"action":"buy"}"#.to_vec());
    req
}

/// Runs `program args` in `sdk/<sdk>` and checks that it succeeds.
fn sdk_tests(sdk: &str, program: &str, args: &[&str]) -> String {
    let dir = Path::new(PLUGINS_DIR).join("../sdk").join(sdk);
    let output = Command::new(program).args(args).current_dir(&dir).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{program} {args:?} in {}:\n{text}", dir.display());
    text
}

/// The Python SDK's own unit tests (plain CPython: the JSON scanner, the
/// glue with stand-in bindings), so `cargo test` runs them too.
#[test]
fn the_python_sdk_unit_tests_pass() {
    let text = sdk_tests("python", "python3", &["-B", "-m", "unittest", "discover", "-s", "tests"]);
    assert!(text.contains("\nOK"), "{text}");
}

/// The JavaScript SDK's own unit tests (node's test runner: the JSON
/// scanner against the Rust scanner's cases).
#[test]
fn the_javascript_sdk_unit_tests_pass() {
    let text = sdk_tests("js", "node", &["--test", "."]);
    assert!(text.contains("# fail 0"), "{text}");
}

/// componentize-js 0.23 leaks about 2 KiB of linear memory per call
/// (ComponentizeJS issue 350): a pooled instance would reach its memory cap
/// after some thousands of calls and fail one. Warden retires an instance
/// whose memory passed three quarters of the cap between calls, so every
/// call succeeds.
#[test]
fn a_leaking_javascript_instance_is_retired_before_a_call_fails() {
    build_all();
    let mut manifest = Manifest::from_dir(Path::new(PLUGINS_DIR).join("header-modifier").join("js")).unwrap();
    manifest.limits = manifest.limits.clone().memory(16 << 20).max_instances(1);
    let plugin = runtime().load_manifest(manifest).unwrap();
    for i in 0..3500 {
        let mut req = Request::new(Method::GET, "/".parse().unwrap());
        req.headers.insert("x-debug", HeaderValue::from_static("1"));
        let action = plugin.on_request(&CallContext::new("1"), &mut req).unwrap_or_else(|e| panic!("call {i}: {e}"));
        assert!(matches!(action, RequestAction::Continue));
        assert!(!req.headers.contains_key("x-debug"));
    }
    let stats = plugin.stats();
    assert_eq!(stats.errors_total, 0);
    assert!(stats.instances_retired >= 1, "{stats:?}");
    assert!(stats.peak_memory_bytes <= 16 << 20);
}

/// `warden build --gateway` compiles the component into the cache of the
/// gateway the config describes, with that gateway's engine settings, so
/// its start loads the plugin from the cache.
#[test]
fn warden_build_fills_a_gateways_compile_cache() {
    let dir = tempfile::TempDir::new().unwrap();
    let plugin = dir.path().join("plugins").join("validator");
    std::fs::create_dir_all(&plugin).unwrap();
    for file in ["plugin.toml", "validator.c", "json.c", "json.h"] {
        std::fs::copy(Path::new(PLUGINS_DIR).join("validator/c").join(file), plugin.join(file)).unwrap();
    }
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        "[server]\nlisten = \"127.0.0.1:0\"\nplugins = \"plugins\"\ndata-dir = \"data\"\nfuel = false\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["--no-cache", "build", "--gateway"])
        .arg(&config)
        .arg(&plugin)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("built validator (c) -> "), "{stdout}");
    assert!(stdout.contains("compiled validator into the cache"), "{stdout}");

    let config = warden_gateway::GatewayConfig::from_file(&config).unwrap();
    let runtime = warden_gateway::compile_settings(&config).build().unwrap();
    let manifest = Manifest::from_dir(&plugin).unwrap();
    assert!(runtime.precompile(&manifest).unwrap(), "the gateway's cache holds the component");
    assert!(!Runtime::builder().build().unwrap().precompile(&manifest).unwrap(), "no cache, nothing cached");
}

/// A missing toolchain fails the build with the command that installs it.
#[test]
fn a_missing_toolchain_names_what_to_install() {
    let dir = tempfile::TempDir::new().unwrap();
    for (lang, source, install) in [
        ("python", "plugin.py", "pip install componentize-py==0.25.1"),
        ("js", "plugin.js", "npm install --save-dev @bytecodealliance/componentize-js@0.23"),
    ] {
        let plugin = dir.path().join(lang);
        std::fs::create_dir_all(&plugin).unwrap();
        std::fs::copy(Path::new(PLUGINS_DIR).join("header-modifier").join(lang).join(source), plugin.join(source))
            .unwrap();
        std::fs::write(
            plugin.join("plugin.toml"),
            "[plugin]\nname = \"p\"\nversion = \"1.0.0\"\ncomponent = \"p.wasm\"\n[build]\nexports = [\"http-filter\"]\n",
        )
        .unwrap();
        // Node itself stays reachable; the npm and PyPI tools do not.
        let path = which("node").parent().unwrap().to_owned();
        let output = Command::new(env!("CARGO_BIN_EXE_warden"))
            .args(["--no-cache", "build"])
            .arg(&plugin)
            .env("PATH", path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{lang}: {stderr}");
        assert!(stderr.contains(install), "{lang}: {stderr}");
    }
}

/// Where `name` is on `PATH`.
fn which(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap();
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file()).unwrap()
}
