//! Differential fuzzer of the goTemplate engine against Go (issue 15): random templates from a
//! grammar over Argo CD's function map (pipelines, nested calls, if/range/with, variables,
//! literals of every kind, fields of a fixed data document, missing keys, each `missingkey`
//! option), each rendered by appset and by Go 1.19's text/template with sprig 3.2.3
//! (tests/gotemplate-oracle/sprig/main.go, built by tests/harness/go_oracle.rs). Outputs are
//! compared exactly; errors after Go's location prefix (`template: base:LINE:COL: ` and
//! `executing "base" at <...>: `).
//!
//! - `agrees_with_go`: a fixed seed and count; every compared template must agree.
//! - `agrees_with_go_long` (`cargo test --test gotemplate_fuzz -- --ignored --nocapture`):
//!   `APPSET_FUZZ_COUNT` templates (default 100,000) from `APPSET_FUZZ_SEED` (random by
//!   default); every disagreement is printed as a JSONL line to pin in
//!   tests/gotemplate-oracle/*.jsonl.

#[path = "harness/go_oracle.rs"]
mod go_oracle;

use std::collections::BTreeMap;

use go_oracle::{Answer, Case};
use serde_json::{Value, json};

/// The CI run: seed and number of templates.
const CI_SEED: u64 = 15;
const CI_COUNT: usize = 10_000;
// The ratchet reached the top on 2026-12-01: every compared template of the CI run agrees with
// Go exactly (output, or error text after the location prefix), and must stay so.

/// Functions the fuzzer does not call: random, map-order or clock-dependent output (no two Go
/// runs agree), slow key derivation, and Argo CD's `slugify`, which the oracle cannot define.
const EXCLUDED: &[&str] = &[
    // random
    "randAlpha",
    "randAlphaNum",
    "randAscii",
    "randNumeric",
    "randBytes",
    "randInt",
    "shuffle",
    "uuidv4",
    "genPrivateKey",
    "genCA",
    "genCAWithKey",
    "genSelfSignedCert",
    "genSelfSignedCertWithKey",
    "genSignedCert",
    "genSignedCertWithKey",
    "buildCustomCert",
    "encryptAES",
    "bcrypt",
    "htpasswd",
    // Go's map order, random on every run: `keys` and `values` list a map's keys and values in
    // the order Go's map iteration gives (appset: sorted by key, the same every time)
    "keys",
    "values",
    // clock
    "now",
    "ago",
    // slow (scrypt)
    "derivePassword",
    // Argo CD's own slugify uses github.com/gosimple/slug, which Debian does not package, so the
    // oracle cannot have it (its cases are pinned by hand in sprig-pinned.jsonl).
    "slugify",
];

/// The data document every template runs on (`.`): JSON numbers are float64 in Go.
fn data() -> Value {
    json!({
        "s": "MiXed Case", "e": "", "n": 2, "f": 1.5, "neg": -3, "z": 0, "big": 1e21,
        "b": true, "bf": false, "nil": null,
        "l": ["a", "b", "c"], "ln": [1, 2.5, -3], "le": [],
        "m": {"k1": "v1", "k2": 2, "k3": {"x": "y"}}, "me": {},
        "u": "ß straße Ab Cd", "v": "1.2.3", "t": "2020-01-02T03:04:05Z"
    })
}

const FIELDS: &[&str] = &[
    ".s",
    ".e",
    ".n",
    ".f",
    ".neg",
    ".z",
    ".big",
    ".b",
    ".bf",
    ".nil",
    ".l",
    ".ln",
    ".le",
    ".m",
    ".m.k1",
    ".m.k2",
    ".m.k3",
    ".m.k3.x",
    ".me",
    ".u",
    ".v",
    ".t",
    ".missing",
    ".m.missing",
    ".missing.x",
];
const STRINGS: &[&str] = &[
    r#""""#,
    r#""a""#,
    r#""Ab Cd""#,
    r#""hello world""#,
    r#""1.2.3""#,
    r#""ß""#,
    r#""k1""#,
    r#""a,b""#,
    r#""3""#,
    r#""-1.5""#,
    r#""2020-01-02""#,
    r#""x\ty""#,
    r#""<b>&""#,
    "`raw`",
];
const FORMATS: &[&str] = &[
    r#""%v""#,
    r#""%d""#,
    r#""%s""#,
    r#""%q""#,
    r#""%x""#,
    r#""%05.1f""#,
    r#""%t""#,
    r#""%T""#,
    r#""%v-%v""#,
    r#""%+v""#,
    r#""%#v""#,
    r#""%6.2f|%-4d|""#,
];
const NUMBERS: &[&str] = &[
    "0", "1", "2", "-3", "10", "007", "0x1F", "1.5", "0.0", "-2.25", "1e3", "'a'",
];
const TEXT: &[&str] = &["a", "|", " ", "x-", "\n"];
const OPTIONS: &[&str] = &[
    "",
    "",
    "missingkey=default",
    "missingkey=invalid",
    "missingkey=zero",
    "missingkey=error",
];

