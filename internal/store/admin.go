package store

import (
	"context"
	"strings"
	"time"
)

// AdminAccount is an operator of the platform (wisehosting-admin), kept
// apart from users: nothing in the public API reads or writes these rows.
// Username is lowercase; Role is checked by the caller (internal/admin).
// TOTPSecretEnc is sealed by the caller (nil = no second factor).
type AdminAccount struct {
	ID            string
	Username      string
	PasswordHash  string
	Role          string
	Disabled      bool
	TOTPSecretEnc []byte
	CreatedAt     time.Time
	LastLoginAt   time.Time
}

// AdminSession is a signed-in operator. TokenHash is the hex SHA-256 of the
// bearer token; the store never sees the token.
type AdminSession struct {
	TokenHash  string
	AccountID  string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastSeenAt time.Time
	RemoteAddr string
}

// AdminAuditEntry records one login attempt or mutating admin call: who,
// what (Action, Target, Detail), from where, when and how it ended (Result,
// e.g. "ok", "denied", "error").
type AdminAuditEntry struct {
	ID         int64
	AccountID  string
	Username   string
	Action     string
	Target     string
	Detail     string
	RemoteAddr string
	Result     string
	At         time.Time
}

const prefixAdmin = "adm"

const adminAccountCols = `id, username, password_hash, role, disabled, totp_secret_enc, created_at, last_login_at`

