//! Reading an OTLP/HTTP request body: the encoding from the headers, the body bounded by the
//! size limit, gzip inflated under the same bound, then protobuf or OTLP/JSON.

use clew_model::otlp::proto::collector::trace::v1::ExportTraceServiceRequest;
use clew_model::otlp::{decode_request_json, decode_request_protobuf};
use http::HeaderMap;
use http::header::CONTENT_TYPE;

use crate::pipeline::Refusal;
use crate::receivers::http_body::inflate;
pub(super) use crate::receivers::http_body::{is_gzip, read_body};

/// The payload encoding, named by the request's `Content-Type`. Both protobuf spellings are
/// kept apart because the response must carry the same `Content-Type` as the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    XProtobuf,
    Protobuf,
    Json,
}

impl Format {
    pub(super) fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
        // Parameters such as `; charset=utf-8` do not change the encoding.
        let essence = value.split(';').next().unwrap_or_default().trim();
        if essence.eq_ignore_ascii_case("application/x-protobuf") {
            Some(Format::XProtobuf)
        } else if essence.eq_ignore_ascii_case("application/protobuf") {
            Some(Format::Protobuf)
        } else if essence.eq_ignore_ascii_case("application/json") {
            Some(Format::Json)
        } else {
            None
        }
    }

    pub(super) fn content_type(self) -> &'static str {
        match self {
            Format::XProtobuf => "application/x-protobuf",
            Format::Protobuf => "application/protobuf",
            Format::Json => "application/json",
        }
    }
}

/// Inflates (if gzip) and parses the body. Blocking: run it off the async workers.
pub(super) fn decode(
    format: Format,
    gzip: bool,
    raw: &[u8],
    limit: usize,
) -> Result<ExportTraceServiceRequest, Refusal> {
    let bytes = inflate(raw, gzip, limit)?;
    let bytes = bytes.as_ref();
    match format {
        Format::Json => decode_request_json(bytes).map_err(|e| Refusal::Malformed(e.to_string())),
        Format::Protobuf | Format::XProtobuf => {
            decode_request_protobuf(bytes).map_err(|e| Refusal::Malformed(e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_parameters_and_case_are_ignored() {
        let mut h = HeaderMap::new();
        h.insert(
            CONTENT_TYPE,
            "Application/JSON; charset=utf-8".parse().expect("header"),
        );
        assert_eq!(Format::from_headers(&h), Some(Format::Json));
        h.insert(CONTENT_TYPE, "text/plain".parse().expect("header"));
        assert_eq!(Format::from_headers(&h), None);
    }
}
