package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wisehosting/wisehosting/internal/models"
	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// testAgent is an Agent over a fake runner whose messages to the control
// plane are captured (drain them with sent).
func testAgent(t *testing.T, fr *fakeRunner) *Agent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cfg := Config{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		HealthInterval: time.Hour, LogInterval: time.Hour, StatsInterval: time.Hour, HeartbeatInterval: time.Hour}
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	a := &Agent{cfg: cfg, log: cfg.Logger, run: fr, ctx: ctx, cancel: cancel}
	a.ws = &wsClient{ctx: ctx, cancel: cancel, send: make(chan outMsg, 4096)}
	t.Cleanup(func() { monitors.Delete(a) })
	return a
}

// sent drains the messages emitted so far.
func sent(a *Agent) []outMsg {
	var out []outMsg
	for {
		select {
		case m := <-a.ws.send:
			out = append(out, m)
		default:
			return out
		}
	}
}

func ofType[T any](msgs []outMsg, typ string) []T {
	var out []T
	for _, m := range msgs {
		if m.msgType == typ {
			out = append(out, m.payload.(T))
		}
	}
	return out
}

// ctr describes a container for the canned podman output below.
type ctr struct {
	id, name, app string
	state         string // running, exited, created
	exit          int
	started       time.Time
	finished      time.Time
	restarts      int
	oomKilled     bool
	policy        string
	memory        int64
	diskQuota     uint64
	hostPort      int
	bandwidth     int64 // LabelBandwidth
}

func longID(s string) string { return s + strings.Repeat("0", 64-len(s)) }

