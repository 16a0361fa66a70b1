//! Recorded inputs: the git trees, cluster Secrets, Secrets, pull requests, plugin answers,
//! ConfigMaps and duck-typed resources that an ApplicationSet file's recorded-inputs document (see [`crate::file`]; or
//! `--clusters`, `--pull-requests`, a request to `appset serve`) holds, so the engine runs with
//! no network.
//!
//! Stage: sources (pure: recorded repositories are materialised in memory into the same
//! [`GitTree`] shape that live git reads produce).

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::DynamicObject;
use serde::Deserialize;
use serde_json::Value;

use super::{GitError, GitTree, PullRequest, walk_order};

/// One cluster Secret, for messages about a `--clusters` file of the wrong shape.
const CLUSTER_SECRET_EXAMPLE: &str = "  apiVersion: v1
  kind: Secret
  metadata: {name: prod, namespace: argocd, labels: {argocd.argoproj.io/secret-type: cluster}}
  stringData: {name: prod, server: https://prod.example.com}";

/// A pull-requests map, for messages about a `--pull-requests` file of the wrong shape.
const PULL_REQUESTS_EXAMPLE: &str = "  example/apps:
  - {number: 7, branch: feature-x, targetBranch: main, headSha: 0123abcd}";

/// What a JSON value is, in words (`a map`, `a list`, ...).
fn shape(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// The cluster Secrets of a `--clusters` file, given its YAML documents: each document one
/// Secret, or a list of them under `items` (`kind: List`, `kubectl get -o yaml`). A document of
/// another shape (a ConfigMap, a bare map) is an error saying what was expected, with an example.
pub fn parse_cluster_secrets(documents: Vec<Value>) -> Result<Vec<Secret>, String> {
    let expected = || {
        format!(
            "--clusters takes Argo CD cluster Secrets, one per YAML document (or a `kind: List` \
             with `items:`), e.g.:\n{CLUSTER_SECRET_EXAMPLE}"
        )
    };
    let mut out = Vec::new();
    for (i, doc) in documents.into_iter().enumerate() {
        let n = i + 1;
        let items = match doc {
            Value::Null => continue,
            Value::Object(mut m) => match m.remove("items") {
                Some(Value::Array(items)) => items,
                _ => vec![Value::Object(m)],
            },
            other => return Err(format!("document {n} is {}; {}", shape(&other), expected())),
        };
        for item in items {
            let kind = item.get("kind").and_then(Value::as_str).unwrap_or_default();
            // A Secret written without `kind` is still recognised by its fields.
            let secret_like = item.get("metadata").is_some()
                && (item.get("data").is_some() || item.get("stringData").is_some());
            if kind != "Secret" && !(kind.is_empty() && secret_like) {
                let name = item.pointer("/metadata/name").and_then(Value::as_str);
                let what = match (kind, name) {
                    ("", _) => format!("{} without `kind: Secret`", shape(&item)),
                    (k, Some(name)) => format!("a {k} ({name})"),
                    (k, None) => format!("a {k}"),
                };
                return Err(format!("document {n} is {what}; {}", expected()));
            }
            let secret: Secret = serde_path_to_error::deserialize(item)
                .map_err(|e| format!("document {n}: {}: {}", e.path(), e.inner()))?;
            out.push(secret);
        }
    }
    Ok(out)
}

/// The pull requests of a `--pull-requests` file: a map of `owner/repo` to a list of pull
/// requests. Another shape (a list, the map wrapped in a top-level key such as a recorded-inputs
/// document's `pullRequests:`) is an error saying what was expected, with an example.
pub fn parse_pull_requests(doc: Value) -> Result<BTreeMap<String, Vec<PullRequest>>, String> {
    let expected = format!(
        "--pull-requests takes a map of `owner/repo` to a list of pull requests, e.g.:\n{PULL_REQUESTS_EXAMPLE}"
    );
    let Value::Object(repos) = &doc else {
        return Err(format!("the file holds {}; {expected}", shape(&doc)));
    };
    for (key, value) in repos {
        if value.is_array() {
            continue;
        }
        let wrapped = if key == "pullRequests" {
            " (the key of a recorded-inputs document: this file holds what goes under it)"
        } else {
            ""
        };
        return Err(format!(
            "`{key}` holds {}, not a list of pull requests{wrapped}; {expected}",
            shape(value)
        ));
    }
    serde_path_to_error::deserialize(doc).map_err(|e| format!("{}: {}", e.path(), e.inner()))
}

/// Recorded inputs: what an ApplicationSet file's recorded-inputs document holds (`kind:
/// RecordedInputs`, or a document without a kind such as a second one after the set).
///
/// ```yaml
/// git:
///   https://github.com/example/apps.git:
///     files:                       # shorthand for `branches: {main: {files: ...}}`
///       apps/guestbook/config.json: '{"env": "dev"}'
///     branches:
///       release-1.0: {sha: 0123abcd..., files: {README.md: ""}}
///     tags: {}
///     defaultBranch: main
/// clusters:                        # Argo CD cluster Secrets
/// - apiVersion: v1
///   kind: Secret
///   ...
/// pullRequests:                    # GitHub, Gitea, Bitbucket Cloud: by owner/repo; GitLab: by the
///                                  # project; Bitbucket Server: by project key/repo slug;
///                                  # Azure DevOps: organization/project/repo
///   owner/repo: [{number: 1, branch: feat, ...}]
///   group/subgroup/project: [{number: 7, branch: feat, ...}]   # number: the merge request's iid
/// plugins:                         # plugin generators' answers, by ConfigMap and input
/// - configMap: my-plugin
///   input: {parameters: {branch: main}}    # must equal the generator's (after interpolation)
///   output: {parameters: [{digest: sha256:...}]}
/// scmProviders:                    # scmProvider generators: organization (group, owner) →
///   my-org:                        # repository → its URLs, labels and branches
///     apps:
///       id: 1
///       sshUrl: git@github.com:my-org/apps.git
///       httpsUrl: https://github.com/my-org/apps.git
///       labels: [team-a]
///       defaultBranch: main
///       branches:
///         main: {sha: 0123abcd..., files: [apps/web/kustomization.yaml]}   # files present
/// configMaps:                      # plugin ConfigMaps (the service is then asked live) and
/// - metadata: {name: my-plugin, namespace: argocd}         # clusterDecisionResource ones
///   data: {baseUrl: http://plugin.example, token: $plugin.token}
/// resources:                       # duck-typed resources (clusterDecisionResource), as listed
/// - apiVersion: cluster.open-cluster-management.io/v1beta1
///   kind: PlacementDecision        # matched by its plural (placementdecisions)
///   metadata: {name: placement-a, namespace: argocd, labels: {placement: a}}
///   status: {decisions: [{clusterName: prod, reason: ''}]}
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Recorded {
    /// Git repositories by URL.
    #[serde(default)]
    pub git: BTreeMap<String, RecordedRepo>,
    /// Cluster Secrets (None: not recorded, ask the live source).
    #[serde(default)]
    pub clusters: Option<Vec<Secret>>,
    /// Pull requests by `owner/repo` (GitHub, Gitea), project (GitLab merge requests) or
    /// `organization/project/repo` (Azure DevOps).
    #[serde(default)]
    pub pull_requests: Option<BTreeMap<String, Vec<PullRequest>>>,
    /// Other Secrets (`tokenRef`, `appSecretName`), by namespace and name.
    #[serde(default)]
    pub secrets: Option<Vec<Secret>>,
    /// Plugin services' answers (None: not recorded, ask the live plugin).
    #[serde(default)]
    pub plugins: Option<Vec<RecordedPlugin>>,
    /// ConfigMaps (plugin and clusterDecisionResource generators' `configMapRef`), by namespace
    /// and name.
    #[serde(default)]
    pub config_maps: Option<Vec<ConfigMap>>,
    /// Duck-typed resources (clusterDecisionResource generators' decision resources), whole
    /// objects with `apiVersion` and `kind` (None: not recorded, list them live).
    #[serde(default)]
    pub resources: Option<Vec<DynamicObject>>,
    /// SCM provider organizations (GitHub organization, GitLab group, Gitea owner) and their
    /// repositories (None: not recorded, ask the forge).
    #[serde(default)]
    pub scm_providers: Option<BTreeMap<String, super::scm::RecordedScmOrg>>,
    /// Existing Applications: accepted so one file can also describe the live state; `render`
    /// ignores them.
    #[serde(default)]
    pub applications: Option<Vec<Value>>,
}

/// A plugin service's answer to one request: the ConfigMap the generator names, the input it
/// sends and what the plugin answered (the request's and the answer's JSON shapes).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordedPlugin {
    /// `configMapRef.name` of the generator.
    pub config_map: String,
    /// `input` of the generator (`parameters` absent: no parameters).
    #[serde(default)]
    pub input: RecordedPluginInput,
    /// The answer's `output`.
    #[serde(default)]
    pub output: RecordedPluginOutput,
}

/// [`RecordedPlugin::input`].
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RecordedPluginInput {
    /// `input.parameters`.
    #[serde(default)]
    pub parameters: serde_json::Map<String, Value>,
}

/// [`RecordedPlugin::output`].
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RecordedPluginOutput {
    /// `output.parameters`: one object per parameter set.
    #[serde(default)]
    pub parameters: Vec<serde_json::Map<String, Value>>,
}

/// A recorded git repository.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordedRepo {
    /// Default branch (HEAD); defaults to `main` when that branch exists, else the first branch.
    #[serde(default)]
    pub default_branch: Option<String>,
    /// Files of the default branch (shorthand).
    #[serde(default)]
    pub files: Option<BTreeMap<String, Value>>,
    /// Branches by name.
    #[serde(default)]
    pub branches: BTreeMap<String, RecordedCommit>,
    /// Tags by name.
    #[serde(default)]
    pub tags: BTreeMap<String, RecordedCommit>,
}

