// Package worker is the worker agent: it registers with the control plane,
// keeps a signed WebSocket to it, and builds and runs users' apps with
// podman, enforcing their limits and reporting logs, stats and status.
//
// Files: agent.go (identity, jobs, heartbeats), transport.go (the
// WebSocket), deploy.go (the build-and-run pipeline), git.go, dockerfile.go,
// ports.go, limits.go (runtime probe, disk quota, bandwidth), monitor.go
// (health policies, stats, runtime logs), runner.go (external programs).
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wisehosting/wisehosting/internal/httpx"
	"github.com/wisehosting/wisehosting/internal/models"
	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// Container and image conventions shared by the pipeline and the monitor.
const (
	LabelManaged    = "wisehosting.managed" // "true" on everything we create
	LabelAppID      = "wisehosting.app_id"
	LabelApp        = "wisehosting.app"
	LabelDeployment = "wisehosting.deployment"
	LabelHostPort   = "wisehosting.host_port"
	// LabelBandwidth is the egress cap in bits/s (absent: none). The cap
	// lives in the container's network namespace, which a `podman start`
	// recreates, so the monitor applies it again after each restart.
	LabelBandwidth = "wisehosting.bandwidth_bps"
	// LabelAgent names the agent (its instance id, see loadInstanceID)
	// that made a container: several agents may share one podman (tests,
	// development machines), and the start-up sweep of one must not
	// touch what another is doing.
	LabelAgent = "wisehosting.agent"
)

// ContainerName is the podman name of an app's container.
func ContainerName(app string) string { return "wh-" + app }

// nextSuffix ends the name of a new version's container while a deploy
// checks it. App names are lowercase letters, digits and dashes, so a
// name ending in "_next" is never another app's container ("-next" would
// be: an app may be called foo-next).
const nextSuffix = "_next"

// NextContainerName is the podman name of an app's new version while a
// deploy starts and checks it; it is renamed to ContainerName once the
// old container is gone.
func NextContainerName(app string) string { return ContainerName(app) + nextSuffix }

// isNextName reports whether a container name is a new version under
// check (NextContainerName), not yet the app.
func isNextName(name string) bool {
	return strings.HasPrefix(name, "wh-") && strings.HasSuffix(name, nextSuffix)
}

// ImageRepo is the local image repository of an app's builds.
func ImageRepo(app string) string { return "localhost/wh-" + app }

// jobQueueDepth bounds accepted-but-not-started jobs.
const jobQueueDepth = 32

// Agent is one worker.
type Agent struct {
	cfg    Config
	log    *slog.Logger
	run    Runner
	client *http.Client

	ctx    context.Context
	cancel context.CancelFunc

	workerID int64

	tokenMu      sync.RWMutex
	currentJWT   string
	jwtExpiresAt time.Time

	ws *wsClient

	jobs   chan *wsproto.JobPayload
	jobMu  sync.Mutex // held while a job runs: one at a time
	portMu sync.Mutex // serialises port allocation
	seen   *jobRecords

	// connEpoch counts connections to the control plane; build-log
	// streams resend from offset 0 when it changes.
	connEpoch atomic.Int64

	diskQuota bool   // --storage-opt size= works here
	runtime   string // podman --runtime value ("" = podman's default)
	instance  string // this agent's id in its data dir (LabelAgent)

	wg sync.WaitGroup
}

// NewAgent builds an agent; Start runs it.
func NewAgent(cfg Config) (*Agent, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("worker: data dir: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &Agent{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "worker"),
		run:    cfg.Runner,
		client: httpx.NewSecureClient(30 * time.Second),
		ctx:    ctx,
		cancel: cancel,
		jobs:   make(chan *wsproto.JobPayload, jobQueueDepth),
	}
	if a.run == nil {
		a.run = ExecRunner{}
	}
	if strings.HasPrefix(cfg.ControlPlane, "http://") {
		// Plain HTTP is allowed only to loopback or private IPs
		// (validateControlPlaneURL); TLS settings do not apply.
		a.client = &http.Client{Timeout: 30 * time.Second}
	}
	seen, err := loadJobRecords(filepath.Join(cfg.DataDir, "jobs.json"))
	if err != nil {
		cancel()
		return nil, err
	}
	a.seen = seen
	if a.instance, err = loadInstanceID(cfg.DataDir); err != nil {
		cancel()
		return nil, err
	}
	return a, nil
}

