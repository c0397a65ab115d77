// Package workertest provides what real-podman tests of the worker need:
// a check that podman is usable (forced on in CI), a locally built base
// image (no registry is reachable), a git server on loopback that
// requires a token, and a test containers.conf for this host's quirks.
package workertest

import (
	"bytes"
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// BaseImage is the busybox image tests build FROM. It is a cache: built
// once, kept between runs, rebuilt when missing.
const BaseImage = "localhost/wh-test-busybox:latest"

// TestLabel marks every container and image a test run creates.
const TestLabel = "wisehosting.test=1"

// RequirePodman skips the test when podman cannot be used here, unless
// WH_REQUIRE_PODMAN=1 or CI is set: then it fails, so CI never silently
// skips the real-podman tests.
func RequirePodman(t testing.TB) {
	t.Helper()
	why := ""
	switch {
	case os.Geteuid() != 0:
		why = "not running as root"
	default:
		if _, err := exec.LookPath("podman"); err != nil {
			why = "podman is not installed (apt-get install podman runc busybox-static)"
		} else if _, err := exec.LookPath("busybox"); err != nil {
			why = "busybox is not installed (apt-get install busybox-static)"
		}
	}
	if why == "" {
		return
	}
	if os.Getenv("WH_REQUIRE_PODMAN") == "1" || os.Getenv("CI") != "" {
		t.Fatalf("real-podman test cannot run: %s (WH_REQUIRE_PODMAN/CI forbid skipping)", why)
	}
	t.Skipf("real-podman test skipped: %s (set WH_REQUIRE_PODMAN=1 to make this a failure)", why)
}

var confOnce sync.Once

// UseTestContainersConf points podman at a containers.conf that works on
// these hosts (runc instead of crun on hybrid cgroups, ulimits the host can
// grant), leaving the machine's own configuration untouched.
func UseTestContainersConf(t testing.TB) {
	t.Helper()
	confOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wh-containers-conf")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "containers.conf")
		conf := "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]\n[engine]\nruntime = \"runc\"\n"
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Setenv("CONTAINERS_CONF", path)
	})
}

var imageMu sync.Mutex

// EnsureBaseImage imports a busybox root filesystem as BaseImage if it is
// not there yet.
func EnsureBaseImage(t testing.TB) {
	t.Helper()
	imageMu.Lock()
	defer imageMu.Unlock()
	if exec.Command("podman", "image", "exists", BaseImage).Run() == nil {
		return
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for _, d := range []string{"bin", "www", "tmp", "etc"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"sh", "httpd", "echo", "cat", "sleep", "yes", "head", "tail", "date", "ls", "env", "dd", "true", "false", "seq", "wc"} {
		os.Symlink("busybox", filepath.Join(root, "bin", c))
	}
	os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("root:x:0:0:root:/:/bin/sh\n"), 0o644)
	tar := exec.Command("tar", "-C", root, "-c", ".")
	imp := exec.Command("podman", "import", "--change", "ENV PATH=/bin", "-", BaseImage)
	pipe, err := tar.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	imp.Stdin = pipe
	var stderr bytes.Buffer
	imp.Stderr = &stderr
	if err := tar.Start(); err != nil {
		t.Fatal(err)
	}
	if err := imp.Run(); err != nil {
		t.Fatalf("podman import: %v: %s", err, stderr.String())
	}
	tar.Wait()
}

// Podman runs a podman command for a test and returns its trimmed output.
func Podman(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("podman", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("podman %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// CleanupApp removes every container and image of an app (by label) when
// the test ends, whatever the test did.
func CleanupApp(t testing.TB, app string) {
	t.Cleanup(func() {
		ids, _ := exec.Command("podman", "ps", "-aq", "--filter", "label=wisehosting.app="+app).Output()
		for _, id := range strings.Fields(string(ids)) {
			exec.Command("podman", "rm", "-f", "-t", "0", id).Run()
		}
		imgs, _ := exec.Command("podman", "images", "-q", "--filter", "label=wisehosting.app="+app).Output()
		for _, id := range strings.Fields(string(imgs)) {
			exec.Command("podman", "rmi", "-f", id).Run()
		}
	})
}

// GitServer serves one repository over smart HTTP on loopback, through
// git http-backend, and requires HTTP basic auth with Token as password.
type GitServer struct {
	URL     string // http://127.0.0.1:PORT/app.git
	Token   string
	work    string // a working clone used to make commits
	bare    string
	srv     *http.Server
	mu      sync.Mutex
	Fetches int // authenticated fetch requests served
	Denied  int // requests refused for missing or wrong credentials
}

// NewGitServer creates an empty repository (branch main) and serves it.
func NewGitServer(t testing.TB, token string) *GitServer {
	t.Helper()
	dir := t.TempDir()
	g := &GitServer{Token: token, bare: filepath.Join(dir, "app.git"), work: filepath.Join(dir, "work")}
	git(t, "", "init", "--bare", "-b", "main", g.bare)
	git(t, g.bare, "config", "http.receivepack", "false")
	git(t, "", "init", "-b", "main", g.work)
	git(t, g.work, "config", "user.email", "test@example.com")
	git(t, g.work, "config", "user.name", "test")
	backend := &cgi.Handler{
		Path: filepath.Join(gitExecPath(t), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + dir, "GIT_HTTP_EXPORT_ALL=1"},
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+token))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.URL = "http://" + ln.Addr().String() + "/app.git"
	g.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != want {
			g.mu.Lock()
			g.Denied++
			g.mu.Unlock()
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		g.mu.Lock()
		g.Fetches++
		g.mu.Unlock()
		backend.ServeHTTP(w, r)
	})}
	go g.srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		g.srv.Shutdown(ctx)
	})
	return g
}

// Deleted, as a file's content in Commit, removes the file.
const Deleted = "\x00deleted"

const symlinkMark = "\x00symlink:"

// Symlink, as a file's content in Commit, makes the file a symlink to
// target.
func Symlink(target string) string { return symlinkMark + target }

// Commit writes files into the repository's main branch and returns the
// new commit id (see Deleted and Symlink for the special contents).
func (g *GitServer) Commit(t testing.TB, msg string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(g.work, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		var err error
		switch {
		case content == Deleted:
			err = os.Remove(p)
		case strings.HasPrefix(content, symlinkMark):
			_ = os.Remove(p)
			err = os.Symlink(strings.TrimPrefix(content, symlinkMark), p)
		default:
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	git(t, g.work, "add", "-A")
	git(t, g.work, "commit", "-q", "-m", msg)
	git(t, g.work, "push", "-q", g.bare, "main")
	return strings.TrimSpace(git(t, g.work, "rev-parse", "HEAD"))
}

// Requests reports how many authenticated and refused requests were seen.
func (g *GitServer) Requests() (fetches, denied int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.Fetches, g.Denied
}

func git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	if dir != "" {
		cmd.Dir = dir
	}
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func gitExecPath(t testing.TB) string {
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// HTTPGet fetches a URL with a short timeout and returns status and body.
func HTTPGet(url string) (int, string, error) {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String(), nil
}
