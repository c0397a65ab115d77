// Package dispatch connects the database's desired state to the workers'
// actual state. It places jobs on workers and delivers them at least once
// (protocol.md §4), and applies what workers report: job progress and
// results, build and runtime logs, stats, app status and violations.
//
// The database is the source of truth for jobs: every transition is written
// before it is acted on, so a control-plane restart loses nothing; the
// dispatch loop simply finds pending and unacknowledged jobs again.
package dispatch

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"

	"strings"
	"sync"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/wisehosting/wisehosting/internal/auth"
	"github.com/wisehosting/wisehosting/internal/hub"
	"github.com/wisehosting/wisehosting/internal/logbus"
	"github.com/wisehosting/wisehosting/internal/logstore"
	"github.com/wisehosting/wisehosting/internal/models"
	"github.com/wisehosting/wisehosting/internal/notify"
	"github.com/wisehosting/wisehosting/internal/store"
	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// Timing of delivery.
const (
	// DefaultAckTimeout is how long a sent job may wait for its job_ack
	// before it is sent again.
	DefaultAckTimeout = 30 * time.Second
	// tick is how often the loop looks for work even without a kick.
	tick = 2 * time.Second
	// minPassInterval spaces out passes triggered by kicks.
	minPassInterval = 100 * time.Millisecond
)

// Dispatcher places and delivers jobs and handles worker messages. It
// implements hub.Handler.
type Dispatcher struct {
	store *store.Store
	rlogs *logstore.Store // runtime log files

	// Placement cache of the ingest writer (ingest.go); its goroutine only.
	placeGen     uint64
	placeCache   map[string]store.AppPlacement
	placeMissing map[string]bool
	hbWritten    map[int64]hbWrite // last heartbeat written per worker
	hub          *hub.Hub
	box          *auth.SecretBox
	logs         *logbus.Bus
	notify       *notify.Broker
	log          *slog.Logger
	now          func() time.Time
	kick         chan struct{}
	events       EventSink

	// AckTimeout may be shortened by tests; set it before Run.
	AckTimeout time.Duration

	fresh sync.Map // worker id → true until its first heartbeat on a new connection

	ingestCh   chan ingestItem // see ingest.go
	ingestFull chan struct{}   // cap 1: "the queue is full, write now"
}

// Webhook event names.
const (
	EventDeploymentSucceeded = "deployment.succeeded"
	EventDeploymentFailed    = "deployment.failed"
	EventAppCrashed          = "app.crashed"
	EventAppStopped          = "app.stopped"
	EventViolation           = "violation"
)

// EventSink receives events for a team (outbound webhooks). Emit must not
// block: it records the event and returns.
type EventSink interface {
	Emit(ctx context.Context, teamID, event string, data any)
}

type nopSink struct{}

func (nopSink) Emit(context.Context, string, string, any) {}

// SetEvents sets where events go (default: nowhere).
func (d *Dispatcher) SetEvents(e EventSink) { d.events = e }

// New returns a Dispatcher; it writes the runtime logs workers report to
// rlogs. SetHub must be called before Run (the hub and the dispatcher refer
// to each other).
func New(s *store.Store, rlogs *logstore.Store, box *auth.SecretBox, logs *logbus.Bus, n *notify.Broker, log *slog.Logger) *Dispatcher {
	return &Dispatcher{store: s, rlogs: rlogs, box: box, logs: logs, notify: n, log: log.With("component", "dispatch"),
		now: time.Now, kick: make(chan struct{}, 1), events: nopSink{}, ingestCh: make(chan ingestItem, ingestQueue),
		ingestFull: make(chan struct{}, 1),
		AckTimeout: DefaultAckTimeout}
}

// SetHub completes the wiring.
func (d *Dispatcher) SetHub(h *hub.Hub) { d.hub = h }

// Kick asks the loop to look for work now.
func (d *Dispatcher) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Run delivers jobs until ctx is done.
func (d *Dispatcher) Run(ctx context.Context) error {
	ingestDone := make(chan struct{})
	go func() {
		defer close(ingestDone)
		d.runIngest(ctx)
	}()
	defer func() { <-ingestDone }()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		d.deliverPending(ctx)
		d.redeliverUnacked(ctx)
		passed := time.Now()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-d.kick:
			// A kick after a quiet spell is served at once (a new
			// deployment should not wait); bursts of kicks are coalesced
			// to at most ten passes a second.
			if wait := minPassInterval - time.Since(passed); wait > 0 {
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(wait):
				}
			}
		}
	}
}

