//! Progressive sync (`strategy.type: RollingSync`), Argo CD's rules: which step each generated
//! Application belongs to, how many of a step may update at once (`maxUpdate`), and the
//! rollout configuration's problems with Argo CD's `InvalidRolloutConfig` messages.
//!
//! Stage: plan. Pure (no I/O): a port of Argo CD's `applicationset/progressivesync`
//! (`buildAppDependencyList`, `labelMatchedExpression`, the maxUpdate scaling of
//! `UpdateApplicationSetApplicationStatusProgress`, `validation_issues.go`), including its
//! quirks: an Application matching several steps stays in the first, an invalid operator is
//! recorded once per step and operator.

pub mod preview;
pub mod status;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::crd::{ApplicationMatchExpression, ApplicationSetRolloutStep, ApplicationSetStrategy};

/// Whether a set's strategy is a rolling sync (`IsRollingSyncStrategy`: `type: RollingSync` with
/// a `rollingSync` block, steps or not).
pub fn is_rolling_sync(strategy: Option<&ApplicationSetStrategy>) -> bool {
    strategy.is_some_and(|s| s.type_.as_deref() == Some("RollingSync") && s.rolling_sync.is_some())
}

/// Whether a set's strategy is a rolling sync with steps configured (`RollingSyncStrategyEnabled`).
pub fn rolling_sync_enabled(strategy: Option<&ApplicationSetStrategy>) -> bool {
    is_rolling_sync(strategy)
        && strategy
            .and_then(|s| s.rolling_sync.as_ref())
            .is_some_and(|r| !r.steps.is_empty())
}

/// Whether a set deletes its Applications in reverse step order (`IsDeletionOrderReversed`: a
/// rolling sync with steps and `deletionOrder` `Reverse`, any case).
pub fn deletion_order_reversed(strategy: Option<&ApplicationSetStrategy>) -> bool {
    rolling_sync_enabled(strategy)
        && strategy
            .and_then(|s| s.deletion_order.as_deref())
            .is_some_and(|o| o.eq_ignore_ascii_case("Reverse"))
}

/// The problems of a rollout configuration, as Argo CD collects them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationIssues {
    /// (step, operator) of each matchExpression operator other than `In` and `NotIn`, 0-based.
    pub invalid_operators: Vec<(usize, String)>,
    /// Application → the steps (0-based) that select it, when more than one does.
    pub duplicate_selections: BTreeMap<String, Vec<usize>>,
    /// Steps (0-based) that select no Application.
    pub empty_steps: Vec<usize>,
    /// (step, maxUpdate as written) of each maxUpdate that is neither an integer nor a percentage.
    pub invalid_max_updates: Vec<(usize, String)>,
}

impl ValidationIssues {
    /// Whether there is any problem.
    pub fn has_issues(&self) -> bool {
        !(self.invalid_operators.is_empty()
            && self.duplicate_selections.is_empty()
            && self.empty_steps.is_empty()
            && self.invalid_max_updates.is_empty())
    }

    /// The `InvalidRolloutConfig` condition's message: the problem of highest priority (invalid
    /// operator, then duplicate selection, then invalid maxUpdate, then empty steps), in Argo
    /// CD's words; `None` when there is none.
    pub fn condition_message(&self) -> Option<String> {
        if !self.invalid_operators.is_empty() {
            let (steps, ops) = one_based(&self.invalid_operators);
            let (noun, verb) = if steps.len() == 1 {
                ("Step", "has")
            } else {
                ("Steps", "have")
            };
            return Some(format!(
                "{noun} {} {verb} invalid matchExpression operators: {}. Supported Operators are 'In' and 'NotIn'",
                steps.join(", "),
                ops.join(", ")
            ));
        }
        if !self.duplicate_selections.is_empty() {
            let names: Vec<&str> = self.duplicate_selections.keys().map(String::as_str).collect();
            let steps: Vec<String> = self
                .duplicate_selections
                .values()
                .map(|s| {
                    s.iter()
                        .map(|i| (i + 1).to_string())
                        .collect::<Vec<_>>()
                        .join("-")
                })
                .collect();
            return Some(if names.len() == 1 {
                format!(
                    "Application '{}' is selected by multiple steps: ({})",
                    names[0],
                    steps.join(", ")
                )
            } else {
                format!(
                    "Applications '{}' are selected by multiple steps: [({})]",
                    names.join("', '"),
                    steps.join("), (")
                )
            });
        }
        if !self.invalid_max_updates.is_empty() {
            let (steps, values) = one_based(&self.invalid_max_updates);
            return Some(if steps.len() == 1 {
                format!("Step {} has an invalid maxUpdate value: {}", steps[0], values[0])
            } else {
                format!(
                    "Steps {} have invalid maxUpdate values: [{}]",
                    steps.join(", "),
                    values.join(", ")
                )
            });
        }
        if !self.empty_steps.is_empty() {
            // Go's %v of a []string: `[2 3]`.
            let steps: Vec<String> = self.empty_steps.iter().map(|s| (s + 1).to_string()).collect();
            return Some(format!(
                "Steps [{}] have no applications matching their criteria",
                steps.join(" ")
            ));
        }
        None
    }
}

