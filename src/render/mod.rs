//! Render: one Argo CD `Application` per parameter set.
//!
//! Stage: render (pure; generators run first and do their I/O through `Sources`). Argo CD's
//! `GenerateApplications`: for each top-level generator entry, merge its template override into
//! `spec.template`, then for each parameter set render every string of the template (map keys
//! included) with the set's engine, add the resources finalizer when the rule says so, apply
//! `templatePatch`, force the ApplicationSet's namespace, and finally validate the result
//! (names, duplicates, destinations).
//!
//! The template is walked as a JSON tree and each string is parsed once ([`CompiledTemplate`]),
//! then substituted for every parameter set: rendering 10 000 Applications parses the template
//! once, not 10 000 times.

pub mod fasttemplate;
mod gotemplate;
pub mod jinja;
pub mod patch;

use std::{collections::BTreeMap, time::Duration};

use serde_json::{Map, Value};

use crate::{
    crd::{ApplicationSet, ApplicationSetSpec, RESOURCES_FINALIZER, TemplateEngine},
    generators::{self, GenerateContext, GenerateError, ParamMode, Params},
    sources::Sources,
};

use self::{fasttemplate::FastTemplate, jinja::Jinja};

/// The engine an ApplicationSet renders with.
#[derive(Debug, Clone)]
pub enum Engine {
    /// Argo CD's default `{{param}}` substitution (flat parameters).
    Fasttemplate,
    /// minijinja (nested parameters).
    Jinja(Box<Jinja>),
    /// Go's text/template syntax (`goTemplate: true`), executed on minijinja (nested parameters).
    Go(Box<gotemplate::GoTemplate>),
}

/// A rendering failure.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Argo CD's fasttemplate syntax error (`invalid template: ...`).
    #[error("{0}")]
    Syntax(String),
    /// minijinja failed (syntax, undefined variable, fuel exhausted, ...).
    #[error("{}", jinja_message(.0))]
    Jinja(#[source] minijinja::Error),
    /// The requested engine is not available.
    #[error("{0}")]
    Unsupported(String),
    /// `templatePatch` could not be rendered, parsed or applied.
    #[error("{0}")]
    Patch(String),
    /// A failure inside one template field.
    #[error("template field {field}: {source}")]
    Field {
        /// The field path, e.g. `spec.template.spec.source.path`.
        field: String,
        /// What went wrong.
        #[source]
        source: Box<RenderError>,
    },
}

