//! The TraceQL syntax tree, its canonical printing (`Display`) and the fields a query reads.
//!
//! `Display` prints canonical TraceQL: one spelling per construct (legacy intrinsic names
//! where Tempo has them, double-quoted strings, Go-style durations) and parentheses only
//! where precedence needs them, so `parse(q.to_string()) == q` for every parsed query.

use std::collections::BTreeSet;
use std::fmt::{self, Display, Formatter, Write as _};

/// A byte range of the query text. Positions do not take part in equality: two parses of
/// the same query written with different spacing compare equal.
#[derive(Clone, Copy, Debug, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl PartialEq for Span {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Span {}

impl Span {
    pub(crate) fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }

    pub(crate) fn to(self, other: Span) -> Span {
        Span::new(self.start, other.end.max(self.start))
    }
}

/// A whole query: a pipeline of stages separated by `|`.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub pipeline: Pipeline,
}

/// Stages separated by `|`; each stage filters the spansets the previous one produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Pipeline {
    pub stages: Vec<Stage>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Stage {
    /// `{ … }`, or spansets combined with `&&`, `||` or a structural operator.
    Spanset(SpansetExpr),
    /// `count() > 2`, `avg(duration) > 1s`.
    ScalarFilter(ScalarFilter),
    /// `by(resource.service.name)`.
    By(FieldExpr),
    /// `select(span.http.url, duration)`: attributes and intrinsics only.
    Select(Vec<FieldExpr>),
    /// `coalesce()`: merges the spansets grouped by `by`.
    Coalesce,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SpansetExpr {
    Filter(Filter),
    Op {
        op: SpansetOp,
        lhs: Box<SpansetExpr>,
        rhs: Box<SpansetExpr>,
    },
    /// A parenthesised pipeline used as an operand, `({ … } | count() > 1) && { … }`.
    Pipeline(Box<Pipeline>),
}

/// `{ expr }`; `{ }` (no expression) matches every span.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    pub expr: Option<FieldExpr>,
    pub span: Span,
}

/// Operators between spansets: logical, structural, negated structural (`!>`…) and union
/// structural (`&>`…), as in Tempo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpansetOp {
    And,
    Or,
    Child,
    Parent,
    Descendant,
    Ancestor,
    Sibling,
    NotChild,
    NotParent,
    NotDescendant,
    NotAncestor,
    NotSibling,
    UnionChild,
    UnionParent,
    UnionDescendant,
    UnionAncestor,
    UnionSibling,
}

impl SpansetOp {
    pub fn symbol(self) -> &'static str {
        match self {
            Self::And => "&&",
            Self::Or => "||",
            Self::Child => ">",
            Self::Parent => "<",
            Self::Descendant => ">>",
            Self::Ancestor => "<<",
            Self::Sibling => "~",
            Self::NotChild => "!>",
            Self::NotParent => "!<",
            Self::NotDescendant => "!>>",
            Self::NotAncestor => "!<<",
            Self::NotSibling => "!~",
            Self::UnionChild => "&>",
            Self::UnionParent => "&<",
            Self::UnionDescendant => "&>>",
            Self::UnionAncestor => "&<<",
            Self::UnionSibling => "&~",
        }
    }

    /// Binding strength: structural operators bind tighter than `&&` and `||`, which
    /// share one level and associate to the left (as in Tempo's grammar).
    pub(crate) fn level(self) -> u8 {
        match self {
            Self::And | Self::Or => 1,
            _ => 2,
        }
    }

    pub fn is_structural(self) -> bool {
        self.level() == 2
    }
}

/// `lhs op rhs` after a `|` (or as the first stage); at least one side is an aggregate.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalarFilter {
    pub lhs: ScalarExpr,
    pub op: CmpOp,
    pub rhs: ScalarExpr,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ScalarExpr {
    Aggregate(Aggregate),
    /// A number or a duration.
    Static(Static, Span),
}

/// `count()`, or `avg`/`min`/`max`/`sum` of a field expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Aggregate {
    pub func: AggregateFn,
    /// `None` exactly for `count()`.
    pub arg: Option<FieldExpr>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggregateFn {
    Count,
    Avg,
    Min,
    Max,
    Sum,
}

impl AggregateFn {
    pub fn name(self) -> &'static str {
        match self {
            Self::Count => "count",
            Self::Avg => "avg",
            Self::Min => "min",
            Self::Max => "max",
            Self::Sum => "sum",
        }
    }
}

