package store

// Every difference between SQLite and PostgreSQL lives in this file: how to
// open and tune each database, placeholders, DDL type names, row and table
// locks, and how each driver reports constraint violations. The rest of the
// package writes plain SQL with `?` placeholders that both accept.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

const (
	dialectSQLite   = "sqlite"
	dialectPostgres = "postgres"
)

// isPostgresDSN reports whether dsn names a PostgreSQL server rather than a
// SQLite file.
func isPostgresDSN(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// openPostgres opens one pool that serves as both reader and writer: the
// server handles concurrent writers itself.
func openPostgres(ctx context.Context, dsn string) (*sql.DB, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect postgres: %w", err)
	}
	return db, nil
}

// sqlitePath turns "sqlite://path" or a bare path into a file path.
func sqlitePath(dsn string) (string, error) {
	p := strings.TrimPrefix(dsn, "sqlite://")
	switch {
	case p == "":
		return "", errors.New("store: empty database path")
	case p == ":memory:" || strings.HasPrefix(p, "file:"):
		// A memory database is private to one connection, so the reader
		// pool would see an empty database; raw URIs would bypass our pragmas.
		return "", fmt.Errorf("store: unsupported sqlite dsn %q: give a file path", dsn)
	}
	return p, nil
}

// sqliteURI builds the modernc DSN. SQLite parses "file:" names as URIs, so
// the characters that would start a query or fragment are escaped.
func sqliteURI(path string, params ...string) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + esc + "?" + strings.Join(params, "&")
}

// sqliteCacheKiB is each SQLite connection's page cache (see openSQLite).
const sqliteCacheKiB = 8 << 10

// openSQLite opens the writer pool (one connection, so writers queue in Go
// instead of failing with SQLITE_BUSY, and BEGIN IMMEDIATE so a transaction
// that reads then writes can never deadlock on lock upgrade) and a reader
// pool that WAL lets run alongside the writer.
func openSQLite(ctx context.Context, path string) (writer, reader *sql.DB, err error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("store: create database dir: %w", err)
		}
	}
	// Create the file ourselves so it is private from the first byte; SQLite
	// gives the -wal and -shm files the same permissions as the database.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("store: create database file: %w", err)
	}
	f.Close()

	// cache_size: SQLite's default page cache (2 MB) is small next to the
	// pages the hot paths touch (apps, workers, the stats index when its
	// buffer is written). 8 MB per connection, in memory only when used:
	// the big random-access writes (runtime logs, stats sample by sample)
	// are gone, so a larger cache would only add to the control plane's
	// memory.
	common := []string{"_pragma=busy_timeout(5000)", "_pragma=foreign_keys(1)", "_pragma=synchronous(NORMAL)",
		"_pragma=cache_size(" + strconv.Itoa(-sqliteCacheKiB) + ")"}
	writer, err = sql.Open("sqlite", sqliteURI(path, append(common, "_pragma=journal_mode(WAL)", "_txlock=immediate")...))
	if err != nil {
		return nil, nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	// Connect the writer first: it switches the file to WAL (a persistent
	// setting), which readers then simply inherit.
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}

	// query_only makes an accidental write through the reader fail loudly
	// instead of racing the writer for the lock.
	reader, err = sql.Open("sqlite", sqliteURI(path, append(common, "_pragma=query_only(1)")...))
	if err != nil {
		writer.Close()
		return nil, nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	n := min(max(runtime.NumCPU(), 2), 8)
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	reader.SetConnMaxIdleTime(0)
	if err := reader.PingContext(ctx); err != nil {
		writer.Close()
		reader.Close()
		return nil, nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	return writer, reader, nil
}

// rebind rewrites `?` placeholders as $1, $2, … for PostgreSQL. Question
// marks inside quoted strings or identifiers are left alone.
func rebind(dialect, query string) string {
	if dialect != dialectPostgres || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	var quote byte
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// expandDDL substitutes the migration placeholders for the dialect.
func expandDDL(dialect, ddl string) string {
	autoID, blob, jsonArray := "INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB", "json_array"
	if dialect == dialectPostgres {
		autoID, blob, jsonArray = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "BYTEA", "json_build_array"
	}
	return strings.NewReplacer("{{AUTOID}}", autoID, "{{BLOB}}", blob, "{{JSON_ARRAY}}", jsonArray).Replace(ddl)
}

// forUpdate is appended to a SELECT inside a transaction that will write
// what it read. PostgreSQL needs the row lock; SQLite transactions here are
// BEGIN IMMEDIATE on a single writer connection, so they are serialised
// already and SQLite has no such clause.
func (s *Store) forUpdate() string {
	if s.dialect == dialectPostgres {
		return " FOR UPDATE"
	}
	return ""
}

// lockTable takes a table lock that conflicts with itself and with inserts,
// for decisions that depend on rows that may not exist yet (the first user,
// the next migration). No-op on SQLite for the reason given at forUpdate.
func (s *Store) lockTable(ctx context.Context, tx *sql.Tx, table string) error {
	if s.dialect != dialectPostgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, "LOCK TABLE "+table+" IN SHARE ROW EXCLUSIVE MODE")
	return err
}

// isUniqueViolation reports a UNIQUE or PRIMARY KEY violation from either driver.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return true
		}
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// isForeignKeyViolation reports a missing parent row from either driver.
func isForeignKeyViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23503"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	return err != nil && strings.Contains(err.Error(), "FOREIGN KEY constraint failed")
}
