//! Reading a block: [`BlockReader`] keeps its `meta.json` and per-row-group statistics in
//! memory; the bloom filter, the Parquet footer (with page index) and pages come through the
//! store's [`BlockCache`] and are fetched again when evicted. Reads fetch only the row
//! groups, pages and columns a lookup or search needs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, FixedSizeBinaryArray, Float64Array, Int64Array,
    ListArray, RecordBatch, StringArray, StructArray, UInt8Array, UInt32Array, UInt64Array,
};
use arrow_schema::ArrowError;
use clew_model::{
    AnyValue, Event, KeyValue, Link, Resource, Scope, Span, SpanId, SpanKind, SpanRecord, Status,
    StatusCode, TraceId, UnixNanos,
};
use futures::StreamExt as _;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderMetadata, ArrowReaderOptions, RowFilter, RowSelection, RowSelector,
};
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use parquet::file::metadata::PageIndexPolicy;
use prost::Message as _;

use super::bloom::Bloom;
use super::cache::BlockCache;
use super::index;
use super::meta::BlockMeta;
use super::schema::{self as s, HOT, HotType};
use super::source::ObjectSource;
use super::{BLOOM_FILE, BlockError, DATA_FILE, INDEX_FILE, block_path};
use crate::filter::{SpanFilter, TermScope, TermValue};
use crate::scan::{Hits, ScanStats, SpanParts, SpanScan, TraceHit};

/// Rows decoded per Arrow batch while reading.
const BATCH_ROWS: usize = 4_096;

/// Min/max statistics of one row group, `None` where the file has none.
#[derive(Debug, Default)]
struct GroupStats {
    trace_min: Option<TraceId>,
    trace_max: Option<TraceId>,
    start: (Option<u64>, Option<u64>),
    duration: (Option<u64>, Option<u64>),
    service: (Option<String>, Option<String>),
    name: (Option<String>, Option<String>),
}

impl GroupStats {
    fn trace_lo(&self) -> TraceId {
        self.trace_min.unwrap_or(TraceId([0; 16]))
    }

    fn trace_hi(&self) -> TraceId {
        self.trace_max.unwrap_or(TraceId([0xff; 16]))
    }

    /// False when no span of the group can meet `f`'s column conditions.
    fn admits(&self, f: &SpanFilter) -> bool {
        let in_u64 = |(lo, hi): (Option<u64>, Option<u64>), min: Option<u64>, max: Option<u64>| {
            min.is_none_or(|m| hi.is_none_or(|hi| hi >= m))
                && max.is_none_or(|m| lo.is_none_or(|lo| lo <= m))
        };
        let in_str = |(lo, hi): &(Option<String>, Option<String>), v: Option<&str>| {
            v.is_none_or(|v| {
                lo.as_deref().is_none_or(|lo| lo <= v) && hi.as_deref().is_none_or(|hi| v <= hi)
            })
        };
        in_u64(
            self.start,
            f.start_min.map(|t| t.0),
            f.start_max.map(|t| t.0),
        ) && in_u64(
            self.duration,
            f.min_duration.map(|d| d.0),
            f.max_duration.map(|d| d.0),
        ) && in_str(&self.service, f.service.as_deref())
            && in_str(&self.name, f.operation.as_deref())
    }
}

/// An open block. Cheap to share (`Arc` it); every read is independent.
pub struct BlockReader {
    store: Arc<dyn ObjectStore>,
    meta: BlockMeta,
    data_path: Path,
    /// `data_path` as the cache's key for this block's metadata and ranges.
    data_key: Arc<str>,
    /// `bloom` path, the cache's key for the bloom filter.
    bloom_key: Arc<str>,
    cache: Arc<BlockCache>,
    groups: Vec<GroupStats>,
    /// Whether row groups' trace-id ranges ascend, so that lookups can binary-search.
    groups_sorted: bool,
}

impl std::fmt::Debug for BlockReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockReader")
            .field("meta", &self.meta)
            .field("row_groups", &self.groups.len())
            .finish()
    }
}

impl BlockReader {
    /// [`BlockReader::open_with_cache`] with a cache of this reader's own that keeps its
    /// bloom filter and footer for its lifetime and caches no pages. Prefer sharing one
    /// bounded cache per store.
    #[cfg(test)]
    pub(crate) async fn open(
        store: Arc<dyn ObjectStore>,
        meta: BlockMeta,
    ) -> Result<Self, BlockError> {
        Self::open_with_cache(store, meta, Arc::new(BlockCache::unbounded_private())).await
    }

    /// Reads the bloom filter and the Parquet footer with its page index (through `cache`),
    /// checks that the file has this format's schema and keeps the row groups' statistics.
    /// Any damage shows here or in a later read as a [`BlockError`], never as a panic.
    pub async fn open_with_cache(
        store: Arc<dyn ObjectStore>,
        meta: BlockMeta,
        cache: Arc<BlockCache>,
    ) -> Result<Self, BlockError> {
        let data_path = block_path(&meta.tenant, &meta.id, DATA_FILE);
        let bloom_path = block_path(&meta.tenant, &meta.id, BLOOM_FILE);
        let mut reader = Self {
            data_key: Arc::from(data_path.as_ref()),
            bloom_key: Arc::from(bloom_path.as_ref()),
            store,
            meta,
            data_path,
            cache,
            groups: Vec::new(),
            groups_sorted: true,
        };
        reader.bloom().await?;
        let metadata = reader.metadata().await?;
        let path = reader.data_path.clone();
        let groups = guarded(&reader.data_path, async move {
            group_stats(&metadata).map_err(|e| BlockError::parquet(&path, e))
        })
        .await?;
        reader.groups_sorted = groups
            .windows(2)
            .all(|w| w[0].trace_lo() <= w[1].trace_lo() && w[0].trace_hi() <= w[1].trace_hi());
        reader.groups = groups;
        Ok(reader)
    }

    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    /// False means the block certainly holds no span of trace `id`. Answers from memory:
    /// when the bloom filter is not cached it says true, and [`BlockReader::trace`] loads
    /// the filter and checks again.
    pub fn may_contain(&self, id: TraceId) -> bool {
        self.cache
            .bloom_if_cached(&self.bloom_key)
            .is_none_or(|b| b.may_contain(&id))
    }

    /// The bloom filter, from the cache or the store.
    async fn bloom(&self) -> Result<Arc<Bloom>, BlockError> {
        let store = Arc::clone(&self.store);
        let path = block_path(&self.meta.tenant, &self.meta.id, BLOOM_FILE);
        self.cache
            .bloom(&self.bloom_key, async move {
                let bytes = store
                    .get(&path)
                    .await
                    .map_err(|e| BlockError::store("read", &path, e))?
                    .bytes()
                    .await
                    .map_err(|e| BlockError::store("read", &path, e))?;
                let bloom = Bloom::decode(&bytes)
                    .map_err(|e| BlockError::corrupt(&path, format!("bloom filter: {e}")))?;
                Ok(Arc::new(bloom))
            })
            .await
    }