fn jinja_message(e: &minijinja::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

impl RenderError {
    /// Whether this is an undefined-variable error (matrix `values` pre-resolution leaves such
    /// entries for the child to resolve).
    pub fn is_undefined(&self) -> bool {
        match self {
            RenderError::Jinja(e) => e.kind() == minijinja::ErrorKind::UndefinedError,
            RenderError::Field { source, .. } => source.is_undefined(),
            _ => false,
        }
    }

    fn in_field(self, field: &str) -> RenderError {
        RenderError::Field {
            field: field.to_string(),
            source: Box::new(self),
        }
    }
}

impl Engine {
    /// The engine chosen by the spec: `templateEngine`, else `goTemplate`, else fasttemplate.
    pub fn from_spec(spec: &ApplicationSetSpec) -> Result<Engine, RenderError> {
        Engine::with_limits(spec, &Limits::default())
    }

    /// [`Engine::from_spec`] under `limits` (the jinja fuel cap).
    pub fn with_limits(spec: &ApplicationSetSpec, limits: &Limits) -> Result<Engine, RenderError> {
        let engine = spec.template_engine.unwrap_or(if spec.go_template {
            TemplateEngine::Gotemplate
        } else {
            TemplateEngine::Fasttemplate
        });
        match engine {
            TemplateEngine::Fasttemplate => Ok(Engine::Fasttemplate),
            TemplateEngine::Jinja => Jinja::new(spec.jinja_options.as_ref(), limits.max_fuel)
                .map(|j| Engine::Jinja(Box::new(j)))
                .map_err(|e| RenderError::Jinja(e).in_field("spec.jinjaOptions")),
            TemplateEngine::Gotemplate => {
                gotemplate::GoTemplate::new(&spec.go_template_options, limits.max_fuel)
                    .map(|g| Engine::Go(Box::new(g)))
                    .map_err(|e| RenderError::Syntax(e).in_field("spec.goTemplateOptions"))
            }
        }
    }

    /// The parameter shape this engine renders with.
    pub fn mode(&self) -> ParamMode {
        match self {
            Engine::Fasttemplate => ParamMode::Flat,
            Engine::Jinja(_) | Engine::Go(_) => ParamMode::Nested,
        }
    }

    /// Whether `s` is a template for this engine (other strings render to themselves).
    pub fn is_template(&self, s: &str) -> bool {
        match self {
            Engine::Fasttemplate => s.contains("{{"),
            Engine::Jinja(j) => j.is_template(s),
            Engine::Go(g) => g.is_template(s),
        }
    }

    /// Render one string with one parameter set (values, matrix interpolation, templatePatch).
    pub fn render_str(&self, s: &str, params: &Params) -> Result<String, RenderError> {
        match self {
            Engine::Fasttemplate => {
                fasttemplate::replace(s, params, &mut Vec::new()).map_err(RenderError::Syntax)
            }
            Engine::Jinja(j) => j
                .render_once(s, &jinja_context(params))
                .map_err(RenderError::Jinja),
            Engine::Go(g) => g.render_once(s, params).map_err(RenderError::Syntax),
        }
    }

    /// Pre-resolve a matrix child's `values` entry with the first child's parameters (§2.9):
    /// `Ok(None)` when it names a parameter those do not have (the child resolves it later with
    /// its own), an error for any other failure.
    pub fn pre_resolve(&self, s: &str, params: &Params) -> Result<Option<String>, RenderError> {
        match self {
            // Argo CD forces missingkey=error here.
            Engine::Go(g) => g.render_strict(s, params).map_err(RenderError::Syntax),
            _ => match self.render_str(s, params) {
                Ok(r) => Ok(Some(r)),
                Err(e) if e.is_undefined() => Ok(None),
                Err(e) => Err(e),
            },
        }
    }
}

fn jinja_context(params: &Params) -> minijinja::Value {
    minijinja::Value::from(minijinja::value::Serde(params))
}

/// Apply `f` to every string of a JSON tree (object keys included), in place.
pub fn map_strings<E>(
    v: &mut Value,
    path: &str,
    f: &mut impl FnMut(&str, &str) -> Result<Option<String>, E>,
) -> Result<(), E> {
    match v {
        Value::String(s) => {
            if let Some(new) = f(path, s)? {
                *s = new;
            }
        }
        Value::Array(a) => {
            for (i, item) in a.iter_mut().enumerate() {
                map_strings(item, &format!("{path}[{i}]"), f)?;
            }
        }
        Value::Object(m) => {
            let old = std::mem::take(m);
            for (k, mut item) in old {
                let child = format!("{path}.{k}");
                let key = f(&child, &k)?.unwrap_or(k);
                map_strings(&mut item, &child, f)?;
                m.insert(key, item);
            }
        }
        _ => {}
    }
    Ok(())
}

// ---- compiled templates ---------------------------------------------------------------------------

enum Str {
    Fast(FastTemplate),
    Jinja(String),
    /// A compiled goTemplate: its name in the environment and its Go source (for messages).
    Go {
        name: String,
        source: String,
    },
}

enum Node {
    Literal(Value),
    Str { field: String, t: Str },
    Array(Vec<Node>),
    Object(Vec<(Key, Node)>),
}

enum Key {
    Literal(String),
    Templated { field: String, t: Str },
}

/// A template tree whose strings are parsed once.
pub struct CompiledTemplate {
    root: Node,
    env: Option<minijinja::Environment<'static>>,
    /// The data is Go's (numbers as float64) rather than jinja's.
    go: bool,
}

struct Compiler<'e> {
    engine: &'e Engine,
    env: Option<minijinja::Environment<'static>>,
}

