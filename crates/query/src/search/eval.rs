//! Judging a whole trace: a TraceQL query evaluated over all its spans, giving the
//! spansets it produces (none means the trace does not match).
//!
//! Semantics, as Tempo documents them: a `{ }` filter keeps the spans of its input for which
//! the expression is true; `&&` between spansets needs both sides non-empty and keeps both
//! sides' spans, `||` keeps whichever sides matched; a structural operator keeps the
//! right-hand spans in the relation (`{A} > {B}`: B spans whose parent is an A span), its
//! negation (`!>`) the right-hand spans not in it, its union form (`&>`) the spans of both
//! sides that are. Expressions that read `event.`/`link.` fields hold when they hold for
//! one of the span's events/links. Pipelines filter, group (`by`), merge (`coalesce`) and
//! aggregate the spansets of the previous stage.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use clew_model::{DurationNanos, KeyValue, SpanRecord, StatusCode, UnixNanos};

use super::value::{FieldValue, compare, compile_regex};
use crate::traceql::{
    Aggregate, AggregateFn, Attribute, BinaryOp, CmpOp, ExprKind, Field, FieldExpr, Filter,
    Intrinsic, Pipeline, Query, ScalarExpr, Scope, SpansetExpr, SpansetOp, Stage, UnaryOp,
};

/// A trace's spans with the relations queries need.
pub(crate) struct TraceView<'a> {
    pub(crate) spans: &'a [SpanRecord],
    parent: Cow<'a, [Option<usize>]>,
    children: Cow<'a, [Vec<usize>]>,
    root: Option<usize>,
    start: UnixNanos,
    end: UnixNanos,
    /// Nested-set numbers (left, right, parent's left) from a walk from the roots; 0 for
    /// spans no walk reaches (in a parent cycle).
    nested: Cow<'a, [(i64, i64, i64)]>,
}

const NO_PARENT: &[Option<usize>] = &[None];
const NO_CHILDREN: &[Vec<usize>] = &[Vec::new()];
const NO_NESTED: &[(i64, i64, i64)] = &[(0, 0, 0)];

impl<'a> TraceView<'a> {
    /// `spans` must be one trace, deduplicated and sorted by (start, span id).
    pub(crate) fn new(spans: &'a [SpanRecord]) -> Self {
        let mut index: HashMap<_, usize> = HashMap::with_capacity(spans.len());
        for (i, s) in spans.iter().enumerate() {
            index.entry(s.span.span_id).or_insert(i);
        }
        let parent: Vec<Option<usize>> = spans
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.span
                    .parent_span_id
                    .and_then(|p| index.get(&p).copied())
                    .filter(|p| *p != i)
            })
            .collect();
        let mut children = vec![Vec::new(); spans.len()];
        for (i, p) in parent.iter().enumerate() {
            if let Some(p) = p {
                children[*p].push(i);
            }
        }
        let root = spans.iter().position(|s| s.span.parent_span_id.is_none());
        let start = spans.iter().map(|s| s.span.start).min().unwrap_or_default();
        let end = spans.iter().map(|s| s.span.end).max().unwrap_or_default();
        let mut view = Self {
            spans,
            parent: Cow::Owned(parent),
            children: Cow::Owned(children),
            root,
            start,
            end,
            nested: Cow::Owned(vec![(0, 0, 0); spans.len()]),
        };
        view.number_nested_sets();
        view
    }

    /// One span seen alone, without allocating: for judging span-local filters while
    /// scanning. Trace-level fields (root, trace duration, children) are not meaningful.
    pub(crate) fn single(rec: &'a SpanRecord) -> Self {
        Self {
            spans: std::slice::from_ref(rec),
            parent: Cow::Borrowed(NO_PARENT),
            children: Cow::Borrowed(NO_CHILDREN),
            root: None,
            start: rec.span.start,
            end: rec.span.end,
            nested: Cow::Borrowed(NO_NESTED),
        }
    }

    /// Iterative depth-first walk from every span without a parent in the trace.
    fn number_nested_sets(&mut self) {
        let mut counter = 0i64;
        let mut visited = vec![false; self.spans.len()];
        let mut nested = vec![(0i64, 0i64, 0i64); self.spans.len()];
        for top in 0..self.spans.len() {
            if self.parent[top].is_some() {
                continue;
            }
            // (span, whether its children were pushed)
            let mut stack = vec![(top, false)];
            while let Some((i, expanded)) = stack.pop() {
                if expanded {
                    counter += 1;
                    nested[i].1 = counter;
                    continue;
                }
                if visited[i] {
                    continue;
                }
                visited[i] = true;
                counter += 1;
                let parent_left = self.parent[i].map_or(-1, |p| nested[p].0);
                nested[i] = (counter, 0, parent_left);
                stack.push((i, true));
                for &c in self.children[i].iter().rev() {
                    stack.push((c, false));
                }
            }
        }
        self.nested = Cow::Owned(nested);
    }

    pub(crate) fn duration(&self) -> DurationNanos {
        self.end.saturating_since(self.start)
    }

    pub(crate) fn start(&self) -> UnixNanos {
        self.start
    }

    pub(crate) fn root(&self) -> Option<&SpanRecord> {
        self.root.map(|r| &self.spans[r])
    }

    /// Ancestors of `i`, nearest first; stops at a cycle.
    fn ancestors(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        let mut seen = 0usize;
        let mut cur = self.parent[i];
        std::iter::from_fn(move || {
            let p = cur?;
            seen += 1;
            if seen > self.spans.len() {
                return None;
            }
            cur = self.parent[p];
            Some(p)
        })
    }
}

