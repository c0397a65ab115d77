import { useState } from 'react'
import type { Deployment, Violation } from '../../api/types'
import { seg } from '../../api/client'
import { ConfirmDialog } from '../../components/ConfirmDialog'
import { StatusBadge } from '../../components/StatusBadge'
import { toast } from '../../components/Toasts'
import { formatBits, formatBytes, formatCores, formatRelative, shortCommit } from '../../format'
import { useAction } from '../../hooks/useAction'
import { usePolling } from '../../hooks/usePolling'
import { roleAtLeast } from '../../me/bus'
import { useApi } from '../../me/context'
import { Link, navigate } from '../../router'
import type { AppTabProps } from '../AppDetail'
import { deploy, restart, rollback, stop } from './actions'

export default function Overview({ app, role, refresh }: AppTabProps) {
  const api = useApi()
  const { busy, run } = useAction()
  const [confirm, setConfirm] = useState<null | 'stop' | 'rollback'>(null)
  const deps = usePolling((signal) => api.get<Deployment[]>(`/v1/apps/${seg(app.name)}/deployments?limit=5`, signal), 5000, [app.name])
  const violations = usePolling((signal) => api.get<Violation[]>(`/v1/apps/${seg(app.name)}/violations`, signal), 30000, [app.name])
  const current = deps.data?.find((d) => d.id === app.current_deployment_id)
  const inProgress = deps.data?.find((d) => ['queued', 'building', 'starting'].includes(d.status))
  const canWrite = roleAtLeast(role, 'member')
  const deployed = app.status !== 'created' && !!app.current_deployment_id
  const why = !canWrite ? `Your role (${role}) can only look; deploying needs member or higher.` : undefined

  const onDeploy = () =>
    run('deploy', async () => {
      const d = await deploy(api, app.name)
      toast.success('Deployment started')
      navigate(`/apps/${seg(app.name)}/deployments/${seg(d.id)}`)
    })

  return (
    <div className="stack">
      <div className="actions" role="group" aria-label="App actions">
        <button type="button" className="btn btn-primary" disabled={!canWrite || busy !== null} title={why} onClick={() => void onDeploy()}>
          {busy === 'deploy' ? 'Starting…' : 'Deploy'}
        </button>
        <button
          type="button"
          className="btn"
          disabled={!canWrite || !deployed || busy !== null}
          title={why ?? (!deployed ? 'Deploy the app first' : undefined)}
          onClick={() => void run('restart', () => restart(api, app.name).then(refresh), 'Restart requested')}
        >
          {busy === 'restart' ? 'Restarting…' : 'Restart'}
        </button>
        <button type="button" className="btn" disabled={!canWrite || !deployed || busy !== null} title={why} onClick={() => setConfirm('stop')}>
          Stop
        </button>
        <button type="button" className="btn" disabled={!canWrite || !deployed || busy !== null} title={why} onClick={() => setConfirm('rollback')}>
          Roll back
        </button>
      </div>

      {inProgress && (
        <div className="notice">
          <StatusBadge status={inProgress.status} /> A deployment is in progress.{' '}
          <Link to={`/apps/${seg(app.name)}/deployments/${seg(inProgress.id)}`}>Watch its build log</Link>
        </div>
      )}

      <div className="cards">
        <section className="card stat-card">
          <h2>Status</h2>
          <div className="stat-main">
            <StatusBadge status={app.suspended ? 'suspended' : app.status} />
          </div>
          <p className="muted small">{app.status_message || `Updated ${formatRelative(app.updated_at)}`}</p>
        </section>
        <section className="card stat-card">
          <h2>URL</h2>
          <div className="stat-main ellipsis">
            <a href={app.url} target="_blank" rel="noreferrer" data-testid="app-url">
              {app.url}
            </a>
          </div>
          <p className="muted small">Port {app.port} inside the container</p>
        </section>
        <section className="card stat-card">
          <h2>Current deployment</h2>
          {current ? (
            <>
              <div className="stat-main">
                <Link to={`/apps/${seg(app.name)}/deployments/${seg(current.id)}`} className="mono">
                  {shortCommit(current.commit)}
                </Link>{' '}
                <span className="muted small">{current.trigger}</span>
              </div>
              <p className="muted small ellipsis" title={current.message}>
                {current.message ? current.message + ' · ' : ''}
                {formatRelative(current.finished_at || current.created_at)}
              </p>
            </>
          ) : (
            <p className="muted">{deployed ? '…' : 'Not deployed yet.'}</p>
          )}
        </section>
        <section className="card stat-card">
          <h2>Resources</h2>
          <div className="stat-main">
            {formatBytes(app.limits.memory_bytes)} · {formatCores(app.limits.cpu_millis)}
          </div>
          <p className="muted small">
            {app.limits.disk_bytes ? `Disk ${formatBytes(app.limits.disk_bytes)} · ` : ''}
            {app.limits.bandwidth_bps ? `Bandwidth ${formatBits(app.limits.bandwidth_bps)} · ` : ''}
            {app.worker_id ? `Worker #${app.worker_id}` : 'No worker yet'}
          </p>
        </section>
      </div>

      <section className="card">
        <div className="card-head">
          <h2>Recent deployments</h2>
          <Link to={`/apps/${seg(app.name)}/deployments`}>All deployments</Link>
        </div>
        {!deps.data?.length ? (
          <p className="muted">{deps.loading ? 'Loading…' : 'No deployments yet. Press Deploy to build and start the app.'}</p>
        ) : (
          <ul className="list">
            {deps.data.slice(0, 3).map((d) => (
              <li key={d.id} className="list-row">
                <StatusBadge status={d.status} />
                <Link to={`/apps/${seg(app.name)}/deployments/${seg(d.id)}`} className="mono">
                  {shortCommit(d.commit)}
                </Link>
                <span className="muted small ellipsis grow">{d.message || d.trigger}</span>
                <span className="muted small">{formatRelative(d.created_at)}</span>
              </li>
            ))}
          </ul>
        )}
      </section>

      {violations.data && violations.data.length > 0 && (
        <section className="card">
          <h2>Events</h2>
          <ul className="list">
            {violations.data.slice(0, 10).map((v, i) => (
              <li key={i} className="list-row">
                <span className="badge badge-bad">{v.kind.replace(/_/g, ' ')}</span>
                <span className="grow">
                  {v.message}
                  {v.action ? <span className="muted"> — {v.action}</span> : null}
                </span>
                <span className="muted small">{formatRelative(v.at)}</span>
              </li>
            ))}
          </ul>
        </section>
      )}

      {confirm === 'stop' && (
        <ConfirmDialog
          title={`Stop ${app.name}?`}
          confirmLabel="Stop app"
          danger
          onClose={() => setConfirm(null)}
          onConfirm={async () => {
            await stop(api, app.name)
            toast.success('Stop requested')
            refresh()
          }}
        >
          Visitors will see “This app is not running” until you restart or deploy it.
        </ConfirmDialog>
      )}
      {confirm === 'rollback' && (
        <ConfirmDialog
          title={`Roll ${app.name} back?`}
          confirmLabel="Roll back"
          onClose={() => setConfirm(null)}
          onConfirm={async () => {
            const d = await rollback(api, app.name)
            toast.success('Rolling back to ' + shortCommit(d.commit))
            navigate(`/apps/${seg(app.name)}/deployments/${seg(d.id)}`)
          }}
        >
          The version that ran before the current one starts again from its image — no build — with the app’s current settings. Traffic moves once it
          answers.
        </ConfirmDialog>
      )}
    </div>
  )
}
