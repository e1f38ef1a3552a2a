//! SQL for `virtual_models`: one row per virtual model, its targets as a JSON list of names.
//! Names compare without case, as the unique index does.

use rusqlite::{Connection, OptionalExtension, Row};

use crate::domain::virtual_model::{Strategy, VirtualModel};

/// A stored virtual model with its times.
#[derive(Debug, Clone)]
pub struct Stored {
    pub model: VirtualModel,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "name, strategy, targets, spillover, created_at, updated_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Stored> {
    let strategy: String = row.get(1)?;
    let targets: String = row.get(2)?;
    let spillover: Option<i64> = row.get(3)?;
    Ok(Stored {
        model: VirtualModel {
            name: row.get(0)?,
            // Written by this file only: anything else reads as the default rather than failing.
            strategy: serde_json::from_value(serde_json::Value::String(strategy))
                .unwrap_or(Strategy::Warm),
            targets: serde_json::from_str(&targets).unwrap_or_default(),
            spillover: spillover.and_then(|n| u32::try_from(n).ok()),
        },
        created_at: row.get(4)?,
        updated_at: row.get(5)?,
    })
}

/// Every virtual model, by name.
pub fn list(conn: &Connection) -> rusqlite::Result<Vec<Stored>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM virtual_models ORDER BY name"
    ))?
    .query_map([], from_row)?
    .collect()
}

pub fn count(conn: &Connection) -> rusqlite::Result<usize> {
    conn.query_row("SELECT count(*) FROM virtual_models", [], |row| {
        row.get::<_, i64>(0)
    })
    .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// The name of the virtual model called `name` (ignoring case).
pub fn holder(conn: &Connection, name: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT name FROM virtual_models WHERE name = ?1")?
        .query_row([name], |row| row.get(0))
        .optional()
}

pub fn insert(conn: &Connection, model: &VirtualModel, now: i64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO virtual_models (name, strategy, targets, spillover, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
    )?
    .execute(row(model, now))?;
    Ok(())
}

/// Replaces the strategy, targets and spillover of the one called `model.name`; false when
/// there is none.
pub fn update(conn: &Connection, model: &VirtualModel, now: i64) -> rusqlite::Result<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE virtual_models SET strategy = ?2, targets = ?3, spillover = ?4, \
             updated_at = ?5 WHERE name = ?1",
        )?
        .execute(row(model, now))?;
    Ok(changed > 0)
}

pub fn delete(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    let changed = conn
        .prepare_cached("DELETE FROM virtual_models WHERE name = ?1")?
        .execute([name])?;
    Ok(changed > 0)
}

/// The statements' parameters: name, strategy, targets as JSON, spillover, time.
fn row(model: &VirtualModel, now: i64) -> (&str, &'static str, String, Option<u32>, i64) {
    let targets = serde_json::Value::from(model.targets.clone()).to_string();
    (
        &model.name,
        model.strategy.as_str(),
        targets,
        model.spillover,
        now,
    )
}
