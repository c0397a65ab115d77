// The `me` data bus: the one source of truth for who is signed in, the
// current team and the role in it. Every component reads it (useMe); no
// page fetches /v1/me on its own. It refreshes on sign-in, sign-out and
// team switch, and drops to signed-out when any request answers 401.

import { Api } from '../api/client'
import type { MeResponse, Role, SessionResponse, Team, User } from '../api/types'

export type MeState =
  | { status: 'loading' }
  | { status: 'signed-out' }
  | {
      status: 'signed-in'
      user: User
      teams: Team[]
      /** The team the dashboard shows; every team-scoped page follows it. */
      team: Team
      role: Role
      /** Instance owner or admin: manages workers and instance settings. */
      isInstanceAdmin: boolean
    }

export type SignedIn = Extract<MeState, { status: 'signed-in' }>

const TEAM_KEY = 'wh-team'
/** Set while this browser has a session: a signed-out visitor is sent to sign in without a 401 round trip. */
const SESSION_HINT_KEY = 'wh-signed-in'

const roleRank: Record<string, number> = { viewer: 1, member: 2, admin: 3, owner: 4 }

/** Whether role grants at least min (viewer < member < admin < owner). */
export function roleAtLeast(role: string | undefined, min: Role): boolean {
  return (roleRank[role ?? ''] ?? 0) >= roleRank[min]
}

export class MeBus {
  private state: MeState = { status: 'loading' }
  private listeners = new Set<() => void>()
  private readonly api: Api
  private readonly storage: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | null
  private refreshing: Promise<void> | null = null

  constructor(api: Api, storage: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | null = safeLocalStorage()) {
    this.api = api
    this.storage = storage
    api.onUnauthorized = () => {
      if (this.state.status === 'signed-in') this.set({ status: 'signed-out' })
    }
  }

  get = (): MeState => this.state

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  /** keepHint: signed out only because the server could not be asked. */
  private set(s: MeState, keepHint = false) {
    this.state = s
    if (s.status === 'signed-in') this.storage?.setItem(SESSION_HINT_KEY, '1')
    if (s.status === 'signed-out') {
      this.api.csrf = ''
      if (!keepHint) this.storage?.removeItem(SESSION_HINT_KEY)
    }
    for (const fn of [...this.listeners]) fn()
  }

  /**
   * The first load of a page: asks the server only when this browser
   * signed in before (the session cookie itself is out of JavaScript's
   * reach), so a stranger's first visit makes no failing request.
   */
  start(): Promise<void> {
    if (this.storage && this.storage.getItem(SESSION_HINT_KEY) !== '1') {
      this.set({ status: 'signed-out' })
      return Promise.resolve()
    }
    return this.refresh()
  }

  /** Reloads the user and teams from GET /v1/me (deduplicated while one runs). */
  refresh(): Promise<void> {
    if (!this.refreshing) {
      this.refreshing = this.load().finally(() => {
        this.refreshing = null
      })
    }
    return this.refreshing
  }

  private async load() {
    let me: MeResponse
    try {
      me = await this.api.get<MeResponse>('/v1/me')
    } catch (err) {
      // 401: simply not signed in. Anything else (server down) is shown as
      // signed out too, but the error reaches the caller.
      const unauthorized = (err as { status?: number }).status === 401
      this.set({ status: 'signed-out' }, !unauthorized)
      if (unauthorized) return
      throw err
    }
    if (me.csrf_token) this.api.csrf = me.csrf_token
    this.apply(me.user, me.teams)
  }

  private apply(user: User, teams: Team[]) {
    const wanted = this.storage?.getItem(TEAM_KEY)
    const team =
      teams.find((t) => t.id === wanted) ?? teams.find((t) => t.personal) ?? teams[0] ?? { id: '', name: 'No team', slug: '', personal: true }
    this.set({
      status: 'signed-in',
      user,
      teams,
      team,
      role: (team.role ?? 'viewer') as Role,
      isInstanceAdmin: user.instance_role === 'owner' || user.instance_role === 'admin',
    })
  }

  async login(email: string, password: string): Promise<void> {
    const s = await this.api.post<SessionResponse>('/v1/auth/login', { email, password })
    this.api.csrf = s.csrf_token
    await this.refresh()
  }

  async signup(email: string, password: string, name?: string): Promise<void> {
    const s = await this.api.post<SessionResponse>('/v1/auth/signup', { email, password, ...(name ? { name } : {}) })
    this.api.csrf = s.csrf_token
    await this.refresh()
  }

  async logout(): Promise<void> {
    try {
      await this.api.post('/v1/auth/logout')
    } finally {
      this.set({ status: 'signed-out' })
    }
  }

  /** Makes another of the user's teams current, remembers it, and reloads. */
  async switchTeam(teamId: string): Promise<void> {
    this.storage?.setItem(TEAM_KEY, teamId)
    await this.refresh()
  }
}

function safeLocalStorage(): Storage | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage
  } catch {
    return null
  }
}
