package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/wisehosting/wisehosting/internal/auth"
	"github.com/wisehosting/wisehosting/internal/httpx"
	"github.com/wisehosting/wisehosting/internal/store"
)

// Delivery settings.
const (
	// Concurrency bounds the requests in flight.
	Concurrency = 4
	// RequestTimeout bounds one attempt, from dial to the end of the
	// answer's headers (and the few bytes of body we read).
	RequestTimeout = 10 * time.Second
	// DefaultMaxAttempts is how many attempts a delivery gets before it is
	// marked failed.
	DefaultMaxAttempts = 8
	// PollInterval is how often the loop looks for due deliveries without
	// being woken (retries scheduled by this process wake it on time).
	PollInterval = 5 * time.Second
	// maxErrorBody is how much of a non-2xx answer's body is kept in the
	// delivery's last error.
	maxErrorBody = 200
	// drainLimit is how much of an answer is read to reuse the connection.
	drainLimit = 64 << 10
	// emitTimeout bounds Emit's database writes.
	emitTimeout = 5 * time.Second
)

// DefaultBackoff is the wait after the 1st, 2nd, … failed attempt; the last
// value repeats.
var DefaultBackoff = []time.Duration{10 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute,
	time.Hour, 6 * time.Hour}

// Deliverer records events as deliveries (Emit) and sends them (Run). It
// implements dispatch.EventSink (the server hands it to the dispatcher
// with SetEvents). Its settings may be changed while it runs.
type Deliverer struct {
	store *store.Store
	box   *auth.SecretBox
	log   *slog.Logger
	kick  chan struct{}

	mu          sync.Mutex
	client      *http.Client
	now         func() time.Time
	backoff     []time.Duration
	maxAttempts int
	wake        time.Time         // earliest retry this process scheduled; zero = none
	inflight    map[string]bool   // delivery ids being sent
	epoch       uint64            // number of listings of due deliveries so far
	finished    map[string]uint64 // delivery id → epoch in which its attempt ended
}

// New returns a Deliverer that sends through httpx.NewWebhookClient.
func New(st *store.Store, box *auth.SecretBox, log *slog.Logger) *Deliverer {
	d := &Deliverer{store: st, box: box, log: log, kick: make(chan struct{}, 1), now: time.Now,
		backoff: DefaultBackoff, maxAttempts: DefaultMaxAttempts, inflight: map[string]bool{}, finished: map[string]uint64{}}
	d.SetHTTPClient(httpx.NewWebhookClient(RequestTimeout))
	return d
}

// SetHTTPClient replaces the client deliveries go through. Production code
// must keep the SSRF-guarded default; tests use a plain client to reach a
// receiver on loopback. Redirects are never followed, whatever c says.
func (d *Deliverer) SetHTTPClient(c *http.Client) {
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	d.mu.Lock()
	d.client = &cc
	d.mu.Unlock()
}

// SetRetryPolicy replaces the waits between attempts (the last one
// repeats) and the number of attempts before a delivery fails.
func (d *Deliverer) SetRetryPolicy(backoff []time.Duration, maxAttempts int) {
	if len(backoff) == 0 || maxAttempts < 1 {
		panic("webhook: SetRetryPolicy needs at least one wait and one attempt")
	}
	d.mu.Lock()
	d.backoff, d.maxAttempts = slices.Clone(backoff), maxAttempts
	d.mu.Unlock()
	d.Kick()
}

func (d *Deliverer) clock() time.Time {
	d.mu.Lock()
	now := d.now
	d.mu.Unlock()
	return now()
}

// Kick wakes the loop to look for due deliveries now.
func (d *Deliverer) Kick() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Emit records one pending delivery per active webhook of the team that
// subscribes to event, then wakes the loop. It writes to the database but
// never waits on the network; failures are logged (an event is not worth
// failing the caller for).
func (d *Deliverer) Emit(ctx context.Context, teamID, event string, data any) {
	// The event happened whatever becomes of the caller's context (a
	// worker connection closing mid-message must not lose it).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), emitTimeout)
	defer cancel()
	log := d.log.With("team_id", teamID, "event", event)
	hooks, err := d.store.ListWebhooksForEvent(ctx, teamID, event)
	if err != nil {
		log.Error("webhooks: list subscribers", "err", err)
		return
	}
	if len(hooks) == 0 {
		return
	}
	payload, err := json.Marshal(data, json.Deterministic(true))
	if err != nil {
		log.Error("webhooks: encode event data", "err", err)
		return
	}
	now := d.clock().UTC().Truncate(time.Millisecond)
	n := 0
	for _, h := range hooks {
		dl := &store.Delivery{WebhookID: h.ID, Event: event, Payload: string(payload), State: store.DeliveryPending,
			CreatedAt: now, NextAttemptAt: now}
		if err := d.store.CreateDelivery(ctx, dl); err != nil {
			if !errors.Is(err, store.ErrNotFound) { // deleted meanwhile: nothing to do
				log.Error("webhooks: queue delivery", "webhook_id", h.ID, "err", err)
			}
			continue
		}
		n++
	}
	if n > 0 {
		log.Debug("webhooks: event queued", "deliveries", n)
		d.Kick()
	}
}

