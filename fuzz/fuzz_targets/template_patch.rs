//! `templatePatch`: the strategic merge patch itself on two YAML documents (target, patch), and a
//! goTemplate `templatePatch` string inside a fixed ApplicationSet rendered by the pipeline.
//! Invariants: no panic, deterministic, a failed merge leaves the target unchanged and has a
//! message, a patched Application is still an object.
#![no_main]

use appset_fuzz::{check_message, render_cli, service_options};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if mode & 1 == 0 {
        let Ok(docs) = serde_saphyr::from_multiple::<Value>(text) else {
            return;
        };
        let (Some(target), Some(patch)) = (docs.first(), docs.get(1)) else {
            return;
        };
        let mut a = target.clone();
        let ra = appset::render::patch::strategic_merge(&mut a, patch);
        let mut b = target.clone();
        let rb = appset::render::patch::strategic_merge(&mut b, patch);
        assert_eq!(ra, rb, "strategic_merge is not deterministic");
        assert_eq!(a, b, "strategic_merge is not deterministic");
        match ra {
            Ok(()) => assert!(a.is_object()),
            Err(e) => {
                check_message("strategic_merge", &e.to_string());
                assert_eq!(&a, target, "a failed merge changed the target");
            }
        }
    } else {
        let go = mode & 2 == 0;
        let set = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": "patched"},
            "spec": {
                "goTemplate": go,
                "templateEngine": if go { "gotemplate" } else { "jinja" },
                "generators": [{"list": {"elements": [
                    {"cluster": "in-cluster", "labels": {"env": "prod"}, "n": 2},
                    {"cluster": "remote", "labels": {}, "n": 0}
                ]}}],
                "template": {
                    "metadata": {"name": if go { "{{ .cluster }}-app" } else { "{{ cluster }}-app" }},
                    "spec": {"project": "default",
                             "source": {"repoURL": "https://example.com/r.git", "path": "apps", "targetRevision": "HEAD"},
                             "destination": {"server": "https://kubernetes.default.svc", "namespace": "apps"}}
                },
                "templatePatch": text
            }
        });
        let set = set.to_string();
        let a = render_cli(&set, &service_options());
        let b = render_cli(&set, &service_options());
        assert_eq!(a, b, "the pipeline is not deterministic");
        match a {
            Ok(apps) => assert!(apps.iter().all(Value::is_object)),
            Err(e) => check_message("templatePatch", &e),
        }
    }
});
