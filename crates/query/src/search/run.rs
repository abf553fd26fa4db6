//! Running a search: scan sources newest first, judge candidates on whole traces, page.

use std::collections::{BTreeMap, HashMap, HashSet};

use clew_model::{SpanRecord, TenantId, TraceId, UnixNanos};
use clew_store::Store;
use clew_store::scan::{ScanStats, Source, SpanParts, SpanScan, TraceHit};

use super::eval::{Evaluator, Spanset, TraceView, is_error};
use super::plan::Plan;
use super::value::FieldValue;
use super::{
    Cursor, DEFAULT_SEARCH_LIMIT, DEFAULT_SPANS_PER_SPANSET, MatchedSpan, MatchedSpanset,
    SearchMetrics, SearchOrder, SearchRequest, SearchResult, ServiceStats, TraceSummary,
};
use crate::QueryError;

/// Blocks scanned at once.
const PARALLEL_BLOCK_SCANS: usize = 2;
/// Candidate traces fetched at once for judging.
const JUDGED_AT_ONCE: usize = 8;

/// A result's position: larger sorts first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    primary: u64,
    start: u64,
    trace_id: TraceId,
}

impl Key {
    fn of(order: SearchOrder, s: &TraceSummary) -> Key {
        let primary = match order {
            SearchOrder::Newest => s.start.0,
            SearchOrder::Longest => s.duration.0,
        };
        Key {
            primary,
            start: s.start.0,
            trace_id: s.trace_id,
        }
    }

    fn cursor(self, order: SearchOrder) -> Cursor {
        Cursor {
            order,
            key: self.primary,
            start: self.start,
            trace_id: self.trace_id,
        }
    }

    fn from_cursor(c: &Cursor) -> Key {
        let start = match c.order {
            SearchOrder::Newest => c.key,
            SearchOrder::Longest => c.start,
        };
        Key {
            primary: c.key,
            start,
            trace_id: c.trace_id,
        }
    }
}

/// The spans of one trace as the judge sees them: duplicates (retried batches, a flush seen
/// from both sides) removed, ordered by start then span id.
pub(crate) fn trace_spans(mut spans: Vec<SpanRecord>) -> Vec<SpanRecord> {
    spans.sort_by(|a, b| {
        (a.span.start, a.span.span_id, a.span.end).cmp(&(b.span.start, b.span.span_id, b.span.end))
    });
    spans.dedup_by(|a, b| a.span.span_id == b.span.span_id && a.span.start == b.span.start);
    spans
}

/// Judges one whole trace: its summary when it matches the request.
pub(crate) fn judge(
    request: &SearchRequest,
    eval: &Evaluator,
    trace_id: TraceId,
    spans: &[SpanRecord],
) -> Option<TraceSummary> {
    if spans.is_empty() {
        return None;
    }
    let view = TraceView::new(spans);
    let start = view.start();
    let end = start.saturating_add(view.duration());
    if request.start.is_some_and(|s| end < s) || request.end.is_some_and(|e| start > e) {
        return None;
    }
    let duration = view.duration();
    if request.min_duration.is_some_and(|d| duration < d)
        || request.max_duration.is_some_and(|d| duration > d)
    {
        return None;
    }
    let sets = eval.spansets(&request.query, &view);
    if sets.is_empty() {
        return None;
    }
    Some(summarize(request, eval, &view, trace_id, &sets))
}

fn summarize(
    request: &SearchRequest,
    eval: &Evaluator,
    view: &TraceView<'_>,
    trace_id: TraceId,
    sets: &[Spanset],
) -> TraceSummary {
    let mut services: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for s in view.spans {
        let e = services.entry(s.service_name()).or_default();
        e.0 += 1;
        e.1 += usize::from(is_error(s));
    }
    let spss = if request.spans_per_spanset == 0 {
        DEFAULT_SPANS_PER_SPANSET
    } else {
        request.spans_per_spanset
    };
    let spansets = sets
        .iter()
        .map(|set| MatchedSpanset {
            matched: set.spans.len(),
            attributes: set.labels.clone(),
            spans: set
                .spans
                .iter()
                .take(spss)
                .map(|&i| {
                    let rec = &view.spans[i];
                    MatchedSpan {
                        span_id: rec.span.span_id,
                        name: rec.span.name.clone(),
                        service_name: rec.service_name().to_owned(),
                        start: rec.span.start,
                        duration: rec.span.duration(),
                        attributes: eval
                            .shown
                            .iter()
                            .filter_map(|(label, expr)| {
                                let v = eval.value(expr, view, i, None, None);
                                (v != FieldValue::Nil).then(|| (label.clone(), v))
                            })
                            .collect(),
                    }
                })
                .collect(),
        })
        .collect();
    let root = view.root();
    TraceSummary {
        trace_id,
        root_service_name: root.map(|r| r.service_name().to_owned()),
        root_name: root.map(|r| r.span.name.clone()),
        start: view.start(),
        duration: view.duration(),
        span_count: view.spans.len(),
        error_count: view.spans.iter().filter(|s| is_error(s)).count(),
        services: services
            .into_iter()
            .map(|(name, (span_count, error_count))| ServiceStats {
                name: name.to_owned(),
                span_count,
                error_count,
            })
            .collect(),
        spansets,
    }
}

