import type { Api } from '../../api/client'
import { seg } from '../../api/client'
import type { Deployment, JobAccepted } from '../../api/types'

export const deploy = (api: Api, app: string) => api.post<Deployment>(`/v1/apps/${seg(app)}/deployments`)
export const restart = (api: Api, app: string) => api.post<JobAccepted>(`/v1/apps/${seg(app)}/restart`)
export const stop = (api: Api, app: string) => api.post<JobAccepted>(`/v1/apps/${seg(app)}/stop`)
export const rollback = (api: Api, app: string, deploymentId?: string) =>
  api.post<Deployment>(`/v1/apps/${seg(app)}/rollback`, deploymentId ? { deployment_id: deploymentId } : undefined)
