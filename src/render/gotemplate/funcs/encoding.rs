//! sprig's encoding functions: base64 and base32 (`b64enc`, `b64dec`, `b32enc`, `b32dec`) and
//! JSON (`toJson`, `toPrettyJson`, `toRawJson`, `fromJson` and their `must` twins).
//!
//! Stage: render (pure; no I/O).

use minijinja::Value as J;

use super::{Func, arg_at, json, str_at};
use crate::render::gotemplate::value::to_json;

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

/// The decoded text, or Go's decoding error as the result (sprig's `base64decode`).
fn b64dec(a: &[J]) -> Result<J, String> {
    Ok(J::from(match base64_decode(str_at(a, 0).as_bytes()) {
        Ok(b) => go_string(&b),
        Err(at) => format!("illegal base64 data at input byte {at}"),
    }))
}

fn b32enc(a: &[J]) -> Result<J, String> {
    Ok(J::from(data_encoding::BASE32.encode(str_at(a, 0).as_bytes())))
}

/// The decoded text, or Go's decoding error as the result (sprig's `base32decode`).
fn b32dec(a: &[J]) -> Result<J, String> {
    Ok(J::from(match base32_decode(str_at(a, 0).as_bytes()) {
        Ok(b) => go_string(&b),
        Err(at) => format!("illegal base32 data at input byte {at}"),
    }))
}

/// Bytes as a Go `string` shows once printed: each byte of invalid UTF-8 is U+FFFD (Go's
/// `utf8.DecodeRune` takes one byte of an invalid sequence at a time).
pub(super) fn go_string(mut b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    loop {
        match std::str::from_utf8(b) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let (valid, rest) = b.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                out.push('\u{fffd}');
                b = rest.get(1..).unwrap_or_default();
            }
        }
    }
}

/// The value of each byte in the standard base64 alphabet, 0xff for the others.
const BASE64_MAP: [u8; 256] =
    alphabet_map(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");

/// The value of each byte in the standard base32 alphabet, 0xff for the others.
const BASE32_MAP: [u8; 256] = alphabet_map(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");

/// Go's `decodeMap` of an alphabet.
const fn alphabet_map(alphabet: &[u8]) -> [u8; 256] {
    let mut map = [0xff; 256];
    let mut i = 0;
    while i < alphabet.len() {
        map[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    map
}

/// Go's `base64.StdEncoding.DecodeString` (Go 1.19 `Decode`, quantum by quantum as
/// `decodeQuantum`): the bytes, or the position Go's `CorruptInputError` reports. `\r` and
/// `\n` are skipped anywhere; padding is required.
pub(super) fn base64_decode(src: &[u8]) -> Result<Vec<u8>, usize> {
    let newline = |c: u8| c == b'\n' || c == b'\r';
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0;
    while si < src.len() {
        let mut dbuf = [0u8; 4];
        let mut dlen = 4;
        let mut trailing = None;
        let mut j = 0;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(out);
                }
                return Err(si - j);
            }
            let c = src[si];
            si += 1;
            let v = BASE64_MAP[usize::from(c)];
            if v != 0xff {
                dbuf[j] = v;
                j += 1;
                continue;
            }
            if newline(c) {
                continue;
            }
            if c != b'=' || j < 2 {
                return Err(si - 1);
            }
            if j == 2 {
                // "==" is expected, the first "=" is already consumed.
                while si < src.len() && newline(src[si]) {
                    si += 1;
                }
                if si == src.len() {
                    return Err(src.len());
                }
                if src[si] != b'=' {
                    return Err(si - 1);
                }
                si += 1;
            }
            while si < src.len() && newline(src[si]) {
                si += 1;
            }
            if si < src.len() {
                trailing = Some(si);
            }
            dlen = j;
            break;
        }
        let val = u32::from(dbuf[0]) << 18
            | u32::from(dbuf[1]) << 12
            | u32::from(dbuf[2]) << 6
            | u32::from(dbuf[3]);
        out.extend_from_slice(&val.to_be_bytes()[1..dlen]);
        if let Some(at) = trailing {
            return Err(at);
        }
    }
    Ok(out)
}

/// Go's `base32.StdEncoding.DecodeString` (Go 1.19 `decode` after `stripNewlines`): the bytes,
/// or the position Go's `CorruptInputError` reports (in the text without its `\r` and `\n`).
fn base32_decode(src: &[u8]) -> Result<Vec<u8>, usize> {
    let src: Vec<u8> = src
        .iter()
        .copied()
        .filter(|c| !matches!(c, b'\r' | b'\n'))
        .collect();
    let olen = src.len();
    let mut rest = &src[..];
    let mut out = Vec::with_capacity(olen / 8 * 5);
    let mut end = false;
    while !rest.is_empty() && !end {
        let mut dbuf = [0u8; 8];
        let mut dlen = 8;
        let mut j = 0;
        while j < 8 {
            let Some((&c, tail)) = rest.split_first() else {
                // The end without padding.
                return Err(olen - j);
            };
            rest = tail;
            if c == b'=' && j >= 2 && rest.len() < 8 {
                // Padding: the end.
                if rest.len() + j < 7 {
                    return Err(olen);
                }
                for k in 0..7 - j {
                    if rest.len() > k && rest[k] != b'=' {
                        return Err(olen - rest.len() + k - 1);
                    }
                }
                dlen = j;
                end = true;
                if matches!(dlen, 1 | 3 | 6) {
                    return Err(olen - rest.len() - 1);
                }
                break;
            }
            dbuf[j] = BASE32_MAP[usize::from(c)];
            if dbuf[j] == 0xff {
                return Err(olen - rest.len() - 1);
            }
            j += 1;
        }
        let bits = dbuf.iter().fold(0u64, |acc, &v| acc << 5 | u64::from(v));
        let bytes = match dlen {
            8 => 5,
            7 => 4,
            5 => 3,
            4 => 2,
            _ => 1,
        };
        out.extend_from_slice(&bits.to_be_bytes()[3..3 + bytes]);
    }
    Ok(out)
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

/// The parsed value; nil when the text is not JSON (sprig's `fromJson` drops the error).
fn from_json(a: &[J]) -> Result<J, String> {
    Ok(json::unmarshal(str_at(a, 0).as_bytes()).0)
}

/// The parsed value, or Go's `json.Unmarshal` error.
fn must_from_json(a: &[J]) -> Result<J, String> {
    match json::unmarshal(str_at(a, 0).as_bytes()) {
        (_, Some(e)) => Err(e),
        (v, None) => Ok(v),
    }
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
