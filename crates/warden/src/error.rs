//! The one error type of the library, and its kinds.

use std::path::PathBuf;
use std::time::Duration;

use crate::hooks::Hook;
use crate::manager::PluginState;
use crate::manifest::ManifestError;

/// Everything that can go wrong loading or calling a plugin.
///
/// Each variant names the plugin and says what to do. Match on
/// [`Error::kind`] when you only need the category (for exit codes, metrics or
/// retry decisions).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The manifest (`plugin.toml`) could not be read or is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),

    /// A file could not be read or written.
    #[error("{context} `{}`: {source}", path.display())]
    Io {
        /// What Warden was doing.
        context: String,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// The component is not valid WebAssembly or could not be compiled.
    #[error(
        "plugin '{plugin}': `{}` is not a valid WebAssembly component: {message}; build it with `warden build` (or `cargo build --target wasm32-wasip2` for Rust)",
        file.display()
    )]
    InvalidComponent {
        /// Plugin name.
        plugin: String,
        /// The component file.
        file: PathBuf,
        /// What the validator or compiler said.
        message: String,
    },

    /// The component's sha256 differs from the manifest's pin.
    #[error(
        "plugin '{plugin}': sha256 of `{}` is {actual} but plugin.toml pins {expected}; rebuild or update the pin",
        file.display()
    )]
    HashMismatch {
        /// Plugin name.
        plugin: String,
        /// The component file.
        file: PathBuf,
        /// The pinned hash.
        expected: String,
        /// The hash of the file on disk.
        actual: String,
    },

    /// The plugin imports something no capability of the runtime provides,
    /// is built for none of the runtime's worlds, or asks for more than the
    /// runtime allows.
    #[error("plugin '{plugin}': {message}")]
    Unsupported {
        /// Plugin name.
        plugin: String,
        /// What is unsupported and what to do.
        message: String,
    },

    /// The plugin's `init` returned an error.
    #[error("plugin '{plugin}' failed to initialise ({code}): {message}; check its [config]")]
    InitFailed {
        /// Plugin name.
        plugin: String,
        /// The plugin's error code.
        code: String,
        /// The plugin's message.
        message: String,
    },

    /// A call ran past its wall-clock deadline and was stopped.
    #[error("{}", timeout_message(plugin, *hook, *timeout, *by_caller))]
    Timeout {
        /// Plugin name.
        plugin: String,
        /// The hook that was running.
        hook: Hook,
        /// How long the call had: the plugin's `[limits] timeout`, or less
        /// when `by_caller`.
        timeout: Duration,
        /// The call was a dependency call (through `warden:plugin/plugins`)
        /// and its caller's deadline came first: the caller ran out of
        /// time, not this plugin, so it does not count toward this
        /// plugin's back-off.
        by_caller: bool,
    },

    /// A call used up its fuel.
    #[error("plugin '{plugin}' ran out of fuel ({fuel}) in {hook}; raise [limits] fuel or fix the plugin")]
    OutOfFuel {
        /// Plugin name.
        plugin: String,
        /// The hook that was running.
        hook: Hook,
        /// The fuel per call.
        fuel: u64,
    },

    /// The plugin tried to grow its memory past its limit.
    #[error(
        "plugin '{plugin}' hit its memory limit of {limit} bytes in {hook}; raise [limits] memory or fix the plugin"
    )]
    MemoryLimit {
        /// Plugin name.
        plugin: String,
        /// The hook that was running.
        hook: Hook,
        /// The limit in bytes.
        limit: u64,
    },

    /// The plugin exhausted its wasm stack.
    #[error("plugin '{plugin}' overflowed its stack in {hook} (unbounded recursion?)")]
    StackOverflow {
        /// Plugin name.
        plugin: String,
        /// The hook that was running.
        hook: Hook,
    },

    /// The plugin returned more data than allowed.
    #[error(
        "plugin '{plugin}' returned {size} bytes from {hook}, over its {limit}-byte limit; raise [limits] max-output or return less"
    )]
    OutputTooLarge {
        /// Plugin name.
        plugin: String,
        /// The hook that was running.
        hook: Hook,
        /// The size returned.
        size: u64,
        /// The limit.
        limit: u64,
    },

    /// The plugin trapped (panicked, hit `unreachable`, accessed memory out of bounds...).
    #[error("plugin '{plugin}' trapped in {hook}: {message}")]
    Trap {
        /// Plugin name.
        plugin: String,
        /// The hook that was running.
        hook: Hook,
        /// The trap, with the plugin's panic message when it printed one.
        message: String,
    },

    /// The plugin does not export the hook that was called.
    #[error("plugin '{plugin}' does not export {hook}; it exports: {}", list_hooks(exported))]
    HookNotExported {
        /// Plugin name.
        plugin: String,
        /// The hook that was asked for.
        hook: Hook,
        /// The hooks it does export.
        exported: Vec<Hook>,
    },

    /// The plugin is not of the world a call was made for.
    #[error(
        "plugin '{plugin}' does not export world {world}, so it cannot be called with {function}; it exports: {}",
        worlds.join(", ")
    )]
    WorldNotExported {
        /// Plugin name.
        plugin: String,
        /// The world of the call.
        world: &'static str,
        /// The function called.
        function: &'static str,
        /// The runtime's worlds the plugin does export.
        worlds: Vec<&'static str>,
    },

    /// The plugin did something its manifest does not permit.
    #[error("plugin '{plugin}' is not permitted to {action}; grant `{permission}` in [permissions] if it should")]
    CapabilityDenied {
        /// Plugin name.
        plugin: String,
        /// What it tried.
        action: String,
        /// The manifest permission that would allow it.
        permission: String,
    },

    /// The plugin returned its own error from a hook.
    #[error("plugin '{plugin}' returned an error from {hook} ({code}): {message}")]
    Plugin {
        /// Plugin name.
        plugin: String,
        /// The hook.
        hook: Hook,
        /// The plugin's error code.
        code: String,
        /// The plugin's message.
        message: String,
    },

    /// Every instance of the plugin stayed busy for the whole wait.
    #[error("plugin '{plugin}' is busy: all {max_instances} instances stayed in use for {} ms; raise [limits] max-instances or max-wait", waited.as_millis())]
    Busy {
        /// Plugin name.
        plugin: String,
        /// The instance limit.
        max_instances: u32,
        /// How long the caller waited.
        waited: Duration,
    },

    /// A `[dependencies]` entry cannot be satisfied: the plugin is missing,
    /// failed, has an incompatible version, or the dependencies form a cycle.
    #[error("plugin '{plugin}' depends on '{dependency}' {required}, but {problem}")]
    Dependency {
        /// The dependent plugin.
        plugin: String,
        /// The plugin it depends on.
        dependency: String,
        /// The accepted versions, e.g. `^1.2`.
        required: String,
        /// What is wrong and what to do.
        problem: String,
    },

    /// No plugin of that name is loaded in the manager.
    #[error("no plugin named '{plugin}' is loaded; loaded plugins: {}", if known.is_empty() { "none".to_owned() } else { known.join(", ") })]
    UnknownPlugin {
        /// The name asked for.
        plugin: String,
        /// The names that are loaded.
        known: Vec<String>,
    },

    /// A host-side service the plugin was granted (the key-value store)
    /// did not answer before the call's deadline, so the call was stopped.
    /// The service is at fault, not the plugin: this is not a timeout of the
    /// plugin and does not count toward its back-off.
    #[error(
        "plugin '{plugin}' could not finish {hook}: {service} did not answer within the call's {} ms; check {service} (the plugin is not at fault and is not backed off)",
        timeout.as_millis()
    )]
    ServiceUnavailable {
        /// Plugin name.
        plugin: String,
        /// The hook that was running.
        hook: Hook,
        /// The service, e.g. `the key-value store (redis redis://10.0.0.5:6379/0)`.
        service: String,
        /// How long the call had.
        timeout: Duration,
    },

    /// The plugin is loaded but not taking calls (disabled, failed or
    /// backing off); `reason` says what to do.
    #[error("plugin '{plugin}' is {state} and does not take calls: {reason}")]
    Unavailable {
        /// Plugin name.
        plugin: String,
        /// Its state.
        state: PluginState,
        /// Why, and what to do.
        reason: String,
    },

    /// The host's admission policy (see [`Admission`](crate::Admission)),
    /// e.g. a trust policy that requires signatures, refused the plugin.
    #[error("plugin '{plugin}' was refused: {reason}")]
    NotAdmitted {
        /// Plugin name.
        plugin: String,
        /// Why, and what to do.
        reason: String,
    },

    /// The runtime itself failed (engine set-up, instantiation resources).
    #[error("{0}")]
    Runtime(String),
}

