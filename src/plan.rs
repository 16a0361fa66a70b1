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
//! `ignoreApplicationDifferences` (JSON pointers) make appset apply the live value for those
//! fields, so they are neither overwritten nor reported as differences.
//!
//! Applications Argo CD's own ApplicationSet controller created are adopted ([`adoption`]): its
//! field ownership moves to appset's manager in one `managedFields` patch, with no other change.

use std::{
    borrow::Cow,
    collections::{BTreeMap, BTreeSet},
};

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
    /// `ignoreApplicationDifferences` rules: (Application name or all, JSON pointers into the
    /// Application, e.g. `/spec/source/targetRevision`).
    pub ignore: Vec<(Option<String>, Vec<String>)>,
    /// At most this many deletes per reconcile (None: unlimited, as Argo CD).
    pub max_deletes: Option<usize>,
}

impl PlanOptions {
    /// Options from an ApplicationSet's spec plus the controller's extra preserved keys.
    ///
    /// # Errors
    /// `jqPathExpressions` in `ignoreApplicationDifferences` (not supported yet: failing is
    /// safer than overwriting what the user asked to keep).
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
        if let Some(kind) = spec.strategy.as_ref().and_then(|s| s.type_.as_deref())
            && kind.eq_ignore_ascii_case("RollingSync")
        {
            // Never ignored silently: syncing every Application at once is what a rolling sync
            // exists to prevent.
            return Err(
                "spec.strategy.type RollingSync (progressive sync) is not supported by appset \
                        yet, so no Application of this ApplicationSet is created, updated or deleted"
                    .to_string(),
            );
        }
        let mut ignore = Vec::new();
        for (i, rule) in spec.ignore_application_differences.iter().flatten().enumerate() {
            if !rule.jq_path_expressions.is_empty() {
                return Err(format!(
                    "spec.ignoreApplicationDifferences[{i}].jqPathExpressions is not supported by appset yet; \
                     use jsonPointers"
                ));
            }
            for p in &rule.json_pointers {
                if !p.is_empty() && !p.starts_with('/') {
                    return Err(format!(
                        "spec.ignoreApplicationDifferences[{i}].jsonPointers: {p:?} is not a JSON pointer"
                    ));
                }
            }
            ignore.push((rule.name.clone(), rule.json_pointers.clone()));
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
        let apply = into_apply_object(d, current, owner, opts);
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
pub fn apply_object(desired: &Value, live: Option<&Value>, owner: &Owner, opts: &PlanOptions) -> Value {
    into_apply_object(desired.clone(), live, owner, opts)
}

/// [`apply_object`], consuming the generated Application.
pub fn into_apply_object(
    mut desired: Value,
    live: Option<&Value>,
    owner: &Owner,
    opts: &PlanOptions,
) -> Value {
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
    for (rule_name, pointers) in &opts.ignore {
        if rule_name.as_deref().is_some_and(|n| n != name) {
            continue;
        }
        for p in pointers {
            if !p.starts_with("/spec") {
                continue;
            }
            match live.and_then(|l| l.pointer(p)) {
                Some(v) => set_pointer(&mut obj, p, v.clone()),
                None => remove_pointer(&mut obj, p),
            }
        }
    }
    obj
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn set_pointer(root: &mut Value, pointer: &str, value: Value) {
    let tokens: Vec<String> = pointer.split('/').skip(1).map(unescape).collect();
    let Some((last, parents)) = tokens.split_last() else {
        return;
    };
    let mut cur = root;
    for t in parents {
        let Value::Object(m) = cur else { return };
        cur = m.entry(t.clone()).or_insert_with(|| Value::Object(Map::new()));
    }
    match cur {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            if let Some(slot) = last.parse::<usize>().ok().and_then(|i| a.get_mut(i)) {
                *slot = value;
            }
        }
        _ => {}
    }
}

fn remove_pointer(root: &mut Value, pointer: &str) {
    let tokens: Vec<String> = pointer.split('/').skip(1).map(unescape).collect();
    let Some((last, parents)) = tokens.split_last() else {
        return;
    };
    let mut cur = root;
    for t in parents {
        match cur.get_mut(t.as_str()) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Value::Object(m) = cur {
        m.remove(last);
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
    let spec_ok = match (apply.get("spec"), live.get("spec")) {
        (Some(want), Some(have)) => subset(want, have),
        (None, _) => true,
        (Some(_), None) => false,
    };
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

    /// The plan for one generated Application `desired` against its live version.
    fn plan_one(desired: Value, live: &Value, policy: Policy) -> Plan {
        let name = application_name(&desired).to_string();
        plan(
            vec![desired],
            &BTreeSet::from([name]),
            std::slice::from_ref(live),
            &owner(),
            &opts(policy),
        )
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
        let applied = apply_object(&desired, None, &owner(), &opts(Policy::Sync));
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
        let p = plan_one(app("a", "p"), &live, Policy::Sync);
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
        let again = plan_one(app("a", "p"), &adopted, Policy::Sync);
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
        let p = plan_one(app("a", "p"), &live, Policy::Sync);
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
            let p = plan_one(app("a", "p"), &live, policy);
            assert!(p.is_empty(), "{policy:?}: {p:?}");
        }
        let ours = live_after_apply(&apply_object(&app("a", "p"), None, &owner(), &opts(Policy::Sync)));
        assert_eq!(ours.adoption(), None);
    }

    #[test]
    fn a_field_appset_owns_but_no_longer_generates_needs_an_apply() {
        let mut old = app("a", "p");
        old["spec"]["source"]["targetRevision"] = json!("v1");
        let mut live = live_after_apply(&apply_object(&old, None, &owner(), &opts(Policy::Sync)));
        live["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:source"]["f:targetRevision"] =
            json!({});
        let p = plan_one(app("a", "p"), &live, Policy::Sync);
        assert_eq!(p.update.len(), 1, "{p:?}");
    }

    #[test]
    fn policies_gate_updates_and_deletes_and_invalid_names_are_never_deleted() {
        let live = vec![
            live_after_apply(&apply_object(
                &app("keep", "old"),
                None,
                &owner(),
                &opts(Policy::Sync),
            )),
            live_after_apply(&apply_object(
                &app("gone", "p"),
                None,
                &owner(),
                &opts(Policy::Sync),
            )),
            live_after_apply(&apply_object(
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
            apply_object(&app("new", "p"), None, &owner(), &opts(Policy::Sync))
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
        let mut terminating = live_after_apply(&apply_object(
            &app("gone", "p"),
            None,
            &owner(),
            &opts(Policy::Sync),
        ));
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
                live_after_apply(&apply_object(
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
        let mut live = live_after_apply(&apply_object(&desired, None, &owner(), &opts(Policy::Sync)));
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
        let apply = apply_object(&desired, Some(&live), &owner(), &o);
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

    #[test]
    fn jq_ignore_rules_are_rejected_rather_than_silently_overwriting() {
        let spec: ApplicationSetSpec = serde_json::from_value(json!({
            "generators": [], "template": {"metadata": {}, "spec": {}},
            "ignoreApplicationDifferences": [{"jqPathExpressions": [".spec.source"]}]
        }))
        .unwrap();
        assert!(
            PlanOptions::for_spec(&spec, Policy::Sync, &[], &[], None)
                .unwrap_err()
                .contains("jqPathExpressions")
        );
    }

    #[test]
    fn a_rolling_sync_is_refused_rather_than_synced_all_at_once() {
        let spec = |kind: &str| -> ApplicationSetSpec {
            serde_json::from_value(json!({
                "generators": [], "template": {"metadata": {}, "spec": {}},
                "strategy": {"type": kind, "rollingSync": {"steps": []}}
            }))
            .unwrap()
        };
        let err = PlanOptions::for_spec(&spec("RollingSync"), Policy::Sync, &[], &[], None).unwrap_err();
        assert!(err.starts_with("spec.strategy.type RollingSync"), "{err}");
        assert!(PlanOptions::for_spec(&spec("AllAtOnce"), Policy::Sync, &[], &[], None).is_ok());
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
