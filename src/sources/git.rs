//! STUB (replaced by helper)
#![allow(missing_docs, unused)]
use std::{path::PathBuf, sync::Arc};
pub struct GitTree { pub sha: String, pub directories: Vec<String>, pub files: Vec<String> }
pub struct GitBranch { pub name: String, pub sha: String }
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("Unable to resolve '{revision}' to a commit SHA")]
    RevisionNotFound { repo: String, revision: String },
}
pub struct GitRepos;
impl GitRepos {
    pub fn new(cache_dir: PathBuf, overrides: Vec<(String, PathBuf)>) -> Self { GitRepos }
    pub fn tree(&self, url: &str, revision: &str) -> Result<Arc<GitTree>, GitError> { todo!() }
    pub fn read_files(&self, url: &str, sha: &str, paths: &[String]) -> Result<Vec<Vec<u8>>, GitError> { todo!() }
    pub fn branches(&self, url: &str) -> Result<Vec<GitBranch>, GitError> { todo!() }
}
