//! Generators: parameter sets from an ApplicationSet's `spec.generators`.
//!
//! Stage: generate. Pure apart from [`Sources`], the only door to git, cluster Secrets, pull
//! requests, forge organizations, plugin services, ConfigMaps and decision resources. Each generator kind lives in its own file; [`GeneratorSpec`] is the dispatcher (an
//! enum with one variant per kind, so adding a kind is a compile error until every `match`
//! handles it). Matrix and merge hold generator entries and recurse through [`transform`].
//!
//! Parameters come in the two shapes Argo CD uses: flat keys with literal dots for the default
//! `{{param}}` syntax (`path.basename`), nested objects for goTemplate and jinja (`path.basename`
//! as a field access).
//!
//! A generator that runs but finds nothing it was pointed at (a git pattern matching no
//! directory, file or branch) reports a [`Warning`] through [`GenerateContext::warnings`]: the set
//! still generates, and `render` and `serve` show why it generated nothing.

pub mod cluster;
pub mod cluster_decision_resource;
pub mod git;
pub mod glob;
pub mod list;
pub mod matrix;
pub mod merge;
pub mod plugin;
pub mod pull_request;
pub mod scm_provider;
pub mod selector;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use serde_json::Value;

use crate::{
    crd::{ApplicationSetGenerator, ApplicationSetTemplate},
    params::{ParamMode, Params},
    render::{Engine, RenderError, Warning},
    sources::{BoxFuture, SourceError, Sources},
    text::go_format_value,
};

/// What generators need to know about the ApplicationSet being generated.
#[derive(Clone, Copy)]
pub struct GenerateContext<'a> {
    /// Name of the ApplicationSet (for messages).
    pub appset_name: &'a str,
    /// Namespace of the ApplicationSet (token Secrets live here).
    pub appset_namespace: &'a str,
    /// Namespace of Argo CD / the controller (cluster Secrets live here).
    pub controller_namespace: &'a str,
    /// The set's project, as its template writes it (`spec.template.spec.project`): it chooses
    /// among project-scoped repository credentials.
    pub project: &'a str,
    /// The template engine of the set: renders `values` and matrix interpolation.
    pub engine: &'a Engine,
    /// The outside world.
    pub sources: &'a dyn Sources,
    /// Parameters of earlier matrix children: a child's `values` see them (its own win).
    pub outer: Option<&'a Params>,
    /// Parameter sets one matrix may produce ([`crate::pipeline::Limits::max_matrix_params`]).
    pub max_matrix_params: usize,
    /// How git generators select paths ([`crate::pipeline::Options::git`]).
    pub git: git::GitOptions,
    /// What pull-request generators may do ([`crate::pipeline::Options::scm`]).
    pub scm: &'a pull_request::ScmOptions,
    /// Where generators report what does not fail the set but probably is not what was meant.
    pub warnings: &'a Warnings,
    /// Where every generator records what it yielded, when the caller asked
    /// ([`crate::pipeline::Options::trace`]).
    pub trace: Option<&'a Trace>,
}

/// What each generator yielded while a set generated, kept when asked for: the generator tree
/// of `/v1/render?tree=true` and the playground. Keyed by field path; a matrix's later child that
/// reads the earlier child's parameters runs once per earlier set, and its counts add up.
#[derive(Debug, Default)]
pub struct Trace(std::sync::Mutex<BTreeMap<String, Yielded>>);

/// What one generator yielded over its runs.
#[derive(Debug, Default, Clone)]
struct Yielded {
    runs: usize,
    generated: usize,
    selected: usize,
    keys: BTreeSet<String>,
}

/// One generator of the tree: its kind, field path, what it yielded and, for matrix and merge,
/// its children.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GeneratorNode {
    /// Field path (`spec.generators[0].matrix.generators[1].git`).
    pub path: String,
    /// The kind's field name (`list`, `git`, `matrix`, ...).
    pub kind: &'static str,
    /// What kind of that kind: `directories`, `files` or `branches` for git, the forge for
    /// pull-request and SCM-provider generators.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// How often it ran (0: never, because an earlier failure or an empty earlier matrix child
    /// stopped the set; more than 1: once per parameter set of an earlier matrix child).
    pub runs: usize,
    /// Parameter sets generated over every run, before the entry's selector.
    pub generated: usize,
    /// Parameter sets kept by the selector (equal to `generated` without one).
    pub count: usize,
    /// Whether the entry has a post-generator selector.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub selector: bool,
    /// A merge's `mergeKeys`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub merge_keys: Vec<String>,
    /// The parameter names a generator other than matrix and merge yielded (top-level keys).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// A matrix's or merge's children.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<GeneratorNode>,
}

