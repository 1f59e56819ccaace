//! `warden plugins`: load a plugin directory through the plugin manager and
//! report on it (`list`, `info`), or prove its plugins reload (`reload`).

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::json;
use warden::{LoadReport, PluginInfo, PluginManager};

use crate::Cli;

/// Manage a directory of plugin folders.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Load every plugin folder under DIR and list each with its state.
    List {
        /// Directory of plugin folders (each with a plugin.toml).
        dir: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Load DIR and show one plugin: state, version, health, stats.
    Info {
        /// Directory of plugin folders.
        dir: PathBuf,
        /// Plugin name.
        name: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Load DIR, then reload every plugin (or one) in place from its folder,
    /// as a running host would; fails if any reload fails.
    Reload {
        /// Directory of plugin folders.
        dir: PathBuf,
        /// Only this plugin.
        name: Option<String>,
    },
}

pub fn run(cli: &Cli, args: &Args) -> Result<()> {
    let manager = PluginManager::new(cli.runtime()?);
    match &args.command {
        Command::List { dir, json } => {
            let report = manager.load_dir(dir)?;
            manager.check_health();
            let plugins = manager.list();
            if *json {
                let failed = unnamed_failures(&report, &plugins);
                let out = json!({
                    "plugins": plugins.iter().map(warden_gateway::plugin_json).collect::<Vec<_>>(),
                    "unreadable": failed.iter().map(|(d, e)| json!({"dir": d.display().to_string(), "kind": e.kind().as_str(), "error": e.to_string()})).collect::<Vec<_>>(),
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!("{:<24} {:<12} {:<10} {:<10} LAST ERROR", "NAME", "STATE", "VERSION", "HEALTH");
                for p in &plugins {
                    let version = p.version.as_ref().map_or("-".to_owned(), ToString::to_string);
                    let error = p.last_error.as_deref().unwrap_or("");
                    println!("{:<24} {:<12} {:<10} {:<10} {error}", p.name, p.state, version, health(p));
                }
                for (dir, e) in unnamed_failures(&report, &plugins) {
                    println!("{:<24} {:<12} {:<10} {:<10} {e}", dir_name(dir), "unreadable", "-", "-");
                }
            }
        }
        Command::Info { dir, name, json } => {
            manager.load_dir(dir)?;
            manager.check_health();
            let p = manager.info(name)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&warden_gateway::plugin_json(&p))?);
            } else {
                print_info(&p);
            }
        }
        Command::Reload { dir, name } => {
            manager.load_dir(dir)?;
            let results = match name {
                Some(name) => vec![(name.clone(), manager.reload(name))],
                None => manager.reload_all(),
            };
            let mut first_error = None;
            for (name, result) in results {
                match result {
                    Ok(()) => println!("reloaded {name} {}", manager.info(&name).map(version).unwrap_or_default()),
                    Err(e) => {
                        println!("failed   {name}: {e}");
                        first_error.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = first_error {
                return Err(e.into());
            }
        }
    }
    Ok(())
}

/// Load failures that have no entry in the manager (the manifest itself was unreadable).
fn unnamed_failures<'a>(report: &'a LoadReport, plugins: &[PluginInfo]) -> Vec<&'a (PathBuf, warden::Error)> {
    report.failed.iter().filter(|(d, _)| !plugins.iter().any(|p| p.dir == *d)).collect()
}

fn dir_name(dir: &Path) -> String {
    dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned())
}

fn version(p: PluginInfo) -> String {
    p.version.map(|v| v.to_string()).unwrap_or_default()
}

fn health(p: &PluginInfo) -> &'static str {
    warden_gateway::health_name(p.health.as_ref())
}

fn print_info(p: &PluginInfo) {
    let s = &p.stats;
    println!("name:            {}", p.name);
    println!("folder:          {}", p.dir.display());
    println!("state:           {}", p.state);
    println!("version:         {}", p.version.as_ref().map_or("-".to_owned(), ToString::to_string));
    println!("sha256:          {}", p.sha256.as_deref().unwrap_or("-"));
    println!("health:          {}", health(p));
    if let Some(e) = &p.last_error {
        println!("last error:      {e}");
    }
    println!("calls:           {} ({} errors, {} traps, {} timeouts)", s.calls, s.errors_total, s.traps, s.timeouts);
    println!(
        "latency:         p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
        s.latency.p50, s.latency.p90, s.latency.p99, s.latency.max
    );
    println!("peak memory:     {} bytes", s.peak_memory_bytes);
    println!("instances:       {}", s.instances);
    println!("reloads:         {} ({} failed)", s.reloads, s.reload_failures);
}