fn list_hooks(hooks: &[Hook]) -> String {
    if hooks.is_empty() {
        return "no hooks".to_owned();
    }
    hooks.iter().map(|h| h.as_str()).collect::<Vec<_>>().join(", ")
}

/// The category of an [`Error`], stable for exit codes and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::Manifest`]
    Manifest,
    /// [`Error::Io`]
    Io,
    /// [`Error::InvalidComponent`]
    InvalidComponent,
    /// [`Error::HashMismatch`]
    HashMismatch,
    /// [`Error::Unsupported`]
    Unsupported,
    /// [`Error::InitFailed`]
    InitFailed,
    /// [`Error::Timeout`]
    Timeout,
    /// [`Error::OutOfFuel`]
    OutOfFuel,
    /// [`Error::MemoryLimit`]
    MemoryLimit,
    /// [`Error::StackOverflow`]
    StackOverflow,
    /// [`Error::OutputTooLarge`]
    OutputTooLarge,
    /// [`Error::Trap`]
    Trap,
    /// [`Error::HookNotExported`]
    HookNotExported,
    /// [`Error::CapabilityDenied`]
    CapabilityDenied,
    /// [`Error::Plugin`]
    Plugin,
    /// [`Error::Busy`]
    Busy,
    /// [`Error::Dependency`]
    Dependency,
    /// [`Error::UnknownPlugin`]
    UnknownPlugin,
    /// [`Error::Unavailable`]
    Unavailable,
    /// [`Error::ServiceUnavailable`]
    ServiceUnavailable,
    /// [`Error::NotAdmitted`]
    NotAdmitted,
    /// [`Error::Runtime`]
    Runtime,
}

