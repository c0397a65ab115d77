package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wisehosting/wisehosting/internal/models"
	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// ---- helpers ----

// newTestAgent is an agent on a fake runner, not connected (emit fails,
// which the pipeline tolerates).
func newTestAgent(t *testing.T, r Runner) *Agent {
	t.Helper()
	// Nothing listens on the fake containers' ports: the wait for a TCP
	// connect is cut short (it only notes it in the log), as is the drain.
	cfg := Config{DataDir: t.TempDir(), Runner: r, PortLo: 21000, PortHi: 21010,
		HealthTimeout: 50 * time.Millisecond, DrainDelay: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	cfg.Defaults()
	ctx, cancel := context.WithCancel(context.Background())
	a := &Agent{cfg: cfg, log: cfg.Logger, run: r, ctx: ctx}
	t.Cleanup(func() {
		cancel()
		a.wg.Wait() // pruning goroutines
	})
	return a
}

// scriptRunner answers git commands from a script (the clone writes files
// into its target folder) and everything else from the fake's canned
// replies; the fake records every call either way.
type scriptRunner struct {
	*fakeRunner
	git func(sub string, argv []string) (string, error)
}

func (s *scriptRunner) record(argv []string) {
	s.mu.Lock()
	s.calls = append(s.calls, append([]string(nil), argv...))
	s.mu.Unlock()
}

func (s *scriptRunner) Run(ctx context.Context, argv ...string) ([]byte, error) {
	if sub := gitSubcommand(argv); sub != "" && s.git != nil {
		s.record(argv)
		out, err := s.git(sub, argv)
		return []byte(out), err
	}
	return s.fakeRunner.Run(ctx, argv...)
}

func (s *scriptRunner) Stream(ctx context.Context, w io.Writer, argv ...string) error {
	if sub := gitSubcommand(argv); sub != "" && s.git != nil {
		s.record(argv)
		out, err := s.git(sub, argv)
		io.WriteString(w, out)
		return err
	}
	return s.fakeRunner.Stream(ctx, w, argv...)
}

// gitSubcommand is "clone", "rev-parse"… for a git argv, else "".
func gitSubcommand(argv []string) string {
	i := slices.Index(argv, "git")
	if i < 0 {
		return ""
	}
	for j := i + 1; j < len(argv); j++ {
		switch argv[j] {
		case "-c", "-C":
			j++
		default:
			return argv[j]
		}
	}
	return ""
}

const (
	testCommit = "0123456789abcdef0123456789abcdef01234567"
	testImage  = "1111111111111111111111111111111111111111111111111111111111111111"
	oldImage   = "2222222222222222222222222222222222222222222222222222222222222222"
	olderImage = "3333333333333333333333333333333333333333333333333333333333333333"
	oldestImg  = "4444444444444444444444444444444444444444444444444444444444444444"
	testCID    = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
	testToken  = "ghp_S3cr3t+/token=="
)

func testPayload() *models.DeployPayload {
	return &models.DeployPayload{
		AppID: "app_1", AppName: "web", RepoURL: "https://git.example.com/o/web.git", Branch: "main",
		GitToken: testToken, Port: 8080,
		Env:    map[string]string{"B_VAR": "x y; $(id) `id` \"q\"\nline2", "A_VAR": "-e FOO=bar"},
		Limits: models.Limits{MemoryBytes: 64 << 20, CPUMillis: 500, PIDs: 100},
	}
}

// happyRunner plays a whole successful deploy of testPayload.
func happyRunner(t *testing.T, files map[string]string) *scriptRunner {
	t.Helper()
	f := newFakeRunner()
	f.on("podman network exists -- wisehosting-build", "", nil)
	f.on("podman build", "STEP 1/2: FROM localhost/base:latest\nCOMMIT localhost/wh-web:dep_1\n", nil)
	f.on("podman image inspect", testImage+"|web|"+testCommit+"\n", nil)
	f.on("podman rm -f -v -- ", "", nil)
	f.on("podman stop -t 10 -- old", "old\n", nil)
	f.on("podman rename -- ", "", nil)
	f.on("ss -tlnH", "LISTEN 0 4096 127.0.0.1:21001 0.0.0.0:*\n", nil)
	f.on("podman ps -a --format json", `[{"Id":"o1","Names":["other"],"Labels":{"wisehosting.host_port":"21002"},"Ports":[{"host_port":21003,"range":1}]},
		{"Id":"old","Names":["wh-web"],"ImageID":"`+oldImage+`","State":"running","Labels":{"wisehosting.host_port":"21005","wisehosting.deployment":"dep_0"},
		 "Ports":[{"host_port":21005,"range":1}]}]`, nil)
	f.on("podman run -d", "Trying to pull...\n"+testCID+"\n", nil)
	f.on("podman inspect --format {{.State.Running}}|{{.State.Status}} -- "+testCID, "true|running\n", nil)
	f.on("podman images --filter label=wisehosting.app=web --format json", fmt.Sprintf(
		`[{"Id":"%s","Names":["localhost/wh-web:dep_1"],"Created":40},{"Id":"%s","Created":30},{"Id":"%s","Created":20},{"Id":"%s","Created":10}]`,
		testImage, oldImage, olderImage, oldestImg), nil)
	f.on("podman rmi --", "", nil)
	return &scriptRunner{fakeRunner: f, git: func(sub string, argv []string) (string, error) {
		switch sub {
		case "clone":
			dir := argv[len(argv)-1]
			for name, body := range files {
				p := filepath.Join(dir, name)
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
					t.Error(err)
				}
			}
			os.MkdirAll(filepath.Join(dir, ".git"), 0o755)
			return "Cloning into '" + dir + "'...\n", nil
		case "rev-parse":
			return testCommit + "\n", nil
		case "ls-tree":
			return "100644 blob aaaa      120\tDockerfile\n", nil
		}
		return "", nil
	}}
}

