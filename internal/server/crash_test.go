package server_test

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/wisehosting/wisehosting/internal/servertest"
)

// buildBinary compiles cmd/wisehosting once per test binary run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "wisehosting")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/wisehosting/wisehosting/cmd/wisehosting")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProcess runs `wisehosting serve` and waits until it is ready.
func startProcess(t *testing.T, bin, addr, dataDir, dbURL string) *exec.Cmd {
	t.Helper()
	args := []string{"serve", "--listen", addr, "--data-dir", dataDir, "--log-level", "warn", "--internal-listen", "127.0.0.1:0"}
	if dbURL != "" {
		args = append(args, "--database-url", dbURL)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	servertest.Eventually(t, 10*time.Second, "server ready", func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return cmd
}

// TestCrashMidJob kills the control plane with SIGKILL while a deploy job
// is in flight, starts it again on the same data, and checks that the
// deployment and its job survived and complete when the worker reconnects.
func TestCrashMidJob(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	bin := buildBinary(t)
	servertest.ForEachDB(t, func(t *testing.T, db servertest.DB) {
		addr, dataDir := freePort(t), t.TempDir()
		dbURL := servertest.DatabaseURL(t, db)
		proc := startProcess(t, bin, addr, dataDir, dbURL)
		api := &servertest.Client{T: t, URL: "http://" + addr}

		owner := api.Signup("owner@example.com")
		_, rawKey := api.CreateWorker(owner, "w1")
		if r := api.Do("POST", "/v1/apps", owner, map[string]any{"name": "web", "repo_url": "https://example.com/r.git"}); r.Status != http.StatusCreated {
			t.Fatalf("create app: %d %s", r.Status, r.Body)
		}
		var dep struct{ ID string }
		api.Do("POST", "/v1/apps/web/deployments", owner, nil).JSON(t, &dep)

		w := servertest.NewProtoWorker(t, api.URL, rawKey)
		w.Connect()
		w.Send("heartbeat", map[string]any{"status": "ready"})
		job := w.ExpectJob(10 * time.Second)
		w.Send("job_ack", map[string]any{"job_id": job.JobID, "accepted": true})
		w.Send("job_status", map[string]any{"job_id": job.JobID, "status": "building"})
		status := func() string {
			var d struct{ Status string }
			api.Do("GET", "/v1/deployments/"+dep.ID, owner, nil).JSON(t, &d)
			return d.Status
		}
		servertest.Eventually(t, 5*time.Second, "building", func() bool { return status() == "building" })

		if err := proc.Process.Signal(os.Kill); err != nil {
			t.Fatal(err)
		}
		proc.Wait()
		w.Close()

		startProcess(t, bin, addr, dataDir, dbURL)
		if s := status(); s != "building" {
			t.Fatalf("after the crash the deployment is %q, want building", s)
		}
		w.Connect() // the same JWT: its key lives in the data dir
		again := w.ExpectJob(10 * time.Second)
		if again.JobID != job.JobID {
			t.Fatalf("after restart got job %s, want %s", again.JobID, job.JobID)
		}
		w.Send("heartbeat", map[string]any{"status": "ready"})
		w.Send("job_result", map[string]any{"job_id": job.JobID, "success": true, "container_id": "c", "image_id": "sha256:1", "host_port": 20005})
		servertest.Eventually(t, 5*time.Second, "running after restart", func() bool { return status() == "running" })
		w.Close()
	})
}
