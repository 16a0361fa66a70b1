//! The git source: fetches repositories with gix into a bare cache and reads trees and blobs straight from
//! the object database (never a checkout).
//!
//! - Stage: **sources** (the only place the git generators reach the outside world through).
//! - Does I/O: network (fetching from remotes: `https://`, `http://`, `git://`, `ssh://`, `file://`) and disk
//!   (the bare clones under the cache directory, and local override repositories).
//! - **Blocking**: every call may block on the network or the disk; async callers wrap calls in
//!   `tokio::task::spawn_blocking`.
//!
//! Remote repositories are cloned bare on first use into `cache_dir/<readable key>-<hash>` and fetched again
//! on every [`GitRepos::tree`] / [`GitRepos::branches`] call, so revisions are always resolved against what the
//! remote advertises right now (an up-to-date fetch costs only the handshake); calls that wait while another
//! fetch of the repository runs share the next one, which starts after all of them were made. Tree listings are cached in
//! memory by `(repository, commit SHA)`. Override URLs map to local repositories that are opened in place.
//!
//! The working tree of a non-bare override ([`RepoOverride`]) is read instead of its commits when the
//! revision asked for is its checked-out branch (or `HEAD`): tracked files as they are on disk (deleted ones
//! gone) plus untracked files that `.gitignore`, `.git/info/exclude` and `core.excludesFile` do not ignore.
//! Its listing has the same shape as a commit's, with [`WORKING_TREE`] for a SHA, and is never cached.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use gix::ObjectId;
use gix::bstr::ByteSlice;
use gix::objs::FindExt;
use gix::objs::tree::EntryKind;
use gix::protocol::handshake::Ref as AdvertisedRef;

use super::credentials::{self, RepoCredential};

/// How many tree listings are kept in memory per repository (the most recently computed ones).
const TREES_PER_REPO: usize = 16;

/// What the cache fetches: every branch and tag, mirrored under the same names (plus the remote's `HEAD`).
const MIRROR_REFSPECS: [&str; 2] = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];

/// In-memory configuration for every repository opened or cloned here: never prompt for credentials on a
/// terminal (this runs in a server).
const CONFIG_OVERRIDES: [&str; 1] = ["gitoxide.credentials.terminalPrompt=false"];

/// How gix reaches one repository: the credential to present and the SSH host keys to trust.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The credential (None: anonymous, or what the user's own git and SSH configuration
    /// provides: credential helpers, the SSH agent, `~/.ssh`).
    pub credential: Option<RepoCredential>,
    /// Known SSH host keys in `known_hosts` format (Argo CD's `argocd-ssh-known-hosts-cm`); None:
    /// the SSH client's own known-hosts files.
    pub known_hosts: Option<String>,
    /// Extra CA certificates (PEM) to trust for this repository's HTTPS server (Argo CD's
    /// `argocd-tls-certs-cm` entry for its host), besides the system's.
    pub tls_ca: Option<String>,
    /// The installation token minted for the credential's GitHub App (HTTPS), sent as the
    /// password of `x-access-token`.
    pub app_token: Option<String>,
}

impl Access {
    /// The cache key of `url` (already normalised) under this access: one bare clone per URL and
    /// credential, so a credential never reads what another one fetched.
    fn key(&self, normalized: &str) -> String {
        match &self.credential {
            Some(c) => format!("{normalized}#{}", c.fingerprint()),
            None => normalized.to_owned(),
        }
    }

    /// Who supplied the credential, for messages (`Secret argocd/repo`).
    fn origin(&self) -> String {
        match &self.credential {
            Some(c) => format!(" (credential from Secret {})", c.source),
            None => String::new(),
        }
    }
}

/// The `sha` of a working tree's listing (see [`GitRepos::tree`]): reads at it read the files on disk.
pub const WORKING_TREE: &str = "(working tree)";

/// A local repository read in place of a URL (`--repo URL=PATH`, or `URL=PATH@committed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoOverride {
    /// The repository URL reads are redirected from.
    pub url: String,
    /// The local repository, bare or not.
    pub path: PathBuf,
    /// Read commits only, never the working tree (`@committed`).
    pub committed: bool,
}

impl std::str::FromStr for RepoOverride {
    type Err = String;

    /// `URL=PATH`, or `URL=PATH@committed`. Split at the last `=`, so URLs with query strings work.
    fn from_str(s: &str) -> Result<Self, String> {
        let malformed = || format!("expected URL=PATH or URL=PATH@committed, got {s:?}");
        let (url, path) = s.rsplit_once('=').ok_or_else(malformed)?;
        let (path, committed) = match path.strip_suffix("@committed") {
            Some(path) => (path, true),
            None => (path, false),
        };
        if url.is_empty() || path.is_empty() {
            return Err(malformed());
        }
        Ok(RepoOverride {
            url: url.to_owned(),
            path: PathBuf::from(path),
            committed,
        })
    }
}

impl From<(String, PathBuf)> for RepoOverride {
    /// `URL=PATH`: the working tree for its checked-out branch, commits otherwise.
    fn from((url, path): (String, PathBuf)) -> Self {
        RepoOverride {
            url,
            path,
            committed: false,
        }
    }
}

/// How many symbolic links [`GitRepos::read_files`] follows for one path before giving up.
const MAX_SYMLINK_HOPS: usize = 16;

/// The listing of one commit's tree, as the git generators need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitTree {
    /// Full hex SHA of the commit.
    pub sha: String,
    /// Every directory of the commit's tree (not the root), as `/`-separated paths, in the order Go's
    /// `filepath.Walk` visits a checkout: depth-first pre-order, entries of each directory sorted by name bytes
    /// (so "a", "a/b", "a-c" — NOT git's tree order). Hidden directories (name starting with '.') ARE included,
    /// with their subtrees; callers filter. Submodule entries (gitlinks) count as (empty) directories. Symlinks
    /// are not directories.
    pub directories: Vec<String>,
    /// Every regular/executable file and symlink path in the tree, sorted by bytes.
    pub files: Vec<String>,
}

/// A branch of a repository (`refs/heads/*`) and the commit it points to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GitBranch {
    /// The branch name without `refs/heads/`.
    pub name: String,
    /// Full hex SHA of the commit the branch points to.
    pub sha: String,
}

/// Everything that can go wrong reading a git repository. Messages name the repository URL.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The revision is neither `HEAD`, a branch, a tag, a full ref name nor a commit SHA of the repository.
    /// The message is Argo CD's.
    #[error("Unable to resolve '{revision}' to a commit SHA")]
    RevisionNotFound {
        /// The repository URL.
        repo: String,
        /// The revision as given.
        revision: String,
    },
    /// The repository's credential asks for something gix cannot do here.
    #[error("cannot read repository {repo} with the credential from Secret {secret}: {message}")]
    Unsupported {
        /// The repository URL (without an embedded password).
        repo: String,
        /// `namespace/name` of the Secret.
        secret: String,
        /// What is not supported.
        message: String,
    },
    /// The repository could not be reached, does not exist, or the clone/fetch failed.
    #[error("failed to fetch repository {repo}: {message}")]
    Unreachable {
        /// The repository URL.
        repo: String,
        /// The underlying error text.
        message: String,
    },
    /// A local repository (an override, or the cache) could not be opened.
    #[error("failed to open repository {repo} at {path}: {message}")]
    Open {
        /// The repository URL.
        repo: String,
        /// The local path that was opened.
        path: PathBuf,
        /// The underlying error text.
        message: String,
    },
    /// The cache directory could not be prepared.
    #[error("failed to prepare the cache directory {path} for repository {repo}: {message}")]
    Cache {
        /// The repository URL.
        repo: String,
        /// The cache directory of the repository.
        path: PathBuf,
        /// The underlying error text.
        message: String,
    },
    /// A path asked for by [`GitRepos::read_files`] does not exist in the commit.
    #[error("path '{path}' does not exist in repository {repo} at {sha}")]
    PathNotFound {
        /// The repository URL.
        repo: String,
        /// The commit SHA.
        sha: String,
        /// The missing path.
        path: String,
    },
    /// A path asked for by [`GitRepos::read_files`] is a directory or a submodule, not a file.
    #[error("path '{path}' in repository {repo} at {sha} is not a file")]
    NotAFile {
        /// The repository URL.
        repo: String,
        /// The commit SHA.
        sha: String,
        /// The path.
        path: String,
    },
    /// Reading objects from the repository failed (corrupt or incomplete object database).
    #[error("failed to read objects of repository {repo}: {message}")]
    Objects {
        /// The repository URL.
        repo: String,
        /// The underlying error text.
        message: String,
    },
}

