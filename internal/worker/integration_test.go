package worker_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wisehosting/wisehosting/internal/models"
	"github.com/wisehosting/wisehosting/internal/servertest"
	"github.com/wisehosting/wisehosting/internal/store"
	"github.com/wisehosting/wisehosting/internal/worker"
	"github.com/wisehosting/wisehosting/internal/workertest"
	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// These tests run the real agent against a real control plane with real
// podman and git. They skip without podman locally and fail in CI.

type env struct {
	srv      *servertest.Server
	owner    string
	workerID int64
	apiKey   string
	git      *workertest.GitServer
	dataDir  string
	stop     func()
}

const gitToken = "tok-Zx9-very-secret"

func agentConfig(controlPlane, key, dataDir string) worker.Config {
	lo := 21000 + rand.IntN(40)*100
	level := slog.LevelWarn
	if os.Getenv("WH_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	return worker.Config{
		ControlPlane: controlPlane, APIKey: key, Name: "w1", DataDir: dataDir,
		PortLo: lo, PortHi: lo + 99, PodmanRuntime: "runc", BuildNetwork: testBuildNetwork,
		BaseImages: map[string]string{"static": workertest.BaseImage, "go": workertest.BaseImage,
			"node": workertest.BaseImage, "python": workertest.BaseImage},
		HeartbeatInterval: time.Second, HealthInterval: time.Second, LogInterval: 300 * time.Millisecond,
		StatsInterval: time.Second, BuildLogInterval: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	}
}

// testBuildNetwork is the build network the tests' agents create; it is
// removed when the test ends, leaving the machine as it was.
const testBuildNetwork = "wh-test-build"

func startEnv(t *testing.T) *env {
	t.Helper()
	workertest.RequirePodman(t)
	t.Cleanup(func() { exec.Command("podman", "network", "rm", "-f", testBuildNetwork).Run() })
	workertest.UseTestContainersConf(t)
	workertest.EnsureBaseImage(t)
	srv := servertest.New(t, servertest.DB{Name: "sqlite"})
	e := &env{srv: srv, owner: srv.Signup("owner@example.com"), git: workertest.NewGitServer(t, gitToken), dataDir: t.TempDir()}
	e.workerID, e.apiKey = srv.CreateWorker(e.owner, "w1")
	a, err := worker.NewAgent(agentConfig(srv.URL, e.apiKey, e.dataDir))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Start() }()
	e.stop = func() {
		a.Stop()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("agent did not stop")
		}
	}
	t.Cleanup(func() {
		if e.stop != nil {
			e.stop()
		}
	})
	e.waitOnline(t)
	return e
}

func (e *env) waitOnline(t *testing.T) {
	servertest.Eventually(t, 15*time.Second, "worker online", func() bool {
		return strings.Contains(string(e.srv.Do("GET", "/v1/workers", e.owner, nil).Body), `"status":"online"`)
	})
}

type appView struct {
	Status   string `json:"status"`
	HostPort int    `json:"host_port"`
	WorkerID int64  `json:"worker_id"`
}

func (e *env) app(t *testing.T, name string) appView {
	var a appView
	e.srv.Do("GET", "/v1/apps/"+name, e.owner, nil).JSON(t, &a)
	return a
}

func (e *env) createApp(t *testing.T, name string, extra map[string]any) {
	t.Helper()
	workertest.CleanupApp(t, name)
	body := map[string]any{"name": name, "repo_url": e.git.URL, "git_token": gitToken, "port": 8080,
		"limits": map[string]any{"memory_bytes": 64 << 20, "cpu_millis": 500}}
	for k, v := range extra {
		body[k] = v
	}
	if r := e.srv.Do("POST", "/v1/apps", e.owner, body); r.Status != http.StatusCreated {
		t.Fatalf("create app: %d %s", r.Status, r.Body)
	}
}

// deploy starts a deployment and waits for it to finish; it returns the
// deployment's id and final status.
func (e *env) deploy(t *testing.T, name string) (string, string) {
	t.Helper()
	var dep struct{ ID, Status, Message string }
	r := e.srv.Do("POST", "/v1/apps/"+name+"/deployments", e.owner, nil)
	if r.Status != http.StatusCreated {
		t.Fatalf("deploy: %d %s", r.Status, r.Body)
	}
	r.JSON(t, &dep)
	servertest.Eventually(t, 120*time.Second, "deployment "+dep.ID+" finished", func() bool {
		e.srv.Do("GET", "/v1/deployments/"+dep.ID, e.owner, nil).JSON(t, &dep)
		return dep.Status == "running" || dep.Status == "failed"
	})
	if dep.Status == "failed" {
		t.Logf("deployment failed: %s\nbuild log:\n%s", dep.Message, e.srv.Do("GET", "/v1/deployments/"+dep.ID+"/logs", e.owner, nil).Body)
	}
	return dep.ID, dep.Status
}