impl ErrorKind {
    /// Every kind, in a stable order.
    pub const ALL: [ErrorKind; 22] = [
        ErrorKind::Manifest,
        ErrorKind::Io,
        ErrorKind::InvalidComponent,
        ErrorKind::HashMismatch,
        ErrorKind::Unsupported,
        ErrorKind::InitFailed,
        ErrorKind::Timeout,
        ErrorKind::OutOfFuel,
        ErrorKind::MemoryLimit,
        ErrorKind::StackOverflow,
        ErrorKind::OutputTooLarge,
        ErrorKind::Trap,
        ErrorKind::HookNotExported,
        ErrorKind::CapabilityDenied,
        ErrorKind::Plugin,
        ErrorKind::Busy,
        ErrorKind::Dependency,
        ErrorKind::UnknownPlugin,
        ErrorKind::Unavailable,
        ErrorKind::ServiceUnavailable,
        ErrorKind::NotAdmitted,
        ErrorKind::Runtime,
    ];

    /// Short kebab-case name, e.g. `"timeout"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Manifest => "manifest",
            ErrorKind::Io => "io",
            ErrorKind::InvalidComponent => "invalid-component",
            ErrorKind::HashMismatch => "hash-mismatch",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::InitFailed => "init-failed",
            ErrorKind::Timeout => "timeout",
            ErrorKind::OutOfFuel => "out-of-fuel",
            ErrorKind::MemoryLimit => "memory-limit",
            ErrorKind::StackOverflow => "stack-overflow",
            ErrorKind::OutputTooLarge => "output-too-large",
            ErrorKind::Trap => "trap",
            ErrorKind::HookNotExported => "hook-not-exported",
            ErrorKind::CapabilityDenied => "capability-denied",
            ErrorKind::Plugin => "plugin-error",
            ErrorKind::Busy => "busy",
            ErrorKind::Dependency => "dependency",
            ErrorKind::UnknownPlugin => "unknown-plugin",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::ServiceUnavailable => "service-unavailable",
            ErrorKind::NotAdmitted => "not-admitted",
            ErrorKind::Runtime => "runtime",
        }
    }

    /// Whether an error of this kind was raised while a plugin was running
    /// and discarded the instance it ran on (a trap or a limit hit).
    pub fn is_trap(self) -> bool {
        matches!(
            self,
            ErrorKind::Timeout
                | ErrorKind::OutOfFuel
                | ErrorKind::MemoryLimit
                | ErrorKind::StackOverflow
                | ErrorKind::Trap
        )
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl Error {
    /// The category of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Manifest(_) => ErrorKind::Manifest,
            Error::Io { .. } => ErrorKind::Io,
            Error::InvalidComponent { .. } => ErrorKind::InvalidComponent,
            Error::HashMismatch { .. } => ErrorKind::HashMismatch,
            Error::Unsupported { .. } => ErrorKind::Unsupported,
            Error::InitFailed { .. } => ErrorKind::InitFailed,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::OutOfFuel { .. } => ErrorKind::OutOfFuel,
            Error::MemoryLimit { .. } => ErrorKind::MemoryLimit,
            Error::StackOverflow { .. } => ErrorKind::StackOverflow,
            Error::OutputTooLarge { .. } => ErrorKind::OutputTooLarge,
            Error::Trap { .. } => ErrorKind::Trap,
            Error::HookNotExported { .. } | Error::WorldNotExported { .. } => ErrorKind::HookNotExported,
            Error::CapabilityDenied { .. } => ErrorKind::CapabilityDenied,
            Error::Plugin { .. } => ErrorKind::Plugin,
            Error::Busy { .. } => ErrorKind::Busy,
            Error::Dependency { .. } => ErrorKind::Dependency,
            Error::UnknownPlugin { .. } => ErrorKind::UnknownPlugin,
            Error::Unavailable { .. } => ErrorKind::Unavailable,
            Error::ServiceUnavailable { .. } => ErrorKind::ServiceUnavailable,
            Error::NotAdmitted { .. } => ErrorKind::NotAdmitted,
            Error::Runtime(_) => ErrorKind::Runtime,
        }
    }

    pub(crate) fn io(context: impl Into<String>, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), path: path.into(), source }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The message of [`Error::Timeout`].
