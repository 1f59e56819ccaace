//! Installing a verified plugin into a plugins directory, and the lock
//! file that pins what is installed.
//!
//! A plugin is written into a hidden staging folder beside its target
//! (`.warden-install-*`, which managers and watchers ignore), then swapped
//! in with one atomic rename: a manager sees the old version or the new
//! one, never a half-written folder. The version it replaced is kept as
//! `.warden-previous-<name>` until the next install of that name, so a
//! failed update can be [rolled back](rollback).

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::DistError;
use crate::local::{SIGNATURE_FILE, SignatureFile};
use crate::registry::Fetched;

/// The lock file's name, in the plugins directory.
pub const LOCK_FILE: &str = "warden.lock";

/// One installed plugin, as `warden.lock` pins it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockEntry {
    /// The plugin's name (its folder).
    pub name: String,
    /// Its version.
    pub version: String,
    /// The reference it was installed from, e.g. `127.0.0.1:5000/plugins/auth:1.2.0`.
    pub reference: String,
    /// Its manifest digest, `sha256:<hex>`.
    pub digest: String,
}

impl LockEntry {
    /// The reference pinned to the digest: `registry/repository@sha256:...`.
    pub fn pinned(&self) -> String {
        format!("{}@{}", repository_of(&self.reference), self.digest)
    }
}

/// `registry/repository` of `registry/repository:tag` or
/// `registry/repository@sha256:...`.
pub fn repository_of(reference: &str) -> &str {
    if let Some((repository, _)) = reference.split_once('@') {
        return repository;
    }
    let last_slash = reference.rfind('/').unwrap_or(0);
    match reference[last_slash..].rfind(':') {
        Some(colon) => &reference[..last_slash + colon],
        None => reference,
    }
}

/// `warden.lock`: what is installed in a plugins directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// The format version (1).
    pub version: u32,
    /// The plugins, by name.
    #[serde(default, rename = "plugin")]
    pub plugins: Vec<LockEntry>,
}

impl Lock {
    /// The lock of `plugins_dir`; empty when it has none.
    pub fn read(plugins_dir: &Path) -> Result<Lock, DistError> {
        let path = plugins_dir.join(LOCK_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Lock { version: 1, plugins: Vec::new() }),
            Err(e) => return Err(DistError::io(&path, e)),
        };
        let lock: Lock = toml::from_str(&text).map_err(|e| DistError::Lock {
            path: path.clone(),
            message: format!("{}; restore it from version control, or delete it and install again", e.message()),
        })?;
        if lock.version != 1 {
            return Err(DistError::Lock {
                path,
                message: format!("lock format {} is not one this warden reads (1)", lock.version),
            });
        }
        Ok(lock)
    }

    /// Writes the lock into `plugins_dir` (sorted by name, atomically).
    pub fn write(&mut self, plugins_dir: &Path) -> Result<(), DistError> {
        self.plugins.sort_by(|a, b| a.name.cmp(&b.name));
        let path = plugins_dir.join(LOCK_FILE);
        let text = format!(
            "# Written by warden install and warden update: what this plugins directory holds.\n# Commit it; `warden install --locked` reproduces the directory from it.\n{}",
            toml::to_string(self).unwrap_or_default()
        );
        let partial = plugins_dir.join(format!(".{LOCK_FILE}.partial"));
        std::fs::write(&partial, text).map_err(|e| DistError::io(&partial, e))?;
        std::fs::rename(&partial, &path).map_err(|e| DistError::io(&path, e))
    }

    /// The entry of `name`.
    pub fn get(&self, name: &str) -> Option<&LockEntry> {
        self.plugins.iter().find(|e| e.name == name)
    }

    /// Sets the entry of `entry.name`.
    pub fn set(&mut self, entry: LockEntry) {
        self.plugins.retain(|e| e.name != entry.name);
        self.plugins.push(entry);
    }
}

