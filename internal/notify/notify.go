// Package notify wakes in-process readers when something they follow
// changes (a deployment's build log grew, its status moved), so live streams
// wait on a channel instead of polling the database. A signal carries no
// data: the reader re-reads its source, which stays the truth.
package notify

import "sync"

// Broker fans change signals out to subscribers by key.
type Broker struct {
	mu   sync.Mutex
	subs map[string]map[*Sub]struct{}
}

// New returns an empty broker.
func New() *Broker { return &Broker{subs: map[string]map[*Sub]struct{}{}} }

// Sub receives a coalesced signal on C after each Publish of its keys.
type Sub struct {
	C    <-chan struct{}
	c    chan struct{}
	b    *Broker
	keys []string
	once sync.Once
}

// Subscribe follows keys until Close. Subscribe before reading the source,
// so a change between the read and the wait is never missed.
func (b *Broker) Subscribe(keys ...string) *Sub {
	c := make(chan struct{}, 1)
	s := &Sub{C: c, c: c, b: b, keys: keys}
	b.mu.Lock()
	for _, k := range keys {
		m := b.subs[k]
		if m == nil {
			m = map[*Sub]struct{}{}
			b.subs[k] = m
		}
		m[s] = struct{}{}
	}
	b.mu.Unlock()
	return s
}

// Publish signals every subscriber of key without blocking.
func (b *Broker) Publish(key string) {
	b.mu.Lock()
	for s := range b.subs[key] {
		select {
		case s.c <- struct{}{}:
		default: // a signal is already pending; they coalesce
		}
	}
	b.mu.Unlock()
}

// Close unsubscribes; it is idempotent.
func (s *Sub) Close() {
	s.once.Do(func() {
		s.b.mu.Lock()
		for _, k := range s.keys {
			delete(s.b.subs[k], s)
			if len(s.b.subs[k]) == 0 {
				delete(s.b.subs, k)
			}
		}
		s.b.mu.Unlock()
	})
}
