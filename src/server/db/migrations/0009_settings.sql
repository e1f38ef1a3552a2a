-- Corral's own settings from the Settings page, as one JSON document (a flag given at start
-- still wins over what is stored here).
CREATE TABLE settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    document TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
