//! Span filters: the only search language the store speaks. Query layers map theirs onto it.

use std::sync::Arc;

use clew_model::{AnyValue, DurationNanos, KeyValue, SpanKind, SpanRecord, StatusCode, UnixNanos};

/// Conditions that one span must all meet for its trace to match. Unset fields match
/// everything, so `SpanFilter::default()` matches every trace.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpanFilter {
    /// Resource `service.name` (OpenTelemetry's `unknown_service` when absent).
    pub service: Option<String>,
    /// Span name.
    pub operation: Option<String>,
    pub kind: Option<SpanKind>,
    pub status: Option<StatusCode>,
    /// Each key must exist with `AnyValue::to_display_string() == value` in the span's
    /// attributes, its resource's attributes or any of its events' attributes (Jaeger's tag
    /// semantics).
    pub attributes: Vec<(String, String)>,
    /// Each key's first occurrence among the span's own attributes must be this string.
    /// Blocks test keys that have a dedicated column ([`is_dedicated_span_attribute`]) in
    /// their row filter, before decoding the attribute lists.
    pub span_strings: Vec<(String, String)>,
    /// Each term must hold ([`AttributeTerm::holds`]). Blocks with an attribute index read
    /// only the rows that have every term of some hint.
    pub terms: Vec<AttributeTerm>,
    /// Inclusive bounds on the matching span's duration.
    pub min_duration: Option<DurationNanos>,
    pub max_duration: Option<DurationNanos>,
    /// Inclusive bounds on the matching span's start.
    pub start_min: Option<UnixNanos>,
    pub start_max: Option<UnixNanos>,
}

impl SpanFilter {
    /// Whether this one span meets every condition.
    pub fn matches(&self, rec: &SpanRecord) -> bool {
        let span = &rec.span;
        let duration = span.duration();
        self.service
            .as_deref()
            .is_none_or(|s| rec.service_name() == s)
            && self.operation.as_deref().is_none_or(|o| span.name == o)
            && self.kind.is_none_or(|k| span.kind == k)
            && self.status.is_none_or(|s| span.status.code == s)
            && self.min_duration.is_none_or(|d| duration >= d)
            && self.max_duration.is_none_or(|d| duration <= d)
            && self.start_min.is_none_or(|t| span.start >= t)
            && self.start_max.is_none_or(|t| span.start <= t)
            && self.span_strings.iter().all(|(key, value)| {
                span.attributes
                    .iter()
                    .find(|kv| kv.key == *key)
                    .is_some_and(|kv| kv.value.as_str() == Some(value.as_str()))
            })
            && self.terms.iter().all(|t| t.holds(rec))
            && self.attributes.iter().all(|(key, value)| {
                has_tag(&span.attributes, key, value)
                    || has_tag(&rec.resource.attributes, key, value)
                    || span
                        .events
                        .iter()
                        .any(|e| has_tag(&e.attributes, key, value))
            })
    }
}

/// Where an [`AttributeTerm`]'s attribute may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TermScope {
    Span,
    Resource,
    /// The span's attributes or its resource's (TraceQL's unscoped `.key`).
    SpanOrResource,
}

/// A value an [`AttributeTerm`] looks for. Floats are left out: equality on them is rare
/// and their text forms are not canonical.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TermValue {
    /// Met by a string attribute with this value, and by a bytes, array, map or empty
    /// value whose [`AnyValue::to_display_string`] is this (query languages compare those
    /// as their text).
    Str(String),
    /// Also met by a double attribute with this integral value (query languages compare
    /// numbers by value).
    Int(i64),
    Bool(bool),
    /// Met by the same values as `Str` whose text passes the test (a query language's regular
    /// expression); the index answers it by testing each distinct text of the key.
    Matches(TextTest),
}

/// A test on an attribute's text, opaque to the store; `source` names it (the pattern), and
/// two tests with the same source are taken to be the same test.
#[derive(Clone)]
pub struct TextTest {
    pub source: String,
    pub test: Arc<dyn Fn(&str) -> bool + Send + Sync>,
}

impl std::fmt::Debug for TextTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TextTest({:?})", self.source)
    }
}

