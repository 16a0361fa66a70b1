//! sprig's string functions (`lower`, `trim`, `quote`, `substr`, `indent`, `snakecase`, `wrap`,
//! ...) and string slice functions (`splitList`, `split`, `splitn`, `join`, `sortAlpha`).
//!
//! Stage: render (pure; no I/O).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use minijinja::{Value as J, value::ValueKind};

use super::{Func, MAX_STRING, arg_at, str_at};
use crate::render::gotemplate::value::{as_string, go_sprint, to_i64};
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

/// goutils' `Uncapitalize`: the first rune of every whitespace-separated word lowered.
fn untitle(a: &[J]) -> Result<J, String> {
    let mut next = true;
    Ok(J::from(
        str_at(a, 0)
            .chars()
            .map(|c| {
                if c.is_whitespace() {
                    next = true;
                    c
                } else if std::mem::take(&mut next) {
                    go_to_lower(c)
                } else {
                    c
                }
            })
            .collect::<String>(),
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
    let n = to_i64(&a[0]);
    if n < 0 {
        return Err("strings: negative Repeat count".into());
    }
    let n = n as usize;
    let s = str_at(a, 1);
    if n.saturating_mul(s.len()) > MAX_STRING {
        return Err(format!("the result is longer than {MAX_STRING} bytes"));
    }
    Ok(J::from(s.repeat(n)))
}

/// Go's `s[lo:hi]` on a string's bytes (`hi` `None` for `s[lo:]`), with Go's panic for bounds
/// out of range.
fn go_slice(b: &[u8], lo: i64, hi: Option<i64>) -> Result<&[u8], String> {
    let len = b.len() as i64;
    let oob = "runtime error: slice bounds out of range";
    let hi = match hi {
        Some(h) if h < 0 => return Err(format!("{oob} [:{h}]")),
        Some(h) if h > len => return Err(format!("{oob} [:{h}] with length {len}")),
        Some(h) => h,
        None => len,
    };
    if lo < 0 {
        return Err(format!("{oob} [{lo}:]"));
    }
    if lo > hi {
        return Err(format!("{oob} [{lo}:{hi}]"));
    }
    Ok(&b[lo as usize..hi as usize])
}

/// sprig's `substring`: `s[start:end]`, `s[:end]` for a negative start, `s[start:]` for a
/// negative or too large end; Go's panic when the bounds are out of range.
fn substr(a: &[J]) -> Result<J, String> {
    let st = str_at(a, 2);
    let (from, to) = (to_i64(&a[0]), to_i64(&a[1]));
    let b = st.as_bytes();
    let part = if from < 0 {
        go_slice(b, 0, Some(to))?
    } else if to < 0 || to > b.len() as i64 {
        go_slice(b, from, None)?
    } else {
        go_slice(b, from, Some(to))?
    };
    Ok(J::from(go_string(part)))
}

/// sprig's `trunc`: the first `c` bytes, or the last `-c` bytes for a negative `c`.
fn trunc(a: &[J]) -> Result<J, String> {
    let (c, st) = (to_i64(&a[0]), str_at(a, 1));
    let b = st.as_bytes();
    let len = b.len() as i64;
    Ok(J::from(if c < 0 && len.wrapping_add(c) > 0 {
        go_string(&b[(len + c) as usize..])
    } else if c >= 0 && len > c {
        go_string(&b[..c as usize])
    } else {
        st
    }))
}

/// `abbrev WIDTH S`: goutils' `Abbreviate` for a width of at least 4.
fn abbrev(a: &[J]) -> Result<J, String> {
    let (n, st) = (to_i64(&a[0]), str_at(a, 1));
    Ok(J::from(if n < 4 {
        st
    } else {
        go_string(&abbreviate_full(st.as_bytes(), 0, n))
    }))
}

fn abbrevboth(a: &[J]) -> Result<J, String> {
    let (left, right, st) = (to_i64(&a[0]), to_i64(&a[1]), str_at(a, 2));
    Ok(J::from(if right < 4 || (left > 0 && right < 7) {
        st
    } else {
        go_string(&abbreviate_full(st.as_bytes(), left, right))
    }))
}

/// Every line of the second argument indented by the first argument's number of spaces
/// (`strings.Repeat`'s panic for a negative count).
fn indented(a: &[J]) -> Result<String, String> {
    let n = to_i64(&a[0]);
    if n < 0 {
        return Err("strings: negative Repeat count".into());
    }
    let s = str_at(a, 1);
    let lines = s.matches('\n').count() + 1;
    if (n as u64).saturating_mul(lines as u64) > MAX_STRING as u64 {
        return Err(format!("the result is longer than {MAX_STRING} bytes"));
    }
    let pad = " ".repeat(n as usize);
    Ok(format!("{pad}{}", s.replace('\n', &format!("\n{pad}"))))
}

fn indent(a: &[J]) -> Result<J, String> {
    Ok(J::from(indented(a)?))
}

fn nindent(a: &[J]) -> Result<J, String> {
    Ok(J::from(format!("\n{}", indented(a)?)))
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

/// goutils' `DeleteWhiteSpace`, byte by byte: with any whitespace byte (U+0085 and U+00A0 too,
/// by byte value), the other bytes are written as the runes of their values.
fn nospace(a: &[J]) -> Result<J, String> {
    let s = str_at(a, 0);
    if !s.bytes().any(latin1_space) {
        return Ok(J::from(s));
    }
    Ok(J::from(
        s.bytes()
            .filter(|b| !latin1_space(*b))
            .map(char::from)
            .collect::<String>(),
    ))
}

fn snakecase(a: &[J]) -> Result<J, String> {
    Ok(J::from(camel_case_to_lower_case(&str_at(a, 0), '_')))
}

fn kebabcase(a: &[J]) -> Result<J, String> {
    Ok(J::from(camel_case_to_lower_case(&str_at(a, 0), '-')))
}

/// xstrings' `ToCamelCase`: connectors (`-`, `_`, whitespace) dropped and the next rune upper
/// cased, other runes lowered; leading connectors stay, a run of connectors keeps all but its
/// last.
fn camelcase(a: &[J]) -> Result<J, String> {
    let s = str_at(a, 0);
    let mut out = String::with_capacity(s.len());
    let mut runes = s.chars();
    let mut r0 = None;
    for c in runes.by_ref() {
        if !is_connector(c) {
            r0 = Some(go_to_upper(c));
            break;
        }
        out.push(c);
        r0 = Some(c);
    }
    let Some(mut r0) = r0 else {
        return Ok(J::from(out));
    };
    for c in runes {
        let r1 = r0;
        r0 = c;
        if is_connector(r0) && is_connector(r1) {
            out.push(r1);
            continue;
        }
        if is_connector(r1) {
            r0 = go_to_upper(r0);
        } else {
            r0 = go_to_lower(r0);
            out.push(r1);
        }
    }
    out.push(r0);
    Ok(J::from(out))
}

/// Whether `c` is in Unicode general category `class` (`Lu`, `Ll`, `L`, `P`), by the regex
/// crate's tables (`slot` caches the class's regex); `ascii` answers for ASCII when given.
fn in_category(c: char, slot: usize, class: &str, ascii: Option<fn(&char) -> bool>) -> bool {
    static RES: [OnceLock<regex::Regex>; 4] = [const { OnceLock::new() }; 4];
    match ascii {
        Some(test) if c.is_ascii() => test(&c),
        _ => RES[slot]
            .get_or_init(|| regex::Regex::new(&format!(r"\A\p{{{class}}}\z")).expect("a Unicode class"))
            .is_match(c.encode_utf8(&mut [0; 4])),
    }
}

/// Go's `unicode.IsUpper` (category Lu).
fn go_is_upper(c: char) -> bool {
    in_category(c, 0, "Lu", Some(char::is_ascii_uppercase))
}

/// Go's `unicode.IsLower` (category Ll).
fn go_is_lower(c: char) -> bool {
    in_category(c, 1, "Ll", Some(char::is_ascii_lowercase))
}

/// Go's `unicode.IsLetter` (category L).
fn go_is_letter(c: char) -> bool {
    in_category(c, 2, "L", Some(char::is_ascii_alphabetic))
}

/// Go's `unicode.IsPunct` (category P: not ASCII's symbols `$+<=>^`|~`).
fn go_is_punct(c: char) -> bool {
    in_category(c, 3, "P", None)
}

/// xstrings' `isConnector`: `-`, `_` or whitespace.
fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || c.is_whitespace()
}

/// xstrings' `isAlphabet`: a letter, not a CJK ideograph.
fn is_alphabet(c: char) -> bool {
    go_is_letter(c)
        && !matches!(c, '\u{4E00}'..='\u{9FCC}' | '\u{3400}'..='\u{4D85}' | '\u{20000}'..='\u{2B81D}')
}

/// xstrings' word types.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Word {
    Invalid,
    Number,
    UpperCase,
    Alphabet,
    Connector,
    Punct,
    Other,
}

/// xstrings' `nextValidRune`: the first rune that is not U+FFFD (Go's `RuneError`) and the bytes
/// up to its end; `prev` and every byte when there is none.
fn next_valid_rune(s: &str, prev: char) -> (char, usize) {
    let mut size = 0;
    for c in s.chars() {
        size += c.len_utf8();
        if c != '\u{FFFD}' {
            return (c, size);
        }
    }
    (prev, size)
}

/// xstrings' `nextWord`: the type of the word at the start of `s`, the word and the rest.
fn next_word(s: &str) -> (Word, &str, &str) {
    if s.is_empty() {
        return (Word::Invalid, "", "");
    }
    let (mut r, mut size) = next_valid_rune(s, '\u{FFFD}');
    let mut offset = size;
    if r == '\u{FFFD}' {
        return (Word::Invalid, &s[..offset], &s[offset..]);
    }
    let mut remaining = &s[size..];
    // Extends the word while `keep` holds for the next valid rune.
    let run = |r: &mut char, offset: &mut usize, remaining: &mut &str, keep: &dyn Fn(char) -> bool| {
        while !remaining.is_empty() {
            let (next, size) = next_valid_rune(remaining, *r);
            *r = next;
            if size == 0 || !keep(next) {
                break;
            }
            *offset += size;
            *remaining = &remaining[size..];
        }
    };
    let wt = if is_connector(r) {
        run(&mut r, &mut offset, &mut remaining, &is_connector);
        Word::Connector
    } else if go_is_punct(r) {
        run(&mut r, &mut offset, &mut remaining, &go_is_punct);
        Word::Punct
    } else if go_is_upper(r) {
        if !remaining.is_empty() {
            (r, size) = next_valid_rune(remaining, r);
            if go_is_upper(r) {
                let mut prev_size = size;
                offset += size;
                remaining = &remaining[size..];
                while !remaining.is_empty() {
                    (r, size) = next_valid_rune(remaining, r);
                    if !go_is_upper(r) {
                        break;
                    }
                    prev_size = size;
                    offset += size;
                    remaining = &remaining[size..];
                }
                // "HTTPStatus" is "HTTP" and "Status".
                if !remaining.is_empty() && is_alphabet(r) {
                    offset -= prev_size;
                    remaining = &s[offset..];
                }
            } else if is_alphabet(r) {
                offset += size;
                remaining = &remaining[size..];
                run(&mut r, &mut offset, &mut remaining, &|c| {
                    is_alphabet(c) && !go_is_upper(c)
                });
            }
        }
        Word::UpperCase
    } else if is_alphabet(r) {
        run(&mut r, &mut offset, &mut remaining, &|c| {
            is_alphabet(c) && !go_is_upper(c)
        });
        Word::Alphabet
    } else if r.is_numeric() {
        run(&mut r, &mut offset, &mut remaining, &char::is_numeric);
        Word::Number
    } else {
        run(&mut r, &mut offset, &mut remaining, &|c| {
            !(is_connector(c) || is_alphabet(c) || c.is_numeric() || go_is_punct(c))
        });
        Word::Other
    };
    (wt, &s[..offset], remaining)
}

/// xstrings' `toLower`: an upper case or connector word lowered, its connectors replaced.
fn push_lower(out: &mut String, wt: Word, word: &str, connector: char) {
    if wt != Word::UpperCase && wt != Word::Connector {
        out.push_str(word);
        return;
    }
    for c in word.chars() {
        out.push(if is_connector(c) {
            connector
        } else if go_is_upper(c) {
            go_to_lower(c)
        } else {
            c
        });
    }
}

/// xstrings' `camelCaseToLowerCase` (`snakecase`, `kebabcase`), ported line by line.
fn camel_case_to_lower_case(s: &str, connector: char) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 2);
    if s.is_empty() {
        return out;
    }
    let (mut wt, mut word, mut remaining) = next_word(s);
    while !remaining.is_empty() {
        if wt != Word::Connector {
            push_lower(&mut out, wt, word, connector);
        }
        let (prev, last) = (wt, word);
        (wt, word, remaining) = next_word(remaining);
        match prev {
            Word::Number => {
                while wt == Word::Alphabet || wt == Word::Number {
                    push_lower(&mut out, wt, word, connector);
                    (wt, word, remaining) = next_word(remaining);
                }
                if !matches!(wt, Word::Invalid | Word::Punct | Word::Connector) {
                    out.push(connector);
                }
            }
            Word::Connector => push_lower(&mut out, prev, last, connector),
            Word::Punct => {}
            _ => {
                if wt != Word::Number {
                    if wt != Word::Connector && wt != Word::Punct {
                        out.push(connector);
                    }
                    continue;
                }
                if remaining.is_empty() {
                    continue;
                }
                let last = word;
                (wt, word, remaining) = next_word(remaining);
                // "Bld4Floor" is "bld4_floor".
                if wt != Word::Alphabet {
                    push_lower(&mut out, Word::Number, last, connector);
                    if wt != Word::Connector && wt != Word::Punct {
                        out.push(connector);
                    }
                    continue;
                }
                // "HTTP2xx" is "http_2xx".
                out.push(connector);
                push_lower(&mut out, Word::Number, last, connector);
                while wt == Word::Alphabet || wt == Word::Number {
                    push_lower(&mut out, wt, word, connector);
                    (wt, word, remaining) = next_word(remaining);
                }
                if !matches!(wt, Word::Invalid | Word::Connector | Word::Punct) {
                    out.push(connector);
                }
            }
        }
    }
    push_lower(&mut out, wt, word, connector);
    out
}