/// Deepest nesting of calls and blocks.
const MAX_DEPTH: usize = 3;

/// splitmix64: small, seedable, the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// A function of the set: name, Go's fixed parameters, variadic.
type Func = (&'static str, usize, bool);

/// The generator: a template grammar over the function set.
struct Gen {
    rng: Rng,
    funcs: Vec<Func>,
    /// Variables in scope (`$` always).
    vars: Vec<String>,
    counter: usize,
}

impl Gen {
    fn new(seed: u64) -> Gen {
        let funcs = appset::render::gotemplate_functions()
            .into_iter()
            .filter(|(name, _, _)| !EXCLUDED.contains(name))
            .collect();
        Gen {
            rng: Rng(seed),
            funcs,
            vars: vec!["$".into()],
            counter: 0,
        }
    }

    /// One case: a template, the data document, a `missingkey` option.
    fn case(&mut self) -> Case {
        self.vars.truncate(1);
        let t = self.parts(0);
        Case {
            t,
            d: data(),
            opt: self.rng.pick(OPTIONS).to_string(),
        }
    }

    /// 1 to 3 pieces of text and actions.
    /// Variables declared inside a block end with it, as in Go.
    fn parts(&mut self, depth: usize) -> String {
        let before = self.vars.len();
        let n = 1 + self.rng.below(if depth == 0 { 3 } else { 2 });
        let s = (0..n).map(|_| self.part(depth)).collect();
        if depth > 0 {
            self.vars.truncate(before);
        }
        s
    }

    fn part(&mut self, depth: usize) -> String {
        let deeper = depth < MAX_DEPTH;
        match self.rng.below(12) {
            0 => self.rng.pick(TEXT).to_string(),
            1 if deeper => {
                let cond = self.pipeline(depth + 1);
                let then = self.parts(depth + 1);
                if self.rng.percent(50) {
                    let other = self.parts(depth + 1);
                    format!("{{{{ if {cond} }}}}{then}{{{{ else }}}}{other}{{{{ end }}}}")
                } else {
                    format!("{{{{ if {cond} }}}}{then}{{{{ end }}}}")
                }
            }
            2 if deeper => {
                let over = self.pipeline(depth + 1);
                let (decl, scoped) = if self.rng.percent(50) {
                    let (i, v) = (self.fresh(), self.fresh());
                    (format!("{i}, {v} := "), vec![i, v])
                } else {
                    (String::new(), vec![])
                };
                let before = self.vars.len();
                self.vars.extend(scoped);
                let body = format!("{}{}", self.parts(depth + 1), ",");
                self.vars.truncate(before);
                let other = if self.rng.percent(30) {
                    format!("{{{{ else }}}}{}", self.parts(depth + 1))
                } else {
                    String::new()
                };
                format!("{{{{ range {decl}{over} }}}}{body}{other}{{{{ end }}}}")
            }
            3 if deeper => {
                let over = self.pipeline(depth + 1);
                let body = self.parts(depth + 1);
                format!("{{{{ with {over} }}}}[{body}]{{{{ else }}}}none{{{{ end }}}}")
            }
            4 if deeper => {
                let value = self.pipeline(depth + 1);
                let v = self.fresh();
                let decl = format!("{{{{ {v} := {value} }}}}");
                self.vars.push(v);
                decl
            }
            5 => format!("{{{{- {} -}}}}", self.pipeline(depth)),
            _ => format!("{{{{ {} }}}}", self.pipeline(depth)),
        }
    }

    fn fresh(&mut self) -> String {
        self.counter += 1;
        format!("$v{}", self.counter)
    }

    /// A command, then up to two piped calls.
    fn pipeline(&mut self, depth: usize) -> String {
        let mut s = if self.rng.percent(70) {
            self.call(depth, false)
        } else {
            self.operand()
        };
        if depth < MAX_DEPTH && self.rng.percent(35) {
            for _ in 0..1 + self.rng.below(2) {
                s = format!("{s} | {}", self.call(depth + 1, true));
            }
        }
        s
    }

    /// A call of a random function: Go's arity mostly (a piped value is the last argument),
    /// sometimes one argument too many or too few.
    fn call(&mut self, depth: usize, piped: bool) -> String {
        let (name, fixed, variadic) = *self.rng.pick(&self.funcs);
        let mut n = fixed + if variadic { self.rng.below(3) } else { 0 };
        if self.rng.percent(3) {
            n += 1;
        } else if n > 0 && self.rng.percent(3) {
            n -= 1;
        }
        let explicit = n.saturating_sub(usize::from(piped));
        let mut s = name.to_string();
        for i in 0..explicit {
            s.push(' ');
            if i == 0 && name == "printf" {
                let format: &&str = self.rng.pick(FORMATS);
                s.push_str(format);
            } else if depth < MAX_DEPTH && self.rng.percent(25) {
                s.push_str(&format!("({})", self.pipeline(depth + 1)));
            } else {
                s.push_str(&self.operand());
            }
        }
        s
    }

    fn operand(&mut self) -> String {
        match self.rng.below(20) {
            0..=4 => self.rng.pick(STRINGS).to_string(),
            5..=7 => self.rng.pick(NUMBERS).to_string(),
            8 => self.rng.pick(&["true", "false"]).to_string(),
            9 => "nil".into(),
            10 => ".".into(),
            11 => self.rng.pick(&self.vars).clone(),
            _ => self.rng.pick(FIELDS).to_string(),
        }
    }
}

/// Go's location prefix taken off an error: `template: base:LINE:COL: ` and `executing "base"
/// at <NODE>: ` (text/template truncates NODE to 20 bytes plus `...`).
fn without_location(e: &str) -> &str {
    let mut rest = e;
    if let Some(r) = rest.strip_prefix("template: base:") {
        let digits = r
            .find(|c: char| !c.is_ascii_digit() && c != ':')
            .unwrap_or(r.len());
        rest = r[digits..].trim_start();
    }
    if let Some(r) = rest.strip_prefix("executing \"base\" at <")
        && let Some(end) = r.find(">: ").filter(|&i| i <= 32)
    {
        rest = &r[end + 3..];
    }
    rest
}

/// appset's error without its own prefix (`failed to execute go template T: `,
/// `failed to parse template T: `).
fn appset_error<'a>(e: &'a str, t: &str) -> &'a str {
    for head in ["failed to execute go template ", "failed to parse template "] {
        if let Some(rest) = e
            .strip_prefix(head)
            .and_then(|r| r.strip_prefix(t))
            .and_then(|r| r.strip_prefix(": "))
        {
            return rest;
        }
    }
    e
}

