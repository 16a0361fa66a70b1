//! The webhook payload parsers of every forge (GitHub, GitLab, Gitea/Forgejo/Gogs, Bitbucket
//! Server and Cloud, Azure DevOps), then whether the change affects a fixed ApplicationSet.
//! Input: one byte choosing the forge, one choosing the event (a known name, or the first line
//! of the rest), then the body. The signature is computed by the harness (`github::sign`), so
//! the parsers see every body; the signature check itself is tests/webhook.rs's. Invariants:
//! no panic, deterministic, errors have messages, `affects` is deterministic.
#![no_main]

use std::sync::LazyLock;

use appset::{ApplicationSet, webhook};
use libfuzzer_sys::fuzz_target;

type Parser = fn(&str, &[u8]) -> Result<Option<webhook::Change>, String>;

const FORGES: &[(Parser, &[&str])] = &[
    (webhook::parse_event, &["push", "pull_request", "ping"]),
    (
        webhook::parse_gitlab_event,
        &[
            "Push Hook",
            "Tag Push Hook",
            "Merge Request Hook",
            "System Hook",
            "Note Hook",
        ],
    ),
    (webhook::parse_gitea_event, &["push", "pull_request", "create"]),
    (
        webhook::parse_bitbucket_server_event,
        &[
            "repo:refs_changed",
            "pr:opened",
            "pr:from_ref_updated",
            "pr:merged",
            "pr:declined",
            "diagnostics:ping",
        ],
    ),
    (
        webhook::parse_bitbucket_cloud_event,
        &[
            "repo:push",
            "pullrequest:created",
            "pullrequest:updated",
            "pullrequest:fulfilled",
        ],
    ),
    (
        webhook::parse_azure_event,
        &[
            "git.push",
            "git.pullrequest.created",
            "git.pullrequest.updated",
            "git.pullrequest.merged",
        ],
    ),
];

static SET: LazyLock<ApplicationSet> = LazyLock::new(|| appset::file::parse(SET_TEXT).expect("a set").appset);

const SET_TEXT: &str = r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: hooks}
spec:
  generators:
  - git: {repoURL: "https://github.com/org/repo.git", revision: HEAD, directories: [{path: "*"}]}
  - pullRequest: {github: {owner: org, repo: repo}}
  template:
    metadata: {name: "{{path.basename}}"}
    spec: {project: default, source: {repoURL: "https://github.com/org/repo.git", path: "{{path}}"},
           destination: {server: "https://kubernetes.default.svc", namespace: default}}
"#;

fuzz_target!(|data: &[u8]| {
    let [forge, event, body @ ..] = data else {
        return;
    };
    let (parse, events) = FORGES[usize::from(*forge) % FORGES.len()];
    let (event, body) = match events.get(usize::from(*event)) {
        Some(e) => (e.to_string(), body),
        None => {
            let end = body.iter().position(|b| *b == b'\n').unwrap_or(body.len());
            (
                String::from_utf8_lossy(&body[..end]).into_owned(),
                body.get(end + 1..).unwrap_or_default(),
            )
        }
    };
    let signature = webhook::sign(b"fuzz", body);
    assert_eq!(signature, webhook::sign(b"fuzz", body));
    assert!(signature.starts_with("sha256=") && signature.len() == 7 + 64);

    let a = parse(&event, body);
    assert_eq!(a, parse(&event, body), "a webhook parser is not deterministic");
    match &a {
        Err(e) => assert!(!e.trim().is_empty(), "a webhook error without a message"),
        Ok(Some(change)) => {
            let hit = webhook::affects(&SET, change);
            assert_eq!(
                hit,
                webhook::affects(&SET, change),
                "affects is not deterministic"
            );
        }
        Ok(None) => {}
    }
});
