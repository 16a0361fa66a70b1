//! Cluster Secrets (`--clusters` files, recorded `clusters:`): the decoder, then the cluster
//! generator over them (with and without a label selector) through the pipeline. Input: YAML
//! documents of Secrets. Invariants: no panic, deterministic, errors have messages.
#![no_main]

use std::sync::LazyLock;

use appset::{
    pipeline,
    sources::{Inputs, Recorded, parse_cluster_secrets},
};
use appset_fuzz::{check_message, runtime, service_options};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

static SET: LazyLock<appset::ApplicationSet> = LazyLock::new(|| {
    appset::file::parse(
        r#"
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: clusters}
spec:
  generators:
  - clusters: {}
  - clusters:
      selector:
        matchLabels: {env: prod}
        matchExpressions: [{key: tier, operator: In, values: [a, b]}]
      values: {region: "{{metadata.labels.region}}"}
  template:
    metadata: {name: "{{name}}-app"}
    spec: {project: default, source: {repoURL: "https://example.com/r.git", path: "{{server}}"},
           destination: {server: "{{server}}", namespace: default}}
"#,
    )
    .expect("the set")
    .appset
});

fn generate(secrets: &[k8s_openapi::api::core::v1::Secret]) -> Result<String, String> {
    let inputs = Inputs::recorded(Recorded {
        clusters: Some(secrets.to_vec()),
        ..Recorded::default()
    });
    runtime()
        .block_on(pipeline::generate_applications(&SET, &inputs, &service_options()))
        .map(|out| format!("{:?} {:?}", out.applications, out.invalid.len()))
        .map_err(|e| e.to_string())
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(docs) = serde_saphyr::from_multiple::<Value>(text) else {
        return;
    };
    let a = parse_cluster_secrets(docs.clone());
    let b = parse_cluster_secrets(docs);
    assert_eq!(a, b, "parse_cluster_secrets is not deterministic");
    let secrets = match a {
        Ok(s) => s,
        Err(e) => return check_message("parse_cluster_secrets", &e),
    };
    let a = generate(&secrets);
    assert_eq!(
        a,
        generate(&secrets),
        "the cluster generator is not deterministic"
    );
    if let Err(e) = &a {
        check_message("cluster generator", e);
    }
});
