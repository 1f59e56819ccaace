//! WASI's blocking `wasi:io/poll`, bounded by the call's deadline.
//!
//! Epoch interruption stops a plugin only while it runs wasm code. A plugin
//! that blocks inside a host call (`std::thread::sleep`, waiting on a clock
//! pollable) would otherwise hold its thread for as long as it asks. Warden
//! replaces the stock `poll` and `pollable.block` with versions that give up
//! at the call's deadline and fail the call with a timeout, like a loop would.

use std::future::Future;
use std::time::Instant;

use wasmtime::Trap;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::bindings::io::poll as async_poll;
use wasmtime_wasi::p2::bindings::sync::io::poll;

use crate::host::HostState;

/// The resource table plus the deadline of the call in progress.
struct Bounded<'a> {
    table: &'a mut ResourceTable,
    deadline: Instant,
}

struct HasBounded;

impl HasData for HasBounded {
    type Data<'a> = Bounded<'a>;
}

/// Replaces `wasi:io/poll` in a linker that already has WASI.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let result = poll::add_to_linker::<HostState, HasBounded>(linker, |s| Bounded {
        table: &mut s.core.table,
        deadline: s.core.deadline.at,
    });
    linker.allow_shadowing(false);
    result
}

/// Runs `f` on WASI's tokio runtime until it finishes or the deadline
/// passes; past the deadline the call traps with `Trap::Interrupt`, which
/// the caller reports as a timeout.
fn until<F: Future>(deadline: Instant, f: F) -> wasmtime::Result<F::Output> {
    let left = deadline.saturating_duration_since(Instant::now());
    wasmtime_wasi::runtime::in_tokio(async move { tokio::time::timeout(left, f).await })
        .map_err(|_| wasmtime::Error::from(Trap::Interrupt))
}

impl poll::Host for Bounded<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        let table = &mut *self.table;
        until(self.deadline, async_poll::Host::poll(table, pollables))?
    }
}

impl poll::HostPollable for Bounded<'_> {
    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        let table = &mut *self.table;
        until(self.deadline, async_poll::HostPollable::ready(table, pollable))?
    }

    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        let table = &mut *self.table;
        until(self.deadline, async_poll::HostPollable::block(table, pollable))?
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        async_poll::HostPollable::drop(self.table, pollable)
    }
}
