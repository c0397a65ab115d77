package worker

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wisehosting/wisehosting/internal/models"
	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// Blue/green redeploys on fake runners: the order of the steps, what a
// failure leaves, the health check, the first deploy, and the settling of
// new versions left behind.

// event is one command run or one message emitted, in the order they
// happened.
type event struct {
	at      time.Time // when it was recorded (a message: at the next command)
	cmd     string    // a command line, or
	msgType string    // a message
	payload any
}

// eventRunner records commands and the messages emitted before each, so
// a test sees their interleaving; hook may answer a command instead of
// the wrapped runner.
type eventRunner struct {
	next Runner
	ws   *wsClient
	hook func(argv []string) (string, error, bool)

	mu     sync.Mutex
	events []event
}

func (e *eventRunner) drainMsgs() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for e.ws != nil {
		select {
		case m := <-e.ws.send:
			e.events = append(e.events, event{at: time.Now(), msgType: m.msgType, payload: m.payload})
		default:
			return
		}
	}
}

func (e *eventRunner) record(argv []string) {
	e.drainMsgs()
	e.mu.Lock()
	e.events = append(e.events, event{at: time.Now(), cmd: strings.Join(argv, " ")})
	e.mu.Unlock()
}

func (e *eventRunner) Run(ctx context.Context, argv ...string) ([]byte, error) {
	e.record(argv)
	if e.hook != nil {
		if out, err, ok := e.hook(argv); ok {
			return []byte(out), err
		}
	}
	return e.next.Run(ctx, argv...)
}

func (e *eventRunner) Stream(ctx context.Context, w io.Writer, argv ...string) error {
	e.record(argv)
	if e.hook != nil {
		if out, err, ok := e.hook(argv); ok {
			io.WriteString(w, out)
			return err
		}
	}
	return e.next.Stream(ctx, w, argv...)
}

// all returns every event so far (messages emitted last included).
func (e *eventRunner) all() []event {
	e.drainMsgs()
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.events)
}

// index is the position of the first event matching, or -1.
func index(evs []event, match func(event) bool) int {
	return slices.IndexFunc(evs, match)
}

func cmdPrefix(p string) func(event) bool {
	return func(ev event) bool { return strings.HasPrefix(ev.cmd, p) }
}

func msgOf(typ string) func(event) bool {
	return func(ev event) bool { return ev.msgType == typ }
}

// bgAgent is an agent deploying testPayload from an existing image (no
// clone, no build) over happyRunner's replies, with events recorded.
func bgAgent(t *testing.T) (*Agent, *scriptRunner, *eventRunner, *models.DeployPayload) {
	t.Helper()
	r := happyRunner(t, nil)
	er := &eventRunner{next: r}
	a := newTestAgent(t, er)
	t.Cleanup(func() { monitors.Delete(a) })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	a.ws = &wsClient{ctx: ctx, send: make(chan outMsg, 1000)}
	er.ws = a.ws
	p := testPayload()
	p.ImageID = testImage
	return a, r, er, p
}

func cmdLines(evs []event) []string {
	var out []string
	for _, ev := range evs {
		if ev.cmd != "" {
			out = append(out, ev.cmd)
		}
	}
	return out
}

