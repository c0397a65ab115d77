package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/wisehosting/wisehosting/internal/servertest"
)

// probe is one request on someone's resource; write marks the routes that
// change something.
type probe struct {
	method, path string
	body         any
	write        bool
}

// appProbes are every app route on app; dep is one of its deployments.
func appProbes(app, dep string) []probe {
	a := "/v1/apps/" + app
	return []probe{
		{"GET", a, nil, false},
		{"PATCH", a, map[string]any{"branch": "evil", "git_token": "ghp_evil"}, true},
		{"DELETE", a, nil, true},
		{"GET", a + "/env", nil, false},
		{"PUT", a + "/env/INJECTED", map[string]string{"value": "evil"}, true},
		{"PUT", a + "/env/SECRET", map[string]string{"value": "overwritten"}, true},
		{"DELETE", a + "/env/SECRET", nil, true},
		{"POST", a + "/restart", nil, true},
		{"POST", a + "/stop", nil, true},
		{"POST", a + "/rollback", nil, true},
		{"GET", a + "/domains", nil, false},
		{"POST", a + "/domains", map[string]string{"domain": "hijack.example.com"}, true},
		{"DELETE", a + "/domains/www." + app + ".example.com", nil, true},
		{"POST", a + "/deployments", map[string]string{"commit": "abcdef1"}, true},
		{"GET", a + "/deployments", nil, false},
		{"GET", "/v1/deployments/" + dep, nil, false},
		{"GET", "/v1/deployments/" + dep + "/logs", nil, false},
		{"GET", a + "/logs", nil, false},
		{"GET", a + "/stats", nil, false},
		{"GET", a + "/violations", nil, false},
	}
}

// teamProbes are every member route on team; other is a member's id.
func teamProbes(team, self, other string) []probe {
	m := "/v1/teams/" + team + "/members"
	return []probe{
		{"GET", m, nil, false},
		{"POST", m, map[string]string{"email": "b@example.com", "role": "owner"}, true},
		{"POST", m, map[string]string{"email": "v@example.com", "role": "admin"}, true},
		{"PATCH", m + "/" + other, map[string]string{"role": "viewer"}, true},
		{"PATCH", m + "/" + self, map[string]string{"role": "owner"}, true},
		{"DELETE", m + "/" + other, nil, true},
	}
}