// psJSON renders `podman ps -a --format json` as podman 4.3.1 prints it.
func psJSON(cs ...ctr) string {
	var out []map[string]any
	for _, c := range cs {
		exitedAt := int64(-62135596800)
		if !c.finished.IsZero() {
			exitedAt = c.finished.Unix()
		}
		labels := map[string]string{LabelManaged: "true", LabelAppID: c.app, LabelApp: c.name}
		if c.hostPort > 0 {
			labels[LabelHostPort] = fmt.Sprint(c.hostPort)
		}
		if c.bandwidth > 0 {
			labels[LabelBandwidth] = fmt.Sprint(c.bandwidth)
		}
		out = append(out, map[string]any{"Id": c.id, "Names": []string{"wh-" + c.name}, "State": c.state,
			"ExitCode": c.exit, "Exited": c.state == "exited", "ExitedAt": exitedAt, "StartedAt": c.started.Unix(),
			"Labels": labels, "Ports": nil, "Status": "whatever"})
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	return string(b)
}

// inspectJSON renders `podman container inspect` as podman 4.3.1 prints it.
func inspectJSON(cs ...ctr) string {
	var out []map[string]any
	for _, c := range cs {
		finished := "0001-01-01T00:00:00Z"
		if !c.finished.IsZero() {
			finished = c.finished.UTC().Format(time.RFC3339Nano)
		}
		out = append(out, map[string]any{
			"Id": c.id, "Name": "wh-" + c.name, "RestartCount": c.restarts,
			"State": map[string]any{"Status": c.state, "Running": c.state == "running", "OOMKilled": c.oomKilled,
				"ExitCode": c.exit, "Pid": 0, "Error": "", "StartedAt": c.started.UTC().Format(time.RFC3339Nano), "FinishedAt": finished},
			"GraphDriver": map[string]any{"Name": "overlay", "Data": map[string]string{"UpperDir": "/var/lib/x/" + c.id + "/diff"}},
			"Config":      map[string]any{"Labels": map[string]string{LabelAppID: c.app}},
			"HostConfig": map[string]any{
				"LogConfig":     map[string]any{"Type": "k8s-file", "Path": "/nonexistent/" + c.id + "/userdata/ctr.log"},
				"RestartPolicy": map[string]any{"Name": c.policy, "MaximumRetryCount": 0},
				"Memory":        c.memory, "DiskQuota": c.diskQuota,
			},
		})
	}
	b, _ := json.MarshalIndent(out, "", "     ")
	return string(b)
}

// scene drives the monitor through checks with a fake clock.
type scene struct {
	t   *testing.T
	fr  *fakeRunner
	a   *Agent
	m   *monitor
	now time.Time
}

func newScene(t *testing.T) *scene {
	fr := newFakeRunner()
	a := testAgent(t, fr)
	s := &scene{t: t, fr: fr, a: a, m: a.monitor(), now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	s.m.now = func() time.Time { return s.now }
	s.m.oom = &oomWatcher{fd: -1, kills: map[string][]time.Time{}}
	fr.on("podman stop", "", nil).on("podman start", "", nil)
	return s
}

// check sets what podman reports and runs one health check; it returns
// the messages sent and the podman commands run.
func (s *scene) check(cs ...ctr) ([]outMsg, []string) {
	s.t.Helper()
	before := len(s.fr.commands())
	s.fr.on("podman ps -a", psJSON(cs...), nil)
	s.fr.on("podman container inspect", inspectJSON(cs...), nil)
	s.m.checkContainers(s.a.ctx, 0)
	return sent(s.a), s.fr.commands()[before:]
}

func (s *scene) advance(d time.Duration) { s.now = s.now.Add(d) }

func has(cmds []string, prefix string) bool {
	return slices.ContainsFunc(cmds, func(c string) bool { return strings.HasPrefix(c, prefix) })
}

func TestCheckFirstSightIsABaseline(t *testing.T) {
	s := newScene(t)
	run := ctr{id: longID("a1"), name: "web", app: "app-1", state: "running", started: s.now.Add(-time.Hour), restarts: 7}
	dead := ctr{id: longID("b1"), name: "old", app: "app-2", state: "exited", exit: 1, started: s.now.Add(-2 * time.Hour), finished: s.now.Add(-10 * time.Second)}
	msgs, cmds := s.check(run, dead)
	if has(cmds, "podman start") || has(cmds, "podman stop") {
		t.Errorf("acted on first sight: %q", cmds)
	}
	if len(ofType[models.ViolationReport](msgs, wsproto.TypeViolation)) != 0 || len(ofType[models.AppStatusReport](msgs, wsproto.TypeAppStatus)) != 0 {
		t.Errorf("reported on first sight: %+v", msgs)
	}
	// Re-attach: a second check with nothing changed inspects nothing.
	_, cmds = s.check(run, dead)
	if has(cmds, "podman container inspect") {
		t.Errorf("inspected unchanged containers: %q", cmds)
	}
	// The container found down is reported once, 30 s after it stopped,
	// with the crash it was.
	s.advance(25 * time.Second)
	msgs, _ = s.check(run, dead)
	st := ofType[models.AppStatusReport](msgs, wsproto.TypeAppStatus)
	if len(st) != 1 || st[0].AppID != "app-2" || st[0].Status != models.AppCrashed {
		t.Errorf("down report: %+v", st)
	}
	s.advance(time.Minute)
	if msgs, _ = s.check(run, dead); len(msgs) != 0 {
		t.Errorf("reported twice: %+v", msgs)
	}
	// The restart-count baseline is podman's count at first sight.
	if h := s.m.health[run.id]; h.restartBase != 7 || h.restartCount() != 7 {
		t.Errorf("baseline %+v", h)
	}
}

func TestCheckOOMKilled(t *testing.T) {
	s := newScene(t)
	c := ctr{id: longID("c1"), name: "hog", app: "app-hog", state: "running", started: s.now, memory: 32 << 20}
	s.check(c)
	s.advance(30 * time.Second)
	c.state, c.exit, c.oomKilled, c.finished = "exited", 137, true, s.now.Add(-time.Second)
	msgs, cmds := s.check(c)
	vs := ofType[models.ViolationReport](msgs, wsproto.TypeViolation)
	if len(vs) != 1 || vs[0].Kind != models.ViolationOOM || vs[0].AppID != "app-hog" || vs[0].ContainerID != c.id || vs[0].Action != "stopped" ||
		!strings.Contains(vs[0].Message, "32 MiB") {
		t.Fatalf("violations %+v", vs)
	}
	if !has(cmds, "podman stop -t 10 "+c.id) {
		t.Errorf("not stopped: %q", cmds)
	}
	st := ofType[models.AppStatusReport](msgs, wsproto.TypeAppStatus)
	if len(st) != 1 || st[0].Status != models.AppCrashed {
		t.Errorf("status %+v", st)
	}
	// Never restarted, never reported again.
	for range 5 {
		s.advance(time.Minute)
		msgs, cmds = s.check(c)
		if has(cmds, "podman start") || len(msgs) != 0 {
			t.Fatalf("after the violation: %q %+v", cmds, msgs)
		}
	}
}

// On this host podman's OOMKilled stays false: exit 137 plus the kernel's
// oom-kill record for the container's cgroup is the evidence.
func TestCheckOOMFromKernelLog(t *testing.T) {
	s := newScene(t)
	c := ctr{id: longID("c2"), name: "hog", app: "app-hog", state: "running", started: s.now}
	s.check(c)
	s.advance(10 * time.Second)
	s.m.oom.record(c.id, s.now.Add(-2*time.Second))
	c.state, c.exit, c.finished = "exited", 137, s.now.Add(-2*time.Second)
	msgs, cmds := s.check(c)
	vs := ofType[models.ViolationReport](msgs, wsproto.TypeViolation)
	if len(vs) != 1 || vs[0].Kind != models.ViolationOOM || !has(cmds, "podman stop") {
		t.Fatalf("%+v %q", vs, cmds)
	}
	// The heartbeat says crashed, not stopped, for this 137.
	s.fr.on("podman ps -a", psJSON(c), nil)
	apps, err := s.a.runningApps(context.Background())
	if err != nil || len(apps) != 1 || apps[0].Status != models.AppCrashed {
		t.Errorf("heartbeat %+v %v", apps, err)
	}
}

// A process killed inside a container that keeps running: reported, not
// stopped, at most every 5 minutes.
func TestCheckOOMOfAChildProcess(t *testing.T) {
	s := newScene(t)
	c := ctr{id: longID("c3"), name: "web", app: "app-w", state: "running", started: s.now.Add(-time.Hour)}
	s.m.oom.record(c.id, s.now.Add(-time.Hour)) // before the agent started: baseline
	s.check(c)
	s.advance(30 * time.Second)
	s.m.oom.record(c.id, s.now)
	msgs, cmds := s.check(c)
	vs := ofType[models.ViolationReport](msgs, wsproto.TypeViolation)
	if len(vs) != 1 || vs[0].Kind != models.ViolationOOM || vs[0].Action != "none" || has(cmds, "podman stop") {
		t.Fatalf("%+v %q", vs, cmds)
	}
	s.advance(30 * time.Second)
	s.m.oom.record(c.id, s.now)
	if msgs, _ := s.check(c); len(ofType[models.ViolationReport](msgs, wsproto.TypeViolation)) != 0 {
		t.Error("reported again within 5 minutes")
	}
}

func TestCheckStopSignalsAreNotCrashes(t *testing.T) {
	for _, code := range []int{0, 130, 137, 143} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			s := newScene(t)
			c := ctr{id: longID("d1"), name: "web", app: "app-1", state: "running", started: s.now}
			s.check(c)
			s.advance(5 * time.Second)
			c.state, c.exit, c.finished = "exited", code, s.now
			msgs, cmds := s.check(c)
			if len(msgs) != 0 || has(cmds, "podman start") || has(cmds, "podman stop") {
				t.Fatalf("acted: %+v %q", msgs, cmds)
			}
			// "stopped" 30 s after it went down, once.
			s.advance(20 * time.Second)
			if msgs, _ := s.check(c); len(msgs) != 0 {
				t.Fatalf("reported too early: %+v", msgs)
			}
			if d, ok := s.m.nextDue(); !ok || d != 10*time.Second {
				t.Errorf("next due %v %v", d, ok)
			}
			s.advance(10 * time.Second)
			msgs, _ = s.check(c)
			st := ofType[models.AppStatusReport](msgs, wsproto.TypeAppStatus)
			if len(st) != 1 || st[0].Status != models.AppStopped || st[0].AppID != "app-1" {
				t.Fatalf("%+v", st)
			}
			s.advance(time.Minute)
			if msgs, cmds := s.check(c); len(msgs) != 0 || has(cmds, "podman start") {
				t.Fatalf("again: %+v %q", msgs, cmds)
			}
		})
	}
}

