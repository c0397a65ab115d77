package hub

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// countingHandler counts calls without keeping envelopes, so benchmarks and
// memory measurements see only the hub's own cost.
type countingHandler struct {
	connected, envelopes atomic.Int64
	target               int64
	reached              chan struct{}
}

func (h *countingHandler) WorkerConnected(context.Context, *Conn) { h.connected.Add(1) }
func (h *countingHandler) HandleEnvelope(context.Context, *Conn, *wsproto.Envelope) {
	if h.envelopes.Add(1) == h.target && h.reached != nil {
		close(h.reached)
	}
}
func (h *countingHandler) WorkerDisconnected(context.Context, int64) {}

// seqAuth accepts any bearer "w-<id>".
type seqAuth struct{}

func (seqAuth) AuthenticateWorker(_ context.Context, bearer string) (int64, []byte, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(bearer, "w-"), 10, 64)
	if err != nil || !strings.HasPrefix(bearer, "w-") {
		return 0, nil, fmt.Errorf("bad bearer")
	}
	return id, wsproto.KeyFromAPIKey(bearer), nil
}

// BenchmarkHubThroughput measures one worker sending heartbeats as fast as
// it can over loopback: sealing on the worker, then read, every receiver
// check and delivery in the hub.
func BenchmarkHubThroughput(b *testing.B) {
	h := &countingHandler{target: int64(b.N), reached: make(chan struct{})}
	env := newTestEnvWith(b, Config{}, seqAuth{}, h)
	ws, _, err := testDialer.Dial(env.url(), http.Header{"Authorization": {"Bearer w-1"}})
	if err != nil {
		b.Fatal(err)
	}
	defer ws.Close()
	sender := wsproto.NewSender(wsproto.KeyFromAPIKey("w-1"))
	hb := wsproto.HeartbeatPayload{Status: wsproto.WorkerReady, Apps: []wsproto.HeartbeatApp{
		{AppID: "app-1", ContainerID: "c0ffee", Status: "running", HostPort: 20001},
	}}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		data, err := sender.Seal(wsproto.TypeHeartbeat, hb)
		if err != nil {
			b.Fatal(err)
		}
		if err := ws.WriteMessage(websocket.TextMessage, data); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-h.reached:
	case <-time.After(time.Minute):
		b.Fatalf("hub delivered %d of %d", h.envelopes.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// TestConnMemory measures the hub's memory per idle connection. The clients
// run in a child process (TestConnMemoryClients) so that only the server
// side is counted. WH_HUB_MEM=1 enables it; WH_HUB_MEM_N sets the number of
// connections (default 2000).
func TestConnMemory(t *testing.T) {
	if os.Getenv("WH_HUB_MEM") != "1" {
		t.Skip("set WH_HUB_MEM=1 to measure memory per connection")
	}
	n := 2000
	if s := os.Getenv("WH_HUB_MEM_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	h := &countingHandler{}
	env := newTestEnvWith(t, Config{}, seqAuth{}, h)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()

	cmd := exec.Command(os.Args[0], "-test.run=^TestConnMemoryClients$", "-test.count=1")
	cmd.Env = append(os.Environ(), "WH_HUB_MEM=", "WH_HUB_MEM_CLIENT_URL="+env.url(), "WH_HUB_MEM_N="+strconv.Itoa(n))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for h.envelopes.Load() < int64(n) {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("only %d of %d workers reported; client output:\n%s", h.envelopes.Load(), n, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	g1 := runtime.NumGoroutine()

	per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) / 1024 }
	heap := per(after.HeapInuse, before.HeapInuse)
	stack := per(after.StackInuse, before.StackInuse)
	t.Logf("%d connections (server side only): heap-in-use %.1f KB/conn, live heap %.1f KB/conn, stacks %.1f KB/conn, heap+stacks %.1f KB/conn, %.2f goroutines/conn",
		n, heap, per(after.HeapAlloc, before.HeapAlloc), stack, heap+stack, float64(g1-g0)/float64(n))
	if env.hub.Count() != n {
		t.Errorf("Count = %d, want %d", env.hub.Count(), n)
	}

	_ = stdin.Close() // the child closes its connections and exits
	if err := cmd.Wait(); err != nil {
		t.Fatalf("client process: %v\n%s", err, out.String())
	}
}

// TestConnMemoryClients is TestConnMemory's child process: it opens the
// connections, sends one heartbeat on each, and holds them idle until its
// stdin closes.
func TestConnMemoryClients(t *testing.T) {
	url := os.Getenv("WH_HUB_MEM_CLIENT_URL")
	if url == "" {
		t.Skip("helper process for TestConnMemory")
	}
	n, err := strconv.Atoi(os.Getenv("WH_HUB_MEM_N"))
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]*websocket.Conn, 0, n)
	defer func() {
		for _, ws := range conns {
			ws.Close()
		}
	}()
	for i := 1; i <= n; i++ {
		bearer := "w-" + strconv.Itoa(i)
		ws, _, err := testDialer.Dial(url, http.Header{"Authorization": {"Bearer " + bearer}})
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, ws)
		data, err := wsproto.NewSender(wsproto.KeyFromAPIKey(bearer)).Seal(wsproto.TypeHeartbeat, wsproto.HeartbeatPayload{Status: wsproto.WorkerReady})
		if err != nil {
			t.Fatal(err)
		}
		if err := ws.WriteMessage(websocket.TextMessage, data); err != nil {
			t.Fatal(err)
		}
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
}
