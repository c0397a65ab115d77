import type { ReactNode } from 'react'
import { ApiError, errorMessage } from '../api/client'

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <div className="state state-loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      <span>{label}</span>
    </div>
  )
}

export function ErrorState({ error, onRetry, title }: { error: unknown; onRetry?: () => void; title?: string }) {
  const notFound = error instanceof ApiError && error.status === 404
  return (
    <div className="state state-error" role="alert">
      <strong>{title ?? (notFound ? 'Not found' : 'Something went wrong')}</strong>
      <p>{notFound ? 'It does not exist, or it belongs to a team you are not in.' : errorMessage(error)}</p>
      {onRetry && !notFound && (
        <button type="button" className="btn" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  )
}

export function EmptyState({ title, children, action }: { title: string; children?: ReactNode; action?: ReactNode }) {
  return (
    <div className="state state-empty">
      <strong>{title}</strong>
      {children && <div className="muted">{children}</div>}
      {action && <div className="state-action">{action}</div>}
    </div>
  )
}

/** An error above a form (what the server refused), kept until the next try. */
export function FormError({ error }: { error: unknown }) {
  if (!error) return null
  return (
    <div className="form-error" role="alert">
      {errorMessage(error)}
    </div>
  )
}
