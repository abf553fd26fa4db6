//! The head: a tenant's recent spans in memory, indexed by trace id, service, operation and
//! trace start, split into generations so that it can be cut and flushed (see [`crate::wal`]).
//!
//! One [`Head`] is one generation. [`Heads`] holds the active generation, which receives
//! every commit, and the frozen ones, which are immutable and wait for the block writer.
//! Reads look at all of them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use clew_model::{
    Resource, Scope, SpanId, SpanKind, SpanRecord, TenantId, TraceId, UnixNanos, otlp,
};

use crate::scan::{Hits, SpanScan, TraceHit};

/// What makes two spans the same span: SDKs retry whole batches, so one span can arrive twice.
type SpanKey = (SpanId, UnixNanos);

fn key_of(rec: &SpanRecord) -> SpanKey {
    (rec.span.span_id, rec.span.start)
}

/// A span as the head keeps it: OTLP protobuf bytes beside the shared resource and scope.
/// A decoded span with a dozen attributes costs about 2 KiB of heap in small allocations;
/// encoded, about a fifth of that in one. Reads decode the few spans they return.
struct HeadSpan {
    resource: Arc<Resource>,
    scope: Arc<Scope>,
    encoded: Box<[u8]>,
}

impl HeadSpan {
    fn new(rec: &SpanRecord) -> Self {
        Self {
            resource: Arc::clone(&rec.resource),
            scope: Arc::clone(&rec.scope),
            encoded: otlp::encode_span(&rec.span).into_boxed_slice(),
        }
    }

    /// The span back; `None` only if memory was corrupted, since the head encoded it itself
    /// from a span the same conversion accepts (the WAL relies on the same round trip).
    fn record(&self) -> Option<SpanRecord> {
        match otlp::decode_span(&self.encoded) {
            Ok(span) => Some(SpanRecord {
                resource: Arc::clone(&self.resource),
                scope: Arc::clone(&self.scope),
                span,
            }),
            Err(error) => {
                tracing::error!(%error, "a span in the head does not decode; skipping it");
                None
            }
        }
    }
}

impl std::fmt::Debug for HeadSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadSpan")
            .field("encoded_bytes", &self.encoded.len())
            .finish()
    }
}

#[derive(Debug)]
struct TraceEntry {
    /// The earliest span start: the trace's position in time ordering.
    start: UnixNanos,
    spans: Vec<HeadSpan>,
    keys: HashSet<SpanKey>,
}

impl TraceEntry {
    fn records(&self) -> impl Iterator<Item = SpanRecord> + '_ {
        self.spans.iter().filter_map(HeadSpan::record)
    }
}

#[derive(Debug, Default)]
struct ServiceIndex {
    traces: HashSet<TraceId>,
    by_operation: HashMap<String, HashSet<TraceId>>,
    /// Operation name → the kinds it was seen with.
    operations: BTreeMap<String, BTreeSet<SpanKind>>,
}

/// One generation of the head.
#[derive(Debug)]
pub(crate) struct Head {
    generation: u64,
    /// WAL segments whose records went into this generation (and only this one).
    segments: BTreeSet<u64>,
    traces: HashMap<TraceId, TraceEntry>,
    by_service: HashMap<String, ServiceIndex>,
    /// (trace start, trace id) of every trace, for newest-first scans.
    by_start: BTreeSet<(UnixNanos, TraceId)>,
    spans: usize,
}

impl Head {
    pub(crate) fn new(generation: u64) -> Self {
        Self {
            generation,
            segments: BTreeSet::new(),
            traces: HashMap::new(),
            by_service: HashMap::new(),
            by_start: BTreeSet::new(),
            spans: 0,
        }
    }

