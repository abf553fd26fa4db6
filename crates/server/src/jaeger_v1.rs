//! Jaeger's v1 HTTP JSON API (`/api/…`), which Grafana's Jaeger data source and older Jaeger
//! UIs call: services, operations, search and trace by id, in the `structuredResponse`
//! envelope `{data, total, limit, offset, errors}`.
//!
//! Source of the shapes: jaeger `cmd/jaeger/internal/extension/jaegerquery/internal/
//! http_handler.go` and `query_parser.go` (search endpoints as of the commit before
//! 639eefe04, which removed them from Jaeger itself). See `docs/api-shapes.md`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use clew_model::{DurationNanos, TraceId, UnixNanos};
use clew_query::{Querier, QueryError, Trace, TraceQuery};
use serde_json::{Value, json};

use crate::params::{self, Params};
use crate::{jaeger_json, json_response};

/// Jaeger's default search depth (`defaultQueryLimit`).
const DEFAULT_LIMIT: usize = 100;
/// How far back a search without `start` looks (`defaultTraceQueryLookbackDuration`).
const DEFAULT_LOOKBACK: DurationNanos = DurationNanos(2 * 24 * 3_600 * 1_000_000_000);

/// An error in the v1 envelope: `{"data": null, …, "errors": [{"code", "msg"}]}`.
#[derive(Debug)]
pub(crate) struct V1Error {
    status: StatusCode,
    msg: String,
}

impl V1Error {
    pub(crate) fn bad_request(msg: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            msg: msg.into(),
        }
    }

    fn not_found() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            msg: "trace not found".into(),
        }
    }

    fn param(name: &str, e: String) -> Self {
        Self::bad_request(format!("unable to parse param '{name}': {e}"))
    }
}

impl From<QueryError> for V1Error {
    fn from(e: QueryError) -> Self {
        tracing::error!(error = %e, "jaeger v1 query failed");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            msg: e.to_string(),
        }
    }
}

impl IntoResponse for V1Error {
    fn into_response(self) -> Response {
        let body = envelope(
            Value::Null,
            0,
            json!([{"code": self.status.as_u16(), "msg": self.msg}]),
        );
        json_response(self.status, &body)
    }
}

type V1Result = Result<Response, V1Error>;

/// Jaeger's `structuredResponse`. `total` is set only by the listing endpoints; `limit`
/// and `offset` are always zero; `errors` is `null` when there are none.
fn envelope(data: Value, total: usize, errors: Value) -> Value {
    json!({"data": data, "total": total, "limit": 0, "offset": 0, "errors": errors})
}

fn ok(body: &Value) -> V1Result {
    Ok(json_response(StatusCode::OK, body))
}

pub(crate) fn tenant(headers: &HeaderMap) -> Result<clew_model::TenantId, V1Error> {
    params::tenant(headers).map_err(V1Error::bad_request)
}

fn query_params(uri: &Uri) -> Result<Params, V1Error> {
    Params::from_uri(uri).map_err(V1Error::bad_request)
}

/// `GET /api/services` → `{"data": ["svc", …], "total": n, …}`.
pub(crate) async fn services(State(q): State<Querier>, headers: HeaderMap) -> V1Result {
    let tenant = tenant(&headers)?;
    let services = q.services(&tenant).await?;
    ok(&envelope(json!(services), services.len(), Value::Null))
}

/// `GET /api/services/{service}/operations` → operation names of every kind, unique.
pub(crate) async fn service_operations(
    State(q): State<Querier>,
    headers: HeaderMap,
    Path(service): Path<String>,
) -> V1Result {
    let tenant = tenant(&headers)?;
    let mut names: Vec<String> = q
        .operations(&tenant, &service, None)
        .await?
        .into_iter()
        .map(|op| op.name)
        .collect();
    names.sort();
    names.dedup();
    ok(&envelope(json!(names), names.len(), Value::Null))
}

/// `GET /api/operations?service=&spanKind=` → `[{"name", "spanKind"}]`, `spanKind` as stored
/// (lowercase, empty for unspecified).
pub(crate) async fn operations(State(q): State<Querier>, headers: HeaderMap, uri: Uri) -> V1Result {
    let tenant = tenant(&headers)?;
    let p = query_params(&uri)?;
    let service = p
        .get("service")
        .ok_or_else(|| V1Error::bad_request("parameter 'service' is required"))?;
    let kind = params::parse_span_kind(p.get("spanKind")).map_err(V1Error::bad_request)?;
    let ops = q.operations(&tenant, service, kind).await?;
    let data: Vec<Value> = ops
        .iter()
        .map(|op| json!({"name": op.name, "spanKind": op.kind.as_lower_str()}))
        .collect();
    ok(&envelope(json!(data), ops.len(), Value::Null))
}

