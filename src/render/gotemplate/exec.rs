//! The goTemplate interpreter: Go's `text/template` execution (`exec.go`) over the parsed tree.
//!
//! Stage: render. Pure, except what the functions it calls do (the date functions read the
//! clock, the random ones the operating system's random source).
//!
//! A port of Go 1.19's `exec.go`, step for step where it shows in output or errors:
//! - values keep their Go type ([`Val`]): data is `interface {}` holding JSON's types, a
//!   function's result has the function's result type, no value (a missing key) is no value;
//! - every argument is converted to its parameter's type before the call, in order, as
//!   `evalArg` and `validateType` do (literals by kind, `nil` only where a type can be nil,
//!   `interface {}` unwrapped, `wrong type for value; expected T; got U`), with Go's signatures
//!   ([`funcs::go_signature`]);
//! - a pipeline's value is unwrapped after each command (`interface {}` to what it holds);
//! - variables live on one stack with Go's marks (`if`/`with`/`range` pop what they pushed);
//! - fields, `missingkey`, methods of semver versions and times, `range` over slices, maps
//!   (in key order) and integers (Go 1.24, as Argo CD's Go has it), `break` and `continue`;
//! - `and` and `or` short-circuit.
//!
//! Each step costs fuel; a template that runs out fails instead of running on.

use minijinja::Value as J;

use super::MissingKey;
use super::funcs;
use super::gotime;
use super::parse::{Command, List, Node, Operand, Pipeline, Pos, Site};
use super::semver;
use super::value::{GoType, dyn_type, go_sprint, truth};

/// A value as text/template holds it: a Go value and its type, or no value (Go's zero
/// `reflect.Value`, what a missing map key gives).
#[derive(Clone, Debug)]
pub(super) struct Val {
    /// The value (undefined when there is none).
    pub(super) v: J,
    /// Its Go type; `None`: no value.
    pub(super) ty: Option<GoType>,
    /// The type of what it holds: `ty` itself, or for an `interface {}` the dynamic type of its
    /// content (`None`: nil).
    inner: Option<GoType>,
}

impl Val {
    /// No value.
    fn invalid() -> Val {
        Val {
            v: J::UNDEFINED,
            ty: None,
            inner: None,
        }
    }

    /// A value of type `ty` (for `interface {}`, holding what `v` is).
    pub(super) fn of(v: J, ty: GoType) -> Val {
        if ty == GoType::Iface {
            let inner = dyn_type(&v);
            return Val::iface_as(v, inner);
        }
        Val {
            v,
            ty: Some(ty),
            inner: Some(ty),
        }
    }

    /// An `interface {}` holding a value of type `inner` (`None`: nil).
    fn iface_as(v: J, inner: Option<GoType>) -> Val {
        let v = if v.is_undefined() { J::from(()) } else { v };
        Val {
            v,
            ty: Some(GoType::Iface),
            inner,
        }
    }

    /// An element of the data (or of any `interface {}` collection): `interface {}`.
    fn iface(v: J) -> Val {
        Val::of(v, GoType::Iface)
    }

    /// A value of a concrete type taken from its contents (a literal's, a converted argument's).
    fn dynamic(v: J) -> Val {
        match dyn_type(&v) {
            Some(t) => Val::of(v, t),
            None => Val::invalid(),
        }
    }

    /// `reflect.ValueOf(v.Interface())`: an `interface {}` becomes what it holds (no value for
    /// nil); other values stay.
    fn unwrap(self) -> Val {
        match (self.ty, self.inner) {
            (Some(GoType::Iface), None) => Val::invalid(),
            (Some(GoType::Iface), Some(t)) => Val {
                v: self.v,
                ty: Some(t),
                inner: Some(t),
            },
            _ => self,
        }
    }

    /// The type text/template names for this value (`reflect.Value.Type()`).
    fn type_name(&self) -> &'static str {
        self.ty.map_or("<nil>", GoType::name)
    }

    /// An `interface {}` holding nil.
    fn is_nil_iface(&self) -> bool {
        self.ty == Some(GoType::Iface) && self.inner.is_none()
    }

    /// The type of what the value holds (an `interface {}`'s dynamic type); `None` for nil.
    fn concrete(&self) -> Option<GoType> {
        self.inner
    }
}

