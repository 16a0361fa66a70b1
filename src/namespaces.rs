//! Which namespaces the controller serves: Argo CD's `--applicationset-namespaces` forms.
//!
//! Stage: controller configuration (pure, no I/O). Each entry is an exact name, a shell glob
//! (`team-*`, `?`, `[a-z]`) matched against the whole name, or `/regex/` (a regular expression
//! that may match anywhere in the name, as Go's `regexp.MatchString`), the way Argo CD's
//! `glob.MatchStringInList(…, glob.REGEXP)` reads them. The controller's own namespace is always
//! served, and with no entry it is the only one (Argo CD's default).

use regex::Regex;

use crate::generators::glob::Doublestar;

/// The namespaces the controller serves.
#[derive(Debug, Clone)]
pub struct Namespaces {
    own: String,
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
enum Pattern {
    Exact(String),
    /// A shell glob: doublestar's matcher, whose `*`, `?`, classes and `{a,b}` are the shell's
    /// for a name without `/`.
    Glob(Doublestar),
    Regex(Regex),
}

impl Namespaces {
    /// The controller's namespace `own` plus `patterns` (empty entries are ignored).
    ///
    /// # Errors
    /// A `/regex/` or glob that does not compile, naming the entry.
    pub fn new(own: &str, patterns: &[String]) -> Result<Namespaces, String> {
        let mut out = Vec::new();
        for p in patterns.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
            let pattern = if let Some(re) = p.strip_prefix('/').and_then(|r| r.strip_suffix('/')) {
                Pattern::Regex(Regex::new(re).map_err(|e| {
                    format!("--applicationset-namespaces: {p:?} is not a regular expression: {e}")
                })?)
            } else if p.contains(['*', '?', '[', '{']) {
                Pattern::Glob(
                    Doublestar::new(p)
                        .map_err(|_| format!("--applicationset-namespaces: {p:?} is not a glob"))?,
                )
            } else {
                Pattern::Exact(p.to_string())
            };
            out.push(pattern);
        }
        Ok(Namespaces {
            own: own.to_string(),
            patterns: out,
        })
    }

    /// The controller's own namespace.
    pub fn own(&self) -> &str {
        &self.own
    }

    /// Whether ApplicationSets in `ns` are served.
    pub fn allows(&self, ns: &str) -> bool {
        ns == self.own
            || self.patterns.iter().any(|p| match p {
                Pattern::Exact(name) => name == ns,
                // A pattern too complex to evaluate matches nothing.
                Pattern::Glob(glob) => glob.is_match(ns).unwrap_or(false),
                Pattern::Regex(re) => re.is_match(ns),
            })
    }

    /// The one namespace served, when it is exactly one (then watches can be namespaced, as
    /// Argo CD scopes its cache).
    pub fn single(&self) -> Option<&str> {
        self.patterns
            .iter()
            .all(|p| matches!(p, Pattern::Exact(n) if *n == self.own))
            .then_some(self.own.as_str())
    }

    /// Every namespace served, when all entries are exact names (own namespace first); `None`
    /// when a glob or regex makes the set open-ended.
    pub fn exact(&self) -> Option<Vec<String>> {
        let mut names = vec![self.own.clone()];
        for p in &self.patterns {
            match p {
                Pattern::Exact(n) if !names.contains(n) => names.push(n.clone()),
                Pattern::Exact(_) => {}
                Pattern::Glob(_) | Pattern::Regex(_) => return None,
            }
        }
        Some(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(patterns: &[&str]) -> Namespaces {
        Namespaces::new(
            "argocd",
            &patterns.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap()
    }

    #[test]
    fn the_controllers_namespace_alone_by_default() {
        let n = ns(&[]);
        assert!(n.allows("argocd"));
        assert!(!n.allows("team-a"));
        assert_eq!(n.single(), Some("argocd"));
        assert_eq!(n.exact(), Some(vec!["argocd".to_string()]));
        assert_eq!(ns(&["argocd", ""]).single(), Some("argocd"));
    }

    #[test]
    fn exact_names_globs_and_regexes_as_argo_cd_reads_them() {
        let n = ns(&[
            "apps",
            "team-*",
            "/^prod-[0-9]+$/",
            "/stag/",
            "dev-{a,b}",
            "qa-[!x]",
        ]);
        for yes in [
            "argocd",
            "apps",
            "team-a",
            "team-",
            "prod-12",
            "my-staging",
            "dev-a",
            "dev-b",
            "qa-y",
        ] {
            assert!(n.allows(yes), "{yes}");
        }
        for no in ["app", "xteam-a", "prod-x", "prod-1a", "dev-c", "qa-x", "team"] {
            assert!(!n.allows(no), "{no}");
        }
        assert_eq!(n.single(), None);
        assert_eq!(n.exact(), None);
        let listed = ns(&["apps", "argocd", "apps"]);
        assert_eq!(listed.single(), None);
        assert_eq!(
            listed.exact(),
            Some(vec!["argocd".to_string(), "apps".to_string()])
        );
        assert!(ns(&["*"]).allows("anything"));
    }

    #[test]
    fn a_regex_that_does_not_compile_is_an_error_naming_it() {
        let err = Namespaces::new("argocd", &["/a(/".to_string()]).unwrap_err();
        assert!(err.contains("\"/a(/\" is not a regular expression"), "{err}");
    }
}
