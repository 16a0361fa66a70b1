//! The caches of a sharded replica follow the shards it holds. Stage: controller (no I/O of its
//! own: it filters the watches it is given, and starts them over).
//!
//! - Applications: only those of the sets of the shards this replica holds (or is giving back)
//!   are cached, so a replica's memory is its share of the Applications.
//! - ApplicationSets: every set is cached, as every replica needs them all (to count the sets per
//!   shard, to enqueue a shard's sets when it takes the shard, to forward a webhook to the owner
//!   of the sets it affects), but a set of another replica's shard is cached slim ([`slim`]):
//!   without its status and its template, which only its owner reads. A set's status lists its
//!   Applications, so whole sets would cost every replica memory for every Application.
//!
//! When a shard is taken or becomes free, each watch starts over (a relist, which the store swaps
//! in whole), and the sets of a shard taken are reconciled only once a relist begun after the
//! take has completed in every cache ([`Shards::loaded`]): a reconcile never plans against a
//! cache that lacks its Applications, nor from a slim copy of its set.

use std::{
    marker::PhantomData,
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{Stream, StreamExt};
use kube::{
    Resource, ResourceExt,
    runtime::{
        reflector::{ObjectRef, Store},
        watcher,
    },
};

use crate::{
    crd::ApplicationSet,
    lease::{Follower, Shards},
    live::CachedApplication,
};

/// A watch's items.
type WatchItem<K> = Result<watcher::Event<K>, watcher::Error>;

/// How long a watch waits after a shard is taken or freed before it starts over, so the shards
/// one Lease round moves cost one relist.
const SETTLE: Duration = Duration::from_millis(250);

/// An object whose cache follows the shards.
pub trait Scoped: Resource<DynamicType = ()> + Clone + Send + Sync + 'static {
    /// Whether an object of another replica's shard is cached (slim) rather than dropped.
    const KEPT_OUTSIDE: bool;
    /// The namespace and name of the ApplicationSet whose shard the object follows (none: it
    /// follows no shard, and is cached as of another replica's shard).
    fn set_key(&self) -> Option<(String, String)>;
    /// What is cached of an object of another replica's shard (when [`Scoped::KEPT_OUTSIDE`]).
    fn slim(self) -> Self;
}

impl Scoped for CachedApplication {
    const KEPT_OUTSIDE: bool = false;

    fn set_key(&self) -> Option<(String, String)> {
        super::owners::controlling_set(self).map(|set| (self.namespace().unwrap_or_default(), set))
    }

    fn slim(self) -> Self {
        self
    }
}

impl Scoped for ApplicationSet {
    const KEPT_OUTSIDE: bool = true;

    fn set_key(&self) -> Option<(String, String)> {
        Some((self.namespace().unwrap_or_default(), self.name_any()))
    }

    fn slim(self) -> Self {
        slim(self)
    }
}

/// A set of another replica's shard, as a replica caches it: its metadata (so what triggers a
/// reconcile compares equal whole or slim), and of its spec what webhooks (repositories,
/// forges), decision watches and cluster Secret triggers read; no templates (the set's and its
/// generators'), no list elements, no status; [`is_slim`] says so.
pub fn slim(mut set: ApplicationSet) -> ApplicationSet {
    set.status = None;
    set.spec.template = Default::default();
    set.spec.template_patch = None;
    for g in &mut set.spec.generators {
        slim_generator(g);
    }
    // The mark: the API server sends no empty `managedFields` (it omits the field), and the
    // cache drops the field of whole sets.
    set.metadata.managed_fields = Some(Vec::new());
    set
}

/// What [`slim`] keeps of a generator (and of its children): its kind and where it reads from.
fn slim_generator(g: &mut crate::crd::ApplicationSetGenerator) {
    if let Some(list) = &mut g.list {
        list.elements = Vec::new();
        list.elements_yaml = None;
        list.template = None;
    }
    if let Some(clusters) = &mut g.clusters {
        clusters.template = None;
    }
    if let Some(git) = &mut g.git {
        git.template = None;
    }
    if let Some(scm) = &mut g.scm_provider {
        scm.template = None;
    }
    if let Some(decisions) = &mut g.cluster_decision_resource {
        decisions.template = None;
    }
    if let Some(pr) = &mut g.pull_request {
        pr.template = None;
    }
    if let Some(plugin) = &mut g.plugin {
        plugin.template = None;
        plugin.input = Default::default();
    }
    if let Some(matrix) = &mut g.matrix {
        matrix.template = None;
        matrix.generators.iter_mut().for_each(slim_generator);
    }
    if let Some(merge) = &mut g.merge {
        merge.template = None;
        merge.generators.iter_mut().for_each(slim_generator);
    }
}

/// Whether `set` is a slim copy ([`slim`]).
pub fn is_slim(set: &ApplicationSet) -> bool {
    set.metadata.managed_fields.as_ref().is_some_and(Vec::is_empty)
}

