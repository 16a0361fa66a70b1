//! sprig's dictionary functions: `dict`, `get`, `set`, `unset`, `hasKey`, `keys`, `values`,
//! `pluck`, `pick`, `omit`, `dig`, `merge`, `mergeOverwrite`, `deepCopy` (and `must` twins).
//!
//! Stage: render (pure; no I/O).

use std::collections::BTreeMap;

use minijinja::{Value as J, value::ValueKind};

use super::{Func, arg_at, arg_go_type, returns_arg, returns_type, str_at};
use crate::render::gotemplate::value::{GoType, as_string, dict_of, type_name};

pub(super) const FUNCS: &[Func] = &[
    Func::new("deepCopy", 1, false, deep_copy),
    Func::new("dict", 0, true, dict),
    Func::new("dig", 0, true, dig),
    Func::new("get", 2, false, get),
    Func::new("hasKey", 2, false, has_key),
    Func::new("keys", 0, true, keys),
    Func::new("merge", 1, true, merge),
    Func::new("mergeOverwrite", 1, true, merge_overwrite),
    Func::new("mustDeepCopy", 1, false, deep_copy),
    Func::new("mustMerge", 1, true, merge),
    Func::new("mustMergeOverwrite", 1, true, merge_overwrite),
    Func::new("omit", 1, true, omit),
    Func::new("pick", 1, true, pick),
    Func::new("pluck", 1, true, pluck),
    Func::new("set", 3, false, set),
    Func::new("unset", 2, false, unset),
    Func::new("values", 1, false, values),
];

/// `dict K1 V1 K2 V2 ...`; a key without a value maps to `""`.
fn dict(a: &[J]) -> Result<J, String> {
    let mut m = BTreeMap::new();
    for pair in a.chunks(2) {
        m.insert(
            super::types::strval(&pair[0]),
            pair.get(1).cloned().unwrap_or_else(|| J::from("")),
        );
    }
    Ok(J::from(m))
}

/// `get DICT KEY`: `""` for a missing key.
fn get(a: &[J]) -> Result<J, String> {
    let x = a[0].get_item(&a[1]).unwrap_or_default();
    Ok(if x.is_undefined() { J::from("") } else { x })
}

fn set(a: &[J]) -> Result<J, String> {
    if a[0].is_none() || a[0].is_undefined() {
        return Err("assignment to entry in nil map".into());
    }
    let mut m = dict_of(&a[0]);
    m.insert(str_at(a, 1), a.get(2).cloned().unwrap_or_default());
    Ok(J::from(m))
}

fn unset(a: &[J]) -> Result<J, String> {
    let mut m = dict_of(&a[0]);
    m.remove(&str_at(a, 1));
    Ok(J::from(m))
}

fn has_key(a: &[J]) -> Result<J, String> {
    Ok(J::from(dict_of(&a[0]).contains_key(&str_at(a, 1))))
}

/// The keys of every dict given, sorted.
fn keys(a: &[J]) -> Result<J, String> {
    let mut k: Vec<String> = a.iter().flat_map(|d| dict_of(d).into_keys()).collect();
    k.sort();
    Ok(J::from(k.into_iter().map(J::from).collect::<Vec<_>>()))
}

fn values(a: &[J]) -> Result<J, String> {
    Ok(J::from(dict_of(&a[0]).into_values().collect::<Vec<_>>()))
}

/// `pluck KEY DICT...`: the KEY of every dict that has it.
fn pluck(a: &[J]) -> Result<J, String> {
    let key = str_at(a, 0);
    Ok(J::from(
        a[1..]
            .iter()
            .filter_map(|d| dict_of(d).remove(&key))
            .collect::<Vec<_>>(),
    ))
}

/// `merge` and `mustMerge`: the first dict's keys win.
/// Whether every argument is nil: mergo then leaves the nil destination map as it is.
fn all_nil(a: &[J]) -> bool {
    let nil = a
        .iter()
        .all(|d| matches!(d.kind(), ValueKind::None | ValueKind::Undefined));
    if nil {
        returns_type(Some(GoType::Map));
    }
    nil
}

fn merge(a: &[J]) -> Result<J, String> {
    if all_nil(a) {
        return Ok(J::from(()));
    }
    let mut out = dict_of(&a[0]);
    for d in &a[1..] {
        for (k, v) in dict_of(d) {
            out.entry(k).or_insert(v);
        }
    }
    Ok(J::from(out))
}

/// `mergeOverwrite` and `mustMergeOverwrite`: the last dict's keys win.
fn merge_overwrite(a: &[J]) -> Result<J, String> {
    if all_nil(a) {
        return Ok(J::from(()));
    }
    let mut out = dict_of(&a[0]);
    for d in &a[1..] {
        out.extend(dict_of(d));
    }
    Ok(J::from(out))
}

/// The first dict with only (`keep`) or without the keys named by the other arguments.
fn filter_keys(a: &[J], keep: bool) -> J {
    let keys: Vec<String> = a[1..].iter().map(as_string).collect();
    J::from(
        dict_of(&a[0])
            .into_iter()
            .filter(|(k, _)| keys.contains(k) == keep)
            .collect::<BTreeMap<_, _>>(),
    )
}

fn pick(a: &[J]) -> Result<J, String> {
    Ok(filter_keys(a, true))
}

fn omit(a: &[J]) -> Result<J, String> {
    Ok(filter_keys(a, false))
}

/// Go's panic for a failed type assertion `x.(T)` on an `interface {}` holding `x` of type
/// `held` (`None` for nil).
fn conversion_error(held: Option<&str>, want: &str) -> String {
    format!(
        "interface conversion: interface {{}} is {}, not {want}",
        held.unwrap_or("nil")
    )
}

/// The Go type name of a value held by an `interface {}` (`None` for nil).
fn held_type(v: &J) -> Option<&'static str> {
    (!v.is_none() && !v.is_undefined()).then(|| type_name(v))
}

/// `dig K1 K2 ... DEFAULT DICT`: sprig's type assertions (the dict, then the keys, then each
/// value on the way a map) panic as Go's do.
fn dig(a: &[J]) -> Result<J, String> {
    if a.len() < 3 {
        return Err("dig needs at least three arguments".into());
    }
    let held = |i: usize| match arg_go_type(i) {
        Some(Some(t)) => Some(t.name()),
        Some(None) => None,
        None => held_type(&a[i]),
    };
    let (n, map) = (a.len(), "map[string]interface {}");
    if a[n - 1].kind() != ValueKind::Map {
        return Err(conversion_error(held(n - 1), map));
    }
    for (i, k) in a[..n - 2].iter().enumerate() {
        if k.kind() != ValueKind::String {
            return Err(conversion_error(held(i), "string"));
        }
    }
    let mut v = a[n - 1].clone();
    for (i, k) in a[..n - 2].iter().enumerate() {
        if i > 0 && v.kind() != ValueKind::Map {
            return Err(conversion_error(held_type(&v), map));
        }
        match dict_of(&v).remove(&as_string(k)) {
            Some(step) => v = step,
            None => return Ok(returns_arg(a, n - 2)),
        }
    }
    Ok(v)
}

/// `deepCopy` and `mustDeepCopy`: the value itself (template values are never changed in
/// place, so it is as good as a copy), of the same Go type; nil makes copystructure's reflection
/// panic, which text/template reports.
fn deep_copy(a: &[J]) -> Result<J, String> {
    if matches!(arg_at(a, 0).kind(), ValueKind::None | ValueKind::Undefined) {
        return Err("reflect: call of reflect.Value.Type on zero Value".into());
    }
    Ok(returns_arg(a, 0))
}
