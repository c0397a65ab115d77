import { useState } from 'react'

/** A read-only value (a key shown once, a command) with a Copy button. */
export function CopyField({ label, value, multiline }: { label: string; value: string; multiline?: boolean }) {
  const [copied, setCopied] = useState(false)
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value)
      setCopied(true)
      setTimeout(() => setCopied(false), 1500)
    } catch {
      // no clipboard (plain HTTP on a remote host): the text is selectable
    }
  }
  return (
    <div className="copy-field">
      <div className="copy-label">{label}</div>
      <div className="copy-row">
        {multiline ? <pre className="copy-value">{value}</pre> : <code className="copy-value">{value}</code>}
        <button type="button" className="btn btn-small" onClick={() => void copy()} aria-label={'Copy ' + label}>
          {copied ? 'Copied' : 'Copy'}
        </button>
      </div>
    </div>
  )
}
