// Package webhook delivers a team's events to the URLs its admins
// registered (outbound webhooks).
//
// # Flow
//
// The dispatcher calls [Deliverer.Emit] when something happens to an app.
// Emit writes one row in webhook_deliveries per active webhook of the team
// subscribed to the event (state "pending", due now) and wakes the
// deliverer; it never touches the network. [Deliverer.Run] posts due
// deliveries, at most [Concurrency] at a time, each bounded by
// [RequestTimeout], through the SSRF-guarded client of internal/httpx (the
// client refuses private, loopback and reserved addresses, and the
// deliverer records that refusal with an opaque message that never names
// an IP address). Redirects are not followed: a 3xx answer is a failed
// attempt, so a signed body never reaches a host the user did not register.
//
// A 2xx answer marks the delivery "delivered". Anything else (another
// status, a timeout, a refused connection) is retried after
// [DefaultBackoff] (10 s, 30 s, 2 min, 10 min, 1 h, 6 h, then 6 h again);
// after [DefaultMaxAttempts] attempts the delivery is "failed". Each attempt
// records the attempt count, the last status code and a short error (at
// most ~200 bytes of the response body are ever kept). Delivery is at least
// once: a receiver may see the same delivery twice (after a crash between
// its answer and our bookkeeping) and should de-duplicate on the
// X-WiseHosting-Delivery header.
//
// # Request
//
//	POST <webhook URL>
//	Content-Type: application/json
//	User-Agent: WiseHosting-Webhook/1
//	X-WiseHosting-Event: deployment.succeeded
//	X-WiseHosting-Delivery: dlv_…
//	X-WiseHosting-Timestamp: 1767225600
//	X-WiseHosting-Signature: sha256=5d1c…
//
//	{"id":"dlv_…","event":"deployment.succeeded","created_at":"2026-01-01T00:00:00.123Z","data":{…}}
//
// id is the delivery id (the same in every retry of a delivery, and equal
// to X-WiseHosting-Delivery), event one of [Events], created_at when the
// event happened (RFC 3339, UTC), data the event's details.
//
// # Signature
//
// Like Stripe's scheme, the signature covers the timestamp and the exact
// bytes of the body, so that a captured request cannot be replayed later:
//
//	signed_payload = X-WiseHosting-Timestamp + "." + raw request body
//	X-WiseHosting-Signature = "sha256=" + lowercase_hex(HMAC-SHA256(key = webhook secret, signed_payload))
//
// The timestamp is the Unix time in seconds of the attempt (each retry is
// signed afresh, with a new timestamp). The key is the secret exactly as
// the API returned it when the webhook was created (its UTF-8 bytes; no
// decoding). To verify, a receiver:
//
//  1. reads the raw body before any JSON parsing (re-encoding changes bytes);
//  2. computes the HMAC above with its copy of the secret;
//  3. compares it with the header in constant time (hmac.Equal);
//  4. refuses a timestamp more than a few minutes from its own clock
//     (5 minutes is usual);
//  5. optionally remembers delivery ids it has processed.
//
// [Verify] does 2–4 in Go. In a shell, for a body in body.json:
//
//	printf '%s.%s' "$TS" "$(cat body.json)" | openssl dgst -sha256 -hmac "$SECRET"
//
// Secrets are kept encrypted in webhooks.secret_enc, sealed with the
// instance's secret box under the context [SecretContext](webhook id).
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Request headers of a delivery.
const (
	HeaderEvent     = "X-WiseHosting-Event"
	HeaderDelivery  = "X-WiseHosting-Delivery"
	HeaderTimestamp = "X-WiseHosting-Timestamp"
	HeaderSignature = "X-WiseHosting-Signature"
	UserAgent       = "WiseHosting-Webhook/1"
)

// signaturePrefix starts every X-WiseHosting-Signature value.
const signaturePrefix = "sha256="

// AllEvents, alone in a webhook's events, subscribes it to every event.
const AllEvents = "*"

// Events are the event names a webhook may subscribe to: the names the
// dispatcher emits (dispatch.Event*; a test keeps the two lists equal, and
// this package does not import dispatch, see docs/ARCHITECTURE.md).
var Events = []string{
	"deployment.succeeded",
	"deployment.failed",
	"app.crashed",
	"app.stopped",
	"violation",
}

// ValidEvent reports whether name is one of Events.
func ValidEvent(name string) bool { return slices.Contains(Events, name) }

// SecretContext is the secret box context a webhook's secret is sealed
// under.
func SecretContext(webhookID string) string { return "webhook:" + webhookID + ":secret" }

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewID returns a fresh webhook id in the store's format ("hook_" + 16
// random bytes in lowercase base32). The API needs the id before the row
// exists, because the secret is sealed under a context naming it.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "hook_" + strings.ToLower(idEncoding.EncodeToString(b[:]))
}

// Sign returns the X-WiseHosting-Signature value for body sent at
// timestamp (Unix seconds): "sha256=" + hex(HMAC-SHA256(secret,
// timestamp + "." + body)).
func Sign(secret []byte, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strconv.FormatInt(timestamp, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return signaturePrefix + hex.EncodeToString(m.Sum(nil))
}

// Errors returned by Verify.
var (
	ErrBadSignature = errors.New("webhook: signature does not match")
	ErrBadTimestamp = errors.New("webhook: timestamp missing, malformed or outside the tolerance")
)

// Verify is what a receiver does with a delivery: it checks the signature
// header against the raw body and the timestamp header, in constant time,
// and refuses a timestamp further than tolerance from now.
func Verify(secret, body []byte, timestampHeader, signatureHeader string, tolerance time.Duration, now time.Time) error {
	ts, err := strconv.ParseInt(timestampHeader, 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return ErrBadTimestamp
	}
	got, ok := strings.CutPrefix(signatureHeader, signaturePrefix)
	if !ok {
		return ErrBadSignature
	}
	gotMAC, err := hex.DecodeString(got)
	if err != nil {
		return ErrBadSignature
	}
	want, _ := hex.DecodeString(strings.TrimPrefix(Sign(secret, ts, body), signaturePrefix))
	if !hmac.Equal(gotMAC, want) {
		return ErrBadSignature
	}
	return nil
}
