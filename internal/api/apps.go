package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/wisehosting/wisehosting/internal/auth"
	"github.com/wisehosting/wisehosting/internal/models"
	"github.com/wisehosting/wisehosting/internal/store"
)

// Defaults an app gets when its request leaves a limit at zero.
var defaultLimits = models.Limits{MemoryBytes: 512 << 20, CPUMillis: 1000}

const maxEnvVars = 200

type appJSON struct {
	ID                  string        `json:"id"`
	Name                string        `json:"name"`
	TeamID              string        `json:"team_id"`
	RepoURL             string        `json:"repo_url"`
	Branch              string        `json:"branch"`
	HasGitToken         bool          `json:"has_git_token"`
	DockerfilePath      string        `json:"dockerfile_path,omitzero"`
	Port                int           `json:"port"`
	HealthCheckPath     string        `json:"health_check_path,omitzero"`
	Limits              models.Limits `json:"limits"`
	Status              string        `json:"status"`
	StatusMessage       string        `json:"status_message,omitzero"`
	URL                 string        `json:"url"`
	WorkerID            int64         `json:"worker_id,omitzero"`
	WorkerAddress       string        `json:"worker_address,omitzero"` // where host_port is reachable
	HostPort            int           `json:"host_port,omitzero"`
	CurrentDeploymentID string        `json:"current_deployment_id,omitzero"`
	Suspended           bool          `json:"suspended,omitzero"`
	CreatedAt           time.Time     `json:"created_at"`
	UpdatedAt           time.Time     `json:"updated_at"`
}

func (a *API) toAppJSON(app *store.App) appJSON {
	return appJSON{
		ID: app.ID, Name: app.Name, TeamID: app.TeamID, RepoURL: app.RepoURL, Branch: app.Branch,
		HasGitToken: len(app.GitTokenEnc) > 0, DockerfilePath: app.DockerfilePath, Port: app.Port,
		HealthCheckPath: app.HealthCheckPath,
		Limits: models.Limits{MemoryBytes: app.MemoryBytes, CPUMillis: app.CPUMillis, DiskBytes: app.DiskBytes,
			BandwidthBitsPerSec: app.BandwidthBps},
		Status: app.Status, StatusMessage: app.StatusMessage, URL: a.appURL(app.Name), WorkerID: app.WorkerID,
		HostPort: app.HostPort, CurrentDeploymentID: app.CurrentDeploymentID, Suspended: app.Suspended,
		CreatedAt: app.CreatedAt, UpdatedAt: app.UpdatedAt,
	}
}

// appURL is where an app answers: <name>.<base domain>, over https when
// certificates are automatic, else over http on the public URL's port
// (<name>.localhost resolves to loopback in browsers and curl).
func (a *API) appURL(name string) string {
	base := a.BaseDomain
	if base == "" {
		base = "localhost"
	}
	if a.AppsTLS {
		return "https://" + name + "." + base
	}
	host := name + "." + base
	if u, err := url.Parse(a.PublicURL); err == nil && u.Port() != "" {
		host += ":" + u.Port()
	}
	return "http://" + host
}

// appFromPath loads {app} and checks the caller's role in its team. A
// non-member gets 404, as if the app did not exist.
func (a *API) appFromPath(r *http.Request, p *principal, min string) (*store.App, string, error) {
	app, err := a.Store.GetAppByName(r.Context(), r.PathValue("app"))
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", errNotFound("no such app")
	}
	if err != nil {
		return nil, "", err
	}
	role, err := a.teamRole(r.Context(), p, app.TeamID)
	if err != nil {
		return nil, "", errNotFound("no such app")
	}
	if err := need(role, min); err != nil {
		return nil, "", err
	}
	return app, role, nil
}

type appInput struct {
	Name            *string           `json:"name"`
	Team            *string           `json:"team"` // id or slug; default: the caller's personal team
	RepoURL         *string           `json:"repo_url"`
	Branch          *string           `json:"branch"`
	GitToken        *string           `json:"git_token"` // "" removes it
	DockerfilePath  *string           `json:"dockerfile_path"`
	Port            *int              `json:"port"`
	HealthCheckPath *string           `json:"health_check_path"`
	Limits          *limitsInput      `json:"limits"`
	Env             map[string]string `json:"env"`
}

// limitsInput is the limits part of a create or update. A field left out
// keeps the app's value (the default, on create); 0 restores the default
// memory or CPU, and removes the disk quota or bandwidth cap.
type limitsInput struct {
	MemoryBytes         *int64 `json:"memory_bytes"`
	CPUMillis           *int64 `json:"cpu_millis"`
	DiskBytes           *int64 `json:"disk_bytes"`
	BandwidthBitsPerSec *int64 `json:"bandwidth_bps"`
	// PIDs is accepted only as 0: the worker's process limit applies to
	// every app, and a value the API cannot keep must not look accepted.
	PIDs *int64 `json:"pids"`
}

