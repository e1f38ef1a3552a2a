-- Schema version 14: run-together groups (llama-swap's `groups`). A member is a model by id, so
-- a rename follows and a delete leaves the group; a model is in one group at most (the unique
-- index says so, the registry names the group that holds it).
CREATE TABLE run_groups (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL COLLATE NOCASE UNIQUE,
    swap       INTEGER NOT NULL,
    exclusive  INTEGER NOT NULL,
    persistent INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE run_group_members (
    group_id INTEGER NOT NULL REFERENCES run_groups(id) ON DELETE CASCADE,
    model_id INTEGER NOT NULL UNIQUE REFERENCES models(id) ON DELETE CASCADE,
    position INTEGER NOT NULL
);
CREATE INDEX run_group_members_by_group ON run_group_members(group_id, position);
