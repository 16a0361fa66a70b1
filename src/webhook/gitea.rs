//! Gitea, Forgejo and Gogs webhooks: `X-Gitea-Event`, `X-Forgejo-Event` or `X-Gogs-Event`
//! (`push`, `pull_request`), verified by the hex HMAC-SHA256 of the body in `X-Forgejo-Signature`,
//! `X-Gitea-Signature` or `X-Gogs-Signature`.
//!
//! Stage: trigger (pure: parsing and verification). The secret is `--webhook-gitea-secret`, else
//! `webhook.gitea.secret`, else Argo CD's `webhook.gogs.secret` of `argocd-secret`; without one
//! every such event is refused. These forges also send GitHub's headers (`X-GitHub-Event`,
//! `X-Hub-Signature-256`), so the endpoint asks this module first, as Argo CD does. A `push`
//! becomes a [`Change::Push`] of the repository's web, clone and SSH URLs; a `pull_request` whose
//! action changes what `pullRequest.gitea` generates (`opened`, `closed`, `reopened`, `edited`,
//! `synchronized`, `label_updated`, `label_cleared`) becomes a [`Change::RepoPullRequest`] of
//! `owner/repo` on the repository's host. Argo CD's ApplicationSet webhook reads no Gitea event.

use axum::http::{HeaderMap, StatusCode};

use super::{
    Change, Forge, Refusal, Watched, Webhooks, field, header, hmac_verifies, host_of, repo_key, spec_json,
    unconfigured,
};
use crate::crd::PullRequestGenerator;

/// The event header of a Gitea, Forgejo or Gogs request, if it is one.
pub(super) fn event(headers: &HeaderMap) -> Option<&str> {
    ["x-forgejo-event", "x-gitea-event", "x-gogs-event"]
        .into_iter()
        .find_map(|h| header(headers, h))
}

/// `<hex>` HMAC-SHA256 of `body` under `secret`, as Gitea, Forgejo and Gogs sign (for clients
/// and tests).
pub fn sign_hex(secret: &[u8], body: &[u8]) -> String {
    super::sign(secret, body)
        .trim_start_matches("sha256=")
        .to_string()
}

impl Webhooks {
    /// Accept Gitea, Forgejo and Gogs events signed with `secret` (`webhook.gitea.secret` or
    /// Argo CD's `webhook.gogs.secret`; an empty one is ignored, and only the first one set
    /// counts).
    pub fn set_gitea_secret(&self, secret: Vec<u8>) {
        if !secret.is_empty() {
            let _ = self.gitea_secret.set(secret);
        }
    }

