package store

import (
	"context"
	"testing"
	"time"
)

func TestJobLifecycle(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		_, team := newUser(t, s, "a@example.com")
		app := newApp(t, s, team.ID, "web")
		w1, w2 := newWorker(t, s, "w1"), newWorker(t, s, "w2")

		d, j := &Deployment{AppID: app.ID}, &Job{}
		must(t, s.CreateDeploymentWithJob(ctx, d, j))
		if j.Type != JobDeploy || j.State != JobPending || j.AppID != app.ID || j.AppName != "web" || j.DeploymentID != d.ID {
			t.Fatalf("created job = %+v", j)
		}
		got, err := s.GetJob(ctx, j.ID)
		must(t, err)
		if *got != *j {
			t.Fatalf("GetJob = %+v\nwant %+v", got, j)
		}
		pending, err := s.ListPendingJobs(ctx)
		must(t, err)
		if len(pending) != 1 || pending[0].ID != j.ID {
			t.Fatalf("ListPendingJobs = %+v", pending)
		}

		// Not pending: cannot ack; can assign, which also tags the deployment.
		wantErr(t, s.MarkJobAcked(ctx, j.ID, tnow()), ErrConflict)
		must(t, s.AssignJob(ctx, j.ID, w1.ID))
		wantErr(t, s.AssignJob(ctx, j.ID, 999999), ErrNotFound) // no such worker
		if dep, _ := s.GetDeployment(ctx, d.ID); dep.WorkerID != w1.ID {
			t.Fatalf("deployment worker = %d, want %d", dep.WorkerID, w1.ID)
		}

		sent := tnow().Add(-time.Minute)
		must(t, s.MarkJobSent(ctx, j.ID, sent))
		wantErr(t, s.AssignJob(ctx, j.ID, w2.ID), ErrConflict) // no longer pending
		stale, err := s.ListStaleSentJobs(ctx, sent.Add(time.Second))
		must(t, err)
		if len(stale) != 1 || stale[0].ID != j.ID {
			t.Fatalf("ListStaleSentJobs = %+v", stale)
		}
		stale, err = s.ListStaleSentJobs(ctx, sent)
		must(t, err)
		if len(stale) != 0 {
			t.Fatalf("job sent at the cutoff counted as stale")
		}
		must(t, s.MarkJobSent(ctx, j.ID, sent.Add(time.Second))) // resend
		acked := tnow()
		must(t, s.MarkJobAcked(ctx, j.ID, acked))
		must(t, s.MarkJobAcked(ctx, j.ID, acked.Add(time.Second))) // redelivered ack
		got, _ = s.GetJob(ctx, j.ID)
		if got.State != JobAcked || got.Attempts != 2 || got.WorkerID != w1.ID || !got.AckedAt.Equal(acked) {
			t.Fatalf("acked job = %+v", got)
		}
		// A resend after a reconnect needs a fresh ack.
		must(t, s.MarkJobSent(ctx, j.ID, acked.Add(2*time.Second)))
		if got, _ = s.GetJob(ctx, j.ID); got.State != JobSent || got.Attempts != 3 {
			t.Fatalf("resent acked job = %+v", got)
		}
		must(t, s.MarkJobAcked(ctx, j.ID, acked.Add(3*time.Second)))

		// A second job for the worker, then the worker refuses it.
		stop := &Job{Type: JobStop, AppID: app.ID, AppName: app.Name}
		must(t, s.CreateJob(ctx, stop))
		must(t, s.AssignJob(ctx, stop.ID, w1.ID))
		must(t, s.MarkJobSent(ctx, stop.ID, tnow()))
		unfinished, err := s.ListUnfinishedJobsForWorker(ctx, w1.ID)
		must(t, err)
		if len(unfinished) != 2 {
			t.Fatalf("ListUnfinishedJobsForWorker = %d jobs, want 2", len(unfinished))
		}
		must(t, s.MarkJobPending(ctx, stop.ID, "busy"))
		got, _ = s.GetJob(ctx, stop.ID)
		if got.State != JobPending || got.WorkerID != 0 || got.LastError != "busy" || got.Attempts != 1 {
			t.Fatalf("refused job = %+v", got)
		}
		unfinished, _ = s.ListUnfinishedJobsForWorker(ctx, w1.ID)
		if len(unfinished) != 1 || unfinished[0].ID != j.ID {
			t.Fatalf("after refusal, unfinished = %+v", unfinished)
		}

		// Finishing is idempotent: only the first result counts.
		fin := tnow()
		must(t, s.FinishJob(ctx, j.ID, true, `{"image_id":"img1"}`, "", fin))
		must(t, s.FinishJob(ctx, j.ID, false, `{}`, "boom", fin.Add(time.Hour)))
		got, _ = s.GetJob(ctx, j.ID)
		if got.State != JobDone || got.ResultJSON != `{"image_id":"img1"}` || got.LastError != "" || !got.FinishedAt.Equal(fin) {
			t.Fatalf("finished job = %+v", got)
		}
		must(t, s.MarkJobAcked(ctx, j.ID, tnow())) // late ack: no-op
		wantErr(t, s.MarkJobPending(ctx, j.ID, "x"), ErrConflict)
		wantErr(t, s.MarkJobSent(ctx, j.ID, tnow()), ErrConflict)
		wantErr(t, s.FinishJob(ctx, "job_missing", true, "", "", fin), ErrNotFound)
		wantErr(t, s.MarkJobSent(ctx, "job_missing", fin), ErrNotFound)
		wantErr(t, s.MarkJobAcked(ctx, "job_missing", fin), ErrNotFound)
		wantErr(t, s.MarkJobPending(ctx, "job_missing", ""), ErrNotFound)
		wantErr(t, s.AssignJob(ctx, "job_missing", w1.ID), ErrNotFound)

		failed := &Job{Type: JobRestart, AppID: app.ID}
		must(t, s.CreateJob(ctx, failed))
		must(t, s.FinishJob(ctx, failed.ID, false, "", "no such container", fin))

		counts, err := s.CountJobsByState(ctx)
		must(t, err)
		want := map[string]int{JobPending: 1, JobSent: 0, JobAcked: 0, JobDone: 1, JobFailed: 1}
		for st, n := range want {
			if counts[st] != n {
				t.Errorf("CountJobsByState[%s] = %d, want %d (all: %v)", st, counts[st], n, counts)
			}
		}
		byState, err := s.ListJobsByState(ctx, JobFailed)
		must(t, err)
		if len(byState) != 1 || byState[0].ID != failed.ID || byState[0].LastError != "no such container" {
			t.Fatalf("ListJobsByState(failed) = %+v", byState)
		}
		if err := s.CreateJob(ctx, &Job{Type: "reboot", AppID: app.ID}); err == nil {
			t.Fatal("unknown job type accepted")
		}
	})
}
