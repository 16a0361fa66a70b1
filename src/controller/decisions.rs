//! The decision resources of `clusterDecisionResource` generators, watched: which resource each
//! ApplicationSet reads (the ConfigMap its generator names says, so the kinds are known only at
//! run time), one watch per resource in use, and which sets a change concerns.
//!
//! Stage: controller. I/O: one watch of each decision resource in Argo CD's namespace through
//! kube's dynamic API, started when a reconcile finds a set reading it ([`DecisionWatches::ensure`])
//! and stopped when no set reads it any more ([`DecisionWatches::retain_used`]). Which sets an
//! event concerns is pure ([`sets_reading`]): those whose generator reads that resource and selects
//! the object, by its name or by its labels before or after the change. A resource that cannot be
//! watched (its CRD not installed, RBAC) is retried with kube's backoff and logged once per failing
//! streak; the controller goes on, and the sets reading it still regenerate at their
//! `requeueAfterSeconds`.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    sync::Mutex,
};

use futures::{StreamExt, channel::mpsc::UnboundedSender};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    Api, Client, ResourceExt,
    api::DynamicObject,
    runtime::{
        WatchStreamExt,
        reflector::{ObjectRef, Store},
        watcher::{self, watcher},
    },
};
use tracing::{info, warn};

use crate::{
    crd::{ApplicationSet, ClusterDecisionResourceGenerator},
    generators::{
        GeneratorSpec,
        cluster_decision_resource::{resource_of, selection},
    },
    sources::{ResourceRef, Selection},
};

/// One decision resource read by one generator of a set, and how the generator selects objects.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    /// The resource.
    pub resource: ResourceRef,
    /// Its objects the generator lists (None: the generator's own choice is invalid or templated,
    /// so any object may concern it).
    pub selection: Option<Selection>,
}

/// What the `clusterDecisionResource` generators of `set` read, at any depth: each one's ConfigMap
/// (`config_map` looks one up in Argo CD's namespace by name) names the resource. A generator
/// whose ConfigMap is missing or names no resource reads nothing that can be watched.
pub fn reads(
    set: &ApplicationSet,
    config_map: impl Fn(&str) -> Option<BTreeMap<String, String>>,
) -> Vec<Read> {
    GeneratorSpec::all_in(&set.spec.generators)
        .into_iter()
        .filter_map(|g| match g {
            GeneratorSpec::ClusterDecisionResource(g) => read(g, &config_map),
            _ => None,
        })
        .collect()
}

fn read(
    g: &ClusterDecisionResourceGenerator,
    config_map: &impl Fn(&str) -> Option<BTreeMap<String, String>>,
) -> Option<Read> {
    let resource = resource_of(&config_map(&g.config_map_ref)?).ok()?;
    // A matrix child may be templated by an earlier child: any object may then be the one.
    let templated =
        g.name.contains("{{") || serde_json::to_string(&g.label_selector).is_ok_and(|s| s.contains("{{"));
    let selection = selection(g).ok().filter(|_| !templated);
    Some(Read { resource, selection })
}

/// Whether `read` selects an object named `name` whose labels are (or were) one of `labels`.
fn selects(read: &Read, name: &str, labels: &[&BTreeMap<String, String>]) -> bool {
    match &read.selection {
        None => true,
        Some(Selection::Name(n)) => n == name,
        Some(Selection::Labels(l)) => match kube::core::Selector::try_from(l.clone()) {
            Ok(sel) => labels.iter().any(|l| kube::core::SelectorExt::matches(&sel, l)),
            Err(_) => true,
        },
    }
}

/// The ApplicationSets that read the object `name` of `resource` (labels now, and before the
/// change when they changed).
pub fn sets_reading(
    sets: &[std::sync::Arc<ApplicationSet>],
    config_map: impl Fn(&str) -> Option<BTreeMap<String, String>>,
    resource: &ResourceRef,
    name: &str,
    labels: &[&BTreeMap<String, String>],
) -> Vec<ObjectRef<ApplicationSet>> {
    sets.iter()
        .filter(|set| {
            reads(set, &config_map)
                .iter()
                .any(|r| r.resource == *resource && selects(r, name, labels))
        })
        .map(|set| ObjectRef::from_obj(&**set))
        .collect()
}

/// The ApplicationSets whose `clusterDecisionResource` generators name the ConfigMap `name`: its
/// change may change which resource they read.
pub fn sets_naming(sets: &Store<ApplicationSet>, name: &str) -> Vec<ObjectRef<ApplicationSet>> {
    sets.state()
        .into_iter()
        .filter(|set| {
            GeneratorSpec::all_in(&set.spec.generators)
                .iter()
                .any(|g| matches!(g, GeneratorSpec::ClusterDecisionResource(g) if g.config_map_ref == name))
        })
        .map(|set| ObjectRef::from_obj(&*set))
        .collect()
}

