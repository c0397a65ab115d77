package servertest

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Event is one Server-Sent Event.
type Event struct {
	ID, Name, Data string
}

// Stream reads Server-Sent Events from path until the test ends or Close.
type Stream struct {
	Events <-chan Event
	cancel context.CancelFunc
}

// Close stops reading.
func (s *Stream) Close() { s.cancel() }

// SSE opens an event stream with a bearer token and optional Last-Event-ID.
func (c *Client) SSE(path, token, lastEventID string) *Stream {
	c.T.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", c.URL+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		c.T.Fatalf("SSE %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body.Close()
		cancel()
		c.T.Fatalf("SSE %s: status %d, type %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ch := make(chan Event, 256)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		var ev Event
		var data []string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if len(data) > 0 || ev.Name != "" {
					ev.Data = strings.Join(data, "\n")
					ch <- ev
				}
				ev, data = Event{}, nil
			case strings.HasPrefix(line, ":"):
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.Name = line[7:]
			case strings.HasPrefix(line, "data: "):
				data = append(data, line[6:])
			}
		}
	}()
	s := &Stream{Events: ch, cancel: cancel}
	c.T.Cleanup(s.Close)
	return s
}

// Next waits for the next event named name (others are skipped).
func (s *Stream) Next(t testing.TB, name string, within time.Duration) Event {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case ev, ok := <-s.Events:
			if !ok {
				t.Fatalf("stream ended while waiting for %q", name)
			}
			if ev.Name == name {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %q event within %v", name, within)
		}
	}
}
