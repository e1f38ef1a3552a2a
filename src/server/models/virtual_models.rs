//! Virtual models: names a client asks for that a strategy maps to one of several registered
//! models (`domain::virtual_model`). The owner of the `virtual_models` rows: every write is a
//! registry write (one transaction with the namespace checks, the tabs told, the name cache
//! forgotten), and the rows are also kept in memory, since the gateway looks a name up on every
//! request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rusqlite::Connection;
use serde_json::Value;

use crate::domain::config::serving::fold;
use crate::domain::fields::FieldSet;
use crate::domain::live::ServerEvent;
use crate::domain::virtual_model::VirtualModel;
use crate::domain::{AppError, FieldError, Rule};
use crate::server::db::models_repo;
use crate::server::db::virtuals_repo::{self, Stored};
use crate::server::live::Hub;
use crate::server::models::registry::{Registry, existing};
use crate::server::now_ms;

#[derive(Clone)]
pub struct VirtualModels {
    registry: Registry,
    /// Every row, in name order: replaced whole after each write, under `writes`.
    kept: Arc<RwLock<Arc<Kept>>>,
    /// Writes one at a time, so the copy kept is always the last one committed.
    writes: Arc<tokio::sync::Mutex<()>>,
}

impl VirtualModels {
    fn kept(&self) -> Arc<Kept> {
        self.kept.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reads the rows once (and gives them to the tabs); from then on this owner keeps them.
    pub async fn load(registry: Registry, hub: &Hub) -> Result<VirtualModels, AppError> {
        let rows = registry.read(|conn| Ok(virtuals_repo::list(conn)?)).await?;
        hub.publish(told(&rows));
        Ok(VirtualModels {
            registry,
            kept: Arc::new(RwLock::new(Arc::new(Kept::of(rows)))),
            writes: Arc::default(),
        })
    }

    /// Every virtual model, by name.
    pub fn all(&self) -> Arc<Vec<Stored>> {
        self.kept().rows.clone()
    }

    /// The virtual model called `name` (ignoring ASCII case), if any.
    pub fn named(&self, name: &str) -> Option<VirtualModel> {
        let kept = self.kept();
        let at = *kept.by_name.get(&name.to_ascii_lowercase())?;
        kept.rows.get(at).map(|s| s.model.clone())
    }

    /// `{"name", "strategy", "targets", "spillover"}` → the new virtual model. 409 when a model
    /// or another virtual model has the name; every target must name a registered model.
    pub async fn create(&self, input: Value) -> Result<VirtualModel, AppError> {
        let model = VirtualModel::parse(&input)?;
        self.write(move |conn, now| {
            room_for_one_more(conn)?;
            name_free(conn, &model.name)?;
            targets_exist(conn, &model)?;
            virtuals_repo::insert(conn, &model, now)?;
            Ok(model)
        })
        .await
    }

    /// The same fields → the virtual model of that name with the new strategy, targets and
    /// spillover.
    pub async fn update(&self, input: Value) -> Result<VirtualModel, AppError> {
        let model = VirtualModel::parse(&input)?;
        self.write(move |conn, now| {
            targets_exist(conn, &model)?;
            if !virtuals_repo::update(conn, &model, now)? {
                return Err(not_found(&model.name));
            }
            Ok(model)
        })
        .await
    }

    /// `{"name"}` → gone.
    pub async fn delete(&self, name: String) -> Result<(), AppError> {
        self.write(move |conn, _| {
            if !virtuals_repo::delete(conn, &name)? {
                return Err(not_found(&name));
            }
            Ok(())
        })
        .await
    }

    /// Imported virtual models (llama-swap's selectors), after their models (`imported`: the
    /// names the same import made or changed): each with the targets that name a model here (one with none left, or whose name is taken, is named in
    /// `not_mapped` and left out). Answers the names made (or, for a dry run, that would be).
    pub async fn import(
        &self,
        models: Vec<VirtualModel>,
        imported: Vec<String>,
        dry_run: bool,
        not_mapped: &mut Vec<String>,
    ) -> Result<Vec<String>, AppError> {
        // A dry run's models were rolled back: they count as there.
        let imported = move |name: &str| imported.iter().any(|i| i.eq_ignore_ascii_case(name));
        let (made, notes) = self
            .write_unless(dry_run, move |conn, now| {
                let (mut made, mut notes) = (Vec::new(), Vec::new());
                for mut model in models {
                    let mut kept = Vec::new();
                    for target in model.targets.drain(..) {
                        if imported(&target) || models_repo::resolve_name(conn, &target)?.is_some()
                        {
                            kept.push(target);
                        } else {
                            notes.push(format!(
                                "selectors.{}: target '{target}' is not a model here; left out",
                                model.name
                            ));
                        }
                    }
                    model.targets = kept;
                    if virtuals_repo::count(conn)? >= MAX_VIRTUAL_MODELS {
                        notes.push(format!(
                            "selectors.{}: Corral holds {MAX_VIRTUAL_MODELS} virtual models, the \
                             most it keeps; not imported",
                            model.name
                        ));
                    } else if model.targets.is_empty() {
                        notes.push(format!(
                            "selectors.{}: no target left; not imported",
                            model.name
                        ));
                    } else if name_free(conn, &model.name).is_err() {
                        notes.push(format!(
                            "selectors.{}: the name is taken; not imported",
                            model.name
                        ));
                    } else {
                        virtuals_repo::insert(conn, &model, now)?;
                        made.push(model.name);
                    }
                }
                Ok((made, notes))
            })
            .await?;
        not_mapped.extend(notes);
        Ok(made)
    }

    /// One registry write that also reads every row back, kept once committed.
    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection, i64) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        self.write_unless(false, work).await
    }

    /// `write`, or when `rehearse` is set the same work rolled back (nothing kept or told).
    async fn write_unless<T: Send + 'static>(
        &self,
        rehearse: bool,
        work: impl FnOnce(&Connection, i64) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let _one_at_a_time = self.writes.lock().await;
        let (value, rows) = self
            .registry
            .write_unless(rehearse, move |tx| {
                let value = work(tx, now_ms())?;
                let rows = virtuals_repo::list(tx)?;
                let told = told(&rows);
                Ok(((value, rows), vec![told]))
            })
            .await?;
        if !rehearse {
            *self.kept.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Kept::of(rows));
        }
        Ok(value)
    }
}

