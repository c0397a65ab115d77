// The frame around every signed-in page: navigation, the team switcher
// (which drives the me bus), the theme switch and sign-out.
import { useState, type ReactNode } from 'react'
import { useMe, useMeBus } from '../me/context'
import { Link, navigate, useLocation } from '../router'
import { ThemeSwitch } from './ThemeSwitch'
import { toast } from './Toasts'

export function Shell({ children }: { children: ReactNode }) {
  const me = useMe()
  const bus = useMeBus()
  const { pathname } = useLocation()
  const [open, setOpen] = useState(false)
  if (me.status !== 'signed-in') return <>{children}</>

  const links = [
    { to: '/apps', label: 'Apps' },
    { to: '/team', label: 'Team' },
    { to: '/webhooks', label: 'Webhooks' },
    ...(me.isInstanceAdmin ? [{ to: '/workers', label: 'Workers' }] : []),
    { to: '/account', label: 'Account' },
  ]
  const signOut = async () => {
    try {
      await bus.logout()
      navigate('/signin', { replace: true })
    } catch (err) {
      toast.error(err)
    }
  }
  const switchTeam = async (id: string) => {
    try {
      await bus.switchTeam(id)
      const team = bus.get()
      if (team.status === 'signed-in') toast.success(`Switched to ${team.team.name}`)
      if (pathname.startsWith('/apps/')) navigate('/apps')
    } catch (err) {
      toast.error(err)
    }
  }

  return (
    <div className="shell">
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/apps" className="brand">
          <span className="brand-mark" aria-hidden="true" />
          WiseHosting
        </Link>
        <button type="button" className="btn btn-small menu-button" aria-expanded={open} aria-controls="sidebar" onClick={() => setOpen(!open)}>
          Menu
        </button>
      </header>
      <nav id="sidebar" className={'sidebar' + (open ? ' sidebar-open' : '')} aria-label="Main">
        <Link to="/apps" className="brand brand-side">
          <span className="brand-mark" aria-hidden="true" />
          WiseHosting
        </Link>
        <div className="field team-switcher">
          <label htmlFor="team-switch">Team</label>
          <select id="team-switch" className="input" value={me.team.id} onChange={(e) => void switchTeam(e.target.value)}>
            {me.teams.map((t) => (
              <option key={t.id} value={t.id}>
                {t.name}
                {t.personal ? ' (personal)' : ''}
              </option>
            ))}
          </select>
          <div className="muted small">Your role: {me.role}</div>
        </div>
        <ul className="nav-links">
          {links.map((l) => {
            const current = pathname === l.to || pathname.startsWith(l.to + '/')
            return (
              <li key={l.to}>
                <Link to={l.to} className={'nav-link' + (current ? ' nav-link-on' : '')} aria-current={current ? 'page' : undefined} onClick={() => setOpen(false)}>
                  {l.label}
                </Link>
              </li>
            )
          })}
        </ul>
        <div className="sidebar-foot">
          <ThemeSwitch compact />
          <div className="whoami" title={me.user.email}>
            <span className="avatar" aria-hidden="true">
              {(me.user.name || me.user.email).charAt(0).toUpperCase()}
            </span>
            <span className="whoami-text">
              <span className="whoami-name">{me.user.name || me.user.email}</span>
              <span className="muted small">{me.user.email}</span>
            </span>
          </div>
          <button type="button" className="btn btn-block" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </nav>
      <main id="main" className="content" tabIndex={-1}>
        {children}
      </main>
    </div>
  )
}
