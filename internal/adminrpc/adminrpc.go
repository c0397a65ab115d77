// Package adminrpc is the contract between the control plane's loopback
// internal API (internal/admin) and the operators' tool (wisehosting-admin):
// roles, the JSON views of /internal/v1, and the admin RPC that runs over a
// WebSocket at /internal/v1/rpc.
//
// The RPC carries the same signed envelopes as the worker protocol
// (internal/wsproto: sequence numbers, clock check, replay window), keyed
// with SessionKey(token): both ends derive it from the admin session token,
// and the key itself never crosses the wire. The client sends "call"
// envelopes; the server answers each with a "result" carrying the call's
// id, and sends "event" envelopes after events.subscribe and "log"
// envelopes for a followed app.logs call.
//
// The package imports only the standard library, the envelope format and
// the WebSocket library, so the admin tool stays a small client.
package adminrpc

import (
	"crypto/sha256"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// TokenPrefix starts every admin session token, so a user's token (whs_,
// whp_) is told apart at a glance and refused.
const TokenPrefix = "whadm_"

// Admin roles, weakest first. A viewer reads; an operator also acts
// (drain, suspend, resume, stop); a superadmin also revokes worker keys.
const (
	RoleViewer     = "viewer"
	RoleOperator   = "operator"
	RoleSuperadmin = "superadmin"
)

var roleRank = map[string]int{RoleViewer: 1, RoleOperator: 2, RoleSuperadmin: 3}

// ValidRole reports whether r is an admin role.
func ValidRole(r string) bool { return roleRank[r] > 0 }

// RoleAtLeast reports whether role grants at least min.
func RoleAtLeast(role, min string) bool { return roleRank[min] > 0 && roleRank[role] >= roleRank[min] }

// SessionKey is the HMAC key of the admin RPC: sha256 of a fixed label and
// the session token. It differs from the token's stored hash, so a copy of
// the database does not give the key.
func SessionKey(token string) []byte {
	sum := sha256.Sum256([]byte("wisehosting admin rpc v1\n" + token))
	return sum[:]
}

// Error is the body of every failed /internal/v1 request: {"error","code"}.
type Error struct {
	Message string `json:"error"`
	Code    string `json:"code"`
}

// LoginRequest is the body of POST /internal/v1/login.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	TOTP     string `json:"totp,omitzero"`
}

// Session is the answer to a login and to GET /internal/v1/me (without
// the token).
type Session struct {
	Token              string    `json:"token,omitzero"`
	Username           string    `json:"username"`
	Role               string    `json:"role"`
	ExpiresAt          time.Time `json:"expires_at"`
	IdleTimeoutSeconds int       `json:"idle_timeout_seconds"`
}

