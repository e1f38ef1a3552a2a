//! Run-together groups (`domain::run_group`): the writes of the `run_groups` rows, each a
//! registry write (one transaction with the member checks; the tabs told the groups whole).
//! Nothing is kept in memory: a start reads the rules with its model (`read_for_start`).

use rusqlite::Connection;
use serde_json::Value;

use crate::domain::fields::FieldSet;
use crate::domain::live::ServerEvent;
use crate::domain::run_group::RunGroup;
use crate::domain::{AppError, FieldError, Rule};
use crate::server::db::{models_repo, run_groups_repo, virtuals_repo};
use crate::server::live::Hub;
use crate::server::models::registry::Registry;
use crate::server::now_ms;

/// Most groups Corral keeps (each start reads them all).
pub const MAX_GROUPS: usize = 200;

#[derive(Clone)]
pub struct RunGroups {
    registry: Registry,
}

impl RunGroups {
    /// Gives the groups to the tabs once; from then on each write tells them.
    pub async fn load(registry: Registry, hub: &Hub) -> Result<RunGroups, AppError> {
        let groups = registry.read(told).await?;
        hub.publish(groups);
        Ok(RunGroups { registry })
    }

    pub async fn list(&self) -> Result<Vec<RunGroup>, AppError> {
        self.registry
            .read(|conn| Ok(run_groups_repo::list(conn)?))
            .await
    }

    /// `{"name", "swap", "exclusive", "persistent", "members"}` → the new group. 409 when a
    /// group has the name or a member is in another group already.
    pub async fn create(&self, input: Value) -> Result<RunGroup, AppError> {
        self.save(input, false).await
    }

    /// The same fields → the group of that name with new flags and members.
    pub async fn update(&self, input: Value) -> Result<RunGroup, AppError> {
        self.save(input, true).await
    }

    async fn save(&self, input: Value, replace: bool) -> Result<RunGroup, AppError> {
        let group = RunGroup::parse(&input)?;
        self.write(false, move |conn| {
            if !replace {
                name_free(conn, &group.name)?;
            } else if run_groups_repo::holder(conn, &group.name)?.is_none() {
                return Err(AppError::not_found("group", &group.name));
            }
            let ids = member_ids(conn, &group)?;
            if !run_groups_repo::save(conn, &group, &ids, now_ms(), replace)? {
                return Err(AppError::not_found("group", &group.name));
            }
            // Names as stored: a member named by an alias reads as the model's name.
            let saved = run_groups_repo::list(conn)?
                .into_iter()
                .find(|g| g.name.eq_ignore_ascii_case(&group.name));
            Ok(saved.unwrap_or(group))
        })
        .await
    }

    /// `{"name"}` → gone (its members stay, in no group).
    pub async fn delete(&self, name: String) -> Result<(), AppError> {
        self.write(false, move |conn| {
            if !run_groups_repo::delete(conn, &name)? {
                return Err(AppError::not_found("group", &name));
            }
            Ok(())
        })
        .await
    }

    /// Imported groups (llama-swap's `groups`), after their models: each with the members that
    /// name a model here and are in no group yet (the others named in `not_mapped`). A dry
    /// run's models were rolled back, so it checks the names `imported` instead.
    pub async fn import(
        &self,
        groups: Vec<RunGroup>,
        imported: Vec<String>,
        dry_run: bool,
        not_mapped: &mut Vec<String>,
    ) -> Result<Vec<String>, AppError> {
        let (made, notes) = self
            .write(dry_run, move |conn| {
                let (mut made, mut notes) = (Vec::new(), Vec::new());
                for group in groups {
                    match import_one(conn, group, &imported, dry_run, &mut notes)? {
                        Some(name) => made.push(name),
                        None => continue,
                    }
                }
                Ok((made, notes))
            })
            .await?;
        not_mapped.extend(notes);
        Ok(made)
    }

    /// One registry write that tells the tabs every group after it (unless rehearsed).
    async fn write<T: Send + 'static>(
        &self,
        rehearse: bool,
        work: impl FnOnce(&Connection) -> Result<T, AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        self.registry
            .write_unless(rehearse, move |tx| {
                let value = work(tx)?;
                Ok((value, vec![told(tx)?]))
            })
            .await
    }
}

