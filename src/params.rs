//! Parameters: the vocabulary the generate and render stages speak.
//!
//! Stage: shared by generate and render (pure, no I/O). Generators produce [`Params`]; the
//! template engines read them. Neither stage needs the other to name them.

use std::collections::BTreeMap;

use serde_json::Value;

/// One parameter set. A `BTreeMap`: deterministic order, stable output and snapshots.
pub type Params = BTreeMap<String, Value>;

/// The shape of parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamMode {
    /// Flat keys with literal dots (`path.basename`); Argo's default template mode.
    Flat,
    /// Nested objects (`path: {basename: ...}`); goTemplate and jinja.
    Nested,
}

/// What a JSON object stands for in the Go value that Argo CD merges with `mergo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoObject {
    /// A Go map (parameter sets are `map[string]interface{}`): empty when it has no entries.
    Map,
    /// A Go struct (an Application template): never empty as a whole; mergo merges it field by
    /// field instead.
    Struct,
}

/// mergo's `isEmptyValue`: the values that a merge does not let override, or that it fills.
/// `""`, `false`, `0`, `null` and empty lists are empty; an object is empty only when it stands
/// for a Go map without entries (`objects`).
pub fn is_empty_value(v: &Value, objects: GoObject) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => objects == GoObject::Map && m.is_empty(),
    }
}