// CreateDeployment records a queued deployment and its deploy job in one
// transaction, then wakes the loop.
func (d *Dispatcher) CreateDeployment(ctx context.Context, app *store.App, trigger, commit, userID string) (*store.Deployment, error) {
	dep := &store.Deployment{AppID: app.ID, Status: store.DeploymentQueued, Trigger: trigger, Branch: app.Branch,
		CommitSHA: commit, CreatedBy: userID}
	job := &store.Job{Type: models.JobDeploy, AppID: app.ID, AppName: app.Name, State: store.JobPending}
	if err := d.store.CreateDeploymentWithJob(ctx, dep, job); err != nil {
		return nil, fmt.Errorf("dispatch: create deployment: %w", err)
	}
	d.log.Info("deployment queued", "app", app.Name, "deployment_id", dep.ID, "job_id", job.ID)
	d.Kick()
	return dep, nil
}

// CreateRollback records a deployment that runs target's image again, with
// the app's current settings and env, on the app's worker (the image lives
// there; no build).
func (d *Dispatcher) CreateRollback(ctx context.Context, app *store.App, target *store.Deployment, userID string) (*store.Deployment, error) {
	dep := &store.Deployment{AppID: app.ID, Status: store.DeploymentQueued, Trigger: store.TriggerRollback,
		Branch: target.Branch, CommitSHA: target.CommitSHA, ImageID: target.ImageID, CreatedBy: userID,
		Message: "rollback to deployment " + target.ID}
	job := &store.Job{Type: models.JobDeploy, AppID: app.ID, AppName: app.Name, WorkerID: app.WorkerID, State: store.JobPending}
	if err := d.store.CreateDeploymentWithJob(ctx, dep, job); err != nil {
		return nil, fmt.Errorf("dispatch: create rollback: %w", err)
	}
	d.log.Info("rollback queued", "app", app.Name, "deployment_id", dep.ID, "to", target.ID, "job_id", job.ID)
	d.Kick()
	return dep, nil
}

// Enqueue records a job of another type (restart, stop, delete) for app's
// worker.
func (d *Dispatcher) Enqueue(ctx context.Context, app *store.App, jobType, deploymentID string) (*store.Job, error) {
	job := &store.Job{Type: jobType, AppID: app.ID, AppName: app.Name, DeploymentID: deploymentID,
		WorkerID: app.WorkerID, State: store.JobPending}
	if err := d.store.CreateJob(ctx, job); err != nil {
		return nil, fmt.Errorf("dispatch: create %s job: %w", jobType, err)
	}
	d.Kick()
	return job, nil
}

func (d *Dispatcher) deliverPending(ctx context.Context) {
	jobs, err := d.store.ListPendingJobs(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("list pending jobs", "err", err)
		}
		return
	}
	if len(jobs) == 0 {
		return
	}
	// Candidates are computed once per pass, from the hub's in-memory view
	// of who is online, and the worker rows are read only if some job
	// needs a placement decision: never one scan per job.
	var cands *candidates
	for i := range jobs {
		job := &jobs[i]
		workerID, err := d.place(ctx, job, &cands)
		if err != nil {
			d.log.Debug("job not placed yet", "job_id", job.ID, "reason", err)
			continue
		}
		d.send(ctx, job, workerID)
	}
}

// candidates are the online, non-revoked workers of one dispatch pass.
type candidates struct {
	workers []store.Worker
	err     error
}

func (d *Dispatcher) loadCandidates(ctx context.Context) *candidates {
	c := &candidates{}
	online := map[int64]bool{}
	for _, ci := range d.hub.Snapshot() {
		if ci.Online {
			online[ci.WorkerID] = true
		}
	}
	if len(online) == 0 {
		return c
	}
	all, err := d.store.ListWorkers(ctx)
	if err != nil {
		c.err = err
		return c
	}
	for _, w := range all {
		if online[w.ID] && w.RevokedAt.IsZero() {
			c.workers = append(c.workers, w)
		}
	}
	return c
}

