package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// AppCreated is the status of an app that has never been deployed. Other
// statuses are whatever the control plane records (see models.App*).
const AppCreated = "created"

// App is a deployable application. Name is its globally unique DNS label.
// GitTokenEnc is encrypted by the caller (nil or empty = none; reads back
// nil). WorkerID 0 and CurrentDeploymentID "" mean none.
type App struct {
	ID              string
	TeamID          string
	Name            string
	RepoURL         string
	Branch          string
	GitTokenEnc     []byte
	DockerfilePath  string
	Port            int
	HealthCheckPath string
	MemoryBytes     int64
	CPUMillis       int64
	DiskBytes       int64
	BandwidthBps    int64
	Suspended       bool
	// Runtime fields, written by UpdateAppRuntime / SetAppStatus (see
	// AppRuntime) and by UpdateDeploymentStatus (CurrentDeploymentID).
	Status              string
	StatusMessage       string
	WorkerID            int64
	HostPort            int
	ContainerID         string
	ImageID             string
	PreviousImageID     string
	CurrentDeploymentID string
	CreatedAt           time.Time
	UpdatedAt           time.Time
	// SettingsVersion counts settings writes; UpdateApp needs the one it
	// read (see there).
	SettingsVersion int64
}

// AppRuntime is the app's state on its worker, as last reported, and the
// deployment it runs: the runtime fields of App, set together.
type AppRuntime struct {
	Status          string
	StatusMessage   string
	WorkerID        int64
	HostPort        int
	ContainerID     string
	ImageID         string
	PreviousImageID string
	// CurrentDeploymentID is the last deployment that reached running.
	// UpdateAppRuntime leaves it unchanged when "" (a restart or stop has
	// no deployment).
	CurrentDeploymentID string
}

// Runtime returns the app's runtime fields.
func (a *App) Runtime() AppRuntime {
	return AppRuntime{Status: a.Status, StatusMessage: a.StatusMessage, WorkerID: a.WorkerID, HostPort: a.HostPort,
		ContainerID: a.ContainerID, ImageID: a.ImageID, PreviousImageID: a.PreviousImageID,
		CurrentDeploymentID: a.CurrentDeploymentID}
}

// Domain is a custom domain routed to an app; stored lowercase.
type Domain struct {
	Domain    string
	AppID     string
	CreatedAt time.Time
}

const appCols = `id, team_id, name, repo_url, branch, git_token_enc, dockerfile_path, port, health_check_path,
	memory_bytes, cpu_millis, disk_bytes, bandwidth_bps, suspended, status, status_message, worker_id,
	host_port, container_id, image_id, previous_image_id, current_deployment_id, created_at, updated_at, settings_version`

