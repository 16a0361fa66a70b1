//! sprig's string functions (`lower`, `trim`, `quote`, `substr`, `indent`, `snakecase`, `wrap`,
//! ...) and string slice functions (`splitList`, `split`, `splitn`, `join`, `sortAlpha`).
//!
//! Stage: render (pure; no I/O).

use std::collections::BTreeMap;

use minijinja::{Value as J, value::ValueKind};

use super::{Func, MAX_STRING, arg_at, str_at};
use crate::render::gotemplate::value::{as_string, go_sprint, items, to_i64};
use crate::text;

pub(super) const FUNCS: &[Func] = &[
    Func::new("abbrev", 2, false, abbrev),
    Func::new("abbrevboth", 3, false, abbrevboth),
    Func::new("camelcase", 1, false, camelcase),
    Func::new("cat", 0, true, cat),
    Func::new("contains", 2, false, contains),
    Func::new("hasPrefix", 2, false, has_prefix),
    Func::new("hasSuffix", 2, false, has_suffix),
    Func::new("hello", 0, false, hello),
    Func::new("indent", 2, false, indent),
    Func::new("initials", 1, false, initials),
    Func::new("kebabcase", 1, false, kebabcase),
    Func::new("lower", 1, false, lower),
    Func::new("nindent", 2, false, nindent),
    Func::new("nospace", 1, false, nospace),
    Func::new("plural", 3, false, plural),
    Func::new("quote", 0, true, quote),
    Func::new("repeat", 2, false, repeat),
    Func::new("replace", 3, false, replace),
    Func::new("snakecase", 1, false, snakecase),
    Func::new("squote", 0, true, squote),
    Func::new("substr", 3, false, substr),
    Func::new("swapcase", 1, false, swapcase),
    Func::new("title", 1, false, title_case),
    Func::new("trim", 1, false, trim),
    Func::new("trimAll", 2, false, trim_all),
    Func::new("trimPrefix", 2, false, trim_prefix),
    Func::new("trimSuffix", 2, false, trim_suffix),
    Func::new("trimall", 2, false, trim_all),
    Func::new("trunc", 2, false, trunc),
    Func::new("untitle", 1, false, untitle),
    Func::new("upper", 1, false, upper),
    Func::new("wrap", 2, false, wrap_text),
    Func::new("wrapWith", 3, false, wrap_with),
    // string slices
    Func::new("join", 2, false, join),
    Func::new("sortAlpha", 1, false, sort_alpha),
    Func::new("split", 2, false, split),
    Func::new("splitList", 2, false, split_list),
    Func::new("splitn", 3, false, splitn),
];

fn lower(a: &[J]) -> Result<J, String> {
    Ok(J::from(str_at(a, 0).chars().map(go_to_lower).collect::<String>()))
}

fn upper(a: &[J]) -> Result<J, String> {
    Ok(J::from(str_at(a, 0).chars().map(go_to_upper).collect::<String>()))
}

/// Go's `unicode.ToUpper`: one rune to one rune (Unicode's simple mapping). Rust's full mapping
/// turns `ß` into `SS` and `ﬁ` into `FI`; Go leaves a rune without a simple mapping as it is.
fn go_to_upper(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// Go's `unicode.ToLower` (simple mapping; `İ` is `i`, where Rust's full mapping adds a dot).
fn go_to_lower(c: char) -> char {
    if c == '\u{130}' {
        return 'i';
    }
    let mut low = c.to_lowercase();
    match (low.next(), low.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// Go's `unicode.ToTitle`: the upper case, except the four Latin digraphs, whose title case is
/// their own (`ǆ` → `ǅ`).
fn go_to_title(c: char) -> char {
    match c {
        '\u{1C4}'..='\u{1C6}' => '\u{1C5}',
        '\u{1C7}'..='\u{1C9}' => '\u{1C8}',
        '\u{1CA}'..='\u{1CC}' => '\u{1CB}',
        '\u{1F1}'..='\u{1F3}' => '\u{1F2}',
        c => go_to_upper(c),
    }
}

fn title_case(a: &[J]) -> Result<J, String> {
    Ok(J::from(title(&str_at(a, 0))))
}

fn untitle(a: &[J]) -> Result<J, String> {
    Ok(J::from(
        str_at(a, 0)
            .split(' ')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_lowercase().chain(c).collect::<String>())
                    .unwrap_or_default()
            })
            .collect::<Vec<String>>()
            .join(" "),
    ))
}

