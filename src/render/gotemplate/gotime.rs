//! Go's `time` package for goTemplate: sprig's date functions (`now`, `date`, `dateInZone`,
//! `toDate`, `dateModify`, `duration`, `durationRound`, `ago`, ...) and the methods of a
//! `time.Time` value, ported from Go 1.19's `time` (layouts, `Parse`, `ParseDuration`,
//! `Duration.String`) and sprig 2's `date.go`, with Go's results and error texts.
//!
//! Stage: render. Reads the system clock (`now`, `ago`, a DATE that is not a time or an `int`) and
//! the system time zone database for named zones (`/usr/share/zoneinfo`, through jiff's cache, or
//! file by file as Go does for names jiff does not list); no other I/O.
//!
//! - Go's process-local zone, `time.Local`, is UTC: Argo CD's controller image runs in UTC.
//! - A time keeps Go's representation (seconds since year 1, nanoseconds, location) and its
//!   wrapping calendar arithmetic, so any `int` of Unix seconds or `AddDate` argument prints what
//!   Go prints instead of failing; zone rules past jiff's range (years ±9999) repeat every 400
//!   years, as the tz rules do.
//! - Template values: a Go `int` is a minijinja integer, a `float64` a non-integer number (JSON
//!   numbers), so `duration 90` is `0s` as in Argo CD (sprig only takes an `int64` or a string).
//! - Not kept: the monotonic clock reading (`now` prints without `m=`, `ago now` is wall-clock).

use std::fmt;
use std::sync::Arc;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use minijinja::value::{Object, ObjectRepr};
use minijinja::{Error, ErrorKind, State, Value as J};

const DAY: u64 = 86_400;
const NS: i64 = 1_000_000_000;
const ABSOLUTE_ZERO_YEAR: i64 = -292_277_022_399;
const ABSOLUTE_TO_INTERNAL: i64 = -9_223_371_966_579_724_800;
const UNIX_TO_INTERNAL: i64 = 62_135_596_800;
const DAYS_PER_400_YEARS: u64 = 365 * 400 + 97;
const DAYS_BEFORE: [i64; 13] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const STRING_LAYOUT: &str = "2006-01-02 15:04:05.999999999 -0700 MST";

/// The function names this module implements.
pub(super) const FUNCTIONS: &[&str] = &[
    "now",
    "date",
    "dateInZone",
    "date_in_zone",
    "htmlDate",
    "htmlDateInZone",
    "toDate",
    "mustToDate",
    "unixEpoch",
    "dateModify",
    "date_modify",
    "mustDateModify",
    "must_date_modify",
    "duration",
    "durationRound",
    "ago",
];

/// A Go `*time.Location`.
#[derive(Debug, Clone)]
enum Loc {
    Utc,
    /// `time.Local`: UTC here (the zone of Argo CD's controller image).
    Local,
    /// `time.FixedZone(name, offset)`, from parsing an offset or an unknown abbreviation.
    Fixed(Arc<str>, i64),
    Zone(TimeZone),
}

impl Loc {
    /// Go's `Location.lookup`: the zone abbreviation and offset in effect at a Unix second.
    fn lookup(&self, unix: i64) -> (String, i64) {
        match self {
            Loc::Utc | Loc::Local => ("UTC".into(), 0),
            Loc::Fixed(name, offset) => (name.to_string(), *offset),
            Loc::Zone(tz) => {
                // Beyond jiff's range: the same instant of a 400-year cycle (same calendar,
                // same rules); before it, the zone's first period, as at the range's start.
                const CYCLE: i128 = DAYS_PER_400_YEARS as i128 * DAY as i128;
                let (lo, hi) = (
                    Timestamp::MIN.as_second() as i128,
                    Timestamp::MAX.as_second() as i128,
                );
                let mut s = unix as i128;
                if s > hi {
                    s -= ((s - hi) / CYCLE + 1) * CYCLE;
                }
                let ts = Timestamp::from_second(s.max(lo) as i64).unwrap_or(Timestamp::UNIX_EPOCH);
                let info = tz.to_offset_info(ts);
                (info.abbreviation().to_string(), info.offset().seconds().into())
            }
        }
    }
}

/// Go's `time.LoadLocation` (case-sensitive names, as on Linux); `None` when Go fails.
fn load_location(name: &str) -> Option<Loc> {
    match name {
        "" | "UTC" => Some(Loc::Utc),
        "Local" => Some(Loc::Local),
        _ if name.contains("..") || name.starts_with(['/', '\\']) => None,
        _ => TimeZone::get(name)
            .ok()
            .filter(|tz| tz.iana_name() == Some(name))
            .or_else(|| {
                // Names jiff's (cached) database does not list, like `posix/...` or `A//B`: the
                // file, read as Go reads it.
                [
                    "/usr/share/zoneinfo/",
                    "/usr/share/lib/zoneinfo/",
                    "/usr/lib/locale/TZ/",
                ]
                .iter()
                .find_map(|dir| TimeZone::tzif(name, &std::fs::read(format!("{dir}{name}")).ok()?).ok())
            })
            .map(Loc::Zone),
    }
}

/// A Go time.Time as a template value; Display = Go's Time.String()
/// (`2006-01-02 15:04:05.999999999 -0700 MST`, without the monotonic `m=` suffix).
#[derive(Debug, Clone)]
pub(super) struct GoTime {
    /// Seconds since January 1, year 1, UTC (Go's internal `sec()`).
    sec: i64,
    nsec: i32,
    loc: Loc,
}

/// Go's zero `time.Time{}`: January 1, year 1, 00:00:00 UTC.
const ZERO: GoTime = GoTime {
    sec: 0,
    nsec: 0,
    loc: Loc::Utc,
};

impl fmt::Display for GoTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.format(STRING_LAYOUT))
    }
}

impl Object for GoTime {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }

    fn call_method(self: &Arc<Self>, _: &mut State<'_, '_>, name: &str, args: &[J]) -> Result<J, Error> {
        method(self, name, args).map_err(|e| Error::new(ErrorKind::InvalidOperation, e))
    }
}

/// Go's `time.Unix(sec, nsec)` (`nsec` in `0..1e9`), in `Local`.
fn unix_time(sec: i64, nsec: i32) -> GoTime {
    GoTime {
        sec: sec.wrapping_add(UNIX_TO_INTERNAL),
        nsec,
        loc: Loc::Local,
    }
}

fn now() -> GoTime {
    let ts = Timestamp::now();
    unix_time(ts.as_second(), ts.subsec_nanosecond())
}

/// Go's `norm`: `hi*base + lo == nhi*base + nlo` with `0 <= nlo < base` (wrapping as Go does).
fn norm(hi: i64, lo: i64, base: i64) -> (i64, i64) {
    (hi.wrapping_add(lo.div_euclid(base)), lo.rem_euclid(base))
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in(month: i64, year: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        1..=12 => DAYS_BEFORE[month as usize] - DAYS_BEFORE[month as usize - 1],
        _ => 0,
    }
}

/// Go's `absDate`: year, month (1-12), day and zero-based day of year of an absolute time.
fn abs_date(abs: u64) -> (i64, i64, i64, i64) {
    let mut d = abs / DAY;
    let mut n = d / DAYS_PER_400_YEARS;
    let mut y = 400 * n;
    d -= DAYS_PER_400_YEARS * n;
    n = d / (365 * 100 + 24);
    n -= n >> 2;
    y += 100 * n;
    d -= (365 * 100 + 24) * n;
    n = d / (365 * 4 + 1);
    y += 4 * n;
    d -= (365 * 4 + 1) * n;
    n = d / 365;
    n -= n >> 2;
    y += n;
    d -= 365 * n;
    let year = (y as i64).wrapping_add(ABSOLUTE_ZERO_YEAR);
    let yday = d as i64;
    let mut day = yday;
    if is_leap(year) {
        if day == 31 + 29 - 1 {
            return (year, 2, 29, yday);
        }
        if day > 31 + 29 - 1 {
            day -= 1;
        }
    }
    let mut month = (day / 31) as usize;
    if day >= DAYS_BEFORE[month + 1] {
        month += 1;
    }
    (year, month as i64 + 1, day - DAYS_BEFORE[month] + 1, yday)
}

/// Go's `absClock`: hour, minute, second.
fn abs_clock(abs: u64) -> (i64, i64, i64) {
    let s = (abs % DAY) as i64;
    (s / 3600, s % 3600 / 60, s % 60)
}

fn abs_weekday(abs: u64) -> usize {
    (abs.wrapping_add(DAY) % (7 * DAY) / DAY) as usize
}

/// Go's `time.Date`, normalizing out-of-range fields (wrapping on overflow, as Go).
#[allow(clippy::too_many_arguments)]
fn go_date(year: i64, month: i64, day: i64, hour: i64, min: i64, sec: i64, nsec: i64, loc: Loc) -> GoTime {
    let (year, m) = norm(year, month.wrapping_sub(1), 12);
    let (sec, nsec) = norm(sec, nsec, NS);
    let (min, sec) = norm(min, sec, 60);
    let (hour, min) = norm(hour, min, 60);
    let (day, hour) = norm(day, hour, 24);
    // Days since the absolute epoch (Go's daysSinceEpoch), then this year's days.
    let mut y = year.wrapping_sub(ABSOLUTE_ZERO_YEAR) as u64;
    let mut d = DAYS_PER_400_YEARS.wrapping_mul(y / 400);
    y %= 400;
    d = d.wrapping_add((365 * 100 + 24) * (y / 100));
    y %= 100;
    d = d.wrapping_add((365 * 4 + 1) * (y / 4) + 365 * (y % 4));
    d = d.wrapping_add(DAYS_BEFORE[m as usize] as u64);
    if is_leap(year) && m >= 2 {
        d = d.wrapping_add(1);
    }
    d = d.wrapping_add(day.wrapping_sub(1) as u64);
    let abs = d
        .wrapping_mul(DAY)
        .wrapping_add((hour * 3600 + min * 60 + sec) as u64);
    let mut unix = (abs as i64).wrapping_add(ABSOLUTE_TO_INTERNAL - UNIX_TO_INTERNAL);
    let (_, offset) = loc.lookup(unix);
    if offset != 0 {
        unix = unix.wrapping_sub(loc.lookup(unix.wrapping_sub(offset)).1);
    }
    GoTime {
        loc,
        ..unix_time(unix, nsec as i32)
    }
}

impl GoTime {
    fn unix(&self) -> i64 {
        self.sec.wrapping_sub(UNIX_TO_INTERNAL)
    }

    /// Go's `locabs`: zone abbreviation, offset and absolute (zone-shifted) seconds.
    fn locabs(&self) -> (String, i64, u64) {
        let (name, offset) = self.loc.lookup(self.unix());
        let abs = self
            .unix()
            .wrapping_add(offset)
            .wrapping_add(UNIX_TO_INTERNAL - ABSOLUTE_TO_INTERNAL);
        (name, offset, abs as u64)
    }

    fn add_sec(&mut self, d: i64) {
        let sum = self.sec.wrapping_add(d);
        self.sec = if (sum > self.sec) == (d > 0) {
            sum
        } else if d > 0 {
            i64::MAX
        } else {
            -i64::MAX
        };
    }

    /// Go's `Time.Add`.
    fn add(&self, d: i64) -> GoTime {
        let mut t = self.clone();
        let mut dsec = d / NS;
        let mut nsec = t.nsec + (d % NS) as i32;
        if nsec >= NS as i32 {
            dsec += 1;
            nsec -= NS as i32;
        } else if nsec < 0 {
            dsec -= 1;
            nsec += NS as i32;
        }
        t.nsec = nsec;
        t.add_sec(dsec);
        t
    }

    /// Go's `Time.AddDate`.
    fn add_date(&self, years: i64, months: i64, days: i64) -> GoTime {
        let (_, _, abs) = self.locabs();
        let (y, m, d, _) = abs_date(abs);
        let (hh, mm, ss) = abs_clock(abs);
        let (y, m, d) = (
            y.wrapping_add(years),
            m.wrapping_add(months),
            d.wrapping_add(days),
        );
        go_date(y, m, d, hh, mm, ss, self.nsec.into(), self.loc.clone())
    }

