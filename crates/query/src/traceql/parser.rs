//! TraceQL parser: recursive descent with one function per precedence level.
//!
//! Hand-written rather than generated: the grammar is small (three expression levels), and
//! what matters is the errors ("expected a value after `=`, found `}`" at the right
//! column), which a hand-written parser words per place. Recursion is bounded: nesting
//! (parentheses, `!`, `-`) by `MAX_NESTING`, and the depth of the tree built by long
//! `&&`/`||` chains by `MAX_DEPTH`, so that printing, checking and dropping the tree
//! cannot overflow the stack either.
//!
//! Precedence, lowest first, as in Tempo's grammar:
//! - pipeline: `|`
//! - between spansets: `&&` `||` (one level, left-associative), then the structural
//!   operators `>` `<` `>>` `<<` `~` `!>` `!<` `!>>` `!<<` `!~` `&>` `&<` `&>>` `&<<` `&~`
//! - inside `{ }`: `&&` `||` (one level, left-associative), then comparisons
//!   `=` `!=` `<` `<=` `>` `>=` `=~` `!~`, then unary `!` and `-`.

use super::ast::{
    Aggregate, AggregateFn, BinaryOp, CmpOp, ExprKind, FieldExpr, Filter, Pipeline, Query,
    ScalarExpr, ScalarFilter, Span, SpansetExpr, SpansetOp, Stage, Static, UnaryOp,
};
use super::error::Error;
use super::lexer::{Tok, Token};

/// Most nested parentheses, `!` and `-` the parser recurses into.
pub const MAX_NESTING: u32 = 64;
/// Deepest syntax tree accepted (long `&&`/`||` chains count one level per operator).
pub const MAX_DEPTH: u32 = 512;

pub(crate) fn parse(src: &str, tokens: Vec<Token>) -> Result<Query, Error> {
    let eof = tokens.last().map_or(
        Token {
            tok: Tok::Eof,
            span: Span::new(src.len(), src.len()),
        },
        Clone::clone,
    );
    let mut p = Parser {
        src,
        tokens,
        pos: 0,
        nesting: 0,
        eof,
    };
    let (pipeline, _) = p.pipeline(true)?;
    let next = p.peek().clone();
    match next.tok {
        Tok::Eof => Ok(Query { pipeline }),
        Tok::Eq | Tok::Neq | Tok::Gte | Tok::Lte | Tok::Re | Tok::Arith(_) | Tok::Minus => Err(p
            .error(
                next.span,
                format!(
                    "`{}` cannot combine spansets; use `&&`, `||`, `>`, `>>`, `<`, `<<` or `~`",
                    p.text(next.span)
                ),
            )),
        _ => Err(p.error(
            next.span,
            format!(
                "expected `|` or the end of the query, found {}",
                p.describe(&next)
            ),
        )),
    }
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    nesting: u32,
    eof: Token,
}

type Parsed<T> = Result<(T, u32), Error>;

