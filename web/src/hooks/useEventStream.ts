import { useEffect, useRef, useState } from 'react'

export type StreamState = 'connecting' | 'open' | 'reconnecting' | 'closed'

type Handlers = Record<string, (e: MessageEvent<string>) => void>

/**
 * Subscribes to a Server-Sent Events URL (same origin, so the session
 * cookie goes along) with one handler per event name. EventSource
 * reconnects by itself and sends Last-Event-ID, which the API resumes from;
 * a handler calls close() when the stream is done (e.g. a build log's
 * "end"). A null url means no stream.
 */
export function useEventStream(url: string | null, handlers: Handlers): { state: StreamState; close: () => void } {
  const [state, setState] = useState<StreamState>('connecting')
  const handlersRef = useRef(handlers)
  handlersRef.current = handlers
  const esRef = useRef<EventSource | null>(null)

  useEffect(() => {
    if (!url) {
      setState('closed')
      return
    }
    setState('connecting')
    const es = new EventSource(url, { withCredentials: true })
    esRef.current = es
    es.onopen = () => setState('open')
    es.onerror = () => setState(es.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting')
    const names = Object.keys(handlersRef.current)
    const listeners = names.map((name) => {
      const fn = (e: Event) => handlersRef.current[name]?.(e as MessageEvent<string>)
      es.addEventListener(name, fn)
      return [name, fn] as const
    })
    return () => {
      for (const [name, fn] of listeners) es.removeEventListener(name, fn)
      es.close()
      esRef.current = null
    }
    // handler names are fixed per call site
  }, [url])

  return {
    state,
    close: () => {
      esRef.current?.close()
      setState('closed')
    },
  }
}
