package webhook_test

// Tests of the inbound git hook (internal/api/githooks.go). They live here
// because they need a whole control plane (servertest), and the last one
// follows a push all the way to an outbound webhook.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wisehosting/wisehosting/internal/servertest"
)

const (
	commitA = "0123456789abcdef0123456789abcdef01234567"
	commitB = "89abcdef0123456789abcdef0123456789abcdef"
	zeros   = "0000000000000000000000000000000000000000"
)

type gitHook struct {
	URL         string `json:"url"`
	Secret      string `json:"secret"`
	ContentType string `json:"content_type"`
}

func createApp(t *testing.T, srv *servertest.Server, token string, body map[string]any) {
	t.Helper()
	if r := srv.Do("POST", "/v1/apps", token, body); r.Status != http.StatusCreated {
		t.Fatalf("create app: %d %s", r.Status, r.Body)
	}
}

func getGitHook(t *testing.T, srv *servertest.Server, token, app string) gitHook {
	t.Helper()
	r := srv.Do("GET", "/v1/apps/"+app+"/hooks/git", token, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("get git hook: %d %s", r.Status, r.Body)
	}
	var h gitHook
	r.JSON(t, &h)
	return h
}

// post sends a raw hook request.
func post(t *testing.T, u string, header map[string]string, body []byte) servertest.Response {
	t.Helper()
	req, err := http.NewRequest("POST", u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return servertest.Response{Status: resp.StatusCode, Body: data, Header: resp.Header}
}

func githubSig(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// github posts a GitHub-style event signed with secret.
func github(t *testing.T, u, secret, event string, payload any) servertest.Response {
	t.Helper()
	body, _ := json.Marshal(payload)
	return post(t, u, map[string]string{"X-GitHub-Event": event, "X-Hub-Signature-256": githubSig(secret, body),
		"X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"}, body)
}

func gitlab(t *testing.T, u, token, event string, payload any) servertest.Response {
	t.Helper()
	body, _ := json.Marshal(payload)
	return post(t, u, map[string]string{"X-Gitlab-Event": event, "X-Gitlab-Token": token}, body)
}

func ghPush(ref, after string) map[string]any {
	return map[string]any{"ref": ref, "before": commitB, "after": after, "deleted": after == zeros,
		"repository": map[string]any{"full_name": "example/repo"}, "commits": []any{map[string]any{"id": after}},
		"pusher": map[string]any{"name": "dev"}}
}

type deployment struct {
	ID      string `json:"id"`
	AppID   string `json:"app_id"`
	Status  string `json:"status"`
	Trigger string `json:"trigger"`
	Branch  string `json:"branch"`
	Commit  string `json:"commit"`
}

func listDeployments(t *testing.T, srv *servertest.Server, token, app string) []deployment {
	t.Helper()
	r := srv.Do("GET", "/v1/apps/"+app+"/deployments", token, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("list deployments: %d %s", r.Status, r.Body)
	}
	var ds []deployment
	r.JSON(t, &ds)
	return ds
}

func deploymentID(t *testing.T, r servertest.Response) string {
	t.Helper()
	if r.Status != http.StatusAccepted {
		t.Fatalf("want 202, got %d %s", r.Status, r.Body)
	}
	var out struct {
		DeploymentID string `json:"deployment_id"`
	}
	r.JSON(t, &out)
	if !strings.HasPrefix(out.DeploymentID, "dep_") {
		t.Fatalf("answer %s", r.Body)
	}
	return out.DeploymentID
}

func wantIgnored(t *testing.T, what string, r servertest.Response, reason string) {
	t.Helper()
	var out struct {
		Ignored string `json:"ignored"`
	}
	if r.Status != http.StatusOK {
		t.Errorf("%s: want 200, got %d %s", what, r.Status, r.Body)
		return
	}
	r.JSON(t, &out)
	if !strings.Contains(out.Ignored, reason) {
		t.Errorf("%s: ignored %q, want %q", what, out.Ignored, reason)
	}
}

func TestGitHookSecretAccess(t *testing.T) {
	servertest.ForEachDB(t, func(t *testing.T, db servertest.DB) {
		e := newTeamEnv(t, db)
		srv := e.srv
		createApp(t, srv, e.member, map[string]any{"name": "team-app", "team": "acme",
			"repo_url": "https://github.com/example/repo.git"})

		// Before anyone read the secret, nothing is accepted.
		body, _ := json.Marshal(ghPush("refs/heads/main", commitA))
		hookURL := srv.URL + "/v1/apps/team-app/hooks/git"
		if r := post(t, hookURL, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": githubSig("", body)}, body); r.Status != http.StatusUnauthorized {
			t.Errorf("push before the secret exists: %d %s", r.Status, r.Body)
		}

		if r := srv.Do("GET", "/v1/apps/team-app/hooks/git", e.viewer, nil); r.Status != http.StatusForbidden {
			t.Errorf("viewer reads the secret: %d %s", r.Status, r.Body)
		}
		if r := srv.Do("GET", "/v1/apps/team-app/hooks/git", e.outsider, nil); r.Status != http.StatusNotFound {
			t.Errorf("outsider reads the secret: %d %s", r.Status, r.Body)
		}
		if r := srv.Do("GET", "/v1/apps/team-app/hooks/git", "", nil); r.Status != http.StatusUnauthorized {
			t.Errorf("anonymous reads the secret: %d %s", r.Status, r.Body)
		}
		h := getGitHook(t, srv, e.member, "team-app")
		if h.URL != hookURL || !strings.HasPrefix(h.Secret, "whgit_") || len(h.Secret) < 30 || h.ContentType != "application/json" {
			t.Errorf("git hook: %+v (want url %s)", h, hookURL)
		}
		if again := getGitHook(t, srv, e.admin, "team-app"); again.Secret != h.Secret {
			t.Errorf("secret changed between reads: %q then %q", h.Secret, again.Secret)
		}
		// Stored encrypted, under the documented key.
		v, err := srv.S.Store.GetSetting(context.Background(), "githook:"+appID(t, srv, e.member, "team-app"))
		if err != nil || v == "" || strings.Contains(v, h.Secret) {
			t.Errorf("setting: %q, %v", v, err)
		}
		if r := github(t, hookURL, h.Secret, "push", ghPush("refs/heads/main", commitA)); r.Status != http.StatusAccepted {
			t.Errorf("push with the secret: %d %s", r.Status, r.Body)
		}
	})
}

func appID(t *testing.T, srv *servertest.Server, token, name string) string {
	t.Helper()
	var a struct {
		ID string `json:"id"`
	}
	srv.Do("GET", "/v1/apps/"+name, token, nil).JSON(t, &a)
	return a.ID
}

func TestGitHookPush(t *testing.T) {
	servertest.ForEachDB(t, func(t *testing.T, db servertest.DB) {
		srv := servertest.New(t, db)
		owner := srv.Signup("owner@example.com")
		createApp(t, srv, owner, map[string]any{"name": "hooked", "repo_url": "https://github.com/example/repo.git",
			"branch": "release/v1"})
		h := getGitHook(t, srv, owner, "hooked")
		u := h.URL

		// GitHub, signed: deploys that commit.
		id := deploymentID(t, github(t, u, h.Secret, "push", ghPush("refs/heads/release/v1", commitA)))
		r := srv.Do("GET", "/v1/deployments/"+id, owner, nil)
		var dep deployment
		r.JSON(t, &dep)
		if r.Status != http.StatusOK || dep.Commit != commitA || dep.Trigger != "git" || dep.Branch != "release/v1" || dep.Status != "queued" {
			t.Errorf("deployment: %d %+v", r.Status, dep)
		}

		// Bad or missing signatures: 401 and nothing happens.
		payload, _ := json.Marshal(ghPush("refs/heads/release/v1", commitB))
		for name, hdr := range map[string]map[string]string{
			"wrong secret": {"X-GitHub-Event": "push", "X-Hub-Signature-256": githubSig("not-the-secret", payload)},
			"other body":   {"X-GitHub-Event": "push", "X-Hub-Signature-256": githubSig(h.Secret, append(payload, ' '))},
			"sha1 form":    {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha1=" + strings.TrimPrefix(githubSig(h.Secret, payload), "sha256=")},
			"not hex":      {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=xyz"},
			"no signature": {"X-GitHub-Event": "push"},
			"gitlab wrong": {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": h.Secret + "x"},
			"gitlab empty": {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": ""},
		} {
			if r := post(t, u, hdr, payload); r.Status != http.StatusUnauthorized {
				t.Errorf("%s: %d %s", name, r.Status, r.Body)
			}
		}
		if ds := listDeployments(t, srv, owner, "hooked"); len(ds) != 1 {
			t.Fatalf("rejected hooks created deployments: %+v", ds)
		}

		// GitLab: the token, and checkout_sha.
		id2 := deploymentID(t, gitlab(t, u, h.Secret, "Push Hook", map[string]any{"object_kind": "push",
			"ref": "refs/heads/release/v1", "before": commitA, "after": commitA, "checkout_sha": commitB,
			"project": map[string]any{"path_with_namespace": "example/repo"}}))
		srv.Do("GET", "/v1/deployments/"+id2, owner, nil).JSON(t, &dep)
		if dep.Commit != commitB || dep.Trigger != "git" {
			t.Errorf("gitlab deployment: %+v", dep)
		}

		// GitHub's form encoding: the HMAC covers the form body.
		form := []byte("payload=" + url.QueryEscape(string(payload)))
		r = post(t, u, map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-GitHub-Event": "push",
			"X-Hub-Signature-256": githubSig(h.Secret, form)}, form)
		id3 := deploymentID(t, r)

		// Ignored, with 200.
		wantIgnored(t, "ping", github(t, u, h.Secret, "ping", map[string]any{"zen": "Keep it simple.", "hook_id": 1}), "ping")
		wantIgnored(t, "other branch", github(t, u, h.Secret, "push", ghPush("refs/heads/main", commitA)), "branch")
		wantIgnored(t, "tag", github(t, u, h.Secret, "push", ghPush("refs/tags/v1.0.0", commitA)), "tag")
		wantIgnored(t, "deletion", github(t, u, h.Secret, "push", ghPush("refs/heads/release/v1", zeros)), "deleted")
		wantIgnored(t, "other event", github(t, u, h.Secret, "issues", map[string]any{"action": "opened"}), "not handled")
		wantIgnored(t, "gitlab tag", gitlab(t, u, h.Secret, "Tag Push Hook", map[string]any{"ref": "refs/tags/v1",
			"after": commitA, "checkout_sha": commitA}), "tag")
		wantIgnored(t, "gitlab deletion", gitlab(t, u, h.Secret, "Push Hook", map[string]any{"ref": "refs/heads/release/v1",
			"before": commitA, "after": zeros, "checkout_sha": nil}), "deleted")

		// Malformed but authentic: 4xx, no deployment.
		if r := github(t, u, h.Secret, "push", ghPush("refs/heads/release/v1", "NOT-A-COMMIT")); r.Status != http.StatusUnprocessableEntity {
			t.Errorf("bad commit: %d %s", r.Status, r.Body)
		}
		garbage := []byte("{not json")
		if r := post(t, u, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": githubSig(h.Secret, garbage)}, garbage); r.Status != http.StatusBadRequest {
			t.Errorf("bad json: %d %s", r.Status, r.Body)
		}
		big := bytes.Repeat([]byte(" "), 5<<20+1)
		if r := post(t, u, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": githubSig(h.Secret, big)}, big); r.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("6 MiB body: %d %s", r.Status, r.Body)
		}

		// Unknown app.
		if r := github(t, srv.URL+"/v1/apps/no-such-app/hooks/git", h.Secret, "push", ghPush("refs/heads/main", commitA)); r.Status != http.StatusNotFound {
			t.Errorf("unknown app: %d %s", r.Status, r.Body)
		}

		ds := listDeployments(t, srv, owner, "hooked")
		if len(ds) != 3 {
			t.Fatalf("deployments: %+v", ds)
		}
		seen := map[string]bool{}
		for _, d := range ds {
			seen[d.ID] = true
		}
		if !seen[id] || !seen[id2] || !seen[id3] {
			t.Errorf("deployments %+v, want %s %s %s", ds, id, id2, id3)
		}
	})
}

// TestPushToWebhook follows a push through a worker to an outbound
// webhook: git hook → deployment → job on the worker → job_result →
// dispatcher event → signed delivery.
func TestPushToWebhook(t *testing.T) {
	servertest.ForEachDB(t, func(t *testing.T, db servertest.DB) {
		srv := servertest.New(t, db)
		owner := srv.Signup("owner@example.com")
		team := personalTeam(t, srv, owner)
		_, key := srv.CreateWorker(owner, "w1")
		w := servertest.NewProtoWorker(t, srv.URL, key)
		w.Connect()
		defer w.Close()
		w.Send("heartbeat", map[string]any{"status": "ready"})

		rc := newReceiver(t, func(int) (int, string) { return http.StatusOK, "" })
		srv.S.Webhooks.SetHTTPClient(rc.Client())
		hook := createHook(t, srv, owner, team, map[string]any{"url": rc.URL, "events": []string{"deployment.succeeded"}})

		createApp(t, srv, owner, map[string]any{"name": "chain", "repo_url": "https://github.com/example/repo.git"})
		gh := getGitHook(t, srv, owner, "chain")
		depID := deploymentID(t, github(t, gh.URL, gh.Secret, "push", ghPush("refs/heads/main", commitA)))

		job := w.ExpectJob(10 * time.Second)
		if job.DeploymentID != depID || job.Type != "deploy" || job.Deploy["commit"] != commitA {
			t.Fatalf("job %v, deploy %v", job, job.Deploy)
		}
		w.Send("job_ack", map[string]any{"job_id": job.JobID, "accepted": true})
		w.Send("job_result", map[string]any{"job_id": job.JobID, "deployment_id": depID, "success": true,
			"message": "deployed", "container_id": "c1", "image_id": "sha256:abc", "host_port": 20001, "commit": commitA})

		got := rc.next(t, 10*time.Second)
		if got.Header.Get("X-WiseHosting-Event") != "deployment.succeeded" {
			t.Errorf("event %q", got.Header.Get("X-WiseHosting-Event"))
		}
		var body struct {
			Event string         `json:"event"`
			Data  map[string]any `json:"data"`
		}
		if err := json.Unmarshal(got.Body, &body); err != nil {
			t.Fatal(err)
		}
		if body.Data["deployment_id"] != depID || body.Data["app"] != "chain" || body.Data["status"] != "running" {
			t.Errorf("delivered %s", got.Body)
		}
		servertest.Eventually(t, 5*time.Second, "delivery logged", func() bool {
			ds := deliveries(t, srv, owner, team, hook.ID)
			return len(ds) == 1 && ds[0].State == "delivered"
		})
	})
}
