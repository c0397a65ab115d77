package worker

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wisehosting/wisehosting/internal/models"
)

// gitTokenUser is the user name that carries an access token over HTTP
// basic auth (GitHub, GitLab and Gitea all accept it).
const gitTokenUser = "x-access-token"

// cloneDepth bounds the history fetched: enough to find a recent commit
// without downloading a whole project's past.
const cloneDepth = 50

// errRepoTooBig is the cause of a clone cancelled by the size watcher.
var errRepoTooBig = errors.New("repository is larger than this worker accepts")

// gitAuthConfig is a git configuration file that sends token to the
// repository's scheme://host/ only, as an HTTP basic Authorization header
// (user x-access-token). Git reads it as its global configuration
// (GIT_CONFIG_GLOBAL), so the token is on no command line: those are
// readable by every local user in /proc; the file is the agent's alone
// (0600) and removed after the clone.
func gitAuthConfig(repoURL, token string) ([]byte, error) {
	origin, ok := models.RepoOrigin(repoURL)
	if !ok {
		return nil, fmt.Errorf("repo URL %q cannot carry a token", repoURL)
	}
	prefix := origin + "/"
	for i := 0; i < len(prefix); i++ {
		// What may stand inside a quoted git config subsection as is.
		if c := prefix[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return nil, fmt.Errorf("repo URL origin %q cannot carry a token", origin)
		}
	}
	cred := base64.StdEncoding.EncodeToString([]byte(gitTokenUser + ":" + token))
	return []byte("[http \"" + prefix + "\"]\n\textraHeader = Authorization: Basic " + cred + "\n"), nil
}

