package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/gorilla/websocket"

	"github.com/wisehosting/wisehosting/internal/adminrpc"
	"github.com/wisehosting/wisehosting/internal/logstore"
	"github.com/wisehosting/wisehosting/internal/models"
	"github.com/wisehosting/wisehosting/internal/store"
)

// call runs one RPC call for c's admin. Role checks come first; every
// mutating call, refused or not, leaves an audit entry.
func (s *Service) call(c *rpcConn, call *adminrpc.Call) adminrpc.Result {
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	p := c.p
	need, known := adminrpc.MinRole[call.Method]
	if !known {
		return failure(&apiError{http.StatusBadRequest, "bad_request", fmt.Sprintf("unknown method %q", call.Method)})
	}
	mutating := adminrpc.Mutating(call.Method)
	if !adminrpc.RoleAtLeast(p.account.Role, need) {
		err := &apiError{http.StatusForbidden, "forbidden", fmt.Sprintf("%s accounts may only read: %s needs the %s role",
			p.account.Role, call.Method, need)}
		if p.account.Role != adminrpc.RoleViewer {
			err.Message = fmt.Sprintf("%s needs the %s role (this account is %s)", call.Method, need, p.account.Role)
		}
		if mutating {
			s.record(ctx, p.account, p.account.Username, call.Method, targetOf(call.Params), "refused: role "+p.account.Role, p.peer, "denied")
		}
		return failure(err)
	}
	if mutating && !c.sessionAlive() {
		c.closeWith(websocket.ClosePolicyViolation, "admin session ended")
		return failure(errUnauthorized("session_expired", "the admin session has ended"))
	}

	var data any
	var err error
	switch call.Method {
	case adminrpc.MethodPing:
		data = map[string]string{"pong": time.Now().UTC().Format(time.RFC3339Nano)}
	case adminrpc.MethodSubscribe:
		c.subscribe()
		data = map[string]string{"subscribed": "events"}
	case adminrpc.MethodLogs:
		data, err = s.logs(ctx, c, call)
	case adminrpc.MethodLogsStop:
		var lp adminrpc.LogsParams
		if err = decodeParams(call.Params, &lp); err == nil {
			c.stopTail(lp.StopID)
			data = map[string]uint64{"stopped": lp.StopID}
		}
	default:
		var res *adminrpc.ActionResult
		var target string
		res, target, err = s.act(ctx, call.Method, call.Params)
		result, detail := "ok", ""
		if res != nil {
			detail = res.Message
		}
		if err != nil {
			result, detail = "error", err.Error()
			var ae *apiError
			switch {
			case errors.As(err, &ae) && ae.Code == "not_found":
				result = "not_found"
			case errors.As(err, &ae):
				result = ae.Code
			default:
				detail = "internal error"
			}
		}
		if target == "" {
			target = targetOf(call.Params)
		}
		s.record(ctx, p.account, p.account.Username, call.Method, target, detail, p.peer, result)
		data = res
	}
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			s.log.Error("admin RPC call failed", "method", call.Method, "err", err)
		}
		return failure(err)
	}
	raw, err := json.Marshal(data, json.Deterministic(true))
	if err != nil {
		return failure(err)
	}
	return adminrpc.Result{OK: true, Data: raw}
}

func failure(err error) adminrpc.Result {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, store.ErrNotFound):
		ae = &apiError{http.StatusNotFound, "not_found", "not found"}
	default:
		ae = &apiError{http.StatusInternalServerError, "internal", "internal error (see the control plane's log)"}
	}
	return adminrpc.Result{OK: false, Error: ae.Message, Code: ae.Code}
}

func decodeParams(raw jsontext.Value, v any) error {
	if len(raw) == 0 {
		raw = jsontext.Value("{}")
	}
	if err := json.Unmarshal(raw, v, json.RejectUnknownMembers(true)); err != nil {
		return errBadRequest("invalid params: %v", err)
	}
	return nil
}

// targetOf names a call's target for the audit log when the call failed
// before resolving it.
func targetOf(raw jsontext.Value) string {
	var t adminrpc.Target
	if json.Unmarshal(raw, &t) != nil {
		return ""
	}
	switch {
	case t.Worker != "":
		return "worker " + t.Worker
	case t.App != "":
		return "app " + t.App
	case t.User != "":
		return "user " + t.User
	}
	return ""
}

func notFound(format string, args ...any) error {
	return &apiError{http.StatusNotFound, "not_found", fmt.Sprintf(format, args...)}
}

func conflict(format string, args ...any) error {
	return &apiError{http.StatusConflict, "conflict", fmt.Sprintf(format, args...)}
}

