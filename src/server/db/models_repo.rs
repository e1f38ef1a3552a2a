//! The `models` table.

use std::sync::LazyLock;

use rusqlite::types::{Type, Value as SqlValue, ValueRef};
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use serde::Deserialize;
use serde::de::value::Error as DeError;
use serde::de::{DeserializeSeed, Deserializer, Error as _, IntoDeserializer, MapAccess, Visitor};
use serde_json::Value;

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
fn select(filter: &str) -> String {
    let model = "id, size_bytes, status, status_reason, created_at, updated_at";
    format!("SELECT {model}, {} FROM models {filter}", column_list())
}
static SELECT_ALL: LazyLock<String> = LazyLock::new(|| select("ORDER BY name"));
static SELECT_FIRST: LazyLock<String> = LazyLock::new(|| select("ORDER BY name LIMIT ?1"));
static SELECT_BY_ID: LazyLock<String> = LazyLock::new(|| select("WHERE id = ?1"));
static SELECT_BY_NAME: LazyLock<String> = LazyLock::new(|| select("WHERE name = ?1"));
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

/// Where the spec's columns start in a `SELECT` row (after the six of `Model`).
const SPEC_FIRST: usize = 6;

fn from_row(row: &Row<'_>) -> rusqlite::Result<Model> {
    let spec =
        ModelSpec::deserialize(SpecRow { row }).map_err(|e| conversion_error("models", e))?;
    let status: String = row.get(2)?;
    let size: Option<i64> = row.get(1)?;
    Ok(Model {
        id: row.get(0)?,
        spec,
        size_bytes: size.and_then(|s| u64::try_from(s).ok()),
        status: ModelStatus::parse(&status).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                2,
                Type::Text,
                format!("status: unknown value '{status}'").into(),
            )
        })?,
        status_reason: row.get(3)?,
        created_at: row.get(4)?,
        updated_at: row.get(5)?,
    })
}

/// A row read as the spec's serde map, one entry per described column: the loop over the
/// descriptions without a JSON value in between (listing 100 models took 4× as long that way).
struct SpecRow<'r, 's> {
    row: &'r Row<'s>,
}

