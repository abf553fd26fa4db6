//! Renders a trace as a text waterfall: one line per span in tree order, with the
//! service, the operation, the duration and a bar placed on the trace's time axis.

use std::collections::HashMap;
use std::fmt::Write as _;

use clew_model::{DurationNanos, SpanId, StatusCode};
use clew_query::Trace;

/// "1.25s", "125.3ms", "850µs", "0µs": the unit a person reads fastest.
pub fn format_duration(d: DurationNanos) -> String {
    let ns = d.0;
    if ns >= 1_000_000_000 {
        format!("{:.2}s", ns as f64 / 1e9)
    } else if ns >= 1_000_000 {
        format!("{:.1}ms", ns as f64 / 1e6)
    } else {
        format!("{}µs", ns / 1_000)
    }
}

/// Spans in depth-first order with their depth; children by start time. Orphans
/// (parent not in the trace) start their own subtrees, so every span is printed once.
fn tree_order(trace: &Trace) -> Vec<(usize, usize)> {
    let index: HashMap<SpanId, usize> = trace
        .spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.span.span_id, i))
        .collect();
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (i, s) in trace.spans.iter().enumerate() {
        match s.span.parent_span_id.and_then(|p| index.get(&p)) {
            Some(&p) if p != i => children.entry(p).or_default().push(i),
            _ => roots.push(i),
        }
    }
    let mut out = Vec::with_capacity(trace.spans.len());
    let mut seen = vec![false; trace.spans.len()];
    let mut stack: Vec<(usize, usize)> = roots.into_iter().rev().map(|r| (r, 0)).collect();
    while let Some((i, depth)) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        out.push((i, depth));
        if let Some(kids) = children.get(&i) {
            // spans are sorted by start already, so kids are too; push reversed.
            stack.extend(kids.iter().rev().map(|k| (*k, depth + 1)));
        }
    }
    out
}

pub fn render(trace: &Trace, width: usize) -> String {
    let mut out = String::new();
    let root = trace.root();
    let services = trace.services();
    let _ = writeln!(
        out,
        "Trace {}  {}  {} spans  {} services  {} errors",
        trace.trace_id,
        format_duration(trace.duration()),
        trace.spans.len(),
        services.len(),
        trace.error_count(),
    );
    if let Some(r) = root {
        let _ = writeln!(out, "root: {} {}", r.service_name(), r.span.name);
    }
    for w in &trace.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let order = tree_order(trace);
    let labels: Vec<String> = order
        .iter()
        .map(|(i, depth)| {
            let s = &trace.spans[*i];
            let mark = if s.span.status.code == StatusCode::Error {
                "!"
            } else {
                ""
            };
            format!(
                "{}{}{} {}",
                "  ".repeat(*depth),
                mark,
                s.service_name(),
                s.span.name
            )
        })
        .collect();
    let label_width = labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
        .min(60);
    let bar_width = width.saturating_sub(label_width + 12).clamp(10, 100);
    let start = trace.start().0;
    let total = trace.duration().0.max(1);
    for ((i, _), label) in order.iter().zip(labels) {
        let s = &trace.spans[*i].span;
        let from = ((s.start.0.saturating_sub(start)) as u128 * bar_width as u128 / total as u128)
            as usize;
        let len =
            ((s.duration().0 as u128 * bar_width as u128).div_ceil(total as u128) as usize).max(1);
        let from = from.min(bar_width - 1);
        let len = len.min(bar_width - from);
        let bar = format!(
            "{}{}{}",
            " ".repeat(from),
            "█".repeat(len),
            " ".repeat(bar_width - from - len)
        );
        let label: String = label.chars().take(label_width).collect();
        let _ = writeln!(
            out,
            "{label:<label_width$} {:>9} |{bar}|",
            format_duration(s.duration())
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use clew_model::{
        AnyValue, KeyValue, Resource, Scope, Span, SpanRecord, Status, TraceId, UnixNanos,
    };

    use super::*;

    fn rec(
        service: &str,
        id: u64,
        parent: Option<u64>,
        name: &str,
        start: u64,
        end: u64,
    ) -> SpanRecord {
        SpanRecord {
            resource: Arc::new(Resource {
                attributes: vec![KeyValue::new(
                    "service.name",
                    AnyValue::String(service.into()),
                )],
                dropped_attributes_count: 0,
            }),
            scope: Arc::new(Scope::default()),
            span: Span {
                trace_id: TraceId([1; 16]),
                span_id: SpanId::from_u64(id),
                parent_span_id: parent.map(SpanId::from_u64),
                name: name.into(),
                start: UnixNanos(start),
                end: UnixNanos(end),
                ..Default::default()
            },
        }
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_duration(DurationNanos(1_250_000_000)), "1.25s");
        assert_eq!(format_duration(DurationNanos(125_300_000)), "125.3ms");
        assert_eq!(format_duration(DurationNanos(850_000)), "850µs");
    }

    #[test]
    fn waterfall_is_in_tree_order_with_bars() {
        let mut db = rec("db", 3, Some(2), "SELECT", 20_000_000, 60_000_000);
        db.span.status = Status {
            code: StatusCode::Error,
            message: String::new(),
        };
        let spans = vec![
            rec("api", 1, None, "GET /cart", 0, 100_000_000),
            rec("cart", 2, Some(1), "load", 10_000_000, 90_000_000),
            db,
            rec("api", 4, Some(1), "render", 91_000_000, 99_000_000),
        ];
        let trace = Trace::assemble(TraceId([1; 16]), spans);
        let text = render(&trace, 80);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].contains("4 spans") && lines[0].contains("1 errors"),
            "{text}"
        );
        assert!(lines[2].starts_with("api GET /cart"), "{text}");
        assert!(lines[3].starts_with("  cart load"), "{text}");
        assert!(lines[4].starts_with("    !db SELECT"), "{text}");
        assert!(lines[5].starts_with("  api render"), "{text}");
        // the root's bar spans the whole axis; the last span's sits at the end
        assert!(
            !lines[2].contains("| ") && lines[2].ends_with("█|"),
            "{text}"
        );
        assert!(
            lines[5].ends_with("█ |") || lines[5].ends_with("█|"),
            "{text}"
        );
    }
}