/// A recorded commit: its files (path → content; a non-string content is written as JSON).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordedCommit {
    /// Commit SHA; computed from the files when absent.
    #[serde(default)]
    pub sha: Option<String>,
    /// Files by path.
    #[serde(default)]
    pub files: BTreeMap<String, Value>,
}

impl Recorded {
    /// Merge `other` into `self` (entries of `other` win).
    pub fn merge(&mut self, other: Recorded) {
        self.git.extend(other.git);
        if let Some(c) = other.clusters {
            self.clusters.get_or_insert_with(Vec::new).extend(c);
        }
        if let Some(prs) = other.pull_requests {
            self.pull_requests.get_or_insert_with(BTreeMap::new).extend(prs);
        }
        if let Some(secrets) = other.secrets {
            self.secrets.get_or_insert_with(Vec::new).extend(secrets);
        }
        if let Some(plugins) = other.plugins {
            self.plugins.get_or_insert_with(Vec::new).extend(plugins);
        }
        if let Some(config_maps) = other.config_maps {
            self.config_maps.get_or_insert_with(Vec::new).extend(config_maps);
        }
        if let Some(resources) = other.resources {
            self.resources.get_or_insert_with(Vec::new).extend(resources);
        }
        if let Some(orgs) = other.scm_providers {
            self.scm_providers.get_or_insert_with(BTreeMap::new).extend(orgs);
        }
        if other.applications.is_some() {
            self.applications = other.applications;
        }
    }
}

