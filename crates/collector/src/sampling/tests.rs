//! Sampling tests: the strategies file (valid and invalid, as data), the lookup rules, both
//! JSON encodings pinned byte for byte and read back the way each real client reads them, the
//! HTTP router in-process with `oneshot`, and gRPC over a loopback socket.

use std::sync::Arc;

use ::http::header::CONTENT_TYPE;
use ::http::{Method, Request, StatusCode};
use async_trait::async_trait;
use axum::body::Body;
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tonic::transport::Channel;
use tower::ServiceExt as _;

use super::json::{EnumEncoding, encode};
use super::*;
use crate::proto::jaeger::api_v2 as pb;
use crate::proto::jaeger::api_v2::sampling_manager_client::SamplingManagerClient;
use crate::{CancellationToken, Receiver};

/// Written for these tests in Jaeger's strategies-file format: a default with per-operation
/// strategies, a probabilistic service with its own, a rate-limited one with its own, one
/// without any (inherits the default's), and a rate-limited one without any.
const STRATEGIES: &str = r#"{
  "default_strategy": {
    "type": "probabilistic",
    "param": 0.5,
    "operation_strategies": [
      { "operation": "/health", "type": "probabilistic", "param": 0 },
      { "operation": "/metrics", "type": "probabilistic", "param": 0.01 }
    ]
  },
  "service_strategies": [
    {
      "service": "checkout",
      "type": "probabilistic",
      "param": 0.8,
      "operation_strategies": [
        { "operation": "POST /pay", "type": "probabilistic", "param": 1 },
        { "operation": "/health", "type": "probabilistic", "param": 0.2 }
      ]
    },
    {
      "service": "search",
      "type": "ratelimiting",
      "param": 5,
      "operation_strategies": [
        { "operation": "GET /q", "type": "probabilistic", "param": 0.3 }
      ]
    },
    { "service": "cart", "type": "probabilistic", "param": 0.25 },
    { "service": "ledger", "type": "ratelimiting", "param": 100 }
  ]
}"#;

fn store() -> StrategyStore {
    StrategyStore::from_json(STRATEGIES, DEFAULT_SAMPLING_PROBABILITY).expect("valid file")
}

fn ops(strategy: &SamplingStrategy) -> Vec<(&str, f64)> {
    strategy
        .per_operation
        .as_ref()
        .expect("per-operation strategies")
        .operations
        .iter()
        .map(|o| (o.operation.as_str(), o.sampling_rate))
        .collect()
}

// ---- strategies file: valid ----

#[test]
fn unknown_service_gets_the_default_strategy_with_its_operations() {
    let store = store();
    let default = store.lookup("not-in-the-file");
    assert_eq!(**default, *store.default_strategy());
    assert_eq!(
        default.base,
        BaseStrategy::Probabilistic { sampling_rate: 0.5 }
    );
    let per_operation = default.per_operation.as_ref().expect("per-operation");
    assert_eq!(per_operation.default_sampling_probability, 0.5);
    assert_eq!(per_operation.default_lower_bound_traces_per_second, 0.0);
    assert_eq!(per_operation.default_upper_bound_traces_per_second, 0.0);
    assert_eq!(ops(default), [("/health", 0.0), ("/metrics", 0.01)]);
}

#[test]
fn service_with_own_operations_gets_the_defaults_appended_for_the_others() {
    let store = store();
    let checkout = store.lookup("checkout");
    assert_eq!(
        checkout.base,
        BaseStrategy::Probabilistic { sampling_rate: 0.8 }
    );
    let per_operation = checkout.per_operation.as_ref().expect("per-operation");
    assert_eq!(per_operation.default_sampling_probability, 0.8);
    // Its own /health wins over the default's; /metrics comes from the default.
    assert_eq!(
        ops(checkout),
        [("POST /pay", 1.0), ("/health", 0.2), ("/metrics", 0.01)]
    );
}

#[test]
fn rate_limited_service_with_operations_keeps_its_limit_and_the_configured_default_probability() {
    let store = StrategyStore::from_json(STRATEGIES, 0.125).expect("valid");
    let search = store.lookup("search");
    assert_eq!(
        search.base,
        BaseStrategy::RateLimiting {
            max_traces_per_second: 5
        }
    );
    let per_operation = search.per_operation.as_ref().expect("per-operation");
    assert_eq!(per_operation.default_sampling_probability, 0.125);
    assert_eq!(
        ops(search),
        [("GET /q", 0.3), ("/health", 0.0), ("/metrics", 0.01)]
    );
}

