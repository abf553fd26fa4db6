//! The static strategy store: strategies from a file in Jaeger's strategies-file format, or
//! one default strategy for every service when there is no file.
//!
//! The format (Jaeger's `--sampling.strategies-file`):
//! ```json
//! {
//!   "default_strategy": { "type": "probabilistic", "param": 0.5,
//!     "operation_strategies": [ { "operation": "/health", "type": "probabilistic", "param": 0 } ] },
//!   "service_strategies": [
//!     { "service": "foo", "type": "probabilistic", "param": 0.8,
//!       "operation_strategies": [ { "operation": "op1", "type": "probabilistic", "param": 0.2 } ] },
//!     { "service": "bar", "type": "ratelimiting", "param": 5 }
//!   ]
//! }
//! ```
//! Clew reads a file that Jaeger reads the same way, with these rules taken from Jaeger's file
//! provider: a service without its own strategy gets `default_strategy`; a service without
//! `operation_strategies` inherits the default's (with its own probability as the
//! per-operation default when it is probabilistic); a service with its own gets the default's
//! appended for the operations it does not name; a strategy without `type` is probabilistic
//! with the default sampling probability; a `ratelimiting` operation strategy is skipped with
//! a warning (the protocol carries only probabilities per operation).
//!
//! Clew is stricter than Jaeger where Jaeger silently does something nobody meant: an unknown
//! `type` or field, a probability outside `[0, 1]`, a fractional or negative rate limit (Jaeger
//! truncates 0.9 to 0, which samples nothing), `param` missing or given without `type`, and a
//! service or operation listed twice are errors that name the place in the file.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;

use super::strategy::{BaseStrategy, OperationStrategy, PerOperationStrategies, SamplingStrategy};
use super::{ProviderError, StrategyProvider};

/// The sampling probability Clew uses where nothing else says: with no strategies file, for
/// every service. Clew samples everything unless told otherwise; operators who want less set
/// `default_sampling_probability` or write a strategies file.
pub const DEFAULT_SAMPLING_PROBABILITY: f64 = 1.0;

/// The largest rate limit the protocol carries to every SDK: Jaeger's Thrift shape (still
/// served on the agent's legacy `/` path) has a 16-bit field.
pub const MAX_TRACES_PER_SECOND: i32 = i16::MAX as i32;

/// How the static store is configured (the binary's `[sampling]` section).
#[derive(Debug, Clone, PartialEq)]
pub struct StrategyStoreOptions {
    /// A JSON file in Jaeger's strategies-file format; `None` serves the default strategy to
    /// every service.
    pub strategies_file: Option<PathBuf>,
    /// The probability of the default strategy when the file has no `default_strategy` (or
    /// there is no file), of strategies without a `type`, and the per-operation default of a
    /// rate-limited service. Default 1.0: Clew samples everything unless told otherwise.
    pub default_sampling_probability: f64,
}

impl Default for StrategyStoreOptions {
    fn default() -> Self {
        Self {
            strategies_file: None,
            default_sampling_probability: DEFAULT_SAMPLING_PROBABILITY,
        }
    }
}

/// Why the strategies could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum StrategiesFileError {
    #[error("cannot read sampling strategies file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("sampling strategies file {}: {source}", path.display())]
    Invalid {
        path: PathBuf,
        #[source]
        source: StrategiesError,
    },
    #[error("sampling: {0}")]
    Options(#[source] StrategiesError),
}

