package admin

import (
	"context"
	"sync"
	"time"

	"github.com/wisehosting/wisehosting/internal/adminrpc"
	"github.com/wisehosting/wisehosting/internal/dispatch"
	"github.com/wisehosting/wisehosting/internal/hub"
	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// Events fans the control plane's live events out to the admin RPC
// connections that subscribed: workers connecting and disconnecting (from
// the hub), deployments, crashes, stops and violations (the dispatcher's
// webhook events, for every team) and the admins' own actions. Publish
// never blocks: a subscriber that reads too slowly loses events, and is
// told how many.
type Events struct {
	mu   sync.Mutex
	seq  uint64
	subs map[*Subscription]struct{}
	now  func() time.Time
}

// NewEvents returns a broker with no subscribers.
func NewEvents() *Events {
	return &Events{subs: map[*Subscription]struct{}{}, now: time.Now}
}

// Subscription receives events on C until Close.
type Subscription struct {
	C    <-chan adminrpc.Event
	c    chan adminrpc.Event
	e    *Events
	lost int // guarded by e.mu
}

// Subscribe returns a subscription buffering up to buf events.
func (e *Events) Subscribe(buf int) *Subscription {
	c := make(chan adminrpc.Event, max(buf, 1))
	s := &Subscription{C: c, c: c, e: e}
	e.mu.Lock()
	e.subs[s] = struct{}{}
	e.mu.Unlock()
	return s
}

// Close unsubscribes; C is never closed. Idempotent.
func (s *Subscription) Close() {
	s.e.mu.Lock()
	delete(s.e.subs, s)
	s.e.mu.Unlock()
}

// TakeLost returns how many events were dropped for this subscriber since
// the last call, and resets the count.
func (s *Subscription) TakeLost() int {
	s.e.mu.Lock()
	defer s.e.mu.Unlock()
	n := s.lost
	s.lost = 0
	return n
}

// Publish numbers ev, stamps it (when At is zero) and offers it to every
// subscriber without blocking.
func (e *Events) Publish(ev adminrpc.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seq++
	ev.Seq = e.seq
	if ev.At.IsZero() {
		ev.At = e.now().UTC()
	}
	for s := range e.subs {
		select {
		case s.c <- ev:
		default:
			s.lost++
		}
	}
}

// Tee returns an event sink for the dispatcher that passes every event to
// next (the webhooks) and publishes it here too.
func (e *Events) Tee(next dispatch.EventSink) dispatch.EventSink { return teeSink{next: next, e: e} }

type teeSink struct {
	next dispatch.EventSink
	e    *Events
}

func (t teeSink) Emit(ctx context.Context, teamID, event string, data any) {
	if t.next != nil {
		t.next.Emit(ctx, teamID, event, data)
	}
	ev := adminrpc.Event{Kind: event, TeamID: teamID}
	if m, ok := data.(map[string]any); ok {
		ev.App, _ = m["app"].(string)
		ev.Message, _ = m["message"].(string)
		ev.Data = make(map[string]any, len(m))
		for k, v := range m {
			ev.Data[k] = v
		}
	}
	t.e.Publish(ev)
}

// HubHandler wraps the hub's handler (the dispatcher) and publishes each
// worker's connection and disconnection after the handler has seen it.
func (e *Events) HubHandler(next hub.Handler) hub.Handler { return hubHandler{next: next, e: e} }

type hubHandler struct {
	next hub.Handler
	e    *Events
}

func (h hubHandler) WorkerConnected(ctx context.Context, c *hub.Conn) {
	h.next.WorkerConnected(ctx, c)
	h.e.Publish(adminrpc.Event{Kind: adminrpc.EventWorkerConnected, WorkerID: c.WorkerID()})
}

func (h hubHandler) HandleEnvelope(ctx context.Context, c *hub.Conn, e *wsproto.Envelope) {
	h.next.HandleEnvelope(ctx, c, e)
}

func (h hubHandler) WorkerDisconnected(ctx context.Context, workerID int64) {
	h.next.WorkerDisconnected(ctx, workerID)
	h.e.Publish(adminrpc.Event{Kind: adminrpc.EventWorkerDisconnected, WorkerID: workerID})
}
