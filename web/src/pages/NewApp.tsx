import { useState, type FormEvent } from 'react'
import type { App, AppInput, Deployment } from '../api/types'
import { seg } from '../api/client'
import { EnvEditor, envObject, type EnvRow } from '../components/EnvEditor'
import { CheckboxField, SelectField, TextField } from '../components/Field'
import { FormError } from '../components/States'
import { toast } from '../components/Toasts'
import { roleAtLeast } from '../me/bus'
import { useApi, useSignedIn } from '../me/context'
import { Link, navigate } from '../router'
import { LimitFields, limitsFromForm, type LimitForm } from './app/LimitFields'

const NAME_RE = /^[a-z][a-z0-9-]{0,39}$/

export default function NewApp() {
  const me = useSignedIn()
  const api = useApi()
  const teams = me.teams.filter((t) => roleAtLeast(t.role, 'member'))
  const [f, setF] = useState({
    name: '',
    team: teams.some((t) => t.id === me.team.id) ? me.team.id : (teams[0]?.id ?? ''),
    repo_url: '',
    branch: 'main',
    git_token: '',
    dockerfile_path: '',
    port: '8080',
    health_check_path: '',
  })
  const [limits, setLimits] = useState<LimitForm>({ memoryMiB: '512', cpus: '1', diskMiB: '', bandwidthMbit: '' })
  const [env, setEnv] = useState<EnvRow[]>([])
  const [deployNow, setDeployNow] = useState(true)
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)
  const [touched, setTouched] = useState(false)

  const set = (k: keyof typeof f) => (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value })
  const nameError = touched && !NAME_RE.test(f.name) ? 'Use 1–40 lowercase letters, digits or dashes, starting with a letter. It becomes the app’s address.' : undefined
  const repoError = touched && !/^https?:\/\/\S+$/.test(f.repo_url.trim()) ? 'Enter the repository’s https:// address (http:// only on your own network).' : undefined

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setTouched(true)
    if (!NAME_RE.test(f.name) || !/^https?:\/\/\S+$/.test(f.repo_url.trim())) return
    setBusy(true)
    setError(null)
    const body: AppInput = {
      name: f.name,
      team: f.team || undefined,
      repo_url: f.repo_url.trim(),
      branch: f.branch.trim() || 'main',
      port: Number(f.port) || 8080,
      limits: limitsFromForm(limits),
    }
    if (f.git_token) body.git_token = f.git_token
    if (f.dockerfile_path.trim()) body.dockerfile_path = f.dockerfile_path.trim()
    if (f.health_check_path.trim()) body.health_check_path = f.health_check_path.trim()
    const envObj = envObject(env)
    if (Object.keys(envObj).length) body.env = envObj
    let app: App
    try {
      app = await api.post<App>('/v1/apps', body)
    } catch (err) {
      setError(err) // the form keeps every value
      setBusy(false)
      return
    }
    toast.success(`App ${app.name} created`)
    if (!deployNow) {
      navigate(`/apps/${seg(app.name)}`)
      return
    }
    try {
      const d = await api.post<Deployment>(`/v1/apps/${seg(app.name)}/deployments`)
      navigate(`/apps/${seg(app.name)}/deployments/${seg(d.id)}`)
    } catch (err) {
      toast.error(err)
      navigate(`/apps/${seg(app.name)}`)
    }
  }

  if (teams.length === 0) {
    return (
      <div className="page">
        <h1>New app</h1>
        <p>Your role does not allow creating apps in any of your teams; ask a team admin to make you a member.</p>
      </div>
    )
  }

  return (
    <div className="page page-narrow">
      <nav className="crumbs" aria-label="Breadcrumb">
        <Link to="/apps">Apps</Link> / <span>New app</span>
      </nav>
      <h1>New app</h1>
      <form className="form" onSubmit={(e) => void submit(e)} noValidate>
        <FormError error={error} />
        <section className="card">
          <h2>Source</h2>
          <TextField
            label="Name"
            name="name"
            required
            value={f.name}
            onChange={set('name')}
            error={nameError}
            autoComplete="off"
            spellCheck={false}
            hint={f.name ? `Answers at http://${f.name}.<base domain>` : 'Lowercase letters, digits and dashes; it becomes the app’s address.'}
          />
          {teams.length > 1 && (
            <SelectField label="Team" name="team" value={f.team} onChange={set('team')}>
              {teams.map((t) => (
                <option key={t.id} value={t.id}>
                  {t.name}
                </option>
              ))}
            </SelectField>
          )}
          <TextField
            label="Repository URL"
            name="repo_url"
            type="url"
            required
            placeholder="https://github.com/you/app.git"
            value={f.repo_url}
            onChange={set('repo_url')}
            error={repoError}
            spellCheck={false}
          />
          <div className="grid-2">
            <TextField label="Branch" name="branch" value={f.branch} onChange={set('branch')} spellCheck={false} />
            <TextField
              label="Access token"
              name="git_token"
              type="password"
              autoComplete="off"
              value={f.git_token}
              onChange={set('git_token')}
              hint="For a private repository: a read-only token. Stored encrypted, never shown again."
            />
          </div>
        </section>
        <section className="card">
          <h2>Build and run</h2>
          <div className="grid-2">
            <TextField label="Port" name="port" type="number" min={1} max={65535} value={f.port} onChange={set('port')} hint="The port your app listens on inside its container." />
            <TextField
              label="Dockerfile path"
              name="dockerfile_path"
              placeholder="Dockerfile"
              value={f.dockerfile_path}
              onChange={set('dockerfile_path')}
              hint="Optional. Without a Dockerfile, one is written for Go, Node.js, Python or static sites."
            />
          </div>
          <TextField
            label="Health check path"
            name="health_check_path"
            placeholder="/healthz"
            value={f.health_check_path}
            onChange={set('health_check_path')}
            hint="Optional. A new version gets traffic once this answers; without it, once the port accepts connections."
          />
        </section>
        <section className="card">
          <h2>Limits</h2>
          <LimitFields value={limits} onChange={setLimits} />
        </section>
        <section className="card">
          <h2>Environment variables</h2>
          <p className="muted small">Encrypted at rest; your app reads them at start-up.</p>
          <EnvEditor rows={env} onChange={setEnv} />
        </section>
        <CheckboxField label="Deploy right away" checked={deployNow} onChange={(e) => setDeployNow(e.target.checked)} />
        <div className="form-actions">
          <Link to="/apps" className="btn">
            Cancel
          </Link>
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? 'Creating…' : deployNow ? 'Create and deploy' : 'Create app'}
          </button>
        </div>
      </form>
    </div>
  )
}
