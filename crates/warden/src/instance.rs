//! One live plugin instance: a wasmtime `Store` with its component instance
//! and the loaded export handles. Cheap to create from an `InstancePre`;
//! thrown away after any trap, because a trap poisons the whole store.

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{InstancePre, ResourceTable};
use wasmtime::{Store, Trap};

use crate::bindings::lifecycle;
use crate::capability::Erased;
use crate::deadline::Deadline;
use crate::error::Error;
use crate::hooks::Hook;
use crate::host::{Core, HostState, Shared};
use crate::limits::Limits;
use crate::stats::MemoryInUse;
use crate::world::{self, Hooks, World};

/// Export handles resolved once per plugin.
pub(crate) struct ExportIndices {
    /// `warden:plugin/lifecycle`, whatever the world.
    pub lifecycle: Option<lifecycle::GuestIndices>,
    /// The runtime's worlds this plugin exports, with their indices.
    pub worlds: Vec<(world::Entry, world::Erased)>,
}

/// A capability with one plugin's grant: what makes its state in each
/// new instance.
pub(crate) type Granted = (Arc<dyn Erased>, Arc<dyn Any + Send + Sync>);

pub(crate) struct Instance {
    pub store: Store<HostState>,
    pub lifecycle: Option<lifecycle::Guest>,
    /// The exports of each world in [`ExportIndices::worlds`], in order.
    pub exports: Vec<world::Erased>,
    /// The CPU this instance last ran on (see [`current_cpu`]).
    pub cpu: usize,
}

/// The exports of world `W` among an instance's `exports`.
pub(crate) fn exports<W: World>(exports: &[world::Erased]) -> Option<&W::Exports> {
    exports.iter().find_map(|e| e.downcast_ref::<W::Exports>())
}

/// The hooks of a plugin of Warden's world; only called once the plugin is
/// known to export the hook (`Plugin::has_hook`).
pub(crate) fn hooks(all: &[world::Erased]) -> &Hooks {
    exports::<world::WardenWorld>(all).expect("a plugin with a hook exports Warden's world")
}

/// The CPU the calling thread runs on, as a hint for picking an idle
/// instance whose memory is likely still in this core's caches; threads
/// can move at any time, so it is only ever a preference.
#[cfg(target_os = "linux")]
#[allow(
    unsafe_code,
    reason = "FFI; libc's sched_getcpu reads rseq or the vDSO where rustix's safe one makes a syscall"
)]
pub(crate) fn current_cpu() -> usize {
    // SAFETY: `sched_getcpu` has no preconditions; it returns -1 on error,
    // which maps to a value no CPU has.
    let cpu = unsafe { libc::sched_getcpu() };
    usize::try_from(cpu).unwrap_or(usize::MAX)
}

/// Elsewhere every call looks alike: idle instances go out newest first.
#[cfg(not(target_os = "linux"))]
pub(crate) fn current_cpu() -> usize {
    0
}

/// Per-call settings derived from the limits.
pub(crate) struct CallBudget {
    pub timeout: Duration,
    pub fuel: Option<u64>,
    pub metered: bool,
    /// Epoch ticks in `timeout`.
    pub deadline_ticks: u64,
    /// The epoch tick, in nanoseconds.
    tick: u128,
}

impl CallBudget {
    pub(crate) fn new(limits: &Limits, tick: Duration, metered: bool) -> CallBudget {
        let tick = tick.as_nanos().max(1);
        let mut budget = CallBudget { timeout: limits.timeout, fuel: limits.fuel, metered, deadline_ticks: 0, tick };
        budget.deadline_ticks = budget.ticks(limits.timeout);
        budget
    }

    /// Epoch ticks that give at least `time` of run time: one extra, as the
    /// epoch may advance right after the deadline is set.
    pub(crate) fn ticks(&self, time: Duration) -> u64 {
        u64::try_from(time.as_nanos().div_ceil(self.tick) + 1).unwrap_or(u64::MAX)
    }
}

/// Pauses before each retry of an instantiation the kernel refused for a
/// passing reason.
const TRANSIENT_RETRIES: [Duration; 3] =
    [Duration::from_millis(5), Duration::from_millis(50), Duration::from_millis(200)];

/// Why one attempt to instantiate failed.
enum Attempt {
    /// For good: the plugin or its grant.
    Failed(Error),
    /// For a passing reason of the host's; worth another try.
    Transient(wasmtime::Error),
}

