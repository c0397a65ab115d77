package worker

import (
	"context"

	"github.com/wisehosting/wisehosting/internal/models"
	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// STUB: replaced by the monitor work.

func (a *Agent) monitorLoop() { <-a.ctx.Done() }

func (a *Agent) getResourceUsage(ctx context.Context) models.WorkerResources {
	return models.WorkerResources{}
}

func (a *Agent) runningApps(ctx context.Context) ([]wsproto.HeartbeatApp, error) { return nil, nil }
