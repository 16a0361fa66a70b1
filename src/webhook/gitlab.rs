//! GitLab webhooks: `X-Gitlab-Event` (`Push Hook`, `Tag Push Hook`, `Merge Request Hook`, and
//! the same as a `System Hook`), verified by the secret token in `X-Gitlab-Token`.
//!
//! Stage: trigger (pure: parsing and verification). The token is compared in constant time with
//! Argo CD's `webhook.gitlab.secret`; without it every GitLab event is refused. A push or tag push
//! becomes a [`Change::Push`] of the project's web, HTTP and SSH URLs; a merge request opened,
//! closed, reopened, updated or merged (Argo CD's actions) a [`Change::MergeRequest`] of the
//! project (id and path) on its host. Unlike Argo CD, which compares the generator's `project`
//! with the numeric project id only, a `project` written as its path (`group/sub/project`)
//! matches too.

use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::{Change, Refusal, Webhooks, header, host_of, push_change, repo_key, same_secret, templated};
use crate::crd::PullRequestGitlab;

impl Webhooks {
    /// Accept GitLab events carrying `secret` in `X-Gitlab-Token` (Argo CD's
    /// `webhook.gitlab.secret`; an empty one is ignored, and only the first one set counts).
    pub fn set_gitlab_secret(&self, secret: Vec<u8>) {
        if !secret.is_empty() {
            let _ = self.gitlab_secret.set(secret);
        }
    }

    /// Whether `token` is GitLab's secret token (constant time).
    pub fn verify_gitlab(&self, token: Option<&str>) -> bool {
        let (Some(secret), Some(token)) = (self.gitlab_secret.get(), token) else {
            return false;
        };
        same_secret(secret, token.as_bytes())
    }

    /// A GitLab request: verified, its event (`X-Gitlab-Event`).
    pub(super) fn receive_gitlab(&self, event: &str, headers: &HeaderMap) -> Result<String, Refusal> {
        if self.gitlab_secret.get().is_none() {
            return Err((
                StatusCode::UNAUTHORIZED,
                "no GitLab webhook secret is configured (--webhook-gitlab-secret or argocd-secret webhook.gitlab.secret); every GitLab event is refused".into(),
            ));
        }
        if !self.verify_gitlab(header(headers, "x-gitlab-token")) {
            return Err((
                StatusCode::UNAUTHORIZED,
                "missing or invalid X-Gitlab-Token".into(),
            ));
        }
        Ok(event.to_string())
    }
}

#[derive(Debug, Deserialize, Default)]
struct GitLabProject {
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    web_url: Option<String>,
    #[serde(default)]
    git_http_url: Option<String>,
    #[serde(default)]
    git_ssh_url: Option<String>,
    #[serde(default)]
    http_url: Option<String>,
    #[serde(default)]
    ssh_url: Option<String>,
    #[serde(default)]
    default_branch: Option<String>,
    #[serde(default)]
    path_with_namespace: Option<String>,
}

#[derive(Debug, Deserialize)]
struct GitLabEvent {
    #[serde(default)]
    object_kind: String,
    #[serde(default, rename = "ref")]
    ref_: Option<String>,
    #[serde(default)]
    project: Option<GitLabProject>,
    #[serde(default)]
    object_attributes: Option<GitLabMergeRequest>,
}

#[derive(Debug, Deserialize)]
struct GitLabMergeRequest {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    target_project_id: Option<u64>,
}

/// Merge-request actions that refresh (Argo CD's `gitlabAllowedPullRequestActions`).
const MR_ACTIONS: &[&str] = &["open", "close", "reopen", "update", "merge"];

/// Parse a GitLab event (`X-Gitlab-Event`: `Push Hook`, `Tag Push Hook`, `Merge Request Hook`,
/// `System Hook`) into the change it announces (None: nothing to refresh).
pub fn parse_gitlab_event(event: &str, body: &[u8]) -> Result<Option<Change>, String> {
    if !matches!(
        event,
        "Push Hook" | "Tag Push Hook" | "Merge Request Hook" | "System Hook"
    ) {
        return Ok(None);
    }
    let e: GitLabEvent =
        serde_json::from_slice(body).map_err(|e| format!("malformed GitLab {event} event: {e}"))?;
    let project = e.project.unwrap_or_default();
    match e.object_kind.as_str() {
        "push" | "tag_push" => {
            let p = &project;
            Ok(Some(push_change(
                e.ref_.as_deref().unwrap_or_default(),
                [
                    &p.web_url,
                    &p.git_http_url,
                    &p.git_ssh_url,
                    &p.http_url,
                    &p.ssh_url,
                ],
                p.default_branch.as_deref(),
            )))
        }
        "merge_request" => {
            let Some(mr) = e.object_attributes else {
                return Err("malformed GitLab merge request event: no object_attributes".into());
            };
            if !mr.action.as_deref().is_some_and(|a| MR_ACTIONS.contains(&a)) {
                return Ok(None);
            }
            let host = project
                .web_url
                .as_deref()
                .map(|u| repo_key(u).split('/').next().unwrap_or_default().to_string())
                .unwrap_or_default();
            Ok(Some(Change::MergeRequest {
                host,
                project_id: mr
                    .target_project_id
                    .or(project.id)
                    .map(|i| i.to_string())
                    .unwrap_or_default(),
                project_path: project
                    .path_with_namespace
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
            }))
        }
        _ => Ok(None),
    }
}

