import { useCallback, useEffect, useMemo, useState } from 'react'
import { seg } from '../../api/client'
import { LogViewer, type ViewLine } from '../../components/LogViewer'
import { StatusBadge } from '../../components/StatusBadge'
import { useEventStream } from '../../hooks/useEventStream'

/** Splits streamed text into whole lines, keeping an unfinished last line apart. */
export function appendChunk(state: { lines: string[]; partial: string }, chunk: string) {
  const text = state.partial + chunk
  const parts = text.split('\n')
  const partial = parts.pop() ?? ''
  return { lines: parts.length ? state.lines.concat(parts) : state.lines, partial }
}

/**
 * A deployment's build log, live: the API streams it (resuming by byte
 * offset after a reconnect), with status changes, until "end".
 */
export function BuildLog({ deploymentId, onStatus }: { deploymentId: string; onStatus?: (s: string) => void }) {
  const [log, setLog] = useState({ lines: [] as string[], partial: '' })
  const [status, setStatus] = useState('')
  const [ended, setEnded] = useState(false)

  useEffect(() => {
    setLog({ lines: [], partial: '' })
    setStatus('')
    setEnded(false)
  }, [deploymentId])

  const statusChanged = useCallback(
    (s: string) => {
      setStatus(s)
      onStatus?.(s)
    },
    [onStatus],
  )

  const stream = useEventStream(ended ? null : `/v1/deployments/${seg(deploymentId)}/logs?follow=1`, {
    log: (e) => setLog((l) => appendChunk(l, e.data)),
    status: (e) => statusChanged(e.data),
    end: (e) => {
      statusChanged(e.data)
      setEnded(true)
    },
  })

  const lines: ViewLine[] = useMemo(() => {
    const all = log.partial ? [...log.lines, log.partial] : log.lines
    return all.map((text, i) => ({ key: i, text }))
  }, [log])

  const state = ended ? (
    <span className="muted small">Finished</span>
  ) : stream.state === 'open' ? (
    <span className="live">Live</span>
  ) : stream.state === 'reconnecting' ? (
    <span className="muted small">Reconnecting…</span>
  ) : stream.state === 'closed' ? (
    <span className="muted small">Disconnected</span>
  ) : (
    <span className="muted small">Connecting…</span>
  )

  return (
    <div data-testid="build-log" data-status={status}>
      <div className="build-status">
        {status && <StatusBadge status={status} />}
      </div>
      <LogViewer lines={lines} label="Build log" status={state} live={!ended} emptyText={ended ? 'This deployment wrote no build log.' : 'Waiting for the worker…'} />
    </div>
  )
}
