// Every write says how it went: a short note in the corner (announced to
// screen readers), green for done, red with the server's message for a
// refusal.
import { useSyncExternalStore } from 'react'
import { errorMessage } from '../api/client'

export interface Toast {
  id: number
  kind: 'success' | 'error'
  text: string
}

let items: Toast[] = []
let nextId = 1
const listeners = new Set<() => void>()

function emit() {
  for (const fn of [...listeners]) fn()
}

function push(kind: Toast['kind'], text: string) {
  const t = { id: nextId++, kind, text }
  items = [...items.slice(-3), t]
  emit()
  setTimeout(() => dismiss(t.id), kind === 'error' ? 9000 : 4500)
}

export function dismiss(id: number) {
  items = items.filter((t) => t.id !== id)
  emit()
}

export const toast = {
  success: (text: string) => push('success', text),
  error: (err: unknown) => push('error', errorMessage(err)),
}

export function Toasts() {
  const list = useSyncExternalStore(
    (fn) => {
      listeners.add(fn)
      return () => listeners.delete(fn)
    },
    () => items,
    () => items,
  )
  return (
    <div className="toasts" aria-live="polite" aria-relevant="additions">
      {list.map((t) => (
        <div key={t.id} className={'toast toast-' + t.kind} role={t.kind === 'error' ? 'alert' : 'status'}>
          <span>{t.text}</span>
          <button type="button" className="toast-close" aria-label="Dismiss" onClick={() => dismiss(t.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  )
}
