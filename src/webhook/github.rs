//! GitHub webhooks: `X-GitHub-Event` (`push`, `pull_request`, `ping`), verified by
//! `X-Hub-Signature-256`.
//!
//! Stage: trigger (pure: parsing and verification; the endpoint in `mod.rs` does the I/O). Every
//! request must carry a valid `X-Hub-Signature-256` (HMAC-SHA256 of the body with the shared
//! secret, compared in constant time); without a configured secret every request is refused. A
//! `push` becomes a [`Change::Push`] of the repository's web, clone, ssh and git URLs; a
//! `pull_request` with an action that changes what a generator generates becomes a
//! [`Change::PullRequest`] of owner/repo on the repository's API host.

use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use super::{Change, Refusal, Webhooks, header, hmac_verifies, host_of, push_change, templated};
use crate::crd::PullRequestGithub;

impl Webhooks {
    /// Whether `signature` (`sha256=<hex>`) is the HMAC-SHA256 of `body` (constant-time).
    pub fn verify(&self, body: &[u8], signature: Option<&str>) -> bool {
        let (Some(secret), Some(sig)) = (&self.secret, signature) else {
            return false;
        };
        sig.strip_prefix("sha256=")
            .is_some_and(|tag| hmac_verifies(secret, body, tag))
    }

    /// A GitHub request: verified, its event (`X-GitHub-Event`).
    pub(super) fn receive_github(&self, headers: &HeaderMap, body: &[u8]) -> Result<String, Refusal> {
        if self.secret.is_none() {
            return Err((
                StatusCode::UNAUTHORIZED,
                "no webhook secret is configured (--webhook-secret or argocd-secret webhook.github.secret); every event is refused".into(),
            ));
        }
        if !self.verify(body, header(headers, "x-hub-signature-256")) {
            return Err((
                StatusCode::UNAUTHORIZED,
                "missing or invalid X-Hub-Signature-256".into(),
            ));
        }
        header(headers, "x-github-event").map(str::to_string).ok_or((
            StatusCode::BAD_REQUEST,
            "Unknown webhook event (no X-GitHub-Event header)".into(),
        ))
    }
}

