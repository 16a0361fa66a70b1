//! Plan: what to create, update and delete so the cluster's Applications equal the generated ones.
//!
//! Stage: plan (pure, no I/O). Input: the generated Applications, the live Applications the
//! ApplicationSet owns, and the effective sync policy; output: a [`Plan`] of server-side apply
//! objects and names to delete, in name order.
//!
//! Writes are server-side applies under one field manager, so fields other actors set (Argo CD's
//! own annotations, labels added by hand, a live-only `operation`) are left alone. An Application
//! is up to date — and gets no write at all — when every field appset would apply already has
//! that value live, and every field appset's manager owns (from `managedFields`) is still wanted
//! (otherwise an apply is needed to remove it). Argo CD's `preservedFields` and
//! `ignoreApplicationDifferences` (JSON pointers and jq path expressions) make appset apply the
//! live value for those fields, so they are neither overwritten nor reported as differences.
//!
//! ## Ignored differences
//!
//! Argo CD deletes the fields an ignore rule selects from both the live and the generated
//! Application and merge-patches the difference, so an ignored field keeps its live value. appset
//! applies instead, so it builds the same result directly: every field a rule selects gets its
//! live value in the apply body, and a field selected in the generated Application that is absent
//! live is left out. A rule with a `name` applies to that Application only; rules change nothing
//! when an Application is created (as in Argo CD). Only fields appset writes are affected —
//! `spec`, `metadata.labels`, `metadata.annotations` and `metadata.finalizers` (a rule that selects
//! a parent, such as `.metadata` or `.`, covers those under it); the name, namespace and the
//! ownerReference stay appset's.
//!
//! A jq expression is compiled once per ApplicationSet as `path(<expression>)` with jaq, and run
//! on the generated and on the live Application. Paths through list elements are matched in the
//! order the expression yields them (the first `image.tag` parameter selected in the generated
//! list takes the value of the first one selected live, wherever either sits in its list); a
//! whole element selected only live is put back at its live position, one selected only in the
//! generated list is dropped. Unlike Argo CD's merge patch, an ignored element's live value
//! therefore survives a change elsewhere in its list.
//!
//! Run-time errors: an expression that fails before selecting anything in a document selects
//! nothing there (as Argo CD, which skips it; typically `.spec.source.helm.parameters[]` on an
//! Application without Helm parameters — write `[]?` to say so). One that fails after selecting
//! some fields, yields something that is not a path, or selects more than [`MAX_JQ_PATHS`]
//! fields leaves that Application alone for this reconcile ([`Plan::held`]): appset cannot tell
//! which fields the rule meant to keep, and applying could overwrite them. jaq has no time limit,
//! so expressions that could run without end (`def`, `repeat`, `while`, `until`, `range`,
//! `recurse(f)`) are refused when the set is read, as are `env`, `input` and `halt`.
//!
//! Applications Argo CD's own ApplicationSet controller created are adopted ([`adoption`]): its
//! field ownership moves to appset's manager in one `managedFields` patch, with no other change.

use std::{
    borrow::Cow,
    collections::{BTreeMap, BTreeSet},
    fmt,
    sync::Arc,
};

use jaq_core::{
    Ctx, Vars,
    data::JustLut,
    load::{
        Arena, File, Loader,
        lex::{Lexer, StrPart, Tok, Token},
    },
};
use jaq_json::Val;
use serde::Deserialize;
use serde_json::{Map, Value, value::RawValue};

use crate::{
    crd::{ApplicationSetSpec, ApplicationsSyncPolicy},
    pipeline::application_name,
};

/// The field manager of every appset write.
pub const FIELD_MANAGER: &str = "appset";

/// The field manager of Argo CD's ApplicationSet controller (controller-runtime names it after
/// the binary). Applications it created or updated carry an `Update` entry of this manager;
/// appset takes those fields over ([`adoption`]).
pub const ARGO_FIELD_MANAGER: &str = "argocd-applicationset-controller";

/// Annotations whose live values Argo CD always preserves.
pub const DEFAULT_PRESERVED_ANNOTATIONS: [&str; 3] = [
    "notified.notifications.argoproj.io",
    "argocd.argoproj.io/refresh",
    "argocd.argoproj.io/hydrate",
];

/// Finalizer prefixes Argo CD keeps from the live Application.
const KEPT_FINALIZER_PREFIXES: [&str; 2] = [
    "pre-delete-finalizer.argocd.argoproj.io",
    "post-delete-finalizer.argocd.argoproj.io",
];

/// Which writes are allowed (Argo CD's `applicationsSync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Create, update and delete.
    #[default]
    Sync,
    /// Create only.
    CreateOnly,
    /// Create and update.
    CreateUpdate,
    /// Create and delete.
    CreateDelete,
}

impl Policy {
    /// Parse Argo CD's policy names (`""` is `sync`).
    pub fn parse(s: &str) -> Result<Policy, String> {
        match s {
            "" | "sync" => Ok(Policy::Sync),
            "create-only" => Ok(Policy::CreateOnly),
            "create-update" => Ok(Policy::CreateUpdate),
            "create-delete" => Ok(Policy::CreateDelete),
            _ => Err(
                "Policy value can be: sync, create-only, create-update, create-delete, default value: sync"
                    .into(),
            ),
        }
    }

    /// Updates are allowed.
    pub fn allow_update(self) -> bool {
        matches!(self, Policy::Sync | Policy::CreateUpdate)
    }

    /// Deletes are allowed.
    pub fn allow_delete(self) -> bool {
        matches!(self, Policy::Sync | Policy::CreateDelete)
    }

    /// Argo CD's effective policy: the controller's, unless overrides are enabled and the
    /// ApplicationSet sets `syncPolicy.applicationsSync`.
    pub fn effective(controller: Policy, allow_override: bool, spec: &ApplicationSetSpec) -> Policy {
        match spec.sync_policy.as_ref().and_then(|p| p.applications_sync) {
            Some(p) if allow_override => match p {
                ApplicationsSyncPolicy::Sync => Policy::Sync,
                ApplicationsSyncPolicy::CreateOnly => Policy::CreateOnly,
                ApplicationsSyncPolicy::CreateUpdate => Policy::CreateUpdate,
                ApplicationsSyncPolicy::CreateDelete => Policy::CreateDelete,
            },
            _ => controller,
        }
    }
}

/// The controller reference every generated Application carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// ApplicationSet name.
    pub name: String,
    /// ApplicationSet UID.
    pub uid: String,
}

impl Owner {
    fn reference(&self) -> Value {
        serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "ApplicationSet",
            "name": self.name,
            "uid": self.uid,
            "controller": true,
            "blockOwnerDeletion": true,
        })
    }
}

/// What shapes the plan besides the Applications.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// The effective policy.
    pub policy: Policy,
    /// Annotation keys whose live values win (defaults included by [`PlanOptions::for_spec`]).
    pub preserved_annotations: Vec<String>,
    /// Label keys whose live values win.
    pub preserved_labels: Vec<String>,
    /// `ignoreApplicationDifferences` rules, in order.
    pub ignore: Vec<IgnoreRule>,
    /// At most this many deletes per reconcile (None: unlimited, as Argo CD).
    pub max_deletes: Option<usize>,
}

