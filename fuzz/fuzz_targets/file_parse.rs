//! The ApplicationSet file reader (`appset::file`): YAML/JSON streams with ApplicationSets,
//! `kind: List`s and recorded inputs. Invariants: no panic; the same text parses the same way
//! twice; an error has a message; `parse` succeeds only on a file `parse_sets` reads as exactly
//! one ApplicationSet.
#![no_main]

use appset_fuzz::check_message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let sets = appset::file::parse_sets(text);
    let again = appset::file::parse_sets(text);
    assert_eq!(
        format!("{sets:?}"),
        format!("{again:?}"),
        "parse_sets is not deterministic"
    );
    match &sets {
        Ok(f) => {
            assert!(
                !f.sets.is_empty(),
                "parse_sets succeeded without an ApplicationSet"
            );
            for s in &f.sets {
                if let Err(e) = &s.appset {
                    check_message("an ApplicationSet", &e.to_string());
                }
            }
        }
        Err(e) => check_message("parse_sets", &e.to_string()),
    }
    let one = appset::file::parse(text);
    match (&one, &sets) {
        (Ok(_), Ok(f)) => assert_eq!(f.sets.len(), 1, "parse accepted several ApplicationSets"),
        (Ok(_), Err(e)) => panic!("parse accepted what parse_sets refused: {e}"),
        (Err(e), _) => check_message("parse", &e.to_string()),
    }
    let one_again = appset::file::parse(text);
    assert_eq!(
        format!("{one:?}"),
        format!("{one_again:?}"),
        "parse is not deterministic"
    );
});