    /// The Parquet metadata (footer and page index), from the cache or the store.
    pub(super) async fn metadata(&self) -> Result<ArrowReaderMetadata, BlockError> {
        // Footers bypass the range cache: the metadata cache holds them decoded.
        let mut reader = ObjectSource::new(
            Arc::clone(&self.store),
            self.data_path.clone(),
            self.meta.data_bytes,
        );
        let path = self.data_path.clone();
        self.cache
            .metadata(
                &self.data_key,
                guarded(&self.data_path, async move {
                    let options = ArrowReaderOptions::new()
                        .with_page_index_policy(PageIndexPolicy::Optional)
                        .with_schema(s::schema());
                    ArrowReaderMetadata::load_async(&mut reader, options)
                        .await
                        .map_err(|e| BlockError::parquet(&path, e))
                }),
            )
            .await
    }

    /// Row groups whose trace-id range holds `id`.
    fn groups_for(&self, id: TraceId) -> Vec<usize> {
        let holds = |g: &GroupStats| g.trace_lo() <= id && id <= g.trace_hi();
        if self.groups_sorted {
            let first = self.groups.partition_point(|g| g.trace_hi() < id);
            (first..self.groups.len())
                .take_while(|i| self.groups[*i].trace_lo() <= id)
                .filter(|i| holds(&self.groups[*i]))
                .collect()
        } else {
            (0..self.groups.len())
                .filter(|i| holds(&self.groups[*i]))
                .collect()
        }
    }

    /// A stream builder over the block's data. `cached` reads ranges through the cache;
    /// whole-file scans pass false so as not to push hot pages out.
    pub(crate) async fn stream_builder(
        &self,
        cached: bool,
    ) -> Result<
        (
            ParquetRecordBatchStreamBuilder<ObjectSource>,
            ArrowReaderMetadata,
        ),
        BlockError,
    > {
        self.stream_builder_counted(cached, None).await
    }

