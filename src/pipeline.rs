//! The pipeline: ApplicationSet → parameter sets → Applications.
//!
//! Stage: generate + render + validate (pure apart from [`Sources`], through which the generators read git,
//! cluster Secrets and pull requests). This is Argo CD's `GenerateApplications` followed by its
//! validation, and the one entry point that `appset render`, `appset serve` and the controller
//! call: for each top-level generator entry run the generators ([`generators::transform`]),
//! merge the entry's template override into `spec.template` (mergo, §2.7), compile the template
//! once and render one Application per parameter set ([`render::application`]; many sets on
//! every core, joined back in order), then validate the result (names, duplicates,
//! destinations).
//!
//! Fail closed: any generator or render error fails the whole set, so the controller writes
//! nothing for it.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use rayon::iter::{IntoParallelIterator, ParallelIterator};
use serde_json::Value;

pub use crate::generators::pull_request::ScmOptions;
use crate::{
    crd::ApplicationSet,
    generators::{self, GenerateContext, GenerateError, git::GitOptions},
    params::{GoObject, Params, is_empty_value},
    render::{self, CompiledTemplate, Engine, RenderError, SetContext, Warning},
    sources::Sources,
};

// ---- generator template override (Argo's mergo merge, §2.7) ----------------------------------------

/// Fill `genv` (a generator's template override) from `base` (`spec.template`) without
/// overriding: generator values win unless zero (`""`, `false`, `0`, empty list); objects merge
/// key by key; non-empty lists are kept whole.
pub fn merge_template(genv: &mut Value, base: &Value) {
    match (genv, base) {
        (Value::Object(g), Value::Object(b)) => {
            for (k, bv) in b {
                match g.get_mut(k) {
                    Some(gv @ Value::Object(_)) if bv.is_object() => merge_template(gv, bv),
                    Some(gv) if is_empty_value(gv, GoObject::Struct) => *gv = bv.clone(),
                    Some(_) => {}
                    None => {
                        g.insert(k.clone(), bv.clone());
                    }
                }
            }
        }
        (g, b) if is_empty_value(g, GoObject::Struct) => *g = b.clone(),
        _ => {}
    }
}

// ---- the whole ApplicationSet ------------------------------------------------------------------------

/// Options of a generation run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Argo CD's namespace: cluster Secrets are read here, and ApplicationSets without a namespace
    /// are taken to live here.
    pub namespace: String,
    /// Bounds on the run.
    pub limits: Limits,
    /// How git generators select paths: Argo CD's `--enable-new-git-file-globbing` and
    /// `--include-hidden-directories` (both off by default, as in Argo CD).
    pub git: GitOptions,
    /// What pull-request generators may do.
    pub scm: ScmOptions,
    /// Keep what each generator yielded ([`Output::tree`]): the playground and
    /// `/v1/render?tree=true` ask; the controller and the CLI do not pay for it.
    pub trace: bool,
    /// Keep each Application's parameter set ([`Output::params`]): `-o params`, the service and
    /// the playground show them; the controller and the other CLI outputs do not keep them,
    /// so each set is dropped once its Application is rendered.
    pub params: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            namespace: "argocd".into(),
            limits: Limits::default(),
            git: GitOptions::default(),
            scm: ScmOptions::default(),
            trace: false,
            params: true,
        }
    }
}

/// Bounds on one generation run, so that one ApplicationSet cannot exhaust the process. The
/// templating service sets them from its flags; the CLI and the controller use the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Parameter sets one ApplicationSet may generate in total (so Applications it may render).
    pub max_applications: usize,
    /// Parameter sets one matrix generator may produce.
    pub max_matrix_params: usize,
    /// Cap on the jinja fuel of one template string, whatever `jinjaOptions.fuel` asks for.
    pub max_fuel: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_applications: usize::MAX,
            max_matrix_params: generators::matrix::MAX_PARAMS,
            max_fuel: None,
        }
    }
}

