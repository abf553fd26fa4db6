//! Writing a block: sort and deduplicate spans, encode them as Arrow record batches of the
//! schema in `schema.rs`, write Parquet and the bloom filter, then `meta.json`.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder as _, BinaryBuilder, BooleanBuilder, FixedSizeBinaryBuilder, Float64Builder,
    Int64Builder, StringBuilder, UInt8Builder, UInt32Builder, UInt64Builder,
};
use arrow_array::{ArrayRef, ListArray, RecordBatch, StructArray};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, DataType};
use clew_model::{AnyValue, KeyValue, SpanKind, SpanRecord, TenantId, TraceId, UnixNanos};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use prost::Message as _;

use super::bloom::Bloom;
use super::index::IndexBuilder;
use super::meta::{self, BlockMeta, FORMAT_VERSION, Provenance};
use super::schema::{self as s, HOT, HotType};
use super::{BLOOM_FILE, BlockError, BlockOptions, DATA_FILE, INDEX_FILE, META_FILE, block_path};

/// Encoded size at which a record batch is cut short of `row_group_spans` rows, so that no
/// Arrow array comes near its 2 GiB offset limit however large the spans are.
const MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;

/// Writes `spans` as a new block of `tenant` and returns its meta.
///
/// Spans are sorted by (trace id, start, span id); of spans with the same (trace id, span
/// id, start), the first in `spans` is kept. `data.parquet` and `bloom` are put first and
/// `meta.json` last, so the block is complete once this returns `Ok`, and invisible to
/// [`super::list_blocks`] before. Encoding runs on a blocking thread. On error the block
/// may be left incomplete (no `meta.json`); the caller may [`super::delete_block`] it by
/// the id in the error's path.
pub async fn write_block(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    spans: Vec<SpanRecord>,
    options: &BlockOptions,
) -> Result<BlockMeta, BlockError> {
    write_block_with(store, tenant, spans, options, Provenance::default()).await
}

/// [`write_block`], recording in `meta.json` what the block replaces.
pub async fn write_block_with(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    spans: Vec<SpanRecord>,
    options: &BlockOptions,
    provenance: Provenance,
) -> Result<BlockMeta, BlockError> {
    validate(options)?;
    if spans.is_empty() {
        return Err(BlockError::Empty);
    }
    let now = UnixNanos::now();
    let id = new_block_id(now)?;
    let data_path = block_path(tenant, &id, DATA_FILE);
    let encoded = {
        let options = options.clone();
        let data_path = data_path.clone();
        tokio::task::spawn_blocking(move || encode(spans, &options, &data_path))
            .await
            .map_err(|e| BlockError::Task(e.to_string()))??
    };
    put_block(store, tenant, id, now, encoded, provenance).await
}

/// Like [`write_block_with`] for spans that are already in block order, (trace id, start,
/// span id), without duplicates, given a chunk at a time: the caller decodes or builds one
/// chunk while the previous is encoded, so only one chunk of decoded spans is alive at
/// once (a flush of a large head would otherwise hold every span decoded). `trace_count`
/// sizes the bloom filter (an upper bound is fine). The encoded Parquet file is still
/// assembled in memory, at a few dozen bytes per span.
pub async fn write_block_sorted<I>(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    chunks: I,
    trace_count: usize,
    options: &BlockOptions,
    provenance: Provenance,
) -> Result<BlockMeta, BlockError>
where
    I: Iterator<Item = Vec<SpanRecord>> + Send + 'static,
{
    validate(options)?;
    let now = UnixNanos::now();
    let id = new_block_id(now)?;
    let data_path = block_path(tenant, &id, DATA_FILE);
    let encoded = {
        let options = options.clone();
        let data_path = data_path.clone();
        tokio::task::spawn_blocking(move || {
            encode_sorted(chunks, trace_count, &options, &data_path)
        })
        .await
        .map_err(|e| BlockError::Task(e.to_string()))??
    };
    put_block(store, tenant, id, now, encoded, provenance).await
}

