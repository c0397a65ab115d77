package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wisehosting/wisehosting/internal/models"
)

type appJSON struct {
	ID                  string        `json:"id"`
	Name                string        `json:"name"`
	TeamID              string        `json:"team_id"`
	RepoURL             string        `json:"repo_url"`
	Branch              string        `json:"branch"`
	HasGitToken         bool          `json:"has_git_token"`
	DockerfilePath      string        `json:"dockerfile_path"`
	Port                int           `json:"port"`
	HealthCheckPath     string        `json:"health_check_path"`
	Limits              models.Limits `json:"limits"`
	Status              string        `json:"status"`
	StatusMessage       string        `json:"status_message"`
	URL                 string        `json:"url"`
	WorkerID            int64         `json:"worker_id"`
	WorkerAddress       string        `json:"worker_address"`
	HostPort            int           `json:"host_port"`
	CurrentDeploymentID string        `json:"current_deployment_id"`
	Suspended           bool          `json:"suspended"`
	CreatedAt           time.Time     `json:"created_at"`
	UpdatedAt           time.Time     `json:"updated_at"`
}

const appsUsage = `usage: wisehosting apps <command>

  list                      apps of your teams [--team SLUG]
  create NAME --repo URL    create an app (see 'apps create --help' for its flags)
  show NAME                 an app's settings and state
  delete NAME [--yes]       delete an app, its container and images
`

func (c *cli) apps(ctx context.Context, args []string) error {
	return c.subcommand(ctx, "apps", appsUsage, args, map[string]func(context.Context, []string) error{
		"list":   c.appsList,
		"ls":     c.appsList,
		"create": c.appsCreate,
		"show":   c.appsShow,
		"info":   c.appsShow,
		"delete": c.appsDelete,
		"rm":     c.appsDelete,
	})
}

// appArg checks an app name given on the command line.
func appArg(f *flags, name string) error {
	if err := models.ValidateAppName(name); err != nil {
		return &usageError{msg: err.Error(), usage: f.usage}
	}
	return nil
}

func (c *cli) appsList(ctx context.Context, args []string) error {
	f := c.newFlags("apps list [--team SLUG]")
	team := f.String("team", "", "only this team's apps (id or slug)")
	if _, err := f.parse(c, args, 0, 0, ""); err != nil {
		return err
	}
	cl, err := c.connect(f, true)
	if err != nil {
		return err
	}
	path := "/v1/apps"
	if *team != "" {
		path += "?team=" + queryEscape(*team)
	}
	var apps []appJSON
	raw, err := cl.call(ctx, "GET", path, nil, &apps)
	if err != nil {
		return err
	}
	if f.json {
		printJSON(c.stdout, raw)
		return nil
	}
	if len(apps) == 0 {
		fmt.Fprintln(c.stdout, "No apps yet: create one with `wisehosting apps create NAME --repo URL`.")
		return nil
	}
	t := newTable(c.stdout, "NAME", "STATUS", "URL", "REPO", "BRANCH", "UPDATED")
	now := time.Now()
	for _, a := range apps {
		t.row(a.Name, appStatus(a), a.URL, a.RepoURL, a.Branch, ago(a.UpdatedAt, now))
	}
	t.flush()
	return nil
}

func appStatus(a appJSON) string {
	if a.Suspended {
		return a.Status + " (suspended)"
	}
	return a.Status
}

// appsCreateFlags are the settings `apps create` takes.
type appsCreateFlags struct {
	repo, branch, dockerfile, health, team string
	memory, cpus, disk, bandwidth          string
	port                                   int
	tokenStdin                             bool
}