func commandsMatching(cmds []string, prefix string) []string {
	var out []string
	for _, c := range cmds {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

func callWith(f *fakeRunner, first, second string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		if len(c) > 1 && c[0] == first && c[1] == second {
			return c
		}
	}
	return nil
}

// ---- the pipeline ----

func TestDeployPipeline(t *testing.T) {
	r := happyRunner(t, map[string]string{"Dockerfile": "FROM localhost/base:latest\n"})
	// podman build writes the image id (--iidfile): no inspect needed.
	cr := &countingRunner{scriptRunner: r, hook: func(argv []string) (string, error, bool) {
		if i := slices.Index(argv, "--iidfile"); i > 0 && argv[1] == "build" {
			os.WriteFile(argv[i+1], []byte("sha256:"+testImage), 0o600)
		}
		return "", nil, false
	}}
	a := newTestAgent(t, cr)
	a.runtime = "runc"
	res := a.executeDeploy("job_1", "dep_1", testPayload())
	if !res.Success {
		t.Fatalf("deploy failed: %s", res.Message)
	}
	a.wg.Wait() // pruning runs after the result
	if got := commandsMatching(r.commands(), "podman image inspect --format {{.Id}}"); len(got) != 0 {
		t.Errorf("inspected the image although podman wrote its id: %q", got)
	}
	// A new host port: not the old container's (21005), nor one in use.
	if res.ContainerID != testCID || res.ImageID != testImage || res.Commit != testCommit || res.Message != "" ||
		res.HostPort < 21000 || res.HostPort > 21010 || slices.Contains([]int{21001, 21002, 21003, 21005}, res.HostPort) {
		t.Fatalf("result = %+v", res)
	}
	cmds := r.commands()
	// The order of the steps.
	var order []string
	for _, c := range cmds {
		switch {
		case strings.Contains(c, " clone "):
			order = append(order, "clone")
		case strings.HasPrefix(c, "podman build"):
			order = append(order, "build")
		case strings.HasPrefix(c, "podman rm "):
			order = append(order, "rm")
		case strings.HasPrefix(c, "ss "):
			order = append(order, "ss")
		case strings.HasPrefix(c, "podman run"):
			order = append(order, "run")
		case strings.HasPrefix(c, "podman stop"):
			order = append(order, "stop")
		case strings.HasPrefix(c, "podman rename"):
			order = append(order, "rename")
		case strings.HasPrefix(c, "podman rmi"):
			order = append(order, "rmi")
		}
	}
	// The new version starts beside the old one, which is stopped and
	// removed only then; the new one takes the app's name last.
	if want := []string{"clone", "build", "ss", "run", "stop", "rm", "rename", "rmi", "rmi"}; !slices.Equal(order, want) {
		t.Fatalf("steps = %v, want %v\n%s", order, want, strings.Join(cmds, "\n"))
	}
	// The token is on no command line (any local user can read those):
	// the clone gets it from a private git config file.
	for _, c := range cmds {
		if strings.Contains(string(scrubToken([]byte(c), testToken)), "***") {
			t.Fatalf("token on a command line: %s", c)
		}
	}
	if got := commandsMatching(cmds, "env GIT_TERMINAL_PROMPT=0"); len(got) == 0 ||
		!strings.Contains(got[0], "/git-auth.conf GIT_ASKPASS") ||
		!strings.Contains(got[0], " -- https://git.example.com/o/web.git ") {
		t.Fatalf("the clone does not take the token from its config file:\n%s", strings.Join(got, "\n"))
	}

	build := callWith(r.fakeRunner, "podman", "build")
	for _, want := range [][]string{
		{"--runtime", "runc"}, {"--network=wisehosting-build"}, {"--no-cache"}, {"--label", "wisehosting.managed=true"},
		{"--label", "wisehosting.app=web"}, {"--label", "wisehosting.commit=" + testCommit}, {"-t", "localhost/wh-web:dep_1"},
		{"--ulimit", "nofile=1024:1024"}, {"--memory", "2147483648"}, {"--memory-swap", "2147483648"}, {"--cpu-shares", "512"},
	} {
		if !containsSeq(build, want) {
			t.Errorf("build argv lacks %q: %q", want, build)
		}
	}
	if build[len(build)-2] != "--" || !strings.HasSuffix(build[len(build)-1], "/repo") {
		t.Errorf("build argv must end with -- <context>: %q", build)
	}

	run := callWith(r.fakeRunner, "podman", "run")
	for _, want := range [][]string{
		{"--name", "wh-web_next"}, {"--label", "wisehosting.managed=true"}, {"--label", "wisehosting.app_id=app_1"},
		{"--label", "wisehosting.app=web"}, {"--label", "wisehosting.deployment=dep_1"}, {"--label", fmt.Sprintf("wisehosting.host_port=%d", res.HostPort)},
		{"-p", fmt.Sprintf("127.0.0.1:%d:8080", res.HostPort)}, {"--memory", "67108864"}, {"--memory-swap", "67108864"}, {"--cpus", "0.5"},
		{"--pids-limit", "100"}, {"--cap-drop=ALL"}, {"--security-opt", "no-new-privileges"},
		{"--ulimit", "nofile=1024:1024"}, {"--ulimit", "nproc=4096:4096"}, {"--runtime", "runc"}, {"--restart=no"},
		{"-e", "B_VAR=x y; $(id) `id` \"q\"\nline2"}, {"-e", "PORT=8080"},
		{"--", testImage},
	} {
		if !containsSeq(run, want) {
			t.Errorf("run argv lacks %q:\n%q", want, run)
		}
	}
	// A single-line value travels in the env file, not on the command
	// line; the file is gone once podman has read it.
	if i := slices.Index(run, "--env-file"); i < 0 || strings.Contains(strings.Join(run, " "), "A_VAR") {
		t.Errorf("A_VAR not through the env file: %q", run)
	} else if _, err := os.Stat(run[i+1]); !os.IsNotExist(err) {
		t.Errorf("env file %s left behind: %v", run[i+1], err)
	}
	if slices.Contains(run, "--storage-opt") {
		t.Errorf("--storage-opt without disk quota support: %q", run)
	}
	if slices.Contains(run, "--init") != hasContainerInit() {
		t.Errorf("--init when catatonit is installed (%v): %q", hasContainerInit(), run)
	}
	if slices.Contains(run, "--cap-add=NET_BIND_SERVICE") {
		t.Errorf("NET_BIND_SERVICE for port 8080: %q", run)
	}
	if run[len(run)-1] != testImage || run[len(run)-2] != "--" {
		t.Errorf("run must end with -- <bare image id>: %q", run)
	}
	// Keeps the running image and the previous container's image.
	rmis := commandsMatching(cmds, "podman rmi")
	if want := []string{"podman rmi -- " + olderImage, "podman rmi -- " + oldestImg}; !slices.Equal(rmis, want) {
		t.Errorf("pruned %q, want %q", rmis, want)
	}
	// The temporary folder is gone.
	if entries, _ := os.ReadDir(a.cfg.DataDir); len(entries) != 0 {
		t.Errorf("data dir keeps %d entries after the deploy", len(entries))
	}
}

func containsSeq(argv, seq []string) bool {
	for i := 0; i+len(seq) <= len(argv); i++ {
		if slices.Equal(argv[i:i+len(seq)], seq) {
			return true
		}
	}
	return false
}

func TestRunArgv(t *testing.T) {
	a := newTestAgent(t, newFakeRunner())
	p := testPayload()
	p.Port = 80
	p.Limits = models.Limits{DiskBytes: 1 << 30}
	argv, _, err := a.runArgv(p, ContainerName(p.AppName), "dep_1", testImage, 21001, "/run/env")
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(argv, "--storage-opt") {
		t.Fatalf("storage-opt without quota support: %q", argv)
	}
	for _, want := range [][]string{{"--memory", "536870912"}, {"--cpus", "1"}, {"--pids-limit", "512"}, {"--cap-add=NET_BIND_SERVICE"}, {"--log-opt", "max-size=16777216"}} {
		if !containsSeq(argv, want) {
			t.Errorf("argv lacks %q: %q", want, argv)
		}
	}
	if slices.Contains(argv, "--runtime") {
		t.Errorf("--runtime without a runtime: %q", argv)
	}
	oldInit := initPath
	t.Cleanup(func() { initPath = oldInit })
	initPath = filepath.Join(t.TempDir(), "missing")
	if argv, _, _ := a.runArgv(p, ContainerName(p.AppName), "dep_1", testImage, 21001, "/run/env"); slices.Contains(argv, "--init") {
		t.Errorf("--init without an init binary: %q", argv)
	}
	initPath = os.Args[0] // any file that exists
	if argv, _, _ := a.runArgv(p, ContainerName(p.AppName), "dep_1", testImage, 21001, "/run/env"); !slices.Contains(argv, "--init") {
		t.Errorf("no --init with an init binary: %q", argv)
	}
	a.diskQuota = true
	a.runtime = "crun"
	a.cfg.Address = "10.8.0.2"
	argv, _, _ = a.runArgv(p, ContainerName(p.AppName), "dep_1", testImage, 21001, "/run/env")
	for _, want := range [][]string{{"--storage-opt", "size=1073741824"}, {"--runtime", "crun"}, {"-p", "10.8.0.2:21001:80"}} {
		if !containsSeq(argv, want) {
			t.Errorf("argv lacks %q: %q", want, argv)
		}
	}
	// A user PORT never overrides the app's port; each env is one element.
	p.Env = map[string]string{"PORT": "1", "X": "a b\nc"}
	argv, _, _ = a.runArgv(p, ContainerName(p.AppName), "", testImage, 21001, "/run/env")
	if containsSeq(argv, []string{"-e", "PORT=1"}) || !containsSeq(argv, []string{"-e", "X=a b\nc"}) {
		t.Errorf("env argv: %q", argv)
	}
	a.cfg.Address = "fd00::1"
	argv, _, _ = a.runArgv(p, ContainerName(p.AppName), "", testImage, 21001, "/run/env")
	if !containsSeq(argv, []string{"-p", "[fd00::1]:21001:80"}) {
		t.Errorf("IPv6 publish: %q", argv)
	}
	a.cfg.Address = "worker.example.com"
	argv, _, _ = a.runArgv(p, ContainerName(p.AppName), "", testImage, 21001, "/run/env")
	if !containsSeq(argv, []string{"-p", "127.0.0.1:21001:80"}) {
		t.Errorf("host name address must publish on loopback: %q", argv)
	}
	for _, bad := range []struct{ name, image string }{{"x;id", testImage}, {"web", "localhost/x:1"}, {"web", "-x"}} {
		q := testPayload()
		q.AppName = bad.name
		if _, _, err := a.runArgv(q, ContainerName(q.AppName), "", bad.image, 21001, "/run/env"); err == nil {
			t.Errorf("runArgv(%q, %q) accepted", bad.name, bad.image)
		}
	}
}

func TestHostileInputsRefused(t *testing.T) {
	cases := map[string]func(p *models.DeployPayload){
		"app name x;id":        func(p *models.DeployPayload) { p.AppName = "x;id" },
		"app name ../x":        func(p *models.DeployPayload) { p.AppName = "../x" },
		"app name -rf":         func(p *models.DeployPayload) { p.AppName = "-rf" },
		"url -option":          func(p *models.DeployPayload) { p.RepoURL = "-uhttps://x/y" },
		"url --upload-pack":    func(p *models.DeployPayload) { p.RepoURL = "--upload-pack=id" },
		"url ext::":            func(p *models.DeployPayload) { p.RepoURL = "ext::sh -c id" },
		"url file://":          func(p *models.DeployPayload) { p.RepoURL = "file:///etc" },
		"url local path":       func(p *models.DeployPayload) { p.RepoURL = "/etc" },
		"url relative path":    func(p *models.DeployPayload) { p.RepoURL = "../repo" },
		"url ssh -o":           func(p *models.DeployPayload) { p.RepoURL = "ssh://-oProxyCommand=id/x" },
		"url with credentials": func(p *models.DeployPayload) { p.RepoURL = "https://u:p@git.example.com/x" },
		"url http public":      func(p *models.DeployPayload) { p.RepoURL = "http://git.example.com/x" },
		"branch -option":       func(p *models.DeployPayload) { p.Branch = "--upload-pack=id" },
		"branch a..b":          func(p *models.DeployPayload) { p.Branch = "a..b" },
		"branch with space":    func(p *models.DeployPayload) { p.Branch = "a b" },
		"branch ending .lock":  func(p *models.DeployPayload) { p.Branch = "x.lock" },
		"branch @{":            func(p *models.DeployPayload) { p.Branch = "a@{1}" },
		"branch ~^:":           func(p *models.DeployPayload) { p.Branch = "a~1" },
		"commit -x":            func(p *models.DeployPayload) { p.Commit = "-x" },
		"commit HEAD~1":        func(p *models.DeployPayload) { p.Commit = "HEAD~1" },
		"dockerfile ../x":      func(p *models.DeployPayload) { p.DockerfilePath = "../Dockerfile" },
		"dockerfile absolute":  func(p *models.DeployPayload) { p.DockerfilePath = "/etc/passwd" },
		"env name":             func(p *models.DeployPayload) { p.Env = map[string]string{"A;B": "x"} },
		"env NUL":              func(p *models.DeployPayload) { p.Env = map[string]string{"A": "x\x00y"} },
		"image id":             func(p *models.DeployPayload) { p.ImageID = "localhost/other:latest" },
		"port":                 func(p *models.DeployPayload) { p.Port = 0 },
		"app id":               func(p *models.DeployPayload) { p.AppID = "a b" },
		"limits":               func(p *models.DeployPayload) { p.Limits.MemoryBytes = 1 },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			for _, job := range []string{"deploy", "restart"} {
				f := newFakeRunner()
				a := newTestAgent(t, f)
				p := testPayload()
				mutate(p)
				var res wsproto.JobResultPayload
				if job == "deploy" {
					res = a.executeDeploy("job_1", "dep_1", p)
				} else {
					res = a.executeRestart("job_1", "dep_1", p)
				}
				if res.Success || !strings.HasPrefix(res.Message, "refused: ") {
					t.Fatalf("%s: not refused: %+v", job, res)
				}
				if cmds := f.commands(); len(cmds) != 0 {
					t.Fatalf("%s: commands ran before the refusal: %q", job, cmds)
				}
				if strings.Contains(res.Message, testToken) {
					t.Fatalf("%s: token in message", job)
				}
			}
		})
	}
	t.Run("deployment id", func(t *testing.T) {
		f := newFakeRunner()
		a := newTestAgent(t, f)
		if res := a.executeDeploy("job_1", "dep 1;id", testPayload()); res.Success || len(f.commands()) != 0 {
			t.Fatalf("bad deployment id: %+v %q", res, f.commands())
		}
	})
	for _, name := range []string{"x;id", "../x", "-rf", ""} {
		f := newFakeRunner()
		a := newTestAgent(t, f)
		p := &models.DeployPayload{AppName: name}
		if res := a.executeStop("j", p); res.Success {
			t.Errorf("stop %q accepted", name)
		}
		if res := a.executeDelete("j", p); res.Success {
			t.Errorf("delete %q accepted", name)
		}
		if len(f.commands()) != 0 {
			t.Errorf("commands ran for app %q: %q", name, f.commands())
		}
	}
	a := newTestAgent(t, newFakeRunner())
	if res := a.executeDeploy("j", "d", nil); res.Success {
		t.Error("nil payload accepted")
	}
}

