//! Request parsing shared by the API families: query strings with repeated keys, the
//! tenant header, Go-style durations, RFC 3339 timestamps and Jaeger's trace-id forms.
//!
//! Every parser returns a lowercase message; each API family wraps it in its own error shape.

use axum::extract::Query;
use axum::http::{HeaderMap, Uri};
use base64::Engine as _;
use clew_model::{DurationNanos, SpanKind, TenantId, TraceId, UnixNanos};

/// The header that carries the tenant, as Tempo, Loki and Mimir name it.
pub(crate) const TENANT_HEADER: &str = "X-Scope-OrgID";

/// The tenant of a request: the `X-Scope-OrgID` header, or the default tenant without one.
pub(crate) fn tenant(headers: &HeaderMap) -> Result<TenantId, String> {
    match headers.get(TENANT_HEADER) {
        None => Ok(TenantId::default()),
        Some(value) => {
            let s = value
                .to_str()
                .map_err(|_| format!("invalid {TENANT_HEADER} header: not visible ASCII"))?;
            TenantId::new(s).map_err(|e| format!("invalid {TENANT_HEADER} header: {e}"))
        }
    }
}

/// A query string as an ordered list of pairs, so that repeated keys (`tag=`, `traceID=`)
/// survive. Lookups follow Go's `url.Values.Get`: the first value, and an empty value
/// counts as absent.
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn from_uri(uri: &Uri) -> Result<Self, String> {
        Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map(|Query(pairs)| Self(pairs))
            .map_err(|e| format!("malformed query string: {e}"))
    }

    /// The first non-empty value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The first of `keys` that has a non-empty value, with the key that supplied it.
    pub(crate) fn get_any<'a>(&'a self, keys: &[&'a str]) -> Option<(&'a str, &'a str)> {
        keys.iter().find_map(|k| self.get(k).map(|v| (*k, v)))
    }

    /// Every value of `key`, in request order.
    pub(crate) fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a duration as Go's `time.ParseDuration` does ("1.5h", "300ms", "1h2m3.5s",
/// "-2us", "0"), returning signed nanoseconds.
pub(crate) fn parse_go_duration(input: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {input:?}");
    let mut s = input;
    let mut negative = false;
    if let Some(rest) = s.strip_prefix('-') {
        negative = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    // Go allows up to 1<<63 nanoseconds in magnitude (the negative extreme).
    let limit: u128 = 1 << 63;
    let mut total: u128 = 0;
    while !s.is_empty() {
        let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (int_part, rest) = s.split_at(digits_end);
        s = rest;
        let mut frac_part = "";
        if let Some(rest) = s.strip_prefix('.') {
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            frac_part = &rest[..end];
            s = &rest[end..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_end = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        let (unit, rest) = s.split_at(unit_end);
        s = rest;
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {input:?}"));
        }
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            _ => return Err(format!("time: unknown unit {unit:?} in duration {input:?}")),
        };
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut value = whole.checked_mul(unit_nanos).ok_or_else(invalid)?;
        // Go keeps fraction digits while they can still matter, then rounds down.
        let mut scale: u128 = 1;
        let mut frac: u128 = 0;
        for digit in frac_part.bytes().take(20) {
            frac = frac * 10 + u128::from(digit - b'0');
            scale *= 10;
        }
        // Checked: a whole part just under u128::MAX nanoseconds plus its fraction overflowed
        // here (a panic with overflow checks, a wrapped and accepted value without them).
        value = value
            .checked_add(frac * unit_nanos / scale)
            .ok_or_else(invalid)?;
        total = total.checked_add(value).ok_or_else(invalid)?;
        if total > limit {
            return Err(invalid());
        }
    }
    if negative {
        // total <= 1<<63, so the negation fits.
        Ok(i64::try_from(-(total as i128)).map_err(|_| invalid())?)
    } else {
        i64::try_from(total).map_err(|_| invalid())
    }
}

/// A non-negative Go-style duration, for search bounds.
pub(crate) fn parse_duration_bound(input: &str) -> Result<DurationNanos, String> {
    let nanos = parse_go_duration(input)?;
    u64::try_from(nanos)
        .map(DurationNanos)
        .map_err(|_| format!("duration {input:?} is negative"))
}

/// An RFC 3339 timestamp with optional fraction and any offset, as Go's
/// `time.Parse(time.RFC3339Nano, …)` reads it.
pub(crate) fn parse_rfc3339(input: &str) -> Result<UnixNanos, String> {
    let t = time::OffsetDateTime::parse(input, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("parsing time {input:?} as RFC 3339: {e}"))?;
    u64::try_from(t.unix_timestamp_nanos())
        .map(UnixNanos)
        .map_err(|_| format!("time {input:?} is before the Unix epoch"))
}

/// Microseconds since the epoch, as Jaeger's v1 `start`/`end` parameters carry them.
pub(crate) fn parse_micros(input: &str) -> Result<UnixNanos, String> {
    input
        .parse::<u64>()
        .map(UnixNanos::from_micros)
        .map_err(|e| format!("{input:?} is not a non-negative integer: {e}"))
}

/// A boolean as Go's `strconv.ParseBool` accepts it.
pub(crate) fn parse_go_bool(input: &str) -> Result<bool, String> {
    match input {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("{input:?} is not a boolean")),
    }
}

