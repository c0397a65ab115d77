import { useId, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes, type TextareaHTMLAttributes } from 'react'

interface Common {
  label: string
  hint?: ReactNode
  error?: string
}

function Wrap({ id, label, hint, error, children, className }: Common & { id: string; children: ReactNode; className?: string }) {
  return (
    <div className={'field' + (error ? ' field-invalid' : '') + (className ? ' ' + className : '')}>
      <label htmlFor={id}>{label}</label>
      {children}
      {hint && (
        <div className="field-hint" id={id + '-hint'}>
          {hint}
        </div>
      )}
      {error && (
        <div className="field-error" id={id + '-error'}>
          {error}
        </div>
      )}
    </div>
  )
}

function describedBy(id: string, c: Common) {
  return [c.hint ? id + '-hint' : '', c.error ? id + '-error' : ''].filter(Boolean).join(' ') || undefined
}

export function TextField({ label, hint, error, className, ...input }: Common & InputHTMLAttributes<HTMLInputElement>) {
  const id = useId()
  return (
    <Wrap id={id} label={label} hint={hint} error={error} className={className}>
      <input id={id} className="input" aria-invalid={error ? true : undefined} aria-describedby={describedBy(id, { label, hint, error })} {...input} />
    </Wrap>
  )
}

export function SelectField({ label, hint, error, children, className, ...select }: Common & SelectHTMLAttributes<HTMLSelectElement>) {
  const id = useId()
  return (
    <Wrap id={id} label={label} hint={hint} error={error} className={className}>
      <select id={id} className="input" aria-describedby={describedBy(id, { label, hint, error })} {...select}>
        {children}
      </select>
    </Wrap>
  )
}

export function TextAreaField({ label, hint, error, className, ...ta }: Common & TextareaHTMLAttributes<HTMLTextAreaElement>) {
  const id = useId()
  return (
    <Wrap id={id} label={label} hint={hint} error={error} className={className}>
      <textarea id={id} className="input" aria-describedby={describedBy(id, { label, hint, error })} {...ta} />
    </Wrap>
  )
}

export function CheckboxField({ label, hint, ...input }: { label: string; hint?: ReactNode } & InputHTMLAttributes<HTMLInputElement>) {
  const id = useId()
  return (
    <div className="field field-check">
      <input id={id} type="checkbox" aria-describedby={hint ? id + '-hint' : undefined} {...input} />
      <label htmlFor={id}>{label}</label>
      {hint && (
        <div className="field-hint" id={id + '-hint'}>
          {hint}
        </div>
      )}
    </div>
  )
}
