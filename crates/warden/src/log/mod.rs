//! The log capability: `warden:plugin/log`, leveled records into the host's
//! `tracing` log under target `warden::plugin`, tagged with the plugin and
//! the trace of the call. Every plugin has it; records are cut to 16 KiB.

use std::sync::Arc;

use crate::bindings::log as wit;
use crate::capability::{Capability, GrantContext, Has, HostView, Linker, view};
use crate::error::Error;

/// Longest log record a plugin can write; longer ones are cut.
const MAX_LOG_RECORD: usize = 16 << 10;

/// The built-in log capability.
pub(crate) struct Log;

/// Per instance: nothing.
pub(crate) struct LogState;

impl Capability for Log {
    type Grant = ();
    type State = LogState;

    fn name(&self) -> &str {
        "log"
    }

    fn interfaces(&self) -> &[&str] {
        &["warden:plugin/log"]
    }

    fn add_to_linker(&self, linker: &mut Linker) -> wasmtime::Result<()> {
        wit::add_to_linker::<_, Has<LogState>>(linker, view)
    }

    fn grant(&self, _cx: &GrantContext<'_>) -> Result<(), Error> {
        Ok(())
    }

    fn instantiate(&self, _grant: &Arc<()>) -> wasmtime::Result<LogState> {
        Ok(LogState)
    }
}

impl wit::Host for HostView<'_, LogState> {
    fn log(&mut self, level: wit::Level, mut message: String) {
        truncate_record(&mut message);
        let plugin = self.plugin();
        crate::trace::with_current(|trace_id| match level {
            wit::Level::Trace => tracing::trace!(target: "warden::plugin", plugin, trace_id, "{message}"),
            wit::Level::Debug => tracing::debug!(target: "warden::plugin", plugin, trace_id, "{message}"),
            wit::Level::Info => tracing::info!(target: "warden::plugin", plugin, trace_id, "{message}"),
            wit::Level::Warn => tracing::warn!(target: "warden::plugin", plugin, trace_id, "{message}"),
            wit::Level::Error => tracing::error!(target: "warden::plugin", plugin, trace_id, "{message}"),
        });
    }
}

/// Cuts a log record to [`MAX_LOG_RECORD`] bytes (on a character boundary)
/// and marks the cut.
fn truncate_record(message: &mut String) {
    if message.len() > MAX_LOG_RECORD {
        let mut cut = MAX_LOG_RECORD;
        while !message.is_char_boundary(cut) {
            cut -= 1;
        }
        message.truncate(cut);
        message.push_str("...[truncated]");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_log_records_are_cut_on_a_char_boundary() {
        let mut short = "hello".to_owned();
        truncate_record(&mut short);
        assert_eq!(short, "hello");

        // 'é' is two bytes: a cut at MAX_LOG_RECORD would split one.
        let mut long = format!("a{}", "é".repeat(MAX_LOG_RECORD));
        truncate_record(&mut long);
        assert!(long.ends_with("...[truncated]"));
        let kept = long.len() - "...[truncated]".len();
        assert_eq!(kept, MAX_LOG_RECORD - 1, "cut before the 'é' that straddles the limit");
    }
}
