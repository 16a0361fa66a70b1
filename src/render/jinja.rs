//! `templateEngine: jinja`: templates rendered with minijinja.
//!
//! Stage: render (pure). appset's own richer mode: nested parameters (`{{ path.basename }}`),
//! filters, conditionals and loops, with minijinja's sandbox. Undefined variables are errors
//! (strict), every render has a fuel budget so a template cannot loop forever, and the delimiters
//! are configurable (`[[ ]]` avoids a clash with Helm when an ApplicationSet ships in a chart).
//! Trailing newlines are kept, so multi-line strings (Helm values) render unchanged.

use minijinja::{Environment, UndefinedBehavior, syntax::SyntaxConfig};

use crate::{crd::JinjaOptions, text};

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
