//! `goTemplate: true`: Go `text/template` syntax executed on minijinja.
//!
//! Stage: render (pure). Each template string is parsed by [`super::goparse`] and compiled into
//! a minijinja template whose every operation goes through a helper with Go's semantics:
//! - field access, with `missingkey`;
//! - printing (`%v`, `<no value>`) and truthiness;
//! - `eq`/`lt`/...; `index`, `len`, `printf`;
//! - `range` over maps in key order, with `break` and `continue`;
//! - the sprig functions Argo CD allows, plus `normalize`, `slugify`, `toYaml`, `fromYaml` and
//!   `fromYamlArray`.
//!
//! One engine, minijinja, runs every mode, with its sandbox and fuel limit.
//!
//! Go's data model is kept: parameters come from JSON, so every number in them is a `float64`,
//! while integer literals in a template are `int`, as in Argo CD.

use std::collections::{BTreeMap, HashMap};

use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value as J, value::ValueKind};

use super::goparse::{self, Command, List, Node, Operand, Pipeline};
use crate::text;

/// Default fuel for one goTemplate string (as jinja).
pub const DEFAULT_FUEL: u64 = 50_000;

/// `missingkey` behaviour (`goTemplateOptions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingKey {
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
    pub fn new(options: &[String], max_fuel: Option<u64>) -> Result<Self, String> {
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
    pub fn is_template(&self, s: &str) -> bool {
        s.contains("{{")
    }

    /// A copy of the environment to which compiled templates can be added.
    pub fn environment(&self) -> Environment<'static> {
        self.env.clone()
    }

    /// Compile a Go template into minijinja source.
    pub fn compile(&self, source: &str) -> Result<String, String> {
        let list = goparse::parse(source).map_err(|e| format!("failed to parse template {source}: {e}"))?;
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
    pub fn render_once(&self, source: &str, params: &crate::Params) -> Result<String, String> {
        if !self.is_template(source) {
            return Ok(source.to_string());
        }
        let compiled = self.compile(source)?;
        self.env
            .render_str(&compiled, context(params))
            .map_err(|e| execution_error(source, &e))
    }
}

impl GoTemplate {
    /// Render with `missingkey=error`: `Ok(None)` when a key is missing.
    pub fn render_strict(&self, source: &str, params: &crate::Params) -> Result<Option<String>, String> {
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
pub fn context(params: &crate::Params) -> J {
    let root = J::from(
        params
            .iter()
            .map(|(k, v)| (k.clone(), go_value(v)))
            .collect::<BTreeMap<String, J>>(),
    );
    minijinja::context! { root => root.clone(), dot => root }
}

fn go_value(v: &serde_json::Value) -> J {
    match v {
        serde_json::Value::Null => J::from(()),
        serde_json::Value::Bool(b) => J::from(*b),
        serde_json::Value::Number(n) => J::from(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => J::from(s.as_str()),
        serde_json::Value::Array(a) => J::from(a.iter().map(go_value).collect::<Vec<_>>()),
        serde_json::Value::Object(m) => J::from(
            m.iter()
                .map(|(k, v)| (k.clone(), go_value(v)))
                .collect::<BTreeMap<_, _>>(),
        ),
    }
}

/// Argo CD's message for an execution error.
pub fn execution_error(source: &str, e: &Error) -> String {
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
                for a in &cmd.args[1..] {
                    args.push(self.operand(a, p)?);
                }
                if let Some(v) = piped {
                    args.push(v);
                }
                match name.as_str() {
                    "and" | "or" => {
                        if args.is_empty() {
                            return Err(parse_err(format!(
                                "wrong number of args for {name}: want at least 1 got 0"
                            )));
                        }
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
                    _ if FUNCTIONS.contains(&name.as_str()) => {
                        let at = jstr(&p.pos.to_string());
                        let src = jstr(&p.source);
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
                if cmd.args.len() > 1 || piped.is_some() {
                    let what = match first {
                        Operand::Field(f) => format!("can't give argument to non-function .{}", f.join(".")),
                        _ => "can't give argument to non-function".to_string(),
                    };
                    return Err(format!(
                        "failed to execute go template {}: template: base:{}: executing \"base\" at <{}>: {what}",
                        self.source, p.pos, p.source
                    ));
                }
                self.operand(first, p)
            }
        }
    }

    fn field(&self, base: String, chain: &[String], p: &Pipeline) -> String {
        if chain.is_empty() {
            return base;
        }
        let keys: Vec<String> = chain.iter().map(|k| jstr(k)).collect();
        format!(
            "go_field({base}, {}, {}, {})",
            jstr(&p.pos.to_string()),
            jstr(&p.source),
            keys.join(", ")
        )
    }

    fn operand(&mut self, o: &Operand, p: &Pipeline) -> Result<String, String> {
        Ok(match o {
            Operand::Dot => "dot".into(),
            Operand::Field(chain) => self.field("dot".into(), chain, p),
            Operand::Variable(name, chain) => {
                let base = self.lookup(name, p)?;
                self.field(base, chain, p)
            }
            Operand::Pipe(inner, chain) => {
                let v = self.pipeline(inner)?;
                self.field(format!("({v})"), chain, p)
            }
            Operand::String(s) => jstr(s),
            Operand::Int(i) => format!("go_int({i})"),
            Operand::Float(f) => format!("go_float({})", jstr(&format!("{f:?}"))),
            Operand::Bool(b) => (if *b { "true" } else { "false" }).into(),
            Operand::Nil => "none".into(),
            Operand::Identifier(name) => {
                // A function with no arguments used as an operand (e.g. `(list)`).
                if !FUNCTIONS.contains(&name.as_str()) {
                    return Err(format!(
                        "failed to parse template {}: template: base:{}: function \"{name}\" not defined",
                        self.source, p.pos.line
                    ));
                }
                format!(
                    "gocall({}, {}, {}, [])",
                    jstr(name),
                    jstr(&p.pos.to_string()),
                    jstr(&p.source)
                )
            }
        })
    }
}

// ---- runtime: Go semantics ------------------------------------------------------------------------

/// Go's `%v` of a value inside a collection (`<nil>` for nil).
fn fmt_v(v: &J, out: &mut String) {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("<nil>"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => out.push_str(&fmt_number(v)),
        ValueKind::String => out.push_str(v.as_str().unwrap_or_default()),
        ValueKind::Seq => {
            out.push('[');
            if let Ok(items) = v.try_iter() {
                for (i, item) in items.enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    fmt_v(&item, out);
                }
            }
            out.push(']');
        }
        ValueKind::Map => {
            out.push_str("map[");
            let mut keys: Vec<J> = v.try_iter().map(|i| i.collect()).unwrap_or_default();
            keys.sort_by_key(|k| k.to_string());
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_v(k, out);
                out.push(':');
                fmt_v(&v.get_item(k).unwrap_or_default(), out);
            }
            out.push(']');
        }
        _ => out.push_str(&v.to_string()),
    }
}

/// A Go `float64` (JSON numbers with a fraction or exponent) rather than an integer.
fn is_float(v: &J) -> bool {
    v.is_number() && !v.is_integer()
}

fn fmt_number(v: &J) -> String {
    if is_float(v) {
        text::go_format_float(f64::try_from(v.clone()).unwrap_or(0.0))
    } else {
        v.as_i64().map(|i| i.to_string()).unwrap_or_else(|| v.to_string())
    }
}

/// Go's `%v`.
pub fn go_sprint(v: &J) -> String {
    let mut s = String::new();
    fmt_v(v, &mut s);
    s
}

fn truth(v: &J) -> bool {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => false,
        ValueKind::Bool => v.is_true(),
        ValueKind::Number => f64::try_from(v.clone()).map(|f| f != 0.0).unwrap_or(true),
        ValueKind::String => !v.as_str().unwrap_or_default().is_empty(),
        ValueKind::Seq | ValueKind::Map => v.len().unwrap_or(0) > 0,
        _ => true,
    }
}

