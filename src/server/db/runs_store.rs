//! The runs of model servers, for the supervisor and its run tasks: each call one statement (or
//! one insert and its pruning) on a pooled connection. The SQL is `runs_repo`'s.

use crate::domain::AppError;
use crate::domain::page::Page;
use crate::domain::run::{FailureReason, Run};
use crate::server::db::runs_repo::{self, Ending};
use crate::server::db::{Db, models_repo};

#[derive(Clone)]
pub struct RunsStore {
    db: Db,
}

impl RunsStore {
    pub fn new(db: Db) -> RunsStore {
        RunsStore { db }
    }

    fn keep(&self) -> i64 {
        self.db.retention().runs_per_model
    }

    /// Records a process that was just spawned (older ended runs beyond the retention go).
    pub async fn started(
        &self,
        model_id: i64,
        pid: u32,
        port: u16,
        command: Vec<String>,
        at: i64,
    ) -> Result<i64, AppError> {
        let keep = self.keep();
        self.db
            .call(move |conn| {
                let id = runs_repo::insert(conn, model_id, pid, port, &command, at)?;
                runs_repo::prune(conn, model_id, keep)?;
                Ok(id)
            })
            .await
    }

    /// Records a start that failed before any process existed.
    pub async fn failed_to_start(
        &self,
        model_id: i64,
        command: Vec<String>,
        at: i64,
        failure: FailureReason,
        message: String,
    ) -> Result<(), AppError> {
        let keep = self.keep();
        self.db
            .call(move |conn| {
                runs_repo::insert_failed(conn, model_id, &command, at, failure, &message)?;
                Ok(runs_repo::prune(conn, model_id, keep).map(drop)?)
            })
            .await
    }

    /// Marks the run ready, keeping the log so far (the part worth having if Corral dies).
    pub async fn ready(&self, run_id: i64, at: i64, tail: Vec<String>) -> Result<(), AppError> {
        self.db
            .call(move |conn| {
                runs_repo::mark_ready(conn, run_id, at)?;
                Ok(runs_repo::save_tail(conn, run_id, &tail)?)
            })
            .await
    }

    /// The median of the model's last five load times, if it ever loaded.
    pub async fn typical_load_ms(&self, model_id: i64) -> Result<Option<i64>, AppError> {
        let times = self
            .db
            .call(move |conn| Ok(runs_repo::load_times(conn, model_id, 5)?))
            .await?;
        Ok(crate::domain::run::typical_load_ms(times))
    }

    /// The command and measured peak of the model's last `limit` runs that have one.
    pub async fn measured_peaks(
        &self,
        model_id: i64,
        limit: i64,
    ) -> Result<Vec<(Vec<String>, u64)>, AppError> {
        self.db
            .call(move |conn| Ok(runs_repo::measured_peaks(conn, model_id, limit)?))
            .await
    }

    pub async fn record_peak(&self, run_id: i64, bytes: u64) -> Result<(), AppError> {
        self.db
            .call(move |conn| Ok(runs_repo::record_peak(conn, run_id, bytes)?))
            .await
    }

    pub async fn save_tail(&self, run_id: i64, tail: Vec<String>) -> Result<(), AppError> {
        self.db
            .call(move |conn| Ok(runs_repo::save_tail(conn, run_id, &tail)?))
            .await
    }

    pub async fn finish(&self, run_id: i64, ending: Ending) -> Result<(), AppError> {
        self.db
            .call(move |conn| Ok(runs_repo::finish(conn, run_id, &ending)?))
            .await
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
