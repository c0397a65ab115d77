package worker

// Runtime care of the apps that run here: health policies (OOM, disk quota,
// crash loop), app status reports, app stats, and the heartbeat's view of
// resources and running apps. Runtime log collection is in logs.go, the
// kernel and inotify plumbing in attach.go, podman output parsers in
// parse.go.
//
// Cost model (podman-here.md: every podman call is 10–20 ms of CPU): an
// idle worker runs one `podman ps` per health tick, one `podman stats` per
// stats tick and two cheap calls per heartbeat; nothing runs per container.
// Exits are noticed at once through podman's exit folder, OOM kills
// through the kernel log, log lines through inotify.

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wisehosting/wisehosting/internal/models"
	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// Health policy.
const (
	// crashThreshold crashes within crashWindow make a crash loop: the app
	// gets a crash_loop violation and is stopped.
	crashThreshold = 3
	crashWindow    = 5 * time.Minute
	// A crashed app (exit code not 0 and not a stop signal) is restarted
	// by the monitor after restartBackoffMin, doubling per crash in the
	// window, at most restartBackoffMax.
	restartBackoffMin = 5 * time.Second
	restartBackoffMax = time.Minute
	// A container that stays down this long is reported stopped (once): a
	// redeploy replaces a container within seconds, so this never flaps.
	stoppedReportAfter = 30 * time.Second
	// expectStopFor is how long a job's "I am stopping this container"
	// note (expectStop) stays valid.
	expectStopFor = 10 * time.Minute
	// oomReportEvery bounds oom violations for a process killed inside a
	// container that keeps running.
	oomReportEvery = 5 * time.Minute
	// Timeouts of podman calls.
	podmanCallTimeout = 30 * time.Second
	stopGraceSeconds  = "10"
	// exitDebounce gathers a burst of exits into one health check.
	exitDebounce = 200 * time.Millisecond
)

// appHealth is what the monitor tracks of one container: the restart-count
// baseline, the crashes in the window, the last violation, since when it
// is down and whether that was reported. Trackers live in memory only; an
// agent that restarts rebuilds them from podman (the first sight of a
// container is its baseline and triggers no action).
type appHealth struct {
	ID, Name, AppID string
	HostPort        int
	BandwidthBps    int64 // egress cap to apply again after a restart (0: none)

	seen bool
	info *ctrInspect // last inspect (log path, limits, upper dir)
	// What `podman ps` said last time; a change means inspect again.
	psState             string
	psStarted, psExited int64

	restartBase     int // podman's RestartCount at first sight
	lastRestarts    int // podman's RestartCount at the last check
	monitorRestarts int // restarts the monitor did (podman start)
	startedAt       time.Time
	running         bool
	crashes         []time.Time // within crashWindow

	violation     string // kind of the enforced violation: no restarts after it
	lastViolation time.Time
	oomSeen       int // kernel OOM kills already accounted for
	lastOOMReport time.Time

	stoppedSince time.Time // zero while running
	restartAt    time.Time // a monitor restart is due
	downReported bool      // the 30 s "down" report was made
	reported     string    // status last reported to the control plane
}

// restartCount is every restart of the app's container: podman's and ours.
func (h *appHealth) restartCount() int { return h.lastRestarts + h.monitorRestarts }

// ctrStatus is the monitor's verdict on a container that is not running,
// used by the heartbeat (the control plane applies heartbeat statuses).
type ctrStatus struct{ status, message string }

// monitor is the runtime state of one agent. Agent has no field for it (it
// is owned by agent.go), so it is kept in a registry keyed by the agent.
type monitor struct {
	a   *Agent
	log *slog.Logger
	now func() time.Time

	// Only the health goroutine (monitorLoop) touches health.
	health map[string]*appHealth

	mu       sync.Mutex
	status   map[string]ctrStatus // container id → verdict (not running)
	expected map[string]time.Time // container id or name → a job stops it
	promoted map[string]string    // app id → new version a deploy switched to
	// newVersions: containers that are a deploy's new version (seen
	// named _next, or announced by the deploy once they answered), until
	// the monitor first sees them under the app's name.
	newVersions  map[string]time.Time
	known        []managedCtr         // last list of managed containers
	knownAt      time.Time            // when the `podman ps` that made it started
	changedAt    time.Time            // last job result or app_status sent (noteChange)
	listing      *listing             // a `podman ps` in flight
	lastStats    map[string]statPoint // container id → last CPU time
	statsCPU     float64              // sum of container CPU % at statsAt
	statsRunning int                  // running containers at statsAt
	statsAt      time.Time

	oom    *oomWatcher
	w      *watcher // inotify; nil if unavailable
	exitWD int32    // watch on podman's exit folder (-1: none)
	wake   chan struct{}

	statfs func(path string) (total, free, avail int64, err error)
	logs   *logCollector
}

type statPoint struct {
	cpu time.Duration
	at  time.Time
}

var monitors sync.Map // *Agent → *monitor

// monitor returns the agent's monitor state, creating it on first use.
func (a *Agent) monitor() *monitor {
	if m, ok := monitors.Load(a); ok {
		return m.(*monitor)
	}
	m, _ := monitors.LoadOrStore(a, newMonitor(a))
	return m.(*monitor)
}

