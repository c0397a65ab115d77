-- 0001_init: the initial schema.
-- Times are BIGINT Unix milliseconds (0 = unset, except the few nullable
-- ones noted); booleans are BOOLEAN; ids are TEXT "<prefix>_<base32>" made
-- in Go, except the {{AUTOID}} tables. Allowed values of status/role/state
-- columns are enforced in Go rather than with CHECK constraints, because
-- SQLite cannot alter a CHECK without rebuilding the table.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL DEFAULT ''
);

-- email is stored lowercase; instance_role is 'owner', 'admin' or ''.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL DEFAULT '',
    instance_role TEXT NOT NULL DEFAULT '',
    suspended     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL,
    last_login_at BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE teams (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    slug       TEXT NOT NULL UNIQUE,
    personal   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);

-- role is 'owner', 'admin', 'member' or 'viewer'.
CREATE TABLE team_members (
    team_id    TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);

-- token_hash is the hex SHA-256 of the cookie value; the token itself is
-- never stored.
CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL DEFAULT 0,
    user_agent   TEXT NOT NULL DEFAULT '',
    ip           TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- expires_at and revoked_at are NULL when not set.
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL DEFAULT '',
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL DEFAULT 0,
    expires_at   BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id, created_at);

-- Workers have integer ids because the wire protocol sends them as numbers.
-- api_key_hash is the lowercase hex SHA-256 of the raw key; revoked_at is
-- NULL while the worker may connect. created_by is a user id, deliberately
-- not a foreign key: deleting a user must not delete machines.
CREATE TABLE workers (
    id             {{AUTOID}},
    name           TEXT NOT NULL UNIQUE,
    api_key_hash   TEXT NOT NULL UNIQUE,
    created_by     TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    revoked_at     BIGINT,
    draining       BOOLEAN NOT NULL DEFAULT FALSE,
    hostname       TEXT NOT NULL DEFAULT '',
    version        TEXT NOT NULL DEFAULT '',
    os             TEXT NOT NULL DEFAULT '',
    arch           TEXT NOT NULL DEFAULT '',
    cpus           INTEGER NOT NULL DEFAULT 0,
    memory_bytes   BIGINT NOT NULL DEFAULT 0,
    disk_bytes     BIGINT NOT NULL DEFAULT 0,
    disk_quota     BOOLEAN NOT NULL DEFAULT FALSE,
    port_lo        INTEGER NOT NULL DEFAULT 0,
    port_hi        INTEGER NOT NULL DEFAULT 0,
    address        TEXT NOT NULL DEFAULT '',
    registered_at  BIGINT NOT NULL DEFAULT 0,
    last_seen_at   BIGINT NOT NULL DEFAULT 0,
    resources_json TEXT NOT NULL DEFAULT '{}',
    apps_json      TEXT NOT NULL DEFAULT '[]'
);

-- name is globally unique: it is the app's DNS label. git_token_enc is
-- encrypted by the caller (NULL = none). current_deployment_id is not a
-- foreign key, to avoid a reference cycle with deployments.
CREATE TABLE apps (
    id                    TEXT PRIMARY KEY,
    team_id               TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name                  TEXT NOT NULL UNIQUE,
    repo_url              TEXT NOT NULL DEFAULT '',
    branch                TEXT NOT NULL DEFAULT '',
    git_token_enc         {{BLOB}},
    dockerfile_path       TEXT NOT NULL DEFAULT '',
    port                  INTEGER NOT NULL DEFAULT 0,
    health_check_path     TEXT NOT NULL DEFAULT '',
    memory_bytes          BIGINT NOT NULL DEFAULT 0,
    cpu_millis            BIGINT NOT NULL DEFAULT 0,
    disk_bytes            BIGINT NOT NULL DEFAULT 0,
    bandwidth_bps         BIGINT NOT NULL DEFAULT 0,
    worker_id             BIGINT REFERENCES workers (id) ON DELETE SET NULL,
    status                TEXT NOT NULL DEFAULT 'created',
    status_message        TEXT NOT NULL DEFAULT '',
    host_port             INTEGER NOT NULL DEFAULT 0,
    container_id          TEXT NOT NULL DEFAULT '',
    image_id              TEXT NOT NULL DEFAULT '',
    previous_image_id     TEXT NOT NULL DEFAULT '',
    current_deployment_id TEXT,
    suspended             BOOLEAN NOT NULL DEFAULT FALSE,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);
CREATE INDEX apps_team ON apps (team_id);
CREATE INDEX apps_worker ON apps (worker_id);

CREATE TABLE app_env (
    app_id    TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    name      TEXT NOT NULL,
    value_enc {{BLOB}} NOT NULL,
    PRIMARY KEY (app_id, name)
);