fn timeout_message(plugin: &str, hook: Hook, timeout: Duration, by_caller: bool) -> String {
    let ms = timeout.as_millis();
    match by_caller {
        false => format!(
            "plugin '{plugin}' exceeded its {ms} ms timeout in {hook}; raise [limits] timeout or fix the plugin"
        ),
        true => format!(
            "plugin '{plugin}' was stopped in {hook} after {ms} ms: the plugin calling it reached its deadline; raise the caller's [limits] timeout or make this call faster"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_are_unique_and_kebab_case() {
        let names: std::collections::HashSet<_> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), ErrorKind::ALL.len());
        assert!(names.iter().all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '-')));
    }

    #[test]
    fn messages_name_the_plugin_and_what_to_do() {
        let timeout = Duration::from_millis(100);
        let e = Error::Timeout { plugin: "slow".into(), hook: Hook::OnRequest, timeout, by_caller: false };
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert_eq!(
            e.to_string(),
            "plugin 'slow' exceeded its 100 ms timeout in on-request; raise [limits] timeout or fix the plugin"
        );
        let e = Error::Timeout { plugin: "dep".into(), hook: Hook::Handle, timeout, by_caller: true };
        assert_eq!(
            e.to_string(),
            "plugin 'dep' was stopped in handle after 100 ms: the plugin calling it reached its deadline; raise the caller's [limits] timeout or make this call faster"
        );
        let e = Error::HookNotExported { plugin: "p".into(), hook: Hook::OnRequest, exported: vec![Hook::Handle] };
        assert!(e.to_string().contains("does not export on-request; it exports: handle"));
    }
}