struct Search<'a> {
    store: &'a Store,
    tenant: &'a TenantId,
    request: &'a SearchRequest,
    plan: Plan,
    eval: Evaluator,
    scan: SpanScan,
    /// What judging decodes of each candidate's spans.
    judge_parts: SpanParts,
    limit: usize,
    after: Option<Key>,
    /// Candidates not yet judged: (estimated start, id).
    pending: Vec<(UnixNanos, TraceId)>,
    judged: HashSet<TraceId>,
    /// Conditions met so far by traces that are not candidates yet (a split trace can meet
    /// `{A} && {B}` with A in one source and B in another), with their earliest start.
    partial: HashMap<TraceId, (u64, UnixNanos)>,
    /// Matches after the cursor, best first, at most `limit + 1`.
    found: BTreeMap<std::cmp::Reverse<Key>, TraceSummary>,
    metrics: SearchMetrics,
}

impl Search<'_> {
    async fn scan_source(&mut self, source: &Source) -> Result<(), QueryError> {
        let found = self.store.scan(self.tenant, source, &self.scan).await?;
        self.absorb(found);
        Ok(())
    }

    /// Takes in one source's scan: counts it, and turns hits into candidates.
    fn absorb(&mut self, (hits, stats): (Vec<TraceHit>, ScanStats)) {
        self.metrics.inspected_spans += stats.spans;
        self.metrics.inspected_bytes += stats.bytes;
        if stats.block_read {
            self.metrics.inspected_blocks += 1;
        }
        for hit in hits {
            if self.judged.contains(&hit.trace_id) {
                continue;
            }
            let (bits, start) = match self.partial.get(&hit.trace_id) {
                Some((bits, start)) => (bits | hit.conditions, hit.earliest_start.min(*start)),
                None => (hit.conditions, hit.earliest_start),
            };
            if self.plan.need.holds(bits) {
                self.partial.remove(&hit.trace_id);
                self.pending.push((start, hit.trace_id));
            } else {
                self.partial.insert(hit.trace_id, (bits, start));
            }
        }
    }

    /// Judges pending candidates, latest estimate first, that could still enter the page:
    /// those estimated at or after `bound` (all when `None`) and not [`Search::beaten`].
    async fn judge_pending(&mut self, bound: Option<UnixNanos>) -> Result<(), QueryError> {
        let mut pending = std::mem::take(&mut self.pending);
        pending.sort_unstable_by(|a, b| b.cmp(a));
        pending.dedup_by_key(|(_, id)| *id);
        let mut rest = Vec::new();
        let mut queue = pending.into_iter();
        loop {
            // The next few candidates that could still enter the page, fetched together:
            // lookups wait on I/O and decode on their own tasks. One of them may turn out
            // beaten by another of the same batch; judging it anyway changes no result.
            let mut batch = Vec::with_capacity(JUDGED_AT_ONCE);
            for (estimate, id) in queue.by_ref() {
                if self.judged.contains(&id) {
                    continue;
                }
                if bound.is_some_and(|b| estimate < b) || self.beaten(estimate) {
                    rest.push((estimate, id));
                    continue;
                }
                self.judged.insert(id);
                batch.push(id);
                if batch.len() == JUDGED_AT_ONCE {
                    break;
                }
            }
            if batch.is_empty() {
                break;
            }
            self.metrics.inspected_traces += batch.len() as u64;
            let lookups = batch
                .iter()
                .map(|id| self.store.trace_parts(self.tenant, *id, self.judge_parts));
            let traces = futures::future::join_all(lookups).await;
            for (id, spans) in batch.into_iter().zip(traces) {
                let spans = trace_spans(spans?);
                let Some(summary) = judge(self.request, &self.eval, id, &spans) else {
                    continue;
                };
                let key = Key::of(self.request.order, &summary);
                if self.after.is_some_and(|after| key >= after) {
                    continue;
                }
                self.found.insert(std::cmp::Reverse(key), summary);
                if self.found.len() > self.limit + 1 {
                    self.found.pop_last();
                }
            }
        }
        self.pending = rest;
        Ok(())
    }

    /// Newest first, whether `limit + 1` matches already start after `t`: a trace that
    /// starts at or before `t` (a candidate estimated there, or any trace of a block whose
    /// spans all start by then) cannot enter the page.
    fn beaten(&self, t: UnixNanos) -> bool {
        self.request.order == SearchOrder::Newest
            && self.found.len() > self.limit
            && self
                .found
                .keys()
                .next_back()
                .is_some_and(|std::cmp::Reverse(k)| k.start > t.0)
    }

    /// Whether the page is settled: nothing unread or unjudged can enter it.
    fn settled(&self, bound: UnixNanos) -> bool {
        self.beaten(bound) && self.pending.iter().all(|(e, _)| self.beaten(*e))
    }
}

