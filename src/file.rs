//! ApplicationSet files: the ApplicationSet document and, optionally, its recorded inputs.
//!
//! Stage: input (pure: parses text; reading the file is the caller's job). A file holds one
//! ApplicationSet (YAML or JSON) and may hold a second YAML document with the inputs it reads (git
//! trees, cluster Secrets, pull requests; see [`Recorded`]), so it renders with no network.

use serde_json::Value;

use crate::{
    crd::{self, ApplicationSet},
    sources::Recorded,
};

/// An ApplicationSet file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Not valid YAML.
    #[error("malformed YAML: {0}")]
    Yaml(String),
    /// No document at all.
    #[error("no ApplicationSet in the file")]
    Empty,
    /// The ApplicationSet document is invalid.
    #[error(transparent)]
    ApplicationSet(#[from] crd::ParseError),
    /// The recorded-inputs document is invalid.
    #[error("recorded inputs (second document): {field}: {message}")]
    Recorded {
        /// Field path.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// More than two documents.
    #[error("too many YAML documents (expected the ApplicationSet, then optionally its recorded inputs)")]
    TooManyDocuments,
}

/// Split a YAML (or JSON) stream into its non-empty documents.
pub fn documents(text: &str) -> Result<Vec<Value>, FileError> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| FileError::Yaml(e.to_string()))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// A parsed ApplicationSet file.
#[derive(Debug)]
pub struct ParsedFile {
    /// The ApplicationSet.
    pub appset: ApplicationSet,
    /// Its recorded inputs (empty when the file has none).
    pub recorded: Recorded,
    /// Fields of the ApplicationSet that were ignored (see [`crd::ignored_fields`]).
    pub ignored_fields: Vec<String>,
}

/// Parse an ApplicationSet file: the ApplicationSet and its recorded inputs (empty when absent).
pub fn parse(text: &str) -> Result<ParsedFile, FileError> {
    let mut docs = documents(text)?.into_iter();
    let first = docs.next().ok_or(FileError::Empty)?;
    let ignored_fields = crd::ignored_fields(&first);
    let appset = crd::parse_application_set(first)?;
    let recorded = match docs.next() {
        None => Recorded::default(),
        Some(doc) => serde_path_to_error::deserialize(doc).map_err(|e| FileError::Recorded {
            field: e.path().to_string(),
            message: e.into_inner().to_string(),
        })?,
    };
    if docs.next().is_some() {
        return Err(FileError::TooManyDocuments);
    }
    Ok(ParsedFile {
        appset,
        recorded,
        ignored_fields,
    })
}
