//! The WASI capability: WASI 0.2 (files, environment, clocks, random,
//! stdio) inside the sandbox of [`sandbox`], with blocking waits bounded by
//! the call's deadline ([`poll`]).
//!
//! Deny by default: no preopened directories, no environment, no sockets,
//! no stdin, stdout discarded, stderr captured per call. Only the grants in
//! the manifest's `[permissions] files` and `env` open anything.

mod poll;
mod sandbox;

use std::sync::Arc;

use wasmtime_wasi::WasiCtx;

use crate::capability::{Capability, GrantContext, Linker};
use crate::capture::Capture;
use crate::error::Error;
use sandbox::Sandbox;

/// The built-in WASI capability.
pub(crate) struct Wasi;

/// Per instance: the WASI context and what the plugin writes to stderr.
pub(crate) struct WasiState {
    pub ctx: WasiCtx,
    pub stderr: Capture,
}

impl Capability for Wasi {
    type Grant = Sandbox;
    type State = WasiState;

    fn name(&self) -> &str {
        "wasi"
    }

    fn interfaces(&self) -> &[&str] {
        &["wasi:"]
    }

    fn permissions(&self) -> &[&str] {
        &["files", "env"]
    }

    fn add_to_linker(&self, linker: &mut Linker) -> wasmtime::Result<()> {
        wasmtime_wasi::p2::add_to_linker_sync(linker)?;
        poll::add_to_linker(linker)
    }

    fn grant(&self, cx: &GrantContext<'_>) -> Result<Sandbox, Error> {
        let manifest = cx.manifest();
        Sandbox::new(&manifest.name, &manifest.permissions, &manifest.dir)
    }

    fn instantiate(&self, grant: &Arc<Sandbox>) -> wasmtime::Result<WasiState> {
        let stderr = Capture::default();
        let ctx = grant.wasi(&stderr).map_err(wasmtime::Error::msg)?;
        Ok(WasiState { ctx, stderr })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Access, Manifest, Permissions};

    #[test]
    fn grants_are_checked_at_load_and_opened_per_instance() {
        let dir = tempfile::TempDir::new().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let mut manifest = Manifest::new("p", dir.path().join("p.wasm"));
        manifest.permissions = Permissions::default().file("data", "/data", Access::ReadOnly).env("HOME");
        let grant = Arc::new(Wasi.grant(&GrantContext::new(&manifest)).unwrap());
        assert!(Wasi.instantiate(&grant).is_ok());
        // Gone after load: the next instance fails, naming the folder.
        std::fs::remove_dir(&data).unwrap();
        let e = Wasi.instantiate(&grant).err().expect("the folder is gone");
        assert!(e.to_string().contains("cannot open granted directory"), "{e}");
        // Missing at load: the load fails.
        let e = Wasi.grant(&GrantContext::new(&manifest)).expect_err("no such folder");
        assert!(e.to_string().contains("which is not a directory"), "{e}");
    }
}