/// Spans (indexes into the trace, ascending) with `by` labels and aggregate values.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Spanset {
    pub(crate) spans: Vec<usize>,
    pub(crate) labels: Vec<(String, FieldValue)>,
}

impl Spanset {
    fn of(mut spans: Vec<usize>, labels: Vec<(String, FieldValue)>) -> Self {
        spans.sort_unstable();
        spans.dedup();
        Self { spans, labels }
    }
}

/// A query ready to judge traces: its regular expressions compiled once.
pub(crate) struct Evaluator {
    regexes: HashMap<String, regex::Regex>,
    /// The fields listed with each matched span (see [`shown_fields`]).
    pub(crate) shown: Vec<(String, FieldExpr)>,
}

impl Evaluator {
    /// For expressions without regular expressions (a bare field).
    pub(crate) fn plain() -> Self {
        Self {
            regexes: HashMap::new(),
            shown: Vec::new(),
        }
    }

    pub(crate) fn new(query: &Query) -> Self {
        let mut regexes = HashMap::new();
        for_each_expr(query, &mut |e| {
            if let ExprKind::Binary {
                op: BinaryOp::Re | BinaryOp::NotRe,
                lhs,
                rhs,
            } = &e.kind
            {
                for side in [lhs, rhs] {
                    if let ExprKind::Static(crate::traceql::Static::Str(p)) = &side.kind
                        && let Some(re) = compile_regex(p)
                    {
                        regexes.insert(p.clone(), re);
                    }
                }
            }
        });
        Self {
            regexes,
            shown: shown_fields(query),
        }
    }

    /// The spansets the query produces for the trace; empty when it does not match.
    pub(crate) fn spansets(&self, query: &Query, t: &TraceView<'_>) -> Vec<Spanset> {
        let all = Spanset::of((0..t.spans.len()).collect(), Vec::new());
        self.pipeline(&query.pipeline, t, vec![all])
            .into_iter()
            .filter(|s| !s.spans.is_empty())
            .collect()
    }

    fn pipeline(&self, p: &Pipeline, t: &TraceView<'_>, mut sets: Vec<Spanset>) -> Vec<Spanset> {
        for stage in &p.stages {
            sets = match stage {
                Stage::Spanset(e) => sets.iter().flat_map(|s| self.spanset(e, t, s)).collect(),
                Stage::ScalarFilter(f) => sets
                    .into_iter()
                    .filter_map(|mut s| {
                        let lhs = self.scalar(&f.lhs, t, &s);
                        let rhs = self.scalar(&f.rhs, t, &s);
                        let op = match f.op {
                            CmpOp::Eq => BinaryOp::Eq,
                            CmpOp::Neq => BinaryOp::Neq,
                            CmpOp::Lt => BinaryOp::Lt,
                            CmpOp::Lte => BinaryOp::Lte,
                            CmpOp::Gt => BinaryOp::Gt,
                            CmpOp::Gte => BinaryOp::Gte,
                        };
                        if !compare(op, &lhs, &rhs, None) {
                            return None;
                        }
                        for (side, value) in [(&f.lhs, lhs), (&f.rhs, rhs)] {
                            if let ScalarExpr::Aggregate(a) = side {
                                s.labels.push((aggregate_label(a), value));
                            }
                        }
                        Some(s)
                    })
                    .collect(),
                Stage::By(e) => sets
                    .into_iter()
                    .flat_map(|s| {
                        let mut groups: Vec<(FieldValue, Vec<usize>)> = Vec::new();
                        for &i in &s.spans {
                            let v = self.value(e, t, i, None, None);
                            match groups.iter_mut().find(|(k, _)| *k == v) {
                                Some((_, spans)) => spans.push(i),
                                None => groups.push((v, vec![i])),
                            }
                        }
                        let label = e.to_string();
                        groups.into_iter().map(move |(v, spans)| {
                            let mut labels = s.labels.clone();
                            labels.push((label.clone(), v));
                            Spanset::of(spans, labels)
                        })
                    })
                    .collect(),
                Stage::Select(_) => sets,
                Stage::Coalesce => {
                    let spans = sets.into_iter().flat_map(|s| s.spans).collect();
                    vec![Spanset::of(spans, Vec::new())]
                }
            };
            sets.retain(|s| !s.spans.is_empty());
        }
        sets
    }

