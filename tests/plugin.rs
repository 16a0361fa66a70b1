//! The plugin generator against a real plugin service: an HTTP server on 127.0.0.1 started here
//! checks the bearer token and the request body and answers as each case needs (parameter sets,
//! 401, 500, a malformed answer, a slow answer). The ConfigMap and the token's Secret are recorded
//! inputs (no cluster); the call itself is live (`LiveConfig::plugins`).

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use appset::{
    pipeline::{self, Options},
    sources::{Inputs, LiveConfig},
};
use axum::{
    Json, Router,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};

const TOKEN: &str = "strong-password";

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(HeaderMap, Value)>>>);

async fn getparams(
    axum::extract::State(seen): axum::extract::State<Seen>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    seen.0.lock().unwrap().push((headers.clone(), body.clone()));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {TOKEN}")) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "invalid token"})),
        )
            .into_response();
    }
    match body.pointer("/input/parameters/mode").and_then(Value::as_str) {
        Some("boom") => (StatusCode::INTERNAL_SERVER_ERROR, "plugin crashed").into_response(),
        Some("garbage") => (StatusCode::OK, "{\"output\": nope").into_response(),
        Some("slow") => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Json(json!({"output": {"parameters": []}})).into_response()
        }
        _ => Json(json!({"output": {"parameters": [
            {"name": "front", "replicas": 2, "image": {"digest": "sha256:a3f1"}},
            {"name": "back", "replicas": 1, "image": {"digest": "sha256:4411"}},
            {"name": "worker", "replicas": 3, "image": {"digest": "sha256:77ab"}},
        ]}}))
        .into_response(),
    }
}

/// A plugin on 127.0.0.1 (any free port): its base URL and what it was sent.
async fn plugin() -> (String, Seen) {
    let seen = Seen::default();
    let app = Router::new()
        .route("/api/v1/getparams.execute", post(getparams))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

/// Generate the set `spec` (goTemplate or not) with the plugin's ConfigMap pointing at
/// `base_url` (`token` its token reference, `timeout` its `requestTimeout`).
async fn generate(
    spec_generator: Value,
    go_template: bool,
    base_url: &str,
    token: &str,
    timeout: Option<&str>,
) -> Result<pipeline::Output, String> {
    let name = if go_template { "{{.name}}" } else { "{{name}}" };
    let set = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
        "metadata": {"name": "images", "namespace": "argocd"},
        "spec": {
            "goTemplate": go_template,
            "generators": [spec_generator],
            "template": {
                "metadata": {"name": format!("app-{name}")},
                "spec": {"project": "default",
                    "source": {"repoURL": "https://github.com/example/app.git", "path": "deploy"},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": name}},
            },
        },
    });
    let mut data = json!({"baseUrl": base_url, "token": token});
    if let Some(t) = timeout {
        data["requestTimeout"] = json!(t);
    }
    let recorded = json!({
        "configMaps": [{"metadata": {"name": "image-plugin", "namespace": "argocd"}, "data": data}],
        "secrets": [
            {"metadata": {"name": "argocd-secret", "namespace": "argocd"},
             "stringData": {"plugin.images.token": format!("{TOKEN}\n")}},
            {"metadata": {"name": "other", "namespace": "argocd"},
             "stringData": {"token": TOKEN, "wrong": "nope"}},
        ],
    });
    let set = serde_json::from_value(set).unwrap();
    let recorded = serde_json::from_value(recorded).unwrap();
    let inputs = Inputs::new(
        recorded,
        LiveConfig {
            plugins: true,
            ..LiveConfig::default()
        },
    );
    pipeline::generate_applications(&set, &inputs, &Options::default())
        .await
        .map_err(|e| e.to_string())
}

fn plugin_generator(parameters: Value) -> Value {
    json!({"plugin": {"configMapRef": {"name": "image-plugin"}, "input": {"parameters": parameters},
        "values": {"team": "platform"}}})
}

#[tokio::test]
async fn every_answered_set_becomes_an_application_with_values_and_the_input() {
    let (url, seen) = plugin().await;
    let out = generate(
        plugin_generator(json!({"env": "prod", "list": [1, 2]})),
        false,
        &url,
        "$plugin.images.token",
        None,
    )
    .await
    .unwrap();
    assert_eq!(out.applications.len(), 3);
    let names: Vec<_> = out.params.iter().map(|p| p["name"].clone()).collect();
    assert_eq!(names, ["front", "back", "worker"]);
    assert_eq!(out.params[0]["image.digest"], "sha256:a3f1");
    assert_eq!(out.params[0]["replicas"], "2");
    assert_eq!(out.params[0]["values.team"], "platform");
    assert_eq!(
        out.params[0]["generator"],
        json!({"input": {"parameters": {"env": "prod", "list": [1, 2]}}})
    );
    assert_eq!(out.requeue_after, Some(Duration::from_secs(1800)));

    let seen = seen.0.lock().unwrap();
    assert_eq!(seen.len(), 1, "one request");
    let (headers, body) = &seen[0];
    assert_eq!(
        body,
        &json!({"applicationSetName": "images", "input": {"parameters": {"env": "prod", "list": [1, 2]}}})
    );
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["user-agent"], "argocd-applicationset");
}

