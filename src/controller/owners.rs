//! The cached Applications by owning ApplicationSet. Stage: controller (no I/O: fed by the
//! events of the Application watch, after its reflector has stored them).
//!
//! A reconcile reads the Applications its set owns two or three times (plan, progressive sync,
//! status). Filtering the whole cache each time costs O(all Applications) per reconcile: with
//! 10,000 Applications and a cluster Secret that triggers 333 sets, that was half of the
//! controller's CPU. The index maps (namespace, owning set's name) to Application names, so a
//! lookup costs O(the set's own Applications); the objects themselves are still read from the
//! reflector's store, and checked with the same predicate ([`owns`]) as before.
//!
//! A relist (the watch's `Init` … `InitApply` … `InitDone`) is built aside and swapped in at
//! `InitDone`, as the store does, so a lookup during a relist sees the last complete listing.
//!
//! With sharding, the cache holds only the Applications of the sets of the shards this replica
//! holds ([`super::scope`]), and so does the index.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex},
};

use kube::{
    ResourceExt,
    runtime::{
        reflector::{ObjectRef, Store},
        watcher,
    },
};

use crate::{crd::ApplicationSet, live::CachedApplication};

/// (namespace, name).
type Key = (String, String);

/// Application names by owning ApplicationSet (see the module docs).
#[derive(Default)]
pub struct OwnerIndex {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    current: Owners,
    /// The relist being built, between `Init` and `InitDone`.
    relist: Option<Owners>,
}

#[derive(Default)]
struct Owners {
    /// (namespace, set name) → the names of the Applications it controls.
    by_owner: HashMap<Key, BTreeSet<String>>,
    /// (namespace, Application name) → the name of the set controlling it.
    owner_of: HashMap<Key, String>,
}

impl Owners {
    fn apply(&mut self, app: &CachedApplication) {
        let key = (app.namespace().unwrap_or_default(), app.name_any());
        let owner = controlling_set(app);
        if self.owner_of.get(&key) == owner.as_ref() {
            return;
        }
        self.remove(&key);
        if let Some(owner) = owner {
            self.by_owner
                .entry((key.0.clone(), owner.clone()))
                .or_default()
                .insert(key.1.clone());
            self.owner_of.insert(key, owner);
        }
    }

    fn remove(&mut self, key: &Key) {
        let Some(owner) = self.owner_of.remove(key) else {
            return;
        };
        let owner_key = (key.0.clone(), owner);
        if let Some(names) = self.by_owner.get_mut(&owner_key) {
            names.remove(&key.1);
            if names.is_empty() {
                self.by_owner.remove(&owner_key);
            }
        }
    }
}

impl OwnerIndex {
    /// Follows one event of the Application watch (pass every event, in order).
    pub fn observe(&self, event: &watcher::Event<CachedApplication>) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            watcher::Event::Apply(app) => inner.current.apply(app),
            watcher::Event::Delete(app) => inner
                .current
                .remove(&(app.namespace().unwrap_or_default(), app.name_any())),
            watcher::Event::Init => inner.relist = Some(Owners::default()),
            watcher::Event::InitApply(app) => inner.relist.get_or_insert_default().apply(app),
            watcher::Event::InitDone => {
                if let Some(relist) = inner.relist.take() {
                    inner.current = relist;
                }
            }
        }
    }

    /// How many Applications the index has (those with a controlling ApplicationSet).
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .current
            .owner_of
            .len()
    }

    /// The Applications in `apps` that `appset` controls, by name.
    pub fn owned(
        &self,
        apps: &Store<CachedApplication>,
        appset: &ApplicationSet,
    ) -> Vec<Arc<CachedApplication>> {
        let ns = appset.namespace().unwrap_or_default();
        let names: Vec<String> = {
            let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            match inner.current.by_owner.get(&(ns.clone(), appset.name_any())) {
                Some(names) => names.iter().cloned().collect(),
                None => return Vec::new(),
            }
        };
        names
            .into_iter()
            .filter_map(|name| apps.get(&ObjectRef::new(&name).within(&ns)))
            .filter(|app| owns(appset, app))
            .collect()
    }
}

/// The name of the ApplicationSet an Application's controller ownerReference names, if any.
pub(super) fn controlling_set(app: &CachedApplication) -> Option<String> {
    app.owner_references()
        .iter()
        .find(|o| {
            o.controller == Some(true)
                && o.kind == "ApplicationSet"
                && o.api_version.starts_with("argoproj.io/")
        })
        .map(|o| o.name.clone())
}

