//! `goTemplate: true`: Go's `text/template`, parsed and executed the way Go does it.
//!
//! Stage: render. Pure, except two function families: the date functions read the clock and the
//! time zone database (`gotime`), the random ones draw from the operating system's random source.
//!
//! Each template string is parsed by [`parse`], checked as Go's parser checks it (functions and
//! variables defined; [`GoTemplate::compile`]) and run by `exec`, a port of Go's `exec.go`:
//! - values keep Go's types: data is `interface {}` holding JSON's types (every number a
//!   `float64`), integer literals are `int`, a function's result has its Go result type;
//! - each argument is converted to its parameter's Go type before a call, as text/template's
//!   `evalArg`/`validateType` do (`wrong type for value; expected string; got float64`);
//! - field access with `missingkey`; printing (`%v`, `<no value>`) and truthiness;
//! - `range` over slices, maps in key order and integers, with `break` and `continue`;
//! - the sprig functions Argo CD allows, plus `normalize`, `slugify`, `toYaml`, `fromYaml` and
//!   `fromYamlArray` (`funcs`), with Go's signatures (`funcs/signatures.txt`);
//! - method calls on the values that have methods: semver versions (`semver`, a port of
//!   Masterminds semver v3) and times (`gotime`, a port of Go's `time` layouts and durations).
//!
//! The rest of the crate sees only [`GoTemplate`] (options, compile, execute), [`Compiled`],
//! [`context`] (the data of one render) and [`DEFAULT_FUEL`].
//!
//! Submodules, all private:
//! - `parse`: the parser (pure);
//! - `exec`: the interpreter (pure but for what the functions do);
//! - `funcs`: the function set, one table of rows (name, Go's signature, implementation) in
//!   category files, and Go's signatures;
//! - `value`: Go's view of template values: types, printing, truthiness, conversions (pure);
//! - `semver`: version values and constraints (pure);
//! - `gotime`: time values, layouts and durations (reads the clock and the time zone database).
//!
//! Every template string runs with a fuel limit (steps), so a runaway template fails instead of
//! running on; values are minijinja values, the functions' common currency.

use std::collections::BTreeMap;

use minijinja::Value as J;

use self::parse::{List, Node, Operand, Pipeline};

mod exec;
mod funcs;
mod gotime;
mod parse;
mod semver;
mod value;

use self::funcs::is_function;
use self::value::go_value;

/// Default fuel for one goTemplate string: the steps (nodes, commands, iterations) it may run.
pub(crate) const DEFAULT_FUEL: u64 = 50_000;

/// The end of the message of a template that ran out of fuel.
pub(crate) const FUEL_EXHAUSTED: &str = "fuel exhausted (the template runs too long)";

/// `missingkey` behaviour (`goTemplateOptions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MissingKey {
    /// No value (`<no value>`): Go's `default` and `invalid`.
    Default,
    /// The map's zero value: nil for `interface {}` (printed `<no value>`, but a field of it is
    /// an error: `nil pointer evaluating interface {}.b`).
    Zero,
    /// An error: `map has no entry for key "x"`.
    Error,
}

/// A configured goTemplate engine: `goTemplateOptions` and the fuel of one template string.
#[derive(Debug, Clone)]
pub struct GoTemplate {
    missing: MissingKey,
    fuel: u64,
}

/// A parsed goTemplate string, ready to run.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    source: String,
    list: List,
}

impl GoTemplate {
    /// An engine for Argo CD's `goTemplateOptions` (`missingkey=...`); `max_fuel` caps the
    /// fuel of one template string.
    pub(crate) fn new(options: &[String], max_fuel: Option<u64>) -> Result<Self, String> {
        let mut missing = MissingKey::Default;
        for o in options {
            match o.as_str() {
                "missingkey=default" | "missingkey=invalid" => missing = MissingKey::Default,
                "missingkey=zero" => missing = MissingKey::Zero,
                "missingkey=error" => missing = MissingKey::Error,
                other => {
                    return Err(format!(
                        "unrecognized goTemplateOptions option: {other:?} (Go panics on it)"
                    ));
                }
            }
        }
        Ok(GoTemplate {
            missing,
            fuel: max_fuel.map_or(DEFAULT_FUEL, |m| DEFAULT_FUEL.min(m)),
        })
    }

