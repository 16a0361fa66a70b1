//! What a change to an ApplicationSet would do: which Applications would be created, updated
//! (with a field diff) and deleted. Stage: plan (pure; no I/O). Used by `appset render --diff`
//! and the templating service's `POST /v1/diff`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::pipeline::application_name;

/// The Applications a change creates, updates and deletes (each list sorted by name).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Diff {
    /// Applications generated after the change and not before.
    pub create: Vec<String>,
    /// Applications generated on both sides whose compared fields differ.
    pub update: Vec<Update>,
    /// Applications generated before the change (or live and owned by the set) and not after.
    pub delete: Vec<String>,
    /// Live Applications not generated after the change that the set does not own (no
    /// controller ownerReference to it): appset would leave them alone, so they are no delete.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unowned: Vec<String>,
    /// Applications the change leaves as they are.
    pub unchanged: usize,
}

impl Diff {
    /// Whether the change changes nothing.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }

    /// Add `other` (another ApplicationSet's diff) to this one; each list stays sorted by name.
    pub fn extend(&mut self, other: Diff) {
        self.create.extend(other.create);
        self.create.sort();
        self.update.extend(other.update);
        self.update.sort_by(|a, b| a.name.cmp(&b.name));
        self.delete.extend(other.delete);
        self.delete.sort();
        self.unchanged += other.unchanged;
    }
}

/// One updated Application.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Update {
    /// Its name.
    pub name: String,
    /// The fields that change, by JSON pointer.
    pub changes: Vec<Change>,
}

/// One changed field. Lists are compared whole (as server-side apply replaces them).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// JSON pointer of the field, e.g. `/spec/source/path`.
    pub path: String,
    /// The value before (absent: the field is added).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The value after (absent: the field is removed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// How the "before" side was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Before {
    /// Rendered from the ApplicationSet before the change: every difference counts.
    Rendered,
    /// Live Applications (from a cluster): they carry fields appset does not generate (status,
    /// defaults, other managers' labels), so only fields the generated Application sets are
    /// compared.
    Live,
}

/// The part of an Application that is compared: labels, annotations, finalizers and spec.
fn compared(app: &Value) -> Value {
    let mut out = Map::new();
    let mut meta = Map::new();
    for f in ["labels", "annotations", "finalizers"] {
        if let Some(v) = app.pointer(&format!("/metadata/{f}")).filter(|v| !v.is_null()) {
            meta.insert(f.into(), v.clone());
        }
    }
    out.insert("metadata".into(), Value::Object(meta));
    if let Some(spec) = app.get("spec") {
        out.insert("spec".into(), spec.clone());
    }
    Value::Object(out)
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Field differences from `before` to `after`. With `only_after`, fields present only in
/// `before` are not reported.
fn changes(
    path: &str,
    before: Option<&Value>,
    after: Option<&Value>,
    only_after: bool,
    out: &mut Vec<Change>,
) {
    match (before, after) {
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let keys: std::collections::BTreeSet<&String> = b.keys().chain(a.keys()).collect();
            for k in keys {
                let p = format!("{path}/{}", escape(k));
                changes(&p, b.get(k), a.get(k), only_after, out);
            }
        }
        (Some(_), None) if only_after => {}
        (b, a) if b == a => {}
        (b, a) => out.push(Change {
            path: path.to_string(),
            before: b.cloned(),
            after: a.cloned(),
        }),
    }
}

/// Whether a live Application has a controller ownerReference to the ApplicationSet `set_name`.
pub fn owned_by_set(app: &Value, set_name: &str) -> bool {
    app.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter().any(|r| {
                r.get("kind").and_then(Value::as_str) == Some("ApplicationSet")
                    && r.get("name").and_then(Value::as_str) == Some(set_name)
                    && r.get("controller").and_then(Value::as_bool) == Some(true)
            })
        })
}

/// The diff from live Applications to the Applications the set `set_name` generates: live ones
/// that are not generated count as deletes only when the set owns them ([`Diff::unowned`]).
pub fn diff_live(live: &[Value], after: &[Value], set_name: &str) -> Diff {
    let mut out = diff(live, after, Before::Live);
    let unowned: std::collections::BTreeSet<&str> = live
        .iter()
        .filter(|a| !owned_by_set(a, set_name))
        .map(application_name)
        .collect();
    let (unowned, delete): (Vec<String>, Vec<String>) =
        out.delete.drain(..).partition(|n| unowned.contains(n.as_str()));
    out.delete = delete;
    out.unowned = unowned;
    out
}