fn plural(a: &[J]) -> Result<J, String> {
    Ok(J::from(if to_i64(&a[2]) == 1 {
        str_at(a, 0)
    } else {
        str_at(a, 1)
    }))
}

/// Go's `unicode.IsSpace` of a byte read as a rune (goutils reads strings byte by byte).
fn latin1_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x85 | 0xa0)
}

/// goutils' `Initials`: the first byte of every whitespace-separated word, each byte written as
/// the rune of its value (`日` gives `æ`), as goutils reads the string byte by byte.
fn initials(a: &[J]) -> Result<J, String> {
    let mut gap = true;
    let mut out = String::new();
    for &b in str_at(a, 0).as_bytes() {
        if latin1_space(b) {
            gap = true;
        } else if std::mem::take(&mut gap) {
            out.push(char::from(b));
        }
    }
    Ok(J::from(out))
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

/// Go's `strings.SplitN(s, sep, n)`: an empty separator splits into characters; `n` < 0 is
/// every part, 0 none, else at most `n` (the last the rest).
fn go_split<'s>(s: &'s str, sep: &str, n: i64) -> Vec<&'s str> {
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    if n == 0 {
        return Vec::new();
    }
    if sep.is_empty() {
        // explode
        let mut out: Vec<&str> = Vec::new();
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            if out.len() + 1 == n {
                break;
            }
            out.push(&rest[..c.len_utf8()]);
            rest = &rest[c.len_utf8()..];
        }
        if !rest.is_empty() && n > 0 {
            out.push(rest);
        }
        return out;
    }
    s.splitn(n, sep).collect()
}

