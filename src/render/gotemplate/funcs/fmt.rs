//! Go's `fmt` package for the values a goTemplate holds: `Sprintf` (behind `printf`), `Sprint`
//! (behind `print`, `html`, `js`, `urlquery`) and `Sprintln` (behind `println`), ported from
//! Go 1.19's fmt/print.go and fmt/format.go, with strconv's float formatting (ftoa.go).
//!
//! Stage: render (pure; no I/O). Every verb, flag (`+ - # 0 space`), width, precision, `*` and
//! argument index of Go's `doPrintf` is ported, with Go's error forms (`%!d(string=x)`,
//! `%!d(MISSING)`, `%!(EXTRA int=1)`, `%!(NOVERB)`, `%!(BADWIDTH)`, `%!(BADPREC)`,
//! `%!d(BADINDEX)`). Arguments come with their Go types ([`Arg`]: `None` is a nil interface), so
//! an `int`, a `uint8` and a `float64` print as Go prints each.
//!
//! Where appset differs from Go, each time on values Go prints from their memory layout:
//! - `%p` is a bad verb (Go prints the address of a slice or map);
//! - `time.Time` and `*semver.Version` print their `String()` for `%v %s %q %x %X` as Go does,
//!   and for `%#v` too (Go prints `time.Date(...)` and a pointer); other verbs are bad verbs (Go
//!   prints the struct's fields).
//!
//! Go accepts widths and precisions up to 9,999,999 and builds whatever they ask for; here a
//! result longer than [`MAX_STRING`] bytes is an error instead, found before the padding is
//! written, so no template can exhaust memory.

use minijinja::Value as J;

use super::MAX_STRING;
use crate::render::gotemplate::value::{GoType, as_string, dict_of, dyn_type, items};
use crate::text;

/// An argument as fmt receives it: the value and its Go type (`None` for a nil interface).
pub(in crate::render::gotemplate) type Arg = (J, Option<GoType>);

/// Go's `fmt.Sprintf`.
pub(in crate::render::gotemplate) fn sprintf(format: &str, a: &[Arg]) -> Result<String, String> {
    let mut p = Printer::default();
    p.do_printf(format, a);
    p.finish()
}

/// Go's `fmt.Sprint`: a space between two operands when neither is a string.
pub(in crate::render::gotemplate) fn sprint(a: &[Arg]) -> Result<String, String> {
    let mut p = Printer::default();
    let mut prev_string = false;
    for (n, arg) in a.iter().enumerate() {
        let is_string = arg.1 == Some(GoType::Str);
        if n > 0 && !is_string && !prev_string {
            p.buf.push(' ');
        }
        p.print_arg(arg, 'v');
        prev_string = is_string;
    }
    p.finish()
}

/// Go's `fmt.Sprintln`: operands separated by spaces, then a newline.
pub(in crate::render::gotemplate) fn sprintln(a: &[Arg]) -> Result<String, String> {
    let mut p = Printer::default();
    for (n, arg) in a.iter().enumerate() {
        if n > 0 {
            p.buf.push(' ');
        }
        p.print_arg(arg, 'v');
    }
    p.buf.push('\n');
    p.finish()
}

/// Go's `%v` of a value of the data (typed by what it holds), for the rest of the engine.
pub(in crate::render::gotemplate) fn sprint_value(v: &J) -> String {
    let mut p = Printer::default();
    p.print_arg(&(v.clone(), dyn_type(v)), 'v');
    p.buf
}

/// Go's `fmtFlags` with the width and precision.
#[derive(Debug, Default, Clone, Copy)]
struct Flags {
    wid_present: bool,
    prec_present: bool,
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    /// `%#v`: Go syntax.
    sharp_v: bool,
    wid: usize,
    prec: usize,
}

/// Go's `pp` and `fmt`: the output and the state of the verb being printed.
#[derive(Debug, Default)]
struct Printer {
    buf: String,
    f: Flags,
    /// The format used an argument index (`%[2]d`): no `%!(EXTRA ...)`.
    reordered: bool,
    /// The argument index of this verb is valid.
    good_arg_num: bool,
    /// The result outgrew [`MAX_STRING`]: printing stopped.
    too_long: bool,
}

/// Go's `tooLarge`: widths, precisions and indexes stop at a million.
fn too_large(x: i64) -> bool {
    !(-1_000_000..=1_000_000).contains(&x)
}

/// Go's `parsenum`: a decimal number in `b[start..end]`, whether there was one, and where it
/// ends (`end` when it overflows, which swallows the rest of the format as Go does).
fn parsenum(b: &[u8], start: usize, end: usize) -> (usize, bool, usize) {
    if start >= end {
        return (0, false, end);
    }
    let (mut num, mut isnum, mut i) = (0usize, false, start);
    while i < end && b[i].is_ascii_digit() {
        if too_large(num as i64) {
            return (0, false, end);
        }
        num = num * 10 + usize::from(b[i] - b'0');
        isnum = true;
        i += 1;
    }
    (num, isnum, i)
}

/// Go's `parseArgNumber` of `[n]...`: the zero-based index, the length of `[n]`, and whether
/// it is a number.
fn parse_arg_number(b: &[u8]) -> (i64, usize, bool) {
    if b.len() < 3 {
        return (0, 1, false);
    }
    for i in 1..b.len() {
        if b[i] == b']' {
            let (width, ok, newi) = parsenum(b, 1, i);
            if !ok || newi != i {
                return (0, i + 1, false);
            }
            return (width as i64 - 1, i + 1, true);
        }
    }
    (0, 1, false)
}

/// Go's `intFromArg`: argument `n` as a `*` width or precision (an integer type only), whether
/// it was one, and the next argument.
fn int_from_arg(a: &[Arg], n: usize) -> (i64, bool, usize) {
    let Some((v, ty)) = a.get(n) else {
        return (0, false, n);
    };
    let (num, is_int) = match ty {
        Some(GoType::Int | GoType::Int64 | GoType::Uint8 | GoType::Uint32) => (int_bits(v) as i64, true),
        _ => (0, false),
    };
    if too_large(num) {
        return (0, false, n + 1);
    }
    (num, is_int, n + 1)
}

