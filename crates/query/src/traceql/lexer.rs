//! TraceQL lexer: turns the query into tokens with byte spans.
//!
//! Hand-written because TraceQL's tokens depend on context a generated lexer handles badly:
//! an attribute name runs until whitespace or one of `{ } ( ) = ~ ! < > & | ^ ,` (so
//! `span.http.status_code>=200` is an attribute and an operator, and names hold dots,
//! dashes, slashes and colons), may mix in quoted parts (`span."foo bar"`), and a number
//! followed by a unit is a duration (`1h30m`).

use super::ast::{Attribute, Intrinsic, Kind, Scope, Span, Status};
use super::error::Error;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    Pipe,
    Eq,
    Neq,
    Re,
    /// `!~`: "does not match" inside a filter, "not sibling" between spansets.
    NotRe,
    Gt,
    Gte,
    Lt,
    Lte,
    AndAnd,
    OrOr,
    Bang,
    Minus,
    Desc,
    Anc,
    Tilde,
    NotChild,
    NotParent,
    NotDesc,
    NotAnc,
    UnionChild,
    UnionParent,
    UnionDesc,
    UnionAnc,
    UnionSibl,
    /// `+ * / % ^`: Tempo's arithmetic, which Clew does not support yet.
    Arith(char),
    Str(String),
    /// Unsigned; the parser applies a leading `-`.
    Int(u64),
    Float(f64),
    /// Nanoseconds, unsigned; the parser applies a leading `-`.
    Duration(u64),
    Attr(Attribute),
    Intrinsic(Intrinsic),
    True,
    False,
    Nil,
    Status(Status),
    Kind(Kind),
    /// `count`, `avg`, `by`, `select`, … and unknown words; the parser decides.
    Word(String),
    Eof,
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    pub span: Span,
}

/// Whether `c` can be part of an unquoted attribute name.
pub(crate) fn is_attribute_char(c: char) -> bool {
    !c.is_whitespace()
        && !matches!(
            c,
            '{' | '}' | '(' | ')' | '=' | '~' | '!' | '<' | '>' | '&' | '|' | '^' | ','
        )
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Duration units, longest first where one is a prefix of another.
const UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
    ("w", 604_800_000_000_000),
    ("y", 31_536_000_000_000_000),
];

