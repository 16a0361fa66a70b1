//! sprig's list functions: `list`, `tuple`, `first`, `last`, `rest`, `initial`, `append`/`push`,
//! `prepend`, `concat`, `reverse`, `uniq`, `without`, `has`, `compact`, `slice`, `chunk`, and
//! their `must` twins.
//!
//! Stage: render (pure; no I/O). The plain functions and their `must` twins behave alike inside
//! a template: the plain ones panic where the `must` ones return an error, and text/template
//! turns the panic into the same error.

use minijinja::{Value as J, value::ValueKind};

use super::{Func, arg_at, kind_at, returns_type};
use crate::render::gotemplate::value::{
    NIL_DEREF, deep_equal, go_f64_to_i64, items, nil_slice, to_i64, truth,
};

pub(super) const FUNCS: &[Func] = &[
    Func::new("append", 2, false, append),
    Func::new("chunk", 2, false, chunk),
    Func::new("compact", 1, false, compact),
    Func::new("concat", 0, true, concat),
    Func::new("first", 1, false, first),
    Func::new("has", 2, false, has),
    Func::new("initial", 1, false, initial),
    Func::new("last", 1, false, last),
    Func::new("list", 0, true, list),
    Func::new("mustAppend", 2, false, append),
    Func::new("mustChunk", 2, false, chunk),
    Func::new("mustCompact", 1, false, compact),
    Func::new("mustFirst", 1, false, first),
    Func::new("mustHas", 2, false, has),
    Func::new("mustInitial", 1, false, initial),
    Func::new("mustLast", 1, false, last),
    Func::new("mustPrepend", 2, false, prepend),
    Func::new("mustPush", 2, false, append),
    Func::new("mustRest", 1, false, rest),
    Func::new("mustReverse", 1, false, reverse),
    Func::new("mustSlice", 1, true, slice),
    Func::new("mustUniq", 1, false, uniq),
    Func::new("mustWithout", 1, true, without),
    Func::new("prepend", 2, false, prepend),
    Func::new("push", 2, false, append),
    Func::new("rest", 1, false, rest),
    Func::new("reverse", 1, false, reverse),
    Func::new("slice", 1, true, slice),
    Func::new("tuple", 0, true, list),
    Func::new("uniq", 1, false, uniq),
    Func::new("without", 1, true, without),
];

/// `list` and `tuple`.
fn list(a: &[J]) -> Result<J, String> {
    Ok(J::from(a.to_vec()))
}

fn first(a: &[J]) -> Result<J, String> {
    Ok(list_of(a, 0, "find first")?.first().cloned().unwrap_or_default())
}

fn last(a: &[J]) -> Result<J, String> {
    Ok(list_of(a, 0, "find last")?.last().cloned().unwrap_or_default())
}

/// `rest`: all but the first; of an empty list, a nil slice (`[]`, JSON `null`).
fn rest(a: &[J]) -> Result<J, String> {
    let l = list_of(a, 0, "find rest")?;
    if l.is_empty() {
        return Ok(nil_slice());
    }
    Ok(J::from(l[1..].to_vec()))
}

/// `initial`: all but the last; of an empty list, a nil slice.
fn initial(a: &[J]) -> Result<J, String> {
    let l = list_of(a, 0, "find initial")?;
    if l.is_empty() {
        return Ok(nil_slice());
    }
    Ok(J::from(l[..l.len() - 1].to_vec()))
}

/// `append`, `push` and their `must` twins.
fn append(a: &[J]) -> Result<J, String> {
    let mut l = list_of(a, 0, "push")?;
    l.push(arg_at(a, 1));
    Ok(J::from(l))
}

fn prepend(a: &[J]) -> Result<J, String> {
    let mut l = vec![arg_at(a, 1)];
    l.extend(list_of(a, 0, "prepend")?);
    Ok(J::from(l))
}

fn reverse(a: &[J]) -> Result<J, String> {
    Ok(J::from(
        list_of(a, 0, "find reverse")?
            .into_iter()
            .rev()
            .collect::<Vec<_>>(),
    ))
}

fn uniq(a: &[J]) -> Result<J, String> {
    let mut out: Vec<J> = Vec::new();
    for x in list_of(a, 0, "find uniq")? {
        if !out.iter().any(|y| deep_equal(y, &x)) {
            out.push(x);
        }
    }
    Ok(J::from(out))
}

fn compact(a: &[J]) -> Result<J, String> {
    Ok(J::from(
        list_of(a, 0, "compact")?
            .into_iter()
            .filter(truth)
            .collect::<Vec<_>>(),
    ))
}

