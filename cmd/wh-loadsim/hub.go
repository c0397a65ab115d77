package main

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wisehosting/wisehosting/internal/models"
	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// simWorker is one worker's identity, from workers.tsv (and tokens.tsv).
type simWorker struct {
	id      int64
	rawKey  string
	ownApp  string // the app seed placed on this worker
	foreign string // an app placed on another worker
	token   string // JWT from register; "" = connect with the raw key
}

func loadWorkers(path string, n int) ([]simWorker, error) {
	lines, err := readLines(path)
	if err != nil {
		return nil, err
	}
	if n <= 0 || n > len(lines) {
		if n > len(lines) {
			return nil, fmt.Errorf("%s has %d workers, %d asked for", path, len(lines), n)
		}
		n = len(lines)
	}
	out := make([]simWorker, 0, n)
	for _, l := range lines[:n] {
		f := strings.Split(l, "\t")
		if len(f) != 4 {
			return nil, fmt.Errorf("%s: bad line %q", path, l)
		}
		id, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: bad id in %q", path, l)
		}
		out = append(out, simWorker{id: id, rawKey: f[1], ownApp: f[2], foreign: f[3]})
	}
	return out, nil
}

// ---------------------------------------------------------------- register

func registerCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("wh-loadsim register", flag.ContinueOnError)
	base := fs.String("url", "", "control plane, http://127.0.0.1:PORT")
	workersFile := fs.String("workers", "", "workers.tsv written by seed")
	out := fs.String("out", "", "file to write worker_id<TAB>jwt lines to")
	n := fs.Int("n", 0, "register only the first n workers (0 = all)")
	conc := fs.Int("concurrency", 8, "requests in flight")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := loopbackURL(*base)
	if err != nil {
		return err
	}
	if *workersFile == "" || *out == "" {
		return errors.New("register: --workers and --out are required")
	}
	ws, err := loadWorkers(*workersFile, *n)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *conc}}
	defer client.CloseIdleConnections()
	tokens := make([]string, len(ws))
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range max(1, *conc) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(ws) {
					return
				}
				tok, err := register(ctx, client, u.String(), &ws[i])
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("register worker %d: %w", ws[i].id, err) })
					return
				}
				tokens[i] = tok
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var b strings.Builder
	for i, w := range ws {
		fmt.Fprintf(&b, "%d\t%s\n", w.id, tokens[i])
	}
	if err := os.WriteFile(*out, []byte(b.String()), 0o600); err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Printf("register: %d workers in %.1fs (%.0f/s)\n", len(ws), el.Seconds(), float64(len(ws))/el.Seconds())
	return nil
}

