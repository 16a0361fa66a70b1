//! Argo CD's own functions: `normalize`, `slugify`, `toYaml`, `fromYaml`, `fromYamlArray`.
//!
//! Stage: render (pure; no I/O).

use minijinja::Value as J;

use super::{Func, last, str_at};
use crate::render::gotemplate::value::{as_string, go_value, to_i64, truth};
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

/// `toYaml`: sigs.k8s.io/yaml's Marshal without the final newline, as go-yaml v2 writes it.
fn to_yaml(a: &[J]) -> Result<J, String> {
    super::goyaml::to_yaml(&last(a)).map(J::from)
}

/// `fromYaml`: sigs.k8s.io/yaml's Unmarshal into `map[string]interface {}` (YAML to JSON,
/// then encoding/json, whose type error it reports); null gives a nil map.
fn from_yaml(a: &[J]) -> Result<J, String> {
    let v = parse_yaml(a)?;
    if v.is_null() {
        // A nil map, which Go prints as `map[]`.
        return Ok(J::from(std::collections::BTreeMap::<String, J>::new()));
    }
    if !v.is_object() {
        return Err(json_type_error(&v, "map[string]interface {}"));
    }
    Ok(go_value(&v))
}

/// `fromYamlArray`: the same into `[]interface {}`.
fn from_yaml_array(a: &[J]) -> Result<J, String> {
    let v = parse_yaml(a)?;
    if v.is_null() {
        // A nil slice, which Go prints as `[]`.
        return Ok(J::from(Vec::<J>::new()));
    }
    if !v.is_array() {
        return Err(json_type_error(&v, "[]interface {}"));
    }
    Ok(go_value(&v))
}

/// sigs.k8s.io/yaml's message when the document's JSON does not fit the Go type `into`.
fn json_type_error(v: &serde_json::Value, into: &str) -> String {
    let what = match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    };
    format!(
        "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {what} into Go value of type {into}"
    )
}

/// The last argument parsed as YAML the way go-yaml v2 reads it (YAML 1.1 octals, the last of
/// duplicate keys wins). A syntax error is worded as sigs.k8s.io/yaml words it
/// (`error converting YAML to JSON: yaml: line 1: ...`); the problem's own wording is the
/// parser's, which can differ from go-yaml's.
fn parse_yaml(a: &[J]) -> Result<serde_json::Value, String> {
    let text = as_string(&last(a));
    // go-yaml's scanner: `%` starts a directive, whose name must follow at once and end at a
    // blank.
    if let Some(rest) = text.strip_prefix('%') {
        let name = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                .len();
        let problem = if name == 0 {
            Some("could not find expected directive name")
        } else if !rest[name..].is_empty() && !rest[name..].starts_with([' ', '\t', '\r', '\n']) {
            Some("found unexpected non-alphabetical character")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(format!("error converting YAML to JSON: yaml: {problem}"));
        }
    }
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::LastWins,
        legacy_octal_numbers: true,
    };
    serde_saphyr::from_str_with_options(&text, options)
        .map_err(|e| {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            let first = first.strip_prefix("error: ").unwrap_or(first);
            // `line 1 column 4: problem` → `line 1: problem`
            // go-yaml names no line for a scanner error on the first line.
            const SCANNER: &[&str] = &[
                "mapping values are not allowed in this context",
                "found character that cannot start any token",
            ];
            let problem = match first.split_once(": ") {
                Some((at, problem)) if at.starts_with("line ") => {
                    let line = at.split(' ').nth(1).unwrap_or("1");
                    // The same problem in go-yaml's words.
                    let problem = if problem.starts_with("unexpected character") {
                        "found character that cannot start any token"
                    } else {
                        problem
                    };
                    if line == "1" && SCANNER.contains(&problem) {
                        problem.to_string()
                    } else {
                        format!("line {line}: {problem}")
                    }
                }
                _ => first.to_string(),
            };
            format!("error converting YAML to JSON: yaml: {problem}")
        })
        .or_else(|e| lenient(&text).ok_or(e))
}

/// What go-yaml v2 makes of a one-line document that stricter parsers refuse: a quoted scalar
/// with text after it reads as a string, a flow sequence with text after it as that sequence's
/// kind. Only the JSON kind matters here (`fromYaml`/`fromYamlArray` then refuse a string, and
/// `fromYaml` an array), so the content stands in for the value.
fn lenient(text: &str) -> Option<serde_json::Value> {
    let t = text.trim_start();
    if text.contains('\n') {
        return None;
    }
    let close = |q: char| t.get(1..).and_then(|r| r.find(q)).map(|i| i + 2);
    match t.chars().next()? {
        q @ ('"' | '\'') if close(q).is_some_and(|end| end < t.len()) => {
            Some(serde_json::Value::String(t.to_string()))
        }
        '[' if t.find(']').is_some_and(|end| end + 1 < t.len()) => Some(serde_json::Value::Array(Vec::new())),
        _ => None,
    }
}
