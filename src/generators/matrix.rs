//! The `matrix` generator: the cartesian product of two or more children, nested to any depth.
//!
//! Stage: generate (pure; children do their I/O through `Sources`). Argo CD allows exactly two
//! children and two levels; appset takes any number of children at any depth and generalises
//! Argo's rule for the second child: child *k* is interpolated with each combined parameter set
//! of children *0..k* before it is generated, so a later child can read any earlier child's
//! parameters (a git revision from a branch, a cluster selector from a list element). Order is
//! earlier-child-major, as in Argo CD.
//!
//! Combining follows Argo CD: in the default mode both sets become string maps and the same key
//! with different values is an error; in the nested modes the sets are deep-merged and the earlier
//! child wins, even with an empty value (`false`, `""`, `0`, `null`), as mergo's `WithOverride`
//! does.

use serde_json::Value;

use super::{GenerateContext, GenerateError, GeneratorSpec, transform};
use crate::{
    crd::{ApplicationSetGenerator, MatrixGenerator},
    params::{ParamMode, Params},
    render::Engine,
    text::go_format_value,
};

/// Default upper bound on the parameter sets one matrix may produce (a guard against accidental
/// explosions; 1 000 × 1 000 is already a million Applications).
pub const MAX_PARAMS: usize = 1_000_000;

/// Generate the parameter sets of a `matrix` generator.
pub async fn generate(
    g: &MatrixGenerator,
    ctx: &GenerateContext<'_>,
    path: &str,
) -> Result<Vec<Params>, GenerateError> {
    if g.generators.len() < 2 {
        return Err(GenerateError::invalid(
            path,
            "found less than two generators, Matrix requires two or more",
        ));
    }
    let mut acc = child_params(&g.generators[0], ctx, &format!("{path}.generators[0]")).await?;
    for (k, child) in g.generators.iter().enumerate().skip(1) {
        let cpath = format!("{path}.generators[{k}]");
        let mut next = Vec::new();
        // A child without template markers generates the same sets for every earlier set: ask it once.
        let fixed = if has_markers(child, ctx.engine) {
            None
        } else {
            Some(child_params(child, ctx, &cpath).await?)
        };
        // A product known in advance is refused before any of it is built.
        if let Some(f) = &fixed
            && acc.len().saturating_mul(f.len()) > ctx.max_matrix_params
        {
            return Err(over_limit(path, ctx));
        }
        for a in &acc {
            let interpolated;
            let bs: &[Params] = match &fixed {
                Some(f) => f,
                None if a.is_empty() => {
                    interpolated = child_params(child, ctx, &cpath).await?;
                    &interpolated
                }
                None => {
                    let child = interpolate(child, a, ctx, &cpath)?;
                    let inner = GenerateContext {
                        outer: Some(a),
                        ..*ctx
                    };
                    interpolated = child_params(&child, &inner, &cpath).await?;
                    &interpolated
                }
            };
            // Refused before it is built: `next` never holds more than the limit.
            if next.len().saturating_add(bs.len()) > ctx.max_matrix_params {
                return Err(over_limit(path, ctx));
            }
            let a_flat = (ctx.mode() == ParamMode::Flat).then(|| stringify(a));
            for b in bs {
                let combined = match &a_flat {
                    Some(a_flat) => combine_flat(a_flat.clone(), b),
                    None => combine(a, b, ctx.mode()),
                };
                next.push(combined.map_err(|m| GenerateError::invalid(path, m))?);
            }
        }
        acc = next;
        if acc.is_empty() {
            break;
        }
    }
    Ok(acc)
}

/// The matrix at `path` would produce more parameter sets than the limit.
fn over_limit(path: &str, ctx: &GenerateContext<'_>) -> GenerateError {
    GenerateError::Limit {
        path: path.to_string(),
        message: format!(
            "the matrix produces more than {} parameter sets (the limit)",
            ctx.max_matrix_params
        ),
    }
}

/// The parameter sets of a matrix/merge child: exactly one generator kind, selector applied.
pub(crate) async fn child_params(
    child: &ApplicationSetGenerator,
    ctx: &GenerateContext<'_>,
    path: &str,
) -> Result<Vec<Params>, GenerateError> {
    if GeneratorSpec::kinds_of(child).len() > 1 {
        return Err(GenerateError::invalid(
            path,
            "found more than one generator in matrix.Generators",
        ));
    }
    let mut results = Box::pin(transform(child, ctx, path)).await?;
    Ok(results.pop().map(|t| t.params).unwrap_or_default())
}