/// The 1-based step numbers and the texts of (0-based step, text) problems.
fn one_based(problems: &[(usize, String)]) -> (Vec<String>, Vec<&str>) {
    problems
        .iter()
        .map(|(step, text)| ((step + 1).to_string(), text.as_str()))
        .unzip()
}

/// The Applications of each step and the step of each Application.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Steps {
    /// The names of the Applications each step selects, in step order (an Application
    /// selected by several steps is listed in each, as Argo CD lists it).
    pub apps: Vec<Vec<String>>,
    /// Each selected Application's step (0-based): the first that selects it.
    pub step_of: BTreeMap<String, usize>,
    /// The configuration's problems found while assigning.
    pub issues: ValidationIssues,
}

impl Steps {
    /// The step as Argo CD writes it in `status.applicationStatus[].step`: 1-based, `-1` for an
    /// Application no step selects (which the controller never syncs).
    pub fn status_step(&self, app: &str) -> i64 {
        self.step_of.get(app).map_or(-1, |s| *s as i64 + 1)
    }
}

/// Assign generated Applications (name, labels) to the steps (`buildAppDependencyList`).
pub fn assign<'a>(
    steps: &[ApplicationSetRolloutStep],
    apps: impl IntoIterator<Item = (&'a str, &'a BTreeMap<String, String>)>,
) -> Steps {
    let mut out = Steps {
        apps: vec![Vec::new(); steps.len()],
        ..Steps::default()
    };
    for (name, labels) in apps {
        for (i, step) in steps.iter().enumerate() {
            if !selects(i, &step.match_expressions, labels, &mut out.issues) {
                continue;
            }
            out.apps[i].push(name.to_string());
            match out.step_of.get(name) {
                Some(&first) => out
                    .issues
                    .duplicate_selections
                    .entry(name.to_string())
                    .or_insert_with(|| vec![first])
                    .push(i),
                None => {
                    out.step_of.insert(name.to_string(), i);
                }
            }
        }
    }
    out.issues.empty_steps = (0..steps.len()).filter(|i| out.apps[*i].is_empty()).collect();
    out
}

/// Whether step `step`'s expressions select an Application with `labels`, recording an invalid
/// operator once per step and operator. As in Argo CD, an expression on a label the Application
/// does not have fails only for `In` (so an invalid operator on an absent label selects).
fn selects(
    step: usize,
    expressions: &[ApplicationMatchExpression],
    labels: &BTreeMap<String, String>,
    issues: &mut ValidationIssues,
) -> bool {
    for e in expressions {
        match labels.get(&e.key) {
            Some(value) => {
                let valid = e.operator == "In" || e.operator == "NotIn";
                if !valid {
                    let seen = issues
                        .invalid_operators
                        .iter()
                        .any(|(s, o)| *s == step && *o == e.operator);
                    if !seen {
                        issues.invalid_operators.push((step, e.operator.clone()));
                    }
                    return false;
                }
                let listed = e.values.contains(value);
                if listed != (e.operator == "In") {
                    return false;
                }
            }
            None if e.operator == "In" => return false,
            None => {}
        }
    }
    true
}

