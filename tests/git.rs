//! Integration tests of the git source against real repositories made with the `git` CLI in temp dirs
//! (served over `file://`, `git daemon` on 127.0.0.1, and as local overrides).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use appset::sources::git::{GitError, GitRepos};
use harness::git::{GitDaemon, git, git_with_input};

mod harness;

fn write(root: &Path, path: &str, contents: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, contents).expect("write");
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// A repository with nested, hidden, similarly named and upper-case directories, a symlink, a gitlink, an
/// annotated tag `v1` and a branch `feature` on the first commit, and a second commit on `main`.
struct Fixture {
    _tmp: tempfile::TempDir,
    repo: PathBuf,
    first: String,
    second: String,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("origin");
    std::fs::create_dir(&repo).expect("mkdir");
    git(&repo, &["init", "-q"]);
    write(&repo, "a/b/file.yaml", "name: b\n");
    write(&repo, "a/config.json", "{\"x\": 1}\n");
    write(&repo, "a-c/x.txt", "x\n");
    write(&repo, ".hidden/inner/f", "hidden\n");
    write(&repo, "Z/z.txt", "z\n");
    write(&repo, "top.txt", "one\n");
    std::os::unix::fs::symlink("a/config.json", repo.join("cfg-link")).expect("symlink");
    std::os::unix::fs::symlink("a", repo.join("dir-link")).expect("symlink");
    git(&repo, &["add", "-A"]);
    let fake = "0123456789abcdef0123456789abcdef01234567";
    git(
        &repo,
        &[
            "update-index",
            "--add",
            "--cacheinfo",
            &format!("160000,{fake},vendor/sub"),
        ],
    );
    git(&repo, &["commit", "-q", "-m", "first"]);
    let first = git(&repo, &["rev-parse", "HEAD"]);
    git(&repo, &["tag", "-a", "-m", "version 1", "v1"]);
    git(&repo, &["tag", "light", "HEAD"]);
    git(&repo, &["branch", "feature"]);
    write(&repo, "top.txt", "two\n");
    // Not `commit -a`: that would drop the gitlink, which has no checkout.
    git(&repo, &["add", "top.txt"]);
    git(&repo, &["commit", "-q", "-m", "second"]);
    let second = git(&repo, &["rev-parse", "HEAD"]);
    Fixture {
        _tmp: tmp,
        repo,
        first,
        second,
    }
}

fn expected_directories() -> Vec<&'static str> {
    vec![
        ".hidden",
        ".hidden/inner",
        "Z",
        "a",
        "a/b",
        "a-c",
        "vendor",
        "vendor/sub",
    ]
}

fn expected_files() -> Vec<&'static str> {
    vec![
        ".hidden/inner/f",
        "Z/z.txt",
        "a-c/x.txt",
        "a/b/file.yaml",
        "a/config.json",
        "cfg-link",
        "dir-link",
        "top.txt",
    ]
}