func webApp(body, start string) map[string]string {
	return map[string]string{
		"Dockerfile": fmt.Sprintf("FROM %s\nCOPY index.html /www/index.html\nCMD [\"sh\", \"-c\", %q]\n", workertest.BaseImage, start),
		"index.html": body,
	}
}

func (e *env) get(t *testing.T, port int) string {
	t.Helper()
	var body string
	servertest.Eventually(t, 15*time.Second, "app answers", func() bool {
		code, b, err := workertest.HTTPGet(fmt.Sprintf("http://127.0.0.1:%d/", port))
		body = b
		return err == nil && code == http.StatusOK
	})
	return body
}

func podmanOut(args ...string) string {
	out, _ := exec.Command("podman", args...).CombinedOutput()
	return strings.TrimSpace(string(out))
}

func TestDeployLifecycle(t *testing.T) {
	e := startEnv(t)
	e.git.Commit(t, "v1", webApp("version one\n", "echo hello-runtime; exec httpd -f -p 8080 -h /www"))
	e.createApp(t, "web", nil)

	depID, status := e.deploy(t, "web")
	if status != "running" {
		t.Fatalf("first deploy: %s", status)
	}
	a := e.app(t, "web")
	if a.HostPort == 0 || a.Status != "running" {
		t.Fatalf("app after deploy: %+v", a)
	}
	if got := e.get(t, a.HostPort); got != "version one\n" {
		t.Fatalf("app answered %q", got)
	}
	// The token is in no build log, result or listing.
	for _, path := range []string{"/v1/deployments/" + depID + "/logs", "/v1/deployments/" + depID, "/v1/apps/web/deployments", "/v1/apps/web"} {
		if body := e.srv.Do("GET", path, e.owner, nil).Body; strings.Contains(string(body), gitToken) {
			t.Fatalf("%s leaks the git token: %s", path, body)
		}
	}
	if log := string(e.srv.Do("GET", "/v1/deployments/"+depID+"/logs", e.owner, nil).Body); !strings.Contains(log, "STEP") && !strings.Contains(log, "COPY") {
		t.Errorf("build log looks empty: %q", log)
	}
	// A runtime log line reaches the control plane.
	servertest.Eventually(t, 15*time.Second, "runtime log line", func() bool {
		return strings.Contains(string(e.srv.Do("GET", "/v1/apps/web/logs", e.owner, nil).Body), "hello-runtime")
	})

	// Redeploy a new commit.
	e.git.Commit(t, "v2", webApp("version two\n", "exec httpd -f -p 8080 -h /www"))
	if _, status := e.deploy(t, "web"); status != "running" {
		t.Fatalf("second deploy: %s", status)
	}
	a = e.app(t, "web")
	if got := e.get(t, a.HostPort); got != "version two\n" {
		t.Fatalf("after redeploy the app answered %q", got)
	}

	// Stop, restart.
	if r := e.srv.Do("POST", "/v1/apps/web/stop", e.owner, nil); r.Status != http.StatusAccepted {
		t.Fatalf("stop: %d %s", r.Status, r.Body)
	}
	servertest.Eventually(t, 30*time.Second, "app stopped", func() bool { return e.app(t, "web").Status == "stopped" })
	if r := e.srv.Do("POST", "/v1/apps/web/restart", e.owner, nil); r.Status != http.StatusAccepted {
		t.Fatalf("restart: %d %s", r.Status, r.Body)
	}
	servertest.Eventually(t, 60*time.Second, "app running again", func() bool { return e.app(t, "web").Status == "running" })
	a = e.app(t, "web")
	if got := e.get(t, a.HostPort); got != "version two\n" {
		t.Fatalf("after restart the app answered %q", got)
	}

	// Another app cannot build from this app's image (one image store is
	// shared by all apps of a worker).
	webImage := podmanOut("images", "--filter", "label=wisehosting.app=web", "--format", "{{.Repository}}:{{.Tag}}")
	webImage = strings.Fields(webImage)[0]
	e.git.Commit(t, "thief", map[string]string{"thief/Dockerfile": "ARG STOLEN=" + webImage + "\nFROM ${STOLEN}\nCMD [\"cat\", \"/www/index.html\"]\n"})
	e.createApp(t, "thief", map[string]any{"dockerfile_path": "thief/Dockerfile"})
	thiefDep, status := e.deploy(t, "thief")
	if status != "failed" {
		t.Fatalf("a build FROM another app's image ended %s, want failed", status)
	}
	var d struct{ Message string }
	e.srv.Do("GET", "/v1/deployments/"+thiefDep, e.owner, nil).JSON(t, &d)
	if !strings.Contains(d.Message, "another app") {
		t.Fatalf("refusal message %q", d.Message)
	}

	// Delete: no container and no image left behind.
	if r := e.srv.Do("DELETE", "/v1/apps/web", e.owner, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	servertest.Eventually(t, 30*time.Second, "containers and images removed", func() bool {
		return podmanOut("ps", "-aq", "--filter", "label=wisehosting.app=web") == "" &&
			podmanOut("images", "-q", "--filter", "label=wisehosting.app=web") == ""
	})
}

type violation struct{ Kind, Message string }

func (e *env) waitViolation(t *testing.T, app, kind string, within time.Duration) {
	t.Helper()
	servertest.Eventually(t, within, kind+" violation", func() bool {
		var vs []violation
		e.srv.Do("GET", "/v1/apps/"+app+"/violations", e.owner, nil).JSON(t, &vs)
		for _, v := range vs {
			if v.Kind == kind {
				return true
			}
		}
		return false
	})
}

func TestOOMViolation(t *testing.T) {
	e := startEnv(t)
	e.git.Commit(t, "hog", webApp("hog\n", "httpd -p 8080 -h /www; sleep 1; x=$(yes 0123456789abcdef | head -c 400000000); sleep 600"))
	e.createApp(t, "hog", map[string]any{"limits": map[string]any{"memory_bytes": 32 << 20}})
	if _, status := e.deploy(t, "hog"); status != "running" {
		t.Fatalf("deploy: %s", status)
	}
	e.waitViolation(t, "hog", "oom", 60*time.Second)
}

func TestCrashLoopViolation(t *testing.T) {
	e := startEnv(t)
	// It answers long enough to pass the deploy's check (httpd in the
	// background), then crashes: a new version that crashes before it
	// answers fails its deploy instead, and is never the app's crash.
	e.git.Commit(t, "crash", webApp("x\n", "echo crashing; httpd -p 8080 -h /www; sleep 3; exit 3"))
	e.createApp(t, "crashy", nil)
	if _, status := e.deploy(t, "crashy"); status != "running" {
		t.Fatalf("deploy: %s", status)
	}
	e.waitViolation(t, "crashy", "crash_loop", 120*time.Second)
	servertest.Eventually(t, 60*time.Second, "crash-looping app stopped", func() bool {
		return podmanOut("ps", "-q", "--filter", "label=wisehosting.app=crashy") == ""
	})
}

func TestBandwidthLimit(t *testing.T) {
	e := startEnv(t)
	e.git.Commit(t, "v1", webApp("bw\n", "exec httpd -f -p 8080 -h /www"))
	e.createApp(t, "slow", map[string]any{"limits": map[string]any{"memory_bytes": 64 << 20, "bandwidth_bps": 1000000}})
	if _, status := e.deploy(t, "slow"); status != "running" {
		t.Fatalf("deploy: %s", status)
	}
	pid := podmanOut("inspect", "--format", "{{.State.Pid}}", "wh-slow")
	out, err := exec.Command("nsenter", "-t", pid, "-n", "tc", "qdisc", "show", "dev", "eth0").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "tbf") {
		t.Fatalf("no tbf qdisc in the container's netns: %v: %s", err, out)
	}
	// A crash gives the restarted container a new network namespace: the
	// monitor puts the cap back, or crashing on purpose would lift it.
	// (SIGSEGV: a crash; SIGKILL or SIGTERM would read as a stop.)
	if out, err := exec.Command("podman", "exec", "wh-slow", "sh", "-c", "kill -SEGV $(pidof httpd)").CombinedOutput(); err != nil {
		t.Fatalf("crash the app: %v: %s", err, out)
	}
	servertest.Eventually(t, 60*time.Second, "the crashed app restarted with its bandwidth cap", func() bool {
		p := podmanOut("inspect", "--format", "{{.State.Pid}}", "wh-slow")
		if p == "" || p == "0" || p == pid {
			return false
		}
		out, err := exec.Command("nsenter", "-t", p, "-n", "tc", "qdisc", "show", "dev", "eth0").CombinedOutput()
		return err == nil && strings.Contains(string(out), "tbf")
	})
}

