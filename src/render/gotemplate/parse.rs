//! A parser for Go's `text/template` syntax as ApplicationSets use it (`goTemplate: true`).
//!
//! Stage: render (pure; no I/O). The first step of `gotemplate`: it produces the AST that the
//! parent module compiles into a minijinja template. Supported: text, actions with pipelines
//! (`.x | f a | g`), field chains (`.a.b`, `$.a`, `$v.a`, `(pipeline).a`), function calls,
//! literals (strings, raw strings, numbers, chars, booleans, `nil`), `if` / `else if` / `else`,
//! `range` (with `$i, $v :=`, `else`, `break`, `continue`), `with` / `else with` / `else`,
//! variable declaration and assignment, `{{-` / `-}}` trimming and comments. `define`,
//! `template` and `block` are errors: each template field of an ApplicationSet is a template on
//! its own.
//!
//! Error messages follow Go's (`template: base:1:7: unexpected "}" in operand`), with the line
//! and the column of the offending action.

use std::fmt;

/// A parsed template: a list of nodes.
pub(super) type List = Vec<Node>;

/// A position in the template source (1-based line, 0-based byte column as Go reports it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Pos {
    /// Line, from 1.
    pub(super) line: usize,
    /// Byte offset within the line, from 0 (Go's `base:LINE:COL`).
    pub(super) col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A node of the template.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    /// Literal text.
    Text(String),
    /// `{{pipeline}}`: print the value (unless the pipeline declares variables).
    Action(Pipeline),
    /// `{{if}}` with its `else if` branches and `else`.
    If {
        /// (condition, body) in order.
        branches: Vec<(Pipeline, List)>,
        /// The `else` body.
        otherwise: Option<List>,
    },
    /// `{{range}}`.
    Range {
        /// The pipeline (with its `$i, $v :=` declaration, if any).
        pipeline: Pipeline,
        /// The body.
        body: List,
        /// The `else` body (when there is nothing to range over).
        otherwise: Option<List>,
    },
    /// `{{with}}` with its `else with` branches and `else`.
    With {
        /// (value, body) in order.
        branches: Vec<(Pipeline, List)>,
        /// The `else` body.
        otherwise: Option<List>,
    },
    /// `{{break}}` inside a range.
    Break,
    /// `{{continue}}` inside a range.
    Continue,
}

/// A pipeline: optional variable declaration or assignment, then commands joined by `|`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Pipeline {
    /// Where the action starts.
    pub(super) pos: Pos,
    /// The action's source text (for error messages, `<.x>`).
    pub(super) source: String,
    /// Declared or assigned variables, without `$`.
    pub(super) vars: Vec<String>,
    /// `=` rather than `:=`.
    pub(super) assign: bool,
    /// The commands; each one's value is the last argument of the next.
    pub(super) commands: Vec<Command>,
}

/// A command: a function with arguments, or a single operand.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Command {
    /// The operands; a function call when the first is an identifier.
    pub(super) args: Vec<Operand>,
    /// Where the command is, for execution errors (`at <fail "x">`).
    pub(super) site: Site,
    /// Where each operand is (a field chain's site is its first chained field, as in Go).
    pub(super) sites: Vec<Site>,
}

/// A node's position and source text, as Go names it in `executing "base" at <...>`.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Site {
    /// Line and column of the node.
    pub(super) pos: Pos,
    /// The node's source text.
    pub(super) source: String,
}

/// An operand.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Operand {
    /// `.` (the current value).
    Dot,
    /// `.a.b` (fields of dot).
    Field(Vec<String>),
    /// `$` or `$x`, with a field chain.
    Variable(String, Vec<String>),
    /// A function name.
    Identifier(String),
    /// `(pipeline)` with a field chain.
    Pipe(Box<Pipeline>, Vec<String>),
    /// A string literal (after unquoting).
    String(String),
    /// An integer literal (also character constants).
    Int(i64),
    /// A floating-point literal.
    Float(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `nil`.
    Nil,
}

/// A parse error, in Go's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ParseError {
    /// Where.
    pub(super) pos: Pos,
    /// What.
    pub(super) message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "template: base:{}: {}", self.pos.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// One lexed piece of the source: text, or an action's inner source.
#[derive(Debug)]
enum Piece {
    Text(String),
    Action { inner: String, pos: Pos },
}

fn pos_at(src: &str, offset: usize) -> Pos {
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let col = offset - before.rfind('\n').map_or(0, |i| i + 1);
    Pos { line, col }
}