func newMonitor(a *Agent) *monitor {
	log := a.log
	if log == nil {
		log = slog.Default()
	}
	m := &monitor{
		a: a, log: log.With("part", "monitor"), now: time.Now,
		health: map[string]*appHealth{}, status: map[string]ctrStatus{}, expected: map[string]time.Time{},
		promoted:    map[string]string{},
		newVersions: map[string]time.Time{},
		lastStats:   map[string]statPoint{}, exitWD: -1, wake: make(chan struct{}, 1), statfs: statfsBytes,
	}
	m.logs = newLogCollector(a, m)
	return m
}

// expectStop tells the monitor that a job is about to stop or remove a
// container (by name or id), so its exit is not taken for a crash and
// never restarted. The pipeline should call it before `podman stop`/`rm`;
// without it, exits with 0, 130, 137 or 143 (a stop's signals) already
// count as stops, but an app that exits 1 on SIGTERM would be restarted.
func (a *Agent) expectStop(container string) { a.monitor().expectStop(container) }

func (m *monitor) expectStop(container string) {
	m.mu.Lock()
	m.expected[container] = m.now()
	m.mu.Unlock()
}

// promote tells the monitor that a deploy has switched the app to its new
// version (container id; "" when the deploy is done): until the new
// version takes the app's name, it is the app's container in heartbeats
// and stats, although the old one may still run.
func (m *monitor) promote(appID, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id != "" {
		m.newVersions[id] = m.now()
	}
	if id == "" {
		delete(m.promoted, appID)
		return
	}
	m.promoted[appID] = id
}

// current picks the app's container among several of one app: the new
// version a deploy switched to, else a container under the app's name
// rather than a new version still being checked, else a running one,
// else the most recently started.
func (m *monitor) current(list []managedCtr, runningOnly bool) map[string]*managedCtr {
	m.mu.Lock()
	promoted := maps.Clone(m.promoted)
	m.mu.Unlock()
	rank := func(c *managedCtr) []int64 {
		r := make([]int64, 4)
		if c.ID == promoted[c.AppID()] {
			r[0] = 1
		}
		if !isNextName(c.Name()) {
			r[1] = 1
		}
		if isRunningState(c.State) {
			r[2] = 1
		}
		r[3] = c.StartedAt
		return r
	}
	best := map[string]*managedCtr{}
	for i := range list {
		c := &list[i]
		id := c.AppID()
		if id == "" || runningOnly && !isRunningState(c.State) {
			continue
		}
		if b := best[id]; b == nil || slices.Compare(rank(c), rank(b)) > 0 {
			best[id] = c
		}
	}
	return best
}

// stopExpected reports whether a job (or the monitor) announced the stop
// of h before it exited at finishedAt.
func (m *monitor) stopExpected(h *appHealth, finishedAt time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range []string{h.ID, h.Name} {
		t, ok := m.expected[k]
		if !ok || k == "" || finishedAt.Before(t.Add(-2*time.Second)) || finishedAt.Sub(t) >= expectStopFor {
			continue
		}
		// A name outlives its container: a stop announced by name (a
		// stop job) is followed by a new container under that name (a
		// deploy's new version, renamed). The announcement covers only a
		// container already running then.
		if k == h.Name && !h.startedAt.IsZero() && h.startedAt.After(t) {
			continue
		}
		return true
	}
	return false
}

// markNewVersion records that container id is a deploy's new version.
func (m *monitor) markNewVersion(id string) {
	m.mu.Lock()
	m.newVersions[id] = m.now()
	m.mu.Unlock()
}

// takeNewVersion reports (once) whether container id is a deploy's new
// version.
func (m *monitor) takeNewVersion(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.newVersions[id]
	delete(m.newVersions, id)
	return ok
}

func (m *monitor) pruneExpected(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, t := range m.newVersions {
		if now.Sub(t) > expectStopFor {
			delete(m.newVersions, id) // removed before the monitor saw it
		}
	}
	for k, t := range m.expected {
		if now.Sub(t) > expectStopFor {
			delete(m.expected, k)
		}
	}
}

// poke asks for a health check soon (an exit was seen, a restart is due).
func (m *monitor) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// monitorLoop runs the three periodic duties until the agent stops:
// health checks every HealthInterval (and at once when a container
// exits), app stats every StatsInterval, and runtime logs every
// LogInterval (and at once when a log file grows) in their own goroutine,
// so a slow `podman stop` never delays log lines. Containers are never
// touched when the agent stops.
func (a *Agent) monitorLoop() {
	m := a.monitor()
	ctx := a.ctx
	m.open()
	defer m.close()

	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.logs.run(ctx)
	}()
	if m.w != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.readEvents(ctx)
		}()
		// Closing the watcher ends readEvents.
		defer m.w.close()
	}

	health := time.NewTicker(a.cfg.HealthInterval)
	defer health.Stop()
	stats := time.NewTicker(a.cfg.StatsInterval)
	defer stats.Stop()
	due := time.NewTimer(time.Hour)
	defer due.Stop()

	check := func(maxAge time.Duration) {
		m.checkContainers(ctx, maxAge)
		if d, ok := m.nextDue(); ok {
			due.Reset(max(d, 100*time.Millisecond))
		} else {
			due.Stop()
		}
	}
	check(0) // re-attach: trackers rebuild from podman at once
	for {
		select {
		case <-ctx.Done():
			return
		case <-health.C:
			check(listReuse)
		case <-due.C:
			check(0)
		case <-m.wake:
			select {
			case <-ctx.Done():
				return
			case <-time.After(exitDebounce):
			}
			check(0)
		case <-stats.C:
			m.collectAppStats(ctx)
		}
	}
}