pub(crate) fn lex(src: &str) -> Result<Vec<Token>, Error> {
    let mut lexer = Lexer { src, pos: 0 };
    let mut out = Vec::new();
    loop {
        let token = lexer.next_token()?;
        let eof = token.tok == Tok::Eof;
        out.push(token);
        if eof {
            return Ok(out);
        }
    }
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek2(&self) -> Option<char> {
        self.rest().chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn error(&self, start: usize, message: impl Into<String>) -> Error {
        Error::parse(self.src, Span::new(start, self.pos.max(start + 1)), message)
    }

    fn next_token(&mut self) -> Result<Token, Error> {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
        let start = self.pos;
        let Some(c) = self.bump() else {
            return Ok(Token {
                tok: Tok::Eof,
                span: Span::new(start, start),
            });
        };
        let tok = match c {
            '{' => Tok::LBrace,
            '}' => Tok::RBrace,
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            ',' => Tok::Comma,
            '~' => Tok::Tilde,
            '-' => Tok::Minus,
            '+' | '*' | '/' | '%' | '^' => Tok::Arith(c),
            '|' => {
                if self.eat('|') {
                    Tok::OrOr
                } else {
                    Tok::Pipe
                }
            }
            '=' => {
                if self.eat('~') {
                    Tok::Re
                } else if self.peek() == Some('=') {
                    self.bump();
                    return Err(self.error(start, "`==` is not an operator; use `=`"));
                } else {
                    Tok::Eq
                }
            }
            '!' => {
                if self.eat('=') {
                    Tok::Neq
                } else if self.eat('~') {
                    Tok::NotRe
                } else if self.eat('>') {
                    if self.eat('>') {
                        Tok::NotDesc
                    } else {
                        Tok::NotChild
                    }
                } else if self.eat('<') {
                    if self.eat('<') {
                        Tok::NotAnc
                    } else {
                        Tok::NotParent
                    }
                } else {
                    Tok::Bang
                }
            }
            '>' => {
                if self.eat('=') {
                    Tok::Gte
                } else if self.eat('>') {
                    Tok::Desc
                } else {
                    Tok::Gt
                }
            }
            '<' => {
                if self.eat('=') {
                    Tok::Lte
                } else if self.eat('<') {
                    Tok::Anc
                } else {
                    Tok::Lt
                }
            }
            '&' => {
                if self.eat('&') {
                    Tok::AndAnd
                } else if self.eat('>') {
                    if self.eat('>') {
                        Tok::UnionDesc
                    } else {
                        Tok::UnionChild
                    }
                } else if self.eat('<') {
                    if self.eat('<') {
                        Tok::UnionAnc
                    } else {
                        Tok::UnionParent
                    }
                } else if self.eat('~') {
                    Tok::UnionSibl
                } else {
                    return Err(self.error(start, "unexpected `&`; did you mean `&&`?"));
                }
            }
            '"' => Tok::Str(self.string(start)?),
            '`' => Tok::Str(self.raw_string(start)?),
            '.' if self.peek().is_some_and(|c| c.is_ascii_digit()) => {
                // `.5` is a number, as in Tempo.
                self.pos = start;
                self.number(start)?
            }
            '.' => Tok::Attr(Attribute {
                scope: Scope::None,
                name: self.attribute_name(start, ".")?,
            }),
            c if c.is_ascii_digit() => {
                self.pos = start;
                self.number(start)?
            }
            c if is_word_start(c) => self.word(start)?,
            c => {
                return Err(self.error(start, format!("unexpected character `{c}`")));
            }
        };
        Ok(Token {
            tok,
            span: Span::new(start, self.pos),
        })
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.bump();
            true
        } else {
            false
        }
    }

    /// A word: keyword, legacy intrinsic, scope (`span.`, `resource.`, …) or scoped
    /// intrinsic (`span:name`, `trace:rootService`, …).
    fn word(&mut self, start: usize) -> Result<Tok, Error> {
        while self.peek().is_some_and(is_word_char) {
            self.bump();
        }
        let word = self.src.get(start..self.pos).unwrap_or("");
        let scope = match word {
            "span" => Some(Scope::Span),
            "resource" => Some(Scope::Resource),
            "event" => Some(Scope::Event),
            "link" => Some(Scope::Link),
            "instrumentation" => Some(Scope::Instrumentation),
            _ => None,
        };
        if self.peek() == Some(':')
            && matches!(
                word,
                "span" | "trace" | "event" | "link" | "instrumentation"
            )
        {
            self.bump();
            while self.peek().is_some_and(is_word_char) {
                self.bump();
            }
            let text = self.src.get(start..self.pos).unwrap_or("");
            return Intrinsic::from_spelling(text)
                .map(Tok::Intrinsic)
                .ok_or_else(|| self.error(start, format!("unknown intrinsic `{text}`")));
        }
        if self.peek() == Some('.') {
            if let Some(scope) = scope {
                self.bump();
                let prefix = format!("{word}.");
                let quoted = self.peek() == Some('"');
                let name = self.attribute_name(start, &prefix)?;
                // Issue 6 names these as intrinsics; quoting reaches an attribute of that name.
                let alias = match (scope, name.as_str(), quoted) {
                    (Scope::Event, "name", false) => Some(Intrinsic::EventName),
                    (Scope::Link, "traceID", false) => Some(Intrinsic::LinkTraceId),
                    (Scope::Link, "spanID", false) => Some(Intrinsic::LinkSpanId),
                    _ => None,
                };
                return Ok(match alias {
                    Some(i) => Tok::Intrinsic(i),
                    None => Tok::Attr(Attribute { scope, name }),
                });
            }
            if word == "parent" {
                self.bump();
                return Err(self.error(start, "`parent.` attributes are not supported"));
            }
        }
        Ok(match word {
            "true" => Tok::True,
            "false" => Tok::False,
            "nil" => Tok::Nil,
            "ok" => Tok::Status(Status::Ok),
            "error" => Tok::Status(Status::Error),
            "unset" => Tok::Status(Status::Unset),
            "unspecified" => Tok::Kind(Kind::Unspecified),
            "internal" => Tok::Kind(Kind::Internal),
            "server" => Tok::Kind(Kind::Server),
            "client" => Tok::Kind(Kind::Client),
            "producer" => Tok::Kind(Kind::Producer),
            "consumer" => Tok::Kind(Kind::Consumer),
            w => match Intrinsic::from_spelling(w) {
                Some(i) if !w.contains(':') => Tok::Intrinsic(i),
                _ => {
                    if self.peek() == Some('.') && !is_keyword(w) {
                        // `http.method`: a name without a scope.
                        let mut end = self.pos;
                        for c in self.rest().chars() {
                            if !is_attribute_char(c) || c == '"' {
                                break;
                            }
                            end += c.len_utf8();
                        }
                        let text = self.src.get(start..end).unwrap_or(w);
                        self.pos = end;
                        return Err(self.error(
                            start,
                            format!(
                                "unknown identifier `{text}`; attributes are written \
                                 `.{text}`, `span.{text}` or `resource.{text}`"
                            ),
                        ));
                    }
                    Tok::Word(w.to_owned())
                }
            },
        })
    }

    /// The name after `.` or `scope.`: unquoted runs and quoted parts, concatenated.
    fn attribute_name(&mut self, start: usize, prefix: &str) -> Result<String, Error> {
        let mut name = String::new();
        let mut any = false;
        loop {
            match self.peek() {
                Some('"') => {
                    let quote = self.pos;
                    self.bump();
                    any = true;
                    loop {
                        match self.bump() {
                            None => {
                                self.pos = quote;
                                return Err(self.error(quote, "unterminated quoted attribute name"));
                            }
                            Some('"') => break,
                            Some('\\') => {
                                let at = self.pos - 1;
                                match self.bump() {
                                    Some(c @ ('"' | '\\')) => name.push(c),
                                    _ => {
                                        return Err(self.error(
                                            at,
                                            "invalid escape in an attribute name; only `\\\"` and `\\\\` are allowed",
                                        ));
                                    }
                                }
                            }
                            Some(c) => name.push(c),
                        }
                    }
                }
                Some(c) if is_attribute_char(c) => {
                    self.bump();
                    any = true;
                    name.push(c);
                }
                _ => break,
            }
        }
        if !any {
            return Err(Error::parse(
                self.src,
                Span::new(start, self.pos),
                format!("expected an attribute name after `{prefix}`"),
            ));
        }
        if name.is_empty() {
            return Err(self.error(start, "empty attribute name"));
        }
        Ok(name)
    }

    fn string(&mut self, start: usize) -> Result<String, Error> {
        let mut out = String::new();
        loop {
            let at = self.pos;
            match self.bump() {
                None | Some('\n') => {
                    return Err(Error::parse(
                        self.src,
                        Span::new(start, start + 1),
                        "unterminated string",
                    ));
                }
                Some('"') => return Ok(out),
                Some('\\') => out.push(self.escape(at)?),
                Some(c) => out.push(c),
            }
        }
    }

    /// One escape after `\` (Go's string escapes; byte escapes only for ASCII).
    fn escape(&mut self, at: usize) -> Result<char, Error> {
        let c = self.bump();
        let simple = match c {
            Some('"') => Some('"'),
            Some('\\') => Some('\\'),
            Some('n') => Some('\n'),
            Some('t') => Some('\t'),
            Some('r') => Some('\r'),
            Some('a') => Some('\u{7}'),
            Some('b') => Some('\u{8}'),
            Some('f') => Some('\u{c}'),
            Some('v') => Some('\u{b}'),
            _ => None,
        };
        if let Some(s) = simple {
            return Ok(s);
        }
        let (digits, radix) = match c {
            Some('x') => (2, 16),
            Some('u') => (4, 16),
            Some('U') => (8, 16),
            Some('0'..='7') => {
                self.pos -= 1;
                (3, 8)
            }
            _ => return Err(self.error(at, "invalid escape sequence")),
        };
        let mut value: u32 = 0;
        for _ in 0..digits {
            let d = self.peek().and_then(|c| c.to_digit(radix));
            let Some(d) = d else {
                return Err(self.error(at, "invalid escape sequence"));
            };
            self.bump();
            value = value * radix + d;
        }
        if matches!(c, Some('x' | '0'..='7')) && value > 0x7f {
            return Err(self.error(at, "byte escapes above 0x7f are not valid UTF-8"));
        }
        char::from_u32(value).ok_or_else(|| self.error(at, "escape is not a valid character"))
    }

    fn raw_string(&mut self, start: usize) -> Result<String, Error> {
        let body_start = self.pos;
        loop {
            match self.bump() {
                None => {
                    return Err(Error::parse(
                        self.src,
                        Span::new(start, start + 1),
                        "unterminated raw string",
                    ));
                }
                Some('`') => {
                    let body = self.src.get(body_start..self.pos - 1).unwrap_or("");
                    return Ok(body.to_owned());
                }
                Some(_) => {}
            }
        }
    }

    fn digits(&mut self) -> &str {
        let from = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
        self.src.get(from..self.pos).unwrap_or("")
    }

    /// An integer, a float (`1.5`, `.5`, `1e9`) or a duration (`200ms`, `1.5s`, `1h30m`).
    fn number(&mut self, start: usize) -> Result<Tok, Error> {
        self.digits();
        let mut float = false;
        if self.peek() == Some('.') && self.peek2().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
            self.digits();
            float = true;
        }
        if unit_at(self.rest()).is_some() {
            self.pos = start;
            return self.duration(start);
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let save = self.pos;
            self.bump();
            if matches!(self.peek(), Some('+' | '-')) {
                self.bump();
            }
            if self.digits().is_empty() {
                self.pos = save;
            } else {
                float = true;
            }
        }
        if self.peek().is_some_and(|c| is_word_char(c) || c == '.') {
            while self.peek().is_some_and(|c| is_word_char(c) || c == '.') {
                self.bump();
            }
            let text = self.src.get(start..self.pos).unwrap_or("");
            return Err(self.error(start, format!("invalid number `{text}`")));
        }
        let text = self.src.get(start..self.pos).unwrap_or("");
        if float {
            match text.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(Tok::Float(x)),
                _ => Err(self.error(start, format!("number `{text}` is out of range"))),
            }
        } else {
            text.parse::<u64>()
                .map(Tok::Int)
                .map_err(|_| self.error(start, format!("integer `{text}` is out of range")))
        }
    }

    fn duration(&mut self, start: usize) -> Result<Tok, Error> {
        let mut total: u128 = 0;
        loop {
            let whole = self.digits().to_owned();
            let mut frac = String::new();
            if self.peek() == Some('.') && self.peek2().is_some_and(|c| c.is_ascii_digit()) {
                self.bump();
                frac = self.digits().to_owned();
            }
            let Some((unit, scale)) = unit_at(self.rest()) else {
                return Err(self.invalid_duration(start));
            };
            self.pos += unit.len();
            // Digits beyond 20 fall below a nanosecond even for years; the bound keeps
            // the arithmetic in range.
            let frac = frac.get(..frac.len().min(20)).unwrap_or("");
            let whole: u128 = if whole.is_empty() {
                0
            } else {
                whole.parse().map_err(|_| self.out_of_range(start))?
            };
            let frac_value: u128 = if frac.is_empty() {
                0
            } else {
                frac.parse().map_err(|_| self.out_of_range(start))?
            };
            let denominator = 10u128.pow(u32::try_from(frac.len()).unwrap_or(20));
            let part = whole
                .checked_mul(u128::from(scale))
                .and_then(|w| w.checked_add(frac_value * u128::from(scale) / denominator))
                .ok_or_else(|| self.out_of_range(start))?;
            total = total
                .checked_add(part)
                .filter(|t| *t <= u128::from(u64::MAX))
                .ok_or_else(|| self.out_of_range(start))?;
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                break;
            }
        }
        if self.peek().is_some_and(|c| is_word_char(c) || c == '.') {
            return Err(self.invalid_duration(start));
        }
        u64::try_from(total)
            .map(Tok::Duration)
            .map_err(|_| self.out_of_range(start))
    }

    fn invalid_duration(&mut self, start: usize) -> Error {
        while self
            .peek()
            .is_some_and(|c| is_word_char(c) || c == '.' || c == 'µ' || c == 'μ')
        {
            self.bump();
        }
        let text = self.src.get(start..self.pos).unwrap_or("");
        self.error(start, format!("invalid duration `{text}`"))
    }

    fn out_of_range(&self, start: usize) -> Error {
        self.error(start, "duration is out of range")
    }
}

/// The duration unit at the start of `rest`, if one is there and is not the start of a
/// longer word (`5min` is not `5m` followed by `in`, but `1h30m` is `1h` then `30m`).
fn unit_at(rest: &str) -> Option<(&'static str, u64)> {
    UNITS.iter().copied().find(|(unit, _)| {
        rest.strip_prefix(unit).is_some_and(|after| {
            !after
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
        })
    })
}

fn is_keyword(w: &str) -> bool {
    matches!(
        w,
        "count" | "avg" | "min" | "max" | "sum" | "by" | "select" | "coalesce"
    )
}
