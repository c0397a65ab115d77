-- 0004_drop_runtime_log_chunks: runtime logs live in append-only files
-- under <data-dir>/logs (internal/logstore), not in the database. Lines
-- stored by earlier builds are not carried over.
DROP TABLE runtime_log_chunks;
