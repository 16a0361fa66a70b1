//! The templating service (`appset serve`): every endpoint, every error class and every limit,
//! through the router in process, plus the binary on a loopback port.

use std::{path::Path, sync::Arc, time::Duration};

use appset::{
    metrics::Metrics,
    pipeline::Limits,
    service::{ApiError, ServiceConfig, ServiceLimits},
    sources::LiveConfig,
};
use axum::{Router, body::Body, http::Request};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

fn config(limits: ServiceLimits) -> ServiceConfig {
    ServiceConfig {
        namespace: "argocd".into(),
        live: LiveConfig {
            git: true,
            git_cache_dir: std::env::temp_dir().join("appset-serve-test-cache"),
            ..LiveConfig::default()
        },
        limits,
        git: Default::default(),
    }
}

fn router(limits: ServiceLimits) -> Router {
    appset::service::api(config(limits), Arc::new(Metrics::default()))
}

fn example(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).expect("example")
}

/// A list ApplicationSet with `n` elements (JSON).
fn list_set(name: &str, elements: &[&str]) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": name},
        "spec": {
            "generators": [{"list": {"elements": elements.iter().map(|e| json!({"cluster": e})).collect::<Vec<_>>()}}],
            "template": {
                "metadata": {"name": "{{cluster}}-app"},
                "spec": {"project": "default",
                         "source": {"repoURL": "https://example.com/r.git", "path": "apps/{{cluster}}", "targetRevision": "HEAD"},
                         "destination": {"server": "https://kubernetes.default.svc", "namespace": "{{cluster}}"}}
            }
        }
    })
}