/// Why execution stopped early.
pub(super) enum Stop {
    /// `{{break}}`.
    Break,
    /// `{{continue}}`.
    Continue,
    /// An execution error, Go's text with its location prefix.
    Fail(String),
    /// The fuel ran out.
    OutOfFuel,
}

type R<T> = Result<T, Stop>;

/// The most iterations a `range` over an integer may make.
const MAX_RANGE_INT: i64 = 1_000_000;

/// The largest output one template may write.
const MAX_OUTPUT: usize = 8 << 20;

/// Execution state: text/template's `state`.
pub(super) struct Exec<'t> {
    missing: MissingKey,
    /// The variable stack (`$` first), innermost last.
    vars: Vec<(&'t str, Val)>,
    fuel: u64,
    out: String,
    /// The node being evaluated (Go's `s.at`), for errors that name no node of their own.
    at: Option<&'t Site>,
}

/// Run `list` on `data` (the root value, `$` and `.`).
pub(super) fn run(list: &List, data: J, missing: MissingKey, fuel: u64) -> Result<String, Stop> {
    let root = Val::dynamic(data);
    let mut s = Exec {
        missing,
        vars: vec![("", root.clone())],
        fuel,
        out: String::new(),
        at: None,
    };
    match s.list(&root, list) {
        Ok(()) => Ok(s.out),
        Err(Stop::Break | Stop::Continue) => Ok(s.out),
        Err(e) => Err(e),
    }
}

/// Go's `executing "base" at <NODE>: MESSAGE`.
fn fail(site: &Site, message: impl std::fmt::Display) -> Stop {
    fail_at(site.pos, &site.source, message)
}

/// [`fail`] at a position, naming `node`.
fn fail_at(pos: Pos, node: &str, message: impl std::fmt::Display) -> Stop {
    Stop::Fail(format!(
        "template: base:{pos}: executing \"base\" at <{node}>: {message}"
    ))
}

/// A number literal as Go's parser reads it (`parse.NumberNode`): which kinds it can be.
struct Number<'a> {
    text: &'a str,
    int: Option<i64>,
    float: Option<f64>,
}

impl<'a> Number<'a> {
    fn of(o: &Operand, text: &'a str) -> Option<Number<'a>> {
        match *o {
            Operand::Int(i) => Some(Number {
                text,
                int: Some(i),
                float: Some(i as f64),
            }),
            Operand::Float(f) => Some(Number {
                text,
                int: (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i64),
                float: Some(f),
            }),
            _ => None,
        }
    }

    /// `idealConstant`: a float when it is written like one, else an `int`.
    fn ideal(&self, site: &Site) -> R<Val> {
        let t = self.text.trim_start_matches(['+', '-']);
        let hex_int =
            t.len() > 2 && t.starts_with('0') && t[1..].starts_with(['x', 'X']) && !t.contains(['p', 'P']);
        let rune = t.starts_with('\'');
        match (self.float, self.int) {
            (Some(f), _) if !hex_int && !rune && t.contains(['.', 'e', 'E', 'p', 'P']) => {
                Ok(Val::of(J::from(f), GoType::Float64))
            }
            (_, Some(i)) => Ok(Val::of(J::from(i), GoType::Int)),
            _ => Err(fail(site, format!("{} overflows int", self.text))),
        }
    }
}

/// A value for a function's parameter (nil slices and maps as none).
fn arg_value(v: &Val, param: GoType) -> J {
    match v.ty {
        None if param == GoType::Reflect => J::UNDEFINED,
        None => J::from(()),
        Some(_) => v.v.clone(),
    }
}

impl<'t> Exec<'t> {
    fn burn(&mut self) -> R<()> {
        if self.fuel == 0 {
            return Err(Stop::OutOfFuel);
        }
        self.fuel -= 1;
        Ok(())
    }

    fn at(&mut self, site: &'t Site) {
        self.at = Some(site);
    }

    /// An error at the node being evaluated.
    fn fail_here(&self, message: impl std::fmt::Display) -> Stop {
        match self.at {
            Some(site) => fail(site, message),
            None => Stop::Fail(format!("template: base: {message}")),
        }
    }

    fn list(&mut self, dot: &Val, list: &'t List) -> R<()> {
        for node in list {
            self.node(dot, node)?;
        }
        Ok(())
    }

    fn mark(&self) -> usize {
        self.vars.len()
    }

    fn pop(&mut self, mark: usize) {
        self.vars.truncate(mark);
    }

