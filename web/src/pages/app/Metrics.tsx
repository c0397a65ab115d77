import { useMemo, useState } from 'react'
import type { StatPoint, Stats } from '../../api/types'
import { seg } from '../../api/client'
import { Chart, type Point } from '../../components/Chart'
import { ErrorState, Loading } from '../../components/States'
import { formatBytes, formatPercent, formatRate } from '../../format'
import { usePolling } from '../../hooks/usePolling'
import { useApi } from '../../me/context'
import type { AppTabProps } from '../AppDetail'

const ranges = [
  { value: '1h', label: 'Last hour' },
  { value: '6h', label: 'Last 6 hours' },
  { value: '24h', label: 'Last 24 hours' },
  { value: '168h', label: 'Last 7 days' },
]

/** Averages points into at most max buckets, so a week draws as fast as an hour. */
export function downsample(points: StatPoint[], max: number): StatPoint[] {
  if (points.length <= max) return points
  const size = Math.ceil(points.length / max)
  const out: StatPoint[] = []
  for (let i = 0; i < points.length; i += size) {
    const b = points.slice(i, i + size)
    const avg = (f: (p: StatPoint) => number) => b.reduce((s, p) => s + f(p), 0) / b.length
    const last = b[b.length - 1]
    out.push({
      at: last.at,
      cpu_percent: avg((p) => p.cpu_percent),
      mem_bytes: avg((p) => p.mem_bytes),
      mem_limit_bytes: last.mem_limit_bytes,
      net_rx_bytes: last.net_rx_bytes,
      net_tx_bytes: last.net_tx_bytes,
    })
  }
  return out
}

/** Turns cumulative byte counters into bytes per second (a drop means the container restarted). */
export function rates(points: StatPoint[], pick: (p: StatPoint) => number): Point[] {
  const out: Point[] = []
  for (let i = 1; i < points.length; i++) {
    const dt = (Date.parse(points[i].at) - Date.parse(points[i - 1].at)) / 1000
    const dv = pick(points[i]) - pick(points[i - 1])
    if (dt <= 0) continue
    out.push({ t: Date.parse(points[i].at), v: dv >= 0 ? dv / dt : pick(points[i]) / dt })
  }
  return out
}

export default function Metrics({ app }: AppTabProps) {
  const api = useApi()
  const [since, setSince] = useState('1h')
  const stats = usePolling((signal) => api.get<Stats>(`/v1/apps/${seg(app.name)}/stats?since=${since}`, signal), 10000, [app.name, since])

  const charts = useMemo(() => {
    const pts = downsample(stats.data?.points ?? [], 720)
    const t = (p: StatPoint) => Date.parse(p.at)
    const limit = pts.length ? pts[pts.length - 1].mem_limit_bytes : 0
    return {
      cpu: [{ name: 'CPU', points: pts.map((p) => ({ t: t(p), v: p.cpu_percent })), color: 1 as const }],
      mem: [
        { name: 'Memory', points: pts.map((p) => ({ t: t(p), v: p.mem_bytes })), color: 2 as const },
        ...(limit > 0 ? [{ name: 'Limit', points: pts.map((p) => ({ t: t(p), v: p.mem_limit_bytes })), color: 3 as const, dashed: true }] : []),
      ],
      net: [
        { name: 'In', points: rates(pts, (p) => p.net_rx_bytes), color: 1 as const },
        { name: 'Out', points: rates(pts, (p) => p.net_tx_bytes), color: 2 as const },
      ],
    }
  }, [stats.data])

  const empty = app.status === 'running' ? 'No samples yet: the worker reports every 10 seconds.' : 'No samples in this period. Charts fill while the app runs.'

  return (
    <div className="stack" data-testid="metrics">
      <div className="toolbar">
        <label className="inline-field">
          Period{' '}
          <select className="input input-small" value={since} onChange={(e) => setSince(e.target.value)}>
            {ranges.map((r) => (
              <option key={r.value} value={r.value}>
                {r.label}
              </option>
            ))}
          </select>
        </label>
        <span className="muted small">Refreshes every 10 seconds while this tab is visible.</span>
      </div>
      {stats.loading ? (
        <Loading label="Loading metrics…" />
      ) : stats.error && !stats.data ? (
        <ErrorState error={stats.error} onRetry={stats.refresh} />
      ) : (
        <div className="charts">
          <Chart title="CPU" series={charts.cpu} format={formatPercent} minMax={1} emptyText={empty} />
          <Chart title="Memory" series={charts.mem} format={(v) => formatBytes(v, 0)} minMax={1024 * 1024} binary emptyText={empty} />
          <Chart title="Network" series={charts.net} format={formatRate} minMax={1024} binary emptyText={empty} />
        </div>
      )}
    </div>
  )
}

