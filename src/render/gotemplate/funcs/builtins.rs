//! Go's `text/template` builtins: `and`, `or`, `not`, `eq` ... `ge`, `index`, `len`, `print`,
//! `printf`, `println`, `html`, `js`, `urlquery` (`slice` is sprig's in Argo CD, in `lists`;
//! `call` is not in the set).
//!
//! Stage: render (pure; no I/O). `and` and `or` short-circuit, so the compiler writes them out
//! and never calls them here; their rows give Go's signature, and their implementations the same
//! answer on evaluated arguments.

use minijinja::{Value as J, value::ValueKind};

use super::{Func, arity};
use crate::render::gotemplate::value::{as_string, go_sprint, is_float, to_f64, truth, type_name};
use crate::text;

pub(super) const FUNCS: &[Func] = &[
    Func::new("and", 1, true, and),
    Func::new("eq", 1, true, eq),
    Func::new("ge", 2, false, ge),
    Func::new("gt", 2, false, gt),
    Func::new("html", 0, true, html),
    Func::new("index", 1, true, index),
    Func::new("js", 0, true, js),
    Func::new("le", 2, false, le),
    Func::new("len", 1, false, len),
    Func::new("lt", 2, false, lt),
    Func::new("ne", 2, false, ne),
    Func::new("not", 1, false, not),
    Func::new("or", 1, true, or),
    Func::new("print", 0, true, print),
    Func::new("printf", 1, true, printf),
    Func::new("println", 0, true, println),
    Func::new("urlquery", 0, true, urlquery),
];

/// The first falsy argument, else the last.
fn and(a: &[J]) -> Result<J, String> {
    Ok(a.iter()
        .find(|v| !truth(v))
        .or(a.last())
        .cloned()
        .unwrap_or_default())
}

/// The first truthy argument, else the last.
fn or(a: &[J]) -> Result<J, String> {
    Ok(a.iter()
        .find(|v| truth(v))
        .or(a.last())
        .cloned()
        .unwrap_or_default())
}

fn not(a: &[J]) -> Result<J, String> {
    arity(a, 1)?;
    Ok(J::from(!truth(&a[0])))
}

fn len(a: &[J]) -> Result<J, String> {
    arity(a, 1)?;
    Ok(match a[0].kind() {
        ValueKind::String => J::from(a[0].as_str().unwrap_or_default().len() as i64),
        ValueKind::Seq | ValueKind::Map => J::from(a[0].len().unwrap_or(0) as i64),
        _ => return Err(format!("len of type {}", type_name(&a[0]))),
    })
}

fn index(a: &[J]) -> Result<J, String> {
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
    Ok(v)
}

fn print(a: &[J]) -> Result<J, String> {
    Ok(J::from(sprint(a)))
}

fn println(a: &[J]) -> Result<J, String> {
    Ok(J::from(format!(
        "{}\n",
        a.iter().map(go_sprint).collect::<Vec<_>>().join(" ")
    )))
}

fn printf(a: &[J]) -> Result<J, String> {
    let Some((f, rest)) = a.split_first() else {
        return Err("wrong number of args for printf: want at least 1 got 0".into());
    };
    Ok(J::from(sprintf(&as_string(f), rest)))
}

fn eq(a: &[J]) -> Result<J, String> {
    if a.len() < 2 {
        return Err("missing argument for comparison".into());
    }
    let mut any = false;
    for b in &a[1..] {
        if basic_eq(&a[0], b)? {
            any = true;
        }
    }
    Ok(J::from(any))
}

fn ne(a: &[J]) -> Result<J, String> {
    arity(a, 2)?;
    Ok(J::from(!basic_eq(&a[0], &a[1])?))
}

fn lt(a: &[J]) -> Result<J, String> {
    arity(a, 2)?;
    Ok(J::from(basic_lt(&a[0], &a[1])?))
}

fn le(a: &[J]) -> Result<J, String> {
    arity(a, 2)?;
    Ok(J::from(basic_lt(&a[0], &a[1])? || basic_eq(&a[0], &a[1])?))
}

fn gt(a: &[J]) -> Result<J, String> {
    arity(a, 2)?;
    Ok(J::from(!basic_lt(&a[0], &a[1])? && !basic_eq(&a[0], &a[1])?))
}

fn ge(a: &[J]) -> Result<J, String> {
    arity(a, 2)?;
    Ok(J::from(!basic_lt(&a[0], &a[1])?))
}

fn urlquery(a: &[J]) -> Result<J, String> {
    Ok(J::from(url_escape(&sprint(a))))
}

fn html(a: &[J]) -> Result<J, String> {
    Ok(J::from(
        sprint(a)
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&#34;")
            .replace('\'', "&#39;"),
    ))
}

fn js(a: &[J]) -> Result<J, String> {
    Ok(J::from(
        sprint(a)
            .replace('\\', "\\\\")
            .replace('\'', "\\'")
            .replace('"', "\\\""),
    ))
}

/// Go's `eq` on basic kinds (numbers of one kind, strings, bools, nil).
fn basic_eq(a: &J, b: &J) -> Result<bool, String> {
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

/// Go's `lt` on basic kinds (numbers of one kind, strings).
fn basic_lt(a: &J, b: &J) -> Result<bool, String> {
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
fn sprintf(format: &str, args: &[J]) -> String {
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
fn sprint(args: &[J]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && a.kind() != ValueKind::String && args[i - 1].kind() != ValueKind::String {
            out.push(' ');
        }
        out.push_str(&go_sprint(a));
    }
    out
}

/// Go's `url.QueryEscape`.
fn url_escape(s: &str) -> String {
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
