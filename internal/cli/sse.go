package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Event streams: the server sends a ": ping" comment every 15 s, so a
// stream silent for streamIdle is dead (a half-open connection) and is
// reopened.
const (
	streamIdle     = 45 * time.Second
	retryFirst     = 500 * time.Millisecond
	retryMax       = 10 * time.Second
	maxEventLine   = 8 << 20
	scanBufInitial = 64 << 10
)

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	ID, Name, Data string
}

// sseStream reads the events of one open stream.
type sseStream struct {
	body   io.ReadCloser
	sc     *bufio.Scanner
	idle   *time.Timer
	cancel context.CancelFunc
}

func openSSE(ctx context.Context, cl *client, path, lastEventID string) (*sseStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	resp, err := cl.stream(ctx, path, lastEventID)
	if err != nil {
		cancel()
		return nil, err
	}
	return &sseStream{body: resp.Body, sc: newScanner(resp.Body), idle: time.AfterFunc(streamIdle, cancel), cancel: cancel}, nil
}

func newScanner(r io.Reader) *bufio.Scanner {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, scanBufInitial), maxEventLine)
	return sc
}

func (s *sseStream) close() {
	s.idle.Stop()
	s.cancel()
	s.body.Close()
}

// next returns the next event; io.EOF when the server ended the stream,
// another error when it broke.
func (s *sseStream) next() (sseEvent, error) {
	var ev sseEvent
	var data []string
	seen := false
	for s.sc.Scan() {
		s.idle.Reset(streamIdle)
		line := s.sc.Text()
		if line == "" {
			if seen {
				ev.Data = strings.Join(data, "\n")
				return ev, nil
			}
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue // a comment: the keep-alive ping
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.ID, seen = value, true
		case "event":
			ev.Name, seen = value, true
		case "data":
			data, seen = append(data, value), true
		}
	}
	if err := s.sc.Err(); err != nil {
		return ev, err
	}
	return ev, io.EOF
}

// follow reads the stream at path and hands each event to handle until
// handle reports done, an error happens that retrying cannot mend, or ctx
// ends (its error is returned). When the stream drops it reopens it with
// Last-Event-ID set to the last id seen (*lastID, which the caller may
// preset), waiting longer after each failed attempt; after maxFailures
// attempts in a row (0: no limit) it gives up.
func (c *cli) follow(ctx context.Context, cl *client, path string, lastID *string, maxFailures int,
	handle func(sseEvent) (done bool, err error)) error {
	delay, failures := retryFirst, 0
	for {
		s, err := openSSE(ctx, cl, path, *lastID)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failures++
			if !transient(err) || (maxFailures > 0 && failures >= maxFailures) {
				return err
			}
			fmt.Fprintf(c.stderr, "wisehosting: %v; retrying in %v\n", err, delay)
		} else {
			got, done, err := readEvents(s, lastID, handle)
			s.close()
			if done || err != nil {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if got {
				failures, delay = 0, retryFirst
			} else if failures++; maxFailures > 0 && failures >= maxFailures {
				return fmt.Errorf("the event stream at %s keeps closing", cl.server)
			}
			fmt.Fprintf(c.stderr, "wisehosting: the stream was interrupted; reconnecting\n")
		}
		if err := sleep(ctx, delay); err != nil {
			return err
		}
		delay = min(delay*2, retryMax)
	}
}

// readEvents hands a stream's events to handle until the stream ends
// (got: whether any event came); done or an error end the whole follow.
func readEvents(s *sseStream, lastID *string, handle func(sseEvent) (bool, error)) (got, done bool, err error) {
	for {
		ev, err := s.next()
		if err != nil {
			return got, false, nil // dropped, or ended by the server: reconnect
		}
		got = true
		done, err := handle(ev)
		if ev.ID != "" {
			*lastID = ev.ID
		}
		if done || err != nil {
			return got, true, err
		}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// errInterrupted reports whether err is the user ending the command.
func errInterrupted(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}
