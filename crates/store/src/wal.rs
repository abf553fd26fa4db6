//! The write-ahead log: per tenant, numbered segment files of checksummed records, written
//! by one group-committing thread and replayed into the head at open.
//!
//! # Format
//! `<data_dir>/tenants/<tenant>/wal/<16-digit seq>.wal`, sequences counting up from 1. A
//! segment starts with the 8-byte magic [`MAGIC`] (`CLEWWAL1`); each record is
//! `u32 LE payload length | u32 LE CRC32C(payload) | payload`, and a payload is one format
//! byte ([`FORMAT_OTLP_TRACES_DATA`]: OTLP `TracesData` protobuf, as written by
//! `clew_model::otlp::encode_traces_data`) followed by the body. One appended batch is one
//! record. A payload longer than [`MAX_RECORD_BYTES`] is never written and, when read, is
//! taken for corruption; so is a length of zero (a zero-filled tail would otherwise pass the
//! checksum, since CRC32C of nothing is 0).
//!
//! # Group commit and backpressure
//! Each tenant has one writer thread. It takes every append queued since its last commit,
//! writes them in one go, fsyncs once (unless `Durability::Relaxed`), inserts their spans
//! into the head, and only then answers each waiter: an acknowledged span is durable and
//! searchable. Encoding and checksumming happen on the caller's task, not on the writer.
//! Bytes queued but not committed are counted across tenants; an append that would push
//! them past `max_pending_bytes` fails at once with `AppendError::Overloaded`, so the queue
//! is bounded without ever blocking a caller. A failed write or fsync fails its whole group
//! and closes the segment: later commits go to a new segment, and the unknown bytes left
//! behind are cut at the next replay. A segment that has grown past `wal_segment_max_bytes`
//! is closed before the next commit, which opens the next sequence.
//!
//! # Replay
//! At open, every tenant's segments are read in sequence order. A short header, a short
//! payload, a zero or over-cap length, or a checksum mismatch ends that segment: the file
//! is truncated at the last good record (then fsynced), the cut is logged and put in the
//! tenant's [`ReplayReport`], and replay goes on with the next segment. A missing or wrong
//! magic makes the segment empty (it is rewritten as just the magic). A record that passes
//! its checksum but cannot be decoded is skipped and reported. No file content can make
//! replay panic; only I/O errors fail the open. Writing after replay always starts a new
//! segment, so a segment's contents never change once the process that wrote it is gone.
//!
//! # Cutting the head for block flushes
//! The head is split into generations (see `head.rs`). Every generation records the WAL
//! sequences its spans were committed to. `Store::cut` is executed by the writer thread
//! between two commits: it closes the current segment and freezes the active generation,
//! so the frozen generation holds exactly the spans of its segments, and every later
//! commit lands in a higher sequence and a newer generation. A block writer then persists
//! the [`crate::FrozenHead`] and calls `Store::release(generation)`, which drops the
//! generation from memory and deletes its segments. A crash at any point loses nothing:
//! before release, the segments replay; after it, the block has the spans. (A crash between
//! the block write and the deletion replays spans the block also holds; compaction's
//! (trace id, span id) deduplication removes them.) Generations live in memory only: after
//! a restart, every replayed segment belongs to generation 0.

mod record;
mod replay;
mod writer;

pub use record::{FORMAT_OTLP_TRACES_DATA, MAGIC, MAX_RECORD_BYTES};
pub use replay::{
    CutReason, ReplayCut, ReplayReport, SegmentReplay, SkipReason, SkippedRecord,
    replay_segment_bytes,
};

pub(crate) use record::record_for_batch;
pub(crate) use replay::replay_tenant;
pub(crate) use writer::{AppendRequest, Pending, Request, WalWriter, segment_path, sync_dir};
