package admin_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wisehosting/wisehosting/internal/adminrpc"
	"github.com/wisehosting/wisehosting/internal/servertest"
	"github.com/wisehosting/wisehosting/internal/wsproto"
)

func dial(t *testing.T, c *adminrpc.Client) *adminrpc.Conn {
	t.Helper()
	conn, err := c.Dial(context.Background())
	if err != nil {
		t.Fatalf("dial the admin RPC: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func call(conn *adminrpc.Conn, method string, params, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return conn.Call(ctx, method, params, out)
}

// waitEvent reads conn's events until one of kind (about app, when not
// "") arrives.
func waitEvent(t *testing.T, conn *adminrpc.Conn, kind, app string) adminrpc.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-conn.Events:
			if ev.Kind == kind && (app == "" || ev.App == app) {
				return ev
			}
		case <-conn.Done():
			t.Fatalf("connection ended waiting for %s: %v", kind, conn.Err())
		case <-deadline:
			t.Fatalf("no %s event for %q within 10 s", kind, app)
		}
	}
}

func auditOf(t *testing.T, c *adminrpc.Client) []adminrpc.AuditEntry {
	t.Helper()
	var es []adminrpc.AuditEntry
	if err := c.Get(context.Background(), "/internal/v1/audit?limit=100", &es); err != nil {
		t.Fatal(err)
	}
	return es
}

func findAudit(es []adminrpc.AuditEntry, username, action, result string) *adminrpc.AuditEntry {
	for i := range es {
		if es[i].Username == username && es[i].Action == action && es[i].Result == result {
			return &es[i]
		}
	}
	return nil
}

var mutating = []struct {
	method string
	params any
}{
	{adminrpc.MethodDrain, adminrpc.Target{Worker: "w1"}},
	{adminrpc.MethodUndrain, adminrpc.Target{Worker: "w1"}},
	{adminrpc.MethodRevoke, adminrpc.Target{Worker: "w1"}},
	{adminrpc.MethodSuspendApp, adminrpc.Target{App: "web"}},
	{adminrpc.MethodResumeApp, adminrpc.Target{App: "web"}},
	{adminrpc.MethodStopApp, adminrpc.Target{App: "web"}},
	{adminrpc.MethodSuspendUser, adminrpc.Target{User: "owner@example.com"}},
	{adminrpc.MethodResumeUser, adminrpc.Target{User: "owner@example.com"}},
}

