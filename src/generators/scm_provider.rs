//! The `scmProvider` generator: one parameter set per repository (and branch) of a forge's
//! organization (GitHub), group (GitLab), owner (Gitea), project (Bitbucket Server), workspace
//! (Bitbucket Cloud) or team project (Azure DevOps).
//!
//! Stage: generate; reads the forge only through [`crate::sources::Sources::scm_provider`] (I/O
//! there). The filters are Argo CD's `ListRepos` (`services/scm_provider/utils.go`), in its
//! order so a poll asks no more than it must:
//!
//! 1. A filter is *repository-level* when it sets only `repositoryMatch` and/or `labelMatch`,
//!    *branch-level* when it sets any of `branchMatch`, `pathsExist`, `pathsDoNotExist` (then all
//!    its conditions are checked per branch), and ignored when it sets nothing.
//! 2. The repositories are listed; when repository-level filters exist, a repository must pass
//!    one of them (OR across filters, AND within one) before its branches are read.
//! 3. Branches are read (the default one, or all with `allBranches`); when branch-level filters
//!    exist, a branch must pass one of them. Within a filter the checks run name, branch, label,
//!    then each `pathsExist` path, then each `pathsDoNotExist` path, stopping at the first that
//!    fails, so a path is asked only of branches every cheaper check let through.
//!
//! Parameters are Argo CD's (`organization`, `repository`, `repository_id`, `url`, `branch`,
//! `branchNormalized`, `sha`, `short_sha`, `short_sha_7`, `labels` comma-joined), the same in
//! both shapes, plus `values`.

use regex::Regex;
use serde_json::Value;

use super::{GenerateContext, GenerateError, apply_values, short};
use crate::{
    crd::{ScmProviderFilter, ScmProviderGenerator},
    params::Params,
    sources::{BitbucketAuthRef, ScmBranch, ScmForge, ScmProvider, ScmQuery, ScmRepo, SourceError},
    text,
};

/// Default poll interval of SCM provider generators (Argo CD's 30 minutes).
pub const DEFAULT_REQUEUE_SECONDS: u64 = 1800;

/// A compiled filter (Argo CD's `Filter`).
#[derive(Debug, Default)]
pub struct Filter {
    repository: Option<Regex>,
    label: Option<Regex>,
    branch: Option<Regex>,
    paths_exist: Vec<String>,
    paths_do_not_exist: Vec<String>,
    level: Level,
}

/// Where a filter applies (Argo CD's `FilterType`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Sets nothing: ignored.
    #[default]
    Undefined,
    /// Only `repositoryMatch`/`labelMatch`: checked before branches are read.
    Repository,
    /// Any of `branchMatch`, `pathsExist`, `pathsDoNotExist`: checked per branch.
    Branch,
}

/// Compile `filters` (Argo CD's `compileFilters`; its messages). `path` names the generator.
///
/// # Errors
/// An invalid regex, naming the filter.
pub fn compile(filters: &[ScmProviderFilter], path: &str) -> Result<Vec<Filter>, GenerateError> {
    let re = |v: &Option<String>, what: &str, i: usize| -> Result<Option<Regex>, GenerateError> {
        v.as_deref()
            .map(|s| {
                Regex::new(s).map_err(|e| {
                    GenerateError::invalid(
                        &format!("{path}.filters[{i}]"),
                        format!("error listing repos: error compiling {what} regexp {s:?}: {e}"),
                    )
                })
            })
            .transpose()
    };
    let trimmed = |v: &Option<Vec<String>>| -> Vec<String> {
        v.iter()
            .flatten()
            .map(|p| p.trim_end_matches('/').to_string())
            .collect()
    };
    filters
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut level = Level::Undefined;
            if f.repository_match.is_some() || f.label_match.is_some() {
                level = Level::Repository;
            }
            if f.paths_exist.is_some() || f.paths_do_not_exist.is_some() || f.branch_match.is_some() {
                level = Level::Branch;
            }
            Ok(Filter {
                repository: re(&f.repository_match, "RepositoryMatch", i)?,
                label: re(&f.label_match, "LabelMatch", i)?,
                branch: re(&f.branch_match, "BranchMatch", i)?,
                paths_exist: trimmed(&f.paths_exist),
                paths_do_not_exist: trimmed(&f.paths_do_not_exist),
                level,
            })
        })
        .collect()
}

/// One repository at one branch: what a parameter set is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The repository.
    pub repo: ScmRepo,
    /// The branch (at repository level: the default branch, no SHA yet).
    pub branch: ScmBranch,
}