fn type_name(v: &J) -> &'static str {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => "<nil>",
        ValueKind::Bool => "bool",
        ValueKind::Number if is_float(v) => "float64",
        ValueKind::Number => "int",
        ValueKind::String => "string",
        ValueKind::Seq => "[]interface {}",
        ValueKind::Map => "map[string]interface {}",
        _ => "interface {}",
    }
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

// ---- functions ------------------------------------------------------------------------------------

/// Functions available in templates: Go's builtins, Argo CD's sprig set, and Argo CD's own.
pub const FUNCTIONS: &[&str] = &[
    // Go builtins
    "not",
    "len",
    "index",
    "print",
    "printf",
    "println",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "urlquery",
    "html",
    "js",
    "slice",
    // Argo CD
    "normalize",
    "slugify",
    "toYaml",
    "fromYaml",
    "fromYamlArray",
    // sprig: strings
    "lower",
    "upper",
    "title",
    "untitle",
    "trim",
    "trimAll",
    "trimPrefix",
    "trimSuffix",
    "replace",
    "quote",
    "squote",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "repeat",
    "substr",
    "trunc",
    "abbrev",
    "indent",
    "nindent",
    "cat",
    "nospace",
    "snakecase",
    "camelcase",
    "kebabcase",
    "splitList",
    "split",
    "join",
    "toString",
    "toStrings",
    "regexMatch",
    "regexFind",
    "regexFindAll",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "regexSplit",
    "b64enc",
    "b64dec",
    "sha256sum",
    "sha1sum",
    "plural",
    // sprig: defaults and logic
    "default",
    "empty",
    "coalesce",
    "ternary",
    "fail",
    "toJson",
    "toPrettyJson",
    "toRawJson",
    "fromJson",
    "mustToJson",
    "mustFromJson",
    // sprig: numbers
    "add",
    "add1",
    "sub",
    "mul",
    "div",
    "mod",
    "max",
    "min",
    "int",
    "int64",
    "float64",
    "atoi",
    "floor",
    "ceil",
    "round",
    // sprig: lists and dicts
    "list",
    "first",
    "last",
    "rest",
    "initial",
    "append",
    "prepend",
    "concat",
    "reverse",
    "uniq",
    "compact",
    "has",
    "without",
    "sortAlpha",
    "dict",
    "get",
    "set",
    "unset",
    "hasKey",
    "keys",
    "values",
    "pluck",
    "merge",
    "pick",
    "omit",
    "kindIs",
    "kindOf",
    "typeOf",
    "deepCopy",
    "dig",
    "until",
    "untilStep",
    "seq",
    "tuple",
    "splitn",
    "all",
    "any",
    "mergeOverwrite",
    "mustRegexReplaceAll",
    "mustRegexMatch",
    "initials",
    "semverCompare",
    "trimall",
];

/// A value as a string the way sprig's `strval` / `toString` gives it.
fn as_string(v: &J) -> String {
    match v.kind() {
        ValueKind::String => v.as_str().unwrap_or_default().to_string(),
        ValueKind::Undefined | ValueKind::None => String::new(),
        _ => go_sprint(v),
    }
}

fn to_f64(v: &J) -> f64 {
    match v.kind() {
        ValueKind::Number => f64::try_from(v.clone()).unwrap_or(0.0),
        ValueKind::String => v.as_str().unwrap_or_default().trim().parse().unwrap_or(0.0),
        ValueKind::Bool => f64::from(u8::from(v.is_true())),
        _ => 0.0,
    }
}

/// sprig's `toInt64` (cast.ToInt64: floats truncate, strings parse, else 0).
fn to_i64(v: &J) -> i64 {
    match v.kind() {
        ValueKind::Number => v.as_i64().unwrap_or_else(|| to_f64(v) as i64),
        ValueKind::String => {
            let s = v.as_str().unwrap_or_default().trim();
            s.parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().map(|f| f as i64))
                .unwrap_or(0)
        }
        ValueKind::Bool => i64::from(v.is_true()),
        _ => 0,
    }
}

/// A value as JSON the way Go's `encoding/json` writes a `float64`: integral values without a
/// fraction (`1`, not `1.0`).
fn to_json(v: &J) -> serde_json::Value {
    use serde_json::Value as V;
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => V::Null,
        ValueKind::Bool => V::Bool(v.is_true()),
        ValueKind::Number => {
            let f = to_f64(v);
            if !is_float(v) {
                V::from(v.as_i64().unwrap_or(0))
            } else if f.fract() == 0.0 && f.abs() < 1e15 {
                V::from(f as i64)
            } else {
                serde_json::Number::from_f64(f).map_or(V::Null, V::Number)
            }
        }
        ValueKind::String => V::String(v.as_str().unwrap_or_default().to_string()),
        ValueKind::Seq => V::Array(items(v).iter().map(to_json).collect()),
        ValueKind::Map => V::Object(dict_of(v).iter().map(|(k, x)| (k.clone(), to_json(x))).collect()),
        _ => V::String(v.to_string()),
    }
}

fn items(v: &J) -> Vec<J> {
    match v.kind() {
        ValueKind::Seq => v.try_iter().map(|i| i.collect()).unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn arity(args: &[J], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!("wrong number of args: want {n} got {}", args.len()));
    }
    Ok(())
}

/// Go's `eq` on basic kinds (numbers of one kind, strings, bools, nil).
fn basic_eq(a: &J, b: &J) -> Result<bool, String> {
    match (a.kind(), b.kind()) {
        (ValueKind::Number, ValueKind::Number) => {
            if is_float(a) != is_float(b) {
                return Err("incompatible types for comparison".into());
            }
            Ok(to_f64(a) == to_f64(b))
        }
        (ValueKind::String, ValueKind::String) | (ValueKind::Bool, ValueKind::Bool) => Ok(a == b),
        (ValueKind::None | ValueKind::Undefined, ValueKind::None | ValueKind::Undefined) => Ok(true),
        (ValueKind::None | ValueKind::Undefined, _) | (_, ValueKind::None | ValueKind::Undefined) => {
            Err("incompatible types for comparison".into())
        }
        (ValueKind::Seq | ValueKind::Map, _) | (_, ValueKind::Seq | ValueKind::Map) => {
            Err("non-comparable type".into())
        }
        _ => Err("incompatible types for comparison".into()),
    }
}