    fn spanset(&self, e: &SpansetExpr, t: &TraceView<'_>, input: &Spanset) -> Vec<Spanset> {
        match e {
            SpansetExpr::Filter(f) => {
                let spans: Vec<usize> = input
                    .spans
                    .iter()
                    .copied()
                    .filter(|&i| self.filter(f, t, i))
                    .collect();
                if spans.is_empty() {
                    Vec::new()
                } else {
                    vec![Spanset::of(spans, input.labels.clone())]
                }
            }
            SpansetExpr::Pipeline(p) => self.pipeline(p, t, vec![input.clone()]),
            SpansetExpr::Op { op, lhs, rhs } => {
                let l = union(self.spanset(lhs, t, input));
                let r = union(self.spanset(rhs, t, input));
                let out = match op {
                    SpansetOp::And => {
                        if l.is_empty() || r.is_empty() {
                            Vec::new()
                        } else {
                            l.into_iter().chain(r).collect()
                        }
                    }
                    SpansetOp::Or => l.into_iter().chain(r).collect(),
                    _ => structural(*op, t, &l, &r),
                };
                if out.is_empty() {
                    Vec::new()
                } else {
                    vec![Spanset::of(out, input.labels.clone())]
                }
            }
        }
    }

    /// Whether span `i` meets the filter (for one of its events/links when it reads them).
    pub(crate) fn filter(&self, f: &Filter, t: &TraceView<'_>, i: usize) -> bool {
        let Some(expr) = &f.expr else {
            return true;
        };
        self.holds(expr, t, i)
    }

    fn holds(&self, expr: &FieldExpr, t: &TraceView<'_>, i: usize) -> bool {
        let span = &t.spans[i].span;
        let links = scope_choices(reads_scope(expr, Scope::Link), span.links.len());
        scope_choices(reads_scope(expr, Scope::Event), span.events.len()).any(|ev| {
            links
                .clone()
                .any(|ln| self.value(expr, t, i, ev, ln) == FieldValue::Bool(true))
        })
    }

    /// The value of `e` on span `i` (with event `ev` and link `ln` in scope).
    pub(crate) fn value(
        &self,
        e: &FieldExpr,
        t: &TraceView<'_>,
        i: usize,
        ev: Option<usize>,
        ln: Option<usize>,
    ) -> FieldValue {
        match &e.kind {
            ExprKind::Static(s) => FieldValue::from_static(s),
            ExprKind::Attribute(a) => attribute(a, &t.spans[i], ev, ln),
            ExprKind::Intrinsic(x) => intrinsic(*x, t, i, ev, ln),
            ExprKind::Unary { op, expr } => match (op, self.value(expr, t, i, ev, ln)) {
                (UnaryOp::Not, FieldValue::Bool(b)) => FieldValue::Bool(!b),
                (UnaryOp::Neg, FieldValue::Int(v)) => {
                    v.checked_neg().map_or(FieldValue::Nil, FieldValue::Int)
                }
                (UnaryOp::Neg, FieldValue::Float(v)) => FieldValue::Float(-v),
                _ => FieldValue::Nil,
            },
            ExprKind::Binary { op, lhs, rhs } => {
                let l = self.value(lhs, t, i, ev, ln);
                match op {
                    BinaryOp::And => FieldValue::Bool(
                        l.as_bool() == Some(true)
                            && self.value(rhs, t, i, ev, ln).as_bool() == Some(true),
                    ),
                    BinaryOp::Or => FieldValue::Bool(
                        l.as_bool() == Some(true)
                            || self.value(rhs, t, i, ev, ln).as_bool() == Some(true),
                    ),
                    _ => {
                        let r = self.value(rhs, t, i, ev, ln);
                        let regex = match (&r, op) {
                            (FieldValue::Str(p), BinaryOp::Re | BinaryOp::NotRe) => {
                                self.regexes.get(p)
                            }
                            _ => None,
                        };
                        FieldValue::Bool(compare(*op, &l, &r, regex))
                    }
                }
            }
        }
    }