func register(ctx context.Context, client *http.Client, base string, w *simWorker) (string, error) {
	body, _ := json.Marshal(map[string]any{
		"api_key": w.rawKey, "name": fmt.Sprintf("bench-w%05d", w.id-1), "hostname": fmt.Sprintf("host-%05d", w.id-1),
		"version": "loadsim", "os": "linux", "arch": "amd64", "cpus": 8, "memory_bytes": int64(32) << 30,
		"disk_bytes": int64(500) << 30, "port_range": []int{20000, 20999}, "address": "127.0.0.1",
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/workers/register", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(data))
	}
	var out wsproto.RegisterResponse
	if err := json.Unmarshal(data, &out); err != nil {
		return "", err
	}
	if out.WorkerID != w.id || out.Token == "" {
		return "", fmt.Errorf("unexpected answer for worker %d: id %d", w.id, out.WorkerID)
	}
	return out.Token, nil
}

// --------------------------------------------------------------------- hub

type hubConfig struct {
	url          string
	workersFile  string
	tokensFile   string
	n            int
	duration     time.Duration
	mode         string // own | foreign
	dialConc     int
	senders      int
	heartbeat    time.Duration
	logEvery     time.Duration
	statsEvery   time.Duration
	logLines     int
	statusEvery  time.Duration
	readyFile    string
	cpuProfile   string
	maxDialFails int
}

// Message kinds the scheduler sends.
const (
	kindHeartbeat = iota
	kindLog
	kindStats
	numKinds
)

// simConn is one open WebSocket. mu serialises seal+write, so sequence
// numbers reach the wire in order.
type simConn struct {
	w      *simWorker
	app    string // the app id payloads speak about
	ws     *websocket.Conn
	sender *wsproto.Sender
	mu     sync.Mutex
	dead   atomic.Bool
	// counters of the payload contents, so logs and stats evolve.
	logN  uint32
	netRx int64
}

// event is one scheduled send.
type event struct {
	due  int64 // ns since the simulator's epoch
	conn int32
	kind uint8
}

type eventHeap []event

func (h eventHeap) Len() int           { return len(h) }
func (h eventHeap) Less(i, j int) bool { return h[i].due < h[j].due }
func (h eventHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)        { *h = append(*h, x.(event)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

type hubStats struct {
	sent      [numKinds]atomic.Int64
	writeErrs atomic.Int64
	readErrs  atomic.Int64 // connections the server closed or that broke
	lagSumNs  atomic.Int64 // how late sends were, summed
	lagMaxNs  atomic.Int64
	received  atomic.Int64 // envelopes the server sent us
}

type sim struct {
	cfg    hubConfig
	epoch  time.Time
	conns  []*simConn
	stats  hubStats
	period [numKinds]time.Duration

	hmu    sync.Mutex
	events eventHeap
	wake   chan struct{}

	work chan event
}

func hubCmd(ctx context.Context, args []string) error {
	var c hubConfig
	fs := flag.NewFlagSet("wh-loadsim hub", flag.ContinueOnError)
	fs.StringVar(&c.url, "url", "", "control plane, http://127.0.0.1:PORT")
	fs.StringVar(&c.workersFile, "workers", "", "workers.tsv written by seed")
	fs.StringVar(&c.tokensFile, "tokens", "", "tokens.tsv written by register (default: connect with the raw API keys)")
	fs.IntVar(&c.n, "n", 0, "number of workers to connect (0 = all in --workers)")
	fs.DurationVar(&c.duration, "duration", 10*time.Minute, "stop after this long (at most 1h)")
	fs.StringVar(&c.mode, "mode", "own", "own: logs and stats name the worker's own app (stored); foreign: an app of another worker (verified, decoded, then dropped as not yours)")
	fs.IntVar(&c.dialConc, "dial-concurrency", 32, "WebSocket handshakes in flight")
	fs.IntVar(&c.senders, "senders", 32, "goroutines that seal and write scheduled messages")
	fs.DurationVar(&c.heartbeat, "heartbeat", 30*time.Second, "heartbeat period")
	fs.DurationVar(&c.logEvery, "log-every", 3*time.Second, "mean runtime_log period (jittered ±10 %)")
	fs.DurationVar(&c.statsEvery, "stats-every", 10*time.Second, "app_stats period")
	fs.IntVar(&c.logLines, "log-lines", 5, "lines per runtime_log batch (5 ≈ 1.1 KB of payload)")
	fs.DurationVar(&c.statusEvery, "status-every", 10*time.Second, "print a status line this often")
	fs.StringVar(&c.readyFile, "ready-file", "", "file to create once every connection is open")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write the simulator's CPU profile here")
	fs.IntVar(&c.maxDialFails, "max-dial-failures", 0, "give up after this many failed handshakes (0 = any failure is fatal)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := loopbackURL(c.url)
	if err != nil {
		return err
	}
	if c.workersFile == "" {
		return errors.New("hub: --workers is required")
	}
	if c.mode != "own" && c.mode != "foreign" {
		return fmt.Errorf("hub: --mode %q: want own or foreign", c.mode)
	}
	if c.duration <= 0 || c.duration > time.Hour {
		return errors.New("hub: --duration must be in (0, 1h]")
	}
	ws, err := loadWorkers(c.workersFile, c.n)
	if err != nil {
		return err
	}
	if c.tokensFile != "" {
		if err := loadTokens(c.tokensFile, ws); err != nil {
			return err
		}
	}
	if c.cpuProfile != "" {
		f, err := os.Create(c.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	ctx, cancel := context.WithTimeout(ctx, c.duration)
	defer cancel()
	s := &sim{cfg: c, epoch: time.Now(), wake: make(chan struct{}, 1), work: make(chan event, 8192)}
	s.period = [numKinds]time.Duration{c.heartbeat, c.logEvery, c.statsEvery}
	wsURL := "ws://" + u.Host + "/v1/workers/ws"
	return s.run(ctx, wsURL, ws)
}

func loadTokens(path string, ws []simWorker) error {
	lines, err := readLines(path)
	if err != nil {
		return err
	}
	byID := make(map[int64]string, len(lines))
	for _, l := range lines {
		id, tok, ok := strings.Cut(l, "\t")
		n, err := strconv.ParseInt(id, 10, 64)
		if !ok || err != nil {
			return fmt.Errorf("%s: bad line", path)
		}
		byID[n] = tok
	}
	for i := range ws {
		tok, ok := byID[ws[i].id]
		if !ok {
			return fmt.Errorf("%s has no token for worker %d (run register for as many workers)", path, ws[i].id)
		}
		ws[i].token = tok
	}
	return nil
}

func (s *sim) now() int64 { return int64(time.Since(s.epoch)) }

func (s *sim) run(ctx context.Context, wsURL string, ws []simWorker) error {
	n := len(ws)
	s.conns = make([]*simConn, n)
	var wg sync.WaitGroup

	// Senders and the scheduler run from the start, so the first
	// connections talk while the others are still being opened, as real
	// workers would.
	for range max(1, s.cfg.senders) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.sendLoop(ctx)
		}()
	}
	schedDone := make(chan struct{})
	go func() {
		defer close(schedDone)
		s.schedule(ctx)
	}()

	dialer := &websocket.Dialer{
		HandshakeTimeout: 30 * time.Second,
		ReadBufferSize:   1024,
		// A shared pool: a write buffer is held only while a message
		// is written, so it can be large enough for one frame per
		// message.
		WriteBufferSize: 4096,
		WriteBufferPool: &sync.Pool{},
	}
	start := time.Now()
	var next atomic.Int64
	var dialFails atomic.Int64
	var dialErr error
	var errOnce sync.Once
	var dwg sync.WaitGroup
	for range max(1, s.cfg.dialConc) {
		dwg.Add(1)
		go func() {
			defer dwg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c, err := s.dial(ctx, dialer, wsURL, &ws[i])
				if err != nil {
					if int(dialFails.Add(1)) > s.cfg.maxDialFails {
						errOnce.Do(func() { dialErr = fmt.Errorf("connect worker %d: %w", ws[i].id, err) })
						return
					}
					continue
				}
				s.conns[i] = c
				wg.Add(1)
				go func() {
					defer wg.Done()
					s.readLoop(c)
				}()
				s.scheduleConn(int32(i))
			}
		}()
	}
	dwg.Wait()
	if dialErr != nil {
		s.closeAll()
		wg.Wait()
		<-schedDone
		return dialErr
	}
	open := 0
	for _, c := range s.conns {
		if c != nil {
			open++
		}
	}
	fmt.Printf("hub: %d/%d connections open in %.1fs (mode=%s, %d failed handshakes)\n", open, n,
		time.Since(start).Seconds(), s.cfg.mode, dialFails.Load())
	if s.cfg.readyFile != "" && ctx.Err() == nil {
		_ = os.WriteFile(s.cfg.readyFile, []byte(strconv.Itoa(open)+"\n"), 0o600)
	}
	expected := float64(open) * (1/s.period[kindHeartbeat].Seconds() + 1/s.period[kindLog].Seconds() + 1/s.period[kindStats].Seconds())
	fmt.Printf("hub: offered load %.0f msgs/s (heartbeat %v, runtime_log %v ±10%% with %d lines, app_stats %v); message sizes: %s\n",
		expected, s.cfg.heartbeat, s.cfg.logEvery, s.cfg.logLines, s.cfg.statsEvery, s.messageSizes(&ws[0]))

	// Status lines until the end.
	t := time.NewTicker(s.cfg.statusEvery)
	var last [numKinds]int64
	lastAt := time.Now()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-t.C:
		}
		var cur [numKinds]int64
		var total, dt int64
		for k := range numKinds {
			cur[k] = s.stats.sent[k].Load()
			total += cur[k]
			dt += cur[k] - last[k]
		}
		el := time.Since(lastAt).Seconds()
		alive := 0
		for _, c := range s.conns {
			if c != nil && !c.dead.Load() {
				alive++
			}
		}
		lagAvg := 0.0
		if total > 0 {
			lagAvg = float64(s.stats.lagSumNs.Load()) / float64(total) / 1e6
		}
		fmt.Printf("hub: t=%5.0fs alive=%d sent=%d (%.0f/s: hb %d, log %d, stats %d) lag avg %.1fms max %.0fms write_errs=%d closed=%d recv=%d\n",
			time.Since(start).Seconds(), alive, total, float64(dt)/el, cur[0]-last[0], cur[1]-last[1], cur[2]-last[2],
			lagAvg, float64(s.stats.lagMaxNs.Load())/1e6, s.stats.writeErrs.Load(), s.stats.readErrs.Load(), s.stats.received.Load())
		last, lastAt = cur, time.Now()
	}
	t.Stop()
	s.closeAll()
	wg.Wait()
	<-schedDone
	var total int64
	for k := range numKinds {
		total += s.stats.sent[k].Load()
	}
	fmt.Printf("hub: done: sent %d envelopes (hb %d, log %d, stats %d), %d write errors, %d connections closed early\n",
		total, s.stats.sent[0].Load(), s.stats.sent[1].Load(), s.stats.sent[2].Load(), s.stats.writeErrs.Load(), s.stats.readErrs.Load())
	return nil
}

func (s *sim) dial(ctx context.Context, d *websocket.Dialer, wsURL string, w *simWorker) (*simConn, error) {
	cred := w.token
	if cred == "" {
		cred = w.rawKey
	}
	ws, resp, err := d.DialContext(ctx, wsURL, http.Header{"Authorization": {"Bearer " + cred}})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, err
	}
	app := w.ownApp
	if s.cfg.mode == "foreign" {
		app = w.foreign
	}
	if app == "-" {
		app = "app_none"
	}
	return &simConn{w: w, app: app, ws: ws, sender: wsproto.NewSender(wsproto.KeyFromAPIKey(w.rawKey))}, nil
}