    /// A Gitea, Forgejo or Gogs request: verified, its event.
    pub(super) fn receive_gitea(
        &self,
        event: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<String, Refusal> {
        let Some(secret) = self.gitea_secret.get() else {
            return Err(unconfigured(
                "Gitea webhook secret",
                "--webhook-gitea-secret or argocd-secret webhook.gitea.secret or webhook.gogs.secret",
            ));
        };
        let signature = ["x-forgejo-signature", "x-gitea-signature", "x-gogs-signature"]
            .into_iter()
            .find_map(|h| header(headers, h));
        if !signature.is_some_and(|tag| hmac_verifies(secret, body, tag)) {
            return Err((
                StatusCode::UNAUTHORIZED,
                "missing or invalid X-Gitea-Signature (or X-Forgejo-Signature, X-Gogs-Signature)".into(),
            ));
        }
        Ok(event.to_string())
    }
}

/// Pull-request actions that change what `pullRequest.gitea` generates (number, title, branches,
/// head SHA, labels, author): Gitea's `HookIssueAction`s other than assignment, milestones and
/// reviews.
const PR_ACTIONS: &[&str] = &[
    "opened",
    "closed",
    "reopened",
    "edited",
    "synchronized",
    "label_updated",
    "label_cleared",
];

/// Parse a Gitea, Forgejo or Gogs event into the change it announces (None: nothing to refresh).
///
/// # Errors
/// A malformed `push` or `pull_request` body, with the JSON error.
pub fn parse_gitea_event(event: &str, body: &[u8]) -> Result<Option<Change>, String> {
    match event {
        "push" => super::github::parse_push("Gitea ", body).map(Some),
        "pull_request" => {
            let e: super::github::PullRequestEvent = serde_json::from_slice(body)
                .map_err(|e| format!("malformed Gitea pull_request event: {e}"))?;
            if !PR_ACTIONS.contains(&e.action.as_str()) {
                return Ok(None);
            }
            let r = e.repository;
            let owner = r
                .owner
                .and_then(|o| o.login.or(o.username))
                .filter(|o| !o.is_empty())
                .or_else(|| {
                    r.full_name
                        .as_deref()
                        .and_then(|f| f.split_once('/'))
                        .map(|(o, _)| o.to_string())
                })
                .unwrap_or_default();
            if owner.is_empty() || r.name.is_empty() {
                return Err("malformed Gitea pull_request event: no repository owner or name".into());
            }
            let host = r
                .html_url
                .as_deref()
                .map(|u| repo_key(u).split('/').next().unwrap_or_default().to_string())
                .unwrap_or_default();
            Ok(Some(Change::RepoPullRequest {
                forge: Forge::Gitea,
                host,
                repo: format!("{owner}/{}", r.name).to_ascii_lowercase(),
            }))
        }
        _ => Ok(None),
    }
}

/// The repository a `pullRequest.gitea` generator watches: `owner/repo` on the host of `api`.
pub(super) fn watched(p: &PullRequestGenerator) -> Option<Watched> {
    let spec = spec_json(&p.gitea)?;
    let api = field(&spec, "api");
    Some(Watched {
        forge: Forge::Gitea,
        host: if api.trim().is_empty() || super::templated(api) {
            String::new()
        } else {
            host_of(api, "")
        },
        parts: vec![field(&spec, "owner").into(), field(&spec, "repo").into()],
    })
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use axum::http::HeaderValue;
    use serde_json::json;

    use super::{
        super::tests::{assert_git_refreshes, fixture, set},
        *,
    };
    use crate::{sources::GitHub, webhook::affects};

    fn hooks() -> Arc<Webhooks> {
        let hooks = Webhooks::new(None, Arc::new(GitHub::new(None, Duration::ZERO)));
        hooks.set_gitea_secret(b"gitea-secret".to_vec());
        hooks
    }

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    /// Gitea's documented push (tests/fixtures/webhooks/gitea/push.json), as Gitea sends it.
    #[test]
    fn a_gitea_push_refreshes_the_git_generators_of_that_repository_and_revision() {
        let change = parse_gitea_event("push", &fixture("gitea", "push.json"))
            .unwrap()
            .unwrap();
        assert_git_refreshes(
            &change,
            &[
                ("https://gitea.example.com/platform/gitops.git", "HEAD", true),
                ("git@gitea.example.com:Platform/GitOps.git", "main", true),
                ("ssh://git@gitea.example.com:2222/platform/gitops", "", true),
                ("https://gitea.example.com/platform/gitops.git", "release", false),
                ("https://gitea.example.com/platform/other.git", "HEAD", false),
                ("https://github.com/platform/gitops.git", "HEAD", false),
            ],
        );
    }

    #[test]
    fn a_gitea_pull_request_refreshes_the_gitea_generators_of_that_owner_repo_and_host() {
        let change = parse_gitea_event("pull_request", &fixture("gitea", "pull_request_opened.json"))
            .unwrap()
            .unwrap();
        assert_eq!(
            change,
            Change::RepoPullRequest {
                forge: Forge::Gitea,
                host: "gitea.example.com".into(),
                repo: "platform/gitops".into()
            }
        );
        let gitea = |owner: &str, repo: &str, api: &str| {
            set(json!([{"pullRequest": {"gitea": {"owner": owner, "repo": repo, "api": api}}}]))
        };
        assert!(affects(
            &gitea("Platform", "GitOps", "https://gitea.example.com/"),
            &change
        ));
        assert!(affects(&gitea("{{owner}}", "gitops", "{{api}}"), &change));
        assert!(!affects(
            &gitea("platform", "other", "https://gitea.example.com/"),
            &change
        ));
        assert!(!affects(
            &gitea("platform", "gitops", "https://codeberg.org/"),
            &change
        ));
        // A GitHub generator of the same owner/repo is not a Gitea one.
        assert!(!affects(
            &set(json!([{"pullRequest": {"github": {"owner": "platform", "repo": "gitops"}}}])),
            &change
        ));
        // Synchronized (new commits) and labels refresh; assignment and reviews do not.
        let with_action = |action: &str| {
            let mut body: serde_json::Value =
                serde_json::from_slice(&fixture("gitea", "pull_request_opened.json")).unwrap();
            body["action"] = json!(action);
            parse_gitea_event("pull_request", body.to_string().as_bytes()).unwrap()
        };
        assert!(with_action("synchronized").is_some());
        assert!(with_action("label_updated").is_some());
        assert_eq!(with_action("assigned"), None);
        assert_eq!(with_action("review_requested"), None);
        assert_eq!(change.listings(), [(Forge::Gitea, "platform/gitops".to_string())]);
    }

    #[test]
    fn gitea_events_it_does_not_read_are_ignored_and_malformed_ones_are_errors() {
        assert_eq!(parse_gitea_event("issues", b"{").unwrap(), None);
        assert_eq!(parse_gitea_event("create", b"not json").unwrap(), None);
        for event in ["push", "pull_request"] {
            for body in [&b"{"[..], b"[]", b"{\"ref\": 7}", b"\xff\xfe", b""] {
                let err = parse_gitea_event(event, body).unwrap_err();
                assert!(
                    err.starts_with(&format!("malformed Gitea {event} event")),
                    "{err}"
                );
            }
        }
        let nameless = json!({"action": "opened", "repository": {"name": ""}}).to_string();
        assert!(parse_gitea_event("pull_request", nameless.as_bytes()).is_err());
    }

    #[test]
    fn gitea_forgejo_and_gogs_signatures_are_hex_hmac_sha256_of_the_body() {
        let hooks = hooks();
        let body = fixture("gitea", "push.json");
        let good = sign_hex(b"gitea-secret", &body);
        for name in ["x-gitea-signature", "x-forgejo-signature", "x-gogs-signature"] {
            assert_eq!(
                hooks
                    .receive_gitea("push", &headers(&[(name, good.clone())]), &body)
                    .unwrap(),
                "push",
                "{name}"
            );
        }
        let refused = |h: HeaderMap, body: &[u8]| hooks.receive_gitea("push", &h, body).unwrap_err().0;
        assert_eq!(refused(headers(&[]), &body), StatusCode::UNAUTHORIZED, "unsigned");
        assert_eq!(
            refused(
                headers(&[("x-gitea-signature", sign_hex(b"other", &body))]),
                &body
            ),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            refused(headers(&[("x-gitea-signature", good.clone())]), b"{}"),
            StatusCode::UNAUTHORIZED,
            "another body"
        );
        assert_eq!(
            refused(headers(&[("x-gitea-signature", "zz".into())]), &body),
            StatusCode::UNAUTHORIZED,
            "not hex"
        );
        // GitHub's `sha256=` form is not Gitea's.
        assert_eq!(
            refused(headers(&[("x-gitea-signature", format!("sha256={good}"))]), &body),
            StatusCode::UNAUTHORIZED
        );
        let unset = Webhooks::new(None, Arc::new(GitHub::new(None, Duration::ZERO)));
        let (status, message) = unset
            .receive_gitea("push", &headers(&[("x-gitea-signature", good)]), &body)
            .unwrap_err();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(message.contains("webhook.gogs.secret"), "{message}");
    }
}
