-- The most resident memory each run's process was seen to use: later estimates for the same
-- model and settings use it instead of the header's guess.
ALTER TABLE runs ADD COLUMN peak_rss_bytes INTEGER;
