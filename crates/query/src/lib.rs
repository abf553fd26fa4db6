//! Clew's query layer: turns what the store holds into traces and answers searches.
//!
//! Owns: trace assembly (ordering, the root, summaries, clock-skew adjustment with
//! warnings), Jaeger-style search semantics (a trace matches when one of its spans meets
//! every condition), the mapping of conventional tags (`error`, `span.kind`,
//! `otel.status_code`) to span fields, and services/operations listings.
//!
//! Must not touch: wire formats (JSON shapes, protobuf) — those belong to `clew-server` —
//! nor storage layout: it reads only through `clew_store::Store`'s public API.

pub mod search;
mod skew;
mod trace;
pub mod traceql;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use clew_model::{DurationNanos, SpanId, SpanKind, TenantId, TraceId, UnixNanos};
use clew_store::{ReadError, SpanFilter, Store};

pub use search::SearchRequest;
pub use trace::Trace;

/// Why a query could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("reading from the store: {0}")]
    Store(#[from] ReadError),
    /// The request cannot be answered as asked (a cursor from another search, …).
    #[error("{0}")]
    Invalid(String),
}

/// An operation (span name) seen for a service, with the span kind it was seen with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub name: String,
    pub kind: SpanKind,
}

/// A search in Jaeger's terms: every condition must hold for one span of the trace.
#[derive(Clone, Debug, Default)]
pub struct TraceQuery {
    pub service: Option<String>,
    pub operation: Option<String>,
    /// Tag filters; `error`, `span.kind` and `otel.status_code` map to span fields.
    pub tags: Vec<(String, String)>,
    pub min_duration: Option<DurationNanos>,
    pub max_duration: Option<DurationNanos>,
    pub start_min: Option<UnixNanos>,
    pub start_max: Option<UnixNanos>,
    pub limit: usize,
}

/// A service-to-service edge: `parent` called `child` `call_count` times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DependencyLink {
    pub parent: String,
    pub child: String,
    pub call_count: u64,
}

/// Most traces one dependency computation reads; a bound on work per request until the
/// analysis layer keeps the graph incrementally.
pub const DEPENDENCY_TRACE_LIMIT: usize = 100_000;

/// Default number of traces a search returns when the caller gives no limit (Jaeger's).
pub const DEFAULT_LIMIT: usize = 20;

/// Answers trace queries over a store. Cheap to clone.
#[derive(Clone)]
pub struct Querier {
    store: Arc<Store>,
    /// Applied to searches that set no byte budget of their own; 0: no bound.
    search_max_bytes: u64,
}

impl Querier {
    pub fn new(store: Arc<Store>) -> Self {
        Self {
            store,
            search_max_bytes: 0,
        }
    }

    /// Bounds the block bytes a search reads unless the request sets its own bound; a search
    /// that reaches it answers with what it found, marked partial. 0: no bound.
    pub fn with_search_max_bytes(mut self, bytes: u64) -> Self {
        self.search_max_bytes = bytes;
        self
    }

    pub async fn trace(&self, tenant: &TenantId, id: TraceId) -> Result<Option<Trace>, QueryError> {
        let spans = self.store.trace(tenant, id).await?;
        Ok((!spans.is_empty()).then(|| Trace::assemble(id, spans)))
    }

    /// Jaeger's search, on the TraceQL engine: one span must meet every condition (see
    /// [`jaeger_request`]); traces overlapping the time range, newest first.
    pub async fn search(
        &self,
        tenant: &TenantId,
        q: &TraceQuery,
    ) -> Result<Vec<Trace>, QueryError> {
        let request = jaeger_request(q);
        let found = self.search_traceql(tenant, &request).await?;
        let mut traces = Vec::with_capacity(found.traces.len());
        for summary in found.traces {
            if let Some(t) = self.trace(tenant, summary.trace_id).await? {
                traces.push(t);
            }
        }
        Ok(traces)
    }

    /// Service edges from parent/child spans on different services among the traces
    /// that started in `[end - lookback, end]`, sorted by parent then child.
    pub async fn dependencies(
        &self,
        tenant: &TenantId,
        end: UnixNanos,
        lookback: DurationNanos,
    ) -> Result<Vec<DependencyLink>, QueryError> {
        let filter = SpanFilter {
            start_min: Some(end.saturating_sub(lookback)),
            start_max: Some(end),
            ..SpanFilter::default()
        };
        let ids = self
            .store
            .find_trace_ids(tenant, &filter, DEPENDENCY_TRACE_LIMIT)
            .await?;
        let mut edges: BTreeMap<(String, String), u64> = BTreeMap::new();
        for id in ids {
            let spans = self.store.trace(tenant, id).await?;
            let service_of: HashMap<SpanId, &str> = spans
                .iter()
                .map(|s| (s.span.span_id, s.service_name()))
                .collect();
            for s in &spans {
                let Some(parent) = s.span.parent_span_id.and_then(|p| service_of.get(&p)) else {
                    continue;
                };
                if *parent != s.service_name() {
                    *edges
                        .entry(((*parent).to_owned(), s.service_name().to_owned()))
                        .or_default() += 1;
                }
            }
        }
        Ok(edges
            .into_iter()
            .map(|((parent, child), call_count)| DependencyLink {
                parent,
                child,
                call_count,
            })
            .collect())
    }

    pub async fn services(&self, tenant: &TenantId) -> Result<Vec<String>, QueryError> {
        Ok(self.store.services(tenant).await?)
    }

