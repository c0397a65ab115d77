package logbus

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for the Bus.now hook.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// newTestBus returns a bus whose clock starts at t0.
func newTestBus(maxKeep int, maxAge time.Duration) (*Bus, *fakeClock) {
	b := New(maxKeep, maxAge)
	clk := &fakeClock{t: t0}
	b.now = clk.Now
	return b, clk
}

// pushN pushes msgs "0".."n-1" to app at the bus clock's current time.
func pushN(b *Bus, app string, n int) {
	for i := range n {
		b.Push(app, "stdout", strconv.Itoa(i), b.now())
	}
}

func msgs(lines []Line) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.Msg
	}
	return out
}

func seqs(lines []Line) []uint64 {
	out := make([]uint64, len(lines))
	for i, l := range lines {
		out[i] = l.Seq
	}
	return out
}

func rangeMsgs(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, strconv.Itoa(i))
	}
	return out
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestNewDefaults(t *testing.T) {
	tests := []struct {
		name     string
		keep     int
		age      time.Duration
		wantKeep int
		wantAge  time.Duration
	}{
		{"zero", 0, 0, DefaultMaxKeep, DefaultMaxAge},
		{"negative", -5, -time.Second, DefaultMaxKeep, DefaultMaxAge},
		{"explicit", 10, time.Minute, 10, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(tt.keep, tt.age)
			if b.maxKeep != tt.wantKeep || b.maxAge != tt.wantAge {
				t.Fatalf("New(%d, %v) = keep %d, age %v; want %d, %v",
					tt.keep, tt.age, b.maxKeep, b.maxAge, tt.wantKeep, tt.wantAge)
			}
		})
	}
	if DefaultMaxKeep != 1000 || DefaultMaxAge != time.Hour {
		t.Fatalf("defaults = %d, %v; want 1000, 1h", DefaultMaxKeep, DefaultMaxAge)
	}
}

func TestPushSeqAndFields(t *testing.T) {
	b, _ := newTestBus(0, 0)
	at := t0.Add(-time.Second)
	for i, app := range []string{"a", "b", "a"} {
		if got := b.Push(app, "stderr", "m"+app, at); got != uint64(i+1) {
			t.Fatalf("Push #%d returned seq %d, want %d", i, got, i+1)
		}
	}
	got := b.Tail("a", 0, 0)
	want := []Line{
		{Seq: 1, AppID: "a", Stream: "stderr", Msg: "ma", At: at},
		{Seq: 3, AppID: "a", Stream: "stderr", Msg: "ma", At: at},
	}
	if !equal(got, want) {
		t.Fatalf("Tail = %+v, want %+v", got, want)
	}
}

func TestPushZeroTimeUsesClock(t *testing.T) {
	b, _ := newTestBus(0, 0)
	b.Push("a", "stdout", "x", time.Time{})
	got := b.Tail("a", 0, 0)
	if len(got) != 1 || !got[0].At.Equal(t0) {
		t.Fatalf("Tail = %+v, want one line at %v", got, t0)
	}
}

func TestCountEviction(t *testing.T) {
	tests := []struct {
		name    string
		maxKeep int
		pushed  int
	}{
		{"under capacity", 10, 7},
		{"exactly full", 10, 10},
		{"one over", 10, 11},
		{"wrapped several times", 10, 37},
		{"keep one", 1, 5},
		{"not a growth step", 13, 100}, // capacity 8 → 13, not a power of two
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := newTestBus(tt.maxKeep, 0)
			pushN(b, "a", tt.pushed)
			want := rangeMsgs(max(0, tt.pushed-tt.maxKeep), tt.pushed)
			if got := msgs(b.Tail("a", 0, 0)); !equal(got, want) {
				t.Fatalf("Tail = %v, want %v", got, want)
			}
			if c := len(b.apps["a"].buf); c > tt.maxKeep {
				t.Fatalf("ring capacity %d exceeds maxKeep %d", c, tt.maxKeep)
			}
		})
	}
}

