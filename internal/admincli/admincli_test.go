package admincli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wisehosting/wisehosting/internal/admin"
	"github.com/wisehosting/wisehosting/internal/admincli"
	"github.com/wisehosting/wisehosting/internal/adminrpc"
	"github.com/wisehosting/wisehosting/internal/servertest"
)

const password = "correct horse battery staple"

// syncBuffer is a bytes.Buffer safe for a command writing while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// operator is one person at the admin tool: a session file of their own.
type operator struct {
	t    *testing.T
	addr string
	cfg  string
}

func newOperator(t *testing.T, srv *servertest.Server, username, role string) *operator {
	t.Helper()
	if _, _, err := admin.CreateAccount(context.Background(), srv.S.Store, nil,
		admin.NewAccount{Username: username, Password: password, Role: role}); err != nil {
		t.Fatal(err)
	}
	o := &operator{t: t, addr: strings.TrimPrefix(srv.InternalURL, "http://"), cfg: filepath.Join(t.TempDir(), "cfg", "session.json")}
	if code, out := o.runIn(password+"\n", "login", "--username", username); code != 0 || !strings.Contains(out, "Logged in") {
		t.Fatalf("login %s: %d %s", username, code, out)
	}
	return o
}

func (o *operator) env(k string) string {
	switch k {
	case "WH_ADMIN_CONFIG":
		return o.cfg
	case "WH_ADMIN_ADDR":
		return o.addr
	}
	return ""
}

func (o *operator) runIn(stdin string, args ...string) (int, string) {
	o.t.Helper()
	var out bytes.Buffer
	code := admincli.Run(context.Background(), args, admincli.Options{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &out, Getenv: o.env})
	return code, out.String()
}

func (o *operator) run(args ...string) (int, string) {
	o.t.Helper()
	return o.runIn("", args...)
}

// must runs a command that has to succeed and returns its output.
func (o *operator) must(args ...string) string {
	o.t.Helper()
	code, out := o.run(args...)
	if code != 0 {
		o.t.Fatalf("wisehosting-admin %s: exit %d: %s", strings.Join(args, " "), code, out)
	}
	return out
}