/// The cache of `K` of a sharded replica (see the module docs).
pub struct ShardScope<K> {
    shards: Arc<Shards>,
    follower: Follower,
    /// The shards taken when the current watch started, with their takes: loaded at its next
    /// `InitDone` if they have not been taken again since.
    covering: Arc<Mutex<Vec<crate::lease::Take>>>,
    kind: PhantomData<fn() -> K>,
}

impl<K> Clone for ShardScope<K> {
    fn clone(&self) -> Self {
        ShardScope {
            shards: self.shards.clone(),
            follower: self.follower.clone(),
            covering: self.covering.clone(),
            kind: PhantomData,
        }
    }
}

impl<K: Scoped> ShardScope<K> {
    /// A cache that follows `shards` from now on (claims on a shard taken wait for it).
    pub fn new(shards: Arc<Shards>) -> ShardScope<K> {
        ShardScope {
            follower: shards.follow(),
            shards,
            covering: Arc::default(),
            kind: PhantomData,
        }
    }

    /// The watch (`watch()` makes one), started over whenever a shard is taken or freed, and
    /// filtered ([`ShardScope::keep`]).
    pub fn watch<S>(
        &self,
        watch: impl Fn() -> S + Send + Sync + 'static,
        store: Store<K>,
    ) -> impl Stream<Item = WatchItem<K>> + Send + 'static
    where
        S: Stream<Item = WatchItem<K>> + Send + 'static,
    {
        struct State<S> {
            stream: Pin<Box<S>>,
            changes: tokio::sync::watch::Receiver<u64>,
            restart_at: Option<tokio::time::Instant>,
        }
        *self.covering.lock().unwrap_or_else(|e| e.into_inner()) = self.shards.taken();
        let state = State {
            stream: Box::pin(watch()),
            changes: self.follower.changes.clone(),
            restart_at: None,
        };
        let (scope, watch) = (self.clone(), Arc::new(watch));
        futures::stream::unfold(state, move |mut st| {
            let (scope, store, restart) = (scope.clone(), store.clone(), watch.clone());
            async move {
                loop {
                    let item = tokio::select! {
                        biased;
                        changed = st.changes.changed(), if st.restart_at.is_none() => {
                            // The sender lives as long as the shards: it never closes while
                            // the controller runs; were it to, nothing changes any more.
                            st.restart_at = Some(match changed {
                                Ok(()) => tokio::time::Instant::now() + SETTLE,
                                Err(_) => tokio::time::Instant::now() + Duration::from_secs(86_400 * 365),
                            });
                            continue;
                        }
                        () = tokio::time::sleep_until(st.restart_at.unwrap_or_else(tokio::time::Instant::now)),
                            if st.restart_at.is_some() => {
                            st.restart_at = None;
                            st.changes.borrow_and_update();
                            let taken = scope.shards.taken();
                            tracing::debug!(shards = ?taken.iter().map(|t| t.shard).collect::<Vec<_>>(), kind = %K::kind(&()), "the held shards changed: relisting");
                            *scope.covering.lock().unwrap_or_else(|e| e.into_inner()) = taken;
                            st.stream = Box::pin(restart());
                            continue;
                        }
                        item = st.stream.next() => item?,
                    };
                    if let Some(item) = scope.keep(item, &store) {
                        return Some((item, st));
                    }
                }
            }
        })
    }

    /// What of `item` the cache takes: an object of another replica's shard is slimmed, or
    /// dropped (turned into a delete when `store` has it: its owner changed, or its shard was
    /// freed).
    fn keep(&self, item: WatchItem<K>, store: &Store<K>) -> Option<WatchItem<K>> {
        let whole = |obj: &K| {
            obj.set_key()
                .is_some_and(|(ns, set)| self.shards.caches(&ns, &set))
        };
        match item {
            Ok(watcher::Event::Apply(obj)) if !whole(&obj) => {
                if K::KEPT_OUTSIDE {
                    Some(Ok(watcher::Event::Apply(obj.slim())))
                } else {
                    store
                        .get(&ObjectRef::from_obj(&obj))
                        .is_some()
                        .then_some(Ok(watcher::Event::Delete(obj)))
                }
            }
            Ok(watcher::Event::InitApply(obj)) if !whole(&obj) => {
                K::KEPT_OUTSIDE.then(|| Ok(watcher::Event::InitApply(obj.slim())))
            }
            item => Some(item),
        }
    }

    /// Follows an event once the store has it: at `InitDone`, the shards the listing covers are
    /// loaded in this cache.
    pub fn stored(&self, event: &watcher::Event<K>) {
        if matches!(event, watcher::Event::InitDone) {
            let covering = self.covering.lock().unwrap_or_else(|e| e.into_inner()).clone();
            self.shards.loaded(&self.follower, &covering);
        }
    }
}

#[cfg(test)]
mod tests {
    use kube::runtime::reflector;
    use serde_json::json;
    use watcher::Event::{Apply, Delete, InitApply};

    use super::*;

