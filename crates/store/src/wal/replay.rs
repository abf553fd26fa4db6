//! Replay at open: reads a tenant's segments in order into a fresh head, cutting torn or
//! corrupt tails and reporting every cut and every skipped record.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};

use clew_model::TenantId;

use super::record::{self, MAGIC, ScanEnd};
use crate::error::StoreError;
use crate::head::{Head, Heads};

/// What replay found for one tenant.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayReport {
    pub tenant: TenantId,
    /// Segment files read (including ones cut to empty).
    pub segments_read: usize,
    /// Records decoded into the head.
    pub records: u64,
    /// Spans in those records, duplicates included.
    pub spans: u64,
    /// Spans already in the head (the same batch appended twice).
    pub duplicate_spans: u64,
    /// Spans the OTLP conversion refused (all-zero ids); the append path drops them too.
    pub rejected_spans: u64,
    /// Every segment whose end was cut, in replay order.
    pub cuts: Vec<ReplayCut>,
    /// Records that passed their checksum but could not be decoded.
    pub skipped_records: Vec<SkippedRecord>,
}

impl ReplayReport {
    fn new(tenant: TenantId) -> Self {
        Self {
            tenant,
            segments_read: 0,
            records: 0,
            spans: 0,
            duplicate_spans: 0,
            rejected_spans: 0,
            cuts: Vec::new(),
            skipped_records: Vec::new(),
        }
    }

    /// No cut and no skipped record.
    pub fn is_clean(&self) -> bool {
        self.cuts.is_empty() && self.skipped_records.is_empty()
    }

    pub fn cut_bytes(&self) -> u64 {
        self.cuts.iter().map(|c| c.bytes_dropped).sum()
    }
}

/// A segment truncated at its last good record.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayCut {
    pub segment: PathBuf,
    /// Where the file now ends (0 when the magic was bad: the segment was emptied).
    pub offset: u64,
    pub bytes_dropped: u64,
    pub reason: CutReason,
}

/// Why a segment was cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CutReason {
    /// Shorter than the 8-byte magic (e.g. a crash right after the file was created).
    MissingMagic,
    BadMagic,
    /// The file ends inside a record header.
    TruncatedHeader {
        bytes: u64,
    },
    ZeroLength,
    LengthOverCap {
        length: u32,
    },
    /// The file ends inside a record payload.
    TruncatedPayload {
        length: u32,
        available: u64,
    },
    ChecksumMismatch {
        stored: u32,
        computed: u32,
    },
}

impl fmt::Display for CutReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingMagic => write!(f, "file shorter than the segment magic"),
            Self::BadMagic => write!(f, "segment magic is not CLEWWAL1"),
            Self::TruncatedHeader { bytes } => {
                write!(f, "torn record header ({bytes} of 8 bytes)")
            }
            Self::ZeroLength => write!(f, "record length is zero"),
            Self::LengthOverCap { length } => write!(
                f,
                "record length {length} is over the cap of {}",
                record::MAX_RECORD_BYTES
            ),
            Self::TruncatedPayload { length, available } => write!(
                f,
                "torn record payload ({available} of {length} bytes present)"
            ),
            Self::ChecksumMismatch { stored, computed } => write!(
                f,
                "record checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
        }
    }
}

/// A record skipped at replay.
#[derive(Clone, Debug, PartialEq)]
pub struct SkippedRecord {
    pub segment: PathBuf,
    pub offset: u64,
    pub reason: SkipReason,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// A format byte this version does not know (written by a newer version?).
    UnknownFormat {
        format: u8,
    },
    Undecodable {
        message: String,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownFormat { format } => write!(f, "unknown payload format {format}"),
            Self::Undecodable { message } => write!(f, "undecodable payload: {message}"),
        }
    }
}

/// A tenant's state after replay.
pub(crate) struct Replayed {
    pub heads: Heads,
    pub report: ReplayReport,
    /// The sequence the writer opens next: above every existing segment.
    pub next_seq: u64,
}

