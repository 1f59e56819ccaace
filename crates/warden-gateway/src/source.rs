//! Following registry sources (`[[source]]`): every interval, the highest
//! version of each repository its requirement accepts is fetched and
//! verified against the trust policy's keys, installed into the plugin
//! folder atomically, and hot-reloaded; a version that fails to load,
//! initialise or report itself healthy is rolled back and not tried again.
//! Every step is audited (`rollout`, `rollout-refused`, `rollout-failed`).

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use warden::PluginManager;
use warden_dist::{Cache, Lock, PublicKey, Registry};

use crate::config::SourceConfig;

/// Follows `sources` until `stop` turns true.
pub(crate) async fn follow(
    sources: Vec<SourceConfig>,
    keys: Vec<PublicKey>,
    plugins: PathBuf,
    cache: PathBuf,
    manager: PluginManager,
    mut stop: watch::Receiver<bool>,
) {
    let registry = Registry::new(Cache::new(cache));
    let period = sources.iter().map(|s| s.interval).min().unwrap_or(Duration::from_secs(60));
    let (mut tried, mut unsigned) = (HashSet::new(), HashSet::new());
    loop {
        for source in &sources {
            poll(source, &registry, &keys, &plugins, &manager, &mut tried, &mut unsigned).await;
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// One look at `source`: installs its newest accepted version if it is
/// new. References refused or rolled back are in `tried` and not fetched
/// again; those found unsigned are in `unsigned`, audited once and asked
/// again.
async fn poll(
    source: &SourceConfig,
    registry: &Registry,
    keys: &[PublicKey],
    plugins: &std::path::Path,
    manager: &PluginManager,
    tried: &mut HashSet<String>,
    unsigned: &mut HashSet<String>,
) {
    let repository = source.repository.as_str();
    let tags = match registry.tags(repository).await {
        Ok(tags) => tags,
        Err(e) => {
            tracing::warn!(source = %repository, error = %e, "cannot list the source's versions; trying again later");
            return;
        }
    };
    let mut versions: Vec<semver::Version> = tags.iter().filter_map(|t| semver::Version::parse(t).ok()).collect();
    versions.retain(|v| source.version.matches(v));
    let Some(newest) = versions.into_iter().max() else { return };
    let reference = format!("{repository}:{newest}");
    if tried.contains(&reference) {
        return;
    }
    let lock = Lock::read(plugins).unwrap_or_default();
    let installed = lock.plugins.iter().find(|e| warden_dist::strip_tag(&e.reference) == repository);
    if let Some(entry) = installed
        && semver::Version::parse(&entry.version).is_ok_and(|v| v >= newest)
    {
        return;
    }
    let fetched = match registry.fetch(&reference, keys).await {
        Ok(f) => f,
        // The registry or the disk failed, not the version: asked again
        // at the next interval.
        Err(e) if matches!(e.kind(), "registry" | "io") => {
            tracing::warn!(source = %repository, reference = %reference, error = %e, "cannot fetch the new version; trying again later");
            return;
        }
        Err(e) => {
            // Unsigned may be signed later (cosign signs after pushing):
            // asked again, audited once.
            if e.kind() != "unsigned" {
                tried.insert(reference.clone());
            } else if !unsigned.insert(reference.clone()) {
                return;
            }
            tracing::warn!(source = %repository, reference = %reference, error = %e, "new version refused");
            let fields = json!({ "reference": reference, "kind": e.kind(), "error": e.to_string() });
            manager.audit("rollout-refused", None, fields);
            return;
        }
    };
    let (plugins, manager) = (plugins.to_owned(), manager.clone());
    let (name, digest) = (fetched.artifact.name.clone(), fetched.artifact.digest());
    let outcome = tokio::task::spawn_blocking(move || install(&fetched, &plugins, &manager)).await;
    let result = outcome.unwrap_or_else(|e| Err(format!("the install task failed: {e}")));
    if let Err(reason) = result {
        tried.insert(reference.clone());
        tracing::warn!(plugin = %name, reference = %reference, %reason, "new version rolled back");
    } else {
        tracing::info!(plugin = %name, reference = %reference, %digest, "new version rolled out");
    }
}

/// Installs `fetched`, loads it, and rolls it back if it does not come up.
fn install(fetched: &warden_dist::Fetched, plugins: &std::path::Path, manager: &PluginManager) -> Result<(), String> {
    let name = fetched.artifact.name.clone();
    let reference = fetched.reference.clone();
    let audit_failed = |reason: &str| {
        let fields = json!({ "reference": reference, "digest": fetched.artifact.digest(), "error": reason });
        manager.audit("rollout-failed", Some(&name), fields);
    };
    let installed = match warden_dist::install(fetched, plugins, false) {
        Ok(i) => i,
        Err(e) => {
            audit_failed(&e.to_string());
            return Err(e.to_string());
        }
    };
    // The directory watcher, if on, may have applied the change already.
    let came_up = match manager.sync_folder(&installed.dir) {
        Ok(_) => serving(manager, &name, &installed.version).and_then(|()| healthy(manager, &name)),
        Err(e) => Err(e.to_string()),
    };
    if let Err(reason) = came_up {
        if installed.previous.is_some() {
            let back = warden_dist::rollback(plugins, &name).map_err(|e| e.to_string());
            let resynced = back.and_then(|()| manager.sync_folder(&installed.dir).map_err(|e| e.to_string()));
            if let Err(e) = resynced {
                tracing::error!(plugin = %name, error = %e, "the rollback failed");
            }
        } else {
            // Nothing to go back to: the new plugin goes away.
            let _ = std::fs::remove_dir_all(&installed.dir);
            let _ = manager.sync_folder(&installed.dir);
        }
        audit_failed(&reason);
        return Err(reason);
    }
    let mut lock = Lock::read(plugins).unwrap_or_default();
    lock.version = 1;
    lock.set(installed.lock_entry(&reference));
    if let Err(e) = lock.write(plugins) {
        tracing::warn!(plugin = %name, error = %e, "cannot update warden.lock");
    }
    let fields = json!({
        "reference": reference,
        "digest": installed.digest,
        "previous": installed.previous,
        "key": fetched.verified.key_id,
    });
    manager.audit("rollout", Some(&name), fields);
    Ok(())
}

/// Whether `name` serves `version`.
fn serving(manager: &PluginManager, name: &str, version: &str) -> Result<(), String> {
    let info = manager.info(name).map_err(|e| e.to_string())?;
    match info.version.map(|v| v.to_string()) {
        Some(v) if v == version => Ok(()),
        _ => Err(info.last_error.unwrap_or_else(|| "the new version was not loaded".into())),
    }
}

/// Whether `name` runs and reports itself healthy.
fn healthy(manager: &PluginManager, name: &str) -> Result<(), String> {
    match manager.check_health().into_iter().find(|(n, _)| n == name).map(|(_, h)| h) {
        Some(Ok(warden::HealthStatus::Unhealthy(reason))) => Err(format!("it reports itself unhealthy: {reason}")),
        Some(Err(e)) => Err(format!("its health check failed: {e}")),
        Some(Ok(_)) => Ok(()),
        None => Err("it is not running after loading".into()),
    }
}
