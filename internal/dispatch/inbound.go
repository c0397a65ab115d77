package dispatch

import (
	"context"
	"errors"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/wisehosting/wisehosting/internal/hub"
	"github.com/wisehosting/wisehosting/internal/models"
	"github.com/wisehosting/wisehosting/internal/store"
	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// DeploymentTopic is the notify key published when a deployment changes
// (status or build log); the API's live streams wait on it.
func DeploymentTopic(id string) string { return "deployment:" + id }

// HandleEnvelope applies one verified message from a worker. A worker may
// only speak about its own jobs and the apps placed on it; anything else is
// logged and ignored.
func (d *Dispatcher) HandleEnvelope(ctx context.Context, c *hub.Conn, e *wsproto.Envelope) {
	wid := c.WorkerID()
	var err error
	switch e.Type {
	// The reports that make up nearly all the traffic are decoded and
	// queued for the batch writer (ingest.go), with nothing else per
	// message: no logger, no timer. They give up when shutdown begins
	// (they are not acknowledged).
	case wsproto.TypeRuntimeLog:
		err = d.onRuntimeLog(ctx, wid, e)
	case wsproto.TypeAppStats:
		err = d.onAppStats(ctx, wid, e)
	case wsproto.TypeHeartbeat:
		err = d.onHeartbeat(ctx, wid, e)
	default:
		err = d.handleOther(ctx, wid, e)
	}
	if err != nil && ctx.Err() == nil {
		d.log.Warn("message not applied", "worker_id", wid, "type", e.Type, "err", err)
	}
}

// handleOther applies the rarer messages. A verified message is applied
// even if shutdown begins meanwhile.
func (d *Dispatcher) handleOther(ctx context.Context, wid int64, e *wsproto.Envelope) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	switch e.Type {
	case wsproto.TypeJobAck:
		return d.onJobAck(ctx, wid, e)
	case wsproto.TypeJobStatus:
		return d.onJobStatus(ctx, wid, e)
	case wsproto.TypeJobResult:
		return d.onJobResult(ctx, wid, e)
	case wsproto.TypeBuildLog:
		return d.onBuildLog(ctx, wid, e)
	case wsproto.TypeAppStatus:
		return d.onAppStatus(ctx, wid, e)
	case wsproto.TypeViolation:
		return d.onViolation(ctx, wid, e)
	case wsproto.TypeRegister, wsproto.TypeError:
		d.log.Debug("ignored message", "worker_id", wid, "type", e.Type)
	default:
		d.log.Warn("unknown message type", "worker_id", wid, "type", e.Type)
	}
	return nil
}

var errNotYours = errors.New("refers to a job or app not placed on this worker")

func (d *Dispatcher) onHeartbeat(ctx context.Context, wid int64, e *wsproto.Envelope) error {
	var p wsproto.HeartbeatPayload
	if err := e.Decode(&p); err != nil {
		return err
	}
	res, _ := json.Marshal(p.Resources)
	apps, _ := json.Marshal(p.Apps)
	if _, first := d.fresh.LoadAndDelete(wid); first {
		d.Kick() // a worker that just came online may take pending jobs
	}
	// Recorded by the batch writer (ingest.go), with the reconciliation of
	// what the worker runs: one transaction for many workers' heartbeats.
	return d.enqueueIngest(ctx, ingestItem{workerID: wid, heartbeat: &heartbeatItem{at: d.now(),
		resources: string(res), appsJSON: string(apps), apps: p.Apps}})
}

// runsJobFor reports whether worker wid holds an unfinished job of app.
func (d *Dispatcher) runsJobFor(ctx context.Context, wid int64, appID string) bool {
	jobs, err := d.store.ListUnfinishedJobsForWorker(ctx, wid)
	if err != nil {
		return false
	}
	for i := range jobs {
		if jobs[i].AppID == appID {
			return true
		}
	}
	return false
}

// ownJob loads a job and checks it belongs to the worker.
func (d *Dispatcher) ownJob(ctx context.Context, wid int64, jobID string) (*store.Job, error) {
	job, err := d.store.GetJob(ctx, jobID)
	if err != nil {
		return nil, err
	}
	if job.WorkerID != wid {
		return nil, errNotYours
	}
	return job, nil
}

func (d *Dispatcher) onJobAck(ctx context.Context, wid int64, e *wsproto.Envelope) error {
	var p wsproto.JobAckPayload
	if err := e.Decode(&p); err != nil {
		return err
	}
	job, err := d.ownJob(ctx, wid, p.JobID)
	if err != nil {
		return err
	}
	if p.Accepted {
		return d.store.MarkJobAcked(ctx, job.ID, d.now())
	}
	// The worker's queue is full: the job stays pending here and is sent
	// again by the loop. Never dropped.
	d.log.Info("job refused by worker; will retry", "job_id", job.ID, "reason", p.Reason)
	return d.store.MarkJobPending(ctx, job.ID, p.Reason)
}

