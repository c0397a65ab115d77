import { useEffect, useState, type FormEvent } from 'react'
import type { App, AppInput, Domain, EnvVar, GitHook } from '../../api/types'
import { seg } from '../../api/client'
import { ConfirmDialog } from '../../components/ConfirmDialog'
import { CopyField } from '../../components/CopyField'
import { CheckboxField, TextField } from '../../components/Field'
import { ErrorState, FormError, Loading } from '../../components/States'
import { toast } from '../../components/Toasts'
import { formatRelative } from '../../format'
import { useAction } from '../../hooks/useAction'
import { useFetch } from '../../hooks/usePolling'
import { roleAtLeast } from '../../me/bus'
import { useApi } from '../../me/context'
import { navigate } from '../../router'
import type { AppTabProps } from '../AppDetail'
import { LimitFields, limitsFromForm, limitsToForm } from './LimitFields'

export default function Settings(props: AppTabProps) {
  const canWrite = roleAtLeast(props.role, 'member')
  const canDelete = roleAtLeast(props.role, 'admin')
  return (
    <div className="stack">
      {!canWrite && <div className="notice">Your role ({props.role}) can look at these settings but not change them.</div>}
      <GeneralSettings {...props} disabled={!canWrite} />
      <LimitSettings {...props} disabled={!canWrite} />
      <EnvSettings {...props} disabled={!canWrite} />
      <DomainSettings {...props} disabled={!canWrite} />
      {canWrite && <GitHookSettings {...props} />}
      <DangerZone {...props} disabled={!canDelete} />
    </div>
  )
}

type Props = AppTabProps & { disabled?: boolean }

/** A settings form: saves with PATCH, keeps what was typed when the server refuses. */
function useSave(app: App, setApp: (a: App) => void) {
  const api = useApi()
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)
  const save = async (body: AppInput, what: string) => {
    setBusy(true)
    setError(null)
    try {
      const updated = await api.patch<App>(`/v1/apps/${seg(app.name)}`, body)
      setApp(updated)
      toast.success(`${what} saved. They apply at the next deploy.`)
      return true
    } catch (err) {
      setError(err)
      return false
    } finally {
      setBusy(false)
    }
  }
  return { error, busy, save }
}

function GeneralSettings({ app, setApp, disabled }: Props) {
  const [f, setF] = useState(() => ({
    repo_url: app.repo_url,
    branch: app.branch,
    dockerfile_path: app.dockerfile_path ?? '',
    port: String(app.port),
    health_check_path: app.health_check_path ?? '',
    git_token: '',
    remove_token: false,
  }))
  const { error, busy, save } = useSave(app, setApp)
  const set = (k: 'repo_url' | 'branch' | 'dockerfile_path' | 'port' | 'health_check_path' | 'git_token') => (e: { target: { value: string } }) =>
    setF({ ...f, [k]: e.target.value })
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    const body: AppInput = {
      repo_url: f.repo_url.trim(),
      branch: f.branch.trim(),
      dockerfile_path: f.dockerfile_path.trim(),
      port: Number(f.port),
      health_check_path: f.health_check_path.trim(),
    }
    if (f.remove_token) body.git_token = ''
    else if (f.git_token) body.git_token = f.git_token
    if (await save(body, 'Build settings')) setF((x) => ({ ...x, git_token: '', remove_token: false }))
  }
  return (
    <section className="card">
      <h2>Build and run</h2>
      <form className="form" onSubmit={(e) => void submit(e)}>
        <FormError error={error} />
        <fieldset disabled={disabled} className="plain-fieldset">
          <TextField label="Repository URL" name="repo_url" type="url" value={f.repo_url} onChange={set('repo_url')} spellCheck={false} />
          <div className="grid-2">
            <TextField label="Branch" name="branch" value={f.branch} onChange={set('branch')} spellCheck={false} />
            <TextField label="Port" name="port" type="number" min={1} max={65535} value={f.port} onChange={set('port')} />
            <TextField label="Dockerfile path" name="dockerfile_path" placeholder="Dockerfile" value={f.dockerfile_path} onChange={set('dockerfile_path')} />
            <TextField
              label="Health check path"
              name="health_check_path"
              placeholder="/healthz"
              value={f.health_check_path}
              onChange={set('health_check_path')}
              hint="Traffic moves to a new version once this answers."
            />
          </div>
          <TextField
            label="Access token"
            name="git_token"
            type="password"
            autoComplete="off"
            value={f.git_token}
            onChange={set('git_token')}
            disabled={f.remove_token}
            placeholder={app.has_git_token ? 'Saved — leave empty to keep it' : 'None'}
            hint="A read-only token for a private repository. Stored encrypted, never shown."
          />
          {app.has_git_token && (
            <CheckboxField label="Remove the saved token" checked={f.remove_token} onChange={(e) => setF({ ...f, remove_token: e.target.checked })} />
          )}
          <div className="form-actions">
            <button type="submit" className="btn btn-primary" disabled={busy}>
              {busy ? 'Saving…' : 'Save'}
            </button>
          </div>
        </fieldset>
      </form>
    </section>
  )
}

