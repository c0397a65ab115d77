import { Component, type ReactNode } from 'react'

/** Catches a page's render error (or a chunk that failed to load) so the frame stays usable. */
export class ErrorBoundary extends Component<{ fallback: (err: unknown) => ReactNode; children: ReactNode }, { error: unknown }> {
  state = { error: null as unknown }
  static getDerivedStateFromError(error: unknown) {
    return { error }
  }
  render() {
    return this.state.error ? this.props.fallback(this.state.error) : this.props.children
  }
}