impl PlanOptions {
    /// Options from an ApplicationSet's spec plus the controller's extra preserved keys.
    ///
    /// # Errors
    /// A JSON pointer that does not start with `/`, or a
    /// jq expression that does not compile or uses a refused filter (see the module doc): the
    /// message names `spec.ignoreApplicationDifferences[i]...` and the jq error. Failing is safer
    /// than overwriting what the user asked to keep.
    pub fn for_spec(
        spec: &ApplicationSetSpec,
        policy: Policy,
        extra_annotations: &[String],
        extra_labels: &[String],
        max_deletes: Option<usize>,
    ) -> Result<PlanOptions, String> {
        let mut preserved_annotations: Vec<String> = DEFAULT_PRESERVED_ANNOTATIONS
            .iter()
            .map(|s| s.to_string())
            .collect();
        preserved_annotations.extend(extra_annotations.iter().cloned());
        let mut preserved_labels = extra_labels.to_vec();
        if let Some(p) = &spec.preserved_fields {
            preserved_annotations.extend(p.annotations.iter().cloned());
            preserved_labels.extend(p.labels.iter().cloned());
        }
        let mut ignore = Vec::new();
        for (i, rule) in spec.ignore_application_differences.iter().flatten().enumerate() {
            for p in &rule.json_pointers {
                if !p.is_empty() && !p.starts_with('/') {
                    return Err(format!(
                        "spec.ignoreApplicationDifferences[{i}].jsonPointers: {p:?} is not a JSON pointer"
                    ));
                }
            }
            let jq = rule
                .jq_path_expressions
                .iter()
                .enumerate()
                .map(|(j, expr)| {
                    let field = format!("spec.ignoreApplicationDifferences[{i}].jqPathExpressions[{j}]");
                    JqPath::compile(expr, &field).map_err(|e| format!("{field}: {expr:?}: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            ignore.push(IgnoreRule {
                name: rule.name.clone(),
                json_pointers: rule.json_pointers.clone(),
                jq,
            });
        }
        Ok(PlanOptions {
            policy,
            preserved_annotations,
            preserved_labels,
            ignore,
            max_deletes,
        })
    }
}

/// A server-side apply body, serialized once as compact JSON: a plan for 10,000 Applications
/// then holds a few megabytes rather than tens as JSON trees.
#[derive(Debug, Clone)]
pub struct ApplyObject {
    /// The Application's name.
    pub name: String,
    /// The apply body.
    pub body: Box<RawValue>,
}

impl ApplyObject {
    fn new(obj: &Value) -> ApplyObject {
        ApplyObject {
            name: application_name(obj).to_string(),
            // Serializing a `Value` cannot fail (its map keys are strings).
            body: serde_json::value::to_raw_value(obj).unwrap_or_else(|_| RawValue::NULL.to_owned()),
        }
    }

    /// The body as JSON.
    pub fn value(&self) -> Value {
        serde_json::from_str(self.body.get()).unwrap_or(Value::Null)
    }
}

impl PartialEq for ApplyObject {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.body.get() == other.body.get()
    }
}

/// What to do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Server-side apply objects for Applications that do not exist, by name.
    pub create: Vec<ApplyObject>,
    /// Server-side apply objects for Applications that differ, by name.
    pub update: Vec<ApplyObject>,
    /// Names of owned Applications no longer generated.
    pub delete: Vec<String>,
    /// Ownership transfers from Argo CD's ApplicationSet controller (see [`adoption`]): one JSON
    /// patch of `metadata.managedFields` per Application, sent before `update`.
    pub adopt: Vec<Adoption>,
    /// Applications already up to date.
    pub unchanged: usize,
    /// Differing Applications left alone because the policy forbids updates.
    pub skipped_updates: usize,
    /// Deletes withheld because they exceed the delete budget (then `delete` is empty).
    pub withheld_deletes: Option<(usize, usize)>,
    /// Existing Applications left alone because an ignore rule's jq expression failed on them
    /// part-way (see the module doc): (name, error naming the expression).
    pub held: Vec<(String, String)>,
    /// Existing Applications whose generated `spec` differs from the live one (after preserved
    /// fields and ignore rules), whether or not the policy lets appset update them: progressive
    /// sync resets them to Waiting.
    pub spec_changed: BTreeSet<String>,
}

impl Plan {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty() && self.adopt.is_empty()
    }
}

/// What the planner reads of a live Application. The controller's cache keeps Applications
/// compactly and builds the JSON view of one Application at a time
/// ([`crate::live::CachedApplication`]); tests use plain JSON.
pub trait LiveApplication {
    /// `metadata.name`.
    fn name(&self) -> &str;
    /// Whether the Application is being deleted (has a `deletionTimestamp`).
    fn terminating(&self) -> bool;
    /// The Application as JSON: `metadata` (name, labels, annotations, finalizers,
    /// ownerReferences, managedFields, deletionTimestamp) and `spec`.
    fn view(&self) -> Cow<'_, Value>;
    /// The ownership transfer this Application needs, if fields of it are managed by Argo CD's
    /// ApplicationSet controller ([`adoption`]).
    fn adoption(&self) -> Option<Adoption>;
}

impl LiveApplication for Value {
    fn name(&self) -> &str {
        application_name(self)
    }
    fn terminating(&self) -> bool {
        self.pointer("/metadata/deletionTimestamp")
            .is_some_and(|t| !t.is_null())
    }
    fn view(&self) -> Cow<'_, Value> {
        Cow::Borrowed(self)
    }
    fn adoption(&self) -> Option<Adoption> {
        let rv = self
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)?;
        adoption(self.name(), self.pointer("/metadata/managedFields")?, rv)
    }
}

impl<T: LiveApplication + ?Sized> LiveApplication for &T {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn terminating(&self) -> bool {
        (**self).terminating()
    }
    fn view(&self) -> Cow<'_, Value> {
        (**self).view()
    }
    fn adoption(&self) -> Option<Adoption> {
        (**self).adoption()
    }
}

/// Compute the plan. `desired`: valid generated Applications (as rendered); `generated`: the
/// names of all generated Applications, invalid ones included (those are never deleted);
/// `live`: the Applications the ApplicationSet owns. The view of each live Application is
/// built only while its generated counterpart is planned.
pub fn plan<L: LiveApplication>(
    desired: Vec<Value>,
    generated: &BTreeSet<String>,
    live: &[L],
    owner: &Owner,
    opts: &PlanOptions,
) -> Plan {
    let live_by_name: BTreeMap<&str, &L> = live.iter().map(|a| (a.name(), a)).collect();
    // The generated Applications are consumed: each becomes its apply object without a copy.
    let mut sorted = desired;
    sorted.sort_by(|a, b| application_name(a).cmp(application_name(b)));
    let mut out = Plan::default();
    for d in sorted {
        let live = live_by_name.get(application_name(&d));
        let mut current = live.map(|l| l.view());
        // Fields Argo CD's controller managed are planned as appset's own once adopted: an
        // Application Argo rendered the same then needs the transfer and nothing else.
        // Policies that never update never apply again, so they need no transfer.
        if opts.policy.allow_update()
            && let (Some(adopt), Some(view)) = (live.and_then(|l| l.adoption()), current.as_mut())
        {
            if let Some(meta) = view.to_mut().get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert(
                    "managedFields".into(),
                    serde_json::json!([{"manager": FIELD_MANAGER, "operation": "Apply", "fieldsV1": adopt.owned}]),
                );
            }
            out.adopt.push(adopt);
        }
        let current = current.as_deref();
        let name = application_name(&d).to_string();
        let apply = match into_apply_object(d, current, owner, opts) {
            Ok(apply) => apply,
            Err(e) => {
                out.held.push((name, e));
                continue;
            }
        };
        if current.is_some_and(|l| spec_differs(&apply, l)) {
            out.spec_changed.insert(name);
        }
        match current {
            None => out.create.push(ApplyObject::new(&apply)),
            Some(l) if up_to_date(&apply, l) => out.unchanged += 1,
            Some(_) if opts.policy.allow_update() => out.update.push(ApplyObject::new(&apply)),
            Some(_) => out.skipped_updates += 1,
        }
    }
    if opts.policy.allow_delete() {
        // Applications already being deleted (waiting on Argo CD's resources finalizer) are not
        // deleted again on every reconcile.
        let delete: Vec<String> = live
            .iter()
            .filter(|a| !a.terminating())
            .map(|a| a.name().to_string())
            .filter(|n| !generated.contains(n))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        match opts.max_deletes {
            Some(max) if delete.len() > max => out.withheld_deletes = Some((delete.len(), max)),
            _ => out.delete = delete,
        }
    }
    out
}

/// The server-side apply object for a generated Application.
///
/// # Errors
/// An ignore rule's jq expression failed part-way on the generated or the live Application (see
/// the module doc); never when `live` is `None`.
pub fn apply_object(
    desired: &Value,
    live: Option<&Value>,
    owner: &Owner,
    opts: &PlanOptions,
) -> Result<Value, String> {
    into_apply_object(desired.clone(), live, owner, opts)
}

/// [`apply_object`], consuming the generated Application.
///
/// # Errors
/// As [`apply_object`].
pub fn into_apply_object(
    mut desired: Value,
    live: Option<&Value>,
    owner: &Owner,
    opts: &PlanOptions,
) -> Result<Value, String> {
    let name = application_name(&desired).to_string();
    let mut meta = desired
        .get_mut("metadata")
        .map(Value::take)
        .unwrap_or_else(|| Value::Object(Map::new()));
    let live_meta = live.and_then(|l| l.get("metadata"));
    if let Value::Object(m) = &mut meta {
        for (field, keys) in [
            ("annotations", &opts.preserved_annotations),
            ("labels", &opts.preserved_labels),
        ] {
            let live_map = live_meta.and_then(|lm| lm.get(field)).and_then(Value::as_object);
            let mut map = m
                .get(field)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            // A preserved key that is live keeps its live value; otherwise the generated value
            // (if any) is applied.
            for k in keys {
                if let Some(v) = live_map.and_then(|lm| lm.get(k)) {
                    map.insert(k.clone(), v.clone());
                }
            }
            if map.is_empty() {
                m.remove(field);
            } else {
                m.insert(field.to_string(), Value::Object(map));
            }
        }
        let mut finalizers: Vec<Value> = m
            .get("finalizers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for f in live_meta
            .and_then(|lm| lm.get("finalizers"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let keep = f
                .as_str()
                .is_some_and(|s| KEPT_FINALIZER_PREFIXES.iter().any(|p| s.starts_with(p)));
            if keep && !finalizers.contains(f) {
                finalizers.push(f.clone());
            }
        }
        if finalizers.is_empty() {
            m.remove("finalizers");
        } else {
            m.insert("finalizers".into(), Value::Array(finalizers));
        }
        m.insert("ownerReferences".into(), Value::Array(vec![owner.reference()]));
    }
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), Value::String("argoproj.io/v1alpha1".into()));
    obj.insert("kind".into(), Value::String("Application".into()));
    obj.insert("metadata".into(), meta);
    obj.insert(
        "spec".into(),
        desired
            .get_mut("spec")
            .map(Value::take)
            .unwrap_or_else(|| Value::Object(Map::new())),
    );
    let mut obj = Value::Object(obj);
    // Ignored differences: apply what is live, so the field is neither overwritten nor reported.
    // An Application being created gets its generated fields (Argo CD: rules only shape updates).
    if let Some(live) = live {
        for rule in opts
            .ignore
            .iter()
            .filter(|r| r.name.as_deref().is_none_or(|n| n == name))
        {
            rule.keep_live(&mut obj, live, &name)?;
        }
    }
    Ok(obj)
}