function LimitSettings({ app, setApp, disabled }: Props) {
  const [f, setF] = useState(() => limitsToForm(app.limits))
  const { error, busy, save } = useSave(app, setApp)
  return (
    <section className="card">
      <h2>Limits</h2>
      <form
        className="form"
        onSubmit={(e) => {
          e.preventDefault()
          void save({ limits: limitsFromForm(f) }, 'Limits')
        }}
      >
        <FormError error={error} />
        <fieldset disabled={disabled} className="plain-fieldset">
          <LimitFields value={f} onChange={setF} />
          <div className="form-actions">
            <button type="submit" className="btn btn-primary" disabled={busy}>
              {busy ? 'Saving…' : 'Save limits'}
            </button>
          </div>
        </fieldset>
      </form>
    </section>
  )
}

function EnvSettings({ app, disabled }: Props) {
  const api = useApi()
  const [reveal, setReveal] = useState(false)
  const env = useFetch((signal) => api.get<EnvVar[]>(`/v1/apps/${seg(app.name)}/env${reveal ? '?reveal=1' : ''}`, signal), [app.name, reveal])
  const [name, setName] = useState('')
  const [value, setValue] = useState('')
  const [error, setError] = useState<unknown>(null)
  const [editing, setEditing] = useState<{ name: string; value: string } | null>(null)
  const [removing, setRemoving] = useState<string | null>(null)
  const { busy, run } = useAction()

  const put = async (n: string, v: string) => api.put(`/v1/apps/${seg(app.name)}/env/${seg(n)}`, { value: v })
  const add = async (e: FormEvent) => {
    e.preventDefault()
    setError(null)
    try {
      await put(name.trim(), value)
      toast.success(`${name.trim()} saved. Deploy or restart to apply it.`)
      setName('')
      setValue('')
      env.refresh()
    } catch (err) {
      setError(err)
    }
  }

  return (
    <section className="card">
      <div className="card-head">
        <h2>Environment variables</h2>
        <button type="button" className="btn btn-small" aria-pressed={reveal} disabled={disabled} onClick={() => setReveal(!reveal)}>
          {reveal ? 'Hide values' : 'Reveal values'}
        </button>
      </div>
      <p className="muted small">Encrypted at rest. Changes apply at the next deploy or restart.</p>
      {env.loading ? (
        <Loading />
      ) : env.error && !env.data ? (
        <ErrorState error={env.error} onRetry={env.refresh} />
      ) : env.data?.length ? (
        <ul className="list env-list" aria-label="Environment variables">
          {env.data.map((v) => (
            <li key={v.name} className="list-row">
              <span className="mono strong">{v.name}</span>
              {editing?.name === v.name ? (
                <form
                  className="inline-form grow"
                  onSubmit={(e) => {
                    e.preventDefault()
                    void run('edit', () => put(v.name, editing.value).then(() => (setEditing(null), env.refresh())), `${v.name} saved`)
                  }}
                >
                  <label className="sr-only" htmlFor={'env-edit-' + v.name}>
                    New value of {v.name}
                  </label>
                  <input
                    id={'env-edit-' + v.name}
                    className="input input-small mono grow"
                    type={reveal ? 'text' : 'password'}
                    value={editing.value}
                    autoFocus
                    onChange={(e) => setEditing({ name: v.name, value: e.target.value })}
                  />
                  <button type="submit" className="btn btn-small btn-primary" disabled={busy !== null}>
                    Save
                  </button>
                  <button type="button" className="btn btn-small" onClick={() => setEditing(null)}>
                    Cancel
                  </button>
                </form>
              ) : (
                <>
                  <span className="mono grow ellipsis env-value">{reveal ? (v.value ?? '') : '••••••••'}</span>
                  {!disabled && (
                    <span className="row-actions">
                      <button type="button" className="btn btn-small" onClick={() => setEditing({ name: v.name, value: reveal ? (v.value ?? '') : '' })}>
                        Edit
                      </button>
                      <button type="button" className="btn btn-small" onClick={() => setRemoving(v.name)}>
                        Delete
                      </button>
                    </span>
                  )}
                </>
              )}
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted">No variables yet.</p>
      )}
      {!disabled && (
        <form className="form env-add" onSubmit={(e) => void add(e)}>
          <FormError error={error} />
          <div className="grid-2">
            <TextField label="Name" name="env_name" value={name} onChange={(e) => setName(e.target.value)} placeholder="DATABASE_URL" spellCheck={false} autoComplete="off" />
            <TextField label="Value" name="env_value" type="password" value={value} onChange={(e) => setValue(e.target.value)} autoComplete="off" />
          </div>
          <div className="form-actions">
            <button type="submit" className="btn" disabled={!name.trim()}>
              Add variable
            </button>
          </div>
        </form>
      )}
      {removing && (
        <ConfirmDialog
          title={`Delete ${removing}?`}
          confirmLabel="Delete variable"
          danger
          onClose={() => setRemoving(null)}
          onConfirm={async () => {
            await api.del(`/v1/apps/${seg(app.name)}/env/${seg(removing)}`)
            toast.success(`${removing} deleted. Deploy or restart to apply it.`)
            env.refresh()
          }}
        >
          The app keeps seeing it until its next deploy or restart.
        </ConfirmDialog>
      )}
    </section>
  )
}

function DomainSettings({ app, disabled }: Props) {
  const api = useApi()
  const domains = useFetch((signal) => api.get<Domain[]>(`/v1/apps/${seg(app.name)}/domains`, signal), [app.name])
  const [domain, setDomain] = useState('')
  const [error, setError] = useState<unknown>(null)
  const [removing, setRemoving] = useState<string | null>(null)
  const add = async (e: FormEvent) => {
    e.preventDefault()
    setError(null)
    try {
      await api.post(`/v1/apps/${seg(app.name)}/domains`, { domain: domain.trim() })
      toast.success(`${domain.trim()} added`)
      setDomain('')
      domains.refresh()
    } catch (err) {
      setError(err)
    }
  }
  return (
    <section className="card">
      <h2>Domains</h2>
      <p className="muted small">
        The app always answers at <a href={app.url}>{app.url}</a>. To add your own domain, point its DNS record (a CNAME or an A record) at this server, then add it
        here.
      </p>
      {domains.loading ? (
        <Loading />
      ) : domains.error && !domains.data ? (
        <ErrorState error={domains.error} onRetry={domains.refresh} />
      ) : domains.data?.length ? (
        <ul className="list" aria-label="Custom domains">
          {domains.data.map((d) => (
            <li key={d.domain} className="list-row">
              <a href={d.url} target="_blank" rel="noreferrer" className="grow">
                {d.domain}
              </a>
              <span className="muted small">added {formatRelative(d.created_at)}</span>
              {!disabled && (
                <button type="button" className="btn btn-small" onClick={() => setRemoving(d.domain)}>
                  Remove
                </button>
              )}
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted">No custom domains.</p>
      )}
      {!disabled && (
        <form className="form inline-add" onSubmit={(e) => void add(e)}>
          <FormError error={error} />
          <TextField label="Domain" name="domain" placeholder="www.example.com" value={domain} onChange={(e) => setDomain(e.target.value)} spellCheck={false} />
          <div className="form-actions">
            <button type="submit" className="btn" disabled={!domain.trim()}>
              Add domain
            </button>
          </div>
        </form>
      )}
      {removing && (
        <ConfirmDialog
          title={`Remove ${removing}?`}
          confirmLabel="Remove domain"
          danger
          onClose={() => setRemoving(null)}
          onConfirm={async () => {
            await api.del(`/v1/apps/${seg(app.name)}/domains/${seg(removing)}`)
            toast.success(`${removing} removed`)
            domains.refresh()
          }}
        >
          Visitors to {removing} will get “No app here” at once.
        </ConfirmDialog>
      )}
    </section>
  )
}

function GitHookSettings({ app }: Props) {
  const api = useApi()
  const [hook, setHook] = useState<GitHook | null>(null)
  const { busy, run } = useAction()
  useEffect(() => setHook(null), [app.name])
  return (
    <section className="card">
      <h2>Deploy on push</h2>
      <p className="muted small">
        Add a webhook in GitHub (content type application/json, push events) or GitLab (secret token) pointing here; a push to {app.branch} deploys that commit.
      </p>
      {hook ? (
        <div className="stack-small">
          <CopyField label="Payload URL" value={hook.url} />
          <CopyField label="Secret" value={hook.secret} />
        </div>
      ) : (
        <button
          type="button"
          className="btn"
          disabled={busy !== null}
          onClick={() => void run('hook', () => api.get<GitHook>(`/v1/apps/${seg(app.name)}/hooks/git`).then(setHook))}
        >
          Show webhook URL and secret
        </button>
      )}
    </section>
  )
}

function DangerZone({ app, disabled, role }: Props) {
  const api = useApi()
  const [open, setOpen] = useState(false)
  return (
    <section className="card card-danger">
      <h2>Delete app</h2>
      <p className="muted small">
        Stops the app, removes its containers and images, and forgets its deployments, logs and settings. This cannot be undone.
        {disabled ? ` Deleting needs the admin role; yours is ${role}.` : ''}
      </p>
      <button type="button" className="btn btn-danger" disabled={disabled} onClick={() => setOpen(true)}>
        Delete {app.name}
      </button>
      {open && (
        <ConfirmDialog
          title={`Delete ${app.name}?`}
          confirmLabel="Delete app"
          danger
          requireText={app.name}
          onClose={() => setOpen(false)}
          onConfirm={async () => {
            await api.del(`/v1/apps/${seg(app.name)}`)
            toast.success(`${app.name} deleted`)
            navigate('/apps')
          }}
        >
          Its address {app.url} stops answering at once.
        </ConfirmDialog>
      )}
    </section>
  )
}
