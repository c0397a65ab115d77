package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestFirstUserOwnsInstance(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		first, team := newUser(t, s, "First@Example.com")
		if first.InstanceRole != InstanceOwner {
			t.Fatalf("first user role = %q, want owner", first.InstanceRole)
		}
		if first.Email != "first@example.com" || first.ID == "" || first.CreatedAt.IsZero() {
			t.Fatalf("first user not filled in: %+v", first)
		}
		if !team.Personal || team.ID == "" {
			t.Fatalf("personal team not filled in: %+v", team)
		}
		role, err := s.GetMembership(ctx, team.ID, first.ID)
		must(t, err)
		if role != RoleOwner {
			t.Fatalf("membership role = %q, want owner", role)
		}

		second, _ := newUser(t, s, "second@example.com")
		if second.InstanceRole != "" {
			t.Fatalf("second user role = %q, want none", second.InstanceRole)
		}
		got, err := s.GetUserByEmail(ctx, "SECOND@example.com")
		must(t, err)
		if got.ID != second.ID || got.InstanceRole != "" {
			t.Fatalf("GetUserByEmail = %+v", got)
		}

		// A taken email (any case) or slug is a conflict and leaves nothing
		// half-created.
		err = s.CreateUserWithTeam(ctx, &User{Email: "FIRST@example.com"}, &Team{Name: "x", Slug: "x"})
		wantErr(t, err, ErrConflict)
		err = s.CreateUserWithTeam(ctx, &User{Email: "third@example.com"}, &Team{Name: "x", Slug: team.Slug})
		wantErr(t, err, ErrConflict)
		_, err = s.GetUserByEmail(ctx, "third@example.com")
		wantErr(t, err, ErrNotFound)
		if _, err := s.GetTeamBySlug(ctx, "x"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("team of a failed sign-up exists: %v", err)
		}
		n, err := s.CountUsers(ctx)
		must(t, err)
		if n != 2 {
			t.Fatalf("CountUsers = %d, want 2", n)
		}
	})
}

// Simultaneous first sign-ups, through two stores (two processes) on one
// database, must produce exactly one owner.
func TestConcurrentFirstSignup(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		stores := []*Store{openTest(t, dsn), openTest(t, dsn)}
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				u := &User{Email: fmt.Sprintf("u%d@example.com", i)}
				errs <- stores[i%2].CreateUserWithTeam(ctx, u, &Team{Name: "t", Slug: fmt.Sprintf("t%d", i)})
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			must(t, err)
		}
		users, err := stores[0].ListUsers(ctx, 100, 0)
		must(t, err)
		owners := 0
		for _, u := range users {
			if u.InstanceRole == InstanceOwner {
				owners++
			}
		}
		if len(users) != n || owners != 1 {
			t.Fatalf("%d users, %d owners; want %d users, 1 owner", len(users), owners, n)
		}
	})
}

func TestUsers(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		_, err := s.GetUserByID(ctx, "usr_missing")
		wantErr(t, err, ErrNotFound)

		var ids []string
		for i := range 5 {
			u := &User{Email: fmt.Sprintf("u%d@example.com", i), CreatedAt: tnow().Add(time.Duration(i) * time.Second)}
			must(t, s.CreateUser(ctx, u))
			ids = append(ids, u.ID)
		}
		wantErr(t, s.CreateUser(ctx, &User{Email: "U0@EXAMPLE.COM"}), ErrConflict)
		if err := s.CreateUser(ctx, &User{Email: "bad@example.com", InstanceRole: "god"}); err == nil {
			t.Fatal("invalid instance role accepted")
		}

		page, err := s.ListUsers(ctx, 2, 1)
		must(t, err)
		if len(page) != 2 || page[0].ID != ids[1] || page[1].ID != ids[2] {
			t.Fatalf("ListUsers(2, 1) = %v", page)
		}
		all, err := s.ListUsers(ctx, 0, 0)
		must(t, err)
		if len(all) != 5 {
			t.Fatalf("ListUsers(0, 0) returned %d users", len(all))
		}

		at := tnow()
		must(t, s.TouchLogin(ctx, ids[0], at))
		must(t, s.SetUserSuspended(ctx, ids[0], true))
		must(t, s.SetInstanceRole(ctx, ids[0], InstanceAdmin))
		if err := s.SetInstanceRole(ctx, ids[0], "root"); err == nil {
			t.Fatal("invalid instance role accepted")
		}
		u, err := s.GetUserByID(ctx, ids[0])
		must(t, err)
		if !u.LastLoginAt.Equal(at) || !u.Suspended || u.InstanceRole != InstanceAdmin {
			t.Fatalf("user after updates = %+v", u)
		}
		wantErr(t, s.TouchLogin(ctx, "usr_missing", at), ErrNotFound)
		wantErr(t, s.SetUserSuspended(ctx, "usr_missing", true), ErrNotFound)
	})
}