    fn node(&mut self, dot: &Val, node: &'t Node) -> R<()> {
        self.burn()?;
        match node {
            Node::Text(t) => self.write(t),
            Node::Action(p) => {
                let v = self.pipeline(dot, p)?;
                if p.vars.is_empty() {
                    let nil = v.v.is_none() || v.v.is_undefined();
                    let text = match v.ty {
                        None => "<no value>".to_string(),
                        // A nil slice or map of a concrete type prints empty, as fmt does.
                        Some(t) if nil && t.kind() == "slice" => "[]".to_string(),
                        Some(t) if nil && t.kind() == "map" => "map[]".to_string(),
                        Some(_) => go_sprint(&v.v),
                    };
                    self.write(&text)?;
                }
                Ok(())
            }
            Node::If { branches, otherwise } => self.if_or_with(dot, branches, otherwise, false),
            Node::With { branches, otherwise } => self.if_or_with(dot, branches, otherwise, true),
            Node::Range {
                pipeline,
                body,
                otherwise,
            } => self.range(dot, pipeline, body, otherwise),
            Node::Break => Err(Stop::Break),
            Node::Continue => Err(Stop::Continue),
        }
    }

    fn write(&mut self, s: &str) -> R<()> {
        if self.out.len() + s.len() > MAX_OUTPUT {
            return Err(self.fail_here(format!(
                "the output is longer than appset's limit of {MAX_OUTPUT} bytes"
            )));
        }
        self.out.push_str(s);
        Ok(())
    }

    /// `walkIfOrWith`, with `else if` / `else with` as the nested nodes Go makes of them: the
    /// variables of every condition evaluated stay until the whole statement ends.
    fn if_or_with(
        &mut self,
        dot: &Val,
        branches: &'t [(Pipeline, List)],
        otherwise: &'t Option<List>,
        with: bool,
    ) -> R<()> {
        let mark = self.mark();
        let r = (|| {
            for (cond, body) in branches {
                let v = self.pipeline(dot, cond)?;
                if self.truth(&v) {
                    return if with {
                        self.list(&v, body)
                    } else {
                        self.list(dot, body)
                    };
                }
            }
            match otherwise {
                Some(o) => self.list(dot, o),
                None => Ok(()),
            }
        })();
        self.pop(mark);
        r
    }

    /// `isTrue(indirectInterface(v))`.
    fn truth(&self, v: &Val) -> bool {
        v.ty.is_some() && truth(&v.v)
    }

    fn range(&mut self, dot: &Val, p: &'t Pipeline, body: &'t List, otherwise: &'t Option<List>) -> R<()> {
        let mark = self.mark();
        let r = self.range_inner(dot, p, body, otherwise);
        self.pop(mark);
        match r {
            Err(Stop::Break) => Ok(()),
            r => r,
        }
    }