func scanApp(sc scanner) (*App, error) {
	var a App
	err := sc.Scan(&a.ID, &a.TeamID, &a.Name, &a.RepoURL, &a.Branch, &a.GitTokenEnc, &a.DockerfilePath, &a.Port,
		&a.HealthCheckPath, &a.MemoryBytes, &a.CPUMillis, &a.DiskBytes, &a.BandwidthBps, &a.Suspended, &a.Status,
		&a.StatusMessage, nullable[int64]{&a.WorkerID}, &a.HostPort, &a.ContainerID, &a.ImageID, &a.PreviousImageID,
		nullable[string]{&a.CurrentDeploymentID}, msTime{&a.CreatedAt}, msTime{&a.UpdatedAt}, &a.SettingsVersion)
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// CreateApp inserts a, filling ID, CreatedAt, UpdatedAt and Status
// (AppCreated) when empty. ErrConflict if the name is taken, ErrNotFound if
// the team (or a non-zero WorkerID) does not exist.
func (s *Store) CreateApp(ctx context.Context, a *App) error {
	if a.ID == "" {
		a.ID = newID(prefixApp)
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now()
	}
	if a.UpdatedAt.IsZero() {
		a.UpdatedAt = a.CreatedAt
	}
	if a.Status == "" {
		a.Status = AppCreated
	}
	_, err := s.exec(ctx, `INSERT INTO apps (`+appCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.TeamID, a.Name, a.RepoURL, a.Branch, nullBytes(a.GitTokenEnc), a.DockerfilePath, a.Port, a.HealthCheckPath,
		a.MemoryBytes, a.CPUMillis, a.DiskBytes, a.BandwidthBps, a.Suspended, a.Status, a.StatusMessage,
		nullInt(a.WorkerID), a.HostPort, a.ContainerID, a.ImageID, a.PreviousImageID, nullStr(a.CurrentDeploymentID),
		ms(a.CreatedAt), ms(a.UpdatedAt), a.SettingsVersion)
	if err != nil {
		return wrapErr(err, "create app %s", a.Name)
	}
	s.routesChanged()
	return nil
}

// GetApp returns the app or ErrNotFound.
func (s *Store) GetApp(ctx context.Context, id string) (*App, error) {
	a, err := scanApp(s.queryRow(ctx, `SELECT `+appCols+` FROM apps WHERE id = ?`, id))
	if err != nil {
		return nil, wrapErr(err, "get app %s", id)
	}
	return a, nil
}

// GetAppByName returns the app or ErrNotFound.
func (s *Store) GetAppByName(ctx context.Context, name string) (*App, error) {
	a, err := scanApp(s.queryRow(ctx, `SELECT `+appCols+` FROM apps WHERE name = ?`, name))
	if err != nil {
		return nil, wrapErr(err, "get app %s", name)
	}
	return a, nil
}

// ListAppsForTeams returns the apps of the given teams by name; an empty
// list of teams gives an empty result.
func (s *Store) ListAppsForTeams(ctx context.Context, teamIDs []string) ([]App, error) {
	if len(teamIDs) == 0 {
		return []App{}, nil
	}
	args := make([]any, len(teamIDs))
	for i, id := range teamIDs {
		args[i] = id
	}
	rows, err := s.r.QueryContext(ctx, s.qDynamic(`SELECT `+appCols+` FROM apps WHERE team_id IN (`+placeholders(len(teamIDs))+`) ORDER BY name`), args...)
	as, err := collect(rows, err, deref(scanApp))
	if err != nil {
		return nil, wrapErr(err, "list apps for teams")
	}
	return as, nil
}

// ListAllApps returns every app by name.
func (s *Store) ListAllApps(ctx context.Context) ([]App, error) {
	rows, err := s.query(ctx, `SELECT `+appCols+` FROM apps ORDER BY name`)
	as, err := collect(rows, err, deref(scanApp))
	if err != nil {
		return nil, wrapErr(err, "list apps")
	}
	return as, nil
}

// UpdateApp saves the settings fields of a (RepoURL, Branch, GitTokenEnc,
// DockerfilePath, Port, HealthCheckPath, the four limits), sets
// a.UpdatedAt and moves a.SettingsVersion on. It writes every one of them,
// so read-modify-write: a nil GitTokenEnc clears the token. Name, team,
// suspension and runtime fields are not touched.
//
// The write happens only if the app's settings are still at
// a.SettingsVersion, the version a was read at; otherwise ErrConflict:
// someone changed them meanwhile, so read the app again and re-apply the
// change. ErrNotFound if absent.
func (s *Store) UpdateApp(ctx context.Context, a *App) error {
	at := now()
	res, err := s.exec(ctx, `UPDATE apps SET repo_url = ?, branch = ?, git_token_enc = ?, dockerfile_path = ?,
		port = ?, health_check_path = ?, memory_bytes = ?, cpu_millis = ?, disk_bytes = ?, bandwidth_bps = ?,
		updated_at = ?, settings_version = settings_version + 1 WHERE id = ? AND settings_version = ?`,
		a.RepoURL, a.Branch, nullBytes(a.GitTokenEnc), a.DockerfilePath, a.Port, a.HealthCheckPath, a.MemoryBytes,
		a.CPUMillis, a.DiskBytes, a.BandwidthBps, ms(at), a.ID, a.SettingsVersion)
	if err == nil {
		err = oneRow(res)
	}
	if errors.Is(err, ErrNotFound) {
		// No row at that version: gone, or changed since it was read.
		var one int
		if s.queryRow(ctx, `SELECT 1 FROM apps WHERE id = ?`, a.ID).Scan(&one) == nil {
			err = fmt.Errorf("%w: the app's settings changed since they were read", ErrConflict)
		}
	}
	if err != nil {
		return wrapErr(err, "update app %s", a.ID)
	}
	a.UpdatedAt = at
	a.SettingsVersion++
	s.routesChanged()
	return nil
}

// DeleteApp deletes the app and, by cascade, its env, domains,
// deployments, build logs, stats and violations (its runtime logs are
// files: the caller deletes them from the logstore). Its jobs are kept
// (a delete job outlives the app). ErrNotFound if absent.
func (s *Store) DeleteApp(ctx context.Context, id string) error {
	err := s.execOne(ctx, `DELETE FROM apps WHERE id = ?`, id)
	if err != nil {
		return wrapErr(err, "delete app %s", id)
	}
	s.routesChanged()
	return nil
}

// UpdateAppRuntime overwrites all the runtime fields at once, except that
// an empty CurrentDeploymentID keeps the current one. ErrNotFound if the
// app (or a non-zero WorkerID) does not exist.
func (s *Store) UpdateAppRuntime(ctx context.Context, appID string, rt AppRuntime) error {
	err := s.execOne(ctx, `UPDATE apps SET status = ?, status_message = ?, worker_id = ?, host_port = ?,
		container_id = ?, image_id = ?, previous_image_id = ?,
		current_deployment_id = COALESCE(?, current_deployment_id), updated_at = ? WHERE id = ?`,
		rt.Status, rt.StatusMessage, nullInt(rt.WorkerID), rt.HostPort, rt.ContainerID, rt.ImageID,
		rt.PreviousImageID, nullStr(rt.CurrentDeploymentID), ms(now()), appID)
	if err != nil {
		return wrapErr(err, "update app %s runtime", appID)
	}
	s.routesChanged()
	return nil
}

// SetAppStatus sets only the status and its message.
func (s *Store) SetAppStatus(ctx context.Context, appID, status, message string) error {
	err := s.execOne(ctx, `UPDATE apps SET status = ?, status_message = ?, updated_at = ? WHERE id = ?`,
		status, message, ms(now()), appID)
	if err != nil {
		return wrapErr(err, "set app %s status", appID)
	}
	s.routesChanged()
	return nil
}

// SetAppEndpoint records the container that now serves the app and its
// host port (a worker switched traffic to a new version), with its status.
func (s *Store) SetAppEndpoint(ctx context.Context, appID, status, message string, hostPort int, containerID string) error {
	err := s.execOne(ctx, `UPDATE apps SET status = ?, status_message = ?, host_port = ?, container_id = ?, updated_at = ?
		WHERE id = ?`, status, message, hostPort, containerID, ms(now()), appID)
	if err != nil {
		return wrapErr(err, "set app %s endpoint", appID)
	}
	s.routesChanged()
	return nil
}

// SetAppEnv creates or replaces one environment variable; valueEnc is the
// caller-encrypted value. ErrNotFound if the app does not exist.
func (s *Store) SetAppEnv(ctx context.Context, appID, name string, valueEnc []byte) error {
	return s.SetAppEnvs(ctx, appID, map[string][]byte{name: valueEnc}, math.MaxInt)
}

// ErrEnvCap: the change would leave the app with more env vars than the
// cap SetAppEnvs was given.
var ErrEnvCap = errors.New("store: too many env vars")

// SetAppEnvs sets several variables at once, all or none, refusing with
// ErrEnvCap a change that would leave the app with more than max. The
// count and the writes are one transaction holding the app's row, so
// concurrent requests cannot pass the cap together. ErrNotFound if the
// app does not exist.
func (s *Store) SetAppEnvs(ctx context.Context, appID string, vars map[string][]byte, max int) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM apps WHERE id = ?`+s.forUpdate()), appID).Scan(&one); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, s.q(`SELECT name FROM app_env WHERE app_id = ?`), appID)
		if err != nil {
			return err
		}
		have := map[string]bool{}
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return err
			}
			have[n] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		n := len(have)
		for k := range vars {
			if !have[k] {
				n++
			}
		}
		if n > max {
			return ErrEnvCap
		}
		for k, v := range vars {
			if v == nil {
				v = []byte{} // the column is NOT NULL; nil would be NULL
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO app_env (app_id, name, value_enc) VALUES (?, ?, ?)
				ON CONFLICT (app_id, name) DO UPDATE SET value_enc = excluded.value_enc`), appID, k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrEnvCap) {
		return wrapErr(err, "set env of app %s", appID)
	}
	return err
}