func TestCheckCrashRestartsWithBackoff(t *testing.T) {
	s := newScene(t)
	c := ctr{id: longID("e1"), name: "api", app: "app-api", state: "running", started: s.now, hostPort: 21000}
	s.check(c)
	s.advance(10 * time.Second)
	c.state, c.exit, c.finished = "exited", 3, s.now.Add(-time.Second)
	msgs, cmds := s.check(c)
	st := ofType[models.AppStatusReport](msgs, wsproto.TypeAppStatus)
	if len(st) != 1 || st[0].Status != models.AppCrashed || st[0].HostPort != 21000 || !strings.Contains(st[0].Message, "code 3") {
		t.Fatalf("%+v", st)
	}
	if has(cmds, "podman start") {
		t.Fatal("restarted without backoff")
	}
	if d, ok := s.m.nextDue(); !ok || d != restartBackoffMin {
		t.Fatalf("restart due in %v %v", d, ok)
	}
	s.advance(restartBackoffMin)
	_, cmds = s.check(c)
	if !has(cmds, "podman start "+c.id) {
		t.Fatalf("not restarted: %q", cmds)
	}
	// It runs again: reported running, with the restart counted.
	c.state, c.exit, c.started = "running", 0, s.now
	msgs, _ = s.check(c)
	st = ofType[models.AppStatusReport](msgs, wsproto.TypeAppStatus)
	if len(st) != 1 || st[0].Status != models.AppRunning || st[0].RestartCount != 1 {
		t.Fatalf("%+v", st)
	}
	// Second crash: the backoff doubles.
	s.advance(20 * time.Second)
	c.state, c.exit, c.finished = "exited", 1, s.now
	s.check(c)
	if d, _ := s.m.nextDue(); d != 2*restartBackoffMin {
		t.Errorf("second backoff %v", d)
	}
	if restartBackoff(1) != 5*time.Second || restartBackoff(3) != 20*time.Second || restartBackoff(30) != restartBackoffMax {
		t.Error("restartBackoff bounds")
	}
}

