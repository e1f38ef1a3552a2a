//! Reading the runs of model servers: a model's history for a start (read with the model, by
//! `Registry::read_for_start`), pages for the run list, the runs start-up reconciles. Each call is one read on a pooled connection; the SQL is
//! `runs_repo`'s. Runs are written by one owner only, the supervisor's run ledger.

use crate::domain::AppError;
use crate::domain::page::Page;
use crate::domain::run::Run;
use crate::server::db::runs_repo;
use crate::server::db::{Db, models_repo};

/// A model's earlier runs, as a start reads them.
#[derive(Debug, Clone, Default)]
pub struct RunHistory {
    pub typical_load_ms: Option<i64>,
    /// Command and measured peaks of memory, newest first.
    pub measured_peaks: Vec<runs_repo::MeasuredPeak>,
}

impl RunHistory {
    /// What a start learns from the model's earlier runs: the median of its last five load
    /// times, and the command and measured peak of its last `peaks` runs that have one.
    pub fn read(
        conn: &rusqlite::Connection,
        model_id: i64,
        peaks: i64,
    ) -> Result<RunHistory, AppError> {
        Ok(RunHistory {
            typical_load_ms: crate::domain::run::typical_load_ms(runs_repo::load_times(
                conn, model_id, 5,
            )?),
            measured_peaks: runs_repo::measured_peaks(conn, model_id, peaks)?,
        })
    }
}

#[derive(Clone)]
pub struct RunsStore {
    db: Db,
}

impl RunsStore {
    pub fn new(db: Db) -> RunsStore {
        RunsStore { db }
    }

    /// Runs recorded as alive, and the models whose status says a process may exist: what
    /// start-up reconciles.
    pub async fn alive(&self) -> Result<(Vec<Run>, Vec<i64>), AppError> {
        self.db
            .call(|conn| Ok((runs_repo::alive(conn)?, models_repo::active_ids(conn)?)))
            .await
    }

    /// A page of the model's runs, newest first; 404 for an unknown model.
    pub async fn page(&self, model_id: i64, page: Page) -> Result<Vec<Run>, AppError> {
        let limit = page.limit()?;
        self.db
            .call(move |conn| {
                if models_repo::get(conn, model_id)?.is_none() {
                    return Err(AppError::not_found("model", model_id));
                }
                Ok(runs_repo::for_model(conn, model_id, limit, page.before)?)
            })
            .await
    }
}
