package server_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wisehosting/wisehosting/internal/servertest"
)

// deployFixture: an owner, one connected worker, an app and a queued
// deployment whose job the worker has received.
func deployFixture(t *testing.T, opts servertest.Options) (*servertest.Server, string, *servertest.ProtoWorker, string, servertest.Job) {
	t.Helper()
	srv := servertest.New(t, servertest.DB{Name: "sqlite"}, opts)
	owner := srv.Signup("owner@example.com")
	_, rawKey := srv.CreateWorker(owner, "w1")
	w := servertest.NewProtoWorker(t, srv.URL, rawKey)
	w.Connect()
	t.Cleanup(w.Close)
	w.Send("heartbeat", map[string]any{"status": "ready"})
	if r := srv.Do("POST", "/v1/apps", owner, map[string]any{"name": "web", "repo_url": "https://example.com/r.git"}); r.Status != http.StatusCreated {
		t.Fatalf("create app: %d %s", r.Status, r.Body)
	}
	var dep struct{ ID string }
	srv.Do("POST", "/v1/apps/web/deployments", owner, nil).JSON(t, &dep)
	job := w.ExpectJob(5 * time.Second)
	return srv, owner, w, dep.ID, job
}

// An unacknowledged job is sent again after the ack timeout.
func TestUnackedJobRedelivered(t *testing.T) {
	_, _, w, _, job := deployFixture(t, servertest.Options{AckTimeout: 300 * time.Millisecond})
	again := w.ExpectJob(10 * time.Second)
	if again.JobID != job.JobID {
		t.Fatalf("got %s, want %s again", again.JobID, job.JobID)
	}
	// Once acknowledged it is not sent again.
	w.Send("job_ack", map[string]any{"job_id": job.JobID, "accepted": true})
	time.Sleep(300 * time.Millisecond)
	for len(w.Inbox) > 0 {
		<-w.Inbox
	}
	select {
	case m := <-w.Inbox:
		if m.T == "job" {
			t.Fatal("an acknowledged job was sent again")
		}
	case <-time.After(3 * time.Second):
	}
}

// A worker with a full queue refuses a job; it stays pending and comes
// back: never dropped.
func TestRefusedJobStaysPending(t *testing.T) {
	srv, owner, w, depID, job := deployFixture(t, servertest.Options{})
	w.Send("job_ack", map[string]any{"job_id": job.JobID, "accepted": false, "reason": "queue full"})
	again := w.ExpectJob(10 * time.Second)
	if again.JobID != job.JobID {
		t.Fatalf("got %s, want %s again", again.JobID, job.JobID)
	}
	var d struct{ Status string }
	srv.Do("GET", "/v1/deployments/"+depID, owner, nil).JSON(t, &d)
	if d.Status != "queued" {
		t.Fatalf("deployment %s, want queued", d.Status)
	}
}

// The build log streams live as SSE, resumes from Last-Event-ID without
// repeating text, and ends when the deployment finishes.
func TestBuildLogStream(t *testing.T) {
	srv, owner, w, depID, job := deployFixture(t, servertest.Options{})
	w.Send("job_ack", map[string]any{"job_id": job.JobID, "accepted": true})
	path := "/v1/deployments/" + depID + "/logs?follow=1"
	s := srv.SSE(path, owner, "")
	if ev := s.Next(t, "status", 5*time.Second); ev.Data != "queued" {
		t.Fatalf("first status %q", ev.Data)
	}
	w.Send("job_status", map[string]any{"job_id": job.JobID, "status": "building"})
	if ev := s.Next(t, "status", 5*time.Second); ev.Data != "building" {
		t.Fatalf("status %q, want building", ev.Data)
	}
	start := time.Now()
	w.Send("build_log", map[string]any{"job_id": job.JobID, "deployment_id": depID, "offset": 0, "data": "line one\nline two\n"})
	ev := s.Next(t, "log", 5*time.Second)
	if ev.Data != "line one\nline two\n" && ev.Data != "line one\nline two" {
		t.Fatalf("log event %q", ev.Data)
	}
	t.Logf("build log line reached the stream in %v", time.Since(start))
	if ev.ID != "18" {
		t.Fatalf("event id %q, want byte offset 18", ev.ID)
	}
	s.Close()

	// Resume: only what came after offset 18.
	w.Send("build_log", map[string]any{"job_id": job.JobID, "deployment_id": depID, "offset": 18, "data": "line three\n"})
	r := srv.SSE(path, owner, "18")
	if ev := r.Next(t, "log", 5*time.Second); !strings.HasPrefix(ev.Data, "line three") {
		t.Fatalf("resumed with %q", ev.Data)
	}
	w.Send("job_result", map[string]any{"job_id": job.JobID, "success": true, "container_id": "c", "image_id": "sha256:1", "host_port": 20001})
	if ev := r.Next(t, "end", 5*time.Second); ev.Data != "running" {
		t.Fatalf("end %q", ev.Data)
	}
}

