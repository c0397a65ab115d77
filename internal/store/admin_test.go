package store

import (
	"context"
	"testing"
	"time"
)

func TestAdminAccounts(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := &AdminAccount{Username: "Alice", PasswordHash: "hash", Role: "operator", TOTPSecretEnc: []byte{1, 2, 3}}
		must(t, s.CreateAdminAccount(ctx, a))
		if a.ID == "" || a.Username != "alice" || a.CreatedAt.IsZero() {
			t.Fatalf("account not filled in: %+v", a)
		}
		wantErr(t, s.CreateAdminAccount(ctx, &AdminAccount{Username: "ALICE", PasswordHash: "h", Role: "viewer"}), ErrConflict)
		must(t, s.CreateAdminAccount(ctx, &AdminAccount{Username: "bob", PasswordHash: "h", Role: "viewer"}))

		got, err := s.GetAdminAccountByUsername(ctx, "aLiCe")
		must(t, err)
		if got.ID != a.ID || got.Role != "operator" || string(got.TOTPSecretEnc) != "\x01\x02\x03" || got.Disabled {
			t.Fatalf("GetAdminAccountByUsername = %+v", got)
		}
		bob, err := s.GetAdminAccountByUsername(ctx, "bob")
		must(t, err)
		if bob.TOTPSecretEnc != nil {
			t.Fatalf("no TOTP secret should read back nil, got %v", bob.TOTPSecretEnc)
		}
		_, err = s.GetAdminAccount(ctx, "adm_missing")
		wantErr(t, err, ErrNotFound)
		list, err := s.ListAdminAccounts(ctx)
		must(t, err)
		if len(list) != 2 || list[0].Username != "alice" || list[1].Username != "bob" {
			t.Fatalf("ListAdminAccounts = %+v", list)
		}
		at := tnow()
		must(t, s.TouchAdminLogin(ctx, a.ID, at))
		got, _ = s.GetAdminAccount(ctx, a.ID)
		if !got.LastLoginAt.Equal(at) {
			t.Fatalf("last login %v, want %v", got.LastLoginAt, at)
		}
		wantErr(t, s.TouchAdminLogin(ctx, "adm_missing", at), ErrNotFound)
	})
}

func TestAdminSessions(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		a := &AdminAccount{Username: "op", PasswordHash: "hash", Role: "operator"}
		must(t, s.CreateAdminAccount(ctx, a))
		now := tnow()
		live := &AdminSession{TokenHash: keyHash("live"), AccountID: a.ID, ExpiresAt: now.Add(12 * time.Hour), RemoteAddr: "127.0.0.1:5000"}
		expired := &AdminSession{TokenHash: keyHash("expired"), AccountID: a.ID, ExpiresAt: now.Add(-time.Second)}
		idle := &AdminSession{TokenHash: keyHash("idle"), AccountID: a.ID, CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(time.Hour)}
		for _, x := range []*AdminSession{live, expired, idle} {
			must(t, s.CreateAdminSession(ctx, x))
		}
		wantErr(t, s.CreateAdminSession(ctx, &AdminSession{TokenHash: keyHash("x"), AccountID: "adm_missing", ExpiresAt: now}), ErrNotFound)

		sess, acct, err := s.GetAdminSession(ctx, live.TokenHash, now, time.Hour)
		must(t, err)
		if sess.AccountID != a.ID || sess.RemoteAddr != "127.0.0.1:5000" || acct.Username != "op" || acct.Role != "operator" {
			t.Fatalf("GetAdminSession = %+v, %+v", sess, acct)
		}
		_, _, err = s.GetAdminSession(ctx, expired.TokenHash, now, time.Hour)
		wantErr(t, err, ErrNotFound)
		_, _, err = s.GetAdminSession(ctx, idle.TokenHash, now, time.Hour)
		wantErr(t, err, ErrNotFound) // idle for two hours
		_, _, err = s.GetAdminSession(ctx, idle.TokenHash, now, 0)
		must(t, err) // no idle limit
		must(t, s.TouchAdminSession(ctx, idle.TokenHash, now))
		_, _, err = s.GetAdminSession(ctx, idle.TokenHash, now, time.Hour)
		must(t, err) // activity keeps it alive
		wantErr(t, s.TouchAdminSession(ctx, keyHash("none"), now), ErrNotFound)

		// Stale sessions are pruned; live ones stay.
		must(t, s.CreateAdminSession(ctx, &AdminSession{TokenHash: keyHash("idle2"), AccountID: a.ID,
			CreatedAt: now.Add(-3 * time.Hour), ExpiresAt: now.Add(time.Hour)}))
		must(t, s.DeleteStaleAdminSessions(ctx, now, time.Hour))
		if n := countRows(t, s, "admin_sessions", "account_id = ?", a.ID); n != 2 {
			t.Fatalf("%d sessions left after pruning, want 2 (live, touched)", n)
		}

		// Disabling an account ends its sessions and refuses new lookups.
		must(t, s.SetAdminAccountDisabled(ctx, a.ID, true))
		_, _, err = s.GetAdminSession(ctx, live.TokenHash, now, time.Hour)
		wantErr(t, err, ErrNotFound)
		must(t, s.SetAdminAccountDisabled(ctx, a.ID, false))
		must(t, s.CreateAdminSession(ctx, &AdminSession{TokenHash: keyHash("again"), AccountID: a.ID, ExpiresAt: now.Add(time.Hour)}))
		must(t, s.SetAdminPassword(ctx, a.ID, "new-hash"))
		if n := countRows(t, s, "admin_sessions", "account_id = ?", a.ID); n != 0 {
			t.Fatalf("%d sessions left after a password change", n)
		}
		got, _ := s.GetAdminAccount(ctx, a.ID)
		if got.PasswordHash != "new-hash" {
			t.Fatalf("password hash %q", got.PasswordHash)
		}
		wantErr(t, s.SetAdminAccountDisabled(ctx, "adm_missing", true), ErrNotFound)
		must(t, s.DeleteAdminSession(ctx, keyHash("none"))) // idempotent
	})
}

