package logbus

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// fullBus returns a bus with n apps ("app-0"...) each holding a full ring of
// DefaultMaxKeep lines, and their IDs.
func fullBus(n int) (*Bus, []string) {
	b := New(0, 0)
	ids := make([]string, n)
	now := time.Now()
	for i := range ids {
		ids[i] = "app-" + strconv.Itoa(i)
		for range DefaultMaxKeep {
			b.Push(ids[i], "stdout", "a typical log line of moderate length", now)
		}
	}
	return b, ids
}

// BenchmarkPush is the steady state of a busy app: the ring is full and every
// Push overwrites the oldest line.
func BenchmarkPush(b *testing.B) {
	bus, ids := fullBus(1)
	at := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		bus.Push(ids[0], "stdout", "a typical log line of moderate length", at)
	}
}

// BenchmarkPushSubscribed is BenchmarkPush with one idle subscriber, whose
// channel is full after the first signal (the common case between reads).
func BenchmarkPushSubscribed(b *testing.B) {
	bus, ids := fullBus(1)
	sub := bus.Subscribe(ids[0])
	defer sub.Close()
	at := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		bus.Push(ids[0], "stdout", "a typical log line of moderate length", at)
	}
}

func BenchmarkPushParallel(b *testing.B) {
	bus, ids := fullBus(8)
	at := time.Now()
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := ids[int(next.Add(1))%len(ids)]
		for pb.Next() {
			bus.Push(id, "stdout", "a typical log line of moderate length", at)
		}
	})
}

func BenchmarkTail(b *testing.B) {
	bus, ids := fullBus(1)
	b.ReportAllocs()
	for b.Loop() {
		if got := bus.Tail(ids[0], 0, 100); len(got) != 100 {
			b.Fatalf("got %d lines", len(got))
		}
	}
}

func BenchmarkTailMulti(b *testing.B) {
	bus, ids := fullBus(5)
	b.ReportAllocs()
	for b.Loop() {
		if got := bus.TailMulti(ids, 0, 100); len(got) != 100 {
			b.Fatalf("got %d lines", len(got))
		}
	}
}
