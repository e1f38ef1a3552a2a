//! Metering: every gateway request becomes an activity record. A `Meter` follows the request;
//! its record is counted at once (Prometheus) and handed to one writer task, which stores
//! records in batches, tells every tab, and drops records past their retention. The writer's
//! queue is bounded: a record that finds it full is counted as dropped, never waited for.

pub mod answer_reader;
pub mod counters;
pub mod meter;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::domain::AppError;
use crate::domain::Rule;
use crate::domain::activity::{
    Activity, ActivityPoint, ActivityQuery, ActivitySeries, SeriesQuery, quantile,
};
use crate::domain::live::{RECENT_ACTIVITY, ServerEvent};
use crate::server::db::{Db, activity_repo};
use crate::server::live::Hub;
use crate::server::metering::counters::Counters;
use crate::server::now_ms;

/// Records waiting for the writer before new ones are dropped.
const QUEUE: usize = 4096;
/// Records stored (and sent to the tabs) in one go, at most.
const BATCH: usize = 512;
/// The writer's pause between batches: bounds the events every tab hears under load.
const PAUSE: Duration = Duration::from_millis(200);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// Longest range a chart may ask for, and the most requests it is drawn from.
const MAX_SERIES_RANGE_MS: i64 = 31 * 24 * 3600 * 1000;
const MAX_SERIES_ROWS: i64 = 100_000;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// Each request's meter holds one: a reference count, not a copy.
#[derive(Clone)]
pub struct Metering(Arc<Parts>);

struct Parts {
    queue: mpsc::Sender<Activity>,
    counters: Counters,
    db: Db,
}

impl Metering {
    /// Starts the writer. Records are kept as many days as the database's retention says.
    pub fn start(db: Db, hub: Hub) -> Metering {
        let (queue, records) = mpsc::channel(QUEUE);
        tokio::spawn(write(db.clone(), hub, records));
        Metering(Arc::new(Parts {
            queue,
            counters: Counters::default(),
            db,
        }))
    }

    /// Counts a finished request and queues its record for the writer.
    pub(super) fn record(&self, record: Activity) {
        let record = record.with_bounded_texts();
        self.0.counters.count(&record);
        if self.0.queue.try_send(record).is_err() {
            self.0.counters.dropped.inc();
            tracing::warn!("an activity record was dropped: the writer is behind");
        }
    }

    /// `/metrics`: the gateway's counters and histograms.
    pub fn encode(&self, out: &mut String) {
        self.0.counters.encode(out);
    }

    /// Requests and tokens per caller (key prefix, or `session`) over the last 24 hours and
    /// 30 days.
    pub async fn usage_by_caller(&self) -> Result<Vec<crate::domain::api_key::KeyUsage>, AppError> {
        const DAY: i64 = 24 * 3_600_000;
        let now = crate::server::now_ms();
        self.0
            .db
            .call(move |conn| {
                Ok(activity_repo::usage_by_caller(
                    conn,
                    now - DAY,
                    now - 30 * DAY,
                )?)
            })
            .await
    }

    /// One page of requests, newest first.
    pub async fn list(&self, query: ActivityQuery) -> Result<Vec<Activity>, AppError> {
        let limit = query.page.limit()?;
        self.0
            .db
            .call(move |conn| Ok(activity_repo::list(conn, &query, limit)?))
            .await
    }

    /// Per model: requests, time-to-first-token percentiles and mean generation speed in
    /// `points` equal buckets of the range.
    pub async fn series(&self, query: SeriesQuery) -> Result<Vec<ActivitySeries>, AppError> {
        let span = query.to - query.from;
        if span <= 0 || span > MAX_SERIES_RANGE_MS {
            return Err(AppError::invalid(
                "to",
                Rule::Range,
                "must be after `from`, by at most 31 days",
            ));
        }
        if !(1..=500).contains(&query.points) {
            return Err(AppError::invalid(
                "points",
                Rule::Range,
                "must be between 1 and 500",
            ));
        }
        let rows = self
            .0
            .db
            .call(move |conn| {
                Ok(activity_repo::between(
                    conn,
                    query.from,
                    query.to,
                    MAX_SERIES_ROWS,
                )?)
            })
            .await?;
        Ok(series_of(&rows, query))
    }
}

