package store

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"slices"
	"strings"
	"time"
)

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// WebhookAllEvents in Events subscribes to every event.
const WebhookAllEvents = "*"

// Webhook posts a team's events to URL, signed with a secret that the
// caller encrypts (SecretEnc).
type Webhook struct {
	ID        string
	TeamID    string
	URL       string
	SecretEnc []byte
	Events    []string // event names, or WebhookAllEvents
	Active    bool
	CreatedAt time.Time
}

// Subscribed reports whether the webhook wants event.
func (w *Webhook) Subscribed(event string) bool {
	return slices.Contains(w.Events, event) || slices.Contains(w.Events, WebhookAllEvents)
}

// Delivery is one attempt-tracked sending of an event to a webhook.
type Delivery struct {
	ID             string
	WebhookID      string
	Event          string
	Payload        string
	State          string
	Attempts       int
	NextAttemptAt  time.Time
	LastStatusCode int
	LastError      string
	CreatedAt      time.Time
	DeliveredAt    time.Time
}

const webhookCols = `id, team_id, url, secret_enc, events, active, created_at`

func scanWebhook(sc scanner) (*Webhook, error) {
	var w Webhook
	var events string
	if err := sc.Scan(&w.ID, &w.TeamID, &w.URL, &w.SecretEnc, &events, &w.Active, msTime{&w.CreatedAt}); err != nil {
		return nil, err
	}
	w.Events = splitEvents(events)
	return &w, nil
}

// splitEvents parses the comma-separated events column.
func splitEvents(s string) []string {
	out := []string{}
	for e := range strings.SplitSeq(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// CreateWebhook inserts w, filling ID and CreatedAt when empty. Event
// names must not contain commas. ErrNotFound if the team does not exist.
func (s *Store) CreateWebhook(ctx context.Context, w *Webhook) error {
	return s.CreateWebhookCapped(ctx, w, math.MaxInt)
}

// ErrWebhookCap: the team already has as many webhooks as the cap.
var ErrWebhookCap = errors.New("store: too many webhooks")

// CreateWebhookCapped is CreateWebhook refusing with ErrWebhookCap when
// the team already has max webhooks; count and insert are one transaction
// holding the team's row, so concurrent requests cannot pass the cap
// together.
func (s *Store) CreateWebhookCapped(ctx context.Context, w *Webhook, max int) error {
	if w.ID == "" {
		w.ID = newID(prefixWebhook)
	}
	if w.CreatedAt.IsZero() {
		w.CreatedAt = now()
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var one, n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM teams WHERE id = ?`+s.forUpdate()), w.TeamID).Scan(&one); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM webhooks WHERE team_id = ?`), w.TeamID).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return ErrWebhookCap
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO webhooks (`+webhookCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			w.ID, w.TeamID, w.URL, nullBytes(w.SecretEnc), strings.Join(w.Events, ","), w.Active, ms(w.CreatedAt))
		return err
	})
	if err != nil && !errors.Is(err, ErrWebhookCap) {
		return wrapErr(err, "create webhook for team %s", w.TeamID)
	}
	return err
}

// GetWebhook returns the webhook or ErrNotFound.
func (s *Store) GetWebhook(ctx context.Context, id string) (*Webhook, error) {
	w, err := scanWebhook(s.queryRow(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE id = ?`, id))
	if err != nil {
		return nil, wrapErr(err, "get webhook %s", id)
	}
	return w, nil
}

// ListWebhooks returns the team's webhooks, oldest first.
func (s *Store) ListWebhooks(ctx context.Context, teamID string) ([]Webhook, error) {
	rows, err := s.query(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE team_id = ? ORDER BY created_at, id`, teamID)
	ws, err := collect(rows, err, deref(scanWebhook))
	if err != nil {
		return nil, wrapErr(err, "list webhooks of team %s", teamID)
	}
	return ws, nil
}

// ListWebhooksForEvent returns the team's active webhooks subscribed to
// event (by name or through WebhookAllEvents).
func (s *Store) ListWebhooksForEvent(ctx context.Context, teamID, event string) ([]Webhook, error) {
	// Matching is done in Go: a team has few webhooks, and it avoids LIKE
	// patterns over the comma-separated column.
	rows, err := s.query(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE team_id = ? AND active = ? ORDER BY created_at, id`, teamID, true)
	ws, err := collect(rows, err, deref(scanWebhook))
	if err != nil {
		return nil, wrapErr(err, "list webhooks of team %s for %s", teamID, event)
	}
	return slices.DeleteFunc(ws, func(w Webhook) bool { return !w.Subscribed(event) }), nil
}