/// Combine an earlier set `a` with a later set `b`.
pub fn combine(a: &Params, b: &Params, mode: ParamMode) -> Result<Params, String> {
    match mode {
        ParamMode::Flat => combine_flat(stringify(a), b),
        // One answer, built from a whole copy of the larger side: a map's copy is cheaper than
        // inserting its entries one by one (a cluster's parameters into each list element's).
        ParamMode::Nested if a.len() >= b.len() => {
            let mut out = a.clone();
            fill_missing(&mut out, b);
            Ok(out)
        }
        ParamMode::Nested => {
            let mut out = b.clone();
            merge_override(&mut out, a);
            Ok(out)
        }
    }
}

/// `merge_override(b, a)` computed from `a`'s side: `b`'s entries are added where `dst` (a copy
/// of `a`) has none, and merged into it where both are objects; everywhere else `a` wins.
fn fill_missing(dst: &mut Params, src: &Params) {
    merge_maps(dst, src, false);
}

/// The parameters as Go's `map[string]string` (`%v` of every value).
fn stringify(a: &Params) -> Params {
    a.iter()
        .map(|(k, v)| {
            (
                k.clone(),
                if v.is_string() {
                    v.clone()
                } else {
                    Value::String(go_format_value(v))
                },
            )
        })
        .collect()
}

/// Add `b` to the stringified `out`; the same key with a different value is Argo CD's error.
fn combine_flat(mut out: Params, b: &Params) -> Result<Params, String> {
    for (k, v) in b {
        match out.get(k) {
            Some(Value::String(va)) => {
                let differs = match v {
                    Value::String(vb) => va != vb,
                    other => *va != go_format_value(other),
                };
                if differs {
                    return Err(format!(
                        "failed to combine string maps with merging params for the matrix generator: \
                         found duplicate key {k} with different value, a: {va} ,b: {}",
                        go_format_value(v)
                    ));
                }
            }
            _ => {
                let vb = if v.is_string() {
                    v.clone()
                } else {
                    Value::String(go_format_value(v))
                };
                out.insert(k.clone(), vb);
            }
        }
    }
    Ok(out)
}

/// mergo's `Merge(dst, src, WithOverride)` on two `map[string]interface{}`: every `src` value
/// replaces `dst`'s, **whatever it is** (`false`, `""`, `0`, `null` and empty lists too: with
/// `WithOverride` mergo checks emptiness on neither side of a map entry), except that when both
/// are objects they merge recursively by the same rule (so an empty `src` object leaves `dst`'s
/// as it is).
pub(crate) fn merge_override(dst: &mut Params, src: &Params) {
    merge_maps(dst, src, true);
}

/// Merge `src` into `dst`: entries `dst` lacks are added, objects on both sides merge
/// recursively, and anywhere else `src`'s value replaces `dst`'s when `src_wins`, else `dst`'s
/// stays ([`merge_override`] and [`fill_missing`]).
fn merge_maps(dst: &mut Params, src: &Params, src_wins: bool) {
    fn merge_entry(d: &mut Value, s: &Value, src_wins: bool) {
        match (d, s) {
            (Value::Object(dm), Value::Object(sm)) => {
                for (k, sv) in sm {
                    match dm.get_mut(k) {
                        Some(dv) => merge_entry(dv, sv, src_wins),
                        None => {
                            dm.insert(k.clone(), sv.clone());
                        }
                    }
                }
            }
            (d, s) if src_wins => *d = s.clone(),
            _ => {}
        }
    }
    for (k, sv) in src {
        match dst.get_mut(k) {
            Some(dv) => merge_entry(dv, sv, src_wins),
            None => {
                dst.insert(k.clone(), sv.clone());
            }
        }
    }
}

/// Whether any string of the child holds a template marker of the engine.
fn has_markers(child: &ApplicationSetGenerator, engine: &Engine) -> bool {
    fn any(v: &Value, f: &dyn Fn(&str) -> bool) -> bool {
        match v {
            Value::String(s) => f(s),
            Value::Array(a) => a.iter().any(|x| any(x, f)),
            Value::Object(m) => m.iter().any(|(k, x)| f(k) || any(x, f)),
            _ => false,
        }
    }
    let v = serde_json::to_value(child).unwrap_or(Value::Null);
    any(&v, &|s| engine.is_template(s))
}

