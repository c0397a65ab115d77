// Numbers and times the way people read them.

export function formatBytes(n: number | undefined | null, digits = 1): string {
  if (n === undefined || n === null || !isFinite(n)) return '—'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let v = Math.abs(n)
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  const s = i === 0 ? String(Math.round(v)) : v.toFixed(v >= 100 ? 0 : digits)
  return (n < 0 ? '-' : '') + s + ' ' + units[i]
}

export function formatRate(bytesPerSec: number): string {
  return formatBytes(bytesPerSec) + '/s'
}

export function formatBits(bps: number | undefined): string {
  if (!bps) return '—'
  if (bps >= 1e9) return (bps / 1e9).toFixed(1).replace(/\.0$/, '') + ' Gbit/s'
  if (bps >= 1e6) return (bps / 1e6).toFixed(1).replace(/\.0$/, '') + ' Mbit/s'
  return Math.round(bps / 1e3) + ' kbit/s'
}

export function formatCores(millis: number | undefined): string {
  if (!millis) return '—'
  const c = millis / 1000
  return (Number.isInteger(c) ? String(c) : c.toFixed(2).replace(/0$/, '')) + (c === 1 ? ' CPU' : ' CPUs')
}

export function formatPercent(v: number): string {
  return (v >= 10 ? v.toFixed(0) : v.toFixed(1)) + '%'
}

/** "just now", "5 min ago", "3 h ago", "2 days ago", or a date. */
export function formatRelative(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '—'
  const t = Date.parse(iso)
  if (isNaN(t)) return '—'
  const s = Math.round((now - t) / 1000)
  if (s < 0) {
    const f = -s
    if (f < 60) return 'in a few seconds'
    if (f < 3600) return `in ${Math.round(f / 60)} min`
    if (f < 86400) return `in ${Math.round(f / 3600)} h`
    return 'on ' + formatDate(iso)
  }
  if (s < 10) return 'just now'
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.floor(s / 60)} min ago`
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`
  if (s < 7 * 86400) {
    const d = Math.floor(s / 86400)
    return d === 1 ? 'yesterday' : `${d} days ago`
  }
  return formatDate(iso)
}

export function formatDate(iso: string | undefined): string {
  if (!iso) return '—'
  const d = new Date(iso)
  if (isNaN(d.getTime())) return '—'
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' })
}

export function formatClock(t: number, seconds = false): string {
  return new Date(t).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', ...(seconds ? { second: '2-digit' } : {}) })
}

export function formatDuration(ms: number): string {
  if (!isFinite(ms) || ms < 0) return '—'
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${s % 60}s`
  return `${Math.floor(m / 60)}h ${m % 60}m`
}

export function shortCommit(sha: string | undefined): string {
  return sha ? sha.slice(0, 7) : '—'
}

export function shortId(id: string | undefined): string {
  if (!id) return '—'
  const i = id.indexOf('_')
  return i >= 0 ? id.slice(0, i + 1) + id.slice(i + 1, i + 9) : id.slice(0, 8)
}
