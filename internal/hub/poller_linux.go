//go:build linux

package hub

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// poller is the epoll reactor: a few goroutines wait on one epoll set and
// each handles the sockets it is told are readable itself — reads what has
// arrived, acts on every whole message, re-arms the socket — so a message
// costs no hand-off between goroutines. Several waiters, so that a Handler
// call waiting on the database does not stall every other worker. An idle
// connection costs no goroutine and no read buffer (see the package
// comment).
//
// Each socket is registered EPOLLONESHOT: after one event it is disarmed
// until the goroutine handling it re-arms it, so a connection is handled by
// at most one goroutine at a time, in arrival order. Conn.busy guards the
// same exclusivity for kick (a wake-up that does not come from epoll).
//
// The Go runtime's own netpoller keeps the descriptor too (writes still go
// through net.Conn and park there when the socket buffer is full); a
// descriptor may be in several epoll sets.
type poller struct {
	epfd int
	work func(*Conn)

	mu    sync.Mutex
	conns map[uint64]*Conn
	next  uint64

	stop chan struct{}
	wg   sync.WaitGroup
}

const pollEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// newPoller starts the reactor with waiters goroutines running work.
func newPoller(waiters int, work func(*Conn)) (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	p := &poller{
		epfd:  epfd,
		work:  work,
		conns: make(map[uint64]*Conn),
		stop:  make(chan struct{}),
	}
	p.wg.Add(waiters)
	for range waiters {
		go p.wait()
	}
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

// add registers c; the caller then arms it (Hub.release). c.raw must be set.
func (p *poller) add(c *Conn) error {
	var fd int = -1
	if err := c.raw.Control(func(f uintptr) { fd = int(f) }); err != nil {
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

// rearm lets epoll report c again; call it when done with c. The
// descriptor is level-triggered, so bytes that arrived meanwhile are
// reported at once.
func (p *poller) rearm(c *Conn) error {
	c.busy.Store(false)
	ev := syscall.EpollEvent{Events: pollEvents}
	setEventID(&ev, c.pollID)
	return syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, c.fd, &ev)
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

func (p *poller) wait() {
	defer p.wg.Done()
	// Few events per wait: the kernel wakes one waiter per event, so
	// ready sockets spread over the waiters instead of queueing behind one.
	events := make([]syscall.EpollEvent, 8)
	for {
		select {
		case <-p.stop:
			return
		default:
		}
		// A timeout rather than a wake-up descriptor: stopping is rare and
		// may take this long.
		n, err := syscall.EpollWait(p.epfd, events, 200)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			// Nothing else is expected from a valid epoll descriptor;
			// avoid spinning if it happens anyway.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		for i := range n {
			id := eventID(&events[i])
			p.mu.Lock()
			c := p.conns[id]
			p.mu.Unlock()
			if c == nil {
				continue // removed after epoll queued the event
			}
			p.kick(c)
		}
	}
}

// close stops the reactor's goroutines and closes the epoll descriptor.
// Every connection must be finished first.
func (p *poller) close() {
	close(p.stop)
	p.wg.Wait()
	_ = syscall.Close(p.epfd)
}

// readRaw reads what has arrived on c's socket without blocking:
// n > 0 bytes, or n == 0 with err == nil at end of stream, or errWouldBlock.
func readRaw(rc syscall.RawConn, b []byte) (n int, err error) {
	cerr := rc.Control(func(fd uintptr) {
		for {
			n, err = syscall.Read(int(fd), b)
			if err != syscall.EINTR {
				return
			}
		}
	})
	if cerr != nil {
		return 0, cerr
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
