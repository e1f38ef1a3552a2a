//! Metrics history storage, measured in-process on a real SQLite file (run by `scripts/bench`):
//! the insert rate in the collector's shape (one transaction per second's samples) and in bulk,
//! then seven days of history for 16 series — one sample a minute folded into roll-ups by the
//! real downsampler, plus the last hour raw at one a second — queried as 500 points.
//! The database is left in `--data-dir` so `corral-bench` can query it through the release
//! server; the figures go to `--out` as JSON.
//!
//! cargo bench --features ssr --bench metrics_history -- --data-dir DIR --out FILE
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test states what it expects by failing loudly

use std::path::PathBuf;
use std::time::{Duration, Instant};

use corral::domain::metrics::HistoryQuery;
use corral::domain::metrics::SeriesKey;
use corral::server::db::{Db, metrics_repo};
use serde_json::json;

/// The series a machine with one GPU and two running models records.
const SERIES: usize = 16;
const DAY_MS: i64 = 24 * 3600 * 1000;

fn series_names() -> Vec<SeriesKey> {
    use corral::domain::metrics::{Reading, SeriesSource};
    let system = [
        SeriesKey::new(SeriesSource::Host, Reading::CpuPercent),
        SeriesKey::new(SeriesSource::Host, Reading::MemoryUsedBytes),
        SeriesKey::new(SeriesSource::Host, Reading::DiskUsedBytes),
        SeriesKey::new(SeriesSource::Corral, Reading::RssBytes),
    ];
    let gpu = [
        Reading::UtilizationPercent,
        Reading::MemoryUsedBytes,
        Reading::TemperatureC,
        Reading::PowerWatts,
    ];
    let model = [
        Reading::GenerationTokensPerS,
        Reading::RequestsProcessing,
        Reading::SlotsBusy,
        Reading::RssBytes,
    ];
    system
        .into_iter()
        .chain(gpu.map(|r| SeriesKey::new(SeriesSource::Gpu(0), r)))
        .chain((1..=2).flat_map(|m| model.map(move |r| SeriesKey::new(SeriesSource::Model(m), r))))
        .collect()
}

fn percentile_ms(mut samples: Vec<Duration>, p: f64) -> f64 {
    samples.sort_unstable();
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1].as_secs_f64() * 1000.0
}

async fn insert(db: &Db, rows: Vec<(SeriesKey, i64, f64)>) -> Duration {
    let started = Instant::now();
    db.call(move |conn| Ok(metrics_repo::insert(conn, &rows)?))
        .await
        .expect("samples are stored");
    started.elapsed()
}

// The measurement, step by step as the published table reads (a bench, not Corral's code).
#[allow(clippy::too_many_lines)]
#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (mut dir, mut out) = (None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data-dir" => dir = args.next().map(PathBuf::from),
            "--out" => out = args.next().map(PathBuf::from),
            _ => {} // cargo's own `--bench`
        }
    }
    let dir = dir.unwrap_or_else(|| std::env::temp_dir().join("corral-history-bench"));
    let _ = std::fs::remove_dir_all(&dir);
    let db = Db::open(&dir.join("corral.db"))
        .await
        .expect("the database opens");
    let names = series_names();
    assert_eq!(names.len(), SERIES);
    let now = corral::server::now_ms();

    // The collector's shape: one transaction per second holding every series' sample.
    let seconds = 2000;
    let mut per_batch = Vec::new();
    let started = Instant::now();
    for second in 0..seconds {
        let at = now - DAY_MS * 30 + second * 1000;
        let rows = names.iter().map(|n| (*n, at, 1.0)).collect();
        per_batch.push(insert(&db, rows).await);
    }
    let collector_rate = (seconds as usize * SERIES) as f64 / started.elapsed().as_secs_f64();
    let collector = json!({
        "samples_per_second": collector_rate.round(),
        "batch_median_ms": percentile_ms(per_batch.clone(), 50.0),
        "batch_p99_ms": percentile_ms(per_batch, 99.0),
    });

    // Seven days, one sample a minute per series, in 1,000-sample transactions.
    let minutes = 7 * 24 * 60;
    let all: Vec<(SeriesKey, i64, f64)> = (0..minutes)
        .flat_map(|m| {
            let at = now - 7 * DAY_MS + m * 60_000;
            names.iter().map(move |n| (*n, at, (m % 100) as f64))
        })
        .collect();
    let bulk_count = all.len();
    let started = Instant::now();
    for chunk in all.chunks(1000) {
        insert(&db, chunk.to_vec()).await;
    }
    let bulk_rate = bulk_count as f64 / started.elapsed().as_secs_f64();
    let hour_ago = now - 3600 * 1000;
    let started = Instant::now();
    db.call(move |conn| Ok(metrics_repo::downsample(conn, hour_ago, now - 7 * DAY_MS)?))
        .await
        .expect("the history is downsampled");
    let downsample_ms = started.elapsed().as_secs_f64() * 1000.0;
    // The last hour raw, as the collector leaves it.
    let recent: Vec<(SeriesKey, i64, f64)> = (0..3600)
        .flat_map(|s| {
            names
                .iter()
                .map(move |n| (*n, hour_ago + s * 1000, (s % 100) as f64))
        })
        .collect();
    for chunk in recent.chunks(1000) {
        insert(&db, chunk.to_vec()).await;
    }
    let (raw, rollups, tiers): (i64, i64, i64) = db
        .call(|conn| {
            let count =
                |table| conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0));
            Ok((
                count("metric_samples")?,
                count("metric_rollups")?,
                count("metric_tiers")?,
            ))
        })
        .await
        .expect("rows are counted");

    // Seven days as 500 points per series.
    let query = HistoryQuery {
        from: now - 7 * DAY_MS,
        to: now,
        points: 500,
    };
    let mut times = Vec::new();
    for _ in 0..30 {
        let started = Instant::now();
        let asked = query.clone();
        let series = db
            .call(move |conn| Ok(metrics_repo::query(conn, &asked)?))
            .await
            .expect("the history is queried");
        times.push(started.elapsed());
        assert_eq!(series.len(), SERIES, "every series comes back");
        assert!(series.iter().all(|s| s.points.len() <= 500));
    }
    let report = json!({
        "series": SERIES,
        "insert_collector_batches": collector,
        "insert_bulk_samples_per_second": bulk_rate.round(),
        "downsample_7_days_ms": downsample_ms.round(),
        "rows": {"raw": raw, "rollups": rollups, "tiers": tiers},
        "query_7_days_500_points": {
            "median_ms": percentile_ms(times.clone(), 50.0),
            "p99_ms": percentile_ms(times, 99.0),
        },
        "from": query.from,
        "to": query.to,
    });
    println!("{}", serde_json::to_string_pretty(&report).expect("JSON"));
    if let Some(out) = out {
        std::fs::write(&out, report.to_string()).expect("the results file is written");
    }
}
