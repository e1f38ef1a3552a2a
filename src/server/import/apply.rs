//! Writing an import into the registry, all or nothing (or, for a dry run, the same work rolled
//! back), and reading every model out for an export. The text is read by the other files here;
//! the registry lends its write envelope and its checks.

use rusqlite::Transaction;

use crate::domain::config::ConfigGroup;
use crate::domain::config::serving::fold;
use crate::domain::export::{self, ExportDocument, ExportedModel};
use crate::domain::fields::{FieldSet, changed_fields};
use crate::domain::import::{ImportReport, OnConflict};
use crate::domain::live::ServerEvent;
use crate::domain::model_name::free_name;
use crate::domain::{AppError, ModelSpec};
use crate::server::db::{config_repo, models_repo, virtuals_repo};
use crate::server::models::registry::{
    Registry, ensure_aliases_free, existing, file_size, groups_of,
};
use crate::server::now_ms;

/// Every model with every settings group, read in one go (one consistent view).
pub async fn export(registry: &Registry) -> Result<ExportDocument, AppError> {
    registry
        .read(move |conn| {
            let mut models = Vec::new();
            for model in models_repo::list(conn)? {
                let groups = groups_of(conn, model.id)?;
                models.push(ExportedModel {
                    spec: model.spec,
                    groups,
                });
            }
            let virtual_models = crate::server::db::virtuals_repo::list(conn)?
                .into_iter()
                .map(|stored| stored.model)
                .collect();
            Ok(ExportDocument {
                format: export::FORMAT.to_string(),
                version: export::VERSION,
                exported_at: now_ms(),
                models,
                virtual_models,
                run_groups: crate::server::db::run_groups_repo::list(conn)?,
            })
        })
        .await
}

/// Imports models, all or nothing: a name that is taken is skipped, renamed or replaced as
/// `on_conflict` says; a dry run answers the same report and writes nothing.
pub async fn import_models(
    registry: &Registry,
    models: Vec<ExportedModel>,
    on_conflict: OnConflict,
    dry_run: bool,
) -> Result<ImportReport, AppError> {
    // Files first, before anything looks at them: inside the model folders.
    let mut errors = Vec::new();
    for (i, model) in models.iter().enumerate() {
        let mut files = vec![("path".to_string(), model.spec.path.clone())];
        for group in &model.groups {
            files.extend(group.named_files());
        }
        if let Err(error) = registry.roots().check(files).await {
            errors.extend(super::within(&format!("models[{i}]"), error));
        }
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid { errors });
    }
    let mut sizes = Vec::with_capacity(models.len());
    for model in &models {
        sizes.push(file_size(&model.spec.path).await);
    }
    let keep = registry.retention().changes_per_model;
    registry
        .write_unless(dry_run, move |tx| {
            let mut report = ImportReport {
                dry_run,
                ..ImportReport::default()
            };
            let mut events = Vec::new();
            let now = now_ms();
            for (i, (model, size)) in models.into_iter().zip(sizes).enumerate() {
                let Some((id, created)) =
                    place(tx, i, model.spec, size, on_conflict, now, &mut report)?
                else {
                    continue;
                };
                if created {
                    config_repo::insert_defaults(tx, id, now)?;
                }
                for group in &model.groups {
                    save_group(tx, i, id, group, created, now)?;
                }
                if !created {
                    config_repo::prune_history(tx, id, keep)?;
                }
                let model = existing(tx, id)?;
                if created {
                    report.created.push(model.spec.name.clone());
                    events.push(ServerEvent::ModelCreated(model));
                } else {
                    report.changed.push(model.spec.name.clone());
                    events.push(ServerEvent::ModelUpdated(model));
                }
            }
            Ok((report, events))
        })
        .await
}

/// Whether a model or a virtual model has `name` (or answers to it).
fn name_taken(tx: &Transaction<'_>, name: &str) -> rusqlite::Result<bool> {
    Ok(models_repo::name_holder(tx, name, None)?.is_some()
        || virtuals_repo::holder(tx, name)?.is_some())
}

/// Where the `i`th model goes: a new row (`true`), the row it replaces (`false`), or nowhere
/// (`None`: its name is taken and it is skipped, as the report says).
fn place(
    tx: &Transaction<'_>,
    i: usize,
    mut spec: ModelSpec,
    size: Option<u64>,
    on_conflict: OnConflict,
    now: i64,
    report: &mut ImportReport,
) -> Result<Option<(i64, bool)>, AppError> {
    let holder = models_repo::name_holder(tx, &spec.name, None)?;
    // Names are shared with the virtual models: one of theirs is skipped, renamed or refused.
    let is_virtual = virtuals_repo::holder(tx, &spec.name)?.is_some();
    let placed = match (holder, on_conflict) {
        (None, _) if !is_virtual => (models_repo::insert(tx, &spec, size, now)?, true),
        (_, OnConflict::Skip) => {
            report.skipped.push(spec.name);
            return Ok(None);
        }
        (_, OnConflict::Rename) => {
            let mut failed = None;
            spec.name = free_name(&spec.name, |name| match name_taken(tx, name) {
                Ok(taken) => taken,
                Err(error) => {
                    failed = Some(error);
                    false
                }
            });
            if let Some(error) = failed {
                return Err(AppError::from(error));
            }
            (models_repo::insert(tx, &spec, size, now)?, true)
        }
        (None, OnConflict::Replace) => {
            return Err(AppError::Conflict {
                field: format!("models[{i}].name"),
                message: format!("'{}' is a virtual model", spec.name),
            });
        }
        (Some(holder), OnConflict::Replace) => {
            let current = existing(tx, holder)?;
            if fold(&current.spec.name) != fold(&spec.name) {
                return Err(AppError::Conflict {
                    field: format!("models[{i}].name"),
                    message: format!(
                        "'{}' is an alias of model '{}'",
                        spec.name, current.spec.name
                    ),
                });
            }
            models_repo::update(tx, holder, &spec, size, now)?;
            // A replace is an edit like any other: the trail says what it changed, so the old
            // values can be found again.
            let diff = changed_fields(&current.spec.to_object(), &spec.to_object());
            if !diff.is_empty() {
                config_repo::record_change(tx, holder, "model", &diff, now)?;
            }
            (holder, false)
        }
    };
    Ok(Some(placed))
}

/// Saves one settings group of the `i`th model (its aliases checked free; a replaced model's
/// change recorded in its trail).
fn save_group(
    tx: &Transaction<'_>,
    i: usize,
    id: i64,
    group: &ConfigGroup,
    created: bool,
    now: i64,
) -> Result<(), AppError> {
    if let ConfigGroup::Serving(serving) = group {
        let current = existing(tx, id)?;
        ensure_aliases_free(tx, &current, &serving.aliases).map_err(|error| match error {
            AppError::Conflict { field, message } => AppError::Conflict {
                field: format!("models[{i}].{field}"),
                message,
            },
            other => other,
        })?;
    }
    if !created {
        let kind = group.kind();
        let before = config_repo::load(tx, id, kind)?.unwrap_or_else(|| kind.default_config());
        let diff = changed_fields(&before.to_object(), &group.to_object());
        if !diff.is_empty() {
            config_repo::record_change(tx, id, kind.as_str(), &diff, now)?;
        }
    }
    config_repo::save(tx, id, group, now)?;
    Ok(())
}
