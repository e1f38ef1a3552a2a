-- Schema version 8: access. The admin account (an argon2id PHC string, never the password) and
-- the sessions of signed-in browsers (the SHA-256 of each cookie token, never the token).
CREATE TABLE admins (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE TABLE sessions (
    token_hash BLOB    PRIMARY KEY,
    admin_id   INTEGER NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_by_admin ON sessions (admin_id);
-- API keys for programs: the SHA-256 of the key (shown once), a short visible prefix, scopes,
-- optionally the models it may use, expiry, last use, revocation.
CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL,
    prefix       TEXT    NOT NULL,
    key_hash     BLOB    NOT NULL UNIQUE,
    scopes       TEXT    NOT NULL CHECK (json_valid(scopes)),
    models       TEXT    CHECK (models IS NULL OR json_valid(models)),
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
-- Who made each gateway request: a key's prefix, "session", or NULL (open access).
ALTER TABLE activity ADD COLUMN caller TEXT;
CREATE INDEX activity_by_caller ON activity (caller, id);