    /// [`BlockReader::stream_builder`] that adds the bytes it reads to `counter`.
    async fn stream_builder_counted(
        &self,
        cached: bool,
        counter: Option<Arc<AtomicU64>>,
    ) -> Result<
        (
            ParquetRecordBatchStreamBuilder<ObjectSource>,
            ArrowReaderMetadata,
        ),
        BlockError,
    > {
        let metadata = self.metadata().await?;
        let mut reader = ObjectSource::new(
            Arc::clone(&self.store),
            self.data_path.clone(),
            self.meta.data_bytes,
        );
        if cached {
            reader = reader.with_cache(Arc::clone(&self.cache), Arc::clone(&self.data_key));
        }
        if let Some(counter) = counter {
            reader = reader.with_counter(counter);
        }
        let builder = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, metadata.clone())
            .with_batch_size(BATCH_ROWS);
        Ok((builder, metadata))
    }

    pub(crate) fn data_path(&self) -> &Path {
        &self.data_path
    }

    /// Every span of trace `id` in this block, sorted by (start, span id).
    ///
    /// Bloom filter, then the row groups whose trace-id statistics admit the id (binary
    /// search), then within them the `trace_id` pages whose statistics admit it (page index),
    /// and a row filter on `trace_id` over those rows, so that every column is read only
    /// for the pages holding the trace: the cost does not grow with the row group's size.
    pub async fn trace(&self, id: TraceId) -> Result<Vec<SpanRecord>, BlockError> {
        self.trace_parts(id, SpanParts::ALL).await
    }

    /// [`BlockReader::trace`] decoding only `parts` (the rest reads as in [`SpanScan`]'s
    /// spans): what judging a trace needs, at a fraction of the column chunks.
    pub async fn trace_parts(
        &self,
        id: TraceId,
        parts: SpanParts,
    ) -> Result<Vec<SpanRecord>, BlockError> {
        if !self.may_contain(id) {
            return Ok(Vec::new());
        }
        let groups = self.groups_for(id);
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        // Counted here (a hit when `may_contain` found it), loaded when it was evicted.
        if !self.bloom().await?.may_contain(&id) {
            return Ok(Vec::new());
        }
        let (builder, metadata) = self.stream_builder(true).await?;
        let predicate = ArrowPredicateFn::new(
            mask(&metadata, &[s::TRACE_ID]),
            move |batch: RecordBatch| {
                let ids = batch
                    .column(0)
                    .as_any()
                    .downcast_ref::<FixedSizeBinaryArray>()
                    .ok_or_else(|| ArrowError::SchemaError("trace_id is not binary(16)".into()))?;
                Ok((0..ids.len())
                    .map(|i| Some(ids.value(i) == id.as_bytes()))
                    .collect::<BooleanArray>())
            },
        );
        let selection = trace_pages(&metadata, &groups, id);
        let mut builder = builder
            .with_row_groups(groups)
            .with_row_filter(RowFilter::new(vec![Box::new(predicate)]));
        if parts != SpanParts::ALL {
            builder = builder.with_projection(mask(&metadata, &part_columns(parts)));
        }
        if let Some(selection) = selection {
            builder = builder.with_row_selection(selection);
        }
        let path = self.data_path.clone();
        guarded(&self.data_path, async move {
            let mut stream = builder.build().map_err(|e| BlockError::parquet(&path, e))?;
            let mut out = Vec::new();
            let mut shared = Shared::default();
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(|e| BlockError::parquet(&path, e))?;
                let cols =
                    Cols::with_parts(&batch, parts).map_err(|e| BlockError::corrupt(&path, e))?;
                for row in 0..batch.num_rows() {
                    let rec = cols
                        .record(row, &mut shared)
                        .map_err(|e| BlockError::corrupt(&path, e))?;
                    // The row filter already selected these; checking again costs nothing
                    // and keeps a misbehaving filter from leaking other traces.
                    if rec.span.trace_id == id {
                        out.push(rec);
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    /// Every span of the block in file order (trace id, start, span id): for tools and
    /// tests. Holds the whole block in memory; compaction streams instead (`merge_blocks`).
    pub async fn all_spans(&self) -> Result<Vec<SpanRecord>, BlockError> {
        let (builder, _) = self.stream_builder(false).await?;
        let path = self.data_path.clone();
        guarded(&self.data_path, async move {
            let mut stream = builder.build().map_err(|e| BlockError::parquet(&path, e))?;
            let mut out = Vec::new();
            let mut shared = Shared::default();
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(|e| BlockError::parquet(&path, e))?;
                let cols = Cols::new(&batch).map_err(|e| BlockError::corrupt(&path, e))?;
                for row in 0..batch.num_rows() {
                    let rec = cols
                        .record(row, &mut shared)
                        .map_err(|e| BlockError::corrupt(&path, e))?;
                    out.push(rec);
                }
            }
            Ok(out)
        })
        .await
    }

    /// Judges the spans of the row groups that `scan`'s hints admit (see [`crate::scan`]),
    /// decoding only the columns of `scan.parts`. Reads around the range cache: a scan
    /// touches much of a block once, and would push out the pages lookups reuse.
    pub async fn scan(&self, scan: &SpanScan) -> Result<(Vec<TraceHit>, ScanStats), BlockError> {
        let hinted = |admits: &dyn Fn(&SpanFilter) -> bool| {
            scan.hints.is_empty() || scan.hints.iter().any(admits)
        };
        if !hinted(&|h| self.meta_admits(h)) {
            return Ok((Vec::new(), ScanStats::default()));
        }
        let mut groups: Vec<usize> = (0..self.groups.len())
            .filter(|g| hinted(&|h| self.groups[*g].admits(h)))
            .collect();
        if groups.is_empty() {
            return Ok((Vec::new(), ScanStats::default()));
        }
        let read_bytes = Arc::new(AtomicU64::new(0));
        let (builder, metadata) = self
            .stream_builder_counted(false, Some(Arc::clone(&read_bytes)))
            .await?;
        let spans: u64 = groups
            .iter()
            .map(|&g| u64::try_from(metadata.metadata().row_group(g).num_rows()).unwrap_or(0))
            .sum();
        let mut bytes = 0u64;
        let mut selection = None;
        let indexed = self.meta.index_bytes > 0;
        // Whether the index answered the hints' terms (an old index may not answer text tests).
        let mut index_used = false;
        if let Some(asked) = index_terms(&scan.hints).filter(|_| indexed)
            && let Some(lookup) = self.index_lookup(asked.probes).await?
        {
            index_used = true;
            bytes += lookup.bytes;
            let slots = candidate_slots(&asked.hints, &lookup.slots);
            let first_rows = first_rows(&metadata);
            let (kept, rows_selected) =
                select_rows(&groups, &first_rows, &slots, lookup.rows_per_slot);
            if kept.is_empty() {
                let stats = ScanStats {
                    spans,
                    bytes,
                    block_read: true,
                };
                return Ok((Vec::new(), stats));
            }
            groups = kept;
            selection = Some(rows_selected);
        }
        // Exact hints (see `SpanScan::exact`) that this block applies whole: the matcher's
        // verdict is known, so only trace ids and starts are decoded.
        let exact = scan.exact.filter(|_| {
            scan.hints.len() <= 1 && scan.hints.iter().all(|h| applies_whole(h, index_used))
        });
        let columns = match exact {
            Some(_) => vec![s::TRACE_ID, s::START],
            None => part_columns(scan.parts),
        };
        let mut builder = builder
            .with_row_groups(groups)
            .with_projection(mask(&metadata, &columns));
        if let Some(selection) = selection {
            builder = builder.with_row_selection(selection);
        }
        if hints_read_columns(&scan.hints) {
            // Late materialisation: the hinted columns are decoded first, and the rest
            // (attribute lists above all) only for rows some hint admits.
            builder = builder.with_row_filter(hint_filter(&metadata, scan.hints.clone()));
        }
        let path = self.data_path.clone();
        let parts = scan.parts;
        let matcher = Arc::clone(&scan.matcher);
        guarded(&self.data_path, async move {
            let mut stream = builder.build().map_err(|e| BlockError::parquet(&path, e))?;
            let mut hits = Hits::default();
            let mut shared = Shared::default();
            // Rows are sorted by trace, then start: a trace's first row read is its
            // earliest span here.
            let mut current: Option<(TraceId, UnixNanos)> = None;
            let corrupt = |e: String| BlockError::corrupt(&path, e);
            let mut first_of = |id: TraceId, start: UnixNanos| match current {
                Some((cur, first)) if cur == id => first.min(start),
                _ => {
                    current = Some((id, start));
                    start
                }
            };
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(|e| BlockError::parquet(&path, e))?;
                if let Some(bits) = exact {
                    let ids =
                        column::<FixedSizeBinaryArray>(&batch, s::TRACE_ID).map_err(corrupt)?;
                    let starts = column::<UInt64Array>(&batch, s::START).map_err(corrupt)?;
                    for row in 0..batch.num_rows() {
                        let id = trace_id_at(ids, row).map_err(corrupt)?;
                        let start = UnixNanos(starts.value(row));
                        hits.add(id, bits, first_of(id, start));
                    }
                    continue;
                }
                let cols = Cols::with_parts(&batch, parts).map_err(corrupt)?;
                for row in 0..batch.num_rows() {
                    let rec = cols.record(row, &mut shared).map_err(corrupt)?;
                    let id = rec.span.trace_id;
                    let first = first_of(id, rec.span.start);
                    hits.add(id, matcher(&rec), first);
                }
            }
            Ok((
                hits.into_vec(),
                ScanStats {
                    spans,
                    bytes: bytes + read_bytes.load(Ordering::Relaxed),
                    block_read: true,
                },
            ))
        })
        .await
    }

    /// The rows of the block's attribute index for each of `keys` (see `index.rs`).
    async fn index_lookup(
        &self,
        probes: Vec<index::Probe>,
    ) -> Result<Option<index::Lookup>, BlockError> {
        let path = block_path(&self.meta.tenant, &self.meta.id, INDEX_FILE);
        let source = index::IndexSource {
            store: Arc::clone(&self.store),
            key: Arc::from(path.as_ref()),
            path: path.clone(),
            size: self.meta.index_bytes,
            cache: Arc::clone(&self.cache),
        };
        guarded(&path, async move { source.lookup(&probes).await }).await
    }

    /// False when the meta proves that no span of the block meets `f`.
    fn meta_admits(&self, f: &SpanFilter) -> bool {
        let m = &self.meta;
        let time_ok = f.start_min.is_none_or(|t| t <= m.start_max)
            && f.start_max.is_none_or(|t| t >= m.start_min);
        let op_ok = match (&f.service, &f.operation) {
            (Some(svc), Some(op)) => m
                .operations
                .iter()
                .any(|(s, n, k)| s == svc && n == op && f.kind.is_none_or(|fk| fk == *k)),
            (Some(svc), None) => m.services.iter().any(|s| s == svc),
            (None, Some(op)) => m.operations.iter().any(|(_, n, _)| n == op),
            (None, None) => true,
        };
        time_ok && op_ok
    }
}

/// What a scan asks of an attribute index: distinct probes, and per hint, per term, which
/// of them meet it (a span-or-resource term has two, a text test one more per scope).
struct IndexTerms {
    probes: Vec<index::Probe>,
    hints: Vec<Vec<Vec<usize>>>,
}

/// The index terms of every hint, or `None` when some hint has none the index answers:
/// that hint could admit any row, so the index cannot narrow the scan.
fn index_terms(hints: &[SpanFilter]) -> Option<IndexTerms> {
    if hints.is_empty() {
        return None;
    }
    let mut probes: Vec<index::Probe> = Vec::new();
    let mut per_hint = Vec::with_capacity(hints.len());
    for hint in hints {
        let mut terms = Vec::new();
        for term in &hint.terms {
            let Some(alternatives) = index::term_probes(term) else {
                continue;
            };
            let ids = alternatives
                .into_iter()
                .map(|k| match probes.iter().position(|x| *x == k) {
                    Some(i) => i,
                    None => {
                        probes.push(k);
                        probes.len() - 1
                    }
                })
                .collect();
            terms.push(ids);
        }
        if terms.is_empty() {
            return None;
        }
        per_hint.push(terms);
    }
    Some(IndexTerms {
        probes,
        hints: per_hint,
    })
}

/// Slots, ascending, that hold every term of some hint; `rows[k]` are the (ascending) slots
/// of key `k`. A slot holding two terms may hold them in different rows: the scan's row
/// filter and matcher still judge each row.
fn candidate_slots(hints: &[Vec<Vec<usize>>], rows: &[Vec<u32>]) -> Vec<u32> {
    let empty = Vec::new();
    let mut out: Vec<u32> = Vec::new();
    for terms in hints {
        let mut met: Option<Vec<u32>> = None;
        for alternatives in terms {
            let mut any: Vec<u32> = alternatives
                .iter()
                .flat_map(|&k| rows.get(k).unwrap_or(&empty).iter().copied())
                .collect();
            if alternatives.len() > 1 {
                any.sort_unstable();
                any.dedup();
            }
            met = Some(match met {
                None => any,
                Some(prev) => intersect(&prev, &any),
            });
        }
        out.extend(met.unwrap_or_default());
    }
    if hints.len() > 1 {
        out.sort_unstable();
        out.dedup();
    }
    out
}

fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        match x.cmp(y) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(*x);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Each row group's first row and row count.
fn first_rows(metadata: &ArrowReaderMetadata) -> Vec<(u64, u64)> {
    let mut next = 0u64;
    metadata
        .metadata()
        .row_groups()
        .iter()
        .map(|g| {
            let n = u64::try_from(g.num_rows()).unwrap_or(0);
            let first = next;
            next += n;
            (first, n)
        })
        .collect()
}

/// Of `groups` (ascending), those overlapping some of `slots` (ascending; slot `k` is rows
/// `k × per_slot .. (k + 1) × per_slot` of the block), and a selection of exactly the slots'
/// rows over the groups kept.
fn select_rows(
    groups: &[usize],
    bounds: &[(u64, u64)],
    slots: &[u32],
    per_slot: u32,
) -> (Vec<usize>, RowSelection) {
    let per_slot = u64::from(per_slot.max(1));
    let mut kept = Vec::new();
    let mut selectors = Vec::new();
    for &g in groups {
        let Some(&(first, n)) = bounds.get(g) else {
            continue;
        };
        let end = first + n;
        // Slots that end after the group starts and start before it ends.
        let lo = slots.partition_point(|&k| (u64::from(k) + 1) * per_slot <= first);
        let hi = slots.partition_point(|&k| u64::from(k) * per_slot < end);
        let Some(inside) = slots.get(lo..hi).filter(|k| !k.is_empty()) else {
            continue;
        };
        kept.push(g);
        let mut at = first;
        let mut run = 0u64;
        for &k in inside {
            let from = (u64::from(k) * per_slot).max(first);
            let to = ((u64::from(k) + 1) * per_slot).min(end);
            if from > at {
                if run > 0 {
                    selectors.push(RowSelector::select(run as usize));
                    run = 0;
                }
                selectors.push(RowSelector::skip((from - at) as usize));
                at = from;
            }
            run += to - at;
            at = to;
        }
        if run > 0 {
            selectors.push(RowSelector::select(run as usize));
        }
        if end > at {
            selectors.push(RowSelector::skip((end - at) as usize));
        }
    }
    (kept, RowSelection::from(selectors))
}

/// Whether a block scan applies all of `hint` itself: its column conditions in the row
/// filter ([`hint_filter`]), its terms through the attribute index (when `indexed`). Jaeger
/// tag conditions, start bounds and strings on keys without a column only prune.
pub(super) fn applies_whole(hint: &SpanFilter, indexed: bool) -> bool {
    hint.attributes.is_empty()
        && hint.start_min.is_none()
        && hint.start_max.is_none()
        // The row filter reads a dedicated column's first string; only the term says the
        // key's first value is that string.
        && hint.span_strings.iter().all(|(k, v)| {
            s::dedicated_string_column(k).is_some()
                && hint.terms.iter().any(|t| {
                    t.scope == TermScope::Span && t.key == *k && t.value == TermValue::Str(v.clone())
                })
        })
        && (hint.terms.is_empty() || (indexed && hint.terms.iter().all(|t| t.is_indexable())))
        // A text test also takes every long string of its key (the index keeps none).
        && !hint
            .terms
            .iter()
            .any(|t| matches!(t.value, TermValue::Matches(_)))
}

/// Whether some hint has a condition a row filter can test (see [`hint_filter`]).
fn hints_read_columns(hints: &[SpanFilter]) -> bool {
    hints.iter().any(|h| {
        h.min_duration.is_some()
            || h.max_duration.is_some()
            || h.service.is_some()
            || h.operation.is_some()
            || h.kind.is_some()
            || h.status.is_some()
            || h.span_strings
                .iter()
                .any(|(k, _)| s::dedicated_string_column(k).is_some())
    })
}

/// A Parquet row filter that keeps the rows at least one hint admits, judged on the span's
/// service, name, kind, status and duration (hints' other fields are ignored). Only the
/// columns some hint tests are decoded for it.
fn hint_filter(metadata: &ArrowReaderMetadata, hints: Vec<SpanFilter>) -> RowFilter {
    let mut columns = Vec::new();
    let uses = |f: &dyn Fn(&SpanFilter) -> bool| hints.iter().any(f);
    if uses(&|h| h.min_duration.is_some() || h.max_duration.is_some()) {
        columns.push(s::DURATION);
    }
    if uses(&|h| h.service.is_some()) {
        columns.push(s::SERVICE_NAME);
    }
    if uses(&|h| h.operation.is_some()) {
        columns.push(s::NAME);
    }
    if uses(&|h| h.kind.is_some()) {
        columns.push(s::KIND);
    }
    if uses(&|h| h.status.is_some()) {
        columns.push(s::STATUS_CODE);
    }
    for h in &hints {
        for (key, _) in &h.span_strings {
            if let Some(column) = s::dedicated_string_column(key)
                && !columns.contains(&column)
            {
                columns.push(column);
            }
        }
    }
    let predicate = ArrowPredicateFn::new(mask(metadata, &columns), move |batch: RecordBatch| {
        fn read<'a, T: 'static>(
            batch: &'a RecordBatch,
            name: &str,
        ) -> Result<Option<&'a T>, ArrowError> {
            if batch.column_by_name(name).is_none() {
                return Ok(None);
            }
            column(batch, name)
                .map(Some)
                .map_err(ArrowError::SchemaError)
        }
        let duration: Option<&UInt64Array> = read(&batch, s::DURATION)?;
        let service: Option<&StringArray> = read(&batch, s::SERVICE_NAME)?;
        let name: Option<&StringArray> = read(&batch, s::NAME)?;
        let kind: Option<&UInt8Array> = read(&batch, s::KIND)?;
        let status: Option<&UInt8Array> = read(&batch, s::STATUS_CODE)?;
        let mut dedicated: Vec<(&str, &StringArray)> = Vec::new();
        for (_, column_name, _) in HOT {
            if let Some(a) = read::<StringArray>(&batch, column_name)? {
                dedicated.push((column_name, a));
            }
        }
        // A hint's condition always has its column (see above), except attribute keys
        // without a dedicated column: those are left to the matcher.
        Ok((0..batch.num_rows())
            .map(|row| {
                Some(hints.iter().any(|f| {
                    let d = duration.map(|a| a.value(row));
                    f.min_duration.is_none_or(|m| d.is_some_and(|d| d >= m.0))
                        && f.max_duration.is_none_or(|m| d.is_some_and(|d| d <= m.0))
                        && f.service
                            .as_deref()
                            .is_none_or(|v| service.is_some_and(|a| a.value(row) == v))
                        && f.operation
                            .as_deref()
                            .is_none_or(|v| name.is_some_and(|a| a.value(row) == v))
                        && f.kind.is_none_or(|k| {
                            kind.is_some_and(|a| i32::from(a.value(row)) == k.as_i32())
                        })
                        && f.status.is_none_or(|st| {
                            status.is_some_and(|a| i32::from(a.value(row)) == st.as_i32())
                        })
                        && f.span_strings.iter().all(|(key, value)| {
                            let Some(column_name) = s::dedicated_string_column(key) else {
                                return true;
                            };
                            // Null: the span has no string value for the key at all.
                            dedicated
                                .iter()
                                .find(|(c, _)| *c == column_name)
                                .is_some_and(|(_, a)| a.is_valid(row) && a.value(row) == value)
                        })
                }))
            })
            .collect::<BooleanArray>())
    });
    RowFilter::new(vec![Box::new(predicate)])
}

/// Runs Parquet decoding in its own task. `parquet` can still panic on some damaged
/// files (e.g. arithmetic overflow in a corrupt delta-encoded page); in a task, such a
/// panic becomes a [`BlockError::Corrupt`] for that block (and is logged by the panic hook)
/// instead of taking the caller down. This relies on `panic = "unwind"`, Rust's default.
async fn guarded<T: Send + 'static>(
    path: &Path,
    work: impl Future<Output = Result<T, BlockError>> + Send + 'static,
) -> Result<T, BlockError> {
    match tokio::spawn(work).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => Err(BlockError::corrupt(path, "parquet decoder panicked")),
        Err(e) => Err(BlockError::Task(e.to_string())),
    }
}