#[test]
fn file_url_lists_tree_in_walk_order_reads_blobs_and_resolves_revisions_like_argo() {
    let fx = fixture();
    let cache = tempfile::tempdir().expect("tempdir");
    let repos = GitRepos::new(cache.path().to_owned(), vec![]);
    let url = file_url(&fx.repo);

    let tree = repos.tree(&url, "HEAD").expect("tree");
    assert_eq!(tree.sha, fx.second);
    assert_eq!(tree.directories, expected_directories());
    assert_eq!(tree.files, expected_files());

    let paths = ["a/b/file.yaml", "a/config.json", "cfg-link"].map(String::from);
    let blobs = repos.read_files(&url, &tree.sha, &paths).expect("read");
    assert_eq!(
        blobs,
        vec![
            b"name: b\n".to_vec(),
            b"{\"x\": 1}\n".to_vec(),
            b"{\"x\": 1}\n".to_vec()
        ]
    );
    let first_top = repos
        .read_files(&url, &fx.first, &["top.txt".to_owned()])
        .expect("read at first");
    assert_eq!(first_top, vec![b"one\n".to_vec()]);

    let short = &fx.first[..7];
    for (revision, want) in [
        ("", &fx.second),
        ("HEAD", &fx.second),
        ("main", &fx.second),
        ("refs/heads/main", &fx.second),
        ("feature", &fx.first),
        ("refs/heads/feature", &fx.first),
        ("v1", &fx.first),
        ("refs/tags/v1", &fx.first),
        ("light", &fx.first),
        (fx.first.as_str(), &fx.first),
        (fx.first.to_uppercase().as_str(), &fx.first),
        (short, &fx.first),
    ] {
        let got = repos
            .tree(&url, revision)
            .unwrap_or_else(|e| panic!("{revision:?}: {e}"));
        assert_eq!(&got.sha, want, "revision {revision:?}");
    }

    for revision in ["nope", "refs/heads/nope", "heads/main", "0000000", "v1^{tree}"] {
        let err = repos.tree(&url, revision).expect_err(revision);
        assert!(
            matches!(err, GitError::RevisionNotFound { .. }),
            "{revision}: {err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("Unable to resolve '{revision}' to a commit SHA")
        );
    }

    let missing = repos
        .read_files(&url, &tree.sha, &["a/nope.yaml".to_owned()])
        .expect_err("missing path");
    assert!(matches!(missing, GitError::PathNotFound { .. }), "{missing:?}");
    assert!(missing.to_string().contains("a/nope.yaml"), "{missing}");
    let dir = repos
        .read_files(&url, &tree.sha, &["a/b".to_owned()])
        .expect_err("directory");
    assert!(matches!(dir, GitError::NotAFile { .. }), "{dir:?}");

    let nowhere = file_url(&fx.repo.with_file_name("does-not-exist"));
    let err = repos.tree(&nowhere, "HEAD").expect_err("missing repository");
    assert!(matches!(err, GitError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains(&nowhere), "{err}");
    assert!(
        err.to_string().len() > nowhere.len() + 30,
        "underlying error text included: {err}"
    );
}

#[test]
fn a_new_process_reads_the_listing_of_an_unchanged_commit_instead_of_walking_its_trees() {
    let fx = fixture();
    let cache = tempfile::tempdir().expect("tempdir");
    let url = file_url(&fx.repo);
    // Each `GitRepos` on the cache directory stands for one process (`appset render` in CI).
    let process = || GitRepos::new(cache.path().to_owned(), vec![]);
    let first = process();
    let walked = first.tree(&url, "main").expect("tree");
    assert_eq!(first.tree_walks(), 1);
    let listing = first.cache_path(&url).join(appset::sources::git::LISTING_FILE);
    assert!(listing.is_file(), "the listing is kept beside the bare clone");

    let second = process();
    let listed = second.tree(&url, "main").expect("tree from the listing");
    assert_eq!((second.tree_cache_misses(), second.tree_walks()), (1, 0));
    assert_eq!(
        *listed, *walked,
        "the same directories (in Go's walk order) and files"
    );
    assert!(listed.directories.iter().any(|d| d == ".hidden/inner"));

    // A damaged listing, or one of another commit, is not trusted: the trees are walked again,
    // and the listing is written anew.
    let whole = std::fs::read(&listing).expect("the listing");
    // Cut short at an entry's end: every count but the files' still holds.
    let entries = whole.iter().rposition(|&b| b == 0).expect("entries");
    let cut = whole[..entries]
        .iter()
        .rposition(|&b| b == 0)
        .expect("two entries");
    for damaged in [
        String::from_utf8(whole[..=cut].to_vec()).expect("utf-8"),
        format!("appset tree listing v2 {} 1 0\na\0b", fx.second),
        format!("appset tree listing v2 {} 99 0\na\0", fx.second),
        format!("appset tree listing v2 {} 0 0\n", fx.first),
        "something else\n".to_owned(),
    ] {
        std::fs::write(&listing, &damaged).expect("damage the listing");
        let again = process();
        assert_eq!(*again.tree(&url, "main").expect("tree"), *walked, "{damaged:?}");
        assert_eq!(again.tree_walks(), 1, "{damaged:?}");
        let after = process();
        assert_eq!(*after.tree(&url, "main").expect("tree"), *walked);
        assert_eq!(after.tree_walks(), 0, "rewritten after {damaged:?}");
    }

    // A new commit is walked, whatever the listing of the last one says.
    write(&fx.repo, "apps/new/config.json", "{}\n");
    git(&fx.repo, &["add", "apps"]);
    git(&fx.repo, &["commit", "-q", "-m", "third"]);
    let third = process();
    let newer = third.tree(&url, "main").expect("tree after a commit");
    assert_eq!(third.tree_walks(), 1);
    assert!(newer.directories.iter().any(|d| d == "apps/new"));
    assert_ne!(newer.sha, walked.sha);
}

#[test]
fn new_commit_pushed_to_origin_is_seen_on_next_call_and_tree_cache_is_reused_when_unchanged() {
    let fx = fixture();
    let cache = tempfile::tempdir().expect("tempdir");
    let repos = GitRepos::new(cache.path().to_owned(), vec![]);
    let url = file_url(&fx.repo);

    let before = repos.tree(&url, "main").expect("tree");
    assert_eq!(before.sha, fx.second);
    assert_eq!(repos.tree_cache_misses(), 1);
    let again = repos.tree(&url, "main").expect("tree again");
    let via_head = repos.tree(&format!("{url}/"), "HEAD").expect("tree via HEAD");
    assert!(Arc::ptr_eq(&before, &again) && Arc::ptr_eq(&before, &via_head));
    assert_eq!(repos.tree_cache_misses(), 1, "unchanged commit: no second walk");
    assert!(
        repos.cache_path(&url).join("HEAD").is_file(),
        "bare clone lives in the cache dir"
    );

    write(&fx.repo, "apps/new/config.json", "{}\n");
    git(&fx.repo, &["add", "apps"]);
    git(&fx.repo, &["commit", "-q", "-m", "third"]);
    let third = git(&fx.repo, &["rev-parse", "HEAD"]);
    // Replace branch `feature` by `feature/x`: the cache must prune `feature` or the fetch would conflict.
    git(&fx.repo, &["branch", "-D", "feature"]);
    git(&fx.repo, &["branch", "feature/x", &fx.first]);

    let after = repos.tree(&url, "main").expect("tree after push");
    assert_eq!(after.sha, third);
    assert!(
        after.directories.iter().any(|d| d == "apps/new"),
        "{:?}",
        after.directories
    );
    assert_eq!(repos.tree_cache_misses(), 2);
    let err = repos.tree(&url, "feature").expect_err("deleted branch");
    assert!(matches!(err, GitError::RevisionNotFound { .. }), "{err:?}");
    assert_eq!(repos.tree(&url, "feature/x").expect("new branch").sha, fx.first);
    let cached_refs = git(
        &repos.cache_path(&url),
        &["for-each-ref", "--format=%(refname)", "refs/heads"],
    );
    assert_eq!(cached_refs, "refs/heads/feature/x\nrefs/heads/main");

    // A fresh instance over the same cache directory reuses the clone and still sees the remote's state.
    let reopened = GitRepos::new(cache.path().to_owned(), vec![]);
    assert_eq!(reopened.tree(&url, "HEAD").expect("reopened").sha, third);
    assert_eq!(reopened.branches(&url).expect("branches").len(), 2);
}

#[test]
fn empty_remote_repository_has_no_revisions_on_first_and_later_calls() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    git(&empty, &["init", "-q"]);
    let repos = GitRepos::new(tmp.path().join("cache"), vec![]);
    let url = file_url(&empty);
    for _ in 0..2 {
        let err = repos.tree(&url, "HEAD").expect_err("no commits");
        assert!(matches!(err, GitError::RevisionNotFound { .. }), "{err:?}");
        assert!(repos.branches(&url).expect("branches").is_empty());
    }
}