    fn scalar(&self, e: &ScalarExpr, t: &TraceView<'_>, s: &Spanset) -> FieldValue {
        match e {
            ScalarExpr::Static(v, _) => FieldValue::from_static(v),
            ScalarExpr::Aggregate(a) => self.aggregate(a, t, s),
        }
    }

    fn aggregate(&self, a: &Aggregate, t: &TraceView<'_>, s: &Spanset) -> FieldValue {
        let Some(arg) = &a.arg else {
            return FieldValue::Int(i64::try_from(s.spans.len()).unwrap_or(i64::MAX));
        };
        let values: Vec<FieldValue> = s
            .spans
            .iter()
            .map(|&i| self.value(arg, t, i, None, None))
            .filter(|v| v.as_f64().is_some())
            .collect();
        if values.is_empty() {
            return FieldValue::Nil;
        }
        let all_durations = values.iter().all(|v| matches!(v, FieldValue::Duration(_)));
        let all_ints = values.iter().all(|v| matches!(v, FieldValue::Int(_)));
        let nums: Vec<f64> = values.iter().filter_map(FieldValue::as_f64).collect();
        let result = match a.func {
            AggregateFn::Count => nums.len() as f64,
            AggregateFn::Sum => nums.iter().sum(),
            AggregateFn::Avg => nums.iter().sum::<f64>() / nums.len() as f64,
            AggregateFn::Min => nums.iter().copied().fold(f64::INFINITY, f64::min),
            AggregateFn::Max => nums.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        };
        if all_durations {
            FieldValue::Duration(DurationNanos(result.max(0.0).round() as u64))
        } else if all_ints && a.func != AggregateFn::Avg {
            FieldValue::Int(result as i64)
        } else {
            FieldValue::Float(result)
        }
    }
}

/// The span fields listed with matched spans, as Tempo lists them: each attribute and
/// span-level intrinsic the query reads (name and duration are listed anyway), labelled by
/// attribute name or intrinsic spelling.
fn shown_fields(query: &Query) -> Vec<(String, FieldExpr)> {
    let mut out = Vec::new();
    let mut push = |field: &Field| {
        let (label, kind) = match field {
            Field::Attribute(a) => (a.name.clone(), ExprKind::Attribute(a.clone())),
            Field::Intrinsic(i) => {
                if matches!(
                    i,
                    Intrinsic::Name
                        | Intrinsic::Duration
                        | Intrinsic::RootName
                        | Intrinsic::RootServiceName
                        | Intrinsic::TraceDuration
                        | Intrinsic::TraceId
                        | Intrinsic::SpanId
                        | Intrinsic::ParentId
                        | Intrinsic::EventName
                        | Intrinsic::EventTimeSinceStart
                        | Intrinsic::LinkTraceId
                        | Intrinsic::LinkSpanId
                        | Intrinsic::NestedSetLeft
                        | Intrinsic::NestedSetRight
                        | Intrinsic::NestedSetParent
                ) {
                    return;
                }
                (i.canonical().to_owned(), ExprKind::Intrinsic(*i))
            }
        };
        if !out.iter().any(|(l, _): &(String, _)| *l == label) {
            out.push((label, FieldExpr::new(kind)));
        }
    };
    // `select(…)` fields are among them.
    for f in query.fields() {
        push(&f);
    }
    out
}

/// `count()`, `avg(duration)`: how an aggregate's value is labelled in results.
fn aggregate_label(a: &Aggregate) -> String {
    match &a.arg {
        Some(arg) => format!("{}({arg})", a.func.name()),
        None => format!("{}()", a.func.name()),
    }
}