#[test]
fn service_without_operations_inherits_the_defaults_with_its_own_probability() {
    let store = store();
    let cart = store.lookup("cart");
    assert_eq!(
        cart.base,
        BaseStrategy::Probabilistic {
            sampling_rate: 0.25
        }
    );
    let per_operation = cart.per_operation.as_ref().expect("inherited");
    assert_eq!(per_operation.default_sampling_probability, 0.25);
    assert_eq!(ops(cart), [("/health", 0.0), ("/metrics", 0.01)]);

    // Rate-limited: the inherited part keeps the default's probability.
    let ledger = store.lookup("ledger");
    assert_eq!(
        ledger.base,
        BaseStrategy::RateLimiting {
            max_traces_per_second: 100
        }
    );
    assert_eq!(
        ledger
            .per_operation
            .as_ref()
            .expect("inherited")
            .default_sampling_probability,
        0.5
    );
}

#[test]
fn without_default_operations_services_have_no_per_operation_part() {
    let store = StrategyStore::from_json(
        r#"{"default_strategy": {"type": "ratelimiting", "param": 7},
            "service_strategies": [{"service": "a", "type": "probabilistic", "param": 0.1}]}"#,
        1.0,
    )
    .expect("valid");
    assert_eq!(
        *store.lookup("a").as_ref(),
        SamplingStrategy::probabilistic(0.1)
    );
    assert_eq!(
        *store.lookup("b").as_ref(),
        SamplingStrategy::rate_limiting(7)
    );
}

#[test]
fn no_file_serves_probabilistic_one_to_every_service() {
    let store = StrategyStore::load(&StrategyStoreOptions::default()).expect("defaults");
    assert_eq!(DEFAULT_SAMPLING_PROBABILITY, 1.0);
    assert_eq!(
        *store.lookup("anything").as_ref(),
        SamplingStrategy::probabilistic(1.0)
    );
}

#[test]
fn the_default_probability_is_configurable() {
    let options = StrategyStoreOptions {
        strategies_file: None,
        default_sampling_probability: 0.3,
    };
    let store = StrategyStore::load(&options).expect("valid");
    assert_eq!(
        *store.lookup("anything").as_ref(),
        SamplingStrategy::probabilistic(0.3)
    );
    // A file without default_strategy uses it too, as do strategies without a type.
    let store = StrategyStore::from_json(
        r#"{"service_strategies": [{"service": "a",
            "operation_strategies": [{"operation": "x", "type": "probabilistic", "param": 0.9}]}]}"#,
        0.3,
    )
    .expect("valid");
    assert_eq!(
        *store.default_strategy(),
        SamplingStrategy::probabilistic(0.3)
    );
    let a = store.lookup("a");
    assert_eq!(a.base, BaseStrategy::Probabilistic { sampling_rate: 0.3 });
    assert_eq!(ops(a), [("x", 0.9)]);
}

#[test]
fn empty_and_null_documents_mean_defaults() {
    for text in [
        "{}",
        "null",
        r#"{"service_strategies": null, "default_strategy": null}"#,
    ] {
        let store = StrategyStore::from_json(text, 0.7).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(
            *store.lookup("x").as_ref(),
            SamplingStrategy::probabilistic(0.7),
            "{text}"
        );
    }
}

#[test]
fn rate_limited_operation_strategies_are_skipped_with_a_warning_as_jaeger_does() {
    let store = StrategyStore::from_json(
        r#"{"service_strategies": [{"service": "a", "type": "probabilistic", "param": 0.4,
            "operation_strategies": [
              {"operation": "keep", "type": "probabilistic", "param": 0.1},
              {"operation": "spam", "type": "ratelimiting", "param": 10}]}]}"#,
        1.0,
    )
    .expect("valid");
    assert_eq!(ops(store.lookup("a")), [("keep", 0.1)]);
    assert_eq!(store.warnings().len(), 1);
    assert!(
        store.warnings()[0]
            .contains(r#"service_strategies[0] ("a").operation_strategies[1] ("spam")"#),
        "{:?}",
        store.warnings()
    );
    assert_eq!(store.lookup("a").probability_for("spam"), Some(0.4));
}

#[test]
fn a_real_file_is_read_from_its_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("strategies.json");
    std::fs::write(&path, STRATEGIES).expect("write");
    let options = StrategyStoreOptions {
        strategies_file: Some(path),
        ..StrategyStoreOptions::default()
    };
    let store = StrategyStore::load(&options).expect("loads");
    assert_eq!(
        store.lookup("ledger").base,
        BaseStrategy::RateLimiting {
            max_traces_per_second: 100
        }
    );
}

// ---- strategies file: invalid ----