impl PartialEq for TextTest {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for TextTest {}

/// "The first attribute `key` in `scope` equals `value`" (TraceQL's rule for `span.key`):
/// a condition that block attribute indexes answer exactly, without reading spans. For
/// [`TermScope::SpanOrResource`] either scope's first may equal it, a superset of TraceQL's
/// unscoped rule (the resource counts only when the span lacks the key). It must not be
/// made for the resource's `service.name` (use [`SpanFilter::service`]), nor for strings
/// longer than [`MAX_TERM_STRING_BYTES`]: indexes leave both out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttributeTerm {
    pub scope: TermScope,
    pub key: String,
    pub value: TermValue,
}

/// Longer string values are not indexed (SQL statements, stack traces): they would bloat
/// the index, and nobody looks one up by equality.
pub const MAX_TERM_STRING_BYTES: usize = 256;

impl AttributeTerm {
    /// Whether an index can answer this term (see the type's doc).
    pub fn is_indexable(&self) -> bool {
        let service = self.key == crate::block::SERVICE_NAME_KEY && self.scope != TermScope::Span;
        let long = matches!(&self.value, TermValue::Str(s) if s.len() > MAX_TERM_STRING_BYTES);
        !service && !long
    }

    /// Whether the span meets the term.
    pub fn holds(&self, rec: &SpanRecord) -> bool {
        let first = |attrs: &[KeyValue]| {
            attrs
                .iter()
                .find(|kv| kv.key == self.key)
                .is_some_and(|kv| self.value.equals(&kv.value))
        };
        match self.scope {
            TermScope::Span => first(&rec.span.attributes),
            TermScope::Resource => first(&rec.resource.attributes),
            TermScope::SpanOrResource => {
                first(&rec.span.attributes) || first(&rec.resource.attributes)
            }
        }
    }
}

impl TermValue {
    /// Whether an attribute value meets this term, by the rule indexes follow.
    pub(crate) fn equals(&self, value: &AnyValue) -> bool {
        let text_like = |v: &AnyValue| {
            matches!(
                v,
                AnyValue::Bytes(_) | AnyValue::Array(_) | AnyValue::KvList(_) | AnyValue::Empty
            )
        };
        match (self, value) {
            (TermValue::Str(a), AnyValue::String(b)) => a == b,
            (TermValue::Str(a), v) if text_like(v) => v.to_display_string() == *a,
            (TermValue::Matches(t), AnyValue::String(b)) => (t.test)(b),
            (TermValue::Matches(t), v) if text_like(v) => (t.test)(&v.to_display_string()),
            (TermValue::Int(a), AnyValue::Int(b)) => a == b,
            (TermValue::Int(a), AnyValue::Double(d)) => integral(*d) == Some(*a),
            (TermValue::Bool(a), AnyValue::Bool(b)) => a == b,
            _ => false,
        }
    }
}

/// The integer a double equals, when it is one exactly (and small enough to say so).
pub(crate) fn integral(d: f64) -> Option<i64> {
    const LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53: every integer below is exact
    (d.fract() == 0.0 && d.abs() < LIMIT).then_some(d as i64)
}

/// Whether blocks keep string values of span attribute `key` in a column of their own, so
/// that a [`SpanFilter::span_strings`] condition on it prunes rows before decoding.
pub fn is_dedicated_span_attribute(key: &str) -> bool {
    crate::block::dedicated_string_column(key).is_some()
}

