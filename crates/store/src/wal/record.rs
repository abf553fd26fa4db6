//! The WAL's byte format: segment magic, record framing, payload formats, and the scanner
//! that reads a segment up to its last good record.

use std::io::{self, ErrorKind, Read};

use clew_model::TraceBatch;
use clew_model::otlp::{self, Decoded};

use super::replay::{CutReason, SkipReason};

/// First 8 bytes of every segment.
pub const MAGIC: &[u8; 8] = b"CLEWWAL1";

/// Largest payload written or accepted when reading; a longer length field is corruption.
pub const MAX_RECORD_BYTES: u32 = 64 * 1024 * 1024;

/// Payload format byte: OTLP `TracesData` protobuf.
pub const FORMAT_OTLP_TRACES_DATA: u8 = 1;

/// Length and checksum, both u32 LE.
pub(crate) const HEADER_BYTES: u64 = 8;

/// Frames `payload` as one record (header included), appended to `out`.
#[cfg(test)]
pub(crate) fn encode_record(payload: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// One complete record (header, format byte, body) for a batch, built in a single buffer.
/// Fails with `InvalidInput` when the batch cannot be one record.
pub(crate) fn record_for_batch(batch: &TraceBatch) -> io::Result<Vec<u8>> {
    let body = otlp::encode_traces_data(batch);
    let too_large = || {
        io::Error::new(
            ErrorKind::InvalidInput,
            format!(
                "batch encodes to {} bytes, over the wal record limit of {MAX_RECORD_BYTES} bytes",
                body.len() + 1
            ),
        )
    };
    let len = u32::try_from(body.len() + 1).map_err(|_| too_large())?;
    if len > MAX_RECORD_BYTES {
        return Err(too_large());
    }
    let format = [FORMAT_OTLP_TRACES_DATA];
    let crc = crc32c::crc32c_append(crc32c::crc32c(&format), &body);
    let mut out = Vec::with_capacity(HEADER_BYTES as usize + body.len() + 1);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&format);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes a payload that passed its checksum.
pub(crate) fn decode_payload(payload: &[u8]) -> Result<Decoded, SkipReason> {
    match payload.split_first() {
        Some((&FORMAT_OTLP_TRACES_DATA, body)) => {
            otlp::decode_traces_data(body).map_err(|e| SkipReason::Undecodable {
                message: e.to_string(),
            })
        }
        Some((&format, _)) => Err(SkipReason::UnknownFormat { format }),
        // The scanner never yields an empty payload; kept total for safety.
        None => Err(SkipReason::UnknownFormat { format: 0 }),
    }
}

/// How a segment scan ended.
#[derive(Debug, PartialEq)]
pub(crate) struct ScanEnd {
    /// Bytes from the start of the file through the last good record (0 with a bad magic).
    pub good_len: u64,
    /// Why the scan stopped before the end of the file, if it did.
    pub cut: Option<CutReason>,
}

/// Reads a segment of `file_len` bytes, calling `on_record(offset, payload)` for every
/// record that passes its checks, up to the first that does not. Only I/O errors other
/// than a short read are returned as errors; bad content ends the scan with a cut.
pub(crate) fn scan_segment<R: Read>(
    mut reader: R,
    file_len: u64,
    mut on_record: impl FnMut(u64, &[u8]),
) -> io::Result<ScanEnd> {
    let mut magic = [0u8; 8];
    let got = read_full(&mut reader, &mut magic)?;
    if got < magic.len() {
        return Ok(ScanEnd {
            good_len: 0,
            cut: Some(CutReason::MissingMagic),
        });
    }
    if &magic != MAGIC {
        return Ok(ScanEnd {
            good_len: 0,
            cut: Some(CutReason::BadMagic),
        });
    }
    let mut offset = MAGIC.len() as u64;
    let mut payload = Vec::new();
    let cut = |offset, reason| {
        Ok(ScanEnd {
            good_len: offset,
            cut: Some(reason),
        })
    };
    loop {
        let mut header = [0u8; HEADER_BYTES as usize];
        let got = read_full(&mut reader, &mut header)?;
        if got == 0 {
            return Ok(ScanEnd {
                good_len: offset,
                cut: None,
            });
        }
        if got < header.len() {
            return cut(offset, CutReason::TruncatedHeader { bytes: got as u64 });
        }
        let [l0, l1, l2, l3, c0, c1, c2, c3] = header;
        let length = u32::from_le_bytes([l0, l1, l2, l3]);
        let stored = u32::from_le_bytes([c0, c1, c2, c3]);
        if length == 0 {
            return cut(offset, CutReason::ZeroLength);
        }
        if length > MAX_RECORD_BYTES {
            return cut(offset, CutReason::LengthOverCap { length });
        }
        // Checked against the file size first, so a garbage length never allocates.
        let available = file_len.saturating_sub(offset + HEADER_BYTES);
        if u64::from(length) > available {
            return cut(offset, CutReason::TruncatedPayload { length, available });
        }
        payload.resize(length as usize, 0);
        match reader.read_exact(&mut payload) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                // The file was shorter than its metadata said.
                return cut(offset, CutReason::TruncatedPayload { length, available });
            }
            Err(e) => return Err(e),
        }
        let computed = crc32c::crc32c(&payload);
        if computed != stored {
            return cut(offset, CutReason::ChecksumMismatch { stored, computed });
        }
        on_record(offset, &payload);
        offset += HEADER_BYTES + u64::from(length);
    }
}

