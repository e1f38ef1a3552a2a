//! The `models` table.

use rusqlite::types::{ToSql, ToSqlOutput, Type};
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

/// Kinds are stored as their wire words.
impl ToSql for ModelKind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

/// The stored columns of a spec, as named parameters shared by insert and update.
fn spec_params<'a>(
    spec: &'a ModelSpec,
    size: &'a Option<i64>,
    now: &'a i64,
) -> [(&'static str, &'a dyn ToSql); 14] {
    [
        (":name", &spec.name),
        (":kind", &spec.kind),
        (":path", &spec.path),
        (":size_bytes", size),
        (":ctx_size", &spec.ctx_size),
        (":batch_size", &spec.batch_size),
        (":ubatch_size", &spec.ubatch_size),
        (":parallel", &spec.parallel),
        (":threads", &spec.threads),
        (":threads_batch", &spec.threads_batch),
        (":cpu_mask", &spec.cpu_mask),
        (":cpu_range", &spec.cpu_range),
        (":cpu_strict", &spec.cpu_strict),
        (":now", now),
    ]
}

pub fn insert(
    conn: &Connection,
    spec: &ModelSpec,
    size: Option<u64>,
    now: i64,
) -> rusqlite::Result<i64> {
    let size = size.map(|s| s as i64);
    conn.execute(
        "INSERT INTO models (name, kind, path, size_bytes, ctx_size, batch_size, ubatch_size, \
         parallel, threads, threads_batch, cpu_mask, cpu_range, cpu_strict, created_at, updated_at) \
         VALUES (:name, :kind, :path, :size_bytes, :ctx_size, :batch_size, :ubatch_size, :parallel, \
         :threads, :threads_batch, :cpu_mask, :cpu_range, :cpu_strict, :now, :now)",
        &spec_params(spec, &size, &now)[..],
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
    let size = size.map(|s| s as i64);
    let mut params = spec_params(spec, &size, &now).to_vec();
    params.push((":id", &id));
    conn.execute(
        "UPDATE models SET name = :name, kind = :kind, path = :path, size_bytes = :size_bytes, \
         ctx_size = :ctx_size, batch_size = :batch_size, ubatch_size = :ubatch_size, \
         parallel = :parallel, threads = :threads, threads_batch = :threads_batch, \
         cpu_mask = :cpu_mask, cpu_range = :cpu_range, cpu_strict = :cpu_strict, updated_at = :now \
         WHERE id = :id",
        &params[..],
    )?;
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