// UnsetAppEnv removes one variable; ErrNotFound if it was not set.
func (s *Store) UnsetAppEnv(ctx context.Context, appID, name string) error {
	if err := s.execOne(ctx, `DELETE FROM app_env WHERE app_id = ? AND name = ?`, appID, name); err != nil {
		return wrapErr(err, "unset env %s of app %s", name, appID)
	}
	return nil
}

// ListAppEnv returns every variable of the app, values still encrypted.
// A missing app gives an empty map.
func (s *Store) ListAppEnv(ctx context.Context, appID string) (map[string][]byte, error) {
	rows, err := s.query(ctx, `SELECT name, value_enc FROM app_env WHERE app_id = ?`, appID)
	if err != nil {
		return nil, wrapErr(err, "list env of app %s", appID)
	}
	defer rows.Close()
	env := map[string][]byte{}
	for rows.Next() {
		var name string
		var v []byte
		if err := rows.Scan(&name, &v); err != nil {
			return nil, wrapErr(err, "list env of app %s", appID)
		}
		if v == nil {
			v = []byte{} // SQLite returns an empty BLOB as nil
		}
		env[name] = v
	}
	if err := rows.Err(); err != nil {
		return nil, wrapErr(err, "list env of app %s", appID)
	}
	return env, nil
}