impl GitError {
    /// The repository URL the error is about.
    pub fn repo(&self) -> &str {
        match self {
            GitError::RevisionNotFound { repo, .. }
            | GitError::Unreachable { repo, .. }
            | GitError::Unsupported { repo, .. }
            | GitError::Open { repo, .. }
            | GitError::Cache { repo, .. }
            | GitError::PathNotFound { repo, .. }
            | GitError::NotAFile { repo, .. }
            | GitError::Objects { repo, .. } => repo,
        }
    }
}

/// Per-repository state, behind its own mutex so that fetches into one cache directory are serialized.
#[derive(Default)]
struct Slot {
    repo: Option<gix::ThreadSafeRepository>,
    /// The last successful fetch: when it started, and what the remote advertised then.
    last_fetch: Option<(std::time::Instant, gix::ThreadSafeRepository, Vec<AdvertisedRef>)>,
}

/// Where a repository's objects come from.
enum Location {
    /// A local repository opened in place.
    Override(RepoOverride),
    /// A remote (including `file://` and plain paths) mirrored into the cache.
    Remote,
}

/// The git source: bare clones in a cache directory, local overrides and an in-memory tree cache.
///
/// `Send + Sync`; share it in an `Arc`. All methods block.
pub struct GitRepos {
    cache_dir: PathBuf,
    /// Local repositories, by normalized URL.
    overrides: Vec<RepoOverride>,
    /// Paths whose working tree was read: all of them, and those not yet taken by
    /// [`GitRepos::take_worktree_reads`].
    worktree_reads: Mutex<(BTreeSet<PathBuf>, Vec<PathBuf>)>,
    /// normalized URL → per-repository slot
    slots: Mutex<HashMap<String, Arc<Mutex<Slot>>>>,
    /// normalized URL → most recent tree listings (oldest first)
    trees: Mutex<HashMap<String, VecDeque<Arc<GitTree>>>>,
    tree_cache_misses: AtomicU64,
    /// Trees walked (neither in memory nor listed on disk).
    tree_walks: AtomicU64,
    /// Fetches (and first clones) of remotes.
    fetches: AtomicU64,
}

impl std::fmt::Debug for GitRepos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitRepos")
            .field("cache_dir", &self.cache_dir)
            .field("overrides", &self.overrides)
            .field("tree_cache_misses", &self.tree_cache_misses())
            .finish_non_exhaustive()
    }
}

impl GitRepos {
    /// `cache_dir`: where bare clones live, one directory per repository URL (a readable, collision-free key:
    /// sanitized host/path plus a short hash of the normalized URL). `overrides`: URL → local repository path;
    /// a read of such a URL opens the local repository directly (bare or not) instead of fetching.
    pub fn new(cache_dir: PathBuf, overrides: Vec<RepoOverride>) -> Self {
        GitRepos {
            cache_dir,
            overrides: overrides
                .into_iter()
                .map(|o| RepoOverride {
                    url: normalize_url(&o.url),
                    ..o
                })
                .collect(),
            worktree_reads: Mutex::new(Default::default()),
            slots: Mutex::new(HashMap::new()),
            trees: Mutex::new(HashMap::new()),
            tree_cache_misses: AtomicU64::new(0),
            tree_walks: AtomicU64::new(0),
            fetches: AtomicU64::new(0),
        }
    }

    /// Resolve `revision` for `url` to a commit, fetching as needed, and return the tree listing (cached by
    /// (url, sha) in memory so the second call for an unchanged commit does no tree walk).
    ///
    /// `""` and `HEAD` mean the remote's default branch; otherwise a branch, a tag, a full ref name or a full or
    /// abbreviated commit SHA. Anything else is [`GitError::RevisionNotFound`]. For a non-bare override not
    /// marked `committed`, `""`, `HEAD` and its checked-out branch list its working tree (sha [`WORKING_TREE`]).
    pub fn tree(&self, url: &str, revision: &str) -> Result<Arc<GitTree>, GitError> {
        self.tree_as(url, revision, &Access::default())
    }

    /// [`GitRepos::tree`] with `access`'s credential.
    pub fn tree_as(&self, url: &str, revision: &str, access: &Access) -> Result<Arc<GitTree>, GitError> {
        let normalized = normalize_url(url);
        let key = access.key(&normalized);
        let (repo, id, listing) = match self.locate(&normalized) {
            Location::Override(o) => {
                let repo = self.open_override(url, &key, &o.path)?.to_thread_local();
                if reads_worktree(&repo, &o, revision) {
                    return self.worktree_tree(url, &repo, &o.path);
                }
                let id = resolve(&repo, url, revision, |name| local_ref(&repo, name))?;
                (repo, id, None)
            }
            Location::Remote => {
                let (ts, advertised) = self.sync_locked(url, &key, access)?;
                let repo = ts.to_thread_local();
                let id = resolve(&repo, url, revision, |name| advertised_ref(&advertised, name))?;
                let listing = self.clone_dir(&key).join(LISTING_FILE);
                (repo, id, Some(listing))
            }
        };
        let sha = id.to_string();
        if let Some(tree) = self.cached_tree(&key, &sha) {
            return Ok(tree);
        }
        self.tree_cache_misses.fetch_add(1, Ordering::Relaxed);
        if let Some(tree) = listing.as_deref().and_then(|path| read_listing(path, &sha)) {
            let tree = Arc::new(tree);
            self.remember_tree(key, Arc::clone(&tree));
            return Ok(tree);
        }
        self.tree_walks.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let tree = Arc::new(walk_tree(&repo, id).map_err(|e| objects_error(url, &e))?);
        if let Some(path) = &listing
            && let Err(e) = write_listing(path, &tree)
        {
            tracing::debug!(repo = url, path = %path.display(), error = %e, "could not keep the tree listing");
        }
        tracing::debug!(
            repo = url,
            sha = %sha,
            directories = tree.directories.len(),
            files = tree.files.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "git tree listed"
        );
        self.remember_tree(key, Arc::clone(&tree));
        Ok(tree)
    }

    /// Read blobs at `sha` (already resolved via [`GitRepos::tree`]) for the given `/`-separated paths, in
    /// order; a missing path is an error naming it. Symbolic links inside the repository are followed.
    pub fn read_files(&self, url: &str, sha: &str, paths: &[String]) -> Result<Vec<Vec<u8>>, GitError> {
        self.read_files_as(url, sha, paths, &Access::default())
    }

    /// [`GitRepos::read_files`] with `access`'s credential.
    pub fn read_files_as(
        &self,
        url: &str,
        sha: &str,
        paths: &[String],
        access: &Access,
    ) -> Result<Vec<Vec<u8>>, GitError> {
        let normalized = normalize_url(url);
        let key = access.key(&normalized);
        let not_found = || GitError::RevisionNotFound {
            repo: url.to_owned(),
            revision: sha.to_owned(),
        };
        if sha == WORKING_TREE
            && let Location::Override(o) = self.locate(&normalized)
            && !o.committed
        {
            let repo = self.open_override(url, &key, &o.path)?.to_thread_local();
            let workdir = repo.workdir().ok_or_else(not_found)?;
            return read_worktree_files(url, workdir, paths);
        }
        let id = ObjectId::from_hex(sha.trim().as_bytes()).map_err(|_| not_found())?;
        let repo = match self.locate(&normalized) {
            Location::Override(o) => self.open_override(url, &key, &o.path)?.to_thread_local(),
            Location::Remote => {
                let slot = self.slot(&key);
                let mut slot = lock(&slot);
                let ts = match self.open_cache(url, &key, access, &mut slot)? {
                    Some(ts) if ts.to_thread_local().has_object(id) => ts,
                    // Not cloned yet, or the commit is not here yet: bring the cache up to date once.
                    _ => self.sync(url, &key, access, &mut slot)?.0,
                };
                ts.to_thread_local()
            }
        };
        if !repo.has_object(id) {
            return Err(not_found());
        }
        let commit = repo.find_commit(id).map_err(|_| not_found())?;
        let tree = commit.tree().map_err(|e| objects_error(url, &e))?;
        paths
            .iter()
            .map(|path| read_blob(&tree, url, sha, path))
            .collect()
    }

