//! Metrics history: `metric_samples` (raw, recent) and `metric_rollups` (one-minute buckets).

use std::collections::BTreeMap;

use rusqlite::{Connection, params};

use crate::domain::metrics::{HistoryQuery, Point, Series, unit_of};
use crate::server::db::write_transaction;

pub const MINUTE_MS: i64 = 60_000;

/// Stores a batch of `(series, at, value)` in one transaction.
pub fn insert(conn: &mut Connection, samples: &[(String, i64, f64)]) -> rusqlite::Result<()> {
    let tx = write_transaction(conn)?;
    {
        let mut stmt = tx
            .prepare_cached("INSERT INTO metric_samples (series, at, value) VALUES (?1, ?2, ?3)")?;
        for (series, at, value) in samples {
            stmt.execute(params![series, at, value])?;
        }
    }
    tx.commit()
}

/// Folds raw samples older than `raw_cutoff` into minute buckets (whole minutes only), drops
/// them, and drops roll-ups older than `rollup_cutoff`. One transaction: a crash loses nothing.
pub fn downsample(
    conn: &mut Connection,
    raw_cutoff: i64,
    rollup_cutoff: i64,
) -> rusqlite::Result<()> {
    let cutoff = raw_cutoff.div_euclid(MINUTE_MS) * MINUTE_MS;
    let tx = write_transaction(conn)?;
    tx.execute(
        "INSERT INTO metric_rollups (series, bucket, min, max, avg, count)
         SELECT series, (at / ?2) * ?2, min(value), max(value), avg(value), count(*)
         FROM metric_samples WHERE at < ?1 GROUP BY series, (at / ?2)
         ON CONFLICT (series, bucket) DO UPDATE SET
             min = min(metric_rollups.min, excluded.min),
             max = max(metric_rollups.max, excluded.max),
             avg = (metric_rollups.avg * metric_rollups.count + excluded.avg * excluded.count)
                   / (metric_rollups.count + excluded.count),
             count = metric_rollups.count + excluded.count",
        params![cutoff, MINUTE_MS],
    )?;
    tx.execute("DELETE FROM metric_samples WHERE at < ?1", [cutoff])?;
    tx.execute(
        "DELETE FROM metric_rollups WHERE bucket < ?1",
        [rollup_cutoff],
    )?;
    tx.commit()
}

/// Every series in the range, at most `points` points each: raw samples and roll-ups are
/// merged into equal time buckets (mean weighted by sample count).
pub fn query(conn: &Connection, q: &HistoryQuery) -> rusqlite::Result<Vec<Series>> {
    let span = (q.to - q.from).max(1);
    let points = i64::from(q.points.max(1));
    let mut stmt = conn.prepare_cached(
        "WITH rows (series, at, min, max, avg, count) AS (
             SELECT series, at, value, value, value, 1 FROM metric_samples WHERE at >= ?1 AND at < ?2
             UNION ALL
             SELECT series, bucket, min, max, avg, count FROM metric_rollups WHERE bucket >= ?1 AND bucket < ?2
         )
         SELECT series, (at - ?1) * ?3 / ?4 AS slot, min(min), max(max), sum(avg * count) / sum(count)
         FROM rows GROUP BY series, slot ORDER BY series, slot",
    )?;
    let mut by_series: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    let rows = stmt.query_map(params![q.from, q.to, points, span], |row| {
        let slot: i64 = row.get(1)?;
        Ok((
            row.get::<_, String>(0)?,
            Point {
                at: q.from + slot * span / points,
                min: row.get(2)?,
                max: row.get(3)?,
                avg: row.get(4)?,
            },
        ))
    })?;
    for row in rows {
        let (series, point) = row?;
        by_series.entry(series).or_default().push(point);
    }
    Ok(by_series
        .into_iter()
        .map(|(name, points)| Series {
            unit: unit_of(&name),
            name,
            points,
        })
        .collect())
}
