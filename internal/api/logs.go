package api

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/wisehosting/wisehosting/internal/auth"
	"github.com/wisehosting/wisehosting/internal/dispatch"
	"github.com/wisehosting/wisehosting/internal/store"
)

// ssePing keeps idle streams (and the proxies in front of them) open.
const ssePing = 15 * time.Second

// sse writes Server-Sent Events and flushes each one.
type sse struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	// authorize, when set, re-checks the caller's access every recheck:
	// a stream must end soon after its user leaves the team, signs out or
	// loses the token, not run on for days.
	authorize func() error
	recheck   time.Duration
	checked   time.Time
}

// authorizeEvery makes the stream re-run f every d; when f fails, the
// stream sends a "revoked" event and ends.
func (s *sse) authorizeEvery(d time.Duration, f func() error) {
	s.authorize, s.recheck, s.checked = f, d, time.Now()
}

// stillAuthorized re-checks access if a recheck is due.
func (s *sse) stillAuthorized() bool {
	if s.authorize == nil || time.Since(s.checked) < s.recheck {
		return true
	}
	if err := s.authorize(); err != nil {
		_ = s.event("", "revoked", "access to this stream ended")
		return false
	}
	s.checked = time.Now()
	return true
}

func startSSE(w http.ResponseWriter) *sse {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s := &sse{w: w, rc: http.NewResponseController(w)}
	// Long-lived: lift the server's read and write timeouts for this
	// response only (an expiring read deadline would cancel the request's
	// context and end the stream after ReadTimeout).
	_ = s.rc.SetReadDeadline(time.Time{})
	_ = s.rc.SetWriteDeadline(time.Time{})
	_ = s.rc.Flush()
	return s
}

// event writes one event; multi-line data becomes several data: lines.
func (s *sse) event(id, name, data string) error {
	var b strings.Builder
	if id != "" {
		b.WriteString("id: " + id + "\n")
	}
	if name != "" {
		b.WriteString("event: " + name + "\n")
	}
	for _, line := range strings.Split(data, "\n") {
		b.WriteString("data: " + line + "\n")
	}
	b.WriteString("\n")
	if _, err := io.WriteString(s.w, b.String()); err != nil {
		return err
	}
	return s.rc.Flush()
}

func (s *sse) ping() error {
	if _, err := io.WriteString(s.w, ": ping\n\n"); err != nil {
		return err
	}
	return s.rc.Flush()
}

// wait blocks until wake fires (true), pinging the client every ssePing
// meanwhile and re-checking access (authorizeEvery); it returns false when
// the client is gone or its access is.
func (s *sse) wait(ctx context.Context, wake <-chan struct{}) bool {
	ping := time.NewTicker(ssePing)
	defer ping.Stop()
	var recheck <-chan time.Time // nil: never
	if s.authorize != nil {
		t := time.NewTicker(s.recheck)
		defer t.Stop()
		recheck = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return false
		case <-wake:
			return s.stillAuthorized()
		case <-recheck:
			if !s.stillAuthorized() {
				return false
			}
		case <-ping.C:
			if s.ping() != nil {
				return false
			}
		}
	}
}

func wantsStream(r *http.Request) bool {
	return r.URL.Query().Get("follow") == "1" || strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// resumeFrom reads Last-Event-ID (set by EventSource on reconnect) or the
// named query parameter.
func resumeFrom(r *http.Request, param string) (int64, error) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get(param)
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errBadRequest("%s must be a non-negative integer", param)
	}
	return n, nil
}

// deploymentLogs returns a deployment's build log: the whole text, or with
// follow=1 a stream of "log" events (id = byte offset after the chunk),
// "status" events, and "end" once the deployment has finished.
func (a *API) deploymentLogs(w http.ResponseWriter, r *http.Request, p *principal) error {
	d, _, err := a.deploymentFromPath(r, p)
	if err != nil {
		return err
	}
	ctx := r.Context()
	from, err := resumeFrom(r, "offset")
	if err != nil {
		return err
	}
	if !wantsStream(r) {
		data, _, err := a.Store.ReadBuildLog(ctx, d.ID, from)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, err = io.WriteString(w, data)
		return err
	}
	sub := a.Notify.Subscribe(dispatch.DeploymentTopic(d.ID))
	defer sub.Close()
	s := startSSE(w)
	s.authorizeEvery(time.Duration(a.streamRecheck.Load()), func() error {
		p, err := a.authenticate(r)
		if err == nil {
			_, _, err = a.deploymentFromPath(r, p)
		}
		return err
	})
	lastStatus := ""
	for {
		data, next, err := a.Store.ReadBuildLog(ctx, d.ID, from)
		if err != nil {
			return nil // the stream has started; nothing to report but to end it
		}
		if len(data) > 0 {
			if s.event(strconv.FormatInt(next, 10), "log", data) != nil {
				return nil
			}
			from = next
		}
		cur, err := a.Store.GetDeployment(ctx, d.ID)
		if err != nil {
			return nil
		}
		if cur.Status != lastStatus {
			if s.event("", "status", cur.Status) != nil {
				return nil
			}
			lastStatus = cur.Status
		}
		if store.DeploymentFinished(cur.Status) && from >= cur.LogLen {
			_ = s.event("", "end", cur.Status)
			return nil
		}
		if !s.wait(ctx, sub.C) {
			return nil
		}
	}
}

