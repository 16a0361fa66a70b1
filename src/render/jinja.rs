//! `templateEngine: jinja`: templates rendered with minijinja.
//!
//! Stage: render (pure). appset's own richer mode: nested parameters (`{{ path.basename }}`),
//! filters, conditionals and loops, with minijinja's sandbox. Undefined variables are errors
//! (strict), every render has a fuel budget so a template cannot loop forever, and the delimiters
//! are configurable (`[[ ]]` avoids a clash with Helm when an ApplicationSet ships in a chart).
//! Trailing newlines are kept, so multi-line strings (Helm values) render unchanged.

use minijinja::{
    Environment, ErrorKind, State, UndefinedBehavior, Value,
    syntax::SyntaxConfig,
    value::{Rest, ValueOrKwargs},
};

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use minijinja::value::{Enumerator, Object, ObjectExt};

use crate::{crd::JinjaOptions, params::Params, text};

/// Default fuel (minijinja instructions) for one template string.
pub const DEFAULT_FUEL: u64 = 50_000;

/// A configured minijinja environment.
#[derive(Clone)]
pub struct Jinja {
    env: Environment<'static>,
    /// Start markers (variable, block, comment): a string without any of them is not a template.
    markers: [String; 3],
}

impl std::fmt::Debug for Jinja {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jinja").field("markers", &self.markers).finish()
    }
}

impl Jinja {
    /// An environment for the given options (defaults: `{{ }}`, `{% %}`, `{# #}`). `max_fuel`
    /// caps the fuel whatever the options ask for (the templating service's limit).
    pub fn new(opts: Option<&JinjaOptions>, max_fuel: Option<u64>) -> Result<Self, minijinja::Error> {
        let d = JinjaOptions::default();
        let o = opts.unwrap_or(&d);
        let pick = |v: &Option<String>, def: &'static str| v.clone().unwrap_or_else(|| def.to_string());
        let (vs, ve) = (pick(&o.variable_start, "{{"), pick(&o.variable_end, "}}"));
        let (bs, be) = (pick(&o.block_start, "{%"), pick(&o.block_end, "%}"));
        let (cs, ce) = (pick(&o.comment_start, "{#"), pick(&o.comment_end, "#}"));
        let syntax = SyntaxConfig::builder()
            .variable_delimiters(vs.clone(), ve)
            .block_delimiters(bs.clone(), be)
            .comment_delimiters(cs.clone(), ce)
            .keep_trailing_newline(true)
            .build()?;
        let mut env = Environment::new();
        env.set_syntax(syntax);
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let fuel = o.fuel.unwrap_or(DEFAULT_FUEL);
        env.set_fuel(Some(max_fuel.map_or(fuel, |max| fuel.min(max))));
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.add_filter("normalize", |s: String| text::normalize(&s));
        env.add_filter("slugify", |s: String, max: Option<usize>, smart: Option<bool>| {
            text::slugify(&s, max.unwrap_or(50), smart.unwrap_or(true))
        });
        env.add_function("normalize", |s: String| text::normalize(&s));
        env.add_filter("format", format);
        Ok(Jinja {
            env,
            markers: [vs, bs, cs],
        })
    }

    /// Whether `s` holds any start delimiter (otherwise it is used as is).
    pub fn is_template(&self, s: &str) -> bool {
        self.markers.iter().any(|m| s.contains(m.as_str()))
    }

    /// Render `source` once with `ctx`.
    pub fn render_once(&self, source: &str, ctx: &minijinja::Value) -> Result<String, minijinja::Error> {
        if !self.is_template(source) {
            return Ok(source.to_string());
        }
        self.env.render_str(source, ctx.clone())
    }

    /// A copy of the environment to which compiled templates can be added.
    pub fn environment(&self) -> Environment<'static> {
        self.env.clone()
    }
}

