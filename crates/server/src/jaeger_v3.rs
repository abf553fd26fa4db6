//! Jaeger's api_v3 over HTTP (`/api/v3/…`), which the current Jaeger UI calls: services,
//! operations, trace by id, FindTraces and FindTraceSummaries, written as Jaeger's own
//! gateway writes them (gogo jsonpb of the api_v3 messages; traces as OTLP pdata JSON
//! wrapped in `{"result": …}`; errors as `{"error": {"httpCode", "message"}}`).
//!
//! Source of the shapes: jaeger `cmd/jaeger/internal/extension/jaegerquery/internal/apiv3/
//! http_gateway.go`, `query_parser.go`, `grpc_handler.go` (`toProtoTraceSummaries`),
//! `internal/proto/api_v3/query_service.pb.go` and `querysvc/summary.go`.
//! See `docs/api-shapes.md`.

use std::collections::{BTreeMap, HashSet};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use clew_model::TraceBatch;
use clew_query::{Querier, QueryError, Trace, TraceQuery};
use serde_json::{Map, Value, json};

use crate::json_response;
use crate::otlp_json::{self, Dialect};
use crate::params::{self, Params};

/// Jaeger's default search depth for api_v3 (`defaultSearchDepth`).
const DEFAULT_SEARCH_DEPTH: usize = 100;

/// `GRPCGatewayError` as `encoding/json` writes it: zero `grpcCode` and empty `httpStatus`
/// are left out.
#[derive(Debug)]
pub(crate) struct V3Error {
    status: StatusCode,
    message: String,
}

impl V3Error {
    fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn malformed(param: &str, e: String) -> Self {
        Self::bad_request(format!("malformed parameter {param}: {e}"))
    }

    fn no_traces() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: "No traces found".into(),
        }
    }
}

impl From<QueryError> for V3Error {
    fn from(e: QueryError) -> Self {
        tracing::error!(error = %e, "jaeger v3 query failed");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: e.to_string(),
        }
    }
}

impl IntoResponse for V3Error {
    fn into_response(self) -> Response {
        let body = json!({"error": {"httpCode": self.status.as_u16(), "message": self.message}});
        json_response(self.status, &body)
    }
}

type V3Result = Result<Response, V3Error>;

fn ok(body: &Value) -> V3Result {
    Ok(json_response(StatusCode::OK, body))
}

fn tenant(headers: &HeaderMap) -> Result<clew_model::TenantId, V3Error> {
    params::tenant(headers).map_err(V3Error::bad_request)
}

fn query_params(uri: &Uri) -> Result<Params, V3Error> {
    Params::from_uri(uri).map_err(V3Error::bad_request)
}

/// `GET /api/v3/services` → `{"services": [...]}` (an empty list is still written).
pub(crate) async fn services(State(q): State<Querier>, headers: HeaderMap) -> V3Result {
    let tenant = tenant(&headers)?;
    ok(&json!({"services": q.services(&tenant).await?}))
}

/// `GET /api/v3/operations?service=&spanKind=` (or `span_kind=`) →
/// `{"operations": [{"name", "spanKind"}]}`; the gateway writes an empty kind as "internal".
pub(crate) async fn operations(State(q): State<Querier>, headers: HeaderMap, uri: Uri) -> V3Result {
    let tenant = tenant(&headers)?;
    let p = query_params(&uri)?;
    let kind = params::parse_span_kind(p.get_any(&["spanKind", "span_kind"]).map(|(_, v)| v))
        .map_err(V3Error::bad_request)?;
    let service = p.get("service").unwrap_or_default();
    let ops: Vec<Value> = q
        .operations(&tenant, service, kind)
        .await?
        .iter()
        .map(|op| {
            let kind = match op.kind.as_lower_str() {
                "" => "internal",
                k => k,
            };
            json!({"name": op.name, "spanKind": kind})
        })
        .collect();
    ok(&json!({"operations": ops}))
}

/// `GET /api/v3/traces/{trace_id}` → `{"result": {"resourceSpans": [...]}}`, 404 "No traces found".
pub(crate) async fn trace(
    State(q): State<Querier>,
    headers: HeaderMap,
    Path(id): Path<String>,
    uri: Uri,
) -> V3Result {
    let tenant = tenant(&headers)?;
    let id =
        params::parse_jaeger_trace_id(&id, true).map_err(|e| V3Error::malformed("trace_id", e))?;
    let p = query_params(&uri)?;
    for names in [["startTime", "start_time"], ["endTime", "end_time"]] {
        if let Some((name, v)) = p.get_any(&names) {
            params::parse_rfc3339(v).map_err(|e| V3Error::malformed(name, e))?;
        }
    }
    if let Some((name, v)) = p.get_any(&["rawTraces", "raw_traces"]) {
        params::parse_go_bool(v).map_err(|e| V3Error::malformed(name, e))?;
    }
    let trace = q.trace(&tenant, id).await?.ok_or_else(V3Error::no_traces)?;
    ok(&traces_result(&[trace]))
}

