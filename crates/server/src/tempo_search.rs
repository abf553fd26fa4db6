//! Tempo's search HTTP API, which Grafana's Tempo data source calls: TraceQL search
//! (`/api/search`), tag names (`/api/search/tags`, `/api/v2/search/tags`), tag values
//! (`/api/search/tag/{tag}/values`, `/api/v2/search/tag/{tag}/values`) and
//! `/api/status/buildinfo`. Searches run in `clew-query` (`Querier::search_traceql`,
//! `tag_names`, `tag_values`); this module reads Tempo's query strings and writes Tempo's
//! JSON. Tempo's rules between the two (limits, messages, validation, tag scopes, the
//! mapping of results into `tempopb` messages) are `tempo_common`'s, shared with the gRPC
//! querier.
//!
//! Source of the shapes (grafana/tempo at ad33aa8f): `pkg/tempopb/tempo.proto`
//! (`SearchResponse`, `TraceSearchMetadata`, `SpanSet`, `Span`, `ServiceStats`,
//! `SearchMetrics`, `SearchTags(V2)Response`, `SearchTagValues(V2)Response`, `TagValue`),
//! `pkg/api/http.go` (`ParseSearchRequestWithDefault`: parameters, messages, logfmt `tags`,
//! legacy tags as loose parameters), `pkg/api/search_tags.go` (tag parameters, `scope`),
//! `modules/frontend/search_handlers.go` (`newCombiner`: 400 `invalid TraceQL query: …`,
//! `adjustLimit`), `modules/frontend/search_sharder.go` and `config.go` (default limit 20,
//! max 262144, spss default 3, max 100), `modules/frontend/combiner/search.go` (root
//! service `<root span not yet received>`, jsonpb marshalling), `pkg/traceql/engine.go`
//! (`asTraceSearchMetadata`, `Static.AsAnyValue`), `pkg/traceql/util.go` (tag value types),
//! `pkg/search/util.go` (v1 virtual tag values), `tempodb/encoding/vparquet4/
//! block_search.go` and `schema.go` (how legacy tags match), `cmd/tempo/app/app.go` and
//! `cmd/tempo/build/build.go` (build info). Readers checked: grafana/grafana
//! `pkg/tsdb/tempo/search.go` (decodes the search JSON with `encoding/json`: `durationMs`,
//! counts and `matched` must be numbers, `startTimeUnixNano`/`durationNanos` strings),
//! `public/app/plugins/datasource/tempo/{resultTransformer,language_provider,datasource}.ts`.
//! See `docs/api-shapes.md`.
//!
//! JSON is gogo jsonpb as Tempo writes it: 64-bit integers as strings, zero scalars and
//! empty lists left out, the `AnyValue` variant always written. Protobuf answers are not
//! offered for search.
//!
//! Not Tempo's behaviour: trace ids are padded to 32 hex digits (Tempo trims leading zeros
//! unless `left_pad_trace_ids` is set; both forms are accepted by every trace-by-id route);
//! `minDuration`/`maxDuration` also bound TraceQL searches (Tempo applies them to legacy
//! tag searches only) and keep their nanoseconds; `end` covers its whole second (Tempo
//! stops at the second's start); legacy `tags` become a TraceQL query
//! (see [`tempo_common::tags_to_traceql`]) and `error=true` means error status; Clew's extensions are
//! `order=newest|longest`, `cursor` and the answer's `nextCursor` (and `partial` when a
//! search stopped early).

