//! Sharding: which replica reconciles which ApplicationSet.
//!
//! Stage: controller configuration (I/O: none; the Leases themselves are read and written by
//! `lease.rs`). An ApplicationSet belongs to shard `fnv1a64("namespace/name") mod count`: the
//! same on every replica, after every restart and in every version (the hash is written out
//! here rather than taken from the standard library, whose `DefaultHasher` may change between
//! releases). Each shard is one Lease. [`plan`] says which shard Leases a replica takes and
//! which it gives back, so that every live replica holds its fair share (the count divided by
//! the replicas, rounded down or up), moving few shards when a replica joins or leaves: a
//! replica keeps what it holds up to its share, gives back the excess (and one more only while
//! another replica starves), and takes only free or expired Leases, never one another live
//! replica holds.

use std::{fmt, str::FromStr};

/// Shard Leases when `--shards auto` names no count: divisible by 1, 2, 3, 4 and 6 replicas.
pub const DEFAULT_SHARDS: u32 = 12;

/// The most shards a controller accepts (each one is a Lease renewed every few seconds).
pub const MAX_SHARDS: u32 = 256;

/// The shard of ApplicationSet `namespace/name` among `count` shards (`count` ≥ 1).
pub fn shard_of(namespace: &str, name: &str, count: u32) -> u32 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for b in namespace.bytes().chain(std::iter::once(b'/')).chain(name.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    (h % u64::from(count.max(1))) as u32
}

/// How a controller divides the ApplicationSets among its replicas (`appset run --shards` /
/// `--shard`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharding {
    /// One replica reconciles every set (with leader election when several run).
    Single,
    /// This replica reconciles shard `index` of `count`, holding that shard's Lease.
    Fixed {
        /// The shard, from 0.
        index: u32,
        /// How many shards there are.
        count: u32,
    },
    /// The replicas share `count` shard Leases, each holding its fair share ([`plan`]).
    Auto {
        /// How many shards there are.
        count: u32,
    },
}

impl Sharding {
    /// How many shards the sets are divided into (1 for [`Sharding::Single`]).
    pub fn count(&self) -> u32 {
        match *self {
            Sharding::Single => 1,
            Sharding::Fixed { count, .. } | Sharding::Auto { count } => count,
        }
    }
}

impl fmt::Display for Sharding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sharding::Single => write!(f, "none"),
            Sharding::Fixed { index, count } => write!(f, "{index}/{count}"),
            Sharding::Auto { count } => write!(f, "auto:{count}"),
        }
    }
}

/// Why a sharding flag was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid sharding {given:?}: {reason} (expected `auto`, `auto:COUNT` or `N/COUNT`, COUNT from 1 to {MAX_SHARDS})"
)]
pub struct ShardingError {
    given: String,
    reason: String,
}

impl FromStr for Sharding {
    type Err = ShardingError;

    /// `none`, `auto`, `auto:COUNT` or `N/COUNT` (N from 0).
    fn from_str(s: &str) -> Result<Sharding, ShardingError> {
        let fail = |reason: &str| ShardingError {
            given: s.to_string(),
            reason: reason.to_string(),
        };
        let count = |c: &str| -> Result<u32, ShardingError> {
            let n: u32 = c.trim().parse().map_err(|_| fail("the count is not a number"))?;
            if n == 0 || n > MAX_SHARDS {
                return Err(fail("the count is out of range"));
            }
            Ok(n)
        };
        let s_trim = s.trim();
        if s_trim == "none" {
            return Ok(Sharding::Single);
        }
        if s_trim == "auto" {
            return Ok(Sharding::Auto {
                count: DEFAULT_SHARDS,
            });
        }
        if let Some(c) = s_trim.strip_prefix("auto:") {
            return Ok(Sharding::Auto { count: count(c)? });
        }
        let (i, c) = s_trim
            .split_once('/')
            .ok_or_else(|| fail("no `/` between the shard and the count"))?;
        let count = count(c)?;
        let index: u32 = i.trim().parse().map_err(|_| fail("the shard is not a number"))?;
        if index >= count {
            return Err(fail(
                "the shard is not below the count (shards are numbered from 0)",
            ));
        }
        Ok(Sharding::Fixed { index, count })
    }
}

/// Annotation on the Leases a sharded replica holds: the URL its webhook endpoint is reached at
/// by the other replicas (`appset run --advertise-url`), to which they forward the webhooks that
/// concern its sets.
pub const WEBHOOK_URL_ANNOTATION: &str = "appset.io/webhook-url";

/// Another replica holding a shard, as its shard Lease names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Peer {
    /// Its identity (`spec.holderIdentity`).
    pub identity: String,
    /// Its webhook endpoint's base URL ([`WEBHOOK_URL_ANNOTATION`]).
    pub url: String,
}

/// One shard Lease as a replica sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeaseView {
    /// `spec.holderIdentity`, when someone holds it.
    pub holder: Option<String>,
    /// Whether the holder renewed it within its duration (an expired Lease is free to take).
    pub live: bool,
}

