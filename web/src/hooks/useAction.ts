import { useCallback, useRef, useState } from 'react'
import { toast } from '../components/Toasts'

/**
 * Runs writes from buttons: one at a time per component, with the button's
 * busy state, a success note, and the server's message when it refuses.
 * Returns whether it succeeded.
 */
export function useAction() {
  const [busy, setBusy] = useState<string | null>(null)
  const busyRef = useRef(false)
  const run = useCallback(async (key: string, fn: () => Promise<unknown>, success?: string): Promise<boolean> => {
    if (busyRef.current) return false
    busyRef.current = true
    setBusy(key)
    try {
      await fn()
      if (success) toast.success(success)
      return true
    } catch (err) {
      toast.error(err)
      return false
    } finally {
      busyRef.current = false
      setBusy(null)
    }
  }, [])
  return { busy, run }
}
