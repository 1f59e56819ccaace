//! Gateway metrics, lock-free on the request path, rendered in the
//! Prometheus text format (version 0.0.4) by the admin API's `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use warden::{PluginInfo, PluginState};

/// Histogram bucket upper bounds: the plugin latency histograms' bounds,
/// so every duration metric has the same buckets.
const BUCKETS: [Duration; 16] = warden::LATENCY_BUCKETS;

/// A Prometheus histogram of durations.
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
        }
    }

    fn record(&self, d: Duration) {
        if let Some(i) = BUCKETS.iter().position(|&b| d <= b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_nanos.fetch_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX), Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = [0; BUCKETS.len()];
        let mut seen = 0;
        for (slot, n) in cumulative.iter_mut().zip(&self.buckets) {
            seen += n.load(Relaxed);
            *slot = seen;
        }
        let sum = Duration::from_nanos(self.sum_nanos.load(Relaxed));
        render_histogram(out, name, labels, &cumulative, self.count.load(Relaxed), sum);
    }
}

/// The sample lines of one histogram: cumulative bucket counts at
/// [`BUCKETS`], then `+Inf`, `_sum` and `_count`.
fn render_histogram(out: &mut String, name: &str, labels: &str, cumulative: &[u64], count: u64, sum: Duration) {
    for (bound, n) in BUCKETS.iter().zip(cumulative) {
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{}\"}} {n}", bound.as_secs_f64());
    }
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", sum.as_secs_f64());
    let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
}

/// Counters of one route.
struct RouteMetrics {
    name: String,
    /// Requests by status code (index = status, 0..600).
    status: Box<[AtomicU64]>,
    duration: Histogram,
    on_request: Histogram,
    on_response: Histogram,
}

/// Which pipeline a duration belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Phase {
    OnRequest,
    OnResponse,
}

/// Every gateway metric.
pub(crate) struct Metrics {
    routes: Vec<RouteMetrics>,
    /// Requests no route matched, by status.
    unrouted: AtomicU64,
    connections: AtomicU64,
    connections_denied: AtomicU64,
    background_dropped: AtomicU64,
    /// Client connections open now.
    open_connections: AtomicU64,
    /// Requests that ended without a response.
    cut: AtomicU64,
}

impl Metrics {
    pub(crate) fn new(routes: impl IntoIterator<Item = String>) -> Metrics {
        Metrics {
            routes: routes
                .into_iter()
                .map(|name| RouteMetrics {
                    name,
                    status: (0..600).map(|_| AtomicU64::new(0)).collect(),
                    duration: Histogram::new(),
                    on_request: Histogram::new(),
                    on_response: Histogram::new(),
                })
                .collect(),
            unrouted: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            connections_denied: AtomicU64::new(0),
            background_dropped: AtomicU64::new(0),
            open_connections: AtomicU64::new(0),
            cut: AtomicU64::new(0),
        }
    }

