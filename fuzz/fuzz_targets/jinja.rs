//! jinja templates (minijinja, `templateEngine: jinja`) on fixed nested parameters, under the
//! service's fuel cap. Invariants: no panic, bounded time (fuel), deterministic, errors have
//! messages, `render_str` and a compiled template field agree.
#![no_main]

use appset_fuzz::{check_template, engine, params};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static ENGINE: LazyLock<appset::render::Engine> =
    LazyLock::new(|| engine(serde_json::json!({"templateEngine": "jinja"})));
static PARAMS: LazyLock<appset::Params> = LazyLock::new(|| params(true));

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    check_template(&ENGINE, &PARAMS, s);
});
