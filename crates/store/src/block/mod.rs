//! Immutable blocks: a tenant's spans as one Parquet file, a bloom filter over its trace ids
//! and a `meta.json`, in any `object_store` backend.
//!
//! # Layout
//! ```text
//! <tenant>/blocks/<id>/data.parquet   spans sorted by (trace id, start, span id), zstd
//! <tenant>/blocks/<id>/bloom          trace-id bloom filter (see `bloom.rs` for the format)
//! <tenant>/blocks/<id>/index.parquet  attribute value → rows (`index.rs`; optional, ADR 9)
//! <tenant>/blocks/<id>/meta.json      written last: a block without it is incomplete
//! ```
//! Ids are 32 lowercase hex digits, 12 of milliseconds since the epoch then 20 random, so
//! they sort by creation time and never collide in practice.
//!
//! # Crash safety
//! [`write_block`] puts the data, the bloom filter and the index first and `meta.json` last;
//! [`delete_block`] removes `meta.json` first. So a block is visible ([`list_blocks`]) only
//! while all of its parts exist; a crash at any point leaves at most an incomplete folder,
//! which [`list_blocks`] reports in [`BlockList::incomplete`] for the caller to clean up.
//!
//! `object_store`'s local file system does not fsync: after [`write_block`] a caller that
//! deletes WAL segments must first sync the block's files and folder itself if the spans
//! are to survive power loss (a crash of the process alone loses nothing).
//!
//! # Columns
//! See `schema.rs`: one row per span; every field of a [`clew_model::SpanRecord`] round-trips
//! exactly, resource and scope included. Blocks are plain Parquet, e.g. with DuckDB:
//! `SELECT hex(trace_id), service_name, name, duration_nanos FROM
//! '<store root>/<tenant>/blocks/*/data.parquet' WHERE http_route = '/x'`.
//!
//! # Damaged blocks
//! Every read returns a [`BlockError`] for a damaged object. Parquet decoding runs in its
//! own task because the `parquet` crate can still panic on some corrupt pages; such a
//! panic becomes [`BlockError::Corrupt`] (needs `panic = "unwind"`, the default).

mod bloom;
mod cache;
mod housekeeping;
mod index;
mod merge;
mod meta;
mod read;
mod schema;
mod source;
mod write;

#[cfg(test)]
mod tests;

use clew_model::TenantId;
use object_store::path::Path;

pub use bloom::{Bloom, BloomDecodeError};
pub use cache::{
    BlockCache, BlockCacheMetrics, CacheKind, CacheKindLabel, CacheKindStats, CacheOptions,
};
pub use housekeeping::{
    check_sizes, list_quarantined, list_tenants, quarantine_block, quarantine_prefix,
};
pub use merge::merge_blocks;
pub use meta::{BlockMeta, FORMAT_VERSION, Provenance};
pub use read::BlockReader;
pub(crate) use schema::{SERVICE_NAME_KEY, dedicated_string_column};
pub use write::{write_block, write_block_sorted, write_block_with};

use object_store::{ObjectStore, ObjectStoreExt as _};

/// Name of the Parquet file inside a block folder.
pub const DATA_FILE: &str = "data.parquet";
/// Name of the bloom filter inside a block folder.
pub const BLOOM_FILE: &str = "bloom";
/// Name of the attribute index inside a block folder (absent when not written).
pub const INDEX_FILE: &str = "index.parquet";
/// Name of the metadata file inside a block folder; written last, deleted first.
pub const META_FILE: &str = "meta.json";

/// How blocks are written.
#[derive(Clone, Debug)]
pub struct BlockOptions {
    /// Spans per Parquet row group: the unit a trace lookup reads (narrowed further by the
    /// page index) and the granularity of statistics pruning.
    pub row_group_spans: usize,
    /// Rows per data page at most: smaller pages let a trace lookup skip more, larger ones
    /// compress better.
    pub page_rows: usize,
    /// zstd level (1-22).
    pub zstd_level: i32,
    /// Bloom filter false-positive rate, in (0, 1).
    pub bloom_false_positive_rate: f64,
    /// Whether to write the attribute index (`index.parquet`), which lets searches on
    /// attribute values read only the rows that have them.
    pub attribute_index: bool,
}

impl Default for BlockOptions {
    fn default() -> Self {
        Self {
            row_group_spans: 10_000,
            page_rows: 1_000,
            zstd_level: 3,
            bloom_false_positive_rate: 0.01,
            attribute_index: true,
        }
    }
}

/// Why a block could not be written, listed, opened or read.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("{action} {path}: {source}")]
    Store {
        action: &'static str,
        path: String,
        source: object_store::Error,
    },
    #[error("parquet {path}: {source}")]
    Parquet {
        path: String,
        source: parquet::errors::ParquetError,
    },
    #[error("arrow {path}: {source}")]
    Arrow {
        path: String,
        source: arrow_schema::ArrowError,
    },
    /// The object exists but its content is not what this format writes.
    #[error("corrupt block object {path}: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("block {path} has format version {found}; this build reads {FORMAT_VERSION}")]
    UnsupportedVersion { path: String, found: u32 },
    #[error("invalid block options: {0}")]
    Options(&'static str),
    #[error("a block needs at least one span")]
    Empty,
    #[error("no randomness for a block id: {0}")]
    Random(String),
    /// The blocking encoder task died (a bug: encoding never panics on input).
    #[error("block encoder task failed: {0}")]
    Task(String),
}