/// What the tabs are told: every group, whole.
pub fn told(conn: &Connection) -> Result<ServerEvent, AppError> {
    Ok(ServerEvent::RunGroups(run_groups_repo::list(conn)?))
}

fn import_one(
    conn: &Connection,
    mut group: RunGroup,
    imported: &[String],
    dry_run: bool,
    notes: &mut Vec<String>,
) -> Result<Option<String>, AppError> {
    let name = group.name.clone();
    if run_groups_repo::holder(conn, &name)?.is_some() {
        notes.push(format!("groups.{name}: a group has the name; not imported"));
        return Ok(None);
    }
    if run_groups_repo::count(conn)? >= MAX_GROUPS {
        notes.push(format!(
            "groups.{name}: Corral holds {MAX_GROUPS} groups, the most it keeps; not imported"
        ));
        return Ok(None);
    }
    let (mut ids, mut kept) = (Vec::new(), Vec::new());
    for member in std::mem::take(&mut group.members) {
        let known = imported.iter().any(|i| i.eq_ignore_ascii_case(&member));
        let Some(id) = models_repo::resolve_name(conn, &member)? else {
            // A dry run's models were rolled back: those it made count as there.
            if dry_run && known {
                kept.push(member);
            } else {
                notes.push(format!(
                    "groups.{name}: member '{member}' is not a model here; left out"
                ));
            }
            continue;
        };
        if let Some(other) = run_groups_repo::group_of(conn, id)? {
            notes.push(format!(
                "groups.{name}: '{member}' is in group '{other}' already; left out"
            ));
        } else if !ids.contains(&id) {
            ids.push(id);
            kept.push(member);
        }
    }
    group.members = kept;
    if group.members.is_empty() {
        notes.push(format!("groups.{name}: no member left; not imported"));
        return Ok(None);
    }
    if !dry_run {
        run_groups_repo::save(conn, &group, &ids, now_ms(), false)?;
    }
    Ok(Some(name))
}

fn name_free(conn: &Connection, name: &str) -> Result<(), AppError> {
    if run_groups_repo::count(conn)? >= MAX_GROUPS {
        return Err(AppError::Conflict {
            field: "name".into(),
            message: format!("Corral holds {MAX_GROUPS} groups, the most it keeps; delete one"),
        });
    }
    match run_groups_repo::holder(conn, name)? {
        Some(holder) => Err(AppError::Conflict {
            field: "name".into(),
            message: format!("a group named '{holder}' already exists"),
        }),
        None => Ok(()),
    }
}

/// The members' model ids, in order: each must name a registered model (not a virtual one) in
/// no other group (409 naming the group that holds it).
fn member_ids(conn: &Connection, group: &RunGroup) -> Result<Vec<i64>, AppError> {
    let mut ids = Vec::new();
    let mut errors = Vec::new();
    for (i, member) in group.members.iter().enumerate() {
        let field = format!("members[{i}]");
        let Some(id) = models_repo::resolve_name(conn, member)? else {
            let message = if virtuals_repo::holder(conn, member)?.is_some() {
                format!("'{member}' is a virtual model; name the models it uses instead")
            } else {
                format!("no model is called '{member}'")
            };
            errors.push(FieldError::new(field, Rule::OneOf, message));
            continue;
        };
        if ids.contains(&id) {
            let message = format!("'{member}' names a model named before");
            errors.push(FieldError::new(field, Rule::OneOf, message));
            continue;
        }
        if let Some(other) = run_groups_repo::group_of(conn, id)?
            && !other.eq_ignore_ascii_case(&group.name)
        {
            return Err(AppError::Conflict {
                field,
                message: format!(
                    "'{member}' is in group '{other}' already; a model is in one group at most"
                ),
            });
        }
        ids.push(id);
    }
    if errors.is_empty() {
        Ok(ids)
    } else {
        Err(AppError::Invalid { errors })
    }
}