/// The host of a GitLab API base URL (`https://gitlab.com/` when empty, as Argo CD).
fn gitlab_host(api: &str) -> String {
    host_of(api, "https://gitlab.com/")
}

/// Whether the `pullRequest.gitlab` generator `gl` watches the project of `change`.
pub(super) fn watches(gl: &PullRequestGitlab, change: &Change) -> bool {
    let Change::MergeRequest {
        host,
        project_id,
        project_path,
    } = change
    else {
        return false;
    };
    let project = gl.project.trim();
    (templated(project)
        || (!project_id.is_empty() && project == project_id)
        || (!project_path.is_empty() && project.eq_ignore_ascii_case(project_path)))
        && (templated(&gl.api) || gitlab_host(&gl.api) == *host)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::{
        super::tests::{fixture, set},
        *,
    };
    use crate::{sources::GitHub, webhook::affects};

    /// GitLab's documented payloads (tests/fixtures/webhooks/gitlab).
    #[test]
    fn gitlab_pushes_tags_and_merge_requests_parse_as_argo_cd_reads_them() {
        let push = parse_gitlab_event("Push Hook", &fixture("gitlab", "push.json"))
            .unwrap()
            .unwrap();
        let Change::Push {
            repos,
            revision,
            touched_head,
        } = &push
        else {
            panic!("{push:?}")
        };
        assert_eq!((revision.as_str(), *touched_head), ("master", true));
        assert!(
            repos.contains(&"example.com/mike/diaspora".to_string()),
            "{repos:?}"
        );
        let dirs = |url: &str, revision: &str| {
            set(json!([{"git": {"repoURL": url, "revision": revision, "directories": [{"path": "*"}]}}]))
        };
        assert!(affects(&dirs("git@example.com:mike/diaspora.git", "HEAD"), &push));
        assert!(affects(
            &dirs("https://example.com/mike/diaspora", "master"),
            &push
        ));
        assert!(!affects(&dirs("https://example.com/mike/other", "master"), &push));
        assert!(!affects(
            &dirs("https://example.com/mike/diaspora", "release"),
            &push
        ));

        let tag = parse_gitlab_event("Tag Push Hook", &fixture("gitlab", "tag_push.json"))
            .unwrap()
            .unwrap();
        assert!(affects(
            &dirs("http://example.com/jsmith/example.git", "v1.0.0"),
            &tag
        ));
        assert!(!affects(
            &dirs("http://example.com/jsmith/example.git", "HEAD"),
            &tag
        ));

        let mr = parse_gitlab_event("Merge Request Hook", &fixture("gitlab", "merge_request.json"))
            .unwrap()
            .unwrap();
        assert_eq!(
            mr,
            Change::MergeRequest {
                host: "example.com".into(),
                project_id: "1".into(),
                project_path: "gitlabhq/gitlab-test".into(),
            }
        );
        let gitlab = |project: &str, api: &str| {
            set(json!([{"pullRequest": {"gitlab": {"project": project, "api": api}}}]))
        };
        // By id (Argo CD's only match) and, unlike Argo CD, by path; on the project's host only.
        assert!(affects(&gitlab("1", "https://example.com/"), &mr));
        assert!(affects(
            &gitlab("GitlabHQ/gitlab-test", "https://example.com"),
            &mr
        ));
        assert!(affects(&gitlab("{{project}}", "https://example.com"), &mr));
        assert!(!affects(&gitlab("2", "https://example.com/"), &mr));
        assert!(!affects(&gitlab("1", ""), &mr), "the default API is gitlab.com");
        assert!(!affects(
            &dirs("http://example.com/gitlabhq/gitlab-test.git", "HEAD"),
            &mr
        ));
        // An action Argo CD does not refresh on; events it does not read.
        assert_eq!(
            parse_gitlab_event(
                "System Hook",
                &fixture("gitlab", "system_merge_request_approved.json")
            )
            .unwrap(),
            None
        );
        assert_eq!(parse_gitlab_event("Note Hook", b"{").unwrap(), None);
        assert!(
            parse_gitlab_event("Push Hook", b"{")
                .unwrap_err()
                .starts_with("malformed GitLab Push Hook event")
        );
    }

    #[test]
    fn the_gitlab_token_is_compared_whole() {
        let hooks = Webhooks::new(None, Arc::new(GitHub::new(None, std::time::Duration::ZERO)));
        assert!(!hooks.verify_gitlab(Some("s3cret")), "no secret: refused");
        hooks.set_gitlab_secret(b"s3cret".to_vec());
        assert!(hooks.verify_gitlab(Some("s3cret")));
        for wrong in ["s3cre", "s3cret ", "", "S3CRET"] {
            assert!(!hooks.verify_gitlab(Some(wrong)), "{wrong:?}");
        }
        assert!(!hooks.verify_gitlab(None));
    }
}