// Hostile jobs sent straight through the hub (the API would refuse them)
// are refused by the worker before anything is cloned or run.
func TestHostileJobsRefused(t *testing.T) {
	e := startEnv(t)
	e.git.Commit(t, "v1", webApp("x\n", "exec httpd -f -p 8080 -h /www"))
	cases := []struct {
		name   string
		deploy map[string]any
	}{
		{"app name with a semicolon", map[string]any{"app_name": "x;id"}},
		{"app name with a path", map[string]any{"app_name": "../x"}},
		{"app name like an option", map[string]any{"app_name": "-rf"}},
		{"repo URL like an option", map[string]any{"repo_url": "-uhttp://x"}},
		{"ext:: transport", map[string]any{"repo_url": "ext::sh -c id"}},
		{"file URL", map[string]any{"repo_url": "file:///etc"}},
		{"local path", map[string]any{"repo_url": "/etc"}},
		{"ssh option injection", map[string]any{"repo_url": "ssh://-oProxyCommand=id/x"}},
		{"branch like an option", map[string]any{"branch": "--upload-pack=id"}},
		{"bad branch", map[string]any{"branch": "a..b"}},
		{"commit like an option", map[string]any{"commit": "-x"}},
	}
	st := e.srv.S.Store
	for i, tc := range cases {
		d := map[string]any{"app_id": "app_h", "app_name": "hostile", "repo_url": e.git.URL, "branch": "main", "port": 8080}
		for k, v := range tc.deploy {
			d[k] = v
		}
		jobID := fmt.Sprintf("job_hostile_%d", i)
		// Recorded as already sent, so the dispatcher leaves it alone and
		// applies the worker's answer.
		job := &store.Job{ID: jobID, Type: "deploy", AppID: "app_h", AppName: fmt.Sprint(d["app_name"]),
			WorkerID: e.workerID, State: store.JobSent, SentAt: time.Now()}
		if err := st.CreateJob(t.Context(), job); err != nil {
			t.Fatal(err)
		}
		if err := e.srv.S.Hub.Send(e.workerID, "job", map[string]any{"job_id": jobID, "type": "deploy", "app_id": "app_h", "deploy": d}); err != nil {
			t.Fatal(err)
		}
		servertest.Eventually(t, 15*time.Second, tc.name+" refused", func() bool {
			j, err := st.GetJob(t.Context(), jobID)
			return err == nil && j.State == "failed" && strings.Contains(j.LastError, "refused")
		})
	}
	if fetches, denied := e.git.Requests(); fetches+denied != 0 {
		t.Fatalf("the git server saw %d requests: something was cloned", fetches+denied)
	}
	if out := podmanOut("ps", "-aq", "--filter", "label=wisehosting.managed=true", "--filter", "label=wisehosting.app_id=app_h"); out != "" {
		t.Fatalf("a hostile job ran a container: %s", out)
	}
}

