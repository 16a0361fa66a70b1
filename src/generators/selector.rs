//! Generator stage: Kubernetes label selectors as Argo CD's ApplicationSet controller uses them, both for
//! the post-generator `selector` that filters parameter sets and for the cluster generator's Secret
//! selector.
//!
//! Pure: parsing, validation, matching and rendering only, no I/O. Validation follows Kubernetes'
//! `IsQualifiedName` / `IsValidLabelValue` rules and reproduces their error wording.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// How strictly [`Selector::parse`] checks requirement values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueValidation {
    /// Values must be valid Kubernetes label values (the cluster generator's Secret selector).
    Strict,
    /// Only keys are validated, so arbitrary strings such as URLs can be matched (Argo CD's copy of
    /// `LabelSelectorAsSelector` used by the post-generator `selector`).
    KeysOnly,
}

/// Why a label selector was rejected; the wording follows Kubernetes and Argo CD.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A `matchExpressions` operator other than `In`, `NotIn`, `Exists` or `DoesNotExist`.
    #[error("{operator:?} is not a valid pod selector operator")]
    InvalidOperator {
        /// The operator as written.
        operator: String,
    },
    /// A key that is not a Kubernetes qualified name.
    #[error("key: Invalid value: {key:?}: {reason}")]
    InvalidKey {
        /// The offending key.
        key: String,
        /// Kubernetes' explanation(s), joined by `; `.
        reason: String,
    },
    /// An `In` / `NotIn` requirement without values.
    #[error("values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty")]
    EmptyValues {
        /// The requirement's key.
        key: String,
    },
    /// An `Exists` / `DoesNotExist` requirement with values.
    #[error(
        "values: Invalid value: []string{{{}}}: values set must be empty for exists and does not exist",
        quoted_list(.values)
    )]
    UnexpectedValues {
        /// The requirement's key.
        key: String,
        /// The values that should not be there.
        values: Vec<String>,
    },
    /// A value that is not a valid label value (only with [`ValueValidation::Strict`]).
    #[error("values[{index}][{key}]: Invalid value: {value:?}: {reason}")]
    InvalidValue {
        /// The requirement's key.
        key: String,
        /// Position of the value in the requirement's values.
        index: usize,
        /// The offending value.
        value: String,
        /// Kubernetes' explanation(s), joined by `; `.
        reason: String,
    },
}

fn quoted_list(values: &[String]) -> String {
    values
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

impl Requirement {
    fn new(key: &str, op: Op, values: Vec<String>, mode: ValueValidation) -> Result<Self, SelectorError> {
        let key_errors = qualified_name_errors(key);
        if !key_errors.is_empty() {
            return Err(SelectorError::InvalidKey {
                key: key.to_owned(),
                reason: key_errors.join("; "),
            });
        }
        match op {
            Op::In | Op::NotIn if values.is_empty() => {
                return Err(SelectorError::EmptyValues { key: key.to_owned() });
            }
            Op::Exists | Op::DoesNotExist if !values.is_empty() => {
                return Err(SelectorError::UnexpectedValues {
                    key: key.to_owned(),
                    values,
                });
            }
            _ => {}
        }
        if mode == ValueValidation::Strict {
            for (index, value) in values.iter().enumerate() {
                let errors = label_value_errors(value);
                if !errors.is_empty() {
                    return Err(SelectorError::InvalidValue {
                        key: key.to_owned(),
                        index,
                        value: value.clone(),
                        reason: errors.join("; "),
                    });
                }
            }
        }
        Ok(Self {
            key: key.to_owned(),
            op,
            values,
        })
    }

    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.op {
            Op::Equals | Op::In => value.is_some_and(|v| self.values.contains(v)),
            Op::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Op::Exists => value.is_some(),
            Op::DoesNotExist => value.is_none(),
        }
    }

    fn to_query(&self) -> String {
        let mut values: Vec<&str> = self.values.iter().map(String::as_str).collect();
        values.sort_unstable();
        values.dedup();
        let (key, values) = (&self.key, values.join(","));
        match self.op {
            Op::Equals => format!("{key}={values}"),
            Op::In => format!("{key} in ({values})"),
            Op::NotIn => format!("{key} notin ({values})"),
            Op::Exists => key.clone(),
            Op::DoesNotExist => format!("!{key}"),
        }
    }
}

/// A parsed label selector: a list of requirements that must all hold.
///
/// The default value is the empty selector, which matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    /// Sorted by key (stable), like Kubernetes' internal selector.
    requirements: Vec<Requirement>,
}

