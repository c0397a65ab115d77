package admin_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wisehosting/wisehosting/internal/admin"
	"github.com/wisehosting/wisehosting/internal/adminrpc"
	"github.com/wisehosting/wisehosting/internal/auth"
	"github.com/wisehosting/wisehosting/internal/config"
	"github.com/wisehosting/wisehosting/internal/server"
	"github.com/wisehosting/wisehosting/internal/servertest"
	"github.com/wisehosting/wisehosting/internal/store"
)

const testPassword = "correct horse battery staple"

// addr is the internal API's host:port of a test server.
func addr(srv *servertest.Server) string { return strings.TrimPrefix(srv.InternalURL, "http://") }

// newAccount creates an admin account straight in the store.
func newAccount(t *testing.T, srv *servertest.Server, username, role string) {
	t.Helper()
	if _, _, err := admin.CreateAccount(context.Background(), srv.S.Store, nil,
		admin.NewAccount{Username: username, Password: testPassword, Role: role}); err != nil {
		t.Fatal(err)
	}
}

// login creates an account and returns a client logged in with it.
func login(t *testing.T, srv *servertest.Server, username, role string) *adminrpc.Client {
	t.Helper()
	newAccount(t, srv, username, role)
	c := adminrpc.NewClient(addr(srv), "")
	if _, err := c.Login(context.Background(), adminrpc.LoginRequest{Username: username, Password: testPassword}); err != nil {
		t.Fatalf("login %s: %v", username, err)
	}
	return c
}

// rawGet sends GET path to the internal API with a Host and bearer.
func rawGet(t *testing.T, srv *servertest.Server, host, path, bearer string, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.InternalURL+path, nil)
	if host != "" {
		req.Host = host
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRefusesNonLoopbackBind(t *testing.T) {
	for _, a := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.10:8081", "example.com:8081"} {
		s := admin.New(admin.Deps{Addr: a})
		err := s.Listen()
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("Listen(%s) = %v, want a refusal naming loopback", a, err)
		}
		if s.Addr() != "" {
			t.Errorf("%s: bound %s", a, s.Addr())
		}
	}
	for _, a := range []string{"127.0.0.1:0", "localhost:0"} {
		if err := admin.CheckBindAddr(a); err != nil {
			t.Errorf("CheckBindAddr(%s) = %v", a, err)
		}
	}
}

func TestLoopbackGuard(t *testing.T) {
	srv := servertest.New(t, servertest.DB{Name: "sqlite"})
	c := login(t, srv, "viewer1", adminrpc.RoleViewer)
	port := addr(srv)[strings.LastIndex(addr(srv), ":"):]
	cases := []struct {
		name, host string
		hdr        map[string]string
		want       int
		body       string
	}{
		{"loopback ip", "", nil, 200, `"role":"viewer"`},
		{"localhost", "localhost" + port, nil, 200, `"username":"viewer1"`},
		{"localhost no port", "localhost", nil, 200, `"role"`},
		{"ipv6 loopback", "[::1]" + port, nil, 200, `"role"`},
		{"foreign host", "evil.example.com" + port, nil, 403, "Host must be a loopback name"},
		{"rebinding name", "127.0.0.1.nip.io" + port, nil, 403, "forbidden_host"},
		{"public ip host", "192.0.2.10" + port, nil, 403, "forbidden_host"},
		{"bad port", "localhost:http", nil, 403, "forbidden_host"},
		{"browser origin", "", map[string]string{"Origin": "http://localhost" + port}, 403, "not for browsers"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := rawGet(t, srv, tc.host, "/internal/v1/me", c.Token, tc.hdr)
			if code != tc.want || !strings.Contains(body, tc.body) {
				t.Fatalf("%d %s, want %d with %q", code, body, tc.want, tc.body)
			}
		})
	}

	// A peer that is not loopback is refused before anything else.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/internal/v1/status", nil)
	req.RemoteAddr, req.Host = "192.0.2.7:40000", "127.0.0.1"+port
	req.Header.Set("Authorization", "Bearer "+c.Token)
	srv.S.Admin.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "loopback clients only") {
		t.Fatalf("foreign peer: %d %s", rec.Code, rec.Body)
	}
}