// tokenForms lists every spelling of token that may show up in output:
// raw, URL-encoded (query, path and userinfo escaping) and the base64 of
// an HTTP Basic credential, longest first so that no replacement leaves a
// piece of a longer form behind.
func tokenForms(token string) []string {
	if token == "" {
		return nil
	}
	userinfo := strings.TrimPrefix(url.UserPassword("", token).String(), ":")
	basic := gitTokenUser + ":" + token
	cands := []string{
		token,
		url.QueryEscape(token),
		url.PathEscape(token),
		userinfo,
		base64.StdEncoding.EncodeToString([]byte(basic)),
		base64.RawStdEncoding.EncodeToString([]byte(basic)),
		base64.URLEncoding.EncodeToString([]byte(basic)),
		base64.RawURLEncoding.EncodeToString([]byte(basic)),
	}
	seen := map[string]bool{}
	var out []string
	for _, c := range cands {
		if c != "" && !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// scrubToken replaces every form of token in b (see tokenForms) with ***.
// It never modifies b in place.
func scrubToken(b []byte, token string) []byte {
	forms := tokenForms(token)
	if len(forms) == 0 {
		return b
	}
	out := b
	for _, f := range forms {
		if bytes.Contains(out, []byte(f)) {
			out = bytes.ReplaceAll(out, []byte(f), []byte("***"))
		}
	}
	return out
}

// scrubString is scrubToken for strings.
func scrubString(s, token string) string {
	if token == "" {
		return s
	}
	return string(scrubToken([]byte(s), token))
}

// gitArgv is the hardened prefix of every git command: only https (and
// http when the URL validator allowed it, i.e. a loopback or private
// host) may be spoken, no hook runs, no submodule is followed. git runs
// through env(1), not a shell, isolated from the host's configuration
// and never prompting.
func gitArgv(allowHTTP bool, args ...string) []string {
	return gitArgvAuth("", allowHTTP, args...)
}

// gitArgvAuth is gitArgv with authConfig (a gitAuthConfig file) as git's
// global configuration, if not "".
func gitArgvAuth(authConfig string, allowHTTP bool, args ...string) []string {
	global := "/dev/null"
	if authConfig != "" {
		global = authConfig
	}
	argv := []string{"env", "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=" + global,
		"GIT_ASKPASS=/bin/true", "SSH_ASKPASS=/bin/true"}
	argv = append(argv, "git",
		"-c", "protocol.allow=never",
		"-c", "protocol.https.allow=always")
	if allowHTTP {
		argv = append(argv, "-c", "protocol.http.allow=always")
	}
	argv = append(argv,
		"-c", "core.hooksPath=/dev/null",
		"-c", "submodule.recurse=false",
		"-c", "credential.helper=",
		"-c", "core.fsmonitor=false",
		"-c", "advice.detachedHead=false")
	return append(argv, args...)
}

// repoAllowsHTTP reports whether repoURL (already validated) is http://.
func repoAllowsHTTP(repoURL string) bool {
	return strings.HasPrefix(strings.ToLower(repoURL), "http://")
}

// validateGitInput re-applies the job validators to what reaches git's
// argv (defence in depth: runJob validated the job already).
func validateGitInput(repoURL, branch, commit string) error {
	if err := models.ValidateRepoURL(repoURL); err != nil {
		return err
	}
	if branch != "" {
		if err := models.ValidateBranch(branch); err != nil {
			return err
		}
	}
	if commit != "" {
		if err := models.ValidateCommit(commit); err != nil {
			return err
		}
	}
	return nil
}

// gitCloneArgv is the clone command. The checkout is separate (see
// cloneRepo) so the size of the tree can be checked before it is written.
func gitCloneArgv(authConfig, repoURL, branch, dir string, allowHTTP bool) []string {
	args := []string{"clone", "-q", "--depth", strconv.Itoa(cloneDepth), "--single-branch"}
	if branch != "" {
		args = append(args, "--branch", branch)
	}
	// --template= leaves out the sample hooks and other template files.
	args = append(args, "--no-tags", "--no-checkout", "--template=", "--", repoURL, dir)
	return gitArgvAuth(authConfig, allowHTTP, args...)
}

// cloneResult is what cloneRepo produced.
type cloneResult struct {
	Commit string // full id of the checked-out commit
}

// cloneRepo clones p's repository into dir and checks out p.Commit (or
// the branch head). Output goes to logw (which scrubs). The network part
// runs under CloneTimeout while a watcher bounds the bytes on disk; the
// tree is checked out only if it fits MaxRepoBytes too. The token, if
// any, reaches git through a gitAuthConfig file: never the clone's remote
// URL (in the build context's .git/config) nor a command line.
func (a *Agent) cloneRepo(ctx context.Context, p *models.DeployPayload, dir string, logw io.Writer) (cloneResult, error) {
	var res cloneResult
	if err := validateGitInput(p.RepoURL, p.Branch, p.Commit); err != nil {
		return res, err
	}
	allowHTTP := repoAllowsHTTP(p.RepoURL)
	authConfig := ""
	if p.GitToken != "" {
		conf, err := gitAuthConfig(p.RepoURL, p.GitToken)
		if err != nil {
			return res, err
		}
		// Beside the clone, never inside it (the build context).
		authConfig = filepath.Join(filepath.Dir(dir), "git-auth.conf")
		if err := os.WriteFile(authConfig, conf, 0o600); err != nil {
			return res, fmt.Errorf("git credentials file: %w", err)
		}
		defer os.Remove(authConfig)
	}
	limit := a.cfg.MaxRepoBytes

	cctx, cancel := context.WithTimeoutCause(ctx, a.cfg.CloneTimeout,
		fmt.Errorf("clone took longer than %s", a.cfg.CloneTimeout))
	defer cancel()
	wctx, stopWatch := context.WithCancelCause(cctx)
	defer stopWatch(nil)
	var wg sync.WaitGroup
	if limit > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			watchDirSize(wctx, dir, limit, time.Second, stopWatch)
		}()
	}
	err := a.run.Stream(wctx, logw, gitCloneArgv(authConfig, p.RepoURL, p.Branch, dir, allowHTTP)...)
	if err == nil {
		err = a.fetchCommitIfMissing(wctx, dir, p.Commit, authConfig, allowHTTP, logw)
	}
	var cause error
	if wctx.Err() != nil {
		cause = context.Cause(wctx)
	}
	stopWatch(nil)
	wg.Wait()
	switch {
	case errors.Is(cause, errRepoTooBig):
		return res, fmt.Errorf("git clone: %w (limit %s)", errRepoTooBig, humanBytes(limit))
	case cause != nil:
		return res, fmt.Errorf("git clone: %w", cause)
	case errors.Is(err, errCommitNotFound):
		return res, err
	case err != nil:
		return res, errors.New(cmdErrText(err)) // "git clone exited with 128: fatal: …"
	}
	_ = os.Remove(authConfig) // the network part is over
	rev := "HEAD"
	if p.Commit != "" {
		rev = p.Commit
	}
	out, err := a.run.Run(ctx, gitArgv(allowHTTP, "-C", dir, "rev-parse", "--verify", "--end-of-options", rev+"^{commit}")...)
	if err != nil {
		return res, fmt.Errorf("git rev-parse %s: %s", rev, cmdErrText(err))
	}
	commit := strings.TrimSpace(string(out))
	if !isHexID(commit) {
		return res, fmt.Errorf("git rev-parse %s: unexpected output %q", rev, commit)
	}
	if limit > 0 {
		// The watcher samples while git runs; this is exact, and it
		// counts the files before they are written.
		gitBytes, err := dirSize(dir)
		if err != nil {
			return res, err
		}
		out, err := a.run.Run(ctx, gitArgv(allowHTTP, "-C", dir, "ls-tree", "-r", "-l", "--full-tree", commit)...)
		if err != nil {
			return res, fmt.Errorf("git ls-tree: %s", cmdErrText(err))
		}
		tree := treeBytes(out)
		if gitBytes+tree > limit {
			return res, fmt.Errorf("repository is %s (history %s + files %s), more than this worker accepts (%s)",
				humanBytes(gitBytes+tree), humanBytes(gitBytes), humanBytes(tree), humanBytes(limit))
		}
	}
	if _, err := a.run.Run(ctx, gitArgv(allowHTTP, "-C", dir, "checkout", "-q", "--detach", commit, "--")...); err != nil {
		return res, fmt.Errorf("git checkout %s: %s", shortID(commit), cmdErrText(err))
	}
	res.Commit = commit
	return res, nil
}