/// The parts of a split as sprig's `split`/`splitn` dict: `_0`, `_1`, ...
fn parts_dict(parts: Vec<&str>) -> J {
    J::from(
        parts
            .into_iter()
            .enumerate()
            .map(|(i, p)| (format!("_{i}"), J::from(p)))
            .collect::<BTreeMap<_, _>>(),
    )
}

fn split_list(a: &[J]) -> Result<J, String> {
    Ok(J::from(
        go_split(&str_at(a, 1), &str_at(a, 0), -1)
            .into_iter()
            .map(J::from)
            .collect::<Vec<_>>(),
    ))
}

fn split(a: &[J]) -> Result<J, String> {
    Ok(parts_dict(go_split(&str_at(a, 1), &str_at(a, 0), -1)))
}

fn splitn(a: &[J]) -> Result<J, String> {
    Ok(parts_dict(go_split(&str_at(a, 2), &str_at(a, 0), to_i64(&a[1]))))
}

/// `join SEP LIST`: the strings of sprig's `strslice` (a list's non-nil elements; a scalar is a
/// one-element list, nil an empty one) joined.
fn join(a: &[J]) -> Result<J, String> {
    Ok(J::from(super::types::strslice(&a[1]).join(&str_at(a, 0))))
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

/// Go's string of bytes as text: each byte that is not part of valid UTF-8 becomes U+FFFD, as
/// Go's `range` and `encoding/json` read it (a slice of a string can cut a character).
pub(super) fn go_string(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        out.push_str(chunk.valid());
        out.extend(std::iter::repeat_n('\u{FFFD}', chunk.invalid().len()));
    }
    out
}