/// Like `read_exact`, but a short read returns how many bytes were read instead of failing.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn segment(payloads: &[Vec<u8>]) -> (Vec<u8>, Vec<u64>) {
        let mut out = MAGIC.to_vec();
        let mut offsets = Vec::new();
        for p in payloads {
            offsets.push(out.len() as u64);
            encode_record(p, &mut out);
        }
        (out, offsets)
    }

    fn scan(bytes: &[u8]) -> (Vec<(u64, Vec<u8>)>, ScanEnd) {
        let mut records = Vec::new();
        let end = scan_segment(bytes, bytes.len() as u64, |off, p| {
            records.push((off, p.to_vec()))
        })
        .unwrap();
        (records, end)
    }

    proptest! {
        #[test]
        fn records_round_trip(payloads in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 1..300), 0..20)
        ) {
            let (bytes, offsets) = segment(&payloads);
            let (records, end) = scan(&bytes);
            prop_assert_eq!(end, ScanEnd { good_len: bytes.len() as u64, cut: None });
            let want: Vec<(u64, Vec<u8>)> = offsets.into_iter().zip(payloads).collect();
            prop_assert_eq!(records, want);
        }

        /// Any bytes at all after the magic: the scan ends without panicking, and what it
        /// keeps is a prefix of the file made of well-formed records.
        #[test]
        fn garbage_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut bytes = MAGIC.to_vec();
            bytes.extend_from_slice(&tail);
            let (records, end) = scan(&bytes);
            prop_assert!(end.good_len <= bytes.len() as u64);
            prop_assert_eq!(end.cut.is_none(), end.good_len == bytes.len() as u64);
            let mut rebuilt = MAGIC.to_vec();
            for (_, p) in &records {
                encode_record(p, &mut rebuilt);
            }
            prop_assert_eq!(&rebuilt[..], &bytes[..end.good_len as usize]);
        }
    }

    #[test]
    fn bad_lengths_and_checksums_cut_at_the_record() {
        let (mut bytes, offsets) = segment(&[b"one".to_vec(), b"two".to_vec()]);
        let last = offsets[1] as usize;

        let mut over = bytes.clone();
        over[last..last + 4].copy_from_slice(&(MAX_RECORD_BYTES + 1).to_le_bytes());
        let (records, end) = scan(&over);
        assert_eq!(records.len(), 1);
        assert_eq!(end.good_len, last as u64);
        assert_eq!(
            end.cut,
            Some(CutReason::LengthOverCap {
                length: MAX_RECORD_BYTES + 1
            })
        );

        let mut zero = bytes.clone();
        zero.truncate(last);
        zero.extend_from_slice(&[0u8; 64]);
        let (_, end) = scan(&zero);
        assert_eq!(
            (end.good_len, end.cut),
            (last as u64, Some(CutReason::ZeroLength))
        );

        let n = bytes.len();
        bytes[n - 1] ^= 0x01;
        let (records, end) = scan(&bytes);
        assert_eq!(records.len(), 1);
        assert_eq!(end.good_len, last as u64);
        assert!(matches!(end.cut, Some(CutReason::ChecksumMismatch { .. })));
    }

    #[test]
    fn magic_is_checked() {
        let (_, end) = scan(b"CLEW");
        assert_eq!(end.cut, Some(CutReason::MissingMagic));
        let (_, end) = scan(b"");
        assert_eq!(end.cut, Some(CutReason::MissingMagic));
        let (mut bytes, _) = segment(&[b"x".to_vec()]);
        bytes[0] = b'X';
        let (records, end) = scan(&bytes);
        assert!(records.is_empty());
        assert_eq!((end.good_len, end.cut), (0, Some(CutReason::BadMagic)));
    }

    #[test]
    fn batch_records_decode_and_unknown_formats_are_refused() {
        let rec = record_for_batch(&TraceBatch::default()).unwrap();
        let (records, end) = scan(&[MAGIC.as_slice(), &rec].concat());
        assert_eq!(end.cut, None);
        assert_eq!(records.len(), 1);
        assert!(decode_payload(&records[0].1).is_ok());
        assert_eq!(
            decode_payload(&[7, 1, 2]).unwrap_err(),
            SkipReason::UnknownFormat { format: 7 }
        );
        assert!(matches!(
            decode_payload(&[FORMAT_OTLP_TRACES_DATA, 0xff, 0xff]),
            Err(SkipReason::Undecodable { .. })
        ));
    }
}
