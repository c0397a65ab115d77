import { Link } from '../router'

export default function NotFound() {
  return (
    <div className="page">
      <h1>Page not found</h1>
      <p className="muted">There is nothing at this address.</p>
      <p>
        <Link to="/apps">Go to your apps</Link>
      </p>
    </div>
  )
}
