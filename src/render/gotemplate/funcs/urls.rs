//! sprig's URL functions: `urlParse` (Go's `url.Parse` split into a dict) and `urlJoin` (a dict's
//! parts joined by Go's `URL.String`).
//!
//! Stage: render (pure; no I/O: nothing is fetched).

use std::collections::BTreeMap;

use minijinja::{Value as J, value::ValueKind};

use super::strings::go_string;
use super::{Func, arg_at, str_at};
use crate::render::gotemplate::value::{NIL_DEREF, as_string, dict_of, kind_of};
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

/// net/url's escaping modes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Path,
    UserPassword,
    Host,
    Zone,
    Fragment,
}

/// net/url's `shouldEscape`.
fn should_escape(c: u8, mode: Mode) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if matches!(mode, Mode::Host | Mode::Zone) && b"!$&'()*+,;=:[]<>\"".contains(&c) {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match mode {
            Mode::Path => c == b'?',
            Mode::UserPassword => matches!(c, b'@' | b'/' | b'?' | b':'),
            Mode::Fragment => false,
            Mode::Host | Mode::Zone => true,
        },
        b'!' | b'(' | b')' | b'*' => mode != Mode::Fragment,
        _ => true,
    }
}

/// net/url's `unescape` (bytes, which may not be UTF-8), with its `EscapeError` and
/// `InvalidHostError` texts.
fn unescape(s: &str, mode: Mode) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let escape_error = |e: &[u8]| format!("invalid URL escape {}", text::go_quote(&go_string(e)));
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let (Some(h), Some(l)) = (
                    b.get(i + 1).and_then(|c| hex(*c)),
                    b.get(i + 2).and_then(|c| hex(*c)),
                ) else {
                    return Err(escape_error(&b[i..(i + 3).min(b.len())]));
                };
                let esc = &b[i..i + 3];
                if mode == Mode::Host && h < 8 && esc != b"%25" {
                    return Err(escape_error(esc));
                }
                let v = h << 4 | l;
                if mode == Mode::Zone && esc != b"%25" && v != b' ' && should_escape(v, Mode::Host) {
                    return Err(escape_error(esc));
                }
                out.push(v);
                i += 3;
            }
            c => {
                if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && should_escape(c, mode) {
                    return Err(format!(
                        "invalid character {} in host name",
                        text::go_quote(&(c as char).to_string())
                    ));
                }
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// net/url's `escape`.
fn escape(s: &str, mode: Mode) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if should_escape(c, mode) {
            out.push_str(&format!("%{c:02X}"));
        } else {
            out.push(c as char);
        }
    }
    out
}

/// net/url's `validOptionalPort`: empty, or `:` and digits.
fn valid_optional_port(port: &str) -> bool {
    port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// net/url's `parseHost`.
fn parse_host(host: &str) -> Result<Vec<u8>, String> {
    if host.starts_with('[') {
        let Some(i) = host.rfind(']') else {
            return Err("missing ']' in host".into());
        };
        let colon_port = &host[i + 1..];
        if !valid_optional_port(colon_port) {
            return Err(format!("invalid port {} after host", text::go_quote(colon_port)));
        }
        if let Some(zone) = host[..i].find("%25") {
            let mut out = unescape(&host[..zone], Mode::Host)?;
            out.extend(unescape(&host[zone..i], Mode::Zone)?);
            out.extend(unescape(&host[i..], Mode::Host)?);
            return Ok(out);
        }
    } else if let Some(i) = host.rfind(':') {
        let colon_port = &host[i..];
        if !valid_optional_port(colon_port) {
            return Err(format!("invalid port {} after host", text::go_quote(colon_port)));
        }
    }
    unescape(host, Mode::Host)
}

/// A parsed URL: the fields sprig reads (`userinfo` as `Userinfo.String` gives it, `None` for
/// no user).
#[derive(Default)]
struct Url {
    scheme: String,
    opaque: String,
    user: Option<String>,
    host: String,
    path: String,
    query: String,
    fragment: String,
}

/// net/url's `parseAuthority`: (userinfo, host).
fn parse_authority(authority: &str) -> Result<(Option<String>, String), String> {
    let at = authority.rfind('@');
    let host = go_string(&parse_host(at.map_or(authority, |i| &authority[i + 1..]))?);
    let Some(i) = at else {
        return Ok((None, host));
    };
    let userinfo = &authority[..i];
    let valid = userinfo
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&c));
    if !valid {
        return Err("net/url: invalid userinfo".into());
    }
    let part = |p: &str| -> Result<String, String> {
        Ok(escape(
            &go_string(&unescape(p, Mode::UserPassword)?),
            Mode::UserPassword,
        ))
    };
    let user = match userinfo.split_once(':') {
        None => part(userinfo)?,
        Some((name, password)) => format!("{}:{}", part(name)?, part(password)?),
    };
    Ok((Some(user), host))
}

