//! sprig's version functions: `semver` (a version value, with methods) and `semverCompare`;
//! `semver` (the module, a port of Masterminds semver v3) implements them.
//!
//! Stage: render (pure; no I/O).

use minijinja::Value as J;

use super::{Func, str_at};
use crate::render::gotemplate::semver;

pub(super) const FUNCS: &[Func] = &[
    Func::new("semver", 1, false, version),
    Func::new("semverCompare", 2, false, compare),
];

fn version(a: &[J]) -> Result<J, String> {
    Ok(J::from_object(semver::Version::parse(&str_at(a, 0))?))
}

fn compare(a: &[J]) -> Result<J, String> {
    Ok(J::from(semver::check(&str_at(a, 0), &str_at(a, 1))?))
}