/// The names of the Applications in a render answer.
fn app_names(answer: &Value) -> Vec<&str> {
    answer["applications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["metadata"]["name"].as_str().unwrap())
        .collect()
}

struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn error(&self) -> ApiError {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not an error ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

async fn call(app: &Router, path: &str, content_type: &str, accept: &str, body: impl Into<Body>) -> Answer {
    let request = Request::post(path)
        .header("content-type", content_type)
        .header("accept", accept)
        .body(body.into())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    Answer {
        status: response.status().as_u16(),
        content_type: response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        body: response.into_body().collect().await.unwrap().to_bytes().to_vec(),
    }
}

async fn post_json(app: &Router, path: &str, body: &Value) -> Answer {
    call(
        app,
        path,
        "application/json",
        "application/json",
        body.to_string(),
    )
    .await
}

#[tokio::test]
async fn render_yaml_in_json_out_with_parameters_on_request() {
    let app = router(ServiceLimits::default());
    let a = call(
        &app,
        "/v1/render?params=true",
        "application/yaml",
        "application/json",
        example("generators/list/three-clusters.yaml"),
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.content_type, "application/json");
    let v = a.json();
    assert_eq!(
        app_names(&v),
        [
            "engineering-dev-guestbook",
            "engineering-prod-guestbook",
            "finance-preprod-guestbook"
        ]
    );
    assert_eq!(v["parameters"].as_array().unwrap().len(), 3);
    assert_eq!(v["parameters"][0]["cluster"], "engineering-dev");
    // Without ?params the parameter sets are left out.
    let a = call(
        &app,
        "/v1/render",
        "application/yaml",
        "application/json",
        example("generators/list/three-clusters.yaml"),
    )
    .await;
    assert!(a.json().get("parameters").is_none());
}

#[tokio::test]
async fn render_previews_the_rollout_on_request() {
    let app = router(ServiceLimits::default());
    let render = |path: &'static str, body: String| {
        let app = app.clone();
        async move { call(&app, path, "application/yaml", "application/json", body).await }
    };
    let a = render("/v1/render?steps=true", example("templates/rolling-sync.yaml")).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let v = a.json();
    assert_eq!(app_names(&v).len(), 10);
    let steps = &v["steps"];
    assert_eq!(steps["strategy"], "RollingSync");
    assert_eq!(
        steps["steps"][1],
        json!({
            "step": 2,
            "matchExpressions": ["env In (staging)"],
            "maxUpdate": "50%",
            "scaledAgainst": 4,
            "limit": {"kind": "atMost", "count": 2},
            "applications": ["guestbook-staging-ap", "guestbook-staging-eu", "guestbook-staging-sa", "guestbook-staging-us"],
            "batches": [["guestbook-staging-ap", "guestbook-staging-eu"], ["guestbook-staging-sa", "guestbook-staging-us"]],
        })
    );
    assert_eq!(steps["steps"][0]["maxUpdate"], "1");
    assert_eq!(steps["steps"][2]["batches"].as_array().unwrap().len(), 1);
    assert_eq!(steps["unassigned"], json!(["guestbook-sandbox"]));
    assert_eq!(steps["problems"], json!([]));
    assert!(steps.get("invalidRolloutConfig").is_none());

    // Without ?steps the answer is unchanged.
    let a = render("/v1/render", example("templates/rolling-sync.yaml")).await;
    assert_eq!(a.status, 200);
    assert!(a.json().get("steps").is_none());

    // Argo CD's InvalidRolloutConfig message.
    let invalid =
        example("templates/rolling-sync.yaml").replace("operator: In, values: [dev]", "operator: Exists");
    let a = render("/v1/render?steps=true", invalid).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let steps = &a.json()["steps"];
    assert_eq!(
        steps["invalidRolloutConfig"],
        "Step 1 has invalid matchExpression operators: Exists. Supported Operators are 'In' and 'NotIn'"
    );
    assert_eq!(steps["problems"].as_array().unwrap().len(), 2, "{steps}");
    assert_eq!(steps["problems"][1], "step 1 selects no Application");

    // A set without a strategy: every Application at once, in one step.
    let a = render(
        "/v1/render?steps=true",
        example("generators/list/three-clusters.yaml"),
    )
    .await;
    let steps = &a.json()["steps"];
    assert_eq!(steps["strategy"], "AllAtOnce");
    assert_eq!(steps["steps"][0]["limit"], json!({"kind": "unlimited"}));
    assert_eq!(steps["steps"][0]["batches"][0].as_array().unwrap().len(), 3);

    // RollingSync without steps: Argo CD's error, as a 422 naming the field.
    let no_steps = example("templates/rolling-sync.yaml");
    let cut = no_steps.find("      steps:").unwrap();
    let end = no_steps.find("  template:").unwrap();
    let no_steps = format!("{}      steps: []\n{}", &no_steps[..cut], &no_steps[end..]);
    let a = render("/v1/render?steps=true", no_steps.clone()).await;
    assert_eq!(a.status, 422, "{}", String::from_utf8_lossy(&a.body));
    let e = a.error();
    assert_eq!(e.reason, "ApplicationSetRolloutError");
    assert_eq!(e.error, "No steps defined for rollout");
    assert_eq!(e.field.as_deref(), Some("spec.strategy.rollingSync.steps"));
    assert_eq!(e.application_set.as_deref(), Some("guestbook"));
    assert_eq!(render("/v1/render", no_steps).await.status, 200);
}

#[tokio::test]
async fn render_json_envelope_with_recorded_inputs_and_yaml_out() {
    let app = router(ServiceLimits::default());
    let set = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "dirs"},
        "spec": {
            "generators": [{"git": {"repoURL": "https://example.com/apps.git", "revision": "HEAD", "directories": [{"path": "apps/*"}]}}],
            "template": {"metadata": {"name": "{{path.basename}}"},
                         "spec": {"project": "default", "source": {"repoURL": "https://example.com/apps.git", "path": "{{path}}"},
                                  "destination": {"server": "https://kubernetes.default.svc", "namespace": "x"}}}
        }
    });
    let inputs = json!({"git": {"https://example.com/apps.git": {"files": {"apps/web/a.yaml": "", "apps/api/b.yaml": ""}}}});
    let a = call(
        &app,
        "/v1/render",
        "application/json",
        "application/yaml",
        json!({"applicationSet": set, "inputs": inputs}).to_string(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.content_type, "application/yaml");
    let v: Value = serde_saphyr::from_str(std::str::from_utf8(&a.body).unwrap()).unwrap();
    assert_eq!(app_names(&v), ["api", "web"]);
}