/// Puts the encoded data and bloom filter, then `meta.json`.
async fn put_block(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    id: String,
    now: UnixNanos,
    encoded: Encoded,
    provenance: Provenance,
) -> Result<BlockMeta, BlockError> {
    let Encoded {
        data,
        bloom,
        index,
        row_groups,
        summary,
    } = encoded;
    let data_path = block_path(tenant, &id, DATA_FILE);
    let data_bytes = data.len() as u64;
    let bloom_bytes = bloom.len() as u64;
    put(store, &data_path, data).await?;
    crate::faults::crash_point("block.data_written");
    put(store, &block_path(tenant, &id, BLOOM_FILE), bloom).await?;
    crate::faults::crash_point("block.bloom_written");
    let index_bytes = put_index(store, tenant, &id, index).await?;
    let meta = BlockMeta {
        id: id.clone(),
        tenant: tenant.clone(),
        format_version: FORMAT_VERSION,
        start_min: summary.start_min,
        start_max: summary.start_max,
        end_max: summary.end_max,
        span_count: summary.span_count,
        trace_count: summary.trace_count,
        size_bytes: data_bytes + bloom_bytes + index_bytes,
        data_bytes,
        bloom_bytes,
        index_bytes,
        row_groups,
        services: summary.services.into_iter().collect(),
        operations: summary.operations.into_iter().collect(),
        created_unix_nanos: now.0,
        provenance,
    };
    put(
        store,
        &block_path(tenant, &id, META_FILE),
        meta::encode(&meta),
    )
    .await?;
    Ok(meta)
}

/// Puts the attribute index, if any; returns its size (0 without).
pub(crate) async fn put_index(
    store: &dyn ObjectStore,
    tenant: &TenantId,
    id: &str,
    index: Option<Vec<u8>>,
) -> Result<u64, BlockError> {
    let Some(index) = index else {
        return Ok(0);
    };
    let bytes = index.len() as u64;
    put(store, &block_path(tenant, id, INDEX_FILE), index).await?;
    Ok(bytes)
}

pub(crate) fn validate(options: &BlockOptions) -> Result<(), BlockError> {
    if options.row_group_spans == 0 {
        return Err(BlockError::Options("row_group_spans must be at least 1"));
    }
    if options.page_rows == 0 {
        return Err(BlockError::Options("page_rows must be at least 1"));
    }
    if ZstdLevel::try_new(options.zstd_level).is_err() {
        return Err(BlockError::Options("zstd_level must be within 1..=22"));
    }
    let p = options.bloom_false_positive_rate;
    if !(p > 0.0 && p < 1.0) {
        return Err(BlockError::Options(
            "bloom_false_positive_rate must be within (0, 1)",
        ));
    }
    Ok(())
}

pub(crate) async fn put(
    store: &dyn ObjectStore,
    path: &Path,
    bytes: Vec<u8>,
) -> Result<(), BlockError> {
    store
        .put(path, PutPayload::from(bytes))
        .await
        .map(|_| ())
        .map_err(|e| BlockError::store("write", path, e))
}

/// 12 hex digits of milliseconds (sorts by time until the year 10889) and 20 random ones.
pub(crate) fn new_block_id(now: UnixNanos) -> Result<String, BlockError> {
    let mut random = [0u8; 10];
    getrandom::fill(&mut random).map_err(|e| BlockError::Random(e.to_string()))?;
    let millis = (now.0 / 1_000_000) & 0xffff_ffff_ffff;
    let mut id = format!("{millis:012x}");
    for b in random {
        id.push_str(&format!("{b:02x}"));
    }
    Ok(id)
}

struct Summary {
    start_min: UnixNanos,
    start_max: UnixNanos,
    end_max: UnixNanos,
    span_count: u64,
    trace_count: u64,
    last_trace: Option<TraceId>,
    services: BTreeSet<String>,
    operations: BTreeSet<(String, String, SpanKind)>,
}

struct Encoded {
    data: Vec<u8>,
    bloom: Vec<u8>,
    index: Option<Vec<u8>>,
    row_groups: u32,
    summary: Summary,
}

