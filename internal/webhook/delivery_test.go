package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wisehosting/wisehosting/internal/dispatch"
	"github.com/wisehosting/wisehosting/internal/httpx"
	"github.com/wisehosting/wisehosting/internal/servertest"
	"github.com/wisehosting/wisehosting/internal/webhook"
)

func TestWebhookAPI(t *testing.T) {
	servertest.ForEachDB(t, func(t *testing.T, db servertest.DB) {
		e := newTeamEnv(t, db)
		srv := e.srv
		valid := map[string]any{"url": "https://hooks.example.com/wisehosting?x=1", "events": []string{"deployment.failed"}}

		// Roles: viewers see nothing, members list, admins and owners manage.
		if r := srv.Do("GET", "/v1/teams/acme/webhooks", e.viewer, nil); r.Status != http.StatusForbidden {
			t.Errorf("viewer list: %d %s", r.Status, r.Body)
		}
		for who, tok := range map[string]string{"viewer": e.viewer, "member": e.member} {
			if r := srv.Do("POST", "/v1/teams/acme/webhooks", tok, valid); r.Status != http.StatusForbidden {
				t.Errorf("%s create: %d %s", who, r.Status, r.Body)
			}
		}
		if r := srv.Do("GET", "/v1/teams/acme/webhooks", e.outsider, nil); r.Status != http.StatusNotFound {
			t.Errorf("outsider list: %d %s", r.Status, r.Body)
		}
		if r := srv.Do("POST", "/v1/teams/acme/webhooks", e.outsider, valid); r.Status != http.StatusNotFound {
			t.Errorf("outsider create: %d %s", r.Status, r.Body)
		}
		if r := srv.Do("GET", "/v1/teams/acme/webhooks", "", nil); r.Status != http.StatusUnauthorized {
			t.Errorf("anonymous list: %d", r.Status)
		}

		// Created by an admin: the generated secret is shown once.
		h1 := createHook(t, srv, e.admin, "acme", valid)
		if !strings.HasPrefix(h1.ID, "hook_") || h1.TeamID != e.teamID || !h1.Active ||
			h1.URL != "https://hooks.example.com/wisehosting?x=1" || len(h1.Events) != 1 || h1.Events[0] != "deployment.failed" {
			t.Errorf("created webhook: %+v", h1)
		}
		if !strings.HasPrefix(h1.Secret, "whsec_") || len(h1.Secret) < 30 {
			t.Errorf("generated secret %q", h1.Secret)
		}
		h2 := createHook(t, srv, e.owner, e.teamID, map[string]any{"url": "http://127.0.0.1:9/x", "events": []string{"*"},
			"secret": "my-own-secret-0123456789"})
		if h2.Secret != "my-own-secret-0123456789" || len(h2.Events) != 1 || h2.Events[0] != "*" {
			t.Errorf("second webhook: %+v", h2)
		}
		h3 := createHook(t, srv, e.admin, "acme", map[string]any{"url": "https://a.example/",
			"events": []string{"app.crashed", "violation", "app.crashed"}})
		if strings.Join(h3.Events, ",") != "app.crashed,violation" {
			t.Errorf("events not de-duplicated: %v", h3.Events)
		}

		// Members list, without secrets.
		r := srv.Do("GET", "/v1/teams/acme/webhooks", e.member, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("member list: %d %s", r.Status, r.Body)
		}
		if strings.Contains(string(r.Body), "secret") || strings.Contains(string(r.Body), h1.Secret) {
			t.Errorf("list shows secrets: %s", r.Body)
		}
		var list []hookJSON
		r.JSON(t, &list)
		if len(list) != 3 || list[0].ID != h1.ID || list[1].ID != h2.ID {
			t.Errorf("list: %+v", list)
		}
		if ds := deliveries(t, srv, e.member, "acme", h1.ID); len(ds) != 0 {
			t.Errorf("fresh webhook has deliveries: %+v", ds)
		}

		// Validation.
		long := "https://example.com/" + strings.Repeat("a", 2048)
		for _, bad := range []map[string]any{
			{"url": "ftp://example.com/x", "events": []string{"*"}},
			{"url": "javascript:alert(1)", "events": []string{"*"}},
			{"url": "https://user:pass@example.com/x", "events": []string{"*"}},
			{"url": "https://example.com/x#frag", "events": []string{"*"}},
			{"url": "http:///nohost", "events": []string{"*"}},
			{"url": "https://example.com:99999/", "events": []string{"*"}},
			{"url": "", "events": []string{"*"}},
			{"url": long, "events": []string{"*"}},
			{"url": "https://example.com/", "events": []string{}},
			{"url": "https://example.com/"},
			{"url": "https://example.com/", "events": []string{"deployment.started"}},
			{"url": "https://example.com/", "events": []string{"*", "violation"}},
			{"url": "https://example.com/", "events": []string{"violation"}, "secret": "short"},
			{"url": "https://example.com/", "events": []string{"violation"}, "secret": "tab\tinside-a-long-secret"},
		} {
			if r := srv.Do("POST", "/v1/teams/acme/webhooks", e.admin, bad); r.Status != http.StatusUnprocessableEntity {
				t.Errorf("%v: %d %s", bad, r.Status, r.Body)
			}
		}
		if r := srv.Do("POST", "/v1/teams/acme/webhooks", e.admin, map[string]any{"url": "https://example.com/",
			"events": []string{"*"}, "active": false}); r.Status != http.StatusBadRequest {
			t.Errorf("unknown field: %d %s", r.Status, r.Body)
		}

		// A webhook of another team is a 404 through this team.
		other := createHook(t, srv, e.outsider, personalTeam(t, srv, e.outsider), valid)
		if r := srv.Do("DELETE", "/v1/teams/acme/webhooks/"+other.ID, e.owner, nil); r.Status != http.StatusNotFound {
			t.Errorf("delete other team's webhook: %d %s", r.Status, r.Body)
		}
		if r := srv.Do("GET", "/v1/teams/acme/webhooks/"+other.ID+"/deliveries", e.owner, nil); r.Status != http.StatusNotFound {
			t.Errorf("deliveries of other team's webhook: %d %s", r.Status, r.Body)
		}
		if r := srv.Do("GET", "/v1/teams/acme/webhooks/"+h1.ID+"/deliveries", e.outsider, nil); r.Status != http.StatusNotFound {
			t.Errorf("outsider reads deliveries: %d %s", r.Status, r.Body)
		}

		// Delete: admins only.
		if r := srv.Do("DELETE", "/v1/teams/acme/webhooks/"+h1.ID, e.member, nil); r.Status != http.StatusForbidden {
			t.Errorf("member delete: %d %s", r.Status, r.Body)
		}
		if r := srv.Do("DELETE", "/v1/teams/acme/webhooks/"+h1.ID, e.admin, nil); r.Status != http.StatusNoContent {
			t.Errorf("admin delete: %d %s", r.Status, r.Body)
		}
		if r := srv.Do("DELETE", "/v1/teams/acme/webhooks/"+h1.ID, e.admin, nil); r.Status != http.StatusNotFound {
			t.Errorf("delete twice: %d %s", r.Status, r.Body)
		}
		if r := srv.Do("GET", "/v1/teams/acme/webhooks/"+h1.ID+"/deliveries", e.admin, nil); r.Status != http.StatusNotFound {
			t.Errorf("deliveries of deleted webhook: %d %s", r.Status, r.Body)
		}
		r = srv.Do("GET", "/v1/teams/acme/webhooks", e.owner, nil)
		r.JSON(t, &list)
		if len(list) != 2 {
			t.Errorf("after delete: %+v", list)
		}
	})
}