pub(super) async fn search(
    store: &Store,
    tenant: &TenantId,
    request: &SearchRequest,
) -> Result<SearchResult, QueryError> {
    if let Some(c) = &request.cursor
        && c.order != request.order
    {
        return Err(QueryError::Invalid(
            "the cursor belongs to a search in another order".to_owned(),
        ));
    }
    let plan = Plan::new(&request.query);
    let scan = plan.scan(&request.query);
    let limit = if request.limit == 0 {
        DEFAULT_SEARCH_LIMIT
    } else {
        request.limit
    };
    let mut s = Search {
        store,
        tenant,
        request,
        eval: Evaluator::new(&request.query),
        scan,
        judge_parts: super::plan::query_parts(&request.query),
        plan,
        limit,
        after: request.cursor.as_ref().map(Key::from_cursor),
        pending: Vec::new(),
        judged: HashSet::new(),
        partial: HashMap::new(),
        found: BTreeMap::new(),
        metrics: SearchMetrics::default(),
    };
    let mut partial = None;
    // The head first, then the blocks listed after it was read: a flush lists its block
    // before it drops the head's copy, so no span slips between the two.
    if let Some(head) = store.head_source(tenant) {
        s.scan_source(&head).await?;
    }
    let blocks = store.block_sources_of(tenant);
    s.metrics.total_blocks = blocks.len() as u64;
    s.metrics.total_block_bytes = blocks.iter().map(|b| b.size_bytes).sum();
    let blocks: Vec<Source> = blocks
        .into_iter()
        .filter(|b| b.overlaps(request.start, request.end))
        .collect();
    let mut next = 0;
    while let Some(block) = blocks.get(next) {
        let bound = block.start_max.unwrap_or_default();
        s.judge_pending(Some(bound)).await?;
        if s.settled(bound) {
            break;
        }
        if let Some(max) = request.max_inspected_bytes
            && s.metrics.inspected_bytes >= max
        {
            partial = Some(format!(
                "stopped after reading {} bytes (the limit is {max}); {next} of {} blocks were read",
                s.metrics.inspected_bytes,
                blocks.len()
            ));
            break;
        }
        // Blocks are decoded on their own tasks: scanning a few at once uses the cores, at
        // the price of reading up to that many blocks past where the search could stop.
        let batch = if request.max_inspected_bytes.is_some() {
            1
        } else {
            PARALLEL_BLOCK_SCANS
        };
        let group = &blocks[next..(next + batch).min(blocks.len())];
        let scans = group.iter().map(|b| s.store.scan(tenant, b, &s.scan));
        for found in futures::future::join_all(scans).await {
            s.absorb(found?);
        }
        next += group.len();
    }
    s.judge_pending(None).await?;
    let mut traces: Vec<TraceSummary> = std::mem::take(&mut s.found).into_values().collect();
    let next = if traces.len() > limit {
        traces.truncate(limit);
        traces
            .last()
            .map(|t| Key::of(request.order, t).cursor(request.order))
    } else {
        None
    };
    Ok(SearchResult {
        traces,
        next,
        metrics: s.metrics,
        partial,
    })
}
