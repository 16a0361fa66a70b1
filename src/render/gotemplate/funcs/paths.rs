//! sprig's path functions: `base`, `dir`, `clean`, `ext`, `isAbs` (Go's `path`) and their `os`
//! twins (`filepath`, the same on Linux, where Argo CD runs).
//!
//! Stage: render (pure; no I/O: paths are strings).

use minijinja::Value as J;

use super::{Func, str_at};
use crate::text;

pub(super) const FUNCS: &[Func] = &[
    Func::new("base", 1, false, base),
    Func::new("clean", 1, false, clean),
    Func::new("dir", 1, false, dir),
    Func::new("ext", 1, false, ext),
    Func::new("isAbs", 1, false, is_abs),
    Func::new("osBase", 1, false, base),
    Func::new("osClean", 1, false, clean),
    Func::new("osDir", 1, false, dir),
    Func::new("osExt", 1, false, ext),
    Func::new("osIsAbs", 1, false, is_abs),
];

fn base(a: &[J]) -> Result<J, String> {
    Ok(J::from(text::go_base(&str_at(a, 0))))
}

fn dir(a: &[J]) -> Result<J, String> {
    Ok(J::from(dir_path(&str_at(a, 0))))
}

fn clean(a: &[J]) -> Result<J, String> {
    Ok(J::from(clean_path(&str_at(a, 0))))
}

fn ext(a: &[J]) -> Result<J, String> {
    Ok(J::from(ext_path(&str_at(a, 0))))
}

fn is_abs(a: &[J]) -> Result<J, String> {
    Ok(J::from(str_at(a, 0).starts_with('/')))
}

/// Go's `path.Clean`.
fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

/// Go's `path.Dir`.
fn dir_path(p: &str) -> String {
    let dir = match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    };
    clean_path(dir)
}

/// Go's `path.Ext`.
fn ext_path(p: &str) -> String {
    for (i, c) in p.char_indices().rev() {
        match c {
            '/' => break,
            '.' => return p[i..].to_string(),
            _ => {}
        }
    }
    String::new()
}
