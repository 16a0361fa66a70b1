//! The committed CRDs in `crds/` are generated from the Rust types; these tests fail when they
//! drift, and check that the schemas are structural (what a real kube-apiserver requires of
//! `apiextensions.k8s.io/v1` CRDs).

use serde_json::Value;

#[test]
fn committed_crds_match_the_rust_types() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    for (file, yaml) in appset::crd::crd_yaml() {
        let path = dir.join(file);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == yaml,
            "crds/{file} is out of date with src/crd.rs; regenerate with:\n  cargo run -- crds --split crds/\n"
        );
    }
}

/// Every node of a structural schema has a `type`, unless it preserves unknown fields or is
/// int-or-string; `properties` and `additionalProperties` never meet; no `$ref`, `anyOf`,
/// `oneOf`, `allOf` carry types; defaults are absent.
fn check_structural(v: &Value, path: &str, problems: &mut Vec<String>) {
    let Value::Object(m) = v else { return };
    let preserve = m.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    let int_or_string = m.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    if !m.contains_key("type") && !preserve && !int_or_string {
        problems.push(format!("{path}: no type"));
    }
    for forbidden in ["$ref", "anyOf", "oneOf", "allOf", "not", "definitions", "$defs"] {
        if m.contains_key(forbidden) && !int_or_string {
            problems.push(format!("{path}: {forbidden}"));
        }
    }
    if m.contains_key("properties") && m.contains_key("additionalProperties") {
        problems.push(format!("{path}: properties and additionalProperties"));
    }
    if let Some(Value::Object(props)) = m.get("properties") {
        for (k, p) in props {
            check_structural(p, &format!("{path}.{k}"), problems);
        }
    }
    if let Some(items) = m.get("items") {
        check_structural(items, &format!("{path}[]"), problems);
    }
    if let Some(ap @ Value::Object(_)) = m.get("additionalProperties") {
        check_structural(ap, &format!("{path}{{}}"), problems);
    }
}

#[test]
fn crd_schemas_are_structural() {
    for crd in appset::crd::crds() {
        let kind = crd.spec.names.kind.clone();
        // ApplicationSet status is appset's (a status subresource); Application status is Argo
        // CD's application controller's, written through the main resource as with Argo CD's CRD.
        let has_status_subresource = |want: bool| {
            crd.spec
                .versions
                .iter()
                .all(|v| v.subresources.as_ref().is_some_and(|s| s.status.is_some()) == want)
        };
        assert!(has_status_subresource(kind == "ApplicationSet"), "{kind}");
        for v in &crd.spec.versions {
            let schema =
                serde_json::to_value(v.schema.as_ref().and_then(|s| s.open_api_v3_schema.as_ref())).unwrap();
            let mut problems = Vec::new();
            check_structural(&schema, &kind, &mut problems);
            assert!(
                problems.is_empty(),
                "{kind} schema is not structural:\n{}",
                problems.join("\n")
            );
        }
    }
}

#[test]
fn application_set_crd_keeps_unknown_template_fields() {
    let crds = appset::crd::crds();
    let appset = serde_json::to_value(&crds[0]).unwrap();
    let spec = appset
        .pointer(
            "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/template/properties/spec",
        )
        .expect("template.spec schema");
    assert_eq!(spec["x-kubernetes-preserve-unknown-fields"], Value::Bool(true));
}