#[tokio::test]
async fn bad_input_is_400_with_the_field_and_the_application_set() {
    let app = router(ServiceLimits::default());
    let malformed = call(
        &app,
        "/v1/render",
        "application/json",
        "",
        "{\"applicationSet\": ",
    )
    .await;
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.error().reason, "MalformedRequest");

    let mut set = list_set("typo", &["a"]);
    set["spec"]["generators"][0] = json!({"lisst": {"elements": []}});
    let e = post_json(&app, "/v1/render", &set).await;
    assert_eq!(e.status, 400);
    let e = e.error();
    assert_eq!(e.reason, "InvalidApplicationSet");
    assert_eq!(e.application_set.as_deref(), Some("typo"));
    assert!(
        e.field
            .as_deref()
            .is_some_and(|f| f.starts_with("spec.generators[0]")),
        "{e:?}"
    );
    assert!(e.error.contains("lisst"), "{e:?}");

    let bad_inputs =
        json!({"applicationSet": list_set("x", &["a"]), "inputs": {"git": {"u": {"branchez": {}}}}});
    let e = post_json(&app, "/v1/render", &bad_inputs).await;
    assert_eq!(e.status, 400);
    assert_eq!(e.error().reason, "InvalidInputs");
    assert!(e.error().field.unwrap().starts_with("inputs.git"));

    let e = call(&app, "/v1/render", "text/html", "", "<html>").await;
    assert_eq!(e.status, 415);
}

#[tokio::test]
async fn generator_and_template_errors_are_422() {
    let app = router(ServiceLimits::default());
    let mut set = list_set("values", &["a"]);
    set["spec"]["generators"][0]["list"]["elements"] = json!([{"cluster": 1}]);
    let e = post_json(&app, "/v1/render", &set).await;
    assert_eq!(e.status, 422);
    let err = e.error();
    assert_eq!(err.reason, "ApplicationGenerationFromParamsError");
    assert_eq!(err.application_set.as_deref(), Some("values"));
    assert_eq!(
        err.field.as_deref(),
        Some("spec.generators[0].list.elements[0].cluster"),
        "{err:?}"
    );

    let mut set = list_set("tmpl", &["a"]);
    set["spec"]["template"]["spec"]["source"]["path"] = json!("{{cluster}}/{{oops");
    let err = post_json(&app, "/v1/render", &set).await.error();
    assert_eq!(err.reason, "RenderTemplateParamsError");
    assert_eq!(
        err.field.as_deref(),
        Some("spec.template.spec.source.path"),
        "{err:?}"
    );

    // Two Applications with one name: Argo CD refuses them, so the preview does too.
    let mut set = list_set("dup", &["a", "b"]);
    set["spec"]["template"]["metadata"]["name"] = json!("same");
    let e = post_json(&app, "/v1/render", &set).await;
    assert_eq!(e.status, 422);
    assert_eq!(e.error().reason, "ApplicationValidationError");
}