func TestBlueGreenOrderOfOperations(t *testing.T) {
	a, _, er, p := bgAgent(t)
	a.cfg.DrainDelay = 300 * time.Millisecond
	res := a.executeDeploy("job_1", "dep_1", p)
	if !res.Success {
		t.Fatalf("deploy: %+v", res)
	}
	evs := er.all()
	cmds := strings.Join(cmdLines(evs), "\n")
	run := index(evs, cmdPrefix("podman run -d --name wh-web_next "))
	status := index(evs, msgOf(wsproto.TypeAppStatus))
	stop := index(evs, cmdPrefix("podman stop -t 10 -- old"))
	rmOld := index(evs, cmdPrefix("podman rm -f -v -- old"))
	rename := index(evs, cmdPrefix("podman rename -- "+testCID+" wh-web"))
	if run < 0 || status < 0 || stop < 0 || rmOld < 0 || rename < 0 {
		t.Fatalf("steps missing (run %d, app_status %d, stop %d, rm %d, rename %d):\n%s", run, status, stop, rmOld, rename, cmds)
	}
	if !(run < status && status < stop && stop < rmOld && rmOld < rename) {
		t.Fatalf("order: run %d, app_status %d, stop %d, rm %d, rename %d; want increasing:\n%s", run, status, stop, rmOld, rename, cmds)
	}
	// Nothing touched the old container before the new version answered.
	for _, ev := range evs[:status] {
		if strings.Contains(ev.cmd, " old") || strings.Contains(ev.cmd, "-- wh-web ") || strings.HasSuffix(ev.cmd, "-- wh-web") {
			t.Fatalf("the old container was touched before the switch: %s", ev.cmd)
		}
	}
	// The rename is the last container command.
	for _, ev := range evs[rename+1:] {
		if strings.HasPrefix(ev.cmd, "podman ") && !strings.HasPrefix(ev.cmd, "podman images") && !strings.HasPrefix(ev.cmd, "podman rmi") {
			t.Fatalf("%q after the rename", ev.cmd)
		}
	}
	st := evs[status].payload.(models.AppStatusReport)
	if st.AppID != "app_1" || st.ContainerID != testCID || st.Status != models.AppRunning || st.HostPort != res.HostPort ||
		st.Message != "switching traffic" || st.At.IsZero() {
		t.Fatalf("app_status %+v (result port %d)", st, res.HostPort)
	}
	if n := len(slices.DeleteFunc(slices.Clone(evs), func(ev event) bool { return ev.msgType != wsproto.TypeAppStatus })); n != 1 {
		t.Fatalf("%d app_status messages", n)
	}
	// The old container had DrainDelay to finish its requests (messages
	// are seen when the next command runs: the report's own time counts).
	if d := evs[stop].at.Sub(st.At); d < a.cfg.DrainDelay {
		t.Fatalf("old container stopped %v after the switch, want ≥ %v", d, a.cfg.DrainDelay)
	}
	// Its stop was announced by id, not by the name the new one takes.
	m := a.monitor()
	m.mu.Lock()
	_, byID := m.expected["old"]
	_, byName := m.expected["wh-web"]
	m.mu.Unlock()
	if !byID || byName {
		t.Fatalf("expected stops: by id %v, by name %v", byID, byName)
	}
	if res.HostPort == 21005 || res.ContainerID != testCID {
		t.Fatalf("result %+v", res)
	}
	if got := a.switchedTo("web"); got != "" {
		t.Fatalf("switch record %q left after a complete switch", got)
	}
}

