package wsproto

import (
	"time"

	"github.com/wisehosting/wisehosting/internal/models"
)

// RegisterPayload describes a worker: the body of POST /v1/workers/register
// (with the raw API key, see RegisterRequest) and of a "register" envelope.
type RegisterPayload struct {
	Name        string `json:"name"`
	Hostname    string `json:"hostname"`
	Version     string `json:"version"`
	OS          string `json:"os,omitzero"`
	Arch        string `json:"arch,omitzero"`
	CPUs        int    `json:"cpus,omitzero"`
	MemoryBytes int64  `json:"memory_bytes,omitzero"`
	DiskBytes   int64  `json:"disk_bytes,omitzero"`
	DiskQuota   bool   `json:"disk_quota,omitzero"`
	PortRange   [2]int `json:"port_range,omitzero"`
	// Address is where the control plane reaches this worker's apps.
	Address string `json:"address,omitzero"`
}

// RegisterRequest is the body of POST /v1/workers/register.
type RegisterRequest struct {
	APIKey string `json:"api_key"`
	RegisterPayload
}

// RegisterResponse is the success body of POST /v1/workers/register.
type RegisterResponse struct {
	WorkerID       int64     `json:"worker_id"`
	Token          string    `json:"token"`
	TokenExpiresAt time.Time `json:"token_expires_at"`
}

// TokenResponse is the success body of POST /v1/workers/refresh-token.
type TokenResponse struct {
	Token          string    `json:"token"`
	TokenExpiresAt time.Time `json:"token_expires_at"`
}

// RegisteredPayload answers a "register" envelope.
type RegisteredPayload struct {
	WorkerID int64 `json:"worker_id"`
}

// Worker status values in a heartbeat.
const (
	WorkerReady    = "ready"
	WorkerDraining = "draining"
)

// HeartbeatPayload is sent by a worker every 30 s; Apps lists what really
// runs, so the control plane can reconcile desired and actual state.
type HeartbeatPayload struct {
	Status    string                 `json:"status"`
	Resources models.WorkerResources `json:"resources,omitzero"`
	Apps      []HeartbeatApp         `json:"apps,omitzero"`
}

// HeartbeatApp is one app a worker runs.
type HeartbeatApp struct {
	AppID       string `json:"app_id"`
	ContainerID string `json:"container_id"`
	Status      string `json:"status"`
	HostPort    int    `json:"host_port,omitzero"`
}

// JobPayload carries one job from the control plane to a worker.
type JobPayload struct {
	JobID        string                `json:"job_id"`
	Type         string                `json:"type"` // models.JobDeploy, …
	AppID        string                `json:"app_id"`
	DeploymentID string                `json:"deployment_id,omitzero"`
	Deploy       *models.DeployPayload `json:"deploy,omitzero"`
}

// JobAckPayload is a worker's answer on receipt of a job.
type JobAckPayload struct {
	JobID    string `json:"job_id"`
	Accepted bool   `json:"accepted"`
	Reason   string `json:"reason,omitzero"`
}

// Job progress states in JobStatusPayload.Status.
const (
	JobProcessing = "processing"
	JobCloning    = "cloning"
	JobBuilding   = "building"
	JobStarting   = "starting"
	JobStopping   = "stopping"
)

// JobStatusPayload reports a job's progress.
type JobStatusPayload struct {
	JobID    string `json:"job_id"`
	Status   string `json:"status"`
	Message  string `json:"message,omitzero"`
	Progress int    `json:"progress,omitzero"` // percent, 0–100
}

// JobResultPayload is a job's final outcome.
type JobResultPayload struct {
	JobID        string `json:"job_id"`
	DeploymentID string `json:"deployment_id,omitzero"`
	Success      bool   `json:"success"`
	Message      string `json:"message,omitzero"`
	ContainerID  string `json:"container_id,omitzero"`
	ImageID      string `json:"image_id,omitzero"`
	HostPort     int    `json:"host_port,omitzero"`
	Commit       string `json:"commit,omitzero"` // the revision actually built
	DurationMS   int64  `json:"duration_ms,omitzero"`
}

// AppStatusPayload reports an app's actual state.
type AppStatusPayload = models.AppStatusReport

// ViolationPayload reports an enforced policy.
type ViolationPayload = models.ViolationReport

// RuntimeLogLine is one line an app wrote to stdout or stderr.
type RuntimeLogLine struct {
	AppID  string    `json:"app_id"`
	Stream string    `json:"stream"` // "stdout" or "stderr"
	At     time.Time `json:"at"`
	Msg    string    `json:"msg"`
}

// RuntimeLogPayload is a batch of runtime log lines.
type RuntimeLogPayload struct {
	Lines []RuntimeLogLine `json:"lines"`
}

// BuildLogPayload is a chunk of a deployment's build log. Offset is the byte
// offset of Data within the whole log, so a resent chunk never duplicates
// text.
type BuildLogPayload struct {
	JobID        string `json:"job_id"`
	DeploymentID string `json:"deployment_id"`
	Offset       int64  `json:"offset"`
	Data         string `json:"data"`
}

// AppStatLine is one app's resource use at a moment.
type AppStatLine struct {
	AppID         string  `json:"app_id"`
	ContainerID   string  `json:"container_id,omitzero"`
	CPUPercent    float64 `json:"cpu_percent"`
	MemBytes      int64   `json:"mem_bytes"`
	MemLimitBytes int64   `json:"mem_limit_bytes,omitzero"`
	NetRxBytes    int64   `json:"net_rx_bytes"`
	NetTxBytes    int64   `json:"net_tx_bytes"`
	BlockRead     int64   `json:"block_read_bytes,omitzero"`
	BlockWrite    int64   `json:"block_write_bytes,omitzero"`
	PIDs          int     `json:"pids,omitzero"`
}

// AppStatsPayload is a batch of app stats taken at one time.
type AppStatsPayload struct {
	At   time.Time     `json:"at"`
	Apps []AppStatLine `json:"apps"`
}

// ErrorPayload reports a protocol-level problem to the peer.
type ErrorPayload struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
