//! The templating service, `appset serve`: the engine over HTTP, no cluster needed.
//!
//! Stage: serve (I/O: HTTP in; git and GitHub through the same sources as `appset render`).
//!
//! - `POST /v1/render`: an ApplicationSet (JSON or YAML, by `Content-Type`), optionally with
//!   recorded inputs, → the Applications it generates (JSON, or YAML by `Accept`), with the
//!   parameter sets when `?params=true`, the rollout preview ([`crate::rollout::preview`])
//!   when `?steps=true` and the generator tree (what each generator yielded,
//!   [`crate::generators::GeneratorNode`]) when `?tree=true`.
//! - `POST /v1/diff`: an ApplicationSet before and after a change, or one ApplicationSet and the
//!   current Applications → which Applications would be created, updated (with a field diff) and
//!   deleted.
//! - `/healthz`, `/readyz`, `/metrics` ([`crate::health`]).
//! - `/`: the playground page, and `/v1/examples` ([`crate::playground`]).
//!
//! Every error is JSON `{error, reason, field, applicationSet}`: 400 for a malformed request or an
//! invalid ApplicationSet, 413/408/429 when a limit is exceeded, 422 for a generator or template
//! error (or a generation limit), 502 when git or GitHub fails. User input never gets a 500.

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{Query, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::{
    crd::{self, ApplicationSet},
    diff::{self, Before, Diff},
    file,
    generators::{GenerateError, git::GitOptions},
    metrics::Metrics,
    pipeline::{self, ApplicationSetError, Failure, Limits, Options},
    render::RenderError,
    rollout::preview::{self, Preview},
    sources::{Inputs, Live, LiveConfig, Recorded},
};

/// Limits of the service: one request cannot exhaust it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceLimits {
    /// Largest request body, in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Requests handled at once (429 beyond).
    pub max_concurrent: usize,
    /// Time one request may take (408 beyond).
    pub timeout: Duration,
    /// Generation limits: Applications, matrix size, template fuel (422 beyond).
    pub render: Limits,
}

impl Default for ServiceLimits {
    fn default() -> Self {
        ServiceLimits {
            max_body_bytes: 1 << 20,
            max_concurrent: 256,
            timeout: Duration::from_secs(30),
            render: Limits {
                max_applications: 10_000,
                max_matrix_params: 10_000,
                max_fuel: Some(100_000),
            },
        }
    }
}

/// Configuration of `appset serve`.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Argo CD's namespace (ApplicationSets without a namespace are taken to live here).
    pub namespace: String,
    /// Live sources for inputs a request does not record: git (with `--repo` overrides) and
    /// GitHub. Cluster Secrets are never read from a cluster: a request records them.
    pub live: LiveConfig,
    /// Limits.
    pub limits: ServiceLimits,
    /// How git generators select paths (Argo CD's installation-wide switches; a request cannot
    /// choose, as an ApplicationSet cannot in Argo CD).
    pub git: GitOptions,
}

struct AppState {
    config: ServiceConfig,
    live: Live,
    permits: Arc<Semaphore>,
}

/// An error answer: `{error, reason, field, applicationSet}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiError {
    /// HTTP status.
    #[serde(skip)]
    pub status: u16,
    /// What is wrong, for a person.
    pub error: String,
    /// Machine-readable reason (Argo CD's condition reason for generation and template errors).
    pub reason: String,
    /// The field at fault, when known (`spec.generators[0].list`).
    pub field: Option<String>,
    /// The ApplicationSet's name, when known.
    pub application_set: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, reason: &str, error: impl Into<String>) -> Self {
        ApiError {
            status: status.as_u16(),
            error: error.into(),
            reason: reason.into(),
            field: None,
            application_set: None,
        }
    }

    fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    fn set(mut self, name: Option<String>) -> Self {
        self.application_set = name.filter(|n| !n.is_empty());
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut response = (status, axum::Json(&self)).into_response();
        if status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// The field named by a render error (the innermost template field).
fn render_field(e: &RenderError) -> Option<String> {
    match e {
        RenderError::Field { field, source } => render_field(source).or_else(|| Some(field.clone())),
        _ => None,
    }
}

fn out_of_fuel(e: &RenderError) -> bool {
    match e {
        RenderError::Jinja(j) => j.kind() == minijinja::ErrorKind::OutOfFuel,
        RenderError::OutOfFuel(_) => true,
        RenderError::Field { source, .. } => out_of_fuel(source),
        _ => false,
    }
}

impl From<ApplicationSetError> for ApiError {
    fn from(e: ApplicationSetError) -> Self {
        let message = e.to_string();
        let name = Some(e.name.clone());
        let Some(first) = e.failures.first() else {
            return ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "ApplicationGenerationFromParamsError",
                message,
            )
            .set(name);
        };
        let unprocessable =
            |reason: &str| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, reason, message.clone());
        let err = match first {
            Failure::Generate(GenerateError::Source { path, .. }) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "SourceUnavailable", message.clone()).field(path)
            }
            Failure::Generate(GenerateError::Limit { path, .. }) => {
                unprocessable("LimitExceeded").field(path)
            }
            Failure::Generate(GenerateError::Render { path, source }) if out_of_fuel(source) => {
                unprocessable("LimitExceeded").field(path)
            }
            Failure::Generate(GenerateError::Invalid { path, .. } | GenerateError::Render { path, .. }) => {
                unprocessable(first.reason()).field(path)
            }
            Failure::Render(r) => {
                let reason = if out_of_fuel(r) {
                    "LimitExceeded"
                } else {
                    first.reason()
                };
                let e = unprocessable(reason);
                match render_field(r) {
                    Some(f) => e.field(f),
                    None => e,
                }
            }
        };
        err.set(name)
    }
}

