//! Go's `text/template` builtins: `and`, `or`, `not`, `eq` ... `ge`, `index`, `len`, `print`,
//! `printf`, `println`, `html`, `js`, `urlquery` (`slice` is sprig's in Argo CD, in `lists`;
//! `call` is not in the set).
//!
//! Stage: render (pure; no I/O). `and` and `or` short-circuit, so the compiler writes them out
//! and never calls them here; their rows give Go's signature, and their implementations the same
//! answer on evaluated arguments.

use minijinja::{Value as J, value::ValueKind};

use super::{Func, arg_go_type, arity, returns_arg, returns_type};
use crate::render::gotemplate::value::{
    GoType, as_string, dyn_type, go_sprint, is_float, to_f64, truth, type_name,
};
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

/// Go's `length`: no value makes reflect panic; a nil interface is a nil pointer.
fn len(a: &[J]) -> Result<J, String> {
    arity(a, 1)?;
    if a[0].is_undefined() {
        return Err("reflect: call of reflect.Value.Type on zero Value".into());
    }
    match go_type(a, 0) {
        None => Err("len of nil pointer".into()),
        Some(GoType::Str) => Ok(J::from(a[0].as_str().unwrap_or_default().len() as i64)),
        Some(t) if matches!(t.kind(), "slice" | "map") => Ok(J::from(a[0].len().unwrap_or(0) as i64)),
        Some(t) => Err(format!("len of type {}", t.name())),
    }
}

/// Go's `index`: slices and strings by integer, maps by string key; a missing key gives the
/// map's zero value (nil, which cannot be indexed further).
fn index(a: &[J]) -> Result<J, String> {
    let Some(mut t) = go_type(a, 0) else {
        return Err("index of untyped nil".into());
    };
    if a.len() == 1 {
        return Ok(returns_arg(a, 0));
    }
    let mut item = a[0].clone();
    for i in 1..a.len() {
        let (key, kt) = (&a[i], go_type(a, i));
        if t == GoType::Iface || matches!(item.kind(), ValueKind::None | ValueKind::Undefined) {
            match dyn_type(&item) {
                Some(inner) => t = inner,
                None => return Err("index of nil pointer".into()),
            }
        }
        match t.kind() {
            "slice" | "string" => {
                let x = match basic_kind(kt) {
                    Basic::Int | Basic::Uint => key.as_i64().unwrap_or(0),
                    _ if kt.is_none() => return Err("cannot index slice/array with nil".into()),
                    _ => {
                        return Err(format!(
                            "cannot index slice/array with type {}",
                            kt.map_or("<nil>", GoType::name)
                        ));
                    }
                };
                let s = item.as_str().map(str::as_bytes);
                let n = s.map_or_else(|| item.len().unwrap_or(0), <[u8]>::len) as i64;
                if x < 0 || x > n {
                    return Err(format!("index out of range: {x}"));
                }
                if x == n {
                    let what = if s.is_some() { "string" } else { "slice" };
                    return Err(format!("reflect: {what} index out of range"));
                }
                item = match s {
                    Some(bytes) => J::from(i64::from(bytes[x as usize])),
                    None => item.get_item(&J::from(x)).unwrap_or_default(),
                };
            }
            "map" => {
                match kt {
                    Some(GoType::Str) => {}
                    None => return Err("value is nil; should be of type string".into()),
                    Some(other) => {
                        return Err(format!("value has type {}; should be string", other.name()));
                    }
                }
                item = match item.get_item(key) {
                    Ok(x) if !x.is_undefined() => x,
                    _ if t == GoType::StrMap => J::from(""),
                    _ => J::from(()),
                };
            }
            _ => return Err(format!("can't index item of type {}", t.name())),
        }
        t = t.elem();
    }
    if t != GoType::Iface {
        returns_type(Some(t));
    }
    Ok(item)
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
    Ok(J::from(go_eq(a, 0, 1..a.len())?))
}

fn ne(a: &[J]) -> Result<J, String> {
    arity(a, 2)?;
    Ok(J::from(!go_eq(a, 0, 1..2)?))
}

fn lt(a: &[J]) -> Result<J, String> {
    arity(a, 2)?;
    Ok(J::from(go_lt(a)?))
}

/// `<=` is `<` or `==`.
fn le(a: &[J]) -> Result<J, String> {
    arity(a, 2)?;
    Ok(J::from(go_lt(a)? || go_eq(a, 0, 1..2)?))
}

