// The one way the dashboard talks to the control plane: same-origin fetch
// with the session cookie, the CSRF header on writes, and the API's
// {"error","code"} answers turned into ApiError.

export class ApiError extends Error {
  readonly status: number
  readonly code: string

  constructor(status: number, code: string, message: string) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
  }
}

/** A message a person can act on, for any error a request can end with. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return err.message
  if (err instanceof Error) return err.message
  return String(err)
}

type Fetch = typeof fetch

export class Api {
  /** The session's CSRF token, set by the me bus. */
  csrf = ''
  /** Called when a request answers 401: the session has ended. */
  onUnauthorized: (() => void) | null = null
  private readonly fetchFn: Fetch

  constructor(fetchFn?: Fetch) {
    this.fetchFn = fetchFn ?? ((input, init) => fetch(input, init))
  }

  async request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' }
    if (body !== undefined) headers['Content-Type'] = 'application/json'
    if (method !== 'GET' && method !== 'HEAD' && this.csrf) headers['X-CSRF-Token'] = this.csrf
    let resp: Response
    try {
      resp = await this.fetchFn(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'same-origin',
        signal,
      })
    } catch (err) {
      if (err instanceof DOMException && err.name === 'AbortError') throw err
      throw new ApiError(0, 'network', 'Cannot reach the server. Check your connection and try again.')
    }
    if (resp.status === 204) return undefined as T
    const text = await resp.text()
    let data: unknown = undefined
    if (text) {
      try {
        data = JSON.parse(text)
      } catch {
        data = text
      }
    }
    if (!resp.ok) {
      const e = (data && typeof data === 'object' ? data : {}) as { error?: string; code?: string }
      const err = new ApiError(resp.status, e.code ?? 'http_' + resp.status, e.error ?? `The server answered ${resp.status}.`)
      if (resp.status === 401 && !path.startsWith('/v1/auth/')) this.onUnauthorized?.()
      throw err
    }
    return data as T
  }

  get<T>(path: string, signal?: AbortSignal) {
    return this.request<T>('GET', path, undefined, signal)
  }
  post<T>(path: string, body?: unknown) {
    return this.request<T>('POST', path, body)
  }
  put<T>(path: string, body?: unknown) {
    return this.request<T>('PUT', path, body)
  }
  patch<T>(path: string, body?: unknown) {
    return this.request<T>('PATCH', path, body)
  }
  del<T = void>(path: string) {
    return this.request<T>('DELETE', path)
  }
}

/** Encodes one path segment. */
export const seg = (s: string | number) => encodeURIComponent(String(s))
