//! Planning a search: which spans the store must look at, and which traces are worth
//! judging whole.
//!
//! Every `{ … }` of the query is a *leaf*. A leaf is *local* when it reads only the span
//! itself (not `rootName`, `traceDuration`, `childCount`, nested sets), so a scan can judge
//! it span by span. The query's *need* is a formula over leaves that every matching trace
//! satisfies: `{A} && {B}` needs A and B, `{A} || {B}` A or B, `{A} > {B}` A and B,
//! `{A} !> {B}` only B, `{A} | {B}` A and B. Leaves that are not local count as true.
//!
//! Each local leaf's top-level conjuncts give a hint for pruning: `resource.service.name`,
//! `name`, `kind`, `status` equal to a literal, bounds on `duration`, and any span,
//! resource or unscoped attribute equal to a string, integer or boolean or matching a
//! regular expression (a term that blocks' attribute indexes answer; keys with a dedicated
//! column are also tested in the row filter). Groups not admitted
//! by any hint hold no span meeting any leaf, so every leaf's bit stays exact. When some leaf
//! has no hint (it could be anywhere) but the need does not depend on it (`{A} && {B}`), it
//! is dropped from the need rather than forcing a read of everything.

use std::sync::Arc;

use clew_model::{DurationNanos, SpanRecord};
use clew_store::scan::{SpanMatcher, SpanParts, SpanScan};
use clew_store::{AttributeTerm, SpanFilter, TermScope, TermValue, TextTest};

use super::eval::{Evaluator, TraceView, for_each_expr, walk_expr};
use super::value::{FieldValue, compile_regex};
use crate::traceql::{
    Attribute, BinaryOp, ExprKind, FieldExpr, Filter, Intrinsic, Pipeline, Query, Scope,
    SpansetExpr, SpansetOp, Stage,
};

/// Bits beyond this many leaves are not tracked; those leaves count as true.
const MAX_LEAVES: usize = 63;
/// Set for every span when the need is `True`: every trace the scan reads is a candidate.
const SEEN: u64 = 1 << 63;

/// A formula over leaves.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Need {
    True,
    Leaf(usize),
    And(Box<Need>, Box<Need>),
    Or(Box<Need>, Box<Need>),
}

impl Need {
    fn and(a: Need, b: Need) -> Need {
        match (a, b) {
            (Need::True, x) | (x, Need::True) => x,
            (a, b) => Need::And(Box::new(a), Box::new(b)),
        }
    }

    fn or(a: Need, b: Need) -> Need {
        match (a, b) {
            (Need::True, _) | (_, Need::True) => Need::True,
            (a, b) => Need::Or(Box::new(a), Box::new(b)),
        }
    }

    pub(crate) fn holds(&self, bits: u64) -> bool {
        match self {
            Need::True => true,
            Need::Leaf(i) => bits & (1u64 << i) != 0,
            Need::And(a, b) => a.holds(bits) && b.holds(bits),
            Need::Or(a, b) => a.holds(bits) || b.holds(bits),
        }
    }

    /// The formula with the leaves `keep` rejects replaced by true.
    fn keep_only(&self, keep: &dyn Fn(usize) -> bool) -> Need {
        match self {
            Need::True => Need::True,
            Need::Leaf(i) if keep(*i) => Need::Leaf(*i),
            Need::Leaf(_) => Need::True,
            Need::And(a, b) => Need::and(a.keep_only(keep), b.keep_only(keep)),
            Need::Or(a, b) => Need::or(a.keep_only(keep), b.keep_only(keep)),
        }
    }

    fn leaves(&self, out: &mut Vec<usize>) {
        match self {
            Need::True => {}
            Need::Leaf(i) => out.push(*i),
            Need::And(a, b) | Need::Or(a, b) => {
                a.leaves(out);
                b.leaves(out);
            }
        }
    }
}

/// A planned search.
pub(crate) struct Plan {
    /// Local leaves' filters, by bit.
    leaves: Vec<Filter>,
    pub(crate) need: Need,
    hints: Vec<SpanFilter>,
    parts: SpanParts,
    exact: Option<u64>,
}