// Killing the agent with SIGKILL and starting it again leaves the app
// running with the same PID.
func TestAgentRestartKeepsApps(t *testing.T) {
	e := startEnv(t)
	e.stop() // this test runs the agent as a real process instead
	e.stop = nil
	bin := t.TempDir() + "/worker-agent"
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/wisehosting/wisehosting/cmd/worker-agent").CombinedOutput(); err != nil {
		t.Fatalf("build: %v: %s", err, out)
	}
	keyFile := t.TempDir() + "/key"
	os.WriteFile(keyFile, []byte(e.apiKey), 0o600)
	cfg := agentConfig(e.srv.URL, e.apiKey, e.dataDir)
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "--control-plane", e.srv.URL, "--api-key-file", keyFile, "--name", "w1", "--data-dir", e.dataDir,
			"--port-range", fmt.Sprintf("%d-%d", cfg.PortLo, cfg.PortHi), "--podman-runtime", "runc", "--build-network", testBuildNetwork,
			"--base-images", "static="+workertest.BaseImage, "--log-level", "warn")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	proc := start()
	e.git.Commit(t, "v1", webApp("persistent\n", "exec httpd -f -p 8080 -h /www"))
	e.createApp(t, "keep", nil)
	if _, status := e.deploy(t, "keep"); status != "running" {
		t.Fatalf("deploy: %s", status)
	}
	pid := podmanOut("inspect", "--format", "{{.State.Pid}}", "wh-keep")
	proc.Process.Kill()
	proc.Wait()
	start()
	time.Sleep(2 * time.Second)
	servertest.Eventually(t, 30*time.Second, "worker back online", func() bool {
		var ws []struct{ Status string }
		e.srv.Do("GET", "/v1/workers", e.owner, nil).JSON(t, &ws)
		return len(ws) == 1 && ws[0].Status == "online"
	})
	if now := podmanOut("inspect", "--format", "{{.State.Pid}}", "wh-keep"); now != pid {
		t.Fatalf("app PID changed from %s to %s", pid, now)
	}
	a := e.app(t, "keep")
	if got := e.get(t, a.HostPort); got != "persistent\n" {
		t.Fatalf("app answered %q", got)
	}
}

