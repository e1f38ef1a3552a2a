//! Reading an import's text into models: Corral's own export, a llama-swap `config.yaml` or a
//! llama.cpp preset INI. Every field is validated as if typed in a form and errors are named by
//! where they are in the text; what has no place in Corral is named in `not_mapped`.

pub mod apply;
mod bounded_yaml;
mod command_line;
mod corral_document;
mod llama_preset;
mod llama_swap;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::domain::config::ConfigGroupKind;
use crate::domain::export::ExportedModel;
use crate::domain::fields::FieldSet;
use crate::domain::import::{ImportFormat, ImportReport, OnConflict};
use crate::domain::run_group::RunGroup;
use crate::domain::virtual_model::VirtualModel;
use crate::domain::{AppError, FieldError, ModelSpec, Rule};
use crate::server::models::registry::Registry;
use crate::server::models::run_groups::RunGroups;
use crate::server::models::virtual_models::VirtualModels;

use command_line::ReadSettings;

/// Largest import text, and most models in one.
pub const MAX_TEXT_BYTES: usize = 8 << 20;
pub const MAX_MODELS: usize = 1000;
/// Imports read at once; others wait their turn for `IMPORT_WAIT`, then are told to try again.
static IMPORTS_AT_ONCE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
const IMPORT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Lines of `not_mapped` an answer holds (each cut to 512 bytes); the rest are counted.
pub const MAX_NOT_MAPPED: usize = 200;

/// The owners an import writes to.
pub struct Owners<'a> {
    pub registry: &'a Registry,
    pub virtuals: &'a VirtualModels,
    pub run_groups: &'a RunGroups,
}

/// Reads the text and imports what it holds (`on_conflict` defaults to skip).
pub async fn import(
    into: Owners<'_>,
    format: ImportFormat,
    text: &str,
    dry_run: bool,
    on_conflict: Option<OnConflict>,
    env: BTreeMap<String, String>,
) -> Result<ImportReport, AppError> {
    check_env(&env)?;
    // Parsing is CPU work and memory on text from outside: off the async threads, so a hostile
    // document slows its own request, never every other one, and a few at a time.
    let turn = tokio::time::timeout(IMPORT_WAIT, IMPORTS_AT_ONCE.acquire()).await;
    let Ok(Ok(_turn)) = turn else {
        return Err(AppError::TooManyRequests {
            message: "other imports are being read; try again in a moment".into(),
            retry_after_seconds: 5,
        });
    };
    let owned = text.to_string();
    let read = tokio::task::spawn_blocking(move || parse(format, &owned, &env))
        .await
        .map_err(AppError::internal)??;
    let on_conflict = on_conflict.unwrap_or(OnConflict::Skip);
    let models = read.models;
    let mut report = apply::import_models(into.registry, models, on_conflict, dry_run).await?;
    report.not_mapped = read.not_mapped;
    let imported: Vec<String> = report
        .created
        .iter()
        .chain(&report.changed)
        .cloned()
        .collect();
    let notes = &mut report.not_mapped;
    if !read.virtuals.is_empty() {
        report.virtual_models = (into.virtuals)
            .import(read.virtuals, imported.clone(), dry_run, notes)
            .await?;
    }
    if !read.run_groups.is_empty() {
        report.run_groups = (into.run_groups)
            .import(read.run_groups, imported, dry_run, notes)
            .await?;
    }
    Ok(report)
}

/// Most `env` entries one import gives, and the longest name and value.
const MAX_ENV: usize = 256;
const MAX_ENV_NAME: usize = 128;
const MAX_ENV_VALUE: usize = 4096;

fn check_env(env: &BTreeMap<String, String>) -> Result<(), AppError> {
    if env.len() > MAX_ENV {
        return Err(AppError::invalid(
            "env",
            Rule::MaxItems,
            format!("must have at most {MAX_ENV} entries"),
        ));
    }
    let bad = env.iter().find(|(name, value)| {
        name.is_empty()
            || name.len() > MAX_ENV_NAME
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            || value.len() > MAX_ENV_VALUE
    });
    match bad {
        Some((name, _)) => Err(AppError::invalid(
            format!("env.{}", crate::domain::text::kept(name)),
            Rule::Pattern,
            format!(
                "a name is letters, digits and '_' (at most {MAX_ENV_NAME}); a value at most \
                 {MAX_ENV_VALUE} bytes"
            ),
        )),
        None => Ok(()),
    }
}

