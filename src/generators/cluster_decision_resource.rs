//! The `clusterDecisionResource` generator: one parameter set per Argo CD cluster that a
//! duck-typed resource's status lists (Argo CD's `generators/duck_type.go`).
//!
//! Stage: generate; reads through `Sources` (I/O there only): Argo CD's cluster Secrets, the
//! ConfigMap the generator names and the decision resources, all in Argo CD's (the controller's)
//! namespace. The rest is pure and follows Argo CD step by step:
//!
//! 1. the clusters: every cluster Secret's `name` and `server` (its trailing `/` removed), and the
//!    local `in-cluster` when no Secret points at `https://kubernetes.default.svc`;
//! 2. the ConfigMap: `apiVersion` (`group/version`) and `kind` (the resource's **plural** name)
//!    say which resource to list, `statusListKey` (default `clusters`) where its status lists the
//!    decisions, `matchKey` which key of a decision names an Argo CD cluster;
//! 3. the resources, by `name` (a field selector) or `labelSelector`, exactly one of them;
//! 4. each decision (`status.<statusListKey>[]`, the resources in the API server's order) whose
//!    `matchKey` value is an Argo CD cluster's name gives `name` and `server` of that cluster, then
//!    every key of the decision as Go's `%v` prints it (a decision's `name` or `server` wins), then
//!    `values` as written (not rendered, as in Argo CD).
//!
//! Argo CD's error texts are kept. Where Argo CD panics on an unexpected shape (a status list that
//! is missing or not a list, a decision that is not an object) or silently generates nothing
//! (a ConfigMap without `matchKey`), appset fails the generator with a message naming what is
//! wrong: a configuration mistake never reads as "no clusters", which would delete Applications.
//! A resource without a status yet has no decisions (Argo CD's rule).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::api::DynamicObject;
use serde_json::{Map, Value};

use super::{
    GenerateContext, GenerateError,
    cluster::IN_CLUSTER_SERVER,
    json_kind,
    selector::{Selector, ValueValidation},
};
use crate::{
    crd::{CLUSTER_SECRET_TYPE_LABEL, ClusterDecisionResourceGenerator},
    params::{ParamMode, Params},
    sources::{ResourceQuery, ResourceRef, Selection, SourceError, secret_field},
    text::go_format_unstructured,
};

/// Argo CD's default `statusListKey`.
pub const DEFAULT_STATUS_LIST_KEY: &str = "clusters";

/// Argo CD's name of the local cluster when no Secret describes it.
pub const IN_CLUSTER_NAME: &str = "in-cluster";

/// Argo CD's error for a ConfigMap whose `apiVersion` or `kind` cannot name a resource.
pub const BAD_RESOURCE: &str = "there is a problem with the apiVersion, kind or resourceName provided";

/// Argo CD's error for a generator with both or neither of `name` and `labelSelector`.
pub const BAD_DEFINITION: &str =
    "there is a problem with the definition of the ClusterDecisionResource generator";

/// Argo CD's error when the name or selector selects no resource.
pub const NO_RESOURCES: &str = "no clusterDecisionResources found";

/// An Argo CD cluster as this generator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// The cluster Secret's `name`.
    pub name: String,
    /// Its `server`, without trailing `/`.
    pub server: String,
}

