//! Reading a Zipkin `POST /api/v2/spans` body: the encoding from `Content-Type`, the body
//! bounded by the size limit, gzip inflated under the same bound, then JSON or proto3.
//! Body reading and gzip are shared with the other HTTP receivers (`http_body`).

use clew_model::zipkin::{ZipkinSpan, decode_json};
use http::HeaderMap;
use http::header::CONTENT_TYPE;
use prost::Message as _;

use super::proto::{ListOfSpans, from_proto};
use crate::Protocol;
use crate::pipeline::Refusal;
use crate::receivers::http_body::inflate;
pub(super) use crate::receivers::http_body::{is_gzip, read_body};

/// The payload encoding, named by the request's `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Json,
    Proto,
}

impl Format {
    /// `None` without a `Content-Type` reads as JSON, as Zipkin's own collector does; an
    /// unsupported one is the refusal's message.
    pub(super) fn from_headers(headers: &HeaderMap) -> Result<Self, String> {
        let Some(value) = headers.get(CONTENT_TYPE) else {
            return Ok(Format::Json);
        };
        let text = String::from_utf8_lossy(value.as_bytes());
        // Parameters such as `; charset=utf-8` do not change the encoding.
        let essence = text.split(';').next().unwrap_or_default().trim();
        if essence.eq_ignore_ascii_case("application/json") {
            Ok(Format::Json)
        } else if essence.eq_ignore_ascii_case("application/x-protobuf")
            || essence.eq_ignore_ascii_case("application/protobuf")
        {
            Ok(Format::Proto)
        } else {
            Err(format!(
                "unsupported Content-Type {text:?}: send application/json or application/x-protobuf"
            ))
        }
    }

    pub(super) fn protocol(self) -> Protocol {
        match self {
            Format::Json => Protocol::ZipkinJson,
            Format::Proto => Protocol::ZipkinProto,
        }
    }
}

/// Inflates (if gzip) and parses the body. Blocking: run it off the async workers.
pub(super) fn decode(
    format: Format,
    gzip: bool,
    raw: &[u8],
    limit: usize,
) -> Result<Vec<ZipkinSpan>, Refusal> {
    let bytes = inflate(raw, gzip, limit)?;
    let bytes = bytes.as_ref();
    match format {
        Format::Json => decode_json(bytes).map_err(|e| Refusal::Malformed(e.to_string())),
        Format::Proto => ListOfSpans::decode(bytes)
            .map(from_proto)
            .map_err(|e| Refusal::Malformed(format!("invalid Zipkin proto3 ListOfSpans: {e}"))),
    }
}
