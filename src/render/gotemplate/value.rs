//! Go's view of template data: the values a goTemplate works on, as Go's `text/template` and
//! sprig see them.
//!
//! Stage: render (pure; no I/O). Parameters come from JSON, so every number in them is a
//! `float64`, while integer literals in a template are `int`; maps and lists are `interface {}`
//! values. This module holds the conversion of parameters into template values (`go_value`),
//! Go's printing (`%v`), truthiness, type and kind names, sprig's argument conversions
//! (`toString`, `toInt64`, `toFloat64`), JSON encoding as `encoding/json` writes it, and
//! `reflect.DeepEqual`.

use std::collections::BTreeMap;

use minijinja::{Value as J, value::ValueKind};

use super::{gotime, semver};

/// A parameter (JSON) as a template value: every number a Go `float64`.
pub(super) fn go_value(v: &serde_json::Value) -> J {
    match v {
        serde_json::Value::Null => J::from(()),
        serde_json::Value::Bool(b) => J::from(*b),
        serde_json::Value::Number(n) => J::from(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => J::from(s.as_str()),
        serde_json::Value::Array(a) => J::from(a.iter().map(go_value).collect::<Vec<_>>()),
        serde_json::Value::Object(m) => J::from(
            m.iter()
                .map(|(k, v)| (k.clone(), go_value(v)))
                .collect::<BTreeMap<_, _>>(),
        ),
    }
}

/// A Go `float64` (JSON numbers with a fraction or exponent) rather than an integer.
pub(super) fn is_float(v: &J) -> bool {
    v.is_number() && !v.is_integer()
}

/// Go's `%v` of a value (of the type of what it holds), as fmt prints it.
pub(super) fn go_sprint(v: &J) -> String {
    super::funcs::fmt::sprint_value(v)
}

/// Go's truthiness (`if`, `and`, `or`, `not`): false for nil, `false`, 0, `""` and empty
/// collections.
pub(super) fn truth(v: &J) -> bool {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => false,
        ValueKind::Bool => v.is_true(),
        ValueKind::Number => f64::try_from(v.clone()).map(|f| f != 0.0).unwrap_or(true),
        ValueKind::String => !v.as_str().unwrap_or_default().is_empty(),
        ValueKind::Seq | ValueKind::Map => v.len().unwrap_or(0) > 0,
        _ => true,
    }
}

/// Go's `%T` of a value (sprig's `typeOf`).
pub(super) fn type_name(v: &J) -> &'static str {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => "<nil>",
        ValueKind::Bool => "bool",
        ValueKind::Number if is_float(v) => "float64",
        ValueKind::Number => "int",
        ValueKind::String => "string",
        ValueKind::Seq => "[]interface {}",
        ValueKind::Map => "map[string]interface {}",
        _ => match v.downcast_object_ref::<semver::Version>() {
            Some(version) => version.go_type(),
            None if v.downcast_object_ref::<gotime::GoTime>().is_some() => "time.Time",
            None => "interface {}",
        },
    }
}

/// A nil pointer dereference, which text/template recovers from a function's panic.
pub(super) const NIL_DEREF: &str = "runtime error: invalid memory address or nil pointer dereference";

/// The type text/template names in `wrong type for value; expected X; got T` for an argument
/// (its static type: `interface {}` for nil data, unlike `typeOf`'s `<nil>`).
pub(super) fn arg_type(v: &J) -> &'static str {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => "interface {}",
        ValueKind::Seq | ValueKind::Iterable => "[]interface {}",
        ValueKind::Bytes => "[]uint8",
        _ => type_name(v),
    }
}

/// A value as a string the way sprig's `strval` / `toString` gives it.
pub(super) fn as_string(v: &J) -> String {
    match v.kind() {
        ValueKind::String => v.as_str().unwrap_or_default().to_string(),
        ValueKind::Undefined | ValueKind::None => String::new(),
        _ => go_sprint(v),
    }
}

/// sprig's `toFloat64` (numbers, numeric strings, bools; else 0).
pub(super) fn to_f64(v: &J) -> f64 {
    match v.kind() {
        ValueKind::Number => f64::try_from(v.clone()).unwrap_or(0.0),
        ValueKind::String => v.as_str().unwrap_or_default().trim().parse().unwrap_or(0.0),
        ValueKind::Bool => f64::from(u8::from(v.is_true())),
        _ => 0.0,
    }
}