pub fn parse(
    format: ImportFormat,
    text: &str,
    env: &BTreeMap<String, String>,
) -> Result<Read, AppError> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(AppError::invalid(
            "text",
            Rule::MaxLength,
            format!("must be at most {} MiB", MAX_TEXT_BYTES >> 20),
        ));
    }
    let only_models = |(models, not_mapped)| Read {
        models,
        virtuals: Vec::new(),
        run_groups: Vec::new(),
        not_mapped,
    };
    let mut read = match format {
        ImportFormat::Corral => corral_document::read(text),
        ImportFormat::LlamaSwap => llama_swap::read(text, env),
        ImportFormat::LlamaPreset => llama_preset::read(text).map(only_models),
    }?;
    read.not_mapped = bounded(read.not_mapped);
    Ok(read)
}

/// What an import's text holds for Corral: models, virtual models, and what has no place.
pub struct Read {
    pub models: Vec<ExportedModel>,
    pub virtuals: Vec<VirtualModel>,
    pub run_groups: Vec<RunGroup>,
    pub not_mapped: Vec<String>,
}

/// One model read from another tool's configuration: its name, where it is in the text, and
/// its settings.
struct ModelDraft {
    name: String,
    at: String,
    read: ReadSettings,
}

/// Drafts → models with all seven groups (a group the text does not touch is at its defaults, so
/// `replace` leaves nothing of the old settings behind). A model with no file of its own (one
/// llama-server would download) is named and left out.
fn assemble(
    drafts: Vec<ModelDraft>,
    mut not_mapped: Vec<String>,
) -> Result<(Vec<ExportedModel>, Vec<String>), AppError> {
    let mut models = Vec::with_capacity(drafts.len());
    let mut errors = Vec::new();
    for ModelDraft { name, at, mut read } in drafts {
        // Only as many lines as an answer names are kept (`bounded` counts the rest).
        if not_mapped.len() <= MAX_NOT_MAPPED * 2 {
            not_mapped.append(&mut read.not_mapped);
        } else {
            not_mapped.push(format!("{at}: more not mapped"));
        }
        let mut spec = read.scopes.remove(ModelSpec::WHOLE).unwrap_or_default();
        if !spec.contains_key("path") {
            not_mapped.push(format!("{at}: names no model file (--model); not imported"));
            continue;
        }
        // Relative to wherever the other tool ran: which file it means cannot be known here.
        if let Some(path) = spec.get("path").and_then(Value::as_str)
            && !path.starts_with('/')
        {
            not_mapped.push(format!(
                "{at}: its model file '{path}' is a relative path; not imported (give the \
                 whole path)"
            ));
            continue;
        }
        spec.insert("name".into(), Value::String(name));
        if !read.extra_args.is_empty() {
            let extra = read.extra_args.into_iter().map(Value::String).collect();
            read.scopes
                .entry(ConfigGroupKind::Advanced.as_str())
                .or_default()
                .insert("extra_args".into(), Value::Array(extra));
        }
        let mut groups = Vec::with_capacity(ConfigGroupKind::ALL.len());
        for kind in ConfigGroupKind::ALL {
            let object = read.scopes.remove(kind.as_str()).unwrap_or_else(Map::new);
            match kind.parse_config(&Value::Object(object)) {
                Ok(group) => groups.push(group),
                Err(error) => errors.extend(within(&format!("{at}.{kind}"), error)),
            }
        }
        match ModelSpec::parse_new(&Value::Object(spec)) {
            Ok(spec) => models.push(ExportedModel { spec, groups }),
            Err(error) => errors.extend(within(&at, error)),
        }
    }
    if errors.is_empty() {
        Ok((models, not_mapped))
    } else {
        Err(AppError::Invalid { errors })
    }
}

/// `not_mapped` as an answer carries it: each line once, at most `MAX_NOT_MAPPED` of them, each
/// cut to 512 bytes, and a last line counting what was left out.
fn bounded(not_mapped: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut kept = Vec::new();
    let mut left_out = 0usize;
    for line in not_mapped {
        if !seen.insert(line.clone()) {
            continue;
        }
        if kept.len() < MAX_NOT_MAPPED {
            kept.push(crate::domain::text::kept(&line));
        } else {
            left_out += 1;
        }
    }
    if left_out > 0 {
        kept.push(format!("… and at least {left_out} more lines like these"));
    }
    kept
}

/// The error's fields, named from the document's root.
pub fn within(prefix: &str, error: AppError) -> Vec<FieldError> {
    match error {
        AppError::Invalid { errors } => errors
            .into_iter()
            .map(|e| FieldError::new(format!("{prefix}.{}", e.field), e.rule, e.message))
            .collect(),
        other => vec![FieldError::new(prefix, Rule::Conflict, other.to_string())],
    }
}