/// Render every string of a child's spec with `a` (Argo CD's `InterpolateGenerator`). The
/// child's own `template` is skipped (children's templates are ignored); `values` entries that
/// need the child's own parameters are left for the child to resolve.
pub(crate) fn interpolate(
    child: &ApplicationSetGenerator,
    a: &Params,
    ctx: &GenerateContext<'_>,
    path: &str,
) -> Result<ApplicationSetGenerator, GenerateError> {
    let mut v = serde_json::to_value(child).map_err(|e| GenerateError::invalid(path, e.to_string()))?;
    const CONTEXT: &str = "failed to replace parameters in generator";
    interpolate_entry(&mut v, a, ctx, path).map_err(|e| match e {
        GenerateError::Invalid { path, message } => GenerateError::Invalid {
            path,
            message: format!("{CONTEXT}: {message}"),
        },
        GenerateError::Render { path, source } => GenerateError::Invalid {
            path,
            message: format!("{CONTEXT}: {source}"),
        },
        other => other,
    })?;
    serde_json::from_value(v).map_err(|e| GenerateError::invalid(path, format!("{CONTEXT}: {e}")))
}

fn interpolate_entry(
    entry: &mut Value,
    a: &Params,
    ctx: &GenerateContext<'_>,
    path: &str,
) -> Result<(), GenerateError> {
    let Value::Object(m) = entry else { return Ok(()) };
    for (kind, spec) in m.iter_mut() {
        let kpath = format!("{path}.{kind}");
        let Value::Object(fields) = spec else {
            render_all(spec, a, ctx, &kpath)?;
            continue;
        };
        if kind == "selector" {
            render_all(spec, a, ctx, &kpath)?;
            continue;
        }
        for (field, fv) in fields.iter_mut() {
            let fpath = format!("{kpath}.{field}");
            match (field.as_str(), fv) {
                ("template", _) => {}
                ("values", Value::Object(values)) => {
                    for (k, val) in values.iter_mut() {
                        if let Value::String(s) = val {
                            match ctx.engine.pre_resolve(s, a) {
                                Ok(Some(r)) => *s = r,
                                Ok(None) => {}
                                Err(e) => {
                                    return Err(GenerateError::invalid(
                                        &format!("{fpath}.{k}"),
                                        format!("failed to pre-resolve Values key {k:?}: {e}"),
                                    ));
                                }
                            }
                        }
                    }
                }
                ("generators", Value::Array(children)) if kind == "matrix" || kind == "merge" => {
                    for (i, c) in children.iter_mut().enumerate() {
                        interpolate_entry(c, a, ctx, &format!("{fpath}[{i}]"))?;
                    }
                }
                (_, other) => render_all(other, a, ctx, &fpath)?,
            }
        }
    }
    Ok(())
}

