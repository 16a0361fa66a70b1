//! Label selectors (`matchLabels` + `matchExpressions`) as written in YAML, parsed strictly
//! (cluster generator) and keys-only (post-generator `selector`), then matched against labels
//! given in the same input. Input: a YAML document `{selector: ..., labels: {...}}`.
//! Invariants: no panic, deterministic, errors have messages, a strict parse that succeeds also
//! succeeds keys-only and means the same, the empty selector matches everything, the query string
//! is stable.
#![no_main]

use std::collections::BTreeMap;

use appset::generators::selector::{Selector, ValueValidation};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(doc) = serde_saphyr::from_str::<Value>(text) else {
        return;
    };
    let Ok(sel) =
        serde_json::from_value::<LabelSelector>(doc.get("selector").cloned().unwrap_or(doc.clone()))
    else {
        return;
    };
    let labels: BTreeMap<String, String> = doc
        .get("labels")
        .cloned()
        .and_then(|l| serde_json::from_value(l).ok())
        .unwrap_or_default();

    let strict = Selector::parse(&sel, ValueValidation::Strict);
    assert_eq!(
        strict,
        Selector::parse(&sel, ValueValidation::Strict),
        "Selector::parse is not deterministic"
    );
    let loose = Selector::parse(&sel, ValueValidation::KeysOnly);
    for r in [&strict, &loose] {
        match r {
            Ok(s) => {
                let m = s.matches(&labels);
                assert_eq!(m, s.matches(&labels));
                if s.is_empty() {
                    assert!(m, "the empty selector must match everything");
                }
                assert_eq!(s.to_query(), s.to_query());
            }
            Err(e) => assert!(
                !e.to_string().trim().is_empty(),
                "a selector error without a message"
            ),
        }
    }
    if let Ok(s) = &strict {
        assert_eq!(
            loose.as_ref(),
            Ok(s),
            "a strict selector means something else keys-only"
        );
    }
});
