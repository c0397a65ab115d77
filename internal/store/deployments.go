package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Deployment statuses. They only move forward, queued → building →
// starting → one of the three terminal ones, steps may be skipped, and a
// terminal status is final.
const (
	DeploymentQueued    = "queued"
	DeploymentBuilding  = "building"
	DeploymentStarting  = "starting"
	DeploymentRunning   = "running"
	DeploymentFailed    = "failed"
	DeploymentCancelled = "cancelled"
)

// Deployment triggers.
const (
	TriggerAPI      = "api"
	TriggerGit      = "git"
	TriggerRollback = "rollback"
	TriggerRestart  = "restart"
)

// deploymentRank orders statuses; every terminal status has the top rank.
// ok is false for an unknown status.
func deploymentRank(status string) (rank int, ok bool) {
	switch status {
	case DeploymentQueued:
		return 0, true
	case DeploymentBuilding:
		return 1, true
	case DeploymentStarting:
		return 2, true
	case DeploymentRunning, DeploymentFailed, DeploymentCancelled:
		return 3, true
	}
	return 0, false
}

// rankOf ranks a status read from the database; an unknown one (written
// by a newer build) ranks lowest so that it can always be moved on from.
func rankOf(status string) int {
	r, _ := deploymentRank(status)
	return r
}

// DeploymentFinished reports whether status is terminal (running, failed,
// cancelled): the deployment will not change any more.
func DeploymentFinished(status string) bool {
	r, ok := deploymentRank(status)
	return ok && r == 3
}

func validTrigger(t string) bool {
	switch t {
	case TriggerAPI, TriggerGit, TriggerRollback, TriggerRestart:
		return true
	}
	return false
}

// Deployment is one attempt to build and run a version of an app.
// WorkerID 0 means not assigned; LogLen is the build log's length in bytes.
type Deployment struct {
	ID         string
	AppID      string
	Status     string
	Trigger    string
	Branch     string
	CommitSHA  string
	Message    string
	ImageID    string
	WorkerID   int64
	CreatedBy  string
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	LogLen     int64
}

const deploymentCols = `id, app_id, status, trigger, branch, commit_sha, message, image_id, worker_id,
	created_by, created_at, started_at, finished_at, log_len`

