//! The `models` table.

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::domain::{Model, ModelKind, ModelSpec, ModelStatus};

const COLUMNS: &str = "id, name, kind, path, size_bytes, status, status_reason, ctx_size, \
    batch_size, ubatch_size, parallel, threads, threads_batch, cpu_mask, cpu_range, cpu_strict, \
    created_at, updated_at";

fn unknown_word(column: usize, word: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        Type::Text,
        format!("unknown value '{word}'").into(),
    )
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<Model> {
    let kind: String = row.get(2)?;
    let status: String = row.get(5)?;
    let size: Option<i64> = row.get(4)?;
    Ok(Model {
        id: row.get(0)?,
        spec: ModelSpec {
            name: row.get(1)?,
            kind: ModelKind::parse(&kind).ok_or_else(|| unknown_word(2, kind))?,
            path: row.get(3)?,
            ctx_size: row.get(7)?,
            batch_size: row.get(8)?,
            ubatch_size: row.get(9)?,
            parallel: row.get(10)?,
            threads: row.get(11)?,
            threads_batch: row.get(12)?,
            cpu_mask: row.get(13)?,
            cpu_range: row.get(14)?,
            cpu_strict: row.get(15)?,
        },
        size_bytes: size.and_then(|s| u64::try_from(s).ok()),
        status: ModelStatus::parse(&status).ok_or_else(|| unknown_word(5, status))?,
        status_reason: row.get(6)?,
        created_at: row.get(16)?,
        updated_at: row.get(17)?,
    })
}

/// Every model, by name.
pub fn list(conn: &Connection) -> rusqlite::Result<Vec<Model>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM models ORDER BY name"))?;
    stmt.query_map([], from_row)?.collect()
}

pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<Model>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM models WHERE id = ?1"))?;
    stmt.query_row([id], from_row).optional()
}

/// Names compare without case, as the unique index does.
pub fn get_by_name(conn: &Connection, name: &str) -> rusqlite::Result<Option<Model>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM models WHERE name = ?1"))?;
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
    conn.execute(
        "INSERT INTO models (name, kind, path, size_bytes, ctx_size, batch_size, ubatch_size, \
         parallel, threads, threads_batch, cpu_mask, cpu_range, cpu_strict, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14)",
        params![
            spec.name,
            spec.kind.as_str(),
            spec.path,
            size.map(|s| s as i64),
            spec.ctx_size,
            spec.batch_size,
            spec.ubatch_size,
            spec.parallel,
            spec.threads,
            spec.threads_batch,
            spec.cpu_mask,
            spec.cpu_range,
            spec.cpu_strict,
            now,
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn update(
    conn: &Connection,
    id: i64,
    spec: &ModelSpec,
    size: Option<u64>,
    now: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE models SET name = ?2, kind = ?3, path = ?4, size_bytes = ?5, ctx_size = ?6, \
         batch_size = ?7, ubatch_size = ?8, parallel = ?9, threads = ?10, threads_batch = ?11, \
         cpu_mask = ?12, cpu_range = ?13, cpu_strict = ?14, updated_at = ?15 WHERE id = ?1",
        params![
            id,
            spec.name,
            spec.kind.as_str(),
            spec.path,
            size.map(|s| s as i64),
            spec.ctx_size,
            spec.batch_size,
            spec.ubatch_size,
            spec.parallel,
            spec.threads,
            spec.threads_batch,
            spec.cpu_mask,
            spec.cpu_range,
            spec.cpu_strict,
            now,
        ],
    )?;
    Ok(())
}

/// Deletes the model; its config rows and audit trail go with it (foreign keys cascade).
pub fn delete(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM models WHERE id = ?1", [id])? > 0)
}
