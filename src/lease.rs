//! Leases (`coordination.k8s.io/v1`): leader election, and the shard Leases of sharded replicas,
//! so two replicas never reconcile one ApplicationSet at once.
//!
//! Stage: controller (I/O: the Kubernetes API). A replica acquires a Lease when it is absent,
//! already its own, or expired (its `renewTime` older than `leaseDurationSeconds`), with the
//! Lease's `resourceVersion` as a precondition so two replicas cannot take it at once, and
//! renews it every third of the duration.
//!
//! - [`LeaderElection`]: one Lease; when a renewal fails the leader stops leading at once (the
//!   process exits and is restarted as a standby), before another replica can take over.
//! - [`ShardLeases`] and [`Shards`] (`--shards auto`, `--shard N/M`): a Lease per shard, taken
//!   and given back as [`crate::shard::plan`] says; a set is reconciled only under a [`Claim`]
//!   of its shard, a shard is given back only after its claims end, and a shard whose renewals
//!   fail stops counting as held before its Lease can expire for the other replicas. The shard
//!   Leases a replica holds carry its webhook URL ([`crate::shard::WEBHOOK_URL_ANNOTATION`]), and
//!   each round records the other holders ([`Shards::peer`]), to which webhooks are forwarded.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::Timestamp,
};
use kube::{
    Api, Client, ResourceExt,
    api::{ListParams, PostParams},
};
use tokio::sync::{OwnedRwLockReadGuard, RwLock, mpsc, watch};
use tracing::{info, warn};

use crate::shard::{LeaseView, Moves, Peer, Sharding, WEBHOOK_URL_ANNOTATION, plan};

/// A replica's claim on a Lease.
#[derive(Clone)]
pub struct LeaderElection {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
    /// Annotations put on the Lease when it is taken or renewed.
    annotations: BTreeMap<String, String>,
}

impl LeaderElection {
    /// Elect among replicas sharing Lease `namespace/name`; `identity` names this replica.
    pub fn new(client: Client, namespace: &str, name: &str, identity: &str, duration: Duration) -> Self {
        LeaderElection {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity: identity.to_string(),
            duration: duration.max(Duration::from_secs(2)),
            annotations: BTreeMap::new(),
        }
    }

    /// Also set annotation `key` to `value` on the Lease whenever it is taken or renewed.
    pub fn with_annotation(mut self, key: &str, value: &str) -> Self {
        self.annotations.insert(key.to_string(), value.to_string());
        self
    }

    fn annotate(&self, metadata: &mut ObjectMeta) {
        if !self.annotations.is_empty() {
            metadata
                .annotations
                .get_or_insert_default()
                .extend(self.annotations.clone());
        }
    }

    fn spec(&self, transitions: i32, acquired: Option<MicroTime>) -> LeaseSpec {
        let now = MicroTime(Timestamp::now());
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.duration.as_secs() as i32),
            acquire_time: Some(acquired.unwrap_or_else(|| now.clone())),
            renew_time: Some(now),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// One attempt: take or renew the Lease. `Ok(true)`: this replica leads.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let current = self.api.get_opt(&self.name).await?;
        self.claim(current).await
    }

    /// Take or renew the Lease as `current` shows it (None: absent), with its resourceVersion
    /// as the precondition. `Ok(true)`: this replica holds it now.
    pub async fn claim(&self, current: Option<Lease>) -> Result<bool, kube::Error> {
        let Some(current) = current else {
            let mut lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(0, None)),
            };
            self.annotate(&mut lease.metadata);
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = current.spec.clone().unwrap_or_default();
        let mine = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        if !mine && spec.holder_identity.is_some() && is_live(&spec) {
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!mine);
        let acquired = if mine { spec.acquire_time.clone() } else { None };
        let mut next = current.clone();
        next.spec = Some(self.spec(transitions, acquired));
        self.annotate(&mut next.metadata);
        // `replace` carries the resourceVersion we read: a concurrent change makes it fail (409).
        match self.api.replace(&self.name, &PostParams::default(), &next).await {
            Ok(_) => {
                if !mine {
                    info!(identity = %self.identity, lease = %self.name, "acquired the lease");
                }
                Ok(true)
            }
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Give the Lease up when this replica holds it, so another can take it at once rather than
    /// after it expires (client-go's `ReleaseOnCancel`: no holder, a duration of 1 s).
    pub async fn release(&self) -> Result<(), kube::Error> {
        for _ in 0..3 {
            let Some(current) = self.api.get_opt(&self.name).await? else {
                return Ok(());
            };
            let spec = current.spec.clone().unwrap_or_default();
            if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
                return Ok(());
            }
            let mut next = current.clone();
            next.spec = Some(LeaseSpec {
                holder_identity: None,
                lease_duration_seconds: Some(1),
                renew_time: Some(MicroTime(Timestamp::now())),
                ..spec
            });
            match self.api.replace(&self.name, &PostParams::default(), &next).await {
                Ok(_) => {
                    info!(identity = %self.identity, lease = %self.name, "released the lease");
                    return Ok(());
                }
                // Renewed meanwhile by this replica's own loop: read it again.
                Err(kube::Error::Api(e)) if e.code == 409 => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Wait until this replica leads (retrying every third of the Lease duration).
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => warn!(error = %e, "leader election"),
            }
            tokio::time::sleep(self.duration / 3).await;
        }
    }

    /// Renew while leading; returns when a renewal fails (leadership lost or unknown).
    pub async fn hold(&self) -> String {
        loop {
            tokio::time::sleep(self.duration / 3).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => {}
                Ok(false) => return format!("lease {} is held by another replica", self.name),
                Err(e) => return format!("renewing lease {}: {e}", self.name),
            }
        }
    }
}

