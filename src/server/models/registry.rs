//! The model registry: the models and their settings (create, edit, duplicate, delete
//! requests), as plain async methods over the database. Server functions are one-line wrappers
//! over these; tests call them directly. Statuses are not the registry's: the supervisor's run
//! ledger owns them. Every write goes through `Registry::write`: one transaction with every
//! check before it (a failed call writes nothing), the events published after the commit, in
//! commit order, and the name cache forgotten.

use rusqlite::{Connection, Transaction};
use serde_json::{Map, Value};

use crate::domain::audit::{ConfigChange, ModelDetail};
use crate::domain::config::request_shape;
use crate::domain::config::serving::fold;
use crate::domain::config::{ConfigGroup, ConfigGroupKind, ServingConfig};
use crate::domain::fields::{FieldSet, changed_fields, merge_patch};
use crate::domain::live::ServerEvent;
use crate::domain::model::{FIRST_ROWS, FirstRows};
use crate::domain::page::Page;
use crate::domain::run_group::GroupRules;
use crate::domain::{AppError, Model, ModelFilter, ModelSpec, Rule};
use crate::server::db::runs_store::RunHistory;
use crate::server::db::{
    Db, config_repo, models_repo, run_groups_repo, virtuals_repo, write_transaction,
};
use crate::server::live::Hub;
use crate::server::models::model_roots::ModelRoots;
use crate::server::models::name_cache::{NameCache, Served};
use crate::server::models::run_groups;
use crate::server::now_ms;

/// Most ids one bulk call takes.
pub const MAX_BULK_IDS: usize = 1000;
/// Audit entries the model page shows at first.
const HISTORY_SHOWN: u32 = 50;

/// The registry: the database, and the hub that hears of every change.
#[derive(Clone)]
pub struct Registry {
    db: Db,
    hub: Hub,
    /// Which model answers to a name, forgotten at every write.
    names: NameCache,
    /// Where the files settings name must be.
    roots: ModelRoots,
}

impl Registry {
    pub fn new(db: Db, hub: Hub) -> Registry {
        Registry {
            db,
            hub,
            names: NameCache::default(),
            roots: ModelRoots::default(),
        }
    }

    /// The registry with settings' files kept inside `roots`.
    pub fn with_roots(self, roots: ModelRoots) -> Registry {
        Registry { roots, ..self }
    }

    /// The folders files must be in (the supervisor checks them again before a start).
    /// How much history the database keeps.
    pub fn retention(&self) -> crate::server::db::Retention {
        self.db.retention()
    }

    pub fn roots(&self) -> &ModelRoots {
        &self.roots
    }

    pub async fn list_models(&self, filter: ModelFilter) -> Result<Vec<Model>, AppError> {
        let models = self.db.call(|conn| Ok(models_repo::list(conn)?)).await?;
        Ok(models.into_iter().filter(|m| filter.matches(m)).collect())
    }

    /// The models table's first page as it first shows (by name), and the number of models.
    pub async fn first_rows(&self) -> Result<FirstRows, AppError> {
        let (models, total) = self
            .db
            .call(|conn| Ok(models_repo::first_by_name(conn, FIRST_ROWS)?))
            .await?;
        Ok(FirstRows { models, total })
    }

    pub async fn get_model(&self, id: i64) -> Result<Model, AppError> {
        self.db.call(move |conn| existing(conn, id)).await
    }

    pub async fn get_model_by_name(&self, name: String) -> Result<Model, AppError> {
        self.db
            .call(move |conn| {
                models_repo::get_by_name(conn, &name)?
                    .ok_or_else(|| AppError::not_found("model", &name))
            })
            .await
    }

    /// The model a client names in a request (by its name or an alias, ignoring ASCII case),
    /// with how it is served; `None` when no model answers to the name.
    pub async fn resolve(&self, name: String) -> Result<Option<Served>, AppError> {
        let generation = match self.names.get(&name) {
            Ok(served) => return Ok(Some(served)),
            Err(generation) => generation,
        };
        let asked = name.clone();
        let found = self
            .db
            .call(move |conn| {
                if let Some(id) = models_repo::resolve_name(conn, &asked)? {
                    return Ok(Some(served(conn, id, None)?));
                }
                // `name:suffix`, where the model has that variant: the same run, shaped.
                let Some((base, suffix)) = request_shape::split_variant(&asked) else {
                    return Ok(None);
                };
                let Some(id) = models_repo::resolve_name(conn, base)? else {
                    return Ok(None);
                };
                let served = served(conn, id, None)?;
                let variant = served.serving.variant(suffix).map(|(v, _)| v.to_string());
                Ok(variant.map(|v| Served {
                    variant: Some(v),
                    ..served
                }))
            })
            .await?;
        if let Some(served) = &found {
            self.names.keep(&name, generation, served);
        }
        Ok(found)
    }

