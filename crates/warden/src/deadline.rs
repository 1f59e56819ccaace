//! Call deadlines, and the one of the plugin call running on this thread.
//!
//! Epoch interruption stops a plugin at its deadline only while it runs
//! wasm. While it waits in a host import, the import itself must give up in
//! time, and a call it makes into another plugin (a dependency call through
//! `warden:plugin/plugins`) must end no later than it. The runtime enters
//! each call's deadline here for the length of the call, so nested calls and
//! blocking backends (Redis) can read it without threading it through every
//! signature. A call's deadline is the sooner of its own `[limits] timeout`
//! and its caller's deadline.

use std::cell::Cell;
use std::time::{Duration, Instant};

thread_local! {
    /// The deadline of the innermost plugin call on this thread.
    static CURRENT: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// When one call must end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Deadline {
    /// The instant.
    pub at: Instant,
    /// How long the call had from its start: its `[limits] timeout`, or
    /// less if its caller's deadline was sooner.
    pub timeout: Duration,
    /// Whether the caller's deadline set it (the call was cut short for
    /// the caller, through no fault of its own).
    pub by_caller: bool,
}

impl Deadline {
    /// The deadline of a call starting `now` with `timeout` of its own,
    /// inside the call running on this thread, if any.
    pub(crate) fn starting(now: Instant, timeout: Duration) -> Deadline {
        let own = Deadline { at: now + timeout, timeout, by_caller: false };
        match CURRENT.get() {
            Some(outer) if outer < own.at => {
                Deadline { at: outer, timeout: outer.saturating_duration_since(now), by_caller: true }
            }
            _ => own,
        }
    }

    /// Makes this the deadline of the call running on this thread until the
    /// returned guard drops.
    pub(crate) fn enter(self) -> Scope {
        Scope { previous: CURRENT.replace(Some(self.at)) }
    }
}

/// Restores the enclosing call's deadline when dropped (also on unwind).
pub(crate) struct Scope {
    previous: Option<Instant>,
}

impl Drop for Scope {
    fn drop(&mut self) {
        CURRENT.set(self.previous);
    }
}

/// How long a blocking wait may take: `max`, or what is left of the current
/// call's deadline if that is less, but at least 1 ms (socket timeouts
/// cannot be zero; the plugin is stopped at its deadline anyway).
pub(crate) fn bound(max: Duration) -> Duration {
    match CURRENT.get() {
        Some(at) => max.min(at.saturating_duration_since(Instant::now())).max(Duration::from_millis(1)),
        None => max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_calls_end_no_later_than_their_caller() {
        let now = Instant::now();
        let outer = Deadline::starting(now, Duration::from_millis(100));
        assert!(!outer.by_caller);
        assert_eq!(bound(Duration::from_secs(2)), Duration::from_secs(2), "no call: the backend's own limit");
        {
            let _outer = outer.enter();
            let longer = Deadline::starting(now, Duration::from_secs(5));
            assert_eq!(longer, Deadline { at: outer.at, timeout: Duration::from_millis(100), by_caller: true });
            let shorter = Deadline::starting(now, Duration::from_millis(10));
            assert_eq!(
                shorter,
                Deadline { at: now + Duration::from_millis(10), timeout: Duration::from_millis(10), by_caller: false }
            );
            {
                let _inner = shorter.enter();
                assert!(bound(Duration::from_secs(2)) <= Duration::from_millis(10));
            }
            assert!(bound(Duration::from_secs(2)) <= Duration::from_millis(100), "the outer deadline is back");
            assert!(bound(Duration::from_secs(2)) >= Duration::from_millis(1));
        }
        assert_eq!(bound(Duration::from_secs(2)), Duration::from_secs(2));
    }
}
