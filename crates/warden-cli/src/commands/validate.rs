//! `warden validate`: check that a plugin folder loads and initialises.

use std::path::PathBuf;

use anyhow::Result;

use crate::Cli;

/// Check a plugin folder: manifest, sha256 pin, component, imports, init.
#[derive(clap::Args)]
pub struct Args {
    /// Plugin folder (with plugin.toml).
    plugin: PathBuf,
}

pub fn run(cli: &Cli, args: &Args) -> Result<()> {
    let plugin = cli.runtime()?.load(&args.plugin)?;
    let hooks: Vec<_> = plugin.hooks().iter().map(|h| h.as_str()).collect();
    println!("ok: plugin '{}' {} ({})", plugin.name(), plugin.version(), hooks.join(", "));
    plugin.shutdown();
    Ok(())
}
