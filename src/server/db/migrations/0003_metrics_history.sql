-- Schema version 3: metrics history. Raw samples for a recent window, one-minute roll-ups beyond.
CREATE TABLE metric_samples (
    series TEXT    NOT NULL,
    at     INTEGER NOT NULL,
    value  REAL    NOT NULL
);
CREATE INDEX metric_samples_by_time ON metric_samples (at);

CREATE TABLE metric_rollups (
    series TEXT    NOT NULL,
    -- Start of the minute, Unix milliseconds.
    bucket INTEGER NOT NULL,
    min    REAL    NOT NULL,
    max    REAL    NOT NULL,
    avg    REAL    NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (series, bucket)
) WITHOUT ROWID;
CREATE INDEX metric_rollups_by_time ON metric_rollups (bucket);