func TestRPCRoles(t *testing.T) {
	servertest.ForEachDB(t, func(t *testing.T, db servertest.DB) {
		srv := servertest.New(t, db)
		owner := srv.Signup("owner@example.com")
		workerID, _ := srv.CreateWorker(owner, "w1")
		if r := srv.Do("POST", "/v1/apps", owner, map[string]any{"name": "web", "repo_url": "https://example.com/r.git"}); r.Status != http.StatusCreated {
			t.Fatalf("create app: %d %s", r.Status, r.Body)
		}

		// Every mutating method is listed here, so a new one cannot skip the check.
		for m := range adminrpc.MinRole {
			found := !adminrpc.Mutating(m)
			for _, x := range mutating {
				found = found || x.method == m
			}
			if !found {
				t.Fatalf("mutating method %s is not covered by this test", m)
			}
		}

		viewer := login(t, srv, "watcher", adminrpc.RoleViewer)
		vc := dial(t, viewer)
		if err := call(vc, adminrpc.MethodPing, nil, nil); err != nil {
			t.Fatalf("viewer ping: %v", err)
		}
		for _, x := range mutating {
			err := call(vc, x.method, x.params, nil)
			if !adminrpc.IsForbidden(err) || !strings.Contains(err.Error(), "viewer accounts may only read: "+x.method+" needs the") {
				t.Errorf("viewer %s: %v, want a clear refusal", x.method, err)
			}
		}
		var w struct{ Draining bool }
		srv.Do("GET", "/v1/workers/"+strconv.FormatInt(workerID, 10), owner, nil).JSON(t, &w)
		if w.Draining {
			t.Fatal("a viewer's drain took effect")
		}
		if err := call(vc, "no.such.method", nil, nil); err == nil || !strings.Contains(err.Error(), "unknown method") {
			t.Errorf("unknown method: %v", err)
		}

		op := login(t, srv, "op", adminrpc.RoleOperator)
		oc := dial(t, op)
		var res adminrpc.ActionResult
		if err := call(oc, adminrpc.MethodDrain, adminrpc.Target{Worker: "w1"}, &res); err != nil || !strings.Contains(res.Message, "draining") {
			t.Fatalf("operator drain: %+v %v", res, err)
		}
		if err := call(oc, adminrpc.MethodRevoke, adminrpc.Target{Worker: "w1"}, nil); !adminrpc.IsForbidden(err) ||
			!strings.Contains(err.Error(), "needs the superadmin role") {
			t.Fatalf("operator revoke: %v", err)
		}
		var ce *adminrpc.CallError
		if err := call(oc, adminrpc.MethodDrain, adminrpc.Target{Worker: "nope"}, nil); !errors.As(err, &ce) || ce.Code != "not_found" {
			t.Fatalf("unknown worker: %v", err)
		}
		if err := call(oc, adminrpc.MethodSuspendUser, adminrpc.Target{User: "owner@example.com"}, nil); err != nil {
			t.Fatal(err)
		}
		if r := srv.Do("GET", "/v1/apps", owner, nil); r.Status != http.StatusUnauthorized && r.Status != http.StatusForbidden {
			t.Fatalf("a suspended user's token still works: %d", r.Status)
		}

		es := auditOf(t, op)
		for _, x := range mutating {
			if findAudit(es, "watcher", x.method, "denied") == nil {
				t.Errorf("the viewer's refused %s is not in the audit log", x.method)
			}
		}
		e := findAudit(es, "op", adminrpc.MethodDrain, "ok")
		if e == nil || e.Target != "worker w1 (#"+strconv.FormatInt(workerID, 10)+")" || !strings.HasPrefix(e.RemoteAddr, "127.0.0.1:") ||
			time.Since(e.At) > time.Minute || !strings.Contains(e.Detail, "draining") {
			t.Fatalf("the operator's drain in the audit log: %+v", e)
		}
		if findAudit(es, "op", adminrpc.MethodRevoke, "denied") == nil || findAudit(es, "op", adminrpc.MethodDrain, "not_found") == nil {
			t.Fatalf("refused and failed operator calls missing from the audit log: %+v", es)
		}
	})
}

func TestRPCRefusesBadEnvelopes(t *testing.T) {
	srv := servertest.New(t, servertest.DB{Name: "sqlite"})
	c := login(t, srv, "op", adminrpc.RoleOperator)
	h := http.Header{"Authorization": {"Bearer " + c.Token}}
	for name, key := range map[string][]byte{
		// The stored hash of the token is not the key.
		"token hash as key": func() []byte { s := sha256.Sum256([]byte(c.Token)); return s[:] }(),
		"other session":     adminrpc.SessionKey("whadm_other"),
	} {
		t.Run(name, func(t *testing.T) {
			ws, _, err := websocket.DefaultDialer.Dial("ws://"+addr(srv)+"/internal/v1/rpc", h)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			msg, _ := wsproto.NewSender(key).Seal(adminrpc.TypeCall, adminrpc.Call{ID: 1, Method: adminrpc.MethodDrain,
				Params: []byte(`{"worker":"w1"}`)})
			if err := ws.WriteMessage(websocket.TextMessage, msg); err != nil {
				t.Fatal(err)
			}
			ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, _, err = ws.ReadMessage()
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || !strings.Contains(ce.Text, "hmac") {
				t.Fatalf("read after a forged call: %v, want close 1008 naming hmac", err)
			}
		})
	}
	if es := auditOf(t, c); findAudit(es, "op", adminrpc.MethodDrain, "ok") != nil {
		t.Fatal("a forged call was acted on")
	}
}

// upstream is a stand-in for an app's container, reached by the router.
func upstream(t *testing.T) int {
	t.Helper()
	u := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello from web") }))
	t.Cleanup(u.Close)
	port, _ := strconv.Atoi(u.URL[strings.LastIndex(u.URL, ":")+1:])
	return port
}