    /// Remote branches (`refs/heads/*`) with their commit SHAs, sorted by name. Fetches like
    /// [`GitRepos::tree`]; for override paths lists the local branches.
    pub fn branches(&self, url: &str) -> Result<Vec<GitBranch>, GitError> {
        self.branches_as(url, &Access::default())
    }

    /// [`GitRepos::branches`] with `access`'s credential.
    pub fn branches_as(&self, url: &str, access: &Access) -> Result<Vec<GitBranch>, GitError> {
        let normalized = normalize_url(url);
        let key = access.key(&normalized);
        let mut branches = match self.locate(&normalized) {
            Location::Override(o) => {
                let repo = self.open_override(url, &key, &o.path)?.to_thread_local();
                local_branches(&repo).map_err(|e| objects_error(url, &e))?
            }
            Location::Remote => {
                let (ts, advertised) = self.sync_locked(url, &key, access)?;
                let repo = ts.to_thread_local();
                let mut branches = Vec::new();
                for (name, id) in advertised.iter().filter_map(ref_target) {
                    let Some(short) = name.strip_prefix(b"refs/heads/") else {
                        continue;
                    };
                    // A branch normally points at a commit; peel just in case it points at a tag object.
                    let id = peel_to_commit(&repo, id).unwrap_or(id);
                    branches.push(GitBranch {
                        name: short.to_str_lossy().into_owned(),
                        sha: id.to_string(),
                    });
                }
                branches
            }
        };
        branches.sort_by(|a, b| a.name.cmp(&b.name));
        branches.dedup_by(|a, b| a.name == b.name);
        Ok(branches)
    }

