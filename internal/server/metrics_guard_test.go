package server

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wisehosting/wisehosting/internal/config"
	"github.com/wisehosting/wisehosting/internal/httpx"
	"github.com/wisehosting/wisehosting/internal/store"
)

// TestMetricsAccess drives the whole server's handler: /metrics answers
// loopback clients without a token, nobody else; with a token, only
// scrapers that present it, wherever they are.
func TestMetricsAccess(t *testing.T) {
	const token = "0123456789abcdef0123"
	for _, tc := range []struct {
		name, token, remote, auth string
		want                      int
		xff, trusted              string
	}{
		{"no token, loopback v4", "", "127.0.0.1:40000", "", 200, "", ""},
		{"no token, loopback v6", "", "[::1]:40000", "", 200, "", ""},
		{"no token, remote", "", "203.0.113.9:40000", "", 404, "", ""},
		{"no token, private network", "", "10.0.0.7:40000", "", 404, "", ""},
		{"token, remote with it", token, "203.0.113.9:40000", "Bearer " + token, 200, "", ""},
		{"token, loopback without it", token, "127.0.0.1:40000", "", 401, "", ""},
		{"token, wrong one", token, "203.0.113.9:40000", "Bearer " + token + "x", 401, "", ""},
		{"token, wrong scheme", token, "203.0.113.9:40000", "Basic " + token, 401, "", ""},
		{"token, prefix of it", token, "203.0.113.9:40000", "Bearer " + token[:10], 401, "", ""},
		// A reverse proxy on this machine: listed in --trusted-proxies, its
		// X-Forwarded-For names the client.
		{"trusted local proxy, remote client", "", "127.0.0.1:40000", "", 404, "203.0.113.9", "127.0.0.1"},
		{"trusted local proxy, local client", "", "127.0.0.1:40000", "", 200, "127.0.0.1", "127.0.0.1"},
		{"header from an untrusted peer ignored", "", "203.0.113.9:40000", "", 404, "127.0.0.1", "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.DataDir, cfg.InternalListen, cfg.PublicURL, cfg.MetricsToken = t.TempDir(), "", "http://127.0.0.1:8080", tc.token
			if tc.trusted != "" {
				cfg.TrustedProxies, _ = httpx.ParsePrefixes(tc.trusted)
			}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			s, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Store.Close()
			defer s.RuntimeLogs.Close()
			r := httptest.NewRequest("GET", "http://127.0.0.1:8080/metrics", nil)
			r.RemoteAddr = tc.remote
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if tc.want == 200 && !strings.Contains(w.Body.String(), "wisehosting_hub_connections") {
				t.Fatalf("metrics body lacks the hub series:\n%.500s", w.Body)
			}
			if tc.want == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
}

// TestJanitorPrunesHistory checks the janitor's wiring: the configured
// retention reaches the store, and what it removed shows in /metrics.
func TestJanitorPrunesHistory(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir, cfg.InternalListen, cfg.PublicURL = t.TempDir(), "", "http://127.0.0.1:8080"
	cfg.AuditRetention = 30 * config.Day
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Store.Close()
	defer s.RuntimeLogs.Close()
	now := time.Now()
	for _, at := range []time.Time{now.Add(-31 * config.Day), now.Add(-40 * config.Day), now.Add(-29 * config.Day)} {
		if err := s.Store.InsertAudit(ctx, &store.AuditEntry{Action: "login", At: at}); err != nil {
			t.Fatal(err)
		}
	}
	s.pruneHistory(ctx, now)
	left, err := s.Store.ListAudit(ctx, 10)
	if err != nil || len(left) != 1 {
		t.Fatalf("audit entries left: %d (%v), want 1", len(left), err)
	}
	r := httptest.NewRequest("GET", "http://127.0.0.1:8080/metrics", nil)
	r.RemoteAddr = "127.0.0.1:40000"
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	if !strings.Contains(w.Body.String(), `wisehosting_history_pruned_total{kind="audit"} 2`) {
		t.Fatalf("metrics lack the pruned audit rows:\n%s", grepLines(w.Body.String(), "pruned"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
