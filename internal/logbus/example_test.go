package logbus_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wisehosting/wisehosting/internal/logbus"
)

// follow streams appID's lines to emit until ctx ends: the last backlog
// lines first, then every new line as soon as it is pushed.
func follow(ctx context.Context, bus *logbus.Bus, appID string, backlog int, emit func(logbus.Line)) error {
	// Subscribe before the first Tail: a line pushed after that Tail but
	// before the wait below then leaves a signal in sub.C and is not missed.
	sub := bus.Subscribe(appID)
	defer sub.Close()

	var last uint64
	limit := backlog
	for {
		for _, l := range bus.Tail(appID, last, limit) {
			emit(l)
			last = l.Seq
		}
		limit = 0 // after the backlog, everything since last
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sub.C:
		}
	}
}

func ExampleBus_Subscribe() {
	bus := logbus.New(0, 0) // 1000 lines, 1 hour per app

	// Lines pushed before or after the reader starts are all shown once, in
	// order, however the goroutines are scheduled.
	bus.Push("web", "stdout", "booting", time.Now())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error)
	go func() {
		done <- follow(ctx, bus, "web", 100, func(l logbus.Line) {
			fmt.Println(l.Stream, l.Msg)
			if l.Msg == "ready" {
				cancel()
			}
		})
	}()

	bus.Push("web", "stdout", "listening on :8080", time.Now())
	bus.Push("db", "stdout", "not followed", time.Now())
	bus.Push("web", "stderr", "ready", time.Now())
	fmt.Println(<-done)
	// Output:
	// stdout booting
	// stdout listening on :8080
	// stderr ready
	// context canceled
}