    /// Remove the key and known-hosts files of every credential whose fingerprint is not in
    /// `keep` (its Secret was deleted or changed): a private key stays on disk only while a
    /// Secret holds it. Returns how many credentials' files were removed.
    pub fn retain_credentials(&self, keep: &std::collections::BTreeSet<String>) -> usize {
        let dir = self.cache_dir.join(".credentials");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if is_dir && name != "anonymous" && !keep.contains(&name) {
                match std::fs::remove_dir_all(entry.path()) {
                    Ok(()) => removed += 1,
                    Err(e) => tracing::warn!(path = %entry.path().display(), error = %e,
                        "could not remove the files of a deleted credential"),
                }
            }
        }
        removed
    }

    /// How many times a remote was fetched (or cloned) for [`GitRepos::tree`] and
    /// [`GitRepos::branches`]: callers waiting together on one repository share one fetch.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// How many [`GitRepos::tree`] calls had to walk a tree because no listing for `(url, sha)` was cached.
    pub fn tree_cache_misses(&self) -> u64 {
        self.tree_cache_misses.load(Ordering::Relaxed)
    }

    /// How many of those misses walked the commit's trees: the others read the listing a
    /// process left beside the bare clone ([`LISTING_FILE`]).
    pub fn tree_walks(&self) -> u64 {
        self.tree_walks.load(Ordering::Relaxed)
    }

    /// The cache directory that holds (or will hold) the bare clone of `url`.
    pub fn cache_path(&self, url: &str) -> PathBuf {
        self.clone_dir(&normalize_url(url))
    }

    /// The directory of the bare clone for the cache key `key` (a normalized URL, with the
    /// credential it is read with).
    fn clone_dir(&self, key: &str) -> PathBuf {
        self.cache_dir.join(cache_dir_name(key))
    }

    /// The paths of override repositories whose working tree was read since the last call, each once per
    /// `GitRepos` (for a note to the user: what is rendered includes uncommitted changes).
    pub fn take_worktree_reads(&self) -> Vec<PathBuf> {
        std::mem::take(&mut lock(&self.worktree_reads).1)
    }

    /// List the working tree of `repo`, the override at `path` (not cached: files change on disk).
    fn worktree_tree(
        &self,
        url: &str,
        repo: &gix::Repository,
        path: &Path,
    ) -> Result<Arc<GitTree>, GitError> {
        let tree = walk_worktree(repo).map_err(|message| GitError::Open {
            repo: url.to_owned(),
            path: path.to_owned(),
            message: format!("reading its working tree: {message}"),
        })?;
        let mut reads = lock(&self.worktree_reads);
        if reads.0.insert(path.to_owned()) {
            tracing::info!(repo = url, path = %path.display(), "reading the working tree (uncommitted changes included)");
            reads.1.push(path.to_owned());
        }
        Ok(Arc::new(tree))
    }

    fn locate(&self, key: &str) -> Location {
        match self.overrides.iter().find(|o| o.url == key) {
            Some(o) => Location::Override(o.clone()),
            None => Location::Remote,
        }
    }

    fn slot(&self, key: &str) -> Arc<Mutex<Slot>> {
        let mut slots = lock(&self.slots);
        Arc::clone(slots.entry(key.to_owned()).or_default())
    }

    fn cached_tree(&self, key: &str, sha: &str) -> Option<Arc<GitTree>> {
        let trees = lock(&self.trees);
        trees.get(key)?.iter().find(|t| t.sha == sha).cloned()
    }

    fn remember_tree(&self, key: String, tree: Arc<GitTree>) {
        let mut trees = lock(&self.trees);
        let entry = trees.entry(key).or_default();
        if entry.iter().any(|t| t.sha == tree.sha) {
            return;
        }
        if entry.len() >= TREES_PER_REPO {
            entry.pop_front();
        }
        entry.push_back(tree);
    }

    /// Open (once, then reuse) the local repository of an override.
    fn open_override(
        &self,
        url: &str,
        key: &str,
        path: &Path,
    ) -> Result<gix::ThreadSafeRepository, GitError> {
        let slot = self.slot(key);
        let mut slot = lock(&slot);
        if let Some(repo) = &slot.repo {
            return Ok(repo.clone());
        }
        let repo =
            gix::ThreadSafeRepository::open_opts(path, open_options()).map_err(|e| GitError::Open {
                repo: url.to_owned(),
                path: path.to_owned(),
                message: error_text(&e),
            })?;
        slot.repo = Some(repo.clone());
        Ok(repo)
    }

    /// Open the existing bare clone of `url`, if there is one. A cache directory that is not a repository
    /// (left over by an interrupted clone) is removed.
    fn open_cache(
        &self,
        url: &str,
        key: &str,
        access: &Access,
        slot: &mut Slot,
    ) -> Result<Option<gix::ThreadSafeRepository>, GitError> {
        if let Some(repo) = &slot.repo {
            return Ok(Some(repo.clone()));
        }
        let dir = self.clone_dir(key);
        if !dir.exists() {
            return Ok(None);
        }
        let overrides = self.access_overrides(url, key, access)?;
        match gix::ThreadSafeRepository::open_opts(
            &dir,
            gix::open::Options::default().config_overrides(overrides),
        ) {
            Ok(repo) => {
                slot.repo = Some(repo.clone());
                Ok(Some(repo))
            }
            Err(e) => {
                tracing::warn!(repo = url, path = %dir.display(), error = %error_text(&e),
                    "git cache directory is not a repository; cloning again");
                std::fs::remove_dir_all(&dir).map_err(|e| GitError::Cache {
                    repo: url.to_owned(),
                    path: dir.clone(),
                    message: e.to_string(),
                })?;
                Ok(None)
            }
        }
    }

    /// [`Self::sync`] under the per-URL lock.
    fn sync_locked(
        &self,
        url: &str,
        key: &str,
        access: &Access,
    ) -> Result<(gix::ThreadSafeRepository, Vec<AdvertisedRef>), GitError> {
        let asked = std::time::Instant::now();
        let slot = self.slot(key);
        let mut slot = lock(&slot);
        // A fetch that started after this call was made saw at least what the remote advertised
        // when it was made: its answer serves this call too. So the sets a push refreshes, waiting
        // on this lock together, cost one fetch per wave rather than one each (333 fetches of one
        // repository, one after the other, took 15 s).
        if let Some((started, ts, advertised)) = &slot.last_fetch
            && *started >= asked
        {
            return Ok((ts.clone(), advertised.clone()));
        }
        let started = std::time::Instant::now();
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let fetched = self.sync(url, key, access, &mut slot)?;
        slot.last_fetch = Some((started, fetched.0.clone(), fetched.1.clone()));
        Ok(fetched)
    }

    /// The in-memory git configuration for `access`: never prompt, and, for a credential with an
    /// SSH key, an `ssh` command that uses only that key (written to a file of mode 0600 under the
    /// cache directory) and checks the host against `known_hosts` (unless `insecure`).
    fn access_overrides(&self, url: &str, key: &str, access: &Access) -> Result<Vec<String>, GitError> {
        let mut overrides: Vec<String> = CONFIG_OVERRIDES.iter().map(|s| s.to_string()).collect();
        let credential = access.credential.as_ref();
        if let Some(c) = credential
            && is_ssh_url(url)
            && c.ssh_private_key.is_none()
        {
            return Err(GitError::Unsupported {
                repo: credentials::redact_url(url),
                secret: c.source.clone(),
                message: "it has no sshPrivateKey, which a repository read over SSH needs".into(),
            });
        }
        let ssh_key = credential.and_then(|c| c.ssh_private_key.as_deref());
        let insecure = credential.is_some_and(|c| c.insecure);
        if ssh_key.is_none() && access.known_hosts.is_none() && !insecure {
            return Ok(overrides);
        }
        let dir = self.cache_dir.join(".credentials").join(match credential {
            Some(c) => c.fingerprint(),
            None => "anonymous".to_owned(),
        });
        let cache_error = |e: std::io::Error| GitError::Cache {
            repo: url.to_owned(),
            path: dir.clone(),
            message: e.to_string(),
        };
        // ssh's own messages go to a log per cache key (gix would pass most of them to this
        // process's stderr and keep only a short read error); `fetch_error` reads it.
        let log = self.ssh_log(key);
        let mut ssh = vec![
            "ssh".to_owned(),
            "-o BatchMode=yes".to_owned(),
            format!("-E {}", shell_quote(&log.to_string_lossy())),
        ];
        if let Some(ssh_key) = ssh_key {
            let path = dir.join("key");
            // OpenSSH refuses a key without its final newline.
            let pem = if ssh_key.ends_with('\n') {
                ssh_key.to_owned()
            } else {
                format!("{ssh_key}\n")
            };
            write_private(&path, pem.as_bytes()).map_err(cache_error)?;
            ssh.push(format!("-i {}", shell_quote(&path.to_string_lossy())));
            ssh.push("-o IdentitiesOnly=yes -o IdentityAgent=none".to_owned());
        }
        if insecure {
            ssh.push("-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null".to_owned());
        } else if let Some(known) = &access.known_hosts {
            let path = dir.join("known_hosts");
            write_private(&path, known.as_bytes()).map_err(cache_error)?;
            ssh.push(format!(
                "-o StrictHostKeyChecking=yes -o GlobalKnownHostsFile=/dev/null -o UserKnownHostsFile={}",
                shell_quote(&path.to_string_lossy())
            ));
        }
        overrides.push(format!("core.sshCommand={}", ssh.join(" ")));
        Ok(overrides)
    }

    /// Where the ssh client writes its messages for the repository with cache key `key`.
    fn ssh_log(&self, key: &str) -> PathBuf {
        self.cache_dir
            .join(".credentials")
            .join(format!("ssh-{:016x}.log", fnv1a64(key.as_bytes())))
    }

    /// Bring the bare clone of `url` up to date with the remote (cloning it on first use) and return it with
    /// the refs the remote advertised during this very fetch. Callers hold the slot's lock.
    fn sync(
        &self,
        url: &str,
        key: &str,
        access: &Access,
        slot: &mut Slot,
    ) -> Result<(gix::ThreadSafeRepository, Vec<AdvertisedRef>), GitError> {
        let log = self.ssh_log(key);
        // Only this fetch's messages count.
        let _ = std::fs::remove_file(&log);
        let unreachable = |e: &gix::Error| {
            let ssh = std::fs::read_to_string(&log).unwrap_or_default();
            fetch_error(url, access, e, &ssh)
        };
        let started = std::time::Instant::now();
        let http = http_settings(url, access)?;
        // (Re)writes the key and known-hosts files: a cached repository's ssh command points at
        // them, and they may have been removed since (`retain_credentials`).
        let overrides = self.access_overrides(url, key, access)?;
        if let Some(ts) = self.open_cache(url, key, access, slot)? {
            let repo = ts.to_thread_local();
            let (advertised, changed) = fetch(&repo, url, &http).map_err(|e| unreachable(&e))?;
            if let Err(e) = track_remote_head(&repo, &advertised) {
                tracing::warn!(repo = url, error = %error_text(&e), "could not update HEAD of the git cache");
            }
            tracing::debug!(
                repo = url,
                changed,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "git fetched"
            );
            return Ok((ts, advertised));
        }
        let dir = self.clone_dir(key);
        std::fs::create_dir_all(&self.cache_dir).map_err(|e| GitError::Cache {
            repo: url.to_owned(),
            path: self.cache_dir.clone(),
            message: e.to_string(),
        })?;
        let (repo, outcome) = clone_bare(url, &dir, overrides, http).map_err(|e| unreachable(&e))?;
        tracing::debug!(repo = url, path = %dir.display(), elapsed_ms = started.elapsed().as_millis() as u64,
            "git cloned");
        let ts = repo.into_sync();
        slot.repo = Some(ts.clone());
        Ok((ts, outcome.ref_map.remote_refs))
    }
}