    pub(crate) fn segment_seqs(&self) -> impl Iterator<Item = u64> + '_ {
        self.segments.iter().copied()
    }

    fn contains(&self, trace_id: &TraceId, key: &SpanKey) -> bool {
        self.traces
            .get(trace_id)
            .is_some_and(|t| t.keys.contains(key))
    }

    /// Adds a span; false when the same (trace id, span id, start) is already here.
    fn insert(&mut self, rec: SpanRecord) -> bool {
        let trace_id = rec.span.trace_id;
        let start = rec.span.start;
        let entry = self.traces.entry(trace_id).or_insert_with(|| {
            self.by_start.insert((start, trace_id));
            TraceEntry {
                start,
                spans: Vec::new(),
                keys: HashSet::new(),
            }
        });
        if !entry.keys.insert(key_of(&rec)) {
            return false;
        }
        if start < entry.start {
            // An earlier span moves the whole trace back in time.
            self.by_start.remove(&(entry.start, trace_id));
            self.by_start.insert((start, trace_id));
            entry.start = start;
        }
        // Look up before inserting so that the common case (known service and operation)
        // allocates nothing per span.
        let service_name = rec.service_name();
        if !self.by_service.contains_key(service_name) {
            self.by_service
                .insert(service_name.to_owned(), ServiceIndex::default());
        }
        if let Some(service) = self.by_service.get_mut(service_name) {
            service.traces.insert(trace_id);
            let name = &rec.span.name;
            match service.by_operation.get_mut(name) {
                Some(traces) => {
                    traces.insert(trace_id);
                }
                None => {
                    service
                        .by_operation
                        .insert(name.clone(), HashSet::from([trace_id]));
                }
            }
            match service.operations.get_mut(name) {
                Some(kinds) => {
                    kinds.insert(rec.span.kind);
                }
                None => {
                    service
                        .operations
                        .insert(name.clone(), BTreeSet::from([rec.span.kind]));
                }
            }
        }
        entry.spans.push(HeadSpan::new(&rec));
        self.spans += 1;
        true
    }
}

/// A tenant's head as shared by its writer thread (the only writer) and readers.
pub(crate) type SharedHeads = Arc<RwLock<Heads>>;

// Locks are never held across code that can panic on input, so a poisoned lock still
// guards consistent indexes; recovering keeps one bug from taking every read down.
pub(crate) fn read_heads(heads: &SharedHeads) -> RwLockReadGuard<'_, Heads> {
    heads.read().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn write_heads(heads: &SharedHeads) -> RwLockWriteGuard<'_, Heads> {
    heads.write().unwrap_or_else(PoisonError::into_inner)
}

/// A tenant's head: the active generation and the frozen ones, oldest first.
#[derive(Debug)]
pub(crate) struct Heads {
    active: Head,
    frozen: Vec<Arc<Head>>,
}

impl Heads {
    pub(crate) fn new(active: Head) -> Self {
        Self {
            active,
            frozen: Vec::new(),
        }
    }

    /// Records that WAL segment `seq` belongs to the active generation. Called when a
    /// segment is opened (or replayed), so every segment file belongs to a generation even if
    /// none of its records made it into the head.
    pub(crate) fn add_segment(&mut self, seq: u64) {
        self.active.segments.insert(seq);
    }

    /// Adds a span; false for a duplicate of a span in any generation.
    pub(crate) fn insert(&mut self, rec: SpanRecord) -> bool {
        let key = key_of(&rec);
        if self
            .frozen
            .iter()
            .any(|h| h.contains(&rec.span.trace_id, &key))
        {
            return false;
        }
        self.active.insert(rec)
    }

    /// Every trace id held, sorted.
    #[cfg(test)]
    pub(crate) fn trace_ids(&self) -> Vec<TraceId> {
        let ids: BTreeSet<TraceId> = self.all().flat_map(|h| h.traces.keys().copied()).collect();
        ids.into_iter().collect()
    }

    fn all(&self) -> impl Iterator<Item = &Head> {
        self.frozen
            .iter()
            .map(|h| h.as_ref())
            .chain(std::iter::once(&self.active))
    }

    pub(crate) fn span_count(&self) -> usize {
        self.all().map(|h| h.spans).sum()
    }

    /// Spans in the active generation: what the next flush would cut.
    pub(crate) fn active_span_count(&self) -> usize {
        self.active.spans
    }