fn has_tag(attrs: &[KeyValue], key: &str, value: &str) -> bool {
    attrs
        .iter()
        .any(|kv| kv.key == key && kv.value.to_display_string() == value)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use clew_model::{AnyValue, Event, Resource, Scope, Span, Status};

    use super::*;

    fn record() -> SpanRecord {
        SpanRecord {
            resource: Arc::new(Resource {
                attributes: vec![
                    KeyValue::new("service.name", AnyValue::String("api".into())),
                    KeyValue::new("host.name", AnyValue::String("h1".into())),
                ],
                dropped_attributes_count: 0,
            }),
            scope: Arc::new(Scope::default()),
            span: Span {
                name: "GET /users".into(),
                kind: SpanKind::Server,
                start: UnixNanos(1_000),
                end: UnixNanos(1_500),
                attributes: vec![KeyValue::new("http.status_code", AnyValue::Int(200))],
                events: vec![Event {
                    name: "exception".into(),
                    attributes: vec![KeyValue::new(
                        "exception.type",
                        AnyValue::String("E".into()),
                    )],
                    ..Default::default()
                }],
                status: Status {
                    code: StatusCode::Error,
                    message: String::new(),
                },
                ..Default::default()
            },
        }
    }

    /// Each row: a filter and whether it matches [`record`].
    #[test]
    fn every_field_is_checked() {
        let s = |v: &str| Some(v.to_owned());
        let tag = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        let d = |n| Some(DurationNanos(n));
        let t = |n| Some(UnixNanos(n));
        let cases: Vec<(SpanFilter, bool)> = vec![
            (SpanFilter::default(), true),
            (
                SpanFilter {
                    service: s("api"),
                    ..Default::default()
                },
                true,
            ),
            (
                SpanFilter {
                    service: s("db"),
                    ..Default::default()
                },
                false,
            ),
            (
                SpanFilter {
                    operation: s("GET /users"),
                    ..Default::default()
                },
                true,
            ),
            (
                SpanFilter {
                    operation: s("GET"),
                    ..Default::default()
                },
                false,
            ),
            (
                SpanFilter {
                    kind: Some(SpanKind::Server),
                    ..Default::default()
                },
                true,
            ),
            (
                SpanFilter {
                    kind: Some(SpanKind::Client),
                    ..Default::default()
                },
                false,
            ),
            (
                SpanFilter {
                    status: Some(StatusCode::Error),
                    ..Default::default()
                },
                true,
            ),
            (
                SpanFilter {
                    status: Some(StatusCode::Ok),
                    ..Default::default()
                },
                false,
            ),
            (
                SpanFilter {
                    attributes: tag("http.status_code", "200"),
                    ..Default::default()
                },
                true,
            ),
            (
                SpanFilter {
                    attributes: tag("http.status_code", "500"),
                    ..Default::default()
                },
                false,
            ),
            (
                SpanFilter {
                    attributes: tag("host.name", "h1"),
                    ..Default::default()
                },
                true,
            ),
            (
                SpanFilter {
                    attributes: tag("exception.type", "E"),
                    ..Default::default()
                },
                true,
            ),
            (
                SpanFilter {
                    attributes: tag("missing", ""),
                    ..Default::default()
                },
                false,
            ),
            (
                SpanFilter {
                    attributes: [tag("host.name", "h1"), tag("exception.type", "F")].concat(),
                    ..Default::default()
                },
                false,
            ),
            (
                SpanFilter {
                    min_duration: d(500),
                    ..Default::default()
                },
                true,
            ),
            (
                SpanFilter {
                    min_duration: d(501),
                    ..Default::default()
                },
                false,
            ),
            (
                SpanFilter {
                    max_duration: d(500),
                    ..Default::default()
                },
                true,
            ),
            (
                SpanFilter {
                    max_duration: d(499),
                    ..Default::default()
                },
                false,
            ),
            (
                SpanFilter {
                    start_min: t(1_000),
                    ..Default::default()
                },
                true,
            ),
            (
                SpanFilter {
                    start_min: t(1_001),
                    ..Default::default()
                },
                false,
            ),
            (
                SpanFilter {
                    start_max: t(1_000),
                    ..Default::default()
                },
                true,
            ),
            (
                SpanFilter {
                    start_max: t(999),
                    ..Default::default()
                },
                false,
            ),
        ];
        let rec = record();
        for (filter, want) in cases {
            assert_eq!(filter.matches(&rec), want, "{filter:?}");
        }
    }

    #[test]
    fn missing_service_name_is_unknown_service() {
        let mut rec = record();
        rec.resource = Arc::new(Resource::default());
        let f = SpanFilter {
            service: Some("unknown_service".into()),
            ..Default::default()
        };
        assert!(f.matches(&rec));
    }
}
