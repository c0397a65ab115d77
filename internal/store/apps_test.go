package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestAppPlacements(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		_, team := newUser(t, s, "p@example.com")
		w := newWorker(t, s, "pw")
		placed := newApp(t, s, team.ID, "placed")
		loose := newApp(t, s, team.ID, "loose")
		must(t, s.UpdateAppRuntime(ctx, placed.ID, AppRuntime{Status: "running", WorkerID: w.ID, HostPort: 20001}))
		got, err := s.AppPlacements(ctx, []string{placed.ID, loose.ID, "app_missing"})
		must(t, err)
		if len(got) != 2 || got[placed.ID].WorkerID != w.ID || got[placed.ID].Status != "running" ||
			got[placed.ID].UpdatedAt.IsZero() || got[loose.ID].WorkerID != 0 || got[loose.ID].Status != AppCreated {
			t.Fatalf("AppPlacements = %+v", got)
		}
		// More ids than one query takes.
		many := make([]string, 1200)
		for i := range many {
			many[i] = "app_x" + strings.Repeat("y", i%7)
		}
		many[1100] = placed.ID
		got, err = s.AppPlacements(ctx, many)
		must(t, err)
		if len(got) != 1 || got[placed.ID].WorkerID != w.ID {
			t.Fatalf("AppPlacements over chunks = %+v", got)
		}
	})
}

func TestWorkers(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		w1 := newWorker(t, s, "w1")
		w2 := newWorker(t, s, "w2")
		if w1.ID <= 0 || w2.ID <= w1.ID {
			t.Fatalf("worker ids %d, %d", w1.ID, w2.ID)
		}
		wantErr(t, s.CreateWorker(ctx, &Worker{Name: "w1", APIKeyHash: keyHash("other")}), ErrConflict)
		wantErr(t, s.CreateWorker(ctx, &Worker{Name: "w3", APIKeyHash: w1.APIKeyHash}), ErrConflict)

		// Key hashes are compared in lowercase.
		got, err := s.GetWorkerByKeyHash(ctx, strings.ToUpper(w1.APIKeyHash))
		must(t, err)
		if got.ID != w1.ID || got.ResourcesJSON != "{}" || got.AppsJSON != "[]" {
			t.Fatalf("GetWorkerByKeyHash = %+v", got)
		}

		reg := WorkerRegistration{Hostname: "h1", Version: "1.2.3", OS: "linux", Arch: "amd64", CPUs: 4,
			MemoryBytes: 8 << 30, DiskBytes: 100 << 30, DiskQuota: true, PortLo: 20000, PortHi: 29999,
			Address: "10.0.0.5", RegisteredAt: tnow()}
		must(t, s.UpdateWorkerRegistration(ctx, w1.ID, reg))
		hb := tnow().Add(time.Second)
		must(t, s.UpdateWorkerHeartbeats(ctx, []WorkerHeartbeat{
			{WorkerID: w1.ID, At: hb, ResourcesJSON: `{"cpus":4}`, AppsJSON: `[{"app_id":"x"}]`},
			{WorkerID: 999999, At: hb, ResourcesJSON: `{}`, AppsJSON: `[]`}, // gone: ignored
		}))
		must(t, s.SetWorkerDraining(ctx, w1.ID, true))
		got, err = s.GetWorker(ctx, w1.ID)
		must(t, err)
		if got.Registration() != reg || !got.LastSeenAt.Equal(hb) || got.ResourcesJSON != `{"cpus":4}` ||
			got.AppsJSON != `[{"app_id":"x"}]` || !got.Draining {
			t.Fatalf("worker after updates = %+v", got)
		}
		touched := hb.Add(time.Second)
		must(t, s.TouchWorker(ctx, w1.ID, touched))

		revokedAt := tnow()
		must(t, s.RevokeWorker(ctx, w1.ID, revokedAt))
		must(t, s.RevokeWorker(ctx, w1.ID, revokedAt.Add(time.Hour))) // keeps the first time
		_, err = s.GetWorkerByKeyHash(ctx, w1.APIKeyHash)
		wantErr(t, err, ErrNotFound)
		got, err = s.GetWorker(ctx, w1.ID) // still visible to admins
		must(t, err)
		if !got.RevokedAt.Equal(revokedAt) || !got.LastSeenAt.Equal(touched) {
			t.Fatalf("revoked worker = %+v", got)
		}

		list, err := s.ListWorkers(ctx)
		must(t, err)
		if len(list) != 2 || list[0].ID != w1.ID || list[1].ID != w2.ID {
			t.Fatalf("ListWorkers = %+v", list)
		}
		_, err = s.GetWorker(ctx, 999999)
		wantErr(t, err, ErrNotFound)
		wantErr(t, s.TouchWorker(ctx, 999999, touched), ErrNotFound)
		wantErr(t, s.RevokeWorker(ctx, 999999, touched), ErrNotFound)
		wantErr(t, s.UpdateWorkerRegistration(ctx, 999999, reg), ErrNotFound)
	})
}

