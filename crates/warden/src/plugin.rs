//! A loaded plugin: compiled once, instantiated cheaply, called through typed
//! hooks under its limits and permissions.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use wasmtime::component::InstancePre;

use crate::bindings::lifecycle;
use crate::cache;
use crate::capability::GrantContext;
use crate::component::ComponentFile;
use crate::error::{Error, Result};
use crate::handles::{Access, Lent};
use crate::hooks::{Hook, Interface};
use crate::host::{HostState, Links, Shared};
use crate::instance::{self, CallBudget, ExportIndices, Granted, Instance};
use crate::limits::{InstancePolicy, Limits};
use crate::manifest::Manifest;
use crate::message::{CallContext, Exchange, Request, Response, RuleEvent};
use crate::output::OutputSize;
use crate::runtime::Runtime;
use crate::stats::{Stats, StatsSnapshot};
use crate::trace::TraceScope;
use crate::types::{ConnectAction, ConnectionInfo, HealthStatus, PluginError, RequestAction, ResponseAction};
use crate::world::{self, WardenWorld, World};

/// A loaded plugin. Cheap to clone; `Send + Sync`; calls from many threads
/// run in parallel on up to `max-instances` instances.
///
/// ```no_run
/// use warden::{CallContext, Request, RequestAction, Runtime};
///
/// # fn main() -> Result<(), warden::Error> {
/// let runtime = Runtime::new()?;
/// let plugin = runtime.load("plugins/logger")?;
/// let mut request = Request::new(warden::http::Method::GET, "/hello".parse().unwrap());
/// match plugin.on_request(&CallContext::new("req-1"), &mut request)? {
///     RequestAction::Continue => println!("continue"),
///     RequestAction::Respond(resp) => println!("answered {}", resp.status),
///     RequestAction::Reject(r) => println!("rejected: {}", r.reason),
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: Runtime,
    manifest: Manifest,
    sha256: String,
    from_cache: bool,
    exports: Vec<Interface>,
    imports: Vec<String>,
    shared: Arc<Shared>,
    /// Every capability of the runtime with this plugin's grant.
    capabilities: Vec<Granted>,
    pre: InstancePre<HostState>,
    indices: ExportIndices,
    budget: CallBudget,
    pool: Mutex<Pool>,
    freed: Condvar,
}

#[derive(Default)]
struct Pool {
    idle: Vec<Instance>,
    live: u32,
    /// Callers blocked in `checkout`; notifying the condvar is a syscall,
    /// so it is skipped when nobody waits.
    waiting: u32,
    /// Set by `shutdown`: instances returned afterwards are shut down and
    /// dropped instead of pooled.
    closed: bool,
}

impl Plugin {
    pub(crate) fn new(
        runtime: Runtime,
        manifest: Manifest,
        file: &ComponentFile,
        stats: Arc<Stats>,
        links: Option<Arc<dyn Links>>,
    ) -> Result<Plugin> {
        let name = manifest.name.clone();
        let unsupported = |message: String| Error::Unsupported { plugin: name.clone(), message };
        let settings = &runtime.inner().settings;
        let limits = &manifest.limits;
        if limits.memory_bytes > settings.max_memory_bytes {
            return Err(unsupported(format!(
                "[limits] memory asks for {} bytes but this runtime allows at most {}",
                limits.memory_bytes, settings.max_memory_bytes
            )));
        }
        if limits.stack_bytes > settings.max_stack_bytes {
            return Err(unsupported(format!(
                "[limits] stack asks for {} bytes but this runtime's wasm stack is {} bytes",
                limits.stack_bytes, settings.max_stack_bytes
            )));
        }
        if limits.fuel.is_some() && !settings.fuel {
            return Err(unsupported(
                "[limits] fuel is set but this runtime was built without fuel metering; remove the limit, or have the host turn metering on (`warden serve`: `[server] fuel = true`)".into(),
            ));
        }

        let sha256 = cache::hex(&file.sha256);
        if let Some(expected) = &manifest.sha256
            && *expected != sha256
        {
            return Err(Error::HashMismatch {
                plugin: name,
                file: manifest.component.clone(),
                expected: expected.clone(),
                actual: sha256,
            });
        }
        let (component, from_cache) = runtime.compile(&name, &manifest.component, &file.bytes, &file.sha256)?;

        let engine = runtime.engine();
        let ty = component.component_type();
        let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_owned()).collect();
        let inner = runtime.inner();
        let pre = inner.linker.instantiate_pre(&component).map_err(|e| {
            let provided = inner.capabilities.provided();
            match imports.iter().find(|i| !inner.capabilities.provides(i)) {
                Some(missing) => unsupported(format!(
                    "it imports `{missing}`, which no capability of this host provides (this host provides {provided}); build the plugin against this host's WIT, or have the host add a capability for it"
                )),
                None => unsupported(format!("its imports cannot be satisfied ({e:#}); this host provides {provided}")),
            }
        })?;