// Start probes the host, registers, connects and runs every loop until
// Stop or a fatal error. Running apps are never touched by starting or
// stopping the agent.
func (a *Agent) Start() error {
	a.runtime = a.probeRuntime(a.ctx)
	a.diskQuota = a.probeDiskQuotaSupport(a.ctx)
	// Before any job runs: a deploy cut short by a crash of the agent
	// leaves a new version's container behind.
	a.reconcileNextContainers(a.ctx)
	if err := a.register(); err != nil {
		return err
	}
	ws, err := newWSClient(a.ctx, a.cfg.ControlPlane, a.cfg.APIKey, a.authToken, a.handleInbound, a.onConnected, a.log)
	if err != nil {
		return err
	}
	a.ws = ws
	loops := []func(){a.heartbeatLoop, a.monitorLoop, a.jobLoop, a.jwtRefreshLoop, a.ws.Run}
	for _, f := range loops {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			f()
		}()
	}
	<-a.ctx.Done()
	a.ws.Stop()
	a.wg.Wait()
	return nil
}

// Stop cancels every loop; Start returns once they have ended.
func (a *Agent) Stop() { a.cancel() }

// register posts this worker's metadata and raw key, and keeps the JWT.
func (a *Agent) register() error {
	host, _ := os.Hostname()
	req := wsproto.RegisterRequest{APIKey: a.cfg.APIKey, RegisterPayload: wsproto.RegisterPayload{
		Name: a.cfg.Name, Hostname: host, Version: a.cfg.Version, OS: runtime.GOOS, Arch: runtime.GOARCH,
		CPUs: runtime.NumCPU(), MemoryBytes: totalMemory(), DiskQuota: a.diskQuota,
		PortRange: [2]int{a.cfg.PortLo, a.cfg.PortHi}, Address: a.cfg.Address,
	}}
	var resp wsproto.RegisterResponse
	if err := a.postJSON("/v1/workers/register", "", req, &resp); err != nil {
		return fmt.Errorf("worker: register: %w", err)
	}
	a.workerID = resp.WorkerID
	a.setJWT(resp.Token, resp.TokenExpiresAt)
	a.log.Info("registered", "worker_id", resp.WorkerID, "token_expires_at", resp.TokenExpiresAt)
	return nil
}

