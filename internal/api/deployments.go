package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/wisehosting/wisehosting/internal/auth"
	"github.com/wisehosting/wisehosting/internal/models"
	"github.com/wisehosting/wisehosting/internal/store"
)

type deploymentJSON struct {
	ID         string    `json:"id"`
	AppID      string    `json:"app_id"`
	App        string    `json:"app,omitzero"`
	Status     string    `json:"status"`
	Trigger    string    `json:"trigger"`
	Branch     string    `json:"branch,omitzero"`
	Commit     string    `json:"commit,omitzero"`
	Message    string    `json:"message,omitzero"`
	ImageID    string    `json:"image_id,omitzero"`
	WorkerID   int64     `json:"worker_id,omitzero"`
	CreatedBy  string    `json:"created_by,omitzero"`
	CreatedAt  time.Time `json:"created_at"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	LogBytes   int64     `json:"log_bytes"`
}

func toDeploymentJSON(d *store.Deployment, appName string) deploymentJSON {
	return deploymentJSON{ID: d.ID, AppID: d.AppID, App: appName, Status: d.Status, Trigger: d.Trigger, Branch: d.Branch,
		Commit: d.CommitSHA, Message: d.Message, ImageID: d.ImageID, WorkerID: d.WorkerID, CreatedBy: d.CreatedBy,
		CreatedAt: d.CreatedAt, StartedAt: d.StartedAt, FinishedAt: d.FinishedAt, LogBytes: d.LogLen}
}

func (a *API) createDeployment(w http.ResponseWriter, r *http.Request, p *principal) error {
	app, _, err := a.appFromPath(r, p, auth.RoleMember)
	if err != nil {
		return err
	}
	var in struct {
		Commit string `json:"commit"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return err
		}
	}
	if in.Commit != "" {
		if err := models.ValidateCommit(in.Commit); err != nil {
			return errValidation("%v", err)
		}
	}
	if app.Suspended {
		return errForbidden("this app is suspended")
	}
	d, err := a.Dispatch.CreateDeployment(r.Context(), app, store.TriggerAPI, in.Commit, p.User.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toDeploymentJSON(d, app.Name))
	return nil
}

// rollbackApp runs an earlier deployment's image again: the one named in
// the body, or by default the version that ran before the current one.
// The image must still be on the app's worker (it keeps the current and
// the previous one); no build runs, so it takes seconds.
func (a *API) rollbackApp(w http.ResponseWriter, r *http.Request, p *principal) error {
	app, _, err := a.appFromPath(r, p, auth.RoleMember)
	if err != nil {
		return err
	}
	var in struct {
		DeploymentID string `json:"deployment_id"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			return err
		}
	}
	if app.Suspended {
		return errForbidden("this app is suspended")
	}
	if app.WorkerID == 0 || app.CurrentDeploymentID == "" {
		return errConflict("the app has not been deployed yet")
	}
	var target *store.Deployment
	if in.DeploymentID != "" {
		target, err = a.Store.GetDeployment(r.Context(), in.DeploymentID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && target.AppID != app.ID) {
			return errNotFound("no such deployment of this app")
		}
		if err != nil {
			return err
		}
		if target.Status != store.DeploymentRunning || target.ImageID == "" {
			return errConflict("deployment " + target.ID + " never ran, so there is no image to roll back to")
		}
	} else {
		if app.PreviousImageID == "" {
			return errConflict("there is no previous version to roll back to")
		}
		ds, err := a.Store.ListDeployments(r.Context(), app.ID, 200)
		if err != nil {
			return err
		}
		for i := range ds { // newest first
			if ds[i].Status == store.DeploymentRunning && ds[i].ImageID == app.PreviousImageID {
				target = &ds[i]
				break
			}
		}
		if target == nil {
			return errConflict("the previous version's deployment is no longer recorded")
		}
	}
	if target.ImageID == app.ImageID {
		return errConflict("deployment " + target.ID + " is the version running now")
	}
	d, err := a.Dispatch.CreateRollback(r.Context(), app, target, p.User.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toDeploymentJSON(d, app.Name))
	return nil
}

func (a *API) listDeployments(w http.ResponseWriter, r *http.Request, p *principal) error {
	app, _, err := a.appFromPath(r, p, auth.RoleViewer)
	if err != nil {
		return err
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	ds, err := a.Store.ListDeployments(r.Context(), app.ID, limit)
	if err != nil {
		return err
	}
	out := make([]deploymentJSON, 0, len(ds))
	for i := range ds {
		out = append(out, toDeploymentJSON(&ds[i], app.Name))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// deploymentFromPath loads {id} and checks the caller may see its app.
func (a *API) deploymentFromPath(r *http.Request, p *principal) (*store.Deployment, *store.App, error) {
	d, err := a.Store.GetDeployment(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, errNotFound("no such deployment")
	}
	if err != nil {
		return nil, nil, err
	}
	app, err := a.Store.GetApp(r.Context(), d.AppID)
	if err != nil {
		return nil, nil, errNotFound("no such deployment")
	}
	if _, err := a.teamRole(r.Context(), p, app.TeamID); err != nil {
		return nil, nil, errNotFound("no such deployment")
	}
	return d, app, nil
}

func (a *API) getDeployment(w http.ResponseWriter, r *http.Request, p *principal) error {
	d, app, err := a.deploymentFromPath(r, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toDeploymentJSON(d, app.Name))
	return nil
}
