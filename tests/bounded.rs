//! Bounded before built: a matrix whose product is over the limit is refused before the product
//! exists. The whole heap of this test process is counted by a global allocator that keeps the
//! peak, so the bound is measured, not assumed: a 2,000 × 2,000 list matrix used to reach about
//! 700 MB resident before the "more than 1000000 parameter sets" refusal.

#![allow(unsafe_code)] // the counting global allocator

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::atomic::{AtomicUsize, Ordering},
};

use appset::{
    pipeline::{Options, generate_applications},
    sources::{Inputs, LiveConfig, Recorded},
};

/// The system allocator, counting the bytes in use and their peak.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = IN_USE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System` with the same arguments; the counters are atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A matrix of two list generators of `n` elements each (`{a: "i"}` × `{b: "j"}`).
fn square_matrix(n: usize) -> appset::ApplicationSet {
    let list = |key: &str| {
        (0..n)
            .map(|i| format!("{{{key}: '{i}'}}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let text = format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: square}}\nspec:\n  \
         generators:\n  - matrix:\n      generators:\n      - list: {{elements: [{}]}}\n      - list: {{elements: [{}]}}\n  \
         template:\n    metadata: {{name: 'app-{{{{a}}}}-{{{{b}}}}'}}\n    spec:\n      project: default\n      \
         destination: {{server: 'https://kubernetes.default.svc', namespace: x}}\n",
        list("a"),
        list("b")
    );
    appset::file::parse(&text).expect("appset").appset
}

#[tokio::test]
async fn a_matrix_over_the_limit_is_refused_before_its_product_is_built() {
    let set = square_matrix(2_000);
    let inputs = Inputs::new(Recorded::default(), LiveConfig::default());
    let before = IN_USE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let err = generate_applications(&set, &inputs, &Options::default())
        .await
        .expect_err("4,000,000 parameter sets are over the default limit")
        .to_string();
    assert!(
        err.contains("the matrix produces more than 1000000 parameter sets (the limit)"),
        "{err}"
    );
    assert!(err.contains("spec.generators[0].matrix"), "{err}");
    let peak = PEAK.load(Ordering::Relaxed) - before;
    println!("peak heap above the start: {} KiB", peak / 1024);
    assert!(
        peak < 16 << 20,
        "the refusal took {} MiB of heap: the product was built",
        peak >> 20
    );
}

#[tokio::test]
async fn a_matrix_under_the_limit_is_still_built_in_full() {
    let set = square_matrix(300);
    let inputs = Inputs::new(Recorded::default(), LiveConfig::default());
    let out = generate_applications(&set, &inputs, &Options::default())
        .await
        .expect("90,000 parameter sets are under the limit");
    assert_eq!(out.applications.len(), 90_000);
    assert_eq!(out.params[90_000 - 1]["b"], "299");
}