/// Split the source into text and actions, applying `{{-` / `-}}` trimming and dropping
/// comments.
fn split(src: &str) -> Result<Vec<Piece>, ParseError> {
    let mut pieces = Vec::new();
    let mut rest = 0usize;
    let mut trim_next = false;
    while let Some(found) = src[rest..].find("{{") {
        let start = rest + found;
        let mut text = &src[rest..start];
        if trim_next {
            text = text.trim_start_matches([' ', '\t', '\r', '\n']);
        }
        let after = &src[start + 2..];
        let left_trim = after.starts_with("- ")
            || after.starts_with("-\t")
            || after.starts_with("-\n")
            || after.starts_with("-\r");
        if left_trim {
            text = text.trim_end_matches([' ', '\t', '\r', '\n']);
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text.to_string()));
        }
        let inner_start = start + 2 + if left_trim { 2 } else { 0 };
        // Go reports the position of the action's first node.
        let first_node = src[inner_start..]
            .find(|c: char| !c.is_whitespace())
            .map_or(inner_start, |i| inner_start + i);
        let pos = pos_at(src, first_node);
        // Find the closing delimiter outside string literals and comments.
        let (inner_end, close_len, right_trim) = find_close(src, inner_start).ok_or(ParseError {
            pos,
            message: "unclosed action".into(),
        })?;
        let inner = &src[inner_start..inner_end];
        let trimmed = inner.trim();
        if trimmed.starts_with("/*") {
            if !trimmed.ends_with("*/") {
                return Err(ParseError {
                    pos,
                    message: "comment ends before closing delimiter".into(),
                });
            }
            if !(inner.starts_with("/*") && inner.ends_with("*/")) {
                // Go requires the comment to touch the delimiters (or the trim markers' spaces).
                let ok_left = inner.starts_with("/*") || left_trim;
                let ok_right = inner.ends_with("*/") || right_trim;
                if !(ok_left && ok_right) {
                    return Err(ParseError {
                        pos,
                        message: "comment ends before closing delimiter".into(),
                    });
                }
            }
        } else {
            pieces.push(Piece::Action {
                inner: inner.to_string(),
                pos,
            });
        }
        rest = inner_end + close_len;
        trim_next = right_trim;
    }
    let mut text = &src[rest..];
    if trim_next {
        text = text.trim_start_matches([' ', '\t', '\r', '\n']);
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text.to_string()));
    }
    Ok(pieces)
}

/// The end of an action's inner text starting at `from`: (end, delimiter length, right trim).
fn find_close(src: &str, from: usize) -> Option<(usize, usize, bool)> {
    let b = src.as_bytes();
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    if b[i.min(b.len() - 1)] == b'\n' {
                        return None;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'\'' => {
                i += 1;
                while i < b.len() && b[i] != b'\'' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = src[i + 2..].find("*/")?;
                i += 2 + end + 1;
            }
            b' ' | b'\t' | b'\r' | b'\n'
                if b.get(i + 1) == Some(&b'-')
                    && b.get(i + 2) == Some(&b'}')
                    && b.get(i + 3) == Some(&b'}') =>
            {
                return Some((i, 4, true));
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Some((i, 2, false)),
            _ => {}
        }
        i += 1;
    }
    None
}

// ---- actions ------------------------------------------------------------------------------------

/// Tokens inside an action.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `.a.b` (an adjacent field chain); `.` alone is `Dot`.
    Field(Vec<String>),
    /// A field chain right after `)`: `(x).a.b`.
    Chain(Vec<String>),
    Dot,
    /// `$x` with an adjacent field chain.
    Var(String, Vec<String>),
    Str(String),
    Int(i64),
    Float(f64),
    Char(i64),
    LParen,
    RParen,
    Pipe,
    Declare,
    Assign,
    Comma,
}

/// The byte span (start, end) of each token in an action's inner text.
type Spans = Vec<(usize, usize)>;