impl Selector {
    /// Parses and validates a Kubernetes `LabelSelector`.
    ///
    /// `matchLabels` entries become `key = value` requirements; `matchExpressions` accept the operators
    /// `In`, `NotIn`, `Exists` and `DoesNotExist` (exact case). Keys must be qualified names; `In` / `NotIn`
    /// need at least one value and `Exists` / `DoesNotExist` none, in both modes (as in Argo CD's copy of
    /// the parser). Values are checked only in [`ValueValidation::Strict`] mode. The first problem found
    /// is reported.
    pub fn parse(sel: &LabelSelector, mode: ValueValidation) -> Result<Selector, SelectorError> {
        let mut requirements = Vec::new();
        for (key, value) in sel.match_labels.iter().flatten() {
            requirements.push(Requirement::new(key, Op::Equals, vec![value.clone()], mode)?);
        }
        for expr in sel.match_expressions.iter().flatten() {
            let op = match expr.operator.as_str() {
                "In" => Op::In,
                "NotIn" => Op::NotIn,
                "Exists" => Op::Exists,
                "DoesNotExist" => Op::DoesNotExist,
                other => {
                    return Err(SelectorError::InvalidOperator {
                        operator: other.to_owned(),
                    });
                }
            };
            requirements.push(Requirement::new(
                &expr.key,
                op,
                expr.values.clone().unwrap_or_default(),
                mode,
            )?);
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Selector { requirements })
    }

    /// Whether `labels` satisfy every requirement (Kubernetes semantics: `NotIn` also passes when the key
    /// is absent). The empty selector matches everything.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether the selector has no requirements (and so matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The selector in Kubernetes' label-selector string syntax (`a=b,c in (x,y),!d,e`), suitable as a list
    /// API `labelSelector` parameter. Requirements are ordered by key and values sorted, so the output is
    /// deterministic; the empty selector gives `""`. Values are not escaped, so the result is only
    /// meaningful for selectors parsed with [`ValueValidation::Strict`].
    pub fn to_query(&self) -> String {
        self.requirements
            .iter()
            .map(Requirement::to_query)
            .collect::<Vec<_>>()
            .join(",")
    }
}

const NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an \
                        alphanumeric character";
const NAME_EXAMPLES: &[&str] = &["MyName", "my.name", "123-abc"];
const NAME_MAX: usize = 63;
const SUBDOMAIN_FMT: &str = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' \
                             or '.', and must start and end with an alphanumeric character";
const SUBDOMAIN_MAX: usize = 253;
const VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or \
                         '.', and must start and end with an alphanumeric character";

/// Kubernetes' `RegexError` wording (including its doubled spaces).
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let examples: String = examples
        .iter()
        .map(|e| format!("'{e}', "))
        .collect::<Vec<_>>()
        .join(" or ");
    format!("{msg} (e.g. {examples}regex used for validation is '{fmt}')")
}

fn max_len_error(max: usize) -> String {
    format!("must be no more than {max} characters")
}

/// Non-empty, ASCII, first and last byte satisfy `edge`, every byte satisfies `edge` or `inner`.
fn bracketed(s: &str, edge: fn(u8) -> bool, inner: fn(u8) -> bool) -> bool {
    let b = s.as_bytes();
    matches!((b.first(), b.last()), (Some(&f), Some(&l)) if edge(f) && edge(l))
        && b.iter().all(|&c| edge(c) || inner(c))
}

fn is_name(s: &str) -> bool {
    bracketed(
        s,
        |c| c.is_ascii_alphanumeric(),
        |c| matches!(c, b'-' | b'_' | b'.'),
    )
}

fn is_subdomain(s: &str) -> bool {
    s.split('.').all(|label| {
        bracketed(
            label,
            |c| c.is_ascii_lowercase() || c.is_ascii_digit(),
            |c| c == b'-',
        )
    })
}

/// Kubernetes' `IsQualifiedName`: every problem with `key`, empty when valid.
fn qualified_name_errors(key: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let parts: Vec<&str> = key.split('/').collect();
    let name = match parts.as_slice() {
        [name] => name,
        [prefix, name] => {
            if prefix.is_empty() {
                errors.push("prefix part must be non-empty".to_owned());
            } else {
                if prefix.len() > SUBDOMAIN_MAX {
                    errors.push(format!("prefix part {}", max_len_error(SUBDOMAIN_MAX)));
                }
                if !is_subdomain(prefix) {
                    errors.push(format!(
                        "prefix part {}",
                        regex_error(SUBDOMAIN_MSG, SUBDOMAIN_FMT, &["example.com"])
                    ));
                }
            }
            name
        }
        _ => {
            return vec![format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(NAME_MSG, NAME_FMT, NAME_EXAMPLES)
            )];
        }
    };
    if name.is_empty() {
        errors.push("name part must be non-empty".to_owned());
    } else if name.len() > NAME_MAX {
        errors.push(format!("name part {}", max_len_error(NAME_MAX)));
    }
    if !is_name(name) {
        errors.push(format!(
            "name part {}",
            regex_error(NAME_MSG, NAME_FMT, NAME_EXAMPLES)
        ));
    }
    errors
}

