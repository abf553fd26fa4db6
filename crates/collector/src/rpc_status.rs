//! Refusals as `google.rpc.Status`: the gRPC status (with `RetryInfo` or `BadRequest` in
//! `grpc-status-details-bin`) and the OTLP/HTTP error body, in protobuf or JSON.
//!
//! The protobuf forms come from `tonic-types` (two small crates: it and `prost-types`), so
//! the google.rpc messages are not hand-written here. JSON has no generated form, so it is
//! built by the proto3 JSON mapping (`@type` in each detail, durations as `"1.5s"`).

use std::time::Duration;

use serde_json::json;
use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::pipeline::Refusal;

/// The one detail a refusal carries, if any.
enum Detail {
    Retry(Duration),
    BadRequest { field: &'static str },
}

impl Refusal {
    pub(crate) fn grpc_code(&self) -> Code {
        match self {
            Refusal::Malformed(_)
            | Refusal::InvalidTenant(_)
            | Refusal::TooLarge { .. }
            | Refusal::TooManySpans { .. } => Code::InvalidArgument,
            Refusal::UnsupportedMediaType(_) | Refusal::MethodNotAllowed(_) => Code::Unimplemented,
            Refusal::NotFound(_) => Code::NotFound,
            // With RetryInfo attached, OTLP clients treat RESOURCE_EXHAUSTED as retryable.
            Refusal::Overloaded { .. } => Code::ResourceExhausted,
            Refusal::Unavailable { .. } => Code::Unavailable,
            Refusal::Failed { .. } => Code::Internal,
        }
    }

    fn detail(&self) -> Option<Detail> {
        match self {
            Refusal::Overloaded { retry_after } | Refusal::Unavailable { retry_after, .. } => {
                Some(Detail::Retry(*retry_after))
            }
            // OTLP asks for a BadRequest describing bad data; the field says where to look.
            Refusal::Malformed(_) => Some(Detail::BadRequest { field: "" }),
            Refusal::InvalidTenant(_) => Some(Detail::BadRequest {
                field: "X-Scope-OrgID",
            }),
            Refusal::TooManySpans { .. } => Some(Detail::BadRequest {
                field: "resource_spans",
            }),
            _ => None,
        }
    }

    /// The gRPC status, with its details encoded in `grpc-status-details-bin`.
    pub(crate) fn to_grpc_status(&self) -> tonic::Status {
        let message = self.to_string();
        let details = match self.detail() {
            Some(Detail::Retry(delay)) => ErrorDetails::with_retry_info(Some(delay)),
            Some(Detail::BadRequest { field }) => {
                ErrorDetails::with_bad_request_violation(field, message.clone())
            }
            None => ErrorDetails::new(),
        };
        tonic::Status::with_error_details(self.grpc_code(), message, details)
    }

    /// An encoded `google.rpc.Status`, the OTLP/HTTP error body for protobuf requests.
    pub(crate) fn to_status_protobuf(&self) -> Vec<u8> {
        // `grpc-status-details-bin` is by definition an encoded google.rpc.Status holding the
        // code, message and details, so the gRPC form is reused rather than built twice.
        self.to_grpc_status().details().to_vec()
    }

    /// `google.rpc.Status` in the proto3 JSON mapping, the error body for JSON requests.
    pub(crate) fn to_status_json(&self) -> serde_json::Value {
        let message = self.to_string();
        let details = match self.detail() {
            Some(Detail::Retry(delay)) => vec![json!({
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": json_duration(delay),
            })],
            Some(Detail::BadRequest { field }) => vec![json!({
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{ "field": field, "description": message }],
            })],
            None => Vec::new(),
        };
        json!({
            "code": self.grpc_code() as i32,
            "message": message,
            "details": details,
        })
    }
}

/// A `google.protobuf.Duration` in JSON: seconds with an `s` suffix and 0 or 9 fractional digits.
fn json_duration(d: Duration) -> String {
    match d.subsec_nanos() {
        0 => format!("{}s", d.as_secs()),
        nanos => format!("{}.{nanos:09}s", d.as_secs()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;
    use tonic_types::RpcStatusExt as _;

    #[test]
    fn overloaded_carries_retry_info_in_both_encodings() {
        let refusal = Refusal::Overloaded {
            retry_after: Duration::from_millis(1500),
        };
        let status = refusal.to_grpc_status();
        assert_eq!(status.code(), Code::ResourceExhausted);
        let retry = status.get_details_retry_info().expect("retry info");
        assert_eq!(retry.retry_delay, Some(Duration::from_millis(1500)));

        let pb = tonic_types::Status::decode(refusal.to_status_protobuf().as_slice())
            .expect("google.rpc.Status");
        assert_eq!(pb.code, Code::ResourceExhausted as i32);
        assert!(pb.message.contains("retry after 2 s"), "{}", pb.message);
        assert!(pb.get_details_retry_info().is_some());

        let js = refusal.to_status_json();
        assert_eq!(js["code"], 8);
        assert_eq!(js["details"][0]["retryDelay"], "1.500000000s");
    }

    #[test]
    fn bad_data_carries_bad_request() {
        let refusal = Refusal::InvalidTenant("nope".into());
        let status = refusal.to_grpc_status();
        assert_eq!(status.code(), Code::InvalidArgument);
        let bad = status.get_details_bad_request().expect("bad request");
        assert_eq!(bad.field_violations[0].field, "X-Scope-OrgID");
        assert_eq!(
            refusal.to_status_json()["details"][0]["@type"],
            "type.googleapis.com/google.rpc.BadRequest"
        );
        assert_eq!(json_duration(Duration::from_secs(5)), "5s");
    }
}
