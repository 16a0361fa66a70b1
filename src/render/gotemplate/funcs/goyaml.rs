//! Go's YAML output as Argo CD's toYaml writes it: encoding/json, then gopkg.in/yaml.v2's
//! resolver and emitter, ported for JSON-shaped values.
//!
//! Stage: render (pure; no I/O).
//!
//! Argo CD's `toYaml` is sigs.k8s.io/yaml's `Marshal`: `encoding/json` writes the value, go-yaml
//! v2 reads that JSON back (each number becomes an `int`, a `uint64` or a `float64` by YAML 1.1
//! rules; a raw U+0085 inside a string is a line break, folded) and writes it again. This module
//! follows that path for null, booleans, numbers, strings, lists and maps: [`json_node`] is
//! `encoding/json` (its number text, its errors), [`check_decode`] and [`fold_nel`] are the
//! parts of go-yaml's reading that can change or refuse that JSON, [`resolves_to_str`] is
//! `resolve.go`, [`key_less`] is `sorter.go`, and [`Emitter`] is `emitterc.go` as `encode.go`
//! drives it (plain, single-quoted, double-quoted and literal scalars, folding at 80 columns,
//! block mappings and sequences, `{}` and `[]` for empty ones, `? ` keys past 128 bytes).
//! Values that are not JSON-shaped (a `time.Time`, a semver) go through the JSON Go's
//! `json.Marshal` gives them.
//!
//! Known approximations: the key order uses Rust's `is_alphabetic` and ASCII digits for Go's
//! `unicode.IsLetter` / `unicode.IsDigit`; go-yaml's reader lookahead (which can report a
//! control character before an earlier problem) and its document-indicator check after a raw
//! U+0085 are not modelled.

use minijinja::Value as J;
use minijinja::value::ValueKind;

use crate::render::gotemplate::gotime;
use crate::render::gotemplate::value::{
    dict_of, go_parse_float, go_parse_int, is_float, is_nil_slice, items, to_f64, to_json,
};
use crate::text::go_format_float;

/// go-yaml's `max_flow_level`: deeper JSON does not parse.
const MAX_DEPTH: usize = 10_000;
/// go-yaml's emitter line width (`best_width`).
const BEST_WIDTH: usize = 80;
/// go-yaml's emitter indentation step (`best_indent`).
const BEST_INDENT: i64 = 2;

/// A value as `encoding/json` wrote it and go-yaml v2 read it back.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// An `int` or `uint64`, as its decimal text.
    Int(String),
    /// A `float64`.
    Float(f64),
    /// A string.
    Str(String),
    /// A list.
    Seq(Vec<Node>),
    /// A map, its entries in `encoding/json`'s order (keys byte-sorted).
    Map(Vec<(String, Node)>),
}

/// Argo CD's `toYaml`: sigs.k8s.io/yaml's `Marshal` without the final newline, its errors in
/// its words (`error marshaling into JSON: json: unsupported value: +Inf`).
pub(super) fn to_yaml(v: &J) -> Result<String, String> {
    let mut node = json_node(v, 0)?;
    check_decode(&node).map_err(|e| format!("error converting JSON to YAML: yaml: {e}"))?;
    fold_nel(&mut node);
    let mut emitter = Emitter::new();
    emitter.node(&node, false, false);
    // The document end: a line break unless the last line already ended.
    emitter.indent = -1;
    emitter.write_indent();
    let out = emitter.out;
    Ok(out.strip_suffix('\n').unwrap_or(&out).to_string())
}