    /// Counts a client connection as open while the guard lives.
    pub(crate) fn open_connection(&self) -> OpenConnection<'_> {
        self.open_connections.fetch_add(1, Relaxed);
        OpenConnection(&self.open_connections)
    }

    /// A request ended without a response (client gone, or cut at shutdown).
    pub(crate) fn cut(&self) {
        self.cut.fetch_add(1, Relaxed);
    }

    /// Records a finished request of route `route` (`None`: no route
    /// matched, or the request was refused before routing).
    pub(crate) fn request(&self, route: Option<usize>, status: u16, took: Duration) {
        match route.and_then(|i| self.routes.get(i)) {
            Some(r) => {
                r.status[usize::from(status.min(599))].fetch_add(1, Relaxed);
                r.duration.record(took);
            }
            None => {
                self.unrouted.fetch_add(1, Relaxed);
            }
        }
    }

    pub(crate) fn pipeline(&self, route: usize, phase: Phase, took: Duration) {
        if let Some(r) = self.routes.get(route) {
            match phase {
                Phase::OnRequest => r.on_request.record(took),
                Phase::OnResponse => r.on_response.record(took),
            }
        }
    }

    pub(crate) fn connection(&self, denied: bool) {
        self.connections.fetch_add(1, Relaxed);
        if denied {
            self.connections_denied.fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn background_dropped(&self) {
        self.background_dropped.fetch_add(1, Relaxed);
    }

    /// The Prometheus text for the gateway and `plugins`.
    pub(crate) fn render(&self, plugins: &[PluginInfo], in_flight: usize) -> String {
        let mut out = String::with_capacity(16 << 10);
        let o = &mut out;
        header(o, "warden_requests_total", "counter", "HTTP requests by route and status.");
        for r in &self.routes {
            for (status, n) in r.status.iter().enumerate() {
                let n = n.load(Relaxed);
                if n > 0 {
                    let _ = writeln!(o, "warden_requests_total{{route=\"{}\",status=\"{status}\"}} {n}", esc(&r.name));
                }
            }
        }
        header(
            o,
            "warden_unrouted_requests_total",
            "counter",
            "Requests that took no route: none matched (404), or the path was refused (400).",
        );
        let _ = writeln!(o, "warden_unrouted_requests_total {}", self.unrouted.load(Relaxed));
        header(o, "warden_request_duration_seconds", "histogram", "Time from request received to response sent.");
        for r in &self.routes {
            r.duration.render(o, "warden_request_duration_seconds", &format!("route=\"{}\"", esc(&r.name)));
        }
        header(o, "warden_pipeline_duration_seconds", "histogram", "Time spent in a route's plugin pipeline per hook.");
        for r in &self.routes {
            let name = esc(&r.name);
            r.on_request.render(
                o,
                "warden_pipeline_duration_seconds",
                &format!("route=\"{name}\",hook=\"on-request\""),
            );
            r.on_response.render(
                o,
                "warden_pipeline_duration_seconds",
                &format!("route=\"{name}\",hook=\"on-response\""),
            );
        }
        header(o, "warden_requests_in_flight", "gauge", "Requests being served now.");
        let _ = writeln!(o, "warden_requests_in_flight {in_flight}");
        header(o, "warden_connections_total", "counter", "Connections accepted.");
        let _ = writeln!(o, "warden_connections_total {}", self.connections.load(Relaxed));
        header(o, "warden_connections_denied_total", "counter", "Connections closed by on-connect plugins.");
        let _ = writeln!(o, "warden_connections_denied_total {}", self.connections_denied.load(Relaxed));
        header(o, "warden_connections_open", "gauge", "Client connections open now (bounded by max-connections).");
        let _ = writeln!(o, "warden_connections_open {}", self.open_connections.load(Relaxed));
        header(
            o,
            "warden_requests_cut_total",
            "counter",
            "Requests that ended without a response: the client went away, or the drain timeout cut them.",
        );
        let _ = writeln!(o, "warden_requests_cut_total {}", self.cut.load(Relaxed));
        header(
            o,
            "warden_background_dropped_total",
            "counter",
            "on-capture and on-rule-match deliveries dropped because too many were waiting.",
        );
        let _ = writeln!(o, "warden_background_dropped_total {}", self.background_dropped.load(Relaxed));
        render_plugins(o, plugins);
        out
    }
}

/// A per-plugin counter or gauge: metric name, help text, and how to read it.
type Counter = (&'static str, &'static str, fn(&PluginInfo) -> u64);

fn render_plugins(o: &mut String, plugins: &[PluginInfo]) {
    header(o, "warden_plugin_up", "gauge", "1 if the plugin is running (serving calls), else 0; state as a label.");
    for p in plugins {
        let up = u8::from(p.state == PluginState::Running);
        let _ = writeln!(o, "warden_plugin_up{{plugin=\"{}\",state=\"{}\"}} {up}", esc(&p.name), p.state.as_str());
    }
    let counters: [Counter; 8] = [
        ("warden_plugin_calls_total", "Hook calls made.", |p| p.stats.calls),
        ("warden_plugin_errors_total", "Failed calls (refused ones included), loads and reloads.", |p| {
            p.stats.errors_total
        }),
        ("warden_plugin_traps_total", "Calls stopped by a trap or a limit.", |p| p.stats.traps),
        ("warden_plugin_timeouts_total", "Calls stopped at their deadline.", |p| p.stats.timeouts),
        ("warden_plugin_reloads_total", "New versions that went live.", |p| p.stats.reloads),
        ("warden_plugin_reload_failures_total", "Reloads refused; the previous version kept serving.", |p| {
            p.stats.reload_failures
        }),
        (
            "warden_plugin_messages_dropped_total",
            "Messages for the plugin dropped: its mailbox was full, or it did not take calls.",
            |p| p.stats.messages_dropped,
        ),
        ("warden_plugin_instances_retired_total", "Instances retired between calls near their memory cap.", |p| {
            p.stats.instances_retired
        }),
    ];
    for (name, help, value) in counters {
        header(o, name, "counter", help);
        for p in plugins {
            let _ = writeln!(o, "{name}{{plugin=\"{}\"}} {}", esc(&p.name), value(p));
        }
    }
    header(o, "warden_plugin_errors_by_kind_total", "counter", "Failed calls by error kind.");
    for p in plugins {
        for (kind, n) in &p.stats.errors {
            let _ =
                writeln!(o, "warden_plugin_errors_by_kind_total{{plugin=\"{}\",kind=\"{kind}\"}} {n}", esc(&p.name));
        }
    }
    header(o, "warden_plugin_latency_seconds", "histogram", "Hook call latency.");
    for p in plugins {
        let l = &p.stats.latency;
        let labels = format!("plugin=\"{}\"", esc(&p.name));
        render_histogram(o, "warden_plugin_latency_seconds", &labels, &l.buckets, p.stats.calls, l.sum);
    }
    let gauges: [Counter; 2] = [
        ("warden_plugin_queued_messages", "Messages waiting in the plugin's mailbox.", |p| p.queued_messages as u64),
        ("warden_plugin_queued_message_bytes", "Bytes of the messages waiting in the plugin's mailbox.", |p| {
            p.queued_message_bytes
        }),
    ];
    for (name, help, value) in gauges {
        header(o, name, "gauge", help);
        for p in plugins {
            let _ = writeln!(o, "{name}{{plugin=\"{}\"}} {}", esc(&p.name), value(p));
        }
    }
    header(o, "warden_plugin_instances", "gauge", "Plugin instances alive (idle or in a call).");
    for p in plugins {
        let _ = writeln!(o, "warden_plugin_instances{{plugin=\"{}\"}} {}", esc(&p.name), p.stats.instances);
    }
}

/// Counts one open connection; dropped when the connection closes.
pub(crate) struct OpenConnection<'a>(&'a AtomicU64);

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

