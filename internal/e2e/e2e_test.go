// Package e2e drives the whole platform as a user would: `wisehosting dev`
// as a separate process (control plane + local worker over the loopback
// WebSocket, real podman, real git over HTTP), through its API, its router
// and its CLI.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wisehosting/wisehosting/internal/workertest"
)

const (
	ownerEmail    = "owner@example.com"
	ownerPassword = "correct-horse-battery"
	gitToken      = "ghp_e2eSecretToken0123456789"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wh-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var buildOnce sync.Once
var buildErr error

// binary builds cmd/wisehosting once per run.
func binary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(binDir, "wisehosting")
	buildOnce.Do(func() {
		cmd := exec.Command("go", "build", "-o", bin, "github.com/wisehosting/wisehosting/cmd/wisehosting")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bin
}

// platform is a running `wisehosting dev` process.
type platform struct {
	t       *testing.T
	bin     string
	dataDir string
	addr    string // 127.0.0.1:port
	cmd     *exec.Cmd
	out     *workertest.SyncBuffer
	token   string
}

func startPlatform(t *testing.T) *platform {
	t.Helper()
	workertest.RequirePodman(t)
	workertest.UseTestContainersConf(t)
	workertest.EnsureBaseImage(t)
	p := &platform{t: t, bin: binary(t), dataDir: t.TempDir(), addr: workertest.FreeAddr(t)}
	p.start()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("platform output:\n%s", workertest.Tail(p.out.String(), 8000))
		}
	})
	p.token = p.login()
	return p
}

func (p *platform) start() {
	t := p.t
	t.Helper()
	if p.out == nil {
		p.out = &workertest.SyncBuffer{}
	}
	cmd := exec.Command(p.bin, "dev", "--listen", p.addr, "--data-dir", p.dataDir, "--internal-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "WH_OWNER_EMAIL="+ownerEmail, "WH_OWNER_PASSWORD="+ownerPassword)
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.cmd = cmd
	// Ready when the API answers and the local worker is online.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if code, _, err := get("http://"+p.addr+"/readyz", "", ""); err == nil && code == 200 {
			if !strings.Contains(p.out.String(), "WiseHosting is running") {
				// dev prints its banner once the owner and the local
				// worker exist, just after the API starts answering.
				time.Sleep(100 * time.Millisecond)
				continue
			}
			if p.token == "" {
				return
			}
			var ws []struct{ Status string }
			if p.call("GET", "/v1/workers", nil, &ws) == 200 && len(ws) > 0 && ws[0].Status == "online" {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("the platform did not become ready:\n%s", workertest.Tail(p.out.String(), 4000))
}

// kill9 kills the platform process the hard way.
func (p *platform) kill9() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
	p.cmd = nil
}

// stop interrupts the platform (Ctrl-C) and waits for it.
func (p *platform) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
		p.t.Error("the platform did not stop within 30 s of Ctrl-C")
	}
	p.cmd = nil
}

func (p *platform) login() string {
	var out struct{ Token string }
	if code := p.call("POST", "/v1/auth/login", map[string]string{"email": ownerEmail, "password": ownerPassword}, &out); code != 200 {
		p.t.Fatalf("login: %d", code)
	}
	return out.Token
}

