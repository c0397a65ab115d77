// Package store is the control plane's database layer: raw SQL over SQLite
// (default, one file in the data dir) or PostgreSQL (a postgres:// URL), with
// embedded forward-only migrations.
//
// Conventions, the same for both databases:
//   - Queries are written once with `?` placeholders (see dialect.go).
//   - Times are BIGINT Unix milliseconds; 0 or NULL reads back as the zero
//     time.Time, every other value as UTC. Go times are truncated to the
//     millisecond on the way in.
//   - Booleans are BOOLEAN columns; both drivers map them to Go bool.
//   - Entity ids are TEXT, "<prefix>_" + 26 base32 characters (16 random
//     bytes). Workers, log lines, stats, violations and audit entries use
//     auto-increment integers instead.
//   - Errors say which operation failed and wrap ErrNotFound (no such row,
//     or a parent row a foreign key needs is missing) or ErrConflict (a
//     unique value is taken, or a state change is not allowed).
//   - Secrets arrive and leave as opaque encrypted bytes; the store never
//     sees plaintext.
//   - List methods with a limit treat limit <= 0 as DefaultLimit.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNotFound is wrapped by every error caused by a missing row.
var ErrNotFound = errors.New("store: not found")

// ErrConflict is wrapped by every error caused by a unique value already in
// use or a state change the current state does not allow.
var ErrConflict = errors.New("store: conflict")

// ErrLastOwner is returned when a change would leave a team without an
// owner. It wraps ErrConflict.
var ErrLastOwner = fmt.Errorf("%w: a team must keep at least one owner", ErrConflict)

// DefaultLimit is used by list methods when the caller passes limit <= 0.
const DefaultLimit = 100

// Store is safe for concurrent use.
type Store struct {
	dialect string
	// w takes every write and transaction; r serves plain reads. On SQLite
	// w has a single connection and r several (WAL lets them run side by
	// side); on PostgreSQL they are the same pool.
	w, r *sql.DB
	log  *slog.Logger
	// rebound caches rebind results so hot queries are rewritten once.
	rebound sync.Map
	// routesGen counts every write to apps (and to their domains and
	// workers' addresses): the router's table and the ingest writer's
	// placement cache reload when it moves. In-process only: one control
	// plane per database, as everywhere else.
	routesGen atomic.Uint64
	// stats buffers app stats samples (stats.go).
	stats statsBuffer
}

// RoutesGeneration changes whenever an app, a custom domain or a worker's
// address may have changed: a cache of routes built at generation g is
// current while RoutesGeneration() == g.
func (s *Store) RoutesGeneration() uint64 { return s.routesGen.Load() }

func (s *Store) routesChanged() { s.routesGen.Add(1) }

// Open connects to dsn and brings the schema up to date. dsn is a
// postgres:// or postgresql:// URL, or a SQLite file path (optionally
// written sqlite://path); a new SQLite file is created with mode 0600.
func Open(ctx context.Context, dsn string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{log: logger}
	if isPostgresDSN(dsn) {
		db, err := openPostgres(ctx, dsn)
		if err != nil {
			return nil, err
		}
		s.dialect, s.w, s.r = dialectPostgres, db, db
	} else {
		path, err := sqlitePath(dsn)
		if err != nil {
			return nil, err
		}
		w, r, err := openSQLite(ctx, path)
		if err != nil {
			return nil, err
		}
		s.dialect, s.w, s.r = dialectSQLite, w, r
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the connection pools.
func (s *Store) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.FlushAppStats(ctx)
	err = errors.Join(err, s.w.Close())
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	return err
}

// Ping checks that the database answers on both pools (for /readyz).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	if s.r != s.w {
		if err := s.r.PingContext(ctx); err != nil {
			return fmt.Errorf("store: ping reader: %w", err)
		}
	}
	return nil
}

// Dialect returns "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// q returns query with placeholders for this store's dialect.
func (s *Store) q(query string) string {
	if s.dialect != dialectPostgres {
		return query
	}
	if v, ok := s.rebound.Load(query); ok {
		return v.(string)
	}
	r := rebind(s.dialect, query)
	s.rebound.Store(query, r)
	return r
}

