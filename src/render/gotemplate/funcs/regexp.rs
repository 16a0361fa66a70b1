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
    let n = to_i64(&a[2]);
    let re = regex(&str_at(a, 0))?;
    let text = str_at(a, 1);
    let all: Vec<J> = re.find_iter(&text).map(|m| J::from(m.as_str())).collect();
    Ok(J::from(if n < 0 {
        all
    } else {
        all.into_iter().take(n as usize).collect()
    }))
}

/// `regexReplaceAll PATTERN TEXT REPLACEMENT`, `$1`/`${1}` expanded.
fn regex_replace_all(a: &[J]) -> Result<J, String> {
    Ok(J::from(
        regex(&str_at(a, 0))?
            .replace_all(&str_at(a, 1), str_at(a, 2).as_str())
            .into_owned(),
    ))
}

fn regex_replace_all_literal(a: &[J]) -> Result<J, String> {
    Ok(J::from(
        regex(&str_at(a, 0))?
            .replace_all(&str_at(a, 1), regex::NoExpand(&str_at(a, 2)))
            .into_owned(),
    ))
}

/// `regexSplit PATTERN TEXT N`: at most N parts, all for a negative N.
fn regex_split(a: &[J]) -> Result<J, String> {
    let n = to_i64(&a[2]);
    let re = regex(&str_at(a, 0))?;
    let text = str_at(a, 1);
    let parts: Vec<J> = if n < 0 {
        re.split(&text).map(J::from).collect()
    } else {
        re.splitn(&text, n as usize).map(J::from).collect()
    };
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

/// A compiled pattern, or the compiler's error text.
fn regex(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(pattern).map_err(|e| e.to_string())
}
