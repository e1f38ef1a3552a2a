-- Schema version 7: activity. One row per gateway request, kept for a number of days. A deleted
-- model's requests stay (with its name); run_id is only a reference, runs are pruned apart.
CREATE TABLE activity (
    id                      INTEGER PRIMARY KEY,
    received_at             INTEGER NOT NULL,
    model_id                INTEGER REFERENCES models (id) ON DELETE SET NULL,
    model                   TEXT    NOT NULL,
    run_id                  INTEGER,
    endpoint                TEXT    NOT NULL,
    status                  INTEGER NOT NULL,
    started_model           INTEGER NOT NULL,
    queue_ms                INTEGER,
    load_ms                 INTEGER,
    ttft_ms                 INTEGER,
    prompt_tokens           INTEGER,
    cached_tokens           INTEGER,
    generated_tokens        INTEGER,
    prompt_tokens_per_s     REAL,
    generation_tokens_per_s REAL,
    duration_ms             INTEGER NOT NULL,
    error                   TEXT
);
CREATE INDEX activity_by_model ON activity (model_id, id);
CREATE INDEX activity_by_time ON activity (received_at);
