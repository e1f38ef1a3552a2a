-- The most memory each run's process was seen to hold on each GPU (NVML's per-process
-- accounting), as a JSON list of [gpu index, bytes]: later starts of the same command ask each
-- GPU for it instead of the header's guess.
ALTER TABLE runs ADD COLUMN peak_gpu TEXT;
