//! Versioned schema migrations, run at start-up. The version lives in `PRAGMA user_version`;
//! each step runs in its own transaction, so a crash mid-upgrade leaves the old version intact.

use rusqlite::Connection;

/// Every schema version in order; version N is `MIGRATIONS[N - 1]`. Never edit a shipped step.
pub const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_models_and_config.sql"),
    include_str!("migrations/0002_config_audit_trail.sql"),
    include_str!("migrations/0003_metrics_history.sql"),
    include_str!("migrations/0004_runs.sql"),
    include_str!("migrations/0005_rollups_in_time_order.sql"),
    include_str!("migrations/0006_serving.sql"),
    include_str!("migrations/0007_activity.sql"),
    include_str!("migrations/0008_access.sql"),
    include_str!("migrations/0009_settings.sql"),
    include_str!("migrations/0010_measured_memory.sql"),
    include_str!("migrations/0011_coarser_rollups.sql"),
    include_str!("migrations/0012_conversations.sql"),
    include_str!("migrations/0013_virtual_models.sql"),
    include_str!("migrations/0014_run_groups.sql"),
    include_str!("migrations/0015_measured_gpu_memory.sql"),
];

pub fn latest_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Brings the database up to the latest version. Refuses a database from a newer Corral.
pub fn migrate(conn: &mut Connection) -> Result<i64, MigrateError> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if current < 0 {
        return Err(MigrateError::Negative { found: current });
    }
    if current > latest_version() {
        return Err(MigrateError::TooNew {
            found: current,
            supported: latest_version(),
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index as i64 + 1;
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version)?;
        tx.commit()?;
        tracing::info!(version, "database migrated");
    }
    Ok(latest_version())
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(
        "the database is at schema version {found}, newer than this Corral supports ({supported}); upgrade Corral"
    )]
    TooNew { found: i64, supported: i64 },
    #[error(
        "the database says its schema version is {found}, which no Corral writes; it is not a Corral \
         database or it is damaged"
    )]
    Negative { found: i64 },
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}