// open attaches to the kernel log and inotify. Both are optional: without
// them the monitor falls back to its tickers.
func (m *monitor) open() {
	oom, err := openOOMWatcher()
	if err != nil {
		m.log.Info("kernel log unreadable: OOM kills are detected only when podman reports them", "err", err)
	}
	m.oom = oom
	w, err := newWatcher()
	if err != nil {
		m.log.Warn("inotify unavailable: exits and log lines are seen on ticks only", "err", err)
		return
	}
	m.w = w
	if wd, err := w.watchDir(podmanExitDir, syscall.IN_CREATE|syscall.IN_MOVED_TO|syscall.IN_CLOSE_WRITE); err == nil {
		m.exitWD = wd
	} else {
		m.log.Debug("podman exit folder not watched; exits are seen on health ticks", "dir", podmanExitDir, "err", err)
	}
}

func (m *monitor) close() {
	m.oom.close()
}

// eventPause lets the kernel merge a chatty app's write events between two
// reads of the inotify queue.
const eventPause = 50 * time.Millisecond

// readEvents dispatches inotify events: podman exits wake the health
// check, log folder events the log collector.
func (m *monitor) readEvents(ctx context.Context) {
	buf := make([]byte, 64<<10)
	for {
		evs, err := m.w.read(buf)
		if err != nil {
			return // closed
		}
		exited := false
		for _, ev := range evs {
			switch {
			case ev.mask&syscall.IN_Q_OVERFLOW != 0:
				exited = true
				m.logs.overflow()
			case ev.mask&syscall.IN_IGNORED != 0:
				m.w.forget(ev.wd)
			case ev.wd == m.exitWD:
				exited = true
			default:
				m.logs.onEvent(ev)
			}
		}
		if exited {
			m.poke()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(eventPause):
		}
	}
}

// setKnown records a fresh list of managed containers (for stats and the
// log collector), taken by a `podman ps` that started at started; a list
// older than the one recorded is not kept.
func (m *monitor) setKnown(list []managedCtr, started time.Time) {
	m.mu.Lock()
	if started.Before(m.knownAt) {
		m.mu.Unlock()
		return
	}
	m.known, m.knownAt = list, started
	m.mu.Unlock()
	m.logs.offerList(list)
}

// noteChange is called before the agent tells the control plane about a
// change it made or saw (a job result, an app_status): no container list
// begun before it may be reported afterwards. A heartbeat built from such
// a list arrives after the change and, being newer, would undo it there
// (a stopped app shown running again, with its dead port, until the next
// heartbeat).
func (m *monitor) noteChange() {
	m.mu.Lock()
	if now := m.now(); now.After(m.changedAt) {
		m.changedAt = now
	}
	m.mu.Unlock()
}

func (m *monitor) knownList() ([]managedCtr, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.known, m.knownAt
}

// managedPS is the one `podman ps` that lists every app container.
func managedPS() []string {
	return []string{"podman", "ps", "-a", "--filter", "label=" + LabelManaged + "=true", "--format", "json"}
}

// listReuse is how old a container list may be to serve the heartbeat or
// a periodic health check instead of a new `podman ps`: the two tick at
// the same pace, so one `podman ps` serves both.
const listReuse = 2 * time.Second

// recentList lists the managed containers, reusing a list at most maxAge
// old that was taken after the last noteChange.
func (m *monitor) recentList(ctx context.Context, maxAge time.Duration) ([]managedCtr, error) {
	m.mu.Lock()
	list, at, changed := m.known, m.knownAt, m.changedAt
	m.mu.Unlock()
	if age := m.now().Sub(at); maxAge > 0 && !at.IsZero() && age <= maxAge && age >= 0 && !at.Before(changed) {
		return list, nil
	}
	return m.listManaged(ctx)
}

// listing is a `podman ps` in flight, shared by whoever asks meanwhile.
type listing struct {
	started time.Time
	done    chan struct{}
	list    []managedCtr
	err     error
}

