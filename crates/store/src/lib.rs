//! Clew's storage engine for recent spans: per tenant, a write-ahead log and an in-memory head.
//!
//! Owns: the data directory layout (`<data_dir>/tenants/<tenant>/wal/<16-digit seq>.wal`),
//! the WAL record format, group commit and its backpressure, replay at start (cutting torn
//! or corrupt tails and reporting every cut), the head and its indexes (trace id, service,
//! operation, time), span filters, and the store's metrics.
//!
//! Must not touch: HTTP, gRPC, Jaeger, Tempo or TraceQL. The store answers span filters
//! ([`SpanFilter`]), not queries: assembling traces and mapping query languages onto
//! filters belongs to `clew-query`. Ingest reaches the store through the binary, which plugs
//! [`Store::append`] in as the collector's sink; the collector never depends on this crate.
//!
//! The contract every caller relies on: [`Store::append`] resolves `Ok` only once the batch
//! is in a WAL record that was fsynced (unless [`Durability::Relaxed`]) and is visible to
//! every read. See [`wal`] for the format and for how the head is cut for block flushes.

mod backend;
pub mod block;
mod error;
pub mod faults;
mod filter;
// The WAL fuzz target's and its regression test's check (see `fuzzing.rs`); not a stable API.
#[doc(hidden)]
pub mod fuzzing;
mod head;
mod metrics;
pub mod scan;
mod store;
pub mod wal;

use std::path::PathBuf;

pub use backend::{BlockStorage, S3Options};
pub use error::{AppendError, ReadError, StoreError};
pub use filter::{
    AttributeTerm, MAX_TERM_STRING_BYTES, SpanFilter, TermScope, TermValue, TextTest,
    is_dedicated_span_attribute,
};
pub use head::FrozenHead;
pub use store::Store;
pub use wal::{CutReason, ReplayCut, ReplayReport, SkipReason, SkippedRecord};

/// Where and how the store keeps its data.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Root of the data directory; tenants live under `<data_dir>/tenants/<tenant>/`.
    pub data_dir: PathBuf,
    /// Whether a commit waits for fsync.
    pub durability: Durability,
    /// A segment that has grown past this many bytes is closed; the next commit opens a new one.
    pub wal_segment_max_bytes: u64,
    /// Encoded bytes accepted but not yet committed, across all tenants. An append that would
    /// go past it fails at once with [`AppendError::Overloaded`] rather than queueing without
    /// bound. A single batch larger than this can never be accepted, so keep it above the
    /// receivers' maximum request size.
    pub max_pending_bytes: u64,
    /// Spans a tenant's head may hold, flushed or not, before appends are refused with
    /// [`AppendError::Overloaded`]: the bound on memory when flushes cannot keep up or keep
    /// failing (block storage down, disk full). 0: no bound.
    pub head_hard_limit_spans: usize,
    /// How blocks are written (row group size, compression, bloom filter).
    pub block_options: block::BlockOptions,
    /// Where blocks are kept.
    pub block_storage: BlockStorage,
    /// Byte bounds of the caches for block reads (bloom filters, footers, pages).
    pub cache: block::CacheOptions,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./clew-data"),
            durability: Durability::default(),
            wal_segment_max_bytes: 64 * 1024 * 1024,
            max_pending_bytes: 64 * 1024 * 1024,
            head_hard_limit_spans: 1_000_000,
            block_options: block::BlockOptions::default(),
            block_storage: BlockStorage::default(),
            cache: block::CacheOptions::default(),
        }
    }
}

/// How far a commit goes before the append is acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// fsync every group commit: an acknowledged span survives power loss.
    #[default]
    Fsync,
    /// Write to the OS page cache only: survives a crash of the process (`kill -9`), not of
    /// the machine. For tests and throwaway setups.
    Relaxed,
}

#[cfg(test)]
mod tidy {
    //! Checks of the crate's own source conventions.

    use std::path::Path;

    fn visit(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                visit(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_file_starts_with_a_module_doc() {
        let mut files = Vec::new();
        visit(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut files,
        );
        assert!(files.len() > 5, "found only {files:?}");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(
                text.starts_with("//!"),
                "{} must start with a `//!` line saying what it is for",
                file.display()
            );
        }
    }
}