func TestDeployGeneratesDockerfile(t *testing.T) {
	r := happyRunner(t, map[string]string{"index.html": "<h1>hi</h1>\n"})
	var dockerfile, text string
	var gitLeft bool
	cr := &countingRunner{scriptRunner: r, hook: func(argv []string) (string, error, bool) {
		if len(argv) > 1 && argv[0] == "podman" && argv[1] == "build" {
			dockerfile = argv[slices.Index(argv, "-f")+1]
			b, _ := os.ReadFile(dockerfile)
			text = string(b)
			_, err := os.Stat(filepath.Join(argv[len(argv)-1], ".git"))
			gitLeft = err == nil
		}
		return "", nil, false
	}}
	a := newTestAgent(t, cr)
	a.cfg.BaseImages["static"] = "localhost/busybox:latest"
	res := a.executeDeploy("job_1", "dep_1", testPayload())
	if !res.Success {
		t.Fatalf("deploy failed: %s", res.Message)
	}
	if !strings.HasSuffix(dockerfile, "Dockerfile.wisehosting") || strings.Contains(dockerfile, "/repo/") {
		t.Fatalf("generated Dockerfile %q must sit outside the build context", dockerfile)
	}
	if !strings.Contains(text, "FROM localhost/busybox:latest\n") || !strings.Contains(text, "EXPOSE 8080\n") {
		t.Fatalf("generated Dockerfile:\n%s", text)
	}
	if gitLeft {
		t.Fatal(".git left in a generated build's context")
	}
}