/// A template value as `encoding/json` writes it and go-yaml reads it back: an error for NaN
/// and infinities (`unsupported value: NaN`) and for nesting go-yaml refuses.
fn json_node(v: &J, depth: usize) -> Result<Node, String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "error converting JSON to YAML: yaml: exceeded max depth of {MAX_DEPTH}"
        ));
    }
    Ok(match v.kind() {
        ValueKind::Undefined | ValueKind::None => Node::Null,
        ValueKind::Bool => Node::Bool(v.is_true()),
        ValueKind::Number if is_float(v) => float_node(to_f64(v))?,
        ValueKind::Number => match v.as_i64() {
            Some(i) => Node::Int(i.to_string()),
            None => number_text_node(&v.to_string()),
        },
        ValueKind::String => Node::Str(v.as_str().unwrap_or_default().to_string()),
        // A nil slice is JSON's null.
        ValueKind::Seq if is_nil_slice(v) => Node::Null,
        ValueKind::Seq => Node::Seq(
            items(v)
                .iter()
                .map(|x| json_node(x, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        ValueKind::Map => Node::Map(
            dict_of(v)
                .into_iter()
                .map(|(k, x)| Ok((k, json_node(&x, depth + 1)?)))
                .collect::<Result<_, String>>()?,
        ),
        _ => serde_node(&to_json(v), depth),
    })
}

/// A JSON value (the JSON of a time or a version) as go-yaml reads it.
fn serde_node(v: &serde_json::Value, depth: usize) -> Node {
    use serde_json::Value as V;
    match v {
        V::Null => Node::Null,
        V::Bool(b) => Node::Bool(*b),
        V::Number(n) if n.is_f64() => float_node(n.as_f64().unwrap_or(0.0)).unwrap_or(Node::Null),
        V::Number(n) => number_text_node(&n.to_string()),
        V::String(s) => Node::Str(s.clone()),
        V::Array(a) if depth < MAX_DEPTH => Node::Seq(a.iter().map(|x| serde_node(x, depth + 1)).collect()),
        V::Object(m) if depth < MAX_DEPTH => Node::Map(
            m.iter()
                .map(|(k, x)| (k.clone(), serde_node(x, depth + 1)))
                .collect(),
        ),
        _ => Node::Null,
    }
}

/// A `float64` as `encoding/json` writes it (`'f'` format, `'e'` below 1e-6 and from 1e21) and
/// go-yaml reads that text: integral values that fit an `int64` or `uint64` become integers with
/// the JSON's digits (the shortest ones, `9223372036854776000` for 2^63), the rest `float64`.
fn float_node(f: f64) -> Result<Node, String> {
    if !f.is_finite() {
        return Err(format!(
            "error marshaling into JSON: json: unsupported value: {}",
            go_format_float(f)
        ));
    }
    if f.fract() != 0.0 || f.abs() >= 1e21 {
        return Ok(Node::Float(f));
    }
    // The shortest digits, written out in full as the 'f' format does.
    let g = go_format_float(f);
    let text = match g.split_once('e') {
        Some((mantissa, exp)) => {
            let exp: usize = exp.trim_start_matches('+').parse().unwrap_or(0);
            let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
            let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
            format!("{sign}{digits:0<width$}", width = exp + 1)
        }
        None => g,
    };
    Ok(number_text_node(&text))
}

/// go-yaml's reading of a JSON number's text: an `int`, else a `uint64`, else a `float64`.
fn number_text_node(text: &str) -> Node {
    if let Ok(i) = text.parse::<i64>() {
        Node::Int(i.to_string())
    } else if let Ok(u) = text.parse::<u64>() {
        Node::Int(u.to_string())
    } else {
        Node::Float(text.parse().unwrap_or(0.0))
    }
}

/// The problems go-yaml's reader, scanner and parser find in the JSON `encoding/json` wrote, in
/// the JSON's order: characters YAML does not allow (DEL, C1 controls but NEL, U+FFFE, U+FFFF),
/// and a map key that cannot be a simple key (more than 1024 characters of JSON, or a raw
/// U+0085, which YAML reads as a line break).
fn check_decode(node: &Node) -> Result<(), String> {
    /// A step of the walk in JSON order.
    enum Step<'a> {
        /// A value.
        Value(&'a Node),
        /// A map key.
        Key(&'a str),
    }
    let mut lines = 0;
    let mut stack = vec![Step::Value(node)];
    while let Some(step) = stack.pop() {
        match step {
            Step::Value(Node::Str(s)) => {
                check_chars(s)?;
                lines += nel_count(s);
            }
            Step::Value(Node::Seq(list)) => stack.extend(list.iter().rev().map(Step::Value)),
            Step::Value(Node::Map(entries)) => {
                for (k, v) in entries.iter().rev() {
                    stack.push(Step::Value(v));
                    stack.push(Step::Key(k));
                }
            }
            Step::Value(_) => {}
            Step::Key(k) => {
                check_chars(k)?;
                lines += nel_count(k);
                if json_len(k) + 2 > 1024 || nel_count(k) > 0 {
                    return Err(if lines == 0 {
                        "did not find expected ',' or '}'".to_string()
                    } else {
                        format!("line {lines}: did not find expected ',' or '}}'")
                    });
                }
            }
        }
    }
    Ok(())
}

/// go-yaml's reader: `control characters are not allowed` for a character outside YAML's set
/// (the ones `encoding/json` leaves unescaped: DEL, C1 controls but NEL, U+FFFE, U+FFFF).
fn check_chars(s: &str) -> Result<(), String> {
    let bad = |c: char| {
        let c = u32::from(c);
        c == 0x7F || (0x80..=0x9F).contains(&c) && c != 0x85 || c == 0xFFFE || c == 0xFFFF
    };
    if s.chars().any(bad) {
        return Err("control characters are not allowed".to_string());
    }
    Ok(())
}

/// How many raw U+0085 (line breaks to YAML) a string holds.
fn nel_count(s: &str) -> usize {
    s.chars().filter(|c| *c == '\u{85}').count()
}

/// The number of characters `encoding/json` writes for a string, without its quotes.
fn json_len(s: &str) -> usize {
    s.chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' => 2,
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => 6,
            c if u32::from(c) < 0x20 => 6,
            _ => 1,
        })
        .sum()
}

/// go-yaml's reading of a double-quoted scalar with raw U+0085 in it: a run of spaces and line
/// breaks around them folds to one space, or to one `\n` per break after the first.
fn fold_nel(node: &mut Node) {
    match node {
        Node::Str(s) => fold_nel_str(s),
        Node::Seq(list) => list.iter_mut().for_each(fold_nel),
        Node::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            fold_nel_str(k);
            fold_nel(v);
        }),
        _ => {}
    }
}