/// Comparison of a scalar filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Eq => "=",
            Self::Neq => "!=",
            Self::Lt => "<",
            Self::Lte => "<=",
            Self::Gt => ">",
            Self::Gte => ">=",
        }
    }
}

/// An expression inside `{ }`, `by( )`, `select( )` or an aggregate.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldExpr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Static(Static),
    Attribute(Attribute),
    Intrinsic(Intrinsic),
    Unary {
        op: UnaryOp,
        expr: Box<FieldExpr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<FieldExpr>,
        rhs: Box<FieldExpr>,
    },
}

impl FieldExpr {
    pub fn new(kind: ExprKind) -> Self {
        Self {
            kind,
            span: Span::default(),
        }
    }

    /// Binding strength for printing: `&&`/`||` 1, comparisons 2, unary 3, atoms 4.
    fn level(&self) -> u8 {
        match &self.kind {
            ExprKind::Binary { op, .. } => op.level(),
            ExprKind::Unary { .. } => 3,
            _ => 4,
        }
    }

    /// Whether the expression reads the span (an attribute or intrinsic somewhere in it).
    pub fn reads_span(&self) -> bool {
        match &self.kind {
            ExprKind::Static(_) => false,
            ExprKind::Attribute(_) | ExprKind::Intrinsic(_) => true,
            ExprKind::Unary { expr, .. } => expr.reads_span(),
            ExprKind::Binary { lhs, rhs, .. } => lhs.reads_span() || rhs.reads_span(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Neg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    And,
    Or,
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    Re,
    NotRe,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            Self::And => "&&",
            Self::Or => "||",
            Self::Eq => "=",
            Self::Neq => "!=",
            Self::Lt => "<",
            Self::Lte => "<=",
            Self::Gt => ">",
            Self::Gte => ">=",
            Self::Re => "=~",
            Self::NotRe => "!~",
        }
    }

    /// `&&` and `||` share the lowest level and associate to the left, as in Tempo.
    pub(crate) fn level(self) -> u8 {
        match self {
            Self::And | Self::Or => 1,
            _ => 2,
        }
    }
}

/// A literal.
#[derive(Clone, Debug, PartialEq)]
pub enum Static {
    Str(String),
    Int(i64),
    /// Always finite.
    Float(f64),
    Bool(bool),
    Nil,
    /// Nanoseconds.
    Duration(i64),
    Status(Status),
    Kind(Kind),
}

/// Span status keywords.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Ok,
    Error,
    Unset,
}

impl Status {
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Unset => "unset",
        }
    }
}

/// Span kind keywords.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl Kind {
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::Internal => "internal",
            Self::Server => "server",
            Self::Client => "client",
            Self::Producer => "producer",
            Self::Consumer => "consumer",
        }
    }
}

/// Where an attribute is looked up: `.x` (span, then resource), `span.x`, `resource.x`,
/// `event.x`, `link.x`, `instrumentation.x`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    None,
    Span,
    Resource,
    Event,
    Link,
    Instrumentation,
}

impl Scope {
    pub fn prefix(self) -> &'static str {
        match self {
            Self::None => ".",
            Self::Span => "span.",
            Self::Resource => "resource.",
            Self::Event => "event.",
            Self::Link => "link.",
            Self::Instrumentation => "instrumentation.",
        }
    }
}

/// A dynamic attribute: its type is known only per span.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Attribute {
    pub scope: Scope,
    pub name: String,
}

/// Fields every span, trace, event or link has. Both of Tempo's spellings parse (`name`
/// and `span:name`, `rootServiceName` and `trace:rootService`, …); issue 6's `event.name`,
/// `link.traceID` and `link.spanID` parse as `event:name`, `link:traceID`, `link:spanID`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Intrinsic {
    Name,
    Status,
    StatusMessage,
    Kind,
    Duration,
    ChildCount,
    SpanId,
    ParentId,
    RootName,
    RootServiceName,
    TraceDuration,
    TraceId,
    EventName,
    EventTimeSinceStart,
    LinkTraceId,
    LinkSpanId,
    InstrumentationName,
    InstrumentationVersion,
    NestedSetLeft,
    NestedSetRight,
    NestedSetParent,
}