/// Sorts by (trace id, start, span id) and drops exact duplicates, keeping the first given.
pub(crate) fn sort_and_dedup(spans: &mut Vec<SpanRecord>) {
    // Stable, so that of equal keys the first given stays first and is the one kept.
    spans.sort_by(|a, b| {
        (a.span.trace_id, a.span.start, a.span.span_id).cmp(&(
            b.span.trace_id,
            b.span.start,
            b.span.span_id,
        ))
    });
    spans.dedup_by(|later, kept| {
        later.span.trace_id == kept.span.trace_id
            && later.span.start == kept.span.start
            && later.span.span_id == kept.span.span_id
    });
}

fn encode(
    mut spans: Vec<SpanRecord>,
    options: &BlockOptions,
    path: &Path,
) -> Result<Encoded, BlockError> {
    sort_and_dedup(&mut spans);
    let traces = spans
        .chunk_by(|a, b| a.span.trace_id == b.span.trace_id)
        .count();
    encode_sorted(std::iter::once(spans), traces, options, path)
}

/// Encodes spans given in block order, chunk by chunk (see [`write_block_sorted`]).
fn encode_sorted(
    chunks: impl Iterator<Item = Vec<SpanRecord>>,
    trace_count: usize,
    options: &BlockOptions,
    path: &Path,
) -> Result<Encoded, BlockError> {
    let mut bloom = Bloom::new(trace_count.max(1), options.bloom_false_positive_rate);
    let mut summary = Summary::new();
    let props = writer_properties(options)?;
    let mut writer = ArrowWriter::try_new(Vec::new(), s::schema(), Some(props))
        .map_err(|e| BlockError::parquet(path, e))?;
    let mut index = options
        .attribute_index
        .then(|| IndexBuilder::new(options.zstd_level))
        .transpose()
        .map_err(|e| BlockError::parquet(path, e))?;
    for spans in chunks {
        summary.add(&spans, &mut bloom);
        let mut rest = spans.as_slice();
        while !rest.is_empty() {
            let mut rows = 0;
            let mut bytes = 0;
            while rows < rest.len() && rows < options.row_group_spans && bytes < MAX_BATCH_BYTES {
                bytes += approx_size(&rest[rows]);
                rows += 1;
            }
            let (batch_rows, later) = rest.split_at(rows);
            rest = later;
            let batch = to_batch(batch_rows).map_err(|e| BlockError::arrow(path, e))?;
            if let Some(index) = &mut index {
                index
                    .add(&batch)
                    .map_err(|e| BlockError::corrupt(path, e))?;
            }
            writer
                .write(&batch)
                .map_err(|e| BlockError::parquet(path, e))?;
        }
    }
    if summary.span_count == 0 {
        return Err(BlockError::Empty);
    }
    let file_meta = writer.finish().map_err(|e| BlockError::parquet(path, e))?;
    let row_groups = u32::try_from(file_meta.num_row_groups()).unwrap_or(u32::MAX);
    // `finish` wrote the footer; the buffer is complete.
    let data = std::mem::take(writer.inner_mut());
    let index = index
        .map(IndexBuilder::finish)
        .transpose()
        .map_err(|e| BlockError::parquet(path, e))?;
    Ok(Encoded {
        data,
        bloom: bloom.encode(),
        index,
        row_groups,
        summary,
    })
}