fn open_options() -> gix::open::Options {
    gix::open::Options::default().config_overrides(CONFIG_OVERRIDES)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The full text of a gix error: every message of its chain, joined with `: `.
fn error_text(err: &gix::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in err.iter_errors() {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    if parts.is_empty() {
        err.to_string()
    } else {
        parts.join(": ")
    }
}

fn objects_error(url: &str, err: &gix::Error) -> GitError {
    GitError::Objects {
        repo: url.to_owned(),
        message: error_text(err),
    }
}

fn clone_bare(
    url: &str,
    dir: &Path,
    overrides: Vec<String>,
    http: Http,
) -> gix::Result<(gix::Repository, gix::remote::fetch::Outcome)> {
    let mut prepare = gix::prepare_clone_bare(url, dir)?.with_in_memory_config_overrides(overrides);
    let url_owned = url.to_owned();
    prepare = prepare.configure_connection(move |connection| {
        let repo = connection.remote().repo().clone();
        http.apply(connection, &repo, &url_owned)
    });
    prepare.fetch_only(gix::progress::Discard, &AtomicBool::new(false))
}

/// How an HTTP(S) read presents itself: basic auth, and the TLS client settings that gix's
/// configuration cannot express (extra CAs, a client certificate, skipping verification, a proxy).
#[derive(Clone, Default)]
struct Http {
    basic: Option<(String, String)>,
    ca_pem: Option<String>,
    identity_pem: Option<String>,
    insecure: bool,
    proxy: Option<(String, Option<String>)>,
    /// Send basic auth with every request instead of after the server's challenge
    /// (`forceHttpBasicAuth`, for servers that answer 404 rather than 401).
    force_basic: bool,
}

impl Http {
    fn customised_client(&self) -> bool {
        self.ca_pem.is_some()
            || self.identity_pem.is_some()
            || self.insecure
            || self.proxy.is_some()
            || (self.force_basic && self.basic.is_some())
    }

    /// Configure reqwest's client with these settings (gix builds it on the first request).
    fn configure_client(
        &self,
        mut builder: reqwest::blocking::ClientBuilder,
    ) -> Result<reqwest::blocking::ClientBuilder, reqwest::Error> {
        if let Some(pem) = &self.ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem.as_bytes())? {
                builder = builder.add_root_certificate(cert);
            }
        }
        if let Some(pem) = &self.identity_pem {
            builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes())?);
        }
        if self.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        }
        if let Some((proxy, no_proxy)) = &self.proxy {
            let proxy = reqwest::Proxy::all(proxy)?
                .no_proxy(no_proxy.as_deref().and_then(reqwest::NoProxy::from_string));
            builder = builder.proxy(proxy);
        }
        Ok(builder)
    }

    /// Apply to a connection: the credentials callback and, when needed, reqwest's client
    /// configuration (on top of the repository's own HTTP options).
    fn apply<T: gix::protocol::transport::client::blocking_io::Transport>(
        &self,
        connection: &mut gix::remote::Connection<'_, '_, '_, T>,
        repo: &gix::Repository,
        url: &str,
    ) -> gix::Result<()> {
        use gix::protocol::transport::client::blocking_io::http;
        if let Some(basic) = &self.basic {
            connection.set_credentials(credentials_fn(basic.clone()));
        }
        if self.customised_client() {
            let mut options = repo
                .transport_options(url, None)?
                .and_then(|o| o.downcast::<http::Options>().ok())
                .map(|o| *o)
                .unwrap_or_default();
            let settings = self.clone();
            let backend = http::reqwest::Options {
                configure_client: Some(Box::new(move |builder| {
                    settings
                        .configure_client(builder)
                        .map_err(gix::error::Error::from_error)
                })),
                configure_request: match (&self.basic, self.force_basic) {
                    (Some((user, password)), true) => {
                        use base64::Engine as _;
                        let value = format!(
                            "Basic {}",
                            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
                        );
                        let mut header = reqwest::header::HeaderValue::from_str(&value)
                            .map_err(gix::error::Error::from_error)?;
                        header.set_sensitive(true);
                        Some(Box::new(move |request: &mut reqwest::blocking::Request| {
                            request
                                .headers_mut()
                                .insert(reqwest::header::AUTHORIZATION, header.clone());
                            Ok(())
                        }))
                    }
                    _ => None,
                },
            };
            options.backend = Some(std::sync::Arc::new(std::sync::Mutex::new(backend)));
            connection.set_transport_options(Box::new(options));
        }
        Ok(())
    }
}

/// The HTTP(S) settings of `url` under `access`. A GitHub App credential reads with the
/// installation token minted for it (by `Inputs`, through the GitHub API); without one it is an
/// error, never an anonymous read. An SSH key is not used over HTTPS, as by git.
fn http_settings(url: &str, access: &Access) -> Result<Http, GitError> {
    let http = url.starts_with("https://") || url.starts_with("http://");
    if !http {
        return Ok(Http::default());
    }
    let mut settings = Http {
        ca_pem: access.tls_ca.clone(),
        ..Http::default()
    };
    let Some(c) = &access.credential else {
        return Ok(settings);
    };
    settings.basic = match (&c.github_app, &access.app_token, &c.username, &c.password) {
        (Some(_), Some(token), _, _) => Some(("x-access-token".to_owned(), token.clone())),
        (Some(_), None, _, _) => {
            return Err(GitError::Unsupported {
                repo: credentials::redact_url(url),
                secret: c.source.clone(),
                message: "a GitHub App credential needs an installation token, and none was minted".into(),
            });
        }
        (None, _, None, None) => None,
        (None, _, user, password) => Some((
            user.clone().unwrap_or_else(|| "x-access-token".to_owned()),
            password.clone().unwrap_or_default(),
        )),
    };
    if let (Some(cert), Some(key)) = (&c.tls_client_cert, &c.tls_client_key) {
        settings.identity_pem = Some(format!("{}\n{}\n", cert.trim_end(), key.trim_end()));
    }
    settings.insecure = c.insecure;
    settings.force_basic = c.force_http_basic_auth;
    settings.proxy = c.proxy.clone().map(|p| (p, c.no_proxy.clone()));
    Ok(settings)
}

/// A gix credentials callback that answers every request with `basic`.
fn credentials_fn(
    basic: (String, String),
) -> impl FnMut(gix::credentials::helper::Action) -> gix::Result<Option<gix::credentials::protocol::Outcome>>
+ 'static {
    move |action| match action {
        gix::credentials::helper::Action::Get(ctx) => Ok(Some(gix::credentials::protocol::Outcome {
            identity: gix::sec::identity::Account {
                username: basic.0.clone(),
                password: basic.1.clone(),
                oauth_refresh_token: None,
            },
            next: ctx.into(),
        })),
        gix::credentials::helper::Action::Store(_) | gix::credentials::helper::Action::Erase(_) => Ok(None),
    }
}

/// A failed fetch, classified: an unknown host key, a refused key or password and a TLS failure
/// each say so and name the Secret that supplied the credential. The URL is shown without any
/// password it embeds.
/// Whether a message carries HTTP status 401: the number standing alone, not part of a port
/// (`127.0.0.1:40185`) or another number.
fn http_status_401(message: &str) -> bool {
    message.match_indices("401").any(|(i, _)| {
        let before = message[..i].chars().next_back();
        let after = message[i + 3..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit() || c == ':') && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

fn fetch_error(url: &str, access: &Access, e: &gix::Error, ssh_log: &str) -> GitError {
    let ssh: Vec<&str> = ssh_log
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('@') && !l.starts_with("Warning: Permanently added"))
        .collect();
    let text = match ssh.last() {
        Some(last) => format!("{}: {last}", error_text(e)),
        None => error_text(e),
    };
    let all = format!("{text}\n{ssh_log}");
    let repo = credentials::redact_url(url);
    let origin = access.origin();
    let cause = if all.contains("Host key verification failed")
        || all.contains("host key is known")
        || all.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
    {
        Some(
            "the SSH host key of the server is not known (add it to argocd-ssh-known-hosts-cm, or set insecure: \"true\" on the Secret)",
        )
    } else if all.contains("certificate")
        || all.contains("InvalidCertificate")
        || all.contains("UnknownIssuer")
    {
        // Before authentication: a TLS failure happens before any HTTP status.
        Some("the server's TLS certificate is not trusted")
    } else if all.contains("Permission denied")
        || http_status_401(&all)
        || all.contains("Authentication failed")
    {
        Some("authentication failed")
    } else {
        None
    };
    GitError::Unreachable {
        repo,
        message: match cause {
            Some(cause) => format!("{cause}{origin}: {}", redact(&text, access)),
            None => format!("{}{origin}", redact(&text, access)),
        },
    }
}

/// `text` without the credential's secrets (a defence in depth: gix does not print them).
fn redact(text: &str, access: &Access) -> String {
    let mut out = text.to_owned();
    if let Some(c) = &access.credential {
        let app_key = c.github_app.as_ref().map(|a| a.private_key.clone());
        for secret in [
            &c.password,
            &c.ssh_private_key,
            &c.tls_client_key,
            &access.app_token,
            &app_key,
        ]
        .into_iter()
        .flatten()
        {
            if secret.len() >= 4 {
                out = out.replace(secret.as_str(), "***");
            }
        }
    }
    out
}

/// Write `content` to `path` (creating its directory) readable by the owner only.
fn write_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    if std::fs::read(path).is_ok_and(|old| old == content) {
        return Ok(());
    }
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    std::io::Write::write_all(&mut file, content)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&tmp, path)
}

/// Whether git reaches `url` over SSH (`ssh://...` or scp-like `user@host:path`).
fn is_ssh_url(url: &str) -> bool {
    url.starts_with("ssh://")
        || url.starts_with("git+ssh://")
        || (!url.contains("://") && scp_like(url).is_some())
}

