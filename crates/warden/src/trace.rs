//! Request tracing: the W3C trace id of the request a thread is working on,
//! attached to plugin log lines and audit events.
//!
//! A host enters a [`TraceScope`] around the plugin calls it makes for one
//! request; hooks that take a [`CallContext`](crate::CallContext) with a
//! `traceparent` enter one themselves. Every plugin log record written and
//! every audit event recorded on that thread meanwhile carries a `trace_id`
//! field.
//!
//! ```
//! let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
//! assert_eq!(warden::TraceScope::current_trace_id(), None);
//! {
//!     let _scope = warden::TraceScope::enter(Some(traceparent));
//!     assert_eq!(warden::TraceScope::current_trace_id().as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
//! }
//! assert_eq!(warden::TraceScope::current_trace_id(), None);
//! ```

use std::cell::Cell;
use std::marker::PhantomData;

/// A trace id: 32 lowercase hex digits.
type TraceId = [u8; 32];

thread_local! {
    static CURRENT: Cell<Option<TraceId>> = const { Cell::new(None) };
}

/// While alive, plugin logs and audit events on this thread carry the trace
/// id of the request being served. Scopes nest; dropping one restores the
/// previous id. Not `Send`: it belongs to the thread that entered it.
#[must_use = "the scope ends when this guard is dropped"]
#[derive(Debug)]
pub struct TraceScope {
    previous: Option<TraceId>,
    _not_send: PhantomData<*const ()>,
}

impl TraceScope {
    /// Enters the trace of `traceparent` (`00-<trace id>-<span id>-<flags>`).
    /// `None` or a malformed value clears the trace id for the scope.
    pub fn enter(traceparent: Option<&str>) -> TraceScope {
        let id = traceparent.and_then(trace_id);
        TraceScope { previous: CURRENT.with(|c| c.replace(id)), _not_send: PhantomData }
    }

    /// The trace id of the current scope on this thread, if any.
    pub fn current_trace_id() -> Option<String> {
        current().map(|id| String::from_utf8_lossy(&id).into_owned())
    }
}

impl Drop for TraceScope {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
    }
}

/// The current trace id as raw hex digits.
pub(crate) fn current() -> Option<TraceId> {
    CURRENT.with(Cell::get)
}

/// Runs `f` with the current trace id as a `&str`, if there is one.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&str>) -> R) -> R {
    let id = current();
    f(id.as_ref().and_then(|id| std::str::from_utf8(id).ok()))
}

/// The trace id of a version-00 `traceparent`, if well formed and not all zeros.
fn trace_id(traceparent: &str) -> Option<TraceId> {
    let b = traceparent.as_bytes();
    if b.len() < 55 || &b[..3] != b"00-" || b[35] != b'-' {
        return None;
    }
    let mut id = [0u8; 32];
    id.copy_from_slice(&b[3..35]);
    let hex = id.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    (hex && id.iter().any(|&c| c != b'0')).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn scopes_nest_and_restore() {
        let outer = TraceScope::enter(Some(TP));
        {
            let _inner = TraceScope::enter(None);
            assert_eq!(TraceScope::current_trace_id(), None);
        }
        assert_eq!(TraceScope::current_trace_id().as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        drop(outer);
        assert_eq!(current(), None);
    }

    #[test]
    fn malformed_traceparents_carry_no_id() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473x-00f067aa0ba902b7-01",
        ] {
            assert_eq!(trace_id(bad), None, "{bad}");
        }
        assert!(trace_id(TP).is_some());
    }
}