/// The tokens of an action's inner text, each with its byte span in `s`.
fn lex_action(s: &str, pos: Pos) -> Result<(Vec<Tok>, Spans), ParseError> {
    let err = |message: String| ParseError { pos, message };
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    let mut start = 0;
    while i < b.len() {
        // The token pushed by the previous step spans from where that step began to here.
        if spans.len() < out.len() {
            spans.push((start, i));
        }
        start = i;
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
            }
            b'(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            b')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            b'|' => {
                out.push(Tok::Pipe);
                i += 1;
            }
            b',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            b':' if b.get(i + 1) == Some(&b'=') => {
                out.push(Tok::Declare);
                i += 2;
            }
            b'=' => {
                out.push(Tok::Assign);
                i += 1;
            }
            b'"' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= b.len() {
                    return Err(err("unterminated quoted string".into()));
                }
                i += 1;
                out.push(Tok::Str(unquote(&s[start..i]).map_err(err)?));
            }
            b'`' => {
                let start = i + 1;
                let end = s[start..]
                    .find('`')
                    .ok_or_else(|| err("unterminated raw quoted string".into()))?;
                out.push(Tok::Str(s[start..start + end].to_string()));
                i = start + end + 1;
            }
            b'\'' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'\'' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= b.len() {
                    return Err(err("unterminated character constant".into()));
                }
                i += 1;
                let lit = &s[start..i];
                let inner = unquote(&format!("\"{}\"", &lit[1..lit.len() - 1])).map_err(err)?;
                let mut chars = inner.chars();
                match (chars.next(), chars.next()) {
                    (Some(ch), None) => out.push(Tok::Char(ch as i64)),
                    _ => return Err(err(format!("malformed character constant: {lit}"))),
                }
            }
            b'.' if b.get(i + 1).is_some_and(|d| d.is_ascii_digit())
                && !matches!(out.last(), Some(Tok::RParen)) =>
            {
                let (tok, n) = number(&s[i..]).map_err(err)?;
                out.push(tok);
                i += n;
            }
            b'.' => {
                let (fields, n) = field_chain(&s[i..]);
                if fields.is_empty() {
                    i += 1;
                    out.push(Tok::Dot);
                    continue;
                }
                i += n;
                if matches!(out.last(), Some(Tok::RParen)) && !s[..i - n].ends_with(char::is_whitespace) {
                    out.push(Tok::Chain(fields));
                } else {
                    out.push(Tok::Field(fields));
                }
            }
            b'$' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] >= 0x80) {
                    j += 1;
                }
                let name = s[start..j].to_string();
                let (fields, n) = field_chain(&s[j..]);
                out.push(Tok::Var(name, fields));
                i = j + n;
            }
            b'0'..=b'9' | b'-' | b'+' => {
                let (tok, n) = number(&s[i..]).map_err(err)?;
                out.push(tok);
                i += n;
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80) {
                    i += 1;
                }
                out.push(Tok::Ident(s[start..i].to_string()));
            }
            _ => {
                let ch = s[i..].chars().next().unwrap_or('?');
                return Err(err(format!("unexpected {ch:?} in command")));
            }
        }
    }
    if spans.len() < out.len() {
        spans.push((start, i));
    }
    Ok((out, spans))
}

/// An adjacent chain of `.name` segments at the start of `s`: (names, length).
fn field_chain(s: &str) -> (Vec<String>, usize) {
    let b = s.as_bytes();
    let mut fields = Vec::new();
    let mut i = 0;
    while i < b.len() && b[i] == b'.' {
        let start = i + 1;
        let mut j = start;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] >= 0x80) {
            j += 1;
        }
        if j == start {
            break;
        }
        fields.push(s[start..j].to_string());
        i = j;
    }
    (fields, i)
}