use axum::extract::{Path, Query as QueryExtractor, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use clew_model::{DurationNanos, TenantId};
use clew_query::Querier;
use clew_query::search::{
    Cursor, FieldValue, SearchOrder, SearchRequest, SearchResult, TagNames, TagRef,
};
use serde_json::{Map, Value, json};

use crate::json_response;
use crate::params::{self, Params};
use crate::tempo::TempoError;
use crate::tempo_common::proto::tempopb as pb;
use crate::tempo_common::proto::tempopb::common::v1 as pbc;
use crate::tempo_common::{self, InvalidRequest, ScopeParam, SearchBounds, TagParams, TraceIdForm};

type TempoResult = Result<Response, TempoError>;

/// Parameters that are never legacy tags: Tempo's reserved keys plus Clew's extensions.
const RESERVED_PARAMS: &[&str] = &[
    "q",
    "tags",
    "minDuration",
    "maxDuration",
    "limit",
    "spss",
    "start",
    "end",
    "order",
    "cursor",
];

/// The Tempo version `/api/status/buildinfo` reports. Grafana's Tempo data source compares
/// it with `semver.gte` to enable features (search streaming from 2.2.0, metrics streaming
/// from 2.7.0; `datasource.ts` `featuresToTempoVersion`) and enables everything when it
/// cannot parse it. 2.8.0 is past every gate Grafana has, and a plain release number (no
/// `-clew` pre-release part, which semver orders below the release) keeps that comparison
/// predictable. `revision` and `branch` say that the server is Clew.
const TEMPO_COMPAT_VERSION: &str = "2.8.0";

// ---------------------------------------------------------------- /api/search

/// `GET /api/search?q=&tags=&minDuration=&maxDuration=&limit=&spss=&start=&end=&order=&cursor=`.
pub(crate) async fn search(State(q): State<Querier>, headers: HeaderMap, uri: Uri) -> TempoResult {
    let tenant = tenant(&headers)?;
    let request = parse_search(&uri)?;
    let result = q.search_traceql(&tenant, &request).await?;
    Ok(json_response(StatusCode::OK, &search_response(&result)))
}

fn tenant(headers: &HeaderMap) -> Result<TenantId, TempoError> {
    params::tenant(headers).map_err(TempoError::BadRequest)
}

fn bad(msg: impl Into<String>) -> TempoError {
    TempoError::BadRequest(msg.into())
}

/// Tempo's refusals are 400s with Tempo's message.
fn invalid(e: InvalidRequest) -> TempoError {
    TempoError::BadRequest(e.to_string())
}

/// A search request from Tempo's parameters, validated as `ParseSearchRequestWithDefault`
/// and the frontend do, with the TraceQL parsed and type-checked.
pub(crate) fn parse_search(uri: &Uri) -> Result<SearchRequest, TempoError> {
    let p = Params::from_uri(uri).map_err(TempoError::BadRequest)?;
    let start = unix_seconds(&p, "start")?;
    let end = unix_seconds(&p, "end")?;
    let q = p.get("q");
    let tags_param = p.get("tags");
    let mut tags: Vec<(String, String)> = Vec::new();
    if let Some(encoded) = tags_param {
        if q.is_some() {
            return Err(bad(
                "invalid request: can't specify tags and q in the same query",
            ));
        }
        for (key, value) in decode_logfmt(encoded).map_err(|e| invalid(InvalidRequest::Tags(e)))? {
            if tags.iter().any(|(k, _)| *k == key) {
                return Err(invalid(InvalidRequest::Tags(format!(
                    "tag {key} has been set twice"
                ))));
            }
            tags.push((key, value));
        }
    } else if q.is_none() && start == 0 && end == 0 {
        // Tempo still reads tags passed as loose parameters (the first Grafana
        // integration did so) when nothing else says what to search.
        let QueryExtractor(pairs) = QueryExtractor::<Vec<(String, String)>>::try_from_uri(uri)
            .map_err(|e| bad(format!("malformed query string: {e}")))?;
        for (key, value) in pairs {
            if RESERVED_PARAMS.contains(&key.as_str()) || tags.iter().any(|(k, _)| *k == key) {
                continue;
            }
            if !value.is_empty() {
                tags.push((key, value));
            }
        }
    }
    let query = match q {
        Some(q) => tempo_common::parse_traceql(q),
        None => tempo_common::legacy_tags_query(&tags),
    }
    .map_err(invalid)?;

    let min_duration = duration(&p, "minDuration")?;
    let max_duration = duration(&p, "maxDuration")?;
    let limit = match p.get("limit") {
        None => 0,
        Some(v) => match parse_u32(v) {
            Err(e) => return Err(bad(format!("invalid limit: {e}"))),
            Ok(0) => return Err(bad("invalid limit: must be a positive number")),
            Ok(n) => n,
        },
    };
    let spans_per_spanset = p
        .get("spss")
        .map(|v| parse_u32(v).map_err(|e| bad(format!("invalid spss: {e}"))))
        .transpose()?;
    let bounds = SearchBounds {
        start,
        end,
        min_duration,
        max_duration,
        limit,
        spans_per_spanset,
    };
    let mut request = tempo_common::search_request(query, &bounds).map_err(invalid)?;

    let cursor = match p.get("cursor") {
        None => None,
        Some(token) => Some(
            Cursor::from_token(token)
                .ok_or_else(|| bad(format!("invalid cursor: {token:?} is not a search cursor")))?,
        ),
    };
    let order = match p.get("order") {
        None => cursor.map_or(SearchOrder::Newest, |c| c.order),
        Some("newest") => SearchOrder::Newest,
        Some("longest") => SearchOrder::Longest,
        Some(other) => {
            return Err(bad(format!(
                "invalid order: {other:?}; expected newest or longest"
            )));
        }
    };
    if let Some(c) = cursor
        && c.order != order
    {
        return Err(bad(format!(
            "invalid cursor: it continues the {} order, not {}",
            order_name(c.order),
            order_name(order)
        )));
    }
    request.order = order;
    request.cursor = cursor;
    Ok(request)
}

fn order_name(order: SearchOrder) -> &'static str {
    match order {
        SearchOrder::Newest => "newest",
        SearchOrder::Longest => "longest",
    }
}

