package worker

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestGitAuthConfig(t *testing.T) {
	for _, token := range []string{"ghp_abc123", "a/b+c d@e:f%g?h#i\"]\n[core]", testToken} {
		conf, err := gitAuthConfig("https://git.example.com:8443/o/r.git", token)
		if err != nil {
			t.Fatal(err)
		}
		cred := base64.StdEncoding.EncodeToString([]byte("x-access-token:" + token))
		want := "[http \"https://git.example.com:8443/\"]\n\textraHeader = Authorization: Basic " + cred + "\n"
		if string(conf) != want {
			t.Fatalf("config for %q:\n%s\nwant\n%s", token, conf, want)
		}
	}
	for _, bad := range []string{"ssh://h/r", "https:///r", "::", "https://h\"x/r"} {
		if _, err := gitAuthConfig(bad, "t"); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestScrubToken(t *testing.T) {
	token := "gh+p/S3cr=t ü"
	basic := base64.StdEncoding.EncodeToString([]byte("x-access-token:" + token))
	for name, form := range map[string]string{
		"raw":         token,
		"query":       url.QueryEscape(token),
		"path":        url.PathEscape(token),
		"basic":       basic,
		"basic unpad": strings.TrimRight(basic, "="),
		"userinfo":    strings.TrimPrefix(url.UserPassword("", token).String(), ":"),
	} {
		in := []byte("a " + form + " b " + form + "\n")
		got := string(scrubToken(in, token))
		if got != "a *** b ***\n" {
			t.Errorf("%s form %q: scrubbed to %q", name, form, got)
		}
		if string(in) != "a "+form+" b "+form+"\n" {
			t.Errorf("%s: input modified", name)
		}
	}
	// A git error that quotes an authenticated URL.
	authed := "https://x-access-token:" + strings.TrimPrefix(url.UserPassword("", token).String(), ":") + "@git.example.com/o/r.git"
	msg := "fatal: unable to access '" + authed + "/': The requested URL returned error: 403\nAuthorization: Basic " + basic
	got := string(scrubToken([]byte(msg), token))
	for _, f := range tokenForms(token) {
		if strings.Contains(got, f) {
			t.Fatalf("form %q survives in %q", f, got)
		}
	}
	if !strings.Contains(got, "x-access-token:***@git.example.com") || !strings.Contains(got, "Basic ***") {
		t.Fatalf("scrubbed git error = %q", got)
	}
	if got := scrubToken([]byte("nothing"), ""); string(got) != "nothing" {
		t.Fatalf("empty token: %q", got)
	}
}

func TestGitCloneArgv(t *testing.T) {
	argv := gitCloneArgv("/data/build-1/git-auth.conf", "https://h/r.git", "main", "/data/build-1/repo", false)
	line := strings.Join(argv, " ")
	for _, want := range []string{
		"env GIT_TERMINAL_PROMPT=0 GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/data/build-1/git-auth.conf GIT_ASKPASS=/bin/true",
		"git -c protocol.allow=never -c protocol.https.allow=always -c core.hooksPath=/dev/null -c submodule.recurse=false",
		"clone -q --depth 50 --single-branch --branch main --no-tags --no-checkout --template= -- https://h/r.git /data/build-1/repo",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("clone argv lacks %q:\n%s", want, line)
		}
	}
	if strings.Contains(line, "protocol.http.allow") || strings.Contains(line, "recurse-submodules") {
		t.Errorf("clone argv allows http or submodules: %s", line)
	}
	if argv[len(argv)-3] != "--" {
		t.Errorf("no -- before the URL: %q", argv)
	}
	argv = gitCloneArgv("", "http://127.0.0.1:9/r.git", "", "/d", true)
	if !containsSeq(argv, []string{"-c", "protocol.http.allow=always"}) || slices.Contains(argv, "--branch") ||
		!slices.Contains(argv, "GIT_CONFIG_GLOBAL=/dev/null") {
		t.Errorf("http clone argv: %q", argv)
	}
	if repoAllowsHTTP("https://h/r") || !repoAllowsHTTP("http://10.0.0.1/r") {
		t.Error("repoAllowsHTTP")
	}
}

// gitScript answers the git commands of cloneRepo.
func gitScript(t *testing.T, shallowHas bool, lsTree string, calls *[]string) func(string, []string) (string, error) {
	return func(sub string, argv []string) (string, error) {
		*calls = append(*calls, sub)
		switch sub {
		case "clone":
			dir := argv[len(argv)-1]
			os.MkdirAll(filepath.Join(dir, ".git"), 0o755)
			os.WriteFile(filepath.Join(dir, ".git", "pack"), make([]byte, 1000), 0o644)
		case "cat-file":
			if !shallowHas {
				return "", &CommandError{ExitCode: 128, Stderr: "fatal: Not a valid object name"}
			}
		case "rev-parse":
			return testCommit + "\n", nil
		case "ls-tree":
			return lsTree, nil
		}
		return "", nil
	}
}

func cloneAgent(t *testing.T, git func(string, []string) (string, error)) (*Agent, *scriptRunner) {
	r := &scriptRunner{fakeRunner: newFakeRunner(), git: git}
	return newTestAgent(t, r), r
}

func TestCloneRepo(t *testing.T) {
	p := testPayload()
	p.RepoURL = "http://127.0.0.1:8418/o/web.git"
	var calls []string
	script := gitScript(t, true, "100644 blob a 10\tf\n", &calls)
	dir := filepath.Join(t.TempDir(), "repo")
	authConf := filepath.Join(filepath.Dir(dir), "git-auth.conf")
	var sawConf bool
	a, r := cloneAgent(t, func(sub string, argv []string) (string, error) {
		if sub == "clone" {
			// The token reaches git in a private file, named by the env.
			fi, err := os.Stat(authConf)
			conf, _ := os.ReadFile(authConf)
			want, _ := gitAuthConfig(p.RepoURL, p.GitToken)
			sawConf = err == nil && fi.Mode().Perm() == 0o600 && string(conf) == string(want) &&
				slices.Contains(argv, "GIT_CONFIG_GLOBAL="+authConf)
		}
		return script(sub, argv)
	})
	res, err := a.cloneRepo(a.ctx, p, dir, &strings.Builder{})
	if err != nil || res.Commit != testCommit {
		t.Fatalf("cloneRepo = %+v, %v", res, err)
	}
	if !sawConf {
		t.Error("the clone ran without the token's config file (0600, named in GIT_CONFIG_GLOBAL)")
	}
	if _, err := os.Stat(authConf); !os.IsNotExist(err) {
		t.Errorf("the token's config file outlived the clone (%v)", err)
	}
	if want := []string{"clone", "rev-parse", "ls-tree", "checkout"}; !slices.Equal(calls, want) {
		t.Fatalf("git steps %v, want %v", calls, want)
	}
	for _, c := range r.commands() {
		if !strings.HasPrefix(c, "env GIT_TERMINAL_PROMPT=0 GIT_CONFIG_NOSYSTEM=1") || !strings.Contains(c, "-c protocol.http.allow=always") ||
			!strings.Contains(c, "-c core.hooksPath=/dev/null") {
			t.Errorf("unhardened git command: %s", c)
		}
		if strings.Contains(c, " checkout ") && !strings.HasSuffix(c, "checkout -q --detach "+testCommit+" --") {
			t.Errorf("checkout: %s", c)
		}
		if strings.Contains(c, testToken) || strings.Contains(c, "x-access-token") {
			t.Errorf("the token is on a command line: %s", c)
		}
	}

	// A pinned commit outside the shallow history is fetched by full id.
	calls = nil
	p.Commit = testCommit
	a, r = cloneAgent(t, gitScript(t, false, "", &calls))
	if _, err := a.cloneRepo(a.ctx, p, filepath.Join(t.TempDir(), "repo"), &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"clone", "cat-file", "fetch", "rev-parse", "checkout"}; !slices.Equal(calls[:3], want[:3]) {
		t.Fatalf("git steps %v", calls)
	}
	if got := commandsMatching(r.commands(), "env"); !strings.HasSuffix(got[2], "fetch -q --depth 1 --no-tags -- origin "+testCommit) {
		t.Fatalf("fetch: %s", got[2])
	}
	// An abbreviated one cannot be fetched: a clear error, no fetch.
	calls = nil
	p.Commit = testCommit[:10]
	a, _ = cloneAgent(t, gitScript(t, false, "", &calls))
	_, err = a.cloneRepo(a.ctx, p, filepath.Join(t.TempDir(), "repo"), &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "full commit id") || slices.Contains(calls, "fetch") {
		t.Fatalf("abbreviated commit: %v, %v", err, calls)
	}
}

func TestCloneRepoSizeBound(t *testing.T) {
	p := testPayload()
	var calls []string
	// The files of the tree would exceed the bound: refused before checkout.
	a, _ := cloneAgent(t, gitScript(t, true, "100644 blob a 5000\tbig\n100644 blob b 10\tsmall\n160000 commit c -\tsub\n", &calls))
	a.cfg.MaxRepoBytes = 4096
	_, err := a.cloneRepo(a.ctx, p, filepath.Join(t.TempDir(), "repo"), &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "more than this worker accepts") || slices.Contains(calls, "checkout") {
		t.Fatalf("big tree: %v, %v", err, calls)
	}
	// The watcher stops a clone that keeps writing.
	blocking := &blockingClone{}
	a = newTestAgent(t, blocking)
	a.cfg.MaxRepoBytes = 1 << 20
	start := time.Now()
	_, err = a.cloneRepo(a.ctx, p, filepath.Join(t.TempDir(), "repo"), &strings.Builder{})
	if !errors.Is(err, errRepoTooBig) || time.Since(start) > 10*time.Second {
		t.Fatalf("growing clone: %v after %v", err, time.Since(start))
	}
	// And the clone timeout applies.
	a.cfg.MaxRepoBytes = 0
	a.cfg.CloneTimeout = 300 * time.Millisecond
	blocking.noWrite = true
	_, err = a.cloneRepo(a.ctx, p, filepath.Join(t.TempDir(), "repo"), &strings.Builder{})
	if err == nil || !strings.Contains(err.Error(), "clone took longer than 300ms") {
		t.Fatalf("slow clone: %v", err)
	}
}

// blockingClone is a git clone that runs until its context ends, writing
// 64 KiB into the target folder every 10 ms (unless noWrite).
type blockingClone struct{ noWrite bool }

func (b *blockingClone) Stream(ctx context.Context, w io.Writer, argv ...string) error {
	if gitSubcommand(argv) != "clone" {
		return errors.New("unexpected command")
	}
	dir := argv[len(argv)-1]
	os.MkdirAll(dir, 0o755)
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return &CommandError{ExitCode: -1, Err: ctx.Err()}
		case <-time.After(10 * time.Millisecond):
		}
		if !b.noWrite {
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d", i)), make([]byte, 64<<10), 0o644)
		}
	}
}

func (b *blockingClone) Run(ctx context.Context, argv ...string) ([]byte, error) {
	return nil, errors.New("unexpected command")
}

func TestTreeBytes(t *testing.T) {
	out := "100644 blob aaa     120\tREADME\n100755 blob bbb 3000\tbin/x\n120000 blob ccc 7\tlink\n160000 commit ddd       -\tsub\n040000 tree eee -\tdir\ngarbage\n"
	if got := treeBytes([]byte(out)); got != 3127 {
		t.Fatalf("treeBytes = %d", got)
	}
}

func TestValidateGitInput(t *testing.T) {
	if err := validateGitInput("https://h/r", "feature/x-1", testCommit); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][3]string{
		{"-u", "", ""}, {"ext::x", "", ""}, {"https://h/r", "-b", ""}, {"https://h/r", "a..b", ""},
		{"https://h/r", "", "--all"}, {"https://h/r", "", "abc"},
	} {
		if err := validateGitInput(c[0], c[1], c[2]); err == nil {
			t.Errorf("validateGitInput(%q) accepted", c)
		}
	}
}
