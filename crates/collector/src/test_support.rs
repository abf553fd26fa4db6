//! Test helpers shared by the receivers' tests: a sink that records what it got and answers
//! as told, and OTLP request builders.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use clew_model::otlp::proto::collector::trace::v1::ExportTraceServiceRequest;
use clew_model::otlp::proto::{common::v1 as pc, resource::v1 as pr, trace::v1 as pt};
use clew_model::{TenantId, TraceBatch};
use tokio::sync::Notify;

use crate::{SinkError, SpanSink};

/// Records every write; answers with `answer` (Ok when `None`); with `hold`, each write
/// signals `entered` and then waits for `release`, so a test can keep a request in flight.
#[derive(Default)]
pub(crate) struct RecordingSink {
    writes: Mutex<Vec<(TenantId, TraceBatch)>>,
    answer: Option<SinkError>,
    hold: Option<Hold>,
}

#[derive(Default)]
pub(crate) struct Hold {
    pub(crate) entered: Notify,
    pub(crate) release: Notify,
}

impl RecordingSink {
    pub(crate) fn ok() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub(crate) fn failing(answer: SinkError) -> Arc<Self> {
        Arc::new(Self {
            answer: Some(answer),
            ..Self::default()
        })
    }

    pub(crate) fn held() -> Arc<Self> {
        Arc::new(Self {
            hold: Some(Hold::default()),
            ..Self::default()
        })
    }

    pub(crate) fn hold(&self) -> &Hold {
        self.hold.as_ref().expect("sink built with held()")
    }

    pub(crate) fn writes(&self) -> Vec<(TenantId, TraceBatch)> {
        self.writes.lock().expect("lock").clone()
    }

    /// Spans written, over all writes.
    pub(crate) fn span_count(&self) -> usize {
        self.writes().iter().map(|(_, b)| b.span_count()).sum()
    }
}

#[async_trait]
impl SpanSink for RecordingSink {
    async fn write(&self, tenant: TenantId, batch: TraceBatch) -> Result<(), SinkError> {
        self.writes.lock().expect("lock").push((tenant, batch));
        if let Some(hold) = &self.hold {
            hold.entered.notify_one();
            hold.release.notified().await;
        }
        match &self.answer {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

fn span(i: u64) -> pt::Span {
    pt::Span {
        trace_id: [7u8; 16].to_vec(),
        span_id: (i + 1).to_be_bytes().to_vec(),
        name: format!("op-{i}"),
        kind: 2,
        start_time_unix_nano: 1_700_000_000_000_000_000 + i,
        end_time_unix_nano: 1_700_000_000_000_100_000 + i,
        ..Default::default()
    }
}

/// One resource (`service.name = checkout`) with `valid` good spans followed by `invalid`
/// spans whose span id has the wrong length.
pub(crate) fn request_with(valid: usize, invalid: usize) -> ExportTraceServiceRequest {
    let mut spans: Vec<pt::Span> = (0..valid as u64).map(span).collect();
    spans.extend((0..invalid as u64).map(|i| pt::Span {
        span_id: vec![1, 2, 3],
        ..span(1_000 + i)
    }));
    ExportTraceServiceRequest {
        resource_spans: vec![pt::ResourceSpans {
            resource: Some(pr::Resource {
                attributes: vec![pc::KeyValue {
                    key: "service.name".into(),
                    value: Some(pc::AnyValue {
                        value: Some(pc::any_value::Value::StringValue("checkout".into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![pt::ScopeSpans {
                spans,
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    }
}

pub(crate) fn request(spans: usize) -> ExportTraceServiceRequest {
    request_with(spans, 0)
}

/// OTLP/JSON as SDKs send it: hex ids, 64-bit integers as strings, enums as numbers.
/// The second span's id is not valid hex of the right length, so it is rejected.
pub(crate) const JSON_WITH_ONE_BAD_SPAN: &str = r#"{
  "resourceSpans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "frontend"}}]},
    "scopeSpans": [{
      "scope": {"name": "manual"},
      "spans": [
        {
          "traceId": "5B8EFFF798038103D269B633813FC60C",
          "spanId": "EEE19B7EC3C1B174",
          "name": "GET /cart",
          "kind": 2,
          "startTimeUnixNano": "1544712660000000000",
          "endTimeUnixNano": "1544712661000000000",
          "attributes": [{"key": "http.response.status_code", "value": {"intValue": "200"}}]
        },
        {
          "traceId": "5B8EFFF798038103D269B633813FC60C",
          "spanId": "EEE1",
          "name": "bad id",
          "startTimeUnixNano": "1544712660000000000",
          "endTimeUnixNano": "1544712661000000000"
        }
      ]
    }]
  }]
}"#;

/// Like [`JSON_WITH_ONE_BAD_SPAN`] with only the good span.
pub(crate) fn json_one_good_span() -> String {
    let v: serde_json::Value =
        serde_json::from_str(JSON_WITH_ONE_BAD_SPAN).expect("fixture is JSON");
    let mut v = v;
    if let Some(spans) = v["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array_mut() {
        spans.truncate(1);
    }
    v.to_string()
}
