//! Go's `json.Unmarshal` into an `interface {}`, as sprig's `fromJson` and `mustFromJson` call
//! it: a port of Go 1.19's `encoding/json` (scanner.go, decode.go).
//!
//! Stage: render (pure; no I/O).
//!
//! Unmarshal first checks the whole text with Go's scanner, a state machine over bytes whose
//! syntax errors this module reproduces word for word (`invalid character 'x' looking for
//! beginning of value`, `unexpected end of JSON input`, the offending byte quoted as Go's
//! `quoteChar` does, the nesting limit of 10,000). Valid text is then decoded as Go decodes into
//! `interface {}`: every number a `float64` (`strconv.ParseFloat`: correctly rounded, and a
//! number out of range is `nil` with Go's `json: cannot unmarshal number ...` error, the first
//! one reported after decoding the rest), strings unquoted as Go's `unquote` does (invalid UTF-8
//! and lone `\u` surrogates become U+FFFD), duplicate keys the last one winning.
//!
//! The work is linear in the text and iterative (no recursion on the input's nesting). Go
//! decodes up to 10,000 levels; appset's other functions walk values recursively, so a decoded
//! value may nest [`MAX_DEPTH`] levels, deeper text is refused with its own error.

use std::collections::BTreeMap;

use minijinja::Value as J;

/// Go's `maxNestingDepth`: the scanner's limit on nested arrays and objects.
const GO_MAX_NESTING: usize = 10_000;

/// The deepest value appset decodes (Go: [`GO_MAX_NESTING`]).
pub(super) const MAX_DEPTH: usize = 500;

/// Go's `json.Unmarshal(data, &out)` with `out` an `interface {}`: the value (nil when the text
/// is not JSON) and Go's error, if any.
pub(super) fn unmarshal(data: &[u8]) -> (J, Option<String>) {
    if let Err(e) = check_valid(data) {
        return (J::from(()), Some(e));
    }
    if nesting(data) > MAX_DEPTH {
        return (
            J::from(()),
            Some(format!(
                "appset decodes JSON nested at most {MAX_DEPTH} levels deep (Go: {GO_MAX_NESTING})"
            )),
        );
    }
    let mut decoder = Decoder {
        data,
        pos: 0,
        error: None,
    };
    let value = decoder.value();
    (value, decoder.error)
}

/// What the parser is inside (Go's `parseObjectKey`, `parseObjectValue`, `parseArrayValue`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parse {
    ObjectKey,
    ObjectValue,
    ArrayValue,
}

/// The scanner's state: Go's `step` function.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    BeginValueOrEmpty,
    BeginValue,
    BeginStringOrEmpty,
    BeginString,
    EndValue,
    EndTop,
    InString,
    InStringEsc,
    /// Inside `\u`, after this many hex digits (0 to 3).
    InStringEscU(u8),
    Neg,
    One,
    Zero,
    Dot,
    Dot0,
    E,
    ESign,
    E0,
    /// Inside `true`, `false` or `null`, expecting `word[next]`.
    Literal {
        word: &'static str,
        next: usize,
    },
    Error,
}

/// Go's `scanner`, for `checkValid`: the step results that matter here.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scan {
    Continue,
    /// The top-level value ended before this byte (`scanEnd`).
    End,
    Error,
}

/// Go's `scanner` (scanner.go).
struct Scanner {
    step: State,
    parse_state: Vec<Parse>,
    err: Option<String>,
    end_top: bool,
}

/// Go's `checkValid`: the first syntax error of `data`, as Go words it.
fn check_valid(data: &[u8]) -> Result<(), String> {
    let mut s = Scanner {
        step: State::BeginValue,
        parse_state: Vec::new(),
        err: None,
        end_top: false,
    };
    for &c in data {
        if s.step(c) == Scan::Error {
            return Err(s.err.unwrap_or_default());
        }
    }
    s.eof()
}

/// Go's `isSpace`.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