// act runs one mutating call and returns its result and resolved target.
func (s *Service) act(ctx context.Context, method string, params jsontext.Value) (*adminrpc.ActionResult, string, error) {
	var t adminrpc.Target
	if err := decodeParams(params, &t); err != nil {
		return nil, "", err
	}
	switch method {
	case adminrpc.MethodDrain, adminrpc.MethodUndrain, adminrpc.MethodRevoke:
		if t.Worker == "" {
			return nil, "", errBadRequest("params.worker (a name or id) is required")
		}
		w, err := s.findWorker(ctx, t.Worker)
		if err != nil {
			return nil, "", err
		}
		target := fmt.Sprintf("worker %s (#%d)", w.Name, w.ID)
		res, err := s.actOnWorker(ctx, method, w)
		return res, target, err
	case adminrpc.MethodSuspendApp, adminrpc.MethodResumeApp, adminrpc.MethodStopApp:
		if t.App == "" {
			return nil, "", errBadRequest("params.app (a name or id) is required")
		}
		app, err := s.findApp(ctx, t.App)
		if err != nil {
			return nil, "", err
		}
		res, err := s.actOnApp(ctx, method, app)
		return res, "app " + app.Name, err
	case adminrpc.MethodSuspendUser, adminrpc.MethodResumeUser:
		if t.User == "" {
			return nil, "", errBadRequest("params.user (an email or id) is required")
		}
		u, err := s.findUser(ctx, t.User)
		if err != nil {
			return nil, "", err
		}
		res, err := s.actOnUser(ctx, method, u)
		return res, "user " + u.Email, err
	}
	return nil, "", errBadRequest("unknown method %q", method)
}

func (s *Service) findWorker(ctx context.Context, ref string) (*store.Worker, error) {
	ws, err := s.d.Store.ListWorkers(ctx)
	if err != nil {
		return nil, err
	}
	id, idErr := strconv.ParseInt(strings.TrimPrefix(ref, "#"), 10, 64)
	for i := range ws {
		if ws[i].Name == ref || (idErr == nil && ws[i].ID == id) {
			return &ws[i], nil
		}
	}
	return nil, notFound("no worker named %q", ref)
}

func (s *Service) findApp(ctx context.Context, ref string) (*store.App, error) {
	app, err := s.d.Store.GetAppByName(ctx, strings.ToLower(ref))
	if errors.Is(err, store.ErrNotFound) && strings.HasPrefix(ref, "app_") {
		app, err = s.d.Store.GetApp(ctx, ref)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("no app named %q", ref)
	}
	return app, err
}

func (s *Service) findUser(ctx context.Context, ref string) (*store.User, error) {
	var u *store.User
	var err error
	if strings.Contains(ref, "@") {
		u, err = s.d.Store.GetUserByEmail(ctx, ref)
	} else {
		u, err = s.d.Store.GetUserByID(ctx, ref)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("no user %q", ref)
	}
	return u, err
}

func (s *Service) actOnWorker(ctx context.Context, method string, w *store.Worker) (*adminrpc.ActionResult, error) {
	target := fmt.Sprintf("%s (#%d)", w.Name, w.ID)
	switch method {
	case adminrpc.MethodDrain:
		if !w.RevokedAt.IsZero() {
			return nil, conflict("worker %s is revoked", target)
		}
		if err := s.d.Store.SetWorkerDraining(ctx, w.ID, true); err != nil {
			return nil, err
		}
		return &adminrpc.ActionResult{Target: w.Name, Message: fmt.Sprintf("worker %s is draining: no new apps are placed on it; the apps it runs keep running", target)}, nil
	case adminrpc.MethodUndrain:
		if err := s.d.Store.SetWorkerDraining(ctx, w.ID, false); err != nil {
			return nil, err
		}
		s.d.Dispatch.Kick() // pending jobs may be placed on it now
		return &adminrpc.ActionResult{Target: w.Name, Message: fmt.Sprintf("worker %s takes new apps again", target)}, nil
	case adminrpc.MethodRevoke:
		if err := s.d.Store.RevokeWorker(ctx, w.ID, time.Now()); err != nil {
			return nil, err
		}
		s.d.Hub.Disconnect(w.ID)
		return &adminrpc.ActionResult{Target: w.Name, Message: fmt.Sprintf("worker %s revoked: its key no longer authenticates and its socket was closed", target)}, nil
	}
	return nil, errBadRequest("unknown method %q", method)
}

