//! Reading a Zipkin `POST /api/v2/spans` body: the encoding from `Content-Type`, the body
//! bounded by the size limit, gzip inflated under the same bound, then JSON or proto3.
//!
//! The body and gzip handling mirror `otlp_http::decode`, whose helpers are private to that
//! receiver; they are small enough that hoisting them into a shared module can wait.

use std::io::Read as _;

use axum::body::{Body, Bytes};
use clew_model::zipkin::{ZipkinSpan, decode_json};
use flate2::read::MultiGzDecoder;
use http::HeaderMap;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use prost::Message as _;

use super::proto::{ListOfSpans, from_proto};
use crate::Protocol;
use crate::pipeline::Refusal;

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

/// Whether the body is gzip-compressed; any coding other than gzip or identity is refused.
pub(super) fn is_gzip(headers: &HeaderMap) -> Result<bool, Refusal> {
    let Some(value) = headers.get(CONTENT_ENCODING) else {
        return Ok(false);
    };
    let coding = value.to_str().unwrap_or("?").trim();
    if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
        Ok(true)
    } else if coding.is_empty() || coding.eq_ignore_ascii_case("identity") {
        Ok(false)
    } else {
        Err(Refusal::UnsupportedMediaType(format!(
            "unsupported Content-Encoding {coding:?}: send gzip or no encoding"
        )))
    }
}

/// The whole body, refused as soon as it is known to exceed `limit` bytes.
pub(super) async fn read_body(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
) -> Result<Bytes, Refusal> {
    let too_large = Refusal::TooLarge {
        limit,
        decompressed: false,
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large);
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large),
        Err(e) => Err(Refusal::Malformed(format!(
            "could not read the request body: {e}"
        ))),
    }
}

/// Inflates (if gzip) and parses the body. Blocking: run it off the async workers.
pub(super) fn decode(
    format: Format,
    gzip: bool,
    raw: &[u8],
    limit: usize,
) -> Result<Vec<ZipkinSpan>, Refusal> {
    let inflated;
    let bytes = if gzip {
        inflated = gunzip(raw, limit)?;
        inflated.as_slice()
    } else {
        raw
    };
    match format {
        Format::Json => decode_json(bytes).map_err(|e| Refusal::Malformed(e.to_string())),
        Format::Proto => ListOfSpans::decode(bytes)
            .map(from_proto)
            .map_err(|e| Refusal::Malformed(format!("invalid Zipkin proto3 ListOfSpans: {e}"))),
    }
}

/// Inflates at most `limit` bytes: a gzip bomb stops at the limit instead of filling memory.
fn gunzip(raw: &[u8], limit: usize) -> Result<Vec<u8>, Refusal> {
    let mut out = Vec::new();
    // One byte past the limit tells "exactly at the limit" from "over it".
    MultiGzDecoder::new(raw)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| Refusal::Malformed(format!("invalid gzip body: {e}")))?;
    if out.len() > limit {
        return Err(Refusal::TooLarge {
            limit,
            decompressed: true,
        });
    }
    Ok(out)
}