func TestCheckCrashLoop(t *testing.T) {
	s := newScene(t)
	c := ctr{id: longID("f1"), name: "crashy", app: "app-c", state: "running", started: s.now}
	s.check(c)
	for i := 1; i <= crashThreshold; i++ {
		s.advance(2 * time.Second)
		c.state, c.exit, c.finished = "exited", 3, s.now
		msgs, cmds := s.check(c)
		vs := ofType[models.ViolationReport](msgs, wsproto.TypeViolation)
		if i < crashThreshold {
			if len(vs) != 0 {
				t.Fatalf("crash %d: early violation %+v", i, vs)
			}
			s.advance(restartBackoff(i))
			_, cmds = s.check(c)
			if !has(cmds, "podman start") {
				t.Fatalf("crash %d: not restarted", i)
			}
			c.state, c.started = "running", s.now
			s.check(c)
			continue
		}
		if len(vs) != 1 || vs[0].Kind != models.ViolationCrashLoop || vs[0].Action != "stopped" || !has(cmds, "podman stop -t 10 "+c.id) {
			t.Fatalf("crash %d: %+v %q", i, vs, cmds)
		}
		st := ofType[models.AppStatusReport](msgs, wsproto.TypeAppStatus)
		if len(st) != 1 || st[0].Status != models.AppCrashed || !strings.Contains(st[0].Message, "crash loop") {
			t.Fatalf("status %+v", st)
		}
	}
	for range 10 {
		s.advance(time.Minute)
		if msgs, cmds := s.check(c); has(cmds, "podman start") || len(msgs) != 0 {
			t.Fatalf("after the crash loop: %q %+v", cmds, msgs)
		}
	}
	// An operator or a job starts it again: a fresh start, counted anew.
	c.state, c.started = "running", s.now
	s.check(c)
	if h := s.m.health[c.id]; h.violation != "" || len(h.crashes) != 0 {
		t.Errorf("not reset: %+v", h)
	}
}

// Crashes further apart than the window never make a loop.
func TestCheckCrashesOutsideTheWindow(t *testing.T) {
	s := newScene(t)
	c := ctr{id: longID("f2"), name: "flaky", app: "app-f", state: "running", started: s.now}
	s.check(c)
	for i := 0; i < 6; i++ {
		s.advance(3 * time.Minute)
		c.state, c.exit, c.finished = "exited", 2, s.now
		msgs, _ := s.check(c)
		if vs := ofType[models.ViolationReport](msgs, wsproto.TypeViolation); len(vs) != 0 {
			t.Fatalf("crash %d: %+v", i, vs)
		}
		s.advance(time.Minute)
		if _, cmds := s.check(c); !has(cmds, "podman start") {
			t.Fatalf("crash %d: not restarted", i)
		}
		c.state, c.started = "running", s.now
		s.check(c)
	}
}