// Run sends due deliveries until ctx is done, then waits for the requests
// in flight (they are cancelled with ctx and stay pending).
func (d *Deliverer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		d.startDue(ctx, &wg)
		timer.Reset(d.nextWait())
		select {
		case <-ctx.Done():
			return nil
		case <-d.kick:
		case <-timer.C:
		}
	}
}

// nextWait is how long the loop may sleep: until the earliest retry this
// process scheduled, PollInterval at most.
func (d *Deliverer) nextWait() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	wait := PollInterval
	if !d.wake.IsZero() {
		until := d.wake.Sub(d.now())
		if until <= 0 {
			d.wake = time.Time{} // due now: this listing covers it
			until = 0
		}
		wait = min(wait, until)
	}
	return wait
}

// startDue lists due deliveries and starts as many as there are free
// slots. A finished attempt wakes the loop, which lists again.
func (d *Deliverer) startDue(ctx context.Context, wg *sync.WaitGroup) {
	d.mu.Lock()
	free := Concurrency - len(d.inflight)
	d.epoch++
	epoch := d.epoch
	// Attempts that ended before this listing are reflected in it.
	for id, e := range d.finished {
		if e < epoch {
			delete(d.finished, id)
		}
	}
	now := d.now()
	d.mu.Unlock()
	if free <= 0 || ctx.Err() != nil {
		return
	}
	// In-flight deliveries are still pending (and due, most overdue first),
	// so ask for enough rows to see past them.
	due, err := d.store.ListDueDeliveries(ctx, now, 2*Concurrency)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("webhooks: list due deliveries", "err", err)
		}
		return
	}
	for i := range due {
		if free == 0 {
			return
		}
		dl := due[i]
		d.mu.Lock()
		// Skip what is being sent, and what was sent since the query
		// began (the row we read may predate that attempt's update).
		_, justDone := d.finished[dl.ID]
		busy := d.inflight[dl.ID] || justDone
		if !busy {
			d.inflight[dl.ID] = true
		}
		d.mu.Unlock()
		if busy {
			continue
		}
		free--
		wg.Add(1)
		go func() {
			defer wg.Done()
			recorded := d.attempt(ctx, &dl)
			d.mu.Lock()
			delete(d.inflight, dl.ID)
			d.finished[dl.ID] = d.epoch
			d.mu.Unlock()
			if recorded {
				d.Kick() // a slot is free
			}
		}()
	}
}

// attempt sends one delivery and records the outcome. It reports whether
// it recorded one (false when the webhook is gone, the database failed or
// we are shutting down: the delivery is left as it was).
func (d *Deliverer) attempt(ctx context.Context, dl *store.Delivery) bool {
	log := d.log.With("delivery_id", dl.ID, "webhook_id", dl.WebhookID, "event", dl.Event)
	hook, err := d.store.GetWebhook(ctx, dl.WebhookID)
	if errors.Is(err, store.ErrNotFound) {
		return false // deleted: its deliveries went with it
	}
	if err != nil {
		if ctx.Err() == nil {
			log.Error("webhooks: load webhook", "err", err)
		}
		return false
	}
	if !hook.Active {
		return false
	}
	d.mu.Lock()
	client, maxAttempts, backoff := d.client, d.maxAttempts, d.backoff
	d.mu.Unlock()

	secret, err := d.box.Open(hook.SecretEnc, SecretContext(hook.ID))
	if err != nil {
		log.Error("webhooks: cannot decrypt the webhook's secret", "err", err)
		dl.Attempts++
		return d.record(ctx, log, dl, 0, "the webhook's secret cannot be decrypted", true, backoff, maxAttempts)
	}
	body, err := Body(dl)
	if err != nil {
		log.Error("webhooks: build body", "err", err)
		dl.Attempts++
		return d.record(ctx, log, dl, 0, "the event could not be encoded", true, backoff, maxAttempts)
	}

	rctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, hook.URL, bytes.NewReader(body))
	if err != nil {
		dl.Attempts++
		return d.record(ctx, log, dl, 0, "invalid webhook URL", true, backoff, maxAttempts)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(HeaderEvent, dl.Event)
	req.Header.Set(HeaderDelivery, dl.ID)
	ts := d.clock().Unix()
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(secret, ts, body))

	resp, err := client.Do(req)
	if ctx.Err() != nil {
		if err == nil {
			resp.Body.Close()
		}
		return false // shutting down: stays pending, sent again after restart
	}
	dl.Attempts++
	if err != nil {
		return d.record(ctx, log, dl, 0, describeError(err), false, backoff, maxAttempts)
	}
	snippet := readSnippet(resp.Body)
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		dl.State, dl.LastStatusCode, dl.LastError = store.DeliveryDelivered, resp.StatusCode, ""
		dl.DeliveredAt = d.clock()
		if err := d.store.UpdateDelivery(ctx, dl); err != nil {
			log.Error("webhooks: record delivery", "err", err)
			return false
		}
		log.Info("webhook delivered", "attempts", dl.Attempts, "status", resp.StatusCode)
		return true
	}
	msg := fmt.Sprintf("HTTP %d", resp.StatusCode)
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		msg += " (redirects are not followed)"
	}
	if snippet != "" {
		msg += ": " + snippet
	}
	return d.record(ctx, log, dl, resp.StatusCode, msg, false, backoff, maxAttempts)
}

