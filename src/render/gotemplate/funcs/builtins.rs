//! Go's `text/template` builtins: `and`, `or`, `not`, `eq` ... `ge`, `index`, `len`, `print`,
//! `printf`, `println`, `html`, `js`, `urlquery` (`slice` is sprig's in Argo CD, in `lists`;
//! `call` is not in the set).
//!
//! Stage: render (pure; no I/O). `and` and `or` short-circuit, so the compiler writes them out
//! and never calls them here; their rows give Go's signature, and their implementations the same
//! answer on evaluated arguments.

use minijinja::{Value as J, value::ValueKind};

use super::fmt::{self, Arg};
use super::{Func, arg_go_type, arity, returns_arg, returns_type};
use crate::render::gotemplate::value::{GoType, as_string, dyn_type, go_sprint, is_nil_slice, to_f64, truth};
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

/// Go's `fmt.Sprint`.
fn print(a: &[J]) -> Result<J, String> {
    fmt::sprint(&typed(a, 0)).map(J::from)
}

/// Go's `fmt.Sprintln`.
fn println(a: &[J]) -> Result<J, String> {
    fmt::sprintln(&typed(a, 0)).map(J::from)
}

/// Go's `fmt.Sprintf`.
fn printf(a: &[J]) -> Result<J, String> {
    let Some(f) = a.first() else {
        return Err("wrong number of args for printf: want at least 1 got 0".into());
    };
    fmt::sprintf(&as_string(f), &typed(a, 1)).map(J::from)
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
    t.is_none() || matches!(v.kind(), ValueKind::None | ValueKind::Undefined) || is_nil_slice(v)
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
                            fmt::sprintf("%s", &[(x.clone(), tx)]).unwrap_or_default(),
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
                            fmt::sprintf("%s", &[(y.clone(), ty)]).unwrap_or_default(),
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

/// Go's `URLQueryEscaper`: `url.QueryEscape` of the arguments.
fn urlquery(a: &[J]) -> Result<J, String> {
    Ok(J::from(url_escape(&eval_args(a)?)))
}

/// Go's `HTMLEscaper`: `HTMLEscapeString` of the arguments.
fn html(a: &[J]) -> Result<J, String> {
    let mut out = String::new();
    for c in eval_args(a)?.chars() {
        match c {
            '\0' => out.push('\u{fffd}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    Ok(J::from(out))
}

/// Go's `JSEscaper`: `JSEscapeString` of the arguments.
fn js(a: &[J]) -> Result<J, String> {
    let mut out = String::new();
    for c in eval_args(a)?.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if c < ' ' => out.push_str(&format!("\\u00{:02X}", c as u32)),
            c if c.is_ascii() || text::is_go_print(c) => out.push(c),
            c => out.push_str(&format!("\\u{:04X}", c as u32)),
        }
    }
    Ok(J::from(out))
}

/// The arguments of the call in progress from `from` on, with their Go types as fmt sees them:
/// the interpreter's, or the type of what the value holds.
fn typed(a: &[J], from: usize) -> Vec<Arg> {
    a.iter()
        .enumerate()
        .skip(from)
        .map(|(i, v)| {
            let ty = match arg_go_type(i) {
                Some(Some(GoType::Iface)) | None => dyn_type(v),
                Some(t) => t,
            };
            (v.clone(), ty)
        })
        .collect()
}

/// text/template's `evalArgs`: a lone string argument as is, else `fmt.Sprint` of them all,
/// each nil turned into the string `<no value>` (`printableValue`).
fn eval_args(a: &[J]) -> Result<String, String> {
    let args: Vec<Arg> = typed(a, 0)
        .into_iter()
        .map(|(v, ty)| match ty {
            None => (J::from("<no value>"), Some(GoType::Str)),
            Some(t) => (v, Some(t)),
        })
        .collect();
    match args.as_slice() {
        [(v, Some(GoType::Str))] => Ok(as_string(v)),
        _ => fmt::sprint(&args),
    }
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
