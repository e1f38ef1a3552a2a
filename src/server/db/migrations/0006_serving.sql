-- Schema version 6: the serving group (aliases, role, queue, idle unload) for the gateway.
CREATE TABLE config_serving (model_id INTEGER PRIMARY KEY REFERENCES models(id) ON DELETE CASCADE, config TEXT NOT NULL CHECK (json_valid(config)), updated_at INTEGER NOT NULL);
-- Every existing model serves chat under its own name until someone says otherwise.
INSERT INTO config_serving (model_id, config, updated_at) SELECT id, '{}', updated_at FROM models;
