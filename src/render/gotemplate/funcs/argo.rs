//! Argo CD's own functions: `normalize`, `slugify`, `toYaml`, `fromYaml`, `fromYamlArray`.
//!
//! Stage: render (pure; no I/O).

use minijinja::Value as J;

use super::{Func, last, str_at};
use crate::render::gotemplate::value::{as_string, go_value, to_i64, to_json, truth};
use crate::text;

pub(super) const FUNCS: &[Func] = &[
    Func::new("fromYaml", 1, false, from_yaml),
    Func::new("fromYamlArray", 1, false, from_yaml_array),
    Func::new("normalize", 1, false, normalize),
    Func::new("slugify", 0, true, slugify),
    Func::new("toYaml", 1, false, to_yaml),
];

fn normalize(a: &[J]) -> Result<J, String> {
    Ok(J::from(text::normalize(&str_at(a, a.len().saturating_sub(1)))))
}

/// `slugify [MAX [SMART]] TEXT`: at most 50 characters, smart truncation, unless given.
fn slugify(a: &[J]) -> Result<J, String> {
    let name = as_string(&last(a));
    let max = if a.len() >= 2 { to_i64(&a[0]) as usize } else { 50 };
    let smart = if a.len() >= 3 { truth(&a[1]) } else { true };
    Ok(J::from(text::slugify(&name, max, smart)))
}

fn to_yaml(a: &[J]) -> Result<J, String> {
    Ok(J::from(yaml_of(&last(a)).unwrap_or_default()))
}

fn from_yaml(a: &[J]) -> Result<J, String> {
    let v = parse_yaml(a)?;
    if !(v.is_object() || v.is_null()) {
        return Err("expected a YAML map".into());
    }
    Ok(go_value(&v))
}

fn from_yaml_array(a: &[J]) -> Result<J, String> {
    let v = parse_yaml(a)?;
    if !v.is_array() {
        return Err("expected a YAML array".into());
    }
    Ok(go_value(&v))
}

/// The last argument parsed as YAML.
fn parse_yaml(a: &[J]) -> Result<serde_json::Value, String> {
    serde_saphyr::from_str(&as_string(&last(a))).map_err(|e| e.to_string())
}

/// A value as YAML, without the final newline.
fn yaml_of(v: &J) -> Result<String, String> {
    let s = serde_saphyr::to_string(&to_json(v)).map_err(|e| e.to_string())?;
    Ok(s.trim_end_matches('\n').to_string())
}