func TestRingGrowsLazily(t *testing.T) {
	b, _ := newTestBus(1000, 0)
	b.Push("quiet", "stdout", "hi", t0)
	if c := len(b.apps["quiet"].buf); c != minRingCap {
		t.Fatalf("capacity after one line = %d, want %d", c, minRingCap)
	}
	pushN(b, "busy", 5000)
	if c := len(b.apps["busy"].buf); c != 1000 {
		t.Fatalf("capacity of busy app = %d, want 1000", c)
	}
}

func TestAgeEviction(t *testing.T) {
	b, clk := newTestBus(100, time.Hour)
	b.Push("a", "stdout", "old", t0)                       // expires at t0+1h
	b.Push("a", "stdout", "mid", t0.Add(30*time.Minute))   // expires at t0+1h30
	b.Push("a", "stdout", "new", t0.Add(50*time.Minute))   // expires at t0+1h50
	b.Push("b", "stdout", "other", t0.Add(10*time.Minute)) // expires at t0+1h10

	tests := []struct {
		name    string
		advance time.Duration // from t0
		wantA   []string
		wantAll []string
	}{
		{"nothing expired", 50 * time.Minute, []string{"old", "mid", "new"}, []string{"old", "mid", "new", "other"}},
		{"exactly maxAge old is kept", time.Hour, []string{"old", "mid", "new"}, []string{"old", "mid", "new", "other"}},
		{"oldest expired", time.Hour + time.Nanosecond, []string{"mid", "new"}, []string{"mid", "new", "other"}},
		{"two expired", time.Hour + 40*time.Minute, []string{"new"}, []string{"new"}},
		{"all expired", 3 * time.Hour, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk.mu.Lock()
			clk.t = t0.Add(tt.advance)
			clk.mu.Unlock()
			if got := msgs(b.Tail("a", 0, 0)); !equal(got, tt.wantA) {
				t.Errorf("Tail = %v, want %v", got, tt.wantA)
			}
			if got := msgs(b.TailMulti([]string{"a", "b"}, 0, 0)); !equal(got, tt.wantAll) {
				t.Errorf("TailMulti = %v, want %v", got, tt.wantAll)
			}
		})
	}
}

