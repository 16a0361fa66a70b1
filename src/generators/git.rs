//! The `git` generator: `directories`, `files`, and (appset extension) `branches`.
//!
//! Stage: generate; reads git through `Sources` (I/O there only).
//!
//! - directories: every directory of the revision's tree (hidden ones, whose name starts with
//!   `.`, skipped with their subtrees unless [`GitOptions::include_hidden_directories`]), kept
//!   when at least one non-exclude item matches with Go's `path.Match` and no exclude item does;
//!   repository walk order.
//! - files: files selected by git pathspec globs (`*` crosses `/`; Argo CD's default) or, with
//!   [`GitOptions::enable_new_git_file_globbing`], by doublestar globs (`**` for any number of
//!   directories, `*` within one), exclusions removed, sorted by path; each parsed as a YAML/JSON
//!   object (or a list of objects, one set each). Hidden files are selected like any other in
//!   both modes.
//! - branches: remote branches matching any glob and no exclude glob, sorted by name.
//!
//! appset reads the commit's tree, not a checkout, so unlike Argo CD's repo server it never sees
//! the `.git` directory itself (which a checkout's `**` glob or hidden-directory walk would list),
//! and it does not descend into symbolic links to directories.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::{
    EMPTY_GENERATOR, GenerateContext, GenerateError, apply_values, flatten,
    glob::{Doublestar, branch_match, clean_glob, path_match, pathspec_match},
    short,
};
use crate::{
    crd::GitGenerator,
    params::{ParamMode, Params},
    sources::GitTree,
    text,
};

/// Default poll interval of git generators (Argo CD's 3 minutes).
pub const DEFAULT_REQUEUE_SECONDS: u64 = 180;

/// How git generators select paths: two switches Argo CD sets for a whole installation, not per
/// ApplicationSet. The defaults are Argo CD's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GitOptions {
    /// The files generator globs with doublestar (`**` matches any number of directories; `*`,
    /// `?` and classes stay within one; `{a,b}`) relative to the repository root, instead of git
    /// pathspecs (`git ls-files -- <pattern>`, where `*` crosses `/`). A pattern that selects a
    /// directory is then an error, as Argo CD's repo server fails reading it. Argo CD's
    /// controller flag `--enable-new-git-file-globbing`.
    pub enable_new_git_file_globbing: bool,
    /// The directories generator also lists hidden directories (name starting with `.`) and
    /// their subtrees. Argo CD's repo-server flag `--include-hidden-directories`.
    pub include_hidden_directories: bool,
    /// How often a git generator without `requeueAfterSeconds` is polled (Argo CD's
    /// `ARGOCD_APPLICATIONSET_CONTROLLER_REQUEUE_AFTER`, 3 minutes).
    pub requeue_after: std::time::Duration,
}

impl Default for GitOptions {
    fn default() -> Self {
        GitOptions {
            enable_new_git_file_globbing: false,
            include_hidden_directories: false,
            requeue_after: std::time::Duration::from_secs(DEFAULT_REQUEUE_SECONDS),
        }
    }
}

/// Generate the parameter sets of a `git` generator.
pub async fn generate(
    g: &GitGenerator,
    ctx: &GenerateContext<'_>,
    path: &str,
) -> Result<Vec<Params>, GenerateError> {
    if g.repo_url.trim().is_empty() {
        return Err(GenerateError::invalid(
            &format!("{path}.repoURL"),
            "repoURL is required",
        ));
    }
    let mut params = if !g.branches.is_empty() {
        if !g.directories.is_empty() || !g.files.is_empty() {
            return Err(GenerateError::invalid(
                path,
                "`branches` cannot be combined with `directories` or `files` (use a matrix whose second \
                 child reads `revision: '{{branch}}'`)",
            ));
        }
        branches(g, ctx, path).await?
    } else if !g.directories.is_empty() {
        directories(g, ctx, path).await?
    } else if !g.files.is_empty() {
        files(g, ctx, path).await?
    } else {
        // Argo CD's words (people search for them), then what to change.
        return Err(GenerateError::invalid(
            path,
            format!(
                "{EMPTY_GENERATOR} (this git generator has no `directories`, `files` or `branches`: \
                 give one of them to say what it generates)"
            ),
        ));
    };
    apply_values(&mut params, g.values.as_ref(), ctx, path)?;
    Ok(params)
}

