package worker

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wisehosting/wisehosting/internal/models"
	"github.com/wisehosting/wisehosting/internal/wsproto"
)

func TestValidateControlPlaneURL(t *testing.T) {
	ok := []string{"https://cp.example.com", "https://cp.example.com:8443/base", "http://127.0.0.1:8080", "http://10.0.0.5", "http://192.168.1.2:80", "http://172.16.0.1", "http://[::1]:8080"}
	bad := []string{"", "cp.example.com", "http://cp.example.com", "http://8.8.8.8", "http://localhost:8080", "http://[fd00::1]/", "ftp://x", "https://user:pw@cp", "https://cp/?x=1", "ws://127.0.0.1"}
	for _, u := range ok {
		if err := validateControlPlaneURL(u); err != nil {
			t.Errorf("%q refused: %v", u, err)
		}
	}
	for _, u := range bad {
		if err := validateControlPlaneURL(u); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
}

func TestNextBackoffBounds(t *testing.T) {
	for b := backoffMin; b <= 2*backoffMax; b *= 2 {
		for range 200 {
			got := nextBackoff(b)
			if got < backoffMin || got > backoffMax {
				t.Fatalf("nextBackoff(%v) = %v, outside [%v, %v]", b, got, backoffMin, backoffMax)
			}
			if b <= backoffMax && got < b {
				t.Fatalf("nextBackoff(%v) = %v: jitter must only add", b, got)
			}
		}
	}
}

func TestAuthTokenFallsBackToKey(t *testing.T) {
	a := &Agent{cfg: Config{APIKey: "whk_raw"}}
	if got := a.authToken(); got != "whk_raw" {
		t.Fatalf("no JWT yet: %q", got)
	}
	a.setJWT("jwt-1", time.Now().Add(time.Minute))
	if got := a.authToken(); got != "jwt-1" {
		t.Fatalf("valid JWT: %q", got)
	}
	a.setJWT("jwt-2", time.Now().Add(-time.Second))
	if got := a.authToken(); got != "whk_raw" {
		t.Fatalf("expired JWT: %q", got)
	}
}

func deployJob(id string) *wsproto.JobPayload {
	return &wsproto.JobPayload{JobID: id, Type: models.JobDeploy, AppID: "app_1",
		Deploy: &models.DeployPayload{AppID: "app_1", AppName: "web", RepoURL: "https://example.com/r.git", Port: 8080}}
}

// A job is acked on receipt; a full queue answers accepted:false; a job
// seen before is never queued twice, and a finished one is answered with its
// stored result — also after the agent restarts.
func TestAcceptJobDedupAndQueueFull(t *testing.T) {
	a := newTestAgent(t, newFakeRunner())
	seen, err := loadJobRecords(filepath.Join(a.cfg.DataDir, "jobs.json"))
	if err != nil {
		t.Fatal(err)
	}
	a.seen = seen
	a.jobs = make(chan *wsproto.JobPayload, 2)
	drain := connectCapture(t, a)
	acks := func() (accepted, refused int, results []wsproto.JobResultPayload) {
		for _, m := range drain() {
			switch p := m.payload.(type) {
			case wsproto.JobAckPayload:
				if p.Accepted {
					accepted++
				} else {
					refused++
				}
			case *wsproto.JobResultPayload:
				results = append(results, *p)
			}
		}
		return
	}
	a.acceptJob(deployJob("j1"))
	a.acceptJob(deployJob("j2"))
	a.acceptJob(deployJob("j3")) // queue of 2 is full
	if acc, ref, _ := acks(); acc != 2 || ref != 1 {
		t.Fatalf("accepted %d refused %d, want 2 and 1", acc, ref)
	}
	a.acceptJob(deployJob("j1")) // redelivered while queued: acked, not queued again
	if acc, _, _ := acks(); acc != 1 || len(a.jobs) != 2 {
		t.Fatalf("redelivery: accepted %d, queue %d", acc, len(a.jobs))
	}
	// j1 finishes; its redelivery gets the stored result.
	res := wsproto.JobResultPayload{JobID: "j1", Success: true, ContainerID: "c1"}
	a.seen.put("j1", jobRecord{State: "done", Result: &res})
	a.acceptJob(deployJob("j1"))
	if _, _, results := acks(); len(results) != 1 || results[0].ContainerID != "c1" {
		t.Fatalf("stored result not sent again: %+v", results)
	}
	// After a restart the finished job is still known; unfinished ones
	// are forgotten so their redelivery runs them.
	again, err := loadJobRecords(filepath.Join(a.cfg.DataDir, "jobs.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := again.get("j1"); !ok {
		t.Fatal("finished job forgotten after restart")
	}
	if _, ok := again.get("j2"); ok {
		t.Fatal("a queued job survived a restart: it would never run")
	}
}

func TestValidateJobRefusesHostileInput(t *testing.T) {
	cases := map[string]func(j *wsproto.JobPayload){
		"unknown type":       func(j *wsproto.JobPayload) { j.Type = "format-disk" },
		"no payload":         func(j *wsproto.JobPayload) { j.Deploy = nil },
		"app name injection": func(j *wsproto.JobPayload) { j.Deploy.AppName = "x;id" },
		"repo option":        func(j *wsproto.JobPayload) { j.Deploy.RepoURL = "-uhttps://x" },
		"branch option":      func(j *wsproto.JobPayload) { j.Deploy.Branch = "-f" },
		"commit option":      func(j *wsproto.JobPayload) { j.Deploy.Commit = "--upload-pack=x" },
		"dockerfile escape":  func(j *wsproto.JobPayload) { j.Deploy.DockerfilePath = "../../etc/passwd" },
		"env name":           func(j *wsproto.JobPayload) { j.Deploy.Env = map[string]string{"A=B": "x"} },
		"port":               func(j *wsproto.JobPayload) { j.Deploy.Port = 0 },
		"image id":           func(j *wsproto.JobPayload) { j.Deploy.ImageID = "localhost/other-app:latest" },
		"limits":             func(j *wsproto.JobPayload) { j.Deploy.Limits.MemoryBytes = 1 },
		"health check path":  func(j *wsproto.JobPayload) { j.Deploy.HealthCheckPath = "healthz" },
	}
	if err := validateJob(deployJob("ok")); err != nil {
		t.Fatalf("valid job refused: %v", err)
	}
	for name, mutate := range cases {
		j := deployJob("x")
		mutate(j)
		if err := validateJob(j); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestJobRecordsSurviveATornFile: an unreadable jobs.json (a full disk, a
// crash mid-write of an older build) does not keep the agent from
// starting; saves are fsynced temp files renamed into place.
func TestJobRecordsSurviveATornFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "jobs.json")
	if err := os.WriteFile(path, []byte(`{"j1":{"state":"do`), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := loadJobRecords(path)
	if err != nil {
		t.Fatalf("torn file refused: %v", err)
	}
	r.put("j2", jobRecord{State: "done"})
	again, err := loadJobRecords(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := again.get("j2"); !ok {
		t.Fatal("record written after a torn file was lost")
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Fatalf("temp file left behind: %v", err)
	}
}
