package auth

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Worker JWTs are short-lived bearer credentials for the worker WebSocket.
// One algorithm is pinned (HS256) and issuer, audience and expiry are
// required, so "alg":"none", an RS/ES token, an expired token, or one signed
// with another key are all refused.
const (
	jwtIssuer   = "wisehosting"
	jwtAudience = "wisehosting-worker"
	// WorkerTokenTTL is how long a worker JWT lives: minutes, not days.
	WorkerTokenTTL = 15 * time.Minute
)

// ErrInvalidToken is returned for any token that does not verify.
var ErrInvalidToken = errors.New("auth: invalid or expired token")

// WorkerTokens issues and verifies worker JWTs.
type WorkerTokens struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

// NewWorkerTokens returns an issuer/verifier keyed with key (≥ 32 bytes).
func NewWorkerTokens(key []byte) (*WorkerTokens, error) {
	if len(key) < 32 {
		return nil, errors.New("auth: worker JWT key must be at least 32 bytes")
	}
	return &WorkerTokens{key: key, ttl: WorkerTokenTTL, now: time.Now}, nil
}

type workerClaims struct {
	WorkerID int64 `json:"wid"`
	jwt.RegisteredClaims
}

// Issue returns a token for workerID and its expiry.
func (w *WorkerTokens) Issue(workerID int64) (string, time.Time, error) {
	now := w.now().Truncate(time.Second)
	exp := now.Add(w.ttl)
	claims := workerClaims{
		WorkerID: workerID,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    jwtIssuer,
			Subject:   strconv.FormatInt(workerID, 10),
			Audience:  jwt.ClaimStrings{jwtAudience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(w.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: sign worker token: %w", err)
	}
	return tok, exp, nil
}

// Verify returns the worker id of a valid token.
func (w *WorkerTokens) Verify(token string) (int64, error) {
	var claims workerClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return w.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(jwtIssuer),
		jwt.WithAudience(jwtAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(5*time.Second),
		jwt.WithTimeFunc(w.now),
	)
	if err != nil || claims.WorkerID <= 0 || claims.Subject != strconv.FormatInt(claims.WorkerID, 10) {
		return 0, ErrInvalidToken
	}
	return claims.WorkerID, nil
}