/// An Application that failed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The Application name (may be empty).
    pub name: String,
    /// Argo CD's message.
    pub message: String,
}

/// What an ApplicationSet generates.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// The valid Applications, in generation order (empty from [`generate_names`]).
    pub applications: Vec<Value>,
    /// The names of the valid Applications, in generation order.
    pub names: Vec<String>,
    /// The parameter sets, in generation order (one per rendered Application, valid or not).
    pub params: Vec<Params>,
    /// Applications excluded by validation (Argo CD skips them and reports an error).
    pub invalid: Vec<Invalid>,
    /// What generated but probably not as meant: generator reports (a git pattern that matches
    /// nothing) first, then unresolved `{{param}}` tags.
    pub warnings: Vec<Warning>,
    /// When to regenerate: the smallest generator requeue.
    pub requeue_after: Option<Duration>,
    /// The generator tree with what each generator yielded, when [`Options::trace`] asked
    /// (empty otherwise).
    pub tree: Vec<generators::GeneratorNode>,
}

/// Why an ApplicationSet could not be generated. Argo CD's condition reasons.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// A generator failed (`ApplicationGenerationFromParamsError`).
    #[error(transparent)]
    Generate(#[from] GenerateError),
    /// A template failed (`RenderTemplateParamsError`).
    #[error("{0}")]
    Render(#[source] RenderError),
}

impl Failure {
    /// Argo CD's condition reason for this failure.
    pub fn reason(&self) -> &'static str {
        match self {
            Failure::Generate(_) => "ApplicationGenerationFromParamsError",
            Failure::Render(_) => "RenderTemplateParamsError",
        }
    }
}

/// Generation of an ApplicationSet failed; nothing may be created, updated or deleted.
#[derive(Debug, thiserror::Error)]
#[error("ApplicationSet {name:?}: {}", join_failures(.failures))]
pub struct ApplicationSetError {
    /// Name of the ApplicationSet.
    pub name: String,
    /// Every failure, in generator order (the first one is Argo CD's condition message).
    pub failures: Vec<Failure>,
}

impl ApplicationSetError {
    /// The earliest time a retry makes sense, when a failure says (GitHub rate limits); the
    /// controller requeues then instead of at its default interval.
    pub fn retry_at(&self) -> Option<std::time::SystemTime> {
        self.failures
            .iter()
            .filter_map(|f| match f {
                Failure::Generate(g) => g.retry_at(),
                Failure::Render(_) => None,
            })
            .min()
    }
}

fn join_failures(f: &[Failure]) -> String {
    match f {
        [] => "unknown error".into(),
        [one] => one.to_string(),
        [first, rest @ ..] => {
            let mut s = first.to_string();
            for r in rest {
                s.push_str("\n  and: ");
                s.push_str(&r.to_string());
            }
            s
        }
    }
}

/// Generate the Applications of `appset` (Argo CD's `GenerateApplications` + validation).
///
/// # Errors
/// Any generator or render error fails the whole set (fail closed): the error lists every
/// failure and names the generator or template field. Validation problems (empty, invalid or
/// duplicate names, conflicting destinations) do not fail the set: those Applications are moved to
/// [`Output::invalid`], as Argo CD does.
pub async fn generate_applications(
    appset: &ApplicationSet,
    sources: &dyn Sources,
    opts: &Options,
) -> Result<Output, ApplicationSetError> {
    let (mut out, keep, applications) = generate_with(appset, sources, opts, true).await?;
    out.applications = applications
        .into_iter()
        .zip(keep)
        .filter_map(|(app, keep)| keep.then_some(app))
        .collect();
    Ok(out)
}

/// [`generate_applications`] keeping only the valid Applications' names ([`Output::names`]):
/// each Application is dropped as soon as it is rendered, so memory holds one at a time
/// (`appset render -o names`).
///
/// # Errors
/// As [`generate_applications`].
pub async fn generate_names(
    appset: &ApplicationSet,
    sources: &dyn Sources,
    opts: &Options,
) -> Result<Output, ApplicationSetError> {
    generate_with(appset, sources, opts, false)
        .await
        .map(|(out, ..)| out)
}

