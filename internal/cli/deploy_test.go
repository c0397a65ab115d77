package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wisehosting/wisehosting/internal/servertest"
)

// deployWorld is a logged-in CLI, an app "web" and a connected protocol
// worker to run its jobs.
type deployWorld struct {
	srv   *servertest.Server
	token string
	w     *servertest.ProtoWorker
}

func newDeployWorld(t *testing.T) *deployWorld {
	isolate(t)
	srv := newServer(t)
	token := login(t, srv, "owner@example.com")
	_, key := srv.CreateWorker(token, "w1")
	w := servertest.NewProtoWorker(t, srv.URL, key)
	w.Connect()
	t.Cleanup(w.Close)
	w.Send("heartbeat", map[string]any{"status": "ready"})
	servertest.Eventually(t, 5*time.Second, "worker online", func() bool {
		return strings.Contains(string(srv.Do("GET", "/v1/workers", token, nil).Body), `"status":"online"`)
	})
	ok(t, "", "apps", "create", "web", "--repo", "https://example.com/me/web.git")
	return &deployWorld{srv: srv, token: token, w: w}
}

// start runs a command in the background; wait returns its result.
func start(t *testing.T, ctx context.Context, args ...string) (out, errb *syncBuffer, wait func() result) {
	out, errb = &syncBuffer{}, &syncBuffer{}
	done := make(chan result, 1)
	go func() { done <- runInto(ctx, "", out, errb, args...) }()
	return out, errb, func() result {
		t.Helper()
		select {
		case r := <-done:
			return r
		case <-time.After(20 * time.Second):
			t.Fatalf("wisehosting %s did not finish; stdout so far:\n%s\nstderr:\n%s", strings.Join(args, " "), out.String(), errb.String())
			return result{}
		}
	}
}

// runJob plays the worker's side of a deploy job: ack, building, the
// log chunks, starting, and the result.
func (d *deployWorld) runJob(t *testing.T, chunks []string, success bool, message, image string) servertest.Job {
	return d.runJobShown(t, nil, chunks, success, message, image)
}

// runJobShown is runJob that, with out, waits until the deploy command has
// shown "==> building" before going on: the stream reports a deployment's
// status as it finds it when it wakes, so statuses the worker sends in one
// burst may be reported only as the last of them.
func (d *deployWorld) runJobShown(t *testing.T, out *syncBuffer, chunks []string, success bool, message, image string) servertest.Job {
	t.Helper()
	job := d.w.ExpectJob(10 * time.Second)
	d.w.Send("job_ack", map[string]any{"job_id": job.JobID, "accepted": true})
	d.w.Send("job_status", map[string]any{"job_id": job.JobID, "status": "building"})
	if out != nil {
		waitFor(t, "deploy", out, "==> building\n")
	}
	off := 0
	for _, c := range chunks {
		d.w.Send("build_log", map[string]any{"job_id": job.JobID, "deployment_id": job.DeploymentID, "offset": off, "data": c})
		off += len(c)
	}
	if success {
		d.w.Send("job_status", map[string]any{"job_id": job.JobID, "status": "starting"})
		d.w.Send("job_result", map[string]any{"job_id": job.JobID, "success": true, "container_id": "c-" + image,
			"image_id": image, "host_port": 20001})
	} else {
		d.w.Send("job_result", map[string]any{"job_id": job.JobID, "success": false, "message": message})
	}
	return job
}

func waitFor(t *testing.T, what string, buf *syncBuffer, want string) {
	t.Helper()
	servertest.Eventually(t, 10*time.Second, what+" to show "+want, func() bool { return strings.Contains(buf.String(), want) })
}

