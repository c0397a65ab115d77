package hub

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// closeGrace bounds how long a closing connection waits for the worker to
// answer the close frame before the TCP connection is dropped.
const closeGrace = time.Second

// Conn is one worker's WebSocket. Its methods are safe for concurrent use.
type Conn struct {
	hub         *Hub
	ws          *websocket.Conn
	workerID    int64
	connectedAt time.Time
	sender      *wsproto.Sender   // numbers from 1 on this connection
	recv        *wsproto.Receiver // read loop only
	failures    int               // consecutive rejections; read loop only

	lastSeen atomic.Int64 // hub clock, Unix ns of the last accepted message or pong; 0 = never

	// The send queue: a slice rather than a channel so that an idle
	// connection holds no queue storage.
	qmu    sync.Mutex
	queue  []outMsg
	space  chan struct{} // closed when the writer takes the queue; made only while a sender waits
	closed bool          // set with done; no more enqueues
	wake   chan struct{} // cap 1: "the queue is not empty"

	closeOnce   sync.Once
	done        chan struct{} // closed when the connection is asked to close
	closeCode   int           // set before done is closed
	closeReason string
	closeNow    bool          // skip waiting for the worker's close answer
	readDone    chan struct{} // closed when the read loop stops reading
	finished    chan struct{} // closed after WorkerDisconnected (or when it is not due)
}

type outMsg struct {
	msgType string
	data    []byte
}

func newConn(h *Hub, ws *websocket.Conn, workerID int64, key []byte) *Conn {
	c := &Conn{
		hub:         h,
		ws:          ws,
		workerID:    workerID,
		connectedAt: h.cfg.Now(),
		sender:      wsproto.NewSender(key),
		recv:        wsproto.NewReceiver(key),
		wake:        make(chan struct{}, 1),
		done:        make(chan struct{}),
		readDone:    make(chan struct{}),
		finished:    make(chan struct{}),
	}
	// Exactly MaxMessageBytes passes; one byte more is refused from the
	// frame header (see the package comment).
	ws.SetReadLimit(wsproto.MaxMessageBytes)
	_ = ws.SetReadDeadline(time.Now().Add(h.cfg.PongWait))
	ws.SetPongHandler(func(string) error {
		c.touch()
		return ws.SetReadDeadline(time.Now().Add(h.cfg.PongWait))
	})
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
func (c *Conn) Close() { c.closeWith(websocket.CloseNormalClosure, "closed") }

// closeWith asks the write loop to send a close frame and drop the socket.
// Only the first call's code and reason count.
func (c *Conn) closeWith(code int, reason string) { c.close(code, reason, false) }

// close is closeWith; now skips waiting for the worker's answer to the
// close frame.
func (c *Conn) close(code int, reason string, now bool) {
	c.closeOnce.Do(func() {
		c.qmu.Lock()
		c.closed = true
		c.queue = nil
		c.qmu.Unlock()
		c.closeCode, c.closeReason, c.closeNow = code, reason, now
		close(c.done)
	})
}

// Send seals payload as the next envelope of this connection and queues it
// for the write loop. It never blocks for long: when SendQueue messages are
// already waiting and none is taken within SendTimeout, the worker is too
// slow to keep, so it is disconnected and ErrSlowWorker returned. A nil
// error means queued, not delivered: delivery is confirmed by the protocol
// (job_ack), not by the socket.
func (c *Conn) Send(msgType string, payload any) error {
	data, err := c.sender.Seal(msgType, payload)
	if err != nil {
		return err
	}
	return c.enqueue(outMsg{msgType, data})
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
			c.queue = append(c.queue, m)
			c.qmu.Unlock()
			select {
			case c.wake <- struct{}{}:
			default: // a wake-up is pending already
			}
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
			c.closeWith(websocket.CloseTryAgainLater, "send queue full")
			return ErrSlowWorker
		}
	}
}

func (c *Conn) queueLen() int {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return len(c.queue)
}