/// The type an intrinsic has, for the type checker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntrinsicType {
    Str,
    Int,
    Duration,
    Status,
    Kind,
}

/// Every intrinsic with its spellings (the first is canonical) and its type.
const INTRINSICS: &[(Intrinsic, &[&str], IntrinsicType)] = &[
    (Intrinsic::Name, &["name", "span:name"], IntrinsicType::Str),
    (
        Intrinsic::Status,
        &["status", "span:status"],
        IntrinsicType::Status,
    ),
    (
        Intrinsic::StatusMessage,
        &["statusMessage", "span:statusMessage"],
        IntrinsicType::Str,
    ),
    (Intrinsic::Kind, &["kind", "span:kind"], IntrinsicType::Kind),
    (
        Intrinsic::Duration,
        &["duration", "span:duration"],
        IntrinsicType::Duration,
    ),
    (
        Intrinsic::ChildCount,
        &["childCount", "span:childCount"],
        IntrinsicType::Int,
    ),
    (Intrinsic::SpanId, &["span:id"], IntrinsicType::Str),
    (Intrinsic::ParentId, &["span:parentID"], IntrinsicType::Str),
    (
        Intrinsic::RootName,
        &["rootName", "trace:rootName"],
        IntrinsicType::Str,
    ),
    (
        Intrinsic::RootServiceName,
        &["rootServiceName", "trace:rootService"],
        IntrinsicType::Str,
    ),
    (
        Intrinsic::TraceDuration,
        &["traceDuration", "trace:duration"],
        IntrinsicType::Duration,
    ),
    (Intrinsic::TraceId, &["trace:id"], IntrinsicType::Str),
    (Intrinsic::EventName, &["event:name"], IntrinsicType::Str),
    (
        Intrinsic::EventTimeSinceStart,
        &["event:timeSinceStart"],
        IntrinsicType::Duration,
    ),
    (
        Intrinsic::LinkTraceId,
        &["link:traceID"],
        IntrinsicType::Str,
    ),
    (Intrinsic::LinkSpanId, &["link:spanID"], IntrinsicType::Str),
    (
        Intrinsic::InstrumentationName,
        &["instrumentation:name"],
        IntrinsicType::Str,
    ),
    (
        Intrinsic::InstrumentationVersion,
        &["instrumentation:version"],
        IntrinsicType::Str,
    ),
    (
        Intrinsic::NestedSetLeft,
        &["nestedSetLeft"],
        IntrinsicType::Int,
    ),
    (
        Intrinsic::NestedSetRight,
        &["nestedSetRight"],
        IntrinsicType::Int,
    ),
    (
        Intrinsic::NestedSetParent,
        &["nestedSetParent"],
        IntrinsicType::Int,
    ),
];

impl Intrinsic {
    /// Every intrinsic, for tests and for listing intrinsics to clients.
    pub fn all() -> impl Iterator<Item = Intrinsic> {
        INTRINSICS.iter().map(|(i, _, _)| *i)
    }

    /// The intrinsic a spelling names (`name`, `span:name`, `trace:rootService`, …).
    pub fn from_spelling(s: &str) -> Option<Intrinsic> {
        INTRINSICS
            .iter()
            .find(|(_, spellings, _)| spellings.contains(&s))
            .map(|(i, _, _)| *i)
    }

    fn entry(self) -> (&'static [&'static str], IntrinsicType) {
        INTRINSICS
            .iter()
            .find(|(i, _, _)| *i == self)
            .map_or((&[], IntrinsicType::Str), |(_, s, t)| (*s, *t))
    }

    /// The canonical spelling: the legacy name where Tempo has one, so that every Tempo
    /// version accepts the printed query.
    pub fn canonical(self) -> &'static str {
        self.entry().0.first().copied().unwrap_or("name")
    }

    /// All spellings that parse as this intrinsic.
    pub fn spellings(self) -> &'static [&'static str] {
        self.entry().0
    }

    pub fn ty(self) -> IntrinsicType {
        self.entry().1
    }
}

/// A field a query reads from spans: the engine decodes only these columns.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    Attribute(Attribute),
    Intrinsic(Intrinsic),
}

impl Query {
    /// The attributes and intrinsics the query reads, sorted and without duplicates.
    /// Structural operators additionally need the spans' tree (`needs_structure`).
    pub fn fields(&self) -> Vec<Field> {
        let mut out = BTreeSet::new();
        self.pipeline.collect_fields(&mut out);
        out.into_iter().collect()
    }