/// `GET /api/v3/traces?query.serviceName=…` → every matching trace's resource spans in
/// one `result`; 404 "No traces found" when nothing matches.
pub(crate) async fn find_traces(
    State(q): State<Querier>,
    headers: HeaderMap,
    uri: Uri,
) -> V3Result {
    let tenant = tenant(&headers)?;
    let query = parse_find_query(&query_params(&uri)?)?;
    let traces = q.search(&tenant, &query).await?;
    if traces.is_empty() {
        return Err(V3Error::no_traces());
    }
    ok(&traces_result(&traces))
}

/// `GET /api/v3/trace-summaries?query.…` → `{"summaries": [...]}` (empty list, not 404).
pub(crate) async fn trace_summaries(
    State(q): State<Querier>,
    headers: HeaderMap,
    uri: Uri,
) -> V3Result {
    let tenant = tenant(&headers)?;
    let query = parse_find_query(&query_params(&uri)?)?;
    let traces = q.search(&tenant, &query).await?;
    let summaries: Vec<Value> = traces.iter().map(summary).collect();
    ok(&json!({"summaries": summaries}))
}

fn traces_result(traces: &[Trace]) -> Value {
    let mut combined = TraceBatch::default();
    for t in traces {
        combined.resource_spans.extend(t.to_batch().resource_spans);
    }
    json!({"result": {"resourceSpans": otlp_json::resource_spans(&combined, Dialect::Pdata)}})
}

/// A `TraceSummary` as jsonpb writes it: zero counts and empty names left out,
/// nanosecond times as strings. Per-service error counts and orphans are tallied here
/// from span status and parent ids, as Jaeger's `summarizeTrace` does.
fn summary(t: &Trace) -> Value {
    let mut o = Map::new();
    o.insert("traceId".into(), json!(t.trace_id.to_hex()));
    if let Some(root) = t.root() {
        put_str(&mut o, "rootServiceName", root.service_name());
        put_str(&mut o, "rootOperationName", &root.span.name);
    }
    put_nanos(&mut o, "minStartTimeUnixNano", t.start().0);
    put_nanos(&mut o, "maxEndTimeUnixNano", t.end().0);
    put_count(&mut o, "spanCount", t.spans.len());
    put_count(&mut o, "errorSpanCount", t.error_count());
    let ids: HashSet<_> = t.spans.iter().map(|s| s.span.span_id).collect();
    let orphans = t
        .spans
        .iter()
        .filter(|s| s.span.parent_span_id.is_some_and(|p| !ids.contains(&p)))
        .count();
    put_count(&mut o, "orphanSpanCount", orphans);
    let mut errors_by_service: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &t.spans {
        if s.span.status.code == clew_model::StatusCode::Error {
            *errors_by_service.entry(s.service_name()).or_default() += 1;
        }
    }
    let services: Vec<Value> = t
        .services()
        .into_iter()
        .map(|(name, count)| {
            let mut svc = Map::new();
            put_count(
                &mut svc,
                "errorSpanCount",
                errors_by_service.get(name.as_str()).copied().unwrap_or(0),
            );
            put_str(&mut svc, "name", &name);
            put_count(&mut svc, "spanCount", count);
            Value::Object(svc)
        })
        .collect();
    o.insert("services".into(), Value::Array(services));
    Value::Object(o)
}

fn put_str(o: &mut Map<String, Value>, key: &str, s: &str) {
    if !s.is_empty() {
        o.insert(key.into(), json!(s));
    }
}

fn put_count(o: &mut Map<String, Value>, key: &str, n: usize) {
    if n != 0 {
        o.insert(key.into(), json!(n));
    }
}

fn put_nanos(o: &mut Map<String, Value>, key: &str, n: u64) {
    if n != 0 {
        o.insert(key.into(), json!(n.to_string()));
    }
}