/// The rows of `groups` (in that order, as the reader concatenates them) on `trace_id` pages
/// whose min/max admit `id`, from the page index; `None` when the file has none (every row
/// of the groups is then read). Rows are sorted by trace id, so this is a page or two per
/// row group.
pub(super) fn trace_pages(
    metadata: &ArrowReaderMetadata,
    groups: &[usize],
    id: TraceId,
) -> Option<RowSelection> {
    let index = metadata.metadata().page_index()?;
    let conv =
        StatisticsConverter::try_new(s::TRACE_ID, metadata.schema(), metadata.parquet_schema())
            .ok()?;
    let mins = conv.data_page_mins(index.as_ref(), groups).ok()?;
    let maxes = conv.data_page_maxes(index.as_ref(), groups).ok()?;
    let rows = conv
        .data_page_row_counts(index.as_ref(), metadata.metadata().row_groups(), groups)
        .ok()??;
    let mins = mins.as_any().downcast_ref::<FixedSizeBinaryArray>()?;
    let maxes = maxes.as_any().downcast_ref::<FixedSizeBinaryArray>()?;
    if mins.len() != rows.len() || maxes.len() != rows.len() {
        return None;
    }
    let want = id.as_bytes().as_slice();
    let selectors = (0..rows.len()).map(|page| {
        let len = usize::try_from(rows.value(page)).ok()?;
        // A page without statistics may hold anything.
        let admits = mins.is_null(page)
            || maxes.is_null(page)
            || (mins.value(page) <= want && want <= maxes.value(page));
        Some(if admits {
            RowSelector::select(len)
        } else {
            RowSelector::skip(len)
        })
    });
    selectors
        .collect::<Option<Vec<_>>>()
        .map(RowSelection::from)
}