fn is_hidden(dir: &str) -> bool {
    dir.split('/').any(|seg| seg.starts_with('.'))
}

/// `path.Dir` of Go's `path` package (for clean relative paths).
fn go_dir(p: &str) -> &str {
    match p.rfind('/') {
        Some(i) if i > 0 => &p[..i],
        Some(_) => "/",
        None => ".",
    }
}

async fn tree(
    g: &GitGenerator,
    ctx: &GenerateContext<'_>,
    path: &str,
) -> Result<std::sync::Arc<GitTree>, GenerateError> {
    ctx.sources
        .git_tree(&g.repo_url, &g.revision, ctx.project)
        .await
        .map_err(|e| GenerateError::source(path, e))
}

async fn directories(
    g: &GitGenerator,
    ctx: &GenerateContext<'_>,
    path: &str,
) -> Result<Vec<Params>, GenerateError> {
    let tree = tree(g, ctx, path).await?;
    // A malformed pattern is skipped (Argo CD logs it); reject it instead of silently matching
    // nothing when it is the only include.
    let mut items = Vec::with_capacity(g.directories.len());
    for (i, d) in g.directories.iter().enumerate() {
        if path_match(&d.path, "").is_err() {
            return Err(GenerateError::invalid(
                &format!("{path}.directories[{i}].path"),
                format!("invalid pattern {:?}: syntax error in pattern", d.path),
            ));
        }
        items.push(d);
    }
    let mut out = Vec::new();
    let mut matched = vec![false; items.len()];
    let hidden_too = ctx.git.include_hidden_directories;
    for dir in tree.directories.iter().filter(|d| hidden_too || !is_hidden(d)) {
        let mut included = false;
        let mut excluded = false;
        for (i, item) in items.iter().enumerate() {
            if path_match(&item.path, dir).unwrap_or(false) {
                matched[i] = true;
                if item.exclude {
                    excluded = true;
                } else {
                    included = true;
                }
            }
        }
        if included && !excluded {
            out.push(directory_params(dir, &g.path_param_prefix, ctx.mode()));
        }
    }
    for (i, item) in items.iter().enumerate() {
        if !item.exclude && !matched[i] {
            ctx.warnings.push(
                &format!("{path}.directories[{i}].path"),
                no_match("directory", &item.path, g, &tree),
            );
        }
    }
    Ok(out)
}

/// The warning for a `directories` or `files` pattern that selects nothing at the revision read.
fn no_match(what: &str, pattern: &str, g: &GitGenerator, tree: &GitTree) -> String {
    let revision = match g.revision.trim() {
        "" => "HEAD",
        r => r,
    };
    format!(
        "pattern {pattern:?} matches no {what} of {} at revision {revision:?} (commit {}): it \
         generates nothing",
        g.repo_url,
        short(&tree.sha, 8)
    )
}

/// Parameters of one directory.
pub fn directory_params(dir: &str, prefix: &str, mode: ParamMode) -> Params {
    let mut p = Params::new();
    insert_path_params(&mut p, dir, None, prefix, mode);
    p
}

