package api

import (
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wisehosting/wisehosting/internal/auth"
	"github.com/wisehosting/wisehosting/internal/httpx"
	"github.com/wisehosting/wisehosting/internal/store"
)

// settingSignupsOpen is "true" or "false"; absent means open.
const settingSignupsOpen = "signups_open"

type credentials struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name,omitzero"`
}

type sessionResponse struct {
	Token     string    `json:"token"`
	CSRFToken string    `json:"csrf_token"`
	ExpiresAt time.Time `json:"expires_at"`
	User      userJSON  `json:"user"`
}

type userJSON struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	InstanceRole string    `json:"instance_role,omitzero"`
	CreatedAt    time.Time `json:"created_at"`
}

func toUserJSON(u *store.User) userJSON {
	return userJSON{ID: u.ID, Email: u.Email, Name: u.Name, InstanceRole: u.InstanceRole, CreatedAt: u.CreatedAt}
}

func normalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) > 254 {
		return "", errValidation("email is too long")
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || !strings.Contains(s[strings.LastIndexByte(s, '@'):], ".") && !strings.HasSuffix(s, "@localhost") {
		return "", errValidation("email %q is not a valid address", s)
	}
	return s, nil
}

func (a *API) signup(w http.ResponseWriter, r *http.Request) error {
	if err := a.sameOriginOrScript(r); err != nil {
		return err
	}
	var in credentials
	if err := decode(r, &in); err != nil {
		return err
	}
	email, err := normalizeEmail(in.Email)
	if err != nil {
		return err
	}
	if err := auth.CheckPasswordPolicy(in.Password); err != nil {
		return errValidation("%v", err)
	}
	if len(in.Name) > 100 {
		return errValidation("name is too long (100 characters at most)")
	}
	ctx := r.Context()
	n, err := a.Store.CountUsers(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		open, err := a.signupsOpen(r)
		if err != nil {
			return err
		}
		if !open {
			return errForbidden("sign-ups are closed on this instance; ask its owner for an account")
		}
	}
	hash, err := auth.HashPassword(in.Password)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(in.Name)
	if name == "" {
		name = email[:strings.IndexByte(email, '@')]
	}
	u := &store.User{Email: email, Name: name, PasswordHash: hash}
	team := &store.Team{Name: name + "'s team", Slug: personalSlug(email), Personal: true}
	if err := a.Store.CreateUserWithTeam(ctx, u, team); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return errConflict("an account with this email already exists")
		}
		return err
	}
	a.Logger.Info("user signed up", "user_id", u.ID, "instance_role", u.InstanceRole)
	return a.startSession(w, r, u, http.StatusCreated)
}

// personalSlug makes a unique, readable team slug for a new user.
func personalSlug(email string) string {
	local := email[:strings.IndexByte(email, '@')]
	var b strings.Builder
	for _, c := range local {
		if b.Len() >= 20 {
			break
		}
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		} else {
			b.WriteByte('-')
		}
	}
	_, suffix := auth.NewToken("")
	return strings.Trim(b.String(), "-") + "-" + suffix[:6]
}

// sameOriginOrScript refuses a sign-in or sign-up a browser sends from
// another site (login CSRF: a hostile page, or an app on a sibling
// subdomain, signing the victim's browser into the attacker's account).
// Browsers say where a request comes from (Sec-Fetch-Site, Origin);
// curl and the CLI send neither and are let through, which is why the
// Content-Type is not what is checked. The public URL's host counts as
// this server's too (a reverse proxy may rewrite Host).
func (a *API) sameOriginOrScript(r *http.Request) error {
	refuse := &Error{http.StatusForbidden, "cross_origin", "sign-in and sign-up are accepted only from this server's own pages"}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return refuse
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) && !strings.EqualFold(o, a.publicOrigin()) {
			return refuse
		}
	}
	return nil
}

// publicOrigin is scheme://host of the public URL.
func (a *API) publicOrigin() string {
	u, err := url.Parse(a.PublicURL)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// clientIP is who made r, as far as sign-in throttling and sessions are
// concerned: the peer, or what a trusted proxy says.
func (a *API) clientIP(r *http.Request) string {
	if ip := httpx.ClientIP(r, a.TrustedProxies); ip.IsValid() {
		return ip.String()
	}
	return r.RemoteAddr
}

func (a *API) login(w http.ResponseWriter, r *http.Request) error {
	if err := a.sameOriginOrScript(r); err != nil {
		return err
	}
	var in credentials
	if err := decode(r, &in); err != nil {
		return err
	}
	email := strings.ToLower(strings.TrimSpace(in.Email))
	// No address is longer, no password either: refused before they
	// become throttle keys or reach the password hash.
	if len(email) > 254 || len(in.Password) > auth.MaxPasswordLen {
		return errUnauthorized("wrong email or password")
	}
	ip := a.clientIP(r)
	emailFromIP := email + "\x00" + ip
	for _, th := range []struct {
		t   *auth.Throttle
		key string
	}{{a.loginThrottle, emailFromIP}, {a.emailThrottle, email}, {a.ipThrottle, ip}} {
		if ok, wait := th.t.Allowed(th.key); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			return &Error{http.StatusTooManyRequests, "too_many_attempts", "too many failed sign-in attempts; try again later"}
		}
	}
	ctx := r.Context()
	u, err := a.Store.GetUserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		auth.BurnPasswordCheck(in.Password)
	} else if err != nil {
		return err
	}
	ok := false
	if u != nil {
		ok, err = auth.CheckPassword(u.PasswordHash, in.Password)
		if err != nil {
			return err
		}
	}
	if !ok {
		a.loginThrottle.Fail(emailFromIP)
		a.emailThrottle.Fail(email)
		a.ipThrottle.Fail(ip)
		return errUnauthorized("wrong email or password")
	}
	if u.Suspended {
		return errForbidden("this account is suspended")
	}
	a.loginThrottle.Reset(emailFromIP)
	_ = a.Store.TouchLogin(ctx, u.ID, a.Now())
	return a.startSession(w, r, u, http.StatusOK)
}

