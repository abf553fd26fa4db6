//! [`merge_blocks`]: compaction's streaming merge of sorted blocks into one.
//!
//! Each source is read as a stream of Arrow batches; a k-way merge on (trace id, start, span
//! id) picks rows, which are copied column by column (`arrow_select::interleave`, no
//! decoding into spans) into output batches that the Parquet writer turns into row groups
//! and uploads part by part (`object_store`'s `BufWriter`: one put when small, a multipart
//! upload otherwise). Memory is bounded by about: per source, its current row group's
//! compressed bytes and two decoded batches; one output batch; the row group being encoded;
//! and the upload buffers. None of it grows with the size of the blocks.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashSet};
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, FixedSizeBinaryArray, RecordBatch, StringArray, UInt8Array, UInt64Array,
};
use clew_model::{SpanKind, TenantId, TraceId, UnixNanos};
use futures::StreamExt as _;
use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use parquet::arrow::AsyncArrowWriter;
use parquet::arrow::async_reader::ParquetRecordBatchStream;

use super::bloom::Bloom;
use super::index::IndexBuilder;
use super::meta::{self, BlockMeta, FORMAT_VERSION, Provenance};
use super::read::BlockReader;
use super::schema as s;
use super::source::ObjectSource;
use super::write::{new_block_id, put, put_index, validate, writer_properties};
use super::{BLOOM_FILE, BlockError, BlockOptions, DATA_FILE, META_FILE, block_path};

/// Batch sizes of the merge: the defaults, or tiny ones in tests so that every boundary
/// (source batches, output batches, row groups) is crossed often.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tuning {
    /// Rows per batch read from a source.
    pub(crate) read_rows: usize,
    /// Rows per output batch at most (the Parquet writer cuts row groups itself).
    pub(crate) out_rows: usize,
}

impl Default for Tuning {
    /// Small source batches: memory grows with sources × batch, and the merge may read a
    /// dozen blocks at once; 1,024 rows instead of 4,096 lowered a steady 10,000 spans/s
    /// server's peak RSS from 337 to 276 MiB (BENCHMARKS.md; speed was not compared).
    fn default() -> Self {
        Self {
            read_rows: 1_024,
            out_rows: 4_096,
        }
    }
}
/// Estimated Arrow bytes at which an output batch is cut short of its rows, so that no
/// array comes near its 2 GiB offset limit however large the spans are.
const OUT_BYTES: usize = 64 * 1024 * 1024;
/// Upload buffer: data below this is one put, above it parts of this size.
const UPLOAD_BUFFER: usize = 8 * 1024 * 1024;
/// Parts in flight at once during a multipart upload.
const UPLOAD_CONCURRENCY: usize = 2;

/// Merges `sources` (blocks of `tenant`) into one new block and returns its meta, with
/// `compacted_from` set to the sources' ids. Rows keep the blocks' order (trace id, start,
/// span id); of rows with the same (trace id, span id, start), the one from the earliest
/// source in `sources` is kept, as [`super::write_block`] would keep the first given.
///
/// Same contract as [`super::write_block`]: `data.parquet` and `bloom` first, `meta.json`
/// last, so the block is complete once this returns `Ok` and invisible before. The merge
/// runs on a blocking thread (decoding and encoding are CPU work). On error the block may be
/// left incomplete (no `meta.json`), for the caller to delete as after a failed write.
pub async fn merge_blocks(
    store: &Arc<dyn ObjectStore>,
    tenant: &TenantId,
    sources: &[Arc<BlockReader>],
    options: &BlockOptions,
) -> Result<BlockMeta, BlockError> {
    merge_blocks_tuned(store, tenant, sources, options, Tuning::default()).await
}

