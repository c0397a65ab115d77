package api

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/wisehosting/wisehosting/internal/auth"
	"github.com/wisehosting/wisehosting/internal/store"
	"github.com/wisehosting/wisehosting/internal/wsproto"
)

var workerNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

type workerJSON struct {
	ID           int64          `json:"id"`
	Name         string         `json:"name"`
	Status       string         `json:"status"` // online | offline | revoked
	Draining     bool           `json:"draining,omitzero"`
	Hostname     string         `json:"hostname,omitzero"`
	Version      string         `json:"version,omitzero"`
	Address      string         `json:"address,omitzero"`
	CPUs         int            `json:"cpus,omitzero"`
	MemoryBytes  int64          `json:"memory_bytes,omitzero"`
	DiskQuota    bool           `json:"disk_quota,omitzero"`
	Resources    jsontext.Value `json:"resources,omitzero"`
	Apps         jsontext.Value `json:"apps,omitzero"`
	CreatedAt    time.Time      `json:"created_at"`
	RegisteredAt time.Time      `json:"registered_at,omitzero"`
	LastSeenAt   time.Time      `json:"last_seen_at,omitzero"`
	APIKey       string         `json:"api_key,omitzero"` // only when created
}

func (a *API) toWorkerJSON(w *store.Worker) workerJSON {
	status := "offline"
	switch {
	case !w.RevokedAt.IsZero():
		status = "revoked"
	case a.Hub != nil && a.Hub.Online(w.ID):
		status = "online"
	}
	out := workerJSON{ID: w.ID, Name: w.Name, Status: status, Draining: w.Draining, Hostname: w.Hostname,
		Version: w.Version, Address: w.Address, CPUs: w.CPUs, MemoryBytes: w.MemoryBytes, DiskQuota: w.DiskQuota,
		CreatedAt: w.CreatedAt, RegisteredAt: w.RegisteredAt, LastSeenAt: w.LastSeenAt}
	if a.Hub != nil {
		// The stored time is written every few minutes; the hub's is live.
		if t := a.Hub.LastSeen(w.ID); t.After(out.LastSeenAt) {
			out.LastSeenAt = t.UTC()
		}
	}
	if w.ResourcesJSON != "" {
		out.Resources = jsontext.Value(w.ResourcesJSON)
	}
	if w.AppsJSON != "" {
		out.Apps = jsontext.Value(w.AppsJSON)
	}
	return out
}

// Worker list pages: a fleet of thousands is read a page at a time.
const (
	defaultWorkerPage = 500
	maxWorkerPage     = 1000
)