/// Go's number literal at the start of `s`: (token, length).
fn number(s: &str) -> Result<(Tok, usize), String> {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits_start = i;
    let hex = s[i..].starts_with("0x") || s[i..].starts_with("0X");
    while i < b.len()
        && (b[i].is_ascii_alphanumeric()
            || b[i] == b'_'
            || b[i] == b'.'
            || ((b[i] == b'+' || b[i] == b'-')
                && i > 0
                && matches!(b[i - 1], b'e' | b'E' | b'p' | b'P')
                && !(hex && matches!(b[i - 1], b'e' | b'E'))))
    {
        i += 1;
    }
    let lit = &s[..i];
    if i == digits_start {
        return Err(format!("bad number syntax: {lit:?}"));
    }
    let clean: String = lit.chars().filter(|c| *c != '_').collect();
    let (neg, body) = match clean.strip_prefix('-') {
        Some(r) => (true, r.to_string()),
        None => (false, clean.trim_start_matches('+').to_string()),
    };
    // strconv.ParseInt / ParseUint with base 0, on the magnitude (so i64::MIN parses).
    let magnitude = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        u128::from_str_radix(h, 16).ok()
    } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        u128::from_str_radix(o, 8).ok()
    } else if let Some(bin) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        u128::from_str_radix(bin, 2).ok()
    } else if body.len() > 1 && body.starts_with('0') && body.bytes().all(|c| c.is_ascii_digit()) {
        u128::from_str_radix(&body[1..], 8).ok()
    } else if body.bytes().all(|c| c.is_ascii_digit()) {
        body.parse::<u128>().ok()
    } else {
        None
    };
    if let Some(m) = magnitude {
        let signed = if neg { -(m as i128) } else { m as i128 };
        if let Ok(v) = i64::try_from(signed) {
            return Ok((Tok::Int(v), i));
        }
        if !neg && m <= u128::from(u64::MAX) {
            // Go's IsUint (and IsFloat) without IsInt: usable where a float is, else an error.
            return Ok((Tok::Float(m as f64), i));
        }
    }
    match body.parse::<f64>() {
        // Go's ParseFloat refuses what overflows float64.
        Ok(v) if v.is_infinite() => Err(format!("illegal number syntax: {lit:?}")),
        // An integer literal that no integer type holds (or a bad octal such as 08).
        Ok(_) if !body.contains(['.', 'e', 'E', 'p', 'P']) || hex => {
            Err(format!("integer overflow: {lit:?}"))
        }
        Ok(v) => Ok((Tok::Float(if neg { -v } else { v }), i)),
        _ => Err(format!("bad number syntax: {lit:?}")),
    }
}

/// Go's `strconv.Unquote` for a double-quoted literal.
fn unquote(lit: &str) -> Result<String, String> {
    let inner = &lit[1..lit.len() - 1];
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let bad = || format!("invalid syntax: {lit}");
        match chars.next().ok_or_else(bad)? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'x' => {
                let h: String = (0..2).filter_map(|_| chars.next()).collect();
                let v = u8::from_str_radix(&h, 16).map_err(|_| bad())?;
                out.push(v as char);
            }
            u @ ('u' | 'U') => {
                let width = if u == 'u' { 4 } else { 8 };
                let h: String = (0..width).filter_map(|_| chars.next()).collect();
                let v = u32::from_str_radix(&h, 16).map_err(|_| bad())?;
                out.push(char::from_u32(v).ok_or_else(bad)?);
            }
            d @ '0'..='7' => {
                let mut s = d.to_string();
                for _ in 0..2 {
                    s.push(chars.next().ok_or_else(bad)?);
                }
                let v = u8::from_str_radix(&s, 8).map_err(|_| bad())?;
                out.push(v as char);
            }
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

/// A parser over the tokens of one action.
struct ActionParser<'a> {
    toks: &'a [Tok],
    /// Byte span of each token in `inner`.
    spans: &'a [(usize, usize)],
    /// The action's inner text.
    inner: &'a str,
    i: usize,
    pos: Pos,
    /// Parentheses open around the current operand (bounded: no stack overflow on user input).
    depth: usize,
}

/// Deepest parenthesis nesting accepted.
const MAX_DEPTH: usize = 64;