/// The bits of an integer value as Go's `fmtInteger` takes them (two's complement for signed).
fn int_bits(v: &J) -> u64 {
    v.as_i64()
        .map(|i| i as u64)
        .or_else(|| u64::try_from(v.clone()).ok())
        .unwrap_or_else(|| f64::try_from(v.clone()).map_or(0, |f| f as i64 as u64))
}

/// strconv's `CanBackquote`: no control characters but tab, no backquote, no BOM.
fn can_backquote(s: &str) -> bool {
    !s.chars()
        .any(|c| (c < ' ' && c != '\t') || c == '`' || c == '\u{7f}' || c == '\u{feff}')
}

/// A rune of an integer as `%c` and `%q` take it: U+FFFD when it is not a valid code point.
fn rune_of(c: u64) -> char {
    u32::try_from(c)
        .ok()
        .and_then(char::from_u32)
        .unwrap_or(char::REPLACEMENT_CHARACTER)
}

impl Printer {
    /// The result, or an error when it outgrew [`MAX_STRING`].
    fn finish(self) -> Result<String, String> {
        if self.too_long || self.buf.len() > MAX_STRING {
            return Err(format!("the result is longer than {MAX_STRING} bytes"));
        }
        Ok(self.buf)
    }

    /// Whether `n` more bytes keep the result within [`MAX_STRING`]; records when not.
    fn room(&mut self, n: usize) -> bool {
        if self.buf.len().saturating_add(n) > MAX_STRING {
            self.too_long = true;
        }
        !self.too_long
    }

    /// Go's `writePadding`: `n` spaces, or zeros with the `0` flag.
    fn write_padding(&mut self, n: usize) {
        if n == 0 || !self.room(n) {
            return;
        }
        let c = if self.f.zero { '0' } else { ' ' };
        self.buf.extend(std::iter::repeat_n(c, n));
    }

    /// Go's `pad` and `padString`: `s` padded to the width, on the left unless `-`.
    fn pad(&mut self, s: &str) {
        if !self.f.wid_present || self.f.wid == 0 {
            self.buf.push_str(s);
            return;
        }
        let width = self.f.wid.saturating_sub(s.chars().count());
        if self.f.minus {
            self.buf.push_str(s);
            self.write_padding(width);
        } else {
            self.write_padding(width);
            self.buf.push_str(s);
        }
    }

    /// [`Printer::pad`] with the `0` flag off (Go pads numbers' zeros itself).
    fn pad_spaces(&mut self, s: &str) {
        let zero = std::mem::replace(&mut self.f.zero, false);
        self.pad(s);
        self.f.zero = zero;
    }

    /// Go's `fmtUnicode`: `U+0078`, or `U+0078 'x'` with `#`.
    fn fmt_unicode(&mut self, u: u64) {
        let prec = if self.f.prec_present && self.f.prec > 4 {
            self.f.prec
        } else {
            4
        };
        if !self.room(prec) {
            return;
        }
        let hex = format!("{u:X}");
        let mut s = format!("U+{}{hex}", "0".repeat(prec.saturating_sub(hex.len())));
        if self.f.sharp
            && let Some(c) = u32::try_from(u).ok().and_then(char::from_u32)
            && text::is_go_print(c)
        {
            s.push_str(&format!(" '{c}'"));
        }
        self.pad_spaces(&s);
    }

    /// Go's `fmt.fmtInteger`: `u` (two's complement when `signed`) in `base`, with precision or
    /// zero padding, `#` prefixes, `%O`'s `0o` and the sign.
    fn fmt_integer(&mut self, u: u64, base: u32, signed: bool, verb: char, upper: bool) {
        let negative = signed && (u as i64) < 0;
        let u = if negative { u.wrapping_neg() } else { u };
        let mut prec = 0;
        if self.f.prec_present {
            prec = self.f.prec;
            // Precision 0 and value 0 print nothing but the padding.
            if prec == 0 && u == 0 {
                let zero = std::mem::replace(&mut self.f.zero, false);
                self.write_padding(self.f.wid);
                self.f.zero = zero;
                return;
            }
        } else if self.f.zero && self.f.wid_present {
            prec = self.f.wid;
            if negative || self.f.plus || self.f.space {
                prec = prec.saturating_sub(1); // room for the sign
            }
        }
        if !self.room(prec) {
            return;
        }
        let digits = match (base, upper) {
            (2, _) => format!("{u:b}"),
            (8, _) => format!("{u:o}"),
            (16, false) => format!("{u:x}"),
            (16, true) => format!("{u:X}"),
            _ => u.to_string(),
        };
        let zeros = prec.saturating_sub(digits.len());
        let mut s = String::with_capacity(zeros + digits.len() + 4);
        if negative {
            s.push('-');
        } else if self.f.plus {
            s.push('+');
        } else if self.f.space {
            s.push(' ');
        }
        if verb == 'O' {
            s.push_str("0o");
        }
        if self.f.sharp {
            match base {
                2 => s.push_str("0b"),
                8 if zeros == 0 && !digits.starts_with('0') => s.push('0'),
                16 => s.push_str(if upper { "0X" } else { "0x" }),
                _ => {}
            }
        }
        s.extend(std::iter::repeat_n('0', zeros));
        s.push_str(&digits);
        self.pad_spaces(&s);
    }

