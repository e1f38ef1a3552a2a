-- Schema version 4: runs. One row per llama-server process, from spawn to exit. A row with no
-- ended_at is a process Corral believes alive; start-up reconciles those with the real processes.
CREATE TABLE runs (
    id         INTEGER PRIMARY KEY,
    model_id   INTEGER NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    pid        INTEGER,
    pgid       INTEGER,
    port       INTEGER NOT NULL,
    -- JSON array of strings: the program and every argument.
    command    TEXT    NOT NULL,
    started_at INTEGER NOT NULL,
    ready_at   INTEGER,
    ended_at   INTEGER,
    exit_code  INTEGER,
    signal     INTEGER,
    failure    TEXT,
    message    TEXT,
    -- JSON array of strings: the last lines the process logged.
    log_tail   TEXT    NOT NULL DEFAULT '[]'
);
CREATE INDEX runs_by_model ON runs (model_id, id);
CREATE INDEX runs_alive ON runs (id) WHERE ended_at IS NULL;