func TestDeploySymlinkedDockerfileRefused(t *testing.T) {
	r := happyRunner(t, map[string]string{"index.html": "x"})
	inner := r.git
	r.git = func(sub string, argv []string) (string, error) {
		out, err := inner(sub, argv)
		if sub == "clone" {
			os.Symlink("/etc/passwd", filepath.Join(argv[len(argv)-1], "Dockerfile"))
		}
		return out, err
	}
	a := newTestAgent(t, r)
	res := a.executeDeploy("job_1", "dep_1", testPayload())
	if res.Success || !strings.Contains(res.Message, "symlink") {
		t.Fatalf("symlinked Dockerfile: %+v", res)
	}
	if len(commandsMatching(r.commands(), "podman build")) != 0 {
		t.Fatal("built with a symlinked Dockerfile")
	}
}

func TestDeployFailureIsScrubbed(t *testing.T) {
	leak := func(s string) string {
		return fmt.Sprintf("fatal: unable to access 'https://x-access-token:%s@git.example.com/o/web.git/': %s", s, s)
	}
	forms := tokenForms(testToken)
	t.Run("clone error", func(t *testing.T) {
		r := happyRunner(t, nil)
		r.git = func(sub string, argv []string) (string, error) {
			if sub == "clone" {
				msg := leak(testToken) + "\n" + strings.Join(forms, " ")
				return msg + "\n", &CommandError{Argv: argv, ExitCode: 128, Stderr: msg, Err: errors.New("exit status 128")}
			}
			return "", nil
		}
		a := newTestAgent(t, r)
		res := a.executeDeploy("job_1", "dep_1", testPayload())
		if res.Success {
			t.Fatal("clone failure reported success")
		}
		for _, f := range forms {
			if strings.Contains(res.Message, f) {
				t.Fatalf("message holds the token form %q: %s", f, res.Message)
			}
		}
		if !strings.Contains(res.Message, "git clone") || !strings.Contains(res.Message, "***") {
			t.Fatalf("message: %s", res.Message)
		}
	})
	t.Run("build error", func(t *testing.T) {
		r := happyRunner(t, map[string]string{"Dockerfile": "FROM x\n"})
		r.on("podman build", "STEP 1/2: FROM localhost/x\nRUN echo "+testToken+"\nError: building at STEP: exit status 1\n",
			&CommandError{Argv: []string{"podman", "build"}, ExitCode: 1, Stderr: testToken})
		a := newTestAgent(t, r)
		res := a.executeDeploy("job_1", "dep_1", testPayload())
		if res.Success || strings.Contains(res.Message, testToken) {
			t.Fatalf("build failure: %+v", res)
		}
		if !strings.Contains(res.Message, "podman build exited with 1") || !strings.Contains(res.Message, "Error: building at STEP") ||
			!strings.Contains(res.Message, "RUN echo ***") || strings.Contains(res.Message, "localhost/") {
			t.Fatalf("message lacks the log tail: %s", res.Message)
		}
		if len(commandsMatching(r.commands(), "podman run")) != 0 {
			t.Fatal("ran after a failed build")
		}
	})
}