#[tokio::test]
async fn go_template_sets_keep_their_types_and_a_named_secret_holds_the_token() {
    let (url, _) = plugin().await;
    let out = generate(plugin_generator(json!({})), true, &url, "$other:token", None)
        .await
        .unwrap();
    assert_eq!(out.params.len(), 3);
    assert_eq!(out.params[2]["replicas"], json!(3));
    assert_eq!(out.params[2]["image"], json!({"digest": "sha256:77ab"}));
    assert_eq!(out.params[2]["values"], json!({"team": "platform"}));
    assert_eq!(out.params[2]["generator"], json!({"input": {"parameters": {}}}));
}

#[tokio::test]
async fn a_wrong_token_is_argo_cds_api_error() {
    let (url, _) = plugin().await;
    let e = generate(plugin_generator(json!({})), false, &url, "$other:wrong", None)
        .await
        .unwrap_err();
    assert_eq!(
        e,
        "ApplicationSet \"images\": spec.generators[0].plugin: error listing params: error get api 'images': API error with \
         status code 401: invalid token"
    );
}

#[tokio::test]
async fn a_server_error_and_a_malformed_answer_fail_the_set() {
    let (url, _) = plugin().await;
    let e = generate(
        plugin_generator(json!({"mode": "boom"})),
        false,
        &url,
        "$other:token",
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(
        e,
        "ApplicationSet \"images\": spec.generators[0].plugin: error listing params: error get api 'images': API error with \
         status code 500: plugin crashed"
    );
    let e = generate(
        plugin_generator(json!({"mode": "garbage"})),
        false,
        &url,
        "$other:token",
        None,
    )
    .await
    .unwrap_err();
    assert!(
        e.starts_with("ApplicationSet \"images\": spec.generators[0].plugin: error listing params: error get api 'images': "),
        "{e}"
    );
    assert!(e.ends_with(": {\"output\": nope"), "the answer is quoted: {e}");
}

#[tokio::test]
async fn a_slow_plugin_times_out_after_request_timeout() {
    let (url, _) = plugin().await;
    let start = Instant::now();
    let e = generate(
        plugin_generator(json!({"mode": "slow"})),
        false,
        &url,
        "$other:token",
        Some("1"),
    )
    .await
    .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "bounded by requestTimeout"
    );
    assert_eq!(
        e,
        format!(
            "ApplicationSet \"images\": spec.generators[0].plugin: error listing params: error get api 'images': Post \
             \"{url}/api/v1/getparams.execute\": context deadline exceeded (Client.Timeout of 1s exceeded)"
        )
    );
}

#[tokio::test]
async fn a_missing_config_map_or_secret_is_named() {
    let (url, seen) = plugin().await;
    let mut g = plugin_generator(json!({}));
    g["plugin"]["configMapRef"]["name"] = json!("nope");
    let e = generate(g, false, &url, "$other:token", None).await.unwrap_err();
    assert_eq!(
        e,
        "ApplicationSet \"images\": spec.generators[0].plugin: error getting plugin from generator: error fetching ConfigMap: \
         configmaps \"nope\" not found"
    );
    let e = generate(plugin_generator(json!({})), false, &url, "$missing:token", None)
        .await
        .unwrap_err();
    assert_eq!(
        e,
        "ApplicationSet \"images\": spec.generators[0].plugin: error getting plugin from generator: error fetching Secret \
         token: error fetching secret argocd/missing: secrets \"missing\" not found"
    );
    let e = generate(plugin_generator(json!({})), false, "", "$other:token", None)
        .await
        .unwrap_err();
    assert!(
        e.ends_with("baseUrl not found in ConfigMap argocd/image-plugin"),
        "{e}"
    );
    assert!(seen.0.lock().unwrap().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn an_unreachable_plugin_is_a_post_error() {
    // A port that was free a moment ago: nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let e = generate(plugin_generator(json!({})), false, &url, "$other:token", None)
        .await
        .unwrap_err();
    assert!(
        e.starts_with(&format!(
            "ApplicationSet \"images\": spec.generators[0].plugin: error listing params: error get api 'images': Post \
             \"{url}/api/v1/getparams.execute\": "
        )),
        "{e}"
    );
}
