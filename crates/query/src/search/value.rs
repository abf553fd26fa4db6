//! Typed values as TraceQL compares them, and the comparison rules.
//!
//! Rules (Tempo's): a comparison is true only between values of one type, where integers,
//! floats and durations compare as numbers; a missing attribute is `nil` and equals only
//! `nil` (`!= nil` means "is present"); every other comparison with `nil` or across types
//! is false, `!=` included. Regular expressions match the whole string.

use std::cmp::Ordering;

use clew_model::{AnyValue, DurationNanos, SpanKind, StatusCode};

use crate::traceql::{BinaryOp, Kind, Static, Status};

/// A value read from a span, or a literal of the query.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Duration(DurationNanos),
    Status(StatusCode),
    Kind(SpanKind),
    Nil,
}

impl FieldValue {
    pub(crate) fn from_any(v: &AnyValue) -> FieldValue {
        match v {
            AnyValue::String(s) => FieldValue::Str(s.clone()),
            AnyValue::Int(i) => FieldValue::Int(*i),
            AnyValue::Double(d) => FieldValue::Float(*d),
            AnyValue::Bool(b) => FieldValue::Bool(*b),
            other => FieldValue::Str(other.to_display_string()),
        }
    }

    pub(crate) fn from_static(s: &Static) -> FieldValue {
        match s {
            Static::Str(s) => FieldValue::Str(s.clone()),
            Static::Int(i) => FieldValue::Int(*i),
            Static::Float(f) => FieldValue::Float(*f),
            Static::Bool(b) => FieldValue::Bool(*b),
            Static::Nil => FieldValue::Nil,
            Static::Duration(d) => {
                FieldValue::Duration(DurationNanos(u64::try_from(*d).unwrap_or(0)))
            }
            Static::Status(s) => FieldValue::Status(match s {
                Status::Ok => StatusCode::Ok,
                Status::Error => StatusCode::Error,
                Status::Unset => StatusCode::Unset,
            }),
            Static::Kind(k) => FieldValue::Kind(match k {
                Kind::Unspecified => SpanKind::Unspecified,
                Kind::Internal => SpanKind::Internal,
                Kind::Server => SpanKind::Server,
                Kind::Client => SpanKind::Client,
                Kind::Producer => SpanKind::Producer,
                Kind::Consumer => SpanKind::Consumer,
            }),
        }
    }

    /// Tempo's type name for tag values (`/api/v2/search/tag/…/values`).
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldValue::Str(_) => "string",
            FieldValue::Int(_) => "int",
            FieldValue::Float(_) => "float",
            FieldValue::Bool(_) => "bool",
            FieldValue::Duration(_) => "duration",
            FieldValue::Status(_) => "keyword",
            FieldValue::Kind(_) => "keyword",
            FieldValue::Nil => "nil",
        }
    }

    /// The value as text: strings as they are, numbers in decimal, durations in Go's form
    /// (`1.5s`), status and kind as their TraceQL keywords.
    pub fn to_text(&self) -> String {
        match self {
            FieldValue::Str(s) => s.clone(),
            FieldValue::Int(i) => i.to_string(),
            FieldValue::Float(f) => f.to_string(),
            FieldValue::Bool(b) => b.to_string(),
            FieldValue::Duration(d) => go_duration(d.0),
            FieldValue::Status(s) => match s {
                StatusCode::Ok => "ok",
                StatusCode::Error => "error",
                StatusCode::Unset => "unset",
            }
            .to_owned(),
            FieldValue::Kind(k) => match k {
                SpanKind::Unspecified => "unspecified",
                other => other.as_lower_str(),
            }
            .to_owned(),
            FieldValue::Nil => "nil".to_owned(),
        }
    }

    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            FieldValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The value as a number, for arithmetic comparisons and aggregates.
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            FieldValue::Int(i) => Some(*i as f64),
            FieldValue::Float(f) => Some(*f),
            FieldValue::Duration(d) => Some(d.0 as f64),
            _ => None,
        }
    }

    /// Order between two values of one ordered type (numbers across int, float and duration);
    /// `None` across types, with nil, and for status and kind.
    fn compare(&self, other: &FieldValue) -> Option<Ordering> {
        use FieldValue as V;
        match (self, other) {
            (V::Str(a), V::Str(b)) => Some(a.cmp(b)),
            (V::Int(a), V::Int(b)) => Some(a.cmp(b)),
            (V::Duration(a), V::Duration(b)) => Some(a.cmp(b)),
            (V::Bool(a), V::Bool(b)) => Some(a.cmp(b)),
            (a, b) => {
                let (x, y) = (a.as_f64()?, b.as_f64()?);
                x.partial_cmp(&y)
            }
        }
    }
}