/// A 32-bit unsigned decimal, as Go's `strconv.ParseUint(s, 10, 32)` reads it.
fn parse_u32(v: &str) -> Result<u32, String> {
    v.parse::<u32>().map_err(|e| format!("{v:?}: {e}"))
}

/// Unix seconds in a 32-bit unsigned field, as Tempo's search parameters carry them; absent
/// is 0, which both mean "unset".
fn unix_seconds(p: &Params, name: &str) -> Result<u32, TempoError> {
    p.get(name)
        .map_or(Ok(0), parse_u32)
        .map_err(|e| bad(format!("invalid {name}: {e}")))
}

/// A Go duration bound; zero means no bound.
fn duration(p: &Params, name: &str) -> Result<Option<DurationNanos>, TempoError> {
    p.get(name)
        .map(params::parse_duration_bound)
        .transpose()
        .map(|d| d.filter(|d| d.0 > 0))
        .map_err(|e| bad(format!("invalid {name}: {e}")))
}

// ---------------------------------------------------------------- legacy tags

/// Decodes logfmt as go-logfmt's `Decoder` does (Tempo's `tags` parameter): records are
/// lines; `key`, `key=`, `key=value` and `key="quoted"` (JSON escapes) pairs are separated
/// by bytes up to space; errors name the 1-based byte position in the line. Hand-written
/// because no maintained Rust crate reproduces go-logfmt's rules and messages, and the
/// grammar is a few states.
pub(crate) fn decode_logfmt(input: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for line in input.split('\n') {
        // bufio.ScanLines drops a trailing carriage return.
        let line = line.strip_suffix('\r').unwrap_or(line);
        decode_logfmt_line(line, &mut out)?;
    }
    Ok(out)
}