func TestTeams(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		alice, alicePersonal := newUser(t, s, "alice@example.com")
		bob, _ := newUser(t, s, "bob@example.com")
		carol, _ := newUser(t, s, "carol@example.com")

		team := &Team{Name: "Acme", Slug: "acme"}
		must(t, s.CreateTeam(ctx, team, alice.ID))
		wantErr(t, s.CreateTeam(ctx, &Team{Name: "Acme 2", Slug: "acme"}, alice.ID), ErrConflict)
		wantErr(t, s.CreateTeam(ctx, &Team{Name: "Ghost", Slug: "ghost"}, "usr_missing"), ErrNotFound)
		if _, err := s.GetTeamBySlug(ctx, "ghost"); !errors.Is(err, ErrNotFound) {
			t.Fatal("team without owner was left behind")
		}
		got, err := s.GetTeam(ctx, team.ID)
		must(t, err)
		if got.Slug != "acme" || got.Personal {
			t.Fatalf("GetTeam = %+v", got)
		}

		must(t, s.AddMember(ctx, team.ID, bob.ID, RoleMember))
		wantErr(t, s.AddMember(ctx, team.ID, bob.ID, RoleAdmin), ErrConflict)
		wantErr(t, s.AddMember(ctx, team.ID, "usr_missing", RoleMember), ErrNotFound)
		if err := s.AddMember(ctx, team.ID, carol.ID, "boss"); err == nil {
			t.Fatal("invalid role accepted")
		}
		_, err = s.GetMembership(ctx, team.ID, carol.ID)
		wantErr(t, err, ErrNotFound)

		teams, err := s.ListTeamsForUser(ctx, alice.ID)
		must(t, err)
		if len(teams) != 2 || teams[0].ID != alicePersonal.ID || teams[1].ID != team.ID || teams[1].Role != RoleOwner {
			t.Fatalf("ListTeamsForUser = %+v", teams)
		}
		members, err := s.ListMembers(ctx, team.ID)
		must(t, err)
		if len(members) != 2 || members[0].UserID != alice.ID || members[1].Email != "bob@example.com" || members[1].Role != RoleMember {
			t.Fatalf("ListMembers = %+v", members)
		}

		// The only owner can be neither demoted nor removed.
		wantErr(t, s.UpdateMemberRole(ctx, team.ID, alice.ID, RoleAdmin), ErrLastOwner)
		wantErr(t, s.RemoveMember(ctx, team.ID, alice.ID), ErrConflict)
		must(t, s.UpdateMemberRole(ctx, team.ID, bob.ID, RoleOwner))
		n, err := s.CountOwners(ctx, team.ID)
		must(t, err)
		if n != 2 {
			t.Fatalf("CountOwners = %d, want 2", n)
		}
		must(t, s.UpdateMemberRole(ctx, team.ID, alice.ID, RoleViewer))
		role, err := s.GetMembership(ctx, team.ID, alice.ID)
		must(t, err)
		if role != RoleViewer {
			t.Fatalf("role = %q, want viewer", role)
		}
		must(t, s.RemoveMember(ctx, team.ID, alice.ID))
		wantErr(t, s.RemoveMember(ctx, team.ID, alice.ID), ErrNotFound)
		wantErr(t, s.UpdateMemberRole(ctx, team.ID, carol.ID, RoleAdmin), ErrNotFound)
		wantErr(t, s.UpdateMemberRole(ctx, "team_missing", carol.ID, RoleAdmin), ErrNotFound)

		// Deleting the team takes its apps and memberships with it.
		app := newApp(t, s, team.ID, "acme-web")
		must(t, s.DeleteTeam(ctx, team.ID))
		_, err = s.GetApp(ctx, app.ID)
		wantErr(t, err, ErrNotFound)
		_, err = s.GetMembership(ctx, team.ID, bob.ID)
		wantErr(t, err, ErrNotFound)
		wantErr(t, s.DeleteTeam(ctx, team.ID), ErrNotFound)
	})
}

