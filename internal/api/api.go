// Package api is the control plane's HTTP API (/v1): accounts, teams, apps,
// workers, deployments, logs and webhooks. Every route is registered in
// routes, so the whole API can be read on one screen; handlers return an
// error and one adapter turns it into a status and a JSON body.
package api

import (
	"log/slog"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/wisehosting/wisehosting/internal/auth"
	"github.com/wisehosting/wisehosting/internal/dispatch"
	"github.com/wisehosting/wisehosting/internal/hub"
	"github.com/wisehosting/wisehosting/internal/logbus"
	"github.com/wisehosting/wisehosting/internal/logstore"
	"github.com/wisehosting/wisehosting/internal/notify"
	"github.com/wisehosting/wisehosting/internal/store"
)

// Deps is everything the API needs, built once by the server.
type Deps struct {
	Store        *store.Store
	Box          *auth.SecretBox
	WorkerTokens *auth.WorkerTokens
	Hub          *hub.Hub
	Dispatch     *dispatch.Dispatcher
	Logs         *logbus.Bus     // wakes live log streams
	RuntimeLogs  *logstore.Store // the apps' runtime log files
	Notify       *notify.Broker
	Logger       *slog.Logger
	// PublicURL is how users reach the API. Apps answer at
	// <name>.<BaseDomain> (default "localhost"), over https when AppsTLS
	// (ACME) is on, else over http on the public URL's port.
	PublicURL  string
	BaseDomain string
	AppsTLS    bool
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client (see httpx.ClientIP).
	TrustedProxies []netip.Prefix
	// Now is the clock (tests replace it).
	Now func() time.Time
}

// API serves /v1.
type API struct {
	Deps
	// Failed sign-ins are limited per email from one address (5), per
	// email from anywhere (50: slow guessing spread over many addresses)
	// and per address (50). A stranger who knows your email must fail 50
	// times to lock you out, not 5.
	loginThrottle *auth.Throttle // key: email + address
	emailThrottle *auth.Throttle // key: email
	ipThrottle    *auth.Throttle // key: address
	mux           *http.ServeMux
	// streamRecheck is how often a live stream re-checks that its caller
	// may still read it (nanoseconds; tests shorten it).
	streamRecheck atomic.Int64
}

// SetStreamRecheck sets how often live log streams re-check their
// caller's access (default 15 s).
func (a *API) SetStreamRecheck(d time.Duration) { a.streamRecheck.Store(int64(d)) }

