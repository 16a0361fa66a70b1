//! The `pullRequest` generator: one parameter set per open pull request (GitHub, Gitea,
//! Bitbucket Server, Bitbucket Cloud, Azure DevOps) or merge request (GitLab).
//!
//! Stage: generate; lists pull requests through `Sources` (I/O there only), with a query that
//! names its forge. Filters are Argo CD's (OR across filters, AND within one; unanchored
//! regexes); GitHub's and Azure DevOps's `labels` must all be present (checked here; appset adds
//! `ignoreDraft` and `excludeLabels` to both), so must Gitea's (checked here, as Argo CD's Gitea
//! client does), GitLab's `labels` and `pullRequestState` are sent to GitLab; Bitbucket has no
//! labels (appset adds `ignoreDraft`). Parameters are Argo CD's, in both modes; `labels` only in
//! the nested modes.

use regex::Regex;
use serde_json::Value;

use super::{GenerateContext, GenerateError, apply_values, short};
use crate::{
    crd::{
        BitbucketBasicAuth, BitbucketBearerToken, PullRequestAzureDevOps, PullRequestBitbucket,
        PullRequestBitbucketServer, PullRequestFilter, PullRequestGenerator, PullRequestGitea,
        PullRequestGithub, PullRequestGitlab,
    },
    params::{ParamMode, Params},
    sources::{
        AzureDevOpsPullRequestQuery, BitbucketAuthRef, BitbucketCloudPullRequestQuery,
        BitbucketServerPullRequestQuery, ForgeError, GitHubError, GitHubPullRequestQuery,
        GitLabMergeRequestQuery, GiteaPullRequestQuery, PullRequest, PullRequestQuery, SourceError,
    },
    text,
};

/// Default poll interval of pull-request generators (Argo CD's 30 minutes).
pub const DEFAULT_REQUEUE_SECONDS: u64 = 1800;

/// What pull-request (and SCM provider) generators may do: Argo CD's `--enable-scm-providers`,
/// `--allowed-scm-providers` and `--token-ref-strict-mode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScmOptions {
    /// Generators may call their forge's API at all.
    pub enabled: bool,
    /// Custom API URLs a generator's `api` must equal one of (empty: any).
    pub allowed: Vec<String>,
    /// A `tokenRef` Secret must carry `argocd.argoproj.io/secret-type: scm-creds`.
    pub token_ref_strict: bool,
}

impl Default for ScmOptions {
    fn default() -> Self {
        ScmOptions {
            enabled: true,
            allowed: Vec::new(),
            token_ref_strict: false,
        }
    }
}

impl ScmOptions {
    /// Argo CD's `ScmProviderAllowed`: a custom `api` must be on the allow-list (when there is
    /// one). `field` names the `api` field in the error.
    ///
    /// # Errors
    /// Argo CD's `scm provider not allowed: ...`.
    pub fn check_api(&self, field: &str, api: &str) -> Result<(), GenerateError> {
        if api.is_empty()
            || self.allowed.is_empty()
            || self.allowed.iter().any(|a| crate::sources::same_api(a, api))
        {
            return Ok(());
        }
        Err(GenerateError::invalid(
            field,
            format!(
                "scm provider not allowed: scm provider {api:?} not allowed, must use one of the following: {}",
                self.allowed.join(", ")
            ),
        ))
    }
}

struct CompiledFilter {
    branch: Option<Regex>,
    target_branch: Option<Regex>,
    title: Option<Regex>,
}

fn compile(filters: &[PullRequestFilter], path: &str) -> Result<Vec<CompiledFilter>, GenerateError> {
    let re = |v: &Option<String>, what: &str, i: usize| -> Result<Option<Regex>, GenerateError> {
        v.as_deref()
            .map(|s| {
                Regex::new(s).map_err(|e| {
                    GenerateError::invalid(
                        &format!("{path}.filters[{i}]"),
                        format!("error compiling {what} regexp {s:?}: {e}"),
                    )
                })
            })
            .transpose()
    };
    filters
        .iter()
        .enumerate()
        .map(|(i, f)| {
            Ok(CompiledFilter {
                branch: re(&f.branch_match, "BranchMatch", i)?,
                target_branch: re(&f.target_branch_match, "TargetBranchMatch", i)?,
                title: re(&f.title_match, "TitleMatch", i)?,
            })
        })
        .collect()
}

fn passes(filters: &[CompiledFilter], pr: &PullRequest) -> bool {
    filters.is_empty()
        || filters.iter().any(|f| {
            f.branch.as_ref().is_none_or(|r| r.is_match(&pr.branch))
                && f.target_branch
                    .as_ref()
                    .is_none_or(|r| r.is_match(&pr.target_branch))
                && f.title.as_ref().is_none_or(|r| r.is_match(&pr.title))
        })
}

