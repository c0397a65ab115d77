package store

import (
	"context"
	"time"
)

// Violation records a policy a worker enforced against an app (kind such
// as models.ViolationOOM) and the action it took. WorkerID 0 = unknown.
type Violation struct {
	ID       int64
	AppID    string
	WorkerID int64
	Kind     string
	Message  string
	Action   string
	At       time.Time
}

const violationCols = `id, app_id, worker_id, kind, message, action, at`

// InsertViolation stores v and fills its ID (and At when zero).
// ErrNotFound if the app does not exist.
func (s *Store) InsertViolation(ctx context.Context, v *Violation) error {
	if v.At.IsZero() {
		v.At = now()
	}
	err := s.w.QueryRowContext(ctx, s.q(`INSERT INTO violations (app_id, worker_id, kind, message, action, at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`), v.AppID, v.WorkerID, v.Kind, v.Message, v.Action, ms(v.At)).Scan(&v.ID)
	if err != nil {
		return wrapErr(err, "insert violation for app %s", v.AppID)
	}
	return nil
}

// ListViolations returns the newest violations of one app, or of every
// app when appID is "".
func (s *Store) ListViolations(ctx context.Context, appID string, limit int) ([]Violation, error) {
	where, args := "", []any{}
	if appID != "" {
		where, args = "WHERE app_id = ? ", append(args, appID)
	}
	rows, err := s.query(ctx, `SELECT `+violationCols+` FROM violations `+where+`ORDER BY at DESC, id DESC LIMIT ?`,
		append(args, limitOr(limit))...)
	vs, err := collect(rows, err, func(sc scanner) (Violation, error) {
		var v Violation
		err := sc.Scan(&v.ID, &v.AppID, &v.WorkerID, &v.Kind, &v.Message, &v.Action, msTime{&v.At})
		return v, err
	})
	if err != nil {
		return nil, wrapErr(err, "list violations")
	}
	return vs, nil
}
