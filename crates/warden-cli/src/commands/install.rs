//! `warden install`: a plugin from a registry into a plugins directory.

use std::path::PathBuf;

use anyhow::{Result, bail};
use serde_json::{Value, json};
use warden_dist::{DistError, Fetched, Installed, Lock, LockEntry, PublicKey, Registry};

/// Install a plugin from an OCI registry into a plugins directory: its
/// digest and signature (by a --key) are verified, and it was signed under
/// the name asked for, before anything is written; it then replaces the
/// installed version in one atomic rename, and warden.lock records it.
/// An older version never replaces a newer one without --allow-downgrade.
/// With --locked, installs exactly what warden.lock pins, or nothing.
#[derive(clap::Args)]
pub struct Args {
    /// registry/repository:version or registry/repository@sha256:<digest>.
    #[arg(required_unless_present = "locked", conflicts_with = "locked")]
    reference: Option<String>,
    /// The plugins directory.
    #[arg(long, value_name = "DIR", default_value = "plugins")]
    dir: PathBuf,
    /// A trusted public key (`warden keygen`'s .pub file); repeat for more.
    #[arg(long = "key", value_name = "FILE", required = true)]
    keys: Vec<PathBuf>,
    /// Install what warden.lock pins, by digest; fail (installing nothing) if any is missing or does not verify.
    #[arg(long)]
    locked: bool,
    /// Let an older version replace a newer one.
    #[arg(long)]
    allow_downgrade: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let keys = super::dist::trusted(&args.keys)?;
    let registry = super::dist::registry(args.json)?;
    let lock = Lock::read(&args.dir)?;
    let started = std::time::Instant::now();
    let wanted: Vec<(String, Option<LockEntry>)> = match &args.reference {
        Some(reference) => vec![(reference.clone(), None)],
        None => {
            if lock.plugins.is_empty() {
                bail!(
                    "{}: no {} to install from; install plugins by reference first",
                    args.dir.display(),
                    warden_dist::LOCK_FILE
                );
            }
            lock.plugins.iter().map(|e| (e.pinned(), Some(e.clone()))).collect()
        }
    };
    // Everything is fetched and verified before anything is installed.
    let mut fetched = Vec::new();
    for (reference, entry) in &wanted {
        let f = fetch(&registry, reference, &keys)?;
        if let Some(entry) = entry
            && (f.artifact.name != entry.name || f.artifact.version != entry.version)
        {
            return Err(DistError::Lock {
                path: args.dir.join(warden_dist::LOCK_FILE),
                message: format!(
                    "{} pins {} {}, but {reference} is {} {}",
                    entry.name, entry.name, entry.version, f.artifact.name, f.artifact.version
                ),
            }
            .into());
        }
        fetched.push((f, entry.clone()));
    }
    // The lock follows each install, so it always says what is there.
    let _hold = warden_dist::InstallLock::acquire(&args.dir)?;
    let mut lock = Lock::read(&args.dir)?;
    let mut report = Vec::new();
    for (f, entry) in &fetched {
        let installed = warden_dist::install(f, &args.dir, args.allow_downgrade || args.locked)?;
        let reference = entry.as_ref().map_or_else(|| f.reference.clone(), |e| e.reference.clone());
        lock.set(installed.lock_entry(&reference));
        lock.write(&args.dir)?;
        report.push(describe(&installed, f));
    }
    print(args.json, "installed", &report, started.elapsed().as_millis());
    Ok(())
}

/// Fetches and verifies `reference`.
pub fn fetch(registry: &Registry, reference: &str, keys: &[PublicKey]) -> Result<Fetched> {
    Ok(super::dist::block_on(registry.fetch(reference, keys))??)
}

/// One install, for the report.
pub fn describe(installed: &Installed, fetched: &Fetched) -> Value {
    json!({
        "plugin": installed.name,
        "version": installed.version,
        "previous": installed.previous,
        "changed": installed.changed,
        "digest": installed.digest,
        "key": fetched.verified.key_id,
        "reference": fetched.reference,
        "dir": installed.dir.display().to_string(),
        "offline": fetched.offline,
    })
}

/// Prints the report: one JSON object (`{verb: [...], "ms"}`), or a line
/// per plugin.
pub fn print(json: bool, verb: &str, report: &[Value], ms: u128) {
    if json {
        println!("{}", json!({ verb: report, "ms": ms }));
        return;
    }
    for r in report {
        let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
        let what = match (r["changed"].as_bool(), r["previous"].as_str()) {
            (Some(false), _) => "already installed".to_owned(),
            (_, Some(previous)) => format!("replaces {previous}"),
            _ => "new".to_owned(),
        };
        let offline = if r["offline"] == true { ", from the cache: the registry could not be reached" } else { "" };
        println!(
            "{verb} {} {} ({what}) into {} - {} signed by key {}{offline}",
            s("plugin"),
            s("version"),
            s("dir"),
            s("digest"),
            s("key")
        );
    }
}