/// [`merge_blocks`] with given batch sizes.
pub(crate) async fn merge_blocks_tuned(
    store: &Arc<dyn ObjectStore>,
    tenant: &TenantId,
    sources: &[Arc<BlockReader>],
    options: &BlockOptions,
    tuning: Tuning,
) -> Result<BlockMeta, BlockError> {
    validate(options)?;
    if tuning.read_rows == 0 || tuning.out_rows == 0 {
        return Err(BlockError::Options("merge batch sizes must be at least 1"));
    }
    if sources.iter().all(|b| b.meta().span_count == 0) {
        return Err(BlockError::Empty);
    }
    let now = UnixNanos::now();
    let id = new_block_id(now)?;
    let data_path = block_path(tenant, &id, DATA_FILE);

    let merged = {
        let store = Arc::clone(store);
        let sources = sources.to_vec();
        let options = options.clone();
        let path = data_path.clone();
        let handle = tokio::runtime::Handle::current();
        // `Handle::block_on` on a blocking thread: the runtime's workers stay free for
        // ingest and queries while this decodes and encodes, and a panic in the Parquet
        // decoder on a damaged source ends here as an error instead of in a worker.
        let task = tokio::task::spawn_blocking(move || {
            handle.block_on(merge_data(store, sources, options, path, tuning))
        });
        match task.await {
            Ok(result) => result?,
            Err(e) if e.is_panic() => {
                return Err(BlockError::corrupt(
                    &data_path,
                    "merge panicked (the Parquet decoder on a damaged source block?)",
                ));
            }
            Err(e) => return Err(BlockError::Task(e.to_string())),
        }
    };
    if merged.summary.span_count == 0 {
        return Err(BlockError::Empty);
    }
    crate::faults::crash_point("block.data_written");
    let bloom = merged.bloom.encode();
    let bloom_bytes = bloom.len() as u64;
    put(store.as_ref(), &block_path(tenant, &id, BLOOM_FILE), bloom).await?;
    crate::faults::crash_point("block.bloom_written");
    let index_bytes = put_index(store.as_ref(), tenant, &id, merged.index).await?;
    let summary = merged.summary;
    let meta = BlockMeta {
        id: id.clone(),
        tenant: tenant.clone(),
        format_version: FORMAT_VERSION,
        start_min: UnixNanos(summary.start_min),
        start_max: UnixNanos(summary.start_max),
        end_max: UnixNanos(summary.end_max),
        span_count: summary.span_count,
        trace_count: summary.trace_count,
        size_bytes: merged.data_bytes + bloom_bytes + index_bytes,
        data_bytes: merged.data_bytes,
        bloom_bytes,
        index_bytes,
        row_groups: merged.row_groups,
        services: summary.services.into_iter().collect(),
        operations: summary.operations.into_iter().collect(),
        created_unix_nanos: now.0,
        provenance: Provenance {
            wal_segments: Vec::new(),
            compacted_from: sources.iter().map(|b| b.meta().id.clone()).collect(),
        },
    };
    put(
        store.as_ref(),
        &block_path(tenant, &id, META_FILE),
        meta::encode(&meta),
    )
    .await?;
    Ok(meta)
}

/// What the data pass produced.
struct Merged {
    data_bytes: u64,
    row_groups: u32,
    bloom: Bloom,
    index: Option<Vec<u8>>,
    summary: Summary,
}

/// The meta's summary, built batch by batch.
struct Summary {
    start_min: u64,
    start_max: u64,
    end_max: u64,
    span_count: u64,
    trace_count: u64,
    last_trace: Option<[u8; 16]>,
    services: BTreeSet<String>,
    operations: BTreeSet<(String, String, SpanKind)>,
}

impl Summary {
    fn new() -> Self {
        Self {
            start_min: u64::MAX,
            start_max: 0,
            end_max: 0,
            span_count: 0,
            trace_count: 0,
            last_trace: None,
            services: BTreeSet::new(),
            operations: BTreeSet::new(),
        }
    }