/// `s` as one shell word.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Fetch all branches and tags (mirrored under the same names) and the remote's `HEAD`.
fn fetch(repo: &gix::Repository, url: &str, http: &Http) -> gix::Result<(Vec<AdvertisedRef>, bool)> {
    use gix::remote::Direction;
    let remote = repo
        .remote_at(url)?
        .with_refspecs(MIRROR_REFSPECS, Direction::Fetch)?
        .with_fetch_tags(gix::remote::fetch::Tags::None);
    let head = gix::refspec::parse("HEAD".into(), gix::refspec::parse::Operation::Fetch)?.to_owned();
    let options = gix::remote::ref_map::Options {
        extra_refspecs: vec![head],
        ..Default::default()
    };
    let mut connection = remote.connect(Direction::Fetch)?;
    http.apply(&mut connection, repo, url)?;
    let prepare = connection.prepare_fetch(gix::progress::Discard, options)?;
    let advertised = prepare.ref_map().remote_refs.clone();
    // Like `git fetch --prune`: a branch deleted on the remote must not linger (and must not block a new
    // `a/b` branch where `a` used to be).
    prune_stale_refs(repo, &advertised)?;
    if prepare.ref_map().mappings.is_empty() {
        // Nothing to fetch (an empty remote); `receive` would insist that some refspec matched.
        return Ok((advertised, false));
    }
    let outcome = prepare.receive(gix::progress::Discard, &AtomicBool::new(false))?;
    let changed = matches!(outcome.status, gix::remote::fetch::Status::Change { .. });
    Ok((advertised, changed))
}

/// Delete the cache's branches and tags that the remote no longer advertises.
fn prune_stale_refs(repo: &gix::Repository, advertised: &[AdvertisedRef]) -> gix::Result<()> {
    use gix::refs::transaction::{Change, PreviousValue, RefEdit, RefLog};
    let advertised: std::collections::HashSet<&[u8]> = advertised
        .iter()
        .map(|r| match r {
            AdvertisedRef::Direct { full_ref_name, .. }
            | AdvertisedRef::Peeled { full_ref_name, .. }
            | AdvertisedRef::Symbolic { full_ref_name, .. }
            | AdvertisedRef::Unborn { full_ref_name, .. } => full_ref_name.as_bytes(),
        })
        .collect();
    let mut edits = Vec::new();
    let platform = repo.references()?;
    for prefix in ["refs/heads/", "refs/tags/"] {
        for reference in platform.prefixed(prefix)? {
            let reference = reference?;
            if !advertised.contains(reference.name().as_bstr().as_bytes()) {
                edits.push(RefEdit {
                    change: Change::Delete {
                        expected: PreviousValue::Any,
                        log: RefLog::AndReference,
                    },
                    name: reference.name().to_owned(),
                    deref: false,
                });
            }
        }
    }
    if !edits.is_empty() {
        tracing::debug!(pruned = edits.len(), "pruning refs deleted on the remote");
        repo.edit_references(edits)?;
    }
    Ok(())
}

/// Point the cache's `HEAD` at the branch the remote's `HEAD` points to (fetch refspecs cannot write `HEAD`).
fn track_remote_head(repo: &gix::Repository, advertised: &[AdvertisedRef]) -> gix::Result<()> {
    use gix::error::ResultExt;
    use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
    let target = advertised.iter().find_map(|r| match r {
        AdvertisedRef::Symbolic {
            full_ref_name,
            target,
            ..
        }
        | AdvertisedRef::Unborn {
            full_ref_name,
            target,
        } if full_ref_name == "HEAD" => Some(target),
        _ => None,
    });
    let Some(target) = target else { return Ok(()) };
    let target = gix::refs::FullName::try_from(target.as_bstr()).or_error()?;
    if repo.head_name()?.as_ref() == Some(&target) {
        return Ok(());
    }
    repo.edit_reference(RefEdit {
        change: Change::Update {
            log: LogChange {
                mode: RefLog::AndReference,
                force_create_reflog: false,
                message: "fetch".into(),
            },
            expected: PreviousValue::Any,
            new: gix::refs::Target::Symbolic(target),
        },
        name: gix::refs::FullName::try_from("HEAD").or_error()?,
        deref: false,
    })?;
    Ok(())
}

/// Name and (peeled, where the remote peeled it) object of an advertised ref; `None` for an unborn one.
fn ref_target(r: &AdvertisedRef) -> Option<(&gix::bstr::BString, ObjectId)> {
    match r {
        AdvertisedRef::Direct {
            full_ref_name,
            object,
        }
        | AdvertisedRef::Peeled {
            full_ref_name,
            object,
            ..
        }
        | AdvertisedRef::Symbolic {
            full_ref_name,
            object,
            ..
        } => Some((full_ref_name, *object)),
        AdvertisedRef::Unborn { .. } => None,
    }
}

/// The object a ref of the remote's advertisement points to (`HEAD` follows the symref), if advertised.
fn advertised_ref(advertised: &[AdvertisedRef], name: &str) -> Option<ObjectId> {
    advertised
        .iter()
        .filter_map(ref_target)
        .find_map(|(full_name, id)| (full_name == name).then_some(id))
}

/// The object a local ref points to (peeled), if it exists.
fn local_ref(repo: &gix::Repository, name: &str) -> Option<ObjectId> {
    let mut reference = repo.try_find_reference(name).ok()??;
    // `try_find_reference` also finds partial names; only take the exact one.
    if reference.name().as_bstr() != name {
        return None;
    }
    reference.peel_to_id().ok().map(|id| id.detach())
}

/// Resolve a revision like Argo CD's repo server: `""`/`HEAD` → the default branch; a full ref name; a branch;
/// a tag; a full or abbreviated commit SHA of the repository. The result is peeled to a commit.
fn resolve(
    repo: &gix::Repository,
    url: &str,
    revision: &str,
    lookup: impl Fn(&str) -> Option<ObjectId>,
) -> Result<ObjectId, GitError> {
    let not_found = || GitError::RevisionNotFound {
        repo: url.to_owned(),
        revision: revision.to_owned(),
    };
    let rev = revision.trim();
    let named = if rev.is_empty() || rev == "HEAD" {
        lookup("HEAD")
    } else if rev.starts_with("refs/") {
        lookup(rev)
    } else {
        lookup(&format!("refs/heads/{rev}")).or_else(|| lookup(&format!("refs/tags/{rev}")))
    };
    let id = match named {
        Some(id) => id,
        None if (4..=40).contains(&rev.len()) && rev.bytes().all(|b| b.is_ascii_hexdigit()) => {
            lookup_sha(repo, rev).ok_or_else(not_found)?
        }
        None => return Err(not_found()),
    };
    peel_to_commit(repo, id).ok_or_else(not_found)
}

/// The object named by a full or abbreviated (unambiguous) hex SHA, if present.
fn lookup_sha(repo: &gix::Repository, hex: &str) -> Option<ObjectId> {
    let hex = hex.to_ascii_lowercase();
    if hex.len() == 40 {
        return ObjectId::from_hex(hex.as_bytes())
            .ok()
            .filter(|id| repo.has_object(id));
    }
    let prefix = gix::hash::Prefix::from_hex(&hex).ok()?;
    match repo.objects.lookup_prefix(prefix, None) {
        Ok(Some(Ok(id))) => Some(id),
        _ => None,
    }
}

fn peel_to_commit(repo: &gix::Repository, id: ObjectId) -> Option<ObjectId> {
    Some(repo.find_object(id).ok()?.peel_to_commit().ok()?.id)
}

fn local_branches(repo: &gix::Repository) -> gix::Result<Vec<GitBranch>> {
    let mut branches = Vec::new();
    let platform = repo.references()?;
    for reference in platform.local_branches()? {
        let mut reference = reference?;
        let name = reference.name().as_bstr().to_owned();
        let Some(short) = name.strip_prefix(b"refs/heads/") else {
            continue;
        };
        let Ok(id) = reference.peel_to_id() else { continue };
        branches.push(GitBranch {
            name: short.to_str_lossy().into_owned(),
            sha: id.to_string(),
        });
    }
    Ok(branches)
}

/// The file beside a bare clone that keeps the listing of the commit last walked there: a
/// process that renders the same commit again (`appset render` in CI, a controller restarted)
/// reads it instead of inflating every tree of the commit (10,101 trees for 10,000 app
/// directories), as Argo CD's repo-server keeps its `ls-files` per commit in Redis. A commit's
/// tree never changes, so the listing is valid for as long as it names the commit.
pub const LISTING_FILE: &str = "appset-tree-listing";

