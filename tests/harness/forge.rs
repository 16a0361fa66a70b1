//! Checks every forge's pull-request tests make the same way: Argo CD's parameters of one pull
//! request, `tokenRef` read from the ApplicationSet's namespace only, and the SCM switches
//! (`--enable-scm-providers`, `--allowed-scm-providers`) refusing before any request.

#![allow(dead_code)]

use std::time::{Duration, SystemTime};

use appset::{
    ApplicationSet, Params,
    pipeline::{Options, ScmOptions, generate_applications},
    sources::{ForgeError, Inputs, Recorded},
};
use serde_json::{Value, json};

/// Recorded inputs holding Secrets: (namespace, name, key, value).
pub fn recorded_secrets(secrets: &[(&str, &str, &str, &str)]) -> Recorded {
    let secrets: Vec<Value> = secrets
        .iter()
        .map(|(ns, name, key, value)| {
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
                   "stringData": {*key: value}})
        })
        .collect();
    serde_json::from_value(json!({ "secrets": secrets })).unwrap()
}

/// The parameters Argo CD gives one pull request (nested mode), `head_sha` 40 hex digits and
/// its short forms cut from it.
pub fn assert_pull_request_params(
    p: &Params,
    (number, title, author): (&str, &str, &str),
    (branch, branch_slug, target_branch): (&str, &str, &str),
    labels: &[&str],
) {
    assert_eq!(p["number"], number);
    assert_eq!(p["title"], title);
    assert_eq!(p["author"], author);
    assert_eq!(p["branch"], branch);
    assert_eq!(p["branch_slug"], branch_slug);
    assert_eq!(p["target_branch"], target_branch);
    assert_eq!(p["target_branch_slug"], target_branch);
    let sha = p["head_sha"].as_str().unwrap();
    assert_eq!(sha.len(), 40, "{sha}");
    assert_eq!(p["head_short_sha"], sha[..8]);
    assert_eq!(p["head_short_sha_7"], sha[..7]);
    assert_eq!(p["labels"], json!(labels));
}

/// `set(name, generator fields)` names Secrets of namespace `team-a`: one that lives in
/// `argocd` (`elsewhere`) is not found there, and a key `own` lacks is an error; both are
/// Argo CD's messages.
pub async fn assert_token_ref_stays_in_the_sets_namespace(
    set: impl Fn(&str, &str) -> ApplicationSet,
    inputs: &Inputs,
    own: &str,
    elsewhere: &str,
) {
    let with_ref = |name: &str, key: &str| format!(", tokenRef: {{secretName: {name}, key: {key}}}");
    let err = render_err(
        &set("b", &with_ref(elsewhere, "token")),
        inputs,
        &Options::default(),
    )
    .await;
    assert!(
        err.contains(&format!(
            r#"error fetching secret team-a/{elsewhere}: secrets "{elsewhere}" not found"#
        )),
        "{err}"
    );
    let err = render_err(&set("c", &with_ref(own, "nokey")), inputs, &Options::default()).await;
    assert!(
        err.contains(&format!(r#"key "nokey" in secret team-a/{own} not found"#)),
        "{err}"
    );
}

/// With SCM providers disabled, or an `api` off the allow-list, `set` fails with Argo CD's
/// messages (the allow-list's at `{field}.api`).
pub async fn assert_scm_switches_refuse(set: &ApplicationSet, inputs: &Inputs, field: &str) {
    let options = |scm: ScmOptions| Options {
        scm,
        ..Options::default()
    };
    let off = options(ScmOptions {
        enabled: false,
        ..Default::default()
    });
    let err = render_err(set, inputs, &off).await;
    assert!(err.contains("scm providers are disabled"), "{err}");
    let allowed = options(ScmOptions {
        allowed: vec!["https://forge.example.com".into()],
        ..Default::default()
    });
    let err = render_err(set, inputs, &allowed).await;
    assert!(
        err.contains(&format!("{field}.api: scm provider not allowed")),
        "{err}"
    );
}

/// `first` and `second`, two listings asked at `asked_at` of a forge that answered 429 with
/// `Retry-After: secs`, are the same typed rate limit, retried at that time and worded `message`.
pub fn assert_typed_rate_limit(
    first: &ForgeError,
    second: &ForgeError,
    asked_at: SystemTime,
    secs: u64,
    message: &str,
) {
    assert!(matches!(first, ForgeError::RateLimited { .. }), "{first:?}");
    let at = first.retry_at().expect("retry time");
    assert!(
        at >= asked_at + Duration::from_secs(secs - 1)
            && at <= SystemTime::now() + Duration::from_secs(secs + 1)
    );
    assert_eq!(first, second);
    assert_eq!(first.to_string(), message);
}

async fn render_err(set: &ApplicationSet, inputs: &Inputs, options: &Options) -> String {
    generate_applications(set, inputs, options)
        .await
        .expect_err("an error")
        .to_string()
}
