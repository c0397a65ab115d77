// Package servertest starts real control planes for tests: a real HTTP
// listener on loopback, a real database (SQLite in a temp dir, or a fresh
// PostgreSQL schema), and helpers to call the API.
package servertest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver for schema setup

	"github.com/wisehosting/wisehosting/internal/config"
	"github.com/wisehosting/wisehosting/internal/server"
)

// DB names a database a test runs against.
type DB struct {
	Name string
	URL  string // "" = SQLite in the data dir
}

// DBs returns SQLite, and PostgreSQL when WH_TEST_DATABASE_URL is set. In
// CI (CI=true) a missing PostgreSQL fails the test instead of skipping it.
func DBs(t testing.TB) []DB {
	dbs := []DB{{Name: "sqlite"}}
	if os.Getenv("WH_TEST_DATABASE_URL") != "" {
		dbs = append(dbs, DB{Name: "postgres", URL: "pg"})
	} else if os.Getenv("CI") != "" {
		t.Fatal("WH_TEST_DATABASE_URL is not set: CI must run the PostgreSQL half (scripts/postgres-test.sh starts it)")
	} else {
		t.Log("PostgreSQL half skipped: set WH_TEST_DATABASE_URL (scripts/postgres-test.sh prints one)")
	}
	return dbs
}

// ForEachDB runs f as a subtest per database.
func ForEachDB(t *testing.T, f func(t *testing.T, db DB)) {
	for _, db := range DBs(t) {
		t.Run(db.Name, func(t *testing.T) { f(t, db) })
	}
}

// DatabaseURL is what a server for db should be given: "" for SQLite in
// its data dir, or a URL of a fresh PostgreSQL schema.
func DatabaseURL(t testing.TB, db DB) string {
	if db.URL == "pg" {
		return freshSchemaURL(t)
	}
	return ""
}

// freshSchemaURL creates an empty PostgreSQL schema for one test and
// returns a URL whose search_path points at it.
func freshSchemaURL(t testing.TB) string {
	base := os.Getenv("WH_TEST_DATABASE_URL")
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err == nil {
			db.Exec("DROP SCHEMA " + schema + " CASCADE")
			db.Close()
		}
	})
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Client calls a control plane's API from a test.
type Client struct {
	T   testing.TB
	URL string // http://host:port
}

// Server is a running control plane.
type Server struct {
	*Client
	DataDir string
	DBURL   string
	S       *server.Server
	// InternalURL is the loopback internal API (wisehosting-admin's),
	// http://127.0.0.1:<port>, on a port of its own.
	InternalURL string
	t           testing.TB
	stop        context.CancelFunc
	done        chan error
}

// Options adjust a test server.
type Options struct {
	DataDir string // reuse a data dir (restart tests)
	DBURL   string // reuse a database
	// AckTimeout shortens the dispatcher's wait for a job_ack.
	AckTimeout time.Duration
}

// New starts a control plane on a free loopback port; it stops at cleanup.
func New(t testing.TB, db DB, opts ...Options) *Server {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	if o.DBURL == "" && db.URL == "pg" {
		o.DBURL = freshSchemaURL(t)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	cfg := config.Default()
	cfg.Listen, cfg.DataDir, cfg.DatabaseURL, cfg.PublicURL = addr, o.DataDir, o.DBURL, "http://"+addr
	cfg.ShutdownTimeout = 5 * time.Second
	// Never the default 8081: tests run in parallel, and a developer's
	// own control plane may hold it.
	cfg.InternalListen = "127.0.0.1:0"
	level := slog.LevelWarn
	if os.Getenv("WH_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatalf("server.New: %v", err)
	}
	if o.AckTimeout > 0 {
		s.Dispatch.AckTimeout = o.AckTimeout
	}
	ts := &Server{Client: &Client{T: t, URL: "http://" + addr}, DataDir: o.DataDir, DBURL: o.DBURL, S: s, t: t, stop: cancel, done: make(chan error, 1),
		InternalURL: "http://" + s.Admin.Addr()}
	go func() { ts.done <- s.Serve(ctx, ln) }()
	t.Cleanup(ts.Stop)
	return ts
}

// Stop shuts the server down and waits (idempotent).
func (s *Server) Stop() {
	if s.stop == nil {
		return
	}
	s.stop()
	s.stop = nil
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("server stopped with %v", err)
		}
	case <-time.After(15 * time.Second):
		s.t.Error("server did not stop within 15 s")
	}
}

// Response is an API answer.
type Response struct {
	Status int
	Body   []byte
	Header http.Header
}

// JSON decodes the body into v.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Do calls the API with a bearer token ("" for none) and a JSON body.
func (s *Client) Do(method, path, token string, body any) Response {
	s.T.Helper()
	hdr := http.Header{}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	return s.Request(s.T, method, path, hdr, body)
}

// Signup creates a user and returns its bearer token.
func (s *Client) Signup(email string) string {
	s.T.Helper()
	r := s.Do("POST", "/v1/auth/signup", "", map[string]string{"email": email, "password": "password-123"})
	if r.Status != http.StatusCreated {
		s.T.Fatalf("signup %s: %d %s", email, r.Status, r.Body)
	}
	var out struct {
		Token string `json:"token"`
	}
	r.JSON(s.T, &out)
	return out.Token
}

// CreateWorker creates a worker as the given (instance admin) user and
// returns its id and raw API key.
func (s *Client) CreateWorker(token, name string) (int64, string) {
	s.T.Helper()
	r := s.Do("POST", "/v1/workers", token, map[string]string{"name": name})
	if r.Status != http.StatusCreated {
		s.T.Fatalf("create worker: %d %s", r.Status, r.Body)
	}
	var out struct {
		ID     int64  `json:"id"`
		APIKey string `json:"api_key"`
	}
	r.JSON(s.T, &out)
	return out.ID, out.APIKey
}

// Eventually polls cond until it holds or the time runs out.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s", within, what)
}
