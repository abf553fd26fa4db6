//! The attribute index (`index.parquet`): for each attribute a span has, as a *term*
//! (scope, key, value), the rows of `data.parquet` that have it. A search for
//! `span.user.id = "u42"` then reads the few rows holding that value instead of decoding
//! every attribute list of the block (Jaeger on Elasticsearch answers tag searches the same
//! way; ADR 9 weighs the bytes it costs).
//!
//! # Format
//! Plain Parquet with two columns: `term` (binary, prefix coded) and `gap` (uint32). An
//! entry says that a *slot*, rows `slot × G .. slot × G + G` of `data.parquet` (G =
//! `clew.index.rows_per_slot` in the file's key-value metadata), holds a span with the term.
//! Entries come in *runs*: each run is sorted by (term, slot) and covers the rows after the
//! previous run's, and no row group spans two runs, so row-group statistics on `term` narrow
//! a lookup to about one row group per run. Runs bound the writer's memory (a block of 2 M
//! spans has ~24 M attribute values). `gap` is the slot minus the previous entry's when that
//! entry is in the same row group and has the same term, else the slot itself: small numbers
//! that zstd packs, where absolute slots would cost ~18 bits (measured; the delta encoding
//! of sorted runs breaks at every term boundary).
//!
//! A term's bytes: the scope (`s` span, `r` resource), the key's length as a big-endian
//! u32, the key, then the value: `s` and the UTF-8 string, `i` and the i64 big-endian, or
//! `b` and one byte 0/1. Doubles with an integral value are indexed as that int, other
//! doubles not at all, bytes, arrays, maps and empty values as their display strings
//! (TraceQL compares them so); a string longer than [`MAX_TERM_STRING_BYTES`] only as `l`
//! (no value: enough for a text test to take the span), and the resource's `service.name`
//! (a column of its own) not at all. `clew.index.version` 2 has the `l` terms. Only the first attribute
//! with a given key in each scope of a span is indexed, TraceQL's rule for `span.key`, so a
//! lookup answers a scoped equality exactly.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use arrow_array::{
    Array, BinaryArray, Int64Array, ListArray, RecordBatch, StringArray, UInt32Array,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use futures::StreamExt as _;
use object_store::ObjectStore;
use object_store::path::Path;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::PageIndexPolicy;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use super::BlockError;
use super::cache::BlockCache;
use super::read::{KvCols, column, list_range, no_column};
use super::schema::{self as s, HOT, HotType};
use super::source::ObjectSource;
use crate::filter::{
    AttributeTerm, MAX_TERM_STRING_BYTES, TermScope, TermValue, TextTest, integral,
};

const TERM: &str = "term";
const GAP: &str = "gap";
const ROWS_PER_SLOT_KEY: &str = "clew.index.rows_per_slot";
/// Index format: 2 marks strings too long to keep (`l` terms), which text tests need.
const VERSION_KEY: &str = "clew.index.version";
const VERSION: u32 = 2;
/// Rows per slot: coarser slots make smaller gaps (fewer bits per entry) and more rows for
/// the scan to read per hit. Measured on the clickhouse profile: 23.9 B/span of index for
/// exact rows, 18.4 for 16, 14.7 for 64 (1 M spans); but 16-row slots made the selective
/// search 3× slower over 10 M spans (447 vs 149 ms p50), each slot costing a page decode per
/// attribute column. Exact rows it is.
const ROWS_PER_SLOT: u32 = 1;
const SCOPE_SPAN: u8 = b's';
const SCOPE_RESOURCE: u8 = b'r';

/// Entries and distinct term bytes at which the writer sorts and writes a run (tiny in
/// tests, so that every boundary is crossed).
const RUN_ENTRIES: usize = if cfg!(test) { 29 } else { 4 << 20 };
const RUN_TERM_BYTES: usize = 64 << 20;
/// Entries per row group: what a lookup of one term decodes per run.
const ROW_GROUP_ENTRIES: usize = if cfg!(test) { 7 } else { 16 * 1024 };

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new(TERM, DataType::Binary, false),
        Field::new(GAP, DataType::UInt32, false),
    ]))
});