/// A parameter set as templates see it: a map whose values are converted to minijinja's values
/// the first time a template reads them, then kept for the set's other strings. A template reads
/// a few of a set's keys; converting all of them up front (a cluster's labels and annotations,
/// a git path's six parts) was an eighth of a jinja render.
#[derive(Debug)]
pub(crate) struct LazyParams {
    params: Arc<Params>,
    /// The values converted so far, by the address of their JSON value in `params` (shared, so
    /// never changed while this lives): the few keys a template reads, or each key once when a
    /// function reads the whole map (`tojson`, `range`), whatever the set's size.
    values: Mutex<HashMap<usize, Value>>,
    /// How a JSON value becomes a template value (goTemplate's numbers are Go's `float64`).
    convert: fn(&serde_json::Value) -> Value,
}

impl LazyParams {
    /// The jinja context of one render of `params`.
    pub(crate) fn context(params: Arc<Params>) -> Value {
        Self::with(params, |v| Value::from(minijinja::value::Serde(v)))
    }

    /// The context of one render of `params`, each value read converted by `convert`.
    pub(crate) fn with(params: Arc<Params>, convert: fn(&serde_json::Value) -> Value) -> Value {
        Value::from_object(LazyParams {
            params,
            values: Mutex::default(),
            convert,
        })
    }
}

impl Object for LazyParams {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.get_value_by_str(key.as_str()?)
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        let v = self.params.get(key)?;
        let mut values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        Some(
            values
                .entry(std::ptr::from_ref(v).addr())
                .or_insert_with(|| (self.convert)(v))
                .clone(),
        )
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        self.mapped_enumerator(|this| Box::new(this.params.keys().map(|k| Value::from(k.as_str()))))
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.params.len())
    }
}

/// minijinja's `format` filter (printf style), refusing what would make it panic: minijinja
/// (3.0.5 and 3.1.0) steps through a `%(key)` mapping key byte by byte and panics on a key with a
/// non-ASCII character (found by the `jinja` fuzz target). Such a key is an error here instead.
fn format(
    state: &mut State,
    format_str: &Value,
    args: Rest<ValueOrKwargs>,
) -> Result<Value, minijinja::Error> {
    if let Some(s) = format_str.as_str()
        && let Some(offset) = non_ascii_format_key(s)
    {
        return Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "format: the mapping key at offset {offset} has a non-ASCII character, which is not supported"
            ),
        ));
    }
    minijinja::filters::format(state, format_str, args)
}

/// The offset of the first `%(` whose key (up to `)` or the end) holds a non-ASCII byte.
fn non_ascii_format_key(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            Some(b'%') => i += 2,
            Some(b'(') => {
                let key = &b[i + 2..];
                let end = key.iter().position(|&c| c == b')').unwrap_or(key.len());
                if !key[..end].is_ascii() {
                    return Some(i);
                }
                i += 2 + end;
            }
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str) -> Result<String, String> {
        let j = Jinja::new(None, None).unwrap();
        let ctx = Value::from(minijinja::value::Serde(
            serde_json::json!({"m": {"é": "x", "a": "y"}, "n": 7}),
        ));
        j.render_once(template, &ctx).map_err(|e| e.to_string())
    }

    #[test]
    fn format_refuses_a_non_ascii_mapping_key_instead_of_panicking() {
        for t in [r#"{{ "%(é)s"|format(m) }}"#, r#"{{ "%%%(ab،"|format(m) }}"#] {
            let e = render(t).unwrap_err();
            assert!(e.contains("non-ASCII"), "{t}: {e}");
        }
        // Everything else is minijinja's format, unchanged.
        assert_eq!(
            render(r#"{{ "%(a)s %%(é)"|format(m) }}"#).as_deref(),
            Ok("y %(é)")
        );
        assert_eq!(render(r#"{{ "é %s"|format(n) }}"#).as_deref(), Ok("é 7"));
        assert!(
            render(r#"{{ "%(a"|format(m) }}"#)
                .unwrap_err()
                .contains("missing closing")
        );
    }
}
