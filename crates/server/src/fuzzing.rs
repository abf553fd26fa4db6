//! Entry points for the fuzz targets (`fuzz/`) and their regression tests: the request
//! parsers of the query APIs (Go-style durations, RFC 3339 times, Jaeger's and Tempo's
//! trace-id forms, and the search query strings of Jaeger v1, Jaeger v3 and Zipkin), reachable
//! from outside the crate. Hidden from the docs and not a stable API.

use axum::http::Uri;
use clew_model::{TraceId, UnixNanos};

use crate::params::{self, Params};

pub fn parse_go_duration(input: &str) -> Result<i64, String> {
    params::parse_go_duration(input)
}

pub fn parse_rfc3339(input: &str) -> Result<UnixNanos, String> {
    params::parse_rfc3339(input)
}

pub fn parse_micros(input: &str) -> Result<UnixNanos, String> {
    params::parse_micros(input)
}

pub fn parse_jaeger_trace_id(input: &str, allow_base64: bool) -> Result<TraceId, String> {
    params::parse_jaeger_trace_id(input, allow_base64)
}

pub fn parse_tempo_trace_id(input: &str) -> Result<TraceId, String> {
    params::parse_tempo_trace_id(input)
}

/// What each search parser made of one query string (`Err` holds the error as the API
/// would report it, in Debug form; `Ok` means the search was accepted).
#[derive(Debug)]
pub struct SearchOutcomes {
    pub jaeger_v1: Result<(), String>,
    pub jaeger_v3: Result<(), String>,
    pub zipkin: Result<(), String>,
}

/// Parses `uri` (path and query) as each search endpoint does; `Err` when the URI or its
/// query string is malformed, which every endpoint refuses alike.
pub fn parse_searches(uri: &str, now: UnixNanos) -> Result<SearchOutcomes, String> {
    let uri: Uri = uri.parse().map_err(|e| format!("invalid URI: {e}"))?;
    let p = Params::from_uri(&uri)?;
    Ok(SearchOutcomes {
        jaeger_v1: crate::jaeger_v1::parse_search(&p, now)
            .map(drop)
            .map_err(|e| format!("{e:?}")),
        jaeger_v3: crate::jaeger_v3::parse_find_query(&p)
            .map(drop)
            .map_err(|e| format!("{e:?}")),
        zipkin: crate::zipkin::parse_traces_query(&p, now)
            .map(drop)
            .map_err(|e| format!("{e:?}")),
    })
}

/// A fixed "now", so that runs are reproducible.
const NOW: UnixNanos = UnixNanos(1_700_000_000_000_000_000);

/// The check run by the `server_params` fuzz target and its regression test: every parser
/// gets the input (as text), none panics, and what is accepted reads back the same from its
/// canonical form; then the input is the query string of each search endpoint.
pub fn params(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(nanos) = parse_go_duration(s) {
        assert_eq!(parse_go_duration(&format!("{nanos}ns")), Ok(nanos), "{s:?}");
        if !s.starts_with(['-', '+']) && nanos != i64::MIN {
            assert_eq!(parse_go_duration(&format!("-{s}")), Ok(-nanos), "-{s:?}");
        }
    }
    if let Ok(t) = parse_micros(s) {
        // Whole microseconds, or clamped at the end of time (a run stopped on forgetting the
        // clamp: regressions/server_params/crash-micros-saturated-*).
        assert!(t.0 % 1_000 == 0 || t.0 == u64::MAX, "{s:?}");
    }
    let _ = parse_rfc3339(s);
    for allow_base64 in [false, true] {
        if let Ok(id) = parse_jaeger_trace_id(s, allow_base64) {
            assert_eq!(parse_jaeger_trace_id(&id.to_hex(), false), Ok(id), "{s:?}");
        }
    }
    if let Ok(id) = parse_tempo_trace_id(s) {
        assert_eq!(parse_tempo_trace_id(&id.to_hex()), Ok(id), "{s:?}");
        // Tempo's forms are a subset of Jaeger's hex forms.
        assert_eq!(parse_jaeger_trace_id(s, false), Ok(id), "{s:?}");
    }
    let _ = parse_searches(&format!("/api/traces?{}", escape_for_uri(s)), NOW);
}

/// Percent-encodes only what a URI cannot hold raw, so the fuzzer still writes the query
/// string's structure (`&`, `=`, `+`, `%`) itself.
fn escape_for_uri(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_graphic() && b != b'#' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