// ---- zero-downtime redeploys, against a fake control plane ----

// bareEnv is the real agent against workertest.ControlPlane: the test
// sends the jobs and sees every message the agent sends, as it arrives.
type bareEnv struct {
	cp  *workertest.ControlPlane
	git *workertest.GitServer
	n   int // jobs sent
}

func startBare(t *testing.T, tune func(*worker.Config)) *bareEnv {
	t.Helper()
	workertest.RequirePodman(t)
	t.Cleanup(func() { exec.Command("podman", "network", "rm", "-f", testBuildNetwork).Run() })
	workertest.UseTestContainersConf(t)
	workertest.EnsureBaseImage(t)
	const key = "wk-fake-control-plane-key"
	e := &bareEnv{cp: workertest.NewControlPlane(t, key), git: workertest.NewGitServer(t, gitToken)}
	cfg := agentConfig(e.cp.URL, key, t.TempDir())
	if tune != nil {
		tune(&cfg)
	}
	a, err := worker.NewAgent(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Start() }()
	t.Cleanup(func() {
		a.Stop()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("agent did not stop")
		}
	})
	e.cp.WaitConnected(t, 15*time.Second)
	return e
}

// deploy sends a deploy job of app and waits for its result.
func (e *bareEnv) deploy(t *testing.T, app string, mutate func(*models.DeployPayload)) (wsproto.JobResultPayload, string) {
	t.Helper()
	e.n++
	jobID, depID := fmt.Sprintf("job-%s-%d", app, e.n), fmt.Sprintf("dep-%s-%d", app, e.n)
	p := &models.DeployPayload{AppID: "app_" + app, AppName: app, RepoURL: e.git.URL, Branch: "main", GitToken: gitToken,
		Port: 8080, Limits: models.Limits{MemoryBytes: 64 << 20, CPUMillis: 500}}
	if mutate != nil {
		mutate(p)
	}
	e.cp.SendJob(t, wsproto.JobPayload{JobID: jobID, Type: models.JobDeploy, AppID: p.AppID, DeploymentID: depID, Deploy: p})
	res := e.cp.WaitResult(t, jobID, 3*time.Minute)
	if !res.Success {
		t.Logf("deploy %s: %s", depID, res.Message)
	}
	return res, depID
}

// buildLog is a deployment's build log as the agent sent it.
func (e *bareEnv) buildLog(depID string) string {
	var b strings.Builder
	for _, env := range e.cp.Messages(wsproto.TypeBuildLog) {
		var p wsproto.BuildLogPayload
		if env.Decode(&p) == nil && p.DeploymentID == depID && int(p.Offset) == b.Len() {
			b.WriteString(p.Data)
		}
	}
	return b.String()
}

// answer is the body of the app on port, waiting a little for it.
func answer(t *testing.T, port int) string {
	t.Helper()
	var body string
	servertest.Eventually(t, 10*time.Second, fmt.Sprintf("app answers on %d", port), func() bool {
		code, b, err := workertest.HTTPGet(fmt.Sprintf("http://127.0.0.1:%d/", port))
		body = b
		return err == nil && code == http.StatusOK
	})
	return body
}