fn trim(a: &[J]) -> Result<J, String> {
    Ok(J::from(str_at(a, 0).trim()))
}

/// `trimAll` and its older name `trimall`: `strings.Trim(s, cutset)`.
fn trim_all(a: &[J]) -> Result<J, String> {
    let cutset = str_at(a, 0);
    Ok(J::from(
        str_at(a, 1).trim_matches(|c| cutset.contains(c)).to_string(),
    ))
}

fn trim_prefix(a: &[J]) -> Result<J, String> {
    let s = str_at(a, 1);
    Ok(J::from(
        s.strip_prefix(&str_at(a, 0))
            .map(str::to_string)
            .unwrap_or_else(|| s.clone()),
    ))
}

fn trim_suffix(a: &[J]) -> Result<J, String> {
    let s = str_at(a, 1);
    Ok(J::from(
        s.strip_suffix(&str_at(a, 0))
            .map(str::to_string)
            .unwrap_or_else(|| s.clone()),
    ))
}

fn replace(a: &[J]) -> Result<J, String> {
    Ok(J::from(str_at(a, 2).replace(&str_at(a, 0), &str_at(a, 1))))
}

fn quote(a: &[J]) -> Result<J, String> {
    Ok(J::from(
        a.iter()
            .filter(|v| !v.is_none() && !v.is_undefined())
            .map(|v| text::go_quote(&as_string(v)))
            .collect::<Vec<_>>()
            .join(" "),
    ))
}

fn squote(a: &[J]) -> Result<J, String> {
    Ok(J::from(
        a.iter()
            .filter(|v| !v.is_none() && !v.is_undefined())
            .map(|v| format!("'{}'", as_string(v)))
            .collect::<Vec<_>>()
            .join(" "),
    ))
}

fn contains(a: &[J]) -> Result<J, String> {
    Ok(J::from(str_at(a, 1).contains(&str_at(a, 0))))
}

fn has_prefix(a: &[J]) -> Result<J, String> {
    Ok(J::from(str_at(a, 1).starts_with(&str_at(a, 0))))
}

fn has_suffix(a: &[J]) -> Result<J, String> {
    Ok(J::from(str_at(a, 1).ends_with(&str_at(a, 0))))
}

fn repeat(a: &[J]) -> Result<J, String> {
    let n = to_i64(&a[0]).max(0) as usize;
    let s = str_at(a, 1);
    if n.saturating_mul(s.len()) > MAX_STRING {
        return Err(format!("the result is longer than {MAX_STRING} bytes"));
    }
    Ok(J::from(s.repeat(n)))
}

fn substr(a: &[J]) -> Result<J, String> {
    let st = str_at(a, 2);
    let (from, to) = (to_i64(&a[0]), to_i64(&a[1]));
    let b = st.as_bytes();
    let from = if from < 0 { 0 } else { from as usize };
    let to = if to < 0 || to as usize > b.len() {
        b.len()
    } else {
        to as usize
    };
    Ok(J::from(
        String::from_utf8_lossy(b.get(from.min(to)..to).unwrap_or_default()).into_owned(),
    ))
}

fn trunc(a: &[J]) -> Result<J, String> {
    let (n, st) = (to_i64(&a[0]), str_at(a, 1));
    let len = st.len() as i64;
    Ok(J::from(if n < 0 {
        st.get((len + n).max(0) as usize..)
            .unwrap_or_default()
            .to_string()
    } else {
        st.get(..n.min(len) as usize).unwrap_or(&st).to_string()
    }))
}

fn abbrev(a: &[J]) -> Result<J, String> {
    let (n, st) = (to_i64(&a[0]) as usize, str_at(a, 1));
    Ok(J::from(if n < 4 || st.len() <= n {
        st
    } else {
        format!("{}...", st.chars().take(n - 3).collect::<String>())
    }))
}

fn abbrevboth(a: &[J]) -> Result<J, String> {
    let (left, right, st) = (to_i64(&a[0]), to_i64(&a[1]), str_at(a, 2));
    Ok(J::from(if right < 4 || (left > 0 && right < 7) {
        st
    } else {
        abbreviate_full(&st, left, right)
    }))
}

