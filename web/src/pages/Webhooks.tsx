import { useState, type FormEvent } from 'react'
import type { Delivery, Webhook } from '../api/types'
import { seg } from '../api/client'
import { ConfirmDialog } from '../components/ConfirmDialog'
import { CopyField } from '../components/CopyField'
import { TextField } from '../components/Field'
import { StatusBadge } from '../components/StatusBadge'
import { EmptyState, ErrorState, FormError, Loading } from '../components/States'
import { toast } from '../components/Toasts'
import { formatDate, formatRelative } from '../format'
import { useFetch, usePolling } from '../hooks/usePolling'
import { roleAtLeast } from '../me/bus'
import { useApi, useSignedIn } from '../me/context'

const EVENTS = [
  { value: 'deployment.succeeded', help: 'a deployment is live' },
  { value: 'deployment.failed', help: 'a deployment failed' },
  { value: 'app.crashed', help: 'an app crashed' },
  { value: 'app.stopped', help: 'an app was stopped' },
  { value: 'violation', help: 'an app hit a limit (memory, disk, crash loop)' },
]

export default function Webhooks() {
  const me = useSignedIn()
  const api = useApi()
  const team = me.team
  const canList = roleAtLeast(me.role, 'member')
  const isAdmin = roleAtLeast(me.role, 'admin')
  const hooks = useFetch((signal) => (canList ? api.get<Webhook[]>(`/v1/teams/${seg(team.id)}/webhooks`, signal) : Promise.resolve([])), [team.id, canList])
  const [open, setOpen] = useState<string | null>(null)
  const [created, setCreated] = useState<Webhook | null>(null)
  const [removing, setRemoving] = useState<Webhook | null>(null)

  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Webhooks</h1>
          <p className="muted">{team.name}: signed HTTP POSTs to your services when something happens to this team’s apps.</p>
        </div>
      </div>
      {!canList ? (
        <p>Webhooks are visible to members and above; your role is {me.role}.</p>
      ) : hooks.loading ? (
        <Loading />
      ) : hooks.error && !hooks.data ? (
        <ErrorState error={hooks.error} onRetry={hooks.refresh} />
      ) : !hooks.data?.length ? (
        <EmptyState title="No webhooks yet">Add one below to hear about deployments, crashes and limits.</EmptyState>
      ) : (
        <ul className="stack" aria-label="Webhooks">
          {hooks.data.map((h) => (
            <li key={h.id} className="card">
              <div className="card-head">
                <div className="ellipsis">
                  <strong className="mono">{h.url}</strong>
                  <div className="muted small">
                    {h.events.includes('*') ? 'All events' : h.events.join(', ')} · added {formatRelative(h.created_at)}
                  </div>
                </div>
                <div className="row-actions">
                  <StatusBadge status={h.active ? 'active' : 'inactive'} />
                  <button type="button" className="btn btn-small" aria-expanded={open === h.id} onClick={() => setOpen(open === h.id ? null : h.id)}>
                    {open === h.id ? 'Hide deliveries' : 'Deliveries'}
                  </button>
                  {isAdmin && (
                    <button type="button" className="btn btn-small" onClick={() => setRemoving(h)}>
                      Delete
                    </button>
                  )}
                </div>
              </div>
              {open === h.id && <Deliveries teamId={team.id} hookId={h.id} />}
            </li>
          ))}
        </ul>
      )}
      {created && (
        <section className="card" data-testid="new-webhook-secret">
          <div className="notice notice-warn">Copy the signing secret now: it is shown only this once.</div>
          <CopyField label="Signing secret" value={created.secret ?? ''} />
          <p className="muted small">
            Each request carries <code>X-WiseHosting-Signature: sha256=HMAC(secret, timestamp + "." + body)</code> and <code>X-WiseHosting-Timestamp</code>.
          </p>
          <button type="button" className="btn btn-small" onClick={() => setCreated(null)}>
            Done
          </button>
        </section>
      )}
      {isAdmin && (
        <NewWebhook
          teamId={team.id}
          onCreated={(h) => {
            setCreated(h)
            hooks.refresh()
          }}
        />
      )}
      {removing && (
        <ConfirmDialog
          title="Delete this webhook?"
          confirmLabel="Delete webhook"
          danger
          onClose={() => setRemoving(null)}
          onConfirm={async () => {
            await api.del(`/v1/teams/${seg(team.id)}/webhooks/${seg(removing.id)}`)
            toast.success('Webhook deleted')
            hooks.refresh()
          }}
        >
          {removing.url} gets no more deliveries, including pending retries.
        </ConfirmDialog>
      )}
    </div>
  )
}

