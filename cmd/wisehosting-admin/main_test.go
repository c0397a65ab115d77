package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wisehosting/wisehosting/internal/adminrpc"
	"github.com/wisehosting/wisehosting/internal/workertest"
)

// The operator's journey against real processes: `wisehosting dev`
// (control plane and local worker agent with podman), accounts made with
// `wisehosting admin create-account`, and this binary.

const (
	ownerEmail    = "owner@example.com"
	ownerPassword = "correct-horse-battery"
	adminPassword = "a long operator password"
	gitToken      = "ghp_adminE2EToken0123456789"
)

func buildBinaries(t *testing.T) (wisehosting, admin string) {
	t.Helper()
	dir := t.TempDir()
	wisehosting, admin = filepath.Join(dir, "wisehosting"), filepath.Join(dir, "wisehosting-admin")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, b := range []struct{ out, pkg string }{{wisehosting, "./cmd/wisehosting"}, {admin, "./cmd/wisehosting-admin"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command("go", "build", "-o", b.out, "github.com/wisehosting/wisehosting/"+strings.TrimPrefix(b.pkg, "./"))
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go build %s: %v: %s", b.pkg, err, out)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return wisehosting, admin
}

// api calls the public API as the owner.
type api struct {
	t     *testing.T
	base  string
	token string
}

func (a *api) call(method, path string, body, out any) int {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, a.base+path, r)
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			a.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

func routeGet(addr, app string) (int, string) {
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Host = app + ".localhost"
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var internalAddrRE = regexp.MustCompile(`internal API listening.* addr=(127\.0\.0\.1:\d+)`)

func TestAgainstWisehostingDev(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries and runs wisehosting dev with podman")
	}
	workertest.RequirePodman(t)
	workertest.UseTestContainersConf(t)
	workertest.EnsureBaseImage(t)
	whBin, adminBin := buildBinaries(t)
	dataDir, addr := t.TempDir(), workertest.FreeAddr(t)

	// The control plane with its local worker; the internal API on a port
	// of its own, read back from the log.
	out := &workertest.SyncBuffer{}
	dev := exec.Command(whBin, "dev", "--listen", addr, "--data-dir", dataDir, "--internal-listen", "127.0.0.1:0")
	dev.Env = append(os.Environ(), "WH_OWNER_EMAIL="+ownerEmail, "WH_OWNER_PASSWORD="+ownerPassword)
	dev.Stdout, dev.Stderr = out, out
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = dev.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = dev.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = dev.Process.Kill()
			<-done
		}
		if t.Failed() {
			s := out.String()
			t.Logf("wisehosting dev output:\n%s", s[max(0, len(s)-8000):])
		}
	})
	var internal string
	eventually(t, 30*time.Second, "the internal API to listen", func() bool {
		if m := internalAddrRE.FindStringSubmatch(out.String()); m != nil {
			internal = m[1]
		}
		return internal != ""
	})
	owner := &api{t: t, base: "http://" + addr}
	eventually(t, 60*time.Second, "the owner to sign in and the local worker to be online", func() bool {
		if owner.token == "" {
			var s struct{ Token string }
			if owner.call("POST", "/v1/auth/login", map[string]string{"email": ownerEmail, "password": ownerPassword}, &s) != 200 {
				return false
			}
			owner.token = s.Token
		}
		var ws []struct{ Status string }
		return owner.call("GET", "/v1/workers", nil, &ws) == 200 && len(ws) == 1 && ws[0].Status == "online"
	})

	// The first operator account is made on the server, from its data folder.
	create := exec.Command(whBin, "admin", "create-account", "--data-dir", dataDir, "--username", "ops", "--role", "operator")
	create.Stdin = strings.NewReader(adminPassword + "\n")
	if b, err := create.CombinedOutput(); err != nil || !strings.Contains(string(b), "created admin account ops") {
		t.Fatalf("create-account: %v %s", err, b)
	}

	cfg := filepath.Join(t.TempDir(), "session.json")
	env := append(os.Environ(), "WH_ADMIN_CONFIG="+cfg)
	admin := func(stdin string, args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(adminBin, append([]string{"--addr", internal}, args...)...)
		cmd.Env, cmd.Stdin = env, strings.NewReader(stdin)
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	mustAdmin := func(args ...string) string {
		t.Helper()
		out, err := admin("", args...)
		if err != nil {
			t.Fatalf("wisehosting-admin %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	if out, err := admin(adminPassword+"\n", "login", "--username", "ops"); err != nil || !strings.Contains(out, "Logged in") {
		t.Fatalf("login: %v %s", err, out)
	}

	// workers: the local worker, online, heard from within 30 s.
	var ws []adminrpc.Worker
	if err := json.Unmarshal([]byte(mustAdmin("workers", "--json")), &ws); err != nil || len(ws) != 1 || ws[0].Name != "local" ||
		!ws[0].Online || ws[0].LastMessageAgeSeconds < 0 || ws[0].LastMessageAgeSeconds >= 30 {
		t.Fatalf("workers --json: %+v %v", ws, err)
	}

	// watch, as a process of its own, while an app is deployed.
	var events workertest.SyncBuffer
	watch := exec.Command(adminBin, "--addr", internal, "watch", "--json")
	watch.Env, watch.Stdout = env, &events
	var watchErr workertest.SyncBuffer
	watch.Stderr = &watchErr
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	watchDone := make(chan error, 1)
	go func() { watchDone <- watch.Wait() }()
	defer func() { _ = watch.Process.Kill() }()
	// The stream is live once an admin action shows up in it.
	eventually(t, 10*time.Second, "watch to subscribe", func() bool {
		mustAdmin("undrain", "local")
		return strings.Contains(events.String(), `"kind":"admin.action"`)
	})

	git := workertest.NewGitServer(t, gitToken)
	b := make([]byte, 3)
	rand.Read(b)
	app := "adm-" + hex.EncodeToString(b)
	workertest.CleanupApp(t, app)
	git.Commit(t, "v1", map[string]string{
		"index.html": "hello operators\n",
		"Dockerfile": fmt.Sprintf("FROM %s\nCOPY index.html /www/index.html\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n", workertest.BaseImage),
	})
	if code := owner.call("POST", "/v1/apps", map[string]any{"name": app, "repo_url": git.URL, "branch": "main", "git_token": gitToken, "port": 8080}, nil); code != 201 {
		t.Fatalf("create app: %d", code)
	}
	if code := owner.call("POST", "/v1/apps/"+app+"/deployments", nil, nil); code != 201 {
		t.Fatalf("deploy: %d", code)
	}
	eventually(t, 3*time.Minute, "the app to answer", func() bool { code, body := routeGet(addr, app); return code == 200 && body == "hello operators\n" })
	eventually(t, 10*time.Second, "the deployment event in watch", func() bool {
		for _, line := range strings.Split(events.String(), "\n") {
			var ev adminrpc.Event
			if json.Unmarshal([]byte(line), &ev) == nil && ev.Kind == adminrpc.EventDeploySucceeded && ev.App == app {
				return true
			}
		}
		return false
	})
	_ = watch.Process.Signal(syscall.SIGINT)
	select {
	case err := <-watchDone:
		if err != nil {
			t.Fatalf("watch after Ctrl-C: %v: %s", err, watchErr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not stop on Ctrl-C")
	}

	// drain and undrain the local worker.
	mustAdmin("drain", "local")
	if err := json.Unmarshal([]byte(mustAdmin("workers", "--json")), &ws); err != nil || !ws[0].Draining || !ws[0].Online {
		t.Fatalf("after drain: %+v %v", ws, err)
	}
	mustAdmin("undrain", "local")

	// suspend: 503 at once, and the container stops; resume: it answers again.
	if out := mustAdmin("suspend", app); !strings.Contains(out, "stop job") {
		t.Fatalf("suspend: %s", out)
	}
	if code, body := routeGet(addr, app); code != http.StatusServiceUnavailable || !strings.Contains(body, "suspended") {
		t.Fatalf("suspended app answers %d %.200s", code, body)
	}
	eventually(t, 30*time.Second, "the container to stop", func() bool {
		b, err := exec.Command("podman", "inspect", "-f", "{{.State.Running}}", "wh-"+app).Output()
		return err == nil && strings.TrimSpace(string(b)) == "false"
	})
	if code, _ := routeGet(addr, app); code != http.StatusServiceUnavailable {
		t.Fatalf("stopped suspended app answers %d", code)
	}
	mustAdmin("resume", app)
	eventually(t, 60*time.Second, "the resumed app to answer", func() bool { code, body := routeGet(addr, app); return code == 200 && body == "hello operators\n" })

	var audit []adminrpc.AuditEntry
	if err := json.Unmarshal([]byte(mustAdmin("audit", "--json")), &audit); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range audit {
		seen[e.Action+" "+e.Result] = e.Username == "ops" || seen[e.Action+" "+e.Result]
	}
	for _, want := range []string{"login ok", "worker.drain ok", "worker.undrain ok", "app.suspend ok", "app.resume ok"} {
		if !seen[want] {
			t.Errorf("the audit log lacks %q: %+v", want, audit)
		}
	}
}