func TestDeployRollback(t *testing.T) {
	r := happyRunner(t, nil)
	r.on("podman image inspect", oldImage+"|web|"+testCommit+"\n", nil)
	a := newTestAgent(t, r)
	p := testPayload()
	p.ImageID = "sha256:" + oldImage
	res := a.executeDeploy("job_2", "dep_2", p)
	if !res.Success || res.ImageID != oldImage || res.Commit != testCommit {
		t.Fatalf("rollback: %+v", res)
	}
	for _, c := range r.commands() {
		if strings.Contains(c, " git ") || strings.HasPrefix(c, "podman build") {
			t.Fatalf("rollback cloned or built: %s", c)
		}
	}
	if run := callWith(r.fakeRunner, "podman", "run"); run[len(run)-1] != oldImage {
		t.Fatalf("rollback ran %q", run[len(run)-1])
	}

	// Another app's image is refused, a missing one is explained.
	r.on("podman image inspect", oldImage+"|other|\n", nil)
	if res := a.executeDeploy("job_3", "dep_3", p); res.Success || !strings.Contains(res.Message, "does not belong") {
		t.Fatalf("another app's image: %+v", res)
	}
	r.on("podman image inspect", "", &CommandError{ExitCode: 125, Stderr: "Error: " + oldImage + ": image not known"})
	if res := a.executeDeploy("job_4", "dep_4", p); res.Success || !strings.Contains(res.Message, "no longer on this worker") {
		t.Fatalf("missing image: %+v", res)
	}
}

func TestDeployContainerExits(t *testing.T) {
	r := happyRunner(t, map[string]string{"Dockerfile": "FROM x\n"})
	r.on("podman inspect --format {{.State.Running}}|{{.State.Status}} -- "+testCID, "false|exited\n", nil)
	r.on("podman logs --tail 30 -- "+testCID, "panic: no config\n", nil)
	a := newTestAgent(t, r)
	start := time.Now()
	res := a.executeDeploy("job_1", "dep_1", testPayload())
	if res.Success || !strings.Contains(res.Message, "panic: no config") {
		t.Fatalf("exited container: %+v", res)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("waited for the timeout although the container had exited")
	}
	if len(commandsMatching(r.commands(), "podman rmi")) != 0 {
		t.Fatal("pruned images after a failed start")
	}
}

func TestDeployPortConflictRetries(t *testing.T) {
	r := happyRunner(t, map[string]string{"Dockerfile": "FROM x\n"})
	var runs int
	r2 := &countingRunner{scriptRunner: r, hook: func(argv []string) (string, error, bool) {
		if len(argv) > 1 && argv[0] == "podman" && argv[1] == "run" {
			runs++
			if runs == 1 {
				return "", &CommandError{ExitCode: 126, Stderr: "Error: rootlessport listen tcp 127.0.0.1:21005: bind: address already in use"}, true
			}
		}
		return "", nil, false
	}}
	a := newTestAgent(t, r2)
	res := a.executeDeploy("job_1", "dep_1", testPayload())
	if !res.Success || runs != 2 || res.HostPort == 21005 {
		t.Fatalf("port conflict: runs=%d %+v", runs, res)
	}
}

type countingRunner struct {
	*scriptRunner
	hook func(argv []string) (string, error, bool)
}

func (c *countingRunner) Run(ctx context.Context, argv ...string) ([]byte, error) {
	if out, err, ok := c.hook(argv); ok {
		c.record(argv)
		return []byte(out), err
	}
	return c.scriptRunner.Run(ctx, argv...)
}

func (c *countingRunner) Stream(ctx context.Context, w io.Writer, argv ...string) error {
	if out, err, ok := c.hook(argv); ok {
		c.record(argv)
		io.WriteString(w, out)
		return err
	}
	return c.scriptRunner.Stream(ctx, w, argv...)
}

func TestDeployBandwidthLimit(t *testing.T) {
	r := happyRunner(t, map[string]string{"Dockerfile": "FROM x\n"})
	r.on("podman inspect --format {{.State.Pid}} -- "+testCID, "4242\n", nil)
	r.on("nsenter -t 4242 -n tc qdisc replace dev eth0 root tbf", "", nil)
	a := newTestAgent(t, r)
	p := testPayload()
	p.Limits.BandwidthBitsPerSec = 1_000_000
	if res := a.executeDeploy("job_1", "dep_1", p); !res.Success {
		t.Fatalf("deploy: %s", res.Message)
	}
	want := "nsenter -t 4242 -n tc qdisc replace dev eth0 root tbf rate 1000000bit burst 16384 latency 400ms"
	if got := commandsMatching(r.commands(), "nsenter"); !slices.Equal(got, []string{want}) {
		t.Fatalf("tc: %q", got)
	}
	// A limit that cannot be applied fails the deploy and removes the container.
	r.on("nsenter -t 4242 -n tc qdisc replace dev eth0 root tbf", "", &CommandError{ExitCode: 1, Stderr: "tc: not found"})
	res := a.executeDeploy("job_2", "dep_2", p)
	if res.Success || !strings.Contains(res.Message, "bandwidth limit") {
		t.Fatalf("failed tc: %+v", res)
	}
}

