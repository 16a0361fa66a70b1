//! sprig's random functions: `randAlpha`, `randAlphaNum`, `randAscii`, `randNumeric`,
//! `randBytes`, `randInt`, `shuffle`, `uuidv4`; a new value on every render, as in Argo CD.
//!
//! Stage: render. No I/O but the operating system's random source (`getrandom`; sprig uses
//! crypto/rand).

use minijinja::Value as J;

use super::{Func, MAX_STRING, arg_at, str_at};
use crate::render::gotemplate::value::to_i64;

pub(super) const FUNCS: &[Func] = &[
    Func::new("randAlpha", 1, false, rand_alpha),
    Func::new("randAlphaNum", 1, false, rand_alpha_num),
    Func::new("randAscii", 1, false, rand_ascii),
    Func::new("randBytes", 1, false, rand_bytes),
    Func::new("randInt", 2, false, rand_int),
    Func::new("randNumeric", 1, false, rand_numeric),
    Func::new("shuffle", 1, false, shuffle),
    Func::new("uuidv4", 0, false, uuidv4),
];

fn rand_alpha_num(a: &[J]) -> Result<J, String> {
    Ok(J::from(random_string(
        to_i64(&arg_at(a, 0)),
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    )?))
}

fn rand_alpha(a: &[J]) -> Result<J, String> {
    Ok(J::from(random_string(
        to_i64(&arg_at(a, 0)),
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    )?))
}

fn rand_numeric(a: &[J]) -> Result<J, String> {
    Ok(J::from(random_string(to_i64(&arg_at(a, 0)), b"0123456789")?))
}

/// Printable ASCII characters (32 to 126).
fn rand_ascii(a: &[J]) -> Result<J, String> {
    let printable: Vec<u8> = (32u8..127).collect();
    Ok(J::from(random_string(to_i64(&arg_at(a, 0)), &printable)?))
}

/// `randBytes N`: N random bytes, base64-encoded.
fn rand_bytes(a: &[J]) -> Result<J, String> {
    use base64::Engine as _;
    let n = to_i64(&arg_at(a, 0));
    if n < 0 {
        return Err("runtime error: makeslice: len out of range".into());
    }
    Ok(J::from(
        base64::engine::general_purpose::STANDARD.encode(random_bytes((n as usize).min(MAX_STRING))?),
    ))
}

/// `randInt LO HI`: a uniform integer in `LO..HI`.
fn rand_int(a: &[J]) -> Result<J, String> {
    let (lo, hi) = (to_i64(&arg_at(a, 0)), to_i64(&arg_at(a, 1)));
    if hi <= lo {
        return Err("invalid argument to Intn".into());
    }
    let span = (i128::from(hi) - i128::from(lo)) as u64;
    Ok(J::from(lo.wrapping_add(random_below(span)? as i64)))
}

/// The characters of the argument in a random order.
fn shuffle(a: &[J]) -> Result<J, String> {
    let mut chars: Vec<char> = str_at(a, 0).chars().collect();
    for i in (1..chars.len()).rev() {
        let j = random_below(i as u64 + 1)? as usize;
        chars.swap(i, j);
    }
    Ok(J::from(chars.into_iter().collect::<String>()))
}

fn uuidv4(_: &[J]) -> Result<J, String> {
    Ok(J::from(uuid::Uuid::new_v4().to_string()))
}

/// Random bytes from the operating system (sprig uses crypto/rand).
fn random_bytes(n: usize) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| e.to_string())?;
    Ok(buf)
}

/// `count` characters drawn uniformly from `alphabet` (goutils' CryptoRandom*).
fn random_string(count: i64, alphabet: &[u8]) -> Result<String, String> {
    if count <= 0 {
        return Ok(String::new());
    }
    let count = (count as usize).min(MAX_STRING);
    let mut out = String::with_capacity(count);
    while out.len() < count {
        for b in random_bytes(count)? {
            // Rejection sampling keeps the draw uniform.
            let limit = 256 - 256 % alphabet.len();
            if (b as usize) < limit && out.len() < count {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
    }
    Ok(out)
}

/// A uniform random integer in `0..n` (`n > 0`).
fn random_below(n: u64) -> Result<u64, String> {
    let limit = u64::MAX - u64::MAX % n;
    loop {
        let b = random_bytes(8)?;
        let x = u64::from_le_bytes(b.try_into().unwrap_or_default());
        if x < limit {
            return Ok(x % n);
        }
    }
}
