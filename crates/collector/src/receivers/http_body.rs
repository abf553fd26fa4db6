//! Reading an HTTP request body the same way for every HTTP receiver: the declared and the
//! streamed size bounded by the limit, `Content-Encoding` checked, gzip inflated under the
//! same bound (so a gzip bomb stops at the limit instead of filling memory).

use std::borrow::Cow;
use std::io::Read as _;

use axum::body::{Body, Bytes};
use flate2::read::MultiGzDecoder;
use http::HeaderMap;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};

use crate::pipeline::Refusal;

/// Whether the body is gzip-compressed; any coding other than gzip or identity is refused.
pub(crate) fn is_gzip(headers: &HeaderMap) -> Result<bool, Refusal> {
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
pub(crate) async fn read_body(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
) -> Result<Bytes, Refusal> {
    let too_large = Refusal::TooLarge {
        limit,
        decompressed: false,
    };
    // A declared oversize body is refused before any of it is read.
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

/// The body as sent, or inflated when it is gzip. Blocking: run it off the async workers.
pub(crate) fn inflate(raw: &[u8], gzip: bool, limit: usize) -> Result<Cow<'_, [u8]>, Refusal> {
    if gzip {
        gunzip(raw, limit).map(Cow::Owned)
    } else {
        Ok(Cow::Borrowed(raw))
    }
}

/// Inflates at most `limit` bytes: a gzip bomb stops at the limit instead of filling memory.
fn gunzip(raw: &[u8], limit: usize) -> Result<Vec<u8>, Refusal> {
    read_bounded(MultiGzDecoder::new(raw), limit)
}

fn read_bounded(reader: impl std::io::Read, limit: usize) -> Result<Vec<u8>, Refusal> {
    let mut out = Vec::new();
    // One byte past the limit tells "exactly at the limit" from "over it".
    reader
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

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(data).expect("write");
        enc.finish().expect("finish")
    }

    #[test]
    fn gunzip_is_bounded_exactly_at_the_limit() {
        let data = vec![b'x'; 100];
        assert_eq!(gunzip(&gzip(&data), 100).expect("at limit"), data);
        assert_eq!(
            gunzip(&gzip(&data), 99),
            Err(Refusal::TooLarge {
                limit: 99,
                decompressed: true
            })
        );
        assert!(matches!(
            gunzip(b"not gzip", 100),
            Err(Refusal::Malformed(m)) if m.contains("gzip")
        ));
    }

    /// Reading must stop one byte past the limit: this source errors if read any further.
    #[test]
    fn reading_stops_just_past_the_limit() {
        struct Tripwire;
        impl std::io::Read for Tripwire {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("read past the limit"))
            }
        }
        let source = std::io::repeat(b'x').take(101).chain(Tripwire);
        assert!(matches!(
            read_bounded(source, 100),
            Err(Refusal::TooLarge { limit: 100, .. })
        ));
    }
}
