//! TraceQL, the language front end: lexer, parser, syntax tree and type checking.
//!
//! Compatible with what Grafana's Tempo data source sends and Tempo accepts: spanset
//! filters `{ … }` over scoped (`span.`, `resource.`, `event.`, `link.`,
//! `instrumentation.`) and unscoped (`.attr`) attributes and intrinsics in both of Tempo's
//! spellings (`name` / `span:name`, `rootServiceName` / `trace:rootService`, …); typed
//! comparisons; `&&` `||` and the structural operators between spansets; pipelines with
//! aggregates, `by`, `select` and `coalesce`. Evaluation lives elsewhere: this module only
//! turns text into a checked [`Query`], prints it back canonically ([`Query`]'s `Display`)
//! and lists the fields it reads ([`Query::fields`]).
//!
//! Not supported (each is a positioned error): arithmetic (`+ - * / % ^` between
//! values), `parent.` attributes, metrics functions (`rate()`, `…_over_time()`),
//! scalar pipeline comparisons such as `({ } | count()) > ({ } | count())`.

mod ast;
mod check;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod lexer;
mod parser;

pub use ast::{
    Aggregate, AggregateFn, Attribute, BinaryOp, CmpOp, ExprKind, Field, FieldExpr, Filter,
    Intrinsic, IntrinsicType, Kind, Pipeline, Query, ScalarExpr, ScalarFilter, Scope, Span,
    SpansetExpr, SpansetOp, Stage, Static, Status, UnaryOp,
};
pub use error::{Error, ErrorKind};
pub use parser::{MAX_DEPTH, MAX_NESTING};

/// Parses and type-checks a TraceQL query.
pub fn parse(query: &str) -> Result<Query, Error> {
    let parsed = parse_syntax(query)?;
    check::check(&parsed, query)?;
    Ok(parsed)
}

/// Parses without type checking: for tools that want the tree of an ill-typed query.
pub fn parse_syntax(query: &str) -> Result<Query, Error> {
    let tokens = lexer::lex(query)?;
    parser::parse(query, tokens)
}

impl std::str::FromStr for Query {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

#[cfg(test)]
mod tests;