pub(crate) fn writer_properties(options: &BlockOptions) -> Result<WriterProperties, BlockError> {
    let level = ZstdLevel::try_new(options.zstd_level)
        .map_err(|_| BlockError::Options("zstd_level must be within 1..=22"))?;
    // A dotted path names a nested leaf (`ColumnPath::from` would make it one segment).
    let col = |name: &str| ColumnPath::new(name.split('.').map(str::to_owned).collect());
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_row_count(Some(options.row_group_spans))
        // One page per column chunk unless a column is large (1 MiB pages); only the
        // columns that hold most of a span's bytes get `page_rows` pages, which a trace
        // lookup skips through the page index. Small pages everywhere would cost a page
        // header and levels per page in each of the ~60 mostly empty leaf columns.
        .set_data_page_row_count_limit(options.row_group_spans.max(options.page_rows))
        // Chunk statistics everywhere keep the footer (cached per open block) small; page
        // statistics only where lookups and time pruning use them.
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_column_statistics_enabled(col(s::TRACE_ID), EnabledStatistics::Page)
        .set_column_statistics_enabled(col(s::START), EnabledStatistics::Page)
        .set_key_value_metadata(Some(vec![parquet::file::metadata::KeyValue::new(
            "clew.block.format_version".to_owned(),
            FORMAT_VERSION.to_string(),
        )]));
    for name in HEAVY_COLUMNS {
        builder = builder.set_column_data_page_row_count_limit(col(name), options.page_rows);
    }
    // Encodings chosen by measurement on the benchmark data set (tests.rs): random ids
    // defeat dictionaries (zstd still finds a parent repeated by its siblings); starts jump
    // at every trace boundary, which makes delta encoding use ~40-bit deltas, while split
    // bytes let zstd drop the constant high bytes; durations are small, so deltas win.
    for name in [s::SPAN_ID, s::PARENT_SPAN_ID, s::START, s::DURATION, s::END] {
        builder = builder.set_column_dictionary_enabled(col(name), false);
    }
    builder = builder.set_column_encoding(col(s::START), Encoding::BYTE_STREAM_SPLIT);
    for name in [s::DURATION, s::END] {
        builder = builder.set_column_encoding(col(name), Encoding::DELTA_BINARY_PACKED);
    }
    // Columns zstd does not shrink (random ids, bit-packed deltas, and the mostly empty
    // ones, which its framing makes larger) stay uncompressed: parquet builds a zstd
    // compressor and decompressor for every compressed column chunk it reads, which was a
    // fifth of a selective search's CPU. Measured per column over 10 M spans of both
    // benchmark profiles: together they cost < 0.1 B/span (BENCHMARKS.md).
    for path in uncompressed_leaves() {
        builder = builder.set_column_compression(col(&path), Compression::UNCOMPRESSED);
    }
    Ok(builder.build())
}

/// Parquet paths of the leaf columns written without compression (see
/// [`writer_properties`]): the top-level ones below, and every leaf of events, links and
/// scope attributes.
pub(crate) fn uncompressed_leaves() -> Vec<String> {
    let mut out: Vec<String> = UNCOMPRESSED_COLUMNS
        .iter()
        .map(|c| (*c).to_owned())
        .collect();
    for (list, fields) in [(s::EVENTS, &EVENT_FIELDS[..]), (s::LINKS, &LINK_FIELDS[..])] {
        out.extend(fields.iter().map(|f| format!("{list}.list.item.{f}")));
        out.extend(
            KV_LEAVES
                .iter()
                .map(|leaf| format!("{list}.list.item.attributes.list.item.{leaf}")),
        );
    }
    for leaf in KV_LEAVES {
        out.push(format!("{}.list.item.{leaf}", s::SCOPE_ATTRIBUTES));
    }
    out
}

const UNCOMPRESSED_COLUMNS: [&str; 16] = [
    s::TRACE_ID,
    s::SPAN_ID,
    s::DURATION,
    s::END,
    s::KIND,
    s::STATUS_CODE,
    s::STATUS_MESSAGE,
    s::TRACE_STATE,
    s::FLAGS,
    s::DROPPED_ATTRIBUTES,
    s::DROPPED_EVENTS,
    s::DROPPED_LINKS,
    s::RESOURCE_DROPPED,
    s::SCOPE_NAME,
    s::SCOPE_VERSION,
    s::SCOPE_DROPPED,
];

/// Leaves of a `kv` struct; an event's and a link's fields besides their attributes.
const KV_LEAVES: [&str; 7] = ["key", "type", "str", "int", "double", "bool", "bytes"];
const EVENT_FIELDS: [&str; 3] = ["time_unix_nanos", "name", "dropped_attributes_count"];
const LINK_FIELDS: [&str; 5] = [
    "trace_id",
    "span_id",
    "trace_state",
    "flags",
    "dropped_attributes_count",
];

