// Light, dark, or follow the system; remembered in localStorage and applied
// as <html data-theme>. public/theme.js applies the same choice before the
// first paint (keep the two in step).
import { useSyncExternalStore } from 'react'

export type ThemePref = 'light' | 'dark' | 'system'
export type Theme = 'light' | 'dark'

export const THEME_KEY = 'wh-theme'

const listeners = new Set<() => void>()

export function readThemePref(): ThemePref {
  try {
    const v = localStorage.getItem(THEME_KEY)
    if (v === 'light' || v === 'dark' || v === 'system') return v
  } catch {
    // storage disabled: follow the system
  }
  return 'system'
}

function systemDark(): boolean {
  return typeof window !== 'undefined' && typeof window.matchMedia === 'function' && window.matchMedia('(prefers-color-scheme: dark)').matches
}

export function resolveTheme(pref: ThemePref): Theme {
  if (pref === 'system') return systemDark() ? 'dark' : 'light'
  return pref
}

export function applyTheme(pref: ThemePref = readThemePref()) {
  document.documentElement.setAttribute('data-theme', resolveTheme(pref))
}

export function setThemePref(pref: ThemePref) {
  try {
    if (pref === 'system') localStorage.removeItem(THEME_KEY)
    else localStorage.setItem(THEME_KEY, pref)
  } catch {
    // not remembered, but still applied
  }
  applyTheme(pref)
  for (const fn of [...listeners]) fn()
}

/** Keeps the page in step with the OS setting (while the choice is "system") and other tabs. */
export function watchTheme(): () => void {
  const onStorage = (e: StorageEvent) => {
    if (e.key === THEME_KEY || e.key === null) {
      applyTheme()
      for (const fn of [...listeners]) fn()
    }
  }
  window.addEventListener('storage', onStorage)
  const mq = typeof window.matchMedia === 'function' ? window.matchMedia('(prefers-color-scheme: dark)') : null
  const onChange = () => {
    if (readThemePref() === 'system') {
      applyTheme('system')
      for (const fn of [...listeners]) fn()
    }
  }
  mq?.addEventListener?.('change', onChange)
  return () => {
    window.removeEventListener('storage', onStorage)
    mq?.removeEventListener?.('change', onChange)
  }
}

function subscribe(fn: () => void) {
  listeners.add(fn)
  return () => listeners.delete(fn)
}

/** The remembered choice; re-renders when it changes. */
export function useThemePref(): ThemePref {
  return useSyncExternalStore(subscribe, readThemePref, () => 'system' as ThemePref)
}
