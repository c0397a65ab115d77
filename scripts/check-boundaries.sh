#!/usr/bin/env bash
# Package boundaries (see docs/ARCHITECTURE.md): the wire-format and shared
# packages depend only on the standard library and on each other, never on
# the server or the worker.
set -euo pipefail
cd "$(dirname "$0")/.."
mod=$(go list -m)

check() { # package, allowed non-standard import prefixes...
  local pkg=$1; shift
  local bad=()
  while read -r dep; do
    [ -z "$dep" ] && continue
    [ "$dep" = "$mod/$pkg" ] && continue
    ok=0
    for allow in "$@"; do
      case "$dep" in "$allow"|"$allow"/*) ok=1 ;; esac
    done
    [ $ok = 1 ] || bad+=("$dep")
  done < <(go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' "./$pkg")
  if [ ${#bad[@]} -gt 0 ]; then
    echo "boundary: $pkg must not depend on: ${bad[*]}" >&2
    return 1
  fi
}

check internal/models
check internal/httpx
check internal/logbus
# json v2 is the standard library's encoding/json/v2 (still behind
# GOEXPERIMENT in Go 1.26), published as a module by its Go authors.
check internal/wsproto "$mod/internal/models" github.com/go-json-experiment/json
# The CLI is a plain HTTP client of /v1: it shares validators, nothing else.
check internal/cli "$mod/internal/models" "$mod/internal/prompt" golang.org/x/term golang.org/x/sys
# The operators' tool is a client of the internal API: it must not link the
# server's packages (store, database drivers, hub, …), only the contract.
check cmd/wisehosting-admin "$mod/internal/admincli" "$mod/internal/prompt" "$mod/internal/adminrpc" "$mod/internal/wsproto" \
  "$mod/internal/models" github.com/go-json-experiment/json github.com/gorilla/websocket golang.org/x/term golang.org/x/sys
echo "boundaries ok"
