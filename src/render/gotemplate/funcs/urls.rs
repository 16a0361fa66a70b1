//! sprig's URL functions: `urlParse` (Go's `url.Parse` split into a dict) and `urlJoin` (a dict's
//! parts joined by Go's `URL.String`).
//!
//! Stage: render (pure; no I/O: nothing is fetched).

use std::collections::BTreeMap;

use minijinja::{Value as J, value::ValueKind};

use super::{Func, arg_at, str_at};
use crate::render::gotemplate::value::{as_string, dict_of, kind_of};
use crate::text;

pub(super) const FUNCS: &[Func] = &[
    Func::new("urlJoin", 1, false, url_join_fn),
    Func::new("urlParse", 1, false, url_parse_fn),
];

fn url_parse_fn(a: &[J]) -> Result<J, String> {
    url_parse(&str_at(a, 0))
}

fn url_join_fn(a: &[J]) -> Result<J, String> {
    Ok(J::from(url_join(&arg_at(a, 0))?))
}

/// Go's `url.PathUnescape`-style decoding (`%XX`); `None` on a bad escape.
fn unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Go's URL escaping for paths and fragments (`shouldEscape` in encodePath mode).
fn escape_path(s: &str, fragment: bool) -> String {
    let mut out = String::new();
    for &b in s.as_bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'~' | b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'@'
            )
            || (fragment && matches!(b, b'!' | b'(' | b')' | b'*' | b'?'));
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// sprig's `urlParse`: Go's `url.Parse` split into a dict.
fn url_parse(raw: &str) -> Result<J, String> {
    let fail = |m: &str| format!("unable to parse url: parse {}: {m}", text::go_quote(raw));
    let (rest, fragment) = match raw.split_once('#') {
        Some((r, f)) => (r, unescape(f).ok_or_else(|| fail("invalid URL escape"))?),
        None => (raw, String::new()),
    };
    let mut scheme = "";
    if let Some(i) = rest.find(':') {
        let cand = &rest[..i];
        let valid = cand.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && cand
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if i == 0 {
            return Err(fail("missing protocol scheme"));
        }
        if valid {
            scheme = cand;
        }
    }
    let mut rest = &rest[if scheme.is_empty() { 0 } else { scheme.len() + 1 }..];
    let mut query = "";
    if let Some((r, q)) = rest.split_once('?') {
        rest = r;
        query = q;
    }
    let (mut opaque, mut host, mut user, mut path) = ("", String::new(), String::new(), String::new());
    if !rest.starts_with('/') && !scheme.is_empty() {
        opaque = rest;
    } else {
        if rest.starts_with("//") && (!scheme.is_empty() || !rest.starts_with("///")) {
            let auth_end = rest[2..].find('/').map_or(rest.len(), |i| i + 2);
            let authority = &rest[2..auth_end];
            rest = &rest[auth_end..];
            let h = match authority.rfind('@') {
                Some(i) => {
                    user = authority[..i].to_string();
                    &authority[i + 1..]
                }
                None => authority,
            };
            if h.starts_with('[') && !h.contains(']') {
                return Err(fail("missing ']' in host"));
            }
            host = unescape(h).ok_or_else(|| fail("invalid URL escape"))?;
        }
        path = unescape(rest).ok_or_else(|| fail("invalid URL escape"))?;
    }
    let hostname = if let Some(inner) = host.strip_prefix('[') {
        inner.split(']').next().unwrap_or_default().to_string()
    } else {
        host.rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map_or(host.clone(), |(h, _)| h.to_string())
    };
    let dict: BTreeMap<String, J> = [
        ("scheme", scheme.to_string()),
        ("host", host),
        ("hostname", hostname),
        ("path", path),
        ("query", query.to_string()),
        ("opaque", opaque.to_string()),
        ("fragment", fragment),
        ("userinfo", user),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), J::from(v)))
    .collect();
    Ok(J::from(dict))
}

/// sprig's `urlJoin`: Go's `URL.String` of the dict's parts.
fn url_join(d: &J) -> Result<String, String> {
    let m = dict_of(d);
    let get = |k: &str| -> Result<String, String> {
        match m.get(k) {
            None => Ok(String::new()),
            Some(v) if v.kind() == ValueKind::String => Ok(as_string(v)),
            Some(v) => Err(format!(
                "unable to parse {k} key, must be of type string, but {} found",
                kind_of(v)
            )),
        }
    };
    let (scheme, host, path, query, opaque, fragment, user) = (
        get("scheme")?,
        get("host")?,
        get("path")?,
        get("query")?,
        get("opaque")?,
        get("fragment")?,
        get("userinfo")?,
    );
    let mut out = String::new();
    if !scheme.is_empty() {
        out.push_str(&scheme);
        out.push(':');
    }
    if !opaque.is_empty() {
        out.push_str(&opaque);
    } else {
        if !scheme.is_empty() || !host.is_empty() || !user.is_empty() {
            if !host.is_empty() || !path.is_empty() || !user.is_empty() {
                out.push_str("//");
            }
            if !user.is_empty() {
                out.push_str(&user);
                out.push('@');
            }
            out.push_str(&host);
        }
        if !path.is_empty() && !path.starts_with('/') && !host.is_empty() {
            out.push('/');
        }
        out.push_str(&escape_path(&path, false));
    }
    if !query.is_empty() {
        out.push('?');
        out.push_str(&query);
    }
    if !fragment.is_empty() {
        out.push('#');
        out.push_str(&escape_path(&fragment, true));
    }
    Ok(out)
}
