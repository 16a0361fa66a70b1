//! Go template functions for the goTemplate engine (render stage, no I/O): text/template's
//! builtins, Argo CD's sprig set and Argo CD's own (`normalize`, `slugify`, `toYaml`, ...), each
//! with Go's results and error texts.

use std::collections::BTreeMap;

use minijinja::{Value as J, value::ValueKind};

use super::*;
use crate::text;

/// Functions available in templates: Go's builtins, Argo CD's sprig set, and Argo CD's own.
pub const FUNCTIONS: &[&str] = &[
    // Go builtins
    "not",
    "len",
    "index",
    "print",
    "printf",
    "println",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "urlquery",
    "html",
    "js",
    "slice",
    // Argo CD
    "normalize",
    "slugify",
    "toYaml",
    "fromYaml",
    "fromYamlArray",
    // sprig: strings
    "lower",
    "upper",
    "title",
    "untitle",
    "trim",
    "trimAll",
    "trimPrefix",
    "trimSuffix",
    "replace",
    "quote",
    "squote",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "repeat",
    "substr",
    "trunc",
    "abbrev",
    "indent",
    "nindent",
    "cat",
    "nospace",
    "snakecase",
    "camelcase",
    "kebabcase",
    "splitList",
    "split",
    "join",
    "toString",
    "toStrings",
    "regexMatch",
    "regexFind",
    "regexFindAll",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "regexSplit",
    "b64enc",
    "b64dec",
    "sha256sum",
    "sha1sum",
    "plural",
    // sprig: defaults and logic
    "default",
    "empty",
    "coalesce",
    "ternary",
    "fail",
    "toJson",
    "toPrettyJson",
    "toRawJson",
    "fromJson",
    "mustToJson",
    "mustFromJson",
    // sprig: numbers
    "add",
    "add1",
    "sub",
    "mul",
    "div",
    "mod",
    "max",
    "min",
    "int",
    "int64",
    "float64",
    "atoi",
    "floor",
    "ceil",
    "round",
    // sprig: lists and dicts
    "list",
    "first",
    "last",
    "rest",
    "initial",
    "append",
    "prepend",
    "concat",
    "reverse",
    "uniq",
    "compact",
    "has",
    "without",
    "sortAlpha",
    "dict",
    "get",
    "set",
    "unset",
    "hasKey",
    "keys",
    "values",
    "pluck",
    "merge",
    "pick",
    "omit",
    "kindIs",
    "kindOf",
    "typeOf",
    "deepCopy",
    "dig",
    "until",
    "untilStep",
    "seq",
    "tuple",
    "splitn",
    "all",
    "any",
    "mergeOverwrite",
    "mustRegexReplaceAll",
    "mustRegexMatch",
    "initials",
    "semverCompare",
    "trimall",
];

/// A value as a string the way sprig's `strval` / `toString` gives it.
pub(super) fn as_string(v: &J) -> String {
    match v.kind() {
        ValueKind::String => v.as_str().unwrap_or_default().to_string(),
        ValueKind::Undefined | ValueKind::None => String::new(),
        _ => go_sprint(v),
    }
}

pub(super) fn to_f64(v: &J) -> f64 {
    match v.kind() {
        ValueKind::Number => f64::try_from(v.clone()).unwrap_or(0.0),
        ValueKind::String => v.as_str().unwrap_or_default().trim().parse().unwrap_or(0.0),
        ValueKind::Bool => f64::from(u8::from(v.is_true())),
        _ => 0.0,
    }
}

/// sprig's `toInt64` (cast.ToInt64: floats truncate, strings parse, else 0).
pub(super) fn to_i64(v: &J) -> i64 {
    match v.kind() {
        ValueKind::Number => v.as_i64().unwrap_or_else(|| to_f64(v) as i64),
        ValueKind::String => {
            let s = v.as_str().unwrap_or_default().trim();
            s.parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().map(|f| f as i64))
                .unwrap_or(0)
        }
        ValueKind::Bool => i64::from(v.is_true()),
        _ => 0,
    }
}

/// A value as JSON the way Go's `encoding/json` writes a `float64`: integral values without a
/// fraction (`1`, not `1.0`).
pub(super) fn to_json(v: &J) -> serde_json::Value {
    use serde_json::Value as V;
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => V::Null,
        ValueKind::Bool => V::Bool(v.is_true()),
        ValueKind::Number => {
            let f = to_f64(v);
            if !is_float(v) {
                V::from(v.as_i64().unwrap_or(0))
            } else if f.fract() == 0.0 && f.abs() < 1e15 {
                V::from(f as i64)
            } else {
                serde_json::Number::from_f64(f).map_or(V::Null, V::Number)
            }
        }
        ValueKind::String => V::String(v.as_str().unwrap_or_default().to_string()),
        ValueKind::Seq => V::Array(items(v).iter().map(to_json).collect()),
        ValueKind::Map => V::Object(dict_of(v).iter().map(|(k, x)| (k.clone(), to_json(x))).collect()),
        _ => V::String(v.to_string()),
    }
}

