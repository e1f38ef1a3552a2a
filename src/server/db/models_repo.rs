//! The `models` table.

use std::sync::LazyLock;

use rusqlite::types::{Type, Value as SqlValue};
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use serde_json::{Map, Value};

use crate::domain::fields::{FieldSet, FieldSpec, InputKind};
use crate::domain::{Model, ModelSpec, ModelStatus};

/// The spec's settings that have a column, from their descriptions: a new setting is one entry
/// there (and a migration adding the column), never a change here.
fn spec_columns() -> impl Iterator<Item = (&'static FieldSpec, &'static str)> {
    ModelSpec::FIELDS
        .iter()
        .filter_map(|field| field.column.map(|column| (field, column)))
}

fn column_list() -> String {
    spec_columns()
        .map(|(_, c)| c)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Column names come from the descriptions, never from input.
static SELECT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT id, size_bytes, status, status_reason, created_at, updated_at, {} FROM models",
        column_list()
    )
});
static INSERT: LazyLock<String> = LazyLock::new(|| {
    let count = spec_columns().count();
    let places: Vec<String> = (1..=count + 2).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO models ({}, size_bytes, created_at, updated_at) VALUES ({}, ?{})",
        column_list(),
        places.join(", "),
        count + 2
    )
});
static UPDATE: LazyLock<String> = LazyLock::new(|| {
    let count = spec_columns().count();
    let sets: Vec<String> = spec_columns()
        .enumerate()
        .map(|(i, (_, column))| format!("{column} = ?{}", i + 1))
        .collect();
    format!(
        "UPDATE models SET {}, size_bytes = ?{}, updated_at = ?{} WHERE id = ?{}",
        sets.join(", "),
        count + 1,
        count + 2,
        count + 3
    )
});

fn conversion_error(
    column: &str,
    error: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, Type::Text, format!("{column}: {error}").into())
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<Model> {
    let mut spec = Map::new();
    for (field, column) in spec_columns() {
        let value = match row.get::<_, SqlValue>(column)? {
            SqlValue::Null => Value::Null,
            SqlValue::Integer(n) if matches!(field.input, InputKind::Toggle) => Value::Bool(n != 0),
            SqlValue::Integer(n) => Value::from(n),
            SqlValue::Real(f) => Value::from(f),
            SqlValue::Text(text) => Value::String(text),
            SqlValue::Blob(_) => {
                return Err(rusqlite::Error::InvalidColumnType(
                    0,
                    column.to_string(),
                    Type::Blob,
                ));
            }
        };
        spec.insert(field.key.to_string(), value);
    }
    let spec: ModelSpec =
        serde_json::from_value(Value::Object(spec)).map_err(|e| conversion_error("models", e))?;
    let status: String = row.get("status")?;
    let size: Option<i64> = row.get("size_bytes")?;
    Ok(Model {
        id: row.get("id")?,
        spec,
        size_bytes: size.and_then(|s| u64::try_from(s).ok()),
        status: ModelStatus::parse(&status).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                0,
                Type::Text,
                format!("status: unknown value '{status}'").into(),
            )
        })?,
        status_reason: row.get("status_reason")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

/// The spec's values in column order: toggles as 0/1, the rest as SQLite holds them.
fn spec_values(spec: &ModelSpec) -> Vec<SqlValue> {
    let object = spec.to_object();
    spec_columns()
        .map(|(field, _)| match object.get(field.key) {
            None | Some(Value::Null) => SqlValue::Null,
            Some(Value::Bool(on)) => SqlValue::Integer(i64::from(*on)),
            Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => SqlValue::Integer(i),
                (None, Some(f)) => SqlValue::Real(f),
                (None, None) => SqlValue::Text(n.to_string()),
            },
            Some(Value::String(text)) => SqlValue::Text(text.clone()),
            Some(other) => SqlValue::Text(other.to_string()),
        })
        .collect()
}

/// Every model, by name.
pub fn list(conn: &Connection) -> rusqlite::Result<Vec<Model>> {
    let mut stmt = conn.prepare_cached(&format!("{} ORDER BY name", *SELECT))?;
    stmt.query_map([], from_row)?.collect()
}

pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<Model>> {
    let mut stmt = conn.prepare_cached(&format!("{} WHERE id = ?1", *SELECT))?;
    stmt.query_row([id], from_row).optional()
}

/// Names compare without case, as the unique index does.
pub fn get_by_name(conn: &Connection, name: &str) -> rusqlite::Result<Option<Model>> {
    let mut stmt = conn.prepare_cached(&format!("{} WHERE name = ?1", *SELECT))?;
    stmt.query_row([name], from_row).optional()
}

/// The id of the model holding `name`, other than `except`.
pub fn name_holder(
    conn: &Connection,
    name: &str,
    except: Option<i64>,
) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT id FROM models WHERE name = ?1 AND id IS NOT ?2",
        params![name, except],
        |row| row.get(0),
    )
    .optional()
}

pub fn insert(
    conn: &Connection,
    spec: &ModelSpec,
    size: Option<u64>,
    now: i64,
) -> rusqlite::Result<i64> {
    let mut values = spec_values(spec);
    values.push(size.map_or(SqlValue::Null, |s| SqlValue::Integer(s as i64)));
    values.push(SqlValue::Integer(now));
    conn.prepare_cached(&INSERT)?
        .execute(params_from_iter(values))?;
    Ok(conn.last_insert_rowid())
}

pub fn update(
    conn: &Connection,
    id: i64,
    spec: &ModelSpec,
    size: Option<u64>,
    now: i64,
) -> rusqlite::Result<()> {
    let mut values = spec_values(spec);
    values.push(size.map_or(SqlValue::Null, |s| SqlValue::Integer(s as i64)));
    values.push(SqlValue::Integer(now));
    values.push(SqlValue::Integer(id));
    conn.prepare_cached(&UPDATE)?
        .execute(params_from_iter(values))?;
    Ok(())
}

/// Deletes the model; its config rows and audit trail go with it (foreign keys cascade).
pub fn delete(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM models WHERE id = ?1", [id])? > 0)
}

/// Records where the model is in its life. Not a settings change: `updated_at` stays.
pub fn set_status(
    conn: &Connection,
    id: i64,
    status: ModelStatus,
    reason: Option<&str>,
) -> rusqlite::Result<bool> {
    Ok(conn.execute(
        "UPDATE models SET status = ?2, status_reason = ?3 WHERE id = ?1",
        params![id, status.as_str(), reason],
    )? > 0)
}

/// Models whose status says a process may exist: what start-up has to reconcile.
pub fn active_ids(conn: &Connection) -> rusqlite::Result<Vec<i64>> {
    let mut statement =
        conn.prepare("SELECT id FROM models WHERE status IN ('loading', 'running', 'stopping')")?;
    let ids = statement.query_map([], |row| row.get(0))?;
    ids.collect()
}
