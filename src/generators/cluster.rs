//! The `clusters` generator: one parameter set per Argo CD cluster Secret.
//!
//! Stage: generate; reads cluster Secrets through `Sources` (I/O there only). Secrets labelled
//! `argocd.argoproj.io/secret-type: cluster` in the controller namespace, filtered by the
//! generator's label selector, de-duplicated by cluster name (last wins) and sorted by name. The
//! local `in-cluster` entry is appended last when the selector is empty and no Secret already
//! points at `https://kubernetes.default.svc`. `flatList` wraps everything into one set.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use serde_json::{Map, Value};

use super::{
    GenerateContext, GenerateError, apply_values,
    selector::{Selector, ValueValidation},
};
use crate::{
    crd::{CLUSTER_SECRET_TYPE_LABEL, ClusterGenerator},
    params::{ParamMode, Params},
    sources::secret_field,
    text::normalize,
};

/// The API server URL of the cluster Argo CD runs in.
pub const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";

/// Generate the parameter sets of a `clusters` generator.
pub async fn generate(
    g: &ClusterGenerator,
    ctx: &GenerateContext<'_>,
    path: &str,
) -> Result<Vec<Params>, GenerateError> {
    let mut sel = g.selector.clone().unwrap_or_default();
    let user_selector_empty = sel.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && sel.match_expressions.as_ref().is_none_or(|e| e.is_empty());
    sel.match_labels
        .get_or_insert_with(BTreeMap::new)
        .insert(CLUSTER_SECRET_TYPE_LABEL.into(), "cluster".into());
    let selector = Selector::parse(&sel, ValueValidation::Strict)
        .map_err(|e| GenerateError::invalid(&format!("{path}.selector"), e.to_string()))?;

    let secrets = ctx
        .sources
        .cluster_secrets(ctx.controller_namespace)
        .await
        .map_err(|e| GenerateError::source(path, e))?;
    // De-duplicate by cluster name, last wins; then sort by name.
    let mut by_name: BTreeMap<String, &Secret> = BTreeMap::new();
    for s in &secrets {
        let labels = s.metadata.labels.clone().unwrap_or_default();
        if selector.matches(&labels) {
            by_name.insert(secret_field(s, "name").unwrap_or_default(), s);
        }
    }
    let mut params = Vec::with_capacity(by_name.len() + 1);
    let mut has_local = false;
    for (name, s) in &by_name {
        let server = secret_field(s, "server").unwrap_or_default();
        has_local |= server == IN_CLUSTER_SERVER;
        let project = secret_field(s, "project").unwrap_or_default();
        let labels = s.metadata.labels.clone().unwrap_or_default();
        let annotations = s.metadata.annotations.clone().unwrap_or_default();
        let mut p = base_params(name, &server, &project);
        match ctx.mode() {
            ParamMode::Flat => {
                for (k, v) in &labels {
                    p.insert(format!("metadata.labels.{k}"), Value::String(v.clone()));
                }
                for (k, v) in &annotations {
                    p.insert(format!("metadata.annotations.{k}"), Value::String(v.clone()));
                }
            }
            ParamMode::Nested => {
                let mut meta = Map::new();
                if !labels.is_empty() {
                    meta.insert("labels".into(), to_object(&labels));
                }
                if !annotations.is_empty() {
                    meta.insert("annotations".into(), to_object(&annotations));
                }
                p.insert("metadata".into(), Value::Object(meta));
            }
        }
        params.push(p);
    }
    if user_selector_empty && !has_local {
        params.push(base_params("in-cluster", IN_CLUSTER_SERVER, ""));
    }
    apply_values(&mut params, g.values.as_ref(), ctx, path)?;
    if g.flat_list {
        let list = if params.is_empty() {
            Value::Null
        } else {
            Value::Array(
                params
                    .into_iter()
                    .map(|p| Value::Object(p.into_iter().collect()))
                    .collect(),
            )
        };
        return Ok(vec![Params::from([("clusters".to_string(), list)])]);
    }
    Ok(params)
}

fn base_params(name: &str, server: &str, project: &str) -> Params {
    Params::from([
        ("name".to_string(), Value::String(name.into())),
        ("nameNormalized".to_string(), Value::String(normalize(name))),
        ("server".to_string(), Value::String(server.into())),
        ("project".to_string(), Value::String(project.into())),
    ])
}

fn to_object(m: &BTreeMap<String, String>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}