/// At most this many fields one jq expression may select in one Application.
pub const MAX_JQ_PATHS: usize = 10_000;

/// Filters refused in a jq expression: they could run without end (jaq has no time limit), read
/// the controller's environment or input, or stop the process.
const REFUSED_JQ_FILTERS: [&str; 15] = [
    "def",
    "repeat",
    "while",
    "until",
    "range",
    "env",
    "$ENV",
    "input",
    "inputs",
    "halt",
    "halt_error",
    "debug",
    "stderr",
    "debug_empty",
    "stderr_empty",
];

/// Native filters that only fail in the jq library appset compiles with (defence in depth behind
/// [`REFUSED_JQ_FILTERS`]; the standard definitions still name them).
const DISABLED_NATIVES: [&str; 4] = ["env", "halt", "debug_empty", "stderr_empty"];

/// What a disabled native filter does.
fn disabled<'a>(
    _: jaq_core::Cv<'a, JustLut<Val>>,
) -> jaq_core::ValXs<'a, <JustLut<Val> as jaq_core::DataT>::V<'a>> {
    Box::new(std::iter::once(Err(jaq_core::Exn::from(jaq_core::Error::str(
        "this filter is disabled in appset",
    )))))
}

/// One `spec.ignoreApplicationDifferences` rule, ready to apply.
#[derive(Debug, Clone, Default)]
pub struct IgnoreRule {
    /// The Application it applies to (all when `None`).
    pub name: Option<String>,
    /// JSON pointers into the Application, e.g. `/spec/source/targetRevision`.
    pub json_pointers: Vec<String>,
    /// jq path expressions, compiled.
    pub jq: Vec<JqPath>,
}

impl IgnoreRule {
    /// Give every field the rule selects its live value in `obj` (the apply body of Application
    /// `name`), or leave it out when it is not live.
    fn keep_live(&self, obj: &mut Value, live: &Value, name: &str) -> Result<(), String> {
        for p in &self.json_pointers {
            let path = pointer_path(p);
            let mut edits = Edits::default();
            edits.keep_live(live, &path, Some(&path));
            edits.apply(obj);
        }
        for jq in &self.jq {
            let fail = |doc: &str, e: String| {
                format!(
                    "{} ({:?}) failed on the {doc} Application {name:?}: {e}; the Application is not \
                     updated until the expression runs without an error on it",
                    jq.field, jq.source
                )
            };
            let generated = jq.paths(obj).map_err(|e| fail("generated", e))?;
            let selected_live = jq.paths(live).map_err(|e| fail("live", e))?;
            Edits::matching(live, generated, selected_live).apply(obj);
        }
        Ok(())
    }
}

/// The jq filter type appset compiles.
type JqFilter = jaq_core::Filter<JustLut<Val>>;

/// A `jqPathExpressions` entry compiled once per ApplicationSet as `path(<expression>)`; cheap to
/// clone (the filter is shared).
#[derive(Clone)]
pub struct JqPath {
    /// The expression as written.
    source: String,
    /// Where it is written, e.g. `spec.ignoreApplicationDifferences[0].jqPathExpressions[1]`.
    field: String,
    filter: Arc<JqFilter>,
}

impl fmt::Debug for JqPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JqPath").field(&self.source).finish()
    }
}

