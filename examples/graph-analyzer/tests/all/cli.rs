//! The `graph-analyzer` binary: the report on the sample graph, and clear
//! errors with exit code 1.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{SAMPLE_CYCLE, SAMPLE_ORPHAN, example, install};

fn run(args: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_graph-analyzer")).args(args).env_remove("RUST_LOG").output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn cli_reports_what_each_plugin_found_and_its_stats() {
    let dir = tempfile::tempdir().unwrap();
    let cycle_finder = install(dir.path(), "cycle-finder", |t| t);
    install(dir.path(), "orphan-finder", |t| t);
    let sample = example().join("graphs/sample.json");

    // A folder of plugin folders, repeated.
    let out = Command::new(env!("CARGO_BIN_EXE_graph-analyzer"))
        .arg(&sample)
        .arg(dir.path())
        .args(["--repeat", "3"])
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.starts_with(&format!("graph {} (8 nodes, 7 edges)\n", sample.display())), "{stdout}");
    assert!(
        stdout.contains(&format!("cycle-finder\n  findings:\n    - {SAMPLE_CYCLE}\n  confidence: 1.00\n")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("orphan-finder\n  findings:\n    - {SAMPLE_ORPHAN}\n  confidence: 0.90\n")),
        "{stdout}"
    );
    let stats: Vec<Vec<&str>> =
        stdout.lines().skip_while(|l| !l.starts_with("plugin ")).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(stats[0], ["plugin", "calls", "errors", "p50"]);
    assert_eq!(stats[1][..3], ["cycle-finder", "3", "0"]);
    assert_eq!(stats[2][..3], ["orphan-finder", "3", "0"]);
    assert_eq!(stats.len(), 3, "{stdout}");

    // One plugin folder.
    let out = run(&[&sample, &cycle_finder]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("orphan-finder"));
}

#[test]
fn cli_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = install(dir.path(), "cycle-finder", |t| t);

    let missing = dir.path().join("missing.json");
    let out = run(&[&missing, &plugin]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with(&format!("error: graph file `{}`: cannot read it: ", missing.display())));

    let sample = example().join("graphs/sample.json");
    let echo = dir.path().join("echo");
    std::fs::create_dir(&echo).unwrap();
    std::fs::copy(warden_fixtures::ECHO, echo.join("echo.wasm")).unwrap();
    std::fs::write(
        echo.join("plugin.toml"),
        "[plugin]\nname = \"echo\"\nversion = \"1.0.0\"\ncomponent = \"echo.wasm\"\n",
    )
    .unwrap();
    let out = run(&[&sample, &plugin, &echo]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: cannot load plugin {}: plugin 'echo': it is not built for this host",
            echo.display()
        )),
        "{stderr}"
    );

    // A plugin that fails its call: the report shows it, the exit code is 1.
    install(dir.path(), "orphan-finder", crate::common::replace("[limits]\n", "[limits]\nfuel = 1000\n"));
    let out = run(&[&sample, &plugin, &dir.path().join("orphan-finder")]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("orphan-finder\n  error: plugin 'orphan-finder' ran out of fuel (1000) in analyze-graph"),
        "{stdout}"
    );
    assert!(text(&out.stderr).contains("error: an analysis failed; see the report above"));
}