func TestBlueGreenFailureLeavesOldUntouched(t *testing.T) {
	cases := []struct {
		name  string
		setup func(a *Agent, r *scriptRunner, er *eventRunner, p *models.DeployPayload)
		want  string
	}{
		{"run fails", func(a *Agent, r *scriptRunner, er *eventRunner, p *models.DeployPayload) {
			r.on("podman run -d", "", &CommandError{ExitCode: 125, Stderr: "Error: something broke"})
		}, "something broke"},
		{"exits at once", func(a *Agent, r *scriptRunner, er *eventRunner, p *models.DeployPayload) {
			r.on("podman inspect --format {{.State.Running}}|{{.State.Status}} -- "+testCID, "false|exited\n", nil)
			r.on("podman logs --tail 30 -- "+testCID, "panic: no config\n", nil)
		}, "panic: no config"},
		{"exits while checked", func(a *Agent, r *scriptRunner, er *eventRunner, p *models.DeployPayload) {
			a.cfg.HealthTimeout = 20 * time.Second
			var n atomic.Int32
			er.hook = func(argv []string) (string, error, bool) {
				if strings.HasPrefix(strings.Join(argv, " "), "podman inspect --format {{.State.Running}}") {
					if n.Add(1) > 2 {
						return "false|exited\n", nil, true
					}
					return "true|running\n", nil, true
				}
				return "", nil, false
			}
			r.on("podman logs --tail 30 -- "+testCID, "bye\n", nil)
		}, "bye"},
		{"bandwidth limit", func(a *Agent, r *scriptRunner, er *eventRunner, p *models.DeployPayload) {
			p.Limits.BandwidthBitsPerSec = 1_000_000
			r.on("podman inspect --format {{.State.Pid}} -- "+testCID, "4242\n", nil)
			r.on("nsenter", "", &CommandError{ExitCode: 1, Stderr: "tc: not found"})
		}, "bandwidth limit"},
		{"health check", func(a *Agent, r *scriptRunner, er *eventRunner, p *models.DeployPayload) {
			port := serveOnFreePort(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "not ready", http.StatusInternalServerError)
			}))
			a.cfg.PortLo, a.cfg.PortHi = port, port
			a.cfg.HealthTimeout = 600 * time.Millisecond
			p.HealthCheckPath = "/healthz"
		}, "health check: GET /healthz did not answer with a status from 200 to 399 within 600ms (last: status 500)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, r, er, p := bgAgent(t)
			tc.setup(a, r, er, p)
			start := time.Now()
			res := a.executeDeploy("job_1", "dep_1", p)
			if res.Success || !strings.Contains(res.Message, tc.want) {
				t.Fatalf("result %+v, want a failure with %q", res, tc.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("took %v", d)
			}
			evs := er.all()
			cmds := cmdLines(evs)
			for _, c := range cmds {
				if strings.Contains(c, " old") || strings.HasPrefix(c, "podman rename") || strings.HasPrefix(c, "podman stop") ||
					strings.HasSuffix(c, "-- wh-web") || strings.HasPrefix(c, "podman rmi") {
					t.Fatalf("the old container or images were touched: %q\n%s", c, strings.Join(cmds, "\n"))
				}
			}
			if !slices.ContainsFunc(cmds, func(c string) bool {
				return c == "podman rm -f -v -- wh-web_next" || c == "podman rm -f -v -- "+testCID
			}) {
				t.Fatalf("the new version was not removed:\n%s", strings.Join(cmds, "\n"))
			}
			if index(evs, msgOf(wsproto.TypeAppStatus)) >= 0 {
				t.Fatal("app_status sent for a failed new version")
			}
		})
	}
}

// serveOnFreePort serves h on a loopback port and returns the port.
func serveOnFreePort(t *testing.T, h http.Handler) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

func TestBlueGreenHealthCheckPath(t *testing.T) {
	var hits atomic.Int32
	var paths sync.Map
	port := serveOnFreePort(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths.Store(r.URL.RequestURI(), true)
		if r.URL.Path == "/elsewhere" {
			t.Error("a redirect was followed")
		}
		switch n := hits.Add(1); {
		case n <= 2:
			http.Error(w, "starting", http.StatusServiceUnavailable)
		default:
			http.Redirect(w, r, "/elsewhere", http.StatusFound) // a 3xx is an answer
		}
	}))
	a, _, er, p := bgAgent(t)
	a.cfg.PortLo, a.cfg.PortHi = port, port
	a.cfg.HealthTimeout = 10 * time.Second
	p.HealthCheckPath = "/healthz?deep=1"
	res := a.executeDeploy("job_1", "dep_1", p)
	if !res.Success || res.HostPort != port {
		t.Fatalf("deploy: %+v", res)
	}
	if n := hits.Load(); n != 3 {
		t.Fatalf("%d requests, want 3 (two 503, then a 302)", n)
	}
	if _, ok := paths.Load("/healthz?deep=1"); !ok {
		t.Fatal("the health-check path was not requested")
	}
	evs := er.all()
	if i := index(evs, msgOf(wsproto.TypeAppStatus)); i < 0 || evs[i].payload.(models.AppStatusReport).HostPort != port {
		t.Fatal("no app_status with the new port")
	}
}

// Without a health-check path, the deploy waits for a TCP connect.
func TestBlueGreenWaitsForTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	a, _, _, p := bgAgent(t)
	a.cfg.PortLo, a.cfg.PortHi = port, port
	a.cfg.HealthTimeout = 10 * time.Second
	opened := make(chan struct{})
	go func() {
		time.Sleep(700 * time.Millisecond) // the app takes a while to listen
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Error(err)
			close(opened)
			return
		}
		close(opened)
		t.Cleanup(func() { l.Close() })
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	start := time.Now()
	res := a.executeDeploy("job_1", "dep_1", p)
	<-opened
	if !res.Success || time.Since(start) < 700*time.Millisecond || time.Since(start) > 5*time.Second {
		t.Fatalf("deploy after %v: %+v", time.Since(start), res)
	}
}