    /// Go's `time.Since(t)` (wall clock), saturating like `Time.Sub`.
    fn since(&self) -> i64 {
        let n = now();
        let d = (n.sec as i128 - self.sec as i128) * NS as i128 + (n.nsec - self.nsec) as i128;
        d.clamp(i64::MIN.into(), i64::MAX.into()) as i64
    }

    /// Go's `Time.Format`.
    fn format(&self, layout: &str) -> String {
        let (name, offset, abs) = self.locabs();
        let (year, month, day, yday) = abs_date(abs);
        let yday = yday + 1;
        let (hour, min, sec) = abs_clock(abs);
        let mut b = String::with_capacity(layout.len() + 10);
        let mut layout = layout;
        while !layout.is_empty() {
            let (p, std, s) = next_std_chunk(layout.as_bytes());
            b.push_str(&layout[..p]);
            layout = &layout[s..];
            let hr12 = if hour % 12 == 0 { 12 } else { hour % 12 };
            match std {
                Std::None => break,
                Std::Year => append_int(&mut b, (year.unsigned_abs() % 100) as i64, 2),
                Std::LongYear => append_int(&mut b, year, 4),
                Std::Month => b.push_str(&MONTHS[month as usize - 1][..3]),
                Std::LongMonth => b.push_str(MONTHS[month as usize - 1]),
                Std::NumMonth => append_int(&mut b, month, 0),
                Std::ZeroMonth => append_int(&mut b, month, 2),
                Std::WeekDay => b.push_str(&DAYS[abs_weekday(abs)][..3]),
                Std::LongWeekDay => b.push_str(DAYS[abs_weekday(abs)]),
                Std::Day => append_int(&mut b, day, 0),
                Std::UnderDay => {
                    if day < 10 {
                        b.push(' ');
                    }
                    append_int(&mut b, day, 0);
                }
                Std::ZeroDay => append_int(&mut b, day, 2),
                Std::UnderYearDay => {
                    b.push_str(if yday < 10 {
                        "  "
                    } else if yday < 100 {
                        " "
                    } else {
                        ""
                    });
                    append_int(&mut b, yday, 0);
                }
                Std::ZeroYearDay => append_int(&mut b, yday, 3),
                Std::Hour => append_int(&mut b, hour, 2),
                Std::Hour12 => append_int(&mut b, hr12, 0),
                Std::ZeroHour12 => append_int(&mut b, hr12, 2),
                Std::Minute => append_int(&mut b, min, 0),
                Std::ZeroMinute => append_int(&mut b, min, 2),
                Std::Second => append_int(&mut b, sec, 0),
                Std::ZeroSecond => append_int(&mut b, sec, 2),
                Std::PM => b.push_str(if hour >= 12 { "PM" } else { "AM" }),
                Std::Pm => b.push_str(if hour >= 12 { "pm" } else { "am" }),
                Std::Offset { z: true, .. } if offset == 0 => b.push('Z'),
                Std::Offset {
                    colon, secs, short, ..
                } => {
                    // The sign is the minutes' (Go prints -30s as `+00:00:-30`).
                    let (mut zone, mut abs_offset) = (offset / 60, offset);
                    b.push(if zone < 0 { '-' } else { '+' });
                    if zone < 0 {
                        (zone, abs_offset) = (-zone, -abs_offset);
                    }
                    append_int(&mut b, zone / 60, 2);
                    if colon {
                        b.push(':');
                    }
                    if !short {
                        append_int(&mut b, zone % 60, 2);
                    }
                    if secs {
                        if colon {
                            b.push(':');
                        }
                        append_int(&mut b, abs_offset % 60, 2);
                    }
                }
                Std::Tz if !name.is_empty() => b.push_str(&name),
                Std::Tz => {
                    let zone = offset / 60;
                    b.push(if zone < 0 { '-' } else { '+' });
                    append_int(&mut b, zone.abs() / 60, 2);
                    append_int(&mut b, zone.abs() % 60, 2);
                }
                Std::Frac { nines, digits, comma } => {
                    let all = format!("{:09}", self.nsec);
                    let mut n = digits.min(9);
                    if nines {
                        n = all[..n].trim_end_matches('0').len();
                        if n == 0 {
                            continue;
                        }
                    }
                    b.push(if comma { ',' } else { '.' });
                    b.push_str(&all[..n]);
                }
            }
        }
        b
    }
}

/// Go's `appendInt`: decimal, zero-padded to `width` digits after any sign.
fn append_int(b: &mut String, x: i64, width: usize) {
    if x < 0 {
        b.push('-');
    }
    b.push_str(&format!("{:0width$}", x.unsigned_abs()));
}

/// A layout element (Go's `std*` constants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Std {
    None,
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    /// `MST`.
    Tz,
    /// `-0700`, `-07:00`, `-07`, `-070000`, `-07:00:00`, and with `Z` for UTC (`z`).
    Offset {
        z: bool,
        colon: bool,
        secs: bool,
        short: bool,
    },
    /// `.000` (`nines`: `.999`, trailing zeros dropped), or with a comma.
    Frac {
        nines: bool,
        digits: usize,
        comma: bool,
    },
}

/// Go's `nextStdChunk`: (end of the literal prefix, element, start of the rest).
fn next_std_chunk(l: &[u8]) -> (usize, Std, usize) {
    const STD0X: [Std; 6] = [
        Std::ZeroMonth,
        Std::ZeroDay,
        Std::ZeroHour12,
        Std::ZeroMinute,
        Std::ZeroSecond,
        Std::Year,
    ];
    const OFFSETS: [(&str, bool, bool, bool); 5] = [
        ("070000", false, true, false),
        ("07:00:00", true, true, false),
        ("0700", false, false, false),
        ("07:00", true, false, false),
        ("07", false, false, true),
    ];
    let has = |i: usize, s: &str| l[i..].starts_with(s.as_bytes());
    let lower_at = |i: usize| l.get(i).is_some_and(u8::is_ascii_lowercase);
    for i in 0..l.len() {
        match l[i] {
            b'J' if has(i, "Jan") => {
                if has(i, "January") {
                    return (i, Std::LongMonth, i + 7);
                }
                if !lower_at(i + 3) {
                    return (i, Std::Month, i + 3);
                }
            }
            b'M' if has(i, "Mon") => {
                if has(i, "Monday") {
                    return (i, Std::LongWeekDay, i + 6);
                }
                if !lower_at(i + 3) {
                    return (i, Std::WeekDay, i + 3);
                }
            }
            b'M' if has(i, "MST") => return (i, Std::Tz, i + 3),
            b'0' if l.get(i + 1).is_some_and(|c| (b'1'..=b'6').contains(c)) => {
                return (i, STD0X[(l[i + 1] - b'1') as usize], i + 2);
            }
            b'0' if has(i, "002") => return (i, Std::ZeroYearDay, i + 3),
            b'1' if has(i, "15") => return (i, Std::Hour, i + 2),
            b'1' => return (i, Std::NumMonth, i + 1),
            b'2' if has(i, "2006") => return (i, Std::LongYear, i + 4),
            b'2' => return (i, Std::Day, i + 1),
            // `_2006` is a literal `_` and a year.
            b'_' if has(i, "_2006") => return (i + 1, Std::LongYear, i + 5),
            b'_' if has(i, "_2") => return (i, Std::UnderDay, i + 2),
            b'_' if has(i, "__2") => return (i, Std::UnderYearDay, i + 3),
            b'3' => return (i, Std::Hour12, i + 1),
            b'4' => return (i, Std::Minute, i + 1),
            b'5' => return (i, Std::Second, i + 1),
            b'P' if has(i, "PM") => return (i, Std::PM, i + 2),
            b'p' if has(i, "pm") => return (i, Std::Pm, i + 2),
            c @ (b'-' | b'Z') => {
                for (s, colon, secs, short) in OFFSETS {
                    if has(i + 1, s) {
                        return (
                            i,
                            Std::Offset {
                                z: c == b'Z',
                                colon,
                                secs,
                                short,
                            },
                            i + 1 + s.len(),
                        );
                    }
                }
            }
            c @ (b'.' | b',') if matches!(l.get(i + 1), Some(b'0' | b'9')) => {
                let ch = l[i + 1];
                let j = i + 1 + l[i + 1..].iter().take_while(|&&x| x == ch).count();
                if !l.get(j).is_some_and(u8::is_ascii_digit) {
                    let std = Std::Frac {
                        nines: ch == b'9',
                        digits: (j - i - 1) & 0xfff,
                        comma: c == b',',
                    };
                    return (i, std, j);
                }
            }
            _ => {}
        }
    }
    (l.len(), Std::None, l.len())
}

/// Go's `quote` in package time: non-ASCII and control bytes as `\xNN`.
fn quote(s: &[u8]) -> String {
    let mut b = String::from("\"");
    for &c in s {
        match c {
            0x80.. | 0..0x20 => b.push_str(&format!("\\x{c:02x}")),
            b'"' | b'\\' => {
                b.push('\\');
                b.push(c as char);
            }
            _ => b.push(c as char),
        }
    }
    b.push('"');
    b
}

/// Go's `leadingInt`: the leading decimal digits (`None` on overflow past 1<<63).
fn leading_int(s: &[u8]) -> Option<(u64, &[u8])> {
    let mut x: u64 = 0;
    let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
    for &c in &s[..n] {
        if x > (1 << 63) / 10 {
            return None;
        }
        x = x * 10 + u64::from(c - b'0');
        if x > 1 << 63 {
            return None;
        }
    }
    Some((x, &s[n..]))
}

/// Go's `atoi` in package time: optional sign, then digits only.
fn atoi(s: &[u8]) -> Option<i64> {
    let (neg, s) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    match leading_int(s)? {
        (q, []) => Some(if neg { (q as i64).wrapping_neg() } else { q as i64 }),
        _ => None,
    }
}

/// Go's `getnum`/`getnum3`: up to `max` digits (`fixed`: exactly `max`); `None` leaves the value.
fn getnum(s: &[u8], max: usize, fixed: bool) -> Option<(i64, &[u8])> {
    let n = s.iter().take(max).take_while(|c| c.is_ascii_digit()).count();
    if n == 0 || (fixed && n != max) {
        return None;
    }
    let v = s[..n].iter().fold(0, |a, &c| a * 10 + i64::from(c - b'0'));
    Some((v, &s[n..]))
}

/// Go's `lookup`: a case-insensitive prefix match of a name table.
fn lookup_prefix(names: impl Iterator<Item = &'static str>, v: &[u8]) -> Option<(i64, &[u8])> {
    for (i, name) in names.enumerate() {
        if v.len() >= name.len() && v[..name.len()].eq_ignore_ascii_case(name.as_bytes()) {
            return Some((i as i64, &v[name.len()..]));
        }
    }
    None
}

/// Go's `parseNanoseconds`: (nanoseconds, range error) for a separator and digits.
fn parse_nanoseconds(v: &[u8], nbytes: usize) -> Result<(i64, &'static str), ()> {
    if !matches!(v.first(), Some(b'.' | b',')) {
        return Err(());
    }
    let nbytes = nbytes.min(10);
    let ns = atoi(v.get(1..nbytes).ok_or(())?).ok_or(())?;
    if ns < 0 {
        return Ok((0, "fractional second"));
    }
    Ok((ns.wrapping_mul(10i64.pow(10 - nbytes as u32)), ""))
}

/// Go's `parseTimeZone`: the length of a zone abbreviation at the start of `v`.
fn parse_time_zone(v: &[u8]) -> Option<usize> {
    if v.len() < 3 {
        return None;
    }
    if v.starts_with(b"ChST") || v.starts_with(b"MeST") {
        return Some(4);
    }
    let signed = |v: &[u8]| -> usize {
        match (v.first(), leading_int(v.get(1..).unwrap_or_default())) {
            (Some(b'+' | b'-'), Some((x, rem))) if rem.len() < v.len() - 1 && x <= 23 => v.len() - rem.len(),
            _ => 0,
        }
    };
    if v.starts_with(b"GMT") {
        return Some(3 + if v.len() > 3 { signed(&v[3..]) } else { 0 });
    }
    if v[0] == b'+' || v[0] == b'-' {
        return Some(signed(v)).filter(|&n| n > 0);
    }
    match v.iter().take(6).take_while(|c| c.is_ascii_uppercase()).count() {
        5 if v[4] == b'T' => Some(5),
        4 if v[3] == b'T' || v.starts_with(b"WITA") => Some(4),
        3 => Some(3),
        _ => None,
    }
}

