//! Corral's own export read back: the versioned document of `POST /api/export`.

use serde_json::Value;

use crate::domain::config::ConfigGroupKind;
use crate::domain::export::{self, ExportedModel};
use crate::domain::fields::FieldSet;
use crate::domain::run_group::RunGroup;
use crate::domain::virtual_model::VirtualModel;
use crate::domain::{AppError, FieldError, ModelSpec, Rule};
use crate::server::import::{MAX_MODELS, within};

/// Reads the document: every model, virtual model and group checked as if typed in a form,
/// errors named by where.
pub fn read(text: &str) -> Result<super::Read, AppError> {
    let document: Value = serde_json::from_str(text)
        .map_err(|e| AppError::invalid("text", Rule::Type, format!("is not JSON: {e}")))?;
    if document["format"] != export::FORMAT {
        return Err(AppError::invalid(
            "text.format",
            Rule::OneOf,
            "must be \"corral\" (a file from POST /api/export)",
        ));
    }
    match document["version"].as_u64() {
        Some(v) if v >= 1 && v <= u64::from(export::VERSION) => {}
        _ => {
            return Err(AppError::invalid(
                "text.version",
                Rule::Range,
                format!("must be 1 to {}", export::VERSION),
            ));
        }
    }
    let Some(models) = document["models"].as_array() else {
        return Err(AppError::invalid(
            "text.models",
            Rule::Type,
            "must be a list",
        ));
    };
    if models.len() > MAX_MODELS {
        return Err(AppError::invalid(
            "text.models",
            Rule::MaxItems,
            format!("must have at most {MAX_MODELS} entries"),
        ));
    }
    let mut parsed = Vec::with_capacity(models.len());
    let mut errors = Vec::new();
    for (i, model) in models.iter().enumerate() {
        let at = format!("models[{i}]");
        let Some(object) = model.as_object() else {
            errors.push(FieldError::new(at, Rule::Type, "must be an object"));
            continue;
        };
        let mut fields = object.clone();
        let groups = fields.remove("groups").unwrap_or(Value::Array(Vec::new()));
        let spec = ModelSpec::parse_new(&Value::Object(fields));
        let kept_groups = read_groups(&at, &groups, &mut errors);
        match spec {
            Ok(spec) => parsed.push(ExportedModel {
                spec,
                groups: kept_groups,
            }),
            Err(error) => errors.extend(within(&at, error)),
        }
    }
    let virtuals = read_list::<VirtualModel>(&document, "virtual_models", &mut errors);
    let run_groups = read_list::<RunGroup>(&document, "run_groups", &mut errors);
    if errors.is_empty() {
        Ok(super::Read {
            models: parsed,
            virtuals,
            run_groups,
            not_mapped: Vec::new(),
        })
    } else {
        Err(AppError::Invalid { errors })
    }
}

/// The entries of the list `key` (absent in an export older than it: none), each checked as
/// its API would check it.
fn read_list<T: FieldSet>(document: &Value, key: &str, errors: &mut Vec<FieldError>) -> Vec<T> {
    let items = match &document[key] {
        Value::Null => return Vec::new(),
        Value::Array(items) if items.len() <= MAX_MODELS => items,
        Value::Array(_) => {
            let message = format!("must have at most {MAX_MODELS} entries");
            errors.push(FieldError::new(
                format!("text.{key}"),
                Rule::MaxItems,
                message,
            ));
            return Vec::new();
        }
        _ => {
            errors.push(FieldError::new(
                format!("text.{key}"),
                Rule::Type,
                "must be a list",
            ));
            return Vec::new();
        }
    };
    let mut kept = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match T::parse(item) {
            Ok(value) => kept.push(value),
            Err(error) => errors.extend(within(&format!("{key}[{i}]"), error)),
        }
    }
    kept
}

/// The `{group, config}` entries of the model at `at`, each checked as its form would; what is
/// wrong goes to `errors`, named by where it is.
fn read_groups(
    at: &str,
    groups: &Value,
    errors: &mut Vec<FieldError>,
) -> Vec<crate::domain::config::ConfigGroup> {
    let mut kept = Vec::new();
    let Some(items) = groups.as_array() else {
        errors.push(FieldError::new(
            format!("{at}.groups"),
            Rule::Type,
            "must be a list of {group, config}",
        ));
        return kept;
    };
    for (j, item) in items.iter().enumerate() {
        let field = format!("{at}.groups[{j}]");
        let Some(kind) = item["group"].as_str().and_then(ConfigGroupKind::parse) else {
            errors.push(FieldError::new(
                format!("{field}.group"),
                Rule::OneOf,
                format!("must be one of {}", ConfigGroupKind::NAMES.join(", ")),
            ));
            continue;
        };
        match kind.parse_config(&item["config"]) {
            Ok(group) => kept.push(group),
            Err(error) => errors.extend(within(&format!("{field}.config"), error)),
        }
    }
    kept
}