// With podman's own restart policy, RestartCount increments are the crashes.
func TestCheckCrashLoopFromRestartCount(t *testing.T) {
	s := newScene(t)
	c := ctr{id: longID("f3"), name: "x", app: "app-x", state: "running", started: s.now, policy: "on-failure", restarts: 2}
	s.check(c)
	s.advance(30 * time.Second)
	c.restarts, c.started = 4, s.now.Add(-time.Second)
	if msgs, _ := s.check(c); len(ofType[models.ViolationReport](msgs, wsproto.TypeViolation)) != 0 {
		t.Fatal("2 restarts made a loop")
	}
	s.advance(30 * time.Second)
	c.restarts, c.started = 5, s.now.Add(-time.Second)
	msgs, cmds := s.check(c)
	vs := ofType[models.ViolationReport](msgs, wsproto.TypeViolation)
	if len(vs) != 1 || vs[0].Kind != models.ViolationCrashLoop || !has(cmds, "podman stop") {
		t.Fatalf("%+v %q", vs, cmds)
	}
	// Podman gave up (exited non-zero): the monitor never restarts a
	// container whose restart policy is podman's.
	c2 := ctr{id: longID("f4"), name: "y", app: "app-y", state: "running", started: s.now, policy: "on-failure"}
	s.check(c, c2)
	s.advance(time.Second)
	c2.state, c2.exit, c2.finished = "exited", 1, s.now
	s.check(c, c2)
	s.advance(time.Hour)
	if _, cmds := s.check(c, c2); has(cmds, "podman start") {
		t.Error("restarted a container podman restarts")
	}
}

// A stop announced by a job is never a crash, whatever the exit code.
func TestCheckExpectedStop(t *testing.T) {
	s := newScene(t)
	c := ctr{id: longID("g1"), name: "web", app: "app-1", state: "running", started: s.now}
	s.check(c)
	s.advance(10 * time.Second)
	s.a.expectStop("wh-web")
	c.state, c.exit, c.finished = "exited", 1, s.now.Add(time.Second)
	s.advance(2 * time.Second)
	msgs, cmds := s.check(c)
	if len(msgs) != 0 || has(cmds, "podman start") {
		t.Fatalf("%+v %q", msgs, cmds)
	}
	s.advance(time.Minute)
	_, cmds = s.check(c)
	if has(cmds, "podman start") {
		t.Fatal("restarted a stopped app")
	}
}

// No restart while a job runs: it may be replacing this very container.
func TestCheckRestartWaitsForJobs(t *testing.T) {
	s := newScene(t)
	c := ctr{id: longID("h1"), name: "api", app: "app-a", state: "running", started: s.now}
	s.check(c)
	s.advance(time.Second)
	c.state, c.exit, c.finished = "exited", 1, s.now
	s.check(c)
	s.advance(time.Minute)
	s.a.jobMu.Lock()
	_, cmds := s.check(c)
	if has(cmds, "podman start") {
		s.a.jobMu.Unlock()
		t.Fatal("restarted during a job")
	}
	s.a.jobMu.Unlock()
	if d, ok := s.m.nextDue(); !ok || d > 2*time.Second {
		t.Errorf("retry in %v", d)
	}
	s.advance(2 * time.Second)
	if _, cmds = s.check(c); !has(cmds, "podman start") {
		t.Error("not restarted after the job")
	}
}

// A start that fails counts as a crash.
func TestCheckFailedRestart(t *testing.T) {
	s := newScene(t)
	c := ctr{id: longID("h2"), name: "api", app: "app-a", state: "running", started: s.now}
	s.check(c)
	s.fr.on("podman start", "", &CommandError{Argv: []string{"podman", "start"}, ExitCode: 125, Stderr: "Error: port already in use", Err: errors.New("exit status 125")})
	s.advance(time.Second)
	c.state, c.exit, c.finished = "exited", 1, s.now
	s.check(c)
	var vs []models.ViolationReport
	for i := 0; i < 5 && len(vs) == 0; i++ {
		s.advance(time.Minute)
		msgs, _ := s.check(c)
		vs = ofType[models.ViolationReport](msgs, wsproto.TypeViolation)
	}
	if len(vs) != 1 || vs[0].Kind != models.ViolationCrashLoop || !strings.Contains(vs[0].Message, "port already in use") {
		t.Fatalf("%+v", vs)
	}
}

