//! `goTemplate: true`: Go `text/template` syntax executed on minijinja.
//!
//! Stage: render. Pure, except two function families: the date functions read the clock and the
//! time zone database (`gotime`), the random ones draw from the operating system's random source.
//!
//! Each template string is parsed by [`parse`] and compiled (here, [`GoTemplate::compile`]) into
//! a minijinja template whose every operation goes through a helper with Go's semantics:
//! - field access, with `missingkey`;
//! - printing (`%v`, `<no value>`) and truthiness;
//! - `eq`/`lt`/...; `index`, `len`, `printf`; `and`/`or` short-circuit, written out inline;
//! - `range` over maps in key order, with `break` and `continue`;
//! - the sprig functions Argo CD allows, plus `normalize`, `slugify`, `toYaml`, `fromYaml` and
//!   `fromYamlArray` (`funcs`), with text/template's arity errors from Go's signatures;
//! - method calls on the values that have methods: semver versions (`semver`, a port of
//!   Masterminds semver v3) and times (`gotime`, a port of Go's `time` layouts and durations).
//!
//! The rest of the crate sees only [`GoTemplate`] (options, compile, render), [`context`] (the
//! data of one render), [`execution_error`] (Argo CD's message) and [`DEFAULT_FUEL`].
//!
//! Submodules, all private:
//! - `parse`: the parser (pure);
//! - `funcs`: the function set, one table of rows (name, Go's signature, implementation) in
//!   category files;
//! - `value`: Go's view of template values: printing, truthiness, types, conversions (pure);
//! - `semver`: version values and constraints (pure);
//! - `gotime`: time values, layouts and durations (reads the clock and the time zone database).
//!
//! One engine, minijinja, runs every mode, with its sandbox and fuel limit.
//!
//! Go's data model is kept: parameters come from JSON, so every number in them is a `float64`,
//! while integer literals in a template are `int`, as in Argo CD.

use std::collections::{BTreeMap, HashMap};

use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value as J, value::ValueKind};

use self::parse::{Command, List, Node, Operand, Pipeline, Site};
use crate::text;

mod funcs;
mod gotime;
mod parse;
mod semver;
mod value;

use self::funcs::{arity_error, call, is_function};
use self::value::{go_sprint, go_value, is_float, truth};

/// Default fuel for one goTemplate string (as jinja).
pub(crate) const DEFAULT_FUEL: u64 = 50_000;

/// `missingkey` behaviour (`goTemplateOptions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MissingKey {
    /// `<no value>` (Go's `default` and `invalid`).
    Default,
    /// `<no value>` too (interface maps have no zero value to print), but a field of a missing
    /// value is an error: `nil pointer evaluating interface {}.b`.
    Zero,
    /// An error: `map has no entry for key "x"`.
    Error,
}

/// A configured goTemplate environment.
#[derive(Clone)]
pub struct GoTemplate {
    env: Environment<'static>,
    /// The same with `missingkey=error` (matrix `values` pre-resolution), built on first use.
    strict: std::sync::OnceLock<Environment<'static>>,
    missing: MissingKey,
    max_fuel: Option<u64>,
}

impl std::fmt::Debug for GoTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoTemplate")
            .field("missing", &self.missing)
            .finish()
    }
}

/// A minijinja environment with the Go helpers for one `missingkey` mode.
fn environment(missing: MissingKey, max_fuel: Option<u64>) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env.set_fuel(Some(max_fuel.map_or(DEFAULT_FUEL, |m| DEFAULT_FUEL.min(m))));
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    register(&mut env, missing);
    env
}

fn err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