/// The diff from `before` (rendered before the change, or live) to `after` (rendered after it).
pub fn diff(before: &[Value], after: &[Value], kind: Before) -> Diff {
    let by_name = |apps: &[Value]| -> BTreeMap<String, Value> {
        apps.iter()
            .map(|a| (application_name(a).to_string(), compared(a)))
            .collect()
    };
    let (b, a) = (by_name(before), by_name(after));
    let mut out = Diff::default();
    for (name, after_app) in &a {
        match b.get(name) {
            None => out.create.push(name.clone()),
            Some(before_app) => {
                let mut c = Vec::new();
                changes(
                    "",
                    Some(before_app),
                    Some(after_app),
                    kind == Before::Live,
                    &mut c,
                );
                if c.is_empty() {
                    out.unchanged += 1;
                } else {
                    out.update.push(Update {
                        name: name.clone(),
                        changes: c,
                    });
                }
            }
        }
    }
    out.delete = b.keys().filter(|n| !a.contains_key(*n)).cloned().collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app(name: &str, path: &str, labels: Value) -> Value {
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd", "labels": labels},
            "spec": {"project": "default", "source": {"path": path, "repoURL": "https://x"}, "syncPolicy": {"syncOptions": ["A"]}}
        })
    }

    #[test]
    fn diffs_of_several_sets_add_up_sorted_by_name() {
        let mut d = diff(
            &[app("z", "p", json!({}))],
            &[app("b", "p", json!({}))],
            Before::Rendered,
        );
        d.extend(diff(
            &[app("y", "p", json!({})), app("k", "p", json!({}))],
            &[app("a", "p", json!({})), app("k", "p", json!({}))],
            Before::Rendered,
        ));
        assert_eq!(d.create, ["a", "b"]);
        assert_eq!(d.delete, ["y", "z"]);
        assert_eq!(d.unchanged, 1);
    }

    #[test]
    fn creates_updates_with_field_changes_and_deletes() {
        let before = vec![
            app("a", "p/a", json!({"team": "web"})),
            app("b", "p/b", json!({})),
            app("gone", "p/gone", json!({})),
        ];
        let mut b2 = app("b", "p/b", json!({"new": "x"}));
        b2["spec"]["syncPolicy"]["syncOptions"] = json!(["A", "B"]);
        let after = vec![
            app("a", "p/a", json!({"team": "web"})),
            b2,
            app("c", "p/c", json!({})),
        ];
        let d = diff(&before, &after, Before::Rendered);
        assert_eq!(d.create, ["c"]);
        assert_eq!(d.delete, ["gone"]);
        assert_eq!(d.unchanged, 1);
        assert_eq!(d.update.len(), 1);
        assert_eq!(d.update[0].name, "b");
        assert_eq!(
            d.update[0].changes,
            vec![
                Change {
                    path: "/metadata/labels/new".into(),
                    before: None,
                    after: Some(json!("x"))
                },
                Change {
                    path: "/spec/syncPolicy/syncOptions".into(),
                    before: Some(json!(["A"])),
                    after: Some(json!(["A", "B"]))
                },
            ]
        );
    }

    #[test]
    fn against_live_applications_only_generated_fields_count() {
        let mut live = app("a", "p/a", json!({"team": "web", "added-by-someone": "x"}));
        live["status"] = json!({"sync": {"status": "Synced"}});
        live["spec"]["source"]["targetRevision"] = json!("HEAD");
        let same = app("a", "p/a", json!({"team": "web"}));
        let d = diff(
            std::slice::from_ref(&live),
            std::slice::from_ref(&same),
            Before::Live,
        );
        assert!(d.is_empty() && d.unchanged == 1, "{d:?}");
        // Rendered on both sides, the same pair is an update that removes those fields.
        let d = diff(&[live], &[same], Before::Rendered);
        let paths: Vec<_> = d.update[0].changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            ["/metadata/labels/added-by-someone", "/spec/source/targetRevision"]
        );
    }

    #[test]
    fn pointer_tokens_are_escaped() {
        let before = vec![app("a", "p", json!({"app.kubernetes.io/name": "x"}))];
        let after = vec![app("a", "p", json!({"app.kubernetes.io/name": "y"}))];
        let d = diff(&before, &after, Before::Rendered);
        assert_eq!(
            d.update[0].changes[0].path,
            "/metadata/labels/app.kubernetes.io~1name"
        );
    }

    #[test]
    fn live_applications_the_set_does_not_own_are_no_deletes() {
        let mut owned = app("owned", "p", json!({}));
        owned["metadata"]["ownerReferences"] = json!([{"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "name": "set", "uid": "u", "controller": true}]);
        let mut other = app("other-sets", "p", json!({}));
        other["metadata"]["ownerReferences"] = json!([{"apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet", "name": "another", "uid": "v", "controller": true}]);
        let by_hand = app("by-hand", "p", json!({}));
        let d = diff_live(&[owned, other, by_hand], &[], "set");
        assert_eq!(d.delete, ["owned"]);
        assert_eq!(d.unowned, ["by-hand", "other-sets"]);
    }
}
