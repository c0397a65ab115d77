package store

import (
	"context"
	"testing"
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