    /// Go's `truncateString`: at most the precision's number of runes.
    fn truncate<'s>(&self, s: &'s str) -> &'s str {
        if !self.f.prec_present {
            return s;
        }
        match s.char_indices().nth(self.f.prec) {
            Some((i, _)) => &s[..i],
            None => s,
        }
    }

    /// Go's `fmtS`.
    fn fmt_s(&mut self, s: &str) {
        let s = self.truncate(s);
        self.pad(s);
    }

    /// Go's `fmtSbx`: the bytes of `s` in hexadecimal (`% x` spaces them, `#` adds `0x`).
    fn fmt_sbx(&mut self, s: &str, upper: bool) {
        let b = s.as_bytes();
        let length = if self.f.prec_present {
            b.len().min(self.f.prec)
        } else {
            b.len()
        };
        if length == 0 {
            if self.f.wid_present {
                self.write_padding(self.f.wid);
            }
            return;
        }
        let mut width = 2 * length;
        if self.f.space {
            if self.f.sharp {
                width *= 2;
            }
            width += length - 1;
        } else if self.f.sharp {
            width += 2;
        }
        let padding = if self.f.wid_present {
            self.f.wid.saturating_sub(width)
        } else {
            0
        };
        if !self.f.minus {
            self.write_padding(padding);
        }
        if !self.room(width) {
            return;
        }
        let prefix = if upper { "0X" } else { "0x" };
        if self.f.sharp {
            self.buf.push_str(prefix);
        }
        for (i, c) in b[..length].iter().enumerate() {
            if self.f.space && i > 0 {
                self.buf.push(' ');
                if self.f.sharp {
                    self.buf.push_str(prefix);
                }
            }
            if upper {
                self.buf.push_str(&format!("{c:02X}"));
            } else {
                self.buf.push_str(&format!("{c:02x}"));
            }
        }
        if self.f.minus {
            self.write_padding(padding);
        }
    }

    /// Go's `fmtQ`: a Go string literal (`+` escapes non-ASCII; `#` backquotes when it can).
    fn fmt_q(&mut self, s: &str) {
        let s = self.truncate(s);
        if self.f.sharp && can_backquote(s) {
            self.pad(&format!("`{s}`"));
        } else {
            self.pad(&text::go_quote_with(s, '"', self.f.plus));
        }
    }

    /// Go's `fmtC`: the character of an integer.
    fn fmt_c(&mut self, c: u64) {
        self.pad(rune_of(c).encode_utf8(&mut [0; 4]));
    }

    /// Go's `fmtQc`: a Go character literal (`'x'`).
    fn fmt_qc(&mut self, c: u64) {
        let quoted = text::go_quote_with(rune_of(c).encode_utf8(&mut [0; 4]), '\'', self.f.plus);
        self.pad(&quoted);
    }

    /// Go's `fmt.fmtFloat`: strconv's formatting of `v` with `verb` (`b e E f g G x X`) and
    /// precision (`-1` shortest) unless one is given, then the sign, `#` and padding.
    fn fmt_float(&mut self, v: f64, verb: u8, prec: i64) {
        let prec = if self.f.prec_present {
            self.f.prec as i64
        } else {
            prec
        };
        if matches!(verb, b'e' | b'E' | b'f' | b'x' | b'X') && !self.room(prec.max(0) as usize) {
            return;
        }
        let mut num = b"+".to_vec();
        num.extend_from_slice(ftoa(v, verb, prec).as_bytes());
        if num[1] == b'-' || num[1] == b'+' {
            num.remove(0);
        }
        if self.f.space && num[0] == b'+' && !self.f.plus {
            num[0] = b' ';
        }
        // Infinities and NaN are not numbers to pad with zeros.
        if num[1] == b'I' || num[1] == b'N' {
            if num[1] == b'N' && !self.f.space && !self.f.plus {
                num.remove(0);
            }
            self.pad_spaces(&String::from_utf8_lossy(&num));
            return;
        }
        // `#`: a decimal point always, and the trailing zeros %g drops.
        if self.f.sharp && verb != b'b' {
            let mut digits = match verb {
                b'v' | b'g' | b'G' | b'x' if prec == -1 => 6,
                b'v' | b'g' | b'G' | b'x' => prec,
                _ => 0,
            };
            let mut tail = Vec::new();
            let (mut has_point, mut nonzero) = (false, false);
            let mut i = 1;
            while i < num.len() {
                match num[i] {
                    b'.' => has_point = true,
                    b'p' | b'P' => {
                        tail = num.split_off(i);
                        break;
                    }
                    b'e' | b'E' if verb != b'x' && verb != b'X' => {
                        tail = num.split_off(i);
                        break;
                    }
                    c => {
                        nonzero |= c != b'0';
                        if nonzero {
                            digits -= 1;
                        }
                    }
                }
                i += 1;
            }
            if !has_point {
                if num.len() == 2 && num[1] == b'0' {
                    digits -= 1;
                }
                num.push(b'.');
            }
            if digits > 0 {
                if !self.room(digits as usize) {
                    return;
                }
                num.extend(std::iter::repeat_n(b'0', digits as usize));
            }
            num.extend(tail);
        }
        let num = String::from_utf8_lossy(&num).into_owned();
        if self.f.plus || !num.starts_with('+') {
            // Zero padding goes between the sign and the digits.
            if self.f.zero && self.f.wid_present && self.f.wid > num.len() {
                self.buf.push_str(&num[..1]);
                self.write_padding(self.f.wid - num.len());
                self.buf.push_str(&num[1..]);
            } else {
                self.pad(&num);
            }
            return;
        }
        self.pad(&num[1..]);
    }

    /// Go's `badVerb`: `%!verb(type=value)`, the value printed with `%v` and the verb's flags.
    fn bad_verb(&mut self, verb: char, arg: Option<(&J, GoType)>) {
        self.buf.push_str("%!");
        self.buf.push(verb);
        self.buf.push('(');
        match arg {
            Some((v, t)) => {
                self.buf.push_str(t.name());
                self.buf.push('=');
                self.print_value(v, t, 'v', 0);
            }
            None => self.buf.push_str("<nil>"),
        }
        self.buf.push(')');
    }

    /// Go's `pp.fmtBool`; false for a bad verb.
    fn fmt_bool(&mut self, b: bool, verb: char) -> bool {
        match verb {
            't' | 'v' => self.pad(if b { "true" } else { "false" }),
            _ => return false,
        }
        true
    }

    /// Go's `fmt0x64`: hexadecimal, with `0x` when `leading_0x`.
    fn fmt_0x64(&mut self, u: u64, leading_0x: bool) {
        let sharp = std::mem::replace(&mut self.f.sharp, leading_0x);
        self.fmt_integer(u, 16, false, 'v', false);
        self.f.sharp = sharp;
    }

    /// Go's `pp.fmtInteger`; false for a bad verb.
    fn fmt_int(&mut self, u: u64, signed: bool, verb: char) -> bool {
        match verb {
            'v' if self.f.sharp_v && !signed => self.fmt_0x64(u, true),
            'v' | 'd' => self.fmt_integer(u, 10, signed, verb, false),
            'b' => self.fmt_integer(u, 2, signed, verb, false),
            'o' | 'O' => self.fmt_integer(u, 8, signed, verb, false),
            'x' => self.fmt_integer(u, 16, signed, verb, false),
            'X' => self.fmt_integer(u, 16, signed, verb, true),
            'c' => self.fmt_c(u),
            'q' => self.fmt_qc(u),
            'U' => self.fmt_unicode(u),
            _ => return false,
        }
        true
    }

    /// Go's `pp.fmtFloat` of a `float64`; false for a bad verb.
    fn fmt_float_verb(&mut self, v: f64, verb: char) -> bool {
        match verb {
            'v' => self.fmt_float(v, b'g', -1),
            'b' | 'g' | 'G' | 'x' | 'X' => self.fmt_float(v, verb as u8, -1),
            'f' | 'e' | 'E' => self.fmt_float(v, verb as u8, 6),
            'F' => self.fmt_float(v, b'f', 6),
            _ => return false,
        }
        true
    }

    /// Go's `pp.fmtString`; false for a bad verb.
    fn fmt_string(&mut self, s: &str, verb: char) -> bool {
        match verb {
            'v' if self.f.sharp_v => self.fmt_q(s),
            'v' | 's' => self.fmt_s(s),
            'x' => self.fmt_sbx(s, false),
            'X' => self.fmt_sbx(s, true),
            'q' => self.fmt_q(s),
            _ => return false,
        }
        true
    }

    /// Go's `printArg`: an argument of `Sprintf`, `Sprint` or `Sprintln`.
    fn print_arg(&mut self, (v, ty): &Arg, verb: char) {
        let Some(t) = *ty else {
            match verb {
                'T' | 'v' => self.pad("<nil>"),
                _ => self.bad_verb(verb, None),
            }
            return;
        };
        match verb {
            'T' => self.fmt_s(t.name()),
            'p' => self.bad_verb(verb, Some((v, t))),
            _ => self.print_value(v, t, verb, 0),
        }
    }

    /// Go's `printValue`: `v` of Go type `t` (`depth` > 0 inside a slice or map).
    fn print_value(&mut self, v: &J, t: GoType, verb: char, depth: usize) {
        let handled = match t {
            GoType::Bool => self.fmt_bool(v.is_true(), verb),
            GoType::Int | GoType::Int64 => self.fmt_int(int_bits(v), true, verb),
            GoType::Uint8 | GoType::Uint32 => self.fmt_int(int_bits(v), false, verb),
            GoType::Float64 => self.fmt_float_verb(f64::try_from(v.clone()).unwrap_or(0.0), verb),
            GoType::Str => match v.as_str() {
                Some(s) => self.fmt_string(s, verb),
                None => self.fmt_string(&as_string(v), verb),
            },
            GoType::List | GoType::Lists | GoType::Strings | GoType::Ints | GoType::Map | GoType::StrMap => {
                self.print_collection(v, t, verb, depth);
                true
            }
            GoType::Iface => {
                // An element of an `interface {}` collection: what it holds.
                match dyn_type(v) {
                    None if self.f.sharp_v => self.buf.push_str("interface {}(nil)"),
                    None => self.buf.push_str("<nil>"),
                    Some(GoType::Iface) => self.fmt_s(&v.to_string()),
                    Some(inner) => self.print_value(v, inner, verb, depth + 1),
                }
                true
            }
            GoType::Time | GoType::Version | GoType::Certificate | GoType::Reflect => {
                if v.is_none() || v.is_undefined() {
                    self.pad("<nil>");
                    true
                } else if self.f.sharp_v {
                    self.fmt_s(&v.to_string());
                    true
                } else {
                    self.print_stringer(v, verb)
                }
            }
        };
        if !handled {
            self.bad_verb(verb, Some((v, t)));
        }
    }

    /// A value with a `String()` method (`time.Time`, `*semver.Version`), as Go's
    /// `handleMethods` prints it for `%v %s %q %x %X`; false for other verbs.
    fn print_stringer(&mut self, v: &J, verb: char) -> bool {
        match verb {
            'v' | 's' | 'q' | 'x' | 'X' => self.fmt_string(&v.to_string(), verb),
            _ => false,
        }
    }

    /// Go's `printValue` of a slice (`[a b]`, or `[]T{a, b}` with `%#v`) or of a map, keys
    /// sorted (`map[k:v]`, or `map[K]V{k:v}` with `%#v`).
    fn print_collection(&mut self, v: &J, t: GoType, verb: char, depth: usize) {
        let is_map = matches!(t, GoType::Map | GoType::StrMap);
        if self.f.sharp_v {
            self.buf.push_str(t.name());
            if v.is_none() || v.is_undefined() {
                self.buf.push_str("(nil)");
                return;
            }
            self.buf.push('{');
        } else {
            self.buf.push_str(if is_map { "map[" } else { "[" });
        }
        let entries: Vec<(Option<String>, J)> = if is_map {
            dict_of(v).into_iter().map(|(k, x)| (Some(k), x)).collect()
        } else {
            items(v).into_iter().map(|x| (None, x)).collect()
        };
        for (i, (key, x)) in entries.iter().enumerate() {
            if i > 0 {
                self.buf.push_str(if self.f.sharp_v { ", " } else { " " });
            }
            if let Some(key) = key {
                self.print_value(&J::from(key.as_str()), GoType::Str, verb, depth + 1);
                self.buf.push(':');
            }
            self.print_value(x, t.elem(), verb, depth + 1);
            if self.too_long {
                return;
            }
        }
        self.buf.push(if self.f.sharp_v { '}' } else { ']' });
    }

    /// Go's `argNumber`: an argument index `[n]` at `i`, if any: the argument to use, where the
    /// format goes on, and whether there was a valid one.
    fn arg_number(&mut self, arg_num: usize, b: &[u8], i: usize, num_args: usize) -> (usize, usize, bool) {
        if b.len() <= i || b[i] != b'[' {
            return (arg_num, i, false);
        }
        self.reordered = true;
        let (index, wid, ok) = parse_arg_number(&b[i..]);
        if ok && (0..num_args as i64).contains(&index) {
            return (index as usize, i + wid, true);
        }
        self.good_arg_num = false;
        (arg_num, i + wid, ok)
    }

    /// Go's `doPrintf`.
    fn do_printf(&mut self, format: &str, a: &[Arg]) {
        let b = format.as_bytes();
        let end = b.len();
        let mut arg_num = 0;
        let mut after_index;
        self.reordered = false;
        let mut i = 0;
        'format: while i < end && !self.too_long && self.buf.len() <= MAX_STRING {
            self.good_arg_num = true;
            let lasti = i;
            while i < end && b[i] != b'%' {
                i += 1;
            }
            self.buf.push_str(&format[lasti..i]);
            if i >= end {
                break;
            }
            i += 1; // the %
            self.f = Flags::default();
            // Flags, and the fast path of a lowercase verb right after them.
            while i < end {
                match b[i] {
                    b'#' => self.f.sharp = true,
                    b'0' => self.f.zero = !self.f.minus,
                    b'+' => self.f.plus = true,
                    b'-' => {
                        self.f.minus = true;
                        self.f.zero = false;
                    }
                    b' ' => self.f.space = true,
                    c if c.is_ascii_lowercase() && arg_num < a.len() => {
                        self.print_verb(&a[arg_num], c as char);
                        arg_num += 1;
                        i += 1;
                        continue 'format;
                    }
                    _ => break,
                }
                i += 1;
            }
            (arg_num, i, after_index) = self.arg_number(arg_num, b, i, a.len());
            // Width: a number or `*`.
            if i < end && b[i] == b'*' {
                i += 1;
                let (wid, ok, next) = int_from_arg(a, arg_num);
                arg_num = next;
                self.f.wid_present = ok;
                if !ok {
                    self.buf.push_str("%!(BADWIDTH)");
                }
                if wid < 0 {
                    self.f.minus = true;
                    self.f.zero = false;
                }
                self.f.wid = wid.unsigned_abs() as usize;
                after_index = false;
            } else {
                (self.f.wid, self.f.wid_present, i) = parsenum(b, i, end);
                if after_index && self.f.wid_present {
                    self.good_arg_num = false; // %[3]2d
                }
            }
            // Precision: `.` then a number or `*`.
            if i + 1 < end && b[i] == b'.' {
                i += 1;
                if after_index {
                    self.good_arg_num = false; // %[3].2d
                }
                (arg_num, i, after_index) = self.arg_number(arg_num, b, i, a.len());
                if i < end && b[i] == b'*' {
                    i += 1;
                    let (prec, ok, next) = int_from_arg(a, arg_num);
                    arg_num = next;
                    self.f.prec_present = ok && prec >= 0;
                    self.f.prec = if self.f.prec_present { prec as usize } else { 0 };
                    if !self.f.prec_present {
                        self.buf.push_str("%!(BADPREC)");
                    }
                    after_index = false;
                } else {
                    (self.f.prec, self.f.prec_present, i) = parsenum(b, i, end);
                    if !self.f.prec_present {
                        self.f.prec = 0;
                        self.f.prec_present = true;
                    }
                }
            }
            if !after_index {
                (arg_num, i, _) = self.arg_number(arg_num, b, i, a.len());
            }
            let Some(verb) = format.get(i..).and_then(|s| s.chars().next()) else {
                self.buf.push_str("%!(NOVERB)");
                break;
            };
            i += verb.len_utf8();
            match verb {
                '%' => self.buf.push('%'), // takes no argument, ignores width and precision
                _ if !self.good_arg_num => {
                    self.buf.push_str("%!");
                    self.buf.push(verb);
                    self.buf.push_str("(BADINDEX)");
                }
                _ if arg_num >= a.len() => {
                    self.buf.push_str("%!");
                    self.buf.push(verb);
                    self.buf.push_str("(MISSING)");
                }
                _ => {
                    self.print_verb(&a[arg_num], verb);
                    arg_num += 1;
                }
            }
        }
        if !self.reordered && arg_num < a.len() {
            self.f = Flags::default();
            self.buf.push_str("%!(EXTRA ");
            for (n, arg) in a[arg_num..].iter().enumerate() {
                if n > 0 {
                    self.buf.push_str(", ");
                }
                match arg.1 {
                    None => self.buf.push_str("<nil>"),
                    Some(t) => {
                        self.buf.push_str(t.name());
                        self.buf.push('=');
                        self.print_arg(arg, 'v');
                    }
                }
            }
            self.buf.push(')');
        }
    }

    /// One verb of a format: `%+v` and `%#v` move their flags aside, as Go's `doPrintf` does.
    fn print_verb(&mut self, arg: &Arg, verb: char) {
        if verb == 'v' {
            self.f.sharp_v = std::mem::take(&mut self.f.sharp);
            // `%+v` names struct fields in Go; no value here has any.
            self.f.plus = false;
        }
        self.print_arg(arg, verb);
    }
}

