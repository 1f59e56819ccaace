//! Limits: a call past its deadline or out of fuel fails with a typed
//! error, its instance is thrown away, and the next call works; the stats
//! count both.

use graph_analyzer::analyze;
use warden::{Error, ErrorKind};

use crate::common::{SAMPLE_CYCLE, SAMPLE_ORPHAN, chain, findings, install, manager, replace, sample};

#[test]
fn a_tiny_timeout_stops_a_huge_graph_and_the_next_call_works() {
    let dir = tempfile::tempdir().unwrap();
    // 100 000 nodes take the plugin about half a second: ten times its timeout.
    install(dir.path(), "cycle-finder", replace("timeout = \"2s\"", "timeout = \"50ms\""));
    let manager = manager();
    manager.load_dir(dir.path()).unwrap();

    let err = analyze(&manager, "cycle-finder", &chain(100_000)).unwrap_err();
    assert!(
        matches!(&err, Error::Timeout { plugin, timeout, by_caller: false, .. }
        if plugin == "cycle-finder" && timeout.as_millis() == 50),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "plugin 'cycle-finder' exceeded its 50 ms timeout in analyze-graph; raise [limits] timeout or fix the plugin"
    );

    let result = analyze(&manager, "cycle-finder", &sample()).unwrap();
    assert_eq!(findings(&result), [SAMPLE_CYCLE]);

    let stats = manager.info("cycle-finder").unwrap().stats;
    assert_eq!((stats.calls, stats.errors_total, stats.timeouts, stats.traps), (2, 1, 1, 1));
    assert_eq!(stats.errors, [(ErrorKind::Timeout, 1)]);
}

#[test]
fn fuel_stops_a_big_graph_and_stats_count_calls_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    // The sample graph takes under 100 000 fuel; 10 000 nodes about 6 million.
    install(dir.path(), "orphan-finder", replace("[limits]\n", "[limits]\nfuel = 1_000_000\n"));
    let manager = manager();
    manager.load_dir(dir.path()).unwrap();

    for _ in 0..3 {
        assert_eq!(findings(&analyze(&manager, "orphan-finder", &sample()).unwrap()), [SAMPLE_ORPHAN]);
    }
    let err = analyze(&manager, "orphan-finder", &chain(10_000)).unwrap_err();
    assert!(matches!(&err, Error::OutOfFuel { plugin, fuel: 1_000_000, .. } if plugin == "orphan-finder"), "{err:?}");
    assert_eq!(
        err.to_string(),
        "plugin 'orphan-finder' ran out of fuel (1000000) in analyze-graph; raise [limits] fuel or fix the plugin"
    );
    // A fresh instance serves the next call.
    assert_eq!(findings(&analyze(&manager, "orphan-finder", &sample()).unwrap()), [SAMPLE_ORPHAN]);

    let info = manager.info("orphan-finder").unwrap();
    let stats = &info.stats;
    assert_eq!((stats.calls, stats.errors_total, stats.traps, stats.timeouts), (5, 1, 1, 0));
    assert_eq!(stats.errors, [(ErrorKind::OutOfFuel, 1)]);
    assert_eq!(info.last_error.as_deref(), Some(err.to_string().as_str()));
    assert!(stats.latency.p50 > std::time::Duration::ZERO && stats.latency.max >= stats.latency.p50);
    assert!(stats.fuel_consumed > 1_000_000, "the failed call burnt all its fuel: {}", stats.fuel_consumed);
    // The plugin itself sees the same counters as the manager.
    let plugin = manager.plugin("orphan-finder").unwrap();
    assert_eq!(plugin.stats().calls, 5);
    assert_eq!(plugin.stats().errors_total, 1);
}
