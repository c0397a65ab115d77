import { useEffect, useId, useRef, useState, type KeyboardEvent, type ReactNode } from 'react'
import { errorMessage } from '../api/client'

export interface ConfirmProps {
  title: string
  children?: ReactNode
  confirmLabel: string
  danger?: boolean
  /** When set, the person must type this (e.g. the app's name) to confirm. */
  requireText?: string
  /** Runs the action; a thrown error is shown in the dialog, which stays open. */
  onConfirm: () => Promise<unknown> | unknown
  onClose: () => void
}

/**
 * A modal confirmation: focus moves into it and back out, Escape and
 * "Cancel" close it, Tab stays inside, and the action's error is shown
 * right there.
 */
export function ConfirmDialog({ title, children, confirmLabel, danger, requireText, onConfirm, onClose }: ConfirmProps) {
  const id = useId()
  const ref = useRef<HTMLDivElement>(null)
  const [typed, setTyped] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(null)

  useEffect(() => {
    const before = document.activeElement as HTMLElement | null
    const first = ref.current?.querySelector<HTMLElement>('input, button')
    first?.focus()
    return () => before?.focus?.()
  }, [])

  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === 'Escape' && !busy) {
      e.stopPropagation()
      onClose()
    }
    if (e.key === 'Tab' && ref.current) {
      const items = [...ref.current.querySelectorAll<HTMLElement>('input, button:not([disabled])')]
      if (items.length === 0) return
      const first = items[0]
      const last = items[items.length - 1]
      if (e.shiftKey && document.activeElement === first) {
        e.preventDefault()
        last.focus()
      } else if (!e.shiftKey && document.activeElement === last) {
        e.preventDefault()
        first.focus()
      }
    }
  }

  const confirm = async () => {
    setBusy(true)
    setError(null)
    try {
      await onConfirm()
      onClose()
    } catch (err) {
      setError(err)
      setBusy(false)
    }
  }

  const ok = !requireText || typed === requireText
  return (
    <div className="modal-backdrop" onMouseDown={(e) => e.target === e.currentTarget && !busy && onClose()}>
      <div ref={ref} className="modal" role="dialog" aria-modal="true" aria-labelledby={id + '-title'} onKeyDown={onKeyDown}>
        <h2 id={id + '-title'}>{title}</h2>
        {children && <div className="modal-body">{children}</div>}
        {requireText && (
          <div className="field">
            <label htmlFor={id + '-confirm'}>
              Type <code>{requireText}</code> to confirm
            </label>
            <input
              id={id + '-confirm'}
              className="input"
              value={typed}
              autoComplete="off"
              spellCheck={false}
              onChange={(e) => setTyped(e.target.value)}
              onKeyDown={(e) => e.key === 'Enter' && ok && !busy && void confirm()}
            />
          </div>
        )}
        {error ? (
          <div className="form-error" role="alert">
            {errorMessage(error)}
          </div>
        ) : null}
        <div className="modal-actions">
          <button type="button" className="btn" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="button" className={'btn ' + (danger ? 'btn-danger' : 'btn-primary')} disabled={!ok || busy} onClick={() => void confirm()}>
            {busy ? 'Working…' : confirmLabel}
          </button>
        </div>
      </div>
    </div>
  )
}