// place picks the job's worker: the app's own worker when it has one (its
// container lives there), else the online, non-draining worker with the
// most free memory.
func (d *Dispatcher) place(ctx context.Context, job *store.Job, cands **candidates) (int64, error) {
	if job.WorkerID != 0 {
		if !d.hub.Online(job.WorkerID) {
			return 0, errors.New("its worker is offline")
		}
		return job.WorkerID, nil
	}
	if job.Type != models.JobDeploy {
		return 0, errors.New("the app has no worker")
	}
	if *cands == nil {
		*cands = d.loadCandidates(ctx)
	}
	c := *cands
	if c.err != nil {
		return 0, c.err
	}
	if len(c.workers) == 0 {
		return 0, errors.New("no worker is online")
	}
	app, err := d.store.GetApp(ctx, job.AppID)
	if err != nil {
		return 0, err
	}
	best, bestFree := int64(0), int64(-1)
	for i := range c.workers {
		w := &c.workers[i]
		if w.ID == app.WorkerID && !w.Draining {
			return w.ID, nil
		}
		if w.Draining {
			continue
		}
		if free := freeMemory(w); free > bestFree {
			best, bestFree = w.ID, free
		}
	}
	if best == 0 {
		return 0, errors.New("every online worker is draining")
	}
	return best, nil
}

func freeMemory(w *store.Worker) int64 {
	var r models.WorkerResources
	if w.ResourcesJSON != "" && json.Unmarshal([]byte(w.ResourcesJSON), &r) == nil && r.MemoryTotalBytes > 0 {
		return r.MemoryTotalBytes - r.MemoryUsedBytes
	}
	return w.MemoryBytes
}

// send assigns, builds and sends one job. The payload (with decrypted
// secrets) is built at send time and never stored.
func (d *Dispatcher) send(ctx context.Context, job *store.Job, workerID int64) {
	log := d.log.With("job_id", job.ID, "worker_id", workerID, "type", job.Type)
	if job.WorkerID != workerID {
		if err := d.store.AssignJob(ctx, job.ID, workerID); err != nil {
			log.Error("assign job", "err", err)
			return
		}
		job.WorkerID = workerID
	}
	payload, err := d.jobPayload(ctx, job)
	if err != nil {
		log.Error("build job payload; failing the job", "err", err)
		d.finish(ctx, job, false, nil, "could not prepare the job: "+err.Error())
		return
	}
	if err := d.store.MarkJobSent(ctx, job.ID, d.now()); err != nil {
		log.Error("mark job sent", "err", err)
		return
	}
	if err := d.hub.Send(workerID, wsproto.TypeJob, payload); err != nil {
		// Stays "sent"; redelivery picks it up after AckTimeout or on
		// reconnect.
		log.Warn("send job", "err", err)
		return
	}
	log.Info("job sent")
}

func (d *Dispatcher) jobPayload(ctx context.Context, job *store.Job) (*wsproto.JobPayload, error) {
	p := &wsproto.JobPayload{JobID: job.ID, Type: job.Type, AppID: job.AppID, DeploymentID: job.DeploymentID}
	if job.Type != models.JobDeploy && job.Type != models.JobRestart {
		p.Deploy = &models.DeployPayload{AppID: job.AppID, AppName: job.AppName}
		return p, nil
	}
	app, err := d.store.GetApp(ctx, job.AppID)
	if err != nil {
		return nil, err
	}
	dp := &models.DeployPayload{
		AppID: app.ID, AppName: app.Name, RepoURL: app.RepoURL, Branch: app.Branch, DockerfilePath: app.DockerfilePath,
		Port: app.Port, HealthCheckPath: app.HealthCheckPath,
		Limits: models.Limits{MemoryBytes: app.MemoryBytes, CPUMillis: app.CPUMillis, DiskBytes: app.DiskBytes, BandwidthBitsPerSec: app.BandwidthBps},
	}
	if job.DeploymentID != "" {
		dep, err := d.store.GetDeployment(ctx, job.DeploymentID)
		if err != nil {
			return nil, err
		}
		dp.Commit = dep.CommitSHA
		if dep.Trigger == store.TriggerRollback {
			dp.ImageID = dep.ImageID
		}
	}
	if len(app.GitTokenEnc) > 0 {
		tok, err := d.box.Open(app.GitTokenEnc, "app:"+app.ID+":git_token")
		if err != nil {
			return nil, fmt.Errorf("decrypt git token: %w", err)
		}
		dp.GitToken = string(tok)
	}
	env, err := d.store.ListAppEnv(ctx, app.ID)
	if err != nil {
		return nil, err
	}
	if len(env) > 0 {
		dp.Env = make(map[string]string, len(env))
		for k, enc := range env {
			v, err := d.box.Open(enc, "app:"+app.ID+":env:"+k)
			if err != nil {
				return nil, fmt.Errorf("decrypt env %s: %w", k, err)
			}
			dp.Env[k] = string(v)
		}
	}
	p.Deploy = dp
	return p, nil
}