/// Leaf columns that carry most of a span's bytes (Parquet paths).
const HEAVY_COLUMNS: [&str; 8] = [
    s::TRACE_ID,
    s::START,
    s::SPAN_ID,
    s::PARENT_SPAN_ID,
    s::DURATION,
    "attributes.list.item.key",
    "attributes.list.item.type",
    "attributes.list.item.str",
];

impl Summary {
    fn new() -> Self {
        Summary {
            start_min: UnixNanos(u64::MAX),
            start_max: UnixNanos(0),
            end_max: UnixNanos(0),
            span_count: 0,
            trace_count: 0,
            last_trace: None,
            services: BTreeSet::new(),
            operations: BTreeSet::new(),
        }
    }

    /// Adds spans that follow the ones added before in block order; each trace id seen for
    /// the first time goes into the bloom filter.
    fn add(&mut self, spans: &[SpanRecord], bloom: &mut Bloom) {
        self.span_count += spans.len() as u64;
        for rec in spans {
            let span = &rec.span;
            self.start_min = self.start_min.min(span.start);
            self.start_max = self.start_max.max(span.start);
            self.end_max = self.end_max.max(span.end.max(span.start));
            if self.last_trace != Some(span.trace_id) {
                self.trace_count += 1;
                self.last_trace = Some(span.trace_id);
                bloom.insert(&span.trace_id);
            }
            let service = rec.service_name();
            if !self.services.contains(service) {
                self.services.insert(service.to_owned());
            }
            let op = (service.to_owned(), span.name.clone(), span.kind);
            self.operations.insert(op);
        }
    }
}

/// A rough upper bound of what a span adds to the batch's Arrow buffers.
fn approx_size(rec: &SpanRecord) -> usize {
    fn attrs(a: &[KeyValue]) -> usize {
        a.iter()
            .map(|kv| 32 + kv.key.len() + value_size(&kv.value))
            .sum()
    }
    fn value_size(v: &AnyValue) -> usize {
        match v {
            AnyValue::String(s) => s.len(),
            AnyValue::Bytes(b) => b.len(),
            AnyValue::Array(a) => a.iter().map(|v| 8 + value_size(v)).sum(),
            AnyValue::KvList(kv) => attrs(kv),
            _ => 8,
        }
    }
    let span = &rec.span;
    128 + span.name.len()
        + span.trace_state.len()
        + span.status.message.len()
        + attrs(&span.attributes)
        + span
            .events
            .iter()
            .map(|e| 32 + e.name.len() + attrs(&e.attributes))
            .sum::<usize>()
        + span
            .links
            .iter()
            .map(|l| 64 + l.trace_state.len() + attrs(&l.attributes))
            .sum::<usize>()
        + attrs(&rec.resource.attributes)
        + rec.scope.name.len()
        + rec.scope.version.len()
        + attrs(&rec.scope.attributes)
}

fn offset(len: usize) -> Result<i32, ArrowError> {
    i32::try_from(len).map_err(|_| ArrowError::ComputeError("list offset overflow".into()))
}

fn list(item: DataType, offsets: Vec<i32>, values: ArrayRef) -> Result<ListArray, ArrowError> {
    ListArray::try_new(
        s::list_item(item),
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        values,
        None,
    )
}

/// Builds a `list<kv>` column, one list per row.
struct KvBuilder {
    offsets: Vec<i32>,
    key: StringBuilder,
    ty: UInt8Builder,
    str: StringBuilder,
    int: Int64Builder,
    double: Float64Builder,
    boolean: BooleanBuilder,
    bytes: BinaryBuilder,
}

impl KvBuilder {
    fn new() -> Self {
        Self {
            offsets: vec![0],
            key: StringBuilder::new(),
            ty: UInt8Builder::new(),
            str: StringBuilder::new(),
            int: Int64Builder::new(),
            double: Float64Builder::new(),
            boolean: BooleanBuilder::new(),
            bytes: BinaryBuilder::new(),
        }
    }

