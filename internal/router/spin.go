package router

import (
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// Waiting for an app's answer by spinning. When the router is otherwise
// idle, the answer to a proxied request usually comes within tens of
// microseconds, and parking the goroutine until the netpoller wakes it
// costs about as much again: with one request in flight, a third of the
// latency the router added (docs/BENCHMARKS.md). So the one request that
// waits for a response head while no other does retries its non-blocking
// read for up to spinBudget before it parks. Under load (two or more
// waiting) nobody spins: the CPU is better spent on other requests, and
// wake-ups are amortised anyway. The cost at low load is at most
// spinBudget of one core per request.
const spinBudget = 60 * time.Microsecond

// headWaiters counts the requests waiting for a response head now.
var headWaiters atomic.Int32

// spinReader reads an upstream connection; Read spins first when spinNext
// is set (by roundTrip, for the response head only: never while a body
// streams).
type spinReader struct {
	rc       syscall.RawConn
	spinNext bool
}

// newSpinReader returns a spinReader for c, or nil if c has no file
// descriptor to read directly.
func newSpinReader(c net.Conn) *spinReader {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return &spinReader{rc: rc}
}

func (s *spinReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	spin := s.spinNext
	s.spinNext = false
	var until time.Time
	if spin {
		until = time.Now().Add(spinBudget)
	}
	var n int
	var rerr error
	err := s.rc.Read(func(fd uintptr) bool {
		for {
			n, rerr = syscall.Read(int(fd), p)
			switch {
			case rerr == syscall.EINTR:
				continue
			case rerr == syscall.EAGAIN && spin && time.Now().Before(until):
				continue
			case rerr == syscall.EAGAIN:
				spin = false
				return false // park until readable
			}
			return true
		}
	})
	switch {
	case err != nil: // closed, or past a deadline
		return 0, err
	case rerr != nil:
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: rerr}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}
