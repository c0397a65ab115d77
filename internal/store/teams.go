package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Team owns apps and webhooks. Every user has one personal team.
type Team struct {
	ID        string
	Name      string
	Slug      string
	Personal  bool
	CreatedAt time.Time
}

// TeamWithRole is a team as seen by one member.
type TeamWithRole struct {
	Team
	Role string
}

// Member is a team membership with the user's display fields.
type Member struct {
	TeamID    string
	UserID    string
	Role      string
	CreatedAt time.Time
	Email     string
	Name      string
}

const teamCols = `id, name, slug, personal, created_at`

func scanTeam(sc scanner) (*Team, error) {
	var t Team
	if err := sc.Scan(&t.ID, &t.Name, &t.Slug, &t.Personal, msTime{&t.CreatedAt}); err != nil {
		return nil, err
	}
	return &t, nil
}

func validTeamRole(r string) bool {
	switch r {
	case RoleOwner, RoleAdmin, RoleMember, RoleViewer:
		return true
	}
	return false
}

func prepareTeam(t *Team, at time.Time) {
	if t.ID == "" {
		t.ID = newID(prefixTeam)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = at
	}
}

func insertTeam(ctx context.Context, s *Store, e execer, t *Team) error {
	_, err := e.ExecContext(ctx, s.q(`INSERT INTO teams (`+teamCols+`) VALUES (?, ?, ?, ?, ?)`),
		t.ID, t.Name, t.Slug, t.Personal, ms(t.CreatedAt))
	return err
}

func insertMember(ctx context.Context, s *Store, e execer, teamID, userID, role string, at time.Time) error {
	_, err := e.ExecContext(ctx, s.q(`INSERT INTO team_members (team_id, user_id, role, created_at) VALUES (?, ?, ?, ?)`),
		teamID, userID, role, ms(at))
	return err
}

// CreateTeam inserts t (filling ID and CreatedAt when empty) and makes
// ownerID its owner, in one transaction. ErrConflict if the slug is taken,
// ErrNotFound if the owner does not exist.
func (s *Store) CreateTeam(ctx context.Context, t *Team, ownerID string) error {
	nt := *t
	prepareTeam(&nt, now())
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := insertTeam(ctx, s, tx, &nt); err != nil {
			return err
		}
		return insertMember(ctx, s, tx, nt.ID, ownerID, RoleOwner, nt.CreatedAt)
	})
	if err != nil {
		return wrapErr(err, "create team %s", nt.Slug)
	}
	*t = nt
	return nil
}

// GetTeam returns the team or ErrNotFound.
func (s *Store) GetTeam(ctx context.Context, id string) (*Team, error) {
	t, err := scanTeam(s.queryRow(ctx, `SELECT `+teamCols+` FROM teams WHERE id = ?`, id))
	if err != nil {
		return nil, wrapErr(err, "get team %s", id)
	}
	return t, nil
}

// GetTeamBySlug returns the team or ErrNotFound.
func (s *Store) GetTeamBySlug(ctx context.Context, slug string) (*Team, error) {
	t, err := scanTeam(s.queryRow(ctx, `SELECT `+teamCols+` FROM teams WHERE slug = ?`, slug))
	if err != nil {
		return nil, wrapErr(err, "get team by slug %s", slug)
	}
	return t, nil
}

// ListTeamsForUser returns the user's teams with their role, the personal
// team first, then by name.
func (s *Store) ListTeamsForUser(ctx context.Context, userID string) ([]TeamWithRole, error) {
	rows, err := s.query(ctx, `SELECT t.id, t.name, t.slug, t.personal, t.created_at, m.role
		FROM team_members m JOIN teams t ON t.id = m.team_id
		WHERE m.user_id = ? ORDER BY t.personal DESC, t.name, t.id`, userID)
	ts, err := collect(rows, err, func(sc scanner) (TeamWithRole, error) {
		var t TeamWithRole
		err := sc.Scan(&t.ID, &t.Name, &t.Slug, &t.Personal, msTime{&t.CreatedAt}, &t.Role)
		return t, err
	})
	if err != nil {
		return nil, wrapErr(err, "list teams for user %s", userID)
	}
	return ts, nil
}

// GetMembership returns userID's role in teamID, or ErrNotFound if they are
// not a member.
func (s *Store) GetMembership(ctx context.Context, teamID, userID string) (string, error) {
	var role string
	err := s.queryRow(ctx, `SELECT role FROM team_members WHERE team_id = ? AND user_id = ?`, teamID, userID).Scan(&role)
	if err != nil {
		return "", wrapErr(err, "get membership %s in %s", userID, teamID)
	}
	return role, nil
}