impl Plan {
    pub(crate) fn new(query: &Query) -> Plan {
        let mut leaves = Vec::new();
        let need = pipeline_need(&query.pipeline, &mut leaves);
        let leaf_hints: Vec<Option<(SpanFilter, bool)>> = leaves.iter().map(hint).collect();
        // Leaves with no hint would make every group readable: drop them from the need
        // when something else remains to prune by.
        let hinted = |i: usize| leaf_hints.get(i).is_some_and(Option::is_some);
        let narrowed = need.keep_only(&hinted);
        let (need, used) = if narrowed == Need::True {
            (need, None)
        } else {
            let mut used = Vec::new();
            narrowed.leaves(&mut used);
            (narrowed, Some(used))
        };
        let hints: Vec<SpanFilter> = match &used {
            Some(used) => used
                .iter()
                .filter_map(|&i| leaf_hints.get(i).cloned().flatten().map(|(h, _)| h))
                .collect(),
            None => Vec::new(),
        };
        // Whether the hints alone say which leaves a span meets (see `SpanScan::exact`):
        // every span when nothing is needed, or the one leaf whose every conjunct the hint
        // captured exactly.
        let exact = match (&need, used.as_deref()) {
            (Need::True, _) => Some(SEEN),
            (Need::Leaf(i), Some([j])) if i == j => leaf_hints
                .get(*i)
                .and_then(|h| h.as_ref())
                .and_then(|(_, exact)| exact.then_some(1u64 << i)),
            _ => None,
        };
        let mut parts = SpanParts::default();
        for leaf in &leaves {
            if let Some(e) = &leaf.expr {
                parts_of(e, &mut parts);
            }
        }
        Plan {
            leaves,
            need,
            hints,
            parts,
            exact,
        }
    }

    /// The span parts the query's span-local filters read.
    pub(crate) fn parts(&self) -> SpanParts {
        self.parts
    }

    /// The store scan: the matcher sets bit i when the span meets local leaf i.
    pub(crate) fn scan(&self, query: &Query) -> SpanScan {
        let leaves = self.leaves.clone();
        let eval = Evaluator::new(query);
        let everything = self.need == Need::True;
        let matcher: SpanMatcher = Arc::new(move |rec: &SpanRecord| {
            let view = TraceView::single(rec);
            let mut bits = if everything { SEEN } else { 0 };
            for (i, leaf) in leaves.iter().enumerate() {
                if eval.filter(leaf, &view, 0) {
                    bits |= 1 << i;
                }
            }
            bits
        });
        SpanScan {
            parts: self.parts,
            hints: self.hints.clone(),
            matcher,
            exact: self.exact,
        }
    }
}

fn pipeline_need(p: &Pipeline, leaves: &mut Vec<Filter>) -> Need {
    let mut need = Need::True;
    for stage in &p.stages {
        if let Stage::Spanset(e) = stage {
            need = Need::and(need, spanset_need(e, leaves));
        }
    }
    need
}

fn spanset_need(e: &SpansetExpr, leaves: &mut Vec<Filter>) -> Need {
    match e {
        SpansetExpr::Filter(f) => {
            let local = f.expr.as_ref().is_none_or(is_local);
            if !local || leaves.len() >= MAX_LEAVES {
                return Need::True;
            }
            // `{ }` and `{ true }` hold for every span: nothing to look for.
            if f.expr.is_none() {
                return Need::True;
            }
            leaves.push(f.clone());
            Need::Leaf(leaves.len() - 1)
        }
        SpansetExpr::Pipeline(p) => pipeline_need(p, leaves),
        SpansetExpr::Op { op, lhs, rhs } => {
            let l = spanset_need(lhs, leaves);
            let r = spanset_need(rhs, leaves);
            match op {
                SpansetOp::Or => Need::or(l, r),
                SpansetOp::NotChild
                | SpansetOp::NotParent
                | SpansetOp::NotDescendant
                | SpansetOp::NotAncestor
                | SpansetOp::NotSibling => r,
                _ => Need::and(l, r),
            }
        }
    }
}

