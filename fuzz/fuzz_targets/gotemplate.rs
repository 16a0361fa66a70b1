//! goTemplate (Go text/template syntax with sprig, `goTemplate: true`) parser and runtime on
//! fixed nested parameters, with and without `missingkey=error`, under the service's fuel cap.
//! Invariants: no panic, bounded time, deterministic, errors have messages, `render_str` and a
//! compiled template field agree.
#![no_main]

use appset_fuzz::{check_template, engine, params};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static ENGINES: LazyLock<[appset::render::Engine; 2]> = LazyLock::new(|| {
    [
        engine(serde_json::json!({"goTemplate": true})),
        engine(serde_json::json!({"goTemplate": true, "goTemplateOptions": ["missingkey=error"]})),
    ]
});
static PARAMS: LazyLock<appset::Params> = LazyLock::new(|| params(true));

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let Ok(s) = std::str::from_utf8(rest) else {
        return;
    };
    check_template(&ENGINES[usize::from(first & 1)], &PARAMS, s);
});