func (d *Dispatcher) onJobStatus(ctx context.Context, wid int64, e *wsproto.Envelope) error {
	var p wsproto.JobStatusPayload
	if err := e.Decode(&p); err != nil {
		return err
	}
	job, err := d.ownJob(ctx, wid, p.JobID)
	if err != nil {
		return err
	}
	if job.State == store.JobSent {
		_ = d.store.MarkJobAcked(ctx, job.ID, d.now()) // progress implies receipt
	}
	if job.DeploymentID == "" {
		return nil
	}
	var status string
	switch p.Status {
	case wsproto.JobCloning, wsproto.JobBuilding:
		status = store.DeploymentBuilding
	case wsproto.JobStarting:
		status = store.DeploymentStarting
	default:
		return nil
	}
	if err := d.store.UpdateDeploymentStatus(ctx, job.DeploymentID, status, p.Message, d.now()); err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	d.notify.Publish(DeploymentTopic(job.DeploymentID))
	return nil
}

func (d *Dispatcher) onJobResult(ctx context.Context, wid int64, e *wsproto.Envelope) error {
	var p wsproto.JobResultPayload
	if err := e.Decode(&p); err != nil {
		return err
	}
	job, err := d.ownJob(ctx, wid, p.JobID)
	if err != nil {
		return err
	}
	if job.State == store.JobDone || job.State == store.JobFailed {
		return nil // a redelivered result: history does not change
	}
	raw, _ := json.Marshal(p)
	// The app's runtime is recorded before the job and deployment finish,
	// so anyone who sees the deployment running also sees the app's port.
	if p.Success {
		if err := d.applyResultToApp(ctx, wid, job, &p); err != nil {
			return err
		}
	}
	d.finish(ctx, job, p.Success, raw, p.Message)
	return nil
}

func (d *Dispatcher) applyResultToApp(ctx context.Context, wid int64, job *store.Job, p *wsproto.JobResultPayload) error {
	app, err := d.store.GetApp(ctx, job.AppID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // deleted meanwhile
	}
	if err != nil {
		return err
	}
	switch job.Type {
	case models.JobDeploy, models.JobRestart:
		rt := store.AppRuntime{Status: models.AppRunning, WorkerID: wid, HostPort: p.HostPort, ContainerID: p.ContainerID,
			ImageID: p.ImageID, PreviousImageID: app.PreviousImageID}
		if p.ImageID != "" && p.ImageID != app.ImageID {
			rt.PreviousImageID = app.ImageID
		} else if p.ImageID == "" {
			rt.ImageID = app.ImageID
		}
		if job.DeploymentID != "" {
			rt.CurrentDeploymentID = job.DeploymentID
		}
		return d.store.UpdateAppRuntime(ctx, app.ID, rt)
	case models.JobStop:
		return d.store.SetAppStatus(ctx, app.ID, models.AppStopped, "")
	}
	return nil
}

// finish records a job's end and moves its deployment to running or failed.
func (d *Dispatcher) finish(ctx context.Context, job *store.Job, success bool, result []byte, msg string) {
	if err := d.store.FinishJob(ctx, job.ID, success, string(result), msg, d.now()); err != nil {
		d.log.Error("finish job", "job_id", job.ID, "err", err)
		return
	}
	if job.DeploymentID == "" {
		return
	}
	status := store.DeploymentRunning
	if !success {
		status = store.DeploymentFailed
	}
	if err := d.store.UpdateDeploymentStatus(ctx, job.DeploymentID, status, msg, d.now()); err != nil && !errors.Is(err, store.ErrConflict) {
		d.log.Error("finish deployment", "deployment_id", job.DeploymentID, "err", err)
	}
	if success && len(result) > 0 {
		var r wsproto.JobResultPayload
		if json.Unmarshal(result, &r) == nil {
			_ = d.store.SetDeploymentResult(ctx, job.DeploymentID, r.ImageID, r.Commit)
		}
	}
	app, appErr := d.store.GetApp(ctx, job.AppID)
	if !success && appErr == nil && app.ContainerID == "" {
		_ = d.store.SetAppStatus(ctx, app.ID, "failed", msg)
	}
	if appErr == nil {
		event := EventDeploymentSucceeded
		if !success {
			event = EventDeploymentFailed
		}
		d.events.Emit(ctx, app.TeamID, event, map[string]any{"app": app.Name, "app_id": app.ID,
			"deployment_id": job.DeploymentID, "status": status, "message": msg})
	}
	d.notify.Publish(DeploymentTopic(job.DeploymentID))
	d.log.Info("deployment finished", "deployment_id", job.DeploymentID, "status", status)
}