/// A recorded repository, materialised: commits by ref.
pub(super) struct RecordedGit {
    default_branch: String,
    pub(super) branches: BTreeMap<String, Arc<RecordedTree>>,
    tags: BTreeMap<String, Arc<RecordedTree>>,
}

pub(super) struct RecordedTree {
    pub(super) tree: Arc<GitTree>,
    pub(super) files: BTreeMap<String, Vec<u8>>,
}

fn content_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.clone().into_bytes(),
        Value::Null => Vec::new(),
        other => serde_json::to_vec_pretty(other).unwrap_or_default(),
    }
}

fn materialise_commit(c: &RecordedCommit) -> RecordedTree {
    let files: BTreeMap<String, Vec<u8>> = c
        .files
        .iter()
        .map(|(p, v)| (p.trim_start_matches("./").to_string(), content_bytes(v)))
        .collect();
    let sha = c.sha.clone().unwrap_or_else(|| {
        let mut h = sha1_smol::Sha1::new();
        for (p, content) in &files {
            h.update(p.as_bytes());
            h.update(&[0]);
            h.update(content);
            h.update(&[0]);
        }
        h.digest().to_string()
    });
    let mut dirs = BTreeSet::new();
    for p in files.keys() {
        let mut acc = String::new();
        let segs: Vec<&str> = p.split('/').collect();
        for seg in &segs[..segs.len().saturating_sub(1)] {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(seg);
            dirs.insert(acc.clone());
        }
    }
    let mut directories: Vec<String> = dirs.into_iter().collect();
    directories.sort_by(|a, b| walk_order(a, b));
    let tree = GitTree {
        sha,
        directories,
        files: files.keys().cloned().collect(),
    };
    RecordedTree {
        tree: Arc::new(tree),
        files,
    }
}

impl RecordedGit {
    pub(super) fn new(r: &RecordedRepo) -> Self {
        let mut branches: BTreeMap<String, Arc<RecordedTree>> = r
            .branches
            .iter()
            .map(|(n, c)| (n.clone(), Arc::new(materialise_commit(c))))
            .collect();
        let default_branch = r.default_branch.clone().unwrap_or_else(|| {
            if r.files.is_some() || branches.contains_key("main") || branches.is_empty() {
                "main".to_string()
            } else {
                branches.keys().next().cloned().unwrap_or_else(|| "main".into())
            }
        });
        if let Some(files) = &r.files {
            branches.insert(
                default_branch.clone(),
                Arc::new(materialise_commit(&RecordedCommit {
                    sha: None,
                    files: files.clone(),
                })),
            );
        }
        let tags = r
            .tags
            .iter()
            .map(|(n, c)| (n.clone(), Arc::new(materialise_commit(c))))
            .collect();
        RecordedGit {
            default_branch,
            branches,
            tags,
        }
    }