/// Each invalid document with the words its error must contain.
const INVALID: &[(&str, &[&str])] = &[
    ("", &["EOF while parsing"]),
    ("{not json", &["key must be a string", "line 1 column 2"]),
    (r#""nonsense""#, &["invalid type: string \"nonsense\""]),
    (
        r#"{"default_strategy": {"type": "probabilistic", "param": 1}} trailing"#,
        &["trailing characters"],
    ),
    (
        r#"{"service_strategies": [{"service": "a", "type": "sometimes", "param": 1}]}"#,
        &[
            "service_strategies[0].type",
            "unknown variant `sometimes`",
            "`probabilistic` or `ratelimiting`",
        ],
    ),
    (
        r#"{"service_strategies": [{"service": "a", "type": "probabilistic", "param": 1,
            "operation_strategy": []}]}"#,
        &[
            "service_strategies[0]",
            "unknown field `operation_strategy`",
        ],
    ),
    (
        r#"{"default_strategies": {}}"#,
        &["unknown field `default_strategies`"],
    ),
    (
        r#"{"service_strategies": [{"service": "a", "type": "probabilistic", "param": "0.5"}]}"#,
        &[
            "service_strategies[0].param",
            "invalid type: string \"0.5\"",
        ],
    ),
    (
        r#"{"service_strategies": [{"service": "a", "type": "probabilistic", "param": 1.5}]}"#,
        &[
            r#"service_strategies[0] ("a")"#,
            "param 1.5 is not a probability",
            "from 0 to 1",
        ],
    ),
    (
        r#"{"default_strategy": {"type": "probabilistic", "param": -0.1}}"#,
        &["default_strategy: param -0.1 is not a probability"],
    ),
    (
        r#"{"service_strategies": [{"service": "bar", "type": "ratelimiting", "param": 0.9}]}"#,
        &[
            r#"service_strategies[0] ("bar")"#,
            "param 0.9 is not a rate limit",
            "whole number",
        ],
    ),
    (
        r#"{"service_strategies": [{"service": "bar", "type": "ratelimiting", "param": -1}]}"#,
        &["param -1 is not a rate limit"],
    ),
    (
        r#"{"service_strategies": [{"service": "bar", "type": "ratelimiting", "param": 40000}]}"#,
        &["param 40000 is not a rate limit", "32767"],
    ),
    (
        r#"{"service_strategies": [{"service": "a", "type": "probabilistic"}]}"#,
        &[r#"service_strategies[0] ("a"): "type" is "probabilistic" but "param" is missing"#],
    ),
    (
        r#"{"service_strategies": [{"service": "a", "param": 0.5}]}"#,
        &[r#"service_strategies[0] ("a"): "param" is given without "type""#],
    ),
    (
        r#"{"service_strategies": [{"type": "probabilistic", "param": 0.5}]}"#,
        &[r#"service_strategies[0]: "service" is missing"#],
    ),
    (
        r#"{"service_strategies": [
            {"service": "a", "type": "probabilistic", "param": 0.5},
            {"service": "b", "type": "probabilistic", "param": 0.5},
            {"service": "a", "type": "probabilistic", "param": 0.1}]}"#,
        &[
            r#"service_strategies[2] ("a")"#,
            r#"service "a" is already listed at service_strategies[0]"#,
        ],
    ),
    (
        r#"{"service_strategies": [{"service": "a", "type": "probabilistic", "param": 0.5,
            "operation_strategies": [{"type": "probabilistic", "param": 0.1}]}]}"#,
        &[r#"service_strategies[0] ("a").operation_strategies[0]: "operation" is missing"#],
    ),
    (
        r#"{"default_strategy": {"type": "probabilistic", "param": 0.5,
            "operation_strategies": [
              {"operation": "x", "type": "probabilistic", "param": 0.1},
              {"operation": "x", "type": "probabilistic", "param": 0.2}]}}"#,
        &[r#"default_strategy.operation_strategies[1] ("x"): operation "x" is listed twice"#],
    ),
    (
        r#"{"service_strategies": [{"service": "a", "type": "probabilistic", "param": 0.5,
            "operation_strategies": [{"operation": "x", "type": "probabilistic", "param": 2}]}]}"#,
        &[
            r#"service_strategies[0] ("a").operation_strategies[0] ("x"): param 2 is not a probability"#,
        ],
    ),
];

#[test]
fn invalid_files_are_refused_with_errors_that_name_the_problem() {
    for (text, expected) in INVALID {
        let error = match StrategyStore::from_json(text, 1.0) {
            Ok(_) => panic!("accepted invalid document {text}"),
            Err(e) => e.to_string(),
        };
        for words in *expected {
            assert!(
                error.contains(words),
                "error for {text}\n  was: {error}\n  lacks: {words}"
            );
        }
    }
}

#[test]
fn an_invalid_default_probability_is_refused() {
    for value in [-0.5, 1.01, f64::NAN] {
        let options = StrategyStoreOptions {
            strategies_file: None,
            default_sampling_probability: value,
        };
        let error = StrategyStore::load(&options)
            .expect_err("refused")
            .to_string();
        assert!(
            error.contains("default_sampling_probability") && error.contains("from 0 to 1"),
            "{error}"
        );
    }
}

#[test]
fn file_errors_name_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.json");
    let error = StrategyStore::from_file(&missing, 1.0).expect_err("missing file");
    assert!(
        matches!(error, StrategiesFileError::Read { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("missing.json"), "{error}");

    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"default_strategy": {"type": "probabilistic", "param": 3}}"#,
    )
    .expect("write");
    let error = StrategyStore::from_file(&bad, 1.0)
        .expect_err("invalid")
        .to_string();
    assert!(
        error.contains("bad.json") && error.contains("default_strategy: param 3"),
        "{error}"
    );
}