// hammer sends requests to an app without pause, always to the host port
// of the last app_status "running" the control plane received for it, as
// a router would, and counts the requests that failed (an error, or a
// status other than 200).
type hammer struct {
	port     atomic.Int64
	ok, fail atomic.Int64
	mu       sync.Mutex
	failures []string
	bodies   map[string]int
	stop     func()
}

func startHammer(t *testing.T, cp *workertest.ControlPlane, appID string, port int) *hammer {
	h := &hammer{bodies: map[string]int{}}
	h.port.Store(int64(port))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		cp.Follow(ctx, 0, func(env *wsproto.Envelope) {
			var st models.AppStatusReport
			if env.Type == wsproto.TypeAppStatus && env.Decode(&st) == nil && st.AppID == appID &&
				st.Status == models.AppRunning && st.HostPort > 0 {
				h.port.Store(int64(st.HostPort))
			}
		})
	}()
	go func() {
		defer wg.Done()
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		for ctx.Err() == nil {
			port := h.port.Load()
			resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
			var body string
			if err == nil {
				var b strings.Builder
				_, err = io.Copy(&b, resp.Body)
				resp.Body.Close()
				body = b.String()
				if err == nil && resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			h.mu.Lock()
			if err != nil {
				h.fail.Add(1)
				if len(h.failures) < 10 {
					h.failures = append(h.failures, fmt.Sprintf("%s port %d: %v", time.Now().Format("15:04:05.000"), port, err))
				}
			} else {
				h.ok.Add(1)
				h.bodies[body]++
			}
			h.mu.Unlock()
			time.Sleep(10 * time.Millisecond)
		}
	}()
	h.stop = func() {
		cancel()
		wg.Wait()
	}
	t.Cleanup(h.stop)
	return h
}

func appNames(app string) string {
	return podmanOut("ps", "-a", "--filter", "label=wisehosting.app="+app, "--format", "{{.Names}}")
}

