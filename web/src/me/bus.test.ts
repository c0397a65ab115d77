import { describe, expect, it, vi } from 'vitest'
import { Api } from '../api/client'
import { MeBus, roleAtLeast } from './bus'

const user = { id: 'usr_1', email: 'ada@example.com', name: 'Ada', instance_role: 'owner', created_at: '2026-01-01T00:00:00Z' }
const personal = { id: 'team_p', name: "Ada's team", slug: 'ada', personal: true, role: 'owner' }
const shared = { id: 'team_s', name: 'Shared', slug: 'shared', personal: false, role: 'viewer' }

/** A fake control plane: answers by method and path, records requests. */
function fakeServer() {
  let signedIn = false
  const calls: { method: string; path: string; headers: Record<string, string> }[] = []
  const fetchFn = vi.fn(async (path: string, init: RequestInit) => {
    const method = init.method ?? 'GET'
    calls.push({ method, path, headers: (init.headers ?? {}) as Record<string, string> })
    const json = (status: number, body: unknown) => new Response(body === undefined ? null : JSON.stringify(body), { status })
    if (method === 'POST' && path === '/v1/auth/login') {
      const { password } = JSON.parse(init.body as string)
      if (password !== 'right') return json(401, { error: 'wrong email or password', code: 'unauthorized' })
      signedIn = true
      return json(200, { token: 'whs_x', csrf_token: 'csrf-login', expires_at: '', user })
    }
    if (method === 'POST' && path === '/v1/auth/logout') {
      signedIn = false
      return json(204, undefined)
    }
    if (path === '/v1/me') {
      if (!signedIn) return json(401, { error: 'sign in first', code: 'unauthorized' })
      return json(200, { user, teams: [personal, shared], csrf_token: 'csrf-me' })
    }
    if (path === '/v1/apps') return json(401, { error: 'session expired', code: 'unauthorized' })
    return json(404, { error: 'not found', code: 'not_found' })
  })
  return { fetchFn: fetchFn as unknown as typeof fetch, calls, setSignedIn: (v: boolean) => (signedIn = v) }
}

function memoryStorage() {
  const m = new Map<string, string>()
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k) }
}

describe('me bus', () => {
  it('starts loading, then is signed out when /v1/me answers 401', async () => {
    const srv = fakeServer()
    const bus = new MeBus(new Api(srv.fetchFn), memoryStorage())
    expect(bus.get().status).toBe('loading')
    await bus.refresh()
    expect(bus.get().status).toBe('signed-out')
  })

  it('signs in: user, personal team, role, instance admin and the CSRF token for writes', async () => {
    const srv = fakeServer()
    const api = new Api(srv.fetchFn)
    const bus = new MeBus(api, memoryStorage())
    const seen: string[] = []
    bus.subscribe(() => seen.push(bus.get().status))
    await bus.login('ada@example.com', 'right')
    const s = bus.get()
    expect(s.status).toBe('signed-in')
    if (s.status !== 'signed-in') return
    expect(s.user.email).toBe('ada@example.com')
    expect(s.team.id).toBe('team_p')
    expect(s.role).toBe('owner')
    expect(s.isInstanceAdmin).toBe(true)
    expect(seen).toContain('signed-in')
    expect(api.csrf).toBe('csrf-me')
    await api.post('/v1/anything').catch(() => {})
    expect(srv.calls.at(-1)?.headers['X-CSRF-Token']).toBe('csrf-me')
  })

  it('a failed sign-in leaves it signed out and surfaces the server message', async () => {
    const srv = fakeServer()
    const bus = new MeBus(new Api(srv.fetchFn), memoryStorage())
    await bus.refresh()
    await expect(bus.login('ada@example.com', 'wrong')).rejects.toThrow('wrong email or password')
    expect(bus.get().status).toBe('signed-out')
  })

  it('switches team, remembers it, and the role follows', async () => {
    const srv = fakeServer()
    const storage = memoryStorage()
    const bus = new MeBus(new Api(srv.fetchFn), storage)
    await bus.login('ada@example.com', 'right')
    await bus.switchTeam('team_s')
    let s = bus.get()
    expect(s.status === 'signed-in' && s.team.id).toBe('team_s')
    expect(s.status === 'signed-in' && s.role).toBe('viewer')
    // A new page load (a new bus) comes back to the same team.
    const again = new MeBus(new Api(srv.fetchFn), storage)
    await again.refresh()
    s = again.get()
    expect(s.status === 'signed-in' && s.team.id).toBe('team_s')
  })

  it('falls back to the personal team when the remembered one is gone', async () => {
    const srv = fakeServer()
    const storage = memoryStorage()
    storage.setItem('wh-team', 'team_gone')
    const bus = new MeBus(new Api(srv.fetchFn), storage)
    await bus.login('ada@example.com', 'right')
    const s = bus.get()
    expect(s.status === 'signed-in' && s.team.id).toBe('team_p')
  })

  it('signs out on logout and clears the CSRF token', async () => {
    const srv = fakeServer()
    const api = new Api(srv.fetchFn)
    const bus = new MeBus(api, memoryStorage())
    await bus.login('ada@example.com', 'right')
    await bus.logout()
    expect(bus.get().status).toBe('signed-out')
    expect(api.csrf).toBe('')
  })

  it('drops to signed out when any request answers 401 (the session ended elsewhere)', async () => {
    const srv = fakeServer()
    const api = new Api(srv.fetchFn)
    const bus = new MeBus(api, memoryStorage())
    await bus.login('ada@example.com', 'right')
    await expect(api.get('/v1/apps')).rejects.toMatchObject({ status: 401, code: 'unauthorized' })
    expect(bus.get().status).toBe('signed-out')
  })

  it('runs one /v1/me request for concurrent refreshes', async () => {
    const srv = fakeServer()
    srv.setSignedIn(true)
    const bus = new MeBus(new Api(srv.fetchFn), memoryStorage())
    await Promise.all([bus.refresh(), bus.refresh(), bus.refresh()])
    expect(srv.calls.filter((c) => c.path === '/v1/me')).toHaveLength(1)
  })

  it('a first visit goes to sign in without asking the server; a known browser asks', async () => {
    const srv = fakeServer()
    srv.setSignedIn(true)
    const storage = memoryStorage()
    const fresh = new MeBus(new Api(srv.fetchFn), storage)
    await fresh.start()
    expect(fresh.get().status).toBe('signed-out')
    expect(srv.calls).toHaveLength(0)
    await fresh.login('ada@example.com', 'right')
    const known = new MeBus(new Api(srv.fetchFn), storage)
    await known.start()
    expect(known.get().status).toBe('signed-in')
    await known.logout()
    const after = new MeBus(new Api(srv.fetchFn), storage)
    const n = srv.calls.length
    await after.start()
    expect(after.get().status).toBe('signed-out')
    expect(srv.calls).toHaveLength(n)
  })

  it('orders roles', () => {
    expect(roleAtLeast('admin', 'member')).toBe(true)
    expect(roleAtLeast('viewer', 'member')).toBe(false)
    expect(roleAtLeast(undefined, 'viewer')).toBe(false)
  })
})