// Runtime logs stream live and resume after the last seen id.
func TestRuntimeLogStream(t *testing.T) {
	srv, owner, w, _, job := deployFixture(t, servertest.Options{})
	w.Send("job_ack", map[string]any{"job_id": job.JobID, "accepted": true})
	w.Send("job_result", map[string]any{"job_id": job.JobID, "success": true, "container_id": "c", "image_id": "sha256:1", "host_port": 20001})
	servertest.Eventually(t, 5*time.Second, "app running", func() bool {
		return strings.Contains(string(srv.Do("GET", "/v1/apps/web", owner, nil).Body), `"status":"running"`)
	})
	line := func(msg string) map[string]any {
		return map[string]any{"lines": []map[string]any{{"app_id": job.AppID, "stream": "stdout", "at": time.Now().UTC().Format(time.RFC3339Nano), "msg": msg}}}
	}
	s := srv.SSE("/v1/apps/web/logs?follow=1", owner, "")
	start := time.Now()
	w.Send("runtime_log", line("first"))
	ev := s.Next(t, "log", 5*time.Second)
	t.Logf("runtime log line reached the stream in %v", time.Since(start))
	if !strings.Contains(ev.Data, `"msg":"first"`) {
		t.Fatalf("event %q", ev.Data)
	}
	s.Close()
	w.Send("runtime_log", line("second"))
	r := srv.SSE("/v1/apps/web/logs?follow=1", owner, ev.ID)
	if ev := r.Next(t, "log", 5*time.Second); !strings.Contains(ev.Data, `"msg":"second"`) {
		t.Fatalf("resumed with %q, want only the second line", ev.Data)
	}
	r.Close()

	// The lines are in the app's log folder, which goes with the app.
	dir := filepath.Join(srv.DataDir, "logs", job.AppID)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("log folder: %v", err)
	}
	if res := srv.Do("DELETE", "/v1/apps/web", owner, nil); res.Status != http.StatusNoContent {
		t.Fatalf("delete app: %d %s", res.Status, res.Body)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("log folder after deleting the app: %v", err)
	}
}

// The janitor removes the logs of apps the database does not have (a team
// deleted with its apps, a crash between deleting an app and its logs).
func TestOrphanRuntimeLogsRemoved(t *testing.T) {
	data := t.TempDir()
	orphan := filepath.Join(data, "logs", "app_"+strings.Repeat("q", 26))
	if err := os.MkdirAll(orphan, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(orphan, "00000000000000000000.log"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	servertest.New(t, servertest.DB{Name: "sqlite"}, servertest.Options{DataDir: data})
	servertest.Eventually(t, 5*time.Second, "orphan logs removed", func() bool {
		_, err := os.Stat(orphan)
		return os.IsNotExist(err)
	})
}

// A worker's reports are applied only for apps placed on it, also right
// after an app moves (the ingest writer caches placements until apps
// change).
func TestReportsFollowPlacement(t *testing.T) {
	srv, owner, w1, _, job := deployFixture(t, servertest.Options{})
	w1.Send("job_ack", map[string]any{"job_id": job.JobID, "accepted": true})
	w1.Send("job_result", map[string]any{"job_id": job.JobID, "success": true, "container_id": "c", "image_id": "sha256:1", "host_port": 20001})
	servertest.Eventually(t, 5*time.Second, "app running", func() bool {
		return strings.Contains(string(srv.Do("GET", "/v1/apps/web", owner, nil).Body), `"status":"running"`)
	})
	line := func(msg string) map[string]any {
		return map[string]any{"lines": []map[string]any{{"app_id": job.AppID, "stream": "stdout", "at": time.Now().UTC().Format(time.RFC3339Nano), "msg": msg}}}
	}
	logs := func() string { return string(srv.Do("GET", "/v1/apps/web/logs", owner, nil).Body) }
	w1.Send("runtime_log", line("from w1 while placed"))
	servertest.Eventually(t, 5*time.Second, "w1's line", func() bool { return strings.Contains(logs(), "from w1 while placed") })

	// The app moves to w2.
	w2ID, rawKey := srv.CreateWorker(owner, "w2")
	w2 := servertest.NewProtoWorker(t, srv.URL, rawKey)
	w2.Connect()
	t.Cleanup(w2.Close)
	ctx := t.Context()
	app, err := srv.S.Store.GetApp(ctx, job.AppID)
	if err != nil {
		t.Fatal(err)
	}
	rt := app.Runtime()
	rt.WorkerID = w2ID
	if err := srv.S.Store.UpdateAppRuntime(ctx, app.ID, rt); err != nil {
		t.Fatal(err)
	}
	w1.Send("runtime_log", line("from w1 after the move"))
	w2.Send("runtime_log", line("from w2 after the move"))
	servertest.Eventually(t, 5*time.Second, "w2's line", func() bool { return strings.Contains(logs(), "from w2 after the move") })
	if strings.Contains(logs(), "from w1 after the move") {
		t.Fatal("a line from the app's former worker was stored")
	}
}