// deploy streams the build log as the worker sends it and exits 0 when
// the deployment runs, 1 with the worker's reason when it fails; rollback
// follows the same way; logs prints and follows runtime lines.
func TestDeployLogsRollback(t *testing.T) {
	d := newDeployWorld(t)

	// Success.
	out, _, wait := start(t, context.Background(), "deploy", "web")
	waitFor(t, "deploy", out, "==> queued")
	d.runJobShown(t, out, []string{"Step 1/2 : FROM golang\n", "Step 2/2 : RUN go bu", "ild\nSuccessfully built\n"}, true, "", "sha256:one")
	r := wait()
	if r.code != 0 {
		t.Fatalf("deploy: %v", r)
	}
	contains(t, "deploy output", r.stdout, "==> deployment dep_", "==> building\n", "==> web is running at http://web.localhost")
	// Status lines may fall between log chunks (the server sends both as
	// they come); the log itself arrives whole and in order.
	if got := buildLog(r.stdout); got != "Step 1/2 : FROM golang\nStep 2/2 : RUN go build\nSuccessfully built\n" {
		t.Errorf("build log as printed: %q", got)
	}

	// Failure: exit 1, the reason on stderr in one line.
	out, _, wait = start(t, context.Background(), "deploy", "web")
	waitFor(t, "deploy", out, "==> queued")
	d.runJob(t, []string{"Step 1/2 : FROM golang\n", "error: go.mod not found\n"}, false, "build failed: exit status 1\nmore detail", "")
	r = wait()
	if r.code != 1 {
		t.Fatalf("failed deploy: %v", r)
	}
	contains(t, "failed deploy output", r.stdout, "error: go.mod not found\n")
	if !regexpMatch(`^wisehosting: deployment dep_\S+ failed: build failed: exit status 1 …\n$`, r.stderr) {
		t.Errorf("failed deploy stderr %q", r.stderr)
	}

	// --json: the log on stderr, the final deployment as JSON on stdout.
	_, errb, wait := start(t, context.Background(), "deploy", "web", "--json", "--commit", "abcdef1")
	waitFor(t, "deploy --json", errb, "==> queued")
	job := d.runJob(t, []string{"built two\n"}, true, "", "sha256:two")
	if job.Deploy["commit"] != "abcdef1" {
		t.Errorf("deploy job %v lacks the commit", job.Deploy)
	}
	r = wait()
	if r.code != 0 {
		t.Fatalf("deploy --json: %v", r)
	}
	contains(t, "deploy --json stderr", r.stderr, "built two")
	var final struct{ ID, Status, Commit string }
	if err := json.Unmarshal([]byte(r.stdout), &final); err != nil || final.Status != "running" || final.Commit != "abcdef1" {
		t.Fatalf("deploy --json stdout %q: %v", r.stdout, err)
	}

	// --no-follow returns at once.
	r = ok(t, "", "deploy", "web", "--no-follow")
	contains(t, "deploy --no-follow", r.stdout, "is queued")
	d.runJob(t, nil, false, "superseded", "")

	// Rollback to the version before: the worker gets the old image.
	out, _, wait = start(t, context.Background(), "rollback", "web")
	waitFor(t, "rollback", out, "==> queued")
	job = d.runJob(t, nil, true, "", "sha256:one")
	if job.Deploy["image_id"] != "sha256:one" {
		t.Errorf("rollback job %v does not run the previous image", job.Deploy)
	}
	if r = wait(); r.code != 0 {
		t.Fatalf("rollback: %v", r)
	}
	contains(t, "rollback output", r.stdout, "==> web is running")

	// Runtime logs: the last lines, then new ones live until Ctrl-C.
	line := func(msg string) {
		d.w.Send("runtime_log", map[string]any{"lines": []map[string]any{{"app_id": job.AppID, "stream": "stdout",
			"at": time.Now().UTC().Format(time.RFC3339Nano), "msg": msg}}})
	}
	line("first line")
	line("second line")
	servertest.Eventually(t, 5*time.Second, "runtime lines stored", func() bool {
		return strings.Contains(string(d.srv.Do("GET", "/v1/apps/web/logs", d.token, nil).Body), "second line")
	})
	r = ok(t, "", "logs", "web")
	contains(t, "logs", r.stdout, "stdout first line\n", "stdout second line\n")
	r = ok(t, "", "logs", "web", "--tail", "1")
	lacks(t, "logs --tail 1", r.stdout, "first line")
	contains(t, "logs --tail 1", r.stdout, "second line")
	var l struct{ Msg string }
	if err := json.Unmarshal([]byte(ok(t, "", "logs", "web", "--tail", "1", "--json").stdout), &l); err != nil || l.Msg != "second line" {
		t.Fatalf("logs --json: %v %+v", err, l)
	}

	ctx, cancel := context.WithCancel(context.Background())
	out, _, wait = start(t, ctx, "logs", "web", "-f", "--tail", "0")
	time.Sleep(300 * time.Millisecond) // let the stream open
	line("live line")
	waitFor(t, "logs -f", out, "live line")
	cancel()
	r = wait()
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("logs -f ended by Ctrl-C: %v", r)
	}
	lacks(t, "logs -f --tail 0", r.stdout, "first line", "second line")

	// Ctrl-C while following a deployment: it goes on without us.
	ctx, cancel = context.WithCancel(context.Background())
	out, _, wait = start(t, ctx, "deploy", "web")
	waitFor(t, "deploy", out, "==> queued")
	cancel()
	r = wait()
	if r.code != 130 || !regexpMatch("^wisehosting: stopped following; deployment dep_\\S+ goes on", r.stderr) {
		t.Fatalf("deploy ended by Ctrl-C: %v", r)
	}
	d.runJob(t, nil, true, "", "sha256:three")

	// Restart and stop print the job.
	contains(t, "restart", ok(t, "", "restart", "web").stdout, "Restart of web queued: job ")
	contains(t, "stop", ok(t, "", "stop", "web").stdout, "Stop of web queued: job ")
}