// redeliverUnacked sends again every job sent longer than d.AckTimeout ago
// without an acknowledgement.
func (d *Dispatcher) redeliverUnacked(ctx context.Context) {
	jobs, err := d.store.ListStaleSentJobs(ctx, d.now().Add(-d.AckTimeout))
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("list stale jobs", "err", err)
		}
		return
	}
	for i := range jobs {
		if d.hub.Online(jobs[i].WorkerID) {
			d.send(ctx, &jobs[i], jobs[i].WorkerID)
		}
	}
}

// WorkerConnected re-sends every unfinished job of a worker that
// (re)connects; the worker recognises jobs it has already seen.
func (d *Dispatcher) WorkerConnected(ctx context.Context, c *hub.Conn) {
	id := c.WorkerID()
	// A worker revoked while its connection was being set up passed the
	// authenticator but missed the hub's Disconnect: close it here, after
	// registration, so no revoked worker keeps a socket.
	if w, err := d.store.GetWorker(ctx, id); err == nil && !w.RevokedAt.IsZero() {
		d.log.Info("closing the socket of a revoked worker", "worker_id", id)
		c.Close()
		return
	}
	_ = d.store.TouchWorker(ctx, id, d.now())
	jobs, err := d.store.ListUnfinishedJobsForWorker(ctx, id)
	if err != nil {
		d.log.Error("list unfinished jobs", "worker_id", id, "err", err)
		return
	}
	for i := range jobs {
		if jobs[i].State != store.JobPending {
			d.send(ctx, &jobs[i], id)
		}
	}
	// The worker counts as online from its first message; that heartbeat
	// kicks the loop (see onHeartbeat).
	d.fresh.Store(id, true)
}

// WorkerDisconnected only logs: jobs stay where they are until it returns
// or an operator moves its apps.
func (d *Dispatcher) WorkerDisconnected(ctx context.Context, workerID int64) {
	d.log.Info("worker disconnected", "worker_id", workerID)
}

// AuthenticateWorker implements hub.Authenticator: a worker JWT, or the raw
// API key as fallback (protocol §1). The HMAC key is the stored sha256.
func (d *Dispatcher) AuthenticateWorker(ctx context.Context, bearer string, tokens *auth.WorkerTokens) (int64, []byte, error) {
	var w *store.Worker
	var err error
	if strings.Count(bearer, ".") == 2 {
		id, verr := tokens.Verify(bearer)
		if verr != nil {
			return 0, nil, verr
		}
		w, err = d.store.GetWorker(ctx, id)
		if err == nil && !w.RevokedAt.IsZero() {
			err = store.ErrNotFound
		}
	} else {
		w, err = d.store.GetWorkerByKeyHash(ctx, auth.HashToken(bearer))
	}
	if err != nil {
		return 0, nil, fmt.Errorf("dispatch: authenticate worker: %w", err)
	}
	key, err := hex.DecodeString(w.APIKeyHash)
	if err != nil || len(key) != 32 {
		return 0, nil, errors.New("dispatch: worker key hash is malformed")
	}
	return w.ID, key, nil
}

// WorkerAuth adapts the dispatcher to hub.Authenticator.
type WorkerAuth struct {
	D      *Dispatcher
	Tokens *auth.WorkerTokens
}

// AuthenticateWorker implements hub.Authenticator.
func (a WorkerAuth) AuthenticateWorker(ctx context.Context, bearer string) (int64, []byte, error) {
	return a.D.AuthenticateWorker(ctx, bearer, a.Tokens)
}