func TestTenantIsolation(t *testing.T) {
	servertest.ForEachDB(t, func(t *testing.T, db servertest.DB) {
		s := servertest.New(t, db)
		sc := servertest.NewScenarios(s)
		w := &world{s: s, sc: sc}
		for _, name := range []string{"a", "b", "v"} {
			sc.Actors[name], sc.Vars[name+"_id"] = signup(t, s, name+"@example.com")
		}
		a := sc.Actors["a"]
		sc.Vars["a_team"] = personalTeam(t, s, a)

		// A: personal app alpha, shared team with app shared and V as viewer.
		sc.Vars["alpha_id"] = createApp(t, s, a, newApp("alpha", map[string]any{"git_token": gitToken, "env": map[string]string{"SECRET": webSecret}}))
		var team struct {
			ID string `json:"id"`
		}
		s.Call(t, 201, "POST", "/v1/teams", a, map[string]string{"name": "Shared", "slug": "shared"}).JSON(t, &team)
		sc.Vars["shared_team"] = team.ID
		s.Call(t, 201, "POST", "/v1/teams/shared/members", a, map[string]string{"email": "v@example.com", "role": "viewer"})
		sc.Vars["shared_id"] = createApp(t, s, a, newApp("shared", map[string]any{"team": "shared", "git_token": gitToken,
			"env": map[string]string{"SECRET": acmeSecret}}))
		sc.Actors["owner"] = a // markDeployed deploys as "owner"
		sc.Vars["wid"], _ = createWorker(t, s, a, "w1")
		// Deployed, so that restart and stop would really queue a job if
		// an authorization check were missing.
		w.markDeployed(t, "alpha", "")
		w.markDeployed(t, "shared", "shared")
		sc.Vars["alpha_dep"] = deploy(t, s, a, "alpha")
		sc.Vars["shared_dep"] = deploy(t, s, a, "shared")
		var pat struct {
			ID string `json:"id"`
		}
		s.Call(t, 201, "POST", "/v1/tokens", a, map[string]string{"name": "a-ci"}).JSON(t, &pat)
		sc.Vars["a_pat_id"] = pat.ID

		// B: a team and an app of its own.
		b := sc.Actors["b"]
		s.Call(t, 201, "POST", "/v1/teams", b, map[string]string{"name": "B team", "slug": "b-team"})
		createApp(t, s, b, newApp("beta", map[string]any{"team": "b-team"}))

		secrets := []string{gitToken, "ghp_evil", webSecret, acmeSecret}
		sc.NeverContains = append(append([]string{}, internalLeaks...), secrets...)

		before := snapshot(t, w)
		jobsBefore := countJobs(t, w)

		// B is in none of A's teams: everything of A's is 404, the
		// instance's routes 403.
		var cases []servertest.Scenario
		hidden := []string{sc.Vars["alpha_id"], sc.Vars["shared_id"], sc.Vars["alpha_dep"], sc.Vars["shared_dep"], "a@example.com", "github.com/example/alpha"}
		for _, who := range []string{"b", "v"} {
			for _, p := range append(appProbes("alpha", "{{alpha_dep}}"), teamProbes("{{a_team}}", "{{"+who+"_id}}", "{{a_id}}")...) {
				cases = append(cases, servertest.Scenario{Name: who + " on A's personal: " + p.method + " " + p.path,
					Method: p.method, Path: p.path, Actor: who, Body: p.body, WantStatus: 404, WantNotContains: hidden})
			}
		}
		for _, p := range append(appProbes("shared", "{{shared_dep}}"), append(teamProbes("shared", "{{b_id}}", "{{a_id}}"),
			teamProbes("{{shared_team}}", "{{b_id}}", "{{v_id}}")...)...) {
			cases = append(cases, servertest.Scenario{Name: "b on shared: " + p.method + " " + p.path,
				Method: p.method, Path: p.path, Actor: "b", Body: p.body, WantStatus: 404, WantNotContains: hidden})
		}
		// V is a viewer of shared: reads work, every write is 403.
		for _, p := range append(appProbes("shared", "{{shared_dep}}"), teamProbes("shared", "{{v_id}}", "{{a_id}}")...) {
			c := servertest.Scenario{Name: "v on shared: " + p.method + " " + p.path,
				Method: p.method, Path: p.path, Actor: "v", Body: p.body, WantStatus: 200}
			if p.write {
				c.WantStatus = 403
				c.WantContains = []string{`"code":"forbidden"`}
			}
			cases = append(cases, c)
		}
		cases = append(cases,
			servertest.Scenario{Name: "v cannot reveal shared's env", Method: "GET", Path: "/v1/apps/shared/env?reveal=1", Actor: "v", WantStatus: 403},
			servertest.Scenario{Name: "v sees env names only", Method: "GET", Path: "/v1/apps/shared/env", Actor: "v", WantStatus: 200,
				WantContains: []string{`"name":"SECRET"`}},
			servertest.Scenario{Name: "v cannot create an app in shared", Method: "POST", Path: "/v1/apps", Actor: "v",
				Body: newApp("v-app", map[string]any{"team": "shared"}), WantStatus: 403},
			servertest.Scenario{Name: "b cannot create an app in shared", Method: "POST", Path: "/v1/apps", Actor: "b",
				Body: newApp("b-app", map[string]any{"team": "{{shared_team}}"}), WantStatus: 404},
			servertest.Scenario{Name: "b cannot create an app in A's personal team", Method: "POST", Path: "/v1/apps", Actor: "b",
				Body: newApp("b-app", map[string]any{"team": "{{a_team}}"}), WantStatus: 404},
			servertest.Scenario{Name: "b cannot take the name alpha", Method: "POST", Path: "/v1/apps", Actor: "b",
				Body: newApp("alpha", map[string]any{"repo_url": "https://github.com/evil/alpha"}), WantStatus: 409, WantNotContains: hidden},
			servertest.Scenario{Name: "b cannot revoke A's token", Method: "DELETE", Path: "/v1/tokens/{{a_pat_id}}", Actor: "b", WantStatus: 404},
			servertest.Scenario{Name: "b's app list", Method: "GET", Path: "/v1/apps", Actor: "b", WantStatus: 200,
				WantContains: []string{`"name":"beta"`}, WantNotContains: []string{"alpha", `"name":"shared"`}},
			servertest.Scenario{Name: "b's app list filtered by A's team", Method: "GET", Path: "/v1/apps?team=shared", Actor: "b", WantStatus: 200,
				WantContains: []string{"[]"}},
			servertest.Scenario{Name: "b's team list", Method: "GET", Path: "/v1/teams", Actor: "b", WantStatus: 200,
				WantContains: []string{"b-team"}, WantNotContains: []string{"shared", "{{a_team}}"}},
			servertest.Scenario{Name: "b's token list", Method: "GET", Path: "/v1/tokens", Actor: "b", WantStatus: 200,
				WantNotContains: []string{"{{a_pat_id}}", "a-ci"}},
			servertest.Scenario{Name: "v's app list", Method: "GET", Path: "/v1/apps", Actor: "v", WantStatus: 200,
				WantContains: []string{`"name":"shared"`}, WantNotContains: []string{"alpha"}},
		)
		for _, who := range []string{"b", "v"} {
			for _, p := range []probe{{"GET", "/v1/workers", nil, false}, {"POST", "/v1/workers", map[string]string{"name": "rogue"}, true},
				{"DELETE", "/v1/workers/{{wid}}", nil, true}, {"PATCH", "/v1/instance", map[string]bool{"signups_open": false}, true}} {
				cases = append(cases, servertest.Scenario{Name: who + " on the instance: " + p.method + " " + p.path,
					Method: p.method, Path: p.path, Actor: who, Body: p.body, WantStatus: 403})
			}
		}
		sc.Run(t, cases)
		checkWalked(t, sc.Calls)

		t.Run("no side effects", func(t *testing.T) {
			after := snapshot(t, w)
			for path, want := range before {
				if got := after[path]; got != want {
					t.Errorf("GET %s changed:\nbefore: %s\nafter:  %s", path, want, got)
				}
			}
			if n := countJobs(t, w); n != jobsBefore {
				t.Errorf("jobs: %d before the walk, %d after", jobsBefore, n)
			}
			// The worker key still works: nobody revoked it.
			if r := s.Request(t, "GET", "/v1/workers", http.Header{"Authorization": {"Bearer " + a}}, nil); !strings.Contains(string(r.Body), `"status":"offline"`) {
				t.Errorf("worker: %s", r.Body)
			}
		})
		t.Logf("%s: %d isolation scenarios", db.Name, len(cases))
	})
}