fn gt(a: &[J]) -> Result<J, String> {
    arity(a, 2)?;
    Ok(J::from(!(go_lt(a)? || go_eq(a, 0, 1..2)?)))
}

fn ge(a: &[J]) -> Result<J, String> {
    arity(a, 2)?;
    Ok(J::from(!go_lt(a)?))
}

/// text/template's `basicKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Basic {
    Invalid,
    Bool,
    Int,
    Uint,
    Float,
    Str,
}

/// The Go type of argument `i` after `indirectInterface` (`None`: nil or no value).
fn go_type(a: &[J], i: usize) -> Option<GoType> {
    arg_go_type(i).unwrap_or_else(|| dyn_type(&a[i]))
}

fn basic_kind(t: Option<GoType>) -> Basic {
    match t {
        Some(GoType::Bool) => Basic::Bool,
        Some(GoType::Int | GoType::Int64) => Basic::Int,
        Some(GoType::Uint8 | GoType::Uint32) => Basic::Uint,
        Some(GoType::Float64) => Basic::Float,
        Some(GoType::Str) => Basic::Str,
        _ => Basic::Invalid,
    }
}

/// Go's `isNil`: no value, or a nil map, slice or pointer.
fn is_nil(v: &J, t: Option<GoType>) -> bool {
    t.is_none() || matches!(v.kind(), ValueKind::None | ValueKind::Undefined)
}

/// Go's `eq` (Go 1.19's funcs.go): argument `first` against each of `others`.
fn go_eq(a: &[J], first: usize, others: std::ops::Range<usize>) -> Result<bool, String> {
    let (x, tx) = (&a[first], go_type(a, first));
    let k1 = basic_kind(tx);
    for i in others {
        let (y, ty) = (&a[i], go_type(a, i));
        let k2 = basic_kind(ty);
        let truth = if k1 != k2 {
            match (k1, k2) {
                (Basic::Int, Basic::Uint) | (Basic::Uint, Basic::Int) => x.as_i64() == y.as_i64(),
                _ if tx.is_some() && ty.is_some() => return Err("incompatible types for comparison".into()),
                _ => false,
            }
        } else {
            match k1 {
                Basic::Bool | Basic::Str => x == y,
                Basic::Int | Basic::Uint => x.as_i64() == y.as_i64(),
                Basic::Float => to_f64(x) == to_f64(y),
                Basic::Invalid => {
                    let (rx, ry) = (tx.map(GoType::kind), ty.map(GoType::kind));
                    if rx != ry && tx.is_some() && ty.is_some() {
                        return Err(format!(
                            "non-comparable types {}: {}, {}: {}",
                            sprintf("%s", std::slice::from_ref(x)),
                            tx.map_or("<nil>", GoType::name),
                            ty.map_or("<nil>", GoType::name),
                            go_sprint(y)
                        ));
                    }
                    if is_nil(x, tx) || is_nil(y, ty) {
                        is_nil(x, tx) == is_nil(y, ty)
                    } else if let Some(t) = ty.filter(|t| matches!(t.kind(), "map" | "slice")) {
                        return Err(format!(
                            "non-comparable type {}: {}",
                            sprintf("%s", std::slice::from_ref(y)),
                            t.name()
                        ));
                    } else {
                        tx == ty && x == y
                    }
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Go's `lt` (Go 1.19's funcs.go).
fn go_lt(a: &[J]) -> Result<bool, String> {
    let k1 = basic_kind(go_type(a, 0));
    if k1 == Basic::Invalid {
        return Err("invalid type for comparison".into());
    }
    let k2 = basic_kind(go_type(a, 1));
    if k2 == Basic::Invalid {
        return Err("invalid type for comparison".into());
    }
    let (x, y) = (&a[0], &a[1]);
    if k1 != k2 {
        return match (k1, k2) {
            (Basic::Int, Basic::Uint) | (Basic::Uint, Basic::Int) => Ok(x.as_i64() < y.as_i64()),
            _ => Err("incompatible types for comparison".into()),
        };
    }
    match k1 {
        Basic::Bool | Basic::Invalid => Err("invalid type for comparison".into()),
        Basic::Float => Ok(to_f64(x) < to_f64(y)),
        Basic::Int | Basic::Uint => Ok(x.as_i64() < y.as_i64()),
        Basic::Str => Ok(x.as_str() < y.as_str()),
    }
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
