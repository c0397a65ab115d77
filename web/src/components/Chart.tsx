// A line chart in plain SVG: time on x, one or more series on y, grid
// lines with readable labels, gaps where data is missing, and a crosshair
// with the values under the pointer (or the arrow keys).
import { useEffect, useMemo, useRef, useState, type KeyboardEvent, type PointerEvent } from 'react'
import { formatClock } from '../format'

export interface Point {
  t: number // ms since the epoch
  v: number
}

export interface Series {
  name: string
  points: Point[]
  /** Colour slot 1–3 (theme variables --chart-1…3). */
  color?: 1 | 2 | 3
  /** Draw dashed, without area (a limit line). */
  dashed?: boolean
}

export interface ChartProps {
  title: string
  series: Series[]
  format: (v: number) => string
  height?: number
  /** The y axis reaches at least this (e.g. 1% of CPU), so flat lines stay low. */
  minMax?: number
  /** Values are bytes: ticks at round binary numbers (50 MiB, not 48 MiB). */
  binary?: boolean
  emptyText?: string
}

const PAD = { left: 64, right: 14, top: 12, bottom: 26 }

/** Rounds up to 1, 2, 2.5 or 5 × 10^n (× 1024^k for binary values). */
export function niceMax(v: number, binary = false): number {
  if (!(v > 0)) return 1
  if (binary && v >= 1024) {
    const unit = Math.pow(1024, Math.floor(Math.log(v) / Math.log(1024)))
    return niceMax(v / unit) * unit
  }
  const p = Math.pow(10, Math.floor(Math.log10(v)))
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p
  return 10 * p
}

function nearest(points: Point[], t: number): number {
  let lo = 0
  let hi = points.length - 1
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1
    if (points[mid].t < t) lo = mid
    else hi = mid
  }
  return Math.abs(points[lo].t - t) <= Math.abs(points[hi].t - t) ? lo : hi
}

function useWidth() {
  const ref = useRef<HTMLDivElement>(null)
  const [width, setWidth] = useState(640)
  useEffect(() => {
    const el = ref.current
    if (!el) return
    const measure = () => el.clientWidth > 0 && setWidth(el.clientWidth)
    measure()
    if (typeof ResizeObserver === 'undefined') return
    const ro = new ResizeObserver(measure)
    ro.observe(el)
    return () => ro.disconnect()
  }, [])
  return [ref, width] as const
}

