import { useState, type FormEvent } from 'react'
import type { ApiToken } from '../api/types'
import { seg } from '../api/client'
import { ConfirmDialog } from '../components/ConfirmDialog'
import { CopyField } from '../components/CopyField'
import { TextField } from '../components/Field'
import { EmptyState, ErrorState, FormError, Loading } from '../components/States'
import { ThemeSwitch } from '../components/ThemeSwitch'
import { toast } from '../components/Toasts'
import { formatDate, formatRelative } from '../format'
import { useFetch } from '../hooks/usePolling'
import { useApi, useSignedIn } from '../me/context'

export default function Account() {
  const me = useSignedIn()
  const api = useApi()
  const tokens = useFetch((signal) => api.get<ApiToken[]>('/v1/tokens', signal), [])
  const [name, setName] = useState('')
  const [days, setDays] = useState('')
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)
  const [created, setCreated] = useState<ApiToken | null>(null)
  const [revoking, setRevoking] = useState<ApiToken | null>(null)

  const create = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      const t = await api.post<ApiToken>('/v1/tokens', { name: name.trim(), ...(Number(days) > 0 ? { expires_in_days: Number(days) } : {}) })
      setCreated(t)
      setName('')
      setDays('')
      toast.success(`Token ${t.name} created`)
      tokens.refresh()
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  const active = (tokens.data ?? []).filter((t) => !t.revoked_at)
  return (
    <div className="page page-narrow">
      <h1>Account</h1>
      <section className="card">
        <h2>Profile</h2>
        <dl className="facts">
          <div>
            <dt>Name</dt>
            <dd>{me.user.name || '—'}</dd>
          </div>
          <div>
            <dt>Email</dt>
            <dd>{me.user.email}</dd>
          </div>
          <div>
            <dt>Instance role</dt>
            <dd>{me.user.instance_role || 'user'}</dd>
          </div>
          <div>
            <dt>Member since</dt>
            <dd>{formatDate(me.user.created_at)}</dd>
          </div>
        </dl>
      </section>
      <section className="card">
        <h2>Appearance</h2>
        <ThemeSwitch />
        <p className="muted small">System follows your device’s light or dark setting. The choice is remembered in this browser.</p>
      </section>
      <section className="card">
        <h2>API tokens</h2>
        <p className="muted small">
          For scripts, CI and the CLI (<code>Authorization: Bearer whp_…</code>). A token acts as you, in every team you are in.
        </p>
        {created && (
          <div className="stack-small" data-testid="new-token">
            <div className="notice notice-warn">Copy the token now: it is shown only this once.</div>
            <CopyField label={`Token ${created.name}`} value={created.token ?? ''} />
            <button type="button" className="btn btn-small" onClick={() => setCreated(null)}>
              Done
            </button>
          </div>
        )}
        {tokens.loading ? (
          <Loading />
        ) : tokens.error && !tokens.data ? (
          <ErrorState error={tokens.error} onRetry={tokens.refresh} />
        ) : active.length === 0 ? (
          <EmptyState title="No API tokens" />
        ) : (
          <ul className="list" aria-label="API tokens">
            {active.map((t) => (
              <li key={t.id} className="list-row">
                <span className="strong grow">{t.name}</span>
                <span className="muted small">
                  created {formatRelative(t.created_at)} · {t.last_used_at ? `used ${formatRelative(t.last_used_at)}` : 'never used'}
                  {t.expires_at ? ` · expires ${formatRelative(t.expires_at)}` : ''}
                </span>
                <button type="button" className="btn btn-small" onClick={() => setRevoking(t)}>
                  Revoke
                </button>
              </li>
            ))}
          </ul>
        )}
        <form className="form" onSubmit={(e) => void create(e)}>
          <FormError error={error} />
          <div className="grid-2">
            <TextField label="Token name" name="token_name" placeholder="ci" value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" />
            <TextField label="Expires after (days)" name="expires" type="number" min={1} value={days} onChange={(e) => setDays(e.target.value)} hint="Empty: never." />
          </div>
          <div className="form-actions">
            <button type="submit" className="btn btn-primary" disabled={busy || !name.trim()}>
              {busy ? 'Creating…' : 'Create token'}
            </button>
          </div>
        </form>
      </section>
      {revoking && (
        <ConfirmDialog
          title={`Revoke ${revoking.name}?`}
          confirmLabel="Revoke token"
          danger
          onClose={() => setRevoking(null)}
          onConfirm={async () => {
            await api.del(`/v1/tokens/${seg(revoking.id)}`)
            toast.success(`${revoking.name} revoked`)
            tokens.refresh()
          }}
        >
          Scripts using it stop working at once.
        </ConfirmDialog>
      )}
    </div>
  )
}
