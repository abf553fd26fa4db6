//! Clew's HTTP query APIs and admin endpoints.
//!
//! Owns the wire shapes that Jaeger UI, Grafana's Jaeger data source and Grafana's Tempo
//! data source read, each reproduced from the upstream source that writes it (paths in
//! every module's header and in `docs/api-shapes.md`):
//! - [`query_router`] (port 16686): Jaeger v1 (`/api/services`, `/api/operations`,
//!   `/api/traces`, `/api/dependencies`), Jaeger api_v3 (`/api/v3/…`), Tempo (`/api/echo`,
//!   `/api/v2/traces/{id}`, protobuf `/api/traces/{id}`; search `/api/search`, tag names
//!   `/api/search/tags` and `/api/v2/search/tags`, tag values
//!   `/api/search/tag/{tag}/values` and `/api/v2/search/tag/{tag}/values`,
//!   `/api/status/buildinfo`; all of them also under `/tempo`) and Zipkin v2
//!   (`/api/v2/services`, `/spans`, `/remoteServices`, `/traces`, `/trace/{id}`,
//!   `/dependencies`). The tenant is the `X-Scope-OrgID` header (default `single-tenant`; an
//!   invalid one is a 400).
//!   The same port answers Tempo's streaming gRPC querier (`tempopb.StreamingQuerier`,
//!   h2c) that Grafana's Tempo data source dials for TraceQL searches (`tempo_grpc`); Tempo's
//!   rules shared by its HTTP and gRPC search live in `tempo_common`.
//!   Clew's own API for its UI: `/api/clew/traces/{id}` (OTLP JSON plus assembly warnings).
//! - [`admin_router`] (port 14269): `/metrics`, `/healthz`, `/readyz` with [`Readiness`].
//!
//! Must not touch: trace logic (assembly, search semantics, summaries' root choice,
//! tag-to-field mapping) — that lives in `clew-query`, reached only through
//! [`clew_query::Querier`] — nor storage. Everything here is parsing requests and
//! renaming fields; the model stays free of serde derives, so every shape is an explicit
//! function (`jaeger_json`, `otlp_json`, `tempo_search`'s jsonpb over `tempo_common`'s
//! `tempopb` messages).

mod admin;
mod clew_api;
// Fuzz targets' and regression tests' way in (see `fuzzing.rs`); not a stable API.
#[doc(hidden)]
pub mod fuzzing;
mod jaeger_json;
mod jaeger_v1;
mod jaeger_v3;
mod otlp_json;
mod params;
mod tempo;
mod tempo_common;
mod tempo_grpc;
mod tempo_search;
mod zipkin;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clew_query::Querier;

pub use admin::{Readiness, admin_router, flush_router};

/// Every query API on one router (Jaeger v1, Jaeger v3, Tempo).
pub fn query_router(querier: Querier) -> Router {
    Router::new()
        // Jaeger v1
        .route("/api/services", get(jaeger_v1::services))
        .route(
            "/api/services/{service}/operations",
            get(jaeger_v1::service_operations),
        )
        .route("/api/operations", get(jaeger_v1::operations))
        .route("/api/traces", get(jaeger_v1::search))
        .route("/api/dependencies", get(jaeger_v1::dependencies))
        .route("/api/traces/{trace_id}", get(trace_by_id))
        // Jaeger api_v3
        .route("/api/v3/services", get(jaeger_v3::services))
        .route("/api/v3/operations", get(jaeger_v3::operations))
        .route("/api/v3/traces", get(jaeger_v3::find_traces))
        .route("/api/v3/traces/{trace_id}", get(jaeger_v3::trace))
        .route("/api/v3/trace-summaries", get(jaeger_v3::trace_summaries))
        // Tempo
        .route("/api/echo", get(tempo::echo))
        .route("/api/v2/traces/{trace_id}", get(tempo::trace_v2))
        .merge(tempo_search_router())
        // Tempo's API whole under a prefix (Tempo's `http_api_prefix`), where
        // `/api/traces/{id}` is Tempo's alone and answers its `batches` JSON too.
        .nest("/tempo", tempo_router())
        // Zipkin v2 (`/api/v2/traces/{id}` above is Tempo's; Zipkin's is `/api/v2/trace/{id}`)
        .route("/api/v2/services", get(zipkin::services))
        .route("/api/v2/spans", get(zipkin::span_names))
        .route("/api/v2/remoteServices", get(zipkin::remote_services))
        .route("/api/v2/traces", get(zipkin::traces))
        .route("/api/v2/trace/{trace_id}", get(zipkin::trace))
        .route("/api/v2/dependencies", get(zipkin::dependencies))
        .route("/api/v2/autocompleteKeys", get(zipkin::autocomplete_empty))
        .route(
            "/api/v2/autocompleteValues",
            get(zipkin::autocomplete_empty),
        )
        // Clew's own
        .route("/api/clew/traces/{trace_id}", get(clew_api::trace))
        .with_state(querier.clone())
        // Tempo's streaming gRPC querier (`/tempopb.StreamingQuerier/…`), which Grafana dials
        // on this port; HTTP/1.1 and h2c share it, since `axum::serve` speaks both.
        .merge(tempo_grpc::router(querier))
}

fn tempo_router() -> Router<Querier> {
    Router::new()
        .route("/api/echo", get(tempo::echo))
        .route("/api/traces/{trace_id}", get(tempo::trace_v1))
        .route("/api/v2/traces/{trace_id}", get(tempo::trace_v2))
        .merge(tempo_search_router())
}

/// Tempo's search, tags and build info, served at the root and under `/tempo`.
fn tempo_search_router() -> Router<Querier> {
    Router::new()
        .route("/api/search", get(tempo_search::search))
        .route("/api/search/tags", get(tempo_search::search_tags))
        .route("/api/v2/search/tags", get(tempo_search::search_tags_v2))
        .route(
            "/api/search/tag/{tag}/values",
            get(tempo_search::tag_values),
        )
        .route(
            "/api/v2/search/tag/{tag}/values",
            get(tempo_search::tag_values_v2),
        )
        .route("/api/status/buildinfo", get(tempo_search::buildinfo))
}

/// `/api/traces/{id}` is both Jaeger's v1 trace endpoint and Tempo's v1 one. Tempo's
/// clients (Grafana, tempo-cli) ask for protobuf, Jaeger's (UI, Grafana) for JSON, so
/// `Accept: application/protobuf` selects Tempo's answer and anything else Jaeger's.
async fn trace_by_id(
    State(q): State<Querier>,
    headers: HeaderMap,
    Path(id): Path<String>,
    uri: Uri,
) -> Response {
    if tempo::wants_protobuf(&headers) {
        tempo::trace_v1_protobuf(&q, &headers, &id, &uri)
            .await
            .into_response()
    } else {
        jaeger_v1::trace(&q, &headers, &id, &uri)
            .await
            .into_response()
    }
}

/// A JSON body with `Content-Type: application/json`, as every JSON endpoint here answers.
pub(crate) fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