export function Chart({ title, series, format, height = 200, minMax = 0, binary = false, emptyText = 'No data yet.' }: ChartProps) {
  const [ref, width] = useWidth()
  const [cursor, setCursor] = useState<number | null>(null)
  const main = series[0]?.points ?? []
  const total = series.reduce((n, s) => n + s.points.length, 0)

  const geo = useMemo(() => {
    let tMin = Infinity
    let tMax = -Infinity
    let vMax = minMax
    for (const s of series)
      for (const p of s.points) {
        tMin = Math.min(tMin, p.t)
        tMax = Math.max(tMax, p.t)
        vMax = Math.max(vMax, p.v)
      }
    if (tMin === tMax) {
      tMin -= 30_000
      tMax += 30_000
    }
    const yMax = niceMax(vMax * 1.05, binary)
    const w = Math.max(width, 200)
    const plotW = w - PAD.left - PAD.right
    const plotH = height - PAD.top - PAD.bottom
    const x = (t: number) => PAD.left + ((t - tMin) / (tMax - tMin)) * plotW
    const y = (v: number) => PAD.top + plotH - (Math.max(0, v) / yMax) * plotH
    // A gap in the data (the app was stopped) breaks the line.
    const steps = main.slice(1).map((p, i) => p.t - main[i].t).sort((a, b) => a - b)
    const step = steps.length ? steps[steps.length >> 1] : 10_000
    const gap = Math.max(35_000, step * 3.5)
    const paths = series.map((s) => {
      let d = ''
      s.points.forEach((p, i) => {
        const brk = i === 0 || p.t - s.points[i - 1].t > gap
        d += (brk ? 'M' : 'L') + x(p.t).toFixed(1) + ',' + y(p.v).toFixed(1)
      })
      return d
    })
    const area =
      main.length > 1 && !series[0]?.dashed
        ? paths[0] + `L${x(main[main.length - 1].t).toFixed(1)},${y(0)}L${x(main[0].t).toFixed(1)},${y(0)}Z`
        : ''
    const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * yMax)
    const xTicks = [0, 0.5, 1].map((f) => tMin + f * (tMax - tMin))
    return { w, x, y, paths, area, ticks, xTicks, plotH, short: tMax - tMin < 10 * 60_000 }
  }, [series, width, height, minMax, binary, main])

  if (total === 0) {
    return (
      <figure className="chart chart-empty" ref={ref}>
        <figcaption className="chart-title">{title}</figcaption>
        <div className="muted chart-empty-text">{emptyText}</div>
      </figure>
    )
  }

  const onPointer = (e: PointerEvent<SVGSVGElement>) => {
    if (!main.length) return
    const rect = e.currentTarget.getBoundingClientRect()
    const px = ((e.clientX - rect.left) / rect.width) * geo.w
    let best = 0
    let dist = Infinity
    main.forEach((p, i) => {
      const d = Math.abs(geo.x(p.t) - px)
      if (d < dist) {
        dist = d
        best = i
      }
    })
    setCursor(best)
  }
  const onKey = (e: KeyboardEvent) => {
    if (!main.length) return
    if (e.key === 'ArrowLeft') setCursor((c) => Math.max(0, (c ?? main.length) - 1))
    else if (e.key === 'ArrowRight') setCursor((c) => Math.min(main.length - 1, (c ?? main.length - 2) + 1))
    else if (e.key === 'Escape') setCursor(null)
    else return
    e.preventDefault()
  }

  const at = cursor !== null && main[cursor] ? main[cursor].t : null
  const latest = series.map((s) => (s.points.length ? s.points[s.points.length - 1].v : undefined))
  const summary = series.map((s, i) => `${s.name} ${latest[i] === undefined ? 'no data' : format(latest[i]!)}`).join(', ')

  return (
    <figure className="chart" ref={ref}>
      <figcaption className="chart-head">
        <span className="chart-title">{title}</span>
        <span className="chart-legend">
          {series.map((s, i) => {
            const v = at !== null && s.points.length ? s.points[nearest(s.points, at)].v : latest[i]
            return (
              <span key={s.name} className="chart-key">
                <span className={`chart-swatch chart-c${s.color ?? i + 1}` + (s.dashed ? ' chart-swatch-dashed' : '')} aria-hidden="true" />
                {s.name} <strong>{v === undefined ? '—' : format(v)}</strong>
              </span>
            )
          })}
          {at !== null && <span className="muted chart-at">{new Date(at).toLocaleTimeString()}</span>}
        </span>
      </figcaption>
      <svg
        className="chart-svg"
        width={geo.w}
        height={height}
        viewBox={`0 0 ${geo.w} ${height}`}
        role="img"
        aria-label={`${title}: ${summary}`}
        data-points={total}
        tabIndex={0}
        onPointerMove={onPointer}
        onPointerLeave={() => setCursor(null)}
        onKeyDown={onKey}
        onBlur={() => setCursor(null)}
      >
        {geo.ticks.map((v, i) => (
          <g key={i}>
            <line className="chart-grid" x1={PAD.left} x2={geo.w - PAD.right} y1={geo.y(v)} y2={geo.y(v)} />
            <text className="chart-label" x={PAD.left - 8} y={geo.y(v) + 4} textAnchor="end">
              {format(v)}
            </text>
          </g>
        ))}
        {geo.xTicks.map((t, i) => (
          <text key={i} className="chart-label" x={geo.x(t)} y={height - 6} textAnchor={i === 0 ? 'start' : i === 2 ? 'end' : 'middle'}>
            {formatClock(t, geo.short)}
          </text>
        ))}
        {geo.area && <path className={`chart-area chart-c${series[0].color ?? 1}`} d={geo.area} />}
        {geo.paths.map((d, i) => (
          <path key={series[i].name} className={`chart-line chart-c${series[i].color ?? i + 1}` + (series[i].dashed ? ' chart-dashed' : '')} d={d} />
        ))}
        {main.length === 1 && <circle className={`chart-dot chart-c${series[0].color ?? 1}`} cx={geo.x(main[0].t)} cy={geo.y(main[0].v)} r={3.5} />}
        {at !== null && (
          <g>
            <line className="chart-cursor" x1={geo.x(at)} x2={geo.x(at)} y1={PAD.top} y2={PAD.top + geo.plotH} />
            {series.map((s, i) =>
              s.points.length ? (
                <circle
                  key={s.name}
                  className={`chart-dot chart-c${s.color ?? i + 1}`}
                  cx={geo.x(s.points[nearest(s.points, at)].t)}
                  cy={geo.y(s.points[nearest(s.points, at)].v)}
                  r={3.5}
                />
              ) : null,
            )}
          </g>
        )}
      </svg>
    </figure>
  )
}
