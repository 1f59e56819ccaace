//! Cases that call a function of a host's own world (`call = "..."`): the
//! test host loads plugins of any world ([`AnyWorld`]), looks the function
//! up by name in the instance, converts the case's `args` by the
//! function's WIT types ([`value`]) and calls it with every limit of a
//! hook call.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use anyhow::Result;
use serde_json::Value as Json;
use warden::wasmtime;
use warden::wasmtime::component::{Func, Instance, Val};
use warden::world::{InstancePre, Store};
use warden::{OutputSize, Plugin};

use super::case::Case;
use super::run::Outcome;
use super::value;
use super::wit::ComponentWit;

/// Any world: every component is of it, and its exports are the instance
/// itself, whose functions a case looks up by name.
pub struct AnyWorld;

impl warden::World for AnyWorld {
    const NAME: &'static str = "any world (warden test)";
    type Indices = ();
    type Exports = Instance;

    fn indices(_: &InstancePre) -> wasmtime::Result<()> {
        Ok(())
    }

    fn load(_: &(), _: &mut Store, instance: &Instance) -> wasmtime::Result<Instance> {
        Ok(*instance)
    }
}

/// What one call gave: the result and the case's expected result, both as
/// values of the function's result type, or why the case's values do not
/// fit the function.
enum Called {
    Done { result: Option<Val>, expected: Option<Val> },
    Unfit(String),
}

impl OutputSize for Called {
    fn output_size(&self) -> u64 {
        match self {
            Called::Done { result, .. } => result.as_ref().map_or(0, value::size),
            Called::Unfit(_) => 0,
        }
    }
}

/// Calls `function` (`name`, or `interface#name` for a function of an
/// exported interface, with or without the interface's version) with the
/// case's `args`.
pub fn call(plugin: &Plugin, wit: &ComponentWit, function: &str, case: &Case, outcome: &mut Outcome) -> Result<()> {
    let Some(function) = wit.export(function) else {
        anyhow::bail!("the plugin exports no function `{function}`; it exports {}", list(&wit.exports));
    };
    let expected = case.expect.result.as_ref();
    let result = plugin.call::<AnyWorld, Called>(intern(function), |instance, store| {
        let Some(func) = lookup(instance, store, function) else {
            return Ok(Called::Unfit(format!("the instance has no function `{function}`")));
        };
        let ty = func.ty(&*store);
        let names: Vec<String> = ty.params().map(|(name, _)| name.to_owned()).collect();
        let mut params = Vec::new();
        for (name, ty) in ty.params() {
            let Some(arg) = case.args.get(name) else {
                return Ok(Called::Unfit(format!("`args` has no `{name}`; `{function}` takes {}", list(&names))));
            };
            match value::from_toml(arg, &ty, &format!("args.{name}")) {
                Ok(val) => params.push(val),
                Err(e) => return Ok(Called::Unfit(e)),
            }
        }
        if let Some(unknown) = case.args.keys().find(|k| !names.contains(k)) {
            return Ok(Called::Unfit(format!(
                "`args.{unknown}`: `{function}` takes no such parameter; it takes {}",
                list(&names)
            )));
        }
        let result_ty = ty.results().next();
        let expected = match (expected, &result_ty) {
            (None, _) => None,
            (Some(v), Some(ty)) => match value::from_toml(v, ty, "expect.result") {
                Ok(val) => Some(val),
                Err(e) => return Ok(Called::Unfit(e)),
            },
            (Some(_), None) => return Ok(Called::Unfit(format!("`{function}` returns nothing; drop `expect.result`"))),
        };
        let mut results = vec![Val::Bool(false); ty.results().len()];
        func.call(&mut *store, &params, &mut results)?;
        Ok(Called::Done { result: results.pop(), expected })
    });
    match result {
        Ok(Called::Done { result, expected }) => {
            outcome.result = Some(result.as_ref().map_or(Json::Null, value::to_json));
            outcome.expected_result = expected.as_ref().map(value::to_json);
            outcome.action = Some("returned");
        }
        Ok(Called::Unfit(why)) => anyhow::bail!("{why}"),
        Err(e) => outcome.error = Some(super::run::error(&e)),
    }
    Ok(())
}

/// The function `name` of the instance: `name` at the top level, or
/// `interface#name`.
fn lookup(instance: &Instance, store: &mut Store, name: &str) -> Option<Func> {
    match name.split_once('#') {
        None => instance.get_func(&mut *store, name),
        Some((interface, name)) => {
            let interface = instance.get_export_index(&mut *store, None, interface)?;
            let func = instance.get_export_index(&mut *store, Some(&interface), name)?;
            instance.get_func(&mut *store, func)
        }
    }
}

fn list(names: &[String]) -> String {
    match names.is_empty() {
        true => "none".into(),
        false => names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
    }
}

/// The function name as the `'static` name a call is counted under: each
/// name is leaked once, and a run has as many as its case files name.
fn intern(name: &str) -> &'static str {
    static NAMES: Mutex<Option<HashMap<String, &'static str>>> = Mutex::new(None);
    let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    names.get_or_insert_default().entry(name.to_owned()).or_insert_with(|| Box::leak(name.into()))
}

/// Checks a case's call: `hook` left at its default and no hook input.
pub fn check_case(case: &Case) -> Result<()> {
    let hook_input =
        case.request.is_some() || case.response.is_some() || case.handle.is_some() || case.message.is_some();
    if case.hook != "on-request" || hook_input {
        anyhow::bail!("a case gives `call` (a function of the plugin's world) or a hook with its input, not both");
    }
    Ok(())
}