// listWorkers returns workers by id, a page at a time (?limit=, ?after=<id>);
// when more remain, a Link header with rel="next" names the next page. The
// list leaves out each worker's app list (it can be long); ?apps=1 adds it.
func (a *API) listWorkers(w http.ResponseWriter, r *http.Request, p *principal) error {
	q := r.URL.Query()
	limit := defaultWorkerPage
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxWorkerPage {
			return errBadRequest("limit must be between 1 and %d", maxWorkerPage)
		}
		limit = n
	}
	var after int64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return errBadRequest("after must be a worker id")
		}
		after = n
	}
	ws, err := a.Store.ListWorkersPage(r.Context(), after, limit+1)
	if err != nil {
		return err
	}
	if len(ws) > limit {
		ws = ws[:limit]
		next := fmt.Sprintf("/v1/workers?limit=%d&after=%d", limit, ws[len(ws)-1].ID)
		if q.Get("apps") == "1" {
			next += "&apps=1"
		}
		w.Header().Set("Link", "<"+next+`>; rel="next"`)
	}
	withApps := q.Get("apps") == "1"
	out := make([]workerJSON, 0, len(ws))
	for i := range ws {
		j := a.toWorkerJSON(&ws[i])
		if !withApps {
			j.Apps = nil
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// createWorker mints a worker and its API key. The raw key is shown once;
// only its sha256 is stored.
func (a *API) createWorker(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if !workerNameRE.MatchString(in.Name) {
		return errValidation("name must be 1–63 lowercase letters, digits or dashes, not starting or ending with a dash")
	}
	raw, hash := auth.NewToken(auth.PrefixWorker)
	wk := &store.Worker{Name: in.Name, APIKeyHash: hash, CreatedBy: p.User.ID}
	if err := a.Store.CreateWorker(r.Context(), wk); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return errConflict("a worker with this name already exists")
		}
		return err
	}
	a.Logger.Info("worker created", "worker_id", wk.ID, "name", wk.Name, "user_id", p.User.ID)
	out := a.toWorkerJSON(wk)
	out.APIKey = raw
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (a *API) revokeWorker(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return errNotFound("no such worker")
	}
	if err := a.Store.RevokeWorker(r.Context(), id, a.Now()); err != nil {
		return err
	}
	if a.Hub != nil {
		a.Hub.Disconnect(id)
	}
	a.Logger.Info("worker revoked", "worker_id", id, "user_id", p.User.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// registerWorker is protocol.md §1: the raw key in the body, a JWT back.
func (a *API) registerWorker(w http.ResponseWriter, r *http.Request) error {
	var in wsproto.RegisterRequest
	body := http.MaxBytesReader(w, r.Body, maxBody)
	if err := json.UnmarshalRead(body, &in); err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			return &Error{http.StatusRequestEntityTooLarge, "too_large", "request body too large"}
		}
		return errBadRequest("invalid register body: %s", jsonErrText(err))
	}
	if in.APIKey == "" || in.Name == "" || in.Hostname == "" || in.Version == "" {
		return errBadRequest("api_key, name, hostname and version are required")
	}
	if len(in.Name) > 100 || len(in.Hostname) > 255 || len(in.Version) > 100 || len(in.Address) > 255 {
		return errBadRequest("a field is too long")
	}
	if in.CPUs < 0 || in.MemoryBytes < 0 || in.DiskBytes < 0 {
		return errBadRequest("cpus, memory_bytes and disk_bytes must not be negative")
	}
	if pr := in.PortRange; pr != [2]int{} && (pr[0] < 1 || pr[1] > 65535 || pr[0] > pr[1]) {
		return errBadRequest("port_range must be [lo, hi] within 1-65535")
	}
	wk, err := a.Store.GetWorkerByKeyHash(r.Context(), auth.HashToken(in.APIKey))
	if errors.Is(err, store.ErrNotFound) {
		return errUnauthorized("unknown or revoked API key")
	}
	if err != nil {
		return err
	}
	reg := store.WorkerRegistration{Hostname: in.Hostname, Version: in.Version, OS: in.OS, Arch: in.Arch, CPUs: in.CPUs,
		MemoryBytes: in.MemoryBytes, DiskBytes: in.DiskBytes, DiskQuota: in.DiskQuota, PortLo: in.PortRange[0],
		PortHi: in.PortRange[1], Address: in.Address, RegisteredAt: a.Now()}
	if err := a.Store.UpdateWorkerRegistration(r.Context(), wk.ID, reg); err != nil {
		return err
	}
	tok, exp, err := a.WorkerTokens.Issue(wk.ID)
	if err != nil {
		return err
	}
	a.Logger.Info("worker registered", "worker_id", wk.ID, "hostname", in.Hostname, "version", in.Version)
	writeJSON(w, http.StatusOK, wsproto.RegisterResponse{WorkerID: wk.ID, Token: tok, TokenExpiresAt: exp})
	return nil
}

// refreshWorkerToken renews a JWT; only the raw API key may do it.
func (a *API) refreshWorkerToken(w http.ResponseWriter, r *http.Request) error {
	scheme, raw, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return errUnauthorized("send the worker's raw API key as a bearer token")
	}
	wk, err := a.Store.GetWorkerByKeyHash(r.Context(), auth.HashToken(raw))
	if errors.Is(err, store.ErrNotFound) {
		return errUnauthorized("unknown or revoked API key")
	}
	if err != nil {
		return err
	}
	tok, exp, err := a.WorkerTokens.Issue(wk.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wsproto.TokenResponse{Token: tok, TokenExpiresAt: exp})
	return nil
}