/// An exclusive hold on the installs of a plugins directory (the file
/// `.warden-install.lock` in it, locked with `flock`), so that two
/// installers (two `warden install`, or one and a gateway's `[[source]]`)
/// never interleave their swaps and lock writes. Released when dropped.
#[derive(Debug)]
pub struct InstallLock(#[allow(dead_code, reason = "held for its lock")] std::fs::File);

impl InstallLock {
    /// Waits for, and takes, the hold on `plugins_dir`.
    pub fn acquire(plugins_dir: &Path) -> Result<InstallLock, DistError> {
        std::fs::create_dir_all(plugins_dir).map_err(|e| DistError::io(plugins_dir, e))?;
        let path = plugins_dir.join(".warden-install.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| DistError::io(&path, e))?;
        file.lock().map_err(|e| DistError::io(&path, e))?;
        Ok(InstallLock(file))
    }
}

/// What [`install`] did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Installed {
    /// The plugin's name.
    pub name: String,
    /// The version now installed.
    pub version: String,
    /// Its digest.
    pub digest: String,
    /// Its folder.
    pub dir: PathBuf,
    /// The version it replaced, if any.
    pub previous: Option<String>,
    /// Whether anything changed (`false`: that digest was installed).
    pub changed: bool,
}

impl Installed {
    /// The lock entry of this install, from `reference`.
    pub fn lock_entry(&self, reference: &str) -> LockEntry {
        LockEntry {
            name: self.name.clone(),
            version: self.version.clone(),
            reference: reference.into(),
            digest: self.digest.clone(),
        }
    }
}

/// Installs the verified plugin `fetched` into `plugins_dir/<name>`,
/// replacing an older version atomically. A newer installed version is not
/// replaced unless `allow_downgrade`. Hold an [`InstallLock`] around it and
/// the lock file's update.
pub fn install(fetched: &Fetched, plugins_dir: &Path, allow_downgrade: bool) -> Result<Installed, DistError> {
    let artifact = &fetched.artifact;
    let name = artifact.name.clone();
    let target = plugins_dir.join(&name);
    let digest = artifact.digest();
    let mut installed = Installed {
        name: name.clone(),
        version: artifact.version.clone(),
        digest: digest.clone(),
        dir: target.clone(),
        previous: None,
        changed: true,
    };
    if target.exists() {
        check_owner(fetched, plugins_dir, &target)?;
    }
    if target.join("plugin.toml").is_file() {
        let current = warden::Manifest::from_dir(&target)?;
        installed.previous = Some(current.version.to_string());
        if is_installed(fetched, &target, &current)? {
            installed.changed = false;
            return Ok(installed);
        }
        let offered = semver::Version::parse(&artifact.version).map_err(|e| DistError::Registry {
            reference: fetched.reference.clone(),
            message: format!("version {} is not semver: {e}", artifact.version),
        })?;
        if offered < current.version && !allow_downgrade {
            return Err(DistError::Downgrade {
                plugin: name,
                installed: current.version.to_string(),
                offered: artifact.version.clone(),
            });
        }
    }
    std::fs::create_dir_all(plugins_dir).map_err(|e| DistError::io(plugins_dir, e))?;
    let staging = tempfile::Builder::new()
        .prefix(".warden-install-")
        .tempdir_in(plugins_dir)
        .map_err(|e| DistError::io(plugins_dir, e))?;
    write_plugin(fetched, staging.path())?;
    // From here on the staging folder is never removed behind our back:
    // after the exchange it holds the old version.
    let staging = staging.keep();
    if target.exists() {
        let previous = plugins_dir.join(format!(".warden-previous-{name}"));
        remove_dir(&previous)?;
        exchange(&staging, &target)?;
        // The staging folder now holds the old version: kept for rollback.
        std::fs::rename(&staging, &previous).map_err(|e| DistError::io(&previous, e))?;
    } else if let Err(e) = std::fs::rename(&staging, &target) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(DistError::io(&target, e));
    }
    Ok(installed)
}

