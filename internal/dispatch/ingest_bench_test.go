package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/wisehosting/wisehosting/internal/logbus"
	"github.com/wisehosting/wisehosting/internal/logstore"
	"github.com/wisehosting/wisehosting/internal/store"
	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// The ingest writer's steady state at 10,000 workers, without the network
// (docs/BENCHMARKS.md, "Ingest writer"):
//
//	go test -run '^$' -bench IngestSteadyState -benchtime 400x ./internal/dispatch/
//
// 10,000 apps, each on its own worker, with runtime logs (in their files)
// and stats already stored (so the indexes are larger than a small cache), then one full
// batch per iteration through flushIngest, in the mix 10,000 workers send:
// a runtime_log of 5 lines every 3 s, an app_stats every 10 s and a
// heartbeat every 30 s per worker, 4,667 messages/s in all.
const (
	benchApps         = 10_000
	benchLinesPerMsg  = 5
	benchPrefillLines = 1_000_000 // 100 lines an app
	benchPrefillStats = 200_000   // 20 samples an app
	benchMsgsPerSec   = 4667
)

type ingestBench struct {
	d       *Dispatcher
	apps    []string // app ids, in the order reports go round
	workers []int64  // workers[i] runs apps[i]
	next    [3]int   // round-robin position of each kind in apps
	seq     int
}

func newIngestBench(b *testing.B) *ingestBench {
	b.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, b.TempDir()+"/bench.db", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	u, team := &store.User{Email: "bench@example.com"}, &store.Team{Name: "bench", Slug: "bench"}
	if err := st.CreateUserWithTeam(ctx, u, team); err != nil {
		b.Fatal(err)
	}
	rlogs, err := logstore.Open(b.TempDir()+"/logs", logstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rlogs.Close() })
	ib := &ingestBench{d: New(st, rlogs, nil, logbus.New(16, 10*time.Minute), nil, slog.New(slog.DiscardHandler))}
	for i := range benchApps {
		w := &store.Worker{Name: fmt.Sprintf("w%05d", i), APIKeyHash: fmt.Sprintf("%064x", i)}
		if err := st.CreateWorker(ctx, w); err != nil {
			b.Fatal(err)
		}
		a := &store.App{TeamID: team.ID, Name: fmt.Sprintf("app%05d", i)}
		if err := st.CreateApp(ctx, a); err != nil {
			b.Fatal(err)
		}
		if err := st.UpdateAppRuntime(ctx, a.ID, store.AppRuntime{Status: "running", WorkerID: w.ID, HostPort: 20000 + i}); err != nil {
			b.Fatal(err)
		}
		ib.apps, ib.workers = append(ib.apps, a.ID), append(ib.workers, w.ID)
	}
	// Reports arrive from workers in no particular order.
	perm := rand.New(rand.NewPCG(1, 2)).Perm(benchApps)
	apps, workers := make([]string, benchApps), make([]int64, benchApps)
	for i, p := range perm {
		apps[i], workers[i] = ib.apps[p], ib.workers[p]
	}
	ib.apps, ib.workers = apps, workers

	// History: every app has a log file already.
	start := time.Now().Add(-time.Hour)
	for i, app := range ib.apps {
		lines := make([]logstore.Line, benchPrefillLines/benchApps)
		for n := range lines {
			lines[n] = logstore.Line{Stream: "stdout", At: start.Add(time.Duration(n) * time.Second), Msg: ib.logMsg(i*len(lines)+n, n%benchLinesPerMsg)}
		}
		if err := rlogs.Append(app, lines); err != nil {
			b.Fatal(err)
		}
	}
	var stats []store.AppStat
	for n := range benchPrefillStats {
		stats = append(stats, store.AppStat{AppID: ib.apps[n%benchApps], At: start.Add(time.Duration(n) * time.Millisecond),
			CPUPercent: 1.5, MemBytes: 64 << 20, MemLimitBytes: 256 << 20, NetRxBytes: int64(n), NetTxBytes: int64(n), PIDs: 4})
		if len(stats) >= 1000 {
			if err := st.InsertAppStats(ctx, stats); err != nil {
				b.Fatal(err)
			}
			stats = stats[:0]
		}
	}
	return ib
}

// logMsg is a ~200-byte access log line.
func (ib *ingestBench) logMsg(n, k int) string {
	return fmt.Sprintf("%s 10.0.%d.%d - - \"GET /api/v1/items/%d?page=%d HTTP/1.1\" 200 %d \"-\" \"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\" rt=0.%03d",
		time.Now().UTC().Format(time.RFC3339), n%256, k, n, k, 1000+n%9000, n%1000)
}

// batch returns the next full batch in the steady-state mix: per 14
// messages, 10 runtime_log, 3 app_stats and 1 heartbeat.
func (ib *ingestBench) batch() []ingestItem {
	out := make([]ingestItem, 0, benchBatchItems)
	now := time.Now()
	for len(out) < benchBatchItems {
		ib.seq++
		kind := 0
		switch r := ib.seq % 14; {
		case r == 0:
			kind = 2
		case r <= 3:
			kind = 1
		}
		i := ib.next[kind]
		ib.next[kind] = (i + 1) % benchApps
		app, wid := ib.apps[i], ib.workers[i]
		switch kind {
		case 0:
			ls := make([]wsproto.RuntimeLogLine, benchLinesPerMsg)
			for k := range ls {
				ls[k] = wsproto.RuntimeLogLine{AppID: app, Stream: "stdout", At: now, Msg: ib.logMsg(ib.seq, k)}
			}
			out = append(out, ingestItem{workerID: wid, logs: ls})
		case 1:
			out = append(out, ingestItem{workerID: wid, stats: &wsproto.AppStatsPayload{At: now, Apps: []wsproto.AppStatLine{{
				AppID: app, CPUPercent: 2.5, MemBytes: 80 << 20, MemLimitBytes: 256 << 20, NetRxBytes: int64(ib.seq), NetTxBytes: int64(ib.seq), PIDs: 5}}}})
		case 2:
			out = append(out, ingestItem{workerID: wid, heartbeat: &heartbeatItem{at: now,
				resources: `{"cpu_percent":12.5,"mem_used_bytes":2147483648,"mem_total_bytes":8589934592,"disk_used_bytes":10737418240,"disk_total_bytes":107374182400,"load1":0.42}`,
				appsJSON:  fmt.Sprintf(`[{"app_id":%q,"container_id":"c0ffee","status":"running","host_port":%d}]`, app, 20000+i),
				apps:      []wsproto.HeartbeatApp{{AppID: app, ContainerID: "c0ffee", Status: "running"}}}})
		}
	}
	return out
}

// benchBatchItems is one batch: what 10,000 workers send in ingestMaxWait.
const benchBatchItems = 466

func BenchmarkIngestSteadyState(b *testing.B) {
	ib := newIngestBench(b)
	// Warm up the caches as a running server would have.
	for range 20 {
		ib.d.flushIngest(ib.batch())
	}
	msgs := 0
	for b.Loop() {
		b.StopTimer()
		batch := ib.batch()
		b.StartTimer()
		ib.d.flushIngest(batch)
		msgs += len(batch)
	}
	nsPerMsg := float64(b.Elapsed().Nanoseconds()) / float64(msgs)
	b.ReportMetric(nsPerMsg, "ns/msg")
	b.ReportMetric(nsPerMsg*benchMsgsPerSec/1e9*100, "%core@4667msg/s")
}
