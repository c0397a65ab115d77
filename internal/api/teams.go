package api

import (
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/wisehosting/wisehosting/internal/auth"
	"github.com/wisehosting/wisehosting/internal/store"
)

type teamJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Slug      string    `json:"slug"`
	Personal  bool      `json:"personal"`
	Role      string    `json:"role,omitzero"`
	CreatedAt time.Time `json:"created_at"`
}

func toTeamJSON(t store.TeamWithRole) teamJSON {
	return teamJSON{ID: t.ID, Name: t.Name, Slug: t.Slug, Personal: t.Personal, Role: t.Role, CreatedAt: t.CreatedAt}
}

var slugRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$`)

func (a *API) listTeams(w http.ResponseWriter, r *http.Request, p *principal) error {
	teams, err := a.Store.ListTeamsForUser(r.Context(), p.User.ID)
	if err != nil {
		return err
	}
	out := make([]teamJSON, 0, len(teams))
	for _, t := range teams {
		out = append(out, toTeamJSON(t))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) createTeam(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in struct {
		Name string `json:"name"`
		Slug string `json:"slug"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || len(in.Name) > 100 {
		return errValidation("name is required (100 characters at most)")
	}
	if !slugRE.MatchString(in.Slug) {
		return errValidation("slug must be 1–40 lowercase letters, digits or dashes, not starting or ending with a dash")
	}
	t := &store.Team{Name: in.Name, Slug: in.Slug}
	if err := a.Store.CreateTeam(r.Context(), t, p.User.ID); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return errConflict("a team with this slug already exists")
		}
		return err
	}
	writeJSON(w, http.StatusCreated, toTeamJSON(store.TeamWithRole{Team: *t, Role: auth.RoleOwner}))
	return nil
}

// teamFromPath resolves {team} (id or slug) and the caller's role in it.
func (a *API) teamFromPath(r *http.Request, p *principal) (*store.Team, string, error) {
	ref := r.PathValue("team")
	ctx := r.Context()
	t, err := a.Store.GetTeam(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		t, err = a.Store.GetTeamBySlug(ctx, ref)
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", errNotFound("not found") // the same answer as for a team one is not in
	}
	if err != nil {
		return nil, "", err
	}
	role, err := a.teamRole(ctx, p, t.ID)
	if err != nil {
		return nil, "", err
	}
	return t, role, nil
}

type memberJSON struct {
	UserID    string    `json:"user_id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"created_at"`
}

func (a *API) listMembers(w http.ResponseWriter, r *http.Request, p *principal) error {
	t, _, err := a.teamFromPath(r, p)
	if err != nil {
		return err
	}
	ms, err := a.Store.ListMembers(r.Context(), t.ID)
	if err != nil {
		return err
	}
	out := make([]memberJSON, 0, len(ms))
	for _, m := range ms {
		out = append(out, memberJSON{UserID: m.UserID, Email: m.Email, Name: m.Name, Role: m.Role, CreatedAt: m.CreatedAt})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) addMember(w http.ResponseWriter, r *http.Request, p *principal) error {
	t, role, err := a.teamFromPath(r, p)
	if err != nil {
		return err
	}
	if err := need(role, auth.RoleAdmin); err != nil {
		return err
	}
	var in struct {
		Email string `json:"email"`
		Role  string `json:"role"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if !auth.ValidRole(in.Role) {
		return errValidation("role must be owner, admin, member or viewer")
	}
	if in.Role == auth.RoleOwner && role != auth.RoleOwner {
		return errForbidden("only an owner may add another owner")
	}
	if t.Personal {
		return errValidation("a personal team has one member; create a team to work with others")
	}
	u, err := a.Store.GetUserByEmail(r.Context(), strings.ToLower(strings.TrimSpace(in.Email)))
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound("no user with this email; they must sign up first")
	}
	if err != nil {
		return err
	}
	if err := a.Store.AddMember(r.Context(), t.ID, u.ID, in.Role); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return errConflict("already a member")
		}
		return err
	}
	writeJSON(w, http.StatusCreated, memberJSON{UserID: u.ID, Email: u.Email, Name: u.Name, Role: in.Role, CreatedAt: a.Now()})
	return nil
}

func (a *API) updateMember(w http.ResponseWriter, r *http.Request, p *principal) error {
	t, role, err := a.teamFromPath(r, p)
	if err != nil {
		return err
	}
	if err := need(role, auth.RoleAdmin); err != nil {
		return err
	}
	var in struct {
		Role string `json:"role"`
	}
	if err := decode(r, &in); err != nil {
		return err
	}
	if !auth.ValidRole(in.Role) {
		return errValidation("role must be owner, admin, member or viewer")
	}
	target := r.PathValue("user")
	cur, err := a.Store.GetMembership(r.Context(), t.ID, target)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound("not a member of this team")
	}
	if err != nil {
		return err
	}
	if (cur == auth.RoleOwner || in.Role == auth.RoleOwner) && role != auth.RoleOwner {
		return errForbidden("only an owner may grant or take away ownership")
	}
	if cur == auth.RoleOwner && in.Role != auth.RoleOwner {
		if err := a.keepAnOwner(r, t.ID); err != nil {
			return err
		}
	}
	if err := a.Store.UpdateMemberRole(r.Context(), t.ID, target, in.Role); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) removeMember(w http.ResponseWriter, r *http.Request, p *principal) error {
	t, role, err := a.teamFromPath(r, p)
	if err != nil {
		return err
	}
	target := r.PathValue("user")
	if target != p.User.ID { // anyone may leave; removing others needs admin
		if err := need(role, auth.RoleAdmin); err != nil {
			return err
		}
	}
	cur, err := a.Store.GetMembership(r.Context(), t.ID, target)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound("not a member of this team")
	}
	if err != nil {
		return err
	}
	if cur == auth.RoleOwner {
		if target != p.User.ID && role != auth.RoleOwner {
			return errForbidden("only an owner may remove an owner")
		}
		if err := a.keepAnOwner(r, t.ID); err != nil {
			return err
		}
	}
	if err := a.Store.RemoveMember(r.Context(), t.ID, target); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// keepAnOwner refuses a change that would leave a team without an owner.
func (a *API) keepAnOwner(r *http.Request, teamID string) error {
	n, err := a.Store.CountOwners(r.Context(), teamID)
	if err != nil {
		return err
	}
	if n <= 1 {
		return errConflict("a team must keep at least one owner")
	}
	return nil
}