/// Buckets the requests of each model (requests that matched no model are left out).
fn series_of(rows: &[Activity], query: SeriesQuery) -> Vec<ActivitySeries> {
    let width = ((query.to - query.from) as f64 / f64::from(query.points)).max(1.0);
    // model id → (latest name, bucket → (ttfts, speeds, requests))
    type Bucket = (Vec<f64>, Vec<f64>, u32);
    let mut models: BTreeMap<i64, (String, BTreeMap<u32, Bucket>)> = BTreeMap::new();
    for row in rows {
        let Some(model_id) = row.model_id else {
            continue;
        };
        let index = (((row.received_at - query.from) as f64 / width) as u32).min(query.points - 1);
        let (name, buckets) = models.entry(model_id).or_default();
        name.clone_from(&row.model);
        let (ttfts, speeds, requests) = buckets.entry(index).or_default();
        *requests += 1;
        if let Some(ttft) = row.ttft_ms {
            ttfts.push(ttft as f64);
        }
        if let Some(speed) = row.generation_tokens_per_s {
            speeds.push(speed);
        }
    }
    models
        .into_iter()
        .map(|(model_id, (model, buckets))| ActivitySeries {
            model_id,
            model,
            points: buckets
                .into_iter()
                .map(|(index, (mut ttfts, speeds, requests))| {
                    ttfts.sort_by(f64::total_cmp);
                    ActivityPoint {
                        at: query.from + (f64::from(index) * width) as i64,
                        requests,
                        ttft_p50_ms: quantile(&ttfts, 0.5),
                        ttft_p90_ms: quantile(&ttfts, 0.9),
                        ttft_p99_ms: quantile(&ttfts, 0.99),
                        generation_tokens_per_s: (!speeds.is_empty())
                            .then(|| speeds.iter().sum::<f64>() / speeds.len() as f64),
                    }
                })
                .collect(),
        })
        .collect()
}

/// The writer: a batch at a time, stored, then heard by every tab; old records pruned hourly.
async fn write(db: Db, hub: Hub, mut records: mpsc::Receiver<Activity>) {
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    loop {
        let first = tokio::select! {
            first = records.recv() => first,
            _ = prune.tick() => {
                let cutoff = now_ms() - i64::from(db.retention().activity_days) * DAY_MS;
                if let Err(error) = db.call(move |conn| Ok(activity_repo::prune(conn, cutoff)?)).await {
                    tracing::warn!(%error, "could not prune old activity");
                }
                continue;
            }
        };
        let Some(first) = first else { return };
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match records.try_recv() {
                Ok(record) => batch.push(record),
                Err(_) => break,
            }
        }
        let stored = db
            .call(move |conn| {
                activity_repo::insert(conn, &mut batch)?;
                Ok(batch)
            })
            .await;
        match stored {
            // Tabs keep only the latest few: a busy batch is not sent whole to every tab.
            Ok(mut batch) => {
                batch.drain(..batch.len().saturating_sub(RECENT_ACTIVITY));
                hub.publish(ServerEvent::Activity(batch));
            }
            Err(error) => tracing::warn!(%error, "could not store activity records"),
        }
        tokio::time::sleep(PAUSE).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_fall_into_their_models_buckets() {
        let row = |model_id, at, ttft| Activity {
            model_id: Some(model_id),
            model: format!("m{model_id}"),
            received_at: at,
            ttft_ms: Some(ttft),
            generation_tokens_per_s: Some(10.0),
            ..Activity::default()
        };
        let rows = [
            row(1, 0, 100),
            row(1, 5, 300),
            row(2, 60, 50),
            row(1, 99, 20),
        ];
        let series = series_of(
            &rows,
            SeriesQuery {
                from: 0,
                to: 100,
                points: 2,
            },
        );
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].points.len(), 2);
        assert_eq!(series[0].points[0].requests, 2);
        assert_eq!(series[0].points[0].ttft_p50_ms, Some(100.0));
        assert_eq!(series[0].points[0].ttft_p99_ms, Some(300.0));
        assert_eq!(series[0].points[1].at, 50);
        assert_eq!(series[1].model, "m2");
    }
}
