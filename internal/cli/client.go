package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// requestTimeout bounds one ordinary API call (streams have none).
const requestTimeout = 60 * time.Second

// maxResponse bounds an ordinary answer's body.
const maxResponse = 32 << 20

const userAgent = "wisehosting-cli/1"

// errNotLoggedIn is what a 401 (or a missing token) means to a user.
var errNotLoggedIn = errors.New("not logged in or token expired: run `wisehosting login`")

// apiError is an API answer with status >= 400: {"error","code"}.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Message }

// connError is a failure to reach the server at all.
type connError struct {
	server string
	err    error
}

func (e *connError) Error() string {
	if errors.Is(e.err, syscall.ECONNREFUSED) {
		return fmt.Sprintf("cannot reach the server at %s: connection refused (is it running? choose another with --server or WH_SERVER)", e.server)
	}
	if errors.Is(e.err, context.DeadlineExceeded) {
		return fmt.Sprintf("the server at %s did not answer in time", e.server)
	}
	var dnsErr *net.DNSError
	if errors.As(e.err, &dnsErr) {
		return fmt.Sprintf("cannot reach the server at %s: unknown host %s", e.server, dnsErr.Name)
	}
	return fmt.Sprintf("cannot reach the server at %s: %v", e.server, unwrapURLError(e.err))
}

func (e *connError) Unwrap() error { return e.err }

// unwrapURLError drops *url.Error's "Get "…": " prefix, which repeats the
// URL already in the message.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// client calls one control plane's API.
type client struct {
	server string
	token  string
	http   *http.Client
}

// connect resolves the target and returns a client for it; auth demands a
// token (every route but login needs one).
func (c *cli) connect(f *flags, auth bool) (*client, error) {
	t, err := c.resolve(f)
	if err != nil {
		return nil, err
	}
	if auth && t.token == "" {
		return nil, errNotLoggedIn
	}
	return &client{server: t.server, token: t.token, http: newHTTPClient()}, nil
}

// newHTTPClient returns the HTTP client for API calls. It has no overall
// timeout, which would cut streams; ordinary calls bound themselves.
func newHTTPClient() *http.Client {
	return &http.Client{Transport: http.DefaultTransport}
}

// newRequest builds a request to path (which starts with /v1/); body, when
// not nil, is sent as JSON.
func (cl *client) newRequest(ctx context.Context, method, path string, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, cl.server+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if cl.token != "" {
		req.Header.Set("Authorization", "Bearer "+cl.token)
	}
	return req, nil
}

// send makes the request and turns an error answer into an error; the
// caller closes the body of a successful answer.
func (cl *client) send(req *http.Request) (*http.Response, error) {
	resp, err := cl.http.Do(req)
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil && !errors.Is(ctxErr, context.DeadlineExceeded) {
			return nil, ctxErr
		}
		return nil, &connError{server: cl.server, err: err}
	}
	if resp.StatusCode < 400 {
		return resp, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return nil, cl.answerError(resp, data)
}

// answerError reads an error answer. A 401 to a request that carried a
// token means the token no longer works.
func (cl *client) answerError(resp *http.Response, data []byte) error {
	e := &apiError{Status: resp.StatusCode}
	var body struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	if json.Unmarshal(data, &body) == nil && body.Error != "" {
		e.Code, e.Message = body.Code, body.Error
	} else {
		e.Message = fmt.Sprintf("the server at %s answered %s", cl.server, resp.Status)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		if after := resp.Header.Get("Retry-After"); after != "" {
			e.Message += " (retry in " + after + " s)"
		}
	}
	if resp.StatusCode == http.StatusUnauthorized && cl.token != "" {
		return fmt.Errorf("%w (%s)", errNotLoggedIn, e.Message)
	}
	return e
}

// call makes an ordinary API call: body (if not nil) as JSON, the answer
// decoded into out (if not nil) and returned raw as well, for --json.
func (cl *client) call(ctx context.Context, method, path string, body, out any) ([]byte, error) {
	data, _, err := cl.callHeader(ctx, method, path, body, out)
	return data, err
}

// callHeader is call that also returns the answer's headers.
func (cl *client) callHeader(ctx context.Context, method, path string, body, out any) ([]byte, http.Header, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := cl.newRequest(ctx, method, path, body)
	if err != nil {
		return nil, nil, err
	}
	resp, err := cl.send(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, nil, &connError{server: cl.server, err: err}
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, nil, fmt.Errorf("%s %s: unexpected answer from %s: %w", method, path, cl.server, err)
		}
	}
	return data, resp.Header, nil
}

// stream opens a Server-Sent Events stream; lastEventID resumes it. The
// caller closes the answer's body (cancelling ctx does too).
func (cl *client) stream(ctx context.Context, path, lastEventID string) (*http.Response, error) {
	req, err := cl.newRequest(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := cl.send(req)
	if err != nil {
		return nil, err
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: the server at %s answered %q, not an event stream", path, cl.server, ct)
	}
	return resp, nil
}

// transient reports whether a failed call may work if tried again: the
// server was unreachable or answered with a gateway or overload error.
func transient(err error) bool {
	var ce *connError
	if errors.As(err, &ce) {
		return true
	}
	var ae *apiError
	if errors.As(err, &ae) {
		switch ae.Status {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
	}
	return false
}

// pathEscape escapes one path segment (an app name, an id).
func pathEscape(s string) string { return url.PathEscape(s) }

// queryEscape escapes one query value.
func queryEscape(s string) string { return url.QueryEscape(s) }