func TestAgeOutOfOrderTimestamps(t *testing.T) {
	// Worker clocks differ, so an expired line can sit between current ones.
	b, clk := newTestBus(100, time.Hour)
	b.Push("a", "stdout", "x", t0.Add(50*time.Minute))
	b.Push("a", "stdout", "late", t0)
	b.Push("a", "stdout", "y", t0.Add(50*time.Minute))
	b.Push("a", "stdout", "z", t0.Add(50*time.Minute))
	clk.Advance(time.Hour + time.Second)

	tests := []struct {
		name  string
		since uint64
		limit int
		want  []string
	}{
		{"all", 0, 0, []string{"x", "y", "z"}},
		{"limit reaches past the expired line", 0, 3, []string{"x", "y", "z"}},
		{"limit stops before the expired line", 0, 2, []string{"y", "z"}},
		{"since skips it", 2, 0, []string{"y", "z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := msgs(b.Tail("a", tt.since, tt.limit)); !equal(got, tt.want) {
				t.Errorf("Tail = %v, want %v", got, tt.want)
			}
			if got := msgs(b.TailMulti([]string{"a"}, tt.since, tt.limit)); !equal(got, tt.want) {
				t.Errorf("TailMulti = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPushEvictsExpiredHead(t *testing.T) {
	b, clk := newTestBus(100, time.Hour)
	for i := range 50 {
		b.Push("a", "stdout", "old", t0.Add(time.Duration(i)*time.Second))
	}
	if c := len(b.apps["a"].buf); c != 64 {
		t.Fatalf("capacity = %d, want 64", c)
	}

	clk.Advance(2 * time.Hour)
	b.Push("a", "stdout", "new", clk.Now())
	r := b.apps["a"]
	if r.n != 1 || r.oldest().Msg != "new" {
		t.Fatalf("after push ring holds %d lines starting %q; want only \"new\"", r.n, r.oldest().Msg)
	}
	if c := len(r.buf); c != minRingCap {
		t.Fatalf("capacity after full expiry = %d, want it shrunk to %d", c, minRingCap)
	}
}

func TestPushWithFutureTimestampKeepsCurrentLines(t *testing.T) {
	// A worker whose clock is 2h ahead must not flush lines that the bus
	// clock says are current.
	b, clk := newTestBus(100, time.Hour)
	pushN(b, "a", 3)
	clk.Advance(time.Minute)
	b.Push("a", "stdout", "future", clk.Now().Add(2*time.Hour))
	want := []string{"0", "1", "2", "future"}
	if got := msgs(b.Tail("a", 0, 0)); !equal(got, want) {
		t.Fatalf("Tail = %v, want %v", got, want)
	}
	if n := b.apps["a"].n; n != 4 {
		t.Fatalf("ring holds %d lines, want 4", n)
	}
}

func TestTailSinceAndLimit(t *testing.T) {
	b, _ := newTestBus(10, 0)
	b.Push("other", "stdout", "x", t0) // seq 1: Seqs of "a" are not contiguous
	pushN(b, "a", 15)                  // seqs 2..16, ring holds msgs 5..14 = seqs 7..16

	tests := []struct {
		name  string
		app   string
		since uint64
		limit int
		want  []string
	}{
		{"all", "a", 0, 0, rangeMsgs(5, 15)},
		{"negative limit is no cap", "a", 0, -1, rangeMsgs(5, 15)},
		{"limit keeps newest", "a", 0, 3, rangeMsgs(12, 15)},
		{"limit larger than available", "a", 0, 500, rangeMsgs(5, 15)},
		{"since before oldest kept", "a", 3, 0, rangeMsgs(5, 15)},
		{"since in the middle", "a", 12, 0, rangeMsgs(11, 15)},
		{"since and limit", "a", 12, 2, rangeMsgs(13, 15)},
		{"since and generous limit", "a", 12, 10, rangeMsgs(11, 15)},
		{"since newest", "a", 16, 0, nil},
		{"since beyond newest", "a", 1000, 5, nil},
		{"unknown app", "nope", 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := b.Tail(tt.app, tt.since, tt.limit)
			if !equal(msgs(got), tt.want) {
				t.Fatalf("Tail(%q, %d, %d) = %v, want %v", tt.app, tt.since, tt.limit, msgs(got), tt.want)
			}
			if tt.want == nil && got != nil {
				t.Fatalf("Tail = %#v, want nil", got)
			}
			for _, l := range got {
				if l.Seq <= tt.since {
					t.Fatalf("line seq %d not after since %d", l.Seq, tt.since)
				}
			}
		})
	}
}

func TestTailMulti(t *testing.T) {
	b, _ := newTestBus(4, 0)
	// Interleave pushes: a1 b1 c1 a2 b2 a3 ... (seq 1, 2, 3, ...)
	order := []string{"a", "b", "c", "a", "b", "a", "c", "a", "a", "b"}
	for i, app := range order {
		b.Push(app, "stdout", fmt.Sprintf("%s%d", app, i+1), t0)
	}
	// "a" holds seqs 4,6,8,9 (seq 1 evicted, maxKeep 4), "b" 2,5,10, "c" 3,7.

	tests := []struct {
		name  string
		apps  []string
		since uint64
		limit int
		want  []uint64
	}{
		{"two apps", []string{"a", "b"}, 0, 0, []uint64{2, 4, 5, 6, 8, 9, 10}},
		{"three apps", []string{"c", "a", "b"}, 0, 0, []uint64{2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"limit", []string{"a", "b", "c"}, 0, 4, []uint64{7, 8, 9, 10}},
		{"limit dominated by one app", []string{"a", "c"}, 0, 3, []uint64{7, 8, 9}},
		{"since", []string{"a", "b", "c"}, 6, 0, []uint64{7, 8, 9, 10}},
		{"since and limit", []string{"b", "c"}, 2, 2, []uint64{7, 10}},
		{"limit larger than available", []string{"b", "c"}, 0, 100, []uint64{2, 3, 5, 7, 10}},
		{"duplicates ignored", []string{"b", "b", "c", "b"}, 0, 0, []uint64{2, 3, 5, 7, 10}},
		{"unknown apps ignored", []string{"x", "c", "y"}, 0, 0, []uint64{3, 7}},
		{"since beyond newest", []string{"a", "b", "c"}, 10, 0, nil},
		{"only unknown", []string{"x"}, 0, 0, nil},
		{"no apps", nil, 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := b.TailMulti(tt.apps, tt.since, tt.limit)
			if !equal(seqs(got), tt.want) {
				t.Fatalf("TailMulti(%v, %d, %d) seqs = %v, want %v", tt.apps, tt.since, tt.limit, seqs(got), tt.want)
			}
			if tt.want == nil && got != nil {
				t.Fatalf("TailMulti = %#v, want nil", got)
			}
			for _, l := range got {
				if want := fmt.Sprintf("%s%d", l.AppID, l.Seq); l.Msg != want {
					t.Fatalf("line %+v: msg %q, want %q", l, l.Msg, want)
				}
			}
		})
	}
}

func TestDrop(t *testing.T) {
	b, _ := newTestBus(0, 0)
	pushN(b, "a", 3)
	pushN(b, "b", 2)
	b.Drop("a")
	b.Drop("never-existed") // no-op

	if got := b.Tail("a", 0, 0); got != nil {
		t.Fatalf("Tail after Drop = %v, want nil", msgs(got))
	}
	if _, ok := b.apps["a"]; ok {
		t.Fatal("dropped app still has a ring")
	}
	if got := msgs(b.TailMulti([]string{"a", "b"}, 0, 0)); !equal(got, rangeMsgs(0, 2)) {
		t.Fatalf("TailMulti after Drop = %v, want b's lines", got)
	}
	// Seqs keep increasing after Drop, so resuming readers never go back.
	if seq := b.Push("a", "stdout", "again", t0); seq != 6 {
		t.Fatalf("Push after Drop got seq %d, want 6", seq)
	}
	if got := msgs(b.Tail("a", 0, 0)); !equal(got, []string{"again"}) {
		t.Fatalf("Tail = %v, want [again]", got)
	}
}

func TestResultsDoNotAliasRing(t *testing.T) {
	b, _ := newTestBus(4, 0)
	pushN(b, "a", 6) // wrapped ring
	pushN(b, "b", 2)

	for name, tail := range map[string]func() []Line{
		"Tail":      func() []Line { return b.Tail("a", 0, 0) },
		"TailMulti": func() []Line { return b.TailMulti([]string{"a", "b"}, 0, 0) },
	} {
		t.Run(name, func(t *testing.T) {
			first := tail()
			want := msgs(first)
			for i := range first {
				first[i].Msg = "mutated"
				first[i].Seq = 0
			}
			_ = append(first[:1], Line{Msg: "appended"})
			if got := msgs(tail()); !equal(got, want) {
				t.Fatalf("after mutating a result, tail = %v, want %v", got, want)
			}
		})
	}
}

// recv reports whether a signal is pending on s without waiting. Push and
// Drop send synchronously, so after they return a signal is either there or
// will never come.
func recv(s *Subscription) bool {
	select {
	case <-s.C:
		return true
	default:
		return false
	}
}

func TestSubscribeWakesQuickly(t *testing.T) {
	b := New(0, 0)
	sub := b.Subscribe("a")
	defer sub.Close()

	woke := make(chan time.Time)
	go func() {
		<-sub.C
		woke <- time.Now()
	}()
	time.Sleep(10 * time.Millisecond) // let the reader block first
	start := time.Now()
	b.Push("a", "stdout", "hello", start)
	select {
	case at := <-woke:
		d := at.Sub(start)
		t.Logf("wake-up latency: %v", d)
		if d >= 100*time.Millisecond {
			t.Fatalf("subscriber woke after %v, want < 100ms", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("subscriber not woken")
	}
}

func TestSubscribeSignals(t *testing.T) {
	t.Run("coalesce", func(t *testing.T) {
		b := New(0, 0)
		sub := b.Subscribe("a")
		defer sub.Close()
		for range 3 {
			b.Push("a", "stdout", "x", time.Now())
		}
		if !recv(sub) {
			t.Fatal("no signal after pushes")
		}
		if recv(sub) {
			t.Fatal("second signal: pushes did not coalesce")
		}
		if got := len(b.Tail("a", 0, 0)); got != 3 {
			t.Fatalf("Tail returned %d lines, want 3", got)
		}
	})

	t.Run("other app does not wake", func(t *testing.T) {
		b := New(0, 0)
		sub := b.Subscribe("a")
		defer sub.Close()
		b.Push("b", "stdout", "x", time.Now())
		b.Drop("b")
		if recv(sub) {
			t.Fatal("subscriber of a woken by b")
		}
	})

	t.Run("multi-app subscription", func(t *testing.T) {
		b := New(0, 0)
		sub := b.Subscribe("a", "b", "a") // duplicate is harmless
		defer sub.Close()
		for _, app := range []string{"a", "b"} {
			b.Push(app, "stdout", "x", time.Now())
			if !recv(sub) {
				t.Fatalf("no signal for %s", app)
			}
		}
		if n := len(b.apps["a"].subs); n != 1 {
			t.Fatalf("a has %d subscriber entries, want 1", n)
		}
	})

	t.Run("drop wakes and keeps subscription", func(t *testing.T) {
		b := New(0, 0)
		pushN(b, "a", 2)
		sub := b.Subscribe("a")
		defer sub.Close()
		b.Drop("a")
		if !recv(sub) {
			t.Fatal("Drop did not wake subscriber")
		}
		if got := b.Tail("a", 0, 0); got != nil {
			t.Fatalf("Tail after Drop = %v, want nil", msgs(got))
		}
		b.Push("a", "stdout", "back", time.Now())
		if !recv(sub) {
			t.Fatal("Push after Drop did not wake subscriber")
		}
	})

	t.Run("subscribe before first line", func(t *testing.T) {
		b := New(0, 0)
		sub := b.Subscribe("new")
		if got := b.Tail("new", 0, 0); got != nil {
			t.Fatalf("Tail of subscribed, empty app = %v, want nil", got)
		}
		b.Push("new", "stdout", "x", time.Now())
		if !recv(sub) {
			t.Fatal("no signal for first line")
		}
		sub.Close()
	})

	t.Run("close unregisters and is idempotent", func(t *testing.T) {
		b := New(0, 0)
		keep := b.Subscribe("a")
		defer keep.Close()
		sub := b.Subscribe("a", "empty")
		sub.Close()
		sub.Close()
		b.Push("a", "stdout", "x", time.Now())
		if recv(sub) {
			t.Fatal("closed subscription was signalled")
		}
		if !recv(keep) {
			t.Fatal("other subscription lost its registration")
		}
		if n := len(b.apps["a"].subs); n != 1 {
			t.Fatalf("a has %d subscribers, want 1", n)
		}
		if _, ok := b.apps["empty"]; ok {
			t.Fatal("ring created only for the closed subscriber was not removed")
		}
		b.Drop("a")
		keep.Close()
		if _, ok := b.apps["a"]; ok {
			t.Fatal("dropped app's ring kept after its last subscriber closed")
		}
	})
}

// TestConcurrent runs writers, tailing readers, followers and churning
// subscribers at once; run it with -race.
func TestConcurrent(t *testing.T) {
	const (
		writers   = 4
		perWriter = 1000
		sentinel  = "EOF"
	)
	apps := []string{"a", "b", "c"}
	// Each writer sends perWriter lines to every app, so nothing is evicted
	// with this capacity and followers must see every line.
	b := New(writers*perWriter+1, 0)

	var wg sync.WaitGroup
	errs := make(chan error, 100)
	fail := func(format string, args ...any) {
		select {
		case errs <- fmt.Errorf(format, args...):
		default:
		}
	}

	// checkOrder reports whether seqs strictly increase within one result.
	checkOrder := func(who string, lines []Line) bool {
		for i := 1; i < len(lines); i++ {
			if lines[i].Seq <= lines[i-1].Seq {
				fail("%s: seq %d after %d", who, lines[i].Seq, lines[i-1].Seq)
				return false
			}
		}
		return true
	}

	// Followers: one per app with Tail, one over all apps with TailMulti.
	// Each must receive every line exactly once, in each writer's order.
	follow := func(name string, ids []string, tail func(uint64) []Line) {
		defer wg.Done()
		sub := b.Subscribe(ids...)
		defer sub.Close()
		next := make(map[string]int) // "app/writer" → next expected counter
		done := 0
		var last uint64
		rounds := 0
		defer func() { t.Logf("%s: %d tails", name, rounds) }()
		for {
			rounds++
			lines := tail(last)
			if !checkOrder(name, lines) {
				return
			}
			for _, l := range lines {
				if l.Seq <= last {
					fail("%s: seq %d not after since %d", name, l.Seq, last)
					return
				}
				last = l.Seq
				if l.Msg == sentinel {
					done++
					continue
				}
				w, n, _ := strings.Cut(l.Msg, "/")
				i, _ := strconv.Atoi(n)
				key := l.AppID + "/" + w
				if i != next[key] {
					fail("%s: %s got line %d, want %d (line lost or repeated)", name, key, i, next[key])
					return
				}
				next[key]++
			}
			if done == len(ids) {
				break
			}
			select {
			case <-sub.C:
			case <-time.After(10 * time.Second):
				fail("%s: no signal for 10s, last seq %d", name, last)
				return
			}
		}
		for _, app := range ids {
			for w := range writers {
				if got := next[fmt.Sprintf("%s/%d", app, w)]; got != perWriter {
					fail("%s: %s/%d received %d lines, want %d", name, app, w, got, perWriter)
				}
			}
		}
	}
	for _, app := range apps {
		wg.Add(1)
		go follow("follow "+app, []string{app}, func(since uint64) []Line {
			return b.Tail(app, since, 0)
		})
	}
	wg.Add(1)
	go follow("follow all", apps, func(since uint64) []Line {
		return b.TailMulti(apps, since, 0)
	})

	stop := make(chan struct{})
	var bg sync.WaitGroup

	// Snapshot readers with limits.
	for r := range 3 {
		bg.Add(1)
		go func() {
			defer bg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				limit := 1 + rng.IntN(50)
				var got []Line
				if r%2 == 0 {
					got = b.Tail(apps[rng.IntN(len(apps))], 0, limit)
				} else {
					got = b.TailMulti(append(apps, "churn"), 0, limit)
				}
				if limit > 0 && len(got) > limit {
					fail("snapshot: %d lines for limit %d", len(got), limit)
				}
				checkOrder("snapshot", got)
				time.Sleep(50 * time.Microsecond)
			}
		}()
	}

	// Churn: an app that is pushed to, dropped, and subscribed to in a loop.
	bg.Add(1)
	go func() {
		defer bg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			sub := b.Subscribe("churn", apps[i%len(apps)])
			b.Push("churn", "stdout", "x", time.Now())
			if i%10 == 0 {
				b.Drop("churn")
			}
			sub.Close()
			sub.Close()
		}
	}()

	var writersWG sync.WaitGroup
	for w := range writers {
		writersWG.Add(1)
		go func() {
			defer writersWG.Done()
			for i := range perWriter {
				for _, app := range apps {
					b.Push(app, "stdout", fmt.Sprintf("%d/%d", w, i), time.Now())
				}
			}
		}()
	}
	writersWG.Wait()
	for _, app := range apps {
		b.Push(app, "stdout", sentinel, time.Now())
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
