package store

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// Worker is a machine that builds and runs apps. Its ID is an integer
// because the wire protocol sends it as a number. APIKeyHash is the
// lowercase hex SHA-256 of the raw key.
type Worker struct {
	ID         int64
	Name       string
	APIKeyHash string
	CreatedBy  string // user id
	CreatedAt  time.Time
	RevokedAt  time.Time // zero while the worker may connect
	Draining   bool
	// Registration fields, as last reported (see WorkerRegistration).
	Hostname     string
	Version      string
	OS           string
	Arch         string
	CPUs         int
	MemoryBytes  int64
	DiskBytes    int64
	DiskQuota    bool
	PortLo       int
	PortHi       int
	Address      string
	RegisteredAt time.Time
	LastSeenAt   time.Time
	// ResourcesJSON and AppsJSON are the last heartbeat's resources and
	// apps, kept verbatim.
	ResourcesJSON string
	AppsJSON      string
}

// Registration returns the worker's registration fields.
func (w *Worker) Registration() WorkerRegistration {
	return WorkerRegistration{Hostname: w.Hostname, Version: w.Version, OS: w.OS, Arch: w.Arch, CPUs: w.CPUs,
		MemoryBytes: w.MemoryBytes, DiskBytes: w.DiskBytes, DiskQuota: w.DiskQuota, PortLo: w.PortLo, PortHi: w.PortHi,
		Address: w.Address, RegisteredAt: w.RegisteredAt}
}

// WorkerRegistration is what a worker reports about itself on register.
type WorkerRegistration struct {
	Hostname     string
	Version      string
	OS           string
	Arch         string
	CPUs         int
	MemoryBytes  int64
	DiskBytes    int64
	DiskQuota    bool
	PortLo       int
	PortHi       int
	Address      string
	RegisteredAt time.Time
}

const workerCols = `id, name, api_key_hash, created_by, created_at, revoked_at, draining,
	hostname, version, os, arch, cpus, memory_bytes, disk_bytes, disk_quota, port_lo, port_hi,
	address, registered_at, last_seen_at, resources_json, apps_json`

func scanWorker(sc scanner) (*Worker, error) {
	var w Worker
	err := sc.Scan(&w.ID, &w.Name, &w.APIKeyHash, &w.CreatedBy, msTime{&w.CreatedAt}, msTime{&w.RevokedAt}, &w.Draining,
		&w.Hostname, &w.Version, &w.OS, &w.Arch, &w.CPUs, &w.MemoryBytes, &w.DiskBytes, &w.DiskQuota, &w.PortLo, &w.PortHi,
		&w.Address, msTime{&w.RegisteredAt}, msTime{&w.LastSeenAt}, &w.ResourcesJSON, &w.AppsJSON)
	if err != nil {
		return nil, err
	}
	return &w, nil
}

