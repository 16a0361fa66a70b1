//! Masterminds semver v3 (`github.com/Masterminds/semver/v3`), as sprig's `semver` and
//! `semverCompare` template functions expose it. Render stage: pure functions, no I/O.
//!
//! Ported from the v3.2.0 sources (`version.go`, `constraints.go`) and pinned against a Go
//! oracle built with them: `NewVersion`'s loose regex and error messages, `String`/`Original`,
//! `Compare` with prerelease ordering, and the full constraint language (`=`, `!=`, `>`, `<`,
//! `>=`/`=>`, `<=`/`=<`, `~`/`~>`, `^`, `x`/`X`/`*` wildcards, hyphen ranges, `,`/space AND,
//! `||` OR, and the rule that a prerelease version only satisfies constraints with a
//! prerelease). Go's regexp `\s` is ASCII `[\t\n\f\r ]`, so that class is spelled out below.
//!
//! Argo CD builds with a newer library; known differences from what is ported here:
//! - v3.2.1: a rewritten hyphen range ends with a space, so `1 - 2 !=1.5.0` is accepted
//!   (here, as in v3.2.0: `improper constraint: >= 1, <= 2!=1.5.0`).
//! - v3.3.0: `LessThanEqual`/`GreaterThanEqual` methods (provided here as well), and
//!   `.Equal nil` is `false` rather than a nil-pointer error.
//! - v3.3.1 (Argo CD 2.14): `NewVersion` uses a strict regex: leading zeros in
//!   major/minor/patch or in numeric prerelease identifiers (`01.2.3`, `1.0.0-01`) give
//!   `Invalid Semantic Version`, and such constraint versions `constraint Parser Error`.
//! - v3.4.0: leading zeros accepted again; error texts lower-cased (`invalid semantic
//!   version`, `constraint parser error`, ...); an AND group with any prerelease constraint
//!   lets prerelease versions through all of its constraints.

use minijinja::Value as J;
use minijinja::value::{Object, ObjectRepr, ValueKind};
use regex::Regex;
use std::fmt;
use std::sync::{Arc, OnceLock};

const INVALID_SEMVER: &str = "Invalid Semantic Version";
const SEGMENT_STARTS_ZERO: &str = "Version segment starts with 0";
const INVALID_PRERELEASE: &str = "Invalid Prerelease string";
const INVALID_METADATA: &str = "Invalid Metadata string";
const PARSER_ERROR: &str = "constraint Parser Error";

/// A parsed version; Display = Go's `Version.String()` (no leading `v`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
    metadata: String,
    original: String,
    /// Go's `*semver.Version` (what `semver` returns) rather than the `semver.Version` value
    /// the `Inc*`/`Set*` methods return; text/template can't call pointer methods on the latter.
    pointer: bool,
}

struct Regexes {
    version: Regex,
    constraint: Regex,
    range: Regex,
    find: Regex,
    valid: Regex,
}

fn regexes() -> &'static Regexes {
    static RE: OnceLock<Regexes> = OnceLock::new();
    RE.get_or_init(|| {
        const S: &str = r"[\t\n\f\r ]";
        const OPS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";
        const ID: &str = r"([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*)";
        let cv = format!(r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-{ID})?(\+{ID})?");
        let re = |p: String| Regex::new(&p).expect("constant regex");
        Regexes {
            version: re(format!(r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-{ID})?(\+{ID})?$")),
            constraint: re(format!(r"^{S}*({OPS}){S}*({cv}){S}*$")),
            range: re(format!(r"{S}*({cv}){S}+-{S}+({cv}){S}*")),
            find: re(format!(r"({OPS}){S}*({cv})")),
            valid: re(format!(
                r"^({S}*({OPS}){S}*({cv}){S}*)((?:{S}+|,{S}*)({OPS}){S}*({cv}){S}*)*$"
            )),
        }
    })
}

fn only(s: &str, allowed: impl Fn(char) -> bool) -> bool {
    s.chars().all(allowed)
}

fn ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

fn validate_prerelease(p: &str) -> Result<(), String> {
    for part in p.split('.') {
        if only(part, |c| c.is_ascii_digit()) {
            if part.len() > 1 && part.starts_with('0') {
                return Err(SEGMENT_STARTS_ZERO.into());
            }
        } else if !only(part, ident_char) {
            return Err(INVALID_PRERELEASE.into());
        }
    }
    Ok(())
}

fn validate_metadata(m: &str) -> Result<(), String> {
    match m.split('.').all(|part| only(part, ident_char)) {
        true => Ok(()),
        false => Err(INVALID_METADATA.into()),
    }
}

fn parse_segment(digits: &str) -> Result<u64, String> {
    // The regex guarantees ASCII digits, so overflow is the only possible failure.
    digits.parse().map_err(|_| {
        let q = crate::text::go_quote(digits);
        format!("Error parsing version segment: strconv.ParseUint: parsing {q}: value out of range")
    })
}

/// Go's `comparePrePart`: numeric identifiers (that fit a uint64) sort before alphanumeric ones.
fn compare_pre_part(s: &str, o: &str) -> i64 {
    if s == o {
        return 0;
    }
    if s.is_empty() {
        return -1;
    }
    if o.is_empty() {
        return 1;
    }
    let sign = |greater: bool| if greater { 1 } else { -1 };
    match (s.parse::<u64>(), o.parse::<u64>()) {
        (Err(_), Err(_)) => sign(s > o),
        (Ok(_), Err(_)) => -1,
        (Err(_), Ok(_)) => 1,
        (Ok(si), Ok(oi)) => sign(si > oi),
    }
}

fn compare_prerelease(v: &str, o: &str) -> i64 {
    let (vs, os): (Vec<&str>, Vec<&str>) = (v.split('.').collect(), o.split('.').collect());
    (0..vs.len().max(os.len()))
        .map(|i| compare_pre_part(vs.get(i).unwrap_or(&""), os.get(i).unwrap_or(&"")))
        .find(|&d| d != 0)
        .unwrap_or(0)
}

impl Version {
    /// Go's `semver.NewVersion`: `v` prefix and missing minor/patch allowed.
    pub(super) fn parse(s: &str) -> Result<Version, String> {
        let m = regexes().version.captures(s).ok_or(INVALID_SEMVER)?;
        let g = |i| m.get(i).map_or("", |x| x.as_str());
        let seg = |i| match g(i) {
            "" => Ok(0),
            t => parse_segment(t.strip_prefix('.').unwrap_or(t)),
        };
        let v = Version {
            major: seg(1)?,
            minor: seg(2)?,
            patch: seg(3)?,
            pre: g(5).to_string(),
            metadata: g(8).to_string(),
            original: s.to_string(),
            pointer: true,
        };
        if !v.pre.is_empty() {
            validate_prerelease(&v.pre)?;
        }
        if !v.metadata.is_empty() {
            validate_metadata(&v.metadata)?;
        }
        Ok(v)
    }

