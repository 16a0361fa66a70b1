//! What follows from one reconcile: its conditions, its Warning Event, its requeue and whether
//! the refresh annotation goes.
//!
//! Stage: controller (pure: no I/O, no clock but the `now` it is given, so every branch is unit
//! tested without a control plane). [`sync`](super::sync) says how a reconcile [`Ended`];
//! [`decide`] turns that into an [`Outcome`]; [`Status`] applies the outcome's conditions to the
//! ApplicationSet's status, keeping a condition's transition time while it does not change.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use kube::ResourceExt;

use super::{ERROR_REQUEUE, MAX_DELETES_ANNOTATION, condition};
use crate::{
    crd::{
        ApplicationSetApplicationStatus, ApplicationSetCondition, ApplicationSetStatus, HealthStatus,
        ResourceStatus,
    },
    live::CachedApplication,
    pipeline::Invalid,
};

/// How a reconcile ended.
#[derive(Debug)]
pub(super) enum Ended<'a> {
    /// A generator or template failed: nothing was planned or written.
    GenerationFailed {
        /// Argo CD's condition reason.
        reason: &'static str,
        /// Every failure, the first one first.
        message: String,
        /// When a retry makes sense (a GitHub rate limit's reset), if a failure says.
        retry_at: Option<SystemTime>,
        /// The generators' own smallest poll interval.
        requeue_after: Option<Duration>,
    },
    /// The set's options are invalid (an ignore rule that does not compile, a RollingSync
    /// without steps): nothing was planned.
    Unplannable {
        /// Argo CD's reason.
        reason: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The plan was executed.
    Executed {
        /// A write failed: Argo CD's reason and the message of the smallest name.
        write_failure: Option<(&'static str, String)>,
        /// Deletes withheld by the delete budget: (wanted, budget).
        withheld_deletes: Option<(usize, usize)>,
        /// Applications that failed validation (skipped, as Argo CD does).
        invalid: &'a [Invalid],
        /// The generators' own smallest poll interval.
        requeue_after: Option<Duration>,
    },
}

/// The conditions a reconcile leaves on the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Conditions {
    /// `ErrorOccurred` with `reason` and `message`; `ParametersGenerated` says whether the
    /// generators got that far.
    Error {
        /// Argo CD's reason.
        reason: &'static str,
        /// The message.
        message: String,
        /// Whether parameters were generated.
        parameters_generated: bool,
    },
    /// Everything generated and up to date.
    UpToDate,
}

/// What a reconcile does after its writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Outcome {
    /// The conditions (and health) of the status.
    pub conditions: Conditions,
    /// A Warning Event: (reason, note).
    pub warning: Option<(&'static str, String)>,
    /// When to reconcile again (None: on the next change only).
    pub requeue: Option<Duration>,
    /// The error reason on the status and, unless the reconcile fails with `write_error`, in the
    /// metrics (None: success).
    pub error_reason: Option<&'static str>,
    /// A failed write, returned as the reconcile's error (kube-runtime retries it with backoff).
    pub write_error: Option<String>,
    /// Remove Argo CD's refresh annotation: only after a fully successful pass (Argo CD keeps it
    /// while generation fails).
    pub clear_refresh: bool,
}

