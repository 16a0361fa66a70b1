//! Render: the template engines, and one Argo CD `Application` per parameter set.
//!
//! Stage: render (pure, no I/O, but for goTemplate's date and `rand*` functions, which read the
//! clock, the time zone database and the random source). [`Engine`] is the set's template syntax: Argo's default
//! `{{param}}` ([`fasttemplate`]), Argo's `goTemplate` (`gotemplate`, Go's text/template on
//! minijinja) or appset's jinja ([`jinja`]). A template is walked as a JSON tree and each string
//! is parsed once ([`CompiledTemplate`]), then substituted for every parameter set: rendering
//! 10 000 Applications parses the template once, not 10 000 times. [`application`] finishes each
//! rendered template as Argo CD does (finalizer rule, `templatePatch` via [`patch`], namespace).
//!
//! The engines know parameters ([`crate::params`]) but not the generators that make them:
//! generators use an [`Engine`] (matrix interpolation, `values`), never the other way round. The
//! whole run, generators included, is [`crate::pipeline`].

mod application;
pub mod fasttemplate;
mod gotemplate;
pub mod jinja;
pub mod patch;

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::{
    crd::{ApplicationSetSpec, TemplateEngine},
    params::{ParamMode, Params},
};

pub use self::application::{SetContext, application};
use self::{fasttemplate::FastTemplate, jinja::Jinja};

/// The goTemplate function set (Argo CD's map) with Go's signatures: (name, fixed parameters,
/// variadic). For the differential fuzzer (tests/gotemplate_fuzz.rs); not a stable API.
#[doc(hidden)]
pub fn gotemplate_functions() -> Vec<(&'static str, usize, bool)> {
    gotemplate::function_signatures()
}

/// Render one goTemplate string on `data` with `goTemplateOptions` entries, as a template field
/// is rendered (errors carry appset's `failed to execute go template ...: ` prefix). For the
/// differential fuzzer (tests/gotemplate_fuzz.rs); not a stable API.
#[doc(hidden)]
pub fn gotemplate_render_once(template: &str, data: &Value, options: &[String]) -> Result<String, String> {
    let params: Params = serde_json::from_value(data.clone()).map_err(|e| format!("data: {e}"))?;
    gotemplate::GoTemplate::new(options, None)?.render_once(template, &params)
}

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
    /// A goTemplate string ran out of fuel (Go's message with appset's reason).
    #[error("{0}")]
    OutOfFuel(String),
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
        Engine::with_fuel_cap(spec, None)
    }

    /// [`Engine::from_spec`] with a cap on the fuel of one template string, whatever the set
    /// asks for (`jinjaOptions.fuel`); `None`: the set's own.
    pub fn with_fuel_cap(spec: &ApplicationSetSpec, max_fuel: Option<u64>) -> Result<Engine, RenderError> {
        let engine = spec.template_engine.unwrap_or(if spec.go_template {
            TemplateEngine::Gotemplate
        } else {
            TemplateEngine::Fasttemplate
        });
        match engine {
            TemplateEngine::Fasttemplate => Ok(Engine::Fasttemplate),
            TemplateEngine::Jinja => Jinja::new(spec.jinja_options.as_ref(), max_fuel)
                .map(|j| Engine::Jinja(Box::new(j)))
                .map_err(|e| RenderError::Jinja(e).in_field("spec.jinjaOptions")),
            TemplateEngine::Gotemplate => gotemplate::GoTemplate::new(&spec.go_template_options, max_fuel)
                .map(|g| Engine::Go(Box::new(g)))
                .map_err(|e| RenderError::Syntax(e).in_field("spec.goTemplateOptions")),
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
    /// A parsed goTemplate string.
    Go(Box<gotemplate::Compiled>),
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
    /// The goTemplate engine, when the tree has goTemplate strings (their data is Go's:
    /// numbers as float64).
    go: Option<gotemplate::GoTemplate>,
}

struct Compiler<'e> {
    engine: &'e Engine,
    env: Option<minijinja::Environment<'static>>,
    /// Whether a goTemplate string was compiled.
    go: bool,
}

