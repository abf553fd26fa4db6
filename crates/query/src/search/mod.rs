//! TraceQL search over head and blocks: planning, whole-trace evaluation, ordering and
//! pages, plus the tag listings Grafana's editor autocompletes from.
//!
//! How a search runs ([`Querier::search_traceql`]):
//! 1. **Plan** (`plan.rs`): the query's spanset filters become *leaves*; the query becomes
//!    a formula over "the trace has a span meeting leaf i" that every matching trace
//!    satisfies. Each leaf also yields store hints (service, name, kind, status, duration)
//!    that prune blocks and row groups, and the parts of a span it reads.
//! 2. **Scan** sources newest first (the head, then blocks by latest span start): the store
//!    decodes only the needed columns of the row groups the hints admit and reports which
//!    leaves each trace met. Traces whose leaf set satisfies the formula are candidates.
//! 3. **Judge** each candidate on its whole trace, gathered from every block and the head
//!    (`eval.rs`), so a trace split across places matches exactly as if it were in one.
//! 4. Stop as soon as `limit` matches are known to beat every trace not yet judged: a trace
//!    starts no later than any of its spans, so no unread source can hold a newer one.

mod eval;
mod plan;
mod run;
mod tags;
mod value;

#[cfg(test)]
mod tests;

use clew_model::{DurationNanos, SpanId, TraceId, UnixNanos};

use crate::traceql::Query;

pub use tags::{TagNames, TagRef, TagScope, TagValuesRequest, TagsRequest};
pub use value::FieldValue;

/// Traces a search returns when the caller gives no limit (Tempo's default).
pub const DEFAULT_SEARCH_LIMIT: usize = 20;
/// Spans listed per matched spanset when the caller gives no `spss` (Tempo's default).
pub const DEFAULT_SPANS_PER_SPANSET: usize = 3;

/// The order of results; ties are broken by trace id, descending, so that the same data
/// always gives the same order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SearchOrder {
    /// Latest trace start first.
    #[default]
    Newest,
    /// Longest trace first (judges every candidate before answering).
    Longest,
}

/// A TraceQL search.
#[derive(Clone, Debug)]
pub struct SearchRequest {
    pub query: Query,
    /// Traces that overlap `[start, end]` (inclusive). Sources entirely outside the range are
    /// not read, so a trace is found through spans inside the range.
    pub start: Option<UnixNanos>,
    pub end: Option<UnixNanos>,
    /// Inclusive bounds on the whole trace's duration (Tempo's `minDuration`/`maxDuration`).
    pub min_duration: Option<DurationNanos>,
    pub max_duration: Option<DurationNanos>,
    /// Most traces to return; 0 means [`DEFAULT_SEARCH_LIMIT`].
    pub limit: usize,
    /// Most spans listed per spanset; 0 means [`DEFAULT_SPANS_PER_SPANSET`].
    pub spans_per_spanset: usize,
    pub order: SearchOrder,
    /// Continue after this position (from a previous result's `next`).
    pub cursor: Option<Cursor>,
    /// Stop reading once this many bytes were read (the result then says it is partial).
    pub max_inspected_bytes: Option<u64>,
}

impl SearchRequest {
    pub fn new(query: Query) -> Self {
        Self {
            query,
            start: None,
            end: None,
            min_duration: None,
            max_duration: None,
            limit: 0,
            spans_per_spanset: 0,
            order: SearchOrder::Newest,
            cursor: None,
            max_inspected_bytes: None,
        }
    }
}

/// A position in a result order: the last trace of a page. Opaque to clients as a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub order: SearchOrder,
    /// The trace's start (newest order) or duration (longest order), in nanoseconds.
    pub key: u64,
    /// Second key for the longest order: the trace's start.
    pub start: u64,
    pub trace_id: TraceId,
}

impl Cursor {
    /// The token form: `n` or `d`, then the keys and the trace id in hex, `-` separated.
    pub fn to_token(&self) -> String {
        let tag = match self.order {
            SearchOrder::Newest => 'n',
            SearchOrder::Longest => 'd',
        };
        format!(
            "{tag}{:016x}-{:016x}-{}",
            self.key,
            self.start,
            self.trace_id.to_hex()
        )
    }