/// Decide what follows from how a reconcile ended. `refresh`: the set carries Argo CD's refresh
/// annotation.
pub(super) fn decide(ended: Ended<'_>, refresh: bool, now: SystemTime) -> Outcome {
    let error = |reason: &'static str, message: String, parameters_generated: bool| Conditions::Error {
        reason,
        message,
        parameters_generated,
    };
    let outcome = match ended {
        Ended::GenerationFailed {
            reason,
            message,
            retry_at,
            requeue_after,
        } => {
            // A rate limit says when to retry; otherwise Argo CD's 3 minutes, or the generators'
            // own poll interval when that is sooner (a source that recovers is seen as soon as
            // it would have been polled anyway).
            let requeue = match retry_at {
                Some(at) => at.duration_since(now).unwrap_or_default() + Duration::from_secs(1),
                None => requeue_after.map_or(ERROR_REQUEUE, |d| d.min(ERROR_REQUEUE)),
            };
            Outcome {
                conditions: error(reason, message.clone(), false),
                warning: Some((reason, message)),
                requeue: Some(requeue),
                error_reason: Some(reason),
                write_error: None,
                clear_refresh: false,
            }
        }
        Ended::Unplannable { reason, message } => Outcome {
            conditions: error(reason, message, true),
            warning: None,
            requeue: Some(ERROR_REQUEUE),
            error_reason: Some(reason),
            write_error: None,
            clear_refresh: false,
        },
        Ended::Executed {
            write_failure: Some((reason, message)),
            ..
        } => Outcome {
            conditions: error(reason, message.clone(), true),
            warning: None,
            requeue: None,
            error_reason: Some(reason),
            write_error: Some(message),
            clear_refresh: false,
        },
        Ended::Executed {
            withheld_deletes: Some((want, max)),
            ..
        } => {
            let message = format!(
                "{want} Applications are no longer generated but the delete budget is {max} \
                 ({MAX_DELETES_ANNOTATION}); nothing was deleted"
            );
            Outcome {
                conditions: error(condition::DELETE_BUDGET, message.clone(), true),
                warning: Some((condition::DELETE_BUDGET, message)),
                requeue: Some(ERROR_REQUEUE),
                error_reason: Some(condition::DELETE_BUDGET),
                write_error: None,
                clear_refresh: false,
            }
        }
        Ended::Executed {
            invalid,
            requeue_after,
            ..
        } if !invalid.is_empty() => {
            // Argo CD reports the message of the last name, sorted.
            let last = invalid.iter().max_by(|a, b| a.name.cmp(&b.name));
            let last = last.map(|i| i.message.clone()).unwrap_or_default();
            let message = if invalid.len() > 1 {
                format!("{last} (and {} more)", invalid.len() - 1)
            } else {
                last
            };
            Outcome {
                conditions: error(condition::VALIDATION_ERROR, message, true),
                warning: None,
                requeue: Some(requeue_after.unwrap_or(ERROR_REQUEUE)),
                error_reason: Some(condition::VALIDATION_ERROR),
                write_error: None,
                clear_refresh: false,
            }
        }
        Ended::Executed { requeue_after, .. } => Outcome {
            conditions: Conditions::UpToDate,
            warning: None,
            requeue: requeue_after,
            error_reason: None,
            write_error: None,
            clear_refresh: true,
        },
    };
    Outcome {
        clear_refresh: outcome.clear_refresh && refresh,
        ..outcome
    }
}

