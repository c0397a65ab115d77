package notify

import (
	"testing"
	"time"
)

func TestBroker(t *testing.T) {
	b := New()
	s := b.Subscribe("a", "b")
	other := b.Subscribe("c")
	b.Publish("a")
	b.Publish("b") // coalesces with the pending signal
	select {
	case <-s.C:
	case <-time.After(time.Second):
		t.Fatal("no signal")
	}
	select {
	case <-s.C:
		t.Fatal("signals did not coalesce")
	case <-other.C:
		t.Fatal("wrong subscriber woken")
	default:
	}
	s.Close()
	s.Close()
	b.Publish("a")
	select {
	case <-s.C:
		t.Fatal("signal after Close")
	default:
	}
	other.Close()
	if len(b.subs) != 0 {
		t.Fatalf("subscriptions leak: %v", b.subs)
	}
}
