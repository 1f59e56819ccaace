//! `warden update`: installed plugins to their newest compatible version,
//! rolled back when the new one does not come up.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::json;
use warden_dist::Lock;

use crate::Cli;

/// Update plugins installed from a registry (those in warden.lock) to the
/// highest version compatible with the installed one (same major version,
/// semver `^`). Each new version is verified, installed atomically, then
/// loaded with every plugin of the directory, initialised and asked for
/// its health; if it fails any step, the previous version is put back and
/// the update reported as rolled back (exit 59).
#[derive(clap::Args)]
pub struct Args {
    /// Only this plugin [default: every plugin in warden.lock].
    name: Option<String>,
    /// The plugins directory.
    #[arg(long, value_name = "DIR", default_value = "plugins")]
    dir: PathBuf,
    /// A trusted public key (`warden keygen`'s .pub file); repeat for more.
    #[arg(long = "key", value_name = "FILE", required = true)]
    keys: Vec<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// An update that failed its checks and was undone.
#[derive(Debug, thiserror::Error)]
#[error("{plugin} {version} was rolled back to {previous}: {reason}")]
pub struct RolledBack {
    plugin: String,
    version: String,
    previous: String,
    reason: String,
}

pub fn run(cli: &Cli, args: &Args) -> Result<()> {
    let keys = super::dist::trusted(&args.keys)?;
    let registry = super::dist::registry(args.json)?;
    let mut lock = Lock::read(&args.dir)?;
    let entries: Vec<_> =
        lock.plugins.iter().filter(|e| args.name.as_ref().is_none_or(|n| *n == e.name)).cloned().collect();
    if entries.is_empty() {
        let what = args.name.as_ref().map_or_else(|| "no plugin".to_owned(), |n| format!("no plugin '{n}'"));
        anyhow::bail!(
            "{}: {what} in {}; install it with `warden install` first",
            args.dir.display(),
            warden_dist::LOCK_FILE
        );
    }
    let mut report = Vec::new();
    let mut failed = None;
    for entry in entries {
        let current = semver::Version::parse(&entry.version)?;
        let repository = warden_dist::repository_of(&entry.reference);
        let versions = super::dist::block_on(registry.versions(repository))??;
        let compatible = semver::VersionReq::parse(&format!("^{current}"))?;
        let newest = versions.into_iter().find(|v| compatible.matches(v) && *v > current);
        let Some(newest) = newest else {
            report.push(json!({ "plugin": entry.name, "version": entry.version, "changed": false }));
            continue;
        };
        let reference = format!("{repository}:{newest}");
        let fetched = super::install::fetch(&registry, &reference, &keys)?;
        let _hold = warden_dist::InstallLock::acquire(&args.dir)?;
        let installed = warden_dist::install(&fetched, &args.dir, false)?;
        if let Err(reason) = comes_up(cli, &args.dir, &installed.name, &installed.version) {
            if installed.changed {
                warden_dist::rollback(&args.dir, &installed.name)?;
            }
            report.push(json!({ "plugin": entry.name, "version": entry.version, "changed": false, "rolled_back": newest.to_string(), "reason": reason }));
            failed.get_or_insert(RolledBack {
                plugin: entry.name.clone(),
                version: newest.to_string(),
                previous: entry.version.clone(),
                reason,
            });
            continue;
        }
        lock = Lock::read(&args.dir)?;
        lock.set(installed.lock_entry(&reference));
        lock.write(&args.dir)?;
        report.push(super::install::describe(&installed, &fetched));
    }
    if args.json {
        println!("{}", json!({ "updated": report }));
    } else {
        for r in &report {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            match (r["changed"].as_bool(), r["rolled_back"].as_str()) {
                (_, Some(v)) => {
                    println!("{} {v} failed and was rolled back to {}: {}", s("plugin"), s("version"), s("reason"))
                }
                (Some(false), _) => println!("{} {} is up to date", s("plugin"), s("version")),
                _ => println!("updated {} {} -> {} ({})", s("plugin"), s("previous"), s("version"), s("digest")),
            }
        }
    }
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// Loads the plugins of `dir` as a host would, and checks that `name`
/// came up at `version`.
fn comes_up(cli: &Cli, dir: &Path, name: &str, version: &str) -> Result<(), String> {
    let runtime = cli.runtime().map_err(|e| e.to_string())?;
    let manager = warden::PluginManager::new(runtime);
    manager.load_dir(dir).map_err(|e| e.to_string())?;
    warden_dist::came_up(&manager, name, version)
}
