//! The SQLite database: a pool of connections to one file, migrated at start-up.

pub mod access_repo;
pub mod activity_repo;
pub mod backup;
pub mod config_repo;
mod connection_pool;
pub mod conversations_repo;
pub mod metrics_repo;
pub mod migrate;
pub mod models_repo;
pub mod run_groups_repo;
pub mod runs_repo;
pub mod runs_store;
pub mod settings_repo;
pub mod virtuals_repo;

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::domain::AppError;
use crate::server::boot::data_dir;
use crate::server::db::connection_pool::{Pool, SqliteManager};

/// Settings every connection gets: enforce foreign keys (config rows die with their model), wait
/// for a writer instead of failing, and WAL's safe-and-fast sync level.
const CONNECTION_PRAGMAS: &str =
    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;";

/// How much history is kept. Each field is one of Corral's own settings, by its key
/// (`domain::settings::SETTINGS`), filled as the supervisor's are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Retention {
    #[serde(rename = "keep_runs")]
    pub runs_per_model: i64,
    #[serde(rename = "keep_changes")]
    pub changes_per_model: i64,
    /// Days of gateway activity records.
    #[serde(rename = "keep_activity_days")]
    pub activity_days: u32,
    /// Days of metrics history (one-minute roll-ups; the last hour is kept raw).
    #[serde(rename = "keep_metrics_days")]
    pub metrics_days: u32,
}

impl Default for Retention {
    /// The settings' described defaults.
    fn default() -> Self {
        crate::server::settings::by_key::defaults()
    }
}

/// A handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    path: PathBuf,
    /// Shared by every clone, so a change on the Settings page reaches every store at once.
    retention: std::sync::Arc<std::sync::RwLock<Retention>>,
}

#[derive(Debug, thiserror::Error)]
pub enum DbOpenError {
    #[error("cannot use the data directory {0}: {1}")]
    DataDir(PathBuf, data_dir::DataDirError),
    #[error("cannot make {0} private to its owner: {1}")]
    Permissions(PathBuf, std::io::Error),
    #[error("cannot open the database {0}: {1}")]
    Open(PathBuf, rusqlite::Error),
    #[error("cannot upgrade the database {0}: {1}")]
    Migrate(PathBuf, migrate::MigrateError),
    #[error("cannot create the connection pool: {0}")]
    Pool(String),
}

impl Db {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Db, DbOpenError> {
        let path = path.to_path_buf();
        if let Some(dir) = path.parent() {
            data_dir::secure(dir).map_err(|e| DbOpenError::DataDir(dir.to_path_buf(), e))?;
        }
        let setup_path = path.clone();
        tokio::task::spawn_blocking(move || prepare(&setup_path))
            .await
            .map_err(|e| DbOpenError::Pool(e.to_string()))??;
        let pool = Pool::builder(SqliteManager::new(path.clone(), CONNECTION_PRAGMAS))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|e| DbOpenError::Pool(e.to_string()))?;
        Ok(Db {
            pool,
            path,
            retention: Default::default(),
        })
    }

    /// The same database, keeping `retention` of each model's history.
    pub fn with_retention(self, retention: Retention) -> Db {
        self.set_retention(retention);
        self
    }

    pub fn retention(&self) -> Retention {
        *self.retention.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies from the next pruning on, for every clone of this handle.
    pub fn set_retention(&self, retention: Retention) {
        *self.retention.write().unwrap_or_else(|p| p.into_inner()) = retention;
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` on a pooled connection, off the async threads.
    pub async fn call<T, F>(&self, work: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut Connection) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let conn = self.pool.get().await.map_err(AppError::internal)?;
        conn.interact(work).await.map_err(AppError::internal)?
    }
}

/// WAL is a property of the file, set once; migrations run on this first connection.
fn prepare(path: &Path) -> Result<(), DbOpenError> {
    let mut conn = Connection::open(path).map_err(|e| DbOpenError::Open(path.to_path_buf(), e))?;
    conn.execute_batch(CONNECTION_PRAGMAS)
        .and_then(|()| conn.pragma_update(None, "journal_mode", "WAL"))
        .map_err(|e| DbOpenError::Open(path.to_path_buf(), e))?;
    migrate::migrate(&mut conn).map_err(|e| DbOpenError::Migrate(path.to_path_buf(), e))?;
    // The database holds every setting and, later, keys: readable by its owner only.
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let file = PathBuf::from(file);
        data_dir::make_private(&file).map_err(|e| DbOpenError::Permissions(file.clone(), e))?;
    }
    Ok(())
}

/// Starts a transaction that writes. It takes the write lock at once (`BEGIN IMMEDIATE`): a
/// deferred transaction that reads first and then writes cannot wait for a busy writer (SQLite
/// answers `database is locked` at once to avoid a deadlock), so concurrent writers would fail
/// instead of queueing behind `busy_timeout`.
pub fn write_transaction(conn: &mut Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
}

/// A database failure is never the caller's fault: it is reported as an internal error.
impl From<rusqlite::Error> for AppError {
    fn from(error: rusqlite::Error) -> Self {
        tracing::error!(%error, "database error");
        AppError::internal(error)
    }
}