/// What is wrong in a strategies document; `at` names the place, such as
/// `service_strategies[1] ("bar").operation_strategies[0] ("op2")`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StrategiesError {
    /// Not JSON, or not the shape of a strategies file (unknown field, unknown `type`, wrong
    /// value type); the message names the JSON path, line and column.
    #[error("{0}")]
    Syntax(String),
    #[error("{at}: param {value} is not a probability: give a number from 0 to 1")]
    NotAProbability { at: String, value: f64 },
    #[error(
        "{at}: param {value} is not a rate limit: give a whole number of traces per second from 0 to {MAX_TRACES_PER_SECOND}"
    )]
    NotARateLimit { at: String, value: f64 },
    #[error("{at}: \"type\" is {kind:?} but \"param\" is missing")]
    MissingParam { at: String, kind: &'static str },
    #[error(
        "{at}: \"param\" is given without \"type\": add \"type\": \"probabilistic\" or \"ratelimiting\""
    )]
    ParamWithoutType { at: String },
    #[error("{at}: \"service\" is missing")]
    MissingService { at: String },
    #[error("{at}: service {service:?} is already listed at service_strategies[{first}]")]
    DuplicateService {
        at: String,
        service: String,
        first: usize,
    },
    #[error("{at}: \"operation\" is missing")]
    MissingOperation { at: String },
    #[error("{at}: operation {operation:?} is listed twice")]
    DuplicateOperation { at: String, operation: String },
    #[error("default_sampling_probability {value} is not a probability: give a number from 0 to 1")]
    InvalidDefaultProbability { value: f64 },
}

/// Strategies that do not change while Clew runs: from a strategies file, or the default
/// for every service.
#[derive(Debug, Clone)]
pub struct StrategyStore {
    default: Arc<SamplingStrategy>,
    services: HashMap<String, Arc<SamplingStrategy>>,
    warnings: Vec<String>,
}

impl StrategyStore {
    /// Loads the store as configured: reads and checks the strategies file if there is one.
    /// Blocking file I/O: call it at startup, before serving.
    pub fn load(options: &StrategyStoreOptions) -> Result<Self, StrategiesFileError> {
        let probability = options.default_sampling_probability;
        let Some(path) = &options.strategies_file else {
            return Self::with_default(probability).map_err(StrategiesFileError::Options);
        };
        Self::from_file(path, probability)
    }

    /// Reads and checks a strategies file.
    pub fn from_file(
        path: &Path,
        default_sampling_probability: f64,
    ) -> Result<Self, StrategiesFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| StrategiesFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_json(&text, default_sampling_probability).map_err(|source| match source {
            StrategiesError::InvalidDefaultProbability { .. } => {
                StrategiesFileError::Options(source)
            }
            source => StrategiesFileError::Invalid {
                path: path.to_owned(),
                source,
            },
        })
    }

    /// Builds the store from the text of a strategies file.
    pub fn from_json(
        text: &str,
        default_sampling_probability: f64,
    ) -> Result<Self, StrategiesError> {
        check_default_probability(default_sampling_probability)?;
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let file: Option<FileStrategies> =
            serde_path_to_error::deserialize(&mut deserializer).map_err(syntax_error)?;
        // Trailing characters after the document are an error too.
        deserializer
            .end()
            .map_err(|e| StrategiesError::Syntax(e.to_string()))?;
        // A file holding `null` means no strategies, as in Jaeger.
        let file = file.unwrap_or_default();
        Builder {
            default_probability: default_sampling_probability,
            warnings: Vec::new(),
        }
        .build(file)
    }

    /// The default strategy for every service: probabilistic at `default_sampling_probability`.
    pub fn with_default(default_sampling_probability: f64) -> Result<Self, StrategiesError> {
        check_default_probability(default_sampling_probability)?;
        Ok(Self {
            default: Arc::new(SamplingStrategy::probabilistic(
                default_sampling_probability,
            )),
            services: HashMap::new(),
            warnings: Vec::new(),
        })
    }

    /// The strategy for `service`: its own, else the default.
    pub fn lookup(&self, service: &str) -> &Arc<SamplingStrategy> {
        self.services.get(service).unwrap_or(&self.default)
    }

    /// The strategy of services the file does not name.
    pub fn default_strategy(&self) -> &SamplingStrategy {
        &self.default
    }

    /// Parts of the file that were accepted but ignored, as Jaeger ignores them (a
    /// `ratelimiting` operation strategy). Each was also logged when the file was loaded.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