func TestApps(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		_, teamA := newUser(t, s, "a@example.com")
		_, teamB := newUser(t, s, "b@example.com")
		w := newWorker(t, s, "w1")

		a := &App{TeamID: teamA.ID, Name: "web", RepoURL: "https://git.example.com/web.git", Branch: "main",
			GitTokenEnc: []byte{0, 1, 2, 0xff}, DockerfilePath: "Dockerfile", Port: 3000, HealthCheckPath: "/health",
			MemoryBytes: 256 << 20, CPUMillis: 500, DiskBytes: 1 << 30, BandwidthBps: 10_000_000}
		must(t, s.CreateApp(ctx, a))
		if !strings.HasPrefix(a.ID, "app_") || a.Status != AppCreated || a.CreatedAt.IsZero() {
			t.Fatalf("created app = %+v", a)
		}
		wantErr(t, s.CreateApp(ctx, &App{TeamID: teamB.ID, Name: "web"}), ErrConflict)
		api := newApp(t, s, teamA.ID, "api")
		other := newApp(t, s, teamB.ID, "blog")

		got, err := s.GetAppByName(ctx, "web")
		must(t, err)
		if got.ID != a.ID || !bytes.Equal(got.GitTokenEnc, a.GitTokenEnc) || got.MemoryBytes != a.MemoryBytes ||
			got.WorkerID != 0 || got.CurrentDeploymentID != "" || got.HealthCheckPath != "/health" {
			t.Fatalf("GetAppByName = %+v", got)
		}
		if got, _ := s.GetApp(ctx, api.ID); got.GitTokenEnc != nil {
			t.Fatalf("app without token has GitTokenEnc %v", got.GitTokenEnc)
		}

		tests := []struct {
			teams []string
			want  []string
		}{
			{nil, []string{}},
			{[]string{teamA.ID}, []string{"api", "web"}},
			{[]string{teamA.ID, teamB.ID}, []string{"api", "blog", "web"}},
			{[]string{"team_missing"}, []string{}},
		}
		for _, tt := range tests {
			apps, err := s.ListAppsForTeams(ctx, tt.teams)
			must(t, err)
			var names []string
			for _, x := range apps {
				names = append(names, x.Name)
			}
			if strings.Join(names, ",") != strings.Join(tt.want, ",") || apps == nil {
				t.Errorf("ListAppsForTeams(%v) = %v, want %v", tt.teams, names, tt.want)
			}
		}
		all, err := s.ListAllApps(ctx)
		must(t, err)
		if len(all) != 3 {
			t.Fatalf("ListAllApps = %d apps", len(all))
		}

		// Settings update; a nil token clears it; suspension is not a
		// setting UpdateApp writes.
		got.Branch, got.Port, got.GitTokenEnc, got.Suspended = "prod", 9000, nil, true
		must(t, s.UpdateApp(ctx, got))
		upd, err := s.GetApp(ctx, a.ID)
		must(t, err)
		if upd.Branch != "prod" || upd.Port != 9000 || upd.GitTokenEnc != nil || upd.Suspended || !upd.UpdatedAt.Equal(got.UpdatedAt) ||
			upd.SettingsVersion != got.SettingsVersion {
			t.Fatalf("after UpdateApp = %+v", upd)
		}
		wantErr(t, s.UpdateApp(ctx, &App{ID: "app_missing"}), ErrNotFound)

		// A copy read before another settings write (an edit, or an
		// operator's suspension) cannot be saved over it.
		stale := *upd
		upd.Branch = "release"
		must(t, s.UpdateApp(ctx, upd))
		stale.Port = 9100
		wantErr(t, s.UpdateApp(ctx, &stale), ErrConflict)
		fresh, err := s.GetApp(ctx, a.ID)
		must(t, err)
		must(t, s.SetAppSuspended(ctx, a.ID, true))
		fresh.Port = 9100
		wantErr(t, s.UpdateApp(ctx, fresh), ErrConflict)
		fresh, err = s.GetApp(ctx, a.ID)
		must(t, err)
		fresh.Port = 9100
		must(t, s.UpdateApp(ctx, fresh))
		if fresh, _ = s.GetApp(ctx, a.ID); fresh.Branch != "release" || fresh.Port != 9100 || !fresh.Suspended {
			t.Fatalf("after the retried update = %+v", fresh)
		}
		// Runtime writes do not move the settings version.
		must(t, s.UpdateAppRuntime(ctx, a.ID, AppRuntime{Status: "running"}))
		fresh.Port = 9200
		must(t, s.UpdateApp(ctx, fresh))

		rt := AppRuntime{Status: "running", StatusMessage: "ok", WorkerID: w.ID, HostPort: 20001,
			ContainerID: "c1", ImageID: "img2", PreviousImageID: "img1", CurrentDeploymentID: "dep_1"}
		must(t, s.UpdateAppRuntime(ctx, a.ID, rt))
		// An empty CurrentDeploymentID keeps the current one.
		rt2 := rt
		rt2.CurrentDeploymentID = ""
		must(t, s.UpdateAppRuntime(ctx, a.ID, rt2))
		must(t, s.SetAppStatus(ctx, api.ID, "crashed", "exit 1"))
		upd, _ = s.GetApp(ctx, a.ID)
		if upd.Runtime() != rt {
			t.Fatalf("runtime = %+v, want %+v", upd.Runtime(), rt)
		}
		upd, _ = s.GetApp(ctx, api.ID)
		if upd.Status != "crashed" || upd.StatusMessage != "exit 1" {
			t.Fatalf("status = %q %q", upd.Status, upd.StatusMessage)
		}
		wantErr(t, s.UpdateAppRuntime(ctx, a.ID, AppRuntime{WorkerID: 424242}), ErrNotFound)
		wantErr(t, s.SetAppStatus(ctx, "app_missing", "x", ""), ErrNotFound)

		// Environment.
		must(t, s.SetAppEnv(ctx, a.ID, "DB_URL", []byte("enc1")))
		must(t, s.SetAppEnv(ctx, a.ID, "DB_URL", []byte("enc2")))
		must(t, s.SetAppEnv(ctx, a.ID, "EMPTY", nil))
		must(t, s.SetAppEnv(ctx, a.ID, "GONE", []byte("x")))
		must(t, s.UnsetAppEnv(ctx, a.ID, "GONE"))
		wantErr(t, s.UnsetAppEnv(ctx, a.ID, "GONE"), ErrNotFound)
		wantErr(t, s.SetAppEnv(ctx, "app_missing", "X", []byte("x")), ErrNotFound)
		env, err := s.ListAppEnv(ctx, a.ID)
		must(t, err)
		if len(env) != 2 || string(env["DB_URL"]) != "enc2" || env["EMPTY"] == nil || len(env["EMPTY"]) != 0 {
			t.Fatalf("ListAppEnv = %q", env)
		}

		// Domains.
		must(t, s.AddDomain(ctx, a.ID, "WWW.Example.com"))
		must(t, s.AddDomain(ctx, a.ID, "example.com"))
		wantErr(t, s.AddDomain(ctx, other.ID, "www.example.com"), ErrConflict)
		wantErr(t, s.AddDomain(ctx, "app_missing", "x.example.com"), ErrNotFound)
		byDomain, err := s.GetAppByDomain(ctx, "www.EXAMPLE.com")
		must(t, err)
		if byDomain.ID != a.ID {
			t.Fatalf("GetAppByDomain = %s", byDomain.ID)
		}
		_, err = s.GetAppByDomain(ctx, "nope.example.com")
		wantErr(t, err, ErrNotFound)
		wantErr(t, s.RemoveDomain(ctx, other.ID, "example.com"), ErrNotFound) // not other's
		must(t, s.RemoveDomain(ctx, a.ID, "example.com"))
		ds, err := s.ListDomains(ctx, a.ID)
		must(t, err)
		if len(ds) != 1 || ds[0].Domain != "www.example.com" || ds[0].AppID != a.ID {
			t.Fatalf("ListDomains = %+v", ds)
		}

		// Deleting the app cascades to its children but keeps its jobs.
		d, j := &Deployment{AppID: a.ID}, &Job{}
		must(t, s.CreateDeploymentWithJob(ctx, d, j))
		_, err = s.AppendBuildLog(ctx, d.ID, 0, "hello")
		must(t, err)
		must(t, s.InsertAppStats(ctx, []AppStat{{AppID: a.ID, CPUPercent: 1}}))
		must(t, s.InsertViolation(ctx, &Violation{AppID: a.ID, Kind: "oom"}))
		del := &Job{Type: JobDelete, AppID: a.ID, AppName: a.Name}
		must(t, s.CreateJob(ctx, del))

		must(t, s.DeleteApp(ctx, a.ID))
		wantErr(t, s.DeleteApp(ctx, a.ID), ErrNotFound)
		_, err = s.GetApp(ctx, a.ID)
		wantErr(t, err, ErrNotFound)
		_, err = s.GetDeployment(ctx, d.ID)
		wantErr(t, err, ErrNotFound)
		_, err = s.GetAppByDomain(ctx, "www.example.com")
		wantErr(t, err, ErrNotFound)
		for table, col := range map[string]string{"app_env": "app_id", "app_domains": "app_id",
			"app_stats": "app_id", "violations": "app_id", "build_log_chunks": "deployment_id"} {
			var n int
			key := a.ID
			if col == "deployment_id" {
				key = d.ID
			}
			must(t, s.queryRow(ctx, `SELECT COUNT(*) FROM `+table+` WHERE `+col+` = ?`, key).Scan(&n))
			if n != 0 {
				t.Errorf("%d rows left in %s after app delete", n, table)
			}
		}
		for _, id := range []string{j.ID, del.ID} {
			kept, err := s.GetJob(ctx, id)
			must(t, err)
			if kept.AppID != a.ID || kept.AppName != "web" {
				t.Fatalf("job after app delete = %+v", kept)
			}
		}
		if kept, _ := s.GetJob(ctx, j.ID); kept.DeploymentID != "" {
			t.Fatalf("job still points at deleted deployment %s", kept.DeploymentID)
		}
	})
}