impl JqPath {
    /// Compile `expr`, written at `field` (named in run-time errors).
    ///
    /// # Errors
    /// The jq error (lexing, parsing, an undefined filter or variable), or a refused filter.
    pub fn compile(expr: &str, field: &str) -> Result<JqPath, String> {
        // Lexing the expression alone first also checks its brackets balance, so it cannot close
        // the `path(` it is wrapped in.
        let tokens = Lexer::new(expr).lex().map_err(|errs| {
            let (expected, rest) = &errs[0];
            format!("expected {} {}", expected.as_str(), at(rest))
        })?;
        if let Some(word) = refused(&tokens) {
            return Err(format!(
                "`{word}` is not allowed in an ignore expression (appset refuses filters that \
                 could run without end, read the environment or stop the controller)"
            ));
        }
        let code = format!("path({expr}\n)");
        let defs = jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(
                jaq_std::funs().map(|(name, args, native)| match DISABLED_NATIVES.contains(&name) {
                    true => (name, args, jaq_core::Native::<JustLut<Val>>::new(disabled)),
                    false => (name, args, native),
                }),
            )
            .chain(jaq_json::funs());
        let arena = Arena::default();
        let modules = Loader::new(defs)
            .load(
                &arena,
                File {
                    code: &code,
                    path: (),
                },
            )
            .map_err(|errs| {
                errs.iter()
                    .map(|(_, e)| match e {
                        jaq_core::load::Error::Io(io) => io
                            .iter()
                            .map(|(p, e)| format!("{p}: {e}"))
                            .collect::<Vec<_>>()
                            .join("; "),
                        jaq_core::load::Error::Lex(l) => l
                            .iter()
                            .map(|(x, rest)| format!("expected {} {}", x.as_str(), at(rest)))
                            .collect::<Vec<_>>()
                            .join("; "),
                        jaq_core::load::Error::Parse(p) => p
                            .iter()
                            .map(|(x, rest)| format!("expected {} {}", x.as_str(), at(rest)))
                            .collect::<Vec<_>>()
                            .join("; "),
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })?;
        let filter = jaq_core::Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errs| {
                errs.iter()
                    .flat_map(|(_, es)| {
                        es.iter()
                            .map(|(name, u)| format!("undefined {} `{name}`", u.as_str()))
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })?;
        Ok(JqPath {
            source: expr.to_string(),
            field: field.to_string(),
            filter: Arc::new(filter),
        })
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The paths the expression selects in `doc`, in the order jq yields them. An error before
    /// the first path selects nothing (Argo CD skips the expression); one after it is an error.
    fn paths(&self, doc: &Value) -> Result<Vec<Vec<Seg>>, String> {
        let input = Val::deserialize(doc).map_err(|e| e.to_string())?;
        let ctx = Ctx::<JustLut<Val>>::new(&self.filter.lut, Vars::new([]));
        let mut out = Vec::new();
        for result in self.filter.id.run((ctx, input)) {
            match result {
                Ok(path) if out.len() < MAX_JQ_PATHS => out.push(to_path(&path)?),
                Ok(_) => return Err(format!("it selects more than {MAX_JQ_PATHS} fields")),
                Err(e) => {
                    let message = e
                        .get_err()
                        .map_or_else(|_| "halted".to_string(), |e| e.to_string());
                    // Not a path expression (`.x | tostring`) fails on every Application: an
                    // error, not a rule that silently selects nothing.
                    if out.is_empty() && !message.starts_with("invalid path expression") {
                        return Ok(out);
                    }
                    return Err(format!(
                        "error after selecting {} field(s): {}",
                        out.len(),
                        clip(&message)
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// The first refused filter in a token tree.
fn refused<'a>(tokens: &[Token<&'a str>]) -> Option<&'a str> {
    tokens
        .iter()
        .enumerate()
        .find_map(|(i, Token(s, tok))| match tok {
            Tok::Word | Tok::Var if REFUSED_JQ_FILTERS.contains(s) => Some(*s),
            // `recurse` alone walks a finite document; `recurse(f)` can go on for ever.
            Tok::Word if *s == "recurse" && tokens.get(i + 1).is_some_and(|t| t.0.starts_with('(')) => {
                Some("recurse(f)")
            }
            Tok::Block(inner) => refused(inner),
            Tok::Str(parts) => parts.iter().find_map(|p| match p {
                StrPart::Term(t) => refused(std::slice::from_ref(t)),
                _ => None,
            }),
            _ => None,
        })
}

/// Where a jq syntax error is, from the rest of the expression there.
fn at(rest: &str) -> String {
    match rest.trim() {
        "" => "at the end of the expression".to_string(),
        rest => format!("at {:?}", clip(rest)),
    }
}

/// At most 200 characters of `s` (jq errors quote whole values).
fn clip(s: &str) -> String {
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// One step of a path: an object key, or an array index (negative: from the end, as in jq).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Seg {
    Key(String),
    Index(isize),
}

/// A jq path (an array of keys and indices) as segments.
fn to_path(v: &Val) -> Result<Vec<Seg>, String> {
    let Val::Arr(parts) = v else {
        return Err(format!("it yielded {} rather than a path", clip(&v.to_string())));
    };
    parts
        .iter()
        .map(|p| match p {
            Val::TStr(b) | Val::BStr(b) => Ok(Seg::Key(String::from_utf8_lossy(b).into_owned())),
            Val::Num(n) => n
                .as_isize()
                .map(Seg::Index)
                .ok_or_else(|| format!("path index {n:?} is not an integer")),
            other => Err(format!(
                "path component {} is not a key or an index (slices are not supported)",
                clip(&other.to_string())
            )),
        })
        .collect()
}

/// A JSON pointer as segments (a token addresses an array element when it is a number).
fn pointer_path(pointer: &str) -> Vec<Seg> {
    pointer
        .split('/')
        .skip(1)
        .map(|t| Seg::Key(t.replace("~1", "/").replace("~0", "~")))
        .collect()
}

/// The parts of the apply body ignore rules may change: appset writes them and they identify
/// nothing (the name, namespace and ownerReference stay appset's).
const WRITABLE: [&[&str]; 4] = [
    &["spec"],
    &["metadata", "labels"],
    &["metadata", "annotations"],
    &["metadata", "finalizers"],
];

/// `path` if it lies in a writable part, the writable parts under it if it is their parent
/// (`.`, `.metadata`), else nothing.
fn writable(path: &[Seg]) -> Vec<Vec<Seg>> {
    let key = |s: &Seg, k: &str| matches!(s, Seg::Key(x) if x == k);
    WRITABLE
        .iter()
        .filter_map(|root| {
            let shared = path.iter().zip(root.iter()).all(|(s, k)| key(s, k));
            match shared {
                true if path.len() >= root.len() => Some(path.to_vec()),
                true => Some(root.iter().map(|k| Seg::Key(k.to_string())).collect()),
                false => None,
            }
        })
        .collect()
}

/// Resolve an index (negative from the end) in a list of `len`.
fn index(seg: &Seg, len: usize) -> Option<usize> {
    let i = match seg {
        Seg::Index(i) => *i,
        Seg::Key(k) => k.parse().ok()?,
    };
    let i = if i < 0 {
        len.checked_sub(i.unsigned_abs())?
    } else {
        i as usize
    };
    (i < len).then_some(i)
}

fn get<'a>(root: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    path.iter().try_fold(root, |cur, seg| match (cur, seg) {
        (Value::Object(m), Seg::Key(k)) => m.get(k),
        (Value::Array(a), _) => a.get(index(seg, a.len())?),
        _ => None,
    })
}

fn get_mut<'a>(root: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    path.iter().try_fold(root, |cur, seg| match (cur, seg) {
        (Value::Object(m), Seg::Key(k)) => m.get_mut(k),
        (Value::Array(a), _) => {
            let i = index(seg, a.len())?;
            a.get_mut(i)
        }
        _ => None,
    })
}

/// Set the value at `path`, creating missing objects on the way (never list elements).
fn set_path(root: &mut Value, path: &[Seg], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        *root = value;
        return;
    };
    let mut cur = root;
    for seg in parents {
        cur = match (cur, seg) {
            (Value::Object(m), Seg::Key(k)) => {
                m.entry(k.clone()).or_insert_with(|| Value::Object(Map::new()))
            }
            (Value::Array(a), _) => match index(seg, a.len()) {
                Some(i) => &mut a[i],
                None => return,
            },
            _ => return,
        };
    }
    match (cur, last) {
        (Value::Object(m), Seg::Key(k)) => {
            m.insert(k.clone(), value);
        }
        (Value::Array(a), _) => {
            if let Some(i) = index(last, a.len()) {
                a[i] = value;
            }
        }
        _ => {}
    }
}

/// Remove the value at `path`, then the objects that removal left empty (below `spec` and
/// `metadata`: the API server drops an empty `annotations`, so applying one would never settle).
fn remove_path(root: &mut Value, path: &[Seg]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let removed = match get_mut(root, parents) {
        Some(Value::Object(m)) => matches!(last, Seg::Key(k) if m.remove(k).is_some()),
        Some(Value::Array(a)) => index(last, a.len()).map(|i| a.remove(i)).is_some(),
        _ => false,
    };
    if removed
        && parents.len() >= 2
        && get(root, parents).is_some_and(|v| v.as_object().is_some_and(Map::is_empty))
    {
        remove_path(root, parents);
    }
}

/// The edits one ignore expression makes to an apply body, applied together: values first, then
/// removals from the last list element back (so no index moves under another edit), then list
/// elements that are only live, at their live positions.
#[derive(Default)]
struct Edits {
    set: Vec<(Vec<Seg>, Value)>,
    remove: Vec<Vec<Seg>>,
    insert: Vec<(Vec<Seg>, Value)>,
}

impl Edits {
    /// Edits that give the fields selected in the generated Application (`generated`) the values
    /// of those selected live (`selected_live`), matched in order where their keys agree.
    fn matching(live: &Value, generated: Vec<Vec<Seg>>, selected_live: Vec<Vec<Seg>>) -> Edits {
        let same_shape = |a: &[Seg], b: &[Seg]| {
            a.len() == b.len()
                && a.iter().zip(b).all(|(x, y)| match (x, y) {
                    (Seg::Index(_), Seg::Index(_)) => true,
                    _ => x == y,
                })
        };
        let mut edits = Edits::default();
        let (mut only_generated, mut only_live) = (Vec::new(), Vec::new());
        for k in 0..generated.len().max(selected_live.len()) {
            match (generated.get(k), selected_live.get(k)) {
                (Some(g), Some(l)) if same_shape(g, l) => edits.keep_live(live, g, Some(l)),
                (g, l) => {
                    only_generated.extend(g.cloned());
                    only_live.extend(l.cloned());
                }
            }
        }
        for l in only_live {
            if let Some(at) = only_generated.iter().position(|g| *g == l) {
                // The same field, yielded at another point of the stream.
                only_generated.swap_remove(at);
                edits.keep_live(live, &l, Some(&l));
            } else if !l.iter().any(|s| matches!(s, Seg::Index(_))) {
                edits.keep_live(live, &l, Some(&l));
            } else if matches!(l.last(), Some(Seg::Index(_)))
                && let Some(v) = get(live, &l)
                && !writable(&l).is_empty()
            {
                // A whole list element only live: put it back where it is live.
                edits.insert.push((l.clone(), v.clone()));
            }
            // A field inside a list element the generated Application does not select: the
            // generated element is applied (Argo CD replaces the list with the generated one).
        }
        for g in only_generated {
            edits.keep_live(live, &g, None);
        }
        edits
    }

    /// Give the generated field at `generated` the live value at `live_path` (`None`: the field
    /// is not live, so it is left out).
    fn keep_live(&mut self, live: &Value, generated: &[Seg], live_path: Option<&[Seg]>) {
        for g in writable(generated) {
            // A parent expanded to the writable parts under it (`.metadata`) is the same path on
            // both sides.
            let l = match live_path {
                Some(l) if g.len() == generated.len() => Some(l.to_vec()),
                Some(_) => Some(g.clone()),
                None => None,
            };
            match l.and_then(|l| get(live, &l)) {
                Some(v) => self.set.push((g, v.clone())),
                None => self.remove.push(g),
            }
        }
    }

    fn apply(mut self, obj: &mut Value) {
        for (path, value) in self.set {
            set_path(obj, &path, value);
        }
        self.remove.sort();
        self.remove.dedup();
        for path in self.remove.iter().rev() {
            remove_path(obj, path);
        }
        self.insert.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, value) in self.insert {
            let Some((Seg::Index(i), parent)) = path.split_last() else {
                continue;
            };
            if let Some(Value::Array(a)) = get_mut(obj, parent) {
                let at = usize::try_from(*i).unwrap_or(a.len()).min(a.len());
                a.insert(at, value);
            }
        }
    }
}

/// Every leaf of `want` equals the same path in `have` (lists compare whole).
fn subset(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => {
            w.iter().all(|(k, v)| h.get(k).is_some_and(|hv| subset(v, hv)))
        }
        (Value::Array(w), Value::Array(h)) => w.len() == h.len() && w.iter().zip(h).all(|(a, b)| equal(a, b)),
        _ => equal(want, have),
    }
}

/// JSON equality with numbers compared by value (`1` == `1.0`).
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equal(p, q)),
        _ => a == b,
    }
}

/// The fields appset's manager owns on a live object (`managedFields` `fieldsV1`), if any.
fn owned_fields(live: &Value) -> Option<&Value> {
    live.pointer("/metadata/managedFields")?
        .as_array()?
        .iter()
        .find(|m| {
            m.get("manager").and_then(Value::as_str) == Some(FIELD_MANAGER)
                && m.get("operation").and_then(Value::as_str) == Some("Apply")
        })?
        .get("fieldsV1")
}

/// Whether every field in a `fieldsV1` tree is present in `want` (so applying `want` would
/// remove nothing appset owns). Unknown shapes answer "no", which only costs an apply.
fn owned_within(fields: &Value, want: &Value) -> bool {
    let Value::Object(f) = fields else { return true };
    f.iter().all(|(k, sub)| {
        if k == "." {
            return true;
        }
        if let Some(name) = k.strip_prefix("f:") {
            return match want.get(name) {
                None => false,
                Some(w @ Value::Object(_)) => owned_within(sub, w),
                // Atomic values and lists are owned whole; present is enough.
                Some(Value::Array(items)) => sub.as_object().is_none_or(|m| {
                    m.keys().all(|item| match item.strip_prefix("v:") {
                        Some(json) => serde_json::from_str::<Value>(json).is_ok_and(|v| items.contains(&v)),
                        None => item == "." || item.starts_with("k:"),
                    })
                }),
                Some(_) => true,
            };
        }
        false
    })
}

