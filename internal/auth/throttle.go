package auth

import (
	"sync"
	"time"
)

// Throttle limits failed attempts per key (an email, an IP address): after
// Max failures within Window, the key is refused until the oldest of them
// ages out. Memory is bounded: stale keys are swept as new ones arrive.
// State is per process, which is what login throttling needs; a restart
// forgives everyone, at worst, once.
type Throttle struct {
	Max    int
	Window time.Duration

	mu    sync.Mutex
	fails map[string][]time.Time
	now   func() time.Time
	swept time.Time
}

// NewThrottle allows max failures per window.
func NewThrottle(max int, window time.Duration) *Throttle {
	return &Throttle{Max: max, Window: window, fails: map[string][]time.Time{}, now: time.Now}
}

// Allowed reports whether key may try now, and if not, how long to wait.
func (t *Throttle) Allowed(key string) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	f := t.recent(key, now)
	if len(f) < t.Max {
		return true, 0
	}
	return false, f[0].Add(t.Window).Sub(now)
}

// Fail records a failed attempt.
func (t *Throttle) Fail(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.fails[key] = append(t.recent(key, now), now)
	if now.Sub(t.swept) > t.Window {
		for k := range t.fails {
			if len(t.recent(k, now)) == 0 {
				delete(t.fails, k)
			}
		}
		t.swept = now
	}
}

// Reset forgets a key's failures (after a successful login).
func (t *Throttle) Reset(key string) {
	t.mu.Lock()
	delete(t.fails, key)
	t.mu.Unlock()
}

// recent drops failures older than the window and returns the rest.
func (t *Throttle) recent(key string, now time.Time) []time.Time {
	f := t.fails[key]
	i := 0
	for i < len(f) && now.Sub(f[i]) >= t.Window {
		i++
	}
	if i > 0 {
		f = append(f[:0:0], f[i:]...)
		if len(f) == 0 {
			delete(t.fails, key)
		} else {
			t.fails[key] = f
		}
	}
	return f
}