/// strconv's decimal digits of a float's magnitude: significant digits without trailing
/// zeros, and the position of the decimal point (`d` = 0.d × 10^dp; both 0 for zero).
struct Digits {
    d: Vec<u8>,
    dp: i64,
}

impl Digits {
    /// From digits with the decimal point after `dp` of them: leading and trailing zeros off.
    fn new(digits: &str, mut dp: i64) -> Digits {
        let lead = digits.bytes().take_while(|c| *c == b'0').count();
        dp -= lead as i64;
        let d: Vec<u8> = digits.as_bytes()[lead..].to_vec();
        let n = d.len() - d.iter().rev().take_while(|c| **c == b'0').count();
        let d = d[..n].to_vec();
        let dp = if d.is_empty() { 0 } else { dp };
        Digits { d, dp }
    }

    /// The shortest digits that read back as `f` (strconv's precision -1).
    fn shortest(f: f64) -> Digits {
        let (digits, exp) = text::go_shortest_digits(f);
        Digits::new(&digits, i64::from(exp) + 1)
    }

    /// `n` (at least 1) significant digits, rounded half to even as strconv rounds.
    fn significant(f: f64, n: usize) -> Digits {
        let s = format!("{:.*e}", n.saturating_sub(1), f.abs());
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
        Digits::new(&digits, exp.parse::<i64>().unwrap_or(0) + 1)
    }