impl Compiler<'_> {
    fn string(&mut self, field: &str, s: &str, is_key: bool) -> Result<Option<Str>, RenderError> {
        match self.engine {
            Engine::Fasttemplate => Ok(FastTemplate::parse(s)
                .map_err(|e| RenderError::Syntax(e).in_field(field))?
                .map(Str::Fast)),
            Engine::Go(g) if g.is_template(s) => {
                let compiled = g.compile(s).map_err(|e| RenderError::Syntax(e).in_field(field))?;
                let name = self.add(field, is_key, compiled, || g.environment())?;
                Ok(Some(Str::Go {
                    name,
                    source: s.to_string(),
                }))
            }
            Engine::Jinja(j) if j.is_template(s) => {
                let name = self.add(field, is_key, s.to_string(), || j.environment())?;
                Ok(Some(Str::Jinja(name)))
            }
            Engine::Go(_) | Engine::Jinja(_) => Ok(None),
        }
    }

    /// Add a minijinja template for `field` to the tree's environment (created by `env` on first
    /// use); returns its name.
    fn add(
        &mut self,
        field: &str,
        is_key: bool,
        source: String,
        env: impl FnOnce() -> minijinja::Environment<'static>,
    ) -> Result<String, RenderError> {
        // Field paths are unique in a tree; a key and its value share one, hence the suffix.
        let name = if is_key {
            format!("{field} (key)")
        } else {
            field.to_string()
        };
        self.env
            .get_or_insert_with(env)
            .add_template_owned(name.clone(), source)
            .map_err(|e| RenderError::Jinja(e).in_field(field))?;
        Ok(name)
    }

    fn node(&mut self, field: &str, v: &Value) -> Result<Node, RenderError> {
        Ok(match v {
            Value::String(s) => match self.string(field, s, false)? {
                Some(t) => Node::Str {
                    field: field.to_string(),
                    t,
                },
                None => Node::Literal(v.clone()),
            },
            Value::Array(a) => Node::Array(
                a.iter()
                    .enumerate()
                    .map(|(i, x)| self.node(&format!("{field}[{i}]"), x))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(m) => {
                let mut entries = Vec::with_capacity(m.len());
                for (k, x) in m {
                    let child = format!("{field}.{k}");
                    let key = match self.string(&child, k, true)? {
                        Some(t) => Key::Templated {
                            field: child.clone(),
                            t,
                        },
                        None => Key::Literal(k.clone()),
                    };
                    entries.push((key, self.node(&child, x)?));
                }
                Node::Object(entries)
            }
            other => Node::Literal(other.clone()),
        })
    }
}

/// A tag written back unsubstituted (fasttemplate), with the field it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Field path.
    pub field: String,
    /// The message.
    pub message: String,
}

struct RenderCtx<'p> {
    params: &'p Params,
    jinja: Option<minijinja::Value>,
    warnings: Vec<Warning>,
}

impl CompiledTemplate {
    /// Parse every string of `template` (a JSON tree) once. `field` is the tree's path.
    pub fn compile(engine: &Engine, field: &str, template: &Value) -> Result<CompiledTemplate, RenderError> {
        let mut c = Compiler { engine, env: None };
        let root = c.node(field, template)?;
        Ok(CompiledTemplate {
            root,
            env: c.env,
            go: matches!(engine, Engine::Go(_)),
        })
    }

    /// Render with one parameter set; warnings (unresolved fasttemplate tags) are appended.
    pub fn render(&self, params: &Params, warnings: &mut Vec<Warning>) -> Result<Value, RenderError> {
        let mut ctx = RenderCtx {
            params,
            jinja: self.env.as_ref().map(|_| {
                if self.go {
                    gotemplate::context(params)
                } else {
                    jinja_context(params)
                }
            }),
            warnings: Vec::new(),
        };
        let out = self.node(&self.root, &mut ctx)?;
        warnings.append(&mut ctx.warnings);
        Ok(out)
    }