// record saves a failed attempt: pending with the next attempt after the
// backoff, or failed when attempts are spent (or permanent).
func (d *Deliverer) record(ctx context.Context, log *slog.Logger, dl *store.Delivery, status int, msg string, permanent bool,
	backoff []time.Duration, maxAttempts int) bool {
	dl.LastStatusCode, dl.LastError = status, msg
	now := d.clock()
	if permanent || dl.Attempts >= maxAttempts {
		dl.State = store.DeliveryFailed
		dl.NextAttemptAt = time.Time{}
	} else {
		dl.State = store.DeliveryPending
		dl.NextAttemptAt = now.Add(backoff[min(dl.Attempts, len(backoff))-1])
	}
	if err := d.store.UpdateDelivery(ctx, dl); err != nil {
		if ctx.Err() == nil {
			log.Error("webhooks: record attempt", "err", err)
		}
		return false
	}
	if dl.State == store.DeliveryFailed {
		log.Warn("webhook delivery failed; giving up", "attempts", dl.Attempts, "status", status, "error", msg)
		return true
	}
	log.Info("webhook attempt failed; will retry", "attempts", dl.Attempts, "status", status, "error", msg,
		"next_attempt_at", dl.NextAttemptAt)
	d.mu.Lock()
	if d.wake.IsZero() || dl.NextAttemptAt.Before(d.wake) {
		d.wake = dl.NextAttemptAt
	}
	d.mu.Unlock()
	return true
}

// envelope is the JSON body of a delivery.
type envelope struct {
	ID        string         `json:"id"`
	Event     string         `json:"event"`
	CreatedAt time.Time      `json:"created_at"`
	Data      jsontext.Value `json:"data"`
}

// Body returns the exact bytes posted for dl: {"id","event","created_at",
// "data"}. It is a pure function of the stored row, so every retry sends
// the same body.
func Body(dl *store.Delivery) ([]byte, error) {
	data := jsontext.Value(dl.Payload)
	if len(data) == 0 {
		data = jsontext.Value("null")
	}
	return json.Marshal(envelope{ID: dl.ID, Event: dl.Event, CreatedAt: dl.CreatedAt.UTC(), Data: data})
}

// readSnippet returns the start of a response body as one printable line
// of at most maxErrorBody bytes.
func readSnippet(r io.Reader) string {
	buf := make([]byte, maxErrorBody)
	n, _ := io.ReadFull(r, buf)
	s := strings.ToValidUTF8(string(buf[:n]), "") // also drops a rune cut at the end
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// describeError turns a client error into a short message for the
// delivery log. It never includes the error's own text, which may name a
// resolved IP address or internal resolver: only fixed phrases.
func describeError(err error) string {
	var (
		dnsErr  *net.DNSError
		netErr  net.Error
		certErr *tls.CertificateVerificationError
		hostErr x509.HostnameError
		authErr x509.UnknownAuthorityError
		invErr  x509.CertificateInvalidError
		recErr  tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, httpx.ErrPrivateAddress):
		return httpx.ErrPrivateAddress.Error()
	case errors.Is(err, httpx.ErrUnsupportedScheme):
		return httpx.ErrUnsupportedScheme.Error()
	case errors.Is(err, httpx.ErrTooManyRedirects):
		return httpx.ErrTooManyRedirects.Error()
	case errors.Is(err, httpx.ErrResponseTooLarge):
		return httpx.ErrResponseTooLarge.Error()
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "could not resolve the webhook host: no such host"
		}
		return "could not resolve the webhook host"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Sprintf("no answer within %v", RequestTimeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by the receiver"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "host unreachable"
	case errors.As(err, &certErr), errors.As(err, &hostErr), errors.As(err, &authErr), errors.As(err, &invErr):
		return "TLS certificate verification failed"
	case errors.As(err, &recErr):
		return "TLS handshake failed (is the URL's scheme right?)"
	}
	return "request failed"
}