// TestDeliverySigned drives Emit directly and checks what a receiver gets.
func TestDeliverySigned(t *testing.T) {
	servertest.ForEachDB(t, func(t *testing.T, db servertest.DB) {
		srv := servertest.New(t, db)
		owner := srv.Signup("owner@example.com")
		team := personalTeam(t, srv, owner)
		rc := newReceiver(t, func(int) (int, string) { return http.StatusNoContent, "" })
		srv.S.Webhooks.SetHTTPClient(rc.Client()) // the guarded client refuses loopback
		const secret = "receiver-secret-0123456789"
		h := createHook(t, srv, owner, team, map[string]any{"url": rc.URL + "/hook?k=v",
			"events": []string{dispatch.EventDeploymentSucceeded}, "secret": secret})

		ctx := context.Background()
		srv.S.Webhooks.Emit(ctx, team, dispatch.EventAppCrashed, map[string]any{"app": "nope"}) // not subscribed
		before := time.Now()
		srv.S.Webhooks.Emit(ctx, team, dispatch.EventDeploymentSucceeded, map[string]any{"app": "web", "app_id": "app_1",
			"deployment_id": "dep_1", "status": "running", "message": "ok <&>"})

		got := rc.next(t, 10*time.Second)
		if got.Method != http.MethodPost || got.Path != "/hook" {
			t.Errorf("request: %s %s", got.Method, got.Path)
		}
		for k, want := range map[string]string{"Content-Type": "application/json", "User-Agent": "WiseHosting-Webhook/1",
			"X-WiseHosting-Event": "deployment.succeeded"} {
			if v := got.Header.Get(k); v != want {
				t.Errorf("%s = %q, want %q", k, v, want)
			}
		}
		// The documented scheme, computed independently of the package.
		tsHeader := got.Header.Get("X-WiseHosting-Timestamp")
		ts, err := strconv.ParseInt(tsHeader, 10, 64)
		if err != nil || ts < before.Unix()-1 || ts > time.Now().Unix()+1 {
			t.Errorf("timestamp %q", tsHeader)
		}
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(tsHeader + "." + string(got.Body)))
		if want := "sha256=" + hex.EncodeToString(m.Sum(nil)); got.Header.Get("X-WiseHosting-Signature") != want {
			t.Errorf("signature %q, want %q", got.Header.Get("X-WiseHosting-Signature"), want)
		}
		if err := webhook.Verify([]byte(secret), got.Body, tsHeader, got.Header.Get("X-WiseHosting-Signature"),
			5*time.Minute, time.Now()); err != nil {
			t.Errorf("Verify: %v", err)
		}
		if err := webhook.Verify([]byte("wrong-secret-0123456789"), got.Body, tsHeader,
			got.Header.Get("X-WiseHosting-Signature"), 5*time.Minute, time.Now()); err == nil {
			t.Error("Verify accepts a wrong secret")
		}
		var body struct {
			ID        string         `json:"id"`
			Event     string         `json:"event"`
			CreatedAt time.Time      `json:"created_at"`
			Data      map[string]any `json:"data"`
		}
		if err := json.Unmarshal(got.Body, &body); err != nil {
			t.Fatalf("body %s: %v", got.Body, err)
		}
		if body.ID == "" || body.ID != got.Header.Get("X-WiseHosting-Delivery") || body.Event != "deployment.succeeded" ||
			body.CreatedAt.Before(before.Add(-time.Second)) || body.Data["deployment_id"] != "dep_1" || body.Data["message"] != "ok <&>" {
			t.Errorf("body: %s", got.Body)
		}

		servertest.Eventually(t, 5*time.Second, "delivery recorded", func() bool {
			ds := deliveries(t, srv, owner, team, h.ID)
			return len(ds) == 1 && ds[0].State == "delivered"
		})
		ds := deliveries(t, srv, owner, team, h.ID)
		d := ds[0]
		if d.ID != body.ID || d.Event != "deployment.succeeded" || d.Attempts != 1 || d.StatusCode != 204 || d.Error != "" ||
			d.DeliveredAt.IsZero() || !d.NextAttemptAt.IsZero() || d.WebhookID != h.ID {
			t.Errorf("delivery log: %+v", d)
		}
		time.Sleep(200 * time.Millisecond)
		if n := len(rc.requests()); n != 1 {
			t.Errorf("receiver got %d requests, want 1", n)
		}
	})
}