function Deliveries({ teamId, hookId }: { teamId: string; hookId: string }) {
  const api = useApi()
  const list = usePolling((signal) => api.get<Delivery[]>(`/v1/teams/${seg(teamId)}/webhooks/${seg(hookId)}/deliveries`, signal), 10000, [teamId, hookId])
  if (list.loading) return <Loading />
  if (list.error && !list.data) return <ErrorState error={list.error} onRetry={list.refresh} />
  if (!list.data?.length) return <p className="muted">No deliveries yet.</p>
  return (
    <div className="table-wrap">
      <table className="table table-stack" aria-label="Delivery log">
        <thead>
          <tr>
            <th scope="col">Event</th>
            <th scope="col">State</th>
            <th scope="col">Attempts</th>
            <th scope="col">Answer</th>
            <th scope="col">When</th>
          </tr>
        </thead>
        <tbody>
          {list.data.map((d) => (
            <tr key={d.id}>
              <td data-label="Event" className="mono">
                {d.event}
              </td>
              <td data-label="State">
                <StatusBadge status={d.state} />
              </td>
              <td data-label="Attempts">{d.attempts}</td>
              <td data-label="Answer" className="ellipsis" title={d.error}>
                {d.status_code ? `HTTP ${d.status_code}` : ''}
                {d.error ? <span className="muted"> {d.error}</span> : null}
                {!d.status_code && !d.error ? '—' : null}
              </td>
              <td data-label="When" title={formatDate(d.created_at)}>
                <div className="cell">
                  {formatRelative(d.delivered_at || d.created_at)}
                  {d.next_attempt_at && d.state === 'pending' ? <div className="muted small">next try {formatRelative(d.next_attempt_at)}</div> : null}
                </div>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

function NewWebhook({ teamId, onCreated }: { teamId: string; onCreated: (h: Webhook) => void }) {
  const api = useApi()
  const [url, setUrl] = useState('')
  const [all, setAll] = useState(true)
  const [events, setEvents] = useState<string[]>(['deployment.succeeded', 'deployment.failed'])
  const [secret, setSecret] = useState('')
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      const h = await api.post<Webhook>(`/v1/teams/${seg(teamId)}/webhooks`, {
        url: url.trim(),
        events: all ? ['*'] : events,
        ...(secret ? { secret } : {}),
      })
      toast.success('Webhook added')
      setUrl('')
      setSecret('')
      onCreated(h)
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return (
    <section className="card">
      <h2>Add a webhook</h2>
      <form className="form" onSubmit={(e) => void submit(e)}>
        <FormError error={error} />
        <TextField label="Payload URL" name="webhook_url" type="url" placeholder="https://example.com/hooks/wisehosting" value={url} onChange={(e) => setUrl(e.target.value)} />
        <fieldset className="checks">
          <legend>Events</legend>
          <label className="check">
            <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} /> All events
          </label>
          {!all &&
            EVENTS.map((ev) => (
              <label key={ev.value} className="check">
                <input
                  type="checkbox"
                  checked={events.includes(ev.value)}
                  onChange={(e) => setEvents(e.target.checked ? [...events, ev.value] : events.filter((x) => x !== ev.value))}
                />{' '}
                <code>{ev.value}</code> <span className="muted small">— {ev.help}</span>
              </label>
            ))}
        </fieldset>
        <TextField
          label="Signing secret"
          name="webhook_secret"
          type="password"
          autoComplete="off"
          value={secret}
          onChange={(e) => setSecret(e.target.value)}
          hint="Optional: leave empty and one is generated (shown once)."
        />
        <div className="form-actions">
          <button type="submit" className="btn btn-primary" disabled={busy || !url.trim() || (!all && events.length === 0)}>
            {busy ? 'Adding…' : 'Add webhook'}
          </button>
        </div>
      </form>
    </section>
  )
}
