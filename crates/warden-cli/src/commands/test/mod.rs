//! `warden test`: run a plugin's cases (`<plugin>/tests/*.toml`) against
//! its built component under the real runtime, with a simulated host
//! ([`host`]). Output like `cargo test`; `--json` for tools.

mod case;
mod check;
mod export;
mod host;
mod imports;
mod run;
mod value;
mod wit;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use serde_json::json;
use warden::Manifest;

use crate::Cli;

pub use host::init_logging;

/// Run a plugin's test cases against its component, with a simulated host.
///
/// Cases live in TOML files beside the plugin (`tests/*.toml` by default):
/// each gives a hook call (request, response, payload, config, environment,
/// key-value contents, outbound HTTP stubs) and what must come out (action,
/// status, headers, body, JSON paths, error, logs, key-value contents, the
/// requests made). A plugin of an application's own world is called by
/// function name (`call`, `args`), its result checked (`result`), and its
/// calls of the application's imports answered (`[[case.import]]`). See
/// docs/TESTING.md. Builds the plugin first (like `warden build`) unless
/// `--no-build`.
#[derive(clap::Args)]
pub struct Args {
    /// Plugin folder (with plugin.toml).
    plugin: PathBuf,
    /// Case files, or folders of them [default: <plugin>/tests].
    #[arg(long = "cases", value_name = "PATH")]
    cases: Vec<PathBuf>,
    /// Only run cases whose name contains this text.
    #[arg(long, value_name = "TEXT")]
    filter: Option<String>,
    /// Test the component as it is; do not build it first.
    #[arg(long)]
    no_build: bool,
    /// Cargo profile for the build (Rust plugins).
    #[arg(long, default_value = "release")]
    profile: String,
    /// Print one JSON document (cases, results, failures) instead of text.
    #[arg(long)]
    json: bool,
}

/// A failed run: at least one case failed (exit code 3).
#[derive(Debug)]
pub struct CasesFailed {
    pub failed: usize,
    pub total: usize,
}

impl std::fmt::Display for CasesFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of {} cases failed", self.failed, self.total)
    }
}

impl std::error::Error for CasesFailed {}

pub fn run(cli: &Cli, args: &Args) -> Result<()> {
    if !args.no_build {
        let mut log: Box<dyn std::io::Write> = match args.json {
            true => Box::new(std::io::stderr()),
            false => Box::new(std::io::stdout()),
        };
        // Compiled into the cache the test host reads (the same engine).
        let runtimes = if cli.no_cache { Vec::new() } else { vec![cli.runtime()?] };
        super::build::build_dir(&args.plugin, &args.profile, &runtimes, &mut log)?;
    }
    let manifest = Manifest::from_dir(&args.plugin)?;
    if !manifest.component.is_file() {
        bail!(
            "`{}` does not exist; build the plugin first (`warden build {}`) or drop --no-build",
            manifest.component.display(),
            args.plugin.display()
        );
    }
    let host = host::Host::new(cli, &manifest)?;
    let files = run::case_files(&args.plugin, &args.cases)?;
    let mut cases = Vec::new();
    for file in &files {
        for case in case::read(file)? {
            if args.filter.as_deref().is_none_or(|f| case.name.contains(f)) {
                cases.push((file, case));
            }
        }
    }
    if !args.json {
        println!("\nrunning {} cases against {} ({})", cases.len(), manifest.name, manifest.component.display());
    }
    let started = Instant::now();
    let mut results = Vec::new();
    let mut failures = Vec::new();
    for (file, case) in &cases {
        let case_started = Instant::now();
        let dir = file.parent().unwrap_or(std::path::Path::new("."));
        let (wrong, logs, result) = match run::run(&host, &manifest, case, dir) {
            Ok(outcome) => (check::check(&case.expect, &outcome), outcome.logs, outcome.result),
            Err(e) => (vec![format!("the case could not be set up: {e:#}")], host::take_logs(), None),
        };
        let ok = wrong.is_empty();
        if !args.json {
            println!("case {} ... {}", case.name, if ok { "ok" } else { "FAILED" });
        }
        let mut record = json!({
            "file": file.display().to_string(),
            "name": case.name,
            "ok": ok,
            "failures": wrong,
            "logs": logs,
            "duration-us": case_started.elapsed().as_micros() as u64,
        });
        if let Some(result) = result {
            record["result"] = result; // what a `call` returned
        }
        results.push(record);
        if !ok {
            failures.push((file, &case.name, wrong, logs));
        }
    }
    let (total, failed) = (cases.len(), failures.len());
    if args.json {
        let out = json!({
            "plugin": manifest.name,
            "component": manifest.component.display().to_string(),
            "passed": total - failed,
            "failed": failed,
            "cases": results,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        if !failures.is_empty() {
            println!("\nfailures:\n");
            for (file, name, wrong, logs) in &failures {
                println!("---- {name} ({}) ----", file.display());
                for line in wrong {
                    println!("  {line}");
                }
                if !logs.is_empty() {
                    println!("  plugin log:");
                    for line in logs {
                        println!("    {line}");
                    }
                }
                println!();
            }
            println!("failures:");
            for (_, name, _, _) in &failures {
                println!("    {name}");
            }
        }
        println!(
            "\ntest result: {}. {} passed; {failed} failed; finished in {:.2}s\n",
            if failed == 0 { "ok" } else { "FAILED" },
            total - failed,
            started.elapsed().as_secs_f64()
        );
    }
    if failed > 0 {
        return Err(CasesFailed { failed, total }.into());
    }
    Ok(())
}