// startSession creates a session, sets its cookie and answers with the
// token (usable as a bearer token by scripts and the CLI).
func (a *API) startSession(w http.ResponseWriter, r *http.Request, u *store.User, status int) error {
	raw, hash := auth.NewToken(auth.PrefixSession)
	csrf, _ := auth.NewToken("")
	now := a.Now()
	s := &store.Session{TokenHash: hash, UserID: u.ID, CSRFToken: csrf, CreatedAt: now, ExpiresAt: now.Add(SessionTTL),
		LastSeenAt: now, UserAgent: truncate(r.UserAgent(), 200), IP: a.clientIP(r)}
	if err := a.Store.CreateSession(r.Context(), s); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: raw, Path: "/", Expires: s.ExpiresAt,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: strings.HasPrefix(a.PublicURL, "https://"),
	})
	writeJSON(w, status, sessionResponse{Token: raw, CSRFToken: csrf, ExpiresAt: s.ExpiresAt, User: toUserJSON(u)})
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (a *API) logout(w http.ResponseWriter, r *http.Request, p *principal) error {
	if p.Session != nil {
		if err := a.Store.DeleteSession(r.Context(), p.Session.TokenHash); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type meResponse struct {
	User      userJSON   `json:"user"`
	Teams     []teamJSON `json:"teams"`
	CSRFToken string     `json:"csrf_token,omitzero"`
}

func (a *API) me(w http.ResponseWriter, r *http.Request, p *principal) error {
	teams, err := a.Store.ListTeamsForUser(r.Context(), p.User.ID)
	if err != nil {
		return err
	}
	out := meResponse{User: toUserJSON(p.User), Teams: make([]teamJSON, 0, len(teams))}
	for _, t := range teams {
		out.Teams = append(out.Teams, toTeamJSON(t))
	}
	if p.Session != nil {
		out.CSRFToken = p.Session.CSRFToken
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type tokenJSON struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Token      string    `json:"token,omitzero"` // only when created
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request, p *principal) error {
	toks, err := a.Store.ListAPITokens(r.Context(), p.User.ID)
	if err != nil {
		return err
	}
	out := make([]tokenJSON, 0, len(toks))
	for _, t := range toks {
		out = append(out, tokenJSON{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt, ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) createToken(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in struct {
		Name          string `json:"name"`
		ExpiresInDays int    `json:"expires_in_days,omitzero"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len(in.Name) > 100 {
		return errValidation("name is required (100 characters at most)")
	}
	if in.ExpiresInDays < 0 || in.ExpiresInDays > 3650 {
		return errValidation("expires_in_days must be between 0 (never) and 3650")
	}
	raw, hash := auth.NewToken(auth.PrefixAPIToken)
	now := a.Now()
	t := &store.APIToken{UserID: p.User.ID, Name: in.Name, TokenHash: hash, CreatedAt: now}
	if in.ExpiresInDays > 0 {
		t.ExpiresAt = now.Add(time.Duration(in.ExpiresInDays) * 24 * time.Hour)
	}
	if err := a.Store.CreateAPIToken(r.Context(), t); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, tokenJSON{ID: t.ID, Name: t.Name, Token: raw, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt})
	return nil
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := a.Store.RevokeAPIToken(r.Context(), p.User.ID, r.PathValue("id"), a.Now()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) signupsOpen(r *http.Request) (bool, error) {
	v, err := a.Store.GetSetting(r.Context(), settingSignupsOpen)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	return v != "false", err
}

type instanceJSON struct {
	SignupsOpen bool `json:"signups_open"`
}

func (a *API) getInstance(w http.ResponseWriter, r *http.Request, p *principal) error {
	open, err := a.signupsOpen(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, instanceJSON{SignupsOpen: open})
	return nil
}

func (a *API) updateInstance(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in struct {
		SignupsOpen *bool `json:"signups_open"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.SignupsOpen != nil {
		if p.User.InstanceRole != store.InstanceOwner {
			return errForbidden("only the instance owner may open or close sign-ups")
		}
		if err := a.Store.SetSetting(r.Context(), settingSignupsOpen, strconv.FormatBool(*in.SignupsOpen)); err != nil {
			return err
		}
	}
	return a.getInstance(w, r, p)
}
