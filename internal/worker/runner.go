package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// Runner runs external programs (podman, git, ss, nsenter, tc, findmnt).
// The real one never goes through a shell; tests use a fake that records
// calls and plays back canned output.
type Runner interface {
	// Run runs argv and returns its standard output. A non-zero exit is an
	// error that carries argv and a (scrubbed, truncated) stderr.
	Run(ctx context.Context, argv ...string) ([]byte, error)
	// Stream runs argv with stdout and stderr both written to w as they
	// come (build logs).
	Stream(ctx context.Context, w io.Writer, argv ...string) error
}

// ExecRunner is the real Runner.
type ExecRunner struct {
	// Env is added to a minimal environment (PATH, HOME, LC_ALL=C).
	Env []string
	// Scrub hides secrets (git tokens) in error text.
	Scrub func([]byte) []byte
}

// CommandError is a failed command: argv, exit code and stderr.
type CommandError struct {
	Argv     []string
	ExitCode int
	Stderr   string
	Err      error
}

func (e *CommandError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		msg = e.Err.Error()
	}
	return fmt.Sprintf("%s: %s", strings.Join(e.Argv, " "), msg)
}

func (e *CommandError) Unwrap() error { return e.Err }

// maxStderr bounds what an error keeps of a command's stderr.
const maxStderr = 4 << 10

func (r ExecRunner) command(ctx context.Context, argv []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + homeDir(), "LC_ALL=C"}, r.Env...)
	cmd.WaitDelay = 5e9 // a killed command's pipes close within 5 s
	return cmd
}

func homeDir() string {
	if h := os.Getenv("HOME"); h != "" {
		return h
	}
	return "/root"
}

func (r ExecRunner) scrub(b []byte) []byte {
	if r.Scrub != nil {
		return r.Scrub(b)
	}
	return b
}

// Run implements Runner.
func (r ExecRunner) Run(ctx context.Context, argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("runner: empty argv")
	}
	cmd := r.command(ctx, argv)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &limitedBuffer{buf: &stderr, max: maxStderr}
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), r.cmdErr(argv, cmd, stderr.Bytes(), err)
	}
	return stdout.Bytes(), nil
}

// Stream implements Runner.
func (r ExecRunner) Stream(ctx context.Context, w io.Writer, argv ...string) error {
	if len(argv) == 0 {
		return errors.New("runner: empty argv")
	}
	cmd := r.command(ctx, argv)
	var tail bytes.Buffer
	out := io.MultiWriter(w, &limitedBuffer{buf: &tail, max: maxStderr, keepTail: true})
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return r.cmdErr(argv, cmd, tail.Bytes(), err)
	}
	return nil
}

func (r ExecRunner) cmdErr(argv []string, cmd *exec.Cmd, stderr []byte, err error) error {
	code := -1
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	}
	scrubbedArgv := make([]string, len(argv))
	for i, a := range argv {
		scrubbedArgv[i] = string(r.scrub([]byte(a)))
	}
	return &CommandError{Argv: scrubbedArgv, ExitCode: code, Stderr: string(r.scrub(stderr)), Err: err}
}

// limitedBuffer keeps the first (or, with keepTail, the last) max bytes.
type limitedBuffer struct {
	buf      *bytes.Buffer
	max      int
	keepTail bool
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if l.keepTail {
		l.buf.Write(p)
		if over := l.buf.Len() - l.max; over > 0 {
			rest := append([]byte(nil), l.buf.Bytes()[over:]...)
			l.buf.Reset()
			l.buf.Write(rest)
		}
		return n, nil
	}
	if room := l.max - l.buf.Len(); room > 0 {
		if len(p) > room {
			p = p[:room]
		}
		l.buf.Write(p)
	}
	return n, nil
}

// IsNotFound reports whether a podman error says the container or image
// does not exist.
func IsNotFound(err error) bool {
	var ce *CommandError
	if !errors.As(err, &ce) {
		return false
	}
	s := strings.ToLower(ce.Stderr)
	return strings.Contains(s, "no such container") || strings.Contains(s, "no such object") ||
		strings.Contains(s, "no container with name or id") || strings.Contains(s, "not found") ||
		strings.Contains(s, "no such image") || strings.Contains(s, "image not known")
}