/// What a replica does with the shard Leases this round.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Moves {
    /// Shards to give back (the replica holds more than its share): stop reconciling their
    /// sets, wait for the reconciles in flight, then release the Lease.
    pub give_back: Vec<u32>,
    /// Free or expired shards to try to take (another replica may win one first).
    pub take: Vec<u32>,
}

/// The moves of replica `me` given every shard Lease (`leases[i]` is shard `i`) and how many
/// replicas are live (their own membership Leases unexpired; at least `me`).
///
/// With `floor = shards / replicas` and `ceil` its rounding up, `me`:
/// - above `ceil`, gives back the highest-numbered excess;
/// - at `ceil` above `floor`, when no shard is free and some replica holds fewer than `floor`
///   (a replica holding no Lease is seen by the count of replicas), gives back one;
/// - below `ceil`, takes free or expired shards up to `ceil`, starting at an offset of its own
///   (from its identity) so that replicas starting together do not all race for shard 0.
///
/// Replicas that all follow it settle with every shard held once and no replica more than one
/// shard above another, whatever order they move in.
pub fn plan(me: &str, leases: &[LeaseView], replicas: usize) -> Moves {
    let shards = leases.len();
    if shards == 0 {
        return Moves::default();
    }
    let replicas = replicas.max(1);
    let (floor, ceil) = (shards / replicas, shards.div_ceil(replicas));
    let mut held: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for l in leases.iter().filter(|l| l.live) {
        if let Some(h) = l.holder.as_deref() {
            *held.entry(h).or_default() += 1;
        }
    }
    let mine: Vec<u32> = (0..shards as u32)
        .filter(|&i| {
            let l = &leases[i as usize];
            l.live && l.holder.as_deref() == Some(me)
        })
        .collect();
    let free: Vec<u32> = {
        let start = shard_of("", me, shards as u32) as usize;
        (0..shards)
            .map(|k| ((start + k) % shards) as u32)
            .filter(|&i| {
                let l = &leases[i as usize];
                !l.live || l.holder.is_none()
            })
            .collect()
    };
    let excess = if mine.len() > ceil {
        mine.len() - ceil
    } else {
        // A live replica that holds no Lease is not in `held`: the count of replicas tells.
        let starving = held.values().any(|&n| n < floor) || (replicas > held.len() && floor > 0);
        usize::from(mine.len() == ceil && ceil > floor && free.is_empty() && starving)
    };
    if excess > 0 {
        let mut give_back = mine[mine.len() - excess..].to_vec();
        give_back.reverse();
        return Moves {
            give_back,
            take: Vec::new(),
        };
    }
    Moves {
        give_back: Vec::new(),
        take: free.into_iter().take(ceil.saturating_sub(mine.len())).collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    #[test]
    fn a_set_s_shard_is_fnv_1a_of_namespace_slash_name() {
        // FNV-1a 64 of "argocd/guestbook" is 0x2c7d2b6b46b98dd5 (computed independently, in Python).
        assert_eq!(
            shard_of("argocd", "guestbook", u32::MAX),
            (0x2c7d_2b6b_46b9_8dd5_u64 % u64::from(u32::MAX)) as u32
        );
        assert_eq!(
            shard_of("argocd", "guestbook", 12),
            (0x2c7d_2b6b_46b9_8dd5_u64 % 12) as u32
        );
        // The separator counts: "a/bc" and "ab/c" are different sets.
        assert_ne!(shard_of("a", "bc", 1 << 20), shard_of("ab", "c", 1 << 20));
        assert_eq!(shard_of("any", "set", 1), 0);
        assert_eq!(shard_of("any", "set", 0), 0, "a count of 0 is taken as 1");
    }

    #[test]
    fn ten_thousand_sets_spread_evenly_over_the_shards() {
        let mut per = [0usize; 12];
        for ns in 0..10 {
            for i in 0..1000 {
                per[shard_of(&format!("team-{ns}"), &format!("app-{i:04}"), 12) as usize] += 1;
            }
        }
        let mean = 10_000 / 12;
        for (shard, n) in per.iter().enumerate() {
            assert!(
                n.abs_diff(mean) * 10 < mean,
                "shard {shard}: {n} sets (mean {mean}): {per:?}"
            );
        }
    }

    #[test]
    fn sharding_flags_parse_and_refuse_with_the_reason() {
        assert_eq!(
            "auto".parse(),
            Ok(Sharding::Auto {
                count: DEFAULT_SHARDS
            })
        );
        assert_eq!("auto:5".parse(), Ok(Sharding::Auto { count: 5 }));
        assert_eq!("0/3".parse(), Ok(Sharding::Fixed { index: 0, count: 3 }));
        assert_eq!("none".parse(), Ok(Sharding::Single));
        for (bad, why) in [
            ("3/3", "not below the count"),
            ("1/0", "out of range"),
            ("auto:1000", "out of range"),
            ("x/3", "shard is not a number"),
            ("three", "no `/`"),
        ] {
            let e = bad.parse::<Sharding>().unwrap_err().to_string();
            assert!(e.contains(why) && e.contains(bad), "{bad}: {e}");
        }
        for s in ["auto:12", "2/7", "none"] {
            assert_eq!(s.parse::<Sharding>().unwrap().to_string(), s);
        }
    }

    /// Every replica plans and moves in turn, Leases going to whoever asks first, until nothing
    /// moves (bounded); the shards held, replica by replica.
    fn settle(holders: &mut [Option<String>], live: &BTreeSet<String>) -> BTreeMap<String, usize> {
        for _round in 0..50 {
            let mut moved = false;
            for me in live {
                let view: Vec<LeaseView> = holders
                    .iter()
                    .map(|h| LeaseView {
                        holder: h.clone(),
                        live: h.as_ref().is_some_and(|h| live.contains(h)),
                    })
                    .collect();
                let moves = plan(me, &view, live.len());
                for i in moves.give_back {
                    assert_eq!(
                        holders[i as usize].as_deref(),
                        Some(me.as_str()),
                        "gave back what it did not hold"
                    );
                    holders[i as usize] = None;
                    moved = true;
                }
                for i in moves.take {
                    let h = &mut holders[i as usize];
                    // The Lease's resourceVersion precondition: only a free or expired one is taken.
                    assert!(
                        h.as_ref().is_none_or(|h| !live.contains(h)),
                        "took a live Lease of {h:?}"
                    );
                    *h = Some(me.clone());
                    moved = true;
                }
            }
            if !moved {
                let mut held = BTreeMap::new();
                for h in holders.iter() {
                    let h = h.clone().expect("every shard held once settled");
                    assert!(live.contains(&h), "a shard left with a replica that is gone");
                    *held.entry(h).or_default() += 1;
                }
                return held;
            }
        }
        panic!("the shards did not settle in 50 rounds: {holders:?}");
    }

    #[test]
    fn replicas_joining_and_leaving_settle_on_fair_shares_moving_few_shards() {
        let mut holders: Vec<Option<String>> = vec![None; 12];
        let mut live: BTreeSet<String> = ["r0".to_string()].into();
        assert_eq!(
            settle(&mut holders, &live).into_values().collect::<Vec<_>>(),
            vec![12]
        );

        // A second and a third replica join: 6 + 6, then 4 + 4 + 4; the shards that move are
        // only those the newcomer takes.
        for (join, want) in [("r1", vec![6, 6]), ("r2", vec![4, 4, 4])] {
            let before = holders.clone();
            live.insert(join.to_string());
            let held = settle(&mut holders, &live);
            assert_eq!(held.values().copied().collect::<Vec<_>>(), want);
            let moved = before.iter().zip(&holders).filter(|(a, b)| a != b).count();
            assert_eq!(moved, held[join], "only the newcomer's shards moved");
        }

        // One leaves (killed: its Leases expire): the survivors take its shards, 6 + 6.
        live.remove("r1");
        let held = settle(&mut holders, &live);
        assert_eq!(held.values().copied().collect::<Vec<_>>(), vec![6, 6]);

        // Five replicas over 12 shards: no one more than one shard above another.
        for r in ["r5", "r6", "r7"] {
            live.insert(r.to_string());
        }
        let held = settle(&mut holders, &live);
        assert_eq!(held.len(), 5);
        let (lo, hi) = (held.values().min().unwrap(), held.values().max().unwrap());
        assert!(hi - lo <= 1, "{held:?}");
    }

    #[test]
    fn any_sequence_of_joins_and_leaves_settles_balanced() {
        // A fixed xorshift: the same sequences on every run.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for _case in 0..200 {
            let shards = 1 + next(24) as usize;
            let mut holders: Vec<Option<String>> = vec![None; shards];
            let mut live: BTreeSet<String> = BTreeSet::new();
            for step in 0..8 {
                if live.len() < 2 || (live.len() < 9 && next(3) > 0) {
                    live.insert(format!("r{step}-{}", next(1000)));
                } else {
                    let gone = live.iter().nth(next(live.len() as u64) as usize).unwrap().clone();
                    live.remove(&gone);
                }
                let held = settle(&mut holders, &live);
                let counts: Vec<usize> = live.iter().map(|r| held.get(r).copied().unwrap_or(0)).collect();
                let (lo, hi) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
                assert!(hi - lo <= 1, "{shards} shards over {live:?}: {counts:?}");
            }
        }
    }

    #[test]
    fn a_replica_never_takes_a_live_lease_of_another() {
        let view = vec![
            LeaseView {
                holder: Some("other".into()),
                live: true,
            },
            LeaseView {
                holder: Some("other".into()),
                live: false,
            },
            LeaseView {
                holder: None,
                live: false,
            },
        ];
        let moves = plan("me", &view, 1);
        let mut take = moves.take.clone();
        take.sort();
        assert_eq!(take, vec![1, 2]);
        assert!(moves.give_back.is_empty());
    }
}