impl GoTemplate {
    /// An environment for Argo CD's `goTemplateOptions` (`missingkey=...`); `max_fuel` caps the
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
            env: environment(missing, max_fuel),
            strict: std::sync::OnceLock::new(),
            missing,
            max_fuel,
        })
    }

    /// Whether `s` holds an action (other strings render to themselves).
    pub(crate) fn is_template(&self, s: &str) -> bool {
        s.contains("{{")
    }

    /// A copy of the environment to which compiled templates can be added.
    pub(crate) fn environment(&self) -> Environment<'static> {
        self.env.clone()
    }

    /// Compile a Go template into minijinja source.
    pub(crate) fn compile(&self, source: &str) -> Result<String, String> {
        let list = parse::parse(source).map_err(|e| format!("failed to parse template {source}: {e}"))?;
        let mut c = Compiler {
            out: String::new(),
            scopes: vec![HashMap::from([(String::new(), "root".to_string())])],
            counter: 0,
            source,
        };
        c.list(&list)?;
        Ok(c.out)
    }

    /// Render `source` once with `params` (values, matrix interpolation, templatePatch).
    pub(crate) fn render_once(&self, source: &str, params: &crate::params::Params) -> Result<String, String> {
        if !self.is_template(source) {
            return Ok(source.to_string());
        }
        let compiled = self.compile(source)?;
        self.env
            .render_str(&compiled, context(params))
            .map_err(|e| execution_error(source, &e))
    }
}

/// Every function of the set with Go's signature: (name, fixed parameters, variadic).
pub(crate) fn function_signatures() -> Vec<(&'static str, usize, bool)> {
    funcs::all().map(|f| (f.name, f.fixed, f.variadic)).collect()
}

impl GoTemplate {
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
        let strict = self
            .strict
            .get_or_init(|| environment(MissingKey::Error, self.max_fuel));
        match strict.render_str(&compiled, context(params)) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.detail().is_some_and(|d| d.contains("map has no entry for key")) => Ok(None),
            Err(e) => Err(execution_error(source, &e)),
        }
    }
}

/// The data of one render: the parameters, numbers as Go's `float64`.
pub(crate) fn context(params: &crate::params::Params) -> J {
    let root = J::from(
        params
            .iter()
            .map(|(k, v)| (k.clone(), go_value(v)))
            .collect::<BTreeMap<String, J>>(),
    );
    minijinja::context! { root => root.clone(), dot => root }
}

/// Argo CD's message for an execution error.
pub(crate) fn execution_error(source: &str, e: &Error) -> String {
    let detail = e.detail().map(str::to_string).unwrap_or_else(|| e.to_string());
    if e.kind() == ErrorKind::OutOfFuel {
        return format!(
            "failed to execute go template {source}: fuel exhausted (the template runs too long)"
        );
    }
    format!("failed to execute go template {source}: {detail}")
}

// ---- compilation ---------------------------------------------------------------------------------

struct Compiler<'s> {
    out: String,
    /// Go variable name → minijinja name (a namespace whose `v` is the value), innermost last.
    scopes: Vec<HashMap<String, String>>,
    counter: usize,
    source: &'s str,
}

