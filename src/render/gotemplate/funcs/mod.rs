//! The goTemplate function set: text/template's builtins, Argo CD's own (`normalize`,
//! `slugify`, `toYaml`, ...) and the sprig functions Argo CD allows, each with Go's results and
//! error texts.
//!
//! Stage: render. No I/O of its own: `dates` reads the clock and the time zone database (through
//! `gotime`), `random` draws from the operating system's random source; everything else is pure.
//!
//! Every function is one [`Func`] row in one category file: its name, Go's signature (fixed
//! parameters, variadic) and its implementation. The rows of all categories form one table,
//! looked up by name ([`table`]); the compiler's `is_function` and arity errors and the runtime
//! `call` all read that table.
//!
//! The sprig signatures were printed by `reflect` from sprig 3.2.3 with
//! tests/gotemplate-oracle/signatures/main.go (tests/gotemplate-oracle/README.md); Go's and
//! Argo CD's are those of their Go declarations. Argo CD's function map is sprig's
//! `GenericFuncMap` minus `env`, `expandenv` and `getHostByName`, plus its own five.

use std::collections::HashMap;
use std::sync::OnceLock;

use minijinja::Value as J;

use super::value::{GoType, as_string};

mod argo;
mod builtins;
mod crypto;
mod dates;
mod defaults;
mod dicts;
mod encoding;
pub(super) mod fmt;
mod goyaml;
mod json;
mod lists;
mod math;
mod paths;
mod random;
mod regexp;
mod strings;
mod types;
mod urls;
mod versions;

/// One function of the set.
pub(super) struct Func {
    /// The name a template calls it by.
    pub(super) name: &'static str,
    /// Go's number of fixed parameters.
    pub(super) fixed: usize,
    /// Whether Go's function is variadic (`...` after the fixed parameters).
    pub(super) variadic: bool,
    /// The implementation, on evaluated arguments (a piped value is the last one); an error is
    /// Go's text without text/template's prefix. Called with at least `fixed` arguments.
    pub(super) call: fn(&[J]) -> Result<J, String>,
}

impl Func {
    /// A row of a category table.
    pub(super) const fn new(
        name: &'static str,
        fixed: usize,
        variadic: bool,
        call: fn(&[J]) -> Result<J, String>,
    ) -> Func {
        Func {
            name,
            fixed,
            variadic,
            call,
        }
    }
}

/// The categories, in the order of sprig's documentation after Go's builtins and Argo CD's own.
const CATEGORIES: &[&[Func]] = &[
    builtins::FUNCS,
    argo::FUNCS,
    strings::FUNCS,
    types::FUNCS,
    regexp::FUNCS,
    crypto::FUNCS,
    dates::FUNCS,
    defaults::FUNCS,
    encoding::FUNCS,
    lists::FUNCS,
    dicts::FUNCS,
    math::FUNCS,
    paths::FUNCS,
    urls::FUNCS,
    random::FUNCS,
    versions::FUNCS,
];

/// Every function of the set, category by category.
pub(super) fn all() -> impl Iterator<Item = &'static Func> {
    CATEGORIES.iter().flat_map(|c| c.iter())
}

/// The functions by name.
fn table() -> &'static HashMap<&'static str, &'static Func> {
    static TABLE: OnceLock<HashMap<&'static str, &'static Func>> = OnceLock::new();
    TABLE.get_or_init(|| all().map(|f| (f.name, f)).collect())
}

/// Whether `name` is a function of Argo CD's goTemplate set (a call to any other is a parse
/// error, as in Go).
pub(super) fn is_function(name: &str) -> bool {
    table().contains_key(name)
}

/// Go's signature of a function: (fixed parameters, variadic).
pub(super) fn signature(name: &str) -> Option<(usize, bool)> {
    table().get(name).map(|f| (f.fixed, f.variadic))
}

/// text/template's arity error for a call with `explicit` arguments (plus a piped one), if any.
pub(super) fn arity_error(name: &str, explicit: usize, piped: bool) -> Option<String> {
    let (fixed, variadic) = signature(name)?;
    let given = explicit + usize::from(piped);
    if variadic && given < fixed {
        // Go counts only the explicit arguments in this message.
        Some(format!(
            "wrong number of args for {name}: want at least {fixed} got {explicit}"
        ))
    } else if !variadic && given != fixed {
        Some(format!(
            "wrong number of args for {name}: want {fixed} got {given}"
        ))
    } else {
        None
    }
}

