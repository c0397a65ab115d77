package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The suite runs every test against SQLite and, when WH_TEST_DATABASE_URL
// is set, PostgreSQL:
//
//	WH_TEST_DATABASE_URL=$(scripts/postgres-test.sh) go test -race ./internal/store/
//
// Each PostgreSQL test gets its own schema, so tests stay isolated and run
// in parallel.

const pgEnv = "WH_TEST_DATABASE_URL"

// inCI reports whether we run in CI, where skipping PostgreSQL is an error.
func inCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v != "" && v != "0" && v != "false"
}

// sqliteDSN returns a fresh SQLite file path.
func sqliteDSN(t *testing.T) string {
	return filepath.Join(t.TempDir(), "wh.db")
}

// postgresDSN creates a fresh schema and returns a DSN whose search_path
// points at it; the schema is dropped when the test ends.
func postgresDSN(t *testing.T) string {
	base := os.Getenv(pgEnv)
	if base == "" {
		if inCI() {
			t.Fatalf("%s is not set, and CI must not skip the PostgreSQL tests: "+
				"set it, e.g. %s=$(scripts/postgres-test.sh)", pgEnv, pgEnv)
		}
		t.Skipf("PostgreSQL half skipped: set %s (e.g. %s=$(scripts/postgres-test.sh)) to run it", pgEnv, pgEnv)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("bad %s: %v", pgEnv, err)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close()
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// forEachDSN runs fn once per database with a DSN for a fresh, empty
// database (not yet migrated).
func forEachDSN(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Helper()
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, sqliteDSN(t))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		fn(t, postgresDSN(t))
	})
}

// forEachDB runs fn once per database with an open, migrated store.
func forEachDB(t *testing.T, fn func(t *testing.T, s *Store)) {
	t.Helper()
	forEachDSN(t, func(t *testing.T, dsn string) {
		fn(t, openTest(t, dsn))
	})
}

