//! Identifier newtypes: trace and span ids as fixed-size byte arrays, tenants as names.

use std::fmt;
use std::str::FromStr;

/// Why an id could not be parsed or accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} must be {expected} bytes, got {got}")]
    Length {
        kind: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("{kind} is not hexadecimal: {source}")]
    Hex {
        kind: &'static str,
        source: hex::FromHexError,
    },
    #[error("{kind} must not be all zeros")]
    Zero { kind: &'static str },
    #[error(
        "tenant id {0:?} is invalid: use 1-150 characters of [A-Za-z0-9!_.*'()-], not '.' or '..'"
    )]
    Tenant(String),
}

macro_rules! byte_id {
    ($name:ident, $len:expr, $kind:expr) => {
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            pub const LEN: usize = $len;

            /// Accepts exactly the id's byte length.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, IdError> {
                let arr: [u8; $len] = bytes.try_into().map_err(|_| IdError::Length {
                    kind: $kind,
                    expected: $len,
                    got: bytes.len(),
                })?;
                Ok(Self(arr))
            }

            pub fn is_zero(&self) -> bool {
                self.0.iter().all(|b| *b == 0)
            }

            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Lowercase hexadecimal, full width.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }
    };
}

byte_id!(TraceId, 16, "trace id");
byte_id!(SpanId, 8, "span id");

impl TraceId {
    /// Parses hex of up to 32 digits; shorter ids (64-bit Jaeger/Zipkin ids, or
    /// Jaeger's habit of dropping leading zeros) are widened by left-padding with zeros.
    pub fn from_hex(s: &str) -> Result<Self, IdError> {
        parse_padded_hex(s, "trace id").map(Self)
    }

    /// The lower 64 bits, as Jaeger and Zipkin show 64-bit trace ids.
    pub fn low_u64(&self) -> u64 {
        u64::from_be_bytes(self.0[8..].try_into().unwrap_or_default())
    }

    pub fn high_u64(&self) -> u64 {
        u64::from_be_bytes(self.0[..8].try_into().unwrap_or_default())
    }

    pub fn from_u64_pair(high: u64, low: u64) -> Self {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&high.to_be_bytes());
        b[8..].copy_from_slice(&low.to_be_bytes());
        Self(b)
    }
}

impl SpanId {
    pub fn from_hex(s: &str) -> Result<Self, IdError> {
        parse_padded_hex(s, "span id").map(Self)
    }

    pub fn to_u64(&self) -> u64 {
        u64::from_be_bytes(self.0)
    }

    pub fn from_u64(v: u64) -> Self {
        Self(v.to_be_bytes())
    }
}

impl FromStr for TraceId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}

impl FromStr for SpanId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}

fn parse_padded_hex<const N: usize>(s: &str, kind: &'static str) -> Result<[u8; N], IdError> {
    let s = s.trim();
    if s.is_empty() || s.len() > N * 2 {
        return Err(IdError::Length {
            kind,
            expected: N,
            got: s.len().div_ceil(2),
        });
    }
    let padded = format!("{s:0>width$}", width = N * 2);
    let mut out = [0u8; N];
    hex::decode_to_slice(&padded, &mut out).map_err(|source| IdError::Hex { kind, source })?;
    Ok(out)
}

/// A tenant: Tempo's `X-Scope-OrgID`. Restricted to characters that are safe as a
/// directory name and an object-store path segment.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct TenantId(String);

impl TenantId {
    pub const DEFAULT: &'static str = "single-tenant";

    pub fn new(s: &str) -> Result<Self, IdError> {
        let ok = !s.is_empty()
            && s.len() <= 150
            && s != "."
            && s != ".."
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!-_.*'()".contains(c));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::Tenant(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TenantId {
    fn default() -> Self {
        Self(Self::DEFAULT.to_owned())
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_hex_is_widened() {
        let id = TraceId::from_hex("abc").unwrap();
        assert_eq!(id.to_hex(), "00000000000000000000000000000abc");
        assert_eq!(id.low_u64(), 0xabc);
        assert!(TraceId::from_hex("").is_err());
        assert!(TraceId::from_hex(&"f".repeat(33)).is_err());
        assert!(SpanId::from_hex("zz").is_err());
    }

    #[test]
    fn tenant_rules() {
        assert!(TenantId::new("team-a").is_ok());
        assert!(TenantId::new("../etc").is_err());
        assert!(TenantId::new("").is_err());
        assert_eq!(TenantId::default().as_str(), "single-tenant");
    }
}
