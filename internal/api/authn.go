package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/wisehosting/wisehosting/internal/auth"
	"github.com/wisehosting/wisehosting/internal/store"
)

// SessionCookie carries the dashboard's session token.
const SessionCookie = "wh_session"

// SessionTTL is how long a session lives without use.
const SessionTTL = 30 * 24 * time.Hour

// principal is who is calling.
type principal struct {
	User    *store.User
	Session *store.Session // nil for API tokens
	// ViaCookie: cookie-authenticated requests need a CSRF token to write.
	ViaCookie bool
}

type userHandler func(w http.ResponseWriter, r *http.Request, p *principal) error

type ctxKey struct{}

// requireUser authenticates the request (bearer token or session cookie).
func (a *API) requireUser(h userHandler) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := a.authenticate(r)
		if err != nil {
			return err
		}
		if p.ViaCookie && !safeMethod(r.Method) {
			got := r.Header.Get("X-CSRF-Token")
			if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(p.Session.CSRFToken)) != 1 {
				return errForbidden("missing or wrong X-CSRF-Token header")
			}
		}
		if p.User.Suspended {
			return errForbidden("this account is suspended")
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, p)), p)
	}
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func (a *API) authenticate(r *http.Request) (*principal, error) {
	ctx := r.Context()
	now := a.Now()
	raw, viaCookie := "", false
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
			return nil, errUnauthorized("malformed Authorization header: want Bearer <token>")
		}
		raw = strings.TrimSpace(tok)
	} else if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		raw, viaCookie = c.Value, true
	} else {
		return nil, errUnauthorized("sign in first: no session or token")
	}
	hash := auth.HashToken(raw)
	switch {
	case strings.HasPrefix(raw, auth.PrefixSession):
		s, err := a.Store.GetSession(ctx, hash, now)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errUnauthorized("session expired or signed out")
		}
		if err != nil {
			return nil, err
		}
		u, err := a.Store.GetUserByID(ctx, s.UserID)
		if err != nil {
			return nil, err
		}
		if now.Sub(s.LastSeenAt) > time.Minute {
			_ = a.Store.TouchSession(ctx, hash, now, now.Add(SessionTTL))
		}
		return &principal{User: u, Session: s, ViaCookie: viaCookie}, nil
	case strings.HasPrefix(raw, auth.PrefixAPIToken) && !viaCookie:
		t, err := a.Store.GetAPITokenByHash(ctx, hash, now)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errUnauthorized("token revoked, expired or unknown")
		}
		if err != nil {
			return nil, err
		}
		u, err := a.Store.GetUserByID(ctx, t.UserID)
		if err != nil {
			return nil, err
		}
		if now.Sub(t.LastUsedAt) > time.Minute {
			_ = a.Store.TouchAPIToken(ctx, t.ID, now)
		}
		return &principal{User: u}, nil
	}
	return nil, errUnauthorized("unknown credential")
}

// requireInstanceAdmin lets only the instance's owner and admins through.
func (a *API) requireInstanceAdmin(h userHandler) userHandler {
	return func(w http.ResponseWriter, r *http.Request, p *principal) error {
		if !isInstanceAdmin(p.User) {
			return errForbidden("only the instance owner or an instance admin may do this")
		}
		return h(w, r, p)
	}
}

func isInstanceAdmin(u *store.User) bool {
	return u.InstanceRole == store.InstanceOwner || u.InstanceRole == store.InstanceAdmin
}

// teamRole returns the caller's role in a team, or a 404 when they are not
// a member: a stranger learns nothing about what exists.
func (a *API) teamRole(ctx context.Context, p *principal, teamID string) (string, error) {
	role, err := a.Store.GetMembership(ctx, teamID, p.User.ID)
	if errors.Is(err, store.ErrNotFound) {
		return "", errNotFound("not found")
	}
	return role, err
}

// need checks that role grants at least min.
func need(role, min string) error {
	if !auth.RoleAtLeast(role, min) {
		return errForbidden("your role in this team (" + role + ") does not allow this; it needs " + min + " or higher")
	}
	return nil
}
