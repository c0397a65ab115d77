package workertest

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestGitServerRequiresToken(t *testing.T) {
	g := NewGitServer(t, "s3cret-token")
	g.Commit(t, "first", map[string]string{"README": "hello\n"})
	dir := t.TempDir()
	bad := strings.Replace(g.URL, "http://", "http://x-access-token:wrong@", 1)
	if out, err := exec.Command("git", "-c", "credential.helper=", "clone", "-q", "--", bad, filepath.Join(dir, "a")).CombinedOutput(); err == nil {
		t.Fatalf("clone with a wrong token succeeded: %s", out)
	}
	good := strings.Replace(g.URL, "http://", "http://x-access-token:s3cret-token@", 1)
	if out, err := exec.Command("git", "clone", "-q", "--", good, filepath.Join(dir, "b")).CombinedOutput(); err != nil {
		t.Fatalf("clone with the token: %v: %s", err, out)
	}
	if fetches, denied := g.Requests(); fetches == 0 || denied == 0 {
		t.Fatalf("fetches %d denied %d", fetches, denied)
	}
}

func TestBaseImage(t *testing.T) {
	RequirePodman(t)
	UseTestContainersConf(t)
	EnsureBaseImage(t)
	out := Podman(t, "run", "--rm", "--label", TestLabel, BaseImage, "echo", "hi")
	if out != "hi" {
		t.Fatalf("busybox echo: %q", out)
	}
}
