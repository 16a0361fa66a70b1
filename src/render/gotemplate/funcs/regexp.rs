//! sprig's regular expression functions: `regexMatch`, `regexFind`, `regexFindAll`,
//! `regexReplaceAll`, `regexReplaceAllLiteral`, `regexSplit` (and `must` twins),
//! `regexQuoteMeta`.
//!
//! Stage: render (pure; no I/O). Patterns are compiled by Rust's `regex` crate, whose syntax is
//! RE2's, as Go's `regexp`; its error messages are its own.

use minijinja::Value as J;

use super::{Func, str_at};
use crate::render::gotemplate::value::to_i64;

pub(super) const FUNCS: &[Func] = &[
    Func::new("mustRegexFind", 2, false, regex_find),
    Func::new("mustRegexFindAll", 3, false, regex_find_all),
    Func::new("mustRegexMatch", 2, false, must_regex_match),
    Func::new("mustRegexReplaceAll", 3, false, regex_replace_all),
    Func::new("mustRegexReplaceAllLiteral", 3, false, regex_replace_all_literal),
    Func::new("mustRegexSplit", 3, false, regex_split),
    Func::new("regexFind", 2, false, regex_find),
    Func::new("regexFindAll", 3, false, regex_find_all),
    Func::new("regexMatch", 2, false, regex_match),
    Func::new("regexQuoteMeta", 1, false, regex_quote_meta),
    Func::new("regexReplaceAll", 3, false, regex_replace_all),
    Func::new("regexReplaceAllLiteral", 3, false, regex_replace_all_literal),
    Func::new("regexSplit", 3, false, regex_split),
];

/// `regexMatch PATTERN TEXT`: false for an invalid pattern.
fn regex_match(a: &[J]) -> Result<J, String> {
    Ok(J::from(
        regex(&str_at(a, 0)).is_ok_and(|r| r.is_match(&str_at(a, 1))),
    ))
}

/// `mustRegexMatch PATTERN TEXT`: an invalid pattern is an error.
fn must_regex_match(a: &[J]) -> Result<J, String> {
    Ok(J::from(regex(&str_at(a, 0))?.is_match(&str_at(a, 1))))
}

fn regex_find(a: &[J]) -> Result<J, String> {
    Ok(J::from(
        regex(&str_at(a, 0))?
            .find(&str_at(a, 1))
            .map(|m| m.as_str().to_string())
            .unwrap_or_default(),
    ))
}

/// `regexFindAll PATTERN TEXT N`: at most N matches, all for a negative N.
fn regex_find_all(a: &[J]) -> Result<J, String> {
    let re = regex(&str_at(a, 0))?;
    let text = str_at(a, 1);
    let all: Vec<J> = go_find_all(&re, &text, to_i64(&a[2]))
        .into_iter()
        .map(|(s, e)| J::from(&text[s..e]))
        .collect();
    if all.is_empty() {
        // Go's FindAllString gives a nil slice (`[]`, JSON `null`).
        return Ok(J::from(()));
    }
    Ok(J::from(all))
}

/// Go's `Regexp.allMatches`: the matches from left to right, at most `n` (all for a negative
/// `n`, none for 0); an empty match right after the previous match is skipped.
fn go_find_all(re: &regex::Regex, s: &str, n: i64) -> Vec<(usize, usize)> {
    let n = if n < 0 { s.len() + 1 } else { n as usize };
    let mut out = Vec::new();
    let (mut pos, mut prev_end) = (0usize, None::<usize>);
    while out.len() < n && pos <= s.len() {
        let Some(m) = re.find_at(s, pos) else { break };
        let mut accept = true;
        if m.end() == pos {
            // An empty match: not right after the previous one; step one character on.
            if Some(m.start()) == prev_end {
                accept = false;
            }
            pos += s[pos..].chars().next().map_or(1, char::len_utf8);
        } else {
            pos = m.end();
        }
        prev_end = Some(m.end());
        if accept {
            out.push((m.start(), m.end()));
        }
    }
    out
}