// qDynamic is q for queries built at run time (IN lists, multi-row
// VALUES): they are rewritten every time rather than filling the cache with
// one entry per length.
func (s *Store) qDynamic(query string) string { return rebind(s.dialect, query) }

// tx runs fn in a transaction on the writer pool, committing when fn
// returns nil. fn must use only tx: on SQLite the writer has one
// connection, which tx holds.
func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// exec runs a single write statement on the writer pool.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return s.w.ExecContext(ctx, s.q(query), args...)
}

// execOne runs a write that must touch exactly one row; zero rows is
// ErrNotFound.
func (s *Store) execOne(ctx context.Context, query string, args ...any) error {
	res, err := s.exec(ctx, query, args...)
	if err != nil {
		return err
	}
	return oneRow(res)
}

func oneRow(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// queryRow and query read through the reader pool.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return s.r.QueryRowContext(ctx, s.q(query), args...)
}

func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return s.r.QueryContext(ctx, s.q(query), args...)
}

// execer is a *sql.DB or a *sql.Tx, for helpers used both alone and inside
// a transaction. Queries passed to it must go through s.q first.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// collect scans every row with scan, closing rows. It never returns a nil
// slice, so an empty result encodes as [] rather than null.
func collect[T any](rows *sql.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// deref adapts a scan function returning *T for collect, so list methods
// return []T while Get methods share the same scan code.
func deref[T any](scan func(scanner) (*T, error)) func(scanner) (T, error) {
	return func(sc scanner) (T, error) {
		p, err := scan(sc)
		if err != nil {
			var zero T
			return zero, err
		}
		return *p, nil
	}
}

// wrapErr names the failed operation and maps driver errors onto the
// package sentinels, keeping the original error in the chain.
func wrapErr(err error, format string, args ...any) error {
	op := fmt.Sprintf(format, args...)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("store: %s: %w", op, ErrNotFound)
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict):
		return fmt.Errorf("store: %s: %w", op, err)
	case isUniqueViolation(err):
		return fmt.Errorf("store: %s: %w: %w", op, ErrConflict, err)
	case isForeignKeyViolation(err):
		return fmt.Errorf("store: %s: %w: %w", op, ErrNotFound, err)
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newID returns prefix + "_" + 16 random bytes in lowercase base32.
func newID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return prefix + "_" + strings.ToLower(idEncoding.EncodeToString(b[:]))
}

// ID prefixes.
const (
	prefixUser       = "usr"
	prefixTeam       = "team"
	prefixApp        = "app"
	prefixDeployment = "dep"
	prefixJob        = "job"
	prefixToken      = "tok"
	prefixWebhook    = "hook"
	prefixDelivery   = "dlv"
)

// now is the current time at the precision the database keeps.
func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// ms converts t to Unix milliseconds; the zero time is 0.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// nullMS is ms for nullable columns: the zero time is NULL.
func nullMS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// fromMS converts Unix milliseconds to a UTC time; 0 is the zero time.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// msTime scans a BIGINT millisecond column (possibly NULL) into a time.
type msTime struct{ t *time.Time }

func (m msTime) Scan(src any) error {
	var v sql.NullInt64
	if err := v.Scan(src); err != nil {
		return err
	}
	*m.t = fromMS(v.Int64)
	return nil
}

// nullable scans a possibly NULL column into *p, NULL becoming T's zero.
type nullable[T any] struct{ p *T }

func (n nullable[T]) Scan(src any) error {
	var v sql.Null[T]
	if err := v.Scan(src); err != nil {
		return err
	}
	*n.p = v.V
	return nil
}

// nullInt and nullStr store 0 and "" as NULL (for nullable references).
func nullInt(v int64) any {
	if v == 0 {
		return nil
	}
	return v
}

// nullBytes stores an empty secret as NULL, so "no value" reads back as
// nil on both databases.
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func nullStr(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// limitOr returns DefaultLimit for limit <= 0.
func limitOr(limit int) int {
	if limit <= 0 {
		return DefaultLimit
	}
	return limit
}

// placeholders returns "?, ?, …" with n marks.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}