/// The service reads no cluster: a clusters generator without recorded clusters is told what
/// the request should carry (not a flag `serve` does not have), and then renders with them.
#[tokio::test]
async fn a_clusters_generator_without_recorded_clusters_is_told_what_the_request_carries() {
    let app = router(ServiceLimits::default());
    let mut set = list_set("clusters", &[]);
    set["spec"]["generators"] = json!([{"clusters": {}}]);
    set["spec"]["template"]["metadata"]["name"] = json!("{{name}}-app");
    let e = post_json(&app, "/v1/render", &set).await;
    assert_eq!(e.status, 502, "{}", String::from_utf8_lossy(&e.body));
    let err = e.error();
    assert!(err.error.contains("`inputs.clusters`"), "{err:?}");
    assert!(err.error.contains("second YAML document"), "{err:?}");
    assert!(!err.error.contains("pass --clusters"), "{err:?}");
    // What it names works.
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "c1", "namespace": "argocd", "labels": {"argocd.argoproj.io/secret-type": "cluster"}},
        "stringData": {"name": "one", "server": "https://one.example.com"}});
    let a = post_json(
        &app,
        "/v1/render",
        &json!({"applicationSet": set, "inputs": {"clusters": [secret]}}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert!(app_names(&a.json()).contains(&"one-app"), "{:?}", a.json());
}

#[tokio::test]
async fn an_unreachable_git_repository_is_502() {
    let app = router(ServiceLimits::default());
    let set = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "metadata": {"name": "gone"},
        "spec": {"generators": [{"git": {"repoURL": "file:///nonexistent/appset-serve-test.git", "revision": "HEAD", "directories": [{"path": "*"}]}}],
                 "template": {"metadata": {"name": "{{path.basename}}"}, "spec": {"project": "default", "destination": {"server": "https://kubernetes.default.svc"}}}}
    });
    let e = post_json(&app, "/v1/render", &set).await;
    assert_eq!(e.status, 502, "{}", String::from_utf8_lossy(&e.body));
    let err = e.error();
    assert_eq!(err.reason, "SourceUnavailable");
    assert_eq!(err.field.as_deref(), Some("spec.generators[0].git"));
    assert!(err.error.contains("nonexistent"), "{err:?}");
}