/// The first line of a listing file, before the commit it lists and its counts of directories and
/// of files.
const LISTING_HEADER: &str = "appset tree listing v2";

/// Keep `tree`'s listing at `path` (replacing the one there), written aside then renamed into
/// place so that a reader never sees half of it. Directories then files, each `/`-separated
/// path ended by a NUL byte (the one byte a git path cannot hold).
fn write_listing(path: &Path, tree: &GitTree) -> std::io::Result<()> {
    let size: usize = tree
        .directories
        .iter()
        .chain(&tree.files)
        .map(|p| p.len() + 1)
        .sum();
    let mut out = Vec::with_capacity(size + 100);
    out.extend_from_slice(
        format!(
            "{LISTING_HEADER} {} {} {}\n",
            tree.sha,
            tree.directories.len(),
            tree.files.len()
        )
        .as_bytes(),
    );
    for p in tree.directories.iter().chain(&tree.files) {
        out.extend_from_slice(p.as_bytes());
        out.push(0);
    }
    // A name no other writer uses: this process's, and this write's in the process.
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(
        ".{}-{}.tmp",
        std::process::id(),
        WRITES.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&aside, &out)?;
    std::fs::rename(&aside, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&aside);
    })
}

/// The listing at `path`, if it lists commit `sha` and reads whole; anything else is `None`
/// (the trees are walked again).
fn read_listing(path: &Path, sha: &str) -> Option<GitTree> {
    let bytes = std::fs::read(path).ok()?;
    let end = bytes.iter().position(|&b| b == b'\n')?;
    let header = std::str::from_utf8(&bytes[..end]).ok()?;
    let rest = header.strip_prefix(LISTING_HEADER)?.strip_prefix(' ')?;
    let mut fields = rest.split(' ');
    let (listed, dirs, files) = (fields.next()?, fields.next()?, fields.next()?);
    if listed != sha || fields.next().is_some() {
        return None;
    }
    let dirs: usize = dirs.parse().ok()?;
    let files: usize = files.parse().ok()?;
    let body = &bytes[end + 1..];
    if body.last().is_some_and(|&b| b != 0) {
        return None;
    }
    let mut paths = Vec::new();
    if !body.is_empty() {
        for p in body[..body.len() - 1].split(|&b| b == 0) {
            paths.push(String::from_utf8(p.to_vec()).ok()?);
        }
    }
    // A listing cut short (a full disk) reads as one with fewer entries: the counts tell.
    if paths.len() != dirs + files {
        return None;
    }
    let files = paths.split_off(dirs);
    Some(GitTree {
        sha: sha.to_owned(),
        directories: paths,
        files,
    })
}

/// List the directories (walk order) and files (sorted) of `commit`'s tree.
fn walk_tree(repo: &gix::Repository, commit: ObjectId) -> gix::Result<GitTree> {
    let mut buf = Vec::new();
    let root = repo.objects.find_commit_iter(&commit, &mut buf)?.tree_id()?;

    let mut directories = Vec::new();
    let mut files = Vec::new();
    // Pending directories, the next one to visit last; `None` for a gitlink (an empty directory).
    let mut stack: Vec<(String, Option<ObjectId>)> = vec![(String::new(), Some(root))];
    let mut subdirs: Vec<(String, Option<ObjectId>)> = Vec::new();
    while let Some((path, tree)) = stack.pop() {
        let Some(tree) = tree else {
            directories.push(path);
            continue;
        };
        let iter = repo.objects.find_tree_iter(&tree, &mut buf)?;
        let mut children: Vec<(&[u8], EntryKind, ObjectId)> = Vec::new();
        for entry in iter {
            let entry = entry?;
            children.push((entry.filename.as_bytes(), entry.mode.kind(), entry.oid.to_owned()));
        }
        // Git sorts directories as if their name ended in '/'; Go's Walk sorts plain names.
        children.sort_unstable_by(|a, b| a.0.cmp(b.0));
        subdirs.clear();
        for &(name, kind, oid) in &children {
            let name = String::from_utf8_lossy(name);
            let child = if path.is_empty() {
                name.into_owned()
            } else {
                format!("{path}/{name}")
            };
            match kind {
                EntryKind::Tree => subdirs.push((child, Some(oid))),
                EntryKind::Commit => subdirs.push((child, None)),
                EntryKind::Blob | EntryKind::BlobExecutable | EntryKind::Link => files.push(child),
            }
        }
        stack.extend(subdirs.drain(..).rev());
        if !path.is_empty() {
            directories.push(path);
        }
    }
    files.sort_unstable();
    Ok(GitTree {
        sha: commit.to_string(),
        directories,
        files,
    })
}

/// Whether `revision` of the override `o` is read from its working tree: `o` is not `committed`, `repo`
/// has a working tree, and `revision` names what is checked out there (`""`, `HEAD`, or the branch `HEAD`
/// names, short or full).
fn reads_worktree(repo: &gix::Repository, o: &RepoOverride, revision: &str) -> bool {
    if o.committed || repo.workdir().is_none() {
        return false;
    }
    let rev = revision.trim();
    if rev.is_empty() || rev == "HEAD" {
        return true;
    }
    // Detached: only `HEAD` names what is checked out.
    let Ok(Some(head)) = repo.head_name() else {
        return false;
    };
    let full = head.as_bstr();
    full == rev || full.strip_prefix(b"refs/heads/") == Some(rev.as_bytes())
}