fn render_all(v: &mut Value, a: &Params, ctx: &GenerateContext<'_>, path: &str) -> Result<(), GenerateError> {
    crate::render::map_strings(v, path, &mut |field, s| {
        if !s.contains("{{") && !matches!(ctx.engine, Engine::Jinja(_)) {
            return Ok(None);
        }
        ctx.engine
            .render_str(s, a)
            .map(Some)
            .map_err(|source| GenerateError::Render {
                path: field.to_string(),
                source,
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(v: Value) -> Params {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn flat_combine_rejects_the_same_key_with_different_values() {
        let err = combine(
            &p(json!({"path": "a"})),
            &p(json!({"path": "b"})),
            ParamMode::Flat,
        )
        .unwrap_err();
        assert!(
            err.ends_with("found duplicate key path with different value, a: a ,b: b"),
            "{err}"
        );
        let ok = combine(
            &p(json!({"path": "a", "n": 1})),
            &p(json!({"path": "a"})),
            ParamMode::Flat,
        )
        .unwrap();
        assert_eq!(ok, p(json!({"path": "a", "n": "1"})));
    }

    #[test]
    fn nested_combine_deep_merges_and_the_first_child_wins() {
        let a = p(json!({"x": {"a": 1, "s": "mine"}, "k": "first"}));
        let b = p(json!({"x": {"b": 2, "s": "theirs"}, "k": "second", "only_b": true}));
        let out = combine(&a, &b, ParamMode::Nested).unwrap();
        assert_eq!(
            out,
            p(json!({"x": {"a": 1, "b": 2, "s": "mine"}, "k": "first", "only_b": true}))
        );
    }

    /// mergo's `WithOverride` on `map[string]interface{}` checks emptiness on neither side: the
    /// first child's `false`, `""`, `0`, `null` and `[]` replace the second child's values.
    #[test]
    fn nested_combine_first_child_wins_even_with_an_empty_value() {
        for empty in [
            json!(false),
            json!(""),
            json!(0),
            json!(0.0),
            json!(null),
            json!([]),
        ] {
            let a = p(json!({"k": empty, "x": {"k": empty}}));
            let b = p(json!({"k": "second", "x": {"k": "second", "other": 1}}));
            let out = combine(&a, &b, ParamMode::Nested).unwrap();
            assert_eq!(
                out,
                p(json!({"k": empty, "x": {"k": empty, "other": 1}})),
                "{empty}"
            );
        }
    }

    #[test]
    fn nested_combine_replaces_across_kinds_and_keeps_objects_under_an_empty_object() {
        let a = p(json!({"obj_over_str": {"a": 1}, "str_over_obj": "s", "list": [1], "empty": {}}));
        let b = p(
            json!({"obj_over_str": "s", "str_over_obj": {"a": 1}, "list": [2, 3], "empty": {"kept": true}}),
        );
        let out = combine(&a, &b, ParamMode::Nested).unwrap();
        assert_eq!(
            out,
            p(json!({"obj_over_str": {"a": 1}, "str_over_obj": "s", "list": [1], "empty": {"kept": true}}))
        );
    }

    /// Whichever side is copied whole, the answer is mergo's: `b` overridden by `a`.
    #[test]
    fn nested_combine_answers_as_mergo_whichever_side_is_larger() {
        let pairs = [
            (
                json!({"x": {"a": 1, "s": "mine"}, "k": "first"}),
                json!({"x": {"b": 2, "s": "theirs"}, "k": "second"}),
            ),
            (
                json!({"obj_over_str": {"a": {"deep": 1}}, "str_over_obj": "s", "list": [1], "empty": {}}),
                json!({"obj_over_str": "s", "str_over_obj": {"a": 1}, "list": [2, 3], "empty": {"kept": {"x": 1}}}),
            ),
            (
                json!({"k": null, "x": {"k": false, "y": {"z": 0}}}),
                json!({"k": "b", "x": {"k": true, "y": {"w": 1}}}),
            ),
        ];
        for (a, b) in pairs {
            // Padding one side or the other picks the side that is copied whole.
            for (pad_a, pad_b) in [(0, 0), (5, 0), (0, 5)] {
                let mut a = p(a.clone());
                let mut b = p(b.clone());
                for i in 0..pad_a {
                    a.insert(format!("pad_a{i}"), json!({"v": i}));
                }
                for i in 0..pad_b {
                    b.insert(format!("pad_b{i}"), json!({"v": i}));
                }
                let mut mergo = b.clone();
                merge_override(&mut mergo, &a);
                assert_eq!(combine(&a, &b, ParamMode::Nested).unwrap(), mergo, "{a:?} {b:?}");
                assert_eq!(combine(&b, &a, ParamMode::Nested).unwrap(), {
                    let mut m = a.clone();
                    merge_override(&mut m, &b);
                    m
                });
            }
        }
    }

    /// The whole matrix in goTemplate mode: a falsy first-child value survives the second child.
    #[tokio::test]
    async fn go_template_matrix_keeps_the_first_childs_falsy_values() {
        let spec = json!({
            "goTemplate": true,
            "generators": [{"matrix": {"generators": [
                {"list": {"elements": [{"enabled": false, "name": "", "replicas": 0, "owner": null,
                                        "nested": {"on": false, "who": "a"}}]}},
                {"list": {"elements": [{"enabled": true, "name": "b", "replicas": 3, "owner": "team",
                                        "nested": {"on": true, "extra": "b"}}]}},
            ]}}],
            "template": {"metadata": {"name": "x"}, "spec": {"project": "default", "destination": {}}},
        });
        let params = crate::generators::testing::generate_first(spec, json!({}), Default::default())
            .await
            .unwrap();
        assert_eq!(
            params,
            [p(
                json!({"enabled": false, "name": "", "replicas": 0, "owner": null,
                      "nested": {"on": false, "who": "a", "extra": "b"}})
            )]
        );
    }
}
