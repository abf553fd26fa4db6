//! Clew's own HTTP API (`/api/clew/…`), for Clew's web UI and tools: shapes of Clew's
//! choosing where no peer's API carries what they need. Errors are
//! `{"error": {"httpCode", "message"}}`, as Jaeger v3's, so one client reads both.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use clew_query::Querier;
use serde_json::json;

use crate::json_response;
use crate::otlp_json::{self, Dialect};
use crate::params;

fn error(status: StatusCode, message: String) -> Response {
    json_response(
        status,
        &json!({"error": {"httpCode": status.as_u16(), "message": message}}),
    )
}

/// `GET /api/clew/traces/{trace_id}` → `{"traceId", "resourceSpans", "warnings"}`: the trace
/// as Jaeger v3 gives it (OTLP JSON, hex ids) plus what its assembly noticed and changed
/// (clock-skew shifts, missing parents), which OTLP has no place for.
pub(crate) async fn trace(
    State(q): State<Querier>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let tenant = match params::tenant(&headers) {
        Ok(t) => t,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let id = match params::parse_jaeger_trace_id(&id, true) {
        Ok(id) => id,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("trace id: {e}")),
    };
    match q.trace(&tenant, id).await {
        Ok(Some(t)) => json_response(
            StatusCode::OK,
            &json!({
                "traceId": t.trace_id.to_hex(),
                "resourceSpans": otlp_json::resource_spans(&t.to_batch(), Dialect::Pdata),
                "warnings": t.warnings,
            }),
        ),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("trace {} not found", id.to_hex()),
        ),
        Err(e) => {
            tracing::error!(error = %e, "clew trace query failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
    }
}