    /// Whether `s` holds an action (other strings render to themselves).
    pub(crate) fn is_template(&self, s: &str) -> bool {
        s.contains("{{")
    }

    /// Parse a Go template, with Go's parse-time checks (defined functions and variables).
    pub(crate) fn compile(&self, source: &str) -> Result<Compiled, String> {
        let list = parse::parse(source).map_err(|e| format!("failed to parse template {source}: {e}"))?;
        Checker {
            vars: vec![String::new()],
            source,
        }
        .list(&list)?;
        Ok(Compiled {
            source: source.to_string(),
            list,
        })
    }

    /// Run a compiled template on `data` (from [`context`]).
    pub(crate) fn execute(&self, t: &Compiled, data: &J) -> Result<String, String> {
        self.execute_with(t, data, self.missing)
    }

    fn execute_with(&self, t: &Compiled, data: &J, missing: MissingKey) -> Result<String, String> {
        exec::run(&t.list, data.clone(), missing, self.fuel).map_err(|e| match e {
            exec::Stop::Fail(m) => format!("failed to execute go template {}: {m}", t.source),
            exec::Stop::OutOfFuel => format!("failed to execute go template {}: {FUEL_EXHAUSTED}", t.source),
            exec::Stop::Break | exec::Stop::Continue => {
                format!(
                    "failed to execute go template {}: break or continue outside range",
                    t.source
                )
            }
        })
    }

    /// Render `source` once with `params` (values, matrix interpolation, templatePatch).
    pub(crate) fn render_once(&self, source: &str, params: &crate::params::Params) -> Result<String, String> {
        if !self.is_template(source) {
            return Ok(source.to_string());
        }
        let compiled = self.compile(source)?;
        self.execute(&compiled, &context(params))
    }

    /// Render with `missingkey=error`: `Ok(None)` when a key is missing.
    pub(crate) fn render_strict(
        &self,
        source: &str,
        params: &crate::params::Params,
    ) -> Result<Option<String>, String> {
        if !self.is_template(source) {
            return Ok(Some(source.to_string()));
        }
        let compiled = self.compile(source)?;
        match self.execute_with(&compiled, &context(params), MissingKey::Error) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.contains("map has no entry for key") || e.contains("nil data; no entry for key") => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// Every function of the set with Go's signature: (name, fixed parameters, variadic).
pub(crate) fn function_signatures() -> Vec<(&'static str, usize, bool)> {
    funcs::all().map(|f| (f.name, f.fixed, f.variadic)).collect()
}

/// The data of one render of a shared parameter set: values converted as [`context`] does,
/// when a template reads them.
pub(crate) fn lazy_context(params: std::sync::Arc<crate::params::Params>) -> J {
    super::jinja::LazyParams::with(params, go_value)
}

/// The data of one render: the parameters, numbers as Go's `float64`.
pub(crate) fn context(params: &crate::params::Params) -> J {
    J::from(
        params
            .iter()
            .map(|(k, v)| (k.clone(), go_value(v)))
            .collect::<BTreeMap<String, J>>(),
    )
}

// ---- parse-time checks ---------------------------------------------------------------------------

/// Go's parser's checks: every variable is declared before use (a control structure's
/// declarations end with it) and every function is defined.
struct Checker<'s> {
    /// Declared variables (`$` is ""), innermost last.
    vars: Vec<String>,
    source: &'s str,
}

impl Checker<'_> {
    fn error(&self, p: &Pipeline, message: String) -> String {
        format!(
            "failed to parse template {}: template: base:{}: {message}",
            self.source, p.pos.line
        )
    }

    fn list(&mut self, list: &List) -> Result<(), String> {
        list.iter().try_for_each(|n| self.node(n))
    }