    /// Adds a batch of merged rows (in output order, after the rows added before). Distinct
    /// trace ids are counted and put in the bloom filter as they first appear: the output is
    /// sorted by trace id, so each appears in one run.
    fn add(&mut self, batch: &RecordBatch, bloom: &mut Bloom) -> Result<(), String> {
        let trace: &FixedSizeBinaryArray = column(batch, s::TRACE_ID)?;
        let start: &UInt64Array = column(batch, s::START)?;
        let duration: &UInt64Array = column(batch, s::DURATION)?;
        let end: &UInt64Array = column(batch, s::END)?;
        let service: &StringArray = column(batch, s::SERVICE_NAME)?;
        let name: &StringArray = column(batch, s::NAME)?;
        let kind: &UInt8Array = column(batch, s::KIND)?;
        // Borrowed first, so that a row costs no allocation unless its operation is new.
        let mut ops: HashSet<(&str, &str, u8)> = HashSet::new();
        for row in 0..batch.num_rows() {
            let id = trace_key(trace, row)?;
            if self.last_trace != Some(id) {
                self.trace_count += 1;
                self.last_trace = Some(id);
                bloom.insert(&TraceId(id));
            }
            let st = start.value(row);
            // As the reader rebuilds it: `end` is stored only when it precedes `start`.
            let en = if end.is_valid(row) {
                end.value(row)
            } else {
                st.saturating_add(duration.value(row))
            };
            self.start_min = self.start_min.min(st);
            self.start_max = self.start_max.max(st);
            self.end_max = self.end_max.max(en.max(st));
            ops.insert((service.value(row), name.value(row), kind.value(row)));
        }
        self.span_count += batch.num_rows() as u64;
        for (svc, op, k) in ops {
            if !self.services.contains(svc) {
                self.services.insert(svc.to_owned());
            }
            let kind = SpanKind::from_i32(i32::from(k));
            self.operations
                .insert((svc.to_owned(), op.to_owned(), kind));
        }
        Ok(())
    }
}

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T, String> {
    batch
        .column_by_name(name)
        .and_then(|a| a.as_any().downcast_ref::<T>())
        .ok_or_else(|| format!("column {name} is missing or of the wrong type"))
}

fn trace_key(a: &FixedSizeBinaryArray, row: usize) -> Result<[u8; 16], String> {
    a.value(row)
        .try_into()
        .map_err(|_| "trace_id is not 16 bytes".to_owned())
}

fn span_key(a: &FixedSizeBinaryArray, row: usize) -> Result<[u8; 8], String> {
    a.value(row)
        .try_into()
        .map_err(|_| "span_id is not 8 bytes".to_owned())
}

/// The sort key of blocks; also what makes two rows duplicates.
type Key = ([u8; 16], u64, [u8; 8]);

/// One source's position: its current batch and row.
struct Cursor {
    stream: ParquetRecordBatchStream<ObjectSource>,
    path: Path,
    batch: Option<RecordBatch>,
    /// Index of `batch` in the merge's `held` batches.
    slot: usize,
    row: usize,
    /// Estimated Arrow bytes per row of `batch`.
    row_bytes: usize,
    trace: Option<FixedSizeBinaryArray>,
    start: Option<UInt64Array>,
    span: Option<FixedSizeBinaryArray>,
    last: Option<Key>,
}

impl Cursor {
    /// Moves to the next non-empty batch; `false` at the end of the source.
    async fn next_batch(&mut self) -> Result<bool, BlockError> {
        self.batch = None;
        while let Some(batch) = self.stream.next().await {
            let batch = batch.map_err(|e| BlockError::parquet(&self.path, e))?;
            if batch.num_rows() == 0 {
                continue;
            }
            let corrupt = |e: String| BlockError::corrupt(&self.path, e);
            self.trace = Some(
                column::<FixedSizeBinaryArray>(&batch, s::TRACE_ID)
                    .map_err(corrupt)?
                    .clone(),
            );
            self.start = Some(
                column::<UInt64Array>(&batch, s::START)
                    .map_err(corrupt)?
                    .clone(),
            );
            self.span = Some(
                column::<FixedSizeBinaryArray>(&batch, s::SPAN_ID)
                    .map_err(corrupt)?
                    .clone(),
            );
            self.row_bytes = batch.get_array_memory_size() / batch.num_rows();
            self.row = 0;
            self.batch = Some(batch);
            return Ok(true);
        }
        Ok(false)
    }

