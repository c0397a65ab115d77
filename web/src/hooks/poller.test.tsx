import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { render, act } from '@testing-library/react'
import { Poller } from './poller'
import { usePolling } from './usePolling'

let hidden = false
function setHidden(v: boolean) {
  hidden = v
  document.dispatchEvent(new Event('visibilitychange'))
}

beforeEach(() => {
  vi.useFakeTimers()
  hidden = false
  Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden })
})
afterEach(() => {
  vi.useRealTimers()
})

describe('Poller', () => {
  it('runs at once, then every interval', async () => {
    const run = vi.fn()
    const p = new Poller({ interval: 1000, run })
    p.start()
    await vi.advanceTimersByTimeAsync(0)
    expect(run).toHaveBeenCalledTimes(1)
    await vi.advanceTimersByTimeAsync(1000)
    expect(run).toHaveBeenCalledTimes(2)
    await vi.advanceTimersByTimeAsync(3000)
    expect(run).toHaveBeenCalledTimes(5)
    p.stop()
    await vi.advanceTimersByTimeAsync(5000)
    expect(run).toHaveBeenCalledTimes(5)
  })

  it('pauses while the page is hidden and catches up at once when shown', async () => {
    const run = vi.fn()
    const p = new Poller({ interval: 1000, run })
    p.start()
    await vi.advanceTimersByTimeAsync(0)
    expect(run).toHaveBeenCalledTimes(1)
    setHidden(true)
    expect(p.scheduled).toBe(false)
    await vi.advanceTimersByTimeAsync(10_000)
    expect(run).toHaveBeenCalledTimes(1)
    setHidden(false)
    await vi.advanceTimersByTimeAsync(0)
    expect(run).toHaveBeenCalledTimes(2)
    await vi.advanceTimersByTimeAsync(1000)
    expect(run).toHaveBeenCalledTimes(3)
    p.stop()
  })

  it('does not start while hidden', async () => {
    hidden = true
    const run = vi.fn()
    const p = new Poller({ interval: 1000, run })
    p.start()
    await vi.advanceTimersByTimeAsync(5000)
    expect(run).not.toHaveBeenCalled()
    setHidden(false)
    await vi.advanceTimersByTimeAsync(0)
    expect(run).toHaveBeenCalledTimes(1)
    p.stop()
  })

  it('never overlaps a slow run, and waits the interval after it ends', async () => {
    let active = 0
    let maxActive = 0
    const run = vi.fn(async () => {
      active++
      maxActive = Math.max(maxActive, active)
      await new Promise((r) => setTimeout(r, 2500))
      active--
    })
    const p = new Poller({ interval: 1000, run })
    p.start()
    await vi.advanceTimersByTimeAsync(2500) // first run ends
    expect(run).toHaveBeenCalledTimes(1)
    await vi.advanceTimersByTimeAsync(999)
    expect(run).toHaveBeenCalledTimes(1)
    await vi.advanceTimersByTimeAsync(1)
    expect(run).toHaveBeenCalledTimes(2)
    expect(maxActive).toBe(1)
    p.stop()
  })

  it('keeps polling after a failed run', async () => {
    const run = vi.fn().mockRejectedValueOnce(new Error('down')).mockResolvedValue(undefined)
    const p = new Poller({ interval: 1000, run })
    p.start()
    await vi.advanceTimersByTimeAsync(1000)
    expect(run).toHaveBeenCalledTimes(2)
    p.stop()
  })
})

describe('usePolling', () => {
  function Probe({ fetcher }: { fetcher: () => Promise<number> }) {
    const { data, error } = usePolling(fetcher, 1000, [])
    return <div data-testid="out">{error ? 'error' : data === undefined ? 'loading' : String(data)}</div>
  }

  it('shows fresh data each interval, pauses while hidden, resumes when visible, stops on unmount', async () => {
    let n = 0
    const fetcher = vi.fn(async () => ++n)
    const { getByTestId, unmount } = render(<Probe fetcher={fetcher} />)
    await act(() => vi.advanceTimersByTimeAsync(0))
    expect(getByTestId('out').textContent).toBe('1')
    await act(() => vi.advanceTimersByTimeAsync(1000))
    expect(getByTestId('out').textContent).toBe('2')
    act(() => setHidden(true))
    await act(() => vi.advanceTimersByTimeAsync(10_000))
    expect(fetcher).toHaveBeenCalledTimes(2)
    act(() => setHidden(false))
    await act(() => vi.advanceTimersByTimeAsync(0))
    expect(getByTestId('out').textContent).toBe('3')
    unmount()
    await vi.advanceTimersByTimeAsync(5000)
    expect(fetcher).toHaveBeenCalledTimes(3)
  })

  it('keeps the last data when a poll fails', async () => {
    let n = 0
    const fetcher = vi.fn(async () => {
      n++
      if (n === 2) throw new Error('down')
      return n
    })
    function KeepProbe() {
      const { data, error } = usePolling(fetcher, 1000, [])
      return (
        <div data-testid="out">
          {String(data)}/{error ? 'err' : 'ok'}
        </div>
      )
    }
    const { getByTestId } = render(<KeepProbe />)
    await act(() => vi.advanceTimersByTimeAsync(0))
    expect(getByTestId('out').textContent).toBe('1/ok')
    await act(() => vi.advanceTimersByTimeAsync(1000))
    expect(getByTestId('out').textContent).toBe('1/err')
    await act(() => vi.advanceTimersByTimeAsync(1000))
    expect(getByTestId('out').textContent).toBe('3/ok')
  })
})