/// A folder already in `target` may be replaced only by the same plugin
/// from the same repository: one installed from elsewhere, or by hand, is
/// not taken over by whoever can sign a plugin of that name.
fn check_owner(fetched: &Fetched, plugins_dir: &Path, target: &Path) -> Result<(), DistError> {
    let lock = Lock::read(plugins_dir)?;
    let name = &fetched.artifact.name;
    let message = match lock.get(name) {
        Some(entry) if repository_of(&entry.reference) == repository_of(&fetched.reference) => return Ok(()),
        Some(entry) => format!(
            "plugin '{name}' in {} was installed from {}, not {}; remove the folder (and its warden.lock entry) to replace it",
            target.display(),
            repository_of(&entry.reference),
            repository_of(&fetched.reference)
        ),
        None => format!(
            "{} exists and was not installed from a registry (warden.lock has no '{name}'); move it away to install {} there",
            target.display(),
            fetched.reference
        ),
    };
    Err(DistError::Lock { path: plugins_dir.join(LOCK_FILE), message })
}

/// Whether `target` holds exactly the plugin `fetched`: its plugin.toml,
/// its component and a signature of its manifest.
fn is_installed(fetched: &Fetched, target: &Path, current: &warden::Manifest) -> Result<bool, DistError> {
    let signed = SignatureFile::read(target, &current.name)?.map(|f| crate::sha256_digest(f.manifest.as_bytes()));
    if signed.as_deref() != Some(fetched.artifact.digest().as_str()) {
        return Ok(false);
    }
    let same_toml = std::fs::read_to_string(&current.file).is_ok_and(|t| t == fetched.artifact.plugin_toml);
    let same_component = std::fs::read(&current.component).is_ok_and(|c| c == fetched.artifact.component);
    Ok(same_toml && same_component)
}

/// Puts back the version the last [`install`] of `name` replaced; the
/// version rolled back from is removed. Fails when there is none.
pub fn rollback(plugins_dir: &Path, name: &str) -> Result<(), DistError> {
    let previous = plugins_dir.join(format!(".warden-previous-{name}"));
    let target = plugins_dir.join(name);
    if !previous.join("plugin.toml").is_file() {
        return Err(DistError::io(
            &previous,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no previous version to roll back to"),
        ));
    }
    exchange(&previous, &target)?;
    remove_dir(&previous)
}

/// Whether the plugin `name` came up in `manager` after an install of
/// `version`: that version serves, and the plugin reports itself healthy.
/// `Err` says why not, for a rollback's report.
pub fn came_up(manager: &warden::PluginManager, name: &str, version: &str) -> Result<(), String> {
    let info = manager.info(name).map_err(|e| e.to_string())?;
    if info.version.map(|v| v.to_string()).as_deref() != Some(version) {
        let why = info.last_error.unwrap_or_else(|| "the new version was not loaded".into());
        return Err(format!("it failed to load: {why}"));
    }
    match manager.check_health().into_iter().find(|(n, _)| n == name).map(|(_, h)| h) {
        Some(Ok(warden::HealthStatus::Unhealthy(reason))) => Err(format!("it reports itself unhealthy: {reason}")),
        Some(Err(e)) => Err(format!("its health check failed: {e}")),
        Some(Ok(_)) => Ok(()),
        None => Err("it is not running after loading".into()),
    }
}

/// Writes plugin.toml, the component and plugin.sig into `dir`.
fn write_plugin(fetched: &Fetched, dir: &Path) -> Result<(), DistError> {
    let artifact = &fetched.artifact;
    let manifest = warden::Manifest::parse(&artifact.plugin_toml, &dir.join("plugin.toml"))?;
    // The component must land inside the folder.
    let relative = manifest.component.strip_prefix(dir).ok().filter(|r| {
        r.components().all(|c| matches!(c, Component::Normal(_))) && r.file_name().is_some_and(|n| n != SIGNATURE_FILE)
    });
    let Some(relative) = relative else {
        return Err(DistError::Registry {
            reference: fetched.reference.clone(),
            message: format!(
                "its plugin.toml names the component `{}`, outside the plugin's folder; it cannot be installed",
                manifest.component.display()
            ),
        });
    };
    let component = dir.join(relative);
    if let Some(parent) = component.parent() {
        std::fs::create_dir_all(parent).map_err(|e| DistError::io(parent, e))?;
    }
    std::fs::write(&component, &artifact.component).map_err(|e| DistError::io(&component, e))?;
    let toml = dir.join("plugin.toml");
    std::fs::write(&toml, &artifact.plugin_toml).map_err(|e| DistError::io(&toml, e))?;
    fetched.signature.write(dir)?;
    Ok(())
}

