-- Schema version 13: virtual models (one name served by whichever of its targets a strategy
-- picks). Names share the models' namespace, checked by the registry in the writing
-- transaction; targets are model names (a renamed or deleted model leaves a missing target).
CREATE TABLE virtual_models (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL COLLATE NOCASE UNIQUE,
    strategy   TEXT    NOT NULL,
    targets    TEXT    NOT NULL CHECK (json_valid(targets)),
    spillover  INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
-- The virtual model a gateway request was asked for by, beside the model that served it.
ALTER TABLE activity ADD COLUMN via TEXT;