/// Generate the parameter sets of a `pullRequest` generator.
pub async fn generate(
    g: &PullRequestGenerator,
    ctx: &GenerateContext<'_>,
    path: &str,
) -> Result<Vec<Params>, GenerateError> {
    // The first provider set, in Argo CD's order.
    let provider = if let Some(gh) = &g.github {
        Provider::GitHub(gh)
    } else if let Some(gl) = &g.gitlab {
        Provider::GitLab(gl)
    } else if let Some(gt) = &g.gitea {
        Provider::Gitea(gt)
    } else if let Some(bs) = &g.bitbucket_server {
        Provider::BitbucketServer(bs)
    } else if let Some(bc) = &g.bitbucket {
        Provider::BitbucketCloud(bc)
    } else if let Some(az) = &g.azuredevops {
        Provider::AzureDevOps(az)
    } else {
        return Err(GenerateError::invalid(
            path,
            "no Pull Request provider implementation configured",
        ));
    };
    let (field, api) = match provider {
        Provider::GitHub(gh) => ("github", gh.api.trim()),
        Provider::GitLab(gl) => ("gitlab", gl.api.trim()),
        Provider::Gitea(gt) => ("gitea", gt.api.trim()),
        Provider::BitbucketServer(bs) => ("bitbucketServer", bs.api.trim()),
        Provider::BitbucketCloud(bc) => ("bitbucket", bc.api.trim()),
        Provider::AzureDevOps(az) => ("azuredevops", az.api.trim()),
    };
    // Argo CD's checks, before any credential is read or any request sent.
    if !ctx.scm.enabled {
        return Err(GenerateError::invalid(path, "scm providers are disabled"));
    }
    ctx.scm.check_api(&format!("{path}.{field}.api"), api)?;
    let filters = compile(&g.filters, path)?;
    // Every reference names a Secret or ConfigMap of the ApplicationSet's own namespace, except
    // GitHub's `appSecretName` (repo-creds of Argo CD's namespace, as in Argo CD).
    let in_set_ns = |name: &str, key: &str| {
        (
            ctx.appset_namespace.to_string(),
            name.to_string(),
            key.to_string(),
        )
    };
    let query = match provider {
        Provider::GitHub(gh) => PullRequestQuery::GitHub(GitHubPullRequestQuery {
            token_ref_strict: ctx.scm.token_ref_strict,
            api: gh.api.clone(),
            owner: gh.owner.clone(),
            repo: gh.repo.clone(),
            token_ref: gh.token_ref.as_ref().map(|t| in_set_ns(&t.secret_name, &t.key)),
            app_secret: gh
                .app_secret_name
                .as_ref()
                .map(|n| (ctx.controller_namespace.to_string(), n.clone())),
        }),
        Provider::GitLab(gl) => PullRequestQuery::GitLab(GitLabMergeRequestQuery {
            api: gl.api.clone(),
            project: gl.project.clone(),
            labels: gl.labels.clone(),
            state: gl.pull_request_state.clone(),
            token_ref: gl.token_ref.as_ref().map(|t| in_set_ns(&t.secret_name, &t.key)),
            token_ref_strict: ctx.scm.token_ref_strict,
            insecure: gl.insecure,
            ca_ref: gl.ca_ref.as_ref().map(|c| in_set_ns(&c.config_map_name, &c.key)),
        }),
        Provider::Gitea(gt) => PullRequestQuery::Gitea(GiteaPullRequestQuery {
            api: gt.api.clone(),
            owner: gt.owner.clone(),
            repo: gt.repo.clone(),
            token_ref: gt.token_ref.as_ref().map(|t| in_set_ns(&t.secret_name, &t.key)),
            token_ref_strict: ctx.scm.token_ref_strict,
            insecure: gt.insecure,
        }),
        Provider::BitbucketServer(bs) => PullRequestQuery::BitbucketServer(BitbucketServerPullRequestQuery {
            api: bs.api.clone(),
            project: bs.project.clone(),
            repo: bs.repo.clone(),
            auth: bitbucket_auth(&bs.basic_auth, &bs.bearer_token, &in_set_ns),
            token_ref_strict: ctx.scm.token_ref_strict,
            insecure: bs.insecure,
            ca_ref: bs.ca_ref.as_ref().map(|c| in_set_ns(&c.config_map_name, &c.key)),
        }),
        Provider::BitbucketCloud(bc) => PullRequestQuery::BitbucketCloud(BitbucketCloudPullRequestQuery {
            api: bc.api.clone(),
            owner: bc.owner.clone(),
            repo: bc.repo.clone(),
            auth: bitbucket_auth(&bc.basic_auth, &bc.bearer_token, &in_set_ns),
            token_ref_strict: ctx.scm.token_ref_strict,
        }),
        Provider::AzureDevOps(az) => PullRequestQuery::AzureDevOps(AzureDevOpsPullRequestQuery {
            api: az.api.clone(),
            organization: az.organization.clone(),
            project: az.project.clone(),
            repo: az.repo.clone(),
            token_ref: az.token_ref.as_ref().map(|t| in_set_ns(&t.secret_name, &t.key)),
            token_ref_strict: ctx.scm.token_ref_strict,
        }),
    };
    let prs = match ctx.sources.pull_requests(&query).await {
        Ok(prs) => prs,
        // Argo CD: with continueOnRepoNotFoundError a missing repository means no pull requests
        // (so the previews of a deleted repository are pruned). Any other failure is an error.
        Err(
            SourceError::GitHub(GitHubError::NotFound { .. }) | SourceError::Forge(ForgeError::NotFound(_)),
        ) if g.continue_on_repo_not_found_error => Vec::new(),
        Err(e) => return Err(GenerateError::source(&format!("{path}.{field}"), e)),
    };
    let mut out = Vec::new();
    for pr in prs {
        let keep = match provider {
            Provider::GitHub(gh) => labelled(&pr, &gh.labels, gh.ignore_draft, &gh.exclude_labels),
            // Argo CD's Azure DevOps client: every label must be present.
            Provider::AzureDevOps(az) => labelled(&pr, &az.labels, az.ignore_draft, &az.exclude_labels),
            // GitLab filters labels (and state) on the server.
            Provider::GitLab(_) => true,
            // Argo CD's Gitea client: every label must be present.
            Provider::Gitea(gt) => gt.labels.iter().all(|l| pr.labels.contains(l)),
            // Bitbucket has no labels; appset's `ignoreDraft` reads its `draft` flag.
            Provider::BitbucketServer(bs) => !(bs.ignore_draft && pr.draft),
            Provider::BitbucketCloud(bc) => !(bc.ignore_draft && pr.draft),
        };
        if !keep || !passes(&filters, &pr) {
            continue;
        }
        out.push(params(&pr, ctx.mode()));
    }
    apply_values(&mut out, g.values.as_ref(), ctx, path)?;
    Ok(out)
}

