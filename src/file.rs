//! ApplicationSet files: one or more ApplicationSets and, optionally, the inputs they read.
//!
//! Stage: input (pure: parses text; reading the file is the caller's job). A file is a YAML
//! stream (or one JSON document). Each document is one of:
//!
//! - an ApplicationSet (`kind: ApplicationSet`);
//! - a `kind: List` whose `items` are such documents (as `kubectl get -o yaml` writes them);
//! - recorded inputs (git trees, cluster Secrets, Secrets, pull requests; see [`Recorded`]),
//!   marked by `kind: RecordedInputs` (`apiVersion: appset.io/v1alpha1`), or a document with no
//!   `kind`, `apiVersion`, `metadata` or `spec` (the historical form: a second document holding
//!   only `git`, `clusters`, `pullRequests`, `secrets`, `applications`). Recorded inputs apply to
//!   every ApplicationSet of the file, wherever they stand; several such documents are merged;
//! - anything else (an `AppProject` kept beside its sets): skipped, and reported in
//!   [`FileSets::skipped`].
//!
//! [`parse_sets`] reads every ApplicationSet of a file (each one's parse error kept apart, so
//! one bad set does not hide the others); [`parse`] is for callers that expect exactly one.

use std::fmt;

use serde_json::Value;

use crate::{
    crd::{self, ApplicationSet},
    sources::Recorded,
};

/// The `apiVersion` of a recorded-inputs document.
pub const RECORDED_API_VERSION: &str = "appset.io/v1alpha1";
/// The `kind` of a recorded-inputs document.
pub const RECORDED_KIND: &str = "RecordedInputs";

/// An ApplicationSet file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Not valid YAML.
    #[error("malformed YAML: {0}")]
    Yaml(String),
    /// No ApplicationSet document at all.
    #[error("no ApplicationSet in the file{}", found_instead(.skipped))]
    Empty {
        /// The documents that are something else.
        skipped: Vec<Skipped>,
    },
    /// The ApplicationSet document is invalid.
    #[error(transparent)]
    ApplicationSet(#[from] crd::ParseError),
    /// A recorded-inputs document is invalid.
    #[error("{place}: recorded inputs: {field}: {message}")]
    Recorded {
        /// Where the document is.
        place: Place,
        /// Field path.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A `kind: List` document without an `items` list, or a list inside a list.
    #[error("{place}: {message}")]
    List {
        /// Where the document is.
        place: Place,
        /// What is wrong.
        message: String,
    },
    /// [`parse`] was given a file with several ApplicationSets.
    #[error(
        "{} ApplicationSets in the file, expected one ({})",
        .names.len(),
        .names.join(", ")
    )]
    SeveralSets {
        /// The sets' names (or places, for a set without a readable name).
        names: Vec<String>,
    },
}

fn found_instead(skipped: &[Skipped]) -> String {
    if skipped.is_empty() {
        return String::new();
    }
    let kinds: Vec<String> = skipped
        .iter()
        .map(|s| format!("{}: kind {}", s.place, s.kind))
        .collect();
    format!(" (found {})", kinds.join(", "))
}

/// Where a document stands in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// The document's number in the YAML stream, from 1 (empty documents are not counted).
    pub document: usize,
    /// Its index in the `items` of a `kind: List` document.
    pub item: Option<usize>,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "document {}", self.document)?;
        if let Some(i) = self.item {
            write!(f, " items[{i}]")?;
        }
        Ok(())
    }
}

/// A document of another kind, left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Where it is.
    pub place: Place,
    /// Its `kind`.
    pub kind: String,
}

/// One ApplicationSet of a file.
#[derive(Debug)]
pub struct FileSet {
    /// Where it is.
    pub place: Place,
    /// The ApplicationSet, or why its document is not a valid one.
    pub appset: Result<ApplicationSet, crd::ParseError>,
    /// Fields of the document that were ignored (see [`crd::ignored_fields`]).
    pub ignored_fields: Vec<String>,
}

