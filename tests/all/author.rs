//! The plugin author's toolkit, through the real `warden` binary: `warden
//! test` against a simulated host (key-value contents, outbound HTTP stubs,
//! environment, granted folders, logs), `warden new` projects in every
//! language that build and pass their own tests, and the five-minute
//! journey exactly as README.md tells it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use warden_fixtures::{CYCLE_FINDER, ENRICHER, FETCHER, LOGGER, MALICIOUS, ORPHAN_FINDER, PLUGINS_DIR, TRANSFORMER};

use crate::common::plugin_dir;

/// The repository root.
fn repo() -> PathBuf {
    Path::new(PLUGINS_DIR).parent().unwrap().to_owned()
}

/// Compiled components of these tests, kept between runs.
fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("author-cache")
}

/// `warden <args>` with the tests' compile cache, in `dir`; the repository's
/// npm tools are on PATH as if installed for the user.
fn warden(dir: &Path, args: &[&str]) -> Output {
    let path = format!("{}:{}", repo().join("node_modules/.bin").display(), std::env::var("PATH").unwrap_or_default());
    Command::new(env!("CARGO_BIN_EXE_warden"))
        .arg("--cache-dir")
        .arg(cache_dir())
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("author-cargo"))
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// The example plugins' own cases (`plugins/<name>/tests`) pass against
/// their components: the enricher's key-value store, the logger's log
/// lines, the transformer's bodies.
#[test]
fn the_example_plugins_pass_their_own_cases() {
    for (name, wasm) in [("enricher", ENRICHER), ("logger", LOGGER), ("transformer", TRANSFORMER)] {
        let dir = tempfile::tempdir().unwrap();
        let source = Path::new(PLUGINS_DIR).join(name);
        std::fs::copy(source.join("plugin.toml"), dir.path().join("plugin.toml")).unwrap();
        let manifest = warden::Manifest::from_dir(dir.path()).unwrap();
        std::fs::copy(wasm, &manifest.component).unwrap();
        let cases = source.join("tests");
        let out = warden(dir.path(), &["test", "--no-build", "--cases", cases.to_str().unwrap(), "."]);
        assert!(out.status.success(), "{name}:\n{}", text(&out));
        assert!(text(&out).contains("test result: ok."), "{name}:\n{}", text(&out));
    }

    // A misspelt permission fails as it would in a gateway.
    let dir = tempfile::tempdir().unwrap();
    let toml = std::fs::read_to_string(Path::new(PLUGINS_DIR).join("logger/plugin.toml")).unwrap();
    std::fs::write(dir.path().join("plugin.toml"), toml.replace("[permissions]", "[permissions]\nnetwrok = true"))
        .unwrap();
    let manifest = warden::Manifest::from_dir(dir.path()).unwrap();
    std::fs::copy(LOGGER, &manifest.component).unwrap();
    let cases = Path::new(PLUGINS_DIR).join("logger/tests");
    let out = warden(dir.path(), &["test", "--no-build", "--cases", cases.to_str().unwrap(), "."]);
    assert!(text(&out).contains("netwrok") && text(&out).contains("unknown key"), "{}", text(&out));
}

/// Cases of a host's own world call its functions by name: the graph
/// analyzer example's plugins pass theirs, and values that do not fit the
/// function's WIT types are named in the failure.
#[test]
fn plugins_of_a_host_world_are_called_by_function_name() {
    let example = repo().join("examples/graph-analyzer/plugins");
    for (name, wasm) in [("cycle-finder", CYCLE_FINDER), ("orphan-finder", ORPHAN_FINDER)] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(example.join(name).join("plugin.toml"), dir.path().join("plugin.toml")).unwrap();
        let manifest = warden::Manifest::from_dir(dir.path()).unwrap();
        std::fs::copy(wasm, &manifest.component).unwrap();
        let cases = example.join(name).join("tests");
        let out = warden(dir.path(), &["test", "--no-build", "--cases", cases.to_str().unwrap(), "."]);
        assert!(out.status.success() && text(&out).contains("3 passed"), "{name}:\n{}", text(&out));

        if name == "orphan-finder" {
            continue;
        }
        std::fs::write(dir.path().join("wrong.toml"), WRONG_VALUES).unwrap();
        let out = warden(dir.path(), &["test", "--no-build", "--json", "--cases", "wrong.toml", "."]);
        assert_eq!(out.status.code(), Some(3), "{}", text(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let failures: Vec<String> = report["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                c["failures"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect::<Vec<_>>().join("; ")
            })
            .collect();
        let expected = [
            r#"result: expected {"confidence":0.5,"findings":["x"],"recommendations":[]}, got {"confidence":1.0,"findings":[],"recommendations":[]}"#,
            "args.nodes[0]: the record has no field `nodetype`; its fields: id, node-type, metadata",
            "args.nodes[0].metadata[0]: expected an array of 2 items (a tuple), got [\"calls\"]",
            "the plugin exports no function `analyze`; it exports `analyze-graph`",
            "`args` has no `nodes`; `analyze-graph` takes `nodes`",
            "`args.extra`: `analyze-graph` takes no such parameter; it takes `nodes`",
            "result $.findings[0]: expected \"x\", there is nothing there",
            "`import` answers `x:y/z#f`, but the plugin imports nothing of its host's own",
            "`args` are for a `call`",
        ];
        assert_eq!(failures.len(), expected.len(), "{failures:#?}");
        let returned = &report["cases"][0]["result"];
        assert_eq!(*returned, serde_json::json!({"findings": [], "confidence": 1.0, "recommendations": []}));
        for (failure, expected) in failures.iter().zip(expected) {
            assert!(failure.contains(expected), "expected {expected:?} in {failure:?}");
        }
    }
}

