//! One Application from a compiled template and a parameter set, finished as Argo CD finishes it.
//!
//! Stage: render (pure). After every string of the template is rendered: Argo CD's resources
//! finalizer rule, `templatePatch` (rendered with the same engine, then a strategic merge that
//! cannot change the project), the ApplicationSet's namespace, and `NormalizeApplicationSpec`'s
//! default project.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::{CompiledTemplate, Engine, RenderError, Warning, patch};
use crate::{
    crd::{ApplicationSetTemplateMeta, ApplicationSpec, RESOURCES_FINALIZER},
    params::Params,
};

/// What every Application of one ApplicationSet shares when it is rendered.
#[derive(Debug, Clone, Copy)]
pub struct SetContext<'a> {
    /// The set's template engine (it renders `templatePatch`).
    pub engine: &'a Engine,
    /// `spec.templatePatch`.
    pub template_patch: Option<&'a str>,
    /// `syncPolicy.preserveResourcesOnDeletion`: no resources finalizer is added.
    pub preserve_resources: bool,
    /// The namespace every Application is created in (the ApplicationSet's).
    pub namespace: &'a str,
}

/// Render one Application: `compiled` (the template `raw`, parsed) with `params`, then Argo CD's
/// finishing steps: the resources finalizer rule, `templatePatch`, the ApplicationSet's namespace
/// and an empty project as `default`. `params` is shared with the template's context (jinja
/// reads it lazily). Unresolved fasttemplate tags are appended to `warnings`.
///
/// # Errors
/// A template string or the `templatePatch` failed; the error names the field.
pub fn application(
    compiled: &CompiledTemplate,
    raw: &Value,
    params: &Arc<Params>,
    set: &SetContext<'_>,
    warnings: &mut Vec<Warning>,
) -> Result<Value, RenderError> {
    // Argo CD quirk: an empty parameter set returns the template unrendered and without the
    // injected finalizer.
    let rendered = if params.is_empty() {
        raw.clone()
    } else {
        compiled.render(params, warnings)?
    };
    // The rendered template becomes the Application in place (no second tree is built).
    let mut app = match rendered {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    app.retain(|k, _| k == "metadata" || k == "spec");
    let metadata = app.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(m) = metadata {
        m.remove("namespace");
        let has_finalizers = m
            .get("finalizers")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if !params.is_empty() && !has_finalizers && !set.preserve_resources {
            m.insert(
                "finalizers".into(),
                Value::Array(vec![Value::String(RESOURCES_FINALIZER.into())]),
            );
        }
    }
    app.entry("spec").or_insert_with(|| Value::Object(Map::new()));
    app.insert("apiVersion".into(), Value::String("argoproj.io/v1alpha1".into()));
    app.insert("kind".into(), Value::String("Application".into()));
    let mut app = Value::Object(app);
    if let Some(patch) = set.template_patch {
        apply_template_patch(&mut app, patch, params, set.engine)?;
    }
    if let Some(Value::Object(m)) = app.get_mut("metadata") {
        m.insert("namespace".into(), Value::String(set.namespace.to_string()));
    }
    normalize_application(&mut app);
    Ok(app)
}

/// Argo CD's `NormalizeApplicationSpec` as far as it shows in the created object: an empty
/// project becomes `default`.
fn normalize_application(app: &mut Value) {
    if let Some(Value::Object(spec)) = app.get_mut("spec") {
        let empty = spec
            .get("project")
            .is_none_or(|p| p.as_str().is_some_and(str::is_empty) || p.is_null());
        if empty {
            spec.insert("project".into(), Value::String("default".into()));
        }
    }
}

fn apply_template_patch(
    app: &mut Value,
    patch: &str,
    params: &Params,
    engine: &Engine,
) -> Result<(), RenderError> {
    let field = "spec.templatePatch";
    let rendered = engine.render_str(patch, params).map_err(|e| {
        RenderError::Patch(format!("error replacing values in templatePatch: {e}")).in_field(field)
    })?;
    let trimmed = rendered.trim();
    let patch_value: Value = if trimmed.starts_with('{') {
        serde_json::from_str(trimmed).map_err(|e| {
            RenderError::Patch(format!("invalid templatePatch {trimmed:?}: {e}")).in_field(field)
        })?
    } else {
        serde_saphyr::from_str(&rendered).map_err(|e| {
            RenderError::Patch(format!("invalid templatePatch {trimmed:?}: {e}")).in_field(field)
        })?
    };
    let json = patch_value.to_string();
    if !patch_value.is_object() && !patch_value.is_null() {
        // Argo CD's words (people search for them), then what to change.
        return Err(RenderError::Patch(format!(
            "invalid templatePatch {json:?}: json: cannot unmarshal {kind} into Go value of type \
             v1alpha1.Application (templatePatch must render to a map of Application fields, such \
             as `spec: {{syncPolicy: ...}}`, not a JSON {kind})",
            kind = json_kind(&patch_value)
        ))
        .in_field(field));
    }
    if patch_value.is_null() {
        return Ok(());
    }
    // It must have the shape of an Application (typed fields with the right types).
    if let Some(meta) = patch_value.get("metadata") {
        serde_json::from_value::<ApplicationSetTemplateMeta>(meta.clone()).map_err(|e| {
            RenderError::Patch(format!("invalid templatePatch {json:?}: {e}")).in_field(field)
        })?;
    }
    if let Some(spec) = patch_value.get("spec") {
        serde_json::from_value::<ApplicationSpec>(spec.clone()).map_err(|e| {
            RenderError::Patch(format!("invalid templatePatch {json:?}: {e}")).in_field(field)
        })?;
    }
    let project = app.pointer("/spec/project").cloned();
    patch::strategic_merge(app, &patch_value).map_err(|e| {
        RenderError::Patch(format!(
            "error while applying templatePatch template to json {json:?}: {e}"
        ))
        .in_field(field)
    })?;
    // The patch cannot change the project.
    if let Some(Value::Object(spec)) = app.get_mut("spec") {
        match project {
            Some(p) => {
                spec.insert("project".into(), p);
            }
            None => {
                spec.remove("project");
            }
        }
    }
    Ok(())
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null => "null",
        Value::Object(_) => "object",
    }
}