/// goutils' `AbbreviateFull` (sprig's `abbrev`, `abbrevboth`) on bytes, as in Go; Go's int
/// arithmetic wraps.
fn abbreviate_full(s: &[u8], offset: i64, width: i64) -> Vec<u8> {
    let len = s.len() as i64;
    if s.is_empty() || width < 4 {
        return Vec::new();
    }
    if len <= width {
        return s.to_vec();
    }
    let cut = |from: i64, to: i64| s[from as usize..to as usize].to_vec();
    let mut offset = offset.min(len);
    if len.wrapping_sub(offset) < width - 3 {
        offset = len - (width - 3);
    }
    let dots = b"...".as_slice();
    if offset <= 4 {
        return [cut(0, width - 3).as_slice(), dots].concat();
    }
    if width < 7 {
        return Vec::new();
    }
    if offset + width - 3 < len {
        return [dots, &abbreviate_full(&s[offset as usize..], 0, width - 3)].concat();
    }
    [dots, &s[(len - (width - 3)) as usize..]].concat()
}

/// goutils' `WrapCustom` (`wrap`, `wrapWith`) on bytes: wrap at spaces; long words wrapped only
/// when asked.
fn wrap(s: &str, width: i64, newline: &str, long_words: bool) -> String {
    if s.is_empty() {
        return String::new();
    }
    let newline = if newline.is_empty() { "\n" } else { newline }.as_bytes();
    let width = width.max(1) as usize;
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::new();
    let mut offset = 0;
    while b.len() - offset > width {
        if out.len() > MAX_STRING {
            break;
        }
        if b[offset] == b' ' {
            offset += 1;
            continue;
        }
        let end = width + offset + 1;
        if let Some(space) = b[offset..end].iter().rposition(|&c| c == b' ') {
            out.extend_from_slice(&b[offset..offset + space]);
            out.extend_from_slice(newline);
            offset += space + 1;
        } else if long_words {
            out.extend_from_slice(&b[offset..offset + width]);
            out.extend_from_slice(newline);
            offset += width;
        } else {
            let end = width + offset;
            match b[end..].iter().position(|&c| c == b' ') {
                None => {
                    out.extend_from_slice(&b[offset..]);
                    offset = b.len();
                }
                Some(i) => {
                    out.extend_from_slice(&b[offset..end + i]);
                    out.extend_from_slice(newline);
                    offset = end + i + 1;
                }
            }
        }
    }
    out.extend_from_slice(&b[offset..]);
    go_string(&out)
}

/// goutils' `SwapCase`: upper and title case to lower; lower to upper, or to title case after
/// whitespace.
fn swap_case(s: &str) -> String {
    let mut whitespace = true;
    s.chars()
        .map(|c| {
            if go_is_upper(c)
                || matches!(c, 'ǅ' | 'ǈ' | 'ǋ' | 'ǲ' | 'ᾈ'..='ᾏ' | 'ᾘ'..='ᾟ' | 'ᾨ'..='ᾯ' | 'ᾼ' | 'ῌ' | 'ῼ')
            {
                whitespace = false;
                go_to_lower(c)
            } else if go_is_lower(c) {
                let out = if whitespace {
                    go_to_title(c)
                } else {
                    go_to_upper(c)
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