/// Whether a Lease's holder renewed it within its duration (an expired Lease is free to take).
fn is_live(spec: &LeaseSpec) -> bool {
    spec.renew_time.as_ref().is_some_and(|t| {
        let duration = spec.lease_duration_seconds.unwrap_or(0).max(0) as i64;
        t.0.as_second() + duration >= Timestamp::now().as_second()
    })
}

/// Whether a Lease expired at least four of `duration` ago (or was released that long ago).
fn gone_for_good(spec: &LeaseSpec, duration: Duration) -> bool {
    let renewed = spec.renew_time.as_ref().map_or(0, |t| t.0.as_second());
    let held = spec.lease_duration_seconds.unwrap_or(0).max(0) as i64;
    renewed + held + 4 * (duration.as_secs() as i64) < Timestamp::now().as_second()
}

// ---- shards ------------------------------------------------------------------------------------

/// Where one shard stands for this replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Another replica's, or no one's.
    Free,
    /// This replica's until `until` (the last renewal's start plus the Lease duration, less a
    /// margin: past it another replica may take the Lease, so this one stops first).
    Held { until: Instant },
    /// Being given back: no new reconcile starts; the Lease is released once those in flight end.
    Releasing { until: Instant },
}

/// One shard: its state and the gate its reconciles pass (shared; giving back takes it
/// exclusively, so it waits for the reconciles in flight).
#[derive(Debug)]
struct Shard {
    slot: Mutex<Slot>,
    gate: Arc<RwLock<()>>,
}

/// The shards this replica holds, shared by the Lease loop ([`ShardLeases::run`]), the
/// controller (which reconciles a set only under a [`Claim`] of its shard) and webhooks (which
/// refresh the sets of other shards through the refresh annotation).
#[derive(Debug)]
pub struct Shards {
    shards: Vec<Shard>,
    /// The other replica holding each shard, with the URL it advertises (from the last round).
    peers: Mutex<Vec<Option<Peer>>>,
    /// Per shard: which of the caches that follow the held shards ([`Shards::follow`]) have
    /// loaded its objects since it was taken, a bit per cache.
    loaded: Vec<AtomicU32>,
    /// Per shard: how many times it has been taken. A listing loads the take it began under
    /// only ([`Shards::loaded`]): one begun before the shard lapsed and was taken again may have
    /// left its objects out.
    takes: Vec<AtomicU64>,
    /// The caches that follow the held shards, a bit each: claims on a shard wait until all of
    /// them have loaded it.
    followers: AtomicU32,
    /// Bumped whenever a shard is taken or becomes free.
    changes: watch::Sender<u64>,
    acquired: mpsc::UnboundedSender<u32>,
    acquired_rx: Mutex<Option<mpsc::UnboundedReceiver<u32>>>,
}

/// Proof that this replica holds a set's shard, kept for a whole reconcile: the shard is not
/// given back before it is dropped.
#[derive(Debug)]
pub struct Claim {
    shard: u32,
    _gate: OwnedRwLockReadGuard<()>,
}

