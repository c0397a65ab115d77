package router

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// spinReader reads like the connection it wraps: data whether it comes
// while spinning or after parking, deadlines, EOF.
func TestSpinReader(t *testing.T) {
	a, b := tcpPair(t)
	sr := newSpinReader(a)
	if sr == nil {
		t.Fatal("no spinReader for a TCP connection")
	}
	buf := make([]byte, 16)
	for _, delay := range []time.Duration{0, 10 * time.Microsecond, 5 * time.Millisecond} {
		go func() {
			time.Sleep(delay)
			_, _ = b.Write([]byte("hi"))
		}()
		sr.spinNext = true
		n, err := sr.Read(buf)
		if err != nil || string(buf[:n]) != "hi" {
			t.Fatalf("after %v: %q %v", delay, buf[:n], err)
		}
		if sr.spinNext {
			t.Error("spinNext outlived the read it was for")
		}
	}
	_ = a.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := sr.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("past the deadline: %v", err)
	}
	_ = a.SetReadDeadline(time.Time{})
	b.Close()
	if _, err := sr.Read(buf); err != io.EOF {
		t.Fatalf("after the peer closed: %v, want EOF", err)
	}
}
