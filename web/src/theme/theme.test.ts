import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import themeScript from '../../public/theme.js?raw'
import { THEME_KEY, applyTheme, readThemePref, resolveTheme, setThemePref } from './theme'

let systemDark = false
beforeEach(() => {
  localStorage.clear()
  document.documentElement.removeAttribute('data-theme')
  systemDark = false
  window.matchMedia = ((q: string) => ({
    matches: q.includes('dark') && systemDark,
    media: q,
    addEventListener: () => {},
    removeEventListener: () => {},
  })) as unknown as typeof window.matchMedia
})
afterEach(() => localStorage.clear())

/** Runs public/theme.js as the browser does before first paint. */
function runNoFlashScript() {
  document.documentElement.removeAttribute('data-theme')
  new Function(themeScript)()
  return document.documentElement.getAttribute('data-theme')
}

describe('theme', () => {
  it('follows the system by default', () => {
    expect(readThemePref()).toBe('system')
    systemDark = true
    expect(resolveTheme('system')).toBe('dark')
    applyTheme()
    expect(document.documentElement.dataset.theme).toBe('dark')
  })

  it('remembers an explicit choice and applies it', () => {
    setThemePref('dark')
    expect(localStorage.getItem(THEME_KEY)).toBe('dark')
    expect(document.documentElement.dataset.theme).toBe('dark')
    expect(readThemePref()).toBe('dark')
    setThemePref('light')
    expect(localStorage.getItem(THEME_KEY)).toBe('light')
    expect(document.documentElement.dataset.theme).toBe('light')
  })

  it('forgets the choice when going back to system', () => {
    setThemePref('dark')
    setThemePref('system')
    expect(localStorage.getItem(THEME_KEY)).toBeNull()
    expect(document.documentElement.dataset.theme).toBe('light')
  })

  it('ignores a garbage stored value', () => {
    localStorage.setItem(THEME_KEY, 'purple')
    expect(readThemePref()).toBe('system')
  })

  it('the pre-paint script applies the same theme the app would (no flash)', () => {
    for (const [stored, sys, want] of [
      ['dark', false, 'dark'],
      ['light', true, 'light'],
      [null, true, 'dark'],
      [null, false, 'light'],
    ] as const) {
      localStorage.clear()
      if (stored) localStorage.setItem(THEME_KEY, stored)
      systemDark = sys
      expect(runNoFlashScript()).toBe(want)
      applyTheme()
      expect(document.documentElement.dataset.theme).toBe(want)
    }
  })
})