func (d *Dispatcher) onBuildLog(ctx context.Context, wid int64, e *wsproto.Envelope) error {
	var p wsproto.BuildLogPayload
	if err := e.Decode(&p); err != nil {
		return err
	}
	job, err := d.ownJob(ctx, wid, p.JobID)
	if err != nil {
		return err
	}
	if job.DeploymentID == "" || job.DeploymentID != p.DeploymentID {
		return errNotYours
	}
	if _, err := d.store.AppendBuildLog(ctx, p.DeploymentID, p.Offset, p.Data); err != nil {
		return err
	}
	d.notify.Publish(DeploymentTopic(p.DeploymentID))
	return nil
}

func (d *Dispatcher) onRuntimeLog(ctx context.Context, wid int64, e *wsproto.Envelope) error {
	var p wsproto.RuntimeLogPayload
	if err := e.Decode(&p); err != nil {
		return err
	}
	if len(p.Lines) == 0 {
		return nil
	}
	return d.enqueueIngest(ctx, ingestItem{workerID: wid, logs: p.Lines})
}

func (d *Dispatcher) onAppStats(ctx context.Context, wid int64, e *wsproto.Envelope) error {
	var p wsproto.AppStatsPayload
	if err := e.Decode(&p); err != nil {
		return err
	}
	if len(p.Apps) == 0 {
		return nil
	}
	return d.enqueueIngest(ctx, ingestItem{workerID: wid, stats: &p})
}

func (d *Dispatcher) onAppStatus(ctx context.Context, wid int64, e *wsproto.Envelope) error {
	var p wsproto.AppStatusPayload
	if err := e.Decode(&p); err != nil {
		return err
	}
	app, err := d.store.GetApp(ctx, p.AppID)
	if err != nil {
		return errNotYours
	}
	if app.WorkerID != wid {
		// An app's first deploy reports its new container before the job
		// result places the app on the worker: accept it from the worker
		// that runs one of the app's jobs, drop it from anyone else.
		if app.WorkerID != 0 || !d.runsJobFor(ctx, wid, app.ID) {
			return errNotYours
		}
		if p.Status == models.AppRunning && p.HostPort > 0 && p.ContainerID != "" {
			rt := app.Runtime()
			rt.Status, rt.StatusMessage, rt.WorkerID, rt.HostPort, rt.ContainerID = p.Status, p.Message, wid, p.HostPort, p.ContainerID
			return d.store.UpdateAppRuntime(ctx, app.ID, rt)
		}
		return nil
	}
	// A running report with a host port names the container that serves the
	// app now: a zero-downtime deploy reports its new container this way
	// before it stops the old one, so the router switches first.
	if p.Status == models.AppRunning && p.HostPort > 0 && p.ContainerID != "" {
		if err := d.store.SetAppEndpoint(ctx, p.AppID, p.Status, p.Message, p.HostPort, p.ContainerID); err != nil {
			return err
		}
	} else if err := d.store.SetAppStatus(ctx, p.AppID, p.Status, p.Message); err != nil {
		return err
	}
	if app.Status != p.Status && (p.Status == models.AppCrashed || p.Status == models.AppStopped) {
		event := EventAppCrashed
		if p.Status == models.AppStopped {
			event = EventAppStopped
		}
		d.events.Emit(ctx, app.TeamID, event, map[string]any{"app": app.Name, "app_id": app.ID, "status": p.Status, "message": p.Message})
	}
	return nil
}

func (d *Dispatcher) onViolation(ctx context.Context, wid int64, e *wsproto.Envelope) error {
	var p wsproto.ViolationPayload
	if err := e.Decode(&p); err != nil {
		return err
	}
	app, err := d.store.GetApp(ctx, p.AppID)
	if err != nil || app.WorkerID != wid {
		return errNotYours
	}
	at := p.At
	if at.IsZero() {
		at = d.now()
	}
	if err := d.store.InsertViolation(ctx, &store.Violation{AppID: p.AppID, WorkerID: wid, Kind: p.Kind, Message: p.Message, Action: p.Action, At: at}); err != nil {
		return err
	}
	d.events.Emit(ctx, app.TeamID, EventViolation, map[string]any{"app": app.Name, "app_id": app.ID, "kind": p.Kind,
		"message": p.Message, "action": p.Action, "at": at})
	return nil
}