/// The projection of the named top-level columns.
fn mask(metadata: &ArrowReaderMetadata, columns: &[&str]) -> ProjectionMask {
    ProjectionMask::roots(
        metadata.parquet_schema(),
        columns.iter().filter_map(|c| s::root_index(c)),
    )
}

fn group_stats(
    metadata: &ArrowReaderMetadata,
) -> Result<Vec<GroupStats>, parquet::errors::ParquetError> {
    let arrow = metadata.schema();
    let parquet = metadata.parquet_schema();
    let groups = metadata.metadata().row_groups();
    let mut out: Vec<GroupStats> = groups.iter().map(|_| GroupStats::default()).collect();
    let minmax = |column: &str| -> Result<(ArrayRef, ArrayRef), parquet::errors::ParquetError> {
        let conv = StatisticsConverter::try_new(column, arrow, parquet)?;
        Ok((
            conv.row_group_mins(groups.iter())?,
            conv.row_group_maxes(groups.iter())?,
        ))
    };
    let (mins, maxes) = minmax(s::TRACE_ID)?;
    if let (Some(mins), Some(maxes)) = (
        mins.as_any().downcast_ref::<FixedSizeBinaryArray>(),
        maxes.as_any().downcast_ref::<FixedSizeBinaryArray>(),
    ) {
        for (i, g) in out.iter_mut().enumerate() {
            g.trace_min = opt_trace_id(mins, i);
            g.trace_max = opt_trace_id(maxes, i);
        }
    }
    for (column, set) in [
        (
            s::START,
            (|g, v| g.start = v) as fn(&mut GroupStats, (Option<u64>, Option<u64>)),
        ),
        (s::DURATION, |g, v| g.duration = v),
    ] {
        let (mins, maxes) = minmax(column)?;
        if let (Some(mins), Some(maxes)) = (
            mins.as_any().downcast_ref::<UInt64Array>(),
            maxes.as_any().downcast_ref::<UInt64Array>(),
        ) {
            for (i, g) in out.iter_mut().enumerate() {
                set(g, (opt_u64(mins, i), opt_u64(maxes, i)));
            }
        }
    }
    for (column, set) in [
        (
            s::SERVICE_NAME,
            (|g, v| g.service = v) as fn(&mut GroupStats, (Option<String>, Option<String>)),
        ),
        (s::NAME, |g, v| g.name = v),
    ] {
        let (mins, maxes) = minmax(column)?;
        if let (Some(mins), Some(maxes)) = (
            mins.as_any().downcast_ref::<StringArray>(),
            maxes.as_any().downcast_ref::<StringArray>(),
        ) {
            for (i, g) in out.iter_mut().enumerate() {
                set(g, (opt_str(mins, i), opt_str(maxes, i)));
            }
        }
    }
    Ok(out)
}

