package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// Benchmarks run on SQLite, the default database:
//
//	go test -run '^$' -bench . -benchmem ./internal/store/

func benchStore(b *testing.B) (*Store, *App) {
	b.Helper()
	ctx := context.Background()
	s, err := Open(ctx, b.TempDir()+"/bench.db", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	u, team := &User{Email: "bench@example.com"}, &Team{Name: "bench", Slug: "bench"}
	if err := s.CreateUserWithTeam(ctx, u, team); err != nil {
		b.Fatal(err)
	}
	app := &App{TeamID: team.ID, Name: "bench"}
	if err := s.CreateApp(ctx, app); err != nil {
		b.Fatal(err)
	}
	return s, app
}

// BenchmarkInsertRuntimeLogs stores batches of 50 lines, the shape of a
// worker's runtime_log message.
func BenchmarkInsertRuntimeLogs(b *testing.B) {
	s, app := benchStore(b)
	ctx := context.Background()
	lines := make([]RuntimeLogLine, 50)
	at := time.Now()
	for i := range lines {
		lines[i] = RuntimeLogLine{AppID: app.ID, Stream: "stdout", At: at,
			Msg: fmt.Sprintf("GET /api/items/%d 200 1.2ms user-agent=Mozilla/5.0 (X11; Linux x86_64)", i)}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.InsertRuntimeLogs(ctx, lines); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(lines))/b.Elapsed().Seconds(), "lines/s")
}

func BenchmarkCreateDeploymentWithJob(b *testing.B) {
	s, app := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		d := &Deployment{AppID: app.ID, Trigger: TriggerGit, Branch: "main", CommitSHA: "0123456789abcdef"}
		if err := s.CreateDeploymentWithJob(ctx, d, &Job{}); err != nil {
			b.Fatal(err)
		}
	}
}