/// One take of a shard: the shard, and how many times this replica had taken it then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Take {
    /// The shard.
    pub shard: u32,
    /// Its take counter.
    take: u64,
}

/// A cache that follows the shards this replica holds ([`Shards::follow`]).
#[derive(Debug, Clone)]
pub struct Follower {
    /// Its bit in [`Shards`]' `followers` and `loaded`.
    bit: u32,
    /// Changes whenever a shard is taken or becomes free.
    pub changes: watch::Receiver<u64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shards {
    /// `count` shards, none held yet.
    pub fn new(count: u32) -> Arc<Shards> {
        let (acquired, rx) = mpsc::unbounded_channel();
        Arc::new(Shards {
            shards: (0..count.max(1))
                .map(|_| Shard {
                    slot: Mutex::new(Slot::Free),
                    gate: Arc::new(RwLock::new(())),
                })
                .collect(),
            peers: Mutex::new(vec![None; count.max(1) as usize]),
            loaded: (0..count.max(1)).map(|_| AtomicU32::new(0)).collect(),
            takes: (0..count.max(1)).map(|_| AtomicU64::new(0)).collect(),
            followers: AtomicU32::new(0),
            changes: watch::Sender::new(0),
            acquired,
            acquired_rx: Mutex::new(Some(rx)),
        })
    }

    /// How many shards there are.
    pub fn count(&self) -> u32 {
        self.shards.len() as u32
    }

    /// The shard of ApplicationSet `namespace/name`.
    pub fn shard_of(&self, namespace: &str, name: &str) -> u32 {
        crate::shard::shard_of(namespace, name, self.count())
    }

    fn slot(&self, shard: u32) -> Slot {
        Self::live(*lock(&self.shards[shard as usize].slot))
    }

    /// `slot` as it reads now: past its deadline, free.
    fn live(slot: Slot) -> Slot {
        match slot {
            Slot::Held { until } | Slot::Releasing { until } if until <= Instant::now() => Slot::Free,
            s => s,
        }
    }

    /// Sets `shard`'s slot; taking a shard announces it ([`Shards::acquired`]) once the caches
    /// that follow the shards have loaded it, and every take and release bumps [`Shards::follow`].
    fn set(&self, shard: u32, slot: Slot) {
        let i = shard as usize;
        let mut stored = lock(&self.shards[i].slot);
        // Taken as the claims see it (a slot past its deadline reads free), and as stored (a
        // slot that lapsed by its deadline alone announced nothing yet).
        let was = Self::live(*stored) != Slot::Free;
        let was_stored = *stored != Slot::Free;
        let is = Self::live(slot) != Slot::Free;
        if !(is && was) {
            // Freed, or a new take: the caches' earlier loads do not count, and are forgotten
            // before the slot reads taken ([`Shards::claim`] reads the slot first, then the loads).
            self.loaded[i].store(0, Ordering::SeqCst);
        }
        if is && !was {
            self.takes[i].fetch_add(1, Ordering::SeqCst);
        }
        *stored = slot;
        drop(stored);
        if was == is && was_stored == is {
            return;
        }
        if is && !was && self.followers.load(Ordering::SeqCst) == 0 {
            let _ = self.acquired.send(shard);
        }
        self.changes.send_modify(|n| *n += 1);
    }

    /// Takes `shard` for a minute, as the Lease loop does (tests elsewhere in the crate).
    #[cfg(test)]
    pub(crate) fn take_for_test(&self, shard: u32) {
        self.set(
            shard,
            Slot::Held {
                until: Instant::now() + Duration::from_secs(60),
            },
        );
    }

    /// One more cache will follow the shards this replica holds (keep their sets' objects
    /// whole): claims on a shard taken wait until [`Shards::loaded`] says every such cache has
    /// it. Its receiver changes whenever a shard is taken or becomes free. At most 32 caches.
    pub fn follow(&self) -> Follower {
        let mut bit = 0;
        let _ = self
            .followers
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |all| {
                bit = 1 << all.count_ones().min(31);
                Some(all | bit)
            });
        Follower {
            bit,
            changes: self.changes.subscribe(),
        }
    }

