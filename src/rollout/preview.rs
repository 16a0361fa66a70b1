//! The rollout before it runs: for a set's generated Applications, each RollingSync step with its
//! Applications in the order Argo CD promotes them, the batches its `maxUpdate` allows, the
//! Applications no step selects, and the configuration's problems in Argo CD's words
//! (`appset render -o steps`, `POST /v1/render?steps=true`).
//!
//! Stage: plan. Pure (no I/O): what [`super::assign`] and [`super::max_update`] decide, laid out
//! for a person, assuming every Application has changes to sync and none is syncing yet.
//!
//! What Argo CD does, step by step (§3.10): a step starts when every Application of the steps
//! before it is Healthy; within a step, Applications are promoted to Pending in the order of
//! `status.applicationStatus` (here: by name) while fewer than the scaled `maxUpdate` are Pending
//! or Progressing. A batch is therefore an upper bound on how many sync at once, not a wave: the
//! next Application starts as soon as one of the batch before it is Healthy, not when the whole
//! batch is. As appset's controller (see [`super::status`]), a percentage is scaled against the
//! step's own Applications (Argo CD also counts those in no step in step 1's; a note says when
//! that differs), and as Argo CD, an invalid `maxUpdate` lets one Application sync at a time
//! (Argo CD logs that it ignores the value, then its "any percentage allows one" rule applies to
//! the 0 it got).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::{
    INVALID_MAX_UPDATE_LIMIT, ValidationIssues, assign, is_rolling_sync, max_update, max_update_text,
};
use crate::crd::{ApplicationMatchExpression, ApplicationSetRolloutStep, ApplicationSetStrategy};

/// Argo CD's error (condition `ErrorOccurred`, reason `ApplicationSetRolloutError`) for
/// `type: RollingSync` without steps: the controller then writes nothing.
pub const NO_STEPS: &str = "No steps defined for rollout";

/// How Argo CD rolls a set's Applications out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Strategy {
    /// Every Application at once, each synced by its own `syncPolicy` (no strategy, `type:
    /// AllAtOnce`, or anything that is not a RollingSync with `rollingSync` set).
    AllAtOnce,
    /// Step by step (`type: RollingSync` with `rollingSync`); the controller syncs each
    /// Application itself (automated sync is turned off on them).
    RollingSync,
}

/// How many Applications of a step may sync at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Limit {
    /// No `maxUpdate`: the whole step at once.
    Unlimited,
    /// At most `count` (at least 1) at once.
    AtMost {
        /// The scaled `maxUpdate`.
        count: usize,
    },
    /// `maxUpdate` scales to 0 (`0`, `"0%"`, a negative integer): no Application of the step is
    /// synced, and the steps after it start only if its Applications need no sync.
    Blocked,
    /// A `maxUpdate` that is neither an integer nor a percentage: a configuration problem, after
    /// which Argo CD syncs `count` (1) at a time.
    Invalid {
        /// The Kubernetes library's message.
        error: String,
        /// What Argo CD allows then: 1.
        count: usize,
    },
}

/// One RollingSync step (or the one step of AllAtOnce).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepPreview {
    /// 1-based, as `status.applicationStatus[].step`.
    pub step: usize,
    /// Its matchExpressions as text (`env In (dev)`); none selects every Application.
    pub match_expressions: Vec<String>,
    /// Its `maxUpdate` as written (`1`, `"50%"`); `None` when absent.
    pub max_update: Option<String>,
    /// The Application count a percentage `maxUpdate` is scaled against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scaled_against: Option<usize>,
    /// How many may sync at once.
    pub limit: Limit,
    /// The Applications whose step this is, in the order Argo CD promotes them (by name).
    pub applications: Vec<String>,
    /// Applications the step also selects but that an earlier step already holds.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub also_selected: Vec<String>,
    /// `applications` chunked by the limit: at most one batch's worth syncs at once (a later
    /// batch starts as soon as a slot frees). Empty when blocked or when there is none.
    pub batches: Vec<Vec<String>>,
}