func TestLoginSessionFile(t *testing.T) {
	srv := servertest.New(t, servertest.DB{Name: "sqlite"})
	op := newOperator(t, srv, "ops", adminrpc.RoleOperator)
	fi, err := os.Stat(op.cfg)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("session file: %v %v", fi, err)
	}
	if di, _ := os.Stat(filepath.Dir(op.cfg)); di.Mode().Perm() != 0o700 {
		t.Fatalf("session folder mode %v", di.Mode())
	}
	if out := op.must("whoami"); !strings.Contains(out, "ops (operator)") {
		t.Fatalf("whoami: %s", out)
	}
	if code, out := op.runIn("wrong password here\n", "login", "--username", "ops"); code != 1 || !strings.Contains(out, "wrong username, password") {
		t.Fatalf("wrong password: %d %s", code, out)
	}
	if code, out := op.run("login"); code != 2 || !strings.Contains(out, "--username is required") {
		t.Fatalf("login without a username: %d %s", code, out)
	}
	op.must("logout")
	if code, out := op.run("workers"); code != 1 || !strings.Contains(out, "not logged in") {
		t.Fatalf("after logout: %d %s", code, out)
	}
	if code, out := op.run("--addr", "127.0.0.1:1", "workers"); code != 1 || !strings.Contains(out, "not logged in") {
		t.Fatalf("another address: %d %s", code, out)
	}
	if code, out := op.run("frobnicate"); code != 2 || !strings.Contains(out, `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %d %s", code, out)
	}
}

func finish(w *servertest.ProtoWorker, job servertest.Job, port int) {
	w.Send("job_ack", map[string]any{"job_id": job.JobID, "accepted": true})
	res := map[string]any{"job_id": job.JobID, "deployment_id": job.DeploymentID, "success": true}
	if job.Type != "stop" {
		res["container_id"], res["image_id"], res["host_port"] = "c-"+job.JobID, "sha256:"+strings.Repeat("b", 64), port
	}
	w.Send("job_result", res)
}

func route(t *testing.T, srv *servertest.Server, app string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+"/", nil)
	req.Host = app + ".localhost"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestOperatorJourney is the admin tool against a control plane with a
// connected worker: workers, watch, drain, suspend and resume, a viewer's
// refusal, and the audit log.
func TestOperatorJourney(t *testing.T) {
	srv := servertest.New(t, servertest.DB{Name: "sqlite"})
	owner := srv.Signup("owner@example.com")
	_, rawKey := srv.CreateWorker(owner, "w1")
	w := servertest.NewProtoWorker(t, srv.URL, rawKey)
	w.Connect()
	defer w.Close()
	w.Send("heartbeat", map[string]any{"status": "ready", "apps": []any{},
		"resources": map[string]any{"cpus": 4, "memory_total_bytes": 8 << 30, "memory_used_bytes": 2 << 30}})
	op := newOperator(t, srv, "ops", adminrpc.RoleOperator)

	// workers --json: online, heard from within 30 s.
	servertest.Eventually(t, 5*time.Second, "worker online", func() bool {
		var ws []adminrpc.Worker
		_, out := op.run("workers", "--json")
		return json.Unmarshal([]byte(out), &ws) == nil && len(ws) == 1 && ws[0].Name == "w1" && ws[0].Status == "online" &&
			ws[0].LastMessageAgeSeconds >= 0 && ws[0].LastMessageAgeSeconds < 30 && ws[0].Resources != nil
	})
	if out := op.must("workers"); !strings.Contains(out, "w1") || !strings.Contains(out, "online") || !strings.Contains(out, "2 GiB/8 GiB") {
		t.Fatalf("workers table:\n%s", out)
	}
	if out := op.must("status"); !strings.Contains(out, "1 online of 1") || !strings.Contains(out, "hub") {
		t.Fatalf("status:\n%s", out)
	}

	// status --watch redraws until Ctrl-C (one JSON document per round).
	var rounds syncBuffer
	sctx, stopStatus := context.WithCancel(context.Background())
	statusDone := make(chan int, 1)
	go func() {
		statusDone <- admincli.Run(sctx, []string{"status", "--watch", "--json", "--interval", "200ms"},
			admincli.Options{Stdin: strings.NewReader(""), Stdout: &rounds, Stderr: io.Discard, Getenv: op.env})
	}()
	servertest.Eventually(t, 5*time.Second, "two status rounds", func() bool { return strings.Count(rounds.String(), `"workers_online":1`) >= 2 })
	stopStatus()
	if code := <-statusDone; code != 0 {
		t.Fatalf("status --watch exited %d", code)
	}

	// watch, while a deployment is made.
	var events syncBuffer
	ctx, stopWatch := context.WithCancel(context.Background())
	watchDone := make(chan int, 1)
	go func() {
		watchDone <- admincli.Run(ctx, []string{"watch", "--json"}, admincli.Options{Stdin: strings.NewReader(""), Stdout: &events, Stderr: io.Discard, Getenv: op.env})
	}()
	// The stream is live once an admin action shows up in it.
	servertest.Eventually(t, 5*time.Second, "watch subscribed", func() bool {
		op.must("undrain", "w1")
		return strings.Contains(events.String(), `"kind":"admin.action"`)
	})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer up.Close()
	port, _ := strconv.Atoi(up.URL[strings.LastIndex(up.URL, ":")+1:])
	srv.Do("POST", "/v1/apps", owner, map[string]any{"name": "web", "repo_url": "https://example.com/r.git"})
	srv.Do("POST", "/v1/apps/web/deployments", owner, nil)
	finish(w, w.ExpectJob(5*time.Second), port)
	servertest.Eventually(t, 5*time.Second, "deployment event in watch", func() bool {
		for _, line := range strings.Split(events.String(), "\n") {
			var ev adminrpc.Event
			if json.Unmarshal([]byte(line), &ev) == nil && ev.Kind == adminrpc.EventDeploySucceeded && ev.App == "web" {
				return true
			}
		}
		return false
	})
	stopWatch()
	select {
	case code := <-watchDone:
		if code != 0 {
			t.Fatalf("watch exited %d after Ctrl-C", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch did not stop")
	}

	// drain: a new app waits; undrain: it is placed.
	if out := op.must("drain", "w1"); !strings.Contains(out, "draining") {
		t.Fatalf("drain: %s", out)
	}
	srv.Do("POST", "/v1/apps", owner, map[string]any{"name": "api", "repo_url": "https://example.com/r.git"})
	srv.Do("POST", "/v1/apps/api/deployments", owner, nil)
	time.Sleep(time.Second)
	if out := op.must("jobs"); !strings.Contains(out, "pending 1") || !strings.Contains(out, "api") {
		t.Fatalf("jobs while draining:\n%s", out)
	}
	op.must("undrain", "w1")
	if j := w.ExpectJob(5 * time.Second); j.Type != "deploy" {
		t.Fatalf("after undrain: %v", j)
	}

	// suspend stops the app and closes its route; resume brings it back.
	if out := op.must("suspend", "web"); !strings.Contains(out, "suspended") || !strings.Contains(out, "stop job") {
		t.Fatalf("suspend: %s", out)
	}
	if code := route(t, srv, "web"); code != http.StatusServiceUnavailable {
		t.Fatalf("suspended app answers %d", code)
	}
	stop := w.ExpectJob(5 * time.Second)
	if stop.Type != "stop" {
		t.Fatalf("suspend sent %v", stop)
	}
	finish(w, stop, 0)
	if out := op.must("apps"); !strings.Contains(out, "(suspended)") {
		t.Fatalf("apps:\n%s", out)
	}
	op.must("resume", "web")
	restart := w.ExpectJob(5 * time.Second)
	if restart.Type != "restart" {
		t.Fatalf("resume sent %v", restart)
	}
	finish(w, restart, port)
	servertest.Eventually(t, 5*time.Second, "resumed app answers", func() bool { return route(t, srv, "web") == http.StatusOK })
	if out := op.must("suspend", "--user", "owner@example.com"); !strings.Contains(out, "suspended") {
		t.Fatalf("suspend --user: %s", out)
	}
	op.must("resume", "--user", "owner@example.com")
	if code, out := op.run("suspend", "web", "--user", "x@example.com"); code != 2 {
		t.Fatalf("app and --user: %d %s", code, out)
	}

	// A viewer reads, and is refused every lever.
	viewer := newOperator(t, srv, "eyes", adminrpc.RoleViewer)
	viewer.must("apps")
	for _, args := range [][]string{{"drain", "w1"}, {"undrain", "w1"}, {"suspend", "web"}, {"resume", "web"}, {"stop", "web"},
		{"revoke", "w1"}, {"suspend", "--user", "owner@example.com"}} {
		code, out := viewer.run(args...)
		if code != 1 || !strings.Contains(out, "viewer accounts may only read") {
			t.Errorf("viewer %v: %d %s", args, code, out)
		}
	}

	var audit []adminrpc.AuditEntry
	if err := json.Unmarshal([]byte(op.must("audit", "--json", "--limit", "200")), &audit); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range audit {
		seen[e.Username+" "+e.Action+" "+e.Result] = true
	}
	for _, want := range []string{"ops worker.drain ok", "ops worker.undrain ok", "ops app.suspend ok", "ops app.resume ok",
		"ops user.suspend ok", "eyes worker.drain denied", "eyes app.stop denied", "eyes worker.revoke denied"} {
		if !seen[want] {
			t.Errorf("audit log lacks %q", want)
		}
	}
	if out := op.must("audit"); !strings.Contains(out, "worker w1") || !strings.Contains(out, "127.0.0.1:") {
		t.Fatalf("audit table:\n%s", out)
	}
}