func TestDeploymentStatus(t *testing.T) {
	type step struct {
		status string
		want   error
	}
	tests := []struct {
		name  string
		steps []step
		final string
	}{
		{"happy path", []step{{DeploymentBuilding, nil}, {DeploymentStarting, nil}, {DeploymentRunning, nil}}, DeploymentRunning},
		{"skip to failed", []step{{DeploymentFailed, nil}}, DeploymentFailed},
		{"repeat is harmless", []step{{DeploymentBuilding, nil}, {DeploymentBuilding, nil}, {DeploymentFailed, nil}, {DeploymentFailed, nil}}, DeploymentFailed},
		{"terminal is final", []step{{DeploymentRunning, nil}, {DeploymentFailed, ErrConflict}, {DeploymentBuilding, ErrConflict}}, DeploymentRunning},
		{"cancelled is final", []step{{DeploymentCancelled, nil}, {DeploymentRunning, ErrConflict}}, DeploymentCancelled},
		{"no going back", []step{{DeploymentStarting, nil}, {DeploymentBuilding, ErrConflict}, {DeploymentQueued, ErrConflict}}, DeploymentStarting},
	}
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		_, team := newUser(t, s, "a@example.com")
		app := newApp(t, s, team.ID, "web")
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				d := &Deployment{AppID: app.ID, Trigger: TriggerGit, Branch: "main", CreatedBy: "usr_x"}
				must(t, s.CreateDeploymentWithJob(ctx, d, &Job{}))
				at := tnow()
				for i, st := range tt.steps {
					err := s.UpdateDeploymentStatus(ctx, d.ID, st.status, st.status+" msg", at.Add(time.Duration(i)*time.Second))
					wantErr(t, err, st.want)
				}
				got, err := s.GetDeployment(ctx, d.ID)
				must(t, err)
				if got.Status != tt.final {
					t.Fatalf("status = %s, want %s", got.Status, tt.final)
				}
				if got.StartedAt.IsZero() || !got.StartedAt.Equal(at) {
					t.Errorf("StartedAt = %v, want %v (first step)", got.StartedAt, at)
				}
				if DeploymentFinished(tt.final) == got.FinishedAt.IsZero() {
					t.Errorf("FinishedAt = %v for status %s", got.FinishedAt, got.Status)
				}
				cur, _ := s.GetApp(ctx, app.ID)
				if (tt.final == DeploymentRunning) != (cur.CurrentDeploymentID == d.ID) {
					t.Errorf("current deployment = %q, deployment %s is %s", cur.CurrentDeploymentID, d.ID, tt.final)
				}
			})
		}

		if err := s.UpdateDeploymentStatus(ctx, "dep_x", "exploded", "", time.Time{}); err == nil {
			t.Fatal("unknown status accepted")
		}
		wantErr(t, s.UpdateDeploymentStatus(ctx, "dep_missing", DeploymentBuilding, "", time.Time{}), ErrNotFound)

		// Ordering is by creation time at millisecond precision, so give
		// the newest one a clearly later time.
		d := &Deployment{AppID: app.ID, CreatedAt: tnow().Add(time.Minute)}
		must(t, s.CreateDeploymentWithJob(ctx, d, &Job{}))
		must(t, s.SetDeploymentResult(ctx, d.ID, "sha256:abc", "deadbeef"))
		must(t, s.SetDeploymentResult(ctx, d.ID, "", "")) // keeps both
		got, _ := s.GetDeployment(ctx, d.ID)
		if got.ImageID != "sha256:abc" || got.CommitSHA != "deadbeef" || got.Status != DeploymentQueued || got.Trigger != TriggerAPI {
			t.Fatalf("deployment = %+v", got)
		}
		wantErr(t, s.SetDeploymentResult(ctx, "dep_missing", "x", "y"), ErrNotFound)

		list, err := s.ListDeployments(ctx, app.ID, 3)
		must(t, err)
		if len(list) != 3 || list[0].ID != d.ID {
			t.Fatalf("ListDeployments: %d, first %s, want 3, first %s", len(list), list[0].ID, d.ID)
		}
		wantErr(t, s.CreateDeploymentWithJob(ctx, &Deployment{AppID: "app_missing"}, &Job{}), ErrNotFound)
		if err := s.CreateDeploymentWithJob(ctx, &Deployment{AppID: app.ID, Trigger: "cron"}, &Job{}); err == nil {
			t.Fatal("unknown trigger accepted")
		}
	})
}