    /// The cache `follower` has loaded `shards` (those still taken become claimable, and are
    /// announced by [`Shards::acquired`], once every following cache has loaded them).
    pub fn loaded(&self, follower: &Follower, shards: &[Take]) {
        let all = self.followers.load(Ordering::SeqCst);
        for &Take { shard: i, take } in shards {
            if (i as usize) < self.shards.len()
                && self.slot(i) != Slot::Free
                && self.takes[i as usize].load(Ordering::SeqCst) == take
            {
                let before = self.loaded[i as usize].fetch_or(follower.bit, Ordering::SeqCst);
                if before & all != all && (before | follower.bit) & all == all {
                    let _ = self.acquired.send(i);
                }
            }
        }
    }

    /// The shards this replica holds or is giving back (their sets' objects are cached), each
    /// with its take: what a listing that begins now covers.
    pub fn taken(&self) -> Vec<Take> {
        (0..self.count())
            .filter_map(|shard| {
                // The take before the slot: a take after this read makes the pair stale.
                let take = self.takes[shard as usize].load(Ordering::SeqCst);
                (self.slot(shard) != Slot::Free).then_some(Take { shard, take })
            })
            .collect()
    }

    /// Whether the objects of ApplicationSet `namespace/name` are to be cached: its shard is
    /// held or being given back.
    pub fn caches(&self, namespace: &str, name: &str) -> bool {
        self.slot(self.shard_of(namespace, name)) != Slot::Free
    }

    /// Whether this replica holds `shard` now (and is not giving it back).
    pub fn holds(&self, shard: u32) -> bool {
        (shard as usize) < self.shards.len() && matches!(self.slot(shard), Slot::Held { .. })
    }

    /// Whether this replica reconciles ApplicationSet `namespace/name` now.
    pub fn owns(&self, namespace: &str, name: &str) -> bool {
        self.holds(self.shard_of(namespace, name))
    }

    /// The shards this replica holds, in order.
    pub fn held(&self) -> Vec<u32> {
        (0..self.count()).filter(|&i| self.holds(i)).collect()
    }

    /// A claim on the shard of `namespace/name` for one reconcile; None when this replica does
    /// not hold it, or is giving it back.
    pub fn claim(&self, namespace: &str, name: &str) -> Option<Claim> {
        let shard = self.shard_of(namespace, name);
        let guard = self.shards[shard as usize].gate.clone().try_read_owned().ok()?;
        // Read after the gate is passed: a give-back that starts later waits for this claim.
        // The slot before the loads: a take forgets the loads before its slot reads taken.
        if !self.holds(shard) {
            return None;
        }
        let all = self.followers.load(Ordering::SeqCst);
        let cached = self.loaded[shard as usize].load(Ordering::SeqCst) & all == all;
        cached.then_some(Claim { shard, _gate: guard })
    }

    /// Resolves once the shard of `claim` reads as free: its Lease's renewals failed until past
    /// the deadline (a third of a renewal period before another replica may take it), or it was
    /// being given back and its deadline passed while the claim was still held. The controller
    /// races each reconcile against it, so a reconcile that outlives its replica's hold on the
    /// shard stops at its next await instead of writing beside the next holder.
    pub async fn lost(&self, claim: &Claim) {
        loop {
            let until = match self.slot(claim.shard) {
                Slot::Free => return,
                Slot::Held { until } | Slot::Releasing { until } => until,
            };
            // Renewals move the deadline on: look again when this one passes.
            tokio::time::sleep_until(until.into()).await;
        }
    }

    /// The replica that holds the shard of `namespace/name` when another one does and advertises
    /// its webhook URL (as of the last round of the Lease loop: it may have moved since).
    pub fn peer(&self, namespace: &str, name: &str) -> Option<Peer> {
        let shard = self.shard_of(namespace, name);
        if self.holds(shard) {
            return None;
        }
        lock(&self.peers).get(shard as usize).cloned().flatten()
    }

    /// The shards this replica acquires, as it acquires them (with caches that follow the
    /// shards, once they have loaded them); once: the controller enqueues their sets.
    pub fn acquired(&self) -> Option<impl futures::Stream<Item = u32> + Send + 'static> {
        let rx = lock(&self.acquired_rx).take()?;
        Some(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|s| (s, rx))
        }))
    }
}