// snapshot is what A sees of everything the walk might have touched.
func snapshot(t *testing.T, w *world) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range []string{"/v1/apps", "/v1/apps/alpha", "/v1/apps/shared", "/v1/apps/alpha/env?reveal=1",
		"/v1/apps/shared/env?reveal=1", "/v1/apps/alpha/deployments", "/v1/apps/shared/deployments",
		"/v1/deployments/" + w.v("alpha_dep"), "/v1/deployments/" + w.v("shared_dep"), "/v1/teams",
		"/v1/teams/shared/members", "/v1/teams/" + w.v("a_team") + "/members", "/v1/tokens", "/v1/workers", "/v1/instance",
		"/v1/me"} {
		r := w.s.Call(t, 200, "GET", p, w.sc.Actors["a"], nil)
		out[p] = string(r.Body)
	}
	// V's and B's view of themselves too: nobody changed their roles.
	for _, who := range []string{"b", "v"} {
		out[who+" /v1/me"] = string(w.s.Call(t, 200, "GET", "/v1/me", w.sc.Actors[who], nil).Body)
	}
	return out
}

func countJobs(t *testing.T, w *world) int {
	t.Helper()
	byState, err := w.store().CountJobsByState(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range byState {
		n += c
	}
	return n
}

// checkWalked fails unless the walk called every app, deployment and team
// member route (webhooks excepted) and got a 404 for at least one of them.
func checkWalked(t *testing.T, calls []servertest.Call) {
	t.Helper()
	routes := apiRoutes(t)
	walked := map[*route]bool{}
	for _, c := range calls {
		if r := matchRoute(routes, c.Method, c.Path); r != nil && c.Status == 404 {
			walked[r] = true
		}
	}
	for _, r := range routes {
		p := strings.Join(r.segs, "/")
		if (strings.Contains(p, "{app}") || strings.HasPrefix(p, "/v1/deployments/") || strings.HasPrefix(p, "/v1/teams/{team}/members")) && !walked[r] {
			t.Errorf("the isolation walk never got a 404 from %s", r)
		}
	}
}