#[async_trait]
impl StrategyProvider for StrategyStore {
    async fn strategy(&self, service: &str) -> Result<Arc<SamplingStrategy>, ProviderError> {
        Ok(Arc::clone(self.lookup(service)))
    }
}

fn check_default_probability(value: f64) -> Result<(), StrategiesError> {
    if is_probability(value) {
        Ok(())
    } else {
        Err(StrategiesError::InvalidDefaultProbability { value })
    }
}

fn is_probability(value: f64) -> bool {
    (0.0..=1.0).contains(&value)
}

fn syntax_error(e: serde_path_to_error::Error<serde_json::Error>) -> StrategiesError {
    let path = e.path().to_string();
    // The root path prints as "."; naming it adds nothing.
    if path == "." {
        StrategiesError::Syntax(e.into_inner().to_string())
    } else {
        StrategiesError::Syntax(format!("{path}: {}", e.into_inner()))
    }
}

// The file's shape. Unknown fields are refused so that a misspelt key (`operation_strategy`)
// is reported instead of silently ignored.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStrategies {
    #[serde(default)]
    default_strategy: Option<FileStrategy>,
    #[serde(default)]
    service_strategies: Option<Vec<FileStrategy>>,
}

/// A service's strategy, or the default one (where Jaeger also accepts, and ignores, `service`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStrategy {
    #[serde(default)]
    service: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<Kind>,
    #[serde(default)]
    param: Option<f64>,
    #[serde(default)]
    operation_strategies: Option<Vec<FileOperationStrategy>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileOperationStrategy {
    #[serde(default)]
    operation: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<Kind>,
    #[serde(default)]
    param: Option<f64>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Probabilistic,
    Ratelimiting,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Probabilistic => "probabilistic",
            Kind::Ratelimiting => "ratelimiting",
        }
    }
}

struct Builder {
    default_probability: f64,
    warnings: Vec<String>,
}