func (a *Agent) postJSON(path, bearer string, body, out any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(a.ctx, http.MethodPost, strings.TrimRight(a.cfg.ControlPlane, "/")+path, strings.NewReader(string(data)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	text, err := readAll(resp)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		_ = json.Unmarshal([]byte(text), &e)
		return fmt.Errorf("%s: %d %s", path, resp.StatusCode, e.Error)
	}
	return json.Unmarshal([]byte(text), out)
}

// readAll drains a response body (bounded: answers are small).
func readAll(resp *http.Response) (string, error) {
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return string(b), err
}

// setJWT stores a freshly minted token.
func (a *Agent) setJWT(token string, expires time.Time) {
	a.tokenMu.Lock()
	a.currentJWT, a.jwtExpiresAt = token, expires
	a.tokenMu.Unlock()
}

// authToken is the credential for the next WebSocket dial: the JWT while it
// is valid, else the raw API key (which the control plane also accepts).
func (a *Agent) authToken() string {
	a.tokenMu.RLock()
	defer a.tokenMu.RUnlock()
	if a.currentJWT != "" && time.Now().Before(a.jwtExpiresAt) {
		return a.currentJWT
	}
	return a.cfg.APIKey
}

// refreshJWT renews the JWT with the raw API key, the only long-lived
// credential that may mint new tokens.
func (a *Agent) refreshJWT() error {
	var resp wsproto.TokenResponse
	if err := a.postJSON("/v1/workers/refresh-token", a.cfg.APIKey, struct{}{}, &resp); err != nil {
		return fmt.Errorf("worker: refresh token: %w", err)
	}
	a.setJWT(resp.Token, resp.TokenExpiresAt)
	return nil
}

// jwtRefreshLoop refreshes 2 minutes before expiry and retries every
// minute on failure; failures are never fatal (authToken falls back).
func (a *Agent) jwtRefreshLoop() {
	for {
		a.tokenMu.RLock()
		exp := a.jwtExpiresAt
		a.tokenMu.RUnlock()
		wait := time.Until(exp.Add(-2 * time.Minute))
		if exp.IsZero() || wait < 0 {
			wait = 0
		}
		select {
		case <-a.ctx.Done():
			return
		case <-time.After(wait):
		}
		if err := a.refreshJWT(); err != nil {
			a.log.Warn("JWT refresh failed; retrying in a minute", "err", err)
			select {
			case <-a.ctx.Done():
				return
			case <-time.After(time.Minute):
			}
		}
	}
}

// onConnected runs after every (re)connection: report at once, so the
// control plane sees the worker online and re-sends unfinished jobs.
func (a *Agent) onConnected() {
	a.connEpoch.Add(1)
	go func() {
		if err := a.sendHeartbeat(); err != nil {
			a.log.Debug("heartbeat after connect", "err", err)
		}
	}()
}

// handleInbound dispatches one verified envelope from the control plane.
func (a *Agent) handleInbound(e *wsproto.Envelope) {
	switch e.Type {
	case wsproto.TypeJob:
		var job wsproto.JobPayload
		if err := e.Decode(&job); err != nil {
			a.log.Warn("malformed job", "err", err)
			return
		}
		a.acceptJob(&job)
	case wsproto.TypeRegistered, wsproto.TypeError:
		a.log.Debug("control plane message", "type", e.Type)
	default:
		a.log.Debug("ignored message", "type", e.Type)
	}
}

// acceptJob acks a job on receipt. A job seen before is never run twice:
// a finished one gets its stored result again, a queued or running one a
// repeated ack. A full queue answers accepted:false (the control plane
// keeps the job pending).
func (a *Agent) acceptJob(job *wsproto.JobPayload) {
	if rec, ok := a.seen.get(job.JobID); ok {
		_ = a.emit(wsproto.TypeJobAck, wsproto.JobAckPayload{JobID: job.JobID, Accepted: true})
		if rec.Result != nil {
			_ = a.emit(wsproto.TypeJobResult, rec.Result)
		}
		return
	}
	// Recorded before it is queued: a job that finishes at once must not
	// have its "done" record overwritten by this one.
	a.seen.put(job.JobID, jobRecord{State: "queued"})
	select {
	case a.jobs <- job:
		_ = a.emit(wsproto.TypeJobAck, wsproto.JobAckPayload{JobID: job.JobID, Accepted: true})
	default:
		a.seen.forget(job.JobID)
		_ = a.emit(wsproto.TypeJobAck, wsproto.JobAckPayload{JobID: job.JobID, Accepted: false, Reason: "job queue full"})
	}
}

// jobLoop runs jobs one at a time, in order.
func (a *Agent) jobLoop() {
	for {
		select {
		case <-a.ctx.Done():
			return
		case job := <-a.jobs:
			a.runJob(job)
		}
	}
}

// runJob validates, runs and reports one job.
func (a *Agent) runJob(job *wsproto.JobPayload) {
	a.jobMu.Lock()
	defer a.jobMu.Unlock()
	log := a.log.With("job_id", job.JobID, "type", job.Type, "app_id", job.AppID)
	start := time.Now()
	a.seen.put(job.JobID, jobRecord{State: "running"})
	var res wsproto.JobResultPayload
	if err := validateJob(job); err != nil {
		log.Warn("job refused", "err", err)
		res = wsproto.JobResultPayload{Success: false, Message: "refused: " + err.Error()}
	} else {
		a.updateJobStatus(job.JobID, wsproto.JobProcessing, "", 0)
		switch job.Type {
		case models.JobDeploy:
			res = a.executeDeploy(job.JobID, job.DeploymentID, job.Deploy)
		case models.JobRestart:
			res = a.executeRestart(job.JobID, job.DeploymentID, job.Deploy)
		case models.JobStop:
			res = a.executeStop(job.JobID, job.Deploy)
		case models.JobDelete:
			res = a.executeDelete(job.JobID, job.Deploy)
		}
	}
	res.JobID, res.DeploymentID = job.JobID, job.DeploymentID
	res.DurationMS = time.Since(start).Milliseconds()
	a.seen.put(job.JobID, jobRecord{State: "done", Result: &res})
	log.Info("job finished", "success", res.Success, "message", res.Message, "ms", res.DurationMS)
	a.completeJob(job.JobID, res)
}

// validateJob refuses hostile input before any command runs.
func validateJob(job *wsproto.JobPayload) error {
	switch job.Type {
	case models.JobDeploy, models.JobRestart, models.JobStop, models.JobDelete:
	default:
		return fmt.Errorf("unknown job type %q", job.Type)
	}
	if job.Deploy == nil {
		return errors.New("job has no app")
	}
	d := job.Deploy
	if err := models.ValidateAppName(d.AppName); err != nil {
		return err
	}
	if job.Type != models.JobDeploy && job.Type != models.JobRestart {
		return nil
	}
	if d.ImageID != "" {
		if !imageIDRE.MatchString(d.ImageID) {
			return fmt.Errorf("image id %q is not a sha256 id", d.ImageID)
		}
	} else {
		if err := models.ValidateRepoURL(d.RepoURL); err != nil {
			return err
		}
		if d.Branch != "" {
			if err := models.ValidateBranch(d.Branch); err != nil {
				return err
			}
		}
		if d.Commit != "" {
			if err := models.ValidateCommit(d.Commit); err != nil {
				return err
			}
		}
		if err := models.ValidateDockerfilePath(d.DockerfilePath); err != nil {
			return err
		}
	}
	for k, v := range d.Env {
		if err := models.ValidateEnv(k, v); err != nil {
			return err
		}
	}
	if d.Port < 1 || d.Port > 65535 {
		return fmt.Errorf("port %d must be between 1 and 65535", d.Port)
	}
	if err := models.ValidateHealthCheckPath(d.HealthCheckPath); err != nil {
		return err
	}
	return d.Limits.Validate()
}

// emit sends a message to the control plane.
func (a *Agent) emit(msgType string, payload any) error {
	if a.ws == nil {
		return errors.New("worker: not connected")
	}
	return a.ws.Emit(msgType, payload)
}

func (a *Agent) updateJobStatus(jobID, status, message string, progress int) {
	if err := a.emit(wsproto.TypeJobStatus, wsproto.JobStatusPayload{JobID: jobID, Status: status, Message: message, Progress: progress}); err != nil {
		a.log.Debug("job status not sent", "job_id", jobID, "err", err)
	}
}

func (a *Agent) completeJob(jobID string, res wsproto.JobResultPayload) {
	a.monitor().noteChange()
	if err := a.emit(wsproto.TypeJobResult, res); err != nil {
		// The control plane re-sends the job on reconnect; the stored
		// result answers it then.
		a.log.Warn("job result not sent; it will be answered on redelivery", "job_id", jobID, "err", err)
	}
}

func (a *Agent) reportAppStatus(r models.AppStatusReport) {
	if r.At.IsZero() {
		r.At = time.Now()
	}
	a.monitor().noteChange()
	_ = a.emit(wsproto.TypeAppStatus, r)
}

func (a *Agent) reportViolation(v models.ViolationReport) {
	if v.At.IsZero() {
		v.At = time.Now()
	}
	_ = a.emit(wsproto.TypeViolation, v)
}

// heartbeatLoop reports every HeartbeatInterval.
func (a *Agent) heartbeatLoop() {
	t := time.NewTicker(a.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
			if err := a.sendHeartbeat(); err != nil {
				a.log.Debug("heartbeat not sent", "err", err)
			}
		}
	}
}

// sendHeartbeat reports resources and the apps that really run.
func (a *Agent) sendHeartbeat() error {
	ctx, cancel := context.WithTimeout(a.ctx, 20*time.Second)
	defer cancel()
	res := a.getResourceUsage(ctx)
	apps, err := a.runningApps(ctx)
	if err != nil {
		a.log.Warn("list apps for heartbeat", "err", err)
	}
	return a.emit(wsproto.TypeHeartbeat, wsproto.HeartbeatPayload{Status: wsproto.WorkerReady, Resources: res, Apps: apps})
}

// totalMemory reads MemTotal from /proc/meminfo (0 if unknown).
func totalMemory() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kb int64
		if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
			return kb << 10
		}
	}
	return 0
}
