//! sprig's type conversion functions (`atoi`, `int`, `int64`, `float64`, `toDecimal`,
//! `toString`, `toStrings`) and reflection functions (`kindOf`, `kindIs`, `typeOf`, `typeIs`,
//! `typeIsLike`, `deepEqual`).
//!
//! Stage: render (pure; no I/O).

use minijinja::{Value as J, value::ValueKind};

use super::{Func, arg_at, arity, kind_at, str_at, type_at};
use crate::render::gotemplate::value::{as_string, deep_equal, go_sprint, items, to_f64, to_i64};

pub(super) const FUNCS: &[Func] = &[
    Func::new("atoi", 1, false, atoi),
    Func::new("float64", 1, false, float64),
    Func::new("int", 1, false, int),
    Func::new("int64", 1, false, int),
    Func::new("toDecimal", 1, false, to_decimal),
    Func::new("toString", 1, false, to_string),
    Func::new("toStrings", 1, false, to_strings),
    // reflection
    Func::new("deepEqual", 2, false, deep_equal_fn),
    Func::new("kindIs", 2, false, kind_is),
    Func::new("kindOf", 1, false, kind_of_fn),
    Func::new("typeIs", 2, false, type_is),
    Func::new("typeIsLike", 2, false, type_is_like),
    Func::new("typeOf", 1, false, type_of),
];

/// `int` and `int64`: sprig's `toInt64`.
fn int(a: &[J]) -> Result<J, String> {
    Ok(J::from(to_i64(&a[0])))
}

/// `atoi`: Go's `strconv.Atoi` (base 10, a sign, no spaces or underscores), its value kept on a
/// range error (the limit) and 0 on a syntax error.
fn atoi(a: &[J]) -> Result<J, String> {
    let s = str_at(a, 0);
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s.as_str()),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(J::from(0));
    }
    let n = digits
        .bytes()
        .fold(0i128, |n, d| (n * 10 + i128::from(d - b'0')).min(1 << 64));
    let n = if neg { -n } else { n };
    Ok(J::from(n.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64))
}

fn float64(a: &[J]) -> Result<J, String> {
    Ok(J::from(to_f64(&a[0])))
}

/// An octal number's value (`toDecimal "0777"` is 511), 0 when it is not one.
fn to_decimal(a: &[J]) -> Result<J, String> {
    Ok(J::from(
        i64::from_str_radix(&go_sprint(&arg_at(a, 0)), 8).unwrap_or(0),
    ))
}

/// sprig's `strval`: a string as it is, anything else as `%v` prints it (nil is `<nil>`).
pub(super) fn strval(v: &J) -> String {
    match v.kind() {
        ValueKind::String => as_string(v),
        _ => go_sprint(v),
    }
}

fn to_string(a: &[J]) -> Result<J, String> {
    Ok(J::from(strval(&a[0])))
}

fn to_strings(a: &[J]) -> Result<J, String> {
    Ok(J::from(
        strslice(&a[0]).into_iter().map(J::from).collect::<Vec<_>>(),
    ))
}

/// sprig's `strslice`: a list's non-nil elements as strings, nil as no strings, anything else
/// as one string.
pub(super) fn strslice(v: &J) -> Vec<String> {
    match v.kind() {
        ValueKind::Seq => items(v)
            .iter()
            .filter(|x| !matches!(x.kind(), ValueKind::None | ValueKind::Undefined))
            .map(as_string)
            .collect(),
        ValueKind::None | ValueKind::Undefined => Vec::new(),
        _ => vec![as_string(v)],
    }
}

fn kind_of_fn(a: &[J]) -> Result<J, String> {
    Ok(J::from(kind_at(a, 0)))
}

fn kind_is(a: &[J]) -> Result<J, String> {
    Ok(J::from(kind_at(a, 1) == str_at(a, 0)))
}

fn type_of(a: &[J]) -> Result<J, String> {
    Ok(J::from(type_at(a, 0)))
}

fn type_is(a: &[J]) -> Result<J, String> {
    Ok(J::from(type_at(a, 1) == str_at(a, 0)))
}

fn type_is_like(a: &[J]) -> Result<J, String> {
    let (want, got) = (str_at(a, 0), type_at(a, 1));
    Ok(J::from(got == want || format!("*{want}") == got))
}

fn deep_equal_fn(a: &[J]) -> Result<J, String> {
    arity(a, 2)?;
    Ok(J::from(deep_equal(&a[0], &a[1])))
}