// buildLog is deploy's output without its "==> " status lines.
func buildLog(out string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(out, "\n") {
		if !strings.HasPrefix(l, "==> ") {
			b.WriteString(l)
		}
	}
	return b.String()
}

func regexpMatch(re, s string) bool {
	return mustCompile(re).MatchString(s)
}

// fakeServer is a stand-in control plane for contracts the real one
// cannot easily be made to show (a dropped stream).
func newFakeServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}

func sseHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
}

func sseEvent(w http.ResponseWriter, id, name, data string) {
	if id != "" {
		fmt.Fprintf(w, "id: %s\n", id)
	}
	fmt.Fprintf(w, "event: %s\n", name)
	for _, l := range strings.Split(data, "\n") {
		fmt.Fprintf(w, "data: %s\n", l)
	}
	fmt.Fprint(w, "\n")
	w.(http.Flusher).Flush()
}

// rollback sends {"deployment_id"} (or {}), and deploy-style following
// resumes a dropped build log from the last byte offset it saw.
func TestRollbackContractAndResume(t *testing.T) {
	isolate(t)
	t.Setenv("WH_TOKEN", "whp_test")
	var mu sync.Mutex
	var bodies, lastIDs []string
	url := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer whp_test" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch r.Method + " " + r.URL.Path {
		case "POST /v1/apps/web/rollback":
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			bodies = append(bodies, string(b))
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"id":"dep_2","app_id":"app_1","app":"web","status":"queued","trigger":"rollback","created_at":"2025-01-01T00:00:00Z","log_bytes":0}`)
		case "GET /v1/deployments/dep_2/logs":
			mu.Lock()
			lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
			n := len(lastIDs)
			mu.Unlock()
			sseHeaders(w)
			if n == 1 {
				sseEvent(w, "", "status", "queued")
				sseEvent(w, "10", "log", "part one\n")
				return // the connection drops
			}
			fmt.Fprint(w, ": ping\n\n")
			sseEvent(w, "", "status", "queued") // sent again on reconnect: not printed twice
			sseEvent(w, "", "status", "starting")
			sseEvent(w, "20", "log", "part two\n")
			sseEvent(w, "", "status", "running")
			sseEvent(w, "", "end", "running")
		case "GET /v1/deployments/dep_2":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"dep_2","status":"running","message":"rollback to deployment dep_0"}`)
		case "GET /v1/apps/web":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"name":"web","url":"http://web.example.test"}`)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":"no such endpoint","code":"not_found"}`)
		}
	})
	r := ok(t, "", "rollback", "web", "--server", url, "--to", "dep_0")
	contains(t, "rollback", r.stdout, "part one\n", "==> starting\n", "part two\n", "==> web is running at http://web.example.test")
	if strings.Count(r.stdout, "==> queued") != 1 {
		t.Errorf("status repeated after the reconnect:\n%s", r.stdout)
	}
	contains(t, "rollback stderr", r.stderr, "reconnecting")
	ok(t, "", "rollback", "web", "--server", url, "--no-follow")
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 2 || bodies[0] != `{"deployment_id":"dep_0"}` || bodies[1] != `{}` {
		t.Errorf("rollback bodies %q", bodies)
	}
	if len(lastIDs) != 2 || lastIDs[0] != "" || lastIDs[1] != "10" {
		t.Errorf("Last-Event-ID per connection %q, want \"\" then 10", lastIDs)
	}
}

// logs -f reconnects with the last line's id when the stream drops.
func TestLogsFollowResumes(t *testing.T) {
	isolate(t)
	t.Setenv("WH_TOKEN", "whp_test")
	var mu sync.Mutex
	var lastIDs []string
	url := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/apps/web/logs" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if r.URL.Query().Get("follow") != "1" {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `[{"id":4,"at":"2025-01-01T00:00:00Z","stream":"stdout","msg":"old"}]`)
			return
		}
		mu.Lock()
		lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
		n := len(lastIDs)
		mu.Unlock()
		sseHeaders(w)
		if n == 1 {
			sseEvent(w, "5", "log", `{"id":5,"at":"2025-01-01T00:00:01Z","stream":"stdout","msg":"five"}`)
			return
		}
		sseEvent(w, "6", "log", `{"id":6,"at":"2025-01-01T00:00:02Z","stream":"stderr","msg":"six"}`)
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, _, wait := start(t, ctx, "logs", "web", "-f", "--server", url)
	waitFor(t, "logs -f", out, "stderr six")
	cancel()
	r := wait()
	if r.code != 0 {
		t.Fatalf("logs -f: %v", r)
	}
	contains(t, "logs -f", r.stdout, "stdout old\n", "stdout five\n", "stderr six\n")
	mu.Lock()
	defer mu.Unlock()
	if len(lastIDs) != 2 || lastIDs[0] != "4" || lastIDs[1] != "5" {
		t.Errorf("Last-Event-ID per connection %q, want 4 then 5", lastIDs)
	}
}
