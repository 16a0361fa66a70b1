//! Argo CD's default `{{param}}` substitution, exactly.
//!
//! Stage: render (pure). Argo CD runs `valyala/fasttemplate` with `{{` / `}}` over every string
//! of the template, and only over strings that match `.*{{.*}}.*` (a `{{` followed by `}}` on one
//! line). The tag text is trimmed of whitespace and looked up in the flat parameter map; when the
//! tag is empty, the key is missing or its value is not a string, the original `{{tag}}` is written
//! back verbatim. There is no escaping, no function and no nesting. An unterminated `{{` is an
//! error (`invalid template: Cannot find end tag=...`). appset additionally reports missing keys as
//! warnings so a typo does not go unnoticed.

use serde_json::Value;

use crate::{params::Params, text::go_quote};

/// A string parsed once and substituted for many parameter sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    /// The tag text between `{{` and `}}`, untrimmed.
    Tag(String),
}

/// A tag that was written back unsubstituted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    /// The trimmed tag.
    pub key: String,
    /// Whether the key exists with a non-string value (otherwise it is missing).
    pub not_a_string: bool,
}

/// Whether Argo CD would treat `s` as a template: some line holds `{{` and, after it, `}}`.
pub fn is_templated(s: &str) -> bool {
    s.split('\n')
        .any(|line| line.find("{{").is_some_and(|i| line[i + 2..].contains("}}")))
}

impl FastTemplate {
    /// Parse `s`. `Ok(None)`: not a template, use the string as is.
    pub fn parse(s: &str) -> Result<Option<FastTemplate>, String> {
        if !is_templated(s) {
            return Ok(None);
        }
        let mut parts = Vec::new();
        let mut rest = s;
        loop {
            let Some(start) = rest.find("{{") else {
                if !rest.is_empty() {
                    parts.push(Part::Text(rest.to_string()));
                }
                break;
            };
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                return Err(format!(
                    "invalid template: Cannot find end tag={} in the template={} starting from {}",
                    go_quote("}}"),
                    go_quote(s),
                    go_quote(after)
                ));
            };
            parts.push(Part::Tag(after[..end].to_string()));
            rest = &after[end + 2..];
        }
        Ok(Some(FastTemplate { parts }))
    }

    /// Substitute `params`; tags that cannot be substituted are written back and reported.
    pub fn execute(&self, params: &Params, unresolved: &mut Vec<Unresolved>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Tag(tag) => {
                    let key = tag.trim();
                    match params.get(key) {
                        Some(Value::String(v)) if !key.is_empty() => out.push_str(v),
                        other => {
                            if !key.is_empty() {
                                unresolved.push(Unresolved {
                                    key: key.to_string(),
                                    not_a_string: other.is_some(),
                                });
                            }
                            out.push_str("{{");
                            out.push_str(tag);
                            out.push_str("}}");
                        }
                    }
                }
            }
        }
        out
    }
}

/// Parse and substitute in one go (Argo CD's `Replace` in fasttemplate mode).
pub fn replace(s: &str, params: &Params, unresolved: &mut Vec<Unresolved>) -> Result<String, String> {
    Ok(match FastTemplate::parse(s)? {
        None => s.to_string(),
        Some(t) => t.execute(params, unresolved),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> Params {
        serde_json::from_value(v).unwrap()
    }

    fn r(s: &str, p: &Params) -> String {
        replace(s, p, &mut Vec::new()).unwrap()
    }

    #[test]
    fn substitutes_trimmed_tags_and_keeps_surrounding_text() {
        let p = params(json!({"cluster": "dev", "path.basename": "guestbook"}));
        assert_eq!(r("{{cluster}}-{{ path.basename }}!", &p), "dev-guestbook!");
    }

    #[test]
    fn missing_keys_and_non_strings_are_written_back_verbatim_and_reported() {
        let p = params(json!({"n": 1, "s": "x"}));
        let mut unresolved = Vec::new();
        let out = replace("{{ missing }}/{{n}}/{{s}}/{{}}", &p, &mut unresolved).unwrap();
        assert_eq!(out, "{{ missing }}/{{n}}/x/{{}}");
        assert_eq!(
            unresolved,
            [
                Unresolved {
                    key: "missing".into(),
                    not_a_string: false
                },
                Unresolved {
                    key: "n".into(),
                    not_a_string: true
                }
            ]
        );
    }

    #[test]
    fn strings_without_braces_on_one_line_are_not_templates() {
        let p = params(json!({"a": "x"}));
        // `{{` and `}}` on different lines: Argo's regex does not match, the string is kept,
        // even though it holds an unterminated tag on the first line.
        assert_eq!(r("{{a\n}}", &p), "{{a\n}}");
        assert_eq!(r("plain", &p), "plain");
    }

    #[test]
    fn an_unterminated_tag_on_a_templated_string_is_an_error() {
        let err = replace("{{a}} {{b", &Params::new(), &mut Vec::new()).unwrap_err();
        assert_eq!(
            err,
            r#"invalid template: Cannot find end tag="}}" in the template="{{a}} {{b" starting from "b""#
        );
    }

    #[test]
    fn the_first_closing_braces_end_the_tag() {
        let p = params(json!({"a{{b": "no", "x": "y"}));
        assert_eq!(r("{{{x}}}", &p), "{{{x}}}");
        assert_eq!(r("{{a{{b}}", &p), "no");
    }
}