/// `GET /api/traces/{traceID}` → `{"data": [trace], …}`; 404 with "trace not found".
pub(crate) async fn trace(q: &Querier, headers: &HeaderMap, id: &str, uri: &Uri) -> V1Result {
    let tenant = tenant(headers)?;
    let id = params::parse_jaeger_trace_id(id, true).map_err(V1Error::bad_request)?;
    let p = query_params(uri)?;
    for name in ["start", "end"] {
        if let Some(v) = p.get(name) {
            params::parse_micros(v).map_err(|e| V1Error::param(name, e))?;
        }
    }
    if let Some(v) = p.get("raw") {
        params::parse_go_bool(v).map_err(|e| V1Error::param("raw", e))?;
    }
    let trace = q.trace(&tenant, id).await?.ok_or_else(V1Error::not_found)?;
    ok(&envelope(
        json!([jaeger_json::trace(&trace)]),
        0,
        Value::Null,
    ))
}

/// What a v1 search asks for: either traces by id, or a search.
pub(crate) struct SearchRequest {
    trace_ids: Vec<TraceId>,
    query: TraceQuery,
}

/// `GET /api/traces?service=&operation=&tags=&tag=&start=&end=&minDuration=&maxDuration=&limit=&lookback=&traceID=`.
pub(crate) async fn search(State(q): State<Querier>, headers: HeaderMap, uri: Uri) -> V1Result {
    let tenant = tenant(&headers)?;
    let req = parse_search(&query_params(&uri)?, UnixNanos::now())?;
    if !req.trace_ids.is_empty() {
        let mut found: Vec<Trace> = Vec::new();
        let mut errors: Vec<Value> = Vec::new();
        for id in req.trace_ids {
            match q.trace(&tenant, id).await? {
                Some(t) => found.push(t),
                None => errors.push(json!({
                    "msg": "trace not found",
                    "traceID": jaeger_json::trace_id(&id),
                })),
            }
        }
        let errors = if errors.is_empty() {
            Value::Null
        } else {
            json!(errors)
        };
        let data: Vec<Value> = found.iter().map(jaeger_json::trace).collect();
        return ok(&envelope(json!(data), 0, errors));
    }
    let traces = q.search(&tenant, &req.query).await?;
    let data: Vec<Value> = traces.iter().map(jaeger_json::trace).collect();
    ok(&envelope(json!(data), 0, Value::Null))
}

