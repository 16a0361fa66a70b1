//! Argo CD's default `{{param}}` templates (fasttemplate) on fixed flat parameters: `replace`,
//! the engine's `render_str` and a compiled template field. Invariants: no panic, deterministic,
//! errors have messages, the render paths agree.
#![no_main]

use appset_fuzz::{check_message, check_template, engine, params};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static ENGINE: LazyLock<appset::render::Engine> = LazyLock::new(|| engine(serde_json::json!({})));
static PARAMS: LazyLock<appset::Params> = LazyLock::new(|| params(false));

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let mut unresolved = Vec::new();
    let a = appset::render::fasttemplate::replace(s, &PARAMS, &mut unresolved);
    let b = appset::render::fasttemplate::replace(s, &PARAMS, &mut Vec::new());
    assert_eq!(a, b, "replace is not deterministic");
    if let Err(e) = &a {
        check_message("replace", e);
    }
    assert!(
        appset::render::fasttemplate::is_templated(s) || a.as_deref() == Ok(s),
        "a string without tags changed"
    );
    check_template(&ENGINE, &PARAMS, s);
});
