package api_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wisehosting/wisehosting/internal/logstore"
	"github.com/wisehosting/wisehosting/internal/servertest"
	"github.com/wisehosting/wisehosting/internal/store"
)

// The password every test user has.
const pw = "password-123"

// Secrets the fixtures store; they must never come back except where a
// case asks for them (env values with ?reveal=1).
const (
	gitToken     = "ghp_ScenarioGitToken0001"
	rotatedToken = "ghp_RotatedGitToken0002"
	userGitToken = "ghp_UserGitToken0003"
	webSecret    = "hunter2-web-secret"
	acmeSecret   = "acme-secret-value-42"
)

// internalLeaks is text that only internal errors, hashes or Go types
// would put in a body.
// Each entry holds a character outside the lowercase base32 of random
// tokens, or is long enough never to appear in one by chance.
var internalLeaks = []string{"sql:", "store:", "SQLSTATE", "sqlite", "pgx:", "pgconn", "pq:", "dispatch:", "jsontext:", "http: ",
	" into Go ", "$argon2", "goroutine ", "runtime error", "internal error"}

// world is one server with its actors and fixtures, shared by a
// database's cases.
type world struct {
	s  *servertest.Server
	sc *servertest.Scenarios
}

func (w *world) v(name string) string { return w.sc.Vars[name] }

func (w *world) store() *store.Store { return w.s.S.Store }

