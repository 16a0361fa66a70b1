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

/// A matrix of two list generators of `n` elements each (`{a: "i"}` × `{b: "j"}`), as YAML.
fn square_matrix_text(n: usize) -> String {
    let list = |key: &str| {
        (0..n)
            .map(|i| format!("{{{key}: '{i}'}}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: square}}\nspec:\n  \
         generators:\n  - matrix:\n      generators:\n      - list: {{elements: [{}]}}\n      - list: {{elements: [{}]}}\n  \
         template:\n    metadata: {{name: 'app-{{{{a}}}}-{{{{b}}}}'}}\n    spec:\n      project: default\n      \
         destination: {{server: 'https://kubernetes.default.svc', namespace: x}}\n",
        list("a"),
        list("b")
    )
}

/// [`square_matrix_text`], parsed.
fn square_matrix(n: usize) -> appset::ApplicationSet {
    appset::file::parse(&square_matrix_text(n))
        .expect("appset")
        .appset
}

/// The heap a refusal may take (the product it refuses would take far more: 637 MiB for the
/// pipeline's 2,000 × 2,000 before the fix, 11.6 MiB for the service's first 10,000 sets).
const BOUND: usize = 8 << 20;

/// One test at a time: the counters see the whole process.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Run `f`, returning its result and the heap peak it reached above where it started (no other
/// test of this file runs meanwhile).
async fn peak_of<T>(f: impl std::future::Future<Output = T>) -> (T, usize) {
    let _alone = SERIAL.lock().await;
    let before = IN_USE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = f.await;
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(before))
}

#[tokio::test]
async fn a_matrix_over_the_limit_is_refused_before_its_product_is_built() {
    let set = square_matrix(2_000);
    let inputs = Inputs::new(Recorded::default(), LiveConfig::default());
    let (err, peak) = peak_of(generate_applications(&set, &inputs, &Options::default())).await;
    let err = err
        .expect_err("4,000,000 parameter sets are over the default limit")
        .to_string();
    assert!(
        err.contains("the matrix produces more than 1000000 parameter sets (the limit)"),
        "{err}"
    );
    assert!(err.contains("spec.generators[0].matrix"), "{err}");
    println!("peak heap above the start: {} KiB", peak / 1024);
    assert!(
        peak < BOUND,
        "the refusal took {} MiB of heap: the product was built",
        peak >> 20
    );
}

#[tokio::test]
async fn a_matrix_under_the_limit_is_still_built_in_full() {
    let set = square_matrix(300);
    let inputs = Inputs::new(Recorded::default(), LiveConfig::default());
    let (out, _) = peak_of(generate_applications(&set, &inputs, &Options::default())).await;
    let out = out.expect("90,000 parameter sets are under the limit");
    assert_eq!(out.applications.len(), 90_000);
    assert_eq!(out.params[90_000 - 1]["b"], "299");
}

/// `appset serve`'s `/v1/render` (its limit: 10,000 parameter sets) answers the same matrix
/// with 422 and the limit error, within the same heap bound.
#[tokio::test]
async fn the_service_refuses_the_matrix_within_the_same_bound() {
    use tower::ServiceExt;
    let app = appset::service::api(
        appset::service::ServiceConfig {
            namespace: "argocd".into(),
            live: LiveConfig::default(),
            limits: Default::default(),
            git: Default::default(),
        },
        std::sync::Arc::new(appset::metrics::Metrics::default()),
    );
    let body = square_matrix_text(2_000);
    let request = axum::http::Request::post("/v1/render")
        .header("content-type", "application/yaml")
        .body(axum::body::Body::from(body))
        .unwrap();
    let (answer, peak) = peak_of(async {
        let response = app.oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    })
    .await;
    assert_eq!(answer.0, 422, "{}", answer.1);
    assert!(
        answer.1.contains("more than 10000 parameter sets"),
        "{}",
        answer.1
    );
    println!("service: peak heap above the start: {} KiB", peak / 1024);
    assert!(peak < BOUND, "the refusal took {} MiB of heap", peak >> 20);
}
