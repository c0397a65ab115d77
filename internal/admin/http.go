package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/wisehosting/wisehosting/internal/adminrpc"
	"github.com/wisehosting/wisehosting/internal/auth"
	"github.com/wisehosting/wisehosting/internal/store"
)

func (s *Service) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /internal/v1/login", s.handle(s.login))
	mux.Handle("POST /internal/v1/logout", s.authed(s.logout))
	mux.Handle("GET /internal/v1/me", s.authed(s.me))
	mux.Handle("GET /internal/v1/status", s.authed(s.status))
	mux.Handle("GET /internal/v1/workers", s.authed(s.workers))
	mux.Handle("GET /internal/v1/hub", s.authed(s.hubStats))
	mux.Handle("GET /internal/v1/jobs", s.authed(s.jobs))
	mux.Handle("GET /internal/v1/apps", s.authed(s.apps))
	mux.Handle("GET /internal/v1/violations", s.authed(s.violations))
	mux.Handle("GET /internal/v1/users", s.authed(s.users))
	mux.Handle("GET /internal/v1/teams", s.authed(s.teams))
	mux.Handle("GET /internal/v1/audit", s.authed(s.audit))
	mux.Handle("GET /internal/v1/rpc", s.authed(s.rpc))
	mux.Handle("/", s.handle(func(http.ResponseWriter, *http.Request) error {
		return &apiError{http.StatusNotFound, "not_found", "no such internal API endpoint"}
	}))
	return mux
}

// guard admits only what a local operator's tool sends: a loopback peer,
// a loopback Host (a web page that rebinds its DNS name to 127.0.0.1 still
// sends its own name), and no Origin (browsers send one; the tool does not).
func (s *Service) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		switch {
		case !loopbackPeer(r.RemoteAddr):
			s.log.Warn("internal API: refused a non-loopback peer", "remote", r.RemoteAddr)
			writeJSON(w, http.StatusForbidden, adminrpc.Error{Message: "the internal API answers loopback clients only", Code: "forbidden"})
		case !loopbackHost(r.Host):
			s.log.Warn("internal API: refused a foreign Host", "host", r.Host, "remote", r.RemoteAddr)
			writeJSON(w, http.StatusForbidden, adminrpc.Error{Message: "Host must be a loopback name (localhost, 127.0.0.1 or [::1])", Code: "forbidden_host"})
		case r.Header.Get("Origin") != "":
			writeJSON(w, http.StatusForbidden, adminrpc.Error{Message: "the internal API is not for browsers", Code: "forbidden"})
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// loopbackPeer reports whether a RemoteAddr is a loopback IP.
func loopbackPeer(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackHost reports whether a Host header names loopback: localhost,
// a loopback IP literal, with or without a port.
func loopbackHost(h string) bool {
	if h == "" {
		return false
	}
	host := h
	if hh, port, err := net.SplitHostPort(h); err == nil {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return false
		}
		host = hh
	} else if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		host = h[1 : len(h)-1]
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// apiError is an answer a client may see; anything else is logged and
// answered with a generic 500.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Message }

func errBadRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, "bad_request", fmt.Sprintf(format, args...)}
}

func errUnauthorized(code, msg string) error { return &apiError{http.StatusUnauthorized, code, msg} }

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Service) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, store.ErrNotFound):
		ae = &apiError{http.StatusNotFound, "not_found", "not found"}
	default:
		s.log.Error("internal API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = &apiError{http.StatusInternalServerError, "internal", "internal error (see the control plane's log)"}
	}
	writeJSON(w, ae.Status, adminrpc.Error{Message: ae.Message, Code: ae.Code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.MarshalWrite(w, v, json.Deterministic(true))
	_, _ = io.WriteString(w, "\n")
}

const maxBody = 64 << 10

func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return errBadRequest("reading body: %v", err)
	}
	if len(body) > maxBody {
		return &apiError{http.StatusRequestEntityTooLarge, "too_large", "request body too large"}
	}
	if err := json.Unmarshal(body, v, json.RejectUnknownMembers(true)); err != nil {
		return errBadRequest("invalid JSON body: %v", err)
	}
	return nil
}

// principal is the signed-in admin of one request.
type principal struct {
	account *store.AdminAccount
	session *store.AdminSession
	token   string // the raw bearer token (the RPC key derives from it)
	peer    string
}

type authedFunc func(w http.ResponseWriter, r *http.Request, p *principal) error

// authed requires a live admin session.
func (s *Service) authed(h authedFunc) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		p, err := s.authenticate(r.Context(), r)
		if err != nil {
			return err
		}
		return h(w, r, p)
	})
}

func (s *Service) authenticate(ctx context.Context, r *http.Request) (*principal, error) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, errUnauthorized("unauthorized", "an admin session is required: run `wisehosting-admin login`")
	}
	if !strings.HasPrefix(token, adminrpc.TokenPrefix) {
		if strings.HasPrefix(token, auth.PrefixSession) || strings.HasPrefix(token, auth.PrefixAPIToken) || strings.HasPrefix(token, auth.PrefixWorker) {
			return nil, errUnauthorized("unauthorized", "a user's or worker's token is not an admin session: log in with `wisehosting-admin login`")
		}
		return nil, errUnauthorized("unauthorized", "not an admin session token")
	}
	hash := auth.HashToken(token)
	now := time.Now()
	sess, acct, err := s.d.Store.GetAdminSession(ctx, hash, now, s.IdleTimeout)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errUnauthorized("session_expired", "the admin session has expired or ended: run `wisehosting-admin login` again")
	}
	if err != nil {
		return nil, err
	}
	// Record activity, at most every 30 s: the idle limit is an hour.
	if now.Sub(sess.LastSeenAt) > 30*time.Second {
		if err := s.d.Store.TouchAdminSession(ctx, hash, now); err != nil {
			return nil, err
		}
	}
	return &principal{account: acct, session: sess, token: token, peer: r.RemoteAddr}, nil
}