#[test]
fn concurrent_first_use_of_one_url_is_serialized_and_all_callers_agree() {
    let fx = fixture();
    let cache = tempfile::tempdir().expect("tempdir");
    let repos = Arc::new(GitRepos::new(cache.path().to_owned(), vec![]));
    let url = file_url(&fx.repo);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let repos = Arc::clone(&repos);
            let url = url.clone();
            std::thread::spawn(move || repos.tree(&url, "main").map(|t| t.sha.clone()))
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().expect("thread").expect("tree"), fx.second);
    }
}

/// Sixteen callers at once cost a few fetches, not sixteen (those that wait share a fetch that
/// started after they asked), and a call made after a commit still sees it.
#[test]
fn callers_waiting_on_one_repository_share_a_fetch_that_started_after_they_asked() {
    let fx = fixture();
    let base = fx.repo.parent().expect("base").to_owned();
    let daemon = GitDaemon::start(&base);
    let cache = tempfile::tempdir().expect("tempdir");
    let repos = Arc::new(GitRepos::new(cache.path().to_owned(), vec![]));
    let url = format!(
        "git://127.0.0.1:{}/{}",
        daemon.port,
        fx.repo.file_name().unwrap().to_string_lossy()
    );
    repos.tree(&url, "main").expect("first clone");
    let before = repos.fetches();
    let barrier = Arc::new(std::sync::Barrier::new(16));
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let (repos, url, barrier) = (Arc::clone(&repos), url.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                repos.tree(&url, "main").map(|t| t.sha.clone())
            })
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().expect("thread").expect("tree"), fx.second);
    }
    let shared = repos.fetches() - before;
    assert!((1..=4).contains(&shared), "16 callers at once: {shared} fetches");
    // Freshness: a call after a new commit fetches it.
    harness::git::commit_dirs(&fx.repo, &["fresh"], "fresh");
    let head = harness::git::git(&fx.repo, &["rev-parse", "main"]);
    assert_eq!(repos.tree(&url, "main").expect("tree").sha, head);
}