func TestCheckDiskQuota(t *testing.T) {
	s := newScene(t)
	type fs struct{ total, avail int64 }
	answer := map[string]fs{}
	s.m.statfs = func(path string) (int64, int64, int64, error) {
		f, ok := answer[path]
		if !ok {
			return 0, 0, 0, errors.New("no such file")
		}
		return f.total, f.avail, f.avail, nil
	}
	full := ctr{id: longID("i1"), name: "fill", app: "app-fill", state: "running", started: s.now, diskQuota: 100 << 20}
	ok := ctr{id: longID("i2"), name: "fine", app: "app-fine", state: "running", started: s.now, diskQuota: 100 << 20}
	host := ctr{id: longID("i3"), name: "ext4", app: "app-ext4", state: "running", started: s.now, diskQuota: 100 << 20}
	none := ctr{id: longID("i4"), name: "none", app: "app-none", state: "running", started: s.now}
	answer["/var/lib/x/"+full.id+"/diff"] = fs{100 << 20, 512 << 10}
	answer["/var/lib/x/"+ok.id+"/diff"] = fs{100 << 20, 50 << 20}
	answer["/var/lib/x/"+host.id+"/diff"] = fs{500 << 30, 0} // a full host disk, not the quota
	answer["/var/lib/x/"+none.id+"/diff"] = fs{100 << 20, 0}
	s.check(full, ok, host, none)
	s.advance(30 * time.Second)
	msgs, cmds := s.check(full, ok, host, none)
	vs := ofType[models.ViolationReport](msgs, wsproto.TypeViolation)
	if len(vs) != 1 || vs[0].Kind != models.ViolationDiskQuota || vs[0].AppID != "app-fill" || !has(cmds, "podman stop -t 10 "+full.id) {
		t.Fatalf("%+v %q", vs, cmds)
	}
	st := ofType[models.AppStatusReport](msgs, wsproto.TypeAppStatus)
	if len(st) != 1 || st[0].Status != models.AppStopped {
		t.Errorf("%+v", st)
	}
}

