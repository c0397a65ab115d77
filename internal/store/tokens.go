package store

import (
	"context"
	"time"
)

// APIToken is a personal access token. TokenHash is the hex SHA-256 of the
// token; ExpiresAt and RevokedAt are zero when not set.
type APIToken struct {
	ID         string
	UserID     string
	Name       string
	TokenHash  string
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time
	RevokedAt  time.Time
}

const tokenCols = `id, user_id, name, token_hash, created_at, last_used_at, expires_at, revoked_at`

func scanToken(sc scanner) (*APIToken, error) {
	var t APIToken
	err := sc.Scan(&t.ID, &t.UserID, &t.Name, &t.TokenHash, msTime{&t.CreatedAt}, msTime{&t.LastUsedAt},
		msTime{&t.ExpiresAt}, msTime{&t.RevokedAt})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// CreateAPIToken inserts t, filling ID and CreatedAt when empty.
// ErrConflict if the hash exists, ErrNotFound if the user does not.
func (s *Store) CreateAPIToken(ctx context.Context, t *APIToken) error {
	if t.ID == "" {
		t.ID = newID(prefixToken)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now()
	}
	_, err := s.exec(ctx, `INSERT INTO api_tokens (`+tokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.UserID, t.Name, t.TokenHash, ms(t.CreatedAt), ms(t.LastUsedAt), nullMS(t.ExpiresAt), nullMS(t.RevokedAt))
	if err != nil {
		return wrapErr(err, "create api token")
	}
	return nil
}

// GetAPITokenByHash returns a usable token: ErrNotFound if it does not
// exist, is revoked, or has expired at now (the current time when zero).
func (s *Store) GetAPITokenByHash(ctx context.Context, hash string, now time.Time) (*APIToken, error) {
	if now.IsZero() {
		now = time.Now()
	}
	t, err := scanToken(s.queryRow(ctx, `SELECT `+tokenCols+` FROM api_tokens
		WHERE token_hash = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`,
		hash, ms(now)))
	if err != nil {
		return nil, wrapErr(err, "get api token")
	}
	return t, nil
}

// ListAPITokens returns all of a user's tokens, revoked and expired ones
// included, newest first.
func (s *Store) ListAPITokens(ctx context.Context, userID string) ([]APIToken, error) {
	rows, err := s.query(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE user_id = ? ORDER BY created_at DESC, id`, userID)
	ts, err := collect(rows, err, deref(scanToken))
	if err != nil {
		return nil, wrapErr(err, "list api tokens of %s", userID)
	}
	return ts, nil
}

// RevokeAPIToken revokes one of userID's tokens at `at` (now when zero).
// ErrNotFound if the token is not that user's. Revoking twice keeps the
// first revocation time.
func (s *Store) RevokeAPIToken(ctx context.Context, userID, id string, at time.Time) error {
	if at.IsZero() {
		at = now()
	}
	err := s.execOne(ctx, `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND user_id = ?`,
		ms(at), id, userID)
	if err != nil {
		return wrapErr(err, "revoke api token %s", id)
	}
	return nil
}

// TouchAPIToken records a use of the token.
func (s *Store) TouchAPIToken(ctx context.Context, id string, at time.Time) error {
	if err := s.execOne(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, ms(at), id); err != nil {
		return wrapErr(err, "touch api token %s", id)
	}
	return nil
}