#[test]
fn git_daemon_url_reads_the_same_listing_and_unknown_repo_is_a_clear_error() {
    let fx = fixture();
    let base = fx.repo.parent().expect("base").to_owned();
    let daemon = GitDaemon::start(&base);
    let cache = tempfile::tempdir().expect("tempdir");
    let repos = GitRepos::new(cache.path().to_owned(), vec![]);

    let url = format!("git://127.0.0.1:{}/origin", daemon.port);
    let tree = repos.tree(&url, "HEAD").expect("tree over git://");
    assert_eq!(tree.sha, fx.second);
    assert_eq!(tree.directories, expected_directories());
    assert_eq!(tree.files, expected_files());
    assert_eq!(repos.tree(&url, "v1").expect("tag over git://").sha, fx.first);
    let blobs = repos
        .read_files(&url, &tree.sha, &["a/b/file.yaml".to_owned()])
        .expect("read");
    assert_eq!(blobs, vec![b"name: b\n".to_vec()]);
    let names: Vec<_> = repos
        .branches(&url)
        .expect("branches")
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["feature", "main"]);

    let unknown = format!("git://127.0.0.1:{}/no-such-repo", daemon.port);
    let err = repos.tree(&unknown, "HEAD").expect_err("unknown repository");
    assert!(matches!(err, GitError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains(&unknown), "{err}");
}

