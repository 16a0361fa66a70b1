//! Whole ApplicationSet files with recorded inputs (git trees, cluster Secrets, pull requests,
//! plugin answers, ...) rendered by the CLI's pipeline with nothing live (`appset render
//! --offline`); each document also through the `--clusters` and `--pull-requests` decoders.
//! Invariants: no panic, bounded time and memory, deterministic (Applications or error text),
//! errors have messages, rendered Applications are objects with a name.
#![no_main]

use appset::sources::{parse_cluster_secrets, parse_pull_requests};
use appset_fuzz::{check_message, render_cli, service_options};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(docs) = serde_saphyr::from_multiple::<Value>(text) {
        for doc in docs.iter().skip(1) {
            let a = parse_pull_requests(doc.clone());
            assert_eq!(
                format!("{a:?}"),
                format!("{:?}", parse_pull_requests(doc.clone()))
            );
            if let Err(e) = &a {
                check_message("parse_pull_requests", e);
            }
            let inner = doc.get("clusters").cloned().unwrap_or(Value::Null);
            let items: Vec<Value> = inner.as_array().cloned().unwrap_or_default();
            if let Err(e) = parse_cluster_secrets(items) {
                check_message("parse_cluster_secrets", &e);
            }
        }
    }
    let a = render_cli(text, &service_options());
    let b = render_cli(text, &service_options());
    assert_eq!(a, b, "the pipeline is not deterministic");
    match a {
        Ok(apps) => {
            for app in &apps {
                assert!(app.is_object(), "an Application that is not an object");
                let name = app["metadata"]["name"].as_str().unwrap_or_default();
                assert!(!name.is_empty(), "a valid Application without a name: {app}");
            }
        }
        Err(e) => check_message("render", &e),
    }
});
