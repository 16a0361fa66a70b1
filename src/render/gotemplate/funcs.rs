//! Go template functions for the goTemplate engine (render stage, no I/O): text/template's
//! builtins, Argo CD's sprig set and Argo CD's own (`normalize`, `slugify`, `toYaml`, ...), each
//! with Go's results and error texts.

use std::collections::BTreeMap;

use minijinja::{Value as J, value::ValueKind};

use super::*;
use crate::text;

/// Every function of Argo CD's goTemplate set with Go's signature: (name, fixed parameters,
/// variadic). Go's builtins (`slice` is sprig's), Argo CD's own, and sprig's `GenericFuncMap` minus
/// `env`, `expandenv` and `getHostByName`; the sprig rows were printed by `reflect` from sprig
/// 3.2.3 (tests/gotemplate-oracle/README.md).
pub const SIGNATURES: &[(&str, usize, bool)] = &[
    // Go builtins
    ("and", 1, true),
    ("eq", 1, true),
    ("ge", 2, false),
    ("gt", 2, false),
    ("html", 0, true),
    ("index", 1, true),
    ("js", 0, true),
    ("le", 2, false),
    ("len", 1, false),
    ("lt", 2, false),
    ("ne", 2, false),
    ("not", 1, false),
    ("or", 1, true),
    ("print", 0, true),
    ("printf", 1, true),
    ("println", 0, true),
    ("urlquery", 0, true),
    // Argo CD
    ("fromYaml", 1, false),
    ("fromYamlArray", 1, false),
    ("normalize", 1, false),
    ("slugify", 0, true),
    ("toYaml", 1, false),
    // sprig
    ("abbrev", 2, false),
    ("abbrevboth", 3, false),
    ("add", 0, true),
    ("add1", 1, false),
    ("add1f", 1, false),
    ("addf", 0, true),
    ("adler32sum", 1, false),
    ("ago", 1, false),
    ("all", 0, true),
    ("any", 0, true),
    ("append", 2, false),
    ("atoi", 1, false),
    ("b32dec", 1, false),
    ("b32enc", 1, false),
    ("b64dec", 1, false),
    ("b64enc", 1, false),
    ("base", 1, false),
    ("bcrypt", 1, false),
    ("biggest", 1, true),
    ("buildCustomCert", 2, false),
    ("camelcase", 1, false),
    ("cat", 0, true),
    ("ceil", 1, false),
    ("chunk", 2, false),
    ("clean", 1, false),
    ("coalesce", 0, true),
    ("compact", 1, false),
    ("concat", 0, true),
    ("contains", 2, false),
    ("date", 2, false),
    ("dateInZone", 3, false),
    ("dateModify", 2, false),
    ("date_in_zone", 3, false),
    ("date_modify", 2, false),
    ("decryptAES", 2, false),
    ("deepCopy", 1, false),
    ("deepEqual", 2, false),
    ("default", 1, true),
    ("derivePassword", 5, false),
    ("dict", 0, true),
    ("dig", 0, true),
    ("dir", 1, false),
    ("div", 2, false),
    ("divf", 1, true),
    ("duration", 1, false),
    ("durationRound", 1, false),
    ("empty", 1, false),
    ("encryptAES", 2, false),
    ("ext", 1, false),
    ("fail", 1, false),
    ("first", 1, false),
    ("float64", 1, false),
    ("floor", 1, false),
    ("fromJson", 1, false),
    ("genCA", 2, false),
    ("genCAWithKey", 3, false),
    ("genPrivateKey", 1, false),
    ("genSelfSignedCert", 4, false),
    ("genSelfSignedCertWithKey", 5, false),
    ("genSignedCert", 5, false),
    ("genSignedCertWithKey", 6, false),
    ("get", 2, false),
    ("has", 2, false),
    ("hasKey", 2, false),
    ("hasPrefix", 2, false),
    ("hasSuffix", 2, false),
    ("hello", 0, false),
    ("htmlDate", 1, false),
    ("htmlDateInZone", 2, false),
    ("htpasswd", 2, false),
    ("indent", 2, false),
    ("initial", 1, false),
    ("initials", 1, false),
    ("int", 1, false),
    ("int64", 1, false),
    ("isAbs", 1, false),
    ("join", 2, false),
    ("kebabcase", 1, false),
    ("keys", 0, true),
    ("kindIs", 2, false),
    ("kindOf", 1, false),
    ("last", 1, false),
    ("list", 0, true),
    ("lower", 1, false),
    ("max", 1, true),
    ("maxf", 1, true),
    ("merge", 1, true),
    ("mergeOverwrite", 1, true),
    ("min", 1, true),
    ("minf", 1, true),
    ("mod", 2, false),
    ("mul", 1, true),
    ("mulf", 1, true),
    ("mustAppend", 2, false),
    ("mustChunk", 2, false),
    ("mustCompact", 1, false),
    ("mustDateModify", 2, false),
    ("mustDeepCopy", 1, false),
    ("mustFirst", 1, false),
    ("mustFromJson", 1, false),
    ("mustHas", 2, false),
    ("mustInitial", 1, false),
    ("mustLast", 1, false),
    ("mustMerge", 1, true),
    ("mustMergeOverwrite", 1, true),
    ("mustPrepend", 2, false),
    ("mustPush", 2, false),
    ("mustRegexFind", 2, false),
    ("mustRegexFindAll", 3, false),
    ("mustRegexMatch", 2, false),
    ("mustRegexReplaceAll", 3, false),
    ("mustRegexReplaceAllLiteral", 3, false),
    ("mustRegexSplit", 3, false),
    ("mustRest", 1, false),
    ("mustReverse", 1, false),
    ("mustSlice", 1, true),
    ("mustToDate", 2, false),
    ("mustToJson", 1, false),
    ("mustToPrettyJson", 1, false),
    ("mustToRawJson", 1, false),
    ("mustUniq", 1, false),
    ("mustWithout", 1, true),
    ("must_date_modify", 2, false),
    ("nindent", 2, false),
    ("nospace", 1, false),
    ("now", 0, false),
    ("omit", 1, true),
    ("osBase", 1, false),
    ("osClean", 1, false),
    ("osDir", 1, false),
    ("osExt", 1, false),
    ("osIsAbs", 1, false),
    ("pick", 1, true),
    ("pluck", 1, true),
    ("plural", 3, false),
    ("prepend", 2, false),
    ("push", 2, false),
    ("quote", 0, true),
    ("randAlpha", 1, false),
    ("randAlphaNum", 1, false),
    ("randAscii", 1, false),
    ("randBytes", 1, false),
    ("randInt", 2, false),
    ("randNumeric", 1, false),
    ("regexFind", 2, false),
    ("regexFindAll", 3, false),
    ("regexMatch", 2, false),
    ("regexQuoteMeta", 1, false),
    ("regexReplaceAll", 3, false),
    ("regexReplaceAllLiteral", 3, false),
    ("regexSplit", 3, false),
    ("repeat", 2, false),
    ("replace", 3, false),
    ("rest", 1, false),
    ("reverse", 1, false),
    ("round", 2, true),
    ("semver", 1, false),
    ("semverCompare", 2, false),
    ("seq", 0, true),
    ("set", 3, false),
    ("sha1sum", 1, false),
    ("sha256sum", 1, false),
    ("shuffle", 1, false),
    ("slice", 1, true),
    ("snakecase", 1, false),
    ("sortAlpha", 1, false),
    ("split", 2, false),
    ("splitList", 2, false),
    ("splitn", 3, false),
    ("squote", 0, true),
    ("sub", 2, false),
    ("subf", 1, true),
    ("substr", 3, false),
    ("swapcase", 1, false),
    ("ternary", 3, false),
    ("title", 1, false),
    ("toDate", 2, false),
    ("toDecimal", 1, false),
    ("toJson", 1, false),
    ("toPrettyJson", 1, false),
    ("toRawJson", 1, false),
    ("toString", 1, false),
    ("toStrings", 1, false),
    ("trim", 1, false),
    ("trimAll", 2, false),
    ("trimPrefix", 2, false),
    ("trimSuffix", 2, false),
    ("trimall", 2, false),
    ("trunc", 2, false),
    ("tuple", 0, true),
    ("typeIs", 2, false),
    ("typeIsLike", 2, false),
    ("typeOf", 1, false),
    ("uniq", 1, false),
    ("unixEpoch", 1, false),
    ("unset", 2, false),
    ("until", 1, false),
    ("untilStep", 3, false),
    ("untitle", 1, false),
    ("upper", 1, false),
    ("urlJoin", 1, false),
    ("urlParse", 1, false),
    ("uuidv4", 0, false),
    ("values", 1, false),
    ("without", 1, true),
    ("wrap", 2, false),
    ("wrapWith", 3, false),
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
        // time.Time marshals as RFC 3339 with nanoseconds.
        _ if let Some(t) = v.downcast_object_ref::<super::gotime::GoTime>() => {
            super::gotime::method(t, "Format", &[J::from("2006-01-02T15:04:05.999999999Z07:00")])
                .map_or(V::Null, |s| V::String(as_string(&s)))
        }
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

/// Largest string a function may build (`repeat`, `indent`): a template cannot exhaust memory.
pub(super) const MAX_STRING: usize = 1 << 20;

pub(super) fn call(name: &str, a: &[J]) -> Result<J, String> {
    // The compiler rejects calls with the wrong number of arguments; this guards the indexing.
    if let Some((fixed, _)) = signature(name)
        && a.len() < fixed
    {
        return Err(format!(
            "wrong number of args for {name}: want {fixed} got {}",
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
        // sprig: lists and dicts
        "list" => J::from(a.to_vec()),
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
        "dig" => {
            // dig k1 k2 ... default dict
            if a.len() < 3 {
                return Err("dig needs at least three arguments".into());
            }
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
        "initials" => J::from(
            s(0).split_whitespace()
                .filter_map(|w| w.chars().next())
                .collect::<String>(),
        ),
        "trimall" => J::from(s(1).trim_matches(|c| s(0).contains(c)).to_string()),
        "semverCompare" => J::from(super::semver::check(&s(0), &s(1))?),
        "semver" => J::from_object(super::semver::Version::parse(&s(0))?),
        other => return call_more(other, a),
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
        _ if v.downcast_object_ref::<super::gotime::GoTime>().is_some() => "struct",
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

// ---- lists, numbers, strings, paths, URLs, random values (sprig's remaining generic set) --------

/// Whether `name` is a function of Argo CD's goTemplate set (a call to any other is a parse
/// error, as in Go).
pub fn is_function(name: &str) -> bool {
    signature(name).is_some()
}

/// Go's signature of a function: (fixed parameters, variadic).
pub(super) fn signature(name: &str) -> Option<(usize, bool)> {
    static INDEX: std::sync::OnceLock<std::collections::HashMap<&'static str, (usize, bool)>> =
        std::sync::OnceLock::new();
    INDEX
        .get_or_init(|| SIGNATURES.iter().map(|(n, f, v)| (*n, (*f, *v))).collect())
        .get(name)
        .copied()
}

/// text/template's arity error for a call with `explicit` arguments (plus a piped one), if any.
pub(super) fn arity_error(name: &str, explicit: usize, piped: bool) -> Option<String> {
    let (fixed, variadic) = signature(name)?;
    let given = explicit + usize::from(piped);
    if variadic && given < fixed {
        // Go counts only the explicit arguments in this message.
        Some(format!(
            "wrong number of args for {name}: want at least {fixed} got {explicit}"
        ))
    } else if !variadic && given != fixed {
        Some(format!(
            "wrong number of args for {name}: want {fixed} got {given}"
        ))
    } else {
        None
    }
}

/// Functions Argo CD allows that appset does not run: they generate keys, certificates or
/// salted hashes, a new value on every render, so Argo CD itself rewrites the Application on
/// every reconcile with them. A template using one fails when it calls it, with this reason.
const NOT_SUPPORTED: &[&str] = &[
    "bcrypt",
    "htpasswd",
    "genPrivateKey",
    "derivePassword",
    "buildCustomCert",
    "genCA",
    "genCAWithKey",
    "genSelfSignedCert",
    "genSelfSignedCertWithKey",
    "genSignedCert",
    "genSignedCertWithKey",
    "encryptAES",
    "decryptAES",
];

/// A list argument of a sprig list function; Go's errors for anything else (`what` is the
/// function's word in `Cannot find first on type string`).
fn list_of(v: &J, what: &str) -> Result<Vec<J>, String> {
    match v.kind() {
        ValueKind::Seq => Ok(items(v)),
        // reflect.TypeOf(nil).Kind() in sprig: a nil-pointer panic that text/template recovers.
        ValueKind::Undefined | ValueKind::None => Err(NIL_DEREF.into()),
        _ => Err(format!("Cannot {what} on type {}", kind_of(v))),
    }
}

/// Go's reflect.DeepEqual on template data (an int never equals a float64).
fn deep_equal(a: &J, b: &J) -> bool {
    match (a.kind(), b.kind()) {
        (ValueKind::Number, ValueKind::Number) => is_float(a) == is_float(b) && a == b,
        (ValueKind::Seq, ValueKind::Seq) => {
            let (x, y) = (items(a), items(b));
            x.len() == y.len() && x.iter().zip(&y).all(|(p, q)| deep_equal(p, q))
        }
        (ValueKind::Map, ValueKind::Map) => {
            let (x, y) = (dict_of(a), dict_of(b));
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w)))
        }
        (ValueKind::Undefined | ValueKind::None, ValueKind::Undefined | ValueKind::None) => true,
        (x, y) => x == y && a == b,
    }
}

/// sprig's float functions: exact decimal arithmetic (shopspring/decimal) on the arguments'
/// shortest decimal forms, division rounded half away from zero to 16 places.
fn decimal_op(first: &J, rest: &[J], op: &str) -> Result<J, String> {
    use rust_decimal::{Decimal, RoundingStrategy};
    let dec = |v: &J| -> Option<Decimal> { format!("{}", to_f64(v)).parse::<Decimal>().ok() };
    let exact = (|| {
        let mut acc = dec(first)?;
        for x in rest {
            let d = dec(x)?;
            acc = match op {
                "add" => acc.checked_add(d)?,
                "sub" => acc.checked_sub(d)?,
                "mul" => acc.checked_mul(d)?,
                _ if d.is_zero() => return Some(Err("decimal division by 0".to_string())),
                _ => acc
                    .checked_div(d)?
                    .round_dp_with_strategy(16, RoundingStrategy::MidpointAwayFromZero),
            };
        }
        Some(Ok(acc.to_string().parse::<f64>().unwrap_or(0.0)))
    })();
    let f = match exact {
        Some(r) => r?,
        // Out of the 96-bit decimal range: plain float arithmetic.
        None => rest.iter().map(to_f64).fold(to_f64(first), |acc, x| match op {
            "add" => acc + x,
            "sub" => acc - x,
            "mul" => acc * x,
            _ => acc / x,
        }),
    };
    Ok(J::from(f))
}

/// sprig's `untilStep` (Go's loop, empty when the step points away from `stop`).
fn until_step(start: i64, stop: i64, step: i64) -> Result<Vec<i64>, String> {
    if (stop < start && step >= 0) || (stop >= start && step <= 0) {
        return Ok(Vec::new());
    }
    if (stop - start) / step > 100_000 {
        return Err("too many elements (more than 100000)".into());
    }
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        out.push(i);
        i += step;
    }
    Ok(out)
}

/// sprig's `seq`: 1..=n, start..=end, or start..=end by step, as a space-separated string.
fn seq(a: &[J]) -> Result<String, String> {
    let p: Vec<i64> = a.iter().map(to_i64).collect();
    let list = match p.as_slice() {
        [] => Vec::new(),
        [end] => {
            let inc = if *end < 1 { -1 } else { 1 };
            until_step(1, end + inc, inc)?
        }
        [start, end] => {
            let step = if end < start { -1 } else { 1 };
            until_step(*start, end + step, step)?
        }
        [start, step, end] => {
            let inc = if end < start { -1 } else { 1 };
            if end < start && *step > 0 {
                Vec::new()
            } else {
                until_step(*start, end + inc, *step)?
            }
        }
        _ => Vec::new(),
    };
    Ok(list.iter().map(i64::to_string).collect::<Vec<_>>().join(" "))
}

/// Go's `encoding/json` output: `<`, `>`, `&`, U+2028 and U+2029 escaped unless `raw`.
fn json_text(v: &J, pretty: bool, raw: bool) -> String {
    let value = to_json(v);
    let text = if pretty {
        serde_json::to_string_pretty(&value)
    } else {
        serde_json::to_string(&value)
    }
    .unwrap_or_default();
    if raw {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
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

/// Go's `path.Clean`.
fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

/// Go's `path.Dir`.
fn dir_path(p: &str) -> String {
    let dir = match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    };
    clean_path(dir)
}

/// Go's `path.Ext`.
fn ext_path(p: &str) -> String {
    for (i, c) in p.char_indices().rev() {
        match c {
            '/' => break,
            '.' => return p[i..].to_string(),
            _ => {}
        }
    }
    String::new()
}

/// Go's `url.PathUnescape`-style decoding (`%XX`); `None` on a bad escape.
fn unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Go's URL escaping for paths and fragments (`shouldEscape` in encodePath mode).
fn escape_path(s: &str, fragment: bool) -> String {
    let mut out = String::new();
    for &b in s.as_bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'~' | b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'@'
            )
            || (fragment && matches!(b, b'!' | b'(' | b')' | b'*' | b'?'));
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// sprig's `urlParse`: Go's `url.Parse` split into a dict.
fn url_parse(raw: &str) -> Result<J, String> {
    let fail = |m: &str| format!("unable to parse url: parse {}: {m}", text::go_quote(raw));
    let (rest, fragment) = match raw.split_once('#') {
        Some((r, f)) => (r, unescape(f).ok_or_else(|| fail("invalid URL escape"))?),
        None => (raw, String::new()),
    };
    let mut scheme = "";
    if let Some(i) = rest.find(':') {
        let cand = &rest[..i];
        let valid = cand.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && cand
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if i == 0 {
            return Err(fail("missing protocol scheme"));
        }
        if valid {
            scheme = cand;
        }
    }
    let mut rest = &rest[if scheme.is_empty() { 0 } else { scheme.len() + 1 }..];
    let mut query = "";
    if let Some((r, q)) = rest.split_once('?') {
        rest = r;
        query = q;
    }
    let (mut opaque, mut host, mut user, mut path) = ("", String::new(), String::new(), String::new());
    if !rest.starts_with('/') && !scheme.is_empty() {
        opaque = rest;
    } else {
        if rest.starts_with("//") && (!scheme.is_empty() || !rest.starts_with("///")) {
            let auth_end = rest[2..].find('/').map_or(rest.len(), |i| i + 2);
            let authority = &rest[2..auth_end];
            rest = &rest[auth_end..];
            let h = match authority.rfind('@') {
                Some(i) => {
                    user = authority[..i].to_string();
                    &authority[i + 1..]
                }
                None => authority,
            };
            if h.starts_with('[') && !h.contains(']') {
                return Err(fail("missing ']' in host"));
            }
            host = unescape(h).ok_or_else(|| fail("invalid URL escape"))?;
        }
        path = unescape(rest).ok_or_else(|| fail("invalid URL escape"))?;
    }
    let hostname = if let Some(inner) = host.strip_prefix('[') {
        inner.split(']').next().unwrap_or_default().to_string()
    } else {
        host.rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map_or(host.clone(), |(h, _)| h.to_string())
    };
    let dict: BTreeMap<String, J> = [
        ("scheme", scheme.to_string()),
        ("host", host),
        ("hostname", hostname),
        ("path", path),
        ("query", query.to_string()),
        ("opaque", opaque.to_string()),
        ("fragment", fragment),
        ("userinfo", user),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), J::from(v)))
    .collect();
    Ok(J::from(dict))
}

/// sprig's `urlJoin`: Go's `URL.String` of the dict's parts.
fn url_join(d: &J) -> Result<String, String> {
    let m = dict_of(d);
    let get = |k: &str| -> Result<String, String> {
        match m.get(k) {
            None => Ok(String::new()),
            Some(v) if v.kind() == ValueKind::String => Ok(as_string(v)),
            Some(v) => Err(format!(
                "unable to parse {k} key, must be of type string, but {} found",
                kind_of(v)
            )),
        }
    };
    let (scheme, host, path, query, opaque, fragment, user) = (
        get("scheme")?,
        get("host")?,
        get("path")?,
        get("query")?,
        get("opaque")?,
        get("fragment")?,
        get("userinfo")?,
    );
    let mut out = String::new();
    if !scheme.is_empty() {
        out.push_str(&scheme);
        out.push(':');
    }
    if !opaque.is_empty() {
        out.push_str(&opaque);
    } else {
        if !scheme.is_empty() || !host.is_empty() || !user.is_empty() {
            if !host.is_empty() || !path.is_empty() || !user.is_empty() {
                out.push_str("//");
            }
            if !user.is_empty() {
                out.push_str(&user);
                out.push('@');
            }
            out.push_str(&host);
        }
        if !path.is_empty() && !path.starts_with('/') && !host.is_empty() {
            out.push('/');
        }
        out.push_str(&escape_path(&path, false));
    }
    if !query.is_empty() {
        out.push('?');
        out.push_str(&query);
    }
    if !fragment.is_empty() {
        out.push('#');
        out.push_str(&escape_path(&fragment, true));
    }
    Ok(out)
}

/// Random bytes from the operating system (sprig uses crypto/rand).
fn random_bytes(n: usize) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| e.to_string())?;
    Ok(buf)
}