    fn compare(&self, o: &Version) -> i64 {
        let ord = (self.major, self.minor, self.patch).cmp(&(o.major, o.minor, o.patch));
        match (ord, self.pre.is_empty(), o.pre.is_empty()) {
            (std::cmp::Ordering::Less, ..) => -1,
            (std::cmp::Ordering::Greater, ..) => 1,
            (_, true, true) => 0,
            (_, true, false) => 1,
            (_, false, true) => -1,
            _ => compare_prerelease(&self.pre, &o.pre),
        }
    }

    /// The value a Go `Inc*`/`Set*` method returns: `original` keeps only a leading `v`.
    fn derived(&self, f: impl FnOnce(&mut Version)) -> Version {
        let mut next = Version {
            pointer: false,
            ..self.clone()
        };
        f(&mut next);
        let v = if self.original.starts_with('v') { "v" } else { "" };
        next.original = format!("{v}{next}");
        next
    }

    /// Go's type name: `*semver.Version` (from `semver`) or `semver.Version` (from `Inc*`, `Set*`).
    pub(super) fn go_type(&self) -> &'static str {
        if self.pointer {
            "*semver.Version"
        } else {
            "semver.Version"
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.metadata.is_empty() {
            write!(f, "+{}", self.metadata)?;
        }
        Ok(())
    }
}