/// The Leases of sharded replicas (`appset run --shards` / `--shard`), in one namespace:
/// `<prefix>-shard-<i>` per shard, and with `--shards auto` a membership Lease
/// `<prefix>-member-<identity>` per replica, from which each counts the live replicas.
///
/// Every third of the Lease duration a replica renews its membership and the shards it holds
/// (lists the Leases once, then one write per Lease), then follows [`crate::shard::plan`]: it
/// takes free or expired shards up to its fair share and gives back its excess. A shard is given
/// back only once the reconciles of its sets in flight have ended ([`Shards::claim`]), and a
/// held shard stops counting as held locally before its Lease can expire for the others, so
/// two replicas never reconcile one set at once.
pub struct ShardLeases {
    client: Client,
    api: Api<Lease>,
    namespace: String,
    prefix: String,
    identity: String,
    duration: Duration,
    sharding: Sharding,
    /// The URL the other replicas forward webhooks to (on the Leases this replica holds).
    advertise: Option<String>,
}

impl ShardLeases {
    /// The Leases of `sharding` in `namespace`, named after `prefix`, claimed as `identity`.
    pub fn new(
        client: Client,
        namespace: &str,
        prefix: &str,
        identity: &str,
        duration: Duration,
        sharding: Sharding,
    ) -> ShardLeases {
        ShardLeases {
            api: Api::namespaced(client.clone(), namespace),
            client,
            namespace: namespace.to_string(),
            prefix: prefix.to_string(),
            identity: identity.to_string(),
            duration: duration.max(Duration::from_secs(2)),
            sharding,
            advertise: None,
        }
    }

    /// Advertise `url` (this replica's webhook endpoint) on the Leases it holds, so the other
    /// replicas forward it the webhooks that concern its sets ([`Shards::peer`]).
    pub fn advertising(mut self, url: Option<String>) -> Self {
        self.advertise = url;
        self
    }

    /// The Lease of shard `i`.
    pub fn shard_lease(&self, i: u32) -> String {
        format!("{}-shard-{i}", self.prefix)
    }

    /// This replica's membership Lease: the identity made a valid name (a hash keeps two
    /// identities that differ only in the characters replaced apart).
    pub fn member_lease(&self) -> String {
        member_lease_name(&self.prefix, &self.identity)
    }

    fn election(&self, name: &str) -> LeaderElection {
        let election = LeaderElection::new(
            self.client.clone(),
            &self.namespace,
            name,
            &self.identity,
            self.duration,
        );
        match &self.advertise {
            Some(url) => election.with_annotation(WEBHOOK_URL_ANNOTATION, url),
            None => election,
        }
    }

    /// Hold shards for as long as the future runs (drop it to stop; then call
    /// [`ShardLeases::release_all`] to hand them over at once).
    pub async fn run(&self, shards: Arc<Shards>) {
        let period = self.duration / 3;
        // Past `until` another replica may take the Lease: stop a third of a period before.
        let margin = period / 3;
        loop {
            let started = Instant::now();
            // A shard whose renewals fail reads as free once past its deadline (`Shards::slot`).
            if let Err(e) = self.round(&shards, started + self.duration - margin).await {
                warn!(error = %e, "shard leases");
            }
            tokio::time::sleep_until((started + period).into()).await;
        }
    }