/// Go's `time.ParseInLocation(layout, value, time.Local)`, Local being UTC.
fn parse(layout: &str, value: &str) -> Result<GoTime, String> {
    let (alayout, avalue) = (layout.as_bytes(), value.as_bytes());
    let (mut layout, mut value) = (alayout, avalue);
    let perr = |elem: &[u8], v: &[u8], msg: &str| {
        if msg.is_empty() {
            let (v, l, ve, le) = (quote(avalue), quote(alayout), quote(v), quote(elem));
            format!("parsing time {v} as {l}: cannot parse {ve} as {le}")
        } else {
            format!("parsing time {}{msg}", quote(avalue))
        }
    };
    let (mut am, mut pm) = (false, false);
    let (mut year, mut month, mut day, mut yday) = (0i64, -1i64, -1i64, -1i64);
    let (mut hour, mut min, mut sec, mut nsec) = (0i64, 0i64, 0i64, 0i64);
    let (mut utc, mut zone_offset, mut zone_name) = (false, -1i64, &b""[..]);
    loop {
        let (p, std, s) = next_std_chunk(layout);
        let (prefix, stdstr) = (&layout[..p], &layout[p..s]);
        value = skip(value, prefix).map_err(|v| perr(prefix, v, ""))?;
        if std == Std::None {
            if !value.is_empty() {
                return Err(perr(b"", value, &format!(": extra text: {}", quote(value))));
            }
            break;
        }
        layout = &layout[s..];
        let mut range_err = "";
        let mut ok = true;
        // Go's `getnum` into a field: on failure the field is 0 and the value is left as it was.
        let num = |field: &mut i64, value: &mut &[u8], max: usize, fixed: bool| {
            let (n, rest, ok) = getnum(value, max, fixed).map_or((0, *value, false), |(n, r)| (n, r, true));
            (*field, *value) = (n, rest);
            ok
        };
        match std {
            Std::Year => match value.get(..2).and_then(atoi) {
                Some(y) => {
                    year = if y >= 69 { y + 1900 } else { y + 2000 };
                    value = &value[2..];
                }
                None => ok = false,
            },
            Std::LongYear => {
                if value.len() < 4 || !value[0].is_ascii_digit() {
                    ok = false;
                } else {
                    let p;
                    (p, value) = value.split_at(4);
                    match atoi(p) {
                        Some(y) => year = y,
                        None => ok = false,
                    }
                }
            }
            Std::Month | Std::LongMonth => {
                let long = std == Std::LongMonth;
                match lookup_prefix(MONTHS.iter().map(|m| if long { m } else { &m[..3] }), value) {
                    Some((m, rest)) => (month, value) = (m + 1, rest),
                    None => ok = false,
                }
            }
            Std::NumMonth | Std::ZeroMonth => {
                ok = num(&mut month, &mut value, 2, std == Std::ZeroMonth);
                if ok && !(1..=12).contains(&month) {
                    range_err = "month";
                }
            }
            Std::WeekDay | Std::LongWeekDay => {
                let long = std == Std::LongWeekDay;
                match lookup_prefix(DAYS.iter().map(|d| if long { d } else { &d[..3] }), value) {
                    Some((_, rest)) => value = rest,
                    None => ok = false,
                }
            }
            Std::Day | Std::UnderDay | Std::ZeroDay => {
                if std == Std::UnderDay && value.first() == Some(&b' ') {
                    value = &value[1..];
                }
                ok = num(&mut day, &mut value, 2, std == Std::ZeroDay);
            }
            Std::UnderYearDay | Std::ZeroYearDay => {
                for _ in 0..2 {
                    if std == Std::UnderYearDay && value.first() == Some(&b' ') {
                        value = &value[1..];
                    }
                }
                ok = num(&mut yday, &mut value, 3, std == Std::ZeroYearDay);
            }
            Std::Hour => {
                ok = num(&mut hour, &mut value, 2, false);
                if !(0..24).contains(&hour) {
                    range_err = "hour";
                }
            }
            Std::Hour12 | Std::ZeroHour12 => {
                ok = num(&mut hour, &mut value, 2, std == Std::ZeroHour12);
                if !(0..=12).contains(&hour) {
                    range_err = "hour";
                }
            }
            Std::Minute | Std::ZeroMinute => {
                ok = num(&mut min, &mut value, 2, std == Std::ZeroMinute);
                if !(0..60).contains(&min) {
                    range_err = "minute";
                }
            }
            Std::Second | Std::ZeroSecond => {
                ok = num(&mut sec, &mut value, 2, std == Std::ZeroSecond);
                if !(0..60).contains(&sec) {
                    range_err = "second";
                } else if value.len() >= 2
                    && matches!(value[0], b'.' | b',')
                    && value[1].is_ascii_digit()
                    && !matches!(next_std_chunk(layout).1, Std::Frac { .. })
                {
                    // A fractional second in the value that the layout does not have (its result
                    // replaces any error of the seconds, as in Go).
                    let n = 2 + value[2..].iter().take_while(|c| c.is_ascii_digit()).count();
                    ok = match parse_nanoseconds(value, n) {
                        Ok((ns, r)) => {
                            (nsec, range_err) = (ns, r);
                            true
                        }
                        Err(()) => false,
                    };
                    value = &value[n..];
                }
            }
            Std::PM | Std::Pm => match value.get(..2) {
                Some(p) => {
                    value = &value[2..];
                    match (p, std) {
                        (b"PM", Std::PM) | (b"pm", Std::Pm) => pm = true,
                        (b"AM", Std::PM) | (b"am", Std::Pm) => am = true,
                        _ => ok = false,
                    }
                }
                None => ok = false,
            },
            Std::Offset {
                z,
                colon,
                secs,
                short,
            } => {
                if z && !secs && value.first() == Some(&b'Z') {
                    value = &value[1..];
                    utc = true;
                } else {
                    // (length, hour, minute, second positions) of `±hh[:]mm[:]ss`.
                    let (len, m, s) = match (colon, secs, short) {
                        (_, _, true) => (3, None, None),
                        (true, false, _) => (6, Some(4), None),
                        (true, true, _) => (9, Some(4), Some(7)),
                        (false, true, _) => (7, Some(3), Some(5)),
                        (false, false, _) => (5, Some(3), None),
                    };
                    if value.len() < len || (colon && (value[3] != b':' || (secs && value[6] != b':'))) {
                        ok = false;
                    } else {
                        let field = |at: Option<usize>| at.map_or(Some(0), |i| atoi(&value[i..i + 2]));
                        let (sign, h, m, s) = (value[0], field(Some(1)), field(m), field(s));
                        value = &value[len..];
                        match (h, m, s) {
                            (Some(h), Some(m), Some(s)) if sign == b'+' || sign == b'-' => {
                                let off = (h.wrapping_mul(60).wrapping_add(m))
                                    .wrapping_mul(60)
                                    .wrapping_add(s);
                                zone_offset = if sign == b'-' { off.wrapping_neg() } else { off };
                            }
                            _ => ok = false,
                        }
                    }
                }
            }
            Std::Tz => {
                if value.starts_with(b"UTC") {
                    utc = true;
                    value = &value[3..];
                } else {
                    match parse_time_zone(value) {
                        Some(n) => (zone_name, value) = value.split_at(n),
                        None => ok = false,
                    }
                }
            }
            Std::Frac {
                nines: false, digits, ..
            } => {
                let n = 1 + digits;
                if value.len() < n {
                    ok = false;
                } else {
                    match parse_nanoseconds(value, n) {
                        Ok((ns, r)) => (nsec, range_err) = (ns, r),
                        Err(()) => ok = false,
                    }
                    value = &value[n..];
                }
            }
            Std::Frac { nines: true, .. } => {
                if value.len() >= 2 && matches!(value[0], b'.' | b',') && value[1].is_ascii_digit() {
                    let i = value[1..]
                        .iter()
                        .take(9)
                        .take_while(|c| c.is_ascii_digit())
                        .count();
                    match parse_nanoseconds(value, 1 + i) {
                        Ok((ns, r)) => (nsec, range_err) = (ns, r),
                        Err(()) => ok = false,
                    }
                    value = &value[1 + i..];
                }
            }
            Std::None => {}
        }
        if !range_err.is_empty() {
            return Err(perr(stdstr, value, &format!(": {range_err} out of range")));
        }
        if !ok {
            return Err(perr(stdstr, value, ""));
        }
    }
    if pm && hour < 12 {
        hour += 12;
    } else if am && hour == 12 {
        hour = 0;
    }
    if yday >= 0 {
        let (mut d, mut m) = (0, 0);
        if is_leap(year) {
            if yday == 31 + 29 {
                (m, d) = (2, 29);
            } else if yday > 31 + 29 {
                yday -= 1;
            }
        }
        if !(1..=365).contains(&yday) {
            return Err(perr(b"", value, ": day-of-year out of range"));
        }
        if m == 0 {
            m = (yday - 1) / 31 + 1;
            if DAYS_BEFORE[m as usize] < yday {
                m += 1;
            }
            d = yday - DAYS_BEFORE[m as usize - 1];
        }
        if month >= 0 && month != m {
            return Err(perr(b"", value, ": day-of-year does not match month"));
        }
        month = m;
        if day >= 0 && day != d {
            return Err(perr(b"", value, ": day-of-year does not match day"));
        }
        day = d;
    } else {
        month = if month < 0 { 1 } else { month };
        day = if day < 0 { 1 } else { day };
    }
    if day < 1 || day > days_in(month, year) {
        return Err(perr(b"", value, ": day out of range"));
    }
    if utc {
        return Ok(go_date(year, month, day, hour, min, sec, nsec, Loc::Utc));
    }
    let name: Arc<str> = String::from_utf8_lossy(zone_name).into();
    if zone_offset != -1 {
        let mut t = go_date(year, month, day, hour, min, sec, nsec, Loc::Utc);
        t.add_sec(zone_offset.wrapping_neg());
        // Local (UTC) is kept when the offset is its own.
        t.loc = if zone_offset == 0 && (name.is_empty() || &*name == "UTC") {
            Loc::Local
        } else {
            Loc::Fixed(name, zone_offset)
        };
        return Ok(t);
    }
    if !name.is_empty() {
        // An abbreviation Local does not have: a zone of that name and offset 0 (GMT±h: h hours).
        let offset = match name.strip_prefix("GMT") {
            Some(h) if !h.is_empty() => atoi(h.as_bytes()).unwrap_or(0).wrapping_mul(3600),
            _ => 0,
        };
        return Ok(GoTime {
            loc: Loc::Fixed(name, offset),
            ..go_date(year, month, day, hour, min, sec, nsec, Loc::Utc)
        });
    }
    Ok(go_date(year, month, day, hour, min, sec, nsec, Loc::Local))
}

/// Go's `skip`: the literal `prefix`, any run of spaces matching any run; `Err` holds the rest.
fn skip<'a>(mut value: &'a [u8], mut prefix: &[u8]) -> Result<&'a [u8], &'a [u8]> {
    let cut = |s: &[u8]| s.len() - s.iter().skip_while(|&&c| c == b' ').count();
    while let Some(&p) = prefix.first() {
        if p == b' ' {
            if value.first().is_some_and(|&c| c != b' ') {
                return Err(value);
            }
            prefix = &prefix[cut(prefix)..];
            value = &value[cut(value)..];
        } else if value.first() == Some(&p) {
            (prefix, value) = (&prefix[1..], &value[1..]);
        } else {
            return Err(value);
        }
    }
    Ok(value)
}

