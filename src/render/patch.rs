//! Render stage: Kubernetes strategic merge patch, as Argo CD applies an ApplicationSet's `templatePatch`
//! to each rendered Application.
//!
//! Pure: transforms JSON values only, no I/O. It follows `k8s.io/apimachinery`'s `StrategicMergePatch`
//! with the patch metadata of Argo CD's `Application` type: only `metadata.finalizers` and
//! `metadata.ownerReferences` are merge lists, every other list is replaced wholesale.

use serde_json::{Map, Value};

/// The lists of an Application that carry `patchStrategy: merge`, as (JSON path, merge key).
///
/// A `None` merge key marks a list of primitives (merged as an ordered set); lists of objects are merged
/// element by element on the key's value. Every list not named here is replaced by the patch's list.
pub const MERGE_LISTS: &[(&[&str], Option<&str>)] = &[
    (&["metadata", "finalizers"], None),
    (&["metadata", "ownerReferences"], Some("uid")),
];

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";

/// Why a strategic merge patch could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The patch (or the target) is not a JSON object at the top level.
    #[error("the {0} is not a JSON object")]
    NotAnObject(&'static str),
    /// A `$patch` directive other than `replace` or `delete` (or `merge` in a list).
    #[error("unknown patch type {value} at {path}")]
    UnknownPatchType {
        /// The directive's value, as JSON.
        value: String,
        /// Dotted path of the object or list holding it.
        path: String,
    },
    /// A malformed `$retainKeys` or `$deleteFromPrimitiveList/...` directive.
    #[error("invalid {directive} directive at {path}: {reason}")]
    InvalidDirective {
        /// The directive's key.
        directive: String,
        /// Dotted path of the object holding it.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A merge list that cannot be merged (mixed element types, missing merge key, ...).
    #[error("cannot merge list {path}: {reason}")]
    InvalidList {
        /// Dotted path of the list.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Applies `patch` to `target` as a strategic merge patch for Argo CD's `Application` type.
///
/// Objects merge key by key and a `null` deletes a key; scalars and lists replace the target's value,
/// except the [`MERGE_LISTS`]. The directives `$patch` (`replace`, `delete`), `$retainKeys` and
/// `$deleteFromPrimitiveList/<field>` are honoured, `$setElementOrder/<field>` is ignored. On error the
/// target is left unchanged.
pub fn strategic_merge(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::NotAnObject("patch"));
    };
    let Value::Object(object) = target else {
        return Err(PatchError::NotAnObject("target"));
    };
    *object = merge_map(object.clone(), patch, &[])?;
    Ok(())
}

fn dotted(path: &[&str]) -> String {
    if path.is_empty() {
        "the top level".to_owned()
    } else {
        path.join(".")
    }
}

fn unknown_patch_type(value: &Value, path: &[&str]) -> PatchError {
    PatchError::UnknownPatchType {
        value: value.to_string(),
        path: dotted(path),
    }
}

/// The merge key of the merge list at `path`: `None` when the list is replaced wholesale, `Some(None)` for a
/// list of primitives.
fn merge_list_at(path: &[&str]) -> Option<Option<&'static str>> {
    MERGE_LISTS.iter().find(|(p, _)| *p == path).map(|&(_, key)| key)
}

