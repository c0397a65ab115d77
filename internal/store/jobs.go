package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Job types (the same strings as models.Job*).
const (
	JobDeploy  = "deploy"
	JobRestart = "restart"
	JobStop    = "stop"
	JobDelete  = "delete"
)

// Job states: pending (waiting for a worker or to be resent) → sent →
// acked → done | failed. A worker refusing the job, or the control plane
// giving up on an ack, puts it back to pending.
const (
	JobPending = "pending"
	JobSent    = "sent"
	JobAcked   = "acked"
	JobDone    = "done"
	JobFailed  = "failed"
)

// JobStates lists every state, in lifecycle order.
func JobStates() []string { return []string{JobPending, JobSent, JobAcked, JobDone, JobFailed} }

func validJobType(t string) bool {
	switch t {
	case JobDeploy, JobRestart, JobStop, JobDelete:
		return true
	}
	return false
}

// Job is a unit of work for a worker. AppID is not a foreign key, so a
// delete job outlives its app; AppName is kept for that reason.
// DeploymentID "" and WorkerID 0 mean none.
type Job struct {
	ID           string
	Type         string
	AppID        string
	AppName      string
	DeploymentID string
	WorkerID     int64
	State        string
	Attempts     int
	LastError    string
	ResultJSON   string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	SentAt       time.Time
	AckedAt      time.Time
	FinishedAt   time.Time
}

const jobCols = `id, type, app_id, app_name, deployment_id, worker_id, state, attempts, last_error, result_json,
	created_at, updated_at, sent_at, acked_at, finished_at`

func scanJob(sc scanner) (*Job, error) {
	var j Job
	err := sc.Scan(&j.ID, &j.Type, &j.AppID, &j.AppName, nullable[string]{&j.DeploymentID}, nullable[int64]{&j.WorkerID},
		&j.State, &j.Attempts, &j.LastError, &j.ResultJSON, msTime{&j.CreatedAt}, msTime{&j.UpdatedAt},
		msTime{&j.SentAt}, msTime{&j.AckedAt}, msTime{&j.FinishedAt})
	if err != nil {
		return nil, err
	}
	return &j, nil
}

func prepareJob(j *Job, at time.Time) error {
	if !validJobType(j.Type) {
		return fmt.Errorf("invalid job type %q", j.Type)
	}
	if j.ID == "" {
		j.ID = newID(prefixJob)
	}
	if j.State == "" {
		j.State = JobPending
	}
	if j.CreatedAt.IsZero() {
		j.CreatedAt = at
	}
	if j.UpdatedAt.IsZero() {
		j.UpdatedAt = j.CreatedAt
	}
	return nil
}