/// Add the path parameters of `dir` (and of `filename`, for the files generator) to `p`, under
/// `pathParamPrefix`, in the mode's shape: flat `path`, `path.basename`, `path[0]`, ...; nested
/// `path: {path, basename, segments, ...}`. They replace parameters of the same name.
fn insert_path_params(p: &mut Params, dir: &str, filename: Option<&str>, prefix: &str, mode: ParamMode) {
    let base = text::go_base(dir);
    let mut fields = [
        Some(("basename", base.to_string())),
        Some(("basenameNormalized", text::normalize(base))),
        None,
        None,
    ];
    if let Some(f) = filename {
        fields[2] = Some(("filename", f.to_string()));
        fields[3] = Some(("filenameNormalized", text::normalize(f)));
    }
    let fields = fields.into_iter().flatten();
    match mode {
        ParamMode::Flat => {
            // Keys are built by hand: this runs once per directory, 10 000 times for a large
            // repository, and `format!` was a measurable share of it.
            let name = if prefix.is_empty() {
                "path".to_string()
            } else {
                [prefix, ".path"].concat()
            };
            for (k, v) in fields {
                p.insert([name.as_str(), ".", k].concat(), Value::String(v));
            }
            for (i, seg) in dir.split('/').enumerate().filter(|(_, s)| !s.is_empty()) {
                let mut key = String::with_capacity(name.len() + 4);
                key.push_str(&name);
                key.push('[');
                push_decimal(&mut key, i);
                key.push(']');
                p.insert(key, Value::String(seg.to_string()));
            }
            p.insert(name, Value::String(dir.to_string()));
        }
        ParamMode::Nested => {
            let mut m: Map<String, Value> = fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), Value::String(v)))
                .collect();
            m.insert("path".into(), Value::String(dir.to_string()));
            m.insert(
                "segments".into(),
                Value::Array(dir.split('/').map(|s| Value::String(s.into())).collect()),
            );
            if prefix.is_empty() {
                p.insert("path".into(), Value::Object(m));
            } else {
                let mut outer = Map::new();
                outer.insert("path".into(), Value::Object(m));
                p.insert(prefix.to_string(), Value::Object(outer));
            }
        }
    }
}

/// Append `n` in decimal to `s`.
fn push_decimal(s: &mut String, n: usize) {
    if n >= 10 {
        push_decimal(s, n / 10);
    }
    s.push(char::from(b'0' + (n % 10) as u8));
}

async fn files(
    g: &GitGenerator,
    ctx: &GenerateContext<'_>,
    path: &str,
) -> Result<Vec<Params>, GenerateError> {
    let tree = tree(g, ctx, path).await?;
    let mut selected = BTreeSet::new();
    for (i, item) in g.files.iter().enumerate().filter(|(_, f)| !f.exclude) {
        let field = format!("{path}.files[{i}].path");
        let these = select_files(&tree, &item.path, ctx.git, &field)?;
        if these.is_empty() {
            ctx.warnings.push(&field, no_match("file", &item.path, g, &tree));
        }
        selected.extend(these);
    }
    for (i, item) in g.files.iter().enumerate().filter(|(_, f)| f.exclude) {
        for f in select_files(&tree, &item.path, ctx.git, &format!("{path}.files[{i}].path"))? {
            selected.remove(f);
        }
    }
    let paths: Vec<String> = selected.into_iter().cloned().collect();
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let contents = ctx
        .sources
        .git_read(&g.repo_url, &tree.sha, paths.clone(), ctx.project)
        .await
        .map_err(|e| GenerateError::source(path, e))?;
    let mut out = Vec::new();
    for (file, content) in paths.iter().zip(contents) {
        let objects = parse_file(&content).map_err(|e| {
            GenerateError::invalid(
                path,
                format!(
                    "unable to process file '{file}' from repository '{}': unable to parse file: {e}",
                    g.repo_url
                ),
            )
        })?;
        for obj in objects {
            out.push(file_params(file, obj, &g.path_param_prefix, ctx.mode()));
        }
    }
    Ok(out)
}

/// The files of `tree` that one `files[].path` pattern selects, in the globbing mode of `opts`
/// (`field` names the pattern in errors).
fn select_files<'t>(
    tree: &'t GitTree,
    pattern: &str,
    opts: GitOptions,
    field: &str,
) -> Result<Vec<&'t String>, GenerateError> {
    if !opts.enable_new_git_file_globbing {
        return Ok(tree.files.iter().filter(|f| pathspec_match(pattern, f)).collect());
    }
    let Some(cleaned) = clean_glob(pattern) else {
        // Outside the repository: Argo CD drops every path found there.
        return Ok(Vec::new());
    };
    let glob = Doublestar::new(&cleaned)
        .map_err(|e| GenerateError::invalid(field, format!("invalid pattern {pattern:?}: {e}")))?;
    let matches = |p: &str| {
        glob.is_match(p)
            .map_err(|e| GenerateError::invalid(field, format!("pattern {pattern:?}: {e}")))
    };
    let root = glob.selects_root().then_some(".");
    for dir in root
        .into_iter()
        .chain(tree.directories.iter().map(String::as_str))
    {
        if dir == "." || matches(dir)? {
            return Err(GenerateError::invalid(
                field,
                format!(
                    "pattern {pattern:?} selects the directory {dir:?}: with new git file globbing \
                     (doublestar) a pattern selects directories too, and Argo CD fails reading one; \
                     select files only (e.g. `**/config.json`, `apps/*/*.yaml`)"
                ),
            ));
        }
    }
    let mut out = Vec::new();
    for f in &tree.files {
        if matches(f)? {
            out.push(f);
        }
    }
    Ok(out)
}