// listManaged lists the managed containers (running or not). Callers that
// ask while a list is being taken share it (the heartbeat and the health
// check tick at the same moments).
func (m *monitor) listManaged(ctx context.Context) ([]managedCtr, error) {
	m.mu.Lock()
	// A list begun before the last change may miss it: not shared then.
	if l := m.listing; l != nil && !l.started.Before(m.changedAt) {
		m.mu.Unlock()
		select {
		case <-l.done:
			return l.list, l.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	l := &listing{started: m.now(), done: make(chan struct{})}
	m.listing = l
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		if m.listing == l {
			m.listing = nil
		}
		m.mu.Unlock()
		close(l.done)
	}()
	out, err := m.a.run.Run(ctx, managedPS()...)
	if err != nil {
		l.err = err
		return nil, err
	}
	list, err := parsePodmanPS(out)
	if err != nil {
		l.err = fmt.Errorf("podman ps output: %w", err)
		return nil, l.err
	}
	m.setKnown(list, l.started)
	l.list = list
	return list, nil
}

// checkContainers lists the managed containers and applies checkOne to
// each: one `podman ps` (or the heartbeat's, if it is at most maxAge
// old), plus one `podman container inspect` of only the containers whose
// state changed since the last check.
func (m *monitor) checkContainers(ctx context.Context, maxAge time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, 2*podmanCallTimeout)
	defer cancel()
	list, err := m.recentList(ctx, maxAge)
	if err != nil {
		m.log.Warn("health check: list containers", "err", err)
		return
	}
	m.oom.drain()
	now := m.now()
	ids := make(map[string]bool, len(list))
	var need []string
	for i := range list {
		c := &list[i]
		ids[c.ID] = true
		h := m.health[c.ID]
		if h == nil || h.info == nil || c.State != h.psState || c.StartedAt != h.psStarted || c.ExitedAt != h.psExited {
			need = append(need, c.ID)
		}
	}
	inspected := map[string]*ctrInspect{}
	if len(need) > 0 {
		out, err := m.a.run.Run(ctx, append([]string{"podman", "container", "inspect"}, need...)...)
		cs, perr := parseInspect(out)
		if err != nil && !IsNotFound(err) {
			m.log.Warn("health check: inspect", "err", err)
		}
		if perr != nil {
			m.log.Warn("health check: inspect output", "err", perr)
		}
		for i := range cs {
			inspected[cs[i].ID] = &cs[i]
		}
	}
	for i := range list {
		c := &list[i]
		h := m.health[c.ID]
		if h == nil {
			h = &appHealth{ID: c.ID}
			m.health[c.ID] = h
		}
		m.checkOne(ctx, h, c, inspected[c.ID], now)
	}
	for id := range m.health {
		if !ids[id] {
			delete(m.health, id)
		}
	}
	m.mu.Lock()
	for id := range m.status {
		if !ids[id] {
			delete(m.status, id)
		}
	}
	m.mu.Unlock()
	m.oom.keepOnly(ids)
	m.pruneExpected(now)
}

