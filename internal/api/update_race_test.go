package api_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wisehosting/wisehosting/internal/servertest"
)

// TestUpdateAppAfterSuspension holds a PATCH's body back until an
// operator has suspended the app: the edit must apply to the app as it is
// then, so the suspension stands (a stale read-modify-write used to lift
// it, and the member could deploy again).
func TestUpdateAppAfterSuspension(t *testing.T) {
	servertest.ForEachDB(t, func(t *testing.T, db servertest.DB) {
		s := servertest.New(t, db)
		token, _ := signup(t, s, "owner@example.com")
		createApp(t, s, token, newApp("slow", nil))
		ctx := context.Background()

		body, send := io.Pipe()
		req, err := http.NewRequest("PATCH", s.URL+"/v1/apps/slow", body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		type answer struct {
			code int
			body string
			err  error
		}
		done := make(chan answer, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- answer{err: err}
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			done <- answer{code: resp.StatusCode, body: string(b)}
		}()
		// The handler has read the app once it waits for the body; give
		// the request time to get there, then suspend.
		if _, err := send.Write([]byte(`{"branch":`)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		app, err := s.S.Store.GetAppByName(ctx, "slow")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.S.Store.SetAppSuspended(ctx, app.ID, true); err != nil {
			t.Fatal(err)
		}
		_, _ = send.Write([]byte(`"develop"}`))
		send.Close()
		a := <-done
		if a.err != nil || a.code != 200 || !strings.Contains(a.body, `"branch":"develop"`) {
			t.Fatalf("PATCH: %d %s %v", a.code, a.body, a.err)
		}
		got, err := s.S.Store.GetApp(ctx, app.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Suspended || got.Branch != "develop" {
			t.Fatalf("after the slow PATCH: suspended=%v branch=%q, want true and develop", got.Suspended, got.Branch)
		}
		s.Call(t, 403, "POST", "/v1/apps/slow/deployments", token, nil)
	})
}