/// How appset's answer differs from Go's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// Go fails, appset renders.
    GoErrAppsetOk,
    /// Go renders, appset fails.
    GoOkAppsetErr,
    /// Both render, differently.
    Output,
    /// Both fail, with different messages.
    ErrorText,
    /// appset panics.
    Panic,
}

/// Why a template is not compared (each is counted and printed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum NotCompared {
    /// Where the oracle's Go (1.19, Debian's) and Argo CD's (1.24 and later) differ:
    /// text/template ranges over an integer since Go 1.24, where 1.19 fails with `range can't
    /// iterate over 5`. appset follows Argo CD's Go.
    NewerGo,
    /// Go itself crashed (a map merged into itself recurses until Go's stack overflows, which
    /// would kill Argo CD's controller); appset answers.
    GoCrashed,
    /// The answers differ only in digits and the template formats the current time: `date`,
    /// `dateInZone`, `htmlDate`, ... of a value that is not a time use the clock, which moves
    /// between Go's run and appset's.
    Clock,
}

/// The date functions that read the clock when given something other than a time.
const CLOCK_FUNCTIONS: &[&str] = &["date", "dateInZone", "date_in_zone", "htmlDate", "htmlDateInZone"];

fn not_compared(case: &Case, go: &Answer, ours: &Answer) -> Option<NotCompared> {
    let e = go.as_ref().err().map(|e| without_location(e));
    if e.and_then(|e| e.strip_prefix("range can't iterate over "))
        .is_some_and(|n| n.trim_start_matches('-').parse::<u64>().is_ok())
    {
        return Some(NotCompared::NewerGo);
    }
    if e.is_some_and(|e| e.starts_with("oracle crashed: ")) {
        return Some(NotCompared::GoCrashed);
    }
    let digitless = |a: &Answer| {
        let s = match a {
            Ok(s) => format!("ok {s}"),
            Err(e) => format!("err {}", without_location(appset_error(e, &case.t))),
        };
        // Each run of digits as one `#` (a clock's seconds may have one digit or two).
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            if !c.is_ascii_digit() {
                out.push(c);
            } else if !out.ends_with('#') {
                out.push('#');
            }
        }
        out
    };
    let calls_clock = case
        .t
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| CLOCK_FUNCTIONS.contains(&w));
    (calls_clock && compare(case, go, ours).is_some() && digitless(go) == digitless(ours))
        .then_some(NotCompared::Clock)
}

