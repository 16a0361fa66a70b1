//! Shared by the generate and render stages: string helpers that reproduce the Go behaviour Argo
//! CD's ApplicationSet controller relies on: name sanitising (`normalize`), URL slugs (`slug`,
//! `slugify`), `fmt.Sprintf("%v")` of JSON values and `strconv.Quote`; and, for the edges that
//! print errors, an error's chain of causes with each cause once ([`causes`]).
//!
//! Everything here is pure: no I/O, no global state, and no panics on any input.

use std::fmt::Write as _;

use serde_json::Value;

/// Longest name Argo CD's `SanitizeName` keeps (the DNS subdomain limit), in bytes.
const MAX_DNS_NAME_LEN: usize = 253;

/// Argo CD's `SanitizeName`, behind `nameNormalized`, `basenameNormalized` and the `normalize`
/// template function.
///
/// Lowercases, turns every character outside `[-a-z0-9.]` into one `-` (no collapsing), keeps at
/// most 253 bytes and trims leading and trailing `-` and `.`.
pub fn normalize(s: &str) -> String {
    // Most names (directory names, cluster names) are already normal: one copy, no rewrite.
    let normal_byte = |b: &u8| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.');
    let trimmed = |b: Option<&u8>| b.is_some_and(|b| *b != b'-' && *b != b'.');
    if s.len() <= MAX_DNS_NAME_LEN
        && s.as_bytes().iter().all(normal_byte)
        && trimmed(s.as_bytes().first())
        && trimmed(s.as_bytes().last())
    {
        return s.to_owned();
    }
    let replaced: String = s
        .chars()
        .map(|c| {
            // Go's `unicode.ToLower` is the simple case mapping: `İ` becomes a plain `i`.
            let lower = if c == 'İ' {
                'i'
            } else {
                c.to_lowercase().next().unwrap_or(c)
            };
            match lower {
                'a'..='z' | '0'..='9' | '-' | '.' => lower,
                _ => '-',
            }
        })
        .collect();
    truncate_bytes(&replaced, MAX_DNS_NAME_LEN)
        .trim_matches(['-', '.'])
        .to_owned()
}

/// `gosimple/slug`'s `slug.Make` as Argo CD configures it (`_` substituted with `-`).
///
/// The result holds only `[a-z0-9_-]`, has no runs of `-` and no leading or trailing `-`/`_`.
/// `max_len` is a limit in bytes (`0` means none); with `smart_truncate` an over-long slug is cut
/// at the last `-` at or before `max_len`, otherwise it is cut hard before the clean-up.
pub fn slug(s: &str, max_len: usize, smart_truncate: bool) -> String {
    let mut substituted = String::with_capacity(s.len());
    for c in s.trim().chars() {
        match c {
            '_' | '\u{2010}'..='\u{2015}' => substituted.push('-'),
            '&' => substituted.push_str("and"),
            '@' => substituted.push_str("at"),
            '"' | '\'' | '’' => {}
            c => substituted.push(c),
        }
    }
    let mut ascii = deunicode::deunicode_with_tofu(&substituted, "-").to_ascii_lowercase();
    if !smart_truncate && max_len > 0 && ascii.len() > max_len {
        ascii.truncate(ascii.floor_char_boundary(max_len));
    }
    let mut cleaned = String::with_capacity(ascii.len());
    for c in ascii.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '-'
        };
        if !(c == '-' && cleaned.ends_with('-')) {
            cleaned.push(c);
        }
    }
    let mut out = cleaned.trim_matches(['-', '_']);
    if smart_truncate && max_len > 0 && out.len() > max_len {
        // `out` is ASCII here, so every byte index is a char boundary.
        out = match out
            .as_bytes()
            .get(..=max_len)
            .and_then(|b| b.iter().rposition(|&b| b == b'-'))
        {
            Some(dash) => out.get(..dash).unwrap_or(out),
            None => truncate_bytes(out, max_len),
        };
    }
    out.trim_end_matches(['-', '_']).to_owned()
}