func insertJob(ctx context.Context, s *Store, e execer, j *Job) error {
	_, err := e.ExecContext(ctx, s.q(`INSERT INTO jobs (`+jobCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		j.ID, j.Type, j.AppID, j.AppName, nullStr(j.DeploymentID), nullInt(j.WorkerID), j.State, j.Attempts,
		j.LastError, j.ResultJSON, ms(j.CreatedAt), ms(j.UpdatedAt), ms(j.SentAt), ms(j.AckedAt), ms(j.FinishedAt))
	return err
}

// CreateJob inserts j, filling ID, State (pending) and timestamps when
// empty. ErrNotFound if a non-empty DeploymentID or WorkerID does not exist.
func (s *Store) CreateJob(ctx context.Context, j *Job) error {
	if err := prepareJob(j, now()); err != nil {
		return fmt.Errorf("store: create job: %w", err)
	}
	if err := insertJob(ctx, s, s.w, j); err != nil {
		return wrapErr(err, "create %s job for app %s", j.Type, j.AppID)
	}
	return nil
}

// GetJob returns the job or ErrNotFound.
func (s *Store) GetJob(ctx context.Context, id string) (*Job, error) {
	j, err := scanJob(s.queryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`, id))
	if err != nil {
		return nil, wrapErr(err, "get job %s", id)
	}
	return j, nil
}

func (s *Store) listJobs(ctx context.Context, op, where string, args ...any) ([]Job, error) {
	rows, err := s.query(ctx, `SELECT `+jobCols+` FROM jobs WHERE `+where+` ORDER BY created_at, id`, args...)
	js, err := collect(rows, err, deref(scanJob))
	if err != nil {
		return nil, wrapErr(err, "%s", op)
	}
	return js, nil
}

// ListJobsByState returns the jobs in state, oldest first.
func (s *Store) ListJobsByState(ctx context.Context, state string) ([]Job, error) {
	return s.listJobs(ctx, "list "+state+" jobs", `state = ?`, state)
}

// ListUnfinishedJobsForWorker returns the worker's pending, sent and acked
// jobs, oldest first (to resend or reconcile after a reconnect).
func (s *Store) ListUnfinishedJobsForWorker(ctx context.Context, workerID int64) ([]Job, error) {
	return s.listJobs(ctx, fmt.Sprintf("list unfinished jobs of worker %d", workerID),
		`worker_id = ? AND state IN (?, ?, ?)`, workerID, JobPending, JobSent, JobAcked)
}

// ListPendingJobs returns every pending job, oldest first.
func (s *Store) ListPendingJobs(ctx context.Context) ([]Job, error) {
	return s.listJobs(ctx, "list pending jobs", `state = ?`, JobPending)
}

// ListStaleSentJobs returns jobs sent before olderThan and still not acked.
func (s *Store) ListStaleSentJobs(ctx context.Context, olderThan time.Time) ([]Job, error) {
	return s.listJobs(ctx, "list stale sent jobs", `state = ? AND sent_at < ?`, JobSent, ms(olderThan))
}

// jobStateErr explains why a conditional job update matched no row:
// ErrNotFound if the job does not exist, otherwise ErrConflict naming the
// current state.
func (s *Store) jobStateErr(ctx context.Context, e execer, jobID string) error {
	var state string
	if err := e.QueryRowContext(ctx, s.q(`SELECT state FROM jobs WHERE id = ?`), jobID).Scan(&state); err != nil {
		return err
	}
	return fmt.Errorf("%w: job is %s", ErrConflict, state)
}

// AssignJob gives a pending job to a worker (and records the worker on the
// job's deployment, in the same transaction). ErrConflict if the job is
// not pending, ErrNotFound if the job or worker does not exist.
func (s *Store) AssignJob(ctx context.Context, jobID string, workerID int64) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE jobs SET worker_id = ?, updated_at = ? WHERE id = ? AND state = ?`),
			workerID, ms(now()), jobID, JobPending)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return s.jobStateErr(ctx, tx, jobID)
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE deployments SET worker_id = ?
			WHERE id = (SELECT deployment_id FROM jobs WHERE id = ?)`), workerID, jobID)
		return err
	})
	if err != nil {
		return wrapErr(err, "assign job %s to worker %d", jobID, workerID)
	}
	return nil
}

// MarkJobSent records a (re)send at `at` and counts the attempt. Allowed
// from pending, sent and acked: a job resent after a reconnect goes back
// to sent, so the ack timeout applies until the worker acks it again.
// ErrConflict once the job is finished.
func (s *Store) MarkJobSent(ctx context.Context, jobID string, at time.Time) error {
	res, err := s.exec(ctx, `UPDATE jobs SET state = ?, attempts = attempts + 1, sent_at = ?, updated_at = ?
		WHERE id = ? AND state IN (?, ?, ?)`, JobSent, ms(at), ms(at), jobID, JobPending, JobSent, JobAcked)
	if err == nil {
		if n, _ := res.RowsAffected(); n == 0 {
			err = s.jobStateErr(ctx, s.w, jobID)
		}
	}
	if err != nil {
		return wrapErr(err, "mark job %s sent", jobID)
	}
	return nil
}

// MarkJobAcked records the worker's acceptance. A sent job becomes acked;
// a job already acked or finished is left alone (nil: a redelivered ack is
// harmless); a pending job gives ErrConflict (it was taken back, so the
// ack is stale).
func (s *Store) MarkJobAcked(ctx context.Context, jobID string, at time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var state string
		if err := tx.QueryRowContext(ctx, s.q(`SELECT state FROM jobs WHERE id = ?`+s.forUpdate()), jobID).Scan(&state); err != nil {
			return err
		}
		switch state {
		case JobAcked, JobDone, JobFailed:
			return nil
		case JobSent:
			_, err := tx.ExecContext(ctx, s.q(`UPDATE jobs SET state = ?, acked_at = ?, updated_at = ? WHERE id = ?`),
				JobAcked, ms(at), ms(at), jobID)
			return err
		}
		return fmt.Errorf("%w: job is %s", ErrConflict, state)
	})
	if err != nil {
		return wrapErr(err, "mark job %s acked", jobID)
	}
	return nil
}

// MarkJobPending takes an unfinished job back (refused ack, lost worker):
// state pending, no worker, reason in LastError. ErrConflict if finished.
func (s *Store) MarkJobPending(ctx context.Context, jobID, reason string) error {
	res, err := s.exec(ctx, `UPDATE jobs SET state = ?, worker_id = NULL, last_error = ?, acked_at = 0, updated_at = ?
		WHERE id = ? AND state IN (?, ?, ?)`, JobPending, reason, ms(now()), jobID, JobPending, JobSent, JobAcked)
	if err == nil {
		if n, _ := res.RowsAffected(); n == 0 {
			err = s.jobStateErr(ctx, s.w, jobID)
		}
	}
	if err != nil {
		return wrapErr(err, "mark job %s pending", jobID)
	}
	return nil
}

// FinishJob records a job's outcome: done when success, else failed, with
// resultJSON, errMsg (stored in LastError) and FinishedAt = at (now when
// zero). It is idempotent: finishing an already finished job changes
// nothing and returns nil, so a redelivered result never rewrites history.
// ErrNotFound if the job does not exist.
func (s *Store) FinishJob(ctx context.Context, jobID string, success bool, resultJSON, errMsg string, at time.Time) error {
	state := JobFailed
	if success {
		state = JobDone
	}
	if at.IsZero() {
		at = now()
	}
	res, err := s.exec(ctx, `UPDATE jobs SET state = ?, result_json = ?, last_error = ?, finished_at = ?, updated_at = ?
		WHERE id = ? AND state NOT IN (?, ?)`, state, resultJSON, errMsg, ms(at), ms(at), jobID, JobDone, JobFailed)
	if err != nil {
		return wrapErr(err, "finish job %s", jobID)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	var one int
	if err := s.w.QueryRowContext(ctx, s.q(`SELECT 1 FROM jobs WHERE id = ?`), jobID).Scan(&one); err != nil {
		return wrapErr(err, "finish job %s", jobID)
	}
	return nil // already finished
}

// CountJobsByState returns the number of jobs in each state; every state
// is present, zero included.
func (s *Store) CountJobsByState(ctx context.Context) (map[string]int, error) {
	rows, err := s.query(ctx, `SELECT state, COUNT(*) FROM jobs GROUP BY state`)
	if err != nil {
		return nil, wrapErr(err, "count jobs")
	}
	defer rows.Close()
	counts := map[string]int{}
	for _, st := range JobStates() {
		counts[st] = 0
	}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, wrapErr(err, "count jobs")
		}
		counts[st] = n
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr(err, "count jobs")
	}
	return counts, nil
}
