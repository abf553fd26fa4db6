//! Crash points for fault tests: with `CLEW_CRASH_AT=<point>` in its environment, the
//! process kills itself with SIGKILL the first time it reaches that point, exactly as an
//! operator's `kill -9` would at that moment (no destructors, no buffered writes flushed).
//!
//! The points sit between the steps of a flush, a compaction and a block write, so that an
//! integration test can crash the real binary at each of them and check, after a restart,
//! that every acknowledged span is there exactly once. Unset (always, outside those tests),
//! a point costs one load of an initialised `OnceLock`.

use std::sync::OnceLock;

/// Every crash point, in the order a flush then a compaction reaches them.
pub const CRASH_POINTS: &[&str] = &[
    // Flush: the head generation was cut (its WAL segments closed), nothing written yet.
    "flush.cut",
    // Inside a block write (flush or compaction): `data.parquet` put, then `bloom` put.
    "block.data_written",
    "block.bloom_written",
    // Flush: `meta.json` written and synced, WAL segments not yet deleted.
    "flush.block_written",
    // Flush: some but not all of the covered WAL segments deleted.
    "flush.wal_partly_released",
    // Compaction: the merged block complete, the old blocks all still there.
    "compact.block_written",
    // Compaction: one old block deleted (`meta.json` first), the others still there.
    "compact.old_partly_deleted",
];

fn armed() -> Option<&'static str> {
    static AT: OnceLock<Option<String>> = OnceLock::new();
    AT.get_or_init(|| {
        std::env::var("CLEW_CRASH_AT")
            .ok()
            .filter(|p| !p.is_empty())
    })
    .as_deref()
}

/// Kills the process if `CLEW_CRASH_AT` names `point`.
pub fn crash_point(point: &'static str) {
    debug_assert!(
        CRASH_POINTS.contains(&point),
        "unlisted crash point {point}"
    );
    if armed() != Some(point) {
        return;
    }
    tracing::warn!(
        point,
        "CLEW_CRASH_AT reached: killing this process with SIGKILL"
    );
    // SIGKILL rather than `abort()`: the test means an outside `kill -9`, which no signal
    // handler sees. `kill` is in every base system; `unsafe` (for libc) is forbidden here.
    let pid = std::process::id().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid])
        .status();
    // Should `kill` be missing, still never go on past the point.
    std::process::abort();
}