#[tokio::test]
async fn diff_before_and_after_and_against_live_applications() {
    let app = router(ServiceLimits::default());
    let before = list_set("s", &["a", "b", "gone"]);
    let mut after = list_set("s", &["a", "b", "new"]);
    after["spec"]["template"]["spec"]["source"]["targetRevision"] = json!("v2");
    let d = post_json(&app, "/v1/diff", &json!({"before": before, "after": after})).await;
    assert_eq!(d.status, 200, "{}", String::from_utf8_lossy(&d.body));
    let d = d.json();
    assert_eq!(d["create"], json!(["new-app"]));
    assert_eq!(d["delete"], json!(["gone-app"]));
    assert_eq!(d["update"][0]["name"], "a-app");
    assert_eq!(
        d["update"][0]["changes"],
        json!([{"path": "/spec/source/targetRevision", "before": "HEAD", "after": "v2"}])
    );
    assert_eq!(d["unchanged"], 0);

    // One ApplicationSet against the current Applications: live-only fields do not count.
    let rendered = post_json(&app, "/v1/render", &list_set("s", &["a", "b"]))
        .await
        .json();
    let mut live = rendered["applications"].as_array().unwrap().clone();
    live[0]["status"] = json!({"sync": {"status": "Synced"}});
    live[0]["metadata"]["labels"] = json!({"added-by-argocd": "x"});
    live[1]["spec"]["source"]["path"] = json!("drifted");
    let d = post_json(
        &app,
        "/v1/diff",
        &json!({"applicationSet": list_set("s", &["a", "b"]), "applications": live}),
    )
    .await
    .json();
    assert_eq!(d["unchanged"], 1);
    assert_eq!(d["update"][0]["name"], "b-app");
    assert_eq!(d["update"][0]["changes"][0]["path"], "/spec/source/path");

    // Applications no longer generated: a delete only when the set owns them; one made by hand
    // (no ownerReference to the set) is reported apart.
    let owner = json!([{"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "name": "s", "uid": "u", "controller": true}]);
    let mut owned = live[1].clone();
    owned["metadata"]["ownerReferences"] = owner;
    let mut by_hand = live[1].clone();
    by_hand["metadata"]["name"] = json!("by-hand");
    let d = post_json(
        &app,
        "/v1/diff",
        &json!({"applicationSet": list_set("s", &["a"]), "applications": [live[0], owned, by_hand]}),
    )
    .await
    .json();
    assert_eq!(d["delete"], json!(["b-app"]));
    assert_eq!(d["unowned"], json!(["by-hand"]));

    let e = post_json(&app, "/v1/diff", &json!({"after": list_set("s", &["a"])})).await;
    assert_eq!(e.status, 400);
    assert_eq!(e.error().reason, "MalformedRequest");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let app = router(ServiceLimits {
        max_body_bytes: 1024,
        ..ServiceLimits::default()
    });
    let big = list_set("big", &vec!["a-cluster-name"; 200]);
    let e = post_json(&app, "/v1/render", &big).await;
    assert_eq!(e.status, 413);
    assert_eq!(e.error().reason, "BodyTooLarge");
    assert!(e.error().error.contains("1024"));
    // Without a Content-Length (a stream), the limit still holds.
    let chunks: Vec<Result<String, std::io::Error>> = vec![Ok(big.to_string())];
    let e = call(
        &app,
        "/v1/render",
        "application/json",
        "",
        Body::from_stream(futures::stream::iter(chunks)),
    )
    .await;
    assert_eq!(e.status, 413);
}

#[tokio::test]
async fn too_many_applications_and_too_large_a_matrix_are_422() {
    let limits = |apps, matrix| ServiceLimits {
        render: Limits {
            max_applications: apps,
            max_matrix_params: matrix,
            max_fuel: Some(100_000),
        },
        ..ServiceLimits::default()
    };
    let app = router(limits(3, 10_000));
    let e = post_json(&app, "/v1/render", &list_set("many", &["a", "b", "c", "d"])).await;
    assert_eq!(e.status, 422);
    let err = e.error();
    assert_eq!(err.reason, "LimitExceeded");
    assert!(err.error.contains("more than 3 Applications"), "{err:?}");
    assert_eq!(
        post_json(&app, "/v1/render", &list_set("ok", &["a", "b", "c"]))
            .await
            .status,
        200
    );

    let app = router(limits(10_000, 5));
    let elements = |n: usize| {
        (0..n)
            .map(|i| json!({format!("k{n}"): i.to_string()}))
            .collect::<Vec<_>>()
    };
    let mut set = list_set("matrix", &[]);
    set["spec"]["generators"] = json!([{"matrix": {"generators": [{"list": {"elements": elements(3)}}, {"list": {"elements": elements(2)}}]}}]);
    set["spec"]["template"]["metadata"]["name"] = json!("{{k3}}-{{k2}}");
    let e = post_json(&app, "/v1/render", &set).await;
    assert_eq!(e.status, 422);
    let err = e.error();
    assert_eq!(err.reason, "LimitExceeded");
    assert_eq!(err.field.as_deref(), Some("spec.generators[0].matrix"));
    assert!(err.error.contains("more than 5 parameter sets"), "{err:?}");
}

#[tokio::test]
async fn template_fuel_is_capped_whatever_the_application_set_asks_for() {
    let app = router(ServiceLimits {
        render: Limits {
            max_fuel: Some(500),
            ..ServiceLimits::default().render
        },
        ..ServiceLimits::default()
    });
    let mut set = list_set("fuel", &["a"]);
    set["spec"]["templateEngine"] = json!("jinja");
    set["spec"]["jinjaOptions"] = json!({"fuel": 100_000_000});
    set["spec"]["template"]["metadata"]["name"] = json!("{{ cluster }}-app");
    set["spec"]["template"]["spec"]["source"]["path"] = json!("{% for i in range(100000) %}x{% endfor %}");
    let e = post_json(&app, "/v1/render", &set).await;
    assert_eq!(e.status, 422, "{}", String::from_utf8_lossy(&e.body));
    let err = e.error();
    assert_eq!(err.reason, "LimitExceeded");
    assert_eq!(
        err.field.as_deref(),
        Some("spec.template.spec.source.path"),
        "{err:?}"
    );
}

/// A git server that accepts connections and never answers.
fn silent_git_server() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("git://{}/silent.git", listener.local_addr().unwrap());
    (listener, url)
}

fn git_set(url: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "metadata": {"name": "slow"},
        "spec": {"generators": [{"git": {"repoURL": url, "revision": "HEAD", "directories": [{"path": "*"}]}}],
                 "template": {"metadata": {"name": "{{path.basename}}"}, "spec": {"project": "default", "destination": {"server": "https://kubernetes.default.svc"}}}}
    })
}

