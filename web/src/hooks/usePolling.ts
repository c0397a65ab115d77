import { useCallback, useEffect, useRef, useState } from 'react'
import { Poller } from './poller'

export interface Polled<T> {
  data: T | undefined
  error: unknown
  /** True until the first answer (or error) arrives. */
  loading: boolean
  /** Fetches again now. */
  refresh: () => void
  /** Replaces the data (after a write that returned the new value). */
  setData: (d: T) => void
}

/**
 * Fetches with fetcher now and every intervalMs, paused while the tab is
 * hidden. deps name the resource: when they change the data resets.
 */
export function usePolling<T>(fetcher: (signal: AbortSignal) => Promise<T>, intervalMs: number, deps: unknown[]): Polled<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({
    data: undefined,
    error: undefined,
    loading: true,
  })
  const fetcherRef = useRef(fetcher)
  fetcherRef.current = fetcher
  const pollerRef = useRef<Poller | null>(null)

  useEffect(() => {
    setState({ data: undefined, error: undefined, loading: true })
    const ctl = new AbortController()
    const poller = new Poller({
      interval: intervalMs,
      run: async () => {
        try {
          const data = await fetcherRef.current(ctl.signal)
          if (!ctl.signal.aborted) setState({ data, error: undefined, loading: false })
        } catch (error) {
          if (!ctl.signal.aborted) setState((s) => ({ ...s, error, loading: false }))
        }
      },
    })
    pollerRef.current = poller
    poller.start()
    return () => {
      poller.stop()
      ctl.abort()
      pollerRef.current = null
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [intervalMs, ...deps])

  const refresh = useCallback(() => pollerRef.current?.poke(), [])
  const setData = useCallback((data: T) => setState({ data, error: undefined, loading: false }), [])
  return { ...state, refresh, setData }
}

/** Fetches once per deps change (no interval); refresh fetches again. */
export function useFetch<T>(fetcher: (signal: AbortSignal) => Promise<T>, deps: unknown[]): Polled<T> {
  return usePolling(fetcher, 1 << 30, deps)
}
