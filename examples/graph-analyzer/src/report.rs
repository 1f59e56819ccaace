//! The text report: what each plugin found, then each plugin's call
//! statistics.

use std::fmt::{self, Write as _};
use std::time::Duration;

use crate::analyze::Outcome;

/// The answers of every plugin for one graph, ready to print.
#[derive(Debug)]
pub struct Report<'a> {
    /// How the graph is named (its file).
    pub graph: &'a str,
    /// Its node count.
    pub nodes: usize,
    /// Its edge count (between its nodes).
    pub edges: usize,
    /// Each plugin's answer.
    pub outcomes: &'a [Outcome],
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "graph {} ({} nodes, {} edges)", self.graph, self.nodes, self.edges)?;
        for outcome in self.outcomes {
            writeln!(f)?;
            writeln!(f, "{}", outcome.plugin)?;
            let result = match &outcome.result {
                Ok(result) => result,
                Err(e) => {
                    writeln!(f, "  error: {e}")?;
                    continue;
                }
            };
            if result.findings.is_empty() {
                writeln!(f, "  findings: none")?;
            } else {
                writeln!(f, "  findings:")?;
                for finding in &result.findings {
                    writeln!(f, "    - {finding}")?;
                }
            }
            writeln!(f, "  confidence: {:.2}", result.confidence)?;
            if !result.recommendations.is_empty() {
                writeln!(f, "  recommendations:")?;
                for recommendation in &result.recommendations {
                    writeln!(f, "    - {recommendation}")?;
                }
            }
        }
        Ok(())
    }
}

/// A table of each plugin's calls, errors and median latency.
pub fn stats_table(plugins: &[warden::PluginInfo]) -> String {
    let width = plugins.iter().map(|p| p.name.len()).max().unwrap_or(0).max("plugin".len());
    let mut out = format!("{:<width$}  {:>6}  {:>6}  {:>10}\n", "plugin", "calls", "errors", "p50");
    for p in plugins {
        let stats = &p.stats;
        let p50 = millis(stats.latency.p50);
        // Writing to a String cannot fail.
        let _ = writeln!(out, "{:<width$}  {:>6}  {:>6}  {:>10}", p.name, stats.calls, stats.errors_total, p50);
    }
    out
}

/// `1.25 ms`.
fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