fn opt_trace_id(a: &FixedSizeBinaryArray, i: usize) -> Option<TraceId> {
    (i < a.len() && a.is_valid(i))
        .then(|| TraceId::from_slice(a.value(i)).ok())
        .flatten()
}

fn opt_u64(a: &UInt64Array, i: usize) -> Option<u64> {
    (i < a.len() && a.is_valid(i)).then(|| a.value(i))
}

fn opt_str(a: &StringArray, i: usize) -> Option<String> {
    (i < a.len() && a.is_valid(i)).then(|| a.value(i).to_owned())
}

fn trace_id_at(a: &FixedSizeBinaryArray, row: usize) -> Result<TraceId, String> {
    TraceId::from_slice(a.value(row)).map_err(|e| e.to_string())
}

pub(super) fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T, String> {
    batch
        .column_by_name(name)
        .and_then(|a| a.as_any().downcast_ref::<T>())
        .ok_or_else(|| format!("column {name} is missing or of the wrong type"))
}

fn child<'a, T: 'static>(array: &'a StructArray, name: &str) -> Result<&'a T, String> {
    array
        .column_by_name(name)
        .and_then(|a| a.as_any().downcast_ref::<T>())
        .ok_or_else(|| format!("field {name} is missing or of the wrong type"))
}

/// The bounds of row `row`'s list, checked against the values' length.
pub(super) fn list_range(
    list: &ListArray,
    row: usize,
    values_len: usize,
) -> Result<std::ops::Range<usize>, String> {
    let offsets = list.value_offsets();
    let (Some(start), Some(end)) = (offsets.get(row), offsets.get(row + 1)) else {
        return Err(format!("list offsets end before row {row}"));
    };
    let (start, end) = (
        usize::try_from(*start).map_err(|_| "negative list offset")?,
        usize::try_from(*end).map_err(|_| "negative list offset")?,
    );
    if start > end || end > values_len {
        return Err(format!(
            "list offsets {start}..{end} out of bounds ({values_len})"
        ));
    }
    Ok(start..end)
}

fn struct_values(list: &ListArray) -> Result<&StructArray, String> {
    list.values()
        .as_any()
        .downcast_ref::<StructArray>()
        .ok_or_else(|| "list items are not structs".to_owned())
}

/// A `list<kv>` column.
pub(super) struct KvCols<'a> {
    pub(super) list: &'a ListArray,
    pub(super) key: &'a StringArray,
    pub(super) ty: &'a UInt8Array,
    pub(super) str: &'a StringArray,
    pub(super) int: &'a Int64Array,
    pub(super) double: &'a Float64Array,
    pub(super) boolean: &'a BooleanArray,
    bytes: &'a BinaryArray,
}

impl<'a> KvCols<'a> {
    pub(super) fn new(list: &'a ListArray) -> Result<Self, String> {
        let values = struct_values(list)?;
        Ok(Self {
            list,
            key: child(values, "key")?,
            ty: child(values, "type")?,
            str: child(values, "str")?,
            int: child(values, "int")?,
            double: child(values, "double")?,
            boolean: child(values, "bool")?,
            bytes: child(values, "bytes")?,
        })
    }

    fn from_struct(parent: &'a StructArray, name: &str) -> Result<Self, String> {
        Self::new(child(parent, name)?)
    }

    /// Row `row`'s attributes; `column` supplies the values of [`s::TYPE_COLUMN`] entries.
    fn row(
        &self,
        row: usize,
        column: &dyn Fn(&str) -> Result<AnyValue, String>,
    ) -> Result<Vec<KeyValue>, String> {
        let range = list_range(self.list, row, self.ty.len())?;
        let mut out = Vec::with_capacity(range.len());
        for i in range {
            let key = self.key.value(i);
            out.push(KeyValue::new(key, self.value(i, column)?));
        }
        Ok(out)
    }

    /// Entry `i`'s value; `column` supplies it for [`s::TYPE_COLUMN`] entries.
    pub(super) fn value(
        &self,
        i: usize,
        column: &dyn Fn(&str) -> Result<AnyValue, String>,
    ) -> Result<AnyValue, String> {
        let key = self.key.value(i);
        let present = |valid: bool| {
            if valid {
                Ok(())
            } else {
                Err(format!("attribute {key:?} lacks its value"))
            }
        };
        Ok(match self.ty.value(i) {
            s::TYPE_COLUMN => column(key)?,
            s::TYPE_STR => {
                present(self.str.is_valid(i))?;
                AnyValue::String(self.str.value(i).to_owned())
            }
            s::TYPE_BOOL => {
                present(self.boolean.is_valid(i))?;
                AnyValue::Bool(self.boolean.value(i))
            }
            s::TYPE_INT => {
                present(self.int.is_valid(i))?;
                AnyValue::Int(self.int.value(i))
            }
            s::TYPE_DOUBLE => {
                present(self.double.is_valid(i))?;
                AnyValue::Double(self.double.value(i))
            }
            s::TYPE_BYTES => {
                present(self.bytes.is_valid(i))?;
                AnyValue::Bytes(self.bytes.value(i).to_vec())
            }
            s::TYPE_OTLP => {
                present(self.bytes.is_valid(i))?;
                let proto =
                    clew_model::otlp::proto::common::v1::AnyValue::decode(self.bytes.value(i))
                        .map_err(|e| format!("attribute {key:?}: {e}"))?;
                clew_model::otlp::any_value_from_proto(proto)
            }
            s::TYPE_EMPTY => AnyValue::Empty,
            other => return Err(format!("attribute {key:?} has unknown type {other}")),
        })
    }
}