    /// Whether a structural operator (`>`, `>>`, `~`, …) needs parent/child relations.
    pub fn needs_structure(&self) -> bool {
        self.pipeline.needs_structure()
    }
}

impl Pipeline {
    fn collect_fields(&self, out: &mut BTreeSet<Field>) {
        for stage in &self.stages {
            match stage {
                Stage::Spanset(s) => s.collect_fields(out),
                Stage::ScalarFilter(f) => {
                    for side in [&f.lhs, &f.rhs] {
                        if let ScalarExpr::Aggregate(Aggregate { arg: Some(arg), .. }) = side {
                            arg.collect_fields(out);
                        }
                    }
                }
                Stage::By(e) => e.collect_fields(out),
                Stage::Select(items) => items.iter().for_each(|e| e.collect_fields(out)),
                Stage::Coalesce => {}
            }
        }
    }

    fn needs_structure(&self) -> bool {
        self.stages.iter().any(|s| match s {
            Stage::Spanset(e) => e.needs_structure(),
            _ => false,
        })
    }
}

impl SpansetExpr {
    fn collect_fields(&self, out: &mut BTreeSet<Field>) {
        match self {
            Self::Filter(f) => {
                if let Some(e) = &f.expr {
                    e.collect_fields(out);
                }
            }
            Self::Op { lhs, rhs, .. } => {
                lhs.collect_fields(out);
                rhs.collect_fields(out);
            }
            Self::Pipeline(p) => p.collect_fields(out),
        }
    }

    fn needs_structure(&self) -> bool {
        match self {
            Self::Filter(_) => false,
            Self::Op { op, lhs, rhs } => {
                op.is_structural() || lhs.needs_structure() || rhs.needs_structure()
            }
            Self::Pipeline(p) => p.needs_structure(),
        }
    }

    fn level(&self) -> u8 {
        match self {
            Self::Op { op, .. } => op.level(),
            _ => 3,
        }
    }
}

impl FieldExpr {
    fn collect_fields(&self, out: &mut BTreeSet<Field>) {
        match &self.kind {
            ExprKind::Static(_) => {}
            ExprKind::Attribute(a) => {
                out.insert(Field::Attribute(a.clone()));
            }
            ExprKind::Intrinsic(i) => {
                out.insert(Field::Intrinsic(*i));
            }
            ExprKind::Unary { expr, .. } => expr.collect_fields(out),
            ExprKind::Binary { lhs, rhs, .. } => {
                lhs.collect_fields(out);
                rhs.collect_fields(out);
            }
        }
    }
}

// ---- printing ----

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.pipeline.fmt(f)
    }
}

impl Display for Pipeline {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (i, stage) in self.stages.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            stage.fmt(f)?;
        }
        Ok(())
    }
}

impl Display for Stage {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::Spanset(s) => s.fmt(f),
            Self::ScalarFilter(s) => write!(f, "{} {} {}", s.lhs, s.op.symbol(), s.rhs),
            Self::By(e) => write!(f, "by({e})"),
            Self::Select(items) => {
                f.write_str("select(")?;
                for (i, e) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    e.fmt(f)?;
                }
                f.write_str(")")
            }
            Self::Coalesce => f.write_str("coalesce()"),
        }
    }
}

impl Display for SpansetExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::Filter(filter) => match &filter.expr {
                None => f.write_str("{ }"),
                Some(e) => write!(f, "{{ {e} }}"),
            },
            Self::Op { op, lhs, rhs } => {
                write_operand(f, lhs.as_ref(), lhs.level() < op.level())?;
                write!(f, " {} ", op.symbol())?;
                write_operand(f, rhs.as_ref(), rhs.level() <= op.level())
            }
            Self::Pipeline(p) => write!(f, "({p})"),
        }
    }
}

impl Display for ScalarExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::Aggregate(a) => a.fmt(f),
            Self::Static(s, _) => s.fmt(f),
        }
    }
}

impl Display for Aggregate {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.arg {
            None => write!(f, "{}()", self.func.name()),
            Some(arg) => write!(f, "{}({arg})", self.func.name()),
        }
    }
}

fn write_operand(f: &mut Formatter<'_>, e: &dyn Display, parens: bool) -> fmt::Result {
    if parens { write!(f, "({e})") } else { e.fmt(f) }
}