    /// Appends one entry; `None` is [`s::TYPE_COLUMN`] (value in a dedicated column).
    fn push(&mut self, key: &str, value: Option<&AnyValue>) {
        self.key.append_value(key);
        // Every value field gets a slot in every entry (null unless it is the one).
        let mut ty = s::TYPE_EMPTY;
        let (mut str, mut int, mut double, mut boolean) = (None, None, None, None);
        let mut bytes: Option<Vec<u8>> = None;
        match value {
            None => ty = s::TYPE_COLUMN,
            Some(AnyValue::String(v)) => (ty, str) = (s::TYPE_STR, Some(v.as_str())),
            Some(AnyValue::Bool(v)) => (ty, boolean) = (s::TYPE_BOOL, Some(*v)),
            Some(AnyValue::Int(v)) => (ty, int) = (s::TYPE_INT, Some(*v)),
            Some(AnyValue::Double(v)) => (ty, double) = (s::TYPE_DOUBLE, Some(*v)),
            Some(AnyValue::Bytes(v)) => (ty, bytes) = (s::TYPE_BYTES, Some(v.clone())),
            Some(v @ (AnyValue::Array(_) | AnyValue::KvList(_))) => {
                let proto = clew_model::otlp::any_value_to_proto(v).encode_to_vec();
                (ty, bytes) = (s::TYPE_OTLP, Some(proto));
            }
            Some(AnyValue::Empty) => {}
        }
        self.ty.append_value(ty);
        self.str.append_option(str);
        self.int.append_option(int);
        self.double.append_option(double);
        self.boolean.append_option(boolean);
        self.bytes.append_option(bytes);
    }

    fn push_all(&mut self, attrs: &[KeyValue]) {
        for kv in attrs {
            self.push(&kv.key, Some(&kv.value));
        }
    }

    fn close_list(&mut self) -> Result<(), ArrowError> {
        self.offsets.push(offset(self.ty.len())?);
        Ok(())
    }

    fn finish(mut self) -> Result<ListArray, ArrowError> {
        let values = StructArray::try_new(
            s::kv_fields(),
            vec![
                Arc::new(self.key.finish()),
                Arc::new(self.ty.finish()),
                Arc::new(self.str.finish()),
                Arc::new(self.int.finish()),
                Arc::new(self.double.finish()),
                Arc::new(self.boolean.finish()),
                Arc::new(self.bytes.finish()),
            ],
            None,
        )?;
        list(
            DataType::Struct(s::kv_fields()),
            self.offsets,
            Arc::new(values),
        )
    }
}

struct EventsBuilder {
    offsets: Vec<i32>,
    time: UInt64Builder,
    name: StringBuilder,
    attributes: KvBuilder,
    dropped: UInt32Builder,
}

impl EventsBuilder {
    fn new() -> Self {
        Self {
            offsets: vec![0],
            time: UInt64Builder::new(),
            name: StringBuilder::new(),
            attributes: KvBuilder::new(),
            dropped: UInt32Builder::new(),
        }
    }

    fn push_row(&mut self, events: &[clew_model::Event]) -> Result<(), ArrowError> {
        for e in events {
            self.time.append_value(e.time.0);
            self.name.append_value(&e.name);
            self.attributes.push_all(&e.attributes);
            self.attributes.close_list()?;
            self.dropped.append_value(e.dropped_attributes_count);
        }
        self.offsets.push(offset(self.time.len())?);
        Ok(())
    }

    fn finish(mut self) -> Result<ListArray, ArrowError> {
        let values = StructArray::try_new(
            s::event_fields(),
            vec![
                Arc::new(self.time.finish()),
                Arc::new(self.name.finish()),
                Arc::new(self.attributes.finish()?),
                Arc::new(self.dropped.finish()),
            ],
            None,
        )?;
        list(
            DataType::Struct(s::event_fields()),
            self.offsets,
            Arc::new(values),
        )
    }
}

