//! sprig's encoding functions: base64 and base32 (`b64enc`, `b64dec`, `b32enc`, `b32dec`) and
//! JSON (`toJson`, `toPrettyJson`, `toRawJson`, `fromJson` and their `must` twins).
//!
//! Stage: render (pure; no I/O).

use std::collections::BTreeMap;

use minijinja::Value as J;

use super::{Func, arg_at, str_at};
use crate::render::gotemplate::value::{go_value, to_json};

pub(super) const FUNCS: &[Func] = &[
    Func::new("b32dec", 1, false, b32dec),
    Func::new("b32enc", 1, false, b32enc),
    Func::new("b64dec", 1, false, b64dec),
    Func::new("b64enc", 1, false, b64enc),
    Func::new("fromJson", 1, false, from_json),
    Func::new("mustFromJson", 1, false, must_from_json),
    Func::new("mustToJson", 1, false, to_json_fn),
    Func::new("mustToPrettyJson", 1, false, to_pretty_json),
    Func::new("mustToRawJson", 1, false, to_raw_json),
    Func::new("toJson", 1, false, to_json_fn),
    Func::new("toPrettyJson", 1, false, to_pretty_json),
    Func::new("toRawJson", 1, false, to_raw_json),
];

fn b64enc(a: &[J]) -> Result<J, String> {
    use base64::Engine as _;
    Ok(J::from(
        base64::engine::general_purpose::STANDARD.encode(str_at(a, 0)),
    ))
}

/// The decoded text, or the decoding error as the result (sprig's `base64decode`).
fn b64dec(a: &[J]) -> Result<J, String> {
    use base64::Engine as _;
    Ok(
        match base64::engine::general_purpose::STANDARD.decode(str_at(a, 0)) {
            Ok(b) => J::from(String::from_utf8_lossy(&b).into_owned()),
            Err(e) => J::from(e.to_string()),
        },
    )
}

fn b32enc(a: &[J]) -> Result<J, String> {
    Ok(J::from(data_encoding::BASE32.encode(str_at(a, 0).as_bytes())))
}

/// The decoded text, or Go's decoding error as the result (sprig's `base32decode`).
fn b32dec(a: &[J]) -> Result<J, String> {
    Ok(match data_encoding::BASE32.decode(str_at(a, 0).as_bytes()) {
        Ok(b) => J::from(String::from_utf8_lossy(&b).into_owned()),
        Err(e) => J::from(format!("illegal base32 data at input byte {}", e.position)),
    })
}

/// `toJson` and `mustToJson`.
fn to_json_fn(a: &[J]) -> Result<J, String> {
    Ok(J::from(json_text(&arg_at(a, 0), false, false)))
}

/// `toPrettyJson` and `mustToPrettyJson`.
fn to_pretty_json(a: &[J]) -> Result<J, String> {
    Ok(J::from(json_text(&arg_at(a, 0), true, false)))
}

/// `toRawJson` and `mustToRawJson`.
fn to_raw_json(a: &[J]) -> Result<J, String> {
    Ok(J::from(json_text(&arg_at(a, 0), false, true)))
}

/// The parsed value, an empty dict when the text is not JSON.
fn from_json(a: &[J]) -> Result<J, String> {
    Ok(match serde_json::from_str::<serde_json::Value>(&str_at(a, 0)) {
        Ok(v) => go_value(&v),
        Err(_) => J::from(BTreeMap::<String, J>::new()),
    })
}

fn must_from_json(a: &[J]) -> Result<J, String> {
    serde_json::from_str::<serde_json::Value>(&str_at(a, 0))
        .map(|v| go_value(&v))
        .map_err(|e| e.to_string())
}

/// Go's `encoding/json` output: `<`, `>`, `&`, U+2028 and U+2029 escaped unless `raw`.
fn json_text(v: &J, pretty: bool, raw: bool) -> String {
    let value = to_json(v);
    let text = if pretty {
        serde_json::to_string_pretty(&value)
    } else {
        serde_json::to_string(&value)
    }
    .unwrap_or_default();
    if raw {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}