func TestExecuteRestartReusesImage(t *testing.T) {
	r := happyRunner(t, nil)
	r.on("podman image inspect", oldImage+"|web|"+testCommit+"\n", nil)
	a := newTestAgent(t, r)
	res := a.executeRestart("job_r", "", testPayload())
	if !res.Success || res.ImageID != oldImage || res.HostPort == 21005 || res.HostPort == 0 {
		t.Fatalf("restart: %+v", res)
	}
	for _, c := range r.commands() {
		if strings.Contains(c, " git ") || strings.HasPrefix(c, "podman build") {
			t.Fatalf("restart rebuilt: %s", c)
		}
	}
	run := callWith(r.fakeRunner, "podman", "run")
	if !containsSeq(run, []string{"--label", "wisehosting.deployment=dep_0"}) || run[len(run)-1] != oldImage {
		t.Fatalf("restart run argv: %q", run)
	}
	// Without a container, restart deploys from source.
	r2 := happyRunner(t, map[string]string{"Dockerfile": "FROM x\n"})
	r2.on("podman ps -a --format json", "[]", nil)
	a2 := newTestAgent(t, r2)
	if res := a2.executeRestart("job_r", "", testPayload()); !res.Success || len(commandsMatching(r2.commands(), "podman build")) != 1 {
		t.Fatalf("restart without container: %+v", res)
	}
	if build := callWith(r2.fakeRunner, "podman", "build"); !containsSeq(build, []string{"-t", "localhost/wh-web:job_r"}) {
		t.Fatalf("tag without a deployment: %q", build)
	}
}

func TestExecuteStopAndDelete(t *testing.T) {
	notFound := &CommandError{ExitCode: 125, Stderr: `Error: no container with name or ID "wh-web" found: no such container`}
	f := newFakeRunner()
	f.on("podman stop -t 5 -- wh-web", "", notFound)
	a := newTestAgent(t, f)
	if res := a.executeStop("j", &models.DeployPayload{AppName: "web"}); !res.Success {
		t.Fatalf("stop of a missing container: %+v", res)
	}
	f.on("podman stop -t 5 -- wh-web", "wh-web\n", nil)
	if res := a.executeStop("j", &models.DeployPayload{AppName: "web"}); !res.Success {
		t.Fatalf("stop: %+v", res)
	}
	f.on("podman stop -t 5 -- wh-web", "", &CommandError{ExitCode: 125, Stderr: "Error: something broke"})
	if res := a.executeStop("j", &models.DeployPayload{AppName: "web"}); res.Success || !strings.Contains(res.Message, "something broke") {
		t.Fatalf("failed stop: %+v", res)
	}

	f = newFakeRunner()
	f.on("podman stop -t 5 -- wh-web", "", notFound)
	f.on("podman rm -f -v -- wh-web", "", notFound)
	f.on("podman images --filter label=wisehosting.app=web --format json",
		fmt.Sprintf(`[{"Id":"%s","Created":2},{"Id":"%s","Created":1}]`, testImage, oldImage), nil)
	f.on("podman rmi -f -- "+testImage, "", nil)
	f.on("podman rmi -f -- "+oldImage, "", &CommandError{ExitCode: 1, Stderr: "Error: image not known"})
	a = newTestAgent(t, f)
	if res := a.executeDelete("j", &models.DeployPayload{AppName: "web"}); !res.Success {
		t.Fatalf("delete: %+v", res)
	}
	if got := commandsMatching(f.commands(), "podman rmi"); len(got) != 2 {
		t.Fatalf("delete removed %q", got)
	}
	f.on("podman images --filter label=wisehosting.app=web --format json", "[]", nil)
	if res := a.executeDelete("j", &models.DeployPayload{AppName: "web"}); !res.Success {
		t.Fatalf("delete of nothing: %+v", res)
	}
}

func TestImagesToPrune(t *testing.T) {
	imgs := []listedImage{
		{ID: "a", Names: []string{"localhost/wh-web:d4"}, Created: 4},
		{ID: "b", Created: 3},
		{ID: "c", Created: 2},
		{ID: "d", Created: 1},
	}
	cases := []struct {
		keep, prev string
		want       []string
	}{
		{"a", "b", []string{"c", "d"}},
		{"localhost/wh-web:d4", "c", []string{"b", "d"}}, // previous = what the old container ran
		{"sha256:a", "", []string{"c", "d"}},             // no old container: newest other
		{"a", "gone", []string{"c", "d"}},                // previous already removed
		{"d", "a", []string{"b", "c"}},                   // a rollback to d from a: exactly d and a stay
		{"b", "d", []string{"a", "c"}},                   // a (a failed later build) goes too
		{"c", "", []string{"b", "d"}},                    // a stands in for the previous one
		{"x", "a", nil},                                  // the running image is not listed
	}
	for _, c := range cases {
		if got := imagesToPrune(imgs, c.keep, c.prev); !slices.Equal(got, c.want) {
			t.Errorf("imagesToPrune(keep %s, prev %s) = %v, want %v", c.keep, c.prev, got, c.want)
		}
	}
	if got := imagesToPrune(imgs[:2], "a", ""); len(got) != 0 {
		t.Errorf("two images: pruned %v", got)
	}
}

func TestWaitContainerRunning(t *testing.T) {
	f := newFakeRunner()
	f.on("podman inspect --format {{.State.Running}}|{{.State.Status}} -- c1", "true|running\n", nil)
	f.on("podman inspect --format {{.State.Running}}|{{.State.Status}} -- c2", "false|exited\n", nil)
	f.on("podman inspect --format {{.State.Running}}|{{.State.Status}} -- c3", "false|created\n", nil)
	a := newTestAgent(t, f)
	if !a.waitContainerRunning("c1", time.Second) {
		t.Error("running container not seen")
	}
	if a.waitContainerRunning("c2", 10*time.Second) {
		t.Error("exited container seen running")
	}
	start := time.Now()
	if a.waitContainerRunning("c3", 1200*time.Millisecond) {
		t.Error("created container seen running")
	}
	if d := time.Since(start); d < time.Second || d > 3*time.Second {
		t.Errorf("timeout took %v", d)
	}
	if n := len(commandsMatching(f.commands(), "podman inspect --format {{.State.Running}}|{{.State.Status}} -- c3")); n < 2 || n > 4 {
		t.Errorf("polled %d times in 1.2 s (every 500 ms)", n)
	}
}

func TestImageTag(t *testing.T) {
	for _, c := range []struct{ dep, job, want string }{
		{"dep_abc", "job", "dep_abc"},
		{"", "0123456789abcdef0123", "0123456789ab"},
		{"bad tag", "job_1", "job_1"},
		{"", "-x", "x"},
	} {
		if got := imageTag(c.dep, c.job); got != c.want {
			t.Errorf("imageTag(%q, %q) = %q, want %q", c.dep, c.job, got, c.want)
		}
	}
	if got := imageTag("", "!!"); !imageTagRE.MatchString(got) {
		t.Errorf("fallback tag %q", got)
	}
}

