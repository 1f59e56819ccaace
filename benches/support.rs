//! Helpers shared by the benches (included with `#[path]`).

#![allow(dead_code, reason = "each bench uses part of the helpers")]

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

/// The 16 header fields of a browser's JSON POST (`gateway/browser-headers.txt`).
pub fn browser_headers() -> Vec<(String, String)> {
    include_str!("gateway/browser-headers.txt")
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `n` header fields: the browser's first, then `x-extra-<i>: <i>`;
/// `content-type` is always among them.
pub fn headers(n: usize) -> http::HeaderMap {
    let mut pairs = browser_headers();
    pairs.retain(|(k, _)| k != "content-type");
    pairs.insert(0, ("content-type".into(), "application/json".into()));
    pairs.extend((0..n.saturating_sub(16)).map(|i| (format!("x-extra-{i}"), i.to_string())));
    pairs.truncate(n);
    let mut map = http::HeaderMap::new();
    for (k, v) in pairs {
        map.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), http::HeaderValue::from_str(&v).unwrap());
    }
    map
}

/// Like [`parallel`], with per-thread state made by `init` before the
/// clock starts (e.g. a request to reuse, or a thread's own instances).
pub fn parallel_with<S>(
    threads: u64,
    iters: u64,
    init: impl Fn() -> S + Sync,
    call: impl Fn(&mut S) + Sync,
) -> Duration {
    let ready = std::sync::Barrier::new(threads as usize + 1);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let n = iters / threads + u64::from(t < iters % threads);
                let (init, call, ready) = (&init, &call, &ready);
                s.spawn(move || {
                    let mut state = init();
                    ready.wait();
                    (0..n).for_each(|_| call(&mut state));
                })
            })
            .collect();
        ready.wait();
        let start = Instant::now();
        workers.into_iter().for_each(|w| w.join().unwrap());
        start.elapsed()
    })
}