// nextDue is when the next check must run before the health tick: a
// restart that is due or a "down" report to make.
func (m *monitor) nextDue() (time.Duration, bool) {
	var next time.Time
	for _, h := range m.health {
		for _, t := range []time.Time{h.restartAt, m.downReportAt(h)} {
			if !t.IsZero() && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
	}
	if next.IsZero() {
		return 0, false
	}
	return next.Sub(m.now()), true
}

func (m *monitor) downReportAt(h *appHealth) time.Time {
	if h.running || h.downReported || h.stoppedSince.IsZero() || !h.restartAt.IsZero() {
		return time.Time{}
	}
	return h.stoppedSince.Add(stoppedReportAfter)
}

// isRunningState maps podman's container states that mean "the app runs".
func isRunningState(s string) bool {
	switch s {
	case "running", "paused", "stopping":
		return true
	}
	return false
}

// exitKind classifies why a container stopped.
type exitKind int

const (
	exitStopped exitKind = iota // clean exit or stopped on purpose
	exitCrash                   // the app failed: restart, count
	exitOOM                     // the kernel killed it for lack of memory
)

// stopExitCodes are exit codes that a stop produces: 0 (clean), 130
// (SIGINT), 137 (SIGKILL after the grace period) and 143 (SIGTERM). A
// SIGKILL from the kernel's OOM killer is told apart by the kernel log.
func isStopExitCode(code int) bool {
	switch code {
	case 0, 130, 137, 143:
		return true
	}
	return false
}

// classifyExit decides what an exit was.
func (m *monitor) classifyExit(h *appHealth, exitCode int, startedAt, finishedAt time.Time, kills []time.Time) exitKind {
	if h.info != nil && h.info.State.OOMKilled {
		return exitOOM
	}
	if exitCode == 137 {
		for _, k := range kills {
			if !k.Before(startedAt.Add(-2*time.Second)) && !k.After(finishedAt.Add(5*time.Second)) {
				return exitOOM
			}
		}
	}
	if m.stopExpected(h, finishedAt) || isStopExitCode(exitCode) {
		return exitStopped
	}
	return exitCrash
}

// restartBackoff is the delay before the monitor restarts an app that
// crashed n times in the window.
func restartBackoff(n int) time.Duration {
	d := restartBackoffMin
	for i := 1; i < n && d < restartBackoffMax; i++ {
		d *= 2
	}
	return min(d, restartBackoffMax)
}

// checkOne applies the policies to one container:
//   - first sight: baseline only (an agent restart re-attaches silently);
//   - OOM: the container died from the kernel's OOM killer (podman's
//     .State.OOMKilled, or exit 137 with a kernel oom-kill record for its
//     cgroup) → oom violation, `podman stop` (so no restart policy revives
//     it), status crashed. A process killed inside a container that keeps
//     running → oom violation with action "none" (at most every 5 min);
//   - crash: exit code not 0/130/137/143 and no stop announced → status
//     crashed, restart by the monitor with backoff (5 s, 10 s, …), unless
//     podman's restart policy restarts it (then RestartCount increments are
//     the crashes). crashThreshold crashes within crashWindow → crash_loop
//     violation + `podman stop`;
//   - disk quota: the container has a size limit and its writable layer is
//     full → disk_quota violation + `podman stop`;
//   - a container down for stoppedReportAfter is reported once; one that
//     comes back is reported running.
func (m *monitor) checkOne(ctx context.Context, h *appHealth, c *managedCtr, ins *ctrInspect, now time.Time) {
	if ins != nil {
		h.info = ins
	}
	h.Name, h.AppID, h.HostPort = c.Name(), c.AppID(), c.HostPort()
	h.BandwidthBps, _ = strconv.ParseInt(c.Labels[LabelBandwidth], 10, 64)
	h.psState, h.psStarted, h.psExited = c.State, c.StartedAt, c.ExitedAt
	if isNextName(h.Name) {
		// A new version a deploy is checking: the deploy judges it and
		// removes it if it fails, so its exits are neither crashes nor
		// OOM violations of the app. Once it takes the app's name it is
		// seen for the first time: its baseline.
		h.seen = false
		m.markNewVersion(c.ID)
		return
	}
	running := isRunningState(c.State)
	var startedAt, finishedAt time.Time
	if c.StartedAt > 0 {
		startedAt = time.Unix(c.StartedAt, 0)
	}
	if c.ExitedAt > 0 {
		finishedAt = time.Unix(c.ExitedAt, 0)
	}
	exitCode, restarts := c.ExitCode, h.lastRestarts
	if info := h.info; info != nil {
		if !info.State.StartedAt.IsZero() && info.State.StartedAt.Year() > 1 {
			startedAt = info.State.StartedAt
		}
		if info.State.FinishedAt.Year() > 1 {
			finishedAt = info.State.FinishedAt
		}
		exitCode, restarts = info.State.ExitCode, info.RestartCount
	}
	kills := m.oom.killsOf(c.ID)

	if newVersion := !h.seen && m.takeNewVersion(c.ID); newVersion && !running {
		// A deploy's new version, already down when first seen under the
		// app's name: judge the exit below as that of a running app (a
		// crash to restart, not a baseline to accept silently: the app
		// would stay down).
		h.seen = true
		h.restartBase, h.lastRestarts = restarts, restarts
		h.running, h.startedAt, h.oomSeen = true, startedAt, 0
	}
	if !h.seen {
		h.seen = true
		h.restartBase, h.lastRestarts = restarts, restarts
		h.running, h.startedAt, h.oomSeen = running, startedAt, len(kills)
		if running {
			h.reported = models.AppRunning
			m.setStatus(h, models.AppRunning, "")
			return
		}
		h.stoppedSince = finishedAt
		if h.stoppedSince.IsZero() {
			h.stoppedSince = now
		}
		switch m.classifyExit(h, exitCode, startedAt, finishedAt, kills) {
		case exitOOM:
			m.setStatus(h, models.AppCrashed, "killed for lack of memory")
		case exitCrash:
			m.setStatus(h, models.AppCrashed, fmt.Sprintf("exited with code %d", exitCode))
		default:
			m.setStatus(h, models.AppStopped, "")
		}
		m.reportDown(h, now)
		return
	}

	// podman's restart policy restarted it since the last check: each
	// restart is a crash.
	for i := h.lastRestarts; i < restarts; i++ {
		h.crashes = append(h.crashes, now)
	}
	h.lastRestarts = restarts
	h.crashes = pruneBefore(h.crashes, now.Add(-crashWindow))
	if len(kills) < h.oomSeen {
		h.oomSeen = 0
	}
	newKills := kills[h.oomSeen:]
	h.oomSeen = len(kills)
	ranSince := !startedAt.Equal(h.startedAt) // (re)started since the last check
	wasRunning := h.running
	h.startedAt = startedAt

	if running {
		h.running = true
		if !wasRunning || ranSince {
			h.stoppedSince, h.restartAt, h.downReported = time.Time{}, time.Time{}, false
			if h.violation != "" && !wasRunning {
				// Started again after a violation by someone else (a
				// job, an operator): a fresh start.
				h.violation, h.crashes = "", nil
			}
		}
		if h.violation == "" && len(h.crashes) >= crashThreshold {
			m.enforce(ctx, h, models.ViolationCrashLoop, models.AppCrashed,
				fmt.Sprintf("crash loop: %d restarts within %s; stopped", len(h.crashes), crashWindow), now)
			return
		}
		if len(newKills) > 0 && h.AppID != "" && now.Sub(h.lastOOMReport) >= oomReportEvery {
			h.lastOOMReport = now
			m.a.reportViolation(models.ViolationReport{AppID: h.AppID, ContainerID: h.ID, Kind: models.ViolationOOM,
				Message: fmt.Sprintf("the kernel killed %d process(es) of the app for lack of memory%s; the app keeps running", len(newKills), memLimitText(h)),
				Action:  "none", At: now})
		}
		if h.violation == "" {
			if msg, over := m.diskQuotaExceeded(h); over {
				m.enforce(ctx, h, models.ViolationDiskQuota, models.AppStopped, msg, now)
				return
			}
		}
		m.setStatus(h, models.AppRunning, "")
		if h.reported != models.AppRunning {
			msg := ""
			if h.restartCount() > 0 {
				msg = fmt.Sprintf("running again after %d restart(s)", h.restartCount())
			}
			m.report(h, models.AppRunning, msg)
		}
		return
	}

	h.running = false
	if wasRunning || ranSince {
		// It exited since the last check.
		if finishedAt.IsZero() || finishedAt.Before(startedAt) {
			finishedAt = now
		}
		h.stoppedSince, h.downReported = finishedAt, false
		switch m.classifyExit(h, exitCode, startedAt, finishedAt, kills) {
		case exitOOM:
			if h.violation == "" {
				m.enforce(ctx, h, models.ViolationOOM, models.AppCrashed,
					"killed for lack of memory"+memLimitText(h)+"; stopped", now)
			}
		case exitCrash:
			h.crashes = append(h.crashes, now)
			switch {
			case h.violation != "":
				m.setStatus(h, models.AppCrashed, fmt.Sprintf("exited with code %d", exitCode))
			case len(h.crashes) >= crashThreshold:
				m.enforce(ctx, h, models.ViolationCrashLoop, models.AppCrashed,
					fmt.Sprintf("crash loop: %d crashes within %s (last exit code %d); stopped", len(h.crashes), crashWindow, exitCode), now)
			case h.info != nil && h.info.podmanRestarts():
				m.report(h, models.AppCrashed, fmt.Sprintf("exited with code %d", exitCode))
			default:
				d := restartBackoff(len(h.crashes))
				h.restartAt = now.Add(d)
				m.report(h, models.AppCrashed, fmt.Sprintf("exited with code %d; restarting in %s", exitCode, d))
			}
		default:
			if h.violation == "" {
				m.setStatus(h, models.AppStopped, "")
			}
		}
	}
	if !h.restartAt.IsZero() && h.violation == "" && !now.Before(h.restartAt) {
		m.restart(ctx, h, now)
	}
	m.reportDown(h, now)
}

// reportDown reports a container that has been down for
// stoppedReportAfter, once, with its verdict (stopped or crashed).
func (m *monitor) reportDown(h *appHealth, now time.Time) {
	at := m.downReportAt(h)
	if at.IsZero() || now.Before(at) {
		return
	}
	h.downReported = true
	st := m.statusOf(h.ID)
	if st.status == "" {
		st.status = models.AppStopped
	}
	if h.reported != st.status {
		m.report(h, st.status, st.message)
	}
}

// restart starts a crashed container again (podman start keeps its id,
// port and limits). Never while a job runs: the job may be replacing or
// stopping this very container; the check retries shortly.
func (m *monitor) restart(ctx context.Context, h *appHealth, now time.Time) {
	if !m.a.jobMu.TryLock() {
		h.restartAt = now.Add(2 * time.Second)
		return
	}
	_, err := m.a.run.Run(ctx, "podman", "start", h.ID)
	if err == nil && h.BandwidthBps > 0 {
		// A new network namespace came with the start: without the cap
		// again, crashing on purpose would lift it.
		if err = m.a.applyBandwidthLimit(h.ID, h.BandwidthBps); err != nil {
			_, _ = m.a.run.Run(ctx, "podman", "stop", "-t", "0", h.ID)
		}
	}
	m.a.jobMu.Unlock()
	h.restartAt = time.Time{}
	if err != nil {
		if IsNotFound(err) {
			return
		}
		m.log.Warn("restart after crash failed", "container", h.Name, "err", err)
		h.crashes = append(h.crashes, now) // a start that fails is a crash too
		if len(h.crashes) >= crashThreshold {
			m.enforce(ctx, h, models.ViolationCrashLoop, models.AppCrashed,
				fmt.Sprintf("crash loop: %d crashes within %s; the last restart failed: %v", len(h.crashes), crashWindow, err), now)
			return
		}
		h.restartAt = now.Add(restartBackoff(len(h.crashes)))
		return
	}
	h.monitorRestarts++
	m.log.Info("restarted a crashed app", "container", h.Name, "app_id", h.AppID, "restarts", h.restartCount())
	m.poke() // confirm it runs and report it soon
}

// enforce applies a violation: `podman stop` (which also keeps podman's
// restart policy from reviving it), the violation report, the app status.
func (m *monitor) enforce(ctx context.Context, h *appHealth, kind, status, msg string, now time.Time) {
	h.violation, h.lastViolation, h.restartAt = kind, now, time.Time{}
	m.expectStop(h.ID)
	action := "stopped"
	if _, err := m.a.run.Run(ctx, "podman", "stop", "-t", stopGraceSeconds, h.ID); err != nil && !IsNotFound(err) {
		action = "stop failed: " + err.Error()
		m.log.Error("stop after violation failed", "container", h.Name, "kind", kind, "err", err)
	}
	m.log.Warn("policy enforced", "container", h.Name, "app_id", h.AppID, "kind", kind, "message", msg)
	if h.AppID != "" {
		m.a.reportViolation(models.ViolationReport{AppID: h.AppID, ContainerID: h.ID, Kind: kind, Message: msg, Action: action, At: now})
	}
	m.report(h, status, msg)
	h.downReported = true // this report is the down report
	if h.stoppedSince.IsZero() {
		h.stoppedSince = now
	}
}

// report sends an app_status and remembers it.
func (m *monitor) report(h *appHealth, status, msg string) {
	m.setStatus(h, status, msg)
	h.reported = status
	if h.AppID == "" {
		return
	}
	m.a.reportAppStatus(models.AppStatusReport{AppID: h.AppID, ContainerID: h.ID, Status: status,
		HostPort: h.HostPort, RestartCount: h.restartCount(), Message: msg, At: m.now()})
}

func (m *monitor) setStatus(h *appHealth, status, msg string) {
	m.mu.Lock()
	m.status[h.ID] = ctrStatus{status, msg}
	m.mu.Unlock()
}

func (m *monitor) statusOf(id string) ctrStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.status[id]
}

