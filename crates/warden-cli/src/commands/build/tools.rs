//! Finding and running the toolchains `warden build` drives, with errors
//! that say what to install.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// A program a language's build needs.
pub(crate) struct Tool {
    /// What it is called, e.g. `componentize-js`.
    pub name: &'static str,
    /// How to install it, shown when it is missing.
    pub install: &'static str,
}

impl Tool {
    /// The program on `PATH`.
    pub fn on_path(&self) -> Result<PathBuf> {
        which(self.name).with_context(|| self.missing())
    }

    /// The program in `node_modules/.bin` of the plugin folder or of one of
    /// its parents (where `npm install` puts it), else on `PATH`.
    pub fn in_node_modules(&self, dir: &Path) -> Result<PathBuf> {
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        dir.ancestors()
            .map(|d| d.join("node_modules").join(".bin").join(self.name))
            .find(|p| p.is_file())
            .or_else(|| which(self.name))
            .with_context(|| self.missing())
    }

    fn missing(&self) -> String {
        format!("`{}` is not installed: {}", self.name, self.install)
    }
}

/// `name` in a folder of `PATH`.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// Runs `command`, its output going to ours; an error names `what` failed.
pub(crate) fn run(command: &mut Command, what: &str) -> Result<()> {
    let program = command.get_program().to_owned();
    // A tool's messages go to stderr: stdout is for what `warden` prints
    // (`warden test --json` prints one JSON document there).
    let status = command
        .stdout(std::io::stderr())
        .status()
        .with_context(|| format!("cannot run `{}`", Path::new(&program).display()))?;
    if !status.success() {
        bail!("{what} failed ({status}); its messages are above");
    }
    Ok(())
}

/// Copies the built component into place.
pub(crate) fn copy(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to).with_context(|| format!("cannot copy `{}` to `{}`", from.display(), to.display()))?;
    Ok(())
}

/// Writes `contents` to `path`, creating its folder.
pub(crate) fn write(path: &Path, contents: impl AsRef<[u8]>) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("cannot write `{}`", path.display()))
}

/// Whether `path` has one of `extensions`.
pub(crate) fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension().and_then(OsStr::to_str).is_some_and(|e| extensions.contains(&e))
}