impl Trace {
    fn record(&self, path: &str, leaf: bool, generated: usize, kept: &[Params]) {
        let mut all = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let y = all.entry(path.to_string()).or_default();
        y.runs += 1;
        y.generated += generated;
        y.selected += kept.len();
        if leaf {
            for p in kept {
                for k in p.keys() {
                    if !y.keys.contains(k) {
                        y.keys.insert(k.clone());
                    }
                }
            }
        }
    }

    /// The generator tree of `entries` (a set's `spec.generators`) with what each yielded.
    pub fn tree(&self, entries: &[ApplicationSetGenerator]) -> Vec<GeneratorNode> {
        let seen = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        nodes(&seen, entries, "spec.generators")
    }
}

fn nodes(
    seen: &BTreeMap<String, Yielded>,
    entries: &[ApplicationSetGenerator],
    prefix: &str,
) -> Vec<GeneratorNode> {
    let mut out = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        for kind in GeneratorSpec::kinds_of(entry) {
            let path = format!("{prefix}[{i}].{}", kind.field());
            let y = seen.get(&path).cloned().unwrap_or_default();
            let (children, merge_keys) = match kind {
                GeneratorSpec::Matrix(m) => (
                    nodes(seen, &m.generators, &format!("{path}.generators")),
                    Vec::new(),
                ),
                GeneratorSpec::Merge(m) => (
                    nodes(seen, &m.generators, &format!("{path}.generators")),
                    m.merge_keys.clone(),
                ),
                _ => (Vec::new(), Vec::new()),
            };
            out.push(GeneratorNode {
                detail: kind.detail(),
                kind: kind.field(),
                runs: y.runs,
                generated: y.generated,
                count: y.selected,
                selector: entry.selector.is_some(),
                merge_keys,
                keys: y.keys.into_iter().collect(),
                children,
                path,
            });
        }
    }
    out
}

/// Warnings generators report while generating (a pattern that matches nothing); the pipeline
/// hands them on in [`crate::pipeline::Output::warnings`]. One report is kept once: a matrix asks
/// its later children once per parameter set of the earlier ones.
#[derive(Debug, Default)]
pub struct Warnings(std::sync::Mutex<Vec<Warning>>);

impl Warnings {
    /// Report `message` about `field` (once).
    pub fn push(&self, field: &str, message: String) {
        let warning = Warning {
            field: field.to_string(),
            message,
        };
        let mut all = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !all.contains(&warning) {
            all.push(warning);
        }
    }

    /// Everything reported so far, in order; the list is left empty.
    pub fn take(&self) -> Vec<Warning> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

impl GenerateContext<'_> {
    /// The parameter shape of the set.
    pub fn mode(&self) -> ParamMode {
        self.engine.mode()
    }
}

/// A generator failed. Every variant names the generator by its field path, e.g.
/// `spec.generators[0].matrix.generators[1].git`.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The generator's spec is invalid (Argo CD's message where it has one).
    #[error("{path}: {message}")]
    Invalid {
        /// Field path of the generator.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// Reading git, cluster Secrets or pull requests failed.
    #[error("{path}: {source}")]
    Source {
        /// Field path of the generator.
        path: String,
        /// The underlying error (boxed: keeps `Result`s small).
        #[source]
        source: Box<SourceError>,
    },
    /// A limit of the run was exceeded ([`crate::pipeline::Limits`]).
    #[error("{path}: {message}")]
    Limit {
        /// Field path of the generator.
        path: String,
        /// Which limit, and by how much.
        message: String,
    },
    /// Rendering `values` or an interpolated child spec failed.
    #[error("{path}: {source}")]
    Render {
        /// Field path of the generator (and value).
        path: String,
        /// The underlying error.
        #[source]
        source: RenderError,
    },
}