impl Compiler<'_> {
    fn string(&mut self, field: &str, s: &str, is_key: bool) -> Result<Option<Str>, RenderError> {
        match self.engine {
            Engine::Fasttemplate => Ok(FastTemplate::parse(s)
                .map_err(|e| RenderError::Syntax(e).in_field(field))?
                .map(Str::Fast)),
            Engine::Go(g) if g.is_template(s) => {
                let compiled = g.compile(s).map_err(|e| RenderError::Syntax(e).in_field(field))?;
                self.go = true;
                Ok(Some(Str::Go(Box::new(compiled))))
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

/// Something that did not fail the set but probably is not what was meant, with the field it is
/// about: a tag written back unsubstituted (fasttemplate), or a generator's report (a git pattern
/// that matches nothing).
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
        let mut c = Compiler {
            engine,
            env: None,
            go: false,
        };
        let root = c.node(field, template)?;
        Ok(CompiledTemplate {
            root,
            env: c.env,
            go: match engine {
                Engine::Go(g) if c.go => Some((**g).clone()),
                _ => None,
            },
        })
    }

    /// Render with one parameter set; warnings (unresolved fasttemplate tags) are appended. The
    /// set is shared with jinja's context, which converts only the values a template reads.
    pub fn render(&self, params: &Arc<Params>, warnings: &mut Vec<Warning>) -> Result<Value, RenderError> {
        let mut ctx = RenderCtx {
            params,
            jinja: if self.go.is_some() {
                Some(gotemplate::lazy_context(Arc::clone(params)))
            } else {
                self.env
                    .as_ref()
                    .map(|_| jinja::LazyParams::context(Arc::clone(params)))
            },
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
            Str::Go(compiled) => {
                let (Some(g), Some(data)) = (&self.go, &ctx.jinja) else {
                    return Err(RenderError::Unsupported("goTemplate without its engine".into()));
                };
                g.execute(compiled, data).map_err(|e| {
                    if e.ends_with(gotemplate::FUEL_EXHAUSTED) {
                        RenderError::OutOfFuel(e).in_field(field)
                    } else {
                        RenderError::Syntax(e).in_field(field)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A template of one string, compiled as a template tree is (its context is the lazy one),
    /// and the same string rendered once on the eager context ([`Engine::render_str`]).
    fn both(engine: &Engine, s: &str, params: &Params) -> (String, String) {
        let compiled = CompiledTemplate::compile(engine, "f", &Value::String(s.into())).unwrap();
        let lazy = compiled
            .render(&Arc::new(params.clone()), &mut Vec::new())
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .unwrap_or_else(|e| format!("error: {e}"))
            // A compiled jinja string is a template named after its field.
            .replace("(in f:", "(in <string>:");
        let eager = engine
            .render_str(s, params)
            .map_err(|e| e.in_field("f"))
            .unwrap_or_else(|e| format!("error: {e}"));
        (lazy, eager)
    }

    #[test]
    fn the_lazy_context_answers_as_the_whole_parameter_set_converted_up_front() {
        let params: Params = serde_json::from_value(serde_json::json!({
            "name": "in-cluster",
            "n": 3,
            "f": 1.5,
            "on": false,
            "empty": "",
            "list": ["a", "b"],
            "metadata": {"labels": {"env": "prod", "tier": "a"}, "annotations": {}},
        }))
        .unwrap();
        let spec = |v: serde_json::Value| -> ApplicationSetSpec { serde_json::from_value(v).unwrap() };
        let jinja = Engine::from_spec(&spec(serde_json::json!({
            "templateEngine": "jinja", "generators": [], "template": {}
        })))
        .unwrap();
        let go = Engine::from_spec(&spec(serde_json::json!({
            "goTemplate": true, "generators": [], "template": {}
        })))
        .unwrap();
        let go_strict = Engine::from_spec(&spec(serde_json::json!({
            "goTemplate": true, "goTemplateOptions": ["missingkey=error"], "generators": [], "template": {}
        })))
        .unwrap();
        let cases: &[(&Engine, &[&str])] = &[
            (
                &jinja,
                &[
                    "{{ name }}-{{ metadata.labels.env }}-{{ n + 1 }}-{{ f }}",
                    "{{ metadata }}|{{ list }}|{{ on }}",
                    "{% for k in metadata.labels %}{{ k }},{% endfor %}",
                    "{% for k, v in metadata.labels|items %}{{ k }}={{ v }};{% endfor %}",
                    "{{ metadata.labels|tojson }}|{{ metadata.annotations|length }}",
                    "{{ missing }}",
                    "{{ metadata.nope }}",
                    "{{ name|upper if n > 2 else 'x' }}{% if empty %}e{% endif %}",
                ],
            ),
            (
                &go,
                &[
                    "{{.name}}-{{.metadata.labels.env}}-{{add .n 1}}-{{.f}}",
                    "{{.}}",
                    "{{toJson .}}|{{len .}}|{{len .metadata.annotations}}",
                    "{{range $k, $v := .}}{{$k}}={{$v}};{{end}}",
                    "{{keys . | sortAlpha}}|{{hasKey . \"n\"}}|{{index . \"name\"}}",
                    "{{.missing}}|{{.metadata.nope}}|{{default \"d\" .empty}}",
                    "{{$d := merge (dict \"x\" 1) .}}{{toJson $d}}",
                    "{{dig \"metadata\" \"labels\" \"env\" \"none\" .}}|{{pluck \"name\" .}}",
                    "{{if .on}}on{{else}}off{{end}}|{{printf \"%v %T\" . .}}",
                ],
            ),
            (
                &go_strict,
                &["{{.missing}}", "{{.metadata.labels.nope}}", "{{.name}}"],
            ),
        ];
        for (engine, templates) in cases {
            for t in *templates {
                let (lazy, eager) = both(engine, t, &params);
                assert_eq!(lazy, eager, "{t}");
            }
        }
    }
}
