package store

import (
	"context"
	"database/sql"
	"time"
)

// Reads across every team and the operators' levers, for the internal
// admin API. Nothing in the public API calls these.

// SetAppSuspended suspends or reinstates an app. The router answers a
// suspended app's hosts with 503, so the route generation moves.
// ErrNotFound if absent.
func (s *Store) SetAppSuspended(ctx context.Context, appID string, suspended bool) error {
	if err := s.execOne(ctx, `UPDATE apps SET suspended = ?, updated_at = ?, settings_version = settings_version + 1 WHERE id = ?`, suspended, ms(now()), appID); err != nil {
		return wrapErr(err, "set app %s suspended", appID)
	}
	s.routesChanged()
	return nil
}

// TeamSummary is a team with its size.
type TeamSummary struct {
	Team
	Members int
	Apps    int
}

// ListAllTeams returns every team by slug, with member and app counts.
func (s *Store) ListAllTeams(ctx context.Context) ([]TeamSummary, error) {
	rows, err := s.query(ctx, `SELECT t.id, t.name, t.slug, t.personal, t.created_at,
			(SELECT COUNT(*) FROM team_members m WHERE m.team_id = t.id),
			(SELECT COUNT(*) FROM apps a WHERE a.team_id = t.id)
		FROM teams t ORDER BY t.slug`)
	ts, err := collect(rows, err, func(sc scanner) (TeamSummary, error) {
		var t TeamSummary
		err := sc.Scan(&t.ID, &t.Name, &t.Slug, &t.Personal, msTime{&t.CreatedAt}, &t.Members, &t.Apps)
		return t, err
	})
	if err != nil {
		return nil, wrapErr(err, "list all teams")
	}
	return ts, nil
}

// CountTeams returns the number of teams.
func (s *Store) CountTeams(ctx context.Context) (int, error) {
	var n int
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM teams`).Scan(&n); err != nil {
		return 0, wrapErr(err, "count teams")
	}
	return n, nil
}

// CountUnfinishedJobsByWorker returns, per worker id, how many of its jobs
// are pending, sent or acked (workers with none are absent).
func (s *Store) CountUnfinishedJobsByWorker(ctx context.Context) (map[int64]int, error) {
	rows, err := s.query(ctx, `SELECT worker_id, COUNT(*) FROM jobs
		WHERE worker_id IS NOT NULL AND state IN (?, ?, ?) GROUP BY worker_id`, JobPending, JobSent, JobAcked)
	if err != nil {
		return nil, wrapErr(err, "count unfinished jobs by worker")
	}
	defer rows.Close()
	out := map[int64]int{}
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, wrapErr(err, "count unfinished jobs by worker")
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr(err, "count unfinished jobs by worker")
	}
	return out, nil
}

// ListRecentJobs returns the newest jobs in state (by last update), at
// most limit.
func (s *Store) ListRecentJobs(ctx context.Context, state string, limit int) ([]Job, error) {
	rows, err := s.query(ctx, `SELECT `+jobCols+` FROM jobs WHERE state = ? ORDER BY updated_at DESC, id DESC LIMIT ?`,
		state, limitOr(limit))
	js, err := collect(rows, err, deref(scanJob))
	if err != nil {
		return nil, wrapErr(err, "list recent %s jobs", state)
	}
	return js, nil
}

// LatestDeployments returns each app's newest deployment, by app id (apps
// never deployed are absent).
func (s *Store) LatestDeployments(ctx context.Context) (map[string]Deployment, error) {
	rows, err := s.query(ctx, `SELECT `+deploymentCols+` FROM deployments d
		WHERE d.id = (SELECT x.id FROM deployments x WHERE x.app_id = d.app_id ORDER BY x.created_at DESC, x.id DESC LIMIT 1)`)
	ds, err := collect(rows, err, deref(scanDeployment))
	if err != nil {
		return nil, wrapErr(err, "list latest deployments")
	}
	out := make(map[string]Deployment, len(ds))
	for _, d := range ds {
		out[d.AppID] = d
	}
	return out, nil
}

// CountViolationsByApp returns, per app id, the violations recorded at or
// after since (apps with none are absent).
func (s *Store) CountViolationsByApp(ctx context.Context, since time.Time) (map[string]int, error) {
	rows, err := s.query(ctx, `SELECT app_id, COUNT(*) FROM violations WHERE at >= ? GROUP BY app_id`, ms(since))
	if err != nil {
		return nil, wrapErr(err, "count violations by app")
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, wrapErr(err, "count violations by app")
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr(err, "count violations by app")
	}
	return out, nil
}

// CountUsersSuspended returns the number of users and of suspended users.
func (s *Store) CountUsersSuspended(ctx context.Context) (total, suspended int, err error) {
	var susp sql.NullInt64
	if err := s.queryRow(ctx, `SELECT COUNT(*), SUM(CASE WHEN suspended THEN 1 ELSE 0 END) FROM users`).Scan(&total, &susp); err != nil {
		return 0, 0, wrapErr(err, "count users")
	}
	return total, int(susp.Int64), nil
}

// SchemaVersion is the newest migration applied to the database.
func (s *Store) SchemaVersion(ctx context.Context) (int64, error) {
	var v sql.NullInt64
	if err := s.queryRow(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, wrapErr(err, "read schema version")
	}
	return v.Int64, nil
}
