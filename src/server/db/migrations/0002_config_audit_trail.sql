-- Schema version 2: an audit trail of every settings change, kept with the model.
CREATE TABLE config_changes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id   INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    -- 'model' for the top-level settings, else the config group's name.
    scope      TEXT    NOT NULL,
    changes    TEXT    NOT NULL CHECK (json_valid(changes)),
    changed_at INTEGER NOT NULL
);
CREATE INDEX config_changes_by_model ON config_changes (model_id, id);