impl Scanner {
    /// Go's `eof`: the end of the input.
    fn eof(&mut self) -> Result<(), String> {
        if let Some(e) = &self.err {
            return Err(e.clone());
        }
        if self.end_top {
            return Ok(());
        }
        self.step(b' ');
        if self.end_top {
            return Ok(());
        }
        Err(self
            .err
            .clone()
            .unwrap_or_else(|| "unexpected end of JSON input".to_string()))
    }

    /// Go's `s.error`: a syntax error at byte `c`.
    fn error(&mut self, c: u8, context: &str) -> Scan {
        self.step = State::Error;
        self.err = Some(format!("invalid character {} {context}", quote_char(c)));
        Scan::Error
    }

    fn push_parse_state(&mut self, c: u8, p: Parse) -> Scan {
        self.parse_state.push(p);
        if self.parse_state.len() <= GO_MAX_NESTING {
            return Scan::Continue;
        }
        self.error(c, "exceeded max depth")
    }

    fn pop_parse_state(&mut self) {
        self.parse_state.pop();
        if self.parse_state.is_empty() {
            self.step = State::EndTop;
            self.end_top = true;
        } else {
            self.step = State::EndValue;
        }
    }

    /// One byte through the current state (Go's `s.step(s, c)`).
    fn step(&mut self, c: u8) -> Scan {
        match self.step {
            State::BeginValueOrEmpty => {
                if is_space(c) {
                    Scan::Continue
                } else if c == b']' {
                    self.end_value(c)
                } else {
                    self.begin_value(c)
                }
            }
            State::BeginValue => self.begin_value(c),
            State::BeginStringOrEmpty => {
                if is_space(c) {
                    Scan::Continue
                } else if c == b'}' {
                    if let Some(last) = self.parse_state.last_mut() {
                        *last = Parse::ObjectValue;
                    }
                    self.end_value(c)
                } else {
                    self.begin_string(c)
                }
            }
            State::BeginString => self.begin_string(c),
            State::EndValue => self.end_value(c),
            State::EndTop => self.end_top(c),
            State::InString => match c {
                b'"' => self.go(State::EndValue),
                b'\\' => self.go(State::InStringEsc),
                c if c < 0x20 => self.error(c, "in string literal"),
                _ => Scan::Continue,
            },
            State::InStringEsc => match c {
                b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => self.go(State::InString),
                b'u' => self.go(State::InStringEscU(0)),
                _ => self.error(c, "in string escape code"),
            },
            State::InStringEscU(n) => {
                if c.is_ascii_hexdigit() {
                    self.go(if n == 3 {
                        State::InString
                    } else {
                        State::InStringEscU(n + 1)
                    })
                } else {
                    self.error(c, "in \\u hexadecimal character escape")
                }
            }
            State::Neg => match c {
                b'0' => self.go(State::Zero),
                b'1'..=b'9' => self.go(State::One),
                _ => self.error(c, "in numeric literal"),
            },
            State::One if c.is_ascii_digit() => Scan::Continue,
            State::One | State::Zero => match c {
                b'.' => self.go(State::Dot),
                b'e' | b'E' => self.go(State::E),
                _ => self.end_value(c),
            },
            State::Dot if c.is_ascii_digit() => self.go(State::Dot0),
            State::Dot => self.error(c, "after decimal point in numeric literal"),
            State::Dot0 => match c {
                b'0'..=b'9' => Scan::Continue,
                b'e' | b'E' => self.go(State::E),
                _ => self.end_value(c),
            },
            State::E if c == b'+' || c == b'-' => self.go(State::ESign),
            State::E | State::ESign if c.is_ascii_digit() => self.go(State::E0),
            State::E | State::ESign => self.error(c, "in exponent of numeric literal"),
            State::E0 if c.is_ascii_digit() => Scan::Continue,
            State::E0 => self.end_value(c),
            State::Literal { word, next } => {
                let want = word.as_bytes().get(next).copied().unwrap_or(b' ');
                if c != want {
                    return self.error(c, &format!("in literal {word} (expecting '{}')", want as char));
                }
                self.go(if next + 1 == word.len() {
                    State::EndValue
                } else {
                    State::Literal { word, next: next + 1 }
                })
            }
            State::Error => Scan::Error,
        }
    }