    /// The current row's key, checking that the source is in order.
    fn key(&mut self) -> Result<Option<Key>, BlockError> {
        let (Some(batch), Some(trace), Some(start), Some(span)) =
            (&self.batch, &self.trace, &self.start, &self.span)
        else {
            return Ok(None);
        };
        if self.row >= batch.num_rows() {
            return Ok(None);
        }
        let corrupt = |e: String| BlockError::corrupt(&self.path, e);
        let key = (
            trace_key(trace, self.row).map_err(corrupt)?,
            start.value(self.row),
            span_key(span, self.row).map_err(corrupt)?,
        );
        if self.last.is_some_and(|last| last > key) {
            return Err(BlockError::corrupt(
                &self.path,
                "rows are not sorted by (trace id, start, span id)",
            ));
        }
        self.last = Some(key);
        Ok(Some(key))
    }
}

/// The output side: rows picked but not yet written, the batches they point into, and the
/// writer.
struct Output {
    out_rows: usize,
    /// Batches that picked rows (or cursors) refer to; `(slot, row)` indexes into these.
    held: Vec<RecordBatch>,
    picked: Vec<(usize, usize)>,
    picked_bytes: usize,
    writer: AsyncArrowWriter<BufWriter>,
    path: Path,
    summary: Summary,
    bloom: Bloom,
    index: Option<IndexBuilder>,
}

impl Output {
    /// Writes the picked rows as one batch, then forgets every held batch no cursor is on.
    async fn flush(&mut self, cursors: &mut [Cursor]) -> Result<(), BlockError> {
        if !self.picked.is_empty() {
            let schema = s::schema();
            let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
            for i in 0..schema.fields().len() {
                let values: Vec<&dyn Array> =
                    self.held.iter().map(|b| b.column(i).as_ref()).collect();
                columns.push(
                    arrow_select::interleave::interleave(&values, &self.picked)
                        .map_err(|e| BlockError::arrow(&self.path, e))?,
                );
            }
            let batch = RecordBatch::try_new(schema, columns)
                .map_err(|e| BlockError::arrow(&self.path, e))?;
            self.summary
                .add(&batch, &mut self.bloom)
                .map_err(|e| BlockError::corrupt(&self.path, e))?;
            if let Some(index) = &mut self.index {
                index
                    .add(&batch)
                    .map_err(|e| BlockError::corrupt(&self.path, e))?;
            }
            self.writer
                .write(&batch)
                .await
                .map_err(|e| BlockError::parquet(&self.path, e))?;
            self.picked.clear();
            self.picked_bytes = 0;
        }
        self.held.clear();
        for c in cursors.iter_mut() {
            if let Some(batch) = &c.batch {
                c.slot = self.held.len();
                self.held.push(batch.clone());
            }
        }
        Ok(())
    }
}