// signup creates a user and returns its session token and id.
func signup(t testing.TB, s *servertest.Server, email string) (token, id string) {
	t.Helper()
	r := s.Call(t, http.StatusCreated, "POST", "/v1/auth/signup", "", map[string]string{"email": email, "password": pw})
	var out struct {
		Token string `json:"token"`
		User  struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	r.JSON(t, &out)
	return out.Token, out.User.ID
}

// session is a signed-in browser: the bearer token, the CSRF token and the
// wh_session cookie header value.
type session struct{ token, csrf, cookie string }

func login(t testing.TB, s *servertest.Server, email string) session {
	t.Helper()
	r := s.Call(t, http.StatusOK, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": pw})
	var out struct {
		Token string `json:"token"`
		CSRF  string `json:"csrf_token"`
	}
	r.JSON(t, &out)
	se := session{token: out.Token, csrf: out.CSRF}
	for _, h := range r.Header.Values("Set-Cookie") {
		if c, err := http.ParseSetCookie(h); err == nil && c.Name == "wh_session" {
			se.cookie = c.Name + "=" + c.Value
		}
	}
	if se.cookie == "" || se.csrf == "" {
		t.Fatalf("login %s: no wh_session cookie or csrf_token: %v %s", email, r.Header, r.Body)
	}
	return se
}

// createApp creates an app as token and returns its id.
func createApp(t testing.TB, s *servertest.Server, token string, body map[string]any) string {
	t.Helper()
	r := s.Call(t, http.StatusCreated, "POST", "/v1/apps", token, body)
	var out struct {
		ID string `json:"id"`
	}
	r.JSON(t, &out)
	return out.ID
}

// deploy queues a deployment of app and returns its id.
func deploy(t testing.TB, s *servertest.Server, token, app string) string {
	t.Helper()
	r := s.Call(t, http.StatusCreated, "POST", "/v1/apps/"+app+"/deployments", token, nil)
	var out struct {
		ID string `json:"id"`
	}
	r.JSON(t, &out)
	return out.ID
}

// createWorker creates a worker as token and returns its id and raw key.
func createWorker(t testing.TB, s *servertest.Server, token, name string) (id, key string) {
	t.Helper()
	var out struct {
		ID     int64  `json:"id"`
		APIKey string `json:"api_key"`
	}
	s.Call(t, http.StatusCreated, "POST", "/v1/workers", token, map[string]string{"name": name}).JSON(t, &out)
	return itoa(out.ID), out.APIKey
}

// personalTeam returns the id of the caller's personal team.
func personalTeam(t testing.TB, s *servertest.Server, token string) string {
	t.Helper()
	var me struct {
		Teams []struct {
			ID       string `json:"id"`
			Personal bool   `json:"personal"`
		} `json:"teams"`
	}
	s.Call(t, http.StatusOK, "GET", "/v1/me", token, nil).JSON(t, &me)
	for _, tm := range me.Teams {
		if tm.Personal {
			return tm.ID
		}
	}
	t.Fatal("no personal team")
	return ""
}

// newWorld starts a server and creates the fixtures every case may use:
//
//	owner  instance owner; personal app "web" (git token, env DB_PASSWORD,
//	       a deployment {{dep}} with a build log, a runtime log line, a
//	       stats point, a violation); team "acme" (owner)
//	admin, member, viewer  members of acme with those roles
//	user   an ordinary user in no shared team
//	spare  an ordinary user the member cases add and remove
//	acme-api  an app in acme (env API_KEY), deployment {{acme_dep}}
//	w1     a worker ({{wid}}, raw key {{wkey}})
func newWorld(t *testing.T, db servertest.DB) *world {
	s := servertest.New(t, db)
	sc := servertest.NewScenarios(s)
	w := &world{s: s, sc: sc}
	for _, name := range []string{"owner", "user", "admin", "member", "viewer", "spare"} {
		tok, id := signup(t, s, name+"@example.com")
		sc.Actors[name] = tok
		sc.Vars[name+"_id"] = id
	}
	owner := sc.Actors["owner"]
	sc.Vars["owner_team"] = personalTeam(t, s, owner)
	sc.Vars["user_team"] = personalTeam(t, s, sc.Actors["user"])

	var team struct {
		ID string `json:"id"`
	}
	s.Call(t, http.StatusCreated, "POST", "/v1/teams", owner, map[string]string{"name": "Acme", "slug": "acme"}).JSON(t, &team)
	sc.Vars["acme_id"] = team.ID
	for _, role := range []string{"admin", "member", "viewer"} {
		s.Call(t, http.StatusCreated, "POST", "/v1/teams/acme/members", owner, map[string]string{"email": role + "@example.com", "role": role})
	}

	sc.Vars["web_id"] = createApp(t, s, owner, map[string]any{"name": "web", "repo_url": "https://github.com/example/web",
		"git_token": gitToken, "env": map[string]string{"DB_PASSWORD": webSecret}})
	sc.Vars["acme_api_id"] = createApp(t, s, owner, map[string]any{"name": "acme-api", "team": "acme",
		"repo_url": "https://github.com/example/api", "env": map[string]string{"API_KEY": acmeSecret}})
	sc.Vars["dep"] = deploy(t, s, owner, "web")
	sc.Vars["acme_dep"] = deploy(t, s, owner, "acme-api")

	ctx := context.Background()
	st := w.store()
	if _, err := st.AppendBuildLog(ctx, w.v("dep"), 0, "Step 1/2 : FROM alpine\nbuild ok\n"); err != nil {
		t.Fatal(err)
	}
	if err := w.s.S.RuntimeLogs.Append(w.v("web_id"), []logstore.Line{{Stream: "stdout", Msg: "hello from web"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.InsertAppStats(ctx, []store.AppStat{{AppID: w.v("web_id"), At: time.Now(), CPUPercent: 12.5, MemBytes: 1 << 20}}); err != nil {
		t.Fatal(err)
	}
	if err := st.InsertViolation(ctx, &store.Violation{AppID: w.v("web_id"), Kind: "oom", Message: "killed: out of memory", Action: "restart"}); err != nil {
		t.Fatal(err)
	}

	sc.Vars["wid"], sc.Vars["wkey"] = createWorker(t, s, owner, "w1")

	var pat struct {
		ID string `json:"id"`
	}
	s.Call(t, http.StatusCreated, "POST", "/v1/tokens", owner, map[string]string{"name": "owner-ci"}).JSON(t, &pat)
	sc.Vars["owner_pat_id"] = pat.ID

	sc.NeverContains = append(append([]string{}, internalLeaks...), gitToken, rotatedToken, userGitToken, "{{wkey}}")
	return w
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// secretHeaders are what an answer carrying a credential must have.
var secretHeaders = map[string]string{"Cache-Control": "no-store", "Set-Cookie": ""}

// checkSessionCookie checks the session cookie's attributes.
func checkSessionCookie(t *testing.T, r servertest.Response) {
	t.Helper()
	c, err := http.ParseSetCookie(r.Header.Get("Set-Cookie"))
	if err != nil || c.Name != "wh_session" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
		t.Errorf("session cookie %q: %v", r.Header.Get("Set-Cookie"), err)
	}
}

// badBodies are the malformed-body cases of a JSON route: not JSON, an
// unknown field, a wrong type (wrongType is a body with one), an empty
// body and a JSON array. All are 400 and name no Go type.
func badBodies(name, method, path, actor, wrongType string) []servertest.Scenario {
	bad := []struct{ what, body, contains string }{
		{"not JSON", "this is not json", "invalid JSON"},
		{"unknown field", `{"bogus_field": 1}`, "bogus_field"},
		{"wrong type", wrongType, "invalid JSON"},
		{"empty body", "", "JSON object"},
		{"array", "[]", "invalid JSON"},
	}
	var out []servertest.Scenario
	for _, b := range bad {
		if name != "" {
			b.what = name + ": " + b.what
		}
		out = append(out, servertest.Scenario{Name: b.what, Method: method, Path: path, Actor: actor, Body: b.body,
			WantStatus: 400, WantContains: []string{`"code":"bad_request"`, b.contains}})
	}
	return out
}

// unauth is the case of a route called without credentials.
func unauth(method, path string) servertest.Scenario {
	return servertest.Scenario{Name: "no credentials", Method: method, Path: path, WantStatus: 401,
		WantContains: []string{`"code":"unauthorized"`}}
}

// named prefixes every case's name.
func named(prefix string, cases ...[]servertest.Scenario) []servertest.Scenario {
	var out []servertest.Scenario
	for _, cs := range cases {
		for _, c := range cs {
			c.Name = prefix + ": " + c.Name
			out = append(out, c)
		}
	}
	return out
}

// group is a list of cases, for named.
func group(c ...servertest.Scenario) []servertest.Scenario { return c }

func TestAPIScenarios(t *testing.T) {
	servertest.ForEachDB(t, func(t *testing.T, db servertest.DB) {
		w := newWorld(t, db)
		cases := concat(
			accountCases(w), tokenCases(w), instanceCases(w), teamCases(w), appCases(w), envCases(w),
			jobCases(w), rollbackCases(w), domainCases(w), deploymentCases(w), logCases(w), workerCases(w), miscCases(w),
		)
		w.sc.Run(t, cases)
		checkRouteCoverage(t, w.sc.Calls)
		t.Logf("%s: %d scenarios", db.Name, len(cases))
	})
}

// TestSignupsClosed closes sign-ups, which changes the whole instance, so
// it has a server of its own.
func TestSignupsClosed(t *testing.T) {
	servertest.ForEachDB(t, func(t *testing.T, db servertest.DB) {
		s := servertest.New(t, db)
		sc := servertest.NewScenarios(s)
		sc.NeverContains = internalLeaks
		for _, name := range []string{"owner", "user", "iadmin"} {
			sc.Actors[name], sc.Vars[name+"_id"] = signup(t, s, name+"@example.com")
		}
		if err := s.S.Store.SetInstanceRole(context.Background(), sc.Vars["iadmin_id"], store.InstanceAdmin); err != nil {
			t.Fatal(err)
		}
		closeBody := map[string]bool{"signups_open": false}
		cases := []servertest.Scenario{
			{Name: "a user cannot close sign-ups", Method: "PATCH", Path: "/v1/instance", Actor: "user", Body: closeBody, WantStatus: 403},
			{Name: "an instance admin manages workers", Method: "GET", Path: "/v1/workers", Actor: "iadmin", WantStatus: 200},
			{Name: "but cannot close sign-ups", Method: "PATCH", Path: "/v1/instance", Actor: "iadmin", Body: closeBody, WantStatus: 403,
				WantContains: []string{"instance owner"}},
			{Name: "still open", Method: "GET", Path: "/v1/instance", Actor: "user", WantStatus: 200, WantContains: []string{`"signups_open":true`}},
			{Name: "the owner closes them", Method: "PATCH", Path: "/v1/instance", Actor: "owner", Body: closeBody, WantStatus: 200,
				WantContains: []string{`"signups_open":false`}},
			{Name: "everyone sees them closed", Method: "GET", Path: "/v1/instance", Actor: "user", WantStatus: 200,
				WantContains: []string{`"signups_open":false`}},
			{Name: "a new sign-up is refused", Method: "POST", Path: "/v1/auth/signup",
				Body: map[string]string{"email": "late@example.com", "password": pw}, WantStatus: 403, WantNotContains: []string{"whs_"}},
			{Name: "and creates no account", Method: "POST", Path: "/v1/auth/login",
				Body: map[string]string{"email": "late@example.com", "password": pw}, WantStatus: 401},
			{Name: "existing users still log in", Method: "POST", Path: "/v1/auth/login",
				Body: map[string]string{"email": "user@example.com", "password": pw}, WantStatus: 200},
			{Name: "the owner reopens them", Method: "PATCH", Path: "/v1/instance", Actor: "owner",
				Body: map[string]bool{"signups_open": true}, WantStatus: 200, WantContains: []string{`"signups_open":true`}},
			{Name: "sign-up works again", Method: "POST", Path: "/v1/auth/signup",
				Body: map[string]string{"email": "late@example.com", "password": pw}, WantStatus: 201,
				WantNotContains: []string{`"instance_role"`}},
		}
		sc.Run(t, cases)
		t.Logf("%s: %d scenarios", db.Name, len(cases))
	})
}

func concat(parts ...[]servertest.Scenario) []servertest.Scenario {
	var out []servertest.Scenario
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func accountCases(w *world) []servertest.Scenario {
	signupBody := func(email string) map[string]string { return map[string]string{"email": email, "password": pw} }
	return concat(
		named("POST /v1/auth/signup", group(
			servertest.Scenario{Name: "success", Method: "POST", Path: "/v1/auth/signup",
				Body:       map[string]string{"email": "new1@example.com", "password": pw, "name": "New One"},
				WantStatus: 201, WantContains: []string{`"token":"whs_`, `"csrf_token"`, `"email":"new1@example.com"`, `"name":"New One"`},
				WantNotContains: []string{pw, "password"}, WantHeader: secretHeaders,
				After: func(t *testing.T, r servertest.Response) {
					checkSessionCookie(t, r)
					if strings.Contains(string(r.Body), `"instance_role"`) {
						t.Errorf("a later sign-up got an instance role: %s", r.Body)
					}
				}},
			servertest.Scenario{Name: "duplicate email", Method: "POST", Path: "/v1/auth/signup", Body: signupBody("user@example.com"),
				WantStatus: 409, WantContains: []string{`"code":"conflict"`}},
			servertest.Scenario{Name: "duplicate email, other case and spaces", Method: "POST", Path: "/v1/auth/signup",
				Body: signupBody("  USER@Example.COM "), WantStatus: 409},
			servertest.Scenario{Name: "invalid email", Method: "POST", Path: "/v1/auth/signup", Body: signupBody("not-an-email"),
				WantStatus: 422, WantContains: []string{`"code":"invalid"`}},
			servertest.Scenario{Name: "email with display name", Method: "POST", Path: "/v1/auth/signup",
				Body: signupBody("Eve <eve@example.com>"), WantStatus: 422},
			servertest.Scenario{Name: "short password", Method: "POST", Path: "/v1/auth/signup",
				Body: map[string]string{"email": "short@example.com", "password": "short"}, WantStatus: 422},
			servertest.Scenario{Name: "name too long", Method: "POST", Path: "/v1/auth/signup",
				Body: map[string]string{"email": "long@example.com", "password": pw, "name": strings.Repeat("n", 101)}, WantStatus: 422},
		), badBodies("body", "POST", "/v1/auth/signup", "", `{"email": 5, "password": "password-123"}`)),

		named("POST /v1/auth/login", group(
			servertest.Scenario{Name: "success", Method: "POST", Path: "/v1/auth/login", Body: signupBody("user@example.com"),
				WantStatus: 200, WantContains: []string{`"token":"whs_`, `"csrf_token"`, `"email":"user@example.com"`},
				WantHeader: secretHeaders, WantNotContains: []string{pw}, After: checkSessionCookie},
			servertest.Scenario{Name: "email is case-insensitive", Method: "POST", Path: "/v1/auth/login",
				Body: signupBody(" User@Example.com"), WantStatus: 200},
			// Login CSRF: a browser says where the request comes from.
			servertest.Scenario{Name: "from a cross-site page", Method: "POST", Path: "/v1/auth/login", Body: signupBody("user@example.com"),
				Header: map[string]string{"Sec-Fetch-Site": "cross-site"}, WantStatus: 403,
				WantContains: []string{`"code":"cross_origin"`}, WantNotContains: []string{"token"}},
			servertest.Scenario{Name: "from an app on a sibling subdomain", Method: "POST", Path: "/v1/auth/login", Body: signupBody("user@example.com"),
				Header: map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://evil.localhost:8080"}, WantStatus: 403},
			servertest.Scenario{Name: "with another Origin only", Method: "POST", Path: "/v1/auth/login", Body: signupBody("user@example.com"),
				Header: map[string]string{"Origin": "https://attacker.example"}, WantStatus: 403},
			servertest.Scenario{Name: "with the Origin null", Method: "POST", Path: "/v1/auth/login", Body: signupBody("user@example.com"),
				Header: map[string]string{"Origin": "null"}, WantStatus: 403},
			servertest.Scenario{Name: "from the dashboard (same origin)", Method: "POST", Path: "/v1/auth/login", Body: signupBody("user@example.com"),
				Header: map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": w.s.URL}, WantStatus: 200},
			servertest.Scenario{Name: "an email no address can be", Method: "POST", Path: "/v1/auth/login",
				Body: map[string]string{"email": strings.Repeat("a", 300) + "@example.com", "password": pw}, WantStatus: 401},
			servertest.Scenario{Name: "sign-up from a cross-site page", Method: "POST", Path: "/v1/auth/signup", Body: signupBody("csrf@example.com"),
				Header: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://attacker.example"}, WantStatus: 403},

			servertest.Scenario{Name: "wrong password", Method: "POST", Path: "/v1/auth/login",
				Body:       map[string]string{"email": "viewer@example.com", "password": "wrong-password"},
				WantStatus: 401, WantContains: []string{"wrong email or password"}},
			servertest.Scenario{Name: "unknown email says the same", Method: "POST", Path: "/v1/auth/login",
				Body: signupBody("nobody@example.com"), WantStatus: 401, WantContains: []string{"wrong email or password"}},
			servertest.Scenario{Name: "throttled after 5 wrong passwords, right one refused too", Method: "POST", Path: "/v1/auth/login",
				Setup: func(t *testing.T) {
					signup(t, w.s, "throttled@example.com")
					for range 5 {
						w.s.Call(t, 401, "POST", "/v1/auth/login", "", map[string]string{"email": "throttled@example.com", "password": "wrong-password"})
					}
				},
				Body: signupBody("throttled@example.com"), WantStatus: 429, WantHeader: map[string]string{"Retry-After": ""},
				WantContains: []string{`"code":"too_many_attempts"`}, WantNotContains: []string{"token"},
				After: func(t *testing.T, r servertest.Response) {
					if n := r.Header.Get("Retry-After"); n == "0" || strings.HasPrefix(n, "-") {
						t.Errorf("Retry-After %q", n)
					}
					// Another spelling of the same address is the same key.
					w.s.Call(t, 429, "POST", "/v1/auth/login", "", signupBody("THROTTLED@example.com"))
					// Another account is not throttled.
					w.s.Call(t, 200, "POST", "/v1/auth/login", "", signupBody("member@example.com"))
				}},
		), badBodies("body", "POST", "/v1/auth/login", "", `{"email": "user@example.com", "password": 123}`)),

		named("POST /v1/auth/logout", group(
			servertest.Scenario{Name: "success; the session is refused afterwards", Method: "POST", Path: "/v1/auth/logout", Actor: "fresh",
				Setup:      func(t *testing.T) { w.sc.Actors["fresh"] = login(t, w.s, "user@example.com").token },
				WantStatus: 204,
				After: func(t *testing.T, r servertest.Response) {
					if !strings.Contains(strings.Join(r.Header.Values("Set-Cookie"), ";"), "wh_session=;") {
						t.Errorf("logout did not clear the cookie: %v", r.Header)
					}
					w.s.Call(t, 401, "GET", "/v1/me", w.sc.Actors["fresh"], nil)
					w.s.Call(t, 401, "POST", "/v1/auth/logout", w.sc.Actors["fresh"], nil)
					w.s.Call(t, 200, "GET", "/v1/me", w.sc.Actors["user"], nil) // other sessions live on
				}},
			unauth("POST", "/v1/auth/logout"),
			servertest.Scenario{Name: "cookie without CSRF header", Method: "POST", Path: "/v1/auth/logout",
				Setup: func(t *testing.T) {
					se := login(t, w.s, "user@example.com")
					w.sc.Vars["logout_cookie"], w.sc.Vars["logout_token"] = se.cookie, se.token
				},
				Header: map[string]string{"Cookie": "{{logout_cookie}}"}, WantStatus: 403,
				After: func(t *testing.T, r servertest.Response) { w.s.Call(t, 200, "GET", "/v1/me", w.v("logout_token"), nil) }},
		)),

		named("GET /v1/me", group(
			servertest.Scenario{Name: "owner", Method: "GET", Path: "/v1/me", Actor: "owner", WantStatus: 200,
				WantContains: []string{`"email":"owner@example.com"`, `"instance_role":"owner"`, `"slug":"acme"`, `"role":"owner"`,
					`"personal":true`, `"csrf_token"`}},
			servertest.Scenario{Name: "viewer sees its role", Method: "GET", Path: "/v1/me", Actor: "viewer", WantStatus: 200,
				WantContains: []string{`"slug":"acme"`, `"role":"viewer"`}, WantNotContains: []string{`"instance_role"`}},
			servertest.Scenario{Name: "user sees no shared team", Method: "GET", Path: "/v1/me", Actor: "user", WantStatus: 200,
				WantContains: []string{`"email":"user@example.com"`}, WantNotContains: []string{"acme", `"instance_role"`}},
			servertest.Scenario{Name: "lowercase bearer scheme", Method: "GET", Path: "/v1/me",
				Header: map[string]string{"Authorization": "bearer " + w.sc.Actors["user"]}, WantStatus: 200},
			unauth("GET", "/v1/me"),
			servertest.Scenario{Name: "unknown session token", Method: "GET", Path: "/v1/me",
				Header: map[string]string{"Authorization": "Bearer whs_doesnotexist"}, WantStatus: 401},
			servertest.Scenario{Name: "not a bearer token", Method: "GET", Path: "/v1/me",
				Header: map[string]string{"Authorization": "Basic dXNlcjpwdw=="}, WantStatus: 401},
			servertest.Scenario{Name: "a worker key is not a user credential", Method: "GET", Path: "/v1/me",
				Header: map[string]string{"Authorization": "Bearer {{wkey}}"}, WantStatus: 401},
		)),

		named("suspended account", group(
			servertest.Scenario{Name: "its session is refused", Method: "GET", Path: "/v1/me", Actor: "suspended",
				Setup: func(t *testing.T) {
					tok, id := signup(t, w.s, "suspended@example.com")
					w.sc.Actors["suspended"] = tok
					var pat struct {
						Token string `json:"token"`
					}
					w.s.Call(t, 201, "POST", "/v1/tokens", tok, map[string]string{"name": "x"}).JSON(t, &pat)
					w.sc.Actors["suspended_pat"] = pat.Token
					if err := w.store().SetUserSuspended(context.Background(), id, true); err != nil {
						t.Fatal(err)
					}
				},
				WantStatus: 403, WantContains: []string{"suspended"}},
			servertest.Scenario{Name: "its API token is refused", Method: "POST", Path: "/v1/apps", Actor: "suspended_pat",
				Body: newApp("from-suspended", nil), WantStatus: 403},
			servertest.Scenario{Name: "it cannot log in", Method: "POST", Path: "/v1/auth/login", Body: signupBody("suspended@example.com"),
				WantStatus: 403, WantNotContains: []string{"whs_"}},
			servertest.Scenario{Name: "a wrong password says nothing about suspension", Method: "POST", Path: "/v1/auth/login",
				Body: map[string]string{"email": "suspended@example.com", "password": "wrong-password"}, WantStatus: 401,
				WantNotContains: []string{"suspended"}},
		)),

		named("cookie session", group(
			servertest.Scenario{Name: "GET with the cookie needs no CSRF header", Method: "GET", Path: "/v1/me",
				Setup: func(t *testing.T) {
					se := login(t, w.s, "user@example.com")
					w.sc.Vars["cookie"], w.sc.Vars["csrf"] = se.cookie, se.csrf
				},
				Header: map[string]string{"Cookie": "{{cookie}}"}, WantStatus: 200,
				WantContains: []string{`"email":"user@example.com"`, `"csrf_token":"{{csrf}}"`}},
			servertest.Scenario{Name: "write without X-CSRF-Token", Method: "POST", Path: "/v1/tokens",
				Header: map[string]string{"Cookie": "{{cookie}}"}, Body: map[string]string{"name": "via-cookie"},
				WantStatus: 403, WantContains: []string{"X-CSRF-Token"}},
			servertest.Scenario{Name: "write with a wrong X-CSRF-Token", Method: "POST", Path: "/v1/tokens",
				Header: map[string]string{"Cookie": "{{cookie}}", "X-CSRF-Token": "wrong"}, Body: map[string]string{"name": "via-cookie"},
				WantStatus: 403},
			servertest.Scenario{Name: "DELETE without X-CSRF-Token", Method: "DELETE", Path: "/v1/tokens/{{owner_pat_id}}",
				Header: map[string]string{"Cookie": "{{cookie}}"}, WantStatus: 403},
			servertest.Scenario{Name: "write with the right X-CSRF-Token", Method: "POST", Path: "/v1/tokens",
				Header: map[string]string{"Cookie": "{{cookie}}", "X-CSRF-Token": "{{csrf}}"}, Body: map[string]string{"name": "via-cookie"},
				WantStatus: 201, WantContains: []string{`"name":"via-cookie"`}},
			servertest.Scenario{Name: "another session's CSRF token does not fit", Method: "POST", Path: "/v1/tokens",
				Setup:  func(t *testing.T) { w.sc.Vars["other_csrf"] = login(t, w.s, "user@example.com").csrf },
				Header: map[string]string{"Cookie": "{{cookie}}", "X-CSRF-Token": "{{other_csrf}}"}, Body: map[string]string{"name": "x"},
				WantStatus: 403},
			servertest.Scenario{Name: "an API token in the cookie is refused", Method: "GET", Path: "/v1/me",
				Setup: func(t *testing.T) {
					var tok struct {
						Token string `json:"token"`
					}
					w.s.Call(t, 201, "POST", "/v1/tokens", w.sc.Actors["user"], map[string]string{"name": "cookie-pat"}).JSON(t, &tok)
					w.sc.Vars["cookie_pat"] = tok.Token
				},
				Header: map[string]string{"Cookie": "wh_session={{cookie_pat}}"}, WantStatus: 401},
		)),
	)
}

func tokenCases(w *world) []servertest.Scenario {
	return named("tokens", group(
		servertest.Scenario{Name: "POST creates; the raw token is shown once", Method: "POST", Path: "/v1/tokens", Actor: "user",
			Body:       map[string]any{"name": "ci", "expires_in_days": 30},
			WantStatus: 201, WantContains: []string{`"token":"whp_`, `"name":"ci"`, `"expires_at"`},
			WantHeader: map[string]string{"Cache-Control": "no-store"},
			After: func(t *testing.T, r servertest.Response) {
				var out struct{ ID, Token string }
				r.JSON(t, &out)
				w.sc.Vars["pat_id"], w.sc.Vars["pat"] = out.ID, out.Token
				w.sc.Actors["pat"] = out.Token
			}},
		servertest.Scenario{Name: "the token works as a bearer token", Method: "GET", Path: "/v1/me", Actor: "pat", WantStatus: 200,
			WantContains: []string{`"email":"user@example.com"`}, WantNotContains: []string{"csrf_token"}},
		servertest.Scenario{Name: "GET lists it without the raw token", Method: "GET", Path: "/v1/tokens", Actor: "user", WantStatus: 200,
			WantContains: []string{`"id":"{{pat_id}}"`, `"name":"ci"`, `"last_used_at"`}, WantNotContains: []string{"{{pat}}", "whp_", "token_hash"}},
		servertest.Scenario{Name: "another user's list does not show it", Method: "GET", Path: "/v1/tokens", Actor: "owner", WantStatus: 200,
			WantContains: []string{"{{owner_pat_id}}"}, WantNotContains: []string{"{{pat_id}}"}},
		servertest.Scenario{Name: "another user cannot revoke it", Method: "DELETE", Path: "/v1/tokens/{{pat_id}}", Actor: "owner",
			WantStatus: 404, After: func(t *testing.T, r servertest.Response) { w.s.Call(t, 200, "GET", "/v1/me", w.v("pat"), nil) }},
		servertest.Scenario{Name: "DELETE revokes it", Method: "DELETE", Path: "/v1/tokens/{{pat_id}}", Actor: "user", WantStatus: 204},
		servertest.Scenario{Name: "a revoked token is refused", Method: "GET", Path: "/v1/me", Actor: "pat", WantStatus: 401},
		servertest.Scenario{Name: "revoking twice is harmless", Method: "DELETE", Path: "/v1/tokens/{{pat_id}}", Actor: "user", WantStatus: 204},
		servertest.Scenario{Name: "DELETE unknown id", Method: "DELETE", Path: "/v1/tokens/tok_nope", Actor: "user", WantStatus: 404},
		servertest.Scenario{Name: "POST without a name", Method: "POST", Path: "/v1/tokens", Actor: "user",
			Body: map[string]string{"name": "  "}, WantStatus: 422},
		servertest.Scenario{Name: "POST name too long", Method: "POST", Path: "/v1/tokens", Actor: "user",
			Body: map[string]string{"name": strings.Repeat("n", 101)}, WantStatus: 422},
		servertest.Scenario{Name: "POST negative expiry", Method: "POST", Path: "/v1/tokens", Actor: "user",
			Body: map[string]any{"name": "x", "expires_in_days": -1}, WantStatus: 422},
		servertest.Scenario{Name: "POST expiry too far", Method: "POST", Path: "/v1/tokens", Actor: "user",
			Body: map[string]any{"name": "x", "expires_in_days": 4000}, WantStatus: 422},
		unauth("GET", "/v1/tokens"),
		unauth("POST", "/v1/tokens"),
		unauth("DELETE", "/v1/tokens/{{owner_pat_id}}"),
	), badBodies("POST body", "POST", "/v1/tokens", "user", `{"name": ["x"]}`))
}

func instanceCases(w *world) []servertest.Scenario {
	return named("instance", group(
		servertest.Scenario{Name: "GET as any user", Method: "GET", Path: "/v1/instance", Actor: "user", WantStatus: 200,
			WantContains: []string{`"signups_open":true`}},
		unauth("GET", "/v1/instance"),
		servertest.Scenario{Name: "PATCH by the owner", Method: "PATCH", Path: "/v1/instance", Actor: "owner",
			Body: map[string]bool{"signups_open": true}, WantStatus: 200, WantContains: []string{`"signups_open":true`}},
		servertest.Scenario{Name: "PATCH with nothing to change", Method: "PATCH", Path: "/v1/instance", Actor: "owner",
			Body: `{}`, WantStatus: 200, WantContains: []string{`"signups_open":true`}},
		servertest.Scenario{Name: "PATCH by an ordinary user", Method: "PATCH", Path: "/v1/instance", Actor: "user",
			Body: map[string]bool{"signups_open": false}, WantStatus: 403, WantContains: []string{`"code":"forbidden"`}},
		servertest.Scenario{Name: "PATCH by a team owner who is not the instance owner", Method: "PATCH", Path: "/v1/instance", Actor: "admin",
			Body: map[string]bool{"signups_open": false}, WantStatus: 403},
		unauth("PATCH", "/v1/instance"),
	), badBodies("PATCH body", "PATCH", "/v1/instance", "owner", `{"signups_open": "no"}`))
}

func teamCases(w *world) []servertest.Scenario {
	return concat(
		named("GET /v1/teams", group(
			servertest.Scenario{Name: "owner", Method: "GET", Path: "/v1/teams", Actor: "owner", WantStatus: 200,
				WantContains: []string{`"slug":"acme"`, `"role":"owner"`}},
			servertest.Scenario{Name: "user sees only its own", Method: "GET", Path: "/v1/teams", Actor: "user", WantStatus: 200,
				WantContains: []string{`"personal":true`}, WantNotContains: []string{"acme", "{{owner_team}}"}},
			unauth("GET", "/v1/teams"),
		)),
		named("POST /v1/teams", group(
			servertest.Scenario{Name: "success", Method: "POST", Path: "/v1/teams", Actor: "user",
				Body: map[string]string{"name": "Beta", "slug": "beta"}, WantStatus: 201,
				WantContains: []string{`"slug":"beta"`, `"role":"owner"`, `"personal":false`}},
			servertest.Scenario{Name: "duplicate slug", Method: "POST", Path: "/v1/teams", Actor: "user",
				Body: map[string]string{"name": "Acme 2", "slug": "acme"}, WantStatus: 409},
			servertest.Scenario{Name: "slug with capitals and spaces", Method: "POST", Path: "/v1/teams", Actor: "user",
				Body: map[string]string{"name": "X", "slug": "Bad Slug"}, WantStatus: 422},
			servertest.Scenario{Name: "slug starting with a dash", Method: "POST", Path: "/v1/teams", Actor: "user",
				Body: map[string]string{"name": "X", "slug": "-x"}, WantStatus: 422},
			servertest.Scenario{Name: "slug with a path", Method: "POST", Path: "/v1/teams", Actor: "user",
				Body: map[string]string{"name": "X", "slug": "../x"}, WantStatus: 422},
			servertest.Scenario{Name: "name too long", Method: "POST", Path: "/v1/teams", Actor: "user",
				Body: map[string]string{"name": strings.Repeat("n", 101), "slug": "longname"}, WantStatus: 422},
			servertest.Scenario{Name: "no name", Method: "POST", Path: "/v1/teams", Actor: "user",
				Body: map[string]string{"name": " ", "slug": "noname"}, WantStatus: 422},
			unauth("POST", "/v1/teams"),
		), badBodies("body", "POST", "/v1/teams", "user", `{"name": "X", "slug": 7}`)),

		named("GET members", group(
			servertest.Scenario{Name: "owner, by slug", Method: "GET", Path: "/v1/teams/acme/members", Actor: "owner", WantStatus: 200,
				WantContains: []string{"owner@example.com", "admin@example.com", "member@example.com", `"role":"viewer"`}},
			servertest.Scenario{Name: "viewer, by id", Method: "GET", Path: "/v1/teams/{{acme_id}}/members", Actor: "viewer", WantStatus: 200,
				WantContains: []string{"owner@example.com"}},
			servertest.Scenario{Name: "non-member", Method: "GET", Path: "/v1/teams/acme/members", Actor: "user", WantStatus: 404,
				WantContains: []string{`{"code":"not_found","error":"not found"}`}, WantNotContains: []string{"owner@example.com"}},
			servertest.Scenario{Name: "someone else's personal team", Method: "GET", Path: "/v1/teams/{{owner_team}}/members", Actor: "user",
				WantStatus: 404},
			servertest.Scenario{Name: "unknown team: the same answer, so existence does not leak", Method: "GET", Path: "/v1/teams/nope/members",
				Actor: "owner", WantStatus: 404, WantContains: []string{`{"code":"not_found","error":"not found"}`}},
			unauth("GET", "/v1/teams/acme/members"),
		)),

		named("POST members", group(
			servertest.Scenario{Name: "owner adds spare as viewer", Method: "POST", Path: "/v1/teams/acme/members", Actor: "owner",
				Body: map[string]string{"email": "Spare@Example.com", "role": "viewer"}, WantStatus: 201,
				WantContains: []string{`"user_id":"{{spare_id}}"`, `"role":"viewer"`}},
			servertest.Scenario{Name: "already a member", Method: "POST", Path: "/v1/teams/acme/members", Actor: "owner",
				Body: map[string]string{"email": "spare@example.com", "role": "member"}, WantStatus: 409},
			servertest.Scenario{Name: "unknown email", Method: "POST", Path: "/v1/teams/acme/members", Actor: "owner",
				Body: map[string]string{"email": "ghost@example.com", "role": "member"}, WantStatus: 404},
			servertest.Scenario{Name: "unknown role", Method: "POST", Path: "/v1/teams/acme/members", Actor: "owner",
				Body: map[string]string{"email": "user@example.com", "role": "god"}, WantStatus: 422},
			servertest.Scenario{Name: "admin cannot add an owner", Method: "POST", Path: "/v1/teams/acme/members", Actor: "admin",
				Body: map[string]string{"email": "user@example.com", "role": "owner"}, WantStatus: 403},
			servertest.Scenario{Name: "member cannot add", Method: "POST", Path: "/v1/teams/acme/members", Actor: "member",
				Body: map[string]string{"email": "user@example.com", "role": "viewer"}, WantStatus: 403},
			servertest.Scenario{Name: "viewer cannot add", Method: "POST", Path: "/v1/teams/acme/members", Actor: "viewer",
				Body: map[string]string{"email": "user@example.com", "role": "viewer"}, WantStatus: 403},
			servertest.Scenario{Name: "non-member", Method: "POST", Path: "/v1/teams/acme/members", Actor: "user",
				Body: map[string]string{"email": "user@example.com", "role": "owner"}, WantStatus: 404},
			servertest.Scenario{Name: "a personal team takes no members", Method: "POST", Path: "/v1/teams/{{owner_team}}/members", Actor: "owner",
				Body: map[string]string{"email": "user@example.com", "role": "member"}, WantStatus: 422},
			unauth("POST", "/v1/teams/acme/members"),
		), badBodies("body", "POST", "/v1/teams/acme/members", "owner", `{"email": "user@example.com", "role": 1}`)),

		named("PATCH member", group(
			servertest.Scenario{Name: "owner makes spare a member", Method: "PATCH", Path: "/v1/teams/acme/members/{{spare_id}}", Actor: "owner",
				Body: map[string]string{"role": "member"}, WantStatus: 204,
				After: func(t *testing.T, r servertest.Response) {
					body := string(w.s.Call(t, 200, "GET", "/v1/me", w.sc.Actors["spare"], nil).Body)
					if !strings.Contains(body, `"role":"member"`) {
						t.Errorf("spare's role did not change: %s", body)
					}
				}},
			servertest.Scenario{Name: "admin cannot grant ownership", Method: "PATCH", Path: "/v1/teams/acme/members/{{spare_id}}", Actor: "admin",
				Body: map[string]string{"role": "owner"}, WantStatus: 403},
			servertest.Scenario{Name: "admin cannot demote the owner", Method: "PATCH", Path: "/v1/teams/acme/members/{{owner_id}}", Actor: "admin",
				Body: map[string]string{"role": "viewer"}, WantStatus: 403},
			servertest.Scenario{Name: "the last owner cannot step down", Method: "PATCH", Path: "/v1/teams/acme/members/{{owner_id}}", Actor: "owner",
				Body: map[string]string{"role": "admin"}, WantStatus: 409},
			servertest.Scenario{Name: "unknown role", Method: "PATCH", Path: "/v1/teams/acme/members/{{spare_id}}", Actor: "owner",
				Body: map[string]string{"role": "superuser"}, WantStatus: 422},
			servertest.Scenario{Name: "not a member", Method: "PATCH", Path: "/v1/teams/acme/members/{{user_id}}", Actor: "owner",
				Body: map[string]string{"role": "viewer"}, WantStatus: 404},
			servertest.Scenario{Name: "viewer cannot change roles", Method: "PATCH", Path: "/v1/teams/acme/members/{{viewer_id}}", Actor: "viewer",
				Body: map[string]string{"role": "admin"}, WantStatus: 403},
			servertest.Scenario{Name: "non-member", Method: "PATCH", Path: "/v1/teams/acme/members/{{user_id}}", Actor: "user",
				Body: map[string]string{"role": "owner"}, WantStatus: 404},
			unauth("PATCH", "/v1/teams/acme/members/{{spare_id}}"),
		), badBodies("body", "PATCH", "/v1/teams/acme/members/{{spare_id}}", "owner", `{"role": true}`)),

		named("DELETE member", group(
			servertest.Scenario{Name: "viewer cannot remove others", Method: "DELETE", Path: "/v1/teams/acme/members/{{spare_id}}", Actor: "viewer",
				WantStatus: 403},
			servertest.Scenario{Name: "admin cannot remove the owner", Method: "DELETE", Path: "/v1/teams/acme/members/{{owner_id}}", Actor: "admin",
				WantStatus: 403},
			servertest.Scenario{Name: "the last owner cannot leave", Method: "DELETE", Path: "/v1/teams/acme/members/{{owner_id}}", Actor: "owner",
				WantStatus: 409},
			servertest.Scenario{Name: "nor leave a personal team", Method: "DELETE", Path: "/v1/teams/{{owner_team}}/members/{{owner_id}}", Actor: "owner",
				WantStatus: 409},
			servertest.Scenario{Name: "non-member", Method: "DELETE", Path: "/v1/teams/acme/members/{{spare_id}}", Actor: "user", WantStatus: 404},
			servertest.Scenario{Name: "a member leaves", Method: "DELETE", Path: "/v1/teams/acme/members/{{spare_id}}", Actor: "spare",
				WantStatus: 204, After: func(t *testing.T, r servertest.Response) {
					w.s.Call(t, 404, "GET", "/v1/teams/acme/members", w.sc.Actors["spare"], nil)
				}},
			servertest.Scenario{Name: "removing a non-member", Method: "DELETE", Path: "/v1/teams/acme/members/{{spare_id}}", Actor: "owner",
				WantStatus: 404},
			servertest.Scenario{Name: "an owner removes a member", Method: "DELETE", Path: "/v1/teams/acme/members/{{spare_id}}", Actor: "owner",
				Setup: func(t *testing.T) {
					w.s.Call(t, 201, "POST", "/v1/teams/acme/members", w.sc.Actors["owner"], map[string]string{"email": "spare@example.com", "role": "member"})
				},
				WantStatus: 204},
			unauth("DELETE", "/v1/teams/acme/members/{{spare_id}}"),
		)),
	)
}

// manyEnv returns n variables PREFIX_0…
func manyEnv(prefix string, n int) map[string]string {
	env := map[string]string{}
	for i := range n {
		env[prefix+"_"+strconv.Itoa(i)] = "v"
	}
	return env
}

// newApp is a valid create-app body; set overrides fields.
func newApp(name string, set map[string]any) map[string]any {
	b := map[string]any{"name": name, "repo_url": "https://github.com/example/" + name}
	for k, v := range set {
		b[k] = v
	}
	return b
}

func appCases(w *world) []servertest.Scenario {
	invalid := func(name string, body map[string]any, contains string) servertest.Scenario {
		return servertest.Scenario{Name: name, Method: "POST", Path: "/v1/apps", Actor: "user", Body: body,
			WantStatus: 422, WantContains: []string{`"code":"invalid"`, contains}}
	}
	var creates []servertest.Scenario
	for _, name := range []string{"x;id", "../x", "-rf", "Web", "", "a_b", "x.y", strings.Repeat("a", 41), "1app", "app-"} {
		creates = append(creates, invalid("app name "+name, newApp(name, map[string]any{"repo_url": "https://github.com/example/x"}), "app name"))
	}
	for _, u := range []string{"file:///etc", "ext::sh -c id", "-u", "http://github.com/x", "https://user:pw@host/x",
		"https://github.com/x?ref=y", "ssh://-oProxyCommand=id/x", "/srv/git/x", "", "git@github.com:x/y.git"} {
		creates = append(creates, invalid("repo URL "+u, newApp("badrepo", map[string]any{"repo_url": u}), "repo URL"))
	}
	for _, b := range []string{"-f", "a..b", "a b", "x.lock", "refs/@{x}", "@"} {
		creates = append(creates, invalid("branch "+b, newApp("badbranch", map[string]any{"branch": b}), "branch"))
	}
	for _, p := range []int{0, -1, 70000} {
		creates = append(creates, invalid("port "+itoa(int64(p)), newApp("badport", map[string]any{"port": p}), "port"))
	}
	creates = append(creates,
		invalid("memory limit too small", newApp("lim", map[string]any{"limits": map[string]any{"memory_bytes": 1 << 20}}), "memory_bytes"),
		invalid("cpu limit too small", newApp("lim", map[string]any{"limits": map[string]any{"cpu_millis": 5}}), "cpu_millis"),
		invalid("disk limit too small", newApp("lim", map[string]any{"limits": map[string]any{"disk_bytes": 1024}}), "disk_bytes"),
		invalid("env name 1X", newApp("badenv", map[string]any{"env": map[string]string{"1X": "v"}}), "env name"),
		invalid("env name with a dash", newApp("badenv", map[string]any{"env": map[string]string{"A-B": "v"}}), "env name"),
		invalid("env value with NUL", newApp("badenv", map[string]any{"env": map[string]string{"A": "x\x00y"}}), "NUL"),
		invalid("dockerfile outside the repo", newApp("baddf", map[string]any{"dockerfile_path": "../Dockerfile"}), "dockerfile"),
		invalid("health check not a path", newApp("badhc", map[string]any{"health_check_path": "healthz"}), "health check"),
		invalid("git token too long", newApp("badtok", map[string]any{"git_token": strings.Repeat("t", 5000)}), "git_token"),
		invalid("no name", map[string]any{"repo_url": "https://github.com/example/x"}, "name is required"),
		servertest.Scenario{Name: "env value of the wrong type", Method: "POST", Path: "/v1/apps", Actor: "user",
			Body: `{"name": "typed", "repo_url": "https://github.com/x/y", "env": {"A": 1}}`, WantStatus: 400,
			WantContains: []string{"env/A"}},
		servertest.Scenario{Name: "limit of the wrong type", Method: "POST", Path: "/v1/apps", Actor: "user",
			Body: `{"name": "typed", "repo_url": "https://github.com/x/y", "limits": {"memory_bytes": "1G"}}`, WantStatus: 400},
		servertest.Scenario{Name: "too many env vars", Method: "POST", Path: "/v1/apps", Actor: "user",
			Body: newApp("manyenv", map[string]any{"env": manyEnv("V", 201)}), WantStatus: 422, WantContains: []string{"too many env vars"}},
		servertest.Scenario{Name: "every problem at once", Method: "POST", Path: "/v1/apps", Actor: "user",
			Body: newApp("many", map[string]any{"repo_url": "file:///etc", "branch": "-f", "port": 70000}), WantStatus: 422,
			WantContains: []string{"repo URL", "branch", "port"}},
	)

	return concat(
		named("POST /v1/apps", group(
			servertest.Scenario{Name: "success with secrets", Method: "POST", Path: "/v1/apps", Actor: "user",
				Body: newApp("user-app", map[string]any{"branch": "main", "port": 3000, "git_token": userGitToken,
					"env": map[string]string{"GREETING": "hello-env-value"}, "limits": map[string]any{"memory_bytes": 256 << 20}}),
				WantStatus: 201, WantContains: []string{`"name":"user-app"`, `"has_git_token":true`, `"port":3000`, `"status":"created"`,
					`"team_id":"{{user_team}}"`, `"memory_bytes":268435456`, `"url":"http://user-app.localhost`},
				WantNotContains: []string{"hello-env-value", "GREETING", `"git_token":`}},
			servertest.Scenario{Name: "defaults", Method: "POST", Path: "/v1/apps", Actor: "user", Body: newApp("user-defaults", nil),
				WantStatus: 201, WantContains: []string{`"branch":"main"`, `"port":8080`, `"has_git_token":false`, `"cpu_millis":1000`}},
			servertest.Scenario{Name: "plain http to a private host is allowed", Method: "POST", Path: "/v1/apps", Actor: "user",
				Body: newApp("local-git", map[string]any{"repo_url": "http://127.0.0.1:3000/x.git"}), WantStatus: 201},
			servertest.Scenario{Name: "a member creates in a shared team", Method: "POST", Path: "/v1/apps", Actor: "member",
				Body: newApp("acme-member-app", map[string]any{"team": "acme"}), WantStatus: 201, WantContains: []string{`"team_id":"{{acme_id}}"`}},
			servertest.Scenario{Name: "a viewer cannot create in the team", Method: "POST", Path: "/v1/apps", Actor: "viewer",
				Body: newApp("acme-viewer-app", map[string]any{"team": "acme"}), WantStatus: 403},
			servertest.Scenario{Name: "a non-member cannot create in the team", Method: "POST", Path: "/v1/apps", Actor: "user",
				Body: newApp("acme-user-app", map[string]any{"team": "{{acme_id}}"}), WantStatus: 404},
			servertest.Scenario{Name: "nor in someone's personal team", Method: "POST", Path: "/v1/apps", Actor: "user",
				Body: newApp("intruder", map[string]any{"team": "{{owner_team}}"}), WantStatus: 404},
			servertest.Scenario{Name: "duplicate name (names are global)", Method: "POST", Path: "/v1/apps", Actor: "user",
				Body: newApp("web", nil), WantStatus: 409, WantContains: []string{`"code":"conflict"`},
				After: func(t *testing.T, r servertest.Response) {
					b := string(w.s.Call(t, 200, "GET", "/v1/apps/web", w.sc.Actors["owner"], nil).Body)
					if !strings.Contains(b, `"team_id":"`+w.v("owner_team")+`"`) {
						t.Errorf("web changed hands: %s", b)
					}
				}},
			unauth("POST", "/v1/apps"),
		), creates, badBodies("body", "POST", "/v1/apps", "user", `{"name": "typed", "repo_url": "https://github.com/x/y", "port": "80"}`)),

		named("GET /v1/apps", group(
			servertest.Scenario{Name: "owner sees personal and team apps", Method: "GET", Path: "/v1/apps", Actor: "owner", WantStatus: 200,
				WantContains: []string{`"name":"web"`, `"name":"acme-api"`, `"has_git_token":true`}, WantNotContains: []string{"user-app", webSecret, acmeSecret}},
			servertest.Scenario{Name: "team filter", Method: "GET", Path: "/v1/apps?team=acme", Actor: "owner", WantStatus: 200,
				WantContains: []string{`"name":"acme-api"`}, WantNotContains: []string{`"name":"web"`}},
			servertest.Scenario{Name: "viewer sees the team's apps only", Method: "GET", Path: "/v1/apps", Actor: "viewer", WantStatus: 200,
				WantContains: []string{`"name":"acme-api"`}, WantNotContains: []string{`"name":"web"`}},
			servertest.Scenario{Name: "user sees only its own", Method: "GET", Path: "/v1/apps", Actor: "user", WantStatus: 200,
				WantContains: []string{`"name":"user-app"`}, WantNotContains: []string{`"name":"web"`, "acme"}},
			servertest.Scenario{Name: "filtering by a foreign team gives nothing", Method: "GET", Path: "/v1/apps?team={{acme_id}}", Actor: "user",
				WantStatus: 200, WantContains: []string{"[]"}},
			unauth("GET", "/v1/apps"),
		)),

		named("GET /v1/apps/{app}", group(
			servertest.Scenario{Name: "owner", Method: "GET", Path: "/v1/apps/web", Actor: "owner", WantStatus: 200,
				WantContains:    []string{`"id":"{{web_id}}"`, `"has_git_token":true`, `"repo_url":"https://github.com/example/web"`},
				WantNotContains: []string{webSecret, "DB_PASSWORD"}},
			servertest.Scenario{Name: "viewer", Method: "GET", Path: "/v1/apps/acme-api", Actor: "viewer", WantStatus: 200},
			servertest.Scenario{Name: "non-member", Method: "GET", Path: "/v1/apps/web", Actor: "user", WantStatus: 404,
				WantNotContains: []string{"{{web_id}}", "github.com/example/web"}},
			servertest.Scenario{Name: "unknown app says the same", Method: "GET", Path: "/v1/apps/nope", Actor: "user", WantStatus: 404},
			servertest.Scenario{Name: "encoded path traversal", Method: "GET", Path: "/v1/apps/..%2Fweb", Actor: "owner", WantStatus: 404},
			unauth("GET", "/v1/apps/web"),
		)),

		named("PATCH /v1/apps/{app}", group(
			servertest.Scenario{Name: "owner changes branch and port", Method: "PATCH", Path: "/v1/apps/web", Actor: "owner",
				Body: map[string]any{"branch": "develop", "port": 9000}, WantStatus: 200,
				WantContains: []string{`"branch":"develop"`, `"port":9000`, `"has_git_token":true`}},
			servertest.Scenario{Name: "rotating the git token never echoes it", Method: "PATCH", Path: "/v1/apps/web", Actor: "owner",
				Body: map[string]any{"git_token": rotatedToken}, WantStatus: 200, WantContains: []string{`"has_git_token":true`}},
			servertest.Scenario{Name: "same name is fine", Method: "PATCH", Path: "/v1/apps/web", Actor: "owner",
				Body: map[string]any{"name": "web"}, WantStatus: 200, WantContains: []string{`"port":9000`}},
			servertest.Scenario{Name: "member updates and removes the git token", Method: "PATCH", Path: "/v1/apps/acme-member-app", Actor: "member",
				Setup: func(t *testing.T) {
					w.s.Call(t, 200, "PATCH", "/v1/apps/acme-member-app", w.sc.Actors["member"], map[string]any{"git_token": "ghp_temporary"})
				},
				Body: map[string]any{"git_token": "", "limits": map[string]any{"cpu_millis": 500}}, WantStatus: 200,
				WantContains: []string{`"has_git_token":false`, `"cpu_millis":500`}, WantNotContains: []string{"ghp_temporary"}},
			servertest.Scenario{Name: "renaming", Method: "PATCH", Path: "/v1/apps/web", Actor: "owner",
				Body: map[string]any{"name": "web2"}, WantStatus: 422},
			servertest.Scenario{Name: "moving teams", Method: "PATCH", Path: "/v1/apps/web", Actor: "owner",
				Body: map[string]any{"team": "acme"}, WantStatus: 422},
			servertest.Scenario{Name: "port 0 is refused, not reset to a default", Method: "PATCH", Path: "/v1/apps/web", Actor: "owner",
				Body: map[string]any{"port": 0}, WantStatus: 422, WantContains: []string{"port"}},
			servertest.Scenario{Name: "port 70000", Method: "PATCH", Path: "/v1/apps/web", Actor: "owner",
				Body: map[string]any{"port": 70000}, WantStatus: 422},
			servertest.Scenario{Name: "ext:: repo URL", Method: "PATCH", Path: "/v1/apps/web", Actor: "owner",
				Body: map[string]any{"repo_url": "ext::sh -c touch% /tmp/pwned"}, WantStatus: 422},
			servertest.Scenario{Name: "branch a..b", Method: "PATCH", Path: "/v1/apps/web", Actor: "owner",
				Body: map[string]any{"branch": "a..b"}, WantStatus: 422},
			servertest.Scenario{Name: "limits too small", Method: "PATCH", Path: "/v1/apps/web", Actor: "owner",
				Body: map[string]any{"limits": map[string]any{"memory_bytes": 1}}, WantStatus: 422},
			servertest.Scenario{Name: "env name 1X", Method: "PATCH", Path: "/v1/apps/web", Actor: "owner",
				Body: map[string]any{"env": map[string]string{"1X": "v"}}, WantStatus: 422},
			servertest.Scenario{Name: "a refused update changes nothing", Method: "GET", Path: "/v1/apps/web", Actor: "owner", WantStatus: 200,
				WantContains: []string{`"branch":"develop"`, `"port":9000`, `"repo_url":"https://github.com/example/web"`}},
			// The worker sends the git token to the repository's host.
			servertest.Scenario{Name: "moving the repo to another host without the token", Method: "PATCH", Path: "/v1/apps/tokened", Actor: "owner",
				Setup: func(t *testing.T) {
					createApp(t, w.s, w.sc.Actors["owner"], newApp("tokened", map[string]any{"git_token": "ghp_keepmine",
						"limits": map[string]any{"memory_bytes": 256 << 20, "disk_bytes": 1 << 30, "bandwidth_bps": 10_000_000}}))
				},
				Body: map[string]any{"repo_url": "https://attacker.example/x.git"}, WantStatus: 422, WantContains: []string{"git_token"}},
			servertest.Scenario{Name: "to http on the same host without the token", Method: "PATCH", Path: "/v1/apps/tokened", Actor: "owner",
				Body: map[string]any{"repo_url": "http://github.com/example/tokened"}, WantStatus: 422},
			servertest.Scenario{Name: "another repo on the same host keeps the token", Method: "PATCH", Path: "/v1/apps/tokened", Actor: "owner",
				Body: map[string]any{"repo_url": "https://GitHub.com/example/other"}, WantStatus: 200,
				WantContains: []string{`"has_git_token":true`, `"repo_url":"https://GitHub.com/example/other"`}},
			servertest.Scenario{Name: "another host with a new token", Method: "PATCH", Path: "/v1/apps/tokened", Actor: "owner",
				Body: map[string]any{"repo_url": "https://gitlab.example/web.git", "git_token": "glpat-new"}, WantStatus: 200,
				WantContains: []string{`"has_git_token":true`}, WantNotContains: []string{"glpat-new", "ghp_keepmine"}},
			servertest.Scenario{Name: "another host, dropping the token", Method: "PATCH", Path: "/v1/apps/tokened", Actor: "owner",
				Body: map[string]any{"repo_url": "https://git.example/web.git", "git_token": ""}, WantStatus: 200,
				WantContains: []string{`"has_git_token":false`}},
			// Limits merge field by field; 0 restores a default or removes a cap.
			servertest.Scenario{Name: "one limit leaves the others", Method: "PATCH", Path: "/v1/apps/tokened", Actor: "owner",
				Body: map[string]any{"limits": map[string]any{"cpu_millis": 500}}, WantStatus: 200,
				WantContains: []string{`"limits":{"memory_bytes":268435456,"cpu_millis":500,"disk_bytes":1073741824,"bandwidth_bps":10000000}`}},
			servertest.Scenario{Name: "zeros restore defaults and remove caps", Method: "PATCH", Path: "/v1/apps/tokened", Actor: "owner",
				Body: map[string]any{"limits": map[string]any{"memory_bytes": 0, "disk_bytes": 0}}, WantStatus: 200,
				WantContains: []string{`"limits":{"memory_bytes":536870912,"cpu_millis":500,"bandwidth_bps":10000000}`}},
			servertest.Scenario{Name: "pids cannot be set", Method: "PATCH", Path: "/v1/apps/tokened", Actor: "owner",
				Body: map[string]any{"limits": map[string]any{"pids": 100}}, WantStatus: 422, WantContains: []string{"pids"}},
			servertest.Scenario{Name: "viewer", Method: "PATCH", Path: "/v1/apps/acme-api", Actor: "viewer",
				Body: map[string]any{"branch": "evil"}, WantStatus: 403},
			servertest.Scenario{Name: "non-member", Method: "PATCH", Path: "/v1/apps/web", Actor: "user",
				Body: map[string]any{"branch": "evil"}, WantStatus: 404},
			unauth("PATCH", "/v1/apps/web"),
		), badBodies("body", "PATCH", "/v1/apps/web", "owner", `{"port": "9000"}`)),

		named("DELETE /v1/apps/{app}", group(
			servertest.Scenario{Name: "member cannot delete", Method: "DELETE", Path: "/v1/apps/doomed", Actor: "member",
				Setup: func(t *testing.T) {
					createApp(t, w.s, w.sc.Actors["owner"], newApp("doomed", map[string]any{"team": "acme", "env": map[string]string{"X": "1"}}))
					w.sc.Vars["doomed_dep"] = deploy(t, w.s, w.sc.Actors["owner"], "doomed")
				},
				WantStatus: 403},
			servertest.Scenario{Name: "viewer cannot delete", Method: "DELETE", Path: "/v1/apps/doomed", Actor: "viewer", WantStatus: 403},
			servertest.Scenario{Name: "non-member", Method: "DELETE", Path: "/v1/apps/doomed", Actor: "user", WantStatus: 404},
			servertest.Scenario{Name: "admin deletes it with its deployments", Method: "DELETE", Path: "/v1/apps/doomed", Actor: "admin",
				WantStatus: 204, After: func(t *testing.T, r servertest.Response) {
					owner := w.sc.Actors["owner"]
					w.s.Call(t, 404, "GET", "/v1/apps/doomed", owner, nil)
					w.s.Call(t, 404, "GET", "/v1/deployments/"+w.v("doomed_dep"), owner, nil)
					// The name is free again, with nothing left over.
					createApp(t, w.s, owner, newApp("doomed", map[string]any{"team": "acme"}))
					if b := string(w.s.Call(t, 200, "GET", "/v1/apps/doomed/env", owner, nil).Body); b != "[]\n" {
						t.Errorf("recreated app inherited env: %s", b)
					}
					if b := string(w.s.Call(t, 200, "GET", "/v1/apps/doomed/deployments", owner, nil).Body); b != "[]\n" {
						t.Errorf("recreated app inherited deployments: %s", b)
					}
				}},
			servertest.Scenario{Name: "unknown app", Method: "DELETE", Path: "/v1/apps/nope", Actor: "owner", WantStatus: 404},
			unauth("DELETE", "/v1/apps/web"),
		)),
	)
}

func envCases(w *world) []servertest.Scenario {
	return concat(
		named("env count limit", group(
			servertest.Scenario{Name: "200 at creation are fine", Method: "POST", Path: "/v1/apps", Actor: "user",
				Body: newApp("fullenv", map[string]any{"env": manyEnv("V", 200)}), WantStatus: 201},
			servertest.Scenario{Name: "PUT a 201st variable", Method: "PUT", Path: "/v1/apps/fullenv/env/ONE_MORE", Actor: "user",
				Body: map[string]string{"value": "x"}, WantStatus: 422, WantContains: []string{"too many env vars"}},
			servertest.Scenario{Name: "PATCH 200 more", Method: "PATCH", Path: "/v1/apps/fullenv", Actor: "user",
				Body: map[string]any{"env": manyEnv("W", 200)}, WantStatus: 422, WantContains: []string{"too many env vars"}},
			servertest.Scenario{Name: "replacing an existing one is fine", Method: "PUT", Path: "/v1/apps/fullenv/env/V_1", Actor: "user",
				Body: map[string]string{"value": "new"}, WantStatus: 204},
		)),
		named("GET env", group(
			servertest.Scenario{Name: "names only", Method: "GET", Path: "/v1/apps/web/env", Actor: "owner", WantStatus: 200,
				WantContains: []string{`"name":"DB_PASSWORD"`}, WantNotContains: []string{webSecret, `"value"`}},
			servertest.Scenario{Name: "reveal", Method: "GET", Path: "/v1/apps/web/env?reveal=1", Actor: "owner", WantStatus: 200,
				WantContains: []string{`{"name":"DB_PASSWORD","value":"` + webSecret + `"}`},
				WantHeader:   map[string]string{"Cache-Control": "no-store"}},
			servertest.Scenario{Name: "viewer sees names", Method: "GET", Path: "/v1/apps/acme-api/env", Actor: "viewer", WantStatus: 200,
				WantContains: []string{`"name":"API_KEY"`}, WantNotContains: []string{acmeSecret}},
			servertest.Scenario{Name: "viewer cannot reveal", Method: "GET", Path: "/v1/apps/acme-api/env?reveal=1", Actor: "viewer",
				WantStatus: 403, WantNotContains: []string{acmeSecret}},
			servertest.Scenario{Name: "member can reveal", Method: "GET", Path: "/v1/apps/acme-api/env?reveal=1", Actor: "member",
				WantStatus: 200, WantContains: []string{acmeSecret}},
			servertest.Scenario{Name: "non-member", Method: "GET", Path: "/v1/apps/web/env?reveal=1", Actor: "user", WantStatus: 404,
				WantNotContains: []string{webSecret, "DB_PASSWORD"}},
			unauth("GET", "/v1/apps/web/env"),
		)),
		named("PUT env", group(
			servertest.Scenario{Name: "set", Method: "PUT", Path: "/v1/apps/web/env/NEW_VAR", Actor: "owner",
				Body: map[string]string{"value": "v1"}, WantStatus: 204},
			servertest.Scenario{Name: "overwrite", Method: "PUT", Path: "/v1/apps/web/env/NEW_VAR", Actor: "owner",
				Body: map[string]string{"value": "v2 with spaces=and=equals"}, WantStatus: 204,
				After: func(t *testing.T, r servertest.Response) {
					b := string(w.s.Call(t, 200, "GET", "/v1/apps/web/env?reveal=1", w.sc.Actors["owner"], nil).Body)
					if !strings.Contains(b, `{"name":"NEW_VAR","value":"v2 with spaces=and=equals"}`) {
						t.Errorf("env after overwrite: %s", b)
					}
				}},
			servertest.Scenario{Name: "empty value", Method: "PUT", Path: "/v1/apps/web/env/EMPTY", Actor: "owner",
				Body: map[string]string{"value": ""}, WantStatus: 204},
			servertest.Scenario{Name: "member", Method: "PUT", Path: "/v1/apps/acme-api/env/FROM_MEMBER", Actor: "member",
				Body: map[string]string{"value": "m"}, WantStatus: 204},
			servertest.Scenario{Name: "name 1X", Method: "PUT", Path: "/v1/apps/web/env/1X", Actor: "owner",
				Body: map[string]string{"value": "v"}, WantStatus: 422},
			servertest.Scenario{Name: "name with a dash", Method: "PUT", Path: "/v1/apps/web/env/A-B", Actor: "owner",
				Body: map[string]string{"value": "v"}, WantStatus: 422},
			servertest.Scenario{Name: "value with NUL", Method: "PUT", Path: "/v1/apps/web/env/NUL", Actor: "owner",
				Body: `{"value": "a\u0000b"}`, WantStatus: 422},
			servertest.Scenario{Name: "value too large", Method: "PUT", Path: "/v1/apps/web/env/BIG", Actor: "owner",
				Body: map[string]string{"value": strings.Repeat("x", 33<<10)}, WantStatus: 422},
			servertest.Scenario{Name: "viewer", Method: "PUT", Path: "/v1/apps/acme-api/env/API_KEY", Actor: "viewer",
				Body: map[string]string{"value": "stolen"}, WantStatus: 403},
			servertest.Scenario{Name: "non-member", Method: "PUT", Path: "/v1/apps/web/env/DB_PASSWORD", Actor: "user",
				Body: map[string]string{"value": "stolen"}, WantStatus: 404},
			unauth("PUT", "/v1/apps/web/env/X"),
		), badBodies("body", "PUT", "/v1/apps/web/env/BAD", "owner", `{"value": 1}`)),
		named("DELETE env", group(
			servertest.Scenario{Name: "unset", Method: "DELETE", Path: "/v1/apps/web/env/NEW_VAR", Actor: "owner", WantStatus: 204,
				After: func(t *testing.T, r servertest.Response) {
					if b := string(w.s.Call(t, 200, "GET", "/v1/apps/web/env", w.sc.Actors["owner"], nil).Body); strings.Contains(b, "NEW_VAR") {
						t.Errorf("NEW_VAR still set: %s", b)
					}
				}},
			servertest.Scenario{Name: "unset again", Method: "DELETE", Path: "/v1/apps/web/env/NEW_VAR", Actor: "owner", WantStatus: 404},
			servertest.Scenario{Name: "viewer", Method: "DELETE", Path: "/v1/apps/acme-api/env/API_KEY", Actor: "viewer", WantStatus: 403},
			servertest.Scenario{Name: "non-member", Method: "DELETE", Path: "/v1/apps/web/env/DB_PASSWORD", Actor: "user", WantStatus: 404},
			unauth("DELETE", "/v1/apps/web/env/DB_PASSWORD"),
		)),
	)
}

// jobCases are restart and stop.
func jobCases(w *world) []servertest.Scenario {
	var cases []servertest.Scenario
	for _, op := range []string{"restart", "stop"} {
		cases = append(cases, named("POST "+op, group(
			servertest.Scenario{Name: "before any deploy", Method: "POST", Path: "/v1/apps/web/" + op, Actor: "owner", WantStatus: 409,
				WantContains: []string{"not been deployed"}},
			servertest.Scenario{Name: "a deployed app", Method: "POST", Path: "/v1/apps/deployed/" + op, Actor: "owner",
				Setup:      func(t *testing.T) { w.markDeployed(t, "deployed", "") },
				WantStatus: 202, WantContains: []string{`"job_id":"job_`, `"status":"pending"`}},
			servertest.Scenario{Name: "member", Method: "POST", Path: "/v1/apps/acme-deployed/" + op, Actor: "member",
				Setup: func(t *testing.T) { w.markDeployed(t, "acme-deployed", "acme") }, WantStatus: 202},
			servertest.Scenario{Name: "viewer", Method: "POST", Path: "/v1/apps/acme-deployed/" + op, Actor: "viewer", WantStatus: 403},
			servertest.Scenario{Name: "non-member", Method: "POST", Path: "/v1/apps/deployed/" + op, Actor: "user", WantStatus: 404},
			servertest.Scenario{Name: "unknown app", Method: "POST", Path: "/v1/apps/nope/" + op, Actor: "owner", WantStatus: 404},
			unauth("POST", "/v1/apps/web/"+op),
		))...)
	}
	return concat(cases, named("suspended app", group(
		servertest.Scenario{Name: "restart is refused like a deploy", Method: "POST", Path: "/v1/apps/suspended-deployed/restart", Actor: "owner",
			Setup: func(t *testing.T) {
				w.markDeployed(t, "suspended-deployed", "")
				w.suspend(t, "suspended-deployed")
			},
			WantStatus: 403, WantContains: []string{"suspended"}},
		servertest.Scenario{Name: "stop is allowed", Method: "POST", Path: "/v1/apps/suspended-deployed/stop", Actor: "owner", WantStatus: 202},
	)), named("DELETE a deployed app", group(
		servertest.Scenario{Name: "queues a delete job for its worker", Method: "DELETE", Path: "/v1/apps/deployed", Actor: "owner",
			WantStatus: 204, After: func(t *testing.T, r servertest.Response) {
				w.s.Call(t, 404, "GET", "/v1/apps/deployed", w.sc.Actors["owner"], nil)
				jobs, err := w.store().ListPendingJobs(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				for _, j := range jobs {
					if j.AppName == "deployed" && j.Type == "delete" {
						return
					}
				}
				t.Errorf("no pending delete job for the app among %d", len(jobs))
			}},
	)))
}

// suspend marks app suspended, as an operator would.
func (w *world) suspend(t *testing.T, app string) {
	t.Helper()
	a, err := w.store().GetAppByName(context.Background(), app)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.store().SetAppSuspended(context.Background(), a.ID, true); err != nil {
		t.Fatal(err)
	}
}

// markDeployed makes app (created if missing, in team or the owner's
// personal team) look deployed on w1: what a worker's reports would leave
// behind.
func (w *world) markDeployed(t *testing.T, app, team string) {
	t.Helper()
	owner := w.sc.Actors["owner"]
	ctx := context.Background()
	a, err := w.store().GetAppByName(ctx, app)
	if err != nil {
		body := newApp(app, nil)
		if team != "" {
			body["team"] = team
		}
		createApp(t, w.s, owner, body)
		if a, err = w.store().GetAppByName(ctx, app); err != nil {
			t.Fatal(err)
		}
	}
	if a.CurrentDeploymentID != "" {
		return
	}
	dep := deploy(t, w.s, owner, app)
	wid, _ := strconv.ParseInt(w.v("wid"), 10, 64)
	if err := w.store().UpdateAppRuntime(ctx, a.ID, store.AppRuntime{Status: "running", WorkerID: wid, HostPort: 20001}); err != nil {
		t.Fatal(err)
	}
	if err := w.store().UpdateDeploymentStatus(ctx, dep, store.DeploymentRunning, "", time.Time{}); err != nil {
		t.Fatal(err)
	}
}

// markTwoVersions makes app look deployed twice on w1: deployment v1 ran
// image 1111…, then v2 replaced it with 2222…; it returns both ids.
func (w *world) markTwoVersions(t *testing.T, app string) (v1, v2 string) {
	t.Helper()
	ctx := context.Background()
	owner := w.sc.Actors["owner"]
	w.markDeployed(t, app, "")
	a, err := w.store().GetAppByName(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	img1, img2 := strings.Repeat("1", 64), strings.Repeat("2", 64)
	v1 = a.CurrentDeploymentID
	v2 = deploy(t, w.s, owner, app)
	for _, d := range []struct{ id, img, commit string }{{v1, img1, "aaaaaaa"}, {v2, img2, "bbbbbbb"}} {
		if err := w.store().UpdateDeploymentStatus(ctx, d.id, store.DeploymentRunning, "", time.Time{}); err != nil && !errors.Is(err, store.ErrConflict) {
			t.Fatal(err)
		}
		if err := w.store().SetDeploymentResult(ctx, d.id, d.img, d.commit); err != nil {
			t.Fatal(err)
		}
	}
	rt := a.Runtime()
	rt.ImageID, rt.PreviousImageID, rt.CurrentDeploymentID = img2, img1, v2
	if err := w.store().UpdateAppRuntime(ctx, a.ID, rt); err != nil {
		t.Fatal(err)
	}
	return v1, v2
}

func domainCases(w *world) []servertest.Scenario {
	return named("domains", group(
		servertest.Scenario{Name: "none yet", Method: "GET", Path: "/v1/apps/web/domains", Actor: "owner", WantStatus: 200, WantContains: []string{"[]"}},
		servertest.Scenario{Name: "add", Method: "POST", Path: "/v1/apps/web/domains", Actor: "owner",
			Body: map[string]string{"domain": "WWW.Example.ORG."}, WantStatus: 201,
			WantContains: []string{`"domain":"www.example.org"`, `"url":"http://www.example.org"`}},
		servertest.Scenario{Name: "listed to the owner", Method: "GET", Path: "/v1/apps/web/domains", Actor: "owner", WantStatus: 200,
			WantContains: []string{`"domain":"www.example.org"`}},
		servertest.Scenario{Name: "taken by another app", Method: "POST", Path: "/v1/apps/acme-api/domains", Actor: "owner",
			Body: map[string]string{"domain": "www.example.org"}, WantStatus: 409},
		servertest.Scenario{Name: "under the base domain", Method: "POST", Path: "/v1/apps/web/domains", Actor: "owner",
			Body: map[string]string{"domain": "other.localhost"}, WantStatus: 422, WantContains: []string{"platform's own domain"}},
		servertest.Scenario{Name: "an IP", Method: "POST", Path: "/v1/apps/web/domains", Actor: "owner",
			Body: map[string]string{"domain": "10.0.0.1"}, WantStatus: 422},
		servertest.Scenario{Name: "bad characters", Method: "POST", Path: "/v1/apps/web/domains", Actor: "owner",
			Body: map[string]string{"domain": "evil_host.example.com"}, WantStatus: 422},
		servertest.Scenario{Name: "single label", Method: "POST", Path: "/v1/apps/web/domains", Actor: "owner",
			Body: map[string]string{"domain": "intranet"}, WantStatus: 422},
		servertest.Scenario{Name: "viewer cannot add", Method: "POST", Path: "/v1/apps/acme-api/domains", Actor: "viewer",
			Body: map[string]string{"domain": "v.example.org"}, WantStatus: 403},
		servertest.Scenario{Name: "non-member", Method: "POST", Path: "/v1/apps/web/domains", Actor: "user",
			Body: map[string]string{"domain": "u.example.org"}, WantStatus: 404},
		servertest.Scenario{Name: "remove", Method: "DELETE", Path: "/v1/apps/web/domains/www.example.org", Actor: "owner", WantStatus: 204},
		servertest.Scenario{Name: "remove again", Method: "DELETE", Path: "/v1/apps/web/domains/www.example.org", Actor: "owner", WantStatus: 404},
		unauth("GET", "/v1/apps/web/domains"),
	))
}

func rollbackCases(w *world) []servertest.Scenario {
	var v1, v2 string
	return named("POST rollback", group(
		servertest.Scenario{Name: "before any deploy", Method: "POST", Path: "/v1/apps/web/rollback", Actor: "owner", WantStatus: 409,
			WantContains: []string{"not been deployed"}},
		servertest.Scenario{Name: "one version only", Method: "POST", Path: "/v1/apps/rb-once/rollback", Actor: "owner",
			Setup: func(t *testing.T) { w.markDeployed(t, "rb-once", "") }, WantStatus: 409,
			WantContains: []string{"no previous version"}},
		servertest.Scenario{Name: "to the previous version, on the same worker, without a build", Method: "POST", Path: "/v1/apps/rb/rollback", Actor: "owner",
			Setup: func(t *testing.T) { v1, v2 = w.markTwoVersions(t, "rb") }, WantStatus: 201,
			WantContains: []string{`"trigger":"rollback"`, `"status":"queued"`, `"image_id":"` + strings.Repeat("1", 64) + `"`, `"commit":"aaaaaaa"`},
			After: func(t *testing.T, r servertest.Response) {
				jobs, err := w.store().ListPendingJobs(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				var dep struct {
					ID string `json:"id"`
				}
				r.JSON(t, &dep)
				found := false
				for _, j := range jobs {
					if j.DeploymentID == dep.ID {
						found = true
						if strconv.FormatInt(j.WorkerID, 10) != w.v("wid") {
							t.Errorf("rollback job placed on worker %d, want the app's worker %s", j.WorkerID, w.v("wid"))
						}
					}
				}
				if !found {
					t.Error("no pending deploy job for the rollback")
				}
			}},
		servertest.Scenario{Name: "to the version running now", Method: "POST", Path: "/v1/apps/rb/rollback", Actor: "owner",
			Body: map[string]string{"deployment_id": "{{rb_v2}}"}, Setup: func(t *testing.T) { w.sc.Vars["rb_v2"] = v2 }, WantStatus: 409,
			WantContains: []string{"running now"}},
		servertest.Scenario{Name: "to a named deployment", Method: "POST", Path: "/v1/apps/rb/rollback", Actor: "owner",
			Body: map[string]string{"deployment_id": "{{rb_v1}}"}, Setup: func(t *testing.T) { w.sc.Vars["rb_v1"] = v1 }, WantStatus: 201,
			WantContains: []string{`"trigger":"rollback"`}},
		servertest.Scenario{Name: "another app's deployment", Method: "POST", Path: "/v1/apps/rb-once/rollback", Actor: "owner",
			Body: map[string]string{"deployment_id": "{{rb_v1}}"}, WantStatus: 404},
		servertest.Scenario{Name: "unknown field", Method: "POST", Path: "/v1/apps/rb/rollback", Actor: "owner",
			Body: map[string]string{"image": "x"}, WantStatus: 400},
		servertest.Scenario{Name: "viewer", Method: "POST", Path: "/v1/apps/acme-deployed/rollback", Actor: "viewer", WantStatus: 403,
			Setup: func(t *testing.T) { w.markDeployed(t, "acme-deployed", "acme") }},
		servertest.Scenario{Name: "non-member", Method: "POST", Path: "/v1/apps/rb/rollback", Actor: "user", WantStatus: 404},
		unauth("POST", "/v1/apps/rb/rollback"),
	))
}

func deploymentCases(w *world) []servertest.Scenario {
	return concat(
		named("POST deployments", group(
			servertest.Scenario{Name: "no body", Method: "POST", Path: "/v1/apps/web/deployments", Actor: "owner", WantStatus: 201,
				WantContains: []string{`"status":"queued"`, `"trigger":"api"`, `"app":"web"`, `"app_id":"{{web_id}}"`,
					`"created_by":"{{owner_id}}"`, `"branch":"develop"`}},
			servertest.Scenario{Name: "empty body", Method: "POST", Path: "/v1/apps/web/deployments", Actor: "owner", Body: "", WantStatus: 201},
			servertest.Scenario{Name: "a commit", Method: "POST", Path: "/v1/apps/web/deployments", Actor: "owner",
				Body: map[string]string{"commit": "abc1234"}, WantStatus: 201, WantContains: []string{`"commit":"abc1234"`, `"status":"queued"`}},
			servertest.Scenario{Name: "member", Method: "POST", Path: "/v1/apps/acme-api/deployments", Actor: "member", WantStatus: 201,
				WantContains: []string{`"created_by":"{{member_id}}"`}},
			servertest.Scenario{Name: "commit not hex", Method: "POST", Path: "/v1/apps/web/deployments", Actor: "owner",
				Body: map[string]string{"commit": "zzzzzzz"}, WantStatus: 422},
			servertest.Scenario{Name: "commit that is an option", Method: "POST", Path: "/v1/apps/web/deployments", Actor: "owner",
				Body: map[string]string{"commit": "--upload-pack=id"}, WantStatus: 422},
			servertest.Scenario{Name: "commit too short", Method: "POST", Path: "/v1/apps/web/deployments", Actor: "owner",
				Body: map[string]string{"commit": "abc"}, WantStatus: 422},
			servertest.Scenario{Name: "a suspended app", Method: "POST", Path: "/v1/apps/suspended-app/deployments", Actor: "owner",
				Setup: func(t *testing.T) {
					createApp(t, w.s, w.sc.Actors["owner"], newApp("suspended-app", nil))
					w.suspend(t, "suspended-app")
				},
				WantStatus: 403, WantContains: []string{"suspended"}},
			servertest.Scenario{Name: "viewer", Method: "POST", Path: "/v1/apps/acme-api/deployments", Actor: "viewer", WantStatus: 403},
			servertest.Scenario{Name: "non-member", Method: "POST", Path: "/v1/apps/web/deployments", Actor: "user", WantStatus: 404},
			servertest.Scenario{Name: "unknown app", Method: "POST", Path: "/v1/apps/nope/deployments", Actor: "owner", WantStatus: 404},
			unauth("POST", "/v1/apps/web/deployments"),
			servertest.Scenario{Name: "not JSON", Method: "POST", Path: "/v1/apps/web/deployments", Actor: "owner", Body: "commit=abc1234",
				WantStatus: 400},
			servertest.Scenario{Name: "unknown field", Method: "POST", Path: "/v1/apps/web/deployments", Actor: "owner",
				Body: `{"ref": "main"}`, WantStatus: 400},
			servertest.Scenario{Name: "wrong type", Method: "POST", Path: "/v1/apps/web/deployments", Actor: "owner",
				Body: `{"commit": 1234567}`, WantStatus: 400},
		)),
		named("GET deployments", group(
			servertest.Scenario{Name: "owner", Method: "GET", Path: "/v1/apps/web/deployments", Actor: "owner", WantStatus: 200,
				WantContains: []string{`"id":"{{dep}}"`, `"status":"queued"`, `"log_bytes":`}},
			servertest.Scenario{Name: "limit", Method: "GET", Path: "/v1/apps/web/deployments?limit=1", Actor: "owner", WantStatus: 200,
				After: func(t *testing.T, r servertest.Response) {
					var ds []any
					r.JSON(t, &ds)
					if len(ds) != 1 {
						t.Errorf("limit=1 gave %d deployments", len(ds))
					}
				}},
			servertest.Scenario{Name: "viewer", Method: "GET", Path: "/v1/apps/acme-api/deployments", Actor: "viewer", WantStatus: 200,
				WantContains: []string{"{{acme_dep}}"}},
			servertest.Scenario{Name: "non-member", Method: "GET", Path: "/v1/apps/web/deployments", Actor: "user", WantStatus: 404,
				WantNotContains: []string{"{{dep}}"}},
			unauth("GET", "/v1/apps/web/deployments"),
		)),
		named("GET /v1/deployments/{id}", group(
			servertest.Scenario{Name: "owner", Method: "GET", Path: "/v1/deployments/{{dep}}", Actor: "owner", WantStatus: 200,
				WantContains: []string{`"id":"{{dep}}"`, `"app":"web"`, `"status":"queued"`, `"log_bytes":`}},
			servertest.Scenario{Name: "viewer", Method: "GET", Path: "/v1/deployments/{{acme_dep}}", Actor: "viewer", WantStatus: 200},
			servertest.Scenario{Name: "non-member", Method: "GET", Path: "/v1/deployments/{{dep}}", Actor: "user", WantStatus: 404,
				WantNotContains: []string{"web"}},
			servertest.Scenario{Name: "unknown", Method: "GET", Path: "/v1/deployments/dep_nope", Actor: "owner", WantStatus: 404},
			unauth("GET", "/v1/deployments/{{dep}}"),
		)),
	)
}

func logCases(w *world) []servertest.Scenario {
	return concat(
		named("GET deployment logs", group(
			servertest.Scenario{Name: "whole log", Method: "GET", Path: "/v1/deployments/{{dep}}/logs", Actor: "owner", WantStatus: 200,
				WantContains: []string{"Step 1/2 : FROM alpine\nbuild ok\n"},
				After: func(t *testing.T, r servertest.Response) {
					if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
						t.Errorf("Content-Type %q", ct)
					}
				}},
			servertest.Scenario{Name: "from an offset", Method: "GET", Path: "/v1/deployments/{{dep}}/logs?offset=23", Actor: "owner",
				WantStatus: 200, WantContains: []string{"build ok"}, WantNotContains: []string{"Step 1/2"}},
			servertest.Scenario{Name: "viewer", Method: "GET", Path: "/v1/deployments/{{acme_dep}}/logs", Actor: "viewer", WantStatus: 200},
			servertest.Scenario{Name: "negative offset", Method: "GET", Path: "/v1/deployments/{{dep}}/logs?offset=-1", Actor: "owner", WantStatus: 400},
			servertest.Scenario{Name: "offset not a number", Method: "GET", Path: "/v1/deployments/{{dep}}/logs?offset=abc", Actor: "owner", WantStatus: 400},
			servertest.Scenario{Name: "non-member", Method: "GET", Path: "/v1/deployments/{{dep}}/logs", Actor: "user", WantStatus: 404,
				WantNotContains: []string{"alpine"}},
			servertest.Scenario{Name: "unknown", Method: "GET", Path: "/v1/deployments/dep_nope/logs", Actor: "owner", WantStatus: 404},
			unauth("GET", "/v1/deployments/{{dep}}/logs"),
		)),
		named("GET app logs", group(
			servertest.Scenario{Name: "JSON lines", Method: "GET", Path: "/v1/apps/web/logs", Actor: "owner", WantStatus: 200,
				WantContains: []string{`"msg":"hello from web"`, `"stream":"stdout"`}},
			// The app's only line is its log's first: id 1.
			servertest.Scenario{Name: "after the last line", Method: "GET", Path: "/v1/apps/web/logs?after=1", Actor: "owner",
				WantStatus: 200, WantContains: []string{"[]"}},
			// An id past the end is not this log's (a cursor from before
			// logs moved to files): answered like no cursor.
			servertest.Scenario{Name: "after an id the log never had", Method: "GET", Path: "/v1/apps/web/logs?after=999999", Actor: "owner",
				WantStatus: 200, WantContains: []string{`"id":1,`, "hello from web"}},
			servertest.Scenario{Name: "viewer", Method: "GET", Path: "/v1/apps/acme-api/logs?limit=5", Actor: "viewer", WantStatus: 200},
			servertest.Scenario{Name: "negative after", Method: "GET", Path: "/v1/apps/web/logs?after=-1", Actor: "owner", WantStatus: 400},
			servertest.Scenario{Name: "non-member", Method: "GET", Path: "/v1/apps/web/logs", Actor: "user", WantStatus: 404,
				WantNotContains: []string{"hello from web"}},
			unauth("GET", "/v1/apps/web/logs"),
		)),
		named("GET stats", group(
			servertest.Scenario{Name: "default window", Method: "GET", Path: "/v1/apps/web/stats", Actor: "owner", WantStatus: 200,
				WantContains: []string{`"app":"web"`, `"cpu_percent":12.5`, `"mem_bytes":1048576`}},
			servertest.Scenario{Name: "since 24h", Method: "GET", Path: "/v1/apps/web/stats?since=24h", Actor: "owner", WantStatus: 200},
			servertest.Scenario{Name: "viewer, no points", Method: "GET", Path: "/v1/apps/acme-api/stats", Actor: "viewer", WantStatus: 200,
				WantContains: []string{`"points":[]`}},
			servertest.Scenario{Name: "since not a duration", Method: "GET", Path: "/v1/apps/web/stats?since=yesterday", Actor: "owner", WantStatus: 400},
			servertest.Scenario{Name: "since too long", Method: "GET", Path: "/v1/apps/web/stats?since=200h", Actor: "owner", WantStatus: 400},
			servertest.Scenario{Name: "since negative", Method: "GET", Path: "/v1/apps/web/stats?since=-1h", Actor: "owner", WantStatus: 400},
			servertest.Scenario{Name: "non-member", Method: "GET", Path: "/v1/apps/web/stats", Actor: "user", WantStatus: 404,
				WantNotContains: []string{"cpu_percent"}},
			unauth("GET", "/v1/apps/web/stats"),
		)),
		named("GET violations", group(
			servertest.Scenario{Name: "owner", Method: "GET", Path: "/v1/apps/web/violations", Actor: "owner", WantStatus: 200,
				WantContains: []string{`"kind":"oom"`, `"action":"restart"`, "out of memory"}},
			servertest.Scenario{Name: "viewer", Method: "GET", Path: "/v1/apps/acme-api/violations", Actor: "viewer", WantStatus: 200,
				WantContains: []string{"[]"}},
			servertest.Scenario{Name: "non-member", Method: "GET", Path: "/v1/apps/web/violations", Actor: "user", WantStatus: 404,
				WantNotContains: []string{"oom"}},
			unauth("GET", "/v1/apps/web/violations"),
		)),
	)
}

func registerBody(key string) map[string]any {
	return map[string]any{"api_key": key, "name": "w", "hostname": "host-1", "version": "test", "cpus": 2,
		"memory_bytes": 1 << 30, "port_range": []int{20000, 20999}, "address": "127.0.0.1"}
}

func workerCases(w *world) []servertest.Scenario {
	return concat(
		named("GET /v1/workers", group(
			servertest.Scenario{Name: "owner", Method: "GET", Path: "/v1/workers", Actor: "owner", WantStatus: 200,
				WantContains: []string{`"name":"w1"`, `"status":"offline"`}, WantNotContains: []string{"api_key", "whk_"}},
			servertest.Scenario{Name: "ordinary user", Method: "GET", Path: "/v1/workers", Actor: "user", WantStatus: 403,
				WantNotContains: []string{"w1"}},
			servertest.Scenario{Name: "team owner is not an instance admin", Method: "GET", Path: "/v1/workers", Actor: "admin", WantStatus: 403},
			unauth("GET", "/v1/workers"),
		)),
		named("POST /v1/workers", group(
			servertest.Scenario{Name: "success; the key is shown once", Method: "POST", Path: "/v1/workers", Actor: "owner",
				Body: map[string]string{"name": "w2"}, WantStatus: 201, WantContains: []string{`"api_key":"whk_`, `"name":"w2"`},
				After: func(t *testing.T, r servertest.Response) {
					var out struct {
						APIKey string `json:"api_key"`
					}
					r.JSON(t, &out)
					if b := string(w.s.Call(t, 200, "GET", "/v1/workers", w.sc.Actors["owner"], nil).Body); strings.Contains(b, out.APIKey) || strings.Contains(b, "api_key") {
						t.Errorf("worker list shows the key: %s", b)
					}
				}},
			servertest.Scenario{Name: "duplicate name", Method: "POST", Path: "/v1/workers", Actor: "owner",
				Body: map[string]string{"name": "w1"}, WantStatus: 409},
			servertest.Scenario{Name: "bad name", Method: "POST", Path: "/v1/workers", Actor: "owner",
				Body: map[string]string{"name": "W 1"}, WantStatus: 422},
			servertest.Scenario{Name: "name starting with a dash", Method: "POST", Path: "/v1/workers", Actor: "owner",
				Body: map[string]string{"name": "-w"}, WantStatus: 422},
			servertest.Scenario{Name: "ordinary user", Method: "POST", Path: "/v1/workers", Actor: "user",
				Body: map[string]string{"name": "rogue"}, WantStatus: 403, WantNotContains: []string{"whk_"}},
			unauth("POST", "/v1/workers"),
		), badBodies("body", "POST", "/v1/workers", "owner", `{"name": 1}`)),

		named("POST /v1/workers/register", group(
			servertest.Scenario{Name: "success", Method: "POST", Path: "/v1/workers/register", Body: registerBody("{{wkey}}"),
				WantStatus: 200, WantContains: []string{`"worker_id":{{wid}}`, `"token":"`, `"token_expires_at":"`},
				After: func(t *testing.T, r servertest.Response) {
					var out struct {
						Token string `json:"token"`
					}
					r.JSON(t, &out)
					w.sc.Vars["wjwt"] = out.Token
					b := string(w.s.Call(t, 200, "GET", "/v1/workers", w.sc.Actors["owner"], nil).Body)
					if !strings.Contains(b, `"hostname":"host-1"`) {
						t.Errorf("registration not recorded: %s", b)
					}
				}},
			servertest.Scenario{Name: "unknown key", Method: "POST", Path: "/v1/workers/register", Body: registerBody("whk_bogus"),
				WantStatus: 401},
			servertest.Scenario{Name: "a user token is not a worker key", Method: "POST", Path: "/v1/workers/register",
				Body: registerBody(w.sc.Actors["owner"]), WantStatus: 401},
			servertest.Scenario{Name: "missing fields", Method: "POST", Path: "/v1/workers/register",
				Body: map[string]string{"api_key": "{{wkey}}"}, WantStatus: 400},
			servertest.Scenario{Name: "not JSON", Method: "POST", Path: "/v1/workers/register", Body: "api_key={{wkey}}", WantStatus: 400},
			servertest.Scenario{Name: "empty body", Method: "POST", Path: "/v1/workers/register", Body: "", WantStatus: 400},
			servertest.Scenario{Name: "wrong type", Method: "POST", Path: "/v1/workers/register",
				Body: `{"api_key": "{{wkey}}", "name": "w", "hostname": "h", "version": "v", "cpus": "two"}`, WantStatus: 400},
			servertest.Scenario{Name: "field too long", Method: "POST", Path: "/v1/workers/register",
				Body: map[string]any{"api_key": "{{wkey}}", "name": "w", "hostname": strings.Repeat("h", 300), "version": "v"}, WantStatus: 400},
		)),

		named("POST /v1/workers/refresh-token", group(
			servertest.Scenario{Name: "raw key", Method: "POST", Path: "/v1/workers/refresh-token",
				Header: map[string]string{"Authorization": "Bearer {{wkey}}"}, WantStatus: 200,
				WantContains: []string{`"token":"`, `"token_expires_at":"`}},
			servertest.Scenario{Name: "a worker JWT cannot renew itself", Method: "POST", Path: "/v1/workers/refresh-token",
				Header: map[string]string{"Authorization": "Bearer {{wjwt}}"}, WantStatus: 401},
			servertest.Scenario{Name: "unknown key", Method: "POST", Path: "/v1/workers/refresh-token",
				Header: map[string]string{"Authorization": "Bearer whk_bogus"}, WantStatus: 401},
			servertest.Scenario{Name: "a user session", Method: "POST", Path: "/v1/workers/refresh-token", Actor: "owner", WantStatus: 401},
			servertest.Scenario{Name: "no credentials", Method: "POST", Path: "/v1/workers/refresh-token", WantStatus: 401},
		)),

		named("DELETE /v1/workers/{id}", group(
			servertest.Scenario{Name: "ordinary user", Method: "DELETE", Path: "/v1/workers/{{wid}}", Actor: "user", WantStatus: 403,
				After: func(t *testing.T, r servertest.Response) {
					w.s.Call(t, 200, "POST", "/v1/workers/register", "", registerBody(w.v("wkey")))
				}},
			servertest.Scenario{Name: "owner revokes; the key is refused afterwards", Method: "DELETE", Path: "/v1/workers/{{doomed_wid}}", Actor: "owner",
				Setup: func(t *testing.T) {
					w.sc.Vars["doomed_wid"], w.sc.Vars["doomed_wkey"] = createWorker(t, w.s, w.sc.Actors["owner"], "doomed-worker")
					w.s.Call(t, 200, "POST", "/v1/workers/register", "", registerBody(w.v("doomed_wkey")))
				},
				WantStatus: 204, After: func(t *testing.T, r servertest.Response) {
					w.s.Call(t, 401, "POST", "/v1/workers/register", "", registerBody(w.v("doomed_wkey")))
					if r := w.s.Request(t, "POST", "/v1/workers/refresh-token", http.Header{"Authorization": {"Bearer " + w.v("doomed_wkey")}}, nil); r.Status != 401 {
						t.Errorf("refresh with a revoked key: %d %s", r.Status, r.Body)
					}
					b := string(w.s.Call(t, 200, "GET", "/v1/workers", w.sc.Actors["owner"], nil).Body)
					if !regexp.MustCompile(`"name":"doomed-worker"[^}]*"status":"revoked"`).MatchString(b) {
						t.Errorf("revoked worker not listed as revoked: %s", b)
					}
				}},
			servertest.Scenario{Name: "revoking twice is harmless", Method: "DELETE", Path: "/v1/workers/{{doomed_wid}}", Actor: "owner", WantStatus: 204},
			servertest.Scenario{Name: "not a number", Method: "DELETE", Path: "/v1/workers/abc", Actor: "owner", WantStatus: 404},
			servertest.Scenario{Name: "unknown", Method: "DELETE", Path: "/v1/workers/999999", Actor: "owner", WantStatus: 404},
			unauth("DELETE", "/v1/workers/{{wid}}"),
		)),
	)
}

func miscCases(w *world) []servertest.Scenario {
	return concat(named("unknown routes", group(
		servertest.Scenario{Name: "unknown path", Method: "GET", Path: "/v1/nope", WantStatus: 404, WantContains: []string{`"code":"not_found"`}},
		servertest.Scenario{Name: "unknown path, signed in", Method: "GET", Path: "/v1/apps/web/nope", Actor: "owner", WantStatus: 404,
			WantContains: []string{`"code":"not_found"`}},
		servertest.Scenario{Name: "unknown method on a known path", Method: "PUT", Path: "/v1/me", Actor: "owner", WantStatus: 404},
		servertest.Scenario{Name: "trailing slash", Method: "GET", Path: "/v1/apps/", Actor: "owner", WantStatus: 404},
	)), named("request bodies", group(
		servertest.Scenario{Name: "duplicate keys", Method: "POST", Path: "/v1/teams", Actor: "user",
			Body: `{"name": "Dup", "slug": "dup-a", "slug": "dup-b"}`, WantStatus: 400},
		servertest.Scenario{Name: "a second value after the object", Method: "POST", Path: "/v1/teams", Actor: "user",
			Body: `{"name": "Two", "slug": "two"} {"name": "Three", "slug": "three"}`, WantStatus: 400},
		servertest.Scenario{Name: "over 1 MiB", Method: "POST", Path: "/v1/apps", Actor: "user",
			Body:       `{"name": "big", "repo_url": "https://github.com/x/y", "dockerfile_path": "` + strings.Repeat("a", 1<<20) + `"}`,
			WantStatus: 413, WantContains: []string{`"code":"too_large"`}},
		servertest.Scenario{Name: "register over 1 MiB", Method: "POST", Path: "/v1/workers/register",
			Body: `{"api_key": "` + strings.Repeat("a", 1<<20) + `"}`, WantStatus: 413, WantContains: []string{`"code":"too_large"`}},
	)))
}

// route is one pattern registered in api.go's routes().
type route struct {
	method string
	segs   []string // "/v1/apps/{app}" → "", "v1", "apps", "{app}"
}

func (r *route) String() string { return r.method + " " + strings.Join(r.segs, "/") }

// apiRoutes reads the routes from api.go, without the worker WebSocket
// and the webhook routes (tested elsewhere).
func apiRoutes(t *testing.T) []*route {
	t.Helper()
	src, err := os.ReadFile("api.go")
	if err != nil {
		t.Fatal(err)
	}
	var routes []*route
	for _, m := range regexp.MustCompile(`m\.Handle\("([A-Z]+) (/v1/[^"]*)"`).FindAllStringSubmatch(string(src), -1) {
		if strings.Contains(m[2], "hook") || m[2] == "/v1/workers/ws" {
			continue
		}
		routes = append(routes, &route{method: m[1], segs: strings.Split(m[2], "/")})
	}
	if len(routes) < 30 {
		t.Fatalf("found only %d routes in api.go: has routes() moved?", len(routes))
	}
	return routes
}

// matchRoute returns the route that serves method and path (the one with
// the most literal segments, as ServeMux picks), or nil.
func matchRoute(routes []*route, method, path string) *route {
	path, _, _ = strings.Cut(path, "?")
	segs := strings.Split(path, "/")
	literals := func(r *route) (n int) {
		for _, s := range r.segs {
			if !strings.HasPrefix(s, "{") {
				n++
			}
		}
		return n
	}
	var best *route
	for _, r := range routes {
		if r.method != method || len(r.segs) != len(segs) {
			continue
		}
		match := true
		for i, s := range r.segs {
			if wild := strings.HasPrefix(s, "{"); wild && segs[i] == "" || !wild && s != segs[i] {
				match = false
				break
			}
		}
		if match && (best == nil || literals(r) > literals(best)) {
			best = r
		}
	}
	return best
}

// checkRouteCoverage fails unless every route was called at least once
// successfully and once with a 4xx.
func checkRouteCoverage(t *testing.T, calls []servertest.Call) {
	t.Helper()
	routes := apiRoutes(t)
	ok, ko := map[*route]bool{}, map[*route]bool{}
	for _, c := range calls {
		if r := matchRoute(routes, c.Method, c.Path); r != nil {
			ok[r] = ok[r] || c.Status < 300
			ko[r] = ko[r] || c.Status >= 400 && c.Status < 500
		}
	}
	for _, r := range routes {
		if !ok[r] || !ko[r] {
			t.Errorf("route %s: success case %v, failure case %v", r, ok[r], ko[r])
		}
	}
}

// TestConcurrentConflicts races writers for one name: exactly one wins and
// the others get a 409, never a 500 (a unique violation or a busy database
// must not surface as an internal error).
func TestConcurrentConflicts(t *testing.T) {
	servertest.ForEachDB(t, func(t *testing.T, db servertest.DB) {
		s := servertest.New(t, db)
		owner, _ := signup(t, s, "owner@example.com")
		other, otherID := signup(t, s, "other@example.com")
		race := func(t *testing.T, n int, req func(i int) (method, path, token string, body any)) map[int]int {
			statuses := make(chan int, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					m, p, tok, b := req(i)
					hdr := http.Header{"Authorization": {"Bearer " + tok}}
					r := s.Request(t, m, p, hdr, b)
					if r.Status >= 500 || !servertest.IsErrorJSON(r) && r.Status >= 400 {
						t.Errorf("%s %s: %d %s", m, p, r.Status, r.Body)
					}
					statuses <- r.Status
				})
			}
			wg.Wait()
			close(statuses)
			count := map[int]int{}
			for st := range statuses {
				count[st]++
			}
			return count
		}
		t.Run("same app name", func(t *testing.T) {
			got := race(t, 16, func(i int) (string, string, string, any) {
				tok := owner
				if i%2 == 1 {
					tok = other
				}
				return "POST", "/v1/apps", tok, newApp("contested", nil)
			})
			if got[201] != 1 || got[409] != 15 {
				t.Errorf("statuses %v, want one 201 and fifteen 409", got)
			}
		})
		t.Run("same team slug", func(t *testing.T) {
			got := race(t, 16, func(i int) (string, string, string, any) {
				return "POST", "/v1/teams", owner, map[string]string{"name": "T", "slug": "contested"}
			})
			if got[201] != 1 || got[409] != 15 {
				t.Errorf("statuses %v, want one 201 and fifteen 409", got)
			}
		})
		t.Run("two owners demote each other", func(t *testing.T) {
			s.Call(t, 201, "POST", "/v1/teams", owner, map[string]string{"name": "Duo", "slug": "duo"})
			s.Call(t, 201, "POST", "/v1/teams/duo/members", owner, map[string]string{"email": "other@example.com", "role": "owner"})
			ownerID := ""
			var members []struct {
				UserID string `json:"user_id"`
				Email  string `json:"email"`
			}
			s.Call(t, 200, "GET", "/v1/teams/duo/members", owner, nil).JSON(t, &members)
			for _, m := range members {
				if m.Email == "owner@example.com" {
					ownerID = m.UserID
				}
			}
			got := race(t, 2, func(i int) (string, string, string, any) {
				if i == 0 {
					return "PATCH", "/v1/teams/duo/members/" + otherID, owner, map[string]string{"role": "admin"}
				}
				return "PATCH", "/v1/teams/duo/members/" + ownerID, other, map[string]string{"role": "admin"}
			})
			body := string(s.Call(t, 200, "GET", "/v1/teams/duo/members", owner, nil).Body)
			if !strings.Contains(body, `"role":"owner"`) {
				t.Errorf("the team lost every owner (statuses %v): %s", got, body)
			}
		})
	})
}
