//! A consistent copy of the database (`VACUUM INTO`), safe while Corral runs: SQLite copies one
//! read transaction's view, compacted, into a new file.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

/// Copies the database at `source` into `target`, which must not exist yet; answers its size.
pub fn backup(source: &Path, target: &Path) -> Result<u64, String> {
    if target.exists() {
        return Err(format!(
            "{} exists already; name a new file",
            target.display()
        ));
    }
    let target_text = target
        .to_str()
        .ok_or_else(|| format!("{} is not a UTF-8 path", target.display()))?;
    let conn = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("cannot open the database {}: {e}", source.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    conn.execute("VACUUM INTO ?1", [target_text])
        .map_err(|e| format!("cannot write the backup {}: {e}", target.display()))?;
    std::fs::metadata(target)
        .map(|m| m.len())
        .map_err(|e| format!("the backup {} is not there: {e}", target.display()))
}