/// A set's rollout, before it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    /// The strategy Argo CD applies.
    pub strategy: Strategy,
    /// The steps in order; AllAtOnce has one, holding every Application.
    pub steps: Vec<StepPreview>,
    /// Applications no step selects (`step: "-1"`): never synced by the controller. By name.
    pub unassigned: Vec<String>,
    /// The `InvalidRolloutConfig` condition's message, exactly as Argo CD words it (the problem
    /// of highest priority); `None` when the configuration is valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid_rollout_config: Option<String>,
    /// Every configuration problem Argo CD records, one sentence each, highest priority first.
    pub problems: Vec<String>,
    /// What is not a problem to Argo CD but probably not meant (a strategy it ignores, a
    /// percentage scaled against Applications in no step, a blocked step).
    pub notes: Vec<String>,
    /// Argo CD's error for the set ([`NO_STEPS`]): it then writes nothing, and there is no
    /// rollout to show.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The (name, labels) of rendered Applications, as [`preview`] takes them: `metadata.name` and
/// the string values of `metadata.labels` (a number or boolean as its text).
pub fn labelled(applications: &[Value]) -> Vec<(String, BTreeMap<String, String>)> {
    applications
        .iter()
        .map(|app| {
            let name = app
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let labels = app
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .map(|labels| {
                    labels
                        .iter()
                        .filter_map(|(k, v)| {
                            let v = match v {
                                Value::String(s) => s.clone(),
                                Value::Number(_) | Value::Bool(_) => v.to_string(),
                                _ => return None,
                            };
                            Some((k.clone(), v))
                        })
                        .collect()
                })
                .unwrap_or_default();
            (name, labels)
        })
        .collect()
}

/// The rollout of a set with `strategy` over its generated Applications `(name, labels)`, in
/// generation order (the order Argo CD meets configuration problems in).
pub fn preview(
    strategy: Option<&ApplicationSetStrategy>,
    apps: &[(String, BTreeMap<String, String>)],
) -> Preview {
    let mut names: Vec<&str> = apps.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let rolling = strategy
        .filter(|s| is_rolling_sync(Some(s)))
        .and_then(|s| s.rolling_sync.as_ref());
    let Some(rolling) = rolling else {
        return all_at_once(strategy, &names);
    };
    if rolling.steps.is_empty() {
        return Preview {
            strategy: Strategy::RollingSync,
            steps: Vec::new(),
            unassigned: Vec::new(),
            invalid_rollout_config: None,
            problems: Vec::new(),
            notes: Vec::new(),
            error: Some(NO_STEPS.to_string()),
        };
    }
    rolling_sync(&rolling.steps, apps, &names)
}

fn all_at_once(strategy: Option<&ApplicationSetStrategy>, names: &[&str]) -> Preview {
    let mut notes = Vec::new();
    if let Some(s) = strategy {
        match (s.type_.as_deref(), s.rolling_sync.is_some()) {
            (Some("RollingSync"), false) => notes.push(
                "strategy.type is RollingSync but strategy.rollingSync is not set: Argo CD syncs every \
                 Application at once"
                    .to_string(),
            ),
            (None | Some("" | "AllAtOnce"), true) => {
                notes.push("strategy.rollingSync is ignored: strategy.type is not RollingSync".to_string())
            }
            (Some(t), _) if !matches!(t, "" | "AllAtOnce" | "RollingSync") => notes.push(format!(
                "strategy.type {t:?} is neither AllAtOnce nor RollingSync: Argo CD syncs every \
                 Application at once"
            )),
            _ => {}
        }
    }
    let applications: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let batches = if applications.is_empty() {
        Vec::new()
    } else {
        vec![applications.clone()]
    };
    Preview {
        strategy: Strategy::AllAtOnce,
        steps: vec![StepPreview {
            step: 1,
            match_expressions: Vec::new(),
            max_update: None,
            scaled_against: None,
            limit: Limit::Unlimited,
            applications,
            also_selected: Vec::new(),
            batches,
        }],
        unassigned: Vec::new(),
        invalid_rollout_config: None,
        problems: Vec::new(),
        notes,
        error: None,
    }
}