/// Whether applying `apply` to `live` would change its `spec`: a generated field differs, or a
/// `spec` field appset applied before is no longer generated.
pub fn spec_differs(apply: &Value, live: &Value) -> bool {
    let same = spec_applied(apply, live);
    let kept = owned_fields(live)
        .and_then(|f| f.get("f:spec"))
        .is_none_or(|f| apply.get("spec").is_some_and(|s| owned_within(f, s)));
    !(same && kept)
}

/// Whether every `spec` field of `apply` has its value in `live`.
fn spec_applied(apply: &Value, live: &Value) -> bool {
    match (apply.get("spec"), live.get("spec")) {
        (Some(want), Some(have)) => subset(want, have),
        (None, _) => true,
        (Some(_), None) => false,
    }
}

/// Whether applying `apply` to `live` would change nothing.
pub fn up_to_date(apply: &Value, live: &Value) -> bool {
    let meta_ok = ["labels", "annotations"]
        .iter()
        .all(|f| match apply.pointer(&format!("/metadata/{f}")) {
            None => true,
            Some(want) => live
                .pointer(&format!("/metadata/{f}"))
                .is_some_and(|have| subset(want, have)),
        });
    let finalizers_ok = apply
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_none_or(|want| {
            let have = live.pointer("/metadata/finalizers").and_then(Value::as_array);
            want.iter().all(|f| have.is_some_and(|h| h.contains(f)))
        });
    let owner_ok = apply.pointer("/metadata/ownerReferences/0").is_some_and(|want| {
        live.pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .is_some_and(|refs| refs.iter().any(|r| subset(want, r)))
    });
    let spec_ok = spec_applied(apply, live);
    let owned_ok = owned_fields(live).is_none_or(|fields| owned_within(fields, apply));
    meta_ok && finalizers_ok && owner_ok && spec_ok && owned_ok
}

/// An ownership transfer from Argo CD's ApplicationSet controller to appset.
#[derive(Debug, Clone, PartialEq)]
pub struct Adoption {
    /// The Application's name.
    pub name: String,
    /// A JSON patch: the Application is unchanged since it was read (`test` of its
    /// `resourceVersion`), and its `managedFields` list becomes appset's `Apply` entry with the
    /// transferred fields, then every other manager's entry.
    pub patch: Value,
    /// appset's server-side apply fields after the transfer (its own plus Argo's `metadata` and
    /// `spec` fields).
    pub owned: Value,
}

/// The `metadata` fields that move with an adoption; every other `metadata` field (and `status`,
/// `operation`) stays with its manager.
const ADOPTED_METADATA_FIELDS: [&str; 4] = ["f:labels", "f:annotations", "f:finalizers", "f:ownerReferences"];

/// The ownership transfer of an Application whose `managedFields` has entries of Argo CD's
/// ApplicationSet controller ([`ARGO_FIELD_MANAGER`]), or `None` when it has none.
///
/// Argo CD's controller writes with `Update` (create, then full updates), so those fields are
/// owned by an `Update` entry that appset's server-side applies would never remove: a field Argo
/// rendered and appset does not would stay forever. The transfer moves the entry's `spec` and
/// `metadata` (labels, annotations, finalizers, ownerReferences) fields into appset's `Apply`
/// entry and leaves the rest (Argo's `status` of a create, say) under Argo's name, in one write
/// that changes no field of the Application itself: the way `kubectl` upgrades client-side-apply
/// ownership to server-side apply. The next apply of appset then owns exactly what Argo owned.
pub fn adoption(name: &str, managed_fields: &Value, resource_version: &str) -> Option<Adoption> {
    let entries = managed_fields.as_array()?;
    if !entries.iter().any(is_adoptable) {
        return None;
    }
    let is_ours = |e: &Value| {
        e.get("manager").and_then(Value::as_str) == Some(FIELD_MANAGER)
            && e.get("operation").and_then(Value::as_str) == Some("Apply")
    };
    let mut owned = entries
        .iter()
        .find(|e| is_ours(e))
        .and_then(|e| e.get("fieldsV1"))
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    let mut kept = Vec::with_capacity(entries.len());
    for e in entries {
        if is_ours(e) {
            continue;
        }
        if !is_adoptable(e) {
            kept.push(e.clone());
            continue;
        }
        let mut rest = e.get("fieldsV1").cloned().unwrap_or(Value::Null);
        if let (Some(rest), Some(owned)) = (rest.as_object_mut(), owned.as_object_mut()) {
            if let Some(Value::Object(spec)) = rest.remove("f:spec") {
                union_fields(
                    owned,
                    Map::from_iter([("f:spec".to_string(), Value::Object(spec))]),
                );
            }
            if let Some(Value::Object(meta)) = rest.get_mut("f:metadata") {
                let taken: Map<String, Value> = ADOPTED_METADATA_FIELDS
                    .iter()
                    .filter_map(|f| meta.remove(*f).map(|v| (f.to_string(), v)))
                    .collect();
                if !taken.is_empty() {
                    union_fields(
                        owned,
                        Map::from_iter([("f:metadata".to_string(), Value::Object(taken))]),
                    );
                }
                if meta.keys().all(|k| k == ".") {
                    rest.remove("f:metadata");
                }
            }
            if rest.keys().any(|k| k != ".") {
                let mut residual = e.clone();
                residual["fieldsV1"] = Value::Object(std::mem::take(rest));
                kept.push(residual);
            }
        }
    }
    let mut ours = serde_json::json!({
        "manager": FIELD_MANAGER,
        "operation": "Apply",
        "apiVersion": "argoproj.io/v1alpha1",
        "fieldsType": "FieldsV1",
        "fieldsV1": owned,
    });
    if let Some(time) = entries
        .iter()
        .find(|e| is_adoptable(e))
        .and_then(|e| e.get("time"))
    {
        ours["time"] = time.clone();
    }
    kept.insert(0, ours);
    Some(Adoption {
        name: name.to_string(),
        patch: serde_json::json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version},
            {"op": "replace", "path": "/metadata/managedFields", "value": kept},
        ]),
        owned,
    })
}

/// Whether a `managedFields` entry is Argo CD's ApplicationSet controller's and owns fields an
/// adoption moves to appset (its `spec`, or the labels, annotations, finalizers or
/// ownerReferences).
pub fn is_adoptable(entry: &Value) -> bool {
    let fields = entry.get("fieldsV1");
    entry.get("manager").and_then(Value::as_str) == Some(ARGO_FIELD_MANAGER)
        && entry
            .get("subresource")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        && (fields.and_then(|f| f.get("f:spec")).is_some()
            || fields
                .and_then(|f| f.get("f:metadata"))
                .is_some_and(|m| ADOPTED_METADATA_FIELDS.iter().any(|k| m.get(*k).is_some())))
}