/// [`fold_nel`] for one string.
fn fold_nel_str(s: &mut String) {
    if !s.contains('\u{85}') {
        return;
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != ' ' && chars[i] != '\u{85}' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && (chars[i] == ' ' || chars[i] == '\u{85}') {
            i += 1;
        }
        let breaks = chars[start..i].iter().filter(|c| **c == '\u{85}').count();
        match breaks {
            0 => out.extend(&chars[start..i]),
            1 => out.push(' '),
            n => out.extend(std::iter::repeat_n('\n', n - 1)),
        }
    }
    *s = out;
}

/// resolve.go's `resolve("", s)` gives `!!str`: the string reads back as a string when written
/// plain (not a bool, null, int, float, timestamp or `<<`-free special).
fn resolves_to_str(s: &str) -> bool {
    let Some(&first) = s.as_bytes().first() else {
        return false; // "" is null
    };
    let hint = match first {
        b'+' | b'-' => 'S',
        b'0'..=b'9' => 'D',
        b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~' => 'M',
        b'.' => '.',
        _ => return true,
    };
    if RESOLVE_MAP.contains(&s) {
        return false;
    }
    match hint {
        '.' => go_parse_float(s).is_none(),
        'D' | 'S' => {
            if parse_timestamp(s) {
                return false;
            }
            let plain = s.replace('_', "");
            if go_parse_int(&plain).is_some() || go_parse_uint(&plain).is_some() {
                return false;
            }
            if yaml_style_float(&plain) && plain.parse::<f64>().is_ok_and(f64::is_finite) {
                return false;
            }
            if let Some(rest) = plain.strip_prefix("0b") {
                if go_parse_int_radix(rest, 2).is_some() || go_parse_uint_radix(rest, 2).is_some() {
                    return false;
                }
            } else if let Some(rest) = plain.strip_prefix("-0b")
                && go_parse_int_radix(&format!("-{rest}"), 2).is_some()
            {
                return false;
            }
            true
        }
        _ => true,
    }
}

/// resolve.go's table of bools, nulls, infinities and NaNs (and `<<`).
const RESOLVE_MAP: &[&str] = &[
    "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "n", "N", "no", "No", "NO",
    "false", "False", "FALSE", "off", "Off", "OFF", "", "~", "null", "Null", "NULL", ".nan", ".NaN", ".NAN",
    ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", "<<",
];

/// resolve.go's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go's `strconv.ParseUint(s, 0, 64)` (no underscores: resolve.go removed them): `0x`, `0o`, `0b`
/// prefixes, a leading `0` for octal.
fn go_parse_uint(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.is_empty() {
        return None;
    }
    let (radix, digits) = if b[0] == b'0' {
        match b.get(1).map(u8::to_ascii_lowercase) {
            Some(b'b') if b.len() >= 3 => (2, &s[2..]),
            Some(b'o') if b.len() >= 3 => (8, &s[2..]),
            Some(b'x') if b.len() >= 3 => (16, &s[2..]),
            _ => (8, &s[1..]),
        }
    } else {
        (10, s)
    };
    if digits.is_empty() {
        return (radix == 8).then_some(0);
    }
    go_parse_uint_radix(digits, radix)
}