/// sprig's `toInt64` (cast.ToInt64: floats truncate, strings parse, else 0).
pub(super) fn to_i64(v: &J) -> i64 {
    match v.kind() {
        ValueKind::Number => v.as_i64().unwrap_or_else(|| to_f64(v) as i64),
        ValueKind::String => {
            let s = v.as_str().unwrap_or_default().trim();
            s.parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().map(|f| f as i64))
                .unwrap_or(0)
        }
        ValueKind::Bool => i64::from(v.is_true()),
        _ => 0,
    }
}

/// A value as JSON the way Go's `encoding/json` writes a `float64`: integral values without a
/// fraction (`1`, not `1.0`).
pub(super) fn to_json(v: &J) -> serde_json::Value {
    use serde_json::Value as V;
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => V::Null,
        ValueKind::Bool => V::Bool(v.is_true()),
        ValueKind::Number => {
            let f = to_f64(v);
            if !is_float(v) {
                V::from(v.as_i64().unwrap_or(0))
            } else if f.fract() == 0.0 && f.abs() < 1e15 {
                V::from(f as i64)
            } else {
                serde_json::Number::from_f64(f).map_or(V::Null, V::Number)
            }
        }
        ValueKind::String => V::String(v.as_str().unwrap_or_default().to_string()),
        ValueKind::Seq => V::Array(items(v).iter().map(to_json).collect()),
        ValueKind::Map => V::Object(dict_of(v).iter().map(|(k, x)| (k.clone(), to_json(x))).collect()),
        // time.Time marshals as RFC 3339 with nanoseconds.
        _ if let Some(t) = v.downcast_object_ref::<gotime::GoTime>() => {
            gotime::method(t, "Format", &[J::from("2006-01-02T15:04:05.999999999Z07:00")])
                .map_or(V::Null, |s| V::String(as_string(&s)))
        }
        _ => V::String(v.to_string()),
    }
}

/// The elements of a list; empty for anything else.
pub(super) fn items(v: &J) -> Vec<J> {
    match v.kind() {
        ValueKind::Seq => v.try_iter().map(|i| i.collect()).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Go's `reflect.Kind` name of a value (sprig's `kindOf`).
pub(super) fn kind_of(v: &J) -> &'static str {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => "invalid",
        ValueKind::Bool => "bool",
        ValueKind::Number if is_float(v) => "float64",
        ValueKind::Number => "int",
        ValueKind::String => "string",
        ValueKind::Seq => "slice",
        ValueKind::Map => "map",
        _ if v.downcast_object_ref::<gotime::GoTime>().is_some() => "struct",
        _ => "ptr",
    }
}