    /// Every model with every settings group (defaults where nothing was saved), in one read.
    pub async fn listing(&self) -> Result<Vec<(Model, Vec<ConfigGroup>)>, AppError> {
        self.db
            .call(move |conn| {
                models_repo::list(conn)?
                    .into_iter()
                    .map(|model| {
                        let groups = groups_of(conn, model.id)?;
                        Ok((model, groups))
                    })
                    .collect()
            })
            .await
    }

    /// Every write of models or their settings goes through here: one transaction, its events
    /// published in commit order, then the name cache forgotten (names, aliases, files and
    /// serving settings may have changed). None of the three can be missed.
    pub async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> Result<(T, Vec<ServerEvent>), AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        self.write_unless(false, work).await
    }

    /// `write`, or when `rehearse` is set the same work rolled back: nothing is kept or told.
    pub async fn write_unless<T: Send + 'static>(
        &self,
        rehearse: bool,
        work: impl FnOnce(&Transaction<'_>) -> Result<(T, Vec<ServerEvent>), AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let hub = self.hub.clone();
        let written = (self.db)
            .call(move |conn| in_transaction(conn, &hub, rehearse, work))
            .await;
        self.names.forget();
        written
    }

    /// A consistent read of everything `work` asks (for exports and the like).
    pub async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        self.db.call(move |conn| work(conn)).await
    }

    pub async fn create_model(&self, input: Value) -> Result<Model, AppError> {
        let spec = ModelSpec::parse_new(&input)?;
        // Before anything looks at the file.
        self.roots
            .check(vec![("path".into(), spec.path.clone())])
            .await?;
        let size = file_size(&spec.path).await;
        self.write(move |tx| {
            ensure_name_free(tx, &spec.name, None)?;
            let now = now_ms();
            let id = models_repo::insert(tx, &spec, size, now)?;
            config_repo::insert_defaults(tx, id, now)?;
            let model = existing(tx, id)?;
            Ok((model.clone(), vec![ServerEvent::ModelCreated(model)]))
        })
        .await
    }

    /// Applies a JSON merge patch to the model's settings (keys replace, `null` clears).
    pub async fn update_model(
        &self,
        id: i64,
        changes: Map<String, Value>,
    ) -> Result<Model, AppError> {
        // Stat a new file before entering the database; an unchanged path keeps its recorded size.
        let new_size = match changes.get("path").and_then(Value::as_str) {
            Some(path) => {
                // A relative path is refused by the parse below, with its own rule.
                if path.starts_with('/') {
                    self.roots
                        .check(vec![("path".into(), path.to_string())])
                        .await?;
                }
                Some(file_size(path).await)
            }
            None => None,
        };
        let keep = self.db.retention().changes_per_model;
        self.write(move |tx| {
            let current = existing(tx, id)?;
            let before = current.spec.to_object();
            let mut merged = before.clone();
            merge_patch(&mut merged, &changes);
            let spec = ModelSpec::parse(&Value::Object(merged))?;
            ensure_name_free(tx, &spec.name, Some(id))?;
            let diff = changed_fields(&before, &spec.to_object());
            if diff.is_empty() {
                return Ok((current, vec![]));
            }
            let now = now_ms();
            models_repo::update(tx, id, &spec, new_size.unwrap_or(current.size_bytes), now)?;
            config_repo::record_change(tx, id, "model", &diff, now)?;
            config_repo::prune_history(tx, id, keep)?;
            let model = existing(tx, id)?;
            let mut events = vec![ServerEvent::ModelUpdated(model.clone())];
            if model.spec.name != current.spec.name && run_groups_repo::group_of(tx, id)?.is_some()
            {
                // A member's new name, for the tabs' group lists.
                events.push(run_groups::told(tx)?);
            }
            Ok((model, events))
        })
        .await
    }

    /// Deletes all the given models or, if any is missing or running, none of them. Only the
    /// supervisor calls this, under the models' own locks (`Supervisor::delete_models`).
    pub async fn bulk_delete(&self, ids: Vec<i64>) -> Result<Vec<i64>, AppError> {
        let ids = distinct_ids(ids)?;
        let deleted = self
            .write(move |tx| {
                for id in &ids {
                    let model = existing(tx, *id)?;
                    if model.status.is_active() {
                        return Err(AppError::Conflict {
                            field: "status".into(),
                            message: format!(
                                "model '{}' is {}; stop it before deleting it",
                                model.spec.name, model.status
                            ),
                        });
                    }
                }
                let mut members = false;
                for id in &ids {
                    members |= run_groups_repo::group_of(tx, *id)?.is_some();
                    models_repo::delete(tx, *id)?;
                }
                let mut events: Vec<ServerEvent> = ids
                    .iter()
                    .map(|id| ServerEvent::ModelDeleted { id: *id })
                    .collect();
                if members {
                    // The groups they were in, without them (a group left with none goes).
                    run_groups_repo::delete_empty(tx)?;
                    events.push(run_groups::told(tx)?);
                }
                Ok((ids, events))
            })
            .await;
        let deleted = deleted?;
        for id in &deleted {
            self.hub.forget_log(*id);
        }
        Ok(deleted)
    }

    /// The file at `path` appeared, changed size or went away (`None`): every model naming it
    /// shows so, live.
    pub async fn file_changed(&self, path: String, size: Option<u64>) -> Result<(), AppError> {
        self.write(move |tx| {
            let ids = models_repo::set_file_size(tx, &path, size)?;
            let mut events = Vec::with_capacity(ids.len());
            for id in ids {
                events.push(ServerEvent::ModelUpdated(existing(tx, id)?));
            }
            Ok(((), events))
        })
        .await
    }

    /// Copies a model and all its settings under a new name; the copy starts stopped.
    pub async fn duplicate_model(&self, id: i64, name: String) -> Result<Model, AppError> {
        self.write(move |tx| {
            let source = existing(tx, id)?;
            let mut object = source.spec.to_object();
            object.insert("name".into(), Value::String(name));
            let spec = ModelSpec::parse(&Value::Object(object))?;
            ensure_name_free(tx, &spec.name, None)?;
            let now = now_ms();
            let copy = models_repo::insert(tx, &spec, source.size_bytes, now)?;
            config_repo::copy_all(tx, id, copy, now)?;
            // Aliases name one model: the copy answers to its own name only.
            config_repo::clear_aliases(tx, copy)?;
            let model = existing(tx, copy)?;
            Ok((model.clone(), vec![ServerEvent::ModelCreated(model)]))
        })
        .await
    }

    pub async fn load_config(
        &self,
        id: i64,
        group: ConfigGroupKind,
    ) -> Result<ConfigGroup, AppError> {
        self.db
            .call(move |conn| {
                existing(conn, id)?;
                Ok(config_repo::load(conn, id, group)?.unwrap_or_else(|| group.default_config()))
            })
            .await
    }

    pub async fn save_config(
        &self,
        id: i64,
        group: ConfigGroupKind,
        config: Value,
    ) -> Result<ConfigGroup, AppError> {
        let parsed = group.parse_config(&config)?;
        self.roots.check(parsed.named_files()).await?;
        let keep = self.db.retention().changes_per_model;
        self.write(move |tx| {
            let model = existing(tx, id)?;
            if let ConfigGroup::Serving(serving) = &parsed {
                ensure_aliases_free(tx, &model, &serving.aliases)?;
            }
            let before =
                config_repo::load(tx, id, group)?.unwrap_or_else(|| group.default_config());
            let diff = changed_fields(&before.to_object(), &parsed.to_object());
            if diff.is_empty() {
                return Ok((parsed, vec![]));
            }
            let now = now_ms();
            config_repo::save(tx, id, &parsed, now)?;
            config_repo::record_change(tx, id, group.as_str(), &diff, now)?;
            config_repo::prune_history(tx, id, keep)?;
            // The model's row is as it was; the event tells who follows its settings
            // (a running model may now wait for a restart to apply them).
            Ok((parsed, vec![ServerEvent::ModelUpdated(model)]))
        })
        .await
    }

    /// The model, its settings groups and its history, read together in one go.
    pub async fn model_detail(&self, id: i64) -> Result<ModelDetail, AppError> {
        self.db
            .call(move |conn| {
                let model = existing(conn, id)?;
                let groups = groups_of(conn, id)?;
                let history = config_repo::history(conn, id, i64::from(HISTORY_SHOWN), None)?;
                Ok(ModelDetail {
                    model,
                    groups,
                    history,
                })
            })
            .await
    }

    /// Everything a start reads from the database, in one call: the model, its settings
    /// groups, what its earlier runs say (`peaks` of them with a measured peak) and the
    /// run-together groups' rules.
    pub async fn read_for_start(&self, id: i64, peaks: i64) -> Result<ForStart, AppError> {
        self.db
            .call(move |conn| {
                Ok(ForStart {
                    model: existing(conn, id)?,
                    config: groups_of(conn, id)?,
                    history: RunHistory::read(conn, id, peaks)?,
                    run_groups: run_groups_repo::rules(conn)?,
                })
            })
            .await
    }

    /// A page of the model's settings changes, newest first.
    pub async fn config_history(&self, id: i64, page: Page) -> Result<Vec<ConfigChange>, AppError> {
        let limit = page.limit()?;
        self.db
            .call(move |conn| {
                existing(conn, id)?;
                Ok(config_repo::history(conn, id, limit, page.before)?)
            })
            .await
    }
}

