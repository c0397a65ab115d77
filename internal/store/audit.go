package store

import (
	"context"
	"time"
)

// AuditEntry records one administrative action: who (Actor, a user id or
// "system"), what (Action, Target, Detail), from where, and how it ended
// (Result, e.g. "ok" or "denied").
type AuditEntry struct {
	ID         int64
	Actor      string
	Action     string
	Target     string
	Detail     string
	RemoteAddr string
	Result     string
	At         time.Time
}

// InsertAudit stores e and fills its ID (and At when zero).
func (s *Store) InsertAudit(ctx context.Context, e *AuditEntry) error {
	if e.At.IsZero() {
		e.At = now()
	}
	err := s.w.QueryRowContext(ctx, s.q(`INSERT INTO audit_log (actor, action, target, detail, remote_addr, result, at)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		e.Actor, e.Action, e.Target, e.Detail, e.RemoteAddr, e.Result, ms(e.At)).Scan(&e.ID)
	if err != nil {
		return wrapErr(err, "insert audit entry %s", e.Action)
	}
	return nil
}

// ListAudit returns the newest entries first.
func (s *Store) ListAudit(ctx context.Context, limit int) ([]AuditEntry, error) {
	rows, err := s.query(ctx, `SELECT id, actor, action, target, detail, remote_addr, result, at
		FROM audit_log ORDER BY at DESC, id DESC LIMIT ?`, limitOr(limit))
	es, err := collect(rows, err, func(sc scanner) (AuditEntry, error) {
		var e AuditEntry
		err := sc.Scan(&e.ID, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.RemoteAddr, &e.Result, msTime{&e.At})
		return e, err
	})
	if err != nil {
		return nil, wrapErr(err, "list audit log")
	}
	return es, nil
}
