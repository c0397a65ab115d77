package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestAppStats(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		_, team := newUser(t, s, "a@example.com")
		app := newApp(t, s, team.ID, "web")
		base := tnow().Add(-time.Hour)
		var rows []AppStat
		for i := range 5 {
			rows = append(rows, AppStat{AppID: app.ID, At: base.Add(time.Duration(i) * time.Minute), CPUPercent: 12.5 + float64(i),
				MemBytes: 100 << 20, MemLimitBytes: 256 << 20, NetRxBytes: int64(i) * 1000, NetTxBytes: 7, PIDs: 3})
		}
		rows = append(rows, AppStat{AppID: "app_gone", At: base})
		must(t, s.InsertAppStats(ctx, rows))
		must(t, s.InsertAppStats(ctx, nil))

		check := func(stage string, written bool) {
			t.Helper()
			got, err := s.ListAppStats(ctx, app.ID, base.Add(2*time.Minute))
			must(t, err)
			if len(got) != 3 || got[0].CPUPercent != 14.5 || got[0].NetRxBytes != 2000 || got[0].PIDs != 3 ||
				got[0].MemLimitBytes != 256<<20 || !got[0].At.Equal(base.Add(2*time.Minute)) || (got[0].ID != 0) != written {
				t.Fatalf("%s: ListAppStats = %+v", stage, got)
			}
		}
		// Buffered samples are listed before they are written...
		check("buffered", false)
		var n int
		must(t, s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM app_stats`).Scan(&n))
		if n != 0 {
			t.Fatalf("%d rows written before the flush", n)
		}
		must(t, s.FlushDueAppStats(ctx)) // not due yet
		check("not due", false)
		// ...and the same after (the sample of a deleted app is dropped).
		must(t, s.FlushAppStats(ctx))
		check("written", true)
		must(t, s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM app_stats`).Scan(&n))
		if n != 5 {
			t.Fatalf("%d rows written, want 5", n)
		}
		// A sample buffered again at a stored time is listed once.
		must(t, s.InsertAppStats(ctx, rows[2:3]))
		check("overlap", true)
		must(t, s.FlushAppStats(ctx))
		must(t, s.PruneAppStats(ctx, base.Add(90*time.Second)))
		got, _ := s.ListAppStats(ctx, app.ID, time.Time{})
		if len(got) != 4 { // minutes 2, 2 (written twice), 3, 4
			t.Fatalf("after prune %d rows, want 4", len(got))
		}
	})
}

func TestViolations(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		_, team := newUser(t, s, "a@example.com")
		web, api := newApp(t, s, team.ID, "web"), newApp(t, s, team.ID, "api")
		w := newWorker(t, s, "w1")
		base := tnow()
		for i, appID := range []string{web.ID, api.ID, web.ID} {
			v := &Violation{AppID: appID, WorkerID: w.ID, Kind: "oom", Message: fmt.Sprint(i), Action: "stopped", At: base.Add(time.Duration(i) * time.Second)}
			must(t, s.InsertViolation(ctx, v))
			if v.ID == 0 {
				t.Fatal("violation id not filled")
			}
		}
		wantErr(t, s.InsertViolation(ctx, &Violation{AppID: "app_gone", Kind: "oom"}), ErrNotFound)

		vs, err := s.ListViolations(ctx, web.ID, 10)
		must(t, err)
		if len(vs) != 2 || vs[0].Message != "2" || vs[1].Message != "0" || vs[0].WorkerID != w.ID || vs[0].Action != "stopped" {
			t.Fatalf("ListViolations(web) = %+v", vs)
		}
		vs, err = s.ListViolations(ctx, "", 2)
		must(t, err)
		if len(vs) != 2 || vs[0].Message != "2" || vs[1].Message != "1" {
			t.Fatalf("ListViolations(all, 2) = %+v", vs)
		}
	})
}

