//! SQL for `admins` and `sessions`. Only hashes are stored: a PHC string for the password, the
//! SHA-256 of each session token.

use rusqlite::{Connection, OptionalExtension, params};

use crate::domain::api_key::{ApiKey, Scope};
use crate::server::db::write_transaction;

/// An admin as a login needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Admin {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
}

pub fn admin_exists(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row("SELECT EXISTS (SELECT 1 FROM admins)", [], |row| row.get(0))
}

pub fn admin_by_name(conn: &Connection, username: &str) -> rusqlite::Result<Option<Admin>> {
    conn.query_row(
        "SELECT id, username, password_hash FROM admins WHERE username = ?1",
        [username],
        |row| {
            Ok(Admin {
                id: row.get(0)?,
                username: row.get(1)?,
                password_hash: row.get(2)?,
            })
        },
    )
    .optional()
}

/// Creates the first admin; `None` when one exists already (someone else finished the setup).
pub fn create_first_admin(
    conn: &mut Connection,
    username: &str,
    password_hash: &str,
    now: i64,
) -> rusqlite::Result<Option<i64>> {
    let tx = write_transaction(conn)?;
    if admin_exists(&tx)? {
        return Ok(None);
    }
    tx.execute(
        "INSERT INTO admins (username, password_hash, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
        params![username, password_hash, now],
    )?;
    let id = tx.last_insert_rowid();
    tx.commit()?;
    Ok(Some(id))
}

/// Sets a new password and ends every session of that admin; false when there is no such admin.
pub fn set_password(
    conn: &mut Connection,
    username: &str,
    password_hash: &str,
    now: i64,
) -> rusqlite::Result<bool> {
    let tx = write_transaction(conn)?;
    let changed = tx.execute(
        "UPDATE admins SET password_hash = ?2, updated_at = ?3 WHERE username = ?1",
        params![username, password_hash, now],
    )?;
    tx.execute(
        "DELETE FROM sessions WHERE admin_id IN (SELECT id FROM admins WHERE username = ?1)",
        [username],
    )?;
    tx.commit()?;
    Ok(changed == 1)
}

pub fn insert_session(
    conn: &Connection,
    token_hash: &[u8],
    admin_id: i64,
    now: i64,
    expires_at: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO sessions (token_hash, admin_id, created_at, expires_at, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?3)",
        params![token_hash, admin_id, now, expires_at],
    )?;
    Ok(())
}

/// The session's admin id and when it was last seen, if it exists and has not expired.
pub fn live_session(
    conn: &Connection,
    token_hash: &[u8],
    now: i64,
) -> rusqlite::Result<Option<(i64, i64)>> {
    conn.query_row(
        "SELECT admin_id, last_seen FROM sessions WHERE token_hash = ?1 AND expires_at > ?2",
        params![token_hash, now],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .optional()
}

/// Slides the session's expiry forward.
pub fn touch_session(
    conn: &Connection,
    token_hash: &[u8],
    now: i64,
    expires_at: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE sessions SET last_seen = ?2, expires_at = ?3 WHERE token_hash = ?1",
        params![token_hash, now, expires_at],
    )?;
    Ok(())
}

pub fn delete_session(conn: &Connection, token_hash: &[u8]) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
    Ok(())
}

/// Ends every session of the admin ("sign out everywhere").
pub fn delete_sessions_of(conn: &Connection, admin_id: i64) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM sessions WHERE admin_id = ?1", [admin_id])
}

/// Drops expired sessions.
pub fn prune_sessions(conn: &Connection, now: i64) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])
}

const KEY_COLUMNS: &str =
    "id, name, prefix, scopes, models, created_at, expires_at, last_used_at, revoked_at";

fn key_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKey> {
    let json = |i: usize| -> rusqlite::Result<Option<String>> { row.get(i) };
    let scopes: Vec<Scope> = json(3)?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    let models: Option<Vec<i64>> = json(4)?.and_then(|s| serde_json::from_str(&s).ok());
    Ok(ApiKey {
        id: row.get(0)?,
        name: row.get(1)?,
        prefix: row.get(2)?,
        scopes,
        models,
        created_at: row.get(5)?,
        expires_at: row.get(6)?,
        last_used_at: row.get(7)?,
        revoked_at: row.get(8)?,
    })
}

#[allow(clippy::too_many_arguments)] // one column each
pub fn insert_key(
    conn: &Connection,
    name: &str,
    prefix: &str,
    key_hash: &[u8],
    scopes: &[Scope],
    models: Option<&[i64]>,
    now: i64,
    expires_at: Option<i64>,
) -> rusqlite::Result<ApiKey> {
    let scopes_json = serde_json::to_string(scopes).unwrap_or_else(|_| "[]".into());
    let models_json = models.map(|m| serde_json::to_string(m).unwrap_or_else(|_| "[]".into()));
    conn.execute(
        "INSERT INTO api_keys (name, prefix, key_hash, scopes, models, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            name,
            prefix,
            key_hash,
            scopes_json,
            models_json,
            now,
            expires_at
        ],
    )?;
    let id = conn.last_insert_rowid();
    conn.query_row(
        &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1"),
        [id],
        key_from_row,
    )
}

/// Every key, newest first.
pub fn list_keys(conn: &Connection) -> rusqlite::Result<Vec<ApiKey>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY id DESC"
    ))?;
    stmt.query_map([], key_from_row)?.collect()
}

/// The key with this hash, if it is neither revoked nor expired.
pub fn live_key(conn: &Connection, key_hash: &[u8], now: i64) -> rusqlite::Result<Option<ApiKey>> {
    conn.query_row(
        &format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = ?1 AND revoked_at IS NULL
             AND (expires_at IS NULL OR expires_at > ?2)"
        ),
        params![key_hash, now],
        key_from_row,
    )
    .optional()
}

/// Marks a key revoked; false when there is no such key (or it was revoked already).
pub fn revoke_key(conn: &Connection, id: i64, now: i64) -> rusqlite::Result<bool> {
    let changed = conn.execute(
        "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
        params![id, now],
    )?;
    Ok(changed == 1)
}

pub fn key_used(conn: &Connection, id: i64, now: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}