func scanDeployment(sc scanner) (*Deployment, error) {
	var d Deployment
	err := sc.Scan(&d.ID, &d.AppID, &d.Status, &d.Trigger, &d.Branch, &d.CommitSHA, &d.Message, &d.ImageID,
		nullable[int64]{&d.WorkerID}, &d.CreatedBy, msTime{&d.CreatedAt}, msTime{&d.StartedAt},
		msTime{&d.FinishedAt}, &d.LogLen)
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// CreateDeploymentWithJob inserts a deployment and the job that carries it
// out, in one transaction. It fills d.ID, d.CreatedAt, d.Status (queued)
// and d.Trigger (api) when empty, and for j: ID, Type (deploy), AppID,
// AppName (read from the app), DeploymentID, State (pending), timestamps.
// The app's current deployment is not changed here: that happens when the
// deployment reaches running (UpdateDeploymentStatus). ErrNotFound if the
// app does not exist.
func (s *Store) CreateDeploymentWithJob(ctx context.Context, d *Deployment, j *Job) error {
	nd, nj := *d, *j
	if nd.ID == "" {
		nd.ID = newID(prefixDeployment)
	}
	if nd.CreatedAt.IsZero() {
		nd.CreatedAt = now()
	}
	if nd.Status == "" {
		nd.Status = DeploymentQueued
	}
	if nd.Trigger == "" {
		nd.Trigger = TriggerAPI
	}
	if _, ok := deploymentRank(nd.Status); !ok {
		return fmt.Errorf("store: create deployment: invalid status %q", nd.Status)
	}
	if !validTrigger(nd.Trigger) {
		return fmt.Errorf("store: create deployment: invalid trigger %q", nd.Trigger)
	}
	if nj.Type == "" {
		nj.Type = JobDeploy
	}
	nj.AppID, nj.DeploymentID = nd.AppID, nd.ID
	if err := prepareJob(&nj, nd.CreatedAt); err != nil {
		return fmt.Errorf("store: create deployment: %w", err)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if nj.AppName == "" {
			if err := tx.QueryRowContext(ctx, s.q(`SELECT name FROM apps WHERE id = ?`), nd.AppID).Scan(&nj.AppName); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO deployments (`+deploymentCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			nd.ID, nd.AppID, nd.Status, nd.Trigger, nd.Branch, nd.CommitSHA, nd.Message, nd.ImageID,
			nullInt(nd.WorkerID), nd.CreatedBy, ms(nd.CreatedAt), ms(nd.StartedAt), ms(nd.FinishedAt), nd.LogLen)
		if err != nil {
			return err
		}
		return insertJob(ctx, s, tx, &nj)
	})
	if err != nil {
		return wrapErr(err, "create deployment for app %s", nd.AppID)
	}
	*d, *j = nd, nj
	return nil
}

// GetDeployment returns the deployment or ErrNotFound.
func (s *Store) GetDeployment(ctx context.Context, id string) (*Deployment, error) {
	d, err := scanDeployment(s.queryRow(ctx, `SELECT `+deploymentCols+` FROM deployments WHERE id = ?`, id))
	if err != nil {
		return nil, wrapErr(err, "get deployment %s", id)
	}
	return d, nil
}

// ListDeployments returns the app's deployments, newest first.
func (s *Store) ListDeployments(ctx context.Context, appID string, limit int) ([]Deployment, error) {
	rows, err := s.query(ctx, `SELECT `+deploymentCols+` FROM deployments WHERE app_id = ?
		ORDER BY created_at DESC, id DESC LIMIT ?`, appID, limitOr(limit))
	ds, err := collect(rows, err, deref(scanDeployment))
	if err != nil {
		return nil, wrapErr(err, "list deployments of app %s", appID)
	}
	return ds, nil
}

// UpdateDeploymentStatus moves a deployment to status at `at` (now when
// zero) with message. Leaving queued sets StartedAt; a terminal status sets
// FinishedAt; reaching running also makes it the app's current deployment,
// in the same transaction.
//
// Statuses only move forward. Repeating the current status updates only
// the message, and is a complete no-op (nil) once terminal, so a
// redelivered report is harmless. Going backward, or changing a terminal
// status to another, returns ErrConflict.
func (s *Store) UpdateDeploymentStatus(ctx context.Context, id, status, message string, at time.Time) error {
	rank, ok := deploymentRank(status)
	if !ok {
		return fmt.Errorf("store: update deployment %s: invalid status %q", id, status)
	}
	if at.IsZero() {
		at = now()
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var appID, cur string
		var startedAt int64
		err := tx.QueryRowContext(ctx, s.q(`SELECT app_id, status, started_at FROM deployments WHERE id = ?`+s.forUpdate()), id).
			Scan(&appID, &cur, &startedAt)
		if err != nil {
			return err
		}
		switch {
		case cur == status && DeploymentFinished(cur):
			return nil
		case cur == status:
			_, err := tx.ExecContext(ctx, s.q(`UPDATE deployments SET message = ? WHERE id = ?`), message, id)
			return err
		case DeploymentFinished(cur):
			return fmt.Errorf("%w: deployment is already %s", ErrConflict, cur)
		case rank < rankOf(cur):
			return fmt.Errorf("%w: deployment cannot go back from %s to %s", ErrConflict, cur, status)
		}
		if status != DeploymentQueued && startedAt == 0 {
			startedAt = ms(at)
		}
		var finishedAt int64
		if DeploymentFinished(status) {
			finishedAt = ms(at)
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE deployments SET status = ?, message = ?, started_at = ?, finished_at = ? WHERE id = ?`),
			status, message, startedAt, finishedAt, id)
		if err != nil {
			return err
		}
		if status == DeploymentRunning {
			return s.setCurrentDeployment(ctx, tx, appID, id, at)
		}
		return nil
	})
	if err != nil {
		return wrapErr(err, "update deployment %s to %s", id, status)
	}
	if status == DeploymentRunning {
		s.routesChanged() // the app row changed
	}
	return nil
}