/// What validation reads of one Application.
struct Facts {
    name: String,
    /// `spec.destination` `(name, server)` when both are set (an error).
    both_destinations: Option<(String, String)>,
}

impl Facts {
    fn of(app: &Value) -> Facts {
        let dest_name = field_str(app, &["spec", "destination", "name"]);
        let dest_server = field_str(app, &["spec", "destination", "server"]);
        Facts {
            name: application_name(app).to_string(),
            both_destinations: (!dest_name.is_empty() && !dest_server.is_empty())
                .then(|| (dest_name.to_string(), dest_server.to_string())),
        }
    }
}

/// The run behind [`generate_applications`] and [`generate_names`]: the rendered Applications
/// when `keep_apps` (else each is dropped as soon as it is rendered) and, in the same order,
/// which are valid.
async fn generate_with(
    appset: &ApplicationSet,
    sources: &dyn Sources,
    opts: &Options,
    keep_apps: bool,
) -> Result<(Output, Vec<bool>, Vec<Value>), ApplicationSetError> {
    let name = appset.metadata.name.clone().unwrap_or_default();
    let namespace = appset
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| opts.namespace.clone());
    let fail = |failures: Vec<Failure>| ApplicationSetError {
        name: name.clone(),
        failures,
    };
    let spec = &appset.spec;
    let engine =
        Engine::with_fuel_cap(spec, opts.limits.max_fuel).map_err(|e| fail(vec![Failure::Render(e)]))?;
    let generator_warnings = generators::Warnings::default();
    let trace = generators::Trace::default();
    let ctx = GenerateContext {
        appset_name: &name,
        appset_namespace: &namespace,
        controller_namespace: &opts.namespace,
        project: spec.template.spec.project.as_deref().unwrap_or_default(),
        engine: &engine,
        sources,
        outer: None,
        max_matrix_params: opts.limits.max_matrix_params,
        git: opts.git,
        scm: &opts.scm,
        warnings: &generator_warnings,
        trace: opts.trace.then_some(&trace),
    };
    let base = serde_json::to_value(&spec.template).unwrap_or(Value::Null);
    let set = SetContext {
        engine: &engine,
        template_patch: spec.template_patch.as_deref(),
        preserve_resources: spec
            .sync_policy
            .as_ref()
            .is_some_and(|p| p.preserve_resources_on_deletion),
        namespace: &namespace,
    };

    let mut out = Output {
        requeue_after: generators::requeue_after(&spec.generators, opts.git.requeue_after),
        ..Output::default()
    };
    let mut failures: Vec<Failure> = Vec::new();
    let mut generated = 0usize;
    let mut compiled_base: Option<CompiledTemplate> = None;
    let mut facts: Vec<Facts> = Vec::new();
    let mut applications: Vec<Value> = Vec::new();
    for (i, entry) in spec.generators.iter().enumerate() {
        let path = format!("spec.generators[{i}]");
        let results = match generators::transform(entry, &ctx, &path).await {
            Ok(r) => r,
            Err(e) => {
                failures.push(Failure::Generate(e));
                continue;
            }
        };
        generated += results.iter().map(|t| t.params.len()).sum::<usize>();
        if generated > opts.limits.max_applications {
            failures.push(Failure::Generate(GenerateError::Limit {
                path,
                message: format!(
                    "the ApplicationSet generates more than {} Applications (the limit)",
                    opts.limits.max_applications
                ),
            }));
            break;
        }
        for t in results {
            let template_value = match t.template {
                Some(genv) => {
                    let mut v = serde_json::to_value(genv).unwrap_or(Value::Null);
                    merge_template(&mut v, &base);
                    Some(v)
                }
                None => None,
            };
            let compiled = match &template_value {
                Some(v) => CompiledTemplate::compile(&engine, &format!("{}.template", t.path), v),
                None => match compiled_base.take() {
                    Some(c) => Ok(c),
                    None => CompiledTemplate::compile(&engine, "spec.template", &base),
                },
            };
            let compiled = match compiled {
                Ok(c) => c,
                Err(e) => {
                    failures.push(Failure::Render(e));
                    continue;
                }
            };
            let raw = template_value.as_ref().unwrap_or(&base);
            let rendered = render_all(&compiled, raw, t.params, &set, keep_apps, opts.params);
            facts.extend(rendered.facts);
            applications.extend(rendered.applications);
            out.params.extend(rendered.params);
            out.warnings.extend(rendered.warnings);
            if let Some(e) = rendered.error {
                failures.push(Failure::Render(e));
            }
            if template_value.is_none() {
                compiled_base = Some(compiled);
            }
        }
    }
    if !failures.is_empty() {
        return Err(fail(failures));
    }
    // What the generators reported comes first: it is why a template may have seen less.
    out.warnings.splice(0..0, generator_warnings.take());
    if opts.trace {
        out.tree = trace.tree(&spec.generators);
    }
    let keep = validate(&name, &facts, &mut out);
    out.names = facts
        .into_iter()
        .zip(&keep)
        .filter_map(|(f, keep)| keep.then_some(f.name))
        .collect();
    Ok((out, keep, applications))
}