const WRONG_VALUES: &str = r#"
[[case]]
name = "wrong result"
call = "analyze-graph"
args = { nodes = [] }
[case.expect]
result = { findings = ["x"], confidence = 0.5, recommendations = [] }

[[case]]
name = "misspelt field"
call = "analyze-graph"
args = { nodes = [{ id = "a", nodetype = "f", metadata = [] }] }

[[case]]
name = "short tuple"
call = "analyze-graph"
args = { nodes = [{ id = "a", node-type = "f", metadata = [["calls"]] }] }

[[case]]
name = "no such function"
call = "analyze"

[[case]]
name = "missing argument"
call = "analyze-graph"

[[case]]
name = "extra argument"
call = "analyze-graph"
args = { nodes = [], extra = 1 }

[[case]]
name = "json path on the result"
call = "analyze-graph"
args = { nodes = [] }
[case.expect]
result-json = { "$.findings[0]" = "x" }

[[case]]
name = "an answer for an import the plugin lacks"
call = "analyze-graph"
args = { nodes = [] }
import = [{ func = "x:y/z#f", result = 1 }]

[[case]]
name = "args on a hook"
hook = "health"
args = { nodes = [] }
"#;

const FETCH_CASES: &str = r#"
[[case]]
name = "a stub answers"
hook = "handle"
handle = { action = "fetch", payload = '{"url":"https://api.example.com/users/7"}' }
[[case.http]]
url = "https://api.example.com/users/*"
status = 201
headers = [["x-stub", "yes"]]
json = { name = "Ada" }
[case.expect]
output.json = { "$.status" = 201, "$.body" = '{"name":"Ada"}', "$.headers[0][1]" = "yes" }
fetched = ["GET https://api.example.com/users/7"]

[[case]]
name = "a refusal is a failed connection"
hook = "handle"
handle = { action = "fetch", payload = '{"url":"https://api.example.com/down"}' }
[[case.http]]
url = "https://api.example.com/*"
refuse = "the service is down"
[case.expect]
error = { kind = "plugin-error", code = "connect-failed", message-contains = "the service is down" }

[[case]]
name = "no stub names the one to add"
hook = "handle"
handle = { action = "fetch", payload = '{"method":"POST","url":"https://api.example.com/orders"}' }
[case.expect]
error = { code = "connect-failed", message-contains = 'add one with url = "https://api.example.com/orders"' }
fetched = ["POST https://api.example.com/orders"]

[[case]]
name = "hosts outside the manifest are denied before any stub"
hook = "handle"
handle = { action = "fetch", payload = '{"url":"https://evil.example.net/"}' }
[[case.http]]
url = "*"
[case.expect]
error = { code = "capability-denied" }
fetched = []

[[case]]
name = "redirects are followed through the stubs"
hook = "handle"
handle = { action = "fetch", payload = '{"url":"https://api.example.com/old"}' }
[[case.http]]
url = "https://api.example.com/old"
status = 301
headers = [["location", "/new"]]
[[case.http]]
url = "https://api.example.com/new"
body = "moved here"
[case.expect]
output.json = { "$.status" = 200, "$.body" = "moved here" }
fetched = ["GET https://api.example.com/old", "GET https://api.example.com/new"]
"#;

const SANDBOX_CASES: &str = r#"
[[case]]
name = "a granted variable has the case's value"
hook = "handle"
env = { WARDEN_AUTHOR_TEST = "from the case" }
handle = { action = "env", payload = "WARDEN_AUTHOR_TEST" }
[case.expect]
output.body = "from the case"