    /// A control structure: its pipelines' and bodies' variables end with it.
    fn control(&mut self, f: impl FnOnce(&mut Self) -> Result<(), String>) -> Result<(), String> {
        let mark = self.vars.len();
        let r = f(self);
        self.vars.truncate(mark);
        r
    }

    fn node(&mut self, node: &Node) -> Result<(), String> {
        match node {
            Node::Text(_) | Node::Break | Node::Continue => Ok(()),
            Node::Action(p) => self.pipeline(p),
            Node::If { branches, otherwise } | Node::With { branches, otherwise } => self.control(|c| {
                for (cond, body) in branches {
                    c.pipeline(cond)?;
                    c.list(body)?;
                }
                otherwise.as_ref().map_or(Ok(()), |o| c.list(o))
            }),
            Node::Range {
                pipeline,
                body,
                otherwise,
            } => self.control(|c| {
                c.pipeline(pipeline)?;
                c.list(body)?;
                otherwise.as_ref().map_or(Ok(()), |o| c.list(o))
            }),
        }
    }

    fn pipeline(&mut self, p: &Pipeline) -> Result<(), String> {
        for cmd in &p.commands {
            for o in &cmd.args {
                self.operand(o, p)?;
            }
        }
        for v in &p.vars {
            if p.assign {
                self.variable(v, p)?;
            } else {
                self.vars.push(v.clone());
            }
        }
        Ok(())
    }

    fn variable(&self, name: &str, p: &Pipeline) -> Result<(), String> {
        if self.vars.iter().any(|v| v == name) {
            Ok(())
        } else {
            Err(self.error(p, format!("undefined variable \"${name}\"")))
        }
    }