/// A span kind as Jaeger's APIs name it ("server", "client", …, "unspecified"), any case.
pub(crate) fn parse_span_kind(value: Option<&str>) -> Result<Option<SpanKind>, String> {
    match value {
        None => Ok(None),
        Some(v) => SpanKind::from_lower_str(&v.to_ascii_lowercase())
            .map(Some)
            .ok_or_else(|| format!("unsupported span kind: '{v}'")),
    }
}

/// A trace id as Jaeger's query service reads it: up to 32 hex digits (leading zeros may be
/// dropped), else, when `allow_base64`, a base64 encoding (standard or URL-safe, padded or
/// not) of 8 or 16 bytes.
pub(crate) fn parse_jaeger_trace_id(input: &str, allow_base64: bool) -> Result<TraceId, String> {
    let hex_err = match TraceId::from_hex(input) {
        Ok(id) => return Ok(id),
        Err(e) => e.to_string(),
    };
    if !allow_base64 || input.len() > 24 {
        return Err(hex_err);
    }
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    for engine in [&STANDARD, &URL_SAFE, &STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        if let Ok(bytes) = engine.decode(input) {
            return match bytes.len() {
                16 => TraceId::from_slice(&bytes).map_err(|e| e.to_string()),
                8 => {
                    let mut low = [0u8; 8];
                    low.copy_from_slice(&bytes);
                    Ok(TraceId::from_u64_pair(0, u64::from_be_bytes(low)))
                }
                _ => Err("invalid length for TraceID".to_owned()),
            };
        }
    }
    Err(hex_err)
}

