//! Helpers shared by the fuzz targets: one runtime, the in-process `appset serve` router, the
//! CLI's render pipeline (recorded inputs only, nothing live), and the invariant checks.

use std::sync::{Arc, OnceLock};

use appset::{
    file,
    metrics::Metrics,
    pipeline::{self, Options},
    service::{ServiceConfig, ServiceLimits},
    sources::{Inputs, LiveConfig},
};
use axum::{Router, body::Body, http::Request};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// A current-thread runtime, built once per process.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

/// The `appset serve` router with its default limits and nothing live: no git, no cluster, no
/// forge API (a request records what it needs, or fails).
pub fn router() -> Router {
    static ROUTER: OnceLock<Router> = OnceLock::new();
    ROUTER
        .get_or_init(|| {
            appset::service::api(
                ServiceConfig {
                    namespace: "argocd".into(),
                    live: LiveConfig::default(),
                    limits: ServiceLimits::default(),
                    git: Default::default(),
                },
                Arc::new(Metrics::default()),
            )
        })
        .clone()
}

/// An HTTP answer: status, content type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: String,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// POST `body` to `path` through the router, in process.
pub fn post(path: &str, content_type: &str, accept: &str, body: Vec<u8>) -> Answer {
    let request = Request::post(path)
        .header("content-type", content_type)
        .header("accept", accept)
        .body(Body::from(body))
        .expect("request");
    send(router(), request)
}

/// `request` through `router`, in process, on [`runtime`].
pub fn send(router: Router, request: Request<Body>) -> Answer {
    runtime().block_on(async {
        let response = router.oneshot(request).await.expect("infallible");
        Answer {
            status: response.status().as_u16(),
            content_type: response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string(),
            body: response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes()
                .to_vec(),
        }
    })
}

/// An answer of the service is either a success (2xx with a body) or an error object with a
/// non-empty `error` and `reason`; never an empty 200.
pub fn check_answer(a: &Answer) {
    if a.status == 200 {
        assert!(!a.body.is_empty(), "an empty 200");
        if a.content_type.starts_with("application/json") {
            let v: Value = serde_json::from_slice(&a.body).expect("a 200 JSON answer that is not JSON");
            assert!(v.is_object(), "a 200 answer that is not an object: {v}");
        }
    } else {
        assert!((400..600).contains(&a.status), "unexpected status {}", a.status);
        if a.content_type.starts_with("application/json") {
            let v: Value = serde_json::from_slice(&a.body).expect("an error answer that is not JSON");
            let error = v["error"].as_str().unwrap_or_default();
            assert!(!error.trim().is_empty(), "an error without a message: {v}");
            assert!(
                !v["reason"].as_str().unwrap_or_default().is_empty(),
                "an error without a reason: {v}"
            );
        } else {
            assert!(!a.body.is_empty(), "an error without a body");
        }
    }
}

/// An error message must say something.
pub fn check_message(what: &str, message: &str) {
    assert!(
        !message.trim().is_empty(),
        "{what}: an error with an empty message"
    );
}

/// The options the service renders with (its default limits), so that the CLI path and the
/// service path are comparable.
pub fn service_options() -> Options {
    Options {
        limits: ServiceLimits::default().render,
        ..Options::default()
    }
}

/// The CLI's render of one ApplicationSet file (`appset render --offline`): its valid
/// Applications, or the error text. Invalid Applications are an error here, as in the service.
pub fn render_cli(text: &str, opts: &Options) -> Result<Vec<Value>, String> {
    let parsed = file::parse(text).map_err(|e| e.to_string())?;
    let inputs = Inputs::recorded(parsed.recorded);
    let out = runtime()
        .block_on(pipeline::generate_applications(&parsed.appset, &inputs, opts))
        .map_err(|e| e.to_string())?;
    if let Some(invalid) = out.invalid.first() {
        return Err(format!("invalid: {}", invalid.message));
    }
    Ok(out.applications)
}

/// The engine of a spec written as JSON (`{"goTemplate": true}`, `{"templateEngine": "jinja"}`,
/// `{}` for fasttemplate), with the service's fuel cap.
pub fn engine(spec: Value) -> appset::render::Engine {
    let mut spec = spec;
    spec["generators"] = Value::Array(Vec::new());
    spec["template"] = serde_json::json!({"metadata": {}, "spec": {}});
    let spec: appset::ApplicationSetSpec = serde_json::from_value(spec).expect("a spec");
    appset::render::Engine::with_fuel_cap(&spec, ServiceLimits::default().render.max_fuel).expect("an engine")
}

/// Fixed parameters: nested (jinja, goTemplate) or flat (fasttemplate).
pub fn params(nested: bool) -> appset::Params {
    let v = if nested {
        serde_json::json!({
            "cluster": "in-cluster", "name": "guestbook", "url": "https://kubernetes.default.svc",
            "path": {"path": "apps/guest book", "basename": "guest book", "segments": ["apps", "guest book"]},
            "values": {"env": "prod", "replicas": "3"},
            "n": 3, "f": 1.5, "flag": true, "none": null, "list": [1, "two", {"three": 3}],
            "metadata": {"labels": {"env": "prod"}, "annotations": {}}
        })
    } else {
        serde_json::json!({
            "cluster": "in-cluster", "name": "guestbook", "url": "https://kubernetes.default.svc",
            "path": "apps/guest book", "path.basename": "guest book", "path[0]": "apps",
            "values.env": "prod", "n": 3, "flag": true, "none": null, "list": [1, 2]
        })
    };
    serde_json::from_value(v).expect("params")
}

/// One template string through an engine, the two ways the pipeline renders: `render_str`
/// (values, matrix interpolation) and a compiled template field. Invariants: deterministic,
/// errors have messages, and the two ways agree.
pub fn check_template(engine: &appset::render::Engine, params: &appset::Params, s: &str) {
    use appset::render::CompiledTemplate;
    // goTemplate's clock and random functions (`now`, `rand*`, `uuidv4`, `shuffle`) differ from
    // one call to the next by design: only success or failure is compared for them.
    let impure = ["now", "rand", "uuid", "shuffle"].iter().any(|f| s.contains(f));
    let once = engine.render_str(s, params).map_err(|e| e.to_string());
    let twice = engine.render_str(s, params).map_err(|e| e.to_string());
    if impure {
        assert_eq!(once.is_ok(), twice.is_ok(), "render_str is not deterministic");
    } else {
        assert_eq!(once, twice, "render_str is not deterministic");
    }
    if let Err(e) = &once {
        check_message("render_str", e);
    }
    let template = serde_json::json!({"metadata": {"name": s}});
    let compiled = CompiledTemplate::compile(engine, "spec.template", &template).and_then(|c| {
        let mut warnings = Vec::new();
        // The compiled template reads the set through the lazy context; render_str converts it
        // whole: the two must agree.
        c.render(&std::sync::Arc::new(params.clone()), &mut warnings)
    });
    let compiled = compiled.map_err(|e| e.to_string()).map(|v| {
        v["metadata"]["name"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v["metadata"]["name"].to_string())
    });
    match (&once, &compiled) {
        (Ok(a), Ok(b)) if !impure => assert_eq!(a, b, "render_str and the compiled template disagree"),
        (Ok(_), Ok(_)) => {}
        (Err(_), Err(e)) => check_message("compiled template", e),
        (a, b) => panic!("render_str and the compiled template disagree: {a:?} vs {b:?}"),
    }
}