/// A step's maxUpdate as a count for a step of `total` Applications
/// (`intstr.GetScaledValueFromIntOrPercent`, rounded down; any percentage but `"0%"` allows at
/// least one). An error is the Kubernetes library's message; Argo CD then ignores maxUpdate for
/// the step and records it as an invalid maxUpdate.
pub fn max_update(max: &IntOrString, total: usize) -> Result<usize, String> {
    match max {
        IntOrString::Int(i) => Ok((*i).max(0) as usize),
        IntOrString::String(s) => {
            let Some(number) = s.strip_suffix('%') else {
                return Err("invalid value for IntOrString: invalid type: string is not a percentage".into());
            };
            let percent: i64 = number.parse().map_err(|_| {
                format!(
                    "invalid value for IntOrString: invalid value {s:?}: strconv.Atoi: parsing {number:?}: invalid syntax"
                )
            })?;
            let scaled = ((percent as f64) * (total as f64) / 100.0).floor().max(0.0) as usize;
            Ok(if s != "0%" { scaled.max(1) } else { scaled })
        }
    }
}

/// How many Applications of a step an invalid `maxUpdate` lets sync at a time (Argo CD's
/// fallback when `GetScaledValueFromIntOrPercent` fails).
pub const INVALID_MAX_UPDATE_LIMIT: usize = 1;

impl ValidationIssues {
    /// Step `step`'s `max` scaled against `total` Applications; an invalid value is recorded once
    /// per step (Argo CD scales it for every status of the step, and reports it once) and its
    /// error returned: the caller then allows [`INVALID_MAX_UPDATE_LIMIT`].
    ///
    /// # Errors
    /// [`max_update`]'s message for a value that is neither an integer nor a percentage.
    pub fn scale_max_update(
        &mut self,
        step: usize,
        max: &IntOrString,
        total: usize,
    ) -> Result<usize, String> {
        max_update(max, total).inspect_err(|_| {
            if !self.invalid_max_updates.iter().any(|(s, _)| *s == step) {
                self.invalid_max_updates.push((step, max_update_text(max)));
            }
        })
    }
}

