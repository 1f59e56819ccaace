//! Sandbox limits: every resource bound a plugin runs under, in one place.
//!
//! Limits come from the manifest's `[limits]` table (see `docs/MANIFEST.md`)
//! or from [`Limits`] builder methods. Every field has a safe default.

use std::time::Duration;

/// Resource limits for one plugin.
///
/// ```
/// use std::time::Duration;
/// use warden::Limits;
///
/// let limits = Limits::default()
///     .memory(16 << 20)
///     .timeout(Duration::from_millis(50))
///     .fuel(Some(10_000_000));
/// assert_eq!(limits.memory_bytes, 16 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest linear memory a plugin instance may grow to, in bytes.
    pub memory_bytes: u64,
    /// Wall-clock deadline for one call, enforced by epoch interruption.
    pub timeout: Duration,
    /// Fuel (roughly, wasm instructions) per call; `None` means unmetered.
    /// Refilled before every call.
    pub fuel: Option<u64>,
    /// Largest wasm stack, in bytes.
    pub stack_bytes: usize,
    /// Most instances of this plugin alive at once.
    pub max_instances: u32,
    /// How long a call waits for a free instance when all `max_instances`
    /// are busy, before it fails with [`Error::Busy`](crate::Error::Busy).
    pub max_wait: Duration,
    /// Largest result a call may return (bodies, headers, payloads), in bytes.
    pub max_output_bytes: u64,
    /// Whether an instance is kept between calls.
    pub instance_policy: InstancePolicy,
    /// Most outbound HTTP requests one call may send (redirects count).
    pub max_outbound_requests: u32,
    /// Largest outbound HTTP response body a plugin may receive, in bytes.
    pub max_outbound_response_bytes: u64,
    /// Most bytes (keys plus values) the plugin may keep in the key-value store.
    pub key_value_quota_bytes: u64,
}

/// Default linear memory cap: 64 MiB.
pub const DEFAULT_MEMORY_BYTES: u64 = 64 << 20;
/// Default per-call deadline: 1 second.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default wasm stack: 512 KiB.
pub const DEFAULT_STACK_BYTES: usize = 512 << 10;
/// Default instances per plugin: 4.
pub const DEFAULT_MAX_INSTANCES: u32 = 4;
/// Default wait for a free instance: 1 second.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(1);
/// Default output cap: 4 MiB.
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 4 << 20;
/// Default outbound HTTP requests per call: 10.
pub const DEFAULT_MAX_OUTBOUND_REQUESTS: u32 = 10;
/// Default outbound HTTP response body cap: 1 MiB.
pub const DEFAULT_MAX_OUTBOUND_RESPONSE_BYTES: u64 = 1 << 20;
/// Default key-value quota: 1 MiB.
pub const DEFAULT_KEY_VALUE_QUOTA_BYTES: u64 = 1 << 20;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: DEFAULT_MEMORY_BYTES,
            timeout: DEFAULT_TIMEOUT,
            fuel: None,
            stack_bytes: DEFAULT_STACK_BYTES,
            max_instances: DEFAULT_MAX_INSTANCES,
            max_wait: DEFAULT_MAX_WAIT,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            instance_policy: InstancePolicy::Reuse,
            max_outbound_requests: DEFAULT_MAX_OUTBOUND_REQUESTS,
            max_outbound_response_bytes: DEFAULT_MAX_OUTBOUND_RESPONSE_BYTES,
            key_value_quota_bytes: DEFAULT_KEY_VALUE_QUOTA_BYTES,
        }
    }
}

impl Limits {
    /// Sets the linear memory cap in bytes.
    pub fn memory(mut self, bytes: u64) -> Self {
        self.memory_bytes = bytes;
        self
    }

    /// Sets the wall-clock deadline per call.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the fuel per call (`None`: unmetered).
    pub fn fuel(mut self, fuel: Option<u64>) -> Self {
        self.fuel = fuel;
        self
    }

    /// Sets the wasm stack size in bytes.
    pub fn stack(mut self, bytes: usize) -> Self {
        self.stack_bytes = bytes;
        self
    }

    /// Sets the most instances alive at once.
    pub fn max_instances(mut self, n: u32) -> Self {
        self.max_instances = n;
        self
    }

    /// Sets how long a call waits for a free instance before [`Error::Busy`](crate::Error::Busy).
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }

    /// Sets the largest output of one call in bytes.
    pub fn max_output(mut self, bytes: u64) -> Self {
        self.max_output_bytes = bytes;
        self
    }

    /// Sets the most outbound HTTP requests per call.
    pub fn max_outbound_requests(mut self, n: u32) -> Self {
        self.max_outbound_requests = n;
        self
    }

    /// Sets the largest outbound HTTP response body in bytes.
    pub fn max_outbound_response(mut self, bytes: u64) -> Self {
        self.max_outbound_response_bytes = bytes;
        self
    }

    /// Sets the key-value quota in bytes (keys plus values).
    pub fn key_value_quota(mut self, bytes: u64) -> Self {
        self.key_value_quota_bytes = bytes;
        self
    }

    /// Sets the instance policy.
    pub fn instance_policy(mut self, policy: InstancePolicy) -> Self {
        self.instance_policy = policy;
        self
    }
}

/// Whether a plugin instance lives across calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum InstancePolicy {
    /// Keep the instance between calls: state persists, calls are cheapest.
    /// After a trap the instance (and its store) is discarded and a fresh one
    /// serves the next call.
    #[default]
    Reuse,
    /// A new instance for every call: no state leaks from one call to the next.
    Fresh,
}

impl InstancePolicy {
    /// The manifest spelling: `"reuse"` or `"fresh"`.
    pub fn as_str(self) -> &'static str {
        match self {
            InstancePolicy::Reuse => "reuse",
            InstancePolicy::Fresh => "fresh",
        }
    }
}
