//! The example plugins in every language: each `plugins/<plugin>/<lang>/`
//! folder is built by the real `warden build` (esbuild + componentize-js,
//! componentize-py, clang + wit-component), then the plugin's `warden test`
//! cases (`plugins/<plugin>/tests/`) run against the Rust version and every
//! other one, so that the versions cannot drift apart. The same JavaScript
//! and Python plugins then serve in a real gateway.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use warden::http::{HeaderValue, Method};
use warden::{Body, CallContext, Manifest, Request, RequestAction, Runtime};
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

/// Each implementation of `plugin`: its language and folder. The Rust
/// version is its plugin.toml with the fixture's component, in `scratch`.
fn implementations(plugin: &str, rust_wasm: &str, scratch: &Path) -> Vec<(&'static str, PathBuf)> {
    build_all();
    let dir = Path::new(PLUGINS_DIR).join(plugin);
    let manifest = Manifest::from_dir(&dir).unwrap();
    std::fs::copy(dir.join("plugin.toml"), scratch.join("plugin.toml")).unwrap();
    std::fs::copy(rust_wasm, scratch.join(manifest.component.file_name().unwrap())).unwrap();
    let mut all = vec![("rust", scratch.to_owned())];
    for lang in LANGUAGES {
        all.push((lang, dir.join(lang)));
    }
    all
}

/// Runs `plugin`'s `warden test` cases (`plugins/<plugin>/tests`) against
/// every implementation with the real `warden test --json`; fails listing
/// each case an implementation got wrong, as expected against actual.
fn run_cases(plugin: &str, rust_wasm: &str) {
    let scratch = tempfile::tempdir().unwrap();
    let implementations = implementations(plugin, rust_wasm, scratch.path());
    let cases = Path::new(PLUGINS_DIR).join(plugin).join("tests");
    let rust = Manifest::from_dir(&implementations[0].1).unwrap();
    let mut report = String::new();
    for (lang, dir) in &implementations {
        // The cases hold for the configuration, limits and permissions in
        // the Rust version's plugin.toml: every version must declare them.
        let manifest = Manifest::from_dir(dir).unwrap();
        assert_eq!(manifest.name, rust.name, "{lang}: [plugin] name");
        assert_eq!(manifest.config, rust.config, "{lang}: [config] must equal the Rust version's");
        assert_eq!(
            (manifest.permissions.modify_request, manifest.permissions.modify_response),
            (rust.permissions.modify_request, rust.permissions.modify_response),
            "{lang}: [permissions]"
        );
        let output = Command::new(env!("CARGO_BIN_EXE_warden"))
            .arg("--cache-dir")
            .arg(cache_dir())
            .args(["test", "--no-build", "--json", "--cases"])
            .arg(&cases)
            .arg(dir)
            .env_remove("RUST_BACKTRACE")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let result: serde_json::Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{plugin}/{lang}: warden test printed no JSON ({e}):\n{stderr}"));
        let cases = result["cases"].as_array().unwrap();
        assert!(!cases.is_empty(), "{plugin}/{lang}: no cases ran");
        for case in cases.iter().filter(|c| c["ok"] != true) {
            let wrong: Vec<&str> = case["failures"].as_array().unwrap().iter().filter_map(|f| f.as_str()).collect();
            writeln!(report, "{plugin}/{lang}: case {} FAILED\n    {}", case["name"], wrong.join("\n    ")).unwrap();
        }
        assert_eq!(output.status.code() == Some(0), result["failed"] == 0, "{plugin}/{lang}: exit code\n{stderr}");
        println!("{plugin}/{lang}: {} of {} cases passed", result["passed"], cases.len());
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
    // How fast it leaks varies from run to run (its garbage collector):
    // call until the instance was retired, within a bound well past where
    // the cap would be reached.
    for i in 0..20_000 {
        let mut req = Request::new(Method::GET, "/".parse().unwrap());
        req.headers.insert("x-debug", HeaderValue::from_static("1"));
        let action = plugin.on_request(&CallContext::new("1"), &mut req).unwrap_or_else(|e| panic!("call {i}: {e}"));
        assert!(matches!(action, RequestAction::Continue));
        assert!(!req.headers.contains_key("x-debug"));
        if i % 100 == 0 && plugin.stats().instances_retired > 0 {
            break;
        }
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
