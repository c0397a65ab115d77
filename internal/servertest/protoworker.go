package servertest

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// ProtoWorker is a worker written only from protocol.md, deliberately
// sharing no code with internal/wsproto, so tests prove that the control
// plane speaks the documented contract rather than agreeing with itself.
type ProtoWorker struct {
	t       testing.TB
	base    string // http://host:port
	rawKey  string
	key     []byte
	ID      int64
	Token   string
	conn    *websocket.Conn
	seq     uint64
	mu      sync.Mutex
	Inbox   chan Msg
	closed  chan struct{}
	readErr error
}

// Msg is a received envelope, decoded loosely.
type Msg struct {
	T  string          `json:"t"`
	I  string          `json:"i"`
	S  uint64          `json:"s"`
	TS int64           `json:"ts"`
	P  json.RawMessage `json:"p"`
	H  string          `json:"h"`
}

// NewProtoWorker registers a worker with rawKey (protocol §1).
func NewProtoWorker(t testing.TB, base, rawKey string) *ProtoWorker {
	sum := sha256.Sum256([]byte(rawKey))
	w := &ProtoWorker{t: t, base: base, rawKey: rawKey, key: sum[:], Inbox: make(chan Msg, 64)}
	body, _ := json.Marshal(map[string]any{"api_key": rawKey, "name": "proto", "hostname": "proto-host", "version": "test",
		"cpus": 2, "memory_bytes": 8 << 30, "port_range": []int{20000, 20999}, "address": "127.0.0.1"})
	resp, err := http.Post(base+"/v1/workers/register", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("register: status %d", resp.StatusCode)
	}
	var out struct {
		WorkerID       int64  `json:"worker_id"`
		Token          string `json:"token"`
		TokenExpiresAt string `json:"token_expires_at"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("register body: %v", err)
	}
	if _, err := time.Parse(time.RFC3339, out.TokenExpiresAt); err != nil || out.WorkerID <= 0 || out.Token == "" {
		t.Fatalf("register answer %+v: %v", out, err)
	}
	w.ID, w.Token = out.WorkerID, out.Token
	return w
}

// Connect opens the WebSocket with the JWT; sequence numbering restarts.
func (w *ProtoWorker) Connect() {
	w.t.Helper()
	url := "ws" + strings.TrimPrefix(w.base, "http") + "/v1/workers/ws"
	c, resp, err := websocket.DefaultDialer.Dial(url, http.Header{"Authorization": {"Bearer " + w.Token}})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		w.t.Fatalf("dial ws: %v (status %d)", err, status)
	}
	w.mu.Lock()
	w.conn, w.seq = c, 0
	w.mu.Unlock()
	w.closed = make(chan struct{})
	go w.readLoop(c, w.closed)
}

func (w *ProtoWorker) readLoop(c *websocket.Conn, closed chan struct{}) {
	defer close(closed)
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			w.readErr = err
			return
		}
		var m Msg
		if err := json.Unmarshal(data, &m); err != nil {
			continue
		}
		// Verify as protocol §2 says, over p exactly as received.
		if !hmac.Equal([]byte(m.H), []byte(w.sign(m.T, m.I, m.S, m.TS, m.P))) {
			w.t.Errorf("control plane sent a message with a bad signature: %s", data)
			continue
		}
		w.Inbox <- m
	}
}

// Closed is closed when the control plane ends the connection.
func (w *ProtoWorker) Closed() <-chan struct{} { return w.closed }

// Close ends the connection.
func (w *ProtoWorker) Close() {
	w.mu.Lock()
	c := w.conn
	w.mu.Unlock()
	if c != nil {
		c.Close()
		<-w.closed
	}
}

func (w *ProtoWorker) sign(t, id string, s uint64, ts int64, p []byte) string {
	m := hmac.New(sha256.New, w.key)
	m.Write([]byte(t + "|" + id + "|" + strconv.FormatUint(s, 10) + "|" + strconv.FormatInt(ts, 10) + "|"))
	m.Write(p)
	return hex.EncodeToString(m.Sum(nil))
}

func newMsgID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Envelope builds a signed wire message; mutate lets a test break it.
func (w *ProtoWorker) Envelope(t string, payload any, mutate func(m map[string]any)) []byte {
	w.mu.Lock()
	w.seq++
	seq := w.seq
	w.mu.Unlock()
	p, err := json.Marshal(payload)
	if err != nil {
		w.t.Fatal(err)
	}
	ts := time.Now().UnixMilli()
	id := newMsgID()
	m := map[string]any{"t": t, "i": id, "s": seq, "ts": ts, "p": json.RawMessage(p), "h": w.sign(t, id, seq, ts, p)}
	if mutate != nil {
		mutate(m)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		w.t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// Resign recomputes h after a test changed other fields.
func (w *ProtoWorker) Resign(m map[string]any) {
	p := m["p"].(json.RawMessage)
	m["h"] = w.sign(m["t"].(string), m["i"].(string), m["s"].(uint64), m["ts"].(int64), p)
}

// SendRaw writes one text message.
func (w *ProtoWorker) SendRaw(data []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.conn.WriteMessage(websocket.TextMessage, data)
}

// Send signs and sends a message.
func (w *ProtoWorker) Send(t string, payload any) {
	w.t.Helper()
	if err := w.SendRaw(w.Envelope(t, payload, nil)); err != nil {
		w.t.Fatalf("send %s: %v", t, err)
	}
}

// Expect waits for a message of type t.
func (w *ProtoWorker) Expect(t string, within time.Duration) Msg {
	w.t.Helper()
	deadline := time.After(within)
	for {
		select {
		case m := <-w.Inbox:
			if m.T == t {
				return m
			}
		case <-deadline:
			w.t.Fatalf("no %s message within %v", t, within)
			return Msg{}
		}
	}
}

// ExpectJob waits for a job and decodes it.
func (w *ProtoWorker) ExpectJob(within time.Duration) Job {
	w.t.Helper()
	m := w.Expect("job", within)
	var j Job
	if err := json.Unmarshal(m.P, &j); err != nil {
		w.t.Fatalf("job payload: %v", err)
	}
	return j
}

// Job is the part of a job payload tests look at.
type Job struct {
	JobID        string         `json:"job_id"`
	Type         string         `json:"type"`
	AppID        string         `json:"app_id"`
	DeploymentID string         `json:"deployment_id"`
	Deploy       map[string]any `json:"deploy"`
}

func (j Job) String() string {
	return fmt.Sprintf("%s %s app=%s dep=%s", j.JobID, j.Type, j.AppID, j.DeploymentID)
}