// Status is GET /internal/v1/status: the one-screen overview.
type Status struct {
	Version       string    `json:"version"`
	GoVersion     string    `json:"go_version"`
	Database      string    `json:"database"`
	SchemaVersion int64     `json:"schema_version"`
	StartedAt     time.Time `json:"started_at"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	Now           time.Time `json:"now"`
	Counts        Counts    `json:"counts"`
	Hub           Hub       `json:"hub"`
}

// Counts are the headline numbers of Status.
type Counts struct {
	Workers         int `json:"workers"`
	WorkersOnline   int `json:"workers_online"`
	WorkersDraining int `json:"workers_draining"`
	Apps            int `json:"apps"`
	AppsRunning     int `json:"apps_running"`
	AppsSuspended   int `json:"apps_suspended"`
	Users           int `json:"users"`
	UsersSuspended  int `json:"users_suspended"`
	Teams           int `json:"teams"`
	JobsPending     int `json:"jobs_pending"`
	JobsUnacked     int `json:"jobs_unacknowledged"`
	JobsRunning     int `json:"jobs_running"`
	JobsFailed      int `json:"jobs_failed"`
	Violations24h   int `json:"violations_24h"`
}

// Worker is one entry of GET /internal/v1/workers. Status is online,
// offline or revoked (as in /v1/workers); Draining is separate. Ages are
// seconds at the time of the answer; LastMessageAgeSeconds is -1 for a
// worker never heard from.
type Worker struct {
	ID                    int64            `json:"id"`
	Name                  string           `json:"name"`
	Status                string           `json:"status"`
	Online                bool             `json:"online"`
	Draining              bool             `json:"draining"`
	Hostname              string           `json:"hostname,omitzero"`
	Version               string           `json:"version,omitzero"`
	Address               string           `json:"address,omitzero"`
	ConnectedAt           time.Time        `json:"connected_at,omitzero"`
	ConnectionAgeSeconds  float64          `json:"connection_age_seconds"`
	LastMessageAt         time.Time        `json:"last_message_at,omitzero"`
	LastMessageAgeSeconds float64          `json:"last_message_age_seconds"`
	QueuedJobs            int              `json:"queued_jobs"`
	SendQueue             int              `json:"send_queue"`
	Apps                  int              `json:"apps"`
	Resources             *WorkerResources `json:"resources,omitzero"`
	RevokedAt             time.Time        `json:"revoked_at,omitzero"`
}

// WorkerResources is a worker's capacity and use from its last heartbeat.
type WorkerResources struct {
	CPUs             int     `json:"cpus"`
	CPUPercent       float64 `json:"cpu_percent"`
	MemoryTotalBytes int64   `json:"memory_total_bytes"`
	MemoryUsedBytes  int64   `json:"memory_used_bytes"`
	DiskTotalBytes   int64   `json:"disk_total_bytes"`
	DiskUsedBytes    int64   `json:"disk_used_bytes"`
	Containers       int     `json:"containers"`
}

// Hub is GET /internal/v1/hub: the worker hub's counters since start.
type Hub struct {
	Connections   int              `json:"connections"`
	Online        int              `json:"online"`
	EnvelopesIn   map[string]int64 `json:"envelopes_in"`
	EnvelopesOut  map[string]int64 `json:"envelopes_out"`
	Rejected      map[string]int64 `json:"rejected"`
	TotalIn       int64            `json:"total_in"`
	TotalOut      int64            `json:"total_out"`
	TotalRejected int64            `json:"total_rejected"`
}

// Jobs is GET /internal/v1/jobs. Unacknowledged jobs were sent and wait for
// the worker's ack; running ones were acknowledged; Failed holds the most
// recent failures.
type Jobs struct {
	Counts         map[string]int `json:"counts"`
	Pending        []Job          `json:"pending"`
	Unacknowledged []Job          `json:"unacknowledged"`
	Running        []Job          `json:"running"`
	Failed         []Job          `json:"failed"`
}

// Job is one job.
type Job struct {
	ID           string    `json:"id"`
	Type         string    `json:"type"`
	App          string    `json:"app"`
	AppID        string    `json:"app_id"`
	DeploymentID string    `json:"deployment_id,omitzero"`
	WorkerID     int64     `json:"worker_id,omitzero"`
	State        string    `json:"state"`
	Attempts     int       `json:"attempts"`
	LastError    string    `json:"last_error,omitzero"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	SentAt       time.Time `json:"sent_at,omitzero"`
	AckedAt      time.Time `json:"acked_at,omitzero"`
	FinishedAt   time.Time `json:"finished_at,omitzero"`
}

// App is one entry of GET /internal/v1/apps (every team's apps).
type App struct {
	ID            string      `json:"id"`
	Name          string      `json:"name"`
	TeamID        string      `json:"team_id"`
	Team          string      `json:"team"`
	Status        string      `json:"status"`
	Suspended     bool        `json:"suspended"`
	WorkerID      int64       `json:"worker_id,omitzero"`
	Worker        string      `json:"worker,omitzero"`
	LastDeploy    *Deployment `json:"last_deploy,omitzero"`
	Violations24h int         `json:"violations_24h"`
	CreatedAt     time.Time   `json:"created_at"`
}

