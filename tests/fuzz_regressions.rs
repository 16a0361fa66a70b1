//! What the fuzzers under fuzz/ found, fed back as tests: each case is the minimised input of
//! one finding (in the fuzz target's own input format) and asserts the behaviour decided.
//! FUZZING.md lists the findings.

use appset::generators::glob::{branch_match, path_match};

/// The `patterns` target's input: the pattern, a newline, the name.
fn pattern_and_name(input: &str) -> (&str, &str) {
    input.split_once('\n').expect("pattern\\nname")
}

/// `patterns`, first run (13 bytes): the branch glob `a/***/b` matched `a///b`, which
/// `path.Match` does not; the target took `***` for a plain `*`. It is not: a segment made only
/// of stars is a `**` segment (any depth), as the golden unit tests had it, and the
/// documentation of `branch_match` now says so; the target's oracle was fixed. Git refuses
/// `//` in branch names, so the name itself cannot occur.
#[test]
fn a_segment_of_three_stars_in_a_branch_glob_is_a_double_star_segment() {
    let (pattern, name) = pattern_and_name("a/***/b\na///b");
    assert_eq!(
        path_match(pattern, name),
        Ok(false),
        "path.Match has no ** segment"
    );
    assert_eq!(
        branch_match(pattern, name),
        branch_match("a/**/b", name),
        "*** is **"
    );
    for branch in ["a/b", "a/x/b", "a/x/y/b"] {
        assert_eq!(branch_match(pattern, branch), Ok(true), "{branch}");
    }
    assert_eq!(branch_match(pattern, "a/x/c"), Ok(false));
    // Stars inside a segment stay a plain `*`.
    assert_eq!(branch_match("a/x***/b", "a/xyz/b"), Ok(true));
    assert_eq!(branch_match("a/x***/b", "a/xy/z/b"), Ok(false));
}

/// `patterns`, first clean-clone CI run: the branch glob `*[semverC/mcluster\]]*` (a class
/// holding `/`) matched a name that `path.Match` refused. Go's matcher takes the first place each
/// star-separated chunk matches and never a later one, so when a class can take a `/`, a later
/// star may face a `/` it cannot cross; the branch matcher tries every place. Decided: branch
/// globs keep matching every name the pattern describes (appset's own generator, no Argo CD
/// behaviour to follow), `branch_match` documents the difference, and the target's oracle
/// compares the two only where Go's greedy choice cannot matter (no class, or no `/` in the name).
/// Minimised by hand to the smallest pair that shows it.
#[test]
fn a_class_that_takes_a_slash_lets_a_branch_glob_match_where_path_match_gives_up() {
    let (pattern, name) = pattern_and_name("*[/a]*c\nxa/c");
    assert_eq!(path_match(pattern, name), Ok(false), "Go's greedy chunk choice");
    assert_eq!(branch_match(pattern, name), Ok(true), "the class takes the `/`");
    // Where the greedy choice cannot go wrong, the two agree.
    for (pattern, name) in [("*[/a]*c", "xac"), ("*a*c", "xa/c"), ("*[/a]*c", "x/c")] {
        assert_eq!(
            branch_match(pattern, name),
            path_match(pattern, name),
            "{pattern} {name}"
        );
    }
}

/// `jinja`, the 30-minute campaign (after 1,224,736 executions, 44 bytes): minijinja's `format`
/// filter panicked (`end byte index 1 is not a char boundary`) on a printf mapping key holding a
/// non-ASCII character: minijinja 3.0.5 (and 3.1.0, the newest) steps through `%(key)` byte by
/// byte. A panic in a template filter would take down the service's request or the controller's
/// reconcile. appset's jinja environment now wraps the filter and refuses such a key with an
/// error; every other format string is minijinja's.
#[test]
fn jinja_format_with_a_non_ascii_mapping_key_is_an_error_not_a_panic() {
    let jinja = appset::render::jinja::Jinja::new(None, None).unwrap();
    let found = "{{ \"\0\0\0\0\0%(-%{&\0\0\0{ $\u{1}\0\0 \u{60c}\0\"|format(rch) }}";
    let ctx = minijinja::Value::from(minijinja::value::Serde(serde_json::json!({"rch": {"a": 1}})));
    for template in [found, "{{ \"%(é)s\"|format(rch) }}"] {
        let err = jinja.render_once(template, &ctx).unwrap_err().to_string();
        assert!(err.contains("non-ASCII"), "{template:?}: {err}");
    }
    assert_eq!(
        jinja.render_once("{{ \"%(a)s\"|format(rch) }}", &ctx).unwrap(),
        "1"
    );
}
