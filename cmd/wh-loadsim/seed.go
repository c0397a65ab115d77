package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver, for the bulk inserts

	"github.com/wisehosting/wisehosting/internal/auth"
	"github.com/wisehosting/wisehosting/internal/store"
)

// Files seed writes into --out, read back by the other commands.
const (
	fileWorkers    = "workers.tsv"     // worker_id \t raw_key \t app_id \t foreign_app_id
	fileOwnerToken = "owner.token"     // API token of the instance owner
	fileUserToken  = "user.token"      // API token of the measuring user
	fileUserApps   = "user-apps.txt"   // names of the measuring user's apps
	fileSeedInfo   = "seed-info.txt"   // what was seeded, for the report
	fileTokens     = "tokens.tsv"      // written by register: worker_id \t jwt
	seedEmailHost  = "bench.localhost" // user e-mails
)

type seedConfig struct {
	db, out       string
	workers, apps int
	teams         int
	history       bool
}

func seedCmd(ctx context.Context, args []string) error {
	var c seedConfig
	fs := flag.NewFlagSet("wh-loadsim seed", flag.ContinueOnError)
	fs.StringVar(&c.db, "db", "", "SQLite database file to create (the control plane's <data-dir>/wisehosting.db); must not exist")
	fs.StringVar(&c.out, "out", "", "directory for workers.tsv, the API tokens and user-apps.txt")
	fs.IntVar(&c.workers, "workers", 10000, "number of workers")
	fs.IntVar(&c.apps, "apps", 10000, "number of apps, spread evenly over the teams and round-robin over the workers")
	fs.IntVar(&c.teams, "teams", 1000, "number of users, each owning one team (the first one measures)")
	fs.BoolVar(&c.history, "history", false, "give every app one finished deployment and its done job")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.db == "" || c.out == "" {
		return errors.New("seed: --db and --out are required")
	}
	if c.workers < 1 || c.apps < 0 || c.teams < 1 {
		return errors.New("seed: --workers and --teams must be positive, --apps not negative")
	}
	if _, err := os.Stat(c.db); err == nil {
		return fmt.Errorf("seed: %s exists; seed only a fresh database", c.db)
	}
	if err := os.MkdirAll(c.out, 0o700); err != nil {
		return err
	}
	start := time.Now()
	if err := seed(ctx, c); err != nil {
		return err
	}
	fmt.Printf("seed: %d workers, %d apps, %d users/teams (+ the owner), history=%v in %.1fs → %s\n",
		c.workers, c.apps, c.teams, c.history, time.Since(start).Seconds(), c.db)
	return nil
}