fn basic_lt(a: &J, b: &J) -> Result<bool, String> {
    match (a.kind(), b.kind()) {
        (ValueKind::Number, ValueKind::Number) => {
            if is_float(a) != is_float(b) {
                return Err("incompatible types for comparison".into());
            }
            Ok(to_f64(a) < to_f64(b))
        }
        (ValueKind::String, ValueKind::String) => Ok(a.as_str() < b.as_str()),
        _ => Err("invalid type for comparison".into()),
    }
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%s %d %v %q %f %t %x %%`, with flags,
/// width and precision.
pub fn sprintf(format: &str, args: &[J]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = chars.peek() {
            if "+-# 0".contains(f) {
                flags.push(f);
                chars.next();
            } else {
                break;
            }
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut precision: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            precision = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let bad = || format!("%!{verb}({}={})", type_name(arg), go_sprint(arg));
        let body = match verb {
            'v' => go_sprint(arg),
            's' => match arg.kind() {
                ValueKind::String => {
                    let s = arg.as_str().unwrap_or_default();
                    match precision {
                        Some(p) => s.chars().take(p).collect(),
                        None => s.to_string(),
                    }
                }
                ValueKind::Number | ValueKind::Bool => bad(),
                _ => go_sprint(arg),
            },
            'q' => match arg.kind() {
                ValueKind::String => text::go_quote(arg.as_str().unwrap_or_default()),
                _ => bad(),
            },
            'd' => match arg.kind() {
                ValueKind::Number if !is_float(arg) => {
                    let i = arg.as_i64().unwrap_or(0);
                    if flags.contains('+') && i >= 0 {
                        format!("+{i}")
                    } else {
                        i.to_string()
                    }
                }
                _ => bad(),
            },
            'x' | 'X' => match arg.kind() {
                ValueKind::Number if !is_float(arg) => {
                    let s = format!("{:x}", arg.as_i64().unwrap_or(0));
                    if verb == 'X' { s.to_uppercase() } else { s }
                }
                ValueKind::String => {
                    let s: String = arg
                        .as_str()
                        .unwrap_or_default()
                        .bytes()
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    if verb == 'X' { s.to_uppercase() } else { s }
                }
                _ => bad(),
            },
            'f' | 'F' => match arg.kind() {
                ValueKind::Number if is_float(arg) => format!("{:.*}", precision.unwrap_or(6), to_f64(arg)),
                _ => bad(),
            },
            't' => match arg.kind() {
                ValueKind::Bool => go_sprint(arg),
                _ => bad(),
            },
            _ => format!("%!{verb}({}={})", type_name(arg), go_sprint(arg)),
        };
        let w: usize = width.parse().unwrap_or(0);
        let len = body.chars().count();
        if len < w {
            let pad = w - len;
            if flags.contains('-') {
                out.push_str(&body);
                out.push_str(&" ".repeat(pad));
            } else if flags.contains('0') && matches!(verb, 'd' | 'f' | 'x' | 'X') {
                let (sign, digits) = match body.strip_prefix('-') {
                    Some(d) => ("-", d.to_string()),
                    None => ("", body.clone()),
                };
                out.push_str(sign);
                out.push_str(&"0".repeat(pad));
                out.push_str(&digits);
            } else {
                out.push_str(&" ".repeat(pad));
                out.push_str(&body);
            }
        } else {
            out.push_str(&body);
        }
    }
    let extra: Vec<&J> = args.collect();
    if !extra.is_empty() {
        out.push_str("%!(EXTRA ");
        out.push_str(
            &extra
                .iter()
                .map(|a| format!("{}={}", type_name(a), go_sprint(a)))
                .collect::<Vec<_>>()
                .join(", "),
        );
        out.push(')');
    }
    out
}

/// Go's `fmt.Sprint`: spaces between operands when neither is a string.
fn sprint(args: &[J]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && a.kind() != ValueKind::String && args[i - 1].kind() != ValueKind::String {
            out.push(' ');
        }
        out.push_str(&go_sprint(a));
    }
    out
}

fn yaml_of(v: &J) -> Result<String, String> {
    let s = serde_saphyr::to_string(&to_json(v)).map_err(|e| e.to_string())?;
    Ok(s.trim_end_matches('\n').to_string())
}

/// The fewest arguments a function takes (so that a call with fewer is Go's error, not a panic).
fn min_args(name: &str) -> usize {
    match name {
        "substr"
        | "regexFindAll"
        | "regexSplit"
        | "plural"
        | "ternary"
        | "regexReplaceAll"
        | "regexReplaceAllLiteral"
        | "replace"
        | "untilStep"
        | "splitn"
        | "mustRegexReplaceAll" => 3,
        "semverCompare" | "mustRegexMatch" | "trimall" => 2,
        "hasKey" | "get" | "set" | "unset" | "has" | "append" | "prepend" | "repeat" | "trunc" | "abbrev"
        | "indent" | "nindent" | "join" | "sub" | "div" | "mod" | "kindIs" | "eq" | "ne" | "lt" | "le"
        | "gt" | "ge" | "contains" | "hasPrefix" | "hasSuffix" | "trimPrefix" | "trimSuffix" | "trimAll"
        | "splitList" | "split" | "regexMatch" | "regexFind" | "default" => 2,
        "not" | "len" | "toString" | "toStrings" | "empty" | "first" | "last" | "rest" | "initial"
        | "reverse" | "uniq" | "compact" | "int" | "int64" | "float64" | "floor" | "ceil" | "round"
        | "kindOf" | "typeOf" | "deepCopy" | "values" | "toJson" | "toRawJson" | "mustToJson"
        | "toPrettyJson" | "pick" | "omit" | "merge" | "without" | "add1" | "pluck" | "index" | "slice"
        | "printf" | "lower" | "upper" | "title" | "untitle" | "trim" | "quote" | "squote" | "nospace"
        | "snakecase" | "camelcase" | "kebabcase" | "b64enc" | "b64dec" | "sha256sum" | "sha1sum"
        | "fail" | "fromJson" | "mustFromJson" | "atoi" | "normalize" | "slugify" | "toYaml" | "fromYaml"
        | "fromYamlArray" | "dig" | "until" | "initials" | "mergeOverwrite" => 1,
        _ => 0,
    }
}

/// Largest string a function may build (`repeat`, `indent`): a template cannot exhaust memory.
const MAX_STRING: usize = 1 << 20;

fn call(name: &str, a: &[J]) -> Result<J, String> {
    let min = min_args(name);
    if a.len() < min {
        return Err(format!(
            "wrong number of args for {name}: want at least {min} got {}",
            a.len()
        ));
    }
    let out = call_checked(name, a)?;
    if out.as_str().is_some_and(|s| s.len() > MAX_STRING) {
        return Err(format!("the result is longer than {MAX_STRING} bytes"));
    }
    Ok(out)
}

fn call_checked(name: &str, a: &[J]) -> Result<J, String> {
    let s = |i: usize| a.get(i).map(as_string).unwrap_or_default();
    let last = || a.last().cloned().unwrap_or_default();
    Ok(match name {
        // Go builtins
        "not" => {
            arity(a, 1)?;
            J::from(!truth(&a[0]))
        }
        "len" => {
            arity(a, 1)?;
            match a[0].kind() {
                ValueKind::String => J::from(a[0].as_str().unwrap_or_default().len() as i64),
                ValueKind::Seq | ValueKind::Map => J::from(a[0].len().unwrap_or(0) as i64),
                _ => return Err(format!("len of type {}", type_name(&a[0]))),
            }
        }
        "index" => {
            let Some((base, keys)) = a.split_first() else {
                return Err("wrong number of args for index: want at least 1 got 0".into());
            };
            let mut v = base.clone();
            for k in keys {
                v = match v.kind() {
                    ValueKind::Map => {
                        let x = v.get_item(k).unwrap_or_default();
                        if x.is_undefined() { J::from(()) } else { x }
                    }
                    ValueKind::Seq | ValueKind::String => {
                        let i = match k.kind() {
                            ValueKind::Number if !is_float(k) => k.as_i64().unwrap_or(-1),
                            _ => return Err(format!("cannot index slice/array with type {}", type_name(k))),
                        };
                        let n = v.len().unwrap_or(0) as i64;
                        if i < 0 || i >= n {
                            return Err(format!("index out of range: {i}"));
                        }
                        if v.kind() == ValueKind::String {
                            J::from(i64::from(v.as_str().unwrap_or_default().as_bytes()[i as usize]))
                        } else {
                            v.get_item(k).unwrap_or_default()
                        }
                    }
                    ValueKind::Undefined | ValueKind::None => return Err("index of untyped nil".into()),
                    _ => return Err(format!("can't index item of type {}", type_name(&v))),
                };
            }
            v
        }
        "slice" => {
            let Some((base, idx)) = a.split_first() else {
                return Err("wrong number of args for slice: want at least 1 got 0".into());
            };
            let n = base.len().unwrap_or(0) as i64;
            let from = idx.first().map_or(0, to_i64);
            let to = idx.get(1).map_or(n, to_i64);
            if from < 0 || to > n || from > to {
                return Err(format!("index out of range: {from}:{to}"));
            }
            match base.kind() {
                ValueKind::String => J::from(
                    base.as_str()
                        .unwrap_or_default()
                        .get(from as usize..to as usize)
                        .unwrap_or_default(),
                ),
                ValueKind::Seq => J::from(items(base)[from as usize..to as usize].to_vec()),
                _ => return Err(format!("can't slice item of type {}", type_name(base))),
            }
        }
        "print" => J::from(sprint(a)),
        "println" => J::from(format!(
            "{}\n",
            a.iter().map(go_sprint).collect::<Vec<_>>().join(" ")
        )),
        "printf" => {
            let Some((f, rest)) = a.split_first() else {
                return Err("wrong number of args for printf: want at least 1 got 0".into());
            };
            J::from(sprintf(&as_string(f), rest))
        }
        "eq" => {
            if a.len() < 2 {
                return Err("missing argument for comparison".into());
            }
            let mut any = false;
            for b in &a[1..] {
                if basic_eq(&a[0], b)? {
                    any = true;
                }
            }
            J::from(any)
        }
        "ne" => {
            arity(a, 2)?;
            J::from(!basic_eq(&a[0], &a[1])?)
        }
        "lt" => {
            arity(a, 2)?;
            J::from(basic_lt(&a[0], &a[1])?)
        }
        "le" => {
            arity(a, 2)?;
            J::from(basic_lt(&a[0], &a[1])? || basic_eq(&a[0], &a[1])?)
        }
        "gt" => {
            arity(a, 2)?;
            J::from(!basic_lt(&a[0], &a[1])? && !basic_eq(&a[0], &a[1])?)
        }
        "ge" => {
            arity(a, 2)?;
            J::from(!basic_lt(&a[0], &a[1])?)
        }
        "urlquery" => J::from(url_escape(&sprint(a))),
        "html" => J::from(
            sprint(a)
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&#34;")
                .replace('\'', "&#39;"),
        ),
        "js" => J::from(
            sprint(a)
                .replace('\\', "\\\\")
                .replace('\'', "\\'")
                .replace('"', "\\\""),
        ),
        // Argo CD
        "normalize" => J::from(text::normalize(&s(a.len().saturating_sub(1)))),
        "slugify" => {
            let name = as_string(&last());
            let max = if a.len() >= 2 { to_i64(&a[0]) as usize } else { 50 };
            let smart = if a.len() >= 3 { truth(&a[1]) } else { true };
            J::from(text::slugify(&name, max, smart))
        }
        "toYaml" => J::from(yaml_of(&last()).unwrap_or_default()),
        "fromYaml" | "fromYamlArray" => {
            let v: serde_json::Value =
                serde_saphyr::from_str(&as_string(&last())).map_err(|e| e.to_string())?;
            if name == "fromYamlArray" && !v.is_array() {
                return Err("expected a YAML array".into());
            }
            if name == "fromYaml" && !(v.is_object() || v.is_null()) {
                return Err("expected a YAML map".into());
            }
            go_value(&v)
        }
        // sprig: strings
        "lower" => J::from(s(0).to_lowercase()),
        "upper" => J::from(s(0).to_uppercase()),
        "title" => J::from(title(&s(0))),
        "untitle" => J::from(
            s(0).split(' ')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_lowercase().chain(c).collect::<String>())
                        .unwrap_or_default()
                })
                .collect::<Vec<String>>()
                .join(" "),
        ),
        "trim" => J::from(s(0).trim()),
        "trimAll" => J::from(s(1).trim_matches(|c| s(0).contains(c)).to_string()),
        "trimPrefix" => J::from(
            s(1).strip_prefix(&s(0))
                .map(str::to_string)
                .unwrap_or_else(|| s(1)),
        ),
        "trimSuffix" => J::from(
            s(1).strip_suffix(&s(0))
                .map(str::to_string)
                .unwrap_or_else(|| s(1)),
        ),
        "replace" => J::from(s(2).replace(&s(0), &s(1))),
        "quote" => J::from(
            a.iter()
                .filter(|v| !v.is_none() && !v.is_undefined())
                .map(|v| text::go_quote(&as_string(v)))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "squote" => J::from(
            a.iter()
                .filter(|v| !v.is_none() && !v.is_undefined())
                .map(|v| format!("'{}'", as_string(v)))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "contains" => J::from(s(1).contains(&s(0))),
        "hasPrefix" => J::from(s(1).starts_with(&s(0))),
        "hasSuffix" => J::from(s(1).ends_with(&s(0))),
        "repeat" => {
            let n = to_i64(&a[0]).max(0) as usize;
            if n.saturating_mul(s(1).len()) > MAX_STRING {
                return Err(format!("the result is longer than {MAX_STRING} bytes"));
            }
            J::from(s(1).repeat(n))
        }
        "substr" => {
            let st = s(2);
            let (from, to) = (to_i64(&a[0]), to_i64(&a[1]));
            let b = st.as_bytes();
            let from = if from < 0 { 0 } else { from as usize };
            let to = if to < 0 || to as usize > b.len() {
                b.len()
            } else {
                to as usize
            };
            J::from(String::from_utf8_lossy(b.get(from.min(to)..to).unwrap_or_default()).into_owned())
        }
        "trunc" => {
            let (n, st) = (to_i64(&a[0]), s(1));
            let len = st.len() as i64;
            J::from(if n < 0 {
                st.get((len + n).max(0) as usize..)
                    .unwrap_or_default()
                    .to_string()
            } else {
                st.get(..n.min(len) as usize).unwrap_or(&st).to_string()
            })
        }
        "abbrev" => {
            let (n, st) = (to_i64(&a[0]) as usize, s(1));
            J::from(if n < 4 || st.len() <= n {
                st
            } else {
                format!("{}...", st.chars().take(n - 3).collect::<String>())
            })
        }
        "indent" | "nindent" => {
            let pad = " ".repeat((to_i64(&a[0]).max(0) as usize).min(MAX_STRING));
            let body = format!("{pad}{}", s(1).replace('\n', &format!("\n{pad}")));
            J::from(if name == "nindent" {
                format!("\n{body}")
            } else {
                body
            })
        }
        "cat" => J::from(
            a.iter()
                .filter(|v| !v.is_none() && !v.is_undefined())
                .map(go_sprint)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "nospace" => J::from(s(0).split_whitespace().collect::<String>()),
        "snakecase" | "kebabcase" => {
            let sep = if name == "snakecase" { '_' } else { '-' };
            let mut out = String::new();
            for (i, c) in s(0).chars().enumerate() {
                if c.is_uppercase() && i > 0 {
                    out.push(sep);
                }
                if c == ' ' || c == '_' || c == '-' {
                    out.push(sep);
                } else {
                    out.extend(c.to_lowercase());
                }
            }
            J::from(out)
        }
        "camelcase" => J::from(
            s(0).split(['_', '-', ' '])
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_uppercase().chain(c).collect::<String>())
                        .unwrap_or_default()
                })
                .collect::<String>(),
        ),
        "splitList" => J::from(s(1).split(&s(0)).map(J::from).collect::<Vec<_>>()),
        "split" => J::from(
            s(1).split(&s(0))
                .enumerate()
                .map(|(i, p)| (format!("_{i}"), J::from(p)))
                .collect::<BTreeMap<_, _>>(),
        ),
        "join" => J::from(items(&a[1]).iter().map(as_string).collect::<Vec<_>>().join(&s(0))),
        "toString" => J::from(as_string(&a[0])),
        "toStrings" => J::from(
            items(&a[0])
                .iter()
                .map(|v| J::from(as_string(v)))
                .collect::<Vec<_>>(),
        ),
        "regexMatch" => J::from(regex(&s(0))?.is_match(&s(1))),
        "regexFind" => J::from(
            regex(&s(0))?
                .find(&s(1))
                .map(|m| m.as_str().to_string())
                .unwrap_or_default(),
        ),
        "regexFindAll" => {
            let n = to_i64(&a[2]);
            let re = regex(&s(0))?;
            let all: Vec<J> = re.find_iter(&s(1)).map(|m| J::from(m.as_str())).collect();
            J::from(if n < 0 {
                all
            } else {
                all.into_iter().take(n as usize).collect()
            })
        }
        "regexReplaceAll" => J::from(regex(&s(0))?.replace_all(&s(1), s(2).as_str()).into_owned()),
        "regexReplaceAllLiteral" => J::from(
            regex(&s(0))?
                .replace_all(&s(1), regex::NoExpand(&s(2)))
                .into_owned(),
        ),
        "regexSplit" => {
            let n = to_i64(&a[2]);
            let re = regex(&s(0))?;
            let parts: Vec<J> = if n < 0 {
                re.split(&s(1)).map(J::from).collect()
            } else {
                re.splitn(&s(1), n as usize).map(J::from).collect()
            };
            J::from(parts)
        }
        "b64enc" => {
            use base64::Engine as _;
            J::from(base64::engine::general_purpose::STANDARD.encode(s(0)))
        }
        "b64dec" => {
            use base64::Engine as _;
            match base64::engine::general_purpose::STANDARD.decode(s(0)) {
                Ok(b) => J::from(String::from_utf8_lossy(&b).into_owned()),
                Err(e) => J::from(e.to_string()),
            }
        }
        "sha256sum" => {
            use sha2::Digest as _;
            J::from(hex::encode(sha2::Sha256::digest(s(0).as_bytes())))
        }
        "sha1sum" => J::from(sha1_smol::Sha1::from(s(0)).digest().to_string()),
        "plural" => J::from(if to_i64(&a[2]) == 1 { s(0) } else { s(1) }),
        // sprig: defaults and logic
        "default" => {
            if a.len() < 2 || !truth(&a[1]) {
                a[0].clone()
            } else {
                a[1].clone()
            }
        }
        "empty" => J::from(!truth(&a[0])),
        "coalesce" => a
            .iter()
            .find(|v| truth(v))
            .cloned()
            .unwrap_or_else(|| J::from(())),
        "ternary" => {
            arity(a, 3)?;
            if truth(&a[2]) { a[0].clone() } else { a[1].clone() }
        }
        "fail" => return Err(s(0)),
        "toJson" | "toRawJson" | "mustToJson" => {
            J::from(serde_json::to_string(&to_json(&a[0])).unwrap_or_default())
        }
        "toPrettyJson" => J::from(serde_json::to_string_pretty(&to_json(&a[0])).unwrap_or_default()),
        "fromJson" | "mustFromJson" => match serde_json::from_str::<serde_json::Value>(&s(0)) {
            Ok(v) => go_value(&v),
            Err(e) if name == "mustFromJson" => return Err(e.to_string()),
            Err(_) => J::from(BTreeMap::<String, J>::new()),
        },
        // sprig: numbers (int64 arithmetic, as sprig)
        "add" => J::from(a.iter().map(to_i64).sum::<i64>()),
        "add1" => J::from(to_i64(&a[0]) + 1),
        "sub" => J::from(to_i64(&a[0]) - to_i64(&a[1])),
        "mul" => J::from(a.iter().map(to_i64).product::<i64>()),
        "div" => {
            let d = to_i64(&a[1]);
            if d == 0 {
                return Err("runtime error: integer divide by zero".into());
            }
            J::from(to_i64(&a[0]) / d)
        }
        "mod" => {
            let d = to_i64(&a[1]);
            if d == 0 {
                return Err("runtime error: integer divide by zero".into());
            }
            J::from(to_i64(&a[0]) % d)
        }
        "max" => J::from(a.iter().map(to_i64).max().unwrap_or(0)),
        "min" => J::from(a.iter().map(to_i64).min().unwrap_or(0)),
        "int" | "int64" => J::from(to_i64(&a[0])),
        "atoi" => J::from(s(0).trim().parse::<i64>().unwrap_or(0)),
        "float64" => J::from(to_f64(&a[0])),
        "floor" => J::from(to_f64(&a[0]).floor()),
        "ceil" => J::from(to_f64(&a[0]).ceil()),
        "round" => {
            let p = a.get(1).map_or(0, to_i64) as i32;
            let m = 10f64.powi(p);
            J::from((to_f64(&a[0]) * m).round() / m)
        }
        // sprig: lists and dicts
        "list" => J::from(a.to_vec()),
        "first" => items(&a[0]).first().cloned().unwrap_or_else(|| J::from(())),
        "last" => items(&a[0]).last().cloned().unwrap_or_else(|| J::from(())),
        "rest" => J::from(items(&a[0]).into_iter().skip(1).collect::<Vec<_>>()),
        "initial" => {
            let mut v = items(&a[0]);
            v.pop();
            J::from(v)
        }
        "append" => {
            let mut v = items(&a[0]);
            v.push(a[1].clone());
            J::from(v)
        }
        "prepend" => {
            let mut v = vec![a[1].clone()];
            v.extend(items(&a[0]));
            J::from(v)
        }
        "concat" => J::from(a.iter().flat_map(items).collect::<Vec<_>>()),
        "reverse" => J::from(items(&a[0]).into_iter().rev().collect::<Vec<_>>()),
        "uniq" => {
            let mut out: Vec<J> = Vec::new();
            for x in items(&a[0]) {
                if !out.contains(&x) {
                    out.push(x);
                }
            }
            J::from(out)
        }
        "compact" => J::from(items(&a[0]).into_iter().filter(truth).collect::<Vec<_>>()),
        "has" => J::from(items(&a[1]).contains(&a[0])),
        "without" => {
            let drop = &a[1..];
            J::from(
                items(&a[0])
                    .into_iter()
                    .filter(|x| !drop.contains(x))
                    .collect::<Vec<_>>(),
            )
        }
        "sortAlpha" => {
            let mut v: Vec<String> = items(&a[0]).iter().map(as_string).collect();
            v.sort();
            J::from(v.into_iter().map(J::from).collect::<Vec<_>>())
        }
        "dict" => {
            let mut m = BTreeMap::new();
            for pair in a.chunks(2) {
                m.insert(
                    as_string(&pair[0]),
                    pair.get(1).cloned().unwrap_or_else(|| J::from("")),
                );
            }
            J::from(m)
        }
        "get" => {
            let x = a[0].get_item(&a[1]).unwrap_or_default();
            if x.is_undefined() { J::from("") } else { x }
        }
        "set" | "unset" => {
            let mut m = dict_of(&a[0]);
            if name == "set" {
                m.insert(s(1), a.get(2).cloned().unwrap_or_default());
            } else {
                m.remove(&s(1));
            }
            J::from(m)
        }
        "hasKey" => J::from(dict_of(&a[0]).contains_key(&s(1))),
        "keys" => {
            let mut k: Vec<String> = a.iter().flat_map(|d| dict_of(d).into_keys()).collect();
            k.sort();
            J::from(k.into_iter().map(J::from).collect::<Vec<_>>())
        }
        "values" => J::from(dict_of(&a[0]).into_values().collect::<Vec<_>>()),
        "pluck" => {
            let key = s(0);
            J::from(
                a[1..]
                    .iter()
                    .filter_map(|d| dict_of(d).remove(&key))
                    .collect::<Vec<_>>(),
            )
        }
        "merge" => {
            let mut out = dict_of(&a[0]);
            for d in &a[1..] {
                for (k, v) in dict_of(d) {
                    out.entry(k).or_insert(v);
                }
            }
            J::from(out)
        }
        "pick" | "omit" => {
            let keys: Vec<String> = a[1..].iter().map(as_string).collect();
            J::from(
                dict_of(&a[0])
                    .into_iter()
                    .filter(|(k, _)| keys.contains(k) == (name == "pick"))
                    .collect::<BTreeMap<_, _>>(),
            )
        }
        "kindOf" => J::from(kind_of(&a[0])),
        "kindIs" => J::from(kind_of(&a[1]) == s(0)),
        "typeOf" => J::from(type_name(&a[0])),
        "deepCopy" => go_value(&to_json(&a[0])),
        "dig" => {
            // dig k1 k2 ... default dict
            let (dict, rest) = a.split_last().unwrap_or((&a[0], &[]));
            let (default, keys) = rest
                .split_last()
                .map_or((J::from(()), &[][..]), |(d, k)| (d.clone(), k));
            let mut v = dict.clone();
            for k in keys {
                let x = if v.kind() == ValueKind::Map {
                    v.get_item(k).unwrap_or_default()
                } else {
                    J::UNDEFINED
                };
                if x.is_undefined() {
                    return Ok(default);
                }
                v = x;
            }
            v
        }
        "until" | "untilStep" | "seq" => {
            let (start, stop, step) = match (name, a.len()) {
                ("until", _) => (0, to_i64(&a[0]), 1),
                ("untilStep", _) => (to_i64(&a[0]), to_i64(&a[1]), to_i64(&a[2])),
                ("seq", 1) => (1, to_i64(&a[0]) + 1, 1),
                ("seq", 2) => {
                    let (s0, e) = (to_i64(&a[0]), to_i64(&a[1]));
                    if e >= s0 { (s0, e + 1, 1) } else { (s0, e - 1, -1) }
                }
                ("seq", 3) => {
                    let (s0, st, e) = (to_i64(&a[0]), to_i64(&a[1]), to_i64(&a[2]));
                    (s0, if st > 0 { e + 1 } else { e - 1 }, st)
                }
                _ => return Err(format!("wrong number of args for {name}")),
            };
            if step == 0 || (stop - start) / step > 100_000 {
                return Err(format!("{name}: too many elements"));
            }
            let mut out = Vec::new();
            let mut i = start;
            while (step > 0 && i < stop) || (step < 0 && i > stop) {
                out.push(J::from(i));
                i += step;
            }
            if name == "seq" {
                J::from(out.iter().map(go_sprint).collect::<Vec<_>>().join(" "))
            } else {
                J::from(out)
            }
        }
        "tuple" => J::from(a.to_vec()),
        "splitn" => J::from(
            s(2).splitn(to_i64(&a[1]).max(0) as usize, &s(0))
                .enumerate()
                .map(|(i, p)| (format!("_{i}"), J::from(p)))
                .collect::<BTreeMap<_, _>>(),
        ),
        "all" => J::from(a.iter().all(truth)),
        "any" => J::from(a.iter().any(truth)),
        "mergeOverwrite" => {
            let mut out = dict_of(&a[0]);
            for d in &a[1..] {
                out.extend(dict_of(d));
            }
            J::from(out)
        }
        "mustRegexReplaceAll" => J::from(regex(&s(0))?.replace_all(&s(1), s(2).as_str()).into_owned()),
        "mustRegexMatch" => J::from(regex(&s(0))?.is_match(&s(1))),
        "initials" => J::from(
            s(0).split_whitespace()
                .filter_map(|w| w.chars().next())
                .collect::<String>(),
        ),
        "trimall" => J::from(s(1).trim_matches(|c| s(0).contains(c)).to_string()),
        "semverCompare" => J::from(semver_matches(&s(0), &s(1))?),
        other => return Err(format!("function {other:?} not implemented")),
    })
}

fn kind_of(v: &J) -> &'static str {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => "invalid",
        ValueKind::Bool => "bool",
        ValueKind::Number if is_float(v) => "float64",
        ValueKind::Number => "int",
        ValueKind::String => "string",
        ValueKind::Seq => "slice",
        ValueKind::Map => "map",
        _ => "ptr",
    }
}

fn dict_of(v: &J) -> BTreeMap<String, J> {
    match v.kind() {
        ValueKind::Map => v
            .try_iter()
            .map(|keys| {
                keys.map(|k| (as_string(&k), v.get_item(&k).unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default(),
        _ => BTreeMap::new(),
    }
}

/// A version as (major, minor, patch); a leading `v` and a pre-release suffix are ignored.
fn version(s: &str) -> Result<(u64, u64, u64), String> {
    let core = s.trim().trim_start_matches('v');
    let core = core.split(['-', '+']).next().unwrap_or_default();
    let mut parts = core.split('.').map(|p| {
        p.parse::<u64>()
            .map_err(|_| format!("invalid semantic version {s:?}"))
    });
    let major = parts
        .next()
        .ok_or_else(|| format!("invalid semantic version {s:?}"))??;
    let minor = parts.next().transpose()?.unwrap_or(0);
    let patch = parts.next().transpose()?.unwrap_or(0);
    Ok((major, minor, patch))
}

/// Masterminds semver constraints as used in templates: `=`, `!=`, `>`, `<`, `>=`, `<=`, `~`
/// (patch-level), `^` (minor-level), AND with `,` or spaces, OR with `||`.
fn semver_matches(constraint: &str, v: &str) -> Result<bool, String> {
    let v = version(v)?;
    for alternative in constraint.split("||") {
        let mut all = true;
        for term in alternative.split([',', ' ']).filter(|t| !t.trim().is_empty()) {
            let term = term.trim();
            let (op, rest) = ["!=", ">=", "<=", "=", ">", "<", "~", "^"]
                .iter()
                .find_map(|op| term.strip_prefix(op).map(|r| (*op, r)))
                .unwrap_or(("=", term));
            let c = version(rest)?;
            let ok = match op {
                "=" => v == c,
                "!=" => v != c,
                ">" => v > c,
                "<" => v < c,
                ">=" => v >= c,
                "<=" => v <= c,
                "~" => v >= c && (v.0, v.1) == (c.0, c.1),
                _ => v >= c && v.0 == c.0,
            };
            all &= ok;
        }
        if all {
            return Ok(true);
        }
    }
    Ok(false)
}

fn regex(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(pattern).map_err(|e| e.to_string())
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        // Go's strings.Title: ASCII letters, digits and `_` continue a word, other ASCII starts one.
        prev_letter = c.is_alphanumeric() || c == '_' || (!c.is_ascii() && !c.is_whitespace());
    }
    out
}

/// Go's `url.QueryEscape`.
fn url_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: serde_json::Value) -> crate::Params {
        serde_json::from_value(v).unwrap()
    }

    fn r(t: &str, data: serde_json::Value) -> String {
        GoTemplate::new(&[], None)
            .unwrap()
            .render_once(t, &params(data))
            .unwrap_or_else(|e| panic!("{t}: {e}"))
    }

    fn r_err(t: &str, data: serde_json::Value, opts: &[&str]) -> String {
        let opts: Vec<String> = opts.iter().map(|s| s.to_string()).collect();
        GoTemplate::new(&opts, None)
            .unwrap()
            .render_once(t, &params(data))
            .unwrap_err()
    }

    /// Expected outputs checked against Go 1.19's text/template (tests/gotemplate-oracle).
    /// Outputs of Go 1.19's text/template for the same templates and data
    /// (tests/gotemplate-oracle), standard functions only.
    #[test]
    fn matches_go_text_template() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "{{ range $k, $v := .m }}{{ $k }}={{ $v }},{{ end }}",
                "{\"m\": {\"b\": 2, \"a\": 1.5}}",
                "a=1.5,b=2,",
            ),
            (
                "{{ if .l }}yes{{ else }}no{{ end }}|{{ if .e }}yes{{ else }}no{{ end }}|{{ if .z }}y{{ else }}n{{ end }}",
                "{\"l\": [1], \"e\": [], \"z\": 0}",
                "yes|no|n",
            ),
            (
                "{{ with $x := .a }}{{ $x }}{{ . }}{{ end }}",
                "{\"a\": \"v\"}",
                "vv",
            ),
            (
                "{{ len .s }} {{ len .l }} {{ index .l 1 }} {{ index .m \"k\" }}",
                "{\"s\": \"h\\u00e9llo\", \"l\": [\"a\", \"b\"], \"m\": {\"k\": \"v\"}}",
                "6 2 b v",
            ),
            (
                "{{ print 1 2 \"a\" \"b\" 3 }}|{{ println .a .b }}",
                "{\"a\": 1, \"b\": \"x\"}",
                "1 2ab3|1 x\n",
            ),
            (
                "{{ printf \"%5.1f|%-6s|%06d|%x|%t|%v\" .f .s 42 255 true .l }}",
                "{\"f\": 3.14159, \"s\": \"ab\", \"l\": [1, 2]}",
                "  3.1|ab    |000042|ff|true|[1 2]",
            ),
            ("{{ and 1 0 \"x\" }} {{ or 0 \"\" \"z\" }}", "{}", "0 z"),
            (
                "{{ eq .a \"x\" \"y\" }} {{ ne 1 2 }} {{ lt 1.5 2.5 }} {{ ge \"b\" \"a\" }}",
                "{\"a\": \"y\"}",
                "true true true true",
            ),
            (
                "{{ $x := 1 }}{{ if true }}{{ $x := 2 }}{{ $x }}{{ end }}{{ $x }}",
                "{}",
                "21",
            ),
            (
                "{{ range $i, $e := .l }}{{ if eq $i 1 }}{{ break }}{{ end }}{{ $e }}{{ end }}",
                "{\"l\": [\"a\", \"b\", \"c\"]}",
                "a",
            ),
            ("{{ .a.b.c }}", "{\"a\": {\"b\": {\"c\": true}}}", "true"),
            (
                "{{ .m }}",
                "{\"m\": {\"x\": [1, {\"y\": null}], \"n\": null}}",
                "map[n:<nil> x:[1 map[y:<nil>]]]",
            ),
            (
                "{{ html \"<a&b>\" }} {{ js \"it's\" }} {{ urlquery \"a b&c\" }}",
                "{}",
                "&lt;a&amp;b&gt; it\\'s a+b%26c",
            ),
            (
                "{{ slice \"abcdef\" 1 3 }} {{ slice .l 1 }}",
                "{\"l\": [1, 2, 3]}",
                "bc [2 3]",
            ),
            (
                "{{ 1e3 }} {{ 0x10 }} {{ 'a' }} {{ 1.0 }} {{ -2 }}",
                "{}",
                "1000 16 97 1 -2",
            ),
            ("{{ not .x }} {{ not 1 }}", "{\"x\": \"\"}", "true false"),
        ];
        for (t, d, want) in cases {
            let data: serde_json::Value = serde_json::from_str(d).unwrap();
            assert_eq!(&r(t, data), want, "{t}");
        }
        let e = r_err("{{ .a.b }}", json!({"a": "str"}), &[]);
        assert!(e.ends_with("can't evaluate field b in type interface {}"), "{e}");
    }

    /// Outputs of Go 1.19's text/template with sprig 3.2.3 (Debian's
    /// golang-github-masterminds-sprig-dev) and Argo CD's function map, for the same templates
    /// and data (tests/gotemplate-oracle/sprig.jsonl).
    #[test]
    fn matches_sprig() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "{{ lower .s }}|{{ upper .s }}|{{ title \"hello wORLD foo_bar it's\" }}|{{ untitle \"Hello World\" }}",
                "{\"s\": \"MiXed Case\"}",
                "mixed case|MIXED CASE|Hello WORLD Foo_bar It'S|hello world",
            ),
            (
                "{{ trim \"  x y  \" }}|{{ trimAll \"$\" \"$$5.00$\" }}|{{ trimPrefix \"ab\" \"abc\" }}|{{ trimSuffix \"bc\" \"abc\" }}|{{ replace \"a\" \"b\" \"banana\" }}",
                "{}",
                "x y|5.00|c|a|bbnbnb",
            ),
            (
                "{{ quote \"a\" 1 .n }}|{{ squote \"a\" .f }}|{{ quote .missing }}",
                "{\"n\": 2, \"f\": 1.5}",
                "\"a\" \"1\" \"2\"|'a' '1.5'|",
            ),
            (
                "{{ contains \"ell\" \"hello\" }}|{{ hasPrefix \"he\" \"hello\" }}|{{ hasSuffix \"lo\" \"hello\" }}|{{ repeat 3 \"ab\" }}",
                "{}",
                "true|true|true|ababab",
            ),
            (
                "{{ substr 1 3 \"hello\" }}|{{ substr -1 3 \"hello\" }}|{{ substr 2 99 \"hello\" }}|{{ trunc 3 \"hello\" }}|{{ trunc -2 \"hello\" }}|{{ trunc 10 \"hi\" }}",
                "{}",
                "el|hel|llo|hel|lo|hi",
            ),
            (
                "{{ abbrev 5 \"hello world\" }}|{{ indent 2 \"a\\nb\" }}|{{ nindent 2 \"a\" }}|{{ cat \"a\" 1 .nil \"b\" }}|{{ nospace \"a b  c\" }}",
                "{\"nil\": null}",
                "he...|  a\n  b|\n  a|a 1 b|abc",
            ),
            (
                "{{ snakecase \"FirstName\" }}|{{ camelcase \"http_server\" }}|{{ kebabcase \"FirstName\" }}|{{ snakecase \"first name\" }}",
                "{}",
                "first_name|HttpServer|first-name|first_name",
            ),
            (
                "{{ splitList \",\" \"a,b,c\" }}|{{ split \"$\" \"foo$bar\" }}|{{ join \"-\" .l }}|{{ join \"+\" (list 1 2 \"x\") }}",
                "{\"l\": [\"a\", \"b\"]}",
                "[a b c]|map[_0:foo _1:bar]|a-b|1+2+x",
            ),
            (
                "{{ toString 1 }}|{{ toString .f }}|{{ toString .b }}|{{ toStrings (list 1 \"a\") }}",
                "{\"f\": 2.5, \"b\": true}",
                "1|2.5|true|[1 a]",
            ),
            (
                "{{ regexMatch \"^[a-z]+$\" \"abc\" }}|{{ regexFind \"[0-9]+\" \"ab123cd45\" }}|{{ regexFindAll \"[0-9]\" \"a1b2c3\" 2 }}|{{ regexReplaceAll \"a(x*)b\" \"-ab-axxb-\" \"${1}W\" }}|{{ regexReplaceAllLiteral \"a(x*)b\" \"-ab-\" \"${1}\" }}|{{ regexSplit \"z+\" \"pizza\" -1 }}",
                "{}",
                "true|123|[1 2]|-W-xxW-|-${1}-|[pi a]",
            ),
            (
                "{{ b64enc \"hello\" }}|{{ b64dec \"aGVsbG8=\" }}|{{ sha256sum \"hello\" }}|{{ sha1sum \"hello\" }}",
                "{}",
                "aGVsbG8=|hello|2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824|aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",
            ),
            (
                "{{ default \"d\" .missing }}|{{ default \"d\" .e }}|{{ default \"d\" .z }}|{{ default \"d\" .v }}|{{ empty .e }}|{{ empty .v }}|{{ empty .l }}",
                "{\"e\": \"\", \"z\": 0, \"v\": \"x\", \"l\": []}",
                "d|d|d|x|true|false|true",
            ),
            (
                "{{ coalesce .a .b \"c\" }}|{{ ternary \"y\" \"n\" true }}|{{ ternary \"y\" \"n\" .f }}",
                "{\"a\": \"\", \"b\": null, \"f\": false}",
                "c|y|n",
            ),
            (
                "{{ toJson .m }}|{{ toPrettyJson .m }}|{{ toRawJson (dict \"h\" \"<b>\") }}|{{ (fromJson \"{\\\"a\\\": 1}\").a }}",
                "{\"m\": {\"a\": 1, \"b\": [1.5, \"x\"], \"c\": null}}",
                "{\"a\":1,\"b\":[1.5,\"x\"],\"c\":null}|{\n  \"a\": 1,\n  \"b\": [\n    1.5,\n    \"x\"\n  ],\n  \"c\": null\n}|{\"h\":\"<b>\"}|1",
            ),
            (
                "{{ add 1 2 .f }}|{{ add1 .f }}|{{ sub 5 .f }}|{{ mul 2 3 }}|{{ div 7 2 }}|{{ mod 7 3 }}|{{ max 1 5 3 }}|{{ min 4 2 }}",
                "{\"f\": 2.7}",
                "5|3|3|6|3|1|5|2",
            ),
            (
                "{{ int .f }}|{{ int64 \"42\" }}|{{ float64 \"1.5\" }}|{{ atoi \"12\" }}|{{ floor 1.7 }}|{{ ceil 1.2 }}|{{ round 1.456 2 }}",
                "{\"f\": 3.9}",
                "3|42|1.5|12|1|2|1.46",
            ),
            (
                "{{ list 1 \"a\" }}|{{ first .l }}|{{ last .l }}|{{ rest .l }}|{{ initial .l }}|{{ append .l \"d\" }}|{{ prepend .l \"z\" }}|{{ concat .l (list 1) }}|{{ reverse .l }}",
                "{\"l\": [\"a\", \"b\", \"c\"]}",
                "[1 a]|a|c|[b c]|[a b]|[a b c d]|[z a b c]|[a b c 1]|[c b a]",
            ),
            (
                "{{ uniq (list 1 1 2) }}|{{ compact (list \"a\" \"\" 0 \"b\") }}|{{ has \"b\" .l }}|{{ without .l \"a\" }}|{{ sortAlpha (list \"c\" \"a\" \"B\") }}",
                "{\"l\": [\"a\", \"b\"]}",
                "[1 2]|[a b]|true|[b]|[B a c]",
            ),
            (
                "{{ dict \"a\" 1 \"b\" \"x\" }}|{{ get .m \"a\" }}|{{ get .m \"nope\" }}|{{ hasKey .m \"a\" }}|{{ pluck \"a\" .m (dict \"a\" 2) }}|{{ pick .m \"a\" }}|{{ omit .m \"a\" }}",
                "{\"m\": {\"a\": \"1\", \"b\": \"2\"}}",
                "map[a:1 b:x]|1||true|[1 2]|map[a:1]|map[b:2]",
            ),
            (
                "{{ merge (dict \"a\" 1) (dict \"a\" 2 \"b\" 3) }}|{{ set (dict \"a\" 1) \"b\" 2 }}|{{ unset (dict \"a\" 1 \"b\" 2) \"a\" }}",
                "{}",
                "map[a:1 b:3]|map[a:1 b:2]|map[b:2]",
            ),
            (
                "{{ kindOf .s }}|{{ kindOf .f }}|{{ kindOf .l }}|{{ kindOf .m }}|{{ kindOf 1 }}|{{ kindIs \"string\" .s }}|{{ typeOf .f }}|{{ typeOf .m }}",
                "{\"s\": \"x\", \"f\": 1.5, \"l\": [], \"m\": {}}",
                "string|float64|slice|map|int|true|float64|map[string]interface {}",
            ),
            (
                "{{ plural \"one\" \"many\" 1 }}|{{ plural \"one\" \"many\" 2 }}|{{ deepCopy .m }}",
                "{\"m\": {\"a\": [1]}}",
                "one|many|map[a:[1]]",
            ),
            (
                "{{ .s | lower | replace \" \" \"-\" | trunc 8 }}|{{ printf \"%s\" (.n | toString) }}",
                "{\"s\": \"Hello Big World\", \"n\": 3}",
                "hello-bi|3",
            ),
            (
                "{{ dig \"a\" \"b\" \"def\" .m }}|{{ dig \"a\" \"x\" \"def\" .m }}|{{ dig \"z\" \"def\" .m }}",
                "{\"m\": {\"a\": {\"b\": \"found\"}}}",
                "found|def|def",
            ),
            (
                "{{ until 3 }}|{{ untilStep 1 10 3 }}|{{ seq 3 }}|{{ seq 2 4 }}|{{ seq 5 -1 3 }}",
                "{}",
                "[0 1 2]|[1 4 7]|1 2 3|2 3 4|5 4 3",
            ),
            (
                "{{ tuple 1 \"a\" }}|{{ splitn \"$\" 2 \"a$b$c\" }}|{{ all 1 \"a\" true }}|{{ all 1 \"\" }}|{{ any 0 \"\" \"x\" }}|{{ any 0 \"\" }}",
                "{}",
                "[1 a]|map[_0:a _1:b$c]|true|false|true|false",
            ),
            (
                "{{ mergeOverwrite (dict \"a\" 1) (dict \"a\" 2 \"b\" 3) }}|{{ mustRegexReplaceAll \"a\" \"banana\" \"o\" }}|{{ mustRegexMatch \"^b\" \"banana\" }}|{{ initials \"First Try\" }}",
                "{}",
                "map[a:2 b:3]|bonono|true|FT",
            ),
            (
                "{{ semverCompare \">=1.25.0\" \"1.26.3\" }}|{{ semverCompare \"<1.25\" \"v1.26.0\" }}|{{ semverCompare \"~1.2.0\" \"1.2.9\" }}|{{ semverCompare \"^1.2.0\" \"2.0.0\" }}|{{ semverCompare \">=1.0, <2.0 || >=3.0\" \"3.1.0\" }}",
                "{}",
                "true|false|true|false|true",
            ),
            ("{{ trimall \"$\" \"$5$\" }}", "{}", "5"),
        ];
        for (t, d, want) in cases {
            let data: serde_json::Value = serde_json::from_str(d).unwrap();
            assert_eq!(&r(t, data), want, "{t}");
        }
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
}