fn jstr(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Compiler<'_> {
    fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{}", self.counter)
    }

    fn lookup(&self, var: &str, p: &Pipeline) -> Result<String, String> {
        self.scopes
            .iter()
            .rev()
            .find_map(|s| s.get(var))
            .map(|n| {
                if var.is_empty() {
                    n.clone()
                } else {
                    format!("{n}.v")
                }
            })
            .ok_or_else(|| {
                format!(
                    "failed to parse template {}: template: base:{}: undefined variable \"${var}\"",
                    self.source, p.pos.line
                )
            })
    }

    fn declare(&mut self, var: &str) -> String {
        let name = self.fresh("v");
        if let Some(scope) = self.scopes.last_mut() {
            scope.insert(var.to_string(), name.clone());
        }
        name
    }

    fn list(&mut self, list: &List) -> Result<(), String> {
        for node in list {
            self.node(node)?;
        }
        Ok(())
    }

    fn scoped(&mut self, list: &List) -> Result<(), String> {
        self.scopes.push(HashMap::new());
        let r = self.list(list);
        self.scopes.pop();
        r
    }

    /// A branch body in its own variable scope, after binding the branch's declared variables.
    fn branch(&mut self, bind: Option<(&Pipeline, &str)>, body: &List) -> Result<(), String> {
        self.scopes.push(HashMap::new());
        let bound = match bind {
            Some((p, value)) if !p.vars.is_empty() => self.bind(p, value),
            _ => Ok(()),
        };
        let r = bound.and_then(|()| self.list(body));
        self.scopes.pop();
        r
    }

    /// An `{{else}}` body, if any.
    fn otherwise(&mut self, otherwise: &Option<List>) -> Result<(), String> {
        if let Some(o) = otherwise {
            self.out.push_str("{% else %}");
            self.scoped(o)?;
        }
        Ok(())
    }

    fn node(&mut self, node: &Node) -> Result<(), String> {
        match node {
            Node::Text(t) => {
                let lit = jstr(t);
                self.out.push_str(&format!("{{{{ {lit} }}}}"));
            }
            Node::Action(p) => {
                let value = self.pipeline(p)?;
                if p.vars.is_empty() {
                    self.out.push_str(&format!("{{{{ go_print({value}) }}}}"));
                } else {
                    self.bind(p, &value)?;
                }
            }
            Node::If { branches, otherwise } => {
                for (i, (cond, body)) in branches.iter().enumerate() {
                    let value = self.pipeline(cond)?;
                    let kw = if i == 0 { "if" } else { "elif" };
                    // Variables declared in a condition are visible in its branch only.
                    self.out.push_str(&format!("{{% {kw} go_truth({value}) %}}"));
                    self.branch(Some((cond, &value)), body)?;
                }
                self.otherwise(otherwise)?;
                self.out.push_str("{% endif %}");
            }
            Node::With { branches, otherwise } => {
                let mut closes = 0;
                for (i, (value_p, body)) in branches.iter().enumerate() {
                    let value = self.pipeline(value_p)?;
                    let w = self.fresh("w");
                    if i > 0 {
                        self.out.push_str("{% else %}");
                    }
                    let saved = self.fresh("s");
                    // No `{% with %}` scope: minijinja's loop controls must not cross one. `dot`
                    // is restored by hand (a `break` skipping the restore ends the iteration,
                    // whose scope then goes away).
                    self.out.push_str(&format!(
                        "{{% set {w} = {value} %}}{{% if go_truth({w}) %}}{{% set {saved} = dot %}}{{% set dot = {w} %}}"
                    ));
                    self.branch(Some((value_p, &w)), body)?;
                    self.out.push_str(&format!("{{% set dot = {saved} %}}"));
                    closes += 1;
                }
                self.otherwise(otherwise)?;
                for _ in 0..closes {
                    self.out.push_str("{% endif %}");
                }
            }
            Node::Range {
                pipeline,
                body,
                otherwise,
            } => {
                let value = self.pipeline(pipeline)?;
                let item = self.fresh("it");
                let at = jstr(&pipeline.pos.to_string());
                self.out.push_str(&format!(
                    "{{% for {item} in go_range({value}, {at}) %}}{{% set dot = {item}[1] %}}"
                ));
                self.scopes.push(HashMap::new());
                match pipeline.vars.as_slice() {
                    [] => {}
                    [v] => {
                        let name = self.declare(v);
                        self.out
                            .push_str(&format!("{{% set {name} = namespace(v={item}[1]) %}}"));
                    }
                    [k, v] => {
                        let kn = self.declare(k);
                        let vn = self.declare(v);
                        self.out.push_str(&format!(
                            "{{% set {kn} = namespace(v={item}[0]) %}}{{% set {vn} = namespace(v={item}[1]) %}}"
                        ));
                    }
                    _ => return Err("too many variables in range".into()),
                }
                let r = self.list(body);
                self.scopes.pop();
                r?;
                self.otherwise(otherwise)?;
                self.out.push_str("{% endfor %}");
            }
            Node::Break => self.out.push_str("{% break %}"),
            Node::Continue => self.out.push_str("{% continue %}"),
        }
        Ok(())
    }

    /// Declare or assign a pipeline's variables (the value is already an expression).
    fn bind(&mut self, p: &Pipeline, value: &str) -> Result<(), String> {
        for var in &p.vars {
            if p.assign {
                let target = self.lookup(var, p)?;
                self.out.push_str(&format!("{{% set {target} = {value} %}}"));
            } else {
                let name = self.declare(var);
                self.out
                    .push_str(&format!("{{% set {name} = namespace(v={value}) %}}"));
            }
        }
        Ok(())
    }

    fn pipeline(&mut self, p: &Pipeline) -> Result<String, String> {
        let mut value: Option<String> = None;
        for cmd in &p.commands {
            value = Some(self.command(cmd, value, p)?);
        }
        value.ok_or_else(|| "empty pipeline".into())
    }

    fn command(&mut self, cmd: &Command, piped: Option<String>, p: &Pipeline) -> Result<String, String> {
        let source = self.source;
        let parse_err = |m: String| {
            format!(
                "failed to parse template {source}: template: base:{}: {m}",
                p.pos.line
            )
        };
        match &cmd.args[0] {
            Operand::Identifier(name) => {
                let mut args = Vec::new();
                for (a, site) in cmd.args[1..].iter().zip(&cmd.sites[1..]) {
                    args.push(self.operand(a, site, p)?);
                }
                if let Some(message) = arity_error(name, cmd.args.len() - 1, piped.is_some()) {
                    // An execution error, as in Go: only when the call is reached.
                    return Ok(self.fail(name, &message, &cmd.site));
                }
                if let Some(v) = piped {
                    args.push(v);
                }
                match name.as_str() {
                    "and" | "or" => {
                        // Short-circuit, as Go (1.18+): the result is the first falsy (and) or
                        // truthy (or) argument, else the last.
                        let mut expr = args.pop().unwrap_or_default();
                        while let Some(a) = args.pop() {
                            expr = if name == "and" {
                                format!("({expr} if go_truth({a}) else {a})")
                            } else {
                                format!("({a} if go_truth({a}) else {expr})")
                            };
                        }
                        Ok(expr)
                    }
                    _ if is_function(name) => {
                        let at = jstr(&cmd.site.pos.to_string());
                        let src = jstr(&cmd.site.source);
                        Ok(format!(
                            "gocall({}, {at}, {src}, [{}])",
                            jstr(name),
                            args.join(", ")
                        ))
                    }
                    _ => Err(parse_err(format!("function \"{name}\" not defined"))),
                }
            }
            first => {
                // `.a.Method arg` / `$v.Method arg` / `(pipe).Method arg`: a method call on the
                // value the chain leads to (semver and time values have methods).
                let chain_base = match first {
                    Operand::Field(c) if !c.is_empty() => Some(("dot".to_string(), c)),
                    Operand::Variable(name, c) if !c.is_empty() => Some((self.lookup(name, p)?, c)),
                    Operand::Pipe(inner, c) if !c.is_empty() => {
                        Some((format!("({})", self.pipeline(inner)?), c))
                    }
                    _ => None,
                };
                if let (Some((base, chain)), true) = (chain_base, cmd.args.len() > 1 || piped.is_some()) {
                    let (method, path) = chain.split_last().unwrap_or((&chain[0], &[]));
                    let at = Self::receiver_site(first, &cmd.sites[0]);
                    let receiver = self.field(base, path, at);
                    let mut args = Vec::new();
                    for (a, site) in cmd.args[1..].iter().zip(&cmd.sites[1..]) {
                        args.push(self.operand(a, site, p)?);
                    }
                    args.extend(piped);
                    // An argument that does not convert is named by Go at that argument.
                    let arg_at = cmd.sites.get(1..).and_then(<[Site]>::last).unwrap_or(at);
                    return Ok(format!(
                        "go_method({receiver}, {}, [{}, {}, {}, {}], [{}])",
                        jstr(method),
                        jstr(&at.pos.to_string()),
                        jstr(&at.source),
                        jstr(&arg_at.pos.to_string()),
                        jstr(&arg_at.source),
                        args.join(", ")
                    ));
                }
                if cmd.args.len() > 1 || piped.is_some() {
                    let what = match first {
                        Operand::Field(f) => format!("can't give argument to non-function .{}", f.join(".")),
                        Operand::Variable(v, chain) if chain.is_empty() => {
                            format!("can't give argument to non-function ${v}")
                        }
                        Operand::String(v) => {
                            format!("can't give argument to non-function {}", text::go_quote(v))
                        }
                        Operand::Int(i) => format!("can't give argument to non-function {i}"),
                        Operand::Bool(b) => format!("can't give argument to non-function {b}"),
                        Operand::Dot => "can't give argument to non-function .".to_string(),
                        _ => "can't give argument to non-function".to_string(),
                    };
                    // An execution error, as in Go: only when the action is reached.
                    return Ok(self.fail(&cmd.sites[0].source, &what, &cmd.sites[0]));
                }
                self.operand(first, &cmd.sites[0], p)
            }
        }
    }

    /// The node Go names when a field of `o` fails: for `(pipe).f`, the last node evaluated
    /// inside the parentheses (`at <"1.2.3">` for `(semver "1.2.3").Nope`); else `site`.
    fn receiver_site<'c>(o: &'c Operand, site: &'c Site) -> &'c Site {
        match o {
            Operand::Pipe(inner, _) => inner.commands.last().and_then(|c| c.sites.last()).unwrap_or(site),
            _ => site,
        }
    }

    /// An expression that fails with Go's execution error `message`, `at <node>` at `site`.
    fn fail(&self, node: &str, message: &str, site: &Site) -> String {
        format!(
            "go_fail({}, {}, {})",
            jstr(&site.pos.to_string()),
            jstr(node),
            jstr(message)
        )
    }

    fn field(&self, base: String, chain: &[String], site: &Site) -> String {
        if chain.is_empty() {
            return base;
        }
        let keys: Vec<String> = chain.iter().map(|k| jstr(k)).collect();
        format!(
            "go_field({base}, {}, {}, {})",
            jstr(&site.pos.to_string()),
            jstr(&site.source),
            keys.join(", ")
        )
    }

    fn operand(&mut self, o: &Operand, site: &Site, p: &Pipeline) -> Result<String, String> {
        Ok(match o {
            Operand::Dot => "dot".into(),
            Operand::Field(chain) => self.field("dot".into(), chain, site),
            Operand::Variable(name, chain) => {
                let base = self.lookup(name, p)?;
                self.field(base, chain, site)
            }
            Operand::Pipe(inner, chain) => {
                let v = self.pipeline(inner)?;
                self.field(format!("({v})"), chain, Self::receiver_site(o, site))
            }
            Operand::String(s) => jstr(s),
            Operand::Int(i) => format!("go_int({i})"),
            Operand::Float(f) => format!("go_float({})", jstr(&format!("{f:?}"))),
            Operand::Bool(b) => (if *b { "true" } else { "false" }).into(),
            Operand::Nil => "none".into(),
            Operand::Identifier(name) => {
                // A function with no arguments used as an operand (e.g. `(list)`).
                if !is_function(name) {
                    return Err(format!(
                        "failed to parse template {}: template: base:{}: function \"{name}\" not defined",
                        self.source, p.pos.line
                    ));
                }
                if let Some(message) = arity_error(name, 0, false) {
                    return Ok(self.fail(name, &message, site));
                }
                format!(
                    "gocall({}, {}, {}, [])",
                    jstr(name),
                    jstr(&site.pos.to_string()),
                    jstr(&site.source)
                )
            }
        })
    }
}