func (s *Service) login(w http.ResponseWriter, r *http.Request) error {
	var in adminrpc.LoginRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	username := strings.ToLower(strings.TrimSpace(in.Username))
	if len(username) > 64 {
		username = username[:64]
	}
	for _, th := range []struct {
		t   *auth.Throttle
		key string
	}{{s.userThrottle, username}, {s.allThrottle, "*"}} {
		if ok, wait := th.t.Allowed(th.key); !ok {
			secs := int(wait.Seconds()) + 1
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			return &apiError{http.StatusTooManyRequests, "too_many_attempts", fmt.Sprintf("too many failed logins: try again in %d s", secs)}
		}
	}
	fail := func(acct *store.AdminAccount, why string) error {
		s.userThrottle.Fail(username)
		s.allThrottle.Fail("*")
		s.record(ctx, acct, username, "login", "", why, r.RemoteAddr, "denied")
		return errUnauthorized("unauthorized", "wrong username, password or one-time code")
	}
	acct, err := s.d.Store.GetAdminAccountByUsername(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		auth.BurnPasswordCheck(in.Password)
		return fail(nil, "no such account")
	}
	if err != nil {
		return err
	}
	if ok, err := auth.CheckPassword(acct.PasswordHash, in.Password); err != nil || !ok {
		return fail(acct, "wrong password")
	}
	if acct.Disabled {
		return fail(acct, "account disabled")
	}
	if len(acct.TOTPSecretEnc) > 0 {
		secret, err := s.d.Box.Open(acct.TOTPSecretEnc, totpContext(acct.Username))
		if err != nil {
			return fmt.Errorf("open the TOTP secret of %s: %w", acct.Username, err)
		}
		if strings.TrimSpace(in.TOTP) == "" {
			return errUnauthorized("totp_required", "this account needs a one-time code from its authenticator app")
		}
		if !checkTOTP(string(secret), in.TOTP, time.Now()) {
			return fail(acct, "wrong one-time code")
		}
	}
	raw, hash := newSessionToken()
	now := time.Now().UTC()
	sess := &store.AdminSession{TokenHash: hash, AccountID: acct.ID, CreatedAt: now, ExpiresAt: now.Add(s.SessionTTL), RemoteAddr: r.RemoteAddr}
	if err := s.d.Store.CreateAdminSession(ctx, sess); err != nil {
		return err
	}
	if err := s.d.Store.TouchAdminLogin(ctx, acct.ID, now); err != nil {
		return err
	}
	s.userThrottle.Reset(username)
	s.record(ctx, acct, acct.Username, "login", "", "", r.RemoteAddr, "ok")
	writeJSON(w, http.StatusOK, adminrpc.Session{Token: raw, Username: acct.Username, Role: acct.Role,
		ExpiresAt: sess.ExpiresAt, IdleTimeoutSeconds: int(s.IdleTimeout.Seconds())})
	return nil
}

// newSessionToken returns a random admin token and its stored hash.
func newSessionToken() (raw, hash string) { return auth.NewToken(adminrpc.TokenPrefix) }

func (s *Service) logout(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := s.d.Store.DeleteAdminSession(r.Context(), p.session.TokenHash); err != nil {
		return err
	}
	s.closeRPCOf(p.session.TokenHash)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) me(w http.ResponseWriter, r *http.Request, p *principal) error {
	writeJSON(w, http.StatusOK, adminrpc.Session{Username: p.account.Username, Role: p.account.Role,
		ExpiresAt: p.session.ExpiresAt, IdleTimeoutSeconds: int(s.IdleTimeout.Seconds())})
	return nil
}

// record writes one audit entry (and never fails the request over it: a
// failure is logged loudly) and publishes it as an admin.action event.
func (s *Service) record(ctx context.Context, acct *store.AdminAccount, username, action, target, detail, peer, result string) {
	e := &store.AdminAuditEntry{Username: username, Action: action, Target: target, Detail: detail, RemoteAddr: peer, Result: result}
	if acct != nil {
		e.AccountID = acct.ID
	}
	if err := s.d.Store.InsertAdminAudit(context.WithoutCancel(ctx), e); err != nil {
		s.log.Error("admin audit entry NOT written", "action", action, "target", target, "username", username, "result", result, "err", err)
	}
	s.log.Info("admin action", "username", username, "action", action, "target", target, "result", result, "remote", peer)
	msg := fmt.Sprintf("%s %s", action, target)
	if detail != "" {
		msg += ": " + detail
	}
	s.d.Events.Publish(adminrpc.Event{Kind: adminrpc.EventAdminAction, Actor: username, Message: strings.TrimSpace(msg),
		Data: map[string]any{"action": action, "target": target, "result": result}})
}
