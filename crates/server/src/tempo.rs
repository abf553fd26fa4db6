//! Tempo's HTTP API for trace retrieval, which Grafana's Tempo data source calls:
//! `/api/echo`, `/api/v2/traces/{id}` and the protobuf form of `/api/traces/{id}`.
//!
//! Protobuf when `Accept` contains `application/protobuf`, else gogo-jsonpb JSON (base64
//! ids, enum names). `tempopb.Trace` has the wire format of OTLP `TracesData` (one field,
//! `repeated ResourceSpans = 1`), so it is encoded from `opentelemetry-proto`'s type; the
//! v2 wrapper `TraceByIDResponse` is declared here.
//!
//! Source of the shapes: tempo `pkg/tempopb/tempo.proto`, `pkg/api/http.go`
//! (`MarshalingFormatFromAcceptHeader`, `ParseTraceByIDRequest`), `pkg/util/traceid.go`,
//! `modules/frontend/combiner/trace_by_id.go` and `trace_by_id_v2.go`,
//! `modules/querier/http.go`. See `docs/api-shapes.md`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use clew_model::TenantId;
use clew_model::otlp::{batch_to_proto, proto::trace::v1 as pt};
use clew_query::{Querier, QueryError, Trace};
use prost::Message as _;
use serde_json::json;

use crate::otlp_json::{self, Dialect};
use crate::params::{self, Params};

const PROTOBUF: &str = "application/protobuf";

/// `tempopb.Trace`: `repeated ResourceSpans resourceSpans = 1`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TempoTrace {
    #[prost(message, repeated, tag = "1")]
    pub resource_spans: Vec<pt::ResourceSpans>,
}

/// `tempopb.TraceByIDResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TraceByIdResponse {
    #[prost(message, optional, tag = "1")]
    pub trace: Option<TempoTrace>,
    #[prost(message, optional, tag = "2")]
    pub metrics: Option<TraceByIdMetrics>,
    /// `PartialStatus`: 0 = COMPLETE, 1 = PARTIAL.
    #[prost(int32, tag = "3")]
    pub status: i32,
    #[prost(string, tag = "4")]
    pub message: String,
}

/// `tempopb.TraceByIDMetrics`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct TraceByIdMetrics {
    #[prost(uint64, tag = "1")]
    pub inspected_bytes: u64,
    #[prost(uint64, tag = "2")]
    pub backend_reads: u64,
    #[prost(uint64, tag = "3")]
    pub backend_bytes: u64,
    #[prost(map = "string, int64", tag = "4")]
    pub additional_metrics: std::collections::HashMap<String, i64>,
}

/// Tempo answers errors in plain text, and "not found" with an empty body.
#[derive(Debug)]
pub(crate) enum TempoError {
    BadRequest(String),
    NotFound,
    Internal(String),
}

impl From<QueryError> for TempoError {
    fn from(e: QueryError) -> Self {
        tracing::error!(error = %e, "tempo query failed");
        Self::Internal(e.to_string())
    }
}

impl IntoResponse for TempoError {
    fn into_response(self) -> Response {
        let text = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
        match self {
            Self::BadRequest(msg) => {
                (StatusCode::BAD_REQUEST, text, format!("{msg}\n")).into_response()
            }
            Self::NotFound => StatusCode::NOT_FOUND.into_response(),
            Self::Internal(msg) => {
                (StatusCode::INTERNAL_SERVER_ERROR, text, format!("{msg}\n")).into_response()
            }
        }
    }
}

type TempoResult = Result<Response, TempoError>;

/// Whether the client asked for protobuf (Tempo checks whether `Accept` contains it).
pub(crate) fn wants_protobuf(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains(PROTOBUF))
}

/// `GET /api/echo` → `echo`.
pub(crate) async fn echo() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "echo",
    )
        .into_response()
}