// DeleteWebhook deletes the webhook and its deliveries; ErrNotFound if
// absent.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	if err := s.execOne(ctx, `DELETE FROM webhooks WHERE id = ?`, id); err != nil {
		return wrapErr(err, "delete webhook %s", id)
	}
	return nil
}

const deliveryCols = `id, webhook_id, event, payload, state, attempts, next_attempt_at, last_status_code, last_error,
	created_at, delivered_at`

func scanDelivery(sc scanner) (*Delivery, error) {
	var d Delivery
	err := sc.Scan(&d.ID, &d.WebhookID, &d.Event, &d.Payload, &d.State, &d.Attempts, msTime{&d.NextAttemptAt},
		&d.LastStatusCode, &d.LastError, msTime{&d.CreatedAt}, msTime{&d.DeliveredAt})
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// CreateDelivery queues d, filling ID, CreatedAt, State (pending) and
// NextAttemptAt (= CreatedAt, i.e. due now) when empty. ErrNotFound if the
// webhook does not exist.
func (s *Store) CreateDelivery(ctx context.Context, d *Delivery) error {
	if d.ID == "" {
		d.ID = newID(prefixDelivery)
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = now()
	}
	if d.State == "" {
		d.State = DeliveryPending
	}
	if d.NextAttemptAt.IsZero() {
		d.NextAttemptAt = d.CreatedAt
	}
	_, err := s.exec(ctx, `INSERT INTO webhook_deliveries (`+deliveryCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.WebhookID, d.Event, d.Payload, d.State, d.Attempts, ms(d.NextAttemptAt), d.LastStatusCode,
		d.LastError, ms(d.CreatedAt), ms(d.DeliveredAt))
	if err != nil {
		return wrapErr(err, "create delivery for webhook %s", d.WebhookID)
	}
	return nil
}

// ListDueDeliveries returns up to limit pending deliveries whose
// NextAttemptAt is at or before now, for active webhooks only, most
// overdue first.
func (s *Store) ListDueDeliveries(ctx context.Context, now time.Time, limit int) ([]Delivery, error) {
	rows, err := s.query(ctx, `SELECT `+deliveryCols+` FROM webhook_deliveries
		WHERE state = ? AND next_attempt_at <= ?
		AND webhook_id IN (SELECT id FROM webhooks WHERE active = ?)
		ORDER BY next_attempt_at, id LIMIT ?`, DeliveryPending, ms(now), true, limitOr(limit))
	ds, err := collect(rows, err, deref(scanDelivery))
	if err != nil {
		return nil, wrapErr(err, "list due deliveries")
	}
	return ds, nil
}

// UpdateDelivery saves the attempt fields of d: State, Attempts,
// NextAttemptAt, LastStatusCode, LastError, DeliveredAt. ErrNotFound if
// absent.
func (s *Store) UpdateDelivery(ctx context.Context, d *Delivery) error {
	err := s.execOne(ctx, `UPDATE webhook_deliveries SET state = ?, attempts = ?, next_attempt_at = ?,
		last_status_code = ?, last_error = ?, delivered_at = ? WHERE id = ?`,
		d.State, d.Attempts, ms(d.NextAttemptAt), d.LastStatusCode, d.LastError, ms(d.DeliveredAt), d.ID)
	if err != nil {
		return wrapErr(err, "update delivery %s", d.ID)
	}
	return nil
}

// ListDeliveries returns the webhook's deliveries, newest first.
func (s *Store) ListDeliveries(ctx context.Context, webhookID string, limit int) ([]Delivery, error) {
	rows, err := s.query(ctx, `SELECT `+deliveryCols+` FROM webhook_deliveries WHERE webhook_id = ?
		ORDER BY created_at DESC, id DESC LIMIT ?`, webhookID, limitOr(limit))
	ds, err := collect(rows, err, deref(scanDelivery))
	if err != nil {
		return nil, wrapErr(err, "list deliveries of webhook %s", webhookID)
	}
	return ds, nil
}