func memLimitText(h *appHealth) string {
	if h.info != nil && h.info.HostConfig.Memory > 0 {
		return fmt.Sprintf(" (limit %d MiB)", h.info.HostConfig.Memory>>20)
	}
	return ""
}

// diskQuotaExceeded reports whether a container started with a size limit
// (--storage-opt size=, only where probeDiskQuotaSupport allows it: overlay
// on XFS with project quotas) has filled its writable layer. There, statfs
// of the layer's upper folder reports the project quota as the size of the
// filesystem, so a full quota shows as (almost) no space left. Where the
// figures are not the quota's (the layer sits on a filesystem much bigger
// than the limit, e.g. overlay on ext4 where the option is refused anyway)
// nothing is concluded, so a full host disk is never blamed on an app.
func (m *monitor) diskQuotaExceeded(h *appHealth) (string, bool) {
	if h.info == nil || m.statfs == nil {
		return "", false
	}
	limit := h.info.DiskLimit()
	upper := h.info.GraphDriver.Data["UpperDir"]
	if limit <= 0 || upper == "" {
		return "", false
	}
	total, _, avail, err := m.statfs(upper)
	if err != nil || total <= 0 || total > limit+limit/10 {
		return "", false
	}
	if avail > min(1<<20, total/100) {
		return "", false
	}
	return fmt.Sprintf("disk quota exceeded: the writable layer uses %d of %d MiB; writes fail", (total-avail)>>20, limit>>20), true
}