func TestBlueGreenFirstDeployHasNoDrain(t *testing.T) {
	a, r, er, p := bgAgent(t)
	r.on("podman ps -a --format json", "[]", nil)
	a.cfg.DrainDelay = 5 * time.Second
	start := time.Now()
	res := a.executeDeploy("job_1", "dep_1", p)
	if !res.Success {
		t.Fatalf("deploy: %+v", res)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("first deploy took %v: it waited for a drain", d)
	}
	evs := er.all()
	cmds := cmdLines(evs)
	if slices.ContainsFunc(cmds, func(c string) bool { return strings.HasPrefix(c, "podman stop") }) {
		t.Fatalf("stopped something:\n%s", strings.Join(cmds, "\n"))
	}
	status, rename := index(evs, msgOf(wsproto.TypeAppStatus)), index(evs, cmdPrefix("podman rename -- "+testCID+" wh-web"))
	if status < 0 || rename < status {
		t.Fatalf("app_status at %d, rename at %d", status, rename)
	}
}

// A restart of a stopped app replaces its container the same way, without
// a drain: nothing runs to drain.
func TestBlueGreenStoppedOldHasNoDrain(t *testing.T) {
	a, r, er, p := bgAgent(t)
	r.on("podman ps -a --format json", `[{"Id":"old","Names":["wh-web"],"ImageID":"`+oldImage+`","State":"exited",
		"Labels":{"wisehosting.host_port":"21005"}}]`, nil)
	a.cfg.DrainDelay = 5 * time.Second
	start := time.Now()
	if res := a.executeDeploy("job_1", "dep_1", p); !res.Success || time.Since(start) > 2*time.Second {
		t.Fatalf("deploy after %v: %+v", time.Since(start), res)
	}
	cmds := cmdLines(er.all())
	if slices.ContainsFunc(cmds, func(c string) bool { return strings.HasPrefix(c, "podman stop") }) ||
		!slices.Contains(cmds, "podman rm -f -v -- old") {
		t.Fatalf("commands:\n%s", strings.Join(cmds, "\n"))
	}
}

// A failure after the switch (the new version serves) is a success with a
// warning: the next deploy settles what is left.
func TestBlueGreenCleanupFailureAfterSwitch(t *testing.T) {
	a, r, _, p := bgAgent(t)
	r.on("podman rm -f -v -- old", "", &CommandError{ExitCode: 125, Stderr: "Error: device busy"})
	res := a.executeDeploy("job_1", "dep_1", p)
	if !res.Success || !strings.Contains(res.Message, "device busy") || res.ContainerID != testCID {
		t.Fatalf("result %+v", res)
	}
	if got := a.switchedTo("web"); got != testCID {
		t.Fatalf("switch record %q: the next settling would undo the switch", got)
	}
}

// psEntry renders one `podman ps -a --format json` entry.
func psEntry(id, name, app, state string) string {
	return fmt.Sprintf(`{"Id":%q,"Names":[%q],"State":%q,"ImageID":"%s","Labels":{"wisehosting.managed":"true","wisehosting.app":%q,"wisehosting.app_id":"app_%s"}}`,
		id, name, state, testImage, app, app)
}

