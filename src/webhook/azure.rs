//! Azure DevOps service hooks (`X-Vss-ActivityId`; the event is the body's `eventType`), verified
//! by HTTP basic authentication.
//!
//! Stage: trigger (pure: parsing and verification). The username and password are
//! `--webhook-azuredevops-username`/`--webhook-azuredevops-password`, else Argo CD's
//! `webhook.azuredevops.username`/`webhook.azuredevops.password` of `argocd-secret`, compared in
//! constant time; without a password every Azure DevOps event is refused (Argo CD accepts any
//! request then). `git.push` becomes a [`Change::Push`] per updated ref of the repository's
//! remote URL (and its SSH form on `dev.azure.com`); `git.pullrequest.created`,
//! `git.pullrequest.updated` and `git.pullrequest.merged` (Argo CD's events) a
//! [`Change::RepoPullRequest`] of `organization/project/repo`. Argo CD compares project and
//! repository names case-sensitively; Azure DevOps names are not, and neither is appset, which
//! also compares the organization and the host when the remote URL tells them.

use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use serde::Deserialize;

use super::{
    Change, Forge, Refusal, Watched, Webhooks, field, header, host_of, repo_key, same_secret, spec_json,
    templated, unconfigured,
};
use crate::crd::PullRequestGenerator;

impl Webhooks {
    /// Accept Azure DevOps service hooks that authenticate as `username`/`password` (Argo CD's
    /// `webhook.azuredevops.username`/`password`; ignored without a password, the first pair set
    /// counts).
    pub fn set_azure_devops_basic_auth(&self, username: Vec<u8>, password: Vec<u8>) {
        if !password.is_empty() {
            let _ = self.azure_devops_auth.set((username, password));
        }
    }

    /// An Azure DevOps request: authenticated, its event (the body's `eventType`).
    pub(super) fn receive_azure(&self, headers: &HeaderMap, body: &[u8]) -> Result<String, Refusal> {
        let Some((username, password)) = self.azure_devops_auth.get() else {
            return Err(unconfigured(
                "Azure DevOps webhook username and password",
                "--webhook-azuredevops-username/--webhook-azuredevops-password or argocd-secret webhook.azuredevops.username/password",
            ));
        };
        let given = header(headers, "authorization")
            .and_then(|a| a.strip_prefix("Basic ").or_else(|| a.strip_prefix("basic ")))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
            .unwrap_or_default();
        let (user, pass) = match given.iter().position(|&b| b == b':') {
            Some(i) => (&given[..i], &given[i + 1..]),
            None => (&given[..], &b""[..]),
        };
        // Both compared, whatever the first one's outcome.
        let ok = [same_secret(username, user), same_secret(password, pass)];
        if given.is_empty() || ok.contains(&false) {
            return Err((
                StatusCode::UNAUTHORIZED,
                "missing or invalid basic authentication (Authorization)".into(),
            ));
        }
        #[derive(Deserialize)]
        struct Envelope {
            #[serde(rename = "eventType")]
            event_type: String,
        }
        serde_json::from_slice::<Envelope>(body)
            .map(|e| e.event_type)
            .map_err(|e| {
                (
                    StatusCode::BAD_REQUEST,
                    format!("malformed Azure DevOps event: {e}"),
                )
            })
    }
}

#[derive(Debug, Deserialize)]
struct Event<R> {
    resource: R,
}

#[derive(Debug, Deserialize)]
struct PushResource {
    #[serde(rename = "refUpdates", default)]
    ref_updates: Vec<RefUpdate>,
    repository: Repository,
}

#[derive(Debug, Deserialize)]
struct RefUpdate {
    name: String,
}

#[derive(Debug, Deserialize)]
struct PullRequestResource {
    repository: Repository,
}