/// Argo CD's `slugify` template function: [`slug`] of the [`normalize`]d name.
pub fn slugify(name: &str, max_len: usize, smart_truncate: bool) -> String {
    slug(&normalize(name), max_len, smart_truncate)
}

/// What Go's `fmt.Sprintf("%v", x)` prints for `x` decoded from JSON into `interface{}`.
///
/// Strings print bare, `null` as `<nil>`, numbers as `float64` (`1e+06`, `0.0001`, `1e-05`),
/// arrays as `[a b]` and objects as `map[k1:v1 k2:v2]` with sorted keys.
pub fn go_format_value(v: &Value) -> String {
    let mut out = String::new();
    write_go_value(&mut out, v, false);
    out
}

/// What Go's `%v` prints for `x` of a Kubernetes object read through client-go's unstructured
/// (dynamic) API, whose JSON decoding keeps integers as `int64`: `1234567` prints as `1234567`,
/// other numbers as [`go_format_value`] prints them.
pub fn go_format_unstructured(v: &Value) -> String {
    let mut out = String::new();
    write_go_value(&mut out, v, true);
    out
}

/// Appends [`go_format_value`] of `v` to `out` (with `int64s`, [`go_format_unstructured`]).
fn write_go_value(out: &mut String, v: &Value, int64s: bool) {
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64().filter(|_| int64s), n.as_f64()) {
            (Some(i), _) => out.push_str(&i.to_string()),
            (None, Some(f)) => out.push_str(&go_format_float(f)),
            (None, None) => out.push_str(&n.to_string()),
        },
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_go_value(out, item, int64s);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push_str("map[");
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(key);
                out.push(':');
                write_go_value(out, item, int64s);
            }
            out.push(']');
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`: shortest round-trip digits, exponent form when the
/// decimal exponent is below -4 or at least 6 (Go's precision for shortest `%g`).
pub fn go_format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    let (digits, exp) = go_shortest_digits(f);
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let (first, rest) = digits.split_at(1.min(digits.len()));
    if !(-4..6).contains(&exp) {
        let dot = if rest.is_empty() { "" } else { "." };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}{rest}e{exp_sign}{:02}", exp.unsigned_abs());
    }
    if exp < 0 {
        let zeros = "0".repeat(exp.unsigned_abs() as usize - 1);
        return format!("{sign}0.{zeros}{digits}");
    }
    let int_len = exp as usize + 1;
    if digits.len() <= int_len {
        format!("{sign}{digits:0<int_len$}")
    } else {
        let (int, frac) = digits.split_at(int_len);
        format!("{sign}{int}.{frac}")
    }
}

/// The shortest decimal digits that read back as `|f|` (a finite float), as Go's `strconv` picks
/// them, and the decimal exponent of the first digit: `("15", 2)` for 150, `("0", 0)` for 0.
///
/// Rust's `{:e}` gives the shortest round-trip digits but breaks ties between two shortest
/// candidates upwards, where Go picks the one nearest the exact value (half to even): the exact
/// value is re-rounded to the same number of digits.
pub fn go_shortest_digits(f: f64) -> (String, i32) {
    let f = f.abs();
    let shortest = format!("{f:e}");
    let len = shortest
        .split('e')
        .next()
        .map_or(1, |m| m.bytes().filter(u8::is_ascii_digit).count());
    let nearest = format!("{f:.*e}", len.saturating_sub(1));
    let sci = if nearest.parse() == Ok(f) {
        nearest
    } else {
        shortest
    };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits = mantissa.chars().filter(|c| *c != '.').collect();
    (digits, exp.parse().unwrap_or(0))
}

/// `path.Base` of Go's `path` package: the last element, `.` for an empty path, `/` for slashes only.
pub fn go_base(p: &str) -> &str {
    if p.is_empty() {
        return ".";
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/";
    }
    t.rsplit('/').next().unwrap_or(t)
}

/// Go's `strconv.Quote`: a double-quoted Go string literal.
///
/// `"` and `\` are backslashed, `\a \b \f \n \r \t \v` use their short escapes, other ASCII
/// control characters `\x..`, other non-printable characters `\u....` or `\U........`; printable
/// Unicode is kept as is.
pub fn go_quote(s: &str) -> String {
    go_quote_with(s, '"', false)
}