fn remove_dir(dir: &Path) -> Result<(), DistError> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(DistError::io(dir, e)),
        _ => Ok(()),
    }
}

/// Swaps the folders `a` and `b` in one step (renameat2 with
/// RENAME_EXCHANGE); where the file system cannot, by two renames.
fn exchange(a: &Path, b: &Path) -> Result<(), DistError> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt as _;
        let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(|e| DistError::io(p, e.into()));
        let (ca, cb) = (c(a)?, c(b)?);
        #[allow(unsafe_code, reason = "FFI: renameat2(2) with RENAME_EXCHANGE; std has no wrapper")]
        // SAFETY: both paths are NUL-terminated C strings that outlive the call.
        let rc =
            unsafe { libc::renameat2(libc::AT_FDCWD, ca.as_ptr(), libc::AT_FDCWD, cb.as_ptr(), libc::RENAME_EXCHANGE) };
        if rc == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if !matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)) {
            return Err(DistError::io(b, e));
        }
    }
    let aside = b.with_file_name(format!(
        ".warden-swap-{}",
        b.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    ));
    std::fs::rename(b, &aside).map_err(|e| DistError::io(b, e))?;
    std::fs::rename(a, b).map_err(|e| DistError::io(a, e))?;
    std::fs::rename(&aside, a).map_err(|e| DistError::io(a, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_locks_exclude_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let held = InstallLock::acquire(dir.path()).unwrap();
        let path = dir.path().join(".warden-install.lock");
        let other = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        assert!(other.try_lock().is_err(), "a second installer waits");
        drop(held);
        assert!(other.try_lock().is_ok());
    }

    #[test]
    fn references_pin_to_their_digest() {
        let e = LockEntry {
            name: "auth".into(),
            version: "1.0.0".into(),
            reference: "127.0.0.1:5000/plugins/auth:1.0.0".into(),
            digest: "sha256:ab".into(),
        };
        assert_eq!(e.pinned(), "127.0.0.1:5000/plugins/auth@sha256:ab");
        assert_eq!(repository_of("127.0.0.1:5000/plugins/auth"), "127.0.0.1:5000/plugins/auth");
        assert_eq!(repository_of("127.0.0.1:5000/plugins/auth:1.0.0"), "127.0.0.1:5000/plugins/auth");
        assert_eq!(repository_of("127.0.0.1:5000/plugins/auth@sha256:ab"), "127.0.0.1:5000/plugins/auth");
    }

    #[test]
    fn locks_round_trip_and_bad_ones_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut lock = Lock::read(dir.path()).unwrap();
        lock.set(LockEntry {
            name: "b".into(),
            version: "1.0.0".into(),
            reference: "r/b:1.0.0".into(),
            digest: "sha256:00".into(),
        });
        lock.write(dir.path()).unwrap();
        assert_eq!(Lock::read(dir.path()).unwrap(), lock);
        std::fs::write(dir.path().join(LOCK_FILE), "version = 1\n[[plugin]]\nname = 3\n").unwrap();
        let e = Lock::read(dir.path()).unwrap_err();
        assert_eq!(e.kind(), "lock");
        assert!(e.to_string().contains("warden.lock"), "{e}");
    }

    #[test]
    fn exchange_swaps_folders() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        std::fs::write(a.join("x"), "a").unwrap();
        std::fs::write(b.join("x"), "b").unwrap();
        exchange(&a, &b).unwrap();
        assert_eq!(std::fs::read_to_string(a.join("x")).unwrap(), "b");
        assert_eq!(std::fs::read_to_string(b.join("x")).unwrap(), "a");
    }
}
