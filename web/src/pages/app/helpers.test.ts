import { describe, expect, it } from 'vitest'
import type { StatPoint } from '../../api/types'
import { matchPattern, matchRoute } from '../../router'
import { niceMax } from '../../components/Chart'
import { formatBytes, formatRelative } from '../../format'
import { appendChunk } from './BuildLog'
import { mergeLines } from './Logs'
import { downsample, rates } from './Metrics'
import { limitsFromForm, limitsToForm } from './LimitFields'

describe('build log chunks', () => {
  it('keeps an unfinished last line apart until its newline arrives', () => {
    let s = { lines: [] as string[], partial: '' }
    s = appendChunk(s, 'STEP 1/2\nSTE')
    expect(s).toEqual({ lines: ['STEP 1/2'], partial: 'STE' })
    s = appendChunk(s, 'P 2/2\n')
    expect(s).toEqual({ lines: ['STEP 1/2', 'STEP 2/2'], partial: '' })
  })
})

describe('runtime log merge', () => {
  const l = (id: number) => ({ id, at: '', stream: 'stdout', msg: 'm' + id })
  it('appends in id order and drops lines already shown (a resumed stream)', () => {
    const have = [l(1), l(2)]
    expect(mergeLines(have, [l(2), l(3)]).map((x) => x.id)).toEqual([1, 2, 3])
    expect(mergeLines(have, [l(1)])).toBe(have)
  })
})

describe('metrics', () => {
  const p = (s: number, rx: number, cpu = 1): StatPoint => ({
    at: new Date(s * 1000).toISOString(),
    cpu_percent: cpu,
    mem_bytes: 100,
    mem_limit_bytes: 1000,
    net_rx_bytes: rx,
    net_tx_bytes: 0,
  })
  it('turns byte counters into rates, restarting after a counter reset', () => {
    const r = rates([p(0, 0), p(10, 1000), p(20, 3000), p(30, 500)], (x) => x.net_rx_bytes)
    expect(r.map((x) => x.v)).toEqual([100, 200, 50])
  })
  it('averages a long series into at most N points', () => {
    const pts = Array.from({ length: 1000 }, (_, i) => p(i * 10, i, i % 2 ? 2 : 0))
    const d = downsample(pts, 100)
    expect(d.length).toBeLessThanOrEqual(100)
    expect(d[0].cpu_percent).toBe(1)
  })
  it('rounds axes to readable numbers, binary for bytes', () => {
    expect(niceMax(0.7)).toBe(1)
    expect(niceMax(3.2)).toBe(5)
    expect(niceMax(140 * 1024 * 1024, true)).toBe(200 * 1024 * 1024)
    expect(formatBytes(niceMax(1500, true))).toBe('2.0 KiB')
  })
})

describe('router', () => {
  it('matches one page per route, with parameters', () => {
    expect(matchPattern('/apps/:app/:tab', '/apps/web/logs')).toEqual({ app: 'web', tab: 'logs' })
    expect(matchPattern('/apps/:app', '/apps/web/')).toEqual({ app: 'web' })
    expect(matchPattern('/apps/:app', '/apps')).toBeNull()
    expect(matchRoute('/apps/new').params).toEqual({})
    expect(matchRoute('/apps/web/deployments/dep_1').params).toEqual({ app: 'web', deployment: 'dep_1' })
    expect(matchRoute('/nope').route.pattern).toBe('*')
  })
})

describe('format', () => {
  it('says how long ago in words', () => {
    const now = Date.parse('2026-01-01T12:00:00Z')
    expect(formatRelative('2026-01-01T11:59:58Z', now)).toBe('just now')
    expect(formatRelative('2026-01-01T11:55:00Z', now)).toBe('5 min ago')
    expect(formatRelative('2025-12-31T12:00:00Z', now)).toBe('yesterday')
  })
})

describe('limits form', () => {
  it('sends every limit, a cleared field as 0 (the API keeps what is left out)', () => {
    expect(limitsFromForm({ memoryMiB: '256', cpus: '0.5', diskMiB: '', bandwidthMbit: '' })).toEqual({
      memory_bytes: 256 * 1024 * 1024,
      cpu_millis: 500,
      disk_bytes: 0,
      bandwidth_bps: 0,
    })
    expect(limitsFromForm({ memoryMiB: '', cpus: 'x', diskMiB: '-5', bandwidthMbit: '10' })).toEqual({
      memory_bytes: 0,
      cpu_millis: 0,
      disk_bytes: 0,
      bandwidth_bps: 10_000_000,
    })
  })
  it('round-trips what the API returns', () => {
    const l = { memory_bytes: 512 * 1024 * 1024, cpu_millis: 1000, disk_bytes: 1024 * 1024 * 1024 }
    expect(limitsFromForm(limitsToForm(l))).toEqual({ ...l, bandwidth_bps: 0 })
  })
})
