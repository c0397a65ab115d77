import { useEffect, useMemo, useState } from 'react'
import type { LogLine } from '../../api/types'
import { seg } from '../../api/client'
import { LogViewer, type ViewLine } from '../../components/LogViewer'
import { useEventStream } from '../../hooks/useEventStream'
import type { AppTabProps } from '../AppDetail'

const KEEP = 5000

/** Adds streamed lines in id order, without duplicates, keeping the newest KEEP. */
export function mergeLines(have: LogLine[], add: LogLine[]): LogLine[] {
  const last = have.length ? have[have.length - 1].id : -1
  const fresh = add.filter((l) => l.id > last)
  if (!fresh.length) return have
  const out = have.concat(fresh)
  return out.length > KEEP ? out.slice(out.length - KEEP) : out
}

export default function Logs({ app }: AppTabProps) {
  const [lines, setLines] = useState<LogLine[]>([])
  const [stream, setStream] = useState<'all' | 'stdout' | 'stderr'>('all')
  useEffect(() => setLines([]), [app.name])

  // Lines arrive in bursts; batch them per animation frame.
  const [queue] = useState(() => ({ items: [] as LogLine[], scheduled: false }))
  const es = useEventStream(`/v1/apps/${seg(app.name)}/logs?follow=1`, {
    log: (e) => {
      try {
        queue.items.push(JSON.parse(e.data) as LogLine)
      } catch {
        return
      }
      if (!queue.scheduled) {
        queue.scheduled = true
        const flush = () => {
          queue.scheduled = false
          const batch = queue.items.splice(0)
          setLines((have) => mergeLines(have, batch))
        }
        if (typeof requestAnimationFrame === 'function' && !document.hidden) requestAnimationFrame(flush)
        else setTimeout(flush, 50)
      }
    },
  })

  const view: ViewLine[] = useMemo(
    () => lines.filter((l) => stream === 'all' || l.stream === stream).map((l) => ({ key: l.id, text: l.msg, stream: l.stream, at: l.at })),
    [lines, stream],
  )

  const state =
    es.state === 'open' ? (
      <span className="live">Live</span>
    ) : es.state === 'reconnecting' ? (
      <span className="muted small">Reconnecting…</span>
    ) : es.state === 'closed' ? (
      <span className="muted small">Disconnected</span>
    ) : (
      <span className="muted small">Connecting…</span>
    )

  return (
    <div className="stack" data-testid="runtime-logs">
      <div className="toolbar">
        <label className="inline-field">
          Stream{' '}
          <select className="input input-small" value={stream} onChange={(e) => setStream(e.target.value as typeof stream)}>
            <option value="all">All</option>
            <option value="stdout">stdout</option>
            <option value="stderr">stderr</option>
          </select>
        </label>
        <span className="muted small">What the app prints, as it prints it. The last 5,000 lines stay on the page.</span>
      </div>
      <LogViewer
        lines={view}
        label={`Runtime log of ${app.name}`}
        status={state}
        emptyText={app.status === 'created' ? 'The app has not been deployed yet.' : 'Nothing printed yet. New lines appear here as they are written.'}
      />
    </div>
  )
}