-- domain is stored lowercase.
CREATE TABLE app_domains (
    domain     TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);
CREATE INDEX app_domains_app ON app_domains (app_id);

-- log_len is the byte length of the build log stored in build_log_chunks.
CREATE TABLE deployments (
    id          TEXT PRIMARY KEY,
    app_id      TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    status      TEXT NOT NULL DEFAULT 'queued',
    trigger     TEXT NOT NULL DEFAULT 'api',
    branch      TEXT NOT NULL DEFAULT '',
    commit_sha  TEXT NOT NULL DEFAULT '',
    message     TEXT NOT NULL DEFAULT '',
    image_id    TEXT NOT NULL DEFAULT '',
    worker_id   BIGINT REFERENCES workers (id) ON DELETE SET NULL,
    created_by  TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    started_at  BIGINT NOT NULL DEFAULT 0,
    finished_at BIGINT NOT NULL DEFAULT 0,
    log_len     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX deployments_app ON deployments (app_id, created_at);

-- Contiguous, non-overlapping pieces of a build log. The column is
-- byte_offset because OFFSET is reserved in PostgreSQL; data is binary so
-- that a chunk may end inside a UTF-8 sequence.
CREATE TABLE build_log_chunks (
    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    byte_offset   BIGINT NOT NULL,
    data          {{BLOB}} NOT NULL,
    PRIMARY KEY (deployment_id, byte_offset)
);

-- app_id is not a foreign key: a delete job outlives its app, which is why
-- app_name is kept too.
CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,
    type          TEXT NOT NULL,
    app_id        TEXT NOT NULL,
    app_name      TEXT NOT NULL DEFAULT '',
    deployment_id TEXT REFERENCES deployments (id) ON DELETE SET NULL,
    worker_id     BIGINT REFERENCES workers (id) ON DELETE SET NULL,
    state         TEXT NOT NULL DEFAULT 'pending',
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT NOT NULL DEFAULT '',
    result_json   TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    sent_at       BIGINT NOT NULL DEFAULT 0,
    acked_at      BIGINT NOT NULL DEFAULT 0,
    finished_at   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX jobs_state ON jobs (state, created_at);
CREATE INDEX jobs_worker ON jobs (worker_id, state);
CREATE INDEX jobs_deployment ON jobs (deployment_id);
CREATE INDEX jobs_app ON jobs (app_id);

CREATE TABLE runtime_logs (
    id     {{AUTOID}},
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    stream TEXT NOT NULL DEFAULT 'stdout',
    at     BIGINT NOT NULL,
    msg    TEXT NOT NULL
);
CREATE INDEX runtime_logs_app ON runtime_logs (app_id, id);
CREATE INDEX runtime_logs_at ON runtime_logs (at);

CREATE TABLE app_stats (
    id              {{AUTOID}},
    app_id          TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    at              BIGINT NOT NULL,
    cpu_percent     DOUBLE PRECISION NOT NULL DEFAULT 0,
    mem_bytes       BIGINT NOT NULL DEFAULT 0,
    mem_limit_bytes BIGINT NOT NULL DEFAULT 0,
    net_rx_bytes    BIGINT NOT NULL DEFAULT 0,
    net_tx_bytes    BIGINT NOT NULL DEFAULT 0,
    pids            INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX app_stats_app ON app_stats (app_id, at);
CREATE INDEX app_stats_at ON app_stats (at);

-- worker_id is informational (0 = unknown), not a foreign key.
CREATE TABLE violations (
    id        {{AUTOID}},
    app_id    TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    worker_id BIGINT NOT NULL DEFAULT 0,
    kind      TEXT NOT NULL,
    message   TEXT NOT NULL DEFAULT '',
    action    TEXT NOT NULL DEFAULT '',
    at        BIGINT NOT NULL
);
CREATE INDEX violations_app ON violations (app_id, at);
CREATE INDEX violations_at ON violations (at);

-- events is a comma-separated list; "*" matches every event.
CREATE TABLE webhooks (
    id         TEXT PRIMARY KEY,
    team_id    TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    url        TEXT NOT NULL,
    secret_enc {{BLOB}},
    events     TEXT NOT NULL DEFAULT '',
    active     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhooks_team ON webhooks (team_id);

CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    webhook_id       TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event            TEXT NOT NULL,
    payload          TEXT NOT NULL,
    state            TEXT NOT NULL DEFAULT 'pending',
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL DEFAULT 0,
    last_status_code INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    delivered_at     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, created_at);

CREATE TABLE audit_log (
    id          {{AUTOID}},
    actor       TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL,
    target      TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '',
    remote_addr TEXT NOT NULL DEFAULT '',
    result      TEXT NOT NULL DEFAULT '',
    at          BIGINT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