impl From<crd::ParseError> for ApiError {
    fn from(e: crd::ParseError) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidApplicationSet",
            e.message.clone(),
        )
        .field(e.field.clone())
        .set(e.name.clone())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Yaml,
}

fn is_yaml(media: &str) -> bool {
    media.contains("yaml")
}

fn request_format(headers: &HeaderMap, body: &[u8]) -> Result<Format, ApiError> {
    match headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        Some(ct) if is_yaml(ct) => Ok(Format::Yaml),
        Some(ct) if ct.contains("json") => Ok(Format::Json),
        // curl's `-d` sends form-urlencoded; text/plain and octet-stream say nothing either.
        Some(ct)
            if ![
                "text/plain",
                "application/octet-stream",
                "application/x-www-form-urlencoded",
            ]
            .iter()
            .any(|generic| ct.starts_with(generic)) =>
        {
            Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                format!("Content-Type {ct:?} is neither JSON nor YAML"),
            ))
        }
        // No (or a generic) type: JSON when it looks like JSON.
        _ => Ok(match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Format::Json,
            _ => Format::Yaml,
        }),
    }
}

fn response_format(headers: &HeaderMap) -> Format {
    match headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) {
        Some(a) if is_yaml(a) => Format::Yaml,
        _ => Format::Json,
    }
}

fn respond<T: Serialize>(format: Format, value: &T) -> Response {
    match format {
        Format::Json => match serde_json::to_vec(value) {
            Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
            Err(e) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Encoding", e.to_string()).into_response()
            }
        },
        Format::Yaml => match serde_saphyr::to_string(value) {
            Ok(body) => ([(header::CONTENT_TYPE, "application/yaml")], body).into_response(),
            Err(e) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Encoding", e.to_string()).into_response()
            }
        },
    }
}

/// The request body's documents: JSON is one document, YAML may hold several.
fn documents(body: &[u8], format: Format) -> Result<Vec<Value>, ApiError> {
    let malformed = |e: String| ApiError::new(StatusCode::BAD_REQUEST, "MalformedRequest", e);
    match format {
        Format::Json => serde_json::from_slice::<Value>(body)
            .map(|v| vec![v])
            .map_err(|e| malformed(format!("malformed JSON: {e}"))),
        Format::Yaml => {
            let text = std::str::from_utf8(body).map_err(|_| malformed("the body is not UTF-8".into()))?;
            file::documents(text).map_err(|e| malformed(e.to_string()))
        }
    }
}

fn parse_set(doc: Value, field: &str) -> Result<(ApplicationSet, Vec<String>), ApiError> {
    if !doc.is_object() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MalformedRequest",
            format!("{field}: expected an ApplicationSet object"),
        )
        .field(field));
    }
    let ignored = crd::ignored_fields(&doc);
    let set = crd::parse_application_set(doc)?;
    Ok((set, ignored))
}

fn parse_inputs(doc: Option<Value>, field: &str) -> Result<Recorded, ApiError> {
    match doc {
        None | Some(Value::Null) => Ok(Recorded::default()),
        Some(doc) => serde_path_to_error::deserialize(doc).map_err(|e| {
            let path = format!("{field}.{}", e.path());
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidInputs",
                e.into_inner().to_string(),
            )
            .field(path)
        }),
    }
}