    /// Move to state `next` on an accepted byte.
    fn go(&mut self, next: State) -> Scan {
        self.step = next;
        Scan::Continue
    }

    /// Go's `stateBeginValue`.
    fn begin_value(&mut self, c: u8) -> Scan {
        if is_space(c) {
            return Scan::Continue;
        }
        let literal = |word| State::Literal { word, next: 1 };
        match c {
            b'{' => {
                self.step = State::BeginStringOrEmpty;
                self.push_parse_state(c, Parse::ObjectKey)
            }
            b'[' => {
                self.step = State::BeginValueOrEmpty;
                self.push_parse_state(c, Parse::ArrayValue)
            }
            b'"' => self.go(State::InString),
            b'-' => self.go(State::Neg),
            b'0' => self.go(State::Zero),
            b't' => self.go(literal("true")),
            b'f' => self.go(literal("false")),
            b'n' => self.go(literal("null")),
            b'1'..=b'9' => self.go(State::One),
            _ => self.error(c, "looking for beginning of value"),
        }
    }

    /// Go's `stateBeginString`.
    fn begin_string(&mut self, c: u8) -> Scan {
        if is_space(c) {
            Scan::Continue
        } else if c == b'"' {
            self.go(State::InString)
        } else {
            self.error(c, "looking for beginning of object key string")
        }
    }

    /// Go's `stateEndValue`.
    fn end_value(&mut self, c: u8) -> Scan {
        let Some(&ps) = self.parse_state.last() else {
            self.step = State::EndTop;
            self.end_top = true;
            return self.end_top(c);
        };
        if is_space(c) {
            return self.go(State::EndValue);
        }
        let n = self.parse_state.len() - 1;
        match (ps, c) {
            (Parse::ObjectKey, b':') => {
                self.parse_state[n] = Parse::ObjectValue;
                self.go(State::BeginValue)
            }
            (Parse::ObjectKey, _) => self.error(c, "after object key"),
            (Parse::ObjectValue, b',') => {
                self.parse_state[n] = Parse::ObjectKey;
                self.go(State::BeginString)
            }
            (Parse::ObjectValue | Parse::ArrayValue, b'}' | b']')
                if (c == b'}') == (ps == Parse::ObjectValue) =>
            {
                self.pop_parse_state();
                Scan::Continue
            }
            (Parse::ObjectValue, _) => self.error(c, "after object key:value pair"),
            (Parse::ArrayValue, b',') => self.go(State::BeginValue),
            (Parse::ArrayValue, _) => self.error(c, "after array element"),
        }
    }

    /// Go's `stateEndTop`: only space may follow the top-level value. The error is reported at
    /// the next byte or at the end, as in Go.
    fn end_top(&mut self, c: u8) -> Scan {
        if !is_space(c) {
            self.error(c, "after top-level value");
        }
        Scan::End
    }
}

/// Go's `quoteChar`: a byte as the scanner's messages quote it (`strconv.Quote` of the byte as
/// a rune, in single quotes).
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => r"'\''".to_string(),
        b'"' => "'\"'".to_string(),
        b'\\' => r"'\\'".to_string(),
        0x07 => r"'\a'".to_string(),
        0x08 => r"'\b'".to_string(),
        0x0c => r"'\f'".to_string(),
        b'\n' => r"'\n'".to_string(),
        b'\r' => r"'\r'".to_string(),
        b'\t' => r"'\t'".to_string(),
        0x0b => r"'\v'".to_string(),
        // strconv.IsPrint for U+0000..U+00FF.
        0x20..=0x7e => format!("'{}'", c as char),
        0xa1..=0xff if c != 0xad => format!("'{}'", c as char),
        0x00..=0x1f | 0x7f => format!(r"'\x{c:02x}'"),
        _ => format!(r"'\u{c:04x}'"),
    }
}

