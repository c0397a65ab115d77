-- 0003_runtime_log_chunks: runtime logs are stored a chunk at a time, one
-- row per batch of consecutive lines of one app (in practice one worker
-- message, ~5 lines) instead of one row per line: the ingest writer adds a
-- fifth of the rows and index entries. lines is a JSON array of
-- [stream, at - chunk at in ms, msg]; n counts them; at is the newest
-- line's time, never later than when the chunk was stored, so retention
-- finds old chunks in id order without an index on time. A line's id is
-- chunk id * 1024 + its index in the chunk (store/logs.go).
-- No foreign key: the writer checks the apps once per batch, and deleting
-- an app or a team deletes its chunks explicitly.
CREATE TABLE runtime_log_chunks (
    id     {{AUTOID}},
    app_id TEXT NOT NULL,
    at     BIGINT NOT NULL,
    n      INTEGER NOT NULL,
    lines  TEXT NOT NULL
);
CREATE INDEX runtime_log_chunks_app ON runtime_log_chunks (app_id, id);

-- Existing lines become one-line chunks, in their order.
INSERT INTO runtime_log_chunks (app_id, at, n, lines)
    SELECT app_id, at, 1, CAST({{JSON_ARRAY}}({{JSON_ARRAY}}(stream, 0, msg)) AS TEXT)
    FROM runtime_logs ORDER BY id;
DROP TABLE runtime_logs;
