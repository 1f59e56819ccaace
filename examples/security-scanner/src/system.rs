//! The `system` capability (`example:scanner/system`): the
//! `system.execute`-style function scanners elsewhere hand out, and that
//! this host never grants.
//!
//! It claims the `[permissions] execute` key only to refuse it: a manifest
//! that asks for it, with any value, fails to load with a manifest error
//! naming `permissions.execute` and its line. `system.execute` is linked
//! for every plugin (so plugins built against the world load) and answers
//! every call with `capability-denied`, audited once per call. Nothing in
//! this module can start a process.

use std::sync::Arc;

use warden::capability::{Capability, GrantContext, Has, HostView, Linker};
use warden::toml;

use crate::bindings::example::scanner::system;
use crate::bindings::example::scanner::types::ScanError;

/// What a manifest asking for `[permissions] execute` is told.
pub const NEVER_GRANTED: &str = "this host never grants execute: plugins cannot run commands on it; remove `execute` from [permissions] (scan the artifact's bytes instead)";

/// The capability: register it with
/// `warden::Runtime::builder().capability(System)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct System;

/// The (empty) system state of one plugin instance.
#[derive(Debug)]
pub struct SystemState(());

/// Checks `[permissions] execute`: absent is the only accepted value.
fn check_grant(value: Option<&toml::Value>) -> Result<(), &'static str> {
    match value {
        None => Ok(()),
        Some(_) => Err(NEVER_GRANTED),
    }
}

/// What a plugin calling `system.execute` is told.
fn refusal_message(plugin: &str, command: &str) -> String {
    // The plugin chose the command: show a bounded, printable part of it.
    let shown: String = command.chars().take(64).flat_map(char::escape_debug).collect();
    format!(
        "plugin '{plugin}' may not run `{shown}`: this host never runs commands for plugins, and no [permissions] entry grants it"
    )
}

impl Capability for System {
    type Grant = ();
    type State = SystemState;

    fn name(&self) -> &str {
        "system"
    }

    fn interfaces(&self) -> &[&str] {
        &["example:scanner/system"]
    }

    fn permissions(&self) -> &[&str] {
        &["execute"]
    }

    fn add_to_linker(&self, linker: &mut Linker) -> wasmtime::Result<()> {
        system::add_to_linker::<_, Has<SystemState>>(linker, warden::capability::view)
    }

    fn grant(&self, cx: &GrantContext<'_>) -> Result<(), warden::Error> {
        check_grant(cx.permission("execute")).map_err(|message| cx.invalid("execute", message))
    }

    fn instantiate(&self, _grant: &Arc<()>) -> wasmtime::Result<SystemState> {
        Ok(SystemState(()))
    }
}

impl system::Host for HostView<'_, SystemState> {
    fn execute(&mut self, command: String, _args: Vec<String>) -> Result<String, ScanError> {
        // Not `deny`: its hint says which grant to add, and none would help.
        let message = refusal_message(self.plugin(), &command);
        Err(self.refuse("system.execute", "capability-denied", message).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execute_is_never_granted() {
        assert_eq!(check_grant(None), Ok(()));
        for value in ["true", "false", r#"["sh"]"#, r#""id""#] {
            let table: toml::Table = toml::from_str(&format!("execute = {value}")).unwrap();
            assert_eq!(check_grant(table.get("execute")), Err(NEVER_GRANTED), "execute = {value}");
        }
    }

    #[test]
    fn refusals_show_a_bounded_command() {
        assert_eq!(
            refusal_message("p", "sh"),
            "plugin 'p' may not run `sh`: this host never runs commands for plugins, and no [permissions] entry grants it"
        );
        let long = refusal_message("p", &"x".repeat(10_000));
        assert!(long.len() < 200, "{long}");
        assert!(refusal_message("p", "a\nb\u{1b}").contains(r"`a\nb\u{1b}`"));
    }

    #[test]
    fn claims_execute() {
        assert_eq!(System.name(), "system");
        assert_eq!(System.permissions(), ["execute"]);
        assert_eq!(System.interfaces(), ["example:scanner/system"]);
    }
}