func TestEnsureBuildNetwork(t *testing.T) {
	f := newFakeRunner()
	f.on("podman network exists -- wisehosting-build", "", &CommandError{ExitCode: 1})
	f.on("podman network create --label wisehosting.managed=true -- wisehosting-build", "wisehosting-build\n", nil)
	a := newTestAgent(t, f)
	if net, err := a.ensureBuildNetwork(a.ctx); err != nil || net != "wisehosting-build" {
		t.Fatalf("ensureBuildNetwork = %q, %v", net, err)
	}
	if len(commandsMatching(f.commands(), "podman network create")) != 1 {
		t.Fatalf("network not created: %q", f.commands())
	}
	for _, bad := range []string{"host", "-x", "a b"} {
		a.cfg.BuildNetwork = bad
		if _, err := a.ensureBuildNetwork(a.ctx); err == nil {
			t.Errorf("build network %q accepted", bad)
		}
	}
}

func TestCmdErrTextHidesArgv(t *testing.T) {
	err := &CommandError{Argv: []string{"podman", "run", "-e", "SECRET=hunter2", "img"}, ExitCode: 125, Stderr: "Error: boom\n"}
	got := cmdErrText(err)
	if strings.Contains(got, "hunter2") || got != "podman run exited with 125: Error: boom" {
		t.Fatalf("cmdErrText = %q", got)
	}
	err = &CommandError{Argv: gitCloneArgv("", "https://h/r", "main", "/d", false), ExitCode: 128, Stderr: "fatal: x"}
	if got := cmdErrText(err); got != "git clone exited with 128: fatal: x" {
		t.Fatalf("cmdErrText = %q", got)
	}
}

// ---- build logs ----

func TestStreamBuildLogsResendsFromTheSameOffset(t *testing.T) {
	logs := newSafeBuf()
	type chunk struct {
		off  int
		data string
	}
	var got []chunk
	fail := 0
	send := func(off int, data string) error {
		if fail > 0 {
			fail--
			return errors.New("not connected")
		}
		got = append(got, chunk{off, data})
		return nil
	}
	// Drive the flushes by hand: the loop calls exactly this.
	sent := 0
	logs.WriteString("one\n")
	sent, _ = flushBuildLog(logs, sent, send)
	logs.WriteString("two\n")
	fail = 1
	var err error
	sent, err = flushBuildLog(logs, sent, send)
	if err == nil || sent != 4 {
		t.Fatalf("failed send: sent=%d err=%v", sent, err)
	}
	logs.WriteString("three ✓\n")
	sent, _ = flushBuildLog(logs, sent, send)
	sent, _ = flushBuildLog(logs, sent, send) // nothing new: nothing sent
	want := []chunk{{0, "one\n"}, {4, "two\nthree ✓\n"}}
	if !slices.Equal(got, want) || sent != len(logs.String()) {
		t.Fatalf("chunks = %v, want %v (sent %d)", got, want, sent)
	}
}

