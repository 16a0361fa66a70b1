//! Which `scmProvider` generators a push concerns, and which of their cached listings it makes
//! stale.
//!
//! Stage: trigger (pure: no I/O). Argo CD refreshes no `scmProvider` set on a webhook: they wait
//! for `requeueAfterSeconds` (30 minutes by default). appset refreshes a set when a push lands
//! in a repository its generator scans: same host (the forge's web host, derived from the
//! generator's `api`), the repository's owner path equal to the scanned organization, group,
//! owner, project or `organization/teamProject` (a GitLab group with `includeSubgroups`: any
//! repository below it), and a push of the default branch unless `allBranches`. The set's
//! listings of that owner are expired first ([`Scanned::key`], the key the forge's `scmProvider`
//! client caches them by), so the refresh sees the new branch head; path checks are cached by
//! commit and need no expiry.
//!
//! What cannot be told from a push refreshes on the safe side: a templated field or a numeric
//! GitLab group id matches every push on the host. A repository a GitLab group only shares
//! (`includeSharedProjects`) lives under another path and waits for the poll, as in Argo CD.

use super::{Change, Forge, field, host_of, spec_json, templated};
use crate::crd::ScmProviderGenerator;

/// One forge scope an `scmProvider` generator scans, as a push is matched against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    /// Which forge (its client caches the listings).
    pub forge: Forge,
    /// Lower-case web host the repositories are served from (empty: templated, any host).
    pub host: String,
    /// The owner as written: organization, group path or id, owner, project key, or
    /// `organization/teamProject`.
    pub owner: String,
    /// Every repository below the owner, not only its direct children (GitLab's
    /// `includeSubgroups`).
    pub nested: bool,
    /// Every branch counts, not only the default branch (`allBranches`).
    pub all_branches: bool,
}

/// The web host of an API base URL: GitHub's and Bitbucket Cloud's public APIs have their own
/// host (`api.github.com` serves `github.com`); every other forge serves both from one host.
fn web_host(api: &str, default: &str) -> String {
    if templated(api) {
        return String::new();
    }
    let host = host_of(api, default);
    match host.as_str() {
        "api.github.com" => "github.com".into(),
        "api.bitbucket.org" => "bitbucket.org".into(),
        _ => host,
    }
}

/// The scopes `g` scans (one, or none when no forge is set).
pub fn scanned(g: &ScmProviderGenerator) -> Vec<Scanned> {
    let mut out = Vec::new();
    let mut add =
        |forge: Forge, spec: Option<serde_json::Value>, owner_fields: &[&str], default_api: &str| {
            let Some(spec) = spec else { return };
            let owner = owner_fields
                .iter()
                .map(|f| field(&spec, f).trim())
                .collect::<Vec<_>>()
                .join("/");
            out.push(Scanned {
                forge,
                host: web_host(field(&spec, "api"), default_api),
                owner,
                nested: spec.get("includeSubgroups").and_then(serde_json::Value::as_bool) == Some(true),
                all_branches: spec.get("allBranches").and_then(serde_json::Value::as_bool) == Some(true),
            });
        };
    add(
        Forge::GitHub,
        g.github.as_ref().and_then(spec_json),
        &["organization"],
        "https://api.github.com",
    );
    add(
        Forge::GitLab,
        g.gitlab.as_ref().and_then(spec_json),
        &["group"],
        "https://gitlab.com",
    );
    // Gitea and Bitbucket Server have no public instance: an empty `api` is refused by the
    // generator, and matches no push here.
    add(Forge::Gitea, g.gitea.as_ref().and_then(spec_json), &["owner"], "");
    add(
        Forge::BitbucketServer,
        g.bitbucket_server.as_ref().and_then(spec_json),
        &["project"],
        "",
    );
    add(
        Forge::BitbucketCloud,
        g.bitbucket.as_ref().and_then(spec_json),
        &["owner"],
        "https://api.bitbucket.org/2.0",
    );
    add(
        Forge::AzureDevOps,
        g.azure_dev_ops.as_ref().and_then(spec_json),
        &["organization", "teamProject"],
        "https://dev.azure.com",
    );
    out
}