func TestBuildLog(t *testing.T) {
	// Byte layout: "hello world" 0-10, "\n" 11, "→" 12-14, " " 15, "ü" 16-17,
	// "n" 18, "ï" 19-20, "code" 21-24, "\n" 25, "done\n" 26-30.
	const full = "hello world\n→ ünïcode\ndone\n"
	steps := []struct {
		name    string
		offset  int64
		data    string
		wantLen int64
		wantErr error
	}{
		{"first chunk", 0, full[:6], 6, nil},
		{"exact duplicate", 0, full[:6], 6, nil},
		{"duplicate inside", 3, full[3:5], 6, nil},
		{"overlapping end", 3, full[3:11], 11, nil},
		{"gap refused", 20, full[20:], 11, ErrConflict},
		{"empty chunk", 11, "", 11, nil},
		{"ends inside a rune", 11, full[11:14], 14, nil},
		{"starts and ends inside runes", 13, full[13:17], 17, nil},
		{"rest", 17, full[17:], 31, nil},
		{"late duplicate", 12, full[12:20], 31, nil},
	}
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		_, team := newUser(t, s, "a@example.com")
		app := newApp(t, s, team.ID, "web")
		d := &Deployment{AppID: app.ID}
		must(t, s.CreateDeploymentWithJob(ctx, d, &Job{}))

		for _, st := range steps {
			n, err := s.AppendBuildLog(ctx, d.ID, st.offset, st.data)
			wantErr(t, err, st.wantErr)
			if n != st.wantLen {
				t.Fatalf("%s: AppendBuildLog(%d, %q) = %d, want %d", st.name, st.offset, st.data, n, st.wantLen)
			}
		}
		if _, err := s.AppendBuildLog(ctx, d.ID, -1, "x"); err == nil {
			t.Fatal("negative offset accepted")
		}
		for _, from := range []int64{0, 1, 6, 11, 12, 13, 17, 30, 31, 40} {
			data, next, err := s.ReadBuildLog(ctx, d.ID, from)
			must(t, err)
			want, wantNext := "", from
			if from < int64(len(full)) {
				want, wantNext = full[from:], int64(len(full))
			}
			if data != want || next != wantNext {
				t.Errorf("ReadBuildLog(%d) = %q, %d; want %q, %d", from, data, next, want, wantNext)
			}
		}
		got, _ := s.GetDeployment(ctx, d.ID)
		if got.LogLen != int64(len(full)) {
			t.Fatalf("LogLen = %d, want %d", got.LogLen, len(full))
		}

		empty := &Deployment{AppID: app.ID}
		must(t, s.CreateDeploymentWithJob(ctx, empty, &Job{}))
		data, next, err := s.ReadBuildLog(ctx, empty.ID, 0)
		must(t, err)
		if data != "" || next != 0 {
			t.Fatalf("empty log = %q, %d", data, next)
		}
		_, _, err = s.ReadBuildLog(ctx, "dep_missing", 0)
		wantErr(t, err, ErrNotFound)
		_, err = s.AppendBuildLog(ctx, "dep_missing", 0, "x")
		wantErr(t, err, ErrNotFound)
	})
}