#[test]
fn many_branches_and_directories_are_all_listed_with_correct_shas() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = tmp.path().join("big");
    std::fs::create_dir(&repo).expect("mkdir");
    git(&repo, &["init", "-q"]);
    // 30 top-level directories with 99 subdirectories each: 3,000 directories.
    for top in 0..30 {
        for sub in 0..99 {
            write(
                &repo,
                &format!("g{top:02}/s{sub:02}/config.json"),
                &format!("{{\"n\": {sub}}}\n"),
            );
        }
    }
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "big"]);
    let first = git(&repo, &["rev-parse", "HEAD"]);
    git(&repo, &["commit", "-q", "--allow-empty", "-m", "empty"]);
    let second = git(&repo, &["rev-parse", "HEAD"]);
    let mut stdin = String::new();
    for i in 0..300 {
        let sha = if i % 2 == 0 { &first } else { &second };
        writeln!(stdin, "create refs/heads/branch-{i:03} {sha}").expect("fmt");
    }
    git_with_input(&repo, &["update-ref", "--stdin"], Some(&stdin));

    let cache = tempfile::tempdir().expect("tempdir");
    let repos = GitRepos::new(cache.path().to_owned(), vec![]);
    let url = file_url(&repo);
    let branches = repos.branches(&url).expect("branches");
    assert_eq!(branches.len(), 301);
    assert!(
        branches.windows(2).all(|w| w[0].name < w[1].name),
        "sorted by name"
    );
    for (i, branch) in branches.iter().take(300).enumerate() {
        assert_eq!(branch.name, format!("branch-{i:03}"));
        assert_eq!(
            &branch.sha,
            if i % 2 == 0 { &first } else { &second },
            "{}",
            branch.name
        );
    }
    assert_eq!(branches[300].name, "main");
    assert_eq!(branches[300].sha, second);

    let tree = repos.tree(&url, "branch-007").expect("tree");
    assert_eq!(tree.sha, second);
    assert_eq!(tree.directories.len(), 3000);
    assert_eq!(tree.files.len(), 2970);
    assert_eq!(&tree.directories[..3], ["g00", "g00/s00", "g00/s01"]);
    assert_eq!(tree.directories.last().map(String::as_str), Some("g29/s98"));
}

#[test]
fn override_url_reads_the_local_repository_without_network() {
    let fx = fixture();
    let bare = fx.repo.with_file_name("bare.git");
    git(
        fx.repo.parent().expect("parent"),
        &["clone", "-q", "--bare", "origin", "bare.git"],
    );
    let cache = tempfile::tempdir().expect("tempdir");
    let repos = GitRepos::new(
        cache.path().to_owned(),
        vec![
            // The committed view: this test is about commits (see tests/cli.rs for the working tree).
            appset::sources::RepoOverride {
                url: "https://example.invalid/org/repo.git".to_owned(),
                path: fx.repo.clone(),
                committed: true,
            },
            ("ssh://git@example.invalid/org/bare".to_owned(), bare).into(),
        ],
    );

    for url in [
        "https://example.invalid/org/repo.git",
        "https://example.invalid/org/repo",
        "HTTPS://Example.Invalid/org/repo/",
    ] {
        let tree = repos.tree(url, "HEAD").unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(tree.sha, fx.second);
        assert_eq!(tree.directories, expected_directories());
    }
    assert_eq!(repos.tree_cache_misses(), 1);
    let url = "https://example.invalid/org/repo.git";
    assert_eq!(repos.tree(url, "v1").expect("tag").sha, fx.first);
    assert_eq!(repos.tree(url, &fx.first[..8]).expect("short sha").sha, fx.first);
    let blobs = repos
        .read_files(url, &fx.second, &["top.txt".to_owned()])
        .expect("read");
    assert_eq!(blobs, vec![b"two\n".to_vec()]);
    let names: Vec<_> = repos
        .branches(url)
        .expect("branches")
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["feature", "main"]);
    let err = repos.tree(url, "nope").expect_err("unknown revision");
    assert_eq!(err.to_string(), "Unable to resolve 'nope' to a commit SHA");

    let bare_tree = repos
        .tree("ssh://git@example.invalid/org/bare.git", "feature")
        .expect("bare override");
    assert_eq!(bare_tree.sha, fx.first);

    // The opened repository is cached, yet new commits are seen.
    write(&fx.repo, "later/x.txt", "x\n");
    git(&fx.repo, &["add", "later"]);
    git(&fx.repo, &["commit", "-q", "-m", "later"]);
    let later = repos.tree(url, "main").expect("tree after commit");
    assert_eq!(later.sha, git(&fx.repo, &["rev-parse", "HEAD"]));
    assert!(later.directories.iter().any(|d| d == "later"));

    assert_eq!(
        std::fs::read_dir(cache.path()).expect("cache dir").count(),
        0,
        "nothing fetched"
    );

    let broken = GitRepos::new(
        cache.path().to_owned(),
        vec![
            (
                "https://example.invalid/x".to_owned(),
                fx.repo.with_file_name("missing"),
            )
                .into(),
        ],
    );
    let err = broken
        .tree("https://example.invalid/x", "HEAD")
        .expect_err("missing override path");
    assert!(matches!(err, GitError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("https://example.invalid/x"), "{err}");
}