    fn range_inner(
        &mut self,
        dot: &Val,
        p: &'t Pipeline,
        body: &'t List,
        otherwise: &'t Option<List>,
    ) -> R<()> {
        let val = self.pipeline(dot, p)?;
        let mark = self.mark();
        let ty = val.concrete();
        let items: Vec<(Val, Val)> = match ty {
            None => Vec::new(),
            Some(t @ (GoType::List | GoType::Lists | GoType::Strings | GoType::Ints)) => val
                .v
                .try_iter()
                .map(|it| {
                    it.enumerate()
                        .map(|(i, x)| (Val::of(J::from(i as i64), GoType::Int), Val::of(x, t.elem())))
                        .collect()
                })
                .unwrap_or_default(),
            Some(t @ (GoType::Map | GoType::StrMap)) => {
                let mut keys: Vec<J> = val.v.try_iter().map(Iterator::collect).unwrap_or_default();
                keys.sort_by_key(|k| k.to_string());
                keys.into_iter()
                    .map(|k| {
                        let x = val.v.get_item(&k).unwrap_or_default();
                        (Val::of(k, GoType::Str), Val::of(x, t.elem()))
                    })
                    .collect()
            }
            Some(GoType::Int | GoType::Int64 | GoType::Uint8 | GoType::Uint32) => {
                // Go 1.24 ranges over an integer (Argo CD's Go does; the oracle's 1.19 does not).
                if p.vars.len() > 1 {
                    return Err(self.fail_here(format!(
                        "can't use {} to iterate over more than one variable",
                        go_sprint(&val.v)
                    )));
                }
                let n = val.v.as_i64().unwrap_or(0).max(0);
                // A huge count would run until the fuel is gone; it is an error at once.
                if n > MAX_RANGE_INT {
                    return Err(self.fail_here(format!(
                        "range over {n} exceeds appset's limit of {MAX_RANGE_INT} iterations"
                    )));
                }
                let t = val.concrete().unwrap_or(GoType::Int);
                (0..n).map(|i| (Val::invalid(), Val::of(J::from(i), t))).collect()
            }
            Some(_) => {
                return Err(self.fail_here(format!("range can't iterate over {}", go_sprint(&val.v))));
            }
        };
        if items.is_empty() {
            return match otherwise {
                Some(o) => self.list(dot, o),
                None => Ok(()),
            };
        }
        for (index, elem) in items {
            self.burn()?;
            // The last declared variable is the element, the one before it the index.
            let n = self.vars.len();
            match p.vars.len() {
                0 => {}
                1 => self.vars[n - 1].1 = elem.clone(),
                _ => {
                    self.vars[n - 1].1 = elem.clone();
                    self.vars[n - 2].1 = index;
                }
            }
            let r = self.list(&elem, body);
            self.pop(mark);
            match r {
                Ok(()) | Err(Stop::Continue) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// `evalPipeline`: each command's value is the next one's last argument; an
    /// `interface {}` value is unwrapped after each command; then the declarations.
    fn pipeline(&mut self, dot: &Val, p: &'t Pipeline) -> R<Val> {
        let mut value: Option<Val> = None;
        for cmd in &p.commands {
            value = Some(self.command(dot, cmd, value, p)?.unwrap());
        }
        let value = value.unwrap_or_else(Val::invalid);
        for var in &p.vars {
            if p.assign {
                match self.vars.iter_mut().rev().find(|(n, _)| n == var) {
                    Some(slot) => slot.1 = value.clone(),
                    None => return Err(self.fail_here(format!("undefined variable: ${var}"))),
                }
            } else {
                self.vars.push((var.as_str(), value.clone()));
            }
        }
        Ok(value)
    }

    fn var(&self, name: &str) -> R<Val> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| self.fail_here(format!("undefined variable: ${name}")))
    }

    /// `notAFunction`.
    fn not_a_function(&self, cmd: &'t Command, has_final: bool) -> R<()> {
        if cmd.args.len() > 1 || has_final {
            // Go prints a parenthesized pipeline without its parentheses here.
            let source = &cmd.sites[0].source;
            let node = match cmd.args[0] {
                Operand::Pipe(..) => source
                    .strip_prefix('(')
                    .and_then(|s| s.strip_suffix(')'))
                    .map_or(source.as_str(), str::trim),
                _ => source,
            };
            return Err(fail(
                &cmd.sites[0],
                format!("can't give argument to non-function {node}"),
            ));
        }
        Ok(())
    }

    /// `evalCommand`.
    fn command(&mut self, dot: &Val, cmd: &'t Command, last: Option<Val>, p: &'t Pipeline) -> R<Val> {
        self.burn()?;
        let site = &cmd.sites[0];
        match &cmd.args[0] {
            Operand::Field(chain) => {
                self.at(site);
                self.chain(dot, dot.clone(), chain, site, Some(cmd), last)
            }
            Operand::Variable(name, chain) => {
                self.at(site);
                let v = self.var(name)?;
                if chain.is_empty() {
                    self.not_a_function(cmd, last.is_some())?;
                    return Ok(v);
                }
                self.chain(dot, v, chain, site, Some(cmd), last)
            }
            Operand::Pipe(inner, chain) if !chain.is_empty() => {
                self.at(site);
                let v = self.pipeline(dot, inner)?;
                self.chain(dot, v, chain, self.receiver_site(inner, site), Some(cmd), last)
            }
            Operand::Identifier(name) => {
                self.function(dot, name, &cmd.site, &cmd.args[1..], &cmd.sites[1..], last)
            }
            Operand::Pipe(inner, _) => {
                // Go names the enclosing pipeline here (evalCommand sets no node of its own).
                self.not_a_function(cmd, last.is_some()).map_err(|e| match e {
                    Stop::Fail(m) => {
                        let message = m.split_once(">: ").map_or(m.as_str(), |(_, r)| r);
                        fail_at(p.pos, &p.source, message)
                    }
                    other => other,
                })?;
                self.pipeline(dot, inner)
            }
            literal => {
                self.at(site);
                self.not_a_function(cmd, last.is_some())?;
                match literal {
                    Operand::Nil => Err(fail(site, "nil is not a command")),
                    _ => self.empty_interface(dot, literal, site),
                }
            }
        }
    }

    /// The node Go names when a field of `(pipe).f` fails: the last one evaluated inside.
    fn receiver_site(&self, inner: &'t Pipeline, site: &'t Site) -> &'t Site {
        inner.commands.last().and_then(|c| c.sites.last()).unwrap_or(site)
    }