/// A value as the index encodes it.
#[derive(Clone, Copy)]
enum ValueRef<'a> {
    Str(&'a str),
    Int(i64),
    Bool(bool),
    /// A string longer than [`MAX_TERM_STRING_BYTES`]: only that the key has one.
    Long,
}

/// What the index is asked for one term.
#[derive(Clone)]
pub(crate) enum Probe {
    /// Entries of exactly this term.
    Exact(Vec<u8>),
    /// Entries whose term starts with `prefix` (a scope and key's strings) and whose rest,
    /// the text, passes the test.
    Text { prefix: Vec<u8>, test: TextTest },
}

impl PartialEq for Probe {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Probe::Exact(a), Probe::Exact(b)) => a == b,
            (Probe::Text { prefix: a, test: x }, Probe::Text { prefix: b, test: y }) => {
                a == b && x == y
            }
            _ => false,
        }
    }
}

fn encode_term(out: &mut Vec<u8>, scope: u8, key: &str, value: ValueRef<'_>) {
    out.clear();
    out.push(scope);
    // Keys longer than 4 GiB cannot reach a block (requests are far smaller).
    out.extend_from_slice(&u32::try_from(key.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(key.as_bytes());
    match value {
        ValueRef::Str(v) => {
            out.push(b's');
            out.extend_from_slice(v.as_bytes());
        }
        ValueRef::Int(i) => {
            out.push(b'i');
            out.extend_from_slice(&i.to_be_bytes());
        }
        ValueRef::Bool(b) => {
            out.push(b'b');
            out.push(u8::from(b));
        }
        ValueRef::Long => out.push(b'l'),
    }
}

/// The probes an [`AttributeTerm`] stands for, any of which meets it (one per scope; a text
/// test also takes every long string of the key, which the index does not keep), or `None`
/// when the index cannot answer it ([`AttributeTerm::is_indexable`]).
pub(crate) fn term_probes(term: &AttributeTerm) -> Option<Vec<Probe>> {
    if !term.is_indexable() {
        return None;
    }
    let scopes: &[u8] = match term.scope {
        TermScope::Span => &[SCOPE_SPAN],
        TermScope::Resource => &[SCOPE_RESOURCE],
        TermScope::SpanOrResource => &[SCOPE_SPAN, SCOPE_RESOURCE],
    };
    let mut out = Vec::new();
    for &scope in scopes {
        let mut bytes = Vec::new();
        let value = match &term.value {
            TermValue::Str(v) => ValueRef::Str(v),
            TermValue::Int(i) => ValueRef::Int(*i),
            TermValue::Bool(b) => ValueRef::Bool(*b),
            TermValue::Matches(test) => {
                encode_term(&mut bytes, scope, &term.key, ValueRef::Str(""));
                out.push(Probe::Text {
                    prefix: bytes.clone(),
                    test: test.clone(),
                });
                ValueRef::Long
            }
        };
        encode_term(&mut bytes, scope, &term.key, value);
        out.push(Probe::Exact(bytes));
    }
    Some(out)
}

fn writer_properties(zstd_level: i32) -> Result<WriterProperties, ParquetError> {
    let level = ZstdLevel::try_new(zstd_level)?;
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_row_count(Some(ROW_GROUP_ENTRIES))
        .set_statistics_enabled(EnabledStatistics::Chunk)
        // Sorted terms repeat: prefix coding stores each once per run of equal terms,
        // cheaper than a dictionary page per row group.
        .set_column_dictionary_enabled(ColumnPath::from(TERM), false)
        .set_column_encoding(ColumnPath::from(TERM), Encoding::DELTA_BYTE_ARRAY)
        .set_column_dictionary_enabled(ColumnPath::from(GAP), false)
        .set_column_encoding(ColumnPath::from(GAP), Encoding::BYTE_STREAM_SPLIT)
        .set_key_value_metadata(Some(vec![
            parquet::file::metadata::KeyValue::new(
                ROWS_PER_SLOT_KEY.to_owned(),
                ROWS_PER_SLOT.to_string(),
            ),
            parquet::file::metadata::KeyValue::new(VERSION_KEY.to_owned(), VERSION.to_string()),
        ]))
        .build())
}

/// Builds a block's index from its batches, given in row order.
pub(crate) struct IndexBuilder {
    /// Distinct terms of the current run, with their ids.
    terms: HashMap<Box<[u8]>, u32>,
    term_bytes: usize,
    /// (term id, slot) of the current run, in row order.
    entries: Vec<(u32, u32)>,
    next_row: u32,
    writer: ArrowWriter<Vec<u8>>,
    scratch: Vec<u8>,
    row_terms: Vec<u32>,
}

impl IndexBuilder {
    pub(crate) fn new(zstd_level: i32) -> Result<Self, ParquetError> {
        let writer =
            ArrowWriter::try_new(Vec::new(), schema(), Some(writer_properties(zstd_level)?))?;
        Ok(Self {
            terms: HashMap::new(),
            term_bytes: 0,
            entries: Vec::new(),
            next_row: 0,
            writer,
            scratch: Vec::new(),
            row_terms: Vec::new(),
        })
    }

    /// Indexes the rows of `batch` (of the block schema), which follow those added before.
    pub(crate) fn add(&mut self, batch: &RecordBatch) -> Result<(), String> {
        let attributes = KvCols::new(column::<ListArray>(batch, s::ATTRIBUTES)?)?;
        let resource = KvCols::new(column::<ListArray>(batch, s::RESOURCE_ATTRIBUTES)?)?;
        let mut hot_str: Vec<Option<&StringArray>> = Vec::with_capacity(HOT.len());
        let mut hot_int: Vec<Option<&Int64Array>> = Vec::with_capacity(HOT.len());
        for (_, column, ty) in HOT {
            let array = batch
                .column_by_name(column)
                .ok_or_else(|| format!("column {column} is missing"))?;
            match ty {
                HotType::Str => {
                    hot_str.push(array.as_any().downcast_ref::<StringArray>());
                    hot_int.push(None);
                }
                HotType::Int => {
                    hot_str.push(None);
                    hot_int.push(array.as_any().downcast_ref::<Int64Array>());
                }
            }
        }
        for row in 0..batch.num_rows() {
            self.row_terms.clear();
            let mut seen: Vec<&str> = Vec::new();
            for i in list_range(attributes.list, row, attributes.ty.len())? {
                let key = attributes.key.value(i);
                if seen.contains(&key) {
                    continue;
                }
                seen.push(key);
                if attributes.ty.value(i) == s::TYPE_COLUMN {
                    let slot = HOT.iter().position(|(k, _, _)| *k == key);
                    let value = match slot {
                        Some(slot) => {
                            if let Some(Some(a)) = hot_str.get(slot) {
                                a.is_valid(row).then(|| ValueRef::Str(a.value(row)))
                            } else if let Some(Some(a)) = hot_int.get(slot) {
                                a.is_valid(row).then(|| ValueRef::Int(a.value(row)))
                            } else {
                                None
                            }
                        }
                        None => None,
                    };
                    if let Some(value) = value {
                        self.push_term(SCOPE_SPAN, key, value);
                    }
                } else {
                    self.push_entry(SCOPE_SPAN, &attributes, i)?;
                }
            }
            seen.clear();
            for i in list_range(resource.list, row, resource.ty.len())? {
                let key = resource.key.value(i);
                // The resource's `service.name` lives in its own column and is not indexed.
                if key == s::SERVICE_NAME_KEY || seen.contains(&key) {
                    continue;
                }
                seen.push(key);
                self.push_entry(SCOPE_RESOURCE, &resource, i)?;
            }
            self.row_terms.sort_unstable();
            self.row_terms.dedup();
            let slot = self.next_row / ROWS_PER_SLOT;
            self.entries
                .extend(self.row_terms.iter().map(|&t| (t, slot)));
            self.next_row = self
                .next_row
                .checked_add(1)
                .ok_or("more than 2^32 rows in one block")?;
        }
        if self.entries.len() >= RUN_ENTRIES || self.term_bytes >= RUN_TERM_BYTES {
            self.cut().map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Indexes list entry `i` (not a [`s::TYPE_COLUMN`] one) if the index keeps its value.
    fn push_entry(&mut self, scope: u8, kv: &KvCols<'_>, i: usize) -> Result<(), String> {
        let key = kv.key.value(i);
        match kv.ty.value(i) {
            s::TYPE_STR if kv.str.is_valid(i) => {
                self.push_term(scope, key, ValueRef::Str(kv.str.value(i)));
            }
            s::TYPE_INT if kv.int.is_valid(i) => {
                self.push_term(scope, key, ValueRef::Int(kv.int.value(i)));
            }
            s::TYPE_BOOL if kv.boolean.is_valid(i) => {
                self.push_term(scope, key, ValueRef::Bool(kv.boolean.value(i)));
            }
            s::TYPE_DOUBLE if kv.double.is_valid(i) => {
                if let Some(n) = integral(kv.double.value(i)) {
                    self.push_term(scope, key, ValueRef::Int(n));
                }
            }
            // Bytes, arrays, maps and empty values compare as their text: rare, so decoded.
            s::TYPE_BYTES | s::TYPE_OTLP | s::TYPE_EMPTY => {
                let text = kv.value(i, &no_column)?.to_display_string();
                self.push_term(scope, key, ValueRef::Str(&text));
            }
            _ => {}
        }
        Ok(())
    }

    fn push_term(&mut self, scope: u8, key: &str, value: ValueRef<'_>) {
        let value = match value {
            ValueRef::Str(v) if v.len() > MAX_TERM_STRING_BYTES => ValueRef::Long,
            other => other,
        };
        encode_term(&mut self.scratch, scope, key, value);
        let id = match self.terms.get(self.scratch.as_slice()) {
            Some(&id) => id,
            None => {
                // Fewer than 2^32 distinct terms: a run is cut long before.
                let id = u32::try_from(self.terms.len()).unwrap_or(u32::MAX);
                self.term_bytes += self.scratch.len();
                self.terms
                    .insert(self.scratch.clone().into_boxed_slice(), id);
                id
            }
        };
        self.row_terms.push(id);
    }

    /// Sorts the current run and writes it as row groups of its own.
    fn cut(&mut self) -> Result<(), ParquetError> {
        if self.entries.is_empty() {
            return Ok(());
        }
        let mut by_id: Vec<&[u8]> = vec![&[]; self.terms.len()];
        for (term, &id) in &self.terms {
            if let Some(slot) = by_id.get_mut(id as usize) {
                *slot = term;
            }
        }
        let mut order: Vec<u32> = (0..by_id.len() as u32).collect();
        order.sort_unstable_by(|a, b| by_id[*a as usize].cmp(by_id[*b as usize]));
        let mut rank = vec![0u32; order.len()];
        for (r, &id) in order.iter().enumerate() {
            rank[id as usize] = r as u32;
        }
        // Stable: entries are in row order, so slots stay ascending within a term.
        self.entries.sort_by_key(|&(id, _)| rank[id as usize]);
        self.entries.dedup();
        for chunk in self.entries.chunks(ROW_GROUP_ENTRIES) {
            let terms: BinaryArray = chunk
                .iter()
                .map(|&(id, _)| Some(by_id[id as usize]))
                .collect();
            let mut previous: Option<(u32, u32)> = None;
            let gaps: UInt32Array = chunk
                .iter()
                .map(|&(id, slot)| {
                    let gap = match previous {
                        Some((p_id, p_slot)) if p_id == id => slot - p_slot,
                        _ => slot,
                    };
                    previous = Some((id, slot));
                    Some(gap)
                })
                .collect();
            let batch = RecordBatch::try_new(schema(), vec![Arc::new(terms), Arc::new(gaps)])?;
            self.writer.write(&batch)?;
            // One row group per chunk: gaps restart with each.
            self.writer.flush()?;
        }
        self.entries.clear();
        self.terms.clear();
        self.term_bytes = 0;
        Ok(())
    }

    /// The encoded `index.parquet`.
    pub(crate) fn finish(mut self) -> Result<Vec<u8>, ParquetError> {
        self.cut()?;
        self.writer.into_inner()
    }
}

fn schema() -> SchemaRef {
    Arc::clone(&SCHEMA)
}

/// Reads a block's `index.parquet`.
pub(crate) struct IndexSource {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) path: Path,
    pub(crate) key: Arc<str>,
    pub(crate) size: u64,
    pub(crate) cache: Arc<BlockCache>,
}

/// What a lookup found.
pub(crate) struct Lookup {
    /// For each term asked, its slots, ascending.
    pub(crate) slots: Vec<Vec<u32>>,
    /// Rows per slot of this index.
    pub(crate) rows_per_slot: u32,
    /// Compressed bytes of the index row groups read.
    pub(crate) bytes: u64,
}

impl IndexSource {
    async fn metadata(&self) -> Result<ArrowReaderMetadata, BlockError> {
        let mut reader = ObjectSource::new(Arc::clone(&self.store), self.path.clone(), self.size);
        let path = self.path.clone();
        self.cache
            .metadata(&self.key, async move {
                let options =
                    ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Skip);
                ArrowReaderMetadata::load_async(&mut reader, options)
                    .await
                    .map_err(|e| BlockError::parquet(&path, e))
            })
            .await
    }

    /// The slots of each of `probes` (from [`term_probes`]); `None` when this index cannot
    /// answer one of them (a text test on an index written before long strings were marked).
    pub(crate) async fn lookup(&self, probes: &[Probe]) -> Result<Option<Lookup>, BlockError> {
        let metadata = self.metadata().await?;
        let corrupt = |e: String| BlockError::corrupt(&self.path, e);
        let kv = |key: &str| {
            metadata
                .metadata()
                .file_metadata()
                .key_value_metadata()
                .and_then(|kv| kv.iter().find(|kv| kv.key == key))
                .and_then(|kv| kv.value.as_deref())
        };
        let rows_per_slot = kv(ROWS_PER_SLOT_KEY)
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|&g| g > 0)
            .ok_or_else(|| corrupt(format!("index lacks a valid {ROWS_PER_SLOT_KEY}")))?;
        let version = kv(VERSION_KEY)
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(1);
        if version < 2 && probes.iter().any(|p| matches!(p, Probe::Text { .. })) {
            return Ok(None);
        }
        let converter =
            StatisticsConverter::try_new(TERM, metadata.schema(), metadata.parquet_schema())
                .map_err(|e| BlockError::parquet(&self.path, e))?;
        let groups = metadata.metadata().row_groups();
        let mins = converter
            .row_group_mins(groups)
            .map_err(|e| BlockError::parquet(&self.path, e))?;
        let maxes = converter
            .row_group_maxes(groups)
            .map_err(|e| BlockError::parquet(&self.path, e))?;
        let mins = mins.as_any().downcast_ref::<BinaryArray>();
        let maxes = maxes.as_any().downcast_ref::<BinaryArray>();
        let (Some(mins), Some(maxes)) = (mins, maxes) else {
            return Err(corrupt("index term statistics are not binary".to_owned()));
        };
        // Whether group `g` may hold terms in [lo, hi] (missing statistics admit it).
        let overlaps = |g: usize, lo: &[u8], hi: Option<&[u8]>| {
            (mins.is_null(g) || hi.is_none_or(|hi| mins.value(g) <= hi))
                && (maxes.is_null(g) || lo <= maxes.value(g))
        };
        // Each probe's term range: one term, or every term with the prefix, which sort below
        // the prefix with its last byte raised.
        let ranges: Vec<(&[u8], Vec<u8>)> = probes
            .iter()
            .map(|p| match p {
                Probe::Exact(t) => (t.as_slice(), t.clone()),
                Probe::Text { prefix, .. } => {
                    let mut past = prefix.clone();
                    if let Some(last) = past.last_mut() {
                        *last = last.saturating_add(1);
                    }
                    (prefix.as_slice(), past)
                }
            })
            .collect();
        let read: Vec<usize> = (0..groups.len())
            .filter(|&g| ranges.iter().any(|(lo, hi)| overlaps(g, lo, Some(hi))))
            .collect();
        let mut out = Lookup {
            slots: vec![Vec::new(); probes.len()],
            rows_per_slot,
            bytes: 0,
        };
        if read.is_empty() {
            return Ok(Some(out));
        }
        out.bytes = read
            .iter()
            .map(|&g| u64::try_from(groups[g].compressed_size()).unwrap_or(0))
            .sum();
        // Entry counts of the groups read, in order: gaps restart with each group.
        let mut group_ends: Vec<u64> = Vec::with_capacity(read.len());
        let mut total = 0u64;
        for &g in &read {
            total += u64::try_from(groups[g].num_rows()).unwrap_or(0);
            group_ends.push(total);
        }
        let reader = ObjectSource::new(Arc::clone(&self.store), self.path.clone(), self.size)
            .with_cache(Arc::clone(&self.cache), Arc::clone(&self.key));
        let mut stream = ParquetRecordBatchStreamBuilder::new_with_metadata(reader, metadata)
            .with_row_groups(read)
            .with_batch_size(ROW_GROUP_ENTRIES)
            .build()
            .map_err(|e| BlockError::parquet(&self.path, e))?;
        let mut entry = 0u64;
        let mut next_end = group_ends.iter().copied();
        let mut group_end = next_end.next().unwrap_or(u64::MAX);
        // The previous entry's term and slot within the current group, and which probes
        // that term met (terms repeat: a text test runs once per distinct term).
        let mut previous_term: Vec<u8> = Vec::new();
        let mut previous_slot: Option<u32> = None;
        let mut met: Vec<usize> = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| BlockError::parquet(&self.path, e))?;
            let term = batch
                .column_by_name(TERM)
                .and_then(|a| a.as_any().downcast_ref::<BinaryArray>());
            let gap = batch
                .column_by_name(GAP)
                .and_then(|a| a.as_any().downcast_ref::<UInt32Array>());
            let (Some(term), Some(gap)) = (term, gap) else {
                return Err(corrupt("index columns are missing".to_owned()));
            };
            for i in 0..batch.num_rows() {
                if entry == group_end {
                    group_end = next_end.next().unwrap_or(u64::MAX);
                    previous_slot = None;
                }
                entry += 1;
                let t = term.value(i);
                let slot = match previous_slot {
                    Some(slot) if previous_term.as_slice() == t => {
                        slot.checked_add(gap.value(i))
                            .ok_or_else(|| corrupt("index slot overflows".to_owned()))?
                    }
                    _ => {
                        met.clear();
                        met.extend(
                            probes
                                .iter()
                                .enumerate()
                                .filter(|(_, p)| probe_meets(p, t))
                                .map(|(k, _)| k),
                        );
                        previous_term.clear();
                        previous_term.extend_from_slice(t);
                        gap.value(i)
                    }
                };
                previous_slot = Some(slot);
                for &k in &met {
                    out.slots[k].push(slot);
                }
            }
        }
        for slots in &mut out.slots {
            // Runs follow each other in row order, but stay safe on any file.
            if !slots.is_sorted() {
                slots.sort_unstable();
            }
            slots.dedup();
        }
        Ok(Some(out))
    }
}

/// Whether index term `t` meets probe `p`.
fn probe_meets(p: &Probe, t: &[u8]) -> bool {
    match p {
        Probe::Exact(x) => x.as_slice() == t,
        Probe::Text { prefix, test } => t
            .strip_prefix(prefix.as_slice())
            .and_then(|rest| std::str::from_utf8(rest).ok())
            .is_some_and(|text| (test.test)(text)),
    }
}