        let exported = crate::hooks::exported_interfaces(&pre);
        let lifecycle = match exported.contains(&Interface::Lifecycle) {
            true => Some(
                lifecycle::GuestIndices::new(&pre)
                    .map_err(|e| unsupported(crate::hooks::mismatch(Interface::Lifecycle, &e)))?,
            ),
            false => None,
        };
        let mut indices = ExportIndices { lifecycle, worlds: Vec::new() };
        let mut mismatches = Vec::new();
        for world in &inner.worlds {
            match (world.indices)(&pre) {
                Ok(ix) => indices.worlds.push((*world, ix)),
                Err(e) => mismatches.push(format!("{} ({e:#})", world.name)),
            }
        }
        if indices.worlds.is_empty() {
            let names: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_owned()).collect();
            return Err(unsupported(format!(
                "it is not built for this host: it exports none of the host's worlds: {}; its exports: {}",
                mismatches.join("; "),
                if names.is_empty() { "none".to_owned() } else { names.join(", ") }
            )));
        }
        let warden = indices.worlds.iter().any(|(w, _)| w.type_id == std::any::TypeId::of::<WardenWorld>());
        let exports: Vec<Interface> = Interface::ALL
            .into_iter()
            .filter(|i| exported.contains(i) && (warden || *i == Interface::Lifecycle))
            .collect();
        if !manifest.permissions.subscribe.is_empty() && !exports.contains(&Interface::Subscriber) {
            return Err(unsupported(
                "[permissions] subscribe lists topics but the component does not export warden:plugin/subscriber; export it (warden_pdk::export!(T: subscriber)) or remove the subscriptions".into(),
            ));
        }

        check_permission_keys(&manifest, &inner.capabilities)?;
        let cx = GrantContext { manifest: &manifest };
        let mut capabilities = Vec::with_capacity(inner.capabilities.0.len());
        for capability in &inner.capabilities.0 {
            capabilities.push((Arc::clone(capability), capability.grant(&cx)?));
        }
        let mut config: Vec<(String, String)> = manifest.config.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        config.sort();
        let shared = Arc::new(Shared {
            name: name.clone(),
            version: manifest.version.clone(),
            config,
            memory_limit: limits.memory_bytes,
            stats,
            max_output_bytes: limits.max_output_bytes,
            max_headers: settings.max_headers,
            links,
        });
        let budget = CallBudget::new(limits, settings.epoch_tick, settings.fuel);

        let plugin = Plugin {
            inner: Arc::new(Inner {
                runtime,
                sha256,
                from_cache,
                exports,
                imports,
                shared,
                capabilities,
                pre,
                indices,
                budget,
                pool: Mutex::new(Pool::default()),
                freed: Condvar::new(),
                manifest,
            }),
        };
        // Instantiate and `init` once now, so a broken plugin fails at load.
        plugin.checkout()?.give_back();
        tracing::debug!(plugin = %plugin.name(), version = %plugin.version(), sha256 = %plugin.sha256(), from_cache, "plugin loaded");
        Ok(plugin)
    }

    /// The plugin's name from its manifest.
    pub fn name(&self) -> &str {
        &self.inner.manifest.name
    }

    /// The plugin's version from its manifest.
    pub fn version(&self) -> &semver::Version {
        &self.inner.manifest.version
    }

    /// The manifest the plugin was loaded from.
    pub fn manifest(&self) -> &Manifest {
        &self.inner.manifest
    }

    /// The limits the plugin runs under.
    pub fn limits(&self) -> &Limits {
        &self.inner.manifest.limits
    }

    /// Lowercase hex sha256 of the component bytes.
    pub fn sha256(&self) -> &str {
        &self.inner.sha256
    }

    /// Whether the compiled code came from the compile cache.
    pub fn from_cache(&self) -> bool {
        self.inner.from_cache
    }

    /// The Warden interfaces the component exports.
    pub fn exports(&self) -> &[Interface] {
        &self.inner.exports
    }

    /// The hooks the host can call on this plugin.
    pub fn hooks(&self) -> Vec<Hook> {
        self.inner.exports.iter().flat_map(|i| i.hooks().iter().copied()).collect()
    }

    /// Whether the plugin exports `hook` (always false for
    /// [`Hook::Export`]: see [`exports_world`](Plugin::exports_world)).
    pub fn has_hook(&self, hook: Hook) -> bool {
        hook.interface().is_some_and(|i| self.inner.exports.contains(&i))
    }

    /// The runtime's worlds this plugin exports (see
    /// [`RuntimeBuilder::world`](crate::RuntimeBuilder::world)).
    pub fn worlds(&self) -> Vec<&'static str> {
        self.inner.indices.worlds.iter().map(|(w, _)| w.name).collect()
    }

    /// Whether the plugin exports world `W`.
    pub fn exports_world<W: World>(&self) -> bool {
        let id = std::any::TypeId::of::<W>();
        self.inner.indices.worlds.iter().any(|(w, _)| w.type_id == id)
    }

    /// Calls `function` of host-defined world `W`: `f` gets the instance's
    /// typed exports (the world type `bindgen!` generated) and its store,
    /// and makes one typed call, e.g.
    /// `plugin.call::<Analyzer, _>("analyze-graph", |w, store| w.call_analyze_graph(store, &nodes))`.
    ///
    /// The call runs like a hook: on a pooled instance, under the plugin's
    /// deadline, fuel and memory limits, with stats; its result counts
    /// against `max-output` ([`OutputSize`]). A trap or limit fails it with
    /// the same typed [`Error`] and discards the instance, so the next
    /// call gets a fresh one. Make one export call per `f`: after a trap
    /// the store must not be used again.
    pub fn call<W: World, R: OutputSize>(
        &self,
        function: &'static str,
        f: impl FnOnce(&W::Exports, &mut world::Store) -> wasmtime::Result<R>,
    ) -> Result<R> {
        if !self.exports_world::<W>() {
            return Err(Error::WorldNotExported {
                plugin: self.name().to_owned(),
                world: W::NAME,
                function,
                worlds: self.worlds(),
            });
        }
        self.invoke(Hook::Export(function), Loan::default(), |inst| {
            let exports = instance::exports::<W>(&inst.exports).expect("world checked");
            f(exports, &mut inst.store).map(Ok::<R, Never>)
        })
    }

    /// The component's imports (WIT names).
    pub fn imports(&self) -> &[String] {
        &self.inner.imports
    }

    /// The runtime this plugin was loaded by.
    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    /// Runs the HTTP filter's `on-request` hook on `request`, lent to the
    /// plugin for the call.
    ///
    /// The plugin's changes are made in place (each refused at once
    /// without the `modify-request` permission). If the call fails, they
    /// are undone: the caller holds the request as it was, except that a
    /// streamed body the plugin read is now in memory (or failed, see
    /// [`Body::error`](crate::Body::error)).
    pub fn on_request(&self, ctx: &CallContext, request: &mut Request) -> Result<RequestAction> {
        let _trace = scope(ctx);
        let access = self.access(self.inner.manifest.permissions.modify_request, "modify-request");
        let mut loan = Loan::with(ctx);
        loan.request = Lending::Owned(request, access);
        self.invoke(Hook::OnRequest, loan, |inst| {
            let guest = instance::hooks(&inst.exports).http_filter.as_ref().expect("export checked");
            let lent = &inst.store.data().lent;
            let (c, r) = (lent.context_handle(), lent.request_handle());
            guest.call_on_request(&mut inst.store, c, r)
        })
    }

    /// Runs the HTTP filter's `on-response` hook on `response`, lent to
    /// the plugin for the call like the request of
    /// [`on_request`](Plugin::on_request) (changes need
    /// `modify-response`); `request` is read-only.
    pub fn on_response(
        &self,
        ctx: &CallContext,
        request: &Arc<Request>,
        response: &mut Response,
    ) -> Result<ResponseAction> {
        let _trace = scope(ctx);
        let may = self.inner.manifest.permissions.modify_response;
        let mut loan = Loan::with(ctx);
        loan.request = Lending::Shared(request);
        loan.response = Lending::Owned(response, self.access(may, "modify-response"));
        self.invoke(Hook::OnResponse, loan, |inst| {
            let guest = instance::hooks(&inst.exports).http_filter.as_ref().expect("export checked");
            let lent = &inst.store.data().lent;
            let (c, q, r) = (lent.context_handle(), lent.request_handle(), lent.response_handle());
            let action = guest.call_on_response(&mut inst.store, c, q, r)?;
            if let Ok(ResponseAction::Respond(_)) = action
                && !may
            {
                // Refused like a change: audited, and the call fails.
                let state = inst.store.data_mut();
                let tried = "replace the response in on-response (respond)";
                state.lent.denied = Some((tried.to_owned(), "modify-response"));
                let message =
                    format!("plugin '{}' may not {tried} without `modify-response = true`", state.core.shared.name);
                let error = PluginError { code: "capability-denied".to_owned(), message };
                return Ok(Err(state.core.refused("on-response", error)));
            }
            Ok(action)
        })
    }

    /// Runs `on-connect` for a new connection.
    pub fn on_connect(&self, connection: &ConnectionInfo) -> Result<ConnectAction> {
        self.invoke(Hook::OnConnect, Loan::default(), |inst| {
            let guest = instance::hooks(&inst.exports).connect.as_ref().expect("export checked");
            guest.call_on_connect(&mut inst.store, connection)
        })
    }

    /// Runs `on-capture` with a finished exchange (read-only).
    pub fn on_capture(&self, exchange: &Exchange) -> Result<()> {
        let _trace = scope(&exchange.context);
        let mut loan = Loan::with(&exchange.context);
        loan.request = Lending::Shared(&exchange.request);
        loan.response = Lending::Shared(&exchange.response);
        let duration = u64::try_from(exchange.duration.as_micros()).unwrap_or(u64::MAX);
        self.invoke(Hook::OnCapture, loan, |inst| {
            let guest = instance::hooks(&inst.exports).capture.as_ref().expect("export checked");
            let lent = &inst.store.data().lent;
            let (c, q, r) = (lent.context_handle(), lent.request_handle(), lent.response_handle());
            guest.call_on_capture(&mut inst.store, c, q, r, duration)
        })
    }

    /// Runs `on-rule-match` for a rule the plugin subscribed to (the
    /// request is read-only).
    pub fn on_rule_match(&self, event: &RuleEvent) -> Result<()> {
        let _trace = scope(&event.context);
        let mut loan = Loan::with(&event.context);
        loan.request = Lending::Shared(&event.request);
        self.invoke(Hook::OnRuleMatch, loan, |inst| {
            let guest = instance::hooks(&inst.exports).rule_match.as_ref().expect("export checked");
            let lent = &inst.store.data().lent;
            let (c, q) = (lent.context_handle(), lent.request_handle());
            guest.call_on_rule_match(&mut inst.store, c, &event.rule, q, &event.details)
        })
    }

    /// Calls the generic `handle(action, payload)` entry point.
    pub fn handle(&self, action: &str, payload: &[u8]) -> Result<Vec<u8>> {
        self.invoke(Hook::Handle, Loan::default(), |inst| {
            let guest = instance::hooks(&inst.exports).handler.as_ref().expect("export checked");
            guest.call_handle(&mut inst.store, action, payload)
        })
    }

    /// Delivers a message published on `topic` (`subscriber.on-message`).
    pub fn on_message(&self, topic: &str, payload: &[u8]) -> Result<()> {
        self.invoke(Hook::OnMessage, Loan::default(), |inst| {
            let guest = instance::hooks(&inst.exports).subscriber.as_ref().expect("export checked");
            guest.call_on_message(&mut inst.store, topic, payload)
        })
    }

    /// Asks the plugin for its health. A plugin without the lifecycle
    /// interface is healthy as long as it loads.
    pub fn health(&self) -> Result<HealthStatus> {
        if !self.has_hook(Hook::Health) {
            return Ok(HealthStatus::Healthy);
        }
        self.invoke(Hook::Health, Loan::default(), |inst| {
            let guest = inst.lifecycle.as_ref().expect("export checked");
            guest.call_health(&mut inst.store).map(Ok::<_, Never>)
        })
    }

    /// Calls `shutdown` on every idle instance and drops them. Instances in
    /// a call finish it, are shut down when returned, and are not reused;
    /// a later call gets a new instance. Errors are logged: shutting down
    /// never fails.
    pub fn shutdown(&self) {
        let idle = {
            let mut pool = self.pool();
            pool.closed = true;
            std::mem::take(&mut pool.idle)
        };
        for inst in idle {
            self.shut_down(inst);
        }
    }

    /// Runs an instance's `shutdown` hook (under the call budget) and drops
    /// it. A panic in a host import is contained and logged like a failure.
    fn shut_down(&self, mut inst: Instance) {
        let _deadline = inst.begin(&self.inner.budget, Instant::now()).enter();
        if let Some(guest) = inst.lifecycle.clone()
            && let Err(err) = self.run(Hook::Shutdown, &mut inst, |inst| guest.call_shutdown(&mut inst.store))
        {
            tracing::warn!(plugin = %self.name(), error = %err, "shutdown failed");
        }
        drop(inst);
        self.release();
    }

    /// Drops idle instances without calling `shutdown`, so the next calls
    /// start from fresh instances (and run `init` again).
    pub(crate) fn reset(&self) {
        let idle = std::mem::take(&mut self.pool().idle);
        let n = u32::try_from(idle.len()).unwrap_or(u32::MAX);
        drop(idle);
        let mut pool = self.pool();
        pool.live = pool.live.saturating_sub(n);
        self.wake_one(pool);
    }

    /// Calls in progress right now.
    pub fn in_flight(&self) -> u32 {
        let pool = self.pool();
        pool.live.saturating_sub(u32::try_from(pool.idle.len()).unwrap_or(u32::MAX))
    }

    /// Waits until no call is in progress, up to `timeout`. Returns whether
    /// the plugin is idle.
    pub fn drain(&self, timeout: Duration) -> bool {
        let start = Instant::now();
        let mut pool = self.pool();
        loop {
            if pool.live as usize <= pool.idle.len() {
                return true;
            }
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                return false;
            }
            pool.waiting += 1;
            pool = self.inner.freed.wait_timeout(pool, left).unwrap_or_else(PoisonError::into_inner).0;
            pool.waiting -= 1;
        }
    }

    /// The plugin's call statistics (shared with every version of it
    /// loaded through the same [`PluginManager`](crate::PluginManager)).
    pub fn stats(&self) -> StatsSnapshot {
        let (live, idle) = self.instance_counts();
        self.inner.shared.stats.snapshot(live, idle)
    }

    /// What a hook may do with its own message, given the permission.
    fn access(&self, granted: bool, permission: &'static str) -> Access {
        if granted { Access::Write } else { Access::Denied(permission) }
    }

    fn denied(&self, action: &str, permission: &str) -> Error {
        Error::CapabilityDenied {
            plugin: self.name().to_owned(),
            action: action.to_owned(),
            permission: permission.to_owned(),
        }
    }

    /// Runs one hook call on a pooled (or fresh) instance with the per-call
    /// budget, classifying failures and discarding trapped instances.
    /// What `loan` holds is lent to the call and given back in it, with
    /// the bytes the call's changes added.
    fn invoke<R, E>(
        &self,
        hook: Hook,
        loan: Loan<'_>,
        f: impl FnOnce(&mut Instance) -> wasmtime::Result<Result<R, E>>,
    ) -> Result<R>
    where
        R: OutputSize,
        E: Into<PluginError>,
    {
        let start = Instant::now();
        let (mut fuel, mut stderr) = (0, String::new());
        let result = self.call_inner(hook, loan, f, start, &mut fuel, &mut stderr);
        self.inner.shared.stats.call(start.elapsed(), fuel, result.as_ref().err(), &stderr);
        result
    }

    fn call_inner<R, E>(
        &self,
        hook: Hook,
        mut loan: Loan<'_>,
        f: impl FnOnce(&mut Instance) -> wasmtime::Result<Result<R, E>>,
        start: Instant,
        fuel: &mut u64,
        stderr: &mut String,
    ) -> Result<R>
    where
        R: OutputSize,
        E: Into<PluginError>,
    {
        if hook.interface().is_some() && !self.has_hook(hook) {
            return Err(Error::HookNotExported { plugin: self.name().to_owned(), hook, exported: self.hooks() });
        }
        let mut lease = self.checkout()?;
        let inst = lease.instance();
        let deadline = inst.begin(&self.inner.budget, start);
        // An empty loan has nothing to lend: `begin` left the slots empty.
        let lends = !loan.is_empty();
        if lends {
            loan.lend(&mut inst.store.data_mut().lent);
        }
        let outcome = {
            let _deadline = deadline.enter();
            self.run(hook, inst, f)
        };
        *fuel = inst.fuel_used(&self.inner.budget);
        let printed = inst.store.data().stderr().map(|s| s.take()).unwrap_or_default();
        let healthy = outcome.is_ok();
        let result = match outcome {
            Ok(result) => {
                log_printed(self.name(), &printed);
                self.returned(hook, result, &mut inst.store.data_mut().lent)
            }
            Err(err) => {
                // A trap poisons the store: the lease drops the instance.
                tracing::debug!(plugin = %self.name(), %hook, error = %err, "call failed; instance discarded");
                Err(err)
            }
        };
        if lends {
            loan.take_back(&mut inst.store.data_mut().lent, result.is_ok());
        }
        if healthy {
            lease.give_back();
        }
        if result.is_err() {
            *stderr = printed;
        }
        result
    }

    /// What a call that returned gives its caller: the value, or the
    /// plugin's error (the host's refusal of a change, if that is what the
    /// plugin passed on), or `OutputTooLarge` if the value and the call's
    /// changes to lent messages are over `max-output`.
    fn returned<R: OutputSize, E: Into<PluginError>>(
        &self,
        hook: Hook,
        result: std::result::Result<R, E>,
        lent: &mut Lent,
    ) -> Result<R> {
        let value = result.map_err(|e| {
            let e = e.into();
            match lent.denied.take() {
                Some((action, permission)) if e.code == "capability-denied" => {
                    self.denied(&action, &format!("{permission} = true"))
                }
                _ => Error::Plugin { plugin: self.name().to_owned(), hook, code: e.code, message: e.message },
            }
        })?;
        let size = value.output_size().saturating_add(lent.output);
        let limit = self.limits().max_output_bytes;
        if size > limit {
            return Err(Error::OutputTooLarge { plugin: self.name().to_owned(), hook, size, limit });
        }
        Ok(value)
    }

    /// Runs `f`, a call into `inst`, and types its failure: a trap or a
    /// limit as [`instance::classify`] says, and a panic that unwound out of
    /// a host import (wasmtime resumes it once the wasm frames are gone) as
    /// `Error::Runtime`, a bug in the host, never in the plugin. After a
    /// failure the instance must not be reused.
    fn run<T>(
        &self,
        hook: Hook,
        inst: &mut Instance,
        f: impl FnOnce(&mut Instance) -> wasmtime::Result<T>,
    ) -> Result<T> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(inst))) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(instance::classify(self.name(), hook, self.limits(), e, inst.store.data())),
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .copied()
                    .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                    .unwrap_or("(no message)");
                let err = Error::Runtime(format!(
                    "a host function panicked while plugin '{}' ran {hook}: {message}; the call failed and its instance was discarded (this is a bug in the host, not the plugin: please report it)",
                    self.name()
                ));
                tracing::error!(plugin = %self.name(), %hook, "{err}");
                Err(err)
            }
        }
    }

    fn pool(&self) -> MutexGuard<'_, Pool> {
        self.inner.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes an idle instance or creates one, waiting (up to `max-wait`)
    /// while `max-instances` are in use. The lease returns the slot however
    /// the call ends, a panic included.
    fn checkout(&self) -> Result<Lease<'_>> {
        let max = self.limits().max_instances.max(1);
        let cpu = instance::current_cpu();
        let mut pool = self.pool();
        let mut waiting_since = None;
        loop {
            if let Some(i) = pick_idle(&pool.idle, |inst| inst.cpu, cpu) {
                let mut inst = pool.idle.remove(i);
                inst.cpu = cpu;
                return Ok(Lease { plugin: self, inst: Some(inst) });
            }
            if pool.live < max {
                pool.live += 1;
                break;
            }
            let start = *waiting_since.get_or_insert_with(Instant::now);
            let left = self.limits().max_wait.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(Error::Busy {
                    plugin: self.name().to_owned(),
                    max_instances: max,
                    waited: start.elapsed(),
                });
            }
            pool.waiting += 1;
            pool = self.inner.freed.wait_timeout(pool, left).unwrap_or_else(PoisonError::into_inner).0;
            pool.waiting -= 1;
        }
        drop(pool);
        // The slot is taken: from here on the lease gives it back, also
        // when instantiation fails or `init` panics in a host import.
        let mut lease = Lease { plugin: self, inst: None };
        lease.inst = Some(self.instantiate()?);
        Ok(lease)
    }

    /// Returns an instance after a successful call.
    fn checkin(&self, inst: Instance) {
        // An instance whose memory has grown past three quarters of the cap
        // is retired instead of pooled: a guest that leaks a little on every
        // call (some language runtimes do) is replaced by a fresh instance
        // between calls, before a call of its fails at the cap.
        let worn = inst.store.data().core.memory_bytes > self.limits().memory_bytes / 4 * 3;
        if worn && self.limits().instance_policy == InstancePolicy::Reuse {
            tracing::debug!(plugin = %self.name(), bytes = inst.store.data().core.memory_bytes, "retiring an instance near its memory cap");
            self.inner.shared.stats.instance_retired();
            self.shut_down(inst);
            return;
        }
        if self.limits().instance_policy == InstancePolicy::Reuse {
            let mut pool = self.pool();
            if pool.closed {
                drop(pool);
                self.shut_down(inst);
                return;
            }
            pool.idle.push(inst);
            self.wake_one(pool);
        } else {
            drop(inst);
            self.release();
        }
    }

    /// Forgets one live instance (dropped or discarded).
    fn release(&self) {
        let mut pool = self.pool();
        pool.live = pool.live.saturating_sub(1);
        self.wake_one(pool);
    }

    /// Wakes one caller waiting in `checkout`, if any.
    fn wake_one(&self, pool: MutexGuard<'_, Pool>) {
        let waiting = pool.waiting > 0;
        drop(pool);
        if waiting {
            self.inner.freed.notify_one();
        }
    }

    fn instantiate(&self) -> Result<Instance> {
        let inner = &self.inner;
        let mut inst = Instance::new(
            &inner.pre,
            &inner.indices,
            &inner.shared,
            &inner.capabilities,
            self.limits(),
            &inner.budget,
        )?;
        if let Some(guest) = inst.lifecycle.clone() {
            let _deadline = inst.store.data().core.deadline.enter();
            let init = |inst: &mut Instance| guest.call_init(&mut inst.store, &inner.shared.config);
            if let Err(e) = self.run(Hook::Init, &mut inst, init)? {
                return Err(Error::InitFailed { plugin: self.name().to_owned(), code: e.code, message: e.message });
            }
        }
        // Calls start with an empty stderr: what instantiation wrote is logged here.
        log_stderr(self.name(), &inst);
        Ok(inst)
    }

    /// Instances currently alive (idle or in a call).
    pub fn live_instances(&self) -> u32 {
        self.pool().live
    }

    /// Instances alive now, and how many of them are idle in the pool.
    pub(crate) fn instance_counts(&self) -> (u32, u32) {
        let pool = self.pool();
        (pool.live, u32::try_from(pool.idle.len()).unwrap_or(u32::MAX))
    }
}