/// Go's `strconv.Quote` family: `s` between `quote`s, with `quote` and `\` backslashed and
/// what is not printable escaped as [`go_quote`] does; `ascii_only` escapes every non-ASCII
/// character too (`QuoteToASCII`). With `'` it is `QuoteRune` / `QuoteRuneToASCII` of a
/// one-character `s`.
pub fn go_quote_with(s: &str, quote: char, ascii_only: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        let printable = if ascii_only {
            c.is_ascii() && is_go_print(c)
        } else {
            is_go_print(c)
        };
        match c {
            c if c == quote || c == '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if printable => out.push(c),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if c < ' ' || c == '\u{7f}' => _ = write!(out, "\\x{:02x}", c as u32),
            c if (c as u32) < 0x10000 => _ = write!(out, "\\u{:04x}", c as u32),
            c => _ = write!(out, "\\U{:08x}", c as u32),
        }
    }
    out.push(quote);
    out
}

/// Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space.
pub fn is_go_print(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    // Rust's `escape_debug` keeps exactly those categories unescaped too, except grapheme
    // extenders at the start of a string; the leading `a` keeps `c` off the start.
    let probe: String = ['a', c].into_iter().collect();
    probe.escape_debug().nth(1) == Some(c)
}

/// The longest prefix of `s` of at most `max` bytes that does not split a character.
fn truncate_bytes(s: &str, max: usize) -> &str {
    s.get(..s.floor_char_boundary(max)).unwrap_or(s)
}

/// An error and its causes (outermost first) as one line, `a: b: c`, each cause once: a cause
/// whose text is already contained in what is written is left out. Many errors repeat their
/// source in their own message (kube's and hyper's do), so printing every cause of the chain
/// would say the same thing three or four times.
pub fn causes<I, S>(chain: I) -> String
where
    I: IntoIterator<Item = S>,
    S: std::fmt::Display,
{
    let mut out = String::new();
    for cause in chain {
        let cause = cause.to_string();
        let cause = cause.trim();
        if cause.is_empty() || out.contains(cause) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(cause);
    }
    out
}

