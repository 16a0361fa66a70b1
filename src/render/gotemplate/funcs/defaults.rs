//! sprig's default and flow-control functions: `default`, `empty`, `coalesce`, `all`, `any`,
//! `ternary`, `fail`.
//!
//! Stage: render (pure; no I/O).

use minijinja::Value as J;

use super::{Func, arity, returns_arg, str_at};
use crate::render::gotemplate::value::truth;

pub(super) const FUNCS: &[Func] = &[
    Func::new("all", 0, true, all),
    Func::new("any", 0, true, any),
    Func::new("coalesce", 0, true, coalesce),
    Func::new("default", 1, true, default),
    Func::new("empty", 1, false, empty),
    Func::new("fail", 1, false, fail),
    Func::new("ternary", 3, false, ternary),
];

/// `default DEFAULT VALUE`: VALUE unless it is empty (or absent).
fn default(a: &[J]) -> Result<J, String> {
    Ok(if a.len() < 2 || !truth(&a[1]) {
        returns_arg(a, 0)
    } else {
        returns_arg(a, 1)
    })
}

fn empty(a: &[J]) -> Result<J, String> {
    Ok(J::from(!truth(&a[0])))
}

fn coalesce(a: &[J]) -> Result<J, String> {
    Ok(match a.iter().position(truth) {
        Some(i) => returns_arg(a, i),
        None => J::from(()),
    })
}

fn ternary(a: &[J]) -> Result<J, String> {
    arity(a, 3)?;
    Ok(if truth(&a[2]) {
        returns_arg(a, 0)
    } else {
        returns_arg(a, 1)
    })
}

fn fail(a: &[J]) -> Result<J, String> {
    Err(str_at(a, 0))
}

fn all(a: &[J]) -> Result<J, String> {
    Ok(J::from(a.iter().all(truth)))
}

fn any(a: &[J]) -> Result<J, String> {
    Ok(J::from(a.iter().any(truth)))
}