func seed(ctx context.Context, c seedConfig) error {
	// The store creates the schema, and the owner goes through the same
	// path as a real first sign-up (CreateUserWithTeam makes them owner).
	st, err := store.Open(ctx, c.db, nil)
	if err != nil {
		return err
	}
	owner := &store.User{Email: "owner@" + seedEmailHost, Name: "owner"}
	ownerTeam := &store.Team{Name: "owner's team", Slug: "owner"}
	if err := st.CreateUserWithTeam(ctx, owner, ownerTeam); err != nil {
		st.Close()
		return err
	}
	if owner.InstanceRole != store.InstanceOwner {
		st.Close()
		return fmt.Errorf("seed: the database already had users; %s is not the owner", owner.Email)
	}
	ownerRaw, ownerHash := auth.NewToken(auth.PrefixAPIToken)
	if err := st.CreateAPIToken(ctx, &store.APIToken{UserID: owner.ID, Name: "loadsim", TokenHash: ownerHash}); err != nil {
		st.Close()
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}

	// Everything else in one transaction of plain SQL: ~100× faster than
	// one store call (and commit) per row.
	dsn := "file:" + c.db + "?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	now := time.Now().UnixMilli()
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var s *sql.Stmt
		s, err = tx.PrepareContext(ctx, q)
		return s
	}
	insUser := prep(`INSERT INTO users (id, email, name, password_hash, instance_role, suspended, created_at, last_login_at) VALUES (?, ?, ?, '', '', FALSE, ?, 0)`)
	insTeam := prep(`INSERT INTO teams (id, name, slug, personal, created_at) VALUES (?, ?, ?, TRUE, ?)`)
	insMember := prep(`INSERT INTO team_members (team_id, user_id, role, created_at) VALUES (?, ?, 'owner', ?)`)
	insWorker := prep(`INSERT INTO workers (id, name, api_key_hash, created_by, created_at, hostname, version, os, arch, cpus,
		memory_bytes, disk_bytes, port_lo, port_hi, address, registered_at, last_seen_at, resources_json, apps_json)
		VALUES (?, ?, ?, ?, ?, ?, 'bench', 'linux', 'amd64', 8, ?, ?, 20000, 20999, '127.0.0.1', ?, ?, ?, ?)`)
	insApp := prep(`INSERT INTO apps (id, team_id, name, repo_url, branch, port, memory_bytes, cpu_millis, worker_id, status,
		host_port, container_id, image_id, current_deployment_id, created_at, updated_at)
		VALUES (?, ?, ?, ?, 'main', 8080, ?, 1000, ?, 'running', ?, ?, ?, ?, ?, ?)`)
	insDep := prep(`INSERT INTO deployments (id, app_id, status, trigger, branch, commit_sha, image_id, worker_id, created_by,
		created_at, started_at, finished_at, log_len) VALUES (?, ?, 'running', 'api', 'main', ?, ?, ?, ?, ?, ?, ?, 0)`)
	insJob := prep(`INSERT INTO jobs (id, type, app_id, app_name, deployment_id, worker_id, state, attempts, created_at,
		updated_at, sent_at, acked_at, finished_at) VALUES (?, 'deploy', ?, ?, ?, ?, 'done', 1, ?, ?, ?, ?, ?)`)
	insToken := prep(`INSERT INTO api_tokens (id, user_id, name, token_hash, created_at, last_used_at) VALUES (?, ?, 'loadsim', ?, ?, 0)`)
	if err != nil {
		return err
	}
	exec := func(s *sql.Stmt, args ...any) {
		if err == nil {
			_, err = s.ExecContext(ctx, args...)
		}
	}

	userIDs := make([]string, c.teams)
	teamIDs := make([]string, c.teams)
	for i := range c.teams {
		userIDs[i], teamIDs[i] = newID("usr"), newID("team")
		name := fmt.Sprintf("user%04d", i)
		exec(insUser, userIDs[i], name+"@"+seedEmailHost, name, now)
		exec(insTeam, teamIDs[i], name+"'s team", fmt.Sprintf("%s-%04d", name, i), now)
		exec(insMember, teamIDs[i], userIDs[i], now)
	}
	userRaw, userHash := auth.NewToken(auth.PrefixAPIToken)
	exec(insToken, newID("tok"), userIDs[0], userHash, now)

	keys := make([]string, c.workers)
	for i := range c.workers {
		id := int64(i + 1)
		raw, hash := auth.NewToken(auth.PrefixWorker)
		keys[i] = raw
		res := fmt.Sprintf(`{"cpus":8,"cpu_percent":12.5,"memory_total_bytes":%d,"memory_used_bytes":%d,"disk_total_bytes":%d,"disk_used_bytes":%d,"containers":%d}`,
			int64(32)<<30, int64(8+i%16)<<30, int64(500)<<30, int64(100+i%200)<<30, max(1, c.apps/c.workers))
		exec(insWorker, id, fmt.Sprintf("bench-w%05d", i), hash, owner.ID, now, fmt.Sprintf("host-%05d", i),
			int64(32)<<30, int64(500)<<30, now, now, res, "[]")
	}

	// App i belongs to team i % teams and runs on worker i % workers + 1.
	appIDs := make([]string, c.apps)
	firstApp := make([]string, c.workers) // the first app of each worker
	var userApps []string
	for i := range c.apps {
		appIDs[i] = newID("app")
		name := fmt.Sprintf("bench-a%05d", i)
		team := i % c.teams
		wid := int64(i%c.workers + 1)
		if firstApp[wid-1] == "" {
			firstApp[wid-1] = appIDs[i]
		}
		if team == 0 {
			userApps = append(userApps, name)
		}
		container := randHex(32)
		image := "sha256:" + randHex(32)
		var depID any
		if c.history {
			depID = newID("dep")
		}
		exec(insApp, appIDs[i], teamIDs[team], name, fmt.Sprintf("https://git.example.com/t%04d/%s.git", team, name),
			int64(512)<<20, wid, 20000+i/c.workers, container, image, depID, now, now)
		if c.history {
			commit := randHex(20)
			exec(insDep, depID, appIDs[i], commit, image, wid, userIDs[team], now-60_000, now-59_000, now-50_000)
			exec(insJob, newID("job"), appIDs[i], name, depID, wid, now-60_000, now-50_000, now-59_500, now-59_400, now-50_000)
		}
	}
	if err != nil {
		return fmt.Errorf("seed: insert: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("seed: commit: %w", err)
	}
	if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		return err
	}

	// workers.tsv: each worker's first app, and a "foreign" app (placed on
	// the next worker) for runs that measure the not-yours path.
	var b strings.Builder
	for i := range c.workers {
		own, foreign := firstApp[i], firstApp[(i+1)%c.workers]
		if own == "" {
			own = "-"
		}
		if foreign == "" {
			foreign = "-"
		}
		fmt.Fprintf(&b, "%d\t%s\t%s\t%s\n", i+1, keys[i], own, foreign)
	}
	write := func(name, content string) {
		if err == nil {
			err = os.WriteFile(filepath.Join(c.out, name), []byte(content), 0o600)
		}
	}
	write(fileWorkers, b.String())
	write(fileOwnerToken, ownerRaw+"\n")
	write(fileUserToken, userRaw+"\n")
	write(fileUserApps, strings.Join(userApps, "\n")+"\n")
	write(fileSeedInfo, fmt.Sprintf("workers=%d apps=%d teams=%d apps_per_team=%.1f user_apps=%d history=%v\n",
		c.workers, c.apps, c.teams, float64(c.apps)/float64(c.teams), len(userApps), c.history))
	return err
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newID makes ids in the store's format: prefix_ + 26 lowercase base32.
func newID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + strings.ToLower(idEncoding.EncodeToString(b[:]))
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// readLines returns the non-empty lines of a file.
func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out, sc.Err()
}

func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	return strings.TrimSpace(string(b)), err
}