fn header(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Escapes a label value.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::new(["api".to_owned(), "we\"ird".to_owned()]);
        m.request(Some(0), 200, Duration::from_micros(300));
        m.request(Some(0), 200, Duration::from_millis(3));
        m.request(Some(0), 413, Duration::from_micros(50));
        m.request(None, 404, Duration::from_micros(10));
        m.pipeline(0, Phase::OnRequest, Duration::from_micros(80));
        m.background_dropped();
        let text = m.render(&[], 2);
        assert!(text.contains("warden_requests_total{route=\"api\",status=\"200\"} 2\n"), "{text}");
        assert!(text.contains("warden_requests_total{route=\"api\",status=\"413\"} 1\n"));
        assert!(text.contains("warden_unrouted_requests_total 1\n"));
        assert!(text.contains("warden_request_duration_seconds_bucket{route=\"api\",le=\"0.0001\"} 1\n"));
        assert!(text.contains("warden_request_duration_seconds_bucket{route=\"api\",le=\"0.0005\"} 2\n"));
        assert!(text.contains("warden_request_duration_seconds_bucket{route=\"api\",le=\"+Inf\"} 3\n"));
        assert!(text.contains("warden_request_duration_seconds_count{route=\"api\"} 3\n"));
        assert!(
            text.contains(
                "warden_pipeline_duration_seconds_bucket{route=\"api\",hook=\"on-request\",le=\"0.0001\"} 1\n"
            )
        );
        assert!(text.contains("route=\"we\\\"ird\""));
        assert!(text.contains("warden_requests_in_flight 2\n"));
        assert!(text.contains("warden_background_dropped_total 1\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "bad sample line: {line}");
        }
    }
}