/// The chain of `e`'s causes, `e` first (what [`causes`] joins).
pub fn error_chain<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(e), |e| e.source())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn normalize_lowercases_and_replaces_each_invalid_char_with_one_dash() {
        assert_eq!(normalize("My_App Name"), "my-app-name");
        assert_eq!(normalize("a__b"), "a--b");
        assert_eq!(normalize("a/b:c"), "a-b-c");
        assert_eq!(normalize("v1.2.3"), "v1.2.3");
    }

    #[test]
    fn normalize_turns_each_non_ascii_char_into_a_single_dash() {
        assert_eq!(normalize("aéb"), "a-b");
        assert_eq!(normalize("a日本b"), "a--b");
        assert_eq!(normalize("a😀b"), "a-b");
    }

    #[test]
    fn normalize_uses_go_simple_case_mapping() {
        assert_eq!(normalize("İstanbul"), "istanbul");
        // KELVIN SIGN lowercases to an ASCII `k` in Go as well.
        assert_eq!(normalize("\u{212A}8s"), "k8s");
    }

    #[test]
    fn normalize_trims_leading_and_trailing_dashes_and_dots() {
        assert_eq!(normalize("..-_Hello-World_.-"), "hello-world");
        assert_eq!(normalize("-a.b-"), "a.b");
        assert_eq!(normalize("___"), "");
        assert_eq!(normalize(""), "");
    }

    #[test]
    fn normalize_truncates_to_253_bytes_before_trimming() {
        let long = "a".repeat(300);
        assert_eq!(normalize(&long), "a".repeat(253));
        let dash_at_cut = format!("{}-{}", "b".repeat(252), "c".repeat(10));
        assert_eq!(normalize(&dash_at_cut), "b".repeat(252));
        let multibyte = "é".repeat(300);
        assert_eq!(normalize(&multibyte), "");
        let mixed = format!("{}{}", "x".repeat(250), "ééééé");
        assert_eq!(normalize(&mixed), "x".repeat(250));
    }

    #[test]
    fn slug_replaces_separators_and_underscores_with_single_dashes() {
        assert_eq!(slug("feature/Add_Login", 50, true), "feature-add-login");
        assert_eq!(slug("  a  --  b  ", 0, true), "a-b");
        assert_eq!(slug("__init__", 0, false), "init");
        assert_eq!(slug("a.b,c;d", 0, true), "a-b-c-d");
    }

    #[test]
    fn slug_applies_english_substitutions() {
        assert_eq!(slug("Ünïcödé & friends", 50, true), "unicode-and-friends");
        assert_eq!(slug("me@host", 0, true), "meathost");
        assert_eq!(slug("don't \"quote\" it’s", 0, true), "dont-quote-its");
        assert_eq!(slug("a\u{2014}b\u{2010}c", 0, true), "a-b-c");
    }

    #[test]
    fn slug_transliterates_to_ascii() {
        assert_eq!(slug("Straße", 0, true), "strasse");
        assert_eq!(slug("Ελληνικά", 0, true), "ellenika");
    }

    #[test]
    fn slug_smart_truncation_cuts_at_the_last_dash_within_the_limit() {
        let branch = "abcdefghi-".repeat(6);
        let got = slug(&branch, 50, true);
        assert_eq!(got, "abcdefghi-".repeat(5).trim_end_matches('-'));
        assert_eq!(got.len(), 49);
        // A dash exactly at index `max_len` still counts.
        let exact = format!("{}-b", "a".repeat(50));
        assert_eq!(slug(&exact, 50, true), "a".repeat(50));
    }

    #[test]
    fn slug_smart_truncation_cuts_hard_when_there_is_no_dash() {
        let word = "x".repeat(60);
        assert_eq!(slug(&word, 50, true), "x".repeat(50));
        assert_eq!(slug("short-name", 50, true), "short-name");
    }

    #[test]
    fn slug_without_smart_truncation_cuts_hard_before_cleaning_up() {
        assert_eq!(slug("abc-def", 5, false), "abc-d");
        assert_eq!(slug("ab cd!", 3, false), "ab");
        assert_eq!(slug("Ab&cd", 4, false), "aban");
    }

    #[test]
    fn slug_with_zero_max_len_has_no_limit() {
        let long = "word-".repeat(40);
        assert_eq!(slug(&long, 0, true).len(), 199);
        assert_eq!(slug(&long, 0, false).len(), 199);
    }

    #[test]
    fn slug_of_symbols_only_is_empty() {
        assert_eq!(slug("!!! ???", 10, true), "");
        assert_eq!(slug("", 10, false), "");
    }

    #[test]
    fn slugify_normalizes_before_slugging() {
        assert_eq!(slugify("Feature/My_Branch", 50, true), "feature-my-branch");
        // `normalize` turns non-ASCII into dashes, so nothing is left to transliterate.
        assert_eq!(slugify("café au lait", 50, true), "caf-au-lait");
        // Dots survive `normalize` but not `slug`.
        assert_eq!(slugify("v1.2.3", 50, true), "v1-2-3");
        assert_eq!(slugify(&"ab-".repeat(30), 10, true), "ab-ab-ab");
    }

    #[test]
    fn go_format_value_prints_scalars_like_go() {
        assert_eq!(go_format_value(&json!("plain text")), "plain text");
        assert_eq!(go_format_value(&json!(true)), "true");
        assert_eq!(go_format_value(&json!(false)), "false");
        assert_eq!(go_format_value(&json!(null)), "<nil>");
    }

    #[test]
    fn go_format_value_prints_numbers_as_float64_shortest_g() {
        let cases = [
            (json!(1), "1"),
            (json!(1.5), "1.5"),
            (json!(100000), "100000"),
            (json!(123456), "123456"),
            (json!(1234567), "1.234567e+06"),
            (json!(1000000), "1e+06"),
            (json!(12345678), "1.2345678e+07"),
            (json!(1e21), "1e+21"),
            (json!(1e100), "1e+100"),
            (json!(0.0001), "0.0001"),
            (json!(0.00001), "1e-05"),
            (json!(0.000123), "0.000123"),
            (json!(-2.5), "-2.5"),
            (json!(3.0), "3"),
            (json!(0), "0"),
            (json!(0.1), "0.1"),
            (json!(123.456), "123.456"),
            (json!(-1234567.5), "-1.2345675e+06"),
            (json!(u64::MAX), "1.8446744073709552e+19"),
            (json!(1.5e-300), "1.5e-300"),
            (json!(5e-324), "5e-324"),
            (json!(1.7976931348623157e308), "1.7976931348623157e+308"),
            // Two 16-digit candidates round-trip; Go takes the one nearest the exact value.
            (json!(966_764_711_116_664.2), "9.667647111166642e+14"),
            (json!(11_226_115_862_893.312), "1.1226115862893312e+13"),
        ];
        for (value, want) in cases {
            assert_eq!(go_format_value(&value), want, "formatting {value}");
        }
    }

    #[test]
    fn go_format_float_handles_non_finite_and_negative_zero() {
        assert_eq!(go_format_float(f64::NAN), "NaN");
        assert_eq!(go_format_float(f64::INFINITY), "+Inf");
        assert_eq!(go_format_float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(go_format_float(-0.0), "-0");
    }

    #[test]
    fn go_format_value_prints_arrays_and_maps_recursively() {
        assert_eq!(go_format_value(&json!(["a", 1, true, null])), "[a 1 true <nil>]");
        assert_eq!(go_format_value(&json!([])), "[]");
        assert_eq!(go_format_value(&json!({})), "map[]");
        let nested = json!({"zeta": [1, "x"], "alpha": {"b": 2, "a": 1e6}, "mid": "s"});
        assert_eq!(
            go_format_value(&nested),
            "map[alpha:map[a:1e+06 b:2] mid:s zeta:[1 x]]"
        );
    }

    #[test]
    fn go_quote_escapes_quotes_backslashes_and_short_escapes() {
        assert_eq!(go_quote("plain"), r#""plain""#);
        assert_eq!(go_quote(r#"say "hi" \ bye"#), r#""say \"hi\" \\ bye""#);
        assert_eq!(go_quote("\u{7}\u{8}\u{c}\n\r\t\u{b}"), r#""\a\b\f\n\r\t\v""#);
        assert_eq!(go_quote("it's"), r#""it's""#);
        assert_eq!(go_quote(""), r#""""#);
    }

    #[test]
    fn go_quote_hex_escapes_other_ascii_controls() {
        assert_eq!(go_quote("\0\u{1b}\u{7f}"), r#""\x00\x1b\x7f""#);
    }

    #[test]
    fn go_quote_keeps_printable_unicode_and_escapes_the_rest() {
        assert_eq!(go_quote("héllo 日本 😀"), "\"héllo 日本 😀\"");
        // A combining mark is printable (category Mn), even right after the opening quote.
        assert_eq!(go_quote("\u{301}e\u{301}"), "\"\u{301}e\u{301}\"");
        assert_eq!(go_quote("\u{85}\u{a0}\u{ad}"), r#""\u0085\u00a0\u00ad""#);
        assert_eq!(
            go_quote("a\u{200b}b\u{feff}\u{e000}"),
            r#""a\u200bb\ufeff\ue000""#
        );
        assert_eq!(go_quote("\u{e0001}\u{10ffff}"), r#""\U000e0001\U0010ffff""#);
    }

    #[test]
    fn causes_are_joined_each_once() {
        assert_eq!(
            causes([
                "connecting to the Kubernetes API",
                "Failed to infer configuration: kubeconfig: (No such file)",
                "kubeconfig: (No such file)",
                "No such file",
                "",
                "the end",
            ]),
            "connecting to the Kubernetes API: Failed to infer configuration: kubeconfig: (No such file): the end"
        );
        let io = std::io::Error::other("refused");
        assert_eq!(causes(error_chain(&io)), "refused");
    }
}