async fn merge_data(
    store: Arc<dyn ObjectStore>,
    sources: Vec<Arc<BlockReader>>,
    options: BlockOptions,
    data_path: Path,
    tuning: Tuning,
) -> Result<Merged, BlockError> {
    let mut cursors = Vec::with_capacity(sources.len());
    for src in &sources {
        // Uncached: a whole-file scan would only push hot pages out of the cache.
        let (builder, _) = src.stream_builder(false).await?;
        let stream = builder
            .with_batch_size(tuning.read_rows)
            .build()
            .map_err(|e| BlockError::parquet(src.data_path(), e))?;
        cursors.push(Cursor {
            stream,
            path: src.data_path().clone(),
            batch: None,
            slot: 0,
            row: 0,
            row_bytes: 0,
            trace: None,
            start: None,
            span: None,
            last: None,
        });
    }
    // Sized for every source's traces being distinct (a trace split across blocks counts
    // twice): slightly larger than needed, never too small.
    let traces: u64 = sources.iter().map(|b| b.meta().trace_count).sum();
    let bloom = Bloom::new(
        usize::try_from(traces).unwrap_or(usize::MAX),
        options.bloom_false_positive_rate,
    );
    let upload = BufWriter::with_capacity(Arc::clone(&store), data_path.clone(), UPLOAD_BUFFER)
        .with_max_concurrency(UPLOAD_CONCURRENCY);
    let writer = AsyncArrowWriter::try_new(upload, s::schema(), Some(writer_properties(&options)?))
        .map_err(|e| BlockError::parquet(&data_path, e))?;
    let mut out = Output {
        out_rows: tuning.out_rows,
        held: Vec::new(),
        picked: Vec::new(),
        picked_bytes: 0,
        writer,
        path: data_path.clone(),
        summary: Summary::new(),
        bloom,
        index: options
            .attribute_index
            .then(|| IndexBuilder::new(options.zstd_level))
            .transpose()
            .map_err(|e| BlockError::parquet(&data_path, e))?,
    };
    let result = merge_rows(&mut cursors, &mut out).await;
    let finished = match result {
        Ok(()) => out
            .writer
            .finish()
            .await
            .map_err(|e| BlockError::parquet(&data_path, e)),
        Err(e) => Err(e),
    };
    match finished {
        Ok(file_meta) => {
            // The data is uploaded; a failure here leaves a block without meta.json, cleaned
            // up as incomplete.
            let index = out
                .index
                .take()
                .map(IndexBuilder::finish)
                .transpose()
                .map_err(|e| BlockError::parquet(&data_path, e))?;
            Ok(Merged {
                data_bytes: out.writer.bytes_written() as u64,
                row_groups: u32::try_from(file_meta.num_row_groups()).unwrap_or(u32::MAX),
                bloom: out.bloom,
                index,
                summary: out.summary,
            })
        }
        Err(e) => {
            // Drop the parts uploaded so far; a crash instead leaves them in the block's
            // folder, which has no meta.json and is cleaned up as an incomplete block.
            let mut upload = out.writer.into_inner();
            if let Err(abort) = upload.abort().await {
                tracing::warn!(path = %data_path, error = %abort, "aborting a failed block upload");
            }
            Err(e)
        }
    }
}

/// The k-way merge proper.
async fn merge_rows(cursors: &mut [Cursor], out: &mut Output) -> Result<(), BlockError> {
    // Smallest key first; of equal keys, the earliest source, which is the one kept.
    let mut heap: BinaryHeap<Reverse<(Key, usize)>> = BinaryHeap::with_capacity(cursors.len());
    for (i, c) in cursors.iter_mut().enumerate() {
        if c.next_batch().await?
            && let Some(key) = c.key()?
        {
            heap.push(Reverse((key, i)));
        }
    }
    out.flush(cursors).await?;
    // Held batches beyond the cursors' own before they are dropped: old batches stay
    // referenced by picked rows until the next flush.
    let max_held = cursors.len() * 2;
    let mut last: Option<Key> = None;
    while let Some(Reverse((key, i))) = heap.pop() {
        let Some(c) = cursors.get_mut(i) else {
            continue;
        };
        if last != Some(key) {
            out.picked.push((c.slot, c.row));
            out.picked_bytes += c.row_bytes;
            last = Some(key);
        }
        c.row += 1;
        let batch_done = c.batch.as_ref().is_none_or(|b| c.row >= b.num_rows());
        if batch_done {
            if out.held.len() >= max_held {
                out.flush(cursors).await?;
            }
            let Some(c) = cursors.get_mut(i) else {
                continue;
            };
            if c.next_batch().await?
                && let Some(batch) = &c.batch
            {
                c.slot = out.held.len();
                out.held.push(batch.clone());
            }
        }
        if let Some(c) = cursors.get_mut(i)
            && let Some(key) = c.key()?
        {
            heap.push(Reverse((key, i)));
        }
        if out.picked.len() >= out.out_rows || out.picked_bytes >= OUT_BYTES {
            out.flush(cursors).await?;
        }
    }
    out.flush(cursors).await
}