/// The deepest nesting of arrays and objects in valid JSON text (brackets inside strings do
/// not count).
fn nesting(data: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &c in data {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// A container being decoded.
enum Frame {
    Array(Vec<J>),
    /// The entries so far and the key of the value being decoded.
    Object(BTreeMap<String, J>, String),
}

/// Go's `decodeState` on text `checkValid` accepted, into `interface {}` values.
struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
    /// The first error saved while decoding (Go's `savedError`).
    error: Option<String>,
}

impl Decoder<'_> {
    fn peek(&self) -> u8 {
        self.data.get(self.pos).copied().unwrap_or(0)
    }

    fn skip_space(&mut self) {
        while self.pos < self.data.len() && is_space(self.data[self.pos]) {
            self.pos += 1;
        }
    }

    /// The top-level value (Go's `valueInterface`), without recursion.
    fn value(&mut self) -> J {
        let mut stack: Vec<Frame> = Vec::new();
        loop {
            self.skip_space();
            // Open containers until a scalar or an empty container gives a value.
            let mut done = match self.peek() {
                b'[' => {
                    self.pos += 1;
                    self.skip_space();
                    if self.peek() == b']' {
                        self.pos += 1;
                        J::from(Vec::<J>::new())
                    } else {
                        stack.push(Frame::Array(Vec::new()));
                        continue;
                    }
                }
                b'{' => {
                    self.pos += 1;
                    self.skip_space();
                    if self.peek() == b'}' {
                        self.pos += 1;
                        J::from(BTreeMap::<String, J>::new())
                    } else {
                        let key = self.object_key();
                        stack.push(Frame::Object(BTreeMap::new(), key));
                        continue;
                    }
                }
                _ => self.literal(),
            };
            // Store the value, closing every container it completes.
            loop {
                let Some(frame) = stack.last_mut() else {
                    return done;
                };
                match frame {
                    Frame::Array(items) => items.push(done),
                    Frame::Object(map, key) => {
                        map.insert(std::mem::take(key), done);
                    }
                }
                self.skip_space();
                let c = self.peek();
                self.pos += 1;
                if c == b',' {
                    if let Some(Frame::Object(_, key)) = stack.last_mut() {
                        self.skip_space();
                        *key = self.object_key();
                    }
                    break;
                }
                done = match stack.pop() {
                    Some(Frame::Array(items)) => J::from(items),
                    Some(Frame::Object(map, _)) => J::from(map),
                    None => J::from(()),
                };
            }
        }
    }

    /// An object's key and the `:` after it.
    fn object_key(&mut self) -> String {
        let key = self.string();
        self.skip_space();
        self.pos += 1; // ':'
        key
    }

    /// A string, number, `true`, `false` or `null` (Go's `literalInterface`).
    fn literal(&mut self) -> J {
        match self.peek() {
            b'"' => J::from(self.string()),
            b't' => {
                self.pos += 4;
                J::from(true)
            }
            b'f' => {
                self.pos += 5;
                J::from(false)
            }
            b'n' => {
                self.pos += 4;
                J::from(())
            }
            _ => self.number(),
        }
    }

    /// A number as Go's `convertNumber`: `strconv.ParseFloat`, nil and an error when out of
    /// range.
    fn number(&mut self) -> J {
        let start = self.pos;
        while self.pos < self.data.len()
            && matches!(
                self.data[self.pos],
                b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'
            )
        {
            self.pos += 1;
        }
        let text = String::from_utf8_lossy(&self.data[start..self.pos]);
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => J::from(f),
            _ => {
                self.error.get_or_insert_with(|| {
                    format!("json: cannot unmarshal number {text} into Go value of type float64")
                });
                J::from(())
            }
        }
    }

    /// A string literal at `pos`, unquoted as Go's `unquote` does.
    fn string(&mut self) -> String {
        let start = self.pos + 1;
        let mut end = start;
        while end < self.data.len() && self.data[end] != b'"' {
            end += if self.data[end] == b'\\' { 2 } else { 1 };
        }
        self.pos = end + 1;
        unquote(self.data.get(start..end).unwrap_or_default())
    }
}

/// Four hex digits of a `\u` escape at the start of `s` (Go's `getu4`; `None` when absent).
fn getu4(s: &[u8]) -> Option<u32> {
    if s.len() < 6 || s[0] != b'\\' || s[1] != b'u' {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(&s[2..6]).ok()?, 16).ok()
}