/// Go's `strconv.ParseUint(s, radix, 64)` without a sign or prefix.
fn go_parse_uint_radix(s: &str, radix: u32) -> Option<u64> {
    if s.is_empty() || !s.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(s, radix).ok()
}

/// Go's `strconv.ParseInt(s, radix, 64)`.
fn go_parse_int_radix(s: &str, radix: u32) -> Option<i64> {
    let (neg, rest) = split_sign(s);
    signed(neg, go_parse_uint_radix(rest, radix)?)
}

/// A leading `+` or `-` off a number.
fn split_sign(s: &str) -> (bool, &str) {
    match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    }
}

/// An unsigned magnitude with its sign as an `int64`, if in range.
fn signed(neg: bool, u: u64) -> Option<i64> {
    if neg {
        0i64.checked_sub_unsigned(u)
            .or((u == 1 << 63).then_some(i64::MIN))
    } else {
        i64::try_from(u).ok()
    }
}

/// resolve.go's `parseTimestamp`: four digits and `-`, then one of its `time.Parse` layouts.
fn parse_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits != 4 || b.get(4) != Some(&b'-') {
        return false;
    }
    [
        "2006-1-2T15:4:5.999999999Z07:00",
        "2006-1-2t15:4:5.999999999Z07:00",
        "2006-1-2 15:4:5.999999999",
        "2006-1-2",
    ]
    .iter()
    .any(|layout| gotime::call("mustToDate", &[J::from(*layout), J::from(s)]).is_ok())
}

