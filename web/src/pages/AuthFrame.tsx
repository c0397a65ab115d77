import type { ReactNode } from 'react'
import { ThemeSwitch } from '../components/ThemeSwitch'

/** The centred card around sign in and sign up. */
export function AuthFrame({ title, children }: { title: string; children: ReactNode }) {
  return (
    <main className="auth" id="main">
      <div className="auth-card">
        <div className="brand brand-auth">
          <span className="brand-mark" aria-hidden="true" />
          WiseHosting
        </div>
        <h1>{title}</h1>
        {children}
      </div>
      <div className="auth-theme">
        <ThemeSwitch compact />
      </div>
    </main>
  )
}