// call sends a JSON request with the owner's token and decodes the answer.
func (p *platform) call(method, path string, body, out any) int {
	p.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+p.addr+path, r)
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			p.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	if resp.StatusCode >= 300 {
		p.t.Logf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// appURL is the app's address through the router.
func (p *platform) appGet(app string) (int, string, error) {
	return get("http://"+p.addr+"/", app+".localhost", "")
}

func get(url, host, _ string) (int, string, error) {
	req, _ := http.NewRequest("GET", url, nil)
	if host != "" {
		req.Host = host
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// waitDeployment follows the deployment's build log (SSE) until it ends and
// returns its final status and the log text.
func (p *platform) waitDeployment(id string) (status, log string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+p.addr+"/v1/deployments/"+id+"/logs?follow=1", nil)
	req.Header.Set("Authorization", "Bearer "+p.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	var event string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data := strings.TrimPrefix(line, "data: ")
			switch event {
			case "log":
				b.WriteString(data + "\n")
			case "end":
				return data, b.String()
			}
		case line == "":
			event = ""
		}
	}
	p.t.Fatalf("the build log stream of %s ended without an end event (%v); log so far:\n%s", id, sc.Err(), b.String())
	return "", ""
}

func webApp(body, start string) map[string]string {
	return map[string]string{
		"index.html": body,
		"Dockerfile": fmt.Sprintf("FROM %s\nCOPY index.html /www/index.html\nCMD [\"sh\", \"-c\", %q]\n", workertest.BaseImage, start),
	}
}

func randomName(prefix string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// hammer sends requests through the router until stop is closed and
// counts the ones that failed (an error or a status other than 200).
type hammer struct {
	ok, failed atomic.Int64
	bodies     sync.Map
	lastErr    atomic.Value
	done       chan struct{}
	stop       chan struct{}
}

func startHammer(p *platform, app string) *hammer {
	h := &hammer{done: make(chan struct{}), stop: make(chan struct{})}
	go func() {
		defer close(h.done)
		for {
			select {
			case <-h.stop:
				return
			default:
			}
			code, body, err := p.appGet(app)
			if err != nil || code != 200 {
				h.failed.Add(1)
				h.lastErr.Store(fmt.Sprintf("%d %v %.200s", code, err, body))
			} else {
				h.ok.Add(1)
				h.bodies.Store(body, true)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return h
}

func (h *hammer) finish() {
	close(h.stop)
	<-h.done
}

func (p *platform) waitBody(app, want string, within time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	var code int
	var body string
	var err error
	for time.Now().Before(deadline) {
		code, body, err = p.appGet(app)
		if err == nil && code == 200 && body == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("%s did not answer %q within %v: last %d %q %v", app, want, within, code, body, err)
}

func pushHook(t *testing.T, p *platform, app, commit string) string {
	t.Helper()
	var s struct{ Secret string }
	if code := p.call("GET", "/v1/apps/"+app+"/hooks/git", nil, &s); code != 200 {
		t.Fatalf("get hook secret: %d", code)
	}
	body, _ := json.Marshal(map[string]string{"ref": "refs/heads/main", "after": commit})
	mac := hmac.New(sha256.New, []byte(s.Secret))
	mac.Write(body)
	req, _ := http.NewRequest("POST", "http://"+p.addr+"/v1/apps/"+app+"/hooks/git", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		DeploymentID string `json:"deployment_id"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 202 || json.Unmarshal(b, &out) != nil || out.DeploymentID == "" {
		t.Fatalf("push hook: %d %s", resp.StatusCode, b)
	}
	return out.DeploymentID
}

type appJSON struct {
	Status              string `json:"status"`
	HostPort            int    `json:"host_port"`
	CurrentDeploymentID string `json:"current_deployment_id"`
}

// TestPlatformEndToEnd is the whole user journey through the API.
func TestPlatformEndToEnd(t *testing.T) {
	p := startPlatform(t)
	git := workertest.NewGitServer(t, gitToken)
	app := randomName("e2e-")
	workertest.CleanupApp(t, app)
	git.Commit(t, "v1", webApp("version one\n", "echo hello-from-e2e; exec httpd -f -p 8080 -h /www"))

	if code := p.call("POST", "/v1/apps", map[string]any{"name": app, "repo_url": git.URL, "branch": "main",
		"git_token": gitToken, "port": 8080}, nil); code != 201 {
		t.Fatalf("create app: %d", code)
	}
	// Before the first deploy the router says so, kindly.
	if code, body, _ := p.appGet(app); code != 503 || !strings.Contains(body, "not running") {
		t.Errorf("before deploy: %d %.100q", code, body)
	}

	// Deploy; the build log streams while it builds.
	var dep struct{ ID string }
	if code := p.call("POST", "/v1/apps/"+app+"/deployments", nil, &dep); code != 201 {
		t.Fatalf("deploy: %d", code)
	}
	status, log := p.waitDeployment(dep.ID)
	if status != "running" {
		t.Fatalf("first deployment %s:\n%s", status, log)
	}
	for _, want := range []string{"Cloning", "Building", "Running"} {
		if !strings.Contains(log, want) {
			t.Errorf("build log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, gitToken) {
		t.Error("the build log shows the git token")
	}
	p.waitBody(app, "version one\n", 20*time.Second)

	// A custom domain routes to the same app.
	domain := app + ".example.org"
	if code := p.call("POST", "/v1/apps/"+app+"/domains", map[string]string{"domain": domain}, nil); code != 201 {
		t.Fatalf("add domain: %d", code)
	}
	if code, body, err := get("http://"+p.addr+"/", domain, ""); err != nil || code != 200 || body != "version one\n" {
		t.Errorf("through the custom domain: %d %q %v", code, body, err)
	}

	// A line the app printed reaches the runtime log.
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest("GET", "http://"+p.addr+"/v1/apps/"+app+"/logs", nil)
		req.Header.Set("Authorization", "Bearer "+p.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "hello-from-e2e") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app's line never reached the runtime log: %s", b)
		}
		time.Sleep(500 * time.Millisecond)
	}

	// Push v2 and send a signed push hook, while a client hammers the app.
	h := startHammer(p, app)
	v2 := git.Commit(t, "v2", webApp("version two\n", "exec httpd -f -p 8080 -h /www"))
	dep2 := pushHook(t, p, app, v2)
	if status, log := p.waitDeployment(dep2); status != "running" {
		h.finish()
		t.Fatalf("push deployment %s:\n%s", status, log)
	}
	p.waitBody(app, "version two\n", 20*time.Second)
	time.Sleep(3 * time.Second) // the old container stops after the switch: keep hammering through it
	h.finish()
	t.Logf("during the redeploy: %d requests answered, %d failed", h.ok.Load(), h.failed.Load())
	if n := h.failed.Load(); n != 0 {
		t.Errorf("%d requests failed during the redeploy; last: %v", n, h.lastErr.Load())
	}
	if _, ok := h.bodies.Load("version one\n"); !ok {
		t.Error("the hammer never saw v1: it started too late to prove anything")
	}

	// Roll back: v1 again, without a build.
	start := time.Now()
	var rb struct{ ID string }
	if code := p.call("POST", "/v1/apps/"+app+"/rollback", map[string]string{}, &rb); code != 201 {
		t.Fatalf("rollback: %d", code)
	}
	if status, log := p.waitDeployment(rb.ID); status != "running" || strings.Contains(log, "Building") {
		t.Fatalf("rollback %s (a rollback must not build):\n%s", status, log)
	}
	p.waitBody(app, "version one\n", 20*time.Second)
	t.Logf("rollback answered in %v", time.Since(start).Round(time.Millisecond))

	// kill -9 the platform: the app keeps serving on its port meanwhile,
	// and after a restart the route and the history are intact.
	var before appJSON
	p.call("GET", "/v1/apps/"+app, nil, &before)
	direct := fmt.Sprintf("http://127.0.0.1:%d/", before.HostPort)
	p.kill9()
	for range 10 {
		if code, body, err := get(direct, "", ""); err != nil || code != 200 || body != "version one\n" {
			t.Fatalf("the app stopped serving while the platform was down: %d %q %v", code, body, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.start()
	p.waitBody(app, "version one\n", 30*time.Second)
	var deps []struct {
		ID, Status, Trigger string
	}
	p.call("GET", "/v1/apps/"+app+"/deployments", nil, &deps)
	if len(deps) != 3 || deps[0].Trigger != "rollback" || deps[1].Trigger != "git" || deps[2].Trigger != "api" {
		t.Errorf("deployment history after kill -9: %+v", deps)
	}

	// Stop, then delete: nothing is left.
	var job struct {
		JobID string `json:"job_id"`
	}
	if code := p.call("POST", "/v1/apps/"+app+"/stop", nil, &job); code != 202 {
		t.Fatalf("stop: %d", code)
	}
	waitFor(t, 30*time.Second, "the app to stop", func() bool {
		var a appJSON
		p.call("GET", "/v1/apps/"+app, nil, &a)
		return a.Status == "stopped"
	})
	if code, _, _ := p.appGet(app); code != 503 {
		t.Errorf("a stopped app answers %d through the router, want 503", code)
	}
	if code := p.call("DELETE", "/v1/apps/"+app, nil, nil); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	waitFor(t, 30*time.Second, "the app's containers and images to go", func() bool {
		ps := workertest.Podman(t, "ps", "-a", "--filter", "label=wisehosting.app="+app, "--format", "{{.ID}}")
		imgs := workertest.Podman(t, "images", "--filter", "reference=localhost/wh-"+app, "--format", "{{.ID}}")
		return ps == "" && imgs == ""
	})
	if code, body, _ := p.appGet(app); code != 404 || !strings.Contains(body, "No app here") {
		t.Errorf("after delete the router answers %d %.80q, want 404", code, body)
	}
}

func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// cli runs the wisehosting CLI against p with its own config file.
func (p *platform) cli(t *testing.T, cfg string, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(p.bin, args...)
	cmd.Env = append(os.Environ(), "WH_CONFIG="+cfg, "WH_SERVER=http://"+p.addr)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// TestPlatformEndToEndCLI is the same journey through the CLI.
func TestPlatformEndToEndCLI(t *testing.T) {
	p := startPlatform(t)
	git := workertest.NewGitServer(t, gitToken)
	app := randomName("cli-")
	workertest.CleanupApp(t, app)
	git.Commit(t, "v1", webApp("cli one\n", "echo hello-from-cli; exec httpd -f -p 8080 -h /www"))
	cfg := filepath.Join(t.TempDir(), "config.json")
	run := func(stdin string, args ...string) string {
		t.Helper()
		out, errOut, code := p.cli(t, cfg, stdin, args...)
		if code != 0 {
			t.Fatalf("wisehosting %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}

	run(ownerPassword+"\n", "login", "--email", ownerEmail, "--password-stdin")
	if out := run("", "whoami"); !strings.Contains(out, ownerEmail) {
		t.Errorf("whoami: %s", out)
	}
	run(gitToken+"\n", "apps", "create", app, "--repo", git.URL, "--branch", "main", "--port", "8080", "--token-stdin", "--memory", "256M")
	run("", "env", "set", app, "GREETING=hi")
	if out := run("", "env", "list", app); !strings.Contains(out, "GREETING") || strings.Contains(out, "hi") {
		t.Errorf("env list (values hidden): %s", out)
	}
	out := run("", "deploy", app)
	if !strings.Contains(out, "Building") || strings.Contains(out, gitToken) {
		t.Errorf("deploy output (build log, no token):\n%s", out)
	}
	p.waitBody(app, "cli one\n", 20*time.Second)
	waitFor(t, 30*time.Second, "the app's line in `logs`", func() bool {
		return strings.Contains(run("", "logs", app), "hello-from-cli")
	})

	// Redeploy a new commit while a client hammers the app.
	h := startHammer(p, app)
	git.Commit(t, "v2", webApp("cli two\n", "exec httpd -f -p 8080 -h /www"))
	run("", "deploy", app)
	p.waitBody(app, "cli two\n", 20*time.Second)
	time.Sleep(3 * time.Second)
	h.finish()
	t.Logf("during the CLI redeploy: %d requests answered, %d failed", h.ok.Load(), h.failed.Load())
	if n := h.failed.Load(); n != 0 {
		t.Errorf("%d requests failed during the redeploy; last: %v", n, h.lastErr.Load())
	}

	run("", "rollback", app)
	p.waitBody(app, "cli one\n", 20*time.Second)

	// A failing deploy exits non-zero and leaves the old version serving.
	git.Commit(t, "broken", map[string]string{"Dockerfile": "FROM " + workertest.BaseImage + "\nRUN false\n"})
	if _, errOut, code := p.cli(t, cfg, "", "deploy", app); code == 0 || !strings.Contains(errOut, "failed") {
		t.Errorf("a failing deploy: exit %d, stderr %q", code, errOut)
	}
	p.waitBody(app, "cli one\n", 5*time.Second)

	if out := run("", "workers", "list"); !strings.Contains(out, "local") || !strings.Contains(out, "online") {
		t.Errorf("workers list: %s", out)
	}
	if out := run("", "apps", "list", "--json"); !strings.Contains(out, `"name":"`+app+`"`) && !strings.Contains(out, `"name": "`+app+`"`) {
		t.Errorf("apps list --json: %s", out)
	}
	run("", "apps", "delete", app, "--yes")
	waitFor(t, 30*time.Second, "the app's containers and images to go", func() bool {
		ps := workertest.Podman(t, "ps", "-a", "--filter", "label=wisehosting.app="+app, "--format", "{{.ID}}")
		imgs := workertest.Podman(t, "images", "--filter", "reference=localhost/wh-"+app, "--format", "{{.ID}}")
		return ps == "" && imgs == ""
	})
	if code, _, _ := p.appGet(app); code != 404 {
		t.Errorf("after delete the router answers %d", code)
	}
}