func TestSettleNextAtStartUp(t *testing.T) {
	cases := []struct {
		name     string
		ps       []string
		want     []string // container commands, in order
		switched string   // the switch record (a deploy that died in its drain)
	}{
		{"unfinished deploy: the new version goes",
			[]string{psEntry("cur", "wh-web", "web", "running"), psEntry("nxt", "wh-web_next", "web", "running")},
			[]string{"podman rm -f -v -- nxt"}, ""},
		{"unfinished deploy, both down: the new version goes",
			[]string{psEntry("cur", "wh-web", "web", "exited"), psEntry("nxt", "wh-web_next", "web", "exited")},
			[]string{"podman rm -f -v -- nxt"}, ""},
		{"switched, old removed: only the rename was missing",
			[]string{psEntry("nxt", "wh-web_next", "web", "running")},
			[]string{"podman rename -- nxt wh-web"}, ""},
		{"switched, old stopped: the old goes, the new takes the name",
			[]string{psEntry("cur", "wh-web", "web", "exited"), psEntry("nxt", "wh-web_next", "web", "running")},
			[]string{"podman rm -f -v -- cur", "podman rename -- nxt wh-web"}, ""},
		{"an app called web-next is another app",
			[]string{psEntry("cur", "wh-web", "web", "running"), psEntry("other", "wh-web-next", "web-next", "running")},
			nil, ""},
		{"a container of that name that is not ours is left alone",
			[]string{psEntry("cur", "wh-web", "web", "running"),
				`{"Id":"foreign","Names":["wh-web_next"],"State":"running","Labels":{}}`},
			nil, ""},
		{"another agent's new version is left alone (it may be checking it now)",
			[]string{psEntry("cur", "wh-web", "web", "running"),
				strings.Replace(psEntry("nxt", "wh-web_next", "web", "running"), `"Labels":{`, `"Labels":{"wisehosting.agent":"other",`, 1)},
			nil, ""},
		{"nothing to do", []string{psEntry("cur", "wh-web", "web", "running")}, nil, ""},
		{"switched, died while draining: the switch is completed, not undone",
			[]string{psEntry("cur", "wh-web", "web", "running"), psEntry("nxt", "wh-web_next", "web", "running")},
			[]string{"podman rm -f -v -- cur", "podman rename -- nxt wh-web"}, "nxt"},
		{"a switch record of another container does not count",
			[]string{psEntry("cur", "wh-web", "web", "running"), psEntry("nxt", "wh-web_next", "web", "running")},
			[]string{"podman rm -f -v -- nxt"}, "older"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeRunner()
			f.on("podman ps -a --format json", "["+strings.Join(tc.ps, ",")+"]", nil)
			f.on("podman rm -f -v -- ", "", nil)
			f.on("podman rename -- ", "", nil)
			a := newTestAgent(t, f)
			t.Cleanup(func() { monitors.Delete(a) })
			if tc.switched != "" {
				a.recordSwitch("web", tc.switched)
			}
			a.reconcileNextContainers(a.ctx)
			got := slices.DeleteFunc(f.commands(), func(c string) bool { return strings.HasPrefix(c, "podman ps") })
			if !slices.Equal(got, tc.want) {
				t.Fatalf("commands %q, want %q", got, tc.want)
			}
			if len(tc.want) > 0 && a.switchedTo("web") != "" {
				t.Fatalf("switch record left: %q", a.switchedTo("web"))
			}
		})
	}
}

// A deploy settles a leftover new version first: when the switch had been
// made, the adopted container is the one replaced.
// The agent's instance id is kept in its data dir and labels what it runs.
func TestInstanceID(t *testing.T) {
	dir := t.TempDir()
	id, err := loadInstanceID(dir)
	if err != nil || len(id) != 16 {
		t.Fatalf("instance id %q, %v", id, err)
	}
	if again, _ := loadInstanceID(dir); again != id {
		t.Fatalf("instance id changed from %s to %s", id, again)
	}
	a := newTestAgent(t, newFakeRunner())
	a.instance = id
	argv, _, err := a.runArgv(testPayload(), "wh-web_next", "dep_1", testImage, 21001, "/run/env")
	if err != nil || !containsSeq(argv, []string{"--label", LabelAgent + "=" + id}) || !containsSeq(argv, []string{"--name", "wh-web_next"}) {
		t.Fatalf("run argv %q, %v", argv, err)
	}
	if _, _, err := a.runArgv(testPayload(), "wh-other", "dep_1", testImage, 21001, "/run/env"); err == nil {
		t.Fatal("a container name not the app's was accepted")
	}
}