/// Parameter sets below which one thread renders them all: handing work to another thread costs
/// microseconds, an Application a few; each thread gets at least half this many.
const PARALLEL_MIN_PARAMS: usize = 512;

/// What [`render_all`] made of one template's parameter sets, in their order.
#[derive(Default)]
struct Rendered {
    /// What validation needs of each Application.
    facts: Vec<Facts>,
    /// The Applications (empty unless asked to keep them).
    applications: Vec<Value>,
    /// The parameter sets (empty unless asked to keep them).
    params: Vec<Params>,
    warnings: Vec<Warning>,
    /// The first failure; what follows it is not rendered.
    error: Option<RenderError>,
}

impl Rendered {
    /// Render `params` in order on this thread, stopping at the first failure.
    fn render(
        compiled: &CompiledTemplate,
        raw: &Value,
        params: Vec<Params>,
        set: &SetContext<'_>,
        keep_apps: bool,
        keep_params: bool,
    ) -> Rendered {
        let mut r = Rendered {
            facts: Vec::with_capacity(params.len()),
            ..Rendered::default()
        };
        for p in params {
            let p = Arc::new(p);
            match render::application(compiled, raw, &p, set, &mut r.warnings) {
                Ok(app) => {
                    r.facts.push(Facts::of(&app));
                    if keep_apps {
                        r.applications.push(app);
                    }
                    if keep_params {
                        // The render's context is gone: the set is this Arc's alone again.
                        r.params.push(Arc::unwrap_or_clone(p));
                    }
                }
                Err(e) => {
                    r.error = Some(e);
                    break;
                }
            }
        }
        r
    }

    /// Append `next` (what came after `self`), unless `self` already failed.
    fn append(&mut self, next: Rendered) {
        if self.error.is_some() {
            return;
        }
        self.facts.extend(next.facts);
        self.applications.extend(next.applications);
        self.params.extend(next.params);
        self.warnings.extend(next.warnings);
        self.error = next.error;
    }
}