/// Go's `time.ParseDuration`, in nanoseconds.
fn parse_duration(orig: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", quote(orig.as_bytes()));
    let mut s = orig.as_bytes();
    let neg = s.first() == Some(&b'-');
    if matches!(s.first(), Some(b'-' | b'+')) {
        s = &s[1..];
    }
    if s == b"0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut d: u64 = 0;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let (mut v, rest) = leading_int(s).ok_or_else(invalid)?;
        let pre = rest.len() != s.len();
        s = rest;
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if s.first() == Some(&b'.') {
            // Go's `leadingFraction`: digits past 1<<63 no longer add precision.
            let n = s[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            let mut overflow = false;
            for &c in &s[1..1 + n] {
                let y = f.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
                overflow = overflow || f > (i64::MAX as u64) / 10 || y > 1 << 63;
                if !overflow {
                    (f, scale) = (y, scale * 10.0);
                }
            }
            (s, post) = (&s[1 + n..], n > 0);
        }
        if !pre && !post {
            return Err(invalid());
        }
        let i = s
            .iter()
            .position(|&c| c == b'.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if i == 0 {
            return Err(format!(
                "time: missing unit in duration {}",
                quote(orig.as_bytes())
            ));
        }
        let u;
        (u, s) = s.split_at(i);
        let unit: u64 = match u {
            b"ns" => 1,
            b"us" | b"\xc2\xb5s" | b"\xce\xbcs" => 1_000,
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60_000_000_000,
            b"h" => 3_600_000_000_000,
            _ => {
                let (u, o) = (quote(u), quote(orig.as_bytes()));
                return Err(format!("time: unknown unit {u} in duration {o}"));
            }
        };
        if v > (1 << 63) / unit {
            return Err(invalid());
        }
        v *= unit;
        if f > 0 {
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > 1 << 63 {
                return Err(invalid());
            }
        }
        d = d.wrapping_add(v);
        if d > 1 << 63 {
            return Err(invalid());
        }
    }
    if neg {
        return Ok((d as i64).wrapping_neg());
    }
    i64::try_from(d).map_err(|_| invalid())
}

/// Go's Duration.String for nanoseconds (used by `duration`, `ago`).
pub(super) fn duration_string(ns: i64) -> String {
    let (sign, u) = (if ns < 0 { "-" } else { "" }, ns.unsigned_abs());
    // The integer part and `.fraction` (trailing zeros dropped) of u / 10^prec.
    let frac = |u: u64, prec: usize| {
        let p = 10u64.pow(prec as u32);
        let f = format!("{:0prec$}", u % p);
        let f = f.trim_end_matches('0');
        (
            u / p,
            if f.is_empty() {
                String::new()
            } else {
                format!(".{f}")
            },
        )
    };
    if u == 0 {
        return "0s".into();
    }
    if u < 1_000_000_000 {
        let (prec, unit) = if u < 1_000 {
            (0, "ns")
        } else if u < 1_000_000 {
            (3, "µs")
        } else {
            (6, "ms")
        };
        let (i, f) = frac(u, prec);
        return format!("{sign}{i}{f}{unit}");
    }
    let (s, f) = frac(u, 9);
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{sign}{s}{f}s"),
        (0, m, s) => format!("{sign}{m}m{s}{f}s"),
        (h, m, s) => format!("{sign}{h}h{m}m{s}{f}s"),
    }
}

/// Go's `Duration.Round` (saturating at the Duration range).
fn round_duration(d: i64, m: i64) -> i64 {
    if m <= 0 {
        return d;
    }
    let less_than_half = |x: i64, y: i64| (x as u64).wrapping_add(x as u64) < y as u64;
    let r = d % m;
    if d < 0 {
        let r = r.wrapping_neg();
        if less_than_half(r, m) {
            return d.wrapping_add(r);
        }
        let d1 = d.wrapping_sub(m).wrapping_add(r);
        return if d1 < d { d1 } else { i64::MIN };
    }
    if less_than_half(r, m) {
        return d - r;
    }
    let d1 = d.wrapping_add(m).wrapping_sub(r);
    if d1 > d { d1 } else { i64::MAX }
}

/// sprig's `durationRound`: the largest whole unit (y, mo, d, h, m, s) of a duration.
fn duration_round(d: i64) -> String {
    let u = d.unsigned_abs();
    const UNITS: [(u64, &str); 6] = [
        (365 * DAY, "y"),
        (30 * DAY, "mo"),
        (DAY, "d"),
        (3600, "h"),
        (60, "m"),
        (1, "s"),
    ];
    for (secs, name) in UNITS {
        let unit = secs * NS as u64;
        if u > unit {
            return format!("{}{name}", u / unit);
        }
    }
    "0s".into()
}

/// text/template's error for an argument of the wrong type (a missing value is invalid).
fn type_err(v: &J, want: &str) -> String {
    if v.is_undefined() {
        format!("invalid value; expected {want}")
    } else {
        format!(
            "wrong type for value; expected {want}; got {}",
            super::value::arg_type(v)
        )
    }
}

fn str_arg(v: &J) -> Result<&str, String> {
    v.as_str().ok_or_else(|| type_err(v, "string"))
}

fn time_arg(v: &J) -> Result<GoTime, String> {
    v.downcast_object_ref::<GoTime>()
        .cloned()
        .ok_or_else(|| type_err(v, "time.Time"))
}

fn int_arg(v: &J, want: &str) -> Result<i64, String> {
    v.as_i64()
        .filter(|_| v.is_integer())
        .ok_or_else(|| type_err(v, want))
}

/// Whether argument `i` (value `v`) of the call in progress is a Go `int` or `int64` (the
/// interpreter's type when it gave one): sprig's type switches take those, not a `float64`.
fn is_go_int(v: &J, i: usize) -> bool {
    use super::value::GoType;
    match super::funcs::arg_go_type(i) {
        Some(t) => matches!(t, Some(GoType::Int | GoType::Int64)),
        None => v.is_integer(),
    }
}

/// Whether argument `i` of the call in progress is a Go `int64` (`duration`, `durationRound`
/// take no other integer).
fn is_go_int64(v: &J, i: usize) -> bool {
    use super::value::GoType;
    v.is_integer() && super::funcs::arg_go_type(i) == Some(Some(GoType::Int64))
}

/// sprig's DATE argument `i` (value `v`): a time, or an `int` or `int64` of Unix seconds;
/// anything else is now.
fn date_arg(v: &J, i: usize) -> GoTime {
    match (v.downcast_object_ref::<GoTime>(), v.as_i64()) {
        (Some(t), _) => t.clone(),
        (None, Some(s)) if is_go_int(v, i) => unix_time(s, 0),
        _ => now(),
    }
}

/// sprig's `dateInZone`: an unknown zone is UTC.
fn date_in_zone(layout: &str, date: &J, i: usize, zone: &str) -> J {
    let loc = load_location(zone).unwrap_or(Loc::Utc);
    J::from(
        GoTime {
            loc,
            ..date_arg(date, i)
        }
        .format(layout),
    )
}

/// Call one of FUNCTIONS with already-evaluated arguments (the piped value is the last one).
/// Errors are Go's error text without the text/template prefix.
pub(super) fn call(name: &str, args: &[J]) -> Result<J, String> {
    let want = match name {
        "now" => 0,
        "htmlDate" | "unixEpoch" | "duration" | "durationRound" | "ago" => 1,
        "dateInZone" | "date_in_zone" => 3,
        _ if FUNCTIONS.contains(&name) => 2,
        _ => return Err(format!("function {name:?} not defined")),
    };
    if args.len() != want {
        return Err(format!(
            "wrong number of args for {name}: want {want} got {}",
            args.len()
        ));
    }
    let a = args;
    Ok(match name {
        "now" => J::from_object(now()),
        "date" => date_in_zone(str_arg(&a[0])?, &a[1], 1, "Local"),
        "dateInZone" | "date_in_zone" => {
            let layout = str_arg(&a[0])?;
            date_in_zone(layout, &a[1], 1, str_arg(&a[2])?)
        }
        "htmlDate" => date_in_zone("2006-01-02", &a[0], 0, "Local"),
        "htmlDateInZone" => date_in_zone("2006-01-02", &a[0], 0, str_arg(&a[1])?),
        "toDate" | "mustToDate" => {
            let t = parse(str_arg(&a[0])?, str_arg(&a[1])?);
            J::from_object(if name == "toDate" { t.unwrap_or(ZERO) } else { t? })
        }
        "unixEpoch" => J::from(time_arg(&a[0])?.unix().to_string()),
        "dateModify" | "date_modify" | "mustDateModify" | "must_date_modify" => {
            let (d, t) = (str_arg(&a[0])?, time_arg(&a[1])?);
            J::from_object(match parse_duration(d) {
                Ok(d) => t.add(d),
                Err(_) if name.starts_with("date") => t,
                Err(e) => return Err(e),
            })
        }
        // sprig takes a string or an int64 (never a template's `int`).
        "duration" => {
            let n = match a[0].as_str().map(str::parse::<i64>) {
                Some(Ok(n)) => n,
                Some(Err(e)) => match e.kind() {
                    std::num::IntErrorKind::PosOverflow => i64::MAX,
                    std::num::IntErrorKind::NegOverflow => i64::MIN,
                    _ => 0,
                },
                None if is_go_int64(&a[0], 0) => a[0].as_i64().unwrap_or(0),
                None => 0,
            };
            J::from(duration_string(n.wrapping_mul(NS)))
        }
        "durationRound" => J::from(duration_round(
            match (a[0].as_str(), a[0].downcast_object_ref::<GoTime>()) {
                (Some(s), _) => parse_duration(s).unwrap_or(0),
                (_, Some(t)) => t.since(),
                _ if is_go_int64(&a[0], 0) => a[0].as_i64().unwrap_or(0),
                _ => 0,
            },
        )),
        // ago
        _ => J::from(duration_string(round_duration(date_arg(&a[0], 0).since(), NS))),
    })
}

/// A method on a time value in a template (`{{ now.Year }}`,
/// `{{ (toDate "2006-01-02" "2024-03-05").Format "Jan 2" }}`): Unix, UnixMilli, UnixMicro,
/// UnixNano, Year, Month (its name), Day, Hour, Minute, Second, Nanosecond, YearDay, Weekday
/// (its name), Format LAYOUT, UTC, Local (= UTC), String, AddDate Y M D, Add NANOSECONDS, IsZero,
/// Before/After/Equal TIME.
/// Unknown → `can't evaluate field Nope in type time.Time`; wrong arity →
/// `wrong number of args for Year: want 0 got 1`.
pub(super) fn method(t: &GoTime, name: &str, args: &[J]) -> Result<J, String> {
    let want = match name {
        "Unix" | "UnixMilli" | "UnixMicro" | "UnixNano" | "Year" | "Month" | "Day" | "Hour" | "Minute"
        | "Second" | "Nanosecond" | "YearDay" | "Weekday" | "UTC" | "Local" | "String" | "IsZero" => 0,
        "Format" | "Add" | "Before" | "After" | "Equal" => 1,
        "AddDate" => 3,
        _ => return Err(format!("can't evaluate field {name} in type time.Time")),
    };
    if args.len() != want {
        return Err(format!(
            "wrong number of args for {name}: want {want} got {}",
            args.len()
        ));
    }
    let (_, _, abs) = t.locabs();
    let (year, month, day, yday) = abs_date(abs);
    let (hour, min, sec) = abs_clock(abs);
    let (unix, nsec) = (t.unix(), i64::from(t.nsec));
    let with = |loc: Loc| J::from_object(GoTime { loc, ..t.clone() });
    Ok(match name {
        "Unix" => J::from(unix),
        "UnixMilli" => J::from(unix.wrapping_mul(1_000).wrapping_add(nsec / 1_000_000)),
        "UnixMicro" => J::from(unix.wrapping_mul(1_000_000).wrapping_add(nsec / 1_000)),
        "UnixNano" => J::from(unix.wrapping_mul(NS).wrapping_add(nsec)),
        "Year" => J::from(year),
        "Month" => J::from(MONTHS[month as usize - 1]),
        "Day" => J::from(day),
        "Hour" => J::from(hour),
        "Minute" => J::from(min),
        "Second" => J::from(sec),
        "Nanosecond" => J::from(nsec),
        "YearDay" => J::from(yday + 1),
        "Weekday" => J::from(DAYS[abs_weekday(abs)]),
        "UTC" => with(Loc::Utc),
        "Local" => with(Loc::Local),
        "String" => J::from(t.to_string()),
        "IsZero" => J::from(t.sec == 0 && t.nsec == 0),
        "Format" => J::from(t.format(str_arg(&args[0])?)),
        "Add" => J::from_object(t.add(int_arg(&args[0], "time.Duration")?)),
        "AddDate" => {
            let (y, m) = (int_arg(&args[0], "int")?, int_arg(&args[1], "int")?);
            J::from_object(t.add_date(y, m, int_arg(&args[2], "int")?))
        }
        _ => {
            let u = time_arg(&args[0])?;
            J::from(match name {
                "Before" => (t.sec, t.nsec) < (u.sec, u.nsec),
                "After" => (t.sec, t.nsec) > (u.sec, u.nsec),
                _ => (t.sec, t.nsec) == (u.sec, u.nsec),
            })
        }
    })
}