pub(super) fn no_column(key: &str) -> Result<AnyValue, String> {
    Err(format!(
        "attribute {key:?} refers to a dedicated column that does not exist here"
    ))
}

/// The last resource and scope decoded: consecutive spans usually share them, and sharing
/// the `Arc` keeps a decoded trace as small as the head's.
#[derive(Default)]
struct Shared {
    resource: Option<Arc<Resource>>,
    scope: Option<Arc<Scope>>,
}

impl Shared {
    fn resource(&mut self, r: Resource) -> Arc<Resource> {
        match &self.resource {
            Some(last) if **last == r => Arc::clone(last),
            _ => {
                let r = Arc::new(r);
                self.resource = Some(Arc::clone(&r));
                r
            }
        }
    }

    fn scope(&mut self, sc: Scope) -> Arc<Scope> {
        match &self.scope {
            Some(last) if **last == sc => Arc::clone(last),
            _ => {
                let sc = Arc::new(sc);
                self.scope = Some(Arc::clone(&sc));
                sc
            }
        }
    }
}

/// The span and resource attribute columns with the dedicated (hot) columns.
struct AttrCols<'a> {
    hot_str: Vec<Option<&'a StringArray>>,
    hot_int: Vec<Option<&'a Int64Array>>,
    attributes: KvCols<'a>,
    dropped: &'a UInt32Array,
}

struct EventCols<'a> {
    events: &'a ListArray,
    values: &'a StructArray,
    time: &'a UInt64Array,
    name: &'a StringArray,
    attributes: KvCols<'a>,
    dropped_attributes: &'a UInt32Array,
    dropped: &'a UInt32Array,
}

struct LinkCols<'a> {
    links: &'a ListArray,
    trace_id: &'a FixedSizeBinaryArray,
    span_id: &'a FixedSizeBinaryArray,
    trace_state: &'a StringArray,
    flags: &'a UInt32Array,
    attributes: KvCols<'a>,
    dropped_attributes: &'a UInt32Array,
    dropped: &'a UInt32Array,
}

struct ScopeCols<'a> {
    name: &'a StringArray,
    version: &'a StringArray,
    attributes: KvCols<'a>,
    dropped: &'a UInt32Array,
}

/// The columns of a batch, typed: the core always, each part of [`SpanParts`] when read.
struct Cols<'a> {
    trace_id: &'a FixedSizeBinaryArray,
    start: &'a UInt64Array,
    duration: &'a UInt64Array,
    end: &'a UInt64Array,
    service: &'a StringArray,
    name: &'a StringArray,
    kind: &'a UInt8Array,
    status_code: &'a UInt8Array,
    status_message: &'a StringArray,
    ids: Option<(&'a FixedSizeBinaryArray, &'a FixedSizeBinaryArray)>,
    trace_state: Option<(&'a StringArray, &'a UInt32Array)>,
    attributes: Option<AttrCols<'a>>,
    events: Option<EventCols<'a>>,
    links: Option<LinkCols<'a>>,
    resource: Option<(KvCols<'a>, &'a UInt32Array)>,
    scope: Option<ScopeCols<'a>>,
}

/// The top-level columns that hold `parts` (the core columns included).
pub(crate) fn part_columns(parts: SpanParts) -> Vec<&'static str> {
    let mut out = vec![
        s::TRACE_ID,
        s::START,
        s::DURATION,
        s::END,
        s::SERVICE_NAME,
        s::NAME,
        s::KIND,
        s::STATUS_CODE,
        s::STATUS_MESSAGE,
    ];
    if parts.ids {
        out.extend([s::SPAN_ID, s::PARENT_SPAN_ID]);
    }
    if parts.trace_state {
        out.extend([s::TRACE_STATE, s::FLAGS]);
    }
    if parts.attributes {
        out.extend(HOT.iter().map(|(_, column, _)| *column));
        out.extend([s::ATTRIBUTES, s::DROPPED_ATTRIBUTES]);
    }
    if parts.events {
        out.extend([s::EVENTS, s::DROPPED_EVENTS]);
    }
    if parts.links {
        out.extend([s::LINKS, s::DROPPED_LINKS]);
    }
    if parts.resource {
        out.extend([s::RESOURCE_ATTRIBUTES, s::RESOURCE_DROPPED]);
    }
    if parts.scope {
        out.extend([
            s::SCOPE_NAME,
            s::SCOPE_VERSION,
            s::SCOPE_ATTRIBUTES,
            s::SCOPE_DROPPED,
        ]);
    }
    out
}

impl<'a> Cols<'a> {
    /// Every column of a full-schema batch.
    fn new(batch: &'a RecordBatch) -> Result<Self, String> {
        Self::with_parts(batch, SpanParts::ALL)
    }

