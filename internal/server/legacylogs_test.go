package server_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/wisehosting/wisehosting/internal/servertest"
	"github.com/wisehosting/wisehosting/internal/store"
)

// Runtime logs an earlier build kept in the database are moved into the
// log files at the first start, and their table is dropped.
func TestLegacyRuntimeLogsImported(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	dbPath := filepath.Join(data, "wisehosting.db")
	st, err := store.Open(ctx, dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, team := &store.User{Email: "old@example.com"}, &store.Team{Name: "old", Slug: "old"}
	if err := st.CreateUserWithTeam(ctx, u, team); err != nil {
		t.Fatal(err)
	}
	app := &store.App{TeamID: team.ID, Name: "web"}
	if err := st.CreateApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	st.Close()
	// As migration 0004 left the rows of an earlier build.
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
	if _, err := db.Exec(`INSERT INTO runtime_log_chunks_0003 (app_id, at, n, lines) VALUES (?, ?, 2, ?)`,
		app.ID, at.UnixMilli(), `[["stdout",-5,"old one"],["stderr",0,"old two"]]`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	srv := servertest.New(t, servertest.DB{Name: "sqlite"}, servertest.Options{DataDir: data})
	lines, err := srv.S.RuntimeLogs.List(app.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || lines[0].Msg != "old one" || !lines[0].At.Equal(at.Add(-5*time.Millisecond)) ||
		lines[1].Msg != "old two" || lines[1].Stream != "stderr" || lines[1].ID <= lines[0].ID {
		t.Fatalf("imported lines = %+v", lines)
	}
	if has, err := srv.S.Store.HasLegacyRuntimeLogs(ctx); err != nil || has {
		t.Fatalf("legacy table still there: %v, %v", has, err)
	}
}
