package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/wisehosting/wisehosting/internal/models"
	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// The deploy pipeline: clone, build, run; and restart, stop, delete.
//
// Every external program goes through a.run as one argv (never a shell);
// every value that came from a user is validated again here, even though
// runJob validated the job, and sits after "--" where the tool allows it.
// The git token is scrubbed (all its spellings, see tokenForms) from the
// build log, every log line, error and result.

// Defaults for limits a payload leaves at zero (the control plane fills
// them in; these only guard against a payload that does not).
const (
	defaultMemoryBytes = 512 << 20
	defaultCPUMillis   = 1000
	defaultPIDs        = 512
)

const (
	// startTimeout bounds the wait for a new container to be running.
	startTimeout = 30 * time.Second
	// maxBuildLogBytes bounds a deployment's log (a build that prints
	// without end is cut, with a note).
	maxBuildLogBytes = 8 << 20
	// maxLogChunk bounds one build_log message (envelopes are ≤ 2 MiB).
	maxLogChunk = 256 << 10
	// resultLogTail is how much of the log a failed job's message quotes.
	resultLogTail = 2 << 10
	// finalFlushTries is how often the last build-log chunk is tried.
	finalFlushTries = 3
)

var (
	// containerRefRE: a container id or name we pass to podman.
	containerRefRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
	// imageTagRE: the tag part of an image reference.
	imageTagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	// labelValueRE: app ids and deployment ids written into labels.
	labelValueRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{0,128}$`)
	// networkNameRE: the build network's name.
	networkNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
)

// LabelCommit records on an image the commit it was built from.
const LabelCommit = "wisehosting.commit"

// validateDeploy re-checks a deploy or restart payload before anything
// runs (runJob did too: defence in depth).
func validateDeploy(deploymentID string, p *models.DeployPayload) error {
	if p == nil {
		return errors.New("job has no app")
	}
	if err := validateJob(&wsproto.JobPayload{Type: models.JobDeploy, Deploy: p}); err != nil {
		return err
	}
	if !labelValueRE.MatchString(p.AppID) {
		return fmt.Errorf("app id %q has unexpected characters", p.AppID)
	}
	if !labelValueRE.MatchString(deploymentID) {
		return fmt.Errorf("deployment id %q has unexpected characters", deploymentID)
	}
	return nil
}

// deployment is one run of the pipeline.
type deployment struct {
	a      *Agent
	jobID  string
	depID  string
	p      *models.DeployPayload
	token  string
	log    *slog.Logger
	logs   *safeBuf
	strip  *localhostStripper
	scrub  *tokenScrubber
	w      io.Writer // strip → scrub → logs
	stream func()    // stops the build-log stream after a last flush
	// warnings: what went wrong after the switch to the new version,
	// which runs (the job succeeds; the result's message says it).
	warnings []string
}

// executeDeploy builds p's repository (or takes p.ImageID, a rollback) and
// runs it in place of the app's current container.
func (a *Agent) executeDeploy(jobID, deploymentID string, p *models.DeployPayload) wsproto.JobResultPayload {
	if err := validateDeploy(deploymentID, p); err != nil {
		return wsproto.JobResultPayload{Success: false, Message: "refused: " + err.Error()}
	}
	d := a.newDeployment(jobID, deploymentID, p)
	res, err := d.run()
	if err != nil {
		_ = d.strip.Flush()
		_ = d.scrub.Flush()
		tail := logTail(d.logs.String(), resultLogTail)
		msg := scrubString(err.Error(), d.token)
		d.say("Deploy failed: %s", msg) // the log says why, too
		d.finishLogs()
		d.log.Warn("deploy failed", "err", msg)
		if tail != "" {
			msg += "\n\nLast lines of the log:\n" + tail
		}
		return wsproto.JobResultPayload{Success: false, Message: msg}
	}
	d.finishLogs()
	res.Success = true
	res.Message = scrubString(res.Message, d.token)
	d.log.Info("deploy finished", "container_id", shortID(res.ContainerID), "image_id", shortID(res.ImageID),
		"host_port", res.HostPort, "commit", res.Commit)
	return res
}

func (a *Agent) newDeployment(jobID, deploymentID string, p *models.DeployPayload) *deployment {
	d := &deployment{a: a, jobID: jobID, depID: deploymentID, p: p, token: p.GitToken,
		log: a.log.With("job_id", jobID, "app", p.AppName, "deployment_id", deploymentID)}
	d.logs = newSafeBuf()
	d.scrub = newTokenScrubber(d.logs, d.token)
	d.strip = newLocalhostStripper(d.scrub)
	d.w = d.strip
	d.stream = func() {}
	if deploymentID != "" { // the control plane files logs by deployment
		ctx, cancel := context.WithCancel(a.ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			a.streamBuildLogsLoop(ctx, jobID, deploymentID, d.logs)
		}()
		d.stream = func() {
			cancel()
			<-done
		}
	}
	return d
}

// finishLogs flushes the writers and sends the rest of the log.
func (d *deployment) finishLogs() {
	_ = d.strip.Flush()
	_ = d.scrub.Flush()
	d.stream()
	d.stream = func() {}
}

// say writes one progress line to the deployment's log.
func (d *deployment) say(format string, args ...any) {
	fmt.Fprintf(d.w, "==> "+format+"\n", args...)
}

func (d *deployment) run() (wsproto.JobResultPayload, error) {
	a, p := d.a, d.p
	var res wsproto.JobResultPayload
	var img imageInfo
	if p.ImageID != "" {
		ref := strings.TrimPrefix(p.ImageID, "sha256:")
		d.say("Using the existing image %s", shortID(ref))
		var err error
		img, err = a.inspectImage(a.ctx, ref)
		if IsNotFound(err) {
			return res, fmt.Errorf("image %s is no longer on this worker: deploy again to rebuild it", shortID(ref))
		}
		if err != nil {
			return res, err
		}
		if img.App != p.AppName {
			return res, fmt.Errorf("image %s does not belong to app %s", shortID(ref), p.AppName)
		}
	} else {
		var err error
		img, err = d.build()
		if err != nil {
			return res, err
		}
	}
	a.updateJobStatus(d.jobID, wsproto.JobStarting, "", 80)
	cid, port, err := d.start(img.ID)
	if err != nil {
		return res, err
	}
	res.ContainerID, res.ImageID, res.HostPort, res.Commit = cid, img.ID, port, img.Commit
	if len(d.warnings) > 0 {
		res.Message = "deployed with warnings: " + strings.Join(d.warnings, "; ")
	}
	return res, nil
}

// build clones and builds; it returns the new image.
func (d *deployment) build() (imageInfo, error) {
	a, p := d.a, d.p
	var img imageInfo
	tmp, err := os.MkdirTemp(a.cfg.DataDir, "build-")
	if err != nil {
		return img, fmt.Errorf("temporary folder: %w", err)
	}
	defer os.RemoveAll(tmp)
	repo := filepath.Join(tmp, "repo")

	a.updateJobStatus(d.jobID, wsproto.JobCloning, "", 10)
	branch := p.Branch
	if branch == "" {
		branch = "default"
	}
	d.say("Cloning %s (branch %s)", p.RepoURL, branch)
	cl, err := a.cloneRepo(a.ctx, p, repo, d.w)
	if err != nil {
		return img, err
	}
	d.say("Commit %s", cl.Commit)
	if err := checkCheckout(repo); err != nil {
		return img, err
	}

	dockerfile, found, err := resolveDockerfile(repo, p.DockerfilePath)
	if err != nil {
		return img, err
	}
	if !found {
		kind, err := detectAppKind(repo)
		if err != nil {
			return img, err
		}
		text, err := generateDockerfile(repo, kind, a.cfg.BaseImages[kind], p.Port)
		if err != nil {
			return img, err
		}
		dockerfile = filepath.Join(tmp, "Dockerfile.wisehosting") // outside the build context
		if err := os.WriteFile(dockerfile, []byte(text), 0o600); err != nil {
			return img, err
		}
		// A generated build copies the whole folder into the image (and a
		// static site serves it): leave the history out.
		if err := os.RemoveAll(filepath.Join(repo, ".git")); err != nil {
			return img, err
		}
		d.say("No Dockerfile: generated one for a %s app\n%s", kind, strings.TrimRight(text, "\n"))
	} else {
		rel, _ := filepath.Rel(mustEval(repo), dockerfile)
		d.say("Using %s", rel)
		if err := a.checkBaseImages(a.ctx, dockerfile, p.AppName); err != nil {
			return img, err
		}
	}

	net, err := a.ensureBuildNetwork(a.ctx)
	if err != nil {
		return img, err
	}
	a.updateJobStatus(d.jobID, wsproto.JobBuilding, "", 40)
	ref := ImageRepo(p.AppName) + ":" + imageTag(d.depID, d.jobID)
	d.say("Building %s", ref)
	iidFile := filepath.Join(tmp, "image-id")
	argv, err := a.buildArgv(p.AppName, cl.Commit, net, ref, dockerfile, repo, iidFile, p.Limits.MemoryBytes)
	if err != nil {
		return img, err
	}
	bctx, cancel := context.WithTimeoutCause(a.ctx, a.cfg.BuildTimeout, fmt.Errorf("the build took longer than %s", a.cfg.BuildTimeout))
	defer cancel()
	if err := a.run.Stream(bctx, d.w, argv...); err != nil {
		forgetBuildNetwork(a, net) // in case it went missing
		if bctx.Err() != nil {
			return img, fmt.Errorf("build failed: %w", context.Cause(bctx))
		}
		return img, fmt.Errorf("build failed: %s", exitText(err))
	}
	// The id podman wrote (--iidfile) spares an inspect; read it back from
	// the tag otherwise.
	img = imageInfo{App: p.AppName, Commit: cl.Commit}
	if b, err := os.ReadFile(iidFile); err == nil && imageIDRE.MatchString(strings.TrimSpace(string(b))) {
		img.ID = strings.TrimPrefix(strings.TrimSpace(string(b)), "sha256:")
	} else if img, err = a.inspectImage(a.ctx, ref); err != nil {
		return img, fmt.Errorf("built image: %w", err)
	}
	if img.Commit == "" {
		img.Commit = cl.Commit
	}
	d.say("Built image %s", shortID(img.ID))
	return img, nil
}

// start runs imageID as the app's new version and moves the app to it
// without downtime (blue/green): the new container starts beside the old
// one, as NextContainerName on a host port of its own; once it runs and
// answers (waitHealthy) the control plane is told its port (app_status
// "switching traffic"), the old container gets DrainDelay to finish what
// it serves, is stopped (SIGTERM) and removed, and the new one takes the
// app's name. If the new version fails at any step it is removed and the
// old container is never touched. It returns the new container's id and
// host port.
func (d *deployment) start(imageID string) (string, int, error) {
	a, p := d.a, d.p
	ctx := a.ctx
	name, next := ContainerName(p.AppName), NextContainerName(p.AppName)
	cs, err := a.listContainers(ctx)
	if err != nil {
		return "", 0, err
	}
	// What an earlier deploy cut short left behind is settled first, so
	// the name of the new version is free.
	old, hadOld, cs, err := a.settleNext(ctx, p.AppName, cs)
	if err != nil {
		return "", 0, err
	}
	depID := d.depID
	if depID == "" && labelValueRE.MatchString(old.Labels[LabelDeployment]) {
		depID = old.Labels[LabelDeployment] // a restart keeps its deployment
	}

	cid, port, err := d.startNext(imageID, depID, cs)
	if err != nil {
		return "", 0, err
	}
	// From here on a failure removes the new version; the old container
	// serves on as if nothing happened.
	fail := func(err error) (string, int, error) {
		if rerr := a.removeContainer(ctx, cid); rerr != nil {
			d.log.Warn("remove the failed new version", "container", next, "err", rerr)
		}
		return "", 0, err
	}
	if rate := p.Limits.BandwidthBitsPerSec; rate > 0 {
		// tc runs in the container's network namespace: it must run.
		// (Without a limit, the health wait below notices an exit.)
		if !a.waitContainerRunning(cid, startTimeout) {
			return fail(a.exitedError(ctx, cid))
		}
		if err := a.applyBandwidthLimit(cid, rate); err != nil {
			return fail(err)
		}
		d.say("Egress limited to %d bit/s", rate)
	}
	if err := d.waitHealthy(cid, port); err != nil {
		return fail(err)
	}

	// The switch. The control plane moves the app's route when it gets
	// this status; the heartbeat reports the new container from now on.
	// It is recorded first: an agent that dies before the rename then
	// completes the switch when it starts again (settleNext).
	a.recordSwitch(p.AppName, cid)
	m := a.monitor()
	m.promote(p.AppID, cid)
	defer m.promote(p.AppID, "")
	a.reportAppStatus(models.AppStatusReport{AppID: p.AppID, ContainerID: cid, Status: models.AppRunning,
		HostPort: port, Message: "switching traffic", At: time.Now()})
	var warnings []string
	if hadOld {
		d.say("Switching traffic to port %d", port)
		if err := d.retire(old); err != nil {
			// The new version serves; the next deploy (or the agent's
			// start) removes what is left (settleNext).
			d.log.Warn("previous container not removed", "container", shortID(old.ID), "err", err)
			d.say("Warning: %v", err)
			warnings = append(warnings, err.Error())
		}
	}
	if err := a.renameContainer(ctx, cid, name); err != nil {
		d.log.Warn("new version not renamed", "container", shortID(cid), "err", err)
		d.say("Warning: %v", err)
		warnings = append(warnings, err.Error())
	} else if len(warnings) == 0 {
		a.recordSwitch(p.AppName, "") // done; else the next settleNext ends it
	}
	d.say("Running: container %s, port %d", shortID(cid), port)
	if len(warnings) > 0 {
		d.warnings = warnings
	}
	// The images to prune are chosen now, among those that exist now, so
	// a later build's image is never among them; removing them does not
	// delay the job's result.
	if imgs, err := a.appImages(ctx, p.AppName); err != nil {
		d.log.Warn("prune images", "err", err)
	} else if ids := imagesToPrune(imgs, imageID, old.ImageID); len(ids) > 0 {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.removeImages(p.AppName, ids)
		}()
	}
	return cid, port, nil
}

// startNext runs the new version as NextContainerName on a free host port
// (never one the old container holds: cs lists it) and returns its id and
// port. A port taken meanwhile ("address already in use") is retried on
// another.
func (d *deployment) startNext(imageID, depID string, cs []psContainer) (string, int, error) {
	a, p := d.a, d.p
	ctx := a.ctx
	next := NextContainerName(p.AppName)
	var cid string
	var port int
	failed := map[int]bool{}
	for attempt := 1; ; attempt++ {
		var err error
		port, err = a.pickHostPort(ctx, 0, failed, cs)
		if err != nil {
			return "", 0, err
		}
		envFile := filepath.Join(a.cfg.DataDir, "env-"+next)
		argv, env, err := a.runArgv(p, next, depID, imageID, port, envFile)
		if err != nil {
			return "", 0, err
		}
		d.say("Starting the new version on port %d", port)
		if err := writePrivateFile(envFile, env); err != nil {
			return "", 0, fmt.Errorf("write the env file: %w", err)
		}
		out, err := a.run.Run(ctx, argv...)
		_ = os.Remove(envFile) // podman read it; the values are in the container now
		if err == nil {
			cid = lastLine(string(out))
			break
		}
		_ = a.removeContainer(ctx, next) // a container created but not started
		if attempt < 3 && strings.Contains(cmdErrText(err), "address already in use") {
			failed[port] = true
			continue
		}
		return "", 0, fmt.Errorf("start container: %s", cmdErrText(err))
	}
	if !containerRefRE.MatchString(cid) {
		_ = a.removeContainer(ctx, next)
		return "", 0, fmt.Errorf("start container: podman printed no container id (%q)", cid)
	}
	return cid, port, nil
}

// exitedError describes a new container that stopped on its own, with its
// last output.
func (a *Agent) exitedError(ctx context.Context, cid string) error {
	logs, _ := a.run.Run(ctx, "podman", "logs", "--tail", "30", "--", cid)
	msg := "the container stopped right after it started"
	if t := strings.TrimSpace(string(logs)); t != "" {
		msg += "; its last output:\n" + logTail(t, resultLogTail)
	}
	return errors.New(msg)
}

// A new version is probed after healthFirstPoll, then at doubling pauses
// up to healthPoll; healthRequestTimeout bounds one probe.
const (
	healthFirstPoll      = 10 * time.Millisecond
	healthPoll           = 250 * time.Millisecond
	healthStateEvery     = 500 * time.Millisecond
	healthRequestTimeout = 2 * time.Second
)

// waitHealthy waits, at most HealthTimeout, until the new version answers
// on its host port: with a health-check path, a GET of it with a status
// from 200 to 399 (redirects are not followed: a redirect is an answer);
// without one, a TCP connect. A container that exits meanwhile fails at
// once, with its last output. A path that never answers fails the
// deploy; a port that never accepts does not (an app may serve no TCP at
// all), it is noted in the log.
func (d *deployment) waitHealthy(cid string, port int) error {
	a, p := d.a, d.p
	timeout := a.cfg.HealthTimeout
	addr := net.JoinHostPort(strings.Trim(a.hostBindIP(), "[]"), strconv.Itoa(port))
	probe := func(ctx context.Context) error {
		var dialer net.Dialer
		c, err := dialer.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	}
	if p.HealthCheckPath != "" {
		target := "http://" + addr + p.HealthCheckPath
		client := &http.Client{
			Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		defer client.CloseIdleConnections()
		probe = func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
			if err != nil {
				return err
			}
			req.Header.Set("User-Agent", "wisehosting-health-check")
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if resp.StatusCode < 200 || resp.StatusCode > 399 {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		}
		d.say("Waiting for GET %s to answer (up to %s)", p.HealthCheckPath, timeout)
	} else {
		d.say("Waiting for the app to accept connections on port %d (up to %s)", port, timeout)
	}
	deadline := time.Now().Add(timeout)
	var last error
	// Most apps answer within milliseconds of starting: probe often at
	// first, then every healthPoll; ask podman whether the container still
	// runs (tens of ms a call) at most every healthStateEvery.
	pause := healthFirstPoll
	var stateChecked time.Time
	for {
		ctx, cancel := context.WithTimeout(a.ctx, min(healthRequestTimeout, max(time.Until(deadline), 100*time.Millisecond)))
		last = probe(ctx)
		cancel()
		if last == nil {
			d.say("Healthy")
			return nil
		}
		if time.Since(stateChecked) >= healthStateEvery {
			if !a.containerRunning(cid) {
				return a.exitedError(a.ctx, cid)
			}
			stateChecked = time.Now()
		}
		if !time.Now().Add(pause).Before(deadline) || a.ctx.Err() != nil {
			break
		}
		select {
		case <-a.ctx.Done():
		case <-time.After(pause):
		}
		pause = min(2*pause, healthPoll)
	}
	if err := a.ctx.Err(); err != nil {
		return fmt.Errorf("health check interrupted: the agent is stopping: %w", err)
	}
	if p.HealthCheckPath != "" {
		return fmt.Errorf("health check: GET %s did not answer with a status from 200 to 399 within %s (last: %s)",
			p.HealthCheckPath, timeout, probeErrText(last))
	}
	d.say("Nothing accepted connections on port %d within %s; continuing (the app may not serve TCP)", port, timeout)
	return nil
}

// probeErrText is a probe's failure without the URL (the user knows it).
func probeErrText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// containerRunning reports whether a container runs now (one inspect).
func (a *Agent) containerRunning(id string) bool {
	out, err := a.run.Run(a.ctx, "podman", "inspect", "--format", "{{.State.Running}}|{{.State.Status}}", "--", id)
	if err != nil {
		return !IsNotFound(err) // an inspect that failed for another reason proves nothing
	}
	running, _, _ := strings.Cut(strings.TrimSpace(string(out)), "|")
	return running == "true"
}

// retire ends the old container once traffic moves away from it: it
// serves for DrainDelay more (the router switches, in-flight requests
// finish), then gets SIGTERM (podman stop, 10 s before SIGKILL) and is
// removed. Its stop is announced by id, so the monitor neither restarts
// it nor mistakes the new container (which will take its name) for it.
func (d *deployment) retire(old psContainer) error {
	a := d.a
	ctx := a.ctx
	running := isRunningState(old.State)
	if running && a.cfg.DrainDelay > 0 {
		d.say("Draining the previous container for %s", a.cfg.DrainDelay)
		select {
		case <-ctx.Done():
		case <-time.After(a.cfg.DrainDelay):
		}
	}
	a.expectStop(old.ID)
	if running {
		if _, err := a.run.Run(ctx, "podman", "stop", "-t", stopGraceSeconds, "--", old.ID); err != nil && !IsNotFound(err) {
			d.log.Warn("stop the previous container", "container", shortID(old.ID), "err", cmdErrText(err)) // rm -f kills it
		}
	}
	if err := a.removeContainer(ctx, old.ID); err != nil {
		return fmt.Errorf("the previous container %s could not be removed: %w", shortID(old.ID), err)
	}
	d.say("Removed the previous container %s", shortID(old.ID))
	return nil
}

// renameContainer gives a container a new name (podman keeps its id, log
// file and state; it keeps running).
func (a *Agent) renameContainer(ctx context.Context, id, name string) error {
	if !containerRefRE.MatchString(id) || !containerRefRE.MatchString(name) {
		return fmt.Errorf("rename container: invalid reference %q or name %q", id, name)
	}
	if _, err := a.run.Run(ctx, "podman", "rename", "--", id, name); err != nil {
		return fmt.Errorf("rename container %s to %s: %s", shortID(id), name, cmdErrText(err))
	}
	return nil
}

// imageTag is the tag of a build: the deployment id, else a short job id.
func imageTag(deploymentID, jobID string) string {
	if imageTagRE.MatchString(deploymentID) {
		return deploymentID
	}
	var b strings.Builder
	for _, c := range jobID {
		if c == '-' && b.Len() == 0 {
			continue
		}
		if c < 0x80 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b.WriteRune(c)
		}
		if b.Len() == 12 {
			break
		}
	}
	if b.Len() == 0 {
		return "job" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	return b.String()
}

// buildArgv is the podman build command.
func (a *Agent) buildArgv(app, commit, network, ref, dockerfile, contextDir, iidFile string, appMemory int64) ([]string, error) {
	if err := models.ValidateAppName(app); err != nil {
		return nil, err
	}
	argv := []string{"podman", "build"}
	if a.runtime != "" {
		argv = append(argv, "--runtime", a.runtime)
	}
	argv = append(argv, "--network="+network, "--no-cache", "--layers=false")
	mem := max(a.cfg.BuildMemoryBytes, appMemory)
	argv = append(argv, "--memory", strconv.FormatInt(mem, 10), "--memory-swap", strconv.FormatInt(mem, 10), "--cpu-shares", "512")
	for _, u := range a.cfg.Ulimits {
		argv = append(argv, "--ulimit", u)
	}
	argv = append(argv,
		"--label", LabelManaged+"=true",
		"--label", LabelApp+"="+app)
	if commit != "" {
		argv = append(argv, "--label", LabelCommit+"="+commit)
	}
	if iidFile != "" {
		argv = append(argv, "--iidfile", iidFile)
	}
	return append(argv, "-t", ref, "-f", dockerfile, "--", contextDir), nil
}

// runArgv is the podman run command of an app's container named name:
// ContainerName, or NextContainerName for a new version being checked.
//
// Capabilities: all are dropped; NET_BIND_SERVICE comes back only when the
// app listens on a port below 1024 inside its container (it cannot bind
// otherwise). Images that switch users at start (gosu, su) or chown files
// need more and are not supported. With --init (when catatonit is
// installed) the app stops on SIGTERM even if it is a shell or a server
// that ignores signals as PID 1, so replacing a container takes no stop
// timeout.
//
// The app's env values are returned apart, as the content of the env file
// the argv names (envFile): the caller writes it before running argv.
func (a *Agent) runArgv(p *models.DeployPayload, name, deploymentID, imageID string, hostPort int, envFile string) ([]string, []byte, error) {
	if err := models.ValidateAppName(p.AppName); err != nil {
		return nil, nil, err
	}
	if name != ContainerName(p.AppName) && name != NextContainerName(p.AppName) {
		return nil, nil, fmt.Errorf("container name %q is not the app's", name)
	}
	if !imageIDRE.MatchString(imageID) {
		return nil, nil, fmt.Errorf("image id %q is not a sha256 id", imageID)
	}
	if !labelValueRE.MatchString(p.AppID) || !labelValueRE.MatchString(deploymentID) {
		return nil, nil, errors.New("app or deployment id has unexpected characters")
	}
	if p.Port < 1 || p.Port > 65535 || hostPort < 1 || hostPort > 65535 {
		return nil, nil, fmt.Errorf("ports %d:%d out of range", hostPort, p.Port)
	}
	mem := p.Limits.MemoryBytes
	if mem <= 0 {
		mem = defaultMemoryBytes
	}
	cpu := p.Limits.CPUMillis
	if cpu <= 0 {
		cpu = defaultCPUMillis
	}
	pids := p.Limits.PIDs
	if pids <= 0 {
		pids = defaultPIDs
	}
	argv := []string{"podman", "run", "-d",
		"--name", name,
		"--label", LabelManaged + "=true",
		"--label", LabelAppID + "=" + p.AppID,
		"--label", LabelApp + "=" + p.AppName,
		"--label", LabelDeployment + "=" + deploymentID,
		"--label", LabelHostPort + "=" + strconv.Itoa(hostPort),
	}
	if rate := p.Limits.BandwidthBitsPerSec; rate > 0 {
		argv = append(argv, "--label", LabelBandwidth+"="+strconv.FormatInt(rate, 10))
	}
	if a.instance != "" {
		argv = append(argv, "--label", LabelAgent+"="+a.instance)
	}
	argv = append(argv,
		"-p", fmt.Sprintf("%s:%d:%d", a.hostBindIP(), hostPort, p.Port),
		"--memory", strconv.FormatInt(mem, 10),
		"--memory-swap", strconv.FormatInt(mem, 10),
		"--cpus", strconv.FormatFloat(float64(cpu)/1000, 'f', -1, 64),
		"--pids-limit", strconv.FormatInt(pids, 10),
	)
	if a.diskQuota && p.Limits.DiskBytes > 0 {
		argv = append(argv, "--storage-opt", "size="+strconv.FormatInt(p.Limits.DiskBytes, 10))
	}
	argv = append(argv, "--cap-drop=ALL")
	if p.Port < 1024 {
		argv = append(argv, "--cap-add=NET_BIND_SERVICE")
	}
	argv = append(argv, "--security-opt", "no-new-privileges")
	if hasContainerInit() {
		argv = append(argv, "--init")
	}
	for _, u := range a.cfg.Ulimits {
		argv = append(argv, "--ulimit", u)
	}
	if a.runtime != "" {
		argv = append(argv, "--runtime", a.runtime)
	}
	// conmon truncates the log file in place at this size (the collector
	// notices and starts over), so an app that floods stdout cannot fill
	// the disk under podman's storage, which no per-app quota covers.
	argv = append(argv, "--restart=no", "--log-opt", "max-size="+strconv.Itoa(containerLogMaxBytes))
	keys := make([]string, 0, len(p.Env))
	for k := range p.Env {
		if k == "PORT" {
			continue // always the app's port
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// Values go through an env file (0600, removed after the run) rather
	// than the command line, which every local user can read in /proc and
	// podman keeps in the container's recorded create command. The file
	// format has no quoting: a value with a line break stays inline.
	var file strings.Builder
	for _, k := range keys {
		v := p.Env[k]
		if err := models.ValidateEnv(k, v); err != nil {
			return nil, nil, err
		}
		if strings.ContainsAny(v, "\r\n") {
			argv = append(argv, "-e", k+"="+v)
			continue
		}
		file.WriteString(k + "=" + v + "\n")
	}
	if file.Len() > 0 {
		argv = append(argv, "--env-file", envFile)
	}
	argv = append(argv, "-e", "PORT="+strconv.Itoa(p.Port))
	return append(argv, "--", strings.TrimPrefix(imageID, "sha256:")), []byte(file.String()), nil
}

// writePrivateFile writes b to a new file at path readable by its owner
// only (a file left there by a crash is replaced, whatever its mode).
func writePrivateFile(path string, b []byte) error {
	_ = os.Remove(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// containerLogMaxBytes caps each container's log file.
const containerLogMaxBytes = 16 << 20

// hostBindIP is the address app ports are published on: the worker's
// Address when it is an IP literal, else loopback (a host name cannot be
// bound; set the address to an IP).
func (a *Agent) hostBindIP() string {
	ip, err := netip.ParseAddr(a.cfg.Address)
	if err != nil || ip.Zone() != "" {
		if a.cfg.Address != "" && a.cfg.Address != "127.0.0.1" {
			a.log.Warn("worker address is not an IP literal: publishing app ports on 127.0.0.1", "address", a.cfg.Address)
		}
		return "127.0.0.1"
	}
	if ip.Is6() && !ip.Is4In6() {
		return "[" + ip.String() + "]"
	}
	return ip.Unmap().String()
}

// ensureBuildNetwork returns the build network, creating it if missing.
// A network seen once is not checked again (forgetBuildNetwork undoes
// that after a failed build).
func (a *Agent) ensureBuildNetwork(ctx context.Context) (string, error) {
	net := a.cfg.BuildNetwork
	switch net {
	case "none", "private":
		return net, nil
	case "host", "":
		return "", fmt.Errorf("build network %q is not allowed: builds need their own network", net)
	}
	if !networkNameRE.MatchString(net) {
		return "", fmt.Errorf("build network name %q is invalid", net)
	}
	key := netKey{a, net}
	if _, ok := knownNetworks.Load(key); ok {
		return net, nil
	}
	if _, err := a.run.Run(ctx, "podman", "network", "exists", "--", net); err == nil {
		knownNetworks.Store(key, true)
		return net, nil
	}
	_, err := a.run.Run(ctx, "podman", "network", "create", "--label", LabelManaged+"=true", "--", net)
	if err != nil && !strings.Contains(strings.ToLower(cmdErrText(err)), "already") {
		return "", fmt.Errorf("create build network %s: %s", net, cmdErrText(err))
	}
	if err == nil {
		a.log.Info("created the build network", "network", net)
	}
	knownNetworks.Store(key, true)
	return net, nil
}

// knownNetworks remembers, per agent, the build networks that exist.
var knownNetworks sync.Map // netKey → true

type netKey struct {
	a    *Agent
	name string
}

func forgetBuildNetwork(a *Agent, net string) { knownNetworks.Delete(netKey{a, net}) }

// imageInfo is what the pipeline reads back from an image.
type imageInfo struct {
	ID     string // bare sha256 hex
	App    string // its wisehosting.app label
	Commit string // its wisehosting.commit label
}

func (a *Agent) inspectImage(ctx context.Context, ref string) (imageInfo, error) {
	var img imageInfo
	out, err := a.run.Run(ctx, "podman", "image", "inspect", "--format",
		`{{.Id}}|{{index .Labels "`+LabelApp+`"}}|{{index .Labels "`+LabelCommit+`"}}`, "--", ref)
	if err != nil {
		if IsNotFound(err) {
			return img, err
		}
		return img, fmt.Errorf("image inspect: %s", cmdErrText(err))
	}
	f := strings.Split(strings.TrimSpace(string(out)), "|")
	img.ID = strings.TrimPrefix(f[0], "sha256:")
	if len(f) > 1 {
		img.App = f[1]
	}
	if len(f) > 2 && isHexID(f[2]) {
		img.Commit = f[2]
	}
	if !imageIDRE.MatchString(img.ID) {
		return img, fmt.Errorf("image inspect: unexpected image id %q", img.ID)
	}
	return img, nil
}

// removeContainer force-removes a container (and its anonymous volumes);
// a missing one is fine.
func (a *Agent) removeContainer(ctx context.Context, name string) error {
	a.expectStop(name) // the monitor must not take this for a crash
	if _, err := a.run.Run(ctx, "podman", "rm", "-f", "-v", "--", name); err != nil && !IsNotFound(err) {
		return fmt.Errorf("remove container %s: %s", name, cmdErrText(err))
	}
	return nil
}

// waitContainerRunning polls the container's state every 500 ms until it
// runs (true), has exited, or timeout passes (false).
func (a *Agent) waitContainerRunning(id string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		out, err := a.run.Run(a.ctx, "podman", "inspect", "--format", "{{.State.Running}}|{{.State.Status}}", "--", id)
		if err == nil {
			running, status, _ := strings.Cut(strings.TrimSpace(string(out)), "|")
			if running == "true" {
				return true
			}
			switch status {
			case "exited", "stopped", "dead", "removing":
				return false
			}
		} else if IsNotFound(err) {
			return false
		}
		if time.Now().Add(500 * time.Millisecond).After(deadline) {
			return false
		}
		select {
		case <-a.ctx.Done():
			return false
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// listedImage is one entry of `podman images --format json`.
type listedImage struct {
	ID      string   `json:"Id"`
	Names   []string `json:"Names"`
	Created int64    `json:"Created"`
}

func (a *Agent) appImages(ctx context.Context, app string) ([]listedImage, error) {
	if err := models.ValidateAppName(app); err != nil {
		return nil, err
	}
	out, err := a.run.Run(ctx, "podman", "images", "--filter", "label="+LabelApp+"="+app, "--format", "json")
	if err != nil {
		return nil, fmt.Errorf("list images: %s", cmdErrText(err))
	}
	var imgs []listedImage
	if len(bytes.TrimSpace(out)) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(out, &imgs); err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	return imgs, nil
}

// removeImages removes images of an app that imagesToPrune chose.
// Failures are logged, never fatal; podman refuses to remove an image a
// container uses.
func (a *Agent) removeImages(appName string, ids []string) {
	ctx, cancel := context.WithTimeout(a.ctx, 2*time.Minute)
	defer cancel()
	for _, id := range ids {
		if _, err := a.run.Run(ctx, "podman", "rmi", "--", id); err != nil && !IsNotFound(err) {
			a.log.Warn("prune image", "app", appName, "image", shortID(id), "err", cmdErrText(err))
		}
	}
}

// imagesToPrune chooses, among an app's images imgs, those to remove after
// a deploy: all but keep (the image now running; an id or a tag) and one
// image for a rollback: previous (the image of the container just
// replaced) when it is listed, else the newest other one. imgs must be
// listed by the job itself, so no later build's image is in it. Nothing
// is chosen when keep is not listed.
func imagesToPrune(imgs []listedImage, keep, previous string) []string {
	matches := func(img listedImage, ref string) bool {
		if ref == "" {
			return false
		}
		ref = strings.TrimPrefix(ref, "sha256:")
		if strings.TrimPrefix(img.ID, "sha256:") == ref {
			return true
		}
		for _, n := range img.Names {
			if n == ref {
				return true
			}
		}
		return false
	}
	if !slices.ContainsFunc(imgs, func(img listedImage) bool { return matches(img, keep) }) {
		return nil // the running image is not listed: decide nothing
	}
	var rest []listedImage
	prevFound := false
	for _, img := range imgs {
		switch {
		case matches(img, keep):
		case matches(img, previous):
			prevFound = true
		default:
			rest = append(rest, img)
		}
	}
	sort.SliceStable(rest, func(i, j int) bool { return rest[i].Created > rest[j].Created })
	if !prevFound && len(rest) > 0 {
		rest = rest[1:] // the newest other image stands in for the previous one
	}
	ids := make([]string, 0, len(rest))
	for _, img := range rest {
		ids = append(ids, strings.TrimPrefix(img.ID, "sha256:"))
	}
	return ids
}

// executeRestart restarts the app. When its container exists, the app is
// recreated from the image that container runs — the same code, with the
// payload's current env and limits — by the deploy pipeline (a rollback to
// that image: blue/green, so on a new host port, announced by app_status).
// Without a container (removed by hand) it deploys the payload from source
// as the seed did.
func (a *Agent) executeRestart(jobID, deploymentID string, p *models.DeployPayload) wsproto.JobResultPayload {
	if err := validateDeploy(deploymentID, p); err != nil {
		return wsproto.JobResultPayload{Success: false, Message: "refused: " + err.Error()}
	}
	a.updateJobStatus(jobID, wsproto.JobStopping, "", 5)
	if p.ImageID == "" {
		cs, err := a.listContainers(a.ctx)
		if err != nil {
			return wsproto.JobResultPayload{Success: false, Message: err.Error()}
		}
		if c, ok := findContainer(cs, ContainerName(p.AppName)); ok && imageIDRE.MatchString(c.ImageID) {
			q := *p
			q.ImageID = c.ImageID
			return a.executeDeploy(jobID, deploymentID, &q)
		}
	}
	return a.executeDeploy(jobID, deploymentID, p)
}

// executeStop stops the app's container (5 s grace); a missing container
// is already stopped. A new version left by a deploy cut short is settled
// first (settleNext), so the container stopped is the app's.
func (a *Agent) executeStop(jobID string, p *models.DeployPayload) wsproto.JobResultPayload {
	if p == nil || models.ValidateAppName(p.AppName) != nil {
		return wsproto.JobResultPayload{Success: false, Message: "refused: invalid app name"}
	}
	a.updateJobStatus(jobID, wsproto.JobStopping, "", 50)
	if cs, err := a.listContainers(a.ctx); err != nil {
		a.log.Warn("stop: list containers", "app", p.AppName, "err", err)
	} else if _, _, _, err := a.settleNext(a.ctx, p.AppName, cs); err != nil {
		a.log.Warn("stop: settle the new version", "app", p.AppName, "err", err)
	}
	a.expectStop(ContainerName(p.AppName))
	_, err := a.run.Run(a.ctx, "podman", "stop", "-t", "5", "--", ContainerName(p.AppName))
	switch {
	case err == nil:
		return wsproto.JobResultPayload{Success: true, Message: "stopped"}
	case IsNotFound(err):
		return wsproto.JobResultPayload{Success: true, Message: "not running (no container)"}
	}
	return wsproto.JobResultPayload{Success: false, Message: "stop: " + cmdErrText(err)}
}

// executeDelete stops and removes the app's containers (its own and a new
// version's, NextContainerName) and every image of the app; whatever is
// already gone is fine.
func (a *Agent) executeDelete(jobID string, p *models.DeployPayload) wsproto.JobResultPayload {
	if p == nil || models.ValidateAppName(p.AppName) != nil {
		return wsproto.JobResultPayload{Success: false, Message: "refused: invalid app name"}
	}
	ctx := a.ctx
	name := ContainerName(p.AppName)
	a.updateJobStatus(jobID, wsproto.JobStopping, "", 30)
	var errs []string
	a.expectStop(name)
	if _, err := a.run.Run(ctx, "podman", "stop", "-t", "5", "--", name); err != nil && !IsNotFound(err) {
		a.log.Warn("delete: stop", "app", p.AppName, "err", cmdErrText(err)) // rm -f kills it anyway
	}
	for _, n := range []string{name, NextContainerName(p.AppName)} {
		if err := a.removeContainer(ctx, n); err != nil {
			errs = append(errs, err.Error())
		}
	}
	imgs, err := a.appImages(ctx, p.AppName)
	if err != nil {
		errs = append(errs, err.Error())
	}
	for _, img := range imgs {
		id := strings.TrimPrefix(img.ID, "sha256:")
		if _, err := a.run.Run(ctx, "podman", "rmi", "-f", "--", id); err != nil && !IsNotFound(err) {
			errs = append(errs, fmt.Sprintf("remove image %s: %s", shortID(id), cmdErrText(err)))
		}
	}
	if len(errs) > 0 {
		return wsproto.JobResultPayload{Success: false, Message: "delete: " + strings.Join(errs, "; ")}
	}
	return wsproto.JobResultPayload{Success: true, Message: fmt.Sprintf("deleted the container and %d image(s)", len(imgs))}
}

// cmdErrText describes a failed command without its argv (which may hold
// the clone URL's token or env values): program, exit code, stderr tail.
func cmdErrText(err error) string {
	if err == nil {
		return ""
	}
	var ce *CommandError
	if !errors.As(err, &ce) {
		return err.Error()
	}
	msg := strings.TrimSpace(ce.Stderr)
	if msg == "" && ce.Err != nil {
		msg = ce.Err.Error()
	}
	return fmt.Sprintf("%s exited with %d: %s", programName(ce.Argv), ce.ExitCode, logTail(msg, 1500))
}

// exitText is cmdErrText for a streamed command, whose output is in the
// log already.
func exitText(err error) string {
	var ce *CommandError
	if errors.As(err, &ce) {
		return fmt.Sprintf("%s exited with %d", programName(ce.Argv), ce.ExitCode)
	}
	return err.Error()
}

// programName names argv's program (past env(1) and its assignments) and
// its subcommand: "git clone", "podman build".
func programName(argv []string) string {
	i := 0
	if len(argv) > 0 && filepath.Base(argv[0]) == "env" {
		for i = 1; i < len(argv) && strings.Contains(argv[i], "="); i++ {
		}
	}
	if i >= len(argv) {
		return "command"
	}
	name := filepath.Base(argv[i])
	for j := i + 1; j < len(argv); j++ {
		switch a := argv[j]; {
		case a == "-c" || a == "-C" || a == "--runtime":
			j++
		case strings.HasPrefix(a, "-"):
		default:
			return name + " " + a
		}
	}
	return name
}

// logTail is the end of s, at most limit bytes, starting at a line.
func logTail(s string, limit int) string {
	s = strings.TrimRight(s, "\n")
	if len(s) <= limit {
		return s
	}
	s = s[len(s)-limit:]
	if i := strings.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
		s = s[i+1:]
	}
	for len(s) > 0 && !utf8.RuneStart(s[0]) {
		s = s[1:]
	}
	return "…\n" + s
}

func mustEval(dir string) string {
	if r, err := filepath.EvalSymlinks(dir); err == nil {
		return r
	}
	return dir
}

// ---- build logs ----

// safeBuf is a bytes.Buffer safe for one writer and concurrent readers,
// bounded at maxBuildLogBytes (the rest is replaced by one note). Its text
// is valid UTF-8 when what is written is (the token scrubber sees to it),
// so any rune-aligned chunk encodes to JSON unchanged.
type safeBuf struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	max       int
	truncated bool
}

func newSafeBuf() *safeBuf { return &safeBuf{max: maxBuildLogBytes} }

func (s *safeBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(p)
	if s.truncated {
		return n, nil
	}
	if s.max > 0 && s.buf.Len()+len(p) > s.max {
		room := s.max - s.buf.Len()
		for room > 0 && room < len(p) && !utf8.RuneStart(p[room]) {
			room--
		}
		s.buf.Write(p[:max(room, 0)])
		s.buf.WriteString("\n[log truncated: more than " + humanBytes(int64(s.max)) + "]\n")
		s.truncated = true
		return n, nil
	}
	s.buf.Write(p)
	return n, nil
}

func (s *safeBuf) WriteString(str string) (int, error) { return s.Write([]byte(str)) }

func (s *safeBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// Snapshot returns the text and its length, taken atomically.
func (s *safeBuf) Snapshot() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String(), s.buf.Len()
}

// chunk returns up to limit bytes from offset from, ending on a rune
// boundary, and the offset after them.
func (s *safeBuf) chunk(from, limit int) (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buf.Bytes()
	if from >= len(b) {
		return "", from
	}
	end := min(len(b), from+limit)
	for end < len(b) && end > from && !utf8.RuneStart(b[end]) {
		end--
	}
	if end == from { // a rune longer than limit: impossible for limit ≥ 4
		end = min(len(b), from+limit)
	}
	return string(b[from:end]), end
}

// streamBuildLogsLoop sends what the log grew by every BuildLogInterval,
// and the rest once ctx ends, as build_log chunks {offset, data}.
func (a *Agent) streamBuildLogsLoop(ctx context.Context, jobID, deploymentID string, logs *safeBuf) {
	streamBuildLogs(ctx, a.cfg.BuildLogInterval, logs, a.connEpoch.Load, func(off int, data string) error {
		return a.emit(wsproto.TypeBuildLog, wsproto.BuildLogPayload{
			JobID: jobID, DeploymentID: deploymentID, Offset: int64(off), Data: data})
	})
}

// streamBuildLogs is streamBuildLogsLoop with the sender given. A failed
// send keeps its offset: the next tick sends from there again (the
// control plane stores chunks idempotently by offset), so no byte is lost
// or sent at two offsets. A chunk queued on a connection that then dropped
// is lost without an error, and the control plane refuses what follows a
// gap; so when epoch (the connection count) changes, the whole log is sent
// again from offset 0 and the control plane keeps only what it lacks. It
// returns the offset reached.
func streamBuildLogs(ctx context.Context, interval time.Duration, logs *safeBuf, epoch func() int64, send func(int, string) error) int {
	if interval <= 0 {
		interval = 2 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	sent := 0
	lastEpoch := epoch()
	resendAfterReconnect := func() {
		if e := epoch(); e != lastEpoch {
			sent, lastEpoch = 0, e
		}
	}
	for {
		select {
		case <-ctx.Done():
			for try := 1; ; try++ {
				var err error
				resendAfterReconnect()
				sent, err = flushBuildLog(logs, sent, send)
				if err == nil || try == finalFlushTries {
					return sent
				}
				time.Sleep(100 * time.Millisecond)
			}
		case <-t.C:
			resendAfterReconnect()
			sent, _ = flushBuildLog(logs, sent, send)
		}
	}
}

// flushBuildLog sends everything after sent, in chunks.
func flushBuildLog(logs *safeBuf, sent int, send func(int, string) error) (int, error) {
	for {
		data, next := logs.chunk(sent, maxLogChunk)
		if data == "" {
			return sent, nil
		}
		if err := send(sent, data); err != nil {
			return sent, err
		}
		sent = next
	}
}

// ---- stream rewriting: token scrubbing, localhost/ stripping ----

// streamRewriter replaces strings in a byte stream even when a match is
// split across writes. It scans left to right; where a match could start
// but the data ends first, it holds the rest back until the next write (or
// Flush) decides. Of the matches at one position the longest wins (olds
// are given longest first). With validUTF8 it also holds back a rune cut
// in two and turns invalid bytes into U+FFFD, so its output is valid UTF-8.
type streamRewriter struct {
	mu        sync.Mutex
	next      io.Writer
	olds      [][]byte // longest first
	news      [][]byte
	validUTF8 bool
	// maskTail: at Flush, a held-back tail that starts a match is
	// replaced too (for secrets: never print part of one).
	maskTail bool
	pending  []byte
}

// rewrite returns b with the matches replaced, and the undecided tail
// (nil when final).
func (r *streamRewriter) rewrite(b []byte, final bool) (out, rest []byte) {
	out = make([]byte, 0, len(b))
	i := 0
scan:
	for i < len(b) {
		// Skip ahead to the next byte that can start a match.
		j := i
		for j < len(b) && !r.startsMatch(b[j]) {
			j++
		}
		out = append(out, b[i:j]...)
		if i = j; i >= len(b) {
			break
		}
		tail := b[i:]
		best := -1
		for k, old := range r.olds {
			switch {
			case bytes.HasPrefix(tail, old):
				if best < 0 || len(old) > len(r.olds[best]) {
					best = k
				}
			case len(tail) < len(old) && bytes.HasPrefix(old, tail):
				// A longer match may be arriving.
				if !final {
					rest = tail
					break scan
				}
				if r.maskTail && best < 0 {
					out = append(out, r.news[k]...)
					i = len(b)
					break scan
				}
			}
		}
		if best >= 0 {
			out = append(out, r.news[best]...)
			i += len(r.olds[best])
			continue
		}
		out = append(out, b[i])
		i++
	}
	if r.validUTF8 && rest == nil && !final {
		k := len(out) - 1
		for k >= 0 && k > len(out)-utf8.UTFMax && !utf8.RuneStart(out[k]) {
			k--
		}
		if k >= 0 && !utf8.FullRune(out[k:]) {
			rest = out[k:]
			out = out[:k]
		}
	}
	return out, rest
}

func (r *streamRewriter) startsMatch(c byte) bool {
	for _, old := range r.olds {
		if len(old) > 0 && old[0] == c {
			return true
		}
	}
	return false
}

func (r *streamRewriter) emit(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if r.validUTF8 && !utf8.Valid(b) {
		b = bytes.ToValidUTF8(b, []byte("\uFFFD"))
	}
	_, err := r.next.Write(b)
	return err
}

func (r *streamRewriter) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out, rest := r.rewrite(append(r.pending, p...), false)
	r.pending = append(r.pending[:0:0], rest...)
	if err := r.emit(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes the held-back tail.
func (r *streamRewriter) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	out, _ := r.rewrite(r.pending, true)
	r.pending = nil
	return r.emit(out)
}

// localhostStripper removes "localhost/" from build output (local image
// names read as plain names).
type localhostStripper struct{ rw streamRewriter }

func newLocalhostStripper(w io.Writer) *localhostStripper {
	return &localhostStripper{rw: streamRewriter{next: w, olds: [][]byte{[]byte("localhost/")}, news: [][]byte{nil}}}
}

func (l *localhostStripper) Write(p []byte) (int, error) { return l.rw.Write(p) }

// Flush writes what a possible "localhost/" split across writes held back.
func (l *localhostStripper) Flush() error { return l.rw.Flush() }

// tokenScrubber replaces every form of a git token with *** and makes the
// stream valid UTF-8.
type tokenScrubber struct{ rw streamRewriter }

func newTokenScrubber(w io.Writer, token string) *tokenScrubber {
	s := &tokenScrubber{rw: streamRewriter{next: w, validUTF8: true, maskTail: true}}
	for _, f := range tokenForms(token) {
		s.rw.olds = append(s.rw.olds, []byte(f))
		s.rw.news = append(s.rw.news, []byte("***"))
	}
	return s
}

func (s *tokenScrubber) Write(p []byte) (int, error) { return s.rw.Write(p) }

// Flush writes the held-back tail (masked if it starts a token form).
func (s *tokenScrubber) Flush() error { return s.rw.Flush() }
