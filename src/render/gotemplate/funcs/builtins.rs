//! Go's `text/template` builtins: `and`, `or`, `not`, `eq` ... `ge`, `index`, `len`, `print`,
//! `printf`, `println`, `html`, `js`, `urlquery` (`slice` is sprig's in Argo CD, in `lists`;
//! `call` is not in the set).
//!
//! Stage: render (pure; no I/O). `and` and `or` short-circuit, so the compiler writes them out
//! and never calls them here; their rows give Go's signature, and their implementations the same
//! answer on evaluated arguments.

use minijinja::{Value as J, value::ValueKind};

use super::fmt::{self, Arg};
use super::{Func, arg_go_type, arity};
use crate::render::gotemplate::value::{GoType, as_string, dyn_type, is_float, to_f64, truth, type_name};
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