// TestDeliveryRetries checks the backoff with a fast retry policy: a
// receiver failing twice then succeeding, and one that always fails.
func TestDeliveryRetries(t *testing.T) {
	servertest.ForEachDB(t, func(t *testing.T, db servertest.DB) {
		srv := servertest.New(t, db)
		owner := srv.Signup("owner@example.com")
		team := personalTeam(t, srv, owner)
		longBody := "boom\n\x00" + strings.Repeat("x", 5000)
		flaky := newReceiver(t, func(n int) (int, string) {
			if n <= 2 {
				return http.StatusInternalServerError, longBody
			}
			return http.StatusOK, "thanks"
		})
		broken := newReceiver(t, func(int) (int, string) { return http.StatusServiceUnavailable, longBody })
		// Both receivers are plain loopback servers: one plain client
		// reaches both.
		srv.S.Webhooks.SetHTTPClient(&http.Client{Timeout: 5 * time.Second})
		srv.S.Webhooks.SetRetryPolicy([]time.Duration{150 * time.Millisecond, 300 * time.Millisecond}, 4)
		hf := createHook(t, srv, owner, team, map[string]any{"url": flaky.URL, "events": []string{"*"}})
		hb := createHook(t, srv, owner, team, map[string]any{"url": broken.URL, "events": []string{"violation"}})

		srv.S.Webhooks.Emit(context.Background(), team, dispatch.EventViolation, map[string]any{"app": "web", "kind": "memory"})

		servertest.Eventually(t, 15*time.Second, "flaky delivery delivered", func() bool {
			ds := deliveries(t, srv, owner, team, hf.ID)
			return len(ds) == 1 && ds[0].State == "delivered"
		})
		d := deliveries(t, srv, owner, team, hf.ID)[0]
		if d.Attempts != 3 || d.StatusCode != 200 || d.Error != "" {
			t.Errorf("flaky delivery: %+v", d)
		}
		reqs := flaky.requests()
		if len(reqs) != 3 {
			t.Fatalf("flaky receiver got %d requests", len(reqs))
		}
		for i, r := range reqs {
			if r.Header.Get("X-WiseHosting-Delivery") != d.ID || string(r.Body) != string(reqs[0].Body) {
				t.Errorf("attempt %d is not the same delivery: %s %s", i+1, r.Header.Get("X-WiseHosting-Delivery"), r.Body)
			}
		}
		// Backoff: 150 ms after the 1st failure, 300 ms after the 2nd
		// (stored times are in ms, so allow a few ms).
		if gap := reqs[1].At.Sub(reqs[0].At); gap < 140*time.Millisecond {
			t.Errorf("2nd attempt %v after the 1st, want ≥ 150ms", gap)
		}
		if gap := reqs[2].At.Sub(reqs[1].At); gap < 290*time.Millisecond {
			t.Errorf("3rd attempt %v after the 2nd, want ≥ 300ms", gap)
		}

		servertest.Eventually(t, 15*time.Second, "broken delivery given up", func() bool {
			ds := deliveries(t, srv, owner, team, hb.ID)
			return len(ds) == 1 && ds[0].State == "failed"
		})
		d = deliveries(t, srv, owner, team, hb.ID)[0]
		if d.Attempts != 4 || d.StatusCode != 503 || !d.NextAttemptAt.IsZero() || !d.DeliveredAt.IsZero() {
			t.Errorf("broken delivery: %+v", d)
		}
		if !strings.HasPrefix(d.Error, "HTTP 503: boom x") || len(d.Error) > 220 || strings.ContainsAny(d.Error, "\n\x00") {
			t.Errorf("recorded error (%d bytes): %q", len(d.Error), d.Error)
		}
		if n := len(broken.requests()); n != 4 {
			t.Errorf("broken receiver got %d requests, want 4", n)
		}
	})
}