func (c *cli) appsCreate(ctx context.Context, args []string) error {
	f := c.newFlags("apps create NAME --repo URL [flags]")
	var in appsCreateFlags
	f.StringVar(&in.repo, "repo", "", "git repository, https:// (http:// only to a private address) `URL` (required)")
	f.StringVar(&in.branch, "branch", "", "branch to deploy (default main)")
	f.IntVar(&in.port, "port", 0, "port the app listens on in its container (default 8080)")
	f.BoolVar(&in.tokenStdin, "token-stdin", false, "read a git access token for a private repository from stdin")
	f.StringVar(&in.dockerfile, "dockerfile", "", "Dockerfile `PATH` in the repository (default: detected or generated)")
	f.StringVar(&in.health, "health", "", "health check `PATH`, e.g. /healthz")
	f.StringVar(&in.memory, "memory", "", "memory limit, e.g. 512M or 1G (default 512M)")
	f.StringVar(&in.cpus, "cpus", "", "CPU cores, e.g. 0.5 (default 1)")
	f.StringVar(&in.disk, "disk", "", "disk quota, e.g. 1G (default none)")
	f.StringVar(&in.bandwidth, "bandwidth", "", "egress limit in bits per second, e.g. 10M = 10 Mbit/s (default none)")
	f.StringVar(&in.team, "team", "", "team `SLUG` or id (default your personal team)")
	pos, err := f.parse(c, args, 1, 1, "NAME")
	if err != nil {
		return err
	}
	body, err := in.body(pos[0])
	if err != nil {
		return &usageError{msg: err.Error(), usage: f.usage}
	}
	cl, err := c.connect(f, true)
	if err != nil {
		return err
	}
	if in.tokenStdin {
		tok, err := c.readAll(ctx, "the git token", 4096)
		if err != nil {
			return err
		}
		if tok = strings.TrimSpace(tok); tok == "" {
			return errors.New("--token-stdin: stdin held no token")
		}
		body["git_token"] = tok
	}
	var app appJSON
	raw, err := cl.call(ctx, "POST", "/v1/apps", body, &app)
	if err != nil {
		return err
	}
	if f.json {
		printJSON(c.stdout, raw)
		return nil
	}
	fmt.Fprintf(c.stdout, "App %s created: %s\n", app.Name, app.URL)
	fmt.Fprintf(c.stdout, "Deploy it with `wisehosting deploy %s`.\n", app.Name)
	return nil
}

// body checks the flags locally (every problem at once) and builds the
// create body of docs/API.md.
func (in *appsCreateFlags) body(name string) (map[string]any, error) {
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	check(models.ValidateAppName(name))
	if in.repo == "" {
		errs = append(errs, errors.New("--repo is required"))
	} else {
		check(models.ValidateRepoURL(in.repo))
	}
	body := map[string]any{"name": name, "repo_url": in.repo}
	if in.branch != "" {
		check(models.ValidateBranch(in.branch))
		body["branch"] = in.branch
	}
	if in.port != 0 {
		if in.port < 1 || in.port > 65535 {
			errs = append(errs, fmt.Errorf("--port %d: must be between 1 and 65535", in.port))
		}
		body["port"] = in.port
	}
	if in.dockerfile != "" {
		check(models.ValidateDockerfilePath(in.dockerfile))
		body["dockerfile_path"] = in.dockerfile
	}
	if in.health != "" {
		check(models.ValidateHealthCheckPath(in.health))
		body["health_check_path"] = in.health
	}
	if in.team != "" {
		body["team"] = in.team
	}
	var l models.Limits
	var err error
	if in.memory != "" {
		l.MemoryBytes, err = parseMemory(in.memory)
		check(err)
	}
	if in.cpus != "" {
		l.CPUMillis, err = parseCPUs(in.cpus)
		check(err)
	}
	if in.disk != "" {
		l.DiskBytes, err = parseDisk(in.disk)
		check(err)
	}
	if in.bandwidth != "" {
		l.BandwidthBitsPerSec, err = parseBandwidth(in.bandwidth)
		check(err)
	}
	if l != (models.Limits{}) {
		body["limits"] = l
	}
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}
	return body, nil
}