    pub async fn operations(
        &self,
        tenant: &TenantId,
        service: &str,
        kind: Option<SpanKind>,
    ) -> Result<Vec<Operation>, QueryError> {
        let mut ops: Vec<Operation> = self
            .store
            .operations(tenant, service)
            .await?
            .into_iter()
            .filter(|(_, k)| kind.is_none_or(|want| *k == want))
            .map(|(name, kind)| Operation { name, kind })
            .collect();
        ops.sort_by(|a, b| a.name.cmp(&b.name).then(a.kind.cmp(&b.kind)));
        ops.dedup();
        Ok(ops)
    }
}

/// A Jaeger search as one TraceQL filter: `{ resource.service.name = S && name = O &&
/// <tag> && duration >= MIN && duration <= MAX }`, over traces overlapping the time range.
///
/// Tags keep Jaeger's meaning: `error=true`, `span.kind` and `otel.status_code` test the
/// span's status and kind; any other `k=v` holds when the span, its resource or one of its
/// events has attribute `k` whose value reads as `v` (a string equal to `v`, or a number or
/// boolean that `v` spells).
pub fn jaeger_request(q: &TraceQuery) -> SearchRequest {
    use traceql::{Attribute, BinaryOp, ExprKind, FieldExpr, Intrinsic, Scope, Static};
    let field = |kind| Box::new(FieldExpr::new(kind));
    let cmp = |op, lhs: ExprKind, rhs: Static| {
        FieldExpr::new(ExprKind::Binary {
            op,
            lhs: field(lhs),
            rhs: field(ExprKind::Static(rhs)),
        })
    };
    let attr = |scope, name: &str| {
        ExprKind::Attribute(Attribute {
            scope,
            name: name.to_owned(),
        })
    };
    let or = |a: FieldExpr, b: FieldExpr| {
        FieldExpr::new(ExprKind::Binary {
            op: BinaryOp::Or,
            lhs: Box::new(a),
            rhs: Box::new(b),
        })
    };
    let mut conditions: Vec<FieldExpr> = Vec::new();
    if let Some(service) = q.service.as_ref().filter(|s| !s.is_empty()) {
        conditions.push(cmp(
            BinaryOp::Eq,
            attr(Scope::Resource, "service.name"),
            Static::Str(service.clone()),
        ));
    }
    if let Some(op) = q.operation.as_ref().filter(|s| !s.is_empty()) {
        conditions.push(cmp(
            BinaryOp::Eq,
            ExprKind::Intrinsic(Intrinsic::Name),
            Static::Str(op.clone()),
        ));
    }
    for (key, value) in &q.tags {
        let status = |s| {
            cmp(
                BinaryOp::Eq,
                ExprKind::Intrinsic(Intrinsic::Status),
                Static::Status(s),
            )
        };
        let lower = value.to_ascii_lowercase();
        let special = match (key.as_str(), lower.as_str()) {
            ("error", "true") | ("otel.status_code", "error") => {
                Some(status(traceql::Status::Error))
            }
            ("otel.status_code", "ok") => Some(status(traceql::Status::Ok)),
            ("span.kind", v) => traceql_kind(v).map(|k| {
                cmp(
                    BinaryOp::Eq,
                    ExprKind::Intrinsic(Intrinsic::Kind),
                    Static::Kind(k),
                )
            }),
            _ => None,
        };
        if let Some(c) = special {
            conditions.push(c);
            continue;
        }
        let mut literals = vec![Static::Str(value.clone())];
        if let Ok(i) = value.parse::<i64>() {
            literals.push(Static::Int(i));
        }
        if let Ok(f) = value.parse::<f64>()
            && f.is_finite()
        {
            literals.push(Static::Float(f));
        }
        if let Ok(b) = value.parse::<bool>() {
            literals.push(Static::Bool(b));
        }
        let mut any: Option<FieldExpr> = None;
        for scope in [Scope::Span, Scope::Resource, Scope::Event] {
            for lit in &literals {
                let c = cmp(BinaryOp::Eq, attr(scope, key), lit.clone());
                any = Some(match any {
                    Some(prev) => or(prev, c),
                    None => c,
                });
            }
        }
        conditions.extend(any);
    }
    if let Some(d) = q.min_duration {
        conditions.push(cmp(
            BinaryOp::Gte,
            ExprKind::Intrinsic(Intrinsic::Duration),
            Static::Duration(i64::try_from(d.0).unwrap_or(i64::MAX)),
        ));
    }
    if let Some(d) = q.max_duration {
        conditions.push(cmp(
            BinaryOp::Lte,
            ExprKind::Intrinsic(Intrinsic::Duration),
            Static::Duration(i64::try_from(d.0).unwrap_or(i64::MAX)),
        ));
    }
    let expr = conditions.into_iter().reduce(|a, b| {
        FieldExpr::new(ExprKind::Binary {
            op: BinaryOp::And,
            lhs: Box::new(a),
            rhs: Box::new(b),
        })
    });
    let query = traceql::Query {
        pipeline: traceql::Pipeline {
            stages: vec![traceql::Stage::Spanset(traceql::SpansetExpr::Filter(
                traceql::Filter {
                    expr,
                    span: traceql::Span::default(),
                },
            ))],
        },
    };
    let mut request = SearchRequest::new(query);
    request.start = q.start_min;
    request.end = q.start_max;
    request.limit = if q.limit == 0 { DEFAULT_LIMIT } else { q.limit };
    request
}

fn traceql_kind(v: &str) -> Option<traceql::Kind> {
    Some(match SpanKind::from_lower_str(v)? {
        SpanKind::Unspecified => traceql::Kind::Unspecified,
        SpanKind::Internal => traceql::Kind::Internal,
        SpanKind::Server => traceql::Kind::Server,
        SpanKind::Client => traceql::Kind::Client,
        SpanKind::Producer => traceql::Kind::Producer,
        SpanKind::Consumer => traceql::Kind::Consumer,
    })
}

#[cfg(test)]
mod tests;