/// encode.go's `isBase60Float`: `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        // [0-5]?[0-9]: one digit, or two with the first 0-5.
        let d1 = b.get(i + 1).filter(|c| c.is_ascii_digit());
        let d2 = b.get(i + 2).filter(|c| c.is_ascii_digit());
        match (d1, d2) {
            (Some(a), Some(_)) if *a <= b'5' => i += 3,
            (Some(_), _) => i += 2,
            _ => return false,
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// sorter.go's `keyList.Less` for two string keys: letters before other characters, runs of
/// digits compared as numbers (`a2` before `a10`).
fn key_less(a: &str, b: &str) -> bool {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let digit = |c: char| c.is_ascii_digit();
    for i in 0..ar.len().min(br.len()) {
        if ar[i] == br[i] {
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i] < br[i];
        }
        if al || bl {
            return bl;
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            for j in (0..i).rev() {
                if !digit(ar[j]) {
                    break;
                }
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let (ai, an) = digit_run(&ar, i, an);
        let (bi, bn) = digit_run(&br, i, bn);
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ar[i] < br[i];
    }
    ar.len() < br.len()
}

/// sorter.go's digit loop: the end of the run of digits from `from`, and `start` with the run's
/// digits appended (wrapping as Go's int64 does).
fn digit_run(chars: &[char], from: usize, start: i64) -> (usize, i64) {
    let mut n = start;
    let mut end = from;
    while let Some(c) = chars.get(end).filter(|c| c.is_ascii_digit()) {
        n = n.wrapping_mul(10).wrapping_add(i64::from(u32::from(*c) - 0x30));
        end += 1;
    }
    (end, n)
}

/// Map entries in go-yaml's order ([`key_less`]), by a merge sort that stays total whatever the
/// comparison does.
fn sorted_entries(entries: &[(String, Node)]) -> Vec<&(String, Node)> {
    let mut v: Vec<&(String, Node)> = entries.iter().collect();
    let mut width = 1;
    while width < v.len() {
        let mut merged = Vec::with_capacity(v.len());
        for chunk in v.chunks(2 * width) {
            let (left, right) = chunk.split_at(width.min(chunk.len()));
            let (mut l, mut r) = (0, 0);
            while l < left.len() && r < right.len() {
                if key_less(&right[r].0, &left[l].0) {
                    merged.push(right[r]);
                    r += 1;
                } else {
                    merged.push(left[l]);
                    l += 1;
                }
            }
            merged.extend_from_slice(&left[l..]);
            merged.extend_from_slice(&right[r..]);
        }
        v = merged;
        width *= 2;
    }
    v
}

/// A scalar style (yaml.v2's `yaml_scalar_style_t`, the ones used here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// Unquoted.
    Plain,
    /// `'...'`
    Single,
    /// `"..."` with escapes.
    Double,
    /// `|` block.
    Literal,
}

/// A scalar as encode.go hands it to the emitter: its text and the style it asks for.
fn scalar_of(node: &Node) -> (String, Style) {
    match node {
        Node::Null => ("null".to_string(), Style::Plain),
        Node::Bool(b) => (b.to_string(), Style::Plain),
        Node::Int(s) => (s.clone(), Style::Plain),
        Node::Float(f) => {
            let s = match go_format_float(*f).as_str() {
                "+Inf" => ".inf".to_string(),
                "-Inf" => "-.inf".to_string(),
                "NaN" => ".nan".to_string(),
                s => s.to_string(),
            };
            (s, Style::Plain)
        }
        Node::Str(s) => (s.clone(), string_style(s)),
        Node::Seq(_) | Node::Map(_) => (String::new(), Style::Plain),
    }
}

/// encode.go's `stringv`: literal when the string has a newline, plain when it reads back as a
/// string (and is no base-60 float), double-quoted otherwise.
fn string_style(s: &str) -> Style {
    if s.contains('\n') {
        Style::Literal
    } else if resolves_to_str(s) && !is_base60_float(s) {
        Style::Plain
    } else {
        Style::Double
    }
}

/// emitterc.go's `yaml_emitter_analyze_scalar`: which styles can write a scalar.
#[derive(Debug, Clone, Copy)]
struct Analysis {
    /// It has a line break.
    multiline: bool,
    /// Plain is allowed inside `[]` / `{}`.
    flow_plain_allowed: bool,
    /// Plain is allowed in block context.
    block_plain_allowed: bool,
    /// Single quotes are allowed.
    single_quoted_allowed: bool,
    /// A block scalar (`|`) is allowed.
    block_allowed: bool,
}

/// yamlprivateh.go's `is_printable` (with the emitter's unicode on): what a scalar can hold
/// unescaped.
fn is_printable(c: char) -> bool {
    let c = u32::from(c);
    c == 0x0A
        || (0x20..=0x7E).contains(&c)
        || (0xA0..=0xD7FF).contains(&c)
        || (0xE000..=0xFFFD).contains(&c) && c != 0xFEFF
}

/// yamlprivateh.go's `is_break`: CR, LF, NEL, LS, PS.
fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// yamlprivateh.go's `is_blankz` on a character (or the end).
fn is_blankz(c: Option<char>) -> bool {
    c.is_none_or(|c| c == ' ' || c == '\t' || c == '\0' || is_break(c))
}

/// emitterc.go's `yaml_emitter_analyze_scalar`.
fn analyze(value: &str) -> Analysis {
    if value.is_empty() {
        return Analysis {
            multiline: false,
            flow_plain_allowed: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let mut block_indicators = value.starts_with("---") || value.starts_with("...");
    let mut flow_indicators = block_indicators;
    let (mut line_breaks, mut special_characters) = (false, false);
    let (mut leading_space, mut leading_break) = (false, false);
    let (mut trailing_space, mut trailing_break) = (false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_whitespace = true;
    let chars: Vec<char> = value.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let followed_by_whitespace = next.is_none() || next.is_some_and(|n| n == ' ' || n == '\t');
        let last = i + 1 == chars.len();
        // The indicators that keep it from being plain, in flow and in block context.
        let (flow, block) = match (i == 0, c) {
            (
                true,
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@'
                | '`',
            ) => (true, true),
            (true, '?') | (_, ':') => (true, followed_by_whitespace),
            (true, '-') => (followed_by_whitespace, followed_by_whitespace),
            (false, ',' | '?' | '[' | ']' | '{' | '}') => (true, false),
            (false, '#') => (preceded_by_whitespace, preceded_by_whitespace),
            _ => (false, false),
        };
        flow_indicators |= flow;
        block_indicators |= block;
        if !is_printable(c) {
            special_characters = true;
        }
        if c == ' ' {
            leading_space |= i == 0;
            trailing_space |= last;
            break_space |= previous_break;
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            leading_break |= i == 0;
            trailing_break |= last;
            space_break |= previous_space;
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = is_blankz(Some(c));
    }
    // The rules of yaml_emitter_analyze_scalar's end, each a reason to rule a style out.
    let edges = leading_space || leading_break || trailing_space || trailing_break;
    let hard = space_break || special_characters;
    let unplain = edges || break_space || hard || line_breaks;
    Analysis {
        multiline: line_breaks,
        flow_plain_allowed: !(unplain || flow_indicators),
        block_plain_allowed: !(unplain || block_indicators),
        single_quoted_allowed: !(break_space || hard),
        block_allowed: !(trailing_space || hard),
    }
}

/// emitterc.go's emitter state, for one document written from a [`Node`] tree.
struct Emitter {
    /// The text written so far.
    out: String,
    /// The current column, in characters.
    column: usize,
    /// The current indentation (-1 before the root).
    indent: i64,
    /// The saved indentations.
    indents: Vec<i64>,
    /// The last thing written was whitespace.
    whitespace: bool,
    /// The last thing written was indentation (or an indentation-like indicator).
    indention: bool,
    /// Depth inside `[]` / `{}`.
    flow_level: usize,
    /// The node is a mapping's key or value (`mapping_context`).
    mapping_context: bool,
    /// The node is a simple key.
    simple_key_context: bool,
}

impl Emitter {
    /// An emitter at the start of a stream.
    fn new() -> Self {
        Emitter {
            out: String::new(),
            column: 0,
            indent: -1,
            indents: Vec::new(),
            whitespace: true,
            indention: true,
            flow_level: 0,
            mapping_context: false,
            simple_key_context: false,
        }
    }

    /// `put`: one character.
    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    /// `put_break`: a line break.
    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    /// `write_break`: a line break character from a scalar (LF as the emitter's break).
    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
        }
    }

    /// A line break inside a scalar: the break, and the next line starts as indentation.
    fn scalar_break(&mut self, c: char) {
        self.write_break(c);
        self.indention = true;
    }

    /// Text after line breaks inside a scalar starts at the indentation.
    fn resume_line(&mut self, after_breaks: bool) {
        if after_breaks {
            self.write_indent();
        }
    }

    /// `yaml_emitter_increase_indent`.
    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { BEST_INDENT } else { 0 };
        } else if !indentless {
            self.indent += BEST_INDENT;
        }
    }

    /// Back to the indentation before the last [`Self::increase_indent`].
    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().unwrap_or(-1);
    }

    /// `yaml_emitter_write_indent`.
    fn write_indent(&mut self) {
        let indent = usize::try_from(self.indent.max(0)).unwrap_or(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    /// `yaml_emitter_write_indicator`.
    fn write_indicator(
        &mut self,
        indicator: &str,
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        for c in indicator.chars() {
            self.put(c);
        }
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
    }

    /// `yaml_emitter_emit_node` and the states it leads to.
    fn node(&mut self, node: &Node, mapping: bool, simple_key: bool) {
        self.mapping_context = mapping;
        self.simple_key_context = simple_key;
        match node {
            Node::Seq(list) if self.flow_level > 0 || list.is_empty() => {
                self.empty_flow("[", "]");
            }
            Node::Map(entries) if self.flow_level > 0 || entries.is_empty() => {
                self.empty_flow("{", "}");
            }
            Node::Seq(list) => {
                self.increase_indent(false, self.mapping_context && !self.indention);
                for item in list {
                    self.write_indent();
                    self.write_indicator("-", true, false, true);
                    self.node(item, false, false);
                }
                self.pop_indent();
            }
            Node::Map(entries) => {
                self.increase_indent(false, false);
                for (key, value) in sorted_entries(entries) {
                    self.write_indent();
                    let key_node = Node::Str(key.clone());
                    let simple = !analyze(key).multiline && key.len() <= 128;
                    if simple {
                        self.node(&key_node, true, true);
                        self.write_indicator(":", false, false, false);
                    } else {
                        self.write_indicator("?", true, false, true);
                        self.node(&key_node, true, false);
                        self.write_indent();
                        self.write_indicator(":", true, false, true);
                    }
                    self.node(value, true, false);
                }
                self.pop_indent();
            }
            scalar => self.scalar(scalar),
        }
    }

    /// An empty sequence or mapping, in flow style.
    fn empty_flow(&mut self, open: &str, close: &str) {
        self.write_indicator(open, true, true, false);
        self.increase_indent(true, false);
        self.pop_indent();
        self.write_indicator(close, false, false, false);
    }

    /// `yaml_emitter_emit_scalar`: the style, then the text.
    fn scalar(&mut self, node: &Node) {
        let (value, requested) = scalar_of(node);
        let a = analyze(&value);
        let style = self.select_style(requested, &a, &value);
        self.increase_indent(true, false);
        let allow_breaks = !self.simple_key_context;
        match style {
            Style::Plain => self.write_plain(&value, allow_breaks),
            Style::Single => self.write_single_quoted(&value, allow_breaks),
            Style::Double => self.write_double_quoted(&value, allow_breaks),
            Style::Literal => self.write_literal(&value),
        }
        self.pop_indent();
    }

    /// `yaml_emitter_select_scalar_style`.
    fn select_style(&self, requested: Style, a: &Analysis, value: &str) -> Style {
        let mut style = requested;
        if self.simple_key_context && a.multiline {
            style = Style::Double;
        }
        if style == Style::Plain {
            if self.flow_level > 0 && !a.flow_plain_allowed || self.flow_level == 0 && !a.block_plain_allowed
            {
                style = Style::Single;
            }
            if value.is_empty() && (self.flow_level > 0 || self.simple_key_context) {
                style = Style::Single;
            }
        }
        if style == Style::Single && !a.single_quoted_allowed {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block_allowed || self.flow_level > 0 || self.simple_key_context) {
            style = Style::Double;
        }
        style
    }

    /// `yaml_emitter_write_plain_scalar`.
    fn write_plain(&mut self, value: &str, allow_breaks: bool) {
        if !self.whitespace {
            self.put(' ');
        }
        self.write_folding(value, allow_breaks, false);
        self.whitespace = false;
        self.indention = false;
    }

    /// `yaml_emitter_write_single_quoted_scalar`.
    fn write_single_quoted(&mut self, value: &str, allow_breaks: bool) {
        self.write_indicator("'", true, false, false);
        self.write_folding(value, allow_breaks, true);
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    /// The text of a plain or single-quoted scalar (their shared loop): a space past the line
    /// width starts a new line (in single quotes, not the first or last character), line breaks
    /// are doubled, and in single quotes `'` is doubled.
    fn write_folding(&mut self, value: &str, allow_breaks: bool, single: bool) {
        let (mut spaces, mut breaks) = (false, false);
        let len = value.len();
        let mut it = value.char_indices().peekable();
        while let Some((i, c)) = it.next() {
            let next = it.peek().map(|&(_, n)| n);
            if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && (!single || i > 0 && i + 1 < len)
                    && next != Some(' ')
                {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.scalar_break(c);
                breaks = true;
            } else {
                self.resume_line(breaks);
                if single && c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
    }

    /// `yaml_emitter_write_double_quoted_scalar`.
    fn write_double_quoted(&mut self, value: &str, allow_breaks: bool) {
        self.write_indicator("\"", true, false, false);
        let starts_with_bom = value.starts_with('\u{FEFF}');
        let len = value.len();
        let mut spaces = false;
        let mut it = value.char_indices().peekable();
        while let Some((i, c)) = it.next() {
            let next = it.peek().map(|&(_, n)| n);
            if !is_printable(c) || starts_with_bom || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                match c {
                    '\0' => self.put('0'),
                    '\u{07}' => self.put('a'),
                    '\u{08}' => self.put('b'),
                    '\t' => self.put('t'),
                    '\n' => self.put('n'),
                    '\u{0b}' => self.put('v'),
                    '\u{0c}' => self.put('f'),
                    '\r' => self.put('r'),
                    '\u{1b}' => self.put('e'),
                    '"' => self.put('"'),
                    '\\' => self.put('\\'),
                    '\u{85}' => self.put('N'),
                    '\u{a0}' => self.put('_'),
                    '\u{2028}' => self.put('L'),
                    '\u{2029}' => self.put('P'),
                    _ => {
                        let v = u32::from(c);
                        let (tag, width) = match v {
                            0..=0xFF => ('x', 2),
                            0x100..=0xFFFF => ('u', 4),
                            _ => ('U', 8),
                        };
                        self.put(tag);
                        for k in (0..width).rev() {
                            let digit = (v >> (k * 4)) & 0xF;
                            self.put(char::from_digit(digit, 16).unwrap_or('0').to_ascii_uppercase());
                        }
                    }
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && i > 0 && i + 1 < len {
                    self.write_indent();
                    if next == Some(' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    /// `yaml_emitter_write_literal_scalar` with its block scalar hints.
    fn write_literal(&mut self, value: &str) {
        self.write_indicator("|", true, false, false);
        let chars: Vec<char> = value.chars().collect();
        if chars.first().is_some_and(|&c| c == ' ' || is_break(c)) {
            self.write_indicator(&BEST_INDENT.to_string(), false, false, false);
        }
        let chomp = match chars.as_slice() {
            [] => Some("-"),
            [.., last] if !is_break(*last) => Some("-"),
            [_] => Some("+"),
            [.., before, _] if is_break(*before) => Some("+"),
            _ => None,
        };
        if let Some(hint) = chomp {
            self.write_indicator(hint, false, false, false);
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for &c in &chars {
            if is_break(c) {
                self.scalar_break(c);
                breaks = true;
            } else {
                self.resume_line(breaks);
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The YAML of a JSON document given as template data (numbers as Go's float64).
    fn yaml(json: &str) -> String {
        let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        to_yaml(&crate::render::gotemplate::value::go_value(&v)).unwrap_or_else(|e| e)
    }

    #[test]
    fn numbers_take_the_json_round_trip() {
        assert_eq!(
            yaml(
                r#"{"a": 9223372036854775808.0, "b": 1e20, "c": 1e19, "d": 1234567.5, "e": 0.000001, "f": -0.0, "g": 1e21, "h": 2}"#
            ),
            "a: 9223372036854776000\nb: 1e+20\nc: 10000000000000000000\nd: 1.2345675e+06\ne: 1e-06\nf: 0\ng: 1e+21\nh: 2"
        );
        assert_eq!(
            to_yaml(&J::from(f64::INFINITY)),
            Err("error marshaling into JSON: json: unsupported value: +Inf".to_string())
        );
    }

    #[test]
    fn strings_are_quoted_when_they_would_read_back_otherwise() {
        assert_eq!(
            yaml(
                r#"{"a":"0b-1","b":".5_0","c":"1e999","d":".5e999","e":"08","f":"1:20","g":"2020-1-2","h":"<<","i":"0x1F","j":"1_000","k":"n","l":"1.2.3","m":""}"#
            ),
            "a: \"0b-1\"\nb: \".5_0\"\nc: 1e999\nd: .5e999\ne: \"08\"\nf: \"1:20\"\ng: \"2020-1-2\"\nh: <<\ni: \"0x1F\"\nj: \"1_000\"\nk: \"n\"\nl: 1.2.3\nm: \"\""
        );
        assert_eq!(
            yaml(r#"{"a":"\ufeffab","b":"😀 x","c":"a\u0085b","d":"tab\there"," e":1}"#),
            "' e': 1\na: \"\\uFEFF\\x61\\x62\"\nb: \"\\U0001F600 x\"\nc: a b\nd: \"tab\\there\""
        );
    }

    #[test]
    fn layout_follows_the_emitter() {
        assert_eq!(
            yaml(
                r#"{"l":[[1,[2]],{"a":[]},{},[{"x":{"y":"z"}}]],"m":"a\nb","n":" a\n","o":"\n","p":"a\n\n"}"#
            ),
            "l:\n- - 1\n  - - 2\n- a: []\n- {}\n- - x:\n      \"y\": z\nm: |-\n  a\n  b\n\"n\": |2\n   a\no: |2+\n\np: |+\n  a\n"
        );
        let long = "x ".repeat(50);
        assert_eq!(
            yaml(&format!(r#"{{"q": "{long}"}}"#)),
            "q: 'x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x\n  x x x x x x x x x x x '"
        );
        assert_eq!(yaml("null"), "null");
        assert_eq!(yaml("[]"), "[]");
        assert_eq!(yaml("{}"), "{}");
    }

    #[test]
    fn keys_sort_naturally_and_long_keys_are_complex() {
        assert_eq!(
            yaml(r#"{"a10":1,"a2":2,"B":3,"_":4}"#),
            "_: 4\nB: 3\na2: 2\na10: 1"
        );
        let key = "k".repeat(130);
        assert_eq!(yaml(&format!(r#"{{"{key}": 1}}"#)), format!("? {key}\n: 1"));
        let key = "k".repeat(1100);
        assert_eq!(
            yaml(&format!(r#"{{"{key}": 1}}"#)),
            "error converting JSON to YAML: yaml: did not find expected ',' or '}'"
        );
        assert_eq!(
            yaml(r#"{"a":"x\u007fy"}"#),
            "error converting JSON to YAML: yaml: control characters are not allowed"
        );
    }

    #[test]
    fn resolver_pieces() {
        assert!(go_parse_int("-9223372036854775808").is_some());
        assert!(go_parse_int("9223372036854775808").is_none());
        assert!(go_parse_uint("0").is_some());
        assert!(go_parse_uint("0x").is_none());
        assert!(go_parse_float(".5").is_some());
        assert!(go_parse_float("._5").is_none());
        assert!(is_base60_float("1:20") && is_base60_float("-1_0:5:59.5") && !is_base60_float("1:60"));
        assert!(yaml_style_float("-.5e+3") && !yaml_style_float("1e"));
    }
}
