package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/wisehosting/wisehosting/internal/servertest"
)

// TestStreamsEndWhenAccessEnds: a live log stream re-checks its caller's
// access, so removal from the team ends it (and so does a revoked
// token), instead of streaming on until the client disconnects.
func TestStreamsEndWhenAccessEnds(t *testing.T) {
	servertest.ForEachDB(t, func(t *testing.T, db servertest.DB) {
		s := servertest.New(t, db)
		s.S.API.SetStreamRecheck(100 * time.Millisecond)
		owner, _ := signup(t, s, "owner@example.com")
		viewer, viewerID := signup(t, s, "viewer@example.com")
		s.Call(t, http.StatusCreated, "POST", "/v1/teams", owner, map[string]string{"name": "Acme", "slug": "acme"})
		s.Call(t, http.StatusCreated, "POST", "/v1/teams/acme/members", owner, map[string]string{"email": "viewer@example.com", "role": "viewer"})
		createApp(t, s, owner, newApp("acme-web", map[string]any{"team": "acme"}))
		dep := deploy(t, s, owner, "acme-web")

		for _, path := range []string{"/v1/apps/acme-web/logs?follow=1", "/v1/deployments/" + dep + "/logs?follow=1"} {
			st := s.SSE(path, viewer, "")
			// Still allowed after several rechecks.
			select {
			case ev, ok := <-st.Events:
				if ok && ev.Name == "revoked" {
					t.Fatalf("%s: stream refused while access holds: %+v", path, ev)
				}
			case <-time.After(400 * time.Millisecond):
			}
			st.Close()
		}
		appStream := s.SSE("/v1/apps/acme-web/logs?follow=1", viewer, "")
		buildStream := s.SSE("/v1/deployments/"+dep+"/logs?follow=1", viewer, "")
		s.Call(t, http.StatusNoContent, "DELETE", "/v1/teams/acme/members/"+viewerID, owner, nil)
		for name, st := range map[string]*servertest.Stream{"runtime log": appStream, "build log": buildStream} {
			if ev := st.Next(t, "revoked", 3*time.Second); ev.Data != "access to this stream ended" {
				t.Fatalf("%s stream: revoked event %q", name, ev.Data)
			}
			select {
			case _, ok := <-st.Events:
				if ok {
					t.Fatalf("%s stream went on after access was revoked", name)
				}
			case <-time.After(3 * time.Second):
				t.Fatalf("%s stream not closed after access was revoked", name)
			}
		}
	})
}
