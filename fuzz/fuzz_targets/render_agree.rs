//! Structure-aware: an `Arbitrary` ApplicationSet whose generators nest list, matrix and merge
//! generators (with selectors and elements drawn from a small vocabulary, so that merge keys and
//! templates meet), in any of the three template engines, serialized to YAML. The CLI's pipeline
//! (`appset render`) and the service's `/v1/render` must agree: the same Applications, or both an
//! error. Invariants besides: no panic, bounded time and memory, deterministic, errors have
//! messages.
#![no_main]

use appset_fuzz::{check_answer, check_message, post, render_cli, service_options};
use arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

const KEYS: &[&str] = &["cluster", "env", "app", "n"];
const VALUES: &[&str] = &[
    "a",
    "b",
    "prod",
    "in-cluster",
    "x.y",
    "",
    "UPPER",
    "a b",
    "{{cluster}}",
];
const MAX_DEPTH: usize = 3;

/// The ApplicationSet, as YAML text.
#[derive(Debug)]
struct Set(String);

fn value(u: &mut Unstructured) -> Result<Value> {
    Ok(match u.int_in_range(0..=9)? {
        0 => Value::String(String::arbitrary(u)?.chars().take(12).collect()),
        1 => json!(u.int_in_range(-3..=300)?),
        2 => json!(bool::arbitrary(u)?),
        _ => json!(u.choose(VALUES)?),
    })
}

fn keys(u: &mut Unstructured) -> Result<Vec<&'static str>> {
    let mut out = Vec::new();
    for k in KEYS {
        if bool::arbitrary(u)? {
            out.push(*k);
        }
    }
    Ok(out)
}

fn generator(u: &mut Unstructured, depth: usize) -> Result<Value> {
    let kind = if depth >= MAX_DEPTH {
        0
    } else {
        u.int_in_range(0..=2)?
    };
    let mut g = match kind {
        0 => {
            let n = u.int_in_range(0..=4)?;
            let mut elements = Vec::new();
            for _ in 0..n {
                let mut e = Map::new();
                for k in keys(u)? {
                    e.insert(k.to_string(), value(u)?);
                }
                elements.push(Value::Object(e));
            }
            json!({"list": {"elements": elements}})
        }
        1 => json!({"matrix": {"generators": [generator(u, depth + 1)?, generator(u, depth + 1)?]}}),
        _ => {
            let n = u.int_in_range(1..=3)?;
            let mut children = Vec::new();
            for _ in 0..n {
                children.push(generator(u, depth + 1)?);
            }
            json!({"merge": {"mergeKeys": keys(u)?, "generators": children}})
        }
    };
    if u.ratio(1, 4)? {
        let key = u.choose(KEYS)?;
        let selector = if bool::arbitrary(u)? {
            json!({"matchLabels": {*key: u.choose(VALUES)?}})
        } else {
            let op = u.choose(&["In", "NotIn", "Exists", "DoesNotExist", "in"])?;
            json!({"matchExpressions": [{"key": key, "operator": op, "values": [u.choose(VALUES)?]}]})
        };
        if let Some(obj) = g
            .as_object_mut()
            .and_then(|o| o.values_mut().next())
            .and_then(Value::as_object_mut)
        {
            obj.insert("selector".into(), selector);
        }
    }
    Ok(g)
}

impl<'a> Arbitrary<'a> for Set {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let engine = u.int_in_range(0..=2)?;
        let (open, close, dot) = match engine {
            0 => ("{{", "}}", ""),
            1 => ("{{ ", " }}", "."),
            _ => ("{{ ", " }}", ""),
        };
        let mut name = String::from("app");
        for k in keys(u)? {
            name.push_str(&format!("-{open}{dot}{k}{close}"));
        }
        if u.ratio(1, 4)? {
            name.push_str(&String::arbitrary(u)?.chars().take(16).collect::<String>());
        }
        let mut spec = json!({
            "generators": [generator(u, 0)?],
            "template": {
                "metadata": {"name": name},
                "spec": {"project": "default",
                         "source": {"repoURL": "https://example.com/r.git", "path": format!("apps/{open}{dot}env{close}"), "targetRevision": "HEAD"},
                         "destination": {"server": "https://kubernetes.default.svc", "namespace": "default"}}
            }
        });
        match engine {
            1 => {
                spec["goTemplate"] = json!(true);
                if bool::arbitrary(u)? {
                    spec["goTemplateOptions"] = json!(["missingkey=error"]);
                }
            }
            2 => spec["templateEngine"] = json!("jinja"),
            _ => {}
        }
        let set = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": "fuzz"}, "spec": spec
        });
        Ok(Set(serde_saphyr::to_string(&set).expect("YAML")))
    }
}

fuzz_target!(|set: Set| {
    let text = set.0;
    let cli = render_cli(&text, &service_options());
    assert_eq!(
        cli,
        render_cli(&text, &service_options()),
        "the pipeline is not deterministic"
    );
    let answer = post(
        "/v1/render",
        "application/yaml",
        "application/json",
        text.clone().into_bytes(),
    );
    check_answer(&answer);
    match &cli {
        Ok(apps) => {
            assert_eq!(
                answer.status,
                200,
                "the CLI rendered, the service refused: {}",
                String::from_utf8_lossy(&answer.body)
            );
            let v: Value = serde_json::from_slice(&answer.body).expect("JSON");
            assert_eq!(
                &v["applications"],
                &Value::Array(apps.clone()),
                "the CLI and the service disagree"
            );
        }
        Err(e) => {
            check_message("render", e);
            assert_ne!(answer.status, 200, "the CLI refused ({e}), the service rendered");
        }
    }
});