/// Generate the parameter sets of a `clusterDecisionResource` generator.
pub async fn generate(
    g: &ClusterDecisionResourceGenerator,
    ctx: &GenerateContext<'_>,
    path: &str,
) -> Result<Vec<Params>, GenerateError> {
    let ns = ctx.controller_namespace;
    let secrets = ctx
        .sources
        .cluster_secrets(ns)
        .await
        .map_err(|e| GenerateError::source(path, e))?;
    let clusters = clusters(&secrets)
        .map_err(|e| GenerateError::invalid(path, format!("error listing clusters: {e}")))?;

    let cm_path = format!("{path}.configMapRef");
    if g.config_map_ref.is_empty() {
        // What client-go answers to a Get without a name.
        return Err(GenerateError::invalid(
            &cm_path,
            "error reading configMapRef: resource name may not be empty",
        ));
    }
    let data = ctx
        .sources
        .config_map(ns, &g.config_map_ref)
        .await
        .map_err(|e| context(&cm_path, "error reading configMapRef", e))?;
    let resource = resource_of(&data).map_err(|e| {
        GenerateError::invalid(
            &cm_path,
            format!("{e} (ConfigMap {ns}/{}: {})", g.config_map_ref, describe(&data)),
        )
    })?;
    let selection = selection(g).map_err(|e| GenerateError::invalid(path, e))?;
    let query = ResourceQuery {
        resource,
        namespace: ns.to_string(),
        selection,
    };
    let resources = ctx
        .sources
        .list_resources(&query)
        .await
        .map_err(|e| context(path, "failed to get dynamic resources", e))?;
    if resources.is_empty() {
        return Err(GenerateError::invalid(
            path,
            format!("{NO_RESOURCES} ({} in namespace {ns})", describe_query(&query)),
        ));
    }
    let status_list_key = data
        .get("statusListKey")
        .filter(|k| !k.is_empty())
        .map_or(DEFAULT_STATUS_LIST_KEY, String::as_str);
    let Some(match_key) = data.get("matchKey").filter(|k| !k.is_empty()) else {
        // Argo CD logs a warning and generates nothing, which deletes every Application.
        return Err(GenerateError::invalid(
            &cm_path,
            format!("matchKey not found in ConfigMap {ns}/{}", g.config_map_ref),
        ));
    };
    let decisions = decisions(&resources, status_list_key).map_err(|e| GenerateError::invalid(path, e))?;
    Ok(params(
        &decisions,
        &clusters,
        match_key,
        g.values.as_ref(),
        ctx.mode(),
    ))
}

/// A source error with Argo CD's words for the step before it (`error reading configMapRef: ...`).
fn context(path: &str, what: &str, e: SourceError) -> GenerateError {
    match e {
        // Not readable here at all: say what to record, not what Argo CD would have said.
        SourceError::Unavailable(_) => GenerateError::source(path, e),
        other => GenerateError::source(path, SourceError::Resource(format!("{what}: {other}"))),
    }
}

/// Argo CD's clusters (`utils.ListClusters`): each cluster Secret's `name` and `server` (trailing
/// `/` removed), in the order given, then `in-cluster` unless a Secret points at the local API
/// server. A Secret whose `config` is not a JSON object fails the whole list, as Argo CD's cluster
/// cache does.
pub fn clusters(secrets: &[Secret]) -> Result<Vec<Cluster>, String> {
    let mut out = Vec::with_capacity(secrets.len() + 1);
    for s in secrets {
        let labels = s.metadata.labels.as_ref();
        if labels
            .and_then(|l| l.get(CLUSTER_SECRET_TYPE_LABEL))
            .map(String::as_str)
            != Some("cluster")
        {
            continue;
        }
        if let Some(config) = secret_field(s, "config").filter(|c| !c.is_empty())
            && let Err(e) = serde_json::from_str::<Option<Map<String, Value>>>(&config)
        {
            return Err(format!(
                "cluster Secret {}: failed to unmarshal cluster config: {e}",
                s.metadata.name.as_deref().unwrap_or_default()
            ));
        }
        out.push(Cluster {
            name: secret_field(s, "name").unwrap_or_default(),
            server: secret_field(s, "server")
                .unwrap_or_default()
                .trim_end_matches('/')
                .to_string(),
        });
    }
    if !out.iter().any(|c| c.server == IN_CLUSTER_SERVER) {
        out.push(Cluster {
            name: IN_CLUSTER_NAME.into(),
            server: IN_CLUSTER_SERVER.into(),
        });
    }
    Ok(out)
}

