//! The WAL check run by the `wal_segment` fuzz target (`fuzz/`) and its regression test
//! (`tests/fuzz_regressions.rs`), so both exercise the same code. Hidden from the docs and
//! not a stable API.

use crate::wal::{self, CutReason, MAGIC, replay_segment_bytes};

/// Replays fuzzed bytes as one segment and checks replay's promises: no panic; what it
/// keeps is a prefix of the input; a cut is reported exactly when something is dropped;
/// the head holds the replayed spans less duplicates; replaying what was kept (as the
/// truncated file is replayed at the next start) finds the same records and nothing to cut.
///
/// The first byte picks the form: odd, the rest is the segment as is (after the magic,
/// unless it starts with it); even, the rest is a list of payloads, each one length byte then
/// that many bytes, framed with their true checksums, so that mutations reach the payload
/// decoding behind the CRC.
pub fn wal_segment(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        check_segment(&[], None);
        return;
    };
    if mode & 1 == 1 {
        check_segment(rest, None);
        let mut segment = MAGIC.to_vec();
        segment.extend_from_slice(rest);
        check_segment(&segment, None);
    } else {
        let (segment, whole_records) = framed(rest);
        check_segment(&segment, Some(whole_records));
    }
}

/// A segment of the payloads in `rest` (length byte, bytes) with true checksums, and how
/// many whole records precede the first that the scanner must refuse (a zero length).
fn framed(mut rest: &[u8]) -> (Vec<u8>, usize) {
    let mut segment = MAGIC.to_vec();
    let mut whole = 0;
    let mut refused = false;
    while let Some((&len, tail)) = rest.split_first() {
        let take = usize::from(len).min(tail.len());
        let (payload, tail) = tail.split_at(take);
        rest = tail;
        refused |= payload.is_empty();
        if !refused {
            whole += 1;
        }
        let length = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        segment.extend_from_slice(&length.to_le_bytes());
        segment.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
        segment.extend_from_slice(payload);
    }
    (segment, whole)
}

fn check_segment(bytes: &[u8], whole_records: Option<usize>) {
    let replay = replay_segment_bytes(bytes);
    let report = &replay.report;
    let len = bytes.len() as u64;
    assert!(replay.good_len <= len, "kept more than the segment");
    assert!(report.cuts.len() <= 1, "one segment, several cuts");
    let cut = report.cuts.first();
    if len == 0 {
        assert_eq!(cut.map(|c| &c.reason), Some(&CutReason::MissingMagic));
    } else {
        assert_eq!(
            cut.is_none(),
            replay.good_len == len,
            "a cut must be reported exactly when bytes are dropped: {report:?}"
        );
    }
    if let Some(c) = cut {
        assert_eq!(c.offset, replay.good_len);
        assert_eq!(c.bytes_dropped, len - replay.good_len);
    }
    let seen = report.records + report.skipped_records.len() as u64;
    if let Some(whole) = whole_records {
        assert_eq!(
            seen, whole as u64,
            "framed records not all read: {report:?}"
        );
    }
    assert_eq!(
        replay.head_spans as u64,
        report.spans - report.duplicate_spans,
        "head and report disagree"
    );

    // The next start replays the truncated file (or the bare magic a bad one is reset to).
    let kept = if replay.good_len == 0 {
        &MAGIC[..]
    } else {
        let end = usize::try_from(replay.good_len).unwrap_or(bytes.len());
        &bytes[..end]
    };
    let again = wal::replay_segment_bytes(kept);
    assert!(
        again.report.cuts.is_empty(),
        "a cut segment is cut again: {:?}",
        again.report
    );
    assert_eq!(again.report.records, report.records);
    assert_eq!(again.report.skipped_records, report.skipped_records);
    assert_eq!(again.head_spans, replay.head_spans);
}