/// Merges `patch` into `target` (Kubernetes' `mergeMap`). An absent or non-object target is `{}`.
fn merge_map(
    mut target: Map<String, Value>,
    patch: &Map<String, Value>,
    path: &[&str],
) -> Result<Map<String, Value>, PatchError> {
    if let Some(directive) = patch.get(PATCH) {
        return match directive.as_str() {
            Some("replace") => Ok(patch
                .iter()
                .filter(|(k, _)| *k != PATCH)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()),
            Some("delete") => Ok(Map::new()),
            _ => Err(unknown_patch_type(directive, path)),
        };
    }
    if let Some(retain) = patch.get(RETAIN_KEYS) {
        let invalid = |reason| PatchError::InvalidDirective {
            directive: RETAIN_KEYS.into(),
            path: dotted(path),
            reason,
        };
        let keep = retain
            .as_array()
            .ok_or_else(|| invalid("it must be a list of keys"))?;
        let kept = |k: &str| keep.iter().any(|v| v.as_str() == Some(k));
        let is_directive =
            |k: &str| k.starts_with(DELETE_FROM_PRIMITIVE_LIST) || k.starts_with(SET_ELEMENT_ORDER);
        if patch
            .iter()
            .any(|(k, v)| k != RETAIN_KEYS && !v.is_null() && !is_directive(k) && !kept(k))
        {
            return Err(invalid("every key set by the patch must be listed"));
        }
        target.retain(|k, _| kept(k));
    }
    let mut deletions = Vec::new();
    for (key, value) in patch {
        if key == RETAIN_KEYS || key.starts_with(SET_ELEMENT_ORDER) {
            continue;
        }
        if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            deletions.push((key, field, value));
            continue;
        }
        if value.is_null() {
            target.retain(|k, _| k != key);
            continue;
        }
        let child = [path, &[key.as_str()]].concat();
        let merged = merge_value(target.get_mut(key).map(Value::take), value, &child)?;
        target.insert(key.clone(), merged);
    }
    // Applied after the merges so the outcome does not depend on key order.
    for (key, field, value) in deletions {
        let remove = value.as_array().ok_or_else(|| PatchError::InvalidDirective {
            directive: key.clone(),
            path: dotted(path),
            reason: "it must be a list of values",
        })?;
        if let Some(Value::Array(items)) = target.get_mut(field) {
            items.retain(|item| !remove.contains(item));
        }
    }
    Ok(target)
}

/// Merges one patch value into the target's value at `path` (absent when `target` is `None`).
fn merge_value(target: Option<Value>, patch: &Value, path: &[&str]) -> Result<Value, PatchError> {
    Ok(match patch {
        Value::Object(p) => {
            let target = match target {
                Some(Value::Object(t)) => t,
                _ => Map::new(),
            };
            Value::Object(merge_map(target, p, path)?)
        }
        Value::Array(p) => match merge_list_at(path) {
            Some(key) => {
                let target = match target {
                    Some(Value::Array(t)) => t,
                    _ => Vec::new(),
                };
                Value::Array(merge_list(target, p, key, path)?)
            }
            None => patch.clone(),
        },
        _ => patch.clone(),
    })
}

/// Merges a merge list (Kubernetes' `mergeSlice`), including its element order: patch items keep the
/// patch's order, target-only items keep the target's, and the two are interleaved as Kubernetes does,
/// which puts new items before the target's unless a target-only item precedes a patched one.
fn merge_list(
    target: Vec<Value>,
    patch: &[Value],
    key: Option<&str>,
    path: &[&str],
) -> Result<Vec<Value>, PatchError> {
    let invalid = |reason: String| PatchError::InvalidList {
        path: dotted(path),
        reason,
    };
    let Some(first) = target.iter().chain(patch).next() else {
        return Ok(target);
    };
    if first.is_array() {
        return Err(invalid("lists of lists are not supported".into()));
    }
    let kind = std::mem::discriminant(first);
    if target
        .iter()
        .chain(patch)
        .any(|v| std::mem::discriminant(v) != kind)
    {
        return Err(invalid("list element types are not identical".into()));
    }
    let objects = first.is_object();
    let (server_order, patch_order, merged) = if objects {
        let key = key.ok_or_else(|| invalid("a list of objects needs a merge key".into()))?;
        let id = |v: &Value| v.get(key).cloned();
        let missing = || invalid(format!("an element has no merge key {key:?}"));
        let (mut original, mut items, mut replace) = (target, Vec::new(), false);
        for element in patch {
            match element.get(PATCH) {
                None => items.push(element),
                Some(d) if d == "delete" => {
                    let doomed = id(element).ok_or_else(missing)?;
                    original.retain(|o| o.get(key) != Some(&doomed));
                }
                Some(d) if d == "replace" => replace = true,
                Some(d) if d == "merge" => {
                    return Err(invalid(
                        "merging lists cannot yet be specified in the patch".into(),
                    ));
                }
                Some(d) => return Err(unknown_patch_type(d, path)),
            }
        }
        if replace {
            original = items.into_iter().cloned().collect();
            items = Vec::new();
        }
        let server_order = original
            .iter()
            .map(|o| id(o).ok_or_else(missing))
            .collect::<Result<Vec<_>, _>>()?;
        let patch_order = items
            .iter()
            .map(|p| id(p).ok_or_else(missing))
            .collect::<Result<Vec<_>, _>>()?;
        let mut merged = original;
        for (item, item_id) in items.into_iter().zip(&patch_order) {
            match merged.iter_mut().find(|o| o.get(key) == Some(item_id)) {
                Some(slot) => *slot = merge_value(Some(slot.take()), item, path)?,
                None => merged.push(item.clone()),
            }
        }
        let merged = merged
            .into_iter()
            .map(|m| (id(&m).unwrap_or_default(), m))
            .collect();
        (server_order, patch_order, merged)
    } else {
        let mut merged: Vec<(Value, Value)> = Vec::new();
        for v in target.iter().chain(patch) {
            if !merged.iter().any(|(id, _)| id == v) {
                merged.push((v.clone(), v.clone()));
            }
        }
        (target, patch.to_vec(), merged)
    };
    Ok(order_like_kubernetes(merged, &server_order, &patch_order))
}