impl Builder {
    fn build(mut self, file: FileStrategies) -> Result<StrategyStore, StrategiesError> {
        let default = match file.default_strategy {
            Some(strategy) => self.strategy("default_strategy", strategy)?,
            None => SamplingStrategy::probabilistic(self.default_probability),
        };
        let mut services: HashMap<String, Arc<SamplingStrategy>> = HashMap::new();
        let mut first_index: HashMap<String, usize> = HashMap::new();
        for (index, entry) in file
            .service_strategies
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let at = match &entry.service {
                Some(name) => format!("service_strategies[{index}] ({name:?})"),
                None => format!("service_strategies[{index}]"),
            };
            let Some(name) = entry.service.clone() else {
                return Err(StrategiesError::MissingService { at });
            };
            match first_index.entry(name.clone()) {
                Entry::Occupied(first) => {
                    return Err(StrategiesError::DuplicateService {
                        at,
                        service: name,
                        first: *first.get(),
                    });
                }
                Entry::Vacant(slot) => {
                    slot.insert(index);
                }
            }
            let mut strategy = self.strategy(&at, entry)?;
            inherit_operations(&mut strategy, &default);
            services.insert(name, Arc::new(strategy));
        }
        for warning in &self.warnings {
            tracing::warn!("sampling strategies: {warning}");
        }
        Ok(StrategyStore {
            default: Arc::new(default),
            services,
            warnings: self.warnings,
        })
    }

    fn strategy(
        &mut self,
        at: &str,
        entry: FileStrategy,
    ) -> Result<SamplingStrategy, StrategiesError> {
        let base = self.base(at, entry.kind, entry.param)?;
        let operations = entry.operation_strategies.unwrap_or_default();
        if operations.is_empty() {
            return Ok(SamplingStrategy {
                base,
                per_operation: None,
            });
        }
        let default_sampling_probability = match base {
            BaseStrategy::Probabilistic { sampling_rate } => sampling_rate,
            BaseStrategy::RateLimiting { .. } => self.default_probability,
        };
        let mut per_operation = PerOperationStrategies {
            default_sampling_probability,
            default_lower_bound_traces_per_second: 0.0,
            default_upper_bound_traces_per_second: 0.0,
            operations: Vec::with_capacity(operations.len()),
        };
        for (index, operation) in operations.into_iter().enumerate() {
            let op_at = match &operation.operation {
                Some(name) => format!("{at}.operation_strategies[{index}] ({name:?})"),
                None => format!("{at}.operation_strategies[{index}]"),
            };
            let Some(name) = operation.operation else {
                return Err(StrategiesError::MissingOperation { at: op_at });
            };
            if per_operation.operations.iter().any(|o| o.operation == name) {
                return Err(StrategiesError::DuplicateOperation {
                    at: op_at,
                    operation: name,
                });
            }
            match self.base(&op_at, operation.kind, operation.param)? {
                BaseStrategy::Probabilistic { sampling_rate } => {
                    per_operation.operations.push(OperationStrategy {
                        operation: name,
                        sampling_rate,
                    });
                }
                BaseStrategy::RateLimiting { .. } => self.warnings.push(format!(
                    "{op_at}: ignored: operation strategies can only be probabilistic; \
                     the operation gets the service's per-operation default"
                )),
            }
        }
        Ok(SamplingStrategy {
            base,
            per_operation: Some(per_operation),
        })
    }

    fn base(
        &self,
        at: &str,
        kind: Option<Kind>,
        param: Option<f64>,
    ) -> Result<BaseStrategy, StrategiesError> {
        let at = || at.to_owned();
        match (kind, param) {
            (None, None) => Ok(BaseStrategy::Probabilistic {
                sampling_rate: self.default_probability,
            }),
            (None, Some(_)) => Err(StrategiesError::ParamWithoutType { at: at() }),
            (Some(kind), None) => Err(StrategiesError::MissingParam {
                at: at(),
                kind: kind.name(),
            }),
            (Some(Kind::Probabilistic), Some(value)) if is_probability(value) => {
                Ok(BaseStrategy::Probabilistic {
                    sampling_rate: value,
                })
            }
            (Some(Kind::Probabilistic), Some(value)) => {
                Err(StrategiesError::NotAProbability { at: at(), value })
            }
            (Some(Kind::Ratelimiting), Some(value)) => match whole_rate(value) {
                Some(max_traces_per_second) => Ok(BaseStrategy::RateLimiting {
                    max_traces_per_second,
                }),
                None => Err(StrategiesError::NotARateLimit { at: at(), value }),
            },
        }
    }
}

/// `value` as a whole number of traces per second within what every SDK can be told.
fn whole_rate(value: f64) -> Option<i32> {
    let in_range = (0.0..=f64::from(MAX_TRACES_PER_SECOND)).contains(&value);
    if in_range && value.fract() == 0.0 {
        // Exact: a whole number within i16's range.
        #[allow(clippy::cast_possible_truncation)]
        Some(value as i32)
    } else {
        None
    }
}

/// Jaeger's rule for a service and the default's per-operation strategies: a service without
/// its own takes the default's (keeping its own probability as the per-operation default when
/// it is probabilistic); a service with its own gets the default's for operations it does not
/// name.
fn inherit_operations(strategy: &mut SamplingStrategy, default: &SamplingStrategy) {
    let Some(default_operations) = &default.per_operation else {
        return;
    };
    match &mut strategy.per_operation {
        None => {
            let mut inherited = default_operations.clone();
            if let BaseStrategy::Probabilistic { sampling_rate } = strategy.base {
                inherited.default_sampling_probability = sampling_rate;
            }
            strategy.per_operation = Some(inherited);
        }
        Some(own) => {
            for operation in &default_operations.operations {
                if !own
                    .operations
                    .iter()
                    .any(|o| o.operation == operation.operation)
                {
                    own.operations.push(operation.clone());
                }
            }
        }
    }
}