impl ActionParser<'_> {
    fn err<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            pos: self.pos,
            message: message.into(),
        })
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i)
    }

    /// The position of byte `offset` of the inner text (`self.pos` is its first token's).
    fn pos_of(&self, offset: usize) -> Pos {
        let first = self.spans.first().map_or(0, |s| s.0);
        let between = self.inner.get(first..offset).unwrap_or_default();
        match between.rfind('\n') {
            Some(nl) => Pos {
                line: self.pos.line + between.matches('\n').count(),
                col: between.len() - nl - 1,
            },
            None => Pos {
                line: self.pos.line,
                col: self.pos.col + between.len(),
            },
        }
    }

    /// The site of tokens `from..to`, placed at byte `at`.
    fn site(&self, from: usize, to: usize, at: usize) -> Site {
        let (start, end) = match (self.spans.get(from), self.spans.get(to.saturating_sub(1))) {
            (Some(a), Some(b)) => (a.0, b.1),
            _ => (0, 0),
        };
        Site {
            pos: self.pos_of(at),
            source: self.inner.get(start..end).unwrap_or_default().trim().to_string(),
        }
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.i).cloned();
        self.i += 1;
        t
    }

    /// A pipeline up to the end of the tokens, or up to `)` when `nested`.
    fn pipeline(&mut self, source: &str, nested: bool, allow_two_vars: bool) -> Result<Pipeline, ParseError> {
        let mut p = Pipeline {
            pos: self.pos,
            source: source.to_string(),
            vars: Vec::new(),
            assign: false,
            commands: Vec::new(),
        };
        // Declarations: `$x :=`, `$x =`, `$i, $v :=`.
        if let Some(Tok::Var(first, chain)) = self.peek().cloned()
            && chain.is_empty()
        {
            match (
                self.toks.get(self.i + 1),
                self.toks.get(self.i + 2),
                self.toks.get(self.i + 3),
            ) {
                (Some(Tok::Declare | Tok::Assign), ..) => {
                    p.assign = self.toks[self.i + 1] == Tok::Assign;
                    p.vars.push(first);
                    self.i += 2;
                }
                (Some(Tok::Comma), Some(Tok::Var(second, _)), Some(Tok::Declare | Tok::Assign)) => {
                    if !allow_two_vars {
                        return self.err("too many declarations in command");
                    }
                    p.assign = self.toks[self.i + 3] == Tok::Assign;
                    p.vars.push(first);
                    p.vars.push(second.clone());
                    self.i += 4;
                }
                _ => {}
            }
        }
        loop {
            let cmd = self.command(nested)?;
            p.commands.push(cmd);
            match self.peek() {
                Some(Tok::Pipe) => {
                    self.i += 1;
                }
                Some(Tok::RParen) if nested => break,
                None if !nested => break,
                None => return self.err("unclosed left paren"),
                Some(t) => return self.err(format!("unexpected {} in operand", describe(t))),
            }
        }
        if p.commands.is_empty() {
            return self.err("missing value for command");
        }
        Ok(p)
    }

    fn command(&mut self, nested: bool) -> Result<Command, ParseError> {
        let mut args = Vec::new();
        let mut sites = Vec::new();
        let first = self.i;
        while let Some(t) = self.peek() {
            match t {
                Tok::Pipe => break,
                Tok::RParen if nested => break,
                Tok::RParen => return self.err("unexpected \")\" in command"),
                _ => {
                    let from = self.i;
                    // Go places a field chain at its first chained field (`.b` of `.a.b`).
                    let start = self.spans.get(from).map_or(0, |s| s.0);
                    let at = match t {
                        Tok::Field(f) if f.len() > 1 => start + 1 + f[0].len(),
                        Tok::Var(name, f) if !f.is_empty() => start + 1 + name.len(),
                        _ => start,
                    };
                    args.push(self.operand()?);
                    sites.push(self.site(from, self.i, at));
                }
            }
        }
        if args.is_empty() {
            return self.err("missing value for command");
        }
        let at = self.spans.get(first).map_or(0, |s| s.0);
        let site = self.site(first, self.i, at);
        Ok(Command { args, site, sites })
    }

    /// A field chain right after `)`.
    fn chain(&mut self) -> Vec<String> {
        match self.peek().cloned() {
            Some(Tok::Chain(fields)) => {
                self.i += 1;
                fields
            }
            _ => Vec::new(),
        }
    }

    fn operand(&mut self) -> Result<Operand, ParseError> {
        let Some(t) = self.next() else {
            return self.err("missing value for command");
        };
        Ok(match t {
            Tok::Dot => Operand::Dot,
            Tok::Field(fields) => Operand::Field(fields),
            Tok::Var(name, fields) => Operand::Variable(name, fields),
            Tok::Str(s) => Operand::String(s),
            Tok::Int(v) | Tok::Char(v) => Operand::Int(v),
            Tok::Float(v) => Operand::Float(v),
            Tok::Ident(name) => match name.as_str() {
                "true" => Operand::Bool(true),
                "false" => Operand::Bool(false),
                "nil" => Operand::Nil,
                "if" | "else" | "end" | "range" | "with" | "define" | "template" | "block" | "break"
                | "continue" => {
                    return self.err(format!("unexpected <{name}> in command"));
                }
                _ => Operand::Identifier(name),
            },
            Tok::LParen => {
                if self.depth >= MAX_DEPTH {
                    return self.err(format!("parentheses nested deeper than {MAX_DEPTH}"));
                }
                self.depth += 1;
                let inner = self.pipeline("", true, false);
                self.depth -= 1;
                let inner = inner?;
                match self.next() {
                    Some(Tok::RParen) => {}
                    _ => return self.err("unclosed left paren"),
                }
                Operand::Pipe(Box::new(inner), self.chain())
            }
            other => return self.err(format!("unexpected {} in operand", describe(&other))),
        })
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Pipe => "\"|\"".into(),
        Tok::RParen => "\")\"".into(),
        Tok::LParen => "\"(\"".into(),
        Tok::Comma => "\",\"".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        other => format!("{other:?}"),
    }
}