    fn string(&self, field: &str, t: &Str, ctx: &mut RenderCtx<'_>) -> Result<String, RenderError> {
        match t {
            Str::Fast(f) => {
                let mut unresolved = Vec::new();
                let s = f.execute(ctx.params, &mut unresolved);
                for u in unresolved {
                    let message = if u.not_a_string {
                        format!(
                            "parameter `{}` is not a string; `{{{{{}}}}}` left as text",
                            u.key, u.key
                        )
                    } else {
                        format!(
                            "parameter `{}` not found; `{{{{{}}}}}` left as text",
                            u.key, u.key
                        )
                    };
                    ctx.warnings.push(Warning {
                        field: field.to_string(),
                        message,
                    });
                }
                Ok(s)
            }
            Str::Go { name, source } => {
                let (Some(env), Some(jctx)) = (&self.env, &ctx.jinja) else {
                    return Err(RenderError::Unsupported("goTemplate without environment".into()));
                };
                env.get_template(name)
                    .and_then(|t| t.render(jctx.clone()))
                    .map_err(|e| {
                        if e.kind() == minijinja::ErrorKind::OutOfFuel {
                            RenderError::Jinja(e).in_field(field)
                        } else {
                            RenderError::Syntax(gotemplate::execution_error(source, &e)).in_field(field)
                        }
                    })
            }
            Str::Jinja(name) => {
                let (Some(env), Some(jctx)) = (&self.env, &ctx.jinja) else {
                    return Err(RenderError::Unsupported(
                        "jinja template without environment".into(),
                    ));
                };
                env.get_template(name)
                    .and_then(|t| t.render(jctx.clone()))
                    .map_err(|e| RenderError::Jinja(e).in_field(field))
            }
        }
    }

    fn node(&self, n: &Node, ctx: &mut RenderCtx<'_>) -> Result<Value, RenderError> {
        Ok(match n {
            Node::Literal(v) => v.clone(),
            Node::Str { field, t } => Value::String(self.string(field, t, ctx)?),
            Node::Array(a) => Value::Array(a.iter().map(|x| self.node(x, ctx)).collect::<Result<_, _>>()?),
            Node::Object(entries) => {
                let mut m = Map::with_capacity(entries.len());
                for (k, x) in entries {
                    let key = match k {
                        Key::Literal(k) => k.clone(),
                        Key::Templated { field, t } => self.string(field, t, ctx)?,
                    };
                    m.insert(key, self.node(x, ctx)?);
                }
                Value::Object(m)
            }
        })
    }
}

// ---- generator template override (Argo's mergo merge, §2.7) ----------------------------------------

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(_) => false,
    }
}

/// Fill `genv` (a generator's template override) from `base` (`spec.template`) without
/// overriding: generator values win unless zero (`""`, `false`, `0`, empty list); objects merge
/// key by key; non-empty lists are kept whole.
pub fn merge_template(genv: &mut Value, base: &Value) {
    match (genv, base) {
        (Value::Object(g), Value::Object(b)) => {
            for (k, bv) in b {
                match g.get_mut(k) {
                    Some(gv @ Value::Object(_)) if bv.is_object() => merge_template(gv, bv),
                    Some(gv) if is_zero(gv) => *gv = bv.clone(),
                    Some(_) => {}
                    None => {
                        g.insert(k.clone(), bv.clone());
                    }
                }
            }
        }
        (g, b) if is_zero(g) => *g = b.clone(),
        _ => {}
    }
}

// ---- the whole ApplicationSet ------------------------------------------------------------------------