struct LinksBuilder {
    offsets: Vec<i32>,
    trace_id: FixedSizeBinaryBuilder,
    span_id: FixedSizeBinaryBuilder,
    trace_state: StringBuilder,
    flags: UInt32Builder,
    attributes: KvBuilder,
    dropped: UInt32Builder,
}

impl LinksBuilder {
    fn new() -> Self {
        Self {
            offsets: vec![0],
            trace_id: FixedSizeBinaryBuilder::new(16),
            span_id: FixedSizeBinaryBuilder::new(8),
            trace_state: StringBuilder::new(),
            flags: UInt32Builder::new(),
            attributes: KvBuilder::new(),
            dropped: UInt32Builder::new(),
        }
    }

    fn push_row(&mut self, links: &[clew_model::Link]) -> Result<(), ArrowError> {
        for l in links {
            self.trace_id.append_value(l.trace_id.as_bytes())?;
            self.span_id.append_value(l.span_id.as_bytes())?;
            self.trace_state.append_value(&l.trace_state);
            self.flags.append_value(l.flags);
            self.attributes.push_all(&l.attributes);
            self.attributes.close_list()?;
            self.dropped.append_value(l.dropped_attributes_count);
        }
        self.offsets.push(offset(self.flags.len())?);
        Ok(())
    }

    fn finish(mut self) -> Result<ListArray, ArrowError> {
        let values = StructArray::try_new(
            s::link_fields(),
            vec![
                Arc::new(self.trace_id.finish()),
                Arc::new(self.span_id.finish()),
                Arc::new(self.trace_state.finish()),
                Arc::new(self.flags.finish()),
                Arc::new(self.attributes.finish()?),
                Arc::new(self.dropped.finish()),
            ],
            None,
        )?;
        list(
            DataType::Struct(s::link_fields()),
            self.offsets,
            Arc::new(values),
        )
    }
}

/// Whether `value` can live in a hot column of type `ty`.
fn fits(ty: HotType, value: &AnyValue) -> bool {
    matches!(
        (ty, value),
        (HotType::Str, AnyValue::String(_)) | (HotType::Int, AnyValue::Int(_))
    )
}