// applyTo validates the input and copies it onto app; every problem is
// reported at once.
func (in *appInput) applyTo(app *store.App) error {
	var errs []string
	check := func(err error) {
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	if in.RepoURL != nil {
		app.RepoURL = strings.TrimSpace(*in.RepoURL)
	}
	check(models.ValidateRepoURL(app.RepoURL))
	if in.Branch != nil {
		app.Branch = strings.TrimSpace(*in.Branch)
	}
	if app.Branch == "" {
		app.Branch = "main"
	}
	check(models.ValidateBranch(app.Branch))
	if in.DockerfilePath != nil {
		app.DockerfilePath = *in.DockerfilePath
	}
	check(models.ValidateDockerfilePath(app.DockerfilePath))
	if in.Port != nil {
		app.Port = *in.Port
	} else if app.Port == 0 { // an explicit 0 is refused below
		app.Port = 8080
	}
	if app.Port < 1 || app.Port > 65535 {
		errs = append(errs, "port must be between 1 and 65535")
	}
	if in.HealthCheckPath != nil {
		app.HealthCheckPath = *in.HealthCheckPath
	}
	check(models.ValidateHealthCheckPath(app.HealthCheckPath))
	if l := in.Limits; l != nil {
		for _, f := range []struct{ dst, v *int64 }{
			{&app.MemoryBytes, l.MemoryBytes}, {&app.CPUMillis, l.CPUMillis},
			{&app.DiskBytes, l.DiskBytes}, {&app.BandwidthBps, l.BandwidthBitsPerSec},
		} {
			if f.v != nil {
				*f.dst = *f.v
			}
		}
		if l.PIDs != nil && *l.PIDs != 0 {
			errs = append(errs, "limits.pids cannot be set per app (every app gets the worker's process limit)")
		}
	}
	if app.MemoryBytes == 0 {
		app.MemoryBytes = defaultLimits.MemoryBytes
	}
	if app.CPUMillis == 0 {
		app.CPUMillis = defaultLimits.CPUMillis
	}
	check(models.Limits{MemoryBytes: app.MemoryBytes, CPUMillis: app.CPUMillis, DiskBytes: app.DiskBytes,
		BandwidthBitsPerSec: app.BandwidthBps}.Validate())
	if in.GitToken != nil && len(*in.GitToken) > 4096 {
		errs = append(errs, "git_token is too long")
	}
	if len(in.Env) > maxEnvVars {
		errs = append(errs, "too many env vars")
	}
	for k, v := range in.Env {
		check(models.ValidateEnv(k, v))
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return errValidation("%s", strings.Join(errs, "; "))
	}
	return nil
}

func (a *API) listApps(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx := r.Context()
	teams, err := a.Store.ListTeamsForUser(ctx, p.User.ID)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(teams))
	for _, t := range teams {
		if f := r.URL.Query().Get("team"); f == "" || f == t.ID || f == t.Slug {
			ids = append(ids, t.ID)
		}
	}
	apps, err := a.Store.ListAppsForTeams(ctx, ids)
	if err != nil {
		return err
	}
	addrs := map[int64]string{}
	out := make([]appJSON, 0, len(apps))
	for i := range apps {
		j := a.toAppJSON(&apps[i])
		if id := apps[i].WorkerID; id != 0 {
			if _, ok := addrs[id]; !ok {
				addrs[id] = a.workerAddress(ctx, id)
			}
			j.WorkerAddress = addrs[id]
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) createApp(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in appInput
	if err := decode(r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	if in.Name == nil {
		return errValidation("name is required")
	}
	name := strings.TrimSpace(*in.Name)
	if err := models.ValidateAppName(name); err != nil {
		return errValidation("%v", err)
	}
	teamID, err := a.teamForNewApp(ctx, p, in.Team)
	if err != nil {
		return err
	}
	app := &store.App{Name: name, TeamID: teamID, Status: "created"}
	if err := in.applyTo(app); err != nil {
		return err
	}
	if err := a.Store.CreateApp(ctx, app); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return errConflict("an app named " + name + " already exists")
		}
		return err
	}
	if err := a.saveSecrets(ctx, app, &in); err != nil {
		_ = a.Store.DeleteApp(context.WithoutCancel(ctx), app.ID)
		return err
	}
	a.Logger.Info("app created", "app", app.Name, "team_id", teamID, "user_id", p.User.ID)
	writeJSON(w, http.StatusCreated, a.toAppJSON(app))
	return nil
}

// saveSecrets encrypts the git token and env values, bound to the app's id.
func (a *API) saveSecrets(ctx context.Context, app *store.App, in *appInput) error {
	if in.GitToken != nil {
		app.GitTokenEnc = nil
		if *in.GitToken != "" {
			app.GitTokenEnc = a.Box.Seal([]byte(*in.GitToken), gitTokenContext(app.ID))
		}
		if err := a.Store.UpdateApp(ctx, app); err != nil {
			return err
		}
	}
	return a.setEnvs(ctx, app.ID, in.Env)
}

func gitTokenContext(appID string) string  { return "app:" + appID + ":git_token" }
func envContext(appID, name string) string { return "app:" + appID + ":env:" + name }

func (a *API) teamForNewApp(ctx context.Context, p *principal, ref *string) (string, error) {
	teams, err := a.Store.ListTeamsForUser(ctx, p.User.ID)
	if err != nil {
		return "", err
	}
	for _, t := range teams {
		if (ref == nil && t.Personal) || (ref != nil && (*ref == t.ID || *ref == t.Slug)) {
			if err := need(t.Role, auth.RoleMember); err != nil {
				return "", err
			}
			return t.ID, nil
		}
	}
	if ref == nil {
		return "", errValidation("team is required (you have no personal team)")
	}
	return "", errNotFound("no such team")
}

func (a *API) getApp(w http.ResponseWriter, r *http.Request, p *principal) error {
	app, _, err := a.appFromPath(r, p, auth.RoleViewer)
	if err != nil {
		return err
	}
	out := a.toAppJSON(app)
	if app.WorkerID != 0 {
		out.WorkerAddress = a.workerAddress(r.Context(), app.WorkerID)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// workerAddress is where a worker's apps are reachable ("" if unknown).
func (a *API) workerAddress(ctx context.Context, id int64) string {
	w, err := a.Store.GetWorker(ctx, id)
	if err != nil {
		return ""
	}
	return w.Address
}

func (a *API) updateApp(w http.ResponseWriter, r *http.Request, p *principal) error {
	app, _, err := a.appFromPath(r, p, auth.RoleMember)
	if err != nil {
		return err
	}
	var in appInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Name != nil && *in.Name != app.Name {
		return errValidation("an app's name cannot change (it is its address); create a new app instead")
	}
	if in.Team != nil {
		return errValidation("moving an app to another team is not supported")
	}
	ctx := r.Context()
	if len(in.Env) > 0 {
		names := make([]string, 0, len(in.Env))
		for k := range in.Env {
			names = append(names, k)
		}
		if err := a.checkEnvCap(ctx, app.ID, names); err != nil {
			return err
		}
	}
	// The change applies to the app as it is when it is saved, not as it
	// was when the request came in (a slow body, another edit, an
	// operator's suspension): UpdateApp refuses a stale copy, so read
	// again and re-apply.
	for attempt := 1; ; attempt++ {
		if err := a.applyUpdate(app, &in); err != nil {
			return err
		}
		err := a.Store.UpdateApp(ctx, app)
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrConflict) || attempt == 5 {
			if errors.Is(err, store.ErrConflict) {
				return errConflict("the app is being changed by someone else; try again")
			}
			return err
		}
		if app, err = a.Store.GetApp(ctx, app.ID); err != nil {
			return err
		}
	}
	if err := a.setEnvs(ctx, app.ID, in.Env); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.toAppJSON(app))
	return nil
}

// applyUpdate validates the update and copies it onto app, git token
// included.
func (a *API) applyUpdate(app *store.App, in *appInput) error {
	oldOrigin := repoOrigin(app.RepoURL)
	if err := in.applyTo(app); err != nil {
		return err
	}
	switch {
	case in.GitToken != nil:
		app.GitTokenEnc = nil
		if *in.GitToken != "" {
			app.GitTokenEnc = a.Box.Seal([]byte(*in.GitToken), gitTokenContext(app.ID))
		}
	case app.GitTokenEnc != nil && repoOrigin(app.RepoURL) != oldOrigin:
		// The worker sends the token to the repository's host: moving the
		// repo elsewhere with the old token would hand it to that host.
		return errValidation("repo_url moves the repository to another host (or scheme), and the app has a git token: " +
			"send git_token with it (\"\" to remove the token)")
	}
	return nil
}

// repoOrigin is models.RepoOrigin, lowercase (hosts and schemes compare
// without case).
func repoOrigin(raw string) string {
	o, _ := models.RepoOrigin(raw)
	return strings.ToLower(o)
}

func (a *API) deleteApp(w http.ResponseWriter, r *http.Request, p *principal) error {
	app, _, err := a.appFromPath(r, p, auth.RoleAdmin)
	if err != nil {
		return err
	}
	ctx := r.Context()
	// The delete job outlives the app row: the worker still removes the
	// container and images after the app is gone from the database.
	if app.WorkerID != 0 {
		if _, err := a.Dispatch.Enqueue(ctx, app, models.JobDelete, ""); err != nil {
			return err
		}
	}
	if err := a.Store.DeleteApp(ctx, app.ID); err != nil {
		return err
	}
	// The app is gone either way; logs left by a failure here are
	// removed by the server's janitor.
	if err := a.RuntimeLogs.Delete(app.ID); err != nil {
		a.Logger.Warn("delete runtime logs", "app_id", app.ID, "err", err)
	}
	a.Logs.Drop(app.ID)
	a.Logger.Info("app deleted", "app", app.Name, "user_id", p.User.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) restartApp(w http.ResponseWriter, r *http.Request, p *principal) error {
	return a.appJob(w, r, p, models.JobRestart)
}

func (a *API) stopApp(w http.ResponseWriter, r *http.Request, p *principal) error {
	return a.appJob(w, r, p, models.JobStop)
}

func (a *API) appJob(w http.ResponseWriter, r *http.Request, p *principal, jobType string) error {
	app, _, err := a.appFromPath(r, p, auth.RoleMember)
	if err != nil {
		return err
	}
	if app.Suspended && jobType == models.JobRestart {
		return errForbidden("this app is suspended") // stopping stays allowed
	}
	if app.WorkerID == 0 || app.CurrentDeploymentID == "" {
		return errConflict("the app has not been deployed yet")
	}
	job, err := a.Dispatch.Enqueue(r.Context(), app, jobType, "")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"job_id": job.ID, "status": job.State})
	return nil
}

