-- Schema version 11: 10-minute and hourly roll-ups beside the minute ones. A chart of 7 days at
-- 500 points has a point every 20 minutes, yet read 160,000 minute rows (and the last hour's
-- 57,600 raw samples) to draw it; from the 10-minute tier it reads about 16,000.
-- Every tier holds every sample (written as samples arrive), keeping the sum rather than the
-- mean so merging is exact; `width` is the bucket's width in milliseconds.
CREATE TABLE metric_tiers (
    width  INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    series TEXT    NOT NULL,
    min    REAL    NOT NULL,
    max    REAL    NOT NULL,
    sum    REAL    NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (width, bucket, series)
) WITHOUT ROWID;
-- The history kept so far goes into both tiers: the minute roll-ups and the raw samples not yet
-- folded into them (each sample is in exactly one of the two).
INSERT INTO metric_tiers (width, bucket, series, min, max, sum, count)
SELECT tier.width, (kept.at / tier.width) * tier.width, kept.series,
       min(kept.min), max(kept.max), sum(kept.sum), sum(kept.count)
FROM (SELECT series, bucket AS at, min, max, avg * count AS sum, count FROM metric_rollups
      UNION ALL
      SELECT series, at, value, value, value, 1 FROM metric_samples) AS kept
CROSS JOIN (SELECT 600000 AS width UNION ALL SELECT 3600000) AS tier
GROUP BY tier.width, kept.at / tier.width, kept.series;
