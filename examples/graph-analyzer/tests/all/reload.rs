//! Hot reload: a new version (here, a new `[config]`) swaps in while calls
//! keep coming, and none of them fails.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use graph_analyzer::analyze;

use crate::common::{SAMPLE_ORPHAN, SAMPLE_TEST_ORPHAN, findings, install, manager, replace, sample, write_manifest};

const THREADS: usize = 4;

#[test]
fn reload_under_load_drops_no_call_and_applies_the_new_config() {
    let dir = tempfile::tempdir().unwrap();
    let folder = install(dir.path(), "orphan-finder", |text| text);
    let manager = manager();
    manager.load(&folder).unwrap();
    let nodes = sample();
    let calls = AtomicU64::new(0);
    let give_up = Instant::now() + Duration::from_secs(120);

    std::thread::scope(|s| {
        let callers: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    // Calls until this thread has seen the new config answer
                    // a few times; every call must succeed.
                    let (mut old, mut new) = (0, 0);
                    while new < 5 {
                        assert!(Instant::now() < give_up, "the new config never took effect");
                        let result = analyze(&manager, "orphan-finder", &nodes)
                            .unwrap_or_else(|e| panic!("a call failed during the reload: {e}"));
                        match findings(&result).as_slice() {
                            [SAMPLE_ORPHAN] if new == 0 => old += 1,
                            [SAMPLE_ORPHAN, SAMPLE_TEST_ORPHAN] => new += 1,
                            other => panic!("unexpected findings {other:?} (old answers {old}, new {new})"),
                        }
                        calls.fetch_add(1, Ordering::Relaxed);
                    }
                    old
                })
            })
            .collect();

        // Reload once the callers are busy: tests are no roots any more.
        while calls.load(Ordering::Relaxed) < 40 {
            assert!(Instant::now() < give_up, "the callers made no calls");
            std::thread::sleep(Duration::from_millis(5));
        }
        write_manifest(&folder, "orphan-finder", replace("roots = \"main,test\"", "roots = \"main\""));
        manager.reload("orphan-finder").unwrap();
        let result = analyze(&manager, "orphan-finder", &nodes).unwrap();
        assert_eq!(findings(&result), [SAMPLE_ORPHAN, SAMPLE_TEST_ORPHAN], "the reload applies at once");

        let old: Vec<usize> = callers.into_iter().map(|c| c.join().unwrap()).collect();
        assert!(old.iter().sum::<usize>() >= 40, "calls before the reload: {old:?}");
    });

    let info = manager.info("orphan-finder").unwrap();
    assert_eq!(info.stats.reloads, 1);
    assert_eq!(info.stats.errors_total, 0, "{:?}", info.last_error);
    assert_eq!(info.stats.calls, calls.load(Ordering::Relaxed) + 1);
}