type envEntry struct {
	Name  string `json:"name"`
	Value string `json:"value,omitzero"`
}

// listEnv returns names, and values only with ?reveal=1 (members and up).
func (a *API) listEnv(w http.ResponseWriter, r *http.Request, p *principal) error {
	reveal := r.URL.Query().Get("reveal") == "1"
	min := auth.RoleViewer
	if reveal {
		min = auth.RoleMember
	}
	app, _, err := a.appFromPath(r, p, min)
	if err != nil {
		return err
	}
	env, err := a.Store.ListAppEnv(r.Context(), app.ID)
	if err != nil {
		return err
	}
	out := make([]envEntry, 0, len(env))
	for k, enc := range env {
		e := envEntry{Name: k}
		if reveal {
			v, err := a.Box.Open(enc, envContext(app.ID, k))
			if err != nil {
				return err
			}
			e.Value = string(v)
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, http.StatusOK, out)
	return nil
}

// setEnvs seals and stores vars, all or none; the store enforces the
// maxEnvVars cap in the same transaction.
func (a *API) setEnvs(ctx context.Context, appID string, vars map[string]string) error {
	if len(vars) == 0 {
		return nil
	}
	sealed := make(map[string][]byte, len(vars))
	for k, v := range vars {
		sealed[k] = a.Box.Seal([]byte(v), envContext(appID, k))
	}
	if err := a.Store.SetAppEnvs(ctx, appID, sealed, maxEnvVars); errors.Is(err, store.ErrEnvCap) {
		return errValidation("too many env vars: an app may have at most %d", maxEnvVars)
	} else if err != nil {
		return err
	}
	return nil
}

// checkEnvCap refuses early a change that would leave the app with more
// than maxEnvVars variables (before an update's other fields are saved;
// setEnvs enforces the cap for good).
func (a *API) checkEnvCap(ctx context.Context, appID string, names []string) error {
	cur, err := a.Store.ListAppEnv(ctx, appID)
	if err != nil {
		return err
	}
	n := len(cur)
	for _, k := range names {
		if _, ok := cur[k]; !ok {
			n++
		}
	}
	if n > maxEnvVars {
		return errValidation("too many env vars: an app may have at most %d", maxEnvVars)
	}
	return nil
}

func (a *API) setEnv(w http.ResponseWriter, r *http.Request, p *principal) error {
	app, _, err := a.appFromPath(r, p, auth.RoleMember)
	if err != nil {
		return err
	}
	var in struct {
		Value string `json:"value"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	name := r.PathValue("name")
	if err := models.ValidateEnv(name, in.Value); err != nil {
		return errValidation("%v", err)
	}
	if err := a.setEnvs(r.Context(), app.ID, map[string]string{name: in.Value}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) unsetEnv(w http.ResponseWriter, r *http.Request, p *principal) error {
	app, _, err := a.appFromPath(r, p, auth.RoleMember)
	if err != nil {
		return err
	}
	if err := a.Store.UnsetAppEnv(r.Context(), app.ID, r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
