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

func TestAuthenticatedCloneURL(t *testing.T) {
	for _, token := range []string{"ghp_abc123", "a/b+c d@e:f%g?h#i", testToken} {
		authed, redacted := authenticatedCloneURL("https://git.example.com/o/r.git", token)
		u, err := url.Parse(authed)
		if err != nil {
			t.Fatalf("authed URL %q: %v", authed, err)
		}
		if pw, _ := u.User.Password(); u.User.Username() != "x-access-token" || pw != token {
			t.Fatalf("authed URL %q carries %q:%q", authed, u.User.Username(), pw)
		}
		if u.Host != "git.example.com" || u.Path != "/o/r.git" {
			t.Fatalf("authed URL %q changed the repository", authed)
		}
		if strings.Contains(redacted, token) || string(scrubToken([]byte(redacted), token)) != redacted ||
			redacted != "https://x-access-token:***@git.example.com/o/r.git" {
			t.Fatalf("redacted = %q", redacted)
		}
	}
	if a, r := authenticatedCloneURL("https://h/r", ""); a != "https://h/r" || r != "https://h/r" {
		t.Fatalf("no token: %q %q", a, r)
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
	// A git error that quotes the authenticated URL.
	authed, _ := authenticatedCloneURL("https://git.example.com/o/r.git", token)
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
	argv := gitCloneArgv("https://x-access-token:t@h/r.git", "main", "/data/build-1/repo", false)
	line := strings.Join(argv, " ")
	for _, want := range []string{
		"env GIT_TERMINAL_PROMPT=0 GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_ASKPASS=/bin/true",
		"git -c protocol.allow=never -c protocol.https.allow=always -c core.hooksPath=/dev/null -c submodule.recurse=false",
		"clone -q --depth 50 --single-branch --branch main --no-tags --no-checkout --template= -- https://x-access-token:t@h/r.git /data/build-1/repo",
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
	argv = gitCloneArgv("http://127.0.0.1:9/r.git", "", "/d", true)
	if !containsSeq(argv, []string{"-c", "protocol.http.allow=always"}) || slices.Contains(argv, "--branch") {
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
	a, r := cloneAgent(t, gitScript(t, true, "100644 blob a 10\tf\n", &calls))
	dir := filepath.Join(t.TempDir(), "repo")
	res, err := a.cloneRepo(a.ctx, p, dir, &strings.Builder{})
	if err != nil || res.Commit != testCommit {
		t.Fatalf("cloneRepo = %+v, %v", res, err)
	}
	if want := []string{"clone", "remote", "rev-parse", "ls-tree", "checkout"}; !slices.Equal(calls, want) {
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
		if strings.Contains(c, " remote ") && !strings.HasSuffix(c, "remote set-url -- origin "+p.RepoURL) {
			t.Errorf("remote: %s", c)
		}
	}

	// A pinned commit outside the shallow history is fetched by full id.
	calls = nil
	p.Commit = testCommit
	a, r = cloneAgent(t, gitScript(t, false, "", &calls))
	if _, err := a.cloneRepo(a.ctx, p, filepath.Join(t.TempDir(), "repo"), &strings.Builder{}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"clone", "cat-file", "fetch", "remote", "rev-parse", "checkout"}; !slices.Equal(calls[:3], want[:3]) {
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
