package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wisehosting/wisehosting/internal/cli"
	"github.com/wisehosting/wisehosting/internal/servertest"
)

// result is what one command did.
type result struct {
	code           int
	handled        bool
	stdout, stderr string
}

func (r result) String() string {
	return "exit " + itoa(r.code) + "\nstdout:\n" + r.stdout + "\nstderr:\n" + r.stderr
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// wh runs one command with stdin, as `wisehosting args...` would.
func wh(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return whCtx(context.Background(), t, stdin, args...)
}

func whCtx(ctx context.Context, t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb syncBuffer
	return runInto(ctx, stdin, &out, &errb, args...)
}

func runInto(ctx context.Context, stdin string, out, errb *syncBuffer, args ...string) result {
	code, handled := cli.Run(ctx, args, strings.NewReader(stdin), out, errb)
	return result{code: code, handled: handled, stdout: out.String(), stderr: errb.String()}
}

// syncBuffer is a buffer a test may read while a command writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ok runs a command that must succeed.
func ok(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	r := wh(t, stdin, args...)
	if r.code != 0 || !r.handled {
		t.Fatalf("wisehosting %s: %v", strings.Join(args, " "), r)
	}
	return r
}

// fails runs a command that must exit with code and say want on stderr.
func fails(t *testing.T, code int, want string, args ...string) result {
	t.Helper()
	r := wh(t, "", args...)
	if r.code != code || !strings.Contains(r.stderr, want) {
		t.Fatalf("wisehosting %s: want exit %d and %q on stderr; got %v", strings.Join(args, " "), code, want, r)
	}
	return r
}

func contains(t *testing.T, what, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, text)
		}
	}
}

func lacks(t *testing.T, what, text string, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(text, w) {
			t.Errorf("%s contains %q:\n%s", what, w, text)
		}
	}
}

// isolate points the CLI at a fresh config file and clears the
// environment overrides; it returns the config path.
func isolate(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wh", "config.json")
	t.Setenv("WH_CONFIG", path)
	t.Setenv("WH_SERVER", "")
	t.Setenv("WH_TOKEN", "")
	return path
}

type savedConfig struct {
	Server, Token, Email string
	TokenID              string `json:"token_id"`
}

func readConfig(t *testing.T, path string) savedConfig {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c savedConfig
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatalf("config %s: %v", data, err)
	}
	return c
}

// login signs up email on srv and logs the CLI in as it.
func login(t *testing.T, srv *servertest.Server, email string) string {
	t.Helper()
	srv.Signup(email)
	r := ok(t, "password-123\n", "login", "--server", srv.URL, "--email", email, "--password-stdin")
	contains(t, "login output", r.stdout, "Logged in to "+srv.URL+" as "+email)
	return readConfig(t, os.Getenv("WH_CONFIG")).Token
}

func newServer(t *testing.T) *servertest.Server {
	return servertest.New(t, servertest.DB{Name: "sqlite"})
}

func TestCommandsAndUsage(t *testing.T) {
	cmds := cli.Commands()
	for _, c := range []string{"login", "logout", "whoami", "apps", "env", "deploy", "rollback", "logs", "restart", "stop", "workers", "tokens"} {
		if !contains1(cmds, c) {
			t.Errorf("Commands() lacks %s: %v", c, cmds)
		}
		if !strings.Contains(cli.Usage, "  "+c+" ") {
			t.Errorf("Usage does not list %s", c)
		}
	}
	for _, c := range []string{"serve", "dev", "version", "help"} {
		if contains1(cmds, c) {
			t.Errorf("Commands() claims %s, which the binary handles itself", c)
		}
	}
	if r := wh(t, "", "serve"); r.handled || r.stdout != "" || r.stderr != "" {
		t.Fatalf("serve was handled: %v", r)
	}
	if r := wh(t, ""); r.handled {
		t.Fatal("no arguments were handled")
	}
}