#[cfg(test)]
mod tests {
    //! Expected values come from Go 1.19 + sprig 2: tests/gotemplate-oracle (TZ=UTC) for templates,
    //! and `time.ParseDuration`, `Duration.String` and `Duration.Round` directly for durations.

    use super::*;

    const RFC3339_NANO: &str = "2006-01-02T15:04:05.999999999Z07:00";

    fn time(rfc3339: &str) -> GoTime {
        parse(RFC3339_NANO, rfc3339).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Renders a layout against a time given in RFC 3339 (its offset kept, as `toDate` does).
    fn fmt_at(rfc3339: &str, layout: &str) -> String {
        time(rfc3339).format(layout)
    }

    /// The `|`-separated rows of a table.
    fn rows(table: &str) -> impl Iterator<Item = Vec<&str>> {
        table
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split('|').collect())
    }

    /// A result as the tables write it: `=value` or `!error`.
    fn outcome(r: Result<String, String>) -> String {
        r.map_or_else(|e| format!("!{e}"), |v| format!("={v}"))
    }

    /// A test argument: `s:` string, `i:` int, `f:` float64, `t:` RFC 3339 time, `nil`, or missing.
    fn arg(token: &str) -> J {
        match token.split_once(':') {
            Some(("s", v)) => J::from(v),
            Some(("i", v)) => J::from(v.parse::<i64>().unwrap()),
            Some(("f", v)) => J::from(v.parse::<f64>().unwrap()),
            Some(("t", v)) => J::from_object(time(v)),
            _ if token == "nil" => J::from(()),
            _ => J::UNDEFINED,
        }
    }

    /// Checks every row, reporting all mismatches at once.
    fn check(table: &str, f: impl Fn(&[&str]) -> String, expected_at: usize) {
        let bad: Vec<String> = rows(table)
            .filter_map(|r| {
                let got = f(&r);
                (got != r[expected_at]).then(|| format!("{r:?}: got {got:?}"))
            })
            .collect();
        assert!(bad.is_empty(), "{}", bad.join("\n"));
    }

    #[test]
    fn formats_every_layout_element() {
        assert_eq!(rows(FORMATS).count(), 29);
        for r in rows(FORMATS) {
            for (t, want) in TIMES.iter().zip(&r[1..]) {
                assert_eq!(fmt_at(t, r[0]), *want, "{t} as {:?}", r[0]);
            }
        }
    }

    #[test]
    fn formats_in_named_zones() {
        check(
            ZONES,
            |r| {
                let secs = J::from(r[0].parse::<i64>().unwrap());
                let got = call("dateInZone", &[J::from(ZONE_LAYOUT), secs, J::from(r[1])]);
                got.unwrap().to_string()
            },
            2,
        );
    }

    #[test]
    fn parses_like_go() {
        let parse =
            |r: &[&str]| outcome(call("mustToDate", &[J::from(r[0]), J::from(r[1])]).map(|t| t.to_string()));
        check(PARSES, parse, 2);
        // toDate: the zero time on an error.
        let zero = call("toDate", &[J::from("2006"), J::from("x")]).unwrap();
        assert_eq!(zero.to_string(), "0001-01-01 00:00:00 +0000 UTC");
    }

    #[test]
    fn durations_like_go() {
        let parse = |r: &[&str]| match parse_duration(r[0]) {
            Ok(n) => format!("{n} {}", duration_string(n)),
            Err(e) => format!("ERR {e}"),
        };
        check(PARSE_DURATIONS, parse, 1);
        check(DURATION_STRINGS, |r| duration_string(r[0].parse().unwrap()), 1);
        let round =
            |r: &[&str]| duration_string(round_duration(r[0].parse().unwrap(), r[1].parse().unwrap()));
        check(ROUNDS, round, 2);
    }

    #[test]
    fn functions_and_methods_like_go() {
        let run = |r: &[&str]| {
            let args: Vec<J> = r[2..].iter().map(|a| arg(a)).collect();
            let got = match r[0].strip_prefix('@') {
                Some(m) => method(args[0].downcast_object_ref::<GoTime>().unwrap(), m, &args[1..]),
                None => call(r[0], &args),
            };
            // As Go prints a result: bools in lower case.
            outcome(got.map(|v| match v.kind() {
                minijinja::value::ValueKind::Bool => v.is_true().to_string(),
                _ => v.to_string(),
            }))
        };
        check(CALLS, run, 1);
    }

    #[test]
    fn now_and_ago_are_relative_to_the_clock() {
        let now = call("now", &[]).unwrap();
        let t = now.downcast_object_ref::<GoTime>().unwrap();
        let s = t.to_string();
        assert!(
            s.ends_with(" +0000 UTC") && s.len() >= 29 && s.as_bytes()[10] == b' ',
            "{s}"
        );
        let year = method(t, "Year", &[]).unwrap().as_i64().unwrap();
        assert!(year >= 2024);
        // A DATE that is neither a time nor an int (a string, a JSON float64, nil) is now.
        for other in [J::from("2001-01-01"), J::from(1.5), J::from(())] {
            let got = call("date", &[J::from("2006"), other]).unwrap();
            assert_eq!(got.as_str(), Some(year.to_string().as_str()));
        }
        assert_eq!(
            call("ago", std::slice::from_ref(&now)).unwrap().as_str(),
            Some("0s")
        );
        assert_eq!(call("ago", &[J::from("x")]).unwrap().as_str(), Some("0s"));
        let hour_ago = call("dateModify", &[J::from("-1h"), now.clone()]).unwrap();
        assert_eq!(call("ago", &[hour_ago]).unwrap().as_str(), Some("1h0m0s"));
        let days_ago = call("dateModify", &[J::from("-49h"), now.clone()]).unwrap();
        assert_eq!(call("durationRound", &[days_ago]).unwrap().as_str(), Some("2d"));
        let unix = method(t, "Unix", &[]).unwrap().as_i64().unwrap();
        let ago = call("ago", &[J::from(unix - 90)]).unwrap();
        assert!(matches!(ago.as_str(), Some("1m30s" | "1m31s")), "{ago}");
        let html = call("htmlDate", &[J::from(1.5)]).unwrap();
        assert_eq!(html.as_str(), Some(&s[..10]));
    }

    #[test]
    fn renders_and_calls_methods_in_minijinja() {
        let mut env = minijinja::Environment::new();
        env.add_template(
            "t",
            "{{ t }}|{{ t.Format('Jan 2 15:04 MST') }}|{{ t.Year() }}|{{ t.Month() }}",
        )
        .unwrap();
        let t = J::from_object(time("2024-03-05T07:08:09.5+01:00"));
        let out = env
            .get_template("t")
            .unwrap()
            .render(minijinja::context! { t })
            .unwrap();
        assert_eq!(
            out,
            "2024-03-05 07:08:09.5 +0100 +0100|Mar 5 07:08 +0100|2024|March"
        );
        assert!(call("nope", &[]).unwrap_err().contains("not defined"));
        assert_eq!(FUNCTIONS.len(), 16);
        for name in FUNCTIONS {
            assert!(call(name, &[J::from(1), J::from(2), J::from(3), J::from(4)]).is_err());
        }
    }

    /// Nothing panics: every layout against every value, extreme times in zones, extreme
    /// arithmetic, truncated inputs.
    #[test]
    fn never_panics() {
        let layouts: Vec<&str> = rows(FORMATS).chain(rows(PARSES)).map(|r| r[0]).collect();
        let values: Vec<&str> = rows(PARSES).map(|r| r[1]).chain(TIMES).collect();
        for l in &layouts {
            for v in &values {
                let _ = parse(l, v);
                for cut in 0..v.len().min(12) {
                    let _ = parse(l, &String::from_utf8_lossy(&v.as_bytes()[..cut]));
                }
            }
        }
        let extremes = [
            i64::MIN,
            i64::MIN + 1,
            -62135596801,
            -1,
            0,
            253402300800,
            i64::MAX - 1,
            i64::MAX,
        ];
        for secs in extremes {
            for zone in [
                "",
                "Local",
                "America/New_York",
                "Australia/Lord_Howe",
                "Asia/Kolkata",
            ] {
                for l in &layouts {
                    let _ = call("dateInZone", &[J::from(*l), J::from(secs), J::from(zone)]);
                }
            }
            let t = unix_time(secs, 0);
            for n in extremes {
                let t2 = t
                    .add(n)
                    .add_date(n, n, n)
                    .add_date(n, 0, 0)
                    .add_date(0, n, 0)
                    .add_date(0, 0, n);
                let _ = (t2.to_string(), t2.since());
                for m in [
                    "UnixMilli",
                    "UnixMicro",
                    "UnixNano",
                    "YearDay",
                    "Weekday",
                    "Month",
                ] {
                    method(&t2, m, &[]).unwrap();
                }
                let _ = duration_string(round_duration(n, secs));
                let _ = duration_round(n);
            }
        }
        for s in [
            "",
            "-",
            "+",
            ".",
            "-.",
            "1.",
            "µ",
            "1µ",
            "9".repeat(40).as_str(),
            "1h-1m",
            "0.9999999999999999999999h",
        ] {
            let _ = parse_duration(s);
        }
        for v in ["", "-", "+", "99999999999999999999999"] {
            call("duration", &[J::from(v)]).unwrap();
        }
    }