// errCommitNotFound: the pinned commit is neither in the shallow history
// nor fetchable.
var errCommitNotFound = errors.New("commit not found")

// fetchCommitIfMissing makes commit available in dir's shallow clone: a
// commit outside the fetched history is fetched by its full id.
func (a *Agent) fetchCommitIfMissing(ctx context.Context, dir, commit, authConfig string, allowHTTP bool, logw io.Writer) error {
	if commit == "" {
		return nil
	}
	if _, err := a.run.Run(ctx, gitArgv(allowHTTP, "-C", dir, "cat-file", "-e", "--end-of-options", commit+"^{commit}")...); err == nil {
		return nil
	} else if ctx.Err() != nil {
		return err
	}
	if len(commit) != 40 && len(commit) != 64 {
		return fmt.Errorf("%w: %s is not among the last %d commits of the branch; give the full commit id", errCommitNotFound, commit, cloneDepth)
	}
	if err := a.run.Stream(ctx, logw, gitArgvAuth(authConfig, allowHTTP, "-C", dir, "fetch", "-q", "--depth", "1", "--no-tags", "--", "origin", commit)...); err != nil {
		if ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("%w: %s could not be fetched: %s", errCommitNotFound, commit, cmdErrText(err))
	}
	return nil
}

// treeBytes sums the blob sizes of `git ls-tree -r -l` output.
func treeBytes(out []byte) int64 {
	var total int64
	for _, line := range strings.Split(string(out), "\n") {
		meta, _, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		f := strings.Fields(meta)
		if len(f) != 4 || f[1] != "blob" {
			continue
		}
		if n, err := strconv.ParseInt(f[3], 10, 64); err == nil && n > 0 {
			total += n
		}
	}
	return total
}

// dirSize is the total size of the regular files under dir (symlinks are
// not followed).
func dirSize(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // git renames temporary files as it goes
			}
			return err
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total, err
}

// watchDirSize cancels (with errRepoTooBig) once dir holds more than max
// bytes, checking every interval until ctx ends.
func watchDirSize(ctx context.Context, dir string, limit int64, interval time.Duration, cancel context.CancelCauseFunc) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := dirSize(dir); err == nil && n > limit {
				cancel(errRepoTooBig)
				return
			}
		}
	}
}

func isHexID(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func shortID(s string) string {
	s = strings.TrimPrefix(s, "sha256:")
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// humanBytes formats n with a binary unit.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