impl FileSet {
    /// The set's name as messages give it: `ApplicationSet "name"`, or its place when its name
    /// could not be read.
    pub fn label(&self) -> String {
        match &self.appset {
            Ok(set) => format!("{:?}", set.metadata.name.clone().unwrap_or_default()),
            Err(e) => e
                .name
                .as_ref()
                .map_or_else(|| self.place.to_string(), |n| format!("{n:?}")),
        }
    }
}

/// Every ApplicationSet of a file, with the recorded inputs they all read.
#[derive(Debug)]
pub struct FileSets {
    /// The ApplicationSets, in file order (never empty).
    pub sets: Vec<FileSet>,
    /// The file's recorded inputs, merged (empty when it has none).
    pub recorded: Recorded,
    /// Documents of other kinds, left out.
    pub skipped: Vec<Skipped>,
}

/// A parsed file holding one ApplicationSet.
#[derive(Debug)]
pub struct ParsedFile {
    /// The ApplicationSet.
    pub appset: ApplicationSet,
    /// Its recorded inputs (empty when the file has none).
    pub recorded: Recorded,
    /// Fields of the ApplicationSet that were ignored (see [`crd::ignored_fields`]).
    pub ignored_fields: Vec<String>,
}

/// Split a YAML (or JSON) stream into its non-empty documents.
pub fn documents(text: &str) -> Result<Vec<Value>, FileError> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| FileError::Yaml(e.to_string()))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// What a document is.
enum Kind {
    Set,
    Recorded,
    List,
    Other(String),
}

fn kind_of(doc: &Value) -> Kind {
    let Value::Object(top) = doc else {
        // Not an object: let the ApplicationSet parser say so.
        return Kind::Set;
    };
    match top.get("kind") {
        Some(Value::String(k)) if k == "ApplicationSet" => Kind::Set,
        Some(Value::String(k)) if k == RECORDED_KIND => Kind::Recorded,
        Some(Value::String(k)) if k == "List" => Kind::List,
        Some(Value::String(k)) => Kind::Other(k.clone()),
        // A kind that is not a string: the ApplicationSet parser names the field.
        Some(_) => Kind::Set,
        // An ApplicationSet that forgot its kind still has one of these; recorded inputs have none.
        None if ["apiVersion", "metadata", "spec"]
            .iter()
            .any(|k| top.contains_key(*k)) =>
        {
            Kind::Set
        }
        None => Kind::Recorded,
    }
}

/// The recorded inputs of one document (`kind: RecordedInputs`, or one without a kind).
fn recorded(mut doc: Value, place: Place) -> Result<Recorded, FileError> {
    let err = |field: &str, message: String| FileError::Recorded {
        place,
        field: field.to_string(),
        message,
    };
    if let Value::Object(top) = &mut doc
        && top.get("kind").and_then(Value::as_str) == Some(RECORDED_KIND)
    {
        top.remove("kind");
        match top.remove("apiVersion") {
            None => {}
            Some(Value::String(v)) if v == RECORDED_API_VERSION => {}
            Some(other) => {
                return Err(err(
                    "apiVersion",
                    format!("expected {RECORDED_API_VERSION}, found {other}"),
                ));
            }
        }
        // A name for the reader; it means nothing here.
        top.remove("metadata");
    }
    serde_path_to_error::deserialize(doc).map_err(|e| err(&e.path().to_string(), e.into_inner().to_string()))
}

/// Sort one document (or a List item) into `out`.
fn sort_document(doc: Value, place: Place, out: &mut FileSets) -> Result<(), FileError> {
    match kind_of(&doc) {
        Kind::Set => {
            let ignored_fields = crd::ignored_fields(&doc);
            out.sets.push(FileSet {
                place,
                appset: crd::parse_application_set(doc),
                ignored_fields,
            });
        }
        Kind::Recorded => out.recorded.merge(recorded(doc, place)?),
        Kind::Other(kind) => out.skipped.push(Skipped { place, kind }),
        Kind::List if place.item.is_some() => {
            return Err(FileError::List {
                place,
                message: "a List inside a List".into(),
            });
        }
        Kind::List => {
            let Some(Value::Array(items)) = doc.get("items") else {
                return Err(FileError::List {
                    place,
                    message: "kind: List: `items` must be a list of ApplicationSets".into(),
                });
            };
            for (i, item) in items.iter().enumerate() {
                let place = Place {
                    item: Some(i),
                    ..place
                };
                sort_document(item.clone(), place, out)?;
            }
        }
    }
    Ok(())
}

