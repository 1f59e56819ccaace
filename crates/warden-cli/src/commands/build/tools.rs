//! Finding and running the toolchains `warden build` drives, with errors
//! that say what to install.

use std::ffi::OsStr;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

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

/// Whether build tools start in a process group of their own, which
/// [`stop_builds`] can end whole (a compiler's own children too). Only for
/// `warden dev`, whose signal handling stops the builds; otherwise a
/// terminal's Ctrl-C reaches the tools with `warden`, in one group.
static OWN_GROUP: AtomicBool = AtomicBool::new(false);
/// Set when the running builds must stop.
static STOP: AtomicBool = AtomicBool::new(false);

/// From now on, start build tools so that [`stop_builds`] can stop them.
pub(crate) fn stoppable_builds() {
    OWN_GROUP.store(true, Ordering::SeqCst);
}

/// Stops the running build tools (and any started later): their process
/// groups get SIGTERM, then SIGKILL after two seconds.
pub(crate) fn stop_builds() {
    STOP.store(true, Ordering::SeqCst);
}

/// Starts a build tool (with no input: one in a group of its own must not
/// read the terminal).
pub(crate) fn spawn(command: &mut Command) -> Result<Child> {
    #[cfg(unix)]
    if OWN_GROUP.load(Ordering::SeqCst) {
        std::os::unix::process::CommandExt::process_group(command, 0);
    }
    command
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot run `{}`", Path::new(command.get_program()).display()))
}

/// Waits for a build tool to end, or stops it if [`stop_builds`] is called.
pub(crate) fn wait(child: &mut Child) -> Result<ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().context("cannot wait for a build tool")? {
            return Ok(status);
        }
        if STOP.load(Ordering::SeqCst) {
            terminate(child);
            bail!("the build was stopped: warden is shutting down");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Ends a build tool and what it started: SIGTERM to its group, SIGKILL
/// to what is left once the tool has exited or after two seconds. The tool
/// is reaped last, so its process group id stays its own until then.
#[cfg(unix)]
fn terminate(child: &mut Child) {
    if !OWN_GROUP.load(Ordering::SeqCst) {
        let _ = child.kill();
        let _ = child.wait();
        return;
    }
    let group = child.id() as libc::pid_t;
    let signal = |signal| {
        // SAFETY: kill(2) has no memory effects; `-group` names the process
        // group `spawn` made for this child, whose leader is not reaped yet.
        #[allow(unsafe_code, reason = "FFI: kill(2) of a process group; std has no wrapper")]
        unsafe {
            libc::kill(-group, signal)
        };
    };
    signal(libc::SIGTERM);
    for _ in 0..100 {
        if exited(group) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(libc::SIGKILL);
    let _ = child.wait();
}

/// Whether the child `pid` has exited, without reaping it.
#[cfg(unix)]
fn exited(pid: libc::pid_t) -> bool {
    // SAFETY: `siginfo_t` is plain data, valid zeroed; waitid(2) only
    // writes into it, and WNOWAIT leaves the child to be reaped by `wait`.
    #[allow(unsafe_code, reason = "FFI: waitid(2) with WNOWAIT; std has no wrapper")]
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) == 0 && info.si_pid() != 0
    }
}

#[cfg(not(unix))]
fn terminate(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs `command`, its output going to ours; an error names `what` failed.
pub(crate) fn run(command: &mut Command, what: &str) -> Result<()> {
    // A tool's messages go to stderr: stdout is for what `warden` prints
    // (`warden test --json` prints one JSON document there).
    let status = wait(&mut spawn(command.stdout(std::io::stderr()))?)?;
    if !status.success() {
        bail!("{what} failed ({status}); its messages are above");
    }
    Ok(())
}

/// Runs `command` and returns its exit status and standard output.
pub(crate) fn output(command: &mut Command) -> Result<(ExitStatus, Vec<u8>)> {
    let mut child = spawn(command.stdout(Stdio::piped()))?;
    let mut stdout = child.stdout.take().context("no standard output")?;
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        stdout.read_to_end(&mut bytes).map(|_| bytes)
    });
    let status = wait(&mut child)?;
    let bytes = reader.join().map_err(|_| anyhow::anyhow!("the output reader panicked"))?;
    Ok((status, bytes.context("cannot read a build tool's output")?))
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