    async fn round(&self, shards: &Arc<Shards>, until: Instant) -> Result<(), kube::Error> {
        let leases: HashMap<String, Lease> = self
            .api
            .list(&ListParams::default())
            .await?
            .into_iter()
            .filter_map(|l| Some((l.metadata.name.clone()?, l)))
            .collect();
        // The membership is renewed from the listing (no read of its own).
        let member = self.member_lease();
        if matches!(self.sharding, Sharding::Auto { .. })
            && let Err(e) = self.election(&member).claim(leases.get(&member).cloned()).await
        {
            warn!(error = %e, lease = %member, "renewing membership");
        }
        let mut views = Vec::with_capacity(shards.count() as usize);
        for i in 0..shards.count() {
            let name = self.shard_lease(i);
            let current = leases.get(&name).cloned();
            let slot = shards.slot(i);
            let mut view = current.as_ref().map_or_else(LeaseView::default, |l| {
                let spec = l.spec.clone().unwrap_or_default();
                LeaseView {
                    live: spec.holder_identity.is_some() && is_live(&spec),
                    holder: spec.holder_identity,
                }
            });
            if view.holder.as_deref() != Some(self.identity.as_str()) {
                // Released by this replica's give-back, or taken by another once it expired.
                if matches!(slot, Slot::Held { .. }) {
                    warn!(shard = i, lease = %name, "lost the shard to another replica");
                    shards.set(i, Slot::Free);
                }
            } else {
                match self.election(&name).claim(current).await {
                    Ok(true) => {
                        shards.set(
                            i,
                            match slot {
                                Slot::Releasing { .. } => Slot::Releasing { until },
                                _ => Slot::Held { until },
                            },
                        );
                        view = LeaseView {
                            holder: Some(self.identity.clone()),
                            live: true,
                        };
                    }
                    Ok(false) => {
                        warn!(shard = i, lease = %name, "lost the shard to another replica");
                        shards.set(i, Slot::Free);
                    }
                    Err(e) => warn!(shard = i, error = %e, "renewing the shard's lease"),
                }
            }
            views.push(view);
        }
        // Who holds the others' shards, for webhooks to be forwarded there.
        *lock(&shards.peers) = (0..shards.count())
            .map(|i| {
                let lease = leases.get(&self.shard_lease(i))?;
                let spec = lease.spec.as_ref()?;
                let identity = spec.holder_identity.clone()?;
                if identity == self.identity || !is_live(spec) {
                    return None;
                }
                let url = lease.annotations().get(WEBHOOK_URL_ANNOTATION)?.clone();
                Some(Peer { identity, url })
            })
            .collect();
        let moves = match self.sharding {
            Sharding::Single => return Ok(()),
            Sharding::Fixed { index, .. } => Moves {
                give_back: Vec::new(),
                take: (views
                    .get(index as usize)
                    .is_some_and(|v| !v.live || v.holder.is_none()))
                .then_some(index)
                .into_iter()
                .collect(),
            },
            Sharding::Auto { .. } => {
                let prefix = format!("{}-member-", self.prefix);
                let replicas = leases
                    .iter()
                    .filter(|(name, l)| {
                        name.starts_with(&prefix)
                            && l.spec
                                .as_ref()
                                .is_some_and(|s| s.holder_identity.is_some() && is_live(s))
                    })
                    .count()
                    .max(1);
                // The membership Leases of replicas gone for good (expired 4 durations ago;
                // pods get new names, so they would pile up): removed, unless renewed meanwhile.
                for (name, l) in leases.iter().filter(|(name, _)| name.starts_with(&prefix)) {
                    if l.spec.as_ref().is_some_and(|s| gone_for_good(s, self.duration)) {
                        let params = kube::api::DeleteParams {
                            preconditions: Some(kube::api::Preconditions {
                                resource_version: l.metadata.resource_version.clone(),
                                uid: None,
                            }),
                            ..Default::default()
                        };
                        match self.api.delete(name, &params).await {
                            Ok(_) => info!(lease = %name, "removed the membership of a replica gone"),
                            Err(e) => warn!(lease = %name, error = %e, "removing a stale membership Lease"),
                        }
                    }
                }
                // This replica counts even before its membership Lease is listed.
                let replicas = if leases.contains_key(&member) {
                    replicas
                } else {
                    replicas + 1
                };
                plan(&self.identity, &views, replicas)
            }
        };
        for i in moves.give_back {
            if let Slot::Held { until } = shards.slot(i) {
                shards.set(i, Slot::Releasing { until });
                let (shards, lease) = (shards.clone(), self.election(&self.shard_lease(i)));
                tokio::spawn(async move {
                    // Wait for the reconciles in flight, then let the Lease go.
                    let _gate = shards.shards[i as usize].gate.clone().write_owned().await;
                    if let Err(e) = lease.release().await {
                        warn!(shard = i, error = %e, "releasing the shard's lease (it expires instead)");
                    }
                    shards.set(i, Slot::Free);
                    info!(shard = i, "gave the shard back");
                });
            }
        }
        for i in moves.take {
            let name = self.shard_lease(i);
            match self.election(&name).claim(leases.get(&name).cloned()).await {
                Ok(true) => {
                    shards.set(i, Slot::Held { until });
                    info!(shard = i, identity = %self.identity, "took the shard");
                }
                Ok(false) => {}
                Err(e) => warn!(shard = i, error = %e, "taking the shard's lease"),
            }
        }
        Ok(())
    }