    fn with_parts(batch: &'a RecordBatch, parts: SpanParts) -> Result<Self, String> {
        let attributes = if parts.attributes {
            let mut hot_str = Vec::new();
            let mut hot_int = Vec::new();
            for (_, name, ty) in HOT {
                match ty {
                    HotType::Str => {
                        hot_str.push(Some(column::<StringArray>(batch, name)?));
                        hot_int.push(None);
                    }
                    HotType::Int => {
                        hot_str.push(None);
                        hot_int.push(Some(column::<Int64Array>(batch, name)?));
                    }
                }
            }
            Some(AttrCols {
                hot_str,
                hot_int,
                attributes: KvCols::new(column(batch, s::ATTRIBUTES)?)?,
                dropped: column(batch, s::DROPPED_ATTRIBUTES)?,
            })
        } else {
            None
        };
        let events = if parts.events {
            let events: &ListArray = column(batch, s::EVENTS)?;
            let values = struct_values(events)?;
            Some(EventCols {
                events,
                values,
                time: child(values, "time_unix_nanos")?,
                name: child(values, "name")?,
                attributes: KvCols::from_struct(values, "attributes")?,
                dropped_attributes: child(values, "dropped_attributes_count")?,
                dropped: column(batch, s::DROPPED_EVENTS)?,
            })
        } else {
            None
        };
        let links = if parts.links {
            let links: &ListArray = column(batch, s::LINKS)?;
            let values = struct_values(links)?;
            Some(LinkCols {
                links,
                trace_id: child(values, "trace_id")?,
                span_id: child(values, "span_id")?,
                trace_state: child(values, "trace_state")?,
                flags: child(values, "flags")?,
                attributes: KvCols::from_struct(values, "attributes")?,
                dropped_attributes: child(values, "dropped_attributes_count")?,
                dropped: column(batch, s::DROPPED_LINKS)?,
            })
        } else {
            None
        };
        let resource = if parts.resource {
            Some((
                KvCols::new(column(batch, s::RESOURCE_ATTRIBUTES)?)?,
                column(batch, s::RESOURCE_DROPPED)?,
            ))
        } else {
            None
        };
        let scope = if parts.scope {
            Some(ScopeCols {
                name: column(batch, s::SCOPE_NAME)?,
                version: column(batch, s::SCOPE_VERSION)?,
                attributes: KvCols::new(column(batch, s::SCOPE_ATTRIBUTES)?)?,
                dropped: column(batch, s::SCOPE_DROPPED)?,
            })
        } else {
            None
        };
        Ok(Self {
            trace_id: column(batch, s::TRACE_ID)?,
            start: column(batch, s::START)?,
            duration: column(batch, s::DURATION)?,
            end: column(batch, s::END)?,
            service: column(batch, s::SERVICE_NAME)?,
            name: column(batch, s::NAME)?,
            kind: column(batch, s::KIND)?,
            status_code: column(batch, s::STATUS_CODE)?,
            status_message: column(batch, s::STATUS_MESSAGE)?,
            ids: if parts.ids {
                Some((
                    column(batch, s::SPAN_ID)?,
                    column(batch, s::PARENT_SPAN_ID)?,
                ))
            } else {
                None
            },
            trace_state: if parts.trace_state {
                Some((column(batch, s::TRACE_STATE)?, column(batch, s::FLAGS)?))
            } else {
                None
            },
            attributes,
            events,
            links,
            resource,
            scope,
        })
    }

    fn hot_value(attrs: &AttrCols<'_>, row: usize, key: &str) -> Result<AnyValue, String> {
        let Some(i) = HOT.iter().position(|(k, _, _)| *k == key) else {
            return no_column(key);
        };
        if let Some(Some(a)) = attrs.hot_str.get(i)
            && a.is_valid(row)
        {
            return Ok(AnyValue::String(a.value(row).to_owned()));
        }
        if let Some(Some(a)) = attrs.hot_int.get(i)
            && a.is_valid(row)
        {
            return Ok(AnyValue::Int(a.value(row)));
        }
        Err(format!(
            "attribute {key:?} refers to an empty dedicated column"
        ))
    }

    /// Row `row` as a span: parts not read stay empty (ids zero, no attributes, events or
    /// links); without the resource part the resource holds only `service.name`.
    fn record(&self, row: usize, shared: &mut Shared) -> Result<SpanRecord, String> {
        let span_id_at = |a: &FixedSizeBinaryArray, i: usize| {
            SpanId::from_slice(a.value(i)).map_err(|e| e.to_string())
        };
        let start = self.start.value(row);
        let end = if self.end.is_valid(row) {
            self.end.value(row)
        } else {
            start
                .checked_add(self.duration.value(row))
                .ok_or("start + duration overflows")?
        };
        let (span_id, parent_span_id) = match self.ids {
            Some((ids, parents)) => (
                span_id_at(ids, row)?,
                if parents.is_valid(row) {
                    Some(span_id_at(parents, row)?)
                } else {
                    None
                },
            ),
            None => (SpanId::default(), None),
        };
        let kind = SpanKind::from_i32(i32::from(self.kind.value(row)));
        let (attributes, dropped_attributes_count) = match &self.attributes {
            Some(a) => (
                a.attributes.row(row, &|key| Self::hot_value(a, row, key))?,
                a.dropped.value(row),
            ),
            None => (Vec::new(), 0),
        };

        let mut events = Vec::new();
        let mut dropped_events_count = 0;
        if let Some(e) = &self.events {
            for i in list_range(e.events, row, e.values.len())? {
                events.push(Event {
                    time: UnixNanos(e.time.value(i)),
                    name: e.name.value(i).to_owned(),
                    attributes: e.attributes.row(i, &no_column)?,
                    dropped_attributes_count: e.dropped_attributes.value(i),
                });
            }
            dropped_events_count = e.dropped.value(row);
        }
        let mut links = Vec::new();
        let mut dropped_links_count = 0;
        if let Some(l) = &self.links {
            for i in list_range(l.links, row, l.flags.len())? {
                links.push(Link {
                    trace_id: trace_id_at(l.trace_id, i)?,
                    span_id: span_id_at(l.span_id, i)?,
                    trace_state: l.trace_state.value(i).to_owned(),
                    attributes: l.attributes.row(i, &no_column)?,
                    dropped_attributes_count: l.dropped_attributes.value(i),
                    flags: l.flags.value(i),
                });
            }
            dropped_links_count = l.dropped.value(row);
        }
        let service = self.service.value(row);
        let resource = match &self.resource {
            Some((attrs, dropped)) => Resource {
                attributes: attrs.row(row, &|key| {
                    if key == s::SERVICE_NAME_KEY {
                        Ok(AnyValue::String(service.to_owned()))
                    } else {
                        no_column(key)
                    }
                })?,
                dropped_attributes_count: dropped.value(row),
            },
            None => Resource {
                attributes: vec![KeyValue::new(
                    s::SERVICE_NAME_KEY,
                    AnyValue::String(service.to_owned()),
                )],
                dropped_attributes_count: 0,
            },
        };
        let scope = match &self.scope {
            Some(sc) => Scope {
                name: sc.name.value(row).to_owned(),
                version: sc.version.value(row).to_owned(),
                attributes: sc.attributes.row(row, &no_column)?,
                dropped_attributes_count: sc.dropped.value(row),
            },
            None => Scope::default(),
        };
        let (trace_state, flags) = match self.trace_state {
            Some((states, flags)) => (states.value(row).to_owned(), flags.value(row)),
            None => (String::new(), 0),
        };
        Ok(SpanRecord {
            resource: shared.resource(resource),
            scope: shared.scope(scope),
            span: Span {
                trace_id: trace_id_at(self.trace_id, row)?,
                span_id,
                parent_span_id,
                trace_state,
                flags,
                name: self.name.value(row).to_owned(),
                kind,
                start: UnixNanos(start),
                end: UnixNanos(end),
                attributes,
                dropped_attributes_count,
                events,
                dropped_events_count,
                links,
                dropped_links_count,
                status: Status {
                    code: StatusCode::from_i32(i32::from(self.status_code.value(row))),
                    message: self.status_message.value(row).to_owned(),
                },
            },
        })
    }
}