// SetDeploymentResult records what was built. An empty imageID or commit
// leaves that field unchanged.
func (s *Store) SetDeploymentResult(ctx context.Context, id, imageID, commit string) error {
	err := s.execOne(ctx, `UPDATE deployments SET image_id = COALESCE(NULLIF(?, ''), image_id),
		commit_sha = COALESCE(NULLIF(?, ''), commit_sha) WHERE id = ?`, imageID, commit, id)
	if err != nil {
		return wrapErr(err, "set deployment %s result", id)
	}
	return nil
}

// AppendBuildLog stores a chunk of a deployment's build log that starts at
// byte offset `offset`, idempotently, and returns the log's length after
// the call:
//   - a chunk that ends at or before the current length is a duplicate:
//     nothing is stored;
//   - a chunk that overlaps the end has only its new bytes stored;
//   - a chunk that starts after the end would leave a gap: nothing is
//     stored and the error wraps ErrConflict; newLen is then the current
//     length, from which the worker should resend.
//
// ErrNotFound if the deployment does not exist.
func (s *Store) AppendBuildLog(ctx context.Context, deploymentID string, offset int64, data string) (int64, error) {
	if offset < 0 {
		return 0, fmt.Errorf("store: append build log %s: negative offset %d", deploymentID, offset)
	}
	var logLen int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, s.q(`SELECT log_len FROM deployments WHERE id = ?`+s.forUpdate()), deploymentID).Scan(&logLen)
		if err != nil {
			return err
		}
		end := offset + int64(len(data))
		if end <= logLen {
			return nil
		}
		if offset > logLen {
			return fmt.Errorf("%w: gap in build log: chunk at %d, log has %d bytes", ErrConflict, offset, logLen)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO build_log_chunks (deployment_id, byte_offset, data) VALUES (?, ?, ?)`),
			deploymentID, logLen, []byte(data[logLen-offset:])); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE deployments SET log_len = ? WHERE id = ?`), end, deploymentID); err != nil {
			return err
		}
		logLen = end
		return nil
	})
	if err != nil {
		return logLen, wrapErr(err, "append build log %s", deploymentID)
	}
	return logLen, nil
}

// ReadBuildLog returns the build log from byte fromOffset to its current
// end, and the offset to read from next time. ErrNotFound if the
// deployment does not exist.
func (s *Store) ReadBuildLog(ctx context.Context, deploymentID string, fromOffset int64) (string, int64, error) {
	fromOffset = max(fromOffset, 0)
	// Chunks are contiguous, so those ending after fromOffset are exactly
	// the ones needed; length() is in bytes for both BLOB and BYTEA.
	rows, err := s.query(ctx, `SELECT byte_offset, data FROM build_log_chunks
		WHERE deployment_id = ? AND byte_offset + length(data) > ? ORDER BY byte_offset`, deploymentID, fromOffset)
	if err != nil {
		return "", fromOffset, wrapErr(err, "read build log %s", deploymentID)
	}
	defer rows.Close()
	var buf []byte
	next := fromOffset
	for rows.Next() {
		var off int64
		var data []byte
		if err := rows.Scan(&off, &data); err != nil {
			return "", fromOffset, wrapErr(err, "read build log %s", deploymentID)
		}
		next = off + int64(len(data))
		if off < fromOffset {
			data = data[fromOffset-off:]
		}
		buf = append(buf, data...)
	}
	if err := rows.Err(); err != nil {
		return "", fromOffset, wrapErr(err, "read build log %s", deploymentID)
	}
	if len(buf) == 0 {
		// No chunk: tell an empty log from a missing deployment.
		var one int
		if err := s.queryRow(ctx, `SELECT 1 FROM deployments WHERE id = ?`, deploymentID).Scan(&one); err != nil {
			return "", fromOffset, wrapErr(err, "read build log %s", deploymentID)
		}
	}
	return string(buf), next, nil
}
