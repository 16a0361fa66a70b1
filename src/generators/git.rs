//! The `git` generator: `directories`, `files`, and (appset extension) `branches`.
//!
//! Stage: generate; reads git through `Sources` (I/O there only).
//!
//! - directories: every directory of the revision's tree (hidden ones skipped with their
//!   subtrees), kept when at least one non-exclude item matches with Go's `path.Match` and no
//!   exclude item does; repository walk order.
//! - files: files selected by git pathspec globs (`*` crosses `/`), exclusions removed, sorted by
//!   path; each parsed as a YAML/JSON object (or a list of objects, one set each).
//! - branches: remote branches matching any glob and no exclude glob, sorted by name.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::{
    EMPTY_GENERATOR, GenerateContext, GenerateError, apply_values, flatten,
    glob::{branch_match, path_match, pathspec_match},
    short,
};
use crate::{
    crd::GitGenerator,
    params::{ParamMode, Params},
    text,
};

/// Default poll interval of git generators (Argo CD's 3 minutes).
pub const DEFAULT_REQUEUE_SECONDS: u64 = 180;

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
        return Err(GenerateError::invalid(path, EMPTY_GENERATOR));
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
) -> Result<std::sync::Arc<crate::sources::GitTree>, GenerateError> {
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
    for dir in tree.directories.iter().filter(|d| !is_hidden(d)) {
        let mut included = false;
        let mut excluded = false;
        for item in &items {
            if path_match(&item.path, dir).unwrap_or(false) {
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
    Ok(out)
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
    let mut fields = vec![
        ("basename", base.to_string()),
        ("basenameNormalized", text::normalize(base)),
    ];
    if let Some(f) = filename {
        fields.push(("filename", f.to_string()));
        fields.push(("filenameNormalized", text::normalize(f)));
    }
    match mode {
        ParamMode::Flat => {
            let name = if prefix.is_empty() {
                "path".to_string()
            } else {
                format!("{prefix}.path")
            };
            for (k, v) in fields {
                p.insert(format!("{name}.{k}"), Value::String(v));
            }
            for (i, seg) in dir.split('/').enumerate().filter(|(_, s)| !s.is_empty()) {
                p.insert(format!("{name}[{i}]"), Value::String(seg.to_string()));
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

async fn files(
    g: &GitGenerator,
    ctx: &GenerateContext<'_>,
    path: &str,
) -> Result<Vec<Params>, GenerateError> {
    let tree = tree(g, ctx, path).await?;
    let mut selected = BTreeSet::new();
    for item in g.files.iter().filter(|f| !f.exclude) {
        selected.extend(
            tree.files
                .iter()
                .filter(|f| pathspec_match(&item.path, f))
                .cloned(),
        );
    }
    for item in g.files.iter().filter(|f| f.exclude) {
        selected.retain(|f| !pathspec_match(&item.path, f));
    }
    let paths: Vec<String> = selected.into_iter().collect();
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
}