    pub(crate) fn trace(&self, id: &TraceId) -> Vec<SpanRecord> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for head in self.all() {
            if let Some(t) = head.traces.get(id) {
                out.extend(t.records().filter(|s| seen.insert(key_of(s))));
            }
        }
        out
    }

    pub(crate) fn services(&self) -> Vec<String> {
        let set: BTreeSet<&String> = self.all().flat_map(|h| h.by_service.keys()).collect();
        set.into_iter().cloned().collect()
    }

    pub(crate) fn operations(&self, service: &str) -> Vec<(String, SpanKind)> {
        let set: BTreeSet<(&String, SpanKind)> = self
            .all()
            .filter_map(|h| h.by_service.get(service))
            .flat_map(|s| operation_pairs(&s.operations))
            .collect();
        set.into_iter().map(|(n, k)| (n.clone(), k)).collect()
    }

    /// Freezes the active generation and starts the next one.
    pub(crate) fn freeze(&mut self) -> Arc<Head> {
        let next = Head::new(self.active.generation + 1);
        let frozen = Arc::new(std::mem::replace(&mut self.active, next));
        self.frozen.push(Arc::clone(&frozen));
        frozen
    }

    /// Drops frozen generations up to and including `generation`; returns them.
    pub(crate) fn release(&mut self, generation: u64) -> Vec<Arc<Head>> {
        let (released, kept) = std::mem::take(&mut self.frozen)
            .into_iter()
            .partition(|h| h.generation <= generation);
        self.frozen = kept;
        released
    }

    pub(crate) fn is_frozen(&self, generation: u64) -> bool {
        self.frozen.iter().any(|h| h.generation == generation)
    }
}

/// Traces per read-lock hold while scanning the active generation: the writer waits at most
/// for one chunk, not for the whole scan.
const SCAN_CHUNK_TRACES: usize = 256;

/// Judges every span of the traces the hints admit (see [`crate::scan`]); returns the hits
/// and the number of spans judged. Hints that all name a service narrow the scan to those
/// services' traces (and operations', when named) through the head's indexes. Frozen
/// generations are scanned without the lock; the active one in chunks under it.
pub(crate) fn scan_heads(heads: &SharedHeads, scan: &SpanScan) -> (Vec<TraceHit>, u64) {
    let mut hits = Hits::default();
    let mut spans = 0u64;
    let indexed = !scan.hints.is_empty() && scan.hints.iter().all(|h| h.service.is_some());
    let candidates = |head: &Head| -> Vec<TraceId> {
        if !indexed {
            return head.traces.keys().copied().collect();
        }
        let mut ids: HashSet<TraceId> = HashSet::new();
        for hint in &scan.hints {
            let Some(index) = hint.service.as_ref().and_then(|s| head.by_service.get(s)) else {
                continue;
            };
            match hint.operation.as_ref() {
                Some(op) => ids.extend(index.by_operation.get(op).into_iter().flatten()),
                None => ids.extend(&index.traces),
            }
        }
        ids.into_iter().collect()
    };
    let mut judge = |head: &Head, ids: &[TraceId]| {
        for id in ids {
            if let Some(entry) = head.traces.get(id) {
                for rec in entry.records() {
                    spans += 1;
                    hits.add(*id, (scan.matcher)(&rec), entry.start);
                }
            }
        }
    };
    let (frozen, active_ids) = {
        let h = read_heads(heads);
        (h.frozen.clone(), candidates(&h.active))
    };
    for head in &frozen {
        judge(head, &candidates(head));
    }
    // A cut between chunks moves the active generation's traces into a new frozen one.
    let scanned: HashSet<u64> = frozen.iter().map(|h| h.generation).collect();
    for chunk in active_ids.chunks(SCAN_CHUNK_TRACES) {
        let h = read_heads(heads);
        for head in h.all().filter(|g| !scanned.contains(&g.generation)) {
            judge(head, chunk);
        }
    }
    (hits.into_vec(), spans)
}

/// A head generation that receives no more spans: what a block writer persists.
///
/// Obtained from [`crate::Store::cut`]. Once its spans are durable elsewhere, pass
/// [`FrozenHead::generation`] to [`crate::Store::release`] to drop it from memory and
/// delete the WAL segments it covers ([`FrozenHead::segments`]).
#[derive(Clone)]
pub struct FrozenHead {
    pub(crate) tenant: TenantId,
    pub(crate) head: Arc<Head>,
}