    /// `evalFieldChain`: the fields of `receiver` in turn; the last gets the command's
    /// arguments when it is a method.
    fn chain(
        &mut self,
        dot: &Val,
        receiver: Val,
        chain: &'t [String],
        site: &'t Site,
        cmd: Option<&'t Command>,
        last: Option<Val>,
    ) -> R<Val> {
        let mut v = receiver;
        let n = chain.len();
        let mut last = last;
        for (i, name) in chain.iter().enumerate() {
            let args = if i + 1 == n { cmd } else { None };
            let fin = if i + 1 == n { last.take() } else { None };
            v = self.field(dot, v, name, site, args, fin)?;
        }
        Ok(v)
    }

    /// `evalField`: a method of a version or time, else a map key.
    fn field(
        &mut self,
        dot: &Val,
        receiver: Val,
        name: &str,
        site: &'t Site,
        cmd: Option<&'t Command>,
        last: Option<Val>,
    ) -> R<Val> {
        let Some(ty) = receiver.ty else {
            if self.missing == MissingKey::Error {
                return Err(fail(site, format!("nil data; no entry for key {name:?}")));
            }
            return Ok(Val::invalid());
        };
        if receiver.is_nil_iface() {
            return Err(fail(site, format!("nil pointer evaluating {}.{name}", ty.name())));
        }
        let has_args = cmd.is_some_and(|c| c.args.len() > 1) || last.is_some();
        let inner = receiver.concrete();
        if matches!(inner, Some(GoType::Version | GoType::Time)) {
            return self.method(dot, &receiver.v, name, site, cmd, last);
        }
        match inner {
            Some(map @ (GoType::Map | GoType::StrMap)) => {
                if has_args {
                    return Err(fail(site, format!("{name} is not a method but has arguments")));
                }
                match receiver.v.get_attr(name) {
                    Ok(x) if !x.is_undefined() => Ok(Val::of(x, map.elem())),
                    _ => match self.missing {
                        MissingKey::Default => Ok(Val::invalid()),
                        MissingKey::Zero if map == GoType::StrMap => Ok(Val::of(J::from(""), GoType::Str)),
                        MissingKey::Zero => Ok(Val::iface(J::from(()))),
                        MissingKey::Error => Err(fail(site, format!("map has no entry for key {name:?}"))),
                    },
                }
            }
            _ => Err(fail(
                site,
                format!("can't evaluate field {name} in type {}", ty.name()),
            )),
        }
    }

    /// A method call on a version or a time, its arguments evaluated as Go's `interface {}`
    /// arguments (the methods convert them).
    fn method(
        &mut self,
        dot: &Val,
        receiver: &J,
        name: &str,
        site: &'t Site,
        cmd: Option<&'t Command>,
        last: Option<Val>,
    ) -> R<Val> {
        let mut args = Vec::new();
        let mut arg_site = site;
        // A literal argument the method's parameter type refuses: Go's evalArg message.
        let mut literal: Option<&'t Operand> = None;
        if let Some(cmd) = cmd {
            for (a, s) in cmd.args[1..].iter().zip(&cmd.sites[1..]) {
                args.push(self.arg(dot, a, s, GoType::Iface)?.v);
                arg_site = s;
                literal = matches!(
                    a,
                    Operand::Bool(_) | Operand::String(_) | Operand::Int(_) | Operand::Float(_)
                )
                .then_some(a);
            }
        }
        args.extend(last.map(|v| v.v));
        let result = if let Some(version) = receiver.downcast_object_ref::<semver::Version>() {
            semver::method(version, name, &args)
        } else if let Some(time) = receiver.downcast_object_ref::<gotime::GoTime>() {
            gotime::method(time, name, &args)
        } else {
            Err(format!("can't evaluate field {name} in type interface {{}}"))
        };
        result.map(Val::dynamic).map_err(|m| {
            if let (Some(_), Some(want)) = (literal, m.strip_prefix("wrong type for value; expected ")) {
                let want = want.split(';').next().unwrap_or(want);
                let found = &arg_site.source;
                let message = match want {
                    "string" => format!("expected string; found {found}"),
                    "bool" => format!("expected bool; found {found}"),
                    "float64" => format!("expected float; found {found}"),
                    "int" | "int64" | "time.Duration" | "time.Month" | "time.Weekday" => {
                        format!("expected integer; found {found}")
                    }
                    other => format!("can't handle {found} for arg of type {other}"),
                };
                fail(arg_site, message)
            } else if m.starts_with("can't handle") || m.starts_with("wrong type for value") {
                fail(arg_site, m)
            } else {
                fail(site, m)
            }
        })
    }

