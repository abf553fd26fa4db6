//! The admin endpoints (port 14269 by default): Prometheus metrics, liveness and readiness,
//! and `POST /flush` (cut every tenant's head into a block now, as Tempo's ingester offers).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use clew_store::Store;
use prometheus_client::registry::Registry;

/// `prometheus_client`'s text encoder writes OpenMetrics (it ends with `# EOF`), which
/// Prometheus negotiates and parses.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Whether the process is ready to serve queries. Starts not ready; the binary sets it once
/// replay and wiring are done, and clears it on shutdown. Clones share one flag.
#[derive(Clone, Debug, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set_ready(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

#[derive(Clone)]
struct AdminState {
    registry: Arc<Registry>,
    readiness: Readiness,
}

/// `/metrics`, `/healthz` (200 "ok" while the process serves) and `/readyz` (200 "ready",
/// else 503 "not ready").
pub fn admin_router(registry: Arc<Registry>, readiness: Readiness) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(AdminState {
            registry,
            readiness,
        })
}

/// `POST /flush`: flushes every tenant's head into blocks and answers the blocks written,
/// `{"blocks": [{"tenant", "id", "spans", "traces", "bytes"}]}`.
pub fn flush_router(store: Arc<Store>) -> Router {
    Router::new().route("/flush", post(flush)).with_state(store)
}

async fn flush(State(store): State<Arc<Store>>) -> Response {
    match store.flush_all().await {
        Ok(blocks) => {
            let blocks: Vec<serde_json::Value> = blocks
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "tenant": m.tenant.as_str(),
                        "id": m.id,
                        "spans": m.span_count,
                        "traces": m.trace_count,
                        "bytes": m.size_bytes,
                    })
                })
                .collect();
            crate::json_response(StatusCode::OK, &serde_json::json!({ "blocks": blocks }))
        }
        Err(e) => {
            tracing::error!(error = %e, "flush failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("flush failed: {e}\n"),
            )
                .into_response()
        }
    }
}

async fn metrics(State(s): State<AdminState>) -> Response {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &s.registry) {
        Ok(()) => ([(header::CONTENT_TYPE, OPENMETRICS)], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "encoding metrics failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "encoding metrics failed\n",
            )
                .into_response()
        }
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(s): State<AdminState>) -> Response {
    if s.readiness.is_ready() {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use prometheus_client::metrics::counter::Counter;
    use tower::ServiceExt as _;

    use super::*;

    async fn get(router: Router, uri: &str) -> (StatusCode, Option<String>, String) {
        let resp = router
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let ct = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        (status, ct, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn metrics_are_openmetrics_text() {
        let mut registry = Registry::default();
        let counter = Counter::<u64>::default();
        registry.register("clew_test_requests", "Requests seen.", counter.clone());
        counter.inc_by(3);
        let router = admin_router(Arc::new(registry), Readiness::new());
        let (status, ct, body) = get(router, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ct.as_deref(), Some(OPENMETRICS));
        assert!(body.contains("clew_test_requests_total 3"), "{body}");
        assert!(body.ends_with("# EOF\n"), "{body}");
    }

    #[tokio::test]
    async fn health_and_readiness() {
        let readiness = Readiness::new();
        let router = admin_router(Arc::new(Registry::default()), readiness.clone());
        assert_eq!(
            get(router.clone(), "/healthz").await,
            (
                StatusCode::OK,
                Some("text/plain; charset=utf-8".into()),
                "ok".into()
            )
        );
        let (status, _, body) = get(router.clone(), "/readyz").await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, "not ready")
        );
        readiness.set_ready(true);
        let (status, _, body) = get(router.clone(), "/readyz").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ready"));
        readiness.set_ready(false);
        assert_eq!(
            get(router, "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[tokio::test]
    async fn flush_writes_blocks_and_lists_them() {
        use clew_model::{
            AnyValue, KeyValue, Resource, ResourceSpans, ScopeSpans, Span, SpanId, TenantId,
            TraceBatch, TraceId, UnixNanos,
        };
        let dir = tempfile::tempdir().unwrap();
        let mut registry = Registry::default();
        let store = Arc::new(
            Store::open(
                clew_store::StoreConfig {
                    data_dir: dir.path().to_path_buf(),
                    ..Default::default()
                },
                &mut registry,
            )
            .unwrap(),
        );
        let batch = TraceBatch {
            resource_spans: vec![ResourceSpans {
                resource: Resource {
                    attributes: vec![KeyValue::new("service.name", AnyValue::String("a".into()))],
                    dropped_attributes_count: 0,
                },
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: TraceId([7; 16]),
                        span_id: SpanId([1; 8]),
                        name: "op".into(),
                        start: UnixNanos(10),
                        end: UnixNanos(20),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        store.append(&TenantId::default(), batch).await.unwrap();
        let router = flush_router(Arc::clone(&store));
        let resp = router
            .clone()
            .oneshot(Request::post("/flush").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let body: serde_json::Value =
            serde_json::from_slice(&to_bytes(resp.into_body(), 1 << 20).await.unwrap()).unwrap();
        assert_eq!(body["blocks"][0]["spans"], 1);
        assert_eq!(body["blocks"][0]["tenant"], "single-tenant");
        assert_eq!(store.blocks().len(), 1);
        // nothing left: an empty list
        let resp = router
            .oneshot(Request::post("/flush").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let body: serde_json::Value =
            serde_json::from_slice(&to_bytes(resp.into_body(), 1 << 20).await.unwrap()).unwrap();
        assert_eq!(body["blocks"], serde_json::json!([]));
    }
}