type logLineJSON struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Stream string    `json:"stream"`
	Msg    string    `json:"msg"`
}

// appLogs returns runtime logs: the last lines as JSON, or with follow=1 a
// stream of "log" events whose id is the line's durable id (1 + its offset
// in the app's log file, see logstore), so a client resumes after a
// disconnect (or a server restart) without gaps.
func (a *API) appLogs(w http.ResponseWriter, r *http.Request, p *principal) error {
	app, _, err := a.appFromPath(r, p, auth.RoleViewer)
	if err != nil {
		return err
	}
	ctx := r.Context()
	after, err := resumeFrom(r, "after")
	if err != nil {
		return err
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 || limit > 1000 {
		limit = 200
	}
	if !wantsStream(r) {
		lines, err := a.RuntimeLogs.List(app.ID, after, limit)
		if err != nil {
			return err
		}
		out := make([]logLineJSON, 0, len(lines))
		for _, l := range lines {
			out = append(out, logLineJSON{ID: l.ID, At: l.At, Stream: l.Stream, Msg: l.Msg})
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	sub := a.Logs.Subscribe(app.ID) // before the first read: no line slips between
	defer sub.Close()
	s := startSSE(w)
	s.authorizeEvery(time.Duration(a.streamRecheck.Load()), func() error {
		p, err := a.authenticate(r)
		if err == nil {
			_, _, err = a.appFromPath(r, p, auth.RoleViewer)
		}
		return err
	})
	for {
		lines, err := a.RuntimeLogs.List(app.ID, after, limit)
		if err != nil {
			return nil
		}
		for _, l := range lines {
			b, _ := json.Marshal(logLineJSON{ID: l.ID, At: l.At, Stream: l.Stream, Msg: l.Msg})
			if s.event(strconv.FormatInt(l.ID, 10), "log", string(b)) != nil {
				return nil
			}
			after = l.ID
		}
		if len(lines) == limit {
			continue // more are waiting
		}
		if !s.wait(ctx, sub.C) {
			return nil
		}
	}
}

// appStats returns the app's resource series since ?since (a duration,
// default 1h, at most 7 days).
func (a *API) appStats(w http.ResponseWriter, r *http.Request, p *principal) error {
	app, _, err := a.appFromPath(r, p, auth.RoleViewer)
	if err != nil {
		return err
	}
	since := time.Hour
	if v := r.URL.Query().Get("since"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > 7*24*time.Hour {
			return errBadRequest("since must be a duration such as 1h or 24h, at most 168h")
		}
		since = d
	}
	stats, err := a.Store.ListAppStats(r.Context(), app.ID, a.Now().Add(-since))
	if err != nil {
		return err
	}
	type point struct {
		At            time.Time `json:"at"`
		CPUPercent    float64   `json:"cpu_percent"`
		MemBytes      int64     `json:"mem_bytes"`
		MemLimitBytes int64     `json:"mem_limit_bytes"`
		NetRxBytes    int64     `json:"net_rx_bytes"`
		NetTxBytes    int64     `json:"net_tx_bytes"`
	}
	out := make([]point, 0, len(stats))
	for _, s := range stats {
		out = append(out, point{At: s.At, CPUPercent: s.CPUPercent, MemBytes: s.MemBytes, MemLimitBytes: s.MemLimitBytes,
			NetRxBytes: s.NetRxBytes, NetTxBytes: s.NetTxBytes})
	}
	writeJSON(w, http.StatusOK, map[string]any{"app": app.Name, "points": out})
	return nil
}

func (a *API) appViolations(w http.ResponseWriter, r *http.Request, p *principal) error {
	app, _, err := a.appFromPath(r, p, auth.RoleViewer)
	if err != nil {
		return err
	}
	vs, err := a.Store.ListViolations(r.Context(), app.ID, 100)
	if err != nil {
		return err
	}
	type vJSON struct {
		Kind    string    `json:"kind"`
		Message string    `json:"message"`
		Action  string    `json:"action,omitzero"`
		At      time.Time `json:"at"`
	}
	out := make([]vJSON, 0, len(vs))
	for _, v := range vs {
		out = append(out, vJSON{Kind: v.Kind, Message: v.Message, Action: v.Action, At: v.At})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