impl From<Error> for Attempt {
    fn from(e: Error) -> Attempt {
        Attempt::Failed(e)
    }
}

/// Whether a failed instantiation may succeed if tried again. Wasmtime
/// builds a module's copy-on-write memory image on its first instantiation
/// in a sealed memfd; Linux refuses the seal (`EBUSY`) while another part
/// of the kernel briefly holds a reference to one of its pages, which
/// happens under memory pressure and load. Wasmtime does not keep the
/// failure, so the next attempt builds the image again.
fn is_transient(e: &wasmtime::Error) -> bool {
    #[cfg(target_os = "linux")]
    if let Some(memfd::Error::AddSeals(_)) = e.downcast_ref::<memfd::Error>() {
        return true;
    }
    let _ = e;
    false
}

impl Instance {
    /// Instantiates a fresh instance with its own store and WASI context.
    /// A failure is typed like a failed call's (a limit hit while the
    /// plugin starts is that limit's error), except that a trap or a WASI
    /// context that cannot be built is `Error::Runtime` naming the plugin.
    pub(crate) fn new(
        pre: &InstancePre<HostState>,
        indices: &ExportIndices,
        shared: &Arc<Shared>,
        capabilities: &[Granted],
        limits: &Limits,
        budget: &CallBudget,
    ) -> Result<Instance, Error> {
        let mut attempt = 0;
        loop {
            match Instance::attempt(pre, indices, shared, capabilities, limits, budget) {
                Ok(instance) => return Ok(instance),
                Err(Attempt::Failed(e)) => return Err(e),
                Err(Attempt::Transient(e)) if attempt < TRANSIENT_RETRIES.len() => {
                    tracing::warn!(plugin = %shared.name, error = %e, "transient instantiation failure; retrying");
                    std::thread::sleep(TRANSIENT_RETRIES[attempt]);
                    attempt += 1;
                }
                Err(Attempt::Transient(e)) => {
                    return Err(Error::Runtime(format!(
                        "plugin '{}' could not be instantiated: {e:#} (the host's kernel refused \
                         {} times; it is short of memory or under heavy load)",
                        shared.name,
                        attempt + 1
                    )));
                }
            }
        }
    }

    fn attempt(
        pre: &InstancePre<HostState>,
        indices: &ExportIndices,
        shared: &Arc<Shared>,
        capabilities: &[Granted],
        limits: &Limits,
        budget: &CallBudget,
    ) -> Result<Instance, Attempt> {
        let not_instantiated = |message: &dyn std::fmt::Display| {
            Error::Runtime(format!("plugin '{}' could not be instantiated: {message}", shared.name))
        };
        let mut caps = Vec::with_capacity(capabilities.len());
        for (capability, grant) in capabilities {
            let state = capability
                .instantiate(grant)
                .map_err(|e| not_instantiated(&format_args!("capability '{}': {e:#}", capability.name())))?;
            caps.push(state);
        }
        let mut store = Store::new(
            pre.engine(),
            HostState {
                core: Core {
                    shared: shared.clone(),
                    table: ResourceTable::new(),
                    memory_denied: false,
                    memory_bytes: 0,
                    memory_in_use: MemoryInUse::new(shared.stats.clone()),
                    deadline: Deadline::starting(Instant::now(), budget.timeout),
                    call_id: 0,
                    refusal_audited: false,
                    stalled_on: None,
                },
                caps,
                lent: Default::default(),
            },
        );
        store.limiter(|s| s);
        store.epoch_deadline_trap();
        begin(&mut store, budget, Instant::now());
        // A trap here is the plugin's start-up code failing, not a call.
        let fail = |store: &mut Store<HostState>, e: wasmtime::Error| match classify(
            &shared.name,
            Hook::Init,
            limits,
            e,
            store.data(),
        ) {
            Error::Trap { message, .. } => not_instantiated(&message),
            other => other,
        };
        let instance = match pre.instantiate(&mut store) {
            Ok(i) => i,
            Err(e) if is_transient(&e) => return Err(Attempt::Transient(e)),
            Err(e) => return Err(fail(&mut store, e).into()),
        };
        let lifecycle = match indices.lifecycle.as_ref().map(|ix| ix.load(&mut store, &instance)).transpose() {
            Ok(g) => g,
            Err(e) => return Err(fail(&mut store, e).into()),
        };
        let mut exports = Vec::with_capacity(indices.worlds.len());
        for (world, ix) in &indices.worlds {
            match (world.load)(ix.as_ref(), &mut store, &instance) {
                Ok(e) => exports.push(e),
                Err(e) => return Err(fail(&mut store, e).into()),
            }
        }
        Ok(Instance { store, lifecycle, exports, cpu: current_cpu() })
    }

