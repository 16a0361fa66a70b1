//! The playground: a web page at `/` of `appset serve` that shows what an ApplicationSet
//! generates as it is typed, and the bundled examples it loads.
//!
//! Stage: serve (I/O: none of its own; it answers HTTP with what is compiled into the binary).
//! The page (`playground/index.html`, `app.js`, `style.css`) is embedded as is: no build step, no
//! CDN, nothing fetched from elsewhere, so it works with no network. It calls the service's own
//! `/v1/render` and `/v1/diff`; its state lives in the URL fragment, which a browser never sends.
//!
//! Every answer of the page carries a strict Content-Security-Policy: scripts, styles and
//! requests only from the server itself, no inline script, no frames, no forms, no plugins.
//!
//! - `GET /`: the page;
//! - `GET /playground/app.js`, `GET /playground/style.css`: its script and style;
//! - `GET /v1/examples`: every example under `generators/` and `templates/` ([`examples`]).

use axum::{
    Router,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Serialize;

const INDEX: &str = include_str!("../playground/index.html");
const APP_JS: &str = include_str!("../playground/app.js");
const STYLE_CSS: &str = include_str!("../playground/style.css");

/// The Content-Security-Policy of the page: nothing but the server itself, no inline script or
/// style, no framing, no form posts, no plugins, and images only from the server or `data:`.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
     img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The bundled examples: (path under the repository, text), in path order.
const EXAMPLES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/examples.rs"));

/// One bundled example, as the Examples menu shows and loads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Example {
    /// Its path in the repository (`generators/list/three-clusters.yaml`).
    pub path: String,
    /// What it shows: its leading comment, joined into one line (empty when it has none).
    pub title: String,
    /// The ApplicationSet: the file's first YAML document.
    pub application_set: String,
    /// The recorded inputs: the rest of the file after the first `---` line (empty when none).
    pub inputs: String,
}

/// Split an example file at its first document separator that follows the ApplicationSet
/// (a `---` line, trailing spaces allowed; one before any content only starts the first
/// document).
fn split_documents(text: &str) -> (&str, &str) {
    let mut offset = 0;
    let mut seen_content = false;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end();
        if bare == "---" {
            if seen_content {
                return (&text[..offset], &text[offset + line.len()..]);
            }
        } else if !bare.trim_start().is_empty() && !bare.trim_start().starts_with('#') {
            seen_content = true;
        }
        offset += line.len();
    }
    (text, "")
}

/// The leading comment of an example, its `# ` lines joined.
fn title(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every bundled example under `generators/` and `templates/`, in path order.
pub fn examples() -> Vec<Example> {
    EXAMPLES
        .iter()
        .map(|(path, text)| {
            let (set, inputs) = split_documents(text);
            Example {
                path: (*path).to_string(),
                title: title(text),
                application_set: set.to_string(),
                inputs: inputs.trim_start_matches('\n').to_string(),
            }
        })
        .collect()
}

/// An embedded asset with its type, the CSP and no caching beyond revalidation (the binary may
/// change under the same URL).
fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Bytes of the embedded page, script and style (what a browser downloads for the page).
pub fn asset_bytes() -> usize {
    INDEX.len() + APP_JS.len() + STYLE_CSS.len()
}

/// The playground's routes: the page, its assets and `/v1/examples`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { asset("text/html; charset=utf-8", INDEX) }))
        .route(
            "/playground/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/playground/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
        .route("/v1/examples", get(|| async { axum::Json(examples()) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_example_is_embedded_split_and_titled() {
        let all = examples();
        let on_disk = ["generators", "templates"]
            .iter()
            .flat_map(|d| walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(d)))
            .count();
        assert_eq!(all.len(), on_disk, "every .yaml under generators/ and templates/");
        let three = all
            .iter()
            .find(|e| e.path == "generators/list/three-clusters.yaml")
            .expect("the list example");
        assert!(
            three.title.starts_with("The list generator example"),
            "{}",
            three.title
        );
        assert!(three.application_set.contains("kind: ApplicationSet"));
        assert!(three.inputs.is_empty());
        let matrix = all
            .iter()
            .find(|e| e.path == "generators/matrix/env-by-directories.yaml")
            .expect("the matrix example");
        assert!(!matrix.application_set.contains("apps/billing/base"));
        assert!(matrix.inputs.starts_with("git:"), "{:?}", matrix.inputs);
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else if p.extension().is_some_and(|x| x == "yaml") {
                out.push(p);
            }
        }
        out
    }

    #[test]
    fn a_leading_separator_starts_the_first_document() {
        assert_eq!(
            split_documents("---\na: 1\n---\nb: 2\n"),
            ("---\na: 1\n", "b: 2\n")
        );
        assert_eq!(split_documents("# c\n---\na: 1\n"), ("# c\n---\na: 1\n", ""));
        assert_eq!(split_documents("a: 1\n--- \nb\n"), ("a: 1\n", "b\n"));
        assert_eq!(split_documents("a: |\n  x\n  ---\n"), ("a: |\n  x\n  ---\n", ""));
        assert_eq!(split_documents("a: '---'\n"), ("a: '---'\n", ""));
    }
}
