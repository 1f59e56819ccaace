//! Hot reload: a directory watcher that keeps a [`PluginManager`] in step
//! with the plugin folders on disk.
//!
//! File events are grouped per plugin folder and debounced: a folder is
//! synced once it has been quiet for the debounce time, so an editor's
//! write-to-temp-then-rename or a copy in several writes gives one reload.
//! A half-written component fails to compile and the old version keeps
//! serving; the write that completes it triggers another, successful,
//! reload. Pin `sha256` in the manifest to make a half-written file fail
//! for certain.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};

use crate::error::{Error, Result};
use crate::manager::{PluginManager, SyncAction};

/// Watches a plugin directory until dropped. Created by
/// [`PluginManager::watch`].
pub struct DirWatcher {
    dir: PathBuf,
    // Dropping the notify watcher closes the event channel, which stops the
    // sync thread.
    _watcher: RecommendedWatcher,
}

impl DirWatcher {
    /// The watched directory (canonical).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl std::fmt::Debug for DirWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirWatcher").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl PluginManager {
    /// Watches `dir` (the folder [`load_dir`](Self::load_dir) loaded) and
    /// syncs each plugin folder that changes, once it has been quiet for
    /// `debounce`: new folders load, changed ones reload (with rollback),
    /// removed ones unload after draining. Results are logged; each
    /// plugin's stats count reloads and failed reloads. Stops when the
    /// returned watcher is dropped.
    pub fn watch(&self, dir: impl AsRef<Path>, debounce: Duration) -> Result<DirWatcher> {
        let given = dir.as_ref();
        let dir = given.canonicalize().map_err(|e| Error::io("cannot watch the plugin directory", given, e))?;
        let (tx, rx) = mpsc::channel::<PathBuf>();
        let root = dir.clone();
        let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(event) if !matches!(event.kind, EventKind::Access(_)) => {
                for folder in event.paths.iter().filter_map(|p| plugin_folder(&root, p)) {
                    let _ = tx.send(folder);
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "plugin directory watch error"),
        })
        .map_err(|e| Error::Runtime(format!("cannot watch {}: {e}", dir.display())))?;
        watcher
            .watch(&dir, RecursiveMode::Recursive)
            .map_err(|e| Error::Runtime(format!("cannot watch {}: {e}", dir.display())))?;
        let manager = self.clone();
        std::thread::Builder::new()
            .name("warden-watch".into())
            .spawn(move || sync_loop(&manager, &rx, debounce))
            .map_err(|e| Error::Runtime(format!("cannot start the watch thread: {e}")))?;
        tracing::info!(dir = %dir.display(), ?debounce, "watching plugin directory");
        Ok(DirWatcher { dir, _watcher: watcher })
    }
}

/// The plugin folder (first level under `root`) that `path` is in; hidden
/// folders (`.name`, e.g. an install being staged) are not plugins.
fn plugin_folder(root: &Path, path: &Path) -> Option<PathBuf> {
    match path.strip_prefix(root).ok()?.components().next()? {
        Component::Normal(name) if !name.to_string_lossy().starts_with('.') => Some(root.join(name)),
        _ => None,
    }
}

fn sync_loop(manager: &PluginManager, events: &mpsc::Receiver<PathBuf>, debounce: Duration) {
    while let Ok(first) = events.recv() {
        let mut pending = BTreeSet::from([first]);
        loop {
            match events.recv_timeout(debounce) {
                Ok(folder) => {
                    pending.insert(folder);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        }
        for folder in pending {
            match manager.sync_folder(&folder) {
                Ok(SyncAction::Unchanged) => {}
                Ok(action) => tracing::info!(folder = %folder.display(), ?action, "plugin directory change applied"),
                Err(e) => {
                    tracing::warn!(folder = %folder.display(), error = %e, "plugin change not applied; the previous state stays")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_map_to_their_plugin_folder() {
        let root = Path::new("/p");
        assert_eq!(plugin_folder(root, Path::new("/p/echo/plugin.toml")), Some(PathBuf::from("/p/echo")));
        assert_eq!(plugin_folder(root, Path::new("/p/echo/sub/x.wasm")), Some(PathBuf::from("/p/echo")));
        assert_eq!(plugin_folder(root, Path::new("/p/echo")), Some(PathBuf::from("/p/echo")));
        assert_eq!(plugin_folder(root, Path::new("/p")), None);
        assert_eq!(plugin_folder(root, Path::new("/p/.staging/plugin.toml")), None);
        assert_eq!(plugin_folder(root, Path::new("/elsewhere/x")), None);
    }
}
