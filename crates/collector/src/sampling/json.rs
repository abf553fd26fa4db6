//! The two JSON shapes of a sampling strategy that Jaeger served over HTTP, which differ only
//! in how `strategyType` is written:
//!
//! - [`EnumEncoding::Names`]: the proto3 JSON mapping of `SamplingStrategyResponse`, as Jaeger
//!   writes it on `/sampling` (agent, 5778) and `/api/sampling` (collector, 14268):
//!   `{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5}}`. Every SDK
//!   still in use parses this: jaeger-client Python (since 3.10), Go, Node (since 3.5.3) and
//!   Java, and OpenTelemetry's Jaeger remote samplers (Go's gogo/jsonpb accepts names and
//!   numbers alike).
//! - [`EnumEncoding::Numbers`]: the JSON of Jaeger's Thrift 0.9.2 types, `"strategyType":0`,
//!   which Jaeger's agent served on its legacy `/` path for the first Java clients (they read
//!   `strategyType` as an integer).
//!
//! In both, absent strategies are left out (not `null`), and the per-operation part carries
//! all four fields with zeros written out, as Jaeger writes them (some parsers require them).

use serde::Serialize;

use super::strategy::{BaseStrategy, SamplingStrategy};

/// How `strategyType` is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EnumEncoding {
    /// `"PROBABILISTIC"` / `"RATE_LIMITING"`.
    Names,
    /// `0` / `1`, the enum's numbers.
    Numbers,
}

/// The strategy as a `SamplingStrategyResponse` JSON document.
pub(crate) fn encode(
    strategy: &SamplingStrategy,
    enums: EnumEncoding,
) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&Response::new(strategy, enums))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Response<'a> {
    strategy_type: StrategyType,
    #[serde(skip_serializing_if = "Option::is_none")]
    probabilistic_sampling: Option<Probabilistic>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_limiting_sampling: Option<RateLimiting>,
    #[serde(skip_serializing_if = "Option::is_none")]
    operation_sampling: Option<PerOperation<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum StrategyType {
    Name(&'static str),
    Number(u8),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Probabilistic {
    sampling_rate: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RateLimiting {
    max_traces_per_second: i32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PerOperation<'a> {
    default_sampling_probability: f64,
    default_lower_bound_traces_per_second: f64,
    per_operation_strategies: Vec<Operation<'a>>,
    default_upper_bound_traces_per_second: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Operation<'a> {
    operation: &'a str,
    probabilistic_sampling: Probabilistic,
}

impl<'a> Response<'a> {
    fn new(strategy: &'a SamplingStrategy, enums: EnumEncoding) -> Self {
        let (name, number, probabilistic, rate_limiting) = match strategy.base {
            BaseStrategy::Probabilistic { sampling_rate } => (
                "PROBABILISTIC",
                0,
                Some(Probabilistic { sampling_rate }),
                None,
            ),
            BaseStrategy::RateLimiting {
                max_traces_per_second,
            } => {
                // The Thrift shape has a 16-bit field; its readers would reject more.
                let max_traces_per_second = match enums {
                    EnumEncoding::Names => max_traces_per_second,
                    EnumEncoding::Numbers => max_traces_per_second.clamp(0, i16::MAX.into()),
                };
                (
                    "RATE_LIMITING",
                    1,
                    None,
                    Some(RateLimiting {
                        max_traces_per_second,
                    }),
                )
            }
        };
        let strategy_type = match enums {
            EnumEncoding::Names => StrategyType::Name(name),
            EnumEncoding::Numbers => StrategyType::Number(number),
        };
        let operation_sampling = strategy.per_operation.as_ref().map(|p| PerOperation {
            default_sampling_probability: p.default_sampling_probability,
            default_lower_bound_traces_per_second: p.default_lower_bound_traces_per_second,
            per_operation_strategies: p
                .operations
                .iter()
                .map(|o| Operation {
                    operation: &o.operation,
                    probabilistic_sampling: Probabilistic {
                        sampling_rate: o.sampling_rate,
                    },
                })
                .collect(),
            default_upper_bound_traces_per_second: p.default_upper_bound_traces_per_second,
        });
        Self {
            strategy_type,
            probabilistic_sampling: probabilistic,
            rate_limiting_sampling: rate_limiting,
            operation_sampling,
        }
    }
}