func TestAdminAudit(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for i, action := range []string{"login", "worker.drain", "app.suspend"} {
			e := &AdminAuditEntry{AccountID: "adm_x", Username: "op", Action: action, Target: "t", Detail: "d",
				RemoteAddr: "127.0.0.1:1", Result: "ok", At: tnow().Add(time.Duration(i) * time.Millisecond)}
			must(t, s.InsertAdminAudit(ctx, e))
			if e.ID == 0 {
				t.Fatal("audit id not filled in")
			}
		}
		es, err := s.ListAdminAudit(ctx, 0, 2)
		must(t, err)
		if len(es) != 2 || es[0].Action != "app.suspend" || es[1].Action != "worker.drain" || es[0].Username != "op" || es[0].RemoteAddr != "127.0.0.1:1" {
			t.Fatalf("ListAdminAudit = %+v", es)
		}
		older, err := s.ListAdminAudit(ctx, es[1].ID, 10)
		must(t, err)
		if len(older) != 1 || older[0].Action != "login" {
			t.Fatalf("older page = %+v", older)
		}
	})
}

func TestAdminViews(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		u, team := newUser(t, s, "a@example.com")
		app := newApp(t, s, team.ID, "web")
		other := newApp(t, s, team.ID, "api")
		w := newWorker(t, s, "w1")

		gen := s.RoutesGeneration()
		must(t, s.SetAppSuspended(ctx, app.ID, true))
		got, _ := s.GetApp(ctx, app.ID)
		if !got.Suspended || s.RoutesGeneration() == gen {
			t.Fatalf("suspended=%v, route generation moved=%v", got.Suspended, s.RoutesGeneration() != gen)
		}
		wantErr(t, s.SetAppSuspended(ctx, "app_missing", true), ErrNotFound)

		teams, err := s.ListAllTeams(ctx)
		must(t, err)
		if len(teams) != 1 || teams[0].ID != team.ID || teams[0].Members != 1 || teams[0].Apps != 2 {
			t.Fatalf("ListAllTeams = %+v", teams)
		}
		if n, err := s.CountTeams(ctx); err != nil || n != 1 {
			t.Fatalf("CountTeams = %d, %v", n, err)
		}

		// Two deployments of web, none of api: the newest one is web's latest.
		d1 := &Deployment{AppID: app.ID, CreatedBy: u.ID, CreatedAt: tnow().Add(-time.Minute)}
		must(t, s.CreateDeploymentWithJob(ctx, d1, &Job{}))
		d2 := &Deployment{AppID: app.ID, CreatedBy: u.ID}
		j2 := &Job{WorkerID: w.ID}
		must(t, s.CreateDeploymentWithJob(ctx, d2, j2))
		latest, err := s.LatestDeployments(ctx)
		must(t, err)
		if len(latest) != 1 || latest[app.ID].ID != d2.ID {
			t.Fatalf("LatestDeployments = %+v", latest)
		}

		byWorker, err := s.CountUnfinishedJobsByWorker(ctx)
		must(t, err)
		if len(byWorker) != 1 || byWorker[w.ID] != 1 {
			t.Fatalf("CountUnfinishedJobsByWorker = %v", byWorker)
		}
		must(t, s.FinishJob(ctx, j2.ID, false, "", "boom", tnow()))
		failed, err := s.ListRecentJobs(ctx, JobFailed, 10)
		must(t, err)
		if len(failed) != 1 || failed[0].ID != j2.ID {
			t.Fatalf("ListRecentJobs(failed) = %+v", failed)
		}

		must(t, s.InsertViolation(ctx, &Violation{AppID: other.ID, Kind: "oom", At: tnow().Add(-48 * time.Hour)}))
		must(t, s.InsertViolation(ctx, &Violation{AppID: other.ID, Kind: "oom"}))
		must(t, s.InsertViolation(ctx, &Violation{AppID: other.ID, Kind: "crash_loop"}))
		counts, err := s.CountViolationsByApp(ctx, tnow().Add(-24*time.Hour))
		must(t, err)
		if len(counts) != 1 || counts[other.ID] != 2 {
			t.Fatalf("CountViolationsByApp = %v", counts)
		}
	})
}
