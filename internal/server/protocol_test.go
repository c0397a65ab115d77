package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wisehosting/wisehosting/internal/servertest"
)

// TestProtocolWorker drives the control plane with a worker written only
// from protocol.md: register, connect, heartbeat, a deploy job through
// ack/status/build log/result, redelivery on reconnect, and every receiver
// check refusing a bad message.
func TestProtocolWorker(t *testing.T) {
	servertest.ForEachDB(t, func(t *testing.T, db servertest.DB) {
		srv := servertest.New(t, db)
		owner := srv.Signup("owner@example.com")
		_, rawKey := srv.CreateWorker(owner, "w1")

		w := servertest.NewProtoWorker(t, srv.URL, rawKey)
		w.Connect()
		defer w.Close()
		w.Send("heartbeat", map[string]any{"status": "ready",
			"resources": map[string]any{"cpus": 2, "memory_total_bytes": 8 << 30, "memory_used_bytes": 1 << 30}, "apps": []any{}})
		servertest.Eventually(t, 5*time.Second, "worker online", func() bool {
			return strings.Contains(string(srv.Do("GET", "/v1/workers", owner, nil).Body), `"status":"online"`)
		})

		// A deployment is placed on the only online worker.
		if r := srv.Do("POST", "/v1/apps", owner, map[string]any{"name": "web", "repo_url": "https://example.com/r.git",
			"env": map[string]string{"GREETING": "hi"}, "git_token": "tok-secret"}); r.Status != http.StatusCreated {
			t.Fatalf("create app: %d %s", r.Status, r.Body)
		}
		var dep struct{ ID, Status string }
		srv.Do("POST", "/v1/apps/web/deployments", owner, nil).JSON(t, &dep)
		job := w.ExpectJob(5 * time.Second)
		if job.Type != "deploy" || job.DeploymentID != dep.ID {
			t.Fatalf("job %v, want deploy of %s", job, dep.ID)
		}
		if job.Deploy["git_token"] != "tok-secret" || job.Deploy["env"].(map[string]any)["GREETING"] != "hi" {
			t.Fatalf("deploy payload lacks decrypted secrets: %v", job.Deploy)
		}
		depStatus := func() string {
			var d struct{ Status string }
			srv.Do("GET", "/v1/deployments/"+dep.ID, owner, nil).JSON(t, &d)
			return d.Status
		}
		w.Send("job_ack", map[string]any{"job_id": job.JobID, "accepted": true})
		w.Send("job_status", map[string]any{"job_id": job.JobID, "status": "building", "message": "building"})
		servertest.Eventually(t, 5*time.Second, "deployment building", func() bool { return depStatus() == "building" })
		w.Send("build_log", map[string]any{"job_id": job.JobID, "deployment_id": dep.ID, "offset": 0, "data": "Step 1/2\n"})
		w.Send("build_log", map[string]any{"job_id": job.JobID, "deployment_id": dep.ID, "offset": 0, "data": "Step 1/2\n"}) // resent
		w.Send("build_log", map[string]any{"job_id": job.JobID, "deployment_id": dep.ID, "offset": 9, "data": "Step 2/2\n"})
		servertest.Eventually(t, 5*time.Second, "build log stored once", func() bool {
			return string(srv.Do("GET", "/v1/deployments/"+dep.ID+"/logs", owner, nil).Body) == "Step 1/2\nStep 2/2\n"
		})

		// Reconnect before finishing: the unfinished job comes again.
		w.Close()
		w.Connect()
		again := w.ExpectJob(5 * time.Second)
		if again.JobID != job.JobID {
			t.Fatalf("redelivered %s, want %s", again.JobID, job.JobID)
		}
		w.Send("heartbeat", map[string]any{"status": "ready"})
		w.Send("job_ack", map[string]any{"job_id": job.JobID, "accepted": true})
		w.Send("job_status", map[string]any{"job_id": job.JobID, "status": "starting"})
		w.Send("job_result", map[string]any{"job_id": job.JobID, "success": true, "container_id": "c1",
			"image_id": "sha256:abc", "host_port": 20001})
		servertest.Eventually(t, 5*time.Second, "deployment running", func() bool { return depStatus() == "running" })
		var app struct {
			Status   string `json:"status"`
			HostPort int    `json:"host_port"`
			URL      string `json:"url"`
		}
		srv.Do("GET", "/v1/apps/web", owner, nil).JSON(t, &app)
		if app.Status != "running" || app.HostPort != 20001 || app.URL == "" {
			t.Fatalf("app after deploy: %+v", app)
		}
		// A repeated result changes nothing.
		w.Send("job_result", map[string]any{"job_id": job.JobID, "success": false, "message": "late duplicate"})
		time.Sleep(200 * time.Millisecond)
		if s := depStatus(); s != "running" {
			t.Fatalf("a duplicate result moved the deployment to %s", s)
		}

		// Runtime logs and stats reach the API.
		w.Send("runtime_log", map[string]any{"lines": []map[string]any{{"app_id": jobAppID(job), "stream": "stdout",
			"at": time.Now().UTC().Format(time.RFC3339Nano), "msg": "hello from the app"}}})
		servertest.Eventually(t, 5*time.Second, "runtime log", func() bool {
			return strings.Contains(string(srv.Do("GET", "/v1/apps/web/logs", owner, nil).Body), "hello from the app")
		})

		// Every receiver check: the message is ignored, counted, never acted on.
		rejected := func(reason string) float64 {
			return testutil.ToFloat64(srv.S.Hub.Metrics().EnvelopesRejected.WithLabelValues(reason))
		}
		logMsg := func(msg string) map[string]any {
			return map[string]any{"lines": []map[string]any{{"app_id": jobAppID(job), "stream": "stdout",
				"at": time.Now().UTC().Format(time.RFC3339Nano), "msg": msg}}}
		}
		cases := []struct {
			name, reason, msg string
			mutate            func(m map[string]any)
		}{
			{"forged h", "hmac", "forged", func(m map[string]any) { m["h"] = strings.Repeat("0", 64) }},
			{"ts 6 min off", "clock", "stale", func(m map[string]any) {
				m["ts"] = time.Now().Add(-6 * time.Minute).UnixMilli()
				w.Resign(m)
			}},
			{"unknown key", "decode", "unknown-key", func(m map[string]any) { m["x"] = 1 }},
		}
		for _, tc := range cases {
			before := rejected(tc.reason)
			if err := w.SendRaw(w.Envelope("runtime_log", logMsg(tc.msg), tc.mutate)); err != nil {
				t.Fatal(err)
			}
			servertest.Eventually(t, 5*time.Second, tc.name+" counted", func() bool { return rejected(tc.reason) == before+1 })
		}
		// A replayed sequence number: send one message twice.
		replay := w.Envelope("runtime_log", logMsg("replayed"), nil)
		w.SendRaw(replay)
		before := rejected("replay")
		w.SendRaw(replay)
		servertest.Eventually(t, 5*time.Second, "replay counted", func() bool { return rejected("replay") == before+1 })
		// A message of 2 MiB + 1 byte: refused (the hub may close the socket).
		big := w.Envelope("runtime_log", logMsg(strings.Repeat("x", 2<<20)), nil)
		big = append(big[:0:0], big[:2<<20+1]...)
		before = rejected("too_large")
		w.SendRaw(big)
		servertest.Eventually(t, 5*time.Second, "oversized counted", func() bool { return rejected("too_large") == before+1 })

		// Reports are written in batches: wait for the accepted one, then
		// check that no refused message was stored.
		var lines []struct{ Msg string }
		count := func() int {
			lines = nil
			srv.Do("GET", "/v1/apps/web/logs", owner, nil).JSON(t, &lines)
			n := 0
			for _, l := range lines {
				if l.Msg == "replayed" {
					n++
				}
			}
			return n
		}
		servertest.Eventually(t, 5*time.Second, "the replayed message stored once", func() bool { return count() >= 1 })
		time.Sleep(300 * time.Millisecond) // a wrongly accepted copy would land by now
		if n := count(); n != 1 {
			t.Errorf("replayed message stored %d times, want 1", n)
		}
		for _, l := range lines {
			switch l.Msg {
			case "forged", "stale", "unknown-key", "x":
				t.Errorf("a refused message was acted on: %q", l.Msg)
			}
		}
	})
}