#[derive(Clone, Copy)]
enum Provider<'a> {
    GitHub(&'a PullRequestGithub),
    GitLab(&'a PullRequestGitlab),
    Gitea(&'a PullRequestGitea),
    BitbucketServer(&'a PullRequestBitbucketServer),
    BitbucketCloud(&'a PullRequestBitbucket),
    AzureDevOps(&'a PullRequestAzureDevOps),
}

/// The Secrets a Bitbucket generator's credential names: `bearerToken` wins over `basicAuth`,
/// as in Argo CD.
pub(super) fn bitbucket_auth(
    basic: &Option<BitbucketBasicAuth>,
    bearer: &Option<BitbucketBearerToken>,
    in_set_ns: &dyn Fn(&str, &str) -> (String, String, String),
) -> BitbucketAuthRef {
    match (bearer, basic) {
        (Some(b), _) => BitbucketAuthRef::Bearer {
            token_ref: in_set_ns(&b.token_ref.secret_name, &b.token_ref.key),
        },
        (None, Some(b)) => BitbucketAuthRef::Basic {
            username: b.username.clone(),
            password_ref: in_set_ns(&b.password_ref.secret_name, &b.password_ref.key),
        },
        (None, None) => BitbucketAuthRef::None,
    }
}

/// Whether a pull request carries every label of `labels` (Argo CD), is not a draft when
/// `ignore_draft`, and carries none of `exclude_labels` (appset's extensions).
fn labelled(pr: &PullRequest, labels: &[String], ignore_draft: bool, exclude_labels: &[String]) -> bool {
    labels.iter().all(|l| pr.labels.contains(l))
        && !(ignore_draft && pr.draft)
        && !exclude_labels.iter().any(|l| pr.labels.contains(l))
}

/// Argo CD's parameters of one pull request.
pub fn params(pr: &PullRequest, mode: ParamMode) -> Params {
    let s = |v: &str| Value::String(v.to_string());
    let mut p = Params::from([
        ("number".to_string(), s(&pr.number.to_string())),
        ("title".to_string(), s(&pr.title)),
        ("branch".to_string(), s(&pr.branch)),
        ("branch_slug".to_string(), s(&text::slug(&pr.branch, 50, true))),
        ("target_branch".to_string(), s(&pr.target_branch)),
        (
            "target_branch_slug".to_string(),
            s(&text::slug(&pr.target_branch, 50, true)),
        ),
        ("head_sha".to_string(), s(&pr.head_sha)),
        ("head_short_sha".to_string(), s(&short(&pr.head_sha, 8))),
        ("head_short_sha_7".to_string(), s(&short(&pr.head_sha, 7))),
        ("author".to_string(), s(&pr.author)),
    ]);
    if mode == ParamMode::Nested {
        p.insert(
            "labels".into(),
            Value::Array(pr.labels.iter().map(|l| s(l)).collect()),
        );
    }
    p
}
