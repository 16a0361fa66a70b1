//! sprig's date functions (`now`, `date`, `dateInZone`, `toDate`, `dateModify`, `duration`,
//! `ago`, ... and their older snake_case names): their rows; `gotime` implements them.
//!
//! Stage: render. Reads the system clock (`now`, `ago`, a date that is not a time or an `int`)
//! and the system time zone database (named zones), through `gotime`; no other I/O.

use super::Func;
use crate::render::gotemplate::gotime;

/// A date function: Go's signature (none is variadic); `gotime` runs it.
macro_rules! date {
    ($name:literal, $fixed:literal, $variadic:literal) => {
        Func::new($name, $fixed, $variadic, |a| gotime::call($name, a))
    };
}

pub(super) const FUNCS: &[Func] = &[
    date!("ago", 1, false),
    date!("date", 2, false),
    date!("dateInZone", 3, false),
    date!("dateModify", 2, false),
    date!("date_in_zone", 3, false),
    date!("date_modify", 2, false),
    date!("duration", 1, false),
    date!("durationRound", 1, false),
    date!("htmlDate", 1, false),
    date!("htmlDateInZone", 2, false),
    date!("mustDateModify", 2, false),
    date!("mustToDate", 2, false),
    date!("must_date_modify", 2, false),
    date!("now", 0, false),
    date!("toDate", 2, false),
    date!("unixEpoch", 1, false),
];