/// Options of a generation run.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// Argo CD's namespace: cluster Secrets are read here, and ApplicationSets without a namespace
    /// are taken to live here.
    pub namespace: String,
    /// Bounds on the run.
    pub limits: Limits,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            namespace: "argocd".into(),
            limits: Limits::default(),
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
    /// The valid Applications, in generation order.
    pub applications: Vec<Value>,
    /// The parameter sets, in generation order (one per rendered Application, valid or not).
    pub params: Vec<Params>,
    /// Applications excluded by validation (Argo CD skips them and reports an error).
    pub invalid: Vec<Invalid>,
    /// Unresolved `{{param}}` tags.
    pub warnings: Vec<Warning>,
    /// When to regenerate: the smallest generator requeue.
    pub requeue_after: Option<Duration>,
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
    opts: &RenderOptions,
) -> Result<Output, ApplicationSetError> {
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
    let engine = Engine::with_limits(spec, &opts.limits).map_err(|e| fail(vec![Failure::Render(e)]))?;
    let ctx = GenerateContext {
        appset_name: &name,
        appset_namespace: &namespace,
        controller_namespace: &opts.namespace,
        engine: &engine,
        sources,
        outer: None,
        max_matrix_params: opts.limits.max_matrix_params,
    };
    let base = serde_json::to_value(&spec.template).unwrap_or(Value::Null);
    let preserve = spec
        .sync_policy
        .as_ref()
        .is_some_and(|p| p.preserve_resources_on_deletion);

    let mut out = Output {
        requeue_after: generators::requeue_after(&spec.generators),
        ..Output::default()
    };
    let mut failures: Vec<Failure> = Vec::new();
    let mut generated = 0usize;
    let mut compiled_base: Option<CompiledTemplate> = None;
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
            for p in t.params {
                match render_one(
                    &compiled,
                    raw,
                    &p,
                    spec,
                    &engine,
                    preserve,
                    &namespace,
                    &mut out.warnings,
                ) {
                    Ok(app) => {
                        out.applications.push(app);
                        out.params.push(p);
                    }
                    Err(e) => {
                        failures.push(Failure::Render(e));
                        break;
                    }
                }
            }
            if template_value.is_none() {
                compiled_base = Some(compiled);
            }
        }
    }
    if !failures.is_empty() {
        return Err(fail(failures));
    }
    validate(&name, &mut out);
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn render_one(
    compiled: &CompiledTemplate,
    raw: &Value,
    params: &Params,
    spec: &ApplicationSetSpec,
    engine: &Engine,
    preserve: bool,
    namespace: &str,
    warnings: &mut Vec<Warning>,
) -> Result<Value, RenderError> {
    // Argo CD quirk: an empty parameter set returns the template unrendered and without the
    // injected finalizer.
    let rendered = if params.is_empty() {
        raw.clone()
    } else {
        compiled.render(params, warnings)?
    };
    let mut rendered = match rendered {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let mut metadata = rendered
        .remove("metadata")
        .unwrap_or_else(|| Value::Object(Map::new()));
    let spec_v = rendered
        .remove("spec")
        .unwrap_or_else(|| Value::Object(Map::new()));
    if let Value::Object(m) = &mut metadata {
        m.remove("namespace");
        let has_finalizers = m
            .get("finalizers")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if !params.is_empty() && !has_finalizers && !preserve {
            m.insert(
                "finalizers".into(),
                Value::Array(vec![Value::String(RESOURCES_FINALIZER.into())]),
            );
        }
    }
    let mut app = Map::new();
    app.insert("apiVersion".into(), Value::String("argoproj.io/v1alpha1".into()));
    app.insert("kind".into(), Value::String("Application".into()));
    app.insert("metadata".into(), metadata);
    app.insert("spec".into(), spec_v);
    let mut app = Value::Object(app);
    if let Some(patch) = &spec.template_patch {
        apply_template_patch(&mut app, patch, params, engine)?;
    }
    if let Some(Value::Object(m)) = app.get_mut("metadata") {
        m.insert("namespace".into(), Value::String(namespace.to_string()));
    }
    normalize_application(&mut app);
    Ok(app)
}

/// Argo CD's `NormalizeApplicationSpec` as far as it shows in the created object: an empty
/// project becomes `default`.
fn normalize_application(app: &mut Value) {
    if let Some(Value::Object(spec)) = app.get_mut("spec") {
        let empty = spec
            .get("project")
            .is_none_or(|p| p.as_str().is_some_and(str::is_empty) || p.is_null());
        if empty {
            spec.insert("project".into(), Value::String("default".into()));
        }
    }
}

fn apply_template_patch(
    app: &mut Value,
    patch: &str,
    params: &Params,
    engine: &Engine,
) -> Result<(), RenderError> {
    let field = "spec.templatePatch";
    let rendered = engine.render_str(patch, params).map_err(|e| {
        RenderError::Patch(format!("error replacing values in templatePatch: {e}")).in_field(field)
    })?;
    let trimmed = rendered.trim();
    let patch_value: Value = if trimmed.starts_with('{') {
        serde_json::from_str(trimmed).map_err(|e| {
            RenderError::Patch(format!("invalid templatePatch {trimmed:?}: {e}")).in_field(field)
        })?
    } else {
        serde_saphyr::from_str(&rendered).map_err(|e| {
            RenderError::Patch(format!("invalid templatePatch {trimmed:?}: {e}")).in_field(field)
        })?
    };
    let json = patch_value.to_string();
    if !patch_value.is_object() && !patch_value.is_null() {
        return Err(RenderError::Patch(format!(
            "invalid templatePatch {json:?}: json: cannot unmarshal {} into Go value of type v1alpha1.Application",
            json_kind(&patch_value)
        ))
        .in_field(field));
    }
    if patch_value.is_null() {
        return Ok(());
    }
    // It must have the shape of an Application (typed fields with the right types).
    if let Some(meta) = patch_value.get("metadata") {
        serde_json::from_value::<crate::crd::ApplicationSetTemplateMeta>(meta.clone()).map_err(|e| {
            RenderError::Patch(format!("invalid templatePatch {json:?}: {e}")).in_field(field)
        })?;
    }
    if let Some(spec) = patch_value.get("spec") {
        serde_json::from_value::<crate::crd::ApplicationSpec>(spec.clone()).map_err(|e| {
            RenderError::Patch(format!("invalid templatePatch {json:?}: {e}")).in_field(field)
        })?;
    }
    let project = app.pointer("/spec/project").cloned();
    patch::strategic_merge(app, &patch_value).map_err(|e| {
        RenderError::Patch(format!(
            "error while applying templatePatch template to json {json:?}: {e}"
        ))
        .in_field(field)
    })?;
    // The patch cannot change the project.
    if let Some(Value::Object(spec)) = app.get_mut("spec") {
        match project {
            Some(p) => {
                spec.insert("project".into(), p);
            }
            None => {
                spec.remove("project");
            }
        }
    }
    Ok(())
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null => "null",
        Value::Object(_) => "object",
    }
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
/// server's name rule. Invalid Applications move from `applications` to `invalid`; every copy of a
/// duplicated name is excluded.
fn validate(appset: &str, out: &mut Output) {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for app in &out.applications {
        *counts.entry(application_name(app).to_string()).or_default() += 1;
    }
    let mut reported_dup = std::collections::BTreeSet::new();
    let mut keep = Vec::with_capacity(out.applications.len());
    for app in std::mem::take(&mut out.applications) {
        let name = application_name(&app).to_string();
        let problem = if name.is_empty() {
            Some(format!(
                "ApplicationSet {appset} contains an application with no name; a name must be set in the \
                 template's metadata.name or via a templatePatch (generateName is not supported)"
            ))
        } else if counts[&name] > 1 {
            if !reported_dup.insert(name.clone()) {
                continue;
            }
            Some(format!(
                "ApplicationSet {appset} contains applications with duplicate name: {name}"
            ))
        } else if !is_dns1123_subdomain(&name) {
            Some(format!(
                "Application name {name:?} is invalid: a lowercase RFC 1123 subdomain must consist of lower \
                 case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric \
                 character (e.g. 'example.com', regex used for validation is \
                 '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ))
        } else {
            let dest_name = field_str(&app, &["spec", "destination", "name"]);
            let dest_server = field_str(&app, &["spec", "destination", "server"]);
            if !dest_name.is_empty() && !dest_server.is_empty() {
                Some(format!(
                    "application destination spec is invalid: application destination can't have both \
                     name and server defined: {dest_name} {dest_server}"
                ))
            } else {
                None
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
}