/// The rows in name order, and each one's place by its name in ASCII lower case: the gateway
/// asks for every request's name, so a lookup, not a scan of up to 1000 rows.
struct Kept {
    rows: Arc<Vec<Stored>>,
    by_name: HashMap<String, usize>,
}

impl Kept {
    fn of(rows: Vec<Stored>) -> Kept {
        let by_name = rows
            .iter()
            .enumerate()
            .map(|(at, row)| (row.model.name.to_ascii_lowercase(), at))
            .collect();
        Kept {
            rows: Arc::new(rows),
            by_name,
        }
    }
}

/// Most virtual models Corral keeps (each is looked up by name on every gateway request).
pub const MAX_VIRTUAL_MODELS: usize = 1000;

fn room_for_one_more(conn: &Connection) -> Result<(), AppError> {
    if virtuals_repo::count(conn)? >= MAX_VIRTUAL_MODELS {
        return Err(AppError::Conflict {
            field: "name".into(),
            message: format!(
                "Corral holds {MAX_VIRTUAL_MODELS} virtual models, the most it keeps; delete one"
            ),
        });
    }
    Ok(())
}

/// What the tabs are told: every virtual model.
fn told(rows: &[Stored]) -> ServerEvent {
    ServerEvent::VirtualModels(rows.iter().map(|r| r.model.clone()).collect())
}

/// A new virtual model's name must be no model's name or alias, and no other virtual model's.
fn name_free(conn: &Connection, name: &str) -> Result<(), AppError> {
    let message = if let Some(holder) = models_repo::name_holder(conn, name, None)? {
        let holder = existing(conn, holder)?;
        if fold(&holder.spec.name) == fold(name) {
            format!("a model named '{name}' already exists")
        } else {
            format!("'{name}' is an alias of model '{}'", holder.spec.name)
        }
    } else if let Some(holder) = virtuals_repo::holder(conn, name)? {
        format!("a virtual model named '{holder}' already exists")
    } else {
        return Ok(());
    };
    Err(AppError::Conflict {
        field: "name".into(),
        message,
    })
}

/// Every target names a registered model (by name or alias), not a virtual one.
fn targets_exist(conn: &Connection, model: &VirtualModel) -> Result<(), AppError> {
    let mut errors = Vec::new();
    for (i, target) in model.targets.iter().enumerate() {
        if models_repo::resolve_name(conn, target)?.is_some() {
            continue;
        }
        let message = if virtuals_repo::holder(conn, target)?.is_some() {
            format!("'{target}' is a virtual model; name the models it would use instead")
        } else {
            format!("no model is called '{target}'")
        };
        errors.push(FieldError::new(
            format!("targets[{i}]"),
            Rule::OneOf,
            message,
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Invalid { errors })
    }
}

fn not_found(name: &str) -> AppError {
    AppError::not_found("virtual model", name)
}