/// Encodes sorted spans as one record batch of [`s::schema`].
pub(crate) fn to_batch(rows: &[SpanRecord]) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    let mut trace_id = FixedSizeBinaryBuilder::with_capacity(n, 16);
    let mut start = UInt64Builder::with_capacity(n);
    let mut span_id = FixedSizeBinaryBuilder::with_capacity(n, 8);
    let mut parent = FixedSizeBinaryBuilder::with_capacity(n, 8);
    let mut duration = UInt64Builder::with_capacity(n);
    let mut end = UInt64Builder::with_capacity(n);
    let mut service = StringBuilder::new();
    let mut name = StringBuilder::new();
    let mut kind = UInt8Builder::with_capacity(n);
    let mut status_code = UInt8Builder::with_capacity(n);
    let mut status_message = StringBuilder::new();
    let mut trace_state = StringBuilder::new();
    let mut flags = UInt32Builder::with_capacity(n);
    let mut hot_str: Vec<StringBuilder> = HOT.iter().map(|_| StringBuilder::new()).collect();
    let mut hot_int: Vec<Int64Builder> = HOT.iter().map(|_| Int64Builder::new()).collect();
    let mut attributes = KvBuilder::new();
    let mut dropped_attributes = UInt32Builder::with_capacity(n);
    let mut events = EventsBuilder::new();
    let mut dropped_events = UInt32Builder::with_capacity(n);
    let mut links = LinksBuilder::new();
    let mut dropped_links = UInt32Builder::with_capacity(n);
    let mut resource_attributes = KvBuilder::new();
    let mut resource_dropped = UInt32Builder::with_capacity(n);
    let mut scope_name = StringBuilder::new();
    let mut scope_version = StringBuilder::new();
    let mut scope_attributes = KvBuilder::new();
    let mut scope_dropped = UInt32Builder::with_capacity(n);

    for rec in rows {
        let span = &rec.span;
        trace_id.append_value(span.trace_id.as_bytes())?;
        start.append_value(span.start.0);
        span_id.append_value(span.span_id.as_bytes())?;
        match &span.parent_span_id {
            Some(p) => parent.append_value(p.as_bytes())?,
            None => parent.append_null(),
        }
        duration.append_value(span.duration().0);
        end.append_option((span.end < span.start).then_some(span.end.0));
        service.append_value(rec.service_name());
        name.append_value(&span.name);
        kind.append_value(span.kind.as_i32() as u8);
        status_code.append_value(span.status.code.as_i32() as u8);
        status_message.append_value(&span.status.message);
        trace_state.append_value(&span.trace_state);
        flags.append_value(span.flags);

        let mut hot: [Option<&AnyValue>; HOT.len()] = [None; HOT.len()];
        for kv in &span.attributes {
            let slot = HOT
                .iter()
                .position(|(key, _, ty)| *key == kv.key && fits(*ty, &kv.value));
            match slot {
                Some(i) if hot[i].is_none() => {
                    hot[i] = Some(&kv.value);
                    attributes.push(&kv.key, None);
                }
                _ => attributes.push(&kv.key, Some(&kv.value)),
            }
        }
        attributes.close_list()?;
        for (i, value) in hot.iter().enumerate() {
            match value {
                Some(AnyValue::String(v)) => hot_str[i].append_value(v),
                _ => hot_str[i].append_null(),
            }
            match value {
                Some(AnyValue::Int(v)) => hot_int[i].append_value(*v),
                _ => hot_int[i].append_null(),
            }
        }
        dropped_attributes.append_value(span.dropped_attributes_count);
        events.push_row(&span.events)?;
        dropped_events.append_value(span.dropped_events_count);
        links.push_row(&span.links)?;
        dropped_links.append_value(span.dropped_links_count);

        // The first `service.name`, when a string, is what `service_name` holds.
        let mut service_in_column = false;
        for kv in &rec.resource.attributes {
            if kv.key == s::SERVICE_NAME_KEY && !service_in_column {
                service_in_column = true;
                if matches!(kv.value, AnyValue::String(_)) {
                    resource_attributes.push(&kv.key, None);
                    continue;
                }
            }
            resource_attributes.push(&kv.key, Some(&kv.value));
        }
        resource_attributes.close_list()?;
        resource_dropped.append_value(rec.resource.dropped_attributes_count);
        scope_name.append_value(&rec.scope.name);
        scope_version.append_value(&rec.scope.version);
        scope_attributes.push_all(&rec.scope.attributes);
        scope_attributes.close_list()?;
        scope_dropped.append_value(rec.scope.dropped_attributes_count);
    }

    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(trace_id.finish()),
        Arc::new(start.finish()),
        Arc::new(span_id.finish()),
        Arc::new(parent.finish()),
        Arc::new(duration.finish()),
        Arc::new(end.finish()),
        Arc::new(service.finish()),
        Arc::new(name.finish()),
        Arc::new(kind.finish()),
        Arc::new(status_code.finish()),
        Arc::new(status_message.finish()),
        Arc::new(trace_state.finish()),
        Arc::new(flags.finish()),
    ];
    for (i, (_, _, ty)) in HOT.iter().enumerate() {
        match ty {
            HotType::Str => columns.push(Arc::new(hot_str[i].finish())),
            HotType::Int => columns.push(Arc::new(hot_int[i].finish())),
        }
    }
    columns.extend([
        Arc::new(attributes.finish()?) as ArrayRef,
        Arc::new(dropped_attributes.finish()),
        Arc::new(events.finish()?),
        Arc::new(dropped_events.finish()),
        Arc::new(links.finish()?),
        Arc::new(dropped_links.finish()),
        Arc::new(resource_attributes.finish()?),
        Arc::new(resource_dropped.finish()),
        Arc::new(scope_name.finish()),
        Arc::new(scope_version.finish()),
        Arc::new(scope_attributes.finish()?),
        Arc::new(scope_dropped.finish()),
    ]);
    RecordBatch::try_new(s::schema(), columns)
}