/// The entries of a map, keys as strings; empty for anything else.
pub(super) fn dict_of(v: &J) -> BTreeMap<String, J> {
    match v.kind() {
        ValueKind::Map => v
            .try_iter()
            .map(|keys| {
                keys.map(|k| (as_string(&k), v.get_item(&k).unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default(),
        _ => BTreeMap::new(),
    }
}

/// Go's reflect.DeepEqual on template data (an int never equals a float64).
pub(super) fn deep_equal(a: &J, b: &J) -> bool {
    match (a.kind(), b.kind()) {
        (ValueKind::Number, ValueKind::Number) => is_float(a) == is_float(b) && a == b,
        (ValueKind::Seq, ValueKind::Seq) => {
            let (x, y) = (items(a), items(b));
            x.len() == y.len() && x.iter().zip(&y).all(|(p, q)| deep_equal(p, q))
        }
        (ValueKind::Map, ValueKind::Map) => {
            let (x, y) = (dict_of(a), dict_of(b));
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| deep_equal(v, w)))
        }
        (ValueKind::Undefined | ValueKind::None, ValueKind::Undefined | ValueKind::None) => true,
        (x, y) => x == y && a == b,
    }
}

/// A Go type as text/template meets it: a function's parameter or result type, or the dynamic
/// type of a value. Values of the data are `interface {}` ([`GoType::Iface`]) holding one of
/// the JSON types; function results have their function's result type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GoType {
    /// `string`
    Str,
    /// `int`
    Int,
    /// `int64`
    Int64,
    /// `uint8` (an element of a string, `index "abc" 0`)
    Uint8,
    /// `uint32`
    Uint32,
    /// `float64`
    Float64,
    /// `bool`
    Bool,
    /// `[]interface {}`
    List,
    /// `[][]interface {}`
    Lists,
    /// `[]string`
    Strings,
    /// `[]int`
    Ints,
    /// `map[string]interface {}`
    Map,
    /// `map[string]string`
    StrMap,
    /// `time.Time`
    Time,
    /// `*semver.Version`
    Version,
    /// `sprig.certificate`
    Certificate,
    /// `interface {}`: a value of this static type has the dynamic type of what it holds.
    Iface,
    /// `reflect.Value`: text/template's builtins take their arguments unconverted.
    Reflect,
}

impl GoType {
    /// Go's name of the type, as `%T` and text/template's messages print it.
    pub(super) fn name(self) -> &'static str {
        match self {
            GoType::Str => "string",
            GoType::Int => "int",
            GoType::Int64 => "int64",
            GoType::Uint8 => "uint8",
            GoType::Uint32 => "uint32",
            GoType::Float64 => "float64",
            GoType::Bool => "bool",
            GoType::List => "[]interface {}",
            GoType::Lists => "[][]interface {}",
            GoType::Strings => "[]string",
            GoType::Ints => "[]int",
            GoType::Map => "map[string]interface {}",
            GoType::StrMap => "map[string]string",
            GoType::Time => "time.Time",
            GoType::Version => "*semver.Version",
            GoType::Certificate => "sprig.certificate",
            GoType::Iface => "interface {}",
            GoType::Reflect => "reflect.Value",
        }
    }

    /// The type of a name as reflect prints it (`None` for a type the set does not use).
    pub(super) fn parse(name: &str) -> Option<GoType> {
        [
            GoType::Str,
            GoType::Int,
            GoType::Int64,
            GoType::Uint8,
            GoType::Uint32,
            GoType::Float64,
            GoType::Bool,
            GoType::List,
            GoType::Lists,
            GoType::Strings,
            GoType::Ints,
            GoType::Map,
            GoType::StrMap,
            GoType::Time,
            GoType::Version,
            GoType::Certificate,
            GoType::Iface,
            GoType::Reflect,
        ]
        .into_iter()
        .find(|t| t.name() == name)
    }

    /// Go's `reflect.Kind` name.
    pub(super) fn kind(self) -> &'static str {
        match self {
            GoType::List | GoType::Lists | GoType::Strings | GoType::Ints => "slice",
            GoType::Map | GoType::StrMap => "map",
            GoType::Time | GoType::Certificate | GoType::Reflect => "struct",
            GoType::Version => "ptr",
            GoType::Iface => "interface",
            other => other.name(),
        }
    }

    /// Whether a value of the type can be nil (text/template's `canBeNil`).
    pub(super) fn can_be_nil(self) -> bool {
        matches!(
            self,
            GoType::List
                | GoType::Lists
                | GoType::Strings
                | GoType::Ints
                | GoType::Map
                | GoType::StrMap
                | GoType::Version
                | GoType::Iface
                | GoType::Reflect
        )
    }

    /// The type of an element of a slice or map of this type.
    pub(super) fn elem(self) -> GoType {
        match self {
            GoType::Lists => GoType::List,
            GoType::Strings | GoType::StrMap => GoType::Str,
            GoType::Ints => GoType::Int,
            GoType::Str => GoType::Uint8,
            _ => GoType::Iface,
        }
    }
}

/// The dynamic type of a value held by an `interface {}` (`None` for nil).
pub(super) fn dyn_type(v: &J) -> Option<GoType> {
    Some(match v.kind() {
        ValueKind::Undefined | ValueKind::None => return None,
        ValueKind::Bool => GoType::Bool,
        ValueKind::Number if is_float(v) => GoType::Float64,
        ValueKind::Number => GoType::Int,
        ValueKind::String => GoType::Str,
        ValueKind::Seq | ValueKind::Iterable => GoType::List,
        ValueKind::Map => GoType::Map,
        _ if v.downcast_object_ref::<semver::Version>().is_some() => GoType::Version,
        _ if v.downcast_object_ref::<gotime::GoTime>().is_some() => GoType::Time,
        _ => GoType::Iface,
    })
}