/// Go's `Regexp.ReplaceAll` loop: each match replaced by `repl`, but not an empty match right
/// after another match.
fn go_replace_all(
    re: &regex::Regex,
    src: &str,
    mut repl: impl FnMut(&regex::Captures<'_>, &mut String),
) -> String {
    let mut out = String::with_capacity(src.len());
    let (mut last_end, mut search) = (0usize, 0usize);
    while search <= src.len() {
        let Some(caps) = re.captures_at(src, search) else {
            break;
        };
        let m = caps.get(0).map_or((search, search), |m| (m.start(), m.end()));
        out.push_str(&src[last_end..m.0]);
        if m.1 > last_end || m.0 == 0 {
            repl(&caps, &mut out);
        }
        last_end = m.1;
        let width = src[search..].chars().next().map_or(0, char::len_utf8);
        if search + width > m.1 {
            search += width;
        } else if search + 1 > m.1 {
            search += 1;
        } else {
            search = m.1;
        }
        if out.len() > super::MAX_STRING {
            return out;
        }
    }
    out.push_str(&src[last_end.min(src.len())..]);
    out
}

/// `regexReplaceAll PATTERN TEXT REPLACEMENT`, `$1`/`${1}` expanded.
fn regex_replace_all(a: &[J]) -> Result<J, String> {
    let re = regex(&str_at(a, 0))?;
    let repl = str_at(a, 2);
    Ok(J::from(go_replace_all(&re, &str_at(a, 1), |caps, out| {
        caps.expand(&repl, out)
    })))
}

fn regex_replace_all_literal(a: &[J]) -> Result<J, String> {
    let re = regex(&str_at(a, 0))?;
    let repl = str_at(a, 2);
    Ok(J::from(go_replace_all(&re, &str_at(a, 1), |_, out| {
        out.push_str(&repl)
    })))
}

/// `regexSplit PATTERN TEXT N`: Go's `Regexp.Split` (at most N parts, all for a negative N,
/// none for 0; an empty text is one empty part unless the pattern is empty).
fn regex_split(a: &[J]) -> Result<J, String> {
    let n = to_i64(&a[2]);
    let pattern = str_at(a, 0);
    let re = regex(&pattern)?;
    let s = str_at(a, 1);
    if n == 0 {
        return Ok(J::from(()));
    }
    if !pattern.is_empty() && s.is_empty() {
        return Ok(J::from(vec![J::from("")]));
    }
    let mut parts: Vec<J> = Vec::new();
    let (mut beg, mut end) = (0usize, 0usize);
    for (ms, me) in go_find_all(&re, &s, n) {
        if n > 0 && parts.len() as i64 == n - 1 {
            break;
        }
        end = ms;
        if me != 0 {
            parts.push(J::from(&s[beg..end]));
        }
        beg = me;
    }
    if end != s.len() {
        parts.push(J::from(&s[beg..]));
    }
    Ok(J::from(parts))
}

fn regex_quote_meta(a: &[J]) -> Result<J, String> {
    // Go's regexp.QuoteMeta escapes only `\.+*?()|[]{}^$` (Rust's regex::escape escapes more).
    let mut out = String::new();
    for c in str_at(a, 0).chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(J::from(out))
}

/// A compiled pattern (Go's syntax, see [`go_pattern`]), or the compiler's error text.
fn regex(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(&go_pattern(pattern)).map_err(|e| e.to_string())
}

/// Go's `regexp` syntax in the `regex` crate's, where they differ: Go's `\d \w \s \b` (and
/// their negations) are ASCII; a `{` that starts no repetition is a literal; inside a class, `[`
/// (but `[:name:]`), `&` and `~` are literals.
fn go_pattern(p: &str) -> String {
    const D: &str = r"\x{30}-\x{39}";
    const ND: &str = r"\x{0}-\x{2F}\x{3A}-\x{10FFFF}";
    const S: &str = r"\x{9}\x{A}\x{C}\x{D}\x{20}";
    const NS: &str = r"\x{0}-\x{8}\x{B}\x{E}-\x{1F}\x{21}-\x{10FFFF}";
    const W: &str = r"\x{30}-\x{39}\x{41}-\x{5A}\x{5F}\x{61}-\x{7A}";
    const NW: &str = r"\x{0}-\x{2F}\x{3A}-\x{40}\x{5B}-\x{5E}\x{60}\x{7B}-\x{10FFFF}";
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 8);
    let mut in_class = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if i + 1 < chars.len() => {
                let set = match chars[i + 1] {
                    'd' => Some(D),
                    'D' => Some(ND),
                    's' => Some(S),
                    'S' => Some(NS),
                    'w' => Some(W),
                    'W' => Some(NW),
                    _ => None,
                };
                match (set, chars[i + 1]) {
                    (Some(set), _) if in_class => out.push_str(set),
                    (Some(set), _) => {
                        out.push('[');
                        out.push_str(set);
                        out.push(']');
                    }
                    (None, 'b') if !in_class => out.push_str(r"(?-u:\b)"),
                    (None, 'B') if !in_class => out.push_str(r"(?-u:\B)"),
                    (_, next) => {
                        out.push('\\');
                        out.push(next);
                    }
                }
                i += 2;
                continue;
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                // A `]` first in a class is a literal.
                if chars.get(i) == Some(&']') {
                    out.push_str(r"\]");
                    i += 1;
                }
                continue;
            }
            '[' if chars.get(i + 1) == Some(&':') => {
                // `[:alpha:]` inside a class: copied through its `:]`.
                let close =
                    (i + 2..chars.len().saturating_sub(1)).find(|&j| chars[j] == ':' && chars[j + 1] == ']');
                match close {
                    Some(j) => {
                        out.extend(&chars[i..j + 2]);
                        i = j + 2;
                    }
                    None => {
                        out.push_str(r"\[");
                        i += 1;
                    }
                }
                continue;
            }
            '[' | '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '{' if !in_class && !starts_repeat(&chars[i..]) => out.push_str(r"\{"),
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

/// Whether `s` (from a `{`) is a repetition: `{n}`, `{n,}` or `{n,m}`.
fn starts_repeat(s: &[char]) -> bool {
    let mut i = 1;
    let digits = |i: &mut usize| {
        let from = *i;
        while s.get(*i).is_some_and(char::is_ascii_digit) {
            *i += 1;
        }
        *i > from
    };
    if !digits(&mut i) {
        return false;
    }
    if s.get(i) == Some(&',') {
        i += 1;
        digits(&mut i);
    }
    s.get(i) == Some(&'}')
}