// A redeploy, two failed ones and a rollback, under constant requests:
// none fails. A failed new version leaves the running one untouched.
func TestZeroDowntimeRedeploy(t *testing.T) {
	e := startBare(t, func(c *worker.Config) { c.HealthTimeout = 8 * time.Second })
	const app, appID = "zdt", "app_zdt"
	workertest.CleanupApp(t, app)

	e.git.Commit(t, "v1", webApp("v1\n", "exec httpd -f -p 8080 -h /www"))
	r1, _ := e.deploy(t, app, nil)
	if !r1.Success || r1.HostPort == 0 {
		t.Fatalf("first deploy: %+v", r1)
	}
	e.cp.WaitMessage(t, 5*time.Second, wsproto.TypeAppStatus, func(env *wsproto.Envelope) bool {
		var st models.AppStatusReport
		return env.Decode(&st) == nil && st.AppID == appID && st.HostPort == r1.HostPort && st.ContainerID == r1.ContainerID &&
			st.Status == models.AppRunning && st.Message == "switching traffic"
	})
	if got := answer(t, r1.HostPort); got != "v1\n" {
		t.Fatalf("v1 answered %q", got)
	}

	h := startHammer(t, e.cp, appID, r1.HostPort)
	time.Sleep(300 * time.Millisecond)

	// v2 says hello while it is checked (still named wh-zdt_next) and
	// ticks after it took the app's name.
	e.git.Commit(t, "v2", webApp("v2\n", "echo hello-v2; (while true; do echo tick-v2; sleep 1; done) & exec httpd -f -p 8080 -h /www"))
	r2, _ := e.deploy(t, app, nil)
	switched := time.Now()
	if !r2.Success || r2.HostPort == r1.HostPort || r2.HostPort == 0 {
		t.Fatalf("v2 deploy: %+v (v1 on %d)", r2, r1.HostPort)
	}
	if got := answer(t, r2.HostPort); got != "v2\n" {
		t.Fatalf("v2 answered %q", got)
	}
	if got := h.port.Load(); got != int64(r2.HostPort) {
		t.Fatalf("the hammer follows port %d, want %d", got, r2.HostPort)
	}
	if names := appNames(app); names != "wh-zdt" {
		t.Fatalf("containers after the redeploy: %q", names)
	}
	if id := podmanOut("inspect", "--format", "{{.Id}}", "wh-zdt"); id != r2.ContainerID {
		t.Fatalf("wh-zdt is %s, want the new container %s", id, r2.ContainerID)
	}
	if _, _, err := workertest.HTTPGet(fmt.Sprintf("http://127.0.0.1:%d/", r1.HostPort)); err == nil {
		t.Fatalf("the old port %d still answers", r1.HostPort)
	}
	// Runtime logs reach the control plane before and after the rename;
	// stats follow the renamed container.
	logLine := func(msg string, after time.Time) func(*wsproto.Envelope) bool {
		return func(env *wsproto.Envelope) bool {
			var p wsproto.RuntimeLogPayload
			if env.Decode(&p) != nil {
				return false
			}
			return slices.ContainsFunc(p.Lines, func(l wsproto.RuntimeLogLine) bool {
				return l.AppID == appID && l.Msg == msg && l.At.After(after)
			})
		}
	}
	e.cp.WaitMessage(t, 15*time.Second, wsproto.TypeRuntimeLog, logLine("hello-v2", time.Time{}))
	e.cp.WaitMessage(t, 15*time.Second, wsproto.TypeRuntimeLog, logLine("tick-v2", switched.Add(time.Second)))
	e.cp.WaitMessage(t, 15*time.Second, wsproto.TypeAppStats, func(env *wsproto.Envelope) bool {
		var p wsproto.AppStatsPayload
		return env.Decode(&p) == nil && p.At.After(switched) &&
			slices.ContainsFunc(p.Apps, func(l wsproto.AppStatLine) bool { return l.AppID == appID && l.ContainerID == r2.ContainerID })
	})

	// A new version whose health check never passes (404 here), then one
	// that exits at once: both fail, v2 serves on, untouched.
	e.git.Commit(t, "v3", webApp("v3\n", "exec httpd -f -p 8080 -h /www"))
	r3, _ := e.deploy(t, app, func(p *models.DeployPayload) { p.HealthCheckPath = "/healthz" })
	e.git.Commit(t, "v4", webApp("v4\n", "echo bye-v4; exit 3"))
	r4, _ := e.deploy(t, app, nil)
	for _, c := range []struct {
		res  wsproto.JobResultPayload
		want string
	}{{r3, "health check: GET /healthz"}, {r4, "bye-v4"}} {
		if c.res.Success || !strings.Contains(c.res.Message, c.want) {
			t.Fatalf("failing new version: %+v, want a failure with %q", c.res, c.want)
		}
		if got := answer(t, r2.HostPort); got != "v2\n" {
			t.Fatalf("after a failed deploy the app answered %q", got)
		}
		if names := appNames(app); names != "wh-zdt" {
			t.Fatalf("containers after a failed deploy: %q", names)
		}
		if id := podmanOut("inspect", "--format", "{{.Id}}", "wh-zdt"); id != r2.ContainerID {
			t.Fatalf("a failed deploy replaced the container: %s", id)
		}
	}

	// Rollback to v1's image: no build, v1 serves again in seconds.
	start := time.Now()
	r5, dep5 := e.deploy(t, app, func(p *models.DeployPayload) { p.ImageID = r1.ImageID })
	took := time.Since(start)
	if !r5.Success || r5.ImageID != r1.ImageID || took > 20*time.Second {
		t.Fatalf("rollback after %v: %+v", took, r5)
	}
	if log := e.buildLog(dep5); strings.Contains(log, "STEP") || strings.Contains(log, "Cloning") || !strings.Contains(log, "Using the existing image") {
		t.Fatalf("rollback log:\n%s", log)
	}
	if got := answer(t, r5.HostPort); got != "v1\n" {
		t.Fatalf("after the rollback the app answered %q", got)
	}
	time.Sleep(300 * time.Millisecond)
	h.stop()
	t.Logf("rollback took %v; %d requests answered (%v), %d failed", took.Round(time.Millisecond), h.ok.Load(), h.bodies, h.fail.Load())
	if n := h.fail.Load(); n != 0 {
		t.Fatalf("%d requests failed:\n%s", n, strings.Join(h.failures, "\n"))
	}
	if h.bodies["v1\n"] == 0 || h.bodies["v2\n"] == 0 || h.ok.Load() < 50 {
		t.Fatalf("answers %v", h.bodies)
	}
	if names := appNames(app); names != "wh-zdt" {
		t.Fatalf("containers after the rollback: %q", names)
	}
	// Pruning keeps exactly the running image and the one it replaced.
	want := []string{r1.ImageID, r2.ImageID}
	slices.Sort(want)
	servertest.Eventually(t, 15*time.Second, "images pruned to v1 and v2", func() bool {
		got := strings.Fields(podmanOut("images", "-q", "--no-trunc", "--filter", "label=wisehosting.app="+app))
		for i := range got {
			got[i] = strings.TrimPrefix(got[i], "sha256:")
		}
		slices.Sort(got)
		return slices.Equal(got, want)
	})
	// The failed new versions and the replaced containers were never the
	// app's crashes or violations.
	if vs := e.cp.Messages(wsproto.TypeViolation); len(vs) != 0 {
		t.Fatalf("%d violations", len(vs))
	}
	for _, env := range e.cp.Messages(wsproto.TypeAppStatus) {
		var st models.AppStatusReport
		if env.Decode(&st) == nil && st.Status != models.AppRunning {
			t.Fatalf("app_status %+v", st)
		}
	}
}