fn compare(case: &Case, go: &Answer, ours: &Answer) -> Option<Kind> {
    if ours.as_ref().is_err_and(|e| e.starts_with("appset panicked: ")) {
        return Some(Kind::Panic);
    }
    match (go, ours) {
        (Ok(a), Ok(b)) => (a != b).then_some(Kind::Output),
        (Err(a), Err(b)) => {
            (without_location(a) != without_location(appset_error(b, &case.t))).then_some(Kind::ErrorText)
        }
        (Err(_), Ok(_)) => Some(Kind::GoErrAppsetOk),
        (Ok(_), Err(_)) => Some(Kind::GoOkAppsetErr),
    }
}

/// The first function a template calls (the histogram's key).
fn first_function(t: &str, funcs: &[Func]) -> &'static str {
    t.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '$'))
        .find_map(|w| {
            funcs
                .iter()
                .find(|(name, _, _)| *name == w)
                .map(|(name, _, _)| *name)
        })
        .unwrap_or("-")
}

/// Go's error without location and specifics, to group errors: `error calling F: ` and the
/// text up to the first quote, digit, `;` or `:`.
fn error_class(e: &str) -> String {
    let e = without_location(e);
    let (head, rest) = match e.strip_prefix("error calling ").and_then(|r| r.split_once(": ")) {
        Some((f, rest)) => (format!("error calling {f}: "), rest),
        None => (String::new(), e),
    };
    let cut = rest
        .find(|c: char| c == ';' || c == '"' || c == ':' || c.is_ascii_digit())
        .unwrap_or(rest.len());
    format!("{head}{}", &rest[..cut])
}

/// A disagreement as a line for the oracle JSONL files (Go's answer).
fn pin_line(case: &Case, go: &Answer) -> String {
    let mut v = case.to_json();
    match go {
        Ok(out) => v["out"] = json!(out),
        Err(err) => v["err"] = json!(err),
    }
    v.to_string()
}

struct Report {
    /// Templates compared.
    total: usize,
    /// Templates not compared, by reason.
    not_compared: BTreeMap<NotCompared, usize>,
    /// Same output, or both fail with the same text after the location prefix.
    agree: usize,
    /// Same output, or both fail.
    same_outcome: usize,
    /// (kind, first function) → count.
    histogram: BTreeMap<(Kind, &'static str), usize>,
    /// (kind, Go's error class) → count, for the disagreements where Go fails.
    go_errors: BTreeMap<(Kind, String), usize>,
    /// (case, Go's answer, appset's answer), in order.
    disagreements: Vec<(Case, Answer, Answer)>,
}

impl Report {
    fn percent(&self, n: usize) -> f64 {
        100.0 * n as f64 / self.total.max(1) as f64
    }