impl std::fmt::Debug for FrozenHead {
    // The spans themselves would drown everything else.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrozenHead")
            .field("tenant", &self.tenant)
            .field("generation", &self.head.generation)
            .field("segments", &self.head.segments)
            .field("spans", &self.head.spans)
            .finish()
    }
}

impl FrozenHead {
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// Generations count up from 0 per tenant and process; they are not persisted.
    pub fn generation(&self) -> u64 {
        self.head.generation
    }

    /// Sequences of the WAL segments whose records are all in this generation or in
    /// earlier ones; nothing later was written to them.
    pub fn segments(&self) -> Vec<u64> {
        self.head.segments.iter().copied().collect()
    }

    pub fn span_count(&self) -> usize {
        self.head.spans
    }

    pub fn trace_count(&self) -> usize {
        self.head.traces.len()
    }

    /// Every span of the generation, grouped by trace, traces in no particular order;
    /// decoded as the iterator goes, so that a caller can bound what it holds at once.
    pub fn spans(&self) -> impl Iterator<Item = SpanRecord> + '_ {
        self.head.traces.values().flat_map(TraceEntry::records)
    }

    /// The generation's spans in block order, (trace id, start, span id), decoded a chunk
    /// at a time: each chunk holds whole traces and at least `chunk_spans` spans unless it is
    /// the last. Within a generation no span appears twice (the head keeps one per key).
    pub fn sorted_chunks(&self, chunk_spans: usize) -> SortedChunks {
        let mut ids: Vec<TraceId> = self.head.traces.keys().copied().collect();
        ids.sort_unstable();
        SortedChunks {
            head: Arc::clone(&self.head),
            ids: ids.into_iter(),
            chunk_spans: chunk_spans.max(1),
        }
    }

    /// Service → its sorted (operation, kind) pairs, for block metadata.
    pub fn services(&self) -> BTreeMap<String, Vec<(String, SpanKind)>> {
        self.head
            .by_service
            .iter()
            .map(|(s, idx)| {
                let ops = operation_pairs(&idx.operations)
                    .map(|(n, k)| (n.clone(), k))
                    .collect();
                (s.clone(), ops)
            })
            .collect()
    }
}

/// See [`FrozenHead::sorted_chunks`].
pub struct SortedChunks {
    head: Arc<Head>,
    ids: std::vec::IntoIter<TraceId>,
    chunk_spans: usize,
}

impl Iterator for SortedChunks {
    type Item = Vec<SpanRecord>;

    fn next(&mut self) -> Option<Vec<SpanRecord>> {
        let mut out = Vec::with_capacity(self.chunk_spans);
        while out.len() < self.chunk_spans {
            let Some(id) = self.ids.next() else { break };
            if let Some(trace) = self.head.traces.get(&id) {
                let from = out.len();
                out.extend(trace.records());
                out[from..].sort_by_key(|r| (r.span.start, r.span.span_id));
            }
        }
        (!out.is_empty()).then_some(out)
    }
}

fn operation_pairs(
    ops: &BTreeMap<String, BTreeSet<SpanKind>>,
) -> impl Iterator<Item = (&String, SpanKind)> {
    ops.iter()
        .flat_map(|(name, kinds)| kinds.iter().map(move |k| (name, *k)))
}

#[cfg(test)]
mod tests {
    use clew_model::{AnyValue, KeyValue, Resource, Scope, Span};
    use proptest::prelude::*;

    use super::*;
    use crate::filter::SpanFilter;

    fn span(trace: u8, span: u8, service: &str, name: &str, start: u64) -> SpanRecord {
        SpanRecord {
            resource: Arc::new(Resource {
                attributes: vec![KeyValue::new(
                    "service.name",
                    AnyValue::String(service.into()),
                )],
                dropped_attributes_count: 0,
            }),
            scope: Arc::new(Scope::default()),
            span: Span {
                trace_id: TraceId([trace; 16]),
                span_id: SpanId([span; 8]),
                name: name.into(),
                start: UnixNanos(start),
                end: UnixNanos(start + 10),
                ..Default::default()
            },
        }
    }

