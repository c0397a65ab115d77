package hub

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// closeGrace bounds how long a closing connection waits for the worker to
// answer the close frame before the TCP connection is dropped.
const closeGrace = time.Second

// readBufSize is the pooled read buffer: big enough for a typical message
// (a runtime_log batch is ~1.4 KB) and its neighbours in one read.
const readBufSize = 4096

var readBufPool = sync.Pool{New: func() any { b := make([]byte, 0, readBufSize); return &b }}

// Conn is one worker's WebSocket. Its exported methods are safe for
// concurrent use.
type Conn struct {
	hub         *Hub
	nc          net.Conn
	workerID    int64
	connectedAt time.Time
	key         []byte
	senderOnce  sync.Once
	sender      *wsproto.Sender   // numbers from 1 on this connection; made at the first Send (most connections rarely get one)
	recv        *wsproto.Receiver // read side only

	lastSeen atomic.Int64 // hub clock, Unix ns of the last accepted message or pong; 0 = never
	lastPing atomic.Int64 // hub clock, Unix ns of the last ping sent (or of the upgrade)

	// Read side. Only the goroutine handling the connection touches these:
	// the reactor's pool goroutine holding busy, or the fallback read loop.
	rbuf      []byte // bytes read and not yet consumed; nil when none
	rbufPool  *[]byte
	msg       []byte // a fragmented message being assembled
	msgOp     byte
	inMsg     bool
	failures  int  // consecutive rejections
	discard   bool // closing: read only to notice the end
	connected bool // WorkerConnected ran
	torn      bool

	// Reactor bookkeeping (poller_linux.go).
	poller *poller // set when the reactor reads this socket, with raw
	pollID uint64
	fd     int
	busy   atomic.Bool // being handled (or not yet registered)
	// pending: epoll reported the socket readable while it was busy.
	pending atomic.Bool
	// doomed: drop the socket the next time the connection is handled.
	doomed atomic.Bool
	// peerClosed: the worker sent its close frame; ours needs no answer.
	peerClosed atomic.Bool

	// Write side: a queue drained by a write goroutine that exists only
	// while there is something to write, so an idle connection holds no
	// goroutine and no queue storage.
	qmu         sync.Mutex
	queue       []outMsg
	space       chan struct{} // closed when the writer takes the queue; made only while a sender waits
	writing     bool          // a write goroutine runs (or has finished for good)
	closed      bool          // set with done; no more enqueues
	closeSent   bool          // the close frame has been handed to the writer
	closeCode   int           // set before done is closed
	closeReason string
	closeNow    bool // drop the socket without waiting for the worker's answer
	grace       *time.Timer
	wmu         sync.Mutex // one frame on the wire at a time

	closeOnce sync.Once
	done      chan struct{} // closed when the connection is asked to close
	finished  chan struct{} // closed after WorkerDisconnected (or when it is not due)
}

type outMsg struct {
	op      byte
	msgType string // data messages, for metrics
	data    []byte
}

func newConn(h *Hub, nc net.Conn, workerID int64, key []byte) *Conn {
	c := &Conn{
		hub:         h,
		nc:          nc,
		workerID:    workerID,
		connectedAt: h.cfg.Now(),
		key:         key,
		recv:        wsproto.NewReceiver(key),
		done:        make(chan struct{}),
		finished:    make(chan struct{}),
	}
	c.lastPing.Store(c.connectedAt.UnixNano())
	c.busy.Store(true) // until the reactor arms it
	return c
}

// WorkerID is the authenticated worker this connection belongs to.
func (c *Conn) WorkerID() int64 { return c.workerID }

// ConnectedAt is when the upgrade completed (hub clock).
func (c *Conn) ConnectedAt() time.Time { return c.connectedAt }

