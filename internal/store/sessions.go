package store

import (
	"context"
	"time"
)

// Session is a browser login. TokenHash is the hex SHA-256 of the cookie
// value; the store never sees the token.
type Session struct {
	TokenHash  string
	UserID     string
	CSRFToken  string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastSeenAt time.Time
	UserAgent  string
	IP         string
}

const sessionCols = `token_hash, user_id, csrf_token, created_at, expires_at, last_seen_at, user_agent, ip`

// CreateSession inserts sess, filling CreatedAt (and LastSeenAt from it)
// when zero. ErrNotFound if the user does not exist.
func (s *Store) CreateSession(ctx context.Context, sess *Session) error {
	if sess.CreatedAt.IsZero() {
		sess.CreatedAt = now()
	}
	if sess.LastSeenAt.IsZero() {
		sess.LastSeenAt = sess.CreatedAt
	}
	_, err := s.exec(ctx, `INSERT INTO sessions (`+sessionCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		sess.TokenHash, sess.UserID, sess.CSRFToken, ms(sess.CreatedAt), ms(sess.ExpiresAt),
		ms(sess.LastSeenAt), sess.UserAgent, sess.IP)
	if err != nil {
		return wrapErr(err, "create session")
	}
	return nil
}

// GetSession returns the session, or ErrNotFound if it does not exist or
// has expired at now (the current time when zero).
func (s *Store) GetSession(ctx context.Context, tokenHash string, now time.Time) (*Session, error) {
	if now.IsZero() {
		now = time.Now()
	}
	var x Session
	err := s.queryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE token_hash = ? AND expires_at > ?`,
		tokenHash, ms(now)).
		Scan(&x.TokenHash, &x.UserID, &x.CSRFToken, msTime{&x.CreatedAt}, msTime{&x.ExpiresAt},
			msTime{&x.LastSeenAt}, &x.UserAgent, &x.IP)
	if err != nil {
		return nil, wrapErr(err, "get session")
	}
	return &x, nil
}

// TouchSession records activity at `at` and, when expiresAt is not zero,
// moves the expiry (sliding sessions). ErrNotFound if absent.
func (s *Store) TouchSession(ctx context.Context, tokenHash string, at, expiresAt time.Time) error {
	var err error
	if expiresAt.IsZero() {
		err = s.execOne(ctx, `UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?`, ms(at), tokenHash)
	} else {
		err = s.execOne(ctx, `UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE token_hash = ?`,
			ms(at), ms(expiresAt), tokenHash)
	}
	if err != nil {
		return wrapErr(err, "touch session")
	}
	return nil
}

// DeleteSession ends one session. Deleting a missing session is not an
// error, so logout is idempotent.
func (s *Store) DeleteSession(ctx context.Context, tokenHash string) error {
	if _, err := s.exec(ctx, `DELETE FROM sessions WHERE token_hash = ?`, tokenHash); err != nil {
		return wrapErr(err, "delete session")
	}
	return nil
}

// DeleteUserSessions ends every session of a user (password change,
// suspension).
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) error {
	if _, err := s.exec(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID); err != nil {
		return wrapErr(err, "delete sessions of %s", userID)
	}
	return nil
}

// DeleteExpiredSessions removes sessions that expired at or before now.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) error {
	if _, err := s.exec(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, ms(now)); err != nil {
		return wrapErr(err, "delete expired sessions")
	}
	return nil
}
