-- 0002_admin: the operators' identities, sessions and audit log, for the
-- loopback internal API and wisehosting-admin. Admin accounts are separate
-- from users on purpose: nothing in the public API reads or writes them, so
-- an app user can never become an admin through it.

-- username is stored lowercase; role is 'viewer', 'operator' or
-- 'superadmin' (enforced in Go). totp_secret_enc is the TOTP secret sealed
-- with the instance secret box (NULL = no second factor).
CREATE TABLE admin_accounts (
    id              TEXT PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE,
    password_hash   TEXT NOT NULL,
    role            TEXT NOT NULL,
    disabled        BOOLEAN NOT NULL DEFAULT FALSE,
    totp_secret_enc {{BLOB}},
    created_at      BIGINT NOT NULL,
    last_login_at   BIGINT NOT NULL DEFAULT 0
);

-- token_hash is the hex SHA-256 of the bearer token; the token itself is
-- never stored. A session ends at expires_at, or earlier when idle.
CREATE TABLE admin_sessions (
    token_hash   TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES admin_accounts (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    remote_addr  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX admin_sessions_account ON admin_sessions (account_id);
CREATE INDEX admin_sessions_expires ON admin_sessions (expires_at);

-- One row per login attempt and per mutating call. account_id is not a
-- foreign key and username is copied: the record outlives the account.
CREATE TABLE admin_audit (
    id          {{AUTOID}},
    account_id  TEXT NOT NULL DEFAULT '',
    username    TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL,
    target      TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '',
    remote_addr TEXT NOT NULL DEFAULT '',
    result      TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX admin_audit_at ON admin_audit (at);