/// `count` characters drawn uniformly from `alphabet` (goutils' CryptoRandom*).
fn random_string(count: i64, alphabet: &[u8]) -> Result<String, String> {
    if count <= 0 {
        return Ok(String::new());
    }
    let count = (count as usize).min(MAX_STRING);
    let mut out = String::with_capacity(count);
    while out.len() < count {
        for b in random_bytes(count)? {
            // Rejection sampling keeps the draw uniform.
            let limit = 256 - 256 % alphabet.len();
            if (b as usize) < limit && out.len() < count {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
    }
    Ok(out)
}

/// A uniform random integer in `0..n` (`n > 0`).
fn random_below(n: u64) -> Result<u64, String> {
    let limit = u64::MAX - u64::MAX % n;
    loop {
        let b = random_bytes(8)?;
        let x = u64::from_le_bytes(b.try_into().unwrap_or_default());
        if x < limit {
            return Ok(x % n);
        }
    }
}

fn call_more(name: &str, a: &[J]) -> Result<J, String> {
    let s = |i: usize| a.get(i).map(as_string).unwrap_or_default();
    let arg = |i: usize| a.get(i).cloned().unwrap_or_default();
    Ok(match name {
        // lists: sprig's functions and their must* twins behave alike inside a template (the
        // plain ones panic, text/template turns the panic into the same error)
        "first" | "mustFirst" => list_of(&arg(0), "find first")?
            .first()
            .cloned()
            .unwrap_or_default(),
        "last" | "mustLast" => list_of(&arg(0), "find last")?.last().cloned().unwrap_or_default(),
        "rest" | "mustRest" => {
            let l = list_of(&arg(0), "find rest")?;
            J::from(l.get(1..).unwrap_or_default().to_vec())
        }
        "initial" | "mustInitial" => {
            let l = list_of(&arg(0), "find initial")?;
            J::from(l[..l.len().saturating_sub(1)].to_vec())
        }
        "append" | "push" | "mustAppend" | "mustPush" => {
            let mut l = list_of(&arg(0), "push")?;
            l.push(arg(1));
            J::from(l)
        }
        "prepend" | "mustPrepend" => {
            let mut l = vec![arg(1)];
            l.extend(list_of(&arg(0), "prepend")?);
            J::from(l)
        }
        "reverse" | "mustReverse" => J::from(
            list_of(&arg(0), "find reverse")?
                .into_iter()
                .rev()
                .collect::<Vec<_>>(),
        ),
        "uniq" | "mustUniq" => {
            let mut out: Vec<J> = Vec::new();
            for x in list_of(&arg(0), "find uniq")? {
                if !out.iter().any(|y| deep_equal(y, &x)) {
                    out.push(x);
                }
            }
            J::from(out)
        }
        "compact" | "mustCompact" => J::from(
            list_of(&arg(0), "compact")?
                .into_iter()
                .filter(truth)
                .collect::<Vec<_>>(),
        ),
        "without" | "mustWithout" => {
            let drop = &a[1..];
            J::from(
                list_of(&arg(0), "find without")?
                    .into_iter()
                    .filter(|x| !drop.iter().any(|d| deep_equal(d, x)))
                    .collect::<Vec<_>>(),
            )
        }
        "has" | "mustHas" => {
            if arg(1).is_none() || arg(1).is_undefined() {
                J::from(false)
            } else {
                J::from(
                    list_of(&arg(1), "find has")?
                        .iter()
                        .any(|x| deep_equal(x, &arg(0))),
                )
            }
        }
        "slice" | "mustSlice" => {
            let l = match arg(0).kind() {
                ValueKind::Seq => items(&arg(0)),
                ValueKind::Undefined | ValueKind::None => {
                    return Err(NIL_DEREF.into());
                }
                _ => {
                    return Err(format!(
                        "list should be type of slice or array but {}",
                        kind_of(&arg(0))
                    ));
                }
            };
            if l.is_empty() {
                return Ok(J::from(()));
            }
            let n = l.len() as i64;
            let from = a.get(1).map_or(0, to_i64);
            let to = a.get(2).map_or(n, to_i64);
            if from < 0 || to > n || from > to {
                return Err("reflect: slice index out of range".into());
            }
            J::from(l[from as usize..to as usize].to_vec())
        }
        "concat" => {
            let mut out = Vec::new();
            for l in a {
                match l.kind() {
                    ValueKind::Seq => out.extend(items(l)),
                    ValueKind::Undefined | ValueKind::None => {
                        return Err(NIL_DEREF.into());
                    }
                    _ => return Err(format!("Cannot concat type {} as list", kind_of(l))),
                }
            }
            J::from(out)
        }
        "chunk" | "mustChunk" => {
            let size = to_i64(&arg(0));
            let l = list_of(&arg(1), "chunk")?;
            if size <= 0 {
                return Err("runtime error: integer divide by zero".into());
            }
            J::from(
                l.chunks(size as usize)
                    .map(|c| J::from(c.to_vec()))
                    .collect::<Vec<_>>(),
            )
        }
        "deepCopy" | "mustDeepCopy" => go_value(&to_json(&arg(0))),
        "mustMerge" => call_checked("merge", a)?,
        "mustMergeOverwrite" => call_checked("mergeOverwrite", a)?,
        "toJson" | "mustToJson" => J::from(json_text(&arg(0), false, false)),
        "toPrettyJson" | "mustToPrettyJson" => J::from(json_text(&arg(0), true, false)),
        "toRawJson" | "mustToRawJson" => J::from(json_text(&arg(0), false, true)),
        "typeIs" => J::from(type_name(&arg(1)) == s(0)),
        "typeIsLike" => J::from(type_name(&arg(1)) == s(0) || format!("*{}", s(0)) == type_name(&arg(1))),
        "deepEqual" => {
            arity(a, 2)?;
            J::from(deep_equal(&a[0], &a[1]))
        }
        // numbers
        "until" => {
            let n = to_i64(&arg(0));
            J::from(until_step(0, n, if n < 0 { -1 } else { 1 })?)
        }
        "untilStep" => J::from(until_step(to_i64(&arg(0)), to_i64(&arg(1)), to_i64(&arg(2)))?),
        "seq" => J::from(seq(a)?),
        "round" => {
            // sprig: round half up on the fraction's sign-less comparison (Modf), so -2.4 → -3
            let round_on = a.get(2).map_or(0.5, to_f64);
            let pow = 10f64.powf(a.get(1).map_or(0.0, to_f64));
            let digit = pow * to_f64(&arg(0));
            let r = if digit.fract() >= round_on {
                digit.ceil()
            } else {
                digit.floor()
            };
            J::from(r / pow)
        }
        "addf" => decimal_op(&J::from(0.0), a, "add")?,
        "add1f" => decimal_op(&arg(0), &[J::from(1)], "add")?,
        "subf" => decimal_op(&arg(0), a.get(1..).unwrap_or_default(), "sub")?,
        "mulf" => decimal_op(&arg(0), a.get(1..).unwrap_or_default(), "mul")?,
        "divf" => decimal_op(&arg(0), a.get(1..).unwrap_or_default(), "div")?,
        "biggest" => call_checked("max", a)?,
        "maxf" => J::from(a.iter().map(to_f64).fold(to_f64(&arg(0)), f64::max)),
        "minf" => J::from(a.iter().map(to_f64).fold(to_f64(&arg(0)), f64::min)),
        "toDecimal" => J::from(i64::from_str_radix(&go_sprint(&arg(0)), 8).unwrap_or(0)),
        // strings
        "hello" => J::from("Hello!"),
        "abbrevboth" => {
            let (left, right, st) = (to_i64(&arg(0)), to_i64(&arg(1)), s(2));
            J::from(if right < 4 || (left > 0 && right < 7) {
                st
            } else {
                abbreviate_full(&st, left, right)
            })
        }
        "wrap" => J::from(wrap(&s(1), to_i64(&arg(0)), "", false)),
        "wrapWith" => J::from(wrap(&s(2), to_i64(&arg(0)), &s(1), true)),
        "swapcase" => J::from(swap_case(&s(0))),
        "adler32sum" => {
            let mut h = adler2::Adler32::new();
            h.write_slice(s(0).as_bytes());
            J::from(h.checksum().to_string())
        }
        "b32enc" => J::from(data_encoding::BASE32.encode(s(0).as_bytes())),
        "b32dec" => match data_encoding::BASE32.decode(s(0).as_bytes()) {
            Ok(b) => J::from(String::from_utf8_lossy(&b).into_owned()),
            Err(e) => J::from(format!("illegal base32 data at input byte {}", e.position)),
        },
        "regexMatch" => J::from(regex(&s(0)).is_ok_and(|r| r.is_match(&s(1)))),
        "mustRegexMatch" => J::from(regex(&s(0))?.is_match(&s(1))),
        "mustRegexFind" => call_checked("regexFind", a)?,
        "mustRegexFindAll" => call_checked("regexFindAll", a)?,
        "mustRegexReplaceAllLiteral" => call_checked("regexReplaceAllLiteral", a)?,
        "mustRegexSplit" => call_checked("regexSplit", a)?,
        "regexQuoteMeta" => J::from(regex::escape(&s(0))),
        // paths (Go's `path`; `filepath` is the same on Linux, where Argo CD runs)
        "base" | "osBase" => J::from(text::go_base(&s(0))),
        "dir" | "osDir" => J::from(dir_path(&s(0))),
        "clean" | "osClean" => J::from(clean_path(&s(0))),
        "ext" | "osExt" => J::from(ext_path(&s(0))),
        "isAbs" | "osIsAbs" => J::from(s(0).starts_with('/')),
        "urlParse" => url_parse(&s(0))?,
        "urlJoin" => J::from(url_join(&arg(0))?),
        // random values (a new value on every render, as in Argo CD)
        "randAlphaNum" => J::from(random_string(
            to_i64(&arg(0)),
            b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        )?),
        "randAlpha" => J::from(random_string(
            to_i64(&arg(0)),
            b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
        )?),
        "randNumeric" => J::from(random_string(to_i64(&arg(0)), b"0123456789")?),
        "randAscii" => {
            let printable: Vec<u8> = (32u8..127).collect();
            J::from(random_string(to_i64(&arg(0)), &printable)?)
        }
        "randBytes" => {
            use base64::Engine as _;
            let n = to_i64(&arg(0));
            if n < 0 {
                return Err("runtime error: makeslice: len out of range".into());
            }
            J::from(
                base64::engine::general_purpose::STANDARD.encode(random_bytes((n as usize).min(MAX_STRING))?),
            )
        }
        "randInt" => {
            let (lo, hi) = (to_i64(&arg(0)), to_i64(&arg(1)));
            if hi <= lo {
                return Err("invalid argument to Intn".into());
            }
            J::from(lo + random_below((hi - lo) as u64)? as i64)
        }
        "shuffle" => {
            let mut chars: Vec<char> = s(0).chars().collect();
            for i in (1..chars.len()).rev() {
                let j = random_below(i as u64 + 1)? as usize;
                chars.swap(i, j);
            }
            J::from(chars.into_iter().collect::<String>())
        }
        "uuidv4" => J::from(uuid::Uuid::new_v4().to_string()),
        other if super::gotime::FUNCTIONS.contains(&other) => super::gotime::call(other, a)?,
        other if NOT_SUPPORTED.contains(&other) => {
            return Err(format!(
                "{other} is not supported by appset: it makes a new key, certificate or salt on \
                 every render, so the Application would change on every reconcile"
            ));
        }
        other => return Err(format!("function {other:?} not implemented")),
    })
}