    fn set(name: &str) -> ApplicationSet {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": name, "namespace": "argocd", "generation": 3,
                         "labels": {"team": "web"}, "annotations": {"note": "x"}},
            "spec": {
                "generators": [
                    {"git": {"repoURL": "https://git.example.com/a.git", "revision": "HEAD",
                             "directories": [{"path": "apps/*"}]}},
                    {"matrix": {"generators": [
                        {"list": {"elements": [{"cluster": "a"}, {"cluster": "b"}],
                                  "template": {"metadata": {}, "spec": {"project": "x"}}}},
                        {"clusters": {"selector": {"matchLabels": {"env": "prod"}}}}
                    ]}}
                ],
                "template": {"metadata": {"name": "{{path.basename}}"},
                             "spec": {"project": "default", "destination": {"namespace": "x"}}},
                "templatePatch": "spec: {}"
            },
            "status": {
                "conditions": [{"type": "ResourcesUpToDate", "status": "True", "reason": "ApplicationSetUpToDate",
                                "message": "All applications have been generated successfully"}],
                "resources": [{"name": "a", "kind": "Application", "status": "Synced"}],
                "resourcesCount": 1
            }
        }))
        .unwrap()
    }

    fn app(name: &str, owner: &str) -> CachedApplication {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "argocd", "ownerReferences": [
                {"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "name": owner,
                 "uid": format!("uid-{owner}"), "controller": true}]},
            "spec": {}
        }))
        .unwrap()
    }

    /// Two set names, the first in shard 0 of 2, the second in shard 1.
    fn names(shards: &Shards) -> (String, String) {
        let name = |shard| {
            (0..)
                .map(|i| format!("s{i}"))
                .find(|n| shards.shard_of("argocd", n) == shard)
                .unwrap()
        };
        (name(0), name(1))
    }

    fn applied<K>(item: Option<WatchItem<K>>) -> Option<K> {
        match item {
            Some(Ok(Apply(k) | InitApply(k))) => Some(k),
            _ => None,
        }
    }

    #[test]
    fn sets_of_other_shards_are_cached_slim_and_those_of_a_shard_taken_whole() {
        let shards = Shards::new(2);
        let (mine, theirs) = names(&shards);
        let scope = ShardScope::<ApplicationSet>::new(shards.clone());
        shards.take_for_test(0);
        let (store, _writer) = reflector::store::<ApplicationSet>();
        for event in [Apply(set(&mine)), InitApply(set(&mine))] {
            let whole = applied(scope.keep(Ok(event), &store)).unwrap();
            let json = |s: &ApplicationSet| serde_json::to_value(s).unwrap();
            assert_eq!(
                json(&whole),
                json(&set(&mine)),
                "a set of a shard taken is kept whole"
            );
            assert!(!is_slim(&whole));
        }
        for event in [Apply(set(&theirs)), InitApply(set(&theirs))] {
            let kept = applied(scope.keep(Ok(event), &store)).expect("every set is cached");
            assert!(is_slim(&kept));
            let whole = set(&theirs);
            assert!(kept.status.is_none());
            assert_eq!(kept.spec.template, Default::default());
            assert_eq!(kept.spec.template_patch, None);
            // What the webhooks, the decision watches and the cluster Secret triggers read is
            // there: the generators' kinds and sources; list elements and templates are not.
            assert_eq!(kept.spec.generators[0], whole.spec.generators[0]);
            let matrix = |s: &ApplicationSet| s.spec.generators[1].matrix.clone().unwrap();
            let (slim_list, whole_list) = (
                matrix(&kept).generators[0].list.clone().unwrap(),
                matrix(&whole).generators[0].list.clone().unwrap(),
            );
            assert!(slim_list.elements.is_empty() && slim_list.template.is_none());
            assert_eq!(whole_list.elements.len(), 2);
            assert_eq!(matrix(&kept).generators[1], matrix(&whole).generators[1]);
            assert!(super::super::uses_cluster_generator(&kept));
            assert_eq!(
                (kept.labels(), kept.annotations()),
                (whole.labels(), whole.annotations())
            );
            // And what triggers a reconcile compares equal, so a relist that slims or fills
            // the sets of a shard moved triggers none.
            assert_eq!(super::super::set_change(&kept), super::super::set_change(&whole));
        }
        assert!(matches!(
            scope.keep(Ok(Delete(set(&theirs))), &store),
            Some(Ok(Delete(_)))
        ));
    }

    #[test]
    fn applications_of_other_shards_are_not_cached() {
        let shards = Shards::new(2);
        let (mine, theirs) = names(&shards);
        let scope = ShardScope::<CachedApplication>::new(shards.clone());
        shards.take_for_test(0);
        let (store, mut writer) = reflector::store::<CachedApplication>();
        assert!(applied(scope.keep(Ok(Apply(app("a", &mine))), &store)).is_some());
        assert!(applied(scope.keep(Ok(InitApply(app("a", &mine))), &store)).is_some());
        assert!(scope.keep(Ok(InitApply(app("b", &theirs))), &store).is_none());
        assert!(scope.keep(Ok(Apply(app("b", &theirs))), &store).is_none());
        // Cached, then moved to a set of another shard: removed from the cache.
        writer.apply_watcher_event(&Apply(app("c", &mine)));
        assert!(matches!(
            scope.keep(Ok(Apply(app("c", &theirs))), &store),
            Some(Ok(Delete(_)))
        ));
    }
}
