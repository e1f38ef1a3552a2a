-- Schema version 12: the Playground's conversations. Each is kept whole as one JSON document
-- (system prompt and messages, bounded by the API), per signed-in admin (`owner`; 0 is anyone,
-- where no login is required).
CREATE TABLE conversations (
    id         INTEGER PRIMARY KEY,
    owner      INTEGER NOT NULL,
    title      TEXT    NOT NULL,
    model      TEXT    NOT NULL,
    document   TEXT    NOT NULL CHECK (json_valid(document)),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX conversations_by_owner ON conversations (owner, updated_at DESC, id DESC);