    fn print(&self, examples: usize) {
        println!(
            "goTemplate vs Go: {} of {} agree ({:.1}%); same outcome (output, or both fail): {} ({:.1}%)",
            self.agree,
            self.total,
            self.percent(self.agree),
            self.same_outcome,
            self.percent(self.same_outcome)
        );
        let mut by_kind: BTreeMap<Kind, usize> = BTreeMap::new();
        for ((kind, _), n) in &self.histogram {
            *by_kind.entry(*kind).or_default() += n;
        }
        println!(
            "not compared: {:?} (NewerGo: Go 1.19 cannot range over an integer, Argo CD's Go 1.24+ can, as appset; GoCrashed: Go's stack overflowed; Clock: the current time)",
            self.not_compared
        );
        println!("by kind: {by_kind:?}");
        let mut rows: Vec<_> = self.histogram.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        println!("by kind and first function (top 40):");
        for ((kind, f), n) in rows.into_iter().take(40) {
            println!("  {n:5}  {kind:?}  {f}");
        }
        let mut rows: Vec<_> = self.go_errors.iter().collect();
        rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        println!("by kind and Go's error (top 30):");
        for ((kind, class), n) in rows.into_iter().take(30) {
            println!("  {n:5}  {kind:?}  {class}");
        }
        for (case, go, ours) in self.disagreements.iter().take(examples) {
            println!(
                "- {}\n  opt {:?}\n  go     {go:?}\n  appset {ours:?}",
                case.t, case.opt
            );
        }
    }
}

thread_local! {
    /// Set while appset renders a fuzzed template: its panics are answers, not test failures.
    static RENDERING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// appset's answer; a panic is an answer too (`Err("appset panicked: ...")`), so one crash does
/// not end the run. The panic hook stays quiet for these panics only.
fn render_catching_panics(case: &Case, opts: &[String]) -> Answer {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !RENDERING.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    RENDERING.with(|r| r.set(true));
    let result = std::panic::catch_unwind(|| appset::render::gotemplate_render_once(&case.t, &case.d, opts));
    RENDERING.with(|r| r.set(false));
    result.unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(format!("appset panicked: {msg}"))
    })
}

/// Generate `count` templates from `seed`, run them through appset and Go in batches.
fn fuzz(seed: u64, count: usize, mut on_disagreement: impl FnMut(&Case, &Answer, &Answer)) -> Report {
    let mut generator = Gen::new(seed);
    let mut report = Report {
        total: 0,
        not_compared: BTreeMap::new(),
        agree: 0,
        same_outcome: 0,
        histogram: BTreeMap::new(),
        go_errors: BTreeMap::new(),
        disagreements: Vec::new(),
    };
    let mut left = count;
    while left > 0 {
        let batch: Vec<Case> = (0..left.min(5000)).map(|_| generator.case()).collect();
        left -= batch.len();
        let answers = go_oracle::run(&batch);
        for (case, go) in batch.into_iter().zip(answers) {
            let opts: Vec<String> = Some(case.opt.clone())
                .filter(|o| !o.is_empty())
                .into_iter()
                .collect();
            let ours = render_catching_panics(&case, &opts);
            if let Some(reason) = not_compared(&case, &go, &ours) {
                *report.not_compared.entry(reason).or_default() += 1;
                continue;
            }
            report.total += 1;
            match compare(&case, &go, &ours) {
                None => {
                    report.agree += 1;
                    report.same_outcome += 1;
                }
                Some(kind) => {
                    report.same_outcome += usize::from(kind == Kind::ErrorText);
                    on_disagreement(&case, &go, &ours);
                    if let Err(e) = &go {
                        *report.go_errors.entry((kind, error_class(e))).or_default() += 1;
                    }
                    *report
                        .histogram
                        .entry((kind, first_function(&case.t, &generator.funcs)))
                        .or_default() += 1;
                    if report.disagreements.len() < 50 {
                        report.disagreements.push((case, go, ours));
                    }
                }
            }
        }
    }
    report
}

/// The CI run: a fixed seed and count; agreement may not fall below the committed floor.
#[test]
fn agrees_with_go() {
    let report = fuzz(CI_SEED, CI_COUNT, |_, _, _| {});
    report.print(10);
    assert_eq!(
        report.total + report.not_compared.values().sum::<usize>(),
        CI_COUNT
    );
    assert_eq!(
        report.agree,
        report.total,
        "goTemplate disagrees with Go on {} of {} compared templates; the disagreements are printed above (pin each in tests/gotemplate-oracle/ and fix it)",
        report.total - report.agree,
        report.total
    );
}

