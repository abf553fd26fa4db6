//! Sampling strategy request metrics: every request to a strategy endpoint is counted once,
//! by endpoint and outcome, as `clew_sampling_strategy_requests_total`.

use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Where a strategy request arrived (the `endpoint` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SamplingEndpoint {
    /// `sampling`: HTTP `GET /sampling` (agent style, 5778), enums as names.
    Sampling,
    /// `api-sampling`: HTTP `GET /api/sampling` (collector style, 14268), enums as names.
    ApiSampling,
    /// `legacy-root`: HTTP `GET /` (Jaeger agent's legacy path), enums as numbers.
    LegacyRoot,
    /// `grpc`: `jaeger.api_v2.SamplingManager/GetSamplingStrategy` (5779).
    Grpc,
}

impl SamplingEndpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            SamplingEndpoint::Sampling => "sampling",
            SamplingEndpoint::ApiSampling => "api-sampling",
            SamplingEndpoint::LegacyRoot => "legacy-root",
            SamplingEndpoint::Grpc => "grpc",
        }
    }
}

/// How a strategy request ended (the `outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SamplingOutcome {
    /// A strategy was served.
    Ok,
    /// The request did not name exactly one service.
    BadRequest,
    /// The strategy provider failed.
    Failed,
}

impl SamplingOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            SamplingOutcome::Ok => "ok",
            SamplingOutcome::BadRequest => "bad_request",
            SamplingOutcome::Failed => "failed",
        }
    }
}

// Hand-written rather than derived: the label values are part of the metrics' public shape.
impl EncodeLabelValue for SamplingEndpoint {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

impl EncodeLabelValue for SamplingOutcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    endpoint: SamplingEndpoint,
    outcome: SamplingOutcome,
}

/// The strategy endpoints' counters. Cheap to clone: clones share the counters. `Default`
/// gives counters registered nowhere (for tests).
#[derive(Debug, Clone, Default)]
pub struct SamplingMetrics {
    requests: Family<RequestLabels, Counter>,
}

impl SamplingMetrics {
    /// Creates the counters and registers them (prometheus-client appends `_total`).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "clew_sampling_strategy_requests",
            "Sampling strategy requests answered, by endpoint and outcome",
            metrics.requests.clone(),
        );
        metrics
    }

    pub fn requests(&self, endpoint: SamplingEndpoint, outcome: SamplingOutcome) -> u64 {
        self.requests
            .get_or_create(&RequestLabels { endpoint, outcome })
            .get()
    }

    pub(crate) fn add_request(&self, endpoint: SamplingEndpoint, outcome: SamplingOutcome) {
        self.requests
            .get_or_create(&RequestLabels { endpoint, outcome })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_uses_documented_name_and_labels() {
        let mut registry = Registry::default();
        let metrics = SamplingMetrics::register(&mut registry);
        metrics.add_request(SamplingEndpoint::LegacyRoot, SamplingOutcome::BadRequest);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        let line = r#"clew_sampling_strategy_requests_total{endpoint="legacy-root",outcome="bad_request"} 1"#;
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}
