//! [`BlockMeta`] and its `meta.json` shape: an explicit, versioned JSON document, so the
//! format never changes because a Rust type did.

use clew_model::{SpanKind, TenantId, UnixNanos};
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use super::BlockError;

/// The block format this build writes and reads (Parquet schema, bloom format, meta shape).
pub const FORMAT_VERSION: u32 = 1;

/// What a block holds, as recorded in its `meta.json`: enough to prune blocks for a query
/// without opening them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockMeta {
    /// Time-ordered unique id (32 hex digits); the block's folder name.
    pub id: String,
    pub tenant: TenantId,
    pub format_version: u32,
    /// Earliest and latest span start.
    pub start_min: UnixNanos,
    pub start_max: UnixNanos,
    /// Latest moment any span covers: max over spans of max(start, end).
    pub end_max: UnixNanos,
    pub span_count: u64,
    pub trace_count: u64,
    /// `data_bytes + bloom_bytes + index_bytes`.
    pub size_bytes: u64,
    /// Size of `data.parquet` (readers use it to fetch the footer without a HEAD request).
    pub data_bytes: u64,
    pub bloom_bytes: u64,
    /// Size of `index.parquet`; 0 when the block has no attribute index.
    pub index_bytes: u64,
    pub row_groups: u32,
    /// Sorted, distinct `service.name`s (`unknown_service` when absent).
    pub services: Vec<String>,
    /// Sorted, distinct (service, span name, kind).
    pub operations: Vec<(String, String, SpanKind)>,
    pub created_unix_nanos: u64,
    /// Where the spans came from; lets a restart finish what a crash interrupted.
    pub provenance: Provenance,
}

/// What a block replaces. A flush records the WAL segments it covers, so that a restart
/// after a crash between the block's write and the segments' deletion deletes them instead
/// of replaying spans a second time; a compaction records the blocks it merged, so that a
/// restart deletes any of them a crash left behind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Provenance {
    /// Sequence numbers of the WAL segments whose spans are all in this block.
    pub wal_segments: Vec<u64>,
    /// Ids of the blocks this one merged (same tenant).
    pub compacted_from: Vec<String>,
}

/// `meta.json`, version 1. Field names are the format; add fields as optional only.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MetaJsonV1 {
    format_version: u32,
    id: String,
    tenant: String,
    created_unix_nanos: u64,
    start_min_unix_nanos: u64,
    start_max_unix_nanos: u64,
    end_max_unix_nanos: u64,
    span_count: u64,
    trace_count: u64,
    size_bytes: u64,
    data_bytes: u64,
    bloom_bytes: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    index_bytes: u64,
    row_groups: u32,
    services: Vec<String>,
    operations: Vec<OperationJson>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    wal_segments: Vec<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    compacted_from: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OperationJson {
    service: String,
    name: String,
    /// Lowercase OTLP kind: `unspecified`, `internal`, `server`, `client`, `producer`, `consumer`.
    kind: String,
}

/// Only the version, read first so that a newer shape is reported as such, not as corrupt.
#[derive(Deserialize)]
struct VersionOnly {
    format_version: u32,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Unspecified => "unspecified",
        other => other.as_lower_str(),
    }
}

pub(crate) fn encode(meta: &BlockMeta) -> Vec<u8> {
    let json = MetaJsonV1 {
        format_version: meta.format_version,
        id: meta.id.clone(),
        tenant: meta.tenant.as_str().to_owned(),
        created_unix_nanos: meta.created_unix_nanos,
        start_min_unix_nanos: meta.start_min.0,
        start_max_unix_nanos: meta.start_max.0,
        end_max_unix_nanos: meta.end_max.0,
        span_count: meta.span_count,
        trace_count: meta.trace_count,
        size_bytes: meta.size_bytes,
        data_bytes: meta.data_bytes,
        bloom_bytes: meta.bloom_bytes,
        index_bytes: meta.index_bytes,
        row_groups: meta.row_groups,
        services: meta.services.clone(),
        operations: meta
            .operations
            .iter()
            .map(|(service, name, kind)| OperationJson {
                service: service.clone(),
                name: name.clone(),
                kind: kind_name(*kind).to_owned(),
            })
            .collect(),
        wal_segments: meta.provenance.wal_segments.clone(),
        compacted_from: meta.provenance.compacted_from.clone(),
    };
    // Serializing plain structs of strings and integers into memory cannot fail.
    serde_json::to_vec_pretty(&json).unwrap_or_default()
}

/// Parses `meta.json` of block `id` of `tenant`, checking that it describes that block.
pub(crate) fn decode(
    path: &Path,
    bytes: &[u8],
    tenant: &TenantId,
    id: &str,
) -> Result<BlockMeta, BlockError> {
    let corrupt = |reason: String| BlockError::corrupt(path, reason);
    let version: VersionOnly =
        serde_json::from_slice(bytes).map_err(|e| corrupt(format!("meta.json: {e}")))?;
    if version.format_version != FORMAT_VERSION {
        return Err(BlockError::UnsupportedVersion {
            path: path.to_string(),
            found: version.format_version,
        });
    }
    let json: MetaJsonV1 =
        serde_json::from_slice(bytes).map_err(|e| corrupt(format!("meta.json: {e}")))?;
    if json.id != id || json.tenant != tenant.as_str() {
        return Err(corrupt(format!(
            "meta.json names block {}/{}, found in {}/{}",
            json.tenant, json.id, tenant, id
        )));
    }
    let operations = json
        .operations
        .into_iter()
        .map(|op| match SpanKind::from_lower_str(&op.kind) {
            Some(kind) => Ok((op.service, op.name, kind)),
            None => Err(corrupt(format!("unknown span kind {:?}", op.kind))),
        })
        .collect::<Result<_, _>>()?;
    Ok(BlockMeta {
        id: json.id,
        tenant: tenant.clone(),
        format_version: json.format_version,
        start_min: UnixNanos(json.start_min_unix_nanos),
        start_max: UnixNanos(json.start_max_unix_nanos),
        end_max: UnixNanos(json.end_max_unix_nanos),
        span_count: json.span_count,
        trace_count: json.trace_count,
        size_bytes: json.size_bytes,
        data_bytes: json.data_bytes,
        bloom_bytes: json.bloom_bytes,
        index_bytes: json.index_bytes,
        row_groups: json.row_groups,
        services: json.services,
        operations,
        created_unix_nanos: json.created_unix_nanos,
        provenance: Provenance {
            wal_segments: json.wal_segments,
            compacted_from: json.compacted_from,
        },
    })
}