// TestGuardedClientRefusesLoopback keeps the production client: a webhook
// pointing at loopback is never contacted, and the log says why without
// naming an address.
func TestGuardedClientRefusesLoopback(t *testing.T) {
	servertest.ForEachDB(t, func(t *testing.T, db servertest.DB) {
		srv := servertest.New(t, db)
		owner := srv.Signup("owner@example.com")
		team := personalTeam(t, srv, owner)
		rc := newReceiver(t, func(int) (int, string) { return http.StatusOK, "" })
		srv.S.Webhooks.SetRetryPolicy([]time.Duration{50 * time.Millisecond}, 2)
		u, _ := url.Parse(rc.URL)
		// A name that resolves to loopback, and a literal.
		byName := createHook(t, srv, owner, team, map[string]any{"url": "http://localhost:" + u.Port() + "/hook", "events": []string{"*"}})
		literal := createHook(t, srv, owner, team, map[string]any{"url": rc.URL + "/hook", "events": []string{"*"}})

		srv.S.Webhooks.Emit(context.Background(), team, dispatch.EventAppStopped, map[string]any{"app": "web"})
		for _, h := range []hookJSON{byName, literal} {
			servertest.Eventually(t, 10*time.Second, "refused delivery given up", func() bool {
				ds := deliveries(t, srv, owner, team, h.ID)
				return len(ds) == 1 && ds[0].State == "failed"
			})
			d := deliveries(t, srv, owner, team, h.ID)[0]
			if d.Error != httpx.ErrPrivateAddress.Error() || d.StatusCode != 0 || d.Attempts != 2 {
				t.Errorf("%s: delivery %+v", h.URL, d)
			}
			for _, leak := range []string{"127.0.0.1", "::1", "[::"} {
				if strings.Contains(d.Error, leak) {
					t.Errorf("error names an address: %q", d.Error)
				}
			}
		}
		if n := len(rc.requests()); n != 0 {
			t.Errorf("the loopback receiver was contacted %d times", n)
		}
	})
}