/// Merge the `fieldsV1` tree `add` into `into` (a set union).
fn union_fields(into: &mut Map<String, Value>, add: Map<String, Value>) {
    for (k, v) in add {
        match (into.get_mut(&k), v) {
            (Some(Value::Object(have)), Value::Object(add)) => union_fields(have, add),
            (Some(_), _) => {}
            (None, v) => {
                into.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn owner() -> Owner {
        Owner {
            name: "set".into(),
            uid: "uid-1".into(),
        }
    }

    fn app(name: &str, path: &str) -> Value {
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd", "finalizers": ["resources-finalizer.argocd.argoproj.io"]},
            "spec": {"project": "default", "source": {"repoURL": "r", "path": path}, "destination": {"server": "s"}}
        })
    }

    /// What the API server returns after appset applied `a` (plus fields others set).
    fn live_after_apply(a: &Value) -> Value {
        let mut l = a.clone();
        l["metadata"]["uid"] = json!("x");
        l["metadata"]["resourceVersion"] = json!("7");
        l["metadata"]["annotations"] = json!({"argocd.argoproj.io/refresh": "normal", "someone": "else"});
        l["metadata"]["managedFields"] = json!([{
            "manager": "appset", "operation": "Apply", "apiVersion": "argoproj.io/v1alpha1",
            "fieldsV1": {"f:metadata": {"f:finalizers": {"v:\"resources-finalizer.argocd.argoproj.io\"": {}},
                         "f:ownerReferences": {"k:{\"uid\":\"uid-1\"}": {}}},
                         "f:spec": {"f:project": {}, "f:source": {"f:repoURL": {}, "f:path": {}},
                                    "f:destination": {"f:server": {}}}}
        }]);
        l["status"] = json!({"sync": {"status": "Synced"}});
        l
    }

    /// The apply object, where no ignore rule can fail.
    fn apply_ok(desired: &Value, live: Option<&Value>, owner: &Owner, opts: &PlanOptions) -> Value {
        apply_object(desired, live, owner, opts).unwrap()
    }

    fn opts(policy: Policy) -> PlanOptions {
        PlanOptions {
            policy,
            ..PlanOptions::default()
        }
    }

    #[test]
    fn an_applied_application_with_foreign_fields_is_up_to_date() {
        let desired = app("a", "p");
        let applied = apply_ok(&desired, None, &owner(), &opts(Policy::Sync));
        let live = live_after_apply(&applied);
        let p = plan(
            vec![desired],
            &BTreeSet::from(["a".to_string()]),
            &[live],
            &owner(),
            &opts(Policy::Sync),
        );
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(p.unchanged, 1);
    }

    #[test]
    fn a_spec_change_is_told_from_a_metadata_change_for_progressive_sync() {
        let applied = apply_ok(&app("a", "p"), None, &owner(), &opts(Policy::Sync));
        let live = live_after_apply(&applied);
        let plan_of = |desired: Value, policy| {
            plan(
                vec![desired],
                &BTreeSet::from(["a".to_string()]),
                std::slice::from_ref(&live),
                &owner(),
                &opts(policy),
            )
        };
        // Only a label changes: an update, but the spec is the same.
        let mut labelled = app("a", "p");
        labelled["metadata"]["labels"] = json!({"env": "dev"});
        let p = plan_of(labelled, Policy::Sync);
        assert_eq!(p.update.len(), 1);
        assert!(p.spec_changed.is_empty(), "{:?}", p.spec_changed);
        // The path changes: the spec differs, even where the policy forbids the update.
        for policy in [Policy::Sync, Policy::CreateOnly] {
            let p = plan_of(app("a", "q"), policy);
            assert_eq!(p.spec_changed, BTreeSet::from(["a".to_string()]), "{policy:?}");
        }
        // A spec field appset applied is no longer generated: the spec differs too.
        let mut fewer = app("a", "p");
        fewer["spec"]["source"].as_object_mut().unwrap().remove("path");
        assert_eq!(plan_of(fewer, Policy::Sync).spec_changed.len(), 1);
        assert!(plan_of(app("a", "p"), Policy::Sync).spec_changed.is_empty());
    }

    /// An Application as Argo CD's ApplicationSet controller leaves it: created (an `Update`
    /// entry of its manager, with the `status` a Go struct marshals), then status written by
    /// Argo CD's application controller.
    fn argo_created(desired: &Value) -> Value {
        let mut l = desired.clone();
        l["metadata"]["resourceVersion"] = json!("41");
        l["metadata"]["ownerReferences"] = json!([{"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "name": "set", "uid": "uid-1", "controller": true, "blockOwnerDeletion": true}]);
        l["metadata"]["managedFields"] = json!([
            {"manager": ARGO_FIELD_MANAGER, "operation": "Update", "apiVersion": "argoproj.io/v1alpha1",
             "time": "2026-11-30T10:00:00Z", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:metadata": {"f:finalizers": {".": {}, "v:\"resources-finalizer.argocd.argoproj.io\"": {}},
                                         "f:ownerReferences": {".": {}, "k:{\"uid\":\"uid-1\"}": {}}},
                          "f:spec": {".": {}, "f:project": {}, "f:source": {".": {}, "f:repoURL": {}, "f:path": {}},
                                     "f:destination": {".": {}, "f:server": {}}},
                          "f:status": {".": {}, "f:health": {}, "f:summary": {}}}},
            {"manager": "argocd-application-controller", "operation": "Update", "apiVersion": "argoproj.io/v1alpha1",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {"f:sync": {"f:status": {}}}}}
        ]);
        l["status"] = json!({"sync": {"status": "Synced"}, "health": {}, "summary": {}});
        l
    }

    #[test]
    fn an_application_argo_rendered_the_same_is_adopted_with_one_managed_fields_patch() {
        let live = argo_created(&app("a", "p"));
        let p = plan_one(&app("a", "p"), &live, &opts(Policy::Sync));
        assert!(
            p.create.is_empty() && p.update.is_empty() && p.delete.is_empty(),
            "{p:?}"
        );
        assert_eq!(p.adopt.len(), 1);
        let patch = &p.adopt[0].patch;
        assert_eq!(
            patch[0],
            json!({"op": "test", "path": "/metadata/resourceVersion", "value": "41"})
        );
        let managed = patch[1]["value"].as_array().unwrap();
        assert_eq!(managed.len(), 3, "{managed:?}");
        assert_eq!(
            (managed[0]["manager"].as_str(), managed[0]["operation"].as_str()),
            (Some("appset"), Some("Apply"))
        );
        assert_eq!(managed[0]["fieldsV1"]["f:spec"]["f:source"]["f:path"], json!({}));
        assert!(managed[0]["fieldsV1"]["f:metadata"]["f:finalizers"].is_object());
        assert!(
            managed[0]["fieldsV1"].get("f:status").is_none(),
            "status stays with Argo's entry"
        );
        // What Argo's entry owned besides metadata and spec stays under its name; the
        // application controller's entry is untouched.
        assert_eq!(managed[1]["manager"], json!(ARGO_FIELD_MANAGER));
        assert_eq!(
            managed[1]["fieldsV1"],
            json!({"f:status": {".": {}, "f:health": {}, "f:summary": {}}})
        );
        assert_eq!(managed[2]["manager"], json!("argocd-application-controller"));

        // Once adopted, the Application is appset's and up to date: nothing more to do.
        let mut adopted = argo_created(&app("a", "p"));
        adopted["metadata"]["managedFields"] = patch[1]["value"].clone();
        let again = plan_one(&app("a", "p"), &adopted, &opts(Policy::Sync));
        assert!(again.is_empty(), "{again:?}");
        assert_eq!(again.unchanged, 1);
    }

    #[test]
    fn a_field_argo_rendered_that_appset_does_not_is_adopted_then_removed_by_an_apply() {
        let mut argo = app("a", "p");
        argo["spec"]["source"]["targetRevision"] = json!("v1");
        let mut live = argo_created(&argo);
        live["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:source"]["f:targetRevision"] =
            json!({});
        let p = plan_one(&app("a", "p"), &live, &opts(Policy::Sync));
        assert_eq!(p.adopt.len(), 1);
        assert_eq!(
            p.update.len(),
            1,
            "appset's apply, now owning targetRevision, removes it"
        );
    }

    #[test]
    fn policies_that_never_update_adopt_nothing_and_appset_s_own_applications_need_no_adoption() {
        let live = argo_created(&app("a", "p"));
        for policy in [Policy::CreateOnly, Policy::CreateDelete] {
            let p = plan_one(&app("a", "p"), &live, &opts(policy));
            assert!(p.is_empty(), "{policy:?}: {p:?}");
        }
        let ours = live_after_apply(&apply_ok(&app("a", "p"), None, &owner(), &opts(Policy::Sync)));
        assert_eq!(ours.adoption(), None);
    }

    #[test]
    fn a_field_appset_owns_but_no_longer_generates_needs_an_apply() {
        let mut old = app("a", "p");
        old["spec"]["source"]["targetRevision"] = json!("v1");
        let mut live = live_after_apply(&apply_ok(&old, None, &owner(), &opts(Policy::Sync)));
        live["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:source"]["f:targetRevision"] =
            json!({});
        let p = plan_one(&app("a", "p"), &live, &opts(Policy::Sync));
        assert_eq!(p.update.len(), 1, "{p:?}");
    }

    #[test]
    fn policies_gate_updates_and_deletes_and_invalid_names_are_never_deleted() {
        let live = vec![
            live_after_apply(&apply_ok(
                &app("keep", "old"),
                None,
                &owner(),
                &opts(Policy::Sync),
            )),
            live_after_apply(&apply_ok(&app("gone", "p"), None, &owner(), &opts(Policy::Sync))),
            live_after_apply(&apply_ok(
                &app("invalid-now", "p"),
                None,
                &owner(),
                &opts(Policy::Sync),
            )),
        ];
        let desired = vec![app("keep", "new"), app("new", "p")];
        let generated: BTreeSet<String> = ["keep", "new", "invalid-now"].map(String::from).into();
        let names = |v: &[ApplyObject]| v.iter().map(|a| a.name.clone()).collect::<Vec<_>>();
        let sync = plan(desired.clone(), &generated, &live, &owner(), &opts(Policy::Sync));
        assert_eq!(
            (names(&sync.create), names(&sync.update), sync.delete.clone()),
            (vec!["new".into()], vec!["keep".into()], vec!["gone".into()])
        );
        // The serialized body is the apply object.
        assert_eq!(
            sync.create[0].value(),
            apply_ok(&app("new", "p"), None, &owner(), &opts(Policy::Sync))
        );
        let only = plan(
            desired.clone(),
            &generated,
            &live,
            &owner(),
            &opts(Policy::CreateOnly),
        );
        assert_eq!(
            (
                only.create.len(),
                only.update.len(),
                only.delete.len(),
                only.skipped_updates
            ),
            (1, 0, 0, 1)
        );
        let cu = plan(
            desired.clone(),
            &generated,
            &live,
            &owner(),
            &opts(Policy::CreateUpdate),
        );
        assert_eq!((cu.update.len(), cu.delete.len()), (1, 0));
        let cd = plan(
            desired.clone(),
            &generated,
            &live,
            &owner(),
            &opts(Policy::CreateDelete),
        );
        assert_eq!((cd.update.len(), cd.delete.len()), (0, 1));
    }

    #[test]
    fn applications_already_terminating_are_not_deleted_again() {
        let mut terminating =
            live_after_apply(&apply_ok(&app("gone", "p"), None, &owner(), &opts(Policy::Sync)));
        terminating["metadata"]["deletionTimestamp"] = json!("2026-11-22T00:00:00Z");
        let p = plan(
            vec![],
            &BTreeSet::new(),
            &[terminating],
            &owner(),
            &opts(Policy::Sync),
        );
        assert!(p.delete.is_empty(), "{p:?}");
    }

    #[test]
    fn the_delete_budget_withholds_every_delete_when_exceeded() {
        let live: Vec<Value> = (0..3)
            .map(|i| {
                live_after_apply(&apply_ok(
                    &app(&format!("a{i}"), "p"),
                    None,
                    &owner(),
                    &opts(Policy::Sync),
                ))
            })
            .collect();
        let o = PlanOptions {
            max_deletes: Some(2),
            ..opts(Policy::Sync)
        };
        let p = plan(vec![], &BTreeSet::new(), &live, &owner(), &o);
        assert!(p.delete.is_empty());
        assert_eq!(p.withheld_deletes, Some((3, 2)));
        let o = PlanOptions {
            max_deletes: Some(3),
            ..opts(Policy::Sync)
        };
        assert_eq!(
            plan(vec![], &BTreeSet::new(), &live, &owner(), &o).delete.len(),
            3
        );
    }

    #[test]
    fn preserved_and_ignored_fields_take_the_live_value() {
        let mut desired = app("a", "generated-path");
        desired["metadata"]["annotations"] =
            json!({"team": "gen", "notified.notifications.argoproj.io": "gen"});
        let mut live = live_after_apply(&apply_ok(&desired, None, &owner(), &opts(Policy::Sync)));
        live["spec"]["source"]["path"] = json!("set-by-someone-else");
        live["metadata"]["annotations"] =
            json!({"team": "gen", "notified.notifications.argoproj.io": "live"});
        live["metadata"]["finalizers"] = json!([
            "resources-finalizer.argocd.argoproj.io",
            "post-delete-finalizer.argocd.argoproj.io/cleanup"
        ]);
        let spec: ApplicationSetSpec = serde_json::from_value(json!({
            "generators": [], "template": {"metadata": {}, "spec": {}},
            "ignoreApplicationDifferences": [{"jsonPointers": ["/spec/source/path"]}]
        }))
        .unwrap();
        let o = PlanOptions::for_spec(&spec, Policy::Sync, &[], &[], None).unwrap();
        let apply = apply_ok(&desired, Some(&live), &owner(), &o);
        assert_eq!(apply["spec"]["source"]["path"], "set-by-someone-else");
        assert_eq!(
            apply["metadata"]["annotations"]["notified.notifications.argoproj.io"],
            "live"
        );
        assert_eq!(
            apply["metadata"]["finalizers"][1],
            "post-delete-finalizer.argocd.argoproj.io/cleanup"
        );
        assert!(up_to_date(&apply, &live));
    }

    /// Plan options with these `ignoreApplicationDifferences` rules.
    fn ignoring(rules: Value) -> PlanOptions {
        PlanOptions::for_spec(&spec_ignoring(rules), Policy::Sync, &[], &[], None).unwrap()
    }

    fn spec_ignoring(rules: Value) -> ApplicationSetSpec {
        serde_json::from_value(json!({
            "generators": [], "template": {"metadata": {}, "spec": {}},
            "ignoreApplicationDifferences": rules
        }))
        .unwrap()
    }

    /// A Helm Application with automated sync and three parameters.
    fn helm_app(name: &str, tag: &str) -> Value {
        let mut a = app(name, "chart");
        a["spec"]["source"]["targetRevision"] = json!("main");
        a["spec"]["source"]["helm"] = json!({"parameters": [
            {"name": "replicas", "value": "2"},
            {"name": "image.tag", "value": tag},
            {"name": "debug", "value": "false"},
        ]});
        a["spec"]["syncPolicy"] = json!({"automated": {"prune": true, "selfHeal": true}});
        a
    }

    /// Plan one generated Application against one live one.
    fn plan_one(desired: &Value, live: &Value, o: &PlanOptions) -> Plan {
        let names = BTreeSet::from([application_name(desired).to_string()]);
        plan(
            vec![desired.clone()],
            &names,
            std::slice::from_ref(live),
            &owner(),
            o,
        )
    }

    const IMAGE_TAG: &str = r#".spec.source.helm.parameters[] | select(.name == "image.tag") | .value"#;

    #[test]
    fn jq_path_gives_the_paths_of_list_elements_and_of_absent_fields() {
        let o = ignoring(json!([{"jqPathExpressions": [IMAGE_TAG, ".spec.syncPolicy.automated"]}]));
        let jq = &o.ignore[0].jq;
        let key = |k: &str| Seg::Key(k.into());
        let helm = vec![key("spec"), key("source"), key("helm"), key("parameters")];
        let a = helm_app("a", "v1");
        assert_eq!(
            jq[0].paths(&a).unwrap(),
            vec![[helm.clone(), vec![Seg::Index(1), key("value")]].concat()]
        );
        // `path` of a field the document does not have is still its path.
        let automated = vec![key("spec"), key("syncPolicy"), key("automated")];
        assert_eq!(jq[1].paths(&app("b", "p")).unwrap(), vec![automated.clone()]);
        assert_eq!(jq[1].paths(&a).unwrap(), vec![automated]);
        // Cheap to clone, and its Debug names the expression.
        assert!(format!("{:?}", o.clone()).contains("image.tag"));
    }

    #[test]
    fn jq_rules_keep_live_scalars_and_objects() {
        let desired = helm_app("a", "v1");
        let mut live = live_after_apply(&apply_ok(&desired, None, &owner(), &opts(Policy::Sync)));
        live["spec"]["source"]["targetRevision"] = json!("hotfix");
        live["spec"]["syncPolicy"]["automated"] = json!({"prune": false});
        // Without the rules both edits are overwritten.
        assert_eq!(plan_one(&desired, &live, &opts(Policy::Sync)).update.len(), 1);
        let o = ignoring(
            json!([{"jqPathExpressions": [".spec.source.targetRevision", ".spec.syncPolicy.automated"]}]),
        );
        let p = plan_one(&desired, &live, &o);
        assert_eq!((p.unchanged, p.update.len(), p.held.len()), (1, 0, 0), "{p:?}");
        let apply = apply_ok(&desired, Some(&live), &owner(), &o);
        assert_eq!(apply["spec"]["source"]["targetRevision"], "hotfix");
        assert_eq!(apply["spec"]["syncPolicy"]["automated"], json!({"prune": false}));
        // A change elsewhere is applied with the live values kept.
        let mut changed = desired.clone();
        changed["spec"]["source"]["path"] = json!("chart-v2");
        let p = plan_one(&changed, &live, &o);
        let body = p.update[0].value();
        assert_eq!(body["spec"]["source"]["path"], "chart-v2");
        assert_eq!(body["spec"]["source"]["targetRevision"], "hotfix");
        assert_eq!(body["spec"]["syncPolicy"]["automated"], json!({"prune": false}));
    }

    #[test]
    fn a_jq_rule_keeps_the_live_value_of_a_list_element_selected_by_name() {
        let desired = helm_app("a", "v1");
        let mut live = live_after_apply(&apply_ok(&desired, None, &owner(), &opts(Policy::Sync)));
        live["spec"]["source"]["helm"]["parameters"][1]["value"] = json!("v2");
        assert_eq!(plan_one(&desired, &live, &opts(Policy::Sync)).update.len(), 1);
        let o = ignoring(json!([{"jqPathExpressions": [IMAGE_TAG]}]));
        let p = plan_one(&desired, &live, &o);
        assert_eq!((p.unchanged, p.update.len()), (1, 0), "{p:?}");
        // The template gains a parameter before `image.tag`: the element moves, its live value
        // stays, and the other parameters are the generated ones.
        let mut changed = desired.clone();
        changed["spec"]["source"]["helm"]["parameters"]
            .as_array_mut()
            .unwrap()
            .insert(0, json!({"name": "region", "value": "eu"}));
        changed["spec"]["source"]["helm"]["parameters"][3]["value"] = json!("true");
        let p = plan_one(&changed, &live, &o);
        assert_eq!(
            p.update[0].value()["spec"]["source"]["helm"]["parameters"],
            json!([
                {"name": "region", "value": "eu"},
                {"name": "replicas", "value": "2"},
                {"name": "image.tag", "value": "v2"},
                {"name": "debug", "value": "true"},
            ])
        );
    }

    #[test]
    fn a_list_element_a_jq_rule_selects_only_live_is_kept_at_its_live_position() {
        let o = ignoring(json!([{"jqPathExpressions": [
            r#".spec.source.helm.parameters[] | select(.name == "image.tag")"#
        ]}]));
        let mut desired = helm_app("a", "v1");
        desired["spec"]["source"]["helm"]["parameters"]
            .as_array_mut()
            .unwrap()
            .remove(1);
        // Added live by another tool (an image updater).
        let live = live_after_apply(&apply_ok(
            &helm_app("a", "v9"),
            None,
            &owner(),
            &opts(Policy::Sync),
        ));
        let p = plan_one(&desired, &live, &o);
        assert_eq!((p.unchanged, p.update.len()), (1, 0), "{p:?}");
        let apply = apply_ok(&desired, Some(&live), &owner(), &o);
        assert_eq!(
            apply["spec"]["source"]["helm"]["parameters"][1],
            json!({"name": "image.tag", "value": "v9"})
        );
        // Only generated: dropped, so the live list (without it) is not changed.
        let live = live_after_apply(&apply_ok(&desired, None, &owner(), &opts(Policy::Sync)));
        let p = plan_one(&helm_app("a", "v1"), &live, &o);
        assert_eq!((p.unchanged, p.update.len()), (1, 0), "{p:?}");
    }

    #[test]
    fn a_field_a_jq_rule_selects_but_absent_live_is_left_out() {
        let desired = helm_app("a", "v1");
        let mut live = live_after_apply(&apply_ok(&desired, None, &owner(), &opts(Policy::Sync)));
        // Auto-sync switched off by hand.
        live["spec"].as_object_mut().unwrap().remove("syncPolicy");
        assert_eq!(plan_one(&desired, &live, &opts(Policy::Sync)).update.len(), 1);
        let o = ignoring(json!([{"jqPathExpressions": [".spec.syncPolicy.automated"]}]));
        let apply = apply_ok(&desired, Some(&live), &owner(), &o);
        // The emptied `syncPolicy` goes too: nothing of it is applied.
        assert!(apply["spec"].get("syncPolicy").is_none(), "{apply}");
        let p = plan_one(&desired, &live, &o);
        assert_eq!((p.unchanged, p.update.len()), (1, 0), "{p:?}");
        // Creating an Application applies every generated field (Argo CD: rules shape updates).
        let created = apply_ok(&desired, None, &owner(), &o);
        assert_eq!(created["spec"]["syncPolicy"]["automated"]["prune"], true);
    }

    #[test]
    fn a_named_jq_rule_applies_to_that_application_only() {
        let o = ignoring(json!([{"name": "a", "jqPathExpressions": [IMAGE_TAG]}]));
        let desired = vec![helm_app("a", "v1"), helm_app("b", "v1")];
        let live: Vec<Value> = desired
            .iter()
            .map(|d| {
                let mut l = live_after_apply(&apply_ok(d, None, &owner(), &opts(Policy::Sync)));
                l["spec"]["source"]["helm"]["parameters"][1]["value"] = json!("v2");
                l
            })
            .collect();
        let names: BTreeSet<String> = ["a", "b"].map(String::from).into();
        let p = plan(desired, &names, &live, &owner(), &o);
        assert_eq!(p.unchanged, 1);
        assert_eq!(
            p.update.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
        assert_eq!(
            p.update[0].value()["spec"]["source"]["helm"]["parameters"][1]["value"],
            "v1"
        );
    }

    #[test]
    fn jq_expressions_that_do_not_compile_fail_the_set_naming_the_field() {
        let err = |expr: &str| {
            PlanOptions::for_spec(
                &spec_ignoring(json!([{"jsonPointers": ["/spec/project"]},
                                      {"jqPathExpressions": [".spec.source", expr]}])),
                Policy::Sync,
                &[],
                &[],
                None,
            )
            .unwrap_err()
        };
        let syntax = err(".spec.source[");
        assert!(
            syntax.starts_with(
                "spec.ignoreApplicationDifferences[1].jqPathExpressions[1]: \".spec.source[\": expected"
            ),
            "{syntax}"
        );
        assert!(err(".spec | nosuchfilter").contains("undefined filter `nosuchfilter`"));
        assert!(err("$nosuchvar").contains("undefined variable"));
        // The expression cannot close the `path(` it is wrapped in.
        assert!(err(".spec) | (.status").contains("expected"));
        for refused in [
            "def f: f; f",
            "repeat(.)",
            ".spec | env.HOME",
            "$ENV.HOME",
            "recurse(.)",
            "range(9)",
        ] {
            assert!(
                err(refused).contains("is not allowed in an ignore expression"),
                "{refused}"
            );
        }
        // Walks of the document and regular expressions are fine.
        ignoring(json!([{"jqPathExpressions": [
            ".spec | .. | select(type == \"object\" and has(\"automated\")) | .automated",
            ".spec.source.helm.parameters[]? | select(.name | test(\"^image\\\\.\")) | .value",
        ]}]));
    }

    #[test]
    fn jq_run_time_errors_select_nothing_or_hold_the_application() {
        // Fails before selecting anything (no Helm parameters on either side): selects nothing,
        // and the rest of the Application is planned as usual.
        let o = ignoring(json!([{"jqPathExpressions": [IMAGE_TAG]}]));
        let live = live_after_apply(&apply_ok(&app("a", "p"), None, &owner(), &opts(Policy::Sync)));
        let p = plan_one(&app("a", "p2"), &live, &o);
        assert_eq!((p.update.len(), p.held.len()), (1, 0), "{p:?}");
        // Fails after selecting a field: the selection is incomplete, so nothing is written.
        let o = ignoring(json!([{"jqPathExpressions": [
            r#".spec.source.helm.parameters[] | select(.value | startswith("v")) | .value"#
        ]}]));
        let mut live = live_after_apply(&apply_ok(
            &helm_app("a", "v1"),
            None,
            &owner(),
            &opts(Policy::Sync),
        ));
        live["spec"]["source"]["helm"]["parameters"] =
            json!([{"name": "image.tag", "value": "v2"}, {"name": "replicas", "value": 2}]);
        let p = plan_one(&helm_app("a", "v1"), &live, &o);
        assert!(p.is_empty() && p.unchanged == 0, "{p:?}");
        assert_eq!(p.held.len(), 1);
        let (name, message) = &p.held[0];
        assert_eq!(name, "a");
        assert!(
            message.starts_with("spec.ignoreApplicationDifferences[0].jqPathExpressions[0]")
                && message.contains("live Application \"a\""),
            "{message}"
        );
        // Not a path expression at all: an error on every Application, not a silent no-op.
        let o = ignoring(json!([{"jqPathExpressions": [".spec.source.path | ascii_downcase"]}]));
        let live = live_after_apply(&apply_ok(&app("a", "p"), None, &owner(), &opts(Policy::Sync)));
        let p = plan_one(&app("a", "p"), &live, &o);
        assert_eq!(p.held.len(), 1, "{p:?}");
    }

    #[test]
    fn json_pointers_outside_spec_keep_live_metadata() {
        let mut desired = app("a", "p");
        desired["metadata"]["annotations"] = json!({"x": "generated", "z": "generated"});
        desired["metadata"]["labels"] = json!({"y": "generated", "team": "t"});
        let mut live = live_after_apply(&apply_ok(&desired, None, &owner(), &opts(Policy::Sync)));
        live["metadata"]["annotations"] = json!({"x": "live", "argocd.argoproj.io/refresh": "normal"});
        live["metadata"]["labels"] = json!({"y": "live", "team": "t"});
        assert_eq!(plan_one(&desired, &live, &opts(Policy::Sync)).update.len(), 1);
        let o = ignoring(json!([{"jsonPointers": [
            "/metadata/annotations/x", "/metadata/annotations/z", "/metadata/labels/y",
            "/metadata/name", "/metadata/ownerReferences"
        ]}]));
        let p = plan_one(&desired, &live, &o);
        assert_eq!((p.unchanged, p.update.len()), (1, 0), "{p:?}");
        // The apply body (sent when something else changes) keeps the live values, leaves out
        // `z` (not live), and keeps appset's name and ownerReference (the refresh annotation is
        // one Argo CD always preserves).
        let mut changed = desired.clone();
        changed["spec"]["source"]["path"] = json!("p2");
        let body = plan_one(&changed, &live, &o).update[0].value();
        assert_eq!(
            body["metadata"]["annotations"],
            json!({"x": "live", "argocd.argoproj.io/refresh": "normal"})
        );
        assert_eq!(body["metadata"]["labels"], json!({"y": "live", "team": "t"}));
        assert_eq!(body["metadata"]["name"], "a");
        assert_eq!(body["metadata"]["ownerReferences"][0]["uid"], "uid-1");
        // A jq rule on a parent covers the writable fields under it.
        let o = ignoring(json!([{"jqPathExpressions": [".metadata"]}]));
        let body = plan_one(&changed, &live, &o).update[0].value();
        assert_eq!(body["metadata"]["labels"], live["metadata"]["labels"]);
        assert_eq!(body["metadata"]["ownerReferences"][0]["uid"], "uid-1");
    }

    #[test]
    fn effective_policy_follows_argo_override_rules() {
        let spec: ApplicationSetSpec = serde_json::from_value(json!({
            "generators": [], "template": {"metadata": {}, "spec": {}},
            "syncPolicy": {"applicationsSync": "create-only"}
        }))
        .unwrap();
        assert_eq!(Policy::effective(Policy::Sync, true, &spec), Policy::CreateOnly);
        assert_eq!(Policy::effective(Policy::Sync, false, &spec), Policy::Sync);
        assert!(Policy::parse("bogus").is_err());
    }
}