func jobAppID(j servertest.Job) string { return j.AppID }

// A revoked worker's socket is closed and it cannot register again.
func TestRevokedWorkerDisconnected(t *testing.T) {
	srv := servertest.New(t, servertest.DB{Name: "sqlite"})
	owner := srv.Signup("owner@example.com")
	id, rawKey := srv.CreateWorker(owner, "w1")
	w := servertest.NewProtoWorker(t, srv.URL, rawKey)
	w.Connect()
	w.Send("heartbeat", map[string]any{"status": "ready"})
	servertest.Eventually(t, 5*time.Second, "worker online", func() bool {
		return strings.Contains(string(srv.Do("GET", "/v1/workers", owner, nil).Body), `"status":"online"`)
	})
	if r := srv.Do("DELETE", "/v1/workers/"+itoa(id), owner, nil); r.Status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	select {
	case <-w.Closed():
	case <-time.After(5 * time.Second):
		t.Fatal("revoked worker's socket still open")
	}
	body, _ := json.Marshal(map[string]any{"api_key": rawKey, "name": "x", "hostname": "h", "version": "v"})
	if r := srv.Do("POST", "/v1/workers/register", "", body); r.Status != http.StatusUnauthorized {
		t.Fatalf("register after revoke: %d", r.Status)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