// TestDeletedWebhookStopsRetrying: deleting a webhook drops its pending
// deliveries.
func TestDeletedWebhookStopsRetrying(t *testing.T) {
	servertest.ForEachDB(t, func(t *testing.T, db servertest.DB) {
		srv := servertest.New(t, db)
		owner := srv.Signup("owner@example.com")
		team := personalTeam(t, srv, owner)
		rc := newReceiver(t, func(int) (int, string) { return http.StatusBadGateway, "" })
		srv.S.Webhooks.SetHTTPClient(rc.Client())
		srv.S.Webhooks.SetRetryPolicy([]time.Duration{100 * time.Millisecond}, 50)
		h := createHook(t, srv, owner, team, map[string]any{"url": rc.URL, "events": []string{"*"}})
		srv.S.Webhooks.Emit(context.Background(), team, dispatch.EventAppCrashed, map[string]any{"app": "web"})
		rc.next(t, 10*time.Second)
		if r := srv.Do("DELETE", "/v1/teams/"+team+"/webhooks/"+h.ID, owner, nil); r.Status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", r.Status, r.Body)
		}
		time.Sleep(300 * time.Millisecond) // at most one attempt was already in flight
		n := len(rc.requests())
		time.Sleep(500 * time.Millisecond)
		if m := len(rc.requests()); m != n || n > 2 {
			t.Errorf("deleted webhook still contacted: %d then %d requests", n, m)
		}
	})
}

// The package lists the event names itself (it does not import dispatch);
// they must be exactly what the dispatcher emits.
func TestEventsMatchDispatcher(t *testing.T) {
	var _ dispatch.EventSink = (*webhook.Deliverer)(nil)
	want := []string{dispatch.EventDeploymentSucceeded, dispatch.EventDeploymentFailed, dispatch.EventAppCrashed,
		dispatch.EventAppStopped, dispatch.EventViolation}
	if strings.Join(webhook.Events, ",") != strings.Join(want, ",") {
		t.Fatalf("webhook.Events = %v, dispatcher emits %v", webhook.Events, want)
	}
}
