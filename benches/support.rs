//! Helpers shared by the benches (included with `#[path]`).

use std::time::{Duration, Instant};

/// Runs `iters` calls split over `threads` threads; returns the wall time.
pub fn parallel(threads: u64, iters: u64, call: impl Fn() + Sync) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let n = iters / threads + u64::from(t < iters % threads);
            let call = &call;
            s.spawn(move || (0..n).for_each(|_| call()));
        }
    });
    start.elapsed()
}
