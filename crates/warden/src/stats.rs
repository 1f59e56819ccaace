//! Per-plugin call statistics: counters, errors by kind, latency and fuel
//! histograms, memory (peak and in use now) and the recent errors with
//! what the plugin wrote to stderr for each.
//!
//! Recording is lock-free (relaxed atomics) except for the recent errors,
//! which only failing calls touch. Memory use is bounded: the histograms
//! have a fixed number of buckets, and at most [`RECENT_ERRORS`] errors are
//! kept, each message and stderr cut to [`ERROR_TEXT_BYTES`]. The per-call counters are sharded by CPU, each
//! shard on its own cache lines, so that calls on different cores do not
//! contend for one counter; a snapshot sums the shards. Stats live as long as the plugin's name in a
//! [`PluginManager`](crate::PluginManager): a reload keeps counting.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::error::{Error, ErrorKind};

/// Sub-buckets per power of two: about 12% resolution.
const SUB_BITS: u32 = 3;
const SUB: usize = 1 << SUB_BITS;
/// Up to 2^40 ns (about 18 minutes); slower calls land in the last bucket.
const MAX_EXP: usize = 40;
const BUCKETS: usize = (MAX_EXP - SUB_BITS as usize + 2) * SUB;

/// Errors kept per plugin ([`StatsSnapshot::recent_errors`]).
pub const RECENT_ERRORS: usize = 10;

/// Longest message and stderr text kept per recorded error, in bytes; a
/// longer text keeps its end (where a panic message is) and says how much
/// was cut.
pub const ERROR_TEXT_BYTES: usize = 4096;

/// A log-linear histogram of nanoseconds (or of fuel units).
struct Histogram {
    buckets: Box<[AtomicU64]>,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram { buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect() }
    }

    fn index(ns: u64) -> usize {
        if ns < SUB as u64 {
            return ns as usize;
        }
        let exp = 63 - ns.leading_zeros();
        let sub = (ns >> (exp - SUB_BITS)) as usize & (SUB - 1);
        ((exp - SUB_BITS + 1) as usize * SUB + sub).min(BUCKETS - 1)
    }

    /// The largest value that falls into bucket `i`.
    fn upper(i: usize) -> u64 {
        if i < SUB {
            return i as u64;
        }
        let exp = (i / SUB) as u32 + SUB_BITS - 1;
        let sub = (i % SUB) as u64;
        ((SUB as u64 + sub + 1) << (exp - SUB_BITS)) - 1
    }

    fn record(&self, ns: u64) {
        self.buckets[Self::index(ns)].fetch_add(1, Relaxed);
    }

    /// Adds the bucket counts into `counts`.
    fn add_to(&self, counts: &mut [u64]) {
        for (c, b) in counts.iter_mut().zip(self.buckets.iter()) {
            *c += b.load(Relaxed);
        }
    }

    /// For each of `bounds` (ascending), how many of `counts` are at most
    /// that bound: a sub-bucket counts toward the first bound at or above
    /// its upper end, so a count never includes a value above its bound.
    fn cumulative<const N: usize>(counts: &[u64], bounds: [Duration; N]) -> [u64; N] {
        let mut out = [0u64; N];
        let mut seen = 0;
        let mut b = 0;
        for (i, bucket) in counts.iter().enumerate() {
            let upper = Self::upper(i);
            while b < N && u128::from(upper) > bounds[b].as_nanos() {
                out[b] = seen;
                b += 1;
            }
            if b == N {
                break;
            }
            seen += bucket;
        }
        for slot in &mut out[b..] {
            *slot = seen;
        }
        out
    }

    /// Upper bounds of the buckets of `counts` holding the given quantiles
    /// (0..=1), as durations.
    fn quantiles<const N: usize>(counts: &[u64], qs: [f64; N]) -> [Duration; N] {
        Self::quantile_values(counts, qs).map(Duration::from_nanos)
    }

    /// Upper bounds of the buckets of `counts` holding the given quantiles (0..=1).
    fn quantile_values<const N: usize>(counts: &[u64], qs: [f64; N]) -> [u64; N] {
        let total: u64 = counts.iter().sum();
        let mut out = [0; N];
        if total == 0 {
            return out;
        }
        for (slot, q) in out.iter_mut().zip(qs) {
            let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    *slot = Self::upper(i);
                    break;
                }
            }
        }
        out
    }
}