func TestStreamBuildLogsLoop(t *testing.T) {
	logs := newSafeBuf()
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	rebuilt := map[int]string{}
	var offsets []int
	calls := 0
	send := func(off int, data string) error {
		<-mu
		defer func() { mu <- struct{}{} }()
		calls++
		if calls%3 == 0 {
			return errors.New("queue full")
		}
		if _, dup := rebuilt[off]; dup {
			t.Errorf("offset %d sent twice", off)
		}
		rebuilt[off] = data
		offsets = append(offsets, off)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() { done <- streamBuildLogs(ctx, 5*time.Millisecond, logs, func() int64 { return 0 }, send) }()
	var want strings.Builder
	for i := range 200 {
		line := fmt.Sprintf("line %d — ünïcode ✓\n", i)
		want.WriteString(line)
		logs.WriteString(line)
		if i%20 == 0 {
			time.Sleep(7 * time.Millisecond)
		}
	}
	cancel()
	end := <-done
	// Reassemble by offset: contiguous, complete, every chunk valid UTF-8.
	var b strings.Builder
	for _, off := range offsets {
		if off != b.Len() {
			t.Fatalf("chunk at %d after %d bytes", off, b.Len())
		}
		if !utf8.ValidString(rebuilt[off]) {
			t.Fatalf("chunk at %d is not valid UTF-8", off)
		}
		b.WriteString(rebuilt[off])
	}
	if b.String() != want.String() || end != want.Len() {
		t.Fatalf("reassembled %d bytes (end %d), want %d", b.Len(), end, want.Len())
	}
}

func TestBuildLogChunksAreBoundedAndRuneAligned(t *testing.T) {
	logs := newSafeBuf()
	logs.WriteString(strings.Repeat("é", maxLogChunk)) // 2 bytes each
	var sizes []int
	_, err := flushBuildLog(logs, 0, func(off int, data string) error {
		if len(data) > maxLogChunk || !utf8.ValidString(data) {
			t.Fatalf("chunk at %d: %d bytes, valid %v", off, len(data), utf8.ValidString(data))
		}
		sizes = append(sizes, len(data))
		return nil
	})
	if err != nil || len(sizes) != 2 || sizes[0]+sizes[1] != 2*maxLogChunk {
		t.Fatalf("chunks %v, %v", sizes, err)
	}
}

func TestSafeBuf(t *testing.T) {
	b := newSafeBuf()
	b.max = 20
	b.WriteString("0123456789")
	b.Write([]byte("abc"))
	if s, n := b.Snapshot(); s != "0123456789abc" || n != 13 {
		t.Fatalf("Snapshot = %q, %d", s, n)
	}
	b.WriteString("défghijklmnop")
	s := b.String()
	if !strings.HasPrefix(s, "0123456789abcdéfgh") || !strings.Contains(s, "[log truncated") || !utf8.ValidString(s) {
		t.Fatalf("truncated = %q", s)
	}
	b.WriteString("more")
	if b.String() != s {
		t.Fatal("wrote after truncation")
	}
}

func TestLocalhostStripper(t *testing.T) {
	var out strings.Builder
	l := newLocalhostStripper(&out)
	in := "STEP 1/3: FROM localhost/busybox:latest\nCOMMIT localhost/wh-web:dep_1\nlocal host/ localhost"
	// Byte by byte: a prefix split across writes is still removed.
	for i := range len(in) {
		if n, err := l.Write([]byte{in[i]}); n != 1 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	l.Flush()
	want := "STEP 1/3: FROM busybox:latest\nCOMMIT wh-web:dep_1\nlocal host/ localhost"
	if out.String() != want {
		t.Fatalf("stripped = %q, want %q", out.String(), want)
	}
}

func TestTokenScrubberStream(t *testing.T) {
	for _, form := range tokenForms(testToken) {
		var out strings.Builder
		s := newTokenScrubber(&out, testToken)
		in := "before " + form + " middle " + form + form + " after \xff end"
		for i := 0; i < len(in); i += 3 {
			s.Write([]byte(in[i:min(i+3, len(in))]))
		}
		s.Flush()
		if strings.Contains(out.String(), form) || !strings.Contains(out.String(), "before *** middle ****** after \uFFFD end") {
			t.Fatalf("form %q: scrubbed %q", form, out.String())
		}
	}
	// A log that ends inside the token shows none of it.
	var out strings.Builder
	s := newTokenScrubber(&out, testToken)
	s.Write([]byte("x " + testToken[:8]))
	s.Flush()
	if out.String() != "x ***" {
		t.Fatalf("partial token at the end: %q", out.String())
	}
	// Runes split across writes survive.
	out.Reset()
	s = newTokenScrubber(&out, "")
	for _, b := range []byte("ünï✓") {
		s.Write([]byte{b})
	}
	s.Flush()
	if out.String() != "ünï✓" {
		t.Fatalf("runes: %q", out.String())
	}
}

func TestLogTail(t *testing.T) {
	s := strings.Repeat("line ✓\n", 1000)
	got := logTail(s, 100)
	if len(got) > 110 || !strings.HasPrefix(got, "…\nline") || !utf8.ValidString(got) {
		t.Fatalf("logTail = %q", got)
	}
	if logTail("short\n", 100) != "short" {
		t.Fatal("short tail")
	}
}

// connectCapture gives a an unconnected wsClient whose send queue the test
// reads: every emitted message, as the transport would get it.
func connectCapture(t *testing.T, a *Agent) func() []outMsg {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := &wsClient{ctx: ctx, send: make(chan outMsg, 10000)}
	a.ws = c
	return func() []outMsg {
		var out []outMsg
		for {
			select {
			case m := <-c.send:
				out = append(out, m)
			default:
				return out
			}
		}
	}
}

func TestDeployEmitsStatusesAndBuildLog(t *testing.T) {
	r := happyRunner(t, map[string]string{"Dockerfile": "FROM x\n"})
	r.on("podman build", "STEP 1/2: FROM localhost/base:latest\nRUN echo "+testToken+"\nüñï✓\nCOMMIT localhost/wh-web:dep_1\n", nil)
	a := newTestAgent(t, r)
	a.cfg.BuildLogInterval = time.Millisecond
	drain := connectCapture(t, a)
	if res := a.executeDeploy("job_1", "dep_1", testPayload()); !res.Success {
		t.Fatalf("deploy: %s", res.Message)
	}
	var statuses []string
	var log strings.Builder
	for _, m := range drain() {
		switch p := m.payload.(type) {
		case wsproto.JobStatusPayload:
			statuses = append(statuses, p.Status)
		case wsproto.BuildLogPayload:
			if m.msgType != wsproto.TypeBuildLog || p.JobID != "job_1" || p.DeploymentID != "dep_1" {
				t.Fatalf("build log message %s %+v", m.msgType, p)
			}
			if p.Offset != int64(log.Len()) {
				t.Fatalf("chunk at %d after %d bytes", p.Offset, log.Len())
			}
			log.WriteString(p.Data)
		}
	}
	if want := []string{wsproto.JobCloning, wsproto.JobBuilding, wsproto.JobStarting}; !slices.Equal(statuses, want) {
		t.Fatalf("statuses %v, want %v", statuses, want)
	}
	got := log.String()
	for _, want := range []string{"==> Cloning https://git.example.com/o/web.git (branch main)", "STEP 1/2: FROM base:latest",
		"RUN echo ***\n", "üñï✓", "COMMIT wh-web:dep_1", "==> Switching traffic to port ", "==> Running: container cccccccccccc, port "} {
		if !strings.Contains(got, want) {
			t.Errorf("build log lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, testToken) || strings.Contains(got, "localhost/") {
		t.Fatalf("build log:\n%s", got)
	}

	// A failed deploy's log ends with the reason.
	r.on("podman build", "boom\n", &CommandError{Argv: []string{"podman", "build"}, ExitCode: 2})
	if res := a.executeDeploy("job_2", "dep_2", testPayload()); res.Success {
		t.Fatal("failed build reported success")
	}
	log.Reset()
	for _, m := range drain() {
		if p, ok := m.payload.(wsproto.BuildLogPayload); ok {
			log.WriteString(p.Data)
		}
	}
	if !strings.HasSuffix(log.String(), "boom\n==> Deploy failed: build failed: podman build exited with 2\n") {
		t.Fatalf("failed build log:\n%s", log.String())
	}
}

// After a reconnect the whole build log is sent again from offset 0: a
// chunk lost with the old connection would otherwise leave a gap the
// control plane refuses to skip.
func TestStreamBuildLogsResendsAfterReconnect(t *testing.T) {
	logs := newSafeBuf()
	logs.WriteString("hello ")
	var epoch atomic.Int64
	var mu sync.Mutex
	var offsets []int
	send := func(off int, data string) error {
		mu.Lock()
		offsets = append(offsets, off)
		mu.Unlock()
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- streamBuildLogs(ctx, 5*time.Millisecond, logs, epoch.Load, send) }()
	time.Sleep(30 * time.Millisecond)
	epoch.Add(1) // reconnected
	logs.WriteString("world")
	time.Sleep(30 * time.Millisecond)
	cancel()
	if got := <-done; got != len("hello world") {
		t.Fatalf("reached offset %d", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(offsets) < 2 || offsets[0] != 0 || offsets[len(offsets)-1] != 0 {
		t.Fatalf("offsets sent %v: want a first send at 0 and a resend from 0 after the reconnect", offsets)
	}
}