/// Kubernetes' `normalizeElementOrder`: items present in the patch sorted by patch order, the others by
/// target order, then interleaved, taking a target-only item first only when it precedes the patched
/// item in the target. Each item is paired with its identity (merge-key value or the primitive itself).
fn order_like_kubernetes(
    merged: Vec<(Value, Value)>,
    server_order: &[Value],
    patch_order: &[Value],
) -> Vec<Value> {
    let position = |order: &[Value], id: &Value| order.iter().position(|o| o == id);
    let (mut patched, mut server_only): (Vec<_>, Vec<_>) = merged
        .into_iter()
        .partition(|(id, _)| position(patch_order, id).is_some());
    patched.sort_by_key(|(id, _)| position(patch_order, id));
    server_only.sort_by_key(|(id, _)| position(server_order, id));
    let mut out = Vec::with_capacity(patched.len() + server_only.len());
    let (mut left, mut right) = (server_only.into_iter().peekable(), patched.into_iter().peekable());
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (Some((l, _)), Some((r, _))) => {
                matches!((position(server_order, l), position(server_order, r)), (Some(i), Some(j)) if i < j)
            }
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next.map(|(_, value)| value));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn app() -> Value {
        json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {
                "name": "guestbook",
                "labels": {"team": "a"},
                "finalizers": ["resources-finalizer.argocd.argoproj.io"],
            },
            "spec": {
                "project": "default",
                "sources": [{"repoURL": "https://a", "path": "x"}, {"repoURL": "https://b", "path": "y"}],
                "syncPolicy": {"automated": {"prune": true}, "syncOptions": ["CreateNamespace=true"]},
            },
        })
    }

    fn patched(target: Value, patch: Value) -> Value {
        let mut target = target;
        strategic_merge(&mut target, &patch).expect("patch applies");
        target
    }

    #[test]
    fn adding_a_label_keeps_existing_labels() {
        let out = patched(app(), json!({"metadata": {"labels": {"env": "prod"}}}));
        assert_eq!(out["metadata"]["labels"], json!({"team": "a", "env": "prod"}));
        assert_eq!(out["metadata"]["name"], "guestbook");
        assert_eq!(out["spec"], app()["spec"]);
    }

    #[test]
    fn null_removes_sync_policy() {
        let out = patched(app(), json!({"spec": {"syncPolicy": null}}));
        assert!(out["spec"].get("syncPolicy").is_none());
        assert_eq!(out["spec"]["project"], "default");
    }

    #[test]
    fn scalar_replaces_scalar_and_nested_objects_merge() {
        let out = patched(
            app(),
            json!({"spec": {"project": "p", "syncPolicy": {"automated": {"selfHeal": true}}}}),
        );
        assert_eq!(out["spec"]["project"], "p");
        assert_eq!(
            out["spec"]["syncPolicy"]["automated"],
            json!({"prune": true, "selfHeal": true})
        );
        assert_eq!(
            out["spec"]["syncPolicy"]["syncOptions"],
            json!(["CreateNamespace=true"])
        );
    }

    #[test]
    fn finalizers_merge_as_a_set_with_new_items_first_like_kubernetes() {
        let out = patched(app(), json!({"metadata": {"finalizers": ["a"]}}));
        assert_eq!(
            out["metadata"]["finalizers"],
            json!(["a", "resources-finalizer.argocd.argoproj.io"])
        );
    }

    #[test]
    fn finalizers_already_present_keep_their_place_and_are_not_duplicated() {
        let target = json!({"metadata": {"finalizers": ["x", "y", "z"]}});
        let out = patched(
            target.clone(),
            json!({"metadata": {"finalizers": ["y", "x", "x"]}}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["y", "x", "z"]));
        let out = patched(target, json!({"metadata": {"finalizers": ["x", "new"]}}));
        assert_eq!(out["metadata"]["finalizers"], json!(["x", "new", "y", "z"]));
    }

    #[test]
    fn finalizers_are_added_when_the_target_has_none() {
        let out = patched(
            json!({"metadata": {"name": "n"}}),
            json!({"metadata": {"finalizers": ["a", "a", "b"]}}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b"]));
    }

    #[test]
    fn sources_list_is_replaced_wholesale() {
        let out = patched(app(), json!({"spec": {"sources": [{"repoURL": "https://c"}]}}));
        assert_eq!(out["spec"]["sources"], json!([{"repoURL": "https://c"}]));
        let out = patched(
            app(),
            json!({"spec": {"syncPolicy": {"syncOptions": ["Validate=false"]}}}),
        );
        assert_eq!(
            out["spec"]["syncPolicy"]["syncOptions"],
            json!(["Validate=false"])
        );
    }

    #[test]
    fn patch_replace_directive_replaces_the_object() {
        let out = patched(
            app(),
            json!({"spec": {"syncPolicy": {"$patch": "replace", "syncOptions": ["A=b"]}}}),
        );
        assert_eq!(out["spec"]["syncPolicy"], json!({"syncOptions": ["A=b"]}));
        assert_eq!(out["spec"]["project"], "default");
    }

    #[test]
    fn patch_delete_directive_empties_the_object_like_kubernetes() {
        let out = patched(
            app(),
            json!({"spec": {"syncPolicy": {"$patch": "delete", "automated": {}}}}),
        );
        assert_eq!(out["spec"]["syncPolicy"], json!({}));
        assert_eq!(out["spec"]["project"], "default");
        assert_eq!(patched(app(), json!({"$patch": "delete"})), json!({}));
    }

    #[test]
    fn unknown_patch_directive_is_an_error() {
        let mut target = app();
        let err = strategic_merge(&mut target, &json!({"spec": {"$patch": "merge-please"}})).unwrap_err();
        assert_eq!(err.to_string(), "unknown patch type \"merge-please\" at spec");
        assert_eq!(target, app(), "target untouched on error");
    }

    #[test]
    fn delete_from_primitive_list_removes_values() {
        let target = json!({"metadata": {"finalizers": ["a", "b", "c"]}});
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "zz"]}});
        assert_eq!(
            patched(target, patch)["metadata"]["finalizers"],
            json!(["a", "c"])
        );
    }

    #[test]
    fn delete_from_primitive_list_applies_after_additions() {
        let target = json!({"metadata": {"finalizers": ["a", "b"]}});
        let patch =
            json!({"metadata": {"finalizers": ["c"], "$deleteFromPrimitiveList/finalizers": ["a", "c"]}});
        assert_eq!(patched(target, patch)["metadata"]["finalizers"], json!(["b"]));
        let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}});
        let err = strategic_merge(&mut app(), &patch).unwrap_err();
        assert!(matches!(err, PatchError::InvalidDirective { .. }), "{err}");
    }

    #[test]
    fn owner_references_merge_by_uid() {
        let target = json!({"metadata": {"ownerReferences": [
            {"uid": "1", "name": "one", "kind": "ApplicationSet"},
            {"uid": "2", "name": "two"},
        ]}});
        let patch = json!({"metadata": {"ownerReferences": [
            {"uid": "2", "controller": true, "name": null},
            {"uid": "3", "name": "three"},
        ]}});
        let out = patched(target, patch);
        assert_eq!(
            out["metadata"]["ownerReferences"],
            json!([
                {"uid": "1", "name": "one", "kind": "ApplicationSet"},
                {"uid": "2", "controller": true},
                {"uid": "3", "name": "three"},
            ])
        );
    }

    #[test]
    fn owner_reference_delete_and_replace_elements() {
        let target = json!({"metadata": {"ownerReferences": [{"uid": "1"}, {"uid": "2"}]}});
        let delete = json!({"metadata": {"ownerReferences": [{"$patch": "delete", "uid": "1"}]}});
        assert_eq!(
            patched(target.clone(), delete)["metadata"]["ownerReferences"],
            json!([{"uid": "2"}])
        );
        let replace =
            json!({"metadata": {"ownerReferences": [{"$patch": "replace"}, {"uid": "9", "name": "n"}]}});
        assert_eq!(
            patched(target.clone(), replace)["metadata"]["ownerReferences"],
            json!([{"uid": "9", "name": "n"}])
        );
        let no_key = json!({"metadata": {"ownerReferences": [{"name": "n"}]}});
        let err = strategic_merge(&mut target.clone(), &no_key).unwrap_err();
        assert!(matches!(err, PatchError::InvalidList { .. }), "{err}");
        let bad = json!({"metadata": {"ownerReferences": [{"$patch": "explode", "uid": "1"}]}});
        assert!(matches!(
            strategic_merge(&mut target.clone(), &bad),
            Err(PatchError::UnknownPatchType { .. })
        ));
    }

    #[test]
    fn merge_list_with_mixed_element_types_is_an_error() {
        let patch = json!({"metadata": {"finalizers": [{"a": 1}]}});
        let err = strategic_merge(&mut app(), &patch).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot merge list metadata.finalizers: list element types are not identical"
        );
    }

    #[test]
    fn retain_keys_keeps_only_listed_keys() {
        let target = json!({"spec": {"source": {"repoURL": "r", "path": "p", "chart": "c"}}});
        let patch =
            json!({"spec": {"source": {"$retainKeys": ["repoURL", "helm"], "helm": {"releaseName": "x"}}}});
        assert_eq!(
            patched(target.clone(), patch)["spec"]["source"],
            json!({"repoURL": "r", "helm": {"releaseName": "x"}})
        );
        let unlisted = json!({"spec": {"source": {"$retainKeys": ["repoURL"], "path": "q"}}});
        let err = strategic_merge(&mut target.clone(), &unlisted).unwrap_err();
        assert!(matches!(err, PatchError::InvalidDirective { .. }), "{err}");
        let not_list = json!({"spec": {"$retainKeys": "project"}});
        assert!(strategic_merge(&mut target.clone(), &not_list).is_err());
    }

    #[test]
    fn set_element_order_is_ignored() {
        let patch = json!({"metadata": {"$setElementOrder/finalizers": ["b", "a"], "labels": {"x": "y"}}});
        let out = patched(app(), patch);
        assert_eq!(out["metadata"]["finalizers"], app()["metadata"]["finalizers"]);
        assert_eq!(out["metadata"]["labels"]["x"], "y");
        assert!(
            out["metadata"]
                .as_object()
                .unwrap()
                .keys()
                .all(|k| !k.starts_with('$'))
        );
    }

    #[test]
    fn object_over_missing_or_scalar_is_used_without_directives_or_nulls() {
        let patch = json!({"spec": {
            "project": {"$retainKeys": ["a"], "a": 1, "b": null},
            "destination": {"server": "s", "namespace": null, "x": {"$patch": "replace", "y": 1}},
        }});
        let out = patched(app(), patch);
        assert_eq!(out["spec"]["project"], json!({"a": 1}));
        assert_eq!(out["spec"]["destination"], json!({"server": "s", "x": {"y": 1}}));
    }

    #[test]
    fn scalar_or_list_replaces_an_object() {
        let out = patched(app(), json!({"spec": {"syncPolicy": "none", "project": ["a"]}}));
        assert_eq!(out["spec"]["syncPolicy"], "none");
        assert_eq!(out["spec"]["project"], json!(["a"]));
    }

    #[test]
    fn non_object_patch_or_target_is_an_error() {
        for patch in [json!([]), json!("x"), json!(null), json!(1)] {
            let mut target = app();
            assert_eq!(
                strategic_merge(&mut target, &patch),
                Err(PatchError::NotAnObject("patch"))
            );
            assert_eq!(target, app());
        }
        assert_eq!(
            strategic_merge(&mut json!([1]), &json!({})),
            Err(PatchError::NotAnObject("target"))
        );
        assert_eq!(
            PatchError::NotAnObject("patch").to_string(),
            "the patch is not a JSON object"
        );
    }

    #[test]
    fn empty_patch_changes_nothing() {
        assert_eq!(patched(app(), json!({})), app());
    }
}