    /// Parses [`Cursor::to_token`]'s form; `None` for anything else.
    pub fn from_token(token: &str) -> Option<Cursor> {
        let order = match token.get(..1)? {
            "n" => SearchOrder::Newest,
            "d" => SearchOrder::Longest,
            _ => return None,
        };
        let mut parts = token.get(1..)?.split('-');
        let key = u64::from_str_radix(parts.next()?, 16).ok()?;
        let start = u64::from_str_radix(parts.next()?, 16).ok()?;
        let trace_id = TraceId::from_hex(parts.next()?).ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(Cursor {
            order,
            key,
            start,
            trace_id,
        })
    }
}

/// The answer to a search.
#[derive(Clone, Debug, Default)]
pub struct SearchResult {
    pub traces: Vec<TraceSummary>,
    /// Where the next page starts; `None` when this page is the last.
    pub next: Option<Cursor>,
    pub metrics: SearchMetrics,
    /// Why the search stopped before reading everything it should (a byte limit), if it did.
    pub partial: Option<String>,
}

/// What a search read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchMetrics {
    /// Bytes of block data read (pages and footers fetched or taken from cache).
    pub inspected_bytes: u64,
    /// Spans the scan looked at (head and blocks).
    pub inspected_spans: u64,
    /// Whole traces judged.
    pub inspected_traces: u64,
    /// Blocks of the tenant, and how many of them the search read.
    pub total_blocks: u64,
    pub inspected_blocks: u64,
    /// Bytes of all blocks of the tenant.
    pub total_block_bytes: u64,
}

/// A matching trace, summarised.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceSummary {
    pub trace_id: TraceId,
    /// `None` when the trace has no root span (its root has not arrived).
    pub root_service_name: Option<String>,
    pub root_name: Option<String>,
    pub start: UnixNanos,
    pub duration: DurationNanos,
    pub span_count: usize,
    pub error_count: usize,
    /// Per service, sorted by name.
    pub services: Vec<ServiceStats>,
    pub spansets: Vec<MatchedSpanset>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceStats {
    pub name: String,
    pub span_count: usize,
    pub error_count: usize,
}

/// One spanset the query produced for a trace.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchedSpanset {
    /// At most `spans_per_spanset`, by start then span id.
    pub spans: Vec<MatchedSpan>,
    /// How many spans the spanset holds in all.
    pub matched: usize,
    /// `by(…)` labels and aggregate values (`count()` → `("count()", Int)`), in query order.
    pub attributes: Vec<(String, FieldValue)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MatchedSpan {
    pub span_id: SpanId,
    pub name: String,
    pub service_name: String,
    pub start: UnixNanos,
    pub duration: DurationNanos,
    /// The fields the query's filters and `select(…)` read, as Tempo returns them: the
    /// attribute's name without its scope (`http.method`) or the intrinsic's name (`status`,
    /// `kind`), and the value; name, duration, ids and trace-level fields are left out.
    pub attributes: Vec<(String, FieldValue)>,
}

impl crate::Querier {
    /// Runs a TraceQL search (see the module doc for how).
    pub async fn search_traceql(
        &self,
        tenant: &clew_model::TenantId,
        request: &SearchRequest,
    ) -> Result<SearchResult, crate::QueryError> {
        if request.max_inspected_bytes.is_none() && self.search_max_bytes > 0 {
            let mut bounded = request.clone();
            bounded.max_inspected_bytes = Some(self.search_max_bytes);
            return run::search(&self.store, tenant, &bounded).await;
        }
        run::search(&self.store, tenant, request).await
    }

    /// Attribute names per scope, and the intrinsics (always all of them).
    pub async fn tag_names(
        &self,
        tenant: &clew_model::TenantId,
        request: &TagsRequest,
    ) -> Result<TagNames, crate::QueryError> {
        tags::names(&self.store, tenant, request).await
    }

    /// Distinct values of one attribute or intrinsic, sorted by type then value.
    pub async fn tag_values(
        &self,
        tenant: &clew_model::TenantId,
        request: &TagValuesRequest,
    ) -> Result<Vec<FieldValue>, crate::QueryError> {
        tags::values(&self.store, tenant, request).await
    }
}
