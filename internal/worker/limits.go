package worker

import "context"

// STUB: replaced by the runtime/limits work.

func (a *Agent) probeRuntime(ctx context.Context) string { return a.cfg.PodmanRuntime }

func (a *Agent) probeDiskQuotaSupport(ctx context.Context) bool { return false }
