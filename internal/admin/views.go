package admin

import (
	"context"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/wisehosting/wisehosting/internal/adminrpc"
	"github.com/wisehosting/wisehosting/internal/models"
	"github.com/wisehosting/wisehosting/internal/store"
)

// The read-only views of /internal/v1. Every role may read them.

func (s *Service) status(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx := r.Context()
	now := time.Now().UTC()
	out := adminrpc.Status{Version: s.d.Version, GoVersion: runtime.Version(), Database: s.d.Store.Dialect(),
		StartedAt: s.d.Started.UTC(), UptimeSeconds: now.Sub(s.d.Started).Seconds(), Now: now, Hub: s.hubView()}
	var err error
	if out.SchemaVersion, err = s.d.Store.SchemaVersion(ctx); err != nil {
		return err
	}
	workers, err := s.workerViews(ctx, now)
	if err != nil {
		return err
	}
	c := &out.Counts
	for _, w := range workers {
		if w.Status == "revoked" {
			continue
		}
		c.Workers++
		if w.Online {
			c.WorkersOnline++
		}
		if w.Draining {
			c.WorkersDraining++
		}
	}
	apps, err := s.d.Store.ListAllApps(ctx)
	if err != nil {
		return err
	}
	c.Apps = len(apps)
	for _, a := range apps {
		if a.Status == models.AppRunning {
			c.AppsRunning++
		}
		if a.Suspended {
			c.AppsSuspended++
		}
	}
	if c.Users, c.UsersSuspended, err = s.d.Store.CountUsersSuspended(ctx); err != nil {
		return err
	}
	if c.Teams, err = s.d.Store.CountTeams(ctx); err != nil {
		return err
	}
	jobs, err := s.d.Store.CountJobsByState(ctx)
	if err != nil {
		return err
	}
	c.JobsPending, c.JobsUnacked, c.JobsRunning, c.JobsFailed = jobs[store.JobPending], jobs[store.JobSent], jobs[store.JobAcked], jobs[store.JobFailed]
	vs, err := s.d.Store.CountViolationsByApp(ctx, now.Add(-24*time.Hour))
	if err != nil {
		return err
	}
	for _, n := range vs {
		c.Violations24h += n
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Service) workers(w http.ResponseWriter, r *http.Request, p *principal) error {
	out, err := s.workerViews(r.Context(), time.Now().UTC())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// workerViews joins the workers' rows with the hub's live connections.
func (s *Service) workerViews(ctx context.Context, now time.Time) ([]adminrpc.Worker, error) {
	ws, err := s.d.Store.ListWorkers(ctx)
	if err != nil {
		return nil, err
	}
	queued, err := s.d.Store.CountUnfinishedJobsByWorker(ctx)
	if err != nil {
		return nil, err
	}
	apps, err := s.d.Store.ListAllApps(ctx)
	if err != nil {
		return nil, err
	}
	appsOn := map[int64]int{}
	for _, a := range apps {
		if a.WorkerID != 0 {
			appsOn[a.WorkerID]++
		}
	}
	conns := map[int64]int{}
	snap := s.d.Hub.Snapshot()
	for i, c := range snap {
		conns[c.WorkerID] = i
	}
	out := make([]adminrpc.Worker, 0, len(ws))
	for _, x := range ws {
		v := adminrpc.Worker{ID: x.ID, Name: x.Name, Status: "offline", Draining: x.Draining, Hostname: x.Hostname,
			Version: x.Version, Address: x.Address, QueuedJobs: queued[x.ID], Apps: appsOn[x.ID], RevokedAt: x.RevokedAt,
			LastMessageAt: x.LastSeenAt, LastMessageAgeSeconds: -1}
		if i, ok := conns[x.ID]; ok {
			c := snap[i]
			v.ConnectedAt, v.SendQueue, v.Online = c.ConnectedAt, c.QueueLen, c.Online
			v.ConnectionAgeSeconds = now.Sub(c.ConnectedAt).Seconds()
			if c.LastSeen.After(v.LastMessageAt) {
				v.LastMessageAt = c.LastSeen
			}
		}
		switch {
		case !x.RevokedAt.IsZero():
			v.Status, v.Online = "revoked", false
		case v.Online:
			v.Status = "online"
		}
		if !v.LastMessageAt.IsZero() {
			v.LastMessageAgeSeconds = max(now.Sub(v.LastMessageAt).Seconds(), 0)
		}
		if x.ResourcesJSON != "" && x.ResourcesJSON != "{}" {
			var res adminrpc.WorkerResources
			if json.Unmarshal([]byte(x.ResourcesJSON), &res) == nil {
				v.Resources = &res
			}
		}
		out = append(out, v)
	}
	return out, nil
}

func (s *Service) hubStats(w http.ResponseWriter, r *http.Request, p *principal) error {
	writeJSON(w, http.StatusOK, s.hubView())
	return nil
}

// hubView reads the hub's Prometheus counters.
func (s *Service) hubView() adminrpc.Hub {
	h := adminrpc.Hub{Connections: s.d.Hub.Count(), EnvelopesIn: map[string]int64{}, EnvelopesOut: map[string]int64{}, Rejected: map[string]int64{}}
	for _, c := range s.d.Hub.Snapshot() {
		if c.Online {
			h.Online++
		}
	}
	if m := s.d.Hub.Metrics(); m != nil {
		h.TotalIn = readCounters(m.EnvelopesIn, "type", h.EnvelopesIn)
		h.TotalOut = readCounters(m.EnvelopesOut, "type", h.EnvelopesOut)
		h.TotalRejected = readCounters(m.EnvelopesRejected, "reason", h.Rejected)
	}
	return h
}

// readCounters copies a counter vector into into, by label, and returns
// the total.
func readCounters(vec *prometheus.CounterVec, label string, into map[string]int64) int64 {
	ch := make(chan prometheus.Metric, 64)
	go func() {
		vec.Collect(ch)
		close(ch)
	}()
	var total int64
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) != nil || d.Counter == nil {
			continue
		}
		n := int64(d.Counter.GetValue())
		for _, l := range d.Label {
			if l.GetName() == label {
				into[l.GetValue()] += n
			}
		}
		total += n
	}
	return total
}

