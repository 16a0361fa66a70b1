//! Live Applications as the controller caches them. Stage: reconcile (the cache between the
//! Application watch and the planner). No I/O: the types are filled by kube's watcher.
//!
//! The controller watches every Application in its namespaces, so the cache's size per object
//! is its memory footprint. A `serde_json::Value` object costs a B-tree node (about 640 bytes)
//! per JSON object however few keys it has, and Argo CD's `status` and `managedFields` are large,
//! so a cached Application keeps only what the controller reads, compactly:
//!
//! - `metadata` (typed) without `managedFields` and without kubectl's last-applied annotation;
//! - `spec` and appset's own `managedFields` entry as compact JSON text, parsed back only while
//!   the planner looks at that one Application ([`plan::LiveApplication::view`]);
//! - the sync and health status strings `status.resources` reports.

use std::borrow::Cow;

use k8s_openapi::{NamespaceResourceScope, apimachinery::pkg::apis::meta::v1::ObjectMeta};
use kube::Resource;
use serde::Deserialize;
use serde_json::{Value, json, value::RawValue};

use crate::{
    plan::{self, ARGO_FIELD_MANAGER, Adoption, FIELD_MANAGER},
    rollout::status::RolloutState,
};

/// Removes kubectl's last-applied annotation, a copy of the whole object as last applied that
/// nothing in appset reads, from a cached object's metadata (Applications here, ApplicationSets
/// in the controller's set cache).
pub fn drop_last_applied(metadata: &mut ObjectMeta) {
    if let Some(a) = metadata.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// A live Application, slimmed for the cache (see the module docs).
#[derive(Clone, Debug, Deserialize)]
#[serde(from = "Wire")]
pub struct CachedApplication {
    /// Metadata without `managedFields` and kubectl's last-applied annotation.
    pub metadata: ObjectMeta,
    /// `spec` as compact JSON.
    pub spec: Option<Box<RawValue>>,
    /// The `fieldsV1` of appset's own server-side apply entry in `managedFields`, as compact JSON.
    pub owned_fields: Option<Box<RawValue>>,
    /// The whole `managedFields` list, kept only while fields of the Application are managed by
    /// Argo CD's ApplicationSet controller (until appset adopts it: [`plan::adoption`]).
    pub argo_managed_fields: Option<Box<RawValue>>,
    /// `status.sync.status` (Argo CD's sync status).
    pub sync_status: Option<String>,
    /// `status.health.status` (Argo CD's health status).
    pub health_status: Option<String>,
    /// What progressive sync reads of the Application's status (and whether it has an
    /// `operation`); boxed, and absent when the Application has none of it.
    pub rollout: Option<Box<RolloutState>>,
}

/// The wire shape the cache is deserialized from (anything else in the object is skipped).
#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    metadata: ObjectMeta,
    #[serde(default)]
    spec: Option<Value>,
    #[serde(default)]
    status: Option<WireStatus>,
    #[serde(default)]
    operation: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct WireStatus {
    #[serde(default)]
    sync: Option<StatusField>,
    #[serde(default)]
    health: Option<StatusField>,
    #[serde(default)]
    reconciled_at: Option<String>,
    #[serde(default)]
    operation_state: Option<WireOperationState>,
    #[serde(default)]
    conditions: Vec<WireCondition>,
}

#[derive(Deserialize)]
struct StatusField {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    revision: Option<String>,
    #[serde(default)]
    revisions: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireOperationState {
    #[serde(default)]
    phase: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    started_at: Option<String>,
    #[serde(default)]
    finished_at: Option<String>,
}

#[derive(Deserialize)]
struct WireCondition {
    #[serde(default, rename = "type")]
    type_: String,
}

impl From<Wire> for CachedApplication {
    fn from(mut w: Wire) -> Self {
        let managed = w.metadata.managed_fields.take().unwrap_or_default();
        let argo_managed_fields = managed
            .iter()
            .any(|f| {
                f.manager.as_deref() == Some(ARGO_FIELD_MANAGER)
                    && serde_json::to_value(f).is_ok_and(|f| plan::is_adoptable(&f))
            })
            .then(|| serde_json::value::to_raw_value(&managed).ok())
            .flatten();
        let owned_fields = managed
            .into_iter()
            .find(|f| f.manager.as_deref() == Some(FIELD_MANAGER) && f.operation.as_deref() == Some("Apply"))
            .and_then(|f| f.fields_v1)
            .and_then(|f| serde_json::value::to_raw_value(&f.0).ok());
        drop_last_applied(&mut w.metadata);
        let status = w.status.unwrap_or_default();
        let (sync, health) = (status.sync, status.health);
        let revisions = match &sync {
            Some(s) if !s.revisions.is_empty() => s.revisions.clone(),
            Some(StatusField {
                revision: Some(r), ..
            }) if !r.is_empty() => vec![r.clone()],
            _ => Vec::new(),
        };
        let op = status.operation_state;
        let rollout = RolloutState {
            sync_status: sync.as_ref().and_then(|s| s.status.clone()),
            health_status: health.as_ref().and_then(|s| s.status.clone()),
            health_message: health.as_ref().and_then(|s| s.message.clone()),
            revisions,
            reconciled_at: status.reconciled_at,
            operation: w.operation.is_some(),
            operation_phase: op.as_ref().and_then(|o| o.phase.clone()),
            operation_message: op.as_ref().and_then(|o| o.message.clone()),
            started_at: op.as_ref().and_then(|o| o.started_at.clone()),
            finished_at: op.and_then(|o| o.finished_at),
            error_condition: status
                .conditions
                .iter()
                .any(|c| c.type_ == "InvalidSpecError" || c.type_ == "UnknownError"),
            generation: w.metadata.generation,
        };
        CachedApplication {
            metadata: w.metadata,
            spec: w.spec.and_then(|s| serde_json::value::to_raw_value(&s).ok()),
            owned_fields,
            argo_managed_fields,
            sync_status: rollout.sync_status.clone(),
            health_status: rollout.health_status.clone(),
            rollout: (rollout
                != RolloutState {
                    generation: rollout.generation,
                    ..RolloutState::default()
                })
            .then(|| Box::new(rollout)),
        }
    }
}

impl CachedApplication {
    /// What progressive sync reads of it.
    pub fn rollout_state(&self) -> RolloutState {
        self.rollout.as_deref().cloned().unwrap_or_else(|| RolloutState {
            generation: self.metadata.generation,
            ..RolloutState::default()
        })
    }
}

impl Resource for CachedApplication {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        "Application".into()
    }
    fn group(_: &()) -> Cow<'_, str> {
        "argoproj.io".into()
    }
    fn version(_: &()) -> Cow<'_, str> {
        "v1alpha1".into()
    }
    fn plural(_: &()) -> Cow<'_, str> {
        "applications".into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