// ---- lookup rules ----

#[test]
fn probability_for_follows_the_sdks_rules() {
    let store = store();
    let checkout = store.lookup("checkout");
    assert_eq!(checkout.probability_for("POST /pay"), Some(1.0)); // its own operation
    assert_eq!(checkout.probability_for("/health"), Some(0.2)); // its own beats the default's
    assert_eq!(checkout.probability_for("/metrics"), Some(0.01)); // the default's operation
    assert_eq!(checkout.probability_for("GET /other"), Some(0.8)); // the service's probability
    let unknown = store.lookup("unknown");
    assert_eq!(unknown.probability_for("/health"), Some(0.0));
    assert_eq!(unknown.probability_for("anything"), Some(0.5));
    assert_eq!(
        SamplingStrategy::rate_limiting(3).probability_for("anything"),
        None
    );
    assert_eq!(
        SamplingStrategy::probabilistic(0.4).probability_for("anything"),
        Some(0.4)
    );
}

// ---- JSON encodings, byte for byte ----

fn encoded(strategy: &SamplingStrategy, enums: EnumEncoding) -> String {
    String::from_utf8(encode(strategy, enums).expect("encodes")).expect("utf-8")
}

#[test]
fn names_encoding_is_jaegers_proto_json() {
    assert_eq!(
        encoded(&SamplingStrategy::probabilistic(0.5), EnumEncoding::Names),
        r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5}}"#
    );
    assert_eq!(
        encoded(&SamplingStrategy::rate_limiting(42), EnumEncoding::Names),
        r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":42}}"#
    );
    assert_eq!(
        encoded(store().lookup("search"), EnumEncoding::Names),
        concat!(
            r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":5},"#,
            r#""operationSampling":{"defaultSamplingProbability":1.0,"#,
            r#""defaultLowerBoundTracesPerSecond":0.0,"perOperationStrategies":["#,
            r#"{"operation":"GET /q","probabilisticSampling":{"samplingRate":0.3}},"#,
            r#"{"operation":"/health","probabilisticSampling":{"samplingRate":0.0}},"#,
            r#"{"operation":"/metrics","probabilisticSampling":{"samplingRate":0.01}}],"#,
            r#""defaultUpperBoundTracesPerSecond":0.0}}"#
        )
    );
}

#[test]
fn numbers_encoding_is_jaegers_legacy_thrift_json() {
    assert_eq!(
        encoded(&SamplingStrategy::probabilistic(0.5), EnumEncoding::Numbers),
        r#"{"strategyType":0,"probabilisticSampling":{"samplingRate":0.5}}"#
    );
    assert_eq!(
        encoded(&SamplingStrategy::rate_limiting(42), EnumEncoding::Numbers),
        r#"{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":42}}"#
    );
    // The Thrift field is 16 bits: a larger limit from another provider is clamped.
    assert_eq!(
        encoded(
            &SamplingStrategy::rate_limiting(100_000),
            EnumEncoding::Numbers
        ),
        r#"{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":32767}}"#
    );
    let cart = encoded(store().lookup("cart"), EnumEncoding::Numbers);
    assert!(
        cart.starts_with(
            r#"{"strategyType":0,"probabilisticSampling":{"samplingRate":0.25},"operationSampling":{"#
        ),
        "{cart}"
    );
}

// ---- the clients' parsers, modelled on their source ----

/// What an SDK ends up applying.
#[derive(Debug, PartialEq)]
enum Applied {
    Probabilistic(f64),
    RateLimiting(f64),
    PerOperation {
        default_probability: f64,
        lower_bound: f64,
        operations: Vec<(String, f64)>,
    },
}

fn per_operation(v: &Value) -> Applied {
    Applied::PerOperation {
        default_probability: v["defaultSamplingProbability"].as_f64().expect("number"),
        lower_bound: v["defaultLowerBoundTracesPerSecond"]
            .as_f64()
            .expect("number"),
        operations: v["perOperationStrategies"]
            .as_array()
            .expect("array")
            .iter()
            .map(|o| {
                (
                    o["operation"].as_str().expect("string").to_owned(),
                    o["probabilisticSampling"]["samplingRate"]
                        .as_f64()
                        .expect("number"),
                )
            })
            .collect(),
    }
}