fn decode_logfmt_line(line: &str, out: &mut Vec<(String, String)>) -> Result<(), String> {
    let bytes = line.as_bytes();
    let err = |pos: usize, msg: &str| format!("{msg} at pos {}", pos + 1);
    let unexpected = |pos: usize, c: u8| err(pos, &format!("unexpected '{}'", c as char));
    let mut pos = 0;
    loop {
        while pos < bytes.len() && bytes[pos] <= b' ' {
            pos += 1;
        }
        if pos >= bytes.len() {
            return Ok(());
        }
        // Key: up to `=`, a quote (an error) or a byte up to space.
        let start = pos;
        while pos < bytes.len() && bytes[pos] > b' ' && bytes[pos] != b'=' && bytes[pos] != b'"' {
            pos += 1;
        }
        if pos < bytes.len() && bytes[pos] == b'"' {
            return Err(unexpected(pos, b'"'));
        }
        if pos == start {
            // Only `=` stops a key before it starts.
            return Err(unexpected(pos, b'='));
        }
        let key = line.get(start..pos).unwrap_or_default().to_owned();
        if pos >= bytes.len() || bytes[pos] != b'=' {
            out.push((key, String::new()));
            continue;
        }
        pos += 1; // `=`
        if pos >= bytes.len() || bytes[pos] <= b' ' {
            out.push((key, String::new()));
            continue;
        }
        if bytes[pos] == b'"' {
            let open = pos;
            let mut escaped = false;
            let mut close = None;
            for (i, &c) in bytes.iter().enumerate().skip(open + 1) {
                if escaped {
                    escaped = false;
                } else if c == b'\\' {
                    escaped = true;
                } else if c == b'"' {
                    close = Some(i);
                    break;
                }
            }
            let Some(close) = close else {
                return Err(err(bytes.len(), "unterminated quoted value"));
            };
            pos = close + 1;
            let value = unquote_json(line.get(open + 1..close).unwrap_or_default())
                .ok_or_else(|| err(pos, "invalid quoted value"))?;
            out.push((key, value));
            continue;
        }
        let start = pos;
        while pos < bytes.len() && bytes[pos] > b' ' {
            if bytes[pos] == b'=' || bytes[pos] == b'"' {
                return Err(unexpected(pos, bytes[pos]));
            }
            pos += 1;
        }
        out.push((key, line.get(start..pos).unwrap_or_default().to_owned()));
    }
}

/// The inside of a JSON string literal, unescaped (go-logfmt uses encoding/json's rules
/// plus `\'`); `None` when an escape is invalid or a control character appears.
fn unquote_json(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                c @ ('"' | '\\' | '/' | '\'') => out.push(c),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'u' => {
                    let hex4 = |chars: &mut std::str::Chars<'_>| -> Option<u32> {
                        let digits: String = chars.by_ref().take(4).collect();
                        if digits.len() != 4 {
                            return None;
                        }
                        u32::from_str_radix(&digits, 16).ok()
                    };
                    let first = hex4(&mut chars)?;
                    let decoded = if (0xd800..0xdc00).contains(&first) {
                        // A surrogate pair; a lone half becomes U+FFFD as in Go.
                        let mut look = chars.clone();
                        let second = (look.next() == Some('\\') && look.next() == Some('u'))
                            .then(|| hex4(&mut look))
                            .flatten()
                            .filter(|s| (0xdc00..0xe000).contains(s));
                        match second {
                            Some(low) => {
                                chars = look;
                                char::from_u32(0x10000 + ((first - 0xd800) << 10) + (low - 0xdc00))
                            }
                            None => None,
                        }
                    } else {
                        char::from_u32(first)
                    };
                    out.push(decoded.unwrap_or('\u{fffd}'));
                }
                _ => return None,
            },
            c if u32::from(c) < 0x20 => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

// ---------------------------------------------------------------- search JSON

