//! The plugin author's toolkit, through the real `warden` binary: `warden
//! test` against a simulated host (key-value contents, outbound HTTP stubs,
//! environment, granted folders, logs), `warden new` projects in every
//! language that build and pass their own tests, and the five-minute
//! journey exactly as README.md tells it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use warden_fixtures::{ENRICHER, FETCHER, LOGGER, MALICIOUS, PLUGINS_DIR, TRANSFORMER};

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
}

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
