//! What the registry commands share: the trusted keys, a registry client
//! with the cache and a progress bar, and running its async calls.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use warden_dist::{Cache, PublicKey, Registry};

/// Trusted public keys, read from `--key` files.
pub fn trusted(keys: &[PathBuf]) -> Result<Vec<PublicKey>> {
    Ok(keys.iter().map(|k| PublicKey::read(k)).collect::<Result<Vec<_>, _>>()?)
}

/// A registry client over the default cache (`oci/` in the compile
/// cache's default folder), with a progress bar on stderr when it is a
/// terminal and the output is not JSON.
pub fn registry(json: bool) -> Result<Registry> {
    let dir = crate::default_cache_dir().context("no cache folder: set WARDEN_CACHE_DIR or HOME")?;
    let registry = Registry::new(Cache::new(dir.join("oci")));
    if json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return Ok(registry);
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Ok(registry.with_progress(Arc::new(move |what: &str, done: u64, total: u64| {
        bar.set_message(what.to_owned());
        bar.set_length(total);
        bar.set_position(done);
        if done >= total {
            bar.finish_and_clear();
            bar.reset();
        }
    })))
}

/// Runs `future` to completion on a runtime of its own.
pub fn block_on<T>(future: impl Future<Output = T>) -> Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime for registry transfers")?;
    Ok(runtime.block_on(future))
}
