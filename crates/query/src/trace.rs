//! An assembled trace: its spans in a stable order, plus the facts every view needs.

use std::collections::{BTreeMap, HashMap, HashSet};

use clew_model::zipkin::{SHARED_SPAN_ID, shared_span_id};
use clew_model::{
    AnyValue, DurationNanos, KeyValue, SpanId, SpanKind, SpanRecord, StatusCode, TraceBatch,
    TraceId, UnixNanos,
};

use crate::skew;

/// One trace as queries return it.
#[derive(Clone, Debug)]
pub struct Trace {
    pub trace_id: TraceId,
    /// Sorted by start time, then span id: the same data always reads the same way.
    pub spans: Vec<SpanRecord>,
    /// What the assembly noticed and changed, e.g. clock-skew shifts and missing parents.
    pub warnings: Vec<String>,
}

/// Zipkin-instrumented services may report the server half of an RPC under the client's
/// span id without marking it `shared` (which ingest already splits). Left as is, two spans
/// would share an id and the tree would be ambiguous; as Jaeger's span-id deduper does, the
/// server half gets the derived id ingest uses for shared spans and the client half as its
/// parent, so both stay distinct and the tree stays true.
fn split_shared_span_ids(spans: &mut [SpanRecord]) {
    let mut kinds: HashMap<SpanId, (bool, bool)> = HashMap::new();
    for s in spans.iter() {
        let entry = kinds.entry(s.span.span_id).or_default();
        if s.span.kind == SpanKind::Server {
            entry.0 = true;
        } else {
            entry.1 = true;
        }
    }
    let taken: HashSet<SpanId> = kinds.keys().copied().collect();
    for s in spans.iter_mut() {
        let id = s.span.span_id;
        if s.span.kind != SpanKind::Server || kinds.get(&id) != Some(&(true, true)) {
            continue;
        }
        let derived = shared_span_id(id);
        if taken.contains(&derived) {
            continue;
        }
        s.span.span_id = derived;
        s.span.parent_span_id = Some(id);
        s.span
            .attributes
            .push(KeyValue::new(SHARED_SPAN_ID, AnyValue::String(id.to_hex())));
    }
}

impl Trace {
    /// Builds a trace from stored spans: drops exact duplicates (the same span id and
    /// start, as SDK retries produce), adjusts clock skew, orders, and notes orphans.
    pub fn assemble(trace_id: TraceId, mut spans: Vec<SpanRecord>) -> Self {
        spans.sort_by(|a, b| {
            (a.span.start, a.span.span_id, a.span.end).cmp(&(
                b.span.start,
                b.span.span_id,
                b.span.end,
            ))
        });
        spans.dedup_by(|a, b| a.span.span_id == b.span.span_id && a.span.start == b.span.start);
        split_shared_span_ids(&mut spans);
        let mut warnings = skew::adjust(&mut spans);
        let ids: HashSet<_> = spans.iter().map(|s| s.span.span_id).collect();
        for s in &spans {
            if let Some(parent) = s.span.parent_span_id
                && !ids.contains(&parent)
            {
                warnings.push(format!(
                    "span {} has parent {} that is not in the trace",
                    s.span.span_id, parent
                ));
            }
        }
        spans.sort_by_key(|s| (s.span.start, s.span.span_id));
        Self {
            trace_id,
            spans,
            warnings,
        }
    }

    /// The earliest span without a parent in the trace, else the earliest span.
    pub fn root(&self) -> Option<&SpanRecord> {
        let ids: HashSet<_> = self.spans.iter().map(|s| s.span.span_id).collect();
        self.spans
            .iter()
            .find(|s| s.span.parent_span_id.is_none())
            .or_else(|| {
                self.spans
                    .iter()
                    .find(|s| s.span.parent_span_id.is_some_and(|p| !ids.contains(&p)))
            })
            .or_else(|| self.spans.first())
    }

    pub fn start(&self) -> UnixNanos {
        self.spans
            .iter()
            .map(|s| s.span.start)
            .min()
            .unwrap_or_default()
    }

    pub fn end(&self) -> UnixNanos {
        self.spans
            .iter()
            .map(|s| s.span.end)
            .max()
            .unwrap_or_default()
    }

    pub fn duration(&self) -> DurationNanos {
        self.end().saturating_since(self.start())
    }

    /// Service name → number of spans, sorted by name.
    pub fn services(&self) -> Vec<(String, usize)> {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for s in &self.spans {
            *counts.entry(s.service_name()).or_default() += 1;
        }
        counts.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    pub fn error_count(&self) -> usize {
        self.spans
            .iter()
            .filter(|s| s.span.status.code == StatusCode::Error)
            .count()
    }

    /// The trace regrouped by resource and scope, as OTLP carries it.
    pub fn to_batch(&self) -> TraceBatch {
        TraceBatch::from_records(&self.spans)
    }
}
