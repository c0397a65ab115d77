import type { Limits } from '../../api/types'
import { TextField } from '../../components/Field'

export interface LimitForm {
  memoryMiB: string
  cpus: string
  diskMiB: string
  bandwidthMbit: string
}

const MiB = 1024 * 1024

export function limitsToForm(l: Limits): LimitForm {
  return {
    memoryMiB: l.memory_bytes ? String(Math.round(l.memory_bytes / MiB)) : '',
    cpus: l.cpu_millis ? String(l.cpu_millis / 1000) : '',
    diskMiB: l.disk_bytes ? String(Math.round(l.disk_bytes / MiB)) : '',
    bandwidthMbit: l.bandwidth_bps ? String(l.bandwidth_bps / 1e6) : '',
  }
}

// limitsFromForm sends every limit: the API keeps a limit that is left
// out, so a field cleared in the form is sent as 0, which restores the
// default memory or CPU and removes the disk quota or bandwidth cap.
export function limitsFromForm(f: LimitForm): Limits {
  const pos = (v: string) => Math.max(Number(v) || 0, 0)
  return {
    memory_bytes: Math.round(pos(f.memoryMiB) * MiB),
    cpu_millis: Math.round(pos(f.cpus) * 1000),
    disk_bytes: Math.round(pos(f.diskMiB) * MiB),
    bandwidth_bps: Math.round(pos(f.bandwidthMbit) * 1e6),
  }
}

export function LimitFields({ value, onChange }: { value: LimitForm; onChange: (v: LimitForm) => void }) {
  const set = (k: keyof LimitForm) => (e: { target: { value: string } }) => onChange({ ...value, [k]: e.target.value })
  return (
    <div className="grid-2">
      <TextField label="Memory (MiB)" name="memory" type="number" min={16} step={16} value={value.memoryMiB} onChange={set('memoryMiB')} hint="Default 512 MiB. Over it, the app is restarted." />
      <TextField label="CPU (cores)" name="cpus" type="number" min={0.05} step={0.05} value={value.cpus} onChange={set('cpus')} hint="Default 1 core; 0.5 is half a core." />
      <TextField label="Disk (MiB)" name="disk" type="number" min={0} value={value.diskMiB} onChange={set('diskMiB')} hint="Optional; where the worker supports quotas." />
      <TextField label="Bandwidth (Mbit/s)" name="bandwidth" type="number" min={0} step={0.5} value={value.bandwidthMbit} onChange={set('bandwidthMbit')} hint="Optional cap on outgoing traffic." />
    </div>
  )
}
