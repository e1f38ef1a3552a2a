//! The pool's connections: opened with Corral's settings and handed out again as they are.
//! deadpool-sqlite's own manager checked every connection before each use by running
//! `SELECT $1` on a blocking thread: a second thread hop and query for every database call
//! (`perf` on the models page's server render: thread switches were a tenth of its time). A
//! connection to a local SQLite file cannot go stale the way a network connection does; one
//! whose lock a panic poisoned is still thrown away.

use std::path::PathBuf;

use deadpool::Runtime;
use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use deadpool_sync::SyncWrapper;
use rusqlite::Connection;
use rusqlite::config::DbConfig;

/// A pool of connections to one database file.
pub type Pool = managed::Pool<SqliteManager>;

/// Opens connections to one file, each with `pragmas` applied.
pub struct SqliteManager {
    path: PathBuf,
    pragmas: &'static str,
}

impl SqliteManager {
    pub fn new(path: PathBuf, pragmas: &'static str) -> SqliteManager {
        SqliteManager { path, pragmas }
    }
}

impl managed::Manager for SqliteManager {
    type Type = SyncWrapper<Connection>;
    type Error = rusqlite::Error;

    async fn create(&self) -> Result<Self::Type, Self::Error> {
        let (path, pragmas) = (self.path.clone(), self.pragmas);
        SyncWrapper::new(Runtime::Tokio1, move || {
            let conn = Connection::open(path)?;
            conn.execute_batch(pragmas)?;
            // Plans that do not depend on bound values: otherwise SQLite (3.47+) plans with a
            // bound LIMIT's value and re-prepares the statement each time the statement cache
            // binds it again (`perf` on the models page's render under load: 7.5 % of the
            // server's time in `sqlite3Reprepare` for the first rows' `LIMIT ?1`).
            conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
            Ok(conn)
        })
        .await
    }

    async fn recycle(&self, conn: &mut Self::Type, _: &Metrics) -> RecycleResult<Self::Error> {
        if conn.is_mutex_poisoned() {
            return Err(RecycleError::message(
                "a panic poisoned the connection's lock",
            ));
        }
        Ok(())
    }
}
