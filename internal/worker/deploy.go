package worker

import (
	"github.com/wisehosting/wisehosting/internal/models"
	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// STUB: replaced by the deploy pipeline.

func (a *Agent) executeDeploy(jobID, deploymentID string, p *models.DeployPayload) wsproto.JobResultPayload {
	return wsproto.JobResultPayload{Success: false, Message: "deploy not implemented yet"}
}

func (a *Agent) executeRestart(jobID, deploymentID string, p *models.DeployPayload) wsproto.JobResultPayload {
	return wsproto.JobResultPayload{Success: false, Message: "restart not implemented yet"}
}

func (a *Agent) executeStop(jobID string, p *models.DeployPayload) wsproto.JobResultPayload {
	return wsproto.JobResultPayload{Success: false, Message: "stop not implemented yet"}
}

func (a *Agent) executeDelete(jobID string, p *models.DeployPayload) wsproto.JobResultPayload {
	return wsproto.JobResultPayload{Success: false, Message: "delete not implemented yet"}
}