/// What an action is, structurally.
enum Item {
    Node(Node),
    If(Pipeline),
    Range(Pipeline),
    With(Pipeline),
    ElseIf(Pipeline),
    ElseWith(Pipeline),
    Else,
    End,
}

fn classify(inner: &str, pos: Pos) -> Result<Item, ParseError> {
    let (toks, spans) = lex_action(inner, pos)?;
    let source = inner.trim().to_string();
    if toks.is_empty() {
        return Err(ParseError {
            pos,
            message: "missing value for command".into(),
        });
    }
    let mut p = ActionParser {
        toks: &toks,
        spans: &spans,
        inner,
        i: 0,
        pos,
        depth: 0,
    };
    let keyword = match &toks[0] {
        Tok::Ident(k) => k.as_str(),
        _ => "",
    };
    let rest_source = |kw: &str| source.trim_start_matches(kw).trim().to_string();
    let only = |p: &ActionParser, item: Item| -> Result<Item, ParseError> {
        if p.toks.len() > 1 {
            p.err(format!("unexpected {} in {}", describe(&p.toks[1]), keyword))
        } else {
            Ok(item)
        }
    };
    match keyword {
        "if" => {
            p.i = 1;
            Ok(Item::If(p.pipeline(&rest_source("if"), false, false)?))
        }
        "range" => {
            p.i = 1;
            Ok(Item::Range(p.pipeline(&rest_source("range"), false, true)?))
        }
        "with" => {
            p.i = 1;
            Ok(Item::With(p.pipeline(&rest_source("with"), false, false)?))
        }
        "else" => match toks.get(1) {
            Some(Tok::Ident(k)) if k == "if" => {
                p.i = 2;
                Ok(Item::ElseIf(p.pipeline(
                    rest_source("else").trim_start_matches("if").trim(),
                    false,
                    false,
                )?))
            }
            Some(Tok::Ident(k)) if k == "with" => {
                p.i = 2;
                Ok(Item::ElseWith(p.pipeline(
                    rest_source("else").trim_start_matches("with").trim(),
                    false,
                    false,
                )?))
            }
            _ => only(&p, Item::Else),
        },
        "end" => only(&p, Item::End),
        "break" => only(&p, Item::Node(Node::Break)),
        "continue" => only(&p, Item::Node(Node::Continue)),
        "define" | "template" | "block" => Err(ParseError {
            pos,
            message: format!(
                "{{{{{keyword}}}}} is not supported: each template field of an ApplicationSet is a template on its own"
            ),
        }),
        _ => Ok(Item::Node(Node::Action(p.pipeline(&source, false, false)?))),
    }
}

/// Parse a Go template.
pub(super) fn parse(src: &str) -> Result<List, ParseError> {
    let pieces = split(src)?;
    let mut items = Vec::with_capacity(pieces.len());
    for piece in pieces {
        items.push(match piece {
            Piece::Text(t) => (Item::Node(Node::Text(t)), Pos::default()),
            Piece::Action { inner, pos } => (classify(&inner, pos)?, pos),
        });
    }
    let mut it = items.into_iter().peekable();
    let (list, end) = parse_list(&mut it, 0)?;
    if let Some((_, pos)) = end {
        return Err(ParseError {
            pos,
            message: "unexpected {{end}}".into(),
        });
    }
    Ok(list)
}

type Items = std::iter::Peekable<std::vec::IntoIter<(Item, Pos)>>;

/// How a nested list ended.
enum Closer {
    End,
    Else,
    ElseIf(Pipeline),
    ElseWith(Pipeline),
}