#[derive(Debug, Deserialize)]
struct Repository {
    #[serde(default)]
    name: String,
    #[serde(default)]
    project: Option<Project>,
    #[serde(rename = "remoteUrl", default)]
    remote_url: Option<String>,
    #[serde(rename = "sshUrl", default)]
    ssh_url: Option<String>,
    #[serde(rename = "defaultBranch", default)]
    default_branch: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Project {
    #[serde(default)]
    name: String,
}

/// Pull-request events that refresh (Argo CD's `azuredevopsAllowedPullRequestActions`).
const PR_EVENTS: &[&str] = &[
    "git.pullrequest.created",
    "git.pullrequest.updated",
    "git.pullrequest.merged",
];

/// `dev.azure.com` for Azure DevOps Services (`*.visualstudio.com` included), else the host of
/// an Azure DevOps Server.
fn azure_host(host: &str) -> String {
    if host == "dev.azure.com" || host.ends_with(".visualstudio.com") {
        "dev.azure.com".into()
    } else {
        host.into()
    }
}

/// (host, organization) of a repository's remote URL: `https://[user@]dev.azure.com/{org}/…`,
/// `https://{org}.visualstudio.com/…`, `https://server/tfs/{collection}/{project}/_git/{repo}`
/// (the collection is the server's organization).
fn host_and_organization(remote: &str) -> (String, String) {
    let key = repo_key(remote);
    let parts: Vec<&str> = key.split('/').collect();
    let host = parts.first().copied().unwrap_or_default();
    let organization = if let Some(org) = host.strip_suffix(".visualstudio.com") {
        org.to_string()
    } else {
        // The segment before `{project}/_git/{repo}`.
        parts
            .iter()
            .position(|p| *p == "_git")
            .and_then(|i| i.checked_sub(2))
            .filter(|&i| i >= 1)
            .map(|i| parts[i].to_string())
            .unwrap_or_default()
    };
    (azure_host(host), organization)
}

/// Parse an Azure DevOps event (its `eventType`) into the change it announces (None: nothing to
/// refresh).
///
/// # Errors
/// A malformed `git.push` or pull-request body, with the JSON error.
pub fn parse_azure_event(event: &str, body: &[u8]) -> Result<Option<Change>, String> {
    let malformed = |e: serde_json::Error| format!("malformed Azure DevOps {event} event: {e}");
    if event == "git.push" {
        let e: Event<PushResource> = serde_json::from_slice(body).map_err(malformed)?;
        let r = e.resource.repository;
        let mut repos = Vec::new();
        if let Some(remote) = &r.remote_url {
            repos.push(repo_key(remote));
            // `git@ssh.dev.azure.com:v3/{org}/{project}/{repo}` is the same repository.
            let key = repo_key(remote);
            let parts: Vec<&str> = key.split('/').collect();
            if let ["dev.azure.com", org, project, "_git", repo] = parts.as_slice() {
                repos.push(format!("dev.azure.com/v3/{org}/{project}/{repo}"));
            }
        }
        repos.extend(r.ssh_url.as_deref().map(repo_key));
        let default = r.default_branch.as_deref();
        let changes: Vec<Change> = e
            .resource
            .ref_updates
            .into_iter()
            .map(|u| Change::Push {
                repos: repos.clone(),
                touched_head: default == Some(u.name.as_str()),
                revision: u.name.splitn(3, '/').nth(2).unwrap_or(&u.name).to_string(),
            })
            .collect();
        return Ok(match changes.len() {
            0 => None,
            1 => changes.into_iter().next(),
            _ => Some(Change::Several(changes)),
        });
    }
    if !PR_EVENTS.contains(&event) {
        return Ok(None);
    }
    let e: Event<PullRequestResource> = serde_json::from_slice(body).map_err(malformed)?;
    let r = e.resource.repository;
    let project = r.project.map(|p| p.name).unwrap_or_default();
    if project.is_empty() || r.name.is_empty() {
        return Err(format!(
            "malformed Azure DevOps {event} event: no repository name or project name"
        ));
    }
    let (host, organization) = r
        .remote_url
        .as_deref()
        .map(host_and_organization)
        .unwrap_or_default();
    Ok(Some(Change::RepoPullRequest {
        forge: Forge::AzureDevOps,
        host,
        repo: format!("{organization}/{project}/{}", r.name).to_ascii_lowercase(),
    }))
}

/// The repository a `pullRequest.azuredevops` generator watches: `organization/project/repo` on
/// the host of `api` (`https://dev.azure.com/` when empty, as Argo CD).
pub(super) fn watched(p: &PullRequestGenerator) -> Option<Watched> {
    let spec = spec_json(&p.azuredevops)?;
    let api = field(&spec, "api");
    Some(Watched {
        forge: Forge::AzureDevOps,
        host: if templated(api) {
            String::new()
        } else {
            azure_host(&host_of(api, "https://dev.azure.com/"))
        },
        parts: vec![
            field(&spec, "organization").into(),
            field(&spec, "project").into(),
            field(&spec, "repo").into(),
        ],
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

    fn basic(user: &str, pass: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("Basic {token}")).unwrap(),
        );
        h
    }

    #[test]
    fn an_azure_devops_push_refreshes_the_git_generators_of_that_repository_and_branch() {
        let change = parse_azure_event("git.push", &fixture("azuredevops", "git.push.json"))
            .unwrap()
            .unwrap();
        let mut rows = vec![
            (
                "https://dev.azure.com/contoso/Platform/_git/gitops",
                "release",
                false,
            ),
            ("https://dev.azure.com/contoso/Platform/_git/other", "main", false),
        ];
        for url in [
            "https://dev.azure.com/contoso/Platform/_git/gitops",
            "https://contoso@dev.azure.com/contoso/Platform/_git/gitops",
            "git@ssh.dev.azure.com:v3/contoso/Platform/gitops",
        ] {
            // main is the default branch: HEAD too.
            rows.extend([(url, "main", true), (url, "HEAD", true)]);
        }
        assert_git_refreshes(&change, &rows);
    }

    #[test]
    fn azure_devops_pull_requests_refresh_the_generators_of_that_organization_project_and_repo() {
        let azure = |org: &str, project: &str, repo: &str, api: &str| {
            set(
                json!([{"pullRequest": {"azuredevops": {"organization": org, "project": project, "repo": repo, "api": api}}}]),
            )
        };
        for (event, file) in [
            ("git.pullrequest.created", "git.pullrequest.created.json"),
            ("git.pullrequest.merged", "git.pullrequest.merged.json"),
        ] {
            let change = parse_azure_event(event, &fixture("azuredevops", file))
                .unwrap()
                .unwrap();
            assert_eq!(
                change,
                Change::RepoPullRequest {
                    forge: Forge::AzureDevOps,
                    host: "dev.azure.com".into(),
                    repo: "contoso/platform/gitops".into()
                },
                "{event}"
            );
            assert!(affects(&azure("contoso", "Platform", "gitops", ""), &change));
            assert!(affects(
                &azure("Contoso", "platform", "GitOps", "https://dev.azure.com/"),
                &change
            ));
            assert!(!affects(&azure("fabrikam", "Platform", "gitops", ""), &change));
            assert!(!affects(&azure("contoso", "Platform", "other", ""), &change));
            assert!(!affects(
                &azure("contoso", "Platform", "gitops", "https://tfs.example.com/tfs"),
                &change
            ));
        }
        assert_eq!(
            parse_azure_event("git.pullrequest.comment-event", b"{").unwrap(),
            None
        );
        assert_eq!(parse_azure_event("build.complete", b"{").unwrap(), None);
        for body in [&b"{"[..], b"{}", b"", b"{\"resource\": {\"repository\": 1}}"] {
            let err = parse_azure_event("git.pullrequest.updated", body).unwrap_err();
            assert!(
                err.starts_with("malformed Azure DevOps git.pullrequest.updated event"),
                "{err}"
            );
        }
    }

    #[test]
    fn the_organization_comes_from_the_remote_url_in_every_form() {
        for (url, host, org) in [
            (
                "https://dev.azure.com/contoso/Platform/_git/gitops",
                "dev.azure.com",
                "contoso",
            ),
            (
                "https://contoso@dev.azure.com/contoso/Platform/_git/gitops",
                "dev.azure.com",
                "contoso",
            ),
            (
                "https://contoso.visualstudio.com/DefaultCollection/Platform/_git/gitops",
                "dev.azure.com",
                "contoso",
            ),
            (
                "https://tfs.example.com/tfs/Main/Platform/_git/gitops",
                "tfs.example.com",
                "main",
            ),
            ("https://odd.example.com/_git/gitops", "odd.example.com", ""),
            ("", "", ""),
        ] {
            assert_eq!(
                host_and_organization(url),
                (host.to_string(), org.to_string()),
                "{url}"
            );
        }
    }

    #[test]
    fn azure_devops_requests_need_the_basic_authentication() {
        let hooks = Webhooks::new(None, Arc::new(GitHub::new(None, Duration::ZERO)));
        let body = fixture("azuredevops", "git.push.json");
        let (status, message) = hooks.receive_azure(&basic("argo", "s3cret"), &body).unwrap_err();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(message.contains("webhook.azuredevops.username"), "{message}");
        hooks.set_azure_devops_basic_auth(b"argo".to_vec(), b"s3cret".to_vec());
        assert_eq!(
            hooks.receive_azure(&basic("argo", "s3cret"), &body).unwrap(),
            "git.push"
        );
        for wrong in [
            basic("argo", "wrong"),
            basic("other", "s3cret"),
            basic("argo", "s3cret "),
            basic("", ""),
            HeaderMap::new(),
        ] {
            assert_eq!(
                hooks.receive_azure(&wrong, &body).unwrap_err().0,
                StatusCode::UNAUTHORIZED
            );
        }
        let mut bearer = HeaderMap::new();
        bearer.insert("authorization", HeaderValue::from_static("Bearer s3cret"));
        assert!(hooks.receive_azure(&bearer, &body).is_err());
        let mut garbage = HeaderMap::new();
        garbage.insert("authorization", HeaderValue::from_static("Basic !!!"));
        assert!(hooks.receive_azure(&garbage, &body).is_err());
        // Authenticated but not an event: 400 with the JSON error.
        let (status, message) = hooks.receive_azure(&basic("argo", "s3cret"), b"{}").unwrap_err();
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(message.starts_with("malformed Azure DevOps event"), "{message}");
    }
}
