package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestPruneHistory(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := tnow()
		old, recent := now.Add(-100*24*time.Hour), now.Add(-time.Hour)
		r := Retention{History: 90 * 24 * time.Hour, Audit: 365 * 24 * time.Hour}
		_, team := newUser(t, s, "a@example.com")
		app := newApp(t, s, team.ID, "web")
		w := newWorker(t, s, "w1")

		// Jobs: finished long ago (done and failed) go; a recent finished
		// job and an old unfinished one stay.
		job := func(at time.Time, finish, success bool) string {
			j := &Job{Type: JobRestart, AppID: app.ID, AppName: app.Name, CreatedAt: at}
			must(t, s.CreateJob(ctx, j))
			if finish {
				must(t, s.AssignJob(ctx, j.ID, w.ID))
				must(t, s.MarkJobSent(ctx, j.ID, at))
				must(t, s.FinishJob(ctx, j.ID, success, "", "", at))
			}
			return j.ID
		}
		oldDone, oldFailed := job(old, true, true), job(old, true, false)
		recentDone, oldPending := job(recent, true, true), job(old, false, false)

		// Deliveries: finished old ones go, a pending old one stays.
		hook := &Webhook{TeamID: team.ID, URL: "https://example.com/h", Events: []string{"*"}, Active: true}
		must(t, s.CreateWebhook(ctx, hook))
		delivery := func(at time.Time, state string) string {
			d := &Delivery{WebhookID: hook.ID, Event: "deployment.succeeded", Payload: "{}", State: state, CreatedAt: at}
			must(t, s.CreateDelivery(ctx, d))
			return d.ID
		}
		delivery(old, DeliveryDelivered)
		delivery(old, DeliveryFailed)
		oldOwed, recentSent := delivery(old, DeliveryPending), delivery(recent, DeliveryDelivered)

		must(t, s.InsertViolation(ctx, &Violation{AppID: app.ID, Kind: "oom", At: old}))
		must(t, s.InsertViolation(ctx, &Violation{AppID: app.ID, Kind: "oom", At: recent}))

		// Audit: 100 days is inside the audit retention; 400 days is not.
		ancient := now.Add(-400 * 24 * time.Hour)
		for _, at := range []time.Time{ancient, old} {
			must(t, s.InsertAudit(ctx, &AuditEntry{Action: "login", At: at}))
			must(t, s.InsertAdminAudit(ctx, &AdminAuditEntry{Action: "login", Result: "ok", At: at}))
		}

		// Build logs: 12 old finished deployments and one still building.
		// The newest KeepBuildLogs keep their logs; the two oldest lose
		// theirs to the notice.
		var deps []string
		for i := range 12 {
			d := &Deployment{AppID: app.ID, CreatedAt: old.Add(time.Duration(i) * time.Minute)}
			must(t, s.CreateDeploymentWithJob(ctx, d, &Job{}))
			_, err := s.AppendBuildLog(ctx, d.ID, 0, fmt.Sprintf("STEP 1/2: FROM alpine (%d)\n%s", i, strings.Repeat("x", 100)))
			must(t, err)
			must(t, s.UpdateDeploymentStatus(ctx, d.ID, DeploymentFailed, "", d.CreatedAt))
			deps = append(deps, d.ID)
		}

		p, err := s.PruneHistory(ctx, now, r)
		must(t, err)
		want := Pruned{Jobs: 2, Deliveries: 2, Violations: 1, BuildLogs: 2, Audit: 1, AdminAudit: 1}
		if p != want {
			t.Fatalf("PruneHistory = %+v, want %+v", p, want)
		}
		for _, id := range []string{oldDone, oldFailed} {
			if _, err := s.GetJob(ctx, id); err == nil {
				t.Errorf("old finished job %s kept", id)
			}
		}
		for _, id := range []string{recentDone, oldPending} {
			_, err := s.GetJob(ctx, id)
			must(t, err)
		}
		if n := countRows(t, s, "webhook_deliveries", "id IN (?, ?)", oldOwed, recentSent); n != 2 {
			t.Errorf("pending and recent deliveries: %d of 2 kept", n)
		}
		if n := countRows(t, s, "violations", "app_id = ?", app.ID); n != 1 {
			t.Errorf("violations kept = %d, want 1", n)
		}
		if n := countRows(t, s, "audit_log", "1 = 1") + countRows(t, s, "admin_audit", "1 = 1"); n != 2 {
			t.Errorf("audit rows kept = %d, want 2", n)
		}
		for i, id := range deps {
			log, next, err := s.ReadBuildLog(ctx, id, 0)
			must(t, err)
			d, err := s.GetDeployment(ctx, id)
			must(t, err)
			switch {
			case i < 2 && (log != BuildLogExpired || next != int64(len(BuildLogExpired)) || d.LogLen != next):
				t.Errorf("deployment %d: log %q (next %d, log_len %d), want the notice", i, log, next, d.LogLen)
			case i >= 2 && !strings.HasPrefix(log, "STEP 1/2"):
				t.Errorf("deployment %d: log %q, want it kept", i, log)
			}
		}

		// A second pass finds nothing more; zero retention keeps everything.
		p, err = s.PruneHistory(ctx, now, r)
		must(t, err)
		if p.Total() != 0 {
			t.Fatalf("second PruneHistory = %+v, want nothing", p)
		}
		p, err = s.PruneHistory(ctx, now.Add(1000*24*time.Hour), Retention{})
		must(t, err)
		if p.Total() != 0 {
			t.Fatalf("PruneHistory with zero retention = %+v, want nothing", p)
		}
	})
}

// TestPruneHistoryBatches crosses several delete batches.
func TestPruneHistoryBatches(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		now := tnow()
		for range pruneBatch*2 + 7 {
			must(t, s.InsertAudit(ctx, &AuditEntry{Action: "x", At: now.Add(-48 * time.Hour)}))
		}
		must(t, s.InsertAudit(ctx, &AuditEntry{Action: "x", At: now}))
		p, err := s.PruneHistory(ctx, now, Retention{Audit: 24 * time.Hour})
		must(t, err)
		if p.Audit != pruneBatch*2+7 {
			t.Fatalf("pruned %d audit rows, want %d", p.Audit, pruneBatch*2+7)
		}
		if n := countRows(t, s, "audit_log", "1 = 1"); n != 1 {
			t.Fatalf("%d audit rows left, want 1", n)
		}
	})
}
