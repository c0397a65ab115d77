// Package webe2e drives the dashboard end to end in a real headless
// Chromium: `wisehosting dev` as a separate process (control plane, local
// worker, real podman), a token-protected git repository on loopback, and
// web/e2e/run.mjs (playwright-core, Debian's chromium) clicking through
// sign-up, sign-in, create, deploy, build log, the running app, logs,
// metrics, settings, workers, account, team, webhooks, theme and sign-out.
//
// It needs root, podman, chromium, node and web/node_modules (make
// web-check installs them); it skips with the reason when one is missing,
// unless CI or WH_REQUIRE_BROWSER=1 is set: then it fails. `make test`
// runs it on its own through `make web-browser`.
package webe2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wisehosting/wisehosting/internal/workertest"
)

const (
	ownerEmail    = "owner@example.com"
	ownerPassword = "correct-horse-battery"
	gitToken      = "ghp_webE2eToken0123456789"
	marker        = "hello from the e2e app"
)

// requireBrowser skips (or, in CI, fails) when the browser side cannot run.
func requireBrowser(t *testing.T) (node, chromium, webDir string) {
	t.Helper()
	webDir, _ = filepath.Abs(filepath.Join("..", "..", "web"))
	chromium = os.Getenv("WH_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	why := ""
	if _, err := os.Stat(chromium); err != nil {
		why = chromium + " is missing (apt-get install chromium, or make web-check)"
	} else if n, err := exec.LookPath("node"); err != nil {
		why = "node is not installed"
	} else if _, err := os.Stat(filepath.Join(webDir, "node_modules", "playwright-core")); err != nil {
		why = "web/node_modules is missing (run make web-check, or npm ci in web/)"
	} else {
		node = n
	}
	if why == "" {
		return node, chromium, webDir
	}
	if os.Getenv("CI") != "" || os.Getenv("WH_REQUIRE_BROWSER") == "1" {
		t.Fatalf("browser end-to-end test cannot run: %s (CI/WH_REQUIRE_BROWSER forbid skipping)", why)
	}
	t.Skipf("browser end-to-end test skipped: %s (set WH_REQUIRE_BROWSER=1 to make this a failure)", why)
	return "", "", ""
}

// startPlatform builds and starts `wisehosting dev` and waits until the
// API answers and its local worker is online.
func startPlatform(t *testing.T) (addr string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "wisehosting")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/wisehosting/wisehosting/cmd/wisehosting").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v: %s", err, out)
	}
	addr = workertest.FreeAddr(t)
	out := &workertest.SyncBuffer{}
	cmd := exec.Command(bin, "dev", "--listen", addr, "--data-dir", t.TempDir())
	// No internal admin listener: its default port would collide with
	// other platforms the tests run at the same time.
	cmd.Env = append(os.Environ(), "WH_OWNER_EMAIL="+ownerEmail, "WH_OWNER_PASSWORD="+ownerPassword, "WH_INTERNAL_LISTEN=off")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("platform output:\n%s", workertest.Tail(out.String(), 8000))
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(90 * time.Second)
	token := ""
	for time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		if token == "" {
			var s struct{ Token string }
			if call("POST", base+"/v1/auth/login", "", map[string]string{"email": ownerEmail, "password": ownerPassword}, &s) == 200 {
				token = s.Token
			}
			continue
		}
		var ws []struct{ Status string }
		if call("GET", base+"/v1/workers", token, nil, &ws) == 200 && len(ws) > 0 && ws[0].Status == "online" {
			// The browser signs in itself; this session is not needed.
			call("POST", base+"/v1/auth/logout", token, nil, nil)
			return addr
		}
	}
	t.Fatalf("the platform did not become ready:\n%s", workertest.Tail(out.String(), 4000))
	return ""
}

func call(method, url, token string, body, out any) int {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, r)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		_ = json.Unmarshal(b, out)
	}
	return resp.StatusCode
}

func TestDashboardInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("browser end-to-end test skipped in -short mode")
	}
	if os.Getenv("WH_WEB_E2E_DONE") == "1" {
		// make test runs it first, alone (make web-browser), so that its
		// platform, browser and builds do not compete for the CPU with the
		// other end-to-end tests that go test ./... runs in parallel.
		t.Skip("browser end-to-end test already run by make web-browser earlier in this make test")
	}
	node, chromium, webDir := requireBrowser(t)
	workertest.RequirePodman(t)
	workertest.UseTestContainersConf(t)
	workertest.EnsureBaseImage(t)

	// The app: a static page, and a line on stdout every two seconds so
	// the runtime log has something arriving while the browser watches.
	git := workertest.NewGitServer(t, gitToken)
	start := `echo "` + marker + ` is starting"; (i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 2; done) & exec httpd -f -p 8080 -h /www`
	git.Commit(t, "the e2e app", map[string]string{
		"index.html": "<!doctype html><title>e2e</title><h1>" + marker + "</h1>\n",
		"Dockerfile": fmt.Sprintf("FROM %s\nRUN for i in 1 2 3 4 5 6 7 8; do echo \"build step $i\"; sleep 1; done\n"+
			"COPY index.html /www/index.html\nCMD [\"sh\", \"-c\", %q]\n", workertest.BaseImage, start),
	})
	app := fmt.Sprintf("web%d", time.Now().UnixNano()%1_000_000)
	workertest.CleanupApp(t, app)

	addr := startPlatform(t)
	_, port, _ := net.SplitHostPort(addr)
	shots := os.Getenv("WH_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(webDir, "e2e", "screenshots")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(webDir, "e2e", "run.mjs"))
	cmd.Dir = webDir
	cmd.Env = append(os.Environ(),
		// localhost, as `make run` prints it: the same origin the session
		// cookie is set for, and <app>.localhost resolves in Chromium.
		"WH_URL=http://localhost:"+port,
		"WH_OWNER_EMAIL="+ownerEmail, "WH_OWNER_PASSWORD="+ownerPassword,
		"WH_REPO_URL="+git.URL, "WH_GIT_TOKEN="+gitToken,
		"WH_APP="+app, "WH_APP_MARKER="+marker,
		"WH_SCREENSHOTS="+shots, "WH_CHROMIUM="+chromium,
	)
	var out workertest.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("run.mjs:\n%s", out.String())
	if err != nil {
		t.Fatalf("the browser run failed (%v); screenshots, including failure.png, are in %s", err, shots)
	}
	if !strings.Contains(out.String(), "passed;") {
		t.Fatal("run.mjs exited 0 without reporting success")
	}
	entries, _ := os.ReadDir(shots)
	if len(entries) < 40 {
		t.Errorf("only %d screenshots in %s", len(entries), shots)
	}
}
