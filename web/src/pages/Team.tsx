import { useState, type FormEvent } from 'react'
import type { Member, Role, Team as TeamT } from '../api/types'
import { seg } from '../api/client'
import { ConfirmDialog } from '../components/ConfirmDialog'
import { SelectField, TextField } from '../components/Field'
import { ErrorState, FormError, Loading } from '../components/States'
import { toast } from '../components/Toasts'
import { useAction } from '../hooks/useAction'
import { useFetch } from '../hooks/usePolling'
import { roleAtLeast } from '../me/bus'
import { useApi, useMeBus, useSignedIn } from '../me/context'

const roles: { value: Role; label: string; help: string }[] = [
  { value: 'viewer', label: 'Viewer', help: 'sees apps, logs and metrics' },
  { value: 'member', label: 'Member', help: 'also creates, deploys and configures apps' },
  { value: 'admin', label: 'Admin', help: 'also deletes apps, manages members and webhooks' },
  { value: 'owner', label: 'Owner', help: 'also manages owners' },
]

export default function Team() {
  const me = useSignedIn()
  const bus = useMeBus()
  const api = useApi()
  const team = me.team
  const members = useFetch((signal) => api.get<Member[]>(`/v1/teams/${seg(team.id)}/members`, signal), [team.id])
  const isAdmin = roleAtLeast(me.role, 'admin')
  const isOwner = me.role === 'owner'
  const assignable = roles.filter((r) => r.value !== 'owner' || isOwner)
  const { busy, run } = useAction()
  const [email, setEmail] = useState('')
  const [role, setRole] = useState<Role>('member')
  const [error, setError] = useState<unknown>(null)
  const [removing, setRemoving] = useState<Member | null>(null)

  const add = async (e: FormEvent) => {
    e.preventDefault()
    setError(null)
    try {
      await api.post(`/v1/teams/${seg(team.id)}/members`, { email: email.trim(), role })
      toast.success(`${email.trim()} added as ${role}`)
      setEmail('')
      members.refresh()
    } catch (err) {
      setError(err)
    }
  }

  const changeRole = (m: Member, r: string) =>
    run(
      'role-' + m.user_id,
      async () => {
        await api.patch(`/v1/teams/${seg(team.id)}/members/${seg(m.user_id)}`, { role: r })
        members.refresh()
        if (m.user_id === me.user.id) await bus.refresh()
      },
      `${m.name || m.email} is now ${r}`,
    )

  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>{team.name}</h1>
          <p className="muted">
            {team.personal ? 'Your personal team' : 'Team'} · slug <code>{team.slug}</code> · your role: {me.role}
          </p>
        </div>
      </div>
      <section className="card">
        <h2>Members</h2>
        {members.loading ? (
          <Loading />
        ) : members.error && !members.data ? (
          <ErrorState error={members.error} onRetry={members.refresh} />
        ) : (
          <div className="table-wrap">
            <table className="table table-stack" aria-label="Members">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Email</th>
                  <th scope="col">Role</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {(members.data ?? []).map((m) => {
                  const self = m.user_id === me.user.id
                  const canEdit = isAdmin && (isOwner || m.role !== 'owner')
                  return (
                    <tr key={m.user_id}>
                      <td data-label="Name">
                        {m.name || '—'}
                        {self && <span className="pill">you</span>}
                      </td>
                      <td data-label="Email">{m.email}</td>
                      <td data-label="Role">
                        {canEdit ? (
                          <>
                            <label className="sr-only" htmlFor={'role-' + m.user_id}>
                              Role of {m.email}
                            </label>
                            <select
                              id={'role-' + m.user_id}
                              className="input input-small"
                              value={m.role}
                              disabled={busy !== null}
                              onChange={(e) => void changeRole(m, e.target.value)}
                            >
                              {assignable.map((r) => (
                                <option key={r.value} value={r.value}>
                                  {r.label}
                                </option>
                              ))}
                            </select>
                          </>
                        ) : (
                          m.role
                        )}
                      </td>
                      <td data-label="" className="row-actions">
                        {(self ? !team.personal : canEdit) && (
                          <button type="button" className="btn btn-small" onClick={() => setRemoving(m)}>
                            {self ? 'Leave team' : 'Remove'}
                          </button>
                        )}
                      </td>
                    </tr>
                  )
                })}
              </tbody>
            </table>
          </div>
        )}
        <ul className="muted small role-help">
          {roles.map((r) => (
            <li key={r.value}>
              <strong>{r.label}</strong>: {r.help}
            </li>
          ))}
        </ul>
      </section>
      {isAdmin && (
        <section className="card">
          <h2>Add a member</h2>
          <form className="form" onSubmit={(e) => void add(e)}>
            <FormError error={error} />
            <div className="grid-2">
              <TextField label="Email" name="member_email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} hint="They must have signed up already." />
              <SelectField label="Role" name="member_role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
                {assignable.map((r) => (
                  <option key={r.value} value={r.value}>
                    {r.label}
                  </option>
                ))}
              </SelectField>
            </div>
            <div className="form-actions">
              <button type="submit" className="btn btn-primary" disabled={!email.trim()}>
                Add member
              </button>
            </div>
          </form>
        </section>
      )}
      <NewTeam />
      {removing && (
        <ConfirmDialog
          title={removing.user_id === me.user.id ? `Leave ${team.name}?` : `Remove ${removing.email}?`}
          confirmLabel={removing.user_id === me.user.id ? 'Leave team' : 'Remove member'}
          danger
          onClose={() => setRemoving(null)}
          onConfirm={async () => {
            await api.del(`/v1/teams/${seg(team.id)}/members/${seg(removing.user_id)}`)
            if (removing.user_id === me.user.id) {
              toast.success(`You left ${team.name}`)
              await bus.refresh()
            } else {
              toast.success(`${removing.email} removed`)
              members.refresh()
            }
          }}
        >
          {removing.user_id === me.user.id ? 'You lose access to its apps at once.' : 'They lose access to this team’s apps at once.'}
        </ConfirmDialog>
      )}
    </div>
  )
}

function NewTeam() {
  const api = useApi()
  const bus = useMeBus()
  const [name, setName] = useState('')
  const [slug, setSlug] = useState('')
  const [slugEdited, setSlugEdited] = useState(false)
  const [error, setError] = useState<unknown>(null)
  const slugFrom = (s: string) =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40)
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setError(null)
    try {
      const t = await api.post<TeamT>('/v1/teams', { name: name.trim(), slug: slug.trim() })
      toast.success(`Team ${t.name} created`)
      setName('')
      setSlug('')
      setSlugEdited(false)
      await bus.switchTeam(t.id)
    } catch (err) {
      setError(err)
    }
  }
  return (
    <section className="card">
      <h2>Create a team</h2>
      <form className="form" onSubmit={(e) => void submit(e)}>
        <FormError error={error} />
        <div className="grid-2">
          <TextField
            label="Team name"
            name="team_name"
            value={name}
            onChange={(e) => {
              setName(e.target.value)
              if (!slugEdited) setSlug(slugFrom(e.target.value))
            }}
          />
          <TextField
            label="Slug"
            name="team_slug"
            value={slug}
            onChange={(e) => {
              setSlug(e.target.value)
              setSlugEdited(true)
            }}
            hint="Used in URLs and the CLI."
            spellCheck={false}
          />
        </div>
        <div className="form-actions">
          <button type="submit" className="btn" disabled={!name.trim()}>
            Create team
          </button>
        </div>
      </form>
    </section>
  )
}