fn without(a: &[J]) -> Result<J, String> {
    let drop = &a[1..];
    Ok(J::from(
        list_of(a, 0, "find without")?
            .into_iter()
            .filter(|x| !drop.iter().any(|d| deep_equal(d, x)))
            .collect::<Vec<_>>(),
    ))
}

/// `has NEEDLE LIST`.
fn has(a: &[J]) -> Result<J, String> {
    let haystack = arg_at(a, 1);
    if haystack.is_none() || haystack.is_undefined() {
        return Ok(J::from(false));
    }
    Ok(J::from(
        list_of(a, 1, "find has")?
            .iter()
            .any(|x| deep_equal(x, &arg_at(a, 0))),
    ))
}

/// sprig's `slice LIST [FROM [TO]]` (it replaces Go's builtin in Argo CD: lists only).
fn slice(a: &[J]) -> Result<J, String> {
    let l = match arg_at(a, 0).kind() {
        ValueKind::Seq => items(&arg_at(a, 0)),
        ValueKind::Undefined | ValueKind::None => {
            return Err(NIL_DEREF.into());
        }
        _ => {
            return Err(format!(
                "list should be type of slice or array but {}",
                kind_at(a, 0)
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
        return Err("reflect.Value.Slice: slice index out of bounds".into());
    }
    // A slice of the same Go type ([]string stays []string).
    if let Some(Some(t)) = super::arg_go_type(0) {
        returns_type(Some(t));
    }
    Ok(J::from(l[from as usize..to as usize].to_vec()))
}

fn concat(a: &[J]) -> Result<J, String> {
    let mut out = Vec::new();
    for (i, l) in a.iter().enumerate() {
        match l.kind() {
            ValueKind::Seq => out.extend(items(l)),
            ValueKind::Undefined | ValueKind::None => {
                return Err(NIL_DEREF.into());
            }
            _ => return Err(format!("Cannot concat type {} as list", kind_at(a, i))),
        }
    }
    if out.is_empty() {
        // Nothing appended: sprig's nil slice.
        return Ok(nil_slice());
    }
    Ok(J::from(out))
}

/// `chunk SIZE LIST`, as sprig computes it in float64: the number of chunks is
/// `floor((len-1)/size)+1`, the last one `len mod size` long; a size of 0 or less makes Go's
/// `make` fail (or, for some negative sizes, gives no chunks or one).
fn chunk(a: &[J]) -> Result<J, String> {
    let size = to_i64(&arg_at(a, 0));
    let l = list_of(a, 1, "chunk")?;
    let bad_len = || "runtime error: makeslice: len out of range".to_string();
    let (len, size_f) = (l.len() as f64, size as f64);
    let cs = go_f64_to_i64(((len - 1.0) / size_f).floor() + 1.0);
    if cs < 0 {
        return Err(bad_len());
    }
    let mut out = Vec::new();
    for i in 0..cs {
        let mut clen = size;
        if i == cs - 1 {
            clen = go_f64_to_i64((len % size_f).floor());
            if clen == 0 {
                clen = size;
            }
        }
        if clen < 0 {
            return Err(bad_len());
        }
        let from = i.wrapping_mul(size);
        let part = (0..clen)
            .map(|j| {
                usize::try_from(from.wrapping_add(j))
                    .ok()
                    .and_then(|ix| l.get(ix).cloned())
            })
            .collect::<Option<Vec<_>>>()
            .ok_or("reflect: slice index out of range")?;
        out.push(J::from(part));
    }
    Ok(J::from(out))
}

/// A list argument of a sprig list function; Go's errors for anything else (`what` is the
/// function's word in `Cannot find first on type string`).
fn list_of(a: &[J], i: usize, what: &str) -> Result<Vec<J>, String> {
    let v = arg_at(a, i);
    let kind = kind_at(a, i);
    match v.kind() {
        ValueKind::Seq => Ok(items(&v)),
        // A nil slice of a concrete type (regexFindAll's no match): empty.
        ValueKind::Undefined | ValueKind::None if kind == "slice" => Ok(Vec::new()),
        // reflect.TypeOf(nil).Kind() in sprig: a nil-pointer panic that text/template recovers.
        ValueKind::Undefined | ValueKind::None if matches!(kind, "invalid" | "interface") => {
            Err(NIL_DEREF.into())
        }
        // chunk's message has no "on".
        _ if what == "chunk" => Err(format!("Cannot chunk type {kind}")),
        _ => Err(format!("Cannot {what} on type {kind}")),
    }
}