/// List a working tree as [`walk_tree`] lists a commit: tracked files present on disk (regular files and
/// symlinks; submodules as directories) and untracked files no exclude rule ignores; nested repositories
/// and `.git` are left out. Directories are those holding a listed file, in walk order.
fn walk_worktree(repo: &gix::Repository) -> Result<GitTree, String> {
    use gix::index::entry::Mode;

    let workdir = repo.workdir().ok_or("a bare repository has no working tree")?;
    let index = repo.index_or_empty().map_err(|e| error_text(&e))?;
    let mut files = BTreeSet::new();
    let mut gitlinks = BTreeSet::new();
    let mut tracked = HashSet::new();
    for entry in index.entries() {
        let rel = entry.path(&index).to_str_lossy().into_owned();
        let on_disk = std::fs::symlink_metadata(workdir.join(&rel)).ok();
        let file = [Mode::FILE, Mode::FILE_EXECUTABLE, Mode::SYMLINK].contains(&entry.mode);
        if entry.mode == Mode::COMMIT {
            if on_disk.is_some_and(|m| m.is_dir()) {
                gitlinks.insert(rel.clone());
            }
        } else if file && on_disk.is_some_and(|m| !m.is_dir()) {
            files.insert(rel.clone());
        }
        tracked.insert(rel);
    }
    let mut excludes = repo
        .excludes(
            &index,
            None,
            gix::worktree::stack::state::ignore::Source::WorktreeThenIdMappingIfNotSkipped,
        )
        .map_err(|e| error_text(&e))?;
    let mut pending = vec![String::new()];
    while let Some(dir) = pending.pop() {
        let full = workdir.join(&dir);
        let entries = std::fs::read_dir(&full).map_err(|e| format!("{}: {e}", full.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", full.display()))?;
            let name = entry.file_name();
            if name == ".git" {
                continue;
            }
            let name = name.to_string_lossy();
            let rel = if dir.is_empty() {
                name.into_owned()
            } else {
                format!("{dir}/{name}")
            };
            let is_dir = entry.file_type().map_err(|e| format!("{rel}: {e}"))?.is_dir();
            let skip = if is_dir {
                // A submodule, or a repository of its own.
                gitlinks.contains(&rel) || entry.path().join(".git").exists()
            } else {
                tracked.contains(&rel)
            };
            if skip {
                continue;
            }
            let mode = if is_dir { Mode::DIR } else { Mode::FILE };
            let ignored = excludes
                .at_path(Path::new(&rel), Some(mode))
                .map_err(|e| format!("{rel}: {}", error_text(&e)))?
                .is_excluded();
            match (ignored, is_dir) {
                (true, _) => {}
                (false, true) => pending.push(rel),
                (false, false) => {
                    files.insert(rel);
                }
            }
        }
    }
    let mut directories: BTreeSet<&str> = gitlinks.iter().map(String::as_str).collect();
    for path in files.iter().chain(&gitlinks) {
        directories.extend(path.match_indices('/').map(|(i, _)| &path[..i]));
    }
    let mut directories: Vec<String> = directories.into_iter().map(str::to_owned).collect();
    directories.sort_by(|a, b| super::walk_order(a, b));
    Ok(GitTree {
        sha: WORKING_TREE.to_owned(),
        directories,
        files: files.into_iter().collect(),
    })
}

/// Read `paths` of the working tree at `workdir`, following symbolic links that stay inside it.
fn read_worktree_files(url: &str, workdir: &Path, paths: &[String]) -> Result<Vec<Vec<u8>>, GitError> {
    let error = |path: &str, found: bool| {
        let (repo, sha, path) = (url.to_owned(), WORKING_TREE.to_owned(), path.to_owned());
        if found {
            GitError::NotAFile { repo, sha, path }
        } else {
            GitError::PathNotFound { repo, sha, path }
        }
    };
    let root = workdir.canonicalize().map_err(|_| error("", false))?;
    paths
        .iter()
        .map(|path| {
            let parts = split_path(path).ok_or_else(|| error(path, false))?;
            let real = root
                .join(parts.join("/"))
                .canonicalize()
                .ok()
                .filter(|real| real.starts_with(&root) && !real.starts_with(root.join(".git")))
                .ok_or_else(|| error(path, false))?;
            if real.is_dir() {
                return Err(error(path, true));
            }
            std::fs::read(&real).map_err(|_| error(path, false))
        })
        .collect()
}

/// Read the blob at `path` of `tree`, following symbolic links that stay inside the repository.
fn read_blob(tree: &gix::Tree<'_>, url: &str, sha: &str, path: &str) -> Result<Vec<u8>, GitError> {
    let not_found = || GitError::PathNotFound {
        repo: url.to_owned(),
        sha: sha.to_owned(),
        path: path.to_owned(),
    };
    let mut current: Vec<String> = split_path(path).ok_or_else(not_found)?;
    for _ in 0..=MAX_SYMLINK_HOPS {
        let entry = tree
            .lookup_entry(current.iter().map(String::as_str))
            .map_err(|e| objects_error(url, &e))?
            .ok_or_else(not_found)?;
        let object = entry.object().map_err(|e| objects_error(url, &e))?;
        match entry.mode().kind() {
            EntryKind::Blob | EntryKind::BlobExecutable => return Ok(object.detach().data),
            EntryKind::Link => {
                let target = object.data.to_str_lossy().into_owned();
                if target.starts_with('/') {
                    return Err(not_found());
                }
                current.pop();
                current = split_path(&format!("{}/{target}", current.join("/"))).ok_or_else(not_found)?;
            }
            EntryKind::Tree | EntryKind::Commit => {
                return Err(GitError::NotAFile {
                    repo: url.to_owned(),
                    sha: sha.to_owned(),
                    path: path.to_owned(),
                });
            }
        }
    }
    Err(not_found())
}

/// Split a repository-relative path into components, resolving `.` and `..`; `None` if it leaves the
/// repository or is empty.
fn split_path(path: &str) -> Option<Vec<String>> {
    let mut parts: Vec<String> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part.to_owned()),
        }
    }
    (!parts.is_empty()).then_some(parts)
}

/// Normalize a repository URL so trivial differences don't matter: lower-case scheme and host, no trailing
/// `/`, no `.git` suffix. Used to match overrides and to key the caches.
pub fn normalize_url(url: &str) -> String {
    let url = url.trim();
    let mut out = if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
        let authority = match authority.rsplit_once('@') {
            Some((user, host)) => format!("{user}@{}", host.to_ascii_lowercase()),
            None => authority.to_ascii_lowercase(),
        };
        format!("{}://{authority}{path}", scheme.to_ascii_lowercase())
    } else if let Some((host, path)) = scp_like(url) {
        let host = match host.rsplit_once('@') {
            Some((user, host)) => format!("{user}@{}", host.to_ascii_lowercase()),
            None => host.to_ascii_lowercase(),
        };
        format!("{host}:{path}")
    } else {
        url.to_owned()
    };
    while out.len() > 1 && out.ends_with('/') {
        out.pop();
    }
    if let Some(stripped) = out.strip_suffix(".git")
        && !stripped.is_empty()
        && !stripped.ends_with('/')
        && !stripped.ends_with(':')
    {
        out.truncate(stripped.len());
    }
    out
}

/// `[user@]host:path` (scp-like ssh syntax): a colon before any slash, and more than a drive letter before it.
fn scp_like(url: &str) -> Option<(&str, &str)> {
    let colon = url.find(':')?;
    if url[..colon].contains('/') || colon < 2 {
        return None;
    }
    Some((&url[..colon], &url[colon + 1..]))
}

/// The cache directory name for a normalized URL: readable (sanitized host/path) and collision-free (a hash
/// of the whole normalized URL).
fn cache_dir_name(key: &str) -> String {
    let without_scheme = key.split_once("://").map_or(key, |(_, rest)| rest);
    let without_user = match without_scheme.split_once('@') {
        Some((user, rest)) if !user.contains('/') => rest,
        _ => without_scheme,
    };
    let mut readable = String::with_capacity(without_user.len());
    for c in without_user.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
            c
        } else {
            '_'
        };
        if !(c == '_' && readable.ends_with('_')) {
            readable.push(c);
        }
    }
    let readable = readable.trim_matches(|c| c == '_' || c == '.');
    let readable: String = readable.chars().take(80).collect();
    format!("{readable}-{:016x}", fnv1a64(key.as_bytes()))
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_url_ignores_trivial_differences() {
        let want = "https://github.com/org/repo";
        for url in [
            "https://github.com/org/repo",
            "https://github.com/org/repo/",
            "https://github.com/org/repo.git",
            "HTTPS://GitHub.com/org/repo.git/",
            " https://github.com/org/repo ",
        ] {
            assert_eq!(normalize_url(url), want, "{url}");
        }
        assert_eq!(
            normalize_url("git@GitHub.com:org/repo.git"),
            "git@github.com:org/repo"
        );
        assert_eq!(
            normalize_url("ssh://git@Host:22/org/Repo"),
            "ssh://git@host:22/org/Repo"
        );
        assert_eq!(normalize_url("/tmp/x/"), "/tmp/x");
        assert_eq!(normalize_url("/"), "/");
    }

    #[test]
    fn cache_dir_names_are_readable_and_distinct() {
        let a = cache_dir_name(&normalize_url("https://github.com/org/repo.git"));
        assert!(a.starts_with("github.com_org_repo-"), "{a}");
        let b = cache_dir_name(&normalize_url("https://github.com/org_repo"));
        assert_ne!(a, b);
        let c = cache_dir_name(&normalize_url("git@github.com:org/repo"));
        assert!(c.starts_with("github.com_org_repo-"), "{c}");
        assert_ne!(a, c);
    }

    #[test]
    fn git_repos_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<GitRepos>();
        assert_send_sync::<GitError>();
    }

    #[test]
    fn split_path_resolves_dots_and_rejects_escapes() {
        assert_eq!(
            split_path("a/./b/../c"),
            Some(vec!["a".to_owned(), "c".to_owned()])
        );
        assert_eq!(split_path("../x"), None);
        assert_eq!(split_path(""), None);
    }

    /// A port that contains 401 is no HTTP 401 (a TLS failure on port 40185 was once reported as
    /// an authentication failure).
    #[test]
    fn only_a_standalone_401_is_an_http_401() {
        assert!(http_status_401("status code 401 Unauthorized"));
        assert!(http_status_401("HTTP 401"));
        assert!(!http_status_401("https://127.0.0.1:40185/apps: UnknownIssuer"));
        assert!(!http_status_401("took 14011 ms"));
    }
}
