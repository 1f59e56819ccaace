//! `warden pull`: a plugin from a registry into a folder, verified.

use std::path::PathBuf;

use anyhow::Result;

/// Fetch a plugin from an OCI registry, verify its digest and signature
/// (by a --key) and write it as a plugin folder (plugin.toml, component,
/// plugin.sig) under --output. Unlike `warden install`, keeps no lock.
#[derive(clap::Args)]
pub struct Args {
    /// registry/repository:version or registry/repository@sha256:<digest>.
    reference: String,
    /// Where the plugin's folder goes.
    #[arg(long, short, value_name = "DIR", default_value = ".")]
    output: PathBuf,
    /// A trusted public key (`warden keygen`'s .pub file); repeat for more.
    #[arg(long = "key", value_name = "FILE", required = true)]
    keys: Vec<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let keys = super::dist::trusted(&args.keys)?;
    let registry = super::dist::registry(args.json)?;
    let started = std::time::Instant::now();
    let fetched = super::install::fetch(&registry, &args.reference, &keys)?;
    let _hold = warden_dist::InstallLock::acquire(&args.output)?;
    let installed = warden_dist::install(&fetched, &args.output, true)?;
    let report = [super::install::describe(&installed, &fetched)];
    super::install::print(args.json, "pulled", &report, started.elapsed().as_millis());
    Ok(())
}