/// The text of a string literal between its quotes, scanned valid, unquoted as Go's `unquote`:
/// escapes decoded, a `\u` surrogate pair joined, a lone surrogate and each byte of invalid
/// UTF-8 replaced by U+FFFD.
fn unquote(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut r = 0;
    while r < s.len() {
        let c = s[r];
        if c == b'\\' {
            let Some(&e) = s.get(r + 1) else { break };
            let simple = match e {
                b'"' | b'\\' | b'/' | b'\'' => Some(e as char),
                b'b' => Some('\x08'),
                b'f' => Some('\x0c'),
                b'n' => Some('\n'),
                b'r' => Some('\r'),
                b't' => Some('\t'),
                _ => None,
            };
            if let Some(ch) = simple {
                out.push(ch);
                r += 2;
                continue;
            }
            let Some(rr) = getu4(&s[r..]) else { break };
            r += 6;
            if (0xd800..0xe000).contains(&rr) {
                // Go's utf16.DecodeRune: a high surrogate and a low one make a pair.
                let pair = getu4(&s[r..])
                    .filter(|lo| (0xd800..0xdc00).contains(&rr) && (0xdc00..0xe000).contains(lo));
                match pair.and_then(|lo| char::from_u32(0x10000 + ((rr - 0xd800) << 10) + (lo - 0xdc00))) {
                    Some(ch) => {
                        out.push(ch);
                        r += 6;
                    }
                    None => out.push('\u{fffd}'),
                }
                continue;
            }
            out.push(char::from_u32(rr).unwrap_or('\u{fffd}'));
            continue;
        }
        // Go's utf8.DecodeRune: a valid sequence, or U+FFFD for one invalid byte.
        let len = match c {
            0x00..=0x7f => 1,
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            _ => 4,
        };
        match s.get(r..r + len).and_then(|b| std::str::from_utf8(b).ok()) {
            Some(ch) => {
                out.push_str(ch);
                r += len;
            }
            None => {
                out.push('\u{fffd}');
                r += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        unmarshal(text.as_bytes()).1.unwrap_or_default()
    }

    /// Go's syntax errors, word for word (from Go 1.19's json.Unmarshal).
    #[test]
    fn syntax_errors_are_gos() {
        for (text, want) in [
            ("", "unexpected end of JSON input"),
            ("  ", "unexpected end of JSON input"),
            ("h", "invalid character 'h' looking for beginning of value"),
            (
                "1.",
                "invalid character ' ' after decimal point in numeric literal",
            ),
            ("1.5.", "invalid character '.' after top-level value"),
            ("1 2", "invalid character '2' after top-level value"),
            ("tx", "invalid character 'x' in literal true (expecting 'r')"),
            ("t", "invalid character ' ' in literal true (expecting 'r')"),
            ("nul", "invalid character ' ' in literal null (expecting 'l')"),
            ("fals!", "invalid character '!' in literal false (expecting 'e')"),
            ("{\"a\"}", "invalid character '}' after object key"),
            ("{\"a\":1 x", "invalid character 'x' after object key:value pair"),
            ("[1 2]", "invalid character '2' after array element"),
            (
                "{1:2}",
                "invalid character '1' looking for beginning of object key string",
            ),
            ("[1,]", "invalid character ']' looking for beginning of value"),
            ("\"a", "unexpected end of JSON input"),
            ("\"\\x\"", "invalid character 'x' in string escape code"),
            (
                "\"\\u12g4\"",
                "invalid character 'g' in \\u hexadecimal character escape",
            ),
            ("\"\t\"", "invalid character '\\t' in string literal"),
            ("-x", "invalid character 'x' in numeric literal"),
            ("1ex", "invalid character 'x' in exponent of numeric literal"),
            ("01", "invalid character '1' after top-level value"),
            ("'", r"invalid character '\'' looking for beginning of value"),
            (
                "\u{1}",
                r"invalid character '\x01' looking for beginning of value",
            ),
            (
                "\u{7f}",
                r"invalid character '\x7f' looking for beginning of value",
            ),
            ("ß", "invalid character 'Ã' looking for beginning of value"),
            ("\\", r"invalid character '\\' looking for beginning of value"),
            ("\"\"\"", "invalid character '\"' after top-level value"),
        ] {
            assert_eq!(err(text), want, "{text:?}");
            assert!(unmarshal(text.as_bytes()).0.is_none(), "{text:?}");
        }
        assert_eq!(quote_char(0x80), r"'\u0080'");
        assert_eq!(quote_char(0xa0), r"'\u00a0'");
        assert_eq!(quote_char(0xad), r"'\u00ad'");
        assert_eq!(quote_char(0xff), "'ÿ'");
        assert_eq!(
            err("\u{a0}"),
            "invalid character 'Â' looking for beginning of value"
        );
        let deep = "[".repeat(GO_MAX_NESTING + 1);
        assert_eq!(err(&deep), "invalid character '[' exceeded max depth");
        assert_eq!(err(&"[".repeat(GO_MAX_NESTING)), "unexpected end of JSON input");
        assert!(err(&format!("{}{}", "[".repeat(600), "]".repeat(600))).contains("appset"));
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(unmarshal(ok.as_bytes()).1, None);
    }

    /// Go's values: float64 numbers, U+FFFD for bad surrogates and bytes, last key wins.
    #[test]
    fn values_are_gos() {
        let v = |text: &str| unmarshal(text.as_bytes()).0;
        assert_eq!(v("12345678901234567890"), J::from(12345678901234567890f64));
        assert_eq!(v("1"), J::from(1.0));
        assert!(!v("1").is_integer());
        assert_eq!(v(r#""\ud83d\ude00""#), J::from("😀"));
        assert_eq!(v(r#""\ud83dx""#), J::from("\u{fffd}x"));
        assert_eq!(v(r#""\ude00\ud83d""#), J::from("\u{fffd}\u{fffd}"));
        assert_eq!(v(r#""\ud83d\u0041""#), J::from("\u{fffd}A"));
        assert_eq!(
            v(r#""a\/\"\\\b\f\n\r\t\u00e9""#),
            J::from("a/\"\\\u{8}\u{c}\n\r\té")
        );
        assert_eq!(unquote(b"a\xffb\xe2\x82"), "a\u{fffd}b\u{fffd}\u{fffd}");
        assert_eq!(
            v(r#" {"a": 1, "a": [true, false, null, {}, []], "b": {"c": "d"}} "#),
            J::from(BTreeMap::from([
                (
                    "a".to_string(),
                    J::from(vec![
                        J::from(true),
                        J::from(false),
                        J::from(()),
                        J::from(BTreeMap::<String, J>::new()),
                        J::from(Vec::<J>::new()),
                    ])
                ),
                (
                    "b".to_string(),
                    J::from(BTreeMap::from([("c".to_string(), J::from("d"))]))
                ),
            ]))
        );
        let (value, e) = unmarshal(b"[1e999, 2, -1e999]");
        assert_eq!(value, J::from(vec![J::from(()), J::from(2.0), J::from(())]));
        assert_eq!(
            e.as_deref(),
            Some("json: cannot unmarshal number 1e999 into Go value of type float64")
        );
        assert_eq!(v("1e-999"), J::from(0.0));
    }

    /// The deepest value appset decodes goes through the recursive walks of the engine
    /// (printing, JSON encoding, equality) without exhausting a test thread's stack.
    #[test]
    fn the_deepest_value_prints() {
        use crate::render::gotemplate::value::{deep_equal, go_sprint, to_json};
        let arrays = format!("{}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        let objects = format!("{}1{}", "{\"k\":".repeat(MAX_DEPTH), "}".repeat(MAX_DEPTH));
        for text in [arrays, objects] {
            let (v, e) = unmarshal(text.as_bytes());
            assert_eq!(e, None);
            assert!(go_sprint(&v).contains('1'));
            assert_eq!(serde_json::to_string(&to_json(&v)).unwrap(), text);
            assert!(deep_equal(&v, &v.clone()));
        }
    }
}
