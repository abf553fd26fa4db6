//! TraceQL type checking: every comparison, condition and aggregate gets operands of types
//! it can use, and regular expressions compile. Errors point at the offending operand.
//!
//! Attributes are dynamic (their type is known only per span), so an attribute compared
//! with anything passes. Integers, floats and durations compare with each other, as in
//! Tempo (`duration > 1`, `count() > 1.5`).

use regex::RegexBuilder;

use super::ast::{
    Aggregate, AggregateFn, BinaryOp, ExprKind, FieldExpr, IntrinsicType, Pipeline, Query,
    ScalarExpr, SpansetExpr, Stage, Static, UnaryOp,
};
use super::error::Error;

/// Compiled regular expressions larger than this are refused (bounds work on hostile input).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Type {
    Str,
    Int,
    Float,
    Bool,
    Nil,
    Duration,
    Status,
    Kind,
    /// An attribute: any type, known per span.
    Dynamic,
}

impl Type {
    fn of_static(s: &Static) -> Type {
        match s {
            Static::Str(_) => Type::Str,
            Static::Int(_) => Type::Int,
            Static::Float(_) => Type::Float,
            Static::Bool(_) => Type::Bool,
            Static::Nil => Type::Nil,
            Static::Duration(_) => Type::Duration,
            Static::Status(_) => Type::Status,
            Static::Kind(_) => Type::Kind,
        }
    }

    fn numeric(self) -> bool {
        matches!(self, Type::Int | Type::Float | Type::Duration)
    }

    fn condition(self) -> bool {
        matches!(self, Type::Bool | Type::Dynamic)
    }

    fn noun(self) -> &'static str {
        match self {
            Type::Str => "a string",
            Type::Int => "an integer",
            Type::Float => "a number",
            Type::Bool => "a condition",
            Type::Nil => "nil",
            Type::Duration => "a duration",
            Type::Status => "a status (ok, error or unset)",
            Type::Kind => {
                "a span kind (unspecified, internal, server, client, producer or consumer)"
            }
            Type::Dynamic => "an attribute",
        }
    }
}

pub(crate) fn check(query: &Query, src: &str) -> Result<(), Error> {
    Checker { src }.pipeline(&query.pipeline)
}

struct Checker<'a> {
    src: &'a str,
}

