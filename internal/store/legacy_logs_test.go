package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// Migration 0004 sets the runtime log table aside; its lines are handed
// over app by app, oldest first, then it is dropped.
func TestLegacyRuntimeLogs(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		_, team := newUser(t, s, "a@example.com")
		web, api := newApp(t, s, team.ID, "web"), newApp(t, s, team.ID, "api")
		has, err := s.HasLegacyRuntimeLogs(ctx)
		if err != nil || !has {
			t.Fatalf("HasLegacyRuntimeLogs after migrating = %v, %v", has, err)
		}
		base := tnow().Add(-time.Hour)
		insert := func(app string, at time.Time, lines string) {
			t.Helper()
			if _, err := s.exec(ctx, `INSERT INTO `+legacyLogTable+` (app_id, at, n, lines) VALUES (?, ?, 1, ?)`, app, ms(at), lines); err != nil {
				t.Fatal(err)
			}
		}
		insert(web.ID, base, `[["stdout",-1000,"web 1"],["stderr",0,"web 2 \"quoted\" é"]]`)
		insert(api.ID, base, `[["stdout",0,"api 1"]]`)
		insert("app_gone", base, `[["stdout",0,"lost"]]`)
		for i := range legacyExportBatch + 5 {
			insert(web.ID, base.Add(time.Second), fmt.Sprintf(`[["stdout",%d,"web %d"]]`, i, i+3))
		}
		got := map[string][]LegacyRuntimeLogLine{}
		calls := 0
		must(t, s.ExportLegacyRuntimeLogs(ctx, func(app string, lines []LegacyRuntimeLogLine) error {
			calls++
			got[app] = append(got[app], lines...)
			return nil
		}))
		if len(got) != 2 || len(got[api.ID]) != 1 || len(got[web.ID]) != legacyExportBatch+7 || calls != 3 {
			t.Fatalf("exported %d apps (%d calls): web %d lines, api %d", len(got), calls, len(got[web.ID]), len(got[api.ID]))
		}
		w := got[web.ID]
		if w[0] != (LegacyRuntimeLogLine{Stream: "stdout", At: base.Add(-time.Second), Msg: "web 1"}) ||
			w[1] != (LegacyRuntimeLogLine{Stream: "stderr", At: base, Msg: `web 2 "quoted" é`}) ||
			w[len(w)-1].Msg != fmt.Sprintf("web %d", legacyExportBatch+7) {
			t.Fatalf("web lines: %+v … %+v", w[:2], w[len(w)-1])
		}
		must(t, s.DropLegacyRuntimeLogs(ctx))
		if has, err := s.HasLegacyRuntimeLogs(ctx); err != nil || has {
			t.Fatalf("HasLegacyRuntimeLogs after dropping = %v, %v", has, err)
		}
		must(t, s.DropLegacyRuntimeLogs(ctx)) // twice: fine
	})
}