fn union(sets: Vec<Spanset>) -> Vec<usize> {
    let mut out: Vec<usize> = sets.into_iter().flat_map(|s| s.spans).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The spans a structural operator keeps, given the left and right spans.
fn structural(op: SpansetOp, t: &TraceView<'_>, l: &[usize], r: &[usize]) -> Vec<usize> {
    let in_l: HashSet<usize> = l.iter().copied().collect();
    // Whether right span j is in the relation with some left span, and which left spans
    // take part (for the union forms).
    let related = |j: usize| -> Vec<usize> {
        match op {
            SpansetOp::Child | SpansetOp::NotChild | SpansetOp::UnionChild => t.parent[j]
                .filter(|p| in_l.contains(p))
                .into_iter()
                .collect(),
            SpansetOp::Parent | SpansetOp::NotParent | SpansetOp::UnionParent => t.children[j]
                .iter()
                .copied()
                .filter(|c| in_l.contains(c))
                .collect(),
            SpansetOp::Descendant | SpansetOp::NotDescendant | SpansetOp::UnionDescendant => {
                t.ancestors(j).filter(|a| in_l.contains(a)).collect()
            }
            SpansetOp::Ancestor | SpansetOp::NotAncestor | SpansetOp::UnionAncestor => l
                .iter()
                .copied()
                .filter(|&x| t.ancestors(x).any(|a| a == j))
                .collect(),
            SpansetOp::Sibling | SpansetOp::NotSibling | SpansetOp::UnionSibling => {
                match t.parent[j] {
                    Some(p) => t.children[p]
                        .iter()
                        .copied()
                        .filter(|&c| c != j && in_l.contains(&c))
                        .collect(),
                    None => Vec::new(),
                }
            }
            SpansetOp::And | SpansetOp::Or => Vec::new(),
        }
    };
    let mut out = Vec::new();
    for &j in r {
        let partners = related(j);
        match op {
            SpansetOp::NotChild
            | SpansetOp::NotParent
            | SpansetOp::NotDescendant
            | SpansetOp::NotAncestor
            | SpansetOp::NotSibling => {
                if partners.is_empty() {
                    out.push(j);
                }
            }
            SpansetOp::UnionChild
            | SpansetOp::UnionParent
            | SpansetOp::UnionDescendant
            | SpansetOp::UnionAncestor
            | SpansetOp::UnionSibling => {
                if !partners.is_empty() {
                    out.push(j);
                    out.extend(partners);
                }
            }
            _ => {
                if !partners.is_empty() {
                    out.push(j);
                }
            }
        }
    }
    out
}

fn find(attrs: &[KeyValue], name: &str) -> Option<FieldValue> {
    attrs
        .iter()
        .find(|kv| kv.key == name)
        .map(|kv| FieldValue::from_any(&kv.value))
}

fn attribute(a: &Attribute, rec: &SpanRecord, ev: Option<usize>, ln: Option<usize>) -> FieldValue {
    let span = &rec.span;
    let found = match a.scope {
        Scope::None => {
            find(&span.attributes, &a.name).or_else(|| find(&rec.resource.attributes, &a.name))
        }
        Scope::Span => find(&span.attributes, &a.name),
        Scope::Resource => find(&rec.resource.attributes, &a.name),
        Scope::Event => ev
            .and_then(|e| span.events.get(e))
            .and_then(|e| find(&e.attributes, &a.name)),
        Scope::Link => ln
            .and_then(|l| span.links.get(l))
            .and_then(|l| find(&l.attributes, &a.name)),
        Scope::Instrumentation => find(&rec.scope.attributes, &a.name),
    };
    found.unwrap_or(FieldValue::Nil)
}

fn intrinsic(
    x: Intrinsic,
    t: &TraceView<'_>,
    i: usize,
    ev: Option<usize>,
    ln: Option<usize>,
) -> FieldValue {
    let rec = &t.spans[i];
    let span = &rec.span;
    let text = |s: &str| FieldValue::Str(s.to_owned());
    let event = ev.and_then(|e| span.events.get(e));
    let link = ln.and_then(|l| span.links.get(l));
    match x {
        Intrinsic::Name => text(&span.name),
        Intrinsic::Status => FieldValue::Status(span.status.code),
        Intrinsic::StatusMessage => text(&span.status.message),
        Intrinsic::Kind => FieldValue::Kind(span.kind),
        Intrinsic::Duration => FieldValue::Duration(span.duration()),
        Intrinsic::ChildCount => {
            FieldValue::Int(i64::try_from(t.children[i].len()).unwrap_or(i64::MAX))
        }
        Intrinsic::SpanId => text(&span.span_id.to_hex()),
        Intrinsic::ParentId => span
            .parent_span_id
            .map_or(FieldValue::Nil, |p| text(&p.to_hex())),
        Intrinsic::RootName => t.root().map_or(FieldValue::Nil, |r| text(&r.span.name)),
        Intrinsic::RootServiceName => t.root().map_or(FieldValue::Nil, |r| text(r.service_name())),
        Intrinsic::TraceDuration => FieldValue::Duration(t.duration()),
        Intrinsic::TraceId => text(&span.trace_id.to_hex()),
        Intrinsic::EventName => event.map_or(FieldValue::Nil, |e| text(&e.name)),
        Intrinsic::EventTimeSinceStart => event.map_or(FieldValue::Nil, |e| {
            FieldValue::Duration(e.time.saturating_since(span.start))
        }),
        Intrinsic::LinkTraceId => link.map_or(FieldValue::Nil, |l| text(&l.trace_id.to_hex())),
        Intrinsic::LinkSpanId => link.map_or(FieldValue::Nil, |l| text(&l.span_id.to_hex())),
        Intrinsic::InstrumentationName => text(&rec.scope.name),
        Intrinsic::InstrumentationVersion => text(&rec.scope.version),
        Intrinsic::NestedSetLeft => FieldValue::Int(t.nested[i].0),
        Intrinsic::NestedSetRight => FieldValue::Int(t.nested[i].1),
        Intrinsic::NestedSetParent => FieldValue::Int(t.nested[i].2),
    }
}

/// Whether the expression reads fields of the given scope (events or links).
pub(crate) fn reads_scope(e: &FieldExpr, scope: Scope) -> bool {
    match &e.kind {
        ExprKind::Static(_) => false,
        ExprKind::Attribute(a) => a.scope == scope,
        ExprKind::Intrinsic(x) => match scope {
            Scope::Event => matches!(x, Intrinsic::EventName | Intrinsic::EventTimeSinceStart),
            Scope::Link => matches!(x, Intrinsic::LinkTraceId | Intrinsic::LinkSpanId),
            _ => false,
        },
        ExprKind::Unary { expr, .. } => reads_scope(expr, scope),
        ExprKind::Binary { lhs, rhs, .. } => reads_scope(lhs, scope) || reads_scope(rhs, scope),
    }
}

/// Calls `f` on `e` and every expression nested in it.
pub(crate) fn walk_expr(e: &FieldExpr, f: &mut dyn FnMut(&FieldExpr)) {
    f(e);
    match &e.kind {
        ExprKind::Unary { expr, .. } => walk_expr(expr, f),
        ExprKind::Binary { lhs, rhs, .. } => {
            walk_expr(lhs, f);
            walk_expr(rhs, f);
        }
        _ => {}
    }
}

/// The event (or link) indexes an expression is evaluated with: each of the span's `n`
/// when the expression reads that scope and there are any, else one pass with none.
pub(crate) fn scope_choices(reads: bool, n: usize) -> impl Iterator<Item = Option<usize>> + Clone {
    let each = reads && n > 0;
    (0..if each { n } else { 1 }).map(move |i| each.then_some(i))
}

/// Calls `f` on every field expression of the query, nested ones included.
pub(crate) fn for_each_expr(q: &Query, f: &mut dyn FnMut(&FieldExpr)) {
    use walk_expr as expr;
    fn spanset(s: &SpansetExpr, f: &mut dyn FnMut(&FieldExpr)) {
        match s {
            SpansetExpr::Filter(filter) => {
                if let Some(e) = &filter.expr {
                    expr(e, f);
                }
            }
            SpansetExpr::Op { lhs, rhs, .. } => {
                spanset(lhs, f);
                spanset(rhs, f);
            }
            SpansetExpr::Pipeline(p) => pipeline(p, f),
        }
    }
    fn pipeline(p: &Pipeline, f: &mut dyn FnMut(&FieldExpr)) {
        for stage in &p.stages {
            match stage {
                Stage::Spanset(s) => spanset(s, f),
                Stage::ScalarFilter(sf) => {
                    for side in [&sf.lhs, &sf.rhs] {
                        if let ScalarExpr::Aggregate(Aggregate { arg: Some(a), .. }) = side {
                            expr(a, f);
                        }
                    }
                }
                Stage::By(e) => expr(e, f),
                Stage::Select(items) => items.iter().for_each(|e| expr(e, f)),
                Stage::Coalesce => {}
            }
        }
    }
    pipeline(&q.pipeline, f);
}

/// A span's status code counted as an error.
pub(crate) fn is_error(rec: &SpanRecord) -> bool {
    rec.span.status.code == StatusCode::Error
}
