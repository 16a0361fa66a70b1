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

/// sprig's `toFloat64` (cast.ToFloat64E: numbers, strings by `strconv.ParseFloat`, bools; else
/// or on a parse error 0).
pub(super) fn to_f64(v: &J) -> f64 {
    match v.kind() {
        ValueKind::Number => f64::try_from(v.clone()).unwrap_or(0.0),
        ValueKind::String => go_parse_float(v.as_str().unwrap_or_default()).unwrap_or(0.0),
        ValueKind::Bool => f64::from(u8::from(v.is_true())),
        _ => 0.0,
    }
}

/// sprig's `toInt64` (cast.ToInt64E: floats truncate as Go converts them, strings go through
/// `strconv.ParseInt(s, 0, 0)` after a zero fraction is cut (`"1.0"`, not `"1.5"`); else or on
/// a parse error 0).
pub(super) fn to_i64(v: &J) -> i64 {
    match v.kind() {
        ValueKind::Number if is_float(v) => go_f64_to_i64(to_f64(v)),
        ValueKind::Number => v.as_i64().unwrap_or_else(|| go_f64_to_i64(to_f64(v))),
        ValueKind::String => go_parse_int(trim_zero_decimal(v.as_str().unwrap_or_default())).unwrap_or(0),
        ValueKind::Bool => i64::from(v.is_true()),
        _ => 0,
    }
}

/// Go's `int64(f)` on amd64: truncation, and the "integer indefinite" minimum for NaN and
/// values out of range (where Rust's `as` saturates).
pub(super) fn go_f64_to_i64(f: f64) -> i64 {
    // 2^63 is exactly representable; every float below it (and at or above -2^63) fits.
    if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

/// cast's `trimZeroDecimal`: `"12.00"` → `"12"`; any other string unchanged.
fn trim_zero_decimal(s: &str) -> &str {
    let b = s.as_bytes();
    let mut found_zero = false;
    for i in (1..=b.len()).rev() {
        match b[i - 1] {
            b'.' if found_zero => return &s[..i - 1],
            b'.' => {}
            b'0' => found_zero = true,
            _ => return s,
        }
    }
    s
}

/// strconv's `underscoreOK` (underscores only between digits, or after a base prefix).
fn underscore_ok(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s).as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if s.len() >= 2 && s[0] == b'0' && matches!(s[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = s[1].eq_ignore_ascii_case(&b'x');
    }
    for &c in &s[i..] {
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else if saw == b'_' {
            return false;
        } else {
            saw = b'!';
        }
    }
    saw != b'_'
}

/// Go's `strconv.ParseInt(s, 0, 64)`: sign, base prefix (`0x`, `0o`, `0b`, `0` for octal),
/// underscores between digits; `None` on a syntax or range error.
pub(super) fn go_parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let b = body.as_bytes();
    if b.is_empty() {
        return None;
    }
    let (base, digits): (u32, &[u8]) = if b[0] != b'0' {
        (10, b)
    } else if b.len() >= 3 && b[1].eq_ignore_ascii_case(&b'b') {
        (2, &b[2..])
    } else if b.len() >= 3 && b[1].eq_ignore_ascii_case(&b'o') {
        (8, &b[2..])
    } else if b.len() >= 3 && b[1].eq_ignore_ascii_case(&b'x') {
        (16, &b[2..])
    } else {
        (8, &b[1..])
    };
    let mut n: u64 = 0;
    let mut underscores = false;
    for &c in digits {
        let d = match c {
            b'_' => {
                underscores = true;
                continue;
            }
            b'0'..=b'9' => u32::from(c - b'0'),
            _ if c.is_ascii_alphabetic() => u32::from(c.to_ascii_lowercase() - b'a') + 10,
            _ => return None,
        };
        if d >= base {
            return None;
        }
        n = n.checked_mul(u64::from(base))?.checked_add(u64::from(d))?;
    }
    if underscores && !underscore_ok(body) {
        return None;
    }
    if neg {
        if n > 1 << 63 {
            return None;
        }
        Some((n as i64).wrapping_neg())
    } else {
        i64::try_from(n).ok()
    }
}