/// Upper bounds of [`Latency::buckets`], as Prometheus histograms use
/// them: 100 µs to 10 s.
pub const LATENCY_BUCKETS: [Duration; 16] = [
    Duration::from_micros(100),
    Duration::from_micros(250),
    Duration::from_micros(500),
    Duration::from_millis(1),
    Duration::from_micros(2500),
    Duration::from_millis(5),
    Duration::from_millis(10),
    Duration::from_millis(25),
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_millis(2500),
    Duration::from_secs(5),
    Duration::from_secs(10),
];

/// Shards of the per-call counters; a call records into the shard of the
/// CPU it runs on.
const SHARDS: usize = 8;

/// The per-call counters of one shard, alone on its cache lines.
#[repr(align(128))]
struct Shard {
    calls: AtomicU64,
    /// Sum of call latencies, in nanoseconds.
    latency_sum: AtomicU64,
    fuel: AtomicU64,
    latency: Histogram,
    /// Fuel per call, of calls with fuel metering on.
    fuel_per_call: Histogram,
}

impl Shard {
    fn new() -> Shard {
        Shard {
            calls: AtomicU64::new(0),
            latency_sum: AtomicU64::new(0),
            fuel: AtomicU64::new(0),
            latency: Histogram::new(),
            fuel_per_call: Histogram::new(),
        }
    }
}

/// Live counters for one plugin, shared by every version of it.
pub(crate) struct Stats {
    shards: [Shard; SHARDS],
    errors: [AtomicU64; ErrorKind::ALL.len()],
    peak_memory: AtomicU64,
    /// Linear memory of the live instances, in bytes (see [`MemoryInUse`]).
    memory_in_use: AtomicU64,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
    messages_dropped: AtomicU64,
    instances_retired: AtomicU64,
    /// The last [`RECENT_ERRORS`] errors, oldest first.
    recent_errors: Mutex<VecDeque<LastError>>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            shards: std::array::from_fn(|_| Shard::new()),
            errors: std::array::from_fn(|_| AtomicU64::new(0)),
            peak_memory: AtomicU64::new(0),
            memory_in_use: AtomicU64::new(0),
            reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
            messages_dropped: AtomicU64::new(0),
            instances_retired: AtomicU64::new(0),
            recent_errors: Mutex::new(VecDeque::with_capacity(RECENT_ERRORS)),
        }
    }
}