/// A function's Go signature, from signatures.txt: parameter types (the last one the element
/// type of `...` when variadic), result type, and whether it also returns an error.
#[derive(Debug, Clone)]
pub(super) struct Signature {
    /// The parameters' types.
    pub(super) params: Vec<GoType>,
    /// Whether the last parameter is variadic (`...`).
    variadic: bool,
    /// The (first) result's type.
    pub(super) result: GoType,
}

impl Signature {
    /// Parse reflect's `func(int, ...interface {}) (string, error)`.
    fn parse(text: &str) -> Option<Signature> {
        let rest = text.strip_prefix("func(")?;
        let close = rest.find(')')?;
        let (params, result) = (&rest[..close], rest[close + 1..].trim());
        let mut variadic = false;
        let params = params
            .split(", ")
            .filter(|p| !p.is_empty())
            .map(|p| {
                let p = p.strip_prefix("...").inspect(|_| variadic = true).unwrap_or(p);
                GoType::parse(p)
            })
            .collect::<Option<Vec<_>>>()?;
        let result = result.trim_start_matches('(');
        let result = result.split([',', ')']).next().unwrap_or(result).trim();
        Some(Signature {
            params,
            variadic,
            result: GoType::parse(result)?,
        })
    }

    /// The type of parameter `i` (a variadic tail's element type; `interface {}` past the end
    /// of a fixed list, which the arity check has refused before).
    pub(super) fn param(&self, i: usize) -> GoType {
        match self.params.get(i) {
            Some(t) => *t,
            None if self.variadic => self.params.last().copied().unwrap_or(GoType::Iface),
            None => GoType::Iface,
        }
    }
}

/// Every function's Go signature (signatures.txt).
fn signatures() -> &'static HashMap<&'static str, Signature> {
    static SIGNATURES: OnceLock<HashMap<&'static str, Signature>> = OnceLock::new();
    SIGNATURES.get_or_init(|| {
        include_str!("signatures.txt")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (name, sig) = l.split_once('\t')?;
                Some((name, Signature::parse(sig)?))
            })
            .collect()
    })
}

/// Go's signature of function `name`.
pub(super) fn go_signature(name: &str) -> Option<&'static Signature> {
    signatures().get(name)
}

/// Largest string a function may build (`repeat`, `indent`): a template cannot exhaust memory.
pub(super) const MAX_STRING: usize = 1 << 20;

/// Call function `name` with evaluated arguments (the piped value is the last one).
pub(super) fn call(name: &str, a: &[J]) -> Result<J, String> {
    let Some(f) = table().get(name) else {
        return Err(format!("function {name:?} not implemented"));
    };
    // The compiler rejects calls with the wrong number of arguments; this guards the indexing.
    if a.len() < f.fixed {
        return Err(format!(
            "wrong number of args for {name}: want {} got {}",
            f.fixed,
            a.len()
        ));
    }
    let out = (f.call)(a)?;
    if out.as_str().is_some_and(|s| s.len() > MAX_STRING) {
        return Err(format!("the result is longer than {MAX_STRING} bytes"));
    }
    Ok(out)
}

thread_local! {
    /// The Go types of the arguments of the call in progress, as the interpreter knows them
    /// (`None` for nil): what `typeOf`, `kindOf` and `%T` print.
    static ARG_TYPES: std::cell::RefCell<Vec<Option<GoType>>> = const { std::cell::RefCell::new(Vec::new()) };
}

thread_local! {
    /// The Go type of what the call in progress returned in its `interface {}` result, when the
    /// function said (it returned an argument, whose type it knows).
    static RESULT_TYPE: std::cell::Cell<Option<Option<GoType>>> = const { std::cell::Cell::new(None) };
}

/// [`call`] with the Go types of the arguments (`types[i]` for `a[i]`), for the functions that
/// look at types; with the result, the type of the value it holds when the function said.
pub(super) fn call_typed(
    name: &str,
    a: &[J],
    types: &[Option<GoType>],
) -> Result<(J, Option<Option<GoType>>), String> {
    ARG_TYPES.with(|t| {
        let mut t = t.borrow_mut();
        t.clear();
        t.extend_from_slice(types);
    });
    RESULT_TYPE.with(|r| r.set(None));
    let out = call(name, a);
    ARG_TYPES.with(|t| t.borrow_mut().clear());
    let held = RESULT_TYPE.with(|r| r.take());
    out.map(|v| (v, held))
}

