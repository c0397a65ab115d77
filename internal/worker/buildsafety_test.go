package worker

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestCheckRunMounts(t *testing.T) {
	refused := map[string]string{
		"cache mount climbing out (CVE-2024-9675)": "FROM alpine\nRUN --mount=type=cache,target=/h,id=../../../../etc cat /h/shadow\n",
		"bind mount of a link (CVE-2024-1753)":     "FROM alpine\nRUN --mount=type=bind,target=/h,source=lnk,rw touch /h/x\n",
		"another app's image":                      "FROM busybox\nRUN --mount=type=bind,from=sha256:abc,target=/s cat /s/secret\n",
		"upper case":                               "FROM alpine\nRUN --MOUNT=type=cache,target=/x true\n",
		"split by a continuation":                  "FROM alpine\nRUN -\\\n-mount=type=cache,target=/x true\n",
		"continuation with blanks after it":        "FROM alpine\nRUN -\\  \n   -mount=type=cache,target=/x true\n",
		"blank and comment lines inside":           "FROM alpine\nRUN -\\\n\n# hidden\n-mount=type=cache,target=/x true\n",
		"backtick escape directive":                "# escape=`\nFROM alpine\nRUN -`\n-mount=type=cache,target=/x true\n",
		"CRLF line ends":                           "FROM alpine\r\nRUN -\\\r\n-mount=type=cache,target=/x true\r\n",
		"after other flags":                        "FROM alpine\nRUN --network=none --mount=type=tmpfs,target=/t true\n",
	}
	for name, text := range refused {
		if err := checkRunMounts(text); err != errRunMount {
			t.Errorf("%s: %v, want refused", name, err)
		}
	}
	for name, text := range map[string]string{
		"host network":           "FROM alpine\nRUN --network=host wget -qO- http://127.0.0.1:8081/\n",
		"split network flag":     "FROM alpine\nrun -\\\n-network=host true\n",
		"insecure security mode": "FROM alpine\nRUN --security=insecure true\n",
		"onbuild":                "FROM alpine\nONBUILD RUN --network=host true\n",
	} {
		if err := checkRunMounts(text); err == nil || !strings.Contains(err.Error(), "gives RUN a flag") {
			t.Errorf("%s: %v, want refused", name, err)
		}
	}
	allowed := map[string]string{
		"plain":                "FROM alpine\nRUN apk add curl \\\n  && echo mounted\nCOPY . /app\n",
		"mount in a comment":   "FROM alpine\n# RUN --mount=type=cache would be faster\nRUN true\n",
		"a command's own flag": "FROM node\nRUN yarn install --network-timeout 100000\n",
	}
	for name, text := range allowed {
		if err := checkRunMounts(text); err != nil {
			t.Errorf("%s: %v, want allowed", name, err)
		}
	}
}

func TestCheckCheckout(t *testing.T) {
	write := func(t *testing.T, dir, name, body string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(t *testing.T, dir, name, target string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string // "" = allowed; else part of the error
	}{
		{"plain files", func(t *testing.T, dir string) {
			write(t, dir, "Dockerfile", "FROM alpine\n")
			write(t, dir, ".dockerignore", "node_modules\n")
		}, ""},
		{"links inside the repository", func(t *testing.T, dir string) {
			write(t, dir, "docs/README.md", "hi")
			link(t, dir, "README.md", "docs/README.md")
			link(t, dir, "sub/up", "../docs")
			link(t, dir, "self", ".")
		}, ""},
		{"absolute link", func(t *testing.T, dir string) { link(t, dir, "lnk", "/") }, "lnk → /"},
		{"absolute link into the repo's own path", func(t *testing.T, dir string) { link(t, dir, "x", filepath.Join(dir, "a")) }, "points outside"},
		{"relative link climbing out", func(t *testing.T, dir string) { link(t, dir, "deep/lnk", "../../../etc") }, "deep/lnk"},
		{"link climbing out and back in (lands inside)", func(t *testing.T, dir string) { link(t, dir, "lnk", "../"+filepath.Base(dir)+"/x") }, ""},
		{"link climbing out to a sibling", func(t *testing.T, dir string) { link(t, dir, "lnk", "../"+filepath.Base(dir)+"-other/x") }, "points outside"},
		{".dockerignore as a link to a host file", func(t *testing.T, dir string) {
			write(t, dir, "ignored", "x")
			link(t, dir, ".dockerignore", "ignored") // inside, but podman reads it as root: regular files only
		}, ".dockerignore must be a regular file"},
		{"Dockerfile.dockerignore as a link", func(t *testing.T, dir string) {
			write(t, dir, "x", "")
			link(t, dir, "build/Dockerfile.dockerignore", "../x")
		}, "Dockerfile.dockerignore must be a regular file"},
		{".containerignore as a FIFO", func(t *testing.T, dir string) {
			if err := syscall.Mkfifo(filepath.Join(dir, ".containerignore"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, ".containerignore must be a regular file"},
		{"git's own folder is not the repository's", func(t *testing.T, dir string) {
			link(t, dir, ".git/weird", "/")
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			err := checkCheckout(dir)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
