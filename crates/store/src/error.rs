//! Errors, one type per kind of operation: appending, reading, and opening or managing the store.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use clew_model::TenantId;

/// Why a batch was not acknowledged. Nothing of a failed append is visible in the head; it
/// may still reappear after a restart if its WAL record reached the disk (at-least-once),
/// which is harmless because the head keeps each (trace id, span id, start) once.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Too many bytes wait for commit; the caller should answer 429/`RESOURCE_EXHAUSTED`.
    #[error(
        "write path overloaded: too many bytes waiting for a wal commit, retry after {retry_after:?}"
    )]
    Overloaded { retry_after: Duration },
    #[error("store is shutting down, no more appends accepted")]
    ShuttingDown,
    /// Writing or syncing the WAL failed, or the batch cannot be one WAL record
    /// (`InvalidInput`: larger than [`crate::wal::MAX_RECORD_BYTES`]).
    #[error("wal append failed: {0}")]
    Io(#[from] io::Error),
}

/// Why a read could not be answered. The head is in memory, so this is reserved for reads
/// that will touch disk (blocks).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("reading tenant {tenant}: {source}")]
    Io { tenant: TenantId, source: io::Error },
    #[error("reading block {block} of tenant {tenant}: {message}")]
    Block {
        tenant: TenantId,
        block: String,
        message: String,
    },
}

/// Why the store could not be opened, cut, released or shut down.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// Another process holds the data directory: two writers would interleave WAL records.
    #[error("data directory {} is in use by another clew process (lock file {})", dir.display(), lock.display())]
    Locked { dir: PathBuf, lock: PathBuf },
    #[error("block storage: {0}")]
    Block(#[from] crate::block::BlockError),
    /// The task opening blocks at start panicked.
    #[error("opening blocks failed: {0}")]
    OpeningBlocks(&'static str),
    #[error("invalid store config: {0}")]
    Config(&'static str),
    /// The block storage backend could not be set up from its configuration.
    #[error("block storage backend {what}: {source}")]
    Backend {
        what: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("wal writer of tenant {0} has stopped")]
    WriterStopped(TenantId),
    /// The generation is not frozen (never cut, already released, or still active).
    #[error("tenant {tenant} has no frozen head generation {generation}")]
    UnknownGeneration { tenant: TenantId, generation: u64 },
}

impl StoreError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