func TestSessions(t *testing.T) {
	servertest.ForEachDB(t, func(t *testing.T, db servertest.DB) {
		srv := servertest.New(t, db)
		ctx := context.Background()
		userToken := srv.Signup("owner@example.com")
		_, workerKey := srv.CreateWorker(userToken, "w1")
		newAccount(t, srv, "op", adminrpc.RoleOperator)
		acct, err := srv.S.Store.GetAdminAccountByUsername(ctx, "op")
		if err != nil {
			t.Fatal(err)
		}
		session := func(name string, created, expires time.Time) string {
			raw, hash := auth.NewToken(adminrpc.TokenPrefix)
			if err := srv.S.Store.CreateAdminSession(ctx, &store.AdminSession{TokenHash: hash, AccountID: acct.ID,
				CreatedAt: created, ExpiresAt: expires}); err != nil {
				t.Fatal(err)
			}
			return raw
		}
		now := time.Now()
		expired := session("expired", now.Add(-13*time.Hour), now.Add(-time.Hour))
		idle := session("idle", now.Add(-2*time.Hour), now.Add(10*time.Hour))
		for _, tc := range []struct {
			name, bearer, want string
		}{
			{"no session", "", "an admin session is required"},
			{"user session token", userToken, "a user's or worker's token is not an admin session"},
			{"worker key", workerKey, "not an admin session"},
			{"unknown admin token", "whadm_" + strings.Repeat("a", 32), "session_expired"},
			{"expired session", expired, "has expired or ended"},
			{"idle session", idle, "has expired or ended"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for _, path := range []string{"/internal/v1/status", "/internal/v1/workers", "/internal/v1/rpc"} {
					code, body := rawGet(t, srv, "", path, tc.bearer, nil)
					if code != http.StatusUnauthorized || !strings.Contains(body, tc.want) {
						t.Fatalf("%s: %d %s, want 401 with %q", path, code, body, tc.want)
					}
				}
			})
		}

		// A login works; every view answers; logout ends the session.
		c := adminrpc.NewClient(addr(srv), "")
		if _, err := c.Login(ctx, adminrpc.LoginRequest{Username: "op", Password: "wrong password!!"}); !adminrpc.IsUnauthorized(err) {
			t.Fatalf("wrong password: %v", err)
		}
		sess, err := c.Login(ctx, adminrpc.LoginRequest{Username: "OP", Password: testPassword})
		if err != nil || !strings.HasPrefix(sess.Token, "whadm_") || sess.Role != "operator" || time.Until(sess.ExpiresAt) < 11*time.Hour {
			t.Fatalf("login: %+v %v", sess, err)
		}
		for _, path := range []string{"/internal/v1/status", "/internal/v1/workers", "/internal/v1/hub", "/internal/v1/jobs",
			"/internal/v1/apps", "/internal/v1/violations", "/internal/v1/users", "/internal/v1/teams", "/internal/v1/audit", "/internal/v1/me"} {
			if err := c.Get(ctx, path, nil); err != nil {
				t.Errorf("GET %s: %v", path, err)
			}
		}
		var st adminrpc.Status
		if err := c.Get(ctx, "/internal/v1/status", &st); err != nil || st.Counts.Users != 1 || st.Counts.Workers != 1 || st.SchemaVersion < 2 ||
			st.Version == "" || st.Database != srv.S.Store.Dialect() {
			t.Fatalf("status %+v %v", st, err)
		}
		var audit []adminrpc.AuditEntry
		if err := c.Get(ctx, "/internal/v1/audit", &audit); err != nil || len(audit) < 2 ||
			audit[0].Action != "login" || audit[0].Result != "ok" || audit[1].Result != "denied" || !strings.HasPrefix(audit[0].RemoteAddr, "127.0.0.1:") {
			t.Fatalf("audit of the logins: %+v %v", audit, err)
		}
		if err := c.Logout(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.Get(ctx, "/internal/v1/status", nil); !adminrpc.IsUnauthorized(err) {
			t.Fatalf("after logout: %v", err)
		}
	})
}

func TestLoginThrottleAndTOTP(t *testing.T) {
	srv := servertest.New(t, servertest.DB{Name: "sqlite"})
	ctx := context.Background()
	newAccount(t, srv, "alice", adminrpc.RoleViewer)
	c := adminrpc.NewClient(addr(srv), "")
	for range 5 {
		if _, err := c.Login(ctx, adminrpc.LoginRequest{Username: "alice", Password: "not the password"}); !adminrpc.IsUnauthorized(err) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	_, err := c.Login(ctx, adminrpc.LoginRequest{Username: "alice", Password: testPassword})
	var ae *adminrpc.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusTooManyRequests {
		t.Fatalf("sixth attempt: %v, want 429", err)
	}

	// An account with a second factor, made by the local command with the
	// server's own data folder and master key.
	args := []string{"create-account", "--data-dir", srv.DataDir, "--username", "bob", "--role", "operator", "--totp"}
	var out bytes.Buffer
	if err := (admin.Command{Stdin: strings.NewReader(testPassword + "\n"), Stdout: &out, Stderr: io.Discard,
		Getenv: func(string) string { return "" }}).Run(ctx, args); err != nil {
		t.Fatal(err)
	}
	secret := strings.Fields(strings.SplitN(out.String(), "\n", 3)[2])[0]
	_, err = c.Login(ctx, adminrpc.LoginRequest{Username: "bob", Password: testPassword})
	if !errors.As(err, &ae) || ae.Code != "totp_required" {
		t.Fatalf("login without a code: %v", err)
	}
	code, _ := admin.TOTPCode(secret, time.Now())
	wrong := []byte(code)
	wrong[0] = '0' + (wrong[0]-'0'+5)%10
	if _, err := c.Login(ctx, adminrpc.LoginRequest{Username: "bob", Password: testPassword, TOTP: string(wrong)}); !adminrpc.IsUnauthorized(err) {
		t.Fatalf("wrong code: %v", err)
	}
	if s, err := c.Login(ctx, adminrpc.LoginRequest{Username: "bob", Password: testPassword, TOTP: code}); err != nil || s.Role != "operator" {
		t.Fatalf("login with a code: %+v %v", s, err)
	}
}

// The control plane does not start without the internal API it was asked
// for: a busy port or a foreign address is its own, clear error.
func TestServerRefusesBadInternalListen(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for addr, want := range map[string]string{busy.Addr().String(): "address already in use", "0.0.0.0:0": "loopback address only"} {
		cfg := config.Default()
		cfg.DataDir, cfg.InternalListen = t.TempDir(), addr
		s, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "internal API") {
			if s != nil {
				s.Store.Close()
			}
			t.Errorf("internal listen %s: %v, want an error saying %q", addr, err, want)
		}
	}
}
