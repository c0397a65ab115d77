import { useId } from 'react'

export interface EnvRow {
  key: number
  name: string
  value: string
}

let nextKey = 1
export const newEnvRow = (name = '', value = ''): EnvRow => ({ key: nextKey++, name, value })

/** Rows of NAME = value for a new app's environment. Values are typed as passwords. */
export function EnvEditor({ rows, onChange }: { rows: EnvRow[]; onChange: (rows: EnvRow[]) => void }) {
  const id = useId()
  const update = (key: number, patch: Partial<EnvRow>) => onChange(rows.map((r) => (r.key === key ? { ...r, ...patch } : r)))
  return (
    <div className="env-editor">
      {rows.map((r, i) => (
        <div className="env-row" key={r.key}>
          <label className="sr-only" htmlFor={`${id}-n${r.key}`}>
            Variable {i + 1} name
          </label>
          <input
            id={`${id}-n${r.key}`}
            className="input mono"
            placeholder="NAME"
            value={r.name}
            autoComplete="off"
            spellCheck={false}
            onChange={(e) => update(r.key, { name: e.target.value })}
          />
          <label className="sr-only" htmlFor={`${id}-v${r.key}`}>
            Variable {i + 1} value
          </label>
          <input
            id={`${id}-v${r.key}`}
            className="input mono"
            type="password"
            placeholder="value"
            value={r.value}
            autoComplete="off"
            onChange={(e) => update(r.key, { value: e.target.value })}
          />
          <button type="button" className="btn btn-small" aria-label={`Remove variable ${r.name || i + 1}`} onClick={() => onChange(rows.filter((x) => x.key !== r.key))}>
            Remove
          </button>
        </div>
      ))}
      <button type="button" className="btn btn-small" onClick={() => onChange([...rows, newEnvRow()])}>
        Add variable
      </button>
    </div>
  )
}

export function envObject(rows: EnvRow[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const r of rows) if (r.name.trim()) out[r.name.trim()] = r.value
  return out
}
