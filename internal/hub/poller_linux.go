//go:build linux

package hub

import (
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// poller is the epoll reactor: one goroutine learns from an epoll set which
// sockets are readable and handles each itself — reads what has arrived,
// acts on every whole message, re-arms the socket — so a message costs no
// hand-off between goroutines. An idle connection costs no goroutine and
// no read buffer (see the package comment).
//
// The waiting goroutine does not block in epoll_wait (which would tie up
// an OS thread and cost a thread hand-off on every wake-up): the epoll
// descriptor is itself registered with the Go runtime's netpoller, which
// wakes the goroutine when the set has events, and epoll_wait is then
// called with a zero timeout.
//
// Each socket is registered edge-triggered: epoll reports it when bytes
// arrive, and its handler reads until it is empty (Hub.handle). Conn.busy
// makes sure one goroutine at a time handles a connection, in arrival
// order; an edge that finds it busy sets Conn.pending for the handler to
// go round again. No epoll_ctl per message.
//
// The runtime's netpoller keeps the sockets too (writes still go through
// net.Conn and park there when the socket buffer is full); a descriptor may
// be in several epoll sets.
type poller struct {
	epfd int
	file *os.File // epfd, registered with the runtime's netpoller
	work func(*Conn)

	mu    sync.Mutex
	conns map[uint64]*Conn
	next  uint64

	done chan struct{} // closed when the waiting goroutine has returned
}

const pollEvents = uint32(syscall.EPOLLIN|syscall.EPOLLRDHUP) | uint32(1<<31) // EPOLLET (syscall.EPOLLET is a negative int)

// coalesceWait: see wait.
const coalesceWait = 10 * time.Millisecond

// newPoller starts the reactor; work handles one connection.
func newPoller(work func(*Conn)) (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	p := &poller{
		epfd:  epfd,
		file:  os.NewFile(uintptr(epfd), "epoll"),
		work:  work,
		conns: make(map[uint64]*Conn),
		done:  make(chan struct{}),
	}
	rc, err := p.file.SyscallConn()
	if err != nil {
		p.file.Close()
		return nil, err
	}
	go p.wait(rc)
	return p, nil
}

// rawConnOf returns the socket a reactor can read directly: plain TCP only.
// TLS connections (and anything else) use a read goroutine instead.
func rawConnOf(nc net.Conn) syscall.RawConn {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// add registers c, whose socket is raw; c is busy until the caller
// releases it (Hub.release).
func (p *poller) add(c *Conn, raw syscall.RawConn) error {
	var fd int = -1
	if err := raw.Control(func(f uintptr) { fd = int(f) }); err != nil {
		return err
	}
	p.mu.Lock()
	p.next++
	c.pollID = p.next
	c.fd = fd
	p.conns[c.pollID] = c
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: pollEvents}
	setEventID(&ev, c.pollID)
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.mu.Lock()
		delete(p.conns, c.pollID)
		p.mu.Unlock()
		return err
	}
	return nil
}

// remove unregisters c; call it, from c's handler, before closing the
// socket (a closed descriptor's number may be reused at once).
func (p *poller) remove(c *Conn) {
	_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, c.fd, nil)
	p.mu.Lock()
	delete(p.conns, c.pollID)
	p.mu.Unlock()
}

// kick handles c on the calling goroutine unless it is being handled
// already (then its handler sees whatever kick was meant to announce
// before re-arming). Callers must hold no lock the Handler might need.
func (p *poller) kick(c *Conn) {
	if c.busy.CompareAndSwap(false, true) {
		p.work(c)
	}
}

func (p *poller) wait(rc syscall.RawConn) {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 256)
	// The events are handled inside the callback, which returns false to
	// park until the runtime sees epfd readable again. Parking right
	// after a wait that returned fewer events than fit loses nothing: an
	// event arriving in between marks epfd ready, and the park returns at
	// once (RawConn.Read resets readiness only when it is called, not
	// between calls of the callback).
	_ = rc.Read(func(fd uintptr) bool {
		// Woken by a first event: let a few more arrive, so that one
		// wake-up and one epoll_wait serve several messages instead of
		// one each (at 10,000 workers the wake-ups cost more than the
		// reads). A worker's message waits at most this much longer.
		time.Sleep(coalesceWait)
		for {
			n, err := syscall.EpollWait(int(fd), events, 0)
			if err != nil || n <= 0 {
				return false
			}
			for i := range n {
				id := eventID(&events[i])
				p.mu.Lock()
				c := p.conns[id]
				p.mu.Unlock()
				if c != nil { // nil: removed after epoll queued the event
					c.pending.Store(true)
					p.kick(c)
				}
			}
			if n < len(events) {
				return false
			}
		}
	})
	// Read returns when the file is closed.
}

// close stops the reactor's goroutine and closes the epoll descriptor.
// Every connection must be finished first.
func (p *poller) close() {
	_ = p.file.Close()
	<-p.done
}

// readRaw reads what has arrived on the socket fd without blocking:
// n > 0 bytes, or n == 0 with err == nil at end of stream, or
// errWouldBlock. fd is read directly, without RawConn.Control's reference
// counting: the only code that closes a reactor connection (teardown) runs
// on the goroutine handling it, so it cannot be closed during a read.
func readRaw(fd int, b []byte) (n int, err error) {
	for {
		n, err = syscall.Read(fd, b)
		if err != syscall.EINTR {
			break
		}
	}
	if err == syscall.EAGAIN {
		return 0, errWouldBlock
	}
	if err != nil {
		return 0, err
	}
	return n, nil
}

var errWouldBlock = errors.New("would block")

// The event's 8 data bytes carry the connection's poll id, not the
// descriptor: an id is never reused, so an event queued for a connection
// that has gone cannot reach its descriptor's next owner.
func setEventID(ev *syscall.EpollEvent, id uint64) {
	ev.Fd = int32(uint32(id))
	ev.Pad = int32(uint32(id >> 32))
}

func eventID(ev *syscall.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}