    /// Hand every held shard and the membership over at once (at shutdown): stop claiming, wait
    /// for the reconciles in flight, release the Leases.
    pub async fn release_all(&self, shards: &Shards) {
        for i in 0..shards.count() {
            if shards.slot(i) == Slot::Free {
                continue;
            }
            if let Slot::Held { until } = shards.slot(i) {
                shards.set(i, Slot::Releasing { until });
            }
            let _gate = shards.shards[i as usize].gate.clone().write_owned().await;
            if let Err(e) = self.election(&self.shard_lease(i)).release().await {
                warn!(shard = i, error = %e, "releasing the shard's lease");
            }
            shards.set(i, Slot::Free);
        }
        if matches!(self.sharding, Sharding::Auto { .. })
            && let Err(e) = self.election(&self.member_lease()).release().await
        {
            warn!(error = %e, "releasing the membership lease");
        }
    }
}

/// `<prefix>-member-<identity>`, the identity lower-cased with characters outside `[a-z0-9-]`
/// replaced by `-`, and a hash of it when anything was replaced or cut (a Lease name is at most
/// 253 characters of a DNS subdomain).
fn member_lease_name(prefix: &str, identity: &str) -> String {
    let clean: String = identity
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-') => c,
            _ => '-',
        })
        .collect();
    let clean = clean.trim_matches('-');
    let mut name = format!("{prefix}-member-{}", &clean[..clean.len().min(200)]);
    if clean != identity || clean.is_empty() {
        name.push_str(&format!(
            "-{:08x}",
            crate::shard::shard_of("", identity, u32::MAX)
        ));
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn with_caches_that_follow_a_shard_taken_is_claimed_and_announced_once_all_loaded_it() {
        use futures::StreamExt;
        let shards = Shards::new(2);
        let mut apps = shards.follow();
        let sets = shards.follow();
        let mut acquired = Box::pin(shards.acquired().unwrap());
        let until = Instant::now() + Duration::from_secs(60);
        let (ns, name) = ("argocd", "s");
        let shard = shards.shard_of(ns, name);
        shards.set(shard, Slot::Held { until });
        assert!(apps.changes.has_changed().unwrap(), "a take is a change");
        assert!(sets.changes.has_changed().unwrap(), "for every cache");
        apps.changes.borrow_and_update();
        assert!(shards.owns(ns, name) && shards.caches(ns, name));
        assert!(shards.claim(ns, name).is_none(), "not loaded yet");
        // A listing that began before the take does not cover it.
        shards.loaded(&apps, &[]);
        assert!(shards.claim(ns, name).is_none());
        shards.loaded(&apps, &shards.taken());
        assert!(shards.claim(ns, name).is_none(), "one cache of two has it");
        shards.loaded(&apps, &shards.taken());
        shards.loaded(&sets, &shards.taken());
        assert!(shards.claim(ns, name).is_some());
        assert_eq!(acquired.next().await, Some(shard));
        shards.loaded(&sets, &shards.taken());
        shards.loaded(&apps, &shards.taken());
        // Free again: a change, no longer cached, and loaded anew after the next take.
        shards.set(shard, Slot::Free);
        assert!(apps.changes.has_changed().unwrap());
        assert!(!shards.caches(ns, name));
        shards.set(shard, Slot::Held { until });
        assert!(shards.claim(ns, name).is_none());
        shards.loaded(&sets, &shards.taken());
        shards.loaded(&apps, &shards.taken());
        assert_eq!(acquired.next().await, Some(shard), "announced once per take");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), acquired.next())
                .await
                .is_err(),
            "and only once"
        );
    }

    #[tokio::test]
    async fn a_listing_begun_before_a_shard_lapsed_and_was_taken_again_does_not_load_it() {
        let shards = Shards::new(2);
        let mut apps = shards.follow();
        let sets = shards.follow();
        let (ns, name) = ("argocd", "s");
        let shard = shards.shard_of(ns, name);
        let lapse = Duration::from_millis(60);
        shards.set(
            shard,
            Slot::Held {
                until: Instant::now() + lapse,
            },
        );
        // A listing begins (a relist after 410 Gone, say) while the shard is held...
        let listing = shards.taken();
        assert_eq!(listing.len(), 1);
        // ...the renewals fail until past the deadline (it left the shard's objects out)...
        tokio::time::sleep(lapse * 2).await;
        assert!(!shards.caches(ns, name));
        // ...the Lease loop says so: the caches hear of it, though the slot already read free.
        apps.changes.borrow_and_update();
        shards.set(shard, Slot::Free);
        assert!(apps.changes.has_changed().unwrap(), "a lapse is a change");
        // A renewal succeeds: taken again, and the listing from before ends.
        let until = Instant::now() + Duration::from_secs(60);
        shards.set(shard, Slot::Held { until });
        shards.loaded(&apps, &listing);
        shards.loaded(&sets, &shards.taken());
        assert!(
            shards.claim(ns, name).is_none(),
            "the earlier listing does not load the new take"
        );
        shards.loaded(&apps, &shards.taken());
        assert!(shards.claim(ns, name).is_some());
        // The same without the Lease loop's word in between: a lapse, then a take.
        let listing = shards.taken();
        shards.set(
            shard,
            Slot::Held {
                until: Instant::now(),
            },
        );
        shards.set(shard, Slot::Held { until });
        shards.loaded(&apps, &listing);
        shards.loaded(&sets, &listing);
        assert!(
            shards.claim(ns, name).is_none(),
            "a take after a lapse is a new take"
        );
    }

    #[tokio::test]
    async fn a_claim_is_lost_once_its_deadline_passes_unrenewed_and_not_before() {
        let shards = Shards::new(4);
        let (ns, name) = ("argocd", "guestbook");
        let shard = shards.shard_of(ns, name);
        let start = Instant::now();
        let step = Duration::from_millis(150);
        shards.set(shard, Slot::Held { until: start + step });
        let claim = shards.claim(ns, name).expect("held");
        let lost = shards.lost(&claim);
        tokio::pin!(lost);
        // Renewals move the deadline on before it passes: not lost.
        for round in 1..=3 {
            tokio::select! {
                () = &mut lost => panic!("lost in round {round} while renewed"),
                () = tokio::time::sleep_until((start + step * round - step / 3).into()) => {}
            }
            shards.set(
                shard,
                Slot::Held {
                    until: start + step * (round + 1),
                },
            );
        }
        // Then renewals fail: lost once the last deadline passes, not before.
        tokio::time::timeout(Duration::from_secs(5), &mut lost)
            .await
            .expect("lost after the deadline");
        assert!(Instant::now() >= start + step * 4);
        // A give-back whose deadline passes while a reconcile still holds its claim: lost too.
        shards.set(
            shard,
            Slot::Held {
                until: Instant::now() + step,
            },
        );
        let claim = shards.claim(ns, name).expect("held again");
        shards.set(
            shard,
            Slot::Releasing {
                until: Instant::now() + step,
            },
        );
        tokio::time::timeout(Duration::from_secs(5), shards.lost(&claim))
            .await
            .expect("lost after the give-back's deadline");
    }

    #[test]
    fn membership_lease_names_are_valid_and_keep_identities_apart() {
        assert_eq!(member_lease_name("appset", "pod-0"), "appset-member-pod-0");
        let a = member_lease_name("appset", "Host_A.1");
        let b = member_lease_name("appset", "host-a-1");
        assert!(a.starts_with("appset-member-host-a-1-"), "{a}");
        assert_ne!(a, b);
        let long = member_lease_name("appset", &"x".repeat(400));
        assert!(long.len() <= 253, "{}", long.len());
        assert!(member_lease_name("p", "__").starts_with("p-member--"));
    }

    #[tokio::test]
    async fn a_claim_holds_the_shard_until_a_give_back_has_waited_for_it() {
        let shards = Shards::new(4);
        let (ns, name) = ("argocd", "guestbook");
        let shard = shards.shard_of(ns, name);
        assert!(shards.claim(ns, name).is_none(), "not held yet");
        let until = Instant::now() + Duration::from_secs(60);
        shards.set(shard, Slot::Held { until });
        assert!(shards.owns(ns, name));
        assert_eq!(shards.held(), vec![shard]);
        let claim = shards.claim(ns, name).expect("held");
        // The give-back: no new claim, and the gate waits for the one in flight.
        shards.set(shard, Slot::Releasing { until });
        assert!(shards.claim(ns, name).is_none());
        assert!(!shards.owns(ns, name));
        let gate = shards.shards[shard as usize].gate.clone();
        let waiting = tokio::spawn(async move {
            let _g = gate.write_owned().await;
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the give-back waits for the reconcile");
        drop(claim);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the give-back proceeds once the reconcile ends")
            .unwrap();
        // A held shard past its deadline is not held.
        shards.set(
            shard,
            Slot::Held {
                until: Instant::now(),
            },
        );
        assert!(!shards.holds(shard) && shards.claim(ns, name).is_none());
    }
}