impl BlockError {
    /// Whether the block's objects are damaged (reading them again cannot help), as
    /// opposed to the storage failing for now (a network or disk error) or a bug.
    pub fn is_damage(&self) -> bool {
        match self {
            Self::Corrupt { .. } | Self::UnsupportedVersion { .. } | Self::Arrow { .. } => true,
            // Decoding errors can come wrapped as `External` too (through Arrow): only an
            // object store error anywhere in the chain means the storage failed.
            Self::Parquet { source, .. } => {
                let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(source);
                while let Some(e) = cause {
                    if e.is::<object_store::Error>() {
                        return false;
                    }
                    cause = e.source();
                }
                true
            }
            // A missing object is most likely a block that compaction or retention removed
            // while a read held it: not damage.
            _ => false,
        }
    }

    pub(crate) fn corrupt(path: &Path, reason: impl Into<String>) -> Self {
        Self::Corrupt {
            path: path.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn store(action: &'static str, path: &Path, source: object_store::Error) -> Self {
        Self::Store {
            action,
            path: path.to_string(),
            source,
        }
    }

    pub(crate) fn parquet(path: &Path, source: parquet::errors::ParquetError) -> Self {
        Self::Parquet {
            path: path.to_string(),
            source,
        }
    }

    pub(crate) fn arrow(path: &Path, source: arrow_schema::ArrowError) -> Self {
        Self::Arrow {
            path: path.to_string(),
            source,
        }
    }
}

/// `<tenant>/blocks/`
pub fn blocks_prefix(tenant: &TenantId) -> Path {
    Path::from_iter([tenant.as_str(), "blocks"])
}

/// `<tenant>/blocks/<id>/<file>`
pub fn block_path(tenant: &TenantId, id: &str, file: &str) -> Path {
    Path::from_iter([tenant.as_str(), "blocks", id, file])
}

/// A block folder whose `meta.json` could not be used.
#[derive(Debug)]
pub struct BlockProblem {
    pub id: String,
    pub error: BlockError,
}

/// What [`list_blocks`] found under a tenant.
#[derive(Debug, Default)]
pub struct BlockList {
    /// Complete blocks, oldest id first.
    pub blocks: Vec<BlockMeta>,
    /// Blocks whose `meta.json` exists but is unreadable, corrupt or of another version.
    pub problems: Vec<BlockProblem>,
    /// Folders without `meta.json`: a write in progress or one a crash interrupted. Only the
    /// caller knows which (e.g. by age), so they are reported, not deleted.
    pub incomplete: Vec<String>,
}

/// Lists a tenant's blocks. One bad block is reported in [`BlockList::problems`] rather
/// than failing the listing; only a failure to list at all is an error.
pub async fn list_blocks(
    store: &dyn ObjectStore,
    tenant: &TenantId,
) -> Result<BlockList, BlockError> {
    let prefix = blocks_prefix(tenant);
    let listing = store
        .list_with_delimiter(Some(&prefix))
        .await
        .map_err(|e| BlockError::store("list", &prefix, e))?;
    let mut out = BlockList::default();
    let mut ids: Vec<String> = listing
        .common_prefixes
        .iter()
        .filter_map(|p| p.filename().map(str::to_owned))
        .collect();
    ids.sort();
    for id in ids {
        let path = block_path(tenant, &id, META_FILE);
        let bytes = match store.get(&path).await {
            Ok(result) => result.bytes().await,
            Err(e) => Err(e),
        };
        match bytes {
            Ok(bytes) => match meta::decode(&path, &bytes, tenant, &id) {
                Ok(m) => out.blocks.push(m),
                Err(error) => out.problems.push(BlockProblem { id, error }),
            },
            Err(object_store::Error::NotFound { .. }) => {
                // A local file system keeps the empty folder of a deleted block; only a
                // folder with objects in it is an incomplete block.
                let folder = Path::from_iter([tenant.as_str(), "blocks", id.as_str()]);
                let objects = store
                    .list_with_delimiter(Some(&folder))
                    .await
                    .map_err(|e| BlockError::store("list", &folder, e))?;
                if !objects.objects.is_empty() {
                    out.incomplete.push(id);
                }
            }
            Err(e) => out.problems.push(BlockProblem {
                id,
                error: BlockError::store("read", &path, e),
            }),
        }
    }
    Ok(out)
}

/// Deletes a block: `meta.json` first, so that it disappears from listings at once, then
/// every other object of its folder. Deleting a missing block succeeds.
pub async fn delete_block(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    id: &str,
) -> Result<(), BlockError> {
    let meta = block_path(tenant, id, META_FILE);
    match store.delete(&meta).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(BlockError::store("delete", &meta, e)),
    }
    let folder = Path::from_iter([tenant.as_str(), "blocks", id]);
    let listing = store
        .list_with_delimiter(Some(&folder))
        .await
        .map_err(|e| BlockError::store("list", &folder, e))?;
    for object in listing.objects {
        match store.delete(&object.location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(BlockError::store("delete", &object.location, e)),
        }
    }
    Ok(())
}