impl Object for Version {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// One parsed constraint term, e.g. `>=1.2` or `~1.x`.
struct Constraint {
    op: String,
    con: Version,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

fn parse_constraint(c: &str) -> Result<Constraint, String> {
    if c.is_empty() {
        // Unreachable through NewConstraint's validation; kept as in the library.
        let con = Version::parse("0.0.0")?;
        let (op, dirty, minor_dirty, patch_dirty) = (String::new(), true, false, false);
        return Ok(Constraint {
            op,
            con,
            dirty,
            minor_dirty,
            patch_dirty,
        });
    }
    let m = regexes()
        .constraint
        .captures(c)
        .ok_or_else(|| format!("improper constraint: {c}"))?;
    let g = |i| m.get(i).map_or("", |x| x.as_str());
    let (major, minor, patch, pre) = (g(3), g(4), g(5), g(6));
    let dot_x = |s: &str| s.is_empty() || is_x(s.strip_prefix('.').unwrap_or(s));
    let (ver, dirty, minor_dirty, patch_dirty) = if major.is_empty() || is_x(major) {
        (format!("0.0.0{pre}"), true, false, false)
    } else if dot_x(minor) {
        (format!("{major}.0.0{pre}"), true, true, false)
    } else if dot_x(patch) {
        (format!("{major}{minor}.0{pre}"), true, false, true)
    } else {
        (g(2).to_string(), false, false, false)
    };
    let con = Version::parse(&ver).map_err(|_| PARSER_ERROR.to_string())?;
    Ok(Constraint {
        op: g(1).to_string(),
        con,
        dirty,
        minor_dirty,
        patch_dirty,
    })
}

/// Go's `NewConstraint`: `||`-separated groups of AND-ed terms, hyphen ranges rewritten first.
fn parse_constraints(c: &str) -> Result<Vec<Vec<Constraint>>, String> {
    let re = regexes();
    let mut rewritten = c.to_string();
    for m in re.range.captures_iter(c) {
        let (whole, from) = (&m[0], m.get(1).map_or("", |x| x.as_str()));
        let to = m.get(11).map_or("", |x| x.as_str());
        rewritten = rewritten.replacen(whole, &format!(">= {from}, <= {to}"), 1);
    }
    rewritten
        .split("||")
        .map(|group| {
            if !re.valid.is_match(group) {
                return Err(format!("improper constraint: {group}"));
            }
            let mut terms: Vec<&str> = re.find.find_iter(group).map(|m| m.as_str()).collect();
            if terms.is_empty() {
                terms.push(group);
            }
            terms.into_iter().map(parse_constraint).collect()
        })
        .collect()
}

fn tilde(v: &Version, c: &Constraint) -> bool {
    let con = &c.con;
    if v.compare(con) < 0 {
        return false;
    }
    if (con.major, con.minor, con.patch) == (0, 0, 0) && !c.minor_dirty && !c.patch_dirty {
        return true;
    }
    v.major == con.major && (v.minor == con.minor || c.minor_dirty)
}

fn satisfies(v: &Version, c: &Constraint) -> bool {
    let con = &c.con;
    let pre_excluded = !v.pre.is_empty() && con.pre.is_empty();
    match c.op.as_str() {
        // `!=` only applies the prerelease rule to wildcard terms.
        "!=" if c.dirty => {
            if pre_excluded {
                false
            } else if con.major != v.major || (con.minor != v.minor && !c.minor_dirty) {
                true
            } else if c.minor_dirty {
                false
            } else if con.patch != v.patch && !c.patch_dirty {
                true
            } else if c.patch_dirty {
                (!v.pre.is_empty() || !con.pre.is_empty()) && compare_prerelease(&v.pre, &con.pre) != 0
            } else {
                v.compare(con) != 0
            }
        }
        "!=" => v.compare(con) != 0,
        _ if pre_excluded => false,
        "" | "=" if c.dirty => tilde(v, c),
        "" | "=" => v.compare(con) == 0,
        ">" if !c.dirty => v.compare(con) == 1,
        ">" if v.major != con.major => v.major > con.major,
        ">" if c.minor_dirty => false,
        ">" if c.patch_dirty => v.minor > con.minor,
        ">" => v.compare(con) == 1,
        "<" => v.compare(con) < 0,
        ">=" | "=>" => v.compare(con) >= 0,
        "<=" | "=<" if !c.dirty => v.compare(con) <= 0,
        "<=" | "=<" => {
            v.major <= con.major && !(v.major == con.major && v.minor > con.minor && !c.minor_dirty)
        }
        "~" | "~>" => tilde(v, c),
        // "^"
        _ => {
            if v.compare(con) < 0 {
                false
            } else if con.major > 0 || c.minor_dirty {
                v.major == con.major
            } else if v.major > 0 {
                false
            } else if con.minor > 0 || c.patch_dirty {
                v.minor == con.minor
            } else {
                v.minor == 0 && v.patch == con.patch
            }
        }
    }
}

/// sprig's `semverCompare(constraint, version)`: constraint errors first, then version errors.
pub(super) fn check(constraint: &str, version: &str) -> Result<bool, String> {
    let groups = parse_constraints(constraint)?;
    let v = Version::parse(version)?;
    Ok(groups.iter().any(|and| and.iter().all(|c| satisfies(&v, c))))
}

/// A number or bool argument as text/template prints its literal.
fn go_literal(a: &J) -> String {
    match a.kind() {
        ValueKind::Bool => (if a.is_true() { "true" } else { "false" }).into(),
        _ => a.to_string(),
    }
}

/// A Go method call or method value on a `*semver.Version` in a template: `.Major`, `.Minor`,
/// `.Patch` (uint64 → `J::from(u64)`), `.Prerelease`, `.Metadata`, `.Original`, `.String`,
/// `.Value`, `.IncMajor`, `.IncMinor`, `.IncPatch` (a `semver.Version` value object),
/// `.Compare v2` (i64 -1/0/1), `.LessThan v2`, `.GreaterThan v2`, `.Equal v2`,
/// `.LessThanEqual v2`, `.GreaterThanEqual v2` (bool; the last two are semver v3.3),
/// `.SetPrerelease s`, `.SetMetadata s`, `.MarshalText`, `.MarshalJSON` (bytes as a list of
/// numbers). Pointer-receiver methods (`Original`, `Compare`, ...) are unavailable on the
/// values `Inc*`/`Set*` return, as in Go. Errors use Go text/template's wording without the
/// `template: ...executing...` prefix. `Scan`, `UnmarshalJSON` and `UnmarshalText` mutate
/// the receiver and are refused.
pub(super) fn method(v: &Version, name: &str, args: &[J]) -> Result<J, String> {
    let ty = v.go_type();
    let (want, pointer_only) = match name {
        "Major" | "Minor" | "Patch" | "Prerelease" | "Metadata" | "String" | "Value" | "IncMajor"
        | "IncMinor" | "IncPatch" | "MarshalText" | "MarshalJSON" => (0, false),
        "SetPrerelease" | "SetMetadata" => (1, false),
        "Original" => (0, true),
        "Compare" | "LessThan" | "GreaterThan" | "Equal" | "LessThanEqual" | "GreaterThanEqual" | "Scan"
        | "UnmarshalJSON" | "UnmarshalText" => (1, true),
        "major" | "minor" | "patch" | "pre" | "metadata" | "original" => {
            return Err(format!("{name} is an unexported field of struct type {ty}"));
        }
        _ => return Err(format!("can't evaluate field {name} in type {ty}")),
    };
    if pointer_only && !v.pointer {
        return Err(format!("can't evaluate field {name} in type {ty}"));
    }
    if args.len() != want {
        let got = args.len();
        return Err(format!("wrong number of args for {name}: want {want} got {got}"));
    }
    let calling = |e: &str| format!("error calling {name}: {e}");
    let other = || -> Result<&Version, String> {
        let a = &args[0];
        match (a.downcast_object_ref::<Version>(), a.kind()) {
            (Some(o), _) if o.pointer => Ok(o),
            (_, ValueKind::Undefined | ValueKind::None) => Err(calling(super::value::NIL_DEREF)),
            (_, ValueKind::String) => Err(format!(
                "can't handle {} for arg of type *semver.Version",
                crate::text::go_quote(a.as_str().unwrap_or_default())
            )),
            (_, ValueKind::Number | ValueKind::Bool) => Err(format!(
                "can't handle {} for arg of type *semver.Version",
                go_literal(a)
            )),
            _ => Err(format!(
                "wrong type for value; expected *semver.Version; got {}",
                super::value::arg_type(a)
            )),
        }
    };
    let text = || -> Result<&str, String> {
        let a = &args[0];
        match a.kind() {
            ValueKind::String => Ok(a.as_str().unwrap_or_default()),
            ValueKind::Number | ValueKind::Bool => Err(format!("expected string; found {}", go_literal(a))),
            ValueKind::None => Err("cannot assign nil to string".into()),
            ValueKind::Undefined => Err("invalid value; expected string".into()),
            _ => Err(format!(
                "wrong type for value; expected string; got {}",
                super::value::arg_type(a)
            )),
        }
    };
    let bytes = |s: String| J::from(s.bytes().map(J::from).collect::<Vec<_>>());
    Ok(match name {
        "Major" => J::from(v.major),
        "Minor" => J::from(v.minor),
        "Patch" => J::from(v.patch),
        "Prerelease" => J::from(v.pre.clone()),
        "Metadata" => J::from(v.metadata.clone()),
        "Original" => J::from(v.original.clone()),
        "String" | "Value" => J::from(v.to_string()),
        "MarshalText" => bytes(v.to_string()),
        "MarshalJSON" => bytes(format!("\"{v}\"")),
        "IncPatch" | "IncMinor" | "IncMajor" => J::from_object(v.derived(|n| {
            let bump = |x: u64| x.wrapping_add(1);
            match name {
                "IncMajor" => (n.major, n.minor, n.patch) = (bump(n.major), 0, 0),
                "IncMinor" => (n.minor, n.patch) = (bump(n.minor), 0),
                _ if n.pre.is_empty() => n.patch = bump(n.patch),
                _ => {}
            }
            n.pre.clear();
            n.metadata.clear();
        })),
        "SetPrerelease" | "SetMetadata" => {
            let s = text()?;
            let pre = name == "SetPrerelease";
            if !s.is_empty() {
                let valid = if pre {
                    validate_prerelease(s)
                } else {
                    validate_metadata(s)
                };
                valid.map_err(|e| calling(&e))?;
            }
            J::from_object(v.derived(|n| *(if pre { &mut n.pre } else { &mut n.metadata }) = s.into()))
        }
        "Compare" => J::from(v.compare(other()?)),
        "LessThan" => J::from(v.compare(other()?) < 0),
        "GreaterThan" => J::from(v.compare(other()?) > 0),
        "Equal" => J::from(v.compare(other()?) == 0),
        "LessThanEqual" => J::from(v.compare(other()?) <= 0),
        "GreaterThanEqual" => J::from(v.compare(other()?) >= 0),
        _ => return Err(calling("not supported: it would modify the version in place")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `{{ semverCompare .c .v }}` in Go text/template + sprig (semver v3.2.0); errors are the
    /// text after `error calling semverCompare: `.
    #[rustfmt::skip]
    const CHECKS: &[(&str, &str, Result<bool, &str>)] = &[
        ("=1.2.3", "1.2.3", Ok(true)),
        ("=1.2.3", "1.2.4", Ok(false)),
        ("1.2.3", "1.2.3", Ok(true)),
        ("1.2.3", "v1.2.3+build", Ok(true)),
        ("=1.2", "1.2.9", Ok(true)),
        ("=1", "1.9.9", Ok(true)),
        ("=1", "2.0.0", Ok(false)),
        ("!=1.2.3", "1.2.3", Ok(false)),
        ("!=1.2.3", "1.2.4", Ok(true)),
        ("!=1.2.3", "1.2.4-beta", Ok(true)),
        ("!=1.2.x", "1.2.5", Ok(false)),
        ("!=1.2.x", "1.3.0", Ok(true)),
        ("!=1.x", "1.5.0", Ok(false)),
        ("!=1.x", "2.0.0", Ok(true)),
        ("!=*", "0.0.0", Ok(false)),
        ("!=*", "0.0.1", Ok(true)),
        ("!=1.2.x", "1.2.5-beta", Ok(false)),
        ("!=1.2.x-beta", "1.2.5-beta", Ok(false)),
        ("!=1.2.x-beta", "1.2.5-alpha", Ok(true)),
        (">1.2.3", "1.2.4", Ok(true)),
        (">1.2.3", "1.2.3", Ok(false)),
        (">1.2", "1.2.9", Ok(false)),
        (">1.2", "1.3.0", Ok(true)),
        (">1", "1.9.0", Ok(false)),
        (">1", "2.0.0", Ok(true)),
        (">1.2.3", "1.3.0-beta", Ok(false)),
        (">1.2.3-alpha", "1.3.0-beta", Ok(true)),
        (">1.2.3-alpha", "1.2.3-alpha.1", Ok(true)),
        (">1.2.3-alpha.10", "1.2.3-alpha.9", Ok(false)),
        (">1.2.3-alpha", "1.2.3-beta", Ok(true)),
        (">1.2.3-1", "1.2.3-alpha", Ok(true)),
        ("<1.2.3", "1.2.2", Ok(true)),
        ("<1.2.3", "1.2.3", Ok(false)),
        ("<1.2", "1.1.9", Ok(true)),
        ("<1.2", "1.2.0", Ok(false)),
        ("<1.2.3", "1.2.3-beta", Ok(false)),
        ("<1.2.3-0", "1.2.3-beta", Ok(false)),
        ("<1.2.3-rc.1", "1.2.3-beta.5", Ok(true)),
        (">=1.2.3", "1.2.3", Ok(true)),
        (">=1.2.3", "1.2.2", Ok(false)),
        ("=>1.2.3", "1.2.3", Ok(true)),
        (">=1.2.0", "1.3.0-rc1", Ok(false)),
        (">=1.2.0-0", "1.3.0-rc1", Ok(true)),
        (">=1.2.0-z", "1.2.0-a", Ok(false)),
        ("<=1.2.3", "1.2.3", Ok(true)),
        ("<=1.2.3", "1.2.4", Ok(false)),
        ("=<1.2.3", "1.2.3", Ok(true)),
        ("<=1.2", "1.2.99", Ok(true)),
        ("<=1.2", "1.3.0", Ok(false)),
        ("<=1", "1.99.0", Ok(true)),
        ("<=1", "2.0.0", Ok(false)),
        ("<=*", "1.0.0", Ok(false)),
        ("<=*", "0.5.0", Ok(false)),
        ("~1.2.3", "1.2.9", Ok(true)),
        ("~1.2.3", "1.3.0", Ok(false)),
        ("~1.2.3", "1.2.2", Ok(false)),
        ("~>1.2.3", "1.2.9", Ok(true)),
        ("~1.2", "1.2.0", Ok(true)),
        ("~1", "1.9.9", Ok(true)),
        ("~1", "2.0.0", Ok(false)),
        ("~1.x", "1.5.0", Ok(true)),
        ("~0.0.0", "5.0.0", Ok(true)),
        ("~*", "5.0.0", Ok(true)),
        ("~1.2.3", "1.2.4-beta", Ok(false)),
        ("~1.2.3-beta", "1.2.4-beta", Ok(true)),
        ("~1.2.3-beta", "1.2.3-alpha", Ok(false)),
        ("^1.2.3", "1.9.9", Ok(true)),
        ("^1.2.3", "2.0.0", Ok(false)),
        ("^1.2.3", "1.2.2", Ok(false)),
        ("^1.2", "1.2.0", Ok(true)),
        ("^1", "1.0.0", Ok(true)),
        ("^0.2.3", "0.2.9", Ok(true)),
        ("^0.2.3", "0.3.0", Ok(false)),
        ("^0.2", "0.2.0", Ok(true)),
        ("^0.0.3", "0.0.3", Ok(true)),
        ("^0.0.3", "0.0.4", Ok(false)),
        ("^0.0", "0.0.9", Ok(true)),
        ("^0.0", "0.1.0", Ok(false)),
        ("^0", "0.9.9", Ok(true)),
        ("^0", "1.0.0", Ok(false)),
        ("^0.x", "0.5.0", Ok(true)),
        ("^*", "3.0.0", Ok(false)),
        ("^1.2.3-beta", "1.2.3-beta.2", Ok(true)),
        ("^1.2.3", "1.3.0-beta", Ok(false)),
        ("^0.0.x", "0.0.5", Ok(true)),
        ("^0.0.x", "0.1.0", Ok(false)),
        ("1.2.x", "1.2.7", Ok(true)),
        ("1.2.x", "1.3.0", Ok(false)),
        ("1.2.*", "1.2.7", Ok(true)),
        ("1.2.X", "1.2.7", Ok(true)),
        ("1.x", "1.9.0", Ok(true)),
        ("1.x.x", "1.9.0", Ok(true)),
        ("1.x", "2.0.0", Ok(false)),
        ("*", "1.2.3", Ok(true)),
        ("*", "1.2.3-beta", Ok(false)),
        ("x", "0.0.0", Ok(true)),
        ("X", "9.9.9", Ok(true)),
        (">=1.x", "0.9.0", Ok(false)),
        (">=1.x", "1.0.0", Ok(true)),
        (">1.x", "1.5.0", Ok(false)),
        ("<1.x", "0.9.9", Ok(true)),
        ("<1.x", "1.0.0", Ok(false)),
        ("1.2 - 1.4.5", "1.3.0", Ok(true)),
        ("1.2 - 1.4.5", "1.4.5", Ok(true)),
        ("1.2 - 1.4.5", "1.4.6", Ok(false)),
        ("1.2 - 1.4.5", "1.1.9", Ok(false)),
        ("1.2.3 - 2.x", "2.9.9", Ok(true)),
        ("1.2.3 - 2.x", "3.0.0", Ok(false)),
        ("1.0 - 2.0 || 3.0 - 4.0", "3.5.0", Ok(true)),
        ("1.0 - 2.0 || 3.0 - 4.0", "2.5.0", Ok(false)),
        ("1.2.3-beta - 1.2.5", "1.2.4", Ok(true)),
        (">=1.0, <2.0", "1.5.0", Ok(true)),
        (">=1.0, <2.0", "2.0.0", Ok(false)),
        (">=1.0 <2.0", "1.5.0", Ok(true)),
        (">=1.0,<2.0", "1.5.0", Ok(true)),
        (">= 1.0 , < 2.0", "1.5.0", Ok(true)),
        (">=1.0, <2.0 || >=3.0", "3.1.0", Ok(true)),
        (">=1.0, <2.0 || >=3.0", "2.5.0", Ok(false)),
        ("<1.0 || >2.0", "1.5.0", Ok(false)),
        ("<1.0 || >2.0", "0.5.0", Ok(true)),
        ("<1.0||>2.0", "2.5.0", Ok(true)),
        (">1.0.0-alpha, <1.0.0", "1.0.0-beta", Ok(false)),
        (">1.0.0, <1.0.1-alpha", "1.0.1-0", Ok(false)),
        ("v1.2.3", "1.2.3", Ok(true)),
        (">=v1.2", "1.2.0", Ok(true)),
        ("=1.2.3+build", "1.2.3", Ok(true)),
        ("=1.2.3", "1.2.3+other", Ok(true)),
        ("1.2.3-alpha", "1.2.3-alpha", Ok(true)),
        ("1.2.3-alpha", "1.2.3-alpha+meta", Ok(true)),
        ("1.0.0-alpha", "1.0.0-alpha.1", Ok(false)),
        (">1.0.0-alpha", "1.0.0-alpha.beta", Ok(true)),
        (">1.0.0-alpha.1", "1.0.0-alpha.beta", Ok(true)),
        (">1.0.0-beta.2", "1.0.0-beta.11", Ok(true)),
        (">1.0.0-rc.1", "1.0.0-beta.11", Ok(false)),
        (">1.0.0-x.99999999999999999999", "1.0.0-x.5", Ok(false)),
        (">1.0.0-99999999999999999999", "1.0.0-5", Ok(false)),
        (">1.0.0--", "1.0.0-a", Ok(true)),
        ("1.0.0", "", Err("Invalid Semantic Version")),
        ("1.0.0", "1.0.0.0", Err("Invalid Semantic Version")),
        ("1.0.0", "01.0.0", Ok(true)),
        ("1.0.0", "1.01.0", Ok(false)),
        ("1.0.0", "1.0.0-01", Err("Version segment starts with 0")),
        ("1.0.0", "1.0.0-0a", Ok(false)),
        ("1.0.0", "1.0.0+01", Ok(true)),
        ("1.0.0", "1.0.0-", Err("Invalid Semantic Version")),
        ("1.0.0", "1.0.0+", Err("Invalid Semantic Version")),
        ("1.0.0", "1.0.0-a..b", Err("Invalid Semantic Version")),
        ("1.0.0", "V1.0.0", Err("Invalid Semantic Version")),
        ("1.0.0", " 1.0.0", Err("Invalid Semantic Version")),
        ("1.0.0", "99999999999999999999.0.0", Err("Error parsing version segment: strconv.ParseUint: parsing \"99999999999999999999\": value out of range")),
        (">=0", "1.99999999999999999999.0", Err("Error parsing version segment: strconv.ParseUint: parsing \"99999999999999999999\": value out of range")),
        (">=0", "1.0.99999999999999999999", Err("Error parsing version segment: strconv.ParseUint: parsing \"99999999999999999999\": value out of range")),
        (">=0", "18446744073709551615.18446744073709551615.18446744073709551615", Ok(true)),
        (">=18446744073709551615", "18446744073709551615.0.0", Ok(true)),
        (">99999999999999999999", "1.0.0", Err("constraint Parser Error")),
        (">1.0.0-01", "1.0.0", Err("constraint Parser Error")),
        (">1|2", "1.0.0", Err("constraint Parser Error")),
        (">1", "1.0.0 ", Err("Invalid Semantic Version")),
        ("foo", "1.0.0", Err("improper constraint: foo")),
        (">=1.0 <=", "1.0.0", Err("improper constraint: >=1.0 <=")),
        (">=1.0 ||", "1.0.0", Err("improper constraint: ")),
        ("|| >=1.0", "1.0.0", Err("improper constraint: ")),
        ("1.0.0 - ", "1.0.0", Err("improper constraint: 1.0.0 - ")),
        ("1.0 -2.0", "1.5.0", Err("improper constraint: 1.0 -2.0")),
        (">>1.0", "1.0.0", Err("improper constraint: >>1.0")),
        (">= 1.0.0 < 2.0.0", "1.5.0", Ok(true)),
        (">1.0,,<2.0", "1.5.0", Err("improper constraint: >1.0,,<2.0")),
        (" >=1.0", "1.5.0", Ok(true)),
        (">=1.0.0-beta.01", "1.0.0", Err("constraint Parser Error")),
        ("1.2.3.4", "1.2.3", Err("improper constraint: 1.2.3.4")),
        ("~>1.x", "1.2.3", Ok(true)),
        ("~1.2.x", "1.2.3", Ok(true)),
        ("^1.x.x", "1.2.3", Ok(true)),
        ("x.1.2", "7.0.0", Ok(true)),
        ("1.x.2", "1.5.0", Ok(true)),
        ("=1.2.3-rc.1+build.5", "1.2.3-rc.1", Ok(true)),
        (">1.2.3-alpha", "1.2.3-alpha.0", Ok(true)),
        ("1.0.0 - 1.0.0-beta", "1.0.0-alpha", Ok(false)),
        ("!=1.2.3-beta", "1.2.3-beta", Ok(false)),
        ("!=1.2.3-beta", "1.2.3-alpha", Ok(true)),
        ("1.2.x", "1.2.0-beta", Ok(false)),
        ("1.2.x-0", "1.2.0-beta", Ok(true)),
        (">0.0.0-0", "0.0.0-alpha", Ok(true)),
        ("", "1.0.0", Err("improper constraint: ")),
        ("", "1.0.0-beta", Err("improper constraint: ")),
        (" ", "1.0.0", Err("improper constraint:  ")),
        ("1 - 2 !=1.5.0", "1.6.0", Err("improper constraint: >= 1, <= 2!=1.5.0")),
        ("1 - 2, !=1.5.0", "1.5.0", Ok(false)),
        ("1 - 2, !=1.5.0", "1.6.0", Ok(true)),
        ("1 - 2 || 1 - 2", "1.5.0", Ok(true)),
        (">=1 - 2", "1.5.0", Err("improper constraint: >=>= 1, <= 2")),
        ("1.0-2.0", "1.5.0", Ok(false)),
        ("1.0 -  2.0", "1.5.0", Ok(true)),
        ("1.0\t-\t2.0", "1.5.0", Ok(true)),
        ("~1.2 - 1.4", "1.3.0", Err("improper constraint: ~>= 1.2, <= 1.4")),
        ("* - 2", "1.0.0", Ok(true)),
        ("<=1.2.x", "1.2.9", Ok(true)),
        ("<=1.x", "1.9.9", Ok(true)),
        ("<=1.x", "2.0.0", Ok(false)),
        (">=1.2.x", "1.1.9", Ok(false)),
        ("<1.2.x", "1.1.9", Ok(true)),
        (">1.2.x", "1.3.0", Ok(true)),
        ("!=1.2.3+meta", "1.2.3", Ok(false)),
        ("~1.2.3", "1.2.3+m", Ok(true)),
        (">1.0.0-alpha <1.0.0", "1.0.0-beta", Ok(false)),
        (">=1.0.0-alpha <1.0.0-zzz", "1.0.0-beta", Ok(true)),
        ("=1.2.3-0", "1.2.3-0", Ok(true)),
        (">=1.0\n", "1.0.0", Ok(true)),
        ("\t>=1.0", "1.0.0", Ok(true)),
        ("\u{b}>=1.0", "1.0.0", Err("improper constraint: \u{b}>=1.0")),
        ("\u{c}>=1.0\r", "1.0.0", Ok(true)),
        (">= 1.0.0,<2.0.0", "1.0.0", Ok(true)),
        (">=1.0.0,", "1.0.0", Err("improper constraint: >=1.0.0,")),
        (",>=1.0.0", "1.0.0", Err("improper constraint: ,>=1.0.0")),
        ("v", "1.0.0", Err("improper constraint: v")),
        (">=vx", "1.0.0", Ok(true)),
        ("x.x.x", "1.0.0", Ok(true)),
        ("1.2.3-x.X", "1.2.3-x.X", Ok(true)),
        ("1.2.3+x", "1.2.3", Ok(true)),
        ("||", "1.0.0", Err("improper constraint: ")),
        ("1|2", "1.0.0", Err("constraint Parser Error")),
        ("1.*.3", "1.5.0", Ok(true)),
        (">=01.2.3", "1.2.3", Ok(true)),
        (">=1.2.3-alpha.1", "1.2.3-alpha.01", Err("Version segment starts with 0")),
        ("1.2.3 - 1.2.4 1.2.3 - 1.2.4", "1.2.4", Err("improper constraint: >= 1.2.3, <= 1.2.4>= 1.2.3, <= 1.2.4")),
        ("1.0 - 2.0,<1.5", "1.2.0", Ok(true)),
        ("1.0 - 2.0 ,<1.5", "1.7.0", Ok(false)),
        (">=1.0\u{a0}", "1.0.0", Err("improper constraint: >=1.0\u{a0}")),
        ("\u{3000}>=1.0", "1.0.0", Err("improper constraint: \u{3000}>=1.0")),
        (">=1.0", "1.0.0\u{a0}", Err("Invalid Semantic Version")),
        ("=1.2.3", "\u{ff11}.2.3", Err("Invalid Semantic Version")),
        (">=1.2.3", "1.2.3-\u{e9}", Err("Invalid Semantic Version")),
        (">=1.2.3", "1.2.3+\u{e9}", Err("Invalid Semantic Version")),
        ("*", "v1", Ok(true)),
        ("x", "V1", Err("Invalid Semantic Version")),
        (">=1.0.0-rc.1 <1.0.0 || >=2", "1.0.0-rc.2", Ok(false)),
        (">=1.0.0-rc.1 <1.0.0 || >=2", "2.1.0-rc.1", Ok(false)),
        ("^1.2.3-alpha", "1.2.4-beta", Ok(true)),
        ("^0.0.3-alpha", "0.0.3-beta", Ok(true)),
        ("^0.0.3-alpha", "0.0.4-alpha", Ok(false)),
        ("~1.2.3-alpha", "1.3.0-alpha", Ok(false)),
        ("!=1.x-alpha", "1.2.0-beta", Ok(false)),
        ("!=2.x-alpha", "1.2.0-beta", Ok(true)),
        ("<=1.2.x-beta", "1.2.5-alpha", Ok(true)),
        ("<=1.2.x-beta", "1.3.0-alpha", Ok(false)),
        (">1.2.x-beta", "1.3.0-alpha", Ok(true)),
        (">1.x-beta", "2.0.0-alpha", Ok(true)),
        ("^0.x-0", "0.5.0-rc", Ok(true)),
        ("=*-0", "3.0.0-rc.1", Ok(true)),
        ("^0.0.3", "0.1.3", Ok(false)),
        ("^0.0.3", "1.0.3", Ok(false)),
        ("^0.2.3", "1.2.3", Ok(false)),
        ("~0.0.0-0", "0.0.0-a", Ok(true)),
        ("~0", "0.9.0", Ok(true)),
        ("~0.x", "1.0.0", Ok(false)),
        ("<=1.2.x", "1.3.0-rc", Ok(false)),
        ("!=1.2.x", "1.2.5-rc", Ok(false)),
        ("!=1.2.x-0", "1.2.5-rc", Ok(true)),
        ("!=1.2.x-0", "1.2.5-0", Ok(false)),
        (">1.2.3 <1.2.3", "1.2.3", Ok(false)),
    ];

    #[test]
    fn semver_compare_matches_go() {
        let mut bad = Vec::new();
        for (c, v, want) in CHECKS {
            let got = check(c, v);
            if got.as_ref().map_err(String::as_str) != want.as_ref().map_err(|e| *e) {
                bad.push(format!("semverCompare {c:?} {v:?}: got {got:?}, Go {want:?}"));
            }
        }
        assert!(bad.is_empty(), "{} mismatches:\n{}", bad.len(), bad.join("\n"));
    }

    fn sv(s: &str) -> J {
        J::from_object(Version::parse(s).expect("valid version"))
    }

    /// Calls `name` on the Version object `recv`.
    fn call(recv: &J, name: &str, args: &[J]) -> Result<J, String> {
        method(
            recv.downcast_object_ref::<Version>().expect("a Version"),
            name,
            args,
        )
    }

    /// A chain of zero-argument calls, rendered as Go would print the result.
    fn chain(recv: &str, names: &str) -> Result<String, String> {
        let mut v = sv(recv);
        for name in names.split('.') {
            v = call(&v, name, &[])?;
        }
        Ok(v.to_string())
    }

    #[test]
    fn parse_and_display() {
        // {{ $v := semver "v1.2.3-b.1+m" }}{{ $v.Major }}|{{ $v.Minor }}|{{ $v.Patch }}|
        // {{ $v.Prerelease }}|{{ $v.Metadata }}|{{ $v.Original }}|{{ $v.String }}|{{ $v }}
        let names = [
            "Major",
            "Minor",
            "Patch",
            "Prerelease",
            "Metadata",
            "Original",
            "String",
        ];
        let mut got: Vec<String> = names.iter().map(|n| chain("v1.2.3-b.1+m", n).unwrap()).collect();
        got.push(Version::parse("v1.2.3-b.1+m").unwrap().to_string());
        assert_eq!(got.join("|"), "1|2|3|b.1|m|v1.2.3-b.1+m|1.2.3-b.1+m|1.2.3-b.1+m");
        // {{ $v := semver "1" }}{{ $v.Original }}|{{ $v }}|{{ $v.Prerelease }}|{{ $v.Metadata }}
        let got = ["Original", "String", "Prerelease", "Metadata"].map(|n| chain("1", n).unwrap());
        assert_eq!(got.join("|"), "1|1.0.0||");
        // {{ (semver "1.2.3") }} through minijinja's rendering of the object
        assert_eq!(sv("1.2.3").to_string(), "1.2.3");
        let max = "18446744073709551615";
        assert_eq!(chain(&format!("{max}.{max}.{max}"), "Major").unwrap(), max);
        // semver "" / "1.0.0.0"
        assert_eq!(Version::parse(""), Err(INVALID_SEMVER.to_string()));
        assert_eq!(Version::parse("1.0.0.0"), Err(INVALID_SEMVER.to_string()));
    }

    #[test]
    fn increments() {
        // {{ $v := semver "v1.2.3-b.1+m" }}{{ $v.IncPatch }}|{{ $v.IncMinor }}|{{ $v.IncMajor }}|
        // {{ $v.IncPatch.IncPatch }}|{{ $v.IncPatch.IncMinor.IncMajor }}
        let got = [
            "IncPatch",
            "IncMinor",
            "IncMajor",
            "IncPatch.IncPatch",
            "IncPatch.IncMinor.IncMajor",
        ]
        .map(|n| chain("v1.2.3-b.1+m", n).unwrap());
        assert_eq!(got.join("|"), "1.2.3|1.3.0|2.0.0|1.2.4|2.0.0");
        let got = ["IncPatch", "IncMinor", "IncMajor"].map(|n| chain("1.2.3+m", n).unwrap());
        assert_eq!(got.join("|"), "1.2.4|1.3.0|2.0.0");
        // uint64 arithmetic wraps, as in Go.
        let max = "18446744073709551615";
        let got =
            ["IncPatch", "IncMinor", "IncMajor"].map(|n| chain(&format!("{max}.{max}.{max}"), n).unwrap());
        assert_eq!(got.join("|"), format!("{max}.{max}.0|{max}.0.0|0.0.0"));
        // {{ (semver "1.2.3").IncPatch.String }}|{{ (semver "1.2.3").IncPatch.Prerelease }}|{{ (semver "1.2.3").IncPatch.Major }}
        let got =
            ["IncPatch.String", "IncPatch.Prerelease", "IncPatch.Major"].map(|n| chain("1.2.3", n).unwrap());
        assert_eq!(got.join("|"), "1.2.4||1");
        // Original is not observable from a template on these values; the library keeps the `v`.
        let inc = call(&sv("v1.2.3"), "IncPatch", &[]).unwrap();
        assert_eq!(inc.downcast_object_ref::<Version>().unwrap().original, "v1.2.4");
    }

    #[test]
    fn comparisons() {
        let cmp = |a: &str, name: &str, b: &str| go_literal(&call(&sv(a), name, &[sv(b)]).unwrap());
        // {{ $v.Compare (semver "1.2.4") }}|... => -1|0|1|1|-1
        let got = ["1.2.4", "1.2.3+x", "1.2.3-rc", "v1.2", "2"].map(|b| cmp("1.2.3", "Compare", b));
        assert_eq!(got.join("|"), "-1|0|1|1|-1");
        let pairs = [
            ("1.0.0-alpha", "1.0.0-alpha.1"),
            ("1.0.0-alpha.1", "1.0.0-alpha.beta"),
            ("1.0.0-beta.11", "1.0.0-beta.2"),
            ("1.0.0-rc.1", "1.0.0-beta.11"),
            ("1.0.0-1", "1.0.0-a"),
            ("1.0.0-a", "1.0.0-1"),
        ];
        let got = pairs.map(|(a, b)| cmp(a, "Compare", b));
        assert_eq!(got.join("|"), "-1|-1|1|1|-1|1");
        // LessThan 1.2.4 | LessThan 1.2.3 | GreaterThan 1.2.3-rc.1 | GreaterThan 1.2.3 |
        // Equal v1.2.3+meta | Equal 1.2.4
        let got = [
            ("LessThan", "1.2.4"),
            ("LessThan", "1.2.3"),
            ("GreaterThan", "1.2.3-rc.1"),
            ("GreaterThan", "1.2.3"),
            ("Equal", "v1.2.3+meta"),
            ("Equal", "1.2.4"),
        ]
        .map(|(n, b)| cmp("1.2.3", n, b));
        assert_eq!(got.join("|"), "true|false|true|false|true|false");
        // v3.3's LessThanEqual/GreaterThanEqual are Compare <= 0 / >= 0 (Go: -1, 0, 1 above).
        let got = ["1.2.4", "1.2.3+x", "1.2.3-rc"].map(|b| {
            format!(
                "{}/{}",
                cmp("1.2.3", "LessThanEqual", b),
                cmp("1.2.3", "GreaterThanEqual", b)
            )
        });
        assert_eq!(got.join("|"), "true/false|true/true|false/true");
    }

    #[test]
    fn set_prerelease_and_metadata() {
        let set =
            |recv: &str, name: &str, s: &str| call(&sv(recv), name, &[J::from(s)]).map(|v| v.to_string());
        // {{ $v := semver "v1.2.3+m" }}{{ $v.SetPrerelease "rc.1" }}|{{ $v.SetMetadata "b.7" }}|{{ $v.SetMetadata "" }}
        assert_eq!(set("v1.2.3+m", "SetPrerelease", "rc.1").unwrap(), "1.2.3-rc.1+m");
        assert_eq!(set("v1.2.3+m", "SetMetadata", "b.7").unwrap(), "1.2.3+b.7");
        assert_eq!(set("v1.2.3+m", "SetMetadata", "").unwrap(), "1.2.3");
        // {{ ($v.SetPrerelease "x").SetPrerelease "" }}|{{ ($v.SetPrerelease "x").Prerelease }}
        let x = call(&sv("v1.2.3+m"), "SetPrerelease", &[J::from("x")]).unwrap();
        assert_eq!(
            call(&x, "SetPrerelease", &[J::from("")]).unwrap().to_string(),
            "1.2.3+m"
        );
        assert_eq!(call(&x, "Prerelease", &[]).unwrap().to_string(), "x");
        assert_eq!(set("1.2.3", "SetPrerelease", "a..b").unwrap(), "1.2.3-a..b");
        assert_eq!(set("1.2.3", "SetPrerelease", "a.b-c.0").unwrap(), "1.2.3-a.b-c.0");
        assert_eq!(set("1.2.3", "SetMetadata", "01.x").unwrap(), "1.2.3+01.x");
        assert_eq!(set("1.2.3", "SetMetadata", "a..b").unwrap(), "1.2.3+a..b");
        let errs = [
            (
                "SetPrerelease",
                "01",
                "error calling SetPrerelease: Version segment starts with 0",
            ),
            (
                "SetPrerelease",
                "\u{e9}",
                "error calling SetPrerelease: Invalid Prerelease string",
            ),
            (
                "SetPrerelease",
                "a_b",
                "error calling SetPrerelease: Invalid Prerelease string",
            ),
            (
                "SetMetadata",
                "a_b",
                "error calling SetMetadata: Invalid Metadata string",
            ),
        ];
        for (name, s, want) in errs {
            assert_eq!(set("1.2.3", name, s), Err(want.to_string()), "{name} {s:?}");
        }
        // {{ ((semver "1.2.3").SetMetadata "q").Metadata }}
        assert_eq!(set("1.2.3", "SetMetadata", "q").unwrap(), "1.2.3+q");
    }

    #[test]
    fn byte_results() {
        // {{ (semver "1.2.3").Value }}|{{ .MarshalText }}|{{ .MarshalJSON }}
        // => 1.2.3|[49 46 50 46 51]|[34 49 46 50 46 51 34]
        let v = sv("1.2.3");
        assert_eq!(call(&v, "Value", &[]).unwrap().to_string(), "1.2.3");
        let bytes = |name| -> Vec<u8> {
            let list = call(&v, name, &[]).unwrap();
            list.try_iter()
                .unwrap()
                .map(|b| u8::try_from(b).unwrap())
                .collect()
        };
        assert_eq!(bytes("MarshalText"), [49, 46, 50, 46, 51]);
        assert_eq!(bytes("MarshalJSON"), [34, 49, 46, 50, 46, 51, 34]);
    }

    #[test]
    fn method_errors_match_go() {
        let p = sv("1.2.3");
        let value = call(&p, "IncPatch", &[]).unwrap();
        let meta = call(&p, "SetMetadata", &[J::from("q")]).unwrap();
        let map = J::from(std::collections::BTreeMap::from([("a", 1)]));
        let cases: Vec<(&J, &str, Vec<J>, &str)> = vec![
            (
                &p,
                "Nope",
                vec![],
                "can't evaluate field Nope in type *semver.Version",
            ),
            (
                &p,
                "Pre",
                vec![],
                "can't evaluate field Pre in type *semver.Version",
            ),
            (
                &value,
                "Nope",
                vec![],
                "can't evaluate field Nope in type semver.Version",
            ),
            (
                &value,
                "Original",
                vec![],
                "can't evaluate field Original in type semver.Version",
            ),
            (
                &value,
                "Original",
                vec![J::from(1)],
                "can't evaluate field Original in type semver.Version",
            ),
            (
                &value,
                "Compare",
                vec![p.clone()],
                "can't evaluate field Compare in type semver.Version",
            ),
            (
                &value,
                "LessThan",
                vec![p.clone()],
                "can't evaluate field LessThan in type semver.Version",
            ),
            (
                &meta,
                "Equal",
                vec![p.clone()],
                "can't evaluate field Equal in type semver.Version",
            ),
            (
                &value,
                "Scan",
                vec![J::from("1")],
                "can't evaluate field Scan in type semver.Version",
            ),
            (
                &p,
                "original",
                vec![],
                "original is an unexported field of struct type *semver.Version",
            ),
            (
                &value,
                "major",
                vec![],
                "major is an unexported field of struct type semver.Version",
            ),
            (
                &p,
                "Major",
                vec![J::from(1)],
                "wrong number of args for Major: want 0 got 1",
            ),
            (
                &p,
                "String",
                vec![J::from(1)],
                "wrong number of args for String: want 0 got 1",
            ),
            (
                &p,
                "IncPatch",
                vec![J::from(1)],
                "wrong number of args for IncPatch: want 0 got 1",
            ),
            (
                &p,
                "SetPrerelease",
                vec![],
                "wrong number of args for SetPrerelease: want 1 got 0",
            ),
            (
                &p,
                "SetPrerelease",
                vec![J::from("\u{e9}"), J::from("x")],
                "wrong number of args for SetPrerelease: want 1 got 2",
            ),
            (
                &p,
                "Compare",
                vec![],
                "wrong number of args for Compare: want 1 got 0",
            ),
            (
                &p,
                "Compare",
                vec![p.clone(), J::from(5)],
                "wrong number of args for Compare: want 1 got 2",
            ),
            (&p, "Scan", vec![], "wrong number of args for Scan: want 1 got 0"),
            (
                &p,
                "Compare",
                vec![J::from("1.0.0")],
                r#"can't handle "1.0.0" for arg of type *semver.Version"#,
            ),
            (
                &p,
                "Equal",
                vec![J::from("x\ny")],
                r#"can't handle "x\ny" for arg of type *semver.Version"#,
            ),
            (
                &p,
                "Equal",
                vec![J::from("\t\u{a0}\u{e9}\u{200b}\x01\\\"")],
                r#"can't handle "\t\u00a0é\u200b\x01\\\"" for arg of type *semver.Version"#,
            ),
            (
                &p,
                "Compare",
                vec![J::from(1)],
                "can't handle 1 for arg of type *semver.Version",
            ),
            (
                &p,
                "Compare",
                vec![J::from(1.5)],
                "can't handle 1.5 for arg of type *semver.Version",
            ),
            (
                &p,
                "Compare",
                vec![J::from(true)],
                "can't handle true for arg of type *semver.Version",
            ),
            (
                &p,
                "Compare",
                vec![J::from(())],
                "error calling Compare: runtime error: invalid memory address or nil pointer dereference",
            ),
            (
                &p,
                "Compare",
                vec![J::UNDEFINED],
                "error calling Compare: runtime error: invalid memory address or nil pointer dereference",
            ),
            (
                &p,
                "LessThan",
                vec![J::from(())],
                "error calling LessThan: runtime error: invalid memory address or nil pointer dereference",
            ),
            (
                &p,
                "Compare",
                vec![value.clone()],
                "wrong type for value; expected *semver.Version; got semver.Version",
            ),
            (
                &p,
                "Equal",
                vec![meta.clone()],
                "wrong type for value; expected *semver.Version; got semver.Version",
            ),
            (
                &p,
                "Equal",
                vec![map.clone()],
                "wrong type for value; expected *semver.Version; got map[string]interface {}",
            ),
            (
                &p,
                "Equal",
                vec![J::from(vec![1])],
                "wrong type for value; expected *semver.Version; got []interface {}",
            ),
            (&p, "SetMetadata", vec![J::from(5)], "expected string; found 5"),
            (
                &p,
                "SetPrerelease",
                vec![J::from(true)],
                "expected string; found true",
            ),
            (
                &p,
                "SetPrerelease",
                vec![J::from(())],
                "cannot assign nil to string",
            ),
            (
                &p,
                "SetPrerelease",
                vec![J::UNDEFINED],
                "invalid value; expected string",
            ),
            (
                &p,
                "SetPrerelease",
                vec![p.clone()],
                "wrong type for value; expected string; got *semver.Version",
            ),
            (
                &p,
                "SetMetadata",
                vec![J::from(vec![1])],
                "wrong type for value; expected string; got []interface {}",
            ),
        ];
        let mut bad = Vec::new();
        for (recv, name, args, want) in cases {
            let got = call(recv, name, &args);
            if got.as_ref().err().map(String::as_str) != Some(want) {
                bad.push(format!("{recv}.{name} {args:?}: got {got:?}, Go {want:?}"));
            }
        }
        assert!(bad.is_empty(), "{} mismatches:\n{}", bad.len(), bad.join("\n"));
    }

    #[test]
    fn mutating_methods_are_refused() {
        // Go's Scan mutates the receiver in place; the object here is immutable.
        let err = call(&sv("1.2.3"), "Scan", &[J::from("2.0.0")]).unwrap_err();
        assert!(err.starts_with("error calling Scan: "), "{err}");
    }

    #[test]
    fn huge_inputs_do_not_panic() {
        let long = "9".repeat(10_000);
        assert!(Version::parse(&long).is_err());
        assert!(check(&format!(">={long}"), "1.0.0").is_err());
        assert!(check(&format!("{} 1.0", "||".repeat(1000)), "1.0.0").is_err());
        let pre = format!("1.0.0-{}", ["a"; 5000].join("."));
        assert_eq!(check(&format!(">{pre}"), &format!("{pre}.b")), Ok(true));
    }
}
