//! Bitbucket webhooks (`X-Event-Key`): Bitbucket Server / Data Center and Bitbucket Cloud.
//!
//! Stage: trigger (pure: parsing and verification). A request with `X-Hook-UUID` (which Bitbucket
//! Cloud always sends) or a Cloud event key (`repo:push`, `pullrequest:*`) is Bitbucket Cloud's;
//! any other `X-Event-Key` is Bitbucket Server's. Each is verified its forge's way and refused
//! while its forge has nothing configured:
//!
//! - **Bitbucket Server**: `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>` with
//!   `webhook.bitbucketserver.secret` (Argo CD's key). `repo:refs_changed` becomes a
//!   [`Change::Push`] per changed ref of the repository's clone URLs; `pr:opened`,
//!   `pr:from_ref_updated`, `pr:modified`, `pr:merged`, `pr:declined` and `pr:deleted` a
//!   [`Change::RepoPullRequest`] of `project/repo` (project key, slug of the target repository)
//!   on the server's host; `diagnostics:ping` (the "Test connection" button) answers `pong`.
//! - **Bitbucket Cloud**: `X-Hook-UUID` must be `webhook.bitbucket.uuid` (Argo CD's check) when
//!   that is set, and `X-Hub-Signature` must be the body's HMAC-SHA256 under
//!   `webhook.bitbucket.secret` (appset's key: Bitbucket Cloud signs with a webhook's secret,
//!   which Argo CD does not read) when that is set; both when both are. `repo:push` becomes a
//!   [`Change::Push`] per pushed branch or tag; `pullrequest:created`, `pullrequest:updated`
//!   (new commits included), `pullrequest:fulfilled` (merged) and `pullrequest:rejected`
//!   (declined) a [`Change::RepoPullRequest`] of `workspace/repo`. Approvals, change requests and
//!   comments change nothing a pull-request generator generates and are ignored.
//!
//! Neither payload says which branch is the default one (Bitbucket Cloud's does when the
//! repository object carries `mainbranch`): without it a push counts as touching HEAD, as in
//! Argo CD, so the sets reading `HEAD` of that repository refresh too. Argo CD's ApplicationSet
//! webhook reads no Bitbucket event.

use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::{
    Change, Forge, Refusal, Watched, Webhooks, field, header, hmac_verifies, host_of, repo_key, same_secret,
    spec_json, templated, unconfigured,
};
use crate::crd::PullRequestGenerator;

/// Whether `event` (`X-Event-Key`) names a Bitbucket Cloud event by itself (`repo:push`,
/// `pullrequest:*`; Bitbucket Server's are `repo:refs_changed` and `pr:*`). The endpoint takes a
/// request as Cloud's when this holds or it carries `X-Hook-UUID`.
pub fn is_bitbucket_cloud_event(event: &str) -> bool {
    event == "repo:push" || event.starts_with("pullrequest:")
}

impl Webhooks {
    /// Accept Bitbucket Server events signed with `secret` (Argo CD's
    /// `webhook.bitbucketserver.secret`; an empty one is ignored, the first one set counts).
    pub fn set_bitbucket_server_secret(&self, secret: Vec<u8>) {
        if !secret.is_empty() {
            let _ = self.bitbucket_server_secret.set(secret);
        }
    }

    /// Accept Bitbucket Cloud events only with `X-Hook-UUID: uuid` (Argo CD's
    /// `webhook.bitbucket.uuid`; an empty one is ignored, the first one set counts).
    pub fn set_bitbucket_uuid(&self, uuid: Vec<u8>) {
        if !uuid.is_empty() {
            let _ = self.bitbucket_uuid.set(uuid);
        }
    }

    /// Accept Bitbucket Cloud events only when signed with `secret` (`webhook.bitbucket.secret`;
    /// an empty one is ignored, the first one set counts).
    pub fn set_bitbucket_secret(&self, secret: Vec<u8>) {
        if !secret.is_empty() {
            let _ = self.bitbucket_secret.set(secret);
        }
    }