/// The resource a ConfigMap's `apiVersion` (`group/version`) and `kind` (the plural name) name, or
/// Argo CD's error. The core group (`v1`, no `/`) cannot be named, as in Argo CD.
pub fn resource_of(data: &BTreeMap<String, String>) -> Result<ResourceRef, &'static str> {
    let api_version = data.get("apiVersion").map_or("", String::as_str);
    let kind = data.get("kind").map_or("", String::as_str);
    match api_version.split_once('/') {
        Some((group, version)) if !group.is_empty() && !kind.is_empty() => Ok(ResourceRef {
            group: group.to_string(),
            version: version.to_string(),
            plural: kind.to_string(),
        }),
        _ => Err(BAD_RESOURCE),
    }
}

/// The ConfigMap keys this generator reads, for messages.
fn describe(data: &BTreeMap<String, String>) -> String {
    ["apiVersion", "kind"]
        .iter()
        .map(|k| match data.get(*k) {
            Some(v) => format!("{k}: {v:?}"),
            None => format!("no {k}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_query(q: &ResourceQuery) -> String {
    match &q.selection {
        Selection::Name(n) => format!("{} named {n:?}", q.resource),
        Selection::Labels(l) => format!(
            "{} selected by labels {:?}",
            q.resource,
            // Validated already, so this prints it.
            Selector::parse(l, ValueValidation::Strict)
                .map(|s| s.to_query())
                .unwrap_or_default()
        ),
    }
}

/// `name` or `labelSelector`, exactly one (a selector counts as given when it has `matchLabels`
/// or `matchExpressions`, even empty, as in Argo CD); the selector is validated as the API server
/// validates a `labelSelector` it is sent.
pub fn selection(g: &ClusterDecisionResourceGenerator) -> Result<Selection, String> {
    let selector = g
        .label_selector
        .as_ref()
        .filter(|l| l.match_labels.is_some() || l.match_expressions.is_some());
    match (g.name.is_empty(), selector) {
        (false, None) => Ok(Selection::Name(g.name.clone())),
        (true, Some(l)) => {
            let parsed = Selector::parse(l, ValueValidation::Strict)
                .map_err(|e| format!("failed to get dynamic resources: labelSelector: {e}"))?;
            if parsed.is_empty() {
                // Argo CD sends `<none>`, which the API server refuses.
                return Err("failed to get dynamic resources: labelSelector: it is empty".into());
            }
            Ok(Selection::Labels(l.clone()))
        }
        _ => Err(BAD_DEFINITION.into()),
    }
}

/// The decisions of `resources`: each one's `status.<key>` list, in order. A resource with no
/// status (or an empty one) has none; a status without that list, or with something else there,
/// or a decision that is not an object, is an error (Argo CD panics on them).
pub fn decisions<'a>(
    resources: &'a [DynamicObject],
    key: &str,
) -> Result<Vec<&'a Map<String, Value>>, String> {
    let mut out = Vec::new();
    for r in resources {
        let name = r.metadata.name.as_deref().unwrap_or_default();
        let status = match r.data.get("status") {
            None | Some(Value::Null) => continue,
            Some(Value::Object(s)) if s.is_empty() => continue,
            Some(Value::Object(s)) => s,
            Some(other) => {
                return Err(format!(
                    "resource {name}: status is {}, not an object",
                    json_kind(other)
                ));
            }
        };
        let list = match status.get(key) {
            Some(Value::Array(list)) => list,
            None => return Err(format!("resource {name}: status.{key} is missing")),
            Some(other) => {
                return Err(format!(
                    "resource {name}: status.{key} is {}, not a list",
                    json_kind(other)
                ));
            }
        };
        for (i, d) in list.iter().enumerate() {
            match d {
                Value::Object(d) => out.push(d),
                other => {
                    return Err(format!(
                        "resource {name}: status.{key}[{i}] is {}, not an object",
                        json_kind(other)
                    ));
                }
            }
        }
    }
    Ok(out)
}

/// One parameter set per decision whose `match_key` value (as Go's `%v` prints it, not empty)
/// names an Argo CD cluster (the first of that name): `name`, `server`, each key of the decision
/// (a string as `%v` prints it), then `values` as written.
pub fn params(
    decisions: &[&Map<String, Value>],
    clusters: &[Cluster],
    match_key: &str,
    values: Option<&BTreeMap<String, String>>,
    mode: ParamMode,
) -> Vec<Params> {
    let mut out = Vec::new();
    for d in decisions {
        let wanted = match d.get(match_key) {
            None | Some(Value::Null) => continue,
            Some(v) => go_format_unstructured(v),
        };
        if wanted.is_empty() {
            continue;
        }
        let Some(cluster) = clusters.iter().find(|c| c.name == wanted) else {
            continue;
        };
        let mut p = Params::from([
            ("name".to_string(), Value::String(cluster.name.clone())),
            ("server".to_string(), Value::String(cluster.server.clone())),
        ]);
        for (k, v) in *d {
            p.insert(k.clone(), Value::String(go_format_unstructured(v)));
        }
        if let Some(values) = values.filter(|v| !v.is_empty()) {
            match mode {
                ParamMode::Flat => {
                    for (k, v) in values {
                        p.insert(format!("values.{k}"), Value::String(v.clone()));
                    }
                }
                ParamMode::Nested => {
                    let obj = values.iter().map(|(k, v)| (k.clone(), Value::String(v.clone())));
                    p.insert("values".into(), Value::Object(obj.collect()));
                }
            }
        }
        out.push(p);
    }
    out
}

#[cfg(test)]
mod tests {
    //! Argo CD's `duck_type_test.go` table (both modes), then what appset adds: errors where
    //! Argo CD panics or generates nothing, and the cluster rules.

    use serde_json::json;

    use super::{
        super::{git::GitOptions, testing::generate_first},
        *,
    };

    fn secret(name: &str, server: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": "argocd",
                "labels": {"argocd.argoproj.io/secret-type": "cluster"}},
            "stringData": {"config": "{}", "name": name, "server": server}})
    }

    fn duck(labels: Value, status: Value) -> Value {
        json!({"apiVersion": "mallard.io/v1", "kind": "Duck",
            "metadata": {"name": "quak", "namespace": "argocd", "labels": labels},
            "status": status})
    }

    /// Argo CD's four ducks.
    fn duck_type() -> Value {
        duck(
            json!({"duck": "all-species"}),
            json!({"decisions": [{"clusterName": "staging-01"}, {"clusterName": "production-01"}]}),
        )
    }
    fn duck_type_prod_only() -> Value {
        duck(
            json!({"duck": "spotted"}),
            json!({"decisions": [{"clusterName": "production-01"}]}),
        )
    }
    fn duck_type_with_non_string_values() -> Value {
        duck(
            json!({"duck": "all-species"}),
            json!({"decisions": [{"clusterName": "staging-01", "reason": "", "score": 0}]}),
        )
    }
    fn duck_type_empty() -> Value {
        duck(json!({"duck": "canvasback"}), json!({}))
    }

    fn recorded(resource: Value, config: Value) -> Value {
        json!({
            "clusters": [
                secret("staging-01", "https://staging-01.example.com"),
                secret("production-01", "https://production-01.example.com"),
            ],
            "configMaps": [{"metadata": {"name": "my-configmap", "namespace": "argocd"}, "data": config}],
            "resources": [resource],
        })
    }

    fn config() -> Value {
        json!({"apiVersion": "mallard.io/v1", "kind": "ducks", "statusListKey": "decisions", "matchKey": "clusterName"})
    }

    async fn run(go_template: bool, generator: Value, resource: Value) -> Result<Vec<Params>, String> {
        run_with(go_template, generator, recorded(resource, config())).await
    }

    async fn run_with(go_template: bool, generator: Value, recorded: Value) -> Result<Vec<Params>, String> {
        let mut g = json!({"configMapRef": "my-configmap"});
        g.as_object_mut()
            .unwrap()
            .extend(generator.as_object().unwrap().clone());
        let spec = json!({
            "goTemplate": go_template,
            "generators": [{"clusterDecisionResource": g}],
            "template": {"metadata": {"name": "x"}, "spec": {}},
        });
        let mut params = generate_first(spec, recorded, GitOptions::default())
            .await
            .map_err(|e| e.to_string())?;
        // Argo CD's test compares as sets (ElementsMatch).
        params.sort_by_key(|p| serde_json::to_string(p).unwrap());
        Ok(params)
    }

    fn set(v: Value) -> Params {
        serde_json::from_value(v).unwrap()
    }

    fn both_clusters() -> Vec<Params> {
        vec![
            set(
                json!({"clusterName": "production-01", "name": "production-01", "server": "https://production-01.example.com"}),
            ),
            set(
                json!({"clusterName": "staging-01", "name": "staging-01", "server": "https://staging-01.example.com"}),
            ),
        ]
    }

    const PATH: &str = "spec.generators[0].clusterDecisionResource";

    /// A case's parameter sets, or its error.
    type Outcome = Result<Vec<Params>, String>;

    #[tokio::test]
    async fn argo_cd_s_table_in_both_modes() {
        let in_expression = json!({"matchExpressions": [{"key": "duck", "operator": "In", "values": ["all-species", "marbled"]}]});
        for go_template in [false, true] {
            let values = |v: &str| -> Value {
                if go_template {
                    json!({"values": {"foo": v}})
                } else {
                    json!({"values.foo": v})
                }
            };
            let mut prod_with_values = json!({"clusterName": "production-01", "name": "production-01", "server": "https://production-01.example.com"});
            prod_with_values
                .as_object_mut()
                .unwrap()
                .extend(values("bar").as_object().unwrap().clone());
            let cases: Vec<(&str, Value, Value, Outcome)> = vec![
                (
                    "no duck resource",
                    json!({}),
                    duck_type(),
                    Err(format!("{PATH}: {BAD_DEFINITION}")),
                ),
                (
                    "duck type generator resourceName",
                    json!({"name": "quak"}),
                    duck_type(),
                    Ok(both_clusters()),
                ),
                (
                    "production-only",
                    json!({"name": "quak", "values": {"foo": "bar"}}),
                    duck_type_prod_only(),
                    Ok(vec![set(prod_with_values.clone())]),
                ),
                (
                    "duck type empty status",
                    json!({"name": "quak"}),
                    duck_type_empty(),
                    Ok(vec![]),
                ),
                (
                    "duck type empty status labelSelector.matchLabels",
                    json!({"labelSelector": {"matchLabels": {"duck": "canvasback"}}}),
                    duck_type_empty(),
                    Ok(vec![]),
                ),
                (
                    "duck type generator labelSelector.matchLabels",
                    json!({"labelSelector": {"matchLabels": {"duck": "all-species"}}}),
                    duck_type(),
                    Ok(both_clusters()),
                ),
                (
                    "production-only labelSelector.matchLabels",
                    json!({"labelSelector": {"matchLabels": {"duck": "spotted"}}, "values": {"foo": "bar"}}),
                    duck_type_prod_only(),
                    Ok(vec![set(prod_with_values.clone())]),
                ),
                (
                    "duck type generator labelSelector.matchExpressions",
                    json!({"labelSelector": in_expression}),
                    duck_type(),
                    Ok(both_clusters()),
                ),
                (
                    "duck type generator resourceName and labelSelector.matchExpressions",
                    json!({"name": "quak", "labelSelector": in_expression}),
                    duck_type(),
                    Err(format!("{PATH}: {BAD_DEFINITION}")),
                ),
                (
                    "non-string values in cluster decisions are converted to strings",
                    json!({"name": "quak"}),
                    duck_type_with_non_string_values(),
                    Ok(vec![set(
                        json!({"clusterName": "staging-01", "reason": "", "score": "0", "name": "staging-01", "server": "https://staging-01.example.com"}),
                    )]),
                ),
            ];
            for (name, generator, resource, want) in cases {
                let got = run(go_template, generator, resource).await;
                assert_eq!(got, want, "{name} (goTemplate: {go_template})");
            }
        }
    }

    #[tokio::test]
    async fn a_name_or_selector_that_selects_nothing_is_argo_cd_s_error() {
        let e = run(false, json!({"name": "other"}), duck_type())
            .await
            .unwrap_err();
        assert_eq!(
            e,
            format!("{PATH}: {NO_RESOURCES} (ducks.mallard.io/v1 named \"other\" in namespace argocd)")
        );
        let e = run(
            false,
            json!({"labelSelector": {"matchLabels": {"duck": "mallard"}}}),
            duck_type(),
        )
        .await
        .unwrap_err();
        assert!(
            e.starts_with(&format!(
                "{PATH}: {NO_RESOURCES} (ducks.mallard.io/v1 selected by labels \"duck=mallard\""
            )),
            "{e}"
        );
    }

    #[tokio::test]
    async fn configmap_problems_name_the_configmap_and_the_key() {
        let r = |config: Value| recorded(duck_type(), config);
        let e = run_with(
            false,
            json!({"name": "quak", "configMapRef": "nope"}),
            r(config()),
        )
        .await
        .unwrap_err();
        assert_eq!(
            e,
            format!("{PATH}.configMapRef: error reading configMapRef: configmaps \"nope\" not found")
        );
        let e = run_with(false, json!({"name": "quak", "configMapRef": ""}), r(config()))
            .await
            .unwrap_err();
        assert_eq!(
            e,
            format!("{PATH}.configMapRef: error reading configMapRef: resource name may not be empty")
        );
        for (api_version, kind) in [("v1", "ducks"), ("/v1", "ducks"), ("mallard.io/v1", "")] {
            let mut c = config();
            c["apiVersion"] = json!(api_version);
            c["kind"] = json!(kind);
            let e = run_with(false, json!({"name": "quak"}), r(c)).await.unwrap_err();
            assert!(
                e.starts_with(&format!(
                    "{PATH}.configMapRef: {BAD_RESOURCE} (ConfigMap argocd/my-configmap: apiVersion: "
                )),
                "{api_version} {kind}: {e}"
            );
        }
        // Argo CD generates nothing without a matchKey (and so deletes every Application).
        let mut c = config();
        c.as_object_mut().unwrap().remove("matchKey");
        let e = run_with(false, json!({"name": "quak"}), r(c)).await.unwrap_err();
        assert_eq!(
            e,
            format!("{PATH}.configMapRef: matchKey not found in ConfigMap argocd/my-configmap")
        );
        // No statusListKey: Argo CD's `clusters`.
        let mut c = config();
        c.as_object_mut().unwrap().remove("statusListKey");
        let clusters = duck(json!({}), json!({"clusters": [{"clusterName": "staging-01"}]}));
        let p = run_with(false, json!({"name": "quak"}), recorded(clusters, c))
            .await
            .unwrap();
        assert_eq!(p.len(), 1);
    }

    #[tokio::test]
    async fn statuses_of_the_wrong_shape_fail_where_argo_cd_panics() {
        for (status, what) in [
            (json!({"other": []}), "status.decisions is missing"),
            (
                json!({"decisions": {"a": 1}}),
                "status.decisions is an object, not a list",
            ),
            (json!({"decisions": null}), "status.decisions is null, not a list"),
            (
                json!({"decisions": ["staging-01"]}),
                "status.decisions[0] is a string, not an object",
            ),
            (json!("ready"), "status is a string, not an object"),
        ] {
            let e = run(false, json!({"name": "quak"}), duck(json!({}), status))
                .await
                .unwrap_err();
            assert_eq!(e, format!("{PATH}: resource quak: {what}"));
        }
    }

    #[tokio::test]
    async fn an_invalid_label_selector_is_refused_as_the_api_server_refuses_it() {
        let e = run(
            false,
            json!({"labelSelector": {"matchExpressions": [{"key": "duck", "operator": "Near", "values": ["x"]}]}}),
            duck_type(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            e,
            format!(
                "{PATH}: failed to get dynamic resources: labelSelector: \"Near\" is not a valid pod selector operator"
            )
        );
        let e = run(false, json!({"labelSelector": {"matchLabels": {}}}), duck_type())
            .await
            .unwrap_err();
        assert_eq!(
            e,
            format!("{PATH}: failed to get dynamic resources: labelSelector: it is empty")
        );
    }

    #[test]
    fn clusters_are_argo_cd_s_list_with_the_local_cluster_unless_a_secret_describes_it() {
        let secrets = |v: Vec<Value>| -> Vec<Secret> {
            v.into_iter()
                .map(|s| serde_json::from_value(s).unwrap())
                .collect()
        };
        let mut not_a_cluster = secret("repo", "https://x");
        not_a_cluster["metadata"]["labels"] = json!({"argocd.argoproj.io/secret-type": "repository"});
        let c = clusters(&secrets(vec![
            secret("a", "https://a.example.com/"),
            not_a_cluster,
        ]))
        .unwrap();
        assert_eq!(
            c,
            [
                Cluster {
                    name: "a".into(),
                    server: "https://a.example.com".into()
                },
                Cluster {
                    name: IN_CLUSTER_NAME.into(),
                    server: IN_CLUSTER_SERVER.into()
                },
            ]
        );
        let c = clusters(&secrets(vec![secret("local", "https://kubernetes.default.svc/")])).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].name, "local");

        let mut broken = secret("b", "https://b.example.com");
        broken["stringData"]["config"] = json!("{not json");
        let e = clusters(&secrets(vec![broken])).unwrap_err();
        assert!(
            e.starts_with("cluster Secret b: failed to unmarshal cluster config: "),
            "{e}"
        );
    }

    #[test]
    fn decisions_match_cluster_names_as_go_prints_them_and_keep_their_keys() {
        let clusters = [
            Cluster {
                name: "7".into(),
                server: "https://seven".into(),
            },
            Cluster {
                name: "in-cluster".into(),
                server: IN_CLUSTER_SERVER.into(),
            },
        ];
        let d: Vec<Map<String, Value>> = serde_json::from_value(json!([
            {"clusterName": 7, "weight": 1.5, "big": 1000000.0, "tags": {"b": 1, "a": [true, null]}},
            {"clusterName": "in-cluster", "name": "renamed"},
            {"clusterName": "unknown"},
            {"clusterName": ""},
            {"clusterName": null},
            {"other": "in-cluster"},
        ]))
        .unwrap();
        let refs: Vec<&Map<String, Value>> = d.iter().collect();
        let values = BTreeMap::from([("env".to_string(), "{{name}}".to_string())]);
        let p = params(&refs, &clusters, "clusterName", Some(&values), ParamMode::Flat);
        assert_eq!(
            p,
            [
                set(
                    json!({"name": "7", "server": "https://seven", "clusterName": "7", "weight": "1.5",
                    "big": "1e+06", "tags": "map[a:[true <nil>] b:1]", "values.env": "{{name}}"})
                ),
                set(
                    json!({"name": "renamed", "server": IN_CLUSTER_SERVER, "clusterName": "in-cluster",
                    "values.env": "{{name}}"})
                ),
            ]
        );
    }

    #[test]
    fn requeue_defaults_to_the_controller_s_interval_and_zero_means_none() {
        use std::time::Duration;
        let g =
            |v: Value| -> crate::crd::ClusterDecisionResourceGenerator { serde_json::from_value(v).unwrap() };
        let default = Duration::from_secs(180);
        let no_override = g(json!({"configMapRef": "c", "name": "n"}));
        assert_eq!(
            super::super::GeneratorSpec::ClusterDecisionResource(&no_override).requeue_after(default),
            Some(default)
        );
        let sixty = g(json!({"configMapRef": "c", "name": "n", "requeueAfterSeconds": 60}));
        assert_eq!(
            super::super::GeneratorSpec::ClusterDecisionResource(&sixty).requeue_after(default),
            Some(Duration::from_secs(60))
        );
        let zero = g(json!({"configMapRef": "c", "name": "n", "requeueAfterSeconds": 0}));
        assert_eq!(
            super::super::GeneratorSpec::ClusterDecisionResource(&zero).requeue_after(default),
            None
        );
    }
}