/// The long run: `APPSET_FUZZ_COUNT` templates from `APPSET_FUZZ_SEED` (random by default);
/// every disagreement printed as a JSONL line with Go's answer, ready to pin.
#[test]
#[ignore = "long: cargo test --test gotemplate_fuzz -- --ignored --nocapture"]
fn agrees_with_go_long() {
    let count = std::env::var("APPSET_FUZZ_COUNT").map_or(100_000, |c| c.parse().expect("APPSET_FUZZ_COUNT"));
    let seed = std::env::var("APPSET_FUZZ_SEED").map_or_else(
        |_| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            now.as_nanos() as u64 ^ u64::from(std::process::id())
        },
        |s| s.parse().expect("APPSET_FUZZ_SEED"),
    );
    println!("APPSET_FUZZ_SEED={seed} APPSET_FUZZ_COUNT={count}");
    // APPSET_FUZZ_SHOW_OURS=1: appset's answer after each counterexample (`OURS ...`).
    let show_ours = std::env::var_os("APPSET_FUZZ_SHOW_OURS").is_some();
    let report = fuzz(seed, count, |case, go, ours| {
        println!("PIN {}", pin_line(case, go));
        if show_ours {
            println!("OURS {}", json!(ours));
        }
    });
    report.print(0);
    assert_eq!(
        report.agree, report.total,
        "counterexamples above (lines starting PIN)"
    );
}

/// The same seed gives the same templates; different seeds differ.
#[test]
fn generator_is_deterministic() {
    let take = |seed| {
        let mut g = Gen::new(seed);
        (0..200).map(|_| g.case().t).collect::<Vec<_>>()
    };
    assert_eq!(take(7), take(7));
    assert_ne!(take(7), take(8));
}

/// The comparison's pieces: Go's location prefix and appset's prefix come off.
#[test]
fn errors_compare_after_the_location_prefix() {
    let go = r#"template: base:1:3: executing "base" at <upper 1>: wrong type for value; expected string; got int"#;
    assert_eq!(
        without_location(go),
        "wrong type for value; expected string; got int"
    );
    assert_eq!(
        without_location("template: base:1: function \"x\" not defined"),
        "function \"x\" not defined"
    );
    let t = "{{ x }}";
    assert_eq!(appset_error("failed to parse template {{ x }}: boom", t), "boom");
    let case = Case {
        t: t.into(),
        d: json!({}),
        opt: String::new(),
    };
    let go = Err("template: base:1:3: executing \"base\" at <x>: boom".to_string());
    assert_eq!(
        compare(
            &case,
            &go,
            &Err(
                "failed to execute go template {{ x }}: template: base:1:3: executing \"base\" at <x>: boom"
                    .into()
            )
        ),
        None
    );
    assert_eq!(compare(&case, &go, &Ok(String::new())), Some(Kind::GoErrAppsetOk));
    // Go 1.19's refusal to range over an integer is not compared; other range errors are.
    let int_range = Err("template: base:1:9: executing \"base\" at <5>: range can't iterate over -5".into());
    assert_eq!(
        not_compared(&case, &int_range, &Ok("01234".into())),
        Some(NotCompared::NewerGo)
    );
    let other_range = Err("template: base:1:9: range can't iterate over true".into());
    assert_eq!(not_compared(&case, &other_range, &Ok(String::new())), None);
    assert_eq!(not_compared(&case, &Ok("5".into()), &Ok("6".into())), None);
    // A crash of Go is not compared.
    let crash = Err("oracle crashed: runtime: goroutine stack exceeds 1000000000-byte limit".into());
    assert_eq!(
        not_compared(&case, &crash, &Ok(String::new())),
        Some(NotCompared::GoCrashed)
    );
    // Answers that differ only in digits are the clock's only where a date function is called.
    let dated = Case {
        t: "{{ date \"15:04:05\" 0.5 }}".into(),
        d: json!({}),
        opt: String::new(),
    };
    let (then, now) = (Ok("07:58:59".to_string()), Ok("07:59:01".to_string()));
    assert_eq!(not_compared(&dated, &then, &now), Some(NotCompared::Clock));
    assert_eq!(not_compared(&case, &then, &now), None);
    assert_eq!(not_compared(&dated, &then, &Ok("07:59:0x".into())), None);
    assert_eq!(
        compare(&case, &Ok("a".into()), &Ok("b".into())),
        Some(Kind::Output)
    );
}