#[tokio::test]
async fn a_request_over_the_time_limit_is_408() {
    let (_listener, url) = silent_git_server();
    let app = router(ServiceLimits {
        timeout: Duration::from_millis(300),
        ..ServiceLimits::default()
    });
    let started = std::time::Instant::now();
    let e = post_json(&app, "/v1/render", &git_set(&url)).await;
    assert_eq!(e.status, 408, "{}", String::from_utf8_lossy(&e.body));
    assert_eq!(e.error().reason, "Timeout");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn requests_beyond_the_concurrency_limit_are_429() {
    let (_listener, url) = silent_git_server();
    let app = router(ServiceLimits {
        max_concurrent: 1,
        timeout: Duration::from_secs(2),
        ..ServiceLimits::default()
    });
    let slow = {
        let app = app.clone();
        let body = git_set(&url);
        tokio::spawn(async move { post_json(&app, "/v1/render", &body).await.status })
    };
    // Bounded wait until the slow request holds the only permit.
    let mut status = 0;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let a = post_json(&app, "/v1/render", &list_set("quick", &["a"])).await;
        status = a.status;
        if status == 429 {
            assert_eq!(a.error().reason, "TooManyRequests");
            break;
        }
    }
    assert_eq!(status, 429);
    assert_eq!(slow.await.unwrap(), 408);
    // Once the slow request is done, requests are served again.
    assert_eq!(
        post_json(&app, "/v1/render", &list_set("quick", &["a"]))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn health_metrics_and_unknown_paths() {
    let app = router(ServiceLimits::default());
    let get = |path: &'static str| {
        let app = app.clone();
        async move {
            let r = app
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body = r.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };
    assert_eq!(get("/healthz").await.0, 200);
    assert_eq!(get("/readyz").await.0, 200);
    let (status, body) = get("/nope").await;
    assert_eq!(status, 404);
    assert!(body.contains("NotFound"));
    post_json(&app, "/v1/render", &list_set("m", &["a"])).await;
    let (_, metrics) = get("/metrics").await;
    assert!(
        metrics.contains(r#"appset_http_requests_total{path="/v1/render",code="200"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"appset_http_requests_total{path="other",code="404"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("appset_http_request_duration_seconds_bucket"));
}

/// `appset serve` with `args` on a free loopback port: (child, port).
fn spawn_serve(args: &[&str]) -> (std::process::Child, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_appset"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(args)
        .env("HOME", std::env::temp_dir().join("appset-serve-test-home"))
        .spawn()
        .unwrap();
    (child, port)
}

/// POST `body` (`content_type`) to `/v1/render` of the service on `port`, retrying the
/// connection while it starts (5 s at most): the raw HTTP answer.
fn post_render(port: u16, content_type: &str, body: &str) -> String {
    let mut answer = String::new();
    for _ in 0..100 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            write!(
                s,
                "POST /v1/render HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .unwrap();
            s.read_to_string(&mut answer).unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    answer
}

#[test]
fn the_binary_serves_on_a_loopback_port_and_render_diff_works_offline() {
    let (mut child, port) = spawn_serve(&["--max-applications", "2"]);
    let body = example("generators/list/three-clusters.yaml");
    let answer = post_render(port, "application/yaml", &body);
    let _ = child.kill();
    let _ = child.wait();
    // --max-applications 2 and three clusters: the flag reached the service.
    assert!(answer.starts_with("HTTP/1.1 422"), "{answer}");
    assert!(answer.contains("LimitExceeded"), "{answer}");

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, v: &Value| {
        let p = dir.path().join(name);
        std::fs::write(&p, v.to_string()).unwrap();
        p
    };
    let old = write("old.json", &list_set("s", &["a", "gone"]));
    let mut new_set = list_set("s", &["a", "new"]);
    new_set["spec"]["template"]["spec"]["source"]["targetRevision"] = json!("v2");
    let new = write("new.json", &new_set);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_appset"))
        .arg("render")
        .arg("--diff")
        .arg(&old)
        .arg(&new)
        .args(["-o", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["create"], json!(["new-app"]));
    assert_eq!(d["delete"], json!(["gone-app"]));
    assert_eq!(
        d["update"][0]["changes"][0]["path"],
        "/spec/source/targetRevision"
    );
    let names = std::process::Command::new(env!("CARGO_BIN_EXE_appset"))
        .arg("render")
        .arg("--diff")
        .arg(&old)
        .arg(&new)
        .args(["-o", "names"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&names.stdout),
        "+ new-app\n~ a-app\n- gone-app\n"
    );
    // --exit-code, as `git diff --exit-code`: 2 when anything is deleted, 1 when only created
    // or updated, 0 when nothing changes.
    let code = |a: &std::path::Path, b: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_appset"))
            .args(["render", "--exit-code", "-o", "names", "--diff"])
            .arg(a)
            .arg(b)
            .output()
            .unwrap()
            .status
            .code()
    };
    let grown = write("grown.json", &list_set("s", &["a", "gone", "new"]));
    assert_eq!(code(&old, &new), Some(2));
    assert_eq!(code(&old, &grown), Some(1));
    assert_eq!(code(&old, &old), Some(0));
    // Two files of different ApplicationSets are compared, with a warning.
    let other = write("other.json", &list_set("t", &["a"]));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_appset"))
        .args(["render", "-o", "names", "--diff"])
        .arg(&old)
        .arg(&other)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning:") && stderr.contains("/s\"") && stderr.contains("/t\""),
        "{stderr}"
    );
}

/// `appset serve` calls no host a request names: GitHub and GitLab pull requests are asked only
/// at the public APIs, `scmProvider` generators are read from the request's `scmProviders:`
/// only (a scan costs a request per repository); a forge-shaped listener on 127.0.0.1 that the
/// requests name receives no connection. The same scan, recorded in the request, renders.
#[test]
fn the_service_asks_no_forge_api_a_request_names_and_scans_no_forge() {
    let forge = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    forge.set_nonblocking(true).unwrap();
    let api = format!("http://{}", forge.local_addr().unwrap());
    let (mut child, port) = spawn_serve(&[]);
    let set = |generator: Value| {
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": "s"},
            "spec": {"goTemplate": true, "generators": [generator],
                     "template": {"metadata": {"name": "{{.repository}}"},
                                  "spec": {"project": "default", "destination": {"server": "https://kubernetes.default.svc", "namespace": "x"}}}}
        })
    };
    let scm =
        set(json!({"scmProvider": {"github": {"organization": "acme", "api": format!("{api}/api/v3")}}}));
    let cases = [
        (
            set(json!({"pullRequest": {"github": {"owner": "acme", "repo": "app", "api": api}}})),
            "this process asks GitHub only at https://api.github.com",
        ),
        (
            set(json!({"pullRequest": {"gitlab": {"project": "acme/app", "api": api}}})),
            "this process asks GitLab only at https://gitlab.com",
        ),
        (scm.clone(), "this process scans no forge"),
    ];
    for (set, expected) in &cases {
        let answer = post_render(port, "application/json", &set.to_string());
        assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
        assert!(answer.contains(expected), "{expected}: {answer}");
    }
    assert!(
        matches!(forge.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the service connected to an API the request named"
    );
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let inputs = json!({"scmProviders": {"acme": {"app": {
        "id": 7, "sshUrl": "git@github.com:acme/app.git", "httpsUrl": "https://github.com/acme/app.git",
        "defaultBranch": "main", "branches": {"main": {"sha": sha, "files": []}}
    }}}});
    let answer = post_render(
        port,
        "application/json",
        &json!({"applicationSet": scm, "inputs": inputs}).to_string(),
    );
    let _ = child.kill();
    let _ = child.wait();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"name\":\"app\""), "{answer}");
}