/// Render one Application per parameter set with `compiled`, in order. Many sets are split into
/// contiguous runs rendered on rayon's threads (one per core the process may use) and joined back
/// in order, so the answer is the one a single thread gives: the same Applications, warnings and
/// first failure. The calling thread waits (a tokio worker, in the controller: as a render on it
/// would keep it, for less time).
fn render_all(
    compiled: &CompiledTemplate,
    raw: &Value,
    mut params: Vec<Params>,
    set: &SetContext<'_>,
    keep_apps: bool,
    keep_params: bool,
) -> Rendered {
    if params.len() < PARALLEL_MIN_PARAMS {
        return Rendered::render(compiled, raw, params, set, keep_apps, keep_params);
    }
    let threads = rayon::current_num_threads().min(params.len() / (PARALLEL_MIN_PARAMS / 2));
    if threads <= 1 {
        return Rendered::render(compiled, raw, params, set, keep_apps, keep_params);
    }
    // Contiguous runs, the first ones one longer when the count does not divide evenly.
    let mut runs = Vec::with_capacity(threads);
    for i in (0..threads).rev() {
        let len = params.len() / (i + 1);
        runs.push(params.split_off(params.len() - len));
    }
    runs.reverse();
    let parts: Vec<Rendered> = runs
        .into_par_iter()
        .map(|run| Rendered::render(compiled, raw, run, set, keep_apps, keep_params))
        .collect();
    let mut all = Rendered::default();
    for part in parts {
        all.append(part);
    }
    all
}

/// Whether `name` is a DNS-1123 subdomain (what the API server requires of an object name).
pub fn is_dns1123_subdomain(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

/// Argo CD's `validateGeneratedApplications` (the checks that need no cluster) plus the API
/// server's name rule, on what each Application's [`Facts`] say: which to keep, in order; the
/// invalid ones are reported in `invalid` (a duplicated name once, and every copy excluded).
fn validate(appset: &str, facts: &[Facts], out: &mut Output) -> Vec<bool> {
    let mut counts: std::collections::HashMap<&str, usize> =
        std::collections::HashMap::with_capacity(facts.len());
    for f in facts {
        *counts.entry(f.name.as_str()).or_default() += 1;
    }
    let mut reported_dup = std::collections::BTreeSet::new();
    let mut keep = Vec::with_capacity(facts.len());
    for f in facts {
        let name = f.name.as_str();
        let problem = if name.is_empty() {
            Some(format!(
                "ApplicationSet {appset} contains an application with no name; a name must be set in the \
                 template's metadata.name or via a templatePatch (generateName is not supported)"
            ))
        } else if counts[name] > 1 {
            if !reported_dup.insert(name) {
                keep.push(false);
                continue;
            }
            Some(format!(
                "ApplicationSet {appset} contains applications with duplicate name: {name}"
            ))
        } else if !is_dns1123_subdomain(name) {
            Some(format!(
                "Application name {name:?} is invalid: a lowercase RFC 1123 subdomain must consist of lower \
                 case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric \
                 character (e.g. 'example.com', regex used for validation is \
                 '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ))
        } else {
            f.both_destinations.as_ref().map(|(dest_name, dest_server)| {
                format!(
                    "application destination spec is invalid: application destination can't have both \
                     name and server defined: {dest_name} {dest_server}"
                )
            })
        };
        keep.push(problem.is_none());
        if let Some(message) = problem {
            out.invalid.push(Invalid {
                name: name.to_string(),
                message,
            });
        }
    }
    keep
}

/// The clusters an Application may be sent to (Argo CD's cluster Secrets plus `in-cluster`), by
/// name and server URL, for [`validate_destinations`].
#[derive(Debug, Clone, Default)]
pub struct KnownClusters {
    clusters: Vec<(String, String)>,
}

impl KnownClusters {
    /// The clusters of these cluster Secrets, plus Argo CD's local cluster (`in-cluster`,
    /// `https://kubernetes.default.svc`) unless a Secret already names that server.
    pub fn from_secrets<'a>(
        secrets: impl IntoIterator<Item = &'a k8s_openapi::api::core::v1::Secret>,
    ) -> Self {
        let mut clusters: Vec<(String, String)> = secrets
            .into_iter()
            .map(|s| {
                (
                    crate::sources::secret_field(s, "name").unwrap_or_default(),
                    crate::sources::secret_field(s, "server").unwrap_or_default(),
                )
            })
            .collect();
        let local = generators::cluster::IN_CLUSTER_SERVER;
        if !clusters.iter().any(|(_, server)| same_server(server, local)) {
            clusters.push(("in-cluster".into(), local.into()));
        }
        KnownClusters { clusters }
    }

    /// Why this destination cannot be resolved (Argo CD's `GetDestinationCluster` messages), or
    /// `None` when it names exactly one known cluster.
    pub fn problem(&self, name: &str, server: &str) -> Option<String> {
        let inner = if !name.is_empty() && !server.is_empty() {
            format!("application destination can't have both name and server defined: {name} {server}")
        } else if !server.is_empty() {
            if self.clusters.iter().any(|(_, s)| same_server(s, server)) {
                return None;
            }
            format!(
                "error getting cluster by server {server:?}: rpc error: code = NotFound desc = cluster {server:?} not found"
            )
        } else if !name.is_empty() {
            let servers: Vec<&str> = self
                .clusters
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, s)| s.as_str())
                .collect();
            match servers.len() {
                1 => return None,
                0 => format!("there are no clusters with this name: {name}"),
                k => format!(
                    "there are {k} clusters with the same name: [{}]",
                    servers.join(" ")
                ),
            }
        } else {
            "Destination server missing from app spec".to_string()
        };
        Some(format!("application destination spec is invalid: {inner}"))
    }
}

