// The status of an app, deployment, worker or delivery at a glance: a
// coloured dot (pulsing while something is in progress) and a word.

type Tone = 'ok' | 'busy' | 'idle' | 'warn' | 'bad'

const tones: Record<string, Tone> = {
  running: 'ok',
  online: 'ok',
  succeeded: 'ok',
  delivered: 'ok',
  active: 'ok',
  queued: 'busy',
  building: 'busy',
  cloning: 'busy',
  starting: 'busy',
  deploying: 'busy',
  pending: 'busy',
  sent: 'busy',
  restarting: 'busy',
  stopping: 'busy',
  created: 'idle',
  stopped: 'idle',
  revoked: 'idle',
  inactive: 'idle',
  offline: 'warn',
  draining: 'warn',
  retrying: 'warn',
  crashed: 'bad',
  failed: 'bad',
  suspended: 'bad',
  given_up: 'bad',
  error: 'bad',
}

const labels: Record<string, string> = {
  created: 'Not deployed',
  given_up: 'Given up',
}

export function statusTone(status: string): Tone {
  return tones[status] ?? 'idle'
}

export function statusLabel(status: string): string {
  if (labels[status]) return labels[status]
  if (!status) return 'Unknown'
  return status.charAt(0).toUpperCase() + status.slice(1).replace(/_/g, ' ')
}

export function StatusBadge({ status, title }: { status: string; title?: string }) {
  const tone = statusTone(status)
  return (
    <span className={`badge badge-${tone}`} title={title} data-status={status}>
      <span className="badge-dot" aria-hidden="true" />
      {statusLabel(status)}
    </span>
  )
}
