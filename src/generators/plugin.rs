//! The `plugin` generator: one parameter set per object a plugin service answers.
//!
//! Stage: generate; asks the plugin through `Sources` (I/O there only: the ConfigMap, the token's
//! Secret and `POST <baseUrl>/api/v1/getparams.execute`). As Argo CD (`generators/plugin.go`):
//! each answered object is a parameter set (flattened to dot keys, leaves formatted with Go's
//! `%v`, in the default mode; as answered in goTemplate), `generator.input.parameters` is the
//! generator's `input.parameters` (a nested object in both modes, overwriting what the plugin
//! answered under `generator`), then `values` are added.

use serde_json::Value;

use super::{GenerateContext, GenerateError, apply_values, flatten};
use crate::{
    crd::PluginGenerator,
    params::{ParamMode, Params},
    sources::PluginQuery,
};

/// Default poll interval of plugin generators (Argo CD's 30 minutes).
pub const DEFAULT_REQUEUE_SECONDS: u64 = 1800;

/// Generate the parameter sets of a `plugin` generator.
pub async fn generate(
    g: &PluginGenerator,
    ctx: &GenerateContext<'_>,
    path: &str,
) -> Result<Vec<Params>, GenerateError> {
    let query = PluginQuery {
        config_map: g.config_map_ref.name.clone(),
        namespace: ctx.controller_namespace.to_string(),
        appset_name: ctx.appset_name.to_string(),
        parameters: g.input.parameters.clone(),
    };
    let sets = ctx
        .sources
        .plugin_params(&query)
        .await
        .map_err(|e| GenerateError::source(path, e))?;
    let input = serde_json::json!({"input": {"parameters": Value::Object(g.input.parameters.clone())}});
    let mut out = Vec::with_capacity(sets.len());
    for set in sets {
        let set: Params = set.into_iter().collect();
        let mut p: Params = match ctx.mode() {
            ParamMode::Nested => set,
            ParamMode::Flat => flatten(&set)
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        };
        p.insert("generator".into(), input.clone());
        out.push(p);
    }
    apply_values(&mut out, g.values.as_ref(), ctx, path)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::{git::GitOptions, testing::generate_first};

    fn recorded() -> serde_json::Value {
        json!({"plugins": [{
            "configMap": "my-plugin",
            "input": {"parameters": {"env": "prod"}},
            "output": {"parameters": [
                {"name": "a", "replicas": 3, "image": {"tag": "v1"}},
                {"name": "b", "replicas": 1, "image": {"tag": "v2"}, "generator": "overwritten"},
            ]},
        }]})
    }

    fn spec(go_template: bool) -> serde_json::Value {
        json!({
            "goTemplate": go_template,
            "generators": [{"plugin": {
                "configMapRef": {"name": "my-plugin"},
                "input": {"parameters": {"env": "prod"}},
                "values": {"where": if go_template { "{{.name}}-{{.generator.input.parameters.env}}" } else { "{{name}}-x" }},
            }}],
            "template": {"metadata": {"name": "x"}, "spec": {}},
        })
    }

    #[tokio::test]
    async fn flat_mode_flattens_the_answer_and_keeps_the_input_nested() {
        let p = generate_first(spec(false), recorded(), GitOptions::default())
            .await
            .unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0]["name"], "a");
        assert_eq!(p[0]["replicas"], "3");
        assert_eq!(p[0]["image.tag"], "v1");
        assert_eq!(p[0]["values.where"], "a-x");
        assert_eq!(
            p[1]["generator"],
            json!({"input": {"parameters": {"env": "prod"}}})
        );
    }

    #[tokio::test]
    async fn go_template_mode_keeps_the_answer_as_answered() {
        let p = generate_first(spec(true), recorded(), GitOptions::default())
            .await
            .unwrap();
        assert_eq!(p[0]["image"], json!({"tag": "v1"}));
        assert_eq!(p[0]["replicas"], json!(3));
        assert_eq!(p[1]["values"], json!({"where": "b-prod"}));
    }

    #[tokio::test]
    async fn an_unrecorded_input_names_the_generator_and_the_input() {
        let mut s = spec(false);
        s["generators"][0]["plugin"]["input"]["parameters"]["env"] = json!("dev");
        let e = generate_first(s, recorded(), GitOptions::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "spec.generators[0].plugin: no recorded answer of the plugin of ConfigMap my-plugin \
                 for the input {\"parameters\": {\"env\":\"dev\"}}"
            ),
            "{e}"
        );
    }
}
