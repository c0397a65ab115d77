package worker_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wisehosting/wisehosting/internal/servertest"
	"github.com/wisehosting/wisehosting/internal/workertest"
)

// TestDeployOverhead is a benchmark, not a test: it measures API call →
// image built → container running → first HTTP 200 through the platform,
// against the same git clone + podman build + podman run + first 200 done
// directly, in the same run. Run it with:
//
//	WH_BENCH_DEPLOY=1 go test -run TestDeployOverhead -v -count=1 ./internal/worker/
func TestDeployOverhead(t *testing.T) {
	if os.Getenv("WH_BENCH_DEPLOY") != "1" {
		t.Skip("benchmark: set WH_BENCH_DEPLOY=1")
	}
	const rounds = 5
	e := startEnv(t)
	e.git.Commit(t, "v1", webApp("bench\n", "exec httpd -f -p 8080 -h /www"))
	e.createApp(t, "bench", nil)

	var platform, direct []time.Duration
	for i := range rounds {
		// Direct: what a person would type, timed end to end.
		dir := t.TempDir()
		start := time.Now()
		run := func(args ...string) {
			if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
			}
		}
		authed := strings.Replace(e.git.URL, "http://", "http://x-access-token:"+gitToken+"@", 1)
		run("git", "clone", "-q", "--depth", "50", "--single-branch", "--branch", "main", "--", authed, filepath.Join(dir, "src"))
		tag := fmt.Sprintf("localhost/wh-direct-bench:%d", i)
		run("podman", "build", "-q", "--no-cache", "--label", workertest.TestLabel, "-t", tag, filepath.Join(dir, "src"))
		port := 20900 + i
		name := fmt.Sprintf("wh-direct-bench-%d", i)
		run("podman", "run", "-d", "--name", name, "--label", workertest.TestLabel, "-p", fmt.Sprintf("127.0.0.1:%d:8080", port), "--memory", "64m", tag)
		waitHTTP(t, port)
		direct = append(direct, time.Since(start))
		exec.Command("podman", "rm", "-f", "-t", "0", name).Run()
		exec.Command("podman", "rmi", "-f", tag).Run()

		// Platform: the API call to the first 200 on the app's port.
		start = time.Now()
		r := e.srv.Do("POST", "/v1/apps/bench/deployments", e.owner, nil)
		if r.Status != http.StatusCreated {
			t.Fatalf("deploy: %d %s", r.Status, r.Body)
		}
		var dep struct{ ID, Status string }
		r.JSON(t, &dep)
		servertest.Eventually(t, 120*time.Second, "deployment running", func() bool {
			e.srv.Do("GET", "/v1/deployments/"+dep.ID, e.owner, nil).JSON(t, &dep)
			if dep.Status == "failed" {
				t.Fatalf("deployment failed")
			}
			return dep.Status == "running"
		})
		waitHTTP(t, e.app(t, "bench").HostPort)
		platform = append(platform, time.Since(start))
	}
	p, d := median(platform), median(direct)
	t.Logf("deploy to first 200, median of %d: platform %v, direct %v, ratio %.2f×, overhead %v",
		rounds, p.Round(time.Millisecond), d.Round(time.Millisecond), float64(p)/float64(d), (p - d).Round(time.Millisecond))
	t.Logf("platform runs: %v", platform)
	t.Logf("direct runs:   %v", direct)
}

func waitHTTP(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if code, _, err := workertest.HTTPGet(fmt.Sprintf("http://127.0.0.1:%d/", port)); err == nil && code == 200 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("port %d never answered 200", port)
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