// readLoop registers the connection, runs the Handler's calls, and reads
// until the socket fails or closes.
func (c *Conn) readLoop() {
	h := c.hub
	defer h.wg.Done()

	prev, ok := h.register(c)
	if !ok {
		c.closeWith(websocket.CloseGoingAway, "control plane shutting down")
	}
	if prev != nil {
		// Keep the Handler's calls for one worker sequential: the old
		// connection's WorkerDisconnected comes before our
		// WorkerConnected. A worker that reconnects has usually lost
		// the old socket, so do not wait for it to answer the close
		// frame: that would only delay the new connection.
		prev.close(websocket.ClosePolicyViolation, "replaced by a newer connection", true)
		<-prev.finished
	}
	connected := false
	if !c.isClosed() {
		h.log.Info("worker connected", "worker_id", c.workerID, "remote", c.ws.RemoteAddr().String())
		h.handler.WorkerConnected(h.ctx, c)
		connected = true
	}

	var readErr error
	for {
		mt, data, err := c.ws.ReadMessage()
		if err != nil {
			readErr = err
			break
		}
		_ = c.ws.SetReadDeadline(time.Now().Add(h.cfg.PongWait))
		if c.isClosed() {
			// Closing: keep reading only to see the worker's close
			// frame; act on nothing.
			continue
		}
		c.receive(mt, data)
	}
	close(c.readDone)
	if errors.Is(readErr, websocket.ErrReadLimit) {
		// gorilla has sent close 1009 already; the message was never
		// read, so it was never acted on.
		c.closeWith(websocket.CloseMessageTooBig, "message too big")
		c.reject("too_large", readErr)
	}
	c.closeWith(websocket.CloseNormalClosure, "")
	h.unregister(c)
	if connected {
		h.log.Info("worker disconnected", "worker_id", c.workerID, "code", c.closeCode, "reason", c.closeReason, "err", readErr)
		// Not cancelled by shutdown: recording the disconnect is
		// exactly what a shutting-down control plane still wants.
		h.handler.WorkerDisconnected(context.WithoutCancel(h.ctx), c.workerID)
	}
	close(c.finished)
}

// receive applies the receiver checks to one message and delivers it.
func (c *Conn) receive(mt int, data []byte) {
	h := c.hub
	if mt != websocket.TextMessage {
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
		c.closeWith(websocket.ClosePolicyViolation, "too many rejected messages")
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

// writeLoop is the only writer of data frames and pings; it owns closing the
// socket.
func (c *Conn) writeLoop() {
	h := c.hub
	defer h.wg.Done()
	ping := time.NewTicker(h.cfg.PingPeriod)
	defer ping.Stop()
	for {
		select {
		case <-c.wake:
			if err := c.flush(); err != nil {
				c.abort(err)
				return
			}
		case <-ping.C:
			_ = c.ws.SetWriteDeadline(time.Now().Add(h.cfg.WriteWait))
			if err := c.ws.WriteMessage(websocket.PingMessage, nil); err != nil {
				c.abort(err)
				return
			}
		case <-c.done:
			c.finishClose()
			return
		}
	}
}

// flush writes everything queued. Taking the whole queue at once frees its
// slots for waiting senders while these writes proceed.
func (c *Conn) flush() error {
	c.qmu.Lock()
	batch := c.queue
	c.queue = nil
	if c.space != nil {
		close(c.space)
		c.space = nil
	}
	c.qmu.Unlock()
	for i, m := range batch {
		if c.isClosed() {
			return nil // the done case closes the socket
		}
		_ = c.ws.SetWriteDeadline(time.Now().Add(c.hub.cfg.WriteWait))
		if err := c.ws.WriteMessage(websocket.TextMessage, m.data); err != nil {
			return err
		}
		c.hub.metrics.out(m.msgType)
		batch[i] = outMsg{}
	}
	return nil
}

// abort drops the socket after a failed write; the read loop then fails and
// finishes the connection.
func (c *Conn) abort(err error) {
	c.hub.log.Debug("worker write failed", "worker_id", c.workerID, "err", err)
	c.closeWith(websocket.CloseAbnormalClosure, "write failed")
	_ = c.ws.Close()
}

// finishClose sends the close frame and waits briefly for the worker's
// answer (which ends the read loop) so that the frame is not lost to a
// reset, then drops the socket. If the read loop has already stopped, the
// worker closed first or the socket failed, and there is no one to tell.
func (c *Conn) finishClose() {
	select {
	case <-c.readDone:
	default:
		msg := websocket.FormatCloseMessage(c.closeCode, c.closeReason)
		if err := c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeGrace)); err == nil && !c.closeNow {
			t := time.NewTimer(closeGrace)
			select {
			case <-c.readDone:
			case <-t.C:
			}
			t.Stop()
		}
	}
	_ = c.ws.Close()
}