/// Whether the expression reads only the span itself.
fn is_local(e: &FieldExpr) -> bool {
    match &e.kind {
        ExprKind::Static(_) | ExprKind::Attribute(_) => true,
        ExprKind::Intrinsic(x) => !matches!(
            x,
            Intrinsic::RootName
                | Intrinsic::RootServiceName
                | Intrinsic::TraceDuration
                | Intrinsic::ChildCount
                | Intrinsic::NestedSetLeft
                | Intrinsic::NestedSetRight
                | Intrinsic::NestedSetParent
        ),
        ExprKind::Unary { expr, .. } => is_local(expr),
        ExprKind::Binary { lhs, rhs, .. } => is_local(lhs) && is_local(rhs),
    }
}

/// The conditions a span meeting `leaf` certainly meets, if any narrow the search, and
/// whether they are exactly the leaf (every conjunct captured without loss).
fn hint(leaf: &Filter) -> Option<(SpanFilter, bool)> {
    let mut f = SpanFilter::default();
    let mut narrowed = false;
    let mut exact = true;
    if let Some(e) = &leaf.expr {
        conjuncts(e, &mut |c| {
            let capture = narrow(c, &mut f);
            narrowed |= capture != Capture::None;
            exact &= capture == Capture::Exact;
        });
    }
    narrowed.then_some((f, exact))
}

/// What a hint took from one comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Capture {
    /// Nothing: the comparison is left to the matcher.
    None,
    /// A condition every span meeting the comparison meets, but others too.
    Wider,
    /// A condition met by exactly the spans meeting the comparison.
    Exact,
}

fn conjuncts(e: &FieldExpr, f: &mut dyn FnMut(&FieldExpr)) {
    match &e.kind {
        ExprKind::Binary {
            op: BinaryOp::And,
            lhs,
            rhs,
        } => {
            conjuncts(lhs, f);
            conjuncts(rhs, f);
        }
        _ => f(e),
    }
}

/// Adds what comparison `c` implies to `f`.
fn narrow(c: &FieldExpr, f: &mut SpanFilter) -> Capture {
    let ExprKind::Binary { op, lhs, rhs } = &c.kind else {
        return Capture::None;
    };
    // Field on the left, literal on the right (flip `5 < duration`).
    let (field, literal, op) = match (&lhs.kind, &rhs.kind) {
        (ExprKind::Static(s), _) => (rhs, FieldValue::from_static(s), flip(*op)),
        (_, ExprKind::Static(s)) => (lhs, FieldValue::from_static(s), Some(*op)),
        _ => return Capture::None,
    };
    let Some(op) = op else {
        return Capture::None;
    };
    match (&field.kind, op, literal) {
        (ExprKind::Attribute(a), BinaryOp::Eq, FieldValue::Str(v)) if is_service(a) => {
            // The column says `unknown_service` for spans without a `service.name`, which
            // the comparison does not match.
            let exact = v != "unknown_service" && f.service.is_none();
            f.service = Some(v);
            if exact {
                Capture::Exact
            } else {
                Capture::Wider
            }
        }
        // Equality with a string, integer or boolean: a term blocks' attribute indexes
        // answer, and for keys with a dedicated column also a row-filter condition.
        (ExprKind::Attribute(a), BinaryOp::Eq, literal) => {
            let value = match literal {
                FieldValue::Str(v) => {
                    if a.scope == Scope::Span && clew_store::is_dedicated_span_attribute(&a.name) {
                        f.span_strings.push((a.name.clone(), v.clone()));
                    }
                    TermValue::Str(v)
                }
                FieldValue::Int(i) => TermValue::Int(i),
                FieldValue::Bool(b) => TermValue::Bool(b),
                _ => return Capture::None,
            };
            add_term(f, a, value)
        }
        // A regular expression: the index tests each distinct text of the key.
        (ExprKind::Attribute(a), BinaryOp::Re, FieldValue::Str(pattern)) => {
            let Some(re) = compile_regex(&pattern) else {
                return Capture::None;
            };
            let test = TextTest {
                source: pattern,
                test: Arc::new(move |text: &str| re.is_match(text)),
            };
            add_term(f, a, TermValue::Matches(test))
        }
        (ExprKind::Intrinsic(Intrinsic::Name), BinaryOp::Eq, FieldValue::Str(v)) => {
            once(f.operation.replace(v).is_none())
        }
        (ExprKind::Intrinsic(Intrinsic::Kind), BinaryOp::Eq, FieldValue::Kind(k)) => {
            once(f.kind.replace(k).is_none())
        }
        (ExprKind::Intrinsic(Intrinsic::Status), BinaryOp::Eq, FieldValue::Status(s)) => {
            once(f.status.replace(s).is_none())
        }
        (ExprKind::Intrinsic(Intrinsic::Duration), op, FieldValue::Duration(d)) => match op {
            BinaryOp::Gt => once(
                f.min_duration
                    .replace(DurationNanos(d.0.saturating_add(1)))
                    .is_none(),
            ),
            BinaryOp::Gte => once(f.min_duration.replace(d).is_none()),
            BinaryOp::Lt if d.0 > 0 => {
                once(f.max_duration.replace(DurationNanos(d.0 - 1)).is_none())
            }
            BinaryOp::Lte => once(f.max_duration.replace(d).is_none()),
            BinaryOp::Eq => {
                let first = f.min_duration.replace(d).is_none();
                once(f.max_duration.replace(d).is_none() && first)
            }
            _ => Capture::None,
        },
        _ => Capture::None,
    }
}

