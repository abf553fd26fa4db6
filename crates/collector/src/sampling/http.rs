//! Sampling strategies over HTTP, as Jaeger's agent and collector served them to SDKs:
//!
//! | path | served by Jaeger on | `strategyType` | who asks |
//! |---|---|---|---|
//! | `GET /sampling?service=NAME` | agent, 5778 | `"PROBABILISTIC"` | jaeger-client Python/Go/Node, OpenTelemetry's Jaeger remote samplers |
//! | `GET /api/sampling?service=NAME` | collector, 14268 | `"PROBABILISTIC"` | SDKs pointed at the collector |
//! | `GET /?service=NAME` | agent, 5778 (legacy) | `0` | the first jaeger-client Java releases |
//!
//! One router serves all three, so the binary can merge it into the 14268 router and serve it
//! alone on 5778. It has no fallback, so that merging it never clashes with another router's.
//! A request must name the service exactly once (`400` with a plain-text reason otherwise, as
//! Jaeger answers); an empty name gets the default strategy.

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::StatusCode;
use http::header::CONTENT_TYPE;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::json::{self, EnumEncoding};
use super::{ProviderError, SamplingEndpoint, SamplingMetrics, SamplingOutcome, StrategyProvider};
use crate::{Receiver, ReceiverError};

/// The agent-style path (5778).
pub const SAMPLING_PATH: &str = "/sampling";
/// The collector-style path (14268).
pub const API_SAMPLING_PATH: &str = "/api/sampling";
/// The agent's legacy path, answered with numeric enums.
pub const LEGACY_PATH: &str = "/";

const NAME: &str = "sampling-http";

#[derive(Clone)]
struct Shared {
    provider: Arc<dyn StrategyProvider>,
    metrics: SamplingMetrics,
}

/// `GET /sampling`, `GET /api/sampling` and `GET /`, each with `?service=NAME`.
pub fn sampling_router(provider: Arc<dyn StrategyProvider>, metrics: SamplingMetrics) -> Router {
    Router::new()
        .route(SAMPLING_PATH, get(agent))
        .route(API_SAMPLING_PATH, get(collector))
        .route(LEGACY_PATH, get(legacy))
        .with_state(Shared { provider, metrics })
}

type QueryPairs = Result<Query<Vec<(String, String)>>, QueryRejection>;

async fn agent(state: State<Shared>, query: QueryPairs) -> Response {
    answer(state, SamplingEndpoint::Sampling, query).await
}

async fn collector(state: State<Shared>, query: QueryPairs) -> Response {
    answer(state, SamplingEndpoint::ApiSampling, query).await
}

async fn legacy(state: State<Shared>, query: QueryPairs) -> Response {
    answer(state, SamplingEndpoint::LegacyRoot, query).await
}

/// Serves [`sampling_router`] alone on a listener the binary bound (the agent-style port,
/// 5778). Implements [`Receiver`] so the binary starts and stops it with the receivers.
pub struct SamplingHttpServer {
    listener: TcpListener,
    router: Router,
}

impl SamplingHttpServer {
    pub fn new(
        listener: TcpListener,
        provider: Arc<dyn StrategyProvider>,
        metrics: SamplingMetrics,
    ) -> Self {
        Self {
            listener,
            router: sampling_router(provider, metrics),
        }
    }

    /// Serves `routes` on the same port too: on Jaeger's collector port (14268),
    /// `POST /api/traces` (the Jaeger Thrift HTTP router) beside `/api/sampling`. `routes` must
    /// not define the sampling paths; it may have a fallback (this router has none).
    #[must_use]
    pub fn merge(mut self, routes: Router) -> Self {
        self.router = self.router.merge(routes);
        self
    }
}

#[async_trait]
impl Receiver for SamplingHttpServer {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn run(self: Box<Self>, shutdown: CancellationToken) -> Result<(), ReceiverError> {
        if let Ok(addr) = self.listener.local_addr() {
            tracing::info!(%addr, "sampling strategies (HTTP) listening");
        }
        crate::receiver::serve_http(NAME, self.listener, self.router, shutdown).await
    }
}

fn path_of(endpoint: SamplingEndpoint) -> &'static str {
    match endpoint {
        SamplingEndpoint::Sampling | SamplingEndpoint::Grpc => SAMPLING_PATH,
        SamplingEndpoint::ApiSampling => API_SAMPLING_PATH,
        SamplingEndpoint::LegacyRoot => LEGACY_PATH,
    }
}

/// Why a strategy request got no strategy; the message is the plain-text answer.
#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error("missing query parameter \"service\": ask GET {path}?service=NAME")]
    MissingService { path: &'static str },
    #[error(
        "query parameter \"service\" is given {count} times: give it once, as in GET {path}?service=NAME"
    )]
    RepeatedService { path: &'static str, count: usize },
    #[error("invalid query string: {0}")]
    Query(#[from] QueryRejection),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("cannot encode the sampling strategy: {0}")]
    Encode(#[from] serde_json::Error),
}

impl Refused {
    fn outcome(&self) -> SamplingOutcome {
        match self {
            Refused::MissingService { .. }
            | Refused::RepeatedService { .. }
            | Refused::Query(_) => SamplingOutcome::BadRequest,
            Refused::Provider(_) | Refused::Encode(_) => SamplingOutcome::Failed,
        }
    }

    fn status(&self) -> StatusCode {
        match self.outcome() {
            SamplingOutcome::BadRequest => StatusCode::BAD_REQUEST,
            SamplingOutcome::Ok | SamplingOutcome::Failed => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Answers and counts one request.
async fn answer(
    State(shared): State<Shared>,
    endpoint: SamplingEndpoint,
    query: QueryPairs,
) -> Response {
    match strategy_json(&shared, endpoint, query).await {
        Ok(body) => {
            shared.metrics.add_request(endpoint, SamplingOutcome::Ok);
            ([(CONTENT_TYPE, "application/json")], body).into_response()
        }
        Err(refused) => {
            let outcome = refused.outcome();
            shared.metrics.add_request(endpoint, outcome);
            if outcome == SamplingOutcome::Failed {
                tracing::warn!(endpoint = endpoint.as_str(), error = %refused, "sampling strategy request failed");
            }
            (
                refused.status(),
                [(CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("{refused}\n"),
            )
                .into_response()
        }
    }
}

async fn strategy_json(
    shared: &Shared,
    endpoint: SamplingEndpoint,
    query: QueryPairs,
) -> Result<Vec<u8>, Refused> {
    let service = service_param(endpoint, query?.0)?;
    let strategy = shared.provider.strategy(&service).await?;
    let enums = match endpoint {
        SamplingEndpoint::LegacyRoot => EnumEncoding::Numbers,
        SamplingEndpoint::Sampling | SamplingEndpoint::ApiSampling | SamplingEndpoint::Grpc => {
            EnumEncoding::Names
        }
    };
    Ok(json::encode(&strategy, enums)?)
}

/// The one `service` parameter.
fn service_param(
    endpoint: SamplingEndpoint,
    pairs: Vec<(String, String)>,
) -> Result<String, Refused> {
    let path = path_of(endpoint);
    let mut services = pairs.into_iter().filter(|(key, _)| key == "service");
    match (services.next(), services.next()) {
        (Some((_, service)), None) => Ok(service),
        (None, _) => Err(Refused::MissingService { path }),
        (Some(_), Some(_)) => Err(Refused::RepeatedService {
            path,
            count: 2 + services.count(),
        }),
    }
}