// ---- runtime: Go semantics ------------------------------------------------------------------------

/// Whether `v` is a value with Go methods (a semver version, a time).
fn has_methods(v: &J) -> bool {
    v.downcast_object_ref::<semver::Version>().is_some()
        || v.downcast_object_ref::<gotime::GoTime>().is_some()
}

/// Call method `name` of a value with methods.
fn call_method(v: &J, name: &str, args: &[J]) -> Result<J, String> {
    if let Some(version) = v.downcast_object_ref::<semver::Version>() {
        return semver::method(version, name, args);
    }
    if let Some(time) = v.downcast_object_ref::<gotime::GoTime>() {
        return gotime::method(time, name, args);
    }
    Err(format!("can't evaluate field {name} in type interface {{}}"))
}

fn exec_err(at: &str, src: &str, msg: impl std::fmt::Display) -> Error {
    err(format!(
        "template: base:{at}: executing \"base\" at <{src}>: {msg}"
    ))
}

fn register(env: &mut Environment<'static>, missing: MissingKey) {
    env.add_function("go_int", |i: i64| J::from(i));
    env.add_function("go_float", |s: String| J::from(s.parse::<f64>().unwrap_or(0.0)));
    env.add_function("go_truth", |v: J| truth(&v));
    env.add_function("go_print", |v: J| -> String {
        match v.kind() {
            ValueKind::Undefined | ValueKind::None => "<no value>".into(),
            _ => go_sprint(&v),
        }
    });
    env.add_function(
        "go_field",
        // The keys come last: a `&[Value]` argument takes the rest of the arguments.
        move |base: J, at: &str, src: &str, keys: &[J]| -> Result<J, Error> {
            let mut v = base;
            for k in keys {
                let k = k.as_str().unwrap_or_default();
                v = match v.kind() {
                    ValueKind::Map => match v.get_attr(k) {
                        Ok(x) if !x.is_undefined() => x,
                        _ if missing == MissingKey::Error => {
                            return Err(exec_err(at, src, format!("map has no entry for key {k:?}")));
                        }
                        _ => J::from(()),
                    },
                    ValueKind::Undefined | ValueKind::None => {
                        if missing != MissingKey::Default {
                            return Err(exec_err(
                                at,
                                src,
                                format!("nil pointer evaluating interface {{}}.{k}"),
                            ));
                        }
                        J::from(())
                    }
                    // Values with methods (semver, time): a method value without arguments.
                    _ if has_methods(&v) => call_method(&v, k, &[]).map_err(|m| exec_err(at, src, m))?,
                    // Data values are interface{} in Go (maps of interface{}), whatever they hold.
                    _ => {
                        return Err(exec_err(
                            at,
                            src,
                            format!("can't evaluate field {k} in type interface {{}}"),
                        ));
                    }
                };
            }
            Ok(v)
        },
    );
    env.add_function(
        "go_fail",
        |at: &str, src: &str, message: &str| -> Result<J, Error> { Err(exec_err(at, src, message)) },
    );
    env.add_function(
        "go_method",
        |receiver: J, name: &str, sites: Vec<String>, args: Vec<J>| -> Result<J, Error> {
            // sites: the receiver's node (position, source), then the last argument's.
            let site = |i: usize| sites.get(i).map_or("", String::as_str);
            let (at, src) = (site(0), site(1));
            let m = match receiver.kind() {
                _ if has_methods(&receiver) => {
                    return call_method(&receiver, name, &args).map_err(|m| {
                        if m.starts_with("can't handle") || m.starts_with("wrong type for value") {
                            exec_err(site(2), site(3), m)
                        } else {
                            exec_err(at, src, m)
                        }
                    });
                }
                ValueKind::Map => format!("{name} is not a method but has arguments"),
                ValueKind::Undefined | ValueKind::None => {
                    format!("nil pointer evaluating interface {{}}.{name}")
                }
                _ => format!("can't evaluate field {name} in type interface {{}}"),
            };
            Err(exec_err(at, src, m))
        },
    );
    env.add_function("go_range", |v: J, at: String| -> Result<Vec<J>, Error> {
        match v.kind() {
            ValueKind::Undefined | ValueKind::None => Ok(Vec::new()),
            ValueKind::Seq => Ok(v
                .try_iter()?
                .enumerate()
                .map(|(i, x)| J::from(vec![J::from(i as i64), x]))
                .collect()),
            ValueKind::Map => {
                let mut keys: Vec<J> = v.try_iter()?.collect();
                keys.sort_by_key(|k| k.to_string());
                Ok(keys
                    .into_iter()
                    .map(|k| {
                        let x = v.get_item(&k).unwrap_or_default();
                        J::from(vec![k, x])
                    })
                    .collect())
            }
            ValueKind::Number if !is_float(&v) => {
                let n = v.as_i64().unwrap_or(0).max(0);
                // Go 1.22 ranges over an integer; a huge one would exhaust memory here before
                // any fuel limit is reached, so it is an error rather than a crash.
                if n > MAX_RANGE_INT {
                    return Err(err(format!(
                        "template: base:{at}: range over {n} exceeds appset's limit of {MAX_RANGE_INT} iterations"
                    )));
                }
                Ok((0..n).map(|i| J::from(vec![J::from(i), J::from(i)])).collect())
            }
            _ => Err(err(format!(
                "template: base:{at}: range can't iterate over {}",
                go_sprint(&v)
            ))),
        }
    });
    env.add_function(
        "gocall",
        |name: String, at: String, src: String, args: Vec<J>| -> Result<J, Error> {
            call(&name, &args).map_err(|m| exec_err(&at, &src, format!("error calling {name}: {m}")))
        },
    );
}

/// The most iterations a `range` over an integer may make.
const MAX_RANGE_INT: i64 = 1_000_000;

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
                    None => *e == format!("failed to execute go template {t}: {want}"),
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
        assert_eq!(r("{{ abbrev 5 .s }}", json!({"s": "ééééééé"})), "éé...");
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