/// Take a key out of an envelope object.
fn take(doc: &mut Value, key: &str) -> Option<Value> {
    doc.as_object_mut().and_then(|m| m.remove(key))
}

/// Query options of `/v1/render`.
#[derive(Debug, Default, Deserialize)]
struct RenderQuery {
    /// Include the parameter sets.
    #[serde(default)]
    params: bool,
    /// Include the rollout preview.
    #[serde(default)]
    steps: bool,
    /// Include the generator tree: what each generator yielded.
    #[serde(default)]
    tree: bool,
}

/// The answer of `/v1/render`.
#[derive(Debug, Serialize)]
struct Rendered {
    applications: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<Vec<crate::params::Params>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    steps: Option<Preview>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tree: Option<Vec<crate::generators::GeneratorNode>>,
    warnings: Vec<String>,
}

impl AppState {
    fn inputs(&self, recorded: Recorded) -> Inputs {
        self.live.inputs(recorded)
    }

    fn options(&self, trace: bool) -> Options {
        Options {
            trace,
            namespace: self.config.namespace.clone(),
            limits: self.config.limits.render,
            git: self.config.git,
            ..Options::default()
        }
    }

    /// Generate an ApplicationSet's valid Applications (invalid ones are an error: a preview
    /// must not hide what Argo CD would refuse).
    async fn generate(
        &self,
        set: &ApplicationSet,
        inputs: &Inputs,
        trace: bool,
    ) -> Result<pipeline::Output, ApiError> {
        let out = pipeline::generate_applications(set, inputs, &self.options(trace)).await?;
        if let Some(invalid) = out.invalid.first() {
            let message = if out.invalid.len() > 1 {
                format!("{} (and {} more)", invalid.message, out.invalid.len() - 1)
            } else {
                invalid.message.clone()
            };
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "ApplicationValidationError",
                message,
            )
            .field("spec.template.metadata.name")
            .set(set.metadata.name.clone()));
        }
        Ok(out)
    }
}

fn warnings(ignored: &[String], out: &pipeline::Output) -> Vec<String> {
    ignored
        .iter()
        .map(|f| format!("unknown field {f} ignored"))
        .chain(out.warnings.iter().map(|w| format!("{}: {}", w.field, w.message)))
        .collect()
}

async fn render_request(
    state: &AppState,
    headers: &HeaderMap,
    query: &RenderQuery,
    body: &[u8],
) -> Result<Response, ApiError> {
    let mut docs = documents(body, request_format(headers, body)?)?;
    let (set_doc, inputs_doc) = match docs.len() {
        1 if docs[0].get("applicationSet").is_some() => {
            let mut env = docs.remove(0);
            (
                take(&mut env, "applicationSet").unwrap_or(Value::Null),
                take(&mut env, "inputs"),
            )
        }
        1 | 2 => {
            let mut it = docs.into_iter();
            (it.next().unwrap_or(Value::Null), it.next())
        }
        0 => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "MalformedRequest",
                "the body holds no ApplicationSet",
            ));
        }
        n => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "MalformedRequest",
                format!("{n} documents: expected the ApplicationSet, then optionally its recorded inputs"),
            ));
        }
    };
    let (set, ignored) = parse_set(set_doc, "applicationSet")?;
    let inputs = state.inputs(parse_inputs(inputs_doc, "inputs")?);
    let out = state.generate(&set, &inputs, query.tree).await?;
    let steps = if query.steps {
        let p = preview::preview(set.spec.strategy.as_ref(), &preview::labelled(&out.applications));
        if let Some(e) = &p.error {
            // Argo CD's controller fails such a set and writes nothing.
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "ApplicationSetRolloutError",
                e.clone(),
            )
            .field("spec.strategy.rollingSync.steps")
            .set(set.metadata.name.clone()));
        }
        Some(p)
    } else {
        None
    };
    let answer = Rendered {
        warnings: warnings(&ignored, &out),
        parameters: query.params.then_some(out.params),
        tree: query.tree.then_some(out.tree),
        steps,
        applications: out.applications,
    };
    Ok(respond(response_format(headers), &answer))
}