impl Scanned {
    /// The key the forge's client caches this scope's listings by (lower case), unless the
    /// owner is templated (its listings then age out).
    pub fn key(&self) -> Option<String> {
        (!templated(&self.owner) && !self.owner.is_empty()).then(|| self.owner.to_ascii_lowercase())
    }

    /// Whether `change` pushes to a repository of this scope, on a branch the generator reads.
    pub fn matches(&self, change: &Change) -> bool {
        match change {
            Change::Several(changes) => changes.iter().any(|c| self.matches(c)),
            Change::Push {
                repos, touched_head, ..
            } => (self.all_branches || *touched_head) && repos.iter().any(|r| self.holds(r)),
            _ => false,
        }
    }

    /// Whether the repository `key` ([`super::repo_key`]: `host/path`) belongs to this scope.
    fn holds(&self, key: &str) -> bool {
        let (host, path) = key.split_once('/').unwrap_or((key, ""));
        // Azure DevOps: `dev.azure.com/org/project/_git/repo`, `org.visualstudio.com/project/
        // _git/repo`, `dev.azure.com/v3/org/project/repo` (SSH).
        let mut segments: Vec<&str> = path
            .split('/')
            .filter(|s| !s.is_empty() && *s != "_git")
            .collect();
        let visualstudio = host.strip_suffix(".visualstudio.com");
        let host_ok = self.host.is_empty()
            || self.host == host
            || (self.forge == Forge::AzureDevOps && self.host == "dev.azure.com" && visualstudio.is_some());
        if !host_ok {
            return false;
        }
        if let Some(org) = visualstudio {
            segments.insert(0, org);
        }
        if templated(&self.owner) || self.owner.chars().all(|c| c.is_ascii_digit()) {
            // A templated owner, or a GitLab group given by id: any repository of the host.
            return true;
        }
        let owner: Vec<String> = self
            .owner
            .to_ascii_lowercase()
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let Some((_repo, parents)) = segments.split_last() else {
            return false;
        };
        if owner.is_empty() || parents.len() < owner.len() {
            return false;
        }
        if self.nested {
            parents.iter().zip(&owner).all(|(p, o)| p == o)
        } else {
            // The owner path right above the repository (Bitbucket Server's HTTP clone URLs
            // have `scm/` in front, Azure DevOps' SSH ones `v3/`).
            parents[parents.len() - owner.len()..]
                .iter()
                .zip(&owner)
                .all(|(p, o)| p == o)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::webhook::repo_key;

    fn generator(v: serde_json::Value) -> ScmProviderGenerator {
        serde_json::from_value(v).unwrap()
    }

    fn push(urls: &[&str], head: bool) -> Change {
        Change::Push {
            repos: urls.iter().map(|u| repo_key(u)).collect(),
            revision: if head { "main".into() } else { "feature".into() },
            touched_head: head,
        }
    }

    fn concerns(g: serde_json::Value, change: &Change) -> bool {
        scanned(&generator(g)).iter().any(|s| s.matches(change))
    }

    #[test]
    fn a_github_organization_sees_pushes_of_its_repositories_default_branch() {
        let g = json!({"github": {"organization": "Argoproj"}});
        assert!(concerns(
            g.clone(),
            &push(&["https://github.com/argoproj/argo-cd"], true)
        ));
        assert!(concerns(
            g.clone(),
            &push(&["git@github.com:argoproj/argo-cd.git"], true)
        ));
        // Another organization, another host, another branch.
        assert!(!concerns(
            g.clone(),
            &push(&["https://github.com/other/argo-cd"], true)
        ));
        assert!(!concerns(
            g.clone(),
            &push(&["https://ghe.example.com/argoproj/argo-cd"], true)
        ));
        assert!(!concerns(
            g,
            &push(&["https://github.com/argoproj/argo-cd"], false)
        ));
        // With allBranches, any branch; GitHub Enterprise by its API's host.
        let ghe = json!({"github": {"organization": "o", "api": "https://ghe.example.com/api/v3", "allBranches": true}});
        assert!(concerns(
            ghe.clone(),
            &push(&["https://ghe.example.com/o/r"], false)
        ));
        assert!(!concerns(ghe, &push(&["https://github.com/o/r"], false)));
    }

    #[test]
    fn a_gitlab_group_sees_its_subgroups_only_with_include_subgroups() {
        let direct = json!({"gitlab": {"group": "Platform", "includeSubgroups": false}});
        let nested = json!({"gitlab": {"group": "platform", "includeSubgroups": true}});
        let deep = push(&["https://gitlab.com/platform/team/app.git"], true);
        let child = push(&["https://gitlab.com/platform/app.git"], true);
        assert!(concerns(direct.clone(), &child));
        assert!(!concerns(direct, &deep));
        assert!(concerns(nested.clone(), &deep));
        assert!(concerns(nested.clone(), &child));
        assert!(!concerns(
            nested,
            &push(&["https://gitlab.com/platformx/app"], true)
        ));
        // A group by id: every push of the host.
        let by_id = json!({"gitlab": {"group": "1234", "api": "https://gitlab.example.com"}});
        assert!(concerns(
            by_id.clone(),
            &push(&["https://gitlab.example.com/any/thing"], true)
        ));
        assert!(!concerns(by_id, &push(&["https://gitlab.com/any/thing"], true)));
    }

    #[test]
    fn bitbucket_and_azure_devops_owners_are_matched_in_each_url_shape() {
        let server =
            json!({"bitbucketServer": {"project": "PROJ", "api": "https://bitbucket.example.com/rest"}});
        assert!(concerns(
            server.clone(),
            &push(&["https://bitbucket.example.com/scm/proj/app.git"], true)
        ));
        assert!(concerns(
            server.clone(),
            &push(&["ssh://git@bitbucket.example.com:7999/proj/app.git"], true)
        ));
        assert!(!concerns(
            server,
            &push(&["https://bitbucket.example.com/scm/other/app.git"], true)
        ));
        let cloud = json!({"bitbucket": {"owner": "Workspace", "user": "u", "appPasswordRef": {"secretName": "s", "key": "k"}}});
        assert!(concerns(
            cloud.clone(),
            &push(&["https://bitbucket.org/workspace/app"], true)
        ));
        assert!(!concerns(
            cloud,
            &push(&["https://github.com/workspace/app"], true)
        ));
        let azure = json!({"azureDevOps": {"organization": "Org", "teamProject": "Proj"}});
        for url in [
            "https://dev.azure.com/org/proj/_git/app",
            "https://org.visualstudio.com/proj/_git/app",
            "git@ssh.dev.azure.com:v3/org/proj/app",
        ] {
            assert!(concerns(azure.clone(), &push(&[url], true)), "{url}");
        }
        assert!(!concerns(
            azure.clone(),
            &push(&["https://dev.azure.com/org/other/_git/app"], true)
        ));
        assert!(!concerns(
            azure,
            &push(&["https://other.visualstudio.com/proj/_git/app"], true)
        ));
    }

    #[test]
    fn templated_scopes_match_and_keep_no_key() {
        let g = json!({"github": {"organization": "{{org}}"}});
        assert!(concerns(
            g.clone(),
            &push(&["https://github.com/anyone/app"], true)
        ));
        let s = &scanned(&generator(g))[0];
        assert_eq!(s.key(), None);
        let s = &scanned(&generator(
            json!({"gitea": {"owner": "Team", "api": "https://gitea.example.com"}}),
        ))[0];
        assert_eq!(
            (s.key().as_deref(), s.host.as_str()),
            (Some("team"), "gitea.example.com")
        );
    }
}
