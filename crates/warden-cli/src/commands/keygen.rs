//! `warden keygen`: a new ed25519 key pair for signing plugins.

use std::path::PathBuf;

use anyhow::{Result, bail};
use warden_dist::SecretKey;

/// Make a key pair for signing plugins: `<name>.key` (PKCS#8 PEM, readable
/// only by you: keep it secret) and `<name>.pub` (SPKI PEM: hand it to
/// whoever verifies your plugins). Existing files are never overwritten.
#[derive(clap::Args)]
pub struct Args {
    /// The files' name, without extension.
    #[arg(long, default_value = "warden")]
    name: String,
    /// The folder to write them into.
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
}

pub fn run(args: &Args) -> Result<()> {
    let (secret, public) = (args.out.join(format!("{}.key", args.name)), args.out.join(format!("{}.pub", args.name)));
    for path in [&secret, &public] {
        if path.exists() {
            bail!("`{}` already exists; warden keygen never overwrites a key: choose another --name", path.display());
        }
    }
    let key = SecretKey::generate();
    key.write(&secret)?;
    key.public().write(&public)?;
    println!("key {}", key.public().id());
    println!("  secret: {} (keep it secret; warden sign --key)", secret.display());
    println!("  public: {} (for warden verify --key)", public.display());
    Ok(())
}