func TestWebhooks(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		_, team := newUser(t, s, "a@example.com")
		_, other := newUser(t, s, "b@example.com")

		deploys := &Webhook{TeamID: team.ID, URL: "https://hooks.example.com/a", SecretEnc: []byte("s1"),
			Events: []string{"deployment.succeeded", "deployment.failed"}, Active: true}
		everything := &Webhook{TeamID: team.ID, URL: "https://hooks.example.com/b", Events: []string{WebhookAllEvents}, Active: true}
		paused := &Webhook{TeamID: team.ID, URL: "https://hooks.example.com/c", Events: []string{"deployment.failed"}, Active: false}
		for _, w := range []*Webhook{deploys, everything, paused} {
			must(t, s.CreateWebhook(ctx, w))
		}
		must(t, s.CreateWebhook(ctx, &Webhook{TeamID: other.ID, URL: "https://x", Events: []string{"deployment.failed"}, Active: true}))
		wantErr(t, s.CreateWebhook(ctx, &Webhook{TeamID: "team_gone", URL: "https://x"}), ErrNotFound)

		got, err := s.GetWebhook(ctx, deploys.ID)
		must(t, err)
		if string(got.SecretEnc) != "s1" || !slices.Equal(got.Events, deploys.Events) || !got.Active {
			t.Fatalf("GetWebhook = %+v", got)
		}
		if got, _ := s.GetWebhook(ctx, everything.ID); got.SecretEnc != nil {
			t.Fatalf("webhook without secret has %v", got.SecretEnc)
		}
		list, err := s.ListWebhooks(ctx, team.ID)
		must(t, err)
		if len(list) != 3 {
			t.Fatalf("ListWebhooks = %d", len(list))
		}
		tests := []struct {
			event string
			want  []string
		}{
			{"deployment.failed", []string{deploys.ID, everything.ID}},
			{"app.deleted", []string{everything.ID}},
			{"deployment", []string{everything.ID}}, // no prefix matching
		}
		for _, tt := range tests {
			ws, err := s.ListWebhooksForEvent(ctx, team.ID, tt.event)
			must(t, err)
			var ids []string
			for _, w := range ws {
				ids = append(ids, w.ID)
			}
			slices.Sort(ids)
			slices.Sort(tt.want)
			if !slices.Equal(ids, tt.want) {
				t.Errorf("ListWebhooksForEvent(%s) = %v, want %v", tt.event, ids, tt.want)
			}
		}

		now := tnow()
		due := &Delivery{WebhookID: deploys.ID, Event: "deployment.failed", Payload: `{"a":1}`, CreatedAt: now.Add(-time.Minute)}
		later := &Delivery{WebhookID: deploys.ID, Event: "deployment.failed", Payload: `{}`, NextAttemptAt: now.Add(time.Hour)}
		inactive := &Delivery{WebhookID: paused.ID, Event: "deployment.failed", Payload: `{}`}
		for _, d := range []*Delivery{due, later, inactive} {
			must(t, s.CreateDelivery(ctx, d))
		}
		wantErr(t, s.CreateDelivery(ctx, &Delivery{WebhookID: "hook_gone", Event: "x", Payload: "{}"}), ErrNotFound)
		if due.State != DeliveryPending || !due.NextAttemptAt.Equal(due.CreatedAt) {
			t.Fatalf("created delivery = %+v", due)
		}
		ds, err := s.ListDueDeliveries(ctx, now, 10)
		must(t, err)
		if len(ds) != 1 || ds[0].ID != due.ID || ds[0].Payload != `{"a":1}` {
			t.Fatalf("ListDueDeliveries = %+v", ds)
		}

		// A failed attempt is retried later; then it succeeds.
		ds[0].Attempts, ds[0].LastStatusCode, ds[0].LastError, ds[0].NextAttemptAt = 1, 502, "bad gateway", now.Add(time.Minute)
		must(t, s.UpdateDelivery(ctx, &ds[0]))
		ds, _ = s.ListDueDeliveries(ctx, now, 10)
		if len(ds) != 0 {
			t.Fatalf("retrying delivery is due early: %+v", ds)
		}
		ds, _ = s.ListDueDeliveries(ctx, now.Add(2*time.Minute), 10)
		if len(ds) != 1 || ds[0].Attempts != 1 || ds[0].LastStatusCode != 502 || ds[0].LastError != "bad gateway" {
			t.Fatalf("due after retry time = %+v", ds)
		}
		ds[0].State, ds[0].Attempts, ds[0].LastStatusCode, ds[0].LastError, ds[0].DeliveredAt = DeliveryDelivered, 2, 200, "", now
		must(t, s.UpdateDelivery(ctx, &ds[0]))
		ds, _ = s.ListDueDeliveries(ctx, now.Add(24*time.Hour), 10)
		if len(ds) != 1 || ds[0].ID != later.ID {
			t.Fatalf("due after delivery = %+v", ds)
		}
		wantErr(t, s.UpdateDelivery(ctx, &Delivery{ID: "dlv_gone"}), ErrNotFound)

		hist, err := s.ListDeliveries(ctx, deploys.ID, 10)
		must(t, err)
		if len(hist) != 2 || hist[0].ID != later.ID || hist[1].State != DeliveryDelivered || !hist[1].DeliveredAt.Equal(now) {
			t.Fatalf("ListDeliveries = %+v", hist)
		}

		must(t, s.DeleteWebhook(ctx, deploys.ID))
		wantErr(t, s.DeleteWebhook(ctx, deploys.ID), ErrNotFound)
		hist, err = s.ListDeliveries(ctx, deploys.ID, 10)
		must(t, err)
		if len(hist) != 0 {
			t.Fatalf("deliveries survived their webhook: %d", len(hist))
		}
	})
}

func TestAudit(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		base := tnow()
		for i := range 4 {
			e := &AuditEntry{Actor: "usr_admin", Action: fmt.Sprintf("action%d", i), Target: "app_x", Detail: "d",
				RemoteAddr: "192.0.2.7", Result: "ok", At: base.Add(time.Duration(i) * time.Second)}
			must(t, s.InsertAudit(ctx, e))
			if e.ID == 0 {
				t.Fatal("audit id not filled")
			}
		}
		es, err := s.ListAudit(ctx, 3)
		must(t, err)
		if len(es) != 3 || es[0].Action != "action3" || es[2].Action != "action1" || es[0].RemoteAddr != "192.0.2.7" || !es[0].At.Equal(base.Add(3*time.Second)) {
			t.Fatalf("ListAudit = %+v", es)
		}
	})
}

// TestCreateWebhookCapped: ten concurrent creations against a cap of 4
// leave exactly 4 webhooks.
func TestCreateWebhookCapped(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		_, team := newUser(t, s, "hooks@example.com")
		errs := make(chan error, 10)
		for range 10 {
			go func() {
				errs <- s.CreateWebhookCapped(ctx, &Webhook{TeamID: team.ID, URL: "https://example.com/h", Events: []string{"*"}, Active: true}, 4)
			}()
		}
		won := 0
		for range 10 {
			switch err := <-errs; {
			case err == nil:
				won++
			case err != ErrWebhookCap:
				t.Fatalf("unexpected error: %v", err)
			}
		}
		hooks, err := s.ListWebhooks(ctx, team.ID)
		must(t, err)
		if won != 4 || len(hooks) != 4 {
			t.Fatalf("%d creations won, %d webhooks; want 4 and 4", won, len(hooks))
		}
		wantErr(t, s.CreateWebhookCapped(ctx, &Webhook{TeamID: "team_missing", URL: "https://example.com/h"}, 4), ErrNotFound)
	})
}