#[tokio::test]
async fn the_generator_tree_counts_what_each_generator_yielded_on_request() {
    let app = router(ServiceLimits::default());
    let list = |elements: Value| json!({"list": {"elements": elements}});
    let set = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "tree"},
        "spec": {
            "generators": [
                {"matrix": {"generators": [
                    list(json!([{"env": "dev"}, {"env": "prod"}])),
                    // Reads the first child's parameters, so it runs once per set of it; its
                    // selector drops `x` each time.
                    {"list": {"elements": [{"app": "{{env}}-a"}, {"app": "{{env}}-b"}, {"app": "x"}]},
                     "selector": {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["x"]}]}},
                ]}},
                {"merge": {"mergeKeys": ["app"], "generators": [
                    list(json!([{"app": "m1", "v": "a"}, {"app": "m2", "v": "b"}])),
                    list(json!([{"app": "m1", "v": "c"}])),
                ]},
                 "selector": {"matchLabels": {"v": "c"}}},
            ],
            "template": {
                "metadata": {"name": "{{app}}"},
                "spec": {"project": "default", "source": {"repoURL": "https://example.com/r.git", "path": "p"},
                         "destination": {"server": "https://kubernetes.default.svc", "namespace": "n"}}
            }
        }
    });
    let a = post_json(&app, "/v1/render?tree=true", &set).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let v = a.json();
    assert_eq!(app_names(&v), ["dev-a", "dev-b", "prod-a", "prod-b", "m1"]);
    let m = "spec.generators[0].matrix";
    let g = "spec.generators[1].merge";
    assert_eq!(
        v["tree"],
        json!([
            {"path": m, "kind": "matrix", "runs": 1, "generated": 4, "count": 4, "children": [
                {"path": format!("{m}.generators[0].list"), "kind": "list", "runs": 1, "generated": 2, "count": 2,
                 "keys": ["env"]},
                {"path": format!("{m}.generators[1].list"), "kind": "list", "runs": 2, "generated": 6, "count": 4,
                 "selector": true, "keys": ["app"]},
            ]},
            {"path": g, "kind": "merge", "runs": 1, "generated": 2, "count": 1, "selector": true,
             "mergeKeys": ["app"], "children": [
                {"path": format!("{g}.generators[0].list"), "kind": "list", "runs": 1, "generated": 2, "count": 2,
                 "keys": ["app", "v"]},
                {"path": format!("{g}.generators[1].list"), "kind": "list", "runs": 1, "generated": 1, "count": 1,
                 "keys": ["app", "v"]},
            ]},
        ])
    );
    // Without ?tree=true there is none (the engine does not keep it).
    assert!(
        post_json(&app, "/v1/render", &set)
            .await
            .json()
            .get("tree")
            .is_none()
    );
}

