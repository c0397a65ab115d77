package api

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wisehosting/wisehosting/internal/auth"
	"github.com/wisehosting/wisehosting/internal/models"
	"github.com/wisehosting/wisehosting/internal/store"
)

// Custom domains: besides <app>.<base domain>, an app answers at every
// domain added here once its DNS points at the platform (with automatic
// TLS on, the certificate is requested on the first HTTPS request).

type domainJSON struct {
	Domain    string    `json:"domain"`
	URL       string    `json:"url"`
	CreatedAt time.Time `json:"created_at"`
}

func (a *API) toDomainJSON(d store.Domain) domainJSON {
	scheme := "http://"
	if a.AppsTLS {
		scheme = "https://"
	}
	return domainJSON{Domain: d.Domain, URL: scheme + d.Domain, CreatedAt: d.CreatedAt}
}

func (a *API) listDomains(w http.ResponseWriter, r *http.Request, p *principal) error {
	app, _, err := a.appFromPath(r, p, auth.RoleViewer)
	if err != nil {
		return err
	}
	ds, err := a.Store.ListDomains(r.Context(), app.ID)
	if err != nil {
		return err
	}
	out := make([]domainJSON, 0, len(ds))
	for _, d := range ds {
		out = append(out, a.toDomainJSON(d))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) addDomain(w http.ResponseWriter, r *http.Request, p *principal) error {
	app, _, err := a.appFromPath(r, p, auth.RoleMember)
	if err != nil {
		return err
	}
	var in struct {
		Domain string `json:"domain"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	d, err := a.checkDomain(in.Domain)
	if err != nil {
		return err
	}
	if err := a.Store.AddDomain(r.Context(), app.ID, d); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return errConflict("this domain is already in use")
		}
		return err
	}
	a.Logger.Info("domain added", "app", app.Name, "domain", d, "user_id", p.User.ID)
	writeJSON(w, http.StatusCreated, a.toDomainJSON(store.Domain{Domain: d, AppID: app.ID, CreatedAt: a.Now()}))
	return nil
}

func (a *API) removeDomain(w http.ResponseWriter, r *http.Request, p *principal) error {
	app, _, err := a.appFromPath(r, p, auth.RoleMember)
	if err != nil {
		return err
	}
	d := strings.ToLower(r.PathValue("domain"))
	if err := a.Store.RemoveDomain(r.Context(), app.ID, d); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound("this app has no such domain")
		}
		return err
	}
	a.Logger.Info("domain removed", "app", app.Name, "domain", d, "user_id", p.User.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkDomain normalises and validates a custom domain. Names under the
// base domain are refused (they belong to apps by name), and so are the
// control plane's own host and IP literals.
func (a *API) checkDomain(raw string) (string, error) {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(raw)), ".")
	if err := models.ValidateDomain(d); err != nil {
		return "", errValidation("domain: %v", err)
	}
	if net.ParseIP(d) != nil || !strings.Contains(d, ".") {
		return "", errValidation("domain %q: use a fully qualified domain name such as www.example.com", d)
	}
	base := a.BaseDomain
	if base == "" {
		base = "localhost"
	}
	if d == base || strings.HasSuffix(d, "."+base) || d == "localhost" || strings.HasSuffix(d, ".localhost") {
		return "", errValidation("domain %q is under the platform's own domain %s: apps already answer there by name", d, base)
	}
	if u, err := url.Parse(a.PublicURL); err == nil && strings.EqualFold(u.Hostname(), d) {
		return "", errValidation("domain %q is the control plane's own address", d)
	}
	return d, nil
}
