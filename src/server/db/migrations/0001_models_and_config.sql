-- Schema version 1: the model registry and its six config groups.
CREATE TABLE models (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL COLLATE NOCASE UNIQUE,
    kind          TEXT    NOT NULL,
    path          TEXT    NOT NULL,
    size_bytes    INTEGER,
    status        TEXT    NOT NULL DEFAULT 'stopped'
                  CHECK (status IN ('stopped', 'loading', 'running', 'stopping', 'error')),
    status_reason TEXT,
    ctx_size      INTEGER,
    batch_size    INTEGER,
    ubatch_size   INTEGER,
    parallel      INTEGER,
    threads       INTEGER,
    threads_batch INTEGER,
    cpu_mask      TEXT,
    cpu_range     TEXT,
    cpu_strict    INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- One row per model and group; the settings are the group's JSON object.
CREATE TABLE config_sampling (
    model_id   INTEGER PRIMARY KEY REFERENCES models(id) ON DELETE CASCADE,
    config     TEXT    NOT NULL CHECK (json_valid(config)),
    updated_at INTEGER NOT NULL
);
CREATE TABLE config_memory     (model_id INTEGER PRIMARY KEY REFERENCES models(id) ON DELETE CASCADE, config TEXT NOT NULL CHECK (json_valid(config)), updated_at INTEGER NOT NULL);
CREATE TABLE config_gpu        (model_id INTEGER PRIMARY KEY REFERENCES models(id) ON DELETE CASCADE, config TEXT NOT NULL CHECK (json_valid(config)), updated_at INTEGER NOT NULL);
CREATE TABLE config_advanced   (model_id INTEGER PRIMARY KEY REFERENCES models(id) ON DELETE CASCADE, config TEXT NOT NULL CHECK (json_valid(config)), updated_at INTEGER NOT NULL);
CREATE TABLE config_lora       (model_id INTEGER PRIMARY KEY REFERENCES models(id) ON DELETE CASCADE, config TEXT NOT NULL CHECK (json_valid(config)), updated_at INTEGER NOT NULL);
CREATE TABLE config_multimodal (model_id INTEGER PRIMARY KEY REFERENCES models(id) ON DELETE CASCADE, config TEXT NOT NULL CHECK (json_valid(config)), updated_at INTEGER NOT NULL);
