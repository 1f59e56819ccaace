//! Following registry sources (`[[source]]`): every interval, the highest
//! version of each repository its requirement accepts is fetched and
//! verified against the trust policy's keys, installed into the plugin
//! folder atomically, and hot-reloaded; a version that fails to load,
//! initialise or report itself healthy is rolled back and not tried again.
//! Every step is audited (`rollout`, `rollout-refused`, `rollout-failed`).

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::watch;
use warden::PluginManager;
use warden_dist::{Cache, Lock, PublicKey, Registry};

use crate::config::SourceConfig;

/// Longest one look at a source may take (listing, fetching, verifying).
const POLL_TIMEOUT: Duration = Duration::from_secs(300);

/// Follows `sources` until `stop` turns true, each at its own interval.
pub(crate) async fn follow(
    sources: Vec<SourceConfig>,
    keys: Vec<PublicKey>,
    plugins: PathBuf,
    cache: PathBuf,
    manager: PluginManager,
    mut stop: watch::Receiver<bool>,
) {
    let registry = Registry::new(Cache::new(cache));
    let mut state = Seen::default();
    let mut due = vec![Instant::now(); sources.len()];
    loop {
        for (source, due) in sources.iter().zip(due.iter_mut()) {
            if Instant::now() < *due {
                continue;
            }
            let look = poll(source, &registry, &keys, &plugins, &manager, &mut state);
            if tokio::time::timeout(POLL_TIMEOUT, look).await.is_err() {
                tracing::warn!(source = %source.repository, "the registry took too long; trying again later");
            }
            *due = Instant::now() + source.interval;
        }
        let next = due.iter().min().copied().unwrap_or_else(Instant::now);
        tokio::select! {
            _ = tokio::time::sleep_until(next.into()) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// What the follower remembers between looks.
#[derive(Default)]
struct Seen {
    /// References refused or rolled back: not fetched again.
    refused: HashSet<String>,
    /// References that failed in a way that may pass (unsigned yet, the
    /// registry failing): fetched again, reported once.
    waiting: HashSet<String>,
}

/// One look at `source`: installs its newest accepted version if it is
/// new.
async fn poll(
    source: &SourceConfig,
    registry: &Registry,
    keys: &[PublicKey],
    plugins: &std::path::Path,
    manager: &PluginManager,
    seen: &mut Seen,
) {
    let repository = source.repository.as_str();
    let versions = match registry.versions(repository).await {
        Ok(versions) => versions,
        Err(e) => {
            tracing::warn!(source = %repository, error = %e, "cannot list the source's versions; trying again later");
            return;
        }
    };
    // The highest accepted version not refused before: a bad newest one
    // does not hold back a good one published after it.
    let reference = |v: &semver::Version| format!("{repository}:{v}");
    let accepted = |v: &&semver::Version| source.version.matches(v) && !seen.refused.contains(&reference(v));
    let Some(newest) = versions.iter().find(accepted).cloned() else { return };
    let reference = reference(&newest);
    let lock = match Lock::read(plugins) {
        Ok(lock) => lock,
        Err(e) => {
            tracing::warn!(source = %repository, error = %e, "cannot read the lock; nothing is installed until it is fixed");
            return;
        }
    };
    let installed = lock.plugins.iter().find(|e| warden_dist::repository_of(&e.reference) == repository);
    if let Some(entry) = installed
        && semver::Version::parse(&entry.version).is_ok_and(|v| v >= newest)
    {
        return;
    }
    let fetched = match registry.fetch(&reference, keys).await {
        Ok(f) => f,
        Err(e) => {
            // Unsigned may be signed later (cosign signs after pushing), a
            // registry or disk failure may pass: asked again, reported once.
            let retry = matches!(e.kind(), "unsigned" | "registry" | "io");
            let first = match retry {
                true => seen.waiting.insert(reference.clone()),
                false => seen.refused.insert(reference.clone()),
            };
            if first {
                tracing::warn!(source = %repository, reference = %reference, error = %e, "new version refused");
                let fields =
                    json!({ "reference": reference, "kind": e.kind(), "error": e.to_string(), "retried": retry });
                manager.audit("rollout-refused", None, fields);
            }
            return;
        }
    };
    let (plugins, manager) = (plugins.to_owned(), manager.clone());
    let (name, digest) = (fetched.artifact.name.clone(), fetched.artifact.digest());
    let outcome = tokio::task::spawn_blocking(move || install(&fetched, &plugins, &manager)).await;
    let result = outcome.unwrap_or_else(|e| Err(format!("the install task failed: {e}")));
    if let Err(reason) = result {
        seen.refused.insert(reference.clone());
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
    let held = warden_dist::InstallLock::acquire(plugins);
    let (_hold, installed) = match held.and_then(|h| warden_dist::install(fetched, plugins, false).map(|i| (h, i))) {
        Ok(done) => done,
        Err(e) => {
            audit_failed(&e.to_string());
            return Err(e.to_string());
        }
    };
    // The directory watcher, if on, may have applied the change already.
    let came_up = match manager.sync_folder(&installed.dir) {
        Ok(_) => warden_dist::came_up(manager, &name, &installed.version),
        Err(e) => Err(e.to_string()),
    };
    if let Err(reason) = came_up {
        if !installed.changed {
            // Nothing was swapped: nothing to put back.
        } else if installed.previous.is_some() {
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
    let recorded = Lock::read(plugins).and_then(|mut lock| {
        lock.set(installed.lock_entry(&reference));
        lock.write(plugins)
    });
    if let Err(e) = recorded {
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
