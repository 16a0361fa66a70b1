//! `appset serve`'s `/v1/render` (plain, with `?params=true&steps=true`, or with
//! `?params=true&tree=true`: the generator tree) and `/v1/diff`,
//! called in process through the router with the default limits and nothing live. Input: one
//! byte choosing the endpoint and the request/answer formats, then the body. Invariants: no
//! panic, bounded time and memory, every answer is a 200 with a body or an error object with a
//! message and a reason, the same request gets the same answer twice.
#![no_main]

use appset_fuzz::{check_answer, post};
use libfuzzer_sys::fuzz_target;

const PATHS: &[&str] = &[
    "/v1/render",
    "/v1/render?params=true&steps=true",
    "/v1/diff",
    "/v1/render?params=true&tree=true",
];
const TYPES: &[&str] = &["application/yaml", "application/json"];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let path = PATHS[usize::from(mode & 3)];
    let content_type = TYPES[usize::from((mode >> 2) & 1)];
    let accept = TYPES[usize::from((mode >> 3) & 1)];
    let a = post(path, content_type, accept, body.to_vec());
    check_answer(&a);
    let b = post(path, content_type, accept, body.to_vec());
    assert_eq!(a, b, "the same request got two answers");
});