func (s *Service) actOnApp(ctx context.Context, method string, app *store.App) (*adminrpc.ActionResult, error) {
	res := &adminrpc.ActionResult{Target: app.Name}
	deployed := app.WorkerID != 0 && app.CurrentDeploymentID != ""
	switch method {
	case adminrpc.MethodSuspendApp:
		if err := s.d.Store.SetAppSuspended(ctx, app.ID, true); err != nil {
			return nil, err
		}
		res.Message = "app " + app.Name + " suspended: its hosts answer 503"
		if app.WorkerID != 0 {
			job, err := s.d.Dispatch.Enqueue(ctx, app, models.JobStop, "")
			if err != nil {
				return nil, err
			}
			res.JobID = job.ID
			res.Message += "; stop job " + job.ID + " queued"
		}
	case adminrpc.MethodResumeApp:
		if err := s.d.Store.SetAppSuspended(ctx, app.ID, false); err != nil {
			return nil, err
		}
		res.Message = "app " + app.Name + " resumed"
		if deployed {
			job, err := s.d.Dispatch.Enqueue(ctx, app, models.JobRestart, "")
			if err != nil {
				return nil, err
			}
			res.JobID = job.ID
			res.Message += "; restart job " + job.ID + " queued"
		}
	case adminrpc.MethodStopApp:
		if app.WorkerID == 0 {
			return nil, conflict("app %s is not placed on any worker", app.Name)
		}
		job, err := s.d.Dispatch.Enqueue(ctx, app, models.JobStop, "")
		if err != nil {
			return nil, err
		}
		res.JobID = job.ID
		res.Message = "stop job " + job.ID + " queued for app " + app.Name
	default:
		return nil, errBadRequest("unknown method %q", method)
	}
	return res, nil
}

func (s *Service) actOnUser(ctx context.Context, method string, u *store.User) (*adminrpc.ActionResult, error) {
	suspend := method == adminrpc.MethodSuspendUser
	if err := s.d.Store.SetUserSuspended(ctx, u.ID, suspend); err != nil {
		return nil, err
	}
	if suspend {
		if err := s.d.Store.DeleteUserSessions(ctx, u.ID); err != nil {
			return nil, err
		}
		return &adminrpc.ActionResult{Target: u.Email, Message: "user " + u.Email + " suspended: signed out, and every token refused; their apps keep running (suspend them separately)"}, nil
	}
	return &adminrpc.ActionResult{Target: u.Email, Message: "user " + u.Email + " may sign in again"}, nil
}

// logs answers app.logs: the last lines, and with Follow a stream of "log"
// envelopes tagged with the call's id.
func (s *Service) logs(ctx context.Context, c *rpcConn, call *adminrpc.Call) (any, error) {
	var lp adminrpc.LogsParams
	if err := decodeParams(call.Params, &lp); err != nil {
		return nil, err
	}
	if lp.App == "" {
		return nil, errBadRequest("params.app is required")
	}
	app, err := s.findApp(ctx, lp.App)
	if err != nil {
		return nil, err
	}
	n := lp.Lines
	if n <= 0 {
		n = 100
	}
	n = min(n, 1000)
	var sub interface{ Close() }
	var wake <-chan struct{}
	if lp.Follow && s.d.Logs != nil {
		ls := s.d.Logs.Subscribe(app.ID) // before the first read: no line slips between
		sub, wake = ls, ls.C
	}
	lines, err := s.d.RuntimeLogs.List(app.ID, 0, n)
	if err != nil {
		if sub != nil {
			sub.Close()
		}
		return nil, err
	}
	out := adminrpc.Logs{ID: call.ID, App: app.Name, Lines: logLines(lines)}
	if lp.Follow {
		var after int64
		if len(lines) > 0 {
			after = lines[len(lines)-1].ID
		}
		c.startTail(call.ID, app, after, wake, sub)
	}
	s.record(ctx, c.p.account, c.p.account.Username, call.Method, "app "+app.Name, fmt.Sprintf("lines=%d follow=%t", n, lp.Follow), c.p.peer, "ok")
	return out, nil
}

func logLines(ls []logstore.Line) []adminrpc.LogLine {
	out := make([]adminrpc.LogLine, 0, len(ls))
	for _, l := range ls {
		out = append(out, adminrpc.LogLine{ID: l.ID, At: l.At, Stream: l.Stream, Msg: l.Msg})
	}
	return out
}

// startTail follows an app's log for the connection until stopTail or
// the connection ends. The bus wakes it; a slow tick covers a missed wake.
func (c *rpcConn) startTail(id uint64, app *store.App, after int64, wake <-chan struct{}, sub interface{ Close() }) {
	ctx, cancel := context.WithCancel(c.ctx)
	c.mu.Lock()
	if old := c.tails[id]; old != nil {
		old()
	}
	c.tails[id] = cancel
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer cancel()
		if sub != nil {
			defer sub.Close()
		}
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-wake:
			case <-tick.C:
			}
			for {
				lines, err := c.s.d.RuntimeLogs.List(app.ID, after, 500)
				if err != nil || len(lines) == 0 {
					break
				}
				after = lines[len(lines)-1].ID
				if c.send(adminrpc.TypeLog, adminrpc.Logs{ID: id, App: app.Name, Lines: logLines(lines)}) != nil {
					return
				}
				if len(lines) < 500 {
					break
				}
			}
		}
	}()
}

func (c *rpcConn) stopTail(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cancel := c.tails[id]; cancel != nil {
		cancel()
		delete(c.tails, id)
	}
}
