//! SQL for Corral's own settings: one stored JSON document.

use rusqlite::{Connection, OptionalExtension, params};

/// The stored document, if the Settings page ever saved one.
pub fn load(conn: &Connection) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT document FROM settings WHERE id = 1", [], |row| {
        row.get(0)
    })
    .optional()
}

pub fn save(conn: &Connection, document: &str, now: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO settings (id, document, updated_at) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at",
        params![document, now],
    )?;
    Ok(())
}