/// Every line of the second argument indented by the first argument's number of spaces.
fn indented(a: &[J]) -> String {
    let pad = " ".repeat((to_i64(&a[0]).max(0) as usize).min(MAX_STRING));
    format!("{pad}{}", str_at(a, 1).replace('\n', &format!("\n{pad}")))
}

fn indent(a: &[J]) -> Result<J, String> {
    Ok(J::from(indented(a)))
}

fn nindent(a: &[J]) -> Result<J, String> {
    Ok(J::from(format!("\n{}", indented(a))))
}

fn cat(a: &[J]) -> Result<J, String> {
    Ok(J::from(
        a.iter()
            .filter(|v| !v.is_none() && !v.is_undefined())
            .map(go_sprint)
            .collect::<Vec<_>>()
            .join(" "),
    ))
}

fn nospace(a: &[J]) -> Result<J, String> {
    Ok(J::from(str_at(a, 0).split_whitespace().collect::<String>()))
}

/// `snakecase` (`sep` `_`) and `kebabcase` (`-`).
fn separated_case(a: &[J], sep: char) -> J {
    let mut out = String::new();
    for (i, c) in str_at(a, 0).chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(sep);
        }
        if c == ' ' || c == '_' || c == '-' {
            out.push(sep);
        } else {
            out.extend(c.to_lowercase());
        }
    }
    J::from(out)
}

fn snakecase(a: &[J]) -> Result<J, String> {
    Ok(separated_case(a, '_'))
}

fn kebabcase(a: &[J]) -> Result<J, String> {
    Ok(separated_case(a, '-'))
}

fn camelcase(a: &[J]) -> Result<J, String> {
    Ok(J::from(
        str_at(a, 0)
            .split(['_', '-', ' '])
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect::<String>())
                    .unwrap_or_default()
            })
            .collect::<String>(),
    ))
}

fn plural(a: &[J]) -> Result<J, String> {
    Ok(J::from(if to_i64(&a[2]) == 1 {
        str_at(a, 0)
    } else {
        str_at(a, 1)
    }))
}

fn initials(a: &[J]) -> Result<J, String> {
    Ok(J::from(
        str_at(a, 0)
            .split_whitespace()
            .filter_map(|w| w.chars().next())
            .collect::<String>(),
    ))
}

fn hello(_: &[J]) -> Result<J, String> {
    Ok(J::from("Hello!"))
}

fn wrap_text(a: &[J]) -> Result<J, String> {
    Ok(J::from(wrap(&str_at(a, 1), to_i64(&arg_at(a, 0)), "", false)))
}

fn wrap_with(a: &[J]) -> Result<J, String> {
    Ok(J::from(wrap(
        &str_at(a, 2),
        to_i64(&arg_at(a, 0)),
        &str_at(a, 1),
        true,
    )))
}

fn swapcase(a: &[J]) -> Result<J, String> {
    Ok(J::from(swap_case(&str_at(a, 0))))
}

fn split_list(a: &[J]) -> Result<J, String> {
    Ok(J::from(
        str_at(a, 1).split(&str_at(a, 0)).map(J::from).collect::<Vec<_>>(),
    ))
}

fn split(a: &[J]) -> Result<J, String> {
    Ok(J::from(
        str_at(a, 1)
            .split(&str_at(a, 0))
            .enumerate()
            .map(|(i, p)| (format!("_{i}"), J::from(p)))
            .collect::<BTreeMap<_, _>>(),
    ))
}

fn splitn(a: &[J]) -> Result<J, String> {
    Ok(J::from(
        str_at(a, 2)
            .splitn(to_i64(&a[1]).max(0) as usize, &str_at(a, 0))
            .enumerate()
            .map(|(i, p)| (format!("_{i}"), J::from(p)))
            .collect::<BTreeMap<_, _>>(),
    ))
}

fn join(a: &[J]) -> Result<J, String> {
    Ok(J::from(
        items(&a[1])
            .iter()
            .map(as_string)
            .collect::<Vec<_>>()
            .join(&str_at(a, 0)),
    ))
}

/// sprig's `sortAlpha`: a list's strings sorted (by bytes); anything else, nil too, as the one
/// string `%v` makes of it.
fn sort_alpha(a: &[J]) -> Result<J, String> {
    let mut v = match a[0].kind() {
        ValueKind::Seq => super::types::strslice(&a[0]),
        _ => vec![go_sprint(&a[0])],
    };
    v.sort();
    Ok(J::from(v.into_iter().map(J::from).collect::<Vec<_>>()))
}