/// jaeger-client Python 4.8 (`sampler.py`, `RemoteControlledSampler._update_sampler`):
/// a truthy `operationSampling` first; else `strategyType` compared with the strings
/// `'PROBABILISTIC'` / `'RATE_LIMITING'` (since 3.10; an integer is "Unsupported sampling
/// strategy type"); the rate limit must be in `[0, 500)`.
fn jaeger_client_python(body: &[u8]) -> Result<Applied, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let truthy = |v: &Value| match v {
        Value::Null | Value::Bool(false) => false,
        Value::Object(m) => !m.is_empty(),
        _ => true,
    };
    if truthy(&v["operationSampling"]) {
        return Ok(per_operation(&v["operationSampling"]));
    }
    match &v["strategyType"] {
        Value::String(s) if s == "PROBABILISTIC" => Ok(Applied::Probabilistic(
            v["probabilisticSampling"]["samplingRate"]
                .as_f64()
                .unwrap_or(0.001),
        )),
        Value::String(s) if s == "RATE_LIMITING" => {
            let mtps = v["rateLimitingSampling"]["maxTracesPerSecond"]
                .as_f64()
                .unwrap_or(1.0 / 600.0);
            if (0.0..500.0).contains(&mtps) {
                Ok(Applied::RateLimiting(mtps))
            } else {
                Err(format!(
                    "Rate limiting parameter not in [0, 500) range: {mtps}"
                ))
            }
        }
        other => Err(format!("Unsupported sampling strategy type: {other}")),
    }
}

/// jaeger-client Go (`sampler_remote.go`): `encoding/json` into the Thrift-generated types,
/// whose enum has `UnmarshalText` (so only the names parse; a number is an error) and whose
/// `maxTracesPerSecond` is an `int16`; then `operationSampling`, else the enum.
fn jaeger_client_go(body: &[u8]) -> Result<Applied, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let kind = match &v["strategyType"] {
        Value::String(s) if s == "PROBABILISTIC" || s == "RATE_LIMITING" => s.clone(),
        other => {
            return Err(format!(
                "cannot unmarshal {other} into SamplingStrategyType"
            ));
        }
    };
    if let Some(limit) = v.get("rateLimitingSampling") {
        let n = &limit["maxTracesPerSecond"];
        if n.as_i64().and_then(|n| i16::try_from(n).ok()).is_none() {
            return Err(format!("cannot unmarshal {n} into int16"));
        }
    }
    if !v["operationSampling"].is_null() {
        return Ok(per_operation(&v["operationSampling"]));
    }
    if kind == "PROBABILISTIC" {
        Ok(Applied::Probabilistic(
            v["probabilisticSampling"]["samplingRate"]
                .as_f64()
                .ok_or("samplingRate")?,
        ))
    } else {
        Ok(Applied::RateLimiting(
            v["rateLimitingSampling"]["maxTracesPerSecond"]
                .as_f64()
                .ok_or("maxTracesPerSecond")?,
        ))
    }
}

/// OpenTelemetry Go's Jaeger remote sampler (`samplers/jaegerremote`): gogo `jsonpb` into the
/// proto types (enum names or numbers), `operationSampling` first, rate limiting unsupported.
fn otel_go(body: &[u8]) -> Result<Applied, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let probabilistic = match &v["strategyType"] {
        Value::String(s) => s == "PROBABILISTIC",
        Value::Number(n) => n.as_i64() == Some(0),
        Value::Null => true,
        other => return Err(format!("bad enum {other}")),
    };
    if !v["operationSampling"].is_null() {
        return Ok(per_operation(&v["operationSampling"]));
    }
    if probabilistic {
        Ok(Applied::Probabilistic(
            v["probabilisticSampling"]["samplingRate"]
                .as_f64()
                .unwrap_or(0.0),
        ))
    } else {
        Err("strategy type RATE_LIMITING is not supported".to_owned())
    }
}

/// The first jaeger-client Java releases (`HTTPSamplingManager`, `GET /?service=`): Jackson
/// into a map, then `(Integer) result.get("strategyType")`: a string is a cast error.
fn first_java_client(body: &[u8]) -> Result<Applied, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    match v["strategyType"].as_i64() {
        Some(0) => Ok(Applied::Probabilistic(
            v["probabilisticSampling"]["samplingRate"]
                .as_f64()
                .ok_or("samplingRate")?,
        )),
        Some(1) => Ok(Applied::RateLimiting(
            v["rateLimitingSampling"]["maxTracesPerSecond"]
                .as_f64()
                .ok_or("maxTracesPerSecond")?,
        )),
        _ => Err(format!(
            "ClassCastException: {} is not an Integer",
            v["strategyType"]
        )),
    }
}

// ---- HTTP ----

struct Failing;

#[async_trait]
impl StrategyProvider for Failing {
    async fn strategy(&self, _service: &str) -> Result<Arc<SamplingStrategy>, ProviderError> {
        Err(ProviderError::Unavailable {
            source: "adaptive probabilities not computed yet".into(),
        })
    }
}