    fn operand(&mut self, o: &Operand, p: &Pipeline) -> Result<(), String> {
        match o {
            Operand::Variable(name, _) => self.variable(name, p),
            Operand::Identifier(name) if !is_function(name) => {
                Err(self.error(p, format!("function \"{name}\" not defined")))
            }
            Operand::Pipe(inner, _) => {
                // A parenthesized pipeline's declarations last as long as the enclosing ones.
                self.pipeline(inner)
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: serde_json::Value) -> crate::params::Params {
        serde_json::from_value(v).unwrap()
    }

    fn r(t: &str, data: serde_json::Value) -> String {
        GoTemplate::new(&[], None)
            .unwrap()
            .render_once(t, &params(data))
            .unwrap_or_else(|e| panic!("{t}: {e}"))
    }

    /// Check oracle cases, one JSON object per line: `t` template, `d` data, optionally `opt` (a
    /// `goTemplateOptions` entry), then Go's answer, `out` or `err`; `approx` marks an error whose
    /// text from `approx` on differs (Go's and Rust's regex messages). All failures are reported.
    fn check_oracle(text: &str) {
        let mut failures = Vec::new();
        let mut checked = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let case: serde_json::Value = serde_json::from_str(line).unwrap();
            let t = case["t"].as_str().unwrap();
            let options: Vec<String> = case["opt"].as_str().map(str::to_string).into_iter().collect();
            let got = GoTemplate::new(&options, None)
                .unwrap()
                .render_once(t, &params(case["d"].clone()));
            let ok = match (&got, case["out"].as_str(), case["err"].as_str()) {
                (Ok(out), Some(want), _) => out == want,
                (Err(e), _, Some(want)) => match case["approx"].as_str() {
                    Some(cut) => e.starts_with(&format!(
                        "failed to execute go template {t}: {}",
                        &want[..want.find(cut).unwrap()]
                    )),
                    None => {
                        *e == format!("failed to execute go template {t}: {want}")
                            || *e == format!("failed to parse template {t}: {want}")
                    }
                },
                _ => false,
            };
            if !ok {
                failures.push(format!("{t}\n  want {line}\n  got  {got:?}"));
            }
            checked += 1;
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(checked > 0, "no cases");
    }

    /// Outputs and errors of Go 1.19's text/template, standard functions only
    /// (tests/gotemplate-oracle/cases.jsonl, from tests/gotemplate-oracle/main.go).
    #[test]
    fn matches_go_text_template() {
        check_oracle(include_str!("../../../tests/gotemplate-oracle/cases.jsonl"));
    }

    /// Outputs of Go 1.19's text/template with sprig 3.2.3 (Debian's
    /// golang-github-masterminds-sprig-dev) and Argo CD's function map
    /// (tests/gotemplate-oracle/sprig.jsonl, from tests/gotemplate-oracle/sprig/main.go).
    #[test]
    fn matches_sprig() {
        check_oracle(include_str!("../../../tests/gotemplate-oracle/sprig.jsonl"));
    }

    /// Outputs and errors of the same oracle for the interpreter: argument conversion by Go's
    /// signatures, typed comparisons, `index` and `len`, fields and `missingkey`, method calls,
    /// `range`, variables, `and`/`or` (tests/gotemplate-oracle/exec-pinned.jsonl).
    #[test]
    fn matches_pinned_interpreter_outputs() {
        check_oracle(include_str!("../../../tests/gotemplate-oracle/exec-pinned.jsonl"));
    }

    /// Outputs and errors of the same sprig oracle, edge cases function by function
    /// (tests/gotemplate-oracle/sprig-pinned.jsonl).
    #[test]
    fn matches_pinned_sprig_outputs() {
        check_oracle(include_str!(
            "../../../tests/gotemplate-oracle/sprig-pinned.jsonl"
        ));
    }

    /// Every function of the set is implemented (or refused with a reason): called with its
    /// fixed number of arguments of several kinds, none is missing and none panics; the three
    /// functions Argo CD removes are not defined.
    #[test]
    fn every_function_of_the_set_is_dispatched() {
        let samples = [
            J::from("1.2.3"),
            J::from(2),
            J::from(1.5),
            J::from(vec![J::from(1)]),
            J::from(()),
        ];
        // `and` and `or` short-circuit: the compiler writes them out.
        for f in funcs::all().filter(|f| !["and", "or"].contains(&f.name)) {
            let (name, fixed, variadic) = (f.name, f.fixed, f.variadic);
            for sample in &samples {
                for n in [fixed, fixed + usize::from(variadic)] {
                    let args = vec![sample.clone(); n];
                    if let Err(e) = funcs::call(name, &args) {
                        assert!(!e.contains("not implemented"), "{name}: {e}");
                    }
                }
            }
        }
        for removed in ["env", "expandenv", "getHostByName"] {
            assert!(!is_function(removed));
            let e = r_err(&format!("{{{{ {removed} \"x\" }}}}"), json!({}), &[]);
            assert!(e.ends_with(&format!("function \"{removed}\" not defined")), "{e}");
        }
        assert_eq!(
            funcs::all().count(),
            210 - 3 + 17 + 5,
            "sprig 3.2.3's 210 less Argo CD's 3, Go's 17 builtins, Argo CD's 5"
        );
    }

    /// Random functions cannot be pinned: their shape is.
    #[test]
    fn random_functions_have_the_right_shape() {
        let out = r(
            "{{ randAlphaNum 12 }}\n{{ randAlpha 8 }}\n{{ randNumeric 6 }}\n{{ randAscii 20 }}\n{{ randBytes 9 }}\n{{ uuidv4 }}\n{{ randInt 3 5 }}\n{{ shuffle \"abcdef\" }}\n{{ randAlpha 0 }}",
            json!({}),
        );
        let p: Vec<&str> = out.split('\n').collect();
        assert_eq!(p.len(), 9, "{out}");
        assert!(
            p[0].len() == 12 && p[0].chars().all(|c| c.is_ascii_alphanumeric()),
            "{out}"
        );
        assert!(
            p[1].len() == 8 && p[1].chars().all(|c| c.is_ascii_alphabetic()),
            "{out}"
        );
        assert!(
            p[2].len() == 6 && p[2].chars().all(|c| c.is_ascii_digit()),
            "{out}"
        );
        assert!(
            p[3].len() == 20 && p[3].bytes().all(|b| (32..127).contains(&b)),
            "{out}"
        );
        assert_eq!(p[4].len(), 12, "9 bytes are 12 base64 characters: {out}");
        assert!(
            uuid::Uuid::parse_str(p[5]).is_ok_and(|u| u.get_version_num() == 4),
            "{out}"
        );
        assert!(["3", "4"].contains(&p[6]), "{out}");
        let mut shuffled: Vec<char> = p[7].chars().collect();
        shuffled.sort();
        assert_eq!(shuffled.into_iter().collect::<String>(), "abcdef", "{out}");
        assert_eq!(p[8], "");
        let two = r("{{ randAlphaNum 32 }} {{ randAlphaNum 32 }}", json!({}));
        let (a, b) = two.split_once(' ').unwrap();
        assert_ne!(a, b, "two draws of 32 characters differ");
        assert!(r_err("{{ randInt 5 5 }}", json!({}), &[]).contains("invalid argument to Intn"));
        let e = r_err("{{ genCA \"x\" 365 }}", json!({}), &[]);
        assert!(
            e.contains("error calling genCA: genCA is not supported by appset"),
            "{e}"
        );
    }

    fn r_err(t: &str, data: serde_json::Value, opts: &[&str]) -> String {
        let opts: Vec<String> = opts.iter().map(|s| s.to_string()).collect();
        GoTemplate::new(&opts, None)
            .unwrap()
            .render_once(t, &params(data))
            .unwrap_err()
    }

    #[test]
    fn go_printing_and_missing_keys() {
        let d = json!({"a": 1, "f": 1.5, "big": 1000000, "m": {"x": 1, "a": "b"}, "l": [1, "a"], "t": true, "n": null});
        assert_eq!(
            r(
                "{{ .a }} {{ .f }} {{ .big }} {{ .m }} {{ .l }} {{ .t }} {{ .n }}",
                d
            ),
            "1 1.5 1e+06 map[a:b x:1] [1 a] true <no value>"
        );
        assert_eq!(r("{{ .nope }}", json!({"a": 1})), "<no value>");
        assert_eq!(r("{{ .nope.b }}", json!({"a": 1})), "<no value>");
        assert_eq!(
            r_err("{{.nope}}", json!({"a": 1}), &["missingkey=error"]),
            "failed to execute go template {{.nope}}: template: base:1:2: executing \"base\" at <.nope>: map has no entry for key \"nope\""
        );
        assert_eq!(
            r(
                "a  {{- .x -}}  b {{/* note */}}c{{- /* trimmed */ -}}  d",
                json!({"x": "X"})
            ),
            "aXb cd"
        );
        assert_eq!(
            r(
                r#"{{ printf "%v %d %s %q" .a .a .s .s }}"#,
                json!({"a": 3, "s": "hi"})
            ),
            "3 %!d(float64=3) hi \"hi\""
        );
    }

    #[test]
    fn pipelines_control_flow_and_variables() {
        let d = json!({"name": "Web App", "envs": ["dev", "prod"], "labels": {"b": "2", "a": "1"}, "n": 2});
        assert_eq!(r("{{ .name | lower | quote }}", d.clone()), "\"web app\"");
        assert_eq!(
            r("{{ .name | replace \" \" \"-\" | lower }}", d.clone()),
            "web-app"
        );
        assert_eq!(
            r(
                "{{ range $i, $e := .envs }}{{ $i }}={{ $e }};{{ end }}",
                d.clone()
            ),
            "0=dev;1=prod;"
        );
        assert_eq!(
            r(
                "{{ range $k, $v := .labels }}{{ $k }}{{ $v }}{{ end }}",
                d.clone()
            ),
            "a1b2"
        );
        assert_eq!(
            r("{{ range .nothing }}x{{ else }}none{{ end }}", d.clone()),
            "none"
        );
        assert_eq!(
            r(
                "{{ if eq .name \"x\" }}x{{ else if hasPrefix \"Web\" .name }}web{{ else }}other{{ end }}",
                d.clone()
            ),
            "web"
        );
        assert_eq!(
            r(
                "{{ with .labels.a }}[{{ . }}]{{ end }}{{ with .nope }}x{{ else }}-{{ end }}",
                d.clone()
            ),
            "[1]-"
        );
        assert_eq!(
            r(
                "{{ $x := 1 }}{{ range .envs }}{{ $x = 2 }}{{ end }}{{ $x }}",
                d.clone()
            ),
            "2"
        );
        assert_eq!(
            r(
                "{{ range .envs }}{{ if eq . \"dev\" }}{{ continue }}{{ end }}{{ . }}{{ end }}",
                d.clone()
            ),
            "prod"
        );
        assert_eq!(
            r(
                "{{ $.name }}{{ range .envs }}/{{ $.name }}{{ end }}",
                json!({"name": "n", "envs": [1]})
            ),
            "n/n"
        );
        assert_eq!(
            r(
                "{{ index .labels \"a\" }}{{ index .envs 1 }}{{ len .envs }}",
                d.clone()
            ),
            "1prod2"
        );
        assert_eq!(r("{{ (index .envs 0) | upper }}", d.clone()), "DEV");
        assert_eq!(
            r(
                "{{ and .name .n }} {{ or .nope \"fallback\" }} {{ not .t }}",
                d.clone()
            ),
            "2 fallback true"
        );
    }

    #[test]
    fn missingkey_zero_errors_on_a_field_of_a_missing_value() {
        // Go 1.19: `<no value>` for the missing key itself, an error one level further.
        let zero = GoTemplate::new(&["missingkey=zero".into()], None).unwrap();
        assert_eq!(
            zero.render_once("{{ .nope }}", &params(json!({"a": 1}))),
            Ok("<no value>".to_string())
        );
        let e = r_err("{{ .nope.b }}", json!({"a": 1}), &["missingkey=zero"]);
        assert!(e.ends_with("nil pointer evaluating interface {}.b"), "{e}");
        let e = r_err("{{ .a.b }}", json!({"a": null}), &["missingkey=error"]);
        assert!(e.ends_with("nil pointer evaluating interface {}.b"), "{e}");
        assert_eq!(r("{{ .nope.b }}", json!({"a": 1})), "<no value>");
    }

    #[test]
    fn go_comparison_types_are_strict() {
        // Parameters are float64; an int literal does not compare with them (Go's error).
        let e = r_err("{{ if eq .n 2 }}y{{ end }}", json!({"n": 2}), &[]);
        assert!(e.contains("incompatible types for comparison"), "{e}");
        assert_eq!(r("{{ if eq .n 2.0 }}y{{ end }}", json!({"n": 2})), "y");
        assert_eq!(r("{{ if eq (int .n) 2 }}y{{ end }}", json!({"n": 2})), "y");
        assert_eq!(r("{{ if lt \"a\" \"b\" }}y{{ end }}", json!({})), "y");
    }

    #[test]
    fn argo_functions() {
        assert_eq!(
            r("{{ normalize .b }}", json!({"b": "Feature/ABC_1"})),
            "feature-abc-1"
        );
        assert_eq!(
            r("{{ slugify 10 false .b }}", json!({"b": "Hello World Again"})),
            "hello-worl"
        );
        assert_eq!(
            r("{{ .b | slugify }}", json!({"b": "Hello World"})),
            "hello-world"
        );
        assert_eq!(
            r("{{ toYaml .m }}", json!({"m": {"a": 1, "b": ["x"]}})),
            "a: 1\nb:\n- x"
        );
        assert_eq!(r("{{ (fromYaml .y).a }}", json!({"y": "a: 5"})), "5");
        assert_eq!(r("{{ toJson .m }}", json!({"m": {"a": "x"}})), "{\"a\":\"x\"}");
        assert_eq!(
            r(
                "{{ default \"d\" .nope }}{{ default \"d\" .x }}",
                json!({"x": "v"})
            ),
            "dv"
        );
        assert_eq!(
            r(
                "{{ trunc 3 .x }}{{ .x | trimPrefix \"ab\" }}",
                json!({"x": "abcdef"})
            ),
            "abccdef"
        );
        assert_eq!(r("{{ splitList \"/\" .p | last }}", json!({"p": "a/b/c"})), "c");
        assert_eq!(
            r(
                "{{ printf \"%s-%05.2f-%-4s|\" .s .f \"x\" }}",
                json!({"s": "a", "f": 2.5051})
            ),
            "a-02.51-x   |"
        );
        assert_eq!(r("{{ add 1 2 }} {{ sub .n 1 }}", json!({"n": 5})), "3 4");
    }

    #[test]
    fn bad_calls_are_errors_not_panics() {
        for t in [
            "{{ repeat }}",
            "{{ substr 1 }}",
            "{{ index }}",
            "{{ printf }}",
            "{{ get }}",
            "{{ repeat 100000000 \"xx\" }}",
            "{{ index .l 5 }}",
            "{{ div 1 0 }}",
            "{{ slice .l 2 1 }}",
            "{{ .s.x }}",
            "{{ range .s }}{{ end }}",
            "{{ fromYaml \"a: [\" }}",
        ] {
            let e = r_err(t, json!({"l": [1], "s": "str"}), &[]);
            assert!(e.starts_with("failed to execute go template"), "{t}: {e}");
        }
        // Go cuts bytes: 5 - 3 = 2 bytes, one é.
        assert_eq!(r("{{ abbrev 5 .s }}", json!({"s": "ééééééé"})), "é...");
        let deep = format!("{{{{ {}1{} }}}}", "(".repeat(500), ")".repeat(500));
        assert!(
            GoTemplate::new(&[], None)
                .unwrap()
                .render_once(&deep, &params(json!({})))
                .is_err()
        );
    }

    #[test]
    fn no_substring_of_a_template_panics() {
        let t = r#"{{- range $i, $v := .l }}{{ if and (eq $i 0) (not .x) }}{{ printf "%s-%d" $v.a 3 | quote }}{{ else if .y }}{{ break }}{{ end }}{{ with $.m }}{{ index . "k" }}{{ end }}{{/* c */}}{{ end -}}"#;
        let g = GoTemplate::new(&[], None).unwrap();
        let data = params(json!({"l": [{"a": "x"}], "m": {"k": 1}}));
        let chars: Vec<(usize, char)> = t.char_indices().collect();
        for (i, _) in &chars {
            for (j, _) in chars.iter().filter(|(j, _)| j > i) {
                let _ = g.render_once(&t[*i..*j], &data);
            }
        }
    }

    #[test]
    fn errors_are_argo_messages() {
        let e = r_err("{{ nosuch .x }}", json!({}), &[]);
        assert_eq!(
            e,
            "failed to parse template {{ nosuch .x }}: template: base:1: function \"nosuch\" not defined"
        );
        let e = r_err("{{ if .x }}", json!({}), &[]);
        assert!(
            e.starts_with("failed to parse template {{ if .x }}: template: base:1: unexpected EOF"),
            "{e}"
        );
        assert!(GoTemplate::new(&["missingkey=bogus".into()], None).is_err());
        let e = r_err("{{ range $i := until 100000000 }}{{ end }}", json!({}), &[]);
        assert!(e.contains("too many elements"), "{e}");
        // A long loop runs out of fuel rather than running forever.
        let e = r_err(
            "{{ range $i := until 90000 }}{{ range $j := until 90000 }}{{ end }}{{ end }}",
            json!({}),
            &[],
        );
        assert!(e.contains("fuel"), "{e}");
    }

    /// Found by the differential fuzzer: `range` over a huge integer panicked ("capacity
    /// overflow") instead of failing.
    #[test]
    fn range_over_a_huge_integer_is_an_error_not_a_crash() {
        let data = serde_json::json!({"big": 1e21});
        let err = crate::render::gotemplate_render_once("{{range int64 .big}}x{{end}}", &data, &[])
            .map(|_| ())
            .and_then(|_| crate::render::gotemplate_render_once("{{range 9000000000}}x{{end}}", &data, &[]));
        assert!(err.unwrap_err().contains("exceeds appset's limit"));
        assert_eq!(
            crate::render::gotemplate_render_once("{{range 3}}x{{end}}", &data, &[]).unwrap(),
            "xxx"
        );
    }
}