func (s *Service) jobs(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx := r.Context()
	counts, err := s.d.Store.CountJobsByState(ctx)
	if err != nil {
		return err
	}
	out := adminrpc.Jobs{Counts: counts}
	for _, x := range []struct {
		state string
		dst   *[]adminrpc.Job
		limit int
	}{{store.JobPending, &out.Pending, 200}, {store.JobSent, &out.Unacknowledged, 200}, {store.JobAcked, &out.Running, 200}, {store.JobFailed, &out.Failed, 20}} {
		js, err := s.d.Store.ListRecentJobs(ctx, x.state, x.limit)
		if err != nil {
			return err
		}
		*x.dst = make([]adminrpc.Job, 0, len(js))
		for _, j := range js {
			*x.dst = append(*x.dst, adminrpc.Job{ID: j.ID, Type: j.Type, App: j.AppName, AppID: j.AppID, DeploymentID: j.DeploymentID,
				WorkerID: j.WorkerID, State: j.State, Attempts: j.Attempts, LastError: j.LastError, CreatedAt: j.CreatedAt,
				UpdatedAt: j.UpdatedAt, SentAt: j.SentAt, AckedAt: j.AckedAt, FinishedAt: j.FinishedAt})
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Service) apps(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx := r.Context()
	apps, err := s.d.Store.ListAllApps(ctx)
	if err != nil {
		return err
	}
	teams, err := s.d.Store.ListAllTeams(ctx)
	if err != nil {
		return err
	}
	slug := map[string]string{}
	for _, t := range teams {
		slug[t.ID] = t.Slug
	}
	ws, err := s.d.Store.ListWorkers(ctx)
	if err != nil {
		return err
	}
	wname := map[int64]string{}
	for _, x := range ws {
		wname[x.ID] = x.Name
	}
	latest, err := s.d.Store.LatestDeployments(ctx)
	if err != nil {
		return err
	}
	viol, err := s.d.Store.CountViolationsByApp(ctx, time.Now().Add(-24*time.Hour))
	if err != nil {
		return err
	}
	out := make([]adminrpc.App, 0, len(apps))
	for _, a := range apps {
		v := adminrpc.App{ID: a.ID, Name: a.Name, TeamID: a.TeamID, Team: slug[a.TeamID], Status: a.Status, Suspended: a.Suspended,
			WorkerID: a.WorkerID, Worker: wname[a.WorkerID], Violations24h: viol[a.ID], CreatedAt: a.CreatedAt}
		if d, ok := latest[a.ID]; ok {
			v.LastDeploy = &adminrpc.Deployment{ID: d.ID, Status: d.Status, Trigger: d.Trigger, CommitSHA: d.CommitSHA,
				CreatedAt: d.CreatedAt, FinishedAt: d.FinishedAt}
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// queryInt reads a non-negative integer parameter, def when absent.
func queryInt(r *http.Request, name string, def, maxVal int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > maxVal {
		return 0, errBadRequest("%s must be a number from 0 to %d", name, maxVal)
	}
	return n, nil
}

func (s *Service) violations(w http.ResponseWriter, r *http.Request, p *principal) error {
	limit, err := queryInt(r, "limit", 50, 1000)
	if err != nil {
		return err
	}
	ctx := r.Context()
	vs, err := s.d.Store.ListViolations(ctx, "", limit)
	if err != nil {
		return err
	}
	apps, err := s.d.Store.ListAllApps(ctx)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, a := range apps {
		names[a.ID] = a.Name
	}
	out := make([]adminrpc.Violation, 0, len(vs))
	for _, v := range vs {
		out = append(out, adminrpc.Violation{ID: v.ID, App: names[v.AppID], AppID: v.AppID, WorkerID: v.WorkerID, Kind: v.Kind,
			Message: v.Message, Action: v.Action, At: v.At})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Service) users(w http.ResponseWriter, r *http.Request, p *principal) error {
	limit, err := queryInt(r, "limit", 100, 1000)
	if err != nil {
		return err
	}
	offset, err := queryInt(r, "offset", 0, 1<<30)
	if err != nil {
		return err
	}
	us, err := s.d.Store.ListUsers(r.Context(), limit, offset)
	if err != nil {
		return err
	}
	out := make([]adminrpc.User, 0, len(us))
	for _, u := range us {
		out = append(out, adminrpc.User{ID: u.ID, Email: u.Email, Name: u.Name, InstanceRole: u.InstanceRole, Suspended: u.Suspended,
			CreatedAt: u.CreatedAt, LastLoginAt: u.LastLoginAt})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Service) teams(w http.ResponseWriter, r *http.Request, p *principal) error {
	ts, err := s.d.Store.ListAllTeams(r.Context())
	if err != nil {
		return err
	}
	out := make([]adminrpc.Team, 0, len(ts))
	for _, t := range ts {
		out = append(out, adminrpc.Team{ID: t.ID, Name: t.Name, Slug: t.Slug, Personal: t.Personal, Members: t.Members, Apps: t.Apps, CreatedAt: t.CreatedAt})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Service) audit(w http.ResponseWriter, r *http.Request, p *principal) error {
	limit, err := queryInt(r, "limit", 50, 1000)
	if err != nil {
		return err
	}
	before, err := queryInt(r, "before", 0, 1<<62)
	if err != nil {
		return err
	}
	es, err := s.d.Store.ListAdminAudit(r.Context(), int64(before), limit)
	if err != nil {
		return err
	}
	out := make([]adminrpc.AuditEntry, 0, len(es))
	for _, e := range es {
		out = append(out, adminrpc.AuditEntry{ID: e.ID, Username: e.Username, Action: e.Action, Target: e.Target, Detail: e.Detail,
			RemoteAddr: e.RemoteAddr, Result: e.Result, At: e.At})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
