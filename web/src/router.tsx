// A small client-side router: the History API, one lazily loaded module per
// page (each its own chunk), and <Link> for in-app navigation. The server
// answers every non-API path with index.html, so deep links work.
import { lazy, useSyncExternalStore, type AnchorHTMLAttributes, type ComponentType, type LazyExoticComponent, type MouseEvent } from 'react'

export type Params = Record<string, string>
export interface PageProps {
  params: Params
}

export interface RouteDef {
  pattern: string
  page: LazyExoticComponent<ComponentType<PageProps>>
  /** Reachable signed out (sign in, sign up). */
  public?: boolean
}

const SignIn = lazy(() => import('./pages/SignIn'))
const SignUp = lazy(() => import('./pages/SignUp'))
const Apps = lazy(() => import('./pages/Apps'))
const NewApp = lazy(() => import('./pages/NewApp'))
const AppDetail = lazy(() => import('./pages/AppDetail'))
const Workers = lazy(() => import('./pages/Workers'))
const Account = lazy(() => import('./pages/Account'))
const Team = lazy(() => import('./pages/Team'))
const Webhooks = lazy(() => import('./pages/Webhooks'))
const NotFound = lazy(() => import('./pages/NotFound'))

export const routes: RouteDef[] = [
  { pattern: '/signin', page: SignIn, public: true },
  { pattern: '/signup', page: SignUp, public: true },
  { pattern: '/apps', page: Apps },
  { pattern: '/apps/new', page: NewApp },
  { pattern: '/apps/:app', page: AppDetail },
  { pattern: '/apps/:app/deployments/:deployment', page: AppDetail },
  { pattern: '/apps/:app/:tab', page: AppDetail },
  { pattern: '/workers', page: Workers },
  { pattern: '/account', page: Account },
  { pattern: '/team', page: Team },
  { pattern: '/webhooks', page: Webhooks },
]

export const notFoundRoute: RouteDef = { pattern: '*', page: NotFound }

/** Matches a pathname against a pattern such as /apps/:app/:tab. */
export function matchPattern(pattern: string, pathname: string): Params | null {
  const want = pattern.split('/').filter(Boolean)
  const got = pathname.replace(/\/+$/, '').split('/').filter(Boolean)
  if (want.length !== got.length) return null
  const params: Params = {}
  for (let i = 0; i < want.length; i++) {
    if (want[i].startsWith(':')) {
      try {
        params[want[i].slice(1)] = decodeURIComponent(got[i])
      } catch {
        return null
      }
    } else if (want[i] !== got[i]) {
      return null
    }
  }
  return params
}

export function matchRoute(pathname: string): { route: RouteDef; params: Params } {
  for (const route of routes) {
    const params = matchPattern(route.pattern, pathname)
    if (params) return { route, params }
  }
  return { route: notFoundRoute, params: {} }
}

// Location as an external store.
const listeners = new Set<() => void>()
function notify() {
  for (const fn of [...listeners]) fn()
}
if (typeof window !== 'undefined') window.addEventListener('popstate', notify)

function subscribe(fn: () => void) {
  listeners.add(fn)
  return () => listeners.delete(fn)
}
const snapshot = () => window.location.pathname + window.location.search

export function navigate(to: string, opts: { replace?: boolean } = {}) {
  if (to === snapshot()) return
  if (opts.replace) window.history.replaceState(null, '', to)
  else window.history.pushState(null, '', to)
  window.scrollTo?.(0, 0)
  notify()
}

/** The current path and query string; re-renders on navigation. */
export function useLocation(): { pathname: string; search: URLSearchParams; href: string } {
  const href = useSyncExternalStore(subscribe, snapshot, () => '/')
  const u = new URL(href, 'http://x')
  return { pathname: u.pathname, search: u.searchParams, href }
}

export function Link({ to, onClick, ...rest }: { to: string } & AnchorHTMLAttributes<HTMLAnchorElement>) {
  const handle = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e)
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey || rest.target) return
    e.preventDefault()
    navigate(to)
  }
  return <a href={to} onClick={handle} {...rest} />
}