impl<'de> Deserializer<'de> for SpecRow<'_, '_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_map(SpecColumns {
            row: self.row,
            columns: ModelSpec::FIELDS
                .iter()
                .filter(|f| f.column.is_some())
                .enumerate(),
            current: None,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

struct SpecColumns<'r, 's, I> {
    row: &'r Row<'s>,
    columns: I,
    current: Option<(usize, &'static FieldSpec)>,
}

impl<'de, I> MapAccess<'de> for SpecColumns<'_, '_, I>
where
    I: Iterator<Item = (usize, &'static FieldSpec)>,
{
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        self.current = self.columns.next();
        match self.current {
            Some((_, field)) => seed.deserialize(field.key.into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some((index, field)) = self.current else {
            return Err(DeError::custom("a value without its column"));
        };
        let value = self
            .row
            .get_ref(SPEC_FIRST + index)
            .map_err(|e| DeError::custom(format!("{}: {e}", field.key)))?;
        seed.deserialize(Cell {
            value,
            toggle: matches!(field.input, InputKind::Toggle),
        })
    }
}

/// One stored value; a toggle is stored as 0 or 1.
struct Cell<'v> {
    value: ValueRef<'v>,
    toggle: bool,
}

impl<'de> Deserializer<'de> for Cell<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.value {
            ValueRef::Null => visitor.visit_none(),
            ValueRef::Integer(n) if self.toggle => visitor.visit_bool(n != 0),
            ValueRef::Integer(n) => visitor.visit_i64(n),
            ValueRef::Real(f) => visitor.visit_f64(f),
            ValueRef::Text(bytes) => visitor.visit_str(text(bytes)?),
            ValueRef::Blob(_) => Err(DeError::custom("a blob where a setting belongs")),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.value {
            ValueRef::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    /// Words (the kind) name a unit variant.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.value {
            ValueRef::Text(bytes) => visitor.visit_enum(text(bytes)?.into_deserializer()),
            _ => self.deserialize_any(visitor),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

fn text(bytes: &[u8]) -> Result<&str, DeError> {
    std::str::from_utf8(bytes).map_err(DeError::custom)
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
    let mut stmt = conn.prepare_cached(&SELECT_ALL)?;
    stmt.query_map([], from_row)?.collect()
}

/// The first `limit` models by name (the name index, read in order) and how many there are.
pub fn first_by_name(conn: &Connection, limit: usize) -> rusqlite::Result<(Vec<Model>, usize)> {
    let mut stmt = conn.prepare_cached(&SELECT_FIRST)?;
    let models = stmt
        .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], from_row)?
        .collect::<rusqlite::Result<Vec<Model>>>()?;
    let total: i64 = conn
        .prepare_cached("SELECT count(*) FROM models")?
        .query_row([], |row| row.get(0))?;
    Ok((models, usize::try_from(total).unwrap_or(0)))
}

pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<Model>> {
    let mut stmt = conn.prepare_cached(&SELECT_BY_ID)?;
    stmt.query_row([id], from_row).optional()
}

/// Names compare without case, as the unique index does.
pub fn get_by_name(conn: &Connection, name: &str) -> rusqlite::Result<Option<Model>> {
    let mut stmt = conn.prepare_cached(&SELECT_BY_NAME)?;
    stmt.query_row([name], from_row).optional()
}

/// The id of the model other than `except` that is called `name`, as its name or one of its
/// aliases (names and aliases are one namespace, compared without regard to ASCII case).
pub fn name_holder(
    conn: &Connection,
    name: &str,
    except: Option<i64>,
) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached(
        "SELECT id FROM models WHERE name = ?1 AND id IS NOT ?2 \
         UNION ALL \
         SELECT s.model_id FROM config_serving s, json_each(s.config, '$.aliases') a \
         WHERE a.value = ?1 COLLATE NOCASE AND s.model_id IS NOT ?2 \
         LIMIT 1",
    )?
    .query_row(params![name, except], |row| row.get(0))
    .optional()
}

/// The model a client means by `name`: the one with that name, else the one with that alias.
pub fn resolve_name(conn: &Connection, name: &str) -> rusqlite::Result<Option<i64>> {
    name_holder(conn, name, None)
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

/// Records the size of the file at `path` (`None`: not there) on every model naming it; answers
/// the models whose recorded size changed. Not a settings change: `updated_at` stays.
pub fn set_file_size(
    conn: &Connection,
    path: &str,
    size: Option<u64>,
) -> rusqlite::Result<Vec<i64>> {
    let size = size.map(|s| s as i64);
    let mut statement = conn.prepare_cached(
        "UPDATE models SET size_bytes = ?2 WHERE path = ?1 AND size_bytes IS NOT ?2 RETURNING id",
    )?;
    statement
        .query_map(params![path, size], |row| row.get(0))?
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::server::db::migrate::migrate(&mut conn).unwrap();
        conn
    }

    #[test]
    fn every_described_column_reads_back_as_written() {
        let conn = db();
        let spec = ModelSpec::parse_new(&serde_json::json!({
            "name": "m", "path": "/m/a.gguf", "kind": "qwen", "ctx_size": 8192,
            "cpu_mask": "0xF0", "cpu_strict": true, "threads": 4
        }))
        .unwrap();
        let id = insert(&conn, &spec, Some(7), 1).unwrap();
        let model = get(&conn, id).unwrap().unwrap();
        assert_eq!(model.spec, spec);
        assert_eq!(model.size_bytes, Some(7));
        let mut off = spec.clone();
        off.cpu_strict = Some(false);
        off.ctx_size = None;
        update(&conn, id, &off, None, 2).unwrap();
        assert_eq!(get(&conn, id).unwrap().unwrap().spec, off);
    }

    #[test]
    fn a_stored_word_no_kind_has_is_an_error_naming_the_table() {
        let conn = db();
        let spec =
            ModelSpec::parse_new(&serde_json::json!({"name": "m", "path": "/m/a.gguf"})).unwrap();
        let id = insert(&conn, &spec, None, 1).unwrap();
        conn.execute("UPDATE models SET kind = 'nonsense' WHERE id = ?1", [id])
            .unwrap();
        let error = get(&conn, id).unwrap_err().to_string();
        assert!(
            error.contains("models") && error.contains("nonsense"),
            "{error}"
        );
    }
}