impl Stats {
    /// Records one finished call: `fuel` is what it burnt (0 without
    /// metering), `stderr` what the plugin wrote to stderr during it (kept
    /// with the error, if the call failed).
    pub(crate) fn call(&self, elapsed: Duration, fuel: u64, error: Option<&Error>, stderr: &str) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let shard = &self.shards[crate::instance::current_cpu() % SHARDS];
        shard.calls.fetch_add(1, Relaxed);
        shard.latency_sum.fetch_add(ns, Relaxed);
        shard.latency.record(ns);
        if fuel > 0 {
            shard.fuel.fetch_add(fuel, Relaxed);
            shard.fuel_per_call.record(fuel);
        }
        if let Some(e) = error {
            self.record_error(e, stderr);
        }
    }

    /// Records an error outside a call (a failed load or reload).
    pub(crate) fn error(&self, e: &Error) {
        self.record_error(e, "");
    }

    fn record_error(&self, e: &Error, stderr: &str) {
        let kind = e.kind();
        let i = ErrorKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        self.errors[i].fetch_add(1, Relaxed);
        let last = LastError {
            at: SystemTime::now(),
            kind,
            message: tail(&e.to_string(), ERROR_TEXT_BYTES),
            stderr: tail(stderr.trim_start_matches(['\n', '\r']).trim_end(), ERROR_TEXT_BYTES),
        };
        let mut recent = self.recent_errors.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() == RECENT_ERRORS {
            recent.pop_front();
        }
        recent.push_back(last);
    }

    /// Records a call refused before it reached the plugin (disabled,
    /// failed, backing off): counted by kind, without touching the last
    /// error, which keeps saying why the plugin is not serving.
    pub(crate) fn refused(&self, kind: ErrorKind) {
        let i = ErrorKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        self.errors[i].fetch_add(1, Relaxed);
    }

    pub(crate) fn instance_retired(&self) {
        self.instances_retired.fetch_add(1, Relaxed);
    }

    /// Notes a linear memory reaching `bytes`.
    pub(crate) fn memory(&self, bytes: u64) {
        self.peak_memory.fetch_max(bytes, Relaxed);
    }

    pub(crate) fn messages_dropped(&self, n: u64) {
        self.messages_dropped.fetch_add(n, Relaxed);
    }

    pub(crate) fn reloaded(&self, ok: bool) {
        if ok { &self.reloads } else { &self.reload_failures }.fetch_add(1, Relaxed);
    }

    /// A consistent-enough copy for reporting (each counter read once),
    /// with the plugin's `live` instances, `idle` of them.
    pub(crate) fn snapshot(&self, live: u32, idle: u32) -> StatsSnapshot {
        let errors: Vec<(ErrorKind, u64)> = ErrorKind::ALL
            .iter()
            .zip(&self.errors)
            .map(|(k, n)| (*k, n.load(Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect();
        let count = |pred: fn(ErrorKind) -> bool| errors.iter().filter(|(k, _)| pred(*k)).map(|(_, n)| n).sum();
        let mut counts = vec![0; BUCKETS];
        self.shards.iter().for_each(|s| s.latency.add_to(&mut counts));
        let sum = |counter: fn(&Shard) -> &AtomicU64| self.shards.iter().map(|s| counter(s).load(Relaxed)).sum();
        let [p50, p90, p99, max] = Histogram::quantiles(&counts, [0.5, 0.9, 0.99, 1.0]);
        let mut fuel_counts = vec![0; BUCKETS];
        self.shards.iter().for_each(|s| s.fuel_per_call.add_to(&mut fuel_counts));
        let metered: u64 = fuel_counts.iter().sum();
        let fuel_per_call = (metered > 0).then(|| {
            let [p50, p90, p99, max] = Histogram::quantile_values(&fuel_counts, [0.5, 0.9, 0.99, 1.0]);
            FuelPerCall { calls: metered, p50, p90, p99, max }
        });
        let recent: Vec<LastError> =
            self.recent_errors.lock().unwrap_or_else(|p| p.into_inner()).iter().rev().cloned().collect();
        StatsSnapshot {
            calls: sum(|s| &s.calls),
            errors_total: errors.iter().map(|(_, n)| n).sum(),
            traps: count(ErrorKind::is_trap),
            timeouts: count(|k| k == ErrorKind::Timeout),
            errors,
            latency: Latency {
                p50,
                p90,
                p99,
                max,
                sum: Duration::from_nanos(sum(|s| &s.latency_sum)),
                buckets: Histogram::cumulative(&counts, LATENCY_BUCKETS),
            },
            fuel_consumed: sum(|s| &s.fuel),
            fuel_per_call,
            peak_memory_bytes: self.peak_memory.load(Relaxed),
            memory_in_use_bytes: self.memory_in_use.load(Relaxed),
            instances: live,
            idle_instances: idle.min(live),
            reloads: self.reloads.load(Relaxed),
            reload_failures: self.reload_failures.load(Relaxed),
            messages_dropped: self.messages_dropped.load(Relaxed),
            instances_retired: self.instances_retired.load(Relaxed),
            last_error: recent.first().cloned(),
            recent_errors: recent,
        }
    }
}

/// The linear memory one instance holds, counted in its plugin's memory in
/// use ([`StatsSnapshot::memory_in_use_bytes`]) until the instance (its
/// store) is dropped.
pub(crate) struct MemoryInUse {
    stats: Arc<Stats>,
    bytes: u64,
}

impl MemoryInUse {
    pub(crate) fn new(stats: Arc<Stats>) -> MemoryInUse {
        MemoryInUse { stats, bytes: 0 }
    }

    /// A memory of the instance grew from `current` to `desired` bytes (a
    /// new memory grows from 0).
    pub(crate) fn grew(&mut self, current: u64, desired: u64) {
        let added = desired.saturating_sub(current);
        self.bytes += added;
        self.stats.memory_in_use.fetch_add(added, Relaxed);
    }
}

impl Drop for MemoryInUse {
    fn drop(&mut self) {
        self.stats.memory_in_use.fetch_sub(self.bytes, Relaxed);
    }
}

/// The last `max` bytes of `text` (cut at a character boundary), after a
/// note of how many bytes were cut.
fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("[{start} bytes cut]\n{}", &text[start..])
}

/// A plugin's statistics at one moment. Counters cover every version of the
/// plugin since it was first loaded.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Hook calls made (successful or not).
    pub calls: u64,
    /// Errors of any kind, including failed loads and reloads.
    pub errors_total: u64,
    /// Errors by kind (kinds with a zero count left out).
    pub errors: Vec<(ErrorKind, u64)>,
    /// Calls stopped by a trap or a limit ([`ErrorKind::is_trap`]).
    pub traps: u64,
    /// Calls stopped at their deadline.
    pub timeouts: u64,
    /// Call latency quantiles (about 12% resolution).
    pub latency: Latency,
    /// Fuel burnt by all calls (0 without fuel metering).
    pub fuel_consumed: u64,
    /// Fuel per call quantiles; `None` until a call ran with fuel metering.
    pub fuel_per_call: Option<FuelPerCall>,
    /// Largest linear memory any instance reached, in bytes.
    pub peak_memory_bytes: u64,
    /// Linear memory held now by the plugin's live instances (idle ones
    /// included, and those of an old version still finishing its calls
    /// after a reload), in bytes.
    pub memory_in_use_bytes: u64,
    /// Instances alive now (idle or in a call).
    pub instances: u32,
    /// Of [`instances`](Self::instances), those idle in the pool now; the
    /// others are in a call (or starting).
    pub idle_instances: u32,
    /// Successful reloads.
    pub reloads: u64,
    /// Reloads that failed and left the previous version serving.
    pub reload_failures: u64,
    /// Messages for this plugin that were dropped: its mailbox was full
    /// (the oldest goes), it was not taking calls, or it was unloaded.
    pub messages_dropped: u64,
    /// Instances retired between calls because their linear memory had
    /// grown past three quarters of `[limits] memory` (a guest that leaks a
    /// little per call is replaced before a call fails at the cap).
    pub instances_retired: u64,
    /// The most recent error.
    pub last_error: Option<LastError>,
    /// The most recent errors, newest first; at most [`RECENT_ERRORS`].
    pub recent_errors: Vec<LastError>,
}

