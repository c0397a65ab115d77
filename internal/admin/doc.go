// Package admin is the control plane's side of wisehosting-admin: the
// loopback internal API (/internal/v1 on its own listener), the admin RPC
// over a WebSocket with signed envelopes, the live event stream, the
// operators' accounts, sessions and audit log, and the local
// `wisehosting admin` commands that create accounts.
//
// The internal listener binds loopback addresses only, answers loopback
// peers only, refuses any Host that is not a loopback name (so a web page
// cannot reach it through DNS rebinding) and any request with an Origin,
// and requires an admin session (Authorization: Bearer whadm_…) everywhere
// but /internal/v1/login. Admin accounts are a separate table from users:
// the public API never reads or writes them.
package admin