// readLoop answers pings (gorilla's default handler) and drains whatever
// the control plane sends; it ends when the socket closes.
func (s *sim) readLoop(c *simConn) {
	for {
		_, _, err := c.ws.ReadMessage()
		if err != nil {
			if !c.dead.Swap(true) {
				s.stats.readErrs.Add(1)
			}
			return
		}
		s.stats.received.Add(1)
	}
}

// scheduleConn adds the connection's three periodic sends, each at a
// random phase of its period, so sends are spread uniformly in time.
func (s *sim) scheduleConn(i int32) {
	now := s.now()
	s.hmu.Lock()
	for k := range numKinds {
		p := int64(s.period[k])
		heap.Push(&s.events, event{due: now + rand.Int64N(p), conn: i, kind: uint8(k)})
	}
	s.hmu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// schedule hands due events to the senders and re-arms them one period
// later (from when they were due, so the rate does not drift when the
// senders lag; the lag is measured instead).
func (s *sim) schedule(ctx context.Context) {
	defer close(s.work)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := s.now()
		var wait time.Duration = time.Hour
		var due []event
		s.hmu.Lock()
		for len(s.events) > 0 && s.events[0].due <= now && len(due) < 1024 {
			e := s.events[0]
			due = append(due, e)
			nextDue := e.due + s.nextPeriod(e.kind)
			s.events[0].due = nextDue
			heap.Fix(&s.events, 0)
		}
		if len(s.events) > 0 {
			wait = time.Duration(s.events[0].due - now)
		}
		s.hmu.Unlock()
		for _, e := range due {
			select {
			case s.work <- e:
			case <-ctx.Done():
				return
			}
		}
		if len(due) > 0 {
			continue
		}
		timer.Reset(max(wait, 100*time.Microsecond))
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
			if !timer.Stop() {
				<-timer.C
			}
		case <-timer.C:
		}
	}
}

