// Package prompt reads answers from standard input for the command-line
// tools (the user CLI and wisehosting-admin).
package prompt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ReadLine reads one line from r without its line ending, or returns when
// ctx ends (Ctrl-C while waiting). what names the answer in errors, such
// as "the password"; an empty input is an error, a last line without a
// newline is not.
func ReadLine(ctx context.Context, r *bufio.Reader, what string) (string, error) {
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := r.ReadString('\n')
		ch <- result{line, err}
	}()
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case res := <-ch:
		if res.err != nil && (!errors.Is(res.err, io.EOF) || res.line == "") {
			if errors.Is(res.err, io.EOF) {
				return "", fmt.Errorf("reading %s: standard input is empty", what)
			}
			return "", fmt.Errorf("reading %s: %w", what, res.err)
		}
		return strings.TrimRight(res.line, "\r\n"), nil
	}
}