struct Answer {
    status: StatusCode,
    content_type: String,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn get_with(
    provider: Arc<dyn StrategyProvider>,
    metrics: &SamplingMetrics,
    method: Method,
    uri: &str,
) -> Answer {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .expect("request");
    let response = sampling_router(provider, metrics.clone())
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Answer {
        status,
        content_type,
        body,
    }
}

async fn get(uri: &str) -> Answer {
    get_with(
        Arc::new(store()),
        &SamplingMetrics::default(),
        Method::GET,
        uri,
    )
    .await
}

#[tokio::test]
async fn every_client_applies_what_its_path_serves() {
    let checkout_ops = || Applied::PerOperation {
        default_probability: 0.8,
        lower_bound: 0.0,
        operations: vec![
            ("POST /pay".to_owned(), 1.0),
            ("/health".to_owned(), 0.2),
            ("/metrics".to_owned(), 0.01),
        ],
    };
    for path in ["/sampling", "/api/sampling"] {
        let answer = get(&format!("{path}?service=ledger")).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.text());
        assert_eq!(answer.content_type, "application/json");
        // ledger: rate limit 100 plus the inherited per-operation part.
        for (client, parse) in [
            (
                "python",
                jaeger_client_python as fn(&[u8]) -> Result<Applied, String>,
            ),
            ("go", jaeger_client_go),
            ("otel-go", otel_go),
        ] {
            let applied = parse(&answer.body).unwrap_or_else(|e| panic!("{client} {path}: {e}"));
            assert!(
                matches!(applied, Applied::PerOperation { default_probability, .. } if default_probability == 0.5),
                "{client} {path}: {applied:?}"
            );
        }

        let answer = get(&format!("{path}?service=checkout")).await;
        assert_eq!(jaeger_client_python(&answer.body), Ok(checkout_ops()));
        assert_eq!(jaeger_client_go(&answer.body), Ok(checkout_ops()));
        assert_eq!(otel_go(&answer.body), Ok(checkout_ops()));
    }

    // Plain strategies (no per-operation part anywhere in this file).
    let plain = Arc::new(
        StrategyStore::from_json(
            r#"{"default_strategy": {"type": "probabilistic", "param": 0.25},
                "service_strategies": [{"service": "slow", "type": "ratelimiting", "param": 3}]}"#,
            1.0,
        )
        .expect("valid"),
    );
    let metrics = SamplingMetrics::default();
    let fetch = |uri: &'static str| get_with(plain.clone(), &metrics, Method::GET, uri);
    let body = fetch("/sampling?service=any").await.body;
    assert_eq!(
        jaeger_client_python(&body),
        Ok(Applied::Probabilistic(0.25))
    );
    assert_eq!(jaeger_client_go(&body), Ok(Applied::Probabilistic(0.25)));
    assert_eq!(otel_go(&body), Ok(Applied::Probabilistic(0.25)));
    assert!(
        first_java_client(&body).is_err(),
        "names are not for `/`'s readers"
    );
    let body = fetch("/sampling?service=slow").await.body;
    assert_eq!(jaeger_client_python(&body), Ok(Applied::RateLimiting(3.0)));
    assert_eq!(jaeger_client_go(&body), Ok(Applied::RateLimiting(3.0)));

    let body = fetch("/?service=any").await.body;
    assert_eq!(first_java_client(&body), Ok(Applied::Probabilistic(0.25)));
    assert_eq!(otel_go(&body), Ok(Applied::Probabilistic(0.25)));
    assert!(
        jaeger_client_python(&body).is_err(),
        "numbers are not for `/sampling`'s readers"
    );
    assert!(jaeger_client_go(&body).is_err());
    let body = fetch("/?service=slow").await.body;
    assert_eq!(first_java_client(&body), Ok(Applied::RateLimiting(3.0)));
}

#[tokio::test]
async fn the_service_must_be_named_exactly_once() {
    let metrics = SamplingMetrics::default();
    let provider: Arc<dyn StrategyProvider> = Arc::new(store());
    let cases = [
        (
            "/sampling",
            SamplingEndpoint::Sampling,
            "missing query parameter \"service\": ask GET /sampling?service=NAME",
        ),
        (
            "/api/sampling?services=a",
            SamplingEndpoint::ApiSampling,
            "missing query parameter \"service\": ask GET /api/sampling?service=NAME",
        ),
        (
            "/?service=a&service=b&service=c",
            SamplingEndpoint::LegacyRoot,
            "query parameter \"service\" is given 3 times: give it once",
        ),
    ];
    for (uri, endpoint, message) in cases {
        let answer = get_with(provider.clone(), &metrics, Method::GET, uri).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(answer.content_type.starts_with("text/plain"), "{uri}");
        assert!(answer.text().contains(message), "{uri}: {}", answer.text());
        assert_eq!(
            metrics.requests(endpoint, SamplingOutcome::BadRequest),
            1,
            "{uri}"
        );
        assert_eq!(metrics.requests(endpoint, SamplingOutcome::Ok), 0, "{uri}");
    }
}