    const TIMES: [&str; 5] = [
        "2024-03-05T07:08:09.123456789+01:00",
        "2009-11-10T23:00:00Z",
        "2024-12-31T00:30:05.1-05:30",
        "0001-01-01T12:00:00Z",
        "2024-02-29T12:59:59.000001+00:00",
    ];
    /// LAYOUT|`(toDate RFC3339Nano TIME).Format LAYOUT` for each of TIMES
    const FORMATS: &str = "
2006-01-02T15:04:05Z07:00|2024-03-05T07:08:09+01:00|2009-11-10T23:00:00Z|2024-12-31T00:30:05-05:30|0001-01-01T12:00:00Z|2024-02-29T12:59:59Z
2006-01-02T15:04:05.999999999Z07:00|2024-03-05T07:08:09.123456789+01:00|2009-11-10T23:00:00Z|2024-12-31T00:30:05.1-05:30|0001-01-01T12:00:00Z|2024-02-29T12:59:59.000001Z
2006-01-02 15:04:05.999999999 -0700 MST|2024-03-05 07:08:09.123456789 +0100 +0100|2009-11-10 23:00:00 +0000 UTC|2024-12-31 00:30:05.1 -0530 -0530|0001-01-01 12:00:00 +0000 UTC|2024-02-29 12:59:59.000001 +0000 UTC
Mon Jan _2 15:04:05 2006|Tue Mar  5 07:08:09 2024|Tue Nov 10 23:00:00 2009|Tue Dec 31 00:30:05 2024|Mon Jan  1 12:00:00 0001|Thu Feb 29 12:59:59 2024
Mon Jan _2 15:04:05 MST 2006|Tue Mar  5 07:08:09 +0100 2024|Tue Nov 10 23:00:00 UTC 2009|Tue Dec 31 00:30:05 -0530 2024|Mon Jan  1 12:00:00 UTC 0001|Thu Feb 29 12:59:59 UTC 2024
Mon Jan 02 15:04:05 -0700 2006|Tue Mar 05 07:08:09 +0100 2024|Tue Nov 10 23:00:00 +0000 2009|Tue Dec 31 00:30:05 -0530 2024|Mon Jan 01 12:00:00 +0000 0001|Thu Feb 29 12:59:59 +0000 2024
02 Jan 06 15:04 MST|05 Mar 24 07:08 +0100|10 Nov 09 23:00 UTC|31 Dec 24 00:30 -0530|01 Jan 01 12:00 UTC|29 Feb 24 12:59 UTC
Monday, 02-Jan-06 15:04:05 MST|Tuesday, 05-Mar-24 07:08:09 +0100|Tuesday, 10-Nov-09 23:00:00 UTC|Tuesday, 31-Dec-24 00:30:05 -0530|Monday, 01-Jan-01 12:00:00 UTC|Thursday, 29-Feb-24 12:59:59 UTC
Mon, 02 Jan 2006 15:04:05 -0700|Tue, 05 Mar 2024 07:08:09 +0100|Tue, 10 Nov 2009 23:00:00 +0000|Tue, 31 Dec 2024 00:30:05 -0530|Mon, 01 Jan 0001 12:00:00 +0000|Thu, 29 Feb 2024 12:59:59 +0000
3:04PM|7:08AM|11:00PM|12:30AM|12:00PM|12:59PM
3:04pm 03:04:05 PM|7:08am 07:08:09 AM|11:00pm 11:00:00 PM|12:30am 12:30:05 AM|12:00pm 12:00:00 PM|12:59pm 12:59:59 PM
Jan _2 15:04:05.000000|Mar  5 07:08:09.123456|Nov 10 23:00:00.000000|Dec 31 00:30:05.100000|Jan  1 12:00:00.000000|Feb 29 12:59:59.000001
January 2, 2006|March 5, 2024|November 10, 2009|December 31, 2024|January 1, 0001|February 29, 2024
1/2/06 01/02/2006|3/5/24 03/05/2024|11/10/09 11/10/2009|12/31/24 12/31/2024|1/1/01 01/01/0001|2/29/24 02/29/2024
__2 002| 65 065|314 314|366 366|  1 001| 60 060
Z0700 Z07:00 Z07 Z070000 Z07:00:00|+0100 +01:00 +01 +010000 +01:00:00|Z Z Z Z Z|-0530 -05:30 -05 -053000 -05:30:00|Z Z Z Z Z|Z Z Z Z Z
-0700 -07:00 -07 -070000 -07:00:00|+0100 +01:00 +01 +010000 +01:00:00|+0000 +00:00 +00 +000000 +00:00:00|-0530 -05:30 -05 -053000 -05:30:00|+0000 +00:00 +00 +000000 +00:00:00|+0000 +00:00 +00 +000000 +00:00:00
.000 .999 ,000 ,999 .0 .9 .000000000000|.123 .123 ,123 ,123 .1 .1 .123456789|.000  ,000  .0  .000000000|.100 .1 ,100 ,1 .1 .1 .100000000|.000  ,000  .0  .000000000|.000  ,000  .0  .000001000
15:04:05,999|07:08:09,123|23:00:00|00:30:05,1|12:00:00|12:59:59
Jan Janx JanX Mon Monx MonX MST|Mar Janx MarX Tue Monx TueX +0100|Nov Janx NovX Tue Monx TueX UTC|Dec Janx DecX Tue Monx TueX -0530|Jan Janx JanX Mon Monx MonX UTC|Feb Janx FebX Thu Monx ThuX UTC
_2006 _2 __2 _x|_2024  5  65 _x|_2009 10 314 _x|_2024 31 366 _x|_0001  1   1 _x|_2024 29  60 _x
1 01 2 02 3 03 4 04 5 05 6 06 15|3 03 5 05 7 07 8 08 9 09 6 24 07|11 11 10 10 11 11 0 00 0 00 6 09 23|12 12 31 31 12 12 30 30 5 05 6 24 00|1 01 1 01 12 12 0 00 0 00 6 01 12|2 02 29 29 12 12 59 59 59 59 6 24 12
x.00123 x.0a 2006.000|x.00357 x.1a 2024.123|x.0111011 x.0a 2009.000|x.0123112 x.1a 2024.100|x.001112 x.0a 0001.000|x.0022912 x.0a 2024.000
µ 2 ü|µ 5 ü|µ 10 ü|µ 31 ü|µ 1 ü|µ 29 ü
hello|hello|hello|hello|hello|hello
|||||
PM pm Pm pM|AM am Pm pM|PM pm Pm pM|AM am Pm pM|PM pm Pm pM|PM pm Pm pM
Monday Mondays Tuesday|Tuesday Tuesdays Tuesday|Tuesday Tuesdays Tuesday|Tuesday Tuesdays Tuesday|Monday Mondays Tuesday|Thursday Thursdays Tuesday
_1 _01 _Jan|_3 _03 _Mar|_11 _11 _Nov|_12 _12 _Dec|_1 _01 _Jan|_2 _02 _Feb
";
    const ZONE_LAYOUT: &str = "2006-01-02 15:04:05 MST -07:00:00 Monday";
    /// SECONDS|ZONE|`dateInZone ZONE_LAYOUT SECONDS ZONE`
    const ZONES: &str = "
1700000000|Asia/Kolkata|2023-11-15 03:43:20 IST +05:30:00 Wednesday
1700000000|America/New_York|2023-11-14 17:13:20 EST -05:00:00 Tuesday
1720000000|America/New_York|2024-07-03 05:46:40 EDT -04:00:00 Wednesday
1720000000|Europe/London|2024-07-03 10:46:40 BST +01:00:00 Wednesday
1700000000|Australia/Lord_Howe|2023-11-15 09:13:20 +11 +11:00:00 Wednesday
1720000000|Australia/Lord_Howe|2024-07-03 20:16:40 +1030 +10:30:00 Wednesday
1700000000|Asia/Dubai|2023-11-15 02:13:20 +04 +04:00:00 Wednesday
1700000000|Etc/GMT+5|2023-11-14 17:13:20 -05 -05:00:00 Tuesday
1700000000|EST5EDT|2023-11-14 17:13:20 EST -05:00:00 Tuesday
1700000000|US/Eastern|2023-11-14 17:13:20 EST -05:00:00 Tuesday
1700000000|asia/kolkata|2023-11-14 22:13:20 UTC +00:00:00 Tuesday
1700000000|Nowhere/Zone|2023-11-14 22:13:20 UTC +00:00:00 Tuesday
1700000000|../etc/passwd|2023-11-14 22:13:20 UTC +00:00:00 Tuesday
1700000000|/etc/localtime|2023-11-14 22:13:20 UTC +00:00:00 Tuesday
1700000000||2023-11-14 22:13:20 UTC +00:00:00 Tuesday
1700000000|Local|2023-11-14 22:13:20 UTC +00:00:00 Tuesday
1700000000|UTC|2023-11-14 22:13:20 UTC +00:00:00 Tuesday
1700000000|Etc/UTC|2023-11-14 22:13:20 UTC +00:00:00 Tuesday
1700000000|GMT|2023-11-14 22:13:20 GMT +00:00:00 Tuesday
99999999999999|America/New_York|3170843-11-07 04:46:39 EST -05:00:00 Saturday
99999999999984|America/New_York|3170843-11-07 04:46:24 EST -05:00:00 Saturday
100000015000000|America/New_York|3170844-04-28 20:26:40 EDT -04:00:00 Thursday
-99999999999999|America/New_York|-3166904-02-24 09:17:19 LMT -04:56:02 Monday
253402300800|America/New_York|9999-12-31 19:00:00 EST -05:00:00 Friday
253402300800|UTC|10000-01-01 00:00:00 UTC +00:00:00 Saturday
-62135596801|UTC|0000-12-31 23:59:59 UTC +00:00:00 Sunday
-2000000000|Africa/Monrovia|1906-08-16 19:43:32 MMT -00:43:08 Thursday
-2000000000|Europe/Amsterdam|1906-08-16 20:46:12 AMT +00:19:32 Thursday
1720000000|Europe/Dublin|2024-07-03 10:46:40 IST +01:00:00 Wednesday
1700000000|Europe/Dublin|2023-11-14 22:13:20 GMT +00:00:00 Tuesday
1720000000|America/Sao_Paulo|2024-07-03 06:46:40 -03 -03:00:00 Wednesday
9223372036854775807|UTC|292277026596-12-04 15:30:07 UTC +00:00:00 Sunday
-9223372036854775808|UTC|292277026596-12-04 15:30:08 UTC +00:00:00 Sunday
9223372036854775807|Asia/Tokyo|292277026596-12-05 00:30:07 JST +09:00:00 Monday
0|Pacific/Chatham|1970-01-01 12:45:00 +1245 +12:45:00 Thursday
1700000000|Europe/London |2023-11-14 22:13:20 UTC +00:00:00 Tuesday
1700000000|posix/Asia/Tokyo|2023-11-15 07:13:20 JST +09:00:00 Wednesday
1700000000|America//New_York|2023-11-14 17:13:20 EST -05:00:00 Tuesday
4102444800|right/America/New_York|2099-12-31 20:00:00 EDT -04:00:00 Thursday
1700000000|Asia/Tokyo/|2023-11-14 22:13:20 UTC +00:00:00 Tuesday
";
    /// LAYOUT|VALUE|`=` `mustToDate LAYOUT VALUE` (Time.String()), or `!` its error
    const PARSES: &str = "
2006-01-02|2024-03-05|=2024-03-05 00:00:00 +0000 UTC
2006-01-02|x|!parsing time \"x\" as \"2006-01-02\": cannot parse \"x\" as \"2006\"
2006-01-02|2024-13-05|!parsing time \"2024-13-05\": month out of range
2006-01-02|2024-00-05|!parsing time \"2024-00-05\": month out of range
2006-01-02|2024-02-30|!parsing time \"2024-02-30\": day out of range
2006-01-02|2024-02-29|=2024-02-29 00:00:00 +0000 UTC
2006-01-02|2023-02-29|!parsing time \"2023-02-29\": day out of range
2006-01-02|2024-03-05 extra|!parsing time \"2024-03-05 extra\": extra text: \" extra\"
2006-01-02|9999-12-31|=9999-12-31 00:00:00 +0000 UTC
2006-01-02|0000-01-01|=0000-01-01 00:00:00 +0000 UTC
2006-01-02|２０２４-03-05|!parsing time \"\\xef\\xbc\\x92\\xef\\xbc\\x90\\xef\\xbc\\x92\\xef\\xbc\\x94-03-05\" as \"2006-01-02\": cannot parse \"\\xef\\xbc\\x92\\xef\\xbc\\x90\\xef\\xbc\\x92\\xef\\xbc\\x94-03-05\" as \"2006\"
2006-01-02|2024-03-05\u{0}|!parsing time \"2024-03-05\\x00\": extra text: \"\\x00\"
2006-01-02|2024-\"03\\|!parsing time \"2024-\\\"03\\\\\" as \"2006-01-02\": cannot parse \"\\\"03\\\\\" as \"01\"
2006-01-02||!parsing time \"\" as \"2006-01-02\": cannot parse \"\" as \"2006\"
2006-01-02T15:04:05Z07:00|2024-03-05T07:08:09.123456789+01:00|=2024-03-05 07:08:09.123456789 +0100 +0100
2006-01-02T15:04:05Z07:00|2024-03-05T07:08:09,5Z|=2024-03-05 07:08:09.5 +0000 UTC
2006-01-02T15:04:05Z07:00|2024-03-05T07:08:09+00:00|=2024-03-05 07:08:09 +0000 UTC
2006-01-02T15:04:05Z07:00|2024-03-05T07:08:09-00:00|=2024-03-05 07:08:09 +0000 UTC
2006-01-02T15:04:05Z07:00|2024-03-05T25:08:09Z|!parsing time \"2024-03-05T25:08:09Z\": hour out of range
2006-01-02T15:04:05Z07:00|2024-03-05T07:60:09Z|!parsing time \"2024-03-05T07:60:09Z\": minute out of range
2006-01-02T15:04:05Z07:00|2024-03-05T07:08:60Z|!parsing time \"2024-03-05T07:08:60Z\": second out of range
2006-01-02T15:04:05Z07:00|2024-03-05T07:08:09|!parsing time \"2024-03-05T07:08:09\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"\" as \"Z07:00\"
2006-01-02T15:04:05Z07:00|2024-03-05T07:08:09+0100|!parsing time \"2024-03-05T07:08:09+0100\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"+0100\" as \"Z07:00\"
2006-01-02T15:04:05-0700|2024-03-05T07:08:09Z|!parsing time \"2024-03-05T07:08:09Z\" as \"2006-01-02T15:04:05-0700\": cannot parse \"Z\" as \"-0700\"
2006-01-02T15:04:05-07|2024-03-05T07:08:09+05|=2024-03-05 07:08:09 +0500 +0500
2006-01-02T15:04:05Z07|2024-03-05T07:08:09Z|=2024-03-05 07:08:09 +0000 UTC
2006-01-02T15:04:05-070000|2024-03-05T07:08:09+053015|=2024-03-05 07:08:09 +0530 +0530
2006-01-02T15:04:05-07:00:00|2024-03-05T07:08:09-05:30:15|=2024-03-05 07:08:09 -0530 -0530
2006-01-02T15:04:05Z07:00:00|2024-03-05T07:08:09Z|!parsing time \"2024-03-05T07:08:09Z\" as \"2006-01-02T15:04:05Z07:00:00\": cannot parse \"Z\" as \"Z07:00:00\"
2006-01-02T15:04:05Z070000|2024-03-05T07:08:09-000030|=2024-03-05 07:08:09 +0000 +0000
2006-01-02 15:04:05 MST|2024-03-05 07:08:09 MST|=2024-03-05 07:08:09 +0000 MST
2006-01-02 15:04:05 MST|2024-03-05 07:08:09 UTC|=2024-03-05 07:08:09 +0000 UTC
2006-01-02 15:04:05 MST|2024-03-05 07:08:09 GMT+3|=2024-03-05 10:08:09 +0300 GMT+3
2006-01-02 15:04:05 MST|2024-03-05 07:08:09 GMT-11|=2024-03-04 20:08:09 -1100 GMT-11
2006-01-02 15:04:05 MST|2024-03-05 07:08:09 GMT+24|!parsing time \"2024-03-05 07:08:09 GMT+24\": extra text: \"+24\"
2006-01-02 15:04:05 MST|2024-03-05 07:08:09 GMT|=2024-03-05 07:08:09 +0000 GMT
2006-01-02 15:04:05 MST|2024-03-05 07:08:09 +03|=2024-03-05 07:08:09 +0000 +03
2006-01-02 15:04:05 MST|2024-03-05 07:08:09 -24|!parsing time \"2024-03-05 07:08:09 -24\" as \"2006-01-02 15:04:05 MST\": cannot parse \"-24\" as \"MST\"
2006-01-02 15:04:05 MST|2024-03-05 07:08:09 ChST|=2024-03-05 07:08:09 +0000 ChST
2006-01-02 15:04:05 MST|2024-03-05 07:08:09 CEST|=2024-03-05 07:08:09 +0000 CEST
2006-01-02 15:04:05 MST|2024-03-05 07:08:09 WITA|=2024-03-05 07:08:09 +0000 WITA
2006-01-02 15:04:05 MST|2024-03-05 07:08:09 ABCDE|!parsing time \"2024-03-05 07:08:09 ABCDE\" as \"2006-01-02 15:04:05 MST\": cannot parse \"ABCDE\" as \"MST\"
2006-01-02 15:04:05 MST|2024-03-05 07:08:09 Pst|!parsing time \"2024-03-05 07:08:09 Pst\" as \"2006-01-02 15:04:05 MST\": cannot parse \"Pst\" as \"MST\"
2006-01-02 15:04:05 MST|2024-03-05 07:08:09 AB|!parsing time \"2024-03-05 07:08:09 AB\" as \"2006-01-02 15:04:05 MST\": cannot parse \"AB\" as \"MST\"
2006-01-02 15:04:05 -0700 MST|2024-03-05 07:08:09 +0100 CET|=2024-03-05 07:08:09 +0100 CET
2006-01-02 15:04:05 -0700 MST|2024-03-05 07:08:09 +0000 GMT|=2024-03-05 07:08:09 +0000 GMT
2006-01-02 15:04:05 -0700 MST|2024-03-05 07:08:09 +0000 UTC|=2024-03-05 07:08:09 +0000 UTC
2006-01-02 15:04:05 -07:00|2024-03-05 07:08:09 +01-00|!parsing time \"2024-03-05 07:08:09 +01-00\" as \"2006-01-02 15:04:05 -07:00\": cannot parse \"+01-00\" as \"-07:00\"
2006-01-02 15:04:05 -07:00|2024-03-05 07:08:09 x01:00|!parsing time \"2024-03-05 07:08:09 x01:00\" as \"2006-01-02 15:04:05 -07:00\": cannot parse \"\" as \"-07:00\"
2006-01-02 15:04:05 -0700|2024-03-05 07:08:09 +01a0|!parsing time \"2024-03-05 07:08:09 +01a0\" as \"2006-01-02 15:04:05 -0700\": cannot parse \"\" as \"-0700\"
Jan 2 2006 3:04pm|Mar 5 2024 7:08pm|=2024-03-05 19:08:00 +0000 UTC
Jan 2 2006 3:04pm|MAR 5 2024 12:08am|=2024-03-05 00:08:00 +0000 UTC
Jan 2 2006 3:04pm|Mar 5 2024 7:08PM|!parsing time \"Mar 5 2024 7:08PM\" as \"Jan 2 2006 3:04pm\": cannot parse \"\" as \"pm\"
January 2, 2006 3:04 PM|march 5, 2024 12:30 PM|=2024-03-05 12:30:00 +0000 UTC
January 2, 2006 3:04 PM|Marc 5, 2024|!parsing time \"Marc 5, 2024\" as \"January 2, 2006 3:04 PM\": cannot parse \"Marc 5, 2024\" as \"January\"
Mon Jan _2 15:04:05 2006|Tue Mar  5 07:08:09 2024|=2024-03-05 07:08:09 +0000 UTC
Mon Jan _2 15:04:05 2006|Xyz Mar  5 07:08:09 2024|!parsing time \"Xyz Mar  5 07:08:09 2024\" as \"Mon Jan _2 15:04:05 2006\": cannot parse \"Xyz Mar  5 07:08:09 2024\" as \"Mon\"
Monday, 02-Jan-06|tuesday, 05-Mar-24|=2024-03-05 00:00:00 +0000 UTC
02-Jan-06|05-Mar-69|=1969-03-05 00:00:00 +0000 UTC
02-Jan-06|05-Mar-68|=2068-03-05 00:00:00 +0000 UTC
2006 002|2024 060|=2024-02-29 00:00:00 +0000 UTC
2006 002|2023 060|=2023-03-01 00:00:00 +0000 UTC
2006 __2|2024  60|=2024-02-29 00:00:00 +0000 UTC
2006 002|2024 367|!parsing time \"2024 367\": day-of-year out of range
2006 002|2024 366|=2024-12-31 00:00:00 +0000 UTC
2006-01 002|2024-02 060|=2024-02-29 00:00:00 +0000 UTC
2006-01 002|2024-03 060|!parsing time \"2024-03 060\": day-of-year does not match month
2006-01-02 002|2024-02-28 060|!parsing time \"2024-02-28 060\": day-of-year does not match day
002|000|!parsing time \"000\": day-of-year out of range
__2|  7|=0000-01-07 00:00:00 +0000 UTC
15:04:05.000|07:08:09.12|!parsing time \"07:08:09.12\" as \"15:04:05.000\": cannot parse \".12\" as \".000\"
15:04:05.000|07:08:09.123|=0000-01-01 07:08:09.123 +0000 UTC
15:04:05.999|07:08:09|=0000-01-01 07:08:09 +0000 UTC
15:04:05.999|07:08:09.1234567891|!parsing time \"07:08:09.1234567891\": extra text: \"1\"
15:04:05|07:08:09.1234567891|=0000-01-01 07:08:09.123456789 +0000 UTC
15:04:05.000|07:08:09.-12|!parsing time \"07:08:09.-12\": fractional second out of range
15:04:05|07:08:09.5x|!parsing time \"07:08:09.5x\": extra text: \"x\"
05|.5|=0000-01-01 00:00:00.5 +0000 UTC
15:04:05,000|07:08:09.123|=0000-01-01 07:08:09.123 +0000 UTC
2006-01-02  15:04|2024-03-05 07:08|=2024-03-05 07:08:00 +0000 UTC
2006-01-02 15:04|2024-03-05   07:08|=2024-03-05 07:08:00 +0000 UTC
2006-01-02 15:04|2024-03-0507:08|!parsing time \"2024-03-0507:08\" as \"2006-01-02 15:04\": cannot parse \"07:08\" as \" \"
||=0000-01-01 00:00:00 +0000 UTC
|x|!parsing time \"x\": extra text: \"x\"
2006|20x6|!parsing time \"20x6\" as \"2006\": cannot parse \"\" as \"2006\"
06|+1|=2001-01-01 00:00:00 +0000 UTC
06|1|!parsing time \"1\" as \"06\": cannot parse \"1\" as \"06\"
Jan|Janu|!parsing time \"Janu\": extra text: \"u\"
1/2/2006|12/31/2024|=2024-12-31 00:00:00 +0000 UTC
1/2/2006|1/31/2024|=2024-01-31 00:00:00 +0000 UTC
01/02/2006|1/31/2024|!parsing time \"1/31/2024\" as \"01/02/2006\": cannot parse \"1/31/2024\" as \"01\"
_2 Jan| 5 Mar|=0000-03-05 00:00:00 +0000 UTC
_2 Jan|15 Mar|=0000-03-15 00:00:00 +0000 UTC
3:04:05 PM|12:00:00 AM|=0000-01-01 00:00:00 +0000 UTC
3:04:05 PM|13:00:00 PM|!parsing time \"13:00:00 PM\": hour out of range
03:04 PM|1:04 PM|!parsing time \"1:04 PM\" as \"03:04 PM\": cannot parse \"1:04 PM\" as \"03\"
3:04 PM|1:04 XM|!parsing time \"1:04 XM\" as \"3:04 PM\": cannot parse \"\" as \"PM\"
3:04 PM|1:04 P|!parsing time \"1:04 P\" as \"3:04 PM\": cannot parse \"P\" as \"PM\"
2006-01-02T15:04:05.000000000Z07:00|2024-03-05T07:08:09.000000001Z|=2024-03-05 07:08:09.000000001 +0000 UTC
2006-01-02T15:04:05,999Z07:00|2024-03-05T07:08:09,25Z|=2024-03-05 07:08:09.25 +0000 UTC
2006-01-02 MST|2024-03-05 |!parsing time \"2024-03-05 \" as \"2006-01-02 MST\": cannot parse \"\" as \"MST\"
_2006|_2024|=2024-01-01 00:00:00 +0000 UTC
15 3|13 x|!parsing time \"13 x\" as \"15 3\": cannot parse \"x\" as \"3\"
15:04:05.000000000000|07:08:09.123456789012|=0000-01-01 07:08:09.123456789 +0000 UTC
";
    /// INPUT|`time.ParseDuration(INPUT)`: `NANOS STRING`, or `ERR message`
    const PARSE_DURATIONS: &str = "
1h30m|5400000000000 1h30m0s
-1.5h|-5400000000000 -1h30m0s
300ms|300000000 300ms
2h45m|9900000000000 2h45m0s
1µs|1000 1µs
1μs|1000 1µs
1us|1000 1µs
1ns|1 1ns
.5s|500000000 500ms
1.s|1000000000 1s
0|0 0s
-0|0 0s
+0|0 0s
|ERR time: invalid duration \"\"
-|ERR time: invalid duration \"-\"
1|ERR time: missing unit in duration \"1\"
x|ERR time: invalid duration \"x\"
1x|ERR time: unknown unit \"x\" in duration \"1x\"
1.5.5s|ERR time: missing unit in duration \"1.5.5s\"
1h1h|7200000000000 2h0m0s
9223372036854775807ns|9223372036854775807 2562047h47m16.854775807s
9223372036854775808ns|ERR time: invalid duration \"9223372036854775808ns\"
-9223372036854775808ns|-9223372036854775808 -2562047h47m16.854775808s
2562047h47m16.854775807s|9223372036854775807 2562047h47m16.854775807s
2562047h47m16.854775808s|ERR time: invalid duration \"2562047h47m16.854775808s\"
2562048h|ERR time: invalid duration \"2562048h\"
.s|ERR time: invalid duration \".s\"
1.0000000000000000000001s|1000000000 1s
0.3333333333333333333h|1200000000000 20m0s
1e3s|ERR time: unknown unit \"e\" in duration \"1e3s\"
1h 30m|ERR time: unknown unit \"h \" in duration \"1h 30m\"
1.5m|90000000000 1m30s
100000000000000000000ns|ERR time: invalid duration \"100000000000000000000ns\"
-9223372036854775808ns9223372036854775808ns|0 0s
1hé|ERR time: unknown unit \"h\\xc3\\xa9\" in duration \"1h\\xc3\\xa9\"
";
    /// N|`time.Duration(N).String()`
    const DURATION_STRINGS: &str = "
0|0s
1|1ns
999|999ns
1000|1µs
1500|1.5µs
999999|999.999µs
1000000|1ms
1100000|1.1ms
999999999|999.999999ms
1000000000|1s
1500000000|1.5s
60000000000|1m0s
61000000000|1m1s
3600000000000|1h0m0s
3601000000001|1h0m1.000000001s
-5400000000000|-1h30m0s
9223372036854775807|2562047h47m16.854775807s
-9223372036854775808|-2562047h47m16.854775808s
86400000000000|24h0m0s
100|100ns
";
    /// D|M|`time.Duration(D).Round(M).String()`
    const ROUNDS: &str = "
1500000000|1000000000|2s
-1500000000|1000000000|-2s
1499999999|1000000000|1s
9223372036854775807|1000000000|2562047h47m16.854775807s
-9223372036854775808|1000000000|-2562047h47m16.854775808s
5|0|5ns
5|-1|5ns
-2500000000|1000000000|-3s
";
    /// NAME|`=` printed result or `!` error|ARGS (see `arg`): a function, or `@Method` of the first argument
    const CALLS: &str = "
date|=2023-11-14 22:13:20 UTC|s:2006-01-02 15:04:05 MST|i:1700000000
date|=2024-03-05 06:08:09 UTC|s:2006-01-02 15:04:05 MST|t:2024-03-05T07:08:09.123456789+01:00
date|=-0001|s:2006|i:-62198755200
date|=292277026596-12-04|s:2006-01-02|i:9223372036854775807
date|!wrong type for value; expected string; got float64|f:1.5|i:5
date|!wrong type for value; expected string; got interface {}|nil|i:5
date|!invalid value; expected string|undef|i:5
date|!wrong number of args for date: want 2 got 1|s:x
dateInZone|=Nov 15 03:43 IST|s:Jan 2 15:04 MST|i:1700000000|s:Asia/Kolkata
date_in_zone|=Mar 5 01:08 EST|s:Jan 2 15:04 MST|t:2024-03-05T07:08:09.123456789+01:00|s:America/New_York
dateInZone|!wrong type for value; expected string; got float64|s:Jan 2 15:04 MST|t:2024-03-05T07:08:09.123456789+01:00|f:1.5
htmlDate|=2023-11-14|i:1700000000
htmlDate|=2024-03-05|t:2024-03-05T07:08:09.123456789+01:00
htmlDateInZone|=2023-11-15|i:1700000000|s:Pacific/Kiritimati
htmlDateInZone|=2024-03-05|t:2024-03-05T07:08:09.123456789+01:00|s:Bad/Zone
toDate|=2024-03-05 00:00:00 +0000 UTC|s:2006-01-02|s:2024-03-05
toDate|=0001-01-01 00:00:00 +0000 UTC|s:2006-01-02|s:x
toDate|!wrong type for value; expected string; got float64|s:2006|f:1.5
mustToDate|!parsing time \"x\" as \"2006-01-02\": cannot parse \"x\" as \"2006\"|s:2006-01-02|s:x
unixEpoch|=1709618889|t:2024-03-05T07:08:09.123456789+01:00
unixEpoch|!wrong type for value; expected time.Time; got float64|f:1.5
unixEpoch|!invalid value; expected time.Time|undef
unixEpoch|!wrong type for value; expected time.Time; got interface {}|nil
dateModify|=2024-03-05 08:38:09.123456789 +0100 +0100|s:1h30m|t:2024-03-05T07:08:09.123456789+01:00
dateModify|=2024-03-03 07:08:09.123456789 +0100 +0100|s:-48h|t:2024-03-05T07:08:09.123456789+01:00
dateModify|=2024-03-05 07:08:09.123456789 +0100 +0100|s:bad|t:2024-03-05T07:08:09.123456789+01:00
date_modify|=2024-03-05 07:08:10.623456789 +0100 +0100|s:1.5s|t:2024-03-05T07:08:09.123456789+01:00
dateModify|!wrong type for value; expected string; got float64|f:1.5|t:2024-03-05T07:08:09.123456789+01:00
dateModify|!wrong type for value; expected time.Time; got float64|s:1h|f:1.5
mustDateModify|=2024-03-05 08:08:09.123456789 +0100 +0100|s:1h|t:2024-03-05T07:08:09.123456789+01:00
mustDateModify|!time: unknown unit \"x\" in duration \"1x\"|s:1x|t:2024-03-05T07:08:09.123456789+01:00
must_date_modify|!time: invalid duration \"\"|s:|t:2024-03-05T07:08:09.123456789+01:00
dateModify|=2316-06-14 23:00:00 +0000 UTC|s:2562047h|t:2024-03-05T00:00:00Z
duration|=1m30s|s:90
duration|=0s|i:90
duration|=0s|f:90
duration|=5s|s:+5
duration|=0s|s: 5
duration|=-1s|s:99999999999999999999
duration|=0s|s:-99999999999999999999
duration|=-2562047h47m16.709551616s|s:9223372037
duration|=-1h0m0s|s:-3600
duration|=24h0m0s|s:86400
duration|=0s|t:2024-03-05T07:08:09.123456789+01:00
durationRound|=2h|s:2h5m
durationRound|=3h|s:-3h
durationRound|=60m|s:1h
durationRound|=1h|s:61m
durationRound|=0s|s:x
durationRound|=0s|i:5
durationRound|=0s|f:1.5
durationRound|=1y|s:8761h
durationRound|=1mo|s:745h
durationRound|=2d|s:49h
durationRound|=1s|s:1.5s
durationRound|=0s|s:1s
durationRound|=292y|s:-2562047h47m16.854775808s
durationRound|=27y|t:1999-01-01T00:00:00Z
ago|=-2562047h47m16.854775808s|i:99999999999999
ago|=2562047h47m16.854775807s|i:-9223372036854775808
@Year|=2024|t:2024-03-05T07:08:09.123456789+01:00
@Month|=March|t:2024-03-05T07:08:09.123456789+01:00
@Day|=5|t:2024-03-05T07:08:09.123456789+01:00
@Hour|=7|t:2024-03-05T07:08:09.123456789+01:00
@Minute|=8|t:2024-03-05T07:08:09.123456789+01:00
@Second|=9|t:2024-03-05T07:08:09.123456789+01:00
@Nanosecond|=123456789|t:2024-03-05T07:08:09.123456789+01:00
@YearDay|=65|t:2024-03-05T07:08:09.123456789+01:00
@Weekday|=Tuesday|t:2024-03-05T07:08:09.123456789+01:00
@Unix|=1709618889|t:2024-03-05T07:08:09.123456789+01:00
@UnixMilli|=1709618889123|t:2024-03-05T07:08:09.123456789+01:00
@UnixMicro|=1709618889123456|t:2024-03-05T07:08:09.123456789+01:00
@UnixNano|=1709618889123456789|t:2024-03-05T07:08:09.123456789+01:00
@UTC|=2024-03-05 06:08:09.123456789 +0000 UTC|t:2024-03-05T07:08:09.123456789+01:00
@Local|=2024-03-05 06:08:09.123456789 +0000 UTC|t:2024-03-05T07:08:09.123456789+01:00
@String|=2024-03-05 07:08:09.123456789 +0100 +0100|t:2024-03-05T07:08:09.123456789+01:00
@IsZero|=false|t:2024-03-05T07:08:09.123456789+01:00
@Format|=Mar 5 7:08AM +01:00|t:2024-03-05T07:08:09.123456789+01:00|s:Jan 2 3:04PM -07:00
@Format|!wrong type for value; expected string; got float64|t:2024-03-05T07:08:09.123456789+01:00|f:1.5
@Format|!wrong number of args for Format: want 1 got 2|t:2024-03-05T07:08:09.123456789+01:00|s:a|s:b
@AddDate|=2024-03-02 00:00:00 +0000 UTC|t:2024-01-31T00:00:00Z|i:0|i:1|i:0
@AddDate|=2023-04-03 00:00:00 +0000 UTC|t:2024-01-31T00:00:00Z|i:-1|i:2|i:3
@AddDate|=2023-01-30 07:08:09.123456789 +0100 +0100|t:2024-03-05T07:08:09.123456789+01:00|i:0|i:0|i:-400
@AddDate|=2023-03-04 20:34:33.123456789 +0100 +0100|t:2024-03-05T07:08:09.123456789+01:00|i:9223372036854775807|i:0|i:0
@AddDate|=2024-03-05 12:53:45.123456789 +0100 +0100|t:2024-03-05T07:08:09.123456789+01:00|i:0|i:-9223372036854775808|i:0
@AddDate|=2024-03-04 07:08:09.123456789 +0100 +0100|t:2024-03-05T07:08:09.123456789+01:00|i:0|i:0|i:9223372036854775807
@AddDate|!wrong number of args for AddDate: want 3 got 2|t:2024-03-05T07:08:09.123456789+01:00|i:1|i:2
@AddDate|!wrong type for value; expected int; got float64|t:2024-03-05T07:08:09.123456789+01:00|i:1|i:2|f:1.5
@Add|=2024-03-05 07:08:09.123456794 +0100 +0100|t:2024-03-05T07:08:09.123456789+01:00|i:5
@Add|=2024-03-05 06:08:09.123456789 +0100 +0100|t:2024-03-05T07:08:09.123456789+01:00|i:-3600000000000
@Add|=2316-06-15 06:55:25.978232596 +0100 +0100|t:2024-03-05T07:08:09.123456789+01:00|i:9223372036854775807
@Add|=1731-11-25 07:20:52.268680981 +0100 +0100|t:2024-03-05T07:08:09.123456789+01:00|i:-9223372036854775808
@Add|!wrong type for value; expected time.Duration; got float64|t:2024-03-05T07:08:09.123456789+01:00|f:1.5
@Year|!wrong number of args for Year: want 0 got 1|t:2024-03-05T07:08:09.123456789+01:00|i:1
@Nope|!can't evaluate field Nope in type time.Time|t:2024-03-05T07:08:09.123456789+01:00
@Before|=false|t:2024-03-05T07:08:09.123456789+01:00|t:2024-01-31T00:00:00Z
@After|=true|t:2024-03-05T07:08:09.123456789+01:00|t:2024-01-31T00:00:00Z
@Equal|=true|t:2024-03-05T07:08:09.123456789+01:00|t:2024-03-05T06:08:09.123456789Z
@Equal|!wrong type for value; expected time.Time; got float64|t:2024-03-05T07:08:09.123456789+01:00|f:1.5
@Year|=1|t:0001-01-01T00:00:00Z
@IsZero|=true|t:0001-01-01T00:00:00Z
@UnixNano|=-6795364578871345152|t:0001-01-01T00:00:00Z
@Weekday|=Monday|t:0001-01-01T00:00:00Z
@YearDay|=366|t:2024-12-31T23:59:59-01:00
@Month|=December|t:2024-12-31T23:59:59-01:00
";
}
