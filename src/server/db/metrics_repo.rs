//! Metrics history: `metric_samples` (raw, recent), `metric_rollups` (one-minute buckets) and
//! `metric_tiers` (10-minute and hourly buckets, written as samples arrive).

use rusqlite::{Connection, params};

use crate::domain::metrics::{HistoryQuery, Point, Series, SeriesKey};
use crate::server::db::write_transaction;

pub const MINUTE_MS: i64 = 60_000;

/// The coarser roll-ups' bucket widths, narrowest first. Each holds every sample, so a query
/// whose points are at least this far apart reads one of these tables alone.
pub const TIERS_MS: [i64; 2] = [10 * MINUTE_MS, 60 * MINUTE_MS];

/// Stores a batch of `(series, at, value)` in one transaction; a series is stored by name.
/// Each sample is added to its bucket of every tier in the same transaction, so the tiers are
/// current to the last sample and a crash leaves them agreeing with the raw table.
pub fn insert(conn: &mut Connection, samples: &[(SeriesKey, i64, f64)]) -> rusqlite::Result<()> {
    let tx = write_transaction(conn)?;
    {
        let mut raw = tx
            .prepare_cached("INSERT INTO metric_samples (series, at, value) VALUES (?1, ?2, ?3)")?;
        let mut tier = tx.prepare_cached(
            "INSERT INTO metric_tiers (width, bucket, series, min, max, sum, count)
             VALUES (?1, ?2, ?3, ?4, ?4, ?4, 1)
             ON CONFLICT (width, bucket, series) DO UPDATE SET
                 min = min(metric_tiers.min, excluded.min),
                 max = max(metric_tiers.max, excluded.max),
                 sum = metric_tiers.sum + excluded.sum,
                 count = metric_tiers.count + 1",
        )?;
        for (series, at, value) in samples {
            let name = series.name();
            raw.execute(params![name, at, value])?;
            for width in TIERS_MS {
                tier.execute(params![width, at.div_euclid(width) * width, name, value])?;
            }
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
    // A coarse bucket goes once all of it is past retention.
    for width in TIERS_MS {
        tx.execute(
            "DELETE FROM metric_tiers WHERE width = ?1 AND bucket <= ?2 - ?1",
            params![width, rollup_cutoff],
        )?;
    }
    tx.commit()
}

/// Every series in the range, at most `points` points each, merged into equal time buckets
/// (mean weighted by sample count). Points at least 10 minutes apart are read from the widest
/// tier that fits between two points; closer ones from raw samples and minute roll-ups. The
/// buckets are filled here in one pass: a SQL `GROUP BY` on the computed bucket sorted every
/// row first, which was most of a 7-day query's time (`scripts/bench`, metrics history).
pub fn query(conn: &Connection, q: &HistoryQuery) -> rusqlite::Result<Vec<Series>> {
    let mut buckets = Buckets::new(q);
    let spacing = (q.to - q.from) / i64::from(q.points.max(1));
    if let Some(width) = TIERS_MS.into_iter().rev().find(|w| *w <= spacing) {
        // The bucket holding `from` counts toward the first point: a tier bucket is never wider
        // than a point, so a point's window moves by less than its own width.
        let mut tier = conn.prepare_cached(
            "SELECT series, bucket, min, max, sum, count FROM metric_tiers
             WHERE width = ?1 AND bucket >= ?2 AND bucket < ?3",
        )?;
        let mut rows = tier.query(params![width, q.from.div_euclid(width) * width, q.to])?;
        while let Some(row) = rows.next()? {
            let series = row.get_ref(0)?.as_str()?;
            buckets.add(
                series,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
            );
        }
        return Ok(buckets.into_series());
    }
    let mut raw = conn.prepare_cached(
        "SELECT series, at, value FROM metric_samples WHERE at >= ?1 AND at < ?2",
    )?;
    let mut rows = raw.query(params![q.from, q.to])?;
    while let Some(row) = rows.next()? {
        let value: f64 = row.get(2)?;
        buckets.add(
            row.get_ref(0)?.as_str()?,
            row.get(1)?,
            value,
            value,
            value,
            1,
        );
    }
    let mut rolled = conn.prepare_cached(
        "SELECT series, bucket, min, max, avg, count FROM metric_rollups
         WHERE bucket >= ?1 AND bucket < ?2",
    )?;
    let mut rows = rolled.query(params![q.from, q.to])?;
    while let Some(row) = rows.next()? {
        let series = row.get_ref(0)?.as_str()?;
        let (at, min, max, avg, count): (i64, f64, f64, f64, i64) = (
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
            row.get(5)?,
        );
        buckets.add(series, at, min, max, avg * count as f64, count);
    }
    Ok(buckets.into_series())
}

/// One time bucket of one series while it is being filled.
#[derive(Clone, Copy)]
struct Bucket {
    min: f64,
    max: f64,
    sum: f64,
    count: i64,
}

/// Equal time buckets over the query's range, per series.
struct Buckets {
    from: i64,
    span: i64,
    points: i64,
    by_series: std::collections::HashMap<String, Vec<Option<Bucket>>>,
}

impl Buckets {
    fn new(q: &HistoryQuery) -> Buckets {
        Buckets {
            from: q.from,
            span: (q.to - q.from).max(1),
            points: i64::from(q.points.max(1)),
            by_series: std::collections::HashMap::new(),
        }
    }

    /// Adds `count` samples at `at` whose values lie in `min..=max` and add up to `sum`.
    fn add(&mut self, series: &str, at: i64, min: f64, max: f64, sum: f64, count: i64) {
        // i128: a span of decades times 2,000 points overflows i64.
        let slot = (i128::from(at - self.from) * i128::from(self.points) / i128::from(self.span))
            .clamp(0, i128::from(self.points) - 1) as usize;
        let points = self.points as usize;
        if !self.by_series.contains_key(series) {
            self.by_series
                .insert(series.to_string(), vec![None; points]);
        }
        let Some(slots) = self.by_series.get_mut(series) else {
            return;
        };
        let bucket = slots[slot].get_or_insert(Bucket {
            min,
            max,
            sum: 0.0,
            count: 0,
        });
        bucket.min = bucket.min.min(min);
        bucket.max = bucket.max.max(max);
        bucket.sum += sum;
        bucket.count += count;
    }

    fn into_series(self) -> Vec<Series> {
        let (from, span, points) = (self.from, self.span, self.points);
        let mut series: Vec<(String, Series)> = self
            .by_series
            .into_iter()
            .filter_map(|(name, slots)| {
                let Some(key) = SeriesKey::parse(&name) else {
                    // Written by a newer Corral, or by hand: nothing to chart it as.
                    tracing::warn!(series = name, "skipping a stored series no reading matches");
                    return None;
                };
                let points = slots
                    .into_iter()
                    .enumerate()
                    .filter_map(|(slot, bucket)| {
                        let b = bucket?;
                        Some(Point {
                            at: from
                                + (i128::from(slot as i64) * i128::from(span) / i128::from(points))
                                    as i64,
                            min: b.min,
                            max: b.max,
                            avg: b.sum / b.count.max(1) as f64,
                        })
                    })
                    .collect();
                Some((name, Series { key, points }))
            })
            .collect();
        series.sort_by(|a, b| a.0.cmp(&b.0));
        series.into_iter().map(|(_, series)| series).collect()
    }
}
