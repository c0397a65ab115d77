// A live log: follows the newest line (scrolling up stops following,
// scrolling back to the end resumes), pauses (new lines wait, counted, until
// Resume), and filters by text.
import { useLayoutEffect, useMemo, useRef, useState, type ReactNode } from 'react'

export interface ViewLine {
  key: string | number
  text: string
  stream?: string
  at?: string
}

export interface LogViewerProps {
  lines: ViewLine[]
  label: string
  /** Shown in the toolbar, e.g. the stream's connection state. */
  status?: ReactNode
  emptyText?: string
  /** Hide the filter/pause controls (a finished build log needs no pause). */
  live?: boolean
}

function atBottom(el: HTMLElement) {
  return el.scrollHeight - el.scrollTop - el.clientHeight < 8
}

function clock(iso?: string) {
  if (!iso) return ''
  const d = new Date(iso)
  if (isNaN(d.getTime())) return ''
  return d.toLocaleTimeString(undefined, { hour12: false })
}

export function LogViewer({ lines, label, status, emptyText = 'No log lines yet.', live = true }: LogViewerProps) {
  const [filter, setFilter] = useState('')
  const [frozen, setFrozen] = useState<ViewLine[] | null>(null)
  const [follow, setFollow] = useState(true)
  const box = useRef<HTMLDivElement>(null)

  const paused = frozen !== null
  const shown = paused ? frozen : lines
  const waiting = useMemo(() => {
    if (!frozen) return 0
    if (frozen.length === 0) return lines.length
    const last = frozen[frozen.length - 1].key
    for (let i = lines.length - 1; i >= 0; i--) if (lines[i].key === last) return lines.length - 1 - i
    return lines.length
  }, [frozen, lines])

  const visible = useMemo(() => {
    const f = filter.trim().toLowerCase()
    return f ? shown.filter((l) => l.text.toLowerCase().includes(f)) : shown
  }, [shown, filter])

  useLayoutEffect(() => {
    const el = box.current
    if (el && follow) el.scrollTop = el.scrollHeight
  }, [visible, follow])

  const onScroll = () => {
    const el = box.current
    if (!el) return
    const bottom = atBottom(el)
    if (follow && !bottom) setFollow(false)
    else if (!follow && bottom) setFollow(true)
  }

  return (
    <div className="logviewer">
      <div className="logviewer-bar">
        {live && (
          <>
            <label className="logviewer-filter">
              <span className="sr-only">Filter lines</span>
              <input className="input input-small" type="search" placeholder="Filter" value={filter} onChange={(e) => setFilter(e.target.value)} />
            </label>
            <button type="button" className="btn btn-small" aria-pressed={paused} onClick={() => setFrozen(paused ? null : lines)}>
              {paused ? (waiting > 0 ? `Resume (${waiting} new)` : 'Resume') : 'Pause'}
            </button>
          </>
        )}
        <label className="logviewer-follow">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Follow
        </label>
        <span className="logviewer-count muted">
          {filter ? `${visible.length} of ${shown.length}` : shown.length} {shown.length === 1 ? 'line' : 'lines'}
        </span>
        {status && <span className="logviewer-status">{status}</span>}
      </div>
      <div ref={box} className="logviewer-body" role="log" aria-label={label} aria-live="off" tabIndex={0} onScroll={onScroll}>
        {visible.length === 0 ? (
          <div className="logviewer-empty muted">{filter && shown.length ? 'No line matches the filter.' : emptyText}</div>
        ) : (
          visible.map((l) => (
            <div key={l.key} className={'logline' + (l.stream === 'stderr' ? ' logline-err' : '')}>
              {l.at && <span className="logline-time">{clock(l.at)}</span>}
              <span className="logline-text">{l.text}</span>
            </div>
          ))
        )}
      </div>
    </div>
  )
}