/// Kubernetes' `IsValidLabelValue`: every problem with `value`, empty when valid.
fn label_value_errors(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > NAME_MAX {
        errors.push(max_len_error(NAME_MAX));
    }
    if !(value.is_empty() || is_name(value)) {
        errors.push(regex_error(
            VALUE_MSG,
            VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, operator: &str, values: Option<&[&str]>) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: values.map(|vs| vs.iter().map(|v| v.to_string()).collect()),
        }
    }

    fn selector(
        match_labels: &[(&str, &str)],
        exprs: Vec<LabelSelectorRequirement>,
        mode: ValueValidation,
    ) -> Result<Selector, SelectorError> {
        let sel = LabelSelector {
            match_labels: (!match_labels.is_empty()).then(|| labels(match_labels)),
            match_expressions: (!exprs.is_empty()).then_some(exprs),
        };
        Selector::parse(&sel, mode)
    }

    fn ok(match_labels: &[(&str, &str)], exprs: Vec<LabelSelectorRequirement>) -> Selector {
        selector(match_labels, exprs, ValueValidation::Strict).expect("valid selector")
    }

    #[test]
    fn empty_selector_matches_everything() {
        let sel = Selector::parse(&LabelSelector::default(), ValueValidation::Strict).unwrap();
        assert!(sel.is_empty());
        assert!(sel.matches(&labels(&[])));
        assert!(sel.matches(&labels(&[("a", "b")])));
        assert_eq!(sel.to_query(), "");
        assert!(Selector::default().is_empty());
    }

    #[test]
    fn match_labels_require_key_with_equal_value() {
        let sel = ok(&[("env", "staging"), ("tier", "web")], vec![]);
        assert!(!sel.is_empty());
        assert!(sel.matches(&labels(&[("env", "staging"), ("tier", "web"), ("x", "y")])));
        assert!(!sel.matches(&labels(&[("env", "prod"), ("tier", "web")])));
        assert!(!sel.matches(&labels(&[("tier", "web")])));
    }

    #[test]
    fn in_requires_key_present_with_listed_value() {
        let sel = ok(&[], vec![expr("env", "In", Some(&["dev", "staging"]))]);
        assert!(sel.matches(&labels(&[("env", "dev")])));
        assert!(sel.matches(&labels(&[("env", "staging")])));
        assert!(!sel.matches(&labels(&[("env", "prod")])));
        assert!(!sel.matches(&labels(&[])));
    }

    #[test]
    fn not_in_passes_when_key_absent_or_value_unlisted() {
        let sel = ok(&[], vec![expr("env", "NotIn", Some(&["prod"]))]);
        assert!(sel.matches(&labels(&[])));
        assert!(sel.matches(&labels(&[("env", "dev")])));
        assert!(!sel.matches(&labels(&[("env", "prod")])));
    }

    #[test]
    fn exists_and_does_not_exist_test_presence_only() {
        let exists = ok(&[], vec![expr("env", "Exists", None)]);
        let absent = ok(&[], vec![expr("env", "DoesNotExist", Some(&[]))]);
        assert!(exists.matches(&labels(&[("env", "")])));
        assert!(!exists.matches(&labels(&[("other", "x")])));
        assert!(absent.matches(&labels(&[("other", "x")])));
        assert!(!absent.matches(&labels(&[("env", "")])));
    }

    #[test]
    fn all_requirements_are_anded() {
        let sel = ok(&[("env", "dev")], vec![expr("team", "Exists", None)]);
        assert!(sel.matches(&labels(&[("env", "dev"), ("team", "a")])));
        assert!(!sel.matches(&labels(&[("env", "dev")])));
        assert!(!sel.matches(&labels(&[("team", "a")])));
    }

    #[test]
    fn unknown_operator_is_rejected_with_argo_wording() {
        for op in ["in", "Gt", "Equals", ""] {
            let err = selector(
                &[],
                vec![expr("env", op, Some(&["x"]))],
                ValueValidation::KeysOnly,
            )
            .unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("\"{op}\" is not a valid pod selector operator")
            );
        }
    }

    #[test]
    fn invalid_key_error_uses_kubernetes_wording() {
        let err = selector(&[("bad key!", "v")], vec![], ValueValidation::KeysOnly).unwrap_err();
        assert_eq!(
            err.to_string(),
            "key: Invalid value: \"bad key!\": name part must consist of alphanumeric characters, '-', '_' or \
             '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or \
             '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        );
    }

    #[test]
    fn qualified_name_keys_accept_prefixes_and_reject_malformed_ones() {
        for key in [
            "app",
            "a",
            "app.kubernetes.io/name",
            "My_Key-1.x",
            "example.com/A",
        ] {
            assert!(qualified_name_errors(key).is_empty(), "{key} should be valid");
        }
        let long_name = "a".repeat(64);
        let long_prefix = format!("{}/a", "a".repeat(254));
        for key in [
            "",
            "-a",
            "a-",
            "a/b/c",
            "/a",
            "a/",
            "Example.com/a",
            "ex..com/a",
            "ümlaut",
            &long_name,
            &long_prefix,
        ] {
            assert!(
                !qualified_name_errors(key).is_empty(),
                "{key:?} should be invalid"
            );
            let err = selector(&[], vec![expr(key, "Exists", None)], ValueValidation::KeysOnly).unwrap_err();
            assert!(matches!(err, SelectorError::InvalidKey { .. }), "{key:?}: {err}");
        }
        assert_eq!(
            qualified_name_errors("/a"),
            vec!["prefix part must be non-empty".to_owned()]
        );
        assert_eq!(
            qualified_name_errors(&long_name)[0],
            "name part must be no more than 63 characters"
        );
        assert!(qualified_name_errors("a/b/c")[0].starts_with("a qualified name must consist of"));
        let prefix_errors = qualified_name_errors("Example.com/a");
        assert_eq!(prefix_errors.len(), 1);
        assert!(prefix_errors[0].starts_with("prefix part a lowercase RFC 1123 subdomain must consist of"));
        assert!(prefix_errors[0].contains("(e.g. 'example.com', regex used for validation is"));
        // An empty name is reported both as empty and as not matching the pattern, as in Kubernetes.
        assert_eq!(qualified_name_errors("").len(), 2);
    }

    #[test]
    fn keys_only_mode_accepts_urls_as_values() {
        let url = "https://kubernetes.default.svc";
        let sel = selector(
            &[("url", url)],
            vec![expr("server", "In", Some(&[url]))],
            ValueValidation::KeysOnly,
        )
        .unwrap();
        assert!(sel.matches(&labels(&[("url", url), ("server", url)])));
        assert!(!sel.matches(&labels(&[("url", url), ("server", "other")])));
    }

    #[test]
    fn strict_mode_rejects_invalid_values_with_kubernetes_wording() {
        let err = selector(&[("url", "https://x")], vec![], ValueValidation::Strict).unwrap_err();
        assert_eq!(
            err.to_string(),
            "values[0][url]: Invalid value: \"https://x\": a valid label must be an empty string or consist of \
             alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character \
             (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is \
             '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        );
        let err = selector(
            &[],
            vec![expr("env", "In", Some(&["ok", "-bad"]))],
            ValueValidation::Strict,
        )
        .unwrap_err();
        assert!(
            matches!(err, SelectorError::InvalidValue { index: 1, .. }),
            "{err}"
        );
        let too_long = "v".repeat(64);
        let err = selector(&[("k", &too_long)], vec![], ValueValidation::Strict).unwrap_err();
        assert!(
            err.to_string().contains(": must be no more than 63 characters"),
            "{err}"
        );
    }

    #[test]
    fn strict_mode_accepts_empty_and_63_character_values() {
        let max = "v".repeat(63);
        let sel = ok(&[("a", ""), ("b", &max)], vec![]);
        assert!(sel.matches(&labels(&[("a", ""), ("b", &max)])));
    }

    #[test]
    fn in_and_not_in_without_values_are_rejected_in_both_modes() {
        for mode in [ValueValidation::Strict, ValueValidation::KeysOnly] {
            for (op, values) in [("In", None), ("NotIn", Some(&[][..]))] {
                let err = selector(&[], vec![expr("env", op, values)], mode).unwrap_err();
                assert_eq!(
                    err.to_string(),
                    "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty"
                );
            }
        }
    }

    #[test]
    fn exists_with_values_is_rejected_in_both_modes() {
        for mode in [ValueValidation::Strict, ValueValidation::KeysOnly] {
            let err = selector(&[], vec![expr("env", "DoesNotExist", Some(&["a", "b"]))], mode).unwrap_err();
            assert_eq!(
                err.to_string(),
                "values: Invalid value: []string{\"a\", \"b\"}: values set must be empty for exists and does not \
                 exist"
            );
        }
    }

    #[test]
    fn query_string_sorts_requirements_by_key_and_values() {
        let sel = ok(
            &[("a", "b")],
            vec![
                expr("e", "Exists", None),
                expr("c", "In", Some(&["y", "x", "y"])),
                expr("d", "DoesNotExist", None),
                expr("f", "NotIn", Some(&["z"])),
            ],
        );
        assert_eq!(sel.to_query(), "a=b,c in (x,y),!d,e,f notin (z)");
        assert_eq!(ok(&[("k", "")], vec![]).to_query(), "k=");
    }
}