func contains1(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestScenario walks a user through the whole CLI against a real control
// plane: login, apps, env, tokens, workers, logout.
func TestScenario(t *testing.T) {
	cfgPath := isolate(t)
	srv := newServer(t)
	token := login(t, srv, "owner@example.com")

	// The config holds the server, a personal API token and the email,
	// readable by the user only.
	st, err := os.Stat(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("config mode %v, want 0600", st.Mode().Perm())
	}
	if dst, _ := os.Stat(filepath.Dir(cfgPath)); dst.Mode().Perm() != 0o700 {
		t.Errorf("config folder mode %v, want 0700", dst.Mode().Perm())
	}
	cfg := readConfig(t, cfgPath)
	if cfg.Server != srv.URL || cfg.Email != "owner@example.com" || !strings.HasPrefix(cfg.Token, "whp_") || cfg.TokenID == "" {
		t.Fatalf("saved config %+v", cfg)
	}
	// The token is named after this machine.
	host, _ := os.Hostname()
	contains(t, "tokens list", ok(t, "", "tokens", "list").stdout, "cli@"+host)

	r := ok(t, "", "whoami")
	contains(t, "whoami", r.stdout, "owner@example.com", "owner", srv.URL, "personal")
	var me struct {
		User struct{ Email string }
	}
	if err := json.Unmarshal([]byte(ok(t, "", "whoami", "--json").stdout), &me); err != nil || me.User.Email != "owner@example.com" {
		t.Fatalf("whoami --json: %v %+v", err, me)
	}

	t.Run("apps", func(t *testing.T) {
		contains(t, "empty list", ok(t, "", "apps", "list").stdout, "No apps yet")
		r := ok(t, "", "apps", "create", "web", "--repo", "https://example.com/me/web.git", "--branch", "prod",
			"--port", "3000", "--memory", "256M", "--cpus", "0.5", "--disk", "1G", "--bandwidth", "10M",
			"--health", "/healthz", "--dockerfile", "deploy/Dockerfile")
		contains(t, "create", r.stdout, "App web created", "http://web.localhost")
		var app struct {
			Branch          string
			Port            int
			HealthCheckPath string `json:"health_check_path"`
			DockerfilePath  string `json:"dockerfile_path"`
			Limits          struct {
				Memory    int64 `json:"memory_bytes"`
				CPU       int64 `json:"cpu_millis"`
				Disk      int64 `json:"disk_bytes"`
				Bandwidth int64 `json:"bandwidth_bps"`
			}
		}
		srv.Call(t, 200, "GET", "/v1/apps/web", token, nil).JSON(t, &app)
		if app.Branch != "prod" || app.Port != 3000 || app.HealthCheckPath != "/healthz" || app.DockerfilePath != "deploy/Dockerfile" ||
			app.Limits.Memory != 256<<20 || app.Limits.CPU != 500 || app.Limits.Disk != 1<<30 || app.Limits.Bandwidth != 10_000_000 {
			t.Fatalf("app as created: %+v", app)
		}
		// A git token from stdin is sent, never printed.
		r = ok(t, "ghp_secret\n", "apps", "create", "private", "--repo", "https://example.com/me/private.git", "--token-stdin")
		lacks(t, "create output", r.stdout+r.stderr, "ghp_secret")
		contains(t, "show", ok(t, "", "apps", "show", "private").stdout, "git token:", "set")

		r = ok(t, "", "apps", "list")
		contains(t, "apps list", r.stdout, "NAME", "STATUS", "web", "private", "created", "https://example.com/me/web.git")
		var list []struct{ Name string }
		if err := json.Unmarshal([]byte(ok(t, "", "apps", "list", "--json").stdout), &list); err != nil || len(list) != 2 {
			t.Fatalf("apps list --json: %v %+v", err, list)
		}
		r = ok(t, "", "apps", "show", "web")
		contains(t, "apps show", r.stdout, "web", "256 MiB", "cpus:", "0.5", "1 GiB", "10 Mbit/s", "/healthz", "prod", "3000")
		var shown struct{ Name, Status string }
		if err := json.Unmarshal([]byte(ok(t, "", "apps", "show", "--json", "web").stdout), &shown); err != nil || shown.Name != "web" || shown.Status != "created" {
			t.Fatalf("apps show --json: %v %+v", err, shown)
		}
		fails(t, 1, "already exists", "apps", "create", "web", "--repo", "https://example.com/me/web.git")
		fails(t, 1, "no such app", "apps", "show", "nope")
		// An app never deployed cannot restart.
		fails(t, 1, "not been deployed", "restart", "web")
	})

	t.Run("env", func(t *testing.T) {
		r := ok(t, "from-stdin-secret\n", "env", "set", "web", "PLAIN=visible-value", "TOKEN=-")
		contains(t, "env set", r.stdout, "PLAIN", "TOKEN", "next deploy")
		lacks(t, "env set", r.stdout+r.stderr, "visible-value", "from-stdin-secret")
		r = ok(t, "", "env", "list", "web")
		contains(t, "env list", r.stdout, "PLAIN", "TOKEN")
		lacks(t, "env list", r.stdout, "visible-value", "from-stdin-secret")
		lacks(t, "env list --json", ok(t, "", "env", "list", "web", "--json").stdout, "visible-value", "from-stdin-secret")
		r = ok(t, "", "env", "list", "web", "--reveal")
		contains(t, "env list --reveal", r.stdout, "PLAIN=visible-value\n", "TOKEN=from-stdin-secret\n")
		ok(t, "", "env", "unset", "web", "PLAIN")
		r = ok(t, "", "env", "list", "web")
		lacks(t, "env list after unset", r.stdout, "PLAIN")
		contains(t, "env list after unset", r.stdout, "TOKEN")
		fails(t, 2, "KEY=VALUE", "env", "set", "web", "NOEQUALS")
		fails(t, 2, "env name", "env", "set", "web", "1BAD=x")
		fails(t, 2, "only one value", "env", "set", "web", "A=-", "B=-")
	})

	t.Run("tokens", func(t *testing.T) {
		r := ok(t, "", "tokens", "create", "ci", "--expires-days", "30")
		raw := regexp.MustCompile(`whp_[A-Za-z0-9_-]+`).FindString(r.stdout)
		if raw == "" {
			t.Fatalf("no token in %q", r.stdout)
		}
		contains(t, "tokens create", r.stdout, "shown only this once")
		r = ok(t, "", "tokens", "list")
		contains(t, "tokens list", r.stdout, "ci", "active", "in 29d")
		lacks(t, "tokens list", r.stdout, raw)
		var toks []struct{ ID, Name string }
		if err := json.Unmarshal([]byte(ok(t, "", "tokens", "list", "--json").stdout), &toks); err != nil {
			t.Fatal(err)
		}
		id := ""
		for _, tk := range toks {
			if tk.Name == "ci" {
				id = tk.ID
			}
		}
		// The new token works from the environment, for scripts.
		t.Setenv("WH_TOKEN", raw)
		contains(t, "whoami with WH_TOKEN", ok(t, "", "whoami").stdout, "owner@example.com")
		t.Setenv("WH_TOKEN", "")
		contains(t, "tokens revoke", ok(t, "", "tokens", "revoke", id).stdout, "revoked")
		contains(t, "tokens list", ok(t, "", "tokens", "list").stdout, "revoked")
		t.Setenv("WH_TOKEN", raw)
		fails(t, 1, "not logged in or token expired: run `wisehosting login`", "whoami")
		t.Setenv("WH_TOKEN", "")
		fails(t, 2, "--expires-days", "tokens", "create", "x", "--expires-days", "-1")
	})

	t.Run("workers", func(t *testing.T) {
		contains(t, "empty list", ok(t, "", "workers", "list").stdout, "No workers yet")
		r := ok(t, "", "workers", "add", "w1")
		key := regexp.MustCompile(`wh[a-z]_[A-Za-z0-9_-]+`).FindString(r.stdout)
		if key == "" {
			t.Fatalf("no key in %q", r.stdout)
		}
		contains(t, "workers add", r.stdout, "shown only this once",
			"echo '"+key+"' > /etc/wisehosting/w1.key",
			"worker-agent --control-plane "+srv.URL+" --name w1 --api-key-file /etc/wisehosting/w1.key")
		// The key works: a worker registers with it.
		w := servertest.NewProtoWorker(t, srv.URL, key)
		r = ok(t, "", "workers", "list")
		contains(t, "workers list", r.stdout, "w1", "offline", "proto-host")
		lacks(t, "workers list", r.stdout, key)
		lacks(t, "workers list --json", ok(t, "", "workers", "list", "--json").stdout, key)
		ok(t, "", "workers", "revoke", itoa(int(w.ID)))
		contains(t, "workers list", ok(t, "", "workers", "list").stdout, "revoked")
		fails(t, 2, "worker ID", "workers", "revoke", "abc")
		fails(t, 1, "name must be", "workers", "add", "Bad_Name")
	})

	t.Run("delete", func(t *testing.T) {
		fails(t, 1, "refusing to delete web without --yes", "apps", "delete", "web")
		contains(t, "apps delete", ok(t, "", "apps", "delete", "web", "--yes").stdout, "App web deleted")
		ok(t, "", "apps", "rm", "--yes", "private")
		contains(t, "apps list", ok(t, "", "apps", "list").stdout, "No apps yet")
	})

	t.Run("logout", func(t *testing.T) {
		contains(t, "logout", ok(t, "", "logout").stdout, "Logged out of "+srv.URL)
		if c := readConfig(t, cfgPath); c.Token != "" || c.Server != srv.URL {
			t.Fatalf("config after logout: %+v", c)
		}
		// The token was revoked on the server, not only forgotten.
		if r := srv.Do("GET", "/v1/me", token, nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("the logged-out token still works: %d", r.Status)
		}
		fails(t, 1, "not logged in or token expired: run `wisehosting login`", "apps", "list")
		contains(t, "second logout", ok(t, "", "logout").stdout, "Not logged in")
	})
}

// A second login replaces the saved token and revokes the old one.
func TestLoginAgain(t *testing.T) {
	isolate(t)
	srv := newServer(t)
	first := login(t, srv, "me@example.com")
	ok(t, "password-123\n", "login", "--email", "me@example.com", "--password-stdin") // the saved server
	second := readConfig(t, os.Getenv("WH_CONFIG")).Token
	if second == first || second == "" {
		t.Fatalf("token not replaced")
	}
	if r := srv.Do("GET", "/v1/me", first, nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("the replaced token still works: %d", r.Status)
	}
	// Wrong password: the API's message, not the "not logged in" one.
	r := wh(t, "wrong-password\n", "login", "--email", "me@example.com", "--password-stdin")
	if r.code != 1 || !strings.Contains(r.stderr, "wisehosting: login: wrong email or password") {
		t.Fatalf("wrong password: %v", r)
	}
	// Email and password as prompts on a non-terminal stdin: read as lines.
	r = ok(t, "me@example.com\npassword-123\n", "login")
	contains(t, "prompted login", r.stderr, "Email: ")
	fails(t, 2, "--password-stdin needs --email", "login", "--password-stdin")
}

// The saved token goes only to the server that issued it.
func TestTokenStaysWithItsServer(t *testing.T) {
	isolate(t)
	srv := newServer(t)
	login(t, srv, "me@example.com")
	var got string
	other := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Authorization")
		w.WriteHeader(http.StatusUnauthorized)
	})
	fails(t, 1, "not logged in", "whoami", "--server", other)
	if got != "" {
		t.Fatalf("the saved token was sent to another server: %q", got)
	}
}

