//! STUB (replaced by helper)
#![allow(missing_docs, unused)]
pub fn normalize(s: &str) -> String { s.to_lowercase() }
pub fn slug(s: &str, max_len: usize, smart_truncate: bool) -> String { s.to_lowercase() }
pub fn slugify(name: &str, max_len: usize, smart_truncate: bool) -> String { slug(&normalize(name), max_len, smart_truncate) }
pub fn go_format_value(v: &serde_json::Value) -> String { match v { serde_json::Value::String(s) => s.clone(), o => o.to_string() } }
pub fn go_quote(s: &str) -> String { format!("{s:?}") }