// TestSetAppEnvsCap: the cap holds under concurrent requests, and a
// refused change writes nothing.
func TestSetAppEnvsCap(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		_, team := newUser(t, s, "a@example.com")
		a := newApp(t, s, team.ID, "web")
		must(t, s.SetAppEnvs(ctx, a.ID, map[string][]byte{"A": []byte("1"), "B": []byte("2")}, 3))
		// Two new names would make 4: refused, and B's new value not kept.
		wantErr(t, s.SetAppEnvs(ctx, a.ID, map[string][]byte{"B": []byte("x"), "C": []byte("3"), "D": []byte("4")}, 3), ErrEnvCap)
		env, err := s.ListAppEnv(ctx, a.ID)
		must(t, err)
		if len(env) != 2 || string(env["B"]) != "2" {
			t.Fatalf("after a refused change: %q", env)
		}
		// Updating existing names never counts against the cap.
		must(t, s.SetAppEnvs(ctx, a.ID, map[string][]byte{"A": []byte("9"), "B": []byte("8")}, 2))
		// Ten concurrent requests, each adding its own name, cap 5: five win.
		errs := make(chan error, 10)
		for i := range 10 {
			go func() {
				errs <- s.SetAppEnvs(ctx, a.ID, map[string][]byte{fmt.Sprintf("V%d", i): []byte("v")}, 5)
			}()
		}
		won := 0
		for range 10 {
			switch err := <-errs; {
			case err == nil:
				won++
			case !errors.Is(err, ErrEnvCap):
				t.Fatalf("unexpected error: %v", err)
			}
		}
		env, err = s.ListAppEnv(ctx, a.ID)
		must(t, err)
		if won != 3 || len(env) != 5 {
			t.Fatalf("%d requests won, %d vars kept; want 3 and 5", won, len(env))
		}
		wantErr(t, s.SetAppEnvs(ctx, "app_missing", map[string][]byte{"X": nil}, 5), ErrNotFound)
	})
}