// New builds the API.
func New(d Deps) *API {
	if d.Now == nil {
		d.Now = time.Now
	}
	a := &API{
		Deps:          d,
		loginThrottle: auth.NewThrottle(5, 15*time.Minute),
		emailThrottle: auth.NewThrottle(50, 15*time.Minute),
		ipThrottle:    auth.NewThrottle(50, 15*time.Minute),
		mux:           http.NewServeMux(),
	}
	a.SetStreamRecheck(ssePing)
	a.routes()
	return a
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// routes is the whole API. Access levels: public, user (any signed-in
// user; team checks happen per app), instance (instance owner or admin).
func (a *API) routes() {
	m := a.mux
	pub := a.handle
	user := func(h userHandler) http.Handler { return a.handle(a.requireUser(h)) }
	inst := func(h userHandler) http.Handler { return a.handle(a.requireUser(a.requireInstanceAdmin(h))) }

	// Accounts and sessions.
	m.Handle("POST /v1/auth/signup", pub(a.signup))
	m.Handle("POST /v1/auth/login", pub(a.login))
	m.Handle("POST /v1/auth/logout", user(a.logout))
	m.Handle("GET /v1/me", user(a.me))
	m.Handle("GET /v1/tokens", user(a.listTokens))
	m.Handle("POST /v1/tokens", user(a.createToken))
	m.Handle("DELETE /v1/tokens/{id}", user(a.revokeToken))
	m.Handle("GET /v1/instance", user(a.getInstance))
	m.Handle("PATCH /v1/instance", inst(a.updateInstance))

	// Teams.
	m.Handle("GET /v1/teams", user(a.listTeams))
	m.Handle("POST /v1/teams", user(a.createTeam))
	m.Handle("GET /v1/teams/{team}/members", user(a.listMembers))
	m.Handle("POST /v1/teams/{team}/members", user(a.addMember))
	m.Handle("PATCH /v1/teams/{team}/members/{user}", user(a.updateMember))
	m.Handle("DELETE /v1/teams/{team}/members/{user}", user(a.removeMember))

	// Apps.
	m.Handle("GET /v1/apps", user(a.listApps))
	m.Handle("POST /v1/apps", user(a.createApp))
	m.Handle("GET /v1/apps/{app}", user(a.getApp))
	m.Handle("PATCH /v1/apps/{app}", user(a.updateApp))
	m.Handle("DELETE /v1/apps/{app}", user(a.deleteApp))
	m.Handle("GET /v1/apps/{app}/env", user(a.listEnv))
	m.Handle("PUT /v1/apps/{app}/env/{name}", user(a.setEnv))
	m.Handle("DELETE /v1/apps/{app}/env/{name}", user(a.unsetEnv))
	m.Handle("POST /v1/apps/{app}/restart", user(a.restartApp))
	m.Handle("POST /v1/apps/{app}/stop", user(a.stopApp))
	m.Handle("GET /v1/apps/{app}/domains", user(a.listDomains))
	m.Handle("POST /v1/apps/{app}/domains", user(a.addDomain))
	m.Handle("DELETE /v1/apps/{app}/domains/{domain}", user(a.removeDomain))

	// Deployments and logs.
	m.Handle("POST /v1/apps/{app}/deployments", user(a.createDeployment))
	m.Handle("GET /v1/apps/{app}/deployments", user(a.listDeployments))
	m.Handle("POST /v1/apps/{app}/rollback", user(a.rollbackApp))
	m.Handle("GET /v1/deployments/{id}", user(a.getDeployment))
	m.Handle("GET /v1/deployments/{id}/logs", user(a.deploymentLogs))
	m.Handle("GET /v1/apps/{app}/logs", user(a.appLogs))
	m.Handle("GET /v1/apps/{app}/stats", user(a.appStats))
	m.Handle("GET /v1/apps/{app}/violations", user(a.appViolations))

	// Webhooks: a team's outbound event webhooks and their delivery log
	// (webhooks.go), and each app's inbound git hook (githooks.go; the POST
	// is public and authenticated by the app's hook secret).
	m.Handle("GET /v1/teams/{team}/webhooks", user(a.listWebhooks))
	m.Handle("POST /v1/teams/{team}/webhooks", user(a.createWebhook))
	m.Handle("DELETE /v1/teams/{team}/webhooks/{id}", user(a.deleteWebhook))
	m.Handle("GET /v1/teams/{team}/webhooks/{id}/deliveries", user(a.listWebhookDeliveries))
	m.Handle("GET /v1/apps/{app}/hooks/git", user(a.getGitHook))
	m.Handle("POST /v1/apps/{app}/hooks/git", pub(a.receiveGitHook))

	// Workers: the instance's servers.
	m.Handle("GET /v1/workers", inst(a.listWorkers))
	m.Handle("POST /v1/workers", inst(a.createWorker))
	m.Handle("DELETE /v1/workers/{id}", inst(a.revokeWorker))
	m.Handle("POST /v1/workers/register", pub(a.registerWorker))
	m.Handle("POST /v1/workers/refresh-token", pub(a.refreshWorkerToken))
	if a.Hub != nil {
		m.Handle("GET /v1/workers/ws", a.Hub)
	}

	m.Handle("/v1/", pub(func(w http.ResponseWriter, r *http.Request) error {
		return errNotFound("no such endpoint")
	}))
}
