import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { act, fireEvent, render, screen } from '@testing-library/react'
import { LogViewer, type ViewLine } from './LogViewer'

const mk = (n: number, from = 0): ViewLine[] => Array.from({ length: n }, (_, i) => ({ key: from + i, text: `line ${from + i}` }))

// jsdom does no layout: give the log box a fixed size and a height that
// grows with its content.
beforeAll(() => {
  Object.defineProperty(HTMLElement.prototype, 'scrollHeight', {
    configurable: true,
    get() {
      return this.getAttribute('role') === 'log' ? this.querySelectorAll('.logline').length * 20 : 0
    },
  })
  Object.defineProperty(HTMLElement.prototype, 'clientHeight', {
    configurable: true,
    get() {
      return this.getAttribute('role') === 'log' ? 100 : 0
    },
  })
})
afterAll(() => {
  // back to the inherited (Element.prototype) ones
  delete (HTMLElement.prototype as { scrollHeight?: number }).scrollHeight
  delete (HTMLElement.prototype as { clientHeight?: number }).clientHeight
})

const texts = () => [...document.querySelectorAll('.logline-text')].map((e) => e.textContent)

describe('LogViewer', () => {
  it('follows: stays scrolled to the newest line as lines arrive', () => {
    const { rerender } = render(<LogViewer lines={mk(10)} label="log" />)
    const box = screen.getByRole('log')
    expect(box.scrollTop).toBe(200)
    rerender(<LogViewer lines={mk(15)} label="log" />)
    expect(box.scrollTop).toBe(300)
  })

  it('scrolling up stops following; scrolling back to the end resumes', () => {
    const { rerender } = render(<LogViewer lines={mk(10)} label="log" />)
    const box = screen.getByRole('log')
    const follow = screen.getByRole('checkbox', { name: /follow/i }) as HTMLInputElement
    box.scrollTop = 20
    fireEvent.scroll(box)
    expect(follow.checked).toBe(false)
    rerender(<LogViewer lines={mk(20)} label="log" />)
    expect(box.scrollTop).toBe(20) // left where the reader is
    box.scrollTop = 300 // the end: 20 lines × 20 − 100
    fireEvent.scroll(box)
    expect(follow.checked).toBe(true)
    rerender(<LogViewer lines={mk(25)} label="log" />)
    expect(box.scrollTop).toBe(500)
  })

  it('pause holds the view and counts new lines; resume shows them', () => {
    const { rerender } = render(<LogViewer lines={mk(3)} label="log" />)
    fireEvent.click(screen.getByRole('button', { name: 'Pause' }))
    rerender(<LogViewer lines={mk(5)} label="log" />)
    expect(texts()).toEqual(['line 0', 'line 1', 'line 2'])
    const resume = screen.getByRole('button', { name: 'Resume (2 new)' })
    expect(resume.getAttribute('aria-pressed')).toBe('true')
    fireEvent.click(resume)
    expect(texts()).toEqual(['line 0', 'line 1', 'line 2', 'line 3', 'line 4'])
    expect(screen.getByRole('button', { name: 'Pause' }).getAttribute('aria-pressed')).toBe('false')
  })

  it('counts new lines correctly when old ones were dropped from the front', () => {
    const { rerender } = render(<LogViewer lines={mk(5)} label="log" />)
    fireEvent.click(screen.getByRole('button', { name: 'Pause' }))
    rerender(<LogViewer lines={mk(5, 3)} label="log" />) // 3..7: three new
    expect(screen.getByRole('button', { name: 'Resume (3 new)' })).toBeTruthy()
  })

  it('filters lines by text, case-insensitively', () => {
    const lines = [
      { key: 1, text: 'GET /health 200' },
      { key: 2, text: 'ERROR db down' },
      { key: 3, text: 'GET / 200' },
    ]
    render(<LogViewer lines={lines} label="log" />)
    act(() => {
      fireEvent.change(screen.getByRole('searchbox', { name: /filter/i }), { target: { value: 'error' } })
    })
    expect(texts()).toEqual(['ERROR db down'])
    expect(screen.getByText(/1 of 3/)).toBeTruthy()
  })

  it('says so when empty', () => {
    render(<LogViewer lines={[]} label="log" emptyText="Waiting for the worker…" />)
    expect(screen.getByText('Waiting for the worker…')).toBeTruthy()
  })
})
