//! Golden cases: every file under `generators/` and `templates/` is rendered offline (recorded
//! inputs only, no network) and snapshotted into `snapshots/`.
//!
//! A file whose name starts with `err-` must fail; any other file must succeed. The snapshot holds
//! the parameter sets (for generator cases), the Applications as YAML, warnings, and validation
//! errors — or the error message. Review `.snap.new` files as files, then accept with
//! `INSTA_UPDATE=always cargo test --test golden`.

use std::path::Path;

use appset::{
    pipeline::{self, Options},
    sources::Inputs,
};

fn render_case(path: &Path) -> (bool, String) {
    let text = std::fs::read_to_string(path).expect("read case");
    let parsed = match appset::file::parse(&text) {
        Ok(x) => x,
        Err(e) => return (false, format!("error: {e}\n")),
    };
    let (appset, recorded) = (parsed.appset, parsed.recorded);
    let inputs = Inputs::recorded(recorded);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let result = runtime.block_on(pipeline::generate_applications(
        &appset,
        &inputs,
        &Options::default(),
    ));
    match result {
        Err(e) => (false, format!("error: {e}\n")),
        Ok(out) => {
            let mut s = String::new();
            let show_params = path.components().any(|c| c.as_os_str() == "generators");
            if show_params {
                s.push_str("# parameter sets\n");
                for p in &out.params {
                    s.push_str(&serde_json::to_string(p).expect("json"));
                    s.push('\n');
                }
            }
            for f in &parsed.ignored_fields {
                s.push_str(&format!("# warning: unknown field {f} ignored\n"));
            }
            for w in &out.warnings {
                s.push_str(&format!("# warning: {}: {}\n", w.field, w.message));
            }
            for inv in &out.invalid {
                s.push_str(&format!("# invalid: {}\n", inv.message));
            }
            s.push_str(&format!("# {} applications\n", out.applications.len()));
            for app in &out.applications {
                s.push_str("---\n");
                s.push_str(&serde_saphyr::to_string(app).expect("yaml"));
            }
            (out.invalid.is_empty(), s)
        }
    }
}

fn check(path: &Path, mismatches: &mut Vec<String>) {
    let (ok, snapshot) = render_case(path);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let expect_error = name.starts_with("err-");
    // generators/list/three-clusters.yaml -> generators__list__three-clusters
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let rel = path.strip_prefix(root).unwrap_or(path).with_extension("");
    let snapshot_name = rel.to_string_lossy().replace(['/', '\\'], "__");
    insta::with_settings!({ snapshot_suffix => "", input_file => path }, {
        insta::assert_snapshot!(snapshot_name, snapshot);
    });
    if ok == expect_error {
        mismatches.push(format!(
            "{}: {}",
            path.display(),
            if ok { "succeeded" } else { "failed" }
        ));
    }
}

fn run(dir: &str) {
    let mut mismatches = Vec::new();
    insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false, omit_expression => true }, {
        match dir {
            "generators" => insta::glob!("../generators", "**/*.yaml", |p| check(p, &mut mismatches)),
            _ => insta::glob!("../templates", "**/*.yaml", |p| check(p, &mut mismatches)),
        }
    });
    assert!(
        mismatches.is_empty(),
        "files named err-* must fail, others must succeed:\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn generator_cases() {
    run("generators");
}

#[test]
fn template_cases() {
    run("templates");
}

/// No input makes the engine panic: every golden file, cut short at many points and with bytes
/// flipped, either renders or fails with an error.
#[test]
fn truncated_and_corrupted_inputs_never_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut files = Vec::new();
    for dir in ["generators", "templates"] {
        let mut stack = vec![root.join(dir)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("read dir").flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "yaml") {
                    files.push(p);
                }
            }
        }
    }
    assert!(files.len() > 40);
    let mut cases = 0;
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read");
        let bytes = text.as_bytes();
        let mut variants = Vec::new();
        for cut in (0..bytes.len()).step_by(97) {
            variants.push(String::from_utf8_lossy(&bytes[..cut]).into_owned());
        }
        for (i, flip) in [b'{', b'}', b':', b'[', b'-', b'\n', b' ', b'*', b'"']
            .iter()
            .enumerate()
        {
            let mut b = bytes.to_vec();
            let at = (i * 131 + 17) % b.len().max(1);
            if let Some(x) = b.get_mut(at) {
                *x = *flip;
            }
            variants.push(String::from_utf8_lossy(&b).into_owned());
        }
        for v in variants {
            cases += 1;
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                if let Ok(parsed) = appset::file::parse(&v) {
                    let inputs = Inputs::recorded(parsed.recorded);
                    let _ = runtime.block_on(pipeline::generate_applications(
                        &parsed.appset,
                        &inputs,
                        &Options::default(),
                    ));
                }
            }));
            assert!(
                result.is_ok(),
                "{}: panicked on a corrupted variant:\n{v}",
                f.display()
            );
        }
    }
    assert!(cases > 500, "{cases}");
}
