package webhook_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/wisehosting/wisehosting/internal/servertest"
)

// personalTeam returns the id of the caller's personal team.
func personalTeam(t *testing.T, srv *servertest.Server, token string) string {
	t.Helper()
	r := srv.Do("GET", "/v1/me", token, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("me: %d %s", r.Status, r.Body)
	}
	var me struct {
		Teams []struct {
			ID       string `json:"id"`
			Personal bool   `json:"personal"`
		} `json:"teams"`
	}
	r.JSON(t, &me)
	for _, tm := range me.Teams {
		if tm.Personal {
			return tm.ID
		}
	}
	t.Fatal("no personal team")
	return ""
}

// teamEnv is a shared team "acme" with one user per role, and an outsider.
type teamEnv struct {
	srv                                    *servertest.Server
	teamID                                 string
	owner, admin, member, viewer, outsider string
}

func newTeamEnv(t *testing.T, db servertest.DB) *teamEnv {
	t.Helper()
	srv := servertest.New(t, db)
	e := &teamEnv{srv: srv, owner: srv.Signup("owner@example.com")}
	r := srv.Do("POST", "/v1/teams", e.owner, map[string]string{"name": "Acme", "slug": "acme"})
	if r.Status != http.StatusCreated {
		t.Fatalf("create team: %d %s", r.Status, r.Body)
	}
	var tm struct {
		ID string `json:"id"`
	}
	r.JSON(t, &tm)
	e.teamID = tm.ID
	for _, m := range []struct {
		tok  *string
		role string
	}{{&e.admin, "admin"}, {&e.member, "member"}, {&e.viewer, "viewer"}} {
		email := m.role + "@example.com"
		*m.tok = srv.Signup(email)
		r := srv.Do("POST", "/v1/teams/acme/members", e.owner, map[string]string{"email": email, "role": m.role})
		if r.Status != http.StatusCreated {
			t.Fatalf("add %s: %d %s", m.role, r.Status, r.Body)
		}
	}
	e.outsider = srv.Signup("outsider@example.com")
	return e
}

type hookJSON struct {
	ID        string    `json:"id"`
	TeamID    string    `json:"team_id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Active    bool      `json:"active"`
	Secret    string    `json:"secret"`
	CreatedAt time.Time `json:"created_at"`
}

type deliveryJSON struct {
	ID            string    `json:"id"`
	WebhookID     string    `json:"webhook_id"`
	Event         string    `json:"event"`
	State         string    `json:"state"`
	Attempts      int       `json:"attempts"`
	StatusCode    int       `json:"status_code"`
	Error         string    `json:"error"`
	CreatedAt     time.Time `json:"created_at"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	DeliveredAt   time.Time `json:"delivered_at"`
}

// createHook creates a webhook and fails the test unless it worked.
func createHook(t *testing.T, srv *servertest.Server, token, team string, body map[string]any) hookJSON {
	t.Helper()
	r := srv.Do("POST", "/v1/teams/"+team+"/webhooks", token, body)
	if r.Status != http.StatusCreated {
		t.Fatalf("create webhook: %d %s", r.Status, r.Body)
	}
	var h hookJSON
	r.JSON(t, &h)
	return h
}

func deliveries(t *testing.T, srv *servertest.Server, token, team, hookID string) []deliveryJSON {
	t.Helper()
	r := srv.Do("GET", "/v1/teams/"+team+"/webhooks/"+hookID+"/deliveries", token, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("deliveries: %d %s", r.Status, r.Body)
	}
	var ds []deliveryJSON
	r.JSON(t, &ds)
	return ds
}

// received is one request a receiver got.
type received struct {
	At     time.Time
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// receiver is a local webhook endpoint answering with status(n) to its
// n-th request (1-based).
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []received
	got  chan received
}

func newReceiver(t *testing.T, status func(n int) (int, string)) *receiver {
	rc := &receiver{got: make(chan received, 100)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := received{At: time.Now(), Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, req)
		n := len(rc.reqs)
		rc.mu.Unlock()
		code, text := status(n)
		w.WriteHeader(code)
		_, _ = io.WriteString(w, text)
		rc.got <- req
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

func (rc *receiver) next(t *testing.T, within time.Duration) received {
	t.Helper()
	select {
	case r := <-rc.got:
		return r
	case <-time.After(within):
		t.Fatalf("receiver got nothing within %v", within)
		return received{}
	}
}
