//! The one error type of the TraceQL front end: a message, the 1-based line and column
//! (in characters) of the offending token, and a rendering with a caret under it.

use std::fmt;

use super::ast::Span;

/// Whether the query is malformed or well-formed but ill-typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    Parse,
    Type,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Parse => "parse",
            Self::Type => "type",
        })
    }
}

/// Why a query was rejected, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind} error at line {line}, column {column}: {message}")]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, counted in characters (not bytes).
    pub column: usize,
    /// Width of the offending token in characters on its line, at least 1.
    pub width: usize,
}

impl Error {
    pub(crate) fn at(kind: ErrorKind, src: &str, span: Span, message: impl Into<String>) -> Self {
        let (line, column, line_start) = position(src, span.start);
        // The width stays on the token's line; the end of the query gets one caret.
        let rest = src.get(line_start..).unwrap_or("");
        let line_text = rest.split('\n').next().unwrap_or("");
        let token = src.get(span.start..span.end.max(span.start)).unwrap_or("");
        let on_line = token.split('\n').next().unwrap_or("");
        let remaining = line_text.chars().count().saturating_sub(column - 1);
        let width = on_line.chars().count().min(remaining).max(1);
        Self {
            kind,
            message: message.into(),
            line,
            column,
            width,
        }
    }

    pub(crate) fn parse(src: &str, span: Span, message: impl Into<String>) -> Self {
        Self::at(ErrorKind::Parse, src, span, message)
    }

    pub(crate) fn type_error(src: &str, span: Span, message: impl Into<String>) -> Self {
        Self::at(ErrorKind::Type, src, span, message)
    }

    /// The message, the offending line of `query`, and carets under the token:
    /// ```text
    /// parse error at line 1, column 9: expected a value after `=`, found `}`
    /// { name = }
    ///         ^
    /// ```
    pub fn render(&self, query: &str) -> String {
        let line = query
            .split('\n')
            .nth(self.line.saturating_sub(1))
            .unwrap_or("")
            .trim_end_matches('\r');
        // Tabs stay tabs so the caret lines up however the terminal shows them.
        let pad: String = line
            .chars()
            .take(self.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        format!("{self}\n{line}\n{pad}{}", "^".repeat(self.width.max(1)))
    }
}

/// 1-based line and column (in characters) of byte `offset`, and the byte where its line starts.
fn position(src: &str, offset: usize) -> (usize, usize, usize) {
    let mut line = 1;
    let mut column = 1;
    let mut line_start = 0;
    for (i, c) in src.char_indices() {
        if i >= offset {
            break;
        }
        if c == '\n' {
            line += 1;
            column = 1;
            line_start = i + 1;
        } else {
            column += 1;
        }
    }
    (line, column, line_start)
}
