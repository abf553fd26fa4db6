//! The sampling strategy one service's SDKs are told to apply: Clew's own shape, free of any
//! wire format. The JSON encodings (`json.rs`) and the protobuf message (`grpc.rs`) are explicit
//! conversions from it.

/// What an SDK applies to the new traces of one service.
///
/// Jaeger's protocol treats the response as a union: SDKs look at `per_operation` first and
/// fall back to `base` when it is absent. Jaeger's own strategy store fills both when a
/// service has per-operation strategies, so that SDKs which ignore `per_operation` still get
/// the service's rate; Clew does the same.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingStrategy {
    pub base: BaseStrategy,
    pub per_operation: Option<PerOperationStrategies>,
}

/// A service-wide strategy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BaseStrategy {
    /// Each new trace is sampled with this probability, in `[0, 1]`.
    Probabilistic { sampling_rate: f64 },
    /// At most this many new traces per second are sampled.
    RateLimiting { max_traces_per_second: i32 },
}

/// Probabilities per operation (span name of the root span), with service-wide defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct PerOperationStrategies {
    /// For operations not in `operations`.
    pub default_sampling_probability: f64,
    /// Every operation is sampled at least this often, whatever its probability. The static
    /// strategies file cannot set it (Jaeger's format has no field for it), so it is 0 there.
    pub default_lower_bound_traces_per_second: f64,
    /// Upper limit per operation; few SDKs honour it. 0 in the static strategies file.
    pub default_upper_bound_traces_per_second: f64,
    pub operations: Vec<OperationStrategy>,
}

/// The probability for one operation.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationStrategy {
    pub operation: String,
    pub sampling_rate: f64,
}

impl SamplingStrategy {
    /// A service-wide probability with no per-operation part.
    pub fn probabilistic(sampling_rate: f64) -> Self {
        Self {
            base: BaseStrategy::Probabilistic { sampling_rate },
            per_operation: None,
        }
    }

    /// A service-wide rate limit with no per-operation part.
    pub fn rate_limiting(max_traces_per_second: i32) -> Self {
        Self {
            base: BaseStrategy::RateLimiting {
                max_traces_per_second,
            },
            per_operation: None,
        }
    }

    /// The probability with which an SDK that obeys this strategy samples a new trace whose
    /// root span is `operation`, or `None` when it applies a rate limit instead. Mirrors the
    /// SDKs' rule: the operation's own entry, else the per-operation default, else the
    /// service-wide probability.
    pub fn probability_for(&self, operation: &str) -> Option<f64> {
        if let Some(per_operation) = &self.per_operation {
            let own = per_operation
                .operations
                .iter()
                .find(|o| o.operation == operation);
            return Some(own.map_or(per_operation.default_sampling_probability, |o| {
                o.sampling_rate
            }));
        }
        match self.base {
            BaseStrategy::Probabilistic { sampling_rate } => Some(sampling_rate),
            BaseStrategy::RateLimiting { .. } => None,
        }
    }
}