/// Lists `<16 digits>.wal` files, sorted by sequence; other names are left alone.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io("listing wal directory", dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io("listing wal directory", dir, e))?;
        let path = entry.path();
        let seq = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".wal"))
            .filter(|s| s.len() == 16 && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok());
        match seq {
            Some(seq) => out.push((seq, path)),
            None => {
                tracing::warn!(path = %path.display(), "ignoring a file that is not a wal segment")
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Replays every segment in `wal_dir` into generation 0 of a new head.
pub(crate) fn replay_tenant(tenant: &TenantId, wal_dir: &Path) -> Result<Replayed, StoreError> {
    let mut heads = Heads::new(Head::new(0));
    let mut report = ReplayReport::new(tenant.clone());
    let segments = list_segments(wal_dir)?;
    let next_seq = segments.last().map_or(1, |(seq, _)| seq.saturating_add(1));
    for (seq, path) in segments {
        replay_segment(tenant, seq, &path, &mut heads, &mut report)?;
    }
    Ok(Replayed {
        heads,
        report,
        next_seq,
    })
}

fn replay_segment(
    tenant: &TenantId,
    seq: u64,
    path: &Path,
    heads: &mut Heads,
    report: &mut ReplayReport,
) -> Result<(), StoreError> {
    let file = File::open(path).map_err(|e| StoreError::io("opening wal segment", path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| StoreError::io("reading metadata of wal segment", path, e))?
        .len();
    // Empty segments are covered too: a later release deletes them with the rest.
    heads.add_segment(seq);
    report.segments_read += 1;
    let reader = BufReader::with_capacity(1 << 20, file);
    let ScanEnd { good_len, cut } = record::scan_segment(reader, file_len, |offset, payload| {
        if let Err(reason) = apply_record(payload, heads, report) {
            tracing::warn!(
                tenant = %tenant,
                segment = %path.display(),
                offset,
                reason = %reason,
                "skipping a wal record that cannot be decoded"
            );
            report.skipped_records.push(SkippedRecord {
                segment: path.to_owned(),
                offset,
                reason,
            });
        }
    })
    .map_err(|e| StoreError::io("reading wal segment", path, e))?;
    let Some(reason) = cut else {
        return Ok(());
    };
    let bytes_dropped = file_len.saturating_sub(good_len);
    truncate(path, good_len).map_err(|e| StoreError::io("truncating wal segment", path, e))?;
    tracing::warn!(
        tenant = %tenant,
        segment = %path.display(),
        offset = good_len,
        bytes_dropped,
        reason = %reason,
        "cut wal segment at its last good record"
    );
    report.cuts.push(ReplayCut {
        segment: path.to_owned(),
        offset: good_len,
        bytes_dropped,
        reason,
    });
    Ok(())
}

/// Decodes one record that passed its checksum into the head, counting it in `report`.
fn apply_record(
    payload: &[u8],
    heads: &mut Heads,
    report: &mut ReplayReport,
) -> Result<(), SkipReason> {
    let decoded = record::decode_payload(payload)?;
    report.records += 1;
    report.rejected_spans += decoded.rejected_spans;
    for rec in decoded.batch.into_records() {
        report.spans += 1;
        if !heads.insert(rec) {
            report.duplicate_spans += 1;
        }
    }
    Ok(())
}

/// What [`replay_segment_bytes`] found in one segment held in memory.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentReplay {
    /// Counts as replay at open reports them; `cuts` holds at most one cut (where the file
    /// would be truncated) and paths are empty.
    pub report: ReplayReport,
    /// Bytes from the start through the last good record: what a replay would keep.
    pub good_len: u64,
    /// Spans in the head afterwards (the report's spans less its duplicates).
    pub head_spans: usize,
}

/// Replays the bytes of one segment into a fresh, throw-away head exactly as open replays
/// a segment file (same scanner, same decoding, same head inserts), without touching the
/// disk: nothing is truncated and no warning is logged. For tools and the WAL fuzz target
/// (`fuzz/fuzz_targets/wal_segment.rs`); like replay, it never panics on any content.
pub fn replay_segment_bytes(bytes: &[u8]) -> SegmentReplay {
    let mut heads = Heads::new(Head::new(0));
    let mut report = ReplayReport::new(TenantId::default());
    report.segments_read = 1;
    let mut skipped = Vec::new();
    let scanned = record::scan_segment(bytes, bytes.len() as u64, |offset, payload| {
        if let Err(reason) = apply_record(payload, &mut heads, &mut report) {
            skipped.push(SkippedRecord {
                segment: PathBuf::new(),
                offset,
                reason,
            });
        }
    });
    report.skipped_records = skipped;
    // Reading from a slice cannot fail; were it to, nothing past the start counts as good.
    let ScanEnd { good_len, cut } = scanned.unwrap_or(ScanEnd {
        good_len: 0,
        cut: Some(CutReason::TruncatedHeader { bytes: 0 }),
    });
    if let Some(reason) = cut {
        report.cuts.push(ReplayCut {
            segment: PathBuf::new(),
            offset: good_len,
            bytes_dropped: (bytes.len() as u64).saturating_sub(good_len),
            reason,
        });
    }
    SegmentReplay {
        report,
        good_len,
        head_spans: heads.span_count(),
    }
}

/// Cuts the file at `len` and makes the cut durable; a segment cut to nothing gets its
/// magic back so that every segment on disk stays well-formed.
fn truncate(path: &Path, len: u64) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).open(path)?;
    file.set_len(len)?;
    if len == 0 {
        file.write_all(MAGIC)?;
    }
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use clew_model::{
        AnyValue, KeyValue, Resource, ResourceSpans, Scope, ScopeSpans, Span, SpanId, TraceBatch,
        TraceId, UnixNanos,
    };

    use super::*;
    use crate::wal::record::{encode_record, record_for_batch};

    fn batch(n: u8) -> TraceBatch {
        TraceBatch {
            resource_spans: vec![ResourceSpans {
                resource: Resource {
                    attributes: vec![KeyValue::new(
                        "service.name",
                        AnyValue::String("svc".into()),
                    )],
                    dropped_attributes_count: 0,
                },
                schema_url: String::new(),
                scope_spans: vec![ScopeSpans {
                    scope: Scope::default(),
                    schema_url: String::new(),
                    spans: vec![Span {
                        trace_id: TraceId([n; 16]),
                        span_id: SpanId([n; 8]),
                        name: format!("op{n}"),
                        start: UnixNanos(u64::from(n) * 1000),
                        end: UnixNanos(u64::from(n) * 1000 + 5),
                        ..Default::default()
                    }],
                }],
            }],
        }
    }

    /// A segment of records for batches 1..=n, and the offset where each record starts.
    fn write_segment(path: &Path, n: u8) -> Vec<u64> {
        let mut bytes = MAGIC.to_vec();
        let mut offsets = Vec::new();
        for i in 1..=n {
            offsets.push(bytes.len() as u64);
            bytes.extend(record_for_batch(&batch(i)).unwrap());
        }
        offsets.push(bytes.len() as u64);
        fs::write(path, bytes).unwrap();
        offsets
    }

    fn trace_ids(heads: &Heads) -> Vec<TraceId> {
        heads.trace_ids()
    }

    fn expected(n: u8) -> Vec<TraceId> {
        (1..=n).map(|i| TraceId([i; 16])).collect()
    }

    fn tenant() -> TenantId {
        TenantId::new("t").unwrap()
    }

    #[test]
    fn clean_segments_replay_in_order() {
        let dir = tempfile::tempdir().unwrap();
        write_segment(&dir.path().join("0000000000000002.wal"), 3);
        write_segment(&dir.path().join("0000000000000001.wal"), 2);
        fs::write(dir.path().join("notes.txt"), "not a segment").unwrap();
        let r = replay_tenant(&tenant(), dir.path()).unwrap();
        assert!(r.report.is_clean(), "{:?}", r.report);
        assert_eq!(r.report.segments_read, 2);
        assert_eq!(r.report.records, 5);
        assert_eq!(r.report.spans, 5);
        // Batches 1 and 2 are in both segments.
        assert_eq!(r.report.duplicate_spans, 2);
        assert_eq!(r.next_seq, 3);
        assert_eq!(trace_ids(&r.heads), expected(3));
        assert_eq!(r.heads.span_count(), 3);
    }

    /// Truncating the last records at every byte offset keeps exactly the records that are
    /// whole, cuts the file there, and reports the bytes dropped.
    #[test]
    fn torn_tail_at_every_offset() {
        let dir = tempfile::tempdir().unwrap();
        let full = dir.path().join("full.bin");
        let offsets = write_segment(&full, 3);
        let bytes = fs::read(&full).unwrap();
        let path = dir.path().join("0000000000000001.wal");
        // From inside the first record's successor to the end of the file.
        for len in offsets[1]..=offsets[3] {
            fs::write(&path, &bytes[..len as usize]).unwrap();
            let r = replay_tenant(&tenant(), dir.path()).unwrap();
            let whole = offsets.iter().filter(|o| **o <= len).count() - 1;
            let good = offsets[whole];
            assert_eq!(trace_ids(&r.heads), expected(whole as u8), "len {len}");
            assert_eq!(r.report.records, whole as u64);
            assert_eq!(fs::metadata(&path).unwrap().len(), good, "len {len}");
            if len == good {
                assert!(r.report.cuts.is_empty(), "len {len}: {:?}", r.report.cuts);
            } else {
                assert_eq!(r.report.cuts.len(), 1, "len {len}");
                let cut = &r.report.cuts[0];
                assert_eq!(cut.segment, path);
                assert_eq!(cut.offset, good);
                assert_eq!(cut.bytes_dropped, len - good);
                assert!(matches!(
                    cut.reason,
                    CutReason::TruncatedHeader { .. } | CutReason::TruncatedPayload { .. }
                ));
            }
            // Replaying the cut file again finds nothing more to cut.
            let again = replay_tenant(&tenant(), dir.path()).unwrap();
            assert!(again.report.is_clean());
            assert_eq!(again.report.records, whole as u64);
        }
    }

    #[test]
    fn flipped_byte_in_the_last_record_cuts_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0000000000000001.wal");
        let offsets = write_segment(&path, 3);
        let mut bytes = fs::read(&path).unwrap();
        let mid = ((offsets[2] + offsets[3]) / 2) as usize;
        bytes[mid] ^= 0x40;
        fs::write(&path, &bytes).unwrap();
        let r = replay_tenant(&tenant(), dir.path()).unwrap();
        assert_eq!(trace_ids(&r.heads), expected(2));
        assert_eq!(r.report.cuts.len(), 1);
        assert_eq!(r.report.cuts[0].offset, offsets[2]);
        assert_eq!(r.report.cuts[0].bytes_dropped, offsets[3] - offsets[2]);
        assert!(matches!(
            r.report.cuts[0].reason,
            CutReason::ChecksumMismatch { .. }
        ));
        assert_eq!(fs::metadata(&path).unwrap().len(), offsets[2]);
    }

    #[test]
    fn a_cut_segment_does_not_stop_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("0000000000000001.wal");
        let offsets = write_segment(&first, 2);
        let bytes = fs::read(&first).unwrap();
        fs::write(&first, &bytes[..bytes.len() - 3]).unwrap();
        let mut second = MAGIC.to_vec();
        second.extend(record_for_batch(&batch(7)).unwrap());
        fs::write(dir.path().join("0000000000000002.wal"), second).unwrap();
        let r = replay_tenant(&tenant(), dir.path()).unwrap();
        assert_eq!(trace_ids(&r.heads), [TraceId([1; 16]), TraceId([7; 16])]);
        assert_eq!(r.report.cuts.len(), 1);
        assert_eq!(r.report.cuts[0].offset, offsets[1]);
    }

    /// The in-memory replay finds what replay at open finds in the same bytes.
    #[test]
    fn replaying_bytes_matches_replaying_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0000000000000001.wal");
        let offsets = write_segment(&path, 3);
        let mut bytes = fs::read(&path).unwrap();
        encode_record(&[9], &mut bytes);
        bytes.extend_from_within(offsets[0] as usize..offsets[1] as usize);
        bytes.truncate(bytes.len() - 2);
        fs::write(&path, &bytes).unwrap();

        let mem = replay_segment_bytes(&bytes);
        let file = replay_tenant(&tenant(), dir.path()).unwrap().report;
        assert_eq!(mem.report.records, 3);
        assert_eq!(mem.report.records, file.records);
        assert_eq!(mem.report.spans, file.spans);
        assert_eq!(mem.report.skipped_records.len(), 1);
        assert_eq!(
            mem.report.skipped_records[0].offset,
            file.skipped_records[0].offset
        );
        assert_eq!(mem.good_len, file.cuts[0].offset);
        assert_eq!(mem.report.cuts[0].reason, file.cuts[0].reason);
        assert_eq!(mem.report.cuts[0].bytes_dropped, file.cuts[0].bytes_dropped);
        assert_eq!(mem.head_spans, 3);
    }

    #[test]
    fn bad_magic_empties_the_segment_and_bad_payloads_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("0000000000000001.wal");
        fs::write(&bad, b"NOTAWAL!garbage").unwrap();
        let empty = dir.path().join("0000000000000002.wal");
        fs::write(&empty, b"").unwrap();
        let mut third = MAGIC.to_vec();
        encode_record(&[9, 9, 9], &mut third);
        let skipped_at = third.len() as u64;
        encode_record(&[1, 0xff], &mut third);
        third.extend(record_for_batch(&batch(4)).unwrap());
        fs::write(dir.path().join("0000000000000003.wal"), third).unwrap();

        let r = replay_tenant(&tenant(), dir.path()).unwrap();
        assert_eq!(trace_ids(&r.heads), expected(4)[3..]);
        let reasons: Vec<_> = r.report.cuts.iter().map(|c| c.reason.clone()).collect();
        assert_eq!(reasons, [CutReason::BadMagic, CutReason::MissingMagic]);
        assert_eq!(r.report.cuts[0].bytes_dropped, 15);
        assert_eq!(r.report.cut_bytes(), 15);
        assert_eq!(fs::read(&bad).unwrap(), MAGIC);
        assert_eq!(fs::read(&empty).unwrap(), MAGIC);
        assert_eq!(r.report.skipped_records.len(), 2);
        assert_eq!(
            r.report.skipped_records[0].reason,
            SkipReason::UnknownFormat { format: 9 }
        );
        assert_eq!(r.report.skipped_records[1].offset, skipped_at);
        assert_eq!(r.report.records, 1);
        assert_eq!(r.report.segments_read, 3);
        // Every segment, even the emptied ones, is covered by generation 0.
        let mut heads = r.heads;
        let frozen = heads.freeze();
        let seqs: Vec<u64> = crate::FrozenHead {
            tenant: tenant(),
            head: Arc::clone(&frozen),
        }
        .segments();
        assert_eq!(seqs, [1, 2, 3]);
    }
}