fn parse(raw: &Option<Box<RawValue>>) -> Value {
    raw.as_deref()
        .and_then(|r| serde_json::from_str(r.get()).ok())
        .unwrap_or(Value::Null)
}

impl plan::LiveApplication for CachedApplication {
    fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }

    fn terminating(&self) -> bool {
        self.metadata.deletion_timestamp.is_some()
    }

    fn view(&self) -> Cow<'_, Value> {
        let m = &self.metadata;
        let managed = self.owned_fields.as_ref().map(|_| {
            json!([{"manager": FIELD_MANAGER, "operation": "Apply", "fieldsV1": parse(&self.owned_fields)}])
        });
        Cow::Owned(json!({
            "metadata": {
                "name": m.name,
                "labels": m.labels,
                "annotations": m.annotations,
                "finalizers": m.finalizers,
                "ownerReferences": m.owner_references,
                "managedFields": managed,
                "deletionTimestamp": m.deletion_timestamp,
            },
            "spec": parse(&self.spec),
        }))
    }

    fn adoption(&self) -> Option<Adoption> {
        let managed = self.argo_managed_fields.as_ref()?;
        plan::adoption(
            self.name(),
            &serde_json::from_str(managed.get()).ok()?,
            self.metadata.resource_version.as_deref()?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::LiveApplication;
    use kube::ResourceExt;

    #[test]
    fn the_cache_keeps_what_the_planner_reads_and_drops_the_rest() {
        let live = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {
                "name": "a", "namespace": "ns", "uid": "u1", "labels": {"team": "web"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "keep": "me"},
                "managedFields": [
                    {"manager": "appset", "operation": "Apply", "fieldsV1": {"f:spec": {"f:project": {}}}},
                    {"manager": "argocd-application-controller", "operation": "Update", "fieldsV1": {"f:status": {}}}
                ]
            },
            "spec": {"project": "default"},
            "status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}, "history": [{"id": 1}]}
        });
        let cached: CachedApplication = serde_json::from_value(live).unwrap();
        assert_eq!(cached.name(), "a");
        assert!(!cached.terminating());
        assert!(cached.metadata.managed_fields.is_none());
        assert_eq!(cached.annotations().len(), 1);
        assert_eq!(cached.sync_status.as_deref(), Some("Synced"));
        assert_eq!(cached.health_status.as_deref(), Some("Healthy"));
        let view = cached.view();
        assert_eq!(view["spec"], json!({"project": "default"}));
        assert_eq!(
            view["metadata"]["managedFields"],
            json!([{"manager": "appset", "operation": "Apply", "fieldsV1": {"f:spec": {"f:project": {}}}}])
        );
        assert_eq!(view["metadata"]["labels"], json!({"team": "web"}));
    }

    #[test]
    fn the_cache_keeps_managed_fields_only_while_argo_cd_s_controller_owns_spec_fields() {
        let app = |managed: Value| {
            serde_json::from_value::<CachedApplication>(json!({
                "metadata": {"name": "a", "namespace": "ns", "resourceVersion": "9", "managedFields": managed},
                "spec": {"project": "default"}
            }))
            .unwrap()
        };
        let argo = app(json!([
            {"manager": "argocd-applicationset-controller", "operation": "Update",
             "fieldsV1": {"f:spec": {"f:project": {}}, "f:status": {}}}
        ]));
        let adoption = argo.adoption().expect("adoptable");
        assert_eq!(adoption.owned, json!({"f:spec": {"f:project": {}}}));
        assert_eq!(adoption.patch[0]["value"], json!("9"));
        // Adopted: Argo's entry keeps only status, which is not adopted; nothing is kept.
        let adopted = app(adoption.patch[1]["value"].clone());
        assert!(adopted.argo_managed_fields.is_none());
        assert_eq!(adopted.adoption(), None);
        assert_eq!(
            adopted.view()["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:spec": {"f:project": {}}})
        );
    }
}
