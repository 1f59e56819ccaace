//! The WASI sandbox: what a plugin can see of the host.
//!
//! Deny by default: no preopened directories, no environment, no sockets,
//! no stdin, stdout discarded, stderr captured per call. Only the grants in
//! the manifest's `[permissions]` open anything.

use std::path::{Path, PathBuf};

use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

use crate::capture::Capture;
use crate::error::{Error, Result};
use crate::permissions::{Access, Permissions};

/// A validated, ready-to-apply set of grants for one plugin.
#[derive(Debug, Clone)]
pub(crate) struct Sandbox {
    dirs: Vec<(PathBuf, String, FsPerms)>,
    env: Vec<String>,
}

impl Sandbox {
    /// Checks the grants against the file system. Relative host paths are
    /// taken from `base` (the plugin folder).
    pub(crate) fn new(plugin: &str, permissions: &Permissions, base: &Path) -> Result<Sandbox> {
        let mut dirs = Vec::with_capacity(permissions.files.len());
        for grant in &permissions.files {
            let host = base.join(&grant.host);
            if !host.is_dir() {
                return Err(Error::Unsupported {
                    plugin: plugin.to_owned(),
                    message: format!(
                        "[permissions] files grants `{}`, which is not a directory; create it or fix the path",
                        host.display()
                    ),
                });
            }
            let perms = match grant.access {
                Access::ReadWrite => FsPerms::ReadWrite,
                _ => FsPerms::ReadOnly,
            };
            dirs.push((host, grant.guest.clone(), perms));
        }
        Ok(Sandbox { dirs, env: permissions.env.clone() })
    }

    /// Builds a fresh WASI context with exactly these grants.
    pub(crate) fn wasi(&self, stderr: &Capture) -> Result<WasiCtx> {
        let mut builder = WasiCtxBuilder::new();
        // No sockets at all (WASI's default only denies every address).
        builder.stderr(stderr.clone()).allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
        for name in &self.env {
            if let Ok(value) = std::env::var(name) {
                builder.env(name, value);
            }
        }
        for (host, guest, perms) in &self.dirs {
            builder
                .preopened_dir(host, guest, *perms)
                .map_err(|e| Error::Runtime(format!("cannot open granted directory `{}`: {e}", host.display())))?;
        }
        Ok(builder.build())
    }
}
