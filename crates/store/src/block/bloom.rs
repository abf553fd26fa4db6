//! The per-block bloom filter over trace ids, with a byte format of our own.
//!
//! Hand-written on purpose: a persisted filter must give the same answer for the same id
//! in every future build and on every platform. Bloom crates such as `fastbloom` hash
//! through `std::hash::Hash` (whose output Rust does not promise to keep across releases)
//! and keep their bit layout an internal detail that changed between versions, so a filter
//! written by one version could yield false negatives in the next. Here the hash is
//! xxh3-128 (a specified, frozen algorithm) of the 16 id bytes, split into two 64-bit halves
//! for double hashing (Kirsch–Mitzenmacher), over a plain bit array.
//!
//! # Format
//! `b"CLEWBLM1" | u32 LE hashes | u64 LE bits | ceil(bits/64) × u64 LE words | u32 LE CRC32C`
//! of everything before the checksum. Bit `i` is bit `i % 64` of word `i / 64`.

use clew_model::TraceId;
use xxhash_rust::xxh3::xxh3_128;

const MAGIC: &[u8; 8] = b"CLEWBLM1";
/// Header (magic, hashes, bits) and trailer (checksum) bytes.
const HEADER: usize = 8 + 4 + 8;
const TRAILER: usize = 4;
/// Larger counts only waste time: the optimum for a 0.1% rate is 10.
const MAX_HASHES: u32 = 32;

/// A bloom filter over trace ids: no false negatives, about the configured rate of false
/// positives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bloom {
    hashes: u32,
    bits: u64,
    words: Vec<u64>,
}

/// Why bytes are not a bloom filter.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BloomDecodeError {
    #[error("too short ({0} bytes)")]
    TooShort(usize),
    #[error("bad magic")]
    Magic,
    #[error("checksum mismatch")]
    Checksum,
    #[error("{hashes} hashes over {bits} bits in {len} bytes is inconsistent")]
    Shape { hashes: u32, bits: u64, len: usize },
}

impl Bloom {
    /// A filter sized for `items` ids at `false_positive_rate` (clamped to a sane range).
    pub fn new(items: usize, false_positive_rate: f64) -> Self {
        let p = if false_positive_rate.is_finite() {
            false_positive_rate.clamp(1e-9, 0.5)
        } else {
            0.01
        };
        let n = items.max(1) as f64;
        let ln2 = std::f64::consts::LN_2;
        // Standard optima: m = -n ln p / ln²2, k = m/n · ln 2.
        let bits = (-n * p.ln() / (ln2 * ln2)).ceil().max(64.0) as u64;
        let hashes = ((bits as f64 / n) * ln2)
            .round()
            .clamp(1.0, MAX_HASHES as f64) as u32;
        let words = vec![0; bits.div_ceil(64) as usize];
        Self {
            hashes,
            bits,
            words,
        }
    }

    fn positions(&self, id: &TraceId) -> impl Iterator<Item = u64> + use<> {
        let h = xxh3_128(id.as_bytes());
        let h1 = h as u64;
        // Odd, so that successive probes never collapse onto one position.
        let h2 = ((h >> 64) as u64) | 1;
        let bits = self.bits;
        (0..u64::from(self.hashes)).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % bits)
    }

    pub fn insert(&mut self, id: &TraceId) {
        for pos in self.positions(id) {
            if let Some(word) = self.words.get_mut((pos / 64) as usize) {
                *word |= 1 << (pos % 64);
            }
        }
    }

    /// False means the id is certainly absent.
    pub fn may_contain(&self, id: &TraceId) -> bool {
        self.positions(id).all(|pos| {
            self.words
                .get((pos / 64) as usize)
                .is_some_and(|w| w & (1 << (pos % 64)) != 0)
        })
    }

    pub fn encoded_len(&self) -> usize {
        HEADER + self.words.len() * 8 + TRAILER
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.hashes.to_le_bytes());
        out.extend_from_slice(&self.bits.to_le_bytes());
        for w in &self.words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, BloomDecodeError> {
        let len = bytes.len();
        if len < HEADER + TRAILER {
            return Err(BloomDecodeError::TooShort(len));
        }
        let (body, trailer) = bytes.split_at(len - TRAILER);
        if &body[..8] != MAGIC {
            return Err(BloomDecodeError::Magic);
        }
        let crc = u32::from_le_bytes(le(trailer));
        if crc32c::crc32c(body) != crc {
            return Err(BloomDecodeError::Checksum);
        }
        let hashes = u32::from_le_bytes(le(&body[8..12]));
        let bits = u64::from_le_bytes(le(&body[12..20]));
        let payload = &body[HEADER..];
        let shape_ok = (1..=MAX_HASHES).contains(&hashes)
            && bits > 0
            && payload.len() % 8 == 0
            && bits.div_ceil(64) == (payload.len() / 8) as u64;
        if !shape_ok {
            return Err(BloomDecodeError::Shape { hashes, bits, len });
        }
        let words = payload
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(le(c)))
            .collect();
        Ok(Self {
            hashes,
            bits,
            words,
        })
    }
}

/// Copies a slice whose length the caller has checked into an array.
fn le<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&bytes[..N]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(i: u64) -> TraceId {
        TraceId::from_u64_pair(0, i)
    }

    #[test]
    fn no_false_negatives_and_about_one_percent_false_positives() {
        let mut bloom = Bloom::new(10_000, 0.01);
        for i in 0..10_000 {
            bloom.insert(&id(i));
        }
        assert!((0..10_000).all(|i| bloom.may_contain(&id(i))));
        let fp = (10_000..110_000)
            .filter(|i| bloom.may_contain(&id(*i)))
            .count();
        // 1% of 100,000 is 1,000; allow for the variance of one filter.
        assert!(fp < 1_500, "{fp} false positives in 100,000");
        assert!(
            fp > 500,
            "{fp} false positives: suspiciously few, is the filter sized?"
        );
    }

    #[test]
    fn encoding_round_trips_and_detects_damage() {
        let mut bloom = Bloom::new(100, 0.01);
        for i in 0..100 {
            bloom.insert(&id(i));
        }
        let bytes = bloom.encode();
        assert_eq!(bytes.len(), bloom.encoded_len());
        assert_eq!(Bloom::decode(&bytes).unwrap(), bloom);
        for cut in [0, 5, HEADER, bytes.len() - 1] {
            assert!(Bloom::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[HEADER + 3] ^= 0x10;
        assert_eq!(Bloom::decode(&flipped), Err(BloomDecodeError::Checksum));
    }

    /// The hash and bit layout are part of the on-disk format: this pins them.
    #[test]
    fn format_is_stable() {
        let mut bloom = Bloom::new(10, 0.01);
        bloom.insert(&TraceId([0xab; 16]));
        let bytes = bloom.encode();
        let set: Vec<u64> = (0..bloom.bits)
            .filter(|i| bloom.words[(*i / 64) as usize] & (1 << (i % 64)) != 0)
            .collect();
        assert_eq!((bloom.hashes, bloom.bits, bytes.len()), (7, 96, 40));
        assert_eq!(set, PINNED_BITS);
    }

    const PINNED_BITS: [u64; 7] = [2, 12, 23, 33, 54, 56, 77];
}
