import { useState, type FormEvent } from 'react'
import type { Worker } from '../api/types'
import { seg } from '../api/client'
import { ConfirmDialog } from '../components/ConfirmDialog'
import { CopyField } from '../components/CopyField'
import { TextField } from '../components/Field'
import { StatusBadge } from '../components/StatusBadge'
import { EmptyState, ErrorState, FormError, Loading } from '../components/States'
import { toast } from '../components/Toasts'
import { formatBytes, formatPercent, formatRelative } from '../format'
import { usePolling } from '../hooks/usePolling'
import { useApi, useSignedIn } from '../me/context'

function Meter({ label, used, total, format }: { label: string; used?: number; total?: number; format: (n: number) => string }) {
  if (!total) return null
  const pct = Math.min(100, Math.max(0, ((used ?? 0) / total) * 100))
  return (
    <div className="meter">
      <div className="meter-head">
        <span>{label}</span>
        <span className="muted small">
          {format(used ?? 0)} / {format(total)}
        </span>
      </div>
      <div className="meter-bar" role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(pct)}>
        <span className={'meter-fill' + (pct > 90 ? ' meter-hot' : pct > 70 ? ' meter-warm' : '')} style={{ width: pct + '%' }} />
      </div>
    </div>
  )
}

export default function Workers() {
  const me = useSignedIn()
  const api = useApi()
  const workers = usePolling((signal) => api.get<Worker[]>('/v1/workers', signal), 10000, [])
  const [name, setName] = useState('')
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)
  const [created, setCreated] = useState<Worker | null>(null)
  const [revoking, setRevoking] = useState<Worker | null>(null)

  if (!me.isInstanceAdmin) {
    return (
      <div className="page">
        <h1>Workers</h1>
        <p>Only the instance owner and instance admins manage workers.</p>
      </div>
    )
  }

  const add = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      const w = await api.post<Worker>('/v1/workers', { name: name.trim() })
      setCreated(w)
      setName('')
      toast.success(`Worker ${w.name} created`)
      workers.refresh()
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  const origin = window.location.origin
  const command = created
    ? `echo '${created.api_key}' > /etc/wisehosting/worker.key && chmod 600 /etc/wisehosting/worker.key\n` +
      `worker-agent --control-plane ${origin} --api-key-file /etc/wisehosting/worker.key \\\n  --name ${created.name} --data-dir /var/lib/wisehosting-worker --address <this server's IP>`
    : ''

  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Workers</h1>
          <p className="muted">The servers that build and run apps.</p>
        </div>
      </div>
      {workers.loading ? (
        <Loading label="Loading workers…" />
      ) : workers.error && !workers.data ? (
        <ErrorState error={workers.error} onRetry={workers.refresh} />
      ) : !workers.data?.length ? (
        <EmptyState title="No workers yet">Add a worker below, then start the agent on the server with the command shown.</EmptyState>
      ) : (
        <div className="worker-grid">
          {workers.data.map((w) => {
            const r = w.resources ?? {}
            return (
              <section key={w.id} className="card worker-card" aria-label={`Worker ${w.name}`}>
                <div className="card-head">
                  <h2>{w.name}</h2>
                  <StatusBadge status={w.draining && w.status === 'online' ? 'draining' : w.status} />
                </div>
                <p className="muted small">
                  {[w.hostname, w.address, w.version && (/^\d/.test(w.version) ? 'v' + w.version : w.version)].filter(Boolean).join(' · ') || 'Never connected'}
                </p>
                {w.status !== 'revoked' && (
                  <div className="stack-small">
                    {r.cpus ? (
                      <Meter label={`CPU (${r.cpus} cores)`} used={r.cpu_percent ?? 0} total={100} format={(n) => (n === 100 ? '100%' : formatPercent(n))} />
                    ) : null}
                    <Meter label="Memory" used={r.memory_used_bytes} total={r.memory_total_bytes ?? w.memory_bytes} format={(n) => formatBytes(n, 1)} />
                    <Meter label="Disk" used={r.disk_used_bytes} total={r.disk_total_bytes} format={(n) => formatBytes(n, 0)} />
                  </div>
                )}
                <p className="muted small">
                  {r.containers !== undefined ? `${r.containers} ${r.containers === 1 ? 'container' : 'containers'} · ` : ''}
                  {w.last_seen_at ? `seen ${formatRelative(w.last_seen_at)}` : 'not seen yet'}
                </p>
                {w.status !== 'revoked' && (
                  <button type="button" className="btn btn-small" onClick={() => setRevoking(w)}>
                    Revoke
                  </button>
                )}
              </section>
            )
          })}
        </div>
      )}

      <section className="card">
        <h2>Add a worker</h2>
        {created ? (
          <div className="stack-small" data-testid="new-worker-key">
            <div className="notice notice-warn">
              Copy the key now: it is shown only this once. Only its hash is kept, so a lost key means revoking the worker and adding it again.
            </div>
            <CopyField label="API key" value={created.api_key ?? ''} />
            <CopyField label="Start the agent on the server (as root, with podman, git, runc and iproute2 installed)" value={command} multiline />
            <button type="button" className="btn" onClick={() => setCreated(null)}>
              Done
            </button>
          </div>
        ) : (
          <form className="form inline-add" onSubmit={(e) => void add(e)}>
            <FormError error={error} />
            <TextField
              label="Name"
              name="worker_name"
              placeholder="server-1"
              value={name}
              onChange={(e) => setName(e.target.value)}
              hint="Lowercase letters, digits and dashes."
              spellCheck={false}
              autoComplete="off"
            />
            <div className="form-actions">
              <button type="submit" className="btn btn-primary" disabled={busy || !name.trim()}>
                {busy ? 'Adding…' : 'Add worker'}
              </button>
            </div>
          </form>
        )}
      </section>

      {revoking && (
        <ConfirmDialog
          title={`Revoke ${revoking.name}?`}
          confirmLabel="Revoke worker"
          danger
          requireText={revoking.name}
          onClose={() => setRevoking(null)}
          onConfirm={async () => {
            await api.del(`/v1/workers/${seg(revoking.id)}`)
            toast.success(`${revoking.name} revoked`)
            workers.refresh()
          }}
        >
          Its key stops working and its connection closes at once. Apps on it keep running but can no longer be deployed or managed.
        </ConfirmDialog>
      )}
    </div>
  )
}
