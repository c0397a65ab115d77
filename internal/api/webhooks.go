package api

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wisehosting/wisehosting/internal/auth"
	"github.com/wisehosting/wisehosting/internal/store"
	"github.com/wisehosting/wisehosting/internal/webhook"
)

// Limits on outbound webhooks.
const (
	maxWebhookURL       = 2048
	maxWebhooksPerTeam  = 20
	minWebhookSecretLen = 16
	maxWebhookSecretLen = 256
	// webhookSecretPrefix marks secrets the API generates.
	webhookSecretPrefix = "whsec_"
)

type webhookJSON struct {
	ID     string   `json:"id"`
	TeamID string   `json:"team_id"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
	Active bool     `json:"active"`
	// Secret is only in the answer to the creation, never again.
	Secret    string    `json:"secret,omitzero"`
	CreatedAt time.Time `json:"created_at"`
}

func toWebhookJSON(h *store.Webhook) webhookJSON {
	return webhookJSON{ID: h.ID, TeamID: h.TeamID, URL: h.URL, Events: h.Events, Active: h.Active, CreatedAt: h.CreatedAt}
}

type deliveryJSON struct {
	ID            string    `json:"id"`
	WebhookID     string    `json:"webhook_id"`
	Event         string    `json:"event"`
	State         string    `json:"state"`
	Attempts      int       `json:"attempts"`
	StatusCode    int       `json:"status_code,omitzero"`
	Error         string    `json:"error,omitzero"`
	CreatedAt     time.Time `json:"created_at"`
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"` // pending only
	DeliveredAt   time.Time `json:"delivered_at,omitzero"`
}

func toDeliveryJSON(d *store.Delivery) deliveryJSON {
	out := deliveryJSON{ID: d.ID, WebhookID: d.WebhookID, Event: d.Event, State: d.State, Attempts: d.Attempts,
		StatusCode: d.LastStatusCode, Error: d.LastError, CreatedAt: d.CreatedAt, DeliveredAt: d.DeliveredAt}
	if d.State == store.DeliveryPending {
		out.NextAttemptAt = d.NextAttemptAt
	}
	return out
}

func (a *API) listWebhooks(w http.ResponseWriter, r *http.Request, p *principal) error {
	t, role, err := a.teamFromPath(r, p)
	if err != nil {
		return err
	}
	if err := need(role, auth.RoleMember); err != nil {
		return err
	}
	hooks, err := a.Store.ListWebhooks(r.Context(), t.ID)
	if err != nil {
		return err
	}
	out := make([]webhookJSON, 0, len(hooks))
	for i := range hooks {
		out = append(out, toWebhookJSON(&hooks[i]))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) createWebhook(w http.ResponseWriter, r *http.Request, p *principal) error {
	t, role, err := a.teamFromPath(r, p)
	if err != nil {
		return err
	}
	if err := need(role, auth.RoleAdmin); err != nil {
		return err
	}
	var in struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
		Secret *string  `json:"secret"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	u, err := validateWebhookURL(in.URL)
	if err != nil {
		return err
	}
	events, err := validateWebhookEvents(in.Events)
	if err != nil {
		return err
	}
	var secret string
	if in.Secret != nil {
		secret = *in.Secret
		if n := len(secret); n < minWebhookSecretLen || n > maxWebhookSecretLen || !utf8.ValidString(secret) ||
			strings.ContainsFunc(secret, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return errValidation("secret must be %d to %d bytes of printable text (or leave it out to have one generated)",
				minWebhookSecretLen, maxWebhookSecretLen)
		}
	} else {
		secret, _ = auth.NewToken(webhookSecretPrefix)
	}
	ctx := r.Context()
	h := &store.Webhook{ID: webhook.NewID(), TeamID: t.ID, URL: u, Events: events, Active: true}
	h.SecretEnc = a.Box.Seal([]byte(secret), webhook.SecretContext(h.ID))
	if err := a.Store.CreateWebhookCapped(ctx, h, maxWebhooksPerTeam); errors.Is(err, store.ErrWebhookCap) {
		return errConflict("a team may have at most " + strconv.Itoa(maxWebhooksPerTeam) + " webhooks; delete one first")
	} else if err != nil {
		return err
	}
	a.Logger.Info("webhook created", "webhook_id", h.ID, "team_id", t.ID, "user_id", p.User.ID, "events", strings.Join(events, ","))
	out := toWebhookJSON(h)
	out.Secret = secret
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// webhookFromPath loads {id} within the team; a webhook of another team is
// a 404, as if it did not exist.
func (a *API) webhookFromPath(r *http.Request, t *store.Team) (*store.Webhook, error) {
	h, err := a.Store.GetWebhook(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && h.TeamID != t.ID) {
		return nil, errNotFound("no such webhook")
	}
	return h, err
}

func (a *API) deleteWebhook(w http.ResponseWriter, r *http.Request, p *principal) error {
	t, role, err := a.teamFromPath(r, p)
	if err != nil {
		return err
	}
	if err := need(role, auth.RoleAdmin); err != nil {
		return err
	}
	h, err := a.webhookFromPath(r, t)
	if err != nil {
		return err
	}
	if err := a.Store.DeleteWebhook(r.Context(), h.ID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound("no such webhook")
		}
		return err
	}
	a.Logger.Info("webhook deleted", "webhook_id", h.ID, "team_id", t.ID, "user_id", p.User.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) listWebhookDeliveries(w http.ResponseWriter, r *http.Request, p *principal) error {
	t, role, err := a.teamFromPath(r, p)
	if err != nil {
		return err
	}
	if err := need(role, auth.RoleMember); err != nil {
		return err
	}
	h, err := a.webhookFromPath(r, t)
	if err != nil {
		return err
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	ds, err := a.Store.ListDeliveries(r.Context(), h.ID, limit)
	if err != nil {
		return err
	}
	out := make([]deliveryJSON, 0, len(ds))
	for i := range ds {
		out = append(out, toDeliveryJSON(&ds[i]))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// validateWebhookURL checks the form of a webhook URL only: http or https,
// a host, no credentials, no fragment, 2048 bytes at most. It resolves
// nothing: whether the host is private is decided at each delivery by the
// guarded client (a name's addresses can change after this check).
func validateWebhookURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errValidation("url is required")
	}
	if len(raw) > maxWebhookURL {
		return "", errValidation("url is too long (%d bytes at most)", maxWebhookURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", errValidation("url is not a valid URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", errValidation("url must start with http:// or https://")
	case u.Opaque != "" || u.Hostname() == "":
		return "", errValidation("url must name a host")
	case u.User != nil:
		return "", errValidation("url must not contain credentials; authenticate deliveries with the signature")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "", errValidation("url must not contain a fragment")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", errValidation("url has an invalid port")
		}
	}
	return u.String(), nil
}

// validateWebhookEvents checks a subscription: some of webhook.Events, or
// ["*"] alone. Duplicates are dropped; the order is kept.
func validateWebhookEvents(events []string) ([]string, error) {
	if len(events) == 0 {
		return nil, errValidation(`events is required: some of %s, or ["*"] for all`, strings.Join(webhook.Events, ", "))
	}
	out := make([]string, 0, len(events))
	for _, e := range events {
		if e == webhook.AllEvents {
			if len(events) != 1 {
				return nil, errValidation(`"*" subscribes to every event and must be alone`)
			}
			return []string{webhook.AllEvents}, nil
		}
		if !webhook.ValidEvent(e) {
			return nil, errValidation("unknown event %q: events are %s, or \"*\"", e, strings.Join(webhook.Events, ", "))
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out, nil
}