/// Argument `i`, returned as the result: its Go type goes with it.
fn returns_arg(a: &[J], i: usize) -> J {
    if let Some(t) = arg_go_type(i) {
        RESULT_TYPE.with(|r| r.set(Some(t)));
    }
    arg_at(a, i)
}

/// The result holds a value of Go type `t` (an element of a typed slice, say).
fn returns_type(t: Option<GoType>) {
    RESULT_TYPE.with(|r| r.set(Some(t)));
}

/// The Go type of argument `i` of the call in progress, when the interpreter gave it.
pub(super) fn arg_go_type(i: usize) -> Option<Option<GoType>> {
    ARG_TYPES.with(|t| t.borrow().get(i).copied())
}

/// An exact argument count, for the functions that check their own (Go's message without the
/// function's name).
fn arity(args: &[J], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!("wrong number of args: want {n} got {}", args.len()));
    }
    Ok(())
}

/// Argument `i` as a string, the way sprig's `strval` gives it (empty when absent).
fn str_at(a: &[J], i: usize) -> String {
    a.get(i).map(as_string).unwrap_or_default()
}

/// Go's type name of argument `i` (`%T`, `typeOf`): the interpreter's type when it gave one.
fn type_at(a: &[J], i: usize) -> &'static str {
    match arg_go_type(i) {
        Some(Some(t)) => t.name(),
        Some(None) => "<nil>",
        None => super::value::type_name(&arg_at(a, i)),
    }
}

/// Go's `reflect.Kind` name of argument `i` (`kindOf`).
fn kind_at(a: &[J], i: usize) -> &'static str {
    match arg_go_type(i) {
        Some(Some(t)) => t.kind(),
        Some(None) => "invalid",
        None => super::value::kind_of(&arg_at(a, i)),
    }
}

/// Argument `i` (undefined when absent).
fn arg_at(a: &[J], i: usize) -> J {
    a.get(i).cloned().unwrap_or_default()
}

/// The last argument (a piped value), undefined when there is none.
fn last(a: &[J]) -> J {
    a.last().cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One table: every name is registered once, across all categories, and the set has as
    /// many functions as Argo CD's.
    #[test]
    fn names_are_unique_and_the_set_is_complete() {
        let mut seen = std::collections::HashSet::new();
        for f in all() {
            assert!(seen.insert(f.name), "{} is registered twice", f.name);
        }
        assert_eq!(table().len(), all().count());
        assert_eq!(
            all().count(),
            210 - 3 + 17 + 5,
            "sprig 3.2.3's 210 less Argo CD's 3, Go's 17 builtins, Argo CD's 5"
        );
    }

    /// Every function has Go's signature, with the arity of its row.
    #[test]
    fn every_function_has_its_go_signature() {
        assert_eq!(
            signatures().len(),
            include_str!("signatures.txt")
                .lines()
                .filter(|l| !l.starts_with('#'))
                .count(),
            "every line of signatures.txt parses"
        );
        for f in all() {
            let sig = go_signature(f.name).unwrap_or_else(|| panic!("{} has no signature", f.name));
            let fixed = sig.params.len() - usize::from(sig.variadic);
            assert_eq!((fixed, sig.variadic), (f.fixed, f.variadic), "{}", f.name);
        }
        assert_eq!(signatures().len(), all().count());
        let round = go_signature("round").unwrap();
        assert_eq!(round.params, [GoType::Iface, GoType::Int, GoType::Float64]);
        assert_eq!((round.variadic, round.param(7)), (true, GoType::Float64));
        assert_eq!(go_signature("mustRegexSplit").unwrap().result, GoType::Strings);
        assert_eq!(go_signature("semver").unwrap().result, GoType::Version);
    }

    /// The time functions are those `gotime` implements.
    #[test]
    fn dates_are_gotime_functions() {
        let mut dates: Vec<&str> = dates::FUNCS.iter().map(|f| f.name).collect();
        let mut gotime = super::super::gotime::FUNCTIONS.to_vec();
        dates.sort_unstable();
        gotime.sort_unstable();
        assert_eq!(dates, gotime);
    }
}
