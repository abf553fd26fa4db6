//! Clew's query layer: turns what the store holds into traces and answers searches.
//!
//! Owns: trace assembly (ordering, the root, summaries, clock-skew adjustment with
//! warnings), Jaeger-style search semantics (a trace matches when one of its spans meets
//! every condition), the mapping of conventional tags (`error`, `span.kind`,
//! `otel.status_code`) to span fields, and services/operations listings.
//!
//! Must not touch: wire formats (JSON shapes, protobuf) — those belong to `clew-server` —
//! nor storage layout: it reads only through `clew_store::Store`'s public API.

mod skew;
mod trace;
pub mod traceql;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use clew_model::{DurationNanos, SpanId, SpanKind, StatusCode, TenantId, TraceId, UnixNanos};
use clew_store::{ReadError, SpanFilter, Store};

pub use trace::Trace;

/// Why a query could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("reading from the store: {0}")]
    Store(#[from] ReadError),
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
}

impl Querier {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    pub async fn trace(&self, tenant: &TenantId, id: TraceId) -> Result<Option<Trace>, QueryError> {
        let spans = self.store.trace(tenant, id).await?;
        Ok((!spans.is_empty()).then(|| Trace::assemble(id, spans)))
    }

    pub async fn search(
        &self,
        tenant: &TenantId,
        q: &TraceQuery,
    ) -> Result<Vec<Trace>, QueryError> {
        let filter = span_filter(q);
        let limit = if q.limit == 0 { DEFAULT_LIMIT } else { q.limit };
        let ids = self.store.find_trace_ids(tenant, &filter, limit).await?;
        let mut traces = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(t) = self.trace(tenant, id).await? {
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

/// Maps a Jaeger-style query to the store's span filter. Conventional tags that Jaeger
/// derives from span fields are matched against those fields, so `error=true` finds
/// spans with error status whether or not they carry an `error` attribute.
fn span_filter(q: &TraceQuery) -> SpanFilter {
    let mut filter = SpanFilter {
        service: q.service.clone().filter(|s| !s.is_empty()),
        operation: q.operation.clone().filter(|s| !s.is_empty()),
        min_duration: q.min_duration,
        max_duration: q.max_duration,
        start_min: q.start_min,
        start_max: q.start_max,
        ..SpanFilter::default()
    };
    for (key, value) in &q.tags {
        match (key.as_str(), value.to_ascii_lowercase().as_str()) {
            ("error", "true") => filter.status = Some(StatusCode::Error),
            ("otel.status_code", "error") => filter.status = Some(StatusCode::Error),
            ("otel.status_code", "ok") => filter.status = Some(StatusCode::Ok),
            ("span.kind", v) if SpanKind::from_lower_str(v).is_some() => {
                filter.kind = SpanKind::from_lower_str(v);
            }
            _ => filter.attributes.push((key.clone(), value.clone())),
        }
    }
    filter
}

#[cfg(test)]
mod tests;