// CreateWorker inserts w and fills ID (and CreatedAt when zero; the key
// hash is lowercased). Name, APIKeyHash, CreatedBy, Draining and the two
// JSON fields are taken from w; registration fields arrive later through
// UpdateWorkerRegistration. ErrConflict if the name or key hash is taken.
func (s *Store) CreateWorker(ctx context.Context, w *Worker) error {
	if w.CreatedAt.IsZero() {
		w.CreatedAt = now()
	}
	w.APIKeyHash = strings.ToLower(w.APIKeyHash)
	if w.ResourcesJSON == "" {
		w.ResourcesJSON = "{}"
	}
	if w.AppsJSON == "" {
		w.AppsJSON = "[]"
	}
	err := s.w.QueryRowContext(ctx, s.q(`INSERT INTO workers (name, api_key_hash, created_by, created_at, draining, resources_json, apps_json)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		w.Name, w.APIKeyHash, w.CreatedBy, ms(w.CreatedAt), w.Draining, w.ResourcesJSON, w.AppsJSON).Scan(&w.ID)
	if err != nil {
		return wrapErr(err, "create worker %s", w.Name)
	}
	return nil
}

// GetWorker returns the worker, revoked or not; ErrNotFound if absent.
func (s *Store) GetWorker(ctx context.Context, id int64) (*Worker, error) {
	w, err := scanWorker(s.queryRow(ctx, `SELECT `+workerCols+` FROM workers WHERE id = ?`, id))
	if err != nil {
		return nil, wrapErr(err, "get worker %d", id)
	}
	return w, nil
}

// GetWorkerByKeyHash authenticates a worker: ErrNotFound if no worker has
// that key hash or the worker is revoked.
func (s *Store) GetWorkerByKeyHash(ctx context.Context, hash string) (*Worker, error) {
	w, err := scanWorker(s.queryRow(ctx, `SELECT `+workerCols+` FROM workers WHERE api_key_hash = ? AND revoked_at IS NULL`,
		strings.ToLower(hash)))
	if err != nil {
		return nil, wrapErr(err, "get worker by key")
	}
	return w, nil
}

// ListWorkers returns every worker, revoked ones included, by id.
func (s *Store) ListWorkers(ctx context.Context) ([]Worker, error) {
	rows, err := s.query(ctx, `SELECT `+workerCols+` FROM workers ORDER BY id`)
	ws, err := collect(rows, err, deref(scanWorker))
	if err != nil {
		return nil, wrapErr(err, "list workers")
	}
	return ws, nil
}

// ListWorkersPage returns up to limit workers with id > afterID, by id.
func (s *Store) ListWorkersPage(ctx context.Context, afterID int64, limit int) ([]Worker, error) {
	rows, err := s.query(ctx, `SELECT `+workerCols+` FROM workers WHERE id > ? ORDER BY id LIMIT ?`, afterID, limitOr(limit))
	ws, err := collect(rows, err, deref(scanWorker))
	if err != nil {
		return nil, wrapErr(err, "list workers after %d", afterID)
	}
	return ws, nil
}

// UpdateWorkerRegistration stores what the worker reported on register and
// counts it as seen at reg.RegisteredAt (now when zero).
func (s *Store) UpdateWorkerRegistration(ctx context.Context, id int64, reg WorkerRegistration) error {
	if reg.RegisteredAt.IsZero() {
		reg.RegisteredAt = now()
	}
	err := s.execOne(ctx, `UPDATE workers SET hostname = ?, version = ?, os = ?, arch = ?, cpus = ?,
		memory_bytes = ?, disk_bytes = ?, disk_quota = ?, port_lo = ?, port_hi = ?, address = ?,
		registered_at = ?, last_seen_at = ? WHERE id = ?`,
		reg.Hostname, reg.Version, reg.OS, reg.Arch, reg.CPUs, reg.MemoryBytes, reg.DiskBytes, reg.DiskQuota,
		reg.PortLo, reg.PortHi, reg.Address, ms(reg.RegisteredAt), ms(reg.RegisteredAt), id)
	if err != nil {
		return wrapErr(err, "update worker %d registration", id)
	}
	s.routesChanged()
	return nil
}

// WorkerHeartbeat is one heartbeat to record (see UpdateWorkerHeartbeats).
type WorkerHeartbeat struct {
	WorkerID      int64
	At            time.Time
	ResourcesJSON string
	AppsJSON      string
}

// UpdateWorkerHeartbeats records a batch of heartbeats in one transaction
// with one prepared statement; heartbeats of workers that no longer exist
// are ignored.
func (s *Store) UpdateWorkerHeartbeats(ctx context.Context, hbs []WorkerHeartbeat) error {
	if len(hbs) == 0 {
		return nil
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, s.q(`UPDATE workers SET last_seen_at = ?, resources_json = ?, apps_json = ? WHERE id = ?`))
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, h := range hbs {
			if _, err := stmt.ExecContext(ctx, ms(h.At), h.ResourcesJSON, h.AppsJSON, h.WorkerID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return wrapErr(err, "update %d worker heartbeats", len(hbs))
	}
	return nil
}

// TouchWorker records that the worker was seen at `at`.
func (s *Store) TouchWorker(ctx context.Context, id int64, at time.Time) error {
	if err := s.execOne(ctx, `UPDATE workers SET last_seen_at = ? WHERE id = ?`, ms(at), id); err != nil {
		return wrapErr(err, "touch worker %d", id)
	}
	return nil
}

// RevokeWorker stops the worker's key from authenticating. Revoking twice
// keeps the first time. ErrNotFound if absent.
func (s *Store) RevokeWorker(ctx context.Context, id int64, at time.Time) error {
	if at.IsZero() {
		at = now()
	}
	if err := s.execOne(ctx, `UPDATE workers SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, ms(at), id); err != nil {
		return wrapErr(err, "revoke worker %d", id)
	}
	s.routesChanged()
	return nil
}

// SetWorkerDraining marks whether the worker should receive new apps.
func (s *Store) SetWorkerDraining(ctx context.Context, id int64, draining bool) error {
	if err := s.execOne(ctx, `UPDATE workers SET draining = ? WHERE id = ?`, draining, id); err != nil {
		return wrapErr(err, "set worker %d draining", id)
	}
	return nil
}