    pub(super) fn resolve(&self, url: &str, revision: &str) -> Result<Arc<RecordedTree>, GitError> {
        let not_found = || GitError::RevisionNotFound {
            repo: url.to_string(),
            revision: revision.to_string(),
        };
        let rev = revision.trim();
        let by_name = |name: &str| -> Option<Arc<RecordedTree>> {
            if let Some(b) = name.strip_prefix("refs/heads/") {
                return self.branches.get(b).cloned();
            }
            if let Some(t) = name.strip_prefix("refs/tags/") {
                return self.tags.get(t).cloned();
            }
            self.branches.get(name).or_else(|| self.tags.get(name)).cloned()
        };
        if rev.is_empty() || rev == "HEAD" {
            return self
                .branches
                .get(&self.default_branch)
                .cloned()
                .ok_or_else(not_found);
        }
        if let Some(t) = by_name(rev) {
            return Ok(t);
        }
        if rev.len() >= 4 && rev.bytes().all(|b| b.is_ascii_hexdigit()) {
            let lower = rev.to_ascii_lowercase();
            if let Some(t) = self
                .branches
                .values()
                .chain(self.tags.values())
                .find(|t| t.tree.sha.starts_with(&lower))
            {
                return Ok(t.clone());
            }
        }
        Err(not_found())
    }

    pub(super) fn by_sha(&self, sha: &str) -> Option<Arc<RecordedTree>> {
        self.branches
            .values()
            .chain(self.tags.values())
            .find(|t| t.tree.sha == sha)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_repo_resolves_head_branches_tags_and_shas() {
        let r: RecordedRepo = serde_saphyr::from_str(
            "files: {apps/a/x.yaml: 'a: 1', apps/b/y.yaml: ''}\nbranches: {dev: {sha: abcdef0123, files: {z: ''}}}\ntags: {v1: {files: {t: ''}}}",
        )
        .unwrap();
        let g = RecordedGit::new(&r);
        let head = g.resolve("u", "").unwrap();
        assert_eq!(head.tree.directories, ["apps", "apps/a", "apps/b"]);
        assert_eq!(g.resolve("u", "HEAD").unwrap().tree.sha, head.tree.sha);
        assert_eq!(g.resolve("u", "refs/heads/dev").unwrap().tree.sha, "abcdef0123");
        assert_eq!(g.resolve("u", "abcdef").unwrap().tree.files, ["z"]);
        assert_eq!(g.resolve("u", "v1").unwrap().tree.files, ["t"]);
        let err = g.resolve("u", "nope").err().unwrap();
        assert_eq!(err.to_string(), "Unable to resolve 'nope' to a commit SHA");
    }

    #[test]
    fn cluster_files_of_another_shape_say_what_was_expected() {
        let secret = serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "a", "labels": {"argocd.argoproj.io/secret-type": "cluster"}},
            "stringData": {"name": "a", "server": "https://a.example.com"}});
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [secret.clone()]});
        assert_eq!(
            parse_cluster_secrets(vec![secret.clone(), list, Value::Null])
                .unwrap()
                .len(),
            2
        );

        let config_map = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "clusters"}, "data": {"prod": "https://prod.example.com"}});
        let e = parse_cluster_secrets(vec![secret, config_map]).unwrap_err();
        assert!(
            e.starts_with("document 2 is a ConfigMap (clusters); --clusters takes Argo CD cluster Secrets"),
            "{e}"
        );
        assert!(e.contains("\n  kind: Secret\n"), "{e}");
        let e = parse_cluster_secrets(vec![serde_json::json!({"prod": "https://x"})]).unwrap_err();
        assert!(e.starts_with("document 1 is a map without `kind: Secret`"), "{e}");
        let e = parse_cluster_secrets(vec![serde_json::json!(["x"])]).unwrap_err();
        assert!(e.starts_with("document 1 is a list"), "{e}");
    }

    #[test]
    fn pull_request_files_of_another_shape_say_what_was_expected() {
        let prs = serde_json::json!({"example/apps": [{"number": 7, "branch": "x"}]});
        assert_eq!(
            parse_pull_requests(prs.clone()).unwrap()["example/apps"][0].number,
            7
        );

        let e = parse_pull_requests(serde_json::json!({"pullRequests": prs})).unwrap_err();
        assert!(e.starts_with("`pullRequests` holds a map, not a list of pull requests (the key of a recorded-inputs document"), "{e}");
        assert!(e.ends_with("e.g.:\n  example/apps:\n  - {number: 7, branch: feature-x, targetBranch: main, headSha: 0123abcd}"), "{e}");
        let e = parse_pull_requests(serde_json::json!([{"number": 7}])).unwrap_err();
        assert!(
            e.starts_with("the file holds a list; --pull-requests takes a map"),
            "{e}"
        );
        let e = parse_pull_requests(serde_json::json!({"a/b": [{"number": 7}]})).unwrap_err();
        assert!(e.contains("missing field `branch`"), "{e}");
    }
}