/// Refuses `[permissions]` keys that no capability of the runtime reads.
fn check_permission_keys(manifest: &Manifest, capabilities: &crate::capability::Capabilities) -> Result<()> {
    let keys = capabilities.keys();
    for key in manifest.permissions.host.keys() {
        if !keys.contains(&key.as_str()) {
            let mut allowed = crate::manifest::PERMISSION_KEYS.to_vec();
            for k in &keys {
                if !allowed.contains(k) {
                    allowed.push(k);
                }
            }
            let message = format!("unknown key in [permissions]; allowed keys: {}", allowed.join(", "));
            return Err(Error::Manifest(manifest.error_at(format!("permissions.{key}"), message)));
        }
    }
    Ok(())
}

/// Which idle instance a call on `cpu` gets: the most recently returned one
/// that last ran on that CPU (its memory is likely still in the core's
/// caches), else the most recently returned one.
fn pick_idle<T>(idle: &[T], cpu_of: impl Fn(&T) -> usize, cpu: usize) -> Option<usize> {
    idle.iter().rposition(|inst| cpu_of(inst) == cpu).or(idle.len().checked_sub(1))
}

/// An instance slot taken from a plugin's pool for one call. Dropping the
/// lease (on an error, or while a panic unwinds) drops the instance and
/// frees its slot; only [`Lease::give_back`] returns a healthy instance to
/// the pool. So no way out of a call can leak a slot.
struct Lease<'a> {
    plugin: &'a Plugin,
    /// `None` only while the instance is being created.
    inst: Option<Instance>,
}

