//! The metrics history: samples written in batches, folded into roll-ups, and queried for
//! charts. The collector and the run tasks record here; the API reads here.

use crate::domain::AppError;
use crate::domain::metrics::{HistoryQuery, Series, SeriesKey};
use crate::server::db::{Db, metrics_repo};

/// One reading: its series, Unix milliseconds, value.
pub type Reading = (SeriesKey, i64, f64);

#[derive(Clone)]
pub struct MetricsHistory {
    db: Db,
}

impl MetricsHistory {
    /// Days of roll-ups kept, as the database's retention says now.
    pub fn retention_days(&self) -> u32 {
        self.db.retention().metrics_days
    }

    pub fn new(db: Db) -> MetricsHistory {
        MetricsHistory { db }
    }

    pub async fn record(&self, readings: Vec<Reading>) -> Result<(), AppError> {
        self.db
            .call(move |conn| Ok(metrics_repo::insert(conn, &readings)?))
            .await
    }

    /// Folds raw samples older than `raw_cutoff` into minute roll-ups and drops roll-ups older
    /// than `rollup_cutoff` (both Unix milliseconds).
    pub async fn downsample(&self, raw_cutoff: i64, rollup_cutoff: i64) -> Result<(), AppError> {
        self.db
            .call(move |conn| Ok(metrics_repo::downsample(conn, raw_cutoff, rollup_cutoff)?))
            .await
            .map(drop)
    }

    /// Metrics between two times, at most `points` points per series.
    pub async fn query(&self, query: HistoryQuery) -> Result<Vec<Series>, AppError> {
        query.validate()?;
        self.db
            .call(move |conn| Ok(metrics_repo::query(conn, &query)?))
            .await
    }
}