    #[test]
    fn sorted_chunks_hold_whole_traces_in_block_order() {
        let mut heads = Heads::new(Head::new(0));
        // Inserted out of order: traces 3, 1, 2 with spans out of start order.
        for (t, sp, start) in [
            (3, 1, 50),
            (1, 2, 20),
            (1, 1, 10),
            (2, 9, 5),
            (1, 3, 10),
            (3, 2, 40),
        ] {
            assert!(heads.insert(span(t, sp, "svc", "op", start)));
        }
        let frozen = FrozenHead {
            tenant: TenantId::new("t").unwrap(),
            head: heads.freeze(),
        };
        let chunks: Vec<Vec<SpanRecord>> = frozen.sorted_chunks(2).collect();
        let keys = |c: &[SpanRecord]| -> Vec<(u8, u64, u8)> {
            c.iter()
                .map(|r| (r.span.trace_id.0[0], r.span.start.0, r.span.span_id.0[0]))
                .collect()
        };
        // Trace 1 (three spans) fills the first chunk past 2; traces 2 and 3 the second.
        assert_eq!(keys(&chunks[0]), [(1, 10, 1), (1, 10, 3), (1, 20, 2)]);
        assert_eq!(keys(&chunks[1]), [(2, 5, 9), (3, 40, 2), (3, 50, 1)]);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[1][0], span(2, 9, "svc", "op", 5), "decoded exactly");
    }

    fn find_ids(heads: &mut Heads, filter: &SpanFilter, limit: usize) -> Vec<TraceId> {
        let mut hits = scan_hits(heads, filter);
        hits.sort_unstable_by(|a, b| {
            (b.earliest_start, b.trace_id).cmp(&(a.earliest_start, a.trace_id))
        });
        hits.into_iter().take(limit).map(|h| h.trace_id).collect()
    }

    /// Scans `heads` (lent to a shared lock for the call) for spans that meet `filter`.
    fn scan_hits(heads: &mut Heads, filter: &SpanFilter) -> Vec<TraceHit> {
        let taken = std::mem::replace(heads, Heads::new(Head::new(u64::MAX)));
        let shared: SharedHeads = Arc::new(RwLock::new(taken));
        let f = filter.clone();
        let scan = SpanScan {
            parts: crate::scan::SpanParts::default(),
            hints: vec![filter.clone()],
            matcher: Arc::new(move |r| u64::from(f.matches(r))),
            exact: None,
        };
        let (hits, _) = scan_heads(&shared, &scan);
        *heads = Arc::into_inner(shared)
            .expect("the scan keeps no reference")
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        hits
    }

    fn ids(v: &[u8]) -> Vec<TraceId> {
        v.iter().map(|b| TraceId([*b; 16])).collect()
    }

    #[test]
    fn duplicates_are_kept_once_and_an_earlier_span_moves_the_trace() {
        let mut heads = Heads::new(Head::new(0));
        assert!(heads.insert(span(1, 1, "a", "x", 100)));
        assert!(!heads.insert(span(1, 1, "a", "x", 100)));
        // Same span id, other start: a different span as far as the head is concerned.
        assert!(heads.insert(span(1, 1, "a", "x", 101)));
        assert!(heads.insert(span(2, 1, "a", "x", 50)));
        assert_eq!(heads.span_count(), 3);
        assert_eq!(
            find_ids(&mut heads, &SpanFilter::default(), 10),
            ids(&[1, 2])
        );
        assert!(heads.insert(span(1, 2, "b", "y", 10)));
        assert_eq!(
            find_ids(&mut heads, &SpanFilter::default(), 10),
            ids(&[2, 1])
        );
        assert_eq!(heads.services(), ["a", "b"]);
        assert_eq!(
            heads.operations("a"),
            [("x".to_owned(), SpanKind::Unspecified)]
        );
    }

    #[test]
    fn generations_are_read_together_and_released() {
        let mut heads = Heads::new(Head::new(0));
        heads.add_segment(1);
        heads.insert(span(1, 1, "a", "x", 100));
        heads.insert(span(2, 1, "a", "x", 200));
        let frozen = heads.freeze();
        assert_eq!(frozen.generation, 0);
        heads.add_segment(2);
        assert!(heads.is_frozen(0));
        // A retry after the cut is still a duplicate.
        assert!(!heads.insert(span(1, 1, "a", "x", 100)));
        // Trace 1 gets an earlier span in the new generation; it now starts first overall.
        assert!(heads.insert(span(1, 2, "c", "z", 50)));
        assert!(heads.insert(span(3, 1, "a", "x", 300)));
        assert_eq!(heads.trace(&TraceId([1; 16])).len(), 2);
        assert_eq!(
            find_ids(&mut heads, &SpanFilter::default(), 10),
            ids(&[3, 2, 1])
        );
        assert_eq!(
            find_ids(&mut heads, &SpanFilter::default(), 2),
            ids(&[3, 2])
        );
        let only_a = SpanFilter {
            service: Some("a".into()),
            ..Default::default()
        };
        assert_eq!(find_ids(&mut heads, &only_a, 10), ids(&[3, 2, 1]));
        assert_eq!(heads.services(), ["a", "c"]);
        let released = heads.release(0);
        assert_eq!(released.len(), 1);
        assert_eq!(
            released[0].segments.iter().copied().collect::<Vec<_>>(),
            [1]
        );
        assert!(!heads.is_frozen(0));
        assert_eq!(
            find_ids(&mut heads, &SpanFilter::default(), 10),
            ids(&[3, 1])
        );
        assert_eq!(heads.span_count(), 2);
    }

    fn arb_span() -> impl Strategy<Value = SpanRecord> {
        (1u8..6, 1u8..4, 0usize..3, 0usize..3, 0u64..50).prop_map(|(t, s, svc, op, start)| {
            span(t, s, ["a", "b", "c"][svc], ["x", "y", "z"][op], start)
        })
    }

    fn arb_filter() -> impl Strategy<Value = SpanFilter> {
        (
            proptest::option::of(prop_oneof![Just("a"), Just("b"), Just("nope")]),
            proptest::option::of(prop_oneof![Just("x"), Just("y")]),
            proptest::option::of(0u64..50),
            proptest::option::of(0u64..50),
        )
            .prop_map(|(service, operation, lo, hi)| SpanFilter {
                service: service.map(str::to_owned),
                operation: operation.map(str::to_owned),
                start_min: lo.map(UnixNanos),
                start_max: hi.map(UnixNanos),
                ..Default::default()
            })
    }

    proptest! {
        /// The indexed scan finds what a look at every span finds, with and without a cut.
        #[test]
        fn indexed_scan_equals_brute_force(
            spans in proptest::collection::vec(arb_span(), 0..40),
            cut_at in 0usize..40,
            filter in arb_filter(),
        ) {
            let mut heads = Heads::new(Head::new(0));
            let mut all: Vec<SpanRecord> = Vec::new();
            for (i, s) in spans.into_iter().enumerate() {
                if i == cut_at {
                    heads.freeze();
                }
                if !all.iter().any(|a| a.span.trace_id == s.span.trace_id && key_of(a) == key_of(&s)) {
                    all.push(s.clone());
                }
                heads.insert(s);
            }
            let mut starts: BTreeMap<TraceId, UnixNanos> = BTreeMap::new();
            for s in &all {
                let e = starts.entry(s.span.trace_id).or_insert(s.span.start);
                *e = (*e).min(s.span.start);
            }
            let want: BTreeSet<TraceId> = starts
                .keys()
                .filter(|id| all.iter().any(|s| s.span.trace_id == **id && filter.matches(s)))
                .copied()
                .collect();
            let hits = scan_hits(&mut heads, &filter);
            let got: BTreeSet<TraceId> = hits.iter().map(|h| h.trace_id).collect();
            prop_assert_eq!(got.len(), hits.len(), "one hit per trace");
            prop_assert_eq!(got, want);
            for h in &hits {
                // A trace starts no later than the start a scan reports.
                prop_assert!(starts[&h.trace_id] <= h.earliest_start);
            }
            prop_assert_eq!(heads.span_count(), all.len());
        }
    }
}