fn rolling_sync(
    steps: &[ApplicationSetRolloutStep],
    apps: &[(String, BTreeMap<String, String>)],
    names: &[&str],
) -> Preview {
    let assigned = assign(steps, apps.iter().map(|(n, l)| (n.as_str(), l)));
    let mut own: Vec<Vec<String>> = vec![Vec::new(); steps.len()];
    let mut unassigned = Vec::new();
    for name in names {
        match assigned.step_of.get(*name) {
            Some(&i) => own[i].push(name.to_string()),
            None => unassigned.push(name.to_string()),
        }
    }
    // appset scales a step's maxUpdate against the step's own Applications (Argo CD's step map
    // reads an Application in no step as step 1's: a note says what that changes).
    let total = |i: usize| own[i].len();
    let mut issues = assigned.issues.clone();
    // An invalid maxUpdate is recorded when it is scaled for an Application's status: walking the
    // statuses by name, once per step.
    for name in names {
        let Some(i) = assigned.step_of.get(*name).copied() else {
            continue;
        };
        if let Some(m) = &steps[i].max_update {
            let _ = issues.scale_max_update(i, m, total(i));
        }
    }

    let mut notes = Vec::new();
    let previews: Vec<StepPreview> = steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let applications = own[i].clone();
            let percentage = matches!(
                &step.max_update,
                Some(m) if max_update_text(m).ends_with('%') && max_update(m, 0).is_ok()
            );
            let limit = match &step.max_update {
                None => Limit::Unlimited,
                Some(m) => match max_update(m, total(i)) {
                    Ok(0) => Limit::Blocked,
                    Ok(count) => Limit::AtMost { count },
                    Err(error) => Limit::Invalid {
                        error,
                        count: INVALID_MAX_UPDATE_LIMIT,
                    },
                },
            };
            let batches = match &limit {
                Limit::Blocked => Vec::new(),
                Limit::Unlimited if applications.is_empty() => Vec::new(),
                Limit::Unlimited => vec![applications.clone()],
                Limit::AtMost { count } | Limit::Invalid { count, .. } => {
                    applications.chunks(*count).map(<[String]>::to_vec).collect()
                }
            };
            if i == 0
                && percentage
                && !unassigned.is_empty()
                && let Some(m) = &step.max_update
                && let (Ok(ours), Ok(argo)) = (
                    max_update(m, total(0)),
                    max_update(m, total(0) + unassigned.len()),
                )
                && ours != argo
            {
                notes.push(format!(
                    "step 1's maxUpdate {} is scaled against its {} Applications: {ours} at a time; Argo CD \
                     also counts the {} in no step and allows {argo}",
                    max_update_text(m),
                    total(0),
                    unassigned.len()
                ));
            }
            if limit == Limit::Blocked && !applications.is_empty() {
                notes.push(format!(
                    "step {} is blocked (maxUpdate {}): none of its Applications is synced, so {}",
                    i + 1,
                    step.max_update.as_ref().map(max_update_text).unwrap_or_default(),
                    if i + 1 < steps.len() {
                        "later steps start only if all of them are already synced and Healthy"
                    } else {
                        "they change only if synced by hand"
                    }
                ));
            }
            let mut also_selected: Vec<String> = assigned.apps[i]
                .iter()
                .filter(|a| assigned.step_of.get(*a) != Some(&i))
                .cloned()
                .collect();
            also_selected.sort_unstable();
            also_selected.dedup();
            StepPreview {
                step: i + 1,
                match_expressions: step.match_expressions.iter().map(expression_text).collect(),
                max_update: step.max_update.as_ref().map(max_update_text),
                scaled_against: percentage.then(|| total(i)),
                limit,
                applications,
                also_selected,
                batches,
            }
        })
        .collect();
    Preview {
        strategy: Strategy::RollingSync,
        unassigned,
        invalid_rollout_config: issues.condition_message(),
        problems: problems(&issues, &previews),
        notes,
        steps: previews,
        error: None,
    }
}

/// A matchExpression as text: `env In (dev, staging)`; an unsupported operator without values
/// as `env Exists`.
pub fn expression_text(e: &ApplicationMatchExpression) -> String {
    if e.values.is_empty() && e.operator != "In" && e.operator != "NotIn" {
        return format!("{} {}", e.key, e.operator);
    }
    format!("{} {} ({})", e.key, e.operator, e.values.join(", "))
}