/// Argo CD's `matchFilter`: every set condition of `f`, cheapest first; paths only when the rest
/// passed.
async fn matches(provider: &dyn ScmProvider, c: &Candidate, f: &Filter) -> Result<bool, SourceError> {
    if f.repository
        .as_ref()
        .is_some_and(|r| !r.is_match(&c.repo.repository))
        || f.branch.as_ref().is_some_and(|r| !r.is_match(&c.branch.name))
        || f.label
            .as_ref()
            .is_some_and(|r| !c.repo.labels.iter().any(|l| r.is_match(l)))
    {
        return Ok(false);
    }
    for p in &f.paths_exist {
        if !provider.has_path(&c.repo, &c.branch, p).await? {
            return Ok(false);
        }
    }
    for p in &f.paths_do_not_exist {
        if provider.has_path(&c.repo, &c.branch, p).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn any_matches(
    provider: &dyn ScmProvider,
    c: &Candidate,
    filters: &[&Filter],
) -> Result<bool, SourceError> {
    for f in filters {
        if matches(provider, c, f).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Argo CD's `ListRepos`: the repositories and branches that pass `filters`, in the forge's
/// order (repositories, then each one's branches).
///
/// # Errors
/// Any forge error: never a shorter list in place of a failure.
pub async fn list(provider: &dyn ScmProvider, filters: &[Filter]) -> Result<Vec<Candidate>, SourceError> {
    let of = |level| filters.iter().filter(|f| f.level == level).collect::<Vec<_>>();
    let (repo_filters, branch_filters) = (of(Level::Repository), of(Level::Branch));
    let mut out = Vec::new();
    for repo in provider.repos().await? {
        if !repo_filters.is_empty() {
            let at_default = Candidate {
                branch: ScmBranch {
                    name: repo.default_branch.clone(),
                    sha: String::new(),
                },
                repo: repo.clone(),
            };
            if !any_matches(provider, &at_default, &repo_filters).await? {
                continue;
            }
        }
        for branch in provider.branches(&repo).await? {
            let c = Candidate {
                repo: repo.clone(),
                branch,
            };
            if branch_filters.is_empty() || any_matches(provider, &c, &branch_filters).await? {
                out.push(c);
            }
        }
    }
    Ok(out)
}

/// Generate the parameter sets of an `scmProvider` generator.
pub async fn generate(
    g: &ScmProviderGenerator,
    ctx: &GenerateContext<'_>,
    path: &str,
) -> Result<Vec<Params>, GenerateError> {
    if !ctx.scm.enabled {
        return Err(GenerateError::invalid(path, "scm providers are disabled"));
    }
    // Argo CD's `CustomApiUrl` is checked against the allow-list before anything else.
    // Argo CD's forge order; appset's Bitbucket Cloud `api` is checked like the others.
    let apis = [
        ("github", g.github.as_ref().map(|f| &f.api)),
        ("gitlab", g.gitlab.as_ref().map(|f| &f.api)),
        ("gitea", g.gitea.as_ref().map(|f| &f.api)),
        ("bitbucketServer", g.bitbucket_server.as_ref().map(|f| &f.api)),
        ("azureDevOps", g.azure_dev_ops.as_ref().map(|f| &f.api)),
        ("bitbucket", g.bitbucket.as_ref().map(|f| &f.api)),
    ];
    let (field, api) = apis
        .iter()
        .find_map(|(field, api)| api.map(|a| (*field, a.trim())))
        .unwrap_or(("", ""));
    ctx.scm.check_api(&format!("{path}.{field}.api"), api)?;
    let query = query(g, ctx, path)?;
    let field = format!("{path}.{}", field_of(&query.forge));
    let filters = compile(&g.filters, path)?;
    let provider = ctx
        .sources
        .scm_provider(&query)
        .await
        .map_err(|e| GenerateError::source(&field, e))?;
    let candidates = list(provider.as_ref(), &filters)
        .await
        .map_err(|e| GenerateError::source(&field, SourceError::Scm(format!("error listing repos: {e}"))))?;
    let mut out: Vec<Params> = candidates.iter().map(params).collect();
    apply_values(&mut out, g.values.as_ref(), ctx, path)?;
    Ok(out)
}

fn field_of(forge: &ScmForge) -> &'static str {
    match forge {
        ScmForge::GitHub { .. } => "github",
        ScmForge::GitLab { .. } => "gitlab",
        ScmForge::Gitea { .. } => "gitea",
        ScmForge::BitbucketServer { .. } => "bitbucketServer",
        ScmForge::AzureDevOps { .. } => "azureDevOps",
        ScmForge::BitbucketCloud { .. } => "bitbucket",
    }
}

/// The query of a generator: its forge (the first set, in Argo CD's order), credentials in the
/// ApplicationSet's namespace (GitHub's `appSecretName` in Argo CD's).
fn query(g: &ScmProviderGenerator, ctx: &GenerateContext<'_>, path: &str) -> Result<ScmQuery, GenerateError> {
    let in_set_ns = |name: &str, key: &str| {
        (
            ctx.appset_namespace.to_string(),
            name.to_string(),
            key.to_string(),
        )
    };
    let base = |api: &str, token: Option<(String, String, String)>, insecure, all_branches, forge| ScmQuery {
        forge,
        api: api.to_string(),
        token_ref: token,
        token_ref_strict: ctx.scm.token_ref_strict,
        insecure,
        all_branches,
        clone_protocol: g.clone_protocol.clone(),
    };
    if let Some(gh) = &g.github {
        let token = gh.token_ref.as_ref().map(|t| in_set_ns(&t.secret_name, &t.key));
        let app_secret = gh
            .app_secret_name
            .as_ref()
            .filter(|n| !n.is_empty())
            .map(|n| (ctx.controller_namespace.to_string(), n.clone()));
        return Ok(base(
            &gh.api,
            token,
            false,
            gh.all_branches,
            ScmForge::GitHub {
                organization: gh.organization.clone(),
                app_secret,
                exclude_archived: gh.exclude_archived_repos,
            },
        ));
    }
    if let Some(gl) = &g.gitlab {
        let token = gl.token_ref.as_ref().map(|t| in_set_ns(&t.secret_name, &t.key));
        return Ok(base(
            &gl.api,
            token,
            gl.insecure,
            gl.all_branches,
            ScmForge::GitLab {
                group: gl.group.clone(),
                include_subgroups: gl.include_subgroups,
                include_shared_projects: gl.include_shared_projects.unwrap_or(true),
                include_archived: gl.include_archived_repos,
                topic: gl.topic.clone(),
                ca_ref: gl.ca_ref.as_ref().map(|c| in_set_ns(&c.config_map_name, &c.key)),
            },
        ));
    }
    if let Some(gt) = &g.gitea {
        let token = gt.token_ref.as_ref().map(|t| in_set_ns(&t.secret_name, &t.key));
        return Ok(base(
            &gt.api,
            token,
            gt.insecure,
            gt.all_branches,
            ScmForge::Gitea {
                owner: gt.owner.clone(),
                exclude_archived: gt.exclude_archived_repos,
            },
        ));
    }
    if let Some(bs) = &g.bitbucket_server {
        let auth = super::pull_request::bitbucket_auth(&bs.basic_auth, &bs.bearer_token, &in_set_ns);
        return Ok(base(
            &bs.api,
            None,
            bs.insecure,
            bs.all_branches,
            ScmForge::BitbucketServer {
                project: bs.project.clone(),
                auth,
                ca_ref: bs.ca_ref.as_ref().map(|c| in_set_ns(&c.config_map_name, &c.key)),
            },
        ));
    }
    if let Some(az) = &g.azure_dev_ops {
        let token = az
            .access_token_ref
            .as_ref()
            .map(|t| in_set_ns(&t.secret_name, &t.key));
        return Ok(base(
            &az.api,
            token,
            false,
            az.all_branches,
            ScmForge::AzureDevOps {
                organization: az.organization.clone(),
                team_project: az.team_project.clone(),
            },
        ));
    }
    if let Some(bc) = &g.bitbucket {
        // Argo CD's Bitbucket Cloud provider: the user and its app password (basic auth).
        let auth = match &bc.app_password_ref {
            Some(p) => BitbucketAuthRef::Basic {
                username: bc.user.clone(),
                password_ref: in_set_ns(&p.secret_name, &p.key),
            },
            None => BitbucketAuthRef::None,
        };
        return Ok(base(
            &bc.api,
            None,
            false,
            bc.all_branches,
            ScmForge::BitbucketCloud {
                owner: bc.owner.clone(),
                auth,
            },
        ));
    }
    if g.aws_code_commit.is_some() {
        return Err(GenerateError::invalid(
            &format!("{path}.awsCodeCommit"),
            "the awsCodeCommit SCM provider is not supported by appset (it needs AWS request signing and IAM roles)",
        ));
    }
    Err(GenerateError::invalid(
        path,
        "no SCM provider implementation configured",
    ))
}

/// Argo CD's parameters of one repository at one branch (the same keys in both shapes).
pub fn params(c: &Candidate) -> Params {
    let s = |v: &str| Value::String(v.to_string());
    let sha = &c.branch.sha;
    Params::from([
        ("organization".to_string(), s(&c.repo.organization)),
        ("repository".to_string(), s(&c.repo.repository)),
        ("repository_id".to_string(), c.repo.repository_id.clone()),
        ("url".to_string(), s(&c.repo.url)),
        ("branch".to_string(), s(&c.branch.name)),
        ("sha".to_string(), s(sha)),
        ("short_sha".to_string(), s(&short(sha, 8))),
        ("short_sha_7".to_string(), s(&short(sha, 7))),
        ("labels".to_string(), s(&c.repo.labels.join(","))),
        (
            "branchNormalized".to_string(),
            s(&text::normalize(&c.branch.name)),
        ),
    ])
}

#[cfg(test)]
mod tests {
    //! Argo CD's `utils_test.go` table, against its `MockProvider`: a repository "has" exactly
    //! the path named like itself.
    use std::sync::Mutex;

    use super::*;
    use crate::sources::BoxFuture;

    /// Argo CD's `MockProvider`, counting path checks.
    struct Mock {
        rows: Vec<(&'static str, &'static str, Vec<&'static str>)>,
        path_checks: Mutex<Vec<String>>,
    }

    fn repo(name: &str, labels: &[&str]) -> ScmRepo {
        ScmRepo {
            organization: "org".into(),
            repository: name.into(),
            repository_id: Value::Null,
            url: String::new(),
            default_branch: String::new(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
        }
    }

    impl ScmProvider for Mock {
        fn repos(&self) -> BoxFuture<'_, Result<Vec<ScmRepo>, SourceError>> {
            Box::pin(async move {
                let mut out: Vec<ScmRepo> = Vec::new();
                for (name, branch, labels) in &self.rows {
                    if !out.iter().any(|r| r.repository == *name) {
                        let mut r = repo(name, labels);
                        r.default_branch = branch.to_string();
                        out.push(r);
                    }
                }
                Ok(out)
            })
        }
        fn branches<'a>(&'a self, r: &'a ScmRepo) -> BoxFuture<'a, Result<Vec<ScmBranch>, SourceError>> {
            Box::pin(async move {
                let mut out: Vec<ScmBranch> = Vec::new();
                for (name, branch, _) in &self.rows {
                    if *name == r.repository && !out.iter().any(|b| b.name == *branch) {
                        out.push(ScmBranch {
                            name: branch.to_string(),
                            sha: format!("{name}-{branch}"),
                        });
                    }
                }
                Ok(out)
            })
        }
        fn has_path<'a>(
            &'a self,
            r: &'a ScmRepo,
            _: &'a ScmBranch,
            path: &'a str,
        ) -> BoxFuture<'a, Result<bool, SourceError>> {
            Box::pin(async move {
                self.path_checks
                    .lock()
                    .unwrap()
                    .push(format!("{}:{path}", r.repository));
                Ok(path == r.repository)
            })
        }
    }

    fn mock(rows: Vec<(&'static str, &'static str, Vec<&'static str>)>) -> Mock {
        Mock {
            rows,
            path_checks: Mutex::default(),
        }
    }

    fn names(repos: &[&'static str]) -> Mock {
        mock(repos.iter().map(|r| (*r, "", vec![])).collect())
    }

    fn labelled() -> Mock {
        mock(vec![
            ("one", "", vec!["prod-one", "prod-two", "staging"]),
            ("two", "", vec!["prod-two"]),
            ("three", "", vec!["staging"]),
        ])
    }

    fn filter(json: Value) -> ScmProviderFilter {
        serde_json::from_value(json).unwrap()
    }

    fn run(m: &Mock, filters: Vec<Value>) -> Vec<(String, String)> {
        let filters: Vec<_> = filters.into_iter().map(filter).collect();
        let compiled = compile(&filters, "spec.generators[0].scmProvider").unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(list(m, &compiled))
            .unwrap()
            .into_iter()
            .map(|c| (c.repo.repository, c.branch.name))
            .collect()
    }

    fn repos_of(v: &[(String, String)]) -> Vec<&str> {
        v.iter().map(|(r, _)| r.as_str()).collect()
    }

    #[test]
    fn repository_match_is_an_unanchored_regex() {
        let out = run(
            &names(&["one", "two", "three", "four"]),
            vec![serde_json::json!({"repositoryMatch": "n|hr"})],
        );
        assert_eq!(repos_of(&out), ["one", "three"]);
    }

    #[test]
    fn label_match_needs_one_matching_label() {
        let out = run(&labelled(), vec![serde_json::json!({"labelMatch": "^prod-.*$"})]);
        assert_eq!(repos_of(&out), ["one", "two"]);
    }

    #[test]
    fn paths_exist_and_paths_do_not_exist() {
        let m = names(&["one", "two", "three"]);
        let out = run(&m, vec![serde_json::json!({"pathsExist": ["two"]})]);
        assert_eq!(repos_of(&out), ["two"]);
        let out = run(&m, vec![serde_json::json!({"pathsDoNotExist": ["two"]})]);
        assert_eq!(repos_of(&out), ["one", "three"]);
    }

    #[test]
    fn a_trailing_slash_of_a_path_is_trimmed() {
        let out = run(
            &names(&["one", "two"]),
            vec![serde_json::json!({"pathsExist": ["two/"]})],
        );
        assert_eq!(repos_of(&out), ["two"]);
    }

    #[test]
    fn bad_regexes_are_errors_naming_the_filter() {
        for key in ["repositoryMatch", "labelMatch", "branchMatch"] {
            let f = filter(serde_json::json!({ key: "(" }));
            let err = compile(&[f], "spec.generators[0].scmProvider")
                .unwrap_err()
                .to_string();
            assert!(err.contains("spec.generators[0].scmProvider.filters[0]"), "{err}");
            assert!(err.contains("error compiling"), "{err}");
        }
    }

    #[test]
    fn branch_match_keeps_matching_branches() {
        let m = mock(vec![
            ("one", "one", vec![]),
            ("one", "two", vec![]),
            ("two", "one", vec![]),
            ("three", "one", vec![]),
            ("three", "two", vec![]),
        ]);
        // Every branch (Argo CD's mock lists them all).
        let out = run(&m, vec![serde_json::json!({"branchMatch": "w"})]);
        assert_eq!(
            out,
            [("one".into(), "two".into()), ("three".into(), "two".into())]
        );
    }

    #[test]
    fn conditions_within_a_filter_are_anded() {
        let out = run(
            &labelled(),
            vec![serde_json::json!({"repositoryMatch": "w", "labelMatch": "^prod-.*$"})],
        );
        assert_eq!(repos_of(&out), ["two"]);
    }

    #[test]
    fn filters_are_ored() {
        let out = run(
            &labelled(),
            vec![
                serde_json::json!({"repositoryMatch": "e"}),
                serde_json::json!({"labelMatch": "^prod-.*$"}),
            ],
        );
        assert_eq!(repos_of(&out), ["one", "two", "three"]);
    }

    #[test]
    fn no_filters_and_empty_filters_keep_everything() {
        assert_eq!(repos_of(&run(&labelled(), vec![])), ["one", "two", "three"]);
        assert_eq!(
            repos_of(&run(&labelled(), vec![serde_json::json!({})])),
            ["one", "two", "three"],
            "a filter that sets nothing is ignored, as Argo CD's FilterTypeUndefined"
        );
    }

    #[test]
    fn filter_levels_are_argo_cds() {
        let levels: Vec<Level> = compile(
            &[
                filter(serde_json::json!({"branchMatch": "x"})),
                filter(serde_json::json!({"repositoryMatch": "x"})),
                filter(serde_json::json!({"pathsExist": ["t"]})),
                filter(serde_json::json!({"labelMatch": "x"})),
                filter(serde_json::json!({})),
                filter(serde_json::json!({"repositoryMatch": "x", "pathsDoNotExist": ["t"]})),
            ],
            "p",
        )
        .unwrap()
        .iter()
        .map(|f| f.level)
        .collect();
        use Level::*;
        assert_eq!(
            levels,
            [Branch, Repository, Branch, Repository, Undefined, Branch]
        );
    }

    #[test]
    fn repository_filters_and_branch_filters_must_both_pass() {
        // Argo CD checks repository-level filters first and branch-level ones after: with one of
        // each, a repository must pass both (not either).
        let out = run(
            &names(&["one", "two", "three"]),
            vec![
                serde_json::json!({"repositoryMatch": "^t"}),
                serde_json::json!({"pathsExist": ["two"]}),
            ],
        );
        assert_eq!(repos_of(&out), ["two"]);
    }

    #[test]
    fn paths_are_asked_only_of_repositories_the_cheaper_checks_let_through() {
        let m = names(&["one", "two", "three"]);
        run(
            &m,
            vec![serde_json::json!({"repositoryMatch": "^t", "pathsExist": ["two", "x"]})],
        );
        // "one" fails the name check first; "two" has "two" then not "x"; "three" lacks "two".
        assert_eq!(*m.path_checks.lock().unwrap(), ["two:two", "two:x", "three:two"]);
    }
}