pub(crate) fn parse_search(p: &Params, now: UnixNanos) -> Result<SearchRequest, V1Error> {
    let end = match p.get("end") {
        Some(v) => params::parse_micros(v).map_err(|e| V1Error::param("end", e))?,
        None => now,
    };
    let start = match p.get("start") {
        Some(v) => params::parse_micros(v).map_err(|e| V1Error::param("start", e))?,
        // Jaeger ignores `lookback` (its UI always sends `start`); honouring it here only
        // matters for hand-written requests.
        None => match p.get("lookback").map(params::parse_duration_bound) {
            Some(Ok(lookback)) => end.saturating_sub(lookback),
            _ => now.saturating_sub(DEFAULT_LOOKBACK),
        },
    };

    let mut tags: Vec<(String, String)> = Vec::new();
    let mut put_tag = |k: String, v: String| match tags.iter_mut().find(|(key, _)| *key == k) {
        Some(existing) => existing.1 = v,
        None => tags.push((k, v)),
    };
    for tag in p.all("tag") {
        match tag.split_once(':') {
            Some((k, v)) => put_tag(k.to_owned(), v.to_owned()),
            None => {
                return Err(V1Error::bad_request(format!(
                    "malformed 'tag' parameter, expecting key:value, received: {tag}"
                )));
            }
        }
    }
    for json_tags in p.all("tags").filter(|v| !v.is_empty()) {
        let map: serde_json::Map<String, Value> = serde_json::from_str(json_tags).map_err(|e| {
            V1Error::bad_request(format!(
                "malformed 'tags' parameter, cannot unmarshal JSON: {e}"
            ))
        })?;
        for (k, v) in map {
            match v {
                Value::String(s) => put_tag(k, s),
                other => {
                    return Err(V1Error::bad_request(format!(
                        "malformed 'tags' parameter, cannot unmarshal JSON: value of {k:?} is {other}, not a string"
                    )));
                }
            }
        }
    }

    let limit = match p.get("limit") {
        Some(v) => match v.parse::<usize>() {
            Ok(0) => DEFAULT_LIMIT,
            Ok(n) => n,
            Err(e) => return Err(V1Error::param("limit", e.to_string())),
        },
        None => DEFAULT_LIMIT,
    };
    let min_duration = p
        .get("minDuration")
        .map(params::parse_duration_bound)
        .transpose()
        .map_err(|e| V1Error::param("minDuration", e))?
        .filter(|d| d.0 > 0);
    let max_duration = p
        .get("maxDuration")
        .map(params::parse_duration_bound)
        .transpose()
        .map_err(|e| V1Error::param("maxDuration", e))?
        .filter(|d| d.0 > 0);
    if let (Some(min), Some(max)) = (min_duration, max_duration)
        && max < min
    {
        return Err(V1Error::bad_request(
            "'maxDuration' should be greater than 'minDuration'",
        ));
    }
    let trace_ids = p
        .all("traceID")
        .map(|id| {
            params::parse_jaeger_trace_id(id, false)
                .map_err(|e| V1Error::bad_request(format!("cannot parse traceID param: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(v) = p.get("raw") {
        params::parse_go_bool(v).map_err(|e| V1Error::param("raw", e))?;
    }
    Ok(SearchRequest {
        trace_ids,
        query: TraceQuery {
            service: p.get("service").map(str::to_owned),
            operation: p.get("operation").map(str::to_owned),
            tags,
            min_duration,
            max_duration,
            start_min: Some(start),
            start_max: Some(end),
            limit,
        },
    })
}

/// Jaeger's default look-back for the dependency graph: one day.
const DEPENDENCY_LOOKBACK_MS: u64 = 24 * 60 * 60 * 1000;

/// `GET /api/dependencies?endTs=<ms>&lookback=<ms>` → `[{"parent", "child", "callCount"}]`,
/// both parameters optional (now, one day) as in Jaeger.
pub(crate) async fn dependencies(
    State(q): State<Querier>,
    headers: HeaderMap,
    uri: Uri,
) -> V1Result {
    let tenant = tenant(&headers)?;
    let p = query_params(&uri)?;
    let millis = |name: &str| -> Result<Option<u64>, V1Error> {
        p.get(name)
            .map(|v| {
                v.parse::<u64>().map_err(|e| {
                    V1Error::bad_request(format!("unable to parse param '{name}': {e}"))
                })
            })
            .transpose()
    };
    let end = millis("endTs")?
        .map(|ms| UnixNanos(ms.saturating_mul(1_000_000)))
        .unwrap_or_else(UnixNanos::now);
    let lookback = DurationNanos(
        millis("lookback")?
            .unwrap_or(DEPENDENCY_LOOKBACK_MS)
            .saturating_mul(1_000_000),
    );
    let links = q.dependencies(&tenant, end, lookback).await?;
    let data: Vec<Value> = links
        .iter()
        .map(|l| json!({"parent": l.parent, "child": l.child, "callCount": l.call_count}))
        .collect();
    ok(&envelope(json!(data), 0, Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<SearchRequest, V1Error> {
        let uri: Uri = format!("/api/traces?{query}").parse().unwrap();
        parse_search(
            &Params::from_uri(&uri).unwrap(),
            UnixNanos(10_000_000_000_000_000),
        )
    }

    #[test]
    fn search_params_map_to_a_trace_query() {
        let req = parse(
            "service=api&operation=GET+%2F&start=1000&end=2000&limit=7&minDuration=1.2ms&maxDuration=1s\
             &tag=http.method:GET&tag=url:http://x&tags=%7B%22error%22%3A%22true%22%2C%22http.method%22%3A%22POST%22%7D",
        )
        .unwrap();
        let q = req.query;
        assert_eq!(q.service.as_deref(), Some("api"));
        assert_eq!(q.operation.as_deref(), Some("GET /"));
        assert_eq!(q.start_min, Some(UnixNanos(1_000_000)));
        assert_eq!(q.start_max, Some(UnixNanos(2_000_000)));
        assert_eq!(q.limit, 7);
        assert_eq!(q.min_duration, Some(DurationNanos(1_200_000)));
        assert_eq!(q.max_duration, Some(DurationNanos(1_000_000_000)));
        // JSON `tags` override `tag` pairs with the same key, as Jaeger's maps.Copy does.
        assert_eq!(
            q.tags,
            vec![
                ("http.method".to_owned(), "POST".to_owned()),
                ("url".to_owned(), "http://x".to_owned()),
                ("error".to_owned(), "true".to_owned()),
            ]
        );
        assert!(req.trace_ids.is_empty());
    }

    #[test]
    fn search_defaults() {
        let q = parse("service=api").unwrap().query;
        assert_eq!(q.limit, DEFAULT_LIMIT);
        assert_eq!(q.start_max, Some(UnixNanos(10_000_000_000_000_000)));
        assert_eq!(
            q.start_min,
            Some(UnixNanos(10_000_000_000_000_000).saturating_sub(DEFAULT_LOOKBACK))
        );
        let q = parse("lookback=1h&end=3600000000").unwrap().query;
        assert_eq!(q.start_min, Some(UnixNanos(0)));
        assert_eq!(q.service, None);
    }

    #[test]
    fn bad_search_params_are_400() {
        for bad in [
            "start=yesterday",
            "end=-5",
            "limit=lots",
            "minDuration=5",
            "maxDuration=-1s",
            "minDuration=2s&maxDuration=1s",
            "tag=nocolon",
            "tags=%7Bnot-json",
            "tags=%7B%22a%22%3A1%7D",
            "traceID=xyz",
            "raw=maybe",
        ] {
            let err = parse(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} must fail"));
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    #[test]
    fn trace_ids_in_search() {
        let req = parse("traceID=abc&traceID=0102030405060708090a0b0c0d0e0f10").unwrap();
        assert_eq!(req.trace_ids.len(), 2);
        assert_eq!(req.trace_ids[0], TraceId::from_u64_pair(0, 0xabc));
    }
}