func pruneBefore(ts []time.Time, cutoff time.Time) []time.Time {
	i := 0
	for i < len(ts) && ts[i].Before(cutoff) {
		i++
	}
	return ts[i:]
}

// psStatus maps a container that `podman ps` lists to an app state,
// without the monitor's knowledge.
func psStatus(c *managedCtr) string {
	switch c.State {
	case "running", "paused", "stopping":
		return models.AppRunning
	case "created", "configured", "initialized":
		return models.AppStarting
	}
	if isStopExitCode(c.ExitCode) {
		return models.AppStopped
	}
	return models.AppCrashed
}

// runningApps lists every managed container with one `podman ps -a` (or
// the health check's, if it is at most listReuse old): app id, container
// id, status and host port. One entry per app (monitor.current): during a
// redeploy the old container and the new version coexist, and the new
// version is the app's only from the switch on.
func (a *Agent) runningApps(ctx context.Context) ([]wsproto.HeartbeatApp, error) {
	m := a.monitor()
	list, err := m.recentList(ctx, listReuse)
	if err != nil {
		return nil, err
	}
	best := m.current(list, false)
	apps := make([]wsproto.HeartbeatApp, 0, len(best))
	for id, c := range best {
		status := psStatus(c)
		if !isRunningState(c.State) {
			if st := m.statusOf(c.ID); st.status != "" {
				status = st.status
			}
		}
		apps = append(apps, wsproto.HeartbeatApp{AppID: id, ContainerID: c.ID, Status: status, HostPort: c.HostPort()})
	}
	sort.Slice(apps, func(i, j int) bool { return apps[i].AppID < apps[j].AppID })
	return apps, nil
}