    /// `evalFunction` and `evalCall`: Go's arity check, each argument evaluated and converted
    /// to its parameter's type in order (a piped value last), then the call. `site` is the
    /// command's (or, for a function named as an argument, the argument's).
    fn function(
        &mut self,
        dot: &Val,
        name: &str,
        site: &'t Site,
        ops: &'t [Operand],
        sites: &'t [Site],
        last: Option<Val>,
    ) -> R<Val> {
        self.at(site);
        let explicit = ops.len();
        if let Some(message) = funcs::arity_error(name, explicit, last.is_some()) {
            return Err(fail_at(site.pos, name, message));
        }
        let Some(sig) = funcs::go_signature(name) else {
            return Err(fail(site, format!("{name:?} is not a defined function")));
        };
        let args = ops.iter().zip(sites);
        if name == "and" || name == "or" {
            let mut v = Val::invalid();
            for (a, s) in args {
                v = self.arg(dot, a, s, GoType::Reflect)?;
                if self.truth(&v) == (name == "or") {
                    return Ok(v);
                }
            }
            return Ok(last.unwrap_or(v));
        }
        let mut argv = Vec::with_capacity(explicit + 1);
        let mut types = Vec::with_capacity(explicit + 1);
        for (i, (a, s)) in args.enumerate() {
            let param = sig.param(i);
            let v = self.arg(dot, a, s, param)?;
            types.push(v.concrete());
            argv.push(arg_value(&v, param));
        }
        if let Some(fin) = last {
            let param = sig.param(explicit);
            let v = self.validate(fin, param)?;
            types.push(v.concrete());
            argv.push(arg_value(&v, param));
        }
        let (result, held) = funcs::call_typed(name, &argv, &types)
            .map_err(|m| fail(site, format!("error calling {name}: {m}")))?;
        self.write_back(name, ops, &result);
        Ok(match sig.result {
            // A function of `interface {}` (or text/template's `reflect.Value`) result: what it
            // holds is the type the function says it returned (an argument's, say), else the
            // value's own.
            GoType::Iface | GoType::Reflect => {
                let inner = held.unwrap_or_else(|| dyn_type(&result));
                Val::iface_as(result, inner)
            }
            t => Val::of(result, t),
        })
    }

    /// sprig's `set`, `unset` and merges change their first map in place, and Go's maps are
    /// references: when that map came from a variable (`set $d "k" "v"`, `set $ ...`), the
    /// variable sees the change. appset's maps are values, so the changed map is written back
    /// to the variable (other references to the same Go map are not followed).
    fn write_back(&mut self, name: &str, ops: &'t [Operand], result: &J) {
        const IN_PLACE: &[&str] = &[
            "set",
            "unset",
            "merge",
            "mergeOverwrite",
            "mustMerge",
            "mustMergeOverwrite",
        ];
        if !IN_PLACE.contains(&name) || !matches!(result.kind(), minijinja::value::ValueKind::Map) {
            return;
        }
        if let Some(Operand::Variable(var, chain)) = ops.first()
            && chain.is_empty()
            && let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == var)
            && slot.1.concrete() == Some(GoType::Map)
        {
            slot.1 = Val::of(result.clone(), slot.1.ty.unwrap_or(GoType::Map));
        }
    }

