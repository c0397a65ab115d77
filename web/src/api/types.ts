// Shapes of the /v1 API's answers (docs/API.md).

export type Role = 'viewer' | 'member' | 'admin' | 'owner'

export interface User {
  id: string
  email: string
  name: string
  instance_role?: 'owner' | 'admin' | string
  created_at: string
}

export interface Team {
  id: string
  name: string
  slug: string
  personal: boolean
  role?: Role
  created_at?: string
}

export interface MeResponse {
  user: User
  teams: Team[]
  csrf_token?: string
}

export interface SessionResponse {
  token: string
  csrf_token: string
  expires_at: string
  user: User
}

export interface Limits {
  memory_bytes?: number
  cpu_millis?: number
  disk_bytes?: number
  bandwidth_bps?: number
  pids?: number
}

export interface App {
  id: string
  name: string
  team_id: string
  repo_url: string
  branch: string
  has_git_token: boolean
  dockerfile_path?: string
  port: number
  health_check_path?: string
  limits: Limits
  status: string
  status_message?: string
  url: string
  worker_id?: number
  worker_address?: string
  host_port?: number
  current_deployment_id?: string
  suspended?: boolean
  created_at: string
  updated_at: string
}

export interface AppInput {
  name?: string
  team?: string
  repo_url?: string
  branch?: string
  git_token?: string
  dockerfile_path?: string
  port?: number
  health_check_path?: string
  limits?: Limits
  env?: Record<string, string>
}

export interface Deployment {
  id: string
  app_id: string
  app?: string
  status: string
  trigger: string
  branch?: string
  commit?: string
  message?: string
  image_id?: string
  worker_id?: number
  created_by?: string
  created_at: string
  started_at?: string
  finished_at?: string
  log_bytes: number
}

export interface EnvVar {
  name: string
  value?: string
}

export interface Domain {
  domain: string
  url: string
  created_at: string
}

export interface LogLine {
  id: number
  at: string
  stream: string
  msg: string
}

export interface StatPoint {
  at: string
  cpu_percent: number
  mem_bytes: number
  mem_limit_bytes: number
  net_rx_bytes: number
  net_tx_bytes: number
}

export interface Stats {
  app: string
  points: StatPoint[]
}

export interface Violation {
  kind: string
  message: string
  action?: string
  at: string
}

export interface WorkerResources {
  cpus?: number
  cpu_percent?: number
  memory_total_bytes?: number
  memory_used_bytes?: number
  disk_total_bytes?: number
  disk_used_bytes?: number
  containers?: number
}

export interface Worker {
  id: number
  name: string
  status: 'online' | 'offline' | 'revoked' | string
  draining?: boolean
  hostname?: string
  version?: string
  address?: string
  cpus?: number
  memory_bytes?: number
  disk_quota?: boolean
  resources?: WorkerResources
  created_at: string
  registered_at?: string
  last_seen_at?: string
  api_key?: string
}

export interface ApiToken {
  id: string
  name: string
  token?: string
  created_at: string
  last_used_at?: string
  expires_at?: string
  revoked_at?: string
}

export interface Member {
  user_id: string
  email: string
  name: string
  role: Role
  created_at?: string
}

export interface Webhook {
  id: string
  team_id: string
  url: string
  events: string[]
  active: boolean
  secret?: string
  created_at: string
}

export interface Delivery {
  id: string
  webhook_id?: string
  event: string
  state: string
  attempts: number
  status_code?: number
  error?: string
  created_at: string
  next_attempt_at?: string
  delivered_at?: string
}

export interface GitHook {
  url: string
  secret: string
  content_type: string
}

export interface JobAccepted {
  job_id: string
  status: string
}