pub(super) fn items(v: &J) -> Vec<J> {
    match v.kind() {
        ValueKind::Seq => v.try_iter().map(|i| i.collect()).unwrap_or_default(),
        _ => Vec::new(),
    }
}

pub(super) fn arity(args: &[J], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!("wrong number of args: want {n} got {}", args.len()));
    }
    Ok(())
}

/// Go's `eq` on basic kinds (numbers of one kind, strings, bools, nil).
pub(super) fn basic_eq(a: &J, b: &J) -> Result<bool, String> {
    match (a.kind(), b.kind()) {
        (ValueKind::Number, ValueKind::Number) => {
            if is_float(a) != is_float(b) {
                return Err("incompatible types for comparison".into());
            }
            Ok(to_f64(a) == to_f64(b))
        }
        (ValueKind::String, ValueKind::String) | (ValueKind::Bool, ValueKind::Bool) => Ok(a == b),
        (ValueKind::None | ValueKind::Undefined, ValueKind::None | ValueKind::Undefined) => Ok(true),
        (ValueKind::None | ValueKind::Undefined, _) | (_, ValueKind::None | ValueKind::Undefined) => {
            Err("incompatible types for comparison".into())
        }
        (ValueKind::Seq | ValueKind::Map, _) | (_, ValueKind::Seq | ValueKind::Map) => {
            Err("non-comparable type".into())
        }
        _ => Err("incompatible types for comparison".into()),
    }
}

