//! The webhook payload parsers of every forge (GitHub, GitLab, Gitea/Forgejo/Gogs, Bitbucket
//! Server and Cloud, Azure DevOps), then whether the change affects a fixed ApplicationSet.
//! Input: one byte choosing the forge (its low bits) and the path (its high bits), one choosing
//! the event (a known name, or the first line of the rest), then the body. Invariants: no panic,
//! deterministic, errors have messages, `affects` is deterministic.
//!
//! With the high bit set the request goes through the `/api/webhook` endpoint in process, with
//! the forge's own headers and credentials computed by the harness (GitHub's and Bitbucket's
//! `sha256=` HMAC, Gitea's hex HMAC, GitLab's token, Bitbucket Cloud's hook UUID, Azure DevOps'
//! basic authentication): a correctly signed request is never refused for its signature and gets
//! the answer the parser's verdict implies (400 for a parser error, 200 for nothing to refresh or
//! a ping, 503 for a change, since no controller runs in the process); with the next bit set the
//! credential is wrong, and the request is refused (401) and counted as refused, never accepted.
#![no_main]

use std::sync::{Arc, LazyLock};

use appset::{
    ApplicationSet,
    sources::GitHub,
    webhook::{self, Forge},
};
use appset_fuzz::send;
use axum::{Router, body::Body, http::Request};
use base64::{Engine, engine::general_purpose::STANDARD};
use libfuzzer_sys::fuzz_target;

type Parser = fn(&str, &[u8]) -> Result<Option<webhook::Change>, String>;

const FORGES: &[(Forge, Parser, &[&str])] = &[
    (
        Forge::GitHub,
        webhook::parse_event,
        &["push", "pull_request", "ping"],
    ),
    (
        Forge::GitLab,
        webhook::parse_gitlab_event,
        &[
            "Push Hook",
            "Tag Push Hook",
            "Merge Request Hook",
            "System Hook",
            "Note Hook",
        ],
    ),
    (
        Forge::Gitea,
        webhook::parse_gitea_event,
        &["push", "pull_request", "create"],
    ),
    (
        Forge::BitbucketServer,
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
        Forge::BitbucketCloud,
        webhook::parse_bitbucket_cloud_event,
        &[
            "repo:push",
            "pullrequest:created",
            "pullrequest:updated",
            "pullrequest:fulfilled",
        ],
    ),
    (
        Forge::AzureDevOps,
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

/// The credential of every forge: HMAC key, token, hook UUID, basic-auth user and password (a
/// wrong key is a wrong password under the right user).
const SECRET: &[u8] = b"fuzz";

static HOOKS: LazyLock<(Arc<webhook::Webhooks>, Router)> = LazyLock::new(|| {
    let github = Arc::new(GitHub::new(None, std::time::Duration::ZERO));
    let hooks = webhook::Webhooks::new(Some(SECRET.to_vec()), github);
    hooks.set_gitlab_secret(SECRET.to_vec());
    hooks.set_gitea_secret(SECRET.to_vec());
    hooks.set_bitbucket_server_secret(SECRET.to_vec());
    hooks.set_bitbucket_uuid(SECRET.to_vec());
    hooks.set_bitbucket_secret(SECRET.to_vec());
    hooks.set_azure_devops_basic_auth(SECRET.to_vec(), SECRET.to_vec());
    let router = webhook::endpoint(hooks.clone());
    (hooks, router)
});

/// The request `forge` sends for `event` and `body`, signed with `key` (the right one or not);
/// None when the request would be another forge's: `event` is not a header value the endpoint
/// reads (visible ASCII: a header with other bytes reads as absent), or it names a Bitbucket
/// Cloud event and `forge` is Bitbucket Server.
fn request(forge: Forge, event: &str, body: &[u8], key: &[u8]) -> Option<Request<Body>> {
    if forge == Forge::BitbucketServer && webhook::is_bitbucket_cloud_event(event) {
        return None;
    }
    let event = axum::http::HeaderValue::from_str(event).ok()?;
    event.to_str().ok()?;
    let token = String::from_utf8_lossy(key).into_owned();
    let b = Request::post("/api/webhook").header("content-type", "application/json");
    let b = match forge {
        Forge::GitHub => b
            .header("x-github-event", event)
            .header("x-hub-signature-256", webhook::sign(key, body)),
        Forge::GitLab => b.header("x-gitlab-event", event).header("x-gitlab-token", token),
        Forge::Gitea => b
            .header("x-gitea-event", event)
            .header("x-gitea-signature", webhook::sign_hex(key, body)),
        Forge::BitbucketServer => b
            .header("x-event-key", event)
            .header("x-hub-signature", webhook::sign(key, body)),
        Forge::BitbucketCloud => b
            .header("x-event-key", event)
            .header("x-hook-uuid", token)
            .header("x-hub-signature", webhook::sign(key, body)),
        Forge::AzureDevOps => b.header("x-vss-activityid", "fuzz").header(
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("fuzz:{token}"))),
        ),
    };
    b.body(Body::from(body.to_vec())).ok()
}

/// `event` and `body` of forge `forge` through the endpoint; `direct` is the parser's verdict.
fn through_endpoint(
    forge: Forge,
    event: &str,
    body: &[u8],
    wrong_key: bool,
    direct: &Result<Option<webhook::Change>, String>,
) {
    let (hooks, router) = &*HOOKS;
    let key: &[u8] = if wrong_key { b"not the secret" } else { SECRET };
    let Some(req) = request(forge, event, body, key) else {
        return;
    };
    let before = hooks.stats();
    let answer = send(router.clone(), req);
    let after = hooks.stats();
    let text = String::from_utf8_lossy(&answer.body);
    assert!(!answer.body.is_empty(), "an empty answer ({})", answer.status);
    if wrong_key {
        assert_eq!(answer.status, 401, "a wrong credential was not refused: {text}");
        assert_eq!(after.rejected, before.rejected + 1, "a refusal not counted");
        assert_eq!(
            after.accepted, before.accepted,
            "a wrong credential counted as accepted"
        );
        return;
    }
    assert_ne!(answer.status, 401, "a correctly signed request refused: {text}");
    // Azure DevOps names its event in the body: the parser's verdict is the endpoint's only
    // where the endpoint read the same event.
    if forge == Forge::AzureDevOps {
        return;
    }
    let ping = forge.is_ping(event);
    let expected = match direct {
        Err(_) => 400,
        Ok(_) if ping => 200,
        Ok(None) => 200,
        Ok(Some(_)) => 503,
    };
    assert_eq!(
        answer.status, expected,
        "the endpoint disagrees with the parser ({direct:?}): {text}"
    );
}

fuzz_target!(|data: &[u8]| {
    let [forge, event, body @ ..] = data else {
        return;
    };
    let via_endpoint = forge & 0x80 != 0;
    let wrong_key = forge & 0x40 != 0;
    let (forge, parse, events) = FORGES[usize::from(forge & 0x3f) % FORGES.len()];
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
    if via_endpoint {
        through_endpoint(forge, &event, body, wrong_key, &a);
    }
});