/// The `data` of the ConfigMap `name` in `config_maps` (the controller's namespace only).
fn lookup(
    config_maps: &Store<ConfigMap>,
    namespace: &str,
) -> impl Fn(&str) -> Option<BTreeMap<String, String>> {
    let config_maps = config_maps.clone();
    let namespace = namespace.to_string();
    move |name| {
        config_maps
            .get(&ObjectRef::new(name).within(&namespace))
            .map(|cm| cm.data.clone().unwrap_or_default())
    }
}

/// The running watches of decision resources, and what they need to start more.
pub struct DecisionWatches {
    client: Client,
    /// Argo CD's namespace: the ConfigMaps and the decision resources live there.
    namespace: String,
    sets: Store<ApplicationSet>,
    config_maps: Store<ConfigMap>,
    triggers: UnboundedSender<ObjectRef<ApplicationSet>>,
    running: Mutex<HashMap<ResourceRef, tokio::task::AbortHandle>>,
}

impl Drop for DecisionWatches {
    fn drop(&mut self) {
        for (_, task) in self.running.get_mut().unwrap_or_else(|e| e.into_inner()).drain() {
            task.abort();
        }
    }
}

impl DecisionWatches {
    /// No watches yet; those started later send the sets a change concerns to `triggers`.
    pub fn new(
        client: Client,
        namespace: &str,
        sets: Store<ApplicationSet>,
        config_maps: Store<ConfigMap>,
        triggers: UnboundedSender<ObjectRef<ApplicationSet>>,
    ) -> Self {
        DecisionWatches {
            client,
            namespace: namespace.to_string(),
            sets,
            config_maps,
            triggers,
            running: Mutex::default(),
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<ResourceRef, tokio::task::AbortHandle>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Watch every decision resource `set` reads that is not watched yet.
    pub fn ensure(&self, set: &ApplicationSet) {
        let wanted = reads(set, lookup(&self.config_maps, &self.namespace));
        let mut running = self.running();
        for r in wanted {
            if running.get(&r.resource).is_some_and(|t| !t.is_finished()) {
                continue;
            }
            info!(resource = %r.resource, namespace = %self.namespace, "watching a decision resource");
            let task = tokio::spawn(watch(
                self.client.clone(),
                self.namespace.clone(),
                r.resource.clone(),
                self.sets.clone(),
                self.config_maps.clone(),
                self.triggers.clone(),
            ));
            running.insert(r.resource, task.abort_handle());
        }
    }

    /// Stop the watches no set reads any more.
    pub fn retain_used(&self) {
        let cm = lookup(&self.config_maps, &self.namespace);
        let used: HashSet<ResourceRef> = self
            .sets
            .state()
            .iter()
            .flat_map(|s| reads(s, &cm))
            .map(|r| r.resource)
            .collect();
        self.running().retain(|r, task| {
            let keep = used.contains(r) && !task.is_finished();
            if !keep {
                info!(resource = %r, "no ApplicationSet reads this decision resource any more: watch stopped");
                task.abort();
            }
            keep
        });
    }
}

/// What of an object matters to the sets reading it: its labels (selection) and its status (the
/// decisions), as a fingerprint.
fn fingerprint(o: &DynamicObject) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    o.metadata.labels.hash(&mut h);
    serde_json::to_string(&o.data.get("status"))
        .unwrap_or_default()
        .hash(&mut h);
    h.finish()
}

/// Watch `resource` in `namespace` until aborted (or the controller is gone), sending the sets
/// each change concerns. The first listing triggers the sets reading each object (a change made
/// before the watch began is not missed); later ones (after a reconnect) only what changed
/// meanwhile, objects gone included.
async fn watch(
    client: Client,
    namespace: String,
    resource: ResourceRef,
    sets: Store<ApplicationSet>,
    config_maps: Store<ConfigMap>,
    triggers: UnboundedSender<ObjectRef<ApplicationSet>>,
) {
    let api: Api<DynamicObject> = Api::namespaced_with(client, &namespace, &resource.api_resource());
    let mut events = watcher(api, watcher::Config::default())
        .backoff(super::WatchBackoff::default())
        .boxed();
    // name → (labels, fingerprint) of what was last seen.
    let mut seen: HashMap<String, (BTreeMap<String, String>, u64)> = HashMap::new();
    let mut listed: BTreeSet<String> = BTreeSet::new();
    let mut failing = false;
    let cm = lookup(&config_maps, &namespace);
    let trigger = |name: &str, labels: &[&BTreeMap<String, String>]| -> bool {
        for set in sets_reading(&sets.state(), &cm, &resource, name, labels) {
            if triggers.unbounded_send(set).is_err() {
                return false;
            }
        }
        true
    };
    while let Some(event) = events.next().await {
        let alive = match event {
            Ok(watcher::Event::Init) => {
                listed.clear();
                true
            }
            Ok(watcher::Event::InitApply(o) | watcher::Event::Apply(o)) => {
                let name = o.name_any();
                listed.insert(name.clone());
                let labels = o.metadata.labels.clone().unwrap_or_default();
                let print = fingerprint(&o);
                match seen.insert(name.clone(), (labels.clone(), print)) {
                    Some((_, before)) if before == print => true,
                    Some((before, _)) => trigger(&name, &[&labels, &before]),
                    None => trigger(&name, &[&labels]),
                }
            }
            Ok(watcher::Event::Delete(o)) => {
                let name = o.name_any();
                seen.remove(&name);
                trigger(&name, &[&o.metadata.labels.clone().unwrap_or_default()])
            }
            Ok(watcher::Event::InitDone) => {
                if failing {
                    info!(%resource, "watching the decision resource again");
                    failing = false;
                }
                let gone: Vec<String> = seen.keys().filter(|n| !listed.contains(*n)).cloned().collect();
                gone.iter().all(|name| {
                    let (labels, _) = seen.remove(name).unwrap_or_default();
                    trigger(name, &[&labels])
                })
            }
            Err(e) => {
                if !failing {
                    warn!(%resource, %namespace, error = %e,
                        "cannot watch the decision resource (is its CRD installed?); retrying with backoff");
                    failing = true;
                }
                true
            }
        };
        if !alive {
            // The controller is gone.
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;

    fn set(name: &str, generators: serde_json::Value) -> Arc<ApplicationSet> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
                "metadata": {"name": name, "namespace": "argocd"},
                "spec": {"generators": generators, "template": {"metadata": {}, "spec": {}}}
            }))
            .unwrap(),
        )
    }

    fn config_maps(name: &str) -> Option<BTreeMap<String, String>> {
        let data = |api: &str, kind: &str| {
            BTreeMap::from([
                ("apiVersion".to_string(), api.to_string()),
                ("kind".to_string(), kind.to_string()),
            ])
        };
        match name {
            "placements" => Some(data(
                "cluster.open-cluster-management.io/v1beta1",
                "placementdecisions",
            )),
            "ducks" => Some(data("mallard.io/v1", "ducks")),
            "broken" => Some(data("v1", "ducks")),
            _ => None,
        }
    }

    fn placements() -> ResourceRef {
        ResourceRef {
            group: "cluster.open-cluster-management.io".into(),
            version: "v1beta1".into(),
            plural: "placementdecisions".into(),
        }
    }

    fn names(refs: Vec<ObjectRef<ApplicationSet>>) -> Vec<String> {
        refs.into_iter().map(|r| r.name).collect()
    }

    #[test]
    fn a_change_concerns_only_the_sets_that_read_that_object() {
        let sets = vec![
            set(
                "by-name",
                json!([{"clusterDecisionResource": {"configMapRef": "placements", "name": "a"}}]),
            ),
            set(
                "by-label",
                json!([{"clusterDecisionResource": {"configMapRef": "placements", "labelSelector": {"matchLabels": {"team": "web"}}}}]),
            ),
            set(
                "in-matrix",
                json!([{"matrix": {"generators": [
                    {"list": {"elements": [{"p": "b"}]}},
                    {"clusterDecisionResource": {"configMapRef": "placements", "name": "{{p}}"}},
                ]}}]),
            ),
            set(
                "other-kind",
                json!([{"clusterDecisionResource": {"configMapRef": "ducks", "name": "a"}}]),
            ),
            set(
                "no-configmap",
                json!([{"clusterDecisionResource": {"configMapRef": "missing", "name": "a"}}]),
            ),
            set(
                "bad-configmap",
                json!([{"clusterDecisionResource": {"configMapRef": "broken", "name": "a"}}]),
            ),
            set("list", json!([{"list": {"elements": []}}])),
        ];
        let web = BTreeMap::from([("team".to_string(), "web".to_string())]);
        let none = BTreeMap::new();
        let read = |name: &str, labels: &[&BTreeMap<String, String>]| {
            names(sets_reading(&sets, config_maps, &placements(), name, labels))
        };
        assert_eq!(read("a", &[&none]), ["by-name", "in-matrix"]);
        assert_eq!(read("z", &[&web]), ["by-label", "in-matrix"]);
        // A label removed: the set that selected it before must drop its clusters.
        assert_eq!(read("z", &[&none, &web]), ["by-label", "in-matrix"]);
        assert_eq!(read("z", &[&none]), ["in-matrix"]);
        let ducks = ResourceRef {
            group: "mallard.io".into(),
            version: "v1".into(),
            plural: "ducks".into(),
        };
        assert_eq!(
            names(sets_reading(&sets, config_maps, &ducks, "a", &[&none])),
            ["other-kind"]
        );
    }

    #[test]
    fn reads_resolve_each_generator_s_configmap() {
        let s = set(
            "s",
            json!([
                {"clusterDecisionResource": {"configMapRef": "placements", "name": "a"}},
                {"clusterDecisionResource": {"configMapRef": "missing", "name": "a"}},
            ]),
        );
        assert_eq!(
            reads(&s, config_maps),
            [Read {
                resource: placements(),
                selection: Some(Selection::Name("a".into()))
            }]
        );
    }
}
