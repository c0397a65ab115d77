package servertest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Scenario is one API call and what its answer must be, in the style of
// PocketBase's ApiScenario. Path, Body, Header values and the Want strings
// may hold {{name}} placeholders, filled from Scenarios.Vars when the case
// runs, so a Setup hook can create a resource and publish its id.
type Scenario struct {
	Name   string
	Method string
	Path   string
	Actor  string            // key of Scenarios.Actors (a bearer token); "" sends no credentials
	Body   any               // nil: no body; string or []byte: sent as is; anything else: JSON
	Header map[string]string // extra request headers (Cookie, X-CSRF-Token, a raw Authorization)

	WantStatus      int
	WantContains    []string
	WantNotContains []string
	// WantHeader: response headers that must be present, and equal the
	// value when it is not "".
	WantHeader map[string]string

	Setup func(t *testing.T)             // runs before the call
	After func(t *testing.T, r Response) // runs after the checks passed
}

// Scenarios runs tables of Scenario against one server.
type Scenarios struct {
	S      *Server
	Actors map[string]string // actor name → bearer token
	Vars   map[string]string // placeholder name → value
	// NeverContains is checked against every answer: internal error text,
	// secrets that must never leave the server.
	NeverContains []string
	// Calls records every request made, for route-coverage checks.
	Calls []Call
}

// Call is one request a scenario made and the status it got.
type Call struct {
	Method, Path string
	Status       int
}

// NewScenarios returns a runner with empty actor and variable maps.
func NewScenarios(s *Server) *Scenarios {
	return &Scenarios{S: s, Actors: map[string]string{}, Vars: map[string]string{}}
}

// Expand fills {{name}} placeholders from Vars.
func (sc *Scenarios) Expand(s string) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	for k, v := range sc.Vars {
		s = strings.ReplaceAll(s, "{{"+k+"}}", v)
	}
	return s
}

// Run runs each case as a subtest, in order.
func (sc *Scenarios) Run(t *testing.T, cases []Scenario) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) { sc.run(t, c) })
	}
}

func (sc *Scenarios) run(t *testing.T, c Scenario) {
	if c.Setup != nil {
		c.Setup(t)
		if t.Failed() {
			t.FailNow()
		}
	}
	path := sc.Expand(c.Path)
	hdr := http.Header{}
	if c.Actor != "" {
		tok, ok := sc.Actors[c.Actor]
		if !ok {
			t.Fatalf("no actor %q", c.Actor)
		}
		hdr.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range c.Header {
		hdr.Set(k, sc.Expand(v))
	}
	var body any = c.Body
	switch b := c.Body.(type) {
	case nil:
	case string:
		body = sc.Expand(b)
	case []byte:
		body = []byte(sc.Expand(string(b)))
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = []byte(sc.Expand(string(data)))
	}
	r := sc.S.Request(t, c.Method, path, hdr, body)
	sc.Calls = append(sc.Calls, Call{Method: c.Method, Path: path, Status: r.Status})

	text := string(r.Body)
	ok := true
	if r.Status != c.WantStatus {
		t.Errorf("%s %s: status %d, want %d; body: %s", c.Method, path, r.Status, c.WantStatus, text)
		ok = false
	}
	for _, w := range c.WantContains {
		if w = sc.Expand(w); !strings.Contains(text, w) {
			t.Errorf("%s %s: body does not contain %q: %s", c.Method, path, w, text)
			ok = false
		}
	}
	for _, w := range append(append([]string{}, c.WantNotContains...), sc.NeverContains...) {
		if w = sc.Expand(w); w != "" && strings.Contains(text, w) {
			t.Errorf("%s %s: body contains %q: %s", c.Method, path, w, text)
			ok = false
		}
	}
	for h, v := range c.WantHeader {
		if got := r.Header.Get(h); got == "" || v != "" && got != v {
			t.Errorf("%s %s: header %s is %q, want %q", c.Method, path, h, got, v)
			ok = false
		}
	}
	if r.Status >= 400 && !IsErrorJSON(r) {
		t.Errorf("%s %s: error answer is not JSON {\"error\",\"code\"}: %s %q", c.Method, path, r.Header.Get("Content-Type"), text)
		ok = false
	}
	if ok && c.After != nil {
		c.After(t, r)
	}
}

// IsErrorJSON reports whether r is an API error: a JSON object with
// non-empty "error" and "code" strings.
func IsErrorJSON(r Response) bool {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		return false
	}
	var e struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	return json.Unmarshal(r.Body, &e) == nil && e.Error != "" && e.Code != ""
}

// Request calls the API with explicit headers and reports failures on t
// (Do reports on the test that made the Client, which a subtest must not
// stop). body is sent as Do sends it.
func (s *Client) Request(t testing.TB, method, path string, hdr http.Header, body any) Response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return Response{Status: resp.StatusCode, Body: data, Header: resp.Header}
}

// Call makes one request as a bearer token ("" for none) and fails t unless
// the status is want; it returns the answer.
func (s *Client) Call(t testing.TB, want int, method, path, token string, body any) Response {
	t.Helper()
	hdr := http.Header{}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	r := s.Request(t, method, path, hdr, body)
	if r.Status != want {
		t.Fatalf("%s %s: status %d, want %d; body: %s", method, path, r.Status, want, r.Body)
	}
	return r
}
