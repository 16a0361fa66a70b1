//! The `list` generator: `elements` and `elementsYaml`.
//!
//! Stage: generate (pure, no I/O). In the default template mode every element must be a flat
//! object of strings (its `values` key an object of strings, emitted as `values.<key>`); in the
//! nested modes elements are used as they are. `elementsYaml` items are appended after `elements`
//! without any checking, in both modes, exactly as Argo CD does.

use serde_json::Value;

use super::{GenerateContext, GenerateError, json_kind};
use crate::{
    crd::ListGenerator,
    params::{ParamMode, Params},
};

/// Generate the parameter sets of a `list` generator.
pub fn generate(
    g: &ListGenerator,
    ctx: &GenerateContext<'_>,
    path: &str,
) -> Result<Vec<Params>, GenerateError> {
    let mut out = Vec::with_capacity(g.elements.len());
    for (i, el) in g.elements.iter().enumerate() {
        let epath = format!("{path}.elements[{i}]");
        let Value::Object(obj) = el else {
            return Err(GenerateError::invalid(
                &epath,
                format!(
                    "error unmarshling list element: expected an object, got {}",
                    json_kind(el)
                ),
            ));
        };
        match ctx.mode() {
            ParamMode::Nested => out.push(obj.clone().into_iter().collect()),
            ParamMode::Flat => {
                let mut p = Params::new();
                for (k, v) in obj {
                    if k == "values" {
                        let Value::Object(values) = v else {
                            return Err(GenerateError::invalid(
                                &format!("{epath}.values"),
                                "error parsing values map",
                            ));
                        };
                        for (vk, vv) in values {
                            let Value::String(s) = vv else {
                                return Err(GenerateError::invalid(
                                    &format!("{epath}.values.{vk}"),
                                    "error parsing values map",
                                ));
                            };
                            p.insert(format!("values.{vk}"), Value::String(s.clone()));
                        }
                    } else {
                        let Value::String(_) = v else {
                            // Argo CD's message, Go artefact included (the wrapped error is nil).
                            return Err(GenerateError::invalid(
                                &format!("{epath}.{k}"),
                                format!(
                                    "error parsing value as string %!w(<nil>) (the value is {}; quote it, \
                                     or use goTemplate/jinja for non-string parameters)",
                                    json_kind(v)
                                ),
                            ));
                        };
                        p.insert(k.clone(), v.clone());
                    }
                }
                out.push(p);
            }
        }
    }
    if let Some(yaml) = g.elements_yaml.as_deref().filter(|y| !y.trim().is_empty()) {
        let items: Vec<serde_json::Map<String, Value>> = serde_saphyr::from_str(yaml).map_err(|e| {
            GenerateError::invalid(
                &format!("{path}.elementsYaml"),
                format!("error unmarshling decoded ElementsYaml {e}"),
            )
        })?;
        out.extend(items.into_iter().map(|m| m.into_iter().collect::<Params>()));
    }
    Ok(out)
}