    /// Rounded to `prec` digits after the decimal point (`%f`).
    fn fixed(f: f64, prec: usize) -> Digits {
        let s = format!("{:.*}", prec, f.abs());
        let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
        Digits::new(&format!("{int}{frac}"), int.len() as i64)
    }

    /// The number of digits.
    fn nd(&self) -> i64 {
        self.d.len() as i64
    }

    /// Digit `i`, `0` past the end.
    fn at(&self, i: i64) -> u8 {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.d.get(i))
            .copied()
            .unwrap_or(b'0')
    }
}

/// Enough significant digits for any `float64` (the exact decimal has at most 767): `%.Ng`
/// asks for no more, which prints the same.
const MAX_SIGNIFICANT: i64 = 800;

/// strconv's `FormatFloat(v, fmt, prec, 64)` (`fmt` one of `b e E f g G x X`; `prec` -1 for
/// the shortest).
fn ftoa(v: f64, fmt: u8, mut prec: i64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let neg = v.is_sign_negative();
    match fmt {
        b'b' => return fmt_b(v),
        b'x' | b'X' => return fmt_x(v, prec, fmt),
        _ => {}
    }
    let shortest = prec < 0;
    let digs = if shortest {
        let digs = Digits::shortest(v);
        prec = match fmt {
            b'e' | b'E' => (digs.nd() - 1).max(0),
            b'f' => (digs.nd() - digs.dp).max(0),
            _ => digs.nd(),
        };
        digs
    } else {
        match fmt {
            b'e' | b'E' => Digits::significant(v, prec as usize + 1),
            b'f' => Digits::fixed(v, prec as usize),
            _ => {
                prec = prec.max(1);
                Digits::significant(v, prec.min(MAX_SIGNIFICANT) as usize)
            }
        }
    };
    match fmt {
        b'e' | b'E' => fmt_e(neg, &digs, prec, fmt),
        b'f' => fmt_f(neg, &digs, prec),
        _ => {
            // %g: %e for large and small exponents, else %f.
            let mut eprec = prec;
            if eprec > digs.nd() && digs.nd() >= digs.dp {
                eprec = digs.nd();
            }
            if shortest {
                eprec = 6;
            }
            let exp = digs.dp - 1;
            if exp < -4 || exp >= eprec {
                prec = prec.min(digs.nd());
                return fmt_e(neg, &digs, prec - 1, fmt + b'e' - b'g');
            }
            if prec > digs.dp {
                prec = digs.nd();
            }
            fmt_f(neg, &digs, (prec - digs.dp).max(0))
        }
    }
}

