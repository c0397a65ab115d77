// Package models holds the domain types that the control plane and the
// worker agent both speak: what to deploy, what a worker has, and what it
// reports back. It has no behaviour beyond small helpers, and imports only
// the standard library, so both ends (and internal/wsproto) can depend on it.
package models

import "time"

// Job types the control plane sends to a worker.
const (
	JobDeploy  = "deploy"
	JobRestart = "restart"
	JobStop    = "stop"
	JobDelete  = "delete"
)

// App states as reported by a worker (app_status, heartbeat apps).
const (
	AppRunning  = "running"
	AppStopped  = "stopped"
	AppCrashed  = "crashed"
	AppStarting = "starting"
	AppMissing  = "missing" // the worker has no container for the app
)

// Violation kinds a worker enforces.
const (
	ViolationOOM       = "oom"
	ViolationDiskQuota = "disk_quota"
	ViolationCrashLoop = "crash_loop"
)

// Limits are the resources one app may use. Zero means "no limit set"; the
// control plane fills in its defaults before a job is sent.
type Limits struct {
	MemoryBytes int64 `json:"memory_bytes,omitzero"`
	// CPUMillis is thousandths of a core: 500 = half a core.
	CPUMillis int64 `json:"cpu_millis,omitzero"`
	DiskBytes int64 `json:"disk_bytes,omitzero"`
	// BandwidthBitsPerSec caps egress of the app's network namespace.
	BandwidthBitsPerSec int64 `json:"bandwidth_bps,omitzero"`
	PIDs                int64 `json:"pids,omitzero"`
}

// DeployPayload is everything a worker needs to build and run one version of
// an app. It travels inside a job envelope; GitToken and Env values are
// secrets and must never be logged.
type DeployPayload struct {
	AppID   string `json:"app_id"`
	AppName string `json:"app_name"`
	RepoURL string `json:"repo_url"`
	Branch  string `json:"branch,omitzero"`
	// Commit pins the exact revision to check out after cloning Branch.
	Commit         string `json:"commit,omitzero"`
	GitToken       string `json:"git_token,omitzero"`
	DockerfilePath string `json:"dockerfile_path,omitzero"`
	// Port is the port the app listens on inside its container.
	Port            int               `json:"port"`
	Env             map[string]string `json:"env,omitzero"`
	Limits          Limits            `json:"limits,omitzero"`
	HealthCheckPath string            `json:"health_check_path,omitzero"`
	// ImageID, when set, runs an already built image (rollback) instead of
	// cloning and building.
	ImageID string `json:"image_id,omitzero"`
}

// WorkerResources is a worker's capacity and current use, sent in every
// heartbeat.
type WorkerResources struct {
	CPUs             int     `json:"cpus"`
	CPUPercent       float64 `json:"cpu_percent"`
	MemoryTotalBytes int64   `json:"memory_total_bytes"`
	MemoryUsedBytes  int64   `json:"memory_used_bytes"`
	DiskTotalBytes   int64   `json:"disk_total_bytes"`
	DiskUsedBytes    int64   `json:"disk_used_bytes"`
	Containers       int     `json:"containers"`
}

// AppStatusReport tells the control plane what actually runs for an app.
type AppStatusReport struct {
	AppID        string    `json:"app_id"`
	ContainerID  string    `json:"container_id,omitzero"`
	Status       string    `json:"status"`
	HostPort     int       `json:"host_port,omitzero"`
	RestartCount int       `json:"restart_count,omitzero"`
	Message      string    `json:"message,omitzero"`
	At           time.Time `json:"at,omitzero"`
}

// ViolationReport records a policy the worker enforced against an app (and
// the action it took, such as stopping the container).
type ViolationReport struct {
	AppID       string    `json:"app_id"`
	ContainerID string    `json:"container_id,omitzero"`
	Kind        string    `json:"kind"`
	Message     string    `json:"message"`
	Action      string    `json:"action,omitzero"`
	At          time.Time `json:"at"`
}
