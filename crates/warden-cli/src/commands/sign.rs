//! `warden sign`: sign a plugin folder.

use std::path::PathBuf;

use anyhow::Result;
use warden_dist::SecretKey;

/// Sign a plugin: write `plugin.sig` beside its plugin.toml, an ed25519
/// signature (cosign's simple-signing payload) over the digest of the
/// plugin as an OCI artifact, which covers the component and plugin.toml
/// together. Build the plugin first; any later change to either needs a new
/// signature. See docs/DISTRIBUTION.md.
#[derive(clap::Args)]
pub struct Args {
    /// Plugin folder (with plugin.toml and the built component).
    plugin: PathBuf,
    /// The secret key (`warden keygen`'s .key file).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The name the signature gives the plugin [default: local/<name>:<version>].
    #[arg(long, value_name = "REF")]
    reference: Option<String>,
}

pub fn run(args: &Args) -> Result<()> {
    let key = SecretKey::read(&args.key)?;
    let signed = warden_dist::sign_dir(&args.plugin, &key, args.reference.as_deref())?;
    println!(
        "signed {} ({}) with key {} -> {}",
        args.plugin.display(),
        signed.digest,
        signed.key_id,
        signed.path.display()
    );
    Ok(())
}