/// Go's `url.Parse`, with its error texts (`parse "RAW": ...`).
fn go_url_parse(raw: &str) -> Result<Url, String> {
    let (u, frag) = raw.split_once('#').unwrap_or((raw, ""));
    let mut url = parse(u).map_err(|e| format!("parse {}: {e}", text::go_quote(u)))?;
    if !frag.is_empty() {
        url.fragment = go_string(
            &unescape(frag, Mode::Fragment).map_err(|e| format!("parse {}: {e}", text::go_quote(raw)))?,
        );
    }
    Ok(url)
}

/// net/url's `parse` (not via a request).
fn parse(raw: &str) -> Result<Url, String> {
    if raw.bytes().any(|b| b < b' ' || b == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    let mut url = Url::default();
    if raw == "*" {
        url.path = "*".into();
        return Ok(url);
    }
    // getScheme
    let mut rest = raw;
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("missing protocol scheme".into()),
            b':' => {
                url.scheme = raw[..i].to_ascii_lowercase();
                rest = &raw[i + 1..];
                break;
            }
            _ => break,
        }
    }
    if rest.ends_with('?') && rest.matches('?').count() == 1 {
        rest = &rest[..rest.len() - 1];
    } else if let Some((r, q)) = rest.split_once('?') {
        rest = r;
        url.query = q.to_string();
    }
    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            url.opaque = rest.to_string();
            return Ok(url);
        }
        if rest.split('/').next().unwrap_or_default().contains(':') {
            return Err("first path segment in URL cannot contain colon".into());
        }
    }
    if (!url.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let (authority, r) = match rest[2..].find('/') {
            Some(i) => (&rest[2..i + 2], &rest[i + 2..]),
            None => (&rest[2..], ""),
        };
        (url.user, url.host) = parse_authority(authority)?;
        rest = r;
    }
    url.path = go_string(&unescape(rest, Mode::Path)?);
    Ok(url)
}

/// sprig's `urlParse`: Go's `url.Parse` split into a dict.
fn url_parse(raw: &str) -> Result<J, String> {
    let url = go_url_parse(raw).map_err(|e| format!("unable to parse url: {e}"))?;
    // URL.Hostname: the port cut off, IPv6 brackets removed.
    let mut hostname = url.host.as_str();
    if let Some(colon) = hostname.rfind(':')
        && valid_optional_port(&hostname[colon..])
    {
        hostname = &hostname[..colon];
    }
    if let Some(inner) = hostname.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        hostname = inner;
    }
    let hostname = hostname.to_string();
    let dict: BTreeMap<String, J> = [
        ("scheme", url.scheme),
        ("host", url.host),
        ("hostname", hostname),
        ("path", url.path),
        ("query", url.query),
        ("opaque", url.opaque),
        ("fragment", url.fragment),
        ("userinfo", url.user.unwrap_or_default()),
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
            // reflect.TypeOf(nil).Kind(): a nil pointer dereference.
            Some(v) if v.is_none() || v.is_undefined() => Err(NIL_DEREF.into()),
            Some(v) => Err(format!(
                "unable to parse {k} key, must be of type string, but {} found",
                kind_of(v)
            )),
        }
    };
    let (scheme, host, path, query, opaque, fragment, userinfo) = (
        get("scheme")?,
        get("host")?,
        get("path")?,
        get("query")?,
        get("opaque")?,
        get("fragment")?,
        get("userinfo")?,
    );
    let user = if userinfo.is_empty() {
        None
    } else {
        let temp = go_url_parse(&format!("proto://{userinfo}@host"))
            .map_err(|e| format!("unable to parse userinfo in dict: {e}"))?;
        temp.user
    };
    let mut out = String::new();
    if !scheme.is_empty() {
        out.push_str(&scheme);
        out.push(':');
    }
    if !opaque.is_empty() {
        out.push_str(&opaque);
    } else {
        if !scheme.is_empty() || !host.is_empty() || user.is_some() {
            if !host.is_empty() || !path.is_empty() || user.is_some() {
                out.push_str("//");
            }
            if let Some(user) = &user {
                out.push_str(user);
                out.push('@');
            }
            out.push_str(&escape(&host, Mode::Host));
        }
        let path = if path == "*" {
            path
        } else {
            escape(&path, Mode::Path)
        };
        if !path.is_empty() && !path.starts_with('/') && !host.is_empty() {
            out.push('/');
        }
        if out.is_empty() && path.split('/').next().unwrap_or_default().contains(':') {
            out.push_str("./");
        }
        out.push_str(&path);
    }
    if !query.is_empty() {
        out.push('?');
        out.push_str(&query);
    }
    if !fragment.is_empty() {
        out.push('#');
        out.push_str(&escape(&fragment, Mode::Fragment));
    }
    Ok(out)
}