// getResourceUsage reports the host's capacity and use: running
// containers and their summed CPU (from the last `podman stats` sample if
// it is fresh, as it is while apps run; else `podman ps -q` and a new
// sample), memory from /proc/meminfo and the disk holding the data dir.
func (a *Agent) getResourceUsage(ctx context.Context) models.WorkerResources {
	m := a.monitor()
	res := models.WorkerResources{CPUs: runtime.NumCPU()}
	if cpu, n, ok := m.recentStats(2 * a.cfg.StatsInterval); ok {
		res.CPUPercent, res.Containers = cpu, n
	} else {
		if out, err := a.run.Run(ctx, "podman", "ps", "-q"); err == nil {
			for _, l := range strings.Split(string(out), "\n") {
				if strings.TrimSpace(l) != "" {
					res.Containers++
				}
			}
		} else {
			m.log.Debug("resources: podman ps", "err", err)
		}
		if _, err := m.sampleStats(ctx); err == nil {
			res.CPUPercent, _, _ = m.recentStats(time.Hour)
		} else {
			m.log.Debug("resources: podman stats", "err", err)
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		total, avail := parseMeminfo(b)
		res.MemoryTotalBytes, res.MemoryUsedBytes = total, total-avail
	}
	if a.cfg.DataDir != "" {
		if total, free, _, err := m.statfs(a.cfg.DataDir); err == nil {
			res.DiskTotalBytes, res.DiskUsedBytes = total, total-free
		}
	}
	return res
}

// recentStats returns the summed CPU % and the number of running
// containers of a stats sample at most maxAge old.
func (m *monitor) recentStats(maxAge time.Duration) (float64, int, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.statsAt.IsZero() || m.now().Sub(m.statsAt) > maxAge {
		return 0, 0, false
	}
	return m.statsCPU, m.statsRunning, true
}

// sampleStats runs one `podman stats --no-stream` for every running
// container. A container's CPU % is computed from the growth of its CPU
// time since the previous sample (podman's own cpu_percent with
// --no-stream is the average since the container started); the first
// sample of a container uses podman's figure.
func (m *monitor) sampleStats(ctx context.Context) ([]statSample, error) {
	out, err := m.a.run.Run(ctx, "podman", "stats", "--no-stream", "--no-trunc", "--format", "json")
	if err != nil {
		return nil, err
	}
	samples, err := parsePodmanStats(out)
	if err != nil {
		return nil, fmt.Errorf("podman stats output: %w", err)
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := make(map[string]bool, len(samples))
	sum, running := 0.0, 0
	for i := range samples {
		s := &samples[i]
		seen[s.ID] = true
		if prev, ok := m.lastStats[s.ID]; ok && s.CPUTime >= prev.cpu && now.After(prev.at) {
			s.CPUPercent = 100 * float64(s.CPUTime-prev.cpu) / float64(now.Sub(prev.at))
		}
		if s.CPUTime >= 0 {
			m.lastStats[s.ID] = statPoint{s.CPUTime, now}
		}
		if s.PIDs > 0 || s.MemUsed > 0 { // podman 4.3 also lists exited containers, with zeros
			sum += s.CPUPercent
			running++
		}
	}
	for id := range m.lastStats {
		if !seen[id] {
			delete(m.lastStats, id)
		}
	}
	m.statsCPU, m.statsRunning, m.statsAt = sum, running, now
	return samples, nil
}

// collectAppStats sends one app_stats message with every running app's
// CPU, memory, network, block I/O and PIDs, from one `podman stats`.
// Nothing runs when no app does.
func (m *monitor) collectAppStats(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, podmanCallTimeout)
	defer cancel()
	list, at := m.knownList()
	if at.IsZero() || m.now().Sub(at) > 2*m.a.cfg.HealthInterval {
		var err error
		if list, err = m.listManaged(ctx); err != nil {
			m.log.Debug("app stats: list containers", "err", err)
			return
		}
	}
	// One line per app: its current container (a redeploy runs two).
	byID := map[string]*managedCtr{}
	for _, c := range m.current(list, true) {
		byID[c.ID] = c
	}
	if len(byID) == 0 {
		return
	}
	samples, err := m.sampleStats(ctx)
	if err != nil {
		m.log.Debug("app stats", "err", err)
		return
	}
	now := m.now()
	var lines []wsproto.AppStatLine
	for _, s := range samples {
		c := byID[s.ID]
		if c == nil {
			c = matchShortID(byID, s.ID, s.Name)
		}
		if c == nil || s.PIDs == 0 && s.MemUsed == 0 {
			continue
		}
		lines = append(lines, wsproto.AppStatLine{AppID: c.AppID(), ContainerID: c.ID, CPUPercent: s.CPUPercent,
			MemBytes: s.MemUsed, MemLimitBytes: s.MemLimit, NetRxBytes: s.NetRx, NetTxBytes: s.NetTx,
			BlockRead: s.BlockRd, BlockWrite: s.BlockWr, PIDs: s.PIDs})
	}
	if len(lines) == 0 {
		return
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i].AppID < lines[j].AppID })
	if err := m.a.emit(wsproto.TypeAppStats, wsproto.AppStatsPayload{At: now, Apps: lines}); err != nil {
		m.log.Debug("app stats not sent", "err", err)
	}
}

// matchShortID finds a container by a truncated id or by name (podman
// versions that ignore --no-trunc).
func matchShortID(byID map[string]*managedCtr, id, name string) *managedCtr {
	for full, c := range byID {
		if len(id) >= 12 && strings.HasPrefix(full, id) || name != "" && c.Name() == name {
			return c
		}
	}
	return nil
}