/// A file is one object (empty file: `{}`) or a list of objects.
fn parse_file(content: &[u8]) -> Result<Vec<Map<String, Value>>, String> {
    let text = String::from_utf8_lossy(content);
    if text.trim().is_empty() {
        return Ok(vec![Map::new()]);
    }
    match serde_saphyr::from_str::<Map<String, Value>>(&text) {
        Ok(m) => Ok(vec![m]),
        Err(e1) => match serde_saphyr::from_str::<Vec<Map<String, Value>>>(&text) {
            Ok(list) => Ok(list),
            Err(_) => Err(e1.to_string().lines().next().unwrap_or_default().to_string()),
        },
    }
}

/// Parameters of one object read from `file`: the object's (flattened to dot keys in flat mode)
/// and the file's path parameters, which win.
pub fn file_params(file: &str, obj: Map<String, Value>, prefix: &str, mode: ParamMode) -> Params {
    let mut p: Params = match mode {
        ParamMode::Flat => flatten(&obj.into_iter().collect())
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
        ParamMode::Nested => obj.into_iter().collect(),
    };
    insert_path_params(&mut p, go_dir(file), Some(text::go_base(file)), prefix, mode);
    p
}

async fn branches(
    g: &GitGenerator,
    ctx: &GenerateContext<'_>,
    path: &str,
) -> Result<Vec<Params>, GenerateError> {
    let mut patterns = Vec::with_capacity(g.branches.len());
    for (i, b) in g.branches.iter().enumerate() {
        let (pattern, exclude) = b.parts();
        if branch_match(pattern, "").is_err() {
            return Err(GenerateError::invalid(
                &format!("{path}.branches[{i}]"),
                format!("invalid branch pattern {pattern:?}: syntax error in pattern"),
            ));
        }
        patterns.push((pattern, exclude));
    }
    let mut list = ctx
        .sources
        .git_branches(&g.repo_url, ctx.project)
        .await
        .map_err(|e| GenerateError::source(path, e))?;
    list.sort_by(|a, b| a.name.cmp(&b.name));
    for (i, (pattern, _)) in patterns.iter().enumerate().filter(|(_, (_, exclude))| !exclude) {
        if !list
            .iter()
            .any(|b| branch_match(pattern, &b.name).unwrap_or(false))
        {
            ctx.warnings.push(
                &format!("{path}.branches[{i}]"),
                format!(
                    "branch pattern {pattern:?} matches no branch of {} ({} branches): it generates nothing",
                    g.repo_url,
                    list.len()
                ),
            );
        }
    }
    let mut out = Vec::new();
    for b in list {
        let matches = |want_exclude: bool| {
            patterns
                .iter()
                .any(|(p, ex)| *ex == want_exclude && branch_match(p, &b.name).unwrap_or(false))
        };
        if matches(false) && !matches(true) {
            out.push(Params::from([
                ("branch".to_string(), Value::String(b.name.clone())),
                (
                    "branch_slug".to_string(),
                    Value::String(text::slug(&b.name, 50, true)),
                ),
                ("sha".to_string(), Value::String(b.sha.clone())),
                ("short_sha".to_string(), Value::String(short(&b.sha, 8))),
                ("short_sha_7".to_string(), Value::String(short(&b.sha, 7))),
            ]));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generators::testing::generate_first;
    use serde_json::json;

    const REPO: &str = "https://example.com/repo.git";

    /// Argo CD's `--enable-new-git-file-globbing`.
    const NEW_GLOBBING: GitOptions = GitOptions {
        enable_new_git_file_globbing: true,
        include_hidden_directories: false,
        requeue_after: std::time::Duration::from_secs(DEFAULT_REQUEUE_SECONDS),
    };

    /// A recorded repository holding `files` (each an empty JSON object).
    fn repo(files: &[&str]) -> Value {
        let files: Map<String, Value> = files.iter().map(|f| (f.to_string(), json!("{}"))).collect();
        json!({"git": {REPO: {"files": files}}})
    }

    fn spec(git: Value) -> Value {
        json!({
            "generators": [{"git": git}],
            "template": {"metadata": {"name": "x"}, "spec": {"project": "default", "destination": {}}},
        })
    }

    /// The files a git files generator with `patterns` (pattern, exclude) selects, in order.
    async fn files_selected(
        patterns: &[(&str, bool)],
        files: &[&str],
        opts: GitOptions,
    ) -> Result<Vec<String>, String> {
        let items: Vec<Value> = patterns
            .iter()
            .map(|(p, ex)| json!({"path": p, "exclude": ex}))
            .collect();
        let params = generate_first(
            spec(json!({"repoURL": REPO, "revision": "HEAD", "files": items})),
            repo(files),
            opts,
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok(params
            .iter()
            .map(|p| match (p["path"].as_str(), p["path.filename"].as_str()) {
                (Some("."), Some(f)) => f.to_string(),
                (Some(dir), Some(f)) => format!("{dir}/{f}"),
                _ => panic!("no path parameters in {p:?}"),
            })
            .collect())
    }

    /// The directories a git directories generator with `patterns` lists, in order.
    async fn directories_listed(patterns: &[&str], files: &[&str], opts: GitOptions) -> Vec<String> {
        let items: Vec<Value> = patterns.iter().map(|p| json!({"path": p})).collect();
        let params = generate_first(
            spec(json!({"repoURL": REPO, "revision": "HEAD", "directories": items})),
            repo(files),
            opts,
        )
        .await
        .expect("directories");
        params
            .iter()
            .map(|p| p["path"].as_str().unwrap().to_string())
            .collect()
    }

    /// Argo CD's `TestLsFilesForGitFileGeneratorGlobbingPatterns` (util/git/git_test.go): the
    /// same tree and patterns, in both globbing modes.
    #[tokio::test]
    async fn files_are_selected_as_argo_cds_ls_files_test_expects_in_both_modes() {
        let tree = [
            "cluster-charts/cluster1/mychart/charts/mysubchart/values.yaml",
            "cluster-charts/cluster1/mychart/values.yaml",
            "cluster-charts/cluster1/myotherchart/values.yaml",
            "cluster-charts/cluster2/values.yaml",
            "some-path/values.yaml",
            "some-path/staging/values.yaml",
            "cluster-config/engineering/production/config.json",
            "cluster-config/engineering/dev/config.json",
            "p1/p2/config.json",
            "p1/app2/config.json",
            "p1/app3/config.json",
            "p1/config.json",
        ];
        let all_config = vec![
            "cluster-config/engineering/dev/config.json",
            "cluster-config/engineering/production/config.json",
            "p1/app2/config.json",
            "p1/app3/config.json",
            "p1/config.json",
            "p1/p2/config.json",
        ];
        let cases: &[(&str, bool, Vec<&str>)] = &[
            ("**/config.json", true, all_config.clone()),
            ("**/config.json", false, all_config),
            ("some-path/*.yaml", true, vec!["some-path/values.yaml"]),
            (
                "some-path/*.yaml",
                false,
                vec!["some-path/staging/values.yaml", "some-path/values.yaml"],
            ),
            (
                "p1/**/config.json",
                true,
                vec![
                    "p1/app2/config.json",
                    "p1/app3/config.json",
                    "p1/config.json",
                    "p1/p2/config.json",
                ],
            ),
            (
                "p1/**/config.json",
                false,
                vec!["p1/app2/config.json", "p1/app3/config.json", "p1/p2/config.json"],
            ),
            (
                "cluster-config/**/config.json",
                true,
                vec![
                    "cluster-config/engineering/dev/config.json",
                    "cluster-config/engineering/production/config.json",
                ],
            ),
            (
                "cluster-config/**/config.json",
                false,
                vec![
                    "cluster-config/engineering/dev/config.json",
                    "cluster-config/engineering/production/config.json",
                ],
            ),
            (
                "cluster-config/*/dev/config.json",
                true,
                vec!["cluster-config/engineering/dev/config.json"],
            ),
            (
                "cluster-config/*/dev/config.json",
                false,
                vec!["cluster-config/engineering/dev/config.json"],
            ),
            (
                "cluster-charts/*/*/values.yaml",
                true,
                vec![
                    "cluster-charts/cluster1/mychart/values.yaml",
                    "cluster-charts/cluster1/myotherchart/values.yaml",
                ],
            ),
            (
                "cluster-charts/*/*/values.yaml",
                false,
                vec![
                    "cluster-charts/cluster1/mychart/charts/mysubchart/values.yaml",
                    "cluster-charts/cluster1/mychart/values.yaml",
                    "cluster-charts/cluster1/myotherchart/values.yaml",
                ],
            ),
            (
                "cluster-charts/*/values.yaml",
                true,
                vec!["cluster-charts/cluster2/values.yaml"],
            ),
            (
                "cluster-charts/*/values.yaml",
                false,
                vec![
                    "cluster-charts/cluster1/mychart/charts/mysubchart/values.yaml",
                    "cluster-charts/cluster1/mychart/values.yaml",
                    "cluster-charts/cluster1/myotherchart/values.yaml",
                    "cluster-charts/cluster2/values.yaml",
                ],
            ),
        ];
        for (pattern, new, want) in cases {
            let opts = GitOptions {
                enable_new_git_file_globbing: *new,
                ..GitOptions::default()
            };
            let got = files_selected(&[(pattern, false)], &tree, opts).await;
            let got = got.unwrap_or_else(|e| panic!("{pattern:?}: {e}"));
            assert_eq!(got, *want, "{pattern:?}, new globbing {new}");
        }
    }

    #[tokio::test]
    async fn new_globbing_double_star_matches_the_root_and_any_depth_and_star_stays_in_one_directory() {
        let tree = [
            "config.json",
            "a/config.json",
            "a/b/c/config.json",
            "a/config.json.bak",
            "x.json",
        ];
        let got = files_selected(&[("**/config.json", false)], &tree, NEW_GLOBBING).await;
        assert_eq!(
            got.unwrap(),
            ["a/b/c/config.json", "a/config.json", "config.json"]
        );
        // git pathspec: `**/` needs a directory, and `*` crosses `/`.
        let got = files_selected(&[("**/config.json", false)], &tree, GitOptions::default()).await;
        assert_eq!(got.unwrap(), ["a/b/c/config.json", "a/config.json"]);
        let got = files_selected(&[("*.json", false)], &tree, NEW_GLOBBING).await;
        assert_eq!(got.unwrap(), ["config.json", "x.json"]);
        let got = files_selected(&[("*.json", false)], &tree, GitOptions::default()).await;
        assert_eq!(
            got.unwrap(),
            ["a/b/c/config.json", "a/config.json", "config.json", "x.json"]
        );
        let got = files_selected(&[("a/**/*.json", false)], &tree, NEW_GLOBBING).await;
        assert_eq!(got.unwrap(), ["a/b/c/config.json", "a/config.json"]);
    }

    #[tokio::test]
    async fn new_globbing_supports_alternatives_classes_and_exclusions() {
        let tree = [
            "envs/dev/config.json",
            "envs/prod/config.json",
            "envs/qa/config.json",
            "apps/a/v1.json",
            "apps/b/v2.json",
            "apps/c/vx.json",
            "other/z.json",
        ];
        let got = files_selected(&[("envs/{dev,prod}/config.json", false)], &tree, NEW_GLOBBING).await;
        assert_eq!(got.unwrap(), ["envs/dev/config.json", "envs/prod/config.json"]);
        let got = files_selected(&[("{apps/{a,b},other}/*.json", false)], &tree, NEW_GLOBBING).await;
        assert_eq!(got.unwrap(), ["apps/a/v1.json", "apps/b/v2.json", "other/z.json"]);
        let got = files_selected(&[("apps/*/v[0-9].json", false)], &tree, NEW_GLOBBING).await;
        assert_eq!(got.unwrap(), ["apps/a/v1.json", "apps/b/v2.json"]);
        let got = files_selected(&[("apps/*/v[!0-9].json", false)], &tree, NEW_GLOBBING).await;
        assert_eq!(got.unwrap(), ["apps/c/vx.json"]);
        let got = files_selected(
            &[("**/*.json", false), ("envs/{qa,prod}/*", true)],
            &tree,
            NEW_GLOBBING,
        )
        .await;
        assert_eq!(
            got.unwrap(),
            [
                "apps/a/v1.json",
                "apps/b/v2.json",
                "apps/c/vx.json",
                "envs/dev/config.json",
                "other/z.json"
            ]
        );
    }

    #[tokio::test]
    async fn hidden_files_and_directories_are_selected_in_both_globbing_modes() {
        let tree = [
            ".hidden.json",
            ".github/config.json",
            "apps/.x/config.json",
            "apps/config.json",
        ];
        for opts in [GitOptions::default(), NEW_GLOBBING] {
            let got = files_selected(&[("**/config.json", false)], &tree, opts).await;
            assert_eq!(
                got.unwrap(),
                [".github/config.json", "apps/.x/config.json", "apps/config.json"],
                "{opts:?}"
            );
            let got = files_selected(&[("*.json", false)], &tree, opts).await.unwrap();
            assert!(got.contains(&".hidden.json".to_string()), "{opts:?}: {got:?}");
        }
    }

    #[tokio::test]
    async fn new_globbing_patterns_are_cleaned_like_go_path_join_under_the_root() {
        let tree = ["a/b.json", "c.json"];
        for pattern in ["/a/*.json", "./a//*.json", "x/../a/*.json", "a/*/../*.json"] {
            let got = files_selected(&[(pattern, false)], &tree, NEW_GLOBBING).await;
            assert_eq!(got.unwrap(), ["a/b.json"], "{pattern:?}");
        }
        let got = files_selected(&[("../*.json", false)], &tree, NEW_GLOBBING).await;
        assert_eq!(got.unwrap(), Vec::<String>::new());
    }

    #[tokio::test]
    async fn new_globbing_fails_on_a_pattern_that_selects_a_directory_as_argo_cd_does() {
        let tree = ["a/x.json", "a/b/y.json"];
        for (pattern, dir) in [("a/**", "a"), ("a/*", "a/b"), ("", "."), ("**", "."), ("*", "a")] {
            let err = files_selected(&[(pattern, false)], &tree, NEW_GLOBBING)
                .await
                .unwrap_err();
            assert!(
                err.starts_with("spec.generators[0].git.files[0].path: ")
                    && err.contains(&format!("selects the directory {dir:?}")),
                "{pattern:?}: {err}"
            );
        }
        // An exclude pattern is resolved the same way.
        let err = files_selected(&[("**/*.json", false), ("a/*", true)], &tree, NEW_GLOBBING)
            .await
            .unwrap_err();
        assert!(err.starts_with("spec.generators[0].git.files[1].path: "), "{err}");
        // git pathspecs select the files below a directory instead.
        let got = files_selected(&[("a", false)], &tree, GitOptions::default()).await;
        assert_eq!(got.unwrap(), ["a/b/y.json", "a/x.json"]);
    }

    #[tokio::test]
    async fn new_globbing_reports_a_malformed_pattern_naming_the_field() {
        let err = files_selected(&[("x.json", false), ("apps/[", false)], &["x.json"], NEW_GLOBBING)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            r#"spec.generators[0].git.files[1].path: invalid pattern "apps/[": syntax error in pattern"#
        );
        // A pathspec that does not parse selects nothing, as `git ls-files` does.
        let got = files_selected(
            &[("x.json", false), ("apps/[", false)],
            &["x.json"],
            GitOptions::default(),
        )
        .await;
        assert_eq!(got.unwrap(), ["x.json"]);
    }

    #[tokio::test]
    async fn hidden_directories_are_listed_only_with_include_hidden_directories() {
        let tree = [
            ".github/workflows/ci.yaml",
            "apps/a/x.yaml",
            "apps/.hidden/y.yaml",
            "apps/.hidden/deep/z.yaml",
        ];
        let patterns = ["*", "*/*", "apps/.hidden/*"];
        let got = directories_listed(&patterns, &tree, GitOptions::default()).await;
        assert_eq!(got, ["apps", "apps/a"]);
        let include = GitOptions {
            include_hidden_directories: true,
            ..GitOptions::default()
        };
        let got = directories_listed(&patterns, &tree, include).await;
        assert_eq!(
            got,
            [
                ".github",
                ".github/workflows",
                "apps",
                "apps/.hidden",
                "apps/.hidden/deep",
                "apps/a"
            ]
        );
    }

    #[test]
    fn go_path_helpers_match_go_for_root_and_nested_files() {
        assert_eq!(go_dir("config.json"), ".");
        assert_eq!(text::go_base("."), ".");
        assert_eq!(go_dir("a/b/c.json"), "a/b");
        assert_eq!(text::go_base("a/b"), "b");
    }

    #[test]
    fn a_file_in_the_repository_root_has_dot_path_params() {
        let p = file_params("config.json", Map::new(), "", ParamMode::Flat);
        assert_eq!(p["path"], ".");
        assert_eq!(p["path.basename"], ".");
        assert_eq!(p["path.basenameNormalized"], "");
        assert_eq!(p["path[0]"], ".");
        assert_eq!(p["path.filenameNormalized"], "config.json");
    }

    #[test]
    fn file_keys_are_overwritten_by_path_params() {
        let obj: Map<String, Value> = serde_json::from_str(r#"{"path": "mine", "a": {"b": 1}}"#).unwrap();
        let p = file_params("x/y.json", obj, "", ParamMode::Flat);
        assert_eq!(p["path"], "x");
        assert_eq!(p["a.b"], "1");
    }

    /// A pattern that selects nothing generates nothing, and says so: the pattern, the repository
    /// and the revision (a pattern that selects something, or an exclude, says nothing).
    #[tokio::test]
    async fn a_pattern_that_matches_nothing_is_a_warning_naming_it_and_the_revision() {
        use crate::generators::testing::generate_first_warned;
        let recorded = repo(&["apps/web/config.json", "apps/api/config.json"]);
        let (params, warnings) = generate_first_warned(
            spec(json!({"repoURL": REPO, "revision": "main",
                        "directories": [{"path": "apps/*"}, {"path": "aps/*"}, {"path": "nope", "exclude": true}]})),
            recorded.clone(),
            GitOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(params.len(), 2);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].field, "spec.generators[0].git.directories[1].path");
        assert!(
            warnings[0].message.starts_with(&format!(
                "pattern \"aps/*\" matches no directory of {REPO} at revision \"main\" (commit "
            )),
            "{warnings:?}"
        );

        let (params, warnings) = generate_first_warned(
            spec(json!({"repoURL": REPO, "revision": "", "files": [{"path": "apps/*/config.yaml"}]})),
            recorded.clone(),
            GitOptions::default(),
        )
        .await
        .unwrap();
        assert!(params.is_empty());
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].field, "spec.generators[0].git.files[0].path");
        assert!(
            warnings[0].message.starts_with(&format!(
                "pattern \"apps/*/config.yaml\" matches no file of {REPO} at revision \"HEAD\""
            )),
            "{warnings:?}"
        );

        let branches = json!({"git": {REPO: {"branches": {"main": {"files": {"a": ""}}, "release-1": {"files": {"a": ""}}}}}});
        let (params, warnings) = generate_first_warned(
            spec(json!({"repoURL": REPO, "branches": ["release-*", "relase-*"]})),
            branches,
            GitOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(params.len(), 1);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].field, "spec.generators[0].git.branches[1]");
        assert!(
            warnings[0].message.starts_with(&format!(
                "branch pattern \"relase-*\" matches no branch of {REPO}"
            )),
            "{warnings:?}"
        );
    }
}
