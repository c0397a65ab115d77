package store

import (
	"context"
	"database/sql"
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

// BenchmarkPruneStall measures what a history prune costs the writers
// that run beside it on SQLite's single write connection: how long an
// insert (an audit row, as a request would write) waits at worst while
// 100,000 expired audit rows are deleted. "batched" is PruneHistory;
// "one-delete" removes the same rows with a single DELETE, the baseline.
//
//	go test -run '^$' -bench PruneStall -benchtime 3x ./internal/store/
func BenchmarkPruneStall(b *testing.B) {
	const rows = 100_000
	for _, mode := range []string{"batched", "one-delete"} {
		b.Run(mode, func(b *testing.B) {
			s, _ := benchStore(b)
			ctx := context.Background()
			now := time.Now()
			var worst, total time.Duration
			for b.Loop() {
				b.StopTimer()
				seedAudit(b, s, rows, now.Add(-48*time.Hour))
				b.StartTimer()
				stop, maxWait := make(chan struct{}), make(chan time.Duration)
				go func() { // the other writer: one insert a millisecond
					var m time.Duration
					for {
						select {
						case <-stop:
							maxWait <- m
							return
						case <-time.After(time.Millisecond):
						}
						t0 := time.Now()
						if err := s.InsertAudit(ctx, &AuditEntry{Action: "request", At: now}); err != nil {
							b.Error(err)
						}
						m = max(m, time.Since(t0))
					}
				}()
				t0 := time.Now()
				if mode == "batched" {
					if _, err := s.PruneHistory(ctx, now, Retention{Audit: 24 * time.Hour}); err != nil {
						b.Fatal(err)
					}
				} else if _, err := s.exec(ctx, `DELETE FROM audit_log WHERE at < ?`, ms(now.Add(-24*time.Hour))); err != nil {
					b.Fatal(err)
				}
				total += time.Since(t0)
				close(stop)
				worst = max(worst, <-maxWait)
			}
			b.ReportMetric(float64(worst.Microseconds())/1000, "max-insert-wait-ms")
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "prune-ms")
		})
	}
}

// seedAudit inserts n audit rows at `at` in one transaction.
func seedAudit(b *testing.B, s *Store, n int, at time.Time) {
	b.Helper()
	err := s.tx(context.Background(), func(tx *sql.Tx) error {
		st, err := tx.Prepare(s.q(`INSERT INTO audit_log (action, at) VALUES (?, ?)`))
		if err != nil {
			return err
		}
		defer st.Close()
		for range n {
			if _, err := st.Exec("old", ms(at)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