/// strconv's `fmtE`: `d.ddde±dd`.
fn fmt_e(neg: bool, d: &Digits, prec: i64, fmt: u8) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    s.push(char::from(d.at(0)));
    if prec > 0 {
        s.push('.');
        s.extend((1..=prec).map(|i| char::from(d.at(i))));
    }
    s.push(char::from(fmt));
    let exp = if d.d.is_empty() { 0 } else { d.dp - 1 };
    s.push(if exp < 0 { '-' } else { '+' });
    s.push_str(&format!("{:02}", exp.unsigned_abs()));
    s
}

/// strconv's `fmtF`: `ddd.ddd`.
fn fmt_f(neg: bool, d: &Digits, prec: i64) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if d.dp > 0 {
        s.extend((0..d.dp).map(|i| char::from(d.at(i))));
    } else {
        s.push('0');
    }
    if prec > 0 {
        s.push('.');
        s.extend((0..prec).map(|i| char::from(d.at(d.dp + i))));
    }
    s
}

/// A finite float's mantissa (with the implicit bit) and binary exponent, as strconv splits it.
fn mant_exp(v: f64) -> (u64, i64) {
    let bits = v.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64;
    let mant = bits & ((1 << 52) - 1);
    match exp {
        0 => (mant, 1 - 1023),
        _ => (mant | (1 << 52), exp - 1023),
    }
}

/// strconv's `fmtB`: `mantissa p exponent` (`4503599627370496p-52`).
fn fmt_b(v: f64) -> String {
    let (mant, exp) = mant_exp(v);
    let sign = if v.is_sign_negative() { "-" } else { "" };
    let exp = exp - 52;
    let plus = if exp >= 0 { "+" } else { "" };
    format!("{sign}{mant}p{plus}{exp}")
}

