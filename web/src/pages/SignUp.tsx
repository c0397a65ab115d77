import { useState, type FormEvent } from 'react'
import { TextField } from '../components/Field'
import { FormError } from '../components/States'
import { useMeBus } from '../me/context'
import { Link } from '../router'
import { AuthFrame } from './AuthFrame'

export default function SignUp() {
  const bus = useMeBus()
  const [name, setName] = useState('')
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      await bus.signup(email, password, name.trim() || undefined)
    } catch (err) {
      setError(err)
      setBusy(false)
    }
  }

  return (
    <AuthFrame title="Create your account">
      <form onSubmit={(e) => void submit(e)} className="form" noValidate>
        <FormError error={error} />
        <TextField label="Name" name="name" autoComplete="name" value={name} onChange={(e) => setName(e.target.value)} hint="Optional; shown to your teammates." autoFocus />
        <TextField label="Email" type="email" name="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <TextField
          label="Password"
          type="password"
          name="password"
          autoComplete="new-password"
          required
          minLength={8}
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          hint="At least 8 characters."
        />
        <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
          {busy ? 'Creating account…' : 'Create account'}
        </button>
      </form>
      <p className="muted center">
        Already have an account? <Link to="/signin">Sign in</Link>
      </p>
    </AuthFrame>
  )
}
