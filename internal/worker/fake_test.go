package worker

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
)

// fakeRunner records every command and answers from canned replies keyed by
// the command line's prefix (the longest matching prefix wins). Unknown
// commands fail, so a test notices anything it did not expect.
type fakeRunner struct {
	mu      sync.Mutex
	calls   [][]string
	replies map[string]fakeReply
}

type fakeReply struct {
	out string
	err error
}

func newFakeRunner() *fakeRunner { return &fakeRunner{replies: map[string]fakeReply{}} }

// on sets the reply for commands starting with prefix (space-joined argv).
func (f *fakeRunner) on(prefix, out string, err error) *fakeRunner {
	f.mu.Lock()
	f.replies[prefix] = fakeReply{out, err}
	f.mu.Unlock()
	return f
}

func (f *fakeRunner) reply(argv []string) (fakeReply, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, append([]string(nil), argv...))
	line := strings.Join(argv, " ")
	best, found := "", false
	for p := range f.replies {
		if strings.HasPrefix(line, p) && len(p) >= len(best) {
			best, found = p, true
		}
	}
	return f.replies[best], found
}

func (f *fakeRunner) Run(ctx context.Context, argv ...string) ([]byte, error) {
	r, ok := f.reply(argv)
	if !ok {
		return nil, fmt.Errorf("fakeRunner: unexpected command %q", strings.Join(argv, " "))
	}
	return []byte(r.out), r.err
}

func (f *fakeRunner) Stream(ctx context.Context, w io.Writer, argv ...string) error {
	r, ok := f.reply(argv)
	if !ok {
		return fmt.Errorf("fakeRunner: unexpected command %q", strings.Join(argv, " "))
	}
	io.WriteString(w, r.out)
	return r.err
}

// commands returns the recorded command lines.
func (f *fakeRunner) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.calls))
	for i, c := range f.calls {
		out[i] = strings.Join(c, " ")
	}
	return out
}