    /// A Bitbucket request: which Bitbucket, verified, its event (`X-Event-Key`).
    pub(super) fn receive_bitbucket(
        &self,
        event: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(Forge, String), Refusal> {
        let signed = |secret: &[u8]| {
            header(headers, "x-hub-signature")
                .and_then(|s| s.strip_prefix("sha256="))
                .is_some_and(|tag| hmac_verifies(secret, body, tag))
        };
        let cloud = header(headers, "x-hook-uuid").is_some() || is_bitbucket_cloud_event(event);
        if !cloud {
            let Some(secret) = self.bitbucket_server_secret.get() else {
                return Err(unconfigured(
                    "Bitbucket Server webhook secret",
                    "--webhook-bitbucket-server-secret or argocd-secret webhook.bitbucketserver.secret",
                ));
            };
            if !signed(secret) {
                return Err((
                    StatusCode::UNAUTHORIZED,
                    "missing or invalid X-Hub-Signature".into(),
                ));
            }
            return Ok((Forge::BitbucketServer, event.to_string()));
        }
        let (uuid, secret) = (self.bitbucket_uuid.get(), self.bitbucket_secret.get());
        if uuid.is_none() && secret.is_none() {
            return Err(unconfigured(
                "Bitbucket Cloud webhook UUID or secret",
                "--webhook-bitbucket-uuid, --webhook-bitbucket-secret or argocd-secret webhook.bitbucket.uuid, webhook.bitbucket.secret",
            ));
        }
        if let Some(uuid) = uuid {
            let given = header(headers, "x-hook-uuid").unwrap_or_default();
            if !same_secret(uuid, given.as_bytes()) {
                return Err((StatusCode::UNAUTHORIZED, "missing or invalid X-Hook-UUID".into()));
            }
        }
        if let Some(secret) = secret
            && !signed(secret)
        {
            return Err((
                StatusCode::UNAUTHORIZED,
                "missing or invalid X-Hub-Signature".into(),
            ));
        }
        Ok((Forge::BitbucketCloud, event.to_string()))
    }
}

// ---- Bitbucket Server ---------------------------------------------------------------------------

#[derive(Debug, Deserialize, Default)]
struct ServerRepository {
    #[serde(default)]
    slug: String,
    #[serde(default)]
    project: Option<ServerProject>,
    #[serde(default)]
    links: Option<ServerLinks>,
}

#[derive(Debug, Deserialize, Default)]
struct ServerProject {
    #[serde(default)]
    key: String,
}

#[derive(Debug, Deserialize, Default)]
struct ServerLinks {
    #[serde(default)]
    clone: Vec<Link>,
    #[serde(rename = "self", default)]
    self_: Vec<Link>,
}

#[derive(Debug, Deserialize, Default)]
struct Link {
    #[serde(default)]
    href: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RefsChanged {
    repository: ServerRepository,
    #[serde(default)]
    changes: Vec<RefChange>,
}

#[derive(Debug, Deserialize)]
struct RefChange {
    #[serde(rename = "ref", default)]
    ref_: Option<RefId>,
    #[serde(rename = "refId", default)]
    ref_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RefId {
    id: String,
}

#[derive(Debug, Deserialize)]
struct ServerPullRequestEvent {
    #[serde(rename = "pullRequest")]
    pull_request: ServerPullRequest,
}

#[derive(Debug, Deserialize)]
struct ServerPullRequest {
    #[serde(rename = "toRef")]
    to_ref: ServerRef,
}

#[derive(Debug, Deserialize)]
struct ServerRef {
    repository: ServerRepository,
}

/// Bitbucket Server's pull-request events that change what `pullRequest.bitbucketServer`
/// generates.
const SERVER_PR_EVENTS: &[&str] = &[
    "pr:opened",
    "pr:from_ref_updated",
    "pr:modified",
    "pr:merged",
    "pr:declined",
    "pr:deleted",
];

/// A push of each `revisions` (`refs/heads/x`, `x`) to the repository known by `repos`, every
/// one counting as touching HEAD unless `default_branch` says otherwise.
fn pushes(repos: Vec<String>, refs: Vec<String>, default_branch: Option<&str>) -> Option<Change> {
    let mut changes: Vec<Change> = refs
        .into_iter()
        .map(|r| {
            let revision = r
                .strip_prefix("refs/heads/")
                .or_else(|| r.strip_prefix("refs/tags/"))
                .unwrap_or(&r)
                .to_string();
            Change::Push {
                repos: repos.clone(),
                touched_head: default_branch.is_none_or(|d| d == revision),
                revision,
            }
        })
        .collect();
    match changes.len() {
        0 => None,
        1 => changes.pop(),
        _ => Some(Change::Several(changes)),
    }
}

/// Parse a Bitbucket Server event into the change it announces (None: nothing to refresh).
///
/// # Errors
/// A malformed `repo:refs_changed` or `pr:*` body, with the JSON error.
pub fn parse_bitbucket_server_event(event: &str, body: &[u8]) -> Result<Option<Change>, String> {
    let malformed = |e: serde_json::Error| format!("malformed Bitbucket Server {event} event: {e}");
    if event == "repo:refs_changed" {
        let e: RefsChanged = serde_json::from_slice(body).map_err(malformed)?;
        let repos = e
            .repository
            .links
            .unwrap_or_default()
            .clone
            .into_iter()
            .filter_map(|l| l.href)
            .map(|u| repo_key(&u))
            .collect();
        let refs = e
            .changes
            .into_iter()
            .filter_map(|c| c.ref_.map(|r| r.id).or(c.ref_id))
            .collect();
        return Ok(pushes(repos, refs, None));
    }
    if !SERVER_PR_EVENTS.contains(&event) {
        return Ok(None);
    }
    let e: ServerPullRequestEvent = serde_json::from_slice(body).map_err(malformed)?;
    let r = e.pull_request.to_ref.repository;
    let project = r.project.map(|p| p.key).unwrap_or_default();
    if project.is_empty() || r.slug.is_empty() {
        return Err(format!(
            "malformed Bitbucket Server {event} event: no target project key or repository slug"
        ));
    }
    let links = r.links.unwrap_or_default();
    let host = links
        .self_
        .into_iter()
        .chain(links.clone)
        .filter_map(|l| l.href)
        .find(|u| u.starts_with("http"))
        .map(|u| repo_key(&u).split('/').next().unwrap_or_default().to_string())
        .unwrap_or_default();
    Ok(Some(Change::RepoPullRequest {
        forge: Forge::BitbucketServer,
        host,
        repo: format!("{project}/{}", r.slug).to_ascii_lowercase(),
    }))
}

// ---- Bitbucket Cloud ----------------------------------------------------------------------------

#[derive(Debug, Deserialize, Default)]
struct CloudRepository {
    #[serde(default)]
    full_name: Option<String>,
    #[serde(default)]
    links: Option<CloudLinks>,
    #[serde(default)]
    mainbranch: Option<CloudBranch>,
}

#[derive(Debug, Deserialize, Default)]
struct CloudLinks {
    #[serde(default)]
    html: Option<Link>,
}

#[derive(Debug, Deserialize, Default)]
struct CloudBranch {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CloudPush {
    repository: CloudRepository,
    push: CloudChanges,
}

#[derive(Debug, Deserialize)]
struct CloudChanges {
    #[serde(default)]
    changes: Vec<CloudChange>,
}

#[derive(Debug, Deserialize)]
struct CloudChange {
    /// The ref after the push (null when it was deleted).
    #[serde(default)]
    new: Option<CloudBranch>,
    /// The ref before the push (null when it was created).
    #[serde(default)]
    old: Option<CloudBranch>,
}

#[derive(Debug, Deserialize)]
struct CloudPullRequestEvent {
    #[serde(default)]
    repository: Option<CloudRepository>,
    pullrequest: CloudPullRequest,
}

#[derive(Debug, Deserialize)]
struct CloudPullRequest {
    #[serde(default)]
    destination: Option<CloudEnd>,
}

#[derive(Debug, Deserialize)]
struct CloudEnd {
    #[serde(default)]
    repository: Option<CloudRepository>,
}

/// Bitbucket Cloud's pull-request events that change what `pullRequest.bitbucket` generates.
const CLOUD_PR_EVENTS: &[&str] = &[
    "pullrequest:created",
    "pullrequest:updated",
    "pullrequest:fulfilled",
    "pullrequest:rejected",
];

/// Parse a Bitbucket Cloud event into the change it announces (None: nothing to refresh).
///
/// # Errors
/// A malformed `repo:push` or `pullrequest:*` body, with the JSON error.
pub fn parse_bitbucket_cloud_event(event: &str, body: &[u8]) -> Result<Option<Change>, String> {
    let malformed = |e: serde_json::Error| format!("malformed Bitbucket Cloud {event} event: {e}");
    if event == "repo:push" {
        let e: CloudPush = serde_json::from_slice(body).map_err(malformed)?;
        let r = e.repository;
        let mut repos: Vec<String> = r
            .links
            .and_then(|l| l.html?.href)
            .into_iter()
            .chain(r.full_name.map(|f| format!("https://bitbucket.org/{f}")))
            .map(|u| repo_key(&u))
            .collect();
        repos.dedup();
        let refs = e
            .push
            .changes
            .into_iter()
            .filter_map(|c| c.new.or(c.old)?.name)
            .collect();
        let main = r.mainbranch.and_then(|b| b.name);
        return Ok(pushes(repos, refs, main.as_deref()));
    }
    if !CLOUD_PR_EVENTS.contains(&event) {
        return Ok(None);
    }
    let e: CloudPullRequestEvent = serde_json::from_slice(body).map_err(malformed)?;
    let full_name = e
        .pullrequest
        .destination
        .and_then(|d| d.repository?.full_name)
        .or_else(|| e.repository?.full_name)
        .filter(|f| {
            f.split_once('/')
                .is_some_and(|(o, r)| !o.is_empty() && !r.is_empty())
        })
        .ok_or_else(|| {
            format!("malformed Bitbucket Cloud {event} event: no destination repository full_name")
        })?;
    Ok(Some(Change::RepoPullRequest {
        forge: Forge::BitbucketCloud,
        host: String::new(),
        repo: full_name.to_ascii_lowercase(),
    }))
}

/// The repository a `pullRequest.bitbucketServer` generator watches: `project/repo` on the host
/// of `api`.
pub(super) fn watched_server(p: &PullRequestGenerator) -> Option<Watched> {
    let spec = spec_json(&p.bitbucket_server)?;
    let api = field(&spec, "api");
    Some(Watched {
        forge: Forge::BitbucketServer,
        host: if api.trim().is_empty() || templated(api) {
            String::new()
        } else {
            host_of(api, "")
        },
        parts: vec![field(&spec, "project").into(), field(&spec, "repo").into()],
    })
}

/// The repository a `pullRequest.bitbucket` (Cloud) generator watches: `owner/repo`.
pub(super) fn watched_cloud(p: &PullRequestGenerator) -> Option<Watched> {
    let spec = spec_json(&p.bitbucket)?;
    Some(Watched {
        forge: Forge::BitbucketCloud,
        host: String::new(),
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
    use crate::{
        sources::GitHub,
        webhook::{affects, sign},
    };

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn unconfigured_hooks() -> Arc<Webhooks> {
        Webhooks::new(None, Arc::new(GitHub::new(None, Duration::ZERO)))
    }

    #[test]
    fn a_bitbucket_server_push_refreshes_the_git_generators_of_each_changed_ref() {
        let change = parse_bitbucket_server_event(
            "repo:refs_changed",
            &fixture("bitbucket-server", "refs_changed.json"),
        )
        .unwrap()
        .unwrap();
        // Two refs in one push: main and a tag.
        let Change::Several(changes) = &change else {
            panic!("{change:?}")
        };
        assert_eq!(changes.len(), 2);
        // No default branch in the payload: HEAD counts as touched, as in Argo CD.
        assert_git_refreshes(
            &change,
            &[
                ("https://bitbucket.example.com/scm/plat/gitops.git", "main", true),
                (
                    "ssh://git@bitbucket.example.com:7999/PLAT/gitops.git",
                    "v1.4.0",
                    true,
                ),
                ("https://bitbucket.example.com/scm/plat/gitops.git", "HEAD", true),
                (
                    "https://bitbucket.example.com/scm/plat/gitops.git",
                    "release",
                    false,
                ),
                ("https://bitbucket.example.com/scm/plat/other.git", "main", false),
            ],
        );
    }

    #[test]
    fn bitbucket_server_pull_requests_refresh_the_generators_of_that_project_repo_and_host() {
        let server = |project: &str, repo: &str, api: &str| {
            set(json!([{"pullRequest": {"bitbucketServer": {"project": project, "repo": repo, "api": api}}}]))
        };
        for (event, file) in [
            ("pr:opened", "pr_opened.json"),
            ("pr:from_ref_updated", "pr_from_ref_updated.json"),
            ("pr:merged", "pr_merged.json"),
        ] {
            let change = parse_bitbucket_server_event(event, &fixture("bitbucket-server", file))
                .unwrap()
                .unwrap();
            assert_eq!(
                change,
                Change::RepoPullRequest {
                    forge: Forge::BitbucketServer,
                    host: "bitbucket.example.com".into(),
                    repo: "plat/gitops".into()
                },
                "{event}"
            );
            assert!(affects(
                &server("PLAT", "gitops", "https://bitbucket.example.com"),
                &change
            ));
            assert!(affects(&server("plat", "GitOps", ""), &change));
            assert!(!affects(
                &server("PLAT", "other", "https://bitbucket.example.com"),
                &change
            ));
            assert!(!affects(
                &server("PLAT", "gitops", "https://bitbucket.other.com"),
                &change
            ));
            // A Cloud generator of the same names is another forge.
            assert!(!affects(
                &set(json!([{"pullRequest": {"bitbucket": {"owner": "plat", "repo": "gitops"}}}])),
                &change
            ));
        }
        for ignored in [
            "pr:reviewer:approved",
            "pr:comment:added",
            "repo:modified",
            "diagnostics:ping",
        ] {
            assert_eq!(
                parse_bitbucket_server_event(ignored, b"{").unwrap(),
                None,
                "{ignored}"
            );
        }
        for event in ["repo:refs_changed", "pr:opened"] {
            for body in [&b"{"[..], b"[]", b"", b"{\"pullRequest\": 3}"] {
                let err = parse_bitbucket_server_event(event, body).unwrap_err();
                assert!(
                    err.starts_with(&format!("malformed Bitbucket Server {event} event")),
                    "{err}"
                );
            }
        }
    }

    #[test]
    fn a_bitbucket_cloud_push_refreshes_the_git_generators_of_the_pushed_branch() {
        let change = parse_bitbucket_cloud_event("repo:push", &fixture("bitbucket-cloud", "repo_push.json"))
            .unwrap()
            .unwrap();
        // The payload names the main branch (`main`), and the push was to another one.
        assert_git_refreshes(
            &change,
            &[
                (
                    "git@bitbucket.org:platform-team/gitops.git",
                    "feature/payments",
                    true,
                ),
                (
                    "https://bitbucket.org/Platform-Team/GitOps",
                    "feature/payments",
                    true,
                ),
                ("https://bitbucket.org/platform-team/gitops", "HEAD", false),
                (
                    "https://bitbucket.org/platform-team/other",
                    "feature/payments",
                    false,
                ),
            ],
        );
    }

    #[test]
    fn bitbucket_cloud_pull_requests_refresh_the_generators_of_that_workspace_and_repo() {
        let cloud = |owner: &str, repo: &str| {
            set(json!([{"pullRequest": {"bitbucket": {"owner": owner, "repo": repo}}}]))
        };
        for (event, file) in [
            ("pullrequest:created", "pullrequest_created.json"),
            ("pullrequest:fulfilled", "pullrequest_fulfilled.json"),
        ] {
            let change = parse_bitbucket_cloud_event(event, &fixture("bitbucket-cloud", file))
                .unwrap()
                .unwrap();
            assert_eq!(
                change.listings(),
                [(Forge::BitbucketCloud, "platform-team/gitops".to_string())]
            );
            assert!(affects(&cloud("Platform-Team", "gitops"), &change));
            assert!(affects(&cloud("platform-team", "{{repo}}"), &change));
            assert!(!affects(&cloud("platform-team", "other"), &change));
        }
        for ignored in [
            "pullrequest:approved",
            "pullrequest:changes_request_created",
            "pullrequest:comment_created",
            "repo:fork",
        ] {
            assert_eq!(
                parse_bitbucket_cloud_event(ignored, b"{").unwrap(),
                None,
                "{ignored}"
            );
        }
        let err = parse_bitbucket_cloud_event("pullrequest:created", br#"{"pullrequest": {}}"#).unwrap_err();
        assert!(err.contains("no destination repository"), "{err}");
        assert!(
            parse_bitbucket_cloud_event("repo:push", b"{")
                .unwrap_err()
                .starts_with("malformed Bitbucket Cloud repo:push event")
        );
    }

    #[test]
    fn bitbucket_server_requests_need_the_secret_s_signature() {
        let hooks = unconfigured_hooks();
        let body = fixture("bitbucket-server", "pr_opened.json");
        let signed = headers(&[("x-hub-signature", sign(b"bbs-secret", &body))]);
        let (status, message) = hooks.receive_bitbucket("pr:opened", &signed, &body).unwrap_err();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(message.contains("webhook.bitbucketserver.secret"), "{message}");
        hooks.set_bitbucket_server_secret(b"bbs-secret".to_vec());
        assert_eq!(
            hooks.receive_bitbucket("pr:opened", &signed, &body).unwrap(),
            (Forge::BitbucketServer, "pr:opened".into())
        );
        assert_eq!(
            hooks
                .receive_bitbucket(
                    "diagnostics:ping",
                    &headers(&[("x-hub-signature", sign(b"bbs-secret", b"{}"))]),
                    b"{}"
                )
                .unwrap()
                .0,
            Forge::BitbucketServer
        );
        for wrong in [
            headers(&[]),
            headers(&[("x-hub-signature", sign(b"other", &body))]),
            headers(&[("x-hub-signature", sign(b"bbs-secret", b"{}"))]),
            headers(&[(
                "x-hub-signature",
                sign(b"bbs-secret", &body).replace("sha256=", "sha1="),
            )]),
        ] {
            assert_eq!(
                hooks.receive_bitbucket("pr:opened", &wrong, &body).unwrap_err().0,
                StatusCode::UNAUTHORIZED
            );
        }
    }

    /// The rule the fuzz harness once got wrong (its campaign's finding): an `X-Event-Key` that
    /// names a Cloud event makes the request Cloud's, so Bitbucket Server's signature alone does
    /// not admit it, however the rest of the event name reads.
    #[test]
    fn a_cloud_event_key_is_cloud_s_without_the_hook_uuid() {
        assert!(is_bitbucket_cloud_event("repo:push"));
        assert!(is_bitbucket_cloud_event("pullrequest:ergoTemplatefull_nam: "));
        for server in [
            "repo:refs_changed",
            "pr:opened",
            "diagnostics:ping",
            "repo:pushed",
        ] {
            assert!(!is_bitbucket_cloud_event(server), "{server}");
        }
        let hooks = unconfigured_hooks();
        hooks.set_bitbucket_server_secret(b"bbs-secret".to_vec());
        hooks.set_bitbucket_uuid(b"{uuid}".to_vec());
        let body = b"{}";
        let signed = headers(&[("x-hub-signature", sign(b"bbs-secret", body))]);
        let (status, message) = hooks
            .receive_bitbucket("pullrequest:ergoTemplatefull_nam: ", &signed, body)
            .unwrap_err();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(message.contains("X-Hook-UUID"), "{message}");
        assert_eq!(
            hooks
                .receive_bitbucket("repo:refs_changed", &signed, body)
                .unwrap()
                .0,
            Forge::BitbucketServer
        );
    }

    #[test]
    fn bitbucket_cloud_requests_need_the_uuid_the_signature_or_both_as_configured() {
        let body = fixture("bitbucket-cloud", "repo_push.json");
        let uuid = "{6cd3b0f4-7e5c-4d5e-9d55-1e3f1f9f2b1a}";
        let good_uuid = ("x-hook-uuid", uuid.to_string());
        let good_sig = ("x-hub-signature", sign(b"bbc-secret", &body));
        let receive = |hooks: &Webhooks, h: &[(&'static str, String)]| {
            hooks.receive_bitbucket("repo:push", &headers(h), &body)
        };

        let none = unconfigured_hooks();
        let (status, message) = receive(&none, &[good_uuid.clone(), good_sig.clone()]).unwrap_err();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(message.contains("webhook.bitbucket.uuid"), "{message}");

        let by_uuid = unconfigured_hooks();
        by_uuid.set_bitbucket_uuid(uuid.as_bytes().to_vec());
        assert_eq!(
            receive(&by_uuid, std::slice::from_ref(&good_uuid)).unwrap().0,
            Forge::BitbucketCloud
        );
        assert!(receive(&by_uuid, &[("x-hook-uuid", "{other}".into())]).is_err());
        assert!(receive(&by_uuid, &[]).is_err(), "no X-Hook-UUID");

        let by_secret = unconfigured_hooks();
        by_secret.set_bitbucket_secret(b"bbc-secret".to_vec());
        assert_eq!(
            receive(&by_secret, std::slice::from_ref(&good_sig)).unwrap().0,
            Forge::BitbucketCloud
        );
        assert!(
            receive(&by_secret, std::slice::from_ref(&good_uuid)).is_err(),
            "unsigned"
        );
        assert!(receive(&by_secret, &[("x-hub-signature", sign(b"other", &body))]).is_err());

        let both = unconfigured_hooks();
        both.set_bitbucket_uuid(uuid.as_bytes().to_vec());
        both.set_bitbucket_secret(b"bbc-secret".to_vec());
        assert!(receive(&both, &[good_uuid.clone(), good_sig.clone()]).is_ok());
        assert!(
            receive(&both, &[good_uuid],).is_err(),
            "a configured check that fails refuses"
        );
        assert!(
            receive(&both, &[good_sig]).is_err(),
            "a configured check that fails refuses"
        );
    }
}