/// Go's `strconv.ParseFloat(s, 64)`: decimal and hexadecimal (`0x1p-2`) forms, underscores
/// between digits, `inf`/`infinity`/`nan` in any case; `None` on a syntax error or overflow.
pub(super) fn go_parse_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => return Some(f64::INFINITY),
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    let b = s.as_bytes();
    let mut i = 0;
    let mut neg = false;
    match b.first() {
        Some(b'+') => i += 1,
        Some(b'-') => {
            neg = true;
            i += 1;
        }
        _ => {}
    }
    let hex = i + 2 < b.len() && b[i] == b'0' && b[i + 1].eq_ignore_ascii_case(&b'x');
    if hex {
        i += 2;
    }
    let (mut sawdot, mut sawdigits, mut underscores) = (false, false, false);
    // Hexadecimal: mantissa bits and the binary point's position.
    let (mut mant, mut nd, mut dp, mut trunc) = (0u64, 0i64, 0i64, false);
    while i < b.len() {
        let c = b[i];
        if c == b'_' {
            underscores = true;
        } else if c == b'.' {
            if sawdot {
                break;
            }
            sawdot = true;
            dp = nd;
        } else if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            sawdigits = true;
            if hex {
                let d = u64::from((c as char).to_digit(16).unwrap_or(0));
                if d == 0 && nd == 0 {
                    dp -= 1;
                } else {
                    nd += 1;
                    if nd <= 16 {
                        mant = mant * 16 + d;
                    } else if d != 0 {
                        trunc = true;
                    }
                }
            }
        } else {
            break;
        }
        i += 1;
    }
    if !sawdigits {
        return None;
    }
    if !sawdot {
        dp = nd;
    }
    let exp_char = if hex { b'p' } else { b'e' };
    let mut e: i64 = 0;
    if i < b.len() && b[i].to_ascii_lowercase() == exp_char {
        i += 1;
        let mut esign = 1;
        match b.get(i) {
            Some(b'+') => i += 1,
            Some(b'-') => {
                esign = -1;
                i += 1;
            }
            _ => {}
        }
        if !b.get(i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            if b[i] == b'_' {
                underscores = true;
            } else if e < 10_000 {
                e = e * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        e *= esign;
    } else if hex {
        return None;
    }
    if i != b.len() || (underscores && !underscore_ok(s)) {
        return None;
    }
    let f = if hex {
        // mant × 16^(dp - kept digits) × 2^e, the dropped digits as a sticky bit.
        let kept = nd.min(16);
        // With dropped digits the mantissa has 64 bits: its last one is only a rounding hint.
        let m = (mant | u64::from(trunc)) as f64;
        let shift = (4 * (dp - kept) + e).clamp(-2000, 2000) as i32;
        let f = if shift < -1000 {
            m * 2f64.powi(-1000) * 2f64.powi(shift + 1000)
        } else {
            m * 2f64.powi(shift)
        };
        if neg { -f } else { f }
    } else {
        s.replace('_', "").parse::<f64>().ok()?
    };
    f.is_finite().then_some(f)
}

/// A value as JSON the way Go's `encoding/json` writes a `float64`: integral values without a
/// fraction (`1`, not `1.0`).
pub(super) fn to_json(v: &J) -> serde_json::Value {
    use serde_json::Value as V;
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => V::Null,
        _ if is_nil_slice(v) => V::Null,
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

/// A nil slice of Go (what sprig's `rest`, `initial` and `concat` give for nothing): it prints
/// `[]` and ranges over nothing like an empty list, but it is `null` in JSON and nil to `eq`.
#[derive(Debug)]
pub(super) struct NilSlice;

impl minijinja::value::Object for NilSlice {
    fn repr(self: &std::sync::Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Seq
    }

    fn enumerate(self: &std::sync::Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Empty
    }
}

/// A nil `[]interface {}`.
pub(super) fn nil_slice() -> J {
    J::from_object(NilSlice)
}

/// Whether `v` is a nil slice.
pub(super) fn is_nil_slice(v: &J) -> bool {
    v.downcast_object_ref::<NilSlice>().is_some()
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