/// Fuel burnt per call, over the calls that ran with fuel metering. Values
/// are the upper ends of 12%-wide buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FuelPerCall {
    /// Metered calls counted.
    pub calls: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Most fuel one call burnt.
    pub max: u64,
}

/// Call latency: quantiles, and a histogram that sums across hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Latency {
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest call.
    pub max: Duration,
    /// Time spent in all calls together.
    pub sum: Duration,
    /// Calls that took at most each of [`LATENCY_BUCKETS`] (cumulative,
    /// like Prometheus histogram buckets). Values are sorted into 12%-wide
    /// sub-buckets first, so a call just under a bound may count toward the
    /// next one, never toward a lower one.
    pub buckets: [u64; LATENCY_BUCKETS.len()],
}

/// An error of a plugin, as its stats keep it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct LastError {
    /// When it happened.
    pub at: SystemTime,
    /// Its kind.
    pub kind: ErrorKind,
    /// Its message (the last [`ERROR_TEXT_BYTES`] of it).
    pub message: String,
    /// What the plugin wrote to stderr during the failed call (the last
    /// [`ERROR_TEXT_BYTES`] of it, trailing whitespace removed); empty if
    /// nothing, or if the error happened outside a call (a failed load).
    pub stderr: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_contain_their_values() {
        let mut prev = None;
        for ns in (0..20_000u64).chain([1 << 20, (1 << 20) + 1, 123_456_789, 1 << 39]) {
            let i = Histogram::index(ns);
            assert!(Histogram::upper(i) >= ns, "{ns} above bucket {i}");
            if i > 0 {
                assert!(Histogram::upper(i - 1) < ns, "{ns} belongs below bucket {i}");
            }
            if let Some(p) = prev {
                assert!(i >= p);
            }
            prev = Some(i);
        }
        assert_eq!(Histogram::index(u64::MAX), BUCKETS - 1);
    }

    fn counts(h: &Histogram) -> Vec<u64> {
        let mut counts = vec![0; BUCKETS];
        h.add_to(&mut counts);
        counts
    }

    #[test]
    fn quantiles_within_resolution() {
        let h = Histogram::new();
        for us in 1..=1000u64 {
            h.record(us * 1000);
        }
        let [p50, p99] = Histogram::quantiles(&counts(&h), [0.5, 0.99]);
        let near = |d: Duration, us: f64| (d.as_secs_f64() * 1e6 / us - 1.0).abs() < 0.13;
        assert!(near(p50, 500.0), "{p50:?}");
        assert!(near(p99, 990.0), "{p99:?}");
        assert_eq!(Histogram::quantiles(&counts(&Histogram::new()), [0.5]), [Duration::ZERO]);
    }

    #[test]
    fn cumulative_counts_never_include_values_above_their_bound() {
        let h = Histogram::new();
        for us in [50u64, 90, 100, 120, 400, 900, 20_000, 20_000_000] {
            h.record(us * 1000);
        }
        let ms = Duration::from_millis;
        let [a, b, c, d, e] =
            Histogram::cumulative(&counts(&h), [Duration::from_micros(100), ms(1), ms(10), ms(100), ms(100_000)]);
        // 100 us itself may land above the bound (its sub-bucket reaches past it).
        assert!(a == 2 || a == 3, "{a}");
        assert_eq!((b, c, d, e), (6, 6, 7, 8));
        let s = Stats::default();
        s.call(Duration::from_millis(2), 0, None, "");
        s.call(Duration::from_millis(3), 0, None, "");
        let latency = s.snapshot(0, 0).latency;
        assert_eq!(latency.sum, Duration::from_millis(5));
        assert_eq!(latency.buckets[LATENCY_BUCKETS.len() - 1], 2);
        assert_eq!(latency.buckets[0], 0);
    }

    #[test]
    fn calls_on_every_cpu_add_up() {
        let s = Arc::new(Stats::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || (0..1000).for_each(|_| s.call(Duration::from_micros(10), 2, None, "")))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let snap = s.snapshot(0, 0);
        assert_eq!((snap.calls, snap.fuel_consumed, snap.latency.sum), (4000, 8000, Duration::from_millis(40)));
        let fuel = snap.fuel_per_call.unwrap();
        assert_eq!((fuel.calls, fuel.p50, fuel.max), (4000, 2, 2));
        assert_eq!(snap.latency.buckets[0], 4000);
    }

    #[test]
    fn snapshot_counts_errors_by_kind() {
        let s = Stats::default();
        let timeout = Error::Timeout {
            plugin: "p".into(),
            hook: crate::Hook::Handle,
            timeout: Duration::from_secs(1),
            by_caller: false,
        };
        s.call(Duration::from_micros(2), 10, None, "");
        s.call(Duration::from_micros(3), 5, Some(&timeout), "thinking...\n");
        s.call(Duration::from_micros(3), 0, Some(&Error::Runtime("x".into())), "");
        s.memory(1 << 20);
        s.memory(4096);
        let snap = s.snapshot(2, 1);
        assert_eq!((snap.calls, snap.errors_total, snap.traps, snap.timeouts), (3, 2, 1, 1));
        assert_eq!(snap.errors, vec![(ErrorKind::Timeout, 1), (ErrorKind::Runtime, 1)]);
        assert_eq!((snap.fuel_consumed, snap.peak_memory_bytes), (15, 1 << 20));
        assert_eq!((snap.instances, snap.idle_instances), (2, 1));
        assert_eq!(snap.last_error.map(|e| e.kind), Some(ErrorKind::Runtime));
        let kinds: Vec<_> = snap.recent_errors.iter().map(|e| (e.kind, e.stderr.as_str())).collect();
        assert_eq!(kinds, [(ErrorKind::Runtime, ""), (ErrorKind::Timeout, "thinking...")], "newest first");
        let fuel = snap.fuel_per_call.unwrap();
        assert_eq!(fuel.calls, 2);
        assert!((5..=6).contains(&fuel.p50) && (10..=11).contains(&fuel.max), "{fuel:?}");
    }

    #[test]
    fn recent_errors_are_bounded_and_keep_the_end_of_long_texts() {
        let s = Stats::default();
        let long = format!("{}panicked at src/lib.rs: boom", "é".repeat(ERROR_TEXT_BYTES));
        for i in 0..RECENT_ERRORS + 5 {
            s.call(Duration::from_micros(1), 0, Some(&Error::Runtime(format!("error {i}"))), &long);
        }
        let snap = s.snapshot(0, 0);
        assert_eq!(snap.recent_errors.len(), RECENT_ERRORS);
        assert_eq!(snap.recent_errors[0].message, format!("error {}", RECENT_ERRORS + 4));
        assert_eq!(snap.recent_errors[RECENT_ERRORS - 1].message, "error 5");
        let stderr = &snap.recent_errors[0].stderr;
        assert!(stderr.starts_with('[') && stderr.ends_with("panicked at src/lib.rs: boom"), "{stderr}");
        assert!(stderr.len() <= ERROR_TEXT_BYTES + 32, "{}", stderr.len());
        assert!(s.snapshot(0, 0).fuel_per_call.is_none(), "no metered call");
    }

    #[test]
    fn memory_in_use_follows_live_instances() {
        let s = Arc::new(Stats::default());
        let mut a = MemoryInUse::new(s.clone());
        a.grew(0, 1 << 16);
        a.grew(1 << 16, 3 << 16);
        let mut b = MemoryInUse::new(s.clone());
        b.grew(0, 1 << 16);
        assert_eq!(s.snapshot(2, 0).memory_in_use_bytes, 4 << 16);
        drop(a);
        assert_eq!(s.snapshot(1, 0).memory_in_use_bytes, 1 << 16);
        drop(b);
        assert_eq!(s.snapshot(0, 0).memory_in_use_bytes, 0);
    }
}