/// A maxUpdate as Argo CD prints it in messages (`IntOrString.String()`).
pub fn max_update_text(max: &IntOrString) -> String {
    match max {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(exprs: &[(&str, &str, &[&str])]) -> ApplicationSetRolloutStep {
        ApplicationSetRolloutStep {
            match_expressions: exprs
                .iter()
                .map(|(k, o, v)| ApplicationMatchExpression {
                    key: k.to_string(),
                    operator: o.to_string(),
                    values: v.iter().map(|s| s.to_string()).collect(),
                })
                .collect(),
            max_update: None,
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Three env steps over dev/staging/prod Applications; one Application in no step.
    #[test]
    fn applications_go_to_the_first_step_that_selects_them() {
        let steps = [
            step(&[("env", "In", &["dev"])]),
            step(&[("env", "In", &["staging"])]),
            step(&[("env", "NotIn", &["dev", "staging"]), ("region", "In", &["eu"])]),
        ];
        let (dev, stg, prod, other) = (
            labels(&[("env", "dev")]),
            labels(&[("env", "staging")]),
            labels(&[("env", "prod"), ("region", "eu")]),
            labels(&[("env", "prod"), ("region", "us")]),
        );
        let s = assign(
            &steps,
            [
                ("a-dev", &dev),
                ("a-stg", &stg),
                ("a-prod", &prod),
                ("a-us", &other),
            ],
        );
        assert_eq!(s.apps, vec![vec!["a-dev"], vec!["a-stg"], vec!["a-prod"]]);
        assert_eq!(
            ["a-dev", "a-stg", "a-prod", "a-us"].map(|a| s.status_step(a)),
            [1, 2, 3, -1]
        );
        assert!(!s.issues.has_issues());
        assert_eq!(s.issues.condition_message(), None);
    }

    /// Argo CD's InvalidRolloutConfig messages, highest priority first.
    #[test]
    fn configuration_problems_have_argo_cd_s_messages() {
        let l = labels(&[("env", "dev")]);
        // An invalid operator, recorded once per step and operator.
        let s = assign(&[step(&[("env", "Foo", &["dev"])])], [("a", &l), ("b", &l)]);
        assert_eq!(
            s.issues.condition_message().unwrap(),
            "Step 1 has invalid matchExpression operators: Foo. Supported Operators are 'In' and 'NotIn'"
        );
        let s = assign(
            &[step(&[("env", "Foo", &[])]), step(&[("env", "Exists", &[])])],
            [("a", &l)],
        );
        assert_eq!(
            s.issues.condition_message().unwrap(),
            "Steps 1, 2 have invalid matchExpression operators: Foo, Exists. Supported Operators are 'In' and 'NotIn'"
        );
        // An Application selected by two steps stays in the first.
        let s = assign(
            &[
                step(&[("env", "In", &["dev"])]),
                step(&[("env", "NotIn", &["prod"])]),
            ],
            [("a", &l)],
        );
        assert_eq!(s.status_step("a"), 1);
        assert_eq!(
            s.issues.condition_message().unwrap(),
            "Application 'a' is selected by multiple steps: (1-2)"
        );
        let s = assign(
            &[step(&[("env", "In", &["dev"])]), step(&[]), step(&[])],
            [("a", &l), ("b", &l)],
        );
        assert_eq!(
            s.issues.condition_message().unwrap(),
            "Applications 'a', 'b' are selected by multiple steps: [(1-2-3), (1-2-3)]"
        );
        // Steps that select nothing.
        let s = assign(
            &[
                step(&[("env", "In", &["dev"])]),
                step(&[("env", "In", &["x"])]),
                step(&[("env", "In", &["y"])]),
            ],
            [("a", &l)],
        );
        assert_eq!(
            s.issues.condition_message().unwrap(),
            "Steps [2 3] have no applications matching their criteria"
        );
        // Invalid maxUpdates come before empty steps.
        let mut issues = s.issues.clone();
        issues.invalid_max_updates.push((0, "x".into()));
        assert_eq!(
            issues.condition_message().unwrap(),
            "Step 1 has an invalid maxUpdate value: x"
        );
        // Argo CD's own test vectors (validation_issues_test.go).
        let issues = ValidationIssues {
            invalid_max_updates: vec![(0, "Invalid".into()), (4, "Another".into())],
            empty_steps: vec![0, 4],
            ..ValidationIssues::default()
        };
        assert_eq!(
            issues.condition_message().unwrap(),
            "Steps 1, 5 have invalid maxUpdate values: [Invalid, Another]"
        );
        let issues = ValidationIssues {
            duplicate_selections: BTreeMap::from([("foo".into(), vec![0, 1]), ("bar".into(), vec![1, 2])]),
            ..issues
        };
        assert_eq!(
            issues.condition_message().unwrap(),
            "Applications 'bar', 'foo' are selected by multiple steps: [(2-3), (1-2)]"
        );
        let issues = ValidationIssues {
            empty_steps: vec![0, 4],
            ..ValidationIssues::default()
        };
        assert_eq!(
            issues.condition_message().unwrap(),
            "Steps [1 5] have no applications matching their criteria"
        );
    }

    /// maxUpdate as Argo CD scales it: percentages round down, but never below one unless 0%.
    #[test]
    fn max_update_rounds_down_but_a_percentage_allows_one() {
        let s = |v: &str| IntOrString::String(v.into());
        assert_eq!(max_update(&IntOrString::Int(2), 10), Ok(2));
        assert_eq!(max_update(&IntOrString::Int(0), 10), Ok(0));
        assert_eq!(max_update(&s("50%"), 3), Ok(1));
        assert_eq!(max_update(&s("50%"), 5), Ok(2));
        assert_eq!(max_update(&s("100%"), 3), Ok(3));
        assert_eq!(max_update(&s("10%"), 3), Ok(1));
        assert_eq!(max_update(&s("0%"), 3), Ok(0));
        assert_eq!(
            max_update(&s("2"), 3),
            Err("invalid value for IntOrString: invalid type: string is not a percentage".into())
        );
        assert!(max_update(&s("x%"), 3).is_err());
        assert_eq!(max_update_text(&s("25%")), "25%");
    }
}