impl Parser<'_> {
    fn peek(&self) -> &Token {
        self.tokens.get(self.pos).unwrap_or(&self.eof)
    }

    fn peek_at(&self, ahead: usize) -> &Token {
        self.tokens.get(self.pos + ahead).unwrap_or(&self.eof)
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    /// The token before the current one, for "after `=`" in messages.
    fn previous(&self) -> Option<&Token> {
        self.pos.checked_sub(1).and_then(|i| self.tokens.get(i))
    }

    fn text(&self, span: Span) -> &str {
        self.src.get(span.start..span.end).unwrap_or("")
    }

    fn describe(&self, t: &Token) -> String {
        if t.tok == Tok::Eof {
            return "the end of the query".to_owned();
        }
        let text = self.text(t.span);
        let mut short: String = text.chars().take(40).collect();
        if short.len() < text.len() {
            short.push('…');
        }
        format!("`{short}`")
    }

    fn error(&self, span: Span, message: impl Into<String>) -> Error {
        Error::parse(self.src, span, message)
    }

    fn expected(&self, what: &str) -> Error {
        let t = self.peek();
        self.error(
            t.span,
            format!("expected {what}, found {}", self.describe(t)),
        )
    }

    fn after_previous(&self) -> String {
        match self.previous() {
            Some(p) => format!(" after `{}`", self.text(p.span)),
            None => String::new(),
        }
    }

    fn expect_close(&mut self, close: Tok, open: &Token) -> Result<Token, Error> {
        if self.peek().tok == close {
            return Ok(self.bump());
        }
        let (line, column) = {
            let e = self.error(open.span, "");
            (e.line, e.column)
        };
        let symbol = if close == Tok::RBrace { "}" } else { ")" };
        let t = self.peek();
        if let Tok::Arith(c) = t.tok {
            return Err(self.error(t.span, format!("arithmetic (`{c}`) is not supported")));
        }
        Err(self.error(
            t.span,
            format!(
                "expected `{symbol}` to close the `{}` at line {line}, column {column}, found {}",
                self.text(open.span),
                self.describe(t)
            ),
        ))
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<Token, Error> {
        if self.peek().tok == tok {
            Ok(self.bump())
        } else {
            let after = self.after_previous();
            Err(self.expected(&format!("{what}{after}")))
        }
    }

    fn enter(&mut self, at: Span) -> Result<(), Error> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(self.error(
                at,
                format!("the query nests too deeply (more than {MAX_NESTING} levels)"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting = self.nesting.saturating_sub(1);
    }

    fn deeper(&self, a: u32, b: u32, at: Span) -> Result<u32, Error> {
        let d = a.max(b) + 1;
        if d > MAX_DEPTH {
            return Err(self.error(
                at,
                format!("the query is too long to nest (more than {MAX_DEPTH} levels of operators); use fewer conditions"),
            ));
        }
        Ok(d)
    }

    // ---- pipelines ----

    fn pipeline(&mut self, top: bool) -> Parsed<Pipeline> {
        let (first, mut depth) = self.stage(true, top)?;
        let mut stages = vec![first];
        while self.peek().tok == Tok::Pipe {
            self.bump();
            let (stage, d) = self.stage(false, top)?;
            depth = depth.max(d);
            stages.push(stage);
        }
        Ok((Pipeline { stages }, depth + 1))
    }

    fn stage(&mut self, first: bool, top: bool) -> Parsed<Stage> {
        let t = self.peek().clone();
        match &t.tok {
            Tok::LBrace | Tok::LParen => {
                let (e, d) = self.spanset_or()?;
                Ok((Stage::Spanset(e), d))
            }
            Tok::Int(_) | Tok::Float(_) | Tok::Duration(_) | Tok::Minus => {
                let (f, d) = self.scalar_filter()?;
                Ok((Stage::ScalarFilter(f), d))
            }
            Tok::Word(w) => match w.as_str() {
                "count" | "avg" | "min" | "max" | "sum" => {
                    let (f, d) = self.scalar_filter()?;
                    Ok((Stage::ScalarFilter(f), d))
                }
                "by" => {
                    self.bump();
                    let open = self.expect(Tok::LParen, "`(`")?;
                    let (e, d) = self.field_or()?;
                    self.expect_close(Tok::RParen, &open)?;
                    Ok((Stage::By(e), d + 1))
                }
                "select" => {
                    self.bump();
                    let open = self.expect(Tok::LParen, "`(`")?;
                    let mut items = vec![self.select_item()?];
                    while self.peek().tok == Tok::Comma {
                        self.bump();
                        items.push(self.select_item()?);
                    }
                    self.expect_close(Tok::RParen, &open)?;
                    Ok((Stage::Select(items), 2))
                }
                "coalesce" if first => Err(self.error(
                    t.span,
                    "`coalesce()` cannot start a pipeline; it follows `by(…)`",
                )),
                "coalesce" => {
                    self.bump();
                    let open = self.expect(Tok::LParen, "`(`")?;
                    self.expect_close(Tok::RParen, &open)?;
                    Ok((Stage::Coalesce, 1))
                }
                "rate"
                | "count_over_time"
                | "min_over_time"
                | "max_over_time"
                | "avg_over_time"
                | "sum_over_time"
                | "quantile_over_time"
                | "histogram_over_time"
                | "compare"
                | "topk"
                | "bottomk" => {
                    Err(self.error(t.span, format!("metrics function `{w}` is not supported")))
                }
                _ => Err(self.stage_error(first, top)),
            },
            _ => Err(self.stage_error(first, top)),
        }
    }

    fn stage_error(&self, first: bool, top: bool) -> Error {
        if first && top && self.pos == 0 {
            self.expected("a spanset filter `{ … }`")
        } else if first {
            let after = self.after_previous();
            self.expected(&format!("a spanset filter `{{ … }}`{after}"))
        } else {
            self.expected("a pipeline stage after `|`")
        }
    }

    fn select_item(&mut self) -> Result<FieldExpr, Error> {
        let t = self.peek().clone();
        let kind = match t.tok {
            Tok::Attr(a) => ExprKind::Attribute(a),
            Tok::Intrinsic(i) => ExprKind::Intrinsic(i),
            _ => {
                let after = self.after_previous();
                return Err(self.expected(&format!("an attribute or intrinsic{after}")));
            }
        };
        self.bump();
        Ok(FieldExpr { kind, span: t.span })
    }

    // ---- scalar filters ----

    fn scalar_filter(&mut self) -> Parsed<ScalarFilter> {
        let (lhs, d1) = self.scalar_operand()?;
        let op = match self.peek().tok {
            Tok::Eq => CmpOp::Eq,
            Tok::Neq => CmpOp::Neq,
            Tok::Lt => CmpOp::Lt,
            Tok::Lte => CmpOp::Lte,
            Tok::Gt => CmpOp::Gt,
            Tok::Gte => CmpOp::Gte,
            _ => {
                let after = self.after_previous();
                return Err(self.expected(&format!(
                    "a comparison (`=`, `!=`, `<`, `<=`, `>`, `>=`){after}"
                )));
            }
        };
        self.bump();
        let (rhs, d2) = self.scalar_operand()?;
        Ok((ScalarFilter { lhs, op, rhs }, d1.max(d2) + 1))
    }

    fn scalar_operand(&mut self) -> Parsed<ScalarExpr> {
        let t = self.peek().clone();
        let func = match &t.tok {
            Tok::Word(w) => match w.as_str() {
                "count" => Some(AggregateFn::Count),
                "avg" => Some(AggregateFn::Avg),
                "min" => Some(AggregateFn::Min),
                "max" => Some(AggregateFn::Max),
                "sum" => Some(AggregateFn::Sum),
                _ => None,
            },
            _ => None,
        };
        if let Some(func) = func {
            self.bump();
            let open = self.expect(Tok::LParen, "`(`")?;
            if func == AggregateFn::Count {
                let close = self.expect_close(Tok::RParen, &open)?;
                let agg = Aggregate {
                    func,
                    arg: None,
                    span: t.span.to(close.span),
                };
                return Ok((ScalarExpr::Aggregate(agg), 1));
            }
            if self.peek().tok == Tok::RParen {
                let name = func.name();
                return Err(self.error(
                    self.peek().span,
                    format!("`{name}` needs an argument, such as `{name}(duration)`"),
                ));
            }
            let (arg, d) = self.field_or()?;
            let close = self.expect_close(Tok::RParen, &open)?;
            let agg = Aggregate {
                func,
                arg: Some(arg),
                span: t.span.to(close.span),
            };
            return Ok((ScalarExpr::Aggregate(agg), d + 1));
        }
        if let Some((s, span)) = self.number_literal()? {
            return Ok((ScalarExpr::Static(s, span), 1));
        }
        let after = self.after_previous();
        Err(self.expected(&format!(
            "a number, a duration or an aggregate such as `count()`{after}"
        )))
    }

    /// An integer, float or duration with an optional leading `-`; `None` (nothing
    /// consumed) when the next tokens are not one.
    fn number_literal(&mut self) -> Result<Option<(Static, Span)>, Error> {
        let (negative, t) = match self.peek().tok {
            Tok::Minus => (true, self.peek_at(1).clone()),
            _ => (false, self.peek().clone()),
        };
        let start = self.peek().span;
        let value = match t.tok {
            Tok::Int(n) => Static::Int(
                signed(n, negative)
                    .ok_or_else(|| self.error(start.to(t.span), "integer is out of range"))?,
            ),
            Tok::Float(x) => Static::Float(if negative { -x } else { x }),
            Tok::Duration(n) => Static::Duration(
                signed(n, negative)
                    .ok_or_else(|| self.error(start.to(t.span), "duration is out of range"))?,
            ),
            _ => return Ok(None),
        };
        if negative {
            self.bump();
        }
        self.bump();
        Ok(Some((value, start.to(t.span))))
    }

    // ---- spanset expressions ----

    fn spanset_or(&mut self) -> Parsed<SpansetExpr> {
        let (mut lhs, mut depth) = self.spanset_structural()?;
        loop {
            let op = match self.peek().tok {
                Tok::AndAnd => SpansetOp::And,
                Tok::OrOr => SpansetOp::Or,
                _ => return Ok((lhs, depth)),
            };
            let at = self.bump().span;
            let (rhs, d) = self.spanset_structural()?;
            depth = self.deeper(depth, d, at)?;
            lhs = SpansetExpr::Op {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
    }

    fn spanset_structural(&mut self) -> Parsed<SpansetExpr> {
        let (mut lhs, mut depth) = self.spanset_primary()?;
        loop {
            let op = match self.peek().tok {
                Tok::Gt => SpansetOp::Child,
                Tok::Lt => SpansetOp::Parent,
                Tok::Desc => SpansetOp::Descendant,
                Tok::Anc => SpansetOp::Ancestor,
                Tok::Tilde => SpansetOp::Sibling,
                Tok::NotChild => SpansetOp::NotChild,
                Tok::NotParent => SpansetOp::NotParent,
                Tok::NotDesc => SpansetOp::NotDescendant,
                Tok::NotAnc => SpansetOp::NotAncestor,
                Tok::NotRe => SpansetOp::NotSibling,
                Tok::UnionChild => SpansetOp::UnionChild,
                Tok::UnionParent => SpansetOp::UnionParent,
                Tok::UnionDesc => SpansetOp::UnionDescendant,
                Tok::UnionAnc => SpansetOp::UnionAncestor,
                Tok::UnionSibl => SpansetOp::UnionSibling,
                _ => return Ok((lhs, depth)),
            };
            let at = self.bump().span;
            let (rhs, d) = self.spanset_primary()?;
            depth = self.deeper(depth, d, at)?;
            lhs = SpansetExpr::Op {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
    }

    fn spanset_primary(&mut self) -> Parsed<SpansetExpr> {
        let open = self.peek().clone();
        match open.tok {
            Tok::LBrace => {
                self.bump();
                if self.peek().tok == Tok::RBrace {
                    let close = self.bump();
                    let filter = Filter {
                        expr: None,
                        span: open.span.to(close.span),
                    };
                    return Ok((SpansetExpr::Filter(filter), 1));
                }
                let (expr, d) = self.field_or()?;
                let close = self.expect_close(Tok::RBrace, &open)?;
                let filter = Filter {
                    expr: Some(expr),
                    span: open.span.to(close.span),
                };
                Ok((SpansetExpr::Filter(filter), d + 1))
            }
            Tok::LParen => {
                self.bump();
                self.enter(open.span)?;
                let (mut pipeline, d) = self.pipeline(false)?;
                self.expect_close(Tok::RParen, &open)?;
                self.leave();
                // `({ … })` is grouping; a longer pipeline is an operand of its own.
                if pipeline.stages.len() == 1
                    && let Some(Stage::Spanset(_)) = pipeline.stages.first()
                    && let Some(Stage::Spanset(e)) = pipeline.stages.pop()
                {
                    return Ok((e, d));
                }
                Ok((SpansetExpr::Pipeline(Box::new(pipeline)), d + 1))
            }
            _ => {
                let after = self.after_previous();
                Err(self.expected(&format!("a spanset filter `{{ … }}`{after}")))
            }
        }
    }

    // ---- field expressions ----

    fn field_or(&mut self) -> Parsed<FieldExpr> {
        let (mut lhs, mut depth) = self.field_cmp()?;
        loop {
            let op = match self.peek().tok {
                Tok::AndAnd => BinaryOp::And,
                Tok::OrOr => BinaryOp::Or,
                _ => return Ok((lhs, depth)),
            };
            let at = self.bump().span;
            let (rhs, d) = self.field_cmp()?;
            depth = self.deeper(depth, d, at)?;
            lhs = binary(op, lhs, rhs);
        }
    }

    fn field_cmp(&mut self) -> Parsed<FieldExpr> {
        let (mut lhs, mut depth) = self.field_unary()?;
        loop {
            let op = match self.peek().tok {
                Tok::Eq => BinaryOp::Eq,
                Tok::Neq => BinaryOp::Neq,
                Tok::Lt => BinaryOp::Lt,
                Tok::Lte => BinaryOp::Lte,
                Tok::Gt => BinaryOp::Gt,
                Tok::Gte => BinaryOp::Gte,
                Tok::Re => BinaryOp::Re,
                Tok::NotRe => BinaryOp::NotRe,
                _ => return Ok((lhs, depth)),
            };
            let at = self.bump().span;
            let (rhs, d) = self.field_unary()?;
            depth = self.deeper(depth, d, at)?;
            lhs = binary(op, lhs, rhs);
        }
    }

    fn field_unary(&mut self) -> Parsed<FieldExpr> {
        let t = self.peek().clone();
        let op = match t.tok {
            Tok::Bang => UnaryOp::Not,
            Tok::Minus => {
                if let Some((s, span)) = self.number_literal()? {
                    let e = FieldExpr {
                        kind: ExprKind::Static(s),
                        span,
                    };
                    return self.after_operand(e, 1);
                }
                UnaryOp::Neg
            }
            _ => {
                let (e, d) = self.field_primary()?;
                return self.after_operand(e, d);
            }
        };
        self.bump();
        self.enter(t.span)?;
        let (inner, d) = self.field_unary()?;
        self.leave();
        let span = t.span.to(inner.span);
        let e = FieldExpr {
            kind: ExprKind::Unary {
                op,
                expr: Box::new(inner),
            },
            span,
        };
        Ok((e, d + 1))
    }

    /// Arithmetic after an operand gets its own message rather than "expected `}`".
    fn after_operand(&self, e: FieldExpr, depth: u32) -> Parsed<FieldExpr> {
        let t = self.peek();
        match t.tok {
            Tok::Arith(c) => {
                Err(self.error(t.span, format!("arithmetic (`{c}`) is not supported")))
            }
            Tok::Minus => Err(self.error(t.span, "arithmetic (`-`) is not supported")),
            _ => Ok((e, depth)),
        }
    }

    fn field_primary(&mut self) -> Parsed<FieldExpr> {
        let t = self.peek().clone();
        let kind = match t.tok {
            Tok::Str(s) => ExprKind::Static(Static::Str(s)),
            Tok::Int(_) | Tok::Float(_) | Tok::Duration(_) => {
                if let Some((s, span)) = self.number_literal()? {
                    return Ok((
                        FieldExpr {
                            kind: ExprKind::Static(s),
                            span,
                        },
                        1,
                    ));
                }
                return Err(self.expected("a value"));
            }
            Tok::True => ExprKind::Static(Static::Bool(true)),
            Tok::False => ExprKind::Static(Static::Bool(false)),
            Tok::Nil => ExprKind::Static(Static::Nil),
            Tok::Status(s) => ExprKind::Static(Static::Status(s)),
            Tok::Kind(k) => ExprKind::Static(Static::Kind(k)),
            Tok::Attr(a) => ExprKind::Attribute(a),
            Tok::Intrinsic(i) => ExprKind::Intrinsic(i),
            Tok::LParen => {
                self.bump();
                self.enter(t.span)?;
                let (mut inner, d) = self.field_or()?;
                let close = self.expect_close(Tok::RParen, &t)?;
                self.leave();
                inner.span = t.span.to(close.span);
                return Ok((inner, d));
            }
            Tok::Word(ref w) if !is_reserved(w) => {
                return Err(self.error(
                    t.span,
                    format!(
                        "unknown identifier `{w}`; attributes are written `.{w}`, \
                         `span.{w}` or `resource.{w}`"
                    ),
                ));
            }
            _ => {
                let after = self.after_previous();
                return Err(self.expected(&format!("a value{after}")));
            }
        };
        self.bump();
        Ok((FieldExpr { kind, span: t.span }, 1))
    }
}

fn binary(op: BinaryOp, lhs: FieldExpr, rhs: FieldExpr) -> FieldExpr {
    let span = lhs.span.to(rhs.span);
    FieldExpr {
        kind: ExprKind::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        },
        span,
    }
}

fn is_reserved(w: &str) -> bool {
    matches!(
        w,
        "count" | "avg" | "min" | "max" | "sum" | "by" | "select" | "coalesce"
    )
}

/// `n` as a signed value, negated when `negative`; `None` when out of `i64` range.
fn signed(n: u64, negative: bool) -> Option<i64> {
    if negative {
        0i64.checked_sub_unsigned(n)
    } else {
        i64::try_from(n).ok()
    }
}