impl Lease<'_> {
    fn instance(&mut self) -> &mut Instance {
        self.inst.as_mut().expect("a lease holds its instance once checkout returns")
    }

    /// Puts the instance back into the pool after a successful call.
    fn give_back(mut self) {
        let (plugin, inst) = (self.plugin, self.inst.take());
        // The slot goes back with the instance, not through `drop`.
        std::mem::forget(self);
        if let Some(inst) = inst {
            plugin.checkin(inst);
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        // The call failed or unwound (or the instance could not be made):
        // the store, if any, is not reused.
        drop(self.inst.take());
        self.plugin.release();
    }
}

/// What a call lends its plugin: moved into the instance's slots when the
/// call starts and back when it ends (see [`crate::handles`]).
#[derive(Default)]
struct Loan<'a> {
    ctx: Option<&'a CallContext>,
    request: Lending<'a, Request>,
    response: Lending<'a, Response>,
}

#[derive(Default)]
enum Lending<'a, T> {
    #[default]
    Nothing,
    /// Taken for the call (and changed, if the access allows), then put back.
    Owned(&'a mut T, Access),
    /// Read-only.
    Shared(&'a Arc<T>),
}

impl Loan<'_> {
    fn with(ctx: &CallContext) -> Loan<'_> {
        Loan { ctx: Some(ctx), ..Loan::default() }
    }

    fn lend(&mut self, lent: &mut Lent) {
        lent.ctx = self.ctx.cloned();
        match &mut self.request {
            Lending::Nothing => {}
            Lending::Owned(msg, access) => lent.request.lend(std::mem::take(*msg), *access),
            Lending::Shared(msg) => lent.request.lend_shared(Arc::clone(msg)),
        }
        match &mut self.response {
            Lending::Nothing => {}
            Lending::Owned(msg, access) => lent.response.lend(std::mem::take(*msg), *access),
            Lending::Shared(msg) => lent.response.lend_shared(Arc::clone(msg)),
        }
    }

    /// Whether there is nothing to lend (calls other than the HTTP hooks).
    fn is_empty(&self) -> bool {
        self.ctx.is_none() && matches!((&self.request, &self.response), (Lending::Nothing, Lending::Nothing))
    }

    /// Puts the owned messages back: as the call left them if `keep`, else
    /// with the call's changes undone.
    fn take_back(&mut self, lent: &mut Lent, keep: bool) {
        if let Lending::Owned(msg, _) = &mut self.request
            && let Some(back) = lent.request.take_back(keep)
        {
            **msg = back;
        }
        if let Lending::Owned(msg, _) = &mut self.response
            && let Some(back) = lent.response.take_back(keep)
        {
            **msg = back;
        }
        // Shared messages and the context are released with the call.
        lent.end();
    }
}