#[tokio::test]
async fn the_playground_page_its_assets_and_the_examples_are_served_under_a_strict_policy() {
    let app = router(ServiceLimits::default());
    for (path, kind) in [
        ("/", "text/html"),
        ("/playground/app.js", "text/javascript"),
        ("/playground/style.css", "text/css"),
    ] {
        let response = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        assert!(header("content-type").starts_with(kind), "{path}");
        let csp = header("content-security-policy");
        assert!(
            csp.starts_with("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(header("x-content-type-options"), "nosniff");
    }
    let response = app
        .clone()
        .oneshot(Request::get("/v1/examples").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let examples: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let list = examples.as_array().unwrap();
    assert!(list.len() > 50, "{}", list.len());
    // Every example the menu offers renders through /v1/render: fine for the good ones, a JSON
    // error for the `err-*` ones (a 4xx, or a 502 for a repository not recorded), never a 500.
    for e in list {
        let path = e["path"].as_str().unwrap();
        let mut body = e["applicationSet"].as_str().unwrap().to_string();
        if !e["inputs"].as_str().unwrap().is_empty() {
            body = format!("{body}\n---\n{}", e["inputs"].as_str().unwrap());
        }
        let a = call(&app, "/v1/render", "application/yaml", "application/json", body).await;
        let bad = path.rsplit('/').next().unwrap().starts_with("err-");
        assert_eq!(
            a.status == 200,
            !bad,
            "{path}: {}",
            String::from_utf8_lossy(&a.body)
        );
        assert!(
            a.status != 500 && a.json()["error"].is_string() != (a.status == 200),
            "{path}"
        );
    }
}