/// Adds "attribute `a` equals (or matches) `value`" to the hint, when an index can answer it.
fn add_term(f: &mut SpanFilter, a: &Attribute, value: TermValue) -> Capture {
    let scope = match a.scope {
        Scope::Span => TermScope::Span,
        Scope::Resource => TermScope::Resource,
        Scope::None => TermScope::SpanOrResource,
        _ => return Capture::None,
    };
    let term = AttributeTerm {
        scope,
        key: a.name.clone(),
        value,
    };
    if !term.is_indexable() {
        return Capture::None;
    }
    // Unscoped: either scope's first attribute, wider than TraceQL's rule.
    let capture = if term.scope == TermScope::SpanOrResource {
        Capture::Wider
    } else {
        Capture::Exact
    };
    f.terms.push(term);
    capture
}

/// A condition that replaced no earlier one of its field is exact; a second one on the same
/// field (`name = "a" && name = "b"`) replaced the first, so the hint is only wider.
fn once(first: bool) -> Capture {
    if first {
        Capture::Exact
    } else {
        Capture::Wider
    }
}

fn is_service(a: &Attribute) -> bool {
    a.scope == Scope::Resource && a.name == "service.name"
}

/// `lit op field` as `field op' lit`.
fn flip(op: BinaryOp) -> Option<BinaryOp> {
    Some(match op {
        BinaryOp::Eq => BinaryOp::Eq,
        BinaryOp::Lt => BinaryOp::Gt,
        BinaryOp::Lte => BinaryOp::Gte,
        BinaryOp::Gt => BinaryOp::Lt,
        BinaryOp::Gte => BinaryOp::Lte,
        _ => return None,
    })
}

/// Every span part the whole query reads (every filter, aggregate, `by` and `select`),
/// plus ids, which judging a trace always needs (its tree, its root, duplicates).
pub(crate) fn query_parts(query: &Query) -> SpanParts {
    let mut parts = SpanParts {
        ids: true,
        ..SpanParts::default()
    };
    for_each_expr(query, &mut |e| parts_of(e, &mut parts));
    parts
}

/// Adds the span parts an expression reads to `parts`.
pub(crate) fn parts_of(e: &FieldExpr, parts: &mut SpanParts) {
    walk_expr(e, &mut |x| match &x.kind {
        ExprKind::Attribute(a) => match a.scope {
            Scope::None => {
                parts.attributes = true;
                parts.resource |= a.name != "service.name";
            }
            Scope::Span => parts.attributes = true,
            // Scans fill `service.name` in even without the resource part.
            Scope::Resource if a.name == "service.name" => {}
            Scope::Resource => parts.resource = true,
            Scope::Event => parts.events = true,
            Scope::Link => parts.links = true,
            Scope::Instrumentation => parts.scope = true,
        },
        ExprKind::Intrinsic(i) => match i {
            Intrinsic::EventName | Intrinsic::EventTimeSinceStart => parts.events = true,
            Intrinsic::LinkTraceId | Intrinsic::LinkSpanId => parts.links = true,
            Intrinsic::InstrumentationName | Intrinsic::InstrumentationVersion => {
                parts.scope = true;
            }
            Intrinsic::SpanId | Intrinsic::ParentId => parts.ids = true,
            _ => {}
        },
        _ => {}
    });
}