func (s *sim) nextPeriod(kind uint8) int64 {
	p := int64(s.period[kind])
	if kind == kindLog {
		// ±10 % jitter, mean unchanged.
		return p - p/10 + rand.Int64N(p/5+1)
	}
	return p
}

func (s *sim) sendLoop(ctx context.Context) {
	var logBuf []wsproto.RuntimeLogLine
	for e := range s.work {
		if ctx.Err() != nil {
			continue // drain
		}
		c := s.conns[e.conn]
		if c == nil || c.dead.Load() {
			continue
		}
		lag := s.now() - e.due
		c.mu.Lock()
		msgType, payload := s.payload(c, e.kind, &logBuf)
		data, err := c.sender.Seal(msgType, payload)
		if err == nil {
			_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
			err = c.ws.WriteMessage(websocket.TextMessage, data)
		}
		c.mu.Unlock()
		if err != nil {
			s.stats.writeErrs.Add(1)
			if !c.dead.Swap(true) {
				_ = c.ws.Close()
			}
			continue
		}
		s.stats.sent[e.kind].Add(1)
		s.stats.lagSumNs.Add(lag)
		for {
			m := s.stats.lagMaxNs.Load()
			if lag <= m || s.stats.lagMaxNs.CompareAndSwap(m, lag) {
				break
			}
		}
	}
}