/// strconv's `fmtX`: `-0x1.23abcp+20`, rounded half to even to `prec` hexadecimal digits.
fn fmt_x(v: f64, prec: i64, fmt: u8) -> String {
    let (mut mant, mut exp) = mant_exp(v);
    if mant == 0 {
        exp = 0;
    }
    // Shift the mantissa so its leading 1 is at bit 60.
    mant <<= 60 - 52;
    while mant != 0 && mant & (1 << 60) == 0 {
        mant <<= 1;
        exp -= 1;
    }
    if (0..15).contains(&prec) {
        let shift = prec as u32 * 4;
        let extra = (mant << shift) & ((1 << 60) - 1);
        mant >>= 60 - shift;
        if (extra | (mant & 1)) > 1 << 59 {
            mant += 1;
        }
        mant <<= 60 - shift;
        if mant & (1 << 61) != 0 {
            mant >>= 1;
            exp += 1;
        }
    }
    let hex: &[u8; 16] = if fmt == b'X' {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut s = String::new();
    if v.is_sign_negative() {
        s.push('-');
    }
    s.push('0');
    s.push(char::from(fmt));
    s.push(if (mant >> 60) & 1 == 1 { '1' } else { '0' });
    mant <<= 4; // the leading digit is written
    if prec < 0 && mant != 0 {
        s.push('.');
        while mant != 0 {
            s.push(char::from(hex[((mant >> 60) & 15) as usize]));
            mant <<= 4;
        }
    } else if prec > 0 {
        s.push('.');
        for _ in 0..prec {
            s.push(char::from(hex[((mant >> 60) & 15) as usize]));
            mant <<= 4;
        }
    }
    s.push(if fmt == b'X' { 'P' } else { 'p' });
    s.push(if exp < 0 { '-' } else { '+' });
    s.push_str(&format!("{:02}", exp.unsigned_abs()));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `int`.
    fn int(i: i64) -> Arg {
        (J::from(i), Some(GoType::Int))
    }

    /// A `float64`.
    fn float(f: f64) -> Arg {
        (J::from(f), Some(GoType::Float64))
    }

    /// A `string`.
    fn string(s: &str) -> Arg {
        (J::from(s), Some(GoType::Str))
    }

    /// Go's `fmt.Sprintf`, expected to fit.
    fn f(format: &str, a: &[Arg]) -> String {
        sprintf(format, a).unwrap()
    }

    #[test]
    fn integers_take_flags_width_and_precision() {
        assert_eq!(
            f(
                "%d|%5d|%-5d|%05d|%+d|% d",
                &[int(-3), int(42), int(42), int(42), int(42), int(42)]
            ),
            "-3|   42|42   |00042|+42| 42"
        );
        assert_eq!(
            f(
                "%x|%X|%#x|%o|%#o|%O|%b|%#b",
                &[
                    int(-42),
                    int(255),
                    int(255),
                    int(8),
                    int(8),
                    int(8),
                    int(5),
                    int(5)
                ]
            ),
            "-2a|FF|0xff|10|010|0o10|101|0b101"
        );
        assert_eq!(
            f("%.3d|%08.3d|%.0d|%5.0d", &[int(7), int(-7), int(0), int(0)]),
            "007|    -007||     "
        );
        assert_eq!(f("%d", &[(J::from(97), Some(GoType::Uint8))]), "97");
        assert_eq!(
            f(
                "%v|%#v",
                &[
                    (J::from(97), Some(GoType::Uint8)),
                    (J::from(97), Some(GoType::Uint8))
                ]
            ),
            "97|0x61"
        );
    }

    #[test]
    fn integers_as_characters() {
        assert_eq!(
            f(
                "%c|%q|%+q|%U|%#U|%U",
                &[int(65), int(39), int(233), int(0x1F600), int(0x1F600), int(-1)]
            ),
            "A|'\\''|'\\u00e9'|U+1F600|U+1F600 '😀'|U+FFFFFFFFFFFFFFFF"
        );
        assert_eq!(f("%c|%q", &[int(0x110000), int(0xD800)]), "\u{fffd}|'\u{fffd}'");
    }

    #[test]
    fn floats_follow_strconv() {
        let x = 2.5;
        assert_eq!(
            f(
                "%v|%e|%E|%f|%g|%x|%X|%b",
                &[
                    float(x),
                    float(x),
                    float(x),
                    float(x),
                    float(x),
                    float(x),
                    float(x),
                    float(x)
                ]
            ),
            "2.5|2.500000e+00|2.500000E+00|2.500000|2.5|0x1.4p+01|0X1.4P+01|5629499534213120p-51"
        );
        assert_eq!(
            f(
                "%v|%v|%v|%v",
                &[float(1e21), float(1e6), float(1e-5), float(123456789.0)]
            ),
            "1e+21|1e+06|1e-05|1.23456789e+08"
        );
        assert_eq!(
            f(
                "%.0f|%.0f|%.1f|%.2f",
                &[float(0.5), float(2.5), float(0.25), float(0.125)]
            ),
            "0|2|0.2|0.12"
        );
        assert_eq!(
            f(
                "%.3g|%.1g|%.0g|%#.0g|%.20g",
                &[float(1234.5), float(0.05), float(5.5), float(5.5), float(0.1)]
            ),
            "1.23e+03|0.05|6|6.|0.10000000000000000555"
        );
        assert_eq!(
            f(
                "%08.2f|%+08.2f|% .2f|%-8.2f|",
                &[float(-7.25), float(7.25), float(7.25), float(7.25)]
            ),
            "-0007.25|+0007.25| 7.25|7.25    |"
        );
        assert_eq!(
            f(
                "%x|%.0x|%.1x|%#.0x|%#x",
                &[float(-0.1), float(1.5), float(1.96875), float(2.5), float(1.5)]
            ),
            "-0x1.999999999999ap-04|0x1p+01|0x1.0p+01|0x1.p+01|0x1.8000p+00"
        );
        assert_eq!(
            f(
                "%v|%08f|% f|%05v",
                &[
                    float(f64::NEG_INFINITY),
                    float(f64::INFINITY),
                    float(f64::INFINITY),
                    float(f64::NAN)
                ]
            ),
            "-Inf|    +Inf| Inf|  NaN"
        );
        assert_eq!(
            f("%#v|%#g|%v", &[float(1.0), float(1e-7), float(-0.0)]),
            "1|1.00000e-07|-0"
        );
    }

    #[test]
    fn strings_truncate_by_runes_and_quote() {
        let s = "héllo";
        assert_eq!(
            f(
                "%.2s|%8s|%-8s|%08s|%.3q",
                &[string(s), string(s), string(s), string(s), string(s)]
            ),
            "hé|   héllo|héllo   |000héllo|\"hél\""
        );
        assert_eq!(
            f(
                "%x|% X|%# x|%.2x",
                &[string("hé"), string("hé"), string("ab"), string(s)]
            ),
            "68c3a9|68 C3 A9|0x61 0x62|68c3"
        );
        assert_eq!(
            f(
                "%q|%+q|%#q|%#q",
                &[string("日\n"), string("日"), string("a`b"), string("ok")]
            ),
            "\"日\\n\"|\"\\u65e5\"|\"a`b\"|`ok`"
        );
    }

    #[test]
    fn bad_verbs_print_type_and_value_with_the_flags() {
        assert_eq!(
            f("%05.1f|%s|%d|%t", &[int(1), int(5), float(2.5), string("x")]),
            "%!f(int=    1)|%!s(int=5)|%!d(float64=2.5)|%!t(string=x)"
        );
        assert_eq!(
            f(
                "%d|%v|%T|%s",
                &[
                    (J::from(()), None),
                    (J::from(()), None),
                    (J::from(()), None),
                    (J::from(()), None)
                ]
            ),
            "%!d(<nil>)|<nil>|<nil>|%!s(<nil>)"
        );
    }

    #[test]
    fn collections_print_element_by_element() {
        let list = J::from(vec![J::from("a"), J::from(1.0), J::from(()), J::from(true)]);
        let l = (list, Some(GoType::List));
        assert_eq!(
            f("%v|%#v|%q|%d", &[l.clone(), l.clone(), l.clone(), l.clone()]),
            "[a 1 <nil> true]|[]interface {}{\"a\", 1, interface {}(nil), true}|[\"a\" %!q(float64=1) <nil> %!q(bool=true)]|[%!d(string=a) %!d(float64=1) <nil> %!d(bool=true)]"
        );
        let map = J::from(std::collections::BTreeMap::from([
            ("k2", J::from(2.0)),
            ("k1", J::from("v1")),
        ]));
        let m = (map, Some(GoType::Map));
        assert_eq!(
            f("%v|%#v|%q|%6v", &[m.clone(), m.clone(), m.clone(), m]),
            "map[k1:v1 k2:2]|map[string]interface {}{\"k1\":\"v1\", \"k2\":2}|map[\"k1\":\"v1\" \"k2\":%!q(float64=2)]|map[    k1:    v1     k2:     2]"
        );
        let strings = (J::from(vec![J::from("a")]), Some(GoType::Strings));
        assert_eq!(
            f("%#v|%T", &[strings.clone(), strings]),
            "[]string{\"a\"}|[]string"
        );
        assert_eq!(
            f(
                "%v|%#v",
                &[
                    (J::from(()), Some(GoType::List)),
                    (J::from(()), Some(GoType::Map))
                ]
            ),
            "[]|map[string]interface {}(nil)"
        );
    }

    #[test]
    fn format_errors_are_gos() {
        assert_eq!(f("%d %d", &[int(1)]), "1 %!d(MISSING)");
        assert_eq!(
            f("%d", &[int(1), string("a"), (J::from(()), None)]),
            "1%!(EXTRA string=a, <nil>)"
        );
        assert_eq!(f("abc%", &[]), "abc%!(NOVERB)");
        assert_eq!(f("%.|%%|%5%", &[]), "%!|(MISSING)%|%");
        assert_eq!(
            f("%[2]d %[1]d|%[3]d|%[1]", &[int(1), int(2)]),
            "2 1|%!d(BADINDEX)|%!(NOVERB)"
        );
        assert_eq!(
            f(
                "%*d|%-*d|%.*f",
                &[int(5), int(42), int(-5), int(42), int(2), float(1.23456)]
            ),
            "   42|42   |1.23"
        );
        assert_eq!(
            f("%*d|%.*d", &[float(2.0), int(1), int(-1), int(1)]),
            "%!(BADWIDTH)1|%!(BADPREC)1"
        );
        assert_eq!(f("%99999999d|tail", &[int(1)]), "%!(NOVERB)%!(EXTRA int=1)");
        assert_eq!(
            f("%3[1]d|%[1]3d|%.[1]2f", &[int(1)]),
            "  1|%!d(BADINDEX)|%!f(int=01)"
        );
    }

    /// Widths and precisions Go accepts (up to 9,999,999) whose result would pass `MAX_STRING`
    /// are an error; a precision that asks for no more output is not.
    #[test]
    fn huge_widths_and_precisions_are_refused_not_built() {
        let one = [int(1)];
        for format in ["%9999999d", "%.9999999d", "%9999999s", "%.9999999U", "%9999999x"] {
            assert!(
                sprintf(format, &one).is_err_and(|e| e.contains("longer than")),
                "{format}"
            );
        }
        for format in ["%.9999999f", "%.9999999e", "%#.9999999g", "%.9999999x"] {
            assert!(sprintf(format, &[float(1.5)]).is_err(), "{format}");
        }
        let million = [int(1_000_000), int(1), int(1_000_000), int(1)];
        assert!(sprintf("%*d%*d", &million).is_err());
        assert_eq!(f("%.9999999g|%.9999999s", &[float(1.5), string("ab")]), "1.5|ab");
    }

    #[test]
    fn sprint_spaces_operands_that_are_not_strings() {
        let args = [
            int(1),
            int(2),
            string("a"),
            string("b"),
            int(3),
            (J::from(()), None),
            float(4.5),
        ];
        assert_eq!(sprint(&args).unwrap(), "1 2ab3 <nil> 4.5");
        assert_eq!(sprintln(&args).unwrap(), "1 2 a b 3 <nil> 4.5\n");
    }
}