func TestBadInput(t *testing.T) {
	isolate(t)
	srv := newServer(t)
	login(t, srv, "me@example.com")
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"bad app name", []string{"apps", "create", "Bad_Name", "--repo", "https://example.com/r.git"}, 2, `app name "Bad_Name" must be`},
		{"bad app name in show", []string{"apps", "show", "-web-"}, 2, "flag provided but not defined"},
		{"bad name to show", []string{"apps", "show", "UPPER"}, 2, `app name "UPPER"`},
		{"missing repo", []string{"apps", "create", "web"}, 2, "--repo is required"},
		{"credentials in URL", []string{"apps", "create", "web", "--repo", "https://u:p@example.com/r.git"}, 2, "must not contain credentials"},
		{"plain http to a public host", []string{"apps", "create", "web", "--repo", "http://example.com/r.git"}, 2, "https://"},
		{"not a URL scheme", []string{"apps", "create", "web", "--repo", "ftp://example.com/r.git"}, 2, `scheme "ftp"`},
		{"bad memory", []string{"apps", "create", "web", "--repo", "https://example.com/r.git", "--memory", "12X"}, 2, `--memory: "12X" is not a number`},
		{"memory too small", []string{"apps", "create", "web", "--repo", "https://example.com/r.git", "--memory", "1M"}, 2, "--memory 1M: must be between 16M and 1T"},
		{"bad cpus", []string{"apps", "create", "web", "--repo", "https://example.com/r.git", "--cpus", "lots"}, 2, "--cpus"},
		{"bad disk", []string{"apps", "create", "web", "--repo", "https://example.com/r.git", "--disk", "1M"}, 2, "--disk 1M"},
		{"bad bandwidth", []string{"apps", "create", "web", "--repo", "https://example.com/r.git", "--bandwidth", "10Q"}, 2, "--bandwidth"},
		{"bad port", []string{"apps", "create", "web", "--repo", "https://example.com/r.git", "--port", "70000"}, 2, "--port 70000"},
		{"port not a number", []string{"apps", "create", "web", "--repo", "https://example.com/r.git", "--port", "http"}, 2, "invalid value"},
		{"bad branch", []string{"apps", "create", "web", "--repo", "https://example.com/r.git", "--branch", "-x"}, 2, `branch "-x": must not start with a dash`},
		{"bad branch name", []string{"apps", "create", "web", "--repo", "https://example.com/r.git", "--branch=a..b"}, 2, `branch "a..b"`},
		{"every problem at once", []string{"apps", "create", "B", "--repo", "ftp://x", "--memory", "x"}, 2, "--memory"},
		{"unknown sub-command", []string{"apps", "frobnicate"}, 2, `apps: unknown sub-command "frobnicate"`},
		{"no sub-command", []string{"tokens"}, 2, "tokens: missing sub-command"},
		{"missing name", []string{"apps", "show"}, 2, "missing NAME"},
		{"missing app", []string{"deploy"}, 2, "missing APP"},
		{"missing key", []string{"env", "set", "web"}, 2, "missing KEY=VALUE"},
		{"extra argument", []string{"apps", "show", "web", "more"}, 2, `unexpected argument "more"`},
		{"unknown flag", []string{"apps", "list", "--nope"}, 2, "flag provided but not defined: -nope"},
		{"bad commit", []string{"deploy", "web", "--commit", "HEAD"}, 2, `commit "HEAD" must be`},
		{"bad tail", []string{"logs", "web", "--tail", "5000"}, 2, "--tail 5000"},
		{"bad server URL", []string{"whoami", "--server", "localhost:8080"}, 2, `server URL "localhost:8080"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := fails(t, tc.code, tc.want, tc.args...)
			if tc.code == 2 && !strings.Contains(r.stderr, "usage: wisehosting") {
				t.Errorf("no usage line: %v", r)
			}
			if !strings.HasPrefix(r.stderr, "wisehosting: ") {
				t.Errorf("message does not start with wisehosting: %q", r.stderr)
			}
		})
	}
	// Help is not an error.
	r := ok(t, "", "apps", "create", "--help")
	contains(t, "apps create --help", r.stdout, "usage: wisehosting apps create NAME --repo URL", "-memory", "-json", "-server")
	contains(t, "apps help", ok(t, "", "apps", "help").stdout, "create NAME --repo URL")
}

// Without a saved token a command says how to log in, without calling the
// server; with an unknown one the server's 401 says the same.
func TestNotLoggedIn(t *testing.T) {
	isolate(t)
	srv := newServer(t)
	fails(t, 1, "not logged in or token expired: run `wisehosting login`", "apps", "list", "--server", srv.URL)
	t.Setenv("WH_SERVER", srv.URL)
	t.Setenv("WH_TOKEN", "whp_unknown")
	fails(t, 1, "not logged in or token expired: run `wisehosting login`", "whoami")
}

func TestServerDown(t *testing.T) {
	isolate(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	t.Setenv("WH_TOKEN", "whp_x")
	fails(t, 1, "cannot reach the server at "+url+": connection refused", "apps", "list", "--server", url)
	t.Setenv("WH_SERVER", url)
	fails(t, 1, "cannot reach the server at "+url, "whoami")
	r := wh(t, "pw\n", "login", "--email", "a@example.com", "--password-stdin")
	if r.code != 1 || !strings.Contains(r.stderr, "cannot reach the server at "+url) {
		t.Fatalf("login to a stopped server: %v", r)
	}
}

// A broken config file is reported with its path.
func TestBrokenConfig(t *testing.T) {
	path := isolate(t)
	os.MkdirAll(filepath.Dir(path), 0o700)
	os.WriteFile(path, []byte("{not json"), 0o600)
	fails(t, 1, "config "+path, "whoami")
}

// ctx ends a command that waits on stdin.
func TestPromptInterrupted(t *testing.T) {
	isolate(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	defer pr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(200*time.Millisecond, cancel) // Ctrl-C at the email prompt
	var out, errb bytes.Buffer
	code, _ := cli.Run(ctx, []string{"login", "--server", "http://127.0.0.1:1"}, pr, &out, &errb)
	if code != 130 || errb.String() != "Email: \nwisehosting: interrupted\n" {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}

func mustCompile(re string) *regexp.Regexp { return regexp.MustCompile(re) }

// workers list reads every page the API links to.
func TestWorkersListPages(t *testing.T) {
	isolate(t)
	t.Setenv("WH_TOKEN", "whp_test")
	url := newFakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.RawQuery {
		case "":
			w.Header().Set("Link", `</v1/workers?limit=1&after=1>; rel="next"`)
			w.Write([]byte(`[{"id":1,"name":"alpha","status":"online","created_at":"2025-01-01T00:00:00Z"}]`))
		case "limit=1&after=1":
			w.Write([]byte(`[{"id":2,"name":"beta","status":"offline","draining":true,"created_at":"2025-01-01T00:00:00Z"}]`))
		default:
			w.WriteHeader(http.StatusBadRequest)
		}
	})
	r := ok(t, "", "workers", "list", "--server", url)
	contains(t, "workers list", r.stdout, "alpha", "online", "beta", "offline (draining)")
	var all []struct{ Name string }
	if err := json.Unmarshal([]byte(ok(t, "", "workers", "list", "--server", url, "--json").stdout), &all); err != nil || len(all) != 2 {
		t.Fatalf("workers list --json: %v %+v", err, all)
	}
}