/// Whether `appset` controls `app`: its controller ownerReference names the set (by uid, or by
/// name in the set's namespace, as a set deleted and created again adopts its Applications).
pub fn owns(appset: &ApplicationSet, app: &CachedApplication) -> bool {
    let uid = appset.metadata.uid.as_deref();
    app.metadata.namespace == appset.metadata.namespace
        && app.owner_references().iter().any(|o| {
            o.controller == Some(true)
                && o.kind == "ApplicationSet"
                && o.api_version.starts_with("argoproj.io/")
                && (Some(o.uid.as_str()) == uid || o.name == appset.name_any())
        })
}

#[cfg(test)]
mod tests {
    use kube::runtime::reflector;
    use serde_json::json;
    use watcher::Event::{Apply, Delete, Init, InitApply, InitDone};

    use super::*;

    fn app(name: &str, owner: Option<&str>) -> CachedApplication {
        let refs = owner.map(|o| {
            json!([{"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "name": o,
                    "uid": format!("uid-{o}"), "controller": true}])
        });
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "argocd", "ownerReferences": refs.unwrap_or(json!([]))},
            "spec": {}
        }))
        .unwrap()
    }

    fn set(name: &str) -> ApplicationSet {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": name, "namespace": "argocd", "uid": format!("uid-{name}")},
            "spec": {"generators": [], "template": {"metadata": {}, "spec": {}}}
        }))
        .unwrap()
    }

    /// Feeds the events to a store and the index, as the watch stream does.
    fn feed(events: Vec<watcher::Event<CachedApplication>>) -> (OwnerIndex, Store<CachedApplication>) {
        let (reader, mut writer) = reflector::store();
        let index = OwnerIndex::default();
        for event in events {
            writer.apply_watcher_event(&event);
            index.observe(&event);
        }
        (index, reader)
    }

    fn names(index: &OwnerIndex, store: &Store<CachedApplication>, owner: &str) -> Vec<String> {
        index
            .owned(store, &set(owner))
            .iter()
            .map(|a| a.name_any())
            .collect()
    }

    #[test]
    fn follows_creates_owner_changes_and_deletes() {
        let (index, store) = feed(vec![
            Apply(app("b", Some("one"))),
            Apply(app("a", Some("one"))),
            Apply(app("c", Some("two"))),
            Apply(app("free", None)),
            // c moves to one, a is released, b is deleted.
            Apply(app("c", Some("one"))),
            Apply(app("a", None)),
            Delete(app("b", Some("one"))),
        ]);
        assert_eq!(names(&index, &store, "one"), ["c"]);
        assert!(names(&index, &store, "two").is_empty());
        let inner = index.inner.lock().unwrap();
        assert_eq!(inner.current.owner_of.len(), 1, "only c is owned");
        assert_eq!(inner.current.by_owner.len(), 1, "empty owners are dropped");
    }

    #[test]
    fn a_relist_replaces_the_index_only_when_complete() {
        let (store, mut writer) = reflector::store();
        let index = OwnerIndex::default();
        let mut step = |e: watcher::Event<CachedApplication>| {
            writer.apply_watcher_event(&e);
            index.observe(&e);
        };
        step(Apply(app("gone", Some("one"))));
        step(Apply(app("kept", Some("one"))));
        step(Init);
        step(InitApply(app("kept", Some("one"))));
        // Mid-relist, the last complete listing answers.
        assert_eq!(names(&index, &store, "one"), ["gone", "kept"]);
        step(InitApply(app("new", Some("one"))));
        step(InitDone);
        assert_eq!(names(&index, &store, "one"), ["kept", "new"]);
    }

    #[test]
    fn lookups_keep_the_ownership_predicate() {
        // An Application of another namespace's set of the same name is not the set's.
        let mut other = app("x", Some("one"));
        other.metadata.namespace = Some("elsewhere".into());
        let (index, store) = feed(vec![Apply(other), Apply(app("y", Some("one")))]);
        assert_eq!(names(&index, &store, "one"), ["y"]);
        // A store that has not caught up with the index yields only what it has.
        let (index2, _) = feed(vec![Apply(app("z", Some("one")))]);
        assert!(names(&index2, &store, "one").is_empty());
    }
}