#[tokio::test]
async fn an_empty_service_name_gets_the_default_and_names_are_url_decoded() {
    let answer = get("/sampling?service=").await;
    assert_eq!(answer.status, StatusCode::OK);
    let v: Value = serde_json::from_slice(&answer.body).expect("json");
    assert_eq!(v["probabilisticSampling"], json!({"samplingRate": 0.5}));

    let store = StrategyStore::from_json(
        r#"{"service_strategies": [{"service": "my service/1", "type": "ratelimiting", "param": 9}]}"#,
        1.0,
    )
    .expect("valid");
    let answer = get_with(
        Arc::new(store),
        &SamplingMetrics::default(),
        Method::GET,
        "/sampling?service=my%20service%2F1",
    )
    .await;
    let v: Value = serde_json::from_slice(&answer.body).expect("json");
    assert_eq!(v["rateLimitingSampling"], json!({"maxTracesPerSecond": 9}));
}

#[tokio::test]
async fn requests_are_counted_by_endpoint_and_outcome() {
    let metrics = SamplingMetrics::default();
    let provider: Arc<dyn StrategyProvider> = Arc::new(store());
    for uri in [
        "/sampling?service=a",
        "/sampling?service=b",
        "/api/sampling?service=a",
        "/?service=a",
    ] {
        let answer = get_with(provider.clone(), &metrics, Method::GET, uri).await;
        assert_eq!(answer.status, StatusCode::OK, "{uri}");
    }
    assert_eq!(
        metrics.requests(SamplingEndpoint::Sampling, SamplingOutcome::Ok),
        2
    );
    assert_eq!(
        metrics.requests(SamplingEndpoint::ApiSampling, SamplingOutcome::Ok),
        1
    );
    assert_eq!(
        metrics.requests(SamplingEndpoint::LegacyRoot, SamplingOutcome::Ok),
        1
    );
    assert_eq!(
        metrics.requests(SamplingEndpoint::Grpc, SamplingOutcome::Ok),
        0
    );
}

#[tokio::test]
async fn a_failing_provider_is_a_500_with_the_reason() {
    let metrics = SamplingMetrics::default();
    let answer = get_with(
        Arc::new(Failing),
        &metrics,
        Method::GET,
        "/api/sampling?service=a",
    )
    .await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        answer
            .text()
            .contains("adaptive probabilities not computed yet"),
        "{}",
        answer.text()
    );
    assert_eq!(
        metrics.requests(SamplingEndpoint::ApiSampling, SamplingOutcome::Failed),
        1
    );
}

