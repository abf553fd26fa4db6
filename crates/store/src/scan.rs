//! Scans for query engines: every span of a source (the head, or one block) that the scan's
//! hints admit, decoded with only the parts the caller reads, judged by the caller's
//! matcher, and reported per trace.
//!
//! The store stays ignorant of query languages: a matcher is an opaque function from a span
//! to a bit set (which of the caller's conditions the span meets), and hints are
//! [`SpanFilter`]s used only to skip blocks and row groups that no hinted span can be in.

use std::collections::HashMap;
use std::sync::Arc;

use clew_model::{SpanRecord, TraceId, UnixNanos};

use crate::filter::SpanFilter;

/// Which parts of a span a scan decodes. Always decoded: trace id, start, end, duration,
/// service name, name, kind and status. Parts left out read as empty (zero ids, no
/// attributes, events or links; a resource with only `service.name`; an empty scope).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpanParts {
    /// Span id and parent span id.
    pub ids: bool,
    /// Trace state and flags.
    pub trace_state: bool,
    /// Span attributes.
    pub attributes: bool,
    pub events: bool,
    pub links: bool,
    /// Resource attributes.
    pub resource: bool,
    /// Instrumentation scope: name, version, attributes.
    pub scope: bool,
}

impl SpanParts {
    pub const ALL: SpanParts = SpanParts {
        ids: true,
        trace_state: true,
        attributes: true,
        events: true,
        links: true,
        resource: true,
        scope: true,
    };

    /// Every part either reads.
    pub fn union(self, other: SpanParts) -> SpanParts {
        SpanParts {
            ids: self.ids || other.ids,
            trace_state: self.trace_state || other.trace_state,
            attributes: self.attributes || other.attributes,
            events: self.events || other.events,
            links: self.links || other.links,
            resource: self.resource || other.resource,
            scope: self.scope || other.scope,
        }
    }
}

/// Judges one span: bit `i` set means the span meets the caller's condition `i`.
pub type SpanMatcher = Arc<dyn Fn(&SpanRecord) -> u64 + Send + Sync>;

/// What to scan for.
#[derive(Clone)]
pub struct SpanScan {
    pub parts: SpanParts,
    /// A block or row group is read only when one of these admits it (by meta and column
    /// statistics: service, name, kind, start and duration); an empty list reads everything.
    /// Attribute conditions in hints are ignored.
    pub hints: Vec<SpanFilter>,
    pub matcher: SpanMatcher,
    /// When set, the conditions (matcher bits) that every span the hints admit meets, and no
    /// others: with no hints every span, with one hint every span it admits. A block that can
    /// apply the whole hint (its column conditions in the row filter, its attribute terms
    /// through its index) then skips the matcher and decodes only trace ids and starts.
    /// Ignored with more than one hint.
    pub exact: Option<u64>,
}

impl std::fmt::Debug for SpanScan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanScan")
            .field("parts", &self.parts)
            .field("hints", &self.hints)
            .finish_non_exhaustive()
    }
}

/// A trace some span of which met at least one condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceHit {
    pub trace_id: TraceId,
    /// Union of the matcher's bits over the trace's spans in the source.
    pub conditions: u64,
    /// Earliest start among the trace's spans that the scan read: the trace starts no later.
    pub earliest_start: UnixNanos,
}

/// What a scan read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Spans the scan covered: every span of the head, every row of the row groups read
    /// (the row filter then decodes only what the hints admit).
    pub spans: u64,
    /// Bytes of the block's data pages and index row groups read (0 for the head).
    pub bytes: u64,
    /// Whether a block was read (false for the head and for blocks the hints pruned).
    pub block_read: bool,
}

/// Where spans live: the head of a tenant, or one block. A snapshot: a source taken before
/// a flush or compaction can still be scanned (the store keeps what it points to alive);
/// the spans of a flush may then be seen twice, which scans tolerate (hits are unions).
#[derive(Clone, Debug)]
pub struct Source {
    pub kind: SourceKind,
    /// Earliest and latest span start, latest span end; `None` for an empty head.
    pub start_min: Option<UnixNanos>,
    pub start_max: Option<UnixNanos>,
    pub end_max: Option<UnixNanos>,
    pub span_count: u64,
    pub size_bytes: u64,
    pub(crate) inner: SourceInner,
}

impl Source {
    /// Whether the source can hold spans overlapping `[start, end]` (unset bounds are open;
    /// the head always can).
    pub fn overlaps(&self, start: Option<UnixNanos>, end: Option<UnixNanos>) -> bool {
        start.is_none_or(|s| self.end_max.is_none_or(|e| e >= s))
            && end.is_none_or(|e| self.start_min.is_none_or(|s| s <= e))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceKind {
    Head,
    Block { id: String },
}

#[derive(Clone, Debug)]
pub(crate) enum SourceInner {
    Head(crate::head::SharedHeads),
    Block(Arc<crate::block::BlockReader>),
}

/// Accumulates hits per trace, in first-seen order.
#[derive(Default)]
pub(crate) struct Hits {
    by_trace: HashMap<TraceId, usize>,
    hits: Vec<TraceHit>,
}

impl Hits {
    pub(crate) fn add(&mut self, trace_id: TraceId, conditions: u64, start: UnixNanos) {
        if conditions == 0 {
            return;
        }
        match self.by_trace.get(&trace_id) {
            Some(&i) => {
                let hit = &mut self.hits[i];
                hit.conditions |= conditions;
                hit.earliest_start = hit.earliest_start.min(start);
            }
            None => {
                self.by_trace.insert(trace_id, self.hits.len());
                self.hits.push(TraceHit {
                    trace_id,
                    conditions,
                    earliest_start: start,
                });
            }
        }
    }

    pub(crate) fn into_vec(self) -> Vec<TraceHit> {
        self.hits
    }
}