/// `tempopb.SearchResponse` as jsonpb writes it, plus Clew's `nextCursor` and `partial`.
pub(crate) fn search_response(result: &SearchResult) -> Value {
    let response = tempo_common::search_response(result, TraceIdForm::Padded);
    let mut body = Map::new();
    body.insert(
        "traces".into(),
        Value::Array(response.traces.iter().map(trace_metadata_json).collect()),
    );
    body.insert(
        "metrics".into(),
        metrics_json(&response.metrics.unwrap_or_default()),
    );
    if let Some(next) = result.next {
        body.insert("nextCursor".into(), json!(next.to_token()));
    }
    if let Some(why) = &result.partial {
        body.insert("partial".into(), json!(why));
    }
    Value::Object(body)
}

/// `TraceSearchMetadata`.
fn trace_metadata_json(t: &pb::TraceSearchMetadata) -> Value {
    let mut o = Map::new();
    o.insert("traceID".into(), json!(t.trace_id));
    o.insert("rootServiceName".into(), json!(t.root_service_name));
    put_string(&mut o, "rootTraceName", &t.root_trace_name);
    put_u64_string(&mut o, "startTimeUnixNano", t.start_time_unix_nano);
    put_u32(&mut o, "durationMs", t.duration_ms);
    if let Some(first) = &t.span_set {
        o.insert("spanSet".into(), spanset_json(first));
    }
    if !t.span_sets.is_empty() {
        o.insert(
            "spanSets".into(),
            Value::Array(t.span_sets.iter().map(spanset_json).collect()),
        );
    }
    // A JSON object sorts its keys, so the map's order does not show.
    let stats: Map<String, Value> = t
        .service_stats
        .iter()
        .map(|(name, s)| {
            let mut st = Map::new();
            put_u32(&mut st, "spanCount", s.span_count);
            put_u32(&mut st, "errorCount", s.error_count);
            (name.clone(), Value::Object(st))
        })
        .collect();
    o.insert("serviceStats".into(), Value::Object(stats));
    Value::Object(o)
}

/// `SpanSet`.
fn spanset_json(s: &pb::SpanSet) -> Value {
    let mut o = Map::new();
    if !s.spans.is_empty() {
        o.insert(
            "spans".into(),
            Value::Array(s.spans.iter().map(span_json).collect()),
        );
    }
    put_u32(&mut o, "matched", s.matched);
    put_attributes(&mut o, &s.attributes);
    Value::Object(o)
}

/// `tempopb.Span`.
fn span_json(s: &pb::Span) -> Value {
    let mut o = Map::new();
    o.insert("spanID".into(), json!(s.span_id));
    put_string(&mut o, "name", &s.name);
    put_u64_string(&mut o, "startTimeUnixNano", s.start_time_unix_nano);
    put_u64_string(&mut o, "durationNanos", s.duration_nanos);
    put_attributes(&mut o, &s.attributes);
    Value::Object(o)
}

fn put_attributes(o: &mut Map<String, Value>, attributes: &[pbc::KeyValue]) {
    if !attributes.is_empty() {
        let list: Vec<Value> = attributes
            .iter()
            .map(|kv| {
                let value = kv.value.as_ref().map_or_else(|| json!({}), any_value);
                json!({"key": kv.key, "value": value})
            })
            .collect();
        o.insert("attributes".into(), Value::Array(list));
    }
}

/// An `AnyValue` as jsonpb writes it: the variant always, 64-bit integers as strings.
fn any_value(v: &pbc::AnyValue) -> Value {
    use pbc::any_value::Value as V;
    match &v.value {
        Some(V::StringValue(s)) => json!({"stringValue": s}),
        Some(V::IntValue(i)) => json!({"intValue": i.to_string()}),
        Some(V::DoubleValue(f)) => json!({"doubleValue": jsonpb_double(*f)}),
        Some(V::BoolValue(b)) => json!({"boolValue": b}),
        // Never written by `tempo_common` (Tempo's `AsAnyValue` has no such values).
        Some(_) | None => json!({}),
    }
}