// LastSeen is when the last accepted message or pong arrived, or the zero
// time if none has yet.
func (c *Conn) LastSeen() time.Time {
	ns := c.lastSeen.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func (c *Conn) touch() { c.lastSeen.Store(c.hub.cfg.Now().UnixNano()) }

// lastHeard is LastSeen, or ConnectedAt before the first sign of life: the
// start of the current silence.
func (c *Conn) lastHeard() time.Time {
	if t := c.LastSeen(); !t.IsZero() {
		return t
	}
	return c.connectedAt
}

func (c *Conn) online(now time.Time) bool {
	t := c.LastSeen()
	return !t.IsZero() && now.Sub(t) <= c.hub.cfg.OfflineAfter && !c.isClosed()
}

func (c *Conn) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Close closes the connection with a normal close frame. It does not wait.
func (c *Conn) Close() { c.closeWith(closeNormal, "closed") }

// closeWith sends a close frame, waits up to closeGrace for the worker's
// answer and drops the socket. Only the first call's code and reason count.
func (c *Conn) closeWith(code int, reason string) { c.close(code, reason, false) }

// close is closeWith; now drops the socket right after the close frame.
func (c *Conn) close(code int, reason string, now bool) {
	c.closeOnce.Do(func() {
		c.qmu.Lock()
		c.closed = true
		c.queue = nil
		c.wakeSenders()
		c.closeCode, c.closeReason, c.closeNow = code, reason, now
		close(c.done)
		start := !c.writing
		c.writing = true
		c.qmu.Unlock()
		if start {
			go c.writeLoop()
		}
	})
}

// wakeSenders releases senders waiting for queue space; qmu held.
func (c *Conn) wakeSenders() {
	if c.space != nil {
		close(c.space)
		c.space = nil
	}
}

// Send seals payload as the next envelope of this connection and queues it.
// It never blocks for long: when SendQueue messages are already waiting and
// none is taken within SendTimeout, the worker is too slow to keep, so it is
// disconnected and ErrSlowWorker returned. A nil error means queued, not
// delivered: delivery is confirmed by the protocol (job_ack), not by the
// socket.
func (c *Conn) Send(msgType string, payload any) error {
	c.senderOnce.Do(func() { c.sender = wsproto.NewSender(c.key) })
	data, err := c.sender.Seal(msgType, payload)
	if err != nil {
		return err
	}
	return c.enqueue(outMsg{opText, msgType, data})
}

func (c *Conn) enqueue(m outMsg) error {
	var timer *time.Timer
	for {
		c.qmu.Lock()
		if c.closed {
			c.qmu.Unlock()
			return ErrClosed
		}
		if len(c.queue) < c.hub.cfg.SendQueue {
			c.push(m)
			return nil
		}
		if c.space == nil {
			c.space = make(chan struct{})
		}
		space := c.space
		c.qmu.Unlock()

		if timer == nil {
			timer = time.NewTimer(c.hub.cfg.SendTimeout)
			defer timer.Stop()
		}
		select {
		case <-space:
		case <-c.done:
			return ErrClosed
		case <-timer.C:
			c.hub.log.Warn("worker too slow, disconnecting", "worker_id", c.workerID, "queued", c.queueLen())
			c.closeWith(closeTryAgainLater, "send queue full")
			return ErrSlowWorker
		}
	}
}

// control queues a ping or pong unless the connection is closing or its
// queue is full (a worker that reads nothing needs no more of them).
func (c *Conn) control(op byte, payload []byte) {
	c.qmu.Lock()
	if c.closed || len(c.queue) >= c.hub.cfg.SendQueue {
		c.qmu.Unlock()
		return
	}
	c.push(outMsg{op: op, data: payload})
}

// push appends m and starts the writer if none runs; qmu held, and
// released here.
func (c *Conn) push(m outMsg) {
	c.queue = append(c.queue, m)
	start := !c.writing
	c.writing = true
	c.qmu.Unlock()
	if start {
		go c.writeLoop()
	}
}

func (c *Conn) queueLen() int {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return len(c.queue)
}

// writeLoop writes what is queued and exits when the queue is empty; after
// a close it sends the close frame last.
func (c *Conn) writeLoop() {
	for {
		c.qmu.Lock()
		batch := c.queue
		c.queue = nil
		c.wakeSenders()
		if len(batch) == 0 {
			if c.closed && !c.closeSent {
				// writing stays true: the connection needs no writer
				// after this one.
				c.closeSent = true
				code, reason, now := c.closeCode, c.closeReason, c.closeNow
				c.qmu.Unlock()
				c.sendClose(code, reason, now)
				return
			}
			c.writing = false
			c.qmu.Unlock()
			return
		}
		c.qmu.Unlock()
		for i, m := range batch {
			if c.isClosed() {
				break // the next round sends the close frame
			}
			if err := c.writeFrame(m.op, m.data, c.hub.cfg.WriteWait); err != nil {
				c.abort(err)
				return
			}
			if m.op == opText {
				c.hub.metrics.out(m.msgType)
			}
			batch[i] = outMsg{}
		}
	}
}

// writeFrame writes one unfragmented frame within timeout.
func (c *Conn) writeFrame(op byte, payload []byte, timeout time.Duration) error {
	var hdr [10]byte
	h := appendFrameHeader(hdr[:0], op, len(payload))
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
	if len(payload) <= 2048 {
		// One small write, no writev: pings, pongs, close frames.
		buf := append(h, payload...)
		_, err := c.nc.Write(buf)
		return err
	}
	bufs := net.Buffers{h, payload}
	_, err := bufs.WriteTo(c.nc)
	return err
}

// sendClose writes the close frame, then drops the socket at once (now, or
// when the worker has already sent its own close) or after closeGrace if the
// worker does not answer first.
func (c *Conn) sendClose(code int, reason string, now bool) {
	err := c.writeFrame(opClose, closePayload(code, reason), closeGrace)
	if err != nil || now || c.peerClosed.Load() {
		c.drop()
		return
	}
	c.qmu.Lock()
	c.grace = time.AfterFunc(closeGrace, c.drop)
	c.qmu.Unlock()
}

// abort drops the socket after a failed write.
func (c *Conn) abort(err error) {
	c.hub.log.Debug("worker write failed", "worker_id", c.workerID, "err", err)
	c.close(closeNormal, "write failed", true)
	c.drop()
}

// drop has the reading side tear the connection down: now, if it is idle,
// or when it finishes what it is doing.
func (c *Conn) drop() {
	c.doomed.Store(true)
	if c.poller != nil {
		c.poller.kick(c)
	} else {
		// Wakes the blocked Read of the read loop.
		_ = c.nc.SetReadDeadline(time.Now())
	}
}

// ---- reading ----

// handle is the reactor's work for a readable (or dropped) connection:
// read what has arrived, act on every whole message, let go. The socket is
// registered edge-triggered, so handle reads until the socket is empty (a
// short read, or EAGAIN): bytes arriving later raise a new edge. An edge
// that comes while c is held sets pending, and handle goes round again.
func (h *Hub) handle(c *Conn) {
	for {
		if c.doomed.Load() {
			c.teardown()
			return
		}
		c.pending.Store(false)
		for {
			buf := c.readBuf()
			n, err := readRaw(c.fd, buf[len(buf):cap(buf)])
			if err == errWouldBlock {
				break
			}
			if err != nil || n == 0 {
				c.teardown() // end of stream or a failed socket
				return
			}
			full := len(buf)+n == cap(buf)
			c.rbuf = buf[:len(buf)+n]
			c.consume()
			if !full {
				break // the socket had no more
			}
		}
		c.releaseReadBuf()
		c.busy.Store(false)
		if !(c.pending.Load() || c.doomed.Load()) || !c.busy.CompareAndSwap(false, true) {
			return
		}
	}
}

// release lets go of c after its registration; what arrived (or a drop
// that came) meanwhile is handled now.
func (h *Hub) release(c *Conn) {
	c.busy.Store(false)
	if (c.pending.Load() || c.doomed.Load()) && c.busy.CompareAndSwap(false, true) {
		h.handle(c)
	}
}

// readLoop is the fallback reader: one goroutine per connection, for
// sockets the reactor cannot read (TLS) or when it is off.
func (c *Conn) readLoop() {
	for !c.doomed.Load() {
		buf := c.readBuf()
		n, err := c.nc.Read(buf[len(buf):cap(buf)])
		if n > 0 {
			c.rbuf = buf[:len(buf)+n]
			c.consume()
		}
		if err != nil {
			break
		}
		c.releaseReadBuf()
	}
	c.teardown()
}

// readBuf returns c.rbuf with free space after its pending bytes.
func (c *Conn) readBuf() []byte {
	if c.rbuf == nil {
		c.rbufPool = readBufPool.Get().(*[]byte)
		c.rbuf = (*c.rbufPool)[:0]
	}
	return c.rbuf
}

// releaseReadBuf gives the buffer back when nothing is pending, so an idle
// connection holds none.
func (c *Conn) releaseReadBuf() {
	if len(c.rbuf) > 0 {
		return
	}
	c.putReadBuf(c.rbuf)
	c.rbuf = nil
}

// putReadBuf returns b, the buffer taken by readBuf (or one replacing it),
// to the pool if it came from there.
func (c *Conn) putReadBuf(b []byte) {
	if c.rbufPool != nil && cap(b) == readBufSize {
		*c.rbufPool = b[:0]
		readBufPool.Put(c.rbufPool)
	}
	c.rbufPool = nil
}

// consume acts on every whole frame in c.rbuf and keeps the rest at its
// front, with room for the whole of the next frame once its header is in.
func (c *Conn) consume() {
	b := c.rbuf
	if c.discard {
		c.rbuf = b[:0]
		return
	}
	off := 0
	need := 0 // bytes the pending frame needs in all, once its header is known
	for off < len(b) {
		hdr, err := parseFrameHeader(b[off:])
		if err == errNeedMore {
			break
		}
		if pe := (*protoError)(nil); errors.As(err, &pe) {
			c.protocolError(pe)
			c.rbuf = b[:0]
			return
		}
		if hdr.op < opClose {
			size := hdr.length
			if hdr.op == opContinuation {
				size += int64(len(c.msg))
			}
			if size > wsproto.MaxMessageBytes {
				// Refused from the header, before its bytes are
				// buffered (see the package comment).
				c.closeWith(closeMessageTooBig, "message too big")
				c.reject("too_large", fmt.Errorf("message of at least %d bytes", size))
				c.discard = true
				c.rbuf = b[:0]
				return
			}
		}
		total := hdr.size + int(hdr.length)
		if len(b)-off < total {
			need = total
			break
		}
		c.frame(hdr, b[off+hdr.size:off+total])
		off += total
		if c.discard {
			c.rbuf = b[:0]
			return
		}
	}
	rest := copy(b, b[off:])
	b = b[:rest]
	if need > cap(b) {
		nb := make([]byte, rest, need)
		copy(nb, b)
		c.putReadBuf(b)
		b = nb
	}
	c.rbuf = b
}

// frame acts on one whole frame; payload is still masked.
func (c *Conn) frame(hdr frameHeader, payload []byte) {
	switch hdr.op {
	case opText, opBinary:
		if c.inMsg {
			c.protocolError(&protoError{closeProtocolError, "data frame inside a fragmented message"})
			return
		}
		data := make([]byte, len(payload))
		unmaskCopy(data, payload, hdr.mask)
		if hdr.fin {
			c.message(hdr.op, data)
			return
		}
		c.inMsg, c.msgOp, c.msg = true, hdr.op, data
	case opContinuation:
		if !c.inMsg {
			c.protocolError(&protoError{closeProtocolError, "continuation without a message"})
			return
		}
		n := len(c.msg)
		c.msg = append(c.msg, make([]byte, len(payload))...)
		unmaskCopy(c.msg[n:], payload, hdr.mask)
		if hdr.fin {
			data := c.msg
			c.inMsg, c.msg = false, nil
			c.message(c.msgOp, data)
		}
	case opPing:
		data := make([]byte, len(payload))
		unmaskCopy(data, payload, hdr.mask)
		c.control(opPong, data)
	case opPong:
		c.touch()
	case opClose:
		var p [125]byte
		unmaskCopy(p[:], payload, hdr.mask)
		code := parseClosePayload(p[:len(payload)])
		c.peerClosed.Store(true)
		c.discard = true
		if c.isClosed() {
			// The answer to our close frame: done.
			c.doomed.Store(true)
			return
		}
		// Answer with the same code; the writer then drops the socket.
		c.close(code, "", true)
	}
}

// protocolError closes the connection after a frame no conforming client
// sends; nothing more it sends is read.
func (c *Conn) protocolError(pe *protoError) {
	c.hub.log.Debug("worker broke the WebSocket protocol", "worker_id", c.workerID, "err", pe)
	c.closeWith(pe.code, pe.msg)
	c.discard = true
}

// message applies the receiver checks to one message and delivers it.
func (c *Conn) message(op byte, data []byte) {
	if c.isClosed() {
		// Closing: act on nothing.
		return
	}
	h := c.hub
	if op != opText {
		// The protocol carries envelopes in text messages only.
		c.reject("decode", errBinary)
		return
	}
	e, err := c.recv.Open(data)
	if err != nil {
		c.reject(wsproto.Reason(err), err)
		return
	}
	c.failures = 0
	c.touch()
	h.metrics.in(e.Type)
	h.handler.HandleEnvelope(h.ctx, c, e)
}

var errBinary = errors.New("binary message")

// reject counts and logs a dropped message (never its content: payloads may
// hold secrets) and closes the socket after MaxFailures in a row.
func (c *Conn) reject(reason string, err error) {
	h := c.hub
	h.metrics.rejected(reason)
	c.failures++
	h.log.Debug("worker message rejected", "worker_id", c.workerID, "reason", reason, "err", truncate(err.Error(), 200), "consecutive", c.failures)
	if c.failures >= h.cfg.MaxFailures {
		h.log.Warn("too many rejected messages, closing", "worker_id", c.workerID, "consecutive", c.failures)
		c.closeWith(closePolicyViolation, "too many rejected messages")
	}
}

// truncate bounds what a hostile message can put in a log line (a decode
// error quotes the offending key).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// teardown ends the connection, once, from the goroutine handling it:
// closes the socket, unregisters it and reports the disconnect.
func (c *Conn) teardown() {
	if c.torn {
		return
	}
	c.torn = true
	h := c.hub
	if c.poller != nil {
		c.poller.remove(c)
	}
	// The worker has gone (or is being dropped): nothing more to send.
	c.qmu.Lock()
	c.closeSent = true
	if c.grace != nil {
		c.grace.Stop()
	}
	c.qmu.Unlock()
	c.close(closeNormal, "", true)
	_ = c.nc.Close()
	c.rbuf = c.rbuf[:0]
	c.releaseReadBuf()
	c.msg = nil

	h.unregister(c)
	if c.connected {
		code, reason := c.closeInfo()
		h.log.Info("worker disconnected", "worker_id", c.workerID, "code", code, "reason", reason)
		// Not cancelled by shutdown: recording the disconnect is
		// exactly what a shutting-down control plane still wants.
		h.handler.WorkerDisconnected(context.WithoutCancel(h.ctx), c.workerID)
	}
	close(c.finished)
	h.wg.Done()
}

// closeInfo is the close code and reason the connection ended with.
func (c *Conn) closeInfo() (int, string) {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return c.closeCode, c.closeReason
}
