//! STUB (replaced by helper)
#![allow(missing_docs, unused)]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern")]
pub struct BadPattern;
pub fn path_match(pattern: &str, name: &str) -> Result<bool, BadPattern> { Ok(pattern == name) }
pub fn pathspec_match(pattern: &str, path: &str) -> bool { pattern == path }
pub fn branch_match(pattern: &str, branch: &str) -> Result<bool, BadPattern> { Ok(pattern == branch) }