/// The whole engine (generators + render) over a `git daemon` on 127.0.0.1: the directories,
/// files and branches generators read the served repository through gix, and a commit pushed to
/// the server is seen by the next render (the revision is resolved on every call).
#[test]
fn the_engine_renders_git_generators_over_a_git_daemon_and_sees_new_commits() {
    use appset::{
        pipeline::{Options, generate_applications},
        sources::{Inputs, LiveConfig, Recorded},
    };
    let fx = fixture();
    let base = fx.repo.parent().expect("base").to_owned();
    let daemon = GitDaemon::start(&base);
    let url = format!("git://127.0.0.1:{}/origin", daemon.port);
    let cache = tempfile::tempdir().expect("tempdir");
    let inputs = Inputs::new(
        Recorded::default(),
        LiveConfig {
            git: true,
            git_cache_dir: cache.path().to_owned(),
            ..LiveConfig::default()
        },
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let names = |generator: &str, name: &str| -> Vec<String> {
        let text = format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: served}}\nspec:\n  \
             generators:\n  - git: {{repoURL: '{url}', {generator}}}\n  template:\n    metadata: {{name: '{name}'}}\n    \
             spec: {{project: default, destination: {{server: 'https://kubernetes.default.svc', namespace: x}}}}\n"
        );
        let set = appset::file::parse(&text).expect("parse").appset;
        let out = rt
            .block_on(generate_applications(&set, &inputs, &Options::default()))
            .expect("render");
        assert!(out.invalid.is_empty(), "{:?}", out.invalid);
        out.applications
            .iter()
            .map(|a| a["metadata"]["name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    // Hidden directories are skipped; `vendor` is excluded; walk order; `Z` normalizes to `z`.
    let dirs = "directories: [{path: '*'}, {path: vendor, exclude: true}]";
    assert_eq!(
        names(dirs, "d-{{path.basenameNormalized}}"),
        ["d-z", "d-a", "d-a-c"]
    );
    // The files generator at a tag: {"x": 1} flattens to x = "1".
    assert_eq!(
        names(
            "revision: v1, files: [{path: 'a/*.json'}]",
            "f-{{path.basename}}-{{x}}"
        ),
        ["f-a-1"]
    );
    assert_eq!(names("branches: ['*']", "b-{{branch}}-{{short_sha_7}}"), {
        let feature = git(&fx.repo, &["rev-parse", "--short=7", "feature"]);
        let main = git(&fx.repo, &["rev-parse", "--short=7", "main"]);
        [format!("b-feature-{feature}"), format!("b-main-{main}")]
    });

    write(&fx.repo, "newapp/k.yaml", "k: v\n");
    git(&fx.repo, &["add", "newapp/k.yaml"]);
    git(&fx.repo, &["commit", "-q", "-m", "new app"]);
    git(&fx.repo, &["branch", "release-9"]);
    assert_eq!(
        names(dirs, "d-{{path.basenameNormalized}}"),
        ["d-z", "d-a", "d-a-c", "d-newapp"]
    );
    assert_eq!(names("branches: ['release-*']", "{{branch}}"), ["release-9"]);
}
