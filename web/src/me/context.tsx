import { createContext, useContext, useSyncExternalStore, type ReactNode } from 'react'
import type { Api } from '../api/client'
import type { MeBus, MeState, SignedIn } from './bus'

interface Ctx {
  bus: MeBus
  api: Api
}

const MeContext = createContext<Ctx | null>(null)

export function MeProvider({ bus, api, children }: { bus: MeBus; api: Api; children: ReactNode }) {
  return <MeContext.Provider value={{ bus, api }}>{children}</MeContext.Provider>
}

function useCtx(): Ctx {
  const c = useContext(MeContext)
  if (!c) throw new Error('MeProvider is missing')
  return c
}

/** The me bus itself (for login, logout, switchTeam, refresh). */
export function useMeBus(): MeBus {
  return useCtx().bus
}

/** The API client. */
export function useApi(): Api {
  return useCtx().api
}

/** The current me state; re-renders when it changes. */
export function useMe(): MeState {
  const bus = useCtx().bus
  return useSyncExternalStore(bus.subscribe, bus.get, bus.get)
}

/** The signed-in state, for pages that only render when signed in. */
export function useSignedIn(): SignedIn {
  const me = useMe()
  if (me.status !== 'signed-in') throw new Error('useSignedIn outside a signed-in page')
  return me
}