/// Enters the trace of `ctx` for a hook call, unless it has none (then the
/// caller's scope, if any, stays).
fn scope(ctx: &CallContext) -> Option<TraceScope> {
    ctx.traceparent().map(|tp| TraceScope::enter(Some(tp)))
}

fn log_stderr(plugin: &str, inst: &Instance) {
    let printed = inst.store.data().stderr().map(|s| s.take()).unwrap_or_default();
    log_printed(plugin, &printed);
}

/// Logs (at debug level) what a plugin wrote to stderr, if anything.
fn log_printed(plugin: &str, printed: &str) {
    if !printed.is_empty() {
        tracing::debug!(target: "warden::plugin", plugin, stderr = %printed.trim_end(), "plugin wrote to stderr");
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name())
            .field("version", &self.version().to_string())
            .field("exports", &self.exports())
            .finish_non_exhaustive()
    }
}

/// Never-constructed error type for hooks that cannot return a plugin error.
pub(crate) enum Never {}

impl From<Never> for PluginError {
    fn from(n: Never) -> PluginError {
        match n {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_a_host_import_fails_the_call_and_frees_its_slot() {
        let mut manifest = Manifest::new("p", warden_fixtures::ECHO);
        manifest.limits = manifest.limits.clone().max_instances(1).max_wait(Duration::from_millis(50));
        let plugin = Runtime::new().unwrap().load_manifest(manifest).unwrap();
        // More panics than max-instances: a leaked slot would make the
        // second call fail `busy`.
        for _ in 0..3 {
            // A host import that panics looks like this from here: wasmtime
            // resumes the panic out of the guest call.
            let result = plugin.invoke(
                Hook::Handle,
                Loan::default(),
                |inst| -> wasmtime::Result<Result<Vec<u8>, PluginError>> {
                    let guest = instance::hooks(&inst.exports).handler.as_ref().expect("echo exports handler");
                    let _counted = guest.call_handle(&mut inst.store, "count", b"")?;
                    panic!("host import panicked");
                },
            );
            let err = result.expect_err("the call fails");
            assert_eq!(err.kind(), crate::ErrorKind::Runtime);
            assert!(
                err.to_string().contains("a host function panicked while plugin 'p' ran handle: host import panicked"),
                "{err}"
            );
            assert_eq!(plugin.live_instances(), 0, "the instance is discarded and its slot freed");
        }
        assert_eq!(plugin.handle("echo", b"still here").unwrap(), b"still here");
        // A fresh instance: the counter starts over.
        assert_eq!(plugin.handle("count", b"").unwrap(), b"1");
    }

    #[test]
    fn idle_instances_go_back_to_their_cpu_first() {
        let cpu = |c: &usize| *c;
        assert_eq!(pick_idle(&[], cpu, 0), None);
        // Newest last: the newest one on CPU 1, else the newest of all.
        assert_eq!(pick_idle(&[1, 0, 1, 0], cpu, 1), Some(2));
        assert_eq!(pick_idle(&[1, 0, 1, 0], cpu, 0), Some(3));
        assert_eq!(pick_idle(&[1, 0, 1, 0], cpu, 7), Some(3));
    }

    #[test]
    fn plugin_is_send_and_sync() {
        fn is<T: Send + Sync + Clone + 'static>() {}
        is::<Plugin>();
    }
}
