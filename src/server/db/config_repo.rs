//! The seven `config_<group>` tables and the `config_changes` audit trail.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use crate::domain::audit::ConfigChange;
use crate::domain::config::{ConfigGroup, ConfigGroupKind};
use crate::domain::fields::FieldChange;

/// The table of a group; the name comes from a closed enum, never from input.
fn table(kind: ConfigGroupKind) -> String {
    format!("config_{}", kind.as_str())
}

fn json_error(error: serde_json::Error) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(error))
}

/// Every group at its defaults, for a new model.
pub fn insert_defaults(conn: &Connection, model_id: i64, now: i64) -> rusqlite::Result<()> {
    for kind in ConfigGroupKind::ALL {
        save(conn, model_id, &kind.default_config(), now)?;
    }
    Ok(())
}

/// Copies every group from one model to another (duplicate).
pub fn copy_all(conn: &Connection, from: i64, to: i64, now: i64) -> rusqlite::Result<()> {
    for kind in ConfigGroupKind::ALL {
        conn.execute(
            &format!(
                "INSERT INTO {0} (model_id, config, updated_at) SELECT ?2, config, ?3 FROM {0} WHERE model_id = ?1",
                table(*kind)
            ),
            params![from, to, now],
        )?;
    }
    Ok(())
}

/// Empties the model's aliases (a duplicate must not answer to its source's names).
pub fn clear_aliases(conn: &Connection, model_id: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE config_serving SET config = json_set(config, '$.aliases', json('[]')) \
         WHERE model_id = ?1",
        [model_id],
    )?;
    Ok(())
}

/// The group's stored settings; `None` when the model has no row.
pub fn load(
    conn: &Connection,
    model_id: i64,
    kind: ConfigGroupKind,
) -> rusqlite::Result<Option<ConfigGroup>> {
    let stored: Option<String> = conn
        .query_row(
            &format!("SELECT config FROM {} WHERE model_id = ?1", table(kind)),
            [model_id],
            |row| row.get(0),
        )
        .optional()?;
    stored
        .map(|text| {
            let config: Value = serde_json::from_str(&text).map_err(json_error)?;
            serde_json::from_value(json!({"group": kind.as_str(), "config": config}))
                .map_err(json_error)
        })
        .transpose()
}

pub fn save(
    conn: &Connection,
    model_id: i64,
    group: &ConfigGroup,
    now: i64,
) -> rusqlite::Result<()> {
    let config = Value::Object(group.to_object()).to_string();
    conn.execute(
        &format!(
            "INSERT INTO {} (model_id, config, updated_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (model_id) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at",
            table(group.kind())
        ),
        params![model_id, config, now],
    )?;
    Ok(())
}

pub fn record_change(
    conn: &Connection,
    model_id: i64,
    scope: &str,
    changes: &[FieldChange],
    now: i64,
) -> rusqlite::Result<()> {
    let changes = serde_json::to_string(changes).map_err(json_error)?;
    conn.execute(
        "INSERT INTO config_changes (model_id, scope, changes, changed_at) VALUES (?1, ?2, ?3, ?4)",
        params![model_id, scope, changes, now],
    )?;
    Ok(())
}

/// Removes the model's changes beyond the newest `keep`.
pub fn prune_history(conn: &Connection, model_id: i64, keep: i64) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM config_changes WHERE model_id = ?1 AND id < (SELECT min(id) FROM \
         (SELECT id FROM config_changes WHERE model_id = ?1 ORDER BY id DESC LIMIT ?2))",
        params![model_id, keep.max(1)],
    )
}

/// A model's changes, newest first: `limit` of them, older than change `before` when given.
pub fn history(
    conn: &Connection,
    model_id: i64,
    limit: i64,
    before: Option<i64>,
) -> rusqlite::Result<Vec<ConfigChange>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, model_id, scope, changes, changed_at FROM config_changes \
         WHERE model_id = ?1 AND id < ?3 ORDER BY id DESC LIMIT ?2",
    )?;
    stmt.query_map(
        params![model_id, limit, before.unwrap_or(i64::MAX)],
        |row| {
            let changes: String = row.get(3)?;
            Ok(ConfigChange {
                id: row.get(0)?,
                model_id: row.get(1)?,
                scope: row.get(2)?,
                changes: serde_json::from_str(&changes).map_err(json_error)?,
                changed_at: row.get(4)?,
            })
        },
    )?
    .collect()
}