/// Each recorded problem as a sentence, in Argo CD's priority order.
fn problems(issues: &ValidationIssues, steps: &[StepPreview]) -> Vec<String> {
    let mut out = Vec::new();
    for (step, operator) in &issues.invalid_operators {
        out.push(format!(
            "step {}: matchExpression operator {operator:?} is neither In nor NotIn, so the expression \
             selects no Application that has its label",
            step + 1
        ));
    }
    for (app, steps) in &issues.duplicate_selections {
        let list: Vec<String> = steps.iter().map(|s| (s + 1).to_string()).collect();
        out.push(format!(
            "Application {app:?} is selected by steps {}: it is in step {}",
            list.join(", "),
            steps.first().map_or(0, |s| s + 1)
        ));
    }
    for (step, value) in &issues.invalid_max_updates {
        let error = match steps.get(*step).map(|s| &s.limit) {
            Some(Limit::Invalid { error, .. }) => format!(" ({error})"),
            _ => String::new(),
        };
        out.push(format!(
            "step {}: maxUpdate {value:?} is neither an integer nor a percentage{error}: Argo CD syncs \
             1 at a time",
            step + 1
        ));
    }
    for step in &issues.empty_steps {
        out.push(format!("step {} selects no Application", step + 1));
    }
    out
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl Limit {
    /// The limit as a person reads it: `2 at a time`, `all at once`, `blocked`.
    fn text(&self) -> String {
        match self {
            Limit::Unlimited => "all at once".to_string(),
            Limit::AtMost { count } => format!("{count} at a time"),
            Limit::Blocked => "blocked, none is synced".to_string(),
            Limit::Invalid { error, count } => format!("invalid ({error}): {count} at a time"),
        }
    }
}

impl StepPreview {
    /// `env In (dev); maxUpdate 50% of 4: 2 at a time`.
    fn heading(&self) -> String {
        let selector = if self.match_expressions.is_empty() {
            "every Application".to_string()
        } else {
            self.match_expressions.join(", ")
        };
        let max = match (&self.max_update, self.scaled_against) {
            (None, _) => "no maxUpdate".to_string(),
            (Some(m), Some(of)) => format!("maxUpdate {m} of {of}"),
            (Some(m), None) => format!("maxUpdate {m}"),
        };
        format!("{selector}; {max}: {}", self.limit.text())
    }
}

impl Preview {
    /// The preview as `appset render -o steps` prints it for the ApplicationSet `name`: a header,
    /// each step with its batches, the Applications in no step, then the problems and notes.
    pub fn text(&self, name: &str) -> String {
        let apps = self.steps.iter().map(|s| s.applications.len()).sum::<usize>() + self.unassigned.len();
        let mut out = String::new();
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        if let Some(error) = &self.error {
            line(format!("ApplicationSet {name}: RollingSync: {error}"));
            return out;
        }
        match self.strategy {
            Strategy::AllAtOnce => {
                line(format!(
                    "ApplicationSet {name}: AllAtOnce, {}: all at once, each synced by its own syncPolicy",
                    plural(apps, "Application", "Applications")
                ));
                for app in self.steps.iter().flat_map(|s| &s.applications) {
                    line(format!("  {app}"));
                }
            }
            Strategy::RollingSync => {
                line(format!(
                    "ApplicationSet {name}: RollingSync, {}, {}",
                    plural(self.steps.len(), "step", "steps"),
                    plural(apps, "Application", "Applications")
                ));
                for step in &self.steps {
                    line(format!("step {}: {}", step.step, step.heading()));
                    for (i, batch) in step.batches.iter().enumerate() {
                        line(format!("  batch {}: {}", i + 1, batch.join(", ")));
                    }
                    if step.applications.is_empty() {
                        line("  no Application".to_string());
                    } else if step.limit == Limit::Blocked {
                        line(format!("  never synced: {}", step.applications.join(", ")));
                    }
                    if !step.also_selected.is_empty() {
                        line(format!(
                            "  also selects, in an earlier step: {}",
                            step.also_selected.join(", ")
                        ));
                    }
                }
                if !self.unassigned.is_empty() {
                    line(format!(
                        "in no step, never synced by the controller: {}",
                        self.unassigned.join(", ")
                    ));
                }
            }
        }
        if let Some(message) = &self.invalid_rollout_config {
            line(format!("InvalidRolloutConfig: {message}"));
            for p in &self.problems {
                line(format!("  - {p}"));
            }
        }
        for n in &self.notes {
            line(format!("note: {n}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    use super::*;
    use crate::crd::ApplicationSetRolloutStrategy;

    fn expr(key: &str, operator: &str, values: &[&str]) -> ApplicationMatchExpression {
        ApplicationMatchExpression {
            key: key.into(),
            operator: operator.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    fn step(exprs: Vec<ApplicationMatchExpression>, max: Option<IntOrString>) -> ApplicationSetRolloutStep {
        ApplicationSetRolloutStep {
            match_expressions: exprs,
            max_update: max,
        }
    }

    fn env_step(env: &str, max: Option<IntOrString>) -> ApplicationSetRolloutStep {
        step(vec![expr("env", "In", &[env])], max)
    }

    fn rolling(steps: Vec<ApplicationSetRolloutStep>) -> ApplicationSetStrategy {
        ApplicationSetStrategy {
            type_: Some("RollingSync".into()),
            rolling_sync: Some(ApplicationSetRolloutStrategy { steps }),
            deletion_order: None,
        }
    }

    fn int(i: i32) -> Option<IntOrString> {
        Some(IntOrString::Int(i))
    }

    fn text(s: &str) -> Option<IntOrString> {
        Some(IntOrString::String(s.into()))
    }

    /// (name, {env: env}) for each pair, in the order given.
    fn apps(pairs: &[(&str, &str)]) -> Vec<(String, BTreeMap<String, String>)> {
        pairs
            .iter()
            .map(|(n, env)| {
                (
                    n.to_string(),
                    BTreeMap::from([("env".to_string(), env.to_string())]),
                )
            })
            .collect()
    }

    /// Nine Applications, three per env, generated out of name order.
    fn nine() -> Vec<(String, BTreeMap<String, String>)> {
        apps(&[
            ("prod-c", "prod"),
            ("dev-b", "dev"),
            ("staging-a", "staging"),
            ("dev-a", "dev"),
            ("prod-a", "prod"),
            ("staging-c", "staging"),
            ("dev-c", "dev"),
            ("prod-b", "prod"),
            ("staging-b", "staging"),
        ])
    }

    fn batches(p: &Preview, step: usize) -> Vec<Vec<&str>> {
        p.steps[step]
            .batches
            .iter()
            .map(|b| b.iter().map(String::as_str).collect())
            .collect()
    }

    #[test]
    fn three_steps_over_nine_applications_batch_by_max_update() {
        let s = rolling(vec![
            env_step("dev", int(1)),
            env_step("staging", text("50%")),
            env_step("prod", text("100%")),
        ]);
        let p = preview(Some(&s), &nine());
        assert_eq!(p.strategy, Strategy::RollingSync);
        assert_eq!(p.error, None);
        assert_eq!(p.steps.len(), 3);
        assert_eq!(p.steps[0].match_expressions, ["env In (dev)"]);
        assert_eq!(p.steps[0].applications, ["dev-a", "dev-b", "dev-c"]);
        assert_eq!(p.steps[0].max_update.as_deref(), Some("1"));
        assert_eq!(p.steps[0].scaled_against, None);
        assert_eq!(p.steps[0].limit, Limit::AtMost { count: 1 });
        assert_eq!(batches(&p, 0), [vec!["dev-a"], vec!["dev-b"], vec!["dev-c"]]);
        // 50% of 3 rounds down to 1.
        assert_eq!(p.steps[1].max_update.as_deref(), Some("50%"));
        assert_eq!(p.steps[1].scaled_against, Some(3));
        assert_eq!(p.steps[1].limit, Limit::AtMost { count: 1 });
        assert_eq!(
            batches(&p, 1),
            [vec!["staging-a"], vec!["staging-b"], vec!["staging-c"]]
        );
        assert_eq!(p.steps[2].limit, Limit::AtMost { count: 3 });
        assert_eq!(batches(&p, 2), [vec!["prod-a", "prod-b", "prod-c"]]);
        assert!(p.unassigned.is_empty());
        assert_eq!(p.invalid_rollout_config, None);
        assert!(p.problems.is_empty() && p.notes.is_empty());
        // The JSON the service answers with.
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["strategy"], "RollingSync");
        assert_eq!(
            json["steps"][1]["limit"],
            serde_json::json!({"kind": "atMost", "count": 1})
        );
        assert_eq!(json["steps"][1]["maxUpdate"], "50%");
        assert_eq!(json["steps"][1]["scaledAgainst"], 3);
        assert_eq!(json["steps"][2]["batches"][0][2], "prod-c");
        assert!(json.get("invalidRolloutConfig").is_none() && json.get("error").is_none());
        assert_eq!(
            p.text("envs"),
            "ApplicationSet envs: RollingSync, 3 steps, 9 Applications\n\
             step 1: env In (dev); maxUpdate 1: 1 at a time\n  \
             batch 1: dev-a\n  batch 2: dev-b\n  batch 3: dev-c\n\
             step 2: env In (staging); maxUpdate 50% of 3: 1 at a time\n  \
             batch 1: staging-a\n  batch 2: staging-b\n  batch 3: staging-c\n\
             step 3: env In (prod); maxUpdate 100% of 3: 3 at a time\n  \
             batch 1: prod-a, prod-b, prod-c\n"
        );
    }

    #[test]
    fn a_percentage_allows_at_least_one_and_batches_round_down() {
        let many = apps(&[("a", "x"), ("b", "x"), ("c", "x"), ("d", "x"), ("e", "x")]);
        let p = preview(Some(&rolling(vec![env_step("x", text("50%"))])), &many);
        // 50% of 5 = 2.5, rounded down.
        assert_eq!(p.steps[0].limit, Limit::AtMost { count: 2 });
        assert_eq!(batches(&p, 0), [vec!["a", "b"], vec!["c", "d"], vec!["e"]]);
        let p = preview(Some(&rolling(vec![env_step("x", text("1%"))])), &many);
        assert_eq!(p.steps[0].limit, Limit::AtMost { count: 1 });
        // No maxUpdate: the whole step at once.
        let p = preview(Some(&rolling(vec![env_step("x", None)])), &many);
        assert_eq!(p.steps[0].limit, Limit::Unlimited);
        assert_eq!(batches(&p, 0), [vec!["a", "b", "c", "d", "e"]]);
        assert_eq!(p.steps[0].heading(), "env In (x); no maxUpdate: all at once");
    }

    #[test]
    fn max_update_zero_blocks_the_step() {
        for zero in [int(0), text("0%"), int(-1)] {
            let s = rolling(vec![
                env_step("dev", None),
                env_step("staging", zero.clone()),
                env_step("prod", None),
            ]);
            let p = preview(Some(&s), &nine());
            assert_eq!(p.steps[1].limit, Limit::Blocked, "{zero:?}");
            assert!(p.steps[1].batches.is_empty());
            assert_eq!(p.steps[1].applications.len(), 3);
            // Not a configuration problem to Argo CD, but said.
            assert_eq!(p.invalid_rollout_config, None);
            assert_eq!(p.notes.len(), 1);
            assert!(
                p.notes[0].starts_with("step 2 is blocked (maxUpdate "),
                "{}",
                p.notes[0]
            );
            assert!(p.notes[0].contains("later steps start only if"));
        }
        let s = rolling(vec![env_step("dev", int(0))]);
        let text = preview(Some(&s), &apps(&[("a", "dev")])).text("s");
        assert_eq!(
            text,
            "ApplicationSet s: RollingSync, 1 step, 1 Application\n\
             step 1: env In (dev); maxUpdate 0: blocked, none is synced\n  \
             never synced: a\n\
             note: step 1 is blocked (maxUpdate 0): none of its Applications is synced, so they change \
             only if synced by hand\n"
        );
    }

    #[test]
    fn an_invalid_max_update_is_recorded_once_per_step_and_allows_one() {
        let s = rolling(vec![
            env_step("dev", text("abc")),
            env_step("staging", text("2")),
            env_step("prod", None),
        ]);
        let p = preview(Some(&s), &nine());
        assert_eq!(
            p.steps[0].limit,
            Limit::Invalid {
                error: "invalid value for IntOrString: invalid type: string is not a percentage".into(),
                count: 1
            }
        );
        assert_eq!(p.steps[0].scaled_against, None);
        assert_eq!(batches(&p, 0), [vec!["dev-a"], vec!["dev-b"], vec!["dev-c"]]);
        assert_eq!(
            p.invalid_rollout_config.as_deref(),
            Some("Steps 1, 2 have invalid maxUpdate values: [abc, 2]")
        );
        assert_eq!(
            p.problems,
            [
                "step 1: maxUpdate \"abc\" is neither an integer nor a percentage (invalid value for \
                 IntOrString: invalid type: string is not a percentage): Argo CD syncs 1 at a time",
                "step 2: maxUpdate \"2\" is neither an integer nor a percentage (invalid value for \
                 IntOrString: invalid type: string is not a percentage): Argo CD syncs 1 at a time",
            ]
        );
        assert!(p.steps[0].heading().ends_with("maxUpdate abc: invalid (invalid value for IntOrString: invalid type: string is not a percentage): 1 at a time"));
        // Recorded in the order Argo CD walks the statuses (by name), not by step: here step 2's
        // Applications sort first.
        let s = rolling(vec![env_step("dev", text("x")), env_step("staging", text("y%"))]);
        let p = preview(Some(&s), &apps(&[("b-dev", "dev"), ("a-staging", "staging")]));
        assert_eq!(
            p.invalid_rollout_config.as_deref(),
            Some("Steps 2, 1 have invalid maxUpdate values: [y%, x]")
        );
        // A step no Application is counted in is never scaled, so never recorded.
        let s = rolling(vec![env_step("dev", None), env_step("qa", text("x"))]);
        let p = preview(Some(&s), &apps(&[("a", "dev")]));
        assert_eq!(
            p.invalid_rollout_config.as_deref(),
            Some("Steps [2] have no applications matching their criteria")
        );
        assert_eq!(p.problems, ["step 2 selects no Application"]);
    }

    #[test]
    fn an_invalid_operator_gives_argo_cds_message() {
        let s = rolling(vec![
            step(vec![expr("env", "Exists", &[])], None),
            env_step("dev", None),
        ]);
        let p = preview(Some(&s), &apps(&[("a", "dev"), ("b", "dev")]));
        assert_eq!(
            p.invalid_rollout_config.as_deref(),
            Some(
                "Step 1 has invalid matchExpression operators: Exists. Supported Operators are 'In' and \
                 'NotIn'"
            )
        );
        // The invalid step selects nothing; the Applications go to step 2.
        assert_eq!(
            p.problems[0],
            "step 1: matchExpression operator \"Exists\" is neither In nor NotIn, so the expression selects no Application that has its label"
        );
        assert_eq!(p.problems[1], "step 1 selects no Application");
        assert!(p.steps[0].applications.is_empty());
        assert_eq!(p.steps[1].applications, ["a", "b"]);
        assert_eq!(p.steps[0].match_expressions, ["env Exists"]);
    }

    #[test]
    fn an_empty_step_is_a_problem_but_does_not_stop_the_rollout() {
        let s = rolling(vec![
            env_step("dev", None),
            env_step("qa", int(1)),
            env_step("prod", None),
        ]);
        let p = preview(Some(&s), &apps(&[("d", "dev"), ("p", "prod")]));
        assert_eq!(
            p.invalid_rollout_config.as_deref(),
            Some("Steps [2] have no applications matching their criteria")
        );
        assert!(p.steps[1].applications.is_empty() && p.steps[1].batches.is_empty());
        assert_eq!(batches(&p, 2), [vec!["p"]]);
        let text = p.text("s");
        assert!(
            text.contains("step 2: env In (qa); maxUpdate 1: 1 at a time\n  no Application\n"),
            "{text}"
        );
        assert!(text.ends_with(
            "InvalidRolloutConfig: Steps [2] have no applications matching their criteria\n  - step 2 \
             selects no Application\n"
        ));
    }

    #[test]
    fn an_application_selected_by_two_steps_stays_in_the_first() {
        let s = rolling(vec![
            env_step("dev", None),
            step(vec![expr("env", "NotIn", &["prod"])], None),
            env_step("prod", None),
        ]);
        let p = preview(
            Some(&s),
            &apps(&[("a-dev", "dev"), ("b-staging", "staging"), ("c-prod", "prod")]),
        );
        assert_eq!(p.steps[0].applications, ["a-dev"]);
        assert_eq!(p.steps[1].applications, ["b-staging"]);
        assert_eq!(p.steps[1].also_selected, ["a-dev"]);
        assert_eq!(
            p.invalid_rollout_config.as_deref(),
            Some("Application 'a-dev' is selected by multiple steps: (1-2)")
        );
        assert_eq!(
            p.problems,
            ["Application \"a-dev\" is selected by steps 1, 2: it is in step 1"]
        );
        assert!(
            p.text("s")
                .contains("  batch 1: b-staging\n  also selects, in an earlier step: a-dev\n")
        );
    }

    #[test]
    fn applications_in_no_step_are_never_synced_and_do_not_count_in_step_one_percentages() {
        let s = rolling(vec![env_step("dev", text("50%")), env_step("prod", text("50%"))]);
        let p = preview(
            Some(&s),
            &apps(&[
                ("dev-a", "dev"),
                ("dev-b", "dev"),
                ("dev-c", "dev"),
                ("sandbox", "sandbox"),
                ("prod-a", "prod"),
            ]),
        );
        assert_eq!(p.unassigned, ["sandbox"]);
        // 50% of 3 = 1 (Argo CD: 50% of 3 + 1 = 2); step 2 counts only its own.
        assert_eq!(p.steps[0].scaled_against, Some(3));
        assert_eq!(p.steps[0].limit, Limit::AtMost { count: 1 });
        assert_eq!(p.steps[1].scaled_against, Some(1));
        assert_eq!(p.steps[1].limit, Limit::AtMost { count: 1 });
        assert_eq!(p.invalid_rollout_config, None);
        assert_eq!(
            p.notes,
            [
                "step 1's maxUpdate 50% is scaled against its 3 Applications: 1 at a time; Argo CD also \
                 counts the 1 in no step and allows 2"
            ]
        );
        assert!(
            p.text("s")
                .contains("\nin no step, never synced by the controller: sandbox\n")
        );
        // A label the Application lacks fails `In`, passes `NotIn`.
        let unlabelled = vec![("bare".to_string(), BTreeMap::new())];
        let p = preview(Some(&rolling(vec![env_step("dev", None)])), &unlabelled);
        assert_eq!(p.unassigned, ["bare"]);
        let p = preview(
            Some(&rolling(vec![step(vec![expr("env", "NotIn", &["dev"])], None)])),
            &unlabelled,
        );
        assert_eq!(p.steps[0].applications, ["bare"]);
    }

    #[test]
    fn rolling_sync_without_steps_is_argo_cds_error() {
        let p = preview(Some(&rolling(Vec::new())), &nine());
        assert_eq!(p.error.as_deref(), Some("No steps defined for rollout"));
        assert!(p.steps.is_empty());
        assert_eq!(
            p.text("s"),
            "ApplicationSet s: RollingSync: No steps defined for rollout\n"
        );
    }

    #[test]
    fn without_rolling_sync_every_application_syncs_at_once() {
        let two = apps(&[("b", "dev"), ("a", "prod")]);
        for strategy in [
            None,
            Some(ApplicationSetStrategy {
                type_: Some("AllAtOnce".into()),
                rolling_sync: None,
                deletion_order: None,
            }),
        ] {
            let p = preview(strategy.as_ref(), &two);
            assert_eq!(p.strategy, Strategy::AllAtOnce);
            assert_eq!(p.steps.len(), 1);
            assert_eq!(p.steps[0].limit, Limit::Unlimited);
            assert_eq!(batches(&p, 0), [vec!["a", "b"]]);
            assert!(p.notes.is_empty() && p.problems.is_empty());
            assert_eq!(
                p.text("s"),
                "ApplicationSet s: AllAtOnce, 2 Applications: all at once, each synced by its own \
                 syncPolicy\n  a\n  b\n"
            );
        }
        // What Argo CD ignores is said.
        let mut s = rolling(vec![env_step("dev", None)]);
        s.type_ = Some("rollingSync".into());
        let p = preview(Some(&s), &two);
        assert_eq!(p.strategy, Strategy::AllAtOnce);
        assert_eq!(
            p.notes,
            [
                "strategy.type \"rollingSync\" is neither AllAtOnce nor RollingSync: Argo CD syncs every \
              Application at once"
            ]
        );
        s.rolling_sync = None;
        s.type_ = Some("RollingSync".into());
        assert!(preview(Some(&s), &two).notes[0].contains("strategy.rollingSync is not set"));
        let p = preview(None, &[]);
        assert!(p.steps[0].batches.is_empty());
    }

    #[test]
    fn labels_come_from_the_rendered_applications() {
        let apps = [
            serde_json::json!({"metadata": {"name": "a", "labels": {"env": "dev", "n": 1, "o": {}}}}),
            serde_json::json!({"metadata": {"name": "b"}}),
            serde_json::json!({}),
        ];
        let l = labelled(&apps);
        assert_eq!(l[0].0, "a");
        assert_eq!(
            l[0].1,
            BTreeMap::from([("env".into(), "dev".into()), ("n".into(), "1".into())])
        );
        assert_eq!(l[1], ("b".to_string(), BTreeMap::new()));
        assert_eq!(l[2].0, "");
    }
}
