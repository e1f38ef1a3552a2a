//! Metrics history on temp-file SQLite: insert, query, downsample, retention; and the real probe.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly

mod common;

use axum::http::StatusCode;
use common::TestApp;
use corral::domain::metrics::{HistoryQuery, Reading, Series, SeriesKey, SeriesSource, Unit};
use corral::server::db::metrics_repo::{self, MINUTE_MS};
use corral::server::metrics::system::SystemProbe;
use serde_json::json;

/// One `cpu_percent` sample per second from `start`, values 0, 1, 2, …
async fn insert_seconds(app: &TestApp, start: i64, count: i64) {
    let cpu = SeriesKey::new(SeriesSource::Host, Reading::CpuPercent);
    let rows: Vec<(SeriesKey, i64, f64)> = (0..count)
        .map(|i| (cpu, start + i * 1000, i as f64))
        .collect();
    app.db
        .call(move |conn| Ok(metrics_repo::insert(conn, &rows)?))
        .await
        .unwrap();
}

async fn query(app: &TestApp, from: i64, to: i64, points: u32) -> Vec<Series> {
    corral::server::metrics::history::MetricsHistory::new(app.db.clone())
        .query(HistoryQuery { from, to, points })
        .await
        .unwrap()
}

async fn count(app: &TestApp, table: &'static str) -> i64 {
    app.db
        .call(move |c| Ok(c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?))
        .await
        .unwrap()
}

#[tokio::test]
async fn stored_samples_come_back_as_at_most_the_asked_number_of_points() {
    let app = TestApp::new().await;
    insert_seconds(&app, 0, 600).await;
    let series = query(&app, 0, 600_000, 60).await;
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].key.name(), "cpu_percent");
    assert_eq!(series[0].key.unit(), Unit::Percent);
    let points = &series[0].points;
    assert_eq!(points.len(), 60);
    // The first bucket holds seconds 0..10: values 0..=9.
    assert_eq!(
        (points[0].at, points[0].min, points[0].max, points[0].avg),
        (0, 0.0, 9.0, 4.5)
    );
    assert_eq!(points[59].at, 590_000);
}

#[tokio::test]
async fn downsampling_folds_old_samples_into_minutes_and_keeps_their_mean() {
    let app = TestApp::new().await;
    insert_seconds(&app, 0, 180).await;
    let before = query(&app, 0, 180_000, 3).await;
    // Samples before 2:00 become roll-ups; the third minute stays raw.
    app.db
        .call(|c| Ok(metrics_repo::downsample(c, 2 * MINUTE_MS + 30_000, 0)?))
        .await
        .unwrap();
    assert_eq!(count(&app, "metric_rollups").await, 2);
    assert_eq!(count(&app, "metric_samples").await, 60);
    let after = query(&app, 0, 180_000, 3).await;
    assert_eq!(
        before, after,
        "one-minute points read the same from roll-ups as from raw samples"
    );
}

#[tokio::test]
async fn downsampling_twice_merges_into_the_same_buckets() {
    let app = TestApp::new().await;
    insert_seconds(&app, 0, 30).await;
    app.db
        .call(|c| Ok(metrics_repo::downsample(c, MINUTE_MS, 0)?))
        .await
        .unwrap();
    insert_seconds(&app, 30_000, 30).await;
    app.db
        .call(|c| Ok(metrics_repo::downsample(c, MINUTE_MS, 0)?))
        .await
        .unwrap();
    let point = query(&app, 0, MINUTE_MS, 1).await[0].points[0];
    assert_eq!(count(&app, "metric_rollups").await, 1);
    // Values 0..30 and 0..30 again: mean 14.5 over 60 samples.
    assert_eq!((point.min, point.max, point.avg), (0.0, 29.0, 14.5));
}

#[tokio::test]
async fn roll_ups_past_retention_are_dropped() {
    let app = TestApp::new().await;
    insert_seconds(&app, 0, 120).await;
    app.db
        .call(|c| Ok(metrics_repo::downsample(c, 2 * MINUTE_MS, MINUTE_MS)?))
        .await
        .unwrap();
    let series = query(&app, 0, 2 * MINUTE_MS, 2).await;
    assert_eq!(series[0].points.len(), 1, "only the second minute is kept");
    assert_eq!(series[0].points[0].at, MINUTE_MS);
}

#[tokio::test]
async fn the_history_api_names_what_is_wrong_with_a_query() {
    let app = TestApp::new().await;
    let reply = app
        .post(
            "/api/metrics/history",
            json!({"query": {"from": 5000, "to": 1000, "points": 0}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.field_rules(),
        [
            ("to".to_string(), "range".to_string()),
            ("points".to_string(), "range".to_string())
        ]
    );
    let ok = app
        .post(
            "/api/metrics/history",
            json!({"query": {"from": 0, "to": 1000, "points": 10}}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.json(), json!([]));
}

#[test]
fn the_probe_reads_real_numbers_from_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let mut probe = SystemProbe::new(dir.path()).expect("Linux can be read");
    assert!(
        probe.sample().is_none(),
        "the first reading only primes the CPU counters"
    );
    std::thread::sleep(std::time::Duration::from_millis(250));
    let sample = probe.sample().expect("a second reading");
    assert!((0.0..=100.0).contains(&sample.cpu_percent));
    assert!(sample.memory_total_bytes > 0 && sample.memory_used_bytes <= sample.memory_total_bytes);
    assert!(sample.disk_total_bytes > 0 && sample.disk_used_bytes <= sample.disk_total_bytes);
    assert!(
        sample.corral_rss_bytes > 0,
        "this process has resident memory"
    );
}