fn parse_list(it: &mut Items, range_depth: usize) -> Result<(List, Option<(Closer, Pos)>), ParseError> {
    let mut list = Vec::new();
    while let Some((item, pos)) = it.next() {
        match item {
            Item::Node(n @ (Node::Break | Node::Continue)) => {
                if range_depth == 0 {
                    let kw = if n == Node::Break { "break" } else { "continue" };
                    return Err(ParseError {
                        pos,
                        message: format!("{{{{{kw}}}}} outside {{{{range}}}}"),
                    });
                }
                list.push(n);
            }
            Item::Node(n) => list.push(n),
            Item::If(p) => list.push(conditional(it, p, pos, range_depth, false)?),
            Item::With(p) => list.push(conditional(it, p, pos, range_depth, true)?),
            Item::Range(p) => {
                let (body, end) = parse_list(it, range_depth + 1)?;
                let otherwise = match end {
                    Some((Closer::End, _)) => None,
                    Some((Closer::Else, _)) => {
                        let (body, end) = parse_list(it, range_depth)?;
                        expect_end(end, pos)?;
                        Some(body)
                    }
                    Some((_, epos)) => {
                        return Err(ParseError {
                            pos: epos,
                            message: "unexpected {{else if}} or {{else with}} in range".into(),
                        });
                    }
                    None => return Err(unexpected_eof(pos)),
                };
                list.push(Node::Range {
                    pipeline: p,
                    body,
                    otherwise,
                });
            }
            Item::End => return Ok((list, Some((Closer::End, pos)))),
            Item::Else => return Ok((list, Some((Closer::Else, pos)))),
            Item::ElseIf(p) => return Ok((list, Some((Closer::ElseIf(p), pos)))),
            Item::ElseWith(p) => return Ok((list, Some((Closer::ElseWith(p), pos)))),
        }
    }
    Ok((list, None))
}

fn unexpected_eof(pos: Pos) -> ParseError {
    ParseError {
        pos,
        message: "unexpected EOF".into(),
    }
}

fn expect_end(end: Option<(Closer, Pos)>, start: Pos) -> Result<(), ParseError> {
    match end {
        Some((Closer::End, _)) => Ok(()),
        Some((_, pos)) => Err(ParseError {
            pos,
            message: "expected end; found {{else}}".into(),
        }),
        None => Err(unexpected_eof(start)),
    }
}

