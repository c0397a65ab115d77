-- 0004_runtime_logs_to_files: runtime logs live in append-only files
-- under <data-dir>/logs (internal/logstore), not in the database. The
-- table is set aside rather than dropped: the server copies its lines into
-- the files at its next start, then drops it (store/legacy_logs.go).
ALTER TABLE runtime_log_chunks RENAME TO runtime_log_chunks_0003;