/// Go's `time.Duration.String()` form, as Tempo prints durations: `1.5s`, `200ms`, `1m0s`.
pub(crate) fn go_duration(nanos: u64) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    let trim = |v: String| {
        if v.contains('.') {
            v.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            v
        }
    };
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", trim(format!("{:.3}", nanos as f64 / 1e3)));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", trim(format!("{:.6}", nanos as f64 / 1e6)));
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = (nanos / 60_000_000_000) % 60;
    let secs = nanos % 60_000_000_000;
    let secs = trim(format!(
        "{}.{:09}",
        secs / 1_000_000_000,
        secs % 1_000_000_000
    ));
    match (hours, minutes) {
        (0, 0) => format!("{secs}s"),
        (0, m) => format!("{m}m{secs}s"),
        (h, m) => format!("{h}h{m}m{secs}s"),
    }
}

/// Applies a comparison or regex operator under TraceQL's rules (see the module doc).
/// `regex` is the compiled right-hand side for `=~`/`!~`.
pub(crate) fn compare(
    op: BinaryOp,
    lhs: &FieldValue,
    rhs: &FieldValue,
    regex: Option<&regex::Regex>,
) -> bool {
    use FieldValue::Nil;
    match op {
        BinaryOp::Eq if matches!(rhs, Nil) || matches!(lhs, Nil) => {
            matches!(lhs, Nil) && matches!(rhs, Nil)
        }
        BinaryOp::Neq if matches!(rhs, Nil) => !matches!(lhs, Nil),
        // A missing attribute compared with a value.
        BinaryOp::Neq if matches!(lhs, Nil) => false,
        BinaryOp::Re | BinaryOp::NotRe => {
            let (FieldValue::Str(s), Some(re)) = (lhs, regex) else {
                return false;
            };
            re.is_match(s) == (op == BinaryOp::Re)
        }
        // Status and kind compare for equality only: they have no order.
        _ if matches!(
            (lhs, rhs),
            (FieldValue::Status(_), FieldValue::Status(_))
                | (FieldValue::Kind(_), FieldValue::Kind(_))
        ) =>
        {
            match op {
                BinaryOp::Eq => lhs == rhs,
                BinaryOp::Neq => lhs != rhs,
                _ => false,
            }
        }
        _ => {
            let Some(ord) = lhs.compare(rhs) else {
                return false;
            };
            match op {
                BinaryOp::Eq => ord == Ordering::Equal,
                BinaryOp::Neq => ord != Ordering::Equal,
                BinaryOp::Lt => ord == Ordering::Less,
                BinaryOp::Lte => ord != Ordering::Greater,
                BinaryOp::Gt => ord == Ordering::Greater,
                BinaryOp::Gte => ord != Ordering::Less,
                _ => false,
            }
        }
    }
}

/// A regular expression as TraceQL matches it: anchored at both ends (Tempo ≥ 2.5).
pub(crate) fn compile_regex(pattern: &str) -> Option<regex::Regex> {
    regex::Regex::new(&format!("^(?:{pattern})$")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        for (n, s) in [
            (0, "0s"),
            (5, "5ns"),
            (1_500, "1.5µs"),
            (200_000_000, "200ms"),
            (1_500_000_000, "1.5s"),
            (60_000_000_000, "1m0s"),
            (3_723_000_000_000, "1h2m3s"),
        ] {
            assert_eq!(go_duration(n), s, "{n}");
        }
    }

    #[test]
    fn comparisons_follow_tempo() {
        use BinaryOp::*;
        use FieldValue as V;
        let s = |x: &str| V::Str(x.to_owned());
        let cases = [
            (Eq, s("a"), s("a"), true),
            (Neq, s("a"), V::Int(1), false),
            (Eq, V::Int(2), V::Float(2.0), true),
            (
                Gt,
                V::Duration(DurationNanos(5)),
                V::Duration(DurationNanos(4)),
                true,
            ),
            (Eq, V::Nil, V::Nil, true),
            (Neq, s("x"), V::Nil, true),
            (Neq, V::Nil, V::Nil, false),
            (Neq, V::Nil, s("x"), false),
            (Lt, V::Nil, V::Int(3), false),
            (
                Eq,
                V::Status(StatusCode::Error),
                V::Status(StatusCode::Error),
                true,
            ),
            (
                Neq,
                V::Status(StatusCode::Ok),
                V::Status(StatusCode::Error),
                true,
            ),
            (
                Gt,
                V::Status(StatusCode::Ok),
                V::Status(StatusCode::Error),
                false,
            ),
            (Gte, s("b"), s("a"), true),
        ];
        for (op, l, r, want) in cases {
            assert_eq!(compare(op, &l, &r, None), want, "{l:?} {op:?} {r:?}");
        }
        let re = compile_regex("ab.").unwrap();
        assert!(compare(Re, &s("abc"), &s("ab."), Some(&re)));
        assert!(!compare(Re, &s("xabc"), &s("ab."), Some(&re)));
        assert!(compare(NotRe, &s("xabc"), &s("ab."), Some(&re)));
        assert!(!compare(Re, &V::Int(1), &s("ab."), Some(&re)));
    }
}