/// Go's `strings.Title` (sprig's `title`).
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter && c.is_alphabetic() {
            out.push(go_to_title(c));
        } else {
            out.push(c);
        }
        // Go's strings.Title: ASCII letters, digits and `_` continue a word, other ASCII starts one.
        prev_letter = c.is_alphanumeric() || c == '_' || (!c.is_ascii() && !c.is_whitespace());
    }
    out
}

/// goutils' `AbbreviateFull` (sprig's `abbrevboth`), byte offsets as in Go.
fn abbreviate_full(s: &str, offset: i64, width: i64) -> String {
    let len = s.len() as i64;
    if s.is_empty() || width < 4 || len <= width {
        return s.to_string();
    }
    let cut =
        |from: i64, to: i64| String::from_utf8_lossy(&s.as_bytes()[from as usize..to as usize]).into_owned();
    let mut offset = offset.min(len);
    if len - offset < width - 3 {
        offset = len - (width - 3);
    }
    if offset <= 4 {
        return format!("{}...", cut(0, width - 3));
    }
    if width < 7 {
        return String::new();
    }
    if offset + width - 3 < len {
        let tail = cut(offset, len);
        return format!("...{}", abbreviate_full(&tail, 0, width - 3));
    }
    format!("...{}", cut(len - (width - 3), len))
}

/// goutils' `WrapCustom` (`wrap`, `wrapWith`): wrap at spaces; long words wrapped only when asked.
fn wrap(s: &str, width: i64, newline: &str, long_words: bool) -> String {
    if s.is_empty() {
        return String::new();
    }
    let newline = if newline.is_empty() { "\n" } else { newline };
    let width = width.max(1) as usize;
    let b = s.as_bytes();
    let text = |from: usize, to: usize| String::from_utf8_lossy(&b[from..to]).into_owned();
    let mut out = String::new();
    let mut offset = 0;
    while b.len() - offset > width {
        if b[offset] == b' ' {
            offset += 1;
            continue;
        }
        let end = (width + offset + 1).min(b.len());
        if let Some(space) = b[offset..end].iter().rposition(|&c| c == b' ') {
            out.push_str(&text(offset, offset + space));
            out.push_str(newline);
            offset += space + 1;
        } else if long_words {
            out.push_str(&text(offset, offset + width));
            out.push_str(newline);
            offset += width;
        } else {
            let end = width + offset;
            match b[end..].iter().position(|&c| c == b' ') {
                None => {
                    out.push_str(&text(offset, b.len()));
                    offset = b.len();
                }
                Some(i) => {
                    out.push_str(&text(offset, end + i));
                    out.push_str(newline);
                    offset = end + i + 1;
                }
            }
        }
    }
    out.push_str(&text(offset, b.len()));
    out
}

/// A simple (one-character) case mapping, as Go's `unicode.ToUpper`/`ToLower` (ß stays ß).
fn simple_case(c: char, upper: bool) -> char {
    let mut m: Vec<char> = if upper {
        c.to_uppercase().collect()
    } else {
        c.to_lowercase().collect()
    };
    if m.len() == 1 { m.pop().unwrap_or(c) } else { c }
}

/// goutils' `SwapCase`: upper and title case to lower; lower to upper, or to title case after
/// whitespace.
fn swap_case(s: &str) -> String {
    let mut whitespace = true;
    s.chars()
        .map(|c| {
            let titled = matches!(c, 'ǅ' | 'ǈ' | 'ǋ' | 'ǲ');
            if c.is_uppercase() || titled {
                whitespace = false;
                simple_case(c, false)
            } else if c.is_lowercase() {
                let title = match c {
                    'ǆ' => Some('ǅ'),
                    'ǉ' => Some('ǈ'),
                    'ǌ' => Some('ǋ'),
                    'ǳ' => Some('ǲ'),
                    _ => None,
                };
                let out = match title {
                    Some(t) if whitespace => t,
                    _ => simple_case(c, true),
                };
                whitespace = false;
                out
            } else {
                whitespace = c.is_whitespace();
                c
            }
        })
        .collect()
}