/// `if` or `with` with their `else if` / `else with` chains.
fn conditional(
    it: &mut Items,
    first: Pipeline,
    pos: Pos,
    range_depth: usize,
    with: bool,
) -> Result<Node, ParseError> {
    let mut branches = Vec::new();
    let mut cond = first;
    loop {
        let (body, end) = parse_list(it, range_depth)?;
        branches.push((cond, body));
        match end {
            Some((Closer::End, _)) => {
                return Ok(if with {
                    Node::With {
                        branches,
                        otherwise: None,
                    }
                } else {
                    Node::If {
                        branches,
                        otherwise: None,
                    }
                });
            }
            Some((Closer::Else, _)) => {
                let (body, end) = parse_list(it, range_depth)?;
                expect_end(end, pos)?;
                return Ok(if with {
                    Node::With {
                        branches,
                        otherwise: Some(body),
                    }
                } else {
                    Node::If {
                        branches,
                        otherwise: Some(body),
                    }
                });
            }
            Some((Closer::ElseIf(p), _)) if !with => cond = p,
            Some((Closer::ElseWith(p), _)) if with => cond = p,
            Some((_, epos)) => {
                return Err(ParseError {
                    pos: epos,
                    message: if with {
                        "expected {{else with}}, not {{else if}}".into()
                    } else {
                        "expected {{else if}}, not {{else with}}".into()
                    },
                });
            }
            None => return Err(unexpected_eof(pos)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(src: &str) -> Pipeline {
        match parse(src).unwrap().remove(0) {
            Node::Action(p) => p,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn text_fields_and_pipelines() {
        let l = parse("app-{{.path.basename}}-x").unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(l[0], Node::Text("app-".into()));
        let p = action("{{ .name | lower | quote }}");
        assert_eq!(p.commands.len(), 3);
        assert_eq!(p.commands[0].args, vec![Operand::Field(vec!["name".into()])]);
        assert_eq!(p.commands[1].args, vec![Operand::Identifier("lower".into())]);
        let p = action(r#"{{ printf "%s-%d" .a 3 }}"#);
        assert_eq!(
            p.commands[0].args,
            vec![
                Operand::Identifier("printf".into()),
                Operand::String("%s-%d".into()),
                Operand::Field(vec!["a".into()]),
                Operand::Int(3)
            ]
        );
    }

    #[test]
    fn variables_parentheses_and_literals() {
        let p = action("{{ $x := index .metadata.labels \"env\" }}");
        assert_eq!(p.vars, ["x"]);
        assert!(!p.assign);
        let p = action("{{ $x = 1 }}");
        assert!(p.assign);
        let p = action("{{ (index .m \"k\").sub }}");
        match &p.commands[0].args[0] {
            Operand::Pipe(inner, chain) => {
                assert_eq!(chain, &["sub"]);
                assert_eq!(inner.commands[0].args.len(), 3);
            }
            other => panic!("{other:?}"),
        }
        let p = action("{{ $.a.b }}");
        assert_eq!(
            p.commands[0].args[0],
            Operand::Variable("".into(), vec!["a".into(), "b".into()])
        );
        let p = action("{{ list 1 -2 0x1F 1.5 1e3 'a' true nil `raw\\n` \"q\\n\" }}");
        assert_eq!(
            p.commands[0].args[1..],
            [
                Operand::Int(1),
                Operand::Int(-2),
                Operand::Int(31),
                Operand::Float(1.5),
                Operand::Float(1000.0),
                Operand::Int(97),
                Operand::Bool(true),
                Operand::Nil,
                Operand::String("raw\\n".into()),
                Operand::String("q\n".into()),
            ]
        );
    }

    #[test]
    fn control_structures_nest() {
        let l = parse("{{if .a}}A{{else if .b}}B{{else}}C{{end}}").unwrap();
        match &l[0] {
            Node::If { branches, otherwise } => {
                assert_eq!(branches.len(), 2);
                assert_eq!(otherwise.as_ref().unwrap(), &vec![Node::Text("C".into())]);
            }
            other => panic!("{other:?}"),
        }
        let l = parse("{{range $i, $v := .xs}}{{if $v}}{{break}}{{end}}{{$i}}{{else}}none{{end}}").unwrap();
        match &l[0] {
            Node::Range {
                pipeline,
                body,
                otherwise,
            } => {
                assert_eq!(pipeline.vars, ["i", "v"]);
                assert_eq!(body.len(), 2);
                assert!(otherwise.is_some());
            }
            other => panic!("{other:?}"),
        }
        let l = parse("{{with .a}}{{.}}{{else with .b}}b{{else}}c{{end}}").unwrap();
        assert!(matches!(&l[0], Node::With { branches, otherwise: Some(_) } if branches.len() == 2));
    }

    #[test]
    fn trimming_and_comments() {
        let l = parse("a  {{- .x -}}  b {{/* note */}}c{{- /* trimmed */ -}}  d").unwrap();
        assert_eq!(l.len(), 5, "{l:?}");
        assert_eq!(l[0], Node::Text("a".into()));
        assert_eq!(l[2], Node::Text("b ".into()));
        assert_eq!(l[3], Node::Text("c".into()));
        assert_eq!(l[4], Node::Text("d".into()));
        // `{{-3}}` is the number -3, not a trim marker.
        assert_eq!(action("{{-3}}").commands[0].args, vec![Operand::Int(-3)]);
        // Delimiters inside string literals do not end the action.
        assert_eq!(
            action(r#"{{ "}}" }}"#).commands[0].args,
            vec![Operand::String("}}".into())]
        );
    }

    #[test]
    fn errors_name_the_line_and_what_is_wrong() {
        let e = parse("x\n{{ .a | }}").unwrap_err();
        assert_eq!(e.pos.line, 2);
        assert!(e.to_string().starts_with("template: base:2:"), "{e}");
        assert!(
            parse("{{if .a}}x")
                .unwrap_err()
                .message
                .contains("unexpected EOF")
        );
        assert!(
            parse("{{end}}")
                .unwrap_err()
                .message
                .contains("unexpected {{end}}")
        );
        assert!(
            parse("{{break}}")
                .unwrap_err()
                .message
                .contains("outside {{range}}")
        );
        assert!(parse("{{ .a").unwrap_err().message.contains("unclosed action"));
        assert!(
            parse("{{template \"x\"}}")
                .unwrap_err()
                .message
                .contains("not supported")
        );
        assert!(parse("{{ \"abc }}").is_err());
        assert!(
            parse("{{ (.a }}")
                .unwrap_err()
                .message
                .contains("unclosed left paren")
        );
        assert!(parse("{{}}").unwrap_err().message.contains("missing value"));
        assert_eq!(
            parse("{{ .a ) }}").unwrap_err().to_string(),
            r#"template: base:1: unexpected ")" in command"#
        );
        assert!(
            parse("{{ 1x }}")
                .unwrap_err()
                .message
                .contains("bad number syntax")
        );
    }
}