impl GenerateError {
    /// When retrying makes sense (a GitHub rate limit's reset time), if the failure says.
    pub fn retry_at(&self) -> Option<std::time::SystemTime> {
        match self {
            GenerateError::Source { source, .. } => source.retry_at(),
            _ => None,
        }
    }

    pub(crate) fn invalid(path: &str, message: impl Into<String>) -> Self {
        GenerateError::Invalid {
            path: path.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn source(path: &str, source: SourceError) -> Self {
        GenerateError::Source {
            path: path.to_string(),
            source: Box::new(source),
        }
    }
}

/// Argo CD's error for a generator without content.
pub const EMPTY_GENERATOR: &str = "ApplicationSet is empty";

/// One generator kind of an entry (an entry may set several at the top level, like Argo CD).
#[derive(Debug, Clone, Copy)]
pub enum GeneratorSpec<'a> {
    /// `list`
    List(&'a crate::crd::ListGenerator),
    /// `clusters`
    Clusters(&'a crate::crd::ClusterGenerator),
    /// `git`
    Git(&'a crate::crd::GitGenerator),
    /// `pullRequest`
    PullRequest(&'a crate::crd::PullRequestGenerator),
    /// `matrix`
    Matrix(&'a crate::crd::MatrixGenerator),
    /// `merge`
    Merge(&'a crate::crd::MergeGenerator),
    /// `plugin`
    Plugin(&'a crate::crd::PluginGenerator),
    /// `clusterDecisionResource`
    ClusterDecisionResource(&'a crate::crd::ClusterDecisionResourceGenerator),
    /// `scmProvider`
    ScmProvider(&'a crate::crd::ScmProviderGenerator),
}

impl<'a> GeneratorSpec<'a> {
    /// Every generator of `entries` in order, the children of matrix and merge generators
    /// (at any depth) right after their parent.
    pub fn all_in(entries: &'a [ApplicationSetGenerator]) -> Vec<GeneratorSpec<'a>> {
        let mut out = Vec::new();
        for e in entries {
            for k in GeneratorSpec::kinds_of(e) {
                out.push(k);
                match k {
                    GeneratorSpec::Matrix(m) => out.extend(GeneratorSpec::all_in(&m.generators)),
                    GeneratorSpec::Merge(m) => out.extend(GeneratorSpec::all_in(&m.generators)),
                    _ => {}
                }
            }
        }
        out
    }

    /// The kinds set in an entry, in Argo CD's declaration order.
    pub fn kinds_of(entry: &'a ApplicationSetGenerator) -> Vec<GeneratorSpec<'a>> {
        let mut v = Vec::new();
        if let Some(g) = &entry.list {
            v.push(GeneratorSpec::List(g));
        }
        if let Some(g) = &entry.clusters {
            v.push(GeneratorSpec::Clusters(g));
        }
        if let Some(g) = &entry.git {
            v.push(GeneratorSpec::Git(g));
        }
        if let Some(g) = &entry.scm_provider {
            v.push(GeneratorSpec::ScmProvider(g));
        }
        if let Some(g) = &entry.cluster_decision_resource {
            v.push(GeneratorSpec::ClusterDecisionResource(g));
        }
        if let Some(g) = &entry.pull_request {
            v.push(GeneratorSpec::PullRequest(g));
        }
        if let Some(g) = &entry.matrix {
            v.push(GeneratorSpec::Matrix(g));
        }
        if let Some(g) = &entry.merge {
            v.push(GeneratorSpec::Merge(g));
        }
        if let Some(g) = &entry.plugin {
            v.push(GeneratorSpec::Plugin(g));
        }
        v
    }

    /// The field name of the kind (`list`, `git`, ...).
    pub fn field(&self) -> &'static str {
        match self {
            GeneratorSpec::List(_) => "list",
            GeneratorSpec::Clusters(_) => "clusters",
            GeneratorSpec::Git(_) => "git",
            GeneratorSpec::PullRequest(_) => "pullRequest",
            GeneratorSpec::Matrix(_) => "matrix",
            GeneratorSpec::Merge(_) => "merge",
            GeneratorSpec::Plugin(_) => "plugin",
            GeneratorSpec::ClusterDecisionResource(_) => "clusterDecisionResource",
            GeneratorSpec::ScmProvider(_) => "scmProvider",
        }
    }

    /// Which variant of the kind: `directories`, `files` or `branches` for git, the forge for
    /// pull-request and SCM-provider generators (None for the others).
    pub fn detail(&self) -> Option<String> {
        // The forge fields of pull-request and SCM-provider generators, in Argo CD's spellings.
        const FORGES: &[&str] = &[
            "github",
            "gitlab",
            "gitea",
            "bitbucketServer",
            "bitbucket",
            "azuredevops",
            "azureDevOps",
            "awsCodeCommit",
        ];
        let forge = |v: serde_json::Result<Value>| {
            let v = v.ok()?;
            FORGES
                .iter()
                .find(|n| v.get(**n).is_some_and(|x| !x.is_null()))
                .map(|n| (*n).to_string())
        };
        match self {
            GeneratorSpec::Git(g) if !g.files.is_empty() => Some("files".into()),
            GeneratorSpec::Git(g) if !g.branches.is_empty() => Some("branches".into()),
            GeneratorSpec::Git(_) => Some("directories".into()),
            GeneratorSpec::PullRequest(g) => forge(serde_json::to_value(g)),
            GeneratorSpec::ScmProvider(g) => forge(serde_json::to_value(g)),
            _ => None,
        }
    }

    /// The generator-level template override.
    pub fn template(&self) -> Option<&'a ApplicationSetTemplate> {
        match self {
            GeneratorSpec::List(g) => g.template.as_ref(),
            GeneratorSpec::Clusters(g) => g.template.as_ref(),
            GeneratorSpec::Git(g) => g.template.as_ref(),
            GeneratorSpec::PullRequest(g) => g.template.as_ref(),
            GeneratorSpec::Matrix(g) => g.template.as_ref(),
            GeneratorSpec::Merge(g) => g.template.as_ref(),
            GeneratorSpec::Plugin(g) => g.template.as_ref(),
            GeneratorSpec::ClusterDecisionResource(g) => g.template.as_ref(),
            GeneratorSpec::ScmProvider(g) => g.template.as_ref(),
        }
    }

    /// When the controller should regenerate (None: only on events); `git_default` is the poll
    /// interval of a git or clusterDecisionResource generator that sets none (Argo CD's
    /// `ARGOCD_APPLICATIONSET_CONTROLLER_REQUEUE_AFTER`, 3 minutes).
    pub fn requeue_after(&self, git_default: Duration) -> Option<Duration> {
        fn secs(v: Option<i64>, default: Duration) -> Option<Duration> {
            match v {
                Some(s) if s <= 0 => None,
                Some(s) => Some(Duration::from_secs(s as u64)),
                None => Some(default),
            }
        }
        match self {
            GeneratorSpec::List(_) | GeneratorSpec::Clusters(_) => None,
            GeneratorSpec::Git(g) => secs(g.requeue_after_seconds, git_default),
            GeneratorSpec::ClusterDecisionResource(g) => secs(g.requeue_after_seconds, git_default),
            GeneratorSpec::PullRequest(g) => secs(
                g.requeue_after_seconds,
                Duration::from_secs(pull_request::DEFAULT_REQUEUE_SECONDS),
            ),
            GeneratorSpec::Matrix(g) => requeue_after(&g.generators, git_default),
            GeneratorSpec::Merge(g) => requeue_after(&g.generators, git_default),
            GeneratorSpec::Plugin(g) => secs(
                g.requeue_after_seconds,
                Duration::from_secs(plugin::DEFAULT_REQUEUE_SECONDS),
            ),
            GeneratorSpec::ScmProvider(g) => secs(
                g.requeue_after_seconds,
                Duration::from_secs(scm_provider::DEFAULT_REQUEUE_SECONDS),
            ),
        }
    }

    /// Generate the parameter sets of this kind (no selector, no interpolation).
    pub fn generate<'b>(
        self,
        ctx: &'b GenerateContext<'b>,
        path: String,
    ) -> BoxFuture<'b, Result<Vec<Params>, GenerateError>>
    where
        'a: 'b,
    {
        Box::pin(async move {
            match self {
                GeneratorSpec::List(g) => list::generate(g, ctx, &path),
                GeneratorSpec::Clusters(g) => cluster::generate(g, ctx, &path).await,
                GeneratorSpec::Git(g) => git::generate(g, ctx, &path).await,
                GeneratorSpec::PullRequest(g) => pull_request::generate(g, ctx, &path).await,
                GeneratorSpec::Matrix(g) => matrix::generate(g, ctx, &path).await,
                GeneratorSpec::Merge(g) => merge::generate(g, ctx, &path).await,
                GeneratorSpec::Plugin(g) => plugin::generate(g, ctx, &path).await,
                GeneratorSpec::ClusterDecisionResource(g) => {
                    cluster_decision_resource::generate(g, ctx, &path).await
                }
                GeneratorSpec::ScmProvider(g) => scm_provider::generate(g, ctx, &path).await,
            }
        })
    }
}

/// When generator entries want to be regenerated: the smallest `requeueAfter` of every kind they
/// set (None: only on events). For a whole ApplicationSet, pass `spec.generators`; `git_default`
/// is the poll interval of git generators that set none.
pub fn requeue_after(entries: &[ApplicationSetGenerator], git_default: Duration) -> Option<Duration> {
    entries
        .iter()
        .flat_map(GeneratorSpec::kinds_of)
        .filter_map(|k| k.requeue_after(git_default))
        .min()
}

/// The result of one generator kind of an entry.
#[derive(Debug)]
pub struct Transformed<'a> {
    /// Field path of the generator (`spec.generators[0].list`).
    pub path: String,
    /// The parameter sets, after the entry's selector.
    pub params: Vec<Params>,
    /// The generator-level template override.
    pub template: Option<&'a ApplicationSetTemplate>,
}

/// Argo CD's `Transform`: run every generator kind set in `entry` and apply its post-selector.
/// `path` is the entry's field path (`spec.generators[0]`).
///
/// An entry with no kind set is an error (Argo CD only logs a warning and generates nothing,
/// which hides typos).
pub async fn transform<'a>(
    entry: &'a ApplicationSetGenerator,
    ctx: &GenerateContext<'_>,
    path: &str,
) -> Result<Vec<Transformed<'a>>, GenerateError> {
    let kinds = GeneratorSpec::kinds_of(entry);
    if kinds.is_empty() {
        return Err(GenerateError::invalid(
            path,
            "no generator set (expected one of list, clusters, git, pullRequest, matrix, merge, \
             scmProvider, clusterDecisionResource, plugin)",
        ));
    }
    let selector = match &entry.selector {
        None => None,
        Some(s) => Some(
            selector::Selector::parse(s, selector::ValueValidation::KeysOnly).map_err(|e| {
                GenerateError::invalid(
                    &format!("{path}.selector"),
                    format!("error parsing label selector: {e}"),
                )
            })?,
        ),
    };
    let mut out = Vec::with_capacity(kinds.len());
    for kind in kinds {
        let kpath = format!("{path}.{}", kind.field());
        let mut params = kind.generate(ctx, kpath.clone()).await?;
        let generated = params.len();
        if let Some(sel) = &selector {
            params.retain(|p| sel.matches(&flatten(p)));
        }
        if let Some(trace) = ctx.trace {
            let leaf = !matches!(kind, GeneratorSpec::Matrix(_) | GeneratorSpec::Merge(_));
            trace.record(&kpath, leaf, generated, &params);
        }
        out.push(Transformed {
            path: kpath,
            params,
            template: kind.template(),
        });
    }
    Ok(out)
}

/// Flatten nested parameters into dot keys (`a.b.c`, lists by index `a.0.b`) with leaves
/// formatted as Go's `%v` prints them (`null` is `<nil>`); empty objects and lists vanish. This is
/// `jeremywohl/flatten` in dot style, which Argo CD uses for git files (default mode) and for the
/// post-generator selector.
pub fn flatten(params: &Params) -> BTreeMap<String, String> {
    fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    walk(&join(prefix, k), v, out);
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    walk(&join(prefix, &i.to_string()), v, out);
                }
            }
            leaf => {
                out.insert(prefix.to_string(), go_format_value(leaf));
            }
        }
    }
    fn join(prefix: &str, k: &str) -> String {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    }
    let mut out = BTreeMap::new();
    for (k, v) in params {
        walk(k, v, &mut out);
    }
    out
}

/// Render a generator's `values` with each parameter set and add them as `values.<key>` (flat)
/// or `values: {key: ...}` (nested). Values cannot reference other values.
pub fn apply_values(
    params: &mut [Params],
    values: Option<&BTreeMap<String, String>>,
    ctx: &GenerateContext<'_>,
    path: &str,
) -> Result<(), GenerateError> {
    let Some(values) = values.filter(|v| !v.is_empty()) else {
        return Ok(());
    };
    for p in params.iter_mut() {
        let mut rendered = BTreeMap::new();
        // appset's jinja mode lets a matrix child's values see the earlier children's
        // parameters; Argo CD's modes (fasttemplate, goTemplate) render them with the child's own
        // parameters only.
        let scope = ctx
            .outer
            .filter(|_| matches!(ctx.engine, crate::render::Engine::Jinja(_)))
            .map(|outer| {
                let mut merged = outer.clone();
                merged.extend(p.iter().map(|(k, v)| (k.clone(), v.clone())));
                merged
            });
        for (k, tmpl) in values {
            let s = ctx
                .engine
                .render_str(tmpl, scope.as_ref().unwrap_or(p))
                .map_err(|source| GenerateError::Render {
                    path: format!("{path}.values.{k}"),
                    source,
                })?;
            rendered.insert(k.clone(), s);
        }
        match ctx.mode() {
            ParamMode::Flat => {
                for (k, v) in rendered {
                    p.insert(format!("values.{k}"), Value::String(v));
                }
            }
            ParamMode::Nested => {
                let obj = rendered.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
                p.insert("values".into(), Value::Object(obj));
            }
        }
    }
    Ok(())
}

/// What a JSON value is, in words (`null`, `a string`, `an object`, ...), for messages about a
/// value of the wrong type.
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Shared by the git and pull-request generators: the first `n` characters of a SHA.
pub(crate) fn short(sha: &str, n: usize) -> String {
    sha.chars().take(n).collect()
}

/// Running a generator entry on recorded inputs, for the generators' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// The parameter sets of `spec.generators[0]` of the ApplicationSet `spec` (its `spec` only,
    /// as JSON) reading the recorded inputs `recorded` (the second document of a set file, as
    /// JSON), under the git switches `git`.
    pub(crate) async fn generate_first(
        spec: Value,
        recorded: Value,
        git: git::GitOptions,
    ) -> Result<Vec<Params>, GenerateError> {
        Ok(generate_first_warned(spec, recorded, git).await?.0)
    }

    /// [`generate_first`] and the warnings the generators reported.
    pub(crate) async fn generate_first_warned(
        spec: Value,
        recorded: Value,
        git: git::GitOptions,
    ) -> Result<(Vec<Params>, Vec<Warning>), GenerateError> {
        let set: crate::crd::ApplicationSet = serde_json::from_value(serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": "test", "namespace": "argocd"}, "spec": spec,
        }))
        .expect("an ApplicationSet");
        let recorded = serde_json::from_value(recorded).expect("recorded inputs");
        let inputs = crate::sources::Inputs::recorded(recorded);
        let engine = Engine::with_fuel_cap(&set.spec, None).expect("an engine");
        let ctx = GenerateContext {
            appset_name: "test",
            appset_namespace: "argocd",
            controller_namespace: "argocd",
            project: "default",
            engine: &engine,
            sources: &inputs,
            outer: None,
            max_matrix_params: matrix::MAX_PARAMS,
            git,
            scm: &pull_request::ScmOptions::default(),
            warnings: &Warnings::default(),
            trace: None,
        };
        let mut out = transform(&set.spec.generators[0], &ctx, "spec.generators[0]").await?;
        let params = out.pop().map(|t| t.params).unwrap_or_default();
        Ok((params, ctx.warnings.take()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flatten_uses_dot_keys_list_indexes_and_go_formatting() {
        let p: Params = serde_json::from_value(json!({
            "a": {"b": {"c": "x"}, "n": 1234567, "e": {}},
            "l": [{"k": true}, null],
        }))
        .unwrap();
        let f = flatten(&p);
        assert_eq!(f["a.b.c"], "x");
        assert_eq!(f["a.n"], "1.234567e+06");
        assert_eq!(f["l.0.k"], "true");
        assert_eq!(f["l.1"], "<nil>");
        assert!(!f.contains_key("a.e"));
    }
}
