package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Retention says how long finished history is kept; zero keeps it forever.
type Retention struct {
	// History covers finished jobs, finished webhook deliveries,
	// violations, and the build logs of finished deployments (the
	// deployment rows themselves stay: they are the apps' history and
	// the rollback targets).
	History time.Duration
	// Audit covers the user audit log and the admin audit log, usually
	// kept longer than operational history.
	Audit time.Duration
}

// KeepBuildLogs is how many of each app's newest deployments keep their
// build log whatever its age: the logs users still look at.
const KeepBuildLogs = 10

// BuildLogExpired replaces a build log that retention removed, so a user
// opening an old deployment reads why it is empty.
const BuildLogExpired = "[build log removed by the instance's history retention]\n"

// Pruned counts what PruneHistory removed.
type Pruned struct {
	Jobs, Deliveries, Violations, BuildLogs, Audit, AdminAudit int64
}

// Total is the number of rows and logs removed.
func (p Pruned) Total() int64 {
	return p.Jobs + p.Deliveries + p.Violations + p.BuildLogs + p.Audit + p.AdminAudit
}

// pruneBatch bounds each DELETE, so that on SQLite's single writer
// connection no prune holds the write lock for long: deployments and
// ingest writes get their turn between batches.
const pruneBatch = 1000

// PruneHistory deletes what retention r no longer keeps, as of now. It
// deletes in batches and may be interrupted (ctx) at any point: what is
// left goes next time.
func (s *Store) PruneHistory(ctx context.Context, now time.Time, r Retention) (Pruned, error) {
	var p Pruned
	var err error
	if r.History > 0 {
		cut := ms(now.Add(-r.History))
		// Only final states: a pending job or delivery is work still owed,
		// however old.
		if p.Jobs, err = s.deleteBatched(ctx, "jobs", `SELECT id FROM jobs
			WHERE state IN (?, ?) AND finished_at > 0 AND finished_at < ? LIMIT ?`, JobDone, JobFailed, cut); err != nil {
			return p, wrapErr(err, "prune jobs")
		}
		if p.Deliveries, err = s.deleteBatched(ctx, "webhook_deliveries", `SELECT id FROM webhook_deliveries
			WHERE state IN (?, ?) AND created_at < ? LIMIT ?`, DeliveryDelivered, DeliveryFailed, cut); err != nil {
			return p, wrapErr(err, "prune webhook deliveries")
		}
		if p.Violations, err = s.deleteBatched(ctx, "violations", `SELECT id FROM violations
			WHERE at < ? LIMIT ?`, cut); err != nil {
			return p, wrapErr(err, "prune violations")
		}
		if p.BuildLogs, err = s.pruneBuildLogs(ctx, cut); err != nil {
			return p, wrapErr(err, "prune build logs")
		}
	}
	if r.Audit > 0 {
		cut := ms(now.Add(-r.Audit))
		if p.Audit, err = s.deleteBatched(ctx, "audit_log", `SELECT id FROM audit_log WHERE at < ? LIMIT ?`, cut); err != nil {
			return p, wrapErr(err, "prune audit log")
		}
		if p.AdminAudit, err = s.deleteBatched(ctx, "admin_audit", `SELECT id FROM admin_audit WHERE at < ? LIMIT ?`, cut); err != nil {
			return p, wrapErr(err, "prune admin audit log")
		}
	}
	return p, nil
}

// deleteBatched deletes from table the rows whose id the selection (which
// ends in "LIMIT ?") returns, one batch at a time, until a batch comes
// back short.
func (s *Store) deleteBatched(ctx context.Context, table, selectIDs string, args ...any) (int64, error) {
	query := `DELETE FROM ` + table + ` WHERE id IN (` + selectIDs + `)`
	args = append(args, pruneBatch)
	var total int64
	for {
		res, err := s.exec(ctx, query, args...)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}

// pruneBuildLogs replaces with BuildLogExpired the build logs of
// deployments finished before cut, except each app's KeepBuildLogs newest
// deployments. It returns how many logs it replaced.
func (s *Store) pruneBuildLogs(ctx context.Context, cut int64) (int64, error) {
	const batch = 100
	var total int64
	for {
		// log_len > len(notice) skips logs already replaced (and logs too
		// short to be worth it); the subquery counts newer deployments of
		// the same app through deployments_app.
		rows, err := s.query(ctx, `SELECT d.id FROM deployments d
			WHERE d.finished_at > 0 AND d.finished_at < ? AND d.log_len > ?
			AND (SELECT COUNT(*) FROM deployments n WHERE n.app_id = d.app_id AND n.created_at > d.created_at) >= ?
			LIMIT ?`, cut, len(BuildLogExpired), KeepBuildLogs, batch)
		ids, err := collect(rows, err, func(sc scanner) (string, error) {
			var id string
			return id, sc.Scan(&id)
		})
		if err != nil {
			return total, err
		}
		for _, id := range ids {
			err := s.tx(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM build_log_chunks WHERE deployment_id = ?`), id); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO build_log_chunks (deployment_id, byte_offset, data) VALUES (?, 0, ?)`),
					id, []byte(BuildLogExpired)); err != nil {
					return err
				}
				_, err := tx.ExecContext(ctx, s.q(`UPDATE deployments SET log_len = ? WHERE id = ?`), len(BuildLogExpired), id)
				return err
			})
			if err != nil {
				return total, fmt.Errorf("deployment %s: %w", id, err)
			}
			total++
		}
		if len(ids) < batch {
			return total, nil
		}
	}
}