/// Server URLs compare without a trailing `/`.
fn same_server(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Set aside the Applications whose destination is not a known cluster (Argo CD's validation of
/// generated Applications in its controller): they are neither created nor updated, and, being
/// generated, an existing one of that name is not deleted.
pub fn validate_destinations(out: &mut Output, clusters: &KnownClusters) {
    let mut keep = Vec::with_capacity(out.applications.len());
    for app in std::mem::take(&mut out.applications) {
        let problem = clusters.problem(
            field_str(&app, &["spec", "destination", "name"]),
            field_str(&app, &["spec", "destination", "server"]),
        );
        match problem {
            Some(message) => out.invalid.push(Invalid {
                name: application_name(&app).to_string(),
                message,
            }),
            None => keep.push(app),
        }
    }
    out.applications = keep;
}

/// What the controller knows of an AppProject: its `spec.sourceNamespaces`, or why it could not
/// be read (`None`: it does not exist).
pub type ProjectLookup = Result<Option<Vec<String>>, String>;

/// The project of a generated Application (`spec.project`, `default` when empty).
pub fn application_project(app: &Value) -> &str {
    match field_str(app, &["spec", "project"]) {
        "" => "default",
        p => p,
    }
}

/// Set aside the Applications of an ApplicationSet outside the controller's namespace whose
/// AppProject does not exist or does not list the set's namespace in `sourceNamespaces` (names,
/// globs, `/regex/`), with Argo CD's messages. `projects` answers for every project the
/// Applications name ([`application_project`]); an unreadable project sets its Applications
/// aside too (fail closed). Sets in the controller's namespace are not checked.
pub fn validate_projects(
    out: &mut Output,
    set_namespace: &str,
    controller_namespace: &str,
    projects: &BTreeMap<String, ProjectLookup>,
) {
    if set_namespace == controller_namespace {
        return;
    }
    let mut keep = Vec::with_capacity(out.applications.len());
    for app in std::mem::take(&mut out.applications) {
        let name = application_name(&app).to_string();
        let project = application_project(&app);
        let problem = match projects.get(project) {
            None | Some(Ok(None)) => Some(format!(
                "application references project {project} which does not exist"
            )),
            Some(Err(e)) => Some(format!("error getting project {project}: {e}")),
            Some(Ok(Some(source_namespaces))) => {
                let permitted = crate::namespaces::Namespaces::new(controller_namespace, source_namespaces)
                    .is_ok_and(|n| n.allows(set_namespace));
                (!permitted).then(|| {
                    format!(
                        "application '{name}' in namespace '{set_namespace}' is not permitted to use project '{project}'"
                    )
                })
            }
        };
        match problem {
            Some(message) => out.invalid.push(Invalid { name, message }),
            None => keep.push(app),
        }
    }
    out.applications = keep;
}

/// A string at a path of object keys ("" when absent). Cheaper than `Value::pointer`, which
/// parses its path on every call.
fn field_str<'v>(v: &'v Value, path: &[&str]) -> &'v str {
    path.iter()
        .try_fold(v, |v, k| v.get(*k))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The name of an Application as JSON (`metadata.name`, "" when absent).
pub fn application_name(app: &Value) -> &str {
    field_str(app, &["metadata", "name"])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `render_all` on many parameter sets (split across threads) gives what one thread gives:
    /// the same Applications in the same order, the same warnings, and the first failure.
    #[test]
    fn rendering_on_several_threads_answers_as_one_thread_does() {
        let sets = |n: usize| -> Vec<Params> {
            (0..n)
                .map(|i| {
                    let mut p = Params::new();
                    p.insert("i".into(), json!(i));
                    // Every third set lacks `team`: a warning in fasttemplate mode.
                    if i % 3 != 0 {
                        p.insert("team".into(), json!(format!("t{}", i % 5)));
                    }
                    p
                })
                .collect()
        };
        let check = |engine: Engine, template: Value, n: usize| {
            let compiled = CompiledTemplate::compile(&engine, "spec.template", &template).unwrap();
            let set = SetContext {
                engine: &engine,
                template_patch: None,
                preserve_resources: false,
                namespace: "argocd",
            };
            let one = Rendered::render(&compiled, &template, sets(n), &set, true, true);
            let many = render_all(&compiled, &template, sets(n), &set, true, true);
            assert!(n >= PARALLEL_MIN_PARAMS && rayon::current_num_threads() >= 1);
            assert_eq!(many.applications, one.applications);
            assert_eq!(many.params, one.params);
            assert_eq!(many.warnings, one.warnings);
            let names = |r: &Rendered| r.facts.iter().map(|f| f.name.clone()).collect::<Vec<_>>();
            assert_eq!(names(&many), names(&one));
            (
                many.applications.len(),
                many.warnings.len(),
                many.error.map(|e| e.to_string()),
            )
        };
        let fast = json!({"metadata": {"name": "app-{{i}}", "labels": {"team": "{{team}}"}},
                          "spec": {"project": "default"}});
        let (apps, warnings, error) = check(Engine::Fasttemplate, fast, 3001);
        // A warning on every set (`i` is a number, not a string) and on every third (no `team`).
        assert_eq!((apps, warnings, error), (3001, 3001 + 1001, None));
        // Two sets fail, one in each half: the first in order is the answer, as on one thread.
        let spec: crate::crd::ApplicationSetSpec = serde_json::from_value(json!({
            "goTemplate": true, "generators": [], "template": {"metadata": {}, "spec": {}}
        }))
        .unwrap();
        let go = Engine::from_spec(&spec).unwrap();
        let failing = json!({"metadata": {"name":
            "app-{{.i}}{{if or (eq .i 700.0) (eq .i 2500.0)}}{{fail (printf \"bad %v\" .i)}}{{end}}"}});
        let (apps, _, error) = check(go, failing, 3001);
        assert_eq!(apps, 700);
        let error = error.expect("a failure");
        assert!(error.contains("bad 700"), "{error}");
    }

    #[test]
    fn generator_template_fills_only_zero_fields_and_unions_labels() {
        let mut genv = json!({
            "metadata": {"name": "genv-{{x}}", "labels": {"a": "genv", "b": ""}},
            "spec": {"project": "", "source": {"path": "p"}, "info": []}
        });
        let base = json!({
            "metadata": {"name": "base", "labels": {"b": "base", "c": "base"}},
            "spec": {"project": "proj", "source": {"repoURL": "r", "path": "q"}, "info": [{"name": "i"}]}
        });
        merge_template(&mut genv, &base);
        assert_eq!(
            genv,
            json!({
                "metadata": {"name": "genv-{{x}}", "labels": {"a": "genv", "b": "base", "c": "base"}},
                "spec": {"project": "proj", "source": {"path": "p", "repoURL": "r"}, "info": [{"name": "i"}]}
            })
        );
    }

    #[test]
    fn dns1123_subdomains_are_lowercase_labels_joined_by_dots() {
        assert!(is_dns1123_subdomain("guestbook-dev.a1"));
        assert!(!is_dns1123_subdomain("Guestbook"));
        assert!(!is_dns1123_subdomain("-a"));
        assert!(!is_dns1123_subdomain("a..b"));
        assert!(!is_dns1123_subdomain(""));
    }

    #[test]
    fn destinations_must_name_exactly_one_known_cluster_with_argo_cd_s_messages() {
        let secret = |name: &str, server: &str| -> k8s_openapi::api::core::v1::Secret {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": format!("cluster-{name}")},
                "stringData": {"name": name, "server": server}
            }))
            .unwrap()
        };
        let secrets = [
            secret("prod", "https://prod.example.com"),
            secret("twin", "https://a.example.com"),
            secret("twin", "https://b.example.com"),
        ];
        let known = KnownClusters::from_secrets(&secrets);
        assert_eq!(known.problem("", "https://prod.example.com/"), None);
        assert_eq!(known.problem("prod", ""), None);
        assert_eq!(
            known.problem("in-cluster", ""),
            None,
            "the local cluster is always known"
        );
        assert_eq!(known.problem("", "https://kubernetes.default.svc"), None);
        let problem = |name, server| known.problem(name, server).unwrap();
        assert_eq!(
            problem("", "https://gone.example.com"),
            "application destination spec is invalid: error getting cluster by server \"https://gone.example.com\": \
             rpc error: code = NotFound desc = cluster \"https://gone.example.com\" not found"
        );
        assert_eq!(
            problem("nope", ""),
            "application destination spec is invalid: there are no clusters with this name: nope"
        );
        assert_eq!(
            problem("twin", ""),
            "application destination spec is invalid: there are 2 clusters with the same name: \
             [https://a.example.com https://b.example.com]"
        );
        assert_eq!(
            problem("", ""),
            "application destination spec is invalid: Destination server missing from app spec"
        );
        assert!(problem("prod", "https://prod.example.com").contains("can't have both name and server"));

        let app = |name: &str, server: &str| serde_json::json!({"metadata": {"name": name}, "spec": {"destination": {"server": server}}});
        let mut out = Output {
            applications: vec![
                app("ok", "https://prod.example.com"),
                app("lost", "https://gone.example.com"),
            ],
            ..Output::default()
        };
        validate_destinations(&mut out, &known);
        assert_eq!(out.applications, vec![app("ok", "https://prod.example.com")]);
        assert_eq!(out.invalid.len(), 1);
        assert_eq!(out.invalid[0].name, "lost");
    }

    #[test]
    fn sets_outside_the_controller_namespace_need_a_project_that_permits_their_namespace() {
        let app =
            |name: &str, project: &str| json!({"metadata": {"name": name}, "spec": {"project": project}});
        let projects = BTreeMap::from([
            ("open".to_string(), Ok(Some(vec!["team-*".to_string()]))),
            ("closed".to_string(), Ok(Some(vec!["other".to_string()]))),
            ("default".to_string(), Ok(None)),
            ("broken".to_string(), Err("forbidden".to_string())),
        ]);
        let run = |ns: &str| {
            let mut out = Output {
                applications: vec![
                    app("a", "open"),
                    app("b", "closed"),
                    app("c", ""),
                    app("d", "broken"),
                ],
                ..Output::default()
            };
            validate_projects(&mut out, ns, "argocd", &projects);
            out
        };
        let out = run("team-a");
        assert_eq!(out.applications, vec![app("a", "open")]);
        let messages: Vec<&str> = out.invalid.iter().map(|i| i.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "application 'b' in namespace 'team-a' is not permitted to use project 'closed'",
                "application references project default which does not exist",
                "error getting project broken: forbidden",
            ]
        );
        assert_eq!(
            run("argocd").applications.len(),
            4,
            "the controller's namespace is not checked"
        );
    }
}
