package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wisehosting/wisehosting/internal/workertest"
)

// TestDeployToRoutedBench (WH_BENCH_E2E=1, see docs/BENCHMARKS.md) times,
// in one run and interleaved, (a) what a person would do by hand: git
// clone, podman build, podman run, poll until the first 200; and
// (b) the platform: POST a deployment of a new app, poll its routed URL
// until the first 200 — clone, build, start, health wait, route.
func TestDeployToRoutedBench(t *testing.T) {
	if os.Getenv("WH_BENCH_E2E") != "1" {
		t.Skip("benchmark: set WH_BENCH_E2E=1")
	}
	rounds := 5
	if v, err := strconv.Atoi(os.Getenv("WH_BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	p := startPlatform(t)
	git := workertest.NewGitServer(t, gitToken)
	files := webApp("bench\n", "exec httpd -f -p 8080 -h /www")
	git.Commit(t, "v1", files)
	var raw, platform, redeploy []time.Duration
	for i := range rounds {
		// (a) by hand.
		tag := fmt.Sprintf("localhost/wh-bench-raw:%d", i)
		name := fmt.Sprintf("wh-bench-raw-%d", i)
		port := strings.TrimPrefix(workertest.FreeAddr(t), "127.0.0.1:")
		clone := filepath.Join(t.TempDir(), "clone")
		authURL := strings.Replace(git.URL, "http://", "http://x-access-token:"+gitToken+"@", 1)
		start := time.Now()
		mustRun(t, "git", "clone", "-q", "--depth", "50", "--branch", "main", authURL, clone)
		mustRun(t, "podman", "build", "-q", "--no-cache", "-t", tag, clone)
		mustRun(t, "podman", "run", "-d", "--name", name, "-p", "127.0.0.1:"+port+":8080", tag)
		waitOK(t, "http://127.0.0.1:"+port+"/", "")
		raw = append(raw, time.Since(start))
		_ = exec.Command("podman", "rm", "-f", "-t", "0", name).Run()
		_ = exec.Command("podman", "rmi", "-f", tag).Run()

		// (b) the platform, for a new app.
		app := randomName("bench-")
		workertest.CleanupApp(t, app)
		if code := p.call("POST", "/v1/apps", map[string]any{"name": app, "repo_url": git.URL, "branch": "main",
			"git_token": gitToken, "port": 8080}, nil); code != 201 {
			t.Fatalf("create app: %d", code)
		}
		start = time.Now()
		if code := p.call("POST", "/v1/apps/"+app+"/deployments", nil, nil); code != 201 {
			t.Fatalf("deploy: %d", code)
		}
		waitOK(t, "http://"+p.addr+"/", app+".localhost")
		platform = append(platform, time.Since(start))

		// (c) a redeploy of a new commit, until the new body answers
		// through the router (the old container is retired after that).
		body := fmt.Sprintf("bench v%d\n", i+2)
		git.Commit(t, "next", webApp(body, "exec httpd -f -p 8080 -h /www"))
		start = time.Now()
		if code := p.call("POST", "/v1/apps/"+app+"/deployments", nil, nil); code != 201 {
			t.Fatalf("redeploy: %d", code)
		}
		waitBody(t, "http://"+p.addr+"/", app+".localhost", body)
		redeploy = append(redeploy, time.Since(start))
		git.Commit(t, "back", files)
		p.call("DELETE", "/v1/apps/"+app, nil, nil)
		// The worker runs one job at a time: let the redeploy's retirement
		// of the old container and the delete finish before the next round.
		waitFor(t, time.Minute, "the app to be gone", func() bool {
			return workertest.Podman(t, "ps", "-a", "--filter", "label=wisehosting.app="+app, "--format", "{{.ID}}") == ""
		})
	}
	med := func(d []time.Duration) time.Duration {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[len(s)/2]
	}
	msg := fmt.Sprintf("deploy → first 200, %d rounds (median): podman build+run by hand %v, platform first deploy → first routed 200 %v (%.2f×), redeploy → new version routed %v (%.2f×)\n  by hand: %v\n  first deploy: %v\n  redeploy: %v",
		rounds, med(raw).Round(time.Millisecond), med(platform).Round(time.Millisecond),
		float64(med(platform))/float64(med(raw)), med(redeploy).Round(time.Millisecond),
		float64(med(redeploy))/float64(med(raw)), raw, platform, redeploy)
	t.Log(msg)
	fmt.Println(msg)
}

func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

func waitBody(t *testing.T, url, host, want string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if code, body, err := get(url, host, ""); err == nil && code == 200 && body == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s (Host %s) never answered %q", url, host, want)
}

func waitOK(t *testing.T, url, host string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if code, _, err := get(url, host, ""); err == nil && code == 200 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s (Host %s) never answered 200", url, host)
}