func TestRunningApps(t *testing.T) {
	s := newScene(t)
	now := s.now
	cs := []ctr{
		{id: longID("1"), name: "web", app: "app-web", state: "running", started: now, hostPort: 21001},
		// During a redeploy the old container still exists, stopped.
		{id: longID("2"), name: "web-old", app: "app-web", state: "exited", exit: 143, started: now.Add(-time.Hour), finished: now},
		{id: longID("3"), name: "dead", app: "app-dead", state: "exited", exit: 2, started: now, finished: now},
		{id: longID("4"), name: "quit", app: "app-quit", state: "exited", exit: 0, started: now, finished: now},
		{id: longID("5"), name: "new", app: "app-new", state: "created"},
		{id: longID("6"), name: "anon", app: "", state: "running"},
	}
	s.fr.on("podman ps -a", psJSON(cs...), nil)
	apps, err := s.a.runningApps(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []wsproto.HeartbeatApp{
		{AppID: "app-dead", ContainerID: longID("3"), Status: models.AppCrashed},
		{AppID: "app-new", ContainerID: longID("5"), Status: models.AppStarting},
		{AppID: "app-quit", ContainerID: longID("4"), Status: models.AppStopped},
		{AppID: "app-web", ContainerID: longID("1"), Status: models.AppRunning, HostPort: 21001},
	}
	if !slices.Equal(apps, want) {
		t.Errorf("got  %+v\nwant %+v", apps, want)
	}
	if cmds := s.fr.commands(); len(cmds) != 1 || cmds[0] != "podman ps -a --filter label=wisehosting.managed=true --format json" {
		t.Errorf("commands %q", cmds)
	}
	// The list is reused for listReuse (a health check's serves the
	// heartbeat), then taken again.
	before := len(s.fr.commands())
	s.a.runningApps(context.Background())
	if len(s.fr.commands()) != before {
		t.Error("a fresh list was not reused")
	}
	s.advance(listReuse + time.Millisecond)
	s.fr.on("podman ps -a", "", errors.New("podman broke"))
	if _, err := s.a.runningApps(context.Background()); err == nil {
		t.Error("error hidden")
	}
}

func TestGetResourceUsage(t *testing.T) {
	s := newScene(t)
	s.fr.on("podman ps -q", "57b7408839fc\n724d5051d340\n\n", nil)
	s.fr.on("podman stats", realStatsJSON, nil)
	s.a.cfg.StatsInterval = 10 * time.Second
	res := s.a.getResourceUsage(context.Background())
	if res.Containers != 2 || res.CPUPercent != 0.09 || res.CPUs < 1 || res.MemoryTotalBytes <= 0 || res.MemoryUsedBytes <= 0 ||
		res.MemoryUsedBytes > res.MemoryTotalBytes || res.DiskTotalBytes <= 0 || res.DiskUsedBytes > res.DiskTotalBytes {
		t.Errorf("%+v", res)
	}
	// A fresh stats sample (from collectAppStats) is reused.
	before := len(s.fr.commands())
	s.advance(5 * time.Second)
	s.a.getResourceUsage(context.Background())
	if cmds := s.fr.commands()[before:]; has(cmds, "podman stats") {
		t.Errorf("stats sampled again: %q", cmds)
	}
}

func TestCollectAppStats(t *testing.T) {
	s := newScene(t)
	id := "57b7408839fc3e1520f695d02d78fe9bf5390042367d25df4a18efe0a3012cd5"
	cs := []ctr{{id: id, name: "t1", app: "app-1", state: "running", started: s.now},
		{id: "724d5051d3401ecc01376d395287c23e361402d3431542994677c075bda6bae3", name: "t2", app: "app-2", state: "exited", exit: 3}}
	s.fr.on("podman ps -a", psJSON(cs...), nil)
	s.fr.on("podman stats", realStatsJSON, nil)
	s.m.collectAppStats(context.Background())
	stats := ofType[wsproto.AppStatsPayload](sent(s.a), wsproto.TypeAppStats)
	if len(stats) != 1 || len(stats[0].Apps) != 1 {
		t.Fatalf("%+v", stats)
	}
	want := wsproto.AppStatLine{AppID: "app-1", ContainerID: id, CPUPercent: 0.09, MemBytes: 393200, MemLimitBytes: 16780000,
		NetRxBytes: 866, NetTxBytes: 2276, PIDs: 2}
	if got := stats[0].Apps[0]; got != want || !stats[0].At.Equal(s.now) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	// Ten seconds and 500 ms of CPU later: 5 %, from the CPU time.
	s.advance(10 * time.Second)
	s.fr.on("podman stats", strings.Replace(realStatsJSON, `"133.955836ms"`, `"633.955836ms"`, 1), nil)
	s.m.collectAppStats(context.Background())
	stats = ofType[wsproto.AppStatsPayload](sent(s.a), wsproto.TypeAppStats)
	if len(stats) != 1 || fmt.Sprintf("%.3f", stats[0].Apps[0].CPUPercent) != "5.000" {
		t.Errorf("%+v", stats)
	}
	// The list is reused while fresh: one ps for both.
	if n := strings.Count(strings.Join(s.fr.commands(), "\n"), "podman ps -a"); n != 1 {
		t.Errorf("%d ps calls", n)
	}
	// No running app: podman stats is not run at all.
	s2 := newScene(t)
	s2.fr.on("podman ps -a", psJSON(cs[1]), nil)
	s2.m.collectAppStats(context.Background())
	if has(s2.fr.commands(), "podman stats") || len(sent(s2.a)) != 0 {
		t.Errorf("%q", s2.fr.commands())
	}
}

// monitorLoop re-attaches at once (one ps, one inspect), loads the log
// cursors, and returns when the agent stops; containers are not touched.
func TestMonitorLoopStartsAndStops(t *testing.T) {
	fr := newFakeRunner()
	a := testAgent(t, fr)
	fr.on("podman ps -a", psJSON(ctr{id: longID("z"), name: "z", app: "app-z", state: "running", started: time.Now()}), nil)
	fr.on("podman container inspect", inspectJSON(ctr{id: longID("z"), name: "z", app: "app-z", state: "running", started: time.Now()}), nil)
	fr.on("podman info", "/nonexistent|overlay\n", nil)
	fr.on("podman stats", "[]", nil)
	done := make(chan struct{})
	go func() {
		a.monitorLoop()
		close(done)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !has(fr.commands(), "podman container inspect") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	a.cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("monitorLoop did not return")
	}
	for _, c := range fr.commands() {
		if strings.HasPrefix(c, "podman stop") || strings.HasPrefix(c, "podman rm") || strings.HasPrefix(c, "podman kill") {
			t.Errorf("touched a container: %q", c)
		}
	}
}

// A deploy announces the stop of the old wh-<app> by name and then starts a
// new container under that name: the announcement must not cover the new
// one, or its crashes would go unnoticed.
func TestExpectStopCoversOnlyTheOldContainer(t *testing.T) {
	a := newTestAgent(t, newFakeRunner())
	m := a.monitor()
	t0 := time.Now()
	m.now = func() time.Time { return t0 }
	m.expectStop("wh-web")
	old := &appHealth{ID: "old", Name: "wh-web", startedAt: t0.Add(-time.Hour)}
	if !m.stopExpected(old, t0.Add(time.Second)) {
		t.Fatal("the announced stop of the running container was not recognised")
	}
	fresh := &appHealth{ID: "new", Name: "wh-web", startedAt: t0.Add(2 * time.Second)}
	if m.stopExpected(fresh, t0.Add(5*time.Second)) {
		t.Fatal("a container started after the announcement was treated as an expected stop")
	}
	m.expectStop("new")
	if !m.stopExpected(fresh, t0.Add(6*time.Second)) {
		t.Fatal("an announcement by id was not recognised")
	}
}

// A heartbeat never reports a container list begun before a change the
// agent already told the control plane about (a job result, an
// app_status): arriving after it, the stale list would undo it there.
// CI caught this once: a stopped app shown running again, with the dead
// port of its stopped container, while its restart was under way.
func TestRunningAppsAfterChange(t *testing.T) {
	s := newScene(t)
	up := ctr{id: longID("1"), name: "web", app: "app-web", state: "running", started: s.now, hostPort: 21001}
	s.fr.on("podman ps -a", psJSON(up), nil)
	apps, err := s.a.runningApps(context.Background())
	if err != nil || len(apps) != 1 || apps[0].Status != models.AppRunning {
		t.Fatalf("first list: %+v %v", apps, err)
	}
	// A job stops the container and reports it.
	s.advance(time.Millisecond)
	down := up
	down.state, down.exit, down.finished = "exited", 143, s.now
	s.fr.on("podman ps -a", psJSON(down), nil)
	s.a.monitor().noteChange()
	before := len(s.fr.commands())
	apps, err = s.a.runningApps(context.Background())
	if err != nil || len(apps) != 1 || apps[0].Status != models.AppStopped {
		t.Fatalf("after the change the heartbeat reports %+v %v, want the app stopped", apps, err)
	}
	if len(s.fr.commands()) != before+1 {
		t.Errorf("the list from before the change was reused")
	}
	// The new list serves again until the next change.
	before = len(s.fr.commands())
	s.a.runningApps(context.Background())
	if len(s.fr.commands()) != before {
		t.Error("a list taken after the change was not reused")
	}
}

// TestCheckCrashBeforeFirstSight: a version that crashes between its
// deploy's switch and the monitor's first look is still a crash of the
// app, restarted, not a baseline left down.
func TestCheckCrashBeforeFirstSight(t *testing.T) {
	s := newScene(t)
	c := ctr{id: longID("f1"), name: "api", app: "app-api", state: "exited", exit: 139, started: s.now.Add(-2 * time.Second),
		finished: s.now.Add(-time.Second), hostPort: 21000}
	s.m.promote("app-api", c.id) // what the deploy does once it answered
	s.m.promote("app-api", "")
	msgs, _ := s.check(c)
	st := ofType[models.AppStatusReport](msgs, wsproto.TypeAppStatus)
	if len(st) != 1 || st[0].Status != models.AppCrashed || !strings.Contains(st[0].Message, "restarting") {
		t.Fatalf("%+v", st)
	}
	s.advance(restartBackoffMin)
	if _, cmds := s.check(c); !has(cmds, "podman start "+c.id) {
		t.Fatalf("not restarted: %q", cmds)
	}
}

// TestCheckRestartKeepsBandwidthCap: podman start gives the container a
// new network namespace; the monitor shapes it again.
func TestCheckRestartKeepsBandwidthCap(t *testing.T) {
	s := newScene(t)
	s.fr.on("podman inspect --format {{.State.Pid}}", "4242\n", nil).on("nsenter", "", nil)
	c := ctr{id: longID("f2"), name: "api", app: "app-api", state: "running", started: s.now, hostPort: 21000, bandwidth: 1_000_000}
	s.check(c)
	s.advance(10 * time.Second)
	c.state, c.exit, c.finished = "exited", 3, s.now.Add(-time.Second)
	s.check(c)
	s.advance(restartBackoffMin)
	_, cmds := s.check(c)
	start := slices.IndexFunc(cmds, func(x string) bool { return strings.HasPrefix(x, "podman start "+c.id) })
	tc := slices.IndexFunc(cmds, func(x string) bool { return strings.HasPrefix(x, "nsenter -t 4242 -n tc") })
	if start < 0 || tc < start {
		t.Fatalf("restart without the bandwidth cap: %q", cmds)
	}
}