/// Parse an ApplicationSet file: every ApplicationSet in it (each with its own parse result)
/// and the recorded inputs they share. Errors are about the whole file: malformed YAML, invalid
/// recorded inputs, a malformed List, or no ApplicationSet at all.
pub fn parse_sets(text: &str) -> Result<FileSets, FileError> {
    let mut out = FileSets {
        sets: Vec::new(),
        recorded: Recorded::default(),
        skipped: Vec::new(),
    };
    for (i, doc) in documents(text)?.into_iter().enumerate() {
        let place = Place {
            document: i + 1,
            item: None,
        };
        sort_document(doc, place, &mut out)?;
    }
    if out.sets.is_empty() {
        // One document of another kind: say what an ApplicationSet needs, as for a single set.
        if let [only] = out.skipped.as_slice()
            && only.place.item.is_none()
        {
            let doc = documents(text)?.into_iter().nth(only.place.document - 1);
            if let Some(Err(e)) = doc.map(crd::parse_application_set) {
                return Err(e.into());
            }
        }
        return Err(FileError::Empty { skipped: out.skipped });
    }
    Ok(out)
}

/// Parse a file that holds one ApplicationSet, with its recorded inputs (empty when absent).
/// A file with several ApplicationSets is an error naming them (see [`parse_sets`]).
pub fn parse(text: &str) -> Result<ParsedFile, FileError> {
    let mut file = parse_sets(text)?;
    if file.sets.len() > 1 {
        return Err(FileError::SeveralSets {
            names: file.sets.iter().map(FileSet::label).collect(),
        });
    }
    let set = file.sets.remove(0);
    Ok(ParsedFile {
        appset: set.appset?,
        recorded: file.recorded,
        ignored_fields: set.ignored_fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(name: &str) -> String {
        format!(
            "apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata: {{name: {name}}}\n\
             spec:\n  generators: [{{list: {{elements: [{{a: b}}]}}}}]\n  template:\n    \
             metadata: {{name: x}}\n    spec: {{project: default, destination: {{name: in-cluster, \
             namespace: x}}}}\n"
        )
    }

    const GIT: &str = "git:\n  https://example.com/r.git: {files: {a.yaml: ''}}\n";
    const CLUSTERS: &str = "clusters: []\n";

    fn names(file: &FileSets) -> Vec<String> {
        file.sets
            .iter()
            .map(|s| s.appset.as_ref().unwrap().metadata.name.clone().unwrap())
            .collect()
    }

    #[test]
    fn one_set_with_a_second_document_of_recorded_inputs_as_before() {
        let f = parse(&format!("{}---\n{GIT}", set("a"))).unwrap();
        assert_eq!(f.appset.metadata.name.as_deref(), Some("a"));
        assert!(f.recorded.git.contains_key("https://example.com/r.git"));
    }

    #[test]
    fn several_sets_in_order_with_recorded_inputs_anywhere() {
        let text = format!("{}---\n{GIT}---\n{}---\n{CLUSTERS}", set("a"), set("b"));
        let f = parse_sets(&text).unwrap();
        assert_eq!(names(&f), ["a", "b"]);
        assert_eq!(
            f.sets[1].place,
            Place {
                document: 3,
                item: None
            }
        );
        assert_eq!(f.recorded.git.len(), 1);
        assert_eq!(f.recorded.clusters.as_deref().map(<[_]>::len), Some(0));
        // The single-set parser names them instead of picking one.
        let e = parse(&text).unwrap_err().to_string();
        assert_eq!(e, r#"2 ApplicationSets in the file, expected one ("a", "b")"#);
    }

    #[test]
    fn recorded_inputs_marked_by_their_kind_come_first_or_anywhere() {
        let marked = format!(
            "apiVersion: {RECORDED_API_VERSION}\nkind: {RECORDED_KIND}\nmetadata: {{name: x}}\n{GIT}"
        );
        let f = parse_sets(&format!("{marked}---\n{}", set("a"))).unwrap();
        assert_eq!(names(&f), ["a"]);
        assert_eq!(f.recorded.git.len(), 1);

        let wrong = format!("apiVersion: v1\nkind: {RECORDED_KIND}\n{GIT}---\n{}", set("a"));
        let e = parse_sets(&wrong).unwrap_err().to_string();
        assert_eq!(
            e,
            r#"document 1: recorded inputs: apiVersion: expected appset.io/v1alpha1, found "v1""#
        );
    }

    #[test]
    fn a_list_holds_sets_and_recorded_inputs() {
        let doc: Value = serde_saphyr::from_str(&set("b")).unwrap();
        let list = serde_json::json!({
            "apiVersion": "v1",
            "kind": "List",
            "items": [serde_saphyr::from_str::<Value>(&set("a")).unwrap(), doc,
                      {"kind": RECORDED_KIND, "clusters": []}],
        });
        let f = parse_sets(&list.to_string()).unwrap();
        assert_eq!(names(&f), ["a", "b"]);
        assert_eq!(f.sets[1].place.to_string(), "document 1 items[1]");
        assert!(f.recorded.clusters.is_some());

        let e = parse_sets("kind: List\nitems: {a: b}\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "document 1: kind: List: `items` must be a list of ApplicationSets"
        );
        let e = parse_sets("kind: List\nitems: [{kind: List, items: []}]\n")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "document 1 items[0]: a List inside a List");
    }

    #[test]
    fn an_invalid_set_is_kept_apart_from_the_valid_ones() {
        let bad = set("b").replace("generators", "generatorz");
        let f = parse_sets(&format!("{}---\n{bad}", set("a"))).unwrap();
        assert!(f.sets[0].appset.is_ok());
        let e = f.sets[1].appset.as_ref().unwrap_err();
        assert_eq!(e.name.as_deref(), Some("b"));
        assert_eq!(f.sets[1].label(), r#""b""#);
    }

    #[test]
    fn other_kinds_are_skipped_and_a_file_of_none_is_an_error() {
        let project = "apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: {name: p}\n";
        let f = parse_sets(&format!("{project}---\n{}", set("a"))).unwrap();
        assert_eq!(names(&f), ["a"]);
        assert_eq!(
            f.skipped,
            [Skipped {
                place: Place {
                    document: 1,
                    item: None
                },
                kind: "AppProject".into()
            }]
        );
        // One document of another kind: the ApplicationSet parser's message, as for one set.
        let e = parse_sets(project).unwrap_err().to_string();
        assert!(
            e.contains(r#"kind: expected ApplicationSet, found "AppProject""#),
            "{e}"
        );
        let e = parse_sets(&format!("{project}---\n{project}"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "no ApplicationSet in the file (found document 1: kind AppProject, document 2: kind AppProject)"
        );
        assert_eq!(
            parse_sets(GIT).unwrap_err().to_string(),
            "no ApplicationSet in the file"
        );
        assert_eq!(
            parse_sets("").unwrap_err().to_string(),
            "no ApplicationSet in the file"
        );
    }

    #[test]
    fn a_document_without_a_kind_is_a_set_that_forgot_it_or_recorded_inputs() {
        // apiVersion/metadata/spec: an ApplicationSet without its kind, and the parser says so.
        let f = parse_sets(&set("a").replace("kind: ApplicationSet\n", "")).unwrap();
        let e = f.sets[0].appset.as_ref().unwrap_err().to_string();
        assert!(e.contains("kind: Required value"), "{e}");
        // Anything else is recorded inputs, and a misspelt key is named.
        let e = parse_sets(&format!("{}---\npullRequest: {{}}\n", set("a")))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("document 2: recorded inputs: pullRequest: unknown field `pullRequest`"),
            "{e}"
        );
    }
}
