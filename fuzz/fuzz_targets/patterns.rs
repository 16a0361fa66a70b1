//! The pattern languages: Go's `path.Match` (git directories), git pathspecs (git files),
//! doublestar globs and `clean_glob` (`--enable-new-git-file-globbing`), branch globs. Input:
//! `pattern\nname`. Invariants: no panic, bounded time, deterministic, and the documented laws:
//! a malformed pattern is an error whatever the name; a pattern without glob characters matches
//! itself; branch globs without a `**` segment (a segment of two or more stars) are `path.Match` where
//! Go's first-match chunk choice cannot matter; `clean_glob` is idempotent.
#![no_main]

use appset::generators::glob::{Doublestar, branch_match, clean_glob, path_match, pathspec_match};
use libfuzzer_sys::fuzz_target;

fn literal(s: &str) -> bool {
    !s.contains(['*', '?', '[', '\\'])
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (pattern, name) = text.split_once('\n').unwrap_or((text, ""));

    let m = path_match(pattern, name);
    assert_eq!(m, path_match(pattern, name), "path_match is not deterministic");
    assert_eq!(
        m.is_err(),
        path_match(pattern, "").is_err(),
        "path_match: validity depends on the name"
    );
    if let Err(e) = &m {
        assert!(!e.to_string().is_empty());
    }
    if literal(pattern) {
        assert_eq!(
            path_match(pattern, pattern),
            Ok(true),
            "a literal pattern must match itself"
        );
    }

    let b = branch_match(pattern, name);
    assert_eq!(
        b,
        branch_match(pattern, name),
        "branch_match is not deterministic"
    );
    assert_eq!(
        b.is_err(),
        m.is_err(),
        "branch_match and path_match disagree on validity"
    );
    // A segment made only of two or more stars is a `**` segment (`branch_match`'s docs).
    // Go's `path.Match` takes the first place each chunk matches, so a class that takes a `/`
    // can make it miss a match the branch matcher finds (documented on `branch_match`): the law
    // holds where that cannot happen, a pattern without classes or a name without `/`.
    if !pattern
        .split('/')
        .any(|seg| seg.len() >= 2 && seg.bytes().all(|b| b == b'*'))
        && (!pattern.contains('[') || !name.contains('/'))
    {
        assert_eq!(b, m, "without a `**` segment a branch glob is path.Match");
    }

    let p = pathspec_match(pattern, name);
    assert_eq!(
        p,
        pathspec_match(pattern, name),
        "pathspec_match is not deterministic"
    );
    if literal(pattern)
        && !pattern.is_empty()
        && !pattern.starts_with('/')
        && pattern.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
    {
        assert!(
            pathspec_match(pattern, pattern),
            "a literal pathspec must select itself"
        );
        assert!(
            pathspec_match(pattern, &format!("{pattern}/x")),
            "a literal pathspec must select what is below it"
        );
    }

    let c = clean_glob(pattern);
    if let Some(c) = &c {
        assert_eq!(clean_glob(c).as_ref(), Some(c), "clean_glob is not idempotent");
    }
    if let Ok(d) = Doublestar::new(pattern) {
        let r = d.is_match(name).map_err(|e| e.to_string());
        assert_eq!(
            r,
            d.is_match(name).map_err(|e| e.to_string()),
            "doublestar is not deterministic"
        );
        if let Err(e) = &r {
            assert!(!e.is_empty());
        }
        let _ = d.selects_root();
    }
});
