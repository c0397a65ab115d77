import { useState, type FormEvent } from 'react'
import { TextField } from '../components/Field'
import { FormError } from '../components/States'
import { useMeBus } from '../me/context'
import { Link } from '../router'
import { AuthFrame } from './AuthFrame'

export default function SignIn() {
  const bus = useMeBus()
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      await bus.login(email, password) // the me bus changes; App takes us on
    } catch (err) {
      setError(err)
      setBusy(false)
    }
  }

  return (
    <AuthFrame title="Sign in to WiseHosting">
      <form onSubmit={(e) => void submit(e)} className="form" noValidate>
        <FormError error={error} />
        <TextField label="Email" type="email" name="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} autoFocus />
        <TextField
          label="Password"
          type="password"
          name="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <p className="muted center">
        New here? <Link to="/signup">Create an account</Link>
      </p>
    </AuthFrame>
  )
}