/// A double as jsonpb writes it: a number, or `"NaN"`/`"Infinity"`/`"-Infinity"`.
fn jsonpb_double(f: f64) -> Value {
    if f.is_nan() {
        json!("NaN")
    } else if f.is_infinite() {
        json!(if f > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        json!(f)
    }
}

/// `SearchMetrics`.
fn metrics_json(m: &pb::SearchMetrics) -> Value {
    let mut o = Map::new();
    put_u32(&mut o, "inspectedTraces", m.inspected_traces);
    put_u64_string(&mut o, "inspectedBytes", m.inspected_bytes);
    put_u32(&mut o, "totalBlocks", m.total_blocks);
    put_u32(&mut o, "completedJobs", m.completed_jobs);
    put_u32(&mut o, "totalJobs", m.total_jobs);
    put_u64_string(&mut o, "totalBlockBytes", m.total_block_bytes);
    put_u64_string(&mut o, "inspectedSpans", m.inspected_spans);
    Value::Object(o)
}

/// A `string` field, left out when empty.
fn put_string(o: &mut Map<String, Value>, key: &str, v: &str) {
    if !v.is_empty() {
        o.insert(key.into(), json!(v));
    }
}

/// A `uint32` field: a JSON number, left out when zero.
fn put_u32(o: &mut Map<String, Value>, key: &str, v: u32) {
    if v != 0 {
        o.insert(key.into(), json!(v));
    }
}

/// A `uint64` field: a decimal string, left out when zero.
fn put_u64_string(o: &mut Map<String, Value>, key: &str, v: u64) {
    if v != 0 {
        o.insert(key.into(), json!(v.to_string()));
    }
}

// ---------------------------------------------------------------- tags

/// The common parameters of the tag listings: `scope`, `q` (lenient), `start`, `end`, `limit`.
fn parse_tag_params(uri: &Uri) -> Result<TagParams, TempoError> {
    let p = Params::from_uri(uri).map_err(TempoError::BadRequest)?;
    let scope = ScopeParam::parse(p.get("scope").unwrap_or_default()).map_err(invalid)?;
    let limit = match p.get("limit") {
        None => 0,
        Some(v) => parse_u32(v).map_err(|e| bad(format!("invalid limit: {e}")))?,
    };
    Ok(TagParams::new(
        scope,
        p.get("q").unwrap_or_default(),
        unix_seconds(&p, "start")?,
        unix_seconds(&p, "end")?,
        limit,
    ))
}

/// The tag names a listing asks for, and the scope it asked for; the tenant is checked
/// first, as on every route.
async fn find_tag_names(
    q: &Querier,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<(TagNames, ScopeParam), TempoError> {
    let tenant = tenant(headers)?;
    let p = parse_tag_params(uri)?;
    let names = match p.tags_request() {
        None => TagNames::default(),
        Some(request) => q.tag_names(&tenant, &request).await?,
    };
    Ok((names, p.scope))
}

/// `GET /api/search/tags?scope=&q=&start=&end=&limit=` → `{"tagNames": [...]}`: plain names
/// (see [`tempo_common::v1_tag_names`]).
pub(crate) async fn search_tags(
    State(q): State<Querier>,
    headers: HeaderMap,
    uri: Uri,
) -> TempoResult {
    // One listing of every scope (a single pass), of which v1 shows some.
    let (names, scope) = find_tag_names(&q, &headers, &uri).await?;
    Ok(json_response(
        StatusCode::OK,
        &tags_v1_response(&tempo_common::v1_tag_names(&names, scope)),
    ))
}

/// `SearchTagsResponse`.
pub(crate) fn tags_v1_response(names: &[String]) -> Value {
    json!({"tagNames": names, "metrics": {}})
}

/// `GET /api/v2/search/tags?scope=&q=&start=&end=&limit=` →
/// `{"scopes": [{"name": "span", "tags": [...]}, …, {"name": "intrinsic", …}]}`.
pub(crate) async fn search_tags_v2(
    State(q): State<Querier>,
    headers: HeaderMap,
    uri: Uri,
) -> TempoResult {
    let (names, _) = find_tag_names(&q, &headers, &uri).await?;
    Ok(json_response(StatusCode::OK, &tags_v2_response(names)))
}

/// `SearchTagsV2Response` (see [`tempo_common::v2_tag_scopes`]).
pub(crate) fn tags_v2_response(names: TagNames) -> Value {
    let scopes: Vec<Value> = tempo_common::v2_tag_scopes(names)
        .into_iter()
        .map(|(scope, tags)| json!({"name": scope.name(), "tags": tags}))
        .collect();
    json!({"scopes": scopes, "metrics": {}})
}

// ---------------------------------------------------------------- tag values

/// The values of a tag the route has read (or refused), for the tenant and parameters of a
/// request; the tenant is checked first, as on every route.
async fn find_tag_values(
    q: &Querier,
    headers: &HeaderMap,
    uri: &Uri,
    tag: Result<TagRef, InvalidRequest>,
) -> Result<Vec<FieldValue>, TempoError> {
    let tenant = tenant(headers)?;
    let tag = tag.map_err(invalid)?;
    let p = parse_tag_params(uri)?;
    Ok(q.tag_values(&tenant, &p.values_request(tag)).await?)
}

/// `GET /api/search/tag/{tag}/values?q=&start=&end=&limit=` → `{"tagValues": ["a", …]}`:
/// `tag` is a plain attribute name (span or resource); values as text.
pub(crate) async fn tag_values(
    State(q): State<Querier>,
    headers: HeaderMap,
    Path(tag): Path<String>,
    uri: Uri,
) -> TempoResult {
    let values = find_tag_values(&q, &headers, &uri, tempo_common::v1_tag(&tag)).await?;
    Ok(json_response(
        StatusCode::OK,
        &tag_values_v1_response(&tag, &values),
    ))
}

/// `SearchTagValuesResponse` (see [`tempo_common::v1_tag_values`]).
pub(crate) fn tag_values_v1_response(tag: &str, values: &[FieldValue]) -> Value {
    json!({"tagValues": tempo_common::v1_tag_values(tag, values), "metrics": {}})
}

/// `GET /api/v2/search/tag/{tag}/values?q=&start=&end=&limit=` →
/// `{"tagValues": [{"type": "string", "value": "GET"}, …]}`; `tag` is a TraceQL field
/// (`resource.service.name`, `.http.method`, `name`, `status`, `span:kind`).
pub(crate) async fn tag_values_v2(
    State(q): State<Querier>,
    headers: HeaderMap,
    Path(tag): Path<String>,
    uri: Uri,
) -> TempoResult {
    let values = find_tag_values(&q, &headers, &uri, tempo_common::v2_tag(&tag)).await?;
    Ok(json_response(
        StatusCode::OK,
        &tag_values_v2_response(&values),
    ))
}

/// `SearchTagValuesV2Response`: an empty value is left out, as jsonpb does.
pub(crate) fn tag_values_v2_response(values: &[FieldValue]) -> Value {
    let list: Vec<Value> = tempo_common::v2_tag_values(values)
        .iter()
        .map(|v| {
            let mut o = Map::new();
            o.insert("type".into(), json!(v.r#type));
            put_string(&mut o, "value", &v.value);
            Value::Object(o)
        })
        .collect();
    json!({"tagValues": list, "metrics": {}})
}

// ---------------------------------------------------------------- build info

/// `GET /api/status/buildinfo` → Prometheus' `PrometheusVersion` JSON, as Tempo answers it.
pub(crate) async fn buildinfo() -> Response {
    json_response(StatusCode::OK, &buildinfo_json())
}

pub(crate) fn buildinfo_json() -> Value {
    json!({
        "version": TEMPO_COMPAT_VERSION,
        "revision": concat!("clew-", env!("CARGO_PKG_VERSION")),
        "branch": "clew",
        "buildUser": "clew",
        "buildDate": "",
        "goVersion": "",
    })
}

#[cfg(test)]
mod tests;