// ListMembers returns a team's members, oldest membership first.
func (s *Store) ListMembers(ctx context.Context, teamID string) ([]Member, error) {
	rows, err := s.query(ctx, `SELECT m.team_id, m.user_id, m.role, m.created_at, u.email, u.name
		FROM team_members m JOIN users u ON u.id = m.user_id
		WHERE m.team_id = ? ORDER BY m.created_at, u.email`, teamID)
	members, err := collect(rows, err, func(sc scanner) (Member, error) {
		var m Member
		err := sc.Scan(&m.TeamID, &m.UserID, &m.Role, msTime{&m.CreatedAt}, &m.Email, &m.Name)
		return m, err
	})
	if err != nil {
		return nil, wrapErr(err, "list members of %s", teamID)
	}
	return members, nil
}

// AddMember adds userID to teamID with role. ErrConflict if already a
// member, ErrNotFound if the team or user does not exist.
func (s *Store) AddMember(ctx context.Context, teamID, userID, role string) error {
	if !validTeamRole(role) {
		return fmt.Errorf("store: add member %s to %s: invalid role %q", userID, teamID, role)
	}
	if err := insertMember(ctx, s, s.w, teamID, userID, role, now()); err != nil {
		return wrapErr(err, "add member %s to %s", userID, teamID)
	}
	return nil
}

// memberChange runs fn after locking the team and checking that removing
// userID's current role (when demoting or removing) keeps an owner.
func (s *Store) memberChange(ctx context.Context, teamID, userID, newRole string, fn func(tx *sql.Tx) error) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		// Serialise membership changes per team so two owners demoting
		// each other at once cannot both succeed.
		var id string
		if err := tx.QueryRowContext(ctx, s.q(`SELECT id FROM teams WHERE id = ?`+s.forUpdate()), teamID).Scan(&id); err != nil {
			return err
		}
		var cur string
		if err := tx.QueryRowContext(ctx, s.q(`SELECT role FROM team_members WHERE team_id = ? AND user_id = ?`), teamID, userID).Scan(&cur); err != nil {
			return err
		}
		if cur == RoleOwner && newRole != RoleOwner {
			var owners int
			if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM team_members WHERE team_id = ? AND role = ?`), teamID, RoleOwner).Scan(&owners); err != nil {
				return err
			}
			if owners <= 1 {
				return ErrLastOwner
			}
		}
		return fn(tx)
	})
}

// UpdateMemberRole changes a member's role. ErrNotFound if not a member,
// ErrLastOwner if it would demote the team's only owner.
func (s *Store) UpdateMemberRole(ctx context.Context, teamID, userID, role string) error {
	if !validTeamRole(role) {
		return fmt.Errorf("store: update member %s in %s: invalid role %q", userID, teamID, role)
	}
	err := s.memberChange(ctx, teamID, userID, role, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`UPDATE team_members SET role = ? WHERE team_id = ? AND user_id = ?`), role, teamID, userID)
		return err
	})
	if err != nil {
		return wrapErr(err, "update member %s in %s", userID, teamID)
	}
	return nil
}

// RemoveMember removes a member. ErrNotFound if not a member, ErrLastOwner
// if they are the team's only owner (delete the team instead).
func (s *Store) RemoveMember(ctx context.Context, teamID, userID string) error {
	err := s.memberChange(ctx, teamID, userID, "", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`DELETE FROM team_members WHERE team_id = ? AND user_id = ?`), teamID, userID)
		return err
	})
	if err != nil {
		return wrapErr(err, "remove member %s from %s", userID, teamID)
	}
	return nil
}

// CountOwners returns how many owners teamID has.
func (s *Store) CountOwners(ctx context.Context, teamID string) (int, error) {
	var n int
	err := s.queryRow(ctx, `SELECT COUNT(*) FROM team_members WHERE team_id = ? AND role = ?`, teamID, RoleOwner).Scan(&n)
	if err != nil {
		return 0, wrapErr(err, "count owners of %s", teamID)
	}
	return n, nil
}

// DeleteTeam deletes a team and, by cascade, its memberships, apps (with
// their env, domains, deployments, build logs and stats) and webhooks.
// Jobs are kept. The apps' runtime logs are files: the caller deletes them
// from the logstore (the server's janitor also removes the logs of apps
// the database no longer has). ErrNotFound if absent.
func (s *Store) DeleteTeam(ctx context.Context, id string) error {
	err := s.execOne(ctx, `DELETE FROM teams WHERE id = ?`, id)
	if err != nil {
		return wrapErr(err, "delete team %s", id)
	}
	s.routesChanged() // its apps went with it
	return nil
}