/// What a reconcile does to the progressive sync part of the status.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum RolloutStatus {
    /// Leave `applicationStatus` and the rollout conditions as they are (the reconcile stopped
    /// before progressive sync, as Argo CD's does on a generation error).
    Keep,
    /// Not a rolling sync (or progressive syncs are off): no `applicationStatus`, no rollout
    /// conditions.
    Clear,
    /// A rolling sync's statuses and conditions.
    Set {
        /// `applicationStatus`, sorted by Application name.
        statuses: Vec<ApplicationSetApplicationStatus>,
        /// `RolloutProgressing`: (status, reason, message).
        progressing: (bool, &'static str, String),
        /// `InvalidRolloutConfig`: (status, reason, message).
        invalid: (bool, &'static str, String),
    },
}

/// An ApplicationSet's status before and after a reconcile (written only when they differ).
pub(super) struct Status {
    pub before: ApplicationSetStatus,
    pub after: ApplicationSetStatus,
}

impl Status {
    pub fn new(before: ApplicationSetStatus) -> Self {
        Status {
            after: before.clone(),
            before,
        }
    }

    /// Set the conditions (and health) of an outcome.
    pub fn conditions(&mut self, conditions: &Conditions) {
        match conditions {
            Conditions::Error {
                reason,
                message,
                parameters_generated,
            } => self.error(reason, message, *parameters_generated),
            Conditions::UpToDate => self.up_to_date(),
        }
    }

    fn set(&mut self, type_: &str, status: bool, reason: &str, message: &str) {
        let status = if status { "True" } else { "False" };
        let previous = self.before.conditions.iter().find(|c| c.type_ == type_);
        let unchanged =
            previous.is_some_and(|p| p.status == status && p.reason == reason && p.message == message);
        let time = if unchanged {
            previous.and_then(|p| p.last_transition_time.clone())
        } else {
            Some(k8s_openapi::jiff::Timestamp::now().to_string())
        };
        self.after.conditions.retain(|c| c.type_ != type_);
        self.after.conditions.push(ApplicationSetCondition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            last_transition_time: time,
        });
        self.after
            .conditions
            .sort_by(|a, b| (&a.type_, &a.status).cmp(&(&b.type_, &b.status)));
    }

    fn error(&mut self, reason: &str, message: &str, parameters_generated: bool) {
        self.set(condition::ERROR_OCCURRED, true, reason, message);
        self.set(
            condition::RESOURCES_UP_TO_DATE,
            false,
            condition::ERROR_REASON,
            message,
        );
        if parameters_generated {
            self.set(
                condition::PARAMETERS_GENERATED,
                true,
                condition::PARAMETERS_GENERATED_REASON,
                condition::GENERATED_MESSAGE,
            );
        } else {
            self.set(
                condition::PARAMETERS_GENERATED,
                false,
                condition::ERROR_REASON,
                message,
            );
        }
        self.after.health = Some(HealthStatus {
            status: Some("Degraded".into()),
            message: Some(message.to_string()),
        });
    }

    fn up_to_date(&mut self) {
        self.set(
            condition::PARAMETERS_GENERATED,
            true,
            condition::PARAMETERS_GENERATED_REASON,
            condition::GENERATED_MESSAGE,
        );
        self.set(
            condition::RESOURCES_UP_TO_DATE,
            true,
            condition::UP_TO_DATE,
            condition::UP_TO_DATE_MESSAGE,
        );
        self.set(
            condition::ERROR_OCCURRED,
            false,
            condition::UP_TO_DATE,
            condition::UP_TO_DATE_MESSAGE,
        );
        self.after.health = Some(HealthStatus {
            status: Some("Healthy".into()),
            message: Some(condition::UP_TO_DATE_MESSAGE.into()),
        });
    }

    /// Apply a reconcile's progressive sync: `applicationStatus`, `RolloutProgressing` and
    /// `InvalidRolloutConfig`, and the health they imply (Argo CD's `CalculateHealth`: an error
    /// first, then a rollout in progress). Call after [`Status::conditions`].
    pub fn rollout(&mut self, rollout: RolloutStatus) {
        match rollout {
            RolloutStatus::Keep => {}
            RolloutStatus::Clear => {
                self.after.application_status.clear();
                self.after.conditions.retain(|c| {
                    c.type_ != condition::ROLLOUT_PROGRESSING && c.type_ != condition::INVALID_ROLLOUT_CONFIG
                });
            }
            RolloutStatus::Set {
                statuses,
                progressing,
                invalid,
            } => {
                self.after.application_status = statuses;
                self.set(
                    condition::ROLLOUT_PROGRESSING,
                    progressing.0,
                    progressing.1,
                    &progressing.2,
                );
                self.set(
                    condition::INVALID_ROLLOUT_CONFIG,
                    invalid.0,
                    invalid.1,
                    &invalid.2,
                );
            }
        }
        let is_true = |t: &str| {
            self.after
                .conditions
                .iter()
                .find(|c| c.type_ == t && c.status == "True")
                .map(|c| c.message.clone())
        };
        if is_true(condition::ERROR_OCCURRED).is_none()
            && let Some(message) = is_true(condition::ROLLOUT_PROGRESSING)
        {
            self.after.health = Some(HealthStatus {
                status: Some("Progressing".into()),
                message: Some(message),
            });
        }
    }

    /// The message of a condition before this reconcile, if it was True.
    pub fn was_true(&self, type_: &str) -> Option<&str> {
        self.before
            .conditions
            .iter()
            .find(|c| c.type_ == type_ && c.status == "True")
            .map(|c| c.message.as_str())
    }

    /// `status.resources`: the owned Applications by name, the first `max` of them (0: all).
    pub fn resources(&mut self, owned: &[&Arc<CachedApplication>], max: usize) {
        let mut resources: Vec<ResourceStatus> = owned
            .iter()
            .map(|a| ResourceStatus {
                group: "argoproj.io".into(),
                version: "v1alpha1".into(),
                kind: "Application".into(),
                name: a.name_any(),
                namespace: a.namespace().unwrap_or_default(),
                status: a.sync_status.clone(),
                health: a.health_status.clone().map(|s| HealthStatus {
                    status: Some(s),
                    message: None,
                }),
            })
            .collect();
        resources.sort_by(|a, b| a.name.cmp(&b.name));
        self.after.resources_count = Some(resources.len() as i64);
        if max > 0 {
            resources.truncate(max);
        }
        self.after.resources = resources;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: SystemTime = SystemTime::UNIX_EPOCH;

    fn executed<'a>(invalid: &'a [Invalid], requeue_after: Option<Duration>) -> Ended<'a> {
        Ended::Executed {
            write_failure: None,
            withheld_deletes: None,
            invalid,
            requeue_after,
        }
    }

    fn invalid(name: &str) -> Invalid {
        Invalid {
            name: name.into(),
            message: format!("{name} is invalid"),
        }
    }

    #[test]
    fn a_clean_pass_is_up_to_date_waits_for_the_generators_and_clears_the_refresh() {
        let o = decide(executed(&[], Some(Duration::from_secs(30))), true, NOW);
        assert_eq!(
            o,
            Outcome {
                conditions: Conditions::UpToDate,
                warning: None,
                requeue: Some(Duration::from_secs(30)),
                error_reason: None,
                write_error: None,
                clear_refresh: true,
            }
        );
        let o = decide(executed(&[], None), false, NOW);
        assert_eq!(o.requeue, None, "no generator polls: wait for a change");
        assert!(!o.clear_refresh, "no annotation to clear");
    }

    #[test]
    fn a_generation_failure_warns_keeps_the_refresh_and_retries_at_the_sooner_of_poll_and_three_minutes() {
        let failed = |retry_at, requeue_after| Ended::GenerationFailed {
            reason: "ApplicationGenerationFromParamsError",
            message: "spec.generators[0].git: boom".into(),
            retry_at,
            requeue_after,
        };
        let o = decide(failed(None, None), true, NOW);
        assert_eq!(
            o.conditions,
            Conditions::Error {
                reason: "ApplicationGenerationFromParamsError",
                message: "spec.generators[0].git: boom".into(),
                parameters_generated: false,
            }
        );
        assert_eq!(
            o.warning,
            Some((
                "ApplicationGenerationFromParamsError",
                "spec.generators[0].git: boom".into()
            ))
        );
        assert_eq!(o.requeue, Some(ERROR_REQUEUE));
        assert_eq!(o.error_reason, Some("ApplicationGenerationFromParamsError"));
        assert!(
            !o.clear_refresh,
            "the refresh annotation stays while generation fails"
        );
        assert_eq!(o.write_error, None);

        let sooner = decide(failed(None, Some(Duration::from_secs(20))), false, NOW);
        assert_eq!(sooner.requeue, Some(Duration::from_secs(20)));
        let later = decide(failed(None, Some(Duration::from_secs(3600))), false, NOW);
        assert_eq!(later.requeue, Some(ERROR_REQUEUE));
        // A rate limit's reset wins, one second after it.
        let reset = NOW + Duration::from_secs(600);
        let limited = decide(failed(Some(reset), Some(Duration::from_secs(20))), false, NOW);
        assert_eq!(limited.requeue, Some(Duration::from_secs(601)));
        let past = decide(failed(Some(NOW), None), false, NOW + Duration::from_secs(5));
        assert_eq!(past.requeue, Some(Duration::from_secs(1)));
    }

    #[test]
    fn invalid_sync_options_are_an_error_after_parameters_were_generated() {
        let o = decide(
            Ended::Unplannable {
                reason: condition::ROLLOUT_ERROR,
                message: "No steps defined for rollout".into(),
            },
            true,
            NOW,
        );
        assert_eq!(
            o.conditions,
            Conditions::Error {
                reason: condition::ROLLOUT_ERROR,
                message: "No steps defined for rollout".into(),
                parameters_generated: true,
            }
        );
        assert_eq!(
            (o.requeue, o.warning, o.clear_refresh),
            (Some(ERROR_REQUEUE), None, false)
        );
    }

    #[test]
    fn a_failed_write_is_the_reconcile_error_and_wins_over_everything_else() {
        let bad = [invalid("x")];
        let o = decide(
            Ended::Executed {
                write_failure: Some((
                    condition::CREATE_ERROR,
                    "error applying Application ns/a: boom".into(),
                )),
                withheld_deletes: Some((5, 1)),
                invalid: &bad,
                requeue_after: Some(Duration::from_secs(30)),
            },
            true,
            NOW,
        );
        assert_eq!(
            o.write_error.as_deref(),
            Some("error applying Application ns/a: boom")
        );
        assert_eq!(o.error_reason, Some(condition::CREATE_ERROR));
        assert_eq!(
            o.conditions,
            Conditions::Error {
                reason: condition::CREATE_ERROR,
                message: "error applying Application ns/a: boom".into(),
                parameters_generated: true,
            }
        );
        assert!(!o.clear_refresh);
    }

    #[test]
    fn withheld_deletes_warn_with_the_budget_before_validation_errors() {
        let bad = [invalid("x")];
        let o = decide(
            Ended::Executed {
                write_failure: None,
                withheld_deletes: Some((5, 2)),
                invalid: &bad,
                requeue_after: Some(Duration::from_secs(30)),
            },
            true,
            NOW,
        );
        let message = "5 Applications are no longer generated but the delete budget is 2 \
                       (appset.io/max-deletes); nothing was deleted";
        assert_eq!(o.warning, Some((condition::DELETE_BUDGET, message.to_string())));
        assert_eq!(o.error_reason, Some(condition::DELETE_BUDGET));
        assert_eq!(o.requeue, Some(ERROR_REQUEUE));
        assert!(!o.clear_refresh);
    }

    #[test]
    fn validation_errors_report_the_last_name_and_how_many_more_without_an_event() {
        let bad = [invalid("b"), invalid("c"), invalid("a")];
        let o = decide(executed(&bad, None), true, NOW);
        assert_eq!(
            o.conditions,
            Conditions::Error {
                reason: condition::VALIDATION_ERROR,
                message: "c is invalid (and 2 more)".into(),
                parameters_generated: true,
            }
        );
        assert_eq!(o.warning, None);
        assert_eq!(o.requeue, Some(ERROR_REQUEUE));
        assert!(!o.clear_refresh);
        let one = decide(executed(&bad[..1], Some(Duration::from_secs(7))), false, NOW);
        assert_eq!(
            one.conditions,
            Conditions::Error {
                reason: condition::VALIDATION_ERROR,
                message: "b is invalid".into(),
                parameters_generated: true,
            }
        );
        assert_eq!(one.requeue, Some(Duration::from_secs(7)));
    }

    #[test]
    fn conditions_keep_their_transition_time_while_unchanged() {
        let mut status = Status::new(ApplicationSetStatus::default());
        status.conditions(&Conditions::UpToDate);
        let first = status.after.clone();
        assert_eq!(
            first.health.as_ref().and_then(|h| h.status.as_deref()),
            Some("Healthy")
        );
        let mut again = Status::new(first.clone());
        again.conditions(&Conditions::UpToDate);
        assert!(
            again.after == again.before,
            "nothing to write when nothing changed"
        );
        let mut failing = Status::new(first);
        failing.conditions(&Conditions::Error {
            reason: condition::VALIDATION_ERROR,
            message: "m".into(),
            parameters_generated: true,
        });
        let types: Vec<(&str, &str)> = failing
            .after
            .conditions
            .iter()
            .map(|c| (c.type_.as_str(), c.status.as_str()))
            .collect();
        assert_eq!(
            types,
            [
                ("ErrorOccurred", "True"),
                ("ParametersGenerated", "True"),
                ("ResourcesUpToDate", "False")
            ]
        );
        assert_eq!(
            failing.after.health.as_ref().and_then(|h| h.status.as_deref()),
            Some("Degraded")
        );
    }

    #[test]
    fn a_rollout_in_progress_makes_the_set_progressing_unless_an_error_occurred() {
        let entry = ApplicationSetApplicationStatus {
            application: "dev-1".into(),
            status: "Pending".into(),
            step: "1".into(),
            ..Default::default()
        };
        let set = RolloutStatus::Set {
            statuses: vec![entry.clone()],
            progressing: (
                true,
                condition::ROLLOUT_MODIFIED,
                "ApplicationSet is performing rollout of step 1".into(),
            ),
            invalid: (
                false,
                condition::VALID_ROLLOUT,
                condition::VALID_ROLLOUT_MESSAGE.into(),
            ),
        };
        let mut status = Status::new(ApplicationSetStatus::default());
        status.conditions(&Conditions::UpToDate);
        status.rollout(set.clone());
        assert_eq!(status.after.application_status, vec![entry]);
        let health = status.after.health.clone().unwrap();
        assert_eq!(
            (health.status.as_deref(), health.message.as_deref()),
            (
                Some("Progressing"),
                Some("ApplicationSet is performing rollout of step 1")
            )
        );
        assert_eq!(
            status.was_true(condition::ROLLOUT_PROGRESSING),
            None,
            "not before this reconcile"
        );
        // An error wins over the rollout (Argo CD's CalculateHealth).
        let mut failing = Status::new(status.after.clone());
        assert!(failing.was_true(condition::ROLLOUT_PROGRESSING).is_some());
        failing.conditions(&Conditions::Error {
            reason: condition::UPDATE_ERROR,
            message: "m".into(),
            parameters_generated: true,
        });
        failing.rollout(RolloutStatus::Keep);
        assert_eq!(
            failing.after.health.as_ref().and_then(|h| h.status.as_deref()),
            Some("Degraded")
        );
        assert_eq!(failing.after.application_status.len(), 1, "kept");
        // Not a rolling sync any more: statuses and rollout conditions go.
        let mut cleared = Status::new(status.after.clone());
        cleared.conditions(&Conditions::UpToDate);
        cleared.rollout(RolloutStatus::Clear);
        assert!(cleared.after.application_status.is_empty());
        assert!(cleared.after.conditions.iter().all(
            |c| c.type_ != condition::ROLLOUT_PROGRESSING && c.type_ != condition::INVALID_ROLLOUT_CONFIG
        ));
        assert_eq!(
            cleared.after.health.as_ref().and_then(|h| h.status.as_deref()),
            Some("Healthy")
        );
    }
}
