// Package devmode is `wisehosting dev`: the whole platform in one process
// for one machine. It runs the control plane and a worker agent that
// connects to it like any remote worker would — registration over HTTP,
// then the signed WebSocket on loopback — so nothing here is a shortcut
// that production does not take.
//
// On first start it creates the instance owner (credentials printed once,
// or taken from WH_OWNER_EMAIL / WH_OWNER_PASSWORD) and a worker named
// "local" whose key it keeps in <data-dir>/worker/api-key. Later starts
// reuse both; apps left running by the previous run are re-attached by the
// agent.
package devmode

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/wisehosting/wisehosting/internal/auth"
	"github.com/wisehosting/wisehosting/internal/config"
	"github.com/wisehosting/wisehosting/internal/server"
	"github.com/wisehosting/wisehosting/internal/store"
	"github.com/wisehosting/wisehosting/internal/worker"
)

// Options are what main passes in.
type Options struct {
	Version string
	Getenv  func(string) string
	Stdout  io.Writer // the banner: URLs and first-start credentials
	Logger  *slog.Logger
}

// Run parses args (the flags of `wisehosting serve`) and runs the platform
// until ctx ends. The worker agent stops first (apps keep running), then
// the control plane.
func Run(ctx context.Context, args []string, o Options) error {
	cfg, err := config.Load("wisehosting dev", args, o.Getenv)
	if err != nil {
		return err
	}
	log := o.Logger
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("dev: listen %s: %w", cfg.Listen, err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	if cfg.PublicURL == "http://"+cfg.Listen { // the default: name the port really bound
		cfg.PublicURL = fmt.Sprintf("http://%s", net.JoinHostPort(displayHost(addr.IP), fmt.Sprint(addr.Port)))
	}
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		_ = ln.Close()
		return err
	}
	serveCtx, stopServe := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServe()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx, ln) }()

	// The agent talks to the listener's IP literal: plain HTTP is allowed
	// only to loopback or private IPs.
	loopback := addr.IP
	if loopback.IsUnspecified() {
		loopback = net.IPv4(127, 0, 0, 1)
	}
	cpURL := "http://" + net.JoinHostPort(loopback.String(), fmt.Sprint(addr.Port))

	owner, err := ensureOwner(ctx, srv.Store, cpURL, o)
	if err != nil {
		stopServe()
		<-served
		return err
	}
	key, err := ensureWorker(ctx, srv.Store, owner, filepath.Join(cfg.DataDir, "worker"))
	if err != nil {
		stopServe()
		<-served
		return err
	}
	internal := ""
	if srv.Admin != nil {
		internal = srv.Admin.Addr()
	}
	printBanner(o.Stdout, cfg, addr.Port, internal)

	var agent *worker.Agent
	agentDone := make(chan error, 1)
	if missing := missingTools(); len(missing) > 0 {
		log.Warn("no local worker: apps cannot be built or run here until these are installed (make run installs them)",
			"missing", strings.Join(missing, ", "))
		agentDone <- nil
	} else {
		agent, err = worker.NewAgent(worker.Config{ControlPlane: cpURL, APIKey: key, Name: "local",
			DataDir: filepath.Join(cfg.DataDir, "worker"), Address: loopback.String(), Version: o.Version,
			Logger: log}) // the agent names its component itself
		if err != nil {
			stopServe()
			<-served
			return err
		}
		go func() { agentDone <- agent.Start() }()
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-served:
		served <- runErr // for the wait below
	case err := <-agentDone:
		if err != nil {
			runErr = fmt.Errorf("dev: worker agent: %w", err)
		}
		agentDone <- nil
	}
	log.Info("stopping; apps keep running and are re-attached at the next start")
	if agent != nil {
		agent.Stop()
	}
	<-agentDone
	stopServe()
	if err := <-served; err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

func displayHost(ip net.IP) string {
	if ip.IsUnspecified() || ip.IsLoopback() {
		return "localhost"
	}
	return ip.String()
}

// missingTools lists the programs the worker needs that are not installed.
func missingTools() []string {
	var missing []string
	for _, tool := range []string{"podman", "git", "ss", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	return missing
}

// ensureOwner signs the owner up through the API on first start (the first
// account owns the instance) and returns the owner's user id.
func ensureOwner(ctx context.Context, st *store.Store, cpURL string, o Options) (string, error) {
	users, err := st.ListUsers(ctx, 1, 0)
	if err != nil {
		return "", err
	}
	if len(users) > 0 {
		return users[0].ID, nil
	}
	email := strings.TrimSpace(o.Getenv("WH_OWNER_EMAIL"))
	if email == "" {
		email = "admin@localhost"
	}
	password := o.Getenv("WH_OWNER_PASSWORD")
	generated := password == ""
	if generated {
		b := make([]byte, 15)
		_, _ = rand.Read(b)
		password = strings.ToLower(base32.StdEncoding.EncodeToString(b))
	}
	body, _ := json.Marshal(map[string]string{"email": email, "password": password, "name": "Owner"})
	req, err := http.NewRequestWithContext(ctx, "POST", cpURL+"/v1/auth/signup", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return "", fmt.Errorf("dev: create the owner account: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		Error string `json:"error"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out)
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("dev: create the owner account %s: %s (%s)", email, out.Error, resp.Status)
	}
	fmt.Fprintf(o.Stdout, "\n  Owner account created. Sign in with:\n    email:    %s\n", email)
	if generated {
		fmt.Fprintf(o.Stdout, "    password: %s\n  (shown once: keep it somewhere safe)\n", password)
	} else {
		fmt.Fprintf(o.Stdout, "    password: (from WH_OWNER_PASSWORD)\n")
	}
	return out.User.ID, nil
}

// ensureWorker returns the local worker's raw API key, creating the worker
// and its key file on first start (or when the key file was removed).
func ensureWorker(ctx context.Context, st *store.Store, ownerID, dir string) (string, error) {
	keyFile := filepath.Join(dir, "api-key")
	if b, err := os.ReadFile(keyFile); err == nil {
		key := strings.TrimSpace(string(b))
		if w, err := st.GetWorkerByKeyHash(ctx, auth.HashToken(key)); err == nil && w.RevokedAt.IsZero() {
			return key, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("dev: worker key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("dev: worker dir: %w", err)
	}
	raw, hash := auth.NewToken(auth.PrefixWorker)
	name := "local"
	for i := 2; ; i++ {
		err := st.CreateWorker(ctx, &store.Worker{Name: name, APIKeyHash: hash, CreatedBy: ownerID})
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrConflict) || i > 100 {
			return "", fmt.Errorf("dev: create the local worker: %w", err)
		}
		name = fmt.Sprintf("local-%d", i)
	}
	if err := os.WriteFile(keyFile, []byte(raw+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("dev: save the worker key: %w", err)
	}
	return raw, nil
}

func printBanner(w io.Writer, cfg config.Server, port int, internal string) {
	admin := ""
	if internal != "" {
		admin = fmt.Sprintf("    Operators (wisehosting-admin --addr %s; accounts: wisehosting admin create-account)\n", internal)
	}
	fmt.Fprintf(w, `
  WiseHosting is running.
    Dashboard and API:  %s
    Apps answer at:     http://<app>.%s:%d
    Data folder:        %s
%s  Press Ctrl-C to stop (apps keep running).

`, cfg.PublicURL, cfg.BaseDomain, port, cfg.DataDir, admin)
}