impl Checker<'_> {
    fn error(&self, e: &FieldExpr, message: String) -> Error {
        Error::type_error(self.src, e.span, message)
    }

    fn pipeline(&self, p: &Pipeline) -> Result<(), Error> {
        for stage in &p.stages {
            match stage {
                Stage::Spanset(s) => self.spanset(s)?,
                Stage::ScalarFilter(f) => {
                    for side in [&f.lhs, &f.rhs] {
                        if let ScalarExpr::Aggregate(a) = side {
                            self.aggregate(a)?;
                        }
                    }
                    if let (ScalarExpr::Static(s, span), ScalarExpr::Static(..)) = (&f.lhs, &f.rhs)
                    {
                        return Err(Error::type_error(
                            self.src,
                            *span,
                            format!(
                                "a pipeline comparison needs an aggregate such as `count()`, found `{s}`"
                            ),
                        ));
                    }
                }
                Stage::By(e) => {
                    self.ty(e)?;
                    if !e.reads_span() {
                        return Err(self.error(
                            e,
                            format!(
                                "`by` needs an attribute or intrinsic, found {}",
                                describe(e, self.ty(e)?)
                            ),
                        ));
                    }
                }
                Stage::Select(items) => {
                    for e in items {
                        self.ty(e)?;
                    }
                }
                Stage::Coalesce => {}
            }
        }
        Ok(())
    }

    fn spanset(&self, s: &SpansetExpr) -> Result<(), Error> {
        match s {
            SpansetExpr::Filter(f) => {
                if let Some(e) = &f.expr {
                    let t = self.ty(e)?;
                    if !t.condition() {
                        return Err(self.error(
                            e,
                            format!(
                                "a spanset filter needs a condition, found {}",
                                describe(e, t)
                            ),
                        ));
                    }
                }
                Ok(())
            }
            SpansetExpr::Op { lhs, rhs, .. } => {
                self.spanset(lhs)?;
                self.spanset(rhs)
            }
            SpansetExpr::Pipeline(p) => self.pipeline(p),
        }
    }

    fn aggregate(&self, a: &Aggregate) -> Result<(), Error> {
        let Some(arg) = &a.arg else {
            return Ok(());
        };
        let name = a.func.name();
        let t = self.ty(arg)?;
        if !(t.numeric() || t == Type::Dynamic) {
            return Err(self.error(
                arg,
                format!(
                    "`{name}` needs a number or a duration, found {}",
                    describe(arg, t)
                ),
            ));
        }
        if !arg.reads_span() && a.func != AggregateFn::Count {
            return Err(self.error(
                arg,
                format!(
                    "`{name}` needs an attribute or intrinsic, found {}",
                    describe(arg, t)
                ),
            ));
        }
        Ok(())
    }

    /// The type of `e`, or the first type error inside it.
    fn ty(&self, e: &FieldExpr) -> Result<Type, Error> {
        match &e.kind {
            ExprKind::Static(s) => Ok(Type::of_static(s)),
            ExprKind::Attribute(_) => Ok(Type::Dynamic),
            ExprKind::Intrinsic(i) => Ok(match i.ty() {
                IntrinsicType::Str => Type::Str,
                IntrinsicType::Int => Type::Int,
                IntrinsicType::Duration => Type::Duration,
                IntrinsicType::Status => Type::Status,
                IntrinsicType::Kind => Type::Kind,
            }),
            ExprKind::Unary { op, expr } => {
                let t = self.ty(expr)?;
                match op {
                    UnaryOp::Not if t.condition() => Ok(Type::Bool),
                    UnaryOp::Not => Err(self.error(
                        expr,
                        format!("`!` needs a condition, found {}", describe(expr, t)),
                    )),
                    UnaryOp::Neg if t.numeric() || t == Type::Dynamic => Ok(t),
                    UnaryOp::Neg => Err(self.error(
                        expr,
                        format!(
                            "`-` needs a number or a duration, found {}",
                            describe(expr, t)
                        ),
                    )),
                }
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let (l, r) = (self.ty(lhs)?, self.ty(rhs)?);
                let sym = op.symbol();
                match op {
                    BinaryOp::And | BinaryOp::Or => {
                        for (side, t) in [(lhs, l), (rhs, r)] {
                            if !t.condition() {
                                return Err(self.error(
                                    side,
                                    format!(
                                        "`{sym}` needs conditions on both sides, found {}",
                                        describe(side, t)
                                    ),
                                ));
                            }
                        }
                    }
                    BinaryOp::Eq | BinaryOp::Neq => {
                        let ok = l == Type::Dynamic
                            || r == Type::Dynamic
                            || l == Type::Nil
                            || r == Type::Nil
                            || (l.numeric() && r.numeric())
                            || l == r;
                        if !ok {
                            return Err(self.mismatch(lhs, l, rhs, r));
                        }
                    }
                    BinaryOp::Lt | BinaryOp::Lte | BinaryOp::Gt | BinaryOp::Gte => {
                        let orderable =
                            |t: Type| t.numeric() || matches!(t, Type::Str | Type::Dynamic);
                        for (side, t) in [(lhs, l), (rhs, r)] {
                            if !orderable(t) {
                                return Err(self.error(
                                    side,
                                    format!(
                                        "`{sym}` needs numbers, durations or strings, found {}; use `=` or `!=`",
                                        describe(side, t)
                                    ),
                                ));
                            }
                        }
                        let ok = l == Type::Dynamic
                            || r == Type::Dynamic
                            || (l.numeric() && r.numeric())
                            || l == r;
                        if !ok {
                            return Err(self.mismatch(lhs, l, rhs, r));
                        }
                    }
                    BinaryOp::Re | BinaryOp::NotRe => {
                        for (side, t) in [(lhs, l), (rhs, r)] {
                            if !matches!(t, Type::Str | Type::Dynamic) {
                                return Err(self.error(
                                    side,
                                    format!("`{sym}` needs strings, found {}", describe(side, t)),
                                ));
                            }
                        }
                        if let ExprKind::Static(Static::Str(pattern)) = &rhs.kind
                            && let Err(err) = RegexBuilder::new(pattern)
                                .size_limit(REGEX_SIZE_LIMIT)
                                .build()
                        {
                            return Err(self.error(
                                rhs,
                                format!("invalid regular expression: {}", regex_reason(&err)),
                            ));
                        }
                    }
                }
                Ok(Type::Bool)
            }
        }
    }

    fn mismatch(&self, lhs: &FieldExpr, l: Type, rhs: &FieldExpr, r: Type) -> Error {
        self.error(
            rhs,
            format!(
                "cannot compare {} with {}",
                describe(lhs, l),
                describe(rhs, r)
            ),
        )
    }
}

/// How a message names an operand: "`duration` (a duration)", "the string \"x\"", …
fn describe(e: &FieldExpr, t: Type) -> String {
    match &e.kind {
        ExprKind::Intrinsic(i) => format!("`{i}` ({})", t.noun()),
        ExprKind::Static(s) => match s {
            Static::Str(_) => format!("the string {s}"),
            Static::Int(_) => format!("the integer {s}"),
            Static::Float(_) => format!("the number {s}"),
            Static::Duration(_) => format!("the duration {s}"),
            Static::Bool(_) => format!("the boolean {s}"),
            Static::Nil => "nil".to_owned(),
            Static::Status(_) => format!("the status {s}"),
            Static::Kind(_) => format!("the span kind {s}"),
        },
        ExprKind::Attribute(a) => format!("the attribute `{a}`"),
        ExprKind::Unary { .. } | ExprKind::Binary { .. } => t.noun().to_owned(),
    }
}

/// The last line of the regex crate's message ("unclosed character class"), without the
/// pattern it repeats above.
fn regex_reason(err: &regex::Error) -> String {
    let text = err.to_string();
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .trim_start_matches("error: ")
        .to_owned()
}