func (c *cli) appsShow(ctx context.Context, args []string) error {
	f := c.newFlags("apps show NAME")
	pos, err := f.parse(c, args, 1, 1, "NAME")
	if err != nil {
		return err
	}
	if err := appArg(f, pos[0]); err != nil {
		return err
	}
	cl, err := c.connect(f, true)
	if err != nil {
		return err
	}
	var a appJSON
	raw, err := cl.call(ctx, "GET", "/v1/apps/"+pathEscape(pos[0]), nil, &a)
	if err != nil {
		return err
	}
	if f.json {
		printJSON(c.stdout, raw)
		return nil
	}
	status := appStatus(a)
	if a.StatusMessage != "" {
		status += ": " + a.StatusMessage
	}
	var where string
	if a.WorkerID != 0 {
		where = "worker " + strconv.FormatInt(a.WorkerID, 10)
		if a.WorkerAddress != "" && a.HostPort != 0 {
			where += fmt.Sprintf(" (%s:%d)", a.WorkerAddress, a.HostPort)
		}
	}
	gitToken := ""
	if a.HasGitToken {
		gitToken = "set"
	}
	now := time.Now()
	fields(c.stdout,
		"name", a.Name,
		"id", a.ID,
		"status", status,
		"url", a.URL,
		"repo", a.RepoURL,
		"branch", a.Branch,
		"git token", gitToken,
		"dockerfile", a.DockerfilePath,
		"port", strconv.Itoa(a.Port),
		"health check", a.HealthCheckPath,
		"memory", sizeOrNone(a.Limits.MemoryBytes),
		"cpus", cpus(a.Limits.CPUMillis),
		"disk", sizeOrNone(a.Limits.DiskBytes),
		"bandwidth", rateOrNone(a.Limits.BandwidthBitsPerSec),
		"running on", where,
		"deployment", a.CurrentDeploymentID,
		"team", a.TeamID,
		"created", ago(a.CreatedAt, now),
		"updated", ago(a.UpdatedAt, now),
	)
	return nil
}

// joinErrors reports every problem on one line.
func joinErrors(errs []error) error {
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}

func sizeOrNone(n int64) string {
	if n == 0 {
		return "no limit"
	}
	return bytesIEC(n)
}

func rateOrNone(n int64) string {
	if n == 0 {
		return "no limit"
	}
	return bitsPerSecond(n)
}

func (c *cli) appsDelete(ctx context.Context, args []string) error {
	f := c.newFlags("apps delete NAME [--yes]")
	yes := f.Bool("yes", false, "do not ask for confirmation")
	pos, err := f.parse(c, args, 1, 1, "NAME")
	if err != nil {
		return err
	}
	name := pos[0]
	if err := appArg(f, name); err != nil {
		return err
	}
	cl, err := c.connect(f, true)
	if err != nil {
		return err
	}
	if !*yes {
		if _, ok := c.terminal(); !ok {
			return fmt.Errorf("refusing to delete %s without --yes (stdin is not a terminal to confirm on)", name)
		}
		fmt.Fprintf(c.stderr, "This deletes app %s on %s, with its container, images, environment and logs.\n", name, cl.server)
		typed, err := c.ask(ctx, "Type the app's name to confirm: ", "the confirmation")
		if err != nil {
			return err
		}
		if strings.TrimSpace(typed) != name {
			return errors.New("not deleted: the name did not match")
		}
	}
	if _, err := cl.call(ctx, "DELETE", "/v1/apps/"+pathEscape(name), nil, nil); err != nil {
		return err
	}
	if !f.json {
		fmt.Fprintf(c.stdout, "App %s deleted.\n", name)
	}
	return nil
}

// restart and stop queue a job for the app's worker.
func (c *cli) restart(ctx context.Context, args []string) error {
	return c.appJob(ctx, args, "restart", "Restart")
}

func (c *cli) stop(ctx context.Context, args []string) error {
	return c.appJob(ctx, args, "stop", "Stop")
}

func (c *cli) appJob(ctx context.Context, args []string, verb, title string) error {
	f := c.newFlags(verb + " APP")
	pos, err := f.parse(c, args, 1, 1, "APP")
	if err != nil {
		return err
	}
	if err := appArg(f, pos[0]); err != nil {
		return err
	}
	cl, err := c.connect(f, true)
	if err != nil {
		return err
	}
	var job struct {
		JobID  string `json:"job_id"`
		Status string `json:"status"`
	}
	raw, err := cl.call(ctx, "POST", "/v1/apps/"+pathEscape(pos[0])+"/"+verb, nil, &job)
	if err != nil {
		return err
	}
	if f.json {
		printJSON(c.stdout, raw)
		return nil
	}
	fmt.Fprintf(c.stdout, "%s of %s queued: job %s (%s)\n", title, pos[0], job.JobID, job.Status)
	return nil
}
