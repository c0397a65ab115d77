package cli

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

func TestSSEParse(t *testing.T) {
	stream := ": ping\n\n" +
		"id: 18\nevent: log\ndata: line one\ndata: line two\ndata: \n\n" +
		"event: status\ndata:building\n\n" + // no space after the colon
		"id:7\r\nevent: end\r\ndata: running\r\n\r\n"
	s := &sseStream{body: io.NopCloser(nil), idle: time.AfterFunc(time.Hour, func() {}), cancel: func() {}}
	defer s.idle.Stop()
	s.sc = newScanner(strings.NewReader(stream))
	want := []sseEvent{
		{ID: "18", Name: "log", Data: "line one\nline two\n"},
		{Name: "status", Data: "building"},
		{ID: "7", Name: "end", Data: "running"},
	}
	for i, w := range want {
		ev, err := s.next()
		if err != nil || ev != w {
			t.Fatalf("event %d: %+v, %v; want %+v", i, ev, err, w)
		}
	}
	if _, err := s.next(); err != io.EOF {
		t.Fatalf("after the last event: %v, want EOF", err)
	}
}

func TestErrInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	if errInterrupted(ctx, context.Canceled) {
		t.Fatal("interrupted before cancel")
	}
	cancel()
	if !errInterrupted(ctx, context.Canceled) {
		t.Fatal("not interrupted after cancel")
	}
}

func TestLineWriter(t *testing.T) {
	var b strings.Builder
	l := &lineWriter{w: &b}
	l.write("one\ntw")
	l.line("==> starting") // does not split "two"
	l.write("o\nthree")
	l.finish()
	if got, want := b.String(), "one\n==> starting\ntwo\nthree\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