func openTest(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// wantErr fails unless err matches want (nil means no error).
func wantErr(t *testing.T, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("error = %v, want %v", err, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Fixtures.

func newUser(t *testing.T, s *Store, email string) (*User, *Team) {
	t.Helper()
	u := &User{Email: email, Name: email, PasswordHash: "hash"}
	team := &Team{Name: email, Slug: strings.NewReplacer("@", "-", ".", "-").Replace(email)}
	must(t, s.CreateUserWithTeam(context.Background(), u, team))
	return u, team
}

func newApp(t *testing.T, s *Store, teamID, name string) *App {
	t.Helper()
	a := &App{TeamID: teamID, Name: name, RepoURL: "https://example.com/" + name + ".git", Branch: "main", Port: 8080}
	must(t, s.CreateApp(context.Background(), a))
	return a
}

func newWorker(t *testing.T, s *Store, name string) *Worker {
	t.Helper()
	w := &Worker{Name: name, APIKeyHash: keyHash(name)}
	must(t, s.CreateWorker(context.Background(), w))
	return w
}

func keyHash(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// countRows counts the rows of table matching where (e.g. "app_id = ?").
func countRows(t *testing.T, s *Store, table, where string, args ...any) int {
	t.Helper()
	var n int
	must(t, s.queryRow(context.Background(), `SELECT COUNT(*) FROM `+table+` WHERE `+where, args...).Scan(&n))
	return n
}

// ms-precision clock for comparisons with what the store returns.
func tnow() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

func TestMigrationsIdempotent(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s1, err := Open(ctx, dsn, nil)
		must(t, err)
		must(t, s1.SetSetting(ctx, "k", "v1"))
		must(t, s1.Close())

		s2 := openTest(t, dsn) // second Open: nothing left to apply
		v, err := s2.GetSetting(ctx, "k")
		must(t, err)
		if v != "v1" {
			t.Fatalf("setting after reopen = %q", v)
		}
		migs, err := loadMigrations()
		must(t, err)
		var n int
		must(t, s2.queryRow(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n))
		if n != len(migs) {
			t.Fatalf("schema_migrations has %d rows, want %d", n, len(migs))
		}
		// Runtime logs are files (internal/logstore): 0004 dropped their table.
		if _, err := s2.exec(ctx, `SELECT COUNT(*) FROM runtime_log_chunks`); err == nil {
			t.Fatal("runtime_log_chunks still exists")
		}
		// A third store opened while the second is live must also work.
		s3 := openTest(t, dsn)
		must(t, s3.Ping(ctx))
		want := dialectSQLite
		if isPostgresDSN(dsn) {
			want = dialectPostgres
		}
		if s3.Dialect() != want {
			t.Fatalf("Dialect() = %q, want %q", s3.Dialect(), want)
		}
	})
}

func TestSQLiteFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "wh.db")
	s := openTest(t, "sqlite://"+path)
	fi, err := os.Stat(path)
	must(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("database file mode = %v, want 0600", fi.Mode().Perm())
	}
	for pragma, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "5000", "synchronous": "1",
		"cache_size": strconv.Itoa(-sqliteCacheKiB)} {
		for _, db := range []*sql.DB{s.w, s.r} {
			var got string
			must(t, db.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got))
			if got != want {
				t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
			}
		}
	}
	// The reader pool refuses writes.
	if _, err := s.r.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ('a', 'b')`); err == nil {
		t.Error("write through the reader pool succeeded")
	}
	for _, bad := range []string{":memory:", "", "sqlite://", "file:x.db"} {
		if _, err := Open(ctx, bad, nil); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
	// Odd characters in the path survive the URI encoding.
	odd := filepath.Join(t.TempDir(), "a b#c%d?e.db")
	s2 := openTest(t, odd)
	must(t, s2.SetSetting(ctx, "x", "y"))
	if _, err := os.Stat(odd); err != nil {
		t.Fatalf("database not at %q: %v", odd, err)
	}
}

func TestRebind(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`SELECT * FROM t WHERE a = ? AND b = ?`, `SELECT * FROM t WHERE a = $1 AND b = $2`},
		{`INSERT INTO t VALUES (?, '?', "?", ?)`, `INSERT INTO t VALUES ($1, '?', "?", $2)`},
		{`SELECT 'it''s ?', ?`, `SELECT 'it''s ?', $1`},
	}
	for _, tt := range tests {
		if got := rebind(dialectPostgres, tt.in); got != tt.want {
			t.Errorf("rebind(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := rebind(dialectSQLite, tt.in); got != tt.in {
			t.Errorf("sqlite rebind changed %q to %q", tt.in, got)
		}
	}
}

func TestSplitStatements(t *testing.T) {
	t.Parallel()
	got := splitStatements("-- c\nCREATE TABLE a (\n  x INT -- note\n);\n\n-- d\nCREATE INDEX i ON a (x);\n")
	if len(got) != 2 || !strings.HasPrefix(got[0], "CREATE TABLE a") || got[1] != "CREATE INDEX i ON a (x);" {
		t.Fatalf("splitStatements = %q", got)
	}
}

func TestIDsAndTimes(t *testing.T) {
	t.Parallel()
	id := newID(prefixApp)
	if !strings.HasPrefix(id, "app_") || len(id) != len("app_")+26 || strings.ToLower(id) != id {
		t.Fatalf("newID = %q", id)
	}
	if newID(prefixApp) == id {
		t.Fatal("newID repeated")
	}
	if !fromMS(0).IsZero() || ms(time.Time{}) != 0 || nullMS(time.Time{}) != nil {
		t.Fatal("zero time must map to 0/NULL and back")
	}
	at := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("x", 3600))
	if got := fromMS(ms(at)); !got.Equal(at.Truncate(time.Millisecond)) || got.Location() != time.UTC {
		t.Fatalf("round trip = %v", got)
	}
}

func TestSettings(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		_, err := s.GetSetting(ctx, "missing")
		wantErr(t, err, ErrNotFound)
		must(t, s.SetSetting(ctx, "instance_name", "a"))
		must(t, s.SetSetting(ctx, "instance_name", "b"))
		v, err := s.GetSetting(ctx, "instance_name")
		must(t, err)
		if v != "b" {
			t.Fatalf("setting = %q, want b", v)
		}
	})
}

func TestErrorWrapping(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		_, err := s.GetAppByName(ctx, "nope")
		wantErr(t, err, ErrNotFound)
		if !strings.Contains(err.Error(), "store: get app nope") {
			t.Fatalf("error %q does not name the operation", err)
		}
		_, team := newUser(t, s, "a@example.com")
		newApp(t, s, team.ID, "web")
		err = s.CreateApp(ctx, &App{TeamID: team.ID, Name: "web"})
		wantErr(t, err, ErrConflict)
		if !strings.Contains(err.Error(), "create app web") {
			t.Fatalf("error %q does not name the operation", err)
		}
		// A missing parent row is ErrNotFound, not a raw driver error.
		err = s.CreateApp(ctx, &App{TeamID: "team_missing", Name: "orphan"})
		wantErr(t, err, ErrNotFound)
	})
}