// appGet fetches / of an app through the control plane's router.
func appGet(t *testing.T, srv *servertest.Server, app string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+"/", nil)
	req.Host = app + ".localhost"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// finishJob acknowledges a job on the protocol worker and reports success.
func finishJob(w *servertest.ProtoWorker, job servertest.Job, hostPort int) {
	w.Send("job_ack", map[string]any{"job_id": job.JobID, "accepted": true})
	res := map[string]any{"job_id": job.JobID, "deployment_id": job.DeploymentID, "success": true}
	if job.Type != "stop" {
		res["container_id"], res["image_id"], res["host_port"] = "c-"+job.JobID, "sha256:"+strings.Repeat("a", 64), hostPort
	}
	w.Send("job_result", res)
}

// noJob fails if the worker receives a job within d.
func noJob(t *testing.T, w *servertest.ProtoWorker, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m := <-w.Inbox:
			if m.T == "job" {
				t.Fatalf("a job was placed on the worker: %s", m.P)
			}
		case <-deadline:
			return
		}
	}
}

// TestLiveWorker drives the operator's levers against a connected worker
// (the protocol worker of servertest) and an app served by the router.
func TestLiveWorker(t *testing.T) {
	servertest.ForEachDB(t, func(t *testing.T, db servertest.DB) {
		srv := servertest.New(t, db)
		owner := srv.Signup("owner@example.com")
		_, rawKey := srv.CreateWorker(owner, "w1")
		w := servertest.NewProtoWorker(t, srv.URL, rawKey)
		w.Connect()
		defer w.Close()
		w.Send("heartbeat", map[string]any{"status": "ready", "apps": []any{},
			"resources": map[string]any{"cpus": 2, "memory_total_bytes": 8 << 30, "memory_used_bytes": 1 << 30}})

		op := login(t, srv, "op", adminrpc.RoleOperator)
		ctx := context.Background()
		servertest.Eventually(t, 5*time.Second, "worker online in the internal API", func() bool {
			var ws []adminrpc.Worker
			return op.Get(ctx, "/internal/v1/workers", &ws) == nil && len(ws) == 1 && ws[0].Online && ws[0].Status == "online" &&
				ws[0].LastMessageAgeSeconds >= 0 && ws[0].LastMessageAgeSeconds < 30 && ws[0].Resources != nil && ws[0].Resources.CPUs == 2
		})

		conn := dial(t, op)
		if err := conn.Subscribe(ctx); err != nil {
			t.Fatal(err)
		}
		port := upstream(t)
		if r := srv.Do("POST", "/v1/apps", owner, map[string]any{"name": "web", "repo_url": "https://example.com/r.git"}); r.Status != http.StatusCreated {
			t.Fatalf("create app: %d %s", r.Status, r.Body)
		}
		srv.Do("POST", "/v1/apps/web/deployments", owner, nil)
		job := w.ExpectJob(5 * time.Second)
		finishJob(w, job, port)
		ev := waitEvent(t, conn, adminrpc.EventDeploySucceeded, "web")
		if ev.TeamID == "" || ev.Data["deployment_id"] != job.DeploymentID {
			t.Fatalf("deployment event %+v", ev)
		}
		servertest.Eventually(t, 5*time.Second, "app routed", func() bool { code, body := appGet(t, srv, "web"); return code == 200 && body == "hello from web" })

		// Drained: a new app is not placed on the worker; undrained, it is.
		if err := call(conn, adminrpc.MethodDrain, adminrpc.Target{Worker: "w1"}, nil); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, conn, adminrpc.EventAdminAction, "")
		srv.Do("POST", "/v1/apps", owner, map[string]any{"name": "api", "repo_url": "https://example.com/r.git"})
		srv.Do("POST", "/v1/apps/api/deployments", owner, nil)
		noJob(t, w, 1200*time.Millisecond)
		var jobs adminrpc.Jobs
		if err := op.Get(ctx, "/internal/v1/jobs", &jobs); err != nil || len(jobs.Pending) != 1 || jobs.Pending[0].App != "api" {
			t.Fatalf("jobs while draining: %+v %v", jobs, err)
		}
		if err := call(conn, adminrpc.MethodUndrain, adminrpc.Target{Worker: "w1"}, nil); err != nil {
			t.Fatal(err)
		}
		if j := w.ExpectJob(5 * time.Second); j.Type != "deploy" || j.JobID != jobs.Pending[0].ID {
			t.Fatalf("after undrain: %v", j)
		}

		// Suspended: the route answers 503 at once and the app is stopped;
		// resumed, it is started again and answers.
		var res adminrpc.ActionResult
		if err := call(conn, adminrpc.MethodSuspendApp, adminrpc.Target{App: "web"}, &res); err != nil || res.JobID == "" {
			t.Fatalf("suspend: %+v %v", res, err)
		}
		if code, body := appGet(t, srv, "web"); code != http.StatusServiceUnavailable || !strings.Contains(body, "suspended") {
			t.Fatalf("suspended app answers %d %s", code, body)
		}
		stop := w.ExpectJob(5 * time.Second)
		if stop.Type != "stop" || stop.JobID != res.JobID {
			t.Fatalf("suspend sent %v, want the stop job %s", stop, res.JobID)
		}
		finishJob(w, stop, 0)
		servertest.Eventually(t, 5*time.Second, "app stopped", func() bool {
			var apps []adminrpc.App
			return op.Get(ctx, "/internal/v1/apps", &apps) == nil && len(apps) == 2 && apps[1].Name == "web" && apps[1].Status == "stopped" && apps[1].Suspended
		})
		if code, _ := appGet(t, srv, "web"); code != http.StatusServiceUnavailable {
			t.Fatalf("stopped suspended app answers %d", code)
		}
		if err := call(conn, adminrpc.MethodResumeApp, adminrpc.Target{App: "web"}, &res); err != nil || res.JobID == "" {
			t.Fatalf("resume: %+v %v", res, err)
		}
		restart := w.ExpectJob(5 * time.Second)
		if restart.Type != "restart" {
			t.Fatalf("resume sent %v, want a restart", restart)
		}
		finishJob(w, restart, port)
		servertest.Eventually(t, 5*time.Second, "resumed app routed", func() bool { code, _ := appGet(t, srv, "web"); return code == 200 })

		es := auditOf(t, op)
		for _, m := range []string{adminrpc.MethodDrain, adminrpc.MethodUndrain, adminrpc.MethodSuspendApp, adminrpc.MethodResumeApp} {
			if findAudit(es, "op", m, "ok") == nil {
				t.Errorf("%s missing from the audit log", m)
			}
		}

		// Tail the app's logs: history, then lines as they arrive.
		w.Send("runtime_log", map[string]any{"lines": []map[string]any{{"app_id": job.AppID, "stream": "stdout",
			"at": time.Now().UTC().Format(time.RFC3339Nano), "msg": "first line"}}})
		servertest.Eventually(t, 5*time.Second, "log stored", func() bool {
			return strings.Contains(string(srv.Do("GET", "/v1/apps/web/logs", owner, nil).Body), "first line")
		})
		var logs adminrpc.Logs
		if err := call(conn, adminrpc.MethodLogs, adminrpc.LogsParams{App: "web", Follow: true}, &logs); err != nil ||
			len(logs.Lines) != 1 || logs.Lines[0].Msg != "first line" {
			t.Fatalf("logs: %+v %v", logs, err)
		}
		w.Send("runtime_log", map[string]any{"lines": []map[string]any{{"app_id": job.AppID, "stream": "stderr",
			"at": time.Now().UTC().Format(time.RFC3339Nano), "msg": "second line"}}})
		select {
		case l := <-conn.Logs:
			if l.ID != logs.ID || len(l.Lines) != 1 || l.Lines[0].Msg != "second line" || l.Lines[0].Stream != "stderr" {
				t.Fatalf("followed line %+v", l)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the followed log sent nothing")
		}

		// Revoked by a superadmin: the worker's socket is closed.
		root := login(t, srv, "root", adminrpc.RoleSuperadmin)
		if err := call(dial(t, root), adminrpc.MethodRevoke, adminrpc.Target{Worker: "w1"}, nil); err != nil {
			t.Fatal(err)
		}
		select {
		case <-w.Closed():
		case <-time.After(5 * time.Second):
			t.Fatal("the revoked worker's socket stayed open")
		}
		waitEvent(t, conn, adminrpc.EventWorkerDisconnected, "")
	})
}
