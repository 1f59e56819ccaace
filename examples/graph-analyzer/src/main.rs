//! `graph-analyzer <graph.json> <plugin-dir>...`: runs analyzer plugins on
//! a dependency graph and prints what they find, then each plugin's call
//! statistics. Exits with 1 if the graph or a plugin cannot be loaded or an
//! analysis fails. `RUST_LOG=info` shows the plugins' own log lines.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use clap::Parser;
use graph_analyzer::{Report, analyze_all, graph, runtime, stats_table};
use warden::{PluginManager, SyncAction};

/// How often `--watch` looks for changes.
const POLL: Duration = Duration::from_millis(500);

/// Runs graph-analyzer plugins on a dependency graph and prints what they
/// find.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The graph: JSON, `{"nodes": [{"id": "a", "type": "function", "calls": ["b"]}, ...]}`.
    graph: PathBuf,
    /// Plugin folders (each with its plugin.toml and component), or folders
    /// holding plugin folders.
    #[arg(required = true)]
    plugins: Vec<PathBuf>,
    /// Run each analysis this many times (the statistics then show the
    /// median of them all).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,
    /// Keep running: reload a plugin when its folder changes, and analyze
    /// again whenever a plugin or the graph file changed.
    #[arg(long)]
    watch: bool,
}

/// Where plugins came from, for `--watch`.
enum Source {
    /// A plugin folder.
    Plugin(PathBuf),
    /// A folder of plugin folders.
    Folder(PathBuf),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let ansi = std::io::stderr().is_terminal();
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("error: an analysis failed; see the report above");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Loads the graph and the plugins, analyzes once (or keeps watching);
/// returns whether every analysis succeeded.
fn run(args: &Args) -> Result<bool> {
    // The graph first: a typo in it should not wait for plugins to compile.
    graph::load(&args.graph)?;
    let manager = PluginManager::new(runtime().context("cannot start the plugin runtime")?);
    let sources = load_plugins(&manager, &args.plugins)?;
    let ok = analyze_once(&manager, &args.graph, args.repeat)?;
    if !args.watch {
        return Ok(ok);
    }
    watch(&manager, &sources, args)
}

/// Loads each plugin folder, or every plugin folder of a folder of them;
/// fails listing every plugin that did not load.
fn load_plugins(manager: &PluginManager, dirs: &[PathBuf]) -> Result<Vec<Source>> {
    let mut sources = Vec::new();
    let mut failed = Vec::new();
    for dir in dirs {
        if dir.join("plugin.toml").is_file() {
            if let Err(e) = manager.load(dir) {
                failed.push(format!("{}: {e}", dir.display()));
            }
            sources.push(Source::Plugin(dir.clone()));
        } else if dir.is_dir() {
            let report = manager.load_dir(dir)?;
            if report.loaded.is_empty() && report.failed.is_empty() {
                bail!("`{}` holds no plugin folder (a folder with a plugin.toml)", dir.display());
            }
            failed.extend(report.failed.iter().map(|(folder, e)| format!("{}: {e}", folder.display())));
            sources.push(Source::Folder(dir.clone()));
        } else {
            bail!("`{}` is not a plugin folder (a folder with a plugin.toml) nor a folder of them", dir.display());
        }
    }
    match failed.as_slice() {
        [] => Ok(sources),
        [one] => bail!("cannot load plugin {one}"),
        many => bail!("cannot load {} plugins:\n  {}", many.len(), many.join("\n  ")),
    }
}

/// Analyzes the graph with every plugin and prints the report and stats;
/// returns whether every analysis succeeded.
fn analyze_once(manager: &PluginManager, graph_file: &Path, repeat: u32) -> Result<bool> {
    let nodes = graph::load(graph_file)?;
    let outcomes = analyze_all(manager, &nodes, repeat);
    let label = graph_file.display().to_string();
    let report = Report { graph: &label, nodes: nodes.len(), edges: graph::edge_count(&nodes), outcomes: &outcomes };
    println!("{report}");
    print!("{}", stats_table(&manager.list()));
    Ok(outcomes.iter().all(|o| o.result.is_ok()))
}

/// Polls the plugin folders and the graph file; reloads what changed (a
/// plugin that fails to reload keeps its previous version serving) and
/// analyzes again. Runs until the process is stopped.
///
/// It polls [`PluginManager::sync_folder`] rather than using
/// [`PluginManager::watch`]: that watches a folder of plugin folders (so it
/// would also load a sibling folder not named on the command line) and
/// reports what it applied only to the log, while this loop must know when
/// to analyze again.
fn watch(manager: &PluginManager, sources: &[Source], args: &Args) -> Result<bool> {
    eprintln!("watching the plugins and {} for changes (Ctrl-C stops)", args.graph.display());
    let mut graph_stamp = modified(&args.graph);
    // The last problem reported per folder: a broken folder is reported once, not every poll.
    let mut reported: Vec<(PathBuf, String)> = Vec::new();
    loop {
        std::thread::sleep(POLL);
        let mut changed = false;
        for source in sources {
            let synced = match source {
                Source::Plugin(dir) => vec![(dir.clone(), manager.sync_folder(dir))],
                Source::Folder(dir) => match manager.sync_dir(dir) {
                    Ok(synced) => synced,
                    Err(e) => vec![(dir.clone(), Err(e))],
                },
            };
            for (folder, result) in synced {
                reported.retain(|(f, _)| *f != folder || result.is_err());
                match result {
                    Ok(SyncAction::Unchanged) => {}
                    Ok(action) => {
                        eprintln!("{}: {}", folder.display(), describe(&action));
                        changed = true;
                    }
                    Err(e) => {
                        let message = e.to_string();
                        if !reported.iter().any(|(f, m)| *f == folder && *m == message) {
                            eprintln!(
                                "warning: {}: change not applied, the previous state stays: {message}",
                                folder.display()
                            );
                            reported.retain(|(f, _)| *f != folder);
                            reported.push((folder, message));
                        }
                    }
                }
            }
        }
        let stamp = modified(&args.graph);
        if stamp != graph_stamp {
            graph_stamp = stamp;
            changed = true;
        }
        if changed {
            println!();
            if let Err(e) = analyze_once(manager, &args.graph, args.repeat) {
                eprintln!("error: {e:#}");
            }
        }
    }
}

fn describe(action: &SyncAction) -> String {
    match action {
        SyncAction::Loaded(name) => format!("loaded {name}"),
        SyncAction::Reloaded(name) => format!("reloaded {name}"),
        SyncAction::Unloaded(name) => format!("unloaded {name}"),
        other => format!("{other:?}"),
    }
}

/// When `path` last changed, if it can be read.
fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
