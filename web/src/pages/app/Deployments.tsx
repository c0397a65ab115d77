import { useState } from 'react'
import type { Deployment } from '../../api/types'
import { seg } from '../../api/client'
import { ConfirmDialog } from '../../components/ConfirmDialog'
import { StatusBadge } from '../../components/StatusBadge'
import { EmptyState, ErrorState, Loading } from '../../components/States'
import { toast } from '../../components/Toasts'
import { formatDate, formatDuration, formatRelative, shortCommit, shortId } from '../../format'
import { useFetch, usePolling } from '../../hooks/usePolling'
import { roleAtLeast } from '../../me/bus'
import { useApi } from '../../me/context'
import { Link, navigate } from '../../router'
import type { AppTabProps } from '../AppDetail'
import { BuildLog } from './BuildLog'
import { rollback } from './actions'

function duration(d: Deployment) {
  if (!d.started_at) return '—'
  const end = d.finished_at ? Date.parse(d.finished_at) : Date.now()
  return formatDuration(end - Date.parse(d.started_at))
}

export default function Deployments({ app, role, refresh, deployment }: AppTabProps) {
  const api = useApi()
  const list = usePolling((signal) => api.get<Deployment[]>(`/v1/apps/${seg(app.name)}/deployments?limit=50`, signal), 5000, [app.name])
  const [target, setTarget] = useState<Deployment | null>(null)
  const canWrite = roleAtLeast(role, 'member')

  if (deployment) return <DeploymentView app={app.name} id={deployment} onFinished={() => (refresh(), list.refresh())} />

  return (
    <div className="stack">
      {list.loading ? (
        <Loading label="Loading deployments…" />
      ) : list.error && !list.data ? (
        <ErrorState error={list.error} onRetry={list.refresh} />
      ) : !list.data?.length ? (
        <EmptyState title="No deployments yet">Deploy from the Overview tab; each deployment keeps its build log here.</EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="table table-stack" aria-label="Deployments">
            <thead>
              <tr>
                <th scope="col">Status</th>
                <th scope="col">Commit</th>
                <th scope="col">Trigger</th>
                <th scope="col">Started</th>
                <th scope="col">Duration</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((d) => (
                <tr key={d.id}>
                  <td data-label="Status">
                    <StatusBadge status={d.status} />
                    {d.id === app.current_deployment_id && <span className="pill">current</span>}
                  </td>
                  <td data-label="Commit">
                    <div className="cell">
                      <Link to={`/apps/${seg(app.name)}/deployments/${seg(d.id)}`} className="mono">
                        {shortCommit(d.commit)}
                      </Link>
                      {d.message && <div className="muted small ellipsis">{d.message}</div>}
                    </div>
                  </td>
                  <td data-label="Trigger">{d.trigger}</td>
                  <td data-label="Started" title={formatDate(d.created_at)}>
                    {formatRelative(d.created_at)}
                  </td>
                  <td data-label="Duration">{duration(d)}</td>
                  <td data-label="" className="row-actions">
                    <Link to={`/apps/${seg(app.name)}/deployments/${seg(d.id)}`} className="btn btn-small">
                      Build log
                    </Link>
                    {canWrite && d.status === 'running' && d.id !== app.current_deployment_id && d.image_id && (
                      <button type="button" className="btn btn-small" onClick={() => setTarget(d)}>
                        Roll back to this
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {target && (
        <ConfirmDialog
          title={`Roll back to ${shortCommit(target.commit)}?`}
          confirmLabel="Roll back"
          onClose={() => setTarget(null)}
          onConfirm={async () => {
            const d = await rollback(api, app.name, target.id)
            toast.success('Rolling back to ' + shortCommit(d.commit))
            navigate(`/apps/${seg(app.name)}/deployments/${seg(d.id)}`)
          }}
        >
          Deployment {shortId(target.id)} from {formatDate(target.created_at)} runs again from its image, with the app’s current settings.
        </ConfirmDialog>
      )}
    </div>
  )
}

function DeploymentView({ app, id, onFinished }: { app: string; id: string; onFinished: () => void }) {
  const api = useApi()
  const dep = useFetch((signal) => api.get<Deployment>(`/v1/deployments/${seg(id)}`, signal), [id])
  const d = dep.data
  return (
    <div className="stack">
      <p>
        <Link to={`/apps/${seg(app)}/deployments`}>← All deployments</Link>
      </p>
      {dep.error && !d ? (
        <ErrorState error={dep.error} onRetry={dep.refresh} />
      ) : (
        <section className="card">
          <h2>
            Deployment <span className="mono">{shortId(id)}</span>
          </h2>
          {d && (
            <dl className="facts">
              <div>
                <dt>Commit</dt>
                <dd className="mono">{shortCommit(d.commit)}</dd>
              </div>
              <div>
                <dt>Branch</dt>
                <dd>{d.branch || '—'}</dd>
              </div>
              <div>
                <dt>Trigger</dt>
                <dd>{d.trigger}</dd>
              </div>
              <div>
                <dt>Started</dt>
                <dd>{formatDate(d.created_at)}</dd>
              </div>
              {d.message && (
                <div className="facts-wide">
                  <dt>Message</dt>
                  <dd>{d.message}</dd>
                </div>
              )}
            </dl>
          )}
          <BuildLog
            deploymentId={id}
            onStatus={(s) => {
              if (['running', 'failed'].includes(s)) {
                onFinished()
                dep.refresh()
              }
            }}
          />
        </section>
      )}
    </div>
  )
}
