//! Clock-skew adjustment, in the manner of Jaeger's adjuster: a child span recorded on
//! another host that does not fit inside its parent is shifted (with its subtree) so it
//! does, and each shift is reported as a warning rather than applied silently.

use std::collections::HashMap;

use clew_model::{SpanId, SpanRecord};

/// The host a span was recorded on: `host.name` when the resource has it, else the
/// service (spans of one service are assumed to share a clock).
fn host_of(s: &SpanRecord) -> String {
    s.resource
        .attribute("host.name")
        .map(|v| v.to_display_string())
        .unwrap_or_else(|| s.service_name().to_owned())
}

/// Shifts skewed subtrees in place and returns one warning per shift.
pub(crate) fn adjust(spans: &mut [SpanRecord]) -> Vec<String> {
    let index: HashMap<SpanId, usize> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.span.span_id, i))
        .collect();
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        match s.span.parent_span_id.and_then(|p| index.get(&p)) {
            Some(&p) if p != i => children.entry(p).or_default().push(i),
            _ => roots.push(i),
        }
    }
    let mut warnings = Vec::new();
    // Depth-first with an explicit stack: a deep trace must not overflow ours. Each
    // entry carries the shift inherited from its ancestors; `visited` guards cycles.
    let mut visited = vec![false; spans.len()];
    let mut stack: Vec<(usize, i128)> = roots.into_iter().map(|r| (r, 0)).collect();
    while let Some((i, inherited)) = stack.pop() {
        if std::mem::replace(&mut visited[i], true) {
            continue;
        }
        shift(&mut spans[i], inherited);
        let kids = children.get(&i).cloned().unwrap_or_default();
        for k in kids {
            // The parent is already shifted; the child will move by `inherited` too.
            let own = if host_of(&spans[k]) != host_of(&spans[i]) {
                skew_of(&spans[k], inherited, &spans[i])
            } else {
                0
            };
            if own != 0 {
                warnings.push(format!(
                    "clock skew adjustment: span {} shifted by {}µs to fit its parent {}",
                    spans[k].span.span_id,
                    own / 1_000,
                    spans[i].span.span_id
                ));
            }
            stack.push((k, inherited + own));
        }
    }
    warnings
}

fn shift(s: &mut SpanRecord, by: i128) {
    if by == 0 {
        return;
    }
    let move_by = |t: u64| -> u64 { (i128::from(t) + by).clamp(0, i128::from(u64::MAX)) as u64 };
    s.span.start.0 = move_by(s.span.start.0);
    s.span.end.0 = move_by(s.span.end.0);
    for e in &mut s.span.events {
        e.time.0 = move_by(e.time.0);
    }
}

/// How far (in ns) the child must move to sit inside its parent; 0 when it already fits
/// or cannot fit (a child longer than its parent is aligned at the start only if it
/// began before the parent).
fn skew_of(child: &SpanRecord, child_shift: i128, parent: &SpanRecord) -> i128 {
    let cs = i128::from(child.span.start.0) + child_shift;
    let ce = i128::from(child.span.end.0) + child_shift;
    let (ps, pe) = (
        i128::from(parent.span.start.0),
        i128::from(parent.span.end.0),
    );
    if cs >= ps && ce <= pe {
        return 0;
    }
    let (cd, pd) = (ce - cs, pe - ps);
    if cd > pd {
        return if cs < ps { ps - cs } else { 0 };
    }
    // Centre the child in the parent: the network latency is split evenly both ways.
    let latency = (pd - cd) / 2;
    ps + latency - cs
}