func TestSessions(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		u, _ := newUser(t, s, "a@example.com")
		live := &Session{TokenHash: keyHash("live"), UserID: u.ID, CSRFToken: "csrf", ExpiresAt: tnow().Add(time.Hour), UserAgent: "ua", IP: "192.0.2.1"}
		old := &Session{TokenHash: keyHash("old"), UserID: u.ID, CSRFToken: "csrf2", ExpiresAt: tnow().Add(-time.Second)}
		must(t, s.CreateSession(ctx, live))
		must(t, s.CreateSession(ctx, old))
		wantErr(t, s.CreateSession(ctx, &Session{TokenHash: keyHash("x"), UserID: "usr_missing", ExpiresAt: tnow()}), ErrNotFound)

		got, err := s.GetSession(ctx, live.TokenHash, time.Time{})
		must(t, err)
		if got.UserID != u.ID || got.CSRFToken != "csrf" || got.UserAgent != "ua" || got.IP != "192.0.2.1" || !got.ExpiresAt.Equal(live.ExpiresAt) {
			t.Fatalf("GetSession = %+v", got)
		}
		_, err = s.GetSession(ctx, old.TokenHash, time.Time{})
		wantErr(t, err, ErrNotFound)                               // expired
		_, err = s.GetSession(ctx, live.TokenHash, live.ExpiresAt) // expires at that instant
		wantErr(t, err, ErrNotFound)
		_, err = s.GetSession(ctx, old.TokenHash, old.ExpiresAt.Add(-time.Millisecond))
		must(t, err)
		_, err = s.GetSession(ctx, keyHash("none"), time.Time{})
		wantErr(t, err, ErrNotFound)

		// Touching slides the expiry; the expired one can be revived the same way.
		seen, exp := tnow(), tnow().Add(2*time.Hour)
		must(t, s.TouchSession(ctx, live.TokenHash, seen, exp))
		must(t, s.TouchSession(ctx, live.TokenHash, seen.Add(time.Second), time.Time{}))
		got, err = s.GetSession(ctx, live.TokenHash, time.Time{})
		must(t, err)
		if !got.LastSeenAt.Equal(seen.Add(time.Second)) || !got.ExpiresAt.Equal(exp) {
			t.Fatalf("after touch: %+v", got)
		}
		wantErr(t, s.TouchSession(ctx, keyHash("none"), seen, exp), ErrNotFound)

		must(t, s.DeleteExpiredSessions(ctx, time.Now()))
		if n := countRows(t, s, "sessions", "user_id = ?", u.ID); n != 1 {
			t.Fatalf("%d sessions left after DeleteExpiredSessions, want 1", n)
		}
		must(t, s.DeleteSession(ctx, live.TokenHash))
		must(t, s.DeleteSession(ctx, live.TokenHash)) // idempotent
		_, err = s.GetSession(ctx, live.TokenHash, time.Time{})
		wantErr(t, err, ErrNotFound)

		for i := range 3 {
			must(t, s.CreateSession(ctx, &Session{TokenHash: keyHash(fmt.Sprint(i)), UserID: u.ID, ExpiresAt: tnow().Add(time.Hour)}))
		}
		must(t, s.DeleteUserSessions(ctx, u.ID))
		_, err = s.GetSession(ctx, keyHash("0"), time.Time{})
		wantErr(t, err, ErrNotFound)
	})
}

func TestAPITokens(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		alice, _ := newUser(t, s, "alice@example.com")
		bob, _ := newUser(t, s, "bob@example.com")

		tok := &APIToken{UserID: alice.ID, Name: "ci", TokenHash: keyHash("t1")}
		must(t, s.CreateAPIToken(ctx, tok))
		if tok.ID == "" || tok.ID[:4] != "tok_" {
			t.Fatalf("token id = %q", tok.ID)
		}
		wantErr(t, s.CreateAPIToken(ctx, &APIToken{UserID: bob.ID, TokenHash: keyHash("t1")}), ErrConflict)
		expired := &APIToken{UserID: alice.ID, Name: "old", TokenHash: keyHash("t2"), ExpiresAt: tnow().Add(-time.Minute)}
		must(t, s.CreateAPIToken(ctx, expired))
		future := &APIToken{UserID: alice.ID, Name: "later", TokenHash: keyHash("t3"), ExpiresAt: tnow().Add(time.Hour)}
		must(t, s.CreateAPIToken(ctx, future))

		got, err := s.GetAPITokenByHash(ctx, tok.TokenHash, time.Time{})
		must(t, err)
		if got.ID != tok.ID || !got.ExpiresAt.IsZero() || !got.RevokedAt.IsZero() {
			t.Fatalf("GetAPITokenByHash = %+v", got)
		}
		_, err = s.GetAPITokenByHash(ctx, expired.TokenHash, time.Time{})
		wantErr(t, err, ErrNotFound)
		_, err = s.GetAPITokenByHash(ctx, future.TokenHash, future.ExpiresAt.Add(time.Millisecond))
		wantErr(t, err, ErrNotFound)
		got, err = s.GetAPITokenByHash(ctx, future.TokenHash, time.Time{})
		must(t, err)
		if !got.ExpiresAt.Equal(future.ExpiresAt) {
			t.Fatalf("expires_at = %v, want %v", got.ExpiresAt, future.ExpiresAt)
		}

		at := tnow()
		must(t, s.TouchAPIToken(ctx, tok.ID, at))
		wantErr(t, s.RevokeAPIToken(ctx, bob.ID, tok.ID, time.Time{}), ErrNotFound) // not bob's
		must(t, s.RevokeAPIToken(ctx, alice.ID, tok.ID, time.Time{}))
		must(t, s.RevokeAPIToken(ctx, alice.ID, tok.ID, time.Time{}))
		_, err = s.GetAPITokenByHash(ctx, tok.TokenHash, time.Time{})
		wantErr(t, err, ErrNotFound)

		list, err := s.ListAPITokens(ctx, alice.ID)
		must(t, err)
		if len(list) != 3 {
			t.Fatalf("ListAPITokens = %d tokens, want 3", len(list))
		}
		for _, x := range list {
			if x.ID == tok.ID && (x.RevokedAt.IsZero() || !x.LastUsedAt.Equal(at)) {
				t.Fatalf("revoked token in list = %+v", x)
			}
		}
		none, err := s.ListAPITokens(ctx, bob.ID)
		must(t, err)
		if none == nil || len(none) != 0 {
			t.Fatalf("ListAPITokens(bob) = %#v, want empty", none)
		}
	})
}