    /// `evalArg`: an argument for a parameter of type `param`.
    fn arg(&mut self, dot: &Val, a: &'t Operand, site: &'t Site, param: GoType) -> R<Val> {
        self.at(site);
        let v = match a {
            Operand::Dot => dot.clone(),
            Operand::Nil => {
                return if param.can_be_nil() {
                    Ok(if param == GoType::Reflect {
                        Val::invalid()
                    } else {
                        Val::of(J::from(()), param)
                    })
                } else {
                    Err(fail(site, format!("cannot assign nil to {}", param.name())))
                };
            }
            Operand::Field(chain) => self.chain(dot, dot.clone(), chain, site, None, None)?,
            Operand::Variable(name, chain) => {
                let v = self.var(name)?;
                self.chain(dot, v, chain, site, None, None)?
            }
            Operand::Pipe(inner, chain) => {
                let v = self.pipeline(dot, inner)?;
                self.chain(dot, v, chain, self.receiver_site(inner, site), None, None)?
            }
            Operand::Identifier(name) => self.function(dot, name, site, &[], &[], None)?,
            literal => return self.literal(dot, literal, site, param),
        };
        self.validate(v, param)
    }

    /// A literal for a parameter of type `param` (`evalBool`, `evalString`, ...).
    fn literal(&mut self, dot: &Val, a: &'t Operand, site: &'t Site, param: GoType) -> R<Val> {
        let found = &site.source;
        match param {
            GoType::Iface | GoType::Reflect => self.empty_interface(dot, a, site),
            GoType::Bool => match a {
                Operand::Bool(b) => Ok(Val::of(J::from(*b), GoType::Bool)),
                _ => Err(fail(site, format!("expected bool; found {found}"))),
            },
            GoType::Str => match a {
                Operand::String(s) => Ok(Val::of(J::from(s.as_str()), GoType::Str)),
                _ => Err(fail(site, format!("expected string; found {found}"))),
            },
            GoType::Int | GoType::Int64 => match Number::of(a, found).and_then(|n| n.int) {
                Some(i) => Ok(Val::of(J::from(i), param)),
                None => Err(fail(site, format!("expected integer; found {found}"))),
            },
            GoType::Uint8 | GoType::Uint32 => {
                match Number::of(a, found).and_then(|n| n.int).filter(|i| *i >= 0) {
                    Some(i) => Ok(Val::of(J::from(i), param)),
                    None => Err(fail(site, format!("expected unsigned integer; found {found}"))),
                }
            }
            GoType::Float64 => match Number::of(a, found).and_then(|n| n.float) {
                Some(f) => Ok(Val::of(J::from(f), GoType::Float64)),
                None => Err(fail(site, format!("expected float; found {found}"))),
            },
            _ => Err(fail(
                site,
                format!("can't handle {found} for arg of type {}", param.name()),
            )),
        }
    }

    /// `evalEmptyInterface` of a literal (and a command's literal value).
    fn empty_interface(&mut self, dot: &Val, a: &'t Operand, site: &'t Site) -> R<Val> {
        match a {
            Operand::Bool(b) => Ok(Val::of(J::from(*b), GoType::Bool)),
            Operand::String(s) => Ok(Val::of(J::from(s.as_str()), GoType::Str)),
            Operand::Dot => Ok(dot.clone()),
            Operand::Int(_) | Operand::Float(_) => match Number::of(a, &site.source) {
                Some(n) => n.ideal(site),
                None => Ok(Val::invalid()),
            },
            _ => Err(fail(site, "can't handle assignment to empty interface argument")),
        }
    }

    /// `validateType`: a value for a parameter of type `param`.
    fn validate(&self, v: Val, param: GoType) -> R<Val> {
        let Some(ty) = v.ty else {
            if param.can_be_nil() {
                return Ok(if param == GoType::Reflect {
                    v
                } else {
                    Val::of(J::from(()), param)
                });
            }
            return Err(self.fail_here(format!("invalid value; expected {}", param.name())));
        };
        if param == GoType::Reflect || param == GoType::Iface || ty == param {
            return Ok(v);
        }
        if ty == GoType::Iface
            && let Some(inner) = v.inner
        {
            if inner == param {
                return Ok(Val::of(v.v, inner));
            }
            return Err(self.fail_here(format!(
                "wrong type for value; expected {}; got {}",
                param.name(),
                inner.name()
            )));
        }
        Err(self.fail_here(format!(
            "wrong type for value; expected {}; got {}",
            param.name(),
            v.type_name()
        )))
    }
}