/// A trace id as Tempo reads it: hex digits only (either case), an odd count padded with a
/// leading zero, at most 128 bits, shorter ids widened with leading zeros.
pub(crate) fn parse_tempo_trace_id(input: &str) -> Result<TraceId, String> {
    if let Some((i, c)) = input
        .chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii_hexdigit())
    {
        return Err(format!(
            "trace IDs can only contain hex characters: invalid character '{c}' at position {}",
            i + 1
        ));
    }
    if input.len() > 32 {
        return Err("trace IDs can't be larger than 128 bits".to_owned());
    }
    if input.is_empty() {
        return Err("please provide a traceID".to_owned());
    }
    TraceId::from_hex(input).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let ok = [
            ("0", 0),
            ("5s", 5_000_000_000),
            ("1.2ms", 1_200_000),
            ("1h2m3.5s", 3_723_500_000_000),
            ("300us", 300_000),
            ("300\u{b5}s", 300_000),
            ("300\u{3bc}s", 300_000),
            ("10ns", 10),
            ("-1.5h", -5_400_000_000_000),
            ("+.5s", 500_000_000),
            ("1.s", 1_000_000_000),
            ("9223372036854775807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
        ];
        for (input, want) in ok {
            assert_eq!(parse_go_duration(input), Ok(want), "{input}");
        }
        for bad in [
            "",
            "1",
            ".s",
            "1x",
            "s",
            "-",
            "9223372036854775808ns",
            "1.2.3ms",
            // Found by fuzzing: the fraction pushed a huge whole part past u128::MAX.
            "94522879700260684295381835.99999999999999999999h",
        ] {
            assert!(parse_go_duration(bad).is_err(), "{bad} must be rejected");
        }
        assert_eq!(
            parse_go_duration("1"),
            Err("time: missing unit in duration \"1\"".to_owned())
        );
        assert!(parse_duration_bound("-1ms").is_err());
    }

    #[test]
    fn rfc3339_with_offsets_and_fractions() {
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20Z"),
            Ok(UnixNanos(1_700_000_000_000_000_000))
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T23:13:20.123456789+01:00"),
            Ok(UnixNanos(1_700_000_000_123_456_789))
        );
        assert!(parse_rfc3339("1969-12-31T23:59:59Z").is_err());
        assert!(parse_rfc3339("yesterday").is_err());
    }

    #[test]
    fn jaeger_trace_ids() {
        let full = "0102030405060708090a0b0c0d0e0f10";
        let id = parse_jaeger_trace_id(full, true).unwrap();
        assert_eq!(id.to_hex(), full);
        // Jaeger drops leading zeros of 64-bit ids.
        assert_eq!(
            parse_jaeger_trace_id("abc", false).unwrap().to_hex(),
            "00000000000000000000000000000abc"
        );
        // base64 of the same 16 bytes, padded and URL-safe unpadded.
        assert_eq!(
            parse_jaeger_trace_id("AQIDBAUGBwgJCgsMDQ4PEA==", true).unwrap(),
            id
        );
        assert_eq!(
            parse_jaeger_trace_id("AQIDBAUGBwgJCgsMDQ4PEA", true).unwrap(),
            id
        );
        assert!(parse_jaeger_trace_id("AQIDBAUGBwgJCgsMDQ4PEA==", false).is_err());
        // 8 bytes read as the low half.
        assert_eq!(
            parse_jaeger_trace_id("AAAAAAAAAAE=", true).unwrap(),
            TraceId::from_u64_pair(0, 1)
        );
        assert!(parse_jaeger_trace_id("not-an-id!", true).is_err());
        assert!(parse_jaeger_trace_id(&"a".repeat(33), true).is_err());
    }

    #[test]
    fn tempo_trace_ids() {
        assert_eq!(
            parse_tempo_trace_id("ABC").unwrap().to_hex(),
            "00000000000000000000000000000abc"
        );
        assert!(parse_tempo_trace_id("xyz").is_err());
        assert!(parse_tempo_trace_id(&"a".repeat(33)).is_err());
    }

    #[test]
    fn params_keep_repeats_and_treat_empty_as_absent() {
        let uri: Uri = "/x?tag=a:1&tag=b:2&service=&limit=5&q=a+b".parse().unwrap();
        let p = Params::from_uri(&uri).unwrap();
        assert_eq!(p.all("tag").collect::<Vec<_>>(), ["a:1", "b:2"]);
        assert_eq!(p.get("service"), None);
        assert_eq!(p.get("limit"), Some("5"));
        assert_eq!(p.get("q"), Some("a b"));
        assert_eq!(p.get_any(&["nope", "limit"]), Some(("limit", "5")));
    }

    #[test]
    fn tenant_header() {
        let mut h = HeaderMap::new();
        assert_eq!(tenant(&h).unwrap().as_str(), "single-tenant");
        h.insert(TENANT_HEADER, "team-a".parse().unwrap());
        assert_eq!(tenant(&h).unwrap().as_str(), "team-a");
        h.insert(TENANT_HEADER, "../etc".parse().unwrap());
        assert!(tenant(&h).is_err());
    }
}
