//! Metrics history on temp-file SQLite: insert, query, downsample, retention; and the real probe.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly
#![allow(clippy::too_many_lines)] // a test is one scenario, read top to bottom

mod common;

use axum::http::StatusCode;
use common::TestApp;
use corral::domain::metrics::{HistoryQuery, Reading, Series, SeriesKey, SeriesSource, Unit};
use corral::server::db::metrics_repo::{self, MINUTE_MS, TIERS_MS};
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

const HOUR_MS: i64 = 60 * MINUTE_MS;

/// Three hours of two series, a sample every 5 s with scattered values, starting at `start`:
/// stored in batches of 100 with a downsample (raw → minutes) after every tenth batch, as the
/// collector interleaves them. Returns every sample stored.
async fn three_hours_scattered(app: &TestApp, start: i64) -> Vec<(SeriesKey, i64, f64)> {
    let keys = [
        SeriesKey::new(SeriesSource::Host, Reading::CpuPercent),
        SeriesKey::new(SeriesSource::Model(7), Reading::SlotsBusy),
    ];
    let samples: Vec<(SeriesKey, i64, f64)> = (0..3 * 720_i64)
        .flat_map(|i| {
            keys.iter().enumerate().map(move |(k, key)| {
                (
                    *key,
                    start + i * 5000,
                    ((i * 7919 + k as i64 * 104_729) % 1000) as f64 / 8.0,
                )
            })
        })
        .collect();
    for (n, batch) in samples.chunks(100).enumerate() {
        let rows = batch.to_vec();
        let last = rows[rows.len() - 1].1;
        app.db
            .call(move |c| Ok(metrics_repo::insert(c, &rows)?))
            .await
            .unwrap();
        if n % 10 == 9 {
            app.db
                .call(move |c| Ok(metrics_repo::downsample(c, last - 10 * MINUTE_MS, 0)?))
                .await
                .unwrap();
        }
    }
    samples
}

/// Min, max, mean and count of the samples of `series` in `[from, to)`.
fn summary(
    samples: &[(SeriesKey, i64, f64)],
    series: SeriesKey,
    from: i64,
    to: i64,
) -> (f64, f64, f64, i64) {
    let values: Vec<f64> = samples
        .iter()
        .filter(|(key, at, _)| *key == series && (from..to).contains(at))
        .map(|(_, _, value)| *value)
        .collect();
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    (min, max, mean, values.len() as i64)
}

#[tokio::test]
async fn each_coarse_tier_bucket_holds_the_min_max_and_mean_of_its_raw_samples() {
    let app = TestApp::new().await;
    let start = 1_700_000_000_000 - 1_700_000_000_000 % HOUR_MS;
    let samples = three_hours_scattered(&app, start).await;
    let rows: Vec<(i64, i64, String, f64, f64, f64, i64)> = app
        .db
        .call(|c| {
            let mut stmt = c.prepare(
                "SELECT width, bucket, series, min, max, sum, count FROM metric_tiers
                 ORDER BY width, bucket, series",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
        .unwrap();
    // 18 ten-minute and 3 hourly buckets, for each of the two series.
    assert_eq!(rows.len(), (18 + 3) * 2);
    assert_eq!(TIERS_MS, [10 * MINUTE_MS, HOUR_MS]);
    for (width, bucket, series, min, max, sum, count) in rows {
        let key = SeriesKey::parse(&series).unwrap();
        let (raw_min, raw_max, raw_mean, raw_count) =
            summary(&samples, key, bucket, bucket + width);
        assert_eq!(
            (min, max, count),
            (raw_min, raw_max, raw_count),
            "{series} at {bucket} ({width} ms)"
        );
        assert!(
            (sum / count as f64 - raw_mean).abs() < 1e-9,
            "{series} at {bucket} ({width} ms): mean {} against {raw_mean} from the raw samples",
            sum / count as f64
        );
    }
}

#[tokio::test]
async fn a_long_range_reads_the_widest_tier_that_fits_and_agrees_with_the_raw_samples() {
    let app = TestApp::new().await;
    let start = 1_700_000_000_000 - 1_700_000_000_000 % HOUR_MS;
    let samples = three_hours_scattered(&app, start).await;
    let cpu = SeriesKey::new(SeriesSource::Host, Reading::CpuPercent);
    // 18 points 10 minutes apart (the 10-minute tier), 3 an hour apart (the hourly one), and 36
    // five minutes apart (minute roll-ups and raw samples): each point is its window's samples.
    for (points, spacing) in [(18, 10 * MINUTE_MS), (3, HOUR_MS), (36, 5 * MINUTE_MS)] {
        let series = query(&app, start, start + 3 * HOUR_MS, points).await;
        let cpu_points = &series.iter().find(|s| s.key == cpu).unwrap().points;
        assert_eq!(cpu_points.len(), points as usize, "{points} points");
        for (n, point) in cpu_points.iter().enumerate() {
            let from = start + n as i64 * spacing;
            let (min, max, mean, _) = summary(&samples, cpu, from, from + spacing);
            assert_eq!(
                (point.at, point.min, point.max),
                (from, min, max),
                "point {n} of {points}"
            );
            assert!(
                (point.avg - mean).abs() < 1e-9,
                "point {n} of {points}: {} against {mean}",
                point.avg
            );
        }
    }
}

#[tokio::test]
async fn a_coarse_bucket_is_dropped_only_once_all_of_it_is_past_retention() {
    let app = TestApp::new().await;
    let start = 1_700_000_000_000 - 1_700_000_000_000 % HOUR_MS;
    three_hours_scattered(&app, start).await;
    let buckets = |width: i64| {
        let db = app.db.clone();
        async move {
            db.call(move |c| {
                Ok(c.query_row(
                    "SELECT count(DISTINCT bucket) FROM metric_tiers WHERE width = ?1",
                    [width],
                    |r| r.get::<_, i64>(0),
                )?)
            })
            .await
            .unwrap()
        }
    };
    // Retention ends 90 minutes in: the first hour goes, the second (half kept) stays.
    let cutoff = start + 90 * MINUTE_MS;
    app.db
        .call(move |c| Ok(metrics_repo::downsample(c, cutoff, cutoff)?))
        .await
        .unwrap();
    assert_eq!(buckets(HOUR_MS).await, 2);
    assert_eq!(buckets(10 * MINUTE_MS).await, 9);
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