/// Runs `work` in a write transaction and publishes its events in commit order; a rehearsal is
/// rolled back and tells nothing.
fn in_transaction<T>(
    conn: &mut Connection,
    hub: &Hub,
    rehearse: bool,
    work: impl FnOnce(&Transaction<'_>) -> Result<(T, Vec<ServerEvent>), AppError>,
) -> Result<T, AppError> {
    hub.committed(|| {
        let tx = write_transaction(conn)?;
        let (value, events) = work(&tx)?;
        if rehearse {
            // Dropped, not committed: nothing is written.
            return Ok((value, Vec::new()));
        }
        tx.commit()?;
        Ok((value, events))
    })
}

pub(crate) fn existing(conn: &Connection, id: i64) -> Result<Model, AppError> {
    models_repo::get(conn, id)?.ok_or_else(|| AppError::not_found("model", id))
}

/// What the gateway keeps of model `id`, asked for with `variant`.
fn served(conn: &Connection, id: i64, variant: Option<String>) -> Result<Served, AppError> {
    let model = existing(conn, id)?;
    Ok(Served {
        id,
        name: model.spec.name,
        size_bytes: model.size_bytes,
        serving: serving_of(conn, id)?,
        variant,
    })
}

fn serving_of(conn: &Connection, id: i64) -> Result<ServingConfig, AppError> {
    Ok(
        match config_repo::load(conn, id, ConfigGroupKind::Serving)? {
            Some(ConfigGroup::Serving(serving)) => serving,
            _ => ServingConfig::default(),
        },
    )
}

fn ensure_name_free(conn: &Connection, name: &str, except: Option<i64>) -> Result<(), AppError> {
    virtual_name_free(conn, "name", name)?;
    let Some(holder) = models_repo::name_holder(conn, name, except)? else {
        return Ok(());
    };
    let holder = existing(conn, holder)?;
    let message = if fold(&holder.spec.name) == fold(name) {
        format!("a model named '{name}' already exists")
    } else {
        format!("'{name}' is an alias of model '{}'", holder.spec.name)
    };
    Err(AppError::Conflict {
        field: "name".into(),
        message,
    })
}

/// Names and aliases share one namespace with the virtual models: `name` must not be one.
pub(crate) fn virtual_name_free(
    conn: &Connection,
    field: &str,
    name: &str,
) -> Result<(), AppError> {
    match virtuals_repo::holder(conn, name)? {
        Some(holder) => Err(AppError::Conflict {
            field: field.into(),
            message: format!("'{holder}' is a virtual model"),
        }),
        None => Ok(()),
    }
}

/// Every alias must be free: not another model's name or alias, nor this model's own name.
pub(crate) fn ensure_aliases_free(
    conn: &Connection,
    model: &Model,
    aliases: &[String],
) -> Result<(), AppError> {
    for (i, alias) in aliases.iter().enumerate() {
        virtual_name_free(conn, &format!("aliases[{i}]"), alias)?;
        let clash = if fold(alias) == fold(&model.spec.name) {
            Some("it is this model's name".to_string())
        } else {
            match models_repo::name_holder(conn, alias, Some(model.id))? {
                Some(holder) => Some(format!(
                    "model '{}' already answers to '{alias}'",
                    existing(conn, holder)?.spec.name
                )),
                None => None,
            }
        };
        if let Some(message) = clash {
            return Err(AppError::Conflict {
                field: format!("aliases[{i}]"),
                message,
            });
        }
    }
    Ok(())
}

/// Every settings group of the model, defaults where nothing was saved.
pub(crate) fn groups_of(conn: &Connection, id: i64) -> Result<Vec<ConfigGroup>, AppError> {
    ConfigGroupKind::ALL
        .iter()
        .map(|group| {
            Ok(config_repo::load(conn, id, *group)?.unwrap_or_else(|| group.default_config()))
        })
        .collect()
}

pub fn distinct_ids(mut ids: Vec<i64>) -> Result<Vec<i64>, AppError> {
    if ids.is_empty() {
        return Err(AppError::invalid(
            "ids",
            Rule::Required,
            "must list at least one model",
        ));
    }
    if ids.len() > MAX_BULK_IDS {
        return Err(AppError::invalid(
            "ids",
            Rule::MaxItems,
            format!("must have at most {MAX_BULK_IDS} entries"),
        ));
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// The size of a regular file, or `None` when it is missing or not a file: a model may be
/// registered before its download has finished.
pub(crate) async fn file_size(path: &str) -> Option<u64> {
    tokio::fs::metadata(path)
        .await
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len())
}

/// What a start reads in one call (`Registry::read_for_start`).
pub struct ForStart {
    pub model: Model,
    pub config: Vec<ConfigGroup>,
    pub history: RunHistory,
    pub run_groups: GroupRules,
}
