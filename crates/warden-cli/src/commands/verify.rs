//! `warden verify`: check a plugin folder's signature.

use std::path::PathBuf;

use anyhow::Result;
use serde_json::json;
use warden_dist::PublicKey;

/// Verify a plugin's signature: of a folder (`plugin.sig`), made by one of
/// the trusted public keys over exactly the component and plugin.toml in
/// the folder now; of an OCI reference, the signature stored under its
/// cosign tag, over the manifest the reference names, whose parts are
/// fetched and checked (nothing is installed). Exits 0 when it holds;
/// otherwise names what does not (exit codes 50–56).
#[derive(clap::Args)]
pub struct Args {
    /// Plugin folder (with plugin.toml, the component and plugin.sig), or
    /// registry/repository:version.
    plugin: PathBuf,
    /// A trusted public key (`warden keygen`'s .pub file); repeat for more.
    #[arg(long = "key", value_name = "FILE", required = true)]
    keys: Vec<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let keys = args.keys.iter().map(|k| PublicKey::read(k)).collect::<Result<Vec<_>, _>>()?;
    let target = args.plugin.to_string_lossy();
    let verified = match args.plugin.is_dir() {
        true => warden_dist::verify_dir(&args.plugin, &keys)?,
        false => {
            let registry = super::dist::registry(args.json)?;
            super::install::fetch(&registry, &target, &keys)?.verified
        }
    };
    if args.json {
        let out = json!({
            "plugin": verified.name,
            "version": verified.version,
            "digest": verified.digest,
            "key": verified.key_id,
            "reference": verified.reference,
        });
        println!("{out}");
    } else {
        println!(
            "verified {} {} ({}): signed by key {} as {}",
            verified.name, verified.version, verified.digest, verified.key_id, verified.reference
        );
    }
    Ok(())
}