func scanAdminAccount(sc scanner) (*AdminAccount, error) {
	var a AdminAccount
	err := sc.Scan(&a.ID, &a.Username, &a.PasswordHash, &a.Role, &a.Disabled, &a.TOTPSecretEnc,
		msTime{&a.CreatedAt}, msTime{&a.LastLoginAt})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// CreateAdminAccount inserts a, filling ID and CreatedAt when empty and
// lowercasing the username. ErrConflict if the username is taken.
func (s *Store) CreateAdminAccount(ctx context.Context, a *AdminAccount) error {
	if a.ID == "" {
		a.ID = newID(prefixAdmin)
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now()
	}
	a.Username = strings.ToLower(a.Username)
	_, err := s.exec(ctx, `INSERT INTO admin_accounts (`+adminAccountCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Username, a.PasswordHash, a.Role, a.Disabled, nullBytes(a.TOTPSecretEnc), ms(a.CreatedAt), ms(a.LastLoginAt))
	if err != nil {
		return wrapErr(err, "create admin account %s", a.Username)
	}
	return nil
}

// GetAdminAccount returns the account or ErrNotFound.
func (s *Store) GetAdminAccount(ctx context.Context, id string) (*AdminAccount, error) {
	a, err := scanAdminAccount(s.queryRow(ctx, `SELECT `+adminAccountCols+` FROM admin_accounts WHERE id = ?`, id))
	if err != nil {
		return nil, wrapErr(err, "get admin account %s", id)
	}
	return a, nil
}

// GetAdminAccountByUsername returns the account (any case of the name) or
// ErrNotFound.
func (s *Store) GetAdminAccountByUsername(ctx context.Context, username string) (*AdminAccount, error) {
	a, err := scanAdminAccount(s.queryRow(ctx, `SELECT `+adminAccountCols+` FROM admin_accounts WHERE username = ?`,
		strings.ToLower(username)))
	if err != nil {
		return nil, wrapErr(err, "get admin account %s", username)
	}
	return a, nil
}

// ListAdminAccounts returns every account by username.
func (s *Store) ListAdminAccounts(ctx context.Context) ([]AdminAccount, error) {
	rows, err := s.query(ctx, `SELECT `+adminAccountCols+` FROM admin_accounts ORDER BY username`)
	as, err := collect(rows, err, deref(scanAdminAccount))
	if err != nil {
		return nil, wrapErr(err, "list admin accounts")
	}
	return as, nil
}

// SetAdminAccountDisabled disables or re-enables an account; disabling also
// ends its sessions. ErrNotFound if absent.
func (s *Store) SetAdminAccountDisabled(ctx context.Context, id string, disabled bool) error {
	if err := s.execOne(ctx, `UPDATE admin_accounts SET disabled = ? WHERE id = ?`, disabled, id); err != nil {
		return wrapErr(err, "set admin account %s disabled", id)
	}
	if disabled {
		return s.DeleteAdminSessionsOf(ctx, id)
	}
	return nil
}

// SetAdminPassword replaces an account's password hash and ends its
// sessions. ErrNotFound if absent.
func (s *Store) SetAdminPassword(ctx context.Context, id, hash string) error {
	if err := s.execOne(ctx, `UPDATE admin_accounts SET password_hash = ? WHERE id = ?`, hash, id); err != nil {
		return wrapErr(err, "set admin password %s", id)
	}
	return s.DeleteAdminSessionsOf(ctx, id)
}

// TouchAdminLogin records a successful login.
func (s *Store) TouchAdminLogin(ctx context.Context, id string, at time.Time) error {
	if err := s.execOne(ctx, `UPDATE admin_accounts SET last_login_at = ? WHERE id = ?`, ms(at), id); err != nil {
		return wrapErr(err, "touch admin login %s", id)
	}
	return nil
}

const adminSessionCols = `token_hash, account_id, created_at, expires_at, last_seen_at, remote_addr`

// CreateAdminSession inserts sess, filling CreatedAt (and LastSeenAt from
// it) when zero. ErrNotFound if the account does not exist.
func (s *Store) CreateAdminSession(ctx context.Context, sess *AdminSession) error {
	if sess.CreatedAt.IsZero() {
		sess.CreatedAt = now()
	}
	if sess.LastSeenAt.IsZero() {
		sess.LastSeenAt = sess.CreatedAt
	}
	_, err := s.exec(ctx, `INSERT INTO admin_sessions (`+adminSessionCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		sess.TokenHash, sess.AccountID, ms(sess.CreatedAt), ms(sess.ExpiresAt), ms(sess.LastSeenAt), sess.RemoteAddr)
	if err != nil {
		return wrapErr(err, "create admin session")
	}
	return nil
}

// GetAdminSession returns the session with its account, or ErrNotFound if
// there is none, it expired at now, it has been idle for longer than idle
// (when idle > 0), or its account is disabled.
func (s *Store) GetAdminSession(ctx context.Context, tokenHash string, now time.Time, idle time.Duration) (*AdminSession, *AdminAccount, error) {
	var idleSince int64
	if idle > 0 {
		idleSince = ms(now.Add(-idle))
	}
	var x AdminSession
	var a AdminAccount
	err := s.queryRow(ctx, `SELECT s.token_hash, s.account_id, s.created_at, s.expires_at, s.last_seen_at, s.remote_addr,
			a.id, a.username, a.password_hash, a.role, a.disabled, a.totp_secret_enc, a.created_at, a.last_login_at
		FROM admin_sessions s JOIN admin_accounts a ON a.id = s.account_id
		WHERE s.token_hash = ? AND s.expires_at > ? AND s.last_seen_at > ? AND NOT a.disabled`,
		tokenHash, ms(now), idleSince).
		Scan(&x.TokenHash, &x.AccountID, msTime{&x.CreatedAt}, msTime{&x.ExpiresAt}, msTime{&x.LastSeenAt}, &x.RemoteAddr,
			&a.ID, &a.Username, &a.PasswordHash, &a.Role, &a.Disabled, &a.TOTPSecretEnc, msTime{&a.CreatedAt}, msTime{&a.LastLoginAt})
	if err != nil {
		return nil, nil, wrapErr(err, "get admin session")
	}
	return &x, &a, nil
}

// TouchAdminSession records activity at `at` (which keeps an idle session
// alive). ErrNotFound if absent.
func (s *Store) TouchAdminSession(ctx context.Context, tokenHash string, at time.Time) error {
	if err := s.execOne(ctx, `UPDATE admin_sessions SET last_seen_at = ? WHERE token_hash = ?`, ms(at), tokenHash); err != nil {
		return wrapErr(err, "touch admin session")
	}
	return nil
}

// DeleteAdminSession ends one session; a missing one is not an error.
func (s *Store) DeleteAdminSession(ctx context.Context, tokenHash string) error {
	if _, err := s.exec(ctx, `DELETE FROM admin_sessions WHERE token_hash = ?`, tokenHash); err != nil {
		return wrapErr(err, "delete admin session")
	}
	return nil
}

// DeleteAdminSessionsOf ends every session of an account.
func (s *Store) DeleteAdminSessionsOf(ctx context.Context, accountID string) error {
	if _, err := s.exec(ctx, `DELETE FROM admin_sessions WHERE account_id = ?`, accountID); err != nil {
		return wrapErr(err, "delete admin sessions of %s", accountID)
	}
	return nil
}

// DeleteStaleAdminSessions removes sessions that expired at or before now,
// or that have been idle for longer than idle (when idle > 0).
func (s *Store) DeleteStaleAdminSessions(ctx context.Context, now time.Time, idle time.Duration) error {
	var idleSince int64
	if idle > 0 {
		idleSince = ms(now.Add(-idle))
	}
	if _, err := s.exec(ctx, `DELETE FROM admin_sessions WHERE expires_at <= ? OR last_seen_at <= ?`, ms(now), idleSince); err != nil {
		return wrapErr(err, "delete stale admin sessions")
	}
	return nil
}

// InsertAdminAudit stores e and fills its ID (and At when zero).
func (s *Store) InsertAdminAudit(ctx context.Context, e *AdminAuditEntry) error {
	if e.At.IsZero() {
		e.At = now()
	}
	err := s.w.QueryRowContext(ctx, s.q(`INSERT INTO admin_audit (account_id, username, action, target, detail, remote_addr, result, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		e.AccountID, e.Username, e.Action, e.Target, e.Detail, e.RemoteAddr, e.Result, ms(e.At)).Scan(&e.ID)
	if err != nil {
		return wrapErr(err, "insert admin audit entry %s", e.Action)
	}
	return nil
}

// ListAdminAudit returns the newest entries first; beforeID > 0 pages back
// from there.
func (s *Store) ListAdminAudit(ctx context.Context, beforeID int64, limit int) ([]AdminAuditEntry, error) {
	where, args := "", []any{}
	if beforeID > 0 {
		where, args = "WHERE id < ? ", append(args, beforeID)
	}
	rows, err := s.query(ctx, `SELECT id, account_id, username, action, target, detail, remote_addr, result, at
		FROM admin_audit `+where+`ORDER BY id DESC LIMIT ?`, append(args, limitOr(limit))...)
	es, err := collect(rows, err, func(sc scanner) (AdminAuditEntry, error) {
		var e AdminAuditEntry
		err := sc.Scan(&e.ID, &e.AccountID, &e.Username, &e.Action, &e.Target, &e.Detail, &e.RemoteAddr, &e.Result, msTime{&e.At})
		return e, err
	})
	if err != nil {
		return nil, wrapErr(err, "list admin audit")
	}
	return es, nil
}