// payload builds the next message of kind for c; call with c.mu held.
func (s *sim) payload(c *simConn, kind uint8, logBuf *[]wsproto.RuntimeLogLine) (string, any) {
	switch kind {
	case kindHeartbeat:
		return wsproto.TypeHeartbeat, wsproto.HeartbeatPayload{Status: wsproto.WorkerReady,
			Resources: models.WorkerResources{CPUs: 8, CPUPercent: 12.5, MemoryTotalBytes: 32 << 30,
				MemoryUsedBytes: 9 << 30, DiskTotalBytes: 500 << 30, DiskUsedBytes: 120 << 30, Containers: 1},
			Apps: []wsproto.HeartbeatApp{{AppID: c.app, ContainerID: containerID(c), Status: "running", HostPort: 20000}}}
	case kindLog:
		*logBuf = logLines((*logBuf)[:0], c, s.cfg.logLines)
		return wsproto.TypeRuntimeLog, wsproto.RuntimeLogPayload{Lines: *logBuf}
	default:
		c.netRx += 150_000
		return wsproto.TypeAppStats, wsproto.AppStatsPayload{At: time.Now().UTC().Truncate(time.Millisecond), Apps: []wsproto.AppStatLine{{
			AppID: c.app, ContainerID: containerID(c), CPUPercent: 3.25, MemBytes: 87 << 20, MemLimitBytes: 512 << 20,
			NetRxBytes: c.netRx, NetTxBytes: 3 * c.netRx, BlockRead: 4 << 20, BlockWrite: 1 << 20, PIDs: 7}}}
	}
}

// messageSizes seals one sample of each kind (with a throwaway sender) and
// returns the wire sizes, for the report.
func (s *sim) messageSizes(w *simWorker) string {
	c := &simConn{w: w, app: w.ownApp, sender: wsproto.NewSender(wsproto.KeyFromAPIKey(w.rawKey))}
	var buf []wsproto.RuntimeLogLine
	var parts []string
	for k := range uint8(numKinds) {
		t, p := s.payload(c, k, &buf)
		data, err := c.sender.Seal(t, p)
		if err != nil {
			return err.Error()
		}
		parts = append(parts, fmt.Sprintf("%s %d B", t, len(data)))
	}
	return strings.Join(parts, ", ")
}

func containerID(c *simConn) string {
	return fmt.Sprintf("%012x%052x", c.w.id, 0xc0ffee)
}

// Runtime log lines shaped like a web app's access and application logs,
// ~180 bytes each, some with quotes (which the decoder must un-escape).
var logTemplates = []string{
	`127.0.0.1 - - "GET /api/items/%d HTTP/1.1" 200 1532 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0" rt=0.004`,
	`{"level":"info","ts":"2026-11-27T10:00:00Z","msg":"request served","method":"GET","path":"/api/items/%d","status":200,"dur_ms":3.2}`,
	`INFO  [worker-3] com.example.jobs.Scheduler - job #%d finished in 41 ms, next run scheduled, queue depth 0, heap 212 MB`,
	`10.88.0.1 - - "POST /api/orders HTTP/1.1" 201 88 "https://shop.example.com/cart" "Mozilla/5.0" order=%d rt=0.019 upstream=0.017`,
	`{"level":"warn","ts":"2026-11-27T10:00:01Z","msg":"slow query","query":"SELECT * FROM items WHERE id = $1","id":%d,"dur_ms":212}`,
	`[2026-11-27 10:00:02] production.INFO: Cache miss for key products:page:%d, rebuilding from database (17 rows)`,
}

func logLines(dst []wsproto.RuntimeLogLine, c *simConn, n int) []wsproto.RuntimeLogLine {
	at := time.Now().UTC().Truncate(time.Millisecond)
	for i := range n {
		c.logN++
		stream := "stdout"
		if c.logN%11 == 0 {
			stream = "stderr"
		}
		msg := fmt.Sprintf(logTemplates[(int(c.logN)+i)%len(logTemplates)], c.logN)
		dst = append(dst, wsproto.RuntimeLogLine{AppID: c.app, Stream: stream, At: at, Msg: msg})
	}
	return dst
}

func (s *sim) closeAll() {
	msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "loadsim stopping")
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, c := range s.conns {
		if c == nil {
			continue
		}
		c.dead.Store(true)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(200*time.Millisecond))
			_ = c.ws.Close()
		}()
	}
	wg.Wait()
}