func TestDeploySettlesLeftoverNext(t *testing.T) {
	a, r, er, p := bgAgent(t)
	r.on("podman ps -a --format json", "["+psEntry("stale", "wh-web_next", "web", "running")+"]", nil)
	r.on("podman stop -t 10 -- stale", "", nil)
	if res := a.executeDeploy("job_1", "dep_1", p); !res.Success {
		t.Fatalf("deploy: %+v", res)
	}
	cmds := cmdLines(er.all())
	want := []string{"podman rename -- stale wh-web", "podman stop -t 10 -- stale", "podman rm -f -v -- stale", "podman rename -- " + testCID + " wh-web"}
	var got []string
	for _, c := range cmds {
		if strings.HasPrefix(c, "podman rename") || strings.HasPrefix(c, "podman stop") || strings.HasPrefix(c, "podman rm ") {
			got = append(got, c)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestStopAndDeleteHandleNext(t *testing.T) {
	f := newFakeRunner()
	f.on("podman ps -a --format json", "["+psEntry("cur", "wh-web", "web", "running")+","+psEntry("nxt", "wh-web_next", "web", "running")+"]", nil)
	f.on("podman rm -f -v -- ", "", nil)
	f.on("podman stop -t 5 -- wh-web", "", nil)
	f.on("podman images --filter label=wisehosting.app=web --format json", "[]", nil)
	a := newTestAgent(t, f)
	t.Cleanup(func() { monitors.Delete(a) })
	if res := a.executeStop("j", &models.DeployPayload{AppName: "web"}); !res.Success {
		t.Fatalf("stop: %+v", res)
	}
	cmds := slices.DeleteFunc(f.commands(), func(c string) bool { return strings.HasPrefix(c, "podman ps") })
	if want := []string{"podman rm -f -v -- nxt", "podman stop -t 5 -- wh-web"}; !slices.Equal(cmds, want) {
		t.Fatalf("stop ran %q, want %q", cmds, want)
	}
	before := len(f.commands())
	if res := a.executeDelete("j", &models.DeployPayload{AppName: "web"}); !res.Success {
		t.Fatalf("delete: %+v", res)
	}
	cmds = f.commands()[before:]
	for _, want := range []string{"podman rm -f -v -- wh-web", "podman rm -f -v -- wh-web_next"} {
		if !slices.Contains(cmds, want) {
			t.Errorf("delete did not run %q: %q", want, cmds)
		}
	}
}

// The monitor leaves a new version under check to its deploy: exits are
// not crashes, an OOM kill is not a violation, nothing is restarted or
// reported. Renamed, it is the app: its first sight is its baseline, and
// later crashes count.
func TestMonitorIgnoresNewVersionUnderCheck(t *testing.T) {
	s := newScene(t)
	t0 := s.now
	next := ctr{id: longID("n1"), name: "web_next", app: "app-1", state: "running", started: t0}
	cur := ctr{id: longID("c1"), name: "web", app: "app-1", state: "running", started: t0.Add(-time.Hour), hostPort: 21001}
	s.check(cur, next)
	s.advance(time.Second)
	s.m.oom.record(next.id, s.now)
	dead := next
	dead.state, dead.exit, dead.finished = "exited", 1, s.now
	for range crashThreshold + 1 {
		msgs, cmds := s.check(cur, dead)
		if len(msgs) != 0 || has(cmds, "podman start") || has(cmds, "podman stop") {
			t.Fatalf("the monitor acted on a new version under check: %+v %q", msgs, cmds)
		}
		s.advance(10 * time.Second)
	}
	oomed := next
	oomed.state, oomed.exit, oomed.finished, oomed.oomKilled = "exited", 137, s.now, true
	if msgs, cmds := s.check(cur, oomed); len(msgs) != 0 || has(cmds, "podman stop") {
		t.Fatalf("OOM of a new version under check: %+v %q", msgs, cmds)
	}

	// Another deploy: this new version passes, the old one goes, the new
	// one is renamed (same id).
	fresh := ctr{id: longID("n2"), name: "web_next", app: "app-1", state: "running", started: s.now, hostPort: 21002}
	s.check(cur, fresh)
	s.advance(time.Second)
	renamed := fresh
	renamed.name = "web"
	if msgs, cmds := s.check(renamed); len(msgs) != 0 || has(cmds, "podman start") {
		t.Fatalf("the rename was taken for a change: %+v %q", msgs, cmds)
	}
	// A crash of the app now counts.
	s.advance(time.Minute)
	crashed := renamed
	crashed.state, crashed.exit, crashed.finished = "exited", 2, s.now
	msgs, _ := s.check(crashed)
	st := ofType[models.AppStatusReport](msgs, wsproto.TypeAppStatus)
	if len(st) != 1 || st[0].Status != models.AppCrashed || st[0].ContainerID != fresh.id {
		t.Fatalf("crash after the rename: %+v", st)
	}
}

// Heartbeats and stats report one container per app: the app's own while
// a new version is checked, the new version once the deploy switched.
func TestCurrentContainerDuringRedeploy(t *testing.T) {
	s := newScene(t)
	cur := ctr{id: longID("c1"), name: "web", app: "app-1", state: "running", started: s.now.Add(-time.Hour), hostPort: 21001}
	next := ctr{id: longID("n1"), name: "web_next", app: "app-1", state: "running", started: s.now, hostPort: 21002}
	s.fr.on("podman ps -a", psJSON(cur, next), nil)
	apps, err := s.a.runningApps(context.Background())
	if err != nil || len(apps) != 1 || apps[0].ContainerID != cur.id || apps[0].HostPort != 21001 {
		t.Fatalf("during the check: %+v %v", apps, err)
	}
	s.m.promote("app-1", next.id)
	if apps, _ := s.a.runningApps(context.Background()); len(apps) != 1 || apps[0].ContainerID != next.id || apps[0].HostPort != 21002 {
		t.Fatalf("after the switch: %+v", apps)
	}
	s.m.promote("app-1", "")
	// First deploy: the new version is all there is.
	s.advance(time.Minute)
	s.fr.on("podman ps -a", psJSON(next), nil)
	if apps, _ := s.a.runningApps(context.Background()); len(apps) != 1 || apps[0].ContainerID != next.id {
		t.Fatalf("first deploy: %+v", apps)
	}
	best := s.m.current([]managedCtr{mustPS(t, cur), mustPS(t, next)}, true)
	if len(best) != 1 || best["app-1"].ID != cur.id {
		t.Fatalf("stats pick %+v", best)
	}
}

func mustPS(t *testing.T, c ctr) managedCtr {
	t.Helper()
	list, err := parsePodmanPS([]byte(psJSON(c)))
	if err != nil || len(list) != 1 {
		t.Fatal(err)
	}
	return list[0]
}

// A new version that answered its check but exited before the monitor saw
// it under the app's name crashed: it is restarted, not taken as a silent
// baseline (which would leave the app down).
func TestMonitorPromotedVersionExitedIsACrash(t *testing.T) {
	s := newScene(t)
	next := ctr{id: longID("n1"), name: "web_next", app: "app-1", state: "running", started: s.now, hostPort: 21002}
	s.check(next)
	s.advance(3 * time.Second)
	gone := next
	gone.name, gone.state, gone.exit, gone.finished = "web", "exited", 3, s.now
	msgs, _ := s.check(gone)
	st := ofType[models.AppStatusReport](msgs, wsproto.TypeAppStatus)
	if len(st) != 1 || st[0].Status != models.AppCrashed || !strings.Contains(st[0].Message, "restarting") {
		t.Fatalf("promoted version found exited: %+v", st)
	}
	s.advance(restartBackoffMin)
	if _, cmds := s.check(gone); !has(cmds, "podman start "+next.id) {
		t.Fatalf("not restarted: %q", cmds)
	}
	// An agent restart that finds an exited app is still a silent baseline.
	s2 := newScene(t)
	old := ctr{id: longID("o1"), name: "web", app: "app-1", state: "exited", exit: 3, started: s2.now.Add(-time.Hour), finished: s2.now.Add(-time.Minute)}
	if _, cmds := s2.check(old); has(cmds, "podman start") {
		t.Fatalf("restarted an app found exited at first sight: %q", cmds)
	}
}