#[tokio::test]
async fn only_get_is_served() {
    let answer = get_with(
        Arc::new(store()),
        &SamplingMetrics::default(),
        Method::POST,
        "/sampling?service=a",
    )
    .await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn the_router_merges_with_the_jaeger_thrift_router_on_one_port() {
    // As the binary serves both on 14268: neither router has a fallback, so they merge.
    let thrift = crate::jaeger_thrift_http_router(
        crate::test_support::RecordingSink::ok(),
        crate::Limits::default(),
        crate::CollectorMetrics::default(),
    );
    let app = thrift.merge(sampling_router(
        Arc::new(store()),
        SamplingMetrics::default(),
    ));
    let request = Request::get("/api/sampling?service=cart")
        .body(Body::empty())
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    // The Thrift route is still there (an empty body is refused by it, not unrouted).
    let request = Request::post("/api/traces")
        .body(Body::empty())
        .expect("request");
    let response = app.oneshot(request).await.expect("infallible");
    assert_ne!(response.status(), StatusCode::NOT_FOUND);
    assert_ne!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn the_http_server_serves_on_a_socket_and_stops_on_cancel() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let metrics = SamplingMetrics::default();
    let extra = axum::Router::new().route("/ping", axum::routing::get(|| async { "pong" }));
    let server = Box::new(
        SamplingHttpServer::new(listener, Arc::new(store()), metrics.clone()).merge(extra),
    );
    assert_eq!(server.name(), "sampling-http");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(server.run(shutdown.clone()));

    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(connection);
    let request = Request::get("/sampling?service=cart")
        .header(::http::header::HOST, addr.to_string())
        .body(http_body_util::Empty::<axum::body::Bytes>::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert!(
        matches!(jaeger_client_python(&body), Ok(Applied::PerOperation { default_probability, .. }) if default_probability == 0.25)
    );
    // A merged route is served on the same port.
    let request = Request::get("/ping")
        .header(::http::header::HOST, addr.to_string())
        .body(http_body_util::Empty::<axum::body::Bytes>::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    drop(sender);
    assert_eq!(
        metrics.requests(SamplingEndpoint::Sampling, SamplingOutcome::Ok),
        1
    );

    shutdown.cancel();
    task.await.expect("join").expect("served until shutdown");
}

// ---- gRPC ----

struct GrpcServer {
    client: SamplingManagerClient<Channel>,
    metrics: SamplingMetrics,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), crate::ReceiverError>>,
}

impl GrpcServer {
    async fn start(provider: Arc<dyn StrategyProvider>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let metrics = SamplingMetrics::default();
        let server = Box::new(SamplingGrpcServer::new(listener, provider, metrics.clone()));
        assert_eq!(server.name(), "sampling-grpc");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(server.run(shutdown.clone()));
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        Self {
            client: SamplingManagerClient::new(channel),
            metrics,
            shutdown,
            task,
        }
    }

    async fn ask(&mut self, service: &str) -> Result<pb::SamplingStrategyResponse, tonic::Status> {
        self.client
            .get_sampling_strategy(pb::SamplingStrategyParameters {
                service_name: service.to_owned(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    async fn stop(self) {
        drop(self.client);
        self.shutdown.cancel();
        self.task
            .await
            .expect("join")
            .expect("served until shutdown");
    }
}

#[tokio::test]
async fn grpc_serves_the_same_strategies_over_loopback() {
    let mut server = GrpcServer::start(Arc::new(store())).await;

    let search = server.ask("search").await.expect("strategy");
    assert_eq!(
        search.strategy_type,
        pb::SamplingStrategyType::RateLimiting as i32
    );
    assert_eq!(search.probabilistic_sampling, None);
    assert_eq!(
        search.rate_limiting_sampling,
        Some(pb::RateLimitingSamplingStrategy {
            max_traces_per_second: 5
        })
    );
    let per_operation = search.operation_sampling.expect("per-operation");
    assert_eq!(per_operation.default_sampling_probability, 1.0);
    let operations: Vec<_> = per_operation
        .per_operation_strategies
        .iter()
        .map(|o| {
            (
                o.operation.as_str(),
                o.probabilistic_sampling.as_ref().map(|p| p.sampling_rate),
            )
        })
        .collect();
    assert_eq!(
        operations,
        [
            ("GET /q", Some(0.3)),
            ("/health", Some(0.0)),
            ("/metrics", Some(0.01))
        ]
    );

    let default = server.ask("").await.expect("strategy");
    assert_eq!(
        default.strategy_type,
        pb::SamplingStrategyType::Probabilistic as i32
    );
    assert_eq!(
        default.probabilistic_sampling,
        Some(pb::ProbabilisticSamplingStrategy { sampling_rate: 0.5 })
    );
    assert_eq!(
        server
            .metrics
            .requests(SamplingEndpoint::Grpc, SamplingOutcome::Ok),
        2
    );
    server.stop().await;
}

#[tokio::test]
async fn grpc_reports_a_failing_provider_as_unavailable() {
    let mut server = GrpcServer::start(Arc::new(Failing)).await;
    let status = server.ask("a").await.expect_err("refused");
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert!(
        status
            .message()
            .contains("adaptive probabilities not computed yet")
    );
    assert_eq!(
        server
            .metrics
            .requests(SamplingEndpoint::Grpc, SamplingOutcome::Failed),
        1
    );
    server.stop().await;
}

#[test]
fn proto_field_numbers_match_jaeger_idl() {
    use prost::Message as _;
    // SamplingStrategyResponse{strategyType=1 (1), rateLimitingSampling (3) {maxTracesPerSecond (1) = 5}}
    let bytes = super::grpc::to_proto(&SamplingStrategy::rate_limiting(5)).encode_to_vec();
    assert_eq!(bytes, [0x08, 0x01, 0x1a, 0x02, 0x08, 0x05]);
    // probabilisticSampling (2) {samplingRate (1, double) = 1.0}
    let bytes = super::grpc::to_proto(&SamplingStrategy::probabilistic(1.0)).encode_to_vec();
    assert_eq!(bytes, [0x12, 0x09, 0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]);
    // operationSampling (4) with all four fields: 1, 2 (doubles), 3 (message), 4 (double).
    let strategy = SamplingStrategy {
        base: BaseStrategy::Probabilistic { sampling_rate: 0.0 },
        per_operation: Some(PerOperationStrategies {
            default_sampling_probability: 1.0,
            default_lower_bound_traces_per_second: 1.0,
            default_upper_bound_traces_per_second: 1.0,
            operations: vec![OperationStrategy {
                operation: "o".to_owned(),
                sampling_rate: 1.0,
            }],
        }),
    };
    let decoded = pb::SamplingStrategyResponse::decode(
        super::grpc::to_proto(&strategy).encode_to_vec().as_slice(),
    )
    .expect("round trip");
    let one = [0, 0, 0, 0, 0, 0, 0xf0, 0x3f];
    let per_operation = decoded.operation_sampling.expect("present").encode_to_vec();
    let mut expected = vec![0x09];
    expected.extend(one);
    expected.push(0x11);
    expected.extend(one);
    // perOperationStrategies: {operation (1) "o", probabilisticSampling (2) {samplingRate 1.0}}
    expected.extend([0x1a, 0x0e, 0x0a, 0x01, b'o', 0x12, 0x09, 0x09]);
    expected.extend(one);
    expected.push(0x21);
    expected.extend(one);
    assert_eq!(per_operation, expected);
}
