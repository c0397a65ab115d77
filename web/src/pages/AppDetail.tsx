import type { App, Deployment } from '../api/types'
import { seg } from '../api/client'
import { StatusBadge } from '../components/StatusBadge'
import { ErrorState, Loading } from '../components/States'
import { usePolling } from '../hooks/usePolling'
import { useApi, useSignedIn } from '../me/context'
import { Link, type PageProps } from '../router'
import Overview from './app/Overview'
import Deployments from './app/Deployments'
import Logs from './app/Logs'
import Metrics from './app/Metrics'
import Settings from './app/Settings'
import type { Role } from '../api/types'

const tabs = [
  { id: 'overview', label: 'Overview' },
  { id: 'deployments', label: 'Deployments' },
  { id: 'logs', label: 'Logs' },
  { id: 'metrics', label: 'Metrics' },
  { id: 'settings', label: 'Settings' },
] as const

export interface AppTabProps {
  app: App
  role: Role
  /** Fetch the app again now (after a write). */
  refresh: () => void
  setApp: (a: App) => void
  deployment?: string
}

export default function AppDetail({ params }: PageProps) {
  const api = useApi()
  const me = useSignedIn()
  const name = params.app
  const tab = params.deployment ? 'deployments' : (params.tab ?? 'overview')
  const app = usePolling((signal) => api.get<App>('/v1/apps/' + seg(name), signal), 4000, [name])
  // The newest deployment, to say "Deploying" next to the status while one runs.
  const latest = usePolling((signal) => api.get<Deployment[]>(`/v1/apps/${seg(name)}/deployments?limit=1`, signal), 4000, [name])
  const running = latest.data?.[0] && ['queued', 'building', 'starting'].includes(latest.data[0].status) ? latest.data[0] : undefined

  if (app.loading) return <Loading label="Loading app…" />
  if (!app.data) return <ErrorState error={app.error} onRetry={app.refresh} />
  const a = app.data
  const role = (me.teams.find((t) => t.id === a.team_id)?.role ?? 'viewer') as Role
  const team = me.teams.find((t) => t.id === a.team_id)
  const known = tabs.some((t) => t.id === tab)
  const props: AppTabProps = { app: a, role, refresh: app.refresh, setApp: app.setData, deployment: params.deployment }

  return (
    <div className="page">
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link to="/apps">Apps</Link> / <span>{a.name}</span>
      </nav>
      <div className="page-head">
        <div className="app-title">
          <h1>{a.name}</h1>
          <StatusBadge status={a.suspended ? 'suspended' : a.status} title={a.status_message} />
          {running && (
            <Link to={`/apps/${seg(a.name)}/deployments/${seg(running.id)}`} className="plain" title="A deployment is in progress: see its build log">
              <StatusBadge status="deploying" />
            </Link>
          )}
        </div>
        <div className="app-links">
          <a href={a.url} target="_blank" rel="noreferrer" className="btn">
            Open {a.url.replace(/^https?:\/\//, '')}
          </a>
        </div>
      </div>
      <p className="muted small app-sub">
        {team ? team.name + ' · ' : ''}
        {a.repo_url.replace(/^https?:\/\//, '')} · {a.branch}
      </p>
      {app.error ? (
        <div className="form-error" role="alert">
          Lost contact with the server; showing what was last known. Retrying…
        </div>
      ) : null}
      <nav className="tabs" aria-label="App sections">
        {tabs.map((t) => (
          <Link
            key={t.id}
            to={`/apps/${seg(a.name)}${t.id === 'overview' ? '' : '/' + t.id}`}
            className={'tab' + (tab === t.id ? ' tab-on' : '')}
            aria-current={tab === t.id ? 'page' : undefined}
          >
            {t.label}
          </Link>
        ))}
      </nav>
      <div className="tab-panel">
        {tab === 'overview' && <Overview {...props} />}
        {tab === 'deployments' && <Deployments {...props} />}
        {tab === 'logs' && <Logs {...props} />}
        {tab === 'metrics' && <Metrics {...props} />}
        {tab === 'settings' && <Settings {...props} />}
        {!known && <ErrorState error={new Error(`There is no “${tab}” section.`)} title="Not found" />}
      </div>
    </div>
  )
}