[[case]]
name = "a granted folder maps to the case's folder"
hook = "handle"
dirs = { "/data" = "fixture-data" }
handle = { action = "read-file", payload = "/data/hello.txt" }
[case.expect]
output.body = "from the fixture folder"

[[case]]
name = "deliberately failing"
hook = "handle"
handle = { action = "read-file", payload = "/data/hello.txt" }
[case.expect]
output.body = "something else"
"#;

/// `warden test`'s simulated host: outbound stubs behind the manifest's
/// network grant, environment and folders per case, and a failure report
/// with expected against actual, exit code 3 and `--json`.
#[test]
fn warden_test_simulates_the_host_and_reports_failures() {
    let fetcher = plugin_dir(FETCHER, "[permissions]\nnetwork = [\"https://api.example.com\"]\n");
    std::fs::create_dir(fetcher.path().join("tests")).unwrap();
    std::fs::write(fetcher.path().join("tests/fetch.toml"), FETCH_CASES).unwrap();
    let out = warden(fetcher.path(), &["test", "--no-build", "."]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("test result: ok. 5 passed; 0 failed"), "{}", text(&out));

    let sandbox = plugin_dir(
        MALICIOUS,
        "[permissions]\nenv = [\"WARDEN_AUTHOR_TEST\"]\nfiles = [{ path = \"data\", guest = \"/data\", mode = \"ro\" }]\n",
    );
    std::fs::create_dir_all(sandbox.path().join("data")).unwrap();
    std::fs::write(sandbox.path().join("data/hello.txt"), "from the plugin folder").unwrap();
    std::fs::create_dir_all(sandbox.path().join("tests/fixture-data")).unwrap();
    std::fs::write(sandbox.path().join("tests/fixture-data/hello.txt"), "from the fixture folder").unwrap();
    std::fs::write(sandbox.path().join("tests/sandbox.toml"), SANDBOX_CASES).unwrap();
    let out = warden(sandbox.path(), &["test", "--no-build", "."]);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(3), "{report}");
    assert!(report.contains("case a granted variable has the case's value ... ok"), "{report}");
    assert!(report.contains("case a granted folder maps to the case's folder ... ok"), "{report}");
    assert!(report.contains("case deliberately failing ... FAILED"), "{report}");
    assert!(report.contains(r#"output body: expected "something else", got "from the plugin folder""#), "{report}");
    assert!(report.contains("test result: FAILED. 2 passed; 1 failed"), "{report}");

    let out = warden(sandbox.path(), &["test", "--no-build", "--json", "--filter", "deliberately", "."]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((json["passed"].as_u64(), json["failed"].as_u64()), (Some(0), Some(1)), "{json}");
    assert_eq!(json["cases"][0]["ok"], false);

    // A case file with a misspelt key is an error naming the file and key.
    std::fs::write(sandbox.path().join("tests/typo.toml"), "[[case]]\nname = \"x\"\n[case.expect]\nstatuss = 1\n")
        .unwrap();
    let out = warden(sandbox.path(), &["test", "--no-build", "."]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("typo.toml") && text(&out).contains("statuss"), "{}", text(&out));
}

/// `warden new` for every language makes a project that `warden test`
/// builds and passes as it comes; a Rust project's native unit tests pass
/// against the PDK's mock host, and a TypeScript project type-checks.
#[test]
fn new_projects_in_every_language_build_and_pass_their_tests() {
    let root = tempfile::tempdir().unwrap();
    let hooks = "--hooks=http-filter,handler,subscriber";
    for lang in ["rust", "c", "python", "js"] {
        let name = format!("first-{lang}");
        let out = warden(root.path(), &["new", &name, "--lang", lang, hooks]);
        assert!(out.status.success(), "{lang}: {}", text(&out));
        let out = warden(root.path(), &["test", &name]);
        assert!(out.status.success(), "{lang}:\n{}", text(&out));
        assert!(text(&out).contains("test result: ok. 6 passed; 0 failed"), "{lang}:\n{}", text(&out));
    }
    let out = Command::new(env!("CARGO"))
        .args(["test", "-q"])
        .current_dir(root.path().join("first-rust"))
        .env("CARGO_TARGET_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("author-cargo"))
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo test:\n{}", text(&out));

    let out = warden(root.path(), &["new", "first-ts", "--lang", "ts", hooks]);
    assert!(out.status.success(), "{}", text(&out));
    let out = Command::new(repo().join("node_modules/.bin/tsc"))
        .args(["-p", "first-ts"])
        .current_dir(root.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "tsc:\n{}", text(&out));

    // Names that would not make a crate, a file or a topic are refused.
    for bad in ["Hello", "9lives", "a--b", "a_b", "trailing-"] {
        let out = warden(root.path(), &["new", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", text(&out));
    }
    let out = warden(root.path(), &["new", "first-rust"]);
    assert!(text(&out).contains("already exists"), "{}", text(&out));
}

/// A background process, killed when dropped.
struct Background(std::process::Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A WIT world using every kind of value `warden new --world` writes.
const KINDS_WIT: &str = r#"
package test:kinds@0.1.0;

interface shapes {
    record point { x: s32, y: s32, label: option<string> }
    variant shape { circle(f64), square(point), empty }
    enum color { red, green }
    flags perms { read, write }
    type ids = list<u64>;
}

interface tools {
    use shapes.{point};
    scale: func(p: point, factor: f32) -> point;
}

world kinds {
    import warden:plugin/log@0.2.0;
    use shapes.{shape, color, perms, ids};
    export area: func(s: shape, c: color, p: perms, ids: ids, pair: tuple<u8, char>, %type: string) -> result<tuple<f64, bool>, string>;
    export tools;
    export nothing: func();
}

world with-resource {
    resource counter { constructor(); }
    export make: func() -> counter;
}

interface clock { now-ms: func() -> result<u64, string>; }

world timer {
    import clock;
    export format-now: func(style: string) -> result<string, string>;
}
"#;

/// A plugin of `timer` that calls its host's clock.
const TIMER_SOURCE: &str = r#"
mod bindings {
    wit_bindgen::generate!({ path: "wit", world: "test:kinds/timer", generate_all });
    use super::Timer;
    export!(Timer with_types_in self);
}

struct Timer;

impl bindings::Guest for Timer {
    fn format_now(style: String) -> Result<String, String> {
        let ms = bindings::test::kinds::clock::now_ms()?;
        Ok(format!("{style}: {}s", ms / 1000))
    }
}
"#;

/// Its cases: the host's clock simulated by the cases' answers.
const TIMER_CASES: &str = r#"
[[case]]
name = "the host's clock answers"
call = "format-now"
args = { style = "unix" }
[[case.import]]
func = "test:kinds/clock@0.1.0#now-ms"
result = { ok = 1700000000000 }
[case.expect]
result = { ok = "unix: 1700000000s" }
imported = ["test:kinds/clock#now-ms"]

[[case]]
name = "the host's clock fails"
call = "format-now"
args = { style = "unix" }
import = [{ func = "test:kinds/clock#now-ms", result = { err = "no clock" } }]
[case.expect]
result = { err = "no clock" }

[[case]]
name = "an unanswered import traps"
call = "format-now"
args = { style = "unix" }
[case.expect]
error = { kind = "trap", message-contains = 'add [[case.import]] func = "test:kinds/clock#now-ms"' }
imported = ["test:kinds/clock#now-ms"]

[[case]]
name = "an import may trap as the case says"
call = "format-now"
args = { style = "unix" }
import = [{ func = "test:kinds/clock#now-ms", trap = "clock on fire" }]
[case.expect]
error = { message-contains = "clock on fire" }

[[case]]
name = "an answer of the wrong type is named"
call = "format-now"
args = { style = "unix" }
import = [{ func = "test:kinds/clock#now-ms", result = { ok = "soon" } }]
[case.expect]
error = { message-contains = "import test:kinds/clock#now-ms result.ok: expected an integer (u64)" }
"#;

/// `warden new --world` writes a Rust plugin of a host's own world, from
/// the host's WIT alone, that builds and passes the cases it comes with:
/// the example graph analyzer's world, and one with every kind of value
/// (records, variants, enums, flags, aliases, tuples, options, results,
/// an exported interface, a keyword as a parameter name).
#[test]
fn new_projects_of_a_host_world_build_and_pass_their_tests() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("wit")).unwrap();
    std::fs::write(root.path().join("wit/kinds.wit"), KINDS_WIT).unwrap();
    let analyzer = format!("{}:analyzer", repo().join("examples/graph-analyzer/wit").display());
    // `graph-node` is also the name of one of the world's types: the plugin's
    // type is then `GraphNodePlugin`.
    let worlds =
        [("graph-stats", analyzer.as_str(), 1), ("graph-node", analyzer.as_str(), 1), ("kinds", "wit:kinds", 3)];
    for (name, world, cases) in worlds {
        let out = warden(root.path(), &["new", name, "--world", world]);
        assert!(out.status.success(), "{name}: {}", text(&out));
        let out = warden(root.path(), &["test", name]);
        assert!(text(&out).contains(&format!("test result: ok. {cases} passed; 0 failed")), "{name}:\n{}", text(&out));
    }
    // The project carries the host's WIT and Warden's: it builds anywhere.
    let project = root.path().join("kinds");
    assert!(project.join("wit/kinds.wit").is_file() && project.join("wit/deps/warden-plugin.wit").is_file());
    let source = std::fs::read_to_string(project.join("src/lib.rs")).unwrap();
    assert!(source.contains("use bindings::test::kinds::shapes::{Color, Ids, Perms, Point, Shape};"), "{source}");
    assert!(source.contains("impl bindings::exports::test::kinds::tools::Guest for Kinds"), "{source}");
    let source = std::fs::read_to_string(root.path().join("graph-node/src/lib.rs")).unwrap();
    assert!(source.contains("struct GraphNodePlugin;"), "{source}");

    // A plugin that calls its host's own import: the cases answer for the
    // host, and the manifest's grant of the host's capability is accepted.
    let out = warden(root.path(), &["new", "timer", "--world", "wit:timer"]);
    assert!(out.status.success(), "{}", text(&out));
    let timer = root.path().join("timer");
    std::fs::write(timer.join("src/lib.rs"), TIMER_SOURCE).unwrap();
    std::fs::write(timer.join("tests/timer.toml"), TIMER_CASES).unwrap();
    let manifest = std::fs::read_to_string(timer.join("plugin.toml")).unwrap();
    std::fs::write(timer.join("plugin.toml"), manifest.replace("[permissions]\n", "[permissions]\nclock = true\n"))
        .unwrap();
    let out = warden(root.path(), &["test", "timer"]);
    assert!(text(&out).contains("test result: ok. 5 passed; 0 failed"), "{}", text(&out));

    for (args, expected) in [
        (&["new", "x1", "--world", "wit:nope"][..], "no world `nope`"),
        (&["new", "x2", "--world", "missing:kinds"], "`missing` is not a folder of WIT files"),
        (&["new", "x3", "--world", "wit"], "write the WIT folder and the world"),
        (&["new", "x4", "--world", "wit:with-resource"], "a resource, which `warden new --world` cannot write"),
        (&["new", "x5", "--world", "wit:kinds", "--lang", "js"], "`--world` makes Rust projects only"),
    ] {
        let out = warden(root.path(), args);
        assert!(!out.status.success() && text(&out).contains(expected), "{args:?}: {}", text(&out));
    }
}

/// README.md's five-minute journey, command by command, in an empty
/// folder: the scaffold, its tests, and the plugin answering through the
/// gateway `warden dev` runs. The first command installs `warden`; here the
/// binary this test suite built stands in for it, on PATH.
#[test]
fn the_five_minute_journey_in_the_readme_works() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let block = readme.split("<!-- journey").nth(1).expect("README.md has the journey block");
    let block = block.split("```sh\n").nth(1).unwrap().split("```").next().unwrap();
    let commands: Vec<(&str, &str)> =
        block.lines().map(|line| line.split_once(" #").map_or((line, ""), |(c, note)| (c.trim(), note))).collect();
    assert!(commands.len() <= 5, "the journey promises at most five commands: {commands:?}");
    assert_eq!(commands[0].0, "cargo install --locked --path crates/warden-cli");

    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_warden"), bin.path().join("warden")).unwrap();
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());
    let work = tempfile::tempdir().unwrap();
    let shell = |command: &str| {
        let mut cmd = Command::new("bash");
        cmd.args(["-c", command])
            .current_dir(work.path())
            .env("PATH", &path)
            .env("WARDEN_CACHE_DIR", cache_dir())
            .env("CARGO_TARGET_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("author-cargo"))
            .env_remove("RUST_BACKTRACE");
        cmd
    };
    let mut background = Vec::new();
    for (command, note) in &commands[1..] {
        if let Some(command) = command.strip_suffix('&') {
            let child = shell(&format!("exec {command}"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            background.push(Background(child));
            continue;
        }
        // What the note promises (`... : 3 passed`, `HTTP/1.1 403 Forbidden`)
        // must show, the first time (the README's curl waits for `warden dev`
        // with `--retry`, as a user's does).
        let expected = match *command {
            c if c.starts_with("warden test") => "3 passed",
            c if c.starts_with("curl") => note.split(':').next().unwrap().trim(), // "HTTP/1.1 403 Forbidden"
            _ => "",
        };
        let out = shell(command).output().unwrap();
        assert!(
            out.status.success() && text(&out).contains(expected),
            "`{command}` did not give {expected:?}:\n{}",
            text(&out)
        );
    }
    assert!(work.path().join("hello-filter/plugin.toml").is_file());
}