    /// Fuel burnt since the last `begin` (0 without metering).
    pub(crate) fn fuel_used(&self, budget: &CallBudget) -> u64 {
        if !budget.metered {
            return 0;
        }
        let left = self.store.get_fuel().unwrap_or(0);
        budget.fuel.unwrap_or(u64::MAX).saturating_sub(left)
    }

    /// Resets the per-call budget: fuel, deadlines, the memory flag and the
    /// outbound request count. The call's deadline is the budget's timeout
    /// from now, or the deadline of the call this one runs inside if that
    /// is sooner; enter it (`Deadline::enter`) for the length of the call.
    /// (Stderr is drained after every call, so it starts out empty.)
    pub(crate) fn begin(&mut self, budget: &CallBudget, now: Instant) -> Deadline {
        begin(&mut self.store, budget, now)
    }
}

fn begin(store: &mut Store<HostState>, budget: &CallBudget, now: Instant) -> Deadline {
    if budget.metered {
        // Cannot fail: metering is on for this engine.
        let _ = store.set_fuel(budget.fuel.unwrap_or(u64::MAX));
    }
    let deadline = Deadline::starting(now, budget.timeout);
    store.set_epoch_deadline(match deadline.by_caller {
        true => budget.ticks(deadline.timeout),
        false => budget.deadline_ticks,
    });
    let data = store.data_mut();
    let core = &mut data.core;
    core.memory_denied = false;
    core.call_id += 1;
    core.refusal_audited = false;
    core.stalled_on = None;
    core.deadline = deadline;
    data.lent.begin();
    deadline
}

/// Turns a failed call into a typed error, from what the call left in its
/// store: what it wrote to stderr, a refused memory growth, its deadline.
pub(crate) fn classify(plugin: &str, hook: Hook, limits: &Limits, err: wasmtime::Error, state: &HostState) -> Error {
    let Core { memory_denied, deadline, stalled_on, .. } = &state.core;
    let plugin = plugin.to_owned();
    // Left in place: the caller keeps it with the call's error too.
    let printed = state.stderr().map(|s| s.peek()).unwrap_or_default();
    let trap = err.downcast_ref::<Trap>().copied();
    match trap {
        Some(Trap::Interrupt) if stalled_on.is_some() => Error::ServiceUnavailable {
            plugin,
            hook,
            service: stalled_on.clone().unwrap_or_default(),
            timeout: deadline.timeout,
        },
        Some(Trap::Interrupt) => {
            Error::Timeout { plugin, hook, timeout: deadline.timeout, by_caller: deadline.by_caller }
        }
        Some(Trap::OutOfFuel) => Error::OutOfFuel { plugin, hook, fuel: limits.fuel.unwrap_or(u64::MAX) },
        Some(Trap::StackOverflow) => Error::StackOverflow { plugin, hook },
        _ if *memory_denied => Error::MemoryLimit { plugin, hook, limit: limits.memory_bytes },
        _ => {
            let mut message = match trap {
                Some(Trap::MemoryOutOfBounds) => {
                    "out of bounds memory access (a Rust plugin's stack overflow also shows up this way)".to_owned()
                }
                Some(t) => t.to_string(),
                None => format!("{err:#}"),
            };
            let printed = printed.trim();
            if !printed.is_empty() {
                message = format!("{}; plugin stderr: {printed}", message);
            }
            Error::Trap { plugin, hook, message }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn a_refused_memfd_seal_is_transient_even_under_context() {
        let busy = || memfd::Error::AddSeals(std::io::Error::from_raw_os_error(libc::EBUSY));
        assert!(is_transient(&wasmtime::Error::from(busy())));
        assert!(is_transient(&wasmtime::Error::from(busy()).context("instantiating")));
        let create = memfd::Error::Create(std::io::Error::from_raw_os_error(libc::EMFILE));
        assert!(!is_transient(&wasmtime::Error::from(create)));
        assert!(!is_transient(&wasmtime::Error::msg("out of fuel")));
    }
}
