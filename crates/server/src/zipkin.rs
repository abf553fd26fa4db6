//! Zipkin's v2 query API (`/api/v2/…` on the query port), so Zipkin's UI (Lens) and tools
//! read what any protocol wrote: services, span names, remote services, search, trace by id,
//! dependencies and the autocomplete lists.
//!
//! Source of the shapes: openzipkin/zipkin `zipkin-server/…/ZipkinQueryApiV2.java`
//! (routes, defaults: `limit` 10, `lookback` 1 day, `endTs` now; 404 `text/plain`
//! "<id> not found"), `zipkin2/storage/QueryRequest.java` (`annotationQuery` terms joined by
//! ` and `, `spanName=all` means any) and openzipkin/zipkin-api `zipkin2-api.yaml`. Spans are
//! written by `clew_model::zipkin` (Zipkin v2 JSON, Zipkin's field order). Times in
//! parameters: `endTs`/`lookback` in milliseconds, `minDuration`/`maxDuration` in µs.
//!
//! Not Zipkin's behaviour: names are not lowercased (Zipkin lowercases service and span
//! names at ingest; Clew keeps what clients sent, so names match the other APIs);
//! `annotationQuery` supports `key=value` (tag) terms and the bare term `error` (error
//! status), and answers 400 for other bare terms (annotation values are not indexed);
//! dependency links carry no `errorCount`.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use clew_model::zipkin::{PEER_SERVICE, records_to_zipkin};
use clew_model::{DurationNanos, TraceId, UnixNanos};
use clew_query::{Querier, QueryError, Trace, TraceQuery};
use serde_json::{Value, json};

use crate::json_response;
use crate::params::{self, Params};

/// Zipkin's default search size (`@Default("10")`).
const DEFAULT_LIMIT: usize = 10;
/// `zipkin.query.lookback`: one day, in milliseconds.
const DEFAULT_LOOKBACK_MS: u64 = 86_400_000;
/// Most traces read to list a service's remote services; a bound on work per request.
const REMOTE_SERVICES_TRACE_LIMIT: usize = 1_000;

/// A Zipkin error: a plain-text message with its status, as armeria answers.
#[derive(Debug)]
pub(crate) struct ZipkinError {
    status: StatusCode,
    message: String,
}

impl ZipkinError {
    fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl From<QueryError> for ZipkinError {
    fn from(e: QueryError) -> Self {
        tracing::error!(error = %e, "zipkin query failed");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: e.to_string(),
        }
    }
}

impl IntoResponse for ZipkinError {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.message,
        )
            .into_response()
    }
}

type ZipkinResult = Result<Response, ZipkinError>;

fn ok(body: &Value) -> ZipkinResult {
    Ok(json_response(StatusCode::OK, body))
}

fn tenant(headers: &HeaderMap) -> Result<clew_model::TenantId, ZipkinError> {
    params::tenant(headers).map_err(ZipkinError::bad_request)
}

fn query_params(uri: &Uri) -> Result<Params, ZipkinError> {
    Params::from_uri(uri).map_err(ZipkinError::bad_request)
}

fn required<'a>(p: &'a Params, name: &str) -> Result<&'a str, ZipkinError> {
    p.get(name)
        .ok_or_else(|| ZipkinError::bad_request(format!("{name} is required")))
}

fn parse_u64(p: &Params, name: &str) -> Result<Option<u64>, ZipkinError> {
    p.get(name)
        .map(|v| {
            v.parse::<u64>().map_err(|e| {
                ZipkinError::bad_request(format!("{name}={v:?} is not a non-negative integer: {e}"))
            })
        })
        .transpose()
}

fn traces_json(traces: &[Trace]) -> Value {
    json!(
        traces
            .iter()
            .map(|t| records_to_zipkin(&t.spans))
            .collect::<Vec<_>>()
    )
}

/// `GET /api/v2/services` → `["svc", …]`, sorted.
pub(crate) async fn services(State(q): State<Querier>, headers: HeaderMap) -> ZipkinResult {
    let tenant = tenant(&headers)?;
    let mut services = q.services(&tenant).await?;
    services.sort();
    ok(&json!(services))
}

/// `GET /api/v2/spans?serviceName=` → the service's span names, sorted and unique.
pub(crate) async fn span_names(
    State(q): State<Querier>,
    headers: HeaderMap,
    uri: Uri,
) -> ZipkinResult {
    let tenant = tenant(&headers)?;
    let p = query_params(&uri)?;
    let service = required(&p, "serviceName")?;
    let names: BTreeSet<String> = q
        .operations(&tenant, service, None)
        .await?
        .into_iter()
        .map(|op| op.name)
        .collect();
    ok(&json!(names))
}

/// `GET /api/v2/remoteServices?serviceName=` → the `peer.service` values (Zipkin's
/// `remoteEndpoint.serviceName`) on the service's spans, sorted, read from its most recent
/// traces (at most [`REMOTE_SERVICES_TRACE_LIMIT`]).
pub(crate) async fn remote_services(
    State(q): State<Querier>,
    headers: HeaderMap,
    uri: Uri,
) -> ZipkinResult {
    let tenant = tenant(&headers)?;
    let p = query_params(&uri)?;
    let service = required(&p, "serviceName")?;
    let query = TraceQuery {
        service: Some(service.to_owned()),
        limit: REMOTE_SERVICES_TRACE_LIMIT,
        ..TraceQuery::default()
    };
    let mut remote: BTreeSet<String> = BTreeSet::new();
    for trace in q.search(&tenant, &query).await? {
        for record in trace.spans.iter().filter(|r| r.service_name() == service) {
            if let Some(name) = record.span.attribute(PEER_SERVICE).and_then(|v| v.as_str()) {
                remote.insert(name.to_owned());
            }
        }
    }
    ok(&json!(remote))
}