/// `GET /api/traces/{id}` with `Accept: application/protobuf` → `tempopb.Trace` bytes.
/// (Without it the path answers Jaeger's v1 JSON; see `lib.rs`.)
pub(crate) async fn trace_v1_protobuf(
    q: &Querier,
    headers: &HeaderMap,
    id: &str,
    uri: &Uri,
) -> TempoResult {
    let trace = find(q, headers, id, uri).await?;
    let body = TempoTrace {
        resource_spans: batch_to_proto(&trace.to_batch()),
    }
    .encode_to_vec();
    Ok(([(header::CONTENT_TYPE, PROTOBUF)], body).into_response())
}

/// `GET /tempo/api/traces/{id}`: Tempo's v1 answer whole — protobuf by `Accept`, else
/// Tempo's JSON `{"batches": …}`. Under the `/tempo` prefix nothing else claims the path.
pub(crate) async fn trace_v1(
    State(q): State<Querier>,
    headers: HeaderMap,
    Path(id): Path<String>,
    uri: Uri,
) -> TempoResult {
    if wants_protobuf(&headers) {
        return trace_v1_protobuf(&q, &headers, &id, &uri).await;
    }
    let trace = find(&q, &headers, &id, &uri).await?;
    let body = json!({"batches": otlp_json::resource_spans(&trace.to_batch(), Dialect::Jsonpb)});
    Ok(crate::json_response(StatusCode::OK, &body))
}

/// `GET /api/v2/traces/{id}` → `TraceByIDResponse`, protobuf or JSON by `Accept`.
pub(crate) async fn trace_v2(
    State(q): State<Querier>,
    headers: HeaderMap,
    Path(id): Path<String>,
    uri: Uri,
) -> TempoResult {
    let trace = find(&q, &headers, &id, &uri).await?;
    let batch = trace.to_batch();
    if wants_protobuf(&headers) {
        let body = TraceByIdResponse {
            trace: Some(TempoTrace {
                resource_spans: batch_to_proto(&batch),
            }),
            metrics: Some(TraceByIdMetrics::default()),
            status: 0,
            message: String::new(),
        }
        .encode_to_vec();
        return Ok(([(header::CONTENT_TYPE, PROTOBUF)], body).into_response());
    }
    // jsonpb leaves out `status` (COMPLETE = 0) and the empty `message`; the frontend
    // always sets `metrics`, whose zero fields are left out too.
    let body = json!({
        "trace": {"resourceSpans": otlp_json::resource_spans(&batch, Dialect::Jsonpb)},
        "metrics": {},
    });
    Ok(crate::json_response(StatusCode::OK, &body))
}

/// Validates a trace-by-id request as Tempo does and looks the trace up.
async fn find(q: &Querier, headers: &HeaderMap, id: &str, uri: &Uri) -> Result<Trace, TempoError> {
    let tenant: TenantId = params::tenant(headers).map_err(TempoError::BadRequest)?;
    let id = params::parse_tempo_trace_id(id).map_err(TempoError::BadRequest)?;
    let p = Params::from_uri(uri).map_err(TempoError::BadRequest)?;
    if let Some(mode) = p.get("mode")
        && !["all", "ingesters", "blocks", "external"].contains(&mode)
    {
        return Err(TempoError::BadRequest(format!(
            "invalid value for mode {mode}"
        )));
    }
    let seconds = |name: &str| -> Result<Option<i64>, TempoError> {
        p.get(name)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|e| TempoError::BadRequest(format!("invalid {name}: {e}")))
            })
            .transpose()
    };
    let (start, end) = (seconds("start")?, seconds("end")?);
    // `start` and `end` only narrow which blocks Tempo reads; the head answers whole
    // traces, so they are validated and otherwise ignored.
    if let (Some(start), Some(end)) = (start, end)
        && start != 0
        && end != 0
        && end <= start
    {
        return Err(TempoError::BadRequest(format!(
            "http parameter start must be before end. received start={start} end={end}"
        )));
    }
    q.trace(&tenant, id).await?.ok_or(TempoError::NotFound)
}