// Deployment is an app's latest deployment.
type Deployment struct {
	ID         string    `json:"id"`
	Status     string    `json:"status"`
	Trigger    string    `json:"trigger"`
	CommitSHA  string    `json:"commit_sha,omitzero"`
	CreatedAt  time.Time `json:"created_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// Violation is one entry of GET /internal/v1/violations, newest first.
type Violation struct {
	ID       int64     `json:"id"`
	App      string    `json:"app"`
	AppID    string    `json:"app_id"`
	WorkerID int64     `json:"worker_id,omitzero"`
	Kind     string    `json:"kind"`
	Message  string    `json:"message"`
	Action   string    `json:"action,omitzero"`
	At       time.Time `json:"at"`
}

// User is one entry of GET /internal/v1/users.
type User struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	Name         string    `json:"name,omitzero"`
	InstanceRole string    `json:"instance_role,omitzero"`
	Suspended    bool      `json:"suspended"`
	CreatedAt    time.Time `json:"created_at"`
	LastLoginAt  time.Time `json:"last_login_at,omitzero"`
}

// Team is one entry of GET /internal/v1/teams.
type Team struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Slug      string    `json:"slug"`
	Personal  bool      `json:"personal"`
	Members   int       `json:"members"`
	Apps      int       `json:"apps"`
	CreatedAt time.Time `json:"created_at"`
}

// AuditEntry is one entry of GET /internal/v1/audit, newest first: who
// (Username), what (Action, Target, Detail), when, from where
// (RemoteAddr) and how it ended (Result: ok, denied, not_found, error).
type AuditEntry struct {
	ID         int64     `json:"id"`
	Username   string    `json:"username"`
	Action     string    `json:"action"`
	Target     string    `json:"target,omitzero"`
	Detail     string    `json:"detail,omitzero"`
	RemoteAddr string    `json:"remote_addr"`
	Result     string    `json:"result"`
	At         time.Time `json:"at"`
}

// Envelope types of the admin RPC.
const (
	TypeCall   = "call"   // client → server
	TypeResult = "result" // server → client, one per call
	TypeEvent  = "event"  // server → client, after events.subscribe
	TypeLog    = "log"    // server → client, for a followed app.logs call
)

// RPC methods. Those in Mutating change something: a viewer is refused
// them, and every call to one is written to the audit log.
const (
	MethodPing        = "ping"
	MethodSubscribe   = "events.subscribe"
	MethodLogs        = "app.logs"
	MethodLogsStop    = "app.logs.stop"
	MethodDrain       = "worker.drain"
	MethodUndrain     = "worker.undrain"
	MethodRevoke      = "worker.revoke"
	MethodSuspendApp  = "app.suspend"
	MethodResumeApp   = "app.resume"
	MethodStopApp     = "app.stop"
	MethodSuspendUser = "user.suspend"
	MethodResumeUser  = "user.resume"
)

// MinRole is the role each method needs; a method not listed is unknown.
var MinRole = map[string]string{
	MethodPing:        RoleViewer,
	MethodSubscribe:   RoleViewer,
	MethodLogs:        RoleViewer,
	MethodLogsStop:    RoleViewer,
	MethodDrain:       RoleOperator,
	MethodUndrain:     RoleOperator,
	MethodSuspendApp:  RoleOperator,
	MethodResumeApp:   RoleOperator,
	MethodStopApp:     RoleOperator,
	MethodSuspendUser: RoleOperator,
	MethodResumeUser:  RoleOperator,
	MethodRevoke:      RoleSuperadmin,
}

// Mutating reports whether method changes state.
func Mutating(method string) bool { return RoleAtLeast(MinRole[method], RoleOperator) }

// Call is the payload of a "call" envelope. ID is chosen by the client and
// echoed in the result; Params depend on the method (Target, LogsParams).
type Call struct {
	ID     uint64         `json:"id"`
	Method string         `json:"method"`
	Params jsontext.Value `json:"params,omitzero"`
}

// Target names what a worker, app or user call acts on: a worker's name
// or id, an app's name or id, a user's email or id.
type Target struct {
	Worker string `json:"worker,omitzero"`
	App    string `json:"app,omitzero"`
	User   string `json:"user,omitzero"`
}

// LogsParams are the params of app.logs: the last Lines lines (default
// 100, at most 1000), then, with Follow, every new line as "log" envelopes
// until app.logs.stop with the same call id (Target.App unused there:
// StopID names the stream) or the connection ends.
type LogsParams struct {
	App    string `json:"app,omitzero"`
	Lines  int    `json:"lines,omitzero"`
	Follow bool   `json:"follow,omitzero"`
	StopID uint64 `json:"stop_id,omitzero"`
}

// Result is the payload of a "result" envelope. When OK is false, Error
// and Code say why (Code: forbidden, not_found, bad_request, conflict,
// internal).
type Result struct {
	ID    uint64         `json:"id"`
	OK    bool           `json:"ok"`
	Error string         `json:"error,omitzero"`
	Code  string         `json:"code,omitzero"`
	Data  jsontext.Value `json:"data,omitzero"`
}

// ActionResult is the data of a successful mutating call.
type ActionResult struct {
	Target  string `json:"target"`
	Message string `json:"message"`
	JobID   string `json:"job_id,omitzero"`
}

// Event kinds. The deployment, app and violation kinds are the
// dispatcher's webhook events, for every team.
const (
	EventWorkerConnected    = "worker.connected"
	EventWorkerDisconnected = "worker.disconnected"
	EventDeploySucceeded    = "deployment.succeeded"
	EventDeployFailed       = "deployment.failed"
	EventAppCrashed         = "app.crashed"
	EventAppStopped         = "app.stopped"
	EventViolation          = "violation"
	EventAdminAction        = "admin.action"
	// EventLost says the server dropped Lost events because this client
	// read too slowly.
	EventLost = "events.lost"
)

// Event is the payload of an "event" envelope. Seq numbers the server's
// events since it started (gaps are events this client lost).
type Event struct {
	Seq      uint64         `json:"seq"`
	Kind     string         `json:"kind"`
	At       time.Time      `json:"at"`
	WorkerID int64          `json:"worker_id,omitzero"`
	TeamID   string         `json:"team_id,omitzero"`
	App      string         `json:"app,omitzero"`
	Actor    string         `json:"actor,omitzero"`
	Message  string         `json:"message,omitzero"`
	Lost     int            `json:"lost,omitzero"`
	Data     map[string]any `json:"data,omitzero"`
}

// LogLine is one runtime log line of an app.
type LogLine struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Stream string    `json:"stream"`
	Msg    string    `json:"msg"`
}

// Logs is the data of an app.logs result, and the payload of each "log"
// envelope of a followed call (ID = the call's id).
type Logs struct {
	ID    uint64    `json:"id"`
	App   string    `json:"app"`
	Lines []LogLine `json:"lines"`
}
