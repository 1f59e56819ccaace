//! A typed call of a host-defined world: the tests' world
//! `test:probe/probe` (tests/fixtures/wit/probe.wit), its export
//! `run("count")` on the `probe` fixture, called
//!
//! - through Warden: a runtime of that world with the host's `sleep`
//!   capability, `Plugin::call` (pooled instance, limits, stats, trap
//!   handling), with and without fuel metering;
//! - in raw wasmtime: the same `bindgen!` call on one store kept across
//!   calls, with the same sandbox settings (pooling allocator, epoch
//!   deadline, fuel on or off, reset before each call) and the least host
//!   work the component needs (WASI, log, config and sleep answered in
//!   place): the baseline.
//!
//! Run: `env -u RUST_BACKTRACE cargo bench -p warden-cli --bench world`.

#![allow(missing_docs, reason = "criterion_group! generates undocumented functions")]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use tempfile::TempDir;
use warden::capability::{Capability, GrantContext, Has, HostView, Linker, view};
use warden::{Plugin, Runtime};
use warden_fixtures::PROBE;

/// The probe world as a Warden host sees it.
mod hosted {
    wasmtime::component::bindgen!({
        path: ["../../wit", "../../tests/fixtures/wit"],
        world: "test:probe/probe",
        with: { "warden:plugin": ::warden::wit },
    });

    ::warden::world!(Probe, ProbeIndices, "test:probe/probe");
}

/// The probe world in raw wasmtime, every import answered by the baseline.
mod raw {
    use wasmtime::component::{HasSelf, InstancePre, Linker};

    wasmtime::component::bindgen!({
        path: ["../../wit", "../../tests/fixtures/wit"],
        world: "test:probe/probe",
    });

    use self::test::probe::sleep;
    use self::warden::plugin::{config, log};

    pub struct State {
        wasi: wasmtime_wasi::WasiCtx,
        table: wasmtime::component::ResourceTable,
    }

    impl wasmtime_wasi::WasiView for State {
        fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
            wasmtime_wasi::WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
        }
    }

    impl log::Host for State {
        fn log(&mut self, _: log::Level, _: String) {}
    }

    impl config::Host for State {
        fn get(&mut self, _: String) -> Option<String> {
            None
        }
        fn get_all(&mut self) -> Vec<(String, String)> {
            Vec::new()
        }
    }

    impl sleep::Host for State {
        fn sleep(&mut self, _: u32) -> Result<(), String> {
            Err("not in the baseline".into())
        }
    }

    /// One instance on a store kept across calls, sandboxed like Warden's.
    pub struct Raw {
        store: wasmtime::Store<State>,
        probe: Probe,
        fuel: bool,
    }

    impl Raw {
        pub fn new(fuel: bool) -> Raw {
            let mut config = wasmtime::Config::new();
            config.epoch_interruption(true).consume_fuel(fuel);
            let mut pool = wasmtime::PoolingAllocationConfig::new();
            pool.total_component_instances(100).total_core_instances(800).total_memories(200).total_tables(800);
            config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
            let engine = wasmtime::Engine::new(&config).unwrap();
            let component = wasmtime::component::Component::from_file(&engine, super::PROBE).unwrap();
            let mut linker = Linker::new(&engine);
            wasmtime_wasi::p2::add_to_linker_sync(&mut linker).unwrap();
            Probe::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
            let pre: InstancePre<State> = linker.instantiate_pre(&component).unwrap();
            let state = State {
                wasi: wasmtime_wasi::WasiCtxBuilder::new().build(),
                table: wasmtime::component::ResourceTable::new(),
            };
            let mut store = wasmtime::Store::new(&engine, state);
            store.epoch_deadline_trap();
            if fuel {
                store.set_fuel(u64::MAX).unwrap();
            }
            store.set_epoch_deadline(1_000);
            Raw { probe: Probe::instantiate_pre_store(&pre, &mut store), store, fuel }
        }

        fn begin(&mut self) {
            if self.fuel {
                self.store.set_fuel(u64::MAX).unwrap();
            }
            self.store.set_epoch_deadline(1_000);
        }

        pub fn run(&mut self, action: &str) -> Result<String, String> {
            self.begin();
            self.probe.call_run(&mut self.store, action).unwrap()
        }
    }

    impl Probe {
        fn instantiate_pre_store(pre: &InstancePre<State>, store: &mut wasmtime::Store<State>) -> Probe {
            let instance = pre.instantiate(&mut *store).unwrap();
            ProbeIndices::new(pre).unwrap().load(&mut *store, &instance).unwrap()
        }
    }
}

/// The `sleep` capability, granted to nobody here: linked so the probe
/// loads, as a host with one capability of its own would be.
struct Sleep;

struct SleepState;

impl Capability for Sleep {
    type Grant = ();
    type State = SleepState;

    fn name(&self) -> &str {
        "sleep"
    }

    fn interfaces(&self) -> &[&str] {
        &["test:probe/sleep"]
    }

    fn add_to_linker(&self, linker: &mut Linker) -> wasmtime::Result<()> {
        hosted::test::probe::sleep::add_to_linker::<_, Has<SleepState>>(linker, view)
    }

    fn grant(&self, _: &GrantContext<'_>) -> Result<(), warden::Error> {
        Ok(())
    }

    fn instantiate(&self, _: &Arc<()>) -> wasmtime::Result<SleepState> {
        Ok(SleepState)
    }
}

impl hosted::test::probe::sleep::Host for HostView<'_, SleepState> {
    fn sleep(&mut self, _: u32) -> Result<(), String> {
        Err(self.deny("sleep.sleep", "sleep = true").to_string())
    }
}

fn warden_probe(fuel: bool) -> (TempDir, Plugin) {
    let runtime = Runtime::builder().fuel(fuel).world::<hosted::Probe>().capability(Sleep).build().unwrap();
    let dir = TempDir::new().unwrap();
    std::fs::copy(PROBE, dir.path().join("probe.wasm")).unwrap();
    std::fs::write(
        dir.path().join("plugin.toml"),
        "[plugin]\nname = \"probe\"\nversion = \"0.1.0\"\ncomponent = \"probe.wasm\"\n",
    )
    .unwrap();
    let plugin = runtime.load(dir.path()).unwrap();
    (dir, plugin)
}

fn typed_call(c: &mut Criterion) {
    let mut group = c.benchmark_group("world-call");
    for fuel in [false, true] {
        let label = if fuel { "fuel" } else { "no-fuel" };
        let mut raw = raw::Raw::new(fuel);
        assert_eq!(raw.run("count"), Ok("1".to_owned()));
        group.bench_function(format!("raw-wasmtime/{label}"), |b| b.iter(|| black_box(raw.run(black_box("count")))));

        let (_dir, plugin) = warden_probe(fuel);
        let call = |p: &Plugin| {
            p.call::<hosted::Probe, _>("run", |probe, store| probe.call_run(store, black_box("count"))).unwrap()
        };
        assert_eq!(call(&plugin), Ok("1".to_owned()));
        group.bench_function(format!("warden/{label}"), |b| b.iter(|| black_box(call(&plugin))));
    }
    group.finish();
}

criterion_group!(benches, typed_call);
criterion_main!(benches);