/// Reads `TraceQueryParameters` from the query string: camelCase names, with the older
/// snake_case names accepted too, as Jaeger's `parseFindTracesQuery` does.
pub(crate) fn parse_find_query(p: &Params) -> Result<TraceQuery, V3Error> {
    let service = p.get_any(&["query.serviceName", "query.service_name"]);
    let operation = p.get_any(&["query.operationName", "query.operation_name"]);

    let mut tags = Vec::new();
    if let Some(attrs) = p.get("query.attributes") {
        let map: Map<String, Value> = serde_json::from_str(attrs)
            .map_err(|e| V3Error::malformed("query.attributes", e.to_string()))?;
        for (k, v) in map {
            match v {
                Value::String(s) => tags.push((k, s)),
                other => {
                    return Err(V3Error::malformed(
                        "query.attributes",
                        format!("value of {k:?} is {other}, not a string"),
                    ));
                }
            }
        }
    }
    if p.get("query.filter").is_some() {
        return Err(V3Error::bad_request(
            "query.filter is not supported by this server",
        ));
    }

    let min = p.get_any(&["query.startTimeMin", "query.start_time_min"]);
    let max = p.get_any(&["query.startTimeMax", "query.start_time_max"]);
    let (Some((min_name, min)), Some((max_name, max))) = (min, max) else {
        return Err(V3Error::bad_request(
            "query.startTimeMin and query.startTimeMax are required",
        ));
    };
    let start_min = params::parse_rfc3339(min).map_err(|e| V3Error::malformed(min_name, e))?;
    let start_max = params::parse_rfc3339(max).map_err(|e| V3Error::malformed(max_name, e))?;
    if start_min >= start_max {
        return Err(V3Error::bad_request(
            "query.startTimeMin must be before query.startTimeMax",
        ));
    }

    let depth = p.get_any(&[
        "query.searchDepth",
        "query.search_depth",
        "query.num_traces",
    ]);
    let limit = match depth {
        Some((name, v)) => match v.parse::<usize>() {
            Ok(0) => DEFAULT_SEARCH_DEPTH,
            Ok(n) => n,
            Err(e) => return Err(V3Error::malformed(name, e.to_string())),
        },
        None => DEFAULT_SEARCH_DEPTH,
    };
    let duration = |names: [&str; 2]| {
        p.get_any(&names)
            .map(|(name, v)| {
                params::parse_duration_bound(v).map_err(|e| V3Error::malformed(name, e))
            })
            .transpose()
            .map(|d| d.filter(|d| d.0 > 0))
    };
    let min_duration = duration(["query.durationMin", "query.duration_min"])?;
    let max_duration = duration(["query.durationMax", "query.duration_max"])?;
    if let Some((name, v)) = p.get_any(&["query.rawTraces", "query.raw_traces"]) {
        params::parse_go_bool(v).map_err(|e| V3Error::malformed(name, e))?;
    }
    Ok(TraceQuery {
        service: service.map(|(_, v)| v.to_owned()),
        operation: operation.map(|(_, v)| v.to_owned()),
        tags,
        min_duration,
        max_duration,
        start_min: Some(start_min),
        start_max: Some(start_max),
        limit,
    })
}

#[cfg(test)]
mod tests {
    use clew_model::{DurationNanos, UnixNanos};

    use super::*;

    fn parse(query: &str) -> Result<TraceQuery, V3Error> {
        let uri: Uri = format!("/api/v3/traces?{query}").parse().unwrap();
        parse_find_query(&Params::from_uri(&uri).unwrap())
    }

    const RANGE: &str =
        "query.startTimeMin=2023-11-14T22:13:20Z&query.startTimeMax=2023-11-14T23:13:20.5Z";

    #[test]
    fn camel_and_snake_case_params() {
        let q = parse(&format!(
            "{RANGE}&query.serviceName=api&query.operation_name=GET&query.searchDepth=3\
             &query.durationMin=1.2ms&query.duration_max=2s&query.attributes=%7B%22k%22%3A%22v%22%7D"
        ))
        .unwrap();
        assert_eq!(q.service.as_deref(), Some("api"));
        assert_eq!(q.operation.as_deref(), Some("GET"));
        assert_eq!(q.limit, 3);
        assert_eq!(q.min_duration, Some(DurationNanos(1_200_000)));
        assert_eq!(q.max_duration, Some(DurationNanos(2_000_000_000)));
        assert_eq!(q.tags, vec![("k".to_owned(), "v".to_owned())]);
        assert_eq!(q.start_min, Some(UnixNanos(1_700_000_000_000_000_000)));
        assert_eq!(q.start_max, Some(UnixNanos(1_700_003_600_500_000_000)));

        let q = parse(
            "query.start_time_min=2023-11-14T22:13:20Z&query.start_time_max=2023-11-14T22:13:21Z&query.num_traces=4",
        )
        .unwrap();
        assert_eq!(q.limit, 4);
        assert_eq!(parse(RANGE).unwrap().limit, DEFAULT_SEARCH_DEPTH);
    }

    #[test]
    fn bad_params_are_400() {
        for bad in [
            String::new(),
            "query.startTimeMin=2023-11-14T22:13:20Z".to_owned(),
            "query.startTimeMin=2023-11-14T22:13:20Z&query.startTimeMax=2023-11-14T22:13:20Z"
                .to_owned(),
            "query.startTimeMin=yesterday&query.startTimeMax=2023-11-14T22:13:20Z".to_owned(),
            format!("{RANGE}&query.searchDepth=many"),
            format!("{RANGE}&query.durationMin=5"),
            format!("{RANGE}&query.attributes=nope"),
            format!("{RANGE}&query.filter=%7B%7D"),
            format!("{RANGE}&query.rawTraces=maybe"),
        ] {
            let err = parse(&bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} must fail"));
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{bad}");
        }
    }
}
