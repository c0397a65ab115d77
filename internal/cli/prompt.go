package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/wisehosting/wisehosting/internal/prompt"
)

// Reading stdin cannot be interrupted, so each read runs in a goroutine
// that ctx (Ctrl-C) stops waiting for; such a goroutine outlives Run only
// when the user ends the command, and the process exits right after.

func (c *cli) reader() *bufio.Reader {
	if c.in == nil {
		c.in = bufio.NewReader(c.stdin)
	}
	return c.in
}

// terminal returns stdin's descriptor when stdin is a terminal.
func (c *cli) terminal() (int, bool) {
	f, ok := c.stdin.(*os.File)
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// readLine reads one line of stdin (see prompt.ReadLine).
func (c *cli) readLine(ctx context.Context, what string) (string, error) {
	return prompt.ReadLine(ctx, c.reader(), what)
}

// readAll reads the rest of stdin (at most max bytes), without one final
// line ending.
func (c *cli) readAll(ctx context.Context, what string, max int64) (string, error) {
	type result struct {
		data []byte
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		data, err := io.ReadAll(io.LimitReader(c.reader(), max+1))
		ch <- result{data, err}
	}()
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case r := <-ch:
		if r.err != nil {
			return "", fmt.Errorf("reading %s: %w", what, r.err)
		}
		if int64(len(r.data)) > max {
			return "", fmt.Errorf("reading %s: more than %d bytes", what, max)
		}
		s := strings.TrimSuffix(string(r.data), "\n")
		return strings.TrimSuffix(s, "\r"), nil
	}
}

// ask prints prompt on stderr and reads a line.
func (c *cli) ask(ctx context.Context, prompt, what string) (string, error) {
	fmt.Fprint(c.stderr, prompt)
	line, err := c.readLine(ctx, what)
	if err != nil && ctx.Err() != nil {
		fmt.Fprintln(c.stderr) // end the prompt's line
	}
	return line, err
}

// askSecret reads a secret without echo when stdin is a terminal, else a
// plain line.
func (c *cli) askSecret(ctx context.Context, prompt, what string) (string, error) {
	fd, ok := c.terminal()
	if !ok {
		return c.readLine(ctx, what)
	}
	fmt.Fprint(c.stderr, prompt)
	state, err := term.GetState(fd)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", what, err)
	}
	type result struct {
		secret []byte
		err    error
	}
	ch := make(chan result, 1)
	go func() {
		b, err := term.ReadPassword(fd)
		ch <- result{b, err}
	}()
	select {
	case <-ctx.Done():
		_ = term.Restore(fd, state) // echo back on: ReadPassword will not get to it
		fmt.Fprintln(c.stderr)
		return "", ctx.Err()
	case r := <-ch:
		fmt.Fprintln(c.stderr)
		if r.err != nil {
			return "", fmt.Errorf("reading %s: %w", what, r.err)
		}
		return string(r.secret), nil
	}
}
