//! The `merge` generator: join two or more children on `mergeKeys`.
//!
//! Stage: generate (pure; children do their I/O through `Sources`). The first child is the base;
//! each later child's set whose merge-key values equal a base set's overrides it (shallowly in the
//! default mode, deep-merged in the nested modes, where an empty value such as `false` or `""`
//! overrides too, as with mergo's `WithOverride`). Later sets without a base match are discarded;
//! base sets without a match are kept. Output follows the base's order (Argo CD's is map order).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::{
    GenerateContext, GenerateError,
    matrix::{child_params, merge_override},
};
use crate::{
    crd::MergeGenerator,
    params::{ParamMode, Params},
};

/// Generate the parameter sets of a `merge` generator.
pub async fn generate(
    g: &MergeGenerator,
    ctx: &GenerateContext<'_>,
    path: &str,
) -> Result<Vec<Params>, GenerateError> {
    if g.generators.len() < 2 {
        return Err(GenerateError::invalid(
            path,
            "found less than two generators, Merge requires two or more",
        ));
    }
    if g.merge_keys.is_empty() {
        return Err(GenerateError::invalid(
            path,
            "no merge keys were specified, Merge requires at least one",
        ));
    }
    let keys: BTreeSet<&str> = g.merge_keys.iter().map(String::as_str).collect();
    let key_of = |p: &Params| -> String {
        let m: BTreeMap<&str, &Value> = keys
            .iter()
            .map(|k| (*k, p.get(*k).unwrap_or(&Value::Null)))
            .collect();
        serde_json::to_string(&m).unwrap_or_default()
    };
    let mut children = Vec::with_capacity(g.generators.len());
    for (i, child) in g.generators.iter().enumerate() {
        let cpath = format!("{path}.generators[{i}]");
        let params = child_params(child, ctx, &cpath).await?;
        let mut index: HashMap<String, usize> = HashMap::with_capacity(params.len());
        for (j, p) in params.iter().enumerate() {
            let k = key_of(p);
            if index.insert(k.clone(), j).is_some() {
                return Err(GenerateError::invalid(
                    &cpath,
                    format!(
                        "the parameters from a generator were not unique by the given mergeKeys, Merge \
                         requires all param sets to be unique. Duplicate key was {k}"
                    ),
                ));
            }
        }
        children.push((params, index));
    }
    let mut iter = children.into_iter();
    let Some((mut base, _)) = iter.next() else {
        return Ok(Vec::new());
    };
    let base_keys: Vec<String> = base.iter().map(key_of).collect();
    for (params, index) in iter {
        for (b, k) in base.iter_mut().zip(&base_keys) {
            if let Some(&j) = index.get(k) {
                match ctx.mode() {
                    ParamMode::Flat => b.extend(params[j].iter().map(|(k, v)| (k.clone(), v.clone()))),
                    ParamMode::Nested => merge_override(b, &params[j]),
                }
            }
        }
    }
    Ok(base)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::{generators::testing::generate_first, params::Params};

    /// In goTemplate mode a later child's matching set is merged with mergo's `WithOverride`, so
    /// its `false`, `""`, `0` and `null` replace the base's values too.
    #[tokio::test]
    async fn go_template_merge_lets_a_later_childs_falsy_values_override() {
        let spec = json!({
            "goTemplate": true,
            "generators": [{"merge": {"mergeKeys": ["name"], "generators": [
                {"list": {"elements": [
                    {"name": "a", "enabled": true, "label": "base", "replicas": 2, "owner": "team",
                     "nested": {"on": true, "who": "base"}},
                    {"name": "b", "enabled": true},
                ]}},
                {"list": {"elements": [
                    {"name": "a", "enabled": false, "label": "", "replicas": 0, "owner": null,
                     "nested": {"on": false}},
                ]}},
            ]}}],
            "template": {"metadata": {"name": "x"}, "spec": {"project": "default", "destination": {}}},
        });
        let params = generate_first(spec, json!({}), Default::default()).await.unwrap();
        let want: Vec<Params> = serde_json::from_value(json!([
            {"name": "a", "enabled": false, "label": "", "replicas": 0, "owner": null,
             "nested": {"on": false, "who": "base"}},
            {"name": "b", "enabled": true},
        ]))
        .unwrap();
        assert_eq!(params, want);
    }
}