impl Display for FieldExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExprKind::Static(s) => s.fmt(f),
            ExprKind::Attribute(a) => a.fmt(f),
            ExprKind::Intrinsic(i) => f.write_str(i.canonical()),
            ExprKind::Unary { op, expr } => {
                f.write_str(match op {
                    UnaryOp::Not => "!",
                    UnaryOp::Neg => "-",
                })?;
                // `-(5)` keeps a negated literal apart from the literal `-5`.
                let literal_number = matches!(
                    expr.kind,
                    ExprKind::Static(Static::Int(_) | Static::Float(_) | Static::Duration(_))
                );
                write_operand(f, expr.as_ref(), expr.level() < 3 || literal_number)
            }
            ExprKind::Binary { op, lhs, rhs } => {
                write_operand(f, lhs.as_ref(), lhs.level() < op.level())?;
                write!(f, " {} ", op.symbol())?;
                write_operand(f, rhs.as_ref(), rhs.level() <= op.level())
            }
        }
    }
}

impl Display for Static {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::Str(s) => write_quoted(f, s),
            Self::Int(i) => write!(f, "{i}"),
            // Debug keeps a `.0` or an exponent, so the number reads back as a float.
            Self::Float(x) => write!(f, "{x:?}"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Nil => f.write_str("nil"),
            Self::Duration(ns) => write_duration(f, *ns),
            Self::Status(s) => f.write_str(s.keyword()),
            Self::Kind(k) => f.write_str(k.keyword()),
        }
    }
}

impl Display for Attribute {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.scope.prefix())?;
        if needs_quotes(self.scope, &self.name) {
            write_quoted(f, &self.name)
        } else {
            f.write_str(&self.name)
        }
    }
}

impl Display for Intrinsic {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.canonical())
    }
}

impl Display for Field {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::Attribute(a) => a.fmt(f),
            Self::Intrinsic(i) => i.fmt(f),
        }
    }
}

/// Whether an attribute name must be written quoted to read back as the same attribute.
fn needs_quotes(scope: Scope, name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.clone().next() else {
        return true;
    };
    // `.5` reads as a number; `event.name`, `link.traceID`, `link.spanID` as intrinsics.
    (scope == Scope::None && first.is_ascii_digit())
        || (scope == Scope::Event && name == "name")
        || (scope == Scope::Link && (name == "traceID" || name == "spanID"))
        || chars.any(|c| !super::lexer::is_attribute_char(c) || c == '"')
}

fn write_quoted(f: &mut Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c.is_control() => {
                let n = u32::from(c);
                if n <= 0xFFFF {
                    write!(f, "\\u{n:04x}")?;
                } else {
                    write!(f, "\\U{n:08x}")?;
                }
            }
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// Go-style: `1h30m`, `1.5s`, `200ms`, `1.5us`, `10ns`, `0s`; exact to the nanosecond.
fn write_duration(f: &mut Formatter<'_>, ns: i64) -> fmt::Result {
    if ns < 0 {
        f.write_char('-')?;
    }
    let ns = ns.unsigned_abs();
    const US: u64 = 1_000;
    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;
    if ns == 0 {
        return f.write_str("0s");
    }
    if ns < US {
        return write!(f, "{ns}ns");
    }
    if ns < MS {
        return write_fraction(f, ns, US, 3, "us");
    }
    if ns < S {
        return write_fraction(f, ns, MS, 6, "ms");
    }
    let hours = ns / (3600 * S);
    let minutes = ns / (60 * S) % 60;
    let rest = ns % (60 * S);
    if hours > 0 {
        write!(f, "{hours}h")?;
    }
    if minutes > 0 {
        write!(f, "{minutes}m")?;
    }
    if rest > 0 {
        write_fraction(f, rest, S, 9, "s")?;
    }
    Ok(())
}

fn write_fraction(
    f: &mut Formatter<'_>,
    value: u64,
    unit: u64,
    digits: usize,
    suffix: &str,
) -> fmt::Result {
    let whole = value / unit;
    let frac = value % unit;
    if frac == 0 {
        return write!(f, "{whole}{suffix}");
    }
    let frac = format!("{frac:0digits$}");
    write!(f, "{whole}.{}{suffix}", frac.trim_end_matches('0'))
}