// TestBuildEscapesRefused: with real git and podman, a repository whose
// symlink leaves it, or whose Dockerfile uses RUN --mount, fails before
// anything is built (both reach the host's files with the podman Debian
// 12 ships); fixed, the same repository deploys.
func TestBuildEscapesRefused(t *testing.T) {
	e := startEnv(t)
	files := webApp("safe\n", "exec httpd -f -p 8080 -h /www")
	files["lnk"] = workertest.Symlink("/")
	e.git.Commit(t, "a link to the host's root", files)
	e.createApp(t, "escape", nil)
	refused := func(want string) {
		t.Helper()
		id, status := e.deploy(t, "escape")
		var dep struct{ Message string }
		e.srv.Do("GET", "/v1/deployments/"+id, e.owner, nil).JSON(t, &dep)
		if status != "failed" || !strings.Contains(dep.Message, want) {
			t.Fatalf("deploy: %s %q, want failed with %q", status, dep.Message, want)
		}
		if out := podmanOut("images", "-q", "--filter", "reference=localhost/wh-escape"); out != "" {
			t.Fatalf("an image was built: %s", out)
		}
	}
	refused("symlink lnk → /")

	e.git.Commit(t, "a cache mount", map[string]string{"lnk": workertest.Deleted,
		"Dockerfile": "FROM " + workertest.BaseImage + "\nRUN -\\\n-mount=type=cache,target=/c,id=../../x true\nCOPY index.html /www/index.html\n" +
			"CMD [\"sh\", \"-c\", \"exec httpd -f -p 8080 -h /www\"]\n"})
	refused("RUN --mount")

	e.git.Commit(t, "fixed", webApp("safe\n", "exec httpd -f -p 8080 -h /www"))
	if _, status := e.deploy(t, "escape"); status != "running" {
		t.Fatalf("the fixed repository: %s", status)
	}
}

// TestEnvValuesOffTheCommandLine: with real podman, env values reach the
// app (single-line ones through a private env file, multi-line ones
// inline) and a single-line secret is in neither the container's recorded
// create command nor a file left behind.
func TestEnvValuesOffTheCommandLine(t *testing.T) {
	e := startEnv(t)
	e.git.Commit(t, "v1", webApp("env\n", "exec httpd -f -p 8080 -h /www"))
	const secret = "s3cr3t-=value with spaces  "
	e.createApp(t, "envy", map[string]any{"env": map[string]string{"DB_PASSWORD": secret, "CERT": "line1\nline2", "EMPTY": ""}})
	if _, status := e.deploy(t, "envy"); status != "running" {
		t.Fatalf("deploy: %s", status)
	}
	for name, want := range map[string]string{"DB_PASSWORD": secret, "CERT": "line1\nline2", "EMPTY": "", "PORT": "8080"} {
		out, err := exec.Command("podman", "exec", "wh-envy", "sh", "-c", `printf %s "$`+name+`"`).Output()
		if err != nil || string(out) != want {
			t.Errorf("%s in the container = %q (%v), want %q", name, out, err, want)
		}
	}
	if cc := podmanOut("inspect", "--format", "{{.Config.CreateCommand}}", "wh-envy"); strings.Contains(cc, "s3cr3t") {
		t.Fatalf("the secret is in the recorded create command: %s", cc)
	}
	if m, _ := filepath.Glob(filepath.Join(e.dataDir, "env-*")); len(m) != 0 {
		t.Fatalf("env files left behind: %v", m)
	}
}
