import type { App, Deployment, Worker } from '../api/types'
import { seg } from '../api/client'
import { StatusBadge } from '../components/StatusBadge'
import { EmptyState, ErrorState, Loading } from '../components/States'
import { usePolling } from '../hooks/usePolling'
import { roleAtLeast } from '../me/bus'
import { useApi, useSignedIn } from '../me/context'
import { formatRelative, shortCommit } from '../format'
import { Link } from '../router'

export default function Apps() {
  const me = useSignedIn()
  const api = useApi()
  const apps = usePolling((signal) => api.get<App[]>('/v1/apps?team=' + seg(me.team.id), signal), 5000, [me.team.id])
  const names = (apps.data ?? []).slice(0, 50).map((a) => a.name)
  const last = usePolling(
    async (signal) => {
      const pairs = await Promise.all(
        names.map((n) =>
          api
            .get<Deployment[]>(`/v1/apps/${seg(n)}/deployments?limit=1`, signal)
            .then((d) => [n, d[0]] as const)
            .catch(() => [n, undefined] as const),
        ),
      )
      return Object.fromEntries(pairs) as Record<string, Deployment | undefined>
    },
    15000,
    [names.join(',')],
  )
  const workers = usePolling((signal) => (me.isInstanceAdmin ? api.get<Worker[]>('/v1/workers', signal) : Promise.resolve([])), 30000, [me.isInstanceAdmin])
  const workerName = (id?: number) => {
    if (!id) return '—'
    return workers.data?.find((w) => w.id === id)?.name ?? `#${id}`
  }
  const canCreate = roleAtLeast(me.role, 'member')

  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Apps</h1>
          <p className="muted">{me.team.name}</p>
        </div>
        {canCreate && (
          <Link to="/apps/new" className="btn btn-primary">
            New app
          </Link>
        )}
      </div>
      {apps.loading ? (
        <Loading label="Loading apps…" />
      ) : apps.error && !apps.data ? (
        <ErrorState error={apps.error} onRetry={apps.refresh} />
      ) : !apps.data?.length ? (
        <EmptyState
          title="No apps yet"
          action={
            canCreate ? (
              <Link to="/apps/new" className="btn btn-primary">
                Create your first app
              </Link>
            ) : undefined
          }
        >
          An app is a git repository with a Dockerfile (or Go, Node.js, Python or static files). Create one, deploy it, and it answers at its own address.
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="table table-stack" aria-label="Apps">
            <thead>
              <tr>
                <th scope="col">App</th>
                <th scope="col">Status</th>
                <th scope="col">URL</th>
                <th scope="col">Last deploy</th>
                <th scope="col">Worker</th>
              </tr>
            </thead>
            <tbody>
              {apps.data.map((a) => {
                const d = last.data?.[a.name]
                return (
                  <tr key={a.id}>
                    <td data-label="App">
                      <div className="cell">
                        <Link to={`/apps/${seg(a.name)}`} className="strong">
                          {a.name}
                        </Link>
                        <div className="muted small ellipsis" title={a.repo_url}>
                          {a.repo_url.replace(/^https?:\/\//, '')} · {a.branch}
                        </div>
                      </div>
                    </td>
                    <td data-label="Status">
                      <StatusBadge status={a.suspended ? 'suspended' : a.status} title={a.status_message} />
                    </td>
                    <td data-label="URL" className="ellipsis">
                      <a href={a.url} target="_blank" rel="noreferrer">
                        {a.url.replace(/^https?:\/\//, '')}
                      </a>
                    </td>
                    <td data-label="Last deploy">
                      {d ? (
                        <Link to={`/apps/${seg(a.name)}/deployments/${seg(d.id)}`} className="plain">
                          <span title={d.created_at}>{formatRelative(d.created_at)}</span>
                          <span className="muted small"> · {shortCommit(d.commit)}</span>
                          {d.status !== 'running' && (
                            <>
                              {' '}
                              <StatusBadge status={d.status} />
                            </>
                          )}
                        </Link>
                      ) : (
                        <span className="muted">{last.loading ? '…' : 'Never'}</span>
                      )}
                    </td>
                    <td data-label="Worker">{workerName(a.worker_id)}</td>
                  </tr>
                )
              })}
            </tbody>
          </table>
        </div>
      )}
    </div>
  )
}