// AddDomain routes domain (lowercased) to the app. ErrConflict if any app
// already has it, ErrNotFound if the app does not exist.
func (s *Store) AddDomain(ctx context.Context, appID, domain string) error {
	domain = strings.ToLower(domain)
	_, err := s.exec(ctx, `INSERT INTO app_domains (domain, app_id, created_at) VALUES (?, ?, ?)`, domain, appID, ms(now()))
	if err != nil {
		return wrapErr(err, "add domain %s", domain)
	}
	s.routesChanged()
	return nil
}

// RemoveDomain removes domain from the app; ErrNotFound if that app does
// not have it.
func (s *Store) RemoveDomain(ctx context.Context, appID, domain string) error {
	domain = strings.ToLower(domain)
	if err := s.execOne(ctx, `DELETE FROM app_domains WHERE domain = ? AND app_id = ?`, domain, appID); err != nil {
		return wrapErr(err, "remove domain %s", domain)
	}
	s.routesChanged()
	return nil
}

// ListDomains returns the app's domains alphabetically.
func (s *Store) ListDomains(ctx context.Context, appID string) ([]Domain, error) {
	rows, err := s.query(ctx, `SELECT domain, app_id, created_at FROM app_domains WHERE app_id = ? ORDER BY domain`, appID)
	ds, err := collect(rows, err, func(sc scanner) (Domain, error) {
		var d Domain
		err := sc.Scan(&d.Domain, &d.AppID, msTime{&d.CreatedAt})
		return d, err
	})
	if err != nil {
		return nil, wrapErr(err, "list domains of app %s", appID)
	}
	return ds, nil
}

// GetAppByDomain returns the app a custom domain routes to, or ErrNotFound.
func (s *Store) GetAppByDomain(ctx context.Context, domain string) (*App, error) {
	domain = strings.ToLower(domain)
	a, err := scanApp(s.queryRow(ctx, `SELECT `+appCols+` FROM apps WHERE id = (SELECT app_id FROM app_domains WHERE domain = ?)`, domain))
	if err != nil {
		return nil, wrapErr(err, "get app by domain %s", domain)
	}
	return a, nil
}

// setCurrentDeployment is called in the transaction that marks a
// deployment running.
func (s *Store) setCurrentDeployment(ctx context.Context, tx *sql.Tx, appID, deploymentID string, at time.Time) error {
	_, err := tx.ExecContext(ctx, s.q(`UPDATE apps SET current_deployment_id = ?, updated_at = ? WHERE id = ?`),
		deploymentID, ms(at), appID)
	return err
}

// AppPlacement is where an app is placed (WorkerID 0: nowhere) and its
// recorded status.
type AppPlacement struct {
	WorkerID  int64
	Status    string
	UpdatedAt time.Time
}

// AppPlacements returns the placement of each of ids that exists, in one
// query per 500 ids: the worker report path checks whole batches with it.
func (s *Store) AppPlacements(ctx context.Context, ids []string) (map[string]AppPlacement, error) {
	out := make(map[string]AppPlacement, len(ids))
	for chunk := range slices.Chunk(ids, 500) {
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := s.r.QueryContext(ctx, s.qDynamic(`SELECT id, worker_id, status, updated_at FROM apps WHERE id IN (`+placeholders(len(chunk))+`)`), args...)
		type row struct {
			id string
			p  AppPlacement
		}
		got, err := collect(rows, err, func(sc scanner) (row, error) {
			var r row
			return r, sc.Scan(&r.id, nullable[int64]{&r.p.WorkerID}, &r.p.Status, msTime{&r.p.UpdatedAt})
		})
		if err != nil {
			return nil, wrapErr(err, "app placements")
		}
		for _, r := range got {
			out[r.id] = r.p
		}
	}
	return out, nil
}

// AppIDsOnWorker returns which of ids are apps placed on workerID, in one
// query: the worker message path checks every batch with it.
func (s *Store) AppIDsOnWorker(ctx context.Context, workerID int64, ids []string) (map[string]bool, error) {
	out := make(map[string]bool, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, 0, len(ids)+1)
	args = append(args, workerID)
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := s.r.QueryContext(ctx, s.qDynamic(`SELECT id FROM apps WHERE worker_id = ? AND id IN (`+placeholders(len(ids))+`)`), args...)
	got, err := collect(rows, err, func(sc scanner) (string, error) {
		var id string
		return id, sc.Scan(&id)
	})
	if err != nil {
		return nil, wrapErr(err, "apps on worker %d", workerID)
	}
	for _, id := range got {
		out[id] = true
	}
	return out, nil
}
