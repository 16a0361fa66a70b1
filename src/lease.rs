//! Leader election on a `coordination.k8s.io/v1` Lease, so two replicas never both write.
//!
//! Stage: controller (I/O: the Kubernetes API). A replica acquires the Lease when it is absent,
//! already its own, or expired (its `renewTime` older than `leaseDurationSeconds`), with the
//! Lease's `resourceVersion` as a precondition so two replicas cannot take it at once. The leader
//! renews every third of the duration; when a renewal fails it stops leading at once (the process
//! exits and is restarted as a standby), before another replica can take over.

use std::time::Duration;

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::Timestamp,
};
use kube::{Api, Client, api::PostParams};
use tracing::{info, warn};

/// A replica's claim on a Lease.
#[derive(Clone)]
pub struct LeaderElection {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
}

impl LeaderElection {
    /// Elect among replicas sharing Lease `namespace/name`; `identity` names this replica.
    pub fn new(client: Client, namespace: &str, name: &str, identity: &str, duration: Duration) -> Self {
        LeaderElection {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity: identity.to_string(),
            duration: duration.max(Duration::from_secs(2)),
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
        let current = match self.api.get_opt(&self.name).await? {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(self.spec(0, None)),
                };
                return match self.api.create(&PostParams::default(), &lease).await {
                    Ok(_) => Ok(true),
                    Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                    Err(e) => Err(e),
                };
            }
            Some(l) => l,
        };
        let spec = current.spec.clone().unwrap_or_default();
        let mine = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        let expired = spec.renew_time.as_ref().is_none_or(|t| {
            let duration = spec.lease_duration_seconds.unwrap_or(0).max(0) as i64;
            t.0.as_second() + duration < Timestamp::now().as_second()
        });
        if !mine && !expired && spec.holder_identity.is_some() {
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!mine);
        let acquired = if mine { spec.acquire_time.clone() } else { None };
        let mut next = current.clone();
        next.spec = Some(self.spec(transitions, acquired));
        // `replace` carries the resourceVersion we read: a concurrent change makes it fail (409).
        match self.api.replace(&self.name, &PostParams::default(), &next).await {
            Ok(_) => {
                if !mine {
                    info!(identity = %self.identity, lease = %self.name, "became the leader");
                }
                Ok(true)
            }
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
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