/// `sha256=<hex>` for `body` under `secret` (what GitHub sends; for clients and tests).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // An HMAC accepts keys of any length.
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A repository as GitHub's events carry it (Gitea's, Forgejo's and Gogs's copy the shape).
#[derive(Debug, Deserialize)]
pub(super) struct Repository {
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) owner: Option<Owner>,
    /// `owner/name`.
    #[serde(default)]
    pub(super) full_name: Option<String>,
    #[serde(default)]
    pub(super) html_url: Option<String>,
    #[serde(default)]
    clone_url: Option<String>,
    #[serde(default)]
    ssh_url: Option<String>,
    #[serde(default)]
    git_url: Option<String>,
    /// API URL of the repository (`https://api.github.com/repos/o/r`).
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    default_branch: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Owner {
    #[serde(default)]
    pub(super) login: Option<String>,
    #[serde(default)]
    name: Option<String>,
    /// Gogs's name of the owner (Gitea sends it too).
    #[serde(default)]
    pub(super) username: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PushEvent {
    #[serde(rename = "ref")]
    ref_: String,
    repository: Repository,
}

#[derive(Debug, Deserialize)]
pub(super) struct PullRequestEvent {
    pub(super) action: String,
    pub(super) repository: Repository,
}

/// The API host of a GitHub API base URL (`https://api.github.com/` when empty).
fn api_host(api: &str) -> String {
    host_of(api, "https://api.github.com")
}

/// Pull-request actions that change what a pull-request generator generates.
const PR_ACTIONS: &[&str] = &[
    "opened",
    "closed",
    "reopened",
    "synchronize",
    "labeled",
    "unlabeled",
    "edited",
    "ready_for_review",
    "converted_to_draft",
];

/// A GitHub-shaped `push` (GitHub's, and Gitea's, Forgejo's and Gogs's, which copy it); `forge`
/// prefixes the error (`"Gitea "`, or empty for GitHub).
pub(super) fn parse_push(forge: &str, body: &[u8]) -> Result<Change, String> {
    let e: PushEvent =
        serde_json::from_slice(body).map_err(|e| format!("malformed {forge}push event: {e}"))?;
    let r = &e.repository;
    Ok(push_change(
        &e.ref_,
        [&r.html_url, &r.clone_url, &r.ssh_url, &r.git_url],
        r.default_branch.as_deref(),
    ))
}

/// Parse a GitHub event into the change it announces (None: nothing to refresh).
pub fn parse_event(event: &str, body: &[u8]) -> Result<Option<Change>, String> {
    match event {
        "push" => parse_push("", body).map(Some),
        "pull_request" => {
            let e: PullRequestEvent =
                serde_json::from_slice(body).map_err(|e| format!("malformed pull_request event: {e}"))?;
            if !PR_ACTIONS.contains(&e.action.as_str()) {
                return Ok(None);
            }
            let r = &e.repository;
            let owner = r
                .owner
                .as_ref()
                .and_then(|o| o.login.clone().or_else(|| o.name.clone()))
                .unwrap_or_default();
            Ok(Some(Change::PullRequest {
                api_host: r
                    .url
                    .as_deref()
                    .map(api_host)
                    .unwrap_or_else(|| "api.github.com".into()),
                owner: owner.to_ascii_lowercase(),
                repo: r.name.to_ascii_lowercase(),
            }))
        }
        _ => Ok(None),
    }
}

/// Whether the `pullRequest.github` generator `gh` watches the repository of `change`.
pub(super) fn watches(gh: &PullRequestGithub, change: &Change) -> bool {
    let Change::PullRequest {
        api_host: host,
        owner,
        repo,
    } = change
    else {
        return false;
    };
    (templated(&gh.owner) || gh.owner.eq_ignore_ascii_case(owner))
        && (templated(&gh.repo) || gh.repo.eq_ignore_ascii_case(repo))
        && (templated(&gh.api) || api_host(&gh.api) == *host)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::{super::tests::set, *};
    use crate::{sources::GitHub, webhook::affects};

    fn push(url: &str, r#ref: &str, default_branch: &str) -> Change {
        let body = json!({"ref": r#ref, "repository": {"html_url": url, "clone_url": format!("{url}.git"),
                          "ssh_url": "git@github.com:Org/Repo.git", "default_branch": default_branch}});
        parse_event("push", body.to_string().as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn a_push_refreshes_git_generators_of_that_repository_and_revision() {
        let git = |url: &str, rev: &str| {
            set(json!([{"git": {"repoURL": url, "revision": rev, "directories": [{"path": "*"}]}}]))
        };
        let main = push("https://github.com/Org/Repo", "refs/heads/main", "main");
        assert!(affects(&git("git@github.com:org/repo.git", "HEAD"), &main));
        assert!(affects(&git("https://github.com/org/repo", ""), &main));
        assert!(affects(&git("https://github.com/org/repo", "main"), &main));
        assert!(affects(
            &git("https://github.com/org/repo", "refs/heads/main"),
            &main
        ));
        assert!(!affects(&git("https://github.com/org/repo", "release"), &main));
        assert!(!affects(&git("https://github.com/org/other", "HEAD"), &main));
        // A push to another branch does not touch HEAD.
        let feature = push("https://github.com/org/repo", "refs/heads/feat/x", "main");
        assert!(!affects(&git("https://github.com/org/repo", "HEAD"), &feature));
        assert!(affects(&git("https://github.com/org/repo", "feat/x"), &feature));
        // Tags.
        let tag = push("https://github.com/org/repo", "refs/tags/v1", "main");
        assert!(affects(&git("https://github.com/org/repo", "v1"), &tag));
        // Inside a matrix, and with a templated URL (interpolated from the first child).
        let nested = set(json!([{"matrix": {"generators": [
            {"list": {"elements": [{"u": "https://github.com/org/repo"}]}},
            {"git": {"repoURL": "{{u}}", "revision": "HEAD", "files": [{"path": "x"}]}}]}}]));
        assert!(affects(&nested, &main));
        assert!(!affects(&set(json!([{"list": {"elements": []}}])), &main));
    }

    #[test]
    fn a_pull_request_event_refreshes_generators_of_that_owner_repo_and_api() {
        let event = |action: &str, api_url: &str| {
            let body = json!({"action": action, "repository": {"name": "Repo", "owner": {"login": "Org"}, "url": api_url}});
            parse_event("pull_request", body.to_string().as_bytes()).unwrap()
        };
        let pr = |owner: &str, repo: &str, api: &str| {
            set(json!([{"pullRequest": {"github": {"owner": owner, "repo": repo, "api": api}}}]))
        };
        let opened = event("opened", "https://api.github.com/repos/Org/Repo").unwrap();
        assert!(affects(&pr("org", "repo", ""), &opened));
        assert!(affects(&pr("ORG", "Repo", "https://api.github.com/"), &opened));
        assert!(!affects(&pr("org", "other", ""), &opened));
        assert!(!affects(
            &pr("org", "repo", "https://ghe.example.com/api/v3"),
            &opened
        ));
        let ghe = event("synchronize", "https://ghe.example.com/api/v3/repos/Org/Repo").unwrap();
        assert!(affects(
            &pr("org", "repo", "https://ghe.example.com/api/v3"),
            &ghe
        ));
        assert!(affects(&pr("org", "repo", ""), &opened));
        // Actions that change nothing generated are ignored.
        assert_eq!(event("assigned", "https://api.github.com/repos/Org/Repo"), None);
        assert!(event("ready_for_review", "https://api.github.com/repos/Org/Repo").is_some());
        // A push is not a pull-request change.
        assert!(!affects(
            &pr("org", "repo", ""),
            &push("https://github.com/org/repo", "refs/heads/main", "main")
        ));
    }

    #[test]
    fn signatures_are_hmac_sha256_of_the_body() {
        let hooks = Webhooks::new(
            Some(b"s3cret".to_vec()),
            Arc::new(GitHub::new(None, std::time::Duration::ZERO)),
        );
        let body = br#"{"zen": "x"}"#;
        let good = sign(b"s3cret", body);
        assert!(hooks.verify(body, Some(&good)));
        assert!(!hooks.verify(b"{}", Some(&good)), "another body");
        assert!(!hooks.verify(body, Some(&sign(b"other", body))), "another secret");
        assert!(!hooks.verify(body, None), "unsigned");
        assert!(!hooks.verify(body, Some("sha1=abc")), "not sha256");
        assert!(!hooks.verify(body, Some("sha256=zz")), "not hex");
        // GitHub's documented example (docs.github.com, "Validating webhook deliveries").
        assert_eq!(
            sign(b"It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        let unset = Webhooks::new(None, Arc::new(GitHub::new(None, std::time::Duration::ZERO)));
        assert!(
            !unset.verify(body, Some(&good)),
            "no secret configured: nothing verifies"
        );
    }
}