pub(super) fn basic_lt(a: &J, b: &J) -> Result<bool, String> {
    match (a.kind(), b.kind()) {
        (ValueKind::Number, ValueKind::Number) => {
            if is_float(a) != is_float(b) {
                return Err("incompatible types for comparison".into());
            }
            Ok(to_f64(a) < to_f64(b))
        }
        (ValueKind::String, ValueKind::String) => Ok(a.as_str() < b.as_str()),
        _ => Err("invalid type for comparison".into()),
    }
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%s %d %v %q %f %t %x %%`, with flags,
/// width and precision.
pub fn sprintf(format: &str, args: &[J]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = chars.peek() {
            if "+-# 0".contains(f) {
                flags.push(f);
                chars.next();
            } else {
                break;
            }
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut precision: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            precision = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let bad = || format!("%!{verb}({}={})", type_name(arg), go_sprint(arg));
        let body = match verb {
            'v' => go_sprint(arg),
            's' => match arg.kind() {
                ValueKind::String => {
                    let s = arg.as_str().unwrap_or_default();
                    match precision {
                        Some(p) => s.chars().take(p).collect(),
                        None => s.to_string(),
                    }
                }
                ValueKind::Number | ValueKind::Bool => bad(),
                _ => go_sprint(arg),
            },
            'q' => match arg.kind() {
                ValueKind::String => text::go_quote(arg.as_str().unwrap_or_default()),
                _ => bad(),
            },
            'd' => match arg.kind() {
                ValueKind::Number if !is_float(arg) => {
                    let i = arg.as_i64().unwrap_or(0);
                    if flags.contains('+') && i >= 0 {
                        format!("+{i}")
                    } else {
                        i.to_string()
                    }
                }
                _ => bad(),
            },
            'x' | 'X' => match arg.kind() {
                ValueKind::Number if !is_float(arg) => {
                    let s = format!("{:x}", arg.as_i64().unwrap_or(0));
                    if verb == 'X' { s.to_uppercase() } else { s }
                }
                ValueKind::String => {
                    let s: String = arg
                        .as_str()
                        .unwrap_or_default()
                        .bytes()
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    if verb == 'X' { s.to_uppercase() } else { s }
                }
                _ => bad(),
            },
            'f' | 'F' => match arg.kind() {
                ValueKind::Number if is_float(arg) => format!("{:.*}", precision.unwrap_or(6), to_f64(arg)),
                _ => bad(),
            },
            't' => match arg.kind() {
                ValueKind::Bool => go_sprint(arg),
                _ => bad(),
            },
            _ => format!("%!{verb}({}={})", type_name(arg), go_sprint(arg)),
        };
        let w: usize = width.parse().unwrap_or(0);
        let len = body.chars().count();
        if len < w {
            let pad = w - len;
            if flags.contains('-') {
                out.push_str(&body);
                out.push_str(&" ".repeat(pad));
            } else if flags.contains('0') && matches!(verb, 'd' | 'f' | 'x' | 'X') {
                let (sign, digits) = match body.strip_prefix('-') {
                    Some(d) => ("-", d.to_string()),
                    None => ("", body.clone()),
                };
                out.push_str(sign);
                out.push_str(&"0".repeat(pad));
                out.push_str(&digits);
            } else {
                out.push_str(&" ".repeat(pad));
                out.push_str(&body);
            }
        } else {
            out.push_str(&body);
        }
    }
    let extra: Vec<&J> = args.collect();
    if !extra.is_empty() {
        out.push_str("%!(EXTRA ");
        out.push_str(
            &extra
                .iter()
                .map(|a| format!("{}={}", type_name(a), go_sprint(a)))
                .collect::<Vec<_>>()
                .join(", "),
        );
        out.push(')');
    }
    out
}

/// Go's `fmt.Sprint`: spaces between operands when neither is a string.
pub(super) fn sprint(args: &[J]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && a.kind() != ValueKind::String && args[i - 1].kind() != ValueKind::String {
            out.push(' ');
        }
        out.push_str(&go_sprint(a));
    }
    out
}

pub(super) fn yaml_of(v: &J) -> Result<String, String> {
    let s = serde_saphyr::to_string(&to_json(v)).map_err(|e| e.to_string())?;
    Ok(s.trim_end_matches('\n').to_string())
}

/// The fewest arguments a function takes (so that a call with fewer is Go's error, not a panic).
pub(super) fn min_args(name: &str) -> usize {
    match name {
        "substr"
        | "regexFindAll"
        | "regexSplit"
        | "plural"
        | "ternary"
        | "regexReplaceAll"
        | "regexReplaceAllLiteral"
        | "replace"
        | "untilStep"
        | "splitn"
        | "mustRegexReplaceAll" => 3,
        "semverCompare" | "mustRegexMatch" | "trimall" => 2,
        "hasKey" | "get" | "set" | "unset" | "has" | "append" | "prepend" | "repeat" | "trunc" | "abbrev"
        | "indent" | "nindent" | "join" | "sub" | "div" | "mod" | "kindIs" | "eq" | "ne" | "lt" | "le"
        | "gt" | "ge" | "contains" | "hasPrefix" | "hasSuffix" | "trimPrefix" | "trimSuffix" | "trimAll"
        | "splitList" | "split" | "regexMatch" | "regexFind" | "default" => 2,
        "not" | "len" | "toString" | "toStrings" | "empty" | "first" | "last" | "rest" | "initial"
        | "reverse" | "uniq" | "compact" | "int" | "int64" | "float64" | "floor" | "ceil" | "round"
        | "kindOf" | "typeOf" | "deepCopy" | "values" | "toJson" | "toRawJson" | "mustToJson"
        | "toPrettyJson" | "pick" | "omit" | "merge" | "without" | "add1" | "pluck" | "index" | "slice"
        | "printf" | "lower" | "upper" | "title" | "untitle" | "trim" | "quote" | "squote" | "nospace"
        | "snakecase" | "camelcase" | "kebabcase" | "b64enc" | "b64dec" | "sha256sum" | "sha1sum"
        | "fail" | "fromJson" | "mustFromJson" | "atoi" | "normalize" | "slugify" | "toYaml" | "fromYaml"
        | "fromYamlArray" | "dig" | "until" | "initials" | "mergeOverwrite" => 1,
        _ => 0,
    }
}

/// Largest string a function may build (`repeat`, `indent`): a template cannot exhaust memory.
pub(super) const MAX_STRING: usize = 1 << 20;

pub(super) fn call(name: &str, a: &[J]) -> Result<J, String> {
    let min = min_args(name);
    if a.len() < min {
        return Err(format!(
            "wrong number of args for {name}: want at least {min} got {}",
            a.len()
        ));
    }
    let out = call_checked(name, a)?;
    if out.as_str().is_some_and(|s| s.len() > MAX_STRING) {
        return Err(format!("the result is longer than {MAX_STRING} bytes"));
    }
    Ok(out)
}

pub(super) fn call_checked(name: &str, a: &[J]) -> Result<J, String> {
    let s = |i: usize| a.get(i).map(as_string).unwrap_or_default();
    let last = || a.last().cloned().unwrap_or_default();
    Ok(match name {
        // Go builtins
        "not" => {
            arity(a, 1)?;
            J::from(!truth(&a[0]))
        }
        "len" => {
            arity(a, 1)?;
            match a[0].kind() {
                ValueKind::String => J::from(a[0].as_str().unwrap_or_default().len() as i64),
                ValueKind::Seq | ValueKind::Map => J::from(a[0].len().unwrap_or(0) as i64),
                _ => return Err(format!("len of type {}", type_name(&a[0]))),
            }
        }
        "index" => {
            let Some((base, keys)) = a.split_first() else {
                return Err("wrong number of args for index: want at least 1 got 0".into());
            };
            let mut v = base.clone();
            for k in keys {
                v = match v.kind() {
                    ValueKind::Map => {
                        let x = v.get_item(k).unwrap_or_default();
                        if x.is_undefined() { J::from(()) } else { x }
                    }
                    ValueKind::Seq | ValueKind::String => {
                        let i = match k.kind() {
                            ValueKind::Number if !is_float(k) => k.as_i64().unwrap_or(-1),
                            _ => return Err(format!("cannot index slice/array with type {}", type_name(k))),
                        };
                        let n = v.len().unwrap_or(0) as i64;
                        if i < 0 || i >= n {
                            return Err(format!("index out of range: {i}"));
                        }
                        if v.kind() == ValueKind::String {
                            J::from(i64::from(v.as_str().unwrap_or_default().as_bytes()[i as usize]))
                        } else {
                            v.get_item(k).unwrap_or_default()
                        }
                    }
                    ValueKind::Undefined | ValueKind::None => return Err("index of untyped nil".into()),
                    _ => return Err(format!("can't index item of type {}", type_name(&v))),
                };
            }
            v
        }
        "slice" => {
            let Some((base, idx)) = a.split_first() else {
                return Err("wrong number of args for slice: want at least 1 got 0".into());
            };
            let n = base.len().unwrap_or(0) as i64;
            let from = idx.first().map_or(0, to_i64);
            let to = idx.get(1).map_or(n, to_i64);
            if from < 0 || to > n || from > to {
                return Err(format!("index out of range: {from}:{to}"));
            }
            match base.kind() {
                ValueKind::String => J::from(
                    base.as_str()
                        .unwrap_or_default()
                        .get(from as usize..to as usize)
                        .unwrap_or_default(),
                ),
                ValueKind::Seq => J::from(items(base)[from as usize..to as usize].to_vec()),
                _ => return Err(format!("can't slice item of type {}", type_name(base))),
            }
        }
        "print" => J::from(sprint(a)),
        "println" => J::from(format!(
            "{}\n",
            a.iter().map(go_sprint).collect::<Vec<_>>().join(" ")
        )),
        "printf" => {
            let Some((f, rest)) = a.split_first() else {
                return Err("wrong number of args for printf: want at least 1 got 0".into());
            };
            J::from(sprintf(&as_string(f), rest))
        }
        "eq" => {
            if a.len() < 2 {
                return Err("missing argument for comparison".into());
            }
            let mut any = false;
            for b in &a[1..] {
                if basic_eq(&a[0], b)? {
                    any = true;
                }
            }
            J::from(any)
        }
        "ne" => {
            arity(a, 2)?;
            J::from(!basic_eq(&a[0], &a[1])?)
        }
        "lt" => {
            arity(a, 2)?;
            J::from(basic_lt(&a[0], &a[1])?)
        }
        "le" => {
            arity(a, 2)?;
            J::from(basic_lt(&a[0], &a[1])? || basic_eq(&a[0], &a[1])?)
        }
        "gt" => {
            arity(a, 2)?;
            J::from(!basic_lt(&a[0], &a[1])? && !basic_eq(&a[0], &a[1])?)
        }
        "ge" => {
            arity(a, 2)?;
            J::from(!basic_lt(&a[0], &a[1])?)
        }
        "urlquery" => J::from(url_escape(&sprint(a))),
        "html" => J::from(
            sprint(a)
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&#34;")
                .replace('\'', "&#39;"),
        ),
        "js" => J::from(
            sprint(a)
                .replace('\\', "\\\\")
                .replace('\'', "\\'")
                .replace('"', "\\\""),
        ),
        // Argo CD
        "normalize" => J::from(text::normalize(&s(a.len().saturating_sub(1)))),
        "slugify" => {
            let name = as_string(&last());
            let max = if a.len() >= 2 { to_i64(&a[0]) as usize } else { 50 };
            let smart = if a.len() >= 3 { truth(&a[1]) } else { true };
            J::from(text::slugify(&name, max, smart))
        }
        "toYaml" => J::from(yaml_of(&last()).unwrap_or_default()),
        "fromYaml" | "fromYamlArray" => {
            let v: serde_json::Value =
                serde_saphyr::from_str(&as_string(&last())).map_err(|e| e.to_string())?;
            if name == "fromYamlArray" && !v.is_array() {
                return Err("expected a YAML array".into());
            }
            if name == "fromYaml" && !(v.is_object() || v.is_null()) {
                return Err("expected a YAML map".into());
            }
            go_value(&v)
        }
        // sprig: strings
        "lower" => J::from(s(0).to_lowercase()),
        "upper" => J::from(s(0).to_uppercase()),
        "title" => J::from(title(&s(0))),
        "untitle" => J::from(
            s(0).split(' ')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_lowercase().chain(c).collect::<String>())
                        .unwrap_or_default()
                })
                .collect::<Vec<String>>()
                .join(" "),
        ),
        "trim" => J::from(s(0).trim()),
        "trimAll" => J::from(s(1).trim_matches(|c| s(0).contains(c)).to_string()),
        "trimPrefix" => J::from(
            s(1).strip_prefix(&s(0))
                .map(str::to_string)
                .unwrap_or_else(|| s(1)),
        ),
        "trimSuffix" => J::from(
            s(1).strip_suffix(&s(0))
                .map(str::to_string)
                .unwrap_or_else(|| s(1)),
        ),
        "replace" => J::from(s(2).replace(&s(0), &s(1))),
        "quote" => J::from(
            a.iter()
                .filter(|v| !v.is_none() && !v.is_undefined())
                .map(|v| text::go_quote(&as_string(v)))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "squote" => J::from(
            a.iter()
                .filter(|v| !v.is_none() && !v.is_undefined())
                .map(|v| format!("'{}'", as_string(v)))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "contains" => J::from(s(1).contains(&s(0))),
        "hasPrefix" => J::from(s(1).starts_with(&s(0))),
        "hasSuffix" => J::from(s(1).ends_with(&s(0))),
        "repeat" => {
            let n = to_i64(&a[0]).max(0) as usize;
            if n.saturating_mul(s(1).len()) > MAX_STRING {
                return Err(format!("the result is longer than {MAX_STRING} bytes"));
            }
            J::from(s(1).repeat(n))
        }
        "substr" => {
            let st = s(2);
            let (from, to) = (to_i64(&a[0]), to_i64(&a[1]));
            let b = st.as_bytes();
            let from = if from < 0 { 0 } else { from as usize };
            let to = if to < 0 || to as usize > b.len() {
                b.len()
            } else {
                to as usize
            };
            J::from(String::from_utf8_lossy(b.get(from.min(to)..to).unwrap_or_default()).into_owned())
        }
        "trunc" => {
            let (n, st) = (to_i64(&a[0]), s(1));
            let len = st.len() as i64;
            J::from(if n < 0 {
                st.get((len + n).max(0) as usize..)
                    .unwrap_or_default()
                    .to_string()
            } else {
                st.get(..n.min(len) as usize).unwrap_or(&st).to_string()
            })
        }
        "abbrev" => {
            let (n, st) = (to_i64(&a[0]) as usize, s(1));
            J::from(if n < 4 || st.len() <= n {
                st
            } else {
                format!("{}...", st.chars().take(n - 3).collect::<String>())
            })
        }
        "indent" | "nindent" => {
            let pad = " ".repeat((to_i64(&a[0]).max(0) as usize).min(MAX_STRING));
            let body = format!("{pad}{}", s(1).replace('\n', &format!("\n{pad}")));
            J::from(if name == "nindent" {
                format!("\n{body}")
            } else {
                body
            })
        }
        "cat" => J::from(
            a.iter()
                .filter(|v| !v.is_none() && !v.is_undefined())
                .map(go_sprint)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "nospace" => J::from(s(0).split_whitespace().collect::<String>()),
        "snakecase" | "kebabcase" => {
            let sep = if name == "snakecase" { '_' } else { '-' };
            let mut out = String::new();
            for (i, c) in s(0).chars().enumerate() {
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
        "camelcase" => J::from(
            s(0).split(['_', '-', ' '])
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_uppercase().chain(c).collect::<String>())
                        .unwrap_or_default()
                })
                .collect::<String>(),
        ),
        "splitList" => J::from(s(1).split(&s(0)).map(J::from).collect::<Vec<_>>()),
        "split" => J::from(
            s(1).split(&s(0))
                .enumerate()
                .map(|(i, p)| (format!("_{i}"), J::from(p)))
                .collect::<BTreeMap<_, _>>(),
        ),
        "join" => J::from(items(&a[1]).iter().map(as_string).collect::<Vec<_>>().join(&s(0))),
        "toString" => J::from(as_string(&a[0])),
        "toStrings" => J::from(
            items(&a[0])
                .iter()
                .map(|v| J::from(as_string(v)))
                .collect::<Vec<_>>(),
        ),
        "regexMatch" => J::from(regex(&s(0))?.is_match(&s(1))),
        "regexFind" => J::from(
            regex(&s(0))?
                .find(&s(1))
                .map(|m| m.as_str().to_string())
                .unwrap_or_default(),
        ),
        "regexFindAll" => {
            let n = to_i64(&a[2]);
            let re = regex(&s(0))?;
            let all: Vec<J> = re.find_iter(&s(1)).map(|m| J::from(m.as_str())).collect();
            J::from(if n < 0 {
                all
            } else {
                all.into_iter().take(n as usize).collect()
            })
        }
        "regexReplaceAll" => J::from(regex(&s(0))?.replace_all(&s(1), s(2).as_str()).into_owned()),
        "regexReplaceAllLiteral" => J::from(
            regex(&s(0))?
                .replace_all(&s(1), regex::NoExpand(&s(2)))
                .into_owned(),
        ),
        "regexSplit" => {
            let n = to_i64(&a[2]);
            let re = regex(&s(0))?;
            let parts: Vec<J> = if n < 0 {
                re.split(&s(1)).map(J::from).collect()
            } else {
                re.splitn(&s(1), n as usize).map(J::from).collect()
            };
            J::from(parts)
        }
        "b64enc" => {
            use base64::Engine as _;
            J::from(base64::engine::general_purpose::STANDARD.encode(s(0)))
        }
        "b64dec" => {
            use base64::Engine as _;
            match base64::engine::general_purpose::STANDARD.decode(s(0)) {
                Ok(b) => J::from(String::from_utf8_lossy(&b).into_owned()),
                Err(e) => J::from(e.to_string()),
            }
        }
        "sha256sum" => {
            use sha2::Digest as _;
            J::from(hex::encode(sha2::Sha256::digest(s(0).as_bytes())))
        }
        "sha1sum" => J::from(sha1_smol::Sha1::from(s(0)).digest().to_string()),
        "plural" => J::from(if to_i64(&a[2]) == 1 { s(0) } else { s(1) }),
        // sprig: defaults and logic
        "default" => {
            if a.len() < 2 || !truth(&a[1]) {
                a[0].clone()
            } else {
                a[1].clone()
            }
        }
        "empty" => J::from(!truth(&a[0])),
        "coalesce" => a
            .iter()
            .find(|v| truth(v))
            .cloned()
            .unwrap_or_else(|| J::from(())),
        "ternary" => {
            arity(a, 3)?;
            if truth(&a[2]) { a[0].clone() } else { a[1].clone() }
        }
        "fail" => return Err(s(0)),
        "toJson" | "toRawJson" | "mustToJson" => {
            J::from(serde_json::to_string(&to_json(&a[0])).unwrap_or_default())
        }
        "toPrettyJson" => J::from(serde_json::to_string_pretty(&to_json(&a[0])).unwrap_or_default()),
        "fromJson" | "mustFromJson" => match serde_json::from_str::<serde_json::Value>(&s(0)) {
            Ok(v) => go_value(&v),
            Err(e) if name == "mustFromJson" => return Err(e.to_string()),
            Err(_) => J::from(BTreeMap::<String, J>::new()),
        },
        // sprig: numbers (int64 arithmetic, as sprig)
        "add" => J::from(a.iter().map(to_i64).sum::<i64>()),
        "add1" => J::from(to_i64(&a[0]) + 1),
        "sub" => J::from(to_i64(&a[0]) - to_i64(&a[1])),
        "mul" => J::from(a.iter().map(to_i64).product::<i64>()),
        "div" => {
            let d = to_i64(&a[1]);
            if d == 0 {
                return Err("runtime error: integer divide by zero".into());
            }
            J::from(to_i64(&a[0]) / d)
        }
        "mod" => {
            let d = to_i64(&a[1]);
            if d == 0 {
                return Err("runtime error: integer divide by zero".into());
            }
            J::from(to_i64(&a[0]) % d)
        }
        "max" => J::from(a.iter().map(to_i64).max().unwrap_or(0)),
        "min" => J::from(a.iter().map(to_i64).min().unwrap_or(0)),
        "int" | "int64" => J::from(to_i64(&a[0])),
        "atoi" => J::from(s(0).trim().parse::<i64>().unwrap_or(0)),
        "float64" => J::from(to_f64(&a[0])),
        "floor" => J::from(to_f64(&a[0]).floor()),
        "ceil" => J::from(to_f64(&a[0]).ceil()),
        "round" => {
            let p = a.get(1).map_or(0, to_i64) as i32;
            let m = 10f64.powi(p);
            J::from((to_f64(&a[0]) * m).round() / m)
        }
        // sprig: lists and dicts
        "list" => J::from(a.to_vec()),
        "first" => items(&a[0]).first().cloned().unwrap_or_else(|| J::from(())),
        "last" => items(&a[0]).last().cloned().unwrap_or_else(|| J::from(())),
        "rest" => J::from(items(&a[0]).into_iter().skip(1).collect::<Vec<_>>()),
        "initial" => {
            let mut v = items(&a[0]);
            v.pop();
            J::from(v)
        }
        "append" => {
            let mut v = items(&a[0]);
            v.push(a[1].clone());
            J::from(v)
        }
        "prepend" => {
            let mut v = vec![a[1].clone()];
            v.extend(items(&a[0]));
            J::from(v)
        }
        "concat" => J::from(a.iter().flat_map(items).collect::<Vec<_>>()),
        "reverse" => J::from(items(&a[0]).into_iter().rev().collect::<Vec<_>>()),
        "uniq" => {
            let mut out: Vec<J> = Vec::new();
            for x in items(&a[0]) {
                if !out.contains(&x) {
                    out.push(x);
                }
            }
            J::from(out)
        }
        "compact" => J::from(items(&a[0]).into_iter().filter(truth).collect::<Vec<_>>()),
        "has" => J::from(items(&a[1]).contains(&a[0])),
        "without" => {
            let drop = &a[1..];
            J::from(
                items(&a[0])
                    .into_iter()
                    .filter(|x| !drop.contains(x))
                    .collect::<Vec<_>>(),
            )
        }
        "sortAlpha" => {
            let mut v: Vec<String> = items(&a[0]).iter().map(as_string).collect();
            v.sort();
            J::from(v.into_iter().map(J::from).collect::<Vec<_>>())
        }
        "dict" => {
            let mut m = BTreeMap::new();
            for pair in a.chunks(2) {
                m.insert(
                    as_string(&pair[0]),
                    pair.get(1).cloned().unwrap_or_else(|| J::from("")),
                );
            }
            J::from(m)
        }
        "get" => {
            let x = a[0].get_item(&a[1]).unwrap_or_default();
            if x.is_undefined() { J::from("") } else { x }
        }
        "set" | "unset" => {
            let mut m = dict_of(&a[0]);
            if name == "set" {
                m.insert(s(1), a.get(2).cloned().unwrap_or_default());
            } else {
                m.remove(&s(1));
            }
            J::from(m)
        }
        "hasKey" => J::from(dict_of(&a[0]).contains_key(&s(1))),
        "keys" => {
            let mut k: Vec<String> = a.iter().flat_map(|d| dict_of(d).into_keys()).collect();
            k.sort();
            J::from(k.into_iter().map(J::from).collect::<Vec<_>>())
        }
        "values" => J::from(dict_of(&a[0]).into_values().collect::<Vec<_>>()),
        "pluck" => {
            let key = s(0);
            J::from(
                a[1..]
                    .iter()
                    .filter_map(|d| dict_of(d).remove(&key))
                    .collect::<Vec<_>>(),
            )
        }
        "merge" => {
            let mut out = dict_of(&a[0]);
            for d in &a[1..] {
                for (k, v) in dict_of(d) {
                    out.entry(k).or_insert(v);
                }
            }
            J::from(out)
        }
        "pick" | "omit" => {
            let keys: Vec<String> = a[1..].iter().map(as_string).collect();
            J::from(
                dict_of(&a[0])
                    .into_iter()
                    .filter(|(k, _)| keys.contains(k) == (name == "pick"))
                    .collect::<BTreeMap<_, _>>(),
            )
        }
        "kindOf" => J::from(kind_of(&a[0])),
        "kindIs" => J::from(kind_of(&a[1]) == s(0)),
        "typeOf" => J::from(type_name(&a[0])),
        "deepCopy" => go_value(&to_json(&a[0])),
        "dig" => {
            // dig k1 k2 ... default dict
            let (dict, rest) = a.split_last().unwrap_or((&a[0], &[]));
            let (default, keys) = rest
                .split_last()
                .map_or((J::from(()), &[][..]), |(d, k)| (d.clone(), k));
            let mut v = dict.clone();
            for k in keys {
                let x = if v.kind() == ValueKind::Map {
                    v.get_item(k).unwrap_or_default()
                } else {
                    J::UNDEFINED
                };
                if x.is_undefined() {
                    return Ok(default);
                }
                v = x;
            }
            v
        }
        "until" | "untilStep" | "seq" => {
            let (start, stop, step) = match (name, a.len()) {
                ("until", _) => (0, to_i64(&a[0]), 1),
                ("untilStep", _) => (to_i64(&a[0]), to_i64(&a[1]), to_i64(&a[2])),
                ("seq", 1) => (1, to_i64(&a[0]) + 1, 1),
                ("seq", 2) => {
                    let (s0, e) = (to_i64(&a[0]), to_i64(&a[1]));
                    if e >= s0 { (s0, e + 1, 1) } else { (s0, e - 1, -1) }
                }
                ("seq", 3) => {
                    let (s0, st, e) = (to_i64(&a[0]), to_i64(&a[1]), to_i64(&a[2]));
                    (s0, if st > 0 { e + 1 } else { e - 1 }, st)
                }
                _ => return Err(format!("wrong number of args for {name}")),
            };
            if step == 0 || (stop - start) / step > 100_000 {
                return Err(format!("{name}: too many elements"));
            }
            let mut out = Vec::new();
            let mut i = start;
            while (step > 0 && i < stop) || (step < 0 && i > stop) {
                out.push(J::from(i));
                i += step;
            }
            if name == "seq" {
                J::from(out.iter().map(go_sprint).collect::<Vec<_>>().join(" "))
            } else {
                J::from(out)
            }
        }
        "tuple" => J::from(a.to_vec()),
        "splitn" => J::from(
            s(2).splitn(to_i64(&a[1]).max(0) as usize, &s(0))
                .enumerate()
                .map(|(i, p)| (format!("_{i}"), J::from(p)))
                .collect::<BTreeMap<_, _>>(),
        ),
        "all" => J::from(a.iter().all(truth)),
        "any" => J::from(a.iter().any(truth)),
        "mergeOverwrite" => {
            let mut out = dict_of(&a[0]);
            for d in &a[1..] {
                out.extend(dict_of(d));
            }
            J::from(out)
        }
        "mustRegexReplaceAll" => J::from(regex(&s(0))?.replace_all(&s(1), s(2).as_str()).into_owned()),
        "mustRegexMatch" => J::from(regex(&s(0))?.is_match(&s(1))),
        "initials" => J::from(
            s(0).split_whitespace()
                .filter_map(|w| w.chars().next())
                .collect::<String>(),
        ),
        "trimall" => J::from(s(1).trim_matches(|c| s(0).contains(c)).to_string()),
        "semverCompare" => J::from(semver_matches(&s(0), &s(1))?),
        other => return Err(format!("function {other:?} not implemented")),
    })
}

pub(super) fn kind_of(v: &J) -> &'static str {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => "invalid",
        ValueKind::Bool => "bool",
        ValueKind::Number if is_float(v) => "float64",
        ValueKind::Number => "int",
        ValueKind::String => "string",
        ValueKind::Seq => "slice",
        ValueKind::Map => "map",
        _ => "ptr",
    }
}

pub(super) fn dict_of(v: &J) -> BTreeMap<String, J> {
    match v.kind() {
        ValueKind::Map => v
            .try_iter()
            .map(|keys| {
                keys.map(|k| (as_string(&k), v.get_item(&k).unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default(),
        _ => BTreeMap::new(),
    }
}

/// A version as (major, minor, patch); a leading `v` and a pre-release suffix are ignored.
pub(super) fn version(s: &str) -> Result<(u64, u64, u64), String> {
    let core = s.trim().trim_start_matches('v');
    let core = core.split(['-', '+']).next().unwrap_or_default();
    let mut parts = core.split('.').map(|p| {
        p.parse::<u64>()
            .map_err(|_| format!("invalid semantic version {s:?}"))
    });
    let major = parts
        .next()
        .ok_or_else(|| format!("invalid semantic version {s:?}"))??;
    let minor = parts.next().transpose()?.unwrap_or(0);
    let patch = parts.next().transpose()?.unwrap_or(0);
    Ok((major, minor, patch))
}

/// Masterminds semver constraints as used in templates: `=`, `!=`, `>`, `<`, `>=`, `<=`, `~`
/// (patch-level), `^` (minor-level), AND with `,` or spaces, OR with `||`.
pub(super) fn semver_matches(constraint: &str, v: &str) -> Result<bool, String> {
    let v = version(v)?;
    for alternative in constraint.split("||") {
        let mut all = true;
        for term in alternative.split([',', ' ']).filter(|t| !t.trim().is_empty()) {
            let term = term.trim();
            let (op, rest) = ["!=", ">=", "<=", "=", ">", "<", "~", "^"]
                .iter()
                .find_map(|op| term.strip_prefix(op).map(|r| (*op, r)))
                .unwrap_or(("=", term));
            let c = version(rest)?;
            let ok = match op {
                "=" => v == c,
                "!=" => v != c,
                ">" => v > c,
                "<" => v < c,
                ">=" => v >= c,
                "<=" => v <= c,
                "~" => v >= c && (v.0, v.1) == (c.0, c.1),
                _ => v >= c && v.0 == c.0,
            };
            all &= ok;
        }
        if all {
            return Ok(true);
        }
    }
    Ok(false)
}

pub(super) fn regex(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(pattern).map_err(|e| e.to_string())
}

pub(super) fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        // Go's strings.Title: ASCII letters, digits and `_` continue a word, other ASCII starts one.
        prev_letter = c.is_alphanumeric() || c == '_' || (!c.is_ascii() && !c.is_whitespace());
    }
    out
}

/// Go's `url.QueryEscape`.
pub(super) fn url_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
