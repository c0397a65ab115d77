import { Suspense, useEffect } from 'react'
import { Shell } from './components/Shell'
import { ErrorState, Loading } from './components/States'
import { Toasts } from './components/Toasts'
import { useMe, useMeBus } from './me/context'
import { matchRoute, navigate, useLocation } from './router'
import { ErrorBoundary } from './components/ErrorBoundary'

/** Picks the page for the URL, and keeps signed-out people on the public pages. */
export function App() {
  const me = useMe()
  const bus = useMeBus()
  const { pathname, href, search } = useLocation()
  const { route, params } = matchRoute(pathname === '/' ? '/apps' : pathname)

  useEffect(() => {
    void bus.start().catch(() => {})
  }, [bus])

  useEffect(() => {
    if (me.status === 'signed-out' && !route.public) {
      const next = pathname === '/' || pathname === '/signin' ? '' : '?next=' + encodeURIComponent(href)
      navigate('/signin' + next, { replace: true })
    } else if (me.status === 'signed-in' && (route.public || pathname === '/')) {
      // Back to where the person was going before signing in (same site only).
      const next = search.get('next') ?? ''
      navigate(next.startsWith('/') && !next.startsWith('//') ? next : '/apps', { replace: true })
    }
  }, [me.status, route.public, pathname, href, search])

  if (me.status === 'loading') return <Loading label="Loading WiseHosting…" />
  if (me.status === 'signed-out' && !route.public) return <Loading />
  if (me.status === 'signed-in' && route.public) return <Loading />

  const Page = route.page
  const page = (
    <ErrorBoundary key={pathname} fallback={(err) => <ErrorState error={err} title="This page failed to load" onRetry={() => window.location.reload()} />}>
      <Suspense fallback={<Loading />}>
        <Page params={params} />
      </Suspense>
    </ErrorBoundary>
  )
  return (
    <>
      {route.public ? <div className="public">{page}</div> : <Shell>{page}</Shell>}
      <Toasts />
    </>
  )
}