async fn diff_request(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    let mut docs = documents(body, request_format(headers, body)?)?;
    if docs.len() != 1 || !docs[0].is_object() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MalformedRequest",
            "expected one object: {before, after, inputs} or {applicationSet, applications, inputs}",
        ));
    }
    let mut env = docs.remove(0);
    let after_doc = take(&mut env, "after").or_else(|| take(&mut env, "applicationSet"));
    let Some(after_doc) = after_doc else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MalformedRequest",
            "missing `after` (or `applicationSet`): the ApplicationSet as changed",
        )
        .field("after"));
    };
    let recorded = parse_inputs(take(&mut env, "inputs"), "inputs")?;
    let (after, _) = parse_set(after_doc, "after")?;
    let after_apps = state
        .generate(&after, &state.inputs(recorded.clone()), false)
        .await?
        .applications;
    let d: Diff = match (take(&mut env, "before"), take(&mut env, "applications")) {
        (Some(before_doc), None) => {
            let (before, _) = parse_set(before_doc, "before")?;
            let before_apps = state
                .generate(&before, &state.inputs(recorded), false)
                .await?
                .applications;
            diff::diff(&before_apps, &after_apps, Before::Rendered)
        }
        (None, Some(Value::Array(live))) => diff::diff_live(
            &live,
            &after_apps,
            &after.metadata.name.clone().unwrap_or_default(),
        ),
        (None, Some(_)) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "MalformedRequest",
                "`applications` must be a list of Applications",
            )
            .field("applications"));
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "MalformedRequest",
                "give either `before` (an ApplicationSet) or `applications` (the current Applications), not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "MalformedRequest",
                "missing `before` (the ApplicationSet before the change) or `applications` (the current Applications)",
            ));
        }
    };
    Ok(respond(response_format(headers), &d))
}

/// Read the body under the size limit, then run `work` under the concurrency and time limits.
async fn limited<F, Fut>(state: &AppState, request: Request, work: F) -> Response
where
    F: FnOnce(HeaderMap, bytes::Bytes) -> Fut,
    Fut: std::future::Future<Output = Result<Response, ApiError>>,
{
    let limits = state.config.limits;
    let Ok(_permit) = state.permits.clone().try_acquire_owned() else {
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            format!(
                "more than {} requests at once; retry shortly",
                limits.max_concurrent
            ),
        )
        .into_response();
    };
    let (parts, body) = request.into_parts();
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BodyTooLarge",
            format!(
                "the request body is larger than the limit of {} bytes",
                limits.max_body_bytes
            ),
        )
        .into_response()
    };
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes) {
        return too_large();
    }
    let work = async move {
        let body = match axum::body::to_bytes(body, limits.max_body_bytes).await {
            Ok(b) => b,
            Err(_) => return too_large(),
        };
        work(parts.headers, body)
            .await
            .unwrap_or_else(IntoResponse::into_response)
    };
    match tokio::time::timeout(limits.timeout, work).await {
        Ok(r) => r,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "Timeout",
            format!("the request took longer than the limit of {:?}", limits.timeout),
        )
        .into_response(),
    }
}

async fn render_handler(
    State(state): State<Arc<AppState>>,
    Query(query): Query<RenderQuery>,
    request: Request,
) -> Response {
    let s = state.clone();
    limited(&state, request, |headers, body| async move {
        render_request(&s, &headers, &query, &body).await
    })
    .await
}

async fn diff_handler(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let s = state.clone();
    limited(&state, request, |headers, body| async move {
        diff_request(&s, &headers, &body).await
    })
    .await
}

/// The service's router: the API, health and metrics, with request logging.
pub fn api(config: ServiceConfig, metrics: Arc<Metrics>) -> Router {
    let state = Arc::new(AppState {
        // Whatever the configuration says, a request is where missing inputs must come from.
        live: Live::new(LiveConfig {
            inputs_by_request: true,
            ..config.live.clone()
        }),
        permits: Arc::new(Semaphore::new(config.limits.max_concurrent.max(1))),
        config,
    });
    metrics.watch_github(state.live.github().clone());
    metrics.set_ready(true);
    let api = Router::new()
        .route("/v1/render", post(render_handler))
        .route("/v1/diff", post(diff_handler))
        .with_state(state);
    let app = api
        .merge(crate::health::probes(metrics.clone()))
        .merge(crate::playground::routes())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "NotFound", "no such endpoint") });
    crate::metrics::observed(app, metrics)
}

/// Serve [`api`] on `listener` until the future is dropped.
pub async fn serve_api(
    listener: tokio::net::TcpListener,
    config: ServiceConfig,
    metrics: Arc<Metrics>,
) -> std::io::Result<()> {
    axum::serve(listener, api(config, metrics)).await
}