/// `GET /api/v2/traces?serviceName=&remoteServiceName=&spanName=&annotationQuery=&minDuration=&maxDuration=&endTs=&lookback=&limit=`
/// → `[[span, …], …]`.
pub(crate) async fn traces(State(q): State<Querier>, headers: HeaderMap, uri: Uri) -> ZipkinResult {
    let tenant = tenant(&headers)?;
    let query = parse_traces_query(&query_params(&uri)?, UnixNanos::now())?;
    let traces = q.search(&tenant, &query).await?;
    ok(&traces_json(&traces))
}

pub(crate) fn parse_traces_query(p: &Params, now: UnixNanos) -> Result<TraceQuery, ZipkinError> {
    let end = parse_u64(p, "endTs")?
        .map(|ms| UnixNanos(ms.saturating_mul(1_000_000)))
        .unwrap_or(now);
    let lookback_ms = parse_u64(p, "lookback")?.unwrap_or(DEFAULT_LOOKBACK_MS);
    let start = end.saturating_sub(DurationNanos(lookback_ms.saturating_mul(1_000_000)));
    let limit = match parse_u64(p, "limit")? {
        None | Some(0) => DEFAULT_LIMIT,
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let min_duration = parse_u64(p, "minDuration")?.map(DurationNanos::from_micros);
    let max_duration = parse_u64(p, "maxDuration")?.map(DurationNanos::from_micros);
    if let (Some(min), Some(max)) = (min_duration, max_duration)
        && max < min
    {
        return Err(ZipkinError::bad_request(
            "maxDuration should be greater than or equal to minDuration",
        ));
    }
    let mut tags = Vec::new();
    if let Some(remote) = p.get("remoteServiceName") {
        tags.push((PEER_SERVICE.to_owned(), remote.to_owned()));
    }
    if let Some(annotation_query) = p.get("annotationQuery") {
        tags.extend(parse_annotation_query(annotation_query)?);
    }
    Ok(TraceQuery {
        service: p.get("serviceName").map(str::to_owned),
        // Zipkin's UI sends `all` for "any span name".
        operation: p.get("spanName").filter(|s| *s != "all").map(str::to_owned),
        tags,
        min_duration,
        max_duration,
        start_min: Some(start),
        start_max: Some(end),
        limit,
    })
}

/// `http.method=GET and error` → tag filters. Terms are split on ` and `, as Zipkin's
/// `QueryRequest.parseAnnotationQuery` does; a term's key is up to its first `=`.
fn parse_annotation_query(query: &str) -> Result<Vec<(String, String)>, ZipkinError> {
    let mut tags = Vec::new();
    for term in query
        .split(" and ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        match term.split_once('=') {
            Some((key, value)) if !key.is_empty() => {
                tags.push((key.to_owned(), value.to_owned()));
            }
            None if term == "error" => tags.push(("error".to_owned(), "true".to_owned())),
            _ => {
                return Err(ZipkinError::bad_request(format!(
                    "annotationQuery term {term:?} is not supported: use key=value (a tag) or error"
                )));
            }
        }
    }
    Ok(tags)
}

/// `GET /api/v2/trace/{traceId}` → `[span, …]`; 404 "<id> not found" (plain text).
pub(crate) async fn trace(
    State(q): State<Querier>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ZipkinResult {
    let tenant = tenant(&headers)?;
    let trace_id = TraceId::from_hex(&id)
        .map_err(|e| ZipkinError::bad_request(format!("invalid trace id {id:?}: {e}")))?;
    match q.trace(&tenant, trace_id).await? {
        Some(t) => ok(&json!(records_to_zipkin(&t.spans))),
        None => Err(ZipkinError {
            status: StatusCode::NOT_FOUND,
            message: format!("{id} not found"),
        }),
    }
}

/// `GET /api/v2/dependencies?endTs=&lookback=` (ms; `endTs` required) →
/// `[{"parent", "child", "callCount"}]`.
pub(crate) async fn dependencies(
    State(q): State<Querier>,
    headers: HeaderMap,
    uri: Uri,
) -> ZipkinResult {
    let tenant = tenant(&headers)?;
    let p = query_params(&uri)?;
    required(&p, "endTs")?;
    let end_ms = parse_u64(&p, "endTs")?.unwrap_or(0);
    let lookback_ms = parse_u64(&p, "lookback")?.unwrap_or(DEFAULT_LOOKBACK_MS);
    let links = q
        .dependencies(
            &tenant,
            UnixNanos(end_ms.saturating_mul(1_000_000)),
            DurationNanos(lookback_ms.saturating_mul(1_000_000)),
        )
        .await?;
    let body: Vec<Value> = links
        .iter()
        .map(|l| json!({"parent": l.parent, "child": l.child, "callCount": l.call_count}))
        .collect();
    ok(&json!(body))
}

/// `GET /api/v2/autocompleteKeys` and `/api/v2/autocompleteValues?key=` → `[]`: no tag is
/// configured for autocompletion (Zipkin's `zipkin.storage.autocomplete-keys` default).
pub(crate) async fn autocomplete_empty() -> ZipkinResult {
    ok(&json!([]))
}

#[cfg(test)]
mod tests;
